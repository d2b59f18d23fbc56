"""What registration may save: its values, the rules that decide, and their messages. Pure.

Every rule is a pure function (:func:`validate_scores`, :func:`validate_new_client`,
:func:`validate_registration`, :func:`validate_correction`, :func:`validate_end`) returning
:class:`Problem` s, so the dashboard shows them next to the field as the person types, and the
writers in :mod:`fitdata.features.registration` apply the same rules again inside the
transaction, against the data as they are at that moment.

The rules mirror the schema's CHECK constraints (items 0-10 and totals 0-40 in 0.1 steps, four
items or none, the national-identity-number guard on client codes) so that a person gets a
clear message rather than a constraint error; :data:`fitdata.config.TIE_TOLERANCE` absorbs float
noise from the sliders.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fitdata.config import AGE_GROUPS, TIE_TOLERANCE
from fitdata.i18n import Translator
from fitdata.identifiers import CLIENT_CODE, Column, Finding, mask_value, text_problem
from fitdata.vocabulary import AGE_RANGES, END_TYPES, FORMATS, FORMS, SCORE_COLUMNS

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
    "check_date",
    "participant_label",
    "problem_text",
    "score_columns",
    "validate_correction",
    "validate_end",
    "validate_free_text",
    "validate_new_client",
    "validate_registration",
    "validate_scores",
]

#: An item is the mark on a 10 cm line, 0.0-10.0 in 0.1 steps; a total is 0.0-40.0
#: (the schema's CHECK constraints on ``sessions``).
ITEM_MAX = 10.0
TOTAL_MAX = 40.0
_STEP_TOLERANCE = 1e-6  # a slider's 7.300000000000001 is 7.3; 7.35 is not a one-decimal score

#: What a client code and a free-text field must not hold, by what was found in it: the key of
#: its message (``registration.error.<key>``). :mod:`fitdata.identifiers` is the one home of
#: these rules, shared with the importer and the database's CHECK (a code registration accepts
#: is never refused there).
_CODE_FINDINGS = {
    Finding.IDENTITY_NUMBER: "client_code_national_id",
    Finding.EMAIL: "client_code_contact",
    Finding.PHONE: "client_code_contact",
    Finding.NAME: "client_code_format",  # its message says: never a name
    Finding.NOT_A_CODE: "client_code_format",
}

#: A correction must say why, in at least this many characters (not counting spaces).
MIN_REASON_LENGTH = 3


# -- values ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One reason why something cannot be saved: the field it belongs to and a message key.

    ``key`` is a message in the ``registration.error.*`` catalogue; ``values`` fill its
    placeholders (numbers and dates are formatted for the page's language by
    :func:`problem_text`).
    """

    field: str
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    #: Whose problem it is in a couple's or family's session: ``(client_id, role, rater)``
    #: (None: the one client's, or the session's as a whole). Its message names them.
    participant: tuple[str, str, str] | None = None

    def of(self, client_id: str, role: str, rater: str = "client") -> Problem:
        """This problem as one participant's (named in its message)."""
        return Problem(self.field, self.key, self.values, (client_id, role, rater))


class RegistrationError(ValueError):
    """A save was refused; ``problems`` says why (the database is unchanged)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        tr = Translator("en")
        super().__init__(" ".join(problem_text(p, tr) for p in self.problems))

    def __reduce__(self) -> tuple[type[RegistrationError], tuple[list[Problem]]]:
        """Pickle with the problems: a group-committed save's refusal reaches its own writer."""
        return (type(self), (self.problems,))


