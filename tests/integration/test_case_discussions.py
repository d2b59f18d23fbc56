"""Case discussions (issue 22): recording, validation, access, corrections, audit, flags then."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from fitdata.config import DEFAULT_CONFIG, ConfigError, load_config
from fitdata.data import access, client_links
from fitdata.data.access import AccessDenied
from fitdata.data.cache import MemoryCache
from fitdata.data.store import StoreError, check_database, reader_for, write_transaction
from fitdata.features import case_discussions as cd
from fitdata.features.case_discussions import DiscussionError, FlagThen
from fitdata.i18n import Translator

# tiny_db: B1 (team T2) has E1 K-ADULT1 and E2 K-ONE; B2 (T10) has E5 K-TEN;
# B3 (T3) has E3 K-TOTALS and E4 K-CHILD. E1's sessions: 2025-01-06 .. 2025-01-27 (4).
TODAY = dt.date(2025, 2, 10)
DAY = dt.date(2025, 2, 3)
NOW = dt.datetime(2025, 2, 3, 14, 0)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "discussions.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "ola", "therapist", therapist_id="B2")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T3", "T10"])
    access.add_user(path, "leder", "leader")
    access.add_user(path, "admin", "admin")
    yield path
    reader_for(path).close()


def record(where, **kwargs) -> cd.Discussion:
    values = {
        "episode_id": "E1",
        "discussed_on": DAY,
        "forum": "team_meeting",
        "agreed": ["talk_feedback"],
        "note": "Mål justeres etter samtalen",
        "follow_up_on": dt.date(2025, 3, 3),
        "source": "team_review",
        "actor": "kari",
        "today": TODAY,
        "now": NOW,
    }
    return cd.record_discussion(where, **{**values, **kwargs})


def stored(db) -> list[tuple]:
    return reader_for(db).rows("SELECT * FROM case_discussions ORDER BY discussion_id")


def changes(db) -> list[tuple]:
    return reader_for(db).rows("SELECT * FROM case_discussion_changes ORDER BY change_id")


# -- recording -----------------------------------------------------------------------------------


def test_the_therapist_records_a_discussion_with_the_flags_current_then(db) -> None:
    kari = access.reader_for_user(db, "kari")
    saved = record(kari)
    assert saved.discussion_id == 1 and saved.episode_id == "E1"
    assert (saved.team_id, saved.therapist_id) == ("T2", "B1")
    assert saved.agreed == ("talk_feedback",) and saved.forum == "team_meeting"
    assert saved.recorded_by == "kari" and saved.recorded_at == NOW and not saved.withdrawn
    # the flags of E1 on DAY, as the episode flags judge them (the last SRS is low)
    expected = cd.current_flags(
        reader_for(db), "E1", DAY, model=cd.trajectory_model(reader_for(db))
    )
    assert saved.flags_then == expected
    assert {f.flag for f in expected} >= {"srs_below_cutoff"}
    assert all(f.client_id == "K-ADULT1" and f.session_no == 4 for f in expected)
    [row] = stored(db)
    assert row[4] == DAY and row[7] == ["talk_feedback"] and row[8] == "Mål justeres etter samtalen"
    assert row[6] == [
        {"client_id": f.client_id, "flag": f.flag, "session_no": f.session_no} for f in expected
    ]
    assert check_database(db).ok


def test_given_flags_are_stored_as_given_and_numbers_follow_in_order(db) -> None:
    flags = (FlagThen("K-ADULT1", "not_on_track", 3),)
    first = record(db, flags_then=flags)
    second = record(db, episode_id="E2", flags_then=(), note=None, follow_up_on=None)
    assert first.flags_then == flags and second.flags_then == ()
    assert (first.discussion_id, second.discussion_id) == (1, 2)
    assert second.note is None and second.follow_up_on is None


def test_a_later_change_in_the_flags_does_not_change_a_stored_discussion(db) -> None:
    saved = record(db)
    before = stored(db)
    with write_transaction(db) as con:  # two good sessions afterwards: the SRS flags resolve
        con.execute(
            "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
            "session_date, session_no, rater, ors_total, srs_total) VALUES "
            "(9001, 'E1', 'K-ADULT1', 'B1', 'T2', DATE '2025-02-05', 5, 'client', 30.0, 39.0), "
            "(9002, 'E1', 'K-ADULT1', 'B1', 'T2', DATE '2025-02-08', 6, 'client', 31.0, 39.5)"
        )
    now = cd.current_flags(reader_for(db), "E1", TODAY)
    assert now != saved.flags_then
    assert "srs_below_cutoff" not in {f.flag for f in now}
    assert stored(db) == before
    [row] = cd.discussions(reader_for(db)).itertuples()
    assert [f["flag"] for f in row.flags_then] == [f.flag for f in saved.flags_then]


def test_a_couples_flags_then_name_each_participant(tmp_path) -> None:
    from tests.family_db import build_family_db

    path = build_family_db(tmp_path / "family.duckdb")
    reader = reader_for(path)
    end = reader.rows("SELECT max(session_date) FROM sessions WHERE episode_id = 'E-C'")[0][0]
    flags = cd.current_flags(reader, "E-C", end, model=cd.trajectory_model(reader))
    saved = record(path, episode_id="E-C", discussed_on=end, today=end, follow_up_on=None)
    assert saved.flags_then == flags
    participants = {
        r[0] for r in reader.rows("SELECT client_id FROM sessions WHERE episode_id = 'E-C'")
    }
    assert {f.client_id for f in flags} <= participants
    reader.close()


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"note": "Klienten 010190 10046 ble drøftet"}, "note_identity_number"),
        ({"note": "fnr 01.01.90-10046"}, "note_identity_number"),
        ({"note": "Snakket med Kari Nordmann om målene"}, "note_name"),
        ({"note": "Drøftet. Ola M. Hansen møtte ikke"}, "note_name"),
        ({"note": "ring kari@example.no"}, "note_contact"),
        ({"note": "x" * 281}, "note_too_long"),
        ({"agreed": ["talk_feedback", "hug_the_client"]}, "action_unknown"),
        ({"agreed": []}, "agreed_missing"),
        ({"agreed": ["no_change", "no_change"]}, "action_twice"),
        ({"forum": "coffee_break"}, "forum_unknown"),
        ({"follow_up_on": dt.date(2025, 2, 2)}, "follow_up_before"),
        ({"discussed_on": dt.date(2025, 2, 11)}, "date_future"),
        ({"source": "email"}, "source_unknown"),
        ({"actor": " "}, "actor_missing"),
    ],
)
def test_a_refused_discussion_writes_nothing_and_says_why(db, kwargs, key) -> None:
    kari = access.reader_for_user(db, "kari")
    with pytest.raises(DiscussionError) as refused:
        record(kari, **kwargs)
    assert key in {p.key for p in refused.value.problems}
    assert stored(db) == []
    for lang in ("en", "nb"):  # every problem reads as a sentence in both languages
        for problem in refused.value.problems:
            text = cd.problem_text(problem, Translator(lang))
            assert text and "discussion_record" not in text


def test_the_identity_number_message_is_in_the_registrations_style() -> None:
    problems = cd.validate_discussion(
        discussed_on=DAY, forum="team_meeting", agreed=["no_change"], note="010190 10046",
        today=TODAY,
    )  # fmt: skip
    assert [p.key for p in problems] == ["note_identity_number"]
    assert "identity number" in cd.problem_text(problems[0], Translator("en"))
    assert "fødselsnummer" in cd.problem_text(problems[0], Translator("nb"))


@pytest.mark.parametrize(
    "note",
    [
        "Team Nord drøftet saken",
        "Drøftet i KOR-gruppen. Mål justeres.",
        "BUP henvisning vurderes",
        "ORS over 25 innen 4 samtaler, ny vurdering 03.03.2025",
        "feil forum",
    ],
)
def test_ordinary_notes_are_accepted(note) -> None:
    assert cd.note_problem(note) is None


def test_the_database_refuses_an_identity_number_that_slips_past(db) -> None:
    import duckdb

    with pytest.raises(duckdb.ConstraintException), write_transaction(db) as con:
        con.execute(
            "INSERT INTO case_discussions VALUES (1, 'E1', 'T2', 'B1', DATE '2025-02-03', "
            "'team_meeting', [], ['no_change'], '01019010046', NULL, 'import', 'x', now())"
        )
    assert stored(db) == []


def test_an_unknown_episode_is_refused_inside_the_write_and_writes_nothing(db) -> None:
    with pytest.raises(DiscussionError, match="no episode E404"):
        record(db, episode_id="E404", flags_then=())
    assert stored(db) == []


# -- access ----------------------------------------------------------------------------------------


def test_a_therapist_of_another_team_can_neither_record_nor_see_it(db) -> None:
    record(access.reader_for_user(db, "kari"))
    ola = access.reader_for_user(db, "ola")
    with pytest.raises(AccessDenied, match="not among your cases"):
        record(ola, actor="ola")
    assert len(stored(db)) == 1
    assert cd.discussions(ola).empty
    assert cd.last_discussions(ola, ["E1"]).empty
    assert ola.rows("SELECT count(*) FROM case_discussions")[0][0] == 0
    with pytest.raises(DiscussionError, match="no discussion number 1"):
        cd.correct_discussion(ola, 1, reason="not mine", actor="ola", forum="with_client")
    with pytest.raises(DiscussionError):
        cd.withdraw_discussion(ola, 1, reason="not mine", actor="ola")
    assert changes(db) == []


def test_a_supervisor_records_and_sees_the_discussions_of_her_teams_only(db) -> None:
    record(db)  # E1, team T2
    sigrid = access.reader_for_user(db, "sigrid")
    record(sigrid, episode_id="E3", actor="sigrid")
    with pytest.raises(AccessDenied):
        record(sigrid, episode_id="E1", actor="sigrid")
    assert list(cd.discussions(sigrid)["episode_id"]) == ["E3"]
    assert list(cd.discussions(access.reader_for_user(db, "admin"))["episode_id"]) == ["E1", "E3"]


def test_a_leader_is_refused_and_sees_only_de_identified_rows_for_aggregates(db) -> None:
    record(db)
    leder = access.reader_for_user(db, "leder")
    with pytest.raises(AccessDenied, match="summaries"):
        record(leder, actor="leder")
    with pytest.raises(AccessDenied):
        cd.discussions(leder)
    with pytest.raises(AccessDenied):
        cd.correct_discussion(leder, 1, reason="leader", actor="leder", forum="with_client")
    [row] = cd.aggregate_discussions(leder).itertuples()
    assert row.episode_id != "E1" and len(row.episode_id) == 32
    assert row.client_id != "K-ADULT1"
    assert row.note is None and row.recorded_by == ""
    assert len(row.flags_then) and all(f["client_id"] != "K-ADULT1" for f in row.flags_then)
    assert all(len(f["client_id"]) == 32 for f in row.flags_then)
    [original] = stored(db)
    assert [(f["flag"], f["session_no"]) for f in row.flags_then] == [
        (f["flag"], f["session_no"]) for f in original[6]
    ]
    # the hashed ids join: the episode's rows are found under the same hash
    assert leder.rows(
        "SELECT count(*) FROM case_discussions d JOIN episodes e USING (episode_id)"
    ) == [(1,)]
    assert len(stored(db)) == 1


def test_a_comparison_reader_gets_hashed_therapists(db) -> None:
    record(db)
    compare = access.aggregate_reader(db, "kari")
    with pytest.raises(AccessDenied):  # only while a shared aggregate is computed
        cd.aggregate_discussions(compare)
    shared = MemoryCache(1).get(compare, "discussions", lambda: cd.aggregate_discussions(compare))
    [row] = shared.itertuples()
    assert row.therapist_id != "B1" and row.note is None and row.recorded_by == ""


def test_a_clients_own_link_sees_no_discussion(db) -> None:
    record(db)
    _, grant = client_links.issue_client_link(db, episode_id="E1", session_date=DAY, actor="kari")
    reader = client_links.client_reader(db, grant)
    for table in ("case_discussions", "case_discussion_changes"):
        with pytest.raises(StoreError, match="not allowed on a client's page"):
            reader.rows(f"SELECT count(*) FROM {table}")
    with pytest.raises(StoreError, match="not allowed on a client's page"):
        cd.discussions(reader)
    with pytest.raises(AccessDenied):
        record(reader, actor="kari")
    assert len(stored(db)) == 1


# -- corrections and withdrawal --------------------------------------------------------------------


def test_a_correction_keeps_the_old_values_and_the_reason(db) -> None:
    kari = access.reader_for_user(db, "kari")
    saved = record(kari)
    later = dt.datetime(2025, 2, 4, 8, 0)
    corrected = cd.correct_discussion(
        kari,
        saved.discussion_id,
        reason="feil forum valgt",
        actor="kari",
        forum="group_supervision",
        agreed=["adjust_goals_method", "more_frequent"],
        now=later,
        today=TODAY,
    )
    assert corrected.forum == "group_supervision"
    assert corrected.agreed == ("adjust_goals_method", "more_frequent")
    assert corrected.flags_then == saved.flags_then and corrected.note == saved.note
    [change] = changes(db)
    assert change[1:7] == (1, "E1", later, "kari", "feil forum valgt", "correction")
    assert change[7:] == (DAY, "team_meeting", ["talk_feedback"], saved.note, saved.follow_up_on)
    history = cd.discussion_changes(kari, 1)
    assert list(history["old_forum"]) == ["team_meeting"]
    assert bool(cd.discussions(kari)["corrected"].iloc[0])


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"reason": ""}, "reason_missing"),
        ({"reason": "Kari Nordmann ba om det"}, "note_name"),
        ({"reason": "ok grunn", "flags_then": ()}, "not_correctable"),
        ({"reason": "ok grunn", "follow_up_on": dt.date(2025, 1, 1)}, "follow_up_before"),
        ({"reason": "ok grunn", "note": "ring 01019010046"}, "note_identity_number"),
        ({"reason": "ok grunn", "forum": "team_meeting"}, "nothing_changed"),
    ],
)
def test_a_refused_correction_changes_nothing(db, kwargs, key) -> None:
    record(db)
    before = stored(db)
    changes_ = {"forum": "with_client", **kwargs}
    if "flags_then" in kwargs:
        changes_.pop("forum")
    with pytest.raises(DiscussionError) as refused:
        cd.correct_discussion(db, 1, actor="kari", today=TODAY, **changes_)
    assert key in {p.key for p in refused.value.problems}
    assert stored(db) == before and changes(db) == []


def test_a_withdrawn_discussion_is_kept_but_left_out_and_cannot_change(db) -> None:
    kari = access.reader_for_user(db, "kari")
    first = record(kari)
    second = record(kari, discussed_on=dt.date(2025, 2, 5), agreed=["no_change"])
    assert list(cd.last_discussions(kari, ["E1"])["discussion_id"]) == [second.discussion_id]
    gone = cd.withdraw_discussion(kari, second.discussion_id, reason="feil sak", actor="kari")
    assert gone.withdrawn and len(stored(db)) == 2
    assert list(cd.discussions(kari)["discussion_id"]) == [first.discussion_id]
    assert list(cd.discussions(kari, include_withdrawn=True)["withdrawn"]) == [False, True]
    assert list(cd.last_discussions(kari, ["E1"])["discussion_id"]) == [first.discussion_id]
    assert list(cd.aggregate_discussions(kari)["discussion_id"]) == [first.discussion_id]
    with pytest.raises(DiscussionError, match="withdrawn"):
        cd.withdraw_discussion(kari, second.discussion_id, reason="igjen", actor="kari")
    with pytest.raises(DiscussionError, match="withdrawn"):
        cd.correct_discussion(
            kari, second.discussion_id, reason="igjen", actor="kari", forum="with_client"
        )
    assert [c[6] for c in changes(db)] == ["withdrawn"]
    assert check_database(db).ok


# -- reading and the audit log ---------------------------------------------------------------------


def test_last_discussions_give_the_latest_per_episode(db) -> None:
    record(db, discussed_on=dt.date(2025, 1, 20))
    record(db, discussed_on=dt.date(2025, 2, 3), agreed=["more_frequent"])
    record(db, discussed_on=dt.date(2025, 2, 3), agreed=["no_change"])  # same day, later
    record(db, episode_id="E2", discussed_on=dt.date(2025, 1, 27))
    last = cd.last_discussions(reader_for(db), ["E1", "E2", "E3"])
    assert list(last["episode_id"]) == ["E1", "E2"]
    assert [list(a) for a in last["agreed"]] == [["no_change"], ["talk_feedback"]]
    assert list(last["client_id"]) == ["K-ADULT1", "K-ONE"]
    in_order = cd.discussions(reader_for(db), team_id="T2")  # by date, then as recorded
    assert list(in_order["episode_id"]) == ["E1", "E2", "E1", "E1"]
    assert cd.last_discussions(reader_for(db), []).empty


def test_writes_and_reads_are_in_the_audit_log(db) -> None:
    kari = access.reader_for_user(db, "kari")
    saved = record(kari)
    cd.discussions(kari)
    cd.correct_discussion(kari, saved.discussion_id, reason="rettet", actor="kari", note=None)
    cd.withdraw_discussion(kari, saved.discussion_id, reason="feil sak", actor="kari")
    entries = [e for e in access.read_audit(db, user="kari") if "discussion" in e.action]
    assert [e.action for e in entries] == [
        "record_discussion",
        "discussions",
        "correct_discussion",
        "withdraw_discussion",
    ]
    assert entries[0].client_id == "K-ADULT1" and entries[0].episode_id == "E1"
    assert all(e.concerns("K-ADULT1") for e in entries)
    assert access.verify_audit(db) == []


# -- configuration ---------------------------------------------------------------------------------


def test_a_services_own_choice_list_is_used(db, tmp_path) -> None:
    path = tmp_path / "service.toml"
    path.write_text(
        "[thresholds]\nfollow_up_sessions = 6\n\n"
        '[[discussion_actions]]\ncode = "family_meeting"\nen = "invite the family"\n'
        'nb = "invitere familien"\n\n'
        '[[discussion_actions]]\ncode = "no_change"\nen = "no change"\nnb = "ingen endring"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.follow_up_sessions == 6 and config.follow_up_weeks == 8
    assert cd.action_choices(config, "nb") == [
        ("invitere familien", "family_meeting"),
        ("ingen endring", "no_change"),
    ]
    saved = record(db, agreed=["family_meeting"], config=config, flags_then=())
    assert saved.agreed == ("family_meeting",)
    with pytest.raises(DiscussionError, match="talk_feedback is not on"):
        record(db, config=config, flags_then=())
    # a code the service later removed still reads, as its code
    assert cd.action_label(DEFAULT_CONFIG, "family_meeting", "en") == "family_meeting"
    assert cd.action_label(DEFAULT_CONFIG, "talk_feedback", "nb") == (
        "snakke med klienten om tilbakemeldingene"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("discussion_actions = []\n", "at least one"),
        ('[[discussion_actions]]\ncode = "Bad Code"\nen = "x"\nnb = "y"\n', "lower-case"),
        ('[[discussion_actions]]\ncode = "a"\nen = "x"\n', "exactly code, en and nb"),
        (
            '[[discussion_actions]]\ncode = "a"\nen = "x"\nnb = "y"\n'
            '[[discussion_actions]]\ncode = "a"\nen = "x"\nnb = "y"\n',
            "given twice",
        ),
        ('[[discussion_actions]]\ncode = "a"\nen = ""\nnb = "y"\n', "1-80 characters"),
        ("[thresholds]\nfollow_up_weeks = 0\n", "whole number"),
    ],
)
def test_a_bad_choice_list_says_what_and_where(tmp_path, body, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_fitdata_check_finds_broken_discussion_rows(db) -> None:
    record(db)
    cd.correct_discussion(db, 1, reason="rettet", actor="kari", forum="with_client", today=TODAY)
    assert check_database(db).ok
    with write_transaction(db) as con:  # what only a program writing directly could leave
        con.execute(
            "INSERT INTO case_discussions SELECT * REPLACE ('E404' AS episode_id, "
            "['', 'no_change'] AS agreed) FROM case_discussions"
        )
        con.execute(
            "INSERT INTO case_discussion_changes SELECT * REPLACE (2 AS change_id, "
            "99 AS discussion_id) FROM case_discussion_changes"
        )
        for change_id in (3, 4):
            con.execute(
                "INSERT INTO case_discussion_changes SELECT * REPLACE (? AS change_id, "
                "'withdrawn' AS change_type) FROM case_discussion_changes WHERE change_id = 1",
                [change_id],
            )
    problems = check_database(db).problems
    for expected in (
        "duplicate case discussion ids",
        "case discussions whose episode is not in episodes",
        "case discussions with no agreed action or an empty one",
        "case discussion changes that refer to no discussion, or to another episode",
        "1 case discussions withdrawn more than once",
    ):
        assert any(expected in p for p in problems), (expected, problems)
