"""Couple outcomes: both partners reliably improved, one, or neither, per closed couple episode.

Anker, Duncan & Sparks (2009), *Using client feedback to improve couple therapy outcomes*,
J Consult Clin Psychol 77(4):693-704 (205 couples at two Norwegian family counselling offices),
report their result per **couple**: the share of couples in which both partners reached
reliable (or clinically significant) change. The per-partner figures of the service page count
each partner as a client-episode; these count couples.

The unit is a *closed couple episode* (``format = 'couple'``, ``ended`` not NULL). It is
**included** (``eligible``) when exactly two clients rated their own ORS in it and both have
at least two ORS (a change): the same rule as the per-client outcome figures (client-episodes
with change), applied to both partners. Each partner's change is classified exactly as the
per-client figures classify it (:func:`fitdata.analytics.outcomes.category_query`: the
config's reliable change and the cutoff of *that partner's* age group, with the same tie
rules):

* a partner **improved reliably** when their category is ``recovered`` or ``improved``;
* a partner **recovered** when their category is ``recovered`` (reliable improvement, from the
  clinical range at the first ORS to the non-clinical range at the last).

Per included couple exactly one of ``both_improved``, ``one_improved`` and
``neither_improved`` holds; ``both_recovered`` implies ``both_improved``. An episode that is
not included has all four False. Partners' outcomes are correlated in real data, so the share
of couples where both improved is *not* the individual rate squared.

:func:`couple_outcomes` works on client-episode rows in pandas (pure);
:func:`couple_query` computes the same rows in DuckDB over ``category_query`` for a whole
service; a test checks that the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.outcomes import category_query
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig

__all__ = [
    "COUPLE_COLUMNS",
    "COUPLE_FLAGS",
    "COUPLE_SELECT",
    "as_flags",
    "couple_outcomes",
    "couple_query",
]

#: The four outcomes of an included couple (booleans; all False when not included).
COUPLE_FLAGS: tuple[str, ...] = (
    "both_improved",
    "one_improved",
    "neither_improved",
    "both_recovered",
)

#: Columns of :func:`couple_outcomes` and :func:`couple_query`, in order.
COUPLE_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "team_id",
    "ended",
    "partners",
    "partners_with_change",
    "eligible",
    *COUPLE_FLAGS,
)

_IMPROVED = ("recovered", "improved")

#: The aggregation of :func:`couple_query` over the client-episode relation ``z`` of
#: :func:`fitdata.analytics.outcomes.category_query` (one row per closed couple episode).
COUPLE_SELECT = """
, p AS (
    SELECT
        episode_id,
        any_value(team_id) AS team_id,
        any_value(ended) AS ended,
        count(*)::INTEGER AS partners,
        count(*) FILTER (WHERE has_change)::INTEGER AS partners_with_change,
        count(*) FILTER (WHERE category IN ('recovered', 'improved'))::INTEGER AS improved,
        count(*) FILTER (WHERE category = 'recovered')::INTEGER AS recovered
    FROM z
    WHERE format = 'couple' AND ended IS NOT NULL
    GROUP BY episode_id
)
SELECT
    episode_id,
    team_id,
    ended,
    partners,
    partners_with_change,
    partners = 2 AND partners_with_change = 2 AS eligible,
    partners = 2 AND partners_with_change = 2 AND improved = 2 AS both_improved,
    partners = 2 AND partners_with_change = 2 AND improved = 1 AS one_improved,
    partners = 2 AND partners_with_change = 2 AND improved = 0 AS neither_improved,
    partners = 2 AND partners_with_change = 2 AND recovered = 2 AS both_recovered
FROM p
ORDER BY episode_id
"""


def couple_outcomes(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per closed couple episode of ``rows``, with its couple outcome (module docstring).

    Args:
        rows: Client-episode rows with the columns ``episode_id``, ``team_id``, ``format``,
            ``ended``, ``has_change`` and ``category``, e.g. ``SELECT * FROM z`` of
            :func:`fitdata.analytics.outcomes.category_query`. Rows of other formats and of
            ongoing episodes are left out.

    Returns:
        The columns of :data:`COUPLE_COLUMNS`, ordered by ``episode_id``: ``partners`` counts
        the clients who rated their own ORS in the episode, ``partners_with_change`` those of
        them with two or more ORS, ``eligible`` says whether the couple is included, and the
        four outcomes of :data:`COUPLE_FLAGS` are booleans (all False when not included).
    """
    keep = (rows["format"] == "couple").to_numpy() & rows["ended"].notna().to_numpy()
    couples = rows.loc[keep, ["episode_id", "team_id", "ended"]].copy()
    category = rows.loc[keep, "category"]
    couples["partners"] = 1
    couples["with_change"] = rows.loc[keep, "has_change"].fillna(False).astype(bool).astype(int)
    couples["improved"] = category.isin(_IMPROVED).astype(int)
    couples["recovered"] = (category == "recovered").astype(int)
    grouped = couples.groupby("episode_id", sort=True)
    out = grouped[["team_id", "ended"]].first()
    sums = grouped[["partners", "with_change", "improved", "recovered"]].sum()
    out["partners"] = sums["partners"].astype("int64")
    out["partners_with_change"] = sums["with_change"].astype("int64")
    eligible = (out["partners"] == 2) & (out["partners_with_change"] == 2)
    out["eligible"] = eligible
    out["both_improved"] = eligible & (sums["improved"] == 2)
    out["one_improved"] = eligible & (sums["improved"] == 1)
    out["neither_improved"] = eligible & (sums["improved"] == 0)
    out["both_recovered"] = eligible & (sums["recovered"] == 2)
    out = out.reset_index()
    for column in ("eligible", *COUPLE_FLAGS):
        out[column] = out[column].astype(bool)
    return out[list(COUPLE_COLUMNS)]


def couple_query(
    *, config: ClinicalConfig = DEFAULT_CONFIG, **filters: Any
) -> tuple[str, dict[str, Any]]:
    """:func:`couple_outcomes` in DuckDB: the SQL and its parameters, for ``reader.df``.

    The client-episodes are those of :func:`~fitdata.analytics.outcomes.category_query`
    restricted to closed couple episodes (``format='couple'``, ``closed_only=True``, pushed
    down to the sessions scan), so a whole service is read in one query and only one row per
    couple comes back.

    Args:
        config: Cutoffs, reliable change and tie rules (as the per-client figures).
        **filters: Further filters of :func:`~fitdata.analytics.outcomes.episode_outcomes`
            (``service``, ``team_id``, ``start``, ``end``, ...); ``format`` and
            ``closed_only`` are set here.

    Returns:
        The SQL (columns of :data:`COUPLE_COLUMNS`) and its named parameters.
    """
    filters = {**filters, "format": "couple", "closed_only": True}
    sql, params = category_query("SELECT 1", config=config, **filters)
    # category_query's statement ends with the select given; replace it by the couple CTE
    sql = sql[: -len("SELECT 1")].rstrip() + COUPLE_SELECT
    return sql, params


def as_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (from DuckDB or pandas) with the boolean columns as plain ``bool`` (no NA)."""
    out = frame.copy()
    for column in ("eligible", *COUPLE_FLAGS):
        out[column] = np.asarray(out[column].fillna(False), dtype=bool)
    for column in ("partners", "partners_with_change"):
        out[column] = out[column].astype("int64")
    return out
