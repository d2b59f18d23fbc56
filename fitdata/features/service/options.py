"""What the filters offer (services, teams, quarters) and what a leader chose.

The service, age-group and format filters choose the *population*; the team filter chooses the
*focus* (team tables always show every team of the population). Unknown values are refused
here, with the accepted ones in the message, so a typo on ``fitdata report`` never silently
shows the whole service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from fitdata.config import AGE_GROUPS
from fitdata.data.store import Reader
from fitdata.features.service.periods import Period
from fitdata.vocabulary import FORMATS

__all__ = ["TEAMS_SQL", "ServiceFilters", "filter_options", "team_frame"]

#: Every team with its name and service, in the order the page lists them.
TEAMS_SQL = "SELECT team_id, name, service FROM teams ORDER BY name, team_id"


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


def team_frame(reader: Reader) -> pd.DataFrame:
    """``team_id``, ``name`` and ``service`` of every team, ordered by name."""
    return reader.df(TEAMS_SQL)


def filter_options(reader: Reader) -> dict[str, Any]:
    """What the filters can offer: services, teams, quarters with ended episodes.

    Returns:
        ``services`` (sorted names), ``teams`` (a frame of ``team_id``, ``name``, ``service``),
        ``quarters`` (labels of quarters in which episodes ended, ascending) and
        ``default_period`` (the last *complete* quarter with ended episodes, else the last).
    """
    teams = team_frame(reader)
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
