"""Registration for a couple, family or group: everyone's session in one save, a new participant.

:func:`save_episode_session` writes one session for every participant who gave a form -- each
client's own ORS and SRS, a collateral rater's ORS of the client -- in **one** group-committed
change (:mod:`fitdata.data.group_commit`): one transaction, so all participants' rows land or
none does, and a refusal names whose form was wrong (the rules:
:mod:`fitdata.features.registration_episode_rules`). A participant whose session that day is
saved with its ORS only gets its SRS added instead (kept in the change history, as
:func:`fitdata.features.registration.add_srs` does).

:func:`add_participant` adds a partner, a family member or a collateral rater to an ongoing
episode (``episode_participants``), creating a new client first when asked; the client code
passes the identity-number scan of :func:`fitdata.features.registration_rules.
validate_new_client`. Access is the page's to check, as for every registration write
(:func:`fitdata.data.access.require_write` on the episode's team and therapist), before it
calls these.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fitdata.data import group_commit, queries, store
from fitdata.data.participants import ensure_participants
from fitdata.features.registration_episode_rules import (
    EpisodeSession,
    NewParticipant,
    Participant,
    validate_episode_session,
    validate_new_participant,
)
from fitdata.features.registration_rows import (
    find_client,
    insert_session,
    load_episode_state,
    record_change,
    rows,
    update_session,
)
from fitdata.features.registration_rules import (
    EpisodeState,
    Problem,
    RegistrationError,
    SavedSession,
)

__all__ = ["add_participant", "episode_participants", "episode_states", "save_episode_session"]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _date(value: object) -> dt.date | None:
    if value is None or value != value:  # NULL, NaT
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return getattr(value, "date", lambda: None)()


def episode_participants(source: Any, episode_id: str) -> list[Participant]:
    """Who takes part in the episode: the index client first, then the others, then raters.

    Args:
        source: A :class:`~fitdata.data.store.Reader` (the page's read, audited by
            :func:`fitdata.data.queries.episode_participants`), or a write's connection.
        episode_id: The episode.
    """
    if isinstance(source, store.Reader):
        frame = queries.episode_participants(source, episode_id)
        return [
            Participant(
                str(r.client_id), str(r.role), str(r.rater), str(r.age_group), _date(r.added_on)
            )
            for r in frame.itertuples()
        ]
    found = rows(
        source,
        "SELECT p.client_id, p.role, p.rater, coalesce(c.age_group, 'adult'), p.added_on "
        "FROM episode_participants p LEFT JOIN clients c USING (client_id) "
        "WHERE p.episode_id = ? "
        "ORDER BY p.role = 'collateral', p.role <> 'index', p.client_id, p.rater",
        [episode_id],
    )
    return [Participant(c, role, rater, group, _date(day)) for c, role, rater, group, day in found]


def episode_states(
    source: Any, episode_id: str, participants: list[Participant]
) -> dict[tuple[str, str], EpisodeState]:
    """Each participant's saved sessions in the episode, by :attr:`Participant.key`."""
    states: dict[tuple[str, str], EpisodeState] = {}
    for p in participants:
        state = load_episode_state(source, episode_id, p.client_id, rater=p.rater)
        if state is not None:
            states[p.key] = state
    return states


