"""Therapist development tables from client-episode rows: pure pandas and NumPy, no reads.

Every table of the page is computed here from rows of
:func:`fitdata.analytics.indices.episode_outcomes` (plus the SRS counts the comparison adds),
for one therapist (keys ``level``) or for every team and the service at once (keys ``level``,
``team_id``): the periods a row belongs to, the severity line, the PCOMS improvement of each
client-episode, and the outcome, SRS and intake tables with their intervals and small-cell
suppression. The definitions are in :mod:`fitdata.features.therapist_development`.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE, pcoms_change
from fitdata.analytics.indices import (
    OUTCOME_COLUMNS,
    service_indices,
    suppress_small_cells,
)
from fitdata.analytics.indices import severity_line as indices_severity_line
from fitdata.analytics.intervals import wilson_interval
from fitdata.config import AGE_GROUPS, TIE_TOLERANCE, ClinicalConfig

__all__ = [
    "GROUPINGS",
    "INTAKE_BANDS",
    "LEVELS",
    "MEASURES",
    "ROLLING_QUARTERS",
    "SRS_BANDS",
    "SRS_FIRST_COLUMNS",
    "SRS_MAX",
    "Grouping",
    "add_wilson_intervals",
    "adjusted_changes",
    "classify_improvement",
    "finish_srs_profile",
    "intake_bands",
    "intake_mix_table",
    "outcome_columns",
    "outcome_table",
    "quarter_label",
    "quarter_ordinals",
    "severity_line",
    "srs_bands",
    "srs_first_table",
    "srs_profile_table",
    "team_and_service_rows",
    "with_periods",
]

Grouping = Literal["rolling_year", "quarter"]
#: Ways of grouping outcomes over time (the values of :data:`Grouping`).
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)
#: Who a row describes: this therapist, their team, their service.
LEVELS: tuple[str, ...] = ("therapist", "team", "service")
#: The outcome measures by period, each with ``<measure>_ci_low`` / ``_ci_high`` columns.
MEASURES: tuple[str, ...] = (
    "effect_size",
    "severity_adjusted_es",
    "pct_reliable_improvement",
    "pct_recovered",
    "pct_unplanned",
)
#: Bands of the first SRS: below ``srs_cutoff``; from the cutoff to below 40; exactly 40.
SRS_BANDS: tuple[str, ...] = ("below_cutoff", "cutoff_to_39", "max_40")
#: Bands of the intake ORS relative to the client's age-group cutoff: more than two
#: reliable-change steps below it; below it; at or above it (non-clinical).
INTAKE_BANDS: tuple[str, ...] = ("well_below", "below", "non_clinical")

#: Quarters in a rolling year.
ROLLING_QUARTERS = 4
#: The SRS ceiling ("40 every time", the ``max_40`` band).
SRS_MAX = 40.0
#: Columns of :func:`srs_first_table` after the group keys (then ``suppressed``).
SRS_FIRST_COLUMNS: tuple[str, ...] = (
    "srs_band",
    "clients",
    "episodes_with_change",
    "change_mean",
    "pct_reliable_improvement",
    "pct_reliable_improvement_ci_low",
    "pct_reliable_improvement_ci_high",
)

# The columns service_indices reads, and the group keys: only these are repeated per window.
_INDEX_INPUTS = frozenset(OUTCOME_COLUMNS).difference(
    {"service", "therapist_id", "format", "first_session", "last_session"}
) | {"level"}


# --------------------------------------------------------------------------------------------
# Periods, the severity line and each client-episode's improvement
# --------------------------------------------------------------------------------------------


def quarter_label(ordinal: int) -> str:
    """The label of a quarter ordinal (year * 4 + quarter - 1), e.g. ``"2026Q3"``."""
    return f"{ordinal // 4}Q{ordinal % 4 + 1}"


def quarter_ordinals(dates: pd.Series) -> np.ndarray:
    """Each date's quarter as an ordinal, year * 4 + quarter - 1 (the next quarter is one more)."""
    stamps = pd.to_datetime(dates)
    return (stamps.dt.year * 4 + stamps.dt.quarter - 1).to_numpy(dtype="int64")


