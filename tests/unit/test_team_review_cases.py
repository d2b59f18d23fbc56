"""A couple or a family is one case of the team review (issue 20), against a hand-built database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from fitdata.analytics.flags import FLAGS, URGENCY
from fitdata.data import store
from fitdata.data.store import reader_for
from fitdata.features import team_review as cl
from fitdata.i18n import Translator
from fitdata.outputs import team_review as review_files
from tests.builders import session_rows, write_database
from tests.unit.test_team_review import AS_OF, line_model

MON = dt.date(2025, 1, 6)


def _weeks(n: int) -> dt.date:
    return MON + dt.timedelta(weeks=n)


def build_couples_db(path: Path) -> Path:
    """Team T1 as of 2025-03-03 (the model of ``line_model``: lower line = intake + 2).

    - E20 couple (B1), last session 7 days ago: K-A (index) ORS 20, 20.5, 21, 21 -- below the
      lower line at the last two ORS: *not on track* now, SRS 39 throughout; K-B (partner) ORS
      15 -> 27, on track, SRS 38, 38, 38, 33: *SRS below the cutoff* (and a drop) now.
    - E21 K-S (B1), individual, last session 21 days ago: on track, SRS 38, 38, 34: an alliance
      warning now, and not seen for longer than the couple.
    - E22 family (B2): K-F1 (index, adult) and K-F2 (family member, child), both without an SRS
      at the last session; a parent rates K-F2 at ORS 5 (a collateral rating: never a flag);
      K-F3 (family member) takes part but has no session yet.
    - E23 K-Z (B2), individual, no flag.
    - E24 K-C (B2), a couple's episode whose partner has not joined yet: one client, so the
      case is that client's, as an individual episode's.
    """
    teams = pd.DataFrame({"team_id": ["T1"], "name": ["Team Nord"], "service": ["Voksne"]})
    therapists = pd.DataFrame(
        {"therapist_id": ["B1", "B2"], "name": ["Kari Nordmann", "Ola Hansen"], "team_id": "T1"}
    )
    codes = ["K-A", "K-B", "K-S", "K-F1", "K-F2", "K-F3", "K-Z", "K-C"]
    clients = pd.DataFrame(
        {
            "client_id": codes,
            "birth_year": [1980, 1982, 1990, 1978, 2015, 2013, 1970, 1985],
            "age_group": ["adult"] * 4 + ["child", "child", "adult", "adult"],
        }
    )
    sessions = pd.concat(
        [
            session_rows("E20", "K-A", "B1", "T1", [20.0, 20.5, 21.0, 21.0], [39.0] * 4,
                         start=_weeks(4), first_id=1),
            session_rows("E20", "K-B", "B1", "T1", [15.0, 20.0, 24.0, 27.0],
                         [38.0, 38.0, 38.0, 33.0], start=_weeks(4), first_id=10),
            session_rows("E21", "K-S", "B1", "T1", [20.0, 25.0, 28.0], [38.0, 38.0, 34.0],
                         start=_weeks(3), first_id=20),
            session_rows("E22", "K-F1", "B2", "T1", [22.0, 27.0, 30.0], [40.0, 40.0, None],
                         start=_weeks(5), first_id=30),
            session_rows("E22", "K-F2", "B2", "T1", [25.0, 30.0, 33.0], [38.0, 39.0, None],
                         start=_weeks(5), first_id=40),
            session_rows("E22", "K-F2", "B2", "T1", [5.0, 5.0, 5.0], [None] * 3,
                         start=_weeks(5), rater="parent", first_id=50),
            session_rows("E23", "K-Z", "B2", "T1", [20.0, 25.0, 30.0], [39.0] * 3,
                         start=_weeks(6), first_id=60),
            session_rows("E24", "K-C", "B2", "T1", [20.0, 26.0, 30.0], [39.0] * 3,
                         start=_weeks(6), first_id=70),
        ],
        ignore_index=True,
    )  # fmt: skip
    episodes = pd.DataFrame(
        {
            "episode_id": ["E20", "E21", "E22", "E23", "E24"],
            "client_id": ["K-A", "K-S", "K-F1", "K-Z", "K-C"],
            "therapist_id": ["B1", "B1", "B2", "B2", "B2"],
            "team_id": "T1",
            "started": [_weeks(4), _weeks(3), _weeks(5), _weeks(6), _weeks(6)],
            "ended": [None] * 5,
            "end_type": [None] * 5,
            "format": ["couple", "individual", "family", "individual", "couple"],
        }
    )
    write_database(
        path,
        teams=teams,
        therapists=therapists,
        clients=clients,
        episodes=episodes,
        sessions=sessions,
    )
    with store.write_transaction(path) as con:  # a family member without sessions yet
        con.execute(
            "INSERT INTO episode_participants (episode_id, client_id, role, rater, added_on) "
            "VALUES ('E22', 'K-F3', 'family_member', 'client', DATE '2025-02-20')"
        )
    return path


@pytest.fixture(scope="module")
def couples_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_couples_db(tmp_path_factory.mktemp("couples") / "couples.duckdb")


@pytest.fixture(scope="module")
def caseload(couples_db: Path) -> cl.Caseload:
    return cl.team_caseload(reader_for(couples_db), team_id="T1", as_of=AS_OF, model=line_model())


def case(caseload: cl.Caseload, key: str) -> pd.Series:
    rows = caseload.cases[caseload.cases["key"] == key]
    assert len(rows) == 1, key
    return rows.iloc[0]


def test_a_couple_or_family_is_one_case_naming_every_participant(caseload: cl.Caseload) -> None:
    # the client-episodes stay one row each (the flags' own unit) ...
    assert len(caseload.episodes) == 7
    roles = dict(zip(caseload.episodes["client_id"], caseload.episodes["role"], strict=True))
    assert roles == {
        "K-A": "index",
        "K-B": "partner",
        "K-S": "index",
        "K-F1": "index",
        "K-F2": "family_member",
        "K-Z": "index",
        "K-C": "index",
    }
    # ... and the list has one row per case, keyed by its first participant
    assert sorted(caseload.cases["key"]) == [
        "E20|K-A",
        "E21|K-S",
        "E22|K-F1",
        "E23|K-Z",
        "E24|K-C",
    ]
    joint = dict(zip(caseload.cases["key"], caseload.cases["joint"], strict=True))
    assert joint == {
        "E20|K-A": True,
        "E21|K-S": False,
        "E22|K-F1": True,
        "E23|K-Z": False,
        "E24|K-C": False,  # a couple's episode with one client so far: that client's case
    }
    assert list(caseload.cases.columns) == [*cl.CASE_COLUMNS, *FLAGS]
    assert case(caseload, "E20|K-A")["participants"] == (("index", "K-A"), ("partner", "K-B"))
    family = case(caseload, "E22|K-F1")
    # a participant without sessions is named too
    assert family["participants"] == (
        ("index", "K-F1"),
        ("family_member", "K-F2"),
        ("family_member", "K-F3"),
    )
    assert family["age_groups"] == "adult|child"
    assert case(caseload, "E21|K-S")["participants"] == (("index", "K-S"),)
    # every participant's client-episode points at its case
    by_case = caseload.episodes.groupby("case")["client_id"].agg(sorted).to_dict()
    assert by_case["E20|K-A"] == ["K-A", "K-B"] and by_case["E22|K-F1"] == ["K-F1", "K-F2"]


def test_the_cases_flags_are_its_participants_with_the_most_urgent_first(
    caseload: cl.Caseload,
) -> None:
    couple = case(caseload, "E20|K-A")
    assert couple["not_on_track"] and couple["srs_below_cutoff"]  # one partner each
    assert couple["urgent_flag"] == "not_on_track"
    assert couple["urgency"] == URGENCY.index("not_on_track")
    episodes = caseload.episodes.set_index("client_id")
    assert episodes.loc["K-A", "not_on_track"] and not episodes.loc["K-A", "srs_below_cutoff"]
    assert episodes.loc["K-B", "srs_below_cutoff"] and not episodes.loc["K-B", "not_on_track"]
    assert couple["flag_count"] == episodes.loc[["K-A", "K-B"], "flag_count"].sum()
    now, _ = cl.case_flags(caseload, "E20|K-A")
    whose = list(zip(now["flag"], now["role"], now["client_id"], strict=True))
    assert whose[0] == ("not_on_track", "index", "K-A")
    assert ("srs_below_cutoff", "partner", "K-B") in whose
    assert set(now["client_id"]) == {"K-A", "K-B"}


def test_sorted_by_the_most_urgent_participant_not_the_other(caseload: cl.Caseload) -> None:
    listed = cl.sort_caseload(caseload.cases, cl.URGENCY_SORT, descending=True)
    # K-S's alliance warning is as urgent as partner K-B's and K-S was seen longer ago; the
    # couple still comes first, by partner K-A's 'not on track'
    assert listed["key"].tolist()[:2] == ["E20|K-A", "E21|K-S"]
    assert listed["key"].tolist()[-1] == "E23|K-Z"


def test_counts_and_filters_work_on_cases(caseload: cl.Caseload) -> None:
    cases, episodes = caseload.cases, caseload.episodes
    # both family members miss the SRS at the last session: one case to check, not two
    assert cl.flag_group_counts(episodes)["missing_feedback"] == 2
    assert cl.flag_group_counts(cases)["missing_feedback"] == 1
    assert cl.flag_group_counts(cases)["alliance"] == 2  # the couple and K-S
    assert cl.flag_group_counts(cases)["not_on_track"] == 1
    # a case matches a filter when any participant does
    children = cl.filter_caseload(cases, as_of=AS_OF, age_group="child")
    assert children["key"].tolist() == ["E22|K-F1"]
    adults = cl.filter_caseload(cases, as_of=AS_OF, age_group="adult")
    assert len(adults) == 5
    alliance = cl.filter_caseload(cases, as_of=AS_OF, flag_group="alliance")
    assert sorted(alliance["key"]) == ["E20|K-A", "E21|K-S"]
    assert cl.filter_caseload(cases, as_of=AS_OF, therapist_id="B2")["key"].tolist() == [
        "E24|K-C",
        "E22|K-F1",
        "E23|K-Z",
    ]


def test_a_joint_cases_numbers_are_its_participant_most_in_need(caseload: cl.Caseload) -> None:
    couple = case(caseload, "E20|K-A")
    assert couple["first_ors"] == 15.0  # K-B's intake
    assert couple["last_ors"] == 21.0  # K-A's last
    assert couple["change"] == 1.0  # K-A: 20 -> 21 (K-B: +12)
    assert couple["last_srs"] == 33.0  # K-B's
    assert couple["sessions"] == 4 and couple["days_since_last"] == 7
    # an individual case is its client-episode's row, unchanged
    solo = case(caseload, "E21|K-S")
    own = caseload.episodes[caseload.episodes["key"] == "E21|K-S"].iloc[0]
    for column in [*cl.CASELOAD_COLUMNS, *FLAGS]:
        assert solo[column] == own[column] or (pd.isna(solo[column]) and pd.isna(own[column]))


def test_collateral_ratings_never_flag(caseload: cl.Caseload) -> None:
    family = case(caseload, "E22|K-F1")
    # the parent's ORS 5 about K-F2 is no deterioration, no stagnation, nothing
    assert not family[[c for c in FLAGS if c not in ("missing_srs",)]].any()
    assert set(caseload.flags.loc[caseload.flags["case"] == "E22|K-F1", "flag"]) == {"missing_srs"}
    assert caseload.episodes.loc[caseload.episodes["client_id"] == "K-F2", "sessions"].item() == 3


def test_case_participants_in_the_order_they_are_named(caseload: cl.Caseload) -> None:
    people = cl.case_participants(caseload, "E22|K-F1")
    assert people["client_id"].tolist() == ["K-F1", "K-F2"]  # K-F3 has no row: no sessions
    assert cl.case_participants(caseload, "E21|K-S")["client_id"].tolist() == ["K-S"]


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_export_has_one_row_per_case_naming_participants_and_whose_flags(
    caseload: cl.Caseload, lang: str
) -> None:
    tr = Translator(lang)
    listed = cl.sort_caseload(caseload.cases, cl.URGENCY_SORT, descending=True)
    table = review_files.case_list_table(listed, caseload.flags, tr)
    assert len(table) == 5
    column = tr.text("review.column.participants")
    client = tr.text("review.column.client")
    assert table[client].tolist() == listed["client_id"].tolist()
    couple = table.iloc[0]
    if lang == "en":
        assert couple[column] == "Couple: K-A (index), K-B (partner)"
        assert couple["Most urgent now"] == "Not on track \u2014 index K-A"
        warnings = couple["Warnings now"].split("; ")
        assert warnings[0] == "Not on track \u2014 index K-A"
        assert "SRS below cutoff \u2014 partner K-B" in warnings
        family = table[table[client] == "K-F1"].iloc[0]
        assert family[column] == (
            "Family: K-F1 (index), K-F2 (family member), K-F3 (family member)"
        )
        assert family["Data to check now"] == (
            "SRS missing \u2014 index K-F1; SRS missing \u2014 family member K-F2"
        )
        solo = table[table[client] == "K-S"].iloc[0]
        assert solo[column] == "" and "\u2014" not in solo["Warnings now"]
        assert table.loc[table[client] == "K-C", column].item() == ""
    else:
        assert couple[column] == "Par: K-A (indeksklient), K-B (partner)"
        assert couple["Mest presserende nå"] == "Ikke på sporet \u2014 indeksklient K-A"
        family = table[table[client] == "K-F1"].iloc[0]
        assert family[column].startswith("Familie: K-F1 (indeksklient), K-F2 (familiemedlem)")
    assert review_files.case_participant_codes(listed) == [
        "K-A",
        "K-B",
        "K-S",
        "K-F1",
        "K-F2",
        "K-F3",
        "K-C",
        "K-Z",
    ]


def test_the_caseload_read_names_every_participant_in_the_audit_log(couples_db: Path) -> None:
    from fitdata.data import access, audit

    access.add_user(couples_db, "siri", "supervisor", team_ids=["T1"])
    siri = access.reader_for_user(couples_db, "siri")
    cl.team_caseload(siri, team_id="T1", as_of=AS_OF)
    entry = [e for e in audit.read_audit(couples_db, user="siri") if e.action == "caseload"][-1]
    assert set(entry.clients) == {"K-A", "K-B", "K-S", "K-F1", "K-F2", "K-F3", "K-Z", "K-C"}


def test_case_detail_reads_every_participant_once_for_the_graph(
    couples_db: Path, caseload: cl.Caseload
) -> None:
    reader = reader_for(couples_db)
    people = cl.case_detail(reader, caseload, "E22|K-F1", model=line_model())
    assert [(p.role, p.client_id) for p in people] == [
        ("index", "K-F1"),
        ("family_member", "K-F2"),
        ("family_member", "K-F3"),
    ]
    child = people[1].detail
    assert child is not None and child.age_group == "child"
    # the parent's ratings are drawn beside the child's own, never flagged
    assert sorted(set(child.sessions["rater"])) == ["client", "parent"]
    assert (
        child.sessions.loc[child.sessions["rater"] == "parent", "ors_total"].tolist() == [5.0] * 3
    )
    assert people[2].detail is None  # no session yet
    couple = cl.case_detail(reader, caseload, "E20|K-A", model=line_model())
    first = couple[0].detail
    assert first is not None
    # as episode_detail gives it for one client-episode
    own_flags = caseload.flags[caseload.flags["key"] == "E20|K-A"]
    alone = cl.episode_detail(
        reader, "E20", "K-A", as_of=AS_OF, model=line_model(), episode_flags=own_flags
    )
    assert first.expected.equals(alone.expected)
    assert first.session_flags["flag"].tolist() == alone.session_flags["flag"].tolist()
    assert "not_on_track" in set(first.session_flags["flag"])
    with pytest.raises(KeyError):
        cl.case_detail(reader, caseload, "E99|K-X")
