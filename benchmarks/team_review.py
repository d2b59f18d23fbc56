"""Benchmarks: the team case review, the query behind each widget and the whole callback.

Run with ``python -m benchmarks.team_review --sizes 1000000 10000000``. Databases come from
``benchmarks.run.database`` (``fitdata demo``, cached in ``benchmarks/cache/``); ``--db PATH``
measures another file instead. For the median-sized and the largest team it reports median and
p95 milliseconds of

* the queries: the caseload composition (one SQL aggregate plus the SQL flags with the expected
  trajectory), its two parts alone, the in-memory filter / flag button / sort on the composed
  frame, and one client's graph data (sessions, expected trajectory, flags) -- and, when the
  team has one, a couple's or family's case's (every participant's, one read of the episode);
* the dashboard callbacks in plain Python (``TeamReviewView``; widget and figure building
  included, the browser's drawing not): team change (cache cleared), therapist / status / age
  filter, flag button, header sort and row choice;
* what a page open reads once per kernel and database version, which the team changes then
  reuse: the expected trajectories, and the participants of every couple and family episode
  (:mod:`fitdata.features.joint_roster`; "team change (cache cleared)" clears the caseloads,
  not these);
* side by side, the naive approach (issue 8): ``sessions``, ``episodes``, ``clients`` and
  ``therapists`` loaded into pandas once per kernel (its own row), then for every widget change
  one pandas function of the widget values, as a notebook with ``interact`` would call it
  (:func:`naive_caseload`): the team's client-episodes from the loaded sessions with sessions,
  first / last ORS, change, last SRS, and the SQL path's episode flags except ``not_on_track``
  (no expected trajectory) and ``srs_always_40``, filtered and sorted. Its output is checked
  against fitdata's caseload for every team measured (same client-episodes, sessions, changes
  and flag counts); a ``WARNING`` row says where they differ. The naive times exclude the
  one-off load.

Nothing is asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.run import database, load_tables, timed
from fitdata.analytics import flags as flag_rules
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.data import cache
from fitdata.data.store import Reader, reader_for
from fitdata.features import expected_trajectory, joint_roster
from fitdata.features import team_review as cl
from fitdata.ui import DashboardContext, TeamReviewView
from fitdata.vocabulary import SRS_ITEMS


def _teams(reader) -> list[str]:
    sizes = reader.df(
        "SELECT team_id, count(*) AS n FROM episodes GROUP BY team_id ORDER BY n, team_id"
    )
    return [str(sizes["team_id"].iloc[len(sizes) // 2]), str(sizes["team_id"].iloc[-1])]


# --------------------------------------------------------------------------------------------
# The naive approach: every table into pandas once, then one pandas function per widget change
# --------------------------------------------------------------------------------------------

_KEYS = ["episode_id", "client_id"]
#: The flags the naive function computes (the SQL path's, less not_on_track and srs_always_40).
NAIVE_FLAGS = (
    "no_reliable_change",
    "reliable_deterioration",
    "srs_below_cutoff",
    "srs_drop",
    "srs_item_below",
    "missing_ors",
    "missing_srs",
    "not_seen",
)
_NAIVE_GROUPS = {
    "alliance": ["srs_below_cutoff", "srs_drop", "srs_item_below"],
    "no_reliable_change": ["no_reliable_change"],
    "reliable_deterioration": ["reliable_deterioration"],
    "not_seen": ["not_seen"],
    "missing_feedback": ["missing_ors", "missing_srs"],
}


def load_naive(reader: Reader) -> tuple[dict[str, pd.DataFrame], float]:
    """Every table the page needs, whole, into pandas (what a notebook does first); and its ms."""
    return load_tables(reader, ("sessions", "episodes", "clients", "therapists"))


def naive_caseload(
    tables: dict[str, pd.DataFrame],
    team: str,
    as_of: dt.date,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    therapist: str | None = None,
    status: str = "all",
    flag_group: str | None = None,
    sort_by: str = "flag_count",
) -> pd.DataFrame:
    """The team's client-episodes as the table shows them, in pandas from the loaded tables.

    What an analyst would write: filter the sessions to the team's client ratings up to
    ``as_of``, sort, group per client-episode, judge each flag at the last session that could
    raise it (as it holds now) with ``groupby``/``cumsum``/``last``,
    join episodes, clients and therapists, then filter and sort. Thresholds come from
    ``config`` (the ``DEFAULT_CONFIG`` tie rules: at the reliable change reliable, at the
    cutoffs not flagged).
    """
    tol = TIE_TOLERANCE
    stamp = pd.Timestamp(as_of)
    sessions = tables["sessions"]
    s = sessions[
        (sessions["team_id"] == team)
        & (sessions["rater"] == "client")
        & (sessions["session_date"] <= stamp)
    ]
    episodes = tables["episodes"]
    episodes = episodes[episodes["team_id"] == team]
    if therapist is not None:
        episodes = episodes[episodes["therapist_id"] == therapist]
        s = s[s["episode_id"].isin(episodes["episode_id"])]
    s = s.sort_values([*_KEYS, "session_no"])

    # Each flag as it holds NOW: its rule judged at the last session that could raise it (the
    # last ORS, the last SRS, the last SRS with items), as fitdata.analytics.flags.NOW_AT says.
    with_srs = s[s["srs_total"].notna()]
    by_srs = with_srs.groupby(_KEYS)["srs_total"]
    earlier_sum = by_srs.cumsum() - with_srs["srs_total"]
    earlier_n = by_srs.cumcount()
    usual = (earlier_sum / earlier_n).round(9).where(earlier_n >= config.srs_drop_min_earlier)
    last_srs = (
        with_srs.assign(
            srs_below_cutoff=with_srs["srs_total"] < config.srs_cutoff - tol,
            srs_drop=(usual - with_srs["srs_total"]).round(9) >= config.srs_drop - tol,
        )
        .groupby(_KEYS)[["srs_below_cutoff", "srs_drop"]]
        .last()
    )
    with_ors = s[s["ors_total"].notna()]
    by_client = with_ors.groupby(_KEYS)
    change = (with_ors["ors_total"] - by_client["ors_total"].transform("first")).round(9)
    judged = by_client.cumcount() > 0  # the first ORS came from an earlier session
    rc = config.ors_reliable_change
    last_ors = (
        with_ors.assign(
            no_reliable_change=judged
            & (with_ors["session_no"] >= config.stagnation_sessions)
            & (change < rc - tol),
            reliable_deterioration=judged & (change <= -(rc - tol)),
        )
        .groupby(_KEYS)[["no_reliable_change", "reliable_deterioration"]]
        .last()
    )
    items = s[list(SRS_ITEMS)].min(axis=1)
    with_items = s[items.notna()]
    last_items = (
        (items[items.notna()] < config.srs_item_concern - tol)
        .groupby([with_items["episode_id"], with_items["client_id"]])
        .last()
        .rename("srs_item_below")
    )
    flags = last_ors.join(last_srs, how="outer").join(last_items, how="outer")
    rows = s.groupby(_KEYS).agg(
        sessions=("session_no", "size"),
        ors_count=("ors_total", "count"),
        srs_count=("srs_total", "count"),
        first_ors=("ors_total", "first"),  # first / last skip missing values
        last_ors=("ors_total", "last"),
        last_srs=("srs_total", "last"),
        last_session=("session_date", "max"),
    )
    rows = rows.join(flags)
    rows[list(flags.columns)] = rows[list(flags.columns)].fillna(False).astype(bool)
    rows = rows.reset_index()
    rows = rows.merge(
        episodes[["episode_id", "therapist_id", "format", "started", "ended", "end_type"]],
        on="episode_id",
    )
    rows = rows.merge(tables["clients"][["client_id", "age_group"]], on="client_id", how="left")
    names = tables["therapists"][["therapist_id", "name"]].rename(columns={"name": "therapist"})
    rows = rows.merge(names, on="therapist_id", how="left")
    rows["ended"] = rows["ended"].where(rows["ended"] <= stamp)
    rows["ongoing"] = rows["ended"].isna()
    rows["change"] = (rows["last_ors"] - rows["first_ors"]).round(1).where(rows["ors_count"] >= 2)
    rows["days_since_last"] = (stamp - rows["last_session"]).dt.days
    last = s.groupby(_KEYS)[["ors_total", "srs_total"]].agg(lambda v: v.iloc[-1])
    rows = rows.merge(
        last.isna()
        .reset_index()
        .rename(columns={"ors_total": "missing_ors", "srs_total": "missing_srs"}),
        on=_KEYS,
    )
    rows["not_seen"] = rows["ongoing"] & (rows["days_since_last"] > 7 * config.not_seen_weeks)
    rows["flag_count"] = rows[list(NAIVE_FLAGS)].sum(axis=1)
    if status == "ongoing":
        rows = rows[rows["ongoing"]]
    elif status == "ended":
        rows = rows[~rows["ongoing"]]
    if flag_group is not None:
        rows = rows[rows[_NAIVE_GROUPS[flag_group]].any(axis=1)]
    return rows.sort_values([sort_by, "client_id"], ascending=[False, True])


def naive_group_counts(rows: pd.DataFrame) -> dict[str, int]:
    """How many rows are in each flag group (the counts on the flag buttons)."""
    return {group: int(rows[codes].any(axis=1).sum()) for group, codes in _NAIVE_GROUPS.items()}


def naive_differences(naive: pd.DataFrame, ours: pd.DataFrame) -> list[str]:
    """Where the naive caseload disagrees with fitdata's (empty when they agree)."""
    problems = []
    if len(naive) != len(ours):
        problems.append(f"{len(naive):,} client-episodes, fitdata {len(ours):,}")
    mine = naive.set_index(_KEYS).sort_index()
    theirs = ours.set_index(_KEYS).sort_index()
    if not mine.index.equals(theirs.index):
        return [*problems, "different client-episodes"]
    for column in ("sessions", "ors_count"):
        if not np.array_equal(mine[column].to_numpy(), theirs[column].to_numpy()):
            problems.append(f"{column} differ")
    for column in ("first_ors", "last_ors", "change", "last_srs"):
        a = mine[column].to_numpy(dtype="float64")
        b = theirs[column].to_numpy(dtype="float64")
        if not np.allclose(a, b, equal_nan=True, atol=1e-9):
            problems.append(f"{column} differ")
    for code in NAIVE_FLAGS:
        if int(mine[code].sum()) != int(theirs[code].sum()):
            problems.append(f"{code}: {int(mine[code].sum()):,} vs {int(theirs[code].sum()):,}")
    return problems


