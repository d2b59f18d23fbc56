"""The client's page on the server: ``/client/<token>``, and nothing else for a client link.

A person who opens a client link (:mod:`fitdata.data.client_links`: ``/client/<token>``, from a
text message, a QR code or the therapist's tablet) has no login. The server lets exactly that
through:

* :class:`ClientPageHandler` checks the token first, in the server, before any kernel starts
  (:func:`fitdata.data.client_links.redeem_client_link`: its MAC and expiry before it reads
  anything, then only the link's own ``client_form_uses`` rows and whether its episode is still
  there). A changed, cut or foreign link (``altered``, ``unknown``) gets 403, an expired or used
  one 410, each with a plain page in English and bokmål (:func:`refusal_page`); nothing else is
  read and no kernel starts. An address that opens many changed or unknown links waits, as
  after failed logins (:attr:`fitdata.server.login.SessionIdentityMixin.link_limiter`), so a
  guesser cannot fill the audit log with refusals. A good link renders ``dashboards/client.ipynb``
  (:data:`CLIENT_NOTEBOOK`) with the token in the request header
  :data:`fitdata.kernel_env.CLIENT_LINK_HEADER`, which Voila hands the page's kernel as
  ``$HTTP_X_FITDATA_CLIENT_LINK`` (to a preheated kernel too, with its page request). Whatever
  a browser sends under that header is deleted on every request
  (:class:`fitdata.server.security.SecureHandlerMixin`), and ``/voila/render/client.ipynb`` is
  not served (:class:`fitdata.server.kernels.PageHandler`): the page opens only through here.
* A browser without a login gets a **client pass**: a server-side session of this link
  (:class:`ClientSessions`) in its own cookie (:data:`CLIENT_COOKIE`, signed, ``HttpOnly``,
  ``SameSite=Strict``), whose Jupyter user is named ``client-link:<link id>:<pass>``. The page's
  kernel is recorded as that pass's (:mod:`fitdata.server.kernels`), so its WebSocket and its
  closing beacon work for that browser only.
* **The gate** (:func:`client_user`): a request with a client pass (or a locked session, below)
  reaches only :func:`allowed_for_client` paths: a client page, the kernel WebSocket and kernel
  status (the kernel's owner is checked there), the closing beacon (owner and page key), and
  static files. Anything else (the landing page, another notebook, ``/api/kernels``,
  ``/api/sessions``, the login page ...) gets 403 and :func:`gate_page`.
* **Handing the tablet over** (:class:`HandOverHandler`, ``POST /client-handover``): the
  therapist's registration page (``fitdata/ui/registration_handover.py``) issues a link with
  mode ``tablet`` and posts it here; the server **locks the therapist's login session** in that
  browser (:meth:`fitdata.server.login.Sessions.lock`) and answers with the page's address,
  which the browser opens in place of the registration page. While locked, that session is the
  client pass of the link: only its own client page and the unlock page are reachable, by any
  URL, in any tab, after any back button (every request of that browser carries the locked
  session's cookie).
* **Getting it back** (:class:`UnlockHandler`, ``/client-unlock``): the therapist types their
  personal token (``--users``), the server's token or password (one-person server), or the PIN
  they chose when handing over; failed tries count as failed logins (the same limits). The
  session is then unlocked and the browser goes back to the page it was handed over from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from fitdata.data.client_links import LinkRefused, redeem_client_link
from fitdata.i18n import LANGUAGES, Translator
from fitdata.kernel_env import CLIENT_LINK_HEADER, CLIENT_NOTEBOOK, ENV_LANG, LOGIN_USER_HEADER
from fitdata.server.frame import standalone_page
from fitdata.server.kernels import PageHandler
from fitdata.server.security import PageError

__all__ = [
    "CLIENT_COOKIE",
    "CLIENT_DB_SETTING",
    "CLIENT_PREFIX",
    "HANDOVER_PATH",
    "UNLOCK_PATH",
    "ClientPageHandler",
    "ClientPass",
    "ClientSessions",
    "HandOverHandler",
    "UnlockHandler",
    "allowed_for_client",
    "check_link",
    "client_routes",
    "client_user",
    "gate_page",
    "is_client_user",
    "refusal_page",
    "refusal_status",
    "unlock_page",
]

#: The first part of a client page's path, after the server's base URL.
CLIENT_PREFIX = "client/"
#: Where the therapist's page hands the tablet over (POST), and where the therapist unlocks it.
HANDOVER_PATH = "client-handover"
UNLOCK_PATH = "client-unlock"
#: The cookie of a client pass (a browser with a client link and no login).
CLIENT_COOKIE = "fitdata-client"
#: Tornado setting: the database whose client links this server opens.
CLIENT_DB_SETTING = "fitdata_client_db"
#: The Jupyter user name of a client pass begins with this (a user name never does: ':').
CLIENT_USER_PREFIX = "client-link:"
#: Client passes kept at most (the oldest ends first).
MAX_CLIENT_PASSES = 10_000
#: A client page's token in a path: the URL-safe characters of a link, at most 600 of them.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{1,600}"

_TOKEN = re.compile(TOKEN_PATTERN)
_KERNEL = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: Paths (after the base URL) a client pass may request besides its client page.
_CLIENT_PATHS = re.compile(
    rf"^(api/kernels/{_KERNEL}(/channels)?|voila/api/shutdown/{_KERNEL}"
    r"|voila/static/.*|voila/templates/.*|voila/labextensions/.*|static/.*"
    r"|voila/api/themes/.*)$"
)


@dataclass(frozen=True)
class ClientPass:
    """What a browser holding a client link may open.

    Attributes:
        token: The link's token (the page's path is ``client/<token>``).
        link_id: The link's id (in the audit log; never secret enough to open anything).
        expires: When the link expires (seconds since the epoch).
        username: The Jupyter user of this pass (the kernels it opens are recorded as its).
        owner: For a locked session: the therapist's login user name, whose credential unlocks.
        pin_sha256: For a locked session: the salted hash of the PIN chosen, or empty.
        return_to: For a locked session: the path the therapist handed over from.
    """

    token: str
    link_id: str
    expires: float
    username: str
    owner: str = ""
    pin_sha256: str = ""
    return_to: str = ""

    @property
    def locked(self) -> bool:
        """Whether this is a therapist's session locked to the link (the tablet)."""
        return bool(self.owner)

    def pin_matches(self, typed: str) -> bool:
        """Whether ``typed`` is the PIN chosen when handing over (False when none was chosen)."""
        if not self.pin_sha256 or not typed:
            return False
        salt, _, digest = self.pin_sha256.partition("$")
        return hmac.compare_digest(_pin_hash(salt, typed).partition("$")[2], digest)


