"""Who may see what: users and roles, scoped readers and the kernel's identity.

Enforcement lives in the query layer, not in the widgets. Every dashboard reads through
:func:`reader_for_user`, which gives the kernel's user a :class:`~fitdata.data.store.Reader` whose
``sessions``, ``episodes``, ``clients``, ``session_changes``, ``episode_participants`` and
``client_page_settings`` are temporary views restricted to what the role may see
(:func:`scope_for`). Every package query names those tables plainly, so it is scoped without
knowing it, and the scoped reader refuses queries that could step around the views
(catalog-qualified tables, ATTACH, table functions such as ``query_table``) or that name
``client_form_uses`` (a client link's bookkeeping, which no scoped reader reads).

========== ===================================================================================
role       sees
========== ===================================================================================
therapist  the episodes whose ``therapist_id`` is theirs, with every session (all raters and
           partners of a couple/family episode), their participants, and the clients in
           them with those clients' page settings
supervisor the episodes of their teams (``episodes.team_id``), likewise
leader     every row **de-identified**: client and episode ids replaced by a keyed hash that
           changes with every kernel (participants too), birth years removed, no page
           settings. Aggregates (service summary, indices) work and suppress small cells as
           before; client-level functions refuse with :class:`AccessDenied`
admin      everything
========== ===================================================================================

Comparisons with colleagues (the therapist development page's team and service figures) are
computed through :func:`aggregate_reader`: a de-identified view of the rows of the teams the
user may compare with (a therapist: her own service), which answers only while a result shared
by everyone who compares with those teams is computed, so a therapist gets suppressed team and
service aggregates and no row of another therapist's client. The service page reads through
the user's own reader: a therapist's service page sums up her own episodes.

Access control is on as soon as the ``users`` table has a user. With no users (a single-user
install) every reader is unrestricted, as before. The kernel's user is, in this order: the user
bound from the verified login of the page request (:func:`bind_login_user`, see
``fitdata.server.login``), then ``$JUPYTERHUB_USER`` (JupyterHub's single-user servers), then
``$FITDATA_USER`` (``fitdata serve --user``). A user who is not in the table gets no data and
a message that says why.

Opening a client's data through a scoped reader is recorded in the audit log
(:mod:`fitdata.data.audit`; its functions are importable from here too).

A little over 600 lines, on purpose: users, their tokens, the scope each role gets and the
kernel's bound identity are one rule read together (who is this, and what may they see), and a
reviewer checking access should find all of it in one file.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fitdata.data.audit import AuditEntry, audit_path, read_audit, record_access, verify_audit
from fitdata.data.cache import MemoryCache, computing_shared
from fitdata.data.store import Reader, ReadScope, StoreError, reader_for, write_transaction
from fitdata.i18n import Translator, environment_language
from fitdata.kernel_env import (
    ENV_HUB_USER,
    ENV_LOGIN,
    ENV_LOGIN_USER,
    ENV_USER,
    LOGIN_USER_HEADER,
)

__all__ = [
    "CLIENT_ROLE",
    "reader_user",
    "ENV_HUB_USER",
    "ENV_LOGIN",
    "ENV_LOGIN_USER",
    "ENV_USER",
    "LOGIN_USER_HEADER",
    "ROLES",
    "AccessDenied",
    "AuditEntry",
    "Role",
    "User",
    "add_user",
    "aggregate_reader",
    "audit_path",
    "bind_login_user",
    "bind_user",
    "current_user",
    "find_user",
    "is_aggregate_reader",
    "list_users",
    "read_audit",
    "reader_for_user",
    "record_access",
    "remove_user",
    "require_client_rows",
    "require_write",
    "scope_for",
    "user_for_token",
    "user_name",
    "verify_audit",
]

Role = Literal["therapist", "supervisor", "leader", "admin", "client"]
#: The roles of the ``users`` table (the people who log in).
ROLES: tuple[Role, ...] = ("therapist", "supervisor", "leader", "admin")
#: The role of a client link's reader (:func:`fitdata.data.client_links.link_user`): never a row
#: of ``users``, never a login; it reads that client's own rows and writes nothing here.
CLIENT_ROLE: Role = "client"


# Login names: letters, digits and . _ @ - (JupyterHub names, e-mail style names).
_NAME = re.compile(r"[\w.@-]{1,64}")


class AccessDenied(StoreError):
    """The kernel's user may not see this; the message says why (shown in the page)."""


