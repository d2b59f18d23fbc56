"""Direct registration: one session's ORS and SRS, corrections with a history, ending an episode.

The therapist records the ORS at the start of a session and the SRS at its end, so a session
may be saved with the ORS only and get its SRS later (:func:`add_srs`). Every rule that decides
whether something may be saved is a pure function here (:func:`validate_scores`,
:func:`validate_new_client`, :func:`validate_registration`, ...) returning :class:`Problem` s,
so the dashboard can show them next to the field as the person types, and the write functions
apply the same rules again inside the transaction, against the data as they are at that moment
(another person may have saved in between).

Every write goes through :func:`fitdata.data.store.write_transaction`: writers are serialised by a
lock file, each works on a copy of the latest file and swaps it in atomically, so two people
saving at once both land, no dashboard sees a lock error, and a refused save changes nothing.

The rules mirror the schema's CHECK constraints (items 0-10 and totals 0-40 in 0.1 steps, four
items or none, the national-identity-number guard on client codes) so that a person gets a
clear message rather than a constraint error; :data:`fitdata.config.TIE_TOLERANCE` absorbs float
noise from the sliders.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from fitdata.config import AGE_GROUPS, TIE_TOLERANCE
from fitdata.data import store
from fitdata.data.access import require_client_rows
from fitdata.data.queries import natural_key
from fitdata.i18n import Translator
from fitdata.vocabulary import AGE_RANGES, END_TYPES, FORMS, SCORE_COLUMNS

__all__ = [
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

#: The two forms and their four items, in the order of the paper form.

#: An item is the mark on a 10 cm line, 0.0-10.0 in 0.1 steps; a total is 0.0-40.0
#: (the schema's CHECK constraints on ``sessions``).
ITEM_MAX = 10.0
TOTAL_MAX = 40.0
_STEP_TOLERANCE = 1e-6  # a slider's 7.300000000000001 is 7.3; 7.35 is not a one-decimal score


#: Ages of each age group, inclusive (shared/domain.md: CORS/CSRS for 6-12, adolescents 13-17,
#: adults 18+). Under 6 the YCORS is used, which is not scored.

#: A pseudonymous client code: letters, digits, "-" and "_", 2-32 characters, no spaces (a
#: name is not a code). Never a national identity number: the schema refuses 11 digits (6 + 5,
#: spaces allowed); registration refuses any run of 11 digits inside a code as well.
CLIENT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}")
_NATIONAL_ID = re.compile(r"\s*[0-9]{6}\s*[0-9]{5}\s*")
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")

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


class RegistrationError(ValueError):
    """A save was refused; ``problems`` says why (the database is unchanged)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        tr = Translator("en")
        super().__init__(" ".join(problem_text(p, tr) for p in self.problems))


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


