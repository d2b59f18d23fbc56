"""Service-level indices (ICCE style) over client-episodes, with small-cell suppression.

Two steps, both vectorised:

1. :func:`episode_outcomes` aggregates the ``sessions`` table in DuckDB to one row per
   *client-episode* (the client's own ratings, ``rater = 'client'``): first and last ORS (by
   ``session_no``), first SRS, session counts and dates, joined to the client's age group and
   the episode's team, service, therapist, format and ending. Filters are SQL parameters.
2. :func:`service_indices` groups those rows with pandas and computes the indices of
   ``shared/domain.md`` ("Service-level indices"), then hides small cells with
   :func:`suppress_small_cells`, the one helper every aggregate table goes through.

Units. A couple or family episode has one row per participating client (each partner's own
ORS). ``episodes`` counts distinct episodes; every other count and share is over
client-episodes, so each partner's own change and ending count once.

Formulas (all percentages are 0-100; SDs use n - 1):

* **Change set.** Client-episodes with at least two ORS (``n_with_ors >= 2``); change = last
  ORS - first ORS. Episodes with fewer than two ORS count for completeness, sessions, endings
  and ``episodes_lt2_ors`` but not for any change statistic.
* **Pre-post effect size** d = mean(change) / SD(first ORS), both over the group's change set
  (the "standardized mean change" with the pre-test SD as standardizer). 95 % CI by the
  large-sample normal approximation of Becker (1988), *Synthesizing standardized
  mean-change measures*, Br J Math Stat Psychol 41:257-278:
  Var(d) = 2(1 - r)/n + d^2/(2n), with r the Pearson correlation of first and last ORS in the
  group; CI = d +/- 1.959964 * sqrt(Var(d)). NaN when n < 3.
* **Severity-adjusted effect size** (the ICCE idea; Seidel, Miller & Chow 2014, *Effect size
  calculations for the clinician*, Psychotherapy Research 24:470-484): an ordinary least
  squares line change = a + b * intake is fitted once over the *whole* change set passed in
  (all groups, all periods). For each client-episode the residual e = change - (a + b *
  intake) is added back to the overall mean change; the group's value is
  (mean_group(e) + mean_all(change)) / SD_all(intake). The reference SD is the whole set's, so
  groups differ only by their intake-adjusted mean change (a group that merely admits more
  severe clients is not rewarded); over the whole set it equals the raw effect size.
* **Categories** (% recovered / improved / unchanged / deteriorated / harmed) from
  :func:`fitdata.analytics.change.pcoms_change` with the config's cutoffs, reliable change and tie
  rules, over the change set.
* **% reaching target**: reliable improvement (recovered or improved), *or* a last ORS in the
  non-clinical range (at or above the age group's cutoff, by the config's tie rule) without a
  reliable deterioration. This is the PCOMS "successful" end state; over the change set.
* **Endings** over closed client-episodes (``ended`` not NULL): % planned, % unplanned, %
  transferred (a transfer is a closed episode that is neither). Unplanned *with* effect: an
  unplanned ending after a reliable improvement (category recovered or improved, first to last
  ORS); *without* effect: every other unplanned ending, including those with fewer than two
  ORS (no effect could be shown). The two add up to % unplanned.
* **Completeness**: % of the client's session rows with an ORS total, and with an SRS total
  (sum over the group's client-episodes of ``n_with_ors`` / sum of ``n_sessions``).
* **Sessions per episode**: mean and SD of ``n_sessions``; **length**: mean of ended -
  started in days, over closed client-episodes.

Small cells: see :func:`suppress_small_cells`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE, RECORDING_STEP, pcoms_change
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader

__all__ = [
    "INDEX_COLUMNS",
    "OUTCOME_COLUMNS",
    "category_query",
    "episode_outcomes",
    "service_indices",
    "service_indices_sql",
    "suppress_small_cells",
]

#: Columns of :func:`episode_outcomes`, in order.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "client_id",
    "age_group",
    "team_id",
    "service",
    "therapist_id",
    "format",
    "end_type",
    "started",
    "ended",
    "n_sessions",
    "n_with_ors",
    "n_with_srs",
    "first_ors",
    "last_ors",
    "first_srs",
    "first_session",
    "last_session",
)

#: Statistic columns of :func:`service_indices` (after the group keys), in order.
INDEX_COLUMNS: tuple[str, ...] = (
    "clients",
    *(f"clients_{group}" for group in AGE_GROUPS),
    "episodes",
    "client_episodes",
    "episodes_lt2_ors",
    "episodes_with_change",
    "intake_ors_mean",
    "intake_srs_mean",
    "sessions_mean",
    "sessions_sd",
    "length_days_mean",
    "change_mean",
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
    "severity_adjusted_es",
    "pct_target",
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
    "closed_episodes",
    "pct_planned",
    "pct_unplanned",
    "pct_unplanned_with_effect",
    "pct_unplanned_without_effect",
    "pct_transferred",
    "sessions",
    "pct_sessions_with_ors",
    "pct_sessions_with_srs",
)

_AGE_COUNT_COLUMNS = tuple(f"clients_{group}" for group in AGE_GROUPS)
_PERIOD_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
_DATE_FIELDS = ("ended", "started")

_OUTCOMES_BODY = """
WITH s AS (
    SELECT
        episode_id,
        client_id,
        count(*) AS n_sessions,
        count(ors_total) AS n_with_ors,
        count(srs_total) AS n_with_srs,
        arg_min(ors_total::DOUBLE, session_no) FILTER (WHERE ors_total IS NOT NULL)
            AS first_ors,
        arg_max(ors_total::DOUBLE, session_no) FILTER (WHERE ors_total IS NOT NULL)
            AS last_ors,
        arg_min(srs_total::DOUBLE, session_no) FILTER (WHERE srs_total IS NOT NULL)
            AS first_srs,
        min(session_date) AS first_session,
        max(session_date) AS last_session
    FROM sessions
    WHERE rater = 'client' {session_filter}
    GROUP BY episode_id, client_id
)
SELECT
    e.episode_id,
    coalesce(s.client_id, e.client_id) AS client_id,
    c.age_group,
    e.team_id,
    t.service,
    e.therapist_id,
    e.format,
    e.end_type,
    e.started,
    e.ended,
    coalesce(s.n_sessions, 0) AS n_sessions,
    coalesce(s.n_with_ors, 0) AS n_with_ors,
    coalesce(s.n_with_srs, 0) AS n_with_srs,
    s.first_ors,
    s.last_ors,
    s.first_srs,
    s.first_session,
    s.last_session
