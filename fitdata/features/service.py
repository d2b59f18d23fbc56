"""All numbers of the service dashboard and the leaders' report, from one function.

:func:`service_summary` is the only place the service dashboard (``fitdata.ui.service``) and the
report (``fitdata.outputs.report``) get their numbers from, so the two agree by construction. Its
tables are those of :func:`fitdata.analytics.indices.service_indices` (same formulas, same
categories and tie rules, same suppression with ``suppress_small_cells``), computed from facts the
kernel reads once (see "Speed" below); a test compares every table with ``service_indices`` over
``episode_outcomes`` for many selections (``tests/unit/test_service_equivalence.py``).

What a summary holds (every table is suppressed with
:func:`fitdata.analytics.indices.suppress_small_cells` before it leaves this module):

* ``completeness_trend`` / ``completeness_team`` / ``completeness_team_trend`` — **are we
  collecting?** Share of the client's own session rows with an ORS and with an SRS, by the
  quarter of the *session date* (so ongoing episodes count), by team for the selected period,
  and by team and quarter. ``service_indices`` measures completeness per client-episode
  grouped by the episode's end date, which leaves out ongoing episodes, exactly the ones a
  leader wants to see ("are we collecting *now*?").
* ``headline`` — one row of ``service_indices`` for the selection (team, age group, format,
  period), plus ``pct_lt2_ors`` (client-episodes with fewer than two ORS, in %).
* ``trend`` — the same indices by the quarter of the episode's end, over the trend window
  (the eight quarters up to the end of the period, or longer when the period is).
* ``teams`` — the team comparison: ``service_indices`` by team over the period, a 95 % Wilson
  interval for % reaching target, and the multilevel estimate of each team's intake-adjusted
  difference in mean ORS change from the service (the model of
  ``therapists.therapist_effects`` applied to teams: a random intercept per team, REML,
  shrunken BLUPs with intervals, teams under ``TEAM_MIN_EPISODES`` not estimated). Rows are
  ordered by team **name**, never by a value.

Population and reference set. The service, age-group and format filters choose the
*population*; the team filter chooses the *focus*. Team tables always show every team of the
population (the selected team is marked), so a team is seen beside its peers with intervals
rather than alone. The severity adjustment (one regression of change on intake) is fitted
on the client-episodes of the population that ended in the trend window, one reference set
for the headline, the trend and the team table alike: the headline of a one-quarter period
equals that quarter's row of the trend.

Speed (issue 5: a filter change under 300 ms at 1 million sessions, under 1 s at 10 million).
Reading the sessions again for every change cannot meet that (aggregating 10 million
sessions to client-episodes takes seconds), so the kernel reads two sets of facts once per
database version, reader scope and config (:class:`SummaryCache`), with filters and
categories computed in DuckDB:

* the closed client-episodes (``indices.category_query``: ``episode_outcomes`` with the PCOMS
  categories in SQL) as integer codes, and their *additive* facts (counts, sums and sums of
  squares of ten times the ORS totals, which are integers, and of the indicators) summed per
  team, month of the end, age group and format;
* the client-rated sessions per client, team, month, format and age group.

A filter change selects cells and adds them up with ``numpy.bincount``: every mean, share
and variance (exact: integer sums, products in extended precision), the severity line from
the reference set's sums, and the team model from per-team sums (:func:`team_effects_from_sums`,
the exact REML optimum of the same model). Distinct clients and episodes are counted on the
rows, in orders sorted once in which the rows of one client in one group are adjacent, so no
sort happens per change. Nothing is read from the database and no per-episode pandas frame
is built on a filter change (a test counts the queries).

A new kernel does not aggregate the sessions again: the facts are stored beside the database in
``<db>.cache/`` (:func:`_stored_facts`, through :mod:`fitdata.data.cache`'s keys: database
version, access scope, code and configuration) and read back in a fraction of a second;
:func:`warm_facts` stores them right after a write.

Reference bands (:data:`REFERENCE_BANDS`) come from ``shared/domain.md`` and carry their
source: vendor benchmarks are labelled "not peer reviewed".

The plain-language reading (:func:`reading`) turns unsuppressed cells into sentences. Each
:class:`ReadingItem` names the cells it rests on (``"table[row].column"``), so a test can
check every number of every sentence against the tables.

Computed here, not in ``fitdata.analytics.indices`` (candidates to move there): session-date
completeness, ``pct_lt2_ors``, the Wilson interval for % reaching target, the team
multilevel model (:func:`team_effects` with statsmodels is kept as the reference fit).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import re
import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.indices import (
    INDEX_COLUMNS,
    category_query,
    finish_aggregate,
    labelled_table,
    suppress_small_cells,
)
from fitdata.analytics.intervals import wilson_interval
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import cache
from fitdata.data.cache import scope_key
from fitdata.data.store import Reader
from fitdata.vocabulary import FORMATS

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
    "team_effects_from_sums",
    "warm_facts",
]

log = logging.getLogger(__name__)

PeriodUnit = Literal["month", "quarter", "year"]
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

    def __init__(self, size: int = 16, outcome_size: int = 4) -> None:
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

# --------------------------------------------------------------------------------------------
# The kernel's facts: read once per database version, aggregated per filter change
# --------------------------------------------------------------------------------------------

#: Code of each age group and format in the facts (positions in AGE_GROUPS / FORMATS).
_AGE_CASE = "CASE {c} " + " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(AGE_GROUPS))
_AGE_CASE += " ELSE -1 END::TINYINT"
_FORMAT_CASE = "CASE {c} " + " ".join(f"WHEN '{f}' THEN {i}" for i, f in enumerate(FORMATS))
_FORMAT_CASE += " ELSE -1 END::TINYINT"

# Team codes: positions in the sorted team ids of the teams and episodes tables.
_TEAM_CODES = """
tc AS (
    SELECT team_id, (row_number() OVER (ORDER BY team_id) - 1)::INTEGER AS team_code
    FROM (SELECT team_id FROM teams UNION SELECT team_id FROM episodes)
)
"""
_TEAMS_SQL = f"""
WITH {_TEAM_CODES}
SELECT tc.team_code, tc.team_id, t.service FROM tc LEFT JOIN teams AS t USING (team_id)
ORDER BY tc.team_code
"""

# One row per closed client-episode: integer codes and the additive facts of every index.
# ORS totals are recorded in steps of 0.1, so ten times a total is an integer and every sum
# (and sum of squares) below is exact in float64; variances are then exact up to one rounding.
_EPISODE_FACTS_SELECT = f"""
, {_TEAM_CODES}
SELECT
    (dense_rank() OVER (ORDER BY z.client_id) - 1)::INTEGER AS client_code,
    (dense_rank() OVER (ORDER BY z.episode_id) - 1)::INTEGER AS episode_code,
    tc.team_code,
    (year(z.ended) * 12 + month(z.ended) - 1)::INTEGER AS month,
    {_AGE_CASE.format(c="z.age_group")} AS age,
    {_FORMAT_CASE.format(c="z.format")} AS fmt,
    has_change::TINYINT AS has_change,
    (first_ors IS NOT NULL)::TINYINT AS ors_given,
    coalesce(round(first_ors * 10), 0)::INTEGER AS first_ors10,
    (first_srs IS NOT NULL)::TINYINT AS srs_given,
    coalesce(round(first_srs * 10), 0)::INTEGER AS first_srs10,
    n_sessions::INTEGER AS n_sessions,
    n_with_ors::INTEGER AS n_with_ors,
    n_with_srs::INTEGER AS n_with_srs,
    (started IS NOT NULL)::TINYINT AS days_given,
    coalesce(date_diff('day', started, ended), 0)::INTEGER AS days,
    coalesce(round(pre * 10), 0)::INTEGER AS pre10,
    coalesce(round(post * 10), 0)::INTEGER AS post10,
    coalesce(category = 'recovered', false)::TINYINT AS recovered,
    coalesce(category = 'improved', false)::TINYINT AS improved,
    coalesce(category = 'unchanged', false)::TINYINT AS unchanged,
    coalesce(category = 'deteriorated', false)::TINYINT AS deteriorated,
    coalesce(category = 'harmed', false)::TINYINT AS harmed,
    coalesce(category IN ('recovered', 'improved')
             OR (functional_post AND category NOT IN ('deteriorated', 'harmed')), false
    )::TINYINT AS target,
    (end_type = 'planned')::TINYINT AS planned,
    (end_type = 'unplanned')::TINYINT AS unplanned,
    (end_type = 'unplanned' AND coalesce(category IN ('recovered', 'improved'), false)
    )::TINYINT AS unplanned_with,
    (end_type = 'unplanned' AND NOT coalesce(category IN ('recovered', 'improved'), false)
    )::TINYINT AS unplanned_without,
    (end_type = 'transferred')::TINYINT AS transferred
