"""What every response of ``fitdata serve`` obeys, whichever handler answers it.

Voila registers a dozen handlers, only some of them Jupyter Server's own (``JupyterHandler``);
static files, template assets, unknown paths and the route through which a preheated kernel
receives its page request are plain Tornado handlers that skip Jupyter Server's checks and
headers. :func:`secure` gives every handler class the same rules, through
:class:`SecureHandlerMixin`:

* **Host** (DNS rebinding): a page on ``evil.example`` whose name resolves to 127.0.0.1 makes
  the browser send ``Host: evil.example:8866`` to this server, and then reads the answers as its
  own. Only the names this server is known by are answered (:func:`host_allowed`): loopback
  addresses and ``localhost`` always; the address it is bound to; the machine's own names when it
  is bound to every address; and the names an operator configures (``FITDATA_ALLOW_HOSTS``, e.g.
  the name nginx forwards). Jupyter Server has the same check (``allow_remote_access=False`` with
  ``local_hostnames``), but it knows no address but loopback and runs only in Jupyter's own
  handlers, so it does not fit as it is: the same settings are set, and this check replaces it.
* **Origin**: a request that names an origin (every WebSocket from a browser, every POST)
  must come from the origin it is sent to. Jupyter Server lets a request with a token in its URL
  through from anywhere; nothing here needs that.
* **Headers**: :data:`fitdata.server.serve.SECURITY_HEADERS` plus ``X-Content-Type-Options`` and
  a ``frame-ancestors 'self'`` policy on every response, static files and errors included, and
  ``Cache-Control: no-store`` on everything but static files.
* **Error pages**: a short page (or JSON for the API) without a traceback; Jupyter Server's own
  error template needs settings Voila does not have and turned every error into a 500.

:class:`RedactingFilter` keeps kernel ids, login tokens in logged URLs, client links' tokens
(``/client/<token>``) and the kernels' request secret out of the server's console log: a kernel
id is not a password here (:mod:`fitdata.server.kernels` checks who owns a kernel), but a log is
read by more people than the pages.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import json
import logging
import math
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from tornado.websocket import WebSocketHandler

__all__ = [
    "ALL_ADDRESSES",
    "HOST_IPS_SETTING",
    "SERVER_SET_HEADERS",
    "NotFoundHandler",
    "PageError",
    "RedactingFilter",
    "SecureHandlerMixin",
    "TooManyAttempts",
    "allowed_host_ips",
    "allowed_host_names",
    "host_allowed",
    "kernel_tag",
    "secure",
]

#: ``--ip`` values that bind every address of the machine.
ALL_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
#: Tornado setting: the IP literals a ``Host`` header may name besides loopback ("*": any).
HOST_IPS_SETTING = "fitdata_host_ips"
#: A kernel id as Jupyter makes them (a UUID 4).
KERNEL_ID_PATTERN = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
#: A login token in a logged URL (Tornado logs the URL of every refused request).
TOKEN_PATTERN = re.compile(r"([?&](?:token|_xsrf)=)[^&\s]+", re.IGNORECASE)
#: A client link's token in a logged path (``/client/<token>``): it opens a client's form.
CLIENT_LINK_PATTERN = re.compile(r"(/client/)[A-Za-z0-9_-]+")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def allowed_host_names(ip: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The host names a server bound to ``ip`` answers to, besides IP addresses.

    Args:
        ip: The address it listens on (``--ip``): a loopback address, one address, every
            address (``0.0.0.0``) or a host name.
        extra: Names configured by the operator (``FITDATA_ALLOW_HOSTS``), e.g. the public name
            a proxy forwards in ``Host``.

    Returns:
        ``localhost``, the configured names, ``ip`` itself when it is a name, and the machine's
        own names when it is bound to every address; lower case, sorted.
    """
    names = {"localhost", *(name.strip().lower() for name in extra if name.strip())}
    if ip and _ip(ip) is None and ip not in ALL_ADDRESSES:
        names.add(ip.lower())
    if ip in ALL_ADDRESSES:
        for own in (socket.gethostname(), socket.getfqdn()):
            if own and _ip(own) is None:
                names.add(own.lower())
    return tuple(sorted(names - {n for n in names if _ip(n) is not None}))