def _pin_hash(salt: str, pin: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), 100_000).hex()
    return f"{salt}${digest}"


def new_pass(token: str, link_id: str, expires_at: dt.datetime) -> ClientPass:
    """A client pass for a link (its user name has a random part: one pass per browser)."""
    expires = expires_at.replace(tzinfo=dt.UTC).timestamp()
    name = f"{CLIENT_USER_PREFIX}{link_id}:{secrets.token_urlsafe(6)}"
    return ClientPass(token=token, link_id=link_id, expires=expires, username=name)


def locked_pass(base: ClientPass, owner: str, pin: str = "", return_to: str = "") -> ClientPass:
    """``base`` as the lock of ``owner``'s session, unlocked by their credential or ``pin``."""
    pin_sha256 = _pin_hash(secrets.token_hex(8), pin) if pin else ""
    return replace(base, owner=owner, pin_sha256=pin_sha256, return_to=return_to)


class ClientSessions:
    """Client passes of browsers without a login: pass id -> pass (in memory; a restart ends them).

    A pass ends when its link expires.
    """

    def __init__(
        self, max_count: int = MAX_CLIENT_PASSES, clock: Callable[[], float] = time.time
    ) -> None:
        """No passes yet; at most ``max_count`` at once; ``clock`` in seconds since the epoch."""
        self.max_count = max_count
        self._clock = clock
        self._passes: OrderedDict[str, ClientPass] = OrderedDict()

    def start(self, client_pass: ClientPass) -> str:
        """Keep ``client_pass``; return its id (256 random bits) for the cookie."""
        pass_id = secrets.token_urlsafe(32)
        self._passes[pass_id] = client_pass
        while len(self._passes) > self.max_count:
            self._passes.popitem(last=False)
        return pass_id

    def find(self, pass_id: Any) -> ClientPass | None:
        """The live pass of ``pass_id`` (None: unknown, or its link has expired)."""
        if not isinstance(pass_id, str):
            return None
        found = self._passes.get(pass_id)
        if found is not None and self._clock() >= found.expires:
            del self._passes[pass_id]
            return None
        return found

    def __len__(self) -> int:
        """How many passes are kept."""
        return len(self._passes)


def is_client_user(user: Any) -> bool:
    """Whether a Jupyter user is a client pass (or a locked session acting as one)."""
    return str(getattr(user, "username", "") or "").startswith(CLIENT_USER_PREFIX)


