"""A therapist's own discussed cases — did it help? Beside the service, privately (issue 22).

The same figures as the service page's section (:mod:`fitdata.features.service.follow_up`)
for the flagged cases of **one** therapist's episodes, over the last four quarters up to the
day judged on, beside the therapist's service over the same quarters. Read through the
:class:`~fitdata.features.therapist_development.scope.TherapistScope` checks (only the
therapist, their supervisors and an admin may open it; a leader is refused) with the page's
reader; the service row comes from the comparison reader (de-identified, aggregates only)
through the kernel's cache, as the page's other comparisons do.

Suppression: a row of fewer than ``min_cell_size`` flagged cases is hidden; in a shown row the
comparison (discussed, not discussed, the judged of each, their shares and the median days) is
hidden when one of the discussed, the not discussed or the judged of either is 1 to
``min_cell_size - 1``. The two rows are not parts of one total, so no complement is needed.
An observational comparison, not a causal effect (the page says so).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fitdata.data.store import Reader
from fitdata.features.follow_up import FACT_COLUMNS, follow_up_facts
from fitdata.features.service.follow_up import (
    FOLLOW_UP_COUNTS,
    FOLLOW_UP_DETAIL,
    grouped,
    stored_follow_up_facts,
)
from fitdata.features.service.options import team_frame
from fitdata.features.service.summary import SummaryCache
from fitdata.features.therapist_development.scope import TherapistScope

__all__ = ["GATES", "follow_up_quarters", "therapist_follow_up"]

#: The counts a comparison's share rests on (a row where one is small hides the comparison).
GATES = ("discussed", "not_discussed", "discussed_judged", "not_discussed_judged")


def follow_up_quarters(as_of: dt.date) -> list[str]:
    """The four quarters up to and including the one of ``as_of`` (``2026Q1`` ...)."""
    last = pd.Period(as_of, freq="Q")
    return [str(last - i) for i in range(3, -1, -1)]


def _suppressed(table: pd.DataFrame, min_cell_size: int) -> pd.DataFrame:
    out = table.copy()
    cases = out["cases"].to_numpy(dtype=float)
    hidden = cases < min_cell_size
    small = np.zeros(len(out), dtype=bool)
    for gate in GATES:
        values = out[gate].to_numpy(dtype=float)
        small |= (values > 0) & (values < min_cell_size)
    detail = hidden | small
    for column in FOLLOW_UP_DETAIL:
        out[column] = out[column].astype(float).where(~detail, np.nan)
    out["cases"] = out["cases"].astype(float).where(~hidden, np.nan)
    out["suppressed"] = hidden
    out["detail_suppressed"] = detail
    return out


def _row(facts: pd.DataFrame, quarters: list[str], level: str) -> pd.DataFrame:
    facts = facts[facts["quarter"].isin(quarters)]
    table = grouped({c: facts[c].to_numpy() for c in FACT_COLUMNS}, [])
    if table.empty:  # no flagged case: zeros, and no share
        table = pd.DataFrame({c: [0 if c in FOLLOW_UP_COUNTS else np.nan] for c in table.columns})
    table.insert(0, "level", level)
    return table


def therapist_follow_up(
    scope: TherapistScope,
    reader: Reader,
    *,
    comparison_reader: Reader | None = None,
    as_of: dt.date | None = None,
    cache: SummaryCache | None = None,
) -> pd.DataFrame:
    """The therapist's row and the service's, over the last four quarters, suppressed.

    Args:
        scope: The therapist's scope (its construction checked who may open it).
        reader: The page's reader (the therapist's own episodes are read through it).
        comparison_reader: The reader of the service's aggregates; default ``reader``.
        as_of: The day judged on (default today).
        cache: The kernel's cache for the service's facts.

    Returns:
        Two rows, ``level`` ``therapist`` and ``service``, with the columns of
        :func:`fitdata.features.service.follow_up.grouped`, ``suppressed`` and
        ``detail_suppressed``; ``attrs["quarters"]`` the quarters covered.
    """
    as_of = as_of or dt.date.today()
    config = scope.config
    quarters = follow_up_quarters(as_of)
    identity = scope.identity
    own = follow_up_facts(reader, as_of=as_of, config=config, therapist_id=identity.therapist_id)
    others = comparison_reader or reader
    store = cache or SummaryCache()
    version = others.file_identity()
    service_facts = store.get(
        others,
        "follow_up",
        (version, config, as_of),
        lambda: stored_follow_up_facts(others, config, as_of),
    )
    names = store.get(others, "teams", version, lambda: team_frame(others))
    teams = set(names.loc[names["service"] == identity.service, "team_id"].astype(str))
    service = service_facts[service_facts["team_id"].astype(str).isin(teams)]
    table = pd.concat(
        [_row(own, quarters, "therapist"), _row(service, quarters, "service")],
        ignore_index=True,
    )
    out = _suppressed(table, config.min_cell_size)
    out.attrs["quarters"] = quarters
    return out
