"""``fitdata serve`` against the attacks a health-data server must stand: HTTP and WebSockets.

Three real servers on 127.0.0.1, one of each kind, started once for the module:

* ``open_server``: ``fitdata serve`` without a login, as ``make demo`` runs it (no pool, so
  nothing runs before a test asks);
* ``users_server``: ``fitdata serve --users`` with its preheated pool, two people with tokens;
* ``proxied_server``: ``--users`` behind a TLS proxy on this machine
  (``FITDATA_BEHIND_TLS=1``) serving under a configured name (``FITDATA_ALLOW_HOSTS``).

What they are tested against: DNS rebinding (a foreign ``Host``) and cross-origin WebSockets;
another login reaching a kernel by its id (its WebSocket, the kernel API, the shutdown route,
and the route through which a preheated kernel receives its page request); logout, login
rate limits, cookie flags, security headers on every response, and template overrides. Every
request goes to 127.0.0.1 only, with a timeout; every loop is bounded.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import websocket  # websocket-client: a plain synchronous client with full control of headers

from fitdata.data import access
from fitdata.server.security import kernel_tag
from fitdata.server.serve import SECURITY_HEADERS
from tests.conftest import stop_in_background

ROOT = Path(__file__).resolve().parents[2]
EVIL = "evil.example"
KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PAGE_KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')
#: The shutdown details a page carries (fitdata/server/page_close.py).
PAGE_CLOSE = re.compile(r'<script id="fitdata-page-close" type="application/json">(.*?)</script>')
#: Seconds a page may take: a kernel started for it imports pandas, DuckDB and the widgets.
PAGE_TIMEOUT_S = 180
#: Failed logins an address may make before it must wait (docs/deployment.md, threat model).
FREE_LOGIN_ATTEMPTS = 5


# --------------------------------------------------------------------------------------------
# HTTP and WebSocket clients with full control of Host, Origin, cookies and source address


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def cookies(self) -> dict[str, str]:
        """The cookies this response sets (not those it deletes)."""
        found = {}
        for line in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value and value != '""' and "expires=thu, 01 jan 1970" not in line.lower():
                found[name] = value
        return found

    def set_cookie_lines(self) -> list[str]:
        return list(self.headers.get_all("Set-Cookie") or [])


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    host: str | None = None,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    body: str | None = None,
    source: str | None = None,
    timeout: float = 60,
) -> Response:
    """One request to 127.0.0.1:``port``, with ``Host`` and the source address as given."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    sent = {"Host": host or f"127.0.0.1:{port}", **(headers or {})}
    if cookies:
        sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Response(
            response.status, response.headers, response.read().decode("utf-8", "replace")
        )
    finally:
        connection.close()


@dataclass
class Socket:
    """The outcome of a WebSocket handshake: 101 and an open connection, or the refusal."""

    status: int
    connection: websocket.WebSocket | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def open_socket(
    port: int,
    path: str,
    *,
    host: str | None = None,
    origin: str | None = None,
    cookies: dict[str, str] | None = None,
    timeout: float = 30,
) -> Socket:
    """Open a WebSocket to 127.0.0.1:``port`` as a browser (or a script) would."""
    try:
        connection = websocket.create_connection(
            f"ws://127.0.0.1:{port}{path}",
            timeout=timeout,
            host=host or f"127.0.0.1:{port}",
            origin=origin,
            suppress_origin=origin is None,
            cookie="; ".join(f"{k}={v}" for k, v in (cookies or {}).items()) or None,
        )
    except websocket.WebSocketBadStatusException as refused:
        return Socket(refused.status_code)
    except (ConnectionError, websocket.WebSocketException):
        return Socket(0)
    return Socket(101, connection)


