"""Benchmark: 20 people using one shared ``fitdata serve --users`` server at the same moment.

``python -m benchmarks.load --sizes 20000 [--pool-size 0 1]`` copies the cached demo database
(:func:`benchmarks.run.database`; the cache itself is never changed) to a temporary folder,
adds 20 users of realistic roles there with ``fitdata users add NAME --role R --token``
(:data:`ROLES`: 12 therapists, 5 supervisors of two teams each, 3 leaders), starts ONE
``fitdata serve --users`` on loopback, and drives all 20 from one headless Chromium, one
browser context (own login cookie) per user. Every user opens the dashboard of their role at
the same moment, with their personal token, waits for its charts, and then changes its main
dropdown :data:`CHANGES_PER_USER` times. Measured, with the helpers of
:mod:`benchmarks.browser` (the page's own clock, graphs that stay unchanged for
:data:`benchmarks.browser.QUIET_MS` count as drawn):

* **time to first chart** per user: navigation start to the last redraw of the page's graphs;
* **dropdown change to redraw** under that load, every change of every user;
* **memory**: resident set size (RSS) of each user's own kernel (found through the kernel id
  in the page's WebSocket URL), of the server process, of the kernels the server keeps in its
  preheated pool, the total (server + every kernel), its peak while the pages were opening
  (sampled every second), and the proportional set size (PSS, shared pages split between the
  processes sharing them) of the same processes. **Users per GB** = 20 / (total RSS of server
  and kernels in GB) after every user has changed their dropdowns; the pool and the server are
  counted, so it is what one more GB of memory buys on this kind of server;
* **failures**, never hidden: a page that drew no chart, a change that was not redrawn, a
  ``.fitdata-error`` message on a page, console errors and warnings, HTTP errors.

One screenshot per role and dashboard (its first user whose page drew) and one of every page
with a problem go to ``test-artifacts/bench/load-*.png``, the server's log beside them; the
kernels a page got from the preheated pool are told apart (from that log), and the time to
first chart is given for both kinds. Where the CPU went while the users worked (their kernels,
the server, Chromium, everybody else on the machine) is reported too. When
``fitdata serve --help`` lists ``--pool-size`` (a preheated kernel pool), each given pool size
is measured with its own server, one after the other; otherwise the server runs as it is.
Nothing is asserted; the machine's load (``uptime``) is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.browser import (
    _CHANGE,
    _ERROR,
    _SETTLED,
    _WATCH,
    ARTIFACTS,
    CHANGES,
    CHROMIUM,
    CHROMIUM_ARGS,
    QUIET_MS,
    _Server,
)
from benchmarks.run import database
from fitdata import jobs
from fitdata.data.store import reader_for
from fitdata.server.security import kernel_tag
from tests.browser.conftest import HARMLESS_CONSOLE

#: Who uses the shared server: role, dashboard, how many. Therapists mostly follow their clients
#: (client graph) and now and then look at their own development; supervisors review their
#: teams' cases; leaders read the service overview.
ROLES: tuple[tuple[str, str, int], ...] = (
    ("therapist", "client_graph.ipynb", 8),
    ("therapist", "therapist_development.ipynb", 4),
    ("supervisor", "team_review.ipynb", 5),
    ("leader", "service.ipynb", 3),
)
#: Teams per supervisor.
TEAMS_PER_SUPERVISOR = 2
#: Dropdown changes each user makes after their page has drawn.
CHANGES_PER_USER = 3
#: How long one page may take to draw with 20 opening at once on a small machine.
PAGE_TIMEOUT_MS = 600_000
CHANGE_TIMEOUT_MS = 300_000
#: Seconds the CPU of the idle browser is measured for after every user is done.
IDLE_PROBE_S = 10
_KERNEL_ID = re.compile(r"/api/kernels/([0-9a-f-]{36})/channels")
_KERNEL_FILE = re.compile(r"kernel-([0-9a-f-]{36})\.json")
_TOKEN_LINE = re.compile(r"Login token .*: (\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class LoadUser:
    """One person of the load test: their login, role, dashboard and personal token."""

    name: str
    role: str
    notebook: str
    token: str


@dataclass
class UserResult:
    """What one user saw."""

    user: LoadUser
    open_ms: float | None = None
    changes_ms: list[float] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kernel_ids: list[str] = field(default_factory=list)
    navigation_start: float | None = None  # performance.timeOrigin, ms since the epoch
    kernel_mb: float | None = None  # RSS of the page's kernel after the changes


@dataclass
class Memory:
    """Resident memory of the server and its kernels after every user's changes (MB)."""

    user_kernels: list[float]
    pool_kernels: list[float]
    server: float
    total: float
    total_pss: float
    peak_total: float


