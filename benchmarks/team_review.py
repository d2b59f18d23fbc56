"""Benchmarks: the team case review, the query behind each widget and the whole callback.

Run with ``python -m benchmarks.team_review --sizes 1000000 10000000``. Databases come from
``benchmarks.run.database`` (``fitdata demo``, cached in ``benchmarks/cache/``); ``--db PATH``
measures another file instead. For the median-sized and the largest team it reports median and
p95 milliseconds of

* the queries: the caseload composition (one SQL aggregate plus the SQL flags with the expected
  trajectory), its two parts alone, the in-memory filter / flag button / sort on the composed
  frame, and one client's graph data (sessions, expected trajectory, flags);
* the dashboard callbacks in plain Python (``TeamReviewView``; widget and figure building
  included, the browser's drawing not): team change (cache cleared), therapist / status / age
  filter, flag button, header sort and row choice.

Nothing is asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.run import database, timed
from fitdata import caseload as cl
from fitdata import flags as flag_rules
from fitdata import model_cache
from fitdata.store import Reader, reader_for
from fitdata.trajectory import TrajectoryModel
from fitdata.ui import DashboardContext, TeamReviewView


def _teams(reader) -> list[str]:
    sizes = reader.df(
        "SELECT team_id, count(*) AS n FROM episodes GROUP BY team_id ORDER BY n, team_id"
    )
    return [str(sizes["team_id"].iloc[len(sizes) // 2]), str(sizes["team_id"].iloc[-1])]


def bench(path: Path, repeats: int) -> list[tuple[str, str, float, float]]:
    reader = reader_for(path)
    as_of = cl.latest_session_date(reader)
    assert as_of is not None, f"{path} has no sessions"
    model_cache.clear_memory()
    for stored in model_cache.cache_dir(path).glob("trajectory-*.json"):
        stored.unlink()
    start = time.perf_counter()
    model = cl.trajectory_model(reader)
    fit_ms = (time.perf_counter() - start) * 1000

    def new_kernel() -> None:
        model_cache.clear_memory()  # the model is read from the file beside the database
        cl.trajectory_model(reader)

    load_median, load_p95 = timed(new_kernel, 10)
    model = cl.trajectory_model(reader)
    rows: list[tuple[str, str, float, float]] = [
        ("-", "page open: fit the expected trajectories (first kernel after an import)", fit_ms,
         fit_ms),
        ("-", "page open: read the stored trajectories (every later kernel)", load_median,
         load_p95),
    ]  # fmt: skip
    for team in _teams(reader):
        rows.extend(_bench_team(path, reader, team, as_of, model, repeats))
    return rows


def _bench_team(
    path: Path, reader: Reader, team: str, as_of: dt.date, model: TrajectoryModel, repeats: int
) -> list[tuple[str, str, float, float]]:
    """The queries and callbacks for one team (a function, so closures bind its values)."""
    rows: list[tuple[str, str, float, float]] = []
    slow = max(3, repeats // 4)
    caseload = cl.team_caseload(reader, team_id=team, as_of=as_of, model=model)
    episodes = caseload.episodes
    label = f"{team} ({len(episodes):,} client-episodes)"
    therapist = str(episodes["therapist_id"].iloc[0])
    flagged = cl.filter_caseload(episodes, as_of=as_of, flag_group="no_reliable_change")
    chosen = flagged if len(flagged) else episodes
    key = str(chosen.sort_values("sessions")["key"].iloc[-1])
    episode_id, client_id = key.split("|")
    queries: list[tuple[str, Callable[[], object], int]] = [
        (
            "team change: caseload (aggregate + flags with trajectory)",
            lambda t=team: cl.team_caseload(reader, team_id=t, as_of=as_of, model=model),
            slow,
        ),
        (
            "  part: caseload aggregate (SQL)",
            lambda t=team: reader.df(
                cl._CASELOAD_SQL, {"team": t, "as_of": as_of, "therapist": None}
            ),
            slow,
        ),
        (
            "  part: episode flags with not_on_track (SQL)",
            lambda t=team: flag_rules.episode_flag_counts(
                reader, team_id=t, as_of=as_of, model=model, lang=None
            ),
            slow,
        ),
        (
            "filter change: therapist + ongoing + counts (in memory)",
            lambda: cl.flag_group_counts(
                cl.filter_caseload(episodes, as_of=as_of, therapist_id=therapist, status="ongoing")
            ),
            repeats,
        ),
        (
            "flag button + sort (in memory)",
            lambda: cl.sort_caseload(
                cl.filter_caseload(episodes, as_of=as_of, flag_group="alliance"),
                "last_srs",
            ),
            repeats,
        ),
        (
            "row choice: one client's graph data",
            lambda: cl.episode_detail(
                reader,
                episode_id,
                client_id,
                as_of=as_of,
                model=model,
                episode_flags=caseload.flags[caseload.flags["key"] == key],
            ),
            repeats,
        ),
    ]
    for name, fn, n in queries:
        median, p95 = timed(fn, n)
        rows.append((label, f"query: {name}", median, p95))

    view = TeamReviewView(DashboardContext(path), model=model)
    view.service.value = view._teams.loc[view._teams["team_id"] == team, "service"].iloc[0]

    other = next(v for _, v in view.team.options if v != team)
    switch = [other, team]

    def change_team(view: TeamReviewView = view) -> None:
        view._cache = cl.CaseloadCache()
        switch.reverse()
        view.team.value = switch[0]

    view.team.value = team
    status = ["all", "ongoing"]
    buttons = ["alliance", "all"]
    sorts = ["last_ors", "sessions"]
    keys = [str(k) for k in view._listed["key"].head(2)]

    def toggle(values: list[str], setter: Callable[[str], None]) -> Callable[[], None]:
        def run() -> None:
            values.reverse()
            setter(values[0])

        return run

    callbacks: list[tuple[str, Callable[[], object], int]] = [
        ("team change (cache cleared)", change_team, slow),
        ("status filter", toggle(status, lambda v: setattr(view.status, "value", v)), repeats),
        (
            "flag button",
            toggle(buttons, lambda v: setattr(view.flag_filter, "value", v)),
            repeats,
        ),
        ("header sort", toggle(sorts, lambda v: setattr(view.table, "sort_by", v)), repeats),
        ("row choice", toggle(keys, lambda v: setattr(view.table, "selected", v)), repeats),
    ]
    for name, fn, n in callbacks:
        median, p95 = timed(fn, n)
        rows.append((label, f"callback: {name}", median, p95))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--db", type=Path, nargs="+", help="measure these files instead")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    paths = args.db or [database(size) for size in args.sizes]
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, repeats {args.repeats}")
    print("| database | team | what | median ms | p95 ms |")
    print("|---|---|---|---:|---:|")
    for path in paths:
        for team, name, median, p95 in bench(path, args.repeats):
            print(f"| {path.name} | {team} | {name} | {median:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
