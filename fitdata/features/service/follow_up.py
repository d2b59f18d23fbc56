"""Discussed cases — did it help? The team and quarter figures of the service page and report.

Per team and quarter: the **flagged cases** (episodes with a clinical or alliance warning that
held at a session in the quarter, :func:`fitdata.features.follow_up.flag_starts`), how many
were **discussed** (a discussion from the flag's day to 91 days after it), the **median days**
from the flag to the discussion, and of the discussed whose follow-up window is complete how
many got **back on track** (:mod:`fitdata.analytics.follow_up`), against the flagged cases
that were **not discussed**, their window starting at the flag. Each share has a 95 % Wilson
interval (:func:`fitdata.analytics.intervals.wilson_interval`).

This is an **observational comparison, not a causal effect**: teams choose which cases to
discuss (often the most worrying), and a flagged case often recovers on its own (regression to
the mean); the page and the report say so beside the figures.

Suppression, as the other linked tables (:mod:`fitdata.features.service.linked`): the
period, the teams, the quarters and each team's quarters are shown together. A row of fewer
than ``min_cell_size`` flagged cases is hidden with its complements (by cases). Then the
figures of the comparison (discussed, not discussed, the judged of each, the shares, the
median days) are hidden in a row where any of the discussed, the not discussed or the judged
of either is 1 to ``min_cell_size - 1``, and in the next smallest rows until no line has
exactly one such row: these counts add up along the same lines, so none is a total minus
shown parts.

The facts (one row per flagged case and quarter, no ids) take seconds at a million sessions,
so the section computes them **only when it is opened**, once per database version and day,
keeps them in the kernel's cache and stores them beside the database
(:func:`stored_follow_up_facts`); a filter change then only adds up rows with NumPy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitdata.analytics.suppression import complementary_suppression
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.features.follow_up import FACT_COLUMNS, follow_up_facts
from fitdata.features.service.linked import (
    LINKED_KEYS,
    linked_lines,
    linked_suppression,
)
from fitdata.features.service.monthly import add_shares, group_codes, linked_frames, stored_frame
from fitdata.features.service.options import ServiceFilters, team_frame
from fitdata.features.service.summary import SummaryCache

__all__ = [
    "FOLLOW_UP_COUNTS",
    "FOLLOW_UP_DETAIL",
    "FollowUpSummary",
    "follow_up_summary",
    "follow_up_tables",
    "stored_follow_up_facts",
]

#: The additive counts of a row.
FOLLOW_UP_COUNTS: tuple[str, ...] = (
    "cases",
    "discussed",
    "not_discussed",
    "discussed_judged",
    "discussed_on_track",
    "not_discussed_judged",
    "not_discussed_on_track",
)
#: The counts a share is over: a row where one is 1 to min_cell_size - 1 hides the detail.
_GATES = ("discussed", "not_discussed", "discussed_judged", "not_discussed_judged")
#: The shares, each with ``_ci_low`` / ``_ci_high``: (column, numerator, denominator).
SHARES: tuple[tuple[str, str, str], ...] = (
    ("pct_discussed", "discussed", "cases"),
    ("pct_discussed_on_track", "discussed_on_track", "discussed_judged"),
    ("pct_not_discussed_on_track", "not_discussed_on_track", "not_discussed_judged"),
)
#: What the second suppression hides (every column but ``cases`` and the keys).
FOLLOW_UP_DETAIL: tuple[str, ...] = (
    *FOLLOW_UP_COUNTS[1:],
    "median_days",
    *[f"{name}{end}" for name, _, _ in SHARES for end in ("", "_ci_low", "_ci_high")],
)

#: Version of the stored facts' layout; bump it when it changes.
FOLLOW_UP_FACTS_FORMAT = 1
#: Every module whose code computes the stored facts (part of the key).
FOLLOW_UP_CODE_MODULES = (
    "fitdata.features.follow_up",
    "fitdata.analytics.follow_up",
    "fitdata.analytics.flags.frames",
    "fitdata.analytics.flags.rules",
    "fitdata.features.case_discussions",
    "fitdata.config",
)


@dataclass
class FollowUpSummary:
    """The section's figures for one selection (all suppressed)."""

    filters: ServiceFilters
    config: ClinicalConfig
    headline: pd.DataFrame
    trend: pd.DataFrame
    teams: pd.DataFrame
    quarters: list[str]


def stored_follow_up_facts(reader: Reader, config: ClinicalConfig, as_of: dt.date) -> pd.DataFrame:
    """:func:`fitdata.features.follow_up.follow_up_facts`, stored in ``<db>.cache/``.

    Keyed by the database version, the reader's scope, the configuration, the day judged on,
    the layout and the code of :data:`FOLLOW_UP_CODE_MODULES`; no episode or client id.
    """
    return stored_frame(
        reader,
        "service_follow_up",
        {"config": repr(config), "as_of": as_of.isoformat()},
        code_modules=FOLLOW_UP_CODE_MODULES,
        layout=FOLLOW_UP_FACTS_FORMAT,
        compute=lambda: follow_up_facts(reader, as_of=as_of, config=config),
    )