FROM episodes AS e
LEFT JOIN s ON s.episode_id = e.episode_id
JOIN clients AS c ON c.client_id = coalesce(s.client_id, e.client_id)
LEFT JOIN teams AS t ON t.team_id = e.team_id
{where}
"""
_OUTCOMES_SQL = _OUTCOMES_BODY + "ORDER BY e.episode_id, client_id\n"


def _values(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [value]
    values = [str(v) for v in value]
    if not values:
        raise ValueError("a filter given as a list must name at least one value")
    return values


def _in_list(column: str, value: str | Sequence[str], params: list[Any]) -> str:
    """``column IN (?, ...)`` for a filter value or list; its values are added to ``params``."""
    values = _values(value)
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _ in values)})"


def _period_conditions(
    prefix: str,
    start: dt.date | None,
    end: dt.date | None,
    date_field: str,
    closed_only: bool,
    params: list[Any],
) -> list[str]:
    """The episode period and closed-only conditions (``prefix`` names the episodes table)."""
    conditions = []
    if start is not None:
        conditions.append(f"{prefix}{date_field} >= ?")
        params.append(start)
    if end is not None:
        conditions.append(f"{prefix}{date_field} <= ?")
        params.append(end)
    if closed_only:
        conditions.append(f"{prefix}ended IS NOT NULL")
    return conditions


def _session_filter(
    service: str | Sequence[str] | None,
    team_id: str | Sequence[str] | None,
    therapist_id: str | Sequence[str] | None,
    format: str | Sequence[str] | None,
    start: dt.date | None,
    end: dt.date | None,
    date_field: str,
    closed_only: bool,
) -> tuple[str, list[Any]]:
    """SQL (``AND ...``) and parameters restricting the sessions scan to the filtered episodes."""
    sql: list[str] = []
    params: list[Any] = []
    if team_id is not None:
        sql.append(_in_list("team_id", team_id, params))
    if service is not None:
        sql.append(
            "team_id IN (SELECT team_id FROM teams WHERE "
            + _in_list("service", service, params)
            + ")"
        )
    episode_conditions = [
        _in_list(column, value, params)
        for column, value in (("therapist_id", therapist_id), ("format", format))
        if value is not None
    ]
    episode_conditions += _period_conditions("", start, end, date_field, closed_only, params)
    if episode_conditions:
        sql.append(
            "episode_id IN (SELECT episode_id FROM episodes WHERE "
            + " AND ".join(episode_conditions)
            + ")"
        )
    return "".join(f" AND {part}" for part in sql), params


def _outcomes_query(
    service: str | Sequence[str] | None,
    team_id: str | Sequence[str] | None,
    therapist_id: str | Sequence[str] | None,
    age_group: str | Sequence[str] | None,
    format: str | Sequence[str] | None,
    start: dt.date | None,
    end: dt.date | None,
    date_field: str,
    closed_only: bool,
) -> tuple[str, list[Any]]:
    """The filtered client-episode query (without ORDER BY) and its parameters."""
    if date_field not in _DATE_FIELDS:
        raise ValueError(f"date_field must be 'ended' or 'started', not {date_field!r}")
    params: list[Any] = []
    conditions = [
        _in_list(column, value, params)
        for column, value in (
            ("t.service", service),
            ("e.team_id", team_id),
            ("e.therapist_id", therapist_id),
            ("c.age_group", age_group),
            ("e.format", format),
        )
        if value is not None
    ]
    conditions += _period_conditions("e.", start, end, date_field, closed_only, params)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # Push the filters down to the sessions scan, so one team does not aggregate every
    # session of the service: by team (sessions carry their episode's team, which `fitdata
    # check` verifies) and, for episode-level filters, by the matching episodes. The age group
    # is the session's client's (a partner's own), so it stays after the aggregate.
    session_filter, session_params = _session_filter(
        service, team_id, therapist_id, format, start, end, date_field, closed_only
    )
    sql = _OUTCOMES_BODY.format(where=where, session_filter=session_filter)
    return sql, [*session_params, *params]


def episode_outcomes(
    reader: Reader,
    *,
    service: str | Sequence[str] | None = None,
    team_id: str | Sequence[str] | None = None,
    therapist_id: str | Sequence[str] | None = None,
    age_group: str | Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    date_field: Literal["ended", "started"] = "ended",
    closed_only: bool = False,
) -> pd.DataFrame:
    """One row per client-episode with first/last ORS, first SRS, counts and dates.

    Computed in DuckDB (one ``GROUP BY`` over the client's own session rows with
    ``arg_min``/``arg_max`` by ``session_no``), joined to ``clients``, ``episodes`` and
    ``teams``. An episode without any client-rated session still gives one row (its index
    client, ``n_sessions`` 0). Each filter is a value or a list of values (any of them) and is
    passed to SQL as a parameter.

    The period filter keeps episodes whose ``date_field`` lies within ``start`` to ``end``
    (both inclusive, either may be omitted). By default that is the **ending** date, so a period
    filter keeps closed episodes only (ongoing episodes have no end date); pass
    ``date_field="started"`` to select episodes by their start instead.

    Args:
        reader: The database, e.g. ``fitdata.data.store.reader_for(path)``.
        service: The service(s) of the episode's team.
        team_id: The team(s) of the episode (the team at the time, not the therapist's
            current team).
        therapist_id: The therapist(s) of the episode.
        age_group: The client's age group(s): child, adolescent, adult.
        format: The episode format(s): individual, couple, family, group.
        start: First day of the period (inclusive).
        end: Last day of the period (inclusive).
        date_field: Which episode date the period applies to, ``"ended"`` or ``"started"``.
        closed_only: Keep closed episodes only (``ended`` not NULL).

    Returns:
        The columns of :data:`OUTCOME_COLUMNS`: ``first_ors``/``last_ors`` are the ORS totals
        of the lowest and highest ``session_no`` with an ORS (equal when there is one),
        ``first_srs`` the first SRS total given, ``n_sessions``/``n_with_ors``/``n_with_srs``
        count the client's session rows and those with an ORS and an SRS total.

    Raises:
        ValueError: If ``date_field`` is unknown or a list filter is empty.
    """
    sql, params = _outcomes_query(
        service, team_id, therapist_id, age_group, format, start, end, date_field, closed_only
    )
    frame = reader.df(sql + "ORDER BY e.episode_id, client_id\n", params)
    for column in ("n_sessions", "n_with_ors", "n_with_srs"):
        frame[column] = frame[column].astype("int64")
    return frame[list(OUTCOME_COLUMNS)]


# --------------------------------------------------------------------------------------------
# Indices
# --------------------------------------------------------------------------------------------


def _derived(outcomes: pd.DataFrame, config: ClinicalConfig) -> tuple[pd.DataFrame, dict]:
    """Per client-episode indicator columns (vectorised), and the severity regression."""
    frame = outcomes.copy()
    has_change = frame["n_with_ors"].to_numpy() >= 2
    first = frame["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = frame["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    pre = np.where(has_change, first, np.nan)
    post = np.where(has_change, last, np.nan)
    frame["_has_change"] = has_change.astype("float64")
    frame["_pre"] = pre
    frame["_post"] = post
    frame["_change"] = post - pre
    frame["_sum"] = pre + post

    categories = pd.Series(np.nan, index=frame.index, dtype="object")
    functional_post = np.zeros(len(frame), dtype=bool)
    if has_change.any():
        rows = frame.index[has_change]
        classified = pcoms_change(
            pd.Series(pre[has_change], index=rows),
            pd.Series(post[has_change], index=rows),
            frame.loc[rows, "age_group"],
            config=config,
        )
        categories = classified["category"].astype("object").reindex(frame.index)
        functional_post[has_change] = classified["functional_post"].to_numpy(
            dtype=bool, na_value=False
        )
    category = categories.to_numpy(dtype="object")
    for name in ("recovered", "improved", "unchanged", "deteriorated", "harmed"):
        frame[f"_{name}"] = np.where(has_change, category == name, np.nan).astype("float64")
    improved = np.isin(category, ["recovered", "improved"])
    worse = np.isin(category, ["deteriorated", "harmed"])
    frame["_target"] = np.where(has_change, improved | (functional_post & ~worse), np.nan).astype(
        "float64"
    )

    closed = frame["ended"].notna().to_numpy()
    end_type = frame["end_type"].to_numpy(dtype="object")
    unplanned = end_type == "unplanned"
    for name, value in (
        ("_planned", end_type == "planned"),
        ("_unplanned", unplanned),
        ("_unplanned_with", unplanned & improved),
        ("_unplanned_without", unplanned & ~improved),
        ("_transferred", end_type == "transferred"),
    ):
        frame[name] = np.where(closed, value, np.nan).astype("float64")
    frame["_closed"] = closed.astype("float64")
    days = (pd.to_datetime(frame["ended"]) - pd.to_datetime(frame["started"])).dt.days
    frame["_days"] = days.astype("float64")
    frame["_lt2"] = (~has_change).astype("float64")

    # Severity adjustment: one OLS line over the whole change set.
    x, y = pre[has_change], (post - pre)[has_change]
    info: dict[str, float] = {
        "intercept": np.nan,
        "slope": np.nan,
        "mean_change": np.nan,
        "sd_intake": np.nan,
        "n": float(x.size),
    }
    adjusted = np.full(len(frame), np.nan)
    if x.size >= 2 and np.var(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        mean_change = float(y.mean())
        adjusted[has_change] = y - (intercept + slope * x) + mean_change
        info.update(
            intercept=float(intercept),
            slope=float(slope),
            mean_change=mean_change,
            sd_intake=float(x.std(ddof=1)),
        )
    frame["_adjusted"] = adjusted
    return frame, info


def _group_keys(
    frame: pd.DataFrame,
    by: list[str] | None,
    period: str | None,
    date_column: str,
) -> tuple[pd.DataFrame, list[str]]:
    keys = list(by or [])
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: not columns of the outcomes")
    if period is not None:
        if period not in _PERIOD_FREQ:
            raise ValueError(f"period must be 'month', 'quarter' or 'year', not {period!r}")
        if date_column not in frame.columns:
            raise ValueError(f"date_column {date_column!r} is not a column of the outcomes")
        dates = pd.to_datetime(frame[date_column])
        frame = frame.loc[dates.notna()].copy()
        frame["period"] = (
            pd.to_datetime(frame[date_column]).dt.to_period(_PERIOD_FREQ[period]).astype(str)
        )
        keys.append("period")
    return frame, keys


def service_indices(
    outcomes: pd.DataFrame,
    *,
    by: list[str] | None = None,
    period: Literal["month", "quarter", "year"] | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    suppress: bool = True,
    date_column: Literal["ended", "started"] = "ended",
) -> pd.DataFrame:
    """Service indices per group of client-episodes (formulas in the module docstring).

    Args:
        outcomes: Rows of :func:`episode_outcomes` (already filtered).
        by: Columns of ``outcomes`` to group by, e.g. ``["team_id"]``, ``["service"]`` or
            ``["age_group"]``; None or empty for one row over everything.
        period: Also group by the month, quarter or year of ``date_column`` (labels like
            ``"2026-03"``, ``"2026Q1"``, ``"2026"``). Rows without that date (ongoing episodes,
            for the default ``"ended"``) are left out of a period table.
        config: Cutoffs, reliable change, tie rules and the minimum cell size.
        suppress: Apply :func:`suppress_small_cells` (default). Turn off only for internal
            checks; never show an unsuppressed table to a group.
        date_column: The date that assigns a client-episode to a period.

    Returns:
        One row per group, sorted by the keys: the keys, then :data:`INDEX_COLUMNS`, then
        ``suppressed``. ``attrs`` holds ``group_keys``, ``config_rule`` (minimum cell size),
        ``severity_adjustment`` (the fitted line) and ``formulas``.

    Raises:
        ValueError: If a ``by`` column is unknown, ``period`` is not one of the three, or (from
            :func:`fitdata.analytics.change.pcoms_change`) an age group is missing or an ORS total
            is not recorded to one decimal.
    """
    frame, info = _derived(outcomes, config)
    frame, keys = _group_keys(frame, by, period, date_column)
    if frame.empty:
        table = pd.DataFrame(columns=[*keys, *INDEX_COLUMNS])
    else:
        table = _aggregate(frame, keys, info)
    return labelled_table(table, keys, info, config, suppress)


def labelled_table(
    table: pd.DataFrame, keys: list[str], info: dict, config: ClinicalConfig, suppress: bool
) -> pd.DataFrame:
    """``table`` with its attrs (keys, formulas, the severity line) and suppression applied."""
    table.attrs = {
        "group_keys": keys,
        "min_cell_size": config.min_cell_size,
        "severity_adjustment": info,
        "formulas": {
            "effect_size": "mean(last - first) / SD(first), change set (>= 2 ORS)",
            "effect_size_ci": "Becker 1988: d +/- 1.96 sqrt(2(1 - r)/n + d^2/(2n))",
            "severity_adjusted_es": (
                "(mean_group(change - (a + b*intake)) + mean_all(change)) / SD_all(intake)"
            ),
            "pct_target": "reliable improvement, or non-clinical at the end without a reliable "
            "deterioration",
            "unplanned_with_effect": "unplanned ending with recovered/improved first-to-last",
        },
    }
    if suppress:
        table = suppress_small_cells(table, config=config)
    else:
        table["suppressed"] = False
    return table


def _aggregate(frame: pd.DataFrame, keys: list[str], info: dict) -> pd.DataFrame:
    work = frame.assign(_one=0) if not keys else frame
    group = keys or ["_one"]
    grouped = work.groupby(group, dropna=False, sort=True, observed=True)
    agg = grouped.agg(
        clients=("client_id", "nunique"),
        episodes=("episode_id", "nunique"),
        client_episodes=("episode_id", "size"),
        episodes_lt2_ors=("_lt2", "sum"),
        episodes_with_change=("_has_change", "sum"),
        intake_ors_mean=("first_ors", "mean"),
        intake_srs_mean=("first_srs", "mean"),
        sessions_mean=("n_sessions", "mean"),
        sessions_sd=("n_sessions", "std"),
        length_days_mean=("_days", "mean"),
        change_mean=("_change", "mean"),
        _pre_sd=("_pre", "std"),
        _pre_var=("_pre", "var"),
        _post_var=("_post", "var"),
        _sum_var=("_sum", "var"),
        _adjusted=("_adjusted", "mean"),
        pct_target=("_target", "mean"),
        pct_recovered=("_recovered", "mean"),
        pct_improved=("_improved", "mean"),
        pct_unchanged=("_unchanged", "mean"),
        pct_deteriorated=("_deteriorated", "mean"),
        pct_harmed=("_harmed", "mean"),
        closed_episodes=("_closed", "sum"),
        pct_planned=("_planned", "mean"),
        pct_unplanned=("_unplanned", "mean"),
        pct_unplanned_with_effect=("_unplanned_with", "mean"),
        pct_unplanned_without_effect=("_unplanned_without", "mean"),
        pct_transferred=("_transferred", "mean"),
        sessions=("n_sessions", "sum"),
        _ors_given=("n_with_ors", "sum"),
        _srs_given=("n_with_srs", "sum"),
    )
    ages = (
        work.assign(_age=work["age_group"])
        .groupby([*group, "_age"], dropna=False, observed=True)["client_id"]
        .nunique()
        .unstack("_age")
        .reindex(columns=list(AGE_GROUPS))
        .fillna(0)
        .astype("int64")
    )
    ages.columns = list(_AGE_COUNT_COLUMNS)
    agg = agg.join(ages).reset_index()
    if not keys:
        agg = agg.drop(columns="_one")
    return finish_aggregate(agg, keys, info)


def finish_aggregate(agg: pd.DataFrame, keys: list[str], info: dict) -> pd.DataFrame:
    """Effect sizes, intervals and percentages from per-group sums, means and variances.

    Shared by the pandas and the SQL path, so both compute these the same way. The result is
    built as one frame from arrays (not column by column: inserting columns one at a time
    costs more than the arithmetic for tables of a few hundred rows).
    """

    def values(column: str) -> np.ndarray:
        return agg[column].to_numpy(dtype="float64", na_value=np.nan)

    n = values("episodes_with_change")
    pre_sd = values("_pre_sd")
    pre_sd = np.where(pre_sd > 0, pre_sd, np.nan)  # an SD of 0 gives no effect size
    d = values("change_mean") / pre_sd
    pre_var, post_var = values("_pre_var"), values("_post_var")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (values("_sum_var") - pre_var - post_var) / (2 * np.sqrt(pre_var * post_var))
        se = np.sqrt(2 * (1 - r) / n + d**2 / (2 * n))
    se = np.where(n >= 3, se, np.nan)
    computed: dict[str, np.ndarray] = {
        "effect_size": d,
        "effect_size_ci_low": d - CRITICAL_VALUE * se,
        "effect_size_ci_high": d + CRITICAL_VALUE * se,
        "severity_adjusted_es": values("_adjusted") / info["sd_intake"],
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        computed["pct_sessions_with_ors"] = 100.0 * values("_ors_given") / values("sessions")
        computed["pct_sessions_with_srs"] = 100.0 * values("_srs_given") / values("sessions")
    integers = {
        "episodes_lt2_ors",
        "episodes_with_change",
        "closed_episodes",
        "clients",
        "episodes",
        "client_episodes",
        "sessions",
        *_AGE_COUNT_COLUMNS,
    }
    out: dict[str, Any] = {key: agg[key].to_numpy() for key in keys}
    for column in INDEX_COLUMNS:
        if column in computed:
            out[column] = computed[column]
        elif column in integers:
            out[column] = agg[column].to_numpy().astype("int64")
        elif column.startswith("pct_"):
            out[column] = 100.0 * values(column)
        else:
            out[column] = agg[column].to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(len(agg)))


# --------------------------------------------------------------------------------------------
# SQL path: the same indices computed in DuckDB, for a whole service at interactive speed
# --------------------------------------------------------------------------------------------

#: Half a recording step: pcoms_change's boundaries sit between two possible scores.
_HALF_STEP = RECORDING_STEP / 2

_PERIOD_SQL = {
    "month": "strftime({d}, '%Y-%m')",
    "quarter": "CAST(year({d}) AS VARCHAR) || 'Q' || CAST(quarter({d}) AS VARCHAR)",
    "year": "CAST(year({d}) AS VARCHAR)",
}

# The PCOMS categories of fitdata.analytics.change.pcoms_change, in SQL: strict comparisons against
# boundaries moved half a recording step (0.05) to the side the tie rules ask for, with
# differences below 5e-10 treated as ties (round(.., 9) as in fitdata.analytics.change._beyond).
_CATEGORY_CTES = """
x AS (
    SELECT *,
           n_with_ors >= 2 AS has_change,
           CASE WHEN n_with_ors >= 2 THEN first_ors END AS pre,
           CASE WHEN n_with_ors >= 2 THEN last_ors END AS post,
           CASE age_group WHEN 'child' THEN $cut_child WHEN 'adolescent' THEN $cut_adolescent
                ELSE $cut_adult END + $cutoff_shift AS boundary
    FROM o
),
y AS (
    SELECT *,
           post - pre AS change,
           round(pre - boundary, 9) < 0 AS clinical_pre,
           round(post - boundary, 9) > 0 AS functional_post,
           round((post - pre) - $rc_boundary, 9) > 0 AS improvement,
           round(-(post - pre) - $rc_boundary, 9) > 0 AS worsening
    FROM x
),
z AS (
    SELECT *,
           CASE WHEN NOT has_change THEN NULL
                WHEN clinical_pre AND functional_post AND improvement THEN 'recovered'
                WHEN improvement THEN 'improved'
                WHEN worsening AND NOT (NOT clinical_pre AND NOT functional_post)
                    THEN 'deteriorated'
                WHEN worsening THEN 'harmed'
                ELSE 'unchanged' END AS category
    FROM y
)
"""

_INDICES_SQL = (
    """
