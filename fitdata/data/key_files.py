"""Secret key files kept beside the database: made once (32 random bytes, mode 0600), then read.

Client links (:mod:`fitdata.data.client_links`) and the group exercise's case links
(:mod:`fitdata.features.group_exercise.links`) each sign with a key kept **outside the
database**, in a file of its own. :func:`secret_key` is the one place such a file is made and
read: on first use it writes the random bytes under a temporary name (mode 0600 whatever the
umask) and links that file into place, so another process (another dashboard kernel) never
reads a half-written key -- whoever links first wins and the others read its key. A file too
short to be a key is refused with the caller's error, which says to delete it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal, overload

from fitdata.data.errors import StoreError

__all__ = ["KEY_BYTES", "secret_key"]

KEY_BYTES = 32


@overload
def secret_key(
    path: Path, *, what: str, create: Literal[True] = ..., error: Callable[[str], Exception] = ...
) -> bytes: ...


@overload
def secret_key(
    path: Path, *, what: str, create: bool, error: Callable[[str], Exception] = ...
) -> bytes | None: ...


def secret_key(
    path: Path,
    *,
    what: str,
    create: bool = True,
    error: Callable[[str], Exception] = StoreError,
) -> bytes | None:
    """The secret key in ``path``, made on first use (see the module docstring).

    Args:
        path: The key file.
        what: What the key signs, for the message of a too-short file ("client link").
        create: Make the key file when there is none.
        error: The exception raised for a file too short to be a key.

    Returns:
        The key, or None when there is no key file and ``create`` is False.

    Raises:
        Exception: ``error`` with a message that names the file, if it holds fewer than
            :data:`KEY_BYTES` bytes.
    """
    if not path.exists():
        if not create:
            return None
        _create(path)
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise error(
            f"The {what} key file {path} holds {len(key)} bytes; it needs at least {KEY_BYTES}. "
            f"Delete it to have a new one made (every {what} made so far stops working)."
        )
    return key


def _create(path: Path) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
        with contextlib.suppress(FileExistsError):  # another process made it first: its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
