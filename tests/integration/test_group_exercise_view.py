"""The group exercise on a generated database: choosing cases, links, and what widgets hold."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import ipywidgets as widgets
import pandas as pd
import pytest

from fitdata.analytics import flags
from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features import group_exercise as ge
from fitdata.ui import DashboardContext, GroupExerciseView, build_group_exercise
from tests.oracles.group_exercise import not_on_track, team_client_sessions

TEAM = "T01"


@pytest.fixture(scope="module")
def model(demo_db):
    return ge.trajectory_model(reader_for(demo_db))


@pytest.fixture(scope="module")
def team_cases(demo_db, model) -> pd.DataFrame:
    return ge.attention_cases(reader_for(demo_db), TEAM, model=model)


@pytest.fixture
def view(demo_db) -> GroupExerciseView:
    view = GroupExerciseView(DashboardContext(demo_db))
    view.team.value = TEAM
    return view


def identifiers(db, team_id: str) -> dict[str, set[str]]:
    """Every client code, episode id, therapist name and session date (both forms) of a team."""
    reader = reader_for(db)
    rows = reader.df(
        """
        SELECT DISTINCT s.client_id, s.episode_id, th.name AS therapist, s.session_date
        FROM sessions s JOIN episodes e USING (episode_id)
        JOIN therapists th ON th.therapist_id = e.therapist_id
        WHERE e.team_id = ?
        """,
        [team_id],
    )
    dates = pd.to_datetime(rows["session_date"]).dt
    return {
        "codes": set(rows["client_id"]) | set(rows["episode_id"]),
        "names": set(rows["therapist"]),
        "dates": set(dates.strftime("%Y-%m-%d")) | set(dates.strftime("%d.%m.%Y")),
    }


def widget_state_text(root: widgets.Widget) -> str:
    """The state of every widget under ``root``, as the kernel would send it to the page."""
    seen: set[int] = set()
    parts: list[str] = []

    def walk(widget: widgets.Widget) -> None:
        if id(widget) in seen:
            return
        seen.add(id(widget))
        state = {k: v for k, v in widget.get_state().items() if k != "_esm"}
        parts.append(json.dumps(state, default=str, ensure_ascii=False))
        if hasattr(widget, "to_plotly_json"):
            parts.append(json.dumps(widget.to_plotly_json(), default=str, ensure_ascii=False))
        for value in widget.trait_values().values():
            children = value if isinstance(value, list | tuple) else [value]
            for child in children:
                if isinstance(child, widgets.Widget):
                    walk(child)

    walk(root)
    return "\n".join(parts)


def leaks(text: str, found: dict[str, set[str]]) -> list[str]:
    return sorted(value for group in found.values() for value in group if value in text)


def test_the_scanner_finds_an_identifier_when_there_is_one(demo_db) -> None:
    found = identifiers(demo_db, TEAM)
    code = sorted(found["codes"])[0]
    name = sorted(found["names"])[0]
    label = widgets.HTML(f"<p>{code}</p>")
    assert leaks(widget_state_text(widgets.VBox([label])), found) == [code]
    assert name in leaks(widget_state_text(widgets.Dropdown(options=[(name, "x")])), found)


# -- choosing cases --------------------------------------------------------------------------


def test_not_on_track_now_from_the_flags_module_matches_the_pandas_path(
    demo_db, model, team_cases
) -> None:
    reader = reader_for(demo_db)
    as_of = ge.latest_session_date(reader)
    sessions = team_client_sessions(reader, TEAM, as_of)
    sessions["lower_expected"] = model.predict_many(sessions[["intake", "session_no"]])[
        "lower"
    ].to_numpy()
    episodes = reader.df("SELECT episode_id, ended FROM episodes WHERE team_id = ?", [TEAM])
    rows = flags.episode_flags(
        sessions.drop(columns=["intake"]), episodes, as_of=as_of, config=DEFAULT_CONFIG, lang=None
    )
    now = rows[(rows["flag"] == "not_on_track") & rows["current"]]
    from_pandas = set(zip(now["episode_id"], now["client_id"], strict=True))
    listed = team_cases[team_cases["flag_codes"].map(lambda f: "not_on_track" in f)]
    from_list = set(zip(listed["episode_id"], listed["client_id"], strict=True))
    assert from_pandas, "the demo team should have clients below their expected trajectory now"
    assert from_list == from_pandas
    # "ever below the line" is more: the cases whose not on track resolved are not reasons now
    ever = not_on_track(reader, TEAM, as_of, model, DEFAULT_CONFIG)
    from_ever = set(zip(ever["episode_id"], ever["client_id"], strict=True))
    assert from_list < from_ever


def test_cases_are_ordered_by_what_needs_attention_now(demo_db, team_cases) -> None:
    assert team_cases["priority"].is_monotonic_increasing
    assert ge.ATTENTION_ORDER == flags.URGENCY  # the team review's order of urgency
    first = team_cases.iloc[0]
    assert first["flag_codes"][0] == flags.URGENCY[first["priority"]]
    for codes in team_cases["flag_codes"]:
        assert list(codes) == sorted(codes, key=flags.urgency_rank)
    assert len(first["flag_codes"]) == len(first["flag_sessions"])
    assert set(team_cases["team_id"]) == {TEAM}
    reader = reader_for(demo_db)
    sql = flags.episode_flag_counts(reader, team_id=TEAM, as_of=ge.latest_session_date(reader))
    now = sql[sql["current"]]
    stagnating = set(now.loc[now["flag"] == "no_reliable_change", "episode_id"])
    marked = team_cases[team_cases["flag_codes"].map(lambda f: "no_reliable_change" in f)]
    assert set(marked["episode_id"]) == stagnating
    ever = set(sql.loc[sql["flag"] == "no_reliable_change", "episode_id"])
    assert stagnating < ever  # some stagnated once and moved on: no reason to discuss them now


def test_why_this_case_agrees_with_the_team_review(demo_db, model, team_cases) -> None:
    """The group exercise and the team review give every one-client case the same flags."""
    from fitdata.features import team_review as cl

    reader = reader_for(demo_db)
    caseload = cl.team_caseload(
        reader, team_id=TEAM, as_of=ge.latest_session_date(reader), model=model
    )
    review = caseload.episodes.set_index("key")
    single = team_cases[team_cases["members"].map(len) == 1]
    assert len(single) > 100
    for case in single.itertuples():
        shown = review.loc[f"{case.episode_id}|{case.client_id}"]
        now = tuple(code for code in flags.URGENCY if shown[code])
        assert case.flag_codes == now, case.episode_id
        held = caseload.flags[caseload.flags["key"] == f"{case.episode_id}|{case.client_id}"]
        last = dict(zip(held["flag"], held["last_session"], strict=True))
        assert case.flag_sessions == tuple(int(last[code]) for code in now)


def test_a_couple_is_one_case_whose_flags_are_both_partners(demo_db, model, team_cases) -> None:
    """A couple's row carries every partner's current flags, each with whose it is."""
    reader = reader_for(demo_db)
    couples = reader.df(
        "SELECT e.episode_id, e.client_id AS index_client, count(DISTINCT s.client_id) AS n "
        "FROM episodes e JOIN sessions s USING (episode_id) WHERE e.team_id = ? "
        "AND e.format = 'couple' AND s.rater = 'client' GROUP BY ALL HAVING n = 2",
        [TEAM],
    )
    assert len(couples), "the demo team should have couples"
    listed = team_cases.set_index("episode_id")
    assert listed.index.is_unique  # one row per couple, not one per partner
    sql = flags.episode_flag_counts(
        reader, team_id=TEAM, as_of=ge.latest_session_date(reader), model=model, lang=None
    )
    now = sql[sql["current"].astype(bool) & sql["flag"].isin(ge.ATTENTION_ORDER)]
    for couple in couples.itertuples():
        row = listed.loc[couple.episode_id]
        assert row["members"][0] == couple.index_client == row["client_id"]
        assert len(row["members"]) == 2 and row["format"] == "couple"
        theirs = now[now["episode_id"] == couple.episode_id]
        expected = sorted(
            (code, row["members"].index(client), int(session))
            for code, client, session in zip(
                theirs["flag"], theirs["client_id"], theirs["last_session"], strict=True
            )
        )
        got = sorted(zip(row["flag_codes"], row["flag_people"], row["flag_sessions"], strict=True))
        assert got == expected, couple.episode_id
        assert list(row["flag_codes"]) == sorted(row["flag_codes"], key=flags.urgency_rank)


def test_the_case_list_shows_letters_and_reasons_and_sends_only_opaque_keys(view) -> None:
    labels = [label for label, _ in view.case.options]
    keys = [key for _, key in view.case.options]
    assert labels[0].startswith("Case A · ")
    assert labels[1].startswith("Case B · ")
    first = view._cases.sort_values("_label_order").iloc[0]
    reason = view.tr.text(
        f"group.reason.{first['flag_codes'][0]}",
        session=first["flag_sessions"][0],
        weeks=4,
        cutoff="36",
    )
    assert reason in labels[0]
    assert keys == [f"case-{i}" for i in range(1, len(keys) + 1)]
    assert view.scope.value == "ongoing"
    assert all(view._cases["ongoing"])


def test_labels_stay_with_their_case_when_the_selection_changes(view) -> None:
    before = dict((key, label.split(" · ")[0]) for label, key in view.case.options)
    view.scope.value = "all"
    after = dict((key, label.split(" · ")[0]) for label, key in view.case.options)
    assert len(after) > len(before)
    assert all(after[key] == label for key, label in before.items())


def test_nothing_identifying_reaches_any_widget_for_any_case_of_the_team(view, demo_db) -> None:
    found = identifiers(demo_db, TEAM)
    view.scope.value = "all"
    keys = [key for _, key in view.case.options]
    assert len(keys) > 20
    for key in keys[:40]:
        view.case.value = key
        text = widget_state_text(view.widget)
        assert leaks(text, found) == [], key
    view.mode.value = "predict"
    view.reveal.value = True
    view.next_step.click()
    assert leaks(widget_state_text(view.widget), found) == []


def test_the_therapist_is_shown_only_when_chosen(view, demo_db) -> None:
    found = identifiers(demo_db, TEAM)
    assert view.therapist.value == ""
    view.show_therapist.value = True
    shown = leaks(widget_state_text(view.widget), found)
    assert len(shown) == 1 and shown[0] in found["names"]
    assert "Therapist: " in view.therapist.value
    view.case.value = view.case.options[1][1]
    assert view.show_therapist.value is False and view.therapist.value == ""


def test_the_random_case_is_not_on_track(view) -> None:
    for _ in range(5):
        before = view.case.value
        view.random_case.click()
        assert view.case.value != before
        row = view._cases[view._cases["key"] == view.case.value].iloc[0]
        assert "not_on_track" in row["flag_codes"]
        assert view.figure.layout.title.text.startswith("Case ")


def test_the_graph_matches_the_database(view, demo_db) -> None:
    ref = view._presentation.ref(view.case.value)
    own = reader_for(demo_db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? "
        "AND client_id = ? AND rater = 'client' AND ors_total IS NOT NULL ORDER BY session_no",
        [ref.episode_id, ref.client_id],
    )
    ors = next(t for t in view.figure.data if t.name == "ORS")
    assert list(ors.x) == own["session_no"].tolist()
    assert list(ors.y) == pytest.approx(own["ors"].tolist())


# -- prompts and the exercise ----------------------------------------------------------------


def test_prompts_step_forward_and_back_within_bounds(view) -> None:
    assert "Step 1 of 5" in view.prompt.value
    assert "What does the graph tell us?" in view.prompt.value
    assert view.previous_step.disabled
    titles = []
    for _ in range(6):
        view.next_step.click()
        titles.append(view.prompt.value)
    assert "What is the next step?" in titles[-1] and "Step 5 of 5" in titles[-1]
    assert view.next_step.disabled
    assert any("How is the alliance?" in t for t in titles)
    view.previous_step.click()
    assert "What could be done differently?" in view.prompt.value


def test_predict_then_reveal(view, demo_db) -> None:
    longest = view._cases.sort_values("sessions", ascending=False).iloc[0]
    view.case.value = longest["key"]
    ref = view._presentation.ref(longest["key"])
    own = reader_for(demo_db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? "
        "AND client_id = ? AND rater = 'client' ORDER BY session_no",
        [ref.episode_id, ref.client_id],
    )
    view.mode.value = "predict"
    view.shown.value = 3
    ors = next(t for t in view.figure.data if t.name == "ORS")
    assert max(ors.x) <= 3, "later sessions must not be sent before the reveal"
    assert "hidden" in view.heading.value
    visible = [s for s in view.predictions if s.layout.display != "none"]
    assert [s.description for s in visible][:2] == [
        "Predicted ORS, session 4",
        "Predicted ORS, session 5",
    ]
    view.predictions[0].value = 30.0
    prediction = next(t for t in view.figure.data if t.name == "The group's prediction")
    assert list(prediction.x)[1] == 4 and list(prediction.y)[1] == 30.0
    assert view.result.value == ""
    view.reveal.value = True
    ors = next(t for t in view.figure.data if t.name == "ORS")
    assert list(ors.x) == own.dropna()["session_no"].tolist()
    actual = own.set_index("session_no")["ors"].get(4)
    if pd.notna(actual):
        assert f"Session 4: predicted 30.0, the client reported {actual:.1f}" in view.result.value
    view.shown.value = 2
    assert view.reveal.value is False and view.result.value == ""


def test_norwegian_page(demo_db) -> None:
    view = GroupExerciseView(DashboardContext(demo_db, lang="nb"))
    assert view.case.options[0][0].startswith("Sak A · ")
    assert "Hva forteller grafen oss?" in view.prompt.value
    assert "Reglene bak grafen" in view.rules.value
    assert view.figure.layout.xaxis.title.text == "Samtale"


# -- links from the case review --------------------------------------------------------------


def test_link_key_is_created_once_outside_the_database(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FITDATA_LINK_KEY_FILE", raising=False)
    db = tmp_path / "service.duckdb"
    key = ge.link_key(db)
    path = tmp_path / "service.duckdb.link-key"
    assert path.exists() and len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ge.link_key(db) == key
    monkeypatch.setenv("FITDATA_LINK_KEY_FILE", str(tmp_path / "other.key"))
    assert ge.link_key(db) != key
    (tmp_path / "short.key").write_bytes(b"123")
    monkeypatch.setenv("FITDATA_LINK_KEY_FILE", str(tmp_path / "short.key"))
    with pytest.raises(ge.InvalidToken, match="needs at least 32"):
        ge.link_key(db)


def test_a_token_resolves_to_its_cases_in_order(demo_db, team_cases) -> None:
    reader = reader_for(demo_db)
    other = ge.attention_cases(reader, "T02").iloc[0]
    refs = [
        ge.CaseRef(r.episode_id, r.client_id, r.team_id)
        for r in team_cases.iloc[[5, 0, 9]].itertuples()
    ] + [ge.CaseRef(other.episode_id, other.client_id, other.team_id)]
    key = ge.link_key(demo_db)
    today = dt.date(2026, 11, 22)
    token = ge.case_token(refs, key=key, issued=today)
    assert ge.resolve(reader, token, key=key, today=today + dt.timedelta(days=3)) == refs
    for ref in refs:
        assert ref.episode_id not in token and ref.client_id not in token


def test_the_view_opens_with_the_cases_of_a_link(demo_db, team_cases) -> None:
    refs = [
        ge.CaseRef(r.episode_id, r.client_id, r.team_id)
        for r in team_cases.iloc[[7, 2]].itertuples()
    ]
    token = ge.case_token(refs, key=ge.link_key(demo_db))
    view = GroupExerciseView(DashboardContext(demo_db), token=token)
    assert [label.split(" · ")[0] for label, _ in view.case.options] == ["Case A", "Case B"]
    assert [view._presentation.ref(k) for _, k in view.case.options] == refs
    assert "Showing 2 cases from the case review" in view.message.value
    view.team.value = "T02"
    assert view.case.options[0][0].startswith("Case A · ")
    assert view._presentation.ref(view.case.value).team_id == "T02"


def test_a_bad_code_gives_a_message(view) -> None:
    view.code.value = "g1.abc.def.ghi"
    view.use_code.click()
    assert "fitdata-error" in view.message.value
    assert "not made here" in view.message.value or "damaged" in view.message.value


def test_the_builder_reads_the_link_from_the_query_string(demo_db, team_cases, monkeypatch) -> None:
    ref = team_cases.iloc[4]
    token = ge.case_token([(ref.episode_id, ref.client_id, ref.team_id)], key=ge.link_key(demo_db))
    monkeypatch.setenv("QUERY_STRING", f"cases={token}")
    widget = build_group_exercise(DashboardContext(demo_db))
    assert "Showing 1 case from the case review" in widget_state_text(widget)


# -- errors ----------------------------------------------------------------------------------


def test_a_broken_database_gives_a_message_not_a_traceback(tmp_path) -> None:
    widget = build_group_exercise(DashboardContext(tmp_path / "missing.duckdb"))
    assert "fitdata-error" in widget.value and "There is no database at" in widget.value


def test_an_error_during_a_callback_is_generic_and_names_no_client(view, tmp_path) -> None:
    code = view._presentation.ref(view.case.value).client_id
    view.context = DashboardContext(tmp_path / "gone.duckdb")
    view.case.value = view.case.options[2][1]
    assert "Something went wrong" in view.message.value
    assert code not in view.message.value and "Traceback" not in view.message.value


# -- a couple and a family as one case each (issue 20) ---------------------------------------


@pytest.fixture(scope="module")
def episode_db(tmp_path_factory):
    from tests.integration.episode_db import build_episode_db

    return build_episode_db(tmp_path_factory.mktemp("episodes") / "episodes.duckdb")


def episode_view(db, lang="en") -> GroupExerciseView:
    from tests.integration.episode_db import TEAM

    view = GroupExerciseView(DashboardContext(db, lang=lang))
    view.team.value = TEAM
    view.scope.value = "all"
    return view


def choose(view: GroupExerciseView, episode_id: str) -> None:
    key = next(
        k for _, k in view.case.options if view._presentation.ref(k).episode_id == episode_id
    )
    view.case.value = key


def test_a_couple_is_one_case_with_both_partners_anonymised(episode_db) -> None:
    from tests.integration.episode_db import COUPLE, THERAPIST_NAME

    view = episode_view(episode_db)
    refs = [view._presentation.ref(k) for _, k in view.case.options]
    assert sorted(r.episode_id for r in refs) == ["E-C1", "E-F1", "E-I1"]  # one case each
    label = next(
        label for label, k in view.case.options if view._presentation.ref(k).episode_id == "E-C1"
    )
    assert "(couple)" in label and "Partner B: SRS below 36 at session 4" in label
    choose(view, "E-C1")
    a = next(t for t in view.figure.data if t.name == "Partner A: ORS")
    b = next(t for t in view.figure.data if t.name == "Partner B: ORS")
    assert list(a.y) == [14.0, 16.0, 21.0, 24.0] and list(b.y) == [22.0, 21.0, 19.0, 18.0]
    assert a.marker.symbol != b.marker.symbol and a.line.color != b.line.color
    assert "Partner A" in view.status.value and "Partner B" in view.status.value
    assert "ORS +10.0 since the first session: reliable improvement" in view.status.value
    assert "Participants: Partner A and Partner B" in view.heading.value
    assert "Partner B: SRS below 36 at session 4" in view.reasons.value
    text = widget_state_text(view.widget)
    for secret in (*COUPLE, THERAPIST_NAME, "2026-03", "03.2026"):
        assert secret not in text, secret
    # The prediction exercise hides both partners' later sessions until the reveal.
    view.mode.value = "predict"
    view.shown.value = 2
    for name in ("Partner A: ORS", "Partner B: ORS", "Partner B: SRS"):
        assert max(next(t for t in view.figure.data if t.name == name).x) == 2
    assert view.predictions[0].description == "Partner A: predicted ORS, session 3"
    view.reveal.value = True
    assert max(next(t for t in view.figure.data if t.name == "Partner B: ORS").x) == 4
    for secret in (*COUPLE, THERAPIST_NAME):
        assert secret not in widget_state_text(view.widget), secret


def test_a_family_shows_the_parents_rating_beside_the_child_in_norwegian(episode_db) -> None:
    from tests.integration.episode_db import FAMILY

    view = episode_view(episode_db, lang="nb")
    choose(view, "E-F1")
    names = {t.name for t in view.figure.data}
    assert {"Familiemedlem A: ORS", "Familiemedlem B: ORS"} <= names
    rated = next(t for t in view.figure.data if t.name == "Forelders skåring av Familiemedlem B")
    assert list(rated.y) == [22.0, 24.0, 27.0]
    assert "Klinisk grense 32 (barn): Familiemedlem B" in names
    assert view.figure.layout.title.text.endswith("(familie)")
    text = widget_state_text(view.widget)
    for secret in FAMILY:
        assert secret not in text, secret


def test_a_link_naming_either_partner_opens_the_one_couple_case(episode_db) -> None:
    from tests.integration.episode_db import COUPLE, TEAM

    episode, first, second = COUPLE
    refs = [ge.CaseRef(episode, second, TEAM), ge.CaseRef(episode, first, TEAM)]
    token = ge.case_token(refs, key=ge.link_key(episode_db))
    view = GroupExerciseView(DashboardContext(episode_db), token=token)
    assert len(view.case.options) == 1
    assert view.case.options[0][0].startswith("Case A (couple) · ")
    assert {t.name for t in view.figure.data} >= {"Partner A: ORS", "Partner B: ORS"}


def test_every_partners_read_is_audited(episode_db, tmp_path) -> None:
    import shutil

    from fitdata.data import access
    from tests.integration.episode_db import COUPLE, FAMILY, TEAM

    db = tmp_path / "audited.duckdb"
    shutil.copyfile(episode_db, db)
    access.add_user(db, "sigrid", "supervisor", team_ids=[TEAM])
    reader = access.reader_for_user(db, "sigrid")
    cases = ge.attention_cases(reader, TEAM)
    for episode, *members in (COUPLE, FAMILY):
        row = cases[cases["episode_id"] == episode].iloc[0]
        assert list(row["members"]) == members
        ref = ge.CaseRef(episode, row["client_id"], TEAM)
        people = ge.case_participants(reader, ref, row["members"], row["format"], label="A")
        assert len(people) == 2
    assert [r for r, _ in people[1].ratings] == ["parent"]
    read = {(e.client_id, e.episode_id) for e in access.read_audit(db) if e.action == "group_case"}
    assert read == {
        ("K-P1", "E-C1"),
        ("K-P2", "E-C1"),
        ("K-M1", "E-F1"),
        ("K-C1", "E-F1"),
    }


def test_after_the_reveal_the_group_records_its_decision_against_the_real_episode(
    demo_db, tmp_path
) -> None:
    """Issue 22: kept against the episode behind "Case A", which no widget ever holds."""
    import shutil

    db = tmp_path / "decision.duckdb"
    shutil.copyfile(demo_db, db)
    view = GroupExerciseView(DashboardContext(db))
    view.team.value = TEAM
    found = identifiers(db, TEAM)
    longest = view._cases.sort_values("sessions", ascending=False).iloc[0]
    view.case.value = longest["key"]
    ref = view._presentation.ref(longest["key"])
    panel = view.decision
    assert panel.layout.display == "none"  # not before the reveal
    view.mode.value = "predict"
    view.reveal.value = True
    assert panel.layout.display is None
    assert "Record what the group decided" in panel.heading.value
    assert panel.forum.value == "group_supervision"
    # no earlier discussion is listed, no correction offered: the anonymous view shows none
    assert panel.history not in panel.children and panel.correct not in panel.children
    assert leaks(widget_state_text(view.widget), found) == []
    panel.agreed["more_frequent"].value = True
    panel.quick[4].click()
    panel.save.click()
    rows = reader_for(db).rows(
        "SELECT episode_id, forum, agreed, source FROM case_discussions "
        "WHERE source <> 'demo' ORDER BY discussion_id"
    )
    assert rows == [(ref.episode_id, "group_supervision", ["more_frequent"], "group_exercise")]
    assert "recorded with the case" in panel.message.value
    text = widget_state_text(view.widget)
    assert leaks(text, found) == [] and ref.episode_id not in text
    # a refusal names no case either
    panel.agreed["no_change"].value = True
    panel._episode_id = "E-NOT-THERE"
    panel.save.click()
    assert "E-NOT-THERE" not in widget_state_text(view.widget)
    assert "could not be recorded" in panel.message.value
    # another case, or a new prediction: the form goes away until the next reveal
    view.shown.value = 2
    assert panel.layout.display == "none"
