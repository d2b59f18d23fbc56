"""All numbers of the service dashboard and the leaders' report, from one function.

:func:`service_summary` is the only place the service dashboard (``fitdata.ui.service``) and the
report (``fitdata.report``) get their numbers from, so the two agree by construction. It
builds on :mod:`fitdata.indices` (``episode_outcomes``, ``service_indices``,
``suppress_small_cells``) and :mod:`fitdata.therapists` and re-derives nothing they compute.

What a summary holds (every table is suppressed with
:func:`fitdata.indices.suppress_small_cells` before it leaves this module):

* ``completeness_trend`` / ``completeness_team`` / ``completeness_team_trend`` — **are we
  collecting?** Share of the client's own session rows with an ORS and with an SRS, by the
  quarter of the *session date* (so ongoing episodes count), by team for the selected period,
  and by team and quarter. This is computed here in SQL: ``service_indices`` measures
  completeness per client-episode grouped by the episode's end date, which leaves out ongoing
  episodes, exactly the ones a leader wants to see ("are we collecting *now*?").
* ``headline`` — one row of ``service_indices`` for the selection (team, age group, format,
  period), plus ``pct_lt2_ors`` (client-episodes with fewer than two ORS, in %).
* ``trend`` — the same indices by the quarter of the episode's end, over the trend window
  (the eight quarters up to the end of the period, or longer when the period is).
* ``teams`` — the team comparison: ``service_indices`` by team over the period, a 95 % Wilson
  interval for % reaching target, and the multilevel estimate of each team's intake-adjusted
  difference in mean ORS change from the service (``therapists.therapist_effects`` applied to
  teams: a random intercept per team, shrunken BLUPs with intervals, teams under
  ``TEAM_MIN_EPISODES`` not estimated). Rows are ordered by team **name**, never by a value.

Population and reference set. The service, age-group and format filters choose the
*population*; the team filter chooses the *focus*. Team tables always show every team of the
population (the selected team is marked), so a team is seen beside its peers with intervals
rather than alone. ``service_indices`` is called on the client-episodes of the population that
ended in the trend window, so the severity adjustment (one regression of change on intake) is
fitted on that one reference set for the headline, the trend and the team table alike: the
headline of a one-quarter period equals that quarter's row of the trend.

Reference bands (:data:`REFERENCE_BANDS`) come from ``shared/domain.md`` and carry their
source: vendor benchmarks are labelled "not peer reviewed".

The plain-language reading (:func:`reading`) turns unsuppressed cells into sentences. Each
:class:`ReadingItem` names the cells it rests on (``"table[row].column"``), so a test can
check every number of every sentence against the tables.

Computed here, not in ``fitdata.indices`` (candidates to move there): session-date
completeness (SQL), ``pct_lt2_ors``, the Wilson interval for % reaching target, the team
multilevel model (a ``group_column`` parameter in ``therapist_effects``, and a single
optimiser, would let this module reuse it).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.change import CRITICAL_VALUE
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig
from fitdata.indices import (
    INDEX_COLUMNS,
    episode_outcomes,
    service_indices,
    suppress_small_cells,
)
from fitdata.store import Reader

__all__ = [
    "FORMATS",
    "REFERENCE_BANDS",
    "TEAM_MIN_EPISODES",
    "TREND_QUARTERS",
    "Period",
    "PeriodError",
    "ReadingItem",
    "ReferenceBand",
    "ServiceFilters",
    "ServiceSummary",
    "SummaryCache",
    "filter_options",
    "kernel_cache",
    "parse_period",
    "reading",
    "service_summary",
    "team_effects",
    "wilson_interval",
]

PeriodUnit = Literal["month", "quarter", "year"]
FORMATS: tuple[str, ...] = ("individual", "couple", "family", "group")
#: Quarters shown in every trend (ending with the quarter that holds the period's last day).
TREND_QUARTERS = 8
#: Smallest number of eligible client-episodes (closed, >= 2 ORS) for a team to be estimated.
TEAM_MIN_EPISODES = 10
#: The reading reports a change in completeness between two quarters of at least this many
#: percentage points as a rise or fall (smaller changes are "about the same").
COMPLETENESS_CHANGE_POINTS = 5.0
#: A team's completeness is named in the reading when it fell by at least this many points.
TEAM_DROP_POINTS = 10.0
#: The reading reports a change in unplanned endings of at least this many points.
UNPLANNED_CHANGE_POINTS = 2.0


class PeriodError(ValueError):
    """A period that cannot be read, with the accepted forms in the message."""


_QUARTER = re.compile(r"^(\d{4})\s*[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
_PERIOD_HELP = "write a quarter (2025Q3), a month (2025-07) or a year (2025), or a range of "
_PERIOD_HELP += "one kind joined by '..' (2025Q1..2025Q3)"


def _one_period(text: str) -> pd.Period:
    text = text.strip()
    if match := _QUARTER.match(text):
        return pd.Period(year=int(match[1]), quarter=int(match[2]), freq="Q")
    if match := _MONTH.match(text):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r} is not a month: the month must be 01-12; {_PERIOD_HELP}")
        return pd.Period(year=int(match[1]), month=month, freq="M")
    if _YEAR.match(text):
        return pd.Period(year=int(text), freq="Y")
    raise PeriodError(f"cannot read the period {text!r}: {_PERIOD_HELP}")


_UNIT_OF_FREQ = {"Q": "quarter", "M": "month", "Y": "year"}


@dataclass(frozen=True)
class Period:
    """A month, quarter or year, or a range of one kind (both ends inclusive)."""

    unit: PeriodUnit
    first: str
    last: str

    @property
    def _first(self) -> pd.Period:
        return _one_period(self.first)

    @property
    def _last(self) -> pd.Period:
        return _one_period(self.last)

    @property
    def start(self) -> dt.date:
        """The first day of the period."""
        return self._first.start_time.date()

    @property
    def end(self) -> dt.date:
        """The last day of the period."""
        return self._last.end_time.date()

    @property
    def label(self) -> str:
        """``2025Q3``, or ``2025Q1..2025Q3`` for a range."""
        return self.first if self.first == self.last else f"{self.first}..{self.last}"

    def trend_quarters(self, count: int = TREND_QUARTERS) -> list[str]:
        """The quarters of the trend: ``count`` up to the period's end, or the whole period."""
        last = pd.Period(self.end, freq="Q")
        first = min(last - (count - 1), pd.Period(self.start, freq="Q"))
        return [str(q) for q in pd.period_range(first, last, freq="Q")]

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        first, last = self._first, self._last
        length = last.ordinal - first.ordinal + 1
        return Period(self.unit, str(first - length), str(last - length))


