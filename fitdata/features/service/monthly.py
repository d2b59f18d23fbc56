"""Facts by month: a small frame stored once per database version, counted into linked tables.

The service page's couple outcomes (:mod:`.couples`) and discussed cases (:mod:`.follow_up`)
each keep a frame of facts, one row per case with its team, ``month`` (``year * 12 + month -
1``) and ``quarter`` and no id. :func:`stored_frame` stores such a frame in ``<db>.cache/``
(keyed like the service page's facts, :mod:`.stored`: the database version, the reader's scope,
the layout, the code that computes it and what the caller adds), so a new kernel need not read
it again; :func:`linked_frames` counts it, for the selected service and period, into the four
linked groupings (:data:`~fitdata.features.service.linked.LINKED_KEYS`) that are then suppressed
together.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fitdata.data import cache
from fitdata.data.store import Reader, StoreError
from fitdata.features.service.linked import aligned_quarters
from fitdata.features.service.options import ServiceFilters

__all__ = ["linked_frames", "month_of", "stored_frame"]

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
