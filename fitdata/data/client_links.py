"""Client links: a client's own page opened by a token, and the client scope it reads through.

A therapist hands a client one episode's forms for one session: a link for the client's phone
(or the therapist's tablet, handed over in the room). :func:`issue_client_link` makes the
token, :func:`redeem_client_link` turns it back into a :class:`ClientGrant` (or refuses it with
:class:`LinkRefused` and a reason), and :func:`client_reader` gives the page a reader that sees
that client's own rows of that episode and nothing else.

**The token carries the grant, encrypted.** Nothing is written when a link is issued: the
grant (a random link id, the episode, the client, the session's day, the forms, the expiry and
the mode) is packed into a few bytes, encrypted and authenticated under a secret key kept
**outside the database** in ``<db>.client-link-key`` (32 random bytes, mode 0600, made on first
use; ``$FITDATA_CLIENT_LINK_KEY_FILE`` names another file; deleting it invalidates every link).
The cipher is the standard library's only: two keys derived from the file's by HMAC-SHA256, a
keystream of HMAC-SHA256(key, nonce || counter) blocks XORed over the plaintext (a PRF in counter
mode, with a random 96-bit nonce per link), then HMAC-SHA256 over the whole token, truncated to
128 bits (encrypt-then-MAC). No id is readable in the URL, a changed character is ``altered``,
and a token made for another database (another key) is ``altered`` too.

**Used once per form.** ``client_form_uses`` (schema version 6) gets a row for the link and the
form in the same transaction as the session it wrote (:mod:`fitdata.features.client_page`);
a link whose every form has its row is ``used``. Expiry is in the token (default
:data:`CLIENT_LINK_HOURS`, at most :data:`CLIENT_LINK_MAX_HOURS`).

**Refusals read nothing.** :func:`redeem_client_link` checks the MAC and the expiry before it
reads anything; then it reads only ``client_form_uses`` rows of that link id and the episode's
own row. Every issue, opening and refusal is in the audit log (user ``client-link:<link id>``).

**The client scope.** :func:`client_reader` is a scoped reader (:class:`~fitdata.data.store.
ReadScope`) whose views hold only the client's own ratings of that episode (``sessions`` with
``rater = 'client'``), that episode's row and that client's row (therapist and team ids blank,
no birth year) and that client's ``client_page_settings`` row. Every other table of the file
(other sessions, participants, therapists, teams, users, changes, link uses ...) has an empty
view in front of it, **and** the reader refuses any query that names it (checked with DuckDB's
parser, as :mod:`fitdata.data.scope_sql` checks every scoped query). After the grant has expired
the reader answers nothing. Its scope's user is a :class:`~fitdata.data.access.User` named
``client-link:<link id>`` with the role ``client``, so :func:`fitdata.data.access.require_write`
refuses it and the audit log names the link.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from fitdata.data.access import AccessDenied, User, reader_user, require_write
from fitdata.data.audit_chain import append_entry
from fitdata.data.errors import StoreError
from fitdata.data.key_files import secret_key
from fitdata.data.scope_sql import scope_problem
from fitdata.data.store import Reader, ReadScope, reader_for
from fitdata.i18n import Translator

__all__ = [
    "CLIENT_LINK_HOURS",
    "CLIENT_LINK_MAX_HOURS",
    "CLIENT_TABLES",
    "FORMS",
    "LINK_PATH",
    "MODES",
    "REASONS",
    "ClientGrant",
    "LinkRefused",
    "answering_clients",
    "audit_client",
    "client_link_key",
    "client_link_path",
    "client_link_url",
    "client_reader",
    "grant_of",
    "issue_client_link",
    "link_user",
    "redeem_client_link",
    "used_forms",
]

#: How long a client link lasts by default (hours): a working day, so a link sent in the
#: morning still opens for the session's SRS in the afternoon.
CLIENT_LINK_HOURS = 12
#: The longest a link may last (hours): a week, for a link sent before a weekly session.
CLIENT_LINK_MAX_HOURS = 7 * 24
#: The forms a link may hand over, in the order the page asks for them.
FORMS: tuple[str, ...] = ("ors", "srs")
#: How the page is opened: on the client's own phone, or on the therapist's tablet handed over.
MODES: tuple[str, ...] = ("phone", "tablet")
#: Why a link is refused: changed or damaged, too old, every form sent, or not a link here.
REASONS: tuple[str, ...] = ("altered", "expired", "used", "unknown")
#: The path a person opens: ``/client/<token>``.
LINK_PATH = "/client/"
#: The tables a client reader may name; every other table is refused.
CLIENT_TABLES: frozenset[str] = frozenset(
    {"sessions", "episodes", "clients", "client_page_settings"}
)

_ENV_KEY_FILE = "FITDATA_CLIENT_LINK_KEY_FILE"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_LINK_ID_BYTES = 9
_PREFIX = "c1"
_EPOCH = dt.date(1970, 1, 1)
_UNIX = dt.datetime(1970, 1, 1)
# link id, expiry (s since 1970, UTC), session day (days since 1970), forms (bits), mode
_HEAD = struct.Struct(">9sIIBB")
_FORM_BITS = {"ors": 1, "srs": 2}


class LinkRefused(AccessDenied):
    """A client link that opens nothing; ``reason`` is one of :data:`REASONS`.

    The page shows a message for the reason (never the token's content); the audit log has it.
    """

    _TEXT = {
        "altered": "This client link was changed or is incomplete.",
        "expired": "This client link has expired.",
        "used": "This client link has been used: every form it gives has been sent.",
        "unknown": "This is not a client link of this database.",
    }

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}; expected one of {REASONS}")
        self.reason = reason
        super().__init__(self._TEXT[reason])

    def __reduce__(self) -> tuple[type[LinkRefused], tuple[str]]:
        """Pickle with the reason: a group-committed submission's refusal reaches its writer."""
        return (type(self), (self.reason,))

    def message(self, tr: Translator) -> str:
        """What the client's page says, in its language (``client_data.refused.<reason>``)."""
        return tr.text(f"client_data.refused.{self.reason}")


@dataclass(frozen=True)
class ClientGrant:
    """What one client link allows: one client's forms of one session in one episode.

    Attributes:
        link_id: A random id of this link (URL-safe; in the audit log and ``client_form_uses``).
        episode_id: The episode.
        client_id: The client who answers (the index client or another participant).
        session_date: The day of the session the forms are for.
        forms: The forms the link gives, a subset of :data:`FORMS`.
        expires_at: When the link stops working (UTC, naive).
        mode: ``phone`` (the client's own device) or ``tablet`` (handed over in the room).
    """

    link_id: str
    episode_id: str
    client_id: str
    session_date: dt.date
    forms: frozenset[str]
    expires_at: dt.datetime
    mode: str

    @property
    def user_name(self) -> str:
        """The name the audit log and the scope give this link: ``client-link:<link id>``."""
        return f"client-link:{self.link_id}"

    def expired(self, now: dt.datetime | None = None) -> bool:
        """Whether the link has expired at ``now`` (UTC, naive; default: now)."""
        return (now or _utc_now()) >= self.expires_at


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# -- the key and the cipher ---------------------------------------------------------------------


def _key_path(db: Path) -> Path:
    configured = os.environ.get(_ENV_KEY_FILE)
    return Path(configured) if configured else Path(f"{db}.client-link-key")


def client_link_key(db: str | os.PathLike[str], *, create: bool = True) -> bytes | None:
    """The secret key of client links, kept beside the database (see the module docstring).

    Args:
        db: The database file.
        create: Make the key file (32 random bytes, mode 0600) when there is none.

    Returns:
        The key, or None when there is no key file and ``create`` is False.

    Raises:
        StoreError: If the key file exists but is too short to be a key.
    """
    return secret_key(_key_path(Path(db)), what="client link", create=create)


def _subkey(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, b"fitdata-client-link-key|" + purpose, hashlib.sha256).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(key, nonce + struct.pack(">I", counter), hashlib.sha256).digest()
        for counter in range(-(-length // 32))
    )
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _tag(key: bytes, body: bytes) -> bytes:
    mac = hmac.new(_subkey(key, b"mac"), _PREFIX.encode() + b"|" + body, hashlib.sha256)
    return mac.digest()[:_TAG_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 255:
        raise StoreError(f"The id {value[:20]!r}... is too long for a client link.")
    return bytes([len(data)]) + data


def _pack(grant: ClientGrant) -> bytes:
    forms = sum(_FORM_BITS[f] for f in grant.forms)
    head = _HEAD.pack(
        _unb64(grant.link_id),
        int((grant.expires_at - _UNIX).total_seconds()),
        (grant.session_date - _EPOCH).days,
        forms,
        MODES.index(grant.mode),
    )
    return head + _text(grant.episode_id) + _text(grant.client_id)


def _unpack(plain: bytes) -> ClientGrant:
    link, expires, day, forms, mode = _HEAD.unpack_from(plain)
    rest = plain[_HEAD.size :]
    ids: list[str] = []
    for _ in range(2):
        size = rest[0]
        ids.append(rest[1 : 1 + size].decode("utf-8"))
        rest = rest[1 + size :]
    if rest or mode >= len(MODES) or not forms or forms & ~3:
        raise ValueError("not a grant")
    return ClientGrant(
        link_id=_b64(link),
        episode_id=ids[0],
        client_id=ids[1],
        session_date=_EPOCH + dt.timedelta(days=day),
        forms=frozenset(f for f, bit in _FORM_BITS.items() if forms & bit),
        expires_at=_UNIX + dt.timedelta(seconds=expires),
        mode=MODES[mode],
    )


def _seal(key: bytes, grant: ClientGrant) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    plain = _pack(grant)
    body = nonce + _xor(plain, _keystream(_subkey(key, b"enc"), nonce, len(plain)))
    return _PREFIX + _b64(body + _tag(key, body))


def _open(key: bytes, token: str) -> ClientGrant:
    """The grant in ``token`` (raises LinkRefused: unknown for a non-link, altered for a change)."""
    text = token.strip() if isinstance(token, str) else ""
    if not text.startswith(_PREFIX) or len(text) > 600:
        raise LinkRefused("unknown")
    try:
        raw = _unb64(text[len(_PREFIX) :])
    except ValueError:
        raise LinkRefused("altered") from None
    if _b64(raw) != text[len(_PREFIX) :] or len(raw) < _NONCE_BYTES + _HEAD.size + _TAG_BYTES:
        raise LinkRefused("altered")
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, body)):
        raise LinkRefused("altered")
    nonce, cipher = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
    try:
        return _unpack(_xor(cipher, _keystream(_subkey(key, b"enc"), nonce, len(cipher))))
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):
        raise LinkRefused("altered") from None