def _message(msg_type: str, content: dict, session: str, metadata: dict | None = None) -> dict:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "",
            "session": session,
            "version": "5.3",
            "date": now,
        },
        "parent_header": {},
        "metadata": metadata or {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


def _replies(ws: websocket.WebSocket, deadline: float) -> Iterator[dict]:
    while time.monotonic() < deadline:
        try:
            yield json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            return


def widget_states(socket_: Socket, *, timeout: float = 60) -> dict:
    """Ask the kernel behind an open kernel WebSocket for every widget's state, as Voila does."""
    assert socket_.connection is not None
    ws = socket_.connection
    deadline = time.monotonic() + timeout
    session, comm_id = uuid.uuid4().hex, uuid.uuid4().hex
    control = {"comm_id": comm_id, "target_name": "jupyter.widget.control", "data": {}}
    opening = _message("comm_open", control, session, {"version": "1.0.0"})
    ws.send(json.dumps(opening))
    for reply in _replies(ws, deadline):  # the kernel handles the opening before the request
        parent = reply.get("parent_header", {}).get("msg_id")
        if (
            parent == opening["header"]["msg_id"]
            and reply["content"].get("execution_state") == "idle"
        ):
            break
    request_states = {"comm_id": comm_id, "data": {"method": "request_states"}}
    ws.send(json.dumps(_message("comm_msg", request_states, session)))
    for reply in _replies(ws, deadline):
        data = reply.get("content", {}).get("data", {})
        if reply.get("msg_type") == "comm_msg" and data.get("method") == "update_states":
            return data["states"]
    raise AssertionError("the kernel sent no widget states")


# --------------------------------------------------------------------------------------------
# Servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITDATA_", "VOILA_"))}
    return {**env, **extra}


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen
    db: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            assert self.process.poll() is None, self.log_text()[-3000:]
            time.sleep(0.25)
        raise AssertionError(f"{text!r} not in the server's log within {timeout} s")

    def stop(self) -> None:
        """SIGTERM; the exit (kill after 20 s) is awaited in the background."""
        stop_in_background(self.process, 20)


def _start(db: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    port = _free_port()
    out = open(log, "w")  # noqa: SIM115 - the child process writes it until stop()
    process = subprocess.Popen(
        [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(db), "--port", str(port), *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env or _env(),
        cwd=ROOT,
    )
    out.close()
    server = Server(port, log, process, db)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        if process.poll() is not None:
            raise RuntimeError(f"fitdata serve exited: {log.read_text()[-3000:]}")
        time.sleep(0.2)
    server.stop()
    raise TimeoutError("fitdata serve did not listen within 90 s")


def _db_with_users(tiny_db: Path, folder: Path) -> tuple[Path, dict[str, str]]:
    db = folder / "served.duckdb"
    shutil.copyfile(tiny_db, db)
    tokens = {
        "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
        "leder": access.add_user(db, "leder", "leader", token=True),
    }
    return db, tokens  # type: ignore[return-value]


@pytest.fixture(scope="module")
def open_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("open")
    db = folder / "open.duckdb"
    shutil.copyfile(tiny_db, db)
    server = _start(db, folder / "serve.log", "--pool-size", "0")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def users_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("users")
    db, tokens = _db_with_users(tiny_db, folder)
    server = _start(db, folder / "serve.log", "--users")
    server.tokens = tokens
    yield server
    server.stop()


PROXY_NAME = "fitdata.example.org"


@pytest.fixture(scope="module")
def proxied_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("proxied")
    db, tokens = _db_with_users(tiny_db, folder)
    env = _env(FITDATA_BEHIND_TLS="1", FITDATA_ALLOW_HOSTS=PROXY_NAME)
    server = _start(db, folder / "serve.log", "--users", "--pool-size", "0", env=env)
    server.tokens = tokens
    yield server
    server.stop()


def login(server: Server, user: str) -> dict[str, str]:
    """Log ``user`` in with her personal token; return the login cookie."""
    response = request(server.port, f"/voila/tree?token={server.tokens[user]}")
    assert response.status == 200, response.status
    cookies = response.cookies()
    assert cookies, response.set_cookie_lines()
    return cookies


@dataclass
class Page:
    kernel_id: str
    cookies: dict[str, str]
    body: str


def open_page(server: Server, notebook: str, *, user: str | None = None) -> Page:
    """Open a dashboard page as ``user`` (or anonymously on an open server)."""
    query = f"?token={server.tokens[user]}" if user else ""
    response = request(server.port, f"/voila/render/{notebook}{query}", timeout=PAGE_TIMEOUT_S)
    assert response.status == 200, (response.status, response.body[:500])
    found = PAGE_KERNEL_ID.search(response.body)
    assert found, "no kernel id in the page"
    return Page(found.group(1), response.cookies(), response.body)


@pytest.fixture(scope="module")
def kari_page(users_server: Server) -> Page:
    """Kari's client graph, served by a pooled kernel."""
    users_server.wait_for_log("Kernel pool of client_graph.ipynb is filled", timeout=240)
    return open_page(users_server, "client_graph.ipynb", user="kari")


# --------------------------------------------------------------------------------------------
# The rules themselves, in plain Python (no server)


def test_host_rules() -> None:
    from fitdata.server.security import allowed_host_ips, allowed_host_names, host_allowed

    names = allowed_host_names("127.0.0.1", ["Fitdata.Example.org"])
    ips = allowed_host_ips("127.0.0.1")
    assert names == ("fitdata.example.org", "localhost") and ips == []
    for host in (
        "localhost:8866",
        "127.0.0.1:8866",
        "127.5.5.5",
        "[::1]:8866",
        "FITDATA.example.org",
    ):
        assert host_allowed(host, names, ips), host
    for host in ("evil.example:8866", "localhost.evil.example", "10.0.0.5:8866", "", "[::2]"):
        assert not host_allowed(host, names, ips), host
    # bound to one address: that address too; to every address: any address, and its own names
    assert host_allowed("10.0.0.5:8866", ["localhost"], allowed_host_ips("10.0.0.5"))
    assert not host_allowed("10.0.0.6:8866", ["localhost"], allowed_host_ips("10.0.0.5"))
    assert allowed_host_ips("0.0.0.0") == "*"
    assert socket.gethostname().lower() in allowed_host_names("0.0.0.0")
    assert "myserver" in allowed_host_names("myserver")


def test_page_keys_are_per_kernel_and_the_page_carries_only_its_own() -> None:
    from fitdata.server.page_close import page_close_markup, page_key, valid_page_key

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert page_key(first) == page_key(first.upper()) != page_key(second)
    assert valid_page_key(first, page_key(first))
    for wrong in (page_key(second), "", page_key(first)[:-1], page_key(first) + "0"):
        assert not valid_page_key(first, wrong), wrong
    markup = str(page_close_markup(first, "/base/"))
    details = json.loads(PAGE_CLOSE.search(markup).group(1))
    assert details == {
        "url": f"/base/voila/api/shutdown/{first}",
        "field": "fitdata_page_key",
        "key": page_key(first),
    }
    assert page_key(second) not in markup
    assert 'addEventListener("pagehide"' in markup  # the script that sends it


def test_no_browser_ends_a_kernel_through_the_kernel_api() -> None:
    from types import SimpleNamespace

    from fitdata.server.kernels import KernelOwnerAuthorizer, KernelOwners

    owners = KernelOwners()
    owners.record("k1", "kari", lambda _: True)
    kari = SimpleNamespace(username="kari")

    def handler(kernel_id: str | None) -> SimpleNamespace:
        return SimpleNamespace(
            path_kwargs={"kernel_id": kernel_id} if kernel_id else {},
            settings={"fitdata_kernel_owners": owners},
            request=SimpleNamespace(method="DELETE", remote_ip="127.0.0.1"),
        )

    authorizer = KernelOwnerAuthorizer()
    assert authorizer.is_authorized(handler("k1"), kari, "execute", "kernels")  # her WebSocket
    assert authorizer.is_authorized(handler("k1"), kari, "read", "kernels")
    assert not authorizer.is_authorized(handler("k1"), kari, "write", "kernels")  # DELETE
    assert not authorizer.is_authorized(handler(None), kari, "write", "kernels")  # a new one
    leder = SimpleNamespace(username="leder")
    assert not authorizer.is_authorized(handler("k1"), leder, "execute", "kernels")


def test_the_login_limiter_backs_off_per_address_and_for_the_server() -> None:
    from fitdata.server.login import LoginLimiter
    from fitdata.server.security import TooManyAttempts

    now = [0.0]
    limiter = LoginLimiter(
        free_attempts=3, server_free_attempts=5, window=60, backoff_start=10,
        backoff_max=40, clock=lambda: now[0],
    )  # fmt: skip
    for _ in range(2):
        limiter.failed("a")
    limiter.check("a")  # two failures: still free
    limiter.failed("a")
    with pytest.raises(TooManyAttempts) as waiting:
        limiter.check("a")
    assert waiting.value.status_code == 429 and waiting.value.retry_after == 10
    limiter.check("b")  # another address is not held up
    now[0] = 11
    limiter.check("a")
    limiter.failed("a")  # one more failure within the window: twice as long
    assert limiter.wait("a") == 20
    now[0] = 200  # the window has passed: counting starts afresh
    limiter.failed("a")
    assert limiter.wait("a") == 0
    for address in "cdef":  # with "a" five failures in the window: the server limit
        limiter.failed(address)
    assert limiter.wait("h") == 10


def test_sessions_end_on_logout_and_by_age() -> None:
    from fitdata.server.login import Sessions

    now = [0.0]
    sessions = Sessions(max_age=100, max_count=2, clock=lambda: now[0])
    first = sessions.start("kari")
    assert sessions.valid(first, "kari") and not sessions.valid(first, "leder")
    assert not sessions.valid("made-up", "kari") and not sessions.valid(None, "kari")
    sessions.end(first)
    assert not sessions.valid(first, "kari")
    second = sessions.start("kari")
    now[0] = 101
    assert not sessions.valid(second, "kari")
    a, b, c = (sessions.start(name) for name in ("a", "b", "c"))
    assert len(sessions) == 2 and not sessions.valid(a, "a") and sessions.valid(c, "c")


def test_the_log_shows_kernel_tags_not_kernel_ids() -> None:
    import logging

    from fitdata.server.security import RedactingFilter, kernel_tag

    kernel = str(uuid.uuid4())
    record = logging.LogRecord(
        "x", logging.INFO, "", 0, "Kernel started: %s (%s)", (kernel, "s3"), None
    )
    RedactingFilter(["s3"]).filter(record)
    assert record.getMessage() == f"Kernel started: {kernel_tag(kernel)} ([secret])"
    assert kernel not in record.getMessage() and kernel_tag(kernel) == kernel_tag(kernel.upper())


def test_host_names_and_proxy_come_from_the_environment() -> None:
    from fitdata.server.serve import (
        AccessError,
        ServeOptions,
        check_access,
        options_from_environment,
    )

    base = ServeOptions(Path("."), Path("."))
    options = options_from_environment(
        base, {"FITDATA_ALLOW_HOSTS": "a.example, b.example c.example", "FITDATA_BEHIND_TLS": "1"}
    )
    assert options.allow_hosts == ("a.example", "b.example", "c.example") and options.behind_tls
    assert options_from_environment(base, {}) == base
    check_access(options)
    with pytest.raises(AccessError, match="FITDATA_BEHIND_TLS"):
        options_from_environment(base, {"FITDATA_BEHIND_TLS": "maybe"})
    for junk in ("https://a.example", "a.example:443", "a.example/path", "*"):
        with pytest.raises(AccessError, match="not a host name"):
            check_access(options_from_environment(base, {"FITDATA_ALLOW_HOSTS": junk}))


def test_a_wrong_host_setting_stops_the_server_with_a_message(tiny_db: Path) -> None:
    env = _env(FITDATA_ALLOW_HOSTS="https://fitdata.example.org/")
    done = subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(tiny_db)]
        + ["--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is not a host name" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------
# 1. DNS rebinding and cross-origin WebSockets


def test_a_foreign_host_name_is_refused(open_server: Server) -> None:
    """A page on evil.example whose name resolves to 127.0.0.1 must get nothing."""
    host = f"{EVIL}:{open_server.port}"
    for path in ("/", "/voila/tree", "/voila/render/client_graph.ipynb", "/voila/static/voila.js"):
        response = request(open_server.port, path, host=host, timeout=PAGE_TIMEOUT_S)
        assert response.status == 403, (path, response.status)
        assert "kernelId" not in response.body and "Traceback" not in response.body


def test_loopback_names_are_served(open_server: Server) -> None:
    for host in ("127.0.0.1", "localhost", "[::1]"):
        response = request(open_server.port, "/", host=f"{host}:{open_server.port}")
        assert response.status == 200, host
        assert "client_graph.ipynb" in response.body


def test_a_kernel_websocket_under_a_foreign_host_is_refused(open_server: Server) -> None:
    page = open_page(open_server, "client_graph.ipynb")
    # the owner's own browser, same origin: the widget state comes through
    own = open_socket(
        open_server.port,
        f"/api/kernels/{page.kernel_id}/channels",
        origin=open_server.origin,
        cookies=page.cookies,
    )
    try:
        assert own.status == 101
        assert widget_states(own), "no widgets"
    finally:
        own.close()
    # a rebound page: Host and Origin are both the attacker's name
    rebound = open_socket(
        open_server.port,
        f"/api/kernels/{page.kernel_id}/channels",
        host=f"{EVIL}:{open_server.port}",
        origin=f"http://{EVIL}:{open_server.port}",
    )
    rebound.close()
    assert rebound.status == 403


def test_a_cross_origin_kernel_websocket_is_refused_even_with_a_token(
    users_server: Server, kari_page: Page
) -> None:
    token = users_server.tokens["kari"]
    foreign = open_socket(
        users_server.port,
        f"/api/kernels/{kari_page.kernel_id}/channels?token={token}",
        origin=f"http://{EVIL}",
    )
    foreign.close()
    assert foreign.status == 403


def test_a_configured_name_is_served_and_others_are_refused(proxied_server: Server) -> None:
    port = proxied_server.port
    served = request(port, "/voila/tree", host=PROXY_NAME, headers={"X-Forwarded-Proto": "https"})
    assert served.status == 302 and "/login" in served.headers["Location"]
    assert request(port, "/voila/tree", host=f"127.0.0.1:{port}").status == 302
    assert request(port, "/voila/tree", host=EVIL).status == 403
    assert request(port, "/voila/tree", host=f"{PROXY_NAME}.{EVIL}").status == 403


# --------------------------------------------------------------------------------------------
# 2. A kernel serves only the login that opened it


def test_another_login_cannot_open_a_kernels_websocket(
    users_server: Server, kari_page: Page
) -> None:
    leder = login(users_server, "leder")
    path = f"/api/kernels/{kari_page.kernel_id}/channels"
    other = open_socket(users_server.port, path, origin=users_server.origin, cookies=leder)
    other.close()
    assert other.status == 403
    token = users_server.tokens["leder"]
    with_token = open_socket(users_server.port, f"{path}?token={token}")
    with_token.close()
    assert with_token.status == 403
    anonymous = open_socket(users_server.port, path, origin=users_server.origin)
    anonymous.close()
    assert anonymous.status == 403


def test_the_owner_keeps_her_kernel(users_server: Server, kari_page: Page) -> None:
    kari = login(users_server, "kari")
    own = open_socket(
        users_server.port,
        f"/api/kernels/{kari_page.kernel_id}/channels",
        origin=users_server.origin,
        cookies=kari,
    )
    try:
        assert own.status == 101
        assert widget_states(own)
    finally:
        own.close()
    token = users_server.tokens["kari"]
    status = request(users_server.port, f"/api/kernels/{kari_page.kernel_id}?token={token}")
    assert status.status == 200 and json.loads(status.body)["id"] == kari_page.kernel_id


def test_another_login_cannot_read_or_stop_a_kernel(users_server: Server, kari_page: Page) -> None:
    port, kernel = users_server.port, kari_page.kernel_id
    token = users_server.tokens["leder"]
    assert request(port, f"/api/kernels/{kernel}?token={token}").status == 403
    assert request(port, f"/api/kernels/{kernel}?token={token}", method="DELETE").status == 403
    shutdown = request(port, f"/voila/api/shutdown/{kernel}?token={token}", method="POST", body="")
    assert shutdown.status == 403
    assert request(port, f"/api/kernels/{kernel}").status in (302, 403)  # no login at all
    # her page's kernel is still there
    kari = users_server.tokens["kari"]
    assert request(port, f"/api/kernels/{kernel}?token={kari}").status == 200


def test_the_request_info_route_is_closed_to_everyone_but_the_servers_kernels(
    users_server: Server, kari_page: Page
) -> None:
    """A pooled kernel's request (with its user's ?token=) reaches that kernel, nobody else."""
    users_server.wait_for_log("Kernel pool of service.ipynb is filled", timeout=240)
    known = set(KERNEL_ID.findall(users_server.log_text())) | {kari_page.kernel_id}
    known.add(str(uuid.uuid4()))
    sockets = [open_socket(users_server.port, f"/voila/query/{kernel}") for kernel in sorted(known)]
    for opened in sockets:
        opened.close()
    assert [s.status for s in sockets if s.status == 101] == []
    # and the pool still works: a page request reaches its pooled kernel, which binds the user
    page = open_page(users_server, "service.ipynb", user="leder")
    assert "application/vnd.jupyter.widget-view+json" in page.body
    assert "Using pre-heated kernel" in users_server.log_text()
    leder = login(users_server, "leder")
    own = open_socket(
        users_server.port,
        f"/api/kernels/{page.kernel_id}/channels",
        origin=users_server.origin,
        cookies=leder,
    )
    try:
        assert own.status == 101
        assert "Signed in as leder" in json.dumps(widget_states(own))
    finally:
        own.close()


@dataclass
class Tab:
    """A dashboard page opened with a login cookie, as a browser tab has it."""

    kernel_id: str
    key: str
    cookies: dict[str, str]  # the login and the _xsrf cookie set with the page


def open_tab(server: Server, cookies: dict[str, str], notebook: str = "client_graph.ipynb") -> Tab:
    """Open ``notebook`` as the first page of a browser: the page itself sets ``_xsrf``."""
    cookies = {name: value for name, value in cookies.items() if name != "_xsrf"}
    response = request(
        server.port, f"/voila/render/{notebook}", cookies=cookies, timeout=PAGE_TIMEOUT_S
    )
    assert response.status == 200, (response.status, response.body[:500])
    details = json.loads(PAGE_CLOSE.search(response.body).group(1))
    kernel_id = PAGE_KERNEL_ID.search(response.body).group(1)
    assert details["url"] == f"/voila/api/shutdown/{kernel_id}"
    assert re.fullmatch(r"[0-9a-f]{64}", details["key"])
    set_cookies = response.cookies()
    assert "_xsrf" in set_cookies, response.set_cookie_lines()
    return Tab(kernel_id, details["key"], {**cookies, **set_cookies})


def end_kernel(server: Server, tab: Tab, kernel_id: str, **fields: str) -> int:
    """The page's shutdown beacon: a form POST with ``fields`` and the tab's cookies."""
    response = request(
        server.port,
        f"/voila/api/shutdown/{kernel_id}",
        method="POST",
        cookies=tab.cookies,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": server.origin},
        body=urlencode(fields),
    )
    return response.status


def kernel_status(server: Server, tab: Tab, kernel_id: str) -> int:
    return request(server.port, f"/api/kernels/{kernel_id}", cookies=tab.cookies).status


def test_only_a_kernels_own_page_can_end_it(users_server: Server) -> None:
    """Two tabs of kari's, one of leder's: each ends its own kernel and nobody else's."""
    kari = login(users_server, "kari")
    first, second = open_tab(users_server, kari), open_tab(users_server, kari)
    leder = open_tab(users_server, login(users_server, "leder"))
    target = first.kernel_id
    xsrf = {"_xsrf": first.cookies["_xsrf"]}
    # another tab of the same login: its own key is not this kernel's, and no key is no key
    assert end_kernel(users_server, second, target, **xsrf, fitdata_page_key=second.key) == 403
    assert end_kernel(users_server, second, target, _xsrf=second.cookies["_xsrf"]) == 403
    # another login, even with the right key (copied from the page)
    assert (
        end_kernel(
            users_server, leder, target, _xsrf=leder.cookies["_xsrf"], fitdata_page_key=first.key
        )
        == 403
    )
    # the right key without the XSRF token: XSRF stays enforced on this route
    assert end_kernel(users_server, first, target, fitdata_page_key=first.key) == 403
    # the kernel API's DELETE, restart and interrupt are no way round the key, for the owner too
    api = {"Origin": users_server.origin, "X-XSRFToken": first.cookies["_xsrf"]}
    for method, path in (("DELETE", ""), ("POST", "/restart"), ("POST", "/interrupt")):
        refused = request(
            users_server.port,
            f"/api/kernels/{target}{path}",
            method=method,
            cookies=second.cookies,
            headers=api,
            body="" if method == "POST" else None,
        )
        # Voila serves no restart or interrupt route at all (404)
        assert refused.status == (403 if method == "DELETE" else 404), (method, path)
    # nor is a shutdown_request over the kernel's WebSocket, which her other tab may open
    sock = open_socket(
        users_server.port,
        f"/api/kernels/{target}/channels",
        origin=users_server.origin,
        cookies=second.cookies,
    )
    try:
        assert sock.status == 101
        shutdown = _message("shutdown_request", {"restart": False}, uuid.uuid4().hex)
        sock.connection.send(json.dumps({**shutdown, "channel": "control"}))
        users_server.wait_for_log('"shutdown_request", which is not allowed', timeout=60)
    finally:
        sock.close()
    assert kernel_status(users_server, first, target) == 200
    # the page itself, with its key and XSRF token: ended, and gone from the server
    assert end_kernel(users_server, first, target, **xsrf, fitdata_page_key=first.key) == 204
    users_server.wait_for_log(f"Kernel shutdown: {kernel_tag(target)}", timeout=60)
    assert kernel_status(users_server, first, target) in (403, 404)  # nobody's now
    assert kernel_status(users_server, second, second.kernel_id) == 200  # the other tab's lives
    for tab in (second, leder):
        assert (
            end_kernel(
                users_server,
                tab,
                tab.kernel_id,
                _xsrf=tab.cookies["_xsrf"],
                fitdata_page_key=tab.key,
            )
            == 204
        )


# --------------------------------------------------------------------------------------------
# 3. Sessions, login limits, cookies, headers, templates


def test_logout_ends_the_session_on_the_server(users_server: Server) -> None:
    cookies = login(users_server, "kari")
    assert request(users_server.port, "/voila/tree", cookies=cookies).status == 200
    out = request(users_server.port, "/logout", cookies=cookies)
    assert out.status == 200 and "You are signed out" in out.body  # the page says so
    assert 'href="/login?lang=en"' in out.body  # and how to log in again
    # a copy of the cookie taken before the logout no longer logs anyone in
    again = request(users_server.port, "/voila/tree", cookies=cookies)
    assert again.status == 302 and "/login" in again.headers["Location"]


def test_logout_answers_without_a_login_too(open_server: Server) -> None:
    first = request(open_server.port, "/voila/tree")
    out = request(open_server.port, "/logout", cookies=first.cookies())
    assert out.status == 200, out.status


def _login_form(server: Server, source: str) -> tuple[dict[str, str], str]:
    page = request(server.port, "/login", source=source)
    assert page.status == 200
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.body)
    cookies = page.cookies()
    return cookies, xsrf.group(1) if xsrf else ""


def test_failed_logins_are_rate_limited_per_address(users_server: Server) -> None:
    port, token = users_server.port, users_server.tokens["kari"]
    guesser, bystander = "127.0.0.7", "127.0.0.8"
    for attempt in range(FREE_LOGIN_ATTEMPTS):
        wrong = request(port, f"/voila/tree?token=guess-{attempt}-{'x' * 30}", source=guesser)
        assert wrong.status == 302, (attempt, wrong.status)
    # now even the right token is refused from that address, and for a while
    locked = request(port, f"/voila/tree?token={token}", source=guesser)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    cookies, xsrf = _login_form(users_server, guesser)
    form = request(
        port,
        "/login",
        method="POST",
        source=guesser,
        cookies=cookies,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"_xsrf": xsrf, "password": token}),
    )
    assert form.status == 429
    # another address is not held up
    assert request(port, f"/voila/tree?token={token}", source=bystander).status == 200


