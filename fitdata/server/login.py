"""Logins for ``fitdata serve``: sessions that end, limits on guessing, and personal tokens.

**Sessions.** Jupyter Server keeps a login in a signed cookie that holds the user's name and
nothing else, so a copied cookie stays valid however often its owner logs out. Here the cookie
also names a session that the server keeps (:class:`Sessions`, in memory): ``/logout`` ends it
(:class:`LogoutHandler`), it ends by itself after :data:`SESSION_MAX_AGE_S`, and a restart ends
them all (the cookie key is new at every start). The cookie is ``HttpOnly``, ``SameSite=Lax``
(another site's page cannot send it with its requests, except a plain link), lasts until the
browser closes, and is ``Secure`` behind TLS (``FITDATA_BEHIND_TLS``, see docs/deployment.md).

**Guessing.** :class:`LoginLimiter` counts failed logins (a wrong token in a URL or header, a
wrong password or token in the login form) per client address: after
:data:`LOGIN_FREE_ATTEMPTS` failures within :data:`LOGIN_WINDOW_S` that address waits
:data:`LOGIN_BACKOFF_START_S`, then twice as long after each further failure, up to
:data:`LOGIN_BACKOFF_MAX_S`; while it waits, every login from it is refused with 429, the right
one too. A login form has no user name (the token or password is the whole credential), so the
second limit is for the server as a whole: :data:`SERVER_FREE_ATTEMPTS` failures from all
addresses together make every address wait the same way. Behind a proxy on this machine the
client address is the one the proxy forwards (``X-Forwarded-For``), and only then.

**Personal tokens** (``fitdata serve --users``). JupyterHub gives every person their own server
with ``$JUPYTERHUB_USER`` set, which :func:`fitdata.data.access.current_user` reads. Without
JupyterHub, several people can share one Voila server when each logs in with a personal token
(``fitdata users add NAME --role R --token`` prints it once; the database keeps only its SHA-256):

* :class:`FitdataIdentityProvider` accepts a personal token in ``?token=``, in an
  ``Authorization: token ...`` header, or typed into Voila's login form, and then keeps the person
  logged in with the session cookie above. A cookie of a user who has since been removed no
  longer logs in.
* The kernel learns who opened its page from the server, never from the browser: for every
  request, :meth:`FitdataIdentityProvider.get_user` deletes any ``X-Fitdata-User`` header the
  browser sent and sets it to the verified login. Voila passes that header (and only that one,
  ``http_header_envs``) to the page's kernel as ``$HTTP_X_FITDATA_USER``: in the environment of
  a kernel started for the request, or with the request information a **preheated** kernel
  waits for (``voila.utils.wait_for_request``). The dashboard then calls
  :func:`fitdata.data.access.bind_login_user` (in :func:`fitdata.ui.context.build_dashboard`), and a
  kernel cannot be bound to a second name later.

So ``--users`` can serve from a preheated pool: a pooled kernel imports everything and then
waits, knowing nobody, until a page request takes it; only then does it bind its user and read
any data (see docs/deployment.md). Which login may reach which kernel afterwards is
:mod:`fitdata.server.kernels`.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.escape import url_escape
from traitlets import Bool, Unicode, default
from voila.voila_identity_provider import VoilaLoginHandler

from fitdata.data import access
from fitdata.i18n import Translator
from fitdata.kernel_env import CLIENT_LINK_HEADER
from fitdata.server.client_access import (
    CLIENT_COOKIE,
    ClientPass,
    ClientSessions,
    client_user,
    is_client_user,
)
from fitdata.server.frame import login_page, page_language, signed_out_page
from fitdata.server.security import TooManyAttempts

__all__ = [
    "ClientLinksOnlyIdentityProvider",
    "LOGIN_BACKOFF_MAX_S",
    "LOGIN_BACKOFF_START_S",
    "LOGIN_FREE_ATTEMPTS",
    "LOGIN_WINDOW_S",
    "SERVER_FREE_ATTEMPTS",
    "SESSION_MAX_AGE_S",
    "FitdataIdentityProvider",
    "FitdataLoginHandler",
    "FitdataPasswordIdentityProvider",
    "LoginLimiter",
    "LogoutHandler",
    "Sessions",
    "client_address",
]

#: Failed logins one client address may make within :data:`LOGIN_WINDOW_S` before it waits.
LOGIN_FREE_ATTEMPTS = 5
#: Refused client links (changed or unknown) one address may open within :data:`LOGIN_WINDOW_S`
#: before it waits, and all addresses together.
LINK_FREE_ATTEMPTS = 20
LINK_SERVER_FREE_ATTEMPTS = 1000
#: Failed logins from all addresses together within :data:`LOGIN_WINDOW_S` before all wait.
SERVER_FREE_ATTEMPTS = 100
#: Seconds over which failed logins are counted.
LOGIN_WINDOW_S = 15 * 60
#: The first wait after too many failures; it doubles with each further failure.
LOGIN_BACKOFF_START_S = 30
#: The longest wait.
LOGIN_BACKOFF_MAX_S = 15 * 60
#: A login session ends this many seconds after it began, used or not.
SESSION_MAX_AGE_S = 12 * 3600
#: Sessions kept at most; the oldest ends first (a server without a login makes one per browser).
MAX_SESSIONS = 10_000
#: Client addresses whose failures are remembered at most (the oldest are forgotten first).
MAX_TRACKED_ADDRESSES = 10_000


class Sessions:
    """Login sessions kept by the server: id -> (user name, start time)."""

    def __init__(
        self,
        max_age: float = SESSION_MAX_AGE_S,
        max_count: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """No sessions yet; each lasts ``max_age`` seconds; at most ``max_count`` at once."""
        self.max_age = max_age
        self.max_count = max_count
        self._clock = clock
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._locks: dict[str, ClientPass] = {}

    def start(self, username: str) -> str:
        """Begin a session for ``username``; return its id (256 random bits)."""
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = (username, self._clock())
        while len(self._sessions) > self.max_count:
            ended, _ = self._sessions.popitem(last=False)
            self._locks.pop(ended, None)
        return session_id

    def valid(self, session_id: Any, username: Any) -> bool:
        """Whether ``session_id`` is a live session of ``username``."""
        if not isinstance(session_id, str):
            return False
        found = self._sessions.get(session_id)
        if found is None:
            return False
        owner, started = found
        if self._clock() - started > self.max_age:
            del self._sessions[session_id]
            self._locks.pop(session_id, None)
            return False
        return owner == username

    def end(self, session_id: Any) -> None:
        """End a session (nothing happens for an unknown one)."""
        if isinstance(session_id, str):
            self._sessions.pop(session_id, None)
            self._locks.pop(session_id, None)

    def lock(self, session_id: Any, client_pass: ClientPass) -> bool:
        """Hand a live session over to a client link: it acts as ``client_pass`` until unlocked.

        Returns:
            Whether the session was locked (False for an unknown session).
        """
        if not isinstance(session_id, str) or session_id not in self._sessions:
            return False
        self._locks[session_id] = client_pass
        return True

    def lock_of(self, session_id: Any) -> ClientPass | None:
        """The client link a session is handed over to, or None when it is not."""
        return self._locks.get(session_id) if isinstance(session_id, str) else None

    def unlock(self, session_id: Any) -> None:
        """Give a handed-over session back to its owner."""
        if isinstance(session_id, str):
            self._locks.pop(session_id, None)

    def __len__(self) -> int:
        """How many sessions are kept."""
        return len(self._sessions)


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    level: int = 0
    until: float = 0.0


class LoginLimiter:
    """Count failed logins per client address and for the server; refuse while one must wait."""

    def __init__(
        self,
        free_attempts: int = LOGIN_FREE_ATTEMPTS,
        server_free_attempts: int = SERVER_FREE_ATTEMPTS,
        window: float = LOGIN_WINDOW_S,
        backoff_start: float = LOGIN_BACKOFF_START_S,
        backoff_max: float = LOGIN_BACKOFF_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """The limits of the module docstring (defaults), with a clock tests can replace."""
        self._free = {"address": free_attempts, "server": server_free_attempts}
        self.window = window
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._clock = clock
        self._server = _Failures()
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()

    def _entries(self, address: str) -> list[tuple[str, _Failures]]:
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = _Failures()
            while len(self._addresses) > MAX_TRACKED_ADDRESSES:
                self._addresses.popitem(last=False)
        return [("address", entry), ("server", self._server)]

    def wait(self, address: str) -> float:
        """Seconds ``address`` must wait before it may try to log in again (0: it may now)."""
        now = self._clock()
        waits = [self._server.until - now]
        entry = self._addresses.get(address)
        if entry is not None:
            waits.append(entry.until - now)
        return max(0.0, *waits)

    def check(self, address: str) -> None:
        """Raise if ``address`` must wait.

        Raises:
            TooManyAttempts: 429, with the seconds to wait.
        """
        wait = self.wait(address)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, address: str) -> None:
        """Count a failed login from ``address``; start or lengthen its wait when over the limit."""
        now = self._clock()
        for kind, entry in self._entries(address):
            while entry.times and now - entry.times[0] > self.window:
                entry.times.popleft()
            if not entry.times:
                entry.level = 0
            entry.times.append(now)
            if len(entry.times) >= self._free[kind]:
                wait = min(self.backoff_start * 2**entry.level, self.backoff_max)
                entry.level += 1
                entry.until = max(entry.until, now + wait)
        self._addresses.move_to_end(address)


def client_address(handler: web.RequestHandler, trust_proxy: bool) -> str:
    """Who is logging in: the peer's address, or behind a proxy on this machine the forwarded one.

    ``X-Forwarded-For`` is believed only with ``trust_proxy`` and from a loopback peer (the
    proxy), and only its last entry: the one the proxy itself added.
    """
    peer = handler.request.remote_ip or ""
    if not trust_proxy:
        return peer
    try:
        from_loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        from_loopback = False
    forwarded = handler.request.headers.get("X-Forwarded-For", "")
    if from_loopback and forwarded.strip():
        return forwarded.split(",")[-1].strip() or peer
    return peer


def _cookie_text(raw: bytes | None) -> str | None:
    return raw.decode("ascii", "replace") if raw else None


class LogoutHandler(JupyterHandler):
    """``/logout``: end the session on the server, clear the cookie, say so (with a way back in)."""

    @allow_unauthenticated
    def get(self) -> None:
        """Log out (also without a session: nothing to end then); answer the signed-out page."""
        provider = self.identity_provider
        if isinstance(provider, SessionIdentityMixin):
            provider.end_session(self)
        else:
            provider.clear_login_cookie(self)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            signed_out_page(page_language(self), self.base_url, bool(provider.login_available))
        )


class FitdataLoginHandler(VoilaLoginHandler):
    """The login form in the page's language, saying what to type (not stock "Password:")."""

    def _render(self, message: dict[str, str] | None = None) -> None:
        lang = page_language(self)
        provider = self.identity_provider
        credential = "user" if isinstance(provider, FitdataIdentityProvider) else "server"
        error = Translator(lang).text("frame.login.wrong") if message else ""
        self.set_header("Cache-Control", "no-store")
        self.write(
            login_page(
                lang,
                self.base_url,
                url_escape(self.get_argument("next", default=self.base_url)),
                self.xsrf_form_html(),
                credential,
                error,
            )
        )