WITH o AS ({outcomes}),
"""
    + _CATEGORY_CTES
    + """,
line AS (
    SELECT count(*) AS n, regr_slope(change, pre) AS slope,
           regr_intercept(change, pre) AS intercept, avg(change) AS mean_change,
           stddev_samp(pre) AS sd_intake, var_pop(pre) AS var_intake
    FROM z WHERE has_change
),
w AS (
    SELECT z.*, {period} AS period,
           CASE WHEN line.n >= 2 AND line.var_intake > 0
                THEN z.change - (line.intercept + line.slope * z.pre) + line.mean_change
           END AS adjusted,
           category IN ('recovered', 'improved') AS better,
           category IN ('deteriorated', 'harmed') AS worse
    FROM z CROSS JOIN line
)
SELECT {keys_select}
       count(DISTINCT client_id) AS clients,
       count(DISTINCT episode_id) AS episodes,
       count(*) AS client_episodes,
       sum(CASE WHEN has_change THEN 0 ELSE 1 END) AS episodes_lt2_ors,
       sum(CASE WHEN has_change THEN 1 ELSE 0 END) AS episodes_with_change,
       avg(first_ors) AS intake_ors_mean,
       avg(first_srs) AS intake_srs_mean,
       avg(n_sessions) AS sessions_mean,
       stddev_samp(n_sessions) AS sessions_sd,
       avg(date_diff('day', started, ended)) AS length_days_mean,
       avg(change) AS change_mean,
       stddev_samp(pre) AS _pre_sd,
       var_samp(pre) AS _pre_var,
       var_samp(post) AS _post_var,
       var_samp(pre + post) AS _sum_var,
       avg(adjusted) AS _adjusted,
       avg(CASE WHEN has_change THEN (better OR (functional_post AND NOT worse))::DOUBLE END)
           AS pct_target,
       avg(CASE WHEN has_change THEN (category = 'recovered')::DOUBLE END) AS pct_recovered,
       avg(CASE WHEN has_change THEN (category = 'improved')::DOUBLE END) AS pct_improved,
       avg(CASE WHEN has_change THEN (category = 'unchanged')::DOUBLE END) AS pct_unchanged,
       avg(CASE WHEN has_change THEN (category = 'deteriorated')::DOUBLE END)
           AS pct_deteriorated,
       avg(CASE WHEN has_change THEN (category = 'harmed')::DOUBLE END) AS pct_harmed,
       count(ended) AS closed_episodes,
       avg(CASE WHEN ended IS NOT NULL THEN (end_type = 'planned')::DOUBLE END) AS pct_planned,
       avg(CASE WHEN ended IS NOT NULL THEN (end_type = 'unplanned')::DOUBLE END)
           AS pct_unplanned,
       avg(CASE WHEN ended IS NOT NULL
                THEN (end_type = 'unplanned' AND coalesce(better, false))::DOUBLE END)
           AS pct_unplanned_with_effect,
       avg(CASE WHEN ended IS NOT NULL
                THEN (end_type = 'unplanned' AND NOT coalesce(better, false))::DOUBLE END)
           AS pct_unplanned_without_effect,
       avg(CASE WHEN ended IS NOT NULL THEN (end_type = 'transferred')::DOUBLE END)
           AS pct_transferred,
       sum(n_sessions) AS sessions,
       sum(n_with_ors) AS _ors_given,
       sum(n_with_srs) AS _srs_given,
       {age_counts},
       any_value(line.n) AS _line_n, any_value(line.slope) AS _line_slope,
       any_value(line.intercept) AS _line_intercept,
       any_value(line.mean_change) AS _line_mean_change,
       any_value(line.sd_intake) AS _line_sd_intake,
       any_value(line.var_intake) AS _line_var_intake
