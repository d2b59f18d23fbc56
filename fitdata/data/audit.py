"""The audit log: who opened which client's data, and when, in a file beside the database.

Every read of client-level data through a user's scoped reader (:mod:`fitdata.data.access`)
appends one line to ``<db>.audit.jsonl`` (:func:`record_access`): time (UTC), user, role, what
was opened, the client and episode -- or, for a team's case list, the team and its clients --
never a score. ``fitdata audit`` lists the entries (codes printed with control characters
escaped, :meth:`AuditEntry.line`) and ``fitdata audit --verify`` checks them
(:func:`check_audit`).

The file's format -- a keyed MAC chain, its key outside the database and the log, and anchors
of the entry count in a side file and inside the database -- is :mod:`fitdata.data.audit_chain`;
what the checks guarantee, and what they cannot, is in docs/deployment.md ("Audit log").
A line cut short by a failed write (a full disk) is reported once and skipped, never fatal.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitdata.data.audit_chain import (
    Anchor,
    ChainEntry,
    anchor_path,
    append_entry,
    audit_path,
    entry_mac,
    key_id,
    key_path,
    legacy_hash,
    load_key,
    parse_line,
    read_side_anchor,
)
from fitdata.data.store import Reader, reader_for

__all__ = [
    "AuditCheck",
    "AuditEntry",
    "audit_path",
    "check_audit",
    "read_audit",
    "record_access",
    "terminal_text",
    "verify_audit",
]


def _scope_user(reader: Reader) -> Any | None:
    """The user a reader is scoped to (a :class:`fitdata.data.access.User`), or None.

    Read from the scope's ``info`` by its ``name`` and ``role`` (this module sits below the
    users and scopes of :mod:`fitdata.data.access`, which sets them).
    """
    info = reader.scope.info if reader.scope is not None else None
    name, role = getattr(info, "name", None), getattr(info, "role", None)
    return info if isinstance(name, str) and isinstance(role, str) else None


def record_access(
    reader: Reader,
    action: str,
    client_id: str,
    episode_id: str | None = None,
    *,
    team_id: str | None = None,
    clients: Iterable[str] = (),
) -> None:
    """Append who opened which client's data to the audit log (scoped readers only).

    Args:
        reader: The reader that returned the rows; unscoped readers (access control off, the
            command line) are not logged.
        action: What was opened, e.g. ``"client_sessions"``, ``"caseload"``.
        client_id: The client ("" for a list of clients: see ``clients``).
        episode_id: The episode, when one.
        team_id: The team, for a team's list.
        clients: Every client in a list that was shown or exported (``--client`` finds them).

    Raises:
        StoreError: If the line cannot be written (the caller then shows nothing).
    """
    user = _scope_user(reader)
    if user is None:
        return
    fields: dict[str, Any] = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "user": user.name,
        "role": user.role,
        "action": action,
        "client_id": str(client_id),
        "episode_id": None if episode_id is None else str(episode_id),
    }
    if team_id is not None:
        fields["team_id"] = str(team_id)
    listed = sorted({str(c) for c in clients})
    if listed:
        fields["clients"] = listed
    append_entry(reader.path, fields)


def terminal_text(value: object) -> str:
    r"""``value`` with every control character escaped (``\x1b``), as a terminal may show it.

    A code in the log could hold an escape sequence that moves the cursor or rewrites the
    screen; printed raw it could hide or fake lines of ``fitdata audit``'s output.
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    at: dt.datetime
    user: str
    role: str
    action: str
    client_id: str
    episode_id: str | None
    team_id: str | None = None
    clients: tuple[str, ...] = ()

    def concerns(self, client: str) -> bool:
        """Whether the entry records an opening of ``client``'s data (alone or in a list)."""
        return self.client_id == client or client in self.clients

    def line(self) -> str:
        """The entry as ``fitdata audit`` prints it, control characters escaped."""
        what = terminal_text(self.client_id)
        if self.episode_id:
            what += f" episode {terminal_text(self.episode_id)}"
        if self.team_id is not None:
            listed = ", ".join(terminal_text(c) for c in self.clients)
            what = f"team {terminal_text(self.team_id)}: {len(self.clients)} clients ({listed})"
        who = f"{terminal_text(self.user)} ({terminal_text(self.role)})"
        return f"{self.at:%Y-%m-%d %H:%M:%S}Z  {who}  {terminal_text(self.action)}  {what}"