def _relative_path(handler: Any) -> str:
    base = getattr(handler, "base_url", "/") or "/"
    path = handler.request.path
    return path[len(base) :] if path.startswith(base) else path.lstrip("/")


def allowed_for_client(relative_path: str, client_pass: ClientPass) -> bool:
    """Whether a client pass may request ``relative_path`` (the path after the base URL).

    Its client page (a locked session: its own link's only; a phone: any client page, so that
    next week's link opens too), the unlock page (a locked session), the kernel routes whose
    owner :mod:`fitdata.server.kernels` checks, and static files.
    """
    if relative_path.startswith(CLIENT_PREFIX):
        token = relative_path[len(CLIENT_PREFIX) :]
        if not _TOKEN.fullmatch(token):
            return False
        return token == client_pass.token or not client_pass.locked
    if relative_path == UNLOCK_PATH:
        return client_pass.locked
    return bool(_CLIENT_PATHS.match(relative_path))


def client_user(handler: Any, client_pass: ClientPass) -> JupyterUser:
    """The Jupyter user of ``client_pass`` for this request, if its path is allowed.

    Raises:
        PageError: 403 with :func:`gate_page` for any path :func:`allowed_for_client` refuses.
    """
    if not allowed_for_client(_relative_path(handler), client_pass):
        handler.log.warning(
            "Refused %s of another page to a client link's browser", handler.request.method
        )
        lang = _language(handler)
        raise PageError(403, gate_page(lang, getattr(handler, "base_url", "/"), client_pass))
    return JupyterUser(username=client_pass.username, name="client", display_name="client")


# -- checking a link ----------------------------------------------------------------------------


async def check_link(db: str, token: str) -> Any:
    """The grant of ``token`` if its page may open now; raises LinkRefused otherwise.

    The MAC and the expiry are checked before anything is read (in a thread: the event loop
    serves everyone else meanwhile).
    """
    if not db:
        raise LinkRefused("unknown")
    return await asyncio.to_thread(redeem_client_link, db, token)


def refusal_status(reason: str) -> int:
    """403 for a link that never was one (``altered``, ``unknown``), 410 for one that was."""
    return 410 if reason in ("expired", "used") else 403


# -- pages --------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "background:#f6f7f9;color:#1d2733;font-size:20px;line-height:1.45}"
    "main{max-width:34em;margin:0 auto;padding:32px 20px}"
    "section{background:#fff;border-radius:12px;padding:20px 22px;margin:0 0 18px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.35em;margin:0 0 .4em}p{margin:.3em 0 .6em}"
    "a.button,button{display:inline-flex;align-items:center;min-height:48px;min-width:48px;"
    "padding:10px 20px;box-sizing:border-box;"
    "font-size:1em;border-radius:8px;border:0;background:#1f5fa8;color:#fff;"
    "text-decoration:none;cursor:pointer;margin:6px 0}"
    "a.quiet{color:#1f5fa8}label{display:block;margin:.6em 0 .2em;font-weight:600}"
    "input{font-size:1.1em;min-height:48px;width:100%;box-sizing:border-box;padding:8px 12px;"
    "border:2px solid #8a96a3;border-radius:8px}"
    ".error{color:#a4161a;font-weight:600}"
)


def _document(lang: str, title: str, body: str) -> str:
    return standalone_page(lang, title, body, _STYLE)


def _languages_first(lang: str) -> list[str]:
    return [lang, *[other for other in LANGUAGES if other != lang]]


def refusal_page(reason: str, lang: str, unlock_base: str | None = None) -> str:
    """The page a refused link shows: what happened and what to do, in every language.

    ``lang`` (the server's) comes first; the client's own language is among the others. On a
    tablet handed over (``unlock_base``: the server's base URL) the page also leads the
    therapist to the unlock page.
    """
    refused = LinkRefused(reason)
    sections = []
    for each in _languages_first(lang):
        tr = Translator(each)
        unlock = (
            f'<p><a class="quiet" href="{unlock_base}{UNLOCK_PATH}?lang={each}">'
            f"{html.escape(tr.text('client_access.gate.unlock'))}</a></p>"
            if unlock_base is not None
            else ""
        )
        sections.append(
            f'<section lang="{each}" class="fitdata-refusal" data-reason="{reason}">'
            f"<h1>{html.escape(tr.text('client_access.refused.title'))}</h1>"
            f"<p>{html.escape(refused.message(tr))}</p>{unlock}</section>"
        )
    return _document(lang, Translator(lang).text("client_access.refused.title"), "".join(sections))


