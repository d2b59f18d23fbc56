"""Benchmark: every dashboard in a real browser through Voila, beside a naive notebook.

``python -m benchmarks.browser --sizes 20000 1000000`` starts ``fitdata serve`` on each cached
demo database (``benchmarks/cache/``, made by :func:`benchmarks.run.database`) and drives
headless Chromium (Playwright, Debian's ``/usr/bin/chromium`` or ``$FITDATA_CHROMIUM``). For
every dashboard on the landing page it measures, in the page's own clock:

* **page open to chart**: from the start of the navigation until the page's Plotly graphs hold
  data, are drawn, and then stay as they are for :data:`QUIET_MS` (the time reported is when
  they were last redrawn, so an intermediate or half-drawn chart does not count);
* **dropdown change to redraw**: the dashboard's main dropdown (:data:`CHANGES`, e.g. the client
  on the client graph, the team on the service overview) is set to another choice and the time
  until the graphs were last redrawn, again after :data:`QUIET_MS` of quiet;
* **kernel memory**: resident set size of the page's own kernel after the change.

A screenshot of each page is saved at both measured moments to ``test-artifacts/bench/`` —
look at them: an empty chart means the measurement is wrong.

**Kernels after closed tabs** (issue 19, :func:`churn`): on a server with its preheated pool,
ten dashboard pages are opened (kept open), then closed together; the server's kernel count
and memory (server plus every kernel, resident) are sampled every half second until the count
is back to the pool size, and reported before, with the ten open, and over the seconds after
the close. The same is measured with the pages' shutdown beacon suppressed (a tab that dies
without a word, as every tab did before the fix): only the idle cull, 15 minutes later, ends
those kernels. Aim: back to the pool size within 10 s.

The naive approach is measured the same way: a notebook a user might write (load the
``sessions`` table into pandas, filter it with dropdowns, plot with plotly) served by the same
Voila, with its client dropdown changed; its row gives each figure as a ratio to the client
graph's. Results are printed as a Markdown table; nothing is asserted — these machines are
shared and noisy, and one run is one sample.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from benchmarks.run import database
from fitdata.i18n import Translator
from fitdata.server.security import kernel_tag
from fitdata.server.serve import DASHBOARDS

CHROMIUM = os.environ.get("FITDATA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "bench"
#: How long a fitdata dashboard may take to draw its graphs; a page that draws none in this
#: time (e.g. a form) is reported as "no graph".
PAGE_TIMEOUT_MS = 180_000
#: The naive notebook loads every session into pandas before drawing anything: about 4 s per
#: million sessions on a quiet machine, so this leaves room for a loaded one.
NAIVE_TIMEOUT_MS = 120_000
NAIVE_TIMEOUT_MS_PER_MILLION = 60_000
#: How long a dropdown change may take to redraw a graph.
CHANGE_TIMEOUT_MS = 180_000
#: Graphs count as finished when they have not changed for this long. Long enough for a
#: callback that draws twice on a loaded machine; each page costs twice this.
QUIET_MS = 3_000
NAIVE = "naive_client_graph.ipynb"

_EN = Translator("en")
#: The dropdown changed on each page — the change a user makes most — by its English label,
#: with text the new choice should contain. Tried in order: the first dropdown with a matching
#: other choice is changed; if none has one, the first dropdown listed (or, failing that, the
#: first one on the page) gets its middle other choice. Registration: a client whose episode is
#: ongoing (its graph has sessions; an ended one opens a new, empty episode), else an earlier
#: episode with sessions.
CHANGES: dict[str, list[tuple[str, str]]] = {
    "client_graph.ipynb": [(_EN.text("filter.client"), "")],
    "service.ipynb": [(_EN.text("filter.team"), "")],
    "registration.ipynb": [
        (_EN.text("filter.client"), "(ongoing)"),
        (_EN.text("registration.episode.label"), " session"),
    ],
    "group_exercise.ipynb": [(_EN.text("group.case_picker"), "")],
    "team_review.ipynb": [(_EN.text("filter.team"), "")],
    "therapist_development.ipynb": [(_EN.text("filter.therapist"), "")],
    NAIVE: [("Client", "")],
}

# Installed in every page before its scripts run. Every 20 ms it takes a signature of the
# drawn graphs (a graph counts when Plotly has laid it out, drawn its SVG, and one visible
# trace holds points) and records, in the page's clock (ms since navigation start), when the
# signature last changed. Nothing drawn yet -> no signature, so a graph being replaced (an
# Output widget clears it, then Plotly draws the new one) is not taken for a redraw.
_WATCH = """
(() => {
  const bench = {first: null, last: null, signature: null, changeStart: null};
  window.__fitdataBench = bench;
  const drawn = g => g._fullLayout && g.querySelector('.main-svg') && (g._fullData || []).some(
      t => t.visible !== false && (t._length ?? Array.from(t.y || t.x || []).length) > 0);
  const signature = () => {
    const graphs = [...document.querySelectorAll('.js-plotly-plot')].filter(drawn);
    if (!graphs.length) return null;
    return JSON.stringify(graphs.map(g => [
      (g._fullLayout.title || {}).text || '',
      g._fullData.map(t => [t.name, t._length, Array.from(t.x || []).slice(0, 5).map(String),
                            Array.from(t.y || []).slice(0, 50)])]));
  };
  setInterval(() => {
    let now;
    try { now = signature(); } catch (e) { return; }
    if (now === null || now === bench.signature) return;
    bench.signature = now;
    bench.last = performance.now();
    if (bench.first === null) bench.first = bench.last;
  }, 20);
})();
"""
_SETTLED = f"""() => {{
  const b = window.__fitdataBench;
  return b && b.last !== null && (b.changeStart === null || b.last > b.changeStart)
      && performance.now() - b.last > {QUIET_MS};
}}"""
# Picks the dropdown and its new choice as :data:`CHANGES` describes, notes the start time,
# and changes it the way the browser does for a user (selectedIndex, then a change event,
# which ipywidgets listens to). Times are good to the 20 ms of the watcher above.
_CHANGE = """wanted => {
  const selects = [...document.querySelectorAll('.widget-dropdown select')].filter(
      s => s.offsetParent !== null && s.options.length > 1 && !s.disabled);
  const named = s => ((s.closest('.widget-dropdown').querySelector('.widget-label') || {})
      .textContent || '').trim();
  const others = s => [...Array(s.options.length).keys()].filter(i => i !== s.selectedIndex);
  let select = null, choices = [];
  for (const [label, prefer] of wanted) {
    const found = selects.find(s => named(s) === label);
    const matching = found ? others(found).filter(
        i => s_text(found, i).includes(prefer)) : [];
    if (matching.length) { select = found; choices = matching; break; }
  }
  function s_text(s, i) { return s.options[i].textContent.replace(/\u00a0/g, ' '); }
  if (!select) {
    select = selects.find(s => wanted.length && named(s) === wanted[0][0]) || selects[0];
    if (!select) return null;
    choices = others(select);
  }
  const index = choices[Math.floor(choices.length / 2)];
  const from = select.options[select.selectedIndex]?.textContent;
  window.__fitdataBench.changeStart = performance.now();
  select.selectedIndex = index;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  return {label: named(select) || '?', from, to: select.options[index].textContent};
}"""
_ERROR = """() => [...document.querySelectorAll('.fitdata-error')]
    .filter(e => e.offsetParent !== null).map(e => e.innerText.trim()).join(' ')"""

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
graph = widgets.Output()


def on_team(_=None):
    rows = sessions[sessions["team_id"] == team.value]
    therapist.options = sorted(rows["therapist_id"].unique())
    therapist.value = therapist.options[0]


def on_therapist(_=None):
    rows = sessions[sessions["team_id"] == team.value]
    rows = rows[rows["therapist_id"] == therapist.value]
    client.options = sorted(rows["client_id"].unique())
    client.value = client.options[0]


def on_client(_=None):
    rows = sessions[sessions["client_id"] == client.value].sort_values("session_no")
    figure = go.Figure(
        [
            go.Scatter(x=rows["session_no"], y=rows["ors_total"].astype(float), name="ORS"),
            go.Scatter(x=rows["session_no"], y=rows["srs_total"].astype(float), name="SRS"),
        ],
        layout={"title": {"text": f"Client {client.value}"}},
    )
    with graph:
        graph.clear_output(wait=True)
        display(figure)


team.observe(on_team, "value")
therapist.observe(on_therapist, "value")
client.observe(on_client, "value")
on_team()
display(widgets.VBox([team, therapist, client, graph]))
"""