def test_behind_the_proxy_the_forwarded_address_is_limited(proxied_server: Server) -> None:
    port, token = proxied_server.port, proxied_server.tokens["kari"]

    def attempt(secret: str, client: str) -> int:
        headers = {"X-Forwarded-For": client, "X-Forwarded-Proto": "https"}
        return request(port, f"/voila/tree?token={secret}", host=PROXY_NAME, headers=headers).status

    for n in range(FREE_LOGIN_ATTEMPTS):
        assert attempt(f"guess-{n}-{'y' * 30}", "203.0.113.9") == 302
    assert attempt(token, "203.0.113.9") == 429
    assert attempt(token, "203.0.113.10") == 200


def test_login_cookies_are_same_site_lax_and_http_only(users_server: Server) -> None:
    response = request(users_server.port, f"/voila/tree?token={users_server.tokens['kari']}")
    lines = [line for line in response.set_cookie_lines() if line.startswith("username-")]
    assert lines, response.set_cookie_lines()
    for line in lines:
        flags = [part.strip().lower() for part in line.split(";")[1:]]
        assert "samesite=lax" in flags and "httponly" in flags, line
        assert "secure" not in flags, line  # plain HTTP on loopback: a Secure cookie is lost


def test_behind_tls_cookies_are_secure(proxied_server: Server) -> None:
    response = request(
        proxied_server.port,
        f"/voila/tree?token={proxied_server.tokens['kari']}",
        host=PROXY_NAME,
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.20"},
    )
    assert response.status == 200
    lines = [line for line in response.set_cookie_lines() if line.startswith("username-")]
    assert lines
    for line in lines:
        flags = [part.strip().lower() for part in line.split(";")[1:]]
        assert "secure" in flags and "samesite=lax" in flags, line