FROM z JOIN tc ON tc.team_id = z.team_id
"""

# One row per client, team, month of the session date, episode format and age group: the
# client's own session rows and those with an ORS and an SRS (session-date completeness).
_SESSION_FACTS_SQL = f"""
WITH {_TEAM_CODES},
cc AS (SELECT client_id, (row_number() OVER (ORDER BY client_id) - 1)::INTEGER AS client_code
       FROM (SELECT client_id FROM sessions WHERE rater = 'client' GROUP BY client_id))
SELECT
    cc.client_code,
    tc.team_code,
    (year(s.session_date) * 12 + month(s.session_date) - 1)::INTEGER AS month,
    coalesce({_FORMAT_CASE.format(c="e.format")}, -1)::TINYINT AS fmt,
    coalesce({_AGE_CASE.format(c="c.age_group")}, -1)::TINYINT AS age,
    count(*)::INTEGER AS sessions,
    count(s.ors_total)::INTEGER AS with_ors,
    count(s.srs_total)::INTEGER AS with_srs
FROM sessions AS s
JOIN teams AS t ON t.team_id = s.team_id
JOIN tc ON tc.team_id = s.team_id
JOIN cc ON cc.client_id = s.client_id
LEFT JOIN clients AS c ON c.client_id = s.client_id
LEFT JOIN episodes AS e ON e.episode_id = s.episode_id
WHERE s.rater = 'client'
GROUP BY ALL
"""

#: Additive facts of a client-episode, summed per cell (see :class:`_EpisodeFacts`).
_SUMMED = (
    "one",
    "has_change",
    "ors_given",
    "first_ors10",
    "srs_given",
    "first_srs10",
    "n_sessions",
    "n_sessions_sq",
    "n_with_ors",
    "n_with_srs",
    "days_given",
    "days",
    "pre10",
    "pre10_sq",
    "post10",
    "post10_sq",
    "pre_post",
    "recovered",
    "improved",
    "unchanged",
    "deteriorated",
    "harmed",
    "target",
    "planned",
    "unplanned",
    "unplanned_with",
    "unplanned_without",
    "transferred",
)


def _first_in_runs(*keys: np.ndarray) -> np.ndarray:
    """True where any key differs from the previous element (runs of equal keys)."""
    length = len(keys[0])
    first = np.ones(length, dtype=bool)
    if length > 1:
        first[1:] = False
        for key in keys:
            first[1:] |= key[1:] != key[:-1]
    return first


@dataclass
class _Rows:
    """Rows (client, team, month, age group, format) stored sorted by client, team and month.

    The rows of one client in one team are then adjacent and in month order.
    Counting the first row of each run of (client, group) then counts distinct clients per
    group without sorting, for any group that is a team and a contiguous range of months
    (a quarter, the period). For groups over all teams the same holds for clients seen in one
    team only; the rows of clients seen in several teams (few) have their own order, sorted by
    client, month and team (``multi_order``).
    """

    client: np.ndarray
    team: np.ndarray
    month: np.ndarray
    age: np.ndarray
    fmt: np.ndarray
    single_team: np.ndarray
    multi_order: np.ndarray

    @classmethod
    def sorted(
        cls,
        client: np.ndarray,
        team: np.ndarray,
        month: np.ndarray,
        age: np.ndarray,
        fmt: np.ndarray,
    ) -> tuple[_Rows, np.ndarray]:
        """The rows in storage order, and that order (to sort companion arrays alike)."""
        order = np.lexsort((month, team, client))
        client, team, month = client[order], team[order], month[order]
        new_client = _first_in_runs(client)
        new_team = _first_in_runs(client, team)
        # A client is in several teams when a new team starts within its run.
        block = np.cumsum(new_client) - 1
        several = np.zeros(int(new_client.sum()), dtype=bool)
        np.logical_or.at(several, block[new_team & ~new_client], True)
        single = ~several[block] if len(block) else np.zeros(0, dtype=bool)
        multi = np.flatnonzero(~single)
        multi_order = multi[np.lexsort((team[multi], month[multi], client[multi]))]
        rows = cls(
            client=client,
            team=team,
            month=month,
            age=age[order],
            fmt=fmt[order],
            single_team=single,
            multi_order=multi_order.astype(np.int32),
        )
        return rows, order

    def distinct_clients(
        self,
        keep: np.ndarray,
        group_of: Callable[[np.ndarray], np.ndarray],
        n_groups: int,
        *,
        by_team: bool,
        by_age: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Distinct clients per group (and per group and age group) among the kept rows.

        ``group_of`` gives the (integer) groups of the rows at some positions. ``by_team``
        says that every group lies within one team (a team and some months); otherwise groups
        span teams and are months only (a quarter, the period).
        """
        n_ages = len(AGE_GROUPS)
        total = np.zeros(n_groups, dtype=np.int64)
        ages = np.zeros(n_groups * n_ages, dtype=np.int64)
        if by_team:
            parts = [np.flatnonzero(keep)]
        else:
            parts = [
                np.flatnonzero(keep & self.single_team),
                self.multi_order[keep[self.multi_order]],
            ]
        for positions in parts:
            c, g = self.client[positions], group_of(positions)
            first = np.empty(len(positions), dtype=bool)
            first[:1] = True
            np.not_equal(c[1:], c[:-1], out=first[1:])
            first[1:] |= g[1:] != g[:-1]
            g_first = g[first]
            total += np.bincount(g_first, minlength=n_groups)
            if by_age:  # the age group is the client's: read it for the first rows only
                a = self.age[positions[first]].astype(np.int64)
                valid = a >= 0
                ages += np.bincount(g_first[valid] * n_ages + a[valid], minlength=n_groups * n_ages)
        return total, ages.reshape(n_groups, n_ages) if by_age else None


