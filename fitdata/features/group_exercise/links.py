"""Links from the team case review: a set of cases in a URL, without an id in it.

:func:`case_token` and :func:`resolve` let the team case review (a separate page) hand a set of
cases to the group exercise without putting ids in the URL: the token holds, per case, a
truncated HMAC-SHA256 of the episode and client ids under a secret key that lives **outside
the database** (:func:`link_key`), keyed also by the day it was issued so tokens from different
days cannot be linked. :func:`resolve` recomputes the tags for the episodes of the token's teams
(team ids are not client-identifying) and returns the matching cases; a token made with another
key, changed, or older than ``max_age_days`` is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import struct
from collections.abc import Iterable
from pathlib import Path

from fitdata.data.key_files import secret_key
from fitdata.data.store import Reader
from fitdata.features.group_exercise.cases import CaseRef

__all__ = ["InvalidToken", "case_token", "link_key", "resolve"]

_ENV_KEY_FILE = "FITDATA_LINK_KEY_FILE"
_TAG_BYTES = 8
_MAC_BYTES = 12
_TOKEN_PREFIX = "g1"
_EPOCH = dt.date(1970, 1, 1)


class InvalidToken(ValueError):
    """A case link that cannot be used here (changed, made with another key, or too old)."""


def link_key(db_path: str | os.PathLike[str]) -> bytes:
    """The secret key for case links, kept outside the database.

    The key file is ``$FITDATA_LINK_KEY_FILE`` or, by default, ``<database>.link-key`` beside
    the database. It is created on first use (32 random bytes, mode 0600). Every dashboard
    kernel of a ``fitdata serve`` uses the same file, so a link made on one page resolves on
    another. Deleting the file invalidates every link.

    Raises:
        InvalidToken: If the key file exists but is too short to be a key.
    """
    configured = os.environ.get(_ENV_KEY_FILE)
    path = Path(configured) if configured else Path(f"{Path(db_path)}.link-key")
    return secret_key(path, what="case link", error=InvalidToken)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, day: int, episode_id: str, client_id: str) -> bytes:
    message = f"fitdata-case|{day}|{episode_id}|{client_id}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"fitdata-case-set|" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def case_token(
    cases: Iterable[CaseRef | tuple[str, str, str]],
    *,
    key: bytes,
    issued: dt.date | None = None,
) -> str:
    """An opaque token for a set of cases, safe to put in a URL.

    Args:
        cases: The cases, in the order they should be presented, as :class:`CaseRef` or
            ``(episode_id, client_id, team_id)``.
        key: The secret from :func:`link_key`.
        issued: The day the link is made (default today); part of every tag, so the same
            case gets a different tag on another day.

    Returns:
        ``g1.<teams>.<body>.<mac>``: the teams' ids (not client-identifying, used to narrow
        the search) and, per case, a truncated HMAC-SHA256 of its ids.

    Raises:
        ValueError: If no case is given.
    """
    refs = [c if isinstance(c, CaseRef) else CaseRef(*map(str, c)) for c in cases]
    if not refs:
        raise ValueError("a case link needs at least one case")
    day = ((issued or dt.date.today()) - _EPOCH).days
    body = struct.pack(">I", day) + b"".join(
        _tag(key, day, r.episode_id, r.client_id) for r in refs
    )
    teams = sorted({r.team_id for r in refs})
    teams_text = _b64("\n".join(teams).encode())
    return ".".join(
        [_TOKEN_PREFIX, teams_text, _b64(body), _b64(_mac(key, teams_text.encode() + body))]
    )


def resolve(
    reader: Reader,
    token: str,
    *,
    key: bytes,
    today: dt.date | None = None,
    max_age_days: int = 14,
) -> list[CaseRef]:
    """The cases behind a :func:`case_token`, in the token's order.

    Args:
        reader: The database.
        token: The token from the URL or pasted by the supervisor.
        key: The secret from :func:`link_key`.
        today: The day to judge the token's age by (default today).
        max_age_days: Tokens older than this many days are refused.

    Returns:
        The cases found; a case no longer in the database is left out.

    Raises:
        InvalidToken: If the token is malformed, was changed or made with another key, or is
            too old.
    """
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != _TOKEN_PREFIX:
        raise InvalidToken("This is not a case link from the case review.")
    _, teams_text, body_text, mac_text = parts
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
        teams = [t for t in _unb64(teams_text).decode("utf-8").split("\n") if t]
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken(
            "This case link is damaged; copy it again from the case review."
        ) from None
    if not hmac.compare_digest(mac, _mac(key, teams_text.encode() + body)):
        raise InvalidToken(
            "This case link was not made here (or was changed); open it again from the case review."
        )
    if len(body) < 4 + _TAG_BYTES or (len(body) - 4) % _TAG_BYTES:
        raise InvalidToken("This case link is damaged; copy it again from the case review.")
    (day,) = struct.unpack(">I", body[:4])
    age = ((today or dt.date.today()) - _EPOCH).days - day
    if age > max_age_days:
        raise InvalidToken(
            f"This case link is {age} days old; links last {max_age_days} days. Make a new "
            "one in the case review."
        )
    wanted = [body[i : i + _TAG_BYTES] for i in range(4, len(body), _TAG_BYTES)]
    candidates = reader.df(
        """
        SELECT DISTINCT s.episode_id, s.client_id, e.team_id
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id IN (SELECT unnest($teams::VARCHAR[])) AND s.rater = 'client'
        """,
        {"teams": teams},
    )
    by_tag = {
        _tag(key, day, e, c): CaseRef(str(e), str(c), str(t))
        for e, c, t in zip(
            candidates["episode_id"], candidates["client_id"], candidates["team_id"], strict=True
        )
    }
    return [by_tag[tag] for tag in wanted if tag in by_tag]
