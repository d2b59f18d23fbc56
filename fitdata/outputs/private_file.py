"""A file of client data written whole and readable by its owner only (printouts, case lists).

:func:`write_private` writes beside the target first (``.<name>.partial``, mode 0600 whatever the
umask, and also when a partial was left behind before) and then puts it in place, so a reader
never sees half a file and nobody else on the machine can read it; a failed write leaves the
target as it was and no partial behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from fitdata.data.files import NEW_FILE_MODE

__all__ = ["write_private"]


def write_private(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` readable by its owner only, whole: beside it first, then in place.

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
        partial.replace(out)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        partial.unlink(missing_ok=True)
        raise
