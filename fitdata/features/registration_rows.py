"""Registration's rows: an episode's saved sessions read, one session row written with its forms.

Shared by the one-client writes (:mod:`fitdata.features.registration`) and the writes for a
couple's or family's session (:mod:`fitdata.features.registration_episode`), which both run
inside a group commit (:mod:`fitdata.data.group_commit`) on the batch's connection, and by the
page's reads through a :class:`~fitdata.data.store.Reader` (audited).

Every session row written here records its forms (``ors_form``/``srs_form``: the CORS/CSRS for
a child, the GSRS in a group, else ORS/SRS, by :func:`fitdata.vocabulary.default_forms`; NULL
exactly when that form's total is) and ``entered_by = 'therapist'``, and the
``episode_participants`` row its (episode, client, rater) needs, in the same transaction
(:func:`fitdata.data.participants.ensure_participants`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fitdata.data import store
from fitdata.data.access import record_access
from fitdata.data.participants import ensure_participants
from fitdata.features.registration_rules import (
    EpisodeState,
    NewClient,
    Scores,
    SessionRow,
    score_columns,
)
from fitdata.vocabulary import SCORE_COLUMNS, default_forms, participant_role

__all__ = [
    "ROW_SQL",
    "episode_forms",
    "find_client",
    "insert_session",
    "load_episode_state",
    "next_id",
    "participant_row_role",
    "record_change",
    "rows",
    "score_values",
    "session_row",
    "update_session",
]

#: The columns of a saved session as :func:`session_row` reads them.
ROW_SQL = "session_id, session_no, session_date, " + ", ".join(SCORE_COLUMNS)


def rows(source: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Rows from a :class:`~fitdata.data.store.Reader` or a write transaction's connection."""
    if isinstance(source, store.Reader):
        return source.rows(sql, params)
    return source.execute(sql, list(params)).fetchall()


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def score_values(values: Sequence[object]) -> Scores | None:
    """Scores from four item columns and a total column (None when the form was not given)."""
    *items, total = (_float(v) for v in values)
    if total is None:
        return None
    if all(i is None for i in items):
        return Scores.from_total(total)
    return Scores.from_items(*items)


def session_row(row: Sequence[object]) -> SessionRow:
    """A saved session from a row of :data:`ROW_SQL`'s columns."""
    session_id, session_no, session_date, *scores = row
    return SessionRow(
        int(session_id),  # type: ignore[call-overload]
        int(session_no),  # type: ignore[call-overload]
        session_date,  # type: ignore[arg-type]
        score_values(scores[0:5]),
        score_values(scores[5:10]),
    )


def load_episode_state(
    source: Any, episode_id: str, client_id: str, *, rater: str = "client"
) -> EpisodeState | None:
    """The episode and ``client_id``'s saved sessions in it (None if no such episode).

    Args:
        source: A :class:`~fitdata.data.store.Reader`, or the connection of a write transaction.
        episode_id: The episode.
        client_id: Whose sessions (in a couple episode each partner has their own).
        rater: Whose ratings of the client: the client's own (default), or a collateral
            rater's (``parent``, ``teacher``, ...), numbered on their own.
    """
    found = rows(
        source,
        "SELECT episode_id, therapist_id, team_id, started, ended, end_type, format "
        "FROM episodes WHERE episode_id = ?",
        [episode_id],
    )
    if not found:
        return None
    episode, therapist, team, started, ended, end_type, format_ = found[0]
    if isinstance(source, store.Reader):  # a page's read (not a write's check): audited
        record_access(source, "episode_state", client_id, episode)
    sessions = rows(
        source,
        # the team lets DuckDB skip other teams' row groups (see store.SESSION_ORDER)
        f"SELECT {ROW_SQL} FROM sessions WHERE team_id = ? AND client_id = ? "
        "AND episode_id = ? AND rater = ? ORDER BY session_no",
        [team, client_id, episode_id, rater],
    )
    return EpisodeState(
        episode,
        client_id,
        therapist,
        team,
        started,
        ended,
        end_type,
        tuple(session_row(r) for r in sessions),
        format_ or "individual",
        rater,
    )


def find_client(source: Any, client_id: str) -> NewClient | None:
    """The saved client with this code (its age group and birth year), or None."""
    found = rows(
        source,
        "SELECT client_id, age_group, birth_year FROM clients WHERE client_id = ?",
        [client_id.strip()],
    )
    if not found:
        return None
    code, age_group, birth_year = found[0]
    if isinstance(source, store.Reader):  # a page's read (not a write's check): audited
        record_access(source, "client_profile", code)
    return NewClient(code, age_group, None if birth_year is None else int(birth_year))


def next_id(con: Any, table: str, column: str) -> int:
    """The id after the highest of ``table.column`` (1 in an empty table)."""
    return int(rows(con, f"SELECT coalesce(max({column}), 0) + 1 FROM {table}", [])[0][0])


