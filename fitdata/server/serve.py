"""``fitdata serve``: Voila with a configuration owned by this repository.

Safe defaults, all set here and nowhere else:

* binds the loopback address by default; any other address (``--ip``) requires a login — a
  token or a password — and :func:`check_access` refuses to start without one;
* answers only the names it is known by (``Host``: loopback, ``--ip``, ``FITDATA_ALLOW_HOSTS``),
  so a web page cannot reach it through DNS rebinding, and WebSockets only from its own origin
  (:mod:`fitdata.server.security`);
* a kernel serves only the login that opened its page, over every route that takes a kernel
  id, and the route on which a preheated kernel receives its page request is open to this
  server's kernels only (:mod:`fitdata.server.kernels`);
* logins are sessions the server can end (``/logout``), failed logins are limited, cookies are
  ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` behind TLS (:mod:`fitdata.server.login`);
* tracebacks never reach a page (``show_tracebacks=False``): callback errors are shown as a
  friendly message by the dashboards and logged on the server;
* no file is served from the dashboards folder (``file_allowlist=[]``), and the database lives
  outside that folder anyway;
* a page ends its kernel when its tab is closed or left, and no other page can
  (:mod:`fitdata.server.page_close`: Voila's own beacon was refused, voila issue #1458); idle
  kernels are culled as the backstop, for a tab that dies without a word (each kernel holds
  ~230 MB);
* security headers on every response, static files and errors included
  (:data:`SECURITY_HEADERS`, with ``Content-Security-Policy: frame-ancestors 'self'`` and
  ``X-Content-Type-Options: nosniff``), and only fitdata's own template (no ``?template=``);
* a small preheated pool (:data:`DEFAULT_POOL_SIZE` kernels per dashboard, ``--pool-size``):
  a pooled kernel has started and imported everything before anyone asks, then waits for the
  page request before it learns its user or reads any data
  (:func:`fitdata.ui.context.build_dashboard`), so a first page is fast and never stale;
* the landing page lists the dashboards the signed-in role may open, with one line each on who
  it is for, and every page has fitdata's frame: its title in the tab and as a heading, who is
  signed in, home, logout, and a loading message in the page's language
  (:mod:`fitdata.server.frame`).

``--client-links-only`` serves client links (``/client/<token>``) and nothing else, with no login
at all: the server a reverse proxy exposes to clients' phones when the therapists' own pages are
served elsewhere (JupyterHub, or a ``--users`` server on the internal network; see
docs/deployment.md).

Every dashboard kernel inherits ``FITDATA_DB``, ``FITDATA_LANG`` and ``FITDATA_CONFIG``, which
:meth:`fitdata.ui.DashboardContext.from_environment` reads, and ``FITDATA_USER`` with ``--user``.
With ``--users`` everyone logs in with a personal token and each page's kernel is bound to its
login (:mod:`fitdata.server.login`); what a user then sees is decided by :mod:`fitdata.data.access`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from traitlets.config import Config

from fitdata.i18n import Translator
from fitdata.kernel_env import (
    CLIENT_LINK_HEADER,
    CLIENT_NOTEBOOK,
    ENV_CONFIG,
    ENV_DB,
    ENV_HUB_USER,
    ENV_LANG,
    ENV_LOGIN,
    ENV_LOGIN_USER,
    ENV_USER,
    LOGIN_USER_HEADER,
)

__all__ = [
    "ENV_ALLOW_HOSTS",
    "ENV_BEHIND_TLS",
    "DASHBOARDS",
    "MIN_TOKEN_LENGTH",
    "SECURITY_HEADERS",
    "DEFAULT_POOL_SIZE",
    "AccessError",
    "ServeOptions",
    "check_access",
    "harden_request_info_socket",
    "is_loopback",
    "landing_page",
    "options_from_environment",
    "serve",
    "voila_config",
]

#: The dashboards in the order the landing page lists them: notebook, title key, audience key.
DASHBOARDS: tuple[tuple[str, str, str], ...] = (
    ("client_graph.ipynb", "dashboard.client_graph.title", "dashboard.client_graph.audience"),
    ("service.ipynb", "dashboard.service.title", "dashboard.service.audience"),
    ("registration.ipynb", "dashboard.registration.title", "dashboard.registration.audience"),
    ("group_exercise.ipynb", "group.dashboard.title", "group.dashboard.audience"),
    ("team_review.ipynb", "review.dashboard.title", "review.dashboard.audience"),
    (
        "therapist_development.ipynb",
        "dashboard.development.title",
        "dashboard.development.audience",
    ),
)

#: Headers added to every response. Jupyter Server already sends a Content-Security-Policy
#: with ``frame-ancestors 'self'`` and ``X-Content-Type-Options: nosniff``.
SECURITY_HEADERS: dict[str, str] = {
    "X-Frame-Options": "SAMEORIGIN",  # for browsers that ignore frame-ancestors
    # never leak a URL (with a token) to another site; "no-referrer" would also make browsers
    # send "Origin: null" on the login form's POST, which Jupyter Server then refuses (404)
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

#: Shortest token accepted off loopback: 24 characters of ``secrets.token_urlsafe`` are ~144 bits.
MIN_TOKEN_LENGTH = 24

#: Preheated kernels kept ready per dashboard. Each holds ~150 MB before its page is opened.
DEFAULT_POOL_SIZE = 1

#: Seconds a kernel may be idle (no execution, no messages) before it is shut down.
CULL_IDLE_TIMEOUT = 900
CULL_INTERVAL = 60
#: Seconds Voila waits, after a cell has finished, for the cell's outputs still on their way
#: from the kernel. nbclient's default of 4 s is too short on a busy server: the outputs that
#: arrive later are dropped without a word in the log, and the page is served with an empty
#: dashboard (the 20-user load benchmark saw this for pooled kernels on 2 cores). A complete
#: cell normally delivers its outputs at once, so a long limit costs nothing when all is well.
IOPUB_TIMEOUT_S = 300


#: Host names the server answers besides loopback and ``--ip``, separated by commas or spaces
#: (e.g. the public name nginx forwards in ``Host``). Read by :func:`options_from_environment`.
ENV_ALLOW_HOSTS = "FITDATA_ALLOW_HOSTS"
#: ``1`` when a TLS proxy on this machine forwards to the server: cookies are ``Secure`` and the
#: proxy's ``X-Forwarded-For`` names the client for login limits.
ENV_BEHIND_TLS = "FITDATA_BEHIND_TLS"

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


@dataclass(frozen=True)
class ServeOptions:
    """What ``fitdata serve`` was asked for."""

    db: Path
    dashboards: Path
    port: int = 8866
    lang: str = "en"
    config: Path | None = None
    ip: str = "127.0.0.1"
    token: str | None = None
    password_hash: str | None = None
    user: str | None = None  # a single-user install's fitdata user (FITDATA_USER for kernels)
    users: bool = False  # personal logins from the users table (fitdata/server/login.py)
    pool_size: int = DEFAULT_POOL_SIZE  # preheated kernels per dashboard; 0 turns preheating off
    allow_hosts: tuple[
        str, ...
    ] = ()  # names answered besides loopback and ip (FITDATA_ALLOW_HOSTS)
    behind_tls: bool = False  # a TLS proxy on this machine forwards to us (FITDATA_BEHIND_TLS)
    client_links_only: bool = False  # serve client links (/client/<token>) and nothing else


class AccessError(ValueError):
    """The server would be reachable from other machines without a login."""


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def options_from_environment(
    options: ServeOptions, environ: Mapping[str, str] | None = None
) -> ServeOptions:
    """``options`` with the names of :data:`ENV_ALLOW_HOSTS` added and :data:`ENV_BEHIND_TLS`.

    Raises:
        AccessError: If :data:`ENV_BEHIND_TLS` is not one of ``1``, ``true``, ``yes``, ``0``,
            ``false``, ``no`` or empty.
    """
    environ = os.environ if environ is None else environ
    names = tuple(n for n in re.split(r"[\s,]+", environ.get(ENV_ALLOW_HOSTS, "")) if n)
    flag = environ.get(ENV_BEHIND_TLS, "").strip().lower()
    if flag not in ("", "0", "false", "no", "1", "true", "yes"):
        raise AccessError(f"{ENV_BEHIND_TLS}={flag!r}: use 1 (behind a TLS proxy) or 0.")
    return replace(
        options,
        allow_hosts=tuple(dict.fromkeys((*options.allow_hosts, *names))),
        behind_tls=options.behind_tls or flag in ("1", "true", "yes"),
    )


def check_access(options: ServeOptions) -> None:
    """Refuse settings that would expose health data without a login.

    Raises:
        AccessError: If ``options.ip`` is not a loopback address and neither a token (of at
            least :data:`MIN_TOKEN_LENGTH` characters) nor a password hash is set, a token
            is set but too short, or an allowed host is not a host name or address.
    """
    for name in options.allow_hosts:
        if not (is_loopback(name) or _is_address(name) or _HOST_NAME.match(name.lower())):
            raise AccessError(
                f"{name!r} in --allow-host or ${ENV_ALLOW_HOSTS} is not a host name: give "
                "names like fitdata.example.org, without scheme, port or path."
            )
    if options.token is not None and len(options.token) < MIN_TOKEN_LENGTH:
        raise AccessError(
            f"The token is {len(options.token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "random characters, e.g. from: python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'"
        )
    if options.client_links_only and (
        options.token or options.password_hash or options.user or options.users
    ):
        raise AccessError(
            "--client-links-only serves client links and nothing else, to nobody logged in; "
            "do not set a token, password, --user or --users with it."
        )
    if options.users and (options.token or options.password_hash or options.user):
        raise AccessError(
            "--users logs every person in with their own token from `fitdata users add NAME "
            "--token`; do not set a shared token, password or --user as well."
        )
    if is_loopback(options.ip) or options.token or options.password_hash or options.users:
        return
    if options.client_links_only:  # no login exists: each link opens its own client page only
        return
    raise AccessError(
        f"--ip {options.ip} would let other machines open the dashboards without logging in. "
        "Set a token in the FITDATA_TOKEN environment variable (e.g. from python -c 'import "
        "secrets; print(secrets.token_urlsafe(32))') or a password with --password-hash "
        "(from python -c 'from jupyter_server.auth import passwd; print(passwd())'), or serve "
        "on 127.0.0.1 behind a proxy that logs people in (see docs/deployment.md)."
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def default_dashboards_dir() -> Path:
    """The ``dashboards/`` folder of the repository this package is installed from."""
    return Path(__file__).resolve().parents[2] / "dashboards"


def landing_page(lang: str) -> dict[str, Any]:
    """What the landing page shows, in ``lang``."""
    tr = Translator(lang)
    return {
        "title": tr.text("app.title"),
        "intro": tr.text("app.intro"),
        "dashboards": [
            {"path": path, "title": tr.text(title), "audience": tr.text(audience)}
            for path, title, audience in DASHBOARDS
        ],
        # the client page opens only through a client link: not listed
        "known": [*(path for path, _, _ in DASHBOARDS), CLIENT_NOTEBOOK],
    }


def _page_config_hook(page_config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    from fitdata.server.client_access import is_client_user
    from fitdata.server.frame import CURRENT_REQUEST, page_frame, page_language

    base_url = kwargs.get("base_url") or "/"
    frame = page_frame(kwargs.get("notebook_path"), base_url, DASHBOARDS, is_client_user)
    lang = page_language(CURRENT_REQUEST.get())
    page_config["fitdata"] = landing_page(lang)
    page_config["fitdata_frame"] = frame  # None on a client link's page: no staff frame
    page_config["fitdata_loading"] = Translator(lang).text("frame.loading")
    # the tab's title: the frame's, or on a client link's page a neutral one in its language
    page_config["fitdata_page_title"] = (
        frame["title"] if frame else Translator(lang).text("frame.client_page.title")
    )
    return page_config


def apply_dashboard_settings(config: Config) -> None:
    """Set what every fitdata Voila serves with, standalone or as a JupyterHub user's server.

    The fitdata template and landing page, no tracebacks and no files on pages, idle kernels
    culled, and time for a busy server to collect a cell's outputs (:data:`IOPUB_TIMEOUT_S`).
    """
    config.VoilaConfiguration.template = "fitdata"
    config.VoilaConfiguration.theme = "light"
    config.VoilaConfiguration.classic_tree = True  # the Jinja tree page, with descriptions
    # only our template: Voila's others load Font Awesome from a CDN (and skip the pool)
    config.VoilaConfiguration.allow_template_override = "NO"
    config.VoilaConfiguration.allow_theme_override = "NO"
    config.VoilaConfiguration.show_tracebacks = False
    config.VoilaConfiguration.file_allowlist = []  # serve no file from the dashboards folder
    config.VoilaConfiguration.page_config_hook = _page_config_hook
    config.MappingKernelManager.cull_idle_timeout = CULL_IDLE_TIMEOUT
    config.MappingKernelManager.cull_interval = CULL_INTERVAL
    config.VoilaExecutor.iopub_timeout = IOPUB_TIMEOUT_S


def voila_config(options: ServeOptions, request_secret: str = "") -> Config:
    """Voila's configuration implementing the safe defaults above.

    Args:
        options: What was asked for.
        request_secret: The secret in the path on which preheated kernels receive their page
            request (:mod:`fitdata.server.kernels`); :func:`serve` makes a new one per start.
    """
    from fitdata.server import page_close
    from fitdata.server.kernels import KernelOwnerAuthorizer
    from fitdata.server.login import FitdataPasswordIdentityProvider

    check_access(options)
    config = Config()
    config.Voila.ip = options.ip
    if options.token:
        config.Voila.token = options.token
    if options.password_hash:
        config.PasswordIdentityProvider.hashed_password = options.password_hash
    config.Voila.tornado_settings = {
        "headers": dict(SECURITY_HEADERS),
        "xsrf_cookie_kwargs": {"samesite": "Lax", "secure": options.behind_tls},
    }
    config.FitdataVoila.allowed_hosts = list(options.allow_hosts)
    config.FitdataVoila.trust_proxy = options.behind_tls
    config.FitdataVoila.request_secret = request_secret
    # sessions the server can end, login limits, cookie flags (fitdata/server/login.py)
    config.Voila.identity_provider_class = FitdataPasswordIdentityProvider
    config.IdentityProvider.cookie_options = {"samesite": "Lax", "expires_days": None}
    if options.behind_tls:
        config.IdentityProvider.secure_cookie = True
        config.SessionIdentityMixin.trust_proxy = True
    # a kernel's routes for the login that opened it only (fitdata/server/kernels.py)
    config.Voila.authorizer_class = KernelOwnerAuthorizer
    # each page ends its own kernel when closed: the template writes its key (page_close.py)
    config.TemplateExporter.filters = {
        page_close.TEMPLATE_FILTER: f"{page_close.__name__}.{page_close.page_close_markup.__name__}"
    }
    # the client page's link, set by the server (fitdata/server/client_access.py), every mode
    config.VoilaConfiguration.http_header_envs = [CLIENT_LINK_HEADER]
    config.FitdataVoila.client_db = str(options.db.resolve())
    config.Voila.port = options.port
    config.Voila.port_retries = 0  # fail clearly rather than silently serve on another port
    config.Voila.open_browser = False
    config.Voila.root_dir = str(options.dashboards)
    apply_dashboard_settings(config)
    # pooled kernels are never culled while they wait (Voila skips them); used ones are
    config.VoilaConfiguration.preheat_kernel = options.pool_size > 0
    config.VoilaConfiguration.default_pool_size = max(options.pool_size, 0)
    if options.client_links_only:  # nobody logs in: a client link is the only way in
        from fitdata.server.login import ClientLinksOnlyIdentityProvider

        config.Voila.identity_provider_class = ClientLinksOnlyIdentityProvider
        # only the client page can be opened: no other dashboard keeps a kernel waiting
        # (Voila matches each notebook's full path against these patterns)
        config.VoilaKernelManager.preheat_denylist = [rf"^(?!(.*/)?{re.escape(CLIENT_NOTEBOOK)}$)"]
    if options.users:  # personal logins; each page's kernel is bound to its user
        from fitdata.server.login import FitdataIdentityProvider

        config.Voila.identity_provider_class = FitdataIdentityProvider
        config.FitdataIdentityProvider.db_path = str(options.db.resolve())
        # the header a kernel receives: set by the identity provider from the login
        config.VoilaConfiguration.http_header_envs = [LOGIN_USER_HEADER, CLIENT_LINK_HEADER]
    return config


def harden_request_info_socket() -> None:
    """Make Voila keep a preheated kernel's request details until the kernel has read them.

    Voila (0.5) hands a page request's details to the preheated kernel that takes it over a
    WebSocket (``voila.request_info_handler.RequestInfoSocketHandler``). Two flaws there can
    leave a page blank for good under load: a message written to a connection that is closing
    is dropped, and closing a connection that is no longer registered unregisters the *last*
    waiting kernel instead (its loop variable is used after the loop). Here a message stays
    in the cache until its connection closes after a successful write, so a kernel that
    reconnects (:mod:`fitdata.ui.page_request` does) still gets it, and only the closing
    connection itself is unregistered.
    """
    from tornado.websocket import WebSocketClosedError
    from voila.request_info_handler import RequestInfoSocketHandler as Handler

    if getattr(Handler, "fitdata_hardened", False):
        return

    def open(self: Handler, kernel_id: str) -> None:
        Handler._waiters[kernel_id] = self
        if kernel_id in Handler._cache:
            self.write_message(Handler._cache[kernel_id])
            self.fitdata_delivered = True

    def on_close(self: Handler) -> None:
        for kernel_id, waiter in list(Handler._waiters.items()):
            if waiter is self:
                del Handler._waiters[kernel_id]
                # a kernel that read its message closes normally (1000); otherwise keep it
                if getattr(self, "fitdata_delivered", False) and self.close_code == 1000:
                    Handler._cache.pop(kernel_id, None)

    def send_updates(cls: type[Handler], msg: dict[str, Any]) -> None:
        kernel_id, payload = msg["kernel_id"], msg["payload"]
        cls._cache[kernel_id] = payload  # until the kernel has read it (see on_close)
        waiter = cls._waiters.get(kernel_id)
        if waiter is not None:
            try:
                waiter.write_message(payload)
                waiter.fitdata_delivered = True
            except WebSocketClosedError:
                pass  # the kernel reconnects, and open() sends it the cached details

    Handler.open = open
    Handler.on_close = on_close
    Handler.send_updates = classmethod(send_updates)
    Handler.fitdata_hardened = True


def serve(options: ServeOptions) -> None:
    """Run Voila in this process until interrupted.

    ``options`` are completed from the environment first (:func:`options_from_environment`);
    a wrong setting there ends the process with status 2 and a message that says what to fix.
    """
    try:
        options = options_from_environment(options)
        check_access(options)
    except AccessError as error:  # a wrong FITDATA_ALLOW_HOSTS or FITDATA_BEHIND_TLS
        print(f"fitdata serve: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    os.environ[ENV_DB] = str(options.db.resolve())
    os.environ[ENV_LANG] = options.lang
    for name in (ENV_LOGIN, ENV_LOGIN_USER):  # only this server decides how kernels log in
        os.environ.pop(name, None)
    if options.users or options.client_links_only:  # a kernel's user: the login's, or nobody
        for name in (ENV_USER, ENV_HUB_USER):
            os.environ.pop(name, None)
        os.environ[ENV_LOGIN] = "users"
    elif options.user:
        os.environ[ENV_USER] = options.user
    if options.config is not None:
        os.environ[ENV_CONFIG] = str(options.config.resolve())
    # a preheated kernel fetches its request over a WebSocket from this server (Voila's default
    # address is 127.0.0.1, which a server bound to one other address does not answer)
    if options.ip not in ("0.0.0.0", "::", "") and not is_loopback(options.ip):
        os.environ["VOILA_APP_IP"] = f"[{options.ip}]" if ":" in options.ip else options.ip
    # where the pooled kernels fetch their request: a path with a secret only they know
    from fitdata.server.kernels import request_base_url

    request_secret = secrets.token_urlsafe(32)
    os.environ["VOILA_WS_BASE_URL"] = request_base_url("/", request_secret)
    template_root = resources.files("fitdata.server").joinpath("jupyter_data")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(template_root), os.environ.get("JUPYTER_PATH", "")) if p
    )
    # imported late: Voila is slow to import, and only this command needs it
    from fitdata.server.app import FitdataVoila

    harden_request_info_socket()
    app = FitdataVoila(config=voila_config(options, request_secret))
    app.initialize([str(options.dashboards)])
    app.start()
