"""Helpers of the checks across rows: problems on groups of rows, placed at their positions.

Rows being checked are a subset of the combined text table (``pos`` is each row's position
there); a problem is recorded at that position so that it names the file, row and header.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.ingest.problems import ProblemLog
from fitdata.ingest.validate import distinct

__all__ = ["at", "raw_values", "reject_groups", "spread"]


def reject_groups(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    problems: ProblemLog,
    group: str,
    column: str,
    what: str,
    report: str | None = None,
    message: tuple[str, str] | None = None,
) -> np.ndarray:
    """Rows of groups where ``column`` has more than one value: a problem on each of them.

    Args:
        rows: Rows with ``pos`` (position in ``raw``).
        raw: The combined text table (for quoting values).
        problems: Where problems are recorded.
        group: The column that groups the rows (NA: in no group).
        column: The column that must have one value per group ("" or NA: not given).
        what: What the column holds, for the message.
        report: The canonical column the problem is reported in (default ``column``).
        message: The text before and after the group's first value (default: "one WHAT per
            GROUP: this GROUP has ", " on other rows").
    """
    report = report or column
    values = rows[column]
    # More than one value in a group: its smallest and largest value codes differ (integer
    # codes, no groupby over text per row).
    value_codes, uniques = distinct(values)
    filled = np.append(np.asarray(pd.Index(uniques).astype("str") != "", dtype=bool), False)
    group_codes, groups = distinct(rows[group])
    given = filled[value_codes] & (group_codes >= 0)
    if not given.any():
        return np.zeros(len(rows), dtype=bool)
    lowest = np.full(len(groups), len(uniques), dtype=np.int64)
    highest = np.full(len(groups), -1, dtype=np.int64)
    np.minimum.at(lowest, group_codes[given], value_codes[given])
    np.maximum.at(highest, group_codes[given], value_codes[given])
    conflict = given & (lowest != highest)[np.maximum(group_codes, 0)]
    if conflict.any():
        given = pd.Series(given, index=rows.index)
        first = values.where(given).groupby(rows[group]).transform("first")
        before, after = message or (f"one {what} per {group}: this {group} has ", " on other rows")
        text = before + first.astype("str").fillna("") + after
        problems.add(
            at(rows, conflict, raw), report, raw_values(raw, report), spread(rows, text, raw)
        )
    return conflict


def at(rows: pd.DataFrame, mask: np.ndarray, raw: pd.DataFrame) -> np.ndarray:
    """A mask over the combined table for a mask over ``rows``."""
    full = np.zeros(len(raw), dtype=bool)
    full[rows["pos"].to_numpy()[mask]] = True
    return full


def spread(rows: pd.DataFrame, values: pd.Series, raw: pd.DataFrame) -> pd.Series:
    """Per-row texts of ``rows`` placed at their positions in the combined table."""
    full = np.full(len(raw), "", dtype=object)
    full[rows["pos"].to_numpy()] = values.to_numpy(dtype=object)
    return pd.Series(full)


def raw_values(raw: pd.DataFrame, column: str) -> pd.Series | None:
    """The raw text of ``column`` (None when the files lack it: the problem shows no value)."""
    return raw[column] if column in raw.columns else None
