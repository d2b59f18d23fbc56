"""Benchmarks: the queries behind the client graph's widgets, side by side with the naive way.

Run with ``make bench`` (or ``python -m benchmarks.run --sizes 20000 1000000``). Databases are
generated with ``fitdata demo`` into ``benchmarks/cache/`` and reused. For each size it reports
median and p95 milliseconds over repeats of every query a dropdown change runs, and the same
answer computed the way a user would otherwise write it: load the sessions table into pandas
once per kernel and filter there (timed as load + filter, and filter alone). Results are printed
as a Markdown table; nothing is asserted — these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fitdata.data import queries
from fitdata.data.store import migrate_database, reader_for
from fitdata.demo import generate_demo

if TYPE_CHECKING:
    from fitdata.data.store import Reader

CACHE = Path(__file__).resolve().parent / "cache"
END = dt.date(2026, 10, 31)


def load_tables(reader: Reader, names: Sequence[str]) -> tuple[dict[str, pd.DataFrame], float]:
    """Whole tables into pandas, as a naive notebook does first; with the ms it took.

    The naive side of the dashboard benchmarks starts from these (each module names the
    tables its page needs).
    """
    start = time.perf_counter()
    # pandas' default string storage, as a notebook gets it: the dashboards' package sets
    # Python storage for its own small frames (fitdata.ui.STRING_STORAGE), and is imported here.
    with pd.option_context("mode.string_storage", "pyarrow"):
        tables = {name: reader.df(f"SELECT * FROM {name}") for name in names}
    return tables, (time.perf_counter() - start) * 1000


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95


def database(sessions: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"demo-{sessions}.duckdb"
    if not path.exists():
        start = time.perf_counter()
        summary = generate_demo(path, sessions=sessions, seed=1, end_date=END)
        took = time.perf_counter() - start
        print(
            f"generated {path.name}: {summary.sessions:,} sessions in {took:.1f} s "
            f"({summary.sessions / took:,.0f} sessions/s)"
        )
    else:
        old, new = migrate_database(path)  # a cached file from an older fitdata
        if old != new:
            print(f"migrated {path.name} from schema version {old} to {new}")
    return path


def bench(sessions: int, repeats: int) -> list[tuple[str, float, float, float | None]]:
    path = database(sessions)
    reader = reader_for(path)
    teams = queries.team_options(reader)
    team = teams.iloc[len(teams) // 2].team_id
    therapist = queries.therapist_options(reader, team).iloc[0].therapist_id
    episode = queries.client_episode_options(reader, team, therapist).iloc[0]

    start = time.perf_counter()
    table = reader.df("SELECT * FROM sessions")  # the naive approach's one-off load
    load_ms = (time.perf_counter() - start) * 1000

    rows = []
    cases = [
        (
            "team options (page open)",
            lambda: queries.team_options(reader),
            lambda: table[table.rater == "client"].groupby("team_id").client_id.nunique(),
        ),
        (
            "therapist options (team change)",
            lambda: queries.therapist_options(reader, team),
            lambda: (
                table[(table.team_id == team) & (table.rater == "client")]
                .groupby("therapist_id")
                .client_id.nunique()
            ),
        ),
        (
            "client options (therapist change)",
            lambda: queries.client_episode_options(reader, team, therapist),
            lambda: (
                table[
                    (table.team_id == team)
                    & (table.therapist_id == therapist)
                    & (table.rater == "client")
                ]
                .groupby(["episode_id", "client_id"])
                .size()
            ),
        ),
        (
            "client series (client change)",
            lambda: queries.client_sessions(reader, episode.episode_id, episode.client_id),
            lambda: table[
                (table.client_id == episode.client_id) & (table.episode_id == episode.episode_id)
            ].sort_values("session_no"),
        ),
    ]
    for name, ours, naive in cases:
        median, p95 = timed(ours, repeats)
        naive_median, _ = timed(naive, max(3, repeats // 4))
        rows.append((name, median, p95, naive_median))
    rows.append(("naive: load sessions into pandas (once per kernel)", load_ms, load_ms, None))
    reader.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    print(
        "| sessions | query | fitdata median ms | fitdata p95 ms | naive filter ms "
        "| naive / fitdata |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for name, median, p95, naive in bench(size, args.repeats):
            ratio = f"{naive / median:.1f}x" if naive else "-"
            naive_text = f"{naive:.1f}" if naive is not None else "-"
            print(f"| {size:,} | {name} | {median:.1f} | {p95:.1f} | {naive_text} | {ratio} |")
    print("\nThe naive filter times exclude the one-off load; add it for a fresh kernel.")


if __name__ == "__main__":
    main()