@dataclass
class LoadRun:
    """One server with one pool size, 20 users."""

    size: int
    pool_size: int | None
    results: list[UserResult]
    memory: Memory
    cpu: CpuUse
    load_before: str
    load_after: str
    preheated: set[str] = field(default_factory=set)  # tags of kernels Voila took from its pool


def serve_has_pool_option() -> bool:
    """Whether this fitdata's ``serve`` command takes ``--pool-size``."""
    shown = subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "--pool-size" in shown


def _pick_people(db: Path) -> tuple[list[str], list[list[str]]]:
    """12 therapists, the busiest of each team in turn, and the teams of 5 supervisors.

    A supervisor supervises :data:`TEAMS_PER_SUPERVISOR` neighbouring teams of one service,
    taken from each service in turn.
    """
    reader = reader_for(db)
    try:
        busiest = reader.rows(
            "SELECT team_id, therapist_id FROM episodes GROUP BY ALL "
            "ORDER BY team_id, count(*) DESC, therapist_id"
        )
        teams = reader.rows("SELECT service, team_id FROM teams ORDER BY service, team_id")
    finally:
        reader.close()
    by_team: dict[str, list[str]] = {}
    for team, therapist in busiest:
        by_team.setdefault(team, []).append(therapist)
    wanted = sum(count for role, _, count in ROLES if role == "therapist")
    therapists: list[str] = []
    rank = 0
    while len(therapists) < wanted and any(rank < len(ids) for ids in by_team.values()):
        for ids in by_team.values():
            if rank < len(ids) and ids[rank] not in therapists and len(therapists) < wanted:
                therapists.append(ids[rank])
        rank += 1
    supervisors = sum(count for role, _, count in ROLES if role == "supervisor")
    by_service: dict[str, list[str]] = {}
    for service, team in teams:
        by_service.setdefault(service, []).append(team)
    groups = [  # per service: its teams in groups of TEAMS_PER_SUPERVISOR, wrapping around
        [
            [ids[(start + k) % len(ids)] for k in range(min(TEAMS_PER_SUPERVISOR, len(ids)))]
            for start in range(0, len(ids), TEAMS_PER_SUPERVISOR)
        ]
        for ids in by_service.values()
    ]
    supervised: list[list[str]] = []
    for rank in range(max(map(len, groups))):
        supervised += [service[rank] for service in groups if rank < len(service)]
    supervised = [supervised[s % len(supervised)] for s in range(supervisors)]
    return therapists, supervised


def add_users(db: Path) -> list[LoadUser]:
    """Add the :data:`ROLES` users to ``db`` with ``fitdata users add ... --token``."""
    therapists, supervised = _pick_people(db)
    users: list[LoadUser] = []
    counters = {"therapist": 0, "supervisor": 0, "leader": 0}
    for role, notebook, count in ROLES:
        for _ in range(count):
            index = counters[role]
            counters[role] += 1
            name = f"{role}{index + 1:02d}"
            extra: list[str] = []
            if role == "therapist":
                extra = ["--therapist", therapists[index]]
            elif role == "supervisor":
                for team in supervised[index]:
                    extra += ["--team", team]
            added = subprocess.run(
                [sys.executable, "-m", "fitdata.cli", "users", "add", name, "--role", role]
                + [*extra, "--token", "--db", str(db)],
                capture_output=True,
                text=True,
            )
            token = _TOKEN_LINE.search(added.stdout)
            if added.returncode != 0 or token is None:
                raise RuntimeError(f"fitdata users add {name} failed: {added.stderr.strip()}")
            users.append(LoadUser(name, role, notebook, token.group(1)))
    return users