def _columns(ors: Scores | None, srs: Scores | None) -> dict[str, float | None]:
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
    """

    team_id: str
    therapist_id: str
    client_id: str
    episode_id: str | None
    session_date: dt.date
    ors: Scores | None
    srs: Scores | None = None
    new_client: NewClient | None = None


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
def problem_text(problem: Problem, tr: Translator) -> str:
    """The problem as a sentence in the translator's language."""
    values: dict[str, str] = {}
    for name, value in problem.values.items():
        if name == "item":
            values[name] = tr.text(f"item.{value}")
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

    The code must be pseudonymous: never 11 digits (a Norwegian national identity number),
    no spaces (a name is not a code). A birth year must make the client's age in
    ``on_date``'s year fit the age group (the age is known to within one year).
    """
    problems: list[Problem] = []
    code = client.client_id.strip() if isinstance(client.client_id, str) else ""
    if not code:
        problems.append(Problem("client_id", "client_code_missing"))
    elif _NATIONAL_ID.fullmatch(code) or _ELEVEN_DIGITS.search(code):
        problems.append(Problem("client_id", "client_code_national_id"))
    elif not CLIENT_CODE.fullmatch(code):
        problems.append(Problem("client_id", "client_code_format", {"code": code}))
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


def _check_date(
    day: object,
    today: dt.date,
    started: dt.date | None,
    ended: dt.date | None,
    previous: SessionRow | None,
    following: SessionRow | None,
) -> list[Problem]:
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
        return problems + _check_date(day, today, None, None, None, None)
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
    return problems + _check_date(day, today, episode.started, None, previous, None)


def _neighbours(
    episode: EpisodeState, session_id: int
) -> tuple[SessionRow | None, SessionRow | None]:
    ordered = sorted(episode.sessions, key=lambda s: s.session_no)
    index = next(i for i, s in enumerate(ordered) if s.session_id == session_id)
    previous = ordered[index - 1] if index > 0 else None
    following = ordered[index + 1] if index + 1 < len(ordered) else None
    return previous, following


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
    if correction.ors is None and correction.srs is None:
        problems.append(Problem("scores", "nothing_to_save"))
    for form, scores in (("ors", correction.ors), ("srs", correction.srs)):
        if scores is not None:
            problems += validate_scores(form, scores)
    previous, following = _neighbours(episode, session_id)
    started = episode.started if previous is not None else None
    problems += _check_date(
        correction.session_date, today, started, episode.ended, previous, following
    )
    if not problems:
        new = (correction.session_date, _columns(correction.ors, correction.srs))
        old = (current.session_date, _columns(current.ors, current.srs))
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
    return NewClient(code, age_group, None if birth_year is None else int(birth_year))


def team_choices(reader: store.Reader) -> pd.DataFrame:
    """Every team (``team_id``, ``name``), naturally sorted by name: a new team can register."""
    frame = reader.df("SELECT team_id, name FROM teams")
    return frame.sort_values("name", key=lambda s: s.map(natural_key)).reset_index(drop=True)


def therapist_choices(reader: store.Reader, team_id: str) -> pd.DataFrame:
    """Therapists now in the team, and those with an ongoing episode in it (moved since).

    Columns ``therapist_id``, ``name``, naturally sorted by name.
    """
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
    return frame.sort_values("name", key=lambda s: s.map(natural_key)).reset_index(drop=True)


def client_choices(reader: store.Reader, team_id: str, therapist_id: str) -> pd.DataFrame:
    """One row per client and episode with this therapist in this team.

    Columns: ``client_id``, ``episode_id``, ``started``, ``ended``, ``end_type``, ``sessions``
    (the client's own ratings), ``last_date``. Ongoing episodes first, then by client code
    (natural order), newest episode first.
    """
    require_client_rows(reader, "client_list")  # a leader sees aggregates only
    frame = reader.df(
        """
        SELECT s.client_id, s.episode_id, e.started, e.ended, e.end_type,
               count(*) AS sessions, max(s.session_date) AS last_date
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE s.team_id = ? AND s.therapist_id = ? AND s.rater = 'client'
        GROUP BY ALL
        """,
        [team_id, therapist_id],
    )
    frame = frame.sort_values("started", ascending=False)
    frame = frame.sort_values("client_id", key=lambda s: s.map(natural_key), kind="stable")
    frame = frame.sort_values("ended", key=lambda s: s.notna(), kind="stable")
    return frame.reset_index(drop=True)


def session_history(source: Any, session_id: int) -> list[HistoryEntry]:
    """Every change of a saved session, oldest first, with the values before and after."""
    old_columns = ", ".join(f"old_{c}" for c in SCORE_COLUMNS)
    changes = _rows(
        source,
        "SELECT change_id, change_type, changed_at, changed_by, reason, session_no, "
        f"old_session_date, {old_columns} FROM session_changes WHERE session_id = ? "
        "ORDER BY change_id",
        [session_id],
    )
    if not changes:
        return []
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
    reg = registration
    with store.write_transaction(path) as con:
        problems = []
        if not _exists(con, "SELECT 1 FROM teams WHERE team_id = ?", reg.team_id):
            problems.append(Problem("team", "team_unknown", {"team": reg.team_id}))
        if not _exists(con, "SELECT 1 FROM therapists WHERE therapist_id = ?", reg.therapist_id):
            problems.append(
                Problem("therapist", "therapist_unknown", {"therapist": reg.therapist_id})
            )
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
            **_columns(reg.ors, reg.srs),
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
    old = {f"old_{k}": v for k, v in _columns(before.ors, before.srs).items()}
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
    values = {"session_date": day, **_columns(ors, srs)}
    assignments = ", ".join(f"{name} = ?" for name in values)
    con.execute(
        f"UPDATE sessions SET {assignments} WHERE session_id = ?",
        [*values.values(), session_id],
    )


def _require_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise RegistrationError([Problem("therapist", "actor_missing")])


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
    with store.write_transaction(path) as con:
        episode = _locate(con, session_id)
        before = episode.session(session_id)
        assert before is not None  # _locate found it
        if before.srs is not None:
            raise RegistrationError(
                [Problem("srs", "srs_already_given", {"number": before.session_no})]
            )
        _record_change(con, episode, before, "srs_added", actor.strip(), None, now or _utc_now())
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
    with store.write_transaction(path) as con:
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
            actor.strip(),
            correction.reason.strip(),
            now or _utc_now(),
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
    with store.write_transaction(path) as con:
        episode = load_episode_state(con, episode_id, "")
        if episode is None:
            raise RegistrationError(
                [Problem("episode", "episode_unknown", {"episode": episode_id})]
            )
        last = _rows(
            con, "SELECT max(session_date) FROM sessions WHERE episode_id = ?", [episode_id]
        )
        problems = validate_end(episode, ended, end_type, today, last[0][0])
        if problems:
            raise RegistrationError(problems)
        con.execute(
            "UPDATE episodes SET ended = ?, end_type = ? WHERE episode_id = ?",
            [ended, end_type, episode_id],
        )
