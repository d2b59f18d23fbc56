"""Group commit with real processes: one batch, a refusal alone, and writers killed by signals.

The test holds the writer lock itself while the writers start, so that every writer's change is
waiting in the spool when it lets go: the first writer to take the lock then leads them all.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fitdata.data import store
from fitdata.data.spool import spool_path
from fitdata.data.store import check_database, reader_for
from fitdata.features import registration as reg
from tests.integration import group_commit_workers

pytestmark = pytest.mark.slow

CONTEXT = multiprocessing.get_context("spawn")


@pytest.fixture
def db(tiny_db, tmp_path) -> Path:
    path = tmp_path / "shared.duckdb"
    shutil.copyfile(tiny_db, path)
    os.chmod(path, 0o640)
    return path


def _wait_for(what: str, ready: Callable[[], bool], seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _requests(path: Path) -> list[str]:
    folder = spool_path(path)
    return sorted(p.name for p in folder.glob("*.req")) if folder.is_dir() else []


def _spool_files(path: Path) -> list[str]:
    folder = spool_path(path)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _start(path: Path, client: str, signals: Path, stop_at: str = "") -> tuple:
    out = signals / f"{client}.json"
    process = CONTEXT.Process(
        target=group_commit_workers.register,
        args=(str(path), client, str(signals), stop_at, str(out)),
    )
    process.start()
    return process, out


def _sessions_of(path: Path, client: str) -> int:
    sql = "SELECT count(*) FROM sessions WHERE client_id = ?"
    return int(reader_for(path).rows(sql, [client])[0][0])


def _stopped_at(signals: Path, stage: str) -> list[int]:
    return [int(p.name.split("-")[1]) for p in signals.glob(f"{stage}-*")]


def _save_here(path: Path, client: str) -> reg.SavedSession:
    """One more save from the test's own process (it leads its own batch)."""
    import datetime as dt

    registration = reg.Registration(
        "T2",
        "B1",
        client,
        None,
        dt.date(2025, 3, 4),
        reg.Scores.from_total(21.0),
        reg.Scores.from_total(37.0),
        new_client=reg.NewClient(client, "adult", 1981),
    )
    return reg.save_session(path, registration, today=group_commit_workers.TODAY)


def test_waiting_changes_are_one_batch_and_a_refused_one_rolls_back_alone(db, tmp_path) -> None:
    start = int(reader_for(db).rows("SELECT count(*) FROM sessions")[0][0])
    before = os.stat(db)
    ones = _sessions_of(db, "K-ONE")
    clients = ["K-G1", "K-G2", "K-ONE", "K-G3"]  # K-ONE is already a client: refused
    with store.writer_lock(db):
        started = [_start(db, client, tmp_path) for client in clients]
        _wait_for("four waiting changes", lambda: len(_requests(db)) == 4)
    for process, _ in started:
        process.join(120)
        assert process.exitcode == 0
    results = {r["client"]: r for r in (json.loads(out.read_text()) for _, out in started)}

    assert "client_code_exists" in results["K-ONE"]["refused"]
    assert "K-ONE" in results["K-ONE"]["message"]  # its own clear error, in its own process
    landed = [results[c]["session_id"] for c in ("K-G1", "K-G2", "K-G3")]
    assert len(set(landed)) == 3
    # one writer led one batch with all four changes: one copy, one replace
    assert sum(r["stats"]["batches"] for r in results.values()) == 1
    assert sum(r["stats"]["changes"] for r in results.values()) == 4
    assert int(reader_for(db).rows("SELECT count(*) FROM sessions")[0][0]) == start + 3
    assert [_sessions_of(db, c) for c in ("K-G1", "K-G2", "K-G3")] == [1, 1, 1]
    assert _sessions_of(db, "K-ONE") == ones  # none added for the refused change
    assert check_database(db).ok
    after = os.stat(db)
    assert after.st_ino != before.st_ino
    assert (after.st_mode & 0o777, after.st_uid) == (0o640, before.st_uid)
    assert _spool_files(db) == []
    # the spool folder is the database's: whoever may read it may enter, nobody else
    assert os.stat(spool_path(db)).st_mode & 0o777 == 0o750
    reader_for(db).close()


