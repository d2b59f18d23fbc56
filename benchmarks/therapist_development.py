"""Benchmark: the queries behind each widget change of the therapist development dashboard.

Run with ``python -m benchmarks.therapist_development --sizes 1000000 10000000``. Databases come
from :func:`benchmarks.run.database` (cached in ``benchmarks/cache/``). Reported, never asserted:

* the team and service comparison: computed (no stored copy: the first kernel after an import),
  and read from the file that :mod:`fitdata.data.cache` keeps beside the database (every
  later kernel of the same database version);
* a therapist change: that therapist's scope — one SQL query plus the small pandas
  aggregation of outcomes by period, SRS profile, SRS-at-first-session and intake mix — with
  the comparison already cached (the aim: < 300 ms at 1M, < 1 s at 10M sessions);
* its parts: the therapist's SQL alone, and a change of the period grouping;
* for reference, :func:`fitdata.analytics.indices.episode_outcomes` filtered to the same therapist
  (it
  does not push the filter into the session scan);
* side by side, the naive approach (issue 8): ``sessions``, ``episodes``, ``therapists`` and
  ``teams`` loaded into pandas once per kernel (its own row), then for every widget change one
  pandas function over the loaded sessions (:func:`naive_therapist_change`): the therapist's,
  their team's and their service's closed client-episodes with first / last ORS, and per
  rolling year (or quarter) of the ending the number of client-episodes, clients, mean intake
  ORS, mean change, pre-post effect size and % reliably improved, plus the therapist's % of
  SRS sessions below the cutoff. No intervals, no severity adjustment, no suppression, none of
  the other two profiles: it does less than the page. Its figures are checked against the
  page's unsuppressed rows for one therapist; a ``WARNING`` row says where they differ.

Median and p95 milliseconds are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.run import database, load_tables, timed
from fitdata.analytics.indices import episode_outcomes
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE
from fitdata.data import cache
from fitdata.data.store import Reader, reader_for
from fitdata.features.therapist_development import (
    TherapistScope,
    clear_comparison_cache,
    service_comparison,
)
from fitdata.features.therapist_development.comparison import CACHE_SIZE

# --------------------------------------------------------------------------------------------
# The naive approach: every table into pandas once, then one pandas function per widget change
# --------------------------------------------------------------------------------------------

_KEYS = ["episode_id", "client_id"]


def load_naive(reader: Reader) -> tuple[dict[str, pd.DataFrame], float]:
    """Every table the page needs, whole, into pandas (what a notebook does first); and its ms."""
    return load_tables(reader, ("sessions", "episodes", "therapists", "teams"))


def _per_episode(sessions: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per closed client-episode: ending, first / last ORS, SRS counts."""
    s = sessions.sort_values([*_KEYS, "session_no"])
    srs_below = s["srs_total"] < DEFAULT_CONFIG.srs_cutoff - TIE_TOLERANCE
    per = (
        s.assign(_srs_below=srs_below)
        .groupby(_KEYS)
        .agg(
            n_sessions=("session_no", "size"),
            n_with_ors=("ors_total", "count"),
            n_with_srs=("srs_total", "count"),
            n_srs_below=("_srs_below", "sum"),
            first_ors=("ors_total", "first"),  # first / last skip missing values
            last_ors=("ors_total", "last"),
        )
        .reset_index()
    )
    rows = episodes[["episode_id", "client_id", "team_id", "ended"]].merge(
        per, on="episode_id", how="left", suffixes=("_episode", "")
    )
    rows["client_id"] = rows["client_id"].fillna(rows.pop("client_id_episode"))
    for column in ("n_sessions", "n_with_ors", "n_with_srs", "n_srs_below"):
        rows[column] = rows[column].fillna(0)
    return rows


