"""Privacy at the door: national identity numbers, person names, and keyed pseudonyms.

* A Norwegian national identity number (fødselsnummer) is 11 digits, DDMMYY and five more,
  the last two being mod-11 check digits. A D-number adds 4 to the first digit (day + 40),
  an H-number adds 4 to the third (month + 40), and synthetic test numbers (Tenor) add 8 to
  the third. :func:`is_national_id` checks the date part and both check digits, so ordinary
  11-digit numbers are rarely mistaken for one (1 in about 120).
* A pseudonym is ``P-`` and 12 base-32 characters of HMAC-SHA256(key, identifier): the same
  key always gives the same pseudonym, so re-imports match, and without the key nobody can
  go back from a pseudonym to a person (or test guesses). The key lives in a file outside the
  database, readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from fitdata.ingest.problems import IngestError
from fitdata.ingest.validate import distinct, lift

__all__ = [
    "PSEUDONYM_PREFIX",
    "default_key_file",
    "find_national_ids",
    "is_national_id",
    "load_or_create_key",
    "looks_like_person_name",
    "pseudonym",
    "pseudonymise",
]

PSEUDONYM_PREFIX = "P-"
PSEUDONYM_LENGTH = 12  # base-32 characters: 60 bits, no collision to expect below 10^8 clients

_WEIGHTS_1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
_WEIGHTS_2 = np.array([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
_PSEUDONYM = re.compile(r"P-[A-Z2-7]{12}")
_CANDIDATE = re.compile(r"(?<!\d)(\d{6}) ?(\d{5})(?!\d)")
_NAME = re.compile(
    r"^\s*(?:[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó'’\-]+\s+){1,3}[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó'’\-]+\s*$"
    r"|^\s*[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó'’\-]+,\s*[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó'’\-]+\s*$"
)


def _check_digit(digits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """11 - (weighted sum mod 11); 11 becomes 0 and 10 means no valid number (-1)."""
    digit = 11 - (digits[:, : len(weights)] @ weights) % 11
    return np.where(digit == 11, 0, np.where(digit == 10, -1, digit))


def _valid_ids(numbers: np.ndarray) -> np.ndarray:
    """For 11-character digit strings: whether each is a valid identity number."""
    if len(numbers) == 0:
        return np.zeros(0, dtype=bool)
    # \d also matches other scripts' digits (e.g. full-width "１"): read them as their values
    ascii_numbers = [
        n if n.isascii() else "".join(str(unicodedata.decimal(c)) for c in n) for n in numbers
    ]
    digits = (
        np.frombuffer("".join(ascii_numbers).encode("ascii"), dtype=np.uint8).reshape(-1, 11) - 48
    ).astype(np.int64)
    day = digits[:, 0] * 10 + digits[:, 1]
    month = digits[:, 2] * 10 + digits[:, 3]
    day_ok = ((day >= 1) & (day <= 31)) | ((day >= 41) & (day <= 71))  # D-numbers add 40
    month_ok = (
        ((month >= 1) & (month <= 12))
        | ((month >= 41) & (month <= 52))  # H-numbers
        | ((month >= 81) & (month <= 92))  # synthetic test numbers (Tenor)
    )
    k1 = _check_digit(digits, _WEIGHTS_1)
    k2 = _check_digit(digits, _WEIGHTS_2)
    return day_ok & month_ok & (k1 == digits[:, 9]) & (k2 == digits[:, 10])


def is_national_id(value: str) -> bool:
    """Whether ``value`` is an 11-digit Norwegian identity number (or D-/H-number).

    One space between the date part and the personal number is allowed (``010190 12345``).
    """
    match = re.fullmatch(r"\s*(\d{6}) ?(\d{5})\s*", value)
    return bool(match) and bool(_valid_ids(np.array([match.group(1) + match.group(2)]))[0])


def find_national_ids(values: pd.Series) -> np.ndarray:
    """Whether each value contains an identity number somewhere (vectorised over uniques)."""
    codes, uniques = distinct(values)
    text = pd.Series(uniques, dtype="str")
    long_enough = (text.str.len() >= 11).to_numpy(dtype=bool)  # cheap test before the regex
    valid = np.zeros(len(uniques), dtype=bool)
    if long_enough.any():
        found = text[long_enough].str.extract(_CANDIDATE)
        present = found[0].notna().to_numpy()
        numbers = (found[0][present] + found[1][present]).to_numpy(dtype=object)
        candidates = np.flatnonzero(long_enough)[present]
        valid[candidates] = _valid_ids(numbers)
    return lift(codes, valid, False)


def looks_like_person_name(values: pd.Series) -> np.ndarray:
    """Whether each value looks like "Firstname Lastname" or "Lastname, Firstname"."""
    codes, uniques = distinct(values)
    texts = pd.Series(uniques, dtype="str").fillna("").tolist()
    # a plain loop over the distinct values: pandas' .str.match with a compiled pattern costs
    # four times as much (about 0.8 s for the 140,000 clients of a million sessions)
    matches = np.fromiter((_NAME.match(t) is not None for t in texts), dtype=bool, count=len(texts))
    return lift(codes, matches, False)


def mask_value(value: str) -> str:
    """An identity number or name shortened so a message does not repeat it in full."""
    text = str(value).strip()
    return text[:2] + "…" if len(text) > 2 else "…"


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


def _normalise_identifier(value: str) -> str:
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
