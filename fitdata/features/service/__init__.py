"""All numbers of the service dashboard and the leaders' report, from one function.

:func:`service_summary` is the only place the service dashboard (``fitdata.ui.service``) and the
report (``fitdata.outputs.report``) get their numbers from, so the two agree by construction. Its
tables are those of :func:`fitdata.analytics.indices.service_indices` (same formulas, same
categories and tie rules, same suppression with ``suppress_small_cells``), computed from facts the
kernel reads once; a test compares every table with ``service_indices`` over
``episode_outcomes`` for many selections (``tests/unit/test_service_equivalence.py``).

What a summary holds (every table is suppressed with
:func:`fitdata.analytics.indices.suppress_small_cells` before it leaves this package):

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
  interval for % reliably improved or ended non-clinical (``pct_target``), and the multilevel
  estimate of each team's intake-adjusted difference in mean ORS change from the service. Rows
  are ordered by team **name**.

Population and reference set. The service, age-group and format filters choose the
*population*; the team filter chooses the *focus*. Team tables always show every team of the
population (the selected team is marked), so a team is seen beside its peers with intervals
rather than alone. The severity adjustment (one regression of change on intake) is fitted
on the client-episodes of the population that ended in the trend window, one reference set
for the headline, the trend and the team table alike: the headline of a one-quarter period
equals that quarter's row of the trend.

Where each part lives, in the order the numbers flow:

* :mod:`.periods` — the period a leader picks (``2025Q3``, ``2025-07``, ``2025``, ranges);
* :mod:`.options` — what the filters offer, and :class:`ServiceFilters`;
* :mod:`.bands` — reference bands with their sources, and the team charts' columns;
* :mod:`.facts` — what a kernel reads once per database version (SQL), and why that is fast;
* :mod:`.stored` — those facts kept beside the database for the next kernel, and their key;
* :mod:`.tables` — a selection's tables, added up from the facts;
* :mod:`.teams` — the team comparison and its multilevel model
  (the statistics themselves: :mod:`fitdata.analytics.multilevel`);
* :mod:`.results` — what a summary holds (:class:`ServiceSummary`, :class:`ReadingItem`);
* :mod:`.reading` — the plain-language reading;
* :mod:`.summary` — :func:`service_summary` step by step, and the kernel's cache.

Computed here, not in ``fitdata.analytics.indices`` (candidates to move there): session-date
completeness, ``pct_lt2_ors`` and the Wilson interval for ``pct_target``.
"""

from __future__ import annotations

from fitdata.features.service.bands import (
    REFERENCE_BANDS,
    TEAM_INTERVAL_CHARTS,
    ReferenceBand,
    band_for,
)
from fitdata.features.service.facts import episode_facts, session_facts
from fitdata.features.service.options import ServiceFilters, filter_options
from fitdata.features.service.periods import TREND_QUARTERS, Period, PeriodError, parse_period
from fitdata.features.service.reading import reading
from fitdata.features.service.results import ReadingItem, ServiceSummary
from fitdata.features.service.stored import warm_facts
from fitdata.features.service.summary import SummaryCache, kernel_cache, service_summary
from fitdata.features.service.teams import TEAM_MIN_EPISODES, team_effects_from_sums
from fitdata.vocabulary import FORMATS

__all__ = [
    "FORMATS",
    "REFERENCE_BANDS",
    "TEAM_INTERVAL_CHARTS",
    "TEAM_MIN_EPISODES",
    "TREND_QUARTERS",
    "Period",
    "PeriodError",
    "ReadingItem",
    "ReferenceBand",
    "ServiceFilters",
    "ServiceSummary",
    "SummaryCache",
    "band_for",
    "episode_facts",
    "session_facts",
    "filter_options",
    "kernel_cache",
    "parse_period",
    "reading",
    "service_summary",
    "team_effects_from_sums",
    "warm_facts",
]