FROM w CROSS JOIN line
{period_filter}
{group_by}
"""
)


def service_indices_sql(
    reader: Reader,
    *,
    by: list[str] | None = None,
    period: Literal["month", "quarter", "year"] | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    suppress: bool = True,
    date_column: Literal["ended", "started"] = "ended",
    service: str | Sequence[str] | None = None,
    team_id: str | Sequence[str] | None = None,
    therapist_id: str | Sequence[str] | None = None,
    age_group: str | Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    date_field: Literal["ended", "started"] = "ended",
    closed_only: bool = False,
) -> pd.DataFrame:
    """:func:`service_indices` of :func:`episode_outcomes`, computed in DuckDB.

    ``service_indices_sql(reader, by=..., period=..., **filters)`` gives the same table as
    ``service_indices(episode_outcomes(reader, **filters), by=..., period=...)`` (a test
    compares them), without bringing a million client-episodes into pandas: only one row per
    group leaves the database. The categories follow :func:`fitdata.analytics.change.pcoms_change`
    (same boundaries and tie rules), the severity line is fitted over the same change set, and
    the effect sizes, intervals and suppression are computed by the same Python code.

    Args:
        reader: The database.
        by: Outcome columns to group by (see :data:`OUTCOME_COLUMNS`).
        period: As for :func:`service_indices`.
        config: As for :func:`service_indices`.
        suppress: As for :func:`service_indices`.
        date_column: As for :func:`service_indices`.
        service: Filter, as for :func:`episode_outcomes`.
        team_id: Filter, as for :func:`episode_outcomes`.
        therapist_id: Filter, as for :func:`episode_outcomes`.
        age_group: Filter, as for :func:`episode_outcomes`.
        format: Filter, as for :func:`episode_outcomes`.
        start: Filter, as for :func:`episode_outcomes`.
        end: Filter, as for :func:`episode_outcomes`.
        date_field: Filter, as for :func:`episode_outcomes`.
        closed_only: Filter, as for :func:`episode_outcomes`.

    Returns:
        The table of :func:`service_indices`.

    Raises:
        ValueError: If a ``by`` column is unknown, ``period`` or ``date_column`` is not one of
            the allowed values, or a list filter is empty.
    """
    keys = list(by or [])
    unknown = [k for k in keys if k not in OUTCOME_COLUMNS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not columns of the outcomes")
    if period is not None and period not in _PERIOD_FREQ:
        raise ValueError(f"period must be 'month', 'quarter' or 'year', not {period!r}")
    if date_column not in _DATE_FIELDS:
        raise ValueError(f"date_column {date_column!r} is not a column of the outcomes")
    outcomes, params = _outcomes_query(
        service, team_id, therapist_id, age_group, format, start, end, date_field, closed_only
    )
    group = [*keys, "period"] if period else keys
    period_sql = _PERIOD_SQL[period].format(d=date_column) if period else "NULL"
    sql = _INDICES_SQL.format(
        outcomes=outcomes,
        period=period_sql,
        keys_select="".join(f"{k}, " for k in group),
        age_counts=", ".join(
            f"count(DISTINCT client_id) FILTER (WHERE age_group = '{g}') AS clients_{g}"
            for g in AGE_GROUPS
        ),
        period_filter=f"WHERE {date_column} IS NOT NULL" if period else "",
        group_by=(
            f"GROUP BY {', '.join(group)} ORDER BY {', '.join(f'{k} NULLS LAST' for k in group)}"
            if group
            else "HAVING count(*) > 0"
        ),
    )
    sql, named = _with_category_params(sql, params, config)
    agg = reader.df(sql, named)
    info = _line_info(agg)
    if agg.empty:
        table = pd.DataFrame(columns=[*group, *INDEX_COLUMNS])
    else:
        for column in agg.columns:
            if column not in group:
                agg[column] = pd.to_numeric(agg[column]).astype("float64")
        for key in group:
            agg[key] = agg[key].astype(object).where(agg[key].notna(), None)
        table = finish_aggregate(agg, group, info)
    return labelled_table(table, group, info, config, suppress)


def _with_category_params(
    sql: str, params: list[Any], config: ClinicalConfig
) -> tuple[str, dict[str, Any]]:
    """``sql`` with its ``?`` parameters named ``$p0 ...``, and the category CTEs' parameters."""
    cutoff_shift = _HALF_STEP if config.score_at_cutoff_is_clinical else -_HALF_STEP
    change_shift = -_HALF_STEP if config.change_at_threshold_is_reliable else _HALF_STEP
    named: dict[str, Any] = {f"p{i}": value for i, value in enumerate(params)}
    for i in range(len(params)):
        sql = sql.replace("?", f"$p{i}", 1)
    named.update(
        cut_child=config.ors_cutoff("child"),
        cut_adolescent=config.ors_cutoff("adolescent"),
        cut_adult=config.ors_cutoff("adult"),
        cutoff_shift=cutoff_shift,
        rc_boundary=config.ors_reliable_change + change_shift,
    )
    return sql, named


