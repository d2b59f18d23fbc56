"""A real JupyterHub with two people of different roles, each on a dashboards-only Voila server.

The hub runs on loopback with configurable-http-proxy from ``.tools/node_modules`` (installed
by ``npm ci --prefix .tools``), ``SharedPasswordAuthenticator`` and ``SimpleLocalProcessSpawner``
(single-user servers as this Unix user, in temporary home folders), configured with
:func:`fitdata.server.hub.configure_spawner` exactly as docs/deployment.md tells a service to.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data import access, queries
from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, filter_options, parse_period, service_summary
from fitdata.i18n import Translator
from fitdata.outputs.report import reading_sentences
from fitdata.server.frame import pages_for_role
from fitdata.server.serve import DASHBOARDS, default_dashboards_dir
from tests.browser.conftest import HARMLESS_CONSOLE, _free_port, _note_outside_request
from tests.browser.test_client_graph_in_browser import options, options_label
from tests.browser.test_service_in_browser import wait_for_reading

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EN = Translator("en")
REPOSITORY = Path(__file__).resolve().parents[2]
PROXY = REPOSITORY / ".tools" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "fitdata-hub-test-" + uuid.uuid4().hex  # SharedPasswordAuthenticator wants >= 8
PLOT = ".fitdata-graph .js-plotly-plot"


def _require_proxy() -> None:
    """Fail (never skip) with what to install when the proxy or Node.js is missing."""
    if shutil.which("node") is None:
        pytest.fail(
            "Node.js is not installed; JupyterHub's proxy needs it. Install Debian's `nodejs npm` "
            "(apt-get install nodejs npm), then run `npm ci --prefix .tools`."
        )
    if not PROXY.exists():
        pytest.fail(
            f"configurable-http-proxy is not installed at {PROXY}; run `npm ci --prefix .tools` "
            "in the repository (make test does)."
        )


HUB_CONFIG = """\
import json
from fitdata.server.hub import HubDeployment, configure_spawner