def parse_period(text: str) -> Period:
    """Read ``2025Q3``, ``2025-07``, ``2025`` or a range ``2025Q1..2025Q3``.

    Raises:
        PeriodError: If the text is none of these, the two ends are of different kinds, or the
            range runs backwards; the message says which forms are accepted.
    """
    if not isinstance(text, str) or not text.strip():
        raise PeriodError(f"no period given: {_PERIOD_HELP}")
    parts = text.split("..")
    if len(parts) > 2:
        raise PeriodError(f"cannot read the period {text!r}: {_PERIOD_HELP}")
    ends = [_one_period(part) for part in parts]
    first, last = ends[0], ends[-1]
    if first.freqstr[0] != last.freqstr[0]:
        raise PeriodError(f"the two ends of {text!r} are of different kinds; {_PERIOD_HELP}")
    if last < first:
        raise PeriodError(f"the period {text!r} ends before it starts; put the earlier end first")
    return Period(_UNIT_OF_FREQ[first.freqstr[0]], str(first), str(last))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ServiceFilters:
    """What a leader selected. None means "all"."""

    period: Period
    service: str | None = None
    team_id: str | None = None
    age_group: str | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        if self.age_group is not None and self.age_group not in AGE_GROUPS:
            raise ValueError(
                f"unknown age group {self.age_group!r}; choose one of {', '.join(AGE_GROUPS)}"
            )
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class ReferenceBand:
    """A benchmark range drawn behind a statistic, with its source."""

    metric: str
    low: float
    high: float
    source: str
    peer_reviewed: bool


#: Benchmarks from ``shared/domain.md``; ``metric`` is a column of the headline/team tables.
#: The two team charts with intervals, drawn alike by the page and the report: chart key,
#: value column, interval columns, reference band metric (or None) and the axis title key.
TEAM_INTERVAL_CHARTS: tuple[tuple[str, str, str, str, str | None, str], ...] = (
    (
        "team_effect",
        "team_effect",
        "team_effect_ci_low",
        "team_effect_ci_high",
        None,
        "service.chart.team_effect_axis",
    ),
    (
        "team_target",
        "pct_target",
        "pct_target_ci_low",
        "pct_target_ci_high",
        "pct_target",
        "service.chart.team_target_axis",
    ),
)

REFERENCE_BANDS: tuple[ReferenceBand, ...] = (
    ReferenceBand(
        "pct_target",
        64.0,
        74.0,
        "vendor benchmark, not peer reviewed: 64-74 % of closed cases end in the successful zone",
        False,
    ),
    ReferenceBand(
        "pct_unplanned",
        12.0,
        15.0,
        "vendor benchmark, not peer reviewed: 12-15 % unplanned endings",
        False,
    ),
    ReferenceBand(
        "pct_sessions_with_ors",
        90.0,
        100.0,
        "vendor benchmark, not peer reviewed: fewer than 10 % of sessions without feedback",
        False,
    ),
    ReferenceBand(
        "pct_sessions_with_srs",
        90.0,
        100.0,
        "vendor benchmark, not peer reviewed: fewer than 10 % of sessions without feedback",
        False,
    ),
    ReferenceBand(
        "sessions_mean",
        5.8,
        5.8,
        "vendor benchmark, not peer reviewed: 5.8 sessions per episode on average (SD 4.2)",
        False,
    ),
    ReferenceBand(
        "effect_size",
        0.8,
        1.0,
        "published adult outpatient figures (pre-post effect size about 0.8-1.0), "
        "as summarised in shared/domain.md",
        True,
    ),
)


