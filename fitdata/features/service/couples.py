"""Couples on the service page and in the report: counted per couple, suppressed as linked tables.

For the closed couple episodes of the chosen service, period and team (the unit and the rule
of inclusion: :mod:`fitdata.analytics.couples`), how many couples were included, and in what
share of them both partners improved reliably, exactly one did, neither did, and both
recovered, each with a 95 % Wilson interval (:func:`fitdata.analytics.intervals.wilson_interval`).

The couples are read once per database version and configuration (one query,
:func:`fitdata.analytics.couples.couple_query`, one row per couple; stored in ``<db>.cache/``
for the next kernel, :func:`stored_couple_facts`, and kept in the kernel's
:class:`~fitdata.features.service.summary.SummaryCache` beside the service page's facts), so a
filter change reads nothing: the tables are added up from those rows with NumPy.

Like the per-client tables, four groupings are shown together and suppressed together
(:func:`fitdata.features.service.linked.linked_suppression`, with ``count_column="couples"``):
the period, the teams over the period, the quarters of the trend and each team's quarters. A
row of fewer than ``min_cell_size`` **couples** (not partners) is hidden, and then the next
smallest rows until no total minus its shown parts gives a hidden row away.

The service, team and period filters apply; the age-group and format filters do not (a couple
episode is of format couple by definition, and its partners may be of different age groups;
each partner is judged against the cutoff of their own age group). The page says so.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.couples import COUPLE_FLAGS, as_flags, couple_query
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.features.service.linked import linked_suppression
from fitdata.features.service.monthly import add_shares, group_codes, linked_frames, stored_frame
from fitdata.features.service.options import ServiceFilters, team_frame
from fitdata.features.service.results import ReadingItem
from fitdata.features.service.summary import SummaryCache

__all__ = [
    "COUPLE_COUNTS",
    "COUPLE_SHARES",
    "CoupleSummary",
    "couple_facts",
    "couple_summary",
    "couple_tables",
    "stored_couple_facts",
]

#: The additive counts of a couple table row: closed couple episodes, included couples, outcomes.
COUPLE_COUNTS: tuple[str, ...] = ("couple_episodes", "couples", *COUPLE_FLAGS)

#: The shares shown (percent of included couples), each with ``_ci_low`` and ``_ci_high``.
COUPLE_SHARES: tuple[str, ...] = tuple(f"pct_{flag}" for flag in COUPLE_FLAGS)


@dataclass
class CoupleSummary:
    """The couple figures of one selection, already suppressed.

    ``headline`` is one row for the focus (the service, or the chosen team) over the period,
    ``trend`` the focus by quarter of the trend window (a quarter without a shown row is
    hidden), ``teams`` every team of the population with a closed couple episode in the
    period, ordered by name, the chosen one marked ``selected``. Every table has the columns
    of :data:`COUPLE_COUNTS`, the shares of :data:`COUPLE_SHARES` with their intervals, and
    ``suppressed``.
    """

    filters: ServiceFilters
    config: ClinicalConfig
    headline: pd.DataFrame
    trend: pd.DataFrame
    teams: pd.DataFrame
    team_names: dict[str, str]
    quarters: list[str]
    reading: list[ReadingItem] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables as shown, by name, in page order."""
        return {
            "couples_headline": self.headline,
            "couples_teams": self.teams,
            "couples_trend": self.trend,
        }


