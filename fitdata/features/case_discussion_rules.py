"""Case discussions' values and rules: what is stored, what may be saved, and why not.

Pure, no I/O: :mod:`fitdata.features.case_discussions` writes and reads with them, and a page
checks a form with :func:`validate_discussion` as the person types. A note or a reason is free
text about a client, so it is held to the importer's rules (:mod:`fitdata.identifiers`): no
national identity number in any spelling (the database's stricter rule too, as for codes: 11
digits in a row are refused), no e-mail address or phone number, and no person's name: two to
four capitalised words in a row within a sentence (``Kari Nordmann``, ``Ola M. Hansen``; words
of teams and services such as ``Team Nord`` and acronyms such as ``BUP`` are not names). A
first name alone, or a name in lower case, cannot be told from other words; the form warns
about it (``discussion_record.note_warning``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.i18n import Translator
from fitdata.identifiers import (
    Column,
    Finding,
    contains_national_id,
    might_be_identity_number,
    text_problem,
)
from fitdata.vocabulary import DISCUSSION_SOURCES, FORUMS

__all__ = [
    "MAX_NOTE_LENGTH",
    "MIN_REASON_LENGTH",
    "Discussion",
    "DiscussionError",
    "DiscussionProblem",
    "FlagThen",
    "action_choices",
    "action_label",
    "note_problem",
    "problem_text",
    "reason_problems",
    "validate_discussion",
]


#: The longest note (characters), as the database's CHECK.
MAX_NOTE_LENGTH = 280
#: The shortest reason for a correction or withdrawal (characters, after trimming).
MIN_REASON_LENGTH = 3


# -- values ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagThen:
    """One flag that held when the case was discussed: whose, which, at which session."""

    client_id: str
    flag: str
    session_no: int | None


@dataclass(frozen=True)
class Discussion:
    """One recorded case discussion (a row of ``case_discussions``)."""

    discussion_id: int
    episode_id: str
    team_id: str
    therapist_id: str
    discussed_on: dt.date
    forum: str
    flags_then: tuple[FlagThen, ...]
    agreed: tuple[str, ...]
    note: str | None
    follow_up_on: dt.date | None
    source: str
    recorded_by: str
    recorded_at: dt.datetime
    withdrawn: bool = False


@dataclass(frozen=True)
class DiscussionProblem:
    """Why a discussion cannot be saved: the field and a ``discussion_record.error.*`` key."""

    field: str
    key: str
    values: dict[str, Any] = field(default_factory=dict)


class DiscussionError(ValueError):
    """A discussion was refused; ``problems`` says why (the database is unchanged)."""

    def __init__(self, problems: Sequence[DiscussionProblem]) -> None:
        self.problems = list(problems)
        tr = Translator("en")
        super().__init__(" ".join(problem_text(p, tr) for p in self.problems))

    def __reduce__(self) -> tuple[type[DiscussionError], tuple[list[DiscussionProblem]]]:
        """Pickle with the problems: a group-committed write's refusal reaches its writer."""
        return (type(self), (self.problems,))


class _Given(dict[str, str]):
    """Values for a message; a placeholder without one reads as nothing (never ``{episode}``)."""

    def __missing__(self, key: str) -> str:
        return ""


def problem_text(problem: DiscussionProblem, tr: Translator) -> str:
    """The problem as a sentence in the translator's language.

    A value the problem does not carry (a page that keeps an episode id out of an anonymous
    view) is left out of the sentence rather than shown as its placeholder.
    """
    values = _Given(
        (name, tr.date(value) if isinstance(value, dt.date) else str(value))
        for name, value in problem.values.items()
    )
    template = tr.text(f"discussion_record.error.{problem.key}")
    return " ".join(template.format_map(values).split())


def action_label(config: ClinicalConfig, code: str, lang: str) -> str:
    """The label of an action code in ``lang``; the code itself if the list no longer has it."""
    action = config.action(code)
    return code if action is None else action.label(lang)


def action_choices(config: ClinicalConfig, lang: str) -> list[tuple[str, str]]:
    """``(label, code)`` pairs of the configured actions, in the configured order."""
    return [(a.label(lang), a.code) for a in config.discussion_actions]


# -- rules -------------------------------------------------------------------------------------
_TOKEN_EDGE = "()[]{}\"'«»“”‘’,;:!?"