def _row_groups(rows: _Rows, first_quarter: int, n_quarters: int) -> dict[str, Callable]:
    """Functions from row positions to group numbers (computed for the kept rows only)."""

    def quarter(p: np.ndarray) -> np.ndarray:
        return rows.month[p].astype(np.int64) // 3 - first_quarter

    return {
        "team_quarter": lambda p: rows.team[p].astype(np.int64) * n_quarters + quarter(p),
        "quarter": quarter,
        "team": lambda p: rows.team[p].astype(np.int64),
        "all": lambda p: np.zeros(len(p), dtype=np.int64),
    }


def _cells(
    team: np.ndarray, month: np.ndarray, age: np.ndarray, fmt: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each row's cell (team, month, age group, format) and the cells' codes."""
    n_ages, n_formats = len(AGE_GROUPS) + 1, len(FORMATS) + 1  # + 1: an unknown code (-1)
    month0 = int(month.min()) if len(month) else 0
    span = int(month.max()) - month0 + 1 if len(month) else 1
    key = ((team.astype(np.int64) * span + (month - month0)) * n_ages + (age + 1)) * n_formats + (
        fmt + 1
    )
    cells, inverse = np.unique(key, return_inverse=True)
    rest, cell_fmt = np.divmod(cells, n_formats)
    rest, cell_age = np.divmod(rest, n_ages)
    cell_team, cell_month = np.divmod(rest, span)
    return inverse, {
        "team": cell_team.astype(np.int32),
        "month": (cell_month + month0).astype(np.int32),
        "age": (cell_age - 1).astype(np.int8),
        "fmt": (cell_fmt - 1).astype(np.int8),
    }


@dataclass
class _EpisodeFacts:
    """The closed client-episodes of the database (one kernel, one database version).

    ``rows`` (client, team, month of the end, age group, format) count distinct clients;
    ``cell_*`` hold the additive facts summed per (team, month, age group, format), which is
    all a count, sum, mean, variance, share or regression of
    :func:`fitdata.analytics.indices.service_indices` needs. Distinct episodes are additive too:
    each episode's first row (and its first row within each age group, for an age filter) is
    flagged, and an episode's rows share its team, end and format.
    """

    team_ids: np.ndarray
    team_service: np.ndarray
    rows: _Rows
    cell_team: np.ndarray
    cell_month: np.ndarray
    cell_age: np.ndarray
    cell_fmt: np.ndarray
    cell_sums: dict[str, np.ndarray]


@dataclass
class _SessionFacts:
    """Client-rated sessions per client, team, month, format and age group (completeness)."""

    rows: _Rows
    cell_team: np.ndarray
    cell_month: np.ndarray
    cell_age: np.ndarray
    cell_fmt: np.ndarray
    cell_sums: dict[str, np.ndarray]


def _team_table(reader: Reader) -> pd.DataFrame:
    return reader.df(_TEAMS_SQL)


def _episode_facts(reader: Reader, config: ClinicalConfig) -> _EpisodeFacts:
    """Read the closed client-episodes once, with their categories under ``config``."""
    teams = _team_table(reader)
    sql, params = category_query(_EPISODE_FACTS_SELECT, config=config, closed_only=True)
    frame = reader.df(sql, params)
    arrays = {c: frame[c].to_numpy() for c in frame.columns}  # NULL-free by construction
    del frame
    rows, _ = _Rows.sorted(
        arrays["client_code"].astype(np.int32),
        arrays["team_code"].astype(np.int32),
        arrays["month"].astype(np.int32),
        arrays["age"].astype(np.int8),
        arrays["fmt"].astype(np.int8),
    )
    team = arrays["team_code"].astype(np.int32)
    age = arrays["age"].astype(np.int8)
    inverse, cells = _cells(team, arrays["month"].astype(np.int32), age, arrays["fmt"])
    n_cells = len(cells["team"])

    # Each episode's first row, and its first row among the rows of each age group.
    episode = arrays["episode_code"].astype(np.int64)
    by_episode = np.lexsort((age, episode))
    first_any = np.zeros(len(episode), dtype=np.float64)
    first_age = np.zeros(len(episode), dtype=np.float64)
    first_any[by_episode[_first_in_runs(episode[by_episode])]] = 1.0
    first_age[by_episode[_first_in_runs(episode[by_episode], age[by_episode])]] = 1.0

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=values.astype(np.float64), minlength=n_cells)

    pre = arrays["pre10"].astype(np.float64)
    post = arrays["post10"].astype(np.float64)
    n_sessions = arrays["n_sessions"].astype(np.float64)
    sums = {
        "one": summed(np.ones(len(episode))),
        "episode_first": summed(first_any),
        "episode_first_in_age": summed(first_age),
        "n_sessions_sq": summed(n_sessions * n_sessions),
        "pre10_sq": summed(pre * pre),
        "post10_sq": summed(post * post),
        "pre_post": summed(pre * post),
    }
    for name in _SUMMED:
        if name not in sums:
            sums[name] = summed(arrays[name])
    return _EpisodeFacts(
        team_ids=teams["team_id"].to_numpy(dtype=object),
        team_service=teams["service"].to_numpy(dtype=object),
        rows=rows,
        cell_team=cells["team"],
        cell_month=cells["month"],
        cell_age=cells["age"],
        cell_fmt=cells["fmt"],
        cell_sums=sums,
    )


def _session_facts(reader: Reader) -> _SessionFacts:
    """Read the client-rated sessions once, per client, team, month, format and age group."""
    frame = reader.df(_SESSION_FACTS_SQL)
    team = frame["team_code"].to_numpy().astype(np.int32)
    month = frame["month"].to_numpy().astype(np.int32)
    age = frame["age"].to_numpy().astype(np.int8)
    fmt = frame["fmt"].to_numpy().astype(np.int8)
    rows, _ = _Rows.sorted(frame["client_code"].to_numpy().astype(np.int32), team, month, age, fmt)
    inverse, cells = _cells(team, month, age, fmt)
    n_cells = len(cells["team"])
    sums = {
        name: np.bincount(
            inverse, weights=frame[name].to_numpy().astype(np.float64), minlength=n_cells
        )
        for name in ("sessions", "with_ors", "with_srs")
    }
    return _SessionFacts(
        rows=rows,
        cell_team=cells["team"],
        cell_month=cells["month"],
        cell_age=cells["age"],
        cell_fmt=cells["fmt"],
        cell_sums=sums,
    )


# --------------------------------------------------------------------------------------------
# The facts stored beside the database (a new kernel reads them instead of the sessions)
# --------------------------------------------------------------------------------------------

#: Version of the stored facts' layout; bump it when the fields of the facts change.
_FACTS_FORMAT = 1


def _array_to_json(array: np.ndarray) -> dict[str, Any] | list[Any]:
    if array.dtype == object:  # team ids and services: a few hundred strings
        return [None if v is None else str(v) for v in array.tolist()]
    data = zlib.compress(np.ascontiguousarray(array).tobytes(), 1)
    return {"dtype": array.dtype.str, "zlib": base64.b64encode(data).decode("ascii")}


def _array_from_json(value: dict[str, Any] | list[Any]) -> np.ndarray:
    if isinstance(value, list):
        return np.array(value, dtype=object)
    data = zlib.decompress(base64.b64decode(value["zlib"]))
    return np.frombuffer(data, dtype=np.dtype(value["dtype"]))


def _facts_to_json(facts: _EpisodeFacts | _SessionFacts) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name, value in vars(facts).items():
        if isinstance(value, _Rows):
            payload[name] = {k: _array_to_json(v) for k, v in vars(value).items()}
        elif isinstance(value, dict):
            payload[name] = {k: _array_to_json(v) for k, v in value.items()}
        else:
            payload[name] = _array_to_json(value)
    return payload


def _facts_from_json(
    payload: dict[str, Any], kind: type[_EpisodeFacts] | type[_SessionFacts]
) -> _EpisodeFacts | _SessionFacts:
    fields: dict[str, Any] = {}
    for name, value in payload.items():
        if name == "rows":
            fields[name] = _Rows(**{k: _array_from_json(v) for k, v in value.items()})
        elif name == "cell_sums":
            fields[name] = {k: _array_from_json(v) for k, v in value.items()}
        else:
            fields[name] = _array_from_json(value)
    return kind(**fields)


def _facts_code() -> str:
    from fitdata import config as config_module
    from fitdata.analytics import change, indices

    return cache.source_fingerprint(sys.modules[__name__], indices, change, config_module)


def _stored_facts(
    reader: Reader,
    kind: Literal["episodes", "sessions"],
    config: ClinicalConfig | None,
    compute: Callable[[], _EpisodeFacts | _SessionFacts],
) -> _EpisodeFacts | _SessionFacts:
    """The facts from ``<db>.cache/`` when stored for this file version, else computed (and stored).

    Keyed like :mod:`fitdata.data.cache`'s other entries: the database version, the reader's
    access scope, the code (this module, ``indices``, ``change``, ``config``), the layout and,
    for the episodes, the clinical configuration. A new kernel then reads the facts in a
    fraction of a second instead of aggregating every session. The entry holds per-cell sums
    and integer codes (no client or episode ids) that are *not* suppressed: like the database
    beside it, whose file mode it copies, it is for the dashboards' own kernels only.
    """
    entry = f"service_{kind}"
    classes = {"episodes": _EpisodeFacts, "sessions": _SessionFacts}
    key = {
        "config": None if config is None else repr(config),
        "code": _facts_code(),
        "format": _FACTS_FORMAT,
    }
    try:
        version = cache.database_version(reader.path)
    except OSError:  # not a plain file: nothing is stored
        return compute()
    payload = cache.load_json(reader, entry, key, version=version)
    if payload is not None:
        try:
            return _facts_from_json(payload, classes[kind])
        except (ValueError, KeyError, TypeError, zlib.error) as error:
            log.warning("ignoring the stored %s facts of %s: %s", kind, reader.path, error)
    facts = compute()
    cache.store_json(reader, entry, key, _facts_to_json(facts), version)
    return facts


def warm_facts(reader: Reader, *, config: ClinicalConfig = DEFAULT_CONFIG) -> list[str]:
    """Aggregate and store the service page's facts now (see :func:`_stored_facts`).

    For a writer to call after it replaced the database (like :func:`fitdata.jobs.warm`),
    so that not even the first service page after an import aggregates the sessions.

    Returns:
        What was stored, one line each, for the writer's log.
    """
    episodes = _stored_facts(reader, "episodes", config, lambda: _episode_facts(reader, config))
    sessions = _stored_facts(reader, "sessions", None, lambda: _session_facts(reader))
    return [
        f"service page facts: {len(episodes.rows.client):,} closed client-episodes, "
        f"{len(sessions.rows.client):,} client-month rows of sessions"
    ]


def _month_of(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _quarter_label(quarter: np.ndarray) -> list[str]:
    return [f"{q // 4}Q{q % 4 + 1}" for q in quarter.tolist()]


@dataclass(frozen=True)
class _Selection:
    """The population (service, age group, format, months) and the period, as codes."""

    service: str | None
    age: int | None
    fmt: int | None
    first_month: int
    last_month: int
    period_first: int
    period_last: int


def _selection(filters: ServiceFilters, start: dt.date, window_end: dt.date) -> _Selection:
    return _Selection(
        service=filters.service,
        age=None if filters.age_group is None else AGE_GROUPS.index(filters.age_group),
        fmt=None if filters.format is None else FORMATS.index(filters.format),
        first_month=_month_of(start),
        last_month=_month_of(window_end),
        period_first=_month_of(filters.period.start),
        period_last=_month_of(filters.period.end),
    )


def _population(
    selection: _Selection,
    team_service: np.ndarray,
    team: np.ndarray,
    month: np.ndarray,
    age: np.ndarray,
    fmt: np.ndarray,
) -> np.ndarray:
    keep = (month >= selection.first_month) & (month <= selection.last_month)
    if selection.service is not None:
        keep &= (team_service == selection.service)[team]
    if selection.age is not None:
        keep &= age == selection.age
    if selection.fmt is not None:
        keep &= fmt == selection.fmt
    return keep


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
    """The OLS line change = a + b * intake over the reference change set, from its sums."""
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


def _index_table(
    sums: dict[str, np.ndarray],
    clients: np.ndarray,
    clients_by_age: np.ndarray,
    episodes: np.ndarray,
    keys: dict[str, Any],
    info: dict[str, float],
    config: ClinicalConfig,
) -> pd.DataFrame:
    """The table of :func:`~fitdata.analytics.indices.service_indices` from per-group sums."""
    present = sums["one"] > 0
    s = {name: values[present] for name, values in sums.items()}
    n_change = s["has_change"]
    change = s["post10"] - s["pre10"]

    def mean(total: np.ndarray, count: np.ndarray, scale: float = 1.0) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count / scale, np.nan)

    pre_var = _exact_variance(n_change, s["pre10"], s["pre10_sq"], 10.0)
    columns: dict[str, Any] = {key: np.asarray(value)[present] for key, value in keys.items()}
    columns.update(
        clients=clients[present],
        episodes=episodes[present],
        client_episodes=s["one"],
        episodes_lt2_ors=s["one"] - n_change,
        episodes_with_change=n_change,
        intake_ors_mean=mean(s["first_ors10"], s["ors_given"], 10.0),
        intake_srs_mean=mean(s["first_srs10"], s["srs_given"], 10.0),
        sessions_mean=mean(s["n_sessions"], s["one"]),
        sessions_sd=np.sqrt(_exact_variance(s["one"], s["n_sessions"], s["n_sessions_sq"], 1)),
        length_days_mean=mean(s["days"], s["days_given"]),
        change_mean=mean(change, n_change, 10.0),
        _pre_sd=np.sqrt(pre_var),
        _pre_var=pre_var,
        _post_var=_exact_variance(n_change, s["post10"], s["post10_sq"], 10.0),
        _sum_var=_exact_variance(
            n_change,
            s["pre10"] + s["post10"],
            s["pre10_sq"] + 2 * s["pre_post"] + s["post10_sq"],
            10.0,
        ),
        _adjusted=(
            mean(change, n_change, 10.0)
            - (info["intercept"] + info["slope"] * mean(s["pre10"], n_change, 10.0))
            + info["mean_change"]
        ),
        closed_episodes=s["one"],
        sessions=s["n_sessions"],
        _ors_given=s["n_with_ors"],
        _srs_given=s["n_with_srs"],
    )
    for column, name in (
        ("pct_target", "target"),
        ("pct_recovered", "recovered"),
        ("pct_improved", "improved"),
        ("pct_unchanged", "unchanged"),
        ("pct_deteriorated", "deteriorated"),
        ("pct_harmed", "harmed"),
    ):
        columns[column] = mean(s[name], n_change)
    for column, name in (
        ("pct_planned", "planned"),
        ("pct_unplanned", "unplanned"),
        ("pct_unplanned_with_effect", "unplanned_with"),
        ("pct_unplanned_without_effect", "unplanned_without"),
        ("pct_transferred", "transferred"),
    ):
        columns[column] = mean(s[name], s["one"])
    for i, group in enumerate(AGE_GROUPS):
        columns[f"clients_{group}"] = clients_by_age[present, i]
    key_list = list(keys)
    if present.any():
        agg = pd.DataFrame(columns, index=pd.RangeIndex(int(present.sum())))
        table = finish_aggregate(agg, key_list, info)
    else:
        table = pd.DataFrame(columns=[*key_list, *INDEX_COLUMNS])
    return labelled_table(table, key_list, info, config, True)


def _grouped(
    sums: dict[str, np.ndarray], group: np.ndarray, keep: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    g = group[keep]
    return {
        name: np.bincount(g, weights=values[keep], minlength=n_groups)
        for name, values in sums.items()
    }


def _index_tables(
    facts: _EpisodeFacts, selection: _Selection, config: ClinicalConfig
) -> dict[str, Any]:
    """Headline, team, quarter and team-by-quarter indices of one population and period.

    Every table is fitted with the same severity line, over the population's change set in
    the trend window (the reference set), as :func:`fitdata.analytics.indices.service_indices` would
    fit it on those client-episodes.
    """
    n_teams = len(facts.team_ids)
    first_quarter = selection.first_month // 3
    n_quarters = selection.last_month // 3 - first_quarter + 1
    labels = np.array(
        _quarter_label(np.arange(first_quarter, first_quarter + n_quarters)), dtype=object
    )

    keep_cells = _population(
        selection,
        facts.team_service,
        facts.cell_team,
        facts.cell_month,
        facts.cell_age,
        facts.cell_fmt,
    )
    info = _severity_line({name: float(v[keep_cells].sum()) for name, v in facts.cell_sums.items()})
    cell_team = facts.cell_team.astype(np.int64)
    cell_quarter = facts.cell_month.astype(np.int64) // 3 - first_quarter
    cell_in = (facts.cell_month >= selection.period_first) & (
        facts.cell_month <= selection.period_last
    )
    rows = facts.rows
    keep = _population(selection, facts.team_service, rows.team, rows.month, rows.age, rows.fmt)
    row_groups = _row_groups(rows, first_quarter, n_quarters)
    row_in = (rows.month >= selection.period_first) & (rows.month <= selection.period_last)
    episode_flag = "episode_first" if selection.age is None else "episode_first_in_age"

    groupings = {
        # name: (cell groups, cell mask, row groups, row mask, by team, n groups, keys)
        "period": (
            np.zeros(len(cell_team), dtype=np.int64),
            keep_cells & cell_in,
            row_groups["all"],
            keep & row_in,
            False,
            1,
            {},
        ),
        "teams": (
            cell_team,
            keep_cells & cell_in,
            row_groups["team"],
            keep & row_in,
            True,
            n_teams,
            {"team_id": facts.team_ids},
        ),
        "quarters": (
            cell_quarter,
            keep_cells,
            row_groups["quarter"],
            keep,
            False,
            n_quarters,
            {"quarter": labels},
        ),
        "team_quarters": (
            cell_team * n_quarters + cell_quarter,
            keep_cells,
            row_groups["team_quarter"],
            keep,
            True,
            n_teams * n_quarters,
            {"team_id": np.repeat(facts.team_ids, n_quarters), "quarter": np.tile(labels, n_teams)},
        ),
    }
    tables: dict[str, Any] = {"info": info}
    for name, (cell_group, cell_keep, row_group, row_keep, by_team, n, keys) in groupings.items():
        sums = _grouped(facts.cell_sums, cell_group, cell_keep, n)
        clients, by_age = rows.distinct_clients(row_keep, row_group, n, by_team=by_team)
        assert by_age is not None
        table = _index_table(sums, clients, by_age, sums[episode_flag], keys, info, config)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["pct_lt2_ors"] = 100.0 * table["episodes_lt2_ors"] / table["client_episodes"]
        tables[name] = table
        if name == "teams":
            present = sums["one"] > 0
            change = sums["post10"] - sums["pre10"]
            tables["team_sums"] = {
                "team_id": facts.team_ids[present],
                "clients": clients[present],
                "n": sums["has_change"][present],
                "sx": sums["pre10"][present] / 10,
                "sy": change[present] / 10,
                "sxx": sums["pre10_sq"][present] / 100,
                "sxy": (sums["pre_post"] - sums["pre10_sq"])[present] / 100,
                "syy": (sums["pre10_sq"] - 2 * sums["pre_post"] + sums["post10_sq"])[present] / 100,
            }
    return tables


def _completeness_tables(
    facts: _SessionFacts, episode_facts: _EpisodeFacts, selection: _Selection
) -> dict[str, pd.DataFrame]:
    """Session-date completeness of the population (all teams), unsuppressed."""
    team_ids = episode_facts.team_ids
    n_teams = len(team_ids)
    first_quarter = selection.first_month // 3
    n_quarters = selection.last_month // 3 - first_quarter + 1
    labels = np.array(
        _quarter_label(np.arange(first_quarter, first_quarter + n_quarters)), dtype=object
    )
    service = episode_facts.team_service
    keep_cells = _population(
        selection, service, facts.cell_team, facts.cell_month, facts.cell_age, facts.cell_fmt
    )
    cell_team = facts.cell_team.astype(np.int64)
    cell_quarter = facts.cell_month.astype(np.int64) // 3 - first_quarter
    cell_in = (facts.cell_month >= selection.period_first) & (
        facts.cell_month <= selection.period_last
    )
    rows = facts.rows
    keep = _population(selection, service, rows.team, rows.month, rows.age, rows.fmt)
    groups = _row_groups(rows, first_quarter, n_quarters)
    in_period = (rows.month >= selection.period_first) & (rows.month <= selection.period_last)
    specs = {
        # name: (cell groups, cell mask, row groups, row mask, by team, n groups, keys)
        "team_quarter": (
            cell_team * n_quarters + cell_quarter,
            keep_cells,
            groups["team_quarter"],
            keep,
            True,
            n_teams * n_quarters,
            {"team_id": np.repeat(team_ids, n_quarters), "quarter": np.tile(labels, n_teams)},
        ),
        "quarter": (
            cell_quarter,
            keep_cells,
            groups["quarter"],
            keep,
            False,
            n_quarters,
            {"quarter": labels},
        ),
        "team_period": (
            cell_team,
            keep_cells & cell_in,
            groups["team"],
            keep & in_period,
            True,
            n_teams,
            {"team_id": team_ids},
        ),
        "period": (
            np.zeros(len(cell_team), dtype=np.int64),
            keep_cells & cell_in,
            groups["all"],
            keep & in_period,
            False,
            1,
            {},
        ),
    }
    frames = {}
    for name, (cell_group, cell_keep, group, mask, by_team, n, keys) in specs.items():
        sums = _grouped(facts.cell_sums, cell_group, cell_keep, n)
        clients, _ = rows.distinct_clients(mask, group, n, by_team=by_team, by_age=False)
        sessions = sums["sessions"]
        present = sessions > 0
        frame = pd.DataFrame(
            {key: np.asarray(values)[present] for key, values in keys.items()},
            index=pd.RangeIndex(int(present.sum())),
        )
        frame["clients"] = clients[present].astype("int64")
        frame["sessions"] = sessions[present].astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["pct_sessions_with_ors"] = 100.0 * sums["with_ors"][present] / sessions[present]
            frame["pct_sessions_with_srs"] = 100.0 * sums["with_srs"][present] / sessions[present]
        frames[name] = frame
    return frames


def _minimize_bounded(
    func: Callable[[float], float], low: float, high: float, *, xatol: float, maxiter: int = 500
) -> tuple[float, bool]:
    """Brent's bounded minimisation, step for step as scipy's (``method="bounded"``).

    The algorithm of ``scipy.optimize.minimize_scalar(method="bounded")`` (scipy's
    ``_minimize_scalar_bounded``, BSD licence), ported so that the service page does not
    import ``scipy.optimize``: that import alone took 0.7-5 s of the page's open on these
    machines, as long as all its other imports. A test checks that it returns exactly
    scipy's minimiser. Returns the minimiser and whether it converged.
    """
    sqrt_eps = math.sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - math.sqrt(5.0))
    a, b = low, high
    fulc = a + golden_mean * (b - a)
    nfc, xf = fulc, fulc
    rat = e = 0.0
    x = xf
    fx = func(x)
    num = 1
    fu = np.inf
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    flag = 0
    while np.abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = True
        if np.abs(e) > tol1:  # a parabolic fit
            golden = False
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = np.abs(q)
            r = e
            e = rat
            if (np.abs(p) < np.abs(0.5 * q * r)) and (p > q * (a - xf)) and (p < q * (b - xf)):
                rat = (p + 0.0) / q
                x = xf + rat
                if ((x - a) < tol2) or ((b - x) < tol2):
                    rat = tol1 * (np.sign(xm - xf) + ((xm - xf) == 0))
            else:
                golden = True
        if golden:  # a golden-section step
            e = a - xf if xf >= xm else b - xf
            rat = golden_mean * e
        x = xf + (np.sign(rat) + (rat == 0)) * np.maximum(np.abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if (fu <= fnfc) or (nfc == xf):
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            # == as scipy has it (``in`` would treat a NaN as equal to itself)
            elif (fu <= ffulc) or (fulc == xf) or (fulc == nfc):  # noqa: SIM109
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxiter:
            flag = 1
            break
    if np.isnan(xf) or np.isnan(fx) or np.isnan(fu):
        flag = 2
    return float(xf), flag == 0


def _reml_random_intercept(
    n: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray
) -> dict[str, Any]:
    """REML fit of ``y = b0 + b1 x + u_group + e`` from per-group sums (x already centred).

    With ``g = tau2 / sigma2`` the restricted log-likelihood, sigma2 profiled out, is
    ``-1/2 [(N - 2) log(RSS / (N - 2)) + sum_j log(1 + n_j g) + log det A(g)]``, where
    ``A = X' V^-1 X sigma2`` and ``RSS`` the generalised residual sum of squares; every term is
    a sum over groups of the groups' sums (V_j^-1 = (I - g/(1 + n_j g) 11') / sigma2). It is
    maximised over ``log g`` on a grid and then by bounded Brent; ``g = 0`` (no group variance)
    is compared as the boundary.
    """
    total = float(n.sum())

    def parts(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = g[:, None] / (1 + n[None, :] * g[:, None])  # (grid, groups)
        a11 = total - (f * n * n).sum(axis=1)
        a12 = sx.sum() - (f * n * sx).sum(axis=1)
        a22 = sxx.sum() - (f * sx * sx).sum(axis=1)
        b1 = sy.sum() - (f * sy * n).sum(axis=1)
        b2 = sxy.sum() - (f * sy * sx).sum(axis=1)
        c = syy.sum() - (f * sy * sy).sum(axis=1)
        det = a11 * a22 - a12 * a12
        beta0 = (a22 * b1 - a12 * b2) / det
        beta1 = (a11 * b2 - a12 * b1) / det
        rss = c - beta0 * b1 - beta1 * b2
        loglik = -0.5 * (
            (total - 2) * np.log(rss / (total - 2))
            + np.log1p(n[None, :] * g[:, None]).sum(axis=1)
            + np.log(det)
        )
        return loglik, np.stack([beta0, beta1], axis=1), rss

    grid = np.exp(np.linspace(-20.0, 8.0, 113))
    with np.errstate(invalid="ignore", divide="ignore"):
        values, _, _ = parts(grid)
        boundary, _, _ = parts(np.array([0.0]))
    if not np.isfinite(values).any():
        raise ValueError("the design is singular (every intake score is the same)")
    best = int(np.nanargmax(values))
    converged = True
    log_g = float(np.log(grid[best]))
    if 0 < best < len(grid) - 1:
        log_g, converged = _minimize_bounded(
            lambda t: -float(parts(np.array([np.exp(t)]))[0][0]),
            float(np.log(grid[best - 1])),
            float(np.log(grid[best + 1])),
            xatol=1e-10,
        )
    g = np.exp(log_g)
    at_g, _, _ = parts(np.array([g]))
    if best == 0 or boundary[0] >= at_g[0]:
        g = 0.0
    loglik, beta, rss = parts(np.array([g]))
    sigma2 = float(rss[0] / (total - 2))
    return {
        "tau2": g * sigma2,
        "sigma2": sigma2,
        "beta": beta[0],
        "converged": converged and bool(np.isfinite(loglik[0])),
    }


def team_effects_from_sums(
    team_sums: dict[str, np.ndarray],
    *,
    min_episodes: int = TEAM_MIN_EPISODES,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`team_effects` from per-team sums, without the client-episodes.

    The same model, REML estimate, BLUPs, intervals, minimum and suppression as
    :func:`team_effects` (a test compares the two), computed from each team's count of
    eligible client-episodes ``n`` and sums of intake ``x`` and change ``y`` (``sx``, ``sy``,
    ``sxx``, ``sxy``, ``syy``) and its distinct clients, so a filter change needs no rows.
    The REML optimum is found by :func:`_reml_random_intercept` (a one-parameter profile
    likelihood) instead of statsmodels' general optimisers.

    Args:
        team_sums: ``team_id`` (sorted), ``clients`` and the sums above, one entry per team
            with client-episodes in the period.
        min_episodes: Teams with fewer eligible client-episodes are not estimated.
        config: Supplies the minimum cell size.

    Returns:
        As :func:`team_effects`.
    """
    teams = pd.Index(team_sums["team_id"], name="team_id")
    counts = np.asarray(team_sums["n"], dtype=np.float64)
    estimated = counts >= min_episodes
    table = pd.DataFrame(index=teams)
    table["model_clients"] = np.asarray(team_sums["clients"], dtype=np.int64)
    table["model_episodes"] = counts.astype(np.int64)
    table["team_effect"] = np.nan
    table["team_effect_se"] = np.nan
    table["team_effect_reason"] = np.where(estimated, "", f"fewer than {min_episodes} episodes")
    n_fit = int(counts[estimated].sum())
    attrs: dict[str, Any] = {
        "team_variance": float("nan"),
        "residual_variance": float("nan"),
        "icc": float("nan"),
        "n_therapists": int(estimated.sum()),  # the key the report's notes read
        "n_episodes": n_fit,
        "min_episodes": min_episodes,
        "converged": False,
        "warnings": [],
        "error": None,
        "method": "REML: change ~ centred intake + team random intercept (per-team sums)",
    }
    if estimated.sum() < 2:
        attrs["error"] = f"fewer than 2 teams with at least {min_episodes} episodes"
    elif n_fit <= 2:
        attrs["error"] = "the model could not be fitted: too few episodes"
    else:
        n = counts[estimated]
        sx, sy = (np.asarray(team_sums[k], dtype=np.float64)[estimated] for k in ("sx", "sy"))
        sxx, sxy, syy = (
            np.asarray(team_sums[k], dtype=np.float64)[estimated] for k in ("sxx", "sxy", "syy")
        )
        centre = sx.sum() / n.sum()
        cx = sx - n * centre
        cxx = sxx - 2 * centre * sx + n * centre * centre
        cxy = sxy - centre * sy
        try:
            fit = _reml_random_intercept(n, cx, sy, cxx, cxy, syy)
        except (ValueError, ArithmeticError) as error:
            attrs["error"] = f"the model could not be fitted: {error}"
            return _effects_table(table, attrs, config)
        tau2, sigma2 = max(fit["tau2"], 0.0), fit["sigma2"]
        residual_mean = sy / n - fit["beta"][0] - fit["beta"][1] * cx / n
        shrink = n * tau2 / (n * tau2 + sigma2)
        index = teams[estimated]
        table.loc[index, "team_effect"] = shrink * residual_mean
        table.loc[index, "team_effect_se"] = np.sqrt(tau2 * sigma2 / (sigma2 + n * tau2))
        attrs.update(
            team_variance=tau2,
            residual_variance=sigma2,
            icc=tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else float("nan"),
            converged=fit["converged"],
        )
    return _effects_table(table, attrs, config)


