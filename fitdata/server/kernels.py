"""A dashboard's kernel serves the login that opened its page, and nobody else.

A kernel holds one person's view of the data: her clients, already read through her scope.
Voila identifies kernels by id, and its routes take an id from anyone logged in: the kernel's
WebSocket (``/api/kernels/<id>/channels``, the widgets and all their state), the kernel API
(``GET``/``DELETE /api/kernels/<id>``), the page's shutdown route (``/voila/api/shutdown/<id>``),
and, for a preheated kernel, the route on which it waits for the page request it will serve
(``/voila/query/<id>``), which needs no login at all. Kernel ids are not secret enough for that:
they are in every page's HTML, in ``ps`` (the kernel's connection file), and were in the log.

So the server remembers who opened each kernel (:class:`KernelOwners`), when a page request
takes a pooled kernel or starts one (:func:`track_page_kernels`, with the requester's name in
:data:`PAGE_OWNER` for the length of the request), and:

* :class:`KernelOwnerAuthorizer` allows Jupyter Server's kernel routes (the WebSocket and
  reading the kernel API) to the owner only, and the kernel API's shutdown, restart and
  interrupt to nobody: a page never uses them;
* :class:`OwnedShutdownHandler` shuts a kernel down for its owner's page only: the owner's
  login with the kernel's page key (:mod:`fitdata.server.page_close`), so that closing a tab
  ends its kernel and no other tab can (a browser just handed over to a client counts as its
  therapist's here, so the registration page it left ends its kernel);
  :class:`OwnedExecutionHandler` allows Voila's progressive rendering socket to the owner only;
* :class:`KernelRequestSocketHandler` moves the preheated kernels' route to a path with a secret
  that only this server's kernels know (``VOILA_WS_BASE_URL`` in their environment, which
  ``voila.utils.wait_for_request`` and :mod:`fitdata.ui.page_request` both use), from this
  machine only; ``/voila/query/<id>`` is no longer served;
* :class:`PageHandler` records the owner, sets the ``_xsrf`` cookie the page's shutdown beacon
  sends back, and refuses ``?template=`` and ``?theme=`` other than the server's own: Voila's
  other templates load Font Awesome from a CDN, and any override skipped the preheated pool.

The owner is the login's user name: a person under ``--users``, the browser's anonymous login
under a shared token, password or no login at all (Jupyter Server keeps one per browser in the
login cookie).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import posixpath
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.authorizer import Authorizer
from tornado import web
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.execution_request_handler import ExecutionRequestHandler
from voila.tornado.handler import TornadoVoilaHandler

from fitdata.kernel_env import CLIENT_NOTEBOOK
from fitdata.server.frame import CURRENT_REQUEST
from fitdata.server.page_close import PAGE_KEY_FIELD, valid_page_key

__all__ = [
    "OWNERS_SETTING",
    "PAGE_OWNER",
    "REQUEST_SECRET_SETTING",
    "KernelOwnerAuthorizer",
    "KernelOwners",
    "KernelRequestSocketHandler",
    "OwnedExecutionHandler",
    "OwnedShutdownHandler",
    "PageHandler",
    "request_route",
    "track_page_kernels",
]

log = logging.getLogger("fitdata.server")

#: Tornado setting holding the server's :class:`KernelOwners`.
OWNERS_SETTING = "fitdata_kernel_owners"
#: Tornado settings: the secret in the preheated kernels' route, and the addresses it answers.
REQUEST_SECRET_SETTING = "fitdata_request_secret"
REQUEST_PEERS_SETTING = "fitdata_request_peers"
#: The first part of the preheated kernels' route; the secret follows it.
REQUEST_PREFIX = "fitdata-kernel-request"

#: Who the page request being served is for (set by :class:`PageHandler` during a request).
PAGE_OWNER: ContextVar[str | None] = ContextVar("fitdata_page_owner", default=None)


class KernelOwners:
    """Which login opened each kernel: kernel id -> user name."""

    def __init__(self) -> None:
        """An empty record: a kernel nobody has opened a page with is nobody's."""
        self._owners: dict[str, str] = {}

    def record(self, kernel_id: str, owner: str | None, running: Callable[[str], bool]) -> None:
        """Remember that ``owner`` opened ``kernel_id``; forget kernels no longer ``running``."""
        for stale in [k for k in self._owners if not running(k)]:
            del self._owners[stale]
        if owner:
            self._owners[kernel_id] = owner

    def forget(self, kernel_id: str) -> None:
        """Forget a kernel that was shut down."""
        self._owners.pop(kernel_id, None)

    def owner(self, kernel_id: str) -> str | None:
        """The user name that opened ``kernel_id``, or None."""
        return self._owners.get(kernel_id)

    def may_use(self, kernel_id: str | None, user: Any) -> bool:
        """Whether ``user`` (a Jupyter Server user) opened ``kernel_id``."""
        name = getattr(user, "username", None)
        return bool(kernel_id and name and self._owners.get(kernel_id) == name)


