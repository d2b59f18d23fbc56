"""Import throughput: export a demo database to the canonical CSV, import it into a new one.

Run with ``python -m benchmarks.import_throughput --sizes 1000000``. The demo databases are the
cached ones of ``benchmarks/run.py``. Reports wall-clock and CPU seconds and rows per second for
the export, the first import into an empty database, and a second import of the same file
(every row already present), plus each step's peak memory; beside them, the naive
counterpart, which keeps no database and reads the CSV into pandas in every kernel.

Every step runs in a fresh process of its own (``spawn``), so its peak memory is its own and
not that of an earlier step (the naive pandas read of a 10 M-row CSV alone needs gigabytes),
and its CPU seconds include DuckDB's and Arrow's threads. ``--phases`` adds where the first
import's seconds go (read, privacy scan, checks, writing, saving), from timestamps the
importer's progress stages give. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: One line per size, printed under the table (a line inside it would break the Markdown).
NOTES: list[str] = []


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _StageClock:
    """Records when the importer enters each progress stage (see ``importer._Progress``)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []

    def stage(self, label: str) -> None:
        self.marks.append((label, time.perf_counter(), time.process_time()))

    def phases(self, wall_end: float, cpu_end: float) -> list[tuple[str, float, float]]:
        ends = [(w, c) for _, w, c in self.marks[1:]] + [(wall_end, cpu_end)]
        return [
            (label, w1 - w, c1 - c)
            for (label, w, c), (w1, c1) in zip(self.marks, ends, strict=True)
        ]


def _step(name: str, source: str, csv: str, target: str, phases: bool) -> dict:
    """One step, in a process of its own: rows, wall and CPU seconds, peak MB (and phases)."""
    import pandas as pd

    from fitdata.ingest import ImportOptions, import_files, importer
    from fitdata.outputs.export import export_csv

    clock = _StageClock()
    if phases:
        original = importer._Progress.stage

        def stage(self: importer._Progress, label: str) -> None:
            clock.stage(label)
            original(self, label)

        importer._Progress.stage = stage  # type: ignore[method-assign]
    options = ImportOptions(progress=False)
    run: Callable[[], int] = {
        "export to canonical CSV": lambda: export_csv(Path(source), Path(csv)),
        "import into an empty database": lambda: (
            import_files([Path(csv)], Path(target), options).imported
        ),
        "import again (all already present)": lambda: (
            import_files([Path(csv)], Path(target), options).already_present
        ),
        # The naive counterpart keeps no database: every kernel reads the export again
        # (no checks, no duplicates found, nothing kept for the next kernel).
        "naive: read the CSV into pandas (every kernel)": lambda: len(pd.read_csv(csv)),
    }[name]
    wall, cpu = time.perf_counter(), time.process_time()
    rows = run()
    wall_end, cpu_end = time.perf_counter(), time.process_time()
    return {
        "rows": rows,
        "wall": wall_end - wall,
        "cpu": cpu_end - cpu,
        "peak": _peak_mb(),
        "phases": clock.phases(wall_end, cpu_end) if clock.marks else [],
    }


def bench(
    sessions: int, again: bool = True, phases: bool = False
) -> list[tuple[str, int, float, float, float]]:
    from benchmarks.run import database

    source = database(sessions)
    results = []
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="fitdata-import-bench-") as folder:
        csv = Path(folder) / "sessions.csv"
        target = Path(folder) / "imported.duckdb"
        for name in (
            "export to canonical CSV",
            "import into an empty database",
            "import again (all already present)",
            "naive: read the CSV into pandas (every kernel)",
        ):
            if not again and name.startswith("import again"):
                NOTES.append(f"{sessions:,} sessions: '{name}' not run (--no-again)")
                continue
            with spawn.Pool(1, maxtasksperchild=1) as pool:
                step = pool.apply(
                    _step,
                    (name, str(source), str(csv), str(target), phases and "empty" in name),
                )
            results.append((name, step["rows"], step["wall"], step["cpu"], step["peak"]))
            for phase, wall, cpu in step["phases"]:
                NOTES.append(
                    f"{sessions:,} sessions, {name}: {phase}: {wall:.1f} s wall, {cpu:.1f} s CPU"
                )
        NOTES.append(
            f"{sessions:,} sessions: CSV {csv.stat().st_size / 1e6:,.0f} MB; load average "
            f"{os.getloadavg()[0]:.1f} after the run"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--no-again",
        action="store_true",
        help="skip the second import of the same file (at 10 M it takes minutes and measures "
        "the same rate as at 1 M)",
    )
    parser.add_argument(
        "--phases", action="store_true", help="also say where the first import's seconds go"
    )
    args = parser.parse_args()
    print("| sessions | step | rows | wall s | CPU s | rows/s (wall) | peak MB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for step, rows, wall, cpu, peak in bench(size, not args.no_again, args.phases):
            print(
                f"| {size:,} | {step} | {rows:,} | {wall:.1f} | {cpu:.1f} | "
                f"{rows / wall:,.0f} | {peak:,.0f} |"
            )
    print()
    for note in NOTES:
        print(f"- {note}")
    print("- peak MB: the step's own process (each step runs in a fresh one)")


if __name__ == "__main__":
    main()