def category_query(
    select: str,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    service: str | Sequence[str] | None = None,
    team_id: str | Sequence[str] | None = None,
    therapist_id: str | Sequence[str] | None = None,
    age_group: str | Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    date_field: Literal["ended", "started"] = "ended",
    closed_only: bool = False,
) -> tuple[str, dict[str, Any]]:
    """A query over the client-episodes of :func:`episode_outcomes` with their PCOMS categories.

    The client-episodes (filters as for :func:`episode_outcomes`) are available to ``select``
    as the relation ``z``: the columns of :data:`OUTCOME_COLUMNS` plus ``has_change`` (at least
    two ORS), ``pre``/``post``/``change`` (NULL without a change), ``clinical_pre``,
    ``functional_post``, ``improvement``, ``worsening`` and ``category`` (recovered, improved,
    unchanged, deteriorated, harmed; NULL without a change), computed exactly as
    :func:`service_indices_sql` does (the same SQL), with the config's cutoffs and tie rules.

    Args:
        select: The statement that reads ``z``, e.g. ``"SELECT category, count(*) FROM z
            GROUP BY ALL"``. Its own parameters must be named (``$name``), not ``?``.
        config: Cutoffs, reliable change and tie rules.
        service: Filter, as for :func:`episode_outcomes`.
        team_id: Filter, as for :func:`episode_outcomes`.
        therapist_id: Filter, as for :func:`episode_outcomes`.
        age_group: Filter, as for :func:`episode_outcomes`.
        format: Filter, as for :func:`episode_outcomes`.
        start: Filter, as for :func:`episode_outcomes`.
        end: Filter, as for :func:`episode_outcomes`.
        date_field: Filter, as for :func:`episode_outcomes`.
        closed_only: Filter, as for :func:`episode_outcomes`.

    Returns:
        The SQL and its named parameters, for ``reader.df(sql, params)``.
    """
    outcomes, params = _outcomes_query(
        service, team_id, therapist_id, age_group, format, start, end, date_field, closed_only
    )
    sql = f"WITH o AS ({outcomes}),\n{_CATEGORY_CTES}\n{select}"
    return _with_category_params(sql, params, config)


