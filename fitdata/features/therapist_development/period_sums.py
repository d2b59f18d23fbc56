"""The outcome tables by period from sums per quarter: no client-episode is repeated.

:func:`outcomes_by_period` gives the table that :func:`~.tables.outcome_table` gives over the
rows repeated per level and rolling-year window, for every team and the service at once (or
for one therapist), in a fraction of the time: each client-episode is classified once, the
sums, sums of squares and counts behind every measure are added up per (group, quarter), and a
window adds up its quarters. A test compares the two.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.indices import suppress_small_cells
from fitdata.config import ClinicalConfig
from fitdata.features.therapist_development.tables import (
    GROUPINGS,
    ROLLING_QUARTERS,
    add_wilson_intervals,
    adjusted_changes,
    classify_improvement,
    outcome_columns,
    outcome_table,
    quarter_label,
    quarter_ordinals,
)

__all__ = ["PeriodBasis", "outcomes_by_period"]


class PeriodBasis(Protocol):
    """What the periods and the severity adjustment rest on (a ``ServiceComparison`` has it)."""

    #: Every quarter ordinal from the service's first to its last ending.
    quarters: list[int]
    #: The service's severity line (``intercept``, ``slope``, ``mean_change``, ``sd_intake``).
    severity_line: dict[str, float]
    #: Thresholds, tie rules and the minimum cell size.
    config: ClinicalConfig


def outcomes_by_period(
    rows: pd.DataFrame,
    grouping: str,
    comparison: PeriodBasis,
    improvement: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    therapist: bool = False,
) -> pd.DataFrame:
    """The team and service outcome table by period, without repeating client-episodes.

    The straightforward computation repeats every client-episode once per level and
    rolling-year window (8 copies) and runs :func:`~.tables.outcome_table` over them: 20 s at
    ten million sessions (``tests/oracles/therapist_development.py`` keeps it, and a test
    compares the two tables). Here each client-episode is classified once
    (:func:`fitdata.analytics.change.pcoms_change`, the function ``service_indices`` uses),
    the sums, sums of squares and counts behind every measure are added up per (team or
    service, quarter), and a window adds up its quarters. Distinct clients are counted on
    (window, client) pairs. The measures are then computed as :func:`~.tables.outcome_table`
    computes them (same formulas).

    Args:
        rows: The service's closed client-episodes (columns of
            :func:`fitdata.analytics.indices.episode_outcomes`), one row each (not repeated
            per level).
        grouping: One of :data:`GROUPINGS`.
        comparison: Supplies the quarters, the severity line and the config.
        improvement: :func:`classify_improvement` of ``rows`` when already computed.
        therapist: One group, level ``"therapist"`` (keys ``level``, ``period``): the
            therapist's own table. Every row's ending must lie in the service's span of
            quarters.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
    config, line = comparison.config, comparison.severity_line
    keys = ["level", "period"] if therapist else ["level", "team_id", "period"]
    quarters = comparison.quarters
    if rows.empty or not quarters:
        return outcome_table(rows.iloc[0:0].assign(level="", period=""), keys, line, config)
    first_quarter, n_quarters = quarters[0], len(quarters)

    n = len(rows)
    if therapist:
        copies, teams = 1, pd.Index([])
        team_codes = np.zeros(n, dtype=np.int64)
    else:
        copies = 2  # each row for its team, and for the service
        team_codes, teams = pd.factorize(rows["team_id"].astype(object), sort=True)
    client_codes, _ = pd.factorize(rows["client_id"].astype(object))
    quarter = quarter_ordinals(rows["ended"]) - first_quarter
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    pre = np.where(has_change, first, np.nan)
    post = np.where(has_change, last, np.nan)
    recovered, improved = improvement or classify_improvement(rows, config)
    closed = rows["ended"].notna().to_numpy()
    unplanned = closed & (rows["end_type"].to_numpy(dtype=object) == "unplanned")
    adjusted = adjusted_changes(rows, line).to_numpy(dtype="float64")

    def zero(values: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(values), 0.0, values)

    per_row = {
        "rows": np.ones(n),
        "n_change": has_change.astype(float),
        "pre": zero(pre),
        "pre2": zero(pre * pre),
        "post": zero(post),
        "post2": zero(post * post),
        "prepost": zero(pre * post),
        "recovered": recovered.astype(float),
        "improved": improved.astype(float),
        "closed": closed.astype(float),
        "unplanned": unplanned.astype(float),
        "n_first": (~np.isnan(first)).astype(float),
        "first": zero(first),
        "n_adjusted": (~np.isnan(adjusted)).astype(float),
        "adjusted": zero(adjusted),
        "adjusted2": zero(adjusted * adjusted),
    }
    n_groups = 1 if therapist else len(teams) + 1  # every team, then the service
    owner = np.concatenate([team_codes, np.full(n, len(teams))][:copies]).astype(np.int64)
    cell = np.tile(quarter, copies) + owner * n_quarters
    size = n_groups * n_quarters
    sums = {
        name: np.bincount(cell, weights=np.tile(v, copies), minlength=size).reshape(
            n_groups, n_quarters
        )
        for name, v in per_row.items()
    }
    # Distinct clients: sort the (group, client, quarter) keys once; a client counts in a
    # window when one of their quarters lies in it. Going through a client's quarters in
    # order, quarter q adds the windows q..q+3 not already covered by their previous quarter:
    # +1 where that run starts, -1 after it ends; a running sum gives each window's count.
    window_length = 1 if grouping == "quarter" else ROLLING_QUARTERS
    key = np.sort(
        (owner * (int(client_codes.max()) + 1) + np.tile(client_codes, copies)) * n_quarters
        + np.tile(quarter, copies)
    )
    key = key[np.concatenate([[True], np.diff(key) != 0])]  # one row per (group, client, q)
    pair_quarter = key % n_quarters
    person = key // n_quarters
    pair_group = person // (int(client_codes.max()) + 1)
    same_person = np.concatenate([[False], person[1:] == person[:-1]])
    previous = np.concatenate([[0], pair_quarter[:-1]])
    start = np.where(same_person, np.maximum(pair_quarter, previous + window_length), pair_quarter)
    stop = pair_quarter + window_length  # first window no longer covered
    covered = start < stop
    width = n_quarters + window_length + 1
    steps = np.bincount(
        pair_group[covered] * width + start[covered], minlength=n_groups * width
    ) - np.bincount(pair_group[covered] * width + stop[covered], minlength=n_groups * width)
    clients = np.cumsum(steps.reshape(n_groups, width), axis=1)[:, :n_quarters]

    if grouping == "quarter":
        first_window = 0
        window_sums = sums
    else:
        first_window = ROLLING_QUARTERS - 1
        window_sums = {
            name: sum(
                np.pad(values, ((0, 0), (shift, 0)))[:, :n_quarters]
                for shift in range(ROLLING_QUARTERS)
            )
            for name, values in sums.items()
        }

    group_index, window_index = np.nonzero(window_sums["rows"][:, first_window:] > 0)
    window_index = window_index + first_window

    def pick(values: np.ndarray) -> np.ndarray:
        return values[group_index, window_index]

    got = {name: pick(values) for name, values in window_sums.items()}
    n_change = got["n_change"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pre = got["pre"] / n_change
        mean_post = got["post"] / n_change
        var_pre = (got["pre2"] - n_change * mean_pre**2) / (n_change - 1)
        var_post = (got["post2"] - n_change * mean_post**2) / (n_change - 1)
        cov = (got["prepost"] - n_change * mean_pre * mean_post) / (n_change - 1)
        var_pre = np.where(n_change >= 2, np.maximum(var_pre, 0.0), np.nan)
        var_post = np.where(n_change >= 2, np.maximum(var_post, 0.0), np.nan)
        pre_sd = np.sqrt(var_pre)
        d = (mean_post - mean_pre) / np.where(pre_sd > 0, pre_sd, np.nan)
        r = cov / np.sqrt(var_pre * var_post)
        se = np.sqrt(2 * (1 - r) / n_change + d**2 / (2 * n_change))
        se = np.where(n_change >= 3, se, np.nan)
        n_adjusted = got["n_adjusted"]
        mean_adjusted = got["adjusted"] / n_adjusted
        var_adjusted = (got["adjusted2"] - n_adjusted * mean_adjusted**2) / (n_adjusted - 1)
        sd_adjusted = np.sqrt(np.where(n_adjusted >= 2, np.maximum(var_adjusted, 0.0), np.nan))
        half = np.where(n_adjusted >= 3, CRITICAL_VALUE * sd_adjusted / np.sqrt(n_adjusted), np.nan)
        pct_recovered = 100 * got["recovered"] / n_change
        pct_improved = 100 * got["improved"] / n_change
        pct_unplanned = 100 * got["unplanned"] / got["closed"]
        intake = got["first"] / got["n_first"]
    mean_adjusted = np.where(n_adjusted > 0, mean_adjusted, np.nan)
    sd = line["sd_intake"]
    is_team = group_index < len(teams)
    team_names = np.asarray(teams, dtype=object)
    labels = {
        "level": np.where(is_team, "team", "therapist" if therapist else "service"),
        "team_id": np.where(is_team, team_names[np.minimum(group_index, len(teams) - 1)], None)
        if len(teams)
        else np.full(len(group_index), None, dtype=object),
    }
    table = pd.DataFrame(
        {
            **{key: labels[key] for key in keys if key in labels},
            "period": [quarter_label(first_quarter + int(w)) for w in window_index],
            "clients": pick(clients).astype("int64"),
            "episodes_with_change": n_change.astype("int64"),
            "closed_episodes": got["closed"].astype("int64"),
            "intake_ors_mean": intake,
            "effect_size": d,
            "effect_size_ci_low": d - CRITICAL_VALUE * se,
            "effect_size_ci_high": d + CRITICAL_VALUE * se,
            "severity_adjusted_es": mean_adjusted / sd,
            "severity_adjusted_es_ci_low": (mean_adjusted - half) / sd,
            "severity_adjusted_es_ci_high": (mean_adjusted + half) / sd,
            "pct_reliable_improvement": pct_recovered + pct_improved,
            "pct_recovered": pct_recovered,
            "pct_unplanned": pct_unplanned,
        }
    )
    add_wilson_intervals(
        table,
        {
            "pct_reliable_improvement": n_change,
            "pct_recovered": n_change,
            "pct_unplanned": got["closed"],
        },
    )
    table = table.sort_values(keys, kind="stable", na_position="last")[outcome_columns(keys)]
    for key in keys:
        table[key] = table[key].astype("category")
    table = table.reset_index(drop=True)
    table.attrs = {"group_keys": keys}
    return suppress_small_cells(
        table, config=config, keys=keys, subgroup_counts=[], gate_change=True
    )
