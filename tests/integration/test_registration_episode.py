"""A couple's, a family's and a group's session saved in real files: everyone at once, or no one."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from fitdata.data.store import check_database, reader_for, write_transaction
from fitdata.features import registration as reg
from fitdata.features.registration import (
    EpisodeSession,
    NewClient,
    NewParticipant,
    ParticipantScores,
    Registration,
    RegistrationError,
    Scores,
)
from fitdata.i18n import Translator

TODAY = dt.date(2025, 3, 3)
NOW = dt.datetime(2025, 3, 3, 15, 0)


def make_couple(path) -> None:
    """E1 (K-ADULT1, four sessions to 2025-01-27) as a couple with K-PARTNER (three sessions)."""
    with write_transaction(path) as con:
        con.execute("INSERT INTO clients VALUES ('K-PARTNER', 1982, 'adult')")
        con.execute("UPDATE episodes SET format = 'couple' WHERE episode_id = 'E1'")
        con.execute(
            "INSERT INTO episode_participants VALUES ('E1', 'K-PARTNER', 'partner', 'client', NULL)"
        )
        for number, (day, ors) in enumerate(
            [(dt.date(2025, 1, 6), 15.0), (dt.date(2025, 1, 13), 17.5), (dt.date(2025, 1, 20), 19)],
            start=1,
        ):
            con.execute(
                "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
                "session_date, session_no, rater, ors_total, srs_total) "
                "VALUES (?, 'E1', 'K-PARTNER', 'B1', 'T2', ?, ?, 'client', ?, 37.0)",
                [200 + number, day, number, ors],
            )


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "episode.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


@pytest.fixture
def couple(db):
    make_couple(db)
    assert check_database(db).ok
    return db


def rows(path, sql: str, params=()) -> list[tuple]:
    return reader_for(path).rows(sql, list(params))


def both(ors_a, ors_b, srs_a=None, srs_b=None, day=TODAY) -> EpisodeSession:
    return EpisodeSession(
        "E1",
        day,
        (
            ParticipantScores("K-ADULT1", "client", ors_a, srs_a),
            ParticipantScores("K-PARTNER", "client", ors_b, srs_b),
        ),
    )


def test_one_save_writes_both_partners_rows_once_then_both_srs(couple) -> None:
    before = rows(couple, "SELECT count(*) FROM sessions")[0][0]
    session = both(Scores.from_items(5.1, 6.2, 7.3, 4.4), Scores.from_total(21.5))
    saved = reg.save_episode_session(couple, session, actor="B1", today=TODAY)
    assert [(s.client_id, s.session_no, s.session_date) for s in saved] == [
        ("K-ADULT1", 5, TODAY),
        ("K-PARTNER", 4, TODAY),
    ]
    assert rows(couple, "SELECT count(*) FROM sessions")[0][0] == before + 2
    written = rows(
        couple,
        "SELECT client_id, session_no, rater, therapist_id, team_id, ors_total, srs_total, "
        "ors_form, srs_form, entered_by FROM sessions WHERE episode_id = 'E1' AND session_date = ? "
        "ORDER BY client_id",
        [TODAY],
    )
    assert [(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in written] == [
        ("K-ADULT1", 5, "client", "B1", "T2", 23.0),
        ("K-PARTNER", 4, "client", "B1", "T2", 21.5),
    ]
    assert [(r[6], r[7], r[8], r[9]) for r in written] == [(None, "ORS", None, "therapist")] * 2
    # no new participant row: both take part already
    assert rows(couple, "SELECT count(*) FROM episode_participants WHERE episode_id = 'E1'") == [
        (2,)
    ]

    # after the session: both SRS in one save, kept in the history as "SRS added"
    later = both(None, None, Scores.from_total(36.5), Scores.from_items(9, 9, 9.5, 8))
    again = reg.save_episode_session(couple, later, actor="B1", today=TODAY, now=NOW)
    assert [s.session_id for s in again] == [s.session_id for s in saved]
    srs = rows(
        couple,
        "SELECT client_id, srs_total, srs_form FROM sessions WHERE episode_id = 'E1' "
        "AND session_date = ? "
        "ORDER BY client_id",
        [TODAY],
    )
    assert [(c, float(t), f) for c, t, f in srs] == [
        ("K-ADULT1", 36.5, "SRS"),
        ("K-PARTNER", 35.5, "SRS"),
    ]
    changes = rows(
        couple,
        "SELECT client_id, change_type, changed_by, changed_at FROM session_changes "
        "ORDER BY client_id",
    )
    assert changes == [
        ("K-ADULT1", "srs_added", "B1", NOW),
        ("K-PARTNER", "srs_added", "B1", NOW),
    ]
    # the same day once more: both are done, so nothing is saved twice
    with pytest.raises(RegistrationError) as refused:
        reg.save_episode_session(couple, later, actor="B1", today=TODAY)
    assert {p.key for p in refused.value.problems} == {"session_on_date"}
    assert check_database(couple).ok


def test_one_partners_bad_score_refuses_the_whole_save_naming_that_partner(couple) -> None:
    before = couple.read_bytes()
    session = both(Scores.from_total(23.0), Scores.from_items(5.0, 5.0, 5.0, 10.5))
    with pytest.raises(RegistrationError) as refused:
        reg.save_episode_session(couple, session, actor="B1", today=TODAY)
    problems = refused.value.problems
    assert [(p.key, p.participant) for p in problems] == [
        ("item_range", ("K-PARTNER", "partner", "client"))
    ]
    assert str(refused.value).startswith("Partner · K-PARTNER: ")  # the error's own text
    en = reg.problem_text(problems[0], Translator("en"))
    assert en.startswith("Partner · K-PARTNER: ORS Overall: 10.5 is outside 0–10.")
    nb = reg.problem_text(problems[0], Translator("nb"))
    assert nb.startswith("Partner · K-PARTNER: ")
    assert couple.read_bytes() == before  # neither partner's row was written


def test_a_partner_who_did_not_come_gets_no_row_and_someone_must_have_scores(couple) -> None:
    saved = reg.save_episode_session(
        couple, both(None, Scores.from_total(18.0)), actor="B1", today=TODAY
    )
    assert [(s.client_id, s.session_no) for s in saved] == [("K-PARTNER", 4)]
    assert rows(
        couple,
        "SELECT count(*) FROM sessions WHERE episode_id = 'E1' AND session_date = ?",
        [TODAY],
    ) == [(1,)]
    with pytest.raises(RegistrationError) as refused:
        reg.save_episode_session(couple, both(None, None, day=TODAY), actor="B1", today=TODAY)
    assert "nothing_to_save_anyone" in [p.key for p in refused.value.problems]


def test_the_episodes_date_rules_apply_once_and_each_partners_own_order(couple) -> None:
    # 2025-01-24 is after the partner's last session (01-20) but before K-ADULT1's (01-27)
    day = dt.date(2025, 1, 24)
    with pytest.raises(RegistrationError) as refused:
        reg.save_episode_session(
            couple,
            both(Scores.from_total(20.0), Scores.from_total(20.0), day=day),
            actor="B1",
            today=TODAY,
        )
    assert [(p.key, p.participant[0]) for p in refused.value.problems] == [
        ("date_before_previous", "K-ADULT1")
    ]
    with pytest.raises(RegistrationError) as future:
        reg.save_episode_session(
            couple,
            both(Scores.from_total(20.0), None, day=TODAY + dt.timedelta(1)),
            actor="B1",
            today=TODAY,
        )
    assert [(p.key, p.participant) for p in future.value.problems] == [("date_future", None)]


def test_add_a_new_partner_then_register_the_couple(db) -> None:
    start = Registration(
        "T2", "B1", "K-ONE", None, dt.date(2025, 2, 3), Scores.from_total(20.0), format="couple"
    )
    # K-ONE has an ongoing individual episode (E2): end it first, then start the couple's
    reg.end_episode(db, "E2", dt.date(2025, 1, 31), "planned", today=TODAY)
    first = reg.save_session(db, start, today=TODAY)
    episode = first.episode_id
    assert rows(db, "SELECT format FROM episodes WHERE episode_id = ?", [episode]) == [("couple",)]
    new = NewParticipant(
        episode,
        "",
        "partner",
        added_on=dt.date(2025, 2, 10),
        new_client=NewClient("K-NEWPARTNER", "adult", 1979),
    )
    added = reg.add_participant(db, new, today=TODAY)
    assert (added.client_id, added.role, added.rater) == ("K-NEWPARTNER", "partner", "client")
    assert rows(
        db,
        "SELECT client_id, role, rater, added_on FROM episode_participants "
        "WHERE episode_id = ? ORDER BY role <> 'index'",
        [episode],
    ) == [
        ("K-ONE", "index", "client", None),
        ("K-NEWPARTNER", "partner", "client", dt.date(2025, 2, 10)),
    ]
    assert rows(db, "SELECT age_group, birth_year FROM clients WHERE client_id = 'K-NEWPARTNER'")
    # offered on the page with no session yet
    choices = reg.client_choices(reader_for(db), "T2", "B1")
    partner = choices[choices["client_id"] == "K-NEWPARTNER"].iloc[0]
    assert (partner.episode_id, int(partner.sessions)) == (episode, 0)

    # their first joint session: the partner's is number 1, K-ONE's number 2
    session = EpisodeSession(
        episode,
        TODAY,
        (
            ParticipantScores("K-ONE", "client", Scores.from_total(22.0)),
            ParticipantScores("K-NEWPARTNER", "client", Scores.from_total(16.0)),
        ),
    )
    saved = reg.save_episode_session(db, session, actor="B1", today=TODAY)
    assert [(s.client_id, s.session_no) for s in saved] == [("K-ONE", 2), ("K-NEWPARTNER", 1)]

    # a third partner, the same one again, a collateral "partner" rating in a couple: refused
    for person, key in [
        (NewParticipant(episode, "K-TEN", "partner"), "couple_full"),
        (NewParticipant(episode, "K-NEWPARTNER", "partner"), "already_participant"),
        (NewParticipant(episode, "K-TEN", "family_member"), "role_for_couple"),
    ]:
        with pytest.raises(RegistrationError) as refused:
            reg.add_participant(db, person, today=TODAY)
        assert key in [p.key for p in refused.value.problems], person
    assert check_database(db).ok


@pytest.mark.parametrize(
    ("person", "key"),
    [
        (NewParticipant("E1", "K-TEN", "partner"), "participant_individual_episode"),
        (
            NewParticipant("E1", "", "partner", new_client=NewClient("01019012345", "adult")),
            "participant_individual_episode",
        ),
        (NewParticipant("E77", "K-TEN", "partner"), "episode_unknown"),
        (NewParticipant("E1", "K-ONE", "collateral", "parent"), "collateral_not_client"),
        (NewParticipant("E4", "K-CHILD", "collateral", "parent"), "already_rater"),
        (NewParticipant("E4", "K-CHILD", "collateral", "client"), "rater_missing"),
    ],
)
def test_who_may_not_join_an_episode(db, person, key) -> None:
    before = db.read_bytes()
    with pytest.raises(RegistrationError) as refused:
        reg.add_participant(db, person, today=TODAY)
    assert key in [p.key for p in refused.value.problems]
    assert db.read_bytes() == before


def test_an_identity_number_is_refused_as_a_partners_code(couple) -> None:
    with write_transaction(couple) as con:  # make room: the couple's partner leaves the file
        con.execute("UPDATE episodes SET format = 'family' WHERE episode_id = 'E1'")
        con.execute("UPDATE episode_participants SET role = 'family_member' WHERE role = 'partner'")
    for code in ("01019012345", "010190 12345"):
        person = NewParticipant(
            "E1", "", "family_member", new_client=NewClient(code, "adolescent", 2010)
        )
        with pytest.raises(RegistrationError) as refused:
            reg.add_participant(couple, person, today=TODAY)
        assert [p.key for p in refused.value.problems] == ["client_code_national_id"]
        assert "12345" not in str(refused.value)
    member = NewParticipant(
        "E1", "", "family_member", new_client=NewClient("K-SIBLING", "adolescent", 2010)
    )
    assert reg.add_participant(couple, member, today=TODAY).age_group == "adolescent"


def test_forms_by_age_group_and_format_and_a_parents_rating_is_its_own(db) -> None:
    # K-CHILD (child, E4) with a parent's ratings: CORS/CSRS for the child, the parent's CORS
    session = EpisodeSession(
        "E4",
        TODAY,
        (
            ParticipantScores("K-CHILD", "client", Scores.from_total(31.0), Scores.from_total(37)),
            ParticipantScores("K-CHILD", "parent", Scores.from_total(28.5)),
        ),
    )
    saved = reg.save_episode_session(db, session, actor="B3", today=TODAY)
    assert [s.session_no for s in saved] == [4, 4]
    assert rows(
        db,
        "SELECT rater, ors_form, srs_form, entered_by FROM sessions WHERE episode_id = 'E4' "
        "AND session_date = ? ORDER BY rater",
        [TODAY],
    ) == [("client", "CORS", "CSRS", "therapist"), ("parent", "CORS", None, "therapist")]
    # the parent's ORS is never the child's own: the child's state has its own four sessions
    state = reg.load_episode_state(reader_for(db), "E4", "K-CHILD")
    assert [s.ors.value for s in state.sessions] == [28.0, 29.0, 30.0, 31.0]
    # a parent gives no SRS
    with pytest.raises(RegistrationError) as refused:
        reg.save_episode_session(
            db,
            EpisodeSession(
                "E4",
                TODAY + dt.timedelta(1),
                (ParticipantScores("K-CHILD", "parent", None, Scores.from_total(30.0)),),
            ),
            actor="B3",
            today=TODAY + dt.timedelta(1),
        )
    assert [p.key for p in refused.value.problems] == ["collateral_srs"]

    # a group's alliance form is the GSRS; a one-client save records its forms too
    with write_transaction(db) as con:
        con.execute("UPDATE episodes SET format = 'group' WHERE episode_id = 'E3'")
    group = Registration(
        "T3", "B3", "K-TOTALS", "E3", TODAY, Scores.from_total(26.0), Scores.from_total(35.0)
    )
    one = reg.save_session(db, group, today=TODAY)
    adult = reg.save_session(
        db, Registration("T2", "B1", "K-ONE", "E2", TODAY, Scores.from_total(21.0)), today=TODAY
    )
    forms = "SELECT ors_form, srs_form, entered_by FROM sessions WHERE session_id = ?"
    assert rows(db, forms, [one.session_id]) == [("ORS", "GSRS", "therapist")]
    assert rows(db, forms, [adult.session_id]) == [("ORS", None, "therapist")]
    reg.add_srs(db, adult.session_id, Scores.from_total(38.0), actor="B1", now=NOW)
    assert rows(db, forms, [adult.session_id]) == [("ORS", "SRS", "therapist")]
    assert check_database(db).ok


def test_a_therapists_page_cannot_add_a_client_of_another_therapists_episode(db) -> None:
    with write_transaction(db) as con:
        con.execute("UPDATE episodes SET format = 'family' WHERE episode_id = 'E2'")
    person = NewParticipant("E2", "K-TEN", "family_member")  # K-TEN is B2's client (E5)
    before = db.read_bytes()
    with pytest.raises(RegistrationError) as refused:
        reg.add_participant(db, person, today=TODAY, therapist_id="B1")
    assert [p.key for p in refused.value.problems] == ["client_of_another_therapist"]
    assert db.read_bytes() == before
    # a supervisor's or administrator's page may (no therapist given)
    assert reg.add_participant(db, person, today=TODAY).role == "family_member"
