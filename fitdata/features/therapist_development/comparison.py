"""The team and service side of the comparison: computed once per database version, and kept.

The team and service numbers do not depend on the therapist, so :func:`service_comparison`
computes every table of every team of a service and of the service at once
(:class:`ServiceComparison`), keeps a few in the kernel and stores each beside the database
(:mod:`fitdata.data.cache`, keyed on the file's version, the service, the configuration and the
source of every module in :data:`CODE_MODULES`), so a new kernel reads them in milliseconds.
Only aggregates with small cells suppressed are stored.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fitdata.analytics.indices import episode_outcomes
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.data import cache
from fitdata.data.cache import MemoryCache
from fitdata.data.store import Reader
from fitdata.features.therapist_development.period_sums import outcomes_by_period
from fitdata.features.therapist_development.tables import (
    GROUPINGS,
    SRS_MAX,
    classify_improvement,
    finish_srs_profile,
    intake_mix_table,
    quarter_ordinals,
    severity_line,
    srs_first_table,
    team_and_service_rows,
)

__all__ = [
    "CACHE_SIZE",
    "CODE_MODULES",
    "ServiceComparison",
    "clear_comparison_cache",
    "service_comparison",
    "with_srs_counts",
]

log = logging.getLogger(__name__)

#: Comparisons kept in one kernel (one per service and configuration).
CACHE_SIZE = 4

#: Every module whose code computes a stored comparison (part of its key: changed code, new
#: entry). ``tests/unit/test_therapist_development.py`` reads the imports and checks it.
CODE_MODULES: tuple[str, ...] = (
    "fitdata.features.therapist_development.comparison",
    "fitdata.features.therapist_development.period_sums",
    "fitdata.features.therapist_development.tables",
    "fitdata.analytics.change",
    "fitdata.analytics.indices",
    "fitdata.analytics.intervals",
    "fitdata.analytics.outcomes",
    "fitdata.analytics.suppression",
    "fitdata.config",
    "fitdata.vocabulary",
)

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
# The SRS profile counts of every team of a service and of the service (the rows of
# srs_profile_table's groupby, computed in DuckDB): the per client-episode counts as in
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
                self.outcomes[grouping] = outcomes_by_period(rows, grouping, self)
                _store_comparison(self)  # the next kernel finds this grouping too
            return self.outcomes[grouping]


# --------------------------------------------------------------------------------------------
# Cached per kernel, stored beside the database
# --------------------------------------------------------------------------------------------

_comparisons: MemoryCache[ServiceComparison] = MemoryCache(CACHE_SIZE)


def clear_comparison_cache() -> None:
    """Forget every cached comparison (tests, or after a configuration change)."""
    _comparisons.clear()


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
    code = cache.source_fingerprint(*map(importlib.import_module, CODE_MODULES))
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


# --------------------------------------------------------------------------------------------
# Computing it
# --------------------------------------------------------------------------------------------


def _build_comparison(reader: Reader, service: str, config: ClinicalConfig) -> ServiceComparison:
    """Compute every table of the comparison from the service's closed client-episodes."""
    rows = episode_outcomes(reader, service=service, closed_only=True)
    line = severity_line(rows)
    ordinals = np.unique(quarter_ordinals(rows["ended"])) if len(rows) else np.array([])
    quarters = list(range(int(ordinals.min()), int(ordinals.max()) + 1)) if len(ordinals) else []
    comparison = ServiceComparison(
        service=service, severity_line=line, quarters=quarters, reader=reader, config=config
    )
    improvement = classify_improvement(rows, config)
    # Every grouping from the rows in hand: asking for another one later would read the
    # service's client-episodes again (seconds at national scale, for a click on the page).
    for grouping in GROUPINGS:
        comparison.outcomes[grouping] = outcomes_by_period(rows, grouping, comparison, improvement)
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

    :func:`~.tables.srs_first_table` and :func:`~.tables.intake_mix_table` over
    :func:`~.tables.team_and_service_rows` of ``rows``, grouped faster: distinct clients and
    episodes are counted on integer codes and the keys grouped as categories (no code leaves
    this function; pandas groups a million rows several times faster than on strings). A test
    compares them with the straightforward computation.
    """
    recovered, improved = improvement
    rows = rows.assign(
        client_id=pd.factorize(rows["client_id"])[0],
        episode_id=pd.factorize(rows["episode_id"])[0],
        _recovered=recovered,
        _improved=improved,
    )
    levels = team_and_service_rows(rows, service)
    keys = ["level", "team_id"]
    for key in keys:
        levels[key] = levels[key].astype("category")
    tables = (srs_first_table(levels, keys, config), intake_mix_table(levels, keys, config))
    for table in tables:
        for key in keys:
            table[key] = table[key].astype("str")
    return tables


def _srs_params(config: ClinicalConfig) -> dict[str, float]:
    # The same tie rule as ClinicalConfig.srs_below_cutoff: below the cutoff by more than the
    # tolerance; SRS totals are DECIMAL(4, 1), so 40 is compared exactly.
    return {"srs_below": config.srs_cutoff - TIE_TOLERANCE, "srs_max": SRS_MAX}


def with_srs_counts(
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
    """:func:`~.tables.srs_profile_table` of the service's teams and the service, counted in DuckDB.

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
    return finish_srs_profile(counts, keys, config)