# -- the audit log ------------------------------------------------------------------------------


def link_user(grant: ClientGrant) -> User:
    """The user a client link reads as: named ``client-link:<link id>``, role ``client``.

    Not a row of ``users``: :func:`fitdata.data.access.require_write` refuses it (a role that is
    neither therapist, supervisor nor admin), and the audit log names the link.
    """
    return User(grant.user_name, "client")  # type: ignore[arg-type]


def _audit(db: Path, user: str, role: str, action: str, **fields: Any) -> None:
    entry = {
        "at": _utc_now().isoformat(timespec="seconds") + "Z",
        "user": user,
        "role": role,
        "action": action,
        "client_id": "",
        "episode_id": None,
        **fields,
    }
    append_entry(db, entry)


def audit_client(
    db: str | os.PathLike[str], grant: ClientGrant, action: str, **fields: Any
) -> None:
    """Append an entry for ``grant``'s link to the audit log (as ``client-link:<link id>``).

    Args:
        db: The database file.
        grant: The link.
        action: What happened (``client_form_submitted``, ...).
        **fields: More plain values for the entry (``form``, ``session_id`` ...); never a score.
    """
    _audit(
        Path(db),
        grant.user_name,
        "client",
        action,
        client_id=grant.client_id,
        episode_id=grant.episode_id,
        link_id=grant.link_id,
        **fields,
    )