def gate_page(lang: str, base_url: str, client_pass: ClientPass) -> str:
    """What a client link's browser sees at any other address: the way back to its form."""
    back = f"{base_url}{CLIENT_PREFIX}{quote(client_pass.token)}"
    sections = []
    for each in _languages_first(lang):
        tr = Translator(each)
        kind = "locked" if client_pass.locked else "phone"
        unlock = (
            f'<p><a class="quiet" href="{base_url}{UNLOCK_PATH}?lang={each}">'
            f"{html.escape(tr.text('client_access.gate.unlock'))}</a></p>"
            if client_pass.locked
            else ""
        )
        sections.append(
            f'<section lang="{each}" class="fitdata-gate">'
            f"<h1>{html.escape(tr.text(f'client_access.gate.{kind}.title'))}</h1>"
            f"<p>{html.escape(tr.text(f'client_access.gate.{kind}.text'))}</p>"
            f'<a class="button" href="{html.escape(back)}">'
            f"{html.escape(tr.text('client_access.gate.back'))}</a>{unlock}</section>"
        )
    kind = "locked" if client_pass.locked else "phone"
    title = Translator(lang).text(f"client_access.gate.{kind}.title")
    return _document(lang, title, "".join(sections))


def unlock_page(
    lang: str, base_url: str, xsrf_form_html: str, credential: str, error: str = ""
) -> str:
    """The therapist's unlock form in ``lang``, with a switch to the other language.

    Args:
        lang: The page's language.
        base_url: The server's base URL.
        xsrf_form_html: The hidden ``_xsrf`` field.
        credential: ``user`` (a personal token), ``server`` (the server's token or password)
            or ``pin`` (no login on this server: the PIN only).
        error: A message to show above the form (a wrong entry).
    """
    tr = Translator(lang)
    other = [each for each in LANGUAGES if each != lang]
    switch = "".join(
        f'<a class="quiet" lang="{each}" href="{base_url}{UNLOCK_PATH}?lang={each}">'
        f"{html.escape(Translator(each).text('client_access.language'))}</a> "
        for each in other
    )
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f'<section class="fitdata-unlock"><p>{switch}</p>'
        f"<h1>{html.escape(tr.text('client_access.unlock.title'))}</h1>"
        f"<p>{html.escape(tr.text('client_access.unlock.text'))}</p>{message}"
        f'<form method="post" action="{base_url}{UNLOCK_PATH}?lang={lang}">{xsrf_form_html}'
        f'<label for="fitdata-unlock-secret">'
        f"{html.escape(tr.text(f'client_access.unlock.field.{credential}'))}</label>"
        '<input id="fitdata-unlock-secret" name="secret" type="password" '
        'autocomplete="off" autofocus required>'
        f'<button type="submit">{html.escape(tr.text("client_access.unlock.submit"))}</button>'
        "</form></section>"
    )
    return _document(lang, tr.text("client_access.unlock.title"), body)


def _language(handler: Any) -> str:
    wanted = handler.get_argument("lang", "") if hasattr(handler, "get_argument") else ""
    if wanted in LANGUAGES:
        return wanted
    server = os.environ.get(ENV_LANG, "en")
    return server if server in LANGUAGES else "en"


# -- handlers -----------------------------------------------------------------------------------


class ClientPageHandler(PageHandler):
    """``/client/<token>``: the client page for a good link, a plain refusal for any other."""

    @allow_unauthenticated
    async def get(self, token: str) -> None:  # type: ignore[override]
        """Check the link; render the client notebook with it for this browser's pass."""
        lang = _language(self)
        provider = self.identity_provider
        limiter = getattr(provider, "link_limiter", None)
        address_of = getattr(provider, "address_of", None)
        address = address_of(self) if address_of else (self.request.remote_ip or "")
        if limiter is not None:
            limiter.check(address)  # 429 while an address that tried many bad links waits
        try:
            grant = await check_link(self.settings.get(CLIENT_DB_SETTING, ""), token)
        except LinkRefused as refused:
            self.log.warning("Refused a client link (%s) from %s", refused.reason, address)
            if limiter is not None and refused.reason in ("altered", "unknown"):
                limiter.failed(address)
            self.set_status(refusal_status(refused.reason))
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.set_header("Cache-Control", "no-store")
            locked = _is_locked(provider, self)
            self.finish(refusal_page(refused.reason, lang, self.base_url if locked else None))
            return
        user = self.current_user
        if user is None or (is_client_user(user) and not _is_locked(provider, self)):
            # no login (a phone), or a phone's pass of another link: a pass of this link
            client_pass = new_pass(token, grant.link_id, grant.expires_at)
            provider.start_client_pass(self, client_pass)  # type: ignore[attr-defined]
            user = JupyterUser(username=client_pass.username, name="client", display_name="client")
        headers = self.request.headers
        if LOGIN_USER_HEADER in headers:
            del headers[LOGIN_USER_HEADER]  # a client page never runs as the therapist
        headers[CLIENT_LINK_HEADER] = token
        self.current_user = self._jupyter_current_user = user
        await self.render_page(CLIENT_NOTEBOOK)