@dataclass(frozen=True)
class Scores:
    """One form (ORS or SRS) as recorded: the four items, or a total only (paper practice)."""

    items: tuple[float | None, ...] | None = None
    total: float | None = None

    @classmethod
    def from_items(cls, *items: float | None) -> Scores:
        """Four item scores, in the order of the form."""
        return cls(items=tuple(items))

    @classmethod
    def from_total(cls, total: float | None) -> Scores:
        """A total only."""
        return cls(total=total)

    @property
    def value(self) -> float:
        """The total: the sum of the items (exact, in tenths) or the total given."""
        if self.items is not None:
            return sum(round(float(i) * 10) for i in self.items if i is not None) / 10
        return round(float(self.total), 1) if self.total is not None else math.nan

    def columns(self, form: str) -> dict[str, float | None]:
        """The row values of this form's columns (``ors_individual`` ... ``ors_total``)."""
        names = FORMS[form]
        items = self.items if self.items is not None else (None,) * len(names)
        row: dict[str, float | None] = {
            name: (round(float(v), 1) if v is not None else None)
            for name, v in zip(names, items, strict=True)
        }
        row[f"{form}_total"] = self.value
        return row


def score_columns(ors: Scores | None, srs: Scores | None) -> dict[str, float | None]:
    """The row values of every score column (``ors_individual`` ... ``srs_total``)."""
    row: dict[str, float | None] = dict.fromkeys(SCORE_COLUMNS)
    for form, scores in (("ors", ors), ("srs", srs)):
        if scores is not None:
            row.update(scores.columns(form))
    return row


@dataclass(frozen=True)
class SessionRow:
    """One saved session of a client (their own rating) with its current values."""

    session_id: int
    session_no: int
    session_date: dt.date
    ors: Scores | None
    srs: Scores | None


@dataclass(frozen=True)
class EpisodeState:
    """An episode as the rules need it: dates, who, and one client's saved sessions in order."""

    episode_id: str
    client_id: str
    therapist_id: str
    team_id: str
    started: dt.date
    ended: dt.date | None
    end_type: str | None
    sessions: tuple[SessionRow, ...] = ()
    format: str = "individual"
    #: Whose ratings ``sessions`` are: the client's own, or a collateral rater's of the client.
    rater: str = "client"

    @property
    def last_date(self) -> dt.date | None:
        """Date of the latest saved session, if any."""
        return max((s.session_date for s in self.sessions), default=None)

    @property
    def next_session_no(self) -> int:
        """The number the next new session gets."""
        return max((s.session_no for s in self.sessions), default=0) + 1

    def session_on(self, day: dt.date) -> SessionRow | None:
        """The saved session on ``day``, if there is one."""
        return next((s for s in self.sessions if s.session_date == day), None)

    def session(self, session_id: int) -> SessionRow | None:
        """The saved session with this id, if it is one of this client's in this episode."""
        return next((s for s in self.sessions if s.session_id == session_id), None)


@dataclass(frozen=True)
class NewClient:
    """A client to create: pseudonymous code, age group and (optionally) birth year."""

    client_id: str
    age_group: str
    birth_year: int | None = None


@dataclass(frozen=True)
class Registration:
    """A new session to save.

    ``episode_id`` None starts a new episode (with this therapist in this team, from
    ``session_date``); ``new_client`` creates the client first (its code is then used and
    ``client_id`` is ignored). ``ors`` or ``srs`` None means
    that form was not given (the SRS is often added after the session with :func:`add_srs`).
    ``format`` is the new episode's (individual, couple, family, group); an existing episode
    keeps its own.
    """

    team_id: str
    therapist_id: str
    client_id: str
    episode_id: str | None
    session_date: dt.date
    ors: Scores | None
    srs: Scores | None = None
    new_client: NewClient | None = None
    format: str = "individual"


@dataclass(frozen=True)
class Correction:
    """New values for a saved session, and why they replace the old ones."""

    session_date: dt.date
    ors: Scores | None
    srs: Scores | None
    reason: str


