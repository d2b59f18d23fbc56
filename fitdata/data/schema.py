"""The schema of a fitdata file: its version, the SQL that creates it and the upgrades to it.

``schema.sql`` beside this module is the one definition of every table. A migration that adds
a whole table takes that table's ``CREATE TABLE`` statement from ``schema.sql``
(:func:`table_ddl`), so the table is written down once and a migrated file gets exactly the
table a new file gets (``tests/integration/test_access.py`` and ``test_registration.py`` compare
the two). Should such a table change later, the change is a new migration (``ALTER TABLE``), and
the migration that added the table must then keep the old statement as a copy of its own: it
must create the table as it was at its version, or the later ``ALTER`` would not apply.

The functions here work on an open DuckDB connection and know nothing of files or locks; the
store (:mod:`fitdata.data.store`) opens the connections and calls them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from fitdata.data.errors import StoreError
from fitdata.data.participants import implied_participants_sql
from fitdata.vocabulary import default_form_sql

__all__ = [
    "MIGRATIONS",
    "MIGRATION_RULES",
    "SCHEMA_VERSION",
    "TABLES",
    "apply_migrations",
    "require_current",
    "schema_sql",
    "stored_version",
    "table_ddl",
]

#: Version of the schema in ``schema.sql``. Bump it and add an entry to ``MIGRATIONS`` together.
SCHEMA_VERSION = 7

#: The data tables of the schema, in the order they are created and counted (``session_changes``,
#: ``users`` and ``audit_anchor`` are history and access control, not data, and are not counted).
TABLES = ("teams", "therapists", "clients", "episodes", "sessions")


@cache
def schema_sql() -> str:
    """The text of ``schema.sql``: every table of the current version."""
    return resources.files("fitdata.data").joinpath("schema.sql").read_text(encoding="utf-8")


def table_ddl(table: str) -> str:
    """The ``CREATE TABLE`` statement of ``table`` in ``schema.sql`` (comments removed).

    Raises:
        KeyError: If ``schema.sql`` creates no such table.
    """
    text = re.sub(r"--[^\n]*", "", schema_sql())
    for statement in text.split(";"):
        words = statement.split(None, 3)
        if [w.upper() for w in words[:2]] == ["CREATE", "TABLE"] and words[2:3] == [table]:
            return statement.strip() + ";"
    raise KeyError(f"schema.sql creates no table {table!r}")


def rebuild_table(table: str) -> str:
    """SQL that gives ``table`` its definition in ``schema.sql``, keeping every row.

    For a change DuckDB's ``ALTER TABLE`` cannot make (a new CHECK): the table is renamed, made
    anew, filled from the old one, and the old one dropped. Meant for small tables; a row the
    new definition refuses makes the statement fail.
    """
    old = f"{table}_before_migration"
    return (
        f"ALTER TABLE {table} RENAME TO {old};\n{table_ddl(table)}\n"
        f"INSERT INTO {table} SELECT * FROM {old};\nDROP TABLE {old};"
    )


#: The physical order of ``sessions`` (:data:`fitdata.data.store.SESSION_ORDER`, kept in step by
#: a test): the migration that rebuilds the table writes it in this order.
_SESSION_ORDER = "team_id, client_id, episode_id, session_date, session_no, rater"

#: The version-6 columns at the end of ``sessions``.
_V6_SESSION_COLUMNS = ("ors_form", "srs_form", "entered_by")


def _sessions_with_forms() -> str:
    """SQL that rebuilds a version-5 ``sessions`` with the version-6 columns at its end.

    DuckDB cannot add a column with a CHECK (``ALTER TABLE ... ADD COLUMN`` refuses it), so the
    table is made anew from ``schema.sql`` and filled in :data:`_SESSION_ORDER`, each form the
    default for the client's age group and the episode's format where its total is given
    (:func:`fitdata.vocabulary.default_forms`), ``entered_by`` NULL (not recorded).
    """
    old = "sessions_before_migration"
    ors = default_form_sql("ors", "c.age_group", "e.format")
    srs = default_form_sql("srs", "c.age_group", "e.format")
    order = ", ".join(f"s.{c.strip()}" for c in _SESSION_ORDER.split(","))
    return (
        f"ALTER TABLE sessions RENAME TO {old};\n{table_ddl('sessions')}\n"
        f"INSERT INTO sessions SELECT s.*, "
        f"CASE WHEN s.ors_total IS NULL THEN NULL ELSE {ors} END, "
        f"CASE WHEN s.srs_total IS NULL THEN NULL ELSE {srs} END, NULL "
        f"FROM {old} s LEFT JOIN clients c USING (client_id) "
        f"LEFT JOIN episodes e USING (episode_id) ORDER BY {order};\n"
        f"DROP TABLE {old};"
    )


def _to_version_6(con: Any) -> None:
    """5 -> 6: participants, the form and entry columns, the client page's two tables.

    Adds only what the file lacks, so it also completes a file in which some of it exists (a
    copy of a newer file marked as older, as the migration tests make): the three tables from
    ``schema.sql``; the three ``sessions`` columns at the end (:func:`_sessions_with_forms`:
    a rebuild, once, in the order a resort would write anyway); then the participants the
    episodes and sessions imply (:func:`fitdata.data.participants.implied_participants_sql`).
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for table in ("episode_participants", "client_form_uses", "client_page_settings"):
        if table not in tables:
            con.execute(table_ddl(table))
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'sessions'"
        ).fetchall()
    }
    if not set(_V6_SESSION_COLUMNS) <= columns:
        con.execute(_sessions_with_forms())
    con.execute(implied_participants_sql(sessions="sessions", episodes="episodes"))