def _line_info(agg: pd.DataFrame) -> dict[str, float]:
    """The severity line as :func:`_derived` reports it, from the SQL result's line columns."""
    if agg.empty:
        return {
            "intercept": np.nan,
            "slope": np.nan,
            "mean_change": np.nan,
            "sd_intake": np.nan,
            "n": 0.0,
        }
    row = agg.iloc[0]
    fitted = row["_line_n"] >= 2 and row["_line_var_intake"] > 0

    def value(name: str) -> float:
        return float(row[name]) if fitted else np.nan

    return {
        "intercept": value("_line_intercept"),
        "slope": value("_line_slope"),
        "mean_change": value("_line_mean_change"),
        "sd_intake": value("_line_sd_intake"),
        "n": float(row["_line_n"]),
    }


# --------------------------------------------------------------------------------------------
# Suppression
# --------------------------------------------------------------------------------------------


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    count_column: str = "clients",
    config: ClinicalConfig = DEFAULT_CONFIG,
    keys: Sequence[str] | None = None,
    subgroup_counts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Hide every aggregate over fewer than ``config.min_cell_size`` clients.

    The one helper every table shown to a group goes through. A row is suppressed when its
    ``count_column`` is below the minimum (:meth:`ClinicalConfig.cell_is_suppressed`: 4 is
    hidden, 5 is shown) or already missing. In a suppressed row every column except the group
    keys becomes NaN, **including the count itself**: a count of 1-4 is itself identifying
    ("two adolescents in team X this quarter"). A boolean ``suppressed`` column is added.

    Counts of clients in a sub-group (``clients_child`` ... in a shown row) are small cells
    too: a value from 1 to min_cell_size - 1 is replaced by NaN; when that hides exactly one
    sub-group count in a row, the smallest other non-zero one is hidden as well, so the hidden
    value cannot be recovered as the total minus the others (complementary suppression). Zeros
    are shown. Other statistics of a shown row rest on at least the minimum number of clients
    and are kept.

    Args:
        table: An aggregate table with one row per group.
        count_column: The column of distinct clients per row.
        config: Supplies ``min_cell_size``.
        keys: Group-key columns kept as they are; default ``table.attrs["group_keys"]``.
        subgroup_counts: Sub-group client counts; default the ``clients_<age group>`` columns
            present in the table.

    Returns:
        A copy of ``table`` with small cells hidden and ``suppressed`` added (attrs kept).

    Raises:
        KeyError: If ``count_column`` is not a column of ``table``.
    """
    if count_column not in table.columns:
        raise KeyError(f"count column {count_column!r} is not in the table")
    key_list = list(keys if keys is not None else table.attrs.get("group_keys", []))
    if subgroup_counts is None:
        subgroup_counts = [c for c in _AGE_COUNT_COLUMNS if c in table.columns]
    out = table  # not modified: the result is a new frame
    counts = pd.to_numeric(out[count_column], errors="coerce").astype("float64")
    mask = counts.isna().to_numpy() | np.asarray(
        config.cell_is_suppressed(counts.fillna(0).to_numpy()), dtype=bool
    )
    values = {c for c in out.columns if c not in key_list and c != "suppressed"}
    hide = bool(mask.any())
    # One frame built from arrays (counts and flags become floats, hidden or not, so they can
    # hold NaN); column-by-column assignment costs more than the work for small tables.
    columns: dict[str, Any] = {}
    for column in out.columns:
        series = out[column]
        kind = getattr(series.dtype, "kind", "O")
        if column not in values:
            columns[column] = series
        elif kind in "biuf":
            array = series.to_numpy(dtype="float64", na_value=np.nan)
            columns[column] = np.where(mask, np.nan, array) if hide else array
        else:
            columns[column] = series.where(~mask) if hide else series
    out = pd.DataFrame(columns, index=out.index)
    out.attrs = dict(table.attrs)

    sub = [c for c in subgroup_counts if c in out.columns]
    if sub:
        block = out[sub].to_numpy(dtype="float64", copy=True)
        small = (block > 0) & np.asarray(config.cell_is_suppressed(np.nan_to_num(block)))
        lonely = small.sum(axis=1) == 1
        candidates = np.where((block > 0) & ~small, block, np.inf)
        smallest = np.argmin(candidates, axis=1)
        has_candidate = np.isfinite(candidates.min(axis=1)) if len(block) else lonely
        extra = np.zeros_like(small)
        rows = np.flatnonzero(lonely & has_candidate)
        extra[rows, smallest[rows]] = True
        block[small | extra] = np.nan
        out[sub] = block
    out["suppressed"] = mask
    return out
