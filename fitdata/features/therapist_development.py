"""Therapist development: one therapist's outcomes over time, beside their team and service.

The page this feeds is written for a therapist's *own* development (Feedback-Informed Treatment's
"me as a therapist" level). It never ranks colleagues and never names another therapist: the
team and the service appear only as aggregates, and every aggregate over fewer than
``config.min_cell_size`` clients is hidden by
:func:`fitdata.analytics.indices.suppress_small_cells`.

Data access is designed for access control (issue 7). Every read goes through one
:class:`TherapistScope`, constructed with a reader and **one** therapist id. Its methods return
only that therapist's client-episodes (as aggregates) and aggregates of the therapist's own team
and service; the team and the service are looked up from the ``therapists`` table, never passed
in. A later issue can construct the scope from the logged-in user; the widgets never pass ids of
their own to a query.

What is compared (all over **closed** client-episodes, the client's own ratings):

* *therapist*: episodes whose ``episodes.therapist_id`` is this therapist (in any team);
* *team*: episodes of the therapist's current team (``therapists.team_id``), this therapist
  included;
* *service*: episodes of every team in that team's service.

Outcomes by period (:meth:`TherapistScope.outcomes`), grouped by the quarter of the ending date
(``"quarter"``) or by a rolling year (``"rolling_year"``: the point for 2026Q3 holds the episodes
that ended in 2025Q4 to 2026Q3; most therapists end only a few episodes a quarter, so single
quarters are often below the minimum cell size). Rows come from
:func:`fitdata.analytics.indices.service_indices` (``suppress=False``), then these are added here:

* **% reliably improved** = % recovered + % improved (PCOMS categories: a reliable
  improvement of at least ``ors_reliable_change`` points, with or without crossing the
  cutoff), over the change set (client-episodes with two or more ORS).
* **Intervals**: 95 % confidence intervals. Effect size: Becker (1988), from
  ``service_indices``. Percentages: Wilson score interval (Wilson 1927) with z = 1.959964 over
  the percentage's own denominator (change set, or closed client-episodes for unplanned
  endings). Severity-adjusted effect size: mean of the adjusted changes ± z·SD/√n, divided by
  the reference SD (the reference SD treated as fixed); NaN below 3 client-episodes, as for
  the effect size.
* **Severity-adjusted effect size** with **one** line for everybody: ``service_indices`` fits
  its OLS line (change on intake) over the set it is given, so the therapist's own rows would
  get their own line. Here the line of the *service's* closed change set (whole time span) is
  used for the therapist, the team and the service alike:
  (mean(change - (a + b·intake)) + mean_service(change)) / SD_service(intake). For the team and
  the service in ``"quarter"`` grouping this equals ``service_indices``' own column (tested).

Profiles over all closed episodes (no period): the SRS profile
(:meth:`TherapistScope.srs_profile`: % of the client's sessions with an SRS below
``srs_cutoff``; % of client-episodes with at least ``srs_always_max_min_sessions`` SRS that
were 40.0 every time; the Wilson interval of the session share treats sessions as
independent, which ignores their clustering within clients and so is too narrow), SRS at the
first session against the outcome
(:meth:`TherapistScope.srs_first_vs_outcome`) and the intake severity mix
(:meth:`TherapistScope.intake_mix`).

Speed: the team and service numbers do not depend on the therapist. They are computed once per
database version by :func:`service_comparison`, kept in the kernel and stored beside the
database (:mod:`fitdata.data.cache`, keyed on the file's version, the service, the
configuration and this code), so a new kernel reads them in milliseconds and choosing another
therapist runs only that therapist's queries: :func:`fitdata.analytics.indices.episode_outcomes`
filtered to the therapist and one query for the SRS counts per client-episode (sessions below the
SRS cutoff, sessions at 40), which ``episode_outcomes`` does not offer.

Computing the comparison (about 14 s at ten million sessions, was 45 s) avoids repeating rows:
the outcomes by period add up sums, sums of squares and counts per (team or service, quarter)
and a rolling year adds up its four quarters (:func:`_comparison_outcomes_fast`); the SRS profile
is counted in DuckDB per team with ``GROUPING SETS``; the other profiles group integer codes.
Tests compare each with the straightforward computation over repeated rows
(:func:`_comparison_outcomes`, :func:`_srs_profile_table`, :func:`_srs_first_table`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE, pcoms_change
from fitdata.analytics.indices import (
    OUTCOME_COLUMNS,
    episode_outcomes,
    service_indices,
    suppress_small_cells,
)
from fitdata.analytics.intervals import wilson_interval
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.data import cache
from fitdata.data.access import AGGREGATE_SCOPE, AccessDenied, User
from fitdata.data.cache import MemoryCache
from fitdata.data.store import Reader, StoreError
from fitdata.i18n import LANGUAGES, Translator
from fitdata.kernel_env import ENV_LANG

log = logging.getLogger(__name__)

__all__ = [
    "GROUPINGS",
    "INTAKE_BANDS",
    "LEVELS",
    "MEASURES",
    "SRS_BANDS",
    "ServiceComparison",
    "TherapistIdentity",
    "TherapistScope",
    "clear_comparison_cache",
    "service_comparison",
]

Grouping = Literal["rolling_year", "quarter"]
#: Ways of grouping outcomes over time.
GROUPINGS: tuple[Grouping, ...] = ("rolling_year", "quarter")
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

_CACHE_SIZE = 4
_ROLLING_QUARTERS = 4
_SRS_MAX = 40.0

# SRS counts per client-episode of the chosen closed episodes, added to the rows of
# fitdata.analytics.indices.episode_outcomes. {session_filter} narrows the session scan the same way
# episode_outcomes does (by team for a service, by the matching episodes for a therapist).
_SRS_COUNTS_SQL = """
SELECT
    episode_id,
    client_id,
    count(*) FILTER (WHERE srs_total::DOUBLE < $srs_below) AS n_srs_below,
    count(*) FILTER (WHERE srs_total = $srs_max) AS n_srs_max
