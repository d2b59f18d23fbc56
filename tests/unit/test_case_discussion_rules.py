"""The pure rules of a case discussion (issue 22): dates, choices, and what a note may hold."""

from __future__ import annotations

import datetime as dt

import pytest

from fitdata.config import DEFAULT_CONFIG, DISCUSSION_ACTIONS
from fitdata.features import case_discussion_rules as rules
from fitdata.i18n import Translator
from fitdata.vocabulary import FORUMS

TODAY = dt.date(2025, 2, 10)


def keys(**kwargs) -> list[str]:
    values = {"discussed_on": TODAY, "forum": "team_meeting", "agreed": ["no_change"]}
    return [p.key for p in rules.validate_discussion(**{**values, **kwargs}, today=TODAY)]


def test_a_discussion_today_with_a_follow_up_the_same_day_is_fine() -> None:
    assert keys(follow_up_on=TODAY) == []
    assert keys(discussed_on=TODAY - dt.timedelta(days=400), follow_up_on=TODAY) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"discussed_on": TODAY + dt.timedelta(days=1)}, ["date_future"]),
        ({"discussed_on": dt.datetime(2025, 2, 1, 10, 0)}, ["date_missing"]),
        ({"discussed_on": None}, ["date_missing"]),
        ({"follow_up_on": TODAY - dt.timedelta(days=1)}, ["follow_up_before"]),
        ({"follow_up_on": "2025-03-01"}, ["follow_up_not_date"]),
        ({"agreed": "no_change"}, []),  # one code given alone
        ({"agreed": None}, ["agreed_missing"]),
        ({"note": 42}, ["note_not_text"]),
        ({"note": "   "}, []),
        ({"note": "x" * rules.MAX_NOTE_LENGTH}, []),
        ({"note": "x" * (rules.MAX_NOTE_LENGTH + 1)}, ["note_too_long"]),
        ({"forum": "Team meeting"}, ["forum_unknown"]),
        ({"actor": None}, ["actor_missing"]),
    ],
)
def test_each_rule_at_its_edge(kwargs, expected) -> None:
    assert keys(**kwargs) == expected


@pytest.mark.parametrize(
    ("note", "key"),
    [
        ("01019010046", "note_identity_number"),
        ("K 010190-10046 drøftet", "note_identity_number"),
        ("1019010046", "note_identity_number"),  # Excel lost the leading zero
        ("ring +47 987 65 432", "note_contact"),
        ("send til ola@example.no", "note_contact"),
        ("Kari Nordmann", "note_name"),
        ("Nordmann, Kari", "note_name"),
        ("møtte Ola-Kristian Ødegård i dag", "note_name"),
        ("Mål: bedre søvn.", None),
        ("Team Nord og BUP Sør drøftet", None),
        ("Neste samtale om 2 uker, ORS 24,5", None),
        ("I think so", None),  # an initial and a word are no name
    ],
)
def test_what_a_note_may_not_hold(note, key) -> None:
    assert rules.note_problem(note) == key


def test_the_choices_and_forums_have_labels_in_both_languages() -> None:
    assert [a.code for a in DISCUSSION_ACTIONS] == [
        "talk_feedback",
        "adjust_goals_method",
        "more_frequent",
        "consider_referral",
        "no_change",
    ]
    assert DEFAULT_CONFIG.discussion_actions == DISCUSSION_ACTIONS
    assert rules.action_choices(DEFAULT_CONFIG, "en")[0] == (
        "talk with the client about the feedback",
        "talk_feedback",
    )
    for lang in ("en", "nb"):
        tr = Translator(lang)
        for forum in FORUMS:
            assert tr.text(f"forum.{forum}") != f"forum.{forum}"
        assert tr.text("discussion_record.note_warning")
    assert rules.action_label(DEFAULT_CONFIG, "no_change", "nb") == "ingen endring"


def test_a_refusal_pickles_with_its_problems() -> None:
    import pickle

    error = rules.DiscussionError([rules.DiscussionProblem("note", "note_name")])
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == error.problems and str(again) == str(error)
    assert "name" in str(again)


def test_a_problem_without_its_values_reads_without_placeholders() -> None:
    bare = rules.DiscussionProblem("episode_id", "episode_unknown")
    for lang in ("en", "nb"):
        text = rules.problem_text(bare, Translator(lang))
        assert "{" not in text and "  " not in text and text.endswith(".")
    given = rules.DiscussionProblem("episode_id", "episode_unknown", {"episode": "E7"})
    assert rules.problem_text(given, Translator("en")) == "There is no episode E7 in the database."