def with_periods(rows: pd.DataFrame, grouping: str, quarters: list[int]) -> pd.DataFrame:
    """Add ``period``: the ending quarter, or every rolling-year window the row belongs to."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
    rows = rows[[c for c in rows.columns if c in _INDEX_INPUTS]].copy()
    # Categorical keys and identities: grouping and counting distinct values on codes is
    # several times faster than on strings, and the per-window copies repeat codes only.
    for column in ("episode_id", "client_id", "level", "team_id"):
        if column in rows.columns:
            rows[column] = rows[column].astype("category")
    ordinal = quarter_ordinals(rows["ended"])
    if grouping == "quarter":
        positions, windows = np.arange(len(rows)), ordinal
    else:
        # Each row once per window it belongs to (one take, no per-shift copies); only full
        # windows inside the service's span of endings.
        positions = np.repeat(np.arange(len(rows)), ROLLING_QUARTERS)
        windows = np.repeat(ordinal, ROLLING_QUARTERS) + np.tile(
            np.arange(ROLLING_QUARTERS), len(rows)
        )
        first = quarters[0] + ROLLING_QUARTERS - 1 if quarters else 0
        last = quarters[-1] if quarters else -1
        keep = (windows >= first) & (windows <= last)
        positions, windows = positions[keep], windows[keep]
    out = rows.iloc[positions].reset_index(drop=True)
    out["_window"] = windows
    windows = out["_window"].to_numpy()
    labels = {int(o): quarter_label(int(o)) for o in np.unique(windows)}
    out["period"] = pd.Series(windows, index=out.index).map(labels).astype("category")
    return out.drop(columns="_window")


def adjusted_changes(rows: pd.DataFrame, line: dict[str, float]) -> pd.Series:
    """Each change-set row's change adjusted for intake with the service's line (NaN otherwise)."""
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    change = last - first
    adjusted = change - (line["intercept"] + line["slope"] * first) + line["mean_change"]
    return pd.Series(np.where(has_change, adjusted, np.nan), index=rows.index)


def severity_line(rows: pd.DataFrame) -> dict[str, float]:
    """The severity reference line of one service's closed client-episodes.

    :func:`fitdata.analytics.indices.severity_line` over the change set of ``rows`` (the
    service's closed client-episodes, its whole history): the one reference the service page,
    this page and the report adjust against (Seidel, Miller & Chow 2014, sample-based; see
    :mod:`fitdata.analytics.indices`).
    """
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    return indices_severity_line(first[has_change], (last - first)[has_change])


def classify_improvement(
    rows: pd.DataFrame, config: ClinicalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each client-episode recovered / improved (PCOMS, first to last ORS).

    As ``service_indices`` classifies them: :func:`fitdata.analytics.change.pcoms_change` over the
    change set (two or more ORS); False outside it.
    """
    n = len(rows)
    has_change = rows["n_with_ors"].to_numpy() >= 2
    recovered = np.zeros(n, dtype=bool)
    improved = np.zeros(n, dtype=bool)
    if has_change.any():
        index = np.flatnonzero(has_change)
        category = pcoms_change(
            pd.Series(rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)[index]),
            pd.Series(rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)[index]),
            rows["age_group"].iloc[index].reset_index(drop=True),
            config=config,
        )["category"].to_numpy(dtype=object)
        recovered[index] = category == "recovered"
        improved[index] = category == "improved"
    return recovered, improved