def test_a_writer_killed_while_waiting_is_never_applied(db, tmp_path) -> None:
    with store.writer_lock(db):
        killed, _ = _start(db, "K-KILLED", tmp_path)
        _wait_for("the first change", lambda: len(_requests(db)) == 1)
        os.kill(killed.pid, signal.SIGKILL)
        killed.join(30)
        survivor, out = _start(db, "K-ALIVE", tmp_path)
        _wait_for("the second change", lambda: len(_requests(db)) == 2)
    survivor.join(120)
    assert survivor.exitcode == 0
    assert "session_id" in json.loads(out.read_text())
    assert (_sessions_of(db, "K-KILLED"), _sessions_of(db, "K-ALIVE")) == (0, 1)
    assert _spool_files(db) == []  # the dead writer's request was dropped
    reader_for(db).close()


def _two_stopped_at(db: Path, signals: Path, stage: str) -> tuple[dict, int]:
    """Two writers in one batch; returns them by pid and the pid of the one that led."""
    with store.writer_lock(db):
        started = [_start(db, c, signals, stop_at=stage) for c in ("K-A", "K-B")]
        _wait_for("two waiting changes", lambda: len(_requests(db)) == 2)
    _wait_for(f"a leader at {stage}", lambda: len(_stopped_at(signals, stage)) == 1)
    (leader,) = _stopped_at(signals, stage)
    return {p.pid: (p, out) for p, out in started}, leader


def test_a_follower_killed_while_its_change_is_applied_lands_with_the_batch(db, tmp_path) -> None:
    writers, leader = _two_stopped_at(db, tmp_path, "applying")
    (follower,) = set(writers) - {leader}
    os.kill(follower, signal.SIGKILL)
    writers[follower][0].join(30)
    (tmp_path / "go").touch()
    writers[leader][0].join(120)
    assert writers[leader][0].exitcode == 0
    assert "session_id" in json.loads(writers[leader][1].read_text())
    # the follower was alive when its change was taken: it is written, once, with the batch
    assert (_sessions_of(db, "K-A"), _sessions_of(db, "K-B")) == (1, 1)
    _save_here(db, "K-LATER")  # the next batch clears what the dead follower left
    assert _spool_files(db) == []
    assert check_database(db).ok
    reader_for(db).close()


def test_a_leader_killed_while_applying_writes_nothing_and_the_other_leads(db, tmp_path) -> None:
    before = db.read_bytes()
    writers, leader = _two_stopped_at(db, tmp_path, "applying")
    os.kill(leader, signal.SIGKILL)
    writers[leader][0].join(30)
    assert db.read_bytes() == before  # the killed batch published nothing
    (follower,) = set(writers) - {leader}
    # the follower takes the lock and leads a batch of its own change only
    _wait_for("the follower leading", lambda: follower in _stopped_at(tmp_path, "applying"))
    (tmp_path / "go").touch()
    writers[follower][0].join(120)
    assert writers[follower][0].exitcode == 0
    result = json.loads(writers[follower][1].read_text())
    assert result["stats"] == {"batches": 1, "changes": 1}
    alive = result["client"]
    killed_client = ({"K-A", "K-B"} - {alive}).pop()
    assert (_sessions_of(db, alive), _sessions_of(db, killed_client)) == (1, 0)
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # copy removed
    assert _spool_files(db) == []
    reader_for(db).close()


def test_a_leader_killed_after_the_replace_serves_its_writers_from_the_journal(
    db, tmp_path
) -> None:
    writers, leader = _two_stopped_at(db, tmp_path, "replaced")
    os.kill(leader, signal.SIGKILL)
    writers[leader][0].join(30)
    (follower,) = set(writers) - {leader}
    writers[follower][0].join(120)
    assert writers[follower][0].exitcode == 0
    result = json.loads(writers[follower][1].read_text())
    # the follower got the outcome the dead leader had prepared: it did not write again
    assert result["stats"] == {"batches": 0, "changes": 0}
    assert "session_id" in result
    assert (_sessions_of(db, "K-A"), _sessions_of(db, "K-B")) == (1, 1)  # both, once
    session = reader_for(db).rows(
        "SELECT client_id FROM sessions WHERE session_id = ?", [result["session_id"]]
    )
    assert session == [(result["client"],)]
    _save_here(db, "K-LATER")
    assert _spool_files(db) == []
    assert check_database(db).ok
    reader_for(db).close()


def test_a_full_disk_fails_the_batch_with_what_to_do_and_writes_nothing(db, monkeypatch) -> None:
    before = db.read_bytes()

    def full(source, target, *args, **kwargs):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(store.StoreError, match="Free space on the disk") as raised:
        _save_here(db, "K-FULL")
    assert "Nothing was changed" in str(raised.value)
    assert db.read_bytes() == before
    assert [p.name for p in db.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert _spool_files(db) == []