# -- issuing and redeeming ----------------------------------------------------------------------


def _episode_row(reader: Reader, episode_id: str) -> tuple | None:
    rows = reader.rows(
        "SELECT client_id, therapist_id, team_id, ended FROM episodes WHERE episode_id = ?",
        [episode_id],
    )
    return rows[0] if rows else None


# The participants of an episode who rate themselves; the sessions' own clients too, should a
# writer have left out a participant row (fitdata check reports that). The team lets DuckDB
# skip every other team's sessions (store.SESSION_ORDER).
_ANSWERING = (
    "SELECT client_id FROM episode_participants WHERE episode_id = $episode "
    "AND rater = 'client' UNION SELECT client_id FROM sessions WHERE team_id = $team "
    "AND episode_id = $episode AND rater = 'client'"
)


def _answering(reader: Reader, episode_id: str, team_id: str) -> set[str]:
    rows = reader.rows(_ANSWERING, {"episode": episode_id, "team": team_id})
    return {str(c) for (c,) in rows}


def _is_participant(reader: Reader, episode: tuple, episode_id: str, client_id: str) -> bool:
    """Whether ``client_id`` answers for themself in the episode (index, partner, member)."""
    index, _, team_id, _ = episode
    return client_id == index or client_id in _answering(reader, episode_id, str(team_id))


