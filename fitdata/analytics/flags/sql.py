"""Episode flags of a whole team or service in DuckDB SQL: the same rows as the pandas path.

Loading 10 million sessions into pandas is too slow for a page, so :func:`episode_flag_counts`
computes :func:`fitdata.analytics.flags.episode_flags`' rows with window functions and one
grouped aggregation. Its thresholds are SQL parameters taken from the same
:class:`~fitdata.config.ClinicalConfig`, with the same tie tolerance.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fitdata.analytics.flags.rules import EPISODE_COLUMNS, FLAGS, NOW_AT, SRS_MAX, describe_flags
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.vocabulary import SRS_ITEMS

if TYPE_CHECKING:
    from fitdata.analytics.trajectory import TrajectoryModel

__all__ = ["episode_flag_counts"]


_ITEM_NAME_SQL = ", ".join(f"CASE WHEN {c} < $item - $tol THEN '{c}' END" for c in SRS_ITEMS)

#: The per-session flags of the SQL path: (flag, fired, value, threshold, ref, note), as SQL over
#: the columns of the ``d`` step below. ``NULL`` means the column is empty for the flag; an
#: expression starting with ``$`` (or ``-$``) is a constant parameter. Each flag's row takes
#: value, threshold, ref and note from the last session at which it fired.
_SESSION_RULES_SQL: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("not_on_track", "ors < lower - $tol", "ors", "lower", "NULL", "NULL"),
    (
        "no_reliable_change",
        "change IS NOT NULL AND session_no >= $stagnation AND direction <> 1",
        "change",
        "$rc",
        "first_ors",
        "NULL",
    ),
    ("reliable_deterioration", "direction = -1", "change", "-$rc", "first_ors", "NULL"),
    ("srs_below_cutoff", "srs < $srs_cutoff - $tol", "srs", "$srs_cutoff", "NULL", "NULL"),
    ("srs_drop", "fall >= $drop - $tol", "fall", "$drop", "usual_srs", "NULL"),
    ("srs_item_below", "min_item < $item - $tol", "min_item", "$item", "NULL", "item_note"),
    ("missing_ors", "ors IS NULL", "NULL", "NULL", "NULL", "NULL"),
    ("missing_srs", "srs IS NULL", "NULL", "NULL", "NULL", "NULL"),
)

_DETAILS = (("value", "DOUBLE"), ("threshold", "DOUBLE"), ("ref", "DOUBLE"), ("note", "VARCHAR"))

#: Whether a flag holds now, over the columns of the ``agg`` step (:data:`NOW_AT`): it fired at
#: the last session that could raise it. ``not_on_track`` holds now when no judged ORS at or after
#: the earliest of the last ``$now_k`` judged ones is on or above the line.
_NOW_SQL: dict[str, str] = {
    "judged_ors": "(on_line_no IS NULL OR on_line_no < list_min(judged_top))",
    "ors": "{flag}__last = last_ors_no",
    "srs": "{flag}__last = last_srs_no",
    "items": "{flag}__last = last_item_no",
    "session": "{flag}__last = last_no",
}


def _is_constant(expression: str) -> bool:
    return expression == "NULL" or expression.lstrip("-").startswith("$")


def _firing_session(flag: str, fired: str, *_details: str) -> str:
    """A session's number when the flag's rule fires at it, else NULL (a column of ``f``)."""
    return f"CASE WHEN coalesce({fired}, false) THEN session_no END AS {flag}__no"


def _rule_aggregates(flag: str, _fired: str, *details: str) -> str:
    """Aggregates of one flag over an episode's sessions: first and last session, count, details.

    The details are those of the last firing session (what holds now, or when it last held).
    Plain aggregates of the ``{flag}__no`` column, which is NULL where the rule did not fire
    (``arg_max`` skips such rows): a ``FILTER`` per aggregate cost DuckDB about twice as
    long (~15 ms of a team's flags at a million sessions, 35 aggregates).
    """
    session = f"{flag}__no"
    parts = [
        f"min({session}) AS {flag}__first",
        f"max({session}) AS {flag}__last",
        f"count({session}) AS {flag}__n",
    ]
    parts += [
        f"arg_max({expression}, {session}) AS {flag}__{name}"
        for (name, _type), expression in zip(_DETAILS, details, strict=True)
        if not _is_constant(expression)
    ]
    return ", ".join(parts)


def _rule_rows(flag: str, _fired: str, *details: str) -> str:
    """One flag's rows, from the per-episode aggregates, in the output's column order."""
    columns = [
        f"({expression})::{sql_type}" if _is_constant(expression) else f"{flag}__{name}"
        for (name, sql_type), expression in zip(_DETAILS, details, strict=True)
    ]
    value, threshold, ref, note = columns
    current = _NOW_SQL[NOW_AT[flag]].format(flag=flag)
    return (
        f"SELECT episode_id, client_id, '{flag}' AS flag, {flag}__first AS first_session, "
        f"{flag}__n AS sessions, {value} AS value, {threshold} AS threshold, {ref} AS ref, "
        f"{note} AS note, {flag}__last AS last_session, coalesce({current}, false) AS current "
        f"FROM agg WHERE {flag}__n > 0"
    )


# One pass: a narrow scan, one window for the values each session is compared with (first
# ORS, previous SRS), then ONE grouped aggregation per episode over each flag's firing sessions
# (``{flag}__no``, NULL where it did not fire), unpivoted
# into one row per fired flag. (Unnesting a list of per-session flag structs and grouping those
# took about twice as long at 1M sessions.)
_EPISODE_FLAGS_SQL = f"""
WITH s AS MATERIALIZED (
    SELECT episode_id, client_id, session_no, session_date,
           CAST(ors_total AS DOUBLE) AS ors, CAST(srs_total AS DOUBLE) AS srs,
           CAST(least(srs_relationship, srs_goals, srs_approach, srs_overall) AS DOUBLE)
               AS min_item,
           CASE WHEN least(srs_relationship, srs_goals, srs_approach, srs_overall)
                     < $item - $tol
                THEN concat_ws(', ', {_ITEM_NAME_SQL}) END AS item_note
    FROM sessions
    WHERE rater = 'client' AND session_date <= $as_of
      AND ($team IS NULL OR team_id = $team)
), w AS (
    SELECT *,
           first_value(ors IGNORE NULLS) OVER prior AS first_ors,
           first_value(CASE WHEN ors IS NOT NULL THEN session_no END IGNORE NULLS)
               OVER prior AS first_no,
           sum(srs) OVER prior AS srs_sum, count(srs) OVER prior AS srs_n
    FROM s
    WINDOW prior AS (PARTITION BY episode_id, client_id ORDER BY session_no
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), u AS (
    -- the client's usual SRS: the mean of the episode's earlier SRS totals, from $min_earlier on
    SELECT *, CASE WHEN srs_n >= $min_earlier THEN round(srs_sum / srs_n, 9) END AS usual_srs
    FROM w
), c AS (
    SELECT *,
           round(ors - first_ors, 9) AS change,
           round(usual_srs - srs, 9) AS fall,
           -- the intake of the expected trajectory is the ORS at session 1
           CASE WHEN session_no = 1 THEN ors WHEN first_no = 1 THEN first_ors END AS intake
    FROM u
), cell AS (
    SELECT *,
           CASE WHEN $use_model AND ors IS NOT NULL AND intake IS NOT NULL
                THEN least(greatest(floor(intake / $band_width), 0), $n_bands - 1)::INTEGER
                     * $max_session + least(session_no, $max_session)
           END AS cell
    FROM c
), d AS (
    SELECT *,
           CASE WHEN change IS NULL THEN 0
                WHEN (CASE WHEN $at_tie THEN abs(change) >= $rc - $tol
                           ELSE abs(change) > $rc + $tol END)
                THEN (CASE WHEN change > 0 THEN 1 ELSE -1 END)
                ELSE 0 END AS direction,
           CASE WHEN ($model_counts)[cell] >= $min_episodes
                THEN least(greatest(intake + ($lower_change)[cell], 0), 40) END AS lower
    FROM cell
), f AS (
    SELECT *,
           {", ".join(_firing_session(*rule) for rule in _SESSION_RULES_SQL)},
           CASE WHEN ors IS NOT NULL THEN session_no END AS ors_no,
           CASE WHEN srs IS NOT NULL THEN session_no END AS srs_no,
           CASE WHEN min_item IS NOT NULL THEN session_no END AS item_no,
           CASE WHEN lower IS NOT NULL THEN session_no END AS judged_no,
           CASE WHEN lower IS NOT NULL AND ors >= lower - $tol THEN session_no END AS on_line
    FROM d
), agg AS MATERIALIZED (
    SELECT episode_id, client_id,
           {", ".join(_rule_aggregates(*rule) for rule in _SESSION_RULES_SQL)},
           max(session_no) AS last_no, arg_max(session_date, session_no) AS last_date,
           count(srs) AS n_srs, bool_and(srs >= $srs_max - $tol) AS all_max,
           max(ors_no) AS last_ors_no, max(srs_no) AS last_srs_no, max(item_no) AS last_item_no,
           max(judged_no, $now_k) AS judged_top, max(on_line) AS on_line_no
    FROM f GROUP BY episode_id, client_id
), always AS (
    -- every SRS of the episode at the ceiling, and enough of them: fires at the $min40-th
    SELECT episode_id, client_id, 'srs_always_40' AS flag,
           list_sort(list(session_no))[$min40] AS first_session, 1 AS sessions,
           count(*)::DOUBLE AS value, $min40::DOUBLE AS threshold, NULL::DOUBLE AS ref,
           NULL::VARCHAR AS note, max(session_no) AS last_session, true AS current
    FROM s SEMI JOIN (SELECT episode_id, client_id FROM agg WHERE n_srs >= $min40 AND all_max)
        USING (episode_id, client_id)
    WHERE srs IS NOT NULL
    GROUP BY episode_id, client_id
), ongoing AS MATERIALIZED (
    SELECT a.episode_id, a.client_id, a.last_no, a.last_date, a.last_ors_no,
           list_max(a.judged_top) AS last_judged_no
    FROM agg a
    JOIN (SELECT episode_id, ended FROM episodes WHERE $team IS NULL OR team_id = $team) e
        USING (episode_id)
    WHERE e.ended IS NULL OR e.ended > $as_of
), not_seen AS (
    SELECT episode_id, client_id, 'not_seen' AS flag, last_no AS first_session,
           1 AS sessions, ($as_of - last_date)::DOUBLE AS value, $limit::DOUBLE AS threshold,
           NULL::DOUBLE AS ref, strftime(last_date, '%Y-%m-%d') AS note,
           last_no AS last_session, true AS current
    FROM ongoing
    WHERE $as_of - last_date > $limit
), not_judged AS (
    -- the last ORS has no expected line (too few comparable closed episodes in its cell)
    SELECT episode_id, client_id, 'not_judged' AS flag, last_ors_no AS first_session,
           1 AS sessions, NULL::DOUBLE AS value, NULL::DOUBLE AS threshold,
           NULL::DOUBLE AS ref, NULL::VARCHAR AS note, last_ors_no AS last_session,
           true AS current
    FROM ongoing
    WHERE $use_model AND last_ors_no IS NOT NULL
      AND (last_judged_no IS NULL OR last_judged_no < last_ors_no)
)
SELECT * FROM (
    {" UNION ALL ".join(_rule_rows(*rule) for rule in _SESSION_RULES_SQL)}
    UNION ALL SELECT * FROM always
    UNION ALL SELECT * FROM not_seen
    UNION ALL SELECT * FROM not_judged
)
ORDER BY episode_id, client_id, list_position($flags, flag)
"""


def _model_parameters(model: TrajectoryModel | None) -> dict[str, Any]:
    """The expected-trajectory grid as flat SQL list parameters (1-based cell numbers)."""
    if model is None:
        return {
            "use_model": False,
            "band_width": 1.0,
            "n_bands": 1,
            "max_session": 1,
            "min_episodes": 1,
            "lower_change": [None],
            "model_counts": [0],
        }
    _expected, lower, counts = model.expected_grid()
    flat = lower.ravel()
    return {
        "use_model": True,
        "band_width": float(model.band_width),
        "n_bands": int(model.n_bands),
        "max_session": int(model.max_session),
        "min_episodes": int(model.min_episodes),
        # NaN compares greater than every number in DuckDB: pass missing cells as NULL
        "lower_change": [None if np.isnan(v) else float(v) for v in flat],
        "model_counts": [int(v) for v in counts.ravel()],
    }


def episode_flag_counts(
    reader: Reader,
    *,
    team_id: str | None = None,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    lang: str | None = "en",
) -> pd.DataFrame:
    """The episode flags of a whole team (or every team), computed in DuckDB SQL.

    Gives the same rows as :func:`episode_flags` on the same sessions and episodes (with
    ``lower_expected`` from :meth:`fitdata.analytics.trajectory.TrajectoryModel.expected_lines` when
    a ``model`` is given). Without a model there is no ``not_on_track``. Thresholds are passed
    as query parameters from ``config``; ties use the config's tolerance.

    Args:
        reader: A reader of the database (:func:`fitdata.data.store.reader_for`).
        team_id: Only sessions of this team (``sessions.team_id``; an episode belongs to one
            team, which ``fitdata check`` verifies); None for every team.
        as_of: The reference date, as for :func:`episode_flags`.
        config: The thresholds to apply.
        model: An expected-trajectory model; with it, sessions below the lower expected line
            raise ``not_on_track`` (where the model has enough episodes behind the cell).
        lang: As for :func:`session_flags`. A whole service has millions of flag rows; pass
            None and describe only the rows a page shows with :func:`describe_flags`.

    Returns:
        A frame with :data:`EPISODE_COLUMNS` (``last_session`` and ``current`` included; with a
        model, ``not_judged`` for ongoing episodes whose last ORS no cell can judge), ordered
        by episode, client and flag.
    """
    params = {
        "as_of": as_of,
        "team": team_id,
        "tol": TIE_TOLERANCE,
        "rc": config.ors_reliable_change,
        "at_tie": config.change_at_threshold_is_reliable,
        "stagnation": config.stagnation_sessions,
        "srs_cutoff": config.srs_cutoff,
        "drop": config.srs_drop,
        "min_earlier": config.srs_drop_min_earlier,
        "item": config.srs_item_concern,
        "min40": config.srs_always_max_min_sessions,
        "srs_max": SRS_MAX,
        "limit": 7 * config.not_seen_weeks,
        "flags": list(FLAGS),
        "now_k": config.not_on_track_sessions_now,
        **_model_parameters(model),
    }
    raw = reader.df(_EPISODE_FLAGS_SQL, params)
    for column in ("value", "threshold", "ref"):
        raw[column] = raw[column].astype("float64")
    raw["note"] = raw["note"].astype(object).where(raw["note"].notna(), None)
    raw["first_session"] = raw["first_session"].astype("int64")
    raw["sessions"] = raw["sessions"].astype("int64")
    raw["last_session"] = raw["last_session"].astype("int64")
    raw["current"] = raw["current"].astype(bool)
    raw["rule"] = describe_flags(raw, config=config, as_of=as_of, lang=lang) if lang else None
    return raw[list(EPISODE_COLUMNS)]