@dataclass(frozen=True)
class SavedSession:
    """What a save did."""

    session_id: int
    episode_id: str
    client_id: str
    session_no: int
    session_date: dt.date
    new_episode: bool = False
    new_client: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a saved session: the values before and after, who, when and why."""

    change_id: int
    change_type: str
    changed_at: dt.datetime
    changed_by: str
    reason: str | None
    before: SessionRow
    after: SessionRow


# -- messages ----------------------------------------------------------------------------------
def participant_label(client_id: str, role: str, rater: str, tr: Translator) -> str:
    """A participant as the page names them: "Partner · K-1234", "Parent's rating · K-5".

    A collateral rater (``rater`` not ``client``) is named by the rating they give of the
    client, so their scores are never read as the client's own.
    """
    who = (
        tr.text(f"registration.rating_by.{rater}") if rater != "client" else tr.text(f"role.{role}")
    )
    return tr.text("registration.participant.label", who=who, code=client_id)


def problem_text(problem: Problem, tr: Translator) -> str:
    """The problem as a sentence in the translator's language (naming whose it is, if given)."""
    text = _problem_sentence(problem, tr)
    if problem.participant is None:
        return text
    who = participant_label(*problem.participant, tr)
    return tr.text("registration.error.of_participant", who=who, problem=text)


def _problem_sentence(problem: Problem, tr: Translator) -> str:
    values: dict[str, str] = {}
    for name, value in problem.values.items():
        if name == "item":
            values[name] = tr.text(f"item.{value}")
        elif name == "what":
            values[name] = tr.text(f"registration.{value}")
        elif name == "group":
            values[name] = tr.text(f"age_group.{value}")
        elif isinstance(value, dt.date):
            values[name] = tr.date(value)
        elif isinstance(value, float):
            # 7.35 must read as 7.35 in "only one decimal" messages, not be rounded to 7.4
            decimals = next(
                (d for d in (1, 2, 3) if abs(value * 10**d - round(value * 10**d)) < 1e-6), 3
            )
            values[name] = tr.number(value, decimals=decimals)
        else:
            values[name] = str(value)
    return tr.text(f"registration.error.{problem.key}", **values)


# -- pure rules --------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float | Decimal)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _one_decimal(value: float) -> bool:
    return abs(value * 10 - round(value * 10)) <= _STEP_TOLERANCE


def _check_score(
    field_name: str, value: object, maximum: float, extra: dict[str, Any]
) -> list[Problem]:
    kind = "item" if maximum == ITEM_MAX else "total"
    if value is None or not _is_number(value):
        return [Problem(field_name, f"{kind}_missing", extra)]
    number = float(value)  # type: ignore[arg-type]
    if number < -TIE_TOLERANCE or number > maximum + TIE_TOLERANCE:
        return [
            Problem(field_name, f"{kind}_range", {**extra, "value": number, "max": int(maximum)})
        ]
    if not _one_decimal(number):
        return [Problem(field_name, f"{kind}_step", {**extra, "value": number})]
    return []


