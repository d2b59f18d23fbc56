"""The DuckDB store: the one module in fitdata that opens database connections.

DuckDB lets one process write a file *or* many processes read it, never both at once. fitdata
makes readers (every dashboard kernel) and writers (imports, registration, ``fitdata demo``)
work together without a user ever seeing "Could not set lock on file":

* **Readers** open the file read-only and keep that connection while the file is unchanged.
  Before every query they compare the file's identity (inode, size, mtime); when a writer has
  replaced the file they close and reopen, so a dashboard sees new data on its next query.
* **Writers** never open the live file for writing. They take an exclusive writer lock
  (``<db>.lock``, so writes are serialised and none is lost), copy the file, apply their whole
  change to the copy in one transaction, checkpoint, fsync, and ``os.replace`` the copy over the
  original. Readers see the old file or the new one, never a half-written one; an error
  anywhere leaves the original untouched (imports are all-or-nothing). The copy is private
  from its first byte and keeps the original's mode and owner; a full disk is a message that
  says what to do (:mod:`fitdata.data.files`). Each write also anchors the audit log's length
  in the file (:mod:`fitdata.data.audit_chain`).
* **Registration** does not copy the file once per save: its changes are group-committed
  (:mod:`fitdata.data.group_commit`), many in one copy, through :func:`writer_lock` and
  :func:`working_copy` -- the same lock, copy and replace as :func:`write_transaction`.

Measured on this kind of machine (see ``../shared/toolchain.md``): opening briefly for writing
every 0.5 s made ~5 % of reader opens fail, while build-and-replace caused none.

Around it: :mod:`fitdata.data.schema` (the tables, their version and the migrations applied on
write), :mod:`fitdata.data.check` (``fitdata check``'s rules) and :mod:`fitdata.data.errors`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from fitdata.data.audit_chain import Anchor, database_anchor
from fitdata.data.check import CheckReport, check_reader
from fitdata.data.errors import StoreError
from fitdata.data.files import (
    FileMode,
    is_space_error,
    private_workdir,
    remove_leftovers,
    write_error,
)
from fitdata.data.participants import implied_participants_sql
from fitdata.data.schema import (
    SCHEMA_VERSION,
    TABLES,
    apply_migrations,
    require_current,
    schema_sql,
    stored_version,
)
from fitdata.data.scope_sql import scope_problem
from fitdata.data.spool import recover

__all__ = [
    "SCHEMA_VERSION",
    "SESSION_ORDER",
    "TABLES",
    "CheckReport",
    "FileIdentity",
    "ReadScope",
    "Reader",
    "StoreError",
    "WorkingCopy",
    "append_frame",
    "check_database",
    "migrate_database",
    "reader_for",
    "working_copy",
    "write_transaction",
    "writer_lock",
]

#: Physical order of the sessions table. Keeping one team's rows together lets DuckDB's zone
#: maps skip every other team's row groups, so a one-team query (the team review, flags,
#: indices, therapist development) reads ~1/400 of the file instead of all of it: one team's
#: flags at 10 million sessions 340 -> 185 ms, its indices 332 -> 174 ms (measured side by side,
#: load 3). Within a team one client's rows stay together, so a one-client query that also
#: names the team (``queries.episode_team``) skips almost everything too (5-6 ms at 10 million,
#: 12 ms in the old client-first order; 79 ms when the team is not named).
SESSION_ORDER = "team_id, client_id, episode_id, session_date, session_no, rater"

# Never try to download an extension at run time: there is no network, and the attempt
# costs 1-4 s before failing.
_DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

# Tables of the file that no scoped reader reads: the audit anchor is the store's own, and
# which client link's form was used (version 6) is the client page's own bookkeeping.
_NOT_SCOPED = frozenset({"audit_anchor", "client_form_uses"})

# How long a reader keeps retrying when another program holds a write lock on the file.
_LOCK_RETRY_SECONDS = 10.0


def _is_lock_error(error: Exception) -> bool:
    text = str(error)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying while another program holds a conflicting lock."""
    deadline = time.monotonic() + _LOCK_RETRY_SECONDS
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_DUCKDB_CONFIG)
            # DuckDB draws a progress bar on stdout for queries over 2 s: in a dashboard kernel
            # that is stray output, and fitdata's commands show their own progress.
            con.execute("SET enable_progress_bar = false")
            return con
        except duckdb.IOException as error:
            if not _is_lock_error(error):
                raise StoreError(f"Could not open the database {path}: {error}") from error
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"The database {path} is held open for writing by another program "
                    "(for example a DuckDB shell opened without -readonly). Close that program, "
                    "or open the file there read-only, and try again."
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


