"""A selection's tables from the kernel's facts: add up the chosen cells, count clients.

Every table is that of :func:`fitdata.analytics.indices.service_indices` (same formulas, same
categories and tie rules), computed from the per-cell sums of :mod:`.facts`: a filter change
selects cells and adds them up with ``numpy.bincount`` — every mean, share and variance
(exact: integer sums, products in extended precision) and the severity reference from its
sums. Nothing is read from the database and no per-episode frame is built
(``tests/unit/test_service_equivalence.py`` compares every table with ``service_indices``).

The severity reference is **one line per service**, fitted over every closed client-episode
with change of the service's teams in the facts (its whole history, whatever the filters):
the reference of :func:`fitdata.analytics.indices.severity_reference` over
``episode_outcomes(closed_only=True)``. A team-quarter therefore has the same
severity-adjusted effect size with or without a service, age or format filter elsewhere on
the page, and the same as on the therapist development page and in the report
(``tests/integration/test_severity_agreement.py``).

Four groupings are made of one population: the period (one row), the teams over the period,
the quarters of the trend window and each team's quarters. The tables leave this module
unsuppressed; :func:`fitdata.features.service.linked.linked_suppression` hides the four
together (small cells and their complements, so none is a total minus its parts) before
anything is shown, and :func:`suppressed_table` hides the small cells of a single table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.indices import (
    INDEX_COLUMNS,
    finish_aggregate,
    labelled_table,
    suppress_small_cells,
)
from fitdata.config import AGE_GROUPS, ClinicalConfig
from fitdata.features.service.facts import CellFacts, EpisodeFacts, SessionFacts, row_groups
from fitdata.features.service.options import ServiceFilters
from fitdata.vocabulary import FORMATS

__all__ = [
    "Selection",
    "completeness_tables",
    "index_tables",
    "selection",
    "suppressed_table",
]


def _month_of(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _quarter_label(quarter: np.ndarray) -> list[str]:
    return [f"{q // 4}Q{q % 4 + 1}" for q in quarter.tolist()]


@dataclass(frozen=True)
class Selection:
    """The population (service, age group, format, months) and the period, as codes."""

    service: str | None
    age: int | None
    fmt: int | None
    first_month: int
    last_month: int
    period_first: int
    period_last: int


def selection(filters: ServiceFilters, start: dt.date, window_end: dt.date) -> Selection:
    """The filters as codes of the facts, over the months ``start`` to ``window_end``."""
    return Selection(
        service=filters.service,
        age=None if filters.age_group is None else AGE_GROUPS.index(filters.age_group),
        fmt=None if filters.format is None else FORMATS.index(filters.format),
        first_month=_month_of(start),
        last_month=_month_of(window_end),
        period_first=_month_of(filters.period.start),
        period_last=_month_of(filters.period.end),
    )


def _population(
    chosen: Selection,
    team_service: np.ndarray,
    team: np.ndarray,
    month: np.ndarray,
    age: np.ndarray,
    fmt: np.ndarray,
) -> np.ndarray:
    keep = (month >= chosen.first_month) & (month <= chosen.last_month)
    if chosen.service is not None:
        keep &= (team_service == chosen.service)[team]
    if chosen.age is not None:
        keep &= age == chosen.age
    if chosen.fmt is not None:
        keep &= fmt == chosen.fmt
    return keep


@dataclass(frozen=True)
class _Grouping:
    """One way of grouping the population: cells and rows to group numbers, and row keys."""

    cell_group: np.ndarray
    cell_keep: np.ndarray
    row_group: Callable[[np.ndarray], np.ndarray]
    row_keep: np.ndarray
    by_team: bool
    n: int
    keys: dict[str, Any]


def _groupings(
    facts: CellFacts, chosen: Selection, team_ids: np.ndarray, team_service: np.ndarray
) -> tuple[dict[str, _Grouping], np.ndarray]:
    """The period, teams, quarters and team-quarters of the population; and its cell mask."""
    n_teams = len(team_ids)
    first_quarter = chosen.first_month // 3
    n_quarters = chosen.last_month // 3 - first_quarter + 1
    labels = np.array(
        _quarter_label(np.arange(first_quarter, first_quarter + n_quarters)), dtype=object
    )
    keep_cells = _population(
        chosen, team_service, facts.cell_team, facts.cell_month, facts.cell_age, facts.cell_fmt
    )
    cell_team = facts.cell_team.astype(np.int64)
    cell_quarter = facts.cell_month.astype(np.int64) // 3 - first_quarter
    cell_in = (facts.cell_month >= chosen.period_first) & (facts.cell_month <= chosen.period_last)
    rows = facts.rows
    keep = _population(chosen, team_service, rows.team, rows.month, rows.age, rows.fmt)
    groups = row_groups(rows, first_quarter, n_quarters)
    row_in = (rows.month >= chosen.period_first) & (rows.month <= chosen.period_last)
    period_cells, period_rows = keep_cells & cell_in, keep & row_in
    return {
        "period": _Grouping(
            np.zeros(len(cell_team), dtype=np.int64),
            period_cells,
            groups["period"],
            period_rows,
            False,
            1,
            {},
        ),
        "teams": _Grouping(
            cell_team,
            period_cells,
            groups["teams"],
            period_rows,
            True,
            n_teams,
            {"team_id": team_ids},
        ),
        "quarters": _Grouping(
            cell_quarter,
            keep_cells,
            groups["quarters"],
            keep,
            False,
            n_quarters,
            {"quarter": labels},
        ),
        "team_quarters": _Grouping(
            cell_team * n_quarters + cell_quarter,
            keep_cells,
            groups["team_quarters"],
            keep,
            True,
            n_teams * n_quarters,
            {"team_id": np.repeat(team_ids, n_quarters), "quarter": np.tile(labels, n_teams)},
        ),
    }, keep_cells


def _grouped(sums: dict[str, np.ndarray], grouping: _Grouping) -> dict[str, np.ndarray]:
    g = grouping.cell_group[grouping.cell_keep]
    return {
        name: np.bincount(g, weights=values[grouping.cell_keep], minlength=grouping.n)
        for name, values in sums.items()
    }


def _exact_variance(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, scale: float) -> np.ndarray:
    """Sample variance from the count, sum and sum of squares of integers (NaN when n < 2).

    The products are formed in extended precision, where they are exact for these sizes, so
    a group of equal values gets a variance of exactly 0 (as pandas gives).
    """
    n_l, s1_l, s2_l = (np.asarray(v, dtype=np.longdouble) for v in (n, s1, s2))
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (n_l * s2_l - s1_l * s1_l) / (n_l * (n_l - 1))
    variance = np.where(n >= 2, variance, np.nan).astype(np.float64)
    return variance / (scale * scale)


def _severity_line(sums: dict[str, float]) -> dict[str, float]:
    """The OLS line change = a + b * intake over one reference change set, from its sums."""
    n = sums["has_change"]
    sx, sy = sums["pre10"], sums["post10"] - sums["pre10"]
    sxx = sums["pre10_sq"]
    sxy = sums["pre_post"] - sums["pre10_sq"]
    info = {
        "intercept": np.nan,
        "slope": np.nan,
        "mean_change": np.nan,
        "sd_intake": np.nan,
        "n": float(n),
    }
    n_l, sx_l, sy_l = np.longdouble(n), np.longdouble(sx), np.longdouble(sy)
    spread = n_l * np.longdouble(sxx) - sx_l * sx_l
    if n >= 2 and spread > 0:
        slope = float((n_l * np.longdouble(sxy) - sx_l * sy_l) / spread)
        info.update(
            slope=slope,
            intercept=(sy - slope * sx) / n / 10,
            mean_change=sy / n / 10,
            sd_intake=float(np.sqrt(_exact_variance(np.array([n]), [sx], [sxx], 10.0)[0])),
        )
    return info


_LINE_SUMS = ("has_change", "pre10", "post10", "pre10_sq", "pre_post")


def _severity_reference(facts: EpisodeFacts) -> tuple[dict[Any, dict[str, float]], np.ndarray]:
    """Each service's line over all its cells, and each cell's standardised adjusted change.

    Returns:
        The reference (service -> line, as
        :func:`fitdata.analytics.indices.severity_reference` gives it) and, per cell, the sum
        over its change set of (change - (a + b * intake) + mean change) / SD of intake with its
        service's line (NaN where the service has no line).
    """
    services = np.asarray(facts.team_service, dtype=object)
    names = list(dict.fromkeys(services.tolist()))
    service_code = np.array([names.index(name) for name in services.tolist()], dtype=np.int64)
    cell_service = service_code[facts.cell_team.astype(np.int64)]
    by_service = {
        name: np.bincount(cell_service, weights=facts.cell_sums[name], minlength=len(names))
        for name in _LINE_SUMS
    }
    reference = {
        name: _severity_line({key: float(v[i]) for key, v in by_service.items()})
        for i, name in enumerate(names)
    }
    lines = [reference[name] for name in names]
    a, b, m, sd = (
        np.array([line[key] for line in lines], dtype=np.float64)[cell_service]
        for key in ("intercept", "slope", "mean_change", "sd_intake")
    )
    n = facts.cell_sums["has_change"]
    x = facts.cell_sums["pre10"] / 10
    y = (facts.cell_sums["post10"] - facts.cell_sums["pre10"]) / 10
    with np.errstate(invalid="ignore", divide="ignore"):
        standardised = (y - n * (a - m) - b * x) / sd
    return reference, standardised


def _mean(total: np.ndarray, count: np.ndarray, scale: float = 1.0) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count / scale, np.nan)


#: Percentages of client-episodes with change, and of all client-episodes: column, summed fact.
_PCT_OF_CHANGE = (
    ("pct_target", "target"),
    ("pct_recovered", "recovered"),
    ("pct_improved", "improved"),
    ("pct_unchanged", "unchanged"),
    ("pct_deteriorated", "deteriorated"),
    ("pct_harmed", "harmed"),
)
_PCT_OF_ALL = (
    ("pct_planned", "planned"),
    ("pct_unplanned", "unplanned"),
    ("pct_unplanned_with_effect", "unplanned_with"),
    ("pct_unplanned_without_effect", "unplanned_without"),
    ("pct_transferred", "transferred"),
)


def _index_table(
    sums: dict[str, np.ndarray],
    clients: np.ndarray,
    clients_by_age: np.ndarray,
    episodes: np.ndarray,
    keys: dict[str, Any],
    config: ClinicalConfig,
) -> pd.DataFrame:
    """The table of :func:`~fitdata.analytics.indices.service_indices` from per-group sums.

    ``sums`` holds ``adjusted`` and ``adjusted_n`` (the standardised adjusted changes against
    each service's line, and how many have one). The table carries no attrs: pandas
    deep-copies them on every operation, and the reference (a dict per service) made that
    cost more than the sums; it travels as ``index_tables(...)["info"]``.
    """
    present = sums["one"] > 0
    s = {name: values[present] for name, values in sums.items()}
    n_change = s["has_change"]
    change = s["post10"] - s["pre10"]
    pre_var = _exact_variance(n_change, s["pre10"], s["pre10_sq"], 10.0)
    columns: dict[str, Any] = {key: np.asarray(value)[present] for key, value in keys.items()}
    columns.update(
        clients=clients[present],
        episodes=episodes[present],
        client_episodes=s["one"],
        episodes_lt2_ors=s["one"] - n_change,
        episodes_with_change=n_change,
        intake_ors_mean=_mean(s["first_ors10"], s["ors_given"], 10.0),
        intake_srs_mean=_mean(s["first_srs10"], s["srs_given"], 10.0),
        sessions_mean=_mean(s["n_sessions"], s["one"]),
        sessions_sd=np.sqrt(_exact_variance(s["one"], s["n_sessions"], s["n_sessions_sq"], 1)),
        length_days_mean=_mean(s["days"], s["days_given"]),
        change_mean=_mean(change, n_change, 10.0),
        _pre_sd=np.sqrt(pre_var),
        _pre_var=pre_var,
        _post_var=_exact_variance(n_change, s["post10"], s["post10_sq"], 10.0),
        _sum_var=_exact_variance(
            n_change,
            s["pre10"] + s["post10"],
            s["pre10_sq"] + 2 * s["pre_post"] + s["post10_sq"],
            10.0,
        ),
        _adjusted=_mean(s["adjusted"], s["adjusted_n"]),
        closed_episodes=s["one"],
        sessions=s["n_sessions"],
        _ors_given=s["n_with_ors"],
        _srs_given=s["n_with_srs"],
    )
    for column, name in _PCT_OF_CHANGE:
        columns[column] = _mean(s[name], n_change)
    for column, name in _PCT_OF_ALL:
        columns[column] = _mean(s[name], s["one"])
    for i, group in enumerate(AGE_GROUPS):
        columns[f"clients_{group}"] = clients_by_age[present, i]
    key_list = list(keys)
    if present.any():
        agg = pd.DataFrame(columns, index=pd.RangeIndex(int(present.sum())))
        table = finish_aggregate(agg, key_list)
    else:
        table = pd.DataFrame(columns=[*key_list, *INDEX_COLUMNS])
    table = labelled_table(table, key_list, {}, config, False)
    table.attrs = {}
    return table


def _team_sums(
    team_ids: np.ndarray, clients: np.ndarray, sums: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each team's count and sums of intake (x) and change (y), in ORS points, for the model."""
    present = sums["one"] > 0
    change = sums["post10"] - sums["pre10"]
    return {
        "team_id": team_ids[present],
        "clients": clients[present],
        "n": sums["has_change"][present],
        "sx": sums["pre10"][present] / 10,
        "sy": change[present] / 10,
        "sxx": sums["pre10_sq"][present] / 100,
        "sxy": (sums["pre_post"] - sums["pre10_sq"])[present] / 100,
        "syy": (sums["pre10_sq"] - 2 * sums["pre_post"] + sums["post10_sq"])[present] / 100,
    }


def index_tables(facts: EpisodeFacts, chosen: Selection, config: ClinicalConfig) -> dict[str, Any]:
    """Headline, team, quarter and team-by-quarter indices of one population and period.

    Every table is adjusted for severity against the same reference: one line per service,
    over all its closed client-episodes with change (see the module docstring), as
    :func:`fitdata.analytics.indices.service_indices` computes it with
    ``reference=severity_reference(episode_outcomes(reader, closed_only=True))``.

    Returns:
        ``period``, ``teams``, ``quarters`` and ``team_quarters`` (unsuppressed tables, each
        with ``pct_lt2_ors``), ``info`` (the severity reference: each service's line) and
        ``team_sums`` (the teams' sums over the period, for the team model).
    """
    groupings, _ = _groupings(facts, chosen, facts.team_ids, facts.team_service)
    info, standardised = _severity_reference(facts)
    has_line = ~np.isnan(standardised)
    cell_sums = {
        **facts.cell_sums,
        "adjusted": np.where(has_line, standardised, 0.0),
        "adjusted_n": np.where(has_line, facts.cell_sums["has_change"], 0.0),
    }
    episode_flag = "episode_first" if chosen.age is None else "episode_first_in_age"
    tables: dict[str, Any] = {"info": info}
    for name, grouping in groupings.items():
        sums = _grouped(cell_sums, grouping)
        clients, by_age = facts.rows.distinct_clients(
            grouping.row_keep, grouping.row_group, grouping.n, by_team=grouping.by_team
        )
        assert by_age is not None
        table = _index_table(sums, clients, by_age, sums[episode_flag], grouping.keys, config)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["pct_lt2_ors"] = 100.0 * table["episodes_lt2_ors"] / table["client_episodes"]
        tables[name] = table
        if name == "teams":
            tables["team_sums"] = _team_sums(facts.team_ids, clients, sums)
    return tables


def completeness_tables(
    facts: SessionFacts, episode_facts: EpisodeFacts, chosen: Selection
) -> dict[str, pd.DataFrame]:
    """Session-date completeness of the population (all teams), unsuppressed.

    Returns:
        ``period``, ``teams``, ``quarters`` and ``team_quarters``: clients, sessions and the %
        of sessions with an ORS and with an SRS, one row per group with sessions.
    """
    groupings, _ = _groupings(facts, chosen, episode_facts.team_ids, episode_facts.team_service)
    frames = {}
    for name, grouping in groupings.items():
        sums = _grouped(facts.cell_sums, grouping)
        clients, _ = facts.rows.distinct_clients(
            grouping.row_keep,
            grouping.row_group,
            grouping.n,
            by_team=grouping.by_team,
            by_age=False,
        )
        sessions = sums["sessions"]
        present = sessions > 0
        frame = pd.DataFrame(
            {key: np.asarray(values)[present] for key, values in grouping.keys.items()},
            index=pd.RangeIndex(int(present.sum())),
        )
        frame["clients"] = clients[present].astype("int64")
        frame["sessions"] = sessions[present].astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["pct_sessions_with_ors"] = 100.0 * sums["with_ors"][present] / sessions[present]
            frame["pct_sessions_with_srs"] = 100.0 * sums["with_srs"][present] / sessions[present]
        frames[name] = frame
    return frames


def suppressed_table(table: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """``table`` with its small cells hidden (``indices.suppress_small_cells``), no attrs."""
    table = table.reset_index(drop=True)
    table.attrs = {}
    table = suppress_small_cells(table, config=config, keys=keys)
    table.attrs = {}  # pandas deep-copies attrs on every operation; these tables need none
    return table