class SessionIdentityMixin(IdentityProvider):
    """Server-side sessions, login limits and cookie flags for any Jupyter identity provider."""

    trust_proxy = Bool(
        False,
        config=True,
        help="Believe X-Forwarded-For from a loopback peer (a TLS proxy on this machine).",
    )

    @default("cookie_options")
    def _default_cookie_options(self) -> dict[str, Any]:
        return {"samesite": "Lax", "expires_days": None}

    @default("logout_handler_class")
    def _default_logout_handler_class(self) -> type:
        return LogoutHandler

    def get_handlers(self) -> list[tuple[str, object]]:
        """Jupyter's ``/login`` and ``/logout`` routes, with fitdata's login form."""
        return [
            (pattern, FitdataLoginHandler if pattern == r"/login" else handler)
            for pattern, handler in super().get_handlers()
        ]

    @property
    def sessions(self) -> Sessions:
        """This server's login sessions."""
        if "_fitdata_sessions" not in self.__dict__:
            self.__dict__["_fitdata_sessions"] = Sessions()
        return self.__dict__["_fitdata_sessions"]

    @property
    def client_sessions(self) -> ClientSessions:
        """The client passes of browsers that opened a client link without a login."""
        if "_fitdata_client_sessions" not in self.__dict__:
            self.__dict__["_fitdata_client_sessions"] = ClientSessions()
        return self.__dict__["_fitdata_client_sessions"]

    @property
    def link_limiter(self) -> LoginLimiter:
        """This server's count of refused client links (changed or unknown ones), per address.

        More generous than the login limit (a client may mistype a link several times); it
        keeps a guesser from filling the audit log with refusals.
        """
        if "_fitdata_link_limiter" not in self.__dict__:
            self.__dict__["_fitdata_link_limiter"] = LoginLimiter(
                free_attempts=LINK_FREE_ATTEMPTS, server_free_attempts=LINK_SERVER_FREE_ATTEMPTS
            )
        return self.__dict__["_fitdata_link_limiter"]

    @property
    def limiter(self) -> LoginLimiter:
        """This server's count of failed logins."""
        if "_fitdata_limiter" not in self.__dict__:
            self.__dict__["_fitdata_limiter"] = LoginLimiter()
        return self.__dict__["_fitdata_limiter"]

    def user_to_cookie(self, user: JupyterUser) -> str:
        """The signed cookie's content: the user and a new session of the server's."""
        content = json.loads(super().user_to_cookie(user))
        content["session"] = self.sessions.start(user.username)
        return json.dumps(content)

    def user_from_cookie(self, cookie_value: str) -> JupyterUser | None:
        """The cookie's user while its session lasts."""
        try:
            content = json.loads(cookie_value)
        except ValueError:
            return None
        if not isinstance(content, dict) or not self.sessions.valid(
            content.get("session"), content.get("username")
        ):
            return None
        return super().user_from_cookie(cookie_value)

    async def get_user(self, handler: web.RequestHandler) -> JupyterUser | None:  # type: ignore[override]
        """The request's user: a login, a login handed over to a client link, or a client pass.

        The headers through which the server tells a kernel who it serves are deleted first
        (whatever the browser sent). A login session handed over to a client link
        (:meth:`Sessions.lock`) and a client pass (no login, :data:`CLIENT_COOKIE`) are the
        link's Jupyter user, for the paths :func:`fitdata.server.client_access.client_user`
        allows; any other path is refused with 403.
        """
        headers = handler.request.headers
        for name in (access.LOGIN_USER_HEADER, CLIENT_LINK_HEADER):
            if name in headers:
                del headers[name]
        session = self._cookie_session(handler)  # before a token login may set a new cookie
        user = await self._get_user(handler)
        if user is not None:
            lock = self.sessions.lock_of(session)
            return client_user(handler, lock) if lock is not None else user
        client_pass = self.client_sessions.find(
            _cookie_text(handler.get_secure_cookie(CLIENT_COOKIE, max_age_days=8))
        )
        return client_user(handler, client_pass) if client_pass is not None else None

    def _cookie_session(self, handler: web.RequestHandler) -> str | None:
        """The server session named in the request's login cookie (None: no valid cookie)."""
        raw = handler.get_secure_cookie(
            self.get_cookie_name(handler), **self.get_secure_cookie_kwargs
        )
        try:
            content = json.loads(raw) if raw else None
        except ValueError:
            return None
        session = content.get("session") if isinstance(content, dict) else None
        return session if isinstance(session, str) else None

    def address_of(self, handler: web.RequestHandler) -> str:
        """The request's client address, as the login limits count it (:func:`client_address`)."""
        return client_address(handler, self.trust_proxy)

    def start_client_pass(self, handler: web.RequestHandler, client_pass: ClientPass) -> None:
        """Give the browser of this request a client pass (its cookie: the pass id, signed)."""
        pass_id = self.client_sessions.start(client_pass)
        handler.set_secure_cookie(
            CLIENT_COOKIE,
            pass_id,
            expires_days=None,
            httponly=True,
            samesite="Strict",
            secure=bool(self.secure_cookie),
            path=getattr(handler, "base_url", "/") or "/",
        )

    def lock_session(self, handler: web.RequestHandler, client_pass: ClientPass) -> bool:
        """Hand this browser's login session over to a client link (False: no session)."""
        return self.sessions.lock(self._cookie_session(handler), client_pass)

    def lock_of(self, handler: web.RequestHandler) -> ClientPass | None:
        """The client link this browser's login session is handed over to, if any."""
        return self.sessions.lock_of(self._cookie_session(handler))

    def unlock_credential(self) -> str:
        """What unlocks a handed-over session here: ``server`` (token/password) or ``pin``."""
        return "server" if self.auth_enabled else "pin"

    def _unlocks(self, lock: ClientPass, secret: str) -> bool:
        """Whether ``secret`` is the credential of ``lock``'s owner (besides the PIN)."""
        from jupyter_server.auth.security import passwd_check

        token = getattr(self, "token", "") or ""
        hashed = getattr(self, "hashed_password", "") or ""
        if token and hmac.compare_digest(secret.encode(), token.encode()):
            return True
        return bool(hashed) and passwd_check(hashed, secret)

    def unlock(self, handler: web.RequestHandler, lock: ClientPass, secret: str) -> bool:
        """Unlock this browser's session if ``secret`` is right.

        A wrong one counts as a failed login (:class:`LoginLimiter`).

        Raises:
            TooManyAttempts: While the client address must wait.
        """
        address = self._before_login(handler, secret)
        if address is None:
            return False
        ok = lock.pin_matches(secret) or self._unlocks(lock, secret)
        if not ok:
            self.limiter.failed(address)
            self.log.warning("Refused to unlock a handed-over session from %s", address)
            return False
        self.sessions.unlock(self._cookie_session(handler))
        return True

    def end_session(self, handler: web.RequestHandler) -> None:
        """End the session of the request's cookie and clear the cookie."""
        raw = handler.get_secure_cookie(
            self.get_cookie_name(handler), **self.get_secure_cookie_kwargs
        )
        if raw:
            with contextlib.suppress(ValueError, AttributeError):  # not ours: nothing to end
                self.sessions.end(json.loads(raw).get("session"))
        self.clear_login_cookie(handler)

    def _checks_tokens(self) -> bool:
        """Whether a token in a request is checked against something (else it is ignored)."""
        return bool(self.token)

    def _before_login(self, handler: web.RequestHandler, credential: str) -> str | None:
        """The client address for a login with ``credential``, after checking it may try."""
        if not credential:
            return None
        address = client_address(handler, self.trust_proxy)
        self.limiter.check(address)
        return address

    def _after_login(self, address: str | None, user: JupyterUser | None) -> JupyterUser | None:
        if address is not None and user is None:
            self.limiter.failed(address)
            self.log.warning("Refused a login from %s", address)
        return user

    async def _limited(
        self,
        handler: web.RequestHandler,
        credential: str,
        check: Callable[[], Awaitable[JupyterUser | None]],
    ) -> JupyterUser | None:
        address = self._before_login(handler, credential)
        return self._after_login(address, await check())

    def _limited_form(
        self,
        handler: web.RequestHandler,
        credential: str,
        check: Callable[[], JupyterUser | None],
    ) -> JupyterUser | None:
        address = self._before_login(handler, credential)
        return self._after_login(address, check())