def _by_period(rows: pd.DataFrame, grouping: str, span: tuple[int, int]) -> pd.DataFrame:
    """Outcomes per ending quarter or rolling year: n, mean change, effect size, % improved."""
    config = DEFAULT_CONFIG
    quarter = (rows["ended"].dt.year * 4 + rows["ended"].dt.quarter - 1).to_numpy()
    if grouping == "rolling_year":  # the window of quarter w holds the endings of w-3 .. w
        rows = rows.loc[rows.index.repeat(4)].copy()
        rows["window"] = np.repeat(quarter, 4) + np.tile(np.arange(4), len(quarter))
        rows = rows[(rows["window"] >= span[0] + 3) & (rows["window"] <= span[1])]
    else:
        rows = rows.assign(window=quarter)
    change_set = rows["n_with_ors"] >= 2
    change = (rows["last_ors"] - rows["first_ors"]).where(change_set)
    work = rows.assign(
        change=change,
        pre=rows["first_ors"].where(change_set),
        improved=(change >= config.ors_reliable_change - TIE_TOLERANCE).where(change_set),
    )
    table = work.groupby("window").agg(
        clients=("client_id", "nunique"),
        closed_episodes=("episode_id", "size"),
        episodes_with_change=("change", "count"),
        intake_ors_mean=("first_ors", "mean"),
        change_mean=("change", "mean"),
        pre_sd=("pre", "std"),
        pct_reliable_improvement=("improved", "mean"),
    )
    table["effect_size"] = table["change_mean"] / table["pre_sd"]
    table["pct_reliable_improvement"] *= 100
    table.index = [f"{w // 4}Q{w % 4 + 1}" for w in table.index]
    return table.rename_axis("period").reset_index()


def _service_span(tables: dict[str, pd.DataFrame], service: str) -> tuple[int, int]:
    teams = tables["teams"]
    episodes = tables["episodes"]
    ended = episodes.loc[
        episodes["team_id"].isin(teams.loc[teams["service"] == service, "team_id"]), "ended"
    ].dropna()
    quarter = ended.dt.year * 4 + ended.dt.quarter - 1
    return int(quarter.min()), int(quarter.max())


def naive_therapist(
    tables: dict[str, pd.DataFrame], therapist: str, grouping: str = "rolling_year"
) -> dict[str, pd.DataFrame]:
    """The therapist's outcomes by period and % of SRS below the cutoff, from loaded tables."""
    sessions, episodes = tables["sessions"], tables["episodes"]
    team = tables["therapists"].set_index("therapist_id").loc[therapist, "team_id"]
    service = tables["teams"].set_index("team_id").loc[team, "service"]
    mine = episodes[(episodes["therapist_id"] == therapist) & episodes["ended"].notna()]
    s = sessions[(sessions["rater"] == "client") & sessions["episode_id"].isin(mine["episode_id"])]
    rows = _per_episode(s, mine)
    srs = rows["n_srs_below"].sum() / max(rows["n_with_srs"].sum(), 1) * 100
    return {
        "outcomes": _by_period(rows, grouping, _service_span(tables, service)),
        "srs": pd.DataFrame({"pct_sessions_below": [srs]}),
    }


def naive_comparison(
    tables: dict[str, pd.DataFrame], therapist: str, grouping: str = "rolling_year"
) -> dict[str, pd.DataFrame]:
    """The therapist's team and service outcomes by period, from the loaded tables."""
    sessions, episodes, teams = tables["sessions"], tables["episodes"], tables["teams"]
    team = tables["therapists"].set_index("therapist_id").loc[therapist, "team_id"]
    service = teams.set_index("team_id").loc[team, "service"]
    service_teams = teams.loc[teams["service"] == service, "team_id"]
    closed = episodes[episodes["team_id"].isin(service_teams) & episodes["ended"].notna()]
    s = sessions[(sessions["rater"] == "client") & sessions["team_id"].isin(service_teams)]
    s = s[s["episode_id"].isin(closed["episode_id"])]
    rows = _per_episode(s, closed)
    span = _service_span(tables, service)
    return {
        "team": _by_period(rows[rows["team_id"] == team], grouping, span),
        "service": _by_period(rows, grouping, span),
    }


def naive_therapist_change(
    tables: dict[str, pd.DataFrame], therapist: str, grouping: str = "rolling_year"
) -> dict[str, pd.DataFrame]:
    """Everything the naive page shows for a therapist: their rows, their team's, the service's."""
    return naive_therapist(tables, therapist, grouping) | naive_comparison(
        tables, therapist, grouping
    )


