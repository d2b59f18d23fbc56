"""A real ``fitdata serve`` and headless Debian Chromium driven through Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import stop_in_background

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("FITDATA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Console messages that are expected offline and harmless (shared/toolchain.md): a web font
# link to a CDN that cannot resolve, and JupyterLab's shared-module version notices.
HARMLESS_CONSOLE = (
    "shared singleton module",
    "shared module",
    "Starting WebSocket",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fitdata serve exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"fitdata serve did not listen on {port} within {timeout} s")


class Server:
    """A ``fitdata serve`` process on a free loopback port, logging to ``log``.

    ``options`` are more ``fitdata serve`` arguments (``--users``, ``--pool-size 0``, ...).
    """

    def __init__(self, db: Path, lang: str, log: Path, *options: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        self._log_file = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(db)]
            + ["--port", str(self.port), "--lang", lang, *options],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        """SIGTERM; the exit (kill after 15 s) and closing the log are awaited in the background."""
        stop_in_background(self.process, 15, then=self._log_file.close)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server_en(demo_db, artifacts) -> Iterator[Server]:
    server = Server(demo_db, "en", artifacts / "serve-en.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_nb(demo_db, artifacts) -> Iterator[Server]:
    server = Server(demo_db, "nb", artifacts / "serve-nb.log")
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.console_problems = []  # type: ignore[attr-defined]

    def on_console(message) -> None:
        if message.type in ("error", "warning") and not any(
            h in message.text for h in HARMLESS_CONSOLE
        ):
            page.console_problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and page.console_problems.append(f"HTTP {response.status}: {response.url}")
        ),
    )
    page.on("pageerror", lambda error: page.console_problems.append(f"pageerror: {error}"))
    page.on("request", lambda request: _note_outside_request(page, request.url))
    yield page
    context.close()


#: Hosts a dashboard page may load anything from: the fitdata server on this machine.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _note_outside_request(page, url: str) -> None:
    """A page that loads anything from another host tells that host who looks at what."""
    if url.startswith(("http:", "https:")) and urlsplit(url).hostname not in LOCAL_HOSTS:
        page.console_problems.append(f"request to another host: {url}")