def save_episode_session(
    path: str | os.PathLike[str],
    session: EpisodeSession,
    *,
    actor: str,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[SavedSession]:
    """Save a couple's, family's or group's session for everyone who gave a form, at once.

    Args:
        path: The database file.
        session: The episode, the date and each participant's forms.
        actor: Who saves (kept in the history of an SRS added to a saved session).
        today: The date today (default: the system's date).
        now: When (default: now, UTC).

    Returns:
        One :class:`SavedSession` per participant written, in the order of ``session.scores``.

    Raises:
        RegistrationError: If a rule refuses any participant's forms (each problem names its
            participant) or the session as a whole; the database is unchanged.
    """
    if not isinstance(actor, str) or not actor.strip():
        raise RegistrationError([Problem("therapist", "actor_missing")])
    # Checked inside the change only: a problem names its participant by role, read there.
    return group_commit.commit(
        path,
        _save_episode_session,
        session,
        actor.strip(),
        today or dt.date.today(),
        now or _utc_now(),
    )


def _save_episode_session(
    con: Any, session: EpisodeSession, actor: str, today: dt.date, now: dt.datetime
) -> list[SavedSession]:
    """:func:`save_episode_session`'s change, applied in a group commit."""
    episode = load_episode_state(con, session.episode_id, "")
    if episode is None:
        raise RegistrationError(
            [Problem("episode", "episode_unknown", {"episode": session.episode_id})]
        )
    participants = episode_participants(con, session.episode_id)
    states = episode_states(con, session.episode_id, participants)
    problems = validate_episode_session(session, episode, participants, states, today)
    if problems:
        raise RegistrationError(problems)
    saved: list[SavedSession] = []
    day = session.session_date
    for entry in session.scores:
        if not entry.given:
            continue
        state = states[entry.key]
        same_day = state.session_on(day)
        if same_day is not None:  # the SRS after the session (the rules allow only that)
            record_change(con, state, same_day, "srs_added", actor, None, now)
            update_session(con, state, same_day.session_id, day, same_day.ors, entry.srs)
            number = same_day.session_no
            saved.append(
                SavedSession(same_day.session_id, episode.episode_id, entry.client_id, number, day)
            )
            continue
        session_id = insert_session(
            con,
            episode_id=episode.episode_id,
            client_id=entry.client_id,
            therapist_id=episode.therapist_id,
            team_id=episode.team_id,
            session_date=day,
            session_no=state.next_session_no,
            ors=entry.ors,
            srs=entry.srs,
            rater=entry.rater,
        )
        number = state.next_session_no
        saved.append(SavedSession(session_id, episode.episode_id, entry.client_id, number, day))
    return saved


def add_participant(
    path: str | os.PathLike[str],
    new: NewParticipant,
    *,
    today: dt.date | None = None,
    therapist_id: str | None = None,
) -> Participant:
    """Add a partner, family member or collateral rater to an ongoing episode.

    Args:
        path: The database file.
        new: Who, with which role and (for a collateral) rater, from when; a new client to
            create first, when the person is not yet registered.
        today: The date today (default: the system's date).
        therapist_id: The therapist whose own page adds the person (a therapist's login):
            a client who takes part in another therapist's episode is refused then, as the
            therapist's page does not show that client (a supervisor's or administrator's
            page passes None).

    Returns:
        The participant as stored.

    Raises:
        RegistrationError: If a rule refuses it (already a participant, an individual
            episode, an ended one, a code that may identify a person, ...); nothing is written.
    """
    return group_commit.commit(path, _add_participant, new, today or dt.date.today(), therapist_id)


def _client_of_another(con: Any, code: str, therapist_id: str) -> bool:
    """True if ``code`` takes part in an episode of a therapist other than ``therapist_id``."""
    found = rows(
        con,
        "SELECT 1 FROM episodes e WHERE e.therapist_id <> ? AND (e.client_id = ? OR "
        "e.episode_id IN (SELECT episode_id FROM episode_participants WHERE client_id = ?)) "
        "LIMIT 1",
        [therapist_id, code, code],
    )
    return bool(found)


def _add_participant(
    con: Any, new: NewParticipant, today: dt.date, therapist_id: str | None = None
) -> Participant:
    """:func:`add_participant`'s change, applied in a group commit."""
    episode = load_episode_state(con, new.episode_id, "")
    if episode is None:
        raise RegistrationError(
            [Problem("episode", "episode_unknown", {"episode": new.episode_id})]
        )
    participants = episode_participants(con, new.episode_id)
    code = new.code
    known = find_client(con, code) if code else None
    if (
        known is not None
        and therapist_id is not None
        and new.role != "collateral"
        and _client_of_another(con, code, therapist_id)
    ):
        raise RegistrationError(
            [Problem("client_id", "client_of_another_therapist", {"code": code})]
        )
    problems = validate_new_participant(new, episode, participants, known, today)
    if problems:
        raise RegistrationError(problems)
    if new.new_client is not None:
        con.execute(
            "INSERT INTO clients (client_id, birth_year, age_group) VALUES (?, ?, ?)",
            [code, new.new_client.birth_year, new.new_client.age_group],
        )
        known = find_client(con, code)
    added_on = new.added_on or today
    ensure_participants(
        con,
        [
            {
                "episode_id": new.episode_id,
                "client_id": code,
                "role": new.role,
                "rater": new.rater,
                "added_on": added_on,
            }
        ],
    )
    age_group = known.age_group if known is not None else "adult"
    return Participant(code, new.role, new.rater, age_group, added_on)
