"""Group commit: writers that arrive while a write is in progress are applied together.

A write copies the whole database, changes the copy and replaces the file
(:func:`fitdata.data.store.write_transaction`), so its cost grows with the file; when every
session ends on the hour, saves used to queue behind one another, each paying for its own copy.
Here a writer does not wait for the lock to write alone. It leaves its change in the spool
beside the database (:mod:`fitdata.data.spool`) and then, until the change has an outcome,
tries the writer lock. Whoever gets it leads a batch: one private copy, every waiting change
applied in **its own transaction** on it (DuckDB has no savepoints; a change that raises is
rolled back alone and its writer gets its own error back), one audit anchor, one checkpoint, one
atomic replace; then each writer's outcome is published. A writer whose change was applied by
another returns that outcome as if it had written it itself.

What stays as it was: readers see the old file or the new one, never a lock error; a change is
all-or-nothing; no change is lost or applied twice; the file keeps its mode and owner. What a
killed writer leaves (the failure cases, also in ``docs/architecture.md``):

* killed **while waiting** -- its request's lock is gone, so the next leader drops it unapplied
  (:meth:`fitdata.data.spool.Spool.pending`): nothing of it is written;
* killed **while its change is applied** by another writer's batch -- the change lands with the
  batch (it was alive when taken; nobody is left to tell); if the killed writer was the
  *leader*, nothing of the batch is published, and the other writers, still waiting, lead a
  new batch with their own changes;
* killed **after the replace**, before the outcomes were published -- the next writer finds the
  journal naming the published file and publishes the outcomes (:func:`fitdata.data.spool.
  recover`): the waiting writers get them, nothing is applied twice.

Imports, users and ``fitdata demo`` keep :func:`~fitdata.data.store.write_transaction`: one
transaction over a large change, whose body is code of the calling process.

Measured (``benchmarks/writes.py``, 30 s runs, 2 reader processes, a 2-core machine shared with
other work, load average 5-9): 20 writers at 1 M sessions 33-52 saves/s, p95 0.47-0.92 s (one
copy per write, same runs: 8.9 saves/s, p95 3.5-7.2 s); at 10 M 16-17 saves/s, p95 1.3-2.0 s
(one copy per write: 1.8-2.5 saves/s, p95 16-32 s). A save alone costs what it did (1 M:
99-118 ms against 101-114 ms, alternated in one process): the spool's files are a few
milliseconds beside the copy. No run lost, duplicated or failed a save, and no reader failed.
A batch costs one copy, checkpoint and replace (10 M: copy ~230 ms, checkpoint with the
file's flush and replace ~330 ms) plus each change (~8-10 ms for a session in an ongoing
episode at 1 M; ~250 ms more at 10 M for a new episode, whose number scans every episode id).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from fitdata.data.errors import StoreError
from fitdata.data.files import is_space_error, write_error
from fitdata.data.spool import Outcome, Request, Spool, recover
from fitdata.data.store import WorkingCopy, working_copy, writer_lock

__all__ = ["BATCH_LIMIT", "STATS", "commit"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Most changes one batch applies. A leader keeps taking changes that arrive while it applies
#: (each costs milliseconds; the copy and the replace are paid once), up to this many, so a
#: writer that arrives during a long burst waits for at most one such batch.
BATCH_LIMIT = 200

#: How often a waiting writer looks for its outcome or tries the lock (seconds, first and most).
_POLL_FIRST, _POLL_MOST = 0.002, 0.02

#: What this process has done as a leader: batches led and changes applied (benchmarks read it).
STATS = {"batches": 0, "changes": 0}


#: Called with the stage name (``waiting``, ``applying``, ``replaced``) as a writer passes it;
#: the failure tests set it in a worker process to stop or kill it exactly there.
def _no_stage(stage: str) -> None:
    """The default :data:`stage_hook`: nothing."""


stage_hook: Callable[[str], None] = _no_stage


def commit(path: str | os.PathLike[str], change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Apply ``change(con, *args, **kwargs)`` to the database at ``path``, with other waiters'.

    ``con`` is a read-write connection to a private copy of the file, in a transaction of this
    change's own. The change runs in whichever writer's process leads the batch, so it must be
    a module-level function of a fitdata module with picklable arguments, and everything it
    needs must be in them (compute "today" before calling, not inside).

    Returns:
        What ``change`` returned.

    Raises:
        Whatever ``change`` raised (the database then has none of its change, and the other
        changes of its batch are not affected), or a StoreError if the file cannot be written
        (then no change of the batch was written).
    """
    path = Path(path)
    spool = Spool(path)
    with spool.submitted(change, args, kwargs) as request_id:
        stage_hook("waiting")
        delay = _POLL_FIRST
        while True:
            outcome = spool.outcome(request_id)
            if outcome is None:
                with writer_lock(path, wait=False) as held:
                    if held:
                        recover(path)  # a leader killed after its replace may have served us
                        outcome = spool.outcome(request_id) or _lead(path, spool, request_id)
            if outcome is not None:
                if outcome.error is not None:
                    raise outcome.error
                return outcome.value  # type: ignore[no-any-return]
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MOST)


