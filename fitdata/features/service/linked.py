"""Suppression of the tables a page shows together: no hidden cell is a total minus its parts.

The service page and the report show four groupings of one population side by side: the
period (the key figures), the teams over the period, the quarters of the trend, and each team's
quarters (the trend with a team chosen; the same population for every team, so a user who
steps through the teams sees them all). Their additive counts (clients, client-episodes,
sessions, and the counts behind every percentage) are linked by *lines*, a total and the parts
that add up to it:

* the period = the sum of the teams over the period;
* each quarter = the sum of the teams in that quarter;
* when the period is whole quarters (a quarter, a year, a range of them): the period = the sum
  of its quarters, and each team's period = the sum of its quarters.

Hiding each small cell on its own lets the reader subtract (the issue's 2026-02 case: 87
clients in the key figures, 83 in the shown teams, so the hidden team has 4).
:func:`linked_suppression` therefore hides cells in two families, each with
:func:`fitdata.analytics.suppression.complementary_suppression` over those lines:

1. **rows**: a row under ``min_cell_size`` clients, and then the next smallest rows (by
   clients) until no line has exactly one hidden row; a hidden row hides every value;
2. **change statistics**: a row with fewer than ``min_cell_size`` client-episodes with change
   (or hidden in 1.), and then the next smallest (by client-episodes with change) in the same
   way; only :data:`~fitdata.analytics.suppression.CHANGE_COLUMNS` are hidden, the counts stay.

Each outcome table gains ``change_suppressed``. ``docs/analytics.md`` ("Small cells that
cannot be undone") gives the rule, why it was chosen over rounding, and its sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fitdata.analytics.suppression import (
    CHANGE_COUNT_COLUMN,
    Line,
    complementary_suppression,
    suppress_small_cells,
)
from fitdata.config import ClinicalConfig

__all__ = ["LINKED_KEYS", "aligned_quarters", "linked_lines", "linked_suppression"]

#: The linked groupings, in cell order, with their group keys.
LINKED_KEYS: dict[str, list[str]] = {
    "period": [],
    "teams": ["team_id"],
    "quarters": ["quarter"],
    "team_quarters": ["team_id", "quarter"],
}


def aligned_quarters(first_month: int, last_month: int) -> list[str] | None:
    """The quarters the period is made of, or None when it is not whole quarters.

    Args:
        first_month: The period's first month as ``year * 12 + month - 1``.
        last_month: Its last month, the same way.
    """
    if first_month % 3 != 0 or last_month % 3 != 2:
        return None
    return [f"{q // 4}Q{q % 4 + 1}" for q in range(first_month // 3, last_month // 3 + 1)]


def _by_key(keys: np.ndarray, cells: np.ndarray) -> dict[object, np.ndarray]:
    """``cells`` grouped by ``keys`` (one key per cell), in order of first appearance."""
    if len(cells) == 0:
        return {}
    codes, uniques = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1]
    groups = np.split(np.asarray(cells)[order], starts[1:])
    return dict(zip(list(uniques[codes[order][starts]]), groups, strict=True))


def linked_lines(
    frames: Mapping[str, pd.DataFrame], aligned: Sequence[str] | None
) -> tuple[list[Line], dict[str, int]]:
    """The lines between the four groupings' rows, and each grouping's first cell number.

    Args:
        frames: ``period``, ``teams``, ``quarters`` and ``team_quarters``, one row per group
            with data (an absent group is zero, known to be, and takes no part).
        aligned: The quarters the period is made of (:func:`aligned_quarters`), or None.
    """
    offsets: dict[str, int] = {}
    start = 0
    for name in LINKED_KEYS:
        offsets[name] = start
        start += len(frames[name])
    lines: list[Line] = []
    has_period = len(frames["period"]) > 0
    teams = frames["teams"]
    if has_period and len(teams):
        lines.append((offsets["period"], np.arange(len(teams)) + offsets["teams"]))
    quarter_cell = {
        q: offsets["quarters"] + i for i, q in enumerate(frames["quarters"]["quarter"].tolist())
    }
    team_quarters = frames["team_quarters"]
    tq_cells = np.arange(len(team_quarters)) + offsets["team_quarters"]
    tq_quarter = team_quarters["quarter"].to_numpy(dtype=object)
    for quarter, parts in _by_key(tq_quarter, tq_cells).items():
        if quarter in quarter_cell:
            lines.append((quarter_cell[quarter], parts))
    if aligned is not None and has_period:
        inside = [quarter_cell[q] for q in aligned if q in quarter_cell]
        lines.append((offsets["period"], np.asarray(inside, dtype=np.int64)))
        team_cell = {t: offsets["teams"] + i for i, t in enumerate(teams["team_id"].tolist())}
        in_period = np.isin(tq_quarter, list(aligned))
        tq_team = team_quarters["team_id"].to_numpy(dtype=object)[in_period]
        for team, parts in _by_key(tq_team, tq_cells[in_period]).items():
            if team in team_cell:
                lines.append((team_cell[team], parts))
    return lines, offsets


def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with rows numbered 0..n-1 (copied only when they are not already)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)


def _column(frames: Mapping[str, pd.DataFrame], column: str) -> np.ndarray:
    parts = [
        frames[name][column].to_numpy(dtype="float64", na_value=np.nan) for name in LINKED_KEYS
    ]
    return np.concatenate(parts)


def linked_suppression(
    frames: Mapping[str, pd.DataFrame],
    aligned: Sequence[str] | None,
    config: ClinicalConfig,
    *,
    count_column: str = "clients",
) -> dict[str, pd.DataFrame]:
    """The four groupings with small cells and their complements hidden (module docstring).

    Args:
        frames: ``period``, ``teams``, ``quarters`` and ``team_quarters``, unsuppressed, each
            with a ``clients`` column (and ``episodes_with_change`` for outcome tables).
        aligned: The quarters the period is made of (:func:`aligned_quarters`), or None.
        config: Supplies ``min_cell_size``.
        count_column: The column a row is hidden by (under ``min_cell_size``) and the next
            smallest chosen by: ``clients``, or ``couples`` for the couple tables
            (:mod:`fitdata.features.service.couples`), which count couples, not partners.

    Returns:
        The same four tables, each through
        :func:`~fitdata.analytics.suppression.suppress_small_cells` with the complementary
        rows, and (outcome tables) a boolean ``change_suppressed`` column; no attrs.
    """
    frames = {name: _numbered(frames[name]) for name in LINKED_KEYS}
    lines, offsets = linked_lines(frames, aligned)
    clients = _column(frames, count_column)
    small = np.isnan(clients) | np.asarray(config.cell_is_suppressed(np.nan_to_num(clients)))
    rows = complementary_suppression(small, clients, lines)
    change = rows
    outcomes = all(CHANGE_COUNT_COLUMN in frames[name].columns for name in LINKED_KEYS)
    if outcomes:
        n_change = _column(frames, CHANGE_COUNT_COLUMN)
        few = np.isnan(n_change) | np.asarray(config.cell_is_suppressed(np.nan_to_num(n_change)))
        change = complementary_suppression(rows | few, n_change, lines)
    out: dict[str, pd.DataFrame] = {}
    for name, keys in LINKED_KEYS.items():
        cells = slice(offsets[name], offsets[name] + len(frames[name]))
        frame = frames[name]
        table = suppress_small_cells(
            frame,
            count_column=count_column,
            config=config,
            keys=keys,
            hide=rows[cells],
            hide_change=change[cells],
            gate_change=True,
        )
        if outcomes:
            table["change_suppressed"] = change[cells]
        table.attrs = {}
        out[name] = table
    return out