def band_for(metric: str) -> ReferenceBand | None:
    """The reference band of a metric, if there is one."""
    return next((band for band in REFERENCE_BANDS if band.metric == metric), None)


@dataclass(frozen=True)
class ReadingItem:
    """One sentence of the plain-language reading, as a message key and its numbers.

    ``values`` holds raw numbers (and labels); ``sources`` names the cells they come from as
    ``"table[row].column"`` (``row`` is the table's row label: a quarter, a team id, or
    ``0`` for the one-row headline). Translation and number formatting happen at display.
    """

    key: str
    values: dict[str, Any]
    sources: tuple[str, ...]


@dataclass
class ServiceSummary:
    """Every number the service dashboard and the report show, already suppressed."""

    filters: ServiceFilters
    config: ClinicalConfig
    headline: pd.DataFrame
    trend: pd.DataFrame
    teams: pd.DataFrame
    completeness_trend: pd.DataFrame
    completeness_team: pd.DataFrame
    completeness_team_trend: pd.DataFrame
    team_model: dict[str, Any]
    team_names: dict[str, str]
    quarters: list[str]
    reading: list[ReadingItem] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables as shown (and exported), by name, in page order."""
        return {
            "completeness_trend": self.completeness_trend,
            "completeness_team": self.completeness_team,
            "headline": self.headline,
            "trend": self.trend,
            "teams": self.teams,
        }

    def cell(self, reference: str) -> Any:
        """The value of a cell named ``"table[row].column"`` (as in :class:`ReadingItem`)."""
        match = re.fullmatch(r"(\w+)\[(.*)\]\.(\w+)", reference)
        if match is None:
            raise KeyError(f"not a cell reference: {reference!r}")
        table = self.tables().get(match[1])
        if table is None and match[1] == "completeness_team_trend":
            table = self.completeness_team_trend
        if table is None:
            raise KeyError(f"no table {match[1]!r}")
        row = _row_of(table, match[2])
        return row[match[3]]


def _row_of(table: pd.DataFrame, label: str) -> pd.Series:
    if label == "0" and len(table) == 1:
        return table.iloc[0]
    for key in ("quarter", "team_id"):
        if key in table.columns and "|" not in label:
            hits = table[table[key].astype(str) == label]
            if len(hits) == 1:
                return hits.iloc[0]
    if "|" in label:  # team|quarter
        team, quarter = label.split("|", 1)
        hits = table[(table["team_id"] == team) & (table["quarter"] == quarter)]
        if len(hits) == 1:
            return hits.iloc[0]
    raise KeyError(f"no row {label!r}")


# --------------------------------------------------------------------------------------------
# Cache: per kernel, keyed by the database file's identity
# --------------------------------------------------------------------------------------------


class SummaryCache:
    """Small LRU caches for the parts of a summary that a filter change does not touch.

    Keys include the database file's identity (inode, size, mtime), so a file replaced by a
    writer is read afresh. One instance per kernel (:func:`kernel_cache`).
    """

    def __init__(self, size: int = 16, outcome_size: int = 2) -> None:
        self._parts: OrderedDict[Hashable, Any] = OrderedDict()
        self._outcomes: OrderedDict[Hashable, Any] = OrderedDict()
        self._size, self._outcome_size = size, outcome_size
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value for ``(kind, key)``, computing it on a miss."""
        store, size = (
            (self._outcomes, self._outcome_size)
            if kind == "outcomes"
            else (self._parts, self._size)
        )
        full_key = (kind, key)
        with self._lock:
            if full_key in store:
                store.move_to_end(full_key)
                self.hits += 1
                return store[full_key]
        value = compute()
        with self._lock:
            self.misses += 1
            store[full_key] = value
            while len(store) > size:
                store.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._parts.clear()
            self._outcomes.clear()


_kernel_cache = SummaryCache()


def kernel_cache() -> SummaryCache:
    """This process's (kernel's) cache."""
    return _kernel_cache


def _file_key(reader: Reader) -> tuple[str, int, int, int]:
    status = os.stat(reader.path)
    return (str(reader.path), status.st_ino, status.st_size, status.st_mtime_ns)


# --------------------------------------------------------------------------------------------
# Options for the filters
# --------------------------------------------------------------------------------------------


