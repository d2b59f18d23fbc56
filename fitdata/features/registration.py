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

A couple's, family's or group's session -- everyone's forms in one save, all or nothing -- and
adding a participant to an ongoing episode are :func:`save_episode_session` and
:func:`add_participant` (:mod:`fitdata.features.registration_episode`, re-exported here).
Every row written records its forms and ``entered_by`` and its ``episode_participants`` row
(:mod:`fitdata.features.registration_rows`).

The choices the page offers (:func:`team_choices`, :func:`therapist_choices`,
:func:`client_choices`, from :mod:`fitdata.features.registration_choices`) are those the page's
user may register for: a therapist her own clients, a supervisor her teams'.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fitdata.data import group_commit, store
from fitdata.data.access import record_access
from fitdata.features.registration_choices import client_choices, team_choices, therapist_choices
from fitdata.features.registration_episode import (
    add_participant,
    episode_participants,
    episode_states,
    save_episode_session,
)
from fitdata.features.registration_episode_rules import (
    EpisodeSession,
    NewParticipant,
    Participant,
    ParticipantScores,
    participant_mode,
    validate_episode_session,
    validate_new_participant,
)
from fitdata.features.registration_rows import (
    ROW_SQL,
    find_client,
    insert_session,
    load_episode_state,
    record_change,
    rows,
    score_values,
    session_row,
    update_session,
)
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
    participant_label,
    problem_text,
    validate_correction,
    validate_end,
    validate_new_client,
    validate_registration,
    validate_scores,
)
from fitdata.vocabulary import SCORE_COLUMNS

# The façade of registration: it names the rules' values and checks again (the list repeats
# registration_rules.__all__ and the episode's rules on purpose), so the page, the workers and
# the tests keep one import.
__all__ = [
    "CLIENT_CODE",
    "ITEM_MAX",
    "MIN_REASON_LENGTH",
    "TOTAL_MAX",
    "Correction",
    "EpisodeSession",
    "EpisodeState",
    "HistoryEntry",
    "NewClient",
    "NewParticipant",
    "Participant",
    "ParticipantScores",
    "Problem",
    "Registration",
    "RegistrationError",
    "SavedSession",
    "Scores",
    "SessionRow",
    "add_participant",
    "add_srs",
    "client_choices",
    "correct_session",
    "end_episode",
    "episode_participants",
    "episode_states",
    "find_client",
    "load_episode_state",
    "participant_label",
    "participant_mode",
    "problem_text",
    "save_episode_session",
    "save_session",
    "session_history",
    "team_choices",
    "therapist_choices",
    "validate_correction",
    "validate_end",
    "validate_episode_session",
    "validate_new_client",
    "validate_new_participant",
    "validate_registration",
    "validate_scores",
]


# -- reading -----------------------------------------------------------------------------------
def session_history(source: Any, session_id: int) -> list[HistoryEntry]:
    """Every change of a saved session, oldest first, with the values before and after."""
    old_columns = ", ".join(f"old_{c}" for c in SCORE_COLUMNS)
    changes = rows(
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
    current = rows(source, f"SELECT {ROW_SQL} FROM sessions WHERE session_id = ?", [session_id])
    befores = [
        SessionRow(session_id, int(c[5]), c[6], score_values(c[7:12]), score_values(c[12:17]))
        for c in changes
    ]
    afters = befores[1:] + ([session_row(current[0])] if current else befores[-1:])
    return [
        HistoryEntry(int(c[0]), c[1], c[2], c[3], c[4], before, after)
        for c, before, after in zip(changes, befores, afters, strict=True)
    ]


# -- writing -----------------------------------------------------------------------------------
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _new_episode_id(con: Any) -> str:
    """``E`` + the next number after the highest ``E<digits>`` id (7 digits, like the demo)."""
    found = rows(
        con,
        "SELECT max(CAST(substr(episode_id, 2) AS BIGINT)), max(length(episode_id)) - 1 "
        "FROM episodes WHERE regexp_full_match(episode_id, 'E[0-9]{1,18}')",
        [],
    )
    highest, width = found[0]
    return f"E{(highest or 0) + 1:0{max(7, width or 0)}d}"


def _exists(con: Any, sql: str, value: str) -> bool:
    return bool(rows(con, sql, [value]))


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
        ongoing = rows(
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
            "INSERT INTO episodes (episode_id, client_id, therapist_id, team_id, started, format) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [episode_id, client_id, reg.therapist_id, reg.team_id, reg.session_date, reg.format],
        )
        therapist_id, team_id, session_no = reg.therapist_id, reg.team_id, 1
    else:
        episode_id, therapist_id, team_id = (
            episode.episode_id,
            episode.therapist_id,
            episode.team_id,
        )
        session_no = episode.next_session_no
    session_id = insert_session(
        con,
        episode_id=episode_id,
        client_id=client_id,
        therapist_id=therapist_id,
        team_id=team_id,
        session_date=reg.session_date,
        session_no=session_no,
        ors=reg.ors,
        srs=reg.srs,
        role="index" if episode is None else None,
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
    found = rows(
        con,
        "SELECT episode_id, client_id FROM sessions WHERE session_id = ? AND rater = 'client'",
        [session_id],
    )
    if not found:
        raise RegistrationError([Problem("session", "session_unknown", {"session": session_id})])
    episode = load_episode_state(con, found[0][0], found[0][1])
    if episode is None:
        raise RegistrationError([Problem("episode", "episode_unknown", {"episode": found[0][0]})])
    return episode


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
    record_change(con, episode, before, "srs_added", actor, None, now)
    update_session(con, episode, session_id, before.session_date, before.ors, srs)
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
    record_change(
        con,
        episode,
        before,
        "correction",
        actor,
        correction.reason.strip(),
        now,
    )
    update_session(
        con, episode, session_id, correction.session_date, correction.ors, correction.srs
    )
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
    last = rows(con, "SELECT max(session_date) FROM sessions WHERE episode_id = ?", [episode_id])
    problems = validate_end(episode, ended, end_type, today, last[0][0])
    if problems:
        raise RegistrationError(problems)
    con.execute(
        "UPDATE episodes SET ended = ?, end_type = ? WHERE episode_id = ?",
        [ended, end_type, episode_id],
    )
