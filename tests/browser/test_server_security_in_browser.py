"""The server's defences as a real browser meets them: rebinding, cross-origin sockets, logout.

Chromium resolves every ``*.localhost`` name to this machine by itself, so ``evil.localhost``
stands for a name an attacker points at 127.0.0.1 (DNS rebinding) without any traffic leaving
the machine. ``localhost`` and ``127.0.0.1`` are two origins (and two sites) for the browser,
which gives a cross-origin page without a second server.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data import access
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser]

PAGE_TIMEOUT_MS = 180_000


class UsersServer(Server):
    """``fitdata serve --users`` on loopback over a copy of the tiny database, without a pool."""

    def __init__(self, db: Path, log: Path) -> None:
        self.tokens = {
            "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
        }
        super().__init__(db, "en", log, "--users", "--pool-size", "0")


@pytest.fixture(scope="module")
def server(tiny_db, artifacts, tmp_path_factory) -> Iterator[UsersServer]:
    db = tmp_path_factory.mktemp("security") / "security.duckdb"
    shutil.copyfile(tiny_db, db)
    started = UsersServer(db, artifacts / "serve-security.log")
    yield started
    started.stop()


@pytest.fixture
def context(browser):
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def test_a_rebound_name_gets_no_dashboard(server: UsersServer, context) -> None:
    page = context.new_page()
    token = server.tokens["kari"]
    response = page.goto(
        f"http://evil.localhost:{server.port}/voila/render/client_graph.ipynb?token={token}"
    )
    assert response is not None and response.status == 403
    assert page.locator(".fitdata-client-graph").count() == 0
    assert "kernelId" not in page.content()


def test_another_origin_cannot_open_a_kernels_websocket(server: UsersServer, context) -> None:
    token = server.tokens["kari"]
    own = context.new_page()
    own.goto(f"{server.url}voila/render/client_graph.ipynb?token={token}", timeout=PAGE_TIMEOUT_MS)
    own.wait_for_selector(".fitdata-graph .js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
    kernel_id = own.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", kernel_id)
    # a page of another origin (localhost is not 127.0.0.1 for the browser) tries the socket,
    # even with her token in the URL
    other = context.new_page()
    other.goto(f"http://localhost:{server.port}/login")
    outcome = other.evaluate(
        """url => new Promise(resolve => {
            const socket = new WebSocket(url);
            socket.onopen = () => { socket.close(); resolve("open"); };
            socket.onerror = () => resolve("refused");
            setTimeout(() => resolve("timeout"), 15000);
        })""",
        f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels?token={token}",
    )
    assert outcome == "refused"
    # her own page's socket, same origin, works (the graph above was drawn through it)
    same = own.evaluate(
        """url => new Promise(resolve => {
            const socket = new WebSocket(url);
            socket.onopen = () => { socket.close(); resolve("open"); };
            socket.onerror = () => resolve("refused");
            setTimeout(() => resolve("timeout"), 15000);
        })""",
        f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels",
    )
    assert same == "open"


def test_logout_ends_the_session_for_every_copy_of_the_cookie(
    server: UsersServer, browser, context, artifacts
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}login")
    page.fill("input[type=password]", server.tokens["kari"])
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{server.url}voila/tree")
    assert "/login" not in page.url
    cookies = [c for c in context.cookies() if c["name"].startswith("username-")]
    assert cookies and all(c["sameSite"] == "Lax" and c["httpOnly"] for c in cookies)
    assert all(c["expires"] == -1 for c in cookies)  # gone when the browser closes
    page.goto(f"{server.url}logout")
    assert page.url.endswith("/logout")  # the page says so, with a way back in
    assert page.locator("h1").inner_text() == "You are signed out"
    assert page.locator(".fitdata-sign-in").get_attribute("href").endswith("/login?lang=en")
    page.screenshot(path=artifacts / "security-after-logout.png")
    # someone who copied the cookie before the logout gets the login page
    copy = browser.new_context()
    try:
        copy.add_cookies(cookies)
        stolen = copy.new_page()
        stolen.goto(f"{server.url}voila/tree")
        assert "/login" in stolen.url
    finally:
        copy.close()
