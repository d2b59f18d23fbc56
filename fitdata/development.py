"""Therapist development: one therapist's outcomes over time, beside their team and service.

The page this feeds is written for a therapist's *own* development (Feedback-Informed Treatment's
"me as a therapist" level). It never ranks colleagues and never names another therapist: the
team and the service appear only as aggregates, and every aggregate over fewer than
``config.min_cell_size`` clients is hidden by :func:`fitdata.indices.suppress_small_cells`.

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
:func:`fitdata.indices.service_indices` (``suppress=False``), then these are added here:

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
kernel by :func:`service_comparison` and cached under the database file's identity (inode, size,
modification time), the service and the configuration, so choosing another therapist runs only
that therapist's queries: :func:`fitdata.indices.episode_outcomes` filtered to the therapist and
one query for the SRS counts per client-episode (sessions below the SRS cutoff, sessions at 40),
which ``episode_outcomes`` does not offer; both narrow the session scan to the therapist's
closed episodes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from fitdata.change import CRITICAL_VALUE
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.indices import OUTCOME_COLUMNS, episode_outcomes, service_indices, suppress_small_cells
from fitdata.store import Reader, StoreError

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
    "wilson_interval",
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
# fitdata.indices.episode_outcomes. {session_filter} narrows the session scan the same way
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
            ``"service"``), ``team_id`` (None for the service) and ``period``. The default
            ``"rolling_year"`` is computed with the rest; another grouping on first use
            (:meth:`outcomes_for`).
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

    def outcomes_for(self, grouping: str) -> pd.DataFrame:
        """The outcome rows for ``grouping``, computed (once) when first asked for."""
        with self.lock:
            if grouping not in self.outcomes:
                if grouping not in GROUPINGS or self.reader is None:
                    raise ValueError(
                        f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}"
                    )
                rows = episode_outcomes(self.reader, service=self.service, closed_only=True)
                self.outcomes[grouping] = _comparison_outcomes(
                    _levels(rows, self.service), grouping, self
                )
            return self.outcomes[grouping]


# --------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------


def wilson_interval(
    successes: np.ndarray | pd.Series, n: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval of a proportion, in percent (NaN where n is 0 or missing).

    Args:
        successes: Number of successes per row.
        n: Number of trials per row.

    Returns:
        Lower and upper bounds in percent (0-100).
    """
    k = np.asarray(successes, dtype="float64")
    total = np.asarray(n, dtype="float64")
    z = CRITICAL_VALUE
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / total
        denominator = 1 + z**2 / total
        centre = (p + z**2 / (2 * total)) / denominator
        half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denominator
    valid = total > 0
    low = np.where(valid, np.clip(centre - half, 0, 1) * 100, np.nan)
    high = np.where(valid, np.clip(centre + half, 0, 1) * 100, np.nan)
    return low, high


def quarter_label(ordinal: int) -> str:
    """The label of a quarter ordinal (year * 4 + quarter - 1), e.g. ``"2026Q3"``."""
    return f"{ordinal // 4}Q{ordinal % 4 + 1}"