#: The tables version 7 adds (issue 22): what supervision decided about a case, and its changes.
_V7_TABLES = ("case_discussions", "case_discussion_changes")


def _to_version_7(con: Any) -> None:
    """6 -> 7: ``case_discussions`` and ``case_discussion_changes`` from ``schema.sql``.

    Adds only the tables the file lacks, like :func:`_to_version_6` (a copy of a newer file
    marked as older keeps its discussions). Nothing else changes: no row is rewritten.
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for table in _V7_TABLES:
        if table not in tables:
            con.execute(table_ddl(table))


#: How to upgrade a file from version ``n`` to ``n + 1``, keyed by ``n``: SQL, or a function
#: of the connection for a step SQL alone cannot say. Each must leave the file exactly as
#: ``schema.sql`` creates it (tests compare a migrated file with a new one).
MIGRATIONS: dict[int, str | Callable[[Any], None]] = {
    # 1 -> 2: the change history of saved sessions (corrections and SRS added later).
    1: table_ddl("session_changes"),
    # 2 -> 3: the people who may log in and their roles (fitdata/data/access.py).
    2: table_ddl("users"),
    # 3 -> 4: the audit log's anchor (fitdata/data/audit_chain.py).
    3: table_ddl("audit_anchor"),
    # 4 -> 5: codes and names never hold a national identity number in any spelling
    # (fitdata/identifiers.py). DuckDB cannot add a CHECK to a table, so each of the three
    # small tables is rebuilt; a stored row that fails the new CHECK stops the upgrade
    # (apply_migrations says what to do), and the file is left as it was.
    4: "\n".join(rebuild_table(t) for t in ("teams", "therapists", "clients")),
    # 5 -> 6: who takes part in an episode (episode_participants, filled from the episodes
    # and sessions), the form and entry columns of sessions (forms filled with the defaults),
    # and the client page's client_form_uses and client_page_settings (issue 21).
    5: _to_version_6,
    # 6 -> 7: case discussions and their corrections (issue 22); new tables only.
    6: _to_version_7,
}


#: What a migration's new constraints refuse, for the message when a stored row breaks one.
MIGRATION_RULES: dict[int, str] = {
    4: "Version 5 refuses codes and names that hold a national identity number. ",
    5: (
        "Version 6 rewrites the sessions table with its checks and lists who takes part in "
        "each episode (the index client, partners, family members, collateral raters). "
    ),
}


def stored_version(con: Any, path: Path) -> int:
    """The schema version written in the file open on ``con``.

    Raises:
        StoreError: If the file is not a fitdata database (no ``schema_version`` table).
    """
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "schema_version" not in tables:
        raise StoreError(
            f"{path} is not a fitdata database (it has no schema_version table). "
            "Create one with `fitdata demo --out PATH` or `fitdata import --db PATH FILE`."
        )
    version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    return int(version or 0)


def require_current(version: int, path: Path) -> None:
    """Refuse a file of another schema version, saying how to upgrade it or fitdata.

    Raises:
        StoreError: If ``version`` is not :data:`SCHEMA_VERSION`.
    """
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, but this fitdata understands up to "
            f"version {SCHEMA_VERSION}. Upgrade fitdata (git pull, then `make demo` or "
            "`pip install -e .`) before opening this file."
        )
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}; this fitdata needs version "
            f"{SCHEMA_VERSION}. Make a backup copy of the file, then run "
            f"`fitdata check --migrate --db {path}` to upgrade it."
        )


def apply_migrations(con: Any, path: Path) -> int:
    """Apply pending migrations inside the caller's transaction; return the old version.

    Raises:
        StoreError: If the file is newer than this fitdata, or no migration leads on from it.
    """
    version = stored_version(con, path)
    if version > SCHEMA_VERSION:
        require_current(version, path)
    old = version
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise StoreError(
                f"{path} has schema version {version} and there is no migration from it. "
                "Export the data with the fitdata version that wrote it and import it again."
            )
        step = MIGRATIONS[version]
        try:
            if callable(step):
                step(con)
            else:
                con.execute(step)
        except duckdb.ConstraintException as error:
            raise StoreError(
                f"{path} cannot be upgraded to schema version {version + 1}: a stored row "
                f"breaks {_constraint_text(error)}. {MIGRATION_RULES.get(version, '')}"
                "Nothing was changed. Export the data with the fitdata version that wrote the "
                "file (`fitdata export`), import it into a new file with `fitdata import "
                "--pseudonymise`, and use that."
            ) from None
        version += 1
        con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
    return old


def _constraint_text(error: Exception) -> str:
    """DuckDB's constraint message without its long expression: which table's CHECK failed."""
    match = re.search(r'on table "?(\w+)"?', str(error))
    return f"a CHECK on table {match.group(1)}" if match else "a CHECK constraint"
