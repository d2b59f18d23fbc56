"""The spool refuses what it must not run: foreign functions in a request, unpicklable changes."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from pathlib import Path

import pytest

from fitdata.data import group_commit
from fitdata.data.spool import Spool, spool_path
from fitdata.data.store import StoreError


@pytest.fixture
def db(tiny_db, tmp_path) -> Path:
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(tiny_db, path)
    return path


def test_a_request_naming_a_function_outside_fitdata_is_refused_not_run(db, tmp_path) -> None:
    marker = tmp_path / "ran"
    spool = Spool(db)
    spool.folder.mkdir()
    request = spool.folder / "00000000000000000001-1-abcd.req"
    request.write_bytes(pickle.dumps((os.system, (f"touch {marker}",), {})))
    fd = os.open(request, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a live writer holds its request
        assert spool.pending() == []
        outcome = spool.outcome("00000000000000000001-1-abcd")
    finally:
        os.close(fd)
    assert not marker.exists()
    assert outcome is not None and isinstance(outcome.error, StoreError)
    assert "may not contain" in str(outcome.error)


def test_a_change_that_cannot_be_handed_on_says_what_a_change_must_be(db) -> None:
    with pytest.raises(StoreError, match="module-level function"):
        group_commit.commit(db, lambda con: None)
    assert list(spool_path(db).iterdir()) == []


def test_a_dead_writers_request_is_dropped_unapplied(db) -> None:
    spool = Spool(db)
    spool.folder.mkdir()
    request = spool.folder / "00000000000000000002-1-abcd.req"
    request.write_bytes(pickle.dumps((os.system, ("true",), {})))  # nobody holds it
    assert spool.pending() == []
    assert list(spool.folder.iterdir()) == []