def answering_clients(db: str | os.PathLike[str] | Reader, episode_id: str) -> tuple[str, ...]:
    """The clients who answer for themselves in an episode: the index client, then the others.

    A couple's or family's participants answer in turn on one device, each with a link of
    their own (:func:`issue_client_link` with ``client_id``); collateral raters (a parent, a
    teacher) are not among them.

    Args:
        db: The database file, or the therapist's (scoped) reader.
        episode_id: The episode.

    Raises:
        StoreError: If the episode is unknown (or not visible through the reader).
    """
    reader = db if isinstance(db, Reader) else reader_for(db)
    episode = _episode_row(reader, episode_id)
    if episode is None:
        raise StoreError(f"There is no episode {episode_id!r} (or it is not one of yours).")
    index = str(episode[0])
    return (index, *sorted(_answering(reader, episode_id, str(episode[2])) - {index}))


def issue_client_link(
    db: str | os.PathLike[str] | Reader,
    *,
    episode_id: str,
    client_id: str | None = None,
    session_date: dt.date | None = None,
    hours: float | None = None,
    forms: Iterable[str] = FORMS,
    mode: str = "phone",
    actor: str,
    now: dt.datetime | None = None,
) -> tuple[str, ClientGrant]:
    """Make a link that lets one client fill in one session's forms of one episode.

    Args:
        db: The database file, or the therapist's page reader: a scoped reader must see the
            episode and be allowed to register for it
            (:func:`fitdata.data.access.require_write`), else the link is refused.
        episode_id: The episode (ongoing).
        client_id: Who answers; None for the episode's index client. Another participant of a
            couple or family episode answers with a link of their own.
        session_date: The session's day (default today).
        hours: How long the link lasts (default :data:`CLIENT_LINK_HOURS`, at most
            :data:`CLIENT_LINK_MAX_HOURS`).
        forms: The forms it gives (default both, ORS then SRS).
        mode: ``phone`` or ``tablet``.
        actor: Who issues it (the therapist's user name); in the audit log.
        now: The time of issue (UTC, naive; default now).

    Returns:
        The token (URL-safe, ~90 characters; put it after :data:`LINK_PATH`) and its grant.

    Raises:
        StoreError: If the episode is unknown or ended, the client does not answer in it, or a
            value is out of range; AccessDenied if the reader's user may not register for it.
    """
    reader = db if isinstance(db, Reader) else reader_for(db)
    if not isinstance(actor, str) or not actor.strip():
        raise StoreError("Say who issues the client link (the therapist's user name).")
    wanted = frozenset(forms)
    if not wanted or not wanted <= set(FORMS):
        raise StoreError(f"A client link gives the forms {' and '.join(FORMS)}; not {set(wanted)}.")
    if mode not in MODES:
        raise StoreError(f"A client link is for a {' or a '.join(MODES)}, not {mode!r}.")
    hours = CLIENT_LINK_HOURS if hours is None else float(hours)
    if not 0 < hours <= CLIENT_LINK_MAX_HOURS:
        raise StoreError(
            f"A client link lasts more than 0 and at most {CLIENT_LINK_MAX_HOURS} hours; "
            f"not {hours:g}."
        )
    episode = _episode_row(reader, episode_id)
    if episode is None:
        raise StoreError(f"There is no episode {episode_id!r} (or it is not one of yours).")
    index, therapist_id, team_id, ended = episode
    if ended is not None:
        raise StoreError(
            f"The episode {episode_id} ended on {ended}; a client link is for an ongoing episode."
        )
    require_write(reader, str(team_id), str(therapist_id))
    client = index if client_id is None else client_id
    if not _is_participant(reader, episode, episode_id, client):
        raise StoreError(f"The client {client!r} does not answer in the episode {episode_id}.")
    issued = now or _utc_now()
    grant = ClientGrant(
        link_id=_b64(secrets.token_bytes(_LINK_ID_BYTES)),
        episode_id=str(episode_id),
        client_id=str(client),
        session_date=session_date or dt.date.today(),
        forms=wanted,
        expires_at=(issued + dt.timedelta(hours=hours)).replace(microsecond=0),
        mode=mode,
    )
    token = _seal(client_link_key(reader.path) or b"", grant)
    issuer = reader_user(reader)
    _audit(
        reader.path,
        actor.strip(),
        issuer.role if issuer is not None else "operator",
        "client_link_issued",
        client_id=grant.client_id,
        episode_id=grant.episode_id,
        link_id=grant.link_id,
        forms=sorted(grant.forms),
        mode=mode,
        session_date=grant.session_date.isoformat(),
        expires_at=grant.expires_at.isoformat() + "Z",
    )
    return token, grant


