"""The group exercise as a group sees it (issue 23): the link's team, predicting, the minimum.

Each test drives the real view over a generated database and checks what the page would show
against the database read directly.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.data.store import reader_for
from fitdata.features import group_exercise as ge
from fitdata.ui import DashboardContext, GroupExerciseView

TEAM = "T01"


@pytest.fixture(scope="module")
def model(demo_db):
    return ge.trajectory_model(reader_for(demo_db))


def view_of(db, lang: str = "en", team: str = TEAM) -> GroupExerciseView:
    view = GroupExerciseView(DashboardContext(db, lang=lang))
    view.team.value = team
    return view


# -- the team follows the link ---------------------------------------------------------------


@pytest.mark.parametrize("team", ["T02", "T03"])
def test_opened_from_a_link_the_team_dropdown_names_the_links_team(demo_db, model, team) -> None:
    cases = ge.attention_cases(reader_for(demo_db), team, model=model)
    refs = [
        ge.CaseRef(r.episode_id, r.client_id, r.team_id) for r in cases.iloc[[3, 1]].itertuples()
    ]
    token = ge.case_token(refs, key=ge.link_key(demo_db))
    view = GroupExerciseView(DashboardContext(demo_db), token=token)
    assert view.team.options[0][1] != team, "the first team must not be the link's by chance"
    assert view.team.value == team
    assert [view._presentation.ref(k) for _, k in view.case.options] == refs
    assert "Showing 2 cases from the case review" in view.message.value


# -- predicting hides how the case went on ---------------------------------------------------


def _outcome_words(view: GroupExerciseView, row: pd.Series) -> list[str]:
    """What would give the answer away: the session count and every reason of the case."""
    tr, config = view.tr, view.context.config
    words = [
        tr.text(
            f"group.reason.{code}",
            session=session,
            weeks=config.not_seen_weeks,
            cutoff=tr.number(config.srs_cutoff, decimals=0),
        )
        for code, session in zip(row["flag_codes"], row["flag_sessions"], strict=True)
    ]
    return words


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_predicting_hides_the_session_count_and_the_reasons_until_the_reveal(demo_db, lang) -> None:
    view = view_of(demo_db, lang, "T04")  # a team with cases not seen for weeks
    view.scope.value = "all"
    cases = view._cases
    seen_gap = cases[cases["flag_codes"].map(lambda f: "not_seen" in f)]
    assert len(seen_gap), "the demo team has a case not seen for weeks"
    row = seen_gap.iloc[0]
    view.case.value = row["key"]
    whole = dict((k, label) for label, k in view.case.options)
    not_seen = _outcome_words(view, row)[list(row["flag_codes"]).index("not_seen")]
    first_reason = _outcome_words(view, row)[0]
    assert first_reason in whole[row["key"]] and not_seen in view.reasons.value

    view.mode.value = "predict"
    labels = [label for label, _ in view.case.options]
    case_word = view.tr.text("group.case", label="X").replace("X", "")
    for label, key in view.case.options:
        assert re.fullmatch(rf"{re.escape(case_word)}[A-Z]+( \(\w+\))?", label), label
        listed = view._cases[view._cases["key"] == key].iloc[0]
        for word in _outcome_words(view, listed):
            assert word not in label
    page = " ".join([*labels, view.reasons.value, view.heading.value, view.status.value])
    assert not_seen not in page and first_reason not in page
    sessions = view.tr.count_text(
        "group.option", int(row["sessions"]), case="", sessions=int(row["sessions"]), reasons=""
    )
    assert sessions.strip(" ·") not in page
    assert view.case.value == row["key"], "relabelling keeps the chosen case"

    view.reveal.value = True
    assert dict((k, label) for label, k in view.case.options) == whole
    assert not_seen in view.reasons.value
    view.mode.value = "whole"
    assert dict((k, label) for label, k in view.case.options) == whole


# -- no case alone as "anonymous" ------------------------------------------------------------


@pytest.mark.parametrize(("lang", "words"), [("en", "fewer than 5"), ("nb", "færre enn 5")])
def test_a_team_with_fewer_clients_than_the_minimum_shows_no_case(tiny_db, lang, words) -> None:
    reader = reader_for(tiny_db)
    clients = reader.rows(
        "SELECT count(DISTINCT s.client_id) FROM sessions s JOIN episodes e USING (episode_id) "
        "WHERE e.team_id = 'T10'"
    )[0][0]
    assert clients < DashboardContext(tiny_db).config.min_cell_size
    view = view_of(tiny_db, lang, "T10")
    view.scope.value = "all"
    assert list(view.case.options) == []
    assert view.case.value is None and view.heading.value == "" and view.status.value == ""
    assert words in view.message.value
    scores = [t for t in view.figure.data if t.name in ("ORS", "SRS")]
    assert len(scores) == 2 and not any(len(t.x or ()) for t in scores), "no case is drawn"


def test_a_link_to_a_case_of_a_too_small_team_shows_no_case(tiny_db) -> None:
    episode, client = reader_for(tiny_db).rows(
        "SELECT e.episode_id, e.client_id FROM episodes e WHERE e.team_id = 'T10'"
    )[0]
    token = ge.case_token([(episode, client, "T10")], key=ge.link_key(tiny_db))
    view = GroupExerciseView(DashboardContext(tiny_db), token=token)
    assert view.team.value == "T10"
    assert list(view.case.options) == [] and "fewer than 5" in view.message.value


# -- the end of the episode, once the group has seen all of it -------------------------------


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_an_ended_case_shows_its_end_without_a_date_only_when_seen_whole(demo_db, lang) -> None:
    view = view_of(demo_db, lang)
    view.scope.value = "ended"
    row = view._cases.sort_values("sessions", ascending=False).iloc[0]
    view.case.value = row["key"]
    ref = view._presentation.ref(row["key"])
    ended, end_type = reader_for(demo_db).rows(
        "SELECT ended, end_type FROM episodes WHERE episode_id = ?", [ref.episode_id]
    )[0]
    end = EpisodeEnd.of(ended, end_type)
    assert end is not None
    tr, config = view.tr, view.context.config
    case = view._case
    expected = status_sentence(
        client_status(case.sessions, case.age_group, config),
        tr,
        config,
        ended=end,
        show_dates=False,
    )
    assert expected in view.status.value.replace("&#x27;", "'")
    marker = tr.text("episode_graph.ended", end_type=tr.text(f"status.end_type.{end_type}"))
    layout = view.figure.layout
    assert [a.text for a in layout.annotations if a.name == "episode-end"] == [marker]
    line = next(s for s in layout.shapes if s.name == "episode-end")
    assert line.x0 == case.session_count + 0.5
    page = view.status.value + str(view.figure.to_plotly_json())
    for form in (ended.isoformat(), ended.strftime("%d.%m.%Y"), tr.date(ended)):
        assert form not in page

    view.mode.value = "predict"
    assert not [s for s in view.figure.layout.shapes if s.name == "episode-end"]
    assert marker not in str(view.figure.to_plotly_json()) and marker not in view.status.value
    view.reveal.value = True
    assert [a.text for a in view.figure.layout.annotations if a.name == "episode-end"] == [marker]
