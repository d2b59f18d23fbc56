"""Benchmark: flags and service indices for one team and for the whole service.

``python -m benchmarks.analytics --sizes 1000000 10000000`` (databases cached in
``benchmarks/cache/`` by ``benchmarks.run``; an existing file can be passed with ``--db``).
Reports median and p95 milliseconds; side by side, the naive approach loads the session table
into pandas and runs the pandas flag path on it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from benchmarks.run import END, database, timed
from fitdata.flags import episode_flag_counts, episode_flags
from fitdata.indices import episode_outcomes, service_indices, service_indices_sql
from fitdata.store import reader_for
from fitdata.trajectory import fit_trajectories


def bench(path: Path, repeats: int) -> list[tuple[str, float, float]]:
    reader = reader_for(path)
    team = reader.rows("SELECT team_id FROM teams ORDER BY team_id LIMIT 1")[0][0]
    as_of = END
    start = time.perf_counter()
    model = fit_trajectories(reader)
    fit_ms = (time.perf_counter() - start) * 1000
    cases = {
        "flags, one team (SQL, with model, rule text)": lambda: episode_flag_counts(
            reader, team_id=team, as_of=as_of, model=model
        ),
        "flags, whole service (SQL, with model, no rule text)": lambda: episode_flag_counts(
            reader, as_of=as_of, model=model, lang=None
        ),
        "flags, whole service (SQL, with model, rule text)": lambda: episode_flag_counts(
            reader, as_of=as_of, model=model
        ),
        "indices, one team by quarter (SQL)": lambda: service_indices_sql(
            reader, team_id=team, period="quarter"
        ),
        "indices, whole service by team (SQL)": lambda: service_indices_sql(reader, by=["team_id"]),
        "indices, whole service by quarter (SQL)": lambda: service_indices_sql(
            reader, period="quarter"
        ),
        "indices, one team by quarter (pandas)": lambda: service_indices(
            episode_outcomes(reader, team_id=team), period="quarter"
        ),
        "indices, whole service by team (pandas)": lambda: service_indices(
            episode_outcomes(reader), by=["team_id"]
        ),
    }
    rows = [("fit expected trajectories (once per kernel)", fit_ms, float("nan"))]
    rows += [(name, *timed(fn, repeats)) for name, fn in cases.items()]
    start = time.perf_counter()
    sessions = reader.df(
        "SELECT episode_id, client_id, session_no, session_date, rater,"
        " ors_total::DOUBLE ors_total, srs_total::DOUBLE srs_total,"
        " srs_relationship::DOUBLE srs_relationship, srs_goals::DOUBLE srs_goals,"
        " srs_approach::DOUBLE srs_approach, srs_overall::DOUBLE srs_overall FROM sessions"
    )
    episodes = reader.df("SELECT * FROM episodes")
    episode_flags(sessions, episodes, as_of=as_of)
    rows.append(
        (
            "naive: load all sessions + pandas flags",
            (time.perf_counter() - start) * 1000,
            float("nan"),
        )
    )
    reader.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--db", type=Path, nargs="*", default=[])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    paths = [database(size) for size in args.sizes] + list(args.db)
    print("| database | sessions | measurement | median ms | p95 ms |")
    print("|---|---:|---|---:|---:|")
    for path in paths:
        count = reader_for(path).rows("SELECT count(*) FROM sessions")[0][0]
        for name, median, p95 in bench(path, args.repeats):
            print(f"| {path.name} | {count:,} | {name} | {median:,.0f} | {p95:,.0f} |")
    print(f"\nas_of = {END.isoformat()}; {dt.date.today().isoformat()}")


if __name__ == "__main__":
    main()
