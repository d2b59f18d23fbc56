"""A dashboard's kernel ends with its page: closing or leaving the tab shuts it down.

Voila (0.5) sends a beacon to ``/voila/api/shutdown/<kernel id>`` when a page unloads, with
the ``_xsrf`` it reads from the page's cookies. Voila's page handler never sets that cookie, so
Jupyter Server refused every beacon (``'_xsrf' argument missing from POST``, voila issue #1458)
and each closed tab kept its kernel (~230 MB) until the idle cull, 15 minutes later.

Here the page's own beacon is accepted, and only that one:

* :class:`fitdata.server.kernels.PageHandler` sets the ``_xsrf`` cookie with the page, so the
  beacon carries a valid XSRF token; XSRF stays enforced on the route, as everywhere else.
* The page also carries a **page key** for its kernel: an HMAC of the kernel id under a secret
  made at each start of the server (:func:`page_key`). The template
  (``jupyter_data/voila/templates/fitdata/index.html.j2``) writes it, with the script
  ``fitdata/ui/static/page_close.js``, into the page as soon as the kernel is known
  (:func:`page_close_markup`, a Jinja filter): in a preheated kernel's page too, which is
  rendered before anyone asks for it, since the key needs no request.
* The script sends the beacon, with the key, when the page is hidden for good (``pagehide``)
  and in place of Voila's own beacon (``beforeunload``), once.
* :class:`fitdata.server.kernels.OwnedShutdownHandler` shuts a kernel down only for its owner's
  login **and** with that kernel's key (:func:`valid_page_key`): another login is refused, and
  so is another tab of the same login, which knows the kernel id at most, never its key.
  The kernel API's ``DELETE``/restart/interrupt and a ``shutdown_request`` over the kernel's
  WebSocket are refused to every browser (:data:`BROWSER_KERNEL_MESSAGES`), so the page key is
  the only way a browser ends a kernel.

A tab that dies without unloading (a crash, a phone that drops the page) sends nothing; the
idle cull (:data:`fitdata.server.serve.CULL_IDLE_TIMEOUT`) stays as the backstop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from functools import cache
from importlib import resources

from markupsafe import Markup

__all__ = [
    "BROWSER_KERNEL_MESSAGES",
    "PAGE_KEY_FIELD",
    "TEMPLATE_FILTER",
    "page_close_markup",
    "page_key",
    "valid_page_key",
]

#: The form field of the shutdown beacon that carries the page key.
PAGE_KEY_FIELD = "fitdata_page_key"
#: The Jinja filter's name in the page template (``TemplateExporter.filters``).
TEMPLATE_FILTER = "fitdata_page_close"
#: What a browser may send over a kernel's WebSocket under ``fitdata serve``: the widgets' comm
#: messages and the kernel-info handshake. Voila's own list also lets ``shutdown_request``
#: through, with which any tab that knows a kernel id could end it; a page never sends one.
BROWSER_KERNEL_MESSAGES: tuple[str, ...] = (
    "comm_open",
    "comm_close",
    "comm_msg",
    "comm_info_request",
    "kernel_info_request",
)

#: Made anew at each start of the server: a page key is valid for this server's kernels only.
_SECRET = secrets.token_bytes(32)


def page_key(kernel_id: str) -> str:
    """The key that the page of ``kernel_id`` shows to end its kernel (64 hex digits)."""
    return hmac.new(_SECRET, kernel_id.lower().encode(), hashlib.sha256).hexdigest()


def valid_page_key(kernel_id: str, key: str) -> bool:
    """Whether ``key`` is the page key of ``kernel_id`` (compared in constant time)."""
    return bool(key) and hmac.compare_digest(key.encode(), page_key(kernel_id).encode())


@cache
def _script() -> str:
    # through the fitdata package: importing fitdata.ui would load pandas into the server
    return resources.files("fitdata").joinpath("ui", "static", "page_close.js").read_text("utf-8")


def page_close_markup(kernel_id: str, base_url: str = "/") -> Markup:
    """The page's shutdown details and script, as the template writes them after the kernel id.

    Args:
        kernel_id: The page's kernel.
        base_url: The server's base URL (``resources.base_url`` in the template).
    """
    details = {
        "url": f"{base_url.rstrip('/')}/voila/api/shutdown/{kernel_id}",
        "field": PAGE_KEY_FIELD,
        "key": page_key(kernel_id),
    }
    # JSON inside a script element: "</" could end the element early
    text = json.dumps(details).replace("</", "<\\/")
    return Markup(
        f'<script id="fitdata-page-close" type="application/json">{text}</script>\n'
        f"<script>{_script()}</script>\n"
    )