def track_page_kernels(kernel_manager: Any, owners: KernelOwners) -> None:
    """Record the owner of every kernel a page request takes from the pool or starts.

    Wraps the kernel manager's own (instance) methods that Voila's page handler calls: a
    preheated pool's ``get_rendered_notebook`` and ``start_kernel``. Refilling the pool calls
    the class's ``start_kernel`` directly, so a pooled kernel has no owner until a request
    takes it. ``shutdown_kernel`` forgets the owner.
    """

    def running(kernel_id: str) -> bool:
        return kernel_id in kernel_manager

    start_kernel = kernel_manager.start_kernel

    async def start_for_page(*args: Any, **kwargs: Any) -> str:
        kernel_id = await ensure_async(start_kernel(*args, **kwargs))
        owners.record(kernel_id, PAGE_OWNER.get(), running)
        return kernel_id

    kernel_manager.start_kernel = start_for_page

    if hasattr(kernel_manager, "get_rendered_notebook"):
        get_rendered_notebook = kernel_manager.get_rendered_notebook

        async def take_from_pool(*args: Any, **kwargs: Any) -> Any:
            taken = await get_rendered_notebook(*args, **kwargs)
            owners.record(taken[2], PAGE_OWNER.get(), running)  # (task, cache, kernel id)
            return taken

        kernel_manager.get_rendered_notebook = take_from_pool

    shutdown_kernel = kernel_manager.shutdown_kernel

    async def shutdown_and_forget(kernel_id: str, *args: Any, **kwargs: Any) -> Any:
        owners.forget(kernel_id)
        return await ensure_async(shutdown_kernel(kernel_id, *args, **kwargs))

    kernel_manager.shutdown_kernel = shutdown_and_forget


def _kernel_id(handler: Any) -> str | None:
    kwargs = getattr(handler, "path_kwargs", None) or {}
    if "kernel_id" in kwargs:
        return kwargs["kernel_id"]
    return getattr(handler, "kernel_id", None)


def _user_name(user: Any) -> str:
    return getattr(user, "username", None) or "nobody"


class KernelOwnerAuthorizer(Authorizer):
    """Jupyter Server's kernel routes (WebSocket, kernel API) for the kernel's owner only."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """Whether ``user`` may do ``action`` on ``resource`` (see the module docstring)."""
        kernel_id = _kernel_id(handler)
        if resource != "kernels" and kernel_id is None:
            return True  # Voila's own pages, listings and assets: their handlers decide
        if kernel_id is not None and action == "write":
            # DELETE, restart, interrupt: a page ends its kernel with its key (OwnedShutdownHandler)
            log.warning(
                "Refused %s on a kernel through the kernel API (from %s)",
                handler.request.method,
                handler.request.remote_ip,
            )
            return False
        owners: KernelOwners | None = handler.settings.get(OWNERS_SETTING)
        allowed = owners is not None and owners.may_use(kernel_id, user)
        if not allowed:
            log.warning(
                "Refused %s on a kernel that %s did not open (from %s)",
                action,
                _user_name(user),
                handler.request.remote_ip,
            )
        return allowed


class OwnedShutdownHandler(VoilaShutdownKernelHandler):
    """Voila's page-closing shutdown, for the kernel's own page only (owner and page key).

    Jupyter Server has checked the XSRF token before :meth:`post` runs (``prepare``).
    """

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        """Shut the kernel down if the request's login opened it and shows its page key."""
        owners: KernelOwners | None = self.settings.get(OWNERS_SETTING)
        if owners is None or not (
            owners.may_use(kernel_id, self.current_user)
            or owners.may_use(kernel_id, self._handed_over_by())
        ):
            log.warning(
                "Refused to shut down a kernel that %s did not open (from %s)",
                _user_name(self.current_user),
                self.request.remote_ip,
            )
            raise web.HTTPError(403)
        if not valid_page_key(kernel_id, self.get_body_argument(PAGE_KEY_FIELD, "")):
            log.warning(
                "Refused to shut down a kernel of %s without its page's key (from %s)",
                _user_name(self.current_user),
                self.request.remote_ip,
            )
            raise web.HTTPError(403)
        await super().post(kernel_id)

    def _handed_over_by(self) -> Any:
        """The therapist who handed this browser over to a client link, if it was.

        Her page (the registration page) sends its closing beacon just after the session was
        locked: with its page key, it still ends her kernel.
        """
        lock_of = getattr(self.identity_provider, "lock_of", None)
        lock = lock_of(self) if lock_of is not None else None
        owner = getattr(lock, "owner", "")
        return type("HandedOverBy", (), {"username": owner})() if owner else None