def _has_security_headers(response: Response) -> list[str]:
    missing = [
        name for name, value in SECURITY_HEADERS.items() if response.headers.get(name) != value
    ]
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        missing.append("X-Content-Type-Options")
    if "frame-ancestors 'self'" not in (response.headers.get("Content-Security-Policy") or ""):
        missing.append("Content-Security-Policy")
    return missing


def test_every_response_carries_the_security_headers(open_server: Server) -> None:
    landing = request(open_server.port, "/")
    assert landing.status == 200
    static = sorted(set(re.findall(r"(/voila/static/[\w./-]+\.(?:js|css))", landing.body)))
    paths = [
        "/",
        "/voila/tree",
        "/voila/static/voila.js",
        *static[:3],
        "/voila/templates/fitdata/static/nothing.css",
        "/voila/labextensions/@jupyter-widgets/jupyterlab-manager/package.json",
        "/voila/api/themes/@jupyterlab/theme-light-extension/index.css",
        "/voila/files/client_graph.ipynb",
        "/no/such/page",
        "/login",
        "/logout",
    ]
    problems = {}
    for path in paths:
        response = request(open_server.port, path)
        missing = _has_security_headers(response)
        if response.status == 500:
            missing.append("500")
        if missing:
            problems[f"{path} ({response.status})"] = missing
    assert problems == {}


