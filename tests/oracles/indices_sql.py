"""Service indices computed in DuckDB, one row per group: the SQL twin of ``service_indices``.

``service_indices_sql(reader, by=..., period=..., **filters)`` gives the table of
``service_indices(episode_outcomes(reader, **filters), by=..., period=...)`` with every
statistic aggregated in SQL, so two independent computations of each index check each other
(tests/unit/test_indices.py compares them for every grouping and tie rule). No page uses it:
the service dashboard aggregates its own stored facts. It is built only from the package's
public parts: the client-episodes with their PCOMS categories from
:func:`fitdata.analytics.indices.category_query`, and the effect sizes, intervals and
suppression of :func:`~fitdata.analytics.indices.finish_aggregate` and
:func:`~fitdata.analytics.indices.labelled_table`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.analytics.indices import (
    INDEX_COLUMNS,
    OUTCOME_COLUMNS,
    category_query,
    finish_aggregate,
    labelled_table,
)
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader

__all__ = ["service_indices_sql"]

_PERIOD_SQL = {
    "month": "strftime({d}, '%Y-%m')",
    "quarter": "CAST(year({d}) AS VARCHAR) || 'Q' || CAST(quarter({d}) AS VARCHAR)",
    "year": "CAST(year({d}) AS VARCHAR)",
}
_DATE_FIELDS = ("ended", "started")

# Reads z (client-episodes with their categories); the nested WITH sees z. The severity
# reference as service_indices fits it by default: one line per service over the change set
# of z. Each client-episode is adjusted against its own service's line and standardised by
# that service's SD of intake; the lines come back as extra rows (_is_line), in the same query.
_INDICES_SELECT = """
SELECT * FROM (
WITH line AS (
    SELECT service, count(*) AS n, regr_slope(change, pre) AS slope,
           regr_intercept(change, pre) AS intercept, avg(change) AS mean_change,
           stddev_samp(pre) AS sd_intake, var_pop(pre) AS var_intake
    FROM z WHERE has_change
    GROUP BY service
),
w AS (
    SELECT z.*, {period} AS period,
           CASE WHEN line.n >= 2 AND line.var_intake > 0
                THEN (z.change - (line.intercept + line.slope * z.pre) + line.mean_change)
                     / line.sd_intake
           END AS adjusted,
           category IN ('recovered', 'improved') AS better,
           category IN ('deteriorated', 'harmed') AS worse
    FROM z LEFT JOIN line ON line.service IS NOT DISTINCT FROM z.service
),
agg AS (
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
       {age_counts}
FROM w
{period_filter}
{group_by}
)
SELECT *, false AS _is_line FROM agg
UNION ALL BY NAME
SELECT service AS _line_service, n AS _line_n, slope AS _line_slope,
       intercept AS _line_intercept, mean_change AS _line_mean_change,
       sd_intake AS _line_sd_intake, var_intake AS _line_var_intake, true AS _is_line
FROM line
) {order_by}
"""
_LINE_COLUMNS = ("n", "slope", "intercept", "mean_change", "sd_intake", "var_intake")


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
    """``service_indices`` of ``episode_outcomes`` with the filters, aggregated in DuckDB.

    Raises:
        ValueError: If a ``by`` column is unknown, ``period`` or ``date_column`` is not one of
            the allowed values, or a list filter is empty.
    """
    keys = list(by or [])
    unknown = [k for k in keys if k not in OUTCOME_COLUMNS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not columns of the outcomes")
    if period is not None and period not in _PERIOD_SQL:
        raise ValueError(f"period must be 'month', 'quarter' or 'year', not {period!r}")
    if date_column not in _DATE_FIELDS:
        raise ValueError(f"date_column {date_column!r} is not a column of the outcomes")
    group = [*keys, "period"] if period else keys
    select = _INDICES_SELECT.format(
        period=_PERIOD_SQL[period].format(d=date_column) if period else "NULL",
        keys_select="".join(f"{k}, " for k in group),
        age_counts=", ".join(
            f"count(DISTINCT client_id) FILTER (WHERE age_group = '{g}') AS clients_{g}"
            for g in AGE_GROUPS
        ),
        period_filter=f"WHERE {date_column} IS NOT NULL" if period else "",
        group_by=f"GROUP BY {', '.join(group)}" if group else "HAVING count(*) > 0",
        order_by=f"ORDER BY {', '.join(['_is_line', *(f'{k} NULLS LAST' for k in group)])}",
    )
    sql, params = category_query(
        select,
        config=config,
        service=service,
        team_id=team_id,
        therapist_id=therapist_id,
        age_group=age_group,
        format=format,
        start=start,
        end=end,
        date_field=date_field,
        closed_only=closed_only,
    )
    result = reader.df(sql, params)
    is_line = result["_is_line"].astype(bool)
    info = _reference(result.loc[is_line])
    line_columns = ["_is_line", "_line_service", *(f"_line_{c}" for c in _LINE_COLUMNS)]
    agg = result.loc[~is_line].drop(columns=line_columns).reset_index(drop=True)
    if agg.empty:
        table = pd.DataFrame(columns=[*group, *INDEX_COLUMNS])
    else:
        for column in agg.columns:
            if column not in group:
                agg[column] = pd.to_numeric(agg[column]).astype("float64")
        for key in group:
            agg[key] = agg[key].astype(object).where(agg[key].notna(), None)
        table = finish_aggregate(agg, group)
    return labelled_table(table, group, info, config, suppress)


def _reference(lines: pd.DataFrame) -> dict[Any, dict[str, float]]:
    """The severity reference as ``service_indices`` reports it: each service's line."""
    reference: dict[Any, dict[str, float]] = {}
    for row in lines.to_dict("records"):
        n, var = row["_line_n"], row["_line_var_intake"]
        fitted = n >= 2 and pd.notna(var) and var > 0
        service = None if pd.isna(row["_line_service"]) else row["_line_service"]
        reference[service] = {
            name: float(row[f"_line_{name}"]) if fitted else np.nan
            for name in ("intercept", "slope", "mean_change", "sd_intake")
        }
        reference[service]["n"] = float(n)
    return reference