#: One measured row: team, what, median ms, p95 ms, the naive ms for the same answer (or None).
Row = tuple[str, str, float, float, float | None]


def bench(path: Path, repeats: int, naive: bool = True) -> list[Row]:
    """Every measurement on the database at ``path`` (with the naive side by side)."""
    reader = reader_for(path)
    as_of = cl.latest_session_date(reader)
    assert as_of is not None, f"{path} has no sessions"
    expected_trajectory.clear_memory()
    for stored in cache.cache_dir(path).glob("trajectory-*.json"):
        stored.unlink()
    start = time.perf_counter()
    model = cl.trajectory_model(reader)
    fit_ms = (time.perf_counter() - start) * 1000

    def new_kernel() -> None:
        expected_trajectory.clear_memory()  # the model is read from the file beside the database
        cl.trajectory_model(reader)

    load_median, load_p95 = timed(new_kernel, 10)
    model = cl.trajectory_model(reader)

    def read_roster() -> None:
        joint_roster.clear_memory()  # a new kernel, or the file replaced by a write
        joint_roster.joint_roster(reader, [], as_of=as_of)

    roster_median, roster_p95 = timed(read_roster, 10)
    rows: list[Row] = [
        ("-", "page open: fit the expected trajectories (first kernel after an import)", fit_ms,
         fit_ms, None),
        ("-", "page open: read the stored trajectories (every later kernel)", load_median,
         load_p95, None),
        ("-", "page open: read the couples' and families' participants (first caseload of a "
         "kernel; team changes reuse it)", roster_median, roster_p95, None),
    ]  # fmt: skip
    tables: dict[str, pd.DataFrame] | None = None
    if naive:
        tables, naive_load_ms = load_naive(reader)
        rows.append(
            (
                "-",
                "naive: load sessions, episodes, clients, therapists into pandas (once per kernel)",
                naive_load_ms,
                naive_load_ms,
                None,
            )
        )
    for team in _teams(reader):
        rows.extend(_bench_team(path, reader, team, as_of, model, repeats, tables))
    return rows


