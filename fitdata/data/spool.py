"""The spool beside a database: changes waiting to be written, their results, the batch journal.

Group commit (:mod:`fitdata.data.group_commit`) lets the writer that holds the writer lock apply
the changes other writers are waiting with, so a burst of registrations costs one copy of the
file instead of one each. A waiting change has to be in a form another process can apply, so
each writer leaves it here, in ``<db>.spool/`` (a folder with the database's mode, 0700 for a
0600 file), as a request file ``<id>.req``: the change function (by its importable name) and
its arguments, pickled. Pickles are loaded only from this folder, which only the database's
writers may write to, and only with classes of fitdata's own modules, ``datetime`` and plain
builtins (:func:`_load`): a request cannot name another function.

Files, and who writes them:

* ``<id>.req`` -- written by a writer (``.req.tmp``, locked, renamed, so it is never seen
  unlocked) which holds a shared ``flock`` on it while it waits. A request whose lock is free
  belongs to a writer that was killed while waiting: it is dropped, never applied
  (:meth:`Spool.pending`).
* ``<id>.result`` -- the outcome of an applied change, written by the lock holder *before* it
  replaces the database and renamed to ``<id>.done`` only *after*, so a writer never hears
  "saved" for a change that is not in the published file.
* ``journal`` -- which results belong to the file about to be published (its inode, which
  ``os.replace`` keeps). A lock holder killed between the replace and the renames leaves it; the
  next lock holder (:func:`recover`, run by every writer before it writes) publishes those
  results if the database is that file, or drops them if the replace never happened, so no
  change is applied twice and none is reported saved that was not.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import io
import json
import logging
import os
import pickle
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitdata.data.errors import StoreError
from fitdata.data.files import FileMode, write_error

__all__ = ["Outcome", "Request", "Spool", "recover", "spool_path"]

log = logging.getLogger(__name__)

_JOURNAL = "journal"

# Builtins a pickled request or result may contain (exceptions and plain containers).
_SAFE_BUILTINS = frozenset(
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and (issubclass(getattr(builtins, name), BaseException) or name in {
        "bool", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "set",
        "slice", "str", "tuple", "object", "range",
    })
)  # fmt: skip


class _Unpickler(pickle.Unpickler):
    """Loads only fitdata's own classes and functions, dates and times, and plain builtins."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if (
            module in {"datetime", "collections", "copyreg"}
            or module.startswith("fitdata.")
            or (module.startswith("_duckdb") or module.startswith("duckdb"))
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a spooled change may not contain {module}.{name}")


