"""Small-cell suppression: the one rule every aggregate shown to a group goes through.

A count of 1-4 clients is itself identifying ("two adolescents in team X this quarter"), and
so is every statistic over so few. :func:`suppress_small_cells` hides such rows and, for
sub-group counts, the next smallest count too, so a hidden value cannot be recovered by
subtraction (complementary suppression; ``shared/domain.md``, "Small cells"). The minimum is
``ClinicalConfig.min_cell_size`` (5 by default: 4 is hidden, 5 is shown).

Two more rules, because hiding a row is not enough when related figures are shown beside it:

* **Each statistic is gated on what it counts** (``gate_change``). Outcome percentages and
  effect sizes are over client-episodes with change (2+ ORS), so in a shown row they are
  hidden when fewer than the minimum client-episodes have change (:data:`CHANGE_COLUMNS`),
  even if the row has enough clients.
* **Linked tables** (a total and its parts shown on the same page, e.g. the service's key
  figures and its teams): :func:`complementary_suppression` hides more cells until no line
  (a total and the parts that add up to it) has exactly one hidden cell, so no hidden value is
  a shown total minus shown parts. ``docs/analytics.md`` ("Small cells that cannot be
  undone") gives the rule and its sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig

__all__ = [
    "AGE_COUNT_COLUMNS",
    "CHANGE_COLUMNS",
    "CHANGE_COUNT_COLUMN",
    "Line",
    "complementary_suppression",
    "suppress_small_cells",
]

#: The per-age-group client counts of an index table, suppressed as sub-groups by default.
AGE_COUNT_COLUMNS: tuple[str, ...] = tuple(f"clients_{group}" for group in AGE_GROUPS)

#: The count of client-episodes with change (2+ ORS), the denominator of :data:`CHANGE_COLUMNS`.
CHANGE_COUNT_COLUMN = "episodes_with_change"

#: Statistics over client-episodes with change: hidden when fewer than the minimum have change.
CHANGE_COLUMNS: tuple[str, ...] = (
    "change_mean",
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
    "severity_adjusted_es",
    "severity_adjusted_es_ci_low",
    "severity_adjusted_es_ci_high",
    "pct_reliable_improvement",  # the therapist development page's names
    "pct_reliable_improvement_ci_low",
    "pct_reliable_improvement_ci_high",
    "pct_recovered_ci_low",
    "pct_recovered_ci_high",
    "pct_target",
    "pct_target_ci_low",
    "pct_target_ci_high",
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
    "team_effect",
    "team_effect_se",
    "team_effect_ci_low",
    "team_effect_ci_high",
)

#: One additive relation between shown cells: the total's cell and the cells of its parts.
Line = tuple[int, Sequence[int]]


def complementary_suppression(
    hidden: np.ndarray, sizes: np.ndarray, lines: Sequence[Line]
) -> np.ndarray:
    """Hide more cells until no line has exactly one hidden cell (secondary suppression).

    Cells are numbered 0..n-1 across all linked tables. A line says that the total's value is
    the sum of its parts' values (a service and its teams; a team's period and its quarters).
    With exactly one hidden cell in a line, that cell is the total minus the shown parts (or
    the sum of the parts, when the total is the hidden one), so the next smallest shown part
    by ``sizes`` is hidden as well (ties: the first); a line whose parts are all hidden hides
    its total. Hiding a cell can leave another line with one hidden cell, so this repeats
    until nothing changes (it ends: cells are only ever added). Statistical offices call this
    complementary (secondary) suppression.

    Args:
        hidden: One boolean per cell: hidden already (small cells).
        sizes: One number per cell to choose the next smallest by (e.g. its clients).
        lines: ``(total, parts)`` cell numbers. Parts that are absent (no data, so zero and
            known to be) are simply not listed.

    Returns:
        A new boolean array: ``hidden`` with the complementary cells added.
    """
    out = np.asarray(hidden, dtype=bool).copy()
    size = np.asarray(sizes, dtype="float64")
    size = np.where(np.isnan(size), np.inf, size)
    pending = [(total, np.asarray(parts, dtype=np.int64)) for total, parts in lines if len(parts)]
    if not pending:
        return out
    totals = np.array([total for total, _ in pending], dtype=np.int64)
    members = np.concatenate([parts for _, parts in pending])
    line_of = np.repeat(np.arange(len(pending)), [len(parts) for _, parts in pending])
    while True:
        # Hidden cells per line, for all lines at once; only lines with one are visited.
        counts = np.bincount(line_of, weights=out[members], minlength=len(pending))
        single = np.flatnonzero(counts + out[totals] == 1)
        if single.size == 0:
            return out
        for line in single.tolist():
            total, parts = pending[line]
            shown_parts = parts[~out[parts]]
            if len(parts) - len(shown_parts) + int(out[total]) != 1:
                continue  # an earlier line of this round hid one of its cells
            if len(shown_parts):
                out[shown_parts[np.argmin(size[shown_parts])]] = True
            else:
                out[total] = True


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    count_column: str = "clients",
    config: ClinicalConfig = DEFAULT_CONFIG,
    keys: Sequence[str] | None = None,
    subgroup_counts: Sequence[str] | None = None,
    hide: np.ndarray | None = None,
    hide_change: np.ndarray | None = None,
    gate_change: bool = False,
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
    are shown. With ``gate_change``, in a shown row the statistics of :data:`CHANGE_COLUMNS`
    are hidden when the row has fewer than the minimum client-episodes with change
    (``episodes_with_change``), the number they are computed over; the count itself is shown
    (it says why). Other statistics of a shown row rest on at least the minimum number of
    clients and are kept.

    Args:
        table: An aggregate table with one row per group.
        count_column: The column of distinct clients per row.
        config: Supplies ``min_cell_size``.
        keys: Group-key columns kept as they are; default ``table.attrs["group_keys"]``.
        subgroup_counts: Sub-group client counts; default the ``clients_<age group>`` columns
            present in the table.
        hide: Rows to hide as well (complementary suppression of linked tables).
        hide_change: Rows whose :data:`CHANGE_COLUMNS` to hide as well.
        gate_change: Hide :data:`CHANGE_COLUMNS` over fewer than the minimum client-episodes
            with change (the service page, the report, the therapist development page and
            :func:`fitdata.analytics.indices.service_indices` turn it on).

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
    if hide is not None:
        mask = mask | np.asarray(hide, dtype=bool)
    change_mask = mask.copy()
    if gate_change and CHANGE_COUNT_COLUMN in out.columns:
        n_change = pd.to_numeric(out[CHANGE_COUNT_COLUMN], errors="coerce").astype("float64")
        change_mask |= n_change.isna().to_numpy() | np.asarray(
            config.cell_is_suppressed(n_change.fillna(0).to_numpy()), dtype=bool
        )
    if hide_change is not None:
        change_mask |= np.asarray(hide_change, dtype=bool)
    values = {c for c in out.columns if c not in key_list and c != "suppressed"}
    any_hidden = bool(mask.any())
    change_hidden = bool(change_mask.any())
    # One frame built from arrays (counts and flags become floats, hidden or not, so they can
    # hold NaN); column-by-column assignment costs more than the work for small tables. The
    # numeric columns are read as one block and hidden with one mask.
    dtypes = out.dtypes
    numeric = [c for c in out.columns if c in values and getattr(dtypes[c], "kind", "O") in "biuf"]
    block = out[numeric].to_numpy(dtype="float64", na_value=np.nan, copy=True)
    if any_hidden or change_hidden:
        in_change = np.array([c in CHANGE_COLUMNS for c in numeric], dtype=bool)
        block[np.where(in_change[None, :], change_mask[:, None], mask[:, None])] = np.nan
    position = {c: i for i, c in enumerate(numeric)}
    columns: dict[str, Any] = {}
    for column in out.columns:
        if column in position:
            columns[column] = block[:, position[column]]
            continue
        series = out[column]
        if column not in values:
            columns[column] = series
            continue
        rows = change_mask if column in CHANGE_COLUMNS else mask
        hide_rows = change_hidden if column in CHANGE_COLUMNS else any_hidden
        columns[column] = series.where(~rows) if hide_rows else series
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