def team_and_service_rows(rows: pd.DataFrame, service: str) -> pd.DataFrame:
    """Each row twice: once for its team, once for the service."""
    team = rows.assign(level="team")
    whole = rows.assign(level="service", team_id=None)
    whole["team_id"] = whole["team_id"].astype("object")
    return pd.concat([team, whole], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Tables, suppressed
# --------------------------------------------------------------------------------------------


def outcome_columns(keys: list[str]) -> list[str]:
    """The columns of an outcome table: the keys, the counts, each measure with its interval."""
    return [
        *keys,
        "clients",
        "episodes_with_change",
        "closed_episodes",
        "intake_ors_mean",
        *(f"{m}{suffix}" for m in MEASURES for suffix in ("", "_ci_low", "_ci_high")),
    ]


def add_wilson_intervals(table: pd.DataFrame, totals: dict[str, np.ndarray]) -> None:
    """Add ``<measure>_ci_low``/``_ci_high``: the Wilson interval of each percentage.

    Args:
        table: Holds each measure as a percentage (0-100).
        totals: Per measure, its denominator per row (the successes are recovered from the
            percentage and rounded to a whole number).
    """
    for measure, total in totals.items():
        successes = np.round(table[measure].to_numpy(dtype="float64") / 100 * total)
        low, high = wilson_interval(successes, total)
        table[f"{measure}_ci_low"], table[f"{measure}_ci_high"] = low, high


def outcome_table(
    rows: pd.DataFrame, keys: list[str], line: dict[str, float], config: ClinicalConfig
) -> pd.DataFrame:
    """Outcome measures with intervals per group of ``keys``, suppressed.

    The straightforward computation: :func:`fitdata.analytics.indices.service_indices` over the
    rows (already repeated per period by :func:`with_periods`), plus the measures of this page.
    The therapist's own table comes from
    :func:`fitdata.features.therapist_development.period_sums.outcomes_by_period` instead, the
    same numbers without repeated rows; this one serves endings outside the service's span.
    """
    columns = outcome_columns(keys)
    if rows.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    table = service_indices(rows, by=keys, config=config, suppress=False)
    n_change = table["episodes_with_change"].to_numpy(dtype="float64")
    table["pct_reliable_improvement"] = table["pct_recovered"] + table["pct_improved"]
    add_wilson_intervals(
        table,
        {
            "pct_reliable_improvement": n_change,
            "pct_recovered": n_change,
            "pct_unplanned": table["closed_episodes"].to_numpy(dtype="float64"),
        },
    )

    adjusted = rows.assign(_adjusted=adjusted_changes(rows, line))
    stats = (
        adjusted.groupby(keys, dropna=False, observed=True)["_adjusted"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    stats = table[keys].merge(stats, on=keys, how="left")  # NaN keys match NaN keys
    sd = line["sd_intake"]
    mean = stats["mean"].to_numpy(dtype="float64")
    count = stats["count"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        half = CRITICAL_VALUE * stats["std"].to_numpy(dtype="float64") / np.sqrt(count)
    half = np.where(count >= 3, half, np.nan)
    table["severity_adjusted_es"] = mean / sd
    table["severity_adjusted_es_ci_low"] = (mean - half) / sd
    table["severity_adjusted_es_ci_high"] = (mean + half) / sd
    table = table[columns]
    table.attrs = {"group_keys": keys}
    return suppress_small_cells(
        table, config=config, keys=keys, subgroup_counts=[], gate_change=True
    )


# The counts of the SRS profile, each (column, aggregate) over the rows of a group; the SQL of
# comparison._SERVICE_SRS_PROFILE_SQL counts the same for a whole service.
_SRS_PROFILE_COUNTS: dict[str, tuple[str, str]] = {
    "clients": ("_srs_client", "nunique"),
    "srs_sessions": ("n_with_srs", "sum"),
    "srs_below": ("n_srs_below", "sum"),
    "eligible_clients": ("_eligible_client", "nunique"),
    "eligible_episodes": ("_eligible", "sum"),
    "always_40": ("_always", "sum"),
}


def srs_profile_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """% of sessions below the SRS cutoff and % of episodes at 40 every time, suppressed."""
    minimum = config.srs_always_max_min_sessions
    work = rows.assign(
        _eligible=rows["n_with_srs"] >= minimum,
        _always=(rows["n_with_srs"] >= minimum) & (rows["n_srs_max"] == rows["n_with_srs"]),
        _eligible_client=rows["client_id"].where(rows["n_with_srs"] >= minimum),
        _srs_client=rows["client_id"].where(rows["n_with_srs"] > 0),
    )
    grouped = work.groupby(keys, dropna=False, observed=True, sort=True)
    table = grouped.agg(**_SRS_PROFILE_COUNTS).reset_index()
    return finish_srs_profile(table, keys, config)


def finish_srs_profile(
    table: pd.DataFrame, keys: list[str], config: ClinicalConfig
) -> pd.DataFrame:
    """Shares, intervals and suppression of the SRS profile counts (pandas or SQL)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        table["pct_sessions_below"] = 100 * table["srs_below"] / table["srs_sessions"]
        table["pct_always_40"] = 100 * table["always_40"] / table["eligible_episodes"]
    low, high = wilson_interval(table["srs_below"], table["srs_sessions"])
    table["pct_sessions_below_ci_low"], table["pct_sessions_below_ci_high"] = low, high
    low, high = wilson_interval(table["always_40"], table["eligible_episodes"])
    table["pct_always_40_ci_low"], table["pct_always_40_ci_high"] = low, high
    table.attrs = {"group_keys": keys}
    table = suppress_small_cells(table, config=config, keys=keys, subgroup_counts=[])
    # The all-40 share rests on the episodes with enough SRS: its own small-cell rule.
    always = [c for c in table.columns if c.startswith("pct_always_40")]
    part = table[[*keys, "eligible_clients", "eligible_episodes", "always_40", *always]]
    part = suppress_small_cells(
        part, count_column="eligible_clients", config=config, keys=keys, subgroup_counts=[]
    )
    for column in ("eligible_episodes", "always_40", *always):
        table[column] = part[column]
    table["eligible_clients"] = part["eligible_clients"]
    return table


def srs_bands(first_srs: pd.Series, config: ClinicalConfig) -> pd.Series:
    """Each first SRS's :data:`SRS_BANDS` band (None without one)."""
    values = first_srs.to_numpy(dtype="float64", na_value=np.nan)
    below = values < config.srs_cutoff - TIE_TOLERANCE
    at_max = values >= SRS_MAX - TIE_TOLERANCE
    band = np.select([below, at_max], ["below_cutoff", "max_40"], default="cutoff_to_39")
    return pd.Series(np.where(np.isnan(values), None, band), index=first_srs.index, dtype="object")


def srs_first_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """Outcome (% reliably improved, mean change) by the band of the first SRS, suppressed.

    ``rows`` carry ``_recovered`` and ``_improved`` (:func:`classify_improvement`), so the
    client-episodes are classified once; a test compares the result with ``service_indices``
    run per band (``tests/oracles/therapist_development.py``).
    """
    work = rows.assign(srs_band=srs_bands(rows["first_srs"], config))
    work = work[work["srs_band"].notna()]
    columns = [*keys, *SRS_FIRST_COLUMNS]
    if work.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    has_change = work["n_with_ors"].to_numpy() >= 2
    first = work["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = work["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    work = work.assign(
        _has_change=has_change.astype("float64"),
        _change=np.where(has_change, last - first, np.nan),
        _recovered=np.where(has_change, work["_recovered"], np.nan),
        _improved=np.where(has_change, work["_improved"], np.nan),
    )
    table = (
        work.groupby([*keys, "srs_band"], dropna=False, sort=True, observed=True)
        .agg(
            clients=("client_id", "nunique"),
            episodes_with_change=("_has_change", "sum"),
            change_mean=("_change", "mean"),
            pct_recovered=("_recovered", "mean"),
            pct_improved=("_improved", "mean"),
        )
        .reset_index()
    )
    table["episodes_with_change"] = table["episodes_with_change"].astype("int64")
    table["pct_reliable_improvement"] = (
        100.0 * table["pct_recovered"] + 100.0 * table["pct_improved"]
    )
    n = table["episodes_with_change"].to_numpy(dtype="float64")
    add_wilson_intervals(table, {"pct_reliable_improvement": n})
    table = table[columns]
    table.attrs = {"group_keys": [*keys, "srs_band"]}
    return suppress_small_cells(table, config=config, subgroup_counts=[])


def intake_bands(rows: pd.DataFrame, config: ClinicalConfig) -> pd.Series:
    """Each row's :data:`INTAKE_BANDS` band of its first ORS (None without one)."""
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    cutoff = np.full(len(rows), np.nan)
    ages = rows["age_group"].to_numpy(dtype="object")
    for group in AGE_GROUPS:
        cutoff[ages == group] = config.ors_cutoff(group)
    if config.score_at_cutoff_is_clinical:
        clinical = first <= cutoff + TIE_TOLERANCE
    else:
        clinical = first < cutoff - TIE_TOLERANCE
    well_below = first < cutoff - 2 * config.ors_reliable_change - TIE_TOLERANCE
    band = np.select([well_below, clinical], ["well_below", "below"], default="non_clinical")
    return pd.Series(np.where(np.isnan(first), None, band), index=rows.index, dtype="object")


def intake_mix_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """Clients and client-episodes per intake band, suppressed (sub-group rule included)."""
    work = rows.assign(intake_band=intake_bands(rows, config))
    work = work[work["intake_band"].notna()]
    band_clients = [f"clients_{band}" for band in INTAKE_BANDS]
    band_episodes = [f"episodes_{band}" for band in INTAKE_BANDS]
    columns = [*keys, "clients", "client_episodes", *band_clients, *band_episodes]
    if work.empty:
        return pd.DataFrame(
            columns=[*columns, *(f"pct_{b}" for b in INTAKE_BANDS), "intake_ors_mean", "suppressed"]
        )
    grouped = work.groupby(keys, dropna=False, observed=True, sort=True)
    table = grouped.agg(
        clients=("client_id", "nunique"),
        client_episodes=("client_id", "size"),
        intake_ors_mean=("first_ors", "mean"),
    )
    by_band = work.groupby([*keys, "intake_band"], dropna=False, observed=True)
    clients = by_band["client_id"].nunique().unstack("intake_band")
    episodes = by_band["client_id"].size().unstack("intake_band")
    clients = clients.reindex(columns=list(INTAKE_BANDS)).fillna(0).astype("int64")
    episodes = episodes.reindex(columns=list(INTAKE_BANDS)).fillna(0).astype("int64")
    clients.columns, episodes.columns = band_clients, band_episodes
    table = table.join(clients).join(episodes).reset_index()
    table.attrs = {"group_keys": keys}
    table = suppress_small_cells(table, config=config, keys=keys, subgroup_counts=band_clients)
    for band, count, eps in zip(INTAKE_BANDS, band_clients, band_episodes, strict=True):
        hidden = table[count].isna()
        table[eps] = table[eps].where(~hidden)
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"pct_{band}"] = 100 * table[eps] / table["client_episodes"]
    return table
