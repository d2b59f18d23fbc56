"""Registration for several people in one episode: a couple's or family's session, new members.

Pure rules beside :mod:`fitdata.features.registration_rules` (whose values and messages they
reuse), applied by the page as the person types and again inside the write
(:mod:`fitdata.features.registration_episode`).

A session of a couple or family is saved at once for everyone who came: one
:class:`ParticipantScores` per participant (each client their own ORS before and SRS after; a
collateral rater -- a parent, a teacher -- their ORS *about* the client, never counted as the
client's own). The rule for who must have scores: **at least one participant**; a participant
whose forms are both left out did not come (or did not fill them in) and gets no row, so a
partner who stayed home is not a session with missing forms. Every problem names its
participant (:meth:`Problem.of`), so "Partner · K-1234: ORS total 45.0 is outside 0-40" says
whose form to fix; the session is saved for everyone or for no one.

Who may join an episode (:func:`validate_new_participant`): a partner only in a couple
episode (two partners at most: the index client and one partner), a family member only in a
family episode, a member only in a group; never a second time; a collateral rater of a client
who takes part, in any format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fitdata.features.registration_rules import (
    EpisodeState,
    NewClient,
    Problem,
    Scores,
    check_date,
    validate_new_client,
    validate_scores,
)
from fitdata.vocabulary import RATERS

__all__ = [
    "COLLATERAL_RATERS",
    "INDEX_NAMED_AS",
    "ROLE_FOR_FORMAT",
    "EpisodeSession",
    "NewParticipant",
    "Participant",
    "ParticipantScores",
    "participant_mode",
    "shown_role",
    "validate_episode_session",
    "validate_new_participant",
]

#: The role a client who joins an episode gets, by the episode's format (an individual
#: episode has one client: another person joins only as a collateral rater).
ROLE_FOR_FORMAT: dict[str, str] = {
    "couple": "partner",
    "family": "family_member",
    "group": "member",
}
#: Who may rate a client without being one (``episode_participants.rater`` of a collateral).
COLLATERAL_RATERS: tuple[str, ...] = tuple(r for r in RATERS if r != "client")
#: Client participants a couple episode holds: the index client and one partner.
COUPLE_SIZE = 2
#: How the index client is named beside the others, as the episode's graphs name them: in a
#: couple both are partners, in a family both are family members.
INDEX_NAMED_AS: dict[str, str] = {"couple": "partner", "family": "family_member"}


def shown_role(role: str, format: str) -> str:
    """The role a participant is named by in an episode of this format (see INDEX_NAMED_AS)."""
    return INDEX_NAMED_AS.get(format, role) if role == "index" else role


@dataclass(frozen=True)
class Participant:
    """Someone who takes part in an episode (a row of ``episode_participants``).

    ``client_id`` is the participant, or for a collateral rater the client they rate;
    ``age_group`` is that client's (it decides the forms, CORS/CSRS for a child).
    """

    client_id: str
    role: str
    rater: str = "client"
    age_group: str = "adult"
    added_on: dt.date | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Whose ratings: the client and the rater (the participant's sessions' key)."""
        return (self.client_id, self.rater)

    @property
    def is_client(self) -> bool:
        """True for a client's own rating, False for a collateral rater's."""
        return self.rater == "client"

    def name(self, problem: Problem, format: str = "individual") -> Problem:
        """``problem`` as this participant's (named as in an episode of ``format``)."""
        return problem.of(self.client_id, shown_role(self.role, format), self.rater)


@dataclass(frozen=True)
class ParticipantScores:
    """One participant's forms in a session: both None means they gave none (did not come)."""

    client_id: str
    rater: str = "client"
    ors: Scores | None = None
    srs: Scores | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The participant's key (see :attr:`Participant.key`)."""
        return (self.client_id, self.rater)

    @property
    def given(self) -> bool:
        """True when at least one form was given."""
        return self.ors is not None or self.srs is not None


@dataclass(frozen=True)
class EpisodeSession:
    """A session of a couple, family or group, for everyone in it, saved in one transaction.

    The rows get the episode's therapist and team. On a day when a participant's session is
    already saved with its ORS only, that participant's SRS alone is added to it (the SRS
    after the session), as :func:`fitdata.features.registration.add_srs` does for one client.
    """

    episode_id: str
    session_date: dt.date
    scores: tuple[ParticipantScores, ...]


@dataclass(frozen=True)
class NewParticipant:
    """A person to add to an ongoing episode.

    A client (role partner, family_member or member; ``rater`` client) is a saved client or a
    new one (``new_client``, whose code is then used); a collateral rater (role collateral,
    ``rater`` parent, teacher, partner or other) is not a client: ``client_id`` is the
    participating client they rate. ``added_on`` is the day they joined (default: today).
    """

    episode_id: str
    client_id: str
    role: str
    rater: str = "client"
    added_on: dt.date | None = None
    new_client: NewClient | None = None

    @property
    def code(self) -> str:
        """The participant's client code (the new client's, when one is created)."""
        code = self.new_client.client_id if self.new_client is not None else self.client_id
        return code.strip() if isinstance(code, str) else ""


def participant_mode(state: EpisodeState | None, day: dt.date | None) -> str:
    """What a participant's forms do on ``day``: ``new`` session, ``add_srs`` to it, ``done``.

    A collateral rater's rating (``state.rater`` not ``client``) is the ORS only: once saved
    it is done.
    """
    same_day = state.session_on(day) if state is not None and day is not None else None
    if same_day is None:
        return "new"
    return "done" if same_day.srs is not None or state.rater != "client" else "add_srs"


