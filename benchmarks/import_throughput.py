"""Import throughput: export a demo database to the canonical CSV, import it into a new one.

Run with ``python -m benchmarks.import_throughput --sizes 1000000``. The demo databases are the
cached ones of ``benchmarks/run.py``. Reports wall-clock and CPU seconds and rows per second for
the export, the first import into an empty database, and a second import of the same file
(every row already present), plus the process's peak memory. CPU seconds of this process are
shown because the machines are shared (DuckDB's own threads are included). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.run import database
from fitdata.export import export_csv
from fitdata.ingest import ImportOptions, import_files


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = step()
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def bench(sessions: int) -> list[tuple[str, int, float, float]]:
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
        ]
        for name, step in steps:
            rows, wall, cpu = _timed(step)
            results.append((name, rows, wall, cpu))
        print(f"CSV: {csv.stat().st_size / 1e6:.0f} MB; load average {os.getloadavg()[0]:.1f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    print("| sessions | step | rows | wall s | CPU s | rows/s (wall) |")
    print("|---:|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for step, rows, wall, cpu in bench(size):
            print(f"| {size:,} | {step} | {rows:,} | {wall:.1f} | {cpu:.1f} | {rows / wall:,.0f} |")
    print(f"peak memory of this process: {_peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