def validate_scores(form: str, scores: Scores) -> list[Problem]:
    """Check one form: four items each 0.0-10.0 in 0.1 steps, or a total 0.0-40.0.

    When items and a total are both given, the total must equal the items' sum (to 0.1, as
    the schema requires).
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; expected 'ors' or 'srs'")
    label = form.upper()
    names = FORMS[form]
    if scores.items is None:
        if scores.total is None:
            return [Problem(form, "form_empty", {"form": label})]
        return _check_score(f"{form}_total", scores.total, TOTAL_MAX, {"form": label})
    if len(scores.items) != len(names):
        return [Problem(form, "items_count", {"form": label, "count": len(names)})]
    problems: list[Problem] = []
    for name, value in zip(names, scores.items, strict=True):
        problems += _check_score(name, value, ITEM_MAX, {"form": label, "item": name})
    if (
        not problems
        and scores.total is not None
        and (not _is_number(scores.total) or abs(float(scores.total) - scores.value) > 0.1 + 1e-9)
    ):
        problems.append(
            Problem(
                f"{form}_total",
                "total_mismatch",
                {"form": label, "total": scores.total, "sum": scores.value},
            )
        )
    return problems


def validate_new_client(client: NewClient, on_date: dt.date) -> list[Problem]:
    """Check a new client's code, age group and birth year (for a session on ``on_date``).

    The code must be pseudonymous (:func:`fitdata.identifiers.text_problem` for a client
    column): never a national identity number in any spelling, an e-mail address, a phone
    number or a name, and shaped like a code. A message never repeats a value that may
    identify a person (:func:`fitdata.identifiers.mask_value`). A birth year must make the
    client's age in ``on_date``'s year fit the age group (the age is known to within one year).
    """
    problems: list[Problem] = []
    code = client.client_id.strip() if isinstance(client.client_id, str) else ""
    if not code:
        problems.append(Problem("client_id", "client_code_missing"))
    elif (finding := text_problem(code, Column.CLIENT)) is not None:
        shown = mask_value(code) if finding.personal else code
        problems.append(Problem("client_id", _CODE_FINDINGS[finding], {"code": shown}))
    if client.age_group not in AGE_GROUPS:
        problems.append(Problem("age_group", "age_group_unknown"))
    year = client.birth_year
    if year is None:
        return problems
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= on_date.year:
        problems.append(Problem("birth_year", "birth_year_range", {"last": on_date.year}))
        return problems
    if client.age_group in AGE_RANGES:
        low, high = AGE_RANGES[client.age_group]
        oldest = on_date.year - year  # the birthday may still be to come this year
        youngest = oldest - 1
        if oldest < low or (high is not None and youngest > high):
            problems.append(
                Problem(
                    "birth_year",
                    "birth_year_age_group",
                    {
                        "year": year,
                        "age": youngest if youngest >= 0 else 0,
                        "age_to": oldest,
                        "group": client.age_group,
                    },
                )
            )
    return problems


def check_date(
    day: object,
    today: dt.date,
    started: dt.date | None,
    ended: dt.date | None,
    previous: SessionRow | None,
    following: SessionRow | None,
) -> list[Problem]:
    """A session's date: not in the future, within the episode, between its neighbours."""
    if not isinstance(day, dt.date):
        return [Problem("session_date", "date_missing")]
    if day > today:
        return [Problem("session_date", "date_future", {"today": today})]
    if started is not None and day < started:
        return [Problem("session_date", "date_before_episode", {"started": started})]
    if ended is not None and day > ended:
        return [Problem("session_date", "date_after_episode", {"ended": ended})]
    if previous is not None and day < previous.session_date:
        return [
            Problem(
                "session_date",
                "date_before_previous",
                {"number": previous.session_no, "date": previous.session_date},
            )
        ]
    if following is not None and day > following.session_date:
        return [
            Problem(
                "session_date",
                "date_after_next",
                {"number": following.session_no, "date": following.session_date},
            )
        ]
    return []


def validate_registration(
    registration: Registration, episode: EpisodeState | None, today: dt.date
) -> list[Problem]:
    """Check a new session against the rules and the episode it goes into.

    Args:
        registration: What is to be saved.
        episode: The episode as saved now, or None when a new episode is started.
        today: The date today; a session cannot be in the future.
    """
    problems: list[Problem] = []
    if registration.new_client is not None:
        problems += validate_new_client(registration.new_client, registration.session_date)
    if registration.ors is None and registration.srs is None:
        problems.append(Problem("scores", "nothing_to_save"))
    for form, scores in (("ors", registration.ors), ("srs", registration.srs)):
        if scores is not None:
            problems += validate_scores(form, scores)
    day = registration.session_date
    if episode is None:
        if registration.format not in FORMATS:
            problems.append(Problem("format", "format_unknown"))
        return problems + check_date(day, today, None, None, None, None)
    if episode.ended is not None:
        problems.append(
            Problem(
                "episode", "episode_ended", {"ended": episode.ended, "episode": episode.episode_id}
            )
        )
        return problems
    previous = max(episode.sessions, key=lambda s: s.session_no, default=None)
    same_day = episode.session_on(day) if isinstance(day, dt.date) else None
    if same_day is not None:
        key = "session_on_date_without_srs" if same_day.srs is None else "session_on_date"
        problems.append(Problem("session_date", key, {"number": same_day.session_no, "date": day}))
        return problems
    return problems + check_date(day, today, episode.started, None, previous, None)