FROM sessions
WHERE rater = 'client' AND srs_total IS NOT NULL {session_filter}
GROUP BY episode_id, client_id
"""
_THERAPIST_SESSIONS = (
    "AND episode_id IN (SELECT episode_id FROM episodes "
    "WHERE therapist_id = $therapist AND ended IS NOT NULL)"
)
# The SRS profile counts of every team of a service and of the service (the rows of
# _srs_profile_table's groupby, computed in DuckDB): the per client-episode counts as in
# _SRS_COUNTS_SQL and episode_outcomes' n_with_srs, over the closed episodes of the service.
_SERVICE_SRS_PROFILE_SQL = """
WITH per_episode AS (
    SELECT
        s.episode_id,
        s.client_id,
        count(s.srs_total) AS n_with_srs,
        count(*) FILTER (WHERE s.srs_total::DOUBLE < $srs_below) AS n_srs_below,
        count(*) FILTER (WHERE s.srs_total = $srs_max) AS n_srs_max
    FROM sessions AS s
    WHERE s.rater = 'client' AND s.srs_total IS NOT NULL
      AND s.team_id IN (SELECT team_id FROM teams WHERE service = $service)
      AND s.episode_id IN (SELECT episode_id FROM episodes WHERE ended IS NOT NULL)
    GROUP BY s.episode_id, s.client_id
),
rows AS (
    -- every closed client-episode of the service, as episode_outcomes lists them (an
    -- episode without an SRS still makes its team a row of the table)
    SELECT e.team_id, coalesce(p.client_id, e.client_id) AS client_id,
           coalesce(p.n_with_srs, 0) AS n_with_srs, coalesce(p.n_srs_below, 0) AS n_srs_below,
           coalesce(p.n_srs_max, 0) AS n_srs_max
    FROM episodes AS e
    JOIN teams AS t ON t.team_id = e.team_id
    LEFT JOIN per_episode AS p ON p.episode_id = e.episode_id
    JOIN clients AS c ON c.client_id = coalesce(p.client_id, e.client_id)
    WHERE t.service = $service AND e.ended IS NOT NULL
)
SELECT
    CASE WHEN grouping(team_id) = 1 THEN 'service' ELSE 'team' END AS level,
    team_id,
    count(DISTINCT client_id) FILTER (WHERE n_with_srs > 0) AS clients,
    sum(n_with_srs)::BIGINT AS srs_sessions,
    sum(n_srs_below)::BIGINT AS srs_below,
    count(DISTINCT client_id) FILTER (WHERE n_with_srs >= $minimum) AS eligible_clients,
    count(*) FILTER (WHERE n_with_srs >= $minimum) AS eligible_episodes,
    count(*) FILTER (WHERE n_with_srs >= $minimum AND n_srs_max = n_with_srs) AS always_40
