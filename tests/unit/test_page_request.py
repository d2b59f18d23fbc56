"""A preheated kernel hears of its page request even when the first connection fails."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest
from tornado.websocket import WebSocketClosedError

from fitdata.data import access
from fitdata.server.serve import harden_request_info_socket
from fitdata.ui import page_request


class FakeSocket:
    """Stands in for one kernel's WebSocket connection to Voila's request-info handler."""

    def __init__(self, *, broken: bool = False) -> None:
        self.sent: list[dict] = []
        self.broken = broken
        self.close_code: int | None = None

    def write_message(self, message: dict) -> None:
        if self.broken:
            raise WebSocketClosedError()
        self.sent.append(message)


@pytest.fixture()
def handler():
    from voila.request_info_handler import RequestInfoSocketHandler as Handler

    harden_request_info_socket()
    Handler._waiters.clear()
    Handler._cache.clear()
    yield Handler
    Handler._waiters.clear()
    Handler._cache.clear()


def connect(handler, kernel_id: str, **kwargs) -> FakeSocket:
    socket = FakeSocket(**kwargs)
    handler.open(socket, kernel_id)
    return socket


def test_details_written_to_a_closing_connection_are_kept_for_the_reconnect(handler) -> None:
    dying = connect(handler, "k1", broken=True)
    handler.send_updates({"kernel_id": "k1", "payload": {"QUERY_STRING": "a=1"}})
    dying.close_code = 1006
    handler.on_close(dying)
    again = connect(handler, "k1")  # the kernel reconnects and still gets its request
    assert again.sent == [{"QUERY_STRING": "a=1"}]
    again.close_code = 1000  # read and closed normally: now it may go
    handler.on_close(again)
    assert "k1" not in handler._cache and "k1" not in handler._waiters


def test_closing_an_unregistered_connection_leaves_other_kernels_waiting(handler) -> None:
    waiting = connect(handler, "k2")
    stray = FakeSocket()
    stray.close_code = 1000
    handler.on_close(stray)  # Voila 0.5 unregistered the last waiter here
    handler.send_updates({"kernel_id": "k2", "payload": {"QUERY_STRING": "b=2"}})
    assert waiting.sent == [{"QUERY_STRING": "b=2"}]


def test_a_preheated_kernel_retries_until_its_request_arrives(monkeypatch) -> None:
    import websockets

    attempts: list[str] = []

    async def serve_details(socket) -> None:
        attempts.append(socket.request.path)
        if len(attempts) == 1:
            await socket.close(code=1011)  # e.g. the server closed it under load
            return
        await socket.send(json.dumps({"QUERY_STRING": "cases=x", access.ENV_LOGIN_USER: "kari"}))

    ready = threading.Event()
    stop: list = []

    def run_server() -> None:
        async def main() -> None:
            async with websockets.serve(serve_details, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                monkeypatch.setenv("VOILA_APP_PORT", str(port))
                stopped = asyncio.get_running_loop().create_future()
                stop.append((asyncio.get_running_loop(), stopped))
                ready.set()
                await stopped

        asyncio.run(main())

    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    assert ready.wait(10)
    monkeypatch.setattr(page_request, "RETRY_DELAY_S", 0.05)
    monkeypatch.setattr(page_request, "_page_requested", False)
    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv("VOILA_KERNEL_ID", "kernel-7")
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    monkeypatch.setenv(access.ENV_LOGIN, "users")
    monkeypatch.setenv(access.ENV_LOGIN_USER, "")  # restored after the test: the kernel sets
    monkeypatch.setenv("QUERY_STRING", "")  # both from the request's details
    try:
        page_request.await_page_request()
    finally:
        loop, stopped = stop[0]
        loop.call_soon_threadsafe(stopped.set_result, None)
        thread.join(10)
    assert attempts == ["/voila/query/kernel-7", "/voila/query/kernel-7"]
    assert access.current_user() == "kari"
    assert os.environ["QUERY_STRING"] == "cases=x"