@dataclass
class Measurement:
    """One dashboard measured on one database."""

    dashboard: str
    open_ms: float | None
    change_ms: float | None
    kernel_mb: float | None
    note: str = ""
    pooled: bool = False  # served by a preheated kernel that was ready before the page opened


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """``fitdata serve`` on one database, in its own process group."""

    def __init__(
        self, db: Path, dashboards: Path | None, log: Path, options: Sequence[str] = ()
    ) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(db)]
        command += ["--port", str(self.port), *options]
        if dashboards is not None:
            command += ["--dashboards", str(dashboards)]
        self.log = log
        given = list(options)
        pool = given[given.index("--pool-size") + 1] if "--pool-size" in given else "1"
        self.pooled = int(pool) > 0  # fitdata serve's default pool is one kernel per dashboard
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
        self.stop()
        raise TimeoutError(f"fitdata serve did not listen within 120 s; see {log}")

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/voila/render/{notebook}"

    def wait_for_pool(self, notebook: str, timeout: float = 600) -> bool:
        """Wait until ``notebook`` has a preheated kernel ready (False: no pool, or too slow).

        Voila logs "Kernel pool of X is filled" once per filled kernel and "Using pre-heated
        kernel: ID for X" per use; a use starts one refill, so filled > used means one waits.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log.read_text(errors="replace")
            if log.count(f"Kernel pool of {notebook} is filled") > log.count(f"for {notebook}"):
                time.sleep(2)  # let the other pools' kernels settle too
                return True
            time.sleep(0.5)
        return False

    def pooled_kernel_tag(self, notebook: str) -> str | None:
        """The log's tag of the preheated kernel that served the last page of ``notebook``.

        The server logs no kernel id, only its tag (:func:`fitdata.server.security.kernel_tag`).
        """
        found = re.findall(
            rf"Using pre-heated kernel: (kernel-[0-9a-f]{{12}}) for {re.escape(notebook)}",
            self.log.read_text(errors="replace"),
        )
        return found[-1] if found else None

    def kernel_mb(self, tag: str) -> float | None:
        """Resident memory (MB) of the kernel process whose id has this log tag."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                ids = re.findall(r"kernel-([0-9a-f-]{36})\.json", cmdline)
                if not any(kernel_tag(i) == tag for i in ids):
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return None

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
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self._log.close()


