"""Each discussion's follow-up and its sentence (fitdata.features.follow_up, issue 22)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.data.store import reader_for
from fitdata.features import case_discussions as cd
from fitdata.features import follow_up as fu
from fitdata.features.case_discussions import FlagThen
from fitdata.i18n import Translator
from tests.unit.test_team_review import MON, build_review_db, line_model

AS_OF = dt.date(2025, 3, 3)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_review_db(tmp_path_factory.mktemp("fu") / "review.duckdb")
    values = {
        "forum": "team_meeting",
        "agreed": ["talk_feedback"],
        "source": "team_review",
        "actor": "sigrid",
        "today": AS_OF,
    }
    # E1 K-STAG: weekly ORS 15, 15.5, 16, 16, 16.5, 17 ...; the line is intake + 2 = 17 from
    # session 2. Discussed the day after session 3: sessions 4 and 5 below, 6 exactly on it.
    cd.record_discussion(
        path,
        episode_id="E1",
        discussed_on=MON + dt.timedelta(weeks=2, days=1),
        flags_then=[FlagThen("K-STAG", "not_on_track", 3)],
        **values,
    )
    # E1 again after session 7: one session (8) since, not yet the window's end.
    cd.record_discussion(
        path,
        episode_id="E1",
        discussed_on=MON + dt.timedelta(weeks=6, days=1),
        flags_then=[FlagThen("K-STAG", "no_reliable_change", 7)],
        **values,
    )
    return path


def _frame(db: Path):
    reader = reader_for(db)
    return reader, cd.discussions(reader, episode_ids=["E1"])


def test_back_on_track_exactly_at_the_line_and_too_early(db: Path) -> None:
    reader, frame = _frame(db)
    found = fu.discussion_follow_ups(reader, frame, as_of=AS_OF, model=line_model())
    first, second = (found[int(i)] for i in frame["discussion_id"])
    assert (first.outcome, first.at_session) == ("back_on_track", 3)
    assert first.sessions_since == 5
    # Session 8 (18.0) is above the line (17.0): back on track early, the window still open.
    assert (second.outcome, second.at_session, second.window_complete) == (
        "back_on_track",
        1,
        False,
    )
    assert second.sessions_since == 1


def test_the_sentence_in_both_languages(db: Path) -> None:
    reader, frame = _frame(db)
    found = fu.discussion_follow_ups(reader, frame, as_of=AS_OF, model=line_model())
    row = frame.iloc[0]
    follow = found[int(row["discussion_id"])]
    en = fu.follow_up_sentence(row, follow, Translator("en"))
    nb = fu.follow_up_sentence(row, follow, Translator("nb"))
    day = row["discussed_on"]
    assert en == f"discussed {day.isoformat()}, back on track after 3 sessions"
    assert nb == f"drøftet {day.strftime('%d.%m.%Y')}, tilbake på sporet etter 3 samtaler"
    still = fu.FollowUp("still_off_track", 3, None, True)
    assert fu.follow_up_sentence(row, still, Translator("en")).endswith(
        "still not on track after 3 sessions"
    )


def test_every_outcome_has_a_sentence_in_both_languages() -> None:
    from fitdata.analytics.follow_up import OUTCOMES

    row = {"discussed_on": dt.date(2025, 11, 3)}
    for lang in ("en", "nb"):
        tr = Translator(lang)
        for outcome in OUTCOMES:
            for n in (0, 1, 3):
                text = fu.follow_up_sentence(row, fu.FollowUp(outcome, n, None, True), tr)
                assert "{" not in text and text
        assert "4" in fu.rule_text(tr) and "8" in fu.rule_text(tr)
