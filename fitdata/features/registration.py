"""Direct registration: one session's ORS and SRS, corrections with a history, ending an episode.

The therapist records the ORS at the start of a session and the SRS at its end, so a session
may be saved with the ORS only and get its SRS later (:func:`add_srs`). What may be saved is
decided by the pure rules of :mod:`fitdata.features.registration_rules` (re-exported here), which
the dashboard shows next to the field as the person types; the write functions here apply the
same rules again inside the transaction, against the data as they are at that moment (another
person may have saved in between).

Every write goes through :func:`fitdata.data.group_commit.commit`: saves that arrive together
(sessions end on the hour) are applied in one copy of the latest file, each in its own
transaction, and swapped in atomically, so people saving at once all land, no dashboard sees a
lock error, and a refused save changes nothing and gets its own error. The changes themselves
(``_save_session`` and the others) run in whichever writer leads the batch, so they take
everything they need -- "today", "now", the actor -- as arguments.

The choices the page offers (:func:`team_choices`, :func:`therapist_choices`,
:func:`client_choices`, from :mod:`fitdata.features.registration_choices`) are those the page's
user may register for: a therapist her own clients, a supervisor her teams'.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

from fitdata.data import group_commit, store
from fitdata.data.access import record_access
from fitdata.features.registration_choices import client_choices, team_choices, therapist_choices
from fitdata.features.registration_rules import (
    CLIENT_CODE,
    ITEM_MAX,
    MIN_REASON_LENGTH,
    TOTAL_MAX,
    Correction,
    EpisodeState,
    HistoryEntry,
    NewClient,
    Problem,
    Registration,
    RegistrationError,
    SavedSession,
    Scores,
    SessionRow,
    problem_text,
    score_columns,
    validate_correction,
    validate_end,
    validate_new_client,
    validate_registration,
    validate_scores,
)
from fitdata.vocabulary import SCORE_COLUMNS

# The façade of registration: it names the rules' values and checks again (the list repeats
# registration_rules.__all__ on purpose), so the page, the workers and the tests keep one import.
__all__ = [
    "CLIENT_CODE",
    "ITEM_MAX",
    "MIN_REASON_LENGTH",
    "TOTAL_MAX",
    "Correction",
    "EpisodeState",
    "HistoryEntry",
    "NewClient",
    "Problem",
    "Registration",
    "RegistrationError",
    "SavedSession",
    "Scores",
    "SessionRow",
    "add_srs",
    "client_choices",
    "correct_session",
    "end_episode",
    "find_client",
    "load_episode_state",
    "problem_text",
    "save_session",
    "session_history",
    "team_choices",
    "therapist_choices",
    "validate_correction",
    "validate_end",
    "validate_new_client",
    "validate_registration",
    "validate_scores",
]


# -- reading -----------------------------------------------------------------------------------
def _rows(source: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Rows from a :class:`~fitdata.data.store.Reader` or a write transaction's connection."""
    if isinstance(source, store.Reader):
        return source.rows(sql, params)
    return source.execute(sql, list(params)).fetchall()


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _scores(values: Sequence[object]) -> Scores | None:
    """Scores from four item columns and a total column (None when the form was not given)."""
    *items, total = (_float(v) for v in values)
    if total is None:
        return None
    if all(i is None for i in items):
        return Scores.from_total(total)
    return Scores.from_items(*items)


def _session_row(row: Sequence[object]) -> SessionRow:
    session_id, session_no, session_date, *scores = row
    return SessionRow(
        int(session_id),  # type: ignore[call-overload]
        int(session_no),  # type: ignore[call-overload]
        session_date,  # type: ignore[arg-type]
        _scores(scores[0:5]),
        _scores(scores[5:10]),
    )


_ROW_SQL = "session_id, session_no, session_date, " + ", ".join(SCORE_COLUMNS)