def _screenshot(page: Any, path: Path) -> None:
    """The viewport from the top of the first graph (after the measurement)."""
    page.evaluate(
        "() => document.querySelector('.js-plotly-plot')?.scrollIntoView({block: 'start'})"
    )
    page.screenshot(path=str(path))


def _measure(
    browser: Any, server: _Server, notebook: str, size: int, timeout_ms: int
) -> Measurement:
    """Open ``notebook``, wait for its graphs, change its dropdown, read its kernel's memory."""
    pooled = server.wait_for_pool(notebook) if server.pooled else False
    before = set(server.kernels())
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script(_WATCH)
    page = context.new_page()
    stem = f"{size}-{Path(notebook).stem}" + ("" if server.pooled else "-cold")

    def memory() -> float | None:
        kernel = server.pooled_kernel_tag(notebook) if pooled else None
        return server.kernel_mb(kernel) if kernel else _kernel_mb(server, before)

    try:
        page.goto(server.url(notebook), wait_until="commit", timeout=timeout_ms)
        try:
            page.wait_for_function(_SETTLED, timeout=timeout_ms, polling=100)
        except Exception:  # noqa: BLE001 - a page without a graph is reported, not fatal
            _screenshot(page, ARTIFACTS / f"{stem}-open.png")
            error = page.evaluate(_ERROR)
            note = f"no graph within {timeout_ms / 1000:.0f} s" + (f"; {error}" if error else "")
            return Measurement(notebook, None, None, memory(), note, pooled)
        open_ms = page.evaluate("() => window.__fitdataBench.last")
        _screenshot(page, ARTIFACTS / f"{stem}-open.png")
        first_ms = page.evaluate("() => window.__fitdataBench.first")
        change_ms, note = _change_dropdown(page, CHANGES.get(notebook, []))
        if open_ms - first_ms > 100:  # an earlier, different chart was drawn first
            note += f"; a first chart was drawn at {first_ms:,.0f} ms"
        _screenshot(page, ARTIFACTS / f"{stem}-change.png")
        error = page.evaluate(_ERROR)
        if error:
            note += f"; page shows an error: {error}"
        return Measurement(notebook, open_ms, change_ms, memory(), note, pooled)
    finally:
        context.close()


