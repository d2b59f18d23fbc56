"""Small-cell suppression: the one rule every aggregate shown to a group goes through.

A count of 1-4 clients is itself identifying ("two adolescents in team X this quarter"), and
so is every statistic over so few. :func:`suppress_small_cells` hides such rows and, for
sub-group counts, the next smallest count too, so a hidden value cannot be recovered by
subtraction (complementary suppression; ``shared/domain.md``, "Small cells"). The minimum is
``ClinicalConfig.min_cell_size`` (5 by default: 4 is hidden, 5 is shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig

__all__ = ["AGE_COUNT_COLUMNS", "suppress_small_cells"]

#: The per-age-group client counts of an index table, suppressed as sub-groups by default.
AGE_COUNT_COLUMNS: tuple[str, ...] = tuple(f"clients_{group}" for group in AGE_GROUPS)


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    count_column: str = "clients",
    config: ClinicalConfig = DEFAULT_CONFIG,
    keys: Sequence[str] | None = None,
    subgroup_counts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Hide every aggregate over fewer than ``config.min_cell_size`` clients.

    The one helper every table shown to a group goes through. A row is suppressed when its
    ``count_column`` is below the minimum (:meth:`ClinicalConfig.cell_is_suppressed`: 4 is
    hidden, 5 is shown) or already missing. In a suppressed row every column except the group
    keys becomes NaN, **including the count itself**: a count of 1-4 is itself identifying
    ("two adolescents in team X this quarter"). A boolean ``suppressed`` column is added.

    Counts of clients in a sub-group (``clients_child`` ... in a shown row) are small cells
    too: a value from 1 to min_cell_size - 1 is replaced by NaN; when that hides exactly one
    sub-group count in a row, the smallest other non-zero one is hidden as well, so the hidden
    value cannot be recovered as the total minus the others (complementary suppression). Zeros
    are shown. Other statistics of a shown row rest on at least the minimum number of clients
    and are kept.

    Args:
        table: An aggregate table with one row per group.
        count_column: The column of distinct clients per row.
        config: Supplies ``min_cell_size``.
        keys: Group-key columns kept as they are; default ``table.attrs["group_keys"]``.
        subgroup_counts: Sub-group client counts; default the ``clients_<age group>`` columns
            present in the table.

    Returns:
        A copy of ``table`` with small cells hidden and ``suppressed`` added (attrs kept).

    Raises:
        KeyError: If ``count_column`` is not a column of ``table``.
    """
    if count_column not in table.columns:
        raise KeyError(f"count column {count_column!r} is not in the table")
    key_list = list(keys if keys is not None else table.attrs.get("group_keys", []))
    if subgroup_counts is None:
        subgroup_counts = [c for c in AGE_COUNT_COLUMNS if c in table.columns]
    out = table  # not modified: the result is a new frame
    counts = pd.to_numeric(out[count_column], errors="coerce").astype("float64")
    mask = counts.isna().to_numpy() | np.asarray(
        config.cell_is_suppressed(counts.fillna(0).to_numpy()), dtype=bool
    )
    values = {c for c in out.columns if c not in key_list and c != "suppressed"}
    hide = bool(mask.any())
    # One frame built from arrays (counts and flags become floats, hidden or not, so they can
    # hold NaN); column-by-column assignment costs more than the work for small tables.
    columns: dict[str, Any] = {}
    for column in out.columns:
        series = out[column]
        kind = getattr(series.dtype, "kind", "O")
        if column not in values:
            columns[column] = series
        elif kind in "biuf":
            array = series.to_numpy(dtype="float64", na_value=np.nan)
            columns[column] = np.where(mask, np.nan, array) if hide else array
        else:
            columns[column] = series.where(~mask) if hide else series
    out = pd.DataFrame(columns, index=out.index)
    out.attrs = dict(table.attrs)

    sub = [c for c in subgroup_counts if c in out.columns]
    if sub:
        block = out[sub].to_numpy(dtype="float64", copy=True)
        small = (block > 0) & np.asarray(config.cell_is_suppressed(np.nan_to_num(block)))
        lonely = small.sum(axis=1) == 1
        candidates = np.where((block > 0) & ~small, block, np.inf)
        smallest = np.argmin(candidates, axis=1)
        has_candidate = np.isfinite(candidates.min(axis=1)) if len(block) else lonely
        extra = np.zeros_like(small)
        rows = np.flatnonzero(lonely & has_candidate)
        extra[rows, smallest[rows]] = True
        block[small | extra] = np.nan
        out[sub] = block
    out["suppressed"] = mask
    return out
