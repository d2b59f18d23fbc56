"""The files fitdata writes beside a database keep it private: modes, owners, leftovers, errors.

A writer replaces the database with a new file (:func:`fitdata.data.store.write_transaction`),
and a new file gets the process's umask, often 022: readable by every user of the machine.
Health data must not be, so every file fitdata writes from the database's data -- the database
itself, its temporary copy, the cache entries beside it (:mod:`fitdata.data.cache`), the audit
log and its key (:mod:`fitdata.data.audit`), the changes waiting in its spool
(:mod:`fitdata.data.spool`) -- gets the mode and owner of the file it stands for
(:class:`FileMode`), or 0600 for a new one, whatever the umask.

A writer builds its copy inside a folder of its own that only its user may enter (mode 0700,
:func:`private_workdir`), so the copy and DuckDB's write-ahead log are private from the first
byte. A writer that is killed leaves that folder behind -- a full copy of the data -- and holds
no lock any more; the next writer, holding the writer lock (so no other writer is alive), removes
it (:func:`remove_leftovers`).

A write that fails on the file system (a full disk most often) raises a
:class:`~fitdata.data.errors.StoreError` that says what happened, where, and what to do
(:func:`write_error`), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fitdata.data.errors import StoreError

__all__ = [
    "NEW_FILE_MODE",
    "FileMode",
    "is_space_error",
    "private_workdir",
    "remove_leftovers",
    "write_error",
]

log = logging.getLogger(__name__)

#: Mode of a database (and of every file written beside it) that did not exist before.
NEW_FILE_MODE = 0o600

# The random part of a name from tempfile (8 of a-z, 0-9 and _), so a leftover of one database
# is never taken for one of another database whose name starts the same.
_TEMP_PART = r"[a-z0-9_]{8}"

_SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@dataclass(frozen=True)
class FileMode:
    """The permission bits and owner a file fitdata writes must have.

    Attributes:
        mode: Permission bits (``0o600``).
        uid: Owner, or None to leave it (a new file's owner is the writing user).
        gid: Group, or None to leave it.
    """

    mode: int = NEW_FILE_MODE
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileMode:
        """The mode and owner of the file at ``path``; a new file's (0600) when there is none."""
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return cls()
        return cls(stat.S_IMODE(status.st_mode) & 0o666, status.st_uid, status.st_gid)

    @property
    def folder_mode(self) -> int:
        """The mode of a folder holding such files: whoever may read them may enter it."""
        return self.mode | ((self.mode & 0o444) >> 2)

    def apply(self, path: str | os.PathLike[str], *, folder: bool = False) -> None:
        """Give ``path`` this mode, and this owner where the writing user may.

        Changing the owner needs root (or only the group, for a member of it); a writer that
        may not keeps the mode, and the file then belongs to the writer, which is logged.
        """
        os.chmod(path, self.folder_mode if folder else self.mode)
        if self.uid is None and self.gid is None:
            return
        status = os.stat(path)
        if (status.st_uid, status.st_gid) == (self.uid, self.gid):
            return
        for uid, gid in ((self.uid, self.gid), (-1, self.gid)):
            try:
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
                return
            except PermissionError:
                continue
        log.warning(
            "could not give %s the owner %s:%s of the file it replaces", path, self.uid, self.gid
        )


def private_workdir(path: Path) -> Path:
    """A new folder beside ``path`` that only this user may enter, for a copy of ``path``.

    Named ``.<name>.XXXXXXXX.tmp`` so that :func:`remove_leftovers` finds it.

    Raises:
        StoreError: If the folder cannot be created (full disk, no permission).
    """
    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        raise write_error(error, path, "creating a temporary folder beside it") from error


def leftovers(path: Path) -> list[Path]:
    """Temporary copies of ``path`` in its folder, of this version of fitdata or older ones."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_TEMP_PART}\.tmp(\.wal)?")
    with contextlib.suppress(FileNotFoundError):
        return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))
    return []


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the temporary copies of ``path`` that writers no longer alive left behind.

    Call it only while holding the writer lock of ``path``: every writer holds it while it
    lives, so any copy found then belongs to a writer that was killed.

    Returns:
        What was removed.
    """
    removed = []
    for leftover in leftovers(path):
        try:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        except OSError as error:
            log.warning("could not remove the leftover copy %s: %s", leftover, error)
            continue
        log.info("removed %s, left by a writer that did not finish", leftover)
        removed.append(leftover)
    return removed


def is_space_error(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota, or a file size limit) is full."""
    if isinstance(error, OSError) and error.errno in _SPACE_ERRORS:
        return True
    text = str(error).lower()
    return any(s in text for s in ("no space left", "disk is full", "quota exceeded", "too large"))


def write_error(error: BaseException, path: Path, doing: str) -> StoreError:
    """A :class:`StoreError` for a write of ``path`` that failed on the file system.

    Says what happened (the system's reason), where (the file and what was being done), that
    nothing was changed, and what to do: free space for a full disk, else check the folder.

    Args:
        error: The OSError (or DuckDB's I/O error) the write raised.
        path: The database file being written.
        doing: What the writer was doing, e.g. ``"copying it"``.
    """
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    where = path.resolve().parent
    if is_space_error(error):
        size = path.stat().st_size / 2**20 if path.exists() else 0.0
        advice = (
            f"Free space on the disk that holds {where} (a write needs room for a full copy "
            f"of the database, about {size:,.0f} MB, beside it) and try again."
        )
    else:
        advice = f"Check that {where} exists and this user may write there, then try again."
    return StoreError(
        f"Could not write the database {path} ({doing}): {reason}. Nothing was changed: the "
        f"file is as it was before. {advice}"
    )