def load_episode_state(source: Any, episode_id: str, client_id: str) -> EpisodeState | None:
    """The episode and ``client_id``'s own saved sessions in it (None if no such episode).

    Args:
        source: A :class:`~fitdata.data.store.Reader`, or the connection of a write transaction.
        episode_id: The episode.
        client_id: Whose sessions (in a couple episode each partner has their own).
    """
    found = _rows(
        source,
        "SELECT episode_id, therapist_id, team_id, started, ended, end_type "
        "FROM episodes WHERE episode_id = ?",
        [episode_id],
    )
    if not found:
        return None
    episode, therapist, team, started, ended, end_type = found[0]
    if isinstance(source, store.Reader):  # a page's read (not a write's check): audited
        record_access(source, "episode_state", client_id, episode)
    sessions = _rows(
        source,
        # the team lets DuckDB skip other teams' row groups (see store.SESSION_ORDER)
        f"SELECT {_ROW_SQL} FROM sessions WHERE team_id = ? AND client_id = ? "
        "AND episode_id = ? AND rater = 'client' ORDER BY session_no",
        [team, client_id, episode_id],
    )
    return EpisodeState(
        episode,
        client_id,
        therapist,
        team,
        started,
        ended,
        end_type,
        tuple(_session_row(r) for r in sessions),
    )


def find_client(source: Any, client_id: str) -> NewClient | None:
    """The saved client with this code (its age group and birth year), or None."""
    rows = _rows(
        source,
        "SELECT client_id, age_group, birth_year FROM clients WHERE client_id = ?",
        [client_id.strip()],
    )
    if not rows:
        return None
    code, age_group, birth_year = rows[0]
    if isinstance(source, store.Reader):  # a page's read (not a write's check): audited
        record_access(source, "client_profile", code)
    return NewClient(code, age_group, None if birth_year is None else int(birth_year))


def session_history(source: Any, session_id: int) -> list[HistoryEntry]:
    """Every change of a saved session, oldest first, with the values before and after."""
    old_columns = ", ".join(f"old_{c}" for c in SCORE_COLUMNS)
    changes = _rows(
        source,
        "SELECT change_id, change_type, changed_at, changed_by, reason, session_no, "
        f"old_session_date, {old_columns}, client_id, episode_id FROM session_changes "
        "WHERE session_id = ? "
        "ORDER BY change_id",
        [session_id],
    )
    if not changes:
        return []
    if isinstance(source, store.Reader):  # a page's read of scores before and after: audited
        record_access(source, "session_history", str(changes[0][17]), str(changes[0][18]))
    current = _rows(source, f"SELECT {_ROW_SQL} FROM sessions WHERE session_id = ?", [session_id])
    befores = [
        SessionRow(session_id, int(c[5]), c[6], _scores(c[7:12]), _scores(c[12:17]))
        for c in changes
    ]
    afters = befores[1:] + ([_session_row(current[0])] if current else befores[-1:])
    return [
        HistoryEntry(int(c[0]), c[1], c[2], c[3], c[4], before, after)
        for c, before, after in zip(changes, befores, afters, strict=True)
    ]


# -- writing -----------------------------------------------------------------------------------
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _next_id(con: Any, table: str, column: str) -> int:
    return int(_rows(con, f"SELECT coalesce(max({column}), 0) + 1 FROM {table}", [])[0][0])


def _new_episode_id(con: Any) -> str:
    """``E`` + the next number after the highest ``E<digits>`` id (7 digits, like the demo)."""
    rows = _rows(
        con,
        "SELECT max(CAST(substr(episode_id, 2) AS BIGINT)), max(length(episode_id)) - 1 "
        "FROM episodes WHERE regexp_full_match(episode_id, 'E[0-9]{1,18}')",
        [],
    )
    highest, width = rows[0]
    return f"E{(highest or 0) + 1:0{max(7, width or 0)}d}"


def _exists(con: Any, sql: str, value: str) -> bool:
    return bool(_rows(con, sql, [value]))


def save_session(
    path: str | os.PathLike[str],
    registration: Registration,
    *,
    today: dt.date | None = None,
) -> SavedSession:
    """Save a new session (creating the client and the episode when asked) in one transaction.

    The rules are checked again inside the transaction against the file as it is then, so a
    session someone else saved a moment ago is taken into account (its number, its date).

    Args:
        path: The database file.
        registration: What to save.
        today: The date today (default: the system's date).

    Raises:
        RegistrationError: If a rule refuses the session; the database is unchanged.
        StoreError: If the file cannot be written.
    """
    today = today or dt.date.today()
    problems = validate_registration(registration, None, today)
    if problems:
        raise RegistrationError(problems)
    return group_commit.commit(path, _save_session, registration, today)