def used_forms(db: str | os.PathLike[str], link_id: str) -> frozenset[str]:
    """The forms of link ``link_id`` already sent (its ``client_form_uses`` rows; nothing else)."""
    rows = reader_for(db).rows("SELECT form FROM client_form_uses WHERE link_id = ?", [link_id])
    return frozenset(str(f) for (f,) in rows)


def redeem_client_link(
    db: str | os.PathLike[str], token: str, *, now: dt.datetime | None = None
) -> ClientGrant:
    """The grant of a client link, if it may still be used; refused otherwise.

    The MAC and the expiry are checked before anything is read; then only the link's
    ``client_form_uses`` rows and its episode's row. The opening, or the refusal with its
    reason, is recorded in the audit log.

    Args:
        db: The database file.
        token: The token from the link's path.
        now: The time (UTC, naive; default now).

    Raises:
        LinkRefused: ``altered`` (changed, cut short, or made for another database), ``expired``,
            ``used`` (every form sent) or ``unknown`` (not a client link, or its episode or
            client is no longer in the database).
    """
    path = Path(db)
    grant: ClientGrant | None = None
    try:
        key = client_link_key(path, create=False)
        if key is None:
            raise LinkRefused("unknown")  # no link was ever made for this database
        grant = _open(key, token)
        if grant.expired(now):
            raise LinkRefused("expired")
        if used_forms(path, grant.link_id) >= grant.forms:
            raise LinkRefused("used")
        reader = reader_for(path)
        episode = _episode_row(reader, grant.episode_id)
        if episode is None or not _is_participant(
            reader, episode, grant.episode_id, grant.client_id
        ):
            raise LinkRefused("unknown")
    except LinkRefused as refused:
        if grant is None:
            _audit(path, "client-link:?", "client", "client_link_refused", reason=refused.reason)
        else:
            audit_client(path, grant, "client_link_refused", reason=refused.reason)
        raise
    audit_client(path, grant, "client_link_opened", mode=grant.mode)
    return grant


def client_link_path(token: str) -> str:
    """The path a person opens for ``token``: ``/client/<token>``."""
    return LINK_PATH + token


def client_link_url(token: str, base_url: str) -> str:
    """The full link for ``token`` on the server at ``base_url`` (``https://host[:port][/prefix]``)."""
    return base_url.rstrip("/") + client_link_path(token)


