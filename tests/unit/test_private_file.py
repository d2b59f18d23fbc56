"""Files to take away are written whole: a private one 0600, a report keeping its mode."""

from __future__ import annotations

import os
import stat

import pytest

from fitdata.outputs.private_file import write_keeping_mode, write_private


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


def test_a_replaced_report_keeps_its_mode_and_a_new_one_is_the_owners(tmp_path) -> None:
    """The service report (aggregates): an administrator's 0640 stays; a new file is 0600."""
    shared = tmp_path / "service.pdf"
    shared.write_bytes(b"last quarter")
    os.chmod(shared, 0o640)
    new = tmp_path / "new.pdf"
    old = os.umask(0o022)
    try:
        write_keeping_mode(shared, b"this quarter")
        write_keeping_mode(new, b"first")
    finally:
        os.umask(old)
    assert shared.read_bytes() == b"this quarter"
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.pdf", "service.pdf"]