#: A database file's version as :meth:`Reader.file_identity` gives it: (path, inode, size,
#: modification time in ns).
FileIdentity = tuple[str, int, int, int]


@dataclass(frozen=True)
class ReadScope:
    """Views that stand in for tables on a scoped reader (see :meth:`Reader.scoped`).

    Attributes:
        key: Names the scope (two scopes with one key must have the same views).
        views: ``(table, select)`` pairs. Each ``select`` reads the real tables as
            ``{db}.table`` (filled in with the file's catalog-qualified schema); the view is
            created as a temporary view named ``table``, which an unqualified or
            ``main.``-qualified table name then resolves to, so every query is scoped.
        info: Anything the caller wants to keep with the scope (fitdata.data.access keeps the user).
        guard: Called with the scope before every query of a scoped reader; it raises to
            refuse the query (fitdata.data.access's comparison readers answer only while a
            shared aggregate is computed).
    """

    key: str
    views: tuple[tuple[str, str], ...]
    info: Any = None
    guard: Callable[[ReadScope], None] | None = None


class Reader:
    """A read-only view of one database file that follows the file when a writer replaces it.

    Use :func:`reader_for` rather than constructing this directly: DuckDB caches one database
    instance per path and process, so two readers of the same path in one process would pin
    each other to a replaced file. Scoped readers (:meth:`scoped`) share this reader's
    connection for the same reason.
    """

    #: The scope of a scoped reader; None for this process's unrestricted reader.
    scope: ReadScope | None = None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: FileIdentity | None = None
        self._lock = threading.RLock()
        self._cursors: dict[str, tuple[duckdb.DuckDBPyConnection, frozenset[str]]] = {}

    def file_identity(self) -> FileIdentity:
        """Which version of the file is there now: its path, inode, size and modification time.

        A writer replaces the file atomically (:func:`write_transaction`), which changes the
        inode and modification time, so any result computed from the file is valid exactly
        while this value is unchanged. Every in-process cache keys on it
        (:class:`fitdata.data.cache.MemoryCache`), and so does this reader's connection.

        Raises:
            StoreError: If there is no file at the path (the message says what to do).
        """
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"There is no database at {self.path}. Create the demo database with "
                f"`fitdata demo --out {self.path}`, or point --db at an existing file."
            ) from None
        return (str(self.path), status.st_ino, status.st_size, status.st_mtime_ns)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        identity = self.file_identity()
        if self._con is not None and identity == self._identity:
            return self._con
        self.close()
        con = _connect(self.path, read_only=True)
        try:
            require_current(stored_version(con, self.path), self.path)
        except BaseException:
            con.close()
            raise
        self._con, self._identity = con, identity
        return con

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one query and return its result as a DataFrame."""
        with self._lock:
            return self._connection().execute(sql, params or []).df()

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one query and return its rows as tuples."""
        with self._lock:
            return self._connection().execute(sql, params or []).fetchall()

    def buffer_mb(self) -> float:
        """Memory DuckDB holds for this file in this process now (MB); 0 while closed."""
        with self._lock:
            if self._con is None:
                return 0.0
            used = self._con.execute(
                "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
            ).fetchone()
            return float(used[0]) / 2**20 if used else 0.0

    def close(self) -> None:
        """Close the connection and its scoped cursors (reopened on the next query)."""
        with self._lock:
            for cursor, _ in self._cursors.values():
                cursor.close()
            self._cursors.clear()
            if self._con is not None:
                self._con.close()
            self._con, self._identity = None, None

    def scoped(self, scope: ReadScope) -> Reader:
        """A reader that sees this file through ``scope``'s views.

        The scoped reader runs its queries on a cursor of this reader's connection (a cursor is
        a connection of its own to the same database instance, with its own temporary views),
        created again after every reconnect, so it follows a replaced file like this reader.
        """
        return _ScopedReader(self, scope)

    def _scoped_connection(
        self, scope: ReadScope
    ) -> tuple[duckdb.DuckDBPyConnection, frozenset[str]]:
        """The scope's cursor with its views, and the table names its queries may read."""
        con = self._connection()  # may reconnect, which drops every cursor
        entry = self._cursors.get(scope.key)
        if entry is None:
            cursor = con.cursor()
            catalog = str(cursor.execute("SELECT current_database()").fetchall()[0][0])
            qualified = '"' + catalog.replace('"', '""') + '".main'
            for table, select in scope.views:
                cursor.execute(f'CREATE TEMP VIEW "{table}" AS {select.format(db=qualified)}')
            tables = cursor.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = ? AND schema_name = 'main'",
                [catalog],
            ).fetchall()
            allowed = {str(t).lower() for (t,) in tables} | {v.lower() for v, _ in scope.views}
            entry = self._cursors[scope.key] = (cursor, frozenset(allowed - _NOT_SCOPED))
        return entry