def _tr() -> Translator:
    return Translator(environment_language())


@dataclass(frozen=True)
class User:
    """One row of the ``users`` table."""

    name: str
    role: Role
    therapist_id: str | None = None
    team_ids: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    created_by: str = ""

    @property
    def client_rows(self) -> bool:
        """Whether this user may see rows of identifiable clients (every role but leader)."""
        return self.role != "leader"

    def describe(self) -> str:
        """``name (role: what)`` for lists and logs."""
        what = {
            "therapist": f"therapist {self.therapist_id}",
            "supervisor": "teams " + ", ".join(self.team_ids),
            "leader": "aggregates only",
            "admin": "everything",
            "client": "a client link: that client's own rows of one episode",
        }[self.role]
        return f"{self.name} ({self.role}: {what})"


# --------------------------------------------------------------------------------------------
# The users table
# --------------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _validate_user(name: str, role: str, therapist_id: str | None, team_ids: Sequence[str]) -> None:
    if not _NAME.fullmatch(name):
        raise StoreError(
            f"The user name {name!r} is not valid: use 1-64 letters, digits and . _ @ - "
            "(the login name, e.g. the JupyterHub user name)."
        )
    if role not in ROLES:
        raise StoreError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if role == "therapist" and not therapist_id:
        raise StoreError("A therapist needs --therapist ID (their id in the therapists table).")
    if role != "therapist" and therapist_id:
        raise StoreError(f"--therapist is for the therapist role only, not {role}.")
    if role == "supervisor" and not team_ids:
        raise StoreError("A supervisor needs at least one --team ID (the teams they supervise).")
    if role != "supervisor" and team_ids:
        raise StoreError(f"--team is for the supervisor role only, not {role}.")


def add_user(
    db: str | os.PathLike[str],
    name: str,
    role: str,
    *,
    therapist_id: str | None = None,
    team_ids: Sequence[str] = (),
    created_by: str | None = None,
    token: bool = False,
) -> str | None:
    """Add a user to the database's ``users`` table (one write transaction).

    Args:
        db: The database file.
        name: The login name (the JupyterHub user name, or the name for a token login).
        role: One of :data:`ROLES`.
        therapist_id: For a therapist: their id in ``therapists``.
        team_ids: For a supervisor: the teams they supervise (ids in ``teams``).
        created_by: Who adds the user (default: the operating-system user).
        token: Also create a login token for a shared ``fitdata serve`` (only its hash is
            stored; the token is returned once).

    Returns:
        The new login token when ``token`` is set, else None.

    Raises:
        StoreError: If the name, role or ids are not valid, the therapist or a team does not
            exist, or the user exists already.
    """
    teams = tuple(dict.fromkeys(team_ids))
    _validate_user(name, role, therapist_id, teams)
    new_token = secrets.token_urlsafe(32) if token else None
    with write_transaction(db) as con:
        if con.execute("SELECT 1 FROM users WHERE user_name = ?", [name]).fetchall():
            raise StoreError(
                f"There is already a user {name!r}; remove it first with "
                f"`fitdata users remove {name}` to change its role."
            )
        if therapist_id is not None:
            found = con.execute(
                "SELECT 1 FROM therapists WHERE therapist_id = ?", [therapist_id]
            ).fetchall()
            if not found:
                raise StoreError(
                    f"There is no therapist {therapist_id!r} in {db}; use an id from the "
                    "therapists table (the client graph's therapist list shows them)."
                )
        if teams:
            known = {
                r[0]
                for r in con.execute(
                    "SELECT team_id FROM teams WHERE team_id IN (SELECT unnest(?::VARCHAR[]))",
                    [list(teams)],
                ).fetchall()
            }
            missing = [t for t in teams if t not in known]
            if missing:
                raise StoreError(
                    f"There is no team {', '.join(repr(t) for t in missing)} in {db}; use ids "
                    "from the teams table."
                )
        con.execute(
            "INSERT INTO users (user_name, role, therapist_id, team_ids, token_sha256, "
            "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                role,
                therapist_id,
                list(teams),
                _token_hash(new_token) if new_token else None,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                created_by or getpass.getuser(),
            ],
        )
    return new_token