def _capitalised_runs(text: str) -> Iterable[str]:
    """Every 2-4 word run of capitalised words (and initials) within one sentence."""
    for sentence in re.split(r"(?<=\w\w[.!?;:])\s+|\n+", text):
        words = [w.strip(_TOKEN_EDGE) for w in sentence.split()]
        run: list[str] = []
        for word in [*words, ""]:
            if word[:1].isupper():
                run.append(word.rstrip(".") if len(word) > 2 else word)
                continue
            for size in range(2, 5):
                for start in range(len(run) - size + 1):
                    yield " ".join(run[start : start + size])
            run = []


def note_problem(text: str | None) -> str | None:
    """What is wrong with a note or reason (a ``discussion_record.error.*`` key), or None.

    Refused: more than :data:`MAX_NOTE_LENGTH` characters; a national identity number (also
    the database's stricter rule); an e-mail address or phone number; a person's name (see the
    module docstring).
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_NOTE_LENGTH:
        return "note_too_long"
    if contains_national_id(text) or might_be_identity_number(text):
        return "note_identity_number"
    finding = text_problem(text, Column.FREE_TEXT)
    if finding in (Finding.EMAIL, Finding.PHONE):
        return "note_contact"
    # only capitalised words: in a note, "kari nordmann" cannot be told from "feil forum"
    if any(text_problem(run, Column.FREE_TEXT) is Finding.NAME for run in _capitalised_runs(text)):
        return "note_name"
    return None


def validate_discussion(
    *,
    discussed_on: object,
    forum: object,
    agreed: object,
    note: object = None,
    follow_up_on: object = None,
    source: object = "team_review",
    actor: object = "x",
    config: ClinicalConfig = DEFAULT_CONFIG,
    today: dt.date | None = None,
) -> list[DiscussionProblem]:
    """Every reason why this discussion cannot be saved (empty: it can). Pure.

    Args:
        discussed_on: The date of the discussion: not in the future.
        forum: One of :data:`fitdata.vocabulary.FORUMS`.
        agreed: One or more codes of ``config.discussion_actions``, each once.
        note: Optional, at most :data:`MAX_NOTE_LENGTH` characters, no identity number,
            contact detail or name (:func:`note_problem`).
        follow_up_on: Optional; on or after the discussion.
        source: One of :data:`fitdata.vocabulary.DISCUSSION_SOURCES`.
        actor: Who records it (a non-empty name).
        config: The service's choice list.
        today: The date today (default: the system's date).
    """
    today = today or dt.date.today()
    problems: list[DiscussionProblem] = []
    if not isinstance(discussed_on, dt.date) or isinstance(discussed_on, dt.datetime):
        problems.append(DiscussionProblem("discussed_on", "date_missing"))
    elif discussed_on > today:
        problems.append(DiscussionProblem("discussed_on", "date_future", {"date": discussed_on}))
    if forum not in FORUMS:
        problems.append(DiscussionProblem("forum", "forum_unknown", {"forum": forum}))
    codes = [agreed] if isinstance(agreed, str) else list(agreed or [])  # type: ignore[call-overload]
    known = {a.code for a in config.discussion_actions}
    if not codes:
        problems.append(DiscussionProblem("agreed", "agreed_missing"))
    for code in codes:
        if code not in known:
            problems.append(DiscussionProblem("agreed", "action_unknown", {"code": code}))
    if len(set(map(str, codes))) != len(codes):
        problems.append(DiscussionProblem("agreed", "action_twice"))
    if note is not None and not isinstance(note, str):
        problems.append(DiscussionProblem("note", "note_not_text"))
    elif (key := note_problem(note)) is not None:
        problems.append(DiscussionProblem("note", key, {"limit": MAX_NOTE_LENGTH}))
    if follow_up_on is not None:
        if not isinstance(follow_up_on, dt.date) or isinstance(follow_up_on, dt.datetime):
            problems.append(DiscussionProblem("follow_up_on", "follow_up_not_date"))
        elif isinstance(discussed_on, dt.date) and follow_up_on < discussed_on:
            problems.append(
                DiscussionProblem(
                    "follow_up_on",
                    "follow_up_before",
                    {"date": follow_up_on, "discussed": discussed_on},
                )
            )
    if source not in DISCUSSION_SOURCES:
        problems.append(DiscussionProblem("source", "source_unknown", {"source": source}))
    if not isinstance(actor, str) or not actor.strip():
        problems.append(DiscussionProblem("actor", "actor_missing"))
    return problems


def reason_problems(reason: object) -> list[DiscussionProblem]:
    """Why a correction's or withdrawal's reason cannot be saved (empty: it can)."""
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
        return [DiscussionProblem("reason", "reason_missing", {"min": MIN_REASON_LENGTH})]
    key = note_problem(reason)
    return [] if key is None else [DiscussionProblem("reason", key, {"limit": MAX_NOTE_LENGTH})]
