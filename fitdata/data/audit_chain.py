"""The audit log's file format: a keyed MAC chain, its key and its anchors.

Below the store on purpose: :func:`fitdata.data.store.write_transaction` anchors the log in
the database at every write (:func:`database_anchor`), and :mod:`fitdata.data.audit` (above
the store) records, reads and verifies entries with what is here.

**Lines.** One JSON object per line. Each carries ``n`` (its number, 1, 2, ...) and ``mac``:
HMAC-SHA256, under the key, of the MAC of the entry before it and the entry's own fields
(canonical JSON: keys sorted, no spaces). Changing, removing, reordering or inserting an entry
breaks the chain for anyone who checks it with the key, and without the key nobody can compute
the MACs of a changed chain (a plain hash chain, which this replaces, anyone could recompute).
Lines without ``mac`` were written by fitdata before the log was keyed; they are checked as
the plain SHA-256 chain they were written with, and the keyed chain continues from the last.

**The key.** 32 random bytes (hex) in ``<db>.audit.key`` beside the database, mode 0600,
created on first use; or the file named by ``$FITDATA_AUDIT_KEY_FILE``, which an
administrator can keep where the service account may read it but the people who manage the
database files may not. It is never written into the database or the log.

**Anchors.** The chain alone cannot show that entries were removed from its end, or that the
whole file was. So the entry count and the last MAC are kept twice, each with a MAC of its own:
in ``<db>.audit.anchor`` (two slots written in turn), after every entry under the log's lock;
and in the database's ``audit_anchor`` table, one row per key, written by every database write.
The count only grows: a writer never anchors fewer entries than an anchor already holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitdata.data.errors import StoreError
from fitdata.data.files import NEW_FILE_MODE

__all__ = [
    "ENV_AUDIT_KEY",
    "Anchor",
    "ChainEntry",
    "anchor_path",
    "append_entry",
    "audit_path",
    "database_anchor",
    "entry_mac",
    "key_id",
    "key_path",
    "legacy_hash",
    "load_key",
    "parse_line",
    "read_side_anchor",
]

log = logging.getLogger(__name__)

#: Names a file holding the audit key, for a key kept away from the database's folder.
ENV_AUDIT_KEY = "FITDATA_AUDIT_KEY_FILE"

_DOMAIN = b"fitdata audit log v2\n"
_TAIL_CHUNK = 64 * 1024


def audit_path(db_path: str | os.PathLike[str]) -> Path:
    """The audit log of a database: ``<db>.audit.jsonl`` next to it."""
    path = Path(db_path)
    return path.with_name(path.name + ".audit.jsonl")


def anchor_path(db_path: str | os.PathLike[str]) -> Path:
    """The log's side anchor: ``<db>.audit.anchor`` next to it."""
    path = Path(db_path)
    return path.with_name(path.name + ".audit.anchor")


def key_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the log's key is: ``$FITDATA_AUDIT_KEY_FILE``, else ``<db>.audit.key``."""
    named = os.environ.get(ENV_AUDIT_KEY)
    if named:
        return Path(named).expanduser()
    path = Path(db_path)
    return path.with_name(path.name + ".audit.key")


# -- the key ------------------------------------------------------------------------------------

_keys: dict[tuple[str, int, int], bytes] = {}


def load_key(db_path: str | os.PathLike[str], *, create: bool) -> bytes | None:
    """The log's key; a new one is created (mode 0600) when there is none and ``create`` is set.

    Raises:
        StoreError: If the key file cannot be read or created.
    """
    path = key_path(db_path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if not create:
            return None
        _create_key(path)
        status = os.stat(path)
    except OSError as error:
        raise StoreError(f"Cannot read the audit key {path}: {error.strerror}.") from None
    cached = (str(path), status.st_ino, status.st_mtime_ns)
    if cached not in _keys:
        try:
            text = path.read_text(encoding="ascii").strip()
            key = bytes.fromhex(text)
        except (OSError, ValueError) as error:
            raise StoreError(
                f"The audit key {path} cannot be read ({error}). Restore it from the backup "
                "taken with the database; without it the log cannot be checked or continued."
            ) from None
        if len(key) < 32:
            raise StoreError(f"The audit key {path} is too short: restore it from the backup.")
        _keys[cached] = key
    return _keys[cached]


def _create_key(path: Path) -> None:
    """Write a new key atomically: whoever links it first wins, the others read it."""
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, NEW_FILE_MODE)
        os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        os.unlink(tmp)


def key_id(key: bytes) -> str:
    """A short name of a key that gives nothing of it away (the database's anchor row key)."""
    return hmac.new(key, b"fitdata audit key id", hashlib.sha256).hexdigest()[:16]


