"""The case discussion panel (issue 22) driven in plain Python: record, refuse, correct, review."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.store import reader_for
from fitdata.ui import DashboardContext, TeamReviewView
from fitdata.ui.case_discussion import DiscussionPanel, discussion_panel
from tests.unit.test_team_review import AS_OF, build_review_db, line_model

TODAY = dt.date(2025, 3, 3)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = build_review_db(tmp_path / "review.duckdb")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T1"])
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "aase", "therapist", therapist_id="B3")  # team T2
    access.add_user(path, "leder", "leader")
    return path


def panel(db: Path, user: str, episode: str = "E1", lang: str = "en", **kwargs) -> DiscussionPanel:
    context = DashboardContext(db, lang=lang, user=user)
    made = discussion_panel(context, episode, source="team_review", model=line_model(), **kwargs)
    made._today = TODAY  # the review's date (the form's "today")
    made.set_episode(episode, force=True)
    return made


def stored(db: Path) -> list[tuple]:
    return reader_for(db).rows(
        "SELECT episode_id, forum, agreed, note, follow_up_on, source, recorded_by, flags_then "
        "FROM case_discussions ORDER BY discussion_id"
    )


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_supervisor_records_a_discussion_with_the_flags_now(db: Path, lang: str) -> None:
    form = panel(db, "sigrid", lang=lang)
    assert form.date.value == TODAY and form.forum.value == "team_meeting"
    assert list(form.agreed) == [
        "talk_feedback",
        "adjust_goals_method",
        "more_frequent",
        "consider_referral",
        "no_change",
    ]
    # the flags that hold now are what will be stored
    assert 'data-flag="no_reliable_change"' in form.flags_now.value
    form.quick[4].click()
    assert form.follow_up.value == TODAY + dt.timedelta(weeks=4)
    # nothing agreed: refused, nothing written
    form.save.click()
    assert "fitdata-error-text" in form.message.value and stored(db) == []
    form.agreed["adjust_goals_method"].value = True
    form.agreed["more_frequent"].value = True
    form.note.value = "Mål justeres"
    assert form.note_error.value == ""
    form.save.click()
    [row] = stored(db)
    assert row[:7] == (
        "E1",
        "team_meeting",
        ["adjust_goals_method", "more_frequent"],
        "Mål justeres",
        TODAY + dt.timedelta(weeks=4),
        "team_review",
        "sigrid",
    )
    assert {f["flag"] for f in row[7]} >= {"no_reliable_change"}
    assert "fitdata-ok-text" in form.message.value
    # the form is fresh, and the case's discussions list it with who recorded it
    assert not any(box.value for box in form.agreed.values()) and form.note.value == ""
    assert 'data-discussion="1"' in form.history.value and "sigrid" in form.history.value
    heading = "Drøftinger av saken" if lang == "nb" else "Discussions of this case"
    assert heading in form.history.value


def test_a_name_or_identity_number_is_refused_under_the_field(db: Path) -> None:
    form = panel(db, "kari")
    form.agreed["talk_feedback"].value = True
    form.note.value = "Snakket med Kari Nordmann om målene"
    assert "name" in form.note_error.value  # as one types
    form.save.click()
    assert stored(db) == [] and "name" in form.note_error.value
    form.note.value = "fnr 01017012345"
    assert "identity number" in form.note_error.value
    form.save.click()
    assert stored(db) == []


def test_a_correction_keeps_the_old_values_and_a_withdrawal_too(db: Path) -> None:
    form = panel(db, "sigrid")
    form.agreed["talk_feedback"].value = True
    form.save.click()
    form.correct.value = 1
    assert form.agreed["talk_feedback"].value and form.save.description == "Save the correction"
    form.agreed["consider_referral"].value = True
    form.save.click()  # no reason: refused
    assert "reason" in form.message.value and stored(db)[0][2] == ["talk_feedback"]
    form.reason.value = "agreed more than first written"
    form.save.click()
    assert stored(db)[0][2] == ["talk_feedback", "consider_referral"]
    old = reader_for(db).rows("SELECT change_type, old_agreed, reason FROM case_discussion_changes")
    assert old == [("correction", ["talk_feedback"], "agreed more than first written")]
    assert "corrected" in form.history.value
    form.correct.value = 1
    form.reason.value = "wrong case"
    form.withdraw.click()
    assert "withdrawn" in form.history.value
    assert [o[1] for o in form.correct.options] == [0]  # a withdrawn one cannot be corrected


def test_another_teams_therapist_and_a_leader_cannot_record_or_see(db: Path) -> None:
    panel(db, "sigrid").agreed["talk_feedback"].value = True
    mine = panel(db, "sigrid")
    mine.agreed["talk_feedback"].value = True
    mine.save.click()
    assert len(stored(db)) == 1
    for user in ("aase", "leder"):
        other = panel(db, user)
        assert (
            "sigrid" not in other.history.value and 'data-discussion="1"' not in other.history.value
        )
        other.agreed["talk_feedback"].value = True
        other.save.click()
        assert "fitdata-error-text" in other.message.value
        assert len(stored(db)) == 1


def test_the_review_shows_the_last_discussion_and_lists_follow_ups_due(db: Path) -> None:
    view = TeamReviewView(DashboardContext(db, user="sigrid"), model=line_model())
    view.as_of.value = AS_OF
    keys = [row["key"] for row in view.table.rows]
    stag = next(k for k in keys if k.startswith("E1|"))
    view.table.selected = stag
    form = view.discussion
    assert form.layout.display is None and "Not discussed yet" in form.history.value
    form.date.value = dt.date(2025, 2, 3)
    form.agreed["adjust_goals_method"].value = True
    form.follow_up.value = dt.date(2025, 2, 17)
    form.save.click()
    row = next(r for r in view.table.rows if r["key"] == stag)
    cell = row["cells"]["last_discussed"]
    # not on track when discussed (stored then); by the follow-up rule back on track at the
    # first session after it: session 6's ORS 17.0 is exactly on the lower line (15 + 2)
    assert cell.split("\n") == [
        "discussed 2025-02-03, back on track after 1 session",
        "adjust goals or method",
        "follow-up due 2025-02-17 (14 days ago)",
    ]
    # the panel's list says the same, with the rule
    assert "discussed 2025-02-03, back on track after 1 session" in form.history.value
    assert "Back on track: an ORS at or above the lower expected line" in form.history.value
    others = [r["cells"]["last_discussed"] for r in view.table.rows if r["key"] != stag]
    assert set(others) == {"\u2013"}
    view.presets["follow_up_due"].click()
    assert view.follow_up_only.value and [r["key"] for r in view.table.rows] == [stag]
    view.presets["stagnating"].click()
    assert not view.follow_up_only.value
    # the download carries the columns
    table = view.export_table()
    assert table["Last discussed"].notna().sum() == 1 and "Since the discussion" in table.columns


def test_the_review_stores_the_flags_it_shows_without_judging_them_again(
    db: Path, monkeypatch
) -> None:
    """A discussion dated on or after the list's date stores the list's current flags."""
    from fitdata.features import case_discussions

    view = TeamReviewView(DashboardContext(db, user="sigrid"), model=line_model())
    view.as_of.value = AS_OF
    stag = next(row["key"] for row in view.table.rows if row["key"].startswith("E1|"))
    listed = view._caseload.flags
    listed = listed[(listed["episode_id"] == "E1") & listed["current"].astype(bool)]

    def refuse(*_args, **_kwargs):
        raise AssertionError("the flags the list shows were judged again")

    judge = case_discussions.current_flags
    monkeypatch.setattr(case_discussions, "current_flags", refuse)
    view.table.selected = stag
    form = view.discussion
    form._today = AS_OF
    form.set_episode("E1", force=True, flags_as_of=view._flags_now("E1"))
    assert {(f.client_id, f.flag) for f in form._flags} == set(
        zip(listed["client_id"], listed["flag"], strict=True)
    )
    assert form._flags  # E1 is stagnating now
    # ... and they are the flags the record's own rule finds on that day
    model = line_model()
    reader = reader_for(db)
    assert form._flags == judge(reader, "E1", AS_OF, model=model)
    # an earlier date is judged afresh
    monkeypatch.setattr(case_discussions, "current_flags", judge)
    form.date.value = AS_OF - dt.timedelta(weeks=8)
    assert form._flags == judge(reader, "E1", AS_OF - dt.timedelta(weeks=8), model=model)
