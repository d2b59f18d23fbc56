"""Health data stay private on disk: every file fitdata writes keeps the database's mode.

A writer replaces the database with a new file (fitdata.data.store.write_transaction), and a
new file gets the process's umask (often 022: readable by everyone on the machine). These
tests run under umask 022 and check that the database, its temporary copies and the cache
beside it keep the mode the database had, 0600 for a new one; and that the copy a killed
writer left behind (a full copy of the data) is removed by the next writer.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fitdata.cli import main
from fitdata.data import store
from fitdata.data.cache import cache_dir
from fitdata.data.store import reader_for
from fitdata.features import registration as reg
from tests.integration.import_workers import weekly_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def umask_022():
    """The usual umask, under which a new file is readable by every user of the machine."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(db: Path) -> list[str]:
    """Temporary copies of ``db`` in its folder (named ``.<db>.XXXX.tmp``)."""
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(f".{db.name}."))


def cache_modes(db: Path) -> dict[str, int]:
    folder = cache_dir(db)
    return {p.name: mode(p) for p in [folder, *folder.iterdir()]} if folder.exists() else {}


@pytest.fixture
def db(tiny_db, tmp_path) -> Path:
    path = tmp_path / "private.duckdb"
    shutil.copyfile(tiny_db, path)
    os.chmod(path, 0o600)
    yield path
    reader_for(path).close()


def test_a_new_demo_database_and_its_cache_are_private(tmp_path) -> None:
    out = tmp_path / "demo.duckdb"
    assert main(["demo", "--out", str(out), "--sessions", "300", "--seed", "3"]) == 0
    assert mode(out) == 0o600
    modes = cache_modes(out)
    assert modes, "fitdata demo prepares the dashboards' cache"
    assert modes.pop(cache_dir(out).name) == 0o700
    assert set(modes.values()) == {0o600}, modes
    assert leftovers(out) == []


def test_adding_a_user_keeps_the_files_mode(db, capsys) -> None:
    assert (
        main(["users", "add", "kari", "--role", "therapist", "--therapist", "B1", "--db", str(db)])
        == 0
    )
    assert mode(db) == 0o600
    os.chmod(db, 0o640)  # a group of administrators may read it: kept as chosen
    assert main(["users", "add", "ola", "--role", "admin", "--db", str(db)]) == 0
    assert mode(db) == 0o640
    assert leftovers(db) == []


def test_an_import_keeps_the_mode_and_its_cache_follows(db, tmp_path, capsys) -> None:
    source = write_csv(tmp_path / "kor.csv", weekly_rows("K-701", 4))
    args = ["import", "--db", str(db), "--service", "Tjenesten", str(source)]  # new teams' service
    assert main(args) == 0, capsys.readouterr().err
    assert mode(db) == 0o600
    modes = cache_modes(db)
    assert modes.pop(cache_dir(db).name) == 0o700
    assert modes and set(modes.values()) == {0o600}, modes


def test_a_new_database_from_an_import_is_private(tmp_path, capsys) -> None:
    source = write_csv(tmp_path / "kor.csv", weekly_rows("K-702", 3))
    db = tmp_path / "new" / "kor.duckdb"
    args = ["import", "--db", str(db), "--service", "Tjenesten", str(source)]  # new teams' service
    assert main(args) == 0, capsys.readouterr().err
    assert mode(db) == 0o600


def test_saving_a_registration_keeps_the_mode(db) -> None:
    import datetime as dt

    today = dt.date(2025, 3, 3)
    registration = reg.Registration(
        "T2", "B1", "K-ADULT1", "E1", today, reg.Scores.from_total(24.0)
    )
    reg.save_session(db, registration, today=today)
    assert mode(db) == 0o600
    assert leftovers(db) == []


@pytest.mark.slow
def test_a_killed_writers_copy_is_private_and_removed_by_the_next_writer(db, tmp_path) -> None:
    ready = tmp_path / "ready"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tests.integration.workers import hold_a_write; "
            "hold_a_write(sys.argv[1], sys.argv[2])",
            str(db),
            str(ready),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None, "the writer ended before it had copied the file"
            assert time.monotonic() < deadline, "the writer did not start its write"
            time.sleep(0.05)
        copies = [db.parent / name for name in leftovers(db)]
        assert copies, "the writer works on a copy beside the database"
        for copy in copies:  # a full copy of the data: nobody else may read it
            assert mode(copy) & 0o077 == 0, f"{copy.name} is {oct(mode(copy))}"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
    assert leftovers(db), "SIGKILL leaves the copy behind"
    with store.write_transaction(db) as con:
        con.execute("UPDATE teams SET name = name")
    assert leftovers(db) == []
    assert int(reader_for(db).rows("SELECT count(*) FROM sessions")[0][0]) == 24  # untouched
