"""Anonymising cases for the group exercise, and its large graph, without a database."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator
from fitdata.ui.group_exercise import group_figure

START = dt.date(2025, 3, 3)
DAYS = [0, 6, 7, 13, 14, 20, 35]


def raw_sessions(days=DAYS, ors=None, srs=None) -> pd.DataFrame:
    """What the database gives for one client-episode, with every identifying column."""
    n = len(days)
    return pd.DataFrame(
        {
            "session_id": range(101, 101 + n),
            "episode_id": "E0004711",
            "client_id": "K-SECRET1",
            "therapist_id": "B0042",
            "therapist_name": "Kari Nordmann",
            "team_id": "T01",
            "rater": "client",
            "note": "Klienten fortalte om skilsmissen",
            "session_date": [pd.Timestamp(START + dt.timedelta(days=d)) for d in days],
            "session_no": range(1, n + 1),
            "ors_total": ors if ors is not None else [15.0, 16.5, 18.0, 17.0, 21.0, 23.5, 26.0][:n],
            "srs_total": srs if srs is not None else [37.0, 35.0, 38.0, 38.0, 39.0, 39.0, 40.0][:n],
        }
    )


class FakeModel:
    """The predict_many interface of analytics.trajectory.TrajectoryModel, with fixed lines."""

    def __init__(self, lower: float, expected: float, n: int = 120, sufficient: bool = True):
        self.lower, self.expected, self.n, self.sufficient = lower, expected, n, sufficient

    def predict_many(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        first = out["session_no"] == 1
        out["expected"] = np.where(
            first, out["intake"], self.expected if self.sufficient else np.nan
        )
        out["lower"] = np.where(first, out["intake"], self.lower if self.sufficient else np.nan)
        out["n_episodes"] = self.n
        out["sufficient"] = self.sufficient
        out["reason"] = None
        return out

    def predict(self, intake, sessions) -> pd.DataFrame:
        frame = pd.DataFrame({"intake": intake, "session_no": list(sessions)})
        return self.predict_many(frame)


# -- labels and keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "label"),
    [
        (0, "A"),
        (1, "B"),
        (25, "Z"),
        (26, "AA"),
        (27, "AB"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
    ],
)
def test_case_labels_run_like_spreadsheet_columns(index, label) -> None:
    assert ge.case_label(index) == label


def test_a_negative_case_index_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        ge.case_label(-1)


def test_labels_are_stable_within_a_presentation_and_keys_say_nothing() -> None:
    presentation = ge.Presentation()
    first = ge.CaseRef("E0004711", "K-SECRET1", "T01")
    second = ge.CaseRef("E0000002", "K-OTHER22", "T01")
    key_first = presentation.add(first)
    key_second = presentation.add(second)
    assert presentation.add(first) == key_first, "adding a case again keeps its key"
    assert (presentation.label(key_first), presentation.label(key_second)) == ("A", "B")
    assert presentation.ref(key_second) == second
    assert len(presentation) == 2
    for key in (key_first, key_second):
        assert "E00" not in key and "K-" not in key and "T01" not in key
    with pytest.raises(KeyError):
        presentation.ref("E0004711")


# -- anonymising -----------------------------------------------------------------------------


def test_anonymised_case_has_only_the_allowed_columns_and_nothing_identifying() -> None:
    raw = raw_sessions()
    case = ge.anonymise_case(raw, label="C", age_group="adult")
    frame = case.sessions
    assert tuple(frame.columns) == ge.ANONYMOUS_COLUMNS
    forbidden = ("id", "date", "name", "note", "rater", "therapist", "team", "client", "episode")
    assert not [c for c in frame.columns if set(c.split("_")) & set(forbidden)]
    assert not [c for c in frame.columns if frame[c].dtype == object]
    assert not [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    text = frame.to_json() + repr(case)
    for secret in ("E0004711", "K-SECRET1", "B0042", "Kari", "skilsmissen", "2025", "T01"):
        assert secret not in text, secret
    assert case.label == "C" and case.age_group == "adult"


def test_weeks_since_start_are_whole_weeks_from_the_first_session() -> None:
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    assert case.sessions["weeks_since_start"].tolist() == [0, 0, 1, 1, 2, 2, 5]
    assert case.weeks == 5
    assert case.session_count == 7
    assert case.sessions["session_no"].tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_anonymising_sorts_by_session_and_keeps_the_scores() -> None:
    raw = raw_sessions().sample(frac=1.0, random_state=3)
    case = ge.anonymise_case(raw, label="A", age_group="adolescent")
    assert case.sessions["ors_total"].tolist() == [15.0, 16.5, 18.0, 17.0, 21.0, 23.5, 26.0]
    assert case.sessions["srs_total"].tolist() == [37.0, 35.0, 38.0, 38.0, 39.0, 39.0, 40.0]
    assert case.sessions["weeks_since_start"].tolist() == [0, 0, 1, 1, 2, 2, 5]


def test_session_flags_become_boolean_columns() -> None:
    # Lower line 16.0 at every session after the intake: session 2 (16.5) is on track,
    # session 4 (17.0) too, nothing below; then a lower line of 20 puts sessions 2-4 below it.
    case = ge.anonymise_case(
        raw_sessions(), label="A", age_group="adult", model=FakeModel(lower=20.0, expected=24.0)
    )
    frame = case.sessions
    assert frame.loc[frame["flag_not_on_track"], "session_no"].tolist() == [2, 3, 4]
    assert frame.loc[frame["flag_srs_below_cutoff"], "session_no"].tolist() == [2]
    # 37 -> 35: one earlier SRS is not yet a usual level to fall below; no fall after that
    assert frame.loc[frame["flag_srs_drop"], "session_no"].tolist() == []
    assert frame["lower"].tolist()[1:] == [20.0] * 6
    assert case.trajectory_episodes == 120


def test_without_enough_episodes_there_is_no_trajectory_and_no_not_on_track() -> None:
    model = FakeModel(lower=30.0, expected=35.0, n=12, sufficient=False)
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult", model=model)
    assert case.trajectory_episodes is None
    assert not case.sessions["flag_not_on_track"].any()


class LastCellShortModel(FakeModel):
    """Enough comparable episodes at every session but the last: a line with a gap at the end."""

    def predict_many(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = super().predict_many(frame)
        last = out["session_no"] == out["session_no"].max()
        out.loc[last, ["expected", "lower"]] = np.nan
        out["sufficient"] = ~last
        return out


def test_no_not_on_track_marker_without_the_line_it_was_measured_against() -> None:
    # The case graph draws no expected line when the last session has too few comparable
    # episodes; the earlier sessions below the line must then not be ringed either.
    model = LastCellShortModel(lower=30.0, expected=35.0)
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult", model=model)
    assert case.trajectory_episodes is None
    assert case.sessions["lower"].notna().sum() >= 2  # earlier sessions had a line
    assert not case.sessions["flag_not_on_track"].any()


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="session_date"):
        ge.anonymise_case(
            raw_sessions().drop(columns=["session_date"]), label="A", age_group="adult"
        )


def test_the_guard_refuses_ids_dates_and_text() -> None:
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    with pytest.raises(ValueError, match="client_id"):
        ge.assert_anonymous(case.sessions.assign(client_id="K-SECRET1"))
    dated = case.sessions.copy()
    dated["session_no"] = pd.Timestamp("2025-03-03")
    with pytest.raises(ValueError, match="session_no has type"):
        ge.assert_anonymous(dated)


# -- tokens (the parts that need no database) ------------------------------------------------


KEY = bytes(range(32))


def test_a_token_holds_no_ids_and_changes_with_the_day() -> None:
    cases = [("E0004711", "K-SECRET1", "T01"), ("E0000002", "K-OTHER22", "T01")]
    monday = ge.case_token(cases, key=KEY, issued=dt.date(2026, 10, 26))
    tuesday = ge.case_token(cases, key=KEY, issued=dt.date(2026, 10, 27))
    assert monday != tuesday
    for secret in ("E0004711", "K-SECRET1", "E0000002", "K-OTHER22", "2026"):
        assert secret not in monday
    assert monday.startswith("g1.")
    assert ge.case_token(cases, key=KEY, issued=dt.date(2026, 10, 26)) == monday


class NoDatabase:
    """A reader that must not be asked: a bad token is refused before any query."""

    def df(self, *args, **kwargs):
        raise AssertionError("the database was queried for a bad token")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: "not-a-token", "not a case link"),
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "not made here"),
        (lambda t: t.replace("g1.", "g2.", 1), "not a case link"),
    ],
)
def test_a_changed_or_foreign_token_is_refused(mangle, message) -> None:
    token = ge.case_token([("E1", "K1", "T01")], key=KEY, issued=dt.date(2026, 10, 26))
    with pytest.raises(ge.InvalidToken, match=message):
        ge.resolve(NoDatabase(), mangle(token), key=KEY, today=dt.date(2026, 10, 27))


def test_a_token_made_with_another_key_is_refused() -> None:
    token = ge.case_token([("E1", "K1", "T01")], key=KEY, issued=dt.date(2026, 10, 26))
    with pytest.raises(ge.InvalidToken, match="not made here"):
        ge.resolve(NoDatabase(), token, key=bytes(32), today=dt.date(2026, 10, 26))


def test_an_old_token_is_refused() -> None:
    token = ge.case_token([("E1", "K1", "T01")], key=KEY, issued=dt.date(2026, 10, 1))
    with pytest.raises(ge.InvalidToken, match="15 days old"):
        ge.resolve(NoDatabase(), token, key=KEY, today=dt.date(2026, 10, 16), max_age_days=14)


def test_an_empty_case_set_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one case"):
        ge.case_token([], key=KEY)


# -- the large graph -------------------------------------------------------------------------


def trace(figure, name):
    return next(t for t in figure.data if t.name == name)


def test_the_graph_is_drawn_by_session_number_with_weeks_in_the_hover() -> None:
    tr = Translator("en")
    case = ge.anonymise_case(
        raw_sessions(), label="B", age_group="adult", model=FakeModel(lower=20.0, expected=24.0)
    )
    figure = go.Figure(group_figure(case, tr, DEFAULT_CONFIG))
    ors = trace(figure, "ORS")
    assert list(ors.x) == [1, 2, 3, 4, 5, 6, 7]
    assert list(ors.y) == [15.0, 16.5, 18.0, 17.0, 21.0, 23.5, 26.0]
    assert [row[0] for row in ors.customdata] == ["0", "0", "1", "1", "2", "2", "5"]
    assert "week %{customdata[0]}" in ors.hovertemplate
    assert ors.line.width >= 5 and figure.layout.font.size >= 18
    assert figure.layout.title.text == "Case B (adult)"
    assert trace(figure, "Clinical cutoff 25 (adult)").y == (25.0, 25.0)
    assert trace(figure, "Reliable change: ±5 around the first ORS").y[0] == 10.0
    assert trace(figure, "Expected (median of 120 episodes)").y[1] == 24.0
    assert list(trace(figure, "Not on track").x) == [2, 3, 4]
    assert list(figure.layout.xaxis.tickvals)[:3] == [1, 2, 3]
    payload = json.dumps(figure.to_plotly_json(), default=str)
    for secret in ("2025", "03.03", "K-SECRET1", "E0004711", "Kari"):
        assert secret not in payload


def test_the_exercise_graph_hides_later_sessions_and_draws_the_prediction() -> None:
    tr = Translator("nb")
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    figure = go.Figure(
        group_figure(case, tr, DEFAULT_CONFIG, shown=3, predictions={4: 20.0, 5: 22.5})
    )
    assert list(trace(figure, "ORS").x) == [1, 2, 3]
    assert list(trace(figure, "SRS").x) == [1, 2, 3]
    prediction = trace(figure, "Gruppens spådom")
    assert list(prediction.x) == [3, 4, 5]
    assert list(prediction.y) == [18.0, 20.0, 22.5]
    assert figure.layout.shapes[0].x0 == 3.5
    assert figure.layout.title.text == "Sak A (voksen)"
    assert figure.layout.xaxis.title.text == "Samtale"


def test_after_the_reveal_the_prediction_still_starts_where_the_group_stopped() -> None:
    tr = Translator("en")
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    figure = go.Figure(group_figure(case, tr, DEFAULT_CONFIG, predictions={4: 20.0, 5: 22.5}))
    assert list(trace(figure, "ORS").x) == [1, 2, 3, 4, 5, 6, 7]
    prediction = trace(figure, "The group's prediction")
    assert list(prediction.x) == [3, 4, 5]
    assert list(prediction.y) == [18.0, 20.0, 22.5]
    assert figure.layout.shapes[0].x0 == 3.5
    assert trace(figure, "The group's prediction").showlegend is True


def test_an_empty_slot_stays_in_place_but_out_of_the_legend() -> None:
    tr = Translator("en")
    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    figure = go.Figure(group_figure(case, tr, DEFAULT_CONFIG))
    assert len(figure.data) == 9
    assert list(trace(figure, "The group's prediction").x) == []
    assert trace(figure, "The group's prediction").showlegend is False
    assert trace(figure, "Not on track").showlegend is False
    assert trace(figure, "Lower expected line").showlegend is False
    assert figure.layout.shapes == ()


def test_why_this_case_names_what_holds_now_in_both_languages() -> None:
    from fitdata.ui.group_exercise_texts import reason_text

    codes, sessions = ("not_on_track", "srs_drop", "not_judged"), (7, 7, 7)
    assert reason_text(Translator("en"), DEFAULT_CONFIG, codes, sessions) == (
        "not on track now (at session 7) · SRS drop at session 7 · "
        "not judged: too few comparable episodes for an expected line"
    )
    assert reason_text(Translator("nb"), DEFAULT_CONFIG, codes[:2], sessions[:2]) == (
        "ikke på rett spor nå (ved samtale 7) · SRS falt ved samtale 7"
    )
    assert reason_text(Translator("en"), DEFAULT_CONFIG, (), ()) == "no flag holds now"


# -- a couple or family as one case (issue 20) -----------------------------------------------


def partner(position, role, ors, srs, *, age_group="adult", days=DAYS, ratings=(), model=None):
    frame = raw_sessions(days=days[: len(ors)], ors=ors, srs=srs)
    frame["client_id"] = f"K-SECRET{position + 1}"
    case = ge.anonymise_case(frame, label="A", age_group=age_group, model=model, start=START)
    rated = tuple(
        (
            rater,
            ge.anonymise_case(
                raw_sessions(days=days[: len(values)], ors=values, srs=[np.nan] * len(values)),
                label="A",
                age_group=age_group,
                start=START,
            ),
        )
        for rater, values in ratings
    )
    return ge.AnonymousParticipant(position=position, role=role, case=case, ratings=rated)


def couple(model=None):
    return (
        partner(0, "partner", [15.0, 17.0, 21.0, 24.0], [38.0, 35.0, 37.0, 38.0], model=model),
        partner(1, "partner", [22.0, 16.0, 17.0], [37.0, 33.0, 34.0], model=model),
    )


def test_member_roles_name_both_adults_of_a_couple_partners() -> None:
    assert [ge.member_role(i, "couple") for i in range(2)] == ["partner", "partner"]
    assert [ge.member_role(i, "family") for i in range(3)] == ["family_member"] * 3
    assert [ge.member_role(i, "individual") for i in range(2)] == ["index", "member"]


def test_weeks_count_from_the_given_start_so_partners_agree() -> None:
    frame = raw_sessions(days=[14, 21])
    case = ge.anonymise_case(frame, label="A", age_group="adult", start=START)
    assert case.sessions["weeks_since_start"].tolist() == [2, 3]


def test_a_couple_is_one_graph_with_each_partner_in_own_colour_and_marker() -> None:
    from fitdata.ui.charts import PARTICIPANT_STYLES

    people = couple(model=FakeModel(lower=18.0, expected=22.0))
    figure = go.Figure(
        group_figure(people[0].case, Translator("en"), DEFAULT_CONFIG, participants=people)
    )
    a, b = trace(figure, "Partner A: ORS"), trace(figure, "Partner B: ORS")
    assert list(a.y) == [15.0, 17.0, 21.0, 24.0] and list(b.y) == [22.0, 16.0, 17.0]
    assert (a.line.color, a.marker.symbol) == PARTICIPANT_STYLES[0]
    assert (b.line.color, b.marker.symbol) == PARTICIPANT_STYLES[1]
    srs_b = trace(figure, "Partner B: SRS")
    assert list(srs_b.y) == [37.0, 33.0, 34.0] and srs_b.line.dash == "dot"
    assert srs_b.marker.symbol == ("square-open", "square", "square")  # below 36: filled
    assert trace(figure, "Partner A: SRS").line.color == PARTICIPANT_STYLES[0][0]
    assert list(trace(figure, "Partner B: Lower expected line").y) == [22.0, 18.0, 18.0]
    # Partner B's sessions below the lower line are ringed as well as A's.
    rings = trace(figure, "Not on track")
    assert set(zip(rings.x, rings.y, strict=True)) == {(2, 17.0), (2, 16.0), (3, 17.0)}
    assert figure.layout.title.text == "Case A (couple)"
    assert figure.layout.legend.orientation == "v"
    # Both partners alike: a lower line each in their colour; A's band and median wait.
    assert trace(figure, "Partner A: Lower expected line").line.color == PARTICIPANT_STYLES[0][0]
    assert trace(figure, "Partner A: Expected (median of 120 episodes)").visible == "legendonly"
    assert trace(figure, "Partner A: reliable change ±5 around the first ORS").visible == (
        "legendonly"
    )
    payload = json.dumps(figure.to_plotly_json(), default=str)
    for secret in ("2025", "K-SECRET", "E0004711", "Kari"):
        assert secret not in payload


def test_hidden_sessions_are_hidden_for_every_partner() -> None:
    people = couple()
    spec = group_figure(
        people[0].case, Translator("nb"), DEFAULT_CONFIG, shown=2, participants=people
    )
    figure = go.Figure(spec)
    assert list(trace(figure, "Partner A: ORS").x) == [1, 2]
    assert list(trace(figure, "Partner B: ORS").x) == [1, 2]
    assert figure.layout.title.text == "Sak A (par)"


def test_a_family_names_members_and_the_parents_rating_and_both_cutoffs() -> None:
    people = (
        partner(0, "family_member", [20.0, 23.0, 25.0], [38.0, 38.0, 33.0]),
        partner(
            1,
            "family_member",
            [24.0, 26.0, 29.0],
            [36.0, 37.0, 38.0],
            age_group="child",
            ratings=[("parent", [22.0, 24.0, 27.0])],
        ),
    )
    for lang, parent, cutoffs in (
        (
            "en",
            "Parent's rating of Family member B",
            {
                "Clinical cutoff 25 (adult): Family member A",
                "Clinical cutoff 32 (child): Family member B",
            },
        ),
        (
            "nb",
            "Forelders skåring av Familiemedlem B",
            {
                "Klinisk grense 25 (voksen): Familiemedlem A",
                "Klinisk grense 32 (barn): Familiemedlem B",
            },
        ),
    ):
        figure = go.Figure(
            group_figure(people[0].case, Translator(lang), DEFAULT_CONFIG, participants=people)
        )
        rated = trace(figure, parent)
        assert list(rated.y) == [22.0, 24.0, 27.0] and rated.line.dash == "dash"
        names = {t.name for t in figure.data}
        assert cutoffs <= names


def test_one_clients_parent_rating_is_named_without_a_participant() -> None:
    child = partner(
        0,
        "index",
        [24.0, 26.0],
        [36.0, 37.0],
        age_group="child",
        ratings=[("parent", [22.0, 24.0])],
    )
    figure = go.Figure(
        group_figure(child.case, Translator("en"), DEFAULT_CONFIG, participants=(child,))
    )
    assert list(trace(figure, "Parent's rating").y) == [22.0, 24.0]
    assert [t.name for t in figure.data[5:7]] == ["ORS", "SRS"]  # one client: as before
    assert figure.layout.title.text == "Case A (child)"


def test_reasons_of_a_couple_name_whose_flag_each_is() -> None:
    from fitdata.ui.group_exercise_texts import reason_text

    text = reason_text(
        Translator("en"),
        DEFAULT_CONFIG,
        ("not_on_track", "srs_drop"),
        (4, 3),
        ("Partner B", "Partner A"),
    )
    assert text == "Partner B: not on track now (at session 4) · Partner A: SRS drop at session 3"


@pytest.mark.parametrize(
    ("lang", "text"), [("en", "Ended (unplanned)"), ("nb", "Avsluttet (uplanlagt)")]
)
def test_an_ended_case_seen_whole_gets_an_end_marker_without_a_date(lang, text) -> None:
    from fitdata.analytics.client_status import EpisodeEnd

    case = ge.anonymise_case(raw_sessions(), label="A", age_group="adult")
    end = EpisodeEnd(date=dt.date(2025, 6, 30), end_type="unplanned")
    tr = Translator(lang)
    spec = group_figure(case, tr, DEFAULT_CONFIG, ended=end)
    layout = spec["layout"]
    marker = [a for a in layout["annotations"] if a.get("name") == "episode-end"]
    assert [a["text"] for a in marker] == [text]
    line = next(s for s in layout["shapes"] if s.get("name") == "episode-end")
    assert line["x0"] == case.session_count + 0.5
    assert layout["xaxis"]["range"][1] >= case.session_count + 1.5  # room for the label
    drawn = json.dumps(spec, default=str)
    assert "2025" not in drawn and "30.06" not in drawn
    go.Figure(spec)  # valid plotly
    # While the group predicts (some sessions hidden), the end is not drawn.
    hidden = group_figure(case, tr, DEFAULT_CONFIG, shown=2, ended=end)
    assert not [s for s in hidden["layout"]["shapes"] if s.get("name") == "episode-end"]
    assert not hidden["layout"].get("annotations")
