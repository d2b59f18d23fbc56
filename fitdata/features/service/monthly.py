"""Facts by month: a small frame stored once per database version, counted into linked tables.

The service page's couple outcomes (:mod:`.couples`) and discussed cases (:mod:`.follow_up`)
each keep a frame of facts, one row per case with its team, ``month`` (``year * 12 + month -
1``) and ``quarter`` and no id. :func:`stored_frame` stores such a frame in ``<db>.cache/``
(keyed like the service page's facts, :mod:`.stored`: the database version, the reader's scope,
the layout, the code that computes it and what the caller adds), so a new kernel need not read
it again; :func:`linked_frames` counts it, for the selected service and period, into the four
linked groupings (:data:`~fitdata.features.service.linked.LINKED_KEYS`) that are then suppressed
together. Each section counts its rows per group with :func:`group_codes` (NumPy ``bincount``
over the codes: a period change adds up thousands of rows without a pandas groupby) and adds its
percentages with their Wilson intervals with :func:`add_shares`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.intervals import wilson_interval
from fitdata.data import cache
from fitdata.data.store import Reader, StoreError
from fitdata.features.service.linked import aligned_quarters
from fitdata.features.service.options import ServiceFilters

__all__ = ["add_shares", "group_codes", "linked_frames", "month_of", "stored_frame"]

log = logging.getLogger(__name__)


def month_of(day: dt.date) -> int:
    """The month of ``day`` as ``year * 12 + month - 1`` (the facts' ``month``)."""
    return day.year * 12 + day.month - 1


def stored_frame(
    reader: Reader,
    entry: str,
    key: Mapping[str, Any],
    *,
    code_modules: Sequence[str],
    layout: int,
    compute: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """``compute()``, stored in ``<db>.cache/`` and read back while nothing it depends on changed.

    Args:
        reader: The reader ``compute`` reads through (its scope is part of the key).
        entry: The cache entry's name.
        key: What else the frame depends on (the configuration, the day judged on).
        code_modules: Every module whose code computes the frame (their source is in the key).
        layout: The version of the frame's layout; bump it when the layout changes.
        compute: Reads the frame (no episode or client id in it).

    Returns:
        The frame; computed, not stored, when the database is not a plain file or is gone.
    """
    modules = [importlib.import_module(name) for name in code_modules]
    scope = getattr(reader, "scope", None)
    full_key = {
        **key,
        "code": cache.source_fingerprint(*modules),
        "format": layout,
        "views": None if scope is None else cache.digest([list(v) for v in scope.views]),
    }
    try:
        version = cache.database_version(reader.path)
    except OSError:  # not a plain file: nothing is stored
        return compute()
    payload = cache.load_json(reader, entry, full_key, version=version)
    if payload is not None:
        return cache.frame_from_json(payload)
    facts = compute()
    try:
        cache.store_json(reader, entry, full_key, cache.frame_to_json(facts), version)
    except (StoreError, OSError) as error:  # the file went meanwhile: nothing to store for
        log.info("not storing %s of %s: %s", entry, reader.path, error)
    return facts


def linked_frames(
    facts: pd.DataFrame,
    filters: ServiceFilters,
    team_service: dict[str, str],
    columns: Sequence[str],
    grouped: Callable[[dict[str, np.ndarray], list[str]], pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    """The service's facts counted into the four linked groupings, and the period's quarters.

    Args:
        facts: One row per case with ``team_id``, ``month``, ``quarter`` and ``columns``.
        filters: The service (population; None for all) and the period; the team is not used.
        team_service: Each team's service.
        columns: The columns ``grouped`` counts (with ``team_id``, ``month`` and ``quarter``).
        grouped: Counts rows (columns as arrays) per group of the keys it is given.

    Returns:
        ``period`` and ``teams`` over the period's months, ``quarters`` and ``team_quarters``
        over the trend window's quarters (:meth:`~fitdata.features.service.periods.Period.
        trend_quarters`, and the period), and the quarters the period is made of
        (:func:`~fitdata.features.service.linked.aligned_quarters`).
    """
    quarters = filters.period.trend_quarters()
    first = min(
        month_of(pd.Period(quarters[0], freq="Q").start_time.date()),
        month_of(filters.period.start),
    )
    last = month_of(pd.Period(quarters[-1], freq="Q").end_time.date())
    period_first, period_last = month_of(filters.period.start), month_of(filters.period.end)
    month = facts["month"].to_numpy()
    keep = (month >= first) & (month <= last)
    if filters.service is not None:
        keep &= (facts["team_id"].map(team_service) == filters.service).to_numpy()
    rows = {c: facts[c].to_numpy()[keep] for c in dict.fromkeys(columns)}
    period = (rows["month"] >= period_first) & (rows["month"] <= period_last)
    in_period = {c: values[period] for c, values in rows.items()}
    frames = {
        "period": grouped(in_period, []),
        "teams": grouped(in_period, ["team_id"]),
        "quarters": grouped(rows, ["quarter"]),
        "team_quarters": grouped(rows, ["team_id", "quarter"]),
    }
    return frames, aligned_quarters(period_first, period_last)


def group_codes(
    rows: Mapping[str, np.ndarray], keys: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Each row's group of ``keys``, for counting with ``np.bincount(codes, minlength=n)``.

    Args:
        rows: Columns as arrays of equal length (the keys among them, none missing).
        keys: The group columns; none for one group (when there are rows).

    Returns:
        The groups' key columns (sorted by the keys, in their order), each row's group number
        and the number of groups.
    """
    size = len(next(iter(rows.values()))) if rows else 0
    if not keys:
        return {}, np.zeros(size, dtype=np.int64), 1 if size else 0
    code = np.zeros(size, dtype=np.int64)
    levels = []
    for key in keys:
        codes, uniques = pd.factorize(rows[key], sort=True)
        code = code * len(uniques) + codes
        levels.append((key, np.asarray(uniques, dtype=object)))
    groups, inverse = np.unique(code, return_inverse=True)
    columns: dict[str, np.ndarray] = {}
    for key, uniques in reversed(levels):
        columns[key] = uniques[groups % len(uniques)]
        groups = groups // len(uniques)
    return {key: columns[key] for key in keys}, inverse.reshape(-1), len(columns[keys[0]])


def add_shares(
    columns: dict[str, np.ndarray], shares: Sequence[tuple[str, str, str]]
) -> dict[str, np.ndarray]:
    """Add each share (in percent, NaN over none) and its 95 % Wilson interval to ``columns``.

    Args:
        columns: Counts per group, by name.
        shares: ``(name, numerator, denominator)``: ``name``, ``name_ci_low`` and
            ``name_ci_high`` are added.
    """
    for name, numerator, denominator in shares:
        k = columns[numerator].astype("float64")
        n = columns[denominator].astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[name] = np.where(n > 0, 100 * k / n, np.nan)
        columns[f"{name}_ci_low"], columns[f"{name}_ci_high"] = wilson_interval(k, n)
    return columns