def _measure_safely(
    browser: Any, server: _Server, notebook: str, size: int, timeout_ms: int
) -> Measurement:
    """:func:`_measure`, with an unexpected error reported in the row instead of ending the run."""
    try:
        return _measure(browser, server, notebook, size, timeout_ms)
    except Exception as error:  # noqa: BLE001 - one page's failure must not hide the others
        return Measurement(notebook, None, None, None, f"benchmark error: {error!r}"[:300])


def _measure_twice(
    browser: Any, server: _Server, notebook: str, size: int, timeout_ms: int
) -> Measurement:
    """:func:`_measure`, once more in a new page (and kernel) if the first drew no graph.

    On a loaded machine a kernel now and then never answers Voila (the page stays blank with
    the kernel idle); one stuck kernel should not hide a dashboard's figures.
    """
    first = _measure_safely(browser, server, notebook, size, timeout_ms)
    if first.open_ms is not None:
        return first
    second = _measure_safely(browser, server, notebook, size, timeout_ms)
    second.note = f"second attempt (the first: {first.note}); {second.note}".rstrip("; ")
    return second


def _change_dropdown(page: Any, wanted: list[tuple[str, str]]) -> tuple[float | None, str]:
    """Change a dropdown (see :data:`CHANGES`); ms until the graphs were last redrawn."""
    changed = page.evaluate(_CHANGE, [list(pair) for pair in wanted])
    if changed is None:
        return None, "no dropdown with another choice"
    note = f"{changed['label']}: {changed['from']} → {changed['to']}"
    try:
        page.wait_for_function(_SETTLED, timeout=CHANGE_TIMEOUT_MS, polling=100)
    except Exception:  # noqa: BLE001 - reported in the table, not fatal
        return None, f"{note}; no redraw within {CHANGE_TIMEOUT_MS / 1000:.0f} s"
    took = page.evaluate("() => window.__fitdataBench.last - window.__fitdataBench.changeStart")
    return took, note


def _kernel_mb(server: _Server, before: set[int]) -> float | None:
    new = {pid: mb for pid, mb in server.kernels().items() if pid not in before}
    return max(new.values()) if new else None


def bench(
    size: int, workdir: Path, browser: Any, only: list[str] | None
) -> Iterator[tuple[int, Measurement]]:
    """Measure every dashboard (then the naive notebook) on the ``size`` demo database."""
    db = database(size)
    # first as people meet it on a running server (a preheated kernel waits for each page),
    # then cold: a kernel started for the page, as when the pool is used up (--pool-size 0)
    for name, options in (("pool", ()), ("cold", ("--pool-size", "0"))):
        server = _Server(db, None, workdir / f"serve-{size}-{name}.log", options)
        try:
            for notebook, _title, _audience in DASHBOARDS:
                if only and Path(notebook).stem not in only:
                    continue
                yield size, _measure_twice(browser, server, notebook, size, PAGE_TIMEOUT_MS)
        finally:
            server.stop()
    if only and "naive" not in only:
        return
    naive_dir = workdir / "naive"
    naive_dir.mkdir(exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NAIVE_SOURCE)])
    nbformat.write(notebook, naive_dir / NAIVE)
    server = _Server(db, naive_dir, workdir / f"serve-naive-{size}.log", ("--pool-size", "0"))
    try:
        timeout_ms = NAIVE_TIMEOUT_MS + int(NAIVE_TIMEOUT_MS_PER_MILLION * size / 1e6)
        yield size, _measure_twice(browser, server, NAIVE, size, timeout_ms)
    finally:
        server.stop()