def _month(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(dates)
    return (stamps.dt.year * 12 + stamps.dt.month - 1).to_numpy(dtype=np.int64)


#: Version of the stored couples' layout (:func:`stored_couple_facts`); bump it when it changes.
COUPLE_FACTS_FORMAT = 1

#: Every module whose code computes the stored couples (part of the key: changed code, new entry).
COUPLE_FACTS_CODE_MODULES = (
    "fitdata.features.service.couples",
    "fitdata.analytics.couples",
    "fitdata.analytics.outcomes",
    "fitdata.analytics.change",
    "fitdata.config",
    "fitdata.vocabulary",
)

#: The columns kept (and stored): no episode or client id, only what the tables add up.
_FACT_COLUMNS = ("team_id", "month", "quarter", "eligible", *COUPLE_FLAGS)


def stored_couple_facts(reader: Reader, config: ClinicalConfig) -> pd.DataFrame:
    """:func:`couple_facts`, stored in ``<db>.cache/`` so a new kernel need not read them.

    Keyed like the service page's facts (:mod:`fitdata.features.service.stored`): the
    database version, the reader's scope, the configuration, the layout and the code of
    :data:`COUPLE_FACTS_CODE_MODULES`. The entry holds one row per closed couple episode with
    its team, month and outcome flags (no episode or client id), not suppressed: like the
    database beside it, whose file mode it copies, it is for the dashboards' own kernels.
    After a write (a new version) the couples are read again: one query, one row per couple.
    """
    return stored_frame(
        reader,
        "service_couples",
        {"config": repr(config)},
        code_modules=COUPLE_FACTS_CODE_MODULES,
        layout=COUPLE_FACTS_FORMAT,
        compute=lambda: couple_facts(reader, config),
    )


def couple_facts(reader: Reader, config: ClinicalConfig) -> pd.DataFrame:
    """Every closed couple episode of the file, one row each, with the month it ended.

    From the rows of :func:`fitdata.analytics.couples.couple_query` (all teams, all periods):
    ``team_id``, ``month`` (``year * 12 + month - 1`` of ``ended``), ``quarter`` (``2025Q3``),
    ``eligible`` and the outcome flags; no episode id.
    """
    sql, params = couple_query(config=config)
    frame = as_flags(reader.df(sql, params))
    frame["month"] = _month(frame["ended"])
    frame["quarter"] = [f"{m // 12}Q{(m % 12) // 3 + 1}" for m in frame["month"].tolist()]
    return frame[list(_FACT_COLUMNS)].reset_index(drop=True)


def _grouped(rows: dict[str, np.ndarray], keys: list[str]) -> pd.DataFrame:
    """The counts of :data:`COUPLE_COUNTS` and the shares with intervals, per group of ``keys``.

    Groups are sorted by their keys; without keys, one row (if there are any rows). Each share
    is in percent of the included couples, with its Wilson interval. NumPy ``bincount`` over
    codes: a period change adds up a few thousand couples without a pandas groupby.
    """
    size = len(rows["eligible"])
    columns, inverse, n_groups = group_codes(rows, keys)
    counts = {"couple_episodes": np.ones(size), "couples": rows["eligible"]}
    counts.update({flag: rows[flag] for flag in COUPLE_FLAGS})
    for name, values in counts.items():
        columns[name] = np.bincount(
            inverse, weights=values.astype("float64"), minlength=n_groups
        ).astype(np.int64)
    shares = [
        (share, flag, "couples") for flag, share in zip(COUPLE_FLAGS, COUPLE_SHARES, strict=True)
    ]
    add_shares(columns, shares)
    return pd.DataFrame(columns)


def couple_tables(
    facts: pd.DataFrame,
    filters: ServiceFilters,
    team_service: dict[str, str],
    config: ClinicalConfig,
) -> dict[str, pd.DataFrame]:
    """The population's four linked couple tables, suppressed together (module docstring).

    Args:
        facts: :func:`couple_facts`.
        filters: The service (population) and the period; the team is the focus, not used.
        team_service: Each team's service.
        config: Supplies ``min_cell_size``.

    Returns:
        ``period``, ``teams``, ``quarters`` and ``team_quarters`` (the trend window's quarters),
        through :func:`~fitdata.features.service.linked.linked_suppression` by couples.
    """
    columns = ("team_id", "quarter", "month", "eligible", *COUPLE_FLAGS)
    frames, aligned = linked_frames(facts, filters, team_service, columns, _grouped)
    return linked_suppression(frames, aligned, config, count_column="couples")


def _named_tables(
    facts: pd.DataFrame,
    filters: ServiceFilters,
    team_names: dict[str, str],
    team_service: dict[str, str],
    config: ClinicalConfig,
) -> dict[str, pd.DataFrame]:
    """:func:`couple_tables` with the team table named and ordered by name (kept per period)."""
    tables = couple_tables(facts, filters, team_service, config)
    teams = tables["teams"].copy()
    teams.insert(1, "name", teams["team_id"].map(team_names))
    teams = teams.sort_values(["name", "team_id"], kind="stable").reset_index(drop=True)
    teams["suppressed"] = teams["suppressed"].astype(bool)
    return {**tables, "teams": teams}


def _focus(
    tables: dict[str, pd.DataFrame],
    filters: ServiceFilters,
    quarters: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The focus's headline and trend, and the team table (named, ordered, chosen marked).

    Only slices of the population's tables (kept per period): a team change costs a few
    indexing operations, not a merge.
    """
    values = [*COUPLE_COUNTS, *_share_columns(), "suppressed"]
    teams = tables["teams"]
    team_ids = teams["team_id"].to_numpy()
    teams = teams.assign(selected=team_ids == filters.team_id)
    if filters.team_id is None:
        headline = tables["period"][values]
        trend_source = tables["quarters"]
    else:
        headline = teams.iloc[np.flatnonzero(team_ids == filters.team_id)][values]
        team_quarters = tables["team_quarters"]
        trend_source = team_quarters.iloc[
            np.flatnonzero(team_quarters["team_id"].to_numpy() == filters.team_id)
        ]
    if headline.empty:
        headline = pd.DataFrame({c: [np.nan] for c in values})
    headline = headline.reset_index(drop=True)
    headline["suppressed"] = headline["suppressed"].astype("boolean").fillna(True).astype(bool)
    trend = trend_source.set_index("quarter")[values].reindex(quarters)
    trend.index.name = "quarter"
    trend = trend.reset_index()
    trend["suppressed"] = trend["suppressed"].astype("boolean").fillna(True).astype(bool)
    return headline, trend, teams


def _share_columns() -> list[str]:
    return [
        name for share in COUPLE_SHARES for name in (share, f"{share}_ci_low", f"{share}_ci_high")
    ]


def _shown(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def couple_reading(headline: pd.DataFrame, config: ClinicalConfig) -> list[ReadingItem]:
    """The plain-language reading of the focus's couples over the period (shown cells only).

    ``service.couples.reading.shares`` gives the four shares; ``...partners`` the share of
    the partners of these couples who improved reliably, counted one by one, beside the share
    of couples where both did (which is not that share squared when partners' outcomes are
    correlated); ``...hidden`` says the couples are too few to show (fewer than
    ``min_cell_size``, none, or hidden with a neighbour).
    """
    row = headline.iloc[0]
    cell = "couples_headline[0]."
    if bool(row["suppressed"]) or not _shown(row["couples"]):
        return [ReadingItem("service.couples.reading.hidden", {"n": config.min_cell_size}, ())]
    couples = int(row["couples"])
    items = [
        ReadingItem(
            "service.couples.reading.shares",
            {
                "couples": couples,
                "episodes": int(row["couple_episodes"]),
                "both": float(row["pct_both_improved"]),
                "one": float(row["pct_one_improved"]),
                "neither": float(row["pct_neither_improved"]),
                "recovered": float(row["pct_both_recovered"]),
            },
            tuple(
                cell + c
                for c in (
                    "couples",
                    "couple_episodes",
                    "pct_both_improved",
                    "pct_one_improved",
                    "pct_neither_improved",
                    "pct_both_recovered",
                )
            ),
        )
    ]
    partners = 100 * (2 * float(row["both_improved"]) + float(row["one_improved"])) / (2 * couples)
    items.append(
        ReadingItem(
            "service.couples.reading.partners",
            {
                "partners": partners,
                "squared": partners * partners / 100,
                "both": float(row["pct_both_improved"]),
            },
            tuple(cell + c for c in ("both_improved", "one_improved", "couples")),
        )
    )
    return items


def couple_summary(
    reader: Reader,
    filters: ServiceFilters,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> CoupleSummary:
    """The couple figures of one selection (module docstring), for the page and the report.

    Args:
        reader: The database (any role's reader that may see aggregates, e.g. a leader's).
        filters: Period, service and team (age group and format do not apply to couples).
        config: Reliable change, cutoffs, tie rules and the minimum cell size.
        cache: The kernel's cache (:func:`fitdata.features.service.kernel_cache`); None
            computes everything afresh.
    """
    cache = cache or SummaryCache()
    version: Hashable = reader.file_identity()
    names = cache.get(reader, "teams", version, lambda: team_frame(reader))
    team_names = dict(zip(names["team_id"], names["name"], strict=True))
    team_service = dict(zip(names["team_id"], names["service"], strict=True))
    facts = cache.get(
        reader, "couples", (version, config), lambda: stored_couple_facts(reader, config)
    )
    tables = cache.get(
        reader,
        "couple_tables",
        (version, config, filters.service, filters.period),
        lambda: _named_tables(facts, filters, team_names, team_service, config),
    )
    quarters = filters.period.trend_quarters()
    headline, trend, teams = _focus(tables, filters, quarters)
    summary = CoupleSummary(filters, config, headline, trend, teams, team_names, quarters)
    summary.reading = couple_reading(headline, config)
    return summary
