"""A dashboard's kernel ends with its tab, in a real browser (fitdata/server/page_close.py).

Two servers over a copy of the tiny database, serving the client graph only:

* ``server``: ``fitdata serve`` as installed, with its preheated pool (one kernel): a page is
  served by the pooled kernel, which the pool replaces at once, so the server holds the pool's
  kernel plus one per open page; closing or leaving a page must bring it back to the pool;
* ``culling_server``: without a pool, with an idle cull of a few seconds (a ``voila.json`` in
  ``JUPYTER_CONFIG_DIR``, which Voila reads at start), for a tab that sends nothing when it dies.

Kernels are counted as the server's child processes; a page's kernel is found by the id in its
connection file. Every wait polls with a bound generous enough for a loaded 2-core machine.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "client_graph.ipynb"
PAGE_TIMEOUT_MS = 180_000
#: Seconds a closed page's kernel may take to end on a loaded machine (the aim is a few).
END_TIMEOUT_S = 60
#: The culling server's idle limit and check interval, in seconds.
CULL_IDLE_S = 4
CULL_INTERVAL_S = 1
#: Kernels ``server`` holds with no page open: one preheated kernel per dashboard, one dashboard.
POOL_SIZE = 1


def kernels(server: Server) -> dict[str, int]:
    """The server's kernel processes: kernel id -> pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = re.search(r"^PPid:\s+(\d+)", status, re.M)
        ids = re.findall(r"kernel-([0-9a-f-]{36})\.json", cmdline)
        if parent and int(parent.group(1)) == server.process.pid and ids:
            found[ids[0]] = int(entry.name)
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` every 0.2 s; the seconds it took, or fail saying ``what``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def wait_for_log(server: Server, text: str, count: int = 1, timeout: float = 240) -> None:
    wait_until(
        lambda: server.log.read_text(errors="replace").count(text) >= count,
        timeout,
        f"{count} x {text!r} in the server's log",
    )


def _dashboards(folder: Path) -> Path:
    folder.mkdir()
    shutil.copyfile(ROOT / "dashboards" / NOTEBOOK, folder / NOTEBOOK)
    return folder


@pytest.fixture(scope="module")
def server(tiny_db, artifacts, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("kernels")
    db = folder / "kernels.duckdb"
    shutil.copyfile(tiny_db, db)
    dashboards = _dashboards(folder / "dashboards")
    started = Server(db, "en", artifacts / "serve-kernels.log", "--dashboards", str(dashboards))
    try:
        wait_for_log(started, f"Kernel pool of {NOTEBOOK} is filled")
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def culling_server(tiny_db, artifacts, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("culling")
    db = folder / "culling.duckdb"
    shutil.copyfile(tiny_db, db)
    dashboards = _dashboards(folder / "dashboards")
    config = folder / "jupyter_config"
    config.mkdir()
    cull = {"cull_idle_timeout": CULL_IDLE_S, "cull_interval": CULL_INTERVAL_S}
    (config / "voila.json").write_text(json.dumps({"MappingKernelManager": cull}))
    with pytest.MonkeyPatch.context() as patch:  # the server inherits the environment
        patch.setenv("JUPYTER_CONFIG_DIR", str(config))
        started = Server(
            db,
            "en",
            artifacts / "serve-culling.log",
            "--dashboards",
            str(dashboards),
            "--pool-size",
            "0",
        )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def context(browser):
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def open_dashboard(context, server: Server):
    """A new tab with the client graph drawn; returns (page, its kernel id)."""
    page = context.new_page()
    page.goto(f"{server.url}voila/render/{NOTEBOOK}", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(".fitdata-graph .js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
    kernel_id = page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    assert kernel_id in kernels(server)
    return page, kernel_id


@pytest.mark.parametrize("before_unload", [True, False], ids=["beforeunload", "pagehide-only"])
def test_closing_the_tab_ends_its_kernel(server: Server, context, before_unload: bool) -> None:
    page, kernel_id = open_dashboard(context, server)
    page.close(run_before_unload=before_unload)
    took = wait_until(
        lambda: kernel_id not in kernels(server) and len(kernels(server)) == POOL_SIZE,
        END_TIMEOUT_S,
        "the closed tab's kernel ended and the server is back to its pool",
    )
    print(f"kernel ended {took:.1f} s after the tab was closed")


def test_leaving_the_page_ends_its_kernel(server: Server, context) -> None:
    page, kernel_id = open_dashboard(context, server)
    page.goto(server.url)  # the landing page: the dashboard is left
    assert "/voila/render/" not in page.url
    wait_until(
        lambda: kernel_id not in kernels(server),
        END_TIMEOUT_S,
        "the left page's kernel ended",
    )
    assert len(kernels(server)) == POOL_SIZE


def test_another_tab_cannot_end_a_kernel(server: Server, context, browser) -> None:
    first, first_kernel = open_dashboard(context, server)
    second, second_kernel = open_dashboard(context, server)  # same browser, same login
    attack = """async ([kernelId, withKey]) => {
        const details = JSON.parse(document.getElementById('fitdata-page-close').textContent);
        const xsrf = document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/)[1];
        const form = new FormData();
        form.append('_xsrf', xsrf);
        if (withKey) form.append(details.field, details.key);  // this page's own key
        const url = `/voila/api/shutdown/${kernelId}`;
        const shutdown = await fetch(url, {method: 'POST', body: form});
        const api = await fetch(`/api/kernels/${kernelId}`,
            {method: 'DELETE', headers: {'X-XSRFToken': xsrf}});
        return [shutdown.status, api.status];
    }"""
    assert second.evaluate(attack, [first_kernel, True]) == [403, 403]
    assert second.evaluate(attack, [first_kernel, False]) == [403, 403]
    # another browser (another login) cannot either, from its own dashboard page
    other_context = browser.new_context()
    try:
        other, other_kernel = open_dashboard(other_context, server)
        assert other.evaluate(attack, [first_kernel, True]) == [403, 403]
        other.close()
        wait_until(lambda: other_kernel not in kernels(server), END_TIMEOUT_S, "its own ended")
    finally:
        other_context.close()
    # closing the second tab ends its kernel and only its kernel
    second.close(run_before_unload=True)
    wait_until(lambda: second_kernel not in kernels(server), END_TIMEOUT_S, "second tab's")
    assert first_kernel in kernels(server)
    first.locator(".fitdata-graph .js-plotly-plot").first.wait_for()  # still drawn
    first.close(run_before_unload=True)
    wait_until(lambda: first_kernel not in kernels(server), END_TIMEOUT_S, "first tab's")


def test_a_tab_that_sends_nothing_is_culled_when_idle(culling_server: Server, context) -> None:
    """A tab that dies without its beacon (a crash): the idle cull still ends its kernel."""
    context.add_init_script("navigator.sendBeacon = () => true;")  # nothing leaves the page
    page, kernel_id = open_dashboard(context, culling_server)
    page.close(run_before_unload=True)
    took = wait_until(
        lambda: kernel_id not in kernels(culling_server),
        CULL_IDLE_S + CULL_INTERVAL_S + END_TIMEOUT_S,
        "the silent tab's kernel culled",
    )
    log = culling_server.log.read_text(errors="replace")
    assert "Culling 'idle' kernel" in log, log[-2000:]
    assert "voila/api/shutdown" not in log  # no beacon reached the server: the cull ended it
    print(f"culled {took:.1f} s after the tab was closed")