def allowed_host_ips(ip: str, extra: Iterable[str] = ()) -> str | list[str]:
    """The IP literals a ``Host`` header may name besides loopback addresses.

    An IP literal in ``Host`` means the browser was pointed at that address itself; DNS
    rebinding needs a name. Still, a server answers only the address it was told to serve.

    Returns:
        ``"*"`` when bound to every address, else the bound address and the configured ones
        that are not loopback (loopback addresses are always answered).
    """
    if ip in ALL_ADDRESSES:
        return "*"
    parsed = (_ip(text) for text in (ip, *extra))
    return sorted({str(address) for address in parsed if address and not address.is_loopback})


def split_host(host_header: str) -> str:
    """The name or address of a ``Host`` header, without port or IPv6 brackets, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def host_allowed(host_header: str, names: Sequence[str], ips: str | Sequence[str]) -> bool:
    """Whether a request naming ``host_header`` is for this server (see the module docstring).

    Args:
        host_header: The request's ``Host``, with or without a port.
        names: Host names answered (:func:`allowed_host_names`).
        ips: IP literals answered besides loopback, or ``"*"`` (:func:`allowed_host_ips`).
    """
    host = split_host(host_header)
    if not host:
        return False
    address = _ip(host)
    if address is None:
        return host in {name.lower() for name in names}
    if address.is_loopback or ips == "*":
        return True
    return str(address) in ips


def same_origin(origin: str, host_header: str) -> bool:
    """Whether ``origin`` (scheme://host[:port]) names the same host and port as ``Host``."""
    netloc = urlsplit(origin.strip().lower()).netloc
    return bool(netloc) and netloc == host_header.strip().lower()


class TooManyAttempts(web.HTTPError):
    """429: too many failed logins; :attr:`retry_after` seconds until the next may be tried."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            429, "Too many failed logins; try again in %d seconds", math.ceil(retry_after)
        )
        self.retry_after = math.ceil(retry_after)


class PageError(web.HTTPError):
    """An error answered with a page of its own (the client link's gate), not the short one."""

    def __init__(self, status_code: int, page_html: str) -> None:
        super().__init__(status_code)
        self.page_html = page_html


#: Request headers only the server sets (it tells a kernel whom it serves through them): a
#: browser's are deleted from every request before any handler runs.
SERVER_SET_HEADERS: tuple[str, ...] = ("X-Fitdata-User", "X-Fitdata-Client-Link")


_ERROR_TEXT = {
    403: "This address does not serve that request.",
    404: "There is nothing at this address.",
    429: "Too many failed logins from your address. Wait a little and try again.",
}


class SecureHandlerMixin:
    """The rules of the module docstring, for any Tornado handler class (put it first)."""

    request: Any
    settings: dict[str, Any]

    def set_default_headers(self) -> None:
        """Security headers on every response but a WebSocket handshake."""
        super().set_default_headers()  # type: ignore[misc]
        if isinstance(self, WebSocketHandler):
            return
        headers = {"X-Content-Type-Options": "nosniff", **self.settings.get("headers", {})}
        for name, value in headers.items():
            self.set_header(name, value)  # type: ignore[attr-defined]
        if "Content-Security-Policy" not in self._headers:  # type: ignore[attr-defined]
            self.set_header("Content-Security-Policy", "frame-ancestors 'self'")  # type: ignore[attr-defined]
        if not isinstance(self, web.StaticFileHandler):
            # pages and API answers are never kept by the browser: the back button asks the
            # server again (a browser handed over to a client then gets the client's page only)
            self.set_header("Cache-Control", "no-store")  # type: ignore[attr-defined]

    def check_host(self) -> bool:
        """Whether the request's ``Host`` names this server (replaces Jupyter Server's check)."""
        allowed = host_allowed(
            self.request.host,
            self.settings.get("local_hostnames", ["localhost"]),
            self.settings.get(HOST_IPS_SETTING, []),
        )
        if not allowed:
            logging.getLogger("fitdata.server").warning(
                "Refused a request for host %r from %s", self.request.host, self.request.remote_ip
            )
        return allowed

    def check_origin(self, origin: str | None = None) -> bool:
        """Whether a request that names an origin comes from the origin it is sent to."""
        stated = self.request.headers.get("Origin") or self.request.headers.get(
            "Sec-Websocket-Origin"
        )
        if stated is None:
            return True  # a script, or a kernel fetching its request: nothing a page can forge
        allowed = same_origin(stated, self.request.headers.get("Host", ""))
        if not allowed:
            logging.getLogger("fitdata.server").warning(
                "Refused a cross-origin request from %r for host %r", stated, self.request.host
            )
        return allowed

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        """Check ``Host`` (and ``Origin`` on a POST) first; Jupyter's handlers check in theirs.

        The headers in :data:`SERVER_SET_HEADERS` are deleted from the request first.
        """
        for name in SERVER_SET_HEADERS:
            if name in self.request.headers:
                del self.request.headers[name]
        if not isinstance(self, JupyterHandler):
            if not self.check_host():
                raise web.HTTPError(403)
            if self.request.method not in ("GET", "HEAD", "OPTIONS") and not self.check_origin():
                raise web.HTTPError(403)
        return super().prepare(*args, **kwargs)  # type: ignore[misc]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A short answer with the status and nothing of the server's insides."""
        error = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(error, TooManyAttempts):
            self.set_header("Retry-After", str(error.retry_after))  # type: ignore[attr-defined]
        if isinstance(error, PageError) and not isinstance(self, APIHandler):
            self.set_header("Content-Type", "text/html; charset=UTF-8")  # type: ignore[attr-defined]
            self.set_header("Cache-Control", "no-store")  # type: ignore[attr-defined]
            self.finish(error.page_html)  # type: ignore[attr-defined]
            return
        reason = self._reason  # type: ignore[attr-defined]
        text = _ERROR_TEXT.get(status_code, "")
        if status_code == 400 and isinstance(error, web.HTTPError) and error.log_message:
            text = error.log_message % error.args if error.args else error.log_message
        if isinstance(self, APIHandler):
            self.set_header("Content-Type", "application/json")  # type: ignore[attr-defined]
            self.finish(json.dumps({"message": text or reason, "reason": reason}))  # type: ignore[attr-defined]
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")  # type: ignore[attr-defined]
        self.finish(  # type: ignore[attr-defined]
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{status_code} {html.escape(reason)}</title></head><body>"
            f"<h1>{status_code} {html.escape(reason)}</h1><p>{html.escape(text)}</p></body></html>"
        )


class NotFoundHandler(SecureHandlerMixin, web.ErrorHandler):
    """Answers paths no route matches (Tornado's own 404 carries none of the headers)."""


_secured: dict[type, type] = {}


def secure(handler_class: type) -> type:
    """``handler_class`` with :class:`SecureHandlerMixin` in front (made once per class)."""
    if issubclass(handler_class, SecureHandlerMixin):
        return handler_class
    if handler_class not in _secured:
        _secured[handler_class] = type(
            f"Secure{handler_class.__name__}",
            (SecureHandlerMixin, handler_class),
            {"__module__": __name__, "__doc__": handler_class.__doc__},
        )
    return _secured[handler_class]


def kernel_tag(kernel_id: str) -> str:
    """How the log names a kernel: ``kernel-`` and 12 hex digits of the id's SHA-256.

    The same kernel has the same tag in every line, so an operator can follow it; the tag does
    not give the id back. Whoever has an id (its page, a benchmark) can compute its tag.
    """
    return "kernel-" + hashlib.sha256(kernel_id.lower().encode()).hexdigest()[:12]


class RedactingFilter(logging.Filter):
    """Replace kernel ids in log records by :func:`kernel_tag`; tokens and secrets entirely."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        """Redact kernel ids, and each of ``secrets`` (e.g. the kernels' request secret)."""
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        """``text`` without kernel ids or secrets."""
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        text = TOKEN_PATTERN.sub(r"\1[secret]", text)
        text = CLIENT_LINK_PATTERN.sub(r"\1[secret]", text)
        return KERNEL_ID_PATTERN.sub(lambda found: kernel_tag(found.group(0)), text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drop a record."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a badly formatted record is logged as it is
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True
