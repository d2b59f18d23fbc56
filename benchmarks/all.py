"""``make bench``: every benchmark, at municipality to national scale, into ``RESULTS.md``.

``python -m benchmarks.all [--sizes 20000 1000000 10000000] [--only run analytics ...]
[--out PATH] [--quick]`` generates (or reuses) demo databases in ``benchmarks/cache/`` and
runs each benchmark module once per size, each in its own process and one after the other, so
none competes with another for the two cores. Each module prints Markdown tables measured side
by side with the naive approach; this script collects them into ``benchmarks/RESULTS.md`` (or
``--out``) with a description of the machine, the command that reproduces them, and how long
each module took at each size. Nothing is asserted.

A complete run at 20 k, 1 M and 10 M sessions has to fit in well under an hour on a 2-core
machine, so repeats shrink with the size (:data:`MODULES`), and each run has a time limit
(:data:`TIME_LIMIT_S`) after which it is stopped and reported as such. ``--quick`` runs the
fewest repeats everywhere (a format check, not a measurement).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.run import database

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
#: No single module run may take longer (seconds); a stopped run is reported in its section.
TIME_LIMIT_S = 15 * 60

#: Extra arguments for one module at one size (and in --quick mode), or None to skip that size.
Plan = Callable[[int, bool], list[str] | None]


def _repeats(quick: bool, small: int, large: int, size: int, minimum: int = 3) -> list[str]:
    """``--repeats``: ``small`` up to 1 M sessions, ``large`` above, ``minimum`` when quick."""
    return ["--repeats", str(minimum if quick else small if size <= 1_000_000 else large)]


def _service_dashboard(size: int, quick: bool) -> list[str]:
    # Every filter change at every size (the target covers them all at 10 M); fewer repeats
    # above 1 M. The module's own --quick (page open and team changes only) for --quick.
    return _repeats(quick, 8, 4, size) + (["--quick"] if quick else [])


@dataclass(frozen=True)
class Module:
    """One benchmark module: what it measures and how to run it at each size."""

    name: str
    title: str
    plan: Plan


MODULES: tuple[Module, ...] = (
    Module(
        "benchmarks.run",
        "Client graph: the query behind each widget change",
        lambda size, quick: _repeats(quick, 40, 20, size),
    ),
    Module(
        "benchmarks.analytics",
        "Clinical analytics: flags and service indices",
        lambda size, quick: _repeats(quick, 5, 2, size, minimum=1),
    ),
    Module(
        "benchmarks.team_review",
        "Team case review: the query behind each widget change",
        lambda size, quick: _repeats(quick, 20, 8, size),
    ),
    Module(
        "benchmarks.therapist_development",
        "Therapist development: the query behind each widget change",
        lambda size, quick: _repeats(quick, 20, 8, size),
    ),
    Module("benchmarks.service_dashboard", "Service dashboard: filter changes", _service_dashboard),
    Module("benchmarks.demo_generation", "Demo generation", lambda size, quick: []),
    Module(
        "benchmarks.import_throughput",
        "Import throughput",
        # The second import (every row already present) at 10 M takes minutes and measures the
        # same rate as at 1 M.
        lambda size, quick: ["--no-again"] if quick or size > 1_000_000 else [],
    ),
    Module(
        "benchmarks.writes",
        "Writes in a busy hour: 1, 10 and 20 registering at once, group commit beside one copy "
        "per write",
        # 3 writer counts x 2 routes x 30 s, plus starting up to 22 processes each time
        lambda size, quick: ["--seconds", "5" if quick else "30"],
    ),
    Module(
        "benchmarks.browser",
        "Every dashboard in a real browser (Voila + Chromium)",
        lambda size, quick: [],
    ),
    Module(
        "benchmarks.load",
        "20 users at once on one shared server (`fitdata serve --users`)",
        # 20 kernels at once: not at 10 M (the service overview alone opens in ~45 s there).
        # Without and with the preheated pool at 20 k; the default pool only at 1 M or quick.
        lambda size, quick: (
            None
            if size > 1_000_000
            else []
            if size <= 20_000 and not quick
            else ["--pool-size", "1"]
        ),
    ),
)

TARGETS = "\n".join(
    [
        "| target (issues 8 and 19) | where to read it |",
        "|---|---|",
        "| client graph update under 50 ms of query time at 10 M sessions "
        '| client graph table, "client series (client change)" |',
        "| team review and service dashboard filter changes under 300 ms p95 at 1 M and "
        "under 1 s at 10 M | team review table (callbacks), service dashboard table |",
        '| page open to chart under 3 s | browser table, "page open to chart ms" |',
        '| kernel memory under 400 MB at 10 M | browser table, "kernel MB" |',
        '| import at least 50,000 rows a second | import throughput table, "rows/s (wall)" |',
        "| (issue 19) 20 writers at 1 M: at least 40 saves/s, p95 under 300 ms; at 10 M: p95 "
        "under 1.5 s, one save alone under 200 ms; nothing lost, duplicated or failed "
        '| writes table, "group commit" rows |',
    ]
)


def machine() -> str:
    """Cores, memory, CPU and the versions that matter, as a Markdown list."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GB"
    except OSError:
        memory = "unknown"
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("duckdb", "pandas", "voila", "ipywidgets", "plotly", "playwright")
    )
    return (
        f"- {os.cpu_count()} cores ({cpu}), {memory} memory, {platform.platform()}\n"
        f"- Python {platform.python_version()}; {versions}\n"
        f"- load average when the run started: {_load()} (1 / 5 / 15 min; anything above the "
        "core count means other work shared the machine and the figures are pessimistic)\n"
    )


