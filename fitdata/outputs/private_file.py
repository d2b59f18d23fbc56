"""Files fitdata writes for people to take away, written whole (printouts, case lists, reports).

:func:`write_whole` writes beside the target first (``.<name>.partial``, created with mode 0600
whatever the umask, also when a partial was left behind before), gives it its mode and owner and
then puts it in place, so a reader never sees half a file; a failed write leaves the target as
it was and no partial behind.

:func:`write_private` is that for a file of client data: readable by its owner only (0600),
whatever the file it replaces allowed. :func:`write_keeping_mode` is that for a file of
aggregates (the service report): a file it replaces keeps its mode and owner (an administrator
may have shared it with a group), a new one is 0600 like every other file fitdata makes.
"""

from __future__ import annotations

import os
from pathlib import Path

from fitdata.data.files import NEW_FILE_MODE, FileMode

__all__ = ["write_keeping_mode", "write_private", "write_whole"]


def write_whole(out: Path, data: bytes, mode: FileMode) -> None:
    """Write ``data`` to ``out`` whole, with ``mode``: beside it first, then in place.

    Raises:
        OSError: If the file cannot be written (the partial is removed, ``out`` is unchanged).
    """
    partial = out.with_name(f".{out.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, NEW_FILE_MODE)
    try:
        os.fchmod(fd, NEW_FILE_MODE)  # whatever the umask, and if a partial was left before
        with os.fdopen(fd, "wb") as file:
            fd = -1
            file.write(data)
        mode.apply(partial)
        partial.replace(out)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        partial.unlink(missing_ok=True)
        raise


def write_private(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` readable by its owner only (0600), whole."""
    write_whole(out, data, FileMode())


def write_keeping_mode(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` whole, keeping the mode and owner of a file it replaces."""
    write_whole(out, data, FileMode.of(out))
