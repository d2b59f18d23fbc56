"""One selection's summary, in named steps, from facts and tables kept per kernel.

:func:`service_summary` is the only place the service dashboard (``fitdata.ui.service``) and
the report (``fitdata.outputs.report``) get their numbers from, so the two agree by
construction. Its steps: the team names and the closed client-episodes' facts (once per
database version, :mod:`.stored`), the population's tables (once per population and period,
:mod:`.tables` and :mod:`.teams`), the focus team's headline and trend (sliced on every
change), session-date completeness (once per population and period), and the reading
(:mod:`.reading`). :class:`SummaryCache` keeps what a filter change does not touch.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from fitdata.analytics.indices import INDEX_COLUMNS
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.cache import MemoryCache
from fitdata.data.store import Reader
from fitdata.features.service.facts import EpisodeFacts
from fitdata.features.service.linked import LINKED_KEYS, aligned_quarters, linked_suppression
from fitdata.features.service.options import ServiceFilters, team_frame
from fitdata.features.service.reading import reading
from fitdata.features.service.results import ServiceSummary
from fitdata.features.service.stored import stored_episode_facts, stored_session_facts
from fitdata.features.service.tables import (
    Selection,
    completeness_tables,
    index_tables,
    selection,
    suppressed_table,
)
from fitdata.features.service.teams import team_comparison

__all__ = ["SummaryCache", "kernel_cache", "service_summary"]

T = TypeVar("T")

#: The kinds of part that are a database's facts (large: tens of MB at 10 million sessions).
_FACT_KINDS = frozenset({"episodes", "sessions"})


class SummaryCache:
    """The parts of a summary that a filter change does not touch, kept in this process.

    Every part goes through :class:`fitdata.data.cache.MemoryCache`, the package's one
    in-process cache, which keys it on the reader's file identity and access scope (so a file
    replaced by a writer, or another user's views, are never served an old part). Two
    instances, not one, because the parts differ in size by three orders of magnitude: the
    facts (:data:`_FACT_KINDS`) are a few per kernel and large, the tables derived from them
    many and small, and one bound for both would keep too many facts or too few tables.
    ``misses`` counts the parts computed (a test counts what a filter change recomputes).

    Args:
        size: How many tables (and team name lists) to keep.
        facts_size: How many sets of facts to keep.
    """

    def __init__(self, size: int = 16, facts_size: int = 4) -> None:
        self._parts: MemoryCache[Any] = MemoryCache(size)
        self._facts: MemoryCache[Any] = MemoryCache(facts_size)
        # per facts object (by id, with the object, so a reused id never matches): its parts
        self._derived: OrderedDict[int, tuple[object, OrderedDict[Hashable, Any]]] = OrderedDict()
        self._size = size
        self._sources = max(1, facts_size // 2)  # the facts cache holds two kinds per version
        self._lock = threading.Lock()
        self.misses = 0

    def derived(self, source: object, key: Hashable, compute: Callable[[], T]) -> T:
        """A part computed from ``source`` alone (a facts object), kept while ``source`` is.

        Not keyed on the file's version: a write that leaves the facts as they were (the
        usual registration changes no closed episode, and :mod:`.stored` then hands back the
        *same* facts object) must not recompute every table. The facts object already belongs
        to one file and one access scope (:mod:`.stored` keys it so). Parts are kept for as
        many episode facts as the facts cache holds (half its size: it holds two kinds), the
        least recently used going first, so an old version's large facts are not kept alive by
        its tables; ``size`` parts each.
        """
        with self._lock:
            entry = self._derived.get(id(source))
            if entry is not None and entry[0] is source:
                self._derived.move_to_end(id(source))
                parts = entry[1]
                if key in parts:
                    parts.move_to_end(key)
                    return parts[key]
            self.misses += 1
        value = compute()
        with self._lock:
            entry = self._derived.get(id(source))
            if entry is None or entry[0] is not source:
                entry = (source, OrderedDict())
                self._derived[id(source)] = entry
            self._derived.move_to_end(id(source))
            entry[1][key] = value
            while len(entry[1]) > self._size:
                entry[1].popitem(last=False)
            while len(self._derived) > self._sources:
                self._derived.popitem(last=False)
        return value

    def get(self, reader: Reader, kind: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The part ``kind`` for the reader's file version and scope and ``key`` (computed once)."""

        def counted() -> T:
            with self._lock:
                self.misses += 1
            return compute()

        store = self._facts if kind in _FACT_KINDS else self._parts
        return store.get(reader, (kind, key), counted)

    def clear(self) -> None:
        """Forget everything."""
        self._parts.clear()
        self._facts.clear()
        with self._lock:
            self._derived.clear()