def test_only_the_fitdata_template_is_served(open_server: Server) -> None:
    for query in ("template=lab", "template=classic", "template=reveal"):
        response = request(
            open_server.port, f"/voila/render/client_graph.ipynb?{query}", timeout=PAGE_TIMEOUT_S
        )
        assert response.status == 400, (query, response.status)
        assert "cdn.jsdelivr.net" not in response.body and "kernelId" not in response.body


def test_no_kernel_id_or_token_in_the_servers_log(users_server: Server, kari_page: Page) -> None:
    """The console log is read by operators, not by the people who own the pages' kernels.

    Last of the users server's tests: by now it has refused logins, kernels and hosts.
    """
    server_lines = [
        line
        for line in users_server.log_text().splitlines()
        if not line.startswith("[fitdata kernel")
    ]
    leaked = [line for line in server_lines if KERNEL_ID.search(line)]
    assert leaked == []
    tokens = list(users_server.tokens.values())
    assert [line for line in server_lines if any(token in line for token in tokens)] == []
    assert any("Kernel started" in line for line in server_lines)


# --------------------------------------------------------------------------------------------
# 4. The threat model is written down, with the numbers the code uses


def test_the_threat_model_is_documented() -> None:
    from fitdata.server.login import (
        LOGIN_BACKOFF_MAX_S,
        LOGIN_FREE_ATTEMPTS,
        SESSION_MAX_AGE_S,
    )

    assert LOGIN_FREE_ATTEMPTS == FREE_LOGIN_ATTEMPTS  # the number the tests above use
    text = (ROOT / "docs" / "deployment.md").read_text()
    assert "## Threat model" in text
    section = text.split("## Threat model", 1)[1].split("\n## ", 1)[0]
    for term in (
        "therapist",
        "supervisor",
        "leader",
        "admin",
        "anonymous",
        "web page",
        "audit log",
        "TLS",
        "0600",
        "backup",
        "key file",
        "FITDATA_ALLOW_HOSTS",
        "FITDATA_BEHIND_TLS",
        f"{LOGIN_FREE_ATTEMPTS} failed",
        f"{LOGIN_BACKOFF_MAX_S // 60} minutes",
        f"{SESSION_MAX_AGE_S // 3600} hours",
    ):
        assert term.lower() in section.lower(), term


