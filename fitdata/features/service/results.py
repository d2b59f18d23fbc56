"""What a summary holds: the suppressed tables, the team model and the reading's sentences.

Kept apart from the code that computes them so that the reading (:mod:`.reading`), the page
and the report can depend on the shape of a summary without depending on how it is computed.
A :class:`ReadingItem` names the cells its numbers come from (``"table[row].column"``) and
:meth:`ServiceSummary.cell` looks such a name up, so a test can check every number of every
sentence against the tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fitdata.config import ClinicalConfig
from fitdata.features.service.options import ServiceFilters

__all__ = ["ReadingItem", "ServiceSummary"]


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