FROM rows
GROUP BY GROUPING SETS ((team_id), ())
"""

_SERVICE_SESSIONS = (
    "AND team_id IN (SELECT team_id FROM teams WHERE service = $service) "
    "AND episode_id IN (SELECT episode_id FROM episodes WHERE ended IS NOT NULL)"
)


@dataclass(frozen=True)
class TherapistIdentity:
    """Who the scope is for, and which team and service they are compared with."""

    therapist_id: str
    name: str
    team_id: str
    team_name: str
    service: str


@dataclass
class ServiceComparison:
    """Team and service aggregates of one service, computed once per kernel.

    Attributes:
        service: The service's name.
        severity_line: The OLS line of change on intake over the service's closed change set
            (``intercept``, ``slope``, ``mean_change``, ``sd_intake``, ``n``).
        quarters: Every quarter (ordinal, year * 4 + quarter - 1) from the service's first to
            its last ending.
        outcomes: Per grouping: suppressed outcome rows with ``level`` (``"team"`` or
            ``"service"``), ``team_id`` (None for the service) and ``period``. Every grouping
            is computed with the rest; one missing from an older stored comparison is computed
            on first use (:meth:`outcomes_for`).
        srs_profile: Suppressed SRS profile rows, per team and for the service.
        srs_first: Suppressed SRS-at-first-session rows, per team and for the service.
        intake_mix: Suppressed intake severity rows, per team and for the service.
    """

    service: str
    severity_line: dict[str, float]
    quarters: list[int]
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)
    srs_profile: pd.DataFrame = field(default_factory=pd.DataFrame)
    srs_first: pd.DataFrame = field(default_factory=pd.DataFrame)
    intake_mix: pd.DataFrame = field(default_factory=pd.DataFrame)
    reader: Reader | None = field(default=None, repr=False)
    config: ClinicalConfig = field(default=DEFAULT_CONFIG, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    version: str | None = field(default=None, repr=False)

    def outcomes_for(self, grouping: str) -> pd.DataFrame:
        """The outcome rows for ``grouping``, computed (once) when first asked for."""
        with self.lock:
            if grouping not in self.outcomes:
                if grouping not in GROUPINGS or self.reader is None:
                    raise ValueError(
                        f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}"
                    )
                rows = episode_outcomes(self.reader, service=self.service, closed_only=True)
                self.outcomes[grouping] = _comparison_outcomes_fast(rows, grouping, self)
                _store_comparison(self)  # the next kernel finds this grouping too
            return self.outcomes[grouping]


# --------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------


def quarter_label(ordinal: int) -> str:
    """The label of a quarter ordinal (year * 4 + quarter - 1), e.g. ``"2026Q3"``."""
    return f"{ordinal // 4}Q{ordinal % 4 + 1}"


def _quarter_ordinals(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(dates)
    return (stamps.dt.year * 4 + stamps.dt.quarter - 1).to_numpy(dtype="int64")


def _srs_params(config: ClinicalConfig) -> dict[str, float]:
    # The same tie rule as ClinicalConfig.srs_below_cutoff: below the cutoff by more than the
    # tolerance; SRS totals are DECIMAL(4, 1), so 40 is compared exactly.
    return {"srs_below": config.srs_cutoff - TIE_TOLERANCE, "srs_max": _SRS_MAX}


# --------------------------------------------------------------------------------------------
# Computations over client-episode rows (pure, shared by the therapist and the comparison)
# --------------------------------------------------------------------------------------------


# The columns service_indices reads, and the group keys: only these are repeated per window.
_INDEX_INPUTS = (
    "episode_id",
    "client_id",
    "age_group",
    "end_type",
    "started",
    "ended",
    "n_sessions",
    "n_with_ors",
    "n_with_srs",
    "first_ors",
    "last_ors",
    "first_srs",
    "level",
    "team_id",
)


def _with_periods(rows: pd.DataFrame, grouping: str, quarters: list[int]) -> pd.DataFrame:
    """Add ``period``: the ending quarter, or every rolling-year window the row belongs to."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
    rows = rows[[c for c in rows.columns if c in _INDEX_INPUTS]].copy()
    # Categorical keys and identities: grouping and counting distinct values on codes is
    # several times faster than on strings, and the per-window copies repeat codes only.
    for column in ("episode_id", "client_id", "level", "team_id"):
        if column in rows.columns:
            rows[column] = rows[column].astype("category")
    ordinal = _quarter_ordinals(rows["ended"])
    if grouping == "quarter":
        positions, windows = np.arange(len(rows)), ordinal
    else:
        # Each row once per window it belongs to (one take, no per-shift copies); only full
        # windows inside the service's span of endings.
        positions = np.repeat(np.arange(len(rows)), _ROLLING_QUARTERS)
        windows = np.repeat(ordinal, _ROLLING_QUARTERS) + np.tile(
            np.arange(_ROLLING_QUARTERS), len(rows)
        )
        first = quarters[0] + _ROLLING_QUARTERS - 1 if quarters else 0
        last = quarters[-1] if quarters else -1
        keep = (windows >= first) & (windows <= last)
        positions, windows = positions[keep], windows[keep]
    out = rows.iloc[positions].reset_index(drop=True)
    out["_window"] = windows
    windows = out["_window"].to_numpy()
    labels = {int(o): quarter_label(int(o)) for o in np.unique(windows)}
    out["period"] = pd.Series(windows, index=out.index).map(labels).astype("category")
    return out.drop(columns="_window")


def _adjusted_changes(rows: pd.DataFrame, line: dict[str, float]) -> pd.Series:
    """Each change-set row's change adjusted for intake with the service's line (NaN otherwise)."""
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    change = last - first
    adjusted = change - (line["intercept"] + line["slope"] * first) + line["mean_change"]
    return pd.Series(np.where(has_change, adjusted, np.nan), index=rows.index)


def _outcome_table(
    rows: pd.DataFrame, keys: list[str], line: dict[str, float], config: ClinicalConfig
) -> pd.DataFrame:
    """Outcome measures with intervals per group of ``keys``, suppressed."""
    columns = [
        *keys,
        "clients",
        "episodes_with_change",
        "closed_episodes",
        "intake_ors_mean",
        *(f"{m}{suffix}" for m in MEASURES for suffix in ("", "_ci_low", "_ci_high")),
    ]
    if rows.empty:
        empty = pd.DataFrame(columns=[*columns, "suppressed"])
        return empty
    table = service_indices(rows, by=keys, config=config, suppress=False)
    n_change = table["episodes_with_change"].to_numpy(dtype="float64")
    n_closed = table["closed_episodes"].to_numpy(dtype="float64")
    table["pct_reliable_improvement"] = table["pct_recovered"] + table["pct_improved"]
    for measure, n in (
        ("pct_reliable_improvement", n_change),
        ("pct_recovered", n_change),
        ("pct_unplanned", n_closed),
    ):
        successes = np.round(table[measure].to_numpy(dtype="float64") / 100 * n)
        low, high = wilson_interval(successes, n)
        table[f"{measure}_ci_low"], table[f"{measure}_ci_high"] = low, high

    adjusted = rows.assign(_adjusted=_adjusted_changes(rows, line))
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
    return suppress_small_cells(table, config=config, keys=keys, subgroup_counts=[])