def filter_options(reader: Reader) -> dict[str, Any]:
    """What the filters can offer: services, teams, quarters with ended episodes.

    Returns:
        ``services`` (sorted names), ``teams`` (a frame of ``team_id``, ``name``, ``service``),
        ``quarters`` (labels of quarters in which episodes ended, ascending) and
        ``default_period`` (the last *complete* quarter with ended episodes, else the last).
    """
    teams = reader.df("SELECT team_id, name, service FROM teams ORDER BY name, team_id")
    bounds = reader.rows("SELECT min(ended), max(ended), max(started) FROM episodes")[0]
    quarters: list[str] = []
    default = None
    if bounds[0] is not None:
        first = pd.Period(bounds[0], freq="Q")
        last = pd.Period(bounds[1], freq="Q")
        quarters = [str(q) for q in pd.period_range(first, last, freq="Q")]
        newest = max(d for d in bounds[1:] if d is not None)
        complete = [q for q in quarters if pd.Period(q, freq="Q").end_time.date() < newest]
        default = complete[-1] if complete else quarters[-1]
    return {
        "services": sorted(teams["service"].unique().tolist()),
        "teams": teams,
        "quarters": quarters,
        "default_period": default,
    }


# --------------------------------------------------------------------------------------------
# The numbers
# --------------------------------------------------------------------------------------------

_COMPLETENESS_SQL = """
WITH f AS (
    SELECT
        s.team_id,
        s.client_id,
        s.ors_total,
        s.srs_total,
        CAST(year(s.session_date) AS VARCHAR) || 'Q' || CAST(quarter(s.session_date) AS VARCHAR)
            AS quarter,
        s.session_date BETWEEN ? AND ? AS in_period
    FROM sessions AS s
    JOIN teams AS t ON t.team_id = s.team_id
    {joins}
    WHERE s.rater = 'client' AND s.session_date BETWEEN ? AND ? {where}
)
SELECT
    team_id,
    quarter,
    in_period,
    grouping(team_id) AS all_teams,
    grouping(quarter) AS all_quarters,
    count(DISTINCT client_id) AS clients,
    count(*) AS sessions,
    count(ors_total) AS with_ors,
    count(srs_total) AS with_srs
FROM f
GROUP BY GROUPING SETS ((team_id, quarter), (quarter), (team_id, in_period), (in_period))
"""

_COMPLETENESS_COLUMNS = ["clients", "sessions", "pct_sessions_with_ors", "pct_sessions_with_srs"]


def _completeness_frames(
    reader: Reader, filters: ServiceFilters, quarters: list[str]
) -> dict[str, pd.DataFrame]:
    """Session-date completeness of the population (all teams), unsuppressed."""
    window_start = pd.Period(quarters[0], freq="Q").start_time.date()
    window_end = pd.Period(quarters[-1], freq="Q").end_time.date()
    start = min(window_start, filters.period.start)
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
    sql = _COMPLETENESS_SQL.format(
        joins="\n    ".join(joins), where="".join(f" AND {w}" for w in where)
    )
    raw = reader.df(sql, [filters.period.start, filters.period.end, start, window_end, *params])
    with np.errstate(invalid="ignore", divide="ignore"):
        raw["pct_sessions_with_ors"] = 100.0 * raw["with_ors"] / raw["sessions"]
        raw["pct_sessions_with_srs"] = 100.0 * raw["with_srs"] / raw["sessions"]
    for column in ("clients", "sessions"):
        raw[column] = raw[column].astype("int64")
    by_quarter = raw["quarter"].notna()
    team_quarter = raw[by_quarter & (raw["all_teams"] == 0)]
    service_quarter = raw[by_quarter & (raw["all_teams"] == 1)]
    team_period = raw[~by_quarter & (raw["all_teams"] == 0) & (raw["in_period"] == True)]  # noqa: E712
    service_period = raw[~by_quarter & (raw["all_teams"] == 1) & (raw["in_period"] == True)]  # noqa: E712
    return {
        "team_quarter": team_quarter[["team_id", "quarter", *_COMPLETENESS_COLUMNS]],
        "quarter": service_quarter[["quarter", *_COMPLETENESS_COLUMNS]],
        "team_period": team_period[["team_id", *_COMPLETENESS_COLUMNS]],
        "period": service_period[_COMPLETENESS_COLUMNS],
    }


