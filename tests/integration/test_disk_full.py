"""A write the file system refuses (a full disk) says so, changes nothing and leaves nothing.

A writer copies the database, changes the copy and swaps it in (fitdata.data.store). When the
disk fills up during any of that, the person must read what happened, where, and what to do
(free space), and the database must be as it was: no traceback, no half-written file, no
leftover copy. Simulated here by a failing copy or replace, and for real by a file size limit
(RLIMIT_FSIZE) on a command-line process, which makes the kernel refuse the write with EFBIG.
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fitdata.cli import main
from fitdata.data import store
from fitdata.data.store import StoreError, reader_for, write_transaction

ROOT = Path(__file__).resolve().parents[2]
FULL = OSError(errno.ENOSPC, "No space left on device")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(f".{db.name}."))


@pytest.fixture
def db(tiny_db, tmp_path) -> Path:
    path = tmp_path / "full.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


def half_a_copy_then_full(source, target, *args, **kwargs):
    """Write half of the file, as a copy does when the disk fills up under it."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: len(data) // 2])
    raise OSError(FULL.errno, FULL.strerror, str(target))


def test_a_full_disk_while_copying_says_what_to_do_and_changes_nothing(db, monkeypatch) -> None:
    before = digest(db)
    monkeypatch.setattr(shutil, "copyfile", half_a_copy_then_full)
    with pytest.raises(StoreError) as raised, write_transaction(db) as con:
        con.execute("DELETE FROM sessions")
    message = str(raised.value)
    assert str(db) in message and "No space left on device" in message
    assert "Nothing was changed" in message and "Free space" in message
    assert digest(db) == before
    assert leftovers(db) == []


def test_a_failing_replace_says_so_and_changes_nothing(db, monkeypatch) -> None:
    before = digest(db)

    def refuse(source, target):
        raise OSError(errno.EIO, "Input/output error", str(target))

    monkeypatch.setattr(store.os, "replace", refuse)
    with (
        pytest.raises(StoreError, match="Input/output error") as raised,
        write_transaction(db) as con,
    ):
        con.execute("DELETE FROM sessions")
    assert "Nothing was changed" in str(raised.value) and str(db) in str(raised.value)
    monkeypatch.undo()
    assert digest(db) == before
    assert leftovers(db) == []


def test_the_command_line_prints_the_message_not_a_traceback(db, monkeypatch, capsys) -> None:
    before = digest(db)
    monkeypatch.setattr(shutil, "copyfile", half_a_copy_then_full)
    assert main(["users", "add", "admin", "--role", "admin", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fitdata users: error: Could not write the database"), err
    assert "Free space" in err and "Traceback" not in err
    assert digest(db) == before


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "admin", "--role", "admin"],  # the copy is refused
        ["demo", "--sessions", "20000", "--out"],  # DuckDB's own writes are refused
    ],
    ids=["copy", "duckdb"],
)
def test_a_real_refused_write_on_the_command_line(db, args) -> None:
    """The kernel refuses writes past RLIMIT_FSIZE, as a full disk refuses them."""
    before = digest(db)
    limit = db.stat().st_size // 2  # below the copy's size, and below the new demo's
    command = [*args, str(db)] if args[-1] == "--out" else [*args, "--db", str(db)]
    done = subprocess.run(
        [sys.executable, "-m", "fitdata.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=_limit_file_size(limit),
        timeout=300,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert "Could not write the database" in done.stderr and "Nothing was changed" in done.stderr
    assert digest(db) == before
    assert leftovers(db) == []


def test_a_refused_output_file_is_one_line_too(tiny_db, tmp_path, monkeypatch, capsys) -> None:
    """Not only the database: a report or export the disk cannot hold is said in one line."""
    import fitdata.outputs.export as export

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.csv"))

    monkeypatch.setattr(export, "export_csv", full)
    assert main(["export", "--db", str(tiny_db), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fitdata export: error: No space left on device"), err
    assert "out.csv" in err and "Free space" in err