def episode_forms(con: Any, episode_id: str, client_id: str) -> tuple[str, str]:
    """The (outcome, alliance) forms of ``client_id``'s sessions in this episode (their age)."""
    found = rows(
        con,
        "SELECT c.age_group, e.format FROM episodes e, clients c "
        "WHERE e.episode_id = ? AND c.client_id = ?",
        [episode_id, client_id],
    )
    age_group, format_ = found[0] if found else ("adult", "individual")
    return default_forms(age_group, format_)


def participant_row_role(con: Any, episode_id: str, client_id: str, rater: str) -> str:
    """The role of ``client_id`` (rated by ``rater``) in the episode: stored, or by its format."""
    stored = rows(
        con,
        "SELECT role FROM episode_participants WHERE episode_id = ? AND client_id = ? "
        "AND rater = ?",
        [episode_id, client_id, rater],
    )
    if stored:
        return str(stored[0][0])
    index, format_ = rows(
        con, "SELECT client_id, format FROM episodes WHERE episode_id = ?", [episode_id]
    )[0]
    if rater == "client" and client_id == index:
        return "index"
    return participant_role(format_, rater)


def insert_session(
    con: Any,
    *,
    episode_id: str,
    client_id: str,
    therapist_id: str,
    team_id: str,
    session_date: dt.date,
    session_no: int,
    ors: Scores | None,
    srs: Scores | None,
    rater: str = "client",
    role: str | None = None,
    added_on: dt.date | None = None,
) -> int:
    """Insert one session row with its forms, and its participant row when it is missing.

    Args:
        con: The write transaction's connection.
        episode_id: The episode.
        client_id: The client (rated by ``rater``).
        therapist_id: The episode's therapist.
        team_id: The episode's team.
        session_date: The session's date.
        session_no: Its number among this client's (and rater's) sessions in the episode.
        ors: The ORS (None: not given).
        srs: The SRS (None: not given).
        rater: Whose rating: ``client`` (their own) or a collateral rater's.
        role: The participant's role (default: stored, or by the episode's format).
        added_on: When a participant new to the episode joined (their first session).

    Returns:
        The new session's id.
    """
    session_id = next_id(con, "sessions", "session_id")
    ors_form, srs_form = episode_forms(con, episode_id, client_id)
    row = {
        "session_id": session_id,
        "episode_id": episode_id,
        "client_id": client_id,
        "therapist_id": therapist_id,
        "team_id": team_id,
        "session_date": session_date,
        "session_no": session_no,
        "rater": rater,
        **score_columns(ors, srs),
        "ors_form": ors_form if ors is not None else None,
        "srs_form": srs_form if srs is not None else None,
        "entered_by": "therapist",
    }
    con.execute(
        f"INSERT INTO sessions ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )
    who = role or participant_row_role(con, episode_id, client_id, rater)
    ensure_participants(
        con,
        [
            {
                "episode_id": episode_id,
                "client_id": client_id,
                "role": who,
                "rater": rater,
                "added_on": added_on,
            }
        ],
    )
    return session_id


def record_change(
    con: Any,
    episode: EpisodeState,
    before: SessionRow,
    change_type: str,
    actor: str,
    reason: str | None,
    now: dt.datetime,
) -> None:
    """Keep a saved session's values from before a change in ``session_changes``."""
    old = {f"old_{k}": v for k, v in score_columns(before.ors, before.srs).items()}
    row = {
        "change_id": next_id(con, "session_changes", "change_id"),
        "session_id": before.session_id,
        "episode_id": episode.episode_id,
        "client_id": episode.client_id,
        "session_no": before.session_no,
        "change_type": change_type,
        "changed_at": now,
        "changed_by": actor,
        "reason": reason,
        "old_session_date": before.session_date,
        **old,
    }
    con.execute(
        f"INSERT INTO session_changes ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


def update_session(
    con: Any,
    episode: EpisodeState,
    session_id: int,
    day: dt.date,
    ors: Scores | None,
    srs: Scores | None,
) -> None:
    """Replace a saved session's date and scores; a form given keeps its recorded name.

    A form that was not recorded before (the SRS added after the session) gets the episode's
    form for the client; a form removed has none (NULL, as its total).
    """
    ors_form, srs_form = episode_forms(con, episode.episode_id, episode.client_id)
    values = {"session_date": day, **score_columns(ors, srs)}
    assignments = ", ".join(f"{name} = ?" for name in values)
    con.execute(
        f"UPDATE sessions SET {assignments}, "
        "ors_form = CASE WHEN ? THEN coalesce(ors_form, ?) END, "
        "srs_form = CASE WHEN ? THEN coalesce(srs_form, ?) END "
        "WHERE session_id = ?",
        [*values.values(), ors is not None, ors_form, srs is not None, srs_form, session_id],
    )
