"""Schema version 7: a version-6 file, and one from version 3 through the whole chain, upgrade to
exactly a new file's schema with the case discussion tables, keeping every row."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from fitdata.data import schema, store
from fitdata.data.errors import StoreError
from fitdata.data.store import reader_for, write_transaction
from fitdata.features import case_discussions as cd
from tests.family_db import build_family_db
from tests.integration.test_participants_migration import as_version
from tests.migrations import migrate, schema_definition

V7_TABLES = ("case_discussions", "case_discussion_changes")


def _drop_v7(path: Path, version: int | None = None) -> None:
    with write_transaction(path) as con:
        for table in V7_TABLES:
            con.execute(f"DROP TABLE {table}")
        if version is not None:
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])


@pytest.fixture(scope="module")
def family_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_family_db(tmp_path_factory.mktemp("family7") / "family.duckdb")


def _version(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return int(con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0])


def test_a_version_6_file_gets_the_two_tables_and_nothing_else_changes(family_db, tmp_path) -> None:
    old = tmp_path / "v6.duckdb"
    shutil.copyfile(family_db, old)
    _drop_v7(old, version=6)
    with duckdb.connect(str(old), read_only=True) as con:
        sessions = con.execute("SELECT * FROM sessions ORDER BY session_id").fetchall()
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not set(V7_TABLES) & tables
    with pytest.raises(StoreError, match="fitdata check --migrate"):
        reader_for(old).rows("SELECT 1")
    reader_for(old).close()

    done = migrate(old)
    assert done.returncode == 0, done.stderr
    assert _version(old) == store.SCHEMA_VERSION == 7
    assert schema_definition(old) == schema_definition(family_db)  # exactly a new file's schema
    with duckdb.connect(str(old), read_only=True) as con:
        assert con.execute("SELECT * FROM sessions ORDER BY session_id").fetchall() == sessions
        for table in V7_TABLES:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
    # the migrated file takes discussions like a new one
    end = dt.date(2025, 6, 30)
    saved = cd.record_discussion(
        old,
        episode_id="E-C",
        discussed_on=end,
        forum="team_meeting",
        agreed=["talk_feedback"],
        source="team_review",
        actor="test",
        flags_then=(),
        today=end,
    )
    assert saved.discussion_id == 1
    assert store.check_database(old).ok
    reader_for(old).close()


@pytest.mark.parametrize("version", [3, 5])
def test_an_older_file_migrates_through_the_chain_to_version_7(
    family_db, tmp_path, version
) -> None:
    old = tmp_path / f"v{version}.duckdb"
    shutil.copyfile(family_db, old)
    _drop_v7(old)
    as_version(old, version)  # back to version 3 or 5 (participants and forms gone)
    assert _version(old) == version
    done = migrate(old)
    assert done.returncode == 0, done.stderr
    assert _version(old) == 7
    assert schema_definition(old) == schema_definition(family_db)
    report = store.check_database(old)
    assert report.ok, report.problems
    reader_for(old).close()


def test_a_copy_that_already_has_the_tables_keeps_its_discussions(family_db, tmp_path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(family_db, copy)
    end = dt.date(2025, 6, 30)
    cd.record_discussion(
        copy,
        episode_id="E-F",
        discussed_on=end,
        forum="with_client",
        agreed=["no_change"],
        source="import",
        actor="test",
        flags_then=(),
        today=end,
    )
    reader_for(copy).close()
    with write_transaction(copy) as con:  # a newer file marked as older
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (6)")
    done = migrate(copy)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("SELECT episode_id FROM case_discussions").fetchall() == [("E-F",)]


def test_the_migration_takes_the_tables_from_schema_sql() -> None:
    con = duckdb.connect()
    con.execute(schema.table_ddl("sessions"))  # any version-6 table; the step adds only its own
    schema.MIGRATIONS[6](con)  # type: ignore[operator]
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert set(V7_TABLES) <= tables
    new = duckdb.connect()
    for table in V7_TABLES:
        new.execute(schema.table_ddl(table))
    query = (
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE table_name LIKE 'case_%' ORDER BY ALL"
    )
    assert con.execute(query).fetchall() == new.execute(query).fetchall()
