"""Schema version 6: older files (versions 3, 4, 5) migrate to exactly a new file's schema.

The old files are made the way the other migration tests make them: a current file is taken
back to its older shape (the version-6 tables dropped, ``sessions`` rebuilt without its last
three columns), then `fitdata check --migrate` upgrades it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from fitdata.data import schema, store
from fitdata.data.errors import StoreError
from fitdata.data.store import reader_for, write_transaction
from tests.family_db import build_family_db
from tests.migrations import migrate, schema_definition

V6_TABLES = ("episode_participants", "client_form_uses", "client_page_settings")
V6_COLUMNS = ("ors_form", "srs_form", "entered_by")


def _v5_sessions_ddl() -> str:
    """``sessions`` as version 5 created it: the version-6 DDL without its last three columns."""
    ddl = schema.table_ddl("sessions")
    ddl, removed = re.subn(r",\s*ors_form\s.*?(?=\n\);)", "", ddl, flags=re.S)
    assert removed == 1 and "srs_form" not in ddl and "entered_by" not in ddl
    return ddl


def as_version(path: Path, version: int) -> None:
    """Take the file back to ``version`` (3, 4 or 5) in place, keeping its rows."""
    with write_transaction(path) as con:
        for table in V6_TABLES:
            con.execute(f"DROP TABLE {table}")
        kept = ", ".join(
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'sessions' "
                "ORDER BY column_index"
            ).fetchall()
            if r[0] not in V6_COLUMNS
        )
        con.execute(f"CREATE TABLE sessions_v5 AS SELECT {kept} FROM sessions")
        con.execute("DROP TABLE sessions")
        con.execute(_v5_sessions_ddl())
        con.execute("INSERT INTO sessions SELECT * FROM sessions_v5")
        con.execute("DROP TABLE sessions_v5")
        if version <= 3:
            con.execute("DROP TABLE audit_anchor")
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])


@pytest.fixture(scope="module")
def family_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_family_db(tmp_path_factory.mktemp("family") / "family.duckdb")


def test_the_new_file_lists_every_participant_and_passes_the_check(family_db) -> None:
    rows = reader_for(family_db).rows(
        "SELECT episode_id, client_id, role, rater FROM episode_participants ORDER BY ALL"
    )
    assert rows == [
        ("E-C", "K-A", "index", "client"),
        ("E-C", "K-B", "partner", "client"),
        ("E-F", "K-KID", "collateral", "parent"),
        ("E-F", "K-KID", "index", "client"),
        ("E-F", "K-MUM", "family_member", "client"),
        ("E-G", "K-G", "index", "client"),
        ("E-G", "K-H", "member", "client"),
    ]
    report = store.check_database(family_db)
    assert report.ok, report.problems
    assert report.warnings == []


@pytest.mark.parametrize("version", [5, 4, 3])
def test_an_older_file_migrates_to_a_new_files_schema_with_forms_and_participants(
    family_db, tmp_path, version
) -> None:
    old = tmp_path / f"v{version}.duckdb"
    shutil.copyfile(family_db, old)
    as_version(old, version)
    with duckdb.connect(str(old), read_only=True) as con:
        assert con.execute("SELECT max(version) FROM schema_version").fetchall() == [(version,)]
        assert "ors_form" not in {
            r[0] for r in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()
        }
        before = con.execute(
            "SELECT * FROM sessions ORDER BY session_id"
        ).fetchall()  # fitdata refuses the old file
    with pytest.raises(StoreError, match="fitdata check --migrate"):
        reader_for(old).rows("SELECT 1")

    done = migrate(old)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"schema version {version} -> {schema.SCHEMA_VERSION}" in done.stdout
    assert "No problems found." in done.stdout
    assert schema_definition(old) == schema_definition(family_db)

    reader = reader_for(old)
    after = reader.rows(
        "SELECT * EXCLUDE (ors_form, srs_form, entered_by) FROM sessions ORDER BY session_id"
    )
    assert after == before  # every row kept, values unchanged
    forms = dict(
        ((e, c, r), (o, s))
        for e, c, r, o, s in reader.rows(
            "SELECT DISTINCT episode_id, client_id, rater, ors_form, srs_form FROM sessions"
        )
    )
    assert forms == {
        ("E-C", "K-A", "client"): ("ORS", "SRS"),
        ("E-C", "K-B", "client"): ("ORS", None),  # no SRS given: no SRS form
        ("E-F", "K-KID", "client"): ("CORS", "CSRS"),
        ("E-F", "K-MUM", "client"): ("ORS", "SRS"),
        ("E-F", "K-KID", "parent"): ("CORS", None),
        ("E-G", "K-G", "client"): ("ORS", "GSRS"),
        ("E-G", "K-H", "client"): ("ORS", "GSRS"),
    }
    assert reader.rows("SELECT count(*) FROM sessions WHERE entered_by IS NOT NULL") == [(0,)]
    assert reader.rows(
        "SELECT episode_id, client_id, role, rater FROM episode_participants ORDER BY ALL"
    ) == reader_for(family_db).rows(
        "SELECT episode_id, client_id, role, rater FROM episode_participants ORDER BY ALL"
    )
    # the migrated sessions table is stored in the physical order a new file has
    scanned = [r[0] for r in reader.rows("SELECT session_id FROM sessions")]
    ordered = reader.rows(f"SELECT session_id FROM sessions ORDER BY {store.SESSION_ORDER}")
    assert scanned == [r[0] for r in ordered]


def test_a_migrated_file_refuses_a_form_outside_the_vocabulary(family_db, tmp_path) -> None:
    old = tmp_path / "v5.duckdb"
    shutil.copyfile(family_db, old)
    as_version(old, 5)
    assert migrate(old).returncode == 0
    with pytest.raises(duckdb.ConstraintException), write_transaction(old) as con:
        con.execute("UPDATE sessions SET srs_form = 'XSRS' WHERE session_id = 1")
    with pytest.raises(duckdb.ConstraintException), write_transaction(old) as con:
        con.execute(
            "INSERT INTO episode_participants VALUES ('E-C', 'K-Z', 'partner', 'parent', NULL)"
        )


def test_the_migration_keeps_the_session_order_constant_in_step_with_the_store() -> None:
    assert schema._SESSION_ORDER == store.SESSION_ORDER