_kernel_cache = SummaryCache()


def kernel_cache() -> SummaryCache:
    """This process's (kernel's) cache."""
    return _kernel_cache


@dataclass(frozen=True)
class _Window:
    """The trend's quarters, and the months the population's tables span (period and trend)."""

    quarters: list[str]
    start: dt.date
    end: dt.date

    @classmethod
    def of(cls, filters: ServiceFilters) -> _Window:
        quarters = filters.period.trend_quarters()
        window_start = pd.Period(quarters[0], freq="Q").start_time.date()
        window_end = pd.Period(quarters[-1], freq="Q").end_time.date()
        return cls(quarters, min(window_start, filters.period.start), window_end)


#: The team model's estimates: hidden with a team's change statistics.
_MODEL_ESTIMATES = ("team_effect", "team_effect_se", "team_effect_ci_low", "team_effect_ci_high")


def _linked(frames: dict[str, Any], chosen: Selection, config: ClinicalConfig) -> dict[str, Any]:
    """The four groupings of ``frames`` suppressed together (:mod:`.linked`)."""
    for name in LINKED_KEYS:
        frames[name].attrs = {}  # pandas deep-copies attrs on every operation; none needed
    aligned = aligned_quarters(chosen.period_first, chosen.period_last)
    return {**frames, **linked_suppression(frames, aligned, config)}


def _population_tables(
    facts: EpisodeFacts, chosen: Selection, team_names: dict[str, str], config: ClinicalConfig
) -> dict[str, Any]:
    """The population's index tables and the team comparison (the same for every focus team).

    The four groupings are suppressed together (:func:`_linked`) before the team comparison,
    which hides a hidden team's model estimate; a team whose change statistics are hidden
    has its estimate hidden here too (it is a mean change).
    """
    tables = _linked(index_tables(facts, chosen, config), chosen, config)
    tables["teams"], tables["team_model"] = team_comparison(tables, team_names, config)
    change_hidden = tables["teams"]["change_suppressed"].astype(bool)
    for column in _MODEL_ESTIMATES:
        tables["teams"][column] = tables["teams"][column].where(~change_hidden)
    for name in ("period", "quarters", "team_quarters"):
        tables[name].attrs = {}  # pandas deep-copies attrs on every operation
    return tables


