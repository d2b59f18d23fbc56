"""The secret key files beside the database: made once, private, shared, refused when short."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from fitdata.data.errors import StoreError
from fitdata.data.key_files import KEY_BYTES, secret_key


def test_a_key_is_made_once_with_mode_0600_whatever_the_umask(tmp_path) -> None:
    path = tmp_path / "db.duckdb.some-key"
    old = os.umask(0o022)
    try:
        key = secret_key(path, what="test link")
    finally:
        os.umask(old)
    assert len(key) == KEY_BYTES and path.read_bytes() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key(path, what="test link") == key
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left


def test_without_create_a_missing_key_is_none_and_no_file_is_made(tmp_path) -> None:
    path = tmp_path / "missing.key"
    assert secret_key(path, what="test link", create=False) is None
    assert not path.exists()


def test_a_short_key_file_is_refused_with_the_callers_error(tmp_path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"123")
    with pytest.raises(StoreError, match="holds 3 bytes; it needs at least 32"):
        secret_key(path, what="test link")
    with pytest.raises(KeyError, match="every test link made so far stops working"):
        secret_key(path, what="test link", error=KeyError)


def test_processes_racing_to_make_the_key_all_read_the_same_whole_key(tmp_path) -> None:
    path = tmp_path / "raced.key"
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        keys.append(secret_key(path, what="test link"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and set(keys) == {path.read_bytes()}
    assert len(path.read_bytes()) == KEY_BYTES