def remove_user(db: str | os.PathLike[str], name: str) -> None:
    """Remove a user; their open dashboards lose access at their next query.

    Raises:
        StoreError: If there is no such user.
    """
    with write_transaction(db) as con:
        if not con.execute("SELECT 1 FROM users WHERE user_name = ?", [name]).fetchall():
            raise StoreError(f"There is no user {name!r}; `fitdata users list` shows them.")
        con.execute("DELETE FROM users WHERE user_name = ?", [name])


_USER_COLUMNS = "user_name, role, therapist_id, team_ids, created_at, created_by"


def _user(row: tuple) -> User:
    name, role, therapist_id, team_ids, created_at, created_by = row
    return User(name, role, therapist_id, tuple(team_ids or ()), created_at, created_by)


def list_users(db: str | os.PathLike[str]) -> list[User]:
    """Every user of the database, by name."""
    rows = reader_for(db).rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY user_name")
    return [_user(r) for r in rows]


def find_user(db: str | os.PathLike[str], name: str) -> User | None:
    """The user called ``name``, or None."""
    return _users_by_name(reader_for(db)).get(name)


def user_for_token(db: str | os.PathLike[str], token: str) -> User | None:
    """The user whose login token this is, or None (compared by hash, in constant time)."""
    if not token:
        return None
    wanted = _token_hash(token)
    rows = reader_for(db).rows(
        f"SELECT {_USER_COLUMNS}, token_sha256 FROM users WHERE token_sha256 IS NOT NULL"
    )
    for row in rows:
        if secrets.compare_digest(row[-1], wanted):
            return _user(row[:-1])
    return None


# --------------------------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------------------------


def _literal(value: str) -> str:
    """A SQL string literal for a view's text (braces doubled: the text is a format template)."""
    quoted = "'" + value.replace("'", "''") + "'"
    return quoted.replace("{", "{{").replace("}", "}}")


def _in_list(values: Iterable[str]) -> str:
    return ", ".join(_literal(v) for v in values)


# Nobody but an admin reads the users table through a scoped reader.
_NO_USERS = ("users", "SELECT * FROM {db}.users WHERE false")


def _row_scope(key: str, episodes_where: str, user: User) -> ReadScope:
    own = f"SELECT episode_id FROM {{db}}.episodes WHERE {episodes_where}"
    # The clients of the scope's episodes: every session's client, the index clients, and the
    # participants (a partner who joined may have no session yet).
    own_clients = (
        f"SELECT client_id FROM {{db}}.sessions WHERE episode_id IN ({own}) "
        f"UNION SELECT client_id FROM {{db}}.episodes WHERE {episodes_where} "
        f"UNION SELECT client_id FROM {{db}}.episode_participants WHERE episode_id IN ({own})"
    )
    views = (
        ("episodes", f"SELECT * FROM {{db}}.episodes WHERE {episodes_where}"),
        ("sessions", f"SELECT * FROM {{db}}.sessions WHERE episode_id IN ({own})"),
        ("clients", f"SELECT * FROM {{db}}.clients WHERE client_id IN ({own_clients})"),
        ("session_changes", f"SELECT * FROM {{db}}.session_changes WHERE episode_id IN ({own})"),
        (
            "episode_participants",
            f"SELECT * FROM {{db}}.episode_participants WHERE episode_id IN ({own})",
        ),
        (
            "client_page_settings",
            f"SELECT * FROM {{db}}.client_page_settings WHERE client_id IN ({own_clients})",
        ),
        # case discussions (issue 22): those of the scope's episodes, like session_changes
        ("case_discussions", f"SELECT * FROM {{db}}.case_discussions WHERE episode_id IN ({own})"),
        (
            "case_discussion_changes",
            f"SELECT * FROM {{db}}.case_discussion_changes WHERE episode_id IN ({own})",
        ),
        _NO_USERS,
    )
    return ReadScope(key, views, user)