def _bench_team(
    path: Path,
    reader: Reader,
    team: str,
    as_of: dt.date,
    model: TrajectoryModel,
    repeats: int,
    tables: dict[str, pd.DataFrame] | None,
) -> list[Row]:
    """The queries and callbacks for one team (a function, so closures bind its values)."""
    rows: list[Row] = []
    slow = max(3, repeats // 4)
    caseload = cl.team_caseload(reader, team_id=team, as_of=as_of, model=model)
    episodes = caseload.episodes
    label = f"{team} ({len(episodes):,} client-episodes)"
    therapist = str(episodes["therapist_id"].iloc[0])
    flagged = cl.filter_caseload(episodes, as_of=as_of, flag_group="no_reliable_change")
    chosen = flagged if len(flagged) else episodes
    key = str(chosen.sort_values("sessions")["key"].iloc[-1])
    episode_id, client_id = key.split("|")
    stamp = pd.Timestamp(as_of)

    def naive_row_choice() -> pd.DataFrame:
        assert tables is not None
        sessions = tables["sessions"]
        return sessions[
            (sessions["episode_id"] == episode_id)
            & (sessions["client_id"] == client_id)
            & (sessions["session_date"] <= stamp)
        ].sort_values("session_no")

    # (name, fitdata, repeats, the naive function giving the same answer or None)
    queries: list[tuple[str, Callable[[], object], int, Callable[[], object] | None]] = [
        (
            "team change: caseload (aggregate + flags with trajectory)",
            lambda t=team: cl.team_caseload(reader, team_id=t, as_of=as_of, model=model),
            slow,
            lambda t=team: naive_caseload(tables, t, as_of),
        ),
        (
            "  part: caseload aggregate (SQL)",
            lambda t=team: reader.df(
                cl._CASELOAD_SQL, {"team": t, "as_of": as_of, "therapist": None}
            ),
            slow,
            None,
        ),
        (
            "  part: episode flags with not_on_track (SQL)",
            lambda t=team: flag_rules.episode_flag_counts(
                reader, team_id=t, as_of=as_of, model=model, lang=None
            ),
            slow,
            None,
        ),
        (
            "filter change: therapist + ongoing + counts (in memory)",
            lambda: cl.flag_group_counts(
                cl.filter_caseload(episodes, as_of=as_of, therapist_id=therapist, status="ongoing")
            ),
            repeats,
            lambda t=team: naive_group_counts(
                naive_caseload(tables, t, as_of, therapist=therapist, status="ongoing")
            ),
        ),
        (
            "flag button + sort (in memory)",
            lambda: cl.sort_caseload(
                cl.filter_caseload(episodes, as_of=as_of, flag_group="alliance"),
                "last_srs",
            ),
            repeats,
            lambda t=team: naive_caseload(
                tables, t, as_of, flag_group="alliance", sort_by="last_srs"
            ),
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
            naive_row_choice,
        ),
    ]
    joint = caseload.cases[caseload.cases["joint"]]
    if len(joint):  # a couple's or family's case: every participant's graph data, one read
        together = str(joint.sort_values("sessions")["key"].iloc[-1])
        queries.append(
            (
                "row choice: a couple's or family's graph data (every participant)",
                lambda: cl.case_detail(reader, caseload, together, model=model),
                repeats,
                None,
            )
        )
    for name, fn, n, naive in queries:
        median, p95 = timed(fn, n)
        naive_ms = None
        if tables is not None and naive is not None:
            naive_ms, _ = timed(naive, max(3, n // 4))
        rows.append((label, f"query: {name}", median, p95, naive_ms))
    if tables is not None:
        problems = naive_differences(naive_caseload(tables, team, as_of), episodes)
        verdict = (
            "naive output checked: the same client-episodes, sessions, ORS, change, last SRS "
            f"and counts of its {len(NAIVE_FLAGS)} flags as fitdata"
            if not problems
            else "WARNING: the naive output differs from fitdata's: " + "; ".join(problems)
        )
        rows.append((label, verdict, float("nan"), float("nan"), None))

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
        rows.append((label, f"callback: {name}", median, p95, None))
    return rows


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--db", type=Path, nargs="+", help="measure these files instead")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the naive pandas side of the comparison"
    )
    args = parser.parse_args()
    paths = args.db or [database(size) for size in args.sizes]
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, repeats {args.repeats}, load average {load}")
    print(
        "| database | team | what | median ms | p95 ms | naive ms (same answer) | naive / fitdata |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for path in paths:
        for team, name, median, p95, naive in bench(path, args.repeats, not args.no_naive):
            naive_text = "-" if naive is None else f"{naive:,.1f}"
            ratio = "-" if naive is None else f"{naive / median:.1f}x"
            print(
                f"| {path.name} | {team} | {name} | {_number(median)} | {_number(p95)} "
                f"| {naive_text} | {ratio} |",
                flush=True,
            )
    if not args.no_naive:
        print(
            "\nNaive: the tables loaded into pandas once per kernel (its row; add it for a "
            "fresh kernel), then every widget change one pandas function of the widget values "
            "over the loaded sessions (team, therapist, status, flag group, sort): the team's "
            "client-episodes with sessions, first / last ORS, change, last SRS and the flags "
            f"{', '.join(NAIVE_FLAGS)} (no not_on_track: no expected trajectory; no "
            "srs_always_40), so it does a little less than fitdata; row choice filters one "
            "client-episode's sessions. fitdata's filter, flag and sort changes work on the "
            "team's caseload kept in memory; the naive function starts from the sessions again."
        )


if __name__ == "__main__":
    main()