settings = json.loads({settings!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = settings["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.ConfigurableHTTPProxy.command = [settings["proxy"]]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % settings["proxy_api_port"]
c.JupyterHub.db_url = "sqlite:///" + settings["state"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = settings["state"] + "/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = settings["state"] + "/proxy.pid"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = settings["password"]
c.Authenticator.allowed_users = set(settings["users"])
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = settings["state"] + "/home/{{username}}"
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
configure_spawner(c, HubDeployment(db=settings["db"], dashboards=settings["dashboards"],
                                   lang="en"))
c.Spawner.environment["FITDATA_HUB_TEST"] = settings["marker"]
if settings["root"]:  # CI containers run as root; a service never should
    c.Spawner.args.append("--allow-root")
"""


def _processes_with(marker: str) -> list[int]:
    """Processes of this user whose environment carries ``FITDATA_HUB_TEST=<marker>``."""
    needle = f"FITDATA_HUB_TEST={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Hub:
    """JupyterHub on loopback serving fitdata to ``kari`` (therapist) and ``leder`` (leader)."""

    def __init__(self, db: Path, state: Path, log: Path) -> None:
        _require_proxy()
        self.db = db
        reader = reader_for(db)
        self.therapist_id, self.therapist_name = reader.rows(
            "SELECT therapist_id, th.name FROM episodes JOIN therapists th USING (therapist_id) "
            "GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1"
        )[0]
        reader.close()
        access.add_user(db, "kari", "therapist", therapist_id=self.therapist_id)
        access.add_user(db, "leder", "leader")
        self.marker = uuid.uuid4().hex
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {
            "port": self.port,
            "hub_port": _free_port(),
            "proxy_api_port": _free_port(),
            "proxy": str(PROXY),
            "state": str(state),
            "password": PASSWORD,
            "users": ["kari", "leder"],
            "db": str(db),
            "dashboards": str(default_dashboards_dir()),
            "marker": self.marker,
            "root": os.getuid() == 0,
        }
        config = state / "jupyterhub_config.py"
        config.write_text(HUB_CONFIG.format(settings=json.dumps(settings)))
        self.log = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        environment = dict(os.environ, FITDATA_HUB_TEST=self.marker)  # marks the proxy too
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=state,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self.process.returncode}; see {self.log}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/hub/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"JupyterHub did not answer within {timeout} s; see {self.log}")

    def stop(self) -> None:
        """Stop the hub (it stops the servers and the proxy), then kill whatever is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for attempt in range(20):  # servers run in their own sessions; kernels under them
            left = _processes_with(self.marker)
            if not left:
                break
            for pid in left:  # only processes this hub started carry the marker
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if attempt > 5 else signal.SIGTERM)
            time.sleep(0.5)
        self._log.close()


@pytest.fixture(scope="module")
def hub(demo_db, artifacts, tmp_path_factory) -> Iterator[Hub]:
    state = tmp_path_factory.mktemp("hub")
    db = tmp_path_factory.mktemp("hubdata") / "service.duckdb"
    shutil.copyfile(demo_db, db)
    server = Hub(db, state, artifacts / "jupyterhub.log")
    try:
        yield server
        _record_memory(server, artifacts / "hub-memory.json")
    finally:
        server.stop()
    assert _processes_with(server.marker) == [], "processes of the hub were left running"


def _record_memory(hub: Hub, path: Path) -> None:
    """Resident memory of the single-user servers and their kernels (for docs/deployment.md)."""
    sizes = {}
    for pid in _processes_with(hub.marker):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        kind = "kernel" if b"ipykernel_launcher" in command else "single-user server"
        if b"jupyterhub.singleuser" not in command and kind != "kernel":
            continue  # the proxy
        rss_kb = int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )
        sizes.setdefault(kind, []).append(round(rss_kb / 1024))
    path.write_text(json.dumps(sizes, indent=1))


def signed_in(user: str, role: str) -> str:
    """The line at the top of every page that says whose view it is."""
    return EN.text("access.signed_in", user=user, role=EN.text(f"access.role.{role}"))


def _watch(page) -> None:
    page.console_problems = []

    def on_console(message) -> None:
        if message.type in ("error", "warning") and not any(
            h in message.text for h in HARMLESS_CONSOLE
        ):
            page.console_problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_problems.append(f"pageerror: {error}"))
    page.on("request", lambda request: _note_outside_request(page, request.url))


@pytest.fixture(scope="module")
def people(browser, hub) -> Iterator[dict]:
    """One browser context per person, each logged in to the hub (servers spawned)."""
    contexts = {}
    pages = {}
    for name in ("kari", "leder"):  # both log in first, so the hub spawns both servers at once
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        _watch(page)
        page.goto(f"{hub.url}/hub/login")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(re.compile(r"/hub/spawn-pending/|/user/"))  # spawning
        contexts[name] = context
        pages[name] = page
    for page in pages.values():  # the hub sends each on to her server's landing page
        page.wait_for_selector(".fitdata-dashboard-link", timeout=150_000)
    yield pages
    for context in contexts.values():
        context.close()


def test_a_person_who_is_not_logged_in_is_sent_to_the_hub_login(hub, browser, artifacts) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/user/kari/voila/render/client_graph.ipynb")
        assert "/hub/login" in page.url
        assert page.locator("input[name=password]").count() == 1
        assert page.locator(".fitdata-client-graph").count() == 0
        page.screenshot(path=artifacts / "hub-login.png")
        # a wrong password does not get in either
        page.fill("input[name=username]", "kari")
        page.fill("input[name=password]", "not-the-password")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state()
        assert "/hub/login" in page.url
        assert "Invalid username or password" in page.inner_text("body")
    finally:
        context.close()


def test_each_person_lands_on_the_dashboard_list_of_her_own_server(hub, people, artifacts):
    roles = {"kari": "therapist", "leder": "leader"}
    for name, page in people.items():
        assert page.url.startswith(f"{hub.url}/user/{name}/voila")
        links = page.locator(".fitdata-dashboard-link")
        # each role is offered what it may open: a leader the service overview only
        allowed = pages_for_role(roles[name], DASHBOARDS)
        assert links.count() == len(allowed) and (len(allowed) == 1) == (name == "leder")
        titles = {notebook: title for notebook, title, _audience in DASHBOARDS}
        for index, notebook in enumerate(allowed):
            assert EN.text(titles[notebook]) in links.nth(index).inner_text()
        page.screenshot(path=artifacts / f"hub-landing-{name}.png", full_page=True)


def test_the_therapist_sees_only_her_own_clients(hub, people, artifacts) -> None:
    page = people["kari"]
    page.goto(f"{hub.url}/user/kari/voila/render/client_graph.ipynb", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    page.screenshot(path=artifacts / "hub-therapist-client-graph.png", full_page=True)
    assert page.locator(".fitdata-error").count() == 0
    assert page.inner_text(".fitdata-signed-in") == signed_in("kari", "therapist")
    assert [t.rsplit(" (", 1)[0] for t in options(page, "therapist")] == [hub.therapist_name]

    reader = reader_for(hub.db)  # unrestricted: what the database holds
    teams = queries.team_options(reader)
    own_teams = set(
        reader.df(
            "SELECT DISTINCT team_id FROM episodes WHERE therapist_id = ?", [hub.therapist_id]
        )["team_id"]
    )
    shown_teams = [t.rsplit(" (", 1)[0] for t in options(page, "team")]
    assert sorted(shown_teams) == sorted(teams[teams.team_id.isin(own_teams)]["name"])
    assert len(shown_teams) < len(teams)
    first_team = teams[teams["name"] == shown_teams[0]].iloc[0].team_id
    episodes = queries.client_episode_options(reader, first_team, hub.therapist_id)
    reader.close()
    # the client list is exactly her clients in that team, as the database has them
    assert options(page, "client") == [options_label(row, EN) for row in episodes.itertuples()]
    first_client = episodes.iloc[0].client_id
    title = page.locator(f"{PLOT} .gtitle").text_content()
    assert title == f"Client {first_client}"
    entries = access.read_audit(hub.db, user="kari")
    assert [(e.role, e.client_id) for e in entries][-1] == ("therapist", first_client)
    assert page.console_problems == []


def test_the_leader_gets_aggregates_only(hub, people, artifacts) -> None:
    page = people["leder"]
    page.goto(f"{hub.url}/user/leder/voila/render/client_graph.ipynb", timeout=180_000)
    page.wait_for_selector(".fitdata-error", timeout=180_000)
    assert "leder may see summaries of groups of clients only" in page.inner_text(".fitdata-error")
    assert page.locator(f"{PLOT}").count() == 0
    assert "Traceback" not in page.inner_text("body")
    page.screenshot(path=artifacts / "hub-leader-client-graph.png", full_page=True)

    reader = reader_for(hub.db)
    period = parse_period(filter_options(reader)["default_period"])
    expected = service_summary(reader, ServiceFilters(period))
    reader.close()
    page.goto(f"{hub.url}/user/leder/voila/render/service.ipynb", timeout=180_000)
    page.wait_for_selector(".fitdata-charts .js-plotly-plot .point", timeout=180_000)
    wait_for_reading(page, reading_sentences(expected.reading, EN)[0])
    assert page.locator(".fitdata-error").count() == 0
    assert page.inner_text(".fitdata-signed-in") == signed_in("leder", "leader")
    page.screenshot(path=artifacts / "hub-leader-service.png", full_page=True)
    assert access.read_audit(hub.db, user="leder") == []


def test_one_person_cannot_open_the_others_server(hub, people, artifacts) -> None:
    page = people["kari"].context.new_page()  # her login, in a new tab
    try:
        response = page.goto(f"{hub.url}/user/leder/voila/render/service.ipynb")
        page.wait_for_load_state()
        page.screenshot(path=artifacts / "hub-other-users-server.png", full_page=True)
        assert response is not None and response.status == 403
        assert "You do not have permission to access Server at /user/leder/" in page.inner_text(
            "body"
        )
        assert page.locator(".fitdata-reading, .js-plotly-plot").count() == 0
    finally:
        page.close()


def test_the_server_runs_dashboards_and_nothing_else(hub, people) -> None:
    page = people["kari"]
    base = f"{hub.url}/user/kari"
    request = page.context.request  # her cookies: logged in to her own server
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    headers = {"X-XSRFToken": xsrf}
    # files, notebooks, new kernels, sessions and terminals are refused; no JupyterLab
    assert request.get(f"{base}/api/contents").status == 403
    assert request.get(f"{base}/files/client_graph.ipynb").status == 403
    assert request.post(f"{base}/api/kernels", headers=headers, data="{}").status == 403
    assert request.get(f"{base}/api/sessions").status == 403
    assert request.get(f"{base}/api/terminals").status in (403, 404)
    assert request.get(f"{base}/lab").status == 404
    assert request.get(f"{base}/voila/files/client_graph.ipynb").status in (403, 404)
    # the dashboard's kernel WebSocket answers a widget handshake but never runs code
    if "/voila/render/" not in page.url:  # the therapist's test leaves her on her client graph
        page.goto(f"{base}/voila/render/client_graph.ipynb", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    replies = page.evaluate(
        """async () => {
            const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
            const url = location.origin.replace('http', 'ws') + config.baseUrl
                + 'api/kernels/' + config.kernelId + '/channels?session_id=probe';
            const socket = new WebSocket(url);
            const seen = [];
            socket.onmessage = (event) => {
                const msg = JSON.parse(event.data);
                if (msg.parent_header && msg.parent_header.session === 'probe') {
                    seen.push(msg.msg_type + ':' + JSON.stringify(msg.content));
                }
            };
            await new Promise((resolve, reject) => {
                socket.onopen = resolve; socket.onerror = reject; });
            const send = (msg_type, content) => socket.send(JSON.stringify({
                channel: 'shell', content, metadata: {}, parent_header: {}, buffers: [],
                header: {msg_id: msg_type + Math.random(), msg_type, session: 'probe',
                         username: 'kari', version: '5.3', date: new Date().toISOString()}}));
            send('execute_request', {code: "print('CODE' + 'RAN')", silent: false,
                 store_history: false, user_expressions: {}, allow_stdin: false});
            send('kernel_info_request', {});
            await new Promise((resolve) => setTimeout(resolve, 4000));
            socket.close();
            return seen;
        }"""
    )
    assert any(r.startswith("kernel_info_reply:") for r in replies), replies
    assert not any("execute" in r or "CODERAN" in r for r in replies), replies