def _deidentified_scope(
    key: str,
    salt: str,
    user: User,
    *,
    hide_therapists: bool,
    team_ids: Sequence[str] | None = None,
    guard: Callable[[ReadScope], None] | None = None,
) -> ReadScope:
    """Every row (or every row of ``team_ids``) with client and episode ids hashed."""

    def hashed(column: str) -> str:
        return f"md5({_literal(salt)} || {column}) AS {column}"

    ids = ["client_id", "episode_id"] + (["therapist_id"] if hide_therapists else [])
    replaced = ", ".join(hashed(c) for c in ids)
    changes = ", ".join(
        [hashed("client_id"), hashed("episode_id")]
        + (["'' AS changed_by"] if hide_therapists else [])
    )
    flag_client = f"md5({_literal(salt)} || f.client_id)"
    discussion = ", ".join(
        [hashed("episode_id")]
        + ([hashed("therapist_id")] if hide_therapists else [])
        + [
            "NULL::VARCHAR AS note",
            "'' AS recorded_by",
            f"list_transform(flags_then, lambda f: {{{{'client_id': {flag_client}, 'flag': f.flag, "
            "'session_no': f.session_no}}) AS flags_then",
        ]
    )
    teams = "" if team_ids is None else f" WHERE team_id IN ({_in_list(team_ids) or 'NULL'})"
    clients = episodes = ""
    if team_ids is not None:
        episodes = f" WHERE episode_id IN (SELECT episode_id FROM {{db}}.episodes{teams})"
        clients = (
            f" WHERE client_id IN (SELECT client_id FROM {{db}}.sessions{teams} "
            f"UNION SELECT client_id FROM {{db}}.episodes{teams} "
            f"UNION SELECT client_id FROM {{db}}.episode_participants{episodes})"
        )
    views = (
        ("sessions", f"SELECT * REPLACE ({replaced}) FROM {{db}}.sessions{teams}"),
        ("episodes", f"SELECT * REPLACE ({replaced}) FROM {{db}}.episodes{teams}"),
        (
            "clients",
            f"SELECT * REPLACE ({hashed('client_id')}, NULL::SMALLINT AS birth_year) "
            f"FROM {{db}}.clients{clients}",
        ),
        ("session_changes", f"SELECT * REPLACE ({changes}) FROM {{db}}.session_changes{episodes}"),
        (
            "episode_participants",
            f"SELECT * REPLACE ({hashed('client_id')}, {hashed('episode_id')}) "
            f"FROM {{db}}.episode_participants{episodes}",
        ),
        # Whether a client sees their own graph is no aggregate: no rows de-identified.
        ("client_page_settings", "SELECT * FROM {db}.client_page_settings WHERE false"),
        # Case discussions for aggregates (issue 22): ids hashed, no note, no recorder, the
        # flags' client ids hashed; a correction's reason and old note removed.
        (
            "case_discussions",
            f"SELECT * REPLACE ({discussion}) FROM {{db}}.case_discussions{episodes}",
        ),
        (
            "case_discussion_changes",
            f"SELECT * REPLACE ({hashed('episode_id')}, '' AS changed_by, '' AS reason, "
            f"NULL::VARCHAR AS old_note) FROM {{db}}.case_discussion_changes{episodes}",
        ),
        _NO_USERS,
    )
    return ReadScope(key, views, user, guard)


#: The scope key of :func:`aggregate_reader` (followed by ``:`` and a hash of the teams compared,
#: when they are not every team): the same for every user who compares with the same teams.
AGGREGATE_SCOPE = "aggregate"

# A new key for every kernel: de-identified ids cannot be matched across kernels or days.
_SALT = secrets.token_hex(16)


def scope_for(user: User) -> ReadScope:
    """The views through which ``user`` reads the database (see the module docstring)."""
    key = f"{user.role}:{user.name}"
    if user.role == "therapist":
        where = f"therapist_id = {_literal(str(user.therapist_id))}"
        return _row_scope(key, where, user)
    if user.role == "supervisor":
        return _row_scope(key, f"team_id IN ({_in_list(user.team_ids)})", user)
    if user.role == "leader":
        return _deidentified_scope(key, _SALT, user, hide_therapists=False)
    return ReadScope(key, (), user)