def _entry(chain: ChainEntry) -> AuditEntry | None:
    raw = chain.fields
    try:
        return AuditEntry(
            dt.datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00")),
            str(raw["user"]),
            str(raw.get("role", "")),
            str(raw["action"]),
            str(raw.get("client_id") or ""),
            None if raw.get("episode_id") is None else str(raw["episode_id"]),
            None if raw.get("team_id") is None else str(raw["team_id"]),
            tuple(str(c) for c in raw.get("clients") or ()),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _lines(db_path: str | os.PathLike[str]) -> list[bytes]:
    path = audit_path(db_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file ends with a newline, as it does unless a write was cut short
    return lines


def _skipped(path: Path, number: int) -> str:
    return (
        f"line {number} of {path} is not a complete entry (a write cut short, e.g. by a full "
        "disk or a stopped process); skipped"
    )


def read_audit(
    db_path: str | os.PathLike[str],
    *,
    user: str | None = None,
    client: str | None = None,
    since: dt.date | None = None,
    notes: list[str] | None = None,
) -> list[AuditEntry]:
    """The audit log's entries, oldest first, optionally for one user, client or from a day.

    Args:
        db_path: The database whose log it is.
        user: Only this user's entries.
        client: Only entries of this client (also a list that held it).
        since: Only entries from this day on.
        notes: Gets one line for each line of the file that is not an entry (skipped).
    """
    entries = []
    for number, raw in enumerate(_lines(db_path), start=1):
        chain = parse_line(raw) if raw.strip() else None
        entry = None if chain is None else _entry(chain)
        if entry is None:
            if raw.strip() and notes is not None:
                notes.append(_skipped(audit_path(db_path), number))
            continue
        if user is not None and entry.user != user:
            continue
        if client is not None and not entry.concerns(client):
            continue
        if since is not None and entry.at.date() < since:
            continue
        entries.append(entry)
    return entries


@dataclass
class AuditCheck:
    """What :func:`check_audit` found.

    Attributes:
        entries: How many entries the log holds.
        problems: Signs that the log was changed or shortened (empty when none).
        notes: Things that are not tampering: skipped lines cut short, older unkeyed lines.
    """

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _database_anchors(db_path: str | os.PathLike[str]) -> dict[str, tuple[Anchor, Any]]:
    rows = reader_for(db_path).rows(
        "SELECT key_id, entries, last_mac, mac, anchored_at FROM audit_anchor"
    )
    return {str(k): (Anchor(int(n), str(last), str(mac)), at) for k, n, last, mac, at in rows}


def check_audit(db_path: str | os.PathLike[str]) -> AuditCheck:
    """Check the audit log against its key and both anchors (``fitdata audit --verify``).

    Finds a changed, removed, inserted or reordered entry anywhere (the keyed chain), entries
    removed from the end, a truncated or deleted file (the side anchor, and the database's
    anchor of the entries written before its last write), a replaced key or anchor.

    Raises:
        StoreError: If the database cannot be read (its anchor is in it).
    """
    path = audit_path(db_path)
    check = AuditCheck()
    key = load_key(db_path, create=False)
    macs: dict[int, str] = {}  # entry number -> its MAC (or legacy hash), as stored
    previous, expected, keyed = "", 1, False
    legacy_previous = "0" * 64
    for number, raw in enumerate(_lines(db_path), start=1):
        chain = parse_line(raw) if raw.strip() else None
        if chain is None:
            if raw.strip():
                check.notes.append(_skipped(path, number))
            continue
        if chain.mac is None:  # written before the log was keyed
            if keyed:
                check.problems.append(f"line {number} has no MAC: it was added by hand")
                continue
            if chain.fields.get("prev") != legacy_previous:
                check.problems.append(
                    f"line {number} does not follow the line before it: a line before it was "
                    "changed or removed"
                )
            legacy_previous = legacy_hash(raw)
            previous = macs[expected] = "sha256:" + legacy_previous
            expected += 1
            check.entries += 1
            continue
        keyed = True
        n = int(chain.number or 0)
        if n > expected:
            removed = f"entry {expected}" if n == expected + 1 else f"entries {expected}-{n - 1}"
            check.problems.append(
                f"line {number} holds entry {n} where entry {expected} belongs: {removed} removed"
            )
        elif n < expected:
            check.problems.append(
                f"line {number} holds entry {n} again, or out of order (entry {expected} "
                "belongs there)"
            )
        if key is not None and not hmac.compare_digest(
            str(chain.mac), entry_mac(key, previous, chain.fields)
        ):
            check.problems.append(
                f"line {number} (entry {n}) was changed, or a line before it was changed or "
                "removed: its MAC does not match"
            )
        previous, expected = str(chain.mac), max(expected, n + 1)
        macs[n] = previous
        check.entries += 1
    last = max(macs, default=0)
    unkeyed = sum(1 for mac in macs.values() if mac.startswith("sha256:"))
    if unkeyed:
        check.notes.append(
            f"the first {unkeyed} entries were written before the log was keyed: their order "
            "is checked, but anyone could have rewritten them and their plain hash chain"
        )
    if keyed and key is None:
        check.problems.append(
            f"the audit key {key_path(db_path)} is missing: the log cannot be checked. Restore "
            "it from the backup taken with the database."
        )
    if key is not None:
        _check_side_anchor(check, db_path, key, last, macs, keyed)
        _check_database_anchor(check, db_path, key, last, macs)
    return check


def _anchor_problem(anchor: Anchor, key: bytes, last: int, macs: dict[int, str], what: str) -> str:
    """Why ``anchor`` (``what`` names it) disagrees with a log ending at entry ``last``."""
    if not anchor.valid(key):
        return f"{what} was changed: its MAC does not match"
    if anchor.entries > last:
        gone = anchor.entries - last
        removed = "entry was" if gone == 1 else f"{gone} entries were"
        return (
            f"{what} counts {anchor.entries} entries, but the log ends at entry {last}: the "
            f"last {removed} removed, or the log was truncated or deleted"
        )
    if anchor.entries and macs.get(anchor.entries) != anchor.last_mac:
        return f"entry {anchor.entries} is not the one {what} holds: the log was rewritten"
    return ""


def _check_side_anchor(
    check: AuditCheck,
    db_path: str | os.PathLike[str],
    key: bytes,
    last: int,
    macs: dict[int, str],
    keyed: bool,
) -> None:
    side, where = read_side_anchor(db_path, key), anchor_path(db_path)
    if side is None:
        if keyed:
            check.problems.append(f"the anchor file {where} is missing: it was removed")
        return
    problem = _anchor_problem(side, key, last, macs, f"the anchor file {where}")
    if problem:
        check.problems.append(problem)
    elif side.entries < last:
        check.notes.append(
            f"the anchor file {where} holds {side.entries} of {last} entries (a process "
            "stopped between writing an entry and its anchor)"
        )


def _check_database_anchor(
    check: AuditCheck, db_path: str | os.PathLike[str], key: bytes, last: int, macs: dict[int, str]
) -> None:
    found = _database_anchors(db_path).get(key_id(key))
    if found is None:
        if last:
            check.notes.append(
                "the database holds no anchor for this log yet (nothing was written to the "
                "database since the log began, or another machine writes the database)"
            )
        return
    anchor, at = found
    when = f"{at:%Y-%m-%d %H:%M} UTC" if isinstance(at, dt.datetime) else "at its last write"
    problem = _anchor_problem(anchor, key, last, macs, f"the database's anchor (written {when})")
    if problem:
        check.problems.append(problem)


def verify_audit(db_path: str | os.PathLike[str]) -> list[str]:
    """Problems in the audit log (empty when it is whole): see :func:`check_audit`."""
    return check_audit(db_path).problems