def _is_locked(provider: Any, handler: Any) -> bool:
    lock_of = getattr(provider, "lock_of", None)
    return bool(lock_of and lock_of(handler) is not None)


class HandOverHandler(JupyterHandler):
    """``POST /client-handover``: lock the therapist's session to a tablet link (JSON answer)."""

    @web.authenticated
    async def post(self) -> None:
        """Lock this browser's login session to the posted tablet link; answer its address."""
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        token = self.get_body_argument("token", "")
        pin = self.get_body_argument("pin", "").strip()
        return_to = self.get_body_argument("return_to", "")
        provider = self.identity_provider
        if is_client_user(self.current_user) or not hasattr(provider, "lock_session"):
            raise web.HTTPError(403)
        try:
            grant = await check_link(self.settings.get(CLIENT_DB_SETTING, ""), token)
        except LinkRefused as refused:
            self.set_status(refusal_status(refused.reason))
            self.finish(json.dumps({"reason": refused.reason}))
            return
        if grant.mode != "tablet":
            self.set_status(400)
            self.finish(json.dumps({"reason": "not_tablet"}))
            return
        if pin and not re.fullmatch(r"[0-9]{4,12}", pin):
            self.set_status(400)
            self.finish(json.dumps({"reason": "pin"}))
            return
        if not provider.auth_enabled and not pin:
            self.set_status(400)  # a server without a login: only a PIN can unlock
            self.finish(json.dumps({"reason": "pin_required"}))
            return
        base = self.base_url
        if not (return_to.startswith(f"{base}voila/render/") and "//" not in return_to):
            return_to = base
        lock = locked_pass(
            new_pass(token, grant.link_id, grant.expires_at),
            owner=self.current_user.username,
            pin=pin,
            return_to=return_to,
        )
        if not provider.lock_session(self, lock):
            self.set_status(400)  # no session cookie to lock (a script with a token header)
            self.finish(json.dumps({"reason": "no_session"}))
            return
        self.log.info("A login session was handed over to a client link")
        self.finish(json.dumps({"url": f"{base}{CLIENT_PREFIX}{token}"}))


class UnlockHandler(JupyterHandler):
    """``/client-unlock``: the therapist gets a handed-over browser back with their credential."""

    def _lock(self) -> ClientPass | None:
        return self.identity_provider.lock_of(self)  # type: ignore[attr-defined]

    def _form(self, lang: str, error: str = "") -> None:
        provider = self.identity_provider
        credential = provider.unlock_credential()  # type: ignore[attr-defined]
        lock = self._lock()
        if credential == "pin" or (lock is not None and lock.pin_sha256 and credential != "pin"):
            credential = "pin" if credential == "pin" else f"{credential}_or_pin"
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(unlock_page(lang, self.base_url, self.xsrf_form_html(), credential, error))

    @web.authenticated
    async def get(self) -> None:
        """The unlock form (a browser that is not handed over goes to the landing page)."""
        if self._lock() is None:
            self.redirect(self.base_url)
            return
        self._form(_language(self))

    @web.authenticated
    async def post(self) -> None:
        """Unlock with the typed credential, then go back to the page handed over from."""
        lang = _language(self)
        lock = self._lock()
        if lock is None:
            self.redirect(self.base_url)
            return
        provider = self.identity_provider
        secret = self.get_body_argument("secret", "")
        if not provider.unlock(self, lock, secret):  # type: ignore[attr-defined]
            self.set_status(403)
            self._form(lang, Translator(lang).text("client_access.unlock.wrong"))
            return
        self.redirect(lock.return_to or self.base_url)


def client_routes(server_url: str, page_kwargs: dict[str, Any]) -> list[tuple[Any, ...]]:
    """This module's routes under ``server_url`` (``page_kwargs``: those of Voila's page)."""
    base = server_url.rstrip("/")
    return [
        (f"{base}/{CLIENT_PREFIX}(?P<token>{TOKEN_PATTERN})", ClientPageHandler, page_kwargs),
        (f"{base}/{HANDOVER_PATH}", HandOverHandler),
        (f"{base}/{UNLOCK_PATH}", UnlockHandler),
    ]