def _quarter_ordinals(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(dates)
    return (stamps.dt.year * 4 + stamps.dt.quarter - 1).to_numpy(dtype="int64")


def _file_identity(reader: Reader) -> tuple[int, int, int]:
    try:
        status = os.stat(reader.path)
    except FileNotFoundError:
        raise StoreError(
            f"There is no database at {reader.path}. Create the demo database with "
            f"`fitdata demo --out {reader.path}`, or point --db at an existing file."
        ) from None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


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

_cache: OrderedDict[tuple, ServiceComparison] = OrderedDict()
_cache_lock = threading.Lock()
_build_locks: dict[tuple, threading.Lock] = {}


def clear_comparison_cache() -> None:
    """Forget every cached comparison (tests, or after a configuration change)."""
    with _cache_lock:
        _cache.clear()
        _build_locks.clear()


def _levels(rows: pd.DataFrame, service: str) -> pd.DataFrame:
    """Each row twice: once for its team, once for the service."""
    team = rows.assign(level="team")
    whole = rows.assign(level="service", team_id=None)
    whole["team_id"] = whole["team_id"].astype("object")
    return pd.concat([team, whole], ignore_index=True)


def service_comparison(
    reader: Reader, service: str, *, config: ClinicalConfig = DEFAULT_CONFIG
) -> ServiceComparison:
    """Team and service aggregates of ``service``, computed once per kernel and file version.

    The cache key is the database file (path and identity: inode, size, modification time),
    the service and the configuration, so a writer's replacement of the file or another
    threshold file gives fresh numbers. At most a few comparisons are kept.

    Args:
        reader: The database.
        service: The service (``teams.service``) to compare with.
        config: Thresholds, tie rules and the minimum cell size.

    Returns:
        The suppressed aggregates of every team of the service and of the service.
    """
    key = (str(reader.path), _file_identity(reader), service, config)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        build_lock = _build_locks.setdefault(key, threading.Lock())
    with build_lock:  # two widgets asking at once compute it once
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        comparison = _build_comparison(reader, service, config)
        with _cache_lock:
            _cache[key] = comparison
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
            _build_locks.pop(key, None)
        return comparison


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


def _comparison_outcomes(
    levels: pd.DataFrame, grouping: str, comparison: ServiceComparison
) -> pd.DataFrame:
    periods = _with_periods(levels, grouping, comparison.quarters)
    return _outcome_table(
        periods, ["level", "team_id", "period"], comparison.severity_line, comparison.config
    )


def _build_comparison(reader: Reader, service: str, config: ClinicalConfig) -> ServiceComparison:
    rows = _with_srs_counts(
        reader,
        episode_outcomes(reader, service=service, closed_only=True),
        _SERVICE_SESSIONS,
        {"service": service},
        config,
    )
    line = (
        service_indices(rows, config=config, suppress=False).attrs["severity_adjustment"]
        if len(rows)
        else {"intercept": np.nan, "slope": np.nan, "mean_change": np.nan, "sd_intake": np.nan}
    )
    ordinals = np.unique(_quarter_ordinals(rows["ended"])) if len(rows) else np.array([])
    quarters = list(range(int(ordinals.min()), int(ordinals.max()) + 1)) if len(ordinals) else []
    comparison = ServiceComparison(
        service=service, severity_line=line, quarters=quarters, reader=reader, config=config
    )
    levels = _levels(rows, service)
    keys = ["level", "team_id"]
    default: Grouping = "rolling_year"
    comparison.outcomes[default] = _comparison_outcomes(levels, default, comparison)
    comparison.srs_profile = _srs_profile_table(levels, keys, config)
    comparison.srs_first = _srs_first_table(levels, keys, config)
    comparison.intake_mix = _intake_mix_table(levels, keys, config)
    return comparison


# --------------------------------------------------------------------------------------------
# The scope: the one object the dashboard reads through
# --------------------------------------------------------------------------------------------


class TherapistScope:
    """Every read of the therapist development page, for one therapist.

    Methods return this therapist's aggregates and aggregates of their team and service only,
    as tables with a ``level`` column (``"therapist"``, ``"team"``, ``"service"``); no row
    names or identifies another therapist, and every small cell is suppressed. The team and
    service are the therapist's own (from the ``therapists`` table), never chosen by a caller.

    Args:
        reader: The database.
        therapist_id: The therapist whose development is shown.
        config: Thresholds, tie rules and the minimum cell size.

    Raises:
        StoreError: If the therapist or their team is not in the database.
    """

    def __init__(
        self, reader: Reader, therapist_id: str, *, config: ClinicalConfig = DEFAULT_CONFIG
    ) -> None:
        self._reader = reader
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
        self._identity = TherapistIdentity(therapist, name, team_id, team_name, service)
        self._own: pd.DataFrame | None = None

    @property
    def identity(self) -> TherapistIdentity:
        """The therapist, their current team and its service."""
        return self._identity

    @property
    def config(self) -> ClinicalConfig:
        """The thresholds every number of this scope was computed with."""
        return self._config

    def _comparison(self) -> ServiceComparison:
        return service_comparison(self._reader, self._identity.service, config=self._config)

    def _rows(self) -> pd.DataFrame:
        """This therapist's closed client-episodes (kept in the scope; two SQL queries)."""
        if self._own is None:
            therapist = self._identity.therapist_id
            rows = episode_outcomes(self._reader, therapist_id=therapist, closed_only=True)
            # The SRS counts read only the sessions of these client-episodes. Listing the
            # clients as constants lets DuckDB skip row groups (sessions are stored in client
            # order): 170 instead of 300 ms at 10 million sessions.
            clients = sorted(set(rows["client_id"]))
            params: dict[str, str] = {"therapist": therapist}
            params.update({f"c{i}": client for i, client in enumerate(clients)})
            listed = ", ".join(f"$c{i}" for i in range(len(clients))) or "NULL"
            rows = _with_srs_counts(
                self._reader,
                rows,
                f"AND client_id IN ({listed}) {_THERAPIST_SESSIONS}",
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

        Columns: those of :data:`fitdata.indices.OUTCOME_COLUMNS` plus ``n_srs_below`` and
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
        rows = _with_periods(self._rows(), grouping, comparison.quarters)
        own = _outcome_table(rows, ["level", "period"], comparison.severity_line, self._config)
        return self._combine(own, comparison.outcomes_for(grouping))

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
        own = _srs_first_table(self._rows(), ["level"], self._config)
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