class _ScopedReader(Reader):
    """A :class:`Reader` restricted to a :class:`ReadScope` (see :meth:`Reader.scoped`)."""

    def __init__(self, base: Reader, scope: ReadScope) -> None:
        self.path = base.path
        self.scope = scope
        self._base = base
        self._lock = base._lock

    def _scoped(self, sql: str) -> duckdb.DuckDBPyConnection:
        if self.scope.guard is not None:
            self.scope.guard(self.scope)
        cursor, allowed = self._base._scoped_connection(self.scope)
        problem = scope_problem(cursor, sql, allowed)
        if problem:
            raise StoreError(
                f"This query is not allowed within the access scope {self.scope.key}: {problem}. "
                "Query the tables by their plain names (sessions, episodes, ...) with SELECT."
            )
        return cursor

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one query within the scope and return its result as a DataFrame."""
        with self._lock:
            return self._scoped(sql).execute(sql, params or []).df()

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one query within the scope and return its rows as tuples."""
        with self._lock:
            return self._scoped(sql).execute(sql, params or []).fetchall()

    def close(self) -> None:
        """Close the shared connection (it is reopened on the next query)."""
        self._base.close()

    def scoped(self, scope: ReadScope) -> Reader:
        """Scopes do not nest: refused, so a narrower scope cannot widen by accident."""
        raise StoreError("A scoped reader cannot be scoped again; scope the process's reader.")


_readers: dict[Path, Reader] = {}
_readers_lock = threading.Lock()


def reader_for(path: str | os.PathLike[str]) -> Reader:
    """Return this process's reader of ``path`` (one per file, shared by all callers)."""
    key = Path(path).resolve()
    with _readers_lock:
        if key not in _readers:
            _readers[key] = Reader(key)
        return _readers[key]


#: DuckDB memory (MB) a dashboard kernel keeps between interactions; see :func:`release_buffers`.
KEEP_BUFFERS_MB = 96


def release_buffers(keep_mb: float = KEEP_BUFFERS_MB) -> None:
    """Close each reader of this process whose DuckDB memory exceeds ``keep_mb``.

    DuckDB keeps the table blocks a query has read in its buffer pool for as long as a
    connection to the file is open. At 10 M sessions that grew the therapist development
    page's kernel from 380 to 480 MB over six therapist changes; closed after each, it stayed
    at 200-210 MB, and the changes took as long (0.6-0.85 s: the operating system's page cache
    still holds the file). Small pools are kept: reopening costs the client graph and the team
    review 70-200 ms a change. A closed reader opens its connection again on its next query.
    The dashboards call this after building a page and after every callback
    (:mod:`fitdata.ui.context`).
    """
    with _readers_lock:
        readers = list(_readers.values())
    for reader in readers:
        if reader.buffer_mb() > keep_mb:
            reader.close()


