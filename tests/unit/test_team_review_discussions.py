"""The team review's last discussion of each case and the "follow-up due" list (issue 22)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.features import case_discussions as cd
from fitdata.features import team_review as cl
from fitdata.features.case_discussions import FlagThen
from fitdata.i18n import Translator
from fitdata.outputs import team_review as review_files
from tests.unit.test_team_review import build_review_db, line_model

AS_OF = dt.date(2025, 3, 3)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_review_db(tmp_path / "review.duckdb")


def _record(db: Path, episode: str, day: dt.date, flags, **kwargs) -> cd.Discussion:
    values = {
        "episode_id": episode,
        "discussed_on": day,
        "forum": "team_meeting",
        "agreed": ["talk_feedback"],
        "source": "team_review",
        "actor": "sigrid",
        "flags_then": flags,
        "today": AS_OF,
    }
    return cd.record_discussion(db, **{**values, **kwargs})


def _cases(db: Path):
    from fitdata.data.store import reader_for

    reader = reader_for(db)
    model = line_model()
    caseload = cl.team_caseload(reader, team_id="T1", as_of=AS_OF, model=model)
    return caseload, cl.with_discussions(reader, caseload, caseload.cases, model=model)


def test_a_case_without_discussion_has_empty_columns(db: Path) -> None:
    _, cases = _cases(db)
    assert set(cl.DISCUSSION_REVIEW_COLUMNS) <= set(cases.columns)
    assert cases["last_discussed"].isna().all()
    assert not cases["follow_up_due"].any()
    assert cl.follow_up_due(cases).empty


def test_the_last_discussion_its_follow_up_and_whether_its_flag_still_holds(db: Path) -> None:
    # E1 K-STAG: no reliable change now, discussed twice; the later one counts
    _record(db, "E1", dt.date(2025, 1, 6), [FlagThen("K-STAG", "not_seen", 1)])
    _record(
        db,
        "E1",
        dt.date(2025, 2, 3),
        [FlagThen("K-STAG", "no_reliable_change", 5), FlagThen("K-STAG", "srs_always_40", 5)],
        agreed=["adjust_goals_method", "more_frequent"],
        follow_up_on=dt.date(2025, 2, 17),
    )
    # E3 K-ALLY: an alliance warning then that no longer holds is resolved
    _record(
        db,
        "E3",
        dt.date(2025, 2, 10),
        [FlagThen("K-ALLY", "reliable_deterioration", 2)],
        follow_up_on=dt.date(2025, 3, 3),
        forum="group_supervision",
    )
    # E6, the couple: one case, discussed once, follow-up not yet come
    _record(db, "E6", dt.date(2025, 2, 24), [], follow_up_on=dt.date(2025, 3, 10))
    caseload, cases = _cases(db)
    row = cases.set_index("episode_id")
    e1 = row.loc["E1"]
    assert e1["last_discussed"] == dt.date(2025, 2, 3)
    assert e1["last_agreed"] == ("adjust_goals_method", "more_frequent")
    assert e1["follow_up_due"] and e1["days_overdue"] == (AS_OF - dt.date(2025, 2, 17)).days
    assert bool(caseload.cases.set_index("episode_id").loc["E1", "no_reliable_change"])
    assert e1["still_flag"] == "no_reliable_change" and e1["resolved_flag"] == ""
    assert e1["discussed_flags"] == ("no_reliable_change",)  # a data prompt is not a warning
    # E1's sessions are weekly from 2025-01-06; after 2025-02-03 (session 5) come 6, 7, 8
    assert e1["sessions_since_discussion"] == 3
    e3 = row.loc["E3"]
    assert e3["still_flag"] == "" and e3["resolved_flag"] == "reliable_deterioration"
    assert e3["follow_up_due"] and e3["days_overdue"] == 0  # due on the day itself
    assert e3["last_forum"] == "group_supervision"
    assert len(cases[cases["episode_id"] == "E6"]) == 1
    assert not row.loc["E6", "follow_up_due"] and pd_isna(row.loc["E6", "days_overdue"])
    # most overdue first
    assert cl.follow_up_due(cases)["episode_id"].tolist() == ["E1", "E3"]


def test_a_withdrawn_discussion_is_not_the_last(db: Path) -> None:
    first = _record(db, "E2", dt.date(2025, 2, 3), [], follow_up_on=dt.date(2025, 2, 10))
    second = _record(db, "E2", dt.date(2025, 2, 24), [], note=None)
    cd.withdraw_discussion(db, second.discussion_id, reason="recorded twice", actor="sigrid")
    _, cases = _cases(db)
    e2 = cases.set_index("episode_id").loc["E2"]
    assert e2["last_discussion_id"] == first.discussion_id and e2["follow_up_due"]


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_download_has_the_last_discussion_columns(db: Path, lang: str) -> None:
    _record(
        db,
        "E1",
        dt.date(2025, 2, 3),
        [FlagThen("K-STAG", "no_reliable_change", 5)],
        agreed=["adjust_goals_method"],
        follow_up_on=dt.date(2025, 2, 17),
    )
    caseload, cases = _cases(db)
    tr = Translator(lang)
    table = review_files.case_list_table(cases, caseload.flags, tr).set_index(
        tr.text("review.column.episode")
    )
    last = tr.text("review.column.last_discussion")
    agreed = tr.text("review.column.agreed")
    follow = tr.text("review.column.follow_up")
    assert table.loc["E1", last] == dt.date(2025, 2, 3)
    assert table.loc["E1", agreed] == cd.action_label(
        cl.DEFAULT_CONFIG, "adjust_goals_method", lang
    )
    assert table.loc["E1", follow] == dt.date(2025, 2, 17)
    outcome = table.loc["E1", tr.text("review.column.discussion_outcome")]
    # by the follow-up rule: session 6 (ORS 17.0) is exactly on the lower line, 15 + 2; the
    # warning discussed then still holds, and the sentence says so
    date = tr.date(dt.date(2025, 2, 3))
    back = tr.count_text("follow_up.sentence.back_on_track", 1, date=date, n=1)
    flag = tr.text("flag.label.no_reliable_change")
    assert outcome == back + tr.text("review.discussion.still_now", flag=flag[0].lower() + flag[1:])
    assert cases.set_index("episode_id").loc["E1", "follow_up_outcome"] == "back_on_track"
    assert pd_isna(table.loc["E2", last]) and table.loc["E2", agreed] == ""


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