def _load() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


@dataclass
class Run:
    """One module at one size: its output and how long it took."""

    module: Module
    size: int
    args: list[str]
    seconds: float
    load_before: str
    body: str


def _run(module: Module, size: int, args: list[str]) -> Run:
    """Run one module at one size in its own process group, stopped after TIME_LIMIT_S."""
    command = [sys.executable, "-m", module.name, "--sizes", str(size), *args]
    load = _load()
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=TIME_LIMIT_S)
        stopped = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the browser module stops its servers on TERM
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        stopped = True
    took = time.perf_counter() - start
    body = stdout.strip() or "(no output)"
    if stopped:
        body += (
            f"\n\nSTOPPED after the time limit of {TIME_LIMIT_S / 60:.0f} min; the rows above "
            "are what it measured until then."
        )
    elif process.returncode != 0:
        body += f"\n\nFAILED (exit {process.returncode}):\n\n```\n{stderr[-3000:]}\n```"
    return Run(module, size, args, took, load, body)


def _section(module: Module, runs: list[Run], skipped: list[str]) -> str:
    parts = [f"## {module.title}\n"]
    for run in runs:
        command = " ".join(["python -m", module.name, "--sizes", str(run.size), *run.args])
        parts.append(
            f"### {run.size:,} sessions\n\n`{command}`: {run.seconds:,.0f} s, load average "
            f"before {run.load_before}\n\n{run.body}\n"
        )
    parts += [f"{line}\n" for line in skipped]
    return "\n".join(parts)


def _times(runs: list[Run], sizes: list[int]) -> str:
    """Seconds per module and size, as a Markdown table."""
    header = "| module | " + " | ".join(f"{size:,}" for size in sizes) + " | total |"
    lines = [header, "|---|" + "---:|" * (len(sizes) + 1)]
    for module in MODULES:
        mine = {run.size: run.seconds for run in runs if run.module is module}
        if not mine:
            continue
        cells = [f"{mine[size]:,.0f} s" if size in mine else "-" for size in sizes]
        lines.append(f"| {module.name} | {' | '.join(cells)} | {sum(mine.values()):,.0f} s |")
    total = sum(run.seconds for run in runs)
    lines.append(f"| **all** | {' | '.join('' for _ in sizes)} | **{total / 60:,.1f} min** |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmarks and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 1_000_000, 10_000_000])
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. run browser")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument(
        "--quick", action="store_true", help="fewest repeats: checks the format, measures little"
    )
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    header = machine()
    for size in args.sizes:
        database(size)  # generate once, outside the timed runs (reports its own speed)
    runs: list[Run] = []
    sections = []
    for module in MODULES:
        short = module.name.split(".")[-1]
        if args.only and short not in args.only:
            continue
        if not (HERE / f"{short}.py").exists():
            sections.append(f"## {module.title}\n\n(not run: `{module.name}` does not exist yet)\n")
            continue
        mine: list[Run] = []
        skipped: list[str] = []
        for size in args.sizes:
            extra = module.plan(size, args.quick)
            if extra is None:
                skipped.append(f"({module.name} not run at {size:,} sessions)")
                continue
            print(f"running {module.name} at {size:,} sessions ...", end=" ", flush=True)
            run = _run(module, size, extra)
            print(f"{run.seconds:,.0f} s", flush=True)
            mine.append(run)
        runs += mine
        sections.append(_section(module, mine, skipped))
        # written after every module, so a run stopped part-way still leaves its figures
        args.out.write_text(_results(args, started, header, sections, runs))
    args.out.write_text(_results(args, started, header, sections, runs))
    print(_times(runs, args.sizes))
    print(f"wrote {args.out}")


def _results(
    args: argparse.Namespace,
    started: dt.datetime,
    header: str,
    sections: list[str],
    runs: list[Run],
) -> str:
    """The results file's text for the modules run so far."""
    command = " ".join(
        ["python -m benchmarks.all --sizes", *map(str, args.sizes)]
        + (["--only", *args.only] if args.only else [])
        + (["--quick"] if args.quick else [])
    )
    return (
        "# Benchmark results\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC. Reproduce with `make bench`, i.e.:\n\n"
        f"```sh\n{command}\n```\n\n"
        f"## Machine\n\n{header}\n## Targets\n\n{TARGETS}\n\n"
        "Where a module has a naive counterpart (the sessions table loaded into pandas and "
        "filtered there, or a notebook written that way), it is measured in the same run and "
        "shown beside the figure, as absolute figures and as a ratio.\n\n"
        + "\n".join(sections)
        + f"\n## How long each benchmark took\n\n{_times(runs, args.sizes)}\n"
    )


if __name__ == "__main__":
    main()
