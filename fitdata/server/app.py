"""Voila's application with fitdata's handlers: the one ``fitdata serve`` runs.

Voila (0.5) builds its Tornado application from a fixed list of handlers. :class:`FitdataVoila`
takes that list and

* puts :class:`fitdata.server.security.SecureHandlerMixin` in front of every handler (host and
  origin checks, security headers, error pages without tracebacks), and answers unknown paths
  with the same rules;
* replaces the page, kernel shutdown and request-info handlers by the ones of
  :mod:`fitdata.server.kernels`, so a kernel serves only the login that opened it, and
  records that login when a page request takes or starts a kernel;
* lets through a kernel's WebSocket only what a page sends
  (:data:`fitdata.server.page_close.BROWSER_KERNEL_MESSAGES`: no ``shutdown_request``), so a
  page ends its kernel only with its page key;
* draws the landing page knowing its request (:class:`LandingHandler`: the signed-in user's
  pages, in the page's language; :mod:`fitdata.server.frame`);
* adds the client page, ``/client/<token>``, and the tablet's hand-over and unlock
  (:mod:`fitdata.server.client_access`);
* keeps kernel ids and the kernels' request secret out of the console log.

Its configuration comes from :func:`fitdata.server.serve.voila_config` (``Voila`` settings apply
here too).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jupyter_core.paths import jupyter_config_path
from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError
from traitlets import Bool, List, Unicode, default
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.execution_request_handler import ExecutionRequestHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.treehandler import TornadoVoilaTreeHandler

from fitdata.server.client_access import CLIENT_DB_SETTING, client_routes
from fitdata.server.frame import CURRENT_REQUEST
from fitdata.server.kernels import (
    OWNERS_SETTING,
    REQUEST_PEERS_SETTING,
    REQUEST_SECRET_SETTING,
    KernelOwners,
    KernelRequestSocketHandler,
    OwnedExecutionHandler,
    OwnedShutdownHandler,
    PageHandler,
    request_route,
    track_page_kernels,
)
from fitdata.server.page_close import BROWSER_KERNEL_MESSAGES
from fitdata.server.security import (
    HOST_IPS_SETTING,
    NotFoundHandler,
    RedactingFilter,
    allowed_host_ips,
    allowed_host_names,
    secure,
)

__all__ = ["FitdataVoila", "quiet_closed_websockets"]

log = logging.getLogger(__name__)

#: Voila's handler classes and what serves in their place.
REPLACED_HANDLERS: dict[type, type] = {
    TornadoVoilaHandler: PageHandler,
    VoilaShutdownKernelHandler: OwnedShutdownHandler,
    ExecutionRequestHandler: OwnedExecutionHandler,
}


class LandingHandler(TornadoVoilaTreeHandler):
    """Voila's landing page, drawn knowing its request (the frame: who, which pages, language)."""

    @web.authenticated
    async def get(self, path: str = "") -> None:  # type: ignore[override]
        """The landing page for the signed-in user (fitdata/server/frame.py)."""
        request = CURRENT_REQUEST.set(self)
        try:
            await super().get(path)
        finally:
            CURRENT_REQUEST.reset(request)


REPLACED_HANDLERS[TornadoVoilaTreeHandler] = LandingHandler