# -- the client scope ---------------------------------------------------------------------------


def _literal(value: str) -> str:
    quoted = "'" + str(value).replace("'", "''") + "'"
    return quoted.replace("{", "{{").replace("}", "}}")


def _client_views(reader: Reader, grant: ClientGrant) -> tuple[tuple[str, str], ...]:
    """The views of the client scope: the client's own rows; every other table empty."""
    episode, client = _literal(grant.episode_id), _literal(grant.client_id)
    team = reader.rows("SELECT team_id FROM episodes WHERE episode_id = ?", [grant.episode_id])
    # the team narrows the read to that team's row groups (store.SESSION_ORDER)
    team_where = f"team_id = {_literal(str(team[0][0]))} AND " if team else "false AND "
    blank = "REPLACE ('' AS therapist_id, '' AS team_id)"
    own = {
        "sessions": f"SELECT * {blank} FROM {{db}}.sessions WHERE {team_where}"
        f"episode_id = {episode} AND client_id = {client} AND rater = 'client'",
        "episodes": f"SELECT * {blank} FROM {{db}}.episodes WHERE episode_id = {episode}",
        "clients": "SELECT * REPLACE (NULL::SMALLINT AS birth_year) FROM {db}.clients "
        f"WHERE client_id = {client}",
        "client_page_settings": "SELECT * REPLACE ('' AS set_by) FROM {db}.client_page_settings "
        f"WHERE client_id = {client}",
    }
    tables = [
        str(t)
        for (t,) in reader.rows(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND database_name = current_database()"
        )
    ]
    views = [(name, own[name]) for name in sorted(own) if name in tables]
    views += [
        (t, f'SELECT * FROM {{db}}."{t}" WHERE false')
        for t in sorted(tables)
        if t not in own and t != "audit_anchor"
    ]
    return tuple(views)


_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _problem(sql: str) -> str:
    """Why a client reader may not run ``sql`` ("" if it may); DuckDB's parser, in memory."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(
                ":memory:",
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
        return scope_problem(_parser, sql, CLIENT_TABLES)


class _ClientReader(Reader):
    """A scoped reader that also refuses every table but :data:`CLIENT_TABLES` by name."""

    def __init__(self, inner: Reader, grant: ClientGrant) -> None:
        self.path = inner.path
        self.scope = inner.scope
        self.grant = grant
        self._inner = inner

    def _check(self, sql: str) -> None:
        problem = _problem(sql)
        if problem:
            raise StoreError(
                f"This query is not allowed on a client's page: {problem}. A client's page "
                f"reads {', '.join(sorted(CLIENT_TABLES))} only."
            )

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one query within the client's scope; a DataFrame."""
        self._check(sql)
        return self._inner.df(sql, params)

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one query within the client's scope; its rows."""
        self._check(sql)
        return self._inner.rows(sql, params)

    def buffer_mb(self) -> float:
        """Memory DuckDB holds for the file in this process (MB)."""
        return self._inner.buffer_mb()

    def close(self) -> None:
        """Close the shared connection (reopened on the next query)."""
        self._inner.close()

    def scoped(self, scope: ReadScope) -> Reader:
        """Scopes do not nest: refused."""
        raise StoreError("A client's reader cannot be scoped again.")


def client_reader(db: str | os.PathLike[str], grant: ClientGrant) -> Reader:
    """The reader of a client's page: that client's own rows of that episode, nothing else.

    See the module docstring for what its views hold. Queries naming any other table are
    refused (:class:`~fitdata.data.errors.StoreError`), and once the grant has expired every
    query is refused with :class:`LinkRefused` (``expired``).
    """
    base = reader_for(db)

    def unexpired(scope: ReadScope) -> None:
        if grant.expired():
            raise LinkRefused("expired")

    scope = ReadScope(
        grant.user_name, _client_views(base, grant), link_user(grant), guard=unexpired
    )
    return _ClientReader(base.scoped(scope), grant)


def grant_of(reader: Reader) -> ClientGrant | None:
    """The grant a :func:`client_reader` reads for; None for any other reader."""
    return reader.grant if isinstance(reader, _ClientReader) else None