# --------------------------------------------------------------------------------------------
# The kernel's identity
# --------------------------------------------------------------------------------------------

_bound_user: str | None = None
_bind_lock = threading.Lock()


def bind_user(name: str) -> None:
    """Fix this kernel's user (:func:`bind_login_user` calls it with the page's login).

    A kernel has one identity for its life: binding another name later is refused, so nothing
    that runs afterwards can switch to another user's scope.

    Raises:
        AccessDenied: If the kernel is bound to another user already.
    """
    global _bound_user
    with _bind_lock:
        if _bound_user is not None and _bound_user != name:
            raise AccessDenied(_tr().text("access.error.rebind"))
        _bound_user = name


def bind_login_user() -> str | None:
    """Bind this kernel to the logged-in user of its page, on a ``fitdata serve --users`` server.

    Call it once the page request has arrived (a preheated kernel first waits for it). On other
    servers (a single-user install, JupyterHub) it does nothing: their kernels know their user
    from the environment.

    Returns:
        The bound user's name, or None when the server has no personal logins.

    Raises:
        AccessDenied: If the server has personal logins but the request carried no login, or
            the kernel is bound to another user already.
    """
    if os.environ.get(ENV_LOGIN) != "users":
        return None
    name = os.environ.get(ENV_LOGIN_USER, "")
    if not name:
        raise AccessDenied(_tr().text("access.error.no_user"))
    bind_user(name)
    return name


def current_user() -> str | None:
    """The kernel's user name: bound by the server, else from JupyterHub, else $FITDATA_USER."""
    return _bound_user or os.environ.get(ENV_HUB_USER) or os.environ.get(ENV_USER) or None


_users: MemoryCache[dict[str, User]] = MemoryCache(8)


def _users_by_name(reader: Reader) -> dict[str, User]:
    """The users table, read once per file version (a writer replaces the file to change it)."""

    def read() -> dict[str, User]:
        return {u.name: u for u in map(_user, reader.rows(f"SELECT {_USER_COLUMNS} FROM users"))}

    return _users.get(reader, "users", read)


def _kernel_user(db_path: str | os.PathLike[str], user: str | None) -> tuple[Reader, User | None]:
    base = reader_for(db_path)
    users = _users_by_name(base)
    if not users:
        return base, None  # access control is off: nobody has been added yet
    name = user if user is not None else current_user()
    if not name:
        raise AccessDenied(_tr().text("access.error.no_user"))
    found = users.get(name)
    if found is None:
        raise AccessDenied(_tr().text("access.error.unknown_user", user=name))
    return base, found


def reader_for_user(db_path: str | os.PathLike[str], user: str | None = None) -> Reader:
    """The reader of ``db_path`` scoped to ``user`` (default: the kernel's user).

    Returns the unrestricted reader when the database has no users (access control off).

    Raises:
        AccessDenied: If there are users but the kernel's user is unknown or not among them.
    """
    base, found = _kernel_user(db_path, user)
    return base if found is None else base.scoped(scope_for(found))


def aggregate_reader(db_path: str | os.PathLike[str], user: str | None = None) -> Reader:
    """A reader for suppressed comparisons with colleagues, which gives nobody a row.

    What a role may aggregate: a therapist the teams of her own team's service, a supervisor
    the services of the teams she supervises, a leader every team; an admin gets their own
    unrestricted reader. Through this reader those teams' rows are de-identified (client,
    episode and therapist ids are keyed hashes, birth years removed, ``changed_by`` blank),
    and it answers a query only while a :class:`~fitdata.data.cache.MemoryCache` entry for its
    scope is computed (:func:`fitdata.data.cache.computing_shared`): such an entry is kept for
    every user who compares with the same teams, as the therapist development page's team and
    service figures are, and those suppress small cells before they are shown. Any other query
    (``reader.df("SELECT * FROM sessions")``, or the reader handed to a client-level function)
    is refused with :class:`AccessDenied`.

    This keeps the package's own code from giving a person rows her role does not allow; it
    is no wall against code that runs in the kernel (which could open the file itself), which
    is why the server lets nobody run code in a kernel (docs/deployment.md).

    Raises:
        AccessDenied: If there are users but the kernel's user is unknown or not among them.
    """
    base, found = _kernel_user(db_path, user)
    if found is None or found.role == "admin":
        return base if found is None else base.scoped(scope_for(found))
    teams = _comparison_teams(base, found)
    key = AGGREGATE_SCOPE
    if teams is not None:
        key += ":" + hashlib.sha256("\n".join(teams).encode("utf-8")).hexdigest()[:16]
    scope = _deidentified_scope(
        key, _SALT, found, hide_therapists=True, team_ids=teams, guard=_shared_aggregates_only
    )
    return base.scoped(scope)


