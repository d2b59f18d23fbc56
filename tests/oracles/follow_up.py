"""The follow-up figures written again from the definition, for the equivalence test.

The rule (``docs/analytics.md``, "Did it help? The follow-up rule") as a plain loop over one
case's sessions, and the team and quarter figures as one DuckDB ``GROUP BY`` over the cases.
Nothing here imports ``fitdata.analytics.follow_up``; the flag starts (which sessions raised a
warning) are an input, taken from :func:`fitdata.features.follow_up.flag_starts`, since the
flags have their own equivalence tests.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import duckdb
import pandas as pd

TOL = 1e-9


def rule(
    start: dt.date,
    rows: Sequence[dict[str, Any]],
    clients: Sequence[str],
    ended: dt.date | None,
    end_type: str | None,
    as_of: dt.date,
    *,
    n_sessions: int,
    weeks: int,
    rc: float,
    at_threshold: bool,
) -> str:
    """The outcome of one start, from the episode's client rows (dicts) as a plain loop."""
    limit = start + dt.timedelta(weeks=weeks)
    seen = sorted({r["session_no"] for r in rows if start < r["session_date"] <= as_of})
    window_nos = [no for no in seen[:n_sessions]]
    day_of = {r["session_no"]: r["session_date"] for r in rows}
    window_nos = [no for no in window_nos if day_of[no] <= limit]
    window = [r for r in rows if r["session_no"] in window_nos and r["session_date"] <= as_of]
    held_all = len(seen) >= n_sessions and day_of[seen[n_sessions - 1]] <= limit
    window_end = day_of[seen[n_sessions - 1]] if held_all else limit
    if ended is not None and ended > as_of:
        ended = None
    ended_inside = ended is not None and start <= ended <= window_end
    complete = held_all or as_of > limit or ended_inside
    judged = list(clients) or sorted({r["client_id"] for r in window if _num(r["ors_total"])})
    on = below = unjudged = improved = 0
    all_on = all_both = True
    any_below = any_unjudged = False
    for client in judged:
        mine = [r for r in window if r["client_id"] == client and _num(r["ors_total"])]
        on = any(
            _num(r["lower_expected"]) and r["ors_total"] >= r["lower_expected"] - TOL for r in mine
        )
        below = any(
            _num(r["lower_expected"]) and r["ors_total"] < r["lower_expected"] - TOL for r in mine
        )
        unjudged = any(not _num(r["lower_expected"]) for r in mine)
        improved = any(
            _num(r["first_ors"])
            and (
                r["ors_total"] - r["first_ors"] >= rc - TOL
                if at_threshold
                else r["ors_total"] - r["first_ors"] > rc + TOL
            )
            for r in mine
        )
        all_on &= on
        all_both &= on and improved
        any_below |= below and not on
        any_unjudged |= unjudged and not on and not below
    if judged and all_both:
        return "reliable_improvement"
    if judged and all_on:
        return "back_on_track"
    if ended_inside:
        return f"ended_{end_type}" if end_type in ("planned", "transferred") else "ended_unplanned"
    if complete and any_unjudged and not any_below:
        return "not_judged"
    return "still_off_track" if complete else "too_early"


def complete(
    start: dt.date,
    rows: Sequence[dict[str, Any]],
    ended: dt.date | None,
    as_of: dt.date,
    *,
    n_sessions: int,
    weeks: int,
) -> bool:
    """Whether the window of one start is over on ``as_of``."""
    limit = start + dt.timedelta(weeks=weeks)
    seen = sorted(
        {(r["session_no"], r["session_date"]) for r in rows if start < r["session_date"] <= as_of}
    )
    held_all = len(seen) >= n_sessions and seen[n_sessions - 1][1] <= limit
    window_end = seen[n_sessions - 1][1] if held_all else limit
    ended_inside = ended is not None and ended <= as_of and start <= ended <= window_end
    return held_all or as_of > limit or ended_inside


def _num(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def tables_sql(cases: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Counts and median days per grouping, in DuckDB, from one row per flagged case.

    ``cases`` has ``team_id``, ``quarter``, ``in_period``, ``discussed``, ``days``, ``judged``,
    ``on_track``. Returns ``period``, ``teams``, ``quarters``, ``team_quarters``.
    """
    con = duckdb.connect()
    con.register("c", cases)
    select = (
        "count(*) AS cases, sum(discussed::INT) AS discussed, sum((NOT discussed)::INT) AS "
        "not_discussed, sum((discussed AND judged)::INT) AS discussed_judged, "
        "sum((discussed AND on_track)::INT) AS discussed_on_track, "
        "sum((NOT discussed AND judged)::INT) AS not_discussed_judged, "
        "sum((NOT discussed AND on_track)::INT) AS not_discussed_on_track, "
        "median(days) FILTER (WHERE discussed) AS median_days"
    )
    out = {
        "period": con.execute(f"SELECT {select} FROM c WHERE in_period").df(),
        "teams": con.execute(
            f"SELECT team_id, {select} FROM c WHERE in_period GROUP BY team_id ORDER BY team_id"
        ).df(),
        "quarters": con.execute(
            f"SELECT quarter, {select} FROM c GROUP BY quarter ORDER BY quarter"
        ).df(),
        "team_quarters": con.execute(
            f"SELECT team_id, quarter, {select} FROM c GROUP BY ALL ORDER BY team_id, quarter"
        ).df(),
    }
    con.close()
    return out
