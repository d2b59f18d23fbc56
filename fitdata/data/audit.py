"""The audit log: who opened which client's data, and when, in a file beside the database.

Opening a client's data through a scoped reader (:mod:`fitdata.data.access`) is recorded in an
append-only, hash-chained JSON-lines file next to the database (``<db>.audit.jsonl``;
:func:`record_access`): who, which client and episode, what, when; never a score.
``fitdata audit`` lists it and ``fitdata audit --verify`` checks the chain.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitdata.data.store import Reader, StoreError

__all__ = ["AuditEntry", "audit_path", "read_audit", "record_access", "verify_audit"]


def _scope_user(reader: Reader) -> Any | None:
    """The user a reader is scoped to (a :class:`fitdata.data.access.User`), or None.

    Read from the scope's ``info`` by its ``name`` and ``role`` (this module sits below the
    users and scopes of :mod:`fitdata.data.access`, which sets them).
    """
    info = reader.scope.info if reader.scope is not None else None
    name, role = getattr(info, "name", None), getattr(info, "role", None)
    return info if isinstance(name, str) and isinstance(role, str) else None


def audit_path(db_path: str | os.PathLike[str]) -> Path:
    """The audit log of a database: ``<db>.audit.jsonl`` next to it."""
    path = Path(db_path)
    return path.with_name(path.name + ".audit.jsonl")


_GENESIS = "0" * 64


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fd: int) -> bytes | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    chunk = 4096
    while True:
        start = max(0, size - chunk)
        data = os.pread(fd, size - start, start).rstrip(b"\n")
        newline = data.rfind(b"\n")
        if newline >= 0 or start == 0:
            return data[newline + 1 :]
        chunk *= 2


def record_access(
    reader: Reader, action: str, client_id: str, episode_id: str | None = None
) -> None:
    """Append who opened which client's data to the audit log (scoped readers only).

    One line of JSON: time (UTC), user, role, action, client and episode; never a score. Each
    line carries the SHA-256 of the line before it, so a removed or changed line shows up in
    ``fitdata audit --verify``. Appending takes an exclusive lock on the file for a few
    microseconds (no database write: a write transaction copies the whole file).

    Args:
        reader: The reader that returned the rows; unscoped readers (access control off, the
            command line) are not logged.
        action: What was opened, e.g. ``"client_sessions"``.
        client_id: The client.
        episode_id: The episode, when one.
    """
    user = _scope_user(reader)
    if user is None:
        return
    path = audit_path(reader.path)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last = _last_line(fd)
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "user": user.name,
            "role": user.role,
            "action": action,
            "client_id": str(client_id),
            "episode_id": None if episode_id is None else str(episode_id),
            "prev": _GENESIS if last is None else _line_hash(last),
        }
        os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    at: dt.datetime
    user: str
    role: str
    action: str
    client_id: str
    episode_id: str | None


def _audit_lines(db_path: str | os.PathLike[str]) -> list[bytes]:
    path = audit_path(db_path)
    if not path.exists():
        return []
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def read_audit(
    db_path: str | os.PathLike[str],
    *,
    user: str | None = None,
    client: str | None = None,
    since: dt.date | None = None,
) -> list[AuditEntry]:
    """The audit log's entries, oldest first, optionally for one user, client or from a day."""
    entries = []
    for number, line in enumerate(_audit_lines(db_path), start=1):
        try:
            raw = json.loads(line)
            entry = AuditEntry(
                dt.datetime.fromisoformat(raw["at"].replace("Z", "+00:00")),
                raw["user"],
                raw["role"],
                raw["action"],
                raw["client_id"],
                raw.get("episode_id"),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(
                f"{audit_path(db_path)} line {number} is not an audit entry ({error}); the file "
                "has been edited. Keep a copy and run `fitdata audit --verify`."
            ) from None
        if user is not None and entry.user != user:
            continue
        if client is not None and entry.client_id != client:
            continue
        if since is not None and entry.at.date() < since:
            continue
        entries.append(entry)
    return entries


def verify_audit(db_path: str | os.PathLike[str]) -> list[str]:
    """Problems in the audit log's hash chain (empty when every line follows the one before)."""
    problems = []
    previous = _GENESIS
    for number, line in enumerate(_audit_lines(db_path), start=1):
        try:
            prev = json.loads(line).get("prev")
        except ValueError:
            prev = None
        if prev != previous:
            problems.append(
                f"line {number} does not follow line {number - 1}: a line before it was "
                "changed or removed"
                if number > 1
                else "line 1 is not the start of the log: lines before it were removed"
            )
        previous = _line_hash(line)
    return problems