def _load(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


def spool_path(path: Path) -> Path:
    """The spool folder of the database at ``path``: ``<db>.spool`` beside it."""
    return path.with_name(path.name + ".spool")


@dataclass(frozen=True)
class Request:
    """A change waiting to be applied: ``change(con, *args, **kwargs)``.

    Attributes:
        id: The request's name in the spool (arrival time first, so names sort in order).
        change: A function importable by name (module level, in a fitdata module).
        args: Its arguments after the connection.
        kwargs: Its keyword arguments.
    """

    id: str
    change: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What applying a request gave: its value, or the error its writer raises."""

    value: Any = None
    error: BaseException | None = None


class Spool:
    """The spool folder of one database (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = spool_path(path)

    # -- files -----------------------------------------------------------------------------
    def _ensure(self) -> FileMode:
        mode = FileMode.of(self.path)
        if not self.folder.is_dir():
            try:
                self.folder.mkdir(exist_ok=True)
                mode.apply(self.folder, folder=True)
            except OSError as error:
                raise write_error(error, self.path, "creating its spool folder") from error
        return mode

    def _write(self, target: Path, data: bytes, mode: FileMode) -> None:
        """Write ``data`` to ``target`` atomically, with the database's mode and owner.

        Not fsynced, on purpose (two fsyncs cost 40-90 ms a batch on a busy disk): the spool
        only has to outlive a killed process, which the page cache does. A power cut kills
        every waiting writer too; their requests are then dropped as dead, and a journal lost
        with it only means no outcome is published to writers that no longer exist.
        """
        tmp = target.with_name(target.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode.mode)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            mode.apply(tmp)
            os.replace(tmp, target)
        except OSError as error:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise write_error(error, self.path, f"writing {target.name} in its spool") from error

    # -- the waiting writer's side -----------------------------------------------------------
    @contextlib.contextmanager
    def submitted(
        self, change: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[str]:
        """Leave a request in the spool, held (locked) while the block runs; then remove it.

        Raises:
            StoreError: If the change cannot be pickled (not a module-level function, or an
                argument that cannot be), or the file cannot be written.
        """
        mode = self._ensure()
        request_id = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            data = pickle.dumps((change, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            raise StoreError(
                f"This change cannot be handed to another writer ({error}): a group-committed "
                "change must be a module-level function with picklable arguments."
            ) from error
        target = self.folder / f"{request_id}.req"
        tmp = self.folder / f"{request_id}.req.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode.mode)
        except OSError as error:
            raise write_error(error, self.path, "writing a change in its spool") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # before it has its name: never seen unlocked
            try:
                os.write(fd, data)
                mode.apply(tmp)
                os.replace(tmp, target)
            except OSError as error:
                raise write_error(error, self.path, "writing a change in its spool") from error
            yield request_id
        finally:
            for leftover in (tmp, target, self.folder / f"{request_id}.done"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            os.close(fd)

    def outcome(self, request_id: str) -> Outcome | None:
        """The published outcome of the request, or None while it has none."""
        try:
            data = (self.folder / f"{request_id}.done").read_bytes()
        except FileNotFoundError:
            return None
        try:
            found = _load(data)
        except Exception as error:  # noqa: BLE001 - any undecodable outcome is reported as such
            problem = StoreError(f"The outcome of this change could not be read: {error}")
            return Outcome(error=problem)
        return found if isinstance(found, Outcome) else Outcome(value=found)

    # -- the lock holder's side ----------------------------------------------------------------
    def pending(self, skip: frozenset[str] = frozenset()) -> list[Request]:
        """The requests of live writers without an outcome, oldest first (call with the lock).

        A request whose writer is dead (its lock is free) is removed, with any outcome of it.
        """
        if not self.folder.is_dir():
            return []
        found = []
        for req in sorted(self.folder.glob("*.req")):
            request_id = req.name[: -len(".req")]
            if request_id in skip:
                continue
            done = self.folder / f"{request_id}.done"
            if not _held(req):
                for gone in (req, done):
                    with contextlib.suppress(OSError):
                        gone.unlink()
                log.info("dropped the change %s: its writer is no longer waiting", request_id)
                continue
            if done.exists() or (self.folder / f"{request_id}.result").exists():
                continue
            try:
                change, args, kwargs = _load(req.read_bytes())
            except FileNotFoundError:
                continue  # its writer gave up a moment ago
            except Exception as error:  # noqa: BLE001 - a bad request fails alone
                problem = StoreError(f"This change could not be read from the spool: {error}")
                self.publish_now(request_id, Outcome(error=problem))
                continue
            found.append(Request(request_id, change, tuple(args), dict(kwargs)))
        return found

    def prepare(self, outcomes: dict[str, Outcome], inode: int) -> None:
        """Write the outcomes as ``.result`` and the journal naming the file that will hold them."""
        mode = self._ensure()
        for request_id, outcome in outcomes.items():
            self._write(self.folder / f"{request_id}.result", _dump(outcome), mode)
        journal = {"inode": inode, "ids": sorted(outcomes)}
        self._write(self.folder / _JOURNAL, json.dumps(journal).encode(), mode)

    def publish(self) -> None:
        """After the replace: every prepared result becomes its writer's outcome."""
        journal = self.journal()
        if journal is None:
            return
        for request_id in journal["ids"]:
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.folder / f"{request_id}.result", self.folder / f"{request_id}.done")
        (self.folder / _JOURNAL).unlink()

    def discard(self) -> None:
        """The replace did not happen: the prepared results and the journal are dropped."""
        journal = self.journal()
        for result in self.folder.glob("*.result") if self.folder.is_dir() else []:
            with contextlib.suppress(OSError):
                result.unlink()
        if journal is not None:
            (self.folder / _JOURNAL).unlink()

    def publish_now(self, request_id: str, outcome: Outcome) -> None:
        """Give a request an outcome at once (an error: nothing of it was written)."""
        self._write(self.folder / f"{request_id}.done", _dump(outcome), self._ensure())

    def journal(self) -> dict[str, Any] | None:
        """The journal of a batch being published (inode and request ids), or None."""
        try:
            return json.loads((self.folder / _JOURNAL).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:  # a torn journal: its replace never happened (written before it)
            return {"inode": -1, "ids": []}


def _dump(outcome: Outcome) -> bytes:
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an error that cannot be pickled is sent as its text
        error = outcome.error or TypeError(f"an unpicklable result {type(outcome.value)}")
        text = f"{type(error).__name__}: {error}"
        return pickle.dumps(Outcome(error=StoreError(text)), protocol=pickle.HIGHEST_PROTOCOL)


def _held(req: Path) -> bool:
    """Whether the writer of ``req`` is alive (it holds the file's lock while it waits)."""
    try:
        fd = os.open(req, os.O_RDONLY)
    except FileNotFoundError:
        return True  # removed by its writer just now: not ours to drop
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock just taken
    return False


def recover(path: Path) -> bool:
    """Finish what a lock holder killed after preparing its results left (call with the lock).

    If the database is the file the journal names, its replace happened: the results are
    published. Otherwise it did not: they are dropped and their writers, if alive, are
    served again. Every writer calls this after taking the writer lock, before it writes; a
    leader whose batch failed calls it too (the failure may have come after the replace).

    Returns:
        Whether prepared results were published (their replace had happened).
    """
    spool = Spool(path)
    journal = spool.journal()
    if journal is None:
        with contextlib.suppress(OSError):
            for result in spool.folder.glob("*.result"):
                result.unlink()
        return False
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        inode = None
    if inode == journal["inode"]:
        log.info("published the outcomes of a batch whose writer was killed after its replace")
        spool.publish()
        return True
    spool.discard()
    return False
