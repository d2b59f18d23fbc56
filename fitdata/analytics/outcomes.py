"""Client-episode outcomes from the sessions table: one SQL query, and its PCOMS categories.

Every outcome statistic starts from the same unit, the *client-episode* (the client's own
ratings, ``rater = 'client'``; a couple or family episode gives one row per participating
client). :func:`episode_outcomes` aggregates the ``sessions`` table in DuckDB to one row per
client-episode: first and last ORS (by ``session_no``), first SRS, session counts and dates,
joined to the client's age group and the episode's team, service, therapist, format and
ending. Filters are SQL parameters, pushed down to the session scan.

:func:`category_query` wraps the same query with the PCOMS categories of
:func:`fitdata.analytics.change.pcoms_change` computed in SQL (the same boundaries, from
:func:`fitdata.analytics.change.pcoms_boundaries`), for callers that aggregate a whole
service in DuckDB instead of bringing every client-episode into pandas.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from fitdata.analytics.change import pcoms_boundaries
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader

__all__ = ["OUTCOME_COLUMNS", "category_query", "episode_outcomes"]

#: Columns of :func:`episode_outcomes`, in order.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "client_id",
    "age_group",
    "team_id",
    "service",
    "therapist_id",
    "format",
    "end_type",
    "started",
    "ended",
    "n_sessions",
    "n_with_ors",
    "n_with_srs",
    "first_ors",
    "last_ors",
    "first_srs",
    "first_session",
    "last_session",
)

_DATE_FIELDS = ("ended", "started")

_OUTCOMES_BODY = """
WITH s AS (
    SELECT
        episode_id,
        client_id,
        count(*) AS n_sessions,
        count(ors_total) AS n_with_ors,
        count(srs_total) AS n_with_srs,
        arg_min(ors_total::DOUBLE, session_no) FILTER (WHERE ors_total IS NOT NULL)
            AS first_ors,
        arg_max(ors_total::DOUBLE, session_no) FILTER (WHERE ors_total IS NOT NULL)
            AS last_ors,
        arg_min(srs_total::DOUBLE, session_no) FILTER (WHERE srs_total IS NOT NULL)
            AS first_srs,
        min(session_date) AS first_session,
        max(session_date) AS last_session
    FROM sessions
    WHERE rater = 'client' {session_filter}
    GROUP BY episode_id, client_id
)
SELECT
    e.episode_id,
    coalesce(s.client_id, e.client_id) AS client_id,
    c.age_group,
    e.team_id,
    t.service,
    e.therapist_id,
    e.format,
    e.end_type,
    e.started,
    e.ended,
    coalesce(s.n_sessions, 0) AS n_sessions,
    coalesce(s.n_with_ors, 0) AS n_with_ors,
    coalesce(s.n_with_srs, 0) AS n_with_srs,
    s.first_ors,
    s.last_ors,
    s.first_srs,
    s.first_session,
    s.last_session