# -- entries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEntry:
    """One parsed line of the log.

    Attributes:
        fields: The entry's fields without ``mac``.
        mac: Its MAC; None for a line written before the log was keyed (``legacy``).
        raw: The line as stored.
    """

    fields: dict[str, Any]
    mac: str | None
    raw: bytes

    @property
    def number(self) -> int | None:
        """The entry's number ``n``; None for a line written before the log was keyed."""
        value = self.fields.get("n")
        return value if isinstance(value, int) else None


def parse_line(raw: bytes) -> ChainEntry | None:
    """The entry on a line, or None if it is not one (cut short, or not JSON)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not {"at", "user", "action"} <= value.keys():
        return None
    mac = value.pop("mac", None)
    if mac is not None and (not isinstance(mac, str) or not isinstance(value.get("n"), int)):
        return None
    return ChainEntry(value, mac, raw)


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_mac(key: bytes, previous: str, fields: dict[str, Any]) -> str:
    """The MAC of an entry after the entry whose MAC is ``previous`` ("" for the first)."""
    message = _DOMAIN + previous.encode("ascii") + b"\n" + _canonical(fields)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def legacy_hash(raw: bytes) -> str:
    """The plain chain's hash of a line written before the log was keyed."""
    return hashlib.sha256(raw.rstrip(b"\n")).hexdigest()


# -- anchors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """How many entries the log held, and the MAC of the last one, with a MAC of its own."""

    entries: int
    last_mac: str
    mac: str

    @classmethod
    def make(cls, key: bytes, entries: int, last_mac: str) -> Anchor:
        """A new anchor for ``entries`` entries ending with ``last_mac``."""
        return cls(entries, last_mac, cls._mac(key, entries, last_mac))

    @staticmethod
    def _mac(key: bytes, entries: int, last_mac: str) -> str:
        message = _DOMAIN + f"anchor\n{int(entries)}\n{last_mac}".encode("ascii", "replace")
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def valid(self, key: bytes) -> bool:
        """Whether the anchor was written with ``key`` and not changed since."""
        return hmac.compare_digest(self.mac, self._mac(key, self.entries, self.last_mac))


# The side anchor file holds two slots of this many bytes; entry n's anchor goes to slot n % 2,
# written in place. A write cut short spoils one slot and leaves the other (one entry older)
# whole, so a crash never looks like tampering; in place, an entry costs ~0.1 ms less than a
# new file renamed over the old one.
_SLOT = 256