@contextlib.contextmanager
def writer_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Serialise writers of ``path`` across processes with an advisory lock file.

    Yields whether the lock is held: always True when ``wait``; without it, False at once if
    another writer holds it (group commit's waiters poll for their outcome meanwhile).
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FileMode.of(path).mode)
    except OSError as error:
        raise write_error(error, path, f"opening its writer lock {lock_path.name}") from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _file_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn a failure of the file system (a full disk, mostly) into a StoreError that says so."""
    try:
        yield
    except (OSError, duckdb.IOException) as error:
        raise write_error(error, path, doing) from error
    except duckdb.Error as error:  # e.g. "Failed to commit: Could not write file ..."
        if not _is_file_failure(error):
            raise
        raise write_error(error, path, doing) from error


def _is_file_failure(error: BaseException) -> bool:
    """Whether ``error`` is the file system refusing a write (DuckDB wraps it in its errors)."""
    return isinstance(error, OSError | duckdb.IOException) or (
        isinstance(error, duckdb.Error)
        and (is_space_error(error) or "could not write file" in str(error).lower())
    )


def _open_copy(path: Path, tmp: Path, exists: bool) -> duckdb.DuckDBPyConnection:
    """Copy ``path`` to ``tmp`` (or create a new database there) and begin its transaction."""
    with _file_errors(path, "copying it"):
        if exists:
            shutil.copyfile(path, tmp)
        con = duckdb.connect(str(tmp), config=_DUCKDB_CONFIG)
    # fitdata shows its own progress (the importer); DuckDB's bar would write over it
    con.execute("SET enable_progress_bar = false")
    con.execute("BEGIN TRANSACTION")
    return con


def _swap_in(tmp: Path, path: Path, mode: FileMode) -> None:
    """Give the finished copy the original's mode and owner, then put it in the original's place."""
    with _file_errors(path, "replacing it with the new copy"):
        mode.apply(tmp)  # before it is visible under the database's name
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)


@contextlib.contextmanager
def write_transaction(
    path: str | os.PathLike[str],
    *,
    create: bool = False,
    replace: bool = False,
    resort: bool | Callable[[], bool] = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Apply one all-or-nothing change to the database at ``path``.

    The body gets a read-write connection to a private copy of the file with a transaction
    already begun. When the body returns, the change is committed and the copy atomically
    replaces the original; when it raises, the original is untouched and nothing is left behind.

    The copy is made in a folder only this user may enter (:func:`fitdata.data.files.
    private_workdir`) and takes the original's mode and owner before it replaces it (0600 for
    a new file, whatever the umask). Copies that killed writers left behind are removed first.

    Args:
        path: The database file.
        create: Create a new database with the current schema if ``path`` does not exist.
        replace: Start from an empty database even if ``path`` exists (``fitdata demo``).
        resort: Rewrite the sessions table in :data:`SESSION_ORDER` after the change (for
            large imports, which would otherwise append out of order). A callable is asked
            after the body has run, so the body can decide from what it wrote (the importer
            resorts only when it added many rows, not when every row was already present).

    Raises:
        StoreError: If the file is missing (without ``create``), is not a fitdata database,
            has an unfinished write-ahead log from another program, or has a newer schema; or
            if the file system refuses the write (a full disk): then the message says where and
            what to do, and the original is untouched.
    """
    path = Path(path)
    with _file_errors(path, "creating its folder"):
        path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path), working_copy(path, create=create, replace=replace) as copy:
        try:
            yield copy.con
        except (OSError, duckdb.Error) as error:
            if not (is_space_error(error) and _is_file_failure(error)):
                raise
            raise write_error(error, copy.path, "writing the change") from error
        copy.publish(resort=resort)


@dataclass
class WorkingCopy:
    """A writer's private copy of the database, open for writing (see :func:`working_copy`).

    Attributes:
        path: The database file it will replace.
        con: The copy's connection, with a transaction begun (the migrations are in it).
        migrated: Whether the migrations changed the schema (the copy is then resorted).
    """

    path: Path
    con: duckdb.DuckDBPyConnection
    migrated: bool
    tmp: Path
    mode: FileMode

    def publish(
        self,
        *,
        resort: bool | Callable[[], bool] = False,
        before_replace: Callable[[Path], None] | None = None,
    ) -> None:
        """Anchor the audit log, commit, checkpoint and put the copy in the database's place.

        Args:
            resort: As for :func:`write_transaction`.
            before_replace: Called with the finished copy just before it replaces the
                database (group commit writes its journal there).
        """
        con = self.con
        try:
            _anchor_audit_log(con, self.path)
            with _file_errors(self.path, "committing the change"):
                con.execute("COMMIT")
                if self.migrated or (resort() if callable(resort) else resort):
                    _resort_sessions(con)
                con.execute("CHECKPOINT")
        finally:
            con.close()
        if before_replace is not None:
            before_replace(self.tmp)
        _swap_in(self.tmp, self.path, self.mode)