def _participant_problems(
    entry: ParticipantScores, participant: Participant, state: EpisodeState | None, day: dt.date
) -> list[Problem]:
    """One participant's own problems (scores, their previous session, a session that day)."""
    same_day = state.session_on(day) if state is not None else None
    if same_day is not None and not participant.is_client:  # a rater's ORS: once a day
        return [Problem("session_date", "rating_on_date", {"number": same_day.session_no})]
    if same_day is not None:
        if same_day.srs is None and entry.ors is None and entry.srs is not None:
            return validate_scores("srs", entry.srs)  # the SRS after the session
        key = "session_on_date_without_srs" if same_day.srs is None else "session_on_date"
        return [Problem("session_date", key, {"number": same_day.session_no, "date": day})]
    problems: list[Problem] = []
    if entry.srs is not None and not participant.is_client:
        problems.append(Problem("srs", "collateral_srs"))
    for form, scores in (("ors", entry.ors), ("srs", entry.srs)):
        if scores is not None:
            problems += validate_scores(form, scores)
    previous = max(state.sessions, key=lambda s: s.session_no, default=None) if state else None
    if previous is not None and day < previous.session_date:
        problems.append(
            Problem(
                "session_date",
                "date_before_previous",
                {"number": previous.session_no, "date": previous.session_date},
            )
        )
    return problems


def validate_episode_session(
    session: EpisodeSession,
    episode: EpisodeState,
    participants: Sequence[Participant],
    states: Mapping[tuple[str, str], EpisodeState],
    today: dt.date,
) -> list[Problem]:
    """Check a couple's or family's session: the episode's date rules once, then each person.

    Args:
        session: What is to be saved.
        episode: The episode as saved now (its dates; its ``sessions`` are not used).
        participants: Who takes part (``episode_participants``).
        states: Each participant's saved sessions, by :attr:`Participant.key` (missing: none).
        today: The date today; a session cannot be in the future.

    Returns:
        The problems: those of the session as a whole without a participant, each
        participant's named (:attr:`Problem.participant`).
    """
    problems: list[Problem] = []
    known = {p.key: p for p in participants}
    if not any(entry.given for entry in session.scores):
        problems.append(Problem("scores", "nothing_to_save_anyone"))
    if episode.ended is not None:
        problems.append(
            Problem(
                "episode", "episode_ended", {"ended": episode.ended, "episode": episode.episode_id}
            )
        )
        return problems
    day = session.session_date
    date_problems = check_date(day, today, episode.started, None, None, None)
    if date_problems:
        return problems + date_problems
    seen: set[tuple[str, str]] = set()
    for entry in session.scores:
        participant = known.get(entry.key)
        if participant is None:
            problems.append(Problem("participant", "not_a_participant", {"code": entry.client_id}))
            continue
        if entry.key in seen:
            twice = Problem("participant", "participant_twice")
            problems.append(participant.name(twice, episode.format))
            continue
        seen.add(entry.key)
        if entry.given:
            problems += [
                participant.name(p, episode.format)
                for p in _participant_problems(entry, participant, states.get(entry.key), day)
            ]
    return problems


def validate_new_participant(
    new: NewParticipant,
    episode: EpisodeState,
    participants: Sequence[Participant],
    known_client: NewClient | None,
    today: dt.date,
) -> list[Problem]:
    """Check adding a person to an ongoing episode.

    Args:
        new: Who is added, with which role, from when.
        episode: The episode as saved now (its format, dates).
        participants: Who takes part already.
        known_client: The saved client with the new participant's code, if there is one.
        today: The date today.
    """
    if episode.ended is not None:
        return [Problem("episode", "episode_ended", {"ended": episode.ended, "episode": ""})]
    problems: list[Problem] = []
    day = new.added_on or today
    if day > today:
        problems.append(Problem("added_on", "date_future", {"today": today}))
    elif day < episode.started:
        problems.append(Problem("added_on", "date_before_episode", {"started": episode.started}))
    code = new.code
    clients = [p for p in participants if p.is_client]
    if new.role == "collateral":
        if new.rater not in COLLATERAL_RATERS:
            problems.append(Problem("rater", "rater_missing"))
        if new.new_client is not None or code not in {p.client_id for p in clients}:
            problems.append(Problem("client_id", "collateral_not_client", {"code": code}))
        elif new.rater in COLLATERAL_RATERS and (code, new.rater) in {p.key for p in participants}:
            problems.append(Problem("client_id", "already_rater", {"code": code}))
        return problems
    wanted = ROLE_FOR_FORMAT.get(episode.format)
    if wanted is None:
        return [*problems, Problem("role", "participant_individual_episode")]
    if new.role != wanted or new.rater != "client":
        problems.append(Problem("role", f"role_for_{episode.format}"))
    if new.new_client is not None:
        problems += validate_new_client(new.new_client, day)
        if known_client is not None:
            problems.append(Problem("client_id", "client_code_exists", {"code": code}))
    elif not code:
        problems.append(Problem("client_id", "client_code_missing"))
    elif known_client is None:
        problems.append(Problem("client_id", "client_unknown", {"code": code}))
    if code and (code, "client") in {p.key for p in participants}:
        problems.append(Problem("client_id", "already_participant", {"code": code}))
    elif episode.format == "couple" and len(clients) >= COUPLE_SIZE:
        problems.append(Problem("role", "couple_full", {"count": COUPLE_SIZE}))
    return problems