def _focus_outcomes(
    tables: dict[str, Any], filters: ServiceFilters, quarters: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The focus's headline and trend (the service's, or the chosen team's) and the team table."""
    team_table = tables["teams"].copy()
    team_table["selected"] = team_table["team_id"] == filters.team_id
    if filters.team_id is None:
        headline = tables["period"]
        trend_source = tables["quarters"]
    else:
        headline = team_table[team_table["team_id"] == filters.team_id]
        headline = headline[[*INDEX_COLUMNS, "suppressed", "change_suppressed", "pct_lt2_ors"]]
        trend_source = _team_rows(tables["team_quarters"], filters.team_id)
    headline = headline.reset_index(drop=True)
    if headline.empty:  # nothing ended in the period: one hidden row
        headline = pd.DataFrame([dict.fromkeys(headline.columns, np.nan)])
        headline["suppressed"] = True
        headline["change_suppressed"] = True
    trend = pd.DataFrame({"quarter": quarters}).merge(trend_source, on="quarter", how="left")
    for column in ("suppressed", "change_suppressed"):
        trend[column] = trend[column].astype("boolean").fillna(True).astype(bool)
    return headline, trend, team_table


def _team_rows(table: pd.DataFrame, team_id: str) -> pd.DataFrame:
    """One team's rows of a team-by-quarter table, without the team column."""
    return table[table["team_id"] == team_id].drop(columns="team_id")


def _with_names(frame: pd.DataFrame, team_names: dict[str, str], keys: list[str]) -> pd.DataFrame:
    """A (suppressed) team table with each team's name, ordered by name (never by a value)."""
    frame = frame.copy()
    frame.insert(1, "name", frame["team_id"].map(team_names))
    frame = frame.sort_values(["name", *(k for k in keys if k != "name")], kind="stable")
    return frame.reset_index(drop=True)


def _population_completeness(
    reader: Reader,
    cache: SummaryCache,
    version: Hashable,
    facts: EpisodeFacts,
    chosen: Selection,
    tables: dict[str, Any],
    team_names: dict[str, str],
    window: _Window,
    config: ClinicalConfig,
) -> dict[str, pd.DataFrame]:
    """Session-date completeness of the population; its team tables finished (named, hidden)."""
    sessions = cache.get(reader, "sessions", version, lambda: stored_session_facts(reader))
    frames = completeness_tables(sessions, facts, chosen)
    frames = _linked({name: frames[name] for name in LINKED_KEYS}, chosen, config)
    team_period = _with_names(frames["teams"], team_names, ["team_id", "name"])
    lt2 = tables["teams"].set_index("team_id")["pct_lt2_ors"]
    team_period["pct_lt2_ors"] = team_period["team_id"].map(lt2)
    frames["teams_shown"] = team_period
    team_trend = frames["team_quarters"]
    team_trend = team_trend[team_trend["quarter"].isin(window.quarters)]
    frames["team_quarters_shown"] = _with_names(team_trend, team_names, ["team_id", "quarter"])
    return frames


def _focus_completeness(
    completeness: dict[str, pd.DataFrame],
    filters: ServiceFilters,
    quarters: list[str],
    config: ClinicalConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The focus's completeness trend, and the team tables with the focus team marked."""
    if filters.team_id is None:
        focus = completeness["quarters"]
    else:
        focus = _team_rows(completeness["team_quarters"], filters.team_id)
    trend = pd.DataFrame({"quarter": quarters}).merge(focus, on="quarter", how="left")
    trend = suppressed_table(trend, ["quarter"], config)
    team = completeness["teams_shown"].copy()
    team.insert(team.columns.get_loc("pct_lt2_ors"), "selected", team["team_id"] == filters.team_id)
    return trend, team.reset_index(drop=True), completeness["team_quarters_shown"].copy()


def service_summary(
    reader: Reader,
    filters: ServiceFilters,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> ServiceSummary:
    """Every number of the service dashboard and the report for one selection.

    How it is fast. Once per kernel and database version (and config), two queries read the
    facts every selection needs (:mod:`fitdata.features.service.facts`). A filter change then
    only adds up the cells of the selection (vectorised ``bincount``) and counts distinct
    clients and episodes in orders sorted once, so nothing is read from the database and no
    per-episode pandas frame is built again. The severity line is fitted from the reference
    set's sums, and the team model from per-team sums. A test compares every table with
    :func:`fitdata.analytics.indices.service_indices` over
    :func:`fitdata.analytics.indices.episode_outcomes`.

    Args:
        reader: The database.
        filters: Period, service, team, age group and format.
        config: Thresholds, tie rules and the minimum cell size.
        cache: Reuse parts that do not depend on a changed filter (e.g.
            :func:`kernel_cache`); None computes everything afresh.

    Returns:
        A :class:`ServiceSummary` whose tables are all suppressed (see the package docstring).
    """
    cache = cache or SummaryCache()
    # Every part is keyed on the version read here too, so parts computed from one version's
    # facts are never stored as another's when a writer replaces the file during the call.
    version = reader.file_identity()
    window = _Window.of(filters)
    chosen = selection(filters, window.start, window.end)
    names = cache.get(reader, "teams", version, lambda: team_frame(reader))
    team_names = dict(zip(names["team_id"], names["name"], strict=True))
    facts = cache.get(
        reader, "episodes", (version, config), lambda: stored_episode_facts(reader, config)
    )
    population = (version, config, filters.service, filters.age_group, filters.format)
    part_key = (population, window.start, window.end, filters.period)
    # The tables depend on the facts and the names only: kept across a write that left both.
    tables = cache.derived(
        facts,
        (tuple(team_names.items()), *population[1:], *part_key[1:]),
        lambda: _population_tables(facts, chosen, team_names, config),
    )
    headline, trend, teams = _focus_outcomes(tables, filters, window.quarters)
    completeness = cache.get(
        reader,
        "completeness",
        part_key,
        lambda: _population_completeness(
            reader, cache, version, facts, chosen, tables, team_names, window, config
        ),
    )
    completeness_trend, completeness_team, completeness_team_trend = _focus_completeness(
        completeness, filters, window.quarters, config
    )
    summary = ServiceSummary(
        filters=filters,
        config=config,
        headline=headline,
        trend=trend,
        teams=teams,
        completeness_trend=completeness_trend,
        completeness_team=completeness_team,
        completeness_team_trend=completeness_team_trend,
        team_model=dict(tables["team_model"]),
        team_names=team_names,
        quarters=window.quarters,
    )
    summary.reading = reading(summary)
    return summary
