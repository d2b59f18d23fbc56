"""The database itself refuses a national identity number in a code or a name (schema 5).

The importer and registration scan with :mod:`fitdata.identifiers`; the CHECKs in
``schema.sql`` are the last line, for anything that writes to the file another way.
"""

import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from fitdata.data import schema
from fitdata.data.store import StoreError, reader_for, write_transaction
from fitdata.identifiers import identity_number_sql

# A valid fødselsnummer (01.01.90, check digits right) in spellings people and programs use.
SPELLINGS = [
    "01019010046",
    "010190 10046",
    "01.01.90 10046",
    "010\u00a0190\u00a010046",
    "K 010190-10046",
    "1019010046",  # Excel dropped the leading zero
    "\uff10\uff11\uff10\uff11\uff19\uff10\uff11\uff10\uff10\uff14\uff16",  # full-width
]
COLUMNS = {
    "teams": ("team_id", "name", "service"),
    "therapists": ("therapist_id", "name"),
    "clients": ("client_id",),
}


def _schema_text() -> str:
    return resources.files("fitdata.data").joinpath("schema.sql").read_text(encoding="utf-8")


def test_every_code_and_name_column_has_the_identifiers_check() -> None:
    text = _schema_text()
    for columns in COLUMNS.values():
        for column in columns:
            assert f"CHECK (NOT {identity_number_sql(column)})" in text, column
    assert "regexp_full_match(client_id" not in text  # the old 6+5-digit check is gone


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    path = tmp_path / "new.duckdb"
    with write_transaction(path, replace=True):
        pass
    return path


def _insert(con: duckdb.DuckDBPyConnection, table: str, column: str, value: str) -> None:
    rows = {
        "teams": {"team_id": "T1", "name": "Team Nord", "service": "BUP"},
        "therapists": {"therapist_id": "B1", "name": "Kari Berg", "team_id": "T1"},
        "clients": {"client_id": "K-1", "birth_year": None, "age_group": "adult"},
    }[table]
    rows = {**rows, column: value}
    names = ", ".join(rows)
    con.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(rows))})", list(rows.values())
    )


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_new_file_refuses_the_number_in_every_spelling_and_column(empty_db, spelling) -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            with pytest.raises(duckdb.ConstraintException):
                with write_transaction(empty_db) as con:
                    _insert(con, table, column, spelling)
    assert reader_for(empty_db).rows("SELECT count(*) FROM clients") == [(0,)]


def test_ordinary_codes_and_names_are_stored(empty_db) -> None:
    with write_transaction(empty_db) as con:
        _insert(con, "teams", "name", "Team Nord 2")
        _insert(con, "therapists", "name", "Ola-Kristian Ødegård")
        _insert(con, "clients", "client_id", "K-4F7Q2A")
    assert reader_for(empty_db).rows("SELECT client_id FROM clients") == [("K-4F7Q2A",)]


def _as_version_4(path: Path, bad_client: str | None) -> None:
    """Put back the version-4 tables (the old clients CHECK, none on teams and therapists)."""
    with write_transaction(path) as con:
        for table in COLUMNS:
            ddl = schema.table_ddl(table)
            ddl = re.sub(r",\s*CHECK \(NOT regexp_matches\(.*?\)\)(?=\s*[,)])", "", ddl, flags=re.S)
            if table == "clients":
                ddl = ddl.replace(
                    "age_group IN ('child', 'adolescent', 'adult'))",
                    "age_group IN ('child', 'adolescent', 'adult')),\n"
                    "CHECK (NOT regexp_full_match(client_id, '\\s*[0-9]{6}\\s*[0-9]{5}\\s*'))",
                )
            con.execute(f"CREATE TABLE {table}_v4 AS SELECT * FROM {table}")
            con.execute(f"DROP TABLE {table}")
            con.execute(ddl)
            con.execute(f"INSERT INTO {table} SELECT * FROM {table}_v4")
            con.execute(f"DROP TABLE {table}_v4")
        if bad_client is not None:
            con.execute(
                "INSERT INTO clients (client_id, age_group) VALUES (?, 'adult')", [bad_client]
            )
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (4)")


def _migrate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "check", "--migrate", "--no-calibration"]
        + ["--db", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_version_4_file_migrates_to_the_checks_and_keeps_its_rows(tiny_db, tmp_path) -> None:
    path = tmp_path / "v4.duckdb"
    shutil.copyfile(tiny_db, path)
    _as_version_4(path, bad_client=None)
    with duckdb.connect(str(path), read_only=True) as con:  # fitdata refuses an old file
        before = con.execute("SELECT * FROM clients ORDER BY client_id").fetchall()
    done = _migrate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"schema version 4 -> {schema.SCHEMA_VERSION}" in done.stdout
    assert reader_for(path).rows("SELECT * FROM clients ORDER BY client_id") == before
    with pytest.raises(duckdb.ConstraintException):
        with write_transaction(path) as con:
            _insert(con, "clients", "client_id", "01.01.90 10046")


def test_a_stored_number_stops_the_upgrade_with_what_to_do(tiny_db, tmp_path) -> None:
    path = tmp_path / "v4-bad.duckdb"
    shutil.copyfile(tiny_db, path)
    _as_version_4(path, bad_client="010190-10046")  # the old 6+5 check let this through
    unchanged = path.read_bytes()
    done = _migrate(path)
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "cannot be upgraded to schema version 5" in message
    assert "a CHECK on table clients" in message and "--pseudonymise" in message
    assert "Traceback" not in message and "010190-10046" not in message
    assert path.read_bytes() == unchanged
    with pytest.raises(StoreError, match="schema version 4"):
        reader_for(path).rows("SELECT 1")