#: Pages the kernel benchmark opens and then closes together (issue 19).
CHURN_PAGES = 10
#: Seconds the kernel benchmark watches the server after closing them.
CHURN_WATCH_S = 60
#: Seconds after the close at which the kernel table reports the count and memory.
CHURN_REPORT_S = (2, 5, 10, 30)
#: The largest database the kernel table runs on beside the dashboards' table (``make bench``):
#: at 10 M ten pages take minutes to open.
CHURN_MAX_SIZE = 1_000_000
#: Installed in a page to suppress its shutdown beacon: a tab that ends without a word.
SILENT_TAB = "navigator.sendBeacon = () => true;"


@dataclass
class Churn:
    """Kernel count and memory around :data:`CHURN_PAGES` pages opened and closed."""

    size: int
    beacon: bool  # False: the pages' shutdown beacon was suppressed
    pool: int  # kernels the server holds with no page open
    before_mb: float
    open_kernels: int
    open_mb: float
    samples: list[tuple[float, int, float]]  # seconds after the close, kernels, MB
    back_s: float | None  # seconds until the count was back to the pool size
    note: str = ""


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def _server_state(server: _Server) -> tuple[int, float]:
    """The server's kernel count, and the resident MB of the server and all its kernels."""
    kernels = server.kernels()
    return len(kernels), _rss_mb(server.process.pid) + sum(kernels.values())


def churn(size: int, workdir: Path, browser: Any, beacon: bool) -> Churn:
    """Open :data:`CHURN_PAGES` dashboards on a pooled server, close them, watch the kernels."""
    db = database(size)
    name = "churn" if beacon else "churn-silent"
    server = _Server(db, None, workdir / f"serve-{size}-{name}.log")
    notes = []
    try:
        for notebook, _title, _audience in DASHBOARDS:
            if not server.wait_for_pool(notebook):
                notes.append(f"pool of {notebook} not filled")
        pool, before_mb = _server_state(server)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        if not beacon:
            context.add_init_script(SILENT_TAB)
        pages = []
        try:
            for index in range(CHURN_PAGES):
                notebook = DASHBOARDS[index % len(DASHBOARDS)][0]
                page = context.new_page()
                pages.append(page)
                page.goto(server.url(notebook), wait_until="commit", timeout=PAGE_TIMEOUT_MS)
                try:  # the page is served when its widgets are drawn
                    page.wait_for_selector(".jupyter-widgets", timeout=PAGE_TIMEOUT_MS)
                except Exception:  # noqa: BLE001 - reported, not fatal
                    notes.append(f"page {index + 1} ({notebook}) drew no widget")
            open_kernels, open_mb = _server_state(server)
            closed = time.monotonic()
            for page in pages:
                page.close(run_before_unload=True)
            samples, back = [], None
            while (elapsed := time.monotonic() - closed) < CHURN_WATCH_S:
                kernels, mb = _server_state(server)
                samples.append((elapsed, kernels, mb))
                if back is None and kernels <= pool:
                    back = elapsed
                if back is not None and elapsed > max(back + 5, CHURN_REPORT_S[-1] + 1):
                    break
                time.sleep(0.5)
        finally:
            context.close()
        return Churn(size, beacon, pool, before_mb, open_kernels, open_mb, samples, back,
                     "; ".join(notes))  # fmt: skip
    finally:
        server.stop()


def _at(samples: list[tuple[float, int, float]], seconds: float) -> str:
    """The count and MB of the last sample at or before ``seconds`` after the close."""
    earlier = [s for s in samples if s[0] <= seconds]
    if not earlier or samples[-1][0] < seconds - 1:
        return "-"
    _, kernels, mb = earlier[-1]
    return f"{kernels} / {mb:,.0f}"