def _neighbours(
    episode: EpisodeState, session_id: int
) -> tuple[SessionRow | None, SessionRow | None]:
    ordered = sorted(episode.sessions, key=lambda s: s.session_no)
    index = next(i for i, s in enumerate(ordered) if s.session_id == session_id)
    previous = ordered[index - 1] if index > 0 else None
    following = ordered[index + 1] if index + 1 < len(ordered) else None
    return previous, following


def validate_free_text(field_name: str, text: str) -> list[Problem]:
    """Check a free text that is stored (a correction's reason): nothing that identifies a person.

    Refused: a national identity number in any spelling, an e-mail address, a phone number,
    and a text that is a person's name (``Kari Nordmann``). Two lower-case words are not taken
    for a name here, unlike in a team name: "feil dato" and "item typo" are reasons.
    """
    finding = text_problem(text, Column.FREE_TEXT)
    if finding is None or (finding is Finding.NAME and text.islower()):
        return []
    return [Problem(field_name, "text_personal", {"what": f"finding.{finding.value}"})]


def validate_correction(
    correction: Correction, session_id: int, episode: EpisodeState, today: dt.date
) -> list[Problem]:
    """Check a correction of a saved session: the same rules as a new session, and a reason.

    The date must stay between the neighbouring sessions (session numbers follow dates), not
    after the episode's end and not in the future. The first session may move before the
    episode's start (the start moves with it). A correction that changes nothing is refused.
    """
    current = episode.session(session_id)
    if current is None:
        return [Problem("session", "session_unknown", {"session": session_id})]
    problems: list[Problem] = []
    reason = correction.reason.strip() if isinstance(correction.reason, str) else ""
    if len(reason.replace(" ", "")) < MIN_REASON_LENGTH:
        problems.append(Problem("reason", "reason_missing", {"count": MIN_REASON_LENGTH}))
    else:
        problems += validate_free_text("reason", reason)
    if correction.ors is None and correction.srs is None:
        problems.append(Problem("scores", "nothing_to_save"))
    for form, scores in (("ors", correction.ors), ("srs", correction.srs)):
        if scores is not None:
            problems += validate_scores(form, scores)
    previous, following = _neighbours(episode, session_id)
    started = episode.started if previous is not None else None
    problems += check_date(
        correction.session_date, today, started, episode.ended, previous, following
    )
    if not problems:
        new = (correction.session_date, score_columns(correction.ors, correction.srs))
        old = (current.session_date, score_columns(current.ors, current.srs))
        if new == old:
            problems.append(Problem("scores", "nothing_changed"))
    return problems


def validate_end(
    episode: EpisodeState,
    ended: object,
    end_type: object,
    today: dt.date,
    last_date: dt.date | None,
) -> list[Problem]:
    """Check ending an episode: an end type, a date from its last session up to today.

    Args:
        episode: The episode.
        ended: The last day of the episode.
        end_type: ``planned``, ``unplanned`` or ``transferred``.
        today: The date today.
        last_date: The latest session in the episode by anyone (partners, parents included).
    """
    if episode.ended is not None:
        return [Problem("episode", "episode_already_ended", {"ended": episode.ended})]
    problems: list[Problem] = []
    if end_type not in END_TYPES:
        problems.append(Problem("end_type", "end_type_missing"))
    if not isinstance(ended, dt.date):
        problems.append(Problem("end_date", "date_missing"))
    elif ended > today:
        problems.append(Problem("end_date", "date_future", {"today": today}))
    elif ended < episode.started:
        problems.append(Problem("end_date", "end_before_start", {"started": episode.started}))
    elif last_date is not None and ended < last_date:
        problems.append(Problem("end_date", "end_before_last_session", {"date": last_date}))
    return problems