class OwnedExecutionHandler(ExecutionRequestHandler):
    """Voila's progressive rendering socket (``/voila/execution/<id>``), for the owner only.

    ``fitdata serve`` does not turn progressive rendering on (it cannot be used with the pool),
    but a Voila configuration file could.
    """

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Open the socket if the request's login opened the kernel."""
        kernel_id = kwargs.get("kernel_id") or (args[0] if args else None)
        owners: KernelOwners | None = self.settings.get(OWNERS_SETTING)
        if owners is None or not owners.may_use(kernel_id, self.current_user):
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)


class PageHandler(TornadoVoilaHandler):
    """Voila's page handler, recording who each page's kernel is for."""

    def _refuse_overrides(self) -> None:
        configured = {
            "template": self.voila_configuration.template,
            "theme": self.voila_configuration.theme,
        }
        for name, own in configured.items():
            if any(value != own for value in self.get_arguments(name)):
                raise web.HTTPError(
                    400, f"This server shows its dashboards only with its own {name}."
                )

    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        """Render the page for the logged-in user; its kernel is hers alone.

        The client page (:data:`CLIENT_NOTEBOOK`) is not served here: only a client link opens
        it (:class:`fitdata.server.client_access.ClientPageHandler`), with the link's header.
        """
        if posixpath.normpath("/" + (path or "")).strip("/").lower() == CLIENT_NOTEBOOK:
            raise web.HTTPError(404)
        await self.render_page(path)

    async def render_page(self, path: str | None) -> None:
        """Render ``path`` for the request's user (set by the caller); its kernel is theirs."""
        self._refuse_overrides()
        self.xsrf_token  # noqa: B018 - sets the _xsrf cookie its shutdown beacon sends back
        owner = PAGE_OWNER.set(self.current_user.username)
        request = CURRENT_REQUEST.set(self)  # the page frame's request (fitdata/server/frame.py)
        try:
            await super().get(path=path)
        finally:
            CURRENT_REQUEST.reset(request)
            PAGE_OWNER.reset(owner)


def request_route(server_url: str) -> str:
    """The route pattern of :class:`KernelRequestSocketHandler` under ``server_url``."""
    base = server_url.rstrip("/")
    return (
        f"{base}/{REQUEST_PREFIX}/(?P<secret>[A-Za-z0-9_-]+)/voila/query/"
        r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
    )


def request_base_url(server_url: str, secret: str) -> str:
    """``VOILA_WS_BASE_URL`` for the kernels: where they find :func:`request_route`."""
    return f"{server_url.rstrip('/')}/{REQUEST_PREFIX}/{secret}/"


def _is_peer_allowed(remote_ip: str, peers: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(remote_ip)
    except ValueError:
        return False
    return address.is_loopback or str(address) in peers


class KernelRequestSocketHandler(RequestInfoSocketHandler):
    """Where a preheated kernel receives the page request it serves: its kernels only."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Open the socket for a caller that knows the secret and runs on this machine."""
        secret = kwargs.pop("secret", "")
        expected = self.settings.get(REQUEST_SECRET_SETTING, "")
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise web.HTTPError(404)
        if not _is_peer_allowed(
            self.request.remote_ip, self.settings.get(REQUEST_PEERS_SETTING, [])
        ):
            raise web.HTTPError(403)
        if self.request.headers.get("Origin"):  # a browser: never one of our kernels
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)