def test_a_voila_config_in_the_working_directory_is_not_read(tmp_path, monkeypatch) -> None:
    # Voila reads voila.json / voila.py from the folder it starts in; a file there must not
    # override fitdata's settings (or run code) because serve was started in that folder.
    from fitdata.server.app import FitdataVoila

    monkeypatch.chdir(tmp_path)
    (tmp_path / "voila.py").write_text("raise SystemExit('voila.py in the working folder ran')\n")
    (tmp_path / "voila.json").write_text('{"VoilaConfiguration": {"show_tracebacks": true}}')
    app = FitdataVoila()
    assert str(tmp_path) not in app.config_file_paths
    app.load_config_file("voila", path=app.config_file_paths)  # what initialize() does
    assert "show_tracebacks" not in app.config.get("VoilaConfiguration", {})


def test_a_write_to_a_closed_websocket_is_no_traceback_but_other_errors_are() -> None:
    # A closed tab's kernel is shut down while Jupyter Server still writes to the tab's
    # WebSocket without awaiting it; that must not print a traceback into the server log.
    import asyncio

    from tornado.websocket import WebSocketClosedError

    from fitdata.server.app import quiet_closed_websockets

    seen: list[dict] = []
    loop = asyncio.new_event_loop()
    try:
        loop.default_exception_handler = seen.append  # type: ignore[method-assign]
        closed = {"message": "Task exception was never retrieved"}
        quiet_closed_websockets(loop, {**closed, "exception": WebSocketClosedError()})
        assert seen == []
        other = {**closed, "exception": ValueError("a real bug")}
        quiet_closed_websockets(loop, other)
        assert seen == [other]
    finally:
        loop.close()