def naive_differences(naive: dict[str, pd.DataFrame], scope: TherapistScope) -> list[str]:
    """Where the naive figures disagree with the page's unsuppressed rows (empty: agree)."""
    problems = []
    shown = scope.outcomes("rolling_year")
    shown = shown[~shown["suppressed"].astype(bool)]
    compared = 0
    for level in ("therapist", "team", "service"):
        ours = shown[shown["level"] == level].astype({"period": str})
        theirs = naive["outcomes" if level == "therapist" else level]
        both = ours.merge(theirs, on="period", suffixes=("", "_naive"))
        if len(both) < len(ours):
            problems.append(f"{level}: {len(ours) - len(both)} periods missing")
        for column in ("closed_episodes", "episodes_with_change", "clients"):
            if not np.array_equal(
                both[column].to_numpy(dtype="int64"), both[f"{column}_naive"].to_numpy("int64")
            ):
                problems.append(f"{level}: {column} differ")
        # The page hides change statistics over fewer than min_cell_size client-episodes with
        # change (the naive page has no suppression): compare where the page shows them.
        gated = both["episodes_with_change"].to_numpy() < DEFAULT_CONFIG.min_cell_size
        for column in ("effect_size", "pct_reliable_improvement", "intake_ors_mean"):
            if column != "intake_ors_mean" and not both.loc[gated, column].isna().all():
                problems.append(f"{level}: {column} shown over too few episodes with change")
            keep = ~gated if column != "intake_ors_mean" else np.ones(len(both), dtype=bool)
            if not np.allclose(
                both[column].to_numpy(dtype="float64")[keep],
                both[f"{column}_naive"].to_numpy(dtype="float64")[keep],
                equal_nan=True,
                atol=1e-6,
            ):
                problems.append(f"{level}: {column} differ")
        compared += len(both)
    profile = scope.srs_profile()
    own = profile[(profile["level"] == "therapist") & ~profile["suppressed"].astype(bool)]
    if len(own) and not np.isclose(
        float(own["pct_sessions_below"].iloc[0]), float(naive["srs"]["pct_sessions_below"].iloc[0])
    ):
        problems.append("% SRS sessions below the cutoff differs")
    if compared == 0:
        problems.append("no unsuppressed period to compare")
    return problems


#: One measured row: what, median ms, p95 ms, the naive ms for the same answer (or None).
Row = tuple[str, float, float, float | None]


