"""The couples' and families' participants: read once per file version and scope, never stale."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from fitdata.data import access, store
from fitdata.data.store import reader_for
from fitdata.features import joint_roster
from fitdata.features import team_review as cl
from tests.unit.test_team_review import AS_OF, line_model
from tests.unit.test_team_review_cases import build_couples_db


def test_the_listed_participants_by_date_and_the_couple_not_yet_joined(tmp_path: Path) -> None:
    reader = reader_for(build_couples_db(tmp_path / "couples.duckdb"))
    roster = joint_roster.joint_roster(reader, ["E22", "E20", "E21"], as_of=AS_OF)
    assert list(roster.columns) == list(joint_roster.ROSTER_COLUMNS)
    assert set(zip(roster["episode_id"], roster["client_id"], roster["role"], strict=True)) == {
        ("E20", "K-A", "index"),
        ("E20", "K-B", "partner"),
        ("E22", "K-F1", "index"),
        ("E22", "K-F2", "family_member"),
        ("E22", "K-F3", "family_member"),
    }  # E21 is an individual episode: no rows; the parent's rating of K-F2 is no participant
    before = joint_roster.joint_roster(reader, ["E22"], as_of=dt.date(2025, 2, 19))
    assert "K-F3" not in set(before["client_id"])  # added on 20.02
    assert joint_roster.joint_roster(reader, [], as_of=AS_OF).empty


def test_a_partner_who_joins_is_in_the_next_caseload_of_the_same_kernel(tmp_path: Path) -> None:
    path = build_couples_db(tmp_path / "couples.duckdb")
    reader = reader_for(path)
    model = line_model()
    first = cl.team_caseload(reader, team_id="T1", as_of=AS_OF, model=model)
    assert not bool(first.cases.loc[first.cases["episode_id"] == "E24", "joint"].iloc[0])
    with store.write_transaction(path) as con:  # the file is replaced: a new version
        con.execute("INSERT INTO clients VALUES ('K-D', 1986, 'adult')")
        con.execute(
            "INSERT INTO episode_participants (episode_id, client_id, role, rater, added_on) "
            "VALUES ('E24', 'K-D', 'partner', 'client', DATE '2025-02-24')"
        )
    again = cl.team_caseload(reader, team_id="T1", as_of=AS_OF, model=model)
    couple = again.cases[again.cases["episode_id"] == "E24"].iloc[0]
    assert bool(couple["joint"])
    assert couple["participants"] == (("index", "K-C"), ("partner", "K-D"))


def test_a_restricted_reader_never_gets_anothers_lookup(tmp_path: Path) -> None:
    path = build_couples_db(tmp_path / "couples.duckdb")
    everyone = reader_for(path)
    assert len(joint_roster.joint_roster(everyone, ["E22"], as_of=AS_OF)) == 3  # filled first
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    kari = access.reader_for_user(path, "kari")  # B1's episodes: E20 and E21, not B2's E22
    assert joint_roster.joint_roster(kari, ["E22"], as_of=AS_OF).empty
    assert len(joint_roster.joint_roster(kari, ["E20"], as_of=AS_OF)) == 2


def test_a_copy_of_the_file_is_read_as_its_own(tmp_path: Path) -> None:
    path = build_couples_db(tmp_path / "couples.duckdb")
    joint_roster.joint_roster(reader_for(path), ["E20"], as_of=AS_OF)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    with store.write_transaction(copy) as con:
        con.execute("DELETE FROM episode_participants WHERE client_id = 'K-B'")
    assert list(joint_roster.joint_roster(reader_for(copy), ["E20"], as_of=AS_OF)["client_id"]) == [
        "K-A"
    ]
    assert len(joint_roster.joint_roster(reader_for(path), ["E20"], as_of=AS_OF)) == 2


def test_a_file_without_couples_or_families_has_an_empty_lookup(tmp_path: Path) -> None:
    path = build_couples_db(tmp_path / "couples.duckdb")
    with store.write_transaction(path) as con:
        con.execute("UPDATE episodes SET format = 'individual'")
    roster = joint_roster.joint_roster(reader_for(path), ["E20", "E22"], as_of=AS_OF)
    assert roster.empty and list(roster.columns) == list(joint_roster.ROSTER_COLUMNS)
