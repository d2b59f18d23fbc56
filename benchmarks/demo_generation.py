"""Demo generation throughput: ``fitdata demo`` into a new file, timed.

``python -m benchmarks.demo_generation --sizes 20000 1000000`` generates each database afresh
into a temporary folder (the cached ones in ``benchmarks/cache/`` are not touched; they were
made with the same seed and end date) and reports wall-clock and CPU seconds, sessions per
second, the file's size and the process's peak memory. There is no naive counterpart: a user
without fitdata has no generator. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from benchmarks.run import END
from fitdata.demo import generate_demo


def bench(sessions: int) -> tuple[int, float, float, float]:
    """Generate about ``sessions`` sessions; (sessions, wall s, CPU s, file MB)."""
    with tempfile.TemporaryDirectory(prefix="fitdata-demo-bench-") as folder:
        path = Path(folder) / "demo.duckdb"
        wall, cpu = time.perf_counter(), time.process_time()
        summary = generate_demo(path, sessions=sessions, seed=1, end_date=END)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return summary.sessions, wall, cpu, path.stat().st_size / 1e6


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    args = parser.parse_args()
    print("| sessions asked | sessions written | wall s | CPU s | sessions/s (wall) | file MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        written, wall, cpu, megabytes = bench(size)
        print(
            f"| {size:,} | {written:,} | {wall:.1f} | {cpu:.1f} | {written / wall:,.0f} | "
            f"{megabytes:,.0f} |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nPeak memory of this process: {peak:,.0f} MB; load average after the run "
        f"{os.getloadavg()[0]:.1f}. CPU seconds include DuckDB's own threads."
    )


if __name__ == "__main__":
    main()