def _srs_profile_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """% of sessions below the SRS cutoff and % of episodes at 40 every time, suppressed."""
    minimum = config.srs_always_max_min_sessions
    work = rows.assign(
        _eligible=rows["n_with_srs"] >= minimum,
        _always=(rows["n_with_srs"] >= minimum) & (rows["n_srs_max"] == rows["n_with_srs"]),
        _eligible_client=rows["client_id"].where(rows["n_with_srs"] >= minimum),
        _srs_client=rows["client_id"].where(rows["n_with_srs"] > 0),
    )
    grouped = work.groupby(keys, dropna=False, observed=True, sort=True)
    table = grouped.agg(
        clients=("_srs_client", "nunique"),
        srs_sessions=("n_with_srs", "sum"),
        srs_below=("n_srs_below", "sum"),
        eligible_clients=("_eligible_client", "nunique"),
        eligible_episodes=("_eligible", "sum"),
        always_40=("_always", "sum"),
    ).reset_index()
    return _finish_srs_profile(table, keys, config)


def _finish_srs_profile(
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


def _srs_bands(first_srs: pd.Series, config: ClinicalConfig) -> pd.Series:
    values = first_srs.to_numpy(dtype="float64", na_value=np.nan)
    below = values < config.srs_cutoff - TIE_TOLERANCE
    at_max = values >= _SRS_MAX - TIE_TOLERANCE
    band = np.select([below, at_max], ["below_cutoff", "max_40"], default="cutoff_to_39")
    return pd.Series(np.where(np.isnan(values), None, band), index=first_srs.index, dtype="object")


def _srs_first_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """Outcome (% reliably improved, mean change) by the band of the first SRS, suppressed."""
    work = rows.assign(srs_band=_srs_bands(rows["first_srs"], config))
    work = work[work["srs_band"].notna()]
    columns = [*keys, "srs_band", "clients", "episodes_with_change", "change_mean",
               "pct_reliable_improvement", "pct_reliable_improvement_ci_low",
               "pct_reliable_improvement_ci_high"]  # fmt: skip
    if work.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    table = service_indices(work, by=[*keys, "srs_band"], config=config, suppress=False)
    table["pct_reliable_improvement"] = table["pct_recovered"] + table["pct_improved"]
    n = table["episodes_with_change"].to_numpy(dtype="float64")
    successes = np.round(table["pct_reliable_improvement"].to_numpy(dtype="float64") / 100 * n)
    low, high = wilson_interval(successes, n)
    table["pct_reliable_improvement_ci_low"], table["pct_reliable_improvement_ci_high"] = low, high
    table = table[columns]
    table.attrs = {"group_keys": [*keys, "srs_band"]}
    return suppress_small_cells(table, config=config, subgroup_counts=[])


def _intake_bands(rows: pd.DataFrame, config: ClinicalConfig) -> pd.Series:
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


def _intake_mix_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """Clients and client-episodes per intake band, suppressed (sub-group rule included)."""
    work = rows.assign(intake_band=_intake_bands(rows, config))
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


# --------------------------------------------------------------------------------------------
# The comparison (team and service), cached per kernel
# --------------------------------------------------------------------------------------------

_comparisons: MemoryCache[ServiceComparison] = MemoryCache(_CACHE_SIZE)


def clear_comparison_cache() -> None:
    """Forget every cached comparison (tests, or after a configuration change)."""
    _comparisons.clear()


def _levels(rows: pd.DataFrame, service: str) -> pd.DataFrame:
    """Each row twice: once for its team, once for the service."""
    team = rows.assign(level="team")
    whole = rows.assign(level="service", team_id=None)
    whole["team_id"] = whole["team_id"].astype("object")
    return pd.concat([team, whole], ignore_index=True)


def service_comparison(
    reader: Reader, service: str, *, config: ClinicalConfig = DEFAULT_CONFIG
) -> ServiceComparison:
    """Team and service aggregates of ``service``, computed once per file version.

    The cache key is the database file (path and identity: inode, size, modification time),
    the service and the configuration, so a writer's replacement of the file or another
    threshold file gives fresh numbers. At most a few comparisons are kept in the kernel; each
    is also stored beside the database (:mod:`fitdata.data.cache`), where the next kernel
    finds it.

    Args:
        reader: The database.
        service: The service (``teams.service``) to compare with.
        config: Thresholds, tie rules and the minimum cell size.

    Returns:
        The suppressed aggregates of every team of the service and of the service.
    """
    return _comparisons.get(
        reader, (service, config), lambda: _load_or_build_comparison(reader, service, config)
    )


def _stored_key(service: str, config: ClinicalConfig) -> dict[str, str]:
    """What a stored comparison depends on besides the database version."""
    from fitdata import config as config_module
    from fitdata.analytics import change, indices

    code = cache.source_fingerprint(sys.modules[__name__], indices, change, config_module)
    return {"service": service, "config": repr(config), "code": code}


def _load_or_build_comparison(
    reader: Reader, service: str, config: ClinicalConfig
) -> ServiceComparison:
    """The comparison from the cache file beside the database, or computed (and stored)."""
    version = cache.database_version(reader.path)
    key = _stored_key(service, config)
    payload = cache.load_json(reader, "development", key, version=version)
    if payload is not None:
        try:
            return _comparison_from_json(payload, reader, config, version)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring a stored comparison of %s: %s", reader.path, error)
    comparison = _build_comparison(reader, service, config)
    comparison.version = version
    _store_comparison(comparison)
    return comparison


def _store_comparison(comparison: ServiceComparison) -> None:
    """Write the comparison's tables (aggregates, small cells suppressed) beside the database."""
    if comparison.reader is None or comparison.version is None:
        return
    payload = {
        "service": comparison.service,
        "severity_line": comparison.severity_line,
        "quarters": comparison.quarters,
        "outcomes": {g: cache.frame_to_json(t) for g, t in comparison.outcomes.items()},
        "srs_profile": cache.frame_to_json(comparison.srs_profile),
        "srs_first": cache.frame_to_json(comparison.srs_first),
        "intake_mix": cache.frame_to_json(comparison.intake_mix),
    }
    key = _stored_key(comparison.service, comparison.config)
    cache.store_json(comparison.reader, "development", key, payload, comparison.version)


def _comparison_from_json(
    payload: dict, reader: Reader, config: ClinicalConfig, version: str
) -> ServiceComparison:
    return ServiceComparison(
        service=str(payload["service"]),
        severity_line={k: float(v) for k, v in payload["severity_line"].items()},
        quarters=[int(q) for q in payload["quarters"]],
        outcomes={g: cache.frame_from_json(t) for g, t in payload["outcomes"].items()},
        srs_profile=cache.frame_from_json(payload["srs_profile"]),
        srs_first=cache.frame_from_json(payload["srs_first"]),
        intake_mix=cache.frame_from_json(payload["intake_mix"]),
        reader=reader,
        config=config,
        version=version,
    )


def _with_srs_counts(
    reader: Reader,
    rows: pd.DataFrame,
    session_filter: str,
    params: dict[str, str],
    config: ClinicalConfig,
) -> pd.DataFrame:
    """Add ``n_srs_below`` and ``n_srs_max`` (SRS counts, see :func:`_srs_params`) to ``rows``."""
    counts = reader.df(
        _SRS_COUNTS_SQL.format(session_filter=session_filter), {**params, **_srs_params(config)}
    )
    rows = rows.merge(counts, on=["episode_id", "client_id"], how="left")
    for column in ("n_srs_below", "n_srs_max"):
        rows[column] = rows[column].fillna(0).astype("int64")
    return rows


def _service_srs_profile(reader: Reader, service: str, config: ClinicalConfig) -> pd.DataFrame:
    """:func:`_srs_profile_table` of the service's teams and the service, counted in DuckDB.

    Only one row per team leaves the database (instead of a row per client-episode).
    """
    counts = reader.df(
        _SERVICE_SRS_PROFILE_SQL,
        {
            "service": service,
            "minimum": config.srs_always_max_min_sessions,
            **_srs_params(config),
        },
    )
    keys = ["level", "team_id"]
    if len(counts) == 1 and counts["team_id"].isna().all():
        counts = counts.iloc[0:0]  # no closed episode: the grand total of nothing
    counts = counts.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    counts["level"] = counts["level"].astype("str")
    counts["team_id"] = counts["team_id"].astype("str")
    for column in counts.columns.drop(keys):
        counts[column] = pd.to_numeric(counts[column]).fillna(0).astype("int64")
    return _finish_srs_profile(counts, keys, config)


def _comparison_outcomes(
    levels: pd.DataFrame, grouping: str, comparison: ServiceComparison
) -> pd.DataFrame:
    periods = _with_periods(levels, grouping, comparison.quarters)
    return _outcome_table(
        periods, ["level", "team_id", "period"], comparison.severity_line, comparison.config
    )


def _severity_line(rows: pd.DataFrame) -> dict[str, float]:
    """The OLS line of change on intake over the change set, as ``service_indices`` fits it.

    The same computation as :func:`fitdata.analytics.indices.service_indices` reports in
    ``attrs["severity_adjustment"]`` (a test compares them), without its other columns.
    """
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    x, y = first[has_change], (last - first)[has_change]
    line = {
        "intercept": np.nan,
        "slope": np.nan,
        "mean_change": np.nan,
        "sd_intake": np.nan,
        "n": float(x.size),
    }
    if x.size >= 2 and np.var(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        line.update(
            intercept=float(intercept),
            slope=float(slope),
            mean_change=float(y.mean()),
            sd_intake=float(x.std(ddof=1)),
        )
    return line


# Per-row quantities summed per (group, quarter); windows add up their quarters' sums.
_SUMS = (
    "rows", "n_change", "pre", "pre2", "post", "post2", "prepost", "recovered", "improved",
    "closed", "unplanned", "n_first", "first", "n_adjusted", "adjusted", "adjusted2",
)  # fmt: skip


def _improvement(rows: pd.DataFrame, config: ClinicalConfig) -> tuple[np.ndarray, np.ndarray]:
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


def _srs_first_table_fast(
    rows: pd.DataFrame, keys: list[str], config: ClinicalConfig
) -> pd.DataFrame:
    """:func:`_srs_first_table` for the comparison, without ``service_indices``' other columns.

    ``rows`` carry ``_recovered`` and ``_improved`` (:func:`_improvement`); a test compares
    the result with :func:`_srs_first_table`.
    """
    work = rows.assign(srs_band=_srs_bands(rows["first_srs"], config))
    work = work[work["srs_band"].notna()]
    columns = [*keys, "srs_band", "clients", "episodes_with_change", "change_mean",
               "pct_reliable_improvement", "pct_reliable_improvement_ci_low",
               "pct_reliable_improvement_ci_high"]  # fmt: skip
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
    successes = np.round(table["pct_reliable_improvement"].to_numpy(dtype="float64") / 100 * n)
    low, high = wilson_interval(successes, n)
    table["pct_reliable_improvement_ci_low"], table["pct_reliable_improvement_ci_high"] = low, high
    table = table[columns]
    table.attrs = {"group_keys": [*keys, "srs_band"]}
    return suppress_small_cells(table, config=config, subgroup_counts=[])


def _comparison_outcomes_fast(
    rows: pd.DataFrame,
    grouping: str,
    comparison: ServiceComparison,
    improvement: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    therapist: bool = False,
) -> pd.DataFrame:
    """The team and service outcome table of :func:`_comparison_outcomes`, without copies.

    ``_comparison_outcomes`` repeats every client-episode once per level and rolling-year
    window (8 copies) and runs ``service_indices`` over them: 20 s at ten million sessions.
    Here each client-episode is classified once (:func:`fitdata.analytics.change.pcoms_change`, the
    function ``service_indices`` uses), the sums, sums of squares and counts behind every
    measure are added up per (team or service, quarter), and a window adds up its quarters.
    Distinct clients are counted on (window, client) pairs. The measures are then computed as
    :func:`_outcome_table` computes them (same formulas; a test compares the two tables).

    Args:
        rows: The service's closed client-episodes
        (:func:`fitdata.analytics.indices.episode_outcomes`
            columns), one row each (not repeated per level).
        grouping: One of :data:`GROUPINGS`.
        comparison: Supplies the quarters, the severity line and the config.
        improvement: :func:`_improvement` of ``rows`` when already computed.
        therapist: One group, level ``"therapist"`` (keys ``level``, ``period``): the table
            :meth:`TherapistScope.outcomes` computes with :func:`_outcome_table`. Every row's
            ending must lie in the service's span of quarters.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
    config, line = comparison.config, comparison.severity_line
    keys = ["level", "period"] if therapist else ["level", "team_id", "period"]
    quarters = comparison.quarters
    if rows.empty or not quarters:
        return _outcome_table(rows.iloc[0:0].assign(level="", period=""), keys, line, config)
    first_quarter, n_quarters = quarters[0], len(quarters)

    n = len(rows)
    if therapist:
        copies, teams = 1, pd.Index([])
        team_codes = np.zeros(n, dtype=np.int64)
    else:
        copies = 2  # each row for its team, and for the service
        team_codes, teams = pd.factorize(rows["team_id"].astype(object), sort=True)
    client_codes, _ = pd.factorize(rows["client_id"].astype(object))
    quarter = _quarter_ordinals(rows["ended"]) - first_quarter
    has_change = rows["n_with_ors"].to_numpy() >= 2
    first = rows["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = rows["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    pre = np.where(has_change, first, np.nan)
    post = np.where(has_change, last, np.nan)
    recovered, improved = improvement or _improvement(rows, config)
    closed = rows["ended"].notna().to_numpy()
    unplanned = closed & (rows["end_type"].to_numpy(dtype=object) == "unplanned")
    adjusted = _adjusted_changes(rows, line).to_numpy(dtype="float64")

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
    window_length = 1 if grouping == "quarter" else _ROLLING_QUARTERS
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
        first_window = _ROLLING_QUARTERS - 1
        window_sums = {
            name: sum(
                np.pad(values, ((0, 0), (shift, 0)))[:, :n_quarters]
                for shift in range(_ROLLING_QUARTERS)
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
    for measure, total in (
        ("pct_reliable_improvement", n_change),
        ("pct_recovered", n_change),
        ("pct_unplanned", got["closed"]),
    ):
        successes = np.round(table[measure].to_numpy(dtype="float64") / 100 * total)
        low, high = wilson_interval(successes, total)
        table[f"{measure}_ci_low"], table[f"{measure}_ci_high"] = low, high
    columns = [
        *keys,
        "clients",
        "episodes_with_change",
        "closed_episodes",
        "intake_ors_mean",
        *(f"{m}{suffix}" for m in MEASURES for suffix in ("", "_ci_low", "_ci_high")),
    ]
    table = table.sort_values(keys, kind="stable", na_position="last")[columns]
    for key in keys:
        table[key] = table[key].astype("category")
    table = table.reset_index(drop=True)
    table.attrs = {"group_keys": keys}
    return suppress_small_cells(table, config=config, keys=keys, subgroup_counts=[])


def _build_comparison(reader: Reader, service: str, config: ClinicalConfig) -> ServiceComparison:
    rows = episode_outcomes(reader, service=service, closed_only=True)
    line = _severity_line(rows)
    ordinals = np.unique(_quarter_ordinals(rows["ended"])) if len(rows) else np.array([])
    quarters = list(range(int(ordinals.min()), int(ordinals.max()) + 1)) if len(ordinals) else []
    comparison = ServiceComparison(
        service=service, severity_line=line, quarters=quarters, reader=reader, config=config
    )
    improvement = _improvement(rows, config)
    # Every grouping from the rows in hand: asking for another one later would read the
    # service's client-episodes again (seconds at national scale, for a click on the page).
    for grouping in GROUPINGS:
        comparison.outcomes[grouping] = _comparison_outcomes_fast(
            rows, grouping, comparison, improvement
        )
    comparison.srs_profile = _service_srs_profile(reader, service, config)
    comparison.srs_first, comparison.intake_mix = _comparison_profiles(
        rows, service, config, improvement
    )
    return comparison


def _comparison_profiles(
    rows: pd.DataFrame,
    service: str,
    config: ClinicalConfig,
    improvement: tuple[np.ndarray, np.ndarray],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SRS-at-first-session and intake-mix tables of every team and the service.

    The same tables as :func:`_srs_first_table` and :func:`_intake_mix_table` over
    :func:`_levels` of ``rows`` (a test compares them), grouped faster: distinct clients and
    episodes are counted on integer codes and the keys grouped as categories (no code leaves
    this function; pandas groups a million rows several times faster than on strings).
    """
    recovered, improved = improvement
    rows = rows.assign(
        client_id=pd.factorize(rows["client_id"])[0],
        episode_id=pd.factorize(rows["episode_id"])[0],
        _recovered=recovered,
        _improved=improved,
    )
    levels = _levels(rows, service)
    keys = ["level", "team_id"]
    for key in keys:
        levels[key] = levels[key].astype("category")
    tables = (_srs_first_table_fast(levels, keys, config), _intake_mix_table(levels, keys, config))
    for table in tables:
        for key in keys:
            table[key] = table[key].astype("str")
    return tables


# --------------------------------------------------------------------------------------------
# The scope: the one object the dashboard reads through
# --------------------------------------------------------------------------------------------


def _reader_user(reader: Reader) -> User | None:
    """The user a scoped reader reads for; None when access control is off."""
    scope = reader.scope
    return scope.info if scope is not None and isinstance(scope.info, User) else None


def _denied(key: str, **values: str) -> AccessDenied:
    """The refusal in the page's language (``$FITDATA_LANG``, as the access layer's own)."""
    lang = os.environ.get(ENV_LANG, "en")
    return AccessDenied(Translator(lang if lang in LANGUAGES else "en").text(key, **values))


def _refuse_other_therapists(reader: Reader, user: User | None, therapist_id: str) -> None:
    """Refuse before any read: a leader (or a de-identified reader) and another's therapist.

    One therapist's development page shows her effect size, % recovered and unplanned
    endings: figures about a named person. A leader sees aggregates only, and a therapist
    sees her own page only (fitdata.data.access: the roles).
    """
    if user is None:
        return  # access control is off (a single-user install)
    scope = reader.scope
    if user.role == "leader" or (scope is not None and scope.key == AGGREGATE_SCOPE):
        raise _denied("development.access.summaries_only", user=user.name)
    if user.role == "therapist" and therapist_id != user.therapist_id:
        raise _denied("development.access.own_only", user=user.name)


def _refuse_outside_teams(
    reader: Reader, user: User | None, therapist_id: str, team_id: str
) -> None:
    """Refuse a supervisor a therapist who is neither in her teams nor has episodes in them."""
    if user is None or user.role != "supervisor" or team_id in user.team_ids:
        return
    # The supervisor's reader shows the episodes of her teams only: one of this therapist's
    # there (from before a change of team) is hers to supervise.
    if reader.rows("SELECT 1 FROM episodes WHERE therapist_id = ? LIMIT 1", [therapist_id]):
        return
    raise _denied(
        "development.access.teams_only",
        user=user.name,
        teams=", ".join(user.team_ids),
        therapist=therapist_id,
    )


class TherapistScope:
    """Every read of the therapist development page, for one therapist.

    Methods return this therapist's aggregates and aggregates of their team and service only,
    as tables with a ``level`` column (``"therapist"``, ``"team"``, ``"service"``); no row
    names or identifies another therapist, and every small cell is suppressed. The team and
    service are the therapist's own (from the ``therapists`` table), never chosen by a caller.

    Args:
        reader: The database, as the page's user may see it (the therapist's own rows).
        therapist_id: The therapist whose development is shown.
        config: Thresholds, tie rules and the minimum cell size.
        comparison_reader: Where the team and service figures are computed from: a reader of
            every row of the service that identifies nobody
            (:attr:`fitdata.ui.DashboardContext.aggregate_reader`); default ``reader``.

    Raises:
        AccessDenied: If the reader's user may not see this therapist's figures: a leader (or
            a de-identified :func:`fitdata.data.access.aggregate_reader`) sees nobody's, a
            therapist only her own, a supervisor the therapists of her teams; an admin, or a
            database without users, everyone's.
        StoreError: If the therapist or their team is not in the database.
    """

    def __init__(
        self,
        reader: Reader,
        therapist_id: str,
        *,
        config: ClinicalConfig = DEFAULT_CONFIG,
        comparison_reader: Reader | None = None,
    ) -> None:
        user = _reader_user(reader)
        _refuse_other_therapists(reader, user, therapist_id)
        self._reader = reader
        self._comparison_reader = comparison_reader or reader
        self._config = config
        rows = reader.rows(
            "SELECT th.therapist_id, th.name, th.team_id, t.name, t.service "
            "FROM therapists AS th LEFT JOIN teams AS t USING (team_id) "
            "WHERE th.therapist_id = ?",
            [therapist_id],
        )
        if not rows:
            raise StoreError(
                f"Therapist {therapist_id} is not in the therapists table. Choose another "
                "therapist, or run `fitdata check` on the database."
            )
        therapist, name, team_id, team_name, service = rows[0]
        if service is None:
            raise StoreError(
                f"Therapist {therapist_id}'s team {team_id} is not in the teams table. "
                "Run `fitdata check` on the database to list such problems."
            )
        _refuse_outside_teams(reader, user, therapist_id, team_id)
        self._identity = TherapistIdentity(therapist, name, team_id, team_name, service)
        self._own: pd.DataFrame | None = None
        self._own_improvement: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def identity(self) -> TherapistIdentity:
        """The therapist, their current team and its service."""
        return self._identity

    @property
    def config(self) -> ClinicalConfig:
        """The thresholds every number of this scope was computed with."""
        return self._config

    def _comparison(self) -> ServiceComparison:
        return service_comparison(
            self._comparison_reader, self._identity.service, config=self._config
        )

    def _rows(self) -> pd.DataFrame:
        """This therapist's closed client-episodes (kept in the scope; two SQL queries)."""
        if self._own is None:
            therapist = self._identity.therapist_id
            rows = episode_outcomes(self._reader, therapist_id=therapist, closed_only=True)
            # The SRS counts read only the sessions of these client-episodes. Listing their
            # teams as constants lets DuckDB skip every other team's row groups (sessions are
            # stored team by team, see fitdata.data.store.SESSION_ORDER).
            teams = sorted(set(rows["team_id"]))
            params: dict[str, str] = {"therapist": therapist}
            params.update({f"t{i}": team for i, team in enumerate(teams)})
            listed = ", ".join(f"$t{i}" for i in range(len(teams))) or "NULL"
            rows = _with_srs_counts(
                self._reader,
                rows,
                f"AND team_id IN ({listed}) {_THERAPIST_SESSIONS}",
                params,
                self._config,
            )
            rows["level"] = "therapist"
            self._own = rows
        return self._own

    def _combine(self, own: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
        mine = others[
            (others["level"] == "service")
            | ((others["level"] == "team") & (others["team_id"] == self._identity.team_id))
        ]
        frames = [f for f in (own, mine) if len(f)]
        if not frames:
            return own.drop(columns=["team_id"], errors="ignore")
        table = pd.concat(frames, ignore_index=True).drop(columns=["team_id"], errors="ignore")
        order = {level: i for i, level in enumerate(LEVELS)}
        table = table.sort_values("level", key=lambda s: s.map(order), kind="stable").reset_index(
            drop=True
        )
        return table

    def outcome_rows(self) -> pd.DataFrame:
        """This therapist's closed client-episodes (one row each, for checks and exports).

        Columns: those of :data:`fitdata.analytics.indices.OUTCOME_COLUMNS` plus ``n_srs_below`` and
        ``n_srs_max``. Client codes are pseudonyms; the dashboard never shows this table.
        """
        return self._rows()[[*OUTCOME_COLUMNS, "n_srs_below", "n_srs_max"]].copy()

    def periods(self, grouping: Grouping = "rolling_year") -> list[str]:
        """The period labels shown on the time axis (the service's span of endings)."""
        quarters = self._comparison().quarters
        if grouping == "rolling_year":
            quarters = quarters[_ROLLING_QUARTERS - 1 :]
        return [quarter_label(q) for q in quarters]

    def outcomes(self, grouping: Grouping = "rolling_year") -> pd.DataFrame:
        """Outcome measures with 95 % intervals by period, for the three levels.

        Args:
            grouping: ``"rolling_year"`` (each quarter shows the four quarters up to it) or
                ``"quarter"`` (episodes that ended in the quarter).

        Returns:
            One row per level and period with ``clients``, ``episodes_with_change``,
            ``closed_episodes``, ``intake_ors_mean``, each of :data:`MEASURES` with
            ``_ci_low``/``_ci_high``, and ``suppressed``. Suppressed rows keep only
            ``level`` and ``period``.
        """
        comparison = self._comparison()
        rows = self._rows()
        ordinals = _quarter_ordinals(rows["ended"]) if len(rows) else np.array([], dtype=int)
        quarters = comparison.quarters
        if (
            grouping in GROUPINGS
            and quarters
            and np.all((ordinals >= quarters[0]) & (ordinals <= quarters[-1]))
        ):
            own = _comparison_outcomes_fast(
                rows, grouping, comparison, self._improvement(), therapist=True
            )
        else:  # endings outside the service's span (another service's episodes): row by row
            periods = _with_periods(rows, grouping, quarters)
            own = _outcome_table(
                periods, ["level", "period"], comparison.severity_line, self._config
            )
        return self._combine(own, comparison.outcomes_for(grouping))

    def _improvement(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_improvement` of this therapist's rows (classified once per scope)."""
        if self._own_improvement is None:
            self._own_improvement = _improvement(self._rows(), self._config)
        return self._own_improvement

    def srs_profile(self) -> pd.DataFrame:
        """The SRS profile of the three levels over all closed episodes.

        Returns:
            One row per level: ``clients`` (with an SRS), ``srs_sessions``, ``srs_below``,
            ``pct_sessions_below`` (+ interval), ``eligible_clients``/``eligible_episodes``
            (with at least ``srs_always_max_min_sessions`` SRS), ``always_40``,
            ``pct_always_40`` (+ interval) and ``suppressed``.
        """
        own = _srs_profile_table(self._rows(), ["level"], self._config)
        return self._combine(own, self._comparison().srs_profile)

    def srs_first_vs_outcome(self) -> pd.DataFrame:
        """% reliably improved and mean change by the band of the first SRS (:data:`SRS_BANDS`).

        Returns:
            One row per level and ``srs_band`` present, suppressed.
        """
        recovered, improved = self._improvement()
        rows = self._rows().assign(_recovered=recovered, _improved=improved)
        own = _srs_first_table_fast(rows, ["level"], self._config)
        return self._combine(own, self._comparison().srs_first)

    def intake_mix(self) -> pd.DataFrame:
        """Intake severity mix (:data:`INTAKE_BANDS`) of the three levels.

        Returns:
            One row per level: ``clients``, ``client_episodes``, ``intake_ors_mean``, per band
            ``clients_<band>``, ``episodes_<band>`` and ``pct_<band>`` (share of client-episodes),
            and ``suppressed``; small band counts are hidden with their complement.
        """
        own = _intake_mix_table(self._rows(), ["level"], self._config)
        return self._combine(own, self._comparison().intake_mix)

    def span(self) -> tuple[object, object] | None:
        """First and last ending date of this therapist's closed episodes, or None."""
        rows = self._rows()
        if rows.empty:
            return None
        return rows["ended"].min(), rows["ended"].max()