@contextlib.contextmanager
def working_copy(
    path: str | os.PathLike[str], *, create: bool = False, replace: bool = False
) -> Iterator[WorkingCopy]:
    """A private copy of ``path`` to change; call only while holding :func:`writer_lock`.

    Refuses what :func:`write_transaction` refuses, finishes what a killed group-commit writer
    left (:func:`fitdata.data.spool.recover`) and removes dead writers' copies first. The copy
    is removed when the block ends; only :meth:`WorkingCopy.publish` makes it the database.
    """
    path = Path(path)
    exists = path.exists() and not replace
    if not exists and not (create or replace):
        raise StoreError(
            f"There is no database at {path}. Create it with `fitdata demo --out {path}` "
            "or let the importer create it."
        )
    wal = path.with_name(path.name + ".wal")
    if exists and wal.exists():
        raise StoreError(
            f"{path} has an unfinished write-ahead log ({wal.name}), left by a program that "
            "wrote to it directly. Open the file once in that program and close it cleanly "
            "(or run CHECKPOINT in it), then try again."
        )
    with _file_errors(path, "finishing the batch of a writer that was killed"):
        recover(path)  # before the leftovers go: the journal names the copy's inode
    remove_leftovers(path)  # every writer alive holds the lock: these are the dead ones'
    mode = FileMode.of(path)
    work = private_workdir(path)
    tmp = work / path.name
    try:
        con = _open_copy(path, tmp, exists)
        try:
            migrated = False
            if exists:
                # A migrated file is rewritten anyway: bring its physical order up to date
                # too (older files were stored client by client; see SESSION_ORDER).
                migrated = apply_migrations(con, path) < SCHEMA_VERSION
            else:
                con.execute(schema_sql())
                con.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION])
            yield WorkingCopy(path, con, migrated, tmp, mode)
        finally:
            con.close()  # closing twice is harmless
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _anchor_audit_log(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Record in the copy how far the audit log beside ``path`` goes (see audit_chain)."""
    tables = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'audit_anchor'"
    if not con.execute(tables).fetchall()[0][0]:
        return  # a body that rebuilt an older schema (the migration tests)
    rows = con.execute("SELECT key_id, entries, last_mac, mac FROM audit_anchor").fetchall()
    previous = {str(k): Anchor(int(n), str(last), str(mac)) for k, n, last, mac in rows}
    with _file_errors(path, "anchoring its audit log"):
        found = database_anchor(path, previous)
    if found is None:
        return
    key, anchor = found
    con.execute(
        "INSERT OR REPLACE INTO audit_anchor VALUES (?, ?, ?, ?, ?)",
        [
            key,
            anchor.entries,
            anchor.last_mac,
            anchor.mac,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )


def _resort_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the sessions table in SESSION_ORDER, on a write transaction's private copy.

    Runs after the change is committed to the copy (the original is still untouched, so an
    error here still loses nothing). The checkpoint between deleting and inserting frees the old
    blocks for the new rows; in one transaction the file grew by half (420 -> 627 MB at 10M).
    """
    con.execute(f"CREATE TEMP TABLE _sorted AS SELECT * FROM sessions ORDER BY {SESSION_ORDER}")
    con.execute("DELETE FROM sessions")
    con.execute("CHECKPOINT")
    con.execute("INSERT INTO sessions SELECT * FROM _sorted")
    con.execute("DROP TABLE _sorted")


def append_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert the rows of ``frame`` into ``table``, matching columns by name.

    Episodes and sessions bring the participant rows they imply (schema version 6): each new
    episode's index client, and each new session's client or rater by the episode's format
    (:func:`fitdata.data.participants.implied_participants_sql`; append episodes first). A
    writer that knows more (when a partner joined) calls
    :func:`~fitdata.data.participants.ensure_participants` too.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    con.register("_append_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _append_frame")
        if table in ("episodes", "sessions"):
            con.execute(implied_participants_sql(**{table: "_append_frame"}))
    finally:
        # After a failed insert the transaction is aborted and unregistering fails too; that
        # second error must not hide the first (the connection is discarded anyway).
        with contextlib.suppress(duckdb.Error):
            con.unregister("_append_frame")


def migrate_database(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Upgrade the file at ``path`` to the current schema; return (old, new) versions."""
    path = Path(path)
    con = _connect(path, read_only=True)
    try:
        old = stored_version(con, path)
    finally:
        con.close()
    if old >= SCHEMA_VERSION:
        require_current(old, path)
        return old, old
    with write_transaction(path):
        pass  # write_transaction migrates on open
    return old, SCHEMA_VERSION


def check_database(path: str | os.PathLike[str]) -> CheckReport:
    """Verify the file at ``path``: schema version, cross-table integrity, and row counts.

    The rules are in :mod:`fitdata.data.check`.

    Raises:
        StoreError: If the file is missing, not a fitdata database, or of another version.
    """
    return check_reader(reader_for(path), Path(path))
