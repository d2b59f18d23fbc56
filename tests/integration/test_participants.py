"""Several people in one episode (issue 20): the reads, the scopes, the writes and the checks."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fitdata.data import access, queries, store
from fitdata.data.access import AccessDenied
from fitdata.data.check import check_reader
from fitdata.data.participants import ensure_participants
from fitdata.data.store import StoreError, reader_for, write_transaction
from tests.family_db import build_family_db

B1_EPISODES = {"E-C", "E-G"}
B2_EPISODES = {"E-F"}


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_family_db(tmp_path_factory.mktemp("family") / "family.duckdb")


@pytest.fixture
def db(family, tmp_path) -> Path:
    path = tmp_path / "participants.duckdb"
    shutil.copyfile(family, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "ola", "therapist", therapist_id="B2")
    access.add_user(path, "leder", "leader")
    with write_transaction(path) as con:
        con.execute(
            "INSERT INTO client_page_settings VALUES "
            "('K-A', FALSE, 'kari', TIMESTAMP '2025-02-01 10:00'), "
            "('K-KID', FALSE, 'ola', TIMESTAMP '2025-02-01 10:00')"
        )
        con.execute(
            "INSERT INTO client_form_uses VALUES ('L-1', 'ors', 1, TIMESTAMP '2025-01-06 09:00')"
        )
    yield path
    reader_for(path).close()


def _check(path: Path) -> tuple[list[str], list[str]]:
    report = check_reader(reader_for(path), path)
    return report.problems, report.warnings


# -- reads ------------------------------------------------------------------------------------


def test_episode_participants_lists_the_index_first_then_clients_then_raters(family) -> None:
    frame = queries.episode_participants(reader_for(family), "E-F")
    assert list(frame.columns) == ["client_id", "role", "rater", "added_on", "age_group"]
    assert list(frame.itertuples(index=False, name=None)) == [
        ("K-KID", "index", "client", None, "child"),
        ("K-MUM", "family_member", "client", None, "adult"),
        ("K-KID", "collateral", "parent", None, "child"),
    ]
    couple = queries.episode_participants(reader_for(family), "E-C")
    assert list(couple["role"]) == ["index", "partner"]
    assert queries.episode_participants(reader_for(family), "E-NONE").empty


def test_a_partner_added_later_without_sessions_is_a_participant(family, tmp_path) -> None:
    path = tmp_path / "added.duckdb"
    shutil.copyfile(family, path)
    with write_transaction(path) as con:
        con.execute("INSERT INTO clients VALUES ('K-C', 1990, 'adult')")
        added = ensure_participants(
            con,
            [
                {
                    "episode_id": "E-G",
                    "client_id": "K-C",
                    "role": "member",
                    "added_on": dt.date(2025, 3, 1),
                }
            ],
        )
    assert added == 1
    frame = queries.episode_participants(reader_for(path), "E-G")
    assert list(frame["client_id"]) == ["K-G", "K-C", "K-H"]  # index, then by client code
    assert frame.loc[1, "added_on"] == dt.date(2025, 3, 1)
    assert _check(path) == ([], [])


def test_episode_sessions_has_every_participant_and_the_default_forms(family) -> None:
    frame = queries.episode_sessions(reader_for(family), "E-F")
    expected = {"client_id", "session_no", "session_date", "rater", "ors_total", "srs_total"}
    assert expected | {"ors_form", "srs_form", "entered_by"} <= set(frame.columns)
    rows = frame[["session_no", "client_id", "rater", "ors_total", "ors_form", "srs_form"]]
    assert [tuple(r) for r in rows.itertuples(index=False)] == [
        (1, "K-KID", "client", 22.0, "CORS", "CSRS"),
        (1, "K-KID", "parent", 21.0, "CORS", None),  # a parent's rating: no SRS, no SRS form
        (1, "K-MUM", "client", 25.0, "ORS", "SRS"),
        (2, "K-KID", "client", 26.0, "CORS", "CSRS"),
        (2, "K-KID", "parent", 23.0, "CORS", None),
    ]
    one = queries.client_sessions(reader_for(family), "E-F", "K-KID")
    shared = [c for c in one.columns if c != "client_id"]
    mine = frame[frame["client_id"] == "K-KID"][shared].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, one[shared])  # the same values as client_sessions
    group = queries.episode_sessions(reader_for(family), "E-G")
    assert set(group["srs_form"]) == {"GSRS"}


def test_a_recorded_form_is_returned_as_recorded(family, tmp_path) -> None:
    path = tmp_path / "forms.duckdb"
    shutil.copyfile(family, path)
    with write_transaction(path) as con:
        con.execute(
            "UPDATE sessions SET ors_form = 'ORS', srs_form = 'SRS', entered_by = 'therapist' "
            "WHERE session_id = 50"
        )
    frame = queries.episode_sessions(reader_for(path), "E-G")
    first = frame[frame["client_id"] == "K-G"].iloc[0]
    assert (first["ors_form"], first["srs_form"], first["entered_by"]) == (
        "ORS",
        "SRS",
        "therapist",
    )


# -- scopes -----------------------------------------------------------------------------------


def test_a_therapist_reads_only_the_participants_of_her_episodes(db) -> None:
    kari = access.reader_for_user(db, "kari")
    rows = kari.rows("SELECT DISTINCT episode_id FROM episode_participants")
    assert {r[0] for r in rows} == B1_EPISODES
    # whatever she asks: another therapist's episode by id, or every row
    assert kari.rows("SELECT * FROM episode_participants WHERE episode_id = 'E-F'") == []
    assert queries.episode_participants(kari, "E-F").empty
    assert queries.episode_sessions(kari, "E-F").empty
    ola = access.reader_for_user(db, "ola")
    assert {r[0] for r in ola.rows("SELECT client_id FROM episode_participants")} == {
        "K-KID",
        "K-MUM",
    }
    assert list(queries.episode_participants(ola, "E-F")["client_id"]) == [
        "K-KID",
        "K-MUM",
        "K-KID",
    ]


def test_a_partner_without_sessions_is_among_the_therapists_clients(db) -> None:
    with write_transaction(db) as con:
        con.execute("INSERT INTO clients VALUES ('K-NEW', 1991, 'adult')")
        con.execute("INSERT INTO clients VALUES ('K-OTHER', 1992, 'adult')")
        ensure_participants(
            con, [{"episode_id": "E-F", "client_id": "K-OTHER", "role": "family_member"}]
        )
        ensure_participants(con, [{"episode_id": "E-C", "client_id": "K-NEW", "role": "partner"}])
    kari = access.reader_for_user(db, "kari")
    seen = {r[0] for r in kari.rows("SELECT client_id FROM clients")}
    assert "K-NEW" in seen and "K-OTHER" not in seen
    participants = queries.episode_participants(kari, "E-C")
    assert participants.set_index("client_id").loc["K-NEW", "age_group"] == "adult"


def test_page_settings_are_seen_for_ones_own_clients_and_form_uses_by_nobody(db) -> None:
    kari = access.reader_for_user(db, "kari")
    assert kari.rows("SELECT client_id, show_graph FROM client_page_settings") == [("K-A", False)]
    ola = access.reader_for_user(db, "ola")
    assert ola.rows("SELECT client_id FROM client_page_settings") == [("K-KID",)]
    for user in ("kari", "ola", "leder"):
        reader = access.reader_for_user(db, user)
        with pytest.raises(StoreError, match="not one of the tables"):
            reader.rows("SELECT * FROM client_form_uses")
        with pytest.raises(StoreError, match="not allowed"):
            reader.rows("SELECT * FROM main.client_form_uses")
    assert reader_for(db).rows("SELECT link_id FROM client_form_uses") == [("L-1",)]


def test_the_leaders_participants_are_hashed_and_refused_at_client_level(db) -> None:
    leder = access.reader_for_user(db, "leder")
    rows = leder.rows("SELECT episode_id, client_id, role, rater FROM episode_participants")
    assert len(rows) == 7
    ids = {r[0] for r in rows} | {r[1] for r in rows}
    real = {"E-C", "E-F", "E-G", "K-A", "K-B", "K-KID", "K-MUM", "K-G", "K-H"}
    assert not ids & real
    assert all(len(i) == 32 for i in ids)  # md5 hex digests
    # the hashes match the leader's other views, so aggregates can join them
    joined = leder.rows(
        "SELECT count(*) FROM episode_participants p JOIN episodes e USING (episode_id) "
        "WHERE p.role = 'index' AND p.client_id = e.client_id"
    )
    assert joined == [(3,)]
    roles = sorted(r[2] for r in rows)
    assert roles == sorted(["index"] * 3 + ["partner", "family_member", "member", "collateral"])
    assert leder.rows("SELECT * FROM client_page_settings") == []
    with pytest.raises(AccessDenied):
        queries.episode_participants(leder, "E-C")
    with pytest.raises(AccessDenied):
        queries.episode_sessions(leder, "E-C")


def test_reading_an_episode_is_audited_with_every_client(db) -> None:
    kari = access.reader_for_user(db, "kari")
    queries.episode_participants(kari, "E-C")
    queries.episode_sessions(kari, "E-C")
    entries = [e for e in access.read_audit(db) if e.episode_id == "E-C"]
    assert [e.action for e in entries] == ["episode_participants", "episode_sessions"]
    assert all(e.clients == ("K-A", "K-B") and e.user == "kari" for e in entries)


# -- writes -----------------------------------------------------------------------------------


def _write(path: Path, rows) -> int:
    with write_transaction(path) as con:
        return ensure_participants(con, rows)


def test_ensure_participants_adds_what_is_missing_and_ignores_repeats(db) -> None:
    before = reader_for(db).rows("SELECT * FROM episode_participants ORDER BY ALL")
    existing = [{"episode_id": "E-C", "client_id": "K-B", "role": "partner", "rater": "client"}]
    assert _write(db, existing) == 0
    assert _write(db, pd.DataFrame(existing * 2)) == 0
    assert _write(db, []) == 0
    assert reader_for(db).rows("SELECT * FROM episode_participants ORDER BY ALL") == before
    teacher = {"episode_id": "E-F", "client_id": "K-KID", "role": "collateral", "rater": "teacher"}
    assert _write(db, [teacher, teacher]) == 1
    assert len(reader_for(db).rows("SELECT * FROM episode_participants")) == len(before) + 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"episode_id": "E-C", "client_id": "K-B", "role": "index"},
            "more than one index client",
        ),
        (
            {"episode_id": "E-C", "client_id": "K-B", "role": "member"},
            "would be both member and partner",
        ),
        (
            {"episode_id": "E-C", "client_id": "K-A", "role": "partner", "rater": "parent"},
            "'partner' does not fit the parent's rating of K-A",
        ),
        (
            {"episode_id": "E-C", "client_id": "K-B", "role": "collateral"},
            "does not fit client K-B",
        ),
        ({"episode_id": "E-C", "client_id": "K-B", "role": "boss"}, "Unknown participant role"),
        (
            {"episode_id": "E-C", "client_id": "K-B", "role": "partner", "rater": "aunt"},
            "Unknown rater 'aunt'",
        ),
    ],
)
def test_ensure_participants_refuses_conflicts_and_writes_nothing(db, row, message) -> None:
    before = db.read_bytes()
    with pytest.raises(StoreError, match=message):
        _write(db, [row])
    assert db.read_bytes() == before


def test_two_index_clients_in_one_call_or_the_wrong_one_are_refused(db, tmp_path) -> None:
    with write_transaction(db) as con:
        con.execute(
            "INSERT INTO episodes VALUES ('E-NEW', 'K-A', 'B1', 'T1', DATE '2025-05-01', NULL, "
            "NULL, 'couple')"
        )
        with pytest.raises(StoreError, match="cannot be the index client of episode E-NEW"):
            ensure_participants(con, [{"episode_id": "E-NEW", "client_id": "K-B", "role": "index"}])
    with pytest.raises(StoreError, match="more than one index client"):
        _write(
            db,
            [
                {"episode_id": "E-X", "client_id": "K-A", "role": "index"},
                {"episode_id": "E-X", "client_id": "K-B", "role": "index"},
            ],
        )


# -- checks -----------------------------------------------------------------------------------


def test_the_family_file_passes_the_check(family) -> None:
    assert _check(family) == ([], [])


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            "DELETE FROM episode_participants WHERE client_id = 'K-B'",
            "2 sessions whose client and rater are not among their episode's participants",
        ),
        (
            # the index client's sessions lose their participant row too
            "DELETE FROM episode_participants WHERE episode_id = 'E-C' AND role = 'index'",
            "1 episodes without exactly one index participant\n2 sessions whose client",
        ),
        (
            "UPDATE episode_participants SET role = 'index' WHERE client_id = 'K-H'",
            "1 episodes without exactly one index participant",
        ),
        (
            "UPDATE episodes SET client_id = 'K-B' WHERE episode_id = 'E-C'",
            "1 episodes without exactly one index participant",
        ),
        (
            "INSERT INTO episode_participants VALUES ('E-C', 'K-B', 'partner', 'client', NULL)",
            "1 duplicate participants",
        ),
        (
            "INSERT INTO episode_participants VALUES ('E-Z', 'K-B', 'member', 'client', NULL)",
            "1 participants whose episode is not in episodes",
        ),
        (
            "INSERT INTO episode_participants VALUES ('E-C', 'K-Q', 'partner', 'client', NULL)",
            "1 participants whose client is not in clients",
        ),
        (
            "UPDATE sessions SET entered_by = 'therapist', ors_form = NULL WHERE session_id = 1",
            "1 sessions entered since version 6 whose form",
        ),
        (
            "UPDATE sessions SET entered_by = 'import', ors_form = 'ORS', srs_form = 'SRS' "
            "WHERE session_id = 10",  # K-B gave no SRS: an SRS form without its total
            "1 sessions entered since version 6 whose form",
        ),
        (
            "INSERT INTO client_form_uses VALUES ('L-1', 'ors', 1, now()::TIMESTAMP), "
            "('L-1', 'ors', 2, now()::TIMESTAMP), ('L-1', 'srs', 1, now()::TIMESTAMP)",
            "1 client links whose form was used more than once",
        ),
    ],
)
def test_each_participant_rule_finds_its_violation(family, tmp_path, sql, problem) -> None:
    path = tmp_path / "broken.duckdb"
    shutil.copyfile(family, path)
    with write_transaction(path) as con:
        con.execute(sql)
    problems, _ = _check(path)
    expected = problem.split("\n")
    assert all(any(p.startswith(e) for p in problems) for e in expected), problems
    assert len(problems) == len(expected), problems


def test_a_childrens_form_for_an_adult_is_a_warning_not_a_problem(family, tmp_path) -> None:
    path = tmp_path / "cors.duckdb"
    shutil.copyfile(family, path)
    with write_transaction(path) as con:
        con.execute(
            "UPDATE sessions SET ors_form = 'CORS', srs_form = 'CSRS', entered_by = 'therapist' "
            "WHERE client_id = 'K-A'"
        )
    problems, warnings = _check(path)
    assert problems == []
    assert len(warnings) == 1 and warnings[0].startswith("2 sessions on a children's form")
    report = store.check_database(path)
    assert report.ok and report.warnings == warnings


def test_the_participant_rows_refuse_a_role_that_contradicts_the_rater(family, tmp_path) -> None:
    path = tmp_path / "rater.duckdb"
    shutil.copyfile(family, path)
    for values in (
        "('E-C', 'K-B', 'collateral', 'client', NULL)",
        "('E-C', 'K-B', 'x', 'client', NULL)",
    ):
        with pytest.raises(duckdb.ConstraintException), write_transaction(path) as con:
            con.execute(f"INSERT INTO episode_participants VALUES {values}")


def test_the_readmes_couples_query_runs_and_lists_both_partners(family) -> None:
    text = (Path(__file__).resolve().parents[2] / "data" / "README.md").read_text("utf-8")
    sql = re.search(r"```sql\n(SELECT p\.episode_id.*?)```", text, re.S)
    assert sql, "data/README.md lost its couples query"
    rows = reader_for(family).rows(sql.group(1))
    assert [r[:3] for r in rows] == [("E-C", "K-A", "index"), ("E-C", "K-B", "partner")]
    assert [(float(r[3]), float(r[4]), r[5]) for r in rows] == [(20.0, 24.0, 2), (18.0, 19.0, 2)]
