"""The fast service summary gives the numbers of the pandas path it replaced.

``service_summary`` now adds up facts read once per kernel (see its docstring). The oracle here
is the previous implementation, kept in this file: ``episode_outcomes`` of the population in
the trend window, ``service_indices`` over it (period vs the rest of the window, by team, by
quarter, by team and quarter) with the one severity reference of the page (each service's line
over all its closed client-episodes, ``severity_reference``), the session-date completeness query
run directly, and statsmodels' ``MixedLM`` for the team model (``team_effects``).

Every table must be equal (to 1e-9 relative; the values are sums of one-decimal scores) for
several selections: the default quarter, an age group, a format, a month, a year of one
service, a small range where most cells are suppressed, a period with no data and a team.
The team model is the exact REML optimum: where statsmodels converges inside the parameter
space the two agree closely; where it stops early (or reports a failure) the new estimate has
the higher restricted likelihood, checked with a dense-matrix likelihood.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.indices import (
    episode_outcomes,
    service_indices,
    severity_reference,
    suppress_small_cells,
)
from fitdata.analytics.intervals import wilson_interval
from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features.service import (
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
    team_effects_from_sums,
)
from fitdata.features.service.facts import Rows
from tests.oracles.teams import team_effects
from tests.unit.test_service_model import synthetic

MODEL_COLUMNS = (
    "team_effect",
    "team_effect_se",
    "team_effect_ci_low",
    "team_effect_ci_high",
    "model_clients",
    "model_episodes",
    "team_effect_reason",
    "model_suppressed",
)

# --------------------------------------------------------------------------------------------
# The oracle: the pandas path as it was before the change
# --------------------------------------------------------------------------------------------

_COMPLETENESS_SQL = """
WITH f AS (
    SELECT s.team_id, s.client_id, s.ors_total, s.srs_total,
        CAST(year(s.session_date) AS VARCHAR) || 'Q' || CAST(quarter(s.session_date) AS VARCHAR)
            AS quarter,
        s.session_date BETWEEN ? AND ? AS in_period
    FROM sessions AS s
    JOIN teams AS t ON t.team_id = s.team_id
    {joins}
    WHERE s.rater = 'client' AND s.session_date BETWEEN ? AND ? {where}
)
SELECT team_id, quarter, in_period, grouping(team_id) AS all_teams,
    count(DISTINCT client_id) AS clients, count(*) AS sessions,
    count(ors_total) AS with_ors, count(srs_total) AS with_srs