def read_side_anchor(db_path: str | os.PathLike[str], key: bytes) -> Anchor | None:
    """The side anchor ``<db>.audit.anchor``: its newest slot that verifies with ``key``.

    Returns:
        None when there is no such file; an anchor that never verifies (``entries`` -1) when
        the file is there but no slot verifies.
    """
    try:
        data = anchor_path(db_path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        data = b""
    best = Anchor(-1, "", "")
    for start in range(0, len(data), _SLOT):
        try:
            value = json.loads(data[start : start + _SLOT])
            anchor = Anchor(int(value["entries"]), str(value["last_mac"]), str(value["mac"]))
        except (ValueError, KeyError, TypeError):
            continue
        if anchor.valid(key) and anchor.entries > best.entries:
            best = anchor
    return best


def _write_side_anchor(db_path: Path, anchor: Anchor) -> None:
    """Write ``anchor`` into its slot (call it holding the log's exclusive lock)."""
    record = {"entries": anchor.entries, "last_mac": anchor.last_mac, "mac": anchor.mac}
    data = json.dumps(record).encode("ascii").ljust(_SLOT - 1) + b"\n"
    fd = os.open(anchor_path(db_path), os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        if os.fstat(fd).st_size == 0:
            os.fchmod(fd, NEW_FILE_MODE)  # whatever the umask
        os.pwrite(fd, data, (anchor.entries % 2) * _SLOT)
    finally:
        os.close(fd)


# -- the end of the log -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tail:
    """Where the log ends: what the next entry continues from."""

    entries: int  # the number of the last entry (0 for none)
    previous: str  # what the next entry's MAC covers: the last MAC ("" for none)
    torn: bool  # the file does not end with a newline (a write cut short)


def _read_tail(fd: int) -> _Tail:
    """The last entry of the open log, read backwards from its end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return _Tail(0, "", False)
    torn = os.pread(fd, 1, size - 1) != b"\n"
    chunk = _TAIL_CHUNK
    while True:
        start = max(0, size - chunk)
        lines = os.pread(fd, size - start, start).split(b"\n")
        complete = lines if start == 0 else lines[1:]  # the first may be cut by the chunk
        for raw in reversed(complete):
            entry = parse_line(raw) if raw.strip() else None
            if entry is None:
                continue
            if entry.mac is not None and entry.number is not None:
                return _Tail(entry.number, entry.mac, torn)
            return _legacy_tail(fd, size, torn)
        if start == 0:
            return _Tail(0, "", torn)
        chunk *= 4


def _legacy_tail(fd: int, size: int, torn: bool) -> _Tail:
    """The end of a log whose last entry predates the keyed chain (read once, in full)."""
    count, last = 0, b""
    for raw in os.pread(fd, size, 0).split(b"\n"):
        if raw.strip() and parse_line(raw) is not None:
            count, last = count + 1, raw
    return _Tail(count, "sha256:" + legacy_hash(last), torn)


@contextlib.contextmanager
def _locked(path: Path, flags: int, lock: int) -> Iterator[int]:
    fd = os.open(path, flags, NEW_FILE_MODE)
    try:
        fcntl.flock(fd, lock)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def append_entry(db_path: str | os.PathLike[str], fields: dict[str, Any]) -> int:
    """Append one entry to the log under an exclusive lock; return its number.

    A line left cut short by an earlier write is ended first, so the new entry gets a line of
    its own (verify reports the fragment and skips it). If the side anchor holds more entries
    than the log (entries were removed), the numbering continues after the anchor's, so the
    gap stays visible. A write that fails (a full disk) is taken back, so it leaves no torn line.

    Raises:
        StoreError: If the key is missing while the log has keyed entries, or the file system
            refuses the write.
    """
    db = Path(db_path)
    path = audit_path(db)
    key = load_key(db, create=False) or load_key(db, create=not _keyed(db))
    if key is None:
        raise StoreError(
            f"The audit key {key_path(db)} is missing, but the audit log {path} has entries "
            "made with it. Restore the key from the backup taken with the database (client "
            "data are not shown while access cannot be logged)."
        )
    try:
        with _locked(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, fcntl.LOCK_EX) as fd:
            if os.fstat(fd).st_size == 0:
                os.fchmod(fd, NEW_FILE_MODE)  # whatever the umask
            tail = _read_tail(fd)
            side = read_side_anchor(db, key)
            after = max(tail.entries, side.entries if side is not None else 0)
            number = after + 1
            entry = {**fields, "n": number}
            mac = entry_mac(key, tail.previous, entry)
            line = json.dumps({**entry, "mac": mac}, ensure_ascii=False).encode("utf-8")
            data = (b"\n" if tail.torn else b"") + line + b"\n"
            _write_all(fd, data)
            try:
                _write_side_anchor(db, Anchor.make(key, number, mac))
            except OSError as error:  # the entry is in the log; verify notes the lagging anchor
                log.warning("could not update the audit anchor %s: %s", anchor_path(db), error)
            return number
    except OSError as error:
        raise StoreError(
            f"Could not write the audit log {path}: {error.strerror or error}. The client's "
            f"data are not shown while access cannot be logged. Free space on the disk that "
            f"holds {path.parent} (or make the file writable) and try again."
        ) from error


def _keyed(db: Path) -> bool:
    """Whether the log or its side anchor was written with a key (then one must exist)."""
    if anchor_path(db).exists():
        return True
    try:
        with _locked(audit_path(db), os.O_RDONLY, fcntl.LOCK_SH) as fd:
            return _read_tail(fd).previous[:7] not in ("", "sha256:")
    except FileNotFoundError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` at the end of the log, or take back what was written and raise."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def database_anchor(
    db_path: str | os.PathLike[str], previous: dict[str, Anchor]
) -> tuple[str, Anchor] | None:
    """The row a database write puts in ``audit_anchor``: this key's id and its anchor.

    The anchor holds the most entries of: the log's last entry, the side anchor, and the
    anchor the database already holds for this key (each counted only if its MAC verifies),
    so an anchor never goes back when entries are removed between two writes.

    Args:
        db_path: The database (its log, key and side anchor are beside it).
        previous: The database's anchors now, by key id.

    Returns:
        ``(key id, anchor)``; None when there is no key and nothing to anchor (no log), or the
        key is missing while there is a log (verify then reports the missing key).
    """
    db = Path(db_path)
    path = audit_path(db)
    key = load_key(db, create=False) or load_key(db, create=not _keyed(db))
    if key is None:
        return None
    best = Anchor.make(key, 0, "")
    candidates = [previous.get(key_id(key)), read_side_anchor(db, key)]
    if path.exists():
        with _locked(path, os.O_RDONLY, fcntl.LOCK_SH) as fd:
            tail = _read_tail(fd)
        candidates.append(Anchor.make(key, tail.entries, tail.previous))
    for anchor in candidates:
        if anchor is not None and anchor.valid(key) and anchor.entries > best.entries:
            best = anchor
    return key_id(key), best