def grouped(rows: dict[str, np.ndarray], keys: list[str]) -> pd.DataFrame:
    """The counts, median days and shares (with intervals) per group of ``keys``.

    Args:
        rows: Columns of :data:`fitdata.features.follow_up.FACT_COLUMNS` as arrays.
        keys: Group columns; none for one row (when there are rows).
    """
    size = len(rows["discussed"])
    columns, codes, n_groups = group_codes(rows, keys)
    discussed = rows["discussed"].astype(bool)
    judged = rows["judged"].astype(bool)
    on = rows["on_track"].astype(bool)
    counts = {
        "cases": np.ones(size, dtype=bool),
        "discussed": discussed,
        "not_discussed": ~discussed,
        "discussed_judged": discussed & judged,
        "discussed_on_track": discussed & on,
        "not_discussed_judged": ~discussed & judged,
        "not_discussed_on_track": ~discussed & on,
    }
    for name, values in counts.items():
        columns[name] = np.bincount(codes, weights=values.astype(float), minlength=n_groups)
    days = pd.Series(rows["days_to_discussion"].astype(float)[discussed])
    median = days.groupby(codes[discussed]).median()
    columns["median_days"] = median.reindex(range(n_groups)).to_numpy(dtype=float)
    add_shares(columns, SHARES)
    for name in FOLLOW_UP_COUNTS:
        columns[name] = columns[name].astype(np.int64)
    return pd.DataFrame(columns)


def suppress(
    frames: dict[str, pd.DataFrame], aligned: list[str] | None, config: ClinicalConfig
) -> dict[str, pd.DataFrame]:
    """The four groupings with small rows and small comparisons hidden (module docstring)."""
    frames = {name: frames[name].reset_index(drop=True) for name in LINKED_KEYS}
    shown = linked_suppression(frames, aligned, config, count_column="cases")
    lines, offsets = linked_lines(frames, aligned)
    rows = np.concatenate([shown[name]["suppressed"].to_numpy(dtype=bool) for name in LINKED_KEYS])
    cases = np.concatenate([frames[name]["cases"].to_numpy(dtype=float) for name in LINKED_KEYS])
    small = np.zeros(len(rows), dtype=bool)
    for gate in _GATES:
        values = np.concatenate([frames[name][gate].to_numpy(dtype=float) for name in LINKED_KEYS])
        small |= (values > 0) & np.asarray(config.cell_is_suppressed(values))
    detail = complementary_suppression(rows | small, cases, lines)
    out: dict[str, pd.DataFrame] = {}
    for name in LINKED_KEYS:
        cells = slice(offsets[name], offsets[name] + len(frames[name]))
        table = shown[name].copy()
        hidden = detail[cells]
        for column in FOLLOW_UP_DETAIL:
            table[column] = table[column].astype(float).where(~hidden, np.nan)
        table["detail_suppressed"] = hidden
        out[name] = table
    return out


def follow_up_tables(
    facts: pd.DataFrame,
    filters: ServiceFilters,
    team_service: dict[str, str],
    config: ClinicalConfig,
) -> dict[str, pd.DataFrame]:
    """The population's four linked tables, suppressed together (module docstring).

    Args:
        facts: :func:`stored_follow_up_facts`.
        filters: The service (population) and the period (of the flag's month).
        team_service: Each team's service.
        config: Supplies ``min_cell_size``.
    """
    frames, aligned = linked_frames(facts, filters, team_service, FACT_COLUMNS, grouped)
    return suppress(frames, aligned, config)


def _values() -> list[str]:
    return ["cases", *FOLLOW_UP_DETAIL, "suppressed", "detail_suppressed"]


def follow_up_summary(
    reader: Reader,
    filters: ServiceFilters,
    *,
    as_of: dt.date | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache_: SummaryCache | None = None,
) -> FollowUpSummary:
    """The section's figures for one selection: the focus's headline and trend, the teams.

    Args:
        reader: Any reader that may see aggregates (a leader's included).
        filters: Period, service and team (age group and format do not apply).
        as_of: The day judged on (default today).
        config: The rules, the window and ``min_cell_size``.
        cache_: The kernel's cache; None computes afresh.
    """
    as_of = as_of or dt.date.today()
    store = cache_ or SummaryCache()
    version: Hashable = reader.file_identity()
    names = store.get(reader, "teams", version, lambda: team_frame(reader))
    team_names = dict(zip(names["team_id"], names["name"], strict=True))
    team_service = dict(zip(names["team_id"], names["service"], strict=True))
    facts = store.get(
        reader,
        "follow_up",
        (version, config, as_of),
        lambda: stored_follow_up_facts(reader, config, as_of),
    )
    tables = store.get(
        reader,
        "follow_up_tables",
        (version, config, as_of, filters.service, filters.period),
        lambda: follow_up_tables(facts, filters, team_service, config),
    )
    quarters = filters.period.trend_quarters()
    values = _values()
    teams = tables["teams"].copy()
    teams.insert(1, "name", teams["team_id"].map(team_names))
    teams = teams.sort_values(["name", "team_id"], kind="stable").reset_index(drop=True)
    teams["selected"] = teams["team_id"].to_numpy() == filters.team_id
    if filters.team_id is None:
        headline = tables["period"][values]
        trend_source = tables["quarters"]
    else:
        headline = teams[teams["team_id"] == filters.team_id][values]
        tq = tables["team_quarters"]
        trend_source = tq[tq["team_id"] == filters.team_id]
    if headline.empty:
        headline = pd.DataFrame({c: [np.nan] for c in values})
        headline["suppressed"] = True
        headline["detail_suppressed"] = True
    headline = headline.reset_index(drop=True)
    trend = trend_source.set_index("quarter")[values].reindex(quarters)
    trend.index.name = "quarter"
    trend = trend.reset_index()
    for frame in (headline, trend):
        for column in ("suppressed", "detail_suppressed"):
            frame[column] = frame[column].astype("boolean").fillna(True).astype(bool)
    return FollowUpSummary(filters, config, headline, trend, teams, quarters)
