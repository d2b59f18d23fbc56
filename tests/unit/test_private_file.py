"""A private file is written whole, mode 0600 whatever the umask, and a failed write leaves none."""

from __future__ import annotations

import os
import stat

import pytest

from fitdata.outputs.private_file import write_private


def test_the_file_is_whole_and_readable_by_its_owner_only(tmp_path) -> None:
    out = tmp_path / "cases.csv"
    out.write_bytes(b"old")
    os.chmod(out, 0o644)
    (tmp_path / ".cases.csv.partial").write_bytes(b"left over")
    os.chmod(tmp_path / ".cases.csv.partial", 0o644)
    old = os.umask(0o022)
    try:
        write_private(out, b"new contents")
    finally:
        os.umask(old)
    assert out.read_bytes() == b"new contents"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["cases.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path) -> None:
    out = tmp_path / "printout.pdf"
    out.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_private(out, "not bytes")  # type: ignore[arg-type]
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["printout.pdf"]