def _save_session(con: Any, reg: Registration, today: dt.date) -> SavedSession:
    """:func:`save_session`'s change, applied in a group commit (see that module)."""
    problems = []
    if not _exists(con, "SELECT 1 FROM teams WHERE team_id = ?", reg.team_id):
        problems.append(Problem("team", "team_unknown", {"team": reg.team_id}))
    if not _exists(con, "SELECT 1 FROM therapists WHERE therapist_id = ?", reg.therapist_id):
        problems.append(Problem("therapist", "therapist_unknown", {"therapist": reg.therapist_id}))
    client_id = reg.new_client.client_id.strip() if reg.new_client else reg.client_id
    known = find_client(con, client_id)
    if reg.new_client is not None and known is not None:
        problems.append(Problem("client_id", "client_code_exists", {"code": client_id}))
    if reg.new_client is None and known is None:
        problems.append(Problem("client", "client_unknown", {"code": client_id}))
    episode: EpisodeState | None = None
    if reg.episode_id is None:
        ongoing = _rows(
            con,
            "SELECT episode_id, started FROM episodes WHERE client_id = ? "
            "AND therapist_id = ? AND ended IS NULL",
            [client_id, reg.therapist_id],
        )
        if ongoing:
            problems.append(
                Problem(
                    "episode",
                    "episode_ongoing_exists",
                    {"episode": ongoing[0][0], "started": ongoing[0][1]},
                )
            )
    else:
        episode = load_episode_state(con, reg.episode_id, client_id)
        if episode is None:
            problems.append(Problem("episode", "episode_unknown", {"episode": reg.episode_id}))
    if problems:
        raise RegistrationError(problems)
    problems = validate_registration(reg, episode, today)
    if problems:
        raise RegistrationError(problems)

    if reg.new_client is not None:
        con.execute(
            "INSERT INTO clients (client_id, birth_year, age_group) VALUES (?, ?, ?)",
            [client_id, reg.new_client.birth_year, reg.new_client.age_group],
        )
    if episode is None:
        episode_id = _new_episode_id(con)
        con.execute(
            "INSERT INTO episodes (episode_id, client_id, therapist_id, team_id, started) "
            "VALUES (?, ?, ?, ?, ?)",
            [episode_id, client_id, reg.therapist_id, reg.team_id, reg.session_date],
        )
        therapist_id, team_id, session_no = reg.therapist_id, reg.team_id, 1
    else:
        episode_id, therapist_id, team_id = (
            episode.episode_id,
            episode.therapist_id,
            episode.team_id,
        )
        session_no = episode.next_session_no
    session_id = _next_id(con, "sessions", "session_id")
    row = {
        "session_id": session_id,
        "episode_id": episode_id,
        "client_id": client_id,
        "therapist_id": therapist_id,
        "team_id": team_id,
        "session_date": reg.session_date,
        "session_no": session_no,
        "rater": "client",
        **score_columns(reg.ors, reg.srs),
    }
    names = ", ".join(row)
    con.execute(
        f"INSERT INTO sessions ({names}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )
    return SavedSession(
        session_id,
        episode_id,
        client_id,
        session_no,
        reg.session_date,
        new_episode=episode is None,
        new_client=reg.new_client is not None,
    )


def _locate(con: Any, session_id: int) -> EpisodeState:
    rows = _rows(
        con,
        "SELECT episode_id, client_id FROM sessions WHERE session_id = ? AND rater = 'client'",
        [session_id],
    )
    if not rows:
        raise RegistrationError([Problem("session", "session_unknown", {"session": session_id})])
    episode = load_episode_state(con, rows[0][0], rows[0][1])
    if episode is None:
        raise RegistrationError([Problem("episode", "episode_unknown", {"episode": rows[0][0]})])
    return episode


def _record_change(
    con: Any,
    episode: EpisodeState,
    before: SessionRow,
    change_type: str,
    actor: str,
    reason: str | None,
    now: dt.datetime,
) -> None:
    old = {f"old_{k}": v for k, v in score_columns(before.ors, before.srs).items()}
    row = {
        "change_id": _next_id(con, "session_changes", "change_id"),
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


def _update_session(
    con: Any, session_id: int, day: dt.date, ors: Scores | None, srs: Scores | None
) -> None:
    values = {"session_date": day, **score_columns(ors, srs)}
    assignments = ", ".join(f"{name} = ?" for name in values)
    con.execute(
        f"UPDATE sessions SET {assignments} WHERE session_id = ?",
        [*values.values(), session_id],
    )


def _require_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise RegistrationError([Problem("therapist", "actor_missing")])


# add_srs and correct_session share one calling convention on purpose: the file, the saved
# session, its new values, then who and when as keywords.
def add_srs(
    path: str | os.PathLike[str],
    session_id: int,
    srs: Scores,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> SavedSession:
    """Add the SRS, given at the end of the session, to a saved session that has only its ORS.

    The addition is kept in the change history (``srs_added``), like a correction.

    Args:
        path: The database file.
        session_id: The saved session.
        srs: The SRS.
        actor: Who adds it (the therapist; later the logged-in user).
        now: When (default: now, UTC).

    Raises:
        RegistrationError: If the session is unknown, already has an SRS, or the SRS is invalid.
    """
    _require_actor(actor)
    problems = validate_scores("srs", srs)
    if problems:
        raise RegistrationError(problems)
    return group_commit.commit(path, _add_srs, session_id, srs, actor.strip(), now or _utc_now())


def _add_srs(con: Any, session_id: int, srs: Scores, actor: str, now: dt.datetime) -> SavedSession:
    """:func:`add_srs`'s change, applied in a group commit."""
    episode = _locate(con, session_id)
    before = episode.session(session_id)
    assert before is not None  # _locate found it
    if before.srs is not None:
        raise RegistrationError(
            [Problem("srs", "srs_already_given", {"number": before.session_no})]
        )
    _record_change(con, episode, before, "srs_added", actor, None, now)
    _update_session(con, session_id, before.session_date, before.ors, srs)
    return SavedSession(
        session_id, episode.episode_id, episode.client_id, before.session_no, before.session_date
    )


def correct_session(
    path: str | os.PathLike[str],
    session_id: int,
    correction: Correction,
    *,
    actor: str,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> SavedSession:
    """Replace a saved session's date and scores, keeping the old values in the history.

    Args:
        path: The database file.
        session_id: The saved session (a client's own rating).
        correction: The new values and the reason.
        actor: Who corrects (the therapist; later the logged-in user).
        today: The date today (default: the system's date).
        now: When (default: now, UTC).

    Raises:
        RegistrationError: If a rule refuses the correction; the database is unchanged.
    """
    _require_actor(actor)
    today = today or dt.date.today()
    return group_commit.commit(
        path, _correct_session, session_id, correction, actor.strip(), today, now or _utc_now()
    )


def _correct_session(
    con: Any,
    session_id: int,
    correction: Correction,
    actor: str,
    today: dt.date,
    now: dt.datetime,
) -> SavedSession:
    """:func:`correct_session`'s change, applied in a group commit."""
    episode = _locate(con, session_id)
    problems = validate_correction(correction, session_id, episode, today)
    if problems:
        raise RegistrationError(problems)
    before = episode.session(session_id)
    assert before is not None
    _record_change(
        con,
        episode,
        before,
        "correction",
        actor,
        correction.reason.strip(),
        now,
    )
    _update_session(con, session_id, correction.session_date, correction.ors, correction.srs)
    if correction.session_date < episode.started:  # only the first session may get here
        con.execute(
            "UPDATE episodes SET started = ? WHERE episode_id = ?",
            [correction.session_date, episode.episode_id],
        )
    return SavedSession(
        session_id,
        episode.episode_id,
        episode.client_id,
        before.session_no,
        correction.session_date,
    )


def end_episode(
    path: str | os.PathLike[str],
    episode_id: str,
    ended: dt.date,
    end_type: str,
    *,
    today: dt.date | None = None,
) -> None:
    """Close an ongoing episode on ``ended`` with an end type (planned, unplanned, transferred).

    Raises:
        RegistrationError: If the episode is unknown or already ended, or the date or type is
            refused; the database is unchanged.
    """
    today = today or dt.date.today()
    group_commit.commit(path, _end_episode, episode_id, ended, end_type, today)


def _end_episode(con: Any, episode_id: str, ended: dt.date, end_type: str, today: dt.date) -> None:
    """:func:`end_episode`'s change, applied in a group commit."""
    episode = load_episode_state(con, episode_id, "")
    if episode is None:
        raise RegistrationError([Problem("episode", "episode_unknown", {"episode": episode_id})])
    last = _rows(con, "SELECT max(session_date) FROM sessions WHERE episode_id = ?", [episode_id])
    problems = validate_end(episode, ended, end_type, today, last[0][0])
    if problems:
        raise RegistrationError(problems)
    con.execute(
        "UPDATE episodes SET ended = ?, end_type = ? WHERE episode_id = ?",
        [ended, end_type, episode_id],
    )