def _effects_table(
    table: pd.DataFrame, attrs: dict[str, Any], config: ClinicalConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Intervals, reasons and suppression of a team effects table (shared by both fits)."""
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


def _suppressed(table: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table.attrs = {}
    table = suppress_small_cells(table, config=config, keys=keys)
    table.attrs = {}  # pandas deep-copies attrs on every operation; these tables need none
    return table


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

    The team version of :func:`tests.oracles.therapists.therapist_effects`, with the same model and
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
    return _effects_table(table, attrs, config)


def _team_table_with_effects(
    tables: dict[str, Any], team_names: dict[str, str], config: ClinicalConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The team comparison: indices, Wilson interval, model estimates, ordered by name."""
    table = tables["teams"].copy()
    n = table["episodes_with_change"].to_numpy(dtype="float64")
    low, high = wilson_interval(table["pct_target"].to_numpy(dtype="float64") * n / 100, n)
    pct_lt2 = table.pop("pct_lt2_ors")
    table["pct_target_ci_low"] = low
    table["pct_target_ci_high"] = high
    table["pct_lt2_ors"] = pct_lt2
    if len(tables["team_sums"]["team_id"]):
        effects, attrs = team_effects_from_sums(tables["team_sums"], config=config)
        table = table.merge(effects, on="team_id", how="left")
    else:
        attrs = {"error": "no closed episodes in the period"}
        for column in _EFFECT_COLUMNS:
            table[column] = np.nan
    table.insert(1, "name", table["team_id"].map(team_names).fillna(table["team_id"]))
    table = table.sort_values(["name", "team_id"], kind="stable", ignore_index=True)
    # A team row hidden by the indices hides its model estimate too.
    hidden = table["suppressed"].astype(bool)
    for column in ("team_effect", "team_effect_se", "team_effect_ci_low", "team_effect_ci_high"):
        table[column] = table[column].where(~hidden)
    table.attrs = {}  # the model's attributes travel in ``team_model``, not on the frame
    return table, attrs


def service_summary(
    reader: Reader,
    filters: ServiceFilters,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> ServiceSummary:
    """Every number of the service dashboard and the report for one selection.

    How it is fast. Once per kernel and database version (and config), two queries read the
    facts every selection needs: the closed client-episodes (``fitdata.analytics.indices``' outcomes
    and PCOMS categories, in SQL) as integer codes with their additive facts summed per team,
    month, age group and format, and the client-rated sessions per client, team, month,
    format and age group. A filter change then only adds up the cells of the selection
    (vectorised ``bincount``) and counts distinct clients and episodes in orders sorted once,
    so nothing is read from the database and no per-episode pandas frame is built again. The
    severity line is fitted from the reference set's sums, and the team model from per-team
    sums (:func:`team_effects_from_sums`). A test compares every table with
    :func:`fitdata.analytics.indices.service_indices` over
    :func:`fitdata.analytics.indices.episode_outcomes`.

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
    file_key = (reader.file_identity(), scope_key(reader))
    quarters = filters.period.trend_quarters()
    window_start = pd.Period(quarters[0], freq="Q").start_time.date()
    window_end = pd.Period(quarters[-1], freq="Q").end_time.date()
    start = min(window_start, filters.period.start)
    selection = _selection(filters, start, window_end)

    names_frame = cache.get(
        "teams",
        file_key,
        lambda: reader.df("SELECT team_id, name, service FROM teams ORDER BY name, team_id"),
    )
    team_names = dict(zip(names_frame["team_id"], names_frame["name"], strict=True))
    facts = cache.get(
        "outcomes",
        ("episodes", file_key, config),
        lambda: _stored_facts(reader, "episodes", config, lambda: _episode_facts(reader, config)),
    )
    population_key = (file_key, config, filters.service, filters.age_group, filters.format)

    def compute_tables() -> dict[str, Any]:
        tables = _index_tables(facts, selection, config)
        tables["teams"], tables["team_model"] = _team_table_with_effects(tables, team_names, config)
        for name in ("period", "quarters", "team_quarters"):
            tables[name].attrs = {}  # pandas deep-copies attrs on every operation
        return tables

    tables = cache.get(
        "tables", (population_key, start, window_end, filters.period), compute_tables
    )
    team_table = tables["teams"].copy()
    team_table["selected"] = team_table["team_id"] == filters.team_id
    if filters.team_id is None:
        headline_table = tables["period"]
        trend_source = tables["quarters"]
    else:
        headline_table = team_table[team_table["team_id"] == filters.team_id]
        headline_table = headline_table[[*INDEX_COLUMNS, "suppressed", "pct_lt2_ors"]]
        trend_source = tables["team_quarters"]
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

    def compute_completeness() -> dict[str, pd.DataFrame]:
        sessions = cache.get(
            "outcomes",
            ("sessions", file_key),
            lambda: _stored_facts(reader, "sessions", None, lambda: _session_facts(reader)),
        )
        frames = _completeness_tables(sessions, facts, selection)
        # The team tables do not depend on the focus team: finished here, once per selection.
        team_period = frames["team_period"].copy()
        team_period.insert(1, "name", team_period["team_id"].map(team_names))
        team_period = team_period.sort_values(["name", "team_id"], kind="stable")
        team_period = _suppressed(team_period, ["team_id", "name"], config)
        lt2 = tables["teams"].set_index("team_id")["pct_lt2_ors"]
        team_period["pct_lt2_ors"] = team_period["team_id"].map(lt2)
        frames["team_period_shown"] = team_period
        team_trend = frames["team_quarter"]
        team_trend = team_trend[team_trend["quarter"].isin(quarters)].copy()
        team_trend.insert(1, "name", team_trend["team_id"].map(team_names))
        team_trend = team_trend.sort_values(["name", "team_id", "quarter"], kind="stable")
        frames["team_quarter_shown"] = _suppressed(
            team_trend, ["team_id", "name", "quarter"], config
        )
        return frames

    completeness = cache.get(
        "completeness",
        (population_key, start, window_end, filters.period),
        compute_completeness,
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
    completeness_team = completeness["team_period_shown"].copy()
    completeness_team.insert(
        completeness_team.columns.get_loc("pct_lt2_ors"),
        "selected",
        completeness_team["team_id"] == filters.team_id,
    )
    completeness_team_trend = completeness["team_quarter_shown"].copy()

    summary = ServiceSummary(
        filters=filters,
        config=config,
        headline=headline_table,
        trend=trend_table,
        teams=team_table,
        completeness_trend=completeness_trend,
        completeness_team=completeness_team.reset_index(drop=True),
        completeness_team_trend=completeness_team_trend,
        team_model=dict(tables["team_model"]),
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
            # Only the teams whose completeness fell are visited (not one Python step per team).
            fell = wide[(wide[last_q] - wide[this_q]) >= TEAM_DROP_POINTS]
            for (name, team_id), now, before in zip(
                fell.index, fell[this_q].tolist(), fell[last_q].tolist(), strict=True
            ):
                if _shown(now) and _shown(before):
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
