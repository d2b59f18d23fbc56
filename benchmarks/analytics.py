"""Benchmark: flags and service indices for one team and for the whole service.

``python -m benchmarks.analytics --sizes 1000000 10000000`` (databases cached in
``benchmarks/cache/`` by ``benchmarks.run``; an existing file can be passed with ``--db``).
Reports median and p95 milliseconds; side by side, the naive approach loads the session table
into pandas once (its own row) and runs the pandas flag rules on the rows of one team and of the
whole service, with the ratio to the SQL path. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from pathlib import Path

from benchmarks.run import END, database, timed
from fitdata.analytics.flags import episode_flag_counts, episode_flags
from fitdata.analytics.indices import episode_outcomes, service_indices
from fitdata.analytics.trajectory import fit_trajectories
from fitdata.data.store import reader_for
from tests.oracles.indices_sql import service_indices_sql


def bench(path: Path, repeats: int) -> list[tuple[str, float, float, float | None]]:
    """Each measurement's median and p95 ms, and the naive figure for the same answer."""
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
    measured = {name: timed(fn, repeats) for name, fn in cases.items()}

    # The naive way: every session into pandas once per kernel, then the pandas flag rules on
    # the rows a change selects (rule text in English, no expected trajectory).
    start = time.perf_counter()
    sessions = reader.df(
        "SELECT episode_id, client_id, team_id, session_no, session_date, rater,"
        " ors_total::DOUBLE ors_total, srs_total::DOUBLE srs_total,"
        " srs_relationship::DOUBLE srs_relationship, srs_goals::DOUBLE srs_goals,"
        " srs_approach::DOUBLE srs_approach, srs_overall::DOUBLE srs_overall FROM sessions"
    )
    episodes = reader.df("SELECT * FROM episodes")
    load_ms = (time.perf_counter() - start) * 1000
    naive_team, _ = timed(
        lambda: episode_flags(
            sessions[sessions["team_id"] == team],
            episodes[episodes["team_id"] == team],
            as_of=as_of,
        ),
        max(1, repeats // 2),
    )
    naive_service, _ = timed(lambda: episode_flags(sessions, episodes, as_of=as_of), 1)
    naive_for = {
        "flags, one team (SQL, with model, rule text)": naive_team,
        "flags, whole service (SQL, with model, rule text)": naive_service,
    }
    rows: list[tuple[str, float, float, float | None]] = [
        ("fit expected trajectories (once per kernel)", fit_ms, float("nan"), None)
    ]
    rows += [(name, median, p95, naive_for.get(name)) for name, (median, p95) in measured.items()]
    rows.append(
        (
            "naive: load sessions and episodes into pandas (once per kernel)",
            load_ms,
            float("nan"),
            None,
        )
    )
    rows.append(("naive: pandas flags, one team (load excluded)", naive_team, float("nan"), None))
    rows.append(
        ("naive: pandas flags, whole service (load excluded)", naive_service, float("nan"), None)
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
    print(
        "| database | sessions | measurement | median ms | p95 ms | naive ms (same answer) "
        "| naive / fitdata |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for path in paths:
        count = reader_for(path).rows("SELECT count(*) FROM sessions")[0][0]
        for name, median, p95, naive in bench(path, args.repeats):
            naive_text = "-" if naive is None else f"{naive:,.0f}"
            ratio = "-" if naive is None else f"{naive / median:.1f}x"
            print(
                f"| {path.name} | {count:,} | {name} | {median:,.0f} | "
                f"{'-' if math.isnan(p95) else f'{p95:,.0f}'} | "
                f"{naive_text} | {ratio} |",
                flush=True,
            )
    print(
        f"\nas_of = {END.isoformat()}; {dt.date.today().isoformat()}; repeats {args.repeats} "
        "(the naive whole-service flags once). The naive figures exclude the one-off load into "
        "pandas (its own row; add it for a fresh kernel) and compute no expected trajectory "
        "(no not-on-track flag), so they flatter the naive approach."
    )


if __name__ == "__main__":
    main()