FROM episodes AS e
LEFT JOIN s ON s.episode_id = e.episode_id
JOIN clients AS c ON c.client_id = coalesce(s.client_id, e.client_id)
LEFT JOIN teams AS t ON t.team_id = e.team_id
{where}
"""


def _values(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [value]
    values = [str(v) for v in value]
    if not values:
        raise ValueError("a filter given as a list must name at least one value")
    return values


def _in_list(column: str, value: str | Sequence[str], params: list[Any]) -> str:
    """``column IN (?, ...)`` for a filter value or list; its values are added to ``params``."""
    values = _values(value)
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _ in values)})"


def _period_conditions(
    prefix: str,
    start: dt.date | None,
    end: dt.date | None,
    date_field: str,
    closed_only: bool,
    params: list[Any],
) -> list[str]:
    """The episode period and closed-only conditions (``prefix`` names the episodes table)."""
    conditions = []
    if start is not None:
        conditions.append(f"{prefix}{date_field} >= ?")
        params.append(start)
    if end is not None:
        conditions.append(f"{prefix}{date_field} <= ?")
        params.append(end)
    if closed_only:
        conditions.append(f"{prefix}ended IS NOT NULL")
    return conditions


@dataclass(frozen=True)
class _Filters:
    """The filters of :func:`episode_outcomes` (see there), as one value."""

    service: str | Sequence[str] | None
    team_id: str | Sequence[str] | None
    therapist_id: str | Sequence[str] | None
    age_group: str | Sequence[str] | None
    format: str | Sequence[str] | None
    start: dt.date | None
    end: dt.date | None
    date_field: str
    closed_only: bool


def _session_filter(f: _Filters) -> tuple[str, list[Any]]:
    """SQL (``AND ...``) and parameters restricting the sessions scan to the filtered episodes."""
    sql: list[str] = []
    params: list[Any] = []
    if f.team_id is not None:
        sql.append(_in_list("team_id", f.team_id, params))
    if f.service is not None:
        sql.append(
            "team_id IN (SELECT team_id FROM teams WHERE "
            + _in_list("service", f.service, params)
            + ")"
        )
    episode_conditions = [
        _in_list(column, value, params)
        for column, value in (("therapist_id", f.therapist_id), ("format", f.format))
        if value is not None
    ]
    episode_conditions += _period_conditions(
        "", f.start, f.end, f.date_field, f.closed_only, params
    )
    if episode_conditions:
        sql.append(
            "episode_id IN (SELECT episode_id FROM episodes WHERE "
            + " AND ".join(episode_conditions)
            + ")"
        )
    return "".join(f" AND {part}" for part in sql), params


def _outcomes_query(f: _Filters) -> tuple[str, list[Any]]:
    """The filtered client-episode query (without ORDER BY) and its parameters."""
    if f.date_field not in _DATE_FIELDS:
        raise ValueError(f"date_field must be 'ended' or 'started', not {f.date_field!r}")
    params: list[Any] = []
    conditions = [
        _in_list(column, value, params)
        for column, value in (
            ("t.service", f.service),
            ("e.team_id", f.team_id),
            ("e.therapist_id", f.therapist_id),
            ("c.age_group", f.age_group),
            ("e.format", f.format),
        )
        if value is not None
    ]
    conditions += _period_conditions("e.", f.start, f.end, f.date_field, f.closed_only, params)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # Push the filters down to the sessions scan, so one team does not aggregate every
    # session of the service: by team (sessions carry their episode's team, which `fitdata
    # check` verifies) and, for episode-level filters, by the matching episodes. The age group
    # is the session's client's (a partner's own), so it stays after the aggregate.
    session_filter, session_params = _session_filter(f)
    sql = _OUTCOMES_BODY.format(where=where, session_filter=session_filter)
    return sql, [*session_params, *params]


def episode_outcomes(
    reader: Reader,
    *,
    service: str | Sequence[str] | None = None,
    team_id: str | Sequence[str] | None = None,
    therapist_id: str | Sequence[str] | None = None,
    age_group: str | Sequence[str] | None = None,
    format: str | Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    date_field: Literal["ended", "started"] = "ended",
    closed_only: bool = False,
) -> pd.DataFrame:
    """One row per client-episode with first/last ORS, first SRS, counts and dates.

    Computed in DuckDB (one ``GROUP BY`` over the client's own session rows with
    ``arg_min``/``arg_max`` by ``session_no``), joined to ``clients``, ``episodes`` and
    ``teams``. An episode without any client-rated session still gives one row (its index
    client, ``n_sessions`` 0). Each filter is a value or a list of values (any of them) and is
    passed to SQL as a parameter.

    The period filter keeps episodes whose ``date_field`` lies within ``start`` to ``end``
    (both inclusive, either may be omitted). By default that is the **ending** date, so a period
    filter keeps closed episodes only (ongoing episodes have no end date); pass
    ``date_field="started"`` to select episodes by their start instead.

    Args:
        reader: The database, e.g. ``fitdata.data.store.reader_for(path)``.
        service: The service(s) of the episode's team.
        team_id: The team(s) of the episode (the team at the time, not the therapist's
            current team).
        therapist_id: The therapist(s) of the episode.
        age_group: The client's age group(s): child, adolescent, adult.
        format: The episode format(s): individual, couple, family, group.
        start: First day of the period (inclusive).
        end: Last day of the period (inclusive).
        date_field: Which episode date the period applies to, ``"ended"`` or ``"started"``.
        closed_only: Keep closed episodes only (``ended`` not NULL).

    Returns:
        The columns of :data:`OUTCOME_COLUMNS`: ``first_ors``/``last_ors`` are the ORS totals
        of the lowest and highest ``session_no`` with an ORS (equal when there is one),
        ``first_srs`` the first SRS total given, ``n_sessions``/``n_with_ors``/``n_with_srs``
        count the client's session rows and those with an ORS and an SRS total.

    Raises:
        ValueError: If ``date_field`` is unknown or a list filter is empty.
    """
    sql, params = _outcomes_query(
        _Filters(
            service, team_id, therapist_id, age_group, format, start, end, date_field, closed_only
        )
    )
    frame = reader.df(sql + "ORDER BY e.episode_id, client_id\n", params)
    for column in ("n_sessions", "n_with_ors", "n_with_srs"):
        frame[column] = frame[column].astype("int64")
    return frame[list(OUTCOME_COLUMNS)]


# --------------------------------------------------------------------------------------------
# The PCOMS categories in SQL
# --------------------------------------------------------------------------------------------

# The PCOMS categories of fitdata.analytics.change.pcoms_change, in SQL: strict comparisons against
# the same boundaries (pcoms_boundaries: half a recording step to the side the tie rules ask
# for), with differences below 5e-10 treated as ties (round(.., 9), as pcoms_change rounds).
_CATEGORY_CTES = """
x AS (
    SELECT *,
           n_with_ors >= 2 AS has_change,
           CASE WHEN n_with_ors >= 2 THEN first_ors END AS pre,
           CASE WHEN n_with_ors >= 2 THEN last_ors END AS post,
           CASE age_group WHEN 'child' THEN $boundary_child
                WHEN 'adolescent' THEN $boundary_adolescent ELSE $boundary_adult END AS boundary
    FROM o
),
y AS (
    SELECT *,
           post - pre AS change,
           round(pre - boundary, 9) < 0 AS clinical_pre,
           round(post - boundary, 9) > 0 AS functional_post,
           round((post - pre) - $rc_boundary, 9) > 0 AS improvement,
           round(-(post - pre) - $rc_boundary, 9) > 0 AS worsening
    FROM x
),
z AS (
    SELECT *,
           CASE WHEN NOT has_change THEN NULL
                WHEN clinical_pre AND functional_post AND improvement THEN 'recovered'
                WHEN improvement THEN 'improved'
                WHEN worsening AND NOT (NOT clinical_pre AND NOT functional_post)
                    THEN 'deteriorated'
                WHEN worsening THEN 'harmed'
                ELSE 'unchanged' END AS category
    FROM y
)
"""


def category_query(
    select: str, *, config: ClinicalConfig = DEFAULT_CONFIG, **filters: Any
) -> tuple[str, dict[str, Any]]:
    """A query over the client-episodes of :func:`episode_outcomes` with their PCOMS categories.

    The client-episodes are available to ``select`` as the relation ``z``: the columns of
    :data:`OUTCOME_COLUMNS` plus ``has_change`` (at least two ORS), ``pre``/``post``/``change``
    (NULL without a change), ``clinical_pre``, ``functional_post``, ``improvement``,
    ``worsening`` and ``category`` (recovered, improved, unchanged, deteriorated, harmed; NULL
    without a change), classified as :func:`fitdata.analytics.change.pcoms_change` classifies
    them, with the config's cutoffs and tie rules.

    Args:
        select: The statement that reads ``z``, e.g. ``"SELECT category, count(*) FROM z
            GROUP BY ALL"``. Its own parameters must be named (``$name``), not ``?``.
        config: Cutoffs, reliable change and tie rules.
        **filters: Filters of :func:`episode_outcomes` by name (``service``, ``team_id``,
            ``therapist_id``, ``age_group``, ``format``, ``start``, ``end``, ``date_field``,
            ``closed_only``), with the same meaning.

    Returns:
        The SQL and its named parameters, for ``reader.df(sql, params)``.

    Raises:
        TypeError: If a filter is not one of :func:`episode_outcomes`'.
        ValueError: As :func:`episode_outcomes` raises for the filters.
    """
    try:  # episode_outcomes' own signature names the filters and their defaults
        given = inspect.signature(episode_outcomes).bind(None, **filters)
    except TypeError as error:
        raise TypeError(f"category_query: {error}; its filters are episode_outcomes'") from None
    given.apply_defaults()
    given.arguments.pop("reader")
    outcomes, params = _outcomes_query(_Filters(**given.arguments))
    sql = f"WITH o AS ({outcomes}),\n{_CATEGORY_CTES}\n{select}"
    named: dict[str, Any] = {f"p{i}": value for i, value in enumerate(params)}
    for i in range(len(params)):
        sql = sql.replace("?", f"$p{i}", 1)
    boundaries, reliable = pcoms_boundaries(config)
    named.update({f"boundary_{group}": value for group, value in boundaries.items()})
    named["rc_boundary"] = reliable
    return sql, named
