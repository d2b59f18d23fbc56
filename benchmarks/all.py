"""``make bench``: every benchmark, at municipality to national scale, into ``RESULTS.md``.

``python -m benchmarks.all [--sizes 20000 1000000 10000000] [--only run analytics ...]``
generates (or reuses) demo databases in ``benchmarks/cache/`` and runs each benchmark module
in its own process, one after the other, so none competes with another for the two cores. Each
module prints Markdown tables measured side by side with the naive approach; this script
collects them into ``benchmarks/RESULTS.md`` with a description of the machine and the command
that reproduces them. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from benchmarks.run import database

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"

#: (module, title, extra arguments): run in this order. Each takes ``--sizes``.
MODULES: tuple[tuple[str, str, list[str]], ...] = (
    ("benchmarks.run", "Client graph: the query behind each widget change", []),
    ("benchmarks.analytics", "Clinical analytics: flags and service indices", ["--repeats", "5"]),
    ("benchmarks.team_review", "Team case review: the query behind each widget change", []),
    (
        "benchmarks.therapist_development",
        "Therapist development: the query behind each widget change",
        [],
    ),
    ("benchmarks.service_dashboard", "Service dashboard: filter changes", []),
    ("benchmarks.import_throughput", "Import throughput", []),
    ("benchmarks.browser", "Every dashboard in a real browser (Voila + Chromium)", []),
)

TARGETS = "\n".join(
    [
        "| target (issue 8) | where to read it |",
        "|---|---|",
        "| client graph update under 50 ms of query time at 10 M sessions "
        '| client graph table, "client series" |',
        "| team review and service dashboard filter changes under 300 ms p95 at 1 M and "
        "under 1 s at 10 M | team review and service dashboard tables |",
        '| page open to chart under 3 s | browser table, "page open to chart" |',
        '| kernel memory under 400 MB at 10 M | browser table, "kernel MB" |',
        "| import at least 50,000 rows a second | import throughput table |",
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
    load = os.getloadavg()
    return (
        f"- {os.cpu_count()} cores ({cpu}), {memory} memory, {platform.platform()}\n"
        f"- Python {platform.python_version()}; {versions}\n"
        f"- load average when the run started: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(1 / 5 / 15 min; anything above the core count means the figures are pessimistic)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["20000", "1000000", "10000000"])
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. run browser")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    header = machine()
    for size in args.sizes:
        database(int(size))  # generate once, outside the timed runs (reports its own speed)
    sections = []
    for module, title, extra in MODULES:
        if args.only and module.split(".")[-1] not in args.only:
            continue
        if not (HERE / f"{module.split('.')[-1]}.py").exists():
            sections.append(f"## {title}\n\n(not run: `{module}` does not exist yet)\n")
            continue
        print(f"running {module} ...", flush=True)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", module, "--sizes", *args.sizes, *extra],
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - start
        body = done.stdout.strip() or "(no output)"
        if done.returncode != 0:
            body += f"\n\nFAILED (exit {done.returncode}):\n\n```\n{done.stderr[-3000:]}\n```"
        sections.append(f"## {title}\n\n`python -m {module}`, {took:.0f} s\n\n{body}\n")
    command = f"make bench  # python -m benchmarks.all --sizes {' '.join(args.sizes)}"
    text = (
        "# Benchmark results\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC. Reproduce with:\n\n```sh\n{command}\n```\n\n"
        f"## Machine\n\n{header}\n## Targets\n\n{TARGETS}\n" + "\n".join(sections)
    )
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