class FitdataVoila(Voila):
    """Voila serving fitdata's dashboards under the rules of :mod:`fitdata.server`."""

    allowed_hosts = List(
        Unicode(),
        config=True,
        help="Host names (or addresses) this server answers besides loopback and --ip, e.g. the "
        "name a proxy forwards in Host.",
    )
    request_secret = Unicode(
        "",
        config=True,
        help="The secret in the path on which preheated kernels receive their page request; "
        "the kernels get it in VOILA_WS_BASE_URL.",
    )
    client_db = Unicode(
        "",
        config=True,
        help="The database whose client links /client/<token> opens (fitdata serve --db).",
    )
    trust_proxy = Bool(
        False,
        config=True,
        help="A TLS proxy on this machine forwards to this server (X-Forwarded-For from it is "
        "believed for login limits).",
    )

    @default("config_file_paths")
    def _config_file_paths_default(self) -> list[str]:
        """The Jupyter config path only, never the working directory.

        Voila also reads ``voila.json`` and ``voila.py`` from the directory it is started in,
        and a file there would override fitdata's hardened settings (or run code, for
        ``voila.py``) just because someone started ``fitdata serve`` in that folder. An
        administrator's own settings go in the Jupyter config directory
        (``jupyter --config-dir``), as ``docs/deployment.md`` says.
        """
        return list(jupyter_config_path())

    def init_settings(self) -> dict[str, Any]:
        """Voila's settings, plus the host rules, kernel owners and the kernels' secret."""
        settings = super().init_settings()
        self.kernel_owners = KernelOwners()
        track_page_kernels(self.kernel_manager, self.kernel_owners)
        # Voila passes its own list to the kernel manager, which configuration cannot change
        self.kernel_manager.allowed_message_types = list(BROWSER_KERNEL_MESSAGES)
        settings.update(
            {
                # Jupyter Server's own names for its host check, which ours replaces
                "allow_remote_access": False,
                "local_hostnames": list(allowed_host_names(self.ip, self.allowed_hosts)),
                HOST_IPS_SETTING: allowed_host_ips(self.ip, self.allowed_hosts),
                OWNERS_SETTING: self.kernel_owners,
                REQUEST_SECRET_SETTING: self.request_secret,
                REQUEST_PEERS_SETTING: [self.ip] if self.ip else [],
                CLIENT_DB_SETTING: self.client_db,
                "default_handler_class": NotFoundHandler,
                "default_handler_args": {"status_code": 404},
            }
        )
        return settings

    def init_handlers(self) -> list[Any]:
        """Voila's handlers, replaced where :data:`REPLACED_HANDLERS` says, all secured."""
        handlers = []
        page_kwargs: dict[str, Any] | None = None
        for pattern, handler_class, *rest in super().init_handlers():
            if handler_class is RequestInfoSocketHandler:
                continue  # /voila/query/<id>: moved behind the kernels' secret (below)
            if handler_class is TornadoVoilaHandler and rest:
                page_kwargs = rest[0]
            handler_class = REPLACED_HANDLERS.get(handler_class, handler_class)
            handlers.append((pattern, secure(handler_class), *rest))
        if page_kwargs is not None:  # the client page: /client/<token> (client_access.py)
            for pattern, handler_class, *rest in client_routes(self.server_url, page_kwargs):
                handlers.insert(0, (pattern, secure(handler_class), *rest))
        if self.voila_configuration.preheat_kernel and self.request_secret:
            handlers.append((request_route(self.server_url), secure(KernelRequestSocketHandler)))
        return handlers

    def start(self) -> None:
        """Keep kernel ids and the kernels' secret out of the console log, then serve."""
        redact = RedactingFilter([self.request_secret])
        self.log.addFilter(redact)
        for handler in self.log.handlers:
            handler.addFilter(redact)
        # Tornado's access log (warnings and errors only) and fitdata's own server log; without
        # a handler of their own Python's last-resort handler would print them unfiltered
        for name, prefix in (("tornado", ""), ("fitdata", "[fitdata] %(levelname)s | ")):
            logger = logging.getLogger(name)
            if not any(getattr(h, "fitdata_server_log", False) for h in logger.handlers):
                printer = logging.StreamHandler()
                printer.fitdata_server_log = True  # type: ignore[attr-defined]
                printer.setFormatter(logging.Formatter(prefix + "%(message)s"))
                printer.addFilter(redact)
                logger.addHandler(printer)
                logger.setLevel(logging.WARNING)
                logger.propagate = False
        IOLoop.current().asyncio_loop.set_exception_handler(quiet_closed_websockets)
        super().start()


def quiet_closed_websockets(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's exception handler: a write to a WebSocket the browser closed is no error.

    When a page closes, its kernel is shut down (:mod:`fitdata.server.page_close`) while Jupyter
    Server is still writing the kernel's last messages to the page's WebSocket; it does not
    await those writes, so asyncio printed "Task exception was never retrieved" with a
    traceback of ``WebSocketClosedError`` for a tab that simply went away. Those are logged as
    one debug line; every other unhandled exception goes to asyncio's default handler.
    """
    error = context.get("exception")
    if isinstance(error, WebSocketClosedError | StreamClosedError):
        log.debug("a write to a closed WebSocket was dropped: %s", context.get("message"))
        return
    loop.default_exception_handler(context)
