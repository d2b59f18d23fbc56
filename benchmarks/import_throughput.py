"""Import throughput: export a demo database to the canonical CSV, import it into a new one.

Run with ``python -m benchmarks.import_throughput --sizes 1000000``. The demo databases are the
cached ones of ``benchmarks/run.py``. Reports wall-clock and CPU seconds and rows per second for
the export, the first import into an empty database, and a second import of the same file
(every row already present), plus the process's peak memory; beside them, the naive
counterpart, which keeps no database and reads the CSV into pandas in every kernel. CPU seconds
of this process are shown because the machines are shared (DuckDB's own threads are included).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmarks.run import database
from fitdata.export import export_csv
from fitdata.ingest import ImportOptions, import_files

#: One line per size, printed under the table (a line inside it would break the Markdown).
NOTES: list[str] = []


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = step()
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def bench(sessions: int, again: bool = True) -> list[tuple[str, int, float, float]]:
    source = database(sessions)
    options = ImportOptions(progress=False)
    results = []
    with tempfile.TemporaryDirectory(prefix="fitdata-import-bench-") as folder:
        csv = Path(folder) / "sessions.csv"
        target = Path(folder) / "imported.duckdb"
        steps: list[tuple[str, Callable[[], int]]] = [
            ("export to canonical CSV", lambda: export_csv(source, csv)),
            (
                "import into an empty database",
                lambda: import_files([csv], target, options).imported,
            ),
            (
                "import again (all already present)",
                lambda: import_files([csv], target, options).already_present,
            ),
            # The naive counterpart keeps no database: every kernel reads the export again
            # (no checks, no duplicates found, nothing kept for the next kernel).
            ("naive: read the CSV into pandas (every kernel)", lambda: len(pd.read_csv(csv))),
        ]
        for name, step in steps:
            if not again and name.startswith("import again"):
                NOTES.append(f"{sessions:,} sessions: '{name}' not run (--no-again)")
                continue
            rows, wall, cpu = _timed(step)
            results.append((name, rows, wall, cpu))
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
    args = parser.parse_args()
    print("| sessions | step | rows | wall s | CPU s | rows/s (wall) |")
    print("|---:|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for step, rows, wall, cpu in bench(size, again=not args.no_again):
            print(f"| {size:,} | {step} | {rows:,} | {wall:.1f} | {cpu:.1f} | {rows / wall:,.0f} |")
    print()
    for note in NOTES:
        print(f"- {note}")
    print(f"- peak memory of this process: {_peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