FROM f
GROUP BY GROUPING SETS ((team_id, quarter), (quarter), (team_id, in_period), (in_period))
"""
_COMPLETENESS_COLUMNS = ["clients", "sessions", "pct_sessions_with_ors", "pct_sessions_with_srs"]


def _oracle_completeness(reader, filters, start, window_end) -> dict[str, pd.DataFrame]:
    joins, where, params = [], [], []
    if filters.service is not None:
        where.append("t.service = ?")
        params.append(filters.service)
    if filters.age_group is not None:
        joins.append("JOIN clients AS c ON c.client_id = s.client_id")
        where.append("c.age_group = ?")
        params.append(filters.age_group)
    if filters.format is not None:
        joins.append("JOIN episodes AS e ON e.episode_id = s.episode_id")
        where.append("e.format = ?")
        params.append(filters.format)
    sql = _COMPLETENESS_SQL.format(joins=" ".join(joins), where="".join(f" AND {w}" for w in where))
    raw = reader.df(sql, [filters.period.start, filters.period.end, start, window_end, *params])
    raw["pct_sessions_with_ors"] = 100.0 * raw["with_ors"] / raw["sessions"]
    raw["pct_sessions_with_srs"] = 100.0 * raw["with_srs"] / raw["sessions"]
    for column in ("clients", "sessions"):
        raw[column] = raw[column].astype("int64")
    by_quarter = raw["quarter"].notna()
    in_period = raw["in_period"].fillna(False).astype(bool)
    return {
        "team_quarter": raw[by_quarter & (raw["all_teams"] == 0)],
        "quarter": raw[by_quarter & (raw["all_teams"] == 1)],
        "team_period": raw[~by_quarter & (raw["all_teams"] == 0) & in_period],
        "period": raw[~by_quarter & (raw["all_teams"] == 1) & in_period],
    }


def oracle(reader, filters: ServiceFilters) -> dict[str, Any]:
    """The tables of the previous implementation (before suppression of completeness)."""
    quarters = filters.period.trend_quarters()
    window_end = pd.Period(quarters[-1], freq="Q").end_time.date()
    start = min(pd.Period(quarters[0], freq="Q").start_time.date(), filters.period.start)
    rows = episode_outcomes(
        reader,
        service=filters.service,
        age_group=filters.age_group,
        format=filters.format,
        start=start,
        end=window_end,
        closed_only=True,
    )
    reference = severity_reference(episode_outcomes(reader, closed_only=True))
    ended = pd.to_datetime(rows["ended"])
    in_period = (
        (ended >= pd.Timestamp(filters.period.start)) & (ended <= pd.Timestamp(filters.period.end))
    ).to_numpy()

    def with_lt2(table: pd.DataFrame) -> pd.DataFrame:
        table["pct_lt2_ors"] = 100.0 * table["episodes_lt2_ors"] / table["client_episodes"]
        return table

    cells = rows.assign(_cell=np.where(in_period, "period", "~reference"))
    period = service_indices(cells, by=["_cell"], reference=reference)
    period = with_lt2(period[period["_cell"] == "period"].drop(columns="_cell"))
    quarter = with_lt2(
        service_indices(rows, period="quarter", reference=reference).rename(
            columns={"period": "quarter"}
        )
    )
    team_quarter = with_lt2(
        service_indices(rows, by=["team_id"], period="quarter", reference=reference).rename(
            columns={"period": "quarter"}
        )
    )
    cells = rows.assign(_cell=np.where(in_period, rows["team_id"], "~reference"))
    teams = service_indices(cells, by=["_cell"], reference=reference)
    teams = teams[teams["_cell"] != "~reference"].rename(columns={"_cell": "team_id"})
    n = teams["episodes_with_change"].to_numpy(dtype="float64")
    low, high = wilson_interval(teams["pct_target"].to_numpy(dtype="float64") * n / 100, n)
    teams["pct_target_ci_low"], teams["pct_target_ci_high"] = low, high
    teams = with_lt2(teams)
    model = team_effects(rows.loc[in_period]) if in_period.any() else None
    return {
        "rows": rows.loc[in_period],
        "period": period.reset_index(drop=True),
        "quarter": quarter,
        "team_quarter": team_quarter,
        "teams": teams.sort_values("team_id", ignore_index=True),
        "model": model,
        "completeness": _oracle_completeness(reader, filters, start, window_end),
        "quarters": quarters,
    }


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, keys: Sequence[str], what: str) -> None:
    """Equal wherever ours shows a value, and ours hides at least what the oracle hides.

    The oracle suppresses each table on its own; the page also hides complementary cells of
    linked tables and statistics over fewer than 5 client-episodes with change (issue 18,
    ``tests/unit/test_suppression_attacks.py``), so ours may hide more, never less.
    """
    ours = ours.sort_values(list(keys), ignore_index=True) if keys else ours
    theirs = theirs.sort_values(list(keys), ignore_index=True) if keys else theirs
    ours = ours.drop(columns="change_suppressed", errors="ignore").reset_index(drop=True)
    theirs = theirs[list(ours.columns)].reset_index(drop=True)
    for column in ours.columns:
        if column in keys:
            continue
        if column == "suppressed":
            more = ours[column].astype(bool) | ~theirs[column].astype(bool)
            assert more.all(), f"{what}: a row the oracle hides is shown"
            theirs[column] = ours[column]
            continue
        hidden = ours[column].isna().to_numpy()
        shown_by_us = theirs[column].isna().to_numpy() & ~hidden
        assert not shown_by_us.any(), f"{what}.{column}: shown where the oracle hides it"
        theirs[column] = theirs[column].where(~hidden)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, rtol=1e-9, obj=what)


def suppressed(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    return suppress_small_cells(table, config=DEFAULT_CONFIG, keys=keys)


SELECTIONS = [
    pytest.param({"period": "2026Q2"}, id="quarter"),
    pytest.param({"period": "2026Q2", "age_group": "adolescent"}, id="age-group"),
    pytest.param({"period": "2026Q2", "format": "couple"}, id="format"),
    pytest.param({"period": "2025-08"}, id="month"),
    pytest.param({"period": "2025", "service": 0}, id="year-one-service"),
    pytest.param(
        {"period": "2025Q1..2025Q2", "age_group": "child", "format": "family"}, id="small-range"
    ),
    pytest.param({"period": "2031Q1"}, id="empty-period"),
    pytest.param({"period": "2026Q2", "team_id": 3}, id="team"),
]


@pytest.fixture(scope="module")
def options(demo_db: Path) -> dict[str, Any]:
    return filter_options(reader_for(demo_db))


@pytest.fixture(scope="module")
def cache() -> SummaryCache:
    return SummaryCache(size=64)


def _filters(selection: dict[str, Any], options: dict[str, Any]) -> ServiceFilters:
    chosen = dict(selection)
    period = parse_period(chosen.pop("period"))
    if "service" in chosen:
        chosen["service"] = options["services"][chosen["service"]]
    if "team_id" in chosen:
        chosen["team_id"] = options["teams"]["team_id"].iloc[chosen["team_id"]]
    return ServiceFilters(period, **chosen)


@pytest.mark.parametrize("selection", SELECTIONS)
def test_every_table_equals_the_pandas_path(demo_db, options, cache, selection):
    reader = reader_for(demo_db)
    filters = _filters(selection, options)
    ours = service_summary(reader, filters, cache=cache)
    theirs = oracle(reader, filters)

    # Headline and trend: the whole population, or the selected team.
    if filters.team_id is None:
        expected_head = theirs["period"]
        trend = theirs["quarter"]
    else:
        expected_head = theirs["teams"][theirs["teams"]["team_id"] == filters.team_id]
        trend = theirs["team_quarter"][theirs["team_quarter"]["team_id"] == filters.team_id]
    if expected_head.empty:
        assert len(ours.headline) == 1 and bool(ours.headline.iloc[0]["suppressed"])
        flags = ["suppressed", "change_suppressed"]
        assert ours.headline.drop(columns=flags).isna().all(axis=None)
        assert ours.headline[flags].all(axis=None)
    else:
        assert_same(ours.headline, expected_head, [], "headline")
    expected_trend = pd.DataFrame({"quarter": theirs["quarters"]}).merge(
        trend.drop(columns="team_id", errors="ignore"), on="quarter", how="left"
    )
    expected_trend["suppressed"] = expected_trend["suppressed"].astype("boolean").fillna(True)
    assert_same(ours.trend, expected_trend, ["quarter"], "trend")

    # The team comparison: indices and Wilson intervals equal; the model is checked below.
    index_columns = [c for c in ours.teams.columns if c not in (*MODEL_COLUMNS, "name", "selected")]
    assert_same(ours.teams[index_columns], theirs["teams"], ["team_id"], "teams")
    assert list(ours.teams["name"]) == sorted(ours.teams["name"])
    assert list(ours.teams["selected"]) == list(ours.teams["team_id"] == filters.team_id)

    # Completeness: session-date shares, the same suppression.
    completeness = theirs["completeness"]
    focus = completeness["quarter"]
    if filters.team_id is not None:
        team_rows = completeness["team_quarter"]
        focus = team_rows[team_rows["team_id"] == filters.team_id]
    expected = pd.DataFrame({"quarter": theirs["quarters"]}).merge(
        focus[["quarter", *_COMPLETENESS_COLUMNS]], on="quarter", how="left"
    )
    assert_same(
        ours.completeness_trend, suppressed(expected, ["quarter"]), ["quarter"], "completeness"
    )
    team_period = completeness["team_period"][["team_id", *_COMPLETENESS_COLUMNS]]
    ours_team = ours.completeness_team.drop(columns=["name", "selected", "pct_lt2_ors"])
    assert_same(ours_team, suppressed(team_period, ["team_id"]), ["team_id"], "completeness/team")
    team_trend = completeness["team_quarter"]
    team_trend = team_trend[team_trend["quarter"].isin(theirs["quarters"])]
    team_trend = team_trend[["team_id", "quarter", *_COMPLETENESS_COLUMNS]]
    assert_same(
        ours.completeness_team_trend.drop(columns="name"),
        suppressed(team_trend, ["team_id", "quarter"]),
        ["team_id", "quarter"],
        "completeness/team-trend",
    )

    # The team model: the same teams, counts and reasons; estimates at the REML optimum.
    if theirs["model"] is None:
        assert ours.teams.empty or ours.teams["team_effect"].isna().all()
        return
    effects, attrs = theirs["model"]
    mine = ours.teams.set_index("team_id")
    effects = effects.set_index("team_id")
    assert attrs["error"] == ours.team_model["error"]
    for column in ("model_clients", "model_episodes", "team_effect_reason", "model_suppressed"):
        pd.testing.assert_series_equal(
            mine[column], effects.loc[mine.index, column], check_dtype=False, obj=column
        )
    if attrs["error"] is not None:
        return
    assert_reml_at_least_as_good(theirs["rows"], ours.team_model, attrs)


# --------------------------------------------------------------------------------------------
# The team model
# --------------------------------------------------------------------------------------------


def reml_loglik(rows: pd.DataFrame, gamma: float, min_episodes: int = 10) -> float:
    """The restricted log-likelihood at ``tau2 / sigma2 = gamma``, with dense matrices."""
    fit = rows[rows["n_with_ors"] >= 2]
    counts = fit.groupby("team_id")["team_id"].transform("size")
    fit = fit[counts >= min_episodes]
    x = fit["first_ors"].to_numpy(dtype="float64")
    y = fit["last_ors"].to_numpy(dtype="float64") - x
    design = np.column_stack([np.ones(len(x)), x - x.mean()])
    teams = fit["team_id"].to_numpy()
    same = (teams[:, None] == teams[None, :]).astype("float64")
    total = len(y)
    v = np.eye(total) + gamma * same
    v_inv = np.linalg.inv(v)
    a = design.T @ v_inv @ design
    beta = np.linalg.solve(a, design.T @ v_inv @ y)
    residual = y - design @ beta
    sigma2 = residual @ v_inv @ residual / (total - 2)
    return -0.5 * (
        (total - 2) * np.log(sigma2)
        + np.linalg.slogdet(v)[1]
        + np.linalg.slogdet(a)[1]
        + (total - 2)
    )


def assert_reml_at_least_as_good(rows, ours: dict, theirs: dict) -> None:
    gamma_ours = ours["team_variance"] / ours["residual_variance"]
    gamma_theirs = theirs["team_variance"] / theirs["residual_variance"]
    if abs(gamma_ours - gamma_theirs) <= 1e-3 * max(gamma_theirs, 1e-3):
        return  # the same optimum
    assert reml_loglik(rows, gamma_ours) >= reml_loglik(rows, gamma_theirs) - 1e-6


def _team_sums(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    fit = frame[frame["n_with_ors"] >= 2].assign(
        x=lambda f: f["first_ors"], y=lambda f: f["last_ors"] - f["first_ors"]
    )
    fit = fit.assign(xx=fit["x"] ** 2, xy=fit["x"] * fit["y"], yy=fit["y"] ** 2)
    sums = fit.groupby("team_id")[["x", "y", "xx", "xy", "yy"]].sum()
    teams = sorted(frame["team_id"].unique())
    sums = sums.reindex(teams, fill_value=0.0)
    return {
        "team_id": np.array(teams, dtype=object),
        "clients": frame.groupby("team_id")["client_id"].nunique().reindex(teams).to_numpy(),
        "n": fit.groupby("team_id").size().reindex(teams, fill_value=0).to_numpy(),
        "sx": sums["x"].to_numpy(),
        "sy": sums["y"].to_numpy(),
        "sxx": sums["xx"].to_numpy(),
        "sxy": sums["xy"].to_numpy(),
        "syy": sums["yy"].to_numpy(),
    }


def test_team_model_from_sums_equals_statsmodels_inside_the_parameter_space():
    frame = synthetic()
    theirs, their_attrs = team_effects(frame)
    ours, our_attrs = team_effects_from_sums(_team_sums(frame))
    assert their_attrs["converged"] and our_attrs["converged"]
    # statsmodels stops within its tolerance of the optimum (here 1.2e-4 relative, at a lower
    # likelihood than ours, checked below).
    assert our_attrs["team_variance"] == pytest.approx(their_attrs["team_variance"], rel=1e-3)
    assert our_attrs["residual_variance"] == pytest.approx(
        their_attrs["residual_variance"], rel=1e-5
    )
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, rtol=1e-3)
    assert reml_loglik(frame, our_attrs["team_variance"] / our_attrs["residual_variance"]) >= (
        reml_loglik(frame, their_attrs["team_variance"] / their_attrs["residual_variance"]) - 1e-9
    )


def test_team_model_from_sums_finds_the_boundary_and_the_minimum():
    frame = synthetic()
    # No team differences at all: REML puts the team variance at 0; each team keeps its own
    # estimate with its own interval (never 0 +/- 0), as the statsmodels fit on the rows.
    flat = frame.assign(last_ors=frame["first_ors"] + 5.0 + (frame.index % 7) * 0.1)
    effects, attrs = team_effects_from_sums(_team_sums(flat))
    theirs, their_attrs = team_effects(flat)
    assert attrs["team_variance"] == 0.0 and attrs["no_difference"]
    assert their_attrs["no_difference"]
    assert (effects["team_effect_se"] > 0).all()
    pd.testing.assert_frame_equal(effects, theirs, check_dtype=False, rtol=1e-6, atol=1e-9)
    small = frame.groupby("team_id").head(8)
    effects, attrs = team_effects_from_sums(_team_sums(small))
    assert effects["team_effect"].isna().all()
    assert set(effects["team_effect_reason"]) == {"fewer than 10 episodes"}
    assert "fewer than 5 teams" in attrs["error"]


# --------------------------------------------------------------------------------------------
# A filter change reads nothing from the database
# --------------------------------------------------------------------------------------------


class CountingReader:
    """A reader that counts the queries it runs."""

    def __init__(self, reader) -> None:
        self._reader = reader
        self.path = reader.path
        self.scope = getattr(reader, "scope", None)
        self.queries = 0

    def file_identity(self) -> tuple:
        return self._reader.file_identity()

    def df(self, sql: str, params: Any = None) -> pd.DataFrame:
        self.queries += 1
        return self._reader.df(sql, params)

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        self.queries += 1
        return self._reader.rows(sql, params)


def test_filter_changes_run_no_query(demo_db, options):
    reader = CountingReader(reader_for(demo_db))
    cache = SummaryCache()
    period = parse_period("2026Q2")
    service_summary(reader, ServiceFilters(period), cache=cache)
    opened = reader.queries
    assert opened <= 4  # team names, team codes, client-episode facts, session facts
    for filters in (
        ServiceFilters(period, team_id=options["teams"]["team_id"].iloc[0]),
        ServiceFilters(parse_period("2025-08")),
        ServiceFilters(parse_period("2024Q1..2024Q3"), age_group="adult"),
        ServiceFilters(period, format="family", service=options["services"][0]),
    ):
        summary = service_summary(reader, filters, cache=cache)
        assert summary.filters == filters
    assert reader.queries == opened


def test_team_model_from_sums_says_why_it_cannot_fit_a_singular_design():
    frame = synthetic().assign(first_ors=19.0)  # every intake the same: no slope to fit
    effects, attrs = team_effects_from_sums(_team_sums(frame))
    assert "could not be fitted" in attrs["error"]
    assert effects["team_effect"].isna().all()
    assert (effects["team_effect_reason"].str.contains("could not be fitted")).all()


def test_distinct_clients_without_sorting_equals_a_group_count():
    # Random rows where many clients have rows in several teams and months: the run counting
    # in storage order (and the separate order for clients in several teams) must equal
    # pandas' count of distinct clients for team groupings and for groupings over all teams.
    rng = np.random.default_rng(11)
    size = 5000
    client = rng.integers(0, 700, size).astype(np.int32)
    team = rng.integers(0, 6, size).astype(np.int32)
    month = rng.integers(24000, 24036, size).astype(np.int32)
    age = (client % 3).astype(np.int8)  # an age group per client, as in the data
    fmt = rng.integers(0, 4, size).astype(np.int8)
    rows, _ = Rows.sorted(client, team, month, age, fmt)
    frame = pd.DataFrame({"client": rows.client, "team": rows.team, "month": rows.month})
    frame["quarter"] = frame["month"] // 3 - 8000
    keep = (rows.fmt != 2) & (rows.month >= 24002)  # a format filter and a mid-quarter start
    in_period = (rows.month >= 24010) & (rows.month <= 24013)  # a period across two quarters
    kept = frame[keep]
    cases = [
        (kept["team"] * 12 + kept["quarter"], frame["team"] * 12 + frame["quarter"], keep, True),
        (kept["quarter"], frame["quarter"], keep, False),
        (frame["team"][keep & in_period], frame["team"], keep & in_period, True),
        (kept["quarter"] * 0, frame["quarter"] * 0, keep & in_period, False),
    ]
    for expected_groups, groups, mask, by_team in cases:
        subset = frame[mask].assign(group=expected_groups.reindex(frame[mask].index).to_numpy())
        expected = subset.groupby("group")["client"].nunique()
        group_array = groups.to_numpy(dtype=np.int64)
        total, by_age = rows.distinct_clients(
            mask, lambda positions, g=group_array: g[positions], 80, by_team=by_team
        )
        assert total[expected.index.to_numpy()].tolist() == expected.tolist()
        assert total.sum() == expected.sum()
        assert (by_age.sum(axis=1) == total).all()
    assert not rows.single_team.all()  # the case of clients in several teams is exercised