def _proc_kb(pid: int, field_name: str, file: str = "status") -> float | None:
    """One ``kB`` field of ``/proc/PID/status`` (or ``smaps_rollup``), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field_name}:"):
            return float(line.split()[1])
    return None


def _kernel_pids(server: _Server) -> dict[str, int]:
    """The pid of each kernel of ``server``, by kernel id (from its connection file's name)."""
    found = {}
    for pid in server.kernels():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        match = _KERNEL_FILE.search(cmdline)
        if match:
            found[match.group(1)] = pid
    return found


def _total_mb(server: _Server) -> float:
    """RSS of the server and all its kernels now (MB)."""
    server_kb = _proc_kb(server.process.pid, "VmRSS") or 0.0
    return server_kb / 1024 + sum(server.kernels().values())


def measure_memory(server: _Server, results: list[UserResult], peak: float) -> Memory:
    """Memory of the server, the users' kernels and the other (pool) kernels, now.

    Sets each result's :attr:`UserResult.kernel_mb`.
    """
    kernels = server.kernels()
    pids = _kernel_pids(server)
    used = set()
    for result in results:  # the page's kernel: the last one its WebSocket talked to
        pid = pids.get(result.kernel_ids[-1]) if result.kernel_ids else None
        if pid is not None and pid in kernels:
            result.kernel_mb = kernels[pid]
            used.add(pid)
    server_mb = (_proc_kb(server.process.pid, "VmRSS") or 0.0) / 1024
    processes = [server.process.pid, *kernels]
    pss = sum(_proc_kb(pid, "Pss", "smaps_rollup") or 0.0 for pid in processes) / 1024
    total = server_mb + sum(kernels.values())
    return Memory(
        user_kernels=[mb for pid, mb in kernels.items() if pid in used],
        pool_kernels=[mb for pid, mb in kernels.items() if pid not in used],
        server=server_mb,
        total=total,
        total_pss=pss,
        peak_total=max(peak, total),
    )


async def _settled(page: Any, timeout_ms: int) -> bool:
    try:
        await page.wait_for_function(_SETTLED, timeout=timeout_ms, polling=100)
    except Exception:  # noqa: BLE001 - reported as the user's problem, not fatal
        return False
    return True


async def _error_text(page: Any) -> str:
    return await page.evaluate(_ERROR)


async def drive_user(
    context: Any,
    user: LoadUser,
    server: _Server,
    start: asyncio.Event,
    pages: dict[str, Any],
) -> UserResult:
    """Open ``user``'s dashboard once ``start`` is set, wait for it, change its dropdown.

    The page is left open, in ``pages`` under the user's name.
    """
    result = UserResult(user)
    page = pages[user.name] = await context.new_page()

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning") and not any(
            harmless in message.text for harmless in HARMLESS_CONSOLE
        ):
            result.problems.append(f"console {message.type}: {message.text[:200]}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            result.problems.append(f"HTTP {response.status}: {response.url.split('?')[0]}")

    def on_websocket(socket: Any) -> None:
        match = _KERNEL_ID.search(socket.url)
        if match and match.group(1) not in result.kernel_ids:
            result.kernel_ids.append(match.group(1))

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: result.problems.append(f"page error: {error}"[:200]))
    page.on("websocket", on_websocket)
    await start.wait()
    url = f"{server.url(user.notebook)}?token={user.token}"
    try:
        await page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        result.navigation_start = await page.evaluate("() => performance.timeOrigin")
        if not await _settled(page, PAGE_TIMEOUT_MS):
            error = await _error_text(page)
            shown = await page.evaluate("() => document.body?.innerText.slice(0, 160) ?? ''")
            result.problems.append(
                f"no chart within {PAGE_TIMEOUT_MS / 1000:.0f} s"
                + (f": {error}" if error else f" (the page shows: {' '.join(shown.split())!r})")
            )
            return result
        result.open_ms = await page.evaluate("() => window.__fitdataBench.last")
        for _ in range(CHANGES_PER_USER):
            changed = await page.evaluate(_CHANGE, [list(p) for p in CHANGES[user.notebook]])
            if changed is None:
                result.problems.append("no dropdown with another choice to change")
                break
            result.changed.append(f"{changed['label']}: {changed['from']} → {changed['to']}")
            if not await _settled(page, CHANGE_TIMEOUT_MS):
                result.problems.append(
                    f"{changed['label']} change not redrawn within {CHANGE_TIMEOUT_MS / 1000:.0f} s"
                )
                break
            result.changes_ms.append(
                await page.evaluate(
                    "() => window.__fitdataBench.last - window.__fitdataBench.changeStart"
                )
            )
        error = await _error_text(page)
        if error:
            result.problems.append(f"page shows an error: {error[:200]}")
    except Exception as error:  # noqa: BLE001 - one user's failure must not hide the others
        result.problems.append(f"benchmark error: {error!r}"[:300])
    return result