def _comparison_teams(base: Reader, user: User) -> list[str] | None:
    """The teams ``user`` may compare with (see :func:`aggregate_reader`); None for every team."""
    if user.role == "therapist":
        services = "SELECT t.service FROM therapists th JOIN teams t USING (team_id) "
        rows = base.rows(
            f"SELECT team_id FROM teams WHERE service IN ({services} WHERE th.therapist_id = ?) "
            "ORDER BY team_id",
            [user.therapist_id],
        )
    elif user.role == "supervisor":
        rows = base.rows(
            "SELECT team_id FROM teams WHERE service IN "
            "(SELECT service FROM teams WHERE team_id IN (SELECT unnest(?::VARCHAR[]))) "
            "ORDER BY team_id",
            [list(user.team_ids)],
        )
    else:
        return None
    return [str(r[0]) for r in rows]


def _shared_aggregates_only(scope: ReadScope) -> None:
    """The guard of :func:`aggregate_reader`'s scopes: only a shared aggregate may be computed."""
    if computing_shared(scope.key):
        return
    tr = _tr()
    name = getattr(scope.info, "name", "?")
    raise AccessDenied(
        tr.text("access.error.aggregates_only", user=name, what=tr.text("access.what.client_list"))
    )


def is_aggregate_reader(reader: Reader) -> bool:
    """Whether ``reader`` is a comparison reader of :func:`aggregate_reader` (no rows)."""
    return reader.scope is not None and reader.scope.key.split(":")[0] == AGGREGATE_SCOPE


def reader_user(reader: Reader) -> User | None:
    """The user a scoped reader reads for; None for an unrestricted reader (access control off)."""
    scope = reader.scope
    return scope.info if scope is not None and isinstance(scope.info, User) else None


def user_name(reader: Reader) -> str | None:
    """The name of the user a reader is scoped to; None for an unrestricted reader."""
    user = reader_user(reader)
    return None if user is None else user.name


def require_client_rows(reader: Reader, what: str) -> None:
    """Refuse a client-level function on a reader whose scope allows aggregates only.

    Args:
        reader: The reader the function was given.
        what: What was asked for: ``client_sessions``, ``client_list``, ``caseload`` or
            ``case`` (the message names it in the page's language).

    Raises:
        AccessDenied: For a leader's reader or a de-identified :func:`aggregate_reader`.
    """
    user = reader_user(reader)
    if user is None:
        return
    if not user.client_rows or reader.scope is None or is_aggregate_reader(reader):
        tr = _tr()
        raise AccessDenied(
            tr.text(
                "access.error.aggregates_only", user=user.name, what=tr.text(f"access.what.{what}")
            )
        )


def require_write(reader: Reader, team_id: str, therapist_id: str) -> None:
    """Refuse registering a session outside the user's scope.

    A therapist registers for themself, a supervisor in their teams, an admin anywhere, a
    leader nowhere. Writes go to the file (:func:`fitdata.data.store.write_transaction`), not
    through the scoped reader, so the registration page asks this first.

    Args:
        reader: The page's (scoped) reader.
        team_id: The team of the session to save.
        therapist_id: Its therapist.

    Raises:
        AccessDenied: If the reader's user may not register this session.
    """
    user = reader_user(reader)
    if user is None or user.role == "admin":
        return
    allowed = (user.role == "therapist" and therapist_id == user.therapist_id) or (
        user.role == "supervisor" and team_id in user.team_ids
    )
    if not allowed:
        raise AccessDenied(
            _tr().text(
                "access.error.write_scope", user=user.name, therapist=therapist_id, team=team_id
            )
        )
