"""How a dashboard kernel learns about the page request it serves, robustly.

A kernel from ``fitdata serve``'s preheated pool runs the notebook before anyone asks for the
page, then waits for the request's details (query string, the server-set login header), which
Voila sends over a WebSocket (``/voila/query/<kernel id>``). Voila's own helper,
``voila.utils.wait_for_request``, gives up for good after 5 s of connecting, and its client
closes the connection when a keep-alive ping is not answered within 20 s — which happens when
twenty pages open at once on two cores — after which the kernel never hears of its request and
the page stays blank. :func:`await_page_request` connects without client-side keep-alive,
reconnects after any failure, and logs what happens to the server's log. The server side keeps
the details until the kernel has read them
(:func:`fitdata.server.serve.harden_request_info_socket`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading

from fitdata.data.access import bind_login_user

__all__ = ["await_page_request", "log_to_server", "request_info_url"]

log = logging.getLogger(__name__)

#: Seconds between attempts to reach the server after a failure.
RETRY_DELAY_S = 1.0
#: Seconds one WebSocket handshake may take (a busy server answers slowly).
OPEN_TIMEOUT_S = 60.0

_page_requested = False


def log_to_server() -> None:
    """Send fitdata's log records from a dashboard kernel to the server's log (its stderr).

    A kernel's own stderr is shown in the page's output area, and its logging has no handler;
    the process's original stderr is the server's log, where an administrator looks.
    """
    logger = logging.getLogger("fitdata")
    if any(getattr(h, "fitdata_server_log", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.__stderr__)
    handler.fitdata_server_log = True  # type: ignore[attr-defined]
    handler.setFormatter(
        logging.Formatter("[fitdata kernel %(process)d] %(levelname)s %(name)s: %(message)s")
    )
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)


def request_info_url() -> str:
    """Where this preheated kernel receives its request (the address Voila's helper uses)."""
    protocol = os.environ.get("VOILA_WS_PROTOCOL", "ws")
    ip = os.environ.get("VOILA_APP_IP", "127.0.0.1")
    port = os.environ.get("VOILA_APP_PORT", "8866")
    base = os.environ.get("VOILA_WS_BASE_URL", os.environ.get("VOILA_SERVER_URL", "/"))
    kernel_id = os.environ.get("VOILA_KERNEL_ID", "")
    return f"{protocol}://{ip}:{port}{base}voila/query/{kernel_id}"


async def _receive(url: str) -> str:
    import websockets  # Voila's own dependency; only a preheated kernel needs it

    attempt = 0
    while True:
        attempt += 1
        try:
            # no client keep-alive: a busy server's late pong must not end the wait
            async with websockets.connect(
                url, open_timeout=OPEN_TIMEOUT_S, ping_interval=None, close_timeout=5
            ) as socket:
                message = await socket.recv()
                return message if isinstance(message, str) else message.decode()
        except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake):
            log.warning("waiting for the page request: attempt %d failed; retrying", attempt)
            await asyncio.sleep(RETRY_DELAY_S)


def _wait_for_request_info() -> dict[str, str]:
    """Block until the server sends this kernel's request details; return them."""
    url = request_info_url()
    received: dict[str, str] = {}
    failure: list[BaseException] = []

    def run() -> None:  # the kernel's own event loop is running: wait in a thread of its own
        try:
            received.update(json.loads(asyncio.run(_receive(url))))
        except BaseException as error:  # noqa: BLE001 - re-raised in the kernel's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="fitdata-page-request", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return received


def await_page_request() -> None:
    """In a preheated kernel, wait until a page request takes it, then bind the login's user.

    In a kernel started for a request (the details are in its environment already) it only
    binds the user.

    Raises:
        AccessDenied: On a ``fitdata serve --users`` server, if the request carried no login.
    """
    global _page_requested
    if "VOILA_PREHEAT" in os.environ:
        log_to_server()
    if not _page_requested and os.environ.get("VOILA_PREHEAT") == "True":
        # No kernel id in the log: whoever reads the server's console must not learn one
        # (fitdata.server.kernels binds a kernel to its login; the log format names the pid).
        log.info("a preheated kernel is ready; waiting for a page request")
        os.environ.update(_wait_for_request_info())
        log.info("a preheated kernel serves a page request")
    _page_requested = True
    bind_login_user()
