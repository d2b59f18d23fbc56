"""Keyed pseudonyms for client identifiers, and the key they are made with.

A pseudonym is ``P-`` and 12 base-32 characters of HMAC-SHA256(key, identifier): the same key
always gives the same pseudonym, so re-imports match, and without the key nobody can go back
from a pseudonym to a person (or test guesses). The key lives in a file outside the database,
readable by its owner only. What is an identity number, a name or a code is decided in
:mod:`fitdata.identifiers`; an identity number is hashed as its 11 digits however it was
written, so one person gets one pseudonym. A value that may identify a person is shown in a
message only masked (:func:`masked`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

import pandas as pd

from fitdata.identifiers import national_id_digits
from fitdata.ingest.problems import IngestError
from fitdata.ingest.validate import lift

__all__ = [
    "PSEUDONYM_PREFIX",
    "default_key_file",
    "load_or_create_key",
    "masked",
    "pseudonym",
    "pseudonymise",
]

PSEUDONYM_PREFIX = "P-"
PSEUDONYM_LENGTH = 12  # base-32 characters: 60 bits, no collision to expect below 10^8 clients

_PSEUDONYM = re.compile(r"P-[A-Z2-7]{12}")


def default_key_file() -> Path:
    """``$FITDATA_KEY_FILE``, else ``$XDG_CONFIG_HOME/fitdata/pseudonym.key`` (~/.config)."""
    if os.environ.get("FITDATA_KEY_FILE"):
        return Path(os.environ["FITDATA_KEY_FILE"])
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "fitdata" / "pseudonym.key"


def load_or_create_key(path: Path, *, create: bool = True) -> bytes:
    """The pseudonymisation key in ``path``; a new random key is written there if missing.

    Args:
        path: The key file (kept outside the database, mode 0600).
        create: Write a new key when the file is missing; when False a throw-away key is
            returned instead (``--dry-run`` changes nothing on disk).

    Raises:
        IngestError: If the file can be read by others or does not hold a key.
    """
    if not path.exists():
        if not create:
            return secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path, create=False)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IngestError(
            f"The pseudonymisation key {path} can be read by others (mode {stat.S_IMODE(mode):o}). "
            f"Run `chmod 600 {path}` and try again."
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{64,}", text):
        raise IngestError(
            f"{path} does not hold a fitdata pseudonymisation key (64 hexadecimal characters). "
            "Restore the right key file: with another key the same clients get other codes."
        )
    return bytes.fromhex(text)


#: Longest masked value shown; a longer cell is cut (with "…") after this many characters.
MASKED_LENGTH = 40


def masked(value: object) -> str:
    """A value that may identify a person, masked so a message can point at it safely.

    Its shape stays (length, spaces, dots, dashes, ``@``) and so do its first two letters or
    digits and its last one; every other letter or digit becomes ``*``: ``01019010046`` is
    ``01********6``, ``Kari Nordmann`` is ``Ka** *******n``. With the file, row and column that
    is enough to find the cell and to tell which of two values it is, and too little to learn
    whose it is (docs/import.md, *Privacy at the door*). A value of fewer than eight letters and
    digits shows only its first (``Kari`` is ``K***``).
    """
    text = str(value).strip()
    clipped = len(text) > MASKED_LENGTH
    text = text[:MASKED_LENGTH]
    places = [i for i, c in enumerate(text) if c.isalnum()]
    shown = set(places[:2] + places[-1:]) if len(places) >= 8 else set(places[:1])
    out = "".join("*" if c.isalnum() and i not in shown else c for i, c in enumerate(text))
    if clipped:  # the last character shown is no longer the value's last
        out = "".join("*" if c.isalnum() and i == places[-1] else c for i, c in enumerate(out))
    return out + ("…" if clipped else "")


def _normalise_identifier(value: str) -> str:
    """Spaces and case do not matter; an identity number is its 11 digits, however written."""
    digits = national_id_digits(value)
    if digits is not None:
        return digits  # "010190 10046", "010190-10046" and Excel's 1019010046 are one person
    text = " ".join(str(value).split()).casefold()
    return re.sub(r"(?<=\d) (?=\d)", "", text)  # "010190 12345" is "01019012345"


def pseudonym(identifier: str, key: bytes) -> str:
    """The keyed pseudonym of one client identifier (a pseudonym stays as it is)."""
    if _PSEUDONYM.fullmatch(identifier):
        return identifier
    digest = hmac.new(key, _normalise_identifier(identifier).encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + base64.b32encode(digest.digest()).decode("ascii")[:PSEUDONYM_LENGTH]


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Replace every identifier by its keyed pseudonym (``P-`` + 12 base-32 characters).

    Values that already are pseudonyms are kept, so a rejects file written by an import with
    ``--pseudonymise`` can be corrected and imported again with the same option.
    """
    codes, uniques = pd.factorize(values)
    pseudonyms = [pseudonym(str(u), key) for u in uniques]
    merged, distinct = pd.factorize(pd.Index(pseudonyms, dtype="str"))
    codes = lift(codes, merged, -1)
    return pd.Series(pd.Categorical.from_codes(codes, distinct), index=values.index)