def bench(path: Path, repeats: int, naive: bool = True) -> list[Row]:
    """Time each widget's query on the database at ``path`` (with the naive side by side)."""
    reader = reader_for(path)
    therapists = reader.df(
        "SELECT th.therapist_id, t.service FROM therapists th JOIN teams t USING (team_id) "
        "ORDER BY th.therapist_id"
    )
    service = therapists.iloc[0].service
    same_service = therapists[therapists.service == service].therapist_id.tolist()
    rows: list[Row] = []
    tables: dict[str, pd.DataFrame] = {}
    if naive:
        tables, load_ms = load_naive(reader)
        rows.append(
            (
                "naive: load sessions, episodes, therapists, teams into pandas (once per kernel)",
                load_ms,
                load_ms,
                None,
            )
        )
    naive_picks = iter(same_service * (repeats + 2))
    # Above two million sessions one naive call over the service takes a minute or more: each
    # naive case is measured once there, so the module stays within benchmarks.all's limit.
    sessions = reader.rows("SELECT count(*) FROM sessions")[0][0]
    naive_once = sessions > 2_000_000

    def naive_ms(fn: Callable[[], object], n: int) -> float | None:
        if not naive:
            return None
        return timed(fn, 1 if naive_once else max(3, n // 4))[0]

    def computed_comparison() -> None:
        clear_comparison_cache()
        for stored in cache.cache_dir(path).glob("development-*.json"):
            stored.unlink()
        service_comparison(reader, service)

    median, p95 = timed(computed_comparison, max(2, repeats // 10))
    rows.append(
        (
            "team + service comparison, computed (first kernel after an import)",
            median,
            p95,
            naive_ms(lambda: naive_comparison(tables, next(naive_picks)), 4),
        )
    )

    def stored_comparison() -> None:
        clear_comparison_cache()  # a new kernel: the file beside the database is read
        service_comparison(reader, service)

    median, p95 = timed(stored_comparison, max(3, repeats // 4))
    rows.append(
        ("team + service comparison, read from the stored file (new kernel)", median, p95, None)
    )
    service_comparison(reader, service)  # warm the cache for the therapist changes

    picks = iter(same_service * (repeats // max(len(same_service), 1) + 2))

    def therapist_change() -> None:
        scope = TherapistScope(reader, next(picks))
        scope.outcomes("rolling_year")
        scope.srs_profile()
        scope.srs_first_vs_outcome()
        scope.intake_mix()

    median, p95 = timed(therapist_change, repeats)
    rows.append(
        (
            "therapist change: scope, all four tables (comparison cached)",
            median,
            p95,
            naive_ms(lambda: naive_therapist_change(tables, next(naive_picks)), repeats),
        )
    )

    def therapist_sql() -> None:
        TherapistScope(reader, next(picks))._rows()

    median, p95 = timed(therapist_sql, repeats)
    rows.append(("  of which the therapist's SQL query", median, p95, None))

    scope = TherapistScope(reader, same_service[0])
    scope._rows()
    groupings = iter(["quarter", "rolling_year"] * repeats)
    median, p95 = timed(lambda: scope.outcomes(next(groupings)), repeats)
    naive_groupings = iter(["quarter", "rolling_year"] * repeats)
    rows.append(
        (
            "period grouping change (rows kept in the scope)",
            median,
            p95,
            naive_ms(
                lambda: naive_therapist_change(tables, same_service[0], next(naive_groupings)),
                repeats,
            ),
        )
    )

    median, p95 = timed(
        lambda: episode_outcomes(reader, therapist_id=next(picks), closed_only=True),
        max(3, repeats // 4),
    )
    rows.append(("reference: indices.episode_outcomes(therapist_id=...)", median, p95, None))
    if naive:
        rows.append(_check(reader, tables, same_service))
    reader.close()
    if naive_once:
        rows.append(
            (
                f"({sessions:,} sessions: each naive figure is one call, not a median)",
                math.nan,
                math.nan,
                None,
            )
        )
    return rows


def _check(reader: Reader, tables: dict[str, pd.DataFrame], candidates: list[str]) -> Row:
    """Compare the naive figures with the page's for the therapist with most closed episodes."""
    episodes = tables["episodes"]
    closed = episodes[episodes["therapist_id"].isin(candidates) & episodes["ended"].notna()]
    therapist = str(closed["therapist_id"].value_counts().idxmax())
    problems = naive_differences(
        naive_therapist_change(tables, therapist), TherapistScope(reader, therapist)
    )
    verdict = (
        f"naive output checked for {therapist}: the same client-episodes, clients, mean intake "
        "ORS, effect size and % reliably improved per rolling year as the page's unsuppressed "
        "rows (therapist, team, service), the same % of SRS below the cutoff"
        if not problems
        else f"WARNING: the naive output for {therapist} differs from the page's: "
        + "; ".join(problems)
    )
    return (verdict, math.nan, math.nan, None)


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--db", type=Path, nargs="+", help="measure these files instead")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the naive pandas side of the comparison"
    )
    args = parser.parse_args()
    paths = args.db or [database(size) for size in args.sizes]
    print(f"load average {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("| database | query | median ms | p95 ms | naive ms (same answer) | naive / fitdata |")
    print("|---|---|---:|---:|---:|---:|")
    for path in paths:
        for name, median, p95, naive in bench(path, args.repeats, not args.no_naive):
            shown = ["-" if math.isnan(v) else f"{v:,.0f}" for v in (median, p95)]
            naive_text = "-" if naive is None else f"{naive:,.0f}"
            ratio = "-" if naive is None else f"{naive / median:.1f}x"
            print(
                f"| {path.name} | {name} | {shown[0]} | {shown[1]} | {naive_text} | {ratio} |",
                flush=True,
            )
    print(f"\ncomparison cache holds up to {CACHE_SIZE} services per kernel")
    if not args.no_naive:
        print(
            "\nNaive: the tables loaded into pandas once per kernel (its row; add it for a fresh "
            "kernel), then one pandas function over the loaded sessions per change: a therapist "
            "change or a period grouping change computes the therapist's, their team's and "
            "their service's outcomes by period (client-episodes, clients, mean intake ORS, "
            "effect size, % reliably improved) and the therapist's % of SRS below the cutoff; "
            "beside the computed comparison, the team and service part alone (fitdata computes "
            "every team of the service, and the profiles). fitdata keeps the comparison in the "
            "kernel and in a file beside the database; the naive function computes it again."
        )


if __name__ == "__main__":
    main()