def _lead(path: Path, spool: Spool, request_id: str) -> Outcome | None:
    """Apply every live waiting change (this writer's among them) in one batch; its outcome.

    Returns None if this writer's change found no place in the batch (the batch was full).
    """
    outcomes: dict[str, Outcome] = {}
    try:
        with working_copy(path) as copy:
            copy.con.execute("COMMIT")  # the migrations, if any: a transaction of their own
            taken: set[str] = set()
            while len(outcomes) < BATCH_LIMIT:
                requests = spool.pending(frozenset(taken))[: BATCH_LIMIT - len(outcomes)]
                if not requests:
                    break
                for request in requests:
                    taken.add(request.id)
                    outcomes[request.id] = _apply(copy, request)
            stage_hook("applying")
            if not copy.migrated and all(o.error is not None for o in outcomes.values()):
                # every change was refused: the file stays exactly as it was, not rewritten.
                # This writer's own outcome is published too, so that no later leader takes its
                # request again between the lock's release and the request's removal.
                for taken_id, outcome in outcomes.items():
                    spool.publish_now(taken_id, outcome)
                return outcomes.get(request_id)
            copy.con.execute("BEGIN TRANSACTION")
            copy.publish(before_replace=lambda tmp: spool.prepare(outcomes, os.stat(tmp).st_ino))
    except BaseException as error:
        if recover(path):  # it failed after the replace: the batch is written
            log.warning("group commit: %s failed after its replace: %s", path, error)
            return outcomes.get(request_id)
        if isinstance(error, StoreError | OSError | duckdb.Error):
            failed = Outcome(error=_batch_error(error, path))
            for taken_id in {*outcomes, request_id}:
                spool.publish_now(taken_id, failed)
            return failed
        raise
    stage_hook("replaced")
    spool.publish()
    STATS["batches"] += 1
    STATS["changes"] += len(outcomes)
    log.debug("group commit: %d changes in one write of %s", len(outcomes), path)
    return outcomes.get(request_id)


def _apply(copy: WorkingCopy, request: Request) -> Outcome:
    """Run one change in its own transaction on the copy: committed, or rolled back alone."""
    con = copy.con
    con.execute("BEGIN TRANSACTION")
    try:
        value = request.change(con, *request.args, **request.kwargs)
        con.execute("COMMIT")
    except Exception as error:  # noqa: BLE001 - the change's own error goes back to its writer
        con.execute("ROLLBACK")
        if is_space_error(error):
            raise  # the disk is full: no change of the batch can be written
        return Outcome(error=error)
    return Outcome(value=value)


def _batch_error(error: BaseException, path: Path) -> StoreError:
    """The error every writer of a batch that could not be written gets."""
    if isinstance(error, StoreError):
        return error
    return write_error(error, path, "writing a batch of changes")