async def save_screenshots(results: list[UserResult], pages: dict[str, Any], label: str) -> None:
    """The first user of each role and dashboard whose page drew, and every page with a problem.

    Saved as ``<label>-<role>-<dashboard>.png`` and ``<label>-failed-<user>.png`` in
    :data:`ARTIFACTS`, the viewport from the top of the first graph.
    """
    wanted: dict[str, Path] = {}
    for role, notebook, _ in ROLES:
        drawn = [r for r in results if r.user.notebook == notebook and r.user.role == role]
        first = next((r for r in drawn if r.open_ms is not None), None)
        if first is not None:
            wanted[first.user.name] = ARTIFACTS / f"{label}-{role}-{Path(notebook).stem}.png"
    for result in results:
        if result.problems:
            wanted[result.user.name] = ARTIFACTS / f"{label}-failed-{result.user.name}.png"
    for name, path in wanted.items():
        page = pages[name]
        try:
            await page.evaluate(
                "() => document.querySelector('.js-plotly-plot')?.scrollIntoView({block: 'start'})"
            )
            await page.screenshot(path=str(path))
        except Exception as error:  # noqa: BLE001 - reported, not fatal
            print(f"(screenshot of {name} failed: {error!r})", file=sys.stderr)


async def _sample_peak(server: _Server, stop: asyncio.Event) -> float:
    """Highest total RSS of server and kernels, sampled every second until ``stop``."""
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, await asyncio.to_thread(_total_mb, server))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    return peak


