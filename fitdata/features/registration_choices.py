"""What the registration page offers its user: the teams, therapists and clients they may write.

A therapist registers for her own clients, a supervisor for the teams she supervises, an
administrator (or anyone, while the database has no users) for every team; a leader for none.
:func:`fitdata.data.access.require_write` refuses anything else when it is written; offering
only these means nobody picks a colleague's client and is refused at Save. Re-exported by
:mod:`fitdata.features.registration`.
"""

from __future__ import annotations

import pandas as pd

from fitdata.data import store
from fitdata.data.access import User, find_user, record_access, require_client_rows, user_name
from fitdata.data.queries import natural_key

__all__ = ["client_choices", "team_choices", "therapist_choices"]


def _registering_user(reader: store.Reader) -> User | None:
    """The user a scoped page registers as; None when anyone may (no users, or an admin)."""
    name = user_name(reader)
    user = find_user(reader.path, name) if name else None
    return None if user is None or user.role == "admin" else user


def _by_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("name", key=lambda s: s.map(natural_key)).reset_index(drop=True)


def team_choices(reader: store.Reader) -> pd.DataFrame:
    """The teams the reader's user may register in (``team_id``, ``name``), sorted by name.

    Every team without access control and for an admin (a new team can register); a
    supervisor's own teams; a therapist's team and the teams of her ongoing episodes (she may
    have moved since). :func:`fitdata.data.access.require_write` refuses anything else at the
    write; the page offers only these, so nobody picks a colleague and is refused at Save.

    Raises:
        AccessDenied: For a leader (aggregates only: a leader registers nothing).
    """
    require_client_rows(reader, "client_list")
    frame = reader.df("SELECT team_id, name FROM teams")
    user = _registering_user(reader)
    if user is not None and user.role == "supervisor":
        frame = frame[frame["team_id"].isin(user.team_ids)]
    elif user is not None:
        own = reader.rows(
            "SELECT team_id FROM therapists WHERE therapist_id = $me UNION "
            "SELECT team_id FROM episodes WHERE therapist_id = $me AND ended IS NULL",
            {"me": user.therapist_id},
        )
        frame = frame[frame["team_id"].isin({team for (team,) in own})]
    return _by_name(frame)


def therapist_choices(reader: store.Reader, team_id: str) -> pd.DataFrame:
    """Therapists now in the team, and those with an ongoing episode in it (moved since).

    Only those the reader's user may register for: a therapist herself, a supervisor the
    therapists of her teams (see :func:`team_choices`). Columns ``therapist_id``, ``name``,
    naturally sorted by name.

    Raises:
        AccessDenied: For a leader.
    """
    require_client_rows(reader, "client_list")
    frame = reader.df(
        """
        SELECT therapist_id, name FROM therapists WHERE team_id = $team
        UNION
        SELECT DISTINCT th.therapist_id, th.name
        FROM episodes e JOIN therapists th USING (therapist_id)
        WHERE e.team_id = $team AND e.ended IS NULL
        """,
        {"team": team_id},
    )
    user = _registering_user(reader)
    if user is not None and user.role == "supervisor" and team_id not in user.team_ids:
        frame = frame.iloc[0:0]
    elif user is not None and user.role != "supervisor":
        frame = frame[frame["therapist_id"] == user.therapist_id]
    return _by_name(frame)


def client_choices(reader: store.Reader, team_id: str, therapist_id: str) -> pd.DataFrame:
    """One row per client and episode with this therapist in this team.

    Columns: ``client_id``, ``episode_id``, ``started``, ``ended``, ``end_type``, ``sessions``
    (the client's own ratings), ``last_date``. A client who takes part in an episode without
    a session yet (a partner just added, :func:`fitdata.features.registration.
    add_participant`) is offered too, with 0 sessions. Ongoing episodes first, then by client
    code (natural order), newest episode first.
    """
    require_client_rows(reader, "client_list")  # a leader sees aggregates only
    # One scan of the sessions; the participants without a session of their own yet (a
    # partner just added) come from the small participants table, and a participant who has
    # sessions keeps that row (measured at 200k sessions: a CTE scanned the sessions twice).
    frame = reader.df(
        """
        SELECT s.client_id, s.episode_id, e.started, e.ended, e.end_type,
               count(*) AS sessions, max(s.session_date) AS last_date
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE s.team_id = $team AND s.therapist_id = $therapist AND s.rater = 'client'
        GROUP BY ALL
        UNION ALL
        SELECT p.client_id, p.episode_id, e.started, e.ended, e.end_type,
               0 AS sessions, CAST(NULL AS DATE) AS last_date
        FROM episode_participants p JOIN episodes e USING (episode_id)
        WHERE e.team_id = $team AND e.therapist_id = $therapist AND p.rater = 'client'
          AND p.role <> 'index'
        """,
        {"team": team_id, "therapist": therapist_id},
    )
    frame = frame.sort_values("sessions", ascending=False, kind="stable")
    frame = frame.drop_duplicates(["client_id", "episode_id"])
    frame = frame.sort_values("started", ascending=False)
    frame = frame.sort_values("client_id", key=lambda s: s.map(natural_key), kind="stable")
    frame = frame.sort_values("ended", key=lambda s: s.notna(), kind="stable")
    record_access(reader, "client_list", "", team_id=team_id, clients=frame["client_id"])
    return frame.reset_index(drop=True)
