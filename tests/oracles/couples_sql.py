"""Couple outcomes in one plain SQL statement, written from the definition (no package code).

The definition (``docs/analytics.md``, "Couples"): a closed couple episode (``format =
'couple'``, ``ended`` not NULL) is *included* when exactly two clients rated their own ORS in
it (``rater = 'client'``) and each of them has at least two ORS totals. A partner's change is
their last ORS minus their first (by session number). A partner **improved reliably** when the
change is at least the reliable-change value (or above it, when a change exactly at the value
is not reliable); a partner **recovered** when they improved reliably, their first ORS was
below the cutoff of their own age group (at or below, when a score at the cutoff counts as
clinical) and their last ORS was at or above it (above, in that case). The couple counts are:
closed couple episodes, included couples, both / exactly one / neither partner improved
reliably, both recovered.

Nothing here imports ``fitdata.analytics``: the thresholds are read from the config's fields
and the SQL is written out in full, so the equivalence test compares two implementations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from fitdata.config import ClinicalConfig
from fitdata.data.store import Reader

__all__ = ["COUNTS", "couples_sql"]

#: The counts of one group, in order.
COUNTS = (
    "couple_episodes",
    "couples",
    "both_improved",
    "one_improved",
    "neither_improved",
    "both_recovered",
)

_EPSILON = 1e-6  # scores are recorded to one decimal: ties are exact up to float noise

_SQL = """
WITH ep AS (
    SELECT e.episode_id, e.team_id, e.ended, t.service,
           year(e.ended) || 'Q' || quarter(e.ended) AS quarter
    FROM episodes AS e LEFT JOIN teams AS t ON t.team_id = e.team_id
    WHERE e.format = 'couple' AND e.ended IS NOT NULL
      AND e.ended >= $start AND e.ended <= $end {service}
),
partner AS (
    SELECT s.episode_id, s.client_id,
           count(s.ors_total) AS n_ors,
           arg_min(s.ors_total, s.session_no) FILTER (WHERE s.ors_total IS NOT NULL) AS first_ors,
           arg_max(s.ors_total, s.session_no) FILTER (WHERE s.ors_total IS NOT NULL) AS last_ors
    FROM sessions AS s
    WHERE s.rater = 'client' AND s.episode_id IN (SELECT episode_id FROM ep)
    GROUP BY s.episode_id, s.client_id
),
judged AS (
    SELECT p.*,
           CASE c.age_group WHEN 'child' THEN $child WHEN 'adolescent' THEN $adolescent
                ELSE $adult END AS cutoff
    FROM partner AS p JOIN clients AS c ON c.client_id = p.client_id
),
outcome AS (
    SELECT episode_id, n_ors,
           CASE WHEN $at_rc_reliable THEN last_ors - first_ors >= $rc - $eps
                ELSE last_ors - first_ors > $rc + $eps END AS improved,
           CASE WHEN $at_cutoff_clinical THEN first_ors <= cutoff + $eps
                ELSE first_ors < cutoff - $eps END AS clinical_at_start,
           CASE WHEN $at_cutoff_clinical THEN last_ors > cutoff + $eps
                ELSE last_ors >= cutoff - $eps END AS non_clinical_at_end
    FROM judged
),
couple AS (
    SELECT ep.episode_id, ep.team_id, ep.quarter,
           count(o.episode_id) AS partners,
           count(*) FILTER (WHERE o.n_ors >= 2) AS with_two,
           count(*) FILTER (WHERE o.n_ors >= 2 AND o.improved) AS improved,
           count(*) FILTER (WHERE o.n_ors >= 2 AND o.improved AND o.clinical_at_start
                            AND o.non_clinical_at_end) AS recovered
    FROM ep LEFT JOIN outcome AS o ON o.episode_id = ep.episode_id
    GROUP BY ep.episode_id, ep.team_id, ep.quarter
)
SELECT {keys}
       count(*) AS couple_episodes,
       count(*) FILTER (WHERE partners = 2 AND with_two = 2) AS couples,
       count(*) FILTER (WHERE partners = 2 AND with_two = 2 AND improved = 2) AS both_improved,
       count(*) FILTER (WHERE partners = 2 AND with_two = 2 AND improved = 1) AS one_improved,
       count(*) FILTER (WHERE partners = 2 AND with_two = 2 AND improved = 0) AS neither_improved,
       count(*) FILTER (WHERE partners = 2 AND with_two = 2 AND recovered = 2) AS both_recovered
FROM couple
{group}
"""


def couples_sql(
    reader: Reader,
    config: ClinicalConfig,
    *,
    start: dt.date,
    end: dt.date,
    by: tuple[str, ...] = (),
    service: str | None = None,
) -> pd.DataFrame:
    """The couple counts of the couple episodes that ended from ``start`` to ``end``.

    Args:
        reader: The database.
        config: The thresholds (cutoffs, reliable change, tie rules).
        start: First day (inclusive).
        end: Last day (inclusive).
        by: Group keys among ``team_id`` and ``quarter`` (``()``: one row for everything).
        service: Only the teams of this service.

    Returns:
        One row per group with the keys and :data:`COUNTS` (as ints), plus ``pct_<count>``
        for the four outcomes in percent of ``couples`` (NaN when there are none).
    """
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "child": config.ors_cutoff_child,
        "adolescent": config.ors_cutoff_adolescent,
        "adult": config.ors_cutoff_adult,
        "rc": config.ors_reliable_change,
        "at_rc_reliable": config.change_at_threshold_is_reliable,
        "at_cutoff_clinical": config.score_at_cutoff_is_clinical,
        "eps": _EPSILON,
    }
    service_sql = ""
    if service is not None:
        service_sql = "AND t.service = $service"
        params["service"] = service
    keys = "".join(f"{key}, " for key in by)
    group = f"GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}" if by else ""
    frame = reader.df(_SQL.format(service=service_sql, keys=keys, group=group), params)
    if not by and int(frame["couple_episodes"].iloc[0]) == 0:
        frame = frame.iloc[0:0]
    for column in COUNTS:
        frame[column] = frame[column].astype("int64")
    for column in COUNTS[2:]:
        frame[f"pct_{column}"] = (100 * frame[column] / frame["couples"]).where(
            frame["couples"] > 0
        )
    return frame.reset_index(drop=True)
