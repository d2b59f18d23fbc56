"""Benchmark: every dashboard in a real browser through Voila, beside a naive notebook.

``python -m benchmarks.browser --sizes 20000 1000000`` starts ``fitdata serve`` on each cached
demo database (``benchmarks/cache/``, made by :func:`benchmarks.run.database`) and drives
headless Chromium (Playwright, Debian's ``/usr/bin/chromium`` or ``$FITDATA_CHROMIUM``). For
every dashboard on the landing page it measures

* **page open to chart**: from navigation to the first Plotly graph holding data and drawn;
* **dropdown change to redraw**: the first dropdown with another choice is changed and the
  time until a graph's data differ is taken (``-`` when the page has no such dropdown);
* **kernel memory**: resident set size of the dashboard's kernel after the change.

The naive approach is measured the same way: a notebook a user might write (load the
``sessions`` table into pandas, filter it with dropdowns, plot with plotly) served by the same
Voila. Results are printed as a Markdown table; nothing is asserted — these machines are shared
and noisy, and one run is one sample.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

from benchmarks.run import database
from fitdata.serve import DASHBOARDS

CHROMIUM = os.environ.get("FITDATA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: How long a fitdata dashboard may take to draw its first graph; a page that draws none in
#: this time (e.g. a form) is reported as "no graph".
PAGE_TIMEOUT_MS = 120_000
#: The naive notebook loads 10 million rows into pandas before drawing anything.
NAIVE_TIMEOUT_MS = 900_000

# A graph counts as drawn when Plotly has laid it out with at least one trace holding points.
_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
    g => g._fullLayout && (g.data || []).some(t => (t.y || t.x || []).length > 0))"""
_SIGNATURE = """() => JSON.stringify([...document.querySelectorAll('.js-plotly-plot')].map(
    g => (g.data || []).map(t => [t.name, (t.x || []).length, (t.y || []).slice(0, 50)])))"""

NAIVE_SOURCE = """\
import os
import duckdb
import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

sessions = duckdb.connect(os.environ["FITDATA_DB"], read_only=True).sql(
    "SELECT * FROM sessions"
).df()
team = widgets.Dropdown(options=sorted(sessions["team_id"].unique()), description="Team")
therapist = widgets.Dropdown(description="Therapist")
client = widgets.Dropdown(description="Client")
figure = go.FigureWidget(data=[go.Scatter(name="ORS"), go.Scatter(name="SRS")])


def on_team(_=None):
    rows = sessions[sessions["team_id"] == team.value]
    therapist.options = sorted(rows["therapist_id"].unique())


def on_therapist(_=None):
    rows = sessions[sessions["team_id"] == team.value]
    rows = rows[rows["therapist_id"] == therapist.value]
    client.options = sorted(rows["client_id"].unique())


def on_client(_=None):
    rows = sessions[sessions["client_id"] == client.value].sort_values("session_no")
    with figure.batch_update():
        figure.data[0].x, figure.data[0].y = rows["session_no"], rows["ors_total"].astype(float)
        figure.data[1].x, figure.data[1].y = rows["session_no"], rows["srs_total"].astype(float)


team.observe(on_team, "value")
therapist.observe(on_therapist, "value")
client.observe(on_client, "value")
on_team()
on_therapist()
on_client()
display(widgets.VBox([team, therapist, client, figure]))
"""


@dataclass
class Measurement:
    """One dashboard measured on one database."""

    dashboard: str
    open_ms: float | None
    change_ms: float | None
    kernel_mb: float | None
    note: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, db: Path, dashboards: Path | None, log: Path) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(db)]
        command += ["--port", str(self.port)]
        if dashboards is not None:
            command += ["--dashboards", str(dashboards)]
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"fitdata serve exited; see {log}")
            time.sleep(0.2)
        raise TimeoutError(f"fitdata serve did not listen within 120 s; see {log}")

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/voila/render/{notebook}"

    def kernels(self) -> dict[int, float]:
        """Resident memory (MB) of each kernel process this server started, by pid."""
        found: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if "ipykernel" in cmdline and int(fields["PPid"]) == self.process.pid:
                found[int(entry.name)] = int(fields["VmRSS"].split()[0]) / 1024
        return found

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


def _measure(browser, server: _Server, notebook: str, timeout_ms: int) -> Measurement:
    before = set(server.kernels())
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(server.url(notebook), wait_until="commit", timeout=timeout_ms)
        try:
            page.wait_for_function(_DRAWN, timeout=timeout_ms, polling=50)
        except Exception:  # noqa: BLE001 - a page without a graph is reported, not fatal
            return Measurement(notebook, None, None, _kernel_mb(server, before), "no graph")
        open_ms = (time.perf_counter() - start) * 1000
        change_ms = _change_a_dropdown(page)
        return Measurement(notebook, open_ms, change_ms, _kernel_mb(server, before))
    finally:
        context.close()


def _change_a_dropdown(page) -> float | None:
    """Change the first dropdown that has another choice; time until a graph's data differ."""
    before = page.evaluate(_SIGNATURE)
    for select in page.query_selector_all("select"):
        options = select.eval_on_selector_all("option", "os => os.map(o => o.value)")
        current = select.evaluate("s => s.value")
        others = [o for o in options if o != current]
        if not others or not select.is_visible():
            continue
        start = time.perf_counter()
        select.select_option(others[len(others) // 2])
        try:
            page.wait_for_function(
                f"() => ({_SIGNATURE})() !== {json.dumps(before)}", timeout=60_000, polling=20
            )
        except Exception:  # noqa: BLE001 - this dropdown did not redraw a graph; try the next
            before = page.evaluate(_SIGNATURE)
            continue
        return (time.perf_counter() - start) * 1000
    return None


def _kernel_mb(server: _Server, before: set[int]) -> float | None:
    new = {pid: mb for pid, mb in server.kernels().items() if pid not in before}
    return max(new.values()) if new else None


def bench(
    size: int, workdir: Path, browser, only: list[str] | None
) -> Iterator[tuple[int, Measurement]]:
    db = database(size)
    server = _Server(db, None, workdir / f"serve-{size}.log")
    try:
        for notebook, _title, _audience in DASHBOARDS:
            if only and Path(notebook).stem not in only:
                continue
            yield size, _measure(browser, server, notebook, PAGE_TIMEOUT_MS)
    finally:
        server.stop()
    if only and "naive" not in only:
        return
    naive_dir = workdir / "naive"
    naive_dir.mkdir(exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NAIVE_SOURCE)])
    nbformat.write(notebook, naive_dir / "naive_client_graph.ipynb")
    server = _Server(db, naive_dir, workdir / f"serve-naive-{size}.log")
    try:
        yield size, _measure(browser, server, "naive_client_graph.ipynb", NAIVE_TIMEOUT_MS)
    finally:
        server.stop()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000])
    parser.add_argument(
        "--dashboards", nargs="*", default=None, help="notebook names (and/or naive) to run"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(
        "| sessions | dashboard | page open to chart ms | dropdown change to redraw ms |"
        " kernel MB | note |"
    )
    print("|---:|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for size in args.sizes:
                for sessions, m in bench(size, Path(tmp), browser, args.dashboards):
                    print(
                        f"| {sessions:,} | {m.dashboard} | {_ms(m.open_ms)} | "
                        f"{_ms(m.change_ms)} | {_ms(m.kernel_mb)} | {m.note} |",
                        flush=True,
                    )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
