import datetime as dt
import os
import shutil

import pandas as pd
import pytest

from fitdata.data import schema, store
from fitdata.data.store import StoreError, check_database, reader_for, write_transaction
from tests.builders import session_rows


def count_sessions(path) -> int:
    return int(reader_for(path).rows("SELECT count(*) FROM sessions")[0][0])


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(tiny_db, path)
    return path


def test_a_failed_write_leaves_the_file_untouched(db) -> None:
    before = db.read_bytes()
    with pytest.raises(RuntimeError, match="half-way"), write_transaction(db) as con:
        con.execute("DELETE FROM sessions")
        raise RuntimeError("half-way")
    assert db.read_bytes() == before
    assert [p.name for p in db.parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_constraint_violation_rolls_back_everything(db) -> None:
    rows = session_rows("E1", "K-ADULT1", "B1", "T2", [20.0, 44.0], [30.0, 30.0], first_id=900)
    with pytest.raises(Exception, match="CHECK constraint"), write_transaction(db) as con:
        store.append_frame(con, "sessions", rows)
    assert count_sessions(db) == 24


def test_readers_follow_the_file_when_a_writer_replaces_it(db) -> None:
    reader = reader_for(db)
    assert count_sessions(db) == 24
    rows = session_rows("E2", "K-ONE", "B1", "T2", [20.0, 21.0], [39.0, 39.0], first_id=500)
    rows["session_no"] = [2, 3]
    with write_transaction(db) as con:
        store.append_frame(con, "sessions", rows)
    assert count_sessions(db) == 26
    reader.close()


def test_items_must_add_up_to_the_total(db) -> None:
    rows = session_rows("E2", "K-ONE", "B1", "T2", [20.0], [39.0], items=True, first_id=600)
    rows["session_no"] = [9]
    rows["ors_total"] = [21.0]
    with pytest.raises(Exception, match="CHECK constraint"), write_transaction(db) as con:
        store.append_frame(con, "sessions", rows)


def test_partial_items_are_refused(db) -> None:
    rows = session_rows("E2", "K-ONE", "B1", "T2", [20.0], [39.0], items=True, first_id=600)
    rows["session_no"] = [9]
    rows["ors_social"] = [None]
    with pytest.raises(Exception, match="CHECK constraint"), write_transaction(db) as con:
        store.append_frame(con, "sessions", rows)


@pytest.mark.parametrize("code", ["01019012345", "010190 12345"])
def test_a_national_identity_number_is_never_a_client_code(db, code: str) -> None:
    client = pd.DataFrame({"client_id": [code], "birth_year": [1990], "age_group": ["adult"]})
    with pytest.raises(Exception, match="CHECK constraint"), write_transaction(db) as con:
        store.append_frame(con, "clients", client)


def test_check_reports_counts_and_no_problems(tiny_db) -> None:
    report = check_database(tiny_db)
    assert report.ok, report.problems
    assert report.counts == {
        "teams": 3,
        "therapists": 3,
        "clients": 5,
        "episodes": 5,
        "sessions": 24,
    }


def test_check_finds_cross_table_problems(db) -> None:
    orphan = session_rows("E99", "K-NOBODY", "B1", "T2", [20.0], [30.0], first_id=1)
    orphan["session_date"] = [dt.date(2020, 1, 1)]
    with write_transaction(db) as con:
        store.append_frame(con, "sessions", orphan)
    problems = "\n".join(check_database(db).problems)
    assert "1 sessions whose episode is not in episodes" in problems
    assert "1 sessions whose client is not in clients" in problems
    assert "1 duplicate session ids" in problems


def test_a_missing_file_says_how_to_create_one(tmp_path) -> None:
    with pytest.raises(StoreError, match="fitdata demo --out"):
        reader_for(tmp_path / "none.duckdb").rows("SELECT 1")
    with pytest.raises(StoreError, match="no database"):
        with write_transaction(tmp_path / "none.duckdb"):
            pass


def _set_version(path, version: int) -> None:
    with write_transaction(path) as con:
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])


def test_a_newer_file_is_refused_with_what_to_do(db) -> None:
    _set_version(db, store.SCHEMA_VERSION + 1)
    reader = reader_for(db)
    with pytest.raises(StoreError, match="Upgrade fitdata"):
        reader.rows("SELECT 1")
    reader.close()


def test_an_older_file_is_refused_by_readers_and_migrated_on_request(db, monkeypatch) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", {})
    _set_version_older = store.SCHEMA_VERSION - 1
    # write an "older" file by hand: same tables, lower version
    with write_transaction(db) as con:
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (?)", [_set_version_older])
        con.execute("ALTER TABLE teams DROP COLUMN service")
    reader = reader_for(db)
    with pytest.raises(StoreError, match="fitdata check --migrate"):
        reader.rows("SELECT 1")
    reader.close()
    with pytest.raises(StoreError, match="no migration from it"):
        store.migrate_database(db)
    monkeypatch.setattr(
        schema,
        "MIGRATIONS",
        {_set_version_older: "ALTER TABLE teams ADD COLUMN service VARCHAR DEFAULT 'unknown'"},
    )
    assert store.migrate_database(db) == (_set_version_older, store.SCHEMA_VERSION)
    assert reader.rows("SELECT DISTINCT service FROM teams") == [("unknown",)]
    reader.close()


def test_a_file_that_is_not_fitdata_is_refused(tmp_path) -> None:
    path = tmp_path / "other.duckdb"
    with write_transaction(path, create=True) as con:
        con.execute("DROP TABLE schema_version")
    with pytest.raises(StoreError, match="not a fitdata database"):
        reader_for(path).rows("SELECT 1")


def test_an_unfinished_wal_from_another_program_blocks_writes(db) -> None:
    wal = db.with_name(db.name + ".wal")
    wal.write_bytes(b"")
    try:
        with pytest.raises(StoreError, match="write-ahead log"), write_transaction(db):
            pass
    finally:
        os.remove(wal)


def test_resort_keeps_sessions_team_by_team_and_client_by_client(db) -> None:
    extra = session_rows("E2", "K-ONE", "B1", "T2", [20.0], [39.0], first_id=700)
    extra["session_no"] = [2]
    with write_transaction(db, resort=True) as con:
        store.append_frame(con, "sessions", extra)
    stored = reader_for(db).rows("SELECT team_id, client_id FROM sessions")
    assert len({team for team, _ in stored}) > 1  # the order is really tested
    assert stored == sorted(stored)


def test_readers_and_writers_draw_no_duckdb_progress_bar(db) -> None:
    """DuckDB's bar would be stray output in a dashboard kernel and over the importer's bar."""
    setting = "SELECT current_setting('enable_progress_bar')"
    assert reader_for(db).rows(setting) == [(False,)]
    with write_transaction(db) as con:
        assert con.execute(setting).fetchall() == [(False,)]


def test_release_buffers_closes_only_readers_holding_more_than_the_limit(demo_db) -> None:
    reader = reader_for(demo_db)
    reader.close()
    assert reader.buffer_mb() == 0.0  # closed: nothing held
    rows = reader.rows("SELECT count(*), sum(ors_total) FROM sessions")
    held = reader.buffer_mb()
    assert held > 0  # the scan's blocks stay in DuckDB's buffer pool
    store.release_buffers(keep_mb=held + 100)
    assert reader.buffer_mb() == held  # a small pool is kept: no reconnect
    store.release_buffers(keep_mb=0)
    assert reader.buffer_mb() == 0.0  # released ...
    assert reader.rows("SELECT count(*), sum(ors_total) FROM sessions") == rows  # ... reopens