class FitdataPasswordIdentityProvider(SessionIdentityMixin, PasswordIdentityProvider):
    """A shared token or password (or no login on loopback), with sessions and limits."""

    @default("allow_password_change")
    def _default_allow_password_change(self) -> bool:
        return False  # a token holder could otherwise set a password, written to a file

    async def get_user_token(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The login of a shared token in ``?token=`` or the Authorization header."""
        credential = (self.get_token(handler) or "") if self._checks_tokens() else ""
        return await self._limited(
            handler, credential, lambda: PasswordIdentityProvider.get_user_token(self, handler)
        )

    def process_login_form(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The login of the password (or shared token) typed into the form."""
        credential = handler.get_argument("password", default="") if self.auth_enabled else ""
        return self._limited_form(
            handler, credential, lambda: PasswordIdentityProvider.process_login_form(self, handler)
        )


class FitdataIdentityProvider(SessionIdentityMixin):
    """Log people in with the personal tokens of the database's ``users`` table."""

    db_path = Unicode("", config=True, help="The fitdata database whose users may log in.")

    @property
    def auth_enabled(self) -> bool:
        """Always: nobody gets in without a personal token."""
        return True

    @property
    def login_available(self) -> bool:
        """Voila's login form accepts a personal token as the password."""
        return True

    def _checks_tokens(self) -> bool:
        return True

    def _login(self, token: str) -> JupyterUser | None:
        found = access.user_for_token(self.db_path, token) if token else None
        if found is None:
            return None
        return JupyterUser(username=found.name, name=found.name, display_name=found.name)

    async def get_user(self, handler: web.RequestHandler) -> JupyterUser | None:  # type: ignore[override]
        """The request's verified user, also told to the page's kernel in a trusted header.

        Whatever the browser sent as :data:`fitdata.data.access.LOGIN_USER_HEADER` is deleted first;
        the header then holds the login checked here, or is absent without one.
        """
        user = await super().get_user(handler)
        if user is not None and not is_client_user(user):
            handler.request.headers[access.LOGIN_USER_HEADER] = user.username
        return user

    def unlock_credential(self) -> str:
        """A handed-over session is unlocked with its owner's personal token (or the PIN)."""
        return "user"

    def _unlocks(self, lock: ClientPass, secret: str) -> bool:
        found = access.user_for_token(self.db_path, secret) if secret else None
        return found is not None and found.name == lock.owner

    async def get_user_token(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The user whose personal token is in ``?token=`` or the Authorization header."""
        token = self.get_token(handler) or ""

        async def check() -> JupyterUser | None:
            return self._login(token)

        return await self._limited(handler, token, check)

    def user_from_cookie(self, cookie_value: str) -> JupyterUser | None:
        """The user of a live session's cookie, while they are still in the users table."""
        user = super().user_from_cookie(cookie_value)
        if user is None or access.find_user(self.db_path, user.username) is None:
            return None
        return user

    def process_login_form(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The user whose personal token was typed into the login form's password field."""
        token = handler.get_argument("password", default="")
        return self._limited_form(handler, token, lambda: self._login(token))


class ClientLinksOnlyIdentityProvider(SessionIdentityMixin):
    """Nobody logs in (``fitdata serve --client-links-only``): only client passes get through.

    Every token and login form is refused; a browser gets a user only from a client link's
    pass (:mod:`fitdata.server.client_access`), which reaches that link's page and kernel.
    """

    @property
    def auth_enabled(self) -> bool:
        """Always: no anonymous user is ever made."""
        return True

    @property
    def login_available(self) -> bool:
        """No login form: there is nothing to log in to."""
        return False

    def _checks_tokens(self) -> bool:
        return False

    async def get_user_token(self, handler: web.RequestHandler) -> JupyterUser | None:
        """No token logs anyone in here."""
        return None

    def user_from_cookie(self, cookie_value: str) -> JupyterUser | None:
        """No login cookie is valid here."""
        return None

    def process_login_form(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The login form logs nobody in."""
        return None