def _cpu_seconds() -> dict[int, float]:
    """CPU time (user + system, s) of every process now, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    return found


def _descendants(root: int, parents: dict[int, int]) -> set[int]:
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _machine_busy_seconds() -> float:
    """CPU seconds every core spent busy since boot (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUse:
    """CPU seconds spent while the users worked, by who spent them."""

    kernels: float
    server: float
    browser: float  # Chromium and the Playwright driver
    machine: float  # every process on the machine (other people's work included)
    wall: float
    browser_idle_cores: float = 0.0  # Chromium's use with every page drawn and nobody acting


class _CpuMeter:
    """CPU seconds of the server, its kernels and the browser between start and stop."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.before = _cpu_seconds()
        self.machine_before = _machine_busy_seconds()
        self.started = time.perf_counter()

    def stop(self) -> CpuUse:
        after = _cpu_seconds()
        parents = _parents()
        spent = {pid: cpu - self.before.get(pid, 0.0) for pid, cpu in after.items()}
        server_pid = self.server.process.pid
        kernels = _descendants(server_pid, parents)
        browser = _descendants(os.getpid(), parents) - kernels - {server_pid}
        return CpuUse(
            kernels=sum(spent.get(pid, 0.0) for pid in kernels),
            server=spent.get(server_pid, 0.0),
            browser=sum(spent.get(pid, 0.0) for pid in browser),
            machine=_machine_busy_seconds() - self.machine_before,
            wall=time.perf_counter() - self.started,
        )


async def drive_all(
    server: _Server, users: list[LoadUser], label: str
) -> tuple[list[UserResult], Memory, CpuUse]:
    """Every user at once in one Chromium; memory and screenshots before any page is closed."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            contexts = []
            for _ in users:
                context = await browser.new_context(viewport={"width": 1280, "height": 1000})
                await context.add_init_script(_WATCH)
                contexts.append(context)
            start, stop = asyncio.Event(), asyncio.Event()
            pages: dict[str, Any] = {}
            tasks = [
                asyncio.create_task(drive_user(context, user, server, start, pages))
                for context, user in zip(contexts, users, strict=True)
            ]
            sampler = asyncio.create_task(_sample_peak(server, stop))
            await asyncio.sleep(0.5)  # every task is waiting at start
            meter = _CpuMeter(server)
            start.set()
            results = list(await asyncio.gather(*tasks))
            cpu = meter.stop()
            idle = _CpuMeter(server)  # what the open pages cost with nobody doing anything
            await asyncio.sleep(IDLE_PROBE_S)
            idle_use = idle.stop()
            cpu.browser_idle_cores = idle_use.browser / idle_use.wall
            stop.set()
            memory = measure_memory(server, results, await sampler)
            await save_screenshots(results, pages, label)
        finally:
            await browser.close()
    return results, memory, cpu


def _load() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def run_once(size: int, pool_size: int | None, workdir: Path) -> LoadRun:
    """One server over a copy of the ``size`` database, with 20 users, ``pool_size`` kernels."""
    source = database(size)
    folder = workdir / f"load-{size}-{pool_size}"
    folder.mkdir()
    db = folder / source.name
    shutil.copyfile(source, db)  # users go into the copy; the cache keeps access control off
    users = add_users(db)
    jobs.warm(db)  # what a writer does after replacing the file (fitdata import, demo)
    label = f"load-{size}-pool{'default' if pool_size is None else pool_size}"
    options = ["--users"] + ([] if pool_size is None else ["--pool-size", str(pool_size)])
    server = _Server(db, None, folder / "serve.log", options)
    try:
        if pool_size:  # let the pool fill, as it would have long before anyone logs in
            _wait_for_pool(server, pool_size)
        load_before = _load()
        results, memory, cpu = asyncio.run(drive_all(server, users, label))
        load_after = _load()
    finally:
        server.stop()
        log = (folder / "serve.log").read_text(errors="replace")
        (ARTIFACTS / f"{label}-serve.log").write_text(log)  # the server logs no token
    # The server's log names kernels by tag only (fitdata.server.security.kernel_tag).
    preheated = set(re.findall(r"Using pre-heated kernel: (kernel-[0-9a-f]{12})", log))
    return LoadRun(size, pool_size, results, memory, cpu, load_before, load_after, preheated)


def _wait_for_pool(server: _Server, pool_size: int, timeout_s: float = 300) -> None:
    """Until the server runs ``pool_size`` kernels per dashboard (or ``timeout_s`` passed)."""
    from fitdata.server.serve import DASHBOARDS

    wanted = pool_size * len(DASHBOARDS)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(server.kernels()) < wanted:
        time.sleep(1)
    time.sleep(5)  # the last ones finish their imports


def _median_p95(samples: Sequence[float]) -> tuple[float, float] | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _stats(samples: Sequence[float], with_max: bool = True) -> str:
    found = _median_p95(samples)
    if found is None:
        return "-"
    text = f"{found[0]:,.0f} / {found[1]:,.0f}"
    return text + (f" / {max(samples):,.0f}" if with_max else "")


def report(run: LoadRun) -> str:
    """The Markdown for one run: summary, per dashboard, memory, failures."""
    results, memory, cpu = run.results, run.memory, run.cpu
    cores_s = cpu.wall * (os.cpu_count() or 1)
    others = max(cpu.machine - cpu.kernels - cpu.server - cpu.browser, 0.0)
    busy = cpu.machine / cores_s if cores_s else 0.0
    opened = [r.open_ms for r in results if r.open_ms is not None]
    changes = [ms for r in results for ms in r.changes_ms]
    starts = [r.navigation_start for r in results if r.navigation_start is not None]
    failed = [r for r in results if r.problems]
    pooled = [r for r in results if {kernel_tag(k) for k in r.kernel_ids} & run.preheated]
    fresh = [r for r in results if r not in pooled]
    users = len(results)
    per_gb = users / (memory.total / 1024) if memory.total else 0.0
    per_gb_pss = users / (memory.total_pss / 1024) if memory.total_pss else 0.0
    pool = (
        "as `fitdata serve` starts (no `--pool-size`)"
        if run.pool_size is None
        else (f"`--pool-size {run.pool_size}`")
    )
    lines = [
        f"**{users} users, one `fitdata serve --users` on loopback, pool {pool}.** "
        f"Load average (1 / 5 / 15 min) before {run.load_before}, after {run.load_after}; "
        f"{cpu.wall:,.0f} s from the first page request to the last redraw. "
        + (
            f"All navigations started within {max(starts) - min(starts):,.0f} ms of each other."
            if starts
            else ""
        ),
        "",
        f"CPU in those {cpu.wall:,.0f} s ({os.cpu_count()} cores: {cores_s:,.0f} CPU s "
        f"available): the kernels {cpu.kernels:,.0f} s, the server {cpu.server:,.0f} s, "
        f"Chromium and Playwright {cpu.browser:,.0f} s, other work on the machine "
        f"{others:,.0f} s; the cores were busy {busy:.0%} of the time. Afterwards, with "
        f"every page drawn and nobody acting, Chromium still used "
        f"{cpu.browser_idle_cores:.2f} cores (each page's graph watcher included).",
        "",
        "| measure | median / p95 / max | n |",
        "|---|---:|---:|",
        f"| time to first chart ms | {_stats(opened)} | {len(opened)} of {users} pages |",
        f"| dropdown change to redraw ms | {_stats(changes)} | {len(changes)} changes |",
        f"| RSS of a user's kernel MB | {_stats(memory.user_kernels)} | "
        f"{len(memory.user_kernels)} kernels |",
        *(
            f"| time to first chart ms, {what} | {_stats(times)} | "
            f"{len(times)} of {len(group)} pages |"
            for what, group in (
                ("kernel from the preheated pool", pooled),
                ("kernel started for the request", fresh),
            )
            if run.preheated and group
            for times in [[r.open_ms for r in group if r.open_ms is not None]]
        ),
        "",
        "| memory after every user's changes | MB |",
        "|---|---:|",
        f"| server process (Voila) RSS | {memory.server:,.0f} |",
        f"| {len(memory.user_kernels)} users' kernels RSS | {sum(memory.user_kernels):,.0f} |",
        f"| {len(memory.pool_kernels)} other kernels (preheated pool) RSS | "
        f"{sum(memory.pool_kernels):,.0f} |",
        f"| **total RSS** (server + every kernel) | **{memory.total:,.0f}** |",
        f"| total PSS (shared pages split) | {memory.total_pss:,.0f} |",
        f"| peak total RSS while the pages opened (1 s samples) | {memory.peak_total:,.0f} |",
        f"| **users per GB** = {users} / total RSS in GB | **{per_gb:.1f}** |",
        f"| users per GB by PSS = {users} / total PSS in GB | {per_gb_pss:.1f} |",
        "",
        "| role | dashboard | users | first chart ms median / max | change ms median / p95 |"
        " kernel MB median | what was changed |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for role, notebook, _ in ROLES:
        mine = [r for r in results if r.user.role == role and r.user.notebook == notebook]
        first = [r.open_ms for r in mine if r.open_ms is not None]
        first_text = f"{statistics.median(first):,.0f} / {max(first):,.0f}" if first else "-"
        kernel_mb = [r.kernel_mb for r in mine if r.kernel_mb is not None]
        labels = sorted({c.split(":")[0] for r in mine for c in r.changed})
        lines.append(
            f"| {role} | {Path(notebook).stem} | {len(mine)} | {first_text} | "
            f"{_stats([ms for r in mine for ms in r.changes_ms], with_max=False)} | "
            f"{_ms(statistics.median(kernel_mb) if kernel_mb else None)} | "
            f"{', '.join(labels) or '-'} |"
        )
    lines.append("")
    if failed:
        lines.append(f"**Failures: {len(failed)} of {users} users saw a problem.**\n")
        for r in failed:
            kernel = ", ".join(
                k[:8] + (" from the preheated pool" if k in run.preheated else "")
                for k in r.kernel_ids
            )
            lines.append(
                f"- {r.user.name} ({Path(r.user.notebook).stem}; kernel {kernel or 'none'}): "
                + "; ".join(dict.fromkeys(r.problems))
            )
    else:
        lines.append(
            f"Failures: none — every page drew its chart and redrew it after all "
            f"{CHANGES_PER_USER} changes, with no error message, console error or HTTP error."
        )
    return "\n".join(lines)


def main() -> None:
    """Print the load benchmark's Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000])
    parser.add_argument(
        "--pool-size",
        type=int,
        nargs="*",
        default=None,
        help="preheated kernels per dashboard, one run each (default: 0 and 1 when `fitdata "
        "serve` has --pool-size, else the server as it is)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"{__name__}: stopped by SIGTERM"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pools: list[int | None] = [None]
    if serve_has_pool_option():
        pools = list(args.pool_size) if args.pool_size is not None else [0, 1]
    elif args.pool_size:
        print(f"(`fitdata serve` has no --pool-size yet: ran without it, not {args.pool_size})")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"`uptime` at the start: {uptime}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    with tempfile.TemporaryDirectory(prefix="fitdata-load-") as tmp:
        for size in args.sizes:
            for pool_size in pools:
                run = run_once(size, pool_size, Path(tmp))
                print(f"#### {size:,} sessions, pool size {pool_size}\n", flush=True)
                print(report(run) + "\n", flush=True)
    print(
        f"Times are in each page's own clock (navigation start, or the dropdown's change event, "
        f"to the last redraw of its Plotly graphs before {QUIET_MS / 1000:.0f} s without change), "
        f"as in the browser benchmark. A user's kernel is the one their page's WebSocket talks "
        f"to. Screenshots: `test-artifacts/bench/load-*.png`; server logs beside them."
    )


if __name__ == "__main__":
    main()