def _suppressed(table: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table.attrs = {"group_keys": keys}
    return suppress_small_cells(table, config=config, keys=keys)


def wilson_interval(successes: Any, trials: Any) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval for a proportion, in percent (NaN where ``trials`` is 0).

    Wilson (1927), *Probable inference, the law of succession, and statistical inference*,
    JASA 22:209-212; recommended over the normal approximation for small n by Brown, Cai &
    DasGupta (2001). z = 1.959964.
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    z = CRITICAL_VALUE
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = np.where(n > 0, 100 * (centre - half), np.nan)
    high = np.where(n > 0, 100 * (centre + half), np.nan)
    return low, high


_EFFECT_COLUMNS = (
    "model_clients",
    "model_episodes",
    "team_effect",
    "team_effect_se",
    "team_effect_ci_low",
    "team_effect_ci_high",
    "team_effect_reason",
    "model_suppressed",
)


def team_effects(
    rows: pd.DataFrame,
    *,
    min_episodes: int = TEAM_MIN_EPISODES,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Shrunken, intake-adjusted team differences with 95 % intervals (multilevel model).

    The team version of :func:`fitdata.therapists.therapist_effects`, with the same model and
    formulas: closed client-episodes with at least two ORS; ``change = b0 + b1 * (intake -
    mean intake) + u_team + e`` fitted by REML (statsmodels ``MixedLM``); a team's estimate is
    the BLUP of ``u_team`` (ORS points above or below the service's intake-adjusted mean
    change), its interval BLUP +/- 1.959964 * sqrt(conditional variance). Teams with fewer
    than ``min_episodes`` eligible client-episodes are not estimated. It is fitted with the
    array interface (no formula parsing) and statsmodels' default optimisers (a single
    L-BFGS run can stop at a team variance of 0 when it is not; a test shows it). BLUPs and
    conditional variances are computed in closed form from the fitted variances, which also
    works when REML puts the team variance at exactly 0 (every team then gets 0 +/- 0).

    Returns:
        A frame with ``team_id``, ``model_clients``, ``model_episodes``, ``team_effect``,
        ``team_effect_se``, ``team_effect_ci_low``, ``team_effect_ci_high``,
        ``team_effect_reason`` (suppressed by client count), and the model's attributes
        (``therapist_variance`` is named ``team_variance`` here; ``icc``, ``converged`` ...).
    """
    eligible = rows["ended"].notna() & (rows["n_with_ors"] >= 2)
    fit = rows.loc[eligible, ["team_id", "first_ors", "last_ors"]].copy()
    fit["change"] = fit["last_ors"] - fit["first_ors"]
    teams = pd.Index(sorted(rows["team_id"].dropna().unique()), name="team_id")
    counts = fit.groupby("team_id").size().reindex(teams, fill_value=0)
    estimated = counts.index[counts >= min_episodes]
    fit = fit[fit["team_id"].isin(estimated)]
    table = pd.DataFrame(index=teams)
    table["model_clients"] = rows.groupby("team_id")["client_id"].nunique().reindex(teams)
    table["model_episodes"] = counts
    table["team_effect"] = np.nan
    table["team_effect_se"] = np.nan
    table["team_effect_reason"] = np.where(
        counts >= min_episodes, "", f"fewer than {min_episodes} episodes"
    )
    attrs: dict[str, Any] = {
        "team_variance": float("nan"),
        "residual_variance": float("nan"),
        "icc": float("nan"),
        "n_therapists": len(estimated),  # the key the report's notes read (number of groups)
        "n_episodes": len(fit),
        "min_episodes": min_episodes,
        "converged": False,
        "warnings": [],
        "error": None,
        "method": "MixedLM (REML): change ~ centred intake + team random intercept",
    }
    if len(estimated) < 2:
        attrs["error"] = f"fewer than 2 teams with at least {min_episodes} episodes"
    else:
        import warnings

        from statsmodels.regression.mixed_linear_model import MixedLM

        intake = fit["first_ors"].to_numpy(dtype="float64")
        exog = np.column_stack([np.ones(len(fit)), intake - intake.mean()])
        records: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                model = MixedLM(
                    fit["change"].to_numpy(dtype="float64"),
                    exog,
                    groups=fit["team_id"].to_numpy(),
                )
                result = model.fit(reml=True)
                tau2 = max(float(np.asarray(result.cov_re)[0, 0]), 0.0)
                sigma2 = float(result.scale)
            # BLUP and conditional variance of a random intercept, in closed form (what
            # statsmodels' random_effects computes, which refuses a variance of exactly 0):
            # u_j = n_j tau2 / (n_j tau2 + sigma2) * mean_j(residual), Var = tau2 sigma2 /
            # (sigma2 + n_j tau2). A team variance of 0 gives 0 +/- 0 for every team.
            residual = fit["change"].to_numpy(dtype="float64") - exog @ np.asarray(
                result.fe_params, dtype="float64"
            )
            by_team = pd.DataFrame({"team_id": fit["team_id"].to_numpy(), "r": residual})
            grouped = by_team.groupby("team_id")["r"].agg(["mean", "size"])
            n = grouped["size"].to_numpy(dtype="float64")
            shrink = n * tau2 / (n * tau2 + sigma2)
            table.loc[grouped.index, "team_effect"] = shrink * grouped["mean"].to_numpy()
            table.loc[grouped.index, "team_effect_se"] = np.sqrt(
                tau2 * sigma2 / (sigma2 + n * tau2)
            )
            attrs.update(
                team_variance=tau2,
                residual_variance=sigma2,
                icc=tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else float("nan"),
                converged=bool(result.converged),
            )
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as error:
            attrs["error"] = f"the model could not be fitted: {error}"
        attrs["warnings"] = list(
            dict.fromkeys(f"{r.category.__name__}: {r.message}" for r in records)
        )
    if attrs["error"] is not None:
        table.loc[table["team_effect_reason"] == "", "team_effect_reason"] = str(attrs["error"])
    table["team_effect_ci_low"] = table["team_effect"] - CRITICAL_VALUE * table["team_effect_se"]
    table["team_effect_ci_high"] = table["team_effect"] + CRITICAL_VALUE * table["team_effect_se"]
    table = table.reset_index()
    table.attrs = {"group_keys": ["team_id", "team_effect_reason"]}
    table = suppress_small_cells(table, count_column="model_clients", config=config)
    table = table.rename(columns={"suppressed": "model_suppressed"})
    table.attrs = {}
    return table, attrs


def service_summary(
    reader: Reader,
    filters: ServiceFilters,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> ServiceSummary:
    """Every number of the service dashboard and the report for one selection.

    Args:
        reader: The database.
        filters: Period, service, team, age group and format.
        config: Thresholds, tie rules and the minimum cell size.
        cache: Reuse parts that do not depend on a changed filter (e.g.
            :func:`kernel_cache`); None computes everything afresh.

    Returns:
        A :class:`ServiceSummary` whose tables are all suppressed (see the module docstring).
    """
    cache = cache or SummaryCache()
    file_key = _file_key(reader)
    quarters = filters.period.trend_quarters()
    window_start = pd.Period(quarters[0], freq="Q").start_time.date()
    window_end = pd.Period(quarters[-1], freq="Q").end_time.date()
    start = min(window_start, filters.period.start)

    names_frame = cache.get(
        "teams",
        file_key,
        lambda: reader.df("SELECT team_id, name, service FROM teams ORDER BY name, team_id"),
    )
    team_names = dict(zip(names_frame["team_id"], names_frame["name"], strict=True))

    outcomes = cache.get(
        "outcomes",
        (file_key, filters.service),
        lambda: episode_outcomes(reader, service=filters.service, closed_only=True),
    )

    def population() -> pd.DataFrame:
        ended = pd.to_datetime(outcomes["ended"])
        mask = (ended >= pd.Timestamp(start)) & (ended <= pd.Timestamp(window_end))
        if filters.age_group is not None:
            mask &= outcomes["age_group"] == filters.age_group
        if filters.format is not None:
            mask &= outcomes["format"] == filters.format
        return outcomes.loc[mask].reset_index(drop=True)

    population_key = (
        file_key,
        filters.service,
        filters.age_group,
        filters.format,
        start,
        window_end,
    )
    rows = cache.get("population", population_key, population)
    ended = pd.to_datetime(rows["ended"])
    in_period = (
        (ended >= pd.Timestamp(filters.period.start)) & (ended <= pd.Timestamp(filters.period.end))
    ).to_numpy()

    def with_lt2(table: pd.DataFrame) -> pd.DataFrame:
        with np.errstate(invalid="ignore", divide="ignore"):
            table["pct_lt2_ors"] = 100.0 * table["episodes_lt2_ors"] / table["client_episodes"]
        return table

    # Every service_indices call below gets the same reference set (``rows``: the population
    # in the window), so the severity adjustment is fitted once on the same data everywhere.
    def all_period() -> pd.DataFrame:
        cells = rows.assign(_cell=np.where(in_period, "period", "~reference"))
        table = service_indices(cells, by=["_cell"], config=config)
        return with_lt2(table[table["_cell"] == "period"].drop(columns="_cell"))

    def quarters_table(by_team: bool) -> Callable[[], pd.DataFrame]:
        def compute() -> pd.DataFrame:
            by = ["team_id"] if by_team else None
            table = service_indices(rows, by=by, period="quarter", config=config)
            return with_lt2(table.rename(columns={"period": "quarter"}))

        return compute

    def teams() -> pd.DataFrame:
        cells = rows.assign(_cell=np.where(in_period, rows["team_id"], "~reference"))
        table = service_indices(cells, by=["_cell"], config=config)
        table = table[table["_cell"] != "~reference"].rename(columns={"_cell": "team_id"})
        n = table["episodes_with_change"].to_numpy(dtype="float64")
        low, high = wilson_interval(table["pct_target"].to_numpy(dtype="float64") * n / 100, n)
        table["pct_target_ci_low"] = low
        table["pct_target_ci_high"] = high
        table = with_lt2(table)
        if in_period.any():
            effects, attrs = team_effects(rows.loc[in_period], config=config)
            table = table.merge(effects, on="team_id", how="left")
        else:
            attrs = {"error": "no closed episodes in the period"}
            for column in _EFFECT_COLUMNS:
                table[column] = np.nan
        table.insert(1, "name", table["team_id"].map(team_names).fillna(table["team_id"]))
        table = table.sort_values(["name", "team_id"], kind="stable", ignore_index=True)
        # A team row hidden by the indices hides its model estimate too.
        hidden = table["suppressed"].astype(bool)
        for column in (
            "team_effect",
            "team_effect_se",
            "team_effect_ci_low",
            "team_effect_ci_high",
        ):
            table[column] = table[column].where(~hidden)
        table.attrs = {"team_model": attrs}
        return table

    period_key = (population_key, filters.period, config)
    cached_teams = cache.get("teams", period_key, teams)
    team_table = cached_teams.copy()
    team_table.attrs = dict(cached_teams.attrs)
    team_table["selected"] = team_table["team_id"] == filters.team_id
    if filters.team_id is None:
        headline_table = cache.get("all_period", period_key, all_period)
        trend_source = cache.get("all_quarters", (population_key, config), quarters_table(False))
    else:
        headline_table = team_table[team_table["team_id"] == filters.team_id]
        headline_table = headline_table[[*INDEX_COLUMNS, "suppressed", "pct_lt2_ors"]]
        trend_source = cache.get("team_quarters", (population_key, config), quarters_table(True))
        trend_source = trend_source[trend_source["team_id"] == filters.team_id].drop(
            columns="team_id"
        )
    headline_table = headline_table.reset_index(drop=True)
    if headline_table.empty:  # nothing ended in the period: one hidden row
        headline_table = pd.DataFrame([dict.fromkeys(headline_table.columns, np.nan)])
        headline_table["suppressed"] = True
    trend_table = pd.DataFrame({"quarter": quarters}).merge(trend_source, on="quarter", how="left")
    trend_table["suppressed"] = trend_table["suppressed"].astype("boolean").fillna(True)
    trend_table["suppressed"] = trend_table["suppressed"].astype(bool)

    completeness = cache.get(
        "completeness",
        (file_key, filters.service, filters.age_group, filters.format, filters.period, start),
        lambda: _completeness_frames(reader, filters, quarters),
    )
    if filters.team_id is None:
        focus_trend = completeness["quarter"]
    else:
        focus_trend = completeness["team_quarter"]
        focus_trend = focus_trend[focus_trend["team_id"] == filters.team_id].drop(columns="team_id")
    completeness_trend = pd.DataFrame({"quarter": quarters}).merge(
        focus_trend, on="quarter", how="left"
    )
    completeness_trend = _suppressed(completeness_trend, ["quarter"], config)
    team_period = completeness["team_period"].copy()
    team_period.insert(1, "name", team_period["team_id"].map(team_names))
    team_period = team_period.sort_values(["name", "team_id"], kind="stable")
    completeness_team = _suppressed(team_period, ["team_id", "name"], config)
    completeness_team["selected"] = completeness_team["team_id"] == filters.team_id
    lt2 = team_table.set_index("team_id")["pct_lt2_ors"]
    completeness_team["pct_lt2_ors"] = completeness_team["team_id"].map(lt2)
    team_trend = completeness["team_quarter"]
    team_trend = team_trend[team_trend["quarter"].isin(quarters)].copy()
    team_trend.insert(1, "name", team_trend["team_id"].map(team_names))
    team_trend = team_trend.sort_values(["name", "team_id", "quarter"], kind="stable")
    completeness_team_trend = _suppressed(team_trend, ["team_id", "name", "quarter"], config)

    summary = ServiceSummary(
        filters=filters,
        config=config,
        headline=headline_table,
        trend=trend_table,
        teams=team_table,
        completeness_trend=completeness_trend,
        completeness_team=completeness_team.reset_index(drop=True),
        completeness_team_trend=completeness_team_trend,
        team_model=team_table.attrs.get("team_model", {}),
        team_names=team_names,
        quarters=quarters,
    )
    summary.reading = reading(summary)
    return summary


# --------------------------------------------------------------------------------------------
# The plain-language reading
# --------------------------------------------------------------------------------------------


def _shown(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _direction(change: float, threshold: float) -> str:
    if change >= threshold:
        return "rose"
    if change <= -threshold:
        return "fell"
    return "same"


def reading(summary: ServiceSummary) -> list[ReadingItem]:
    """Sentences drawn from the summary's unsuppressed cells (see :class:`ReadingItem`).

    Rules (each a constant of this module): completeness of the last two quarters of the trend
    (a change of :data:`COMPLETENESS_CHANGE_POINTS` or more is a rise or fall); teams whose
    completeness fell by :data:`TEAM_DROP_POINTS` or more; the effect size with its interval
    and the published band; % reaching target against the vendor band; unplanned endings
    without effect between the last two quarters (:data:`UNPLANNED_CHANGE_POINTS`); the share
    of client-episodes with fewer than two ORS; teams whose model interval lies wholly above
    or below the service mean, or that all intervals include it. A sentence is made only when
    every cell it needs is shown (not suppressed).
    """
    items: list[ReadingItem] = []
    quarters = summary.quarters
    this_q, last_q = quarters[-1], quarters[-2]

    trend = summary.completeness_trend.set_index("quarter")
    for measure in ("ors", "srs"):
        column = f"pct_sessions_with_{measure}"
        now, before = trend.at[this_q, column], trend.at[last_q, column]
        if _shown(now) and _shown(before):
            direction = _direction(now - before, COMPLETENESS_CHANGE_POINTS)
            items.append(
                ReadingItem(
                    f"service.reading.completeness_{direction}",
                    {
                        "measure": measure.upper(),
                        "before": before,
                        "now": now,
                        "quarter": this_q,
                        "previous": last_q,
                    },
                    (
                        f"completeness_trend[{last_q}].{column}",
                        f"completeness_trend[{this_q}].{column}",
                    ),
                )
            )
        elif _shown(now):
            items.append(
                ReadingItem(
                    "service.reading.completeness_level",
                    {"measure": measure.upper(), "now": now, "quarter": this_q},
                    (f"completeness_trend[{this_q}].{column}",),
                )
            )

    team_trend = summary.completeness_team_trend
    if summary.filters.team_id is None and not team_trend.empty:
        for measure in ("ors", "srs"):
            column = f"pct_sessions_with_{measure}"
            # set_index + unstack, not pivot_table(dropna=False): that builds every
            # name x team_id combination (160,000 rows for 400 teams).
            wide = team_trend.set_index(["name", "team_id", "quarter"])[column].unstack("quarter")
            if this_q not in wide.columns or last_q not in wide.columns:
                continue
            for (name, team_id), row in wide.iterrows():
                now, before = row[this_q], row[last_q]
                if _shown(now) and _shown(before) and before - now >= TEAM_DROP_POINTS:
                    items.append(
                        ReadingItem(
                            "service.reading.team_completeness_fell",
                            {
                                "measure": measure.upper(),
                                "team": name,
                                "before": before,
                                "now": now,
                                "quarter": this_q,
                                "previous": last_q,
                            },
                            (
                                f"completeness_team_trend[{team_id}|{last_q}].{column}",
                                f"completeness_team_trend[{team_id}|{this_q}].{column}",
                            ),
                        )
                    )

    head = summary.headline.iloc[0] if len(summary.headline) else None
    period = summary.filters.period.label
    if head is not None and _shown(head.get("clients")):
        items.append(
            ReadingItem(
                "service.reading.volume",
                {"clients": head["clients"], "episodes": head["client_episodes"], "period": period},
                ("headline[0].clients", "headline[0].client_episodes"),
            )
        )
        if _shown(head["effect_size"]) and _shown(head["effect_size_ci_low"]):
            band = band_for("effect_size")
            assert band is not None
            if head["effect_size_ci_high"] < band.low:
                position = "below"
            elif head["effect_size_ci_low"] > band.high:
                position = "above"
            else:
                position = "within"
            items.append(
                ReadingItem(
                    f"service.reading.effect_size_{position}",
                    {
                        "es": head["effect_size"],
                        "low": head["effect_size_ci_low"],
                        "high": head["effect_size_ci_high"],
                        "band_low": band.low,
                        "band_high": band.high,
                    },
                    (
                        "headline[0].effect_size",
                        "headline[0].effect_size_ci_low",
                        "headline[0].effect_size_ci_high",
                    ),
                )
            )
        if _shown(head["pct_target"]):
            band = band_for("pct_target")
            assert band is not None
            position = (
                "below"
                if head["pct_target"] < band.low
                else "above"
                if head["pct_target"] > band.high
                else "within"
            )
            items.append(
                ReadingItem(
                    f"service.reading.target_{position}",
                    {"pct": head["pct_target"], "band_low": band.low, "band_high": band.high},
                    ("headline[0].pct_target",),
                )
            )
        if _shown(head["pct_lt2_ors"]):
            items.append(
                ReadingItem(
                    "service.reading.lt2_ors",
                    {"pct": head["pct_lt2_ors"]},
                    ("headline[0].pct_lt2_ors",),
                )
            )

    outcome_trend = summary.trend.set_index("quarter")
    column = "pct_unplanned_without_effect"
    now, before = outcome_trend.at[this_q, column], outcome_trend.at[last_q, column]
    if _shown(now) and _shown(before):
        direction = _direction(now - before, UNPLANNED_CHANGE_POINTS)
        items.append(
            ReadingItem(
                f"service.reading.unplanned_{direction}",
                {"before": before, "now": now, "quarter": this_q, "previous": last_q},
                (f"trend[{last_q}].{column}", f"trend[{this_q}].{column}"),
            )
        )

    teams = summary.teams
    estimated = teams[teams["team_effect_ci_low"].notna()]
    if len(estimated) >= 2:
        above = estimated[estimated["team_effect_ci_low"] > 0]
        below = estimated[estimated["team_effect_ci_high"] < 0]
        for rows, key in ((above, "above"), (below, "below")):
            for row in rows.itertuples():
                items.append(
                    ReadingItem(
                        f"service.reading.team_{key}",
                        {
                            "team": row.name,
                            "effect": row.team_effect,
                            "low": row.team_effect_ci_low,
                            "high": row.team_effect_ci_high,
                        },
                        (
                            f"teams[{row.team_id}].team_effect",
                            f"teams[{row.team_id}].team_effect_ci_low",
                            f"teams[{row.team_id}].team_effect_ci_high",
                        ),
                    )
                )
        if above.empty and below.empty:
            items.append(
                ReadingItem(
                    "service.reading.teams_overlap",
                    {"teams": len(estimated)},
                    tuple(f"teams[{t}].team_effect_ci_low" for t in estimated["team_id"]),
                )
            )
    return items
