"""Benchmarks: what access control costs, side by side with the unrestricted reader.

Run with ``python -m benchmarks.access --sizes 1000000``. The demo database of each size
(``benchmarks.run.database``) is copied to a temporary folder and given four users there, so
the cached files other benchmarks use keep access control off. For each query it reports median
and p95 milliseconds through the unrestricted reader and through a therapist's, a supervisor's
and a leader's scoped reader (a leader's client-level queries are refused, so they are not
timed), and the cost of one audit-log line.

Nothing is asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.run import database, timed
from fitdata.data import access, queries
from fitdata.data.store import Reader, reader_for
from fitdata.features import team_review
from tests.oracles.indices_sql import service_indices_sql

Row = tuple[str, str, str, float, float]


def _pick(reader: Reader) -> tuple[str, str, str, str]:
    """The median-sized team, its busiest therapist and one of that therapist's client-episodes."""
    sizes = reader.rows("SELECT team_id FROM episodes GROUP BY team_id ORDER BY count(*), team_id")
    team = sizes[len(sizes) // 2][0]
    therapist = reader.rows(
        "SELECT therapist_id FROM episodes WHERE team_id = ? GROUP BY 1 ORDER BY count(*) DESC, 1",
        [team],
    )[0][0]
    episode, client = reader.rows(
        "SELECT episode_id, client_id FROM episodes WHERE therapist_id = ? AND team_id = ? "
        "ORDER BY episode_id LIMIT 1",
        [therapist, team],
    )[0]
    return team, therapist, episode, client


def bench(sessions: int, repeats: int) -> list[Row]:
    source = database(sessions)
    with tempfile.TemporaryDirectory(prefix="fitdata-access-") as folder:
        path = Path(folder) / source.name
        shutil.copyfile(source, path)
        team, therapist, episode, client = _pick(reader_for(path))
        access.add_user(path, "therapist", "therapist", therapist_id=therapist)
        access.add_user(path, "supervisor", "supervisor", team_ids=[team])
        access.add_user(path, "leader", "leader")
        as_of = team_review.latest_session_date(reader_for(path)) or dt.date.today()
        readers = {
            "unrestricted": reader_for(path),
            "therapist": access.reader_for_user(path, "therapist"),
            "supervisor": access.reader_for_user(path, "supervisor"),
            "leader": access.reader_for_user(path, "leader"),
        }
        client_level: dict[str, Callable[[Reader], object]] = {
            "team options (page open)": queries.team_options,
            "client options (therapist change)": lambda r: queries.client_episode_options(
                r, team, therapist
            ),
            "client series (client change)": lambda r: queries.client_sessions(r, episode, client),
            "team caseload without model (team change)": lambda r: team_review.team_caseload(
                r, team_id=team, as_of=as_of
            ),
        }
        aggregate: dict[str, Callable[[Reader], object]] = {
            "indices, whole service by team": lambda r: service_indices_sql(
                r, by=["team_id"], closed_only=True
            ),
        }
        rows: list[Row] = []
        for name, fn in {**client_level, **aggregate}.items():
            for who, reader in readers.items():
                if who == "leader" and name in client_level and name != "team options (page open)":
                    continue  # refused for a leader
                fn(reader)  # warm
                median, p95 = timed(lambda fn=fn, reader=reader: fn(reader), repeats)
                rows.append((f"{sessions:,}", name, who, median, p95))
        therapist_reader = readers["therapist"]
        median, p95 = timed(
            lambda: access.record_access(therapist_reader, "bench", client, episode), repeats * 10
        )
        rows.append((f"{sessions:,}", "one audit-log line", "therapist", median, p95))
        readers["unrestricted"].close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print("| sessions | query | reader | median ms | p95 ms |")
    print("|---:|---|---|---:|---:|")
    for size in args.sizes:
        for sessions, name, who, median, p95 in bench(size, args.repeats):
            print(f"| {sessions} | {name} | {who} | {median:,.2f} | {p95:,.2f} |", flush=True)


if __name__ == "__main__":
    main()