def print_churn(results: list[Churn]) -> None:
    """The kernel table: count / MB before, with the pages open, and after the close."""
    after = " | ".join(f"{s} s after" for s in CHURN_REPORT_S)
    print(
        f"\n| sessions | shutdown beacon | pool | before | {CHURN_PAGES} pages open | {after} |"
        " back to the pool size in | note |"
    )
    print("|---:|---|---:|---:|---:|" + "---:|" * len(CHURN_REPORT_S) + "---:|---|")
    for c in results:
        back = "-" if c.back_s is None else f"{c.back_s:.1f} s"
        if c.back_s is None:
            back = f"not within {CHURN_WATCH_S} s"
        cells = " | ".join(_at(c.samples, s) for s in CHURN_REPORT_S)
        print(
            f"| {c.size:,} | {'sent' if c.beacon else 'suppressed (tab dies silently)'} | "
            f"{c.pool} | {c.pool} / {c.before_mb:,.0f} | {c.open_kernels} / {c.open_mb:,.0f} | "
            f"{cells} | {back} | {c.note} |",
            flush=True,
        )
    print(
        "\nCells: kernels / MB resident (server plus every kernel). A suppressed beacon is a "
        "tab that dies without a word; before the fix every closed tab was one: the idle cull "
        "(15 minutes) ends those kernels."
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(naive: float | None, ours: float | None) -> str:
    return "-" if naive is None or not ours else f"{naive / ours:.1f}x"


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000])
    parser.add_argument(
        "--dashboards", nargs="*", default=None, help="notebook names (and/or naive) to run"
    )
    parser.add_argument(
        "--kernels",
        choices=("with", "only", "without"),
        default="with",
        help=f"the kernel table ({CHURN_PAGES} pages opened and closed): with the dashboards' "
        f"table (default; sizes up to {CHURN_MAX_SIZE:,}), only it (every size), or without it",
    )
    args = parser.parse_args()
    # Stopped from outside (e.g. benchmarks.all's time limit): still stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"{__name__}: stopped by SIGTERM"))
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if args.kernels != "only":
                _print_dashboards(args, Path(tmp), browser)
            if args.kernels != "without":
                print_churn(
                    [
                        churn(size, Path(tmp), browser, beacon)
                        for size, beacon in _churn_runs(args.sizes, args.kernels == "only")
                    ]
                )
        finally:
            browser.close()


def _churn_runs(sizes: Sequence[int], every: bool) -> list[tuple[int, bool]]:
    """The kernel table's runs: (size, beacon sent).

    Beside the dashboards' table (``every`` False, as ``make bench`` runs it, within its time
    limit per module) only up to :data:`CHURN_MAX_SIZE` sessions, and the silent tabs at the
    smallest size only: they show the same thing at every size.
    """
    chosen = list(sizes) if every else [size for size in sizes if size <= CHURN_MAX_SIZE]
    runs = [(size, True) for size in chosen]
    if chosen:
        runs += [(size, False) for size in (chosen if every else chosen[:1])]
    return runs


def _print_dashboards(args: argparse.Namespace, workdir: Path, browser: Any) -> None:
    """The dashboards' table: each page opened, its dropdown changed, its kernel's memory."""
    print(
        "| sessions | dashboard | page open to chart ms | dropdown change to redraw ms |"
        " kernel MB | what was changed; note |"
    )
    print("|---:|---|---:|---:|---:|---|")
    for size in args.sizes:
        client_graph: Measurement | None = None
        for sessions, m in bench(size, workdir, browser, args.dashboards):
            if m.dashboard == "client_graph.ipynb" and not m.pooled:
                client_graph = m  # the naive notebook runs cold too
            name, note = m.dashboard, m.note
            name += " (preheated kernel)" if m.pooled else " (kernel started for it)"
            if m.dashboard == NAIVE:
                name = "**naive**: sessions into pandas, dropdowns, plotly"
                if client_graph is not None:
                    note += (
                        f"; naive / client graph: open "
                        f"{_ratio(m.open_ms, client_graph.open_ms)}, change "
                        f"{_ratio(m.change_ms, client_graph.change_ms)}, memory "
                        f"{_ratio(m.kernel_mb, client_graph.kernel_mb)}"
                    )
            print(
                f"| {sessions:,} | {name} | {_ms(m.open_ms)} | "
                f"{_ms(m.change_ms)} | {_ms(m.kernel_mb)} | {note} |",
                flush=True,
            )
    print(
        f"\nTimes are in the page's clock: navigation start, or the dropdown's change event, to "
        f"the last redraw of the page's Plotly graphs before {QUIET_MS / 1000:.0f} s without "
        f"change. Kernel MB: resident memory of the page's kernel after the change. "
        f"Screenshots of both moments: `test-artifacts/bench/`."
    )


if __name__ == "__main__":
    main()
