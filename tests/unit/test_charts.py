import datetime as dt
import json
import math

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from fitdata.analytics.client_status import client_status
from fitdata.config import DEFAULT_CONFIG
from fitdata.i18n import Translator
from fitdata.ui.charts import client_graph_spec

NAN = math.nan


def sessions(ors, srs, *, items=False, rater="client") -> pd.DataFrame:
    n = len(ors)
    data = {
        "session_no": list(range(1, n + 1)),
        "session_date": [dt.date(2025, 1, 6) + dt.timedelta(weeks=i) for i in range(n)],
        "rater": [rater] * n,
        "ors_total": ors,
        "srs_total": srs,
    }
    for name in ("ors_individual", "ors_interpersonal", "ors_social", "ors_overall"):
        data[name] = [o / 4 if items else NAN for o in ors]
    for name in ("srs_relationship", "srs_goals", "srs_approach", "srs_overall"):
        data[name] = [s / 4 if items else NAN for s in srs]
    return pd.DataFrame(data)


def figure_for(frame: pd.DataFrame, group: str = "adult", lang: str = "en"):
    own = frame[frame["rater"] == "client"]
    status = client_status(own, group)
    spec = client_graph_spec(frame, status, Translator(lang), DEFAULT_CONFIG)
    return go.Figure(spec), status  # go.Figure validates every property of the spec


def by_name(figure, name):
    return next(t for t in figure.data if t.name == name)


def test_graph_has_series_cutoffs_and_band_around_first_ors() -> None:
    figure, _ = figure_for(sessions([18.0, 21.0, 25.4], [38.0, 37.0, 35.5], items=True))
    ors = by_name(figure, "ORS")
    assert list(ors.x) == [1, 2, 3] and list(ors.y) == [18.0, 21.0, 25.4]
    assert "Individually 4.5" in ors.customdata[0][2]
    assert ors.customdata[0][0] == "2025-01-06"
    band = by_name(figure, "Reliable change: ±5 around the first ORS")
    assert min(band.y) == 13.0 and max(band.y) == 23.0
    assert set(by_name(figure, "Clinical cutoff 25 (adult)").y) == {25.0}
    assert set(by_name(figure, "SRS cutoff 36").y) == {36.0}
    srs = by_name(figure, "SRS")
    assert srs.marker.symbol == ("circle", "circle", "diamond")  # below 36 is marked


def test_cutoff_line_follows_age_group() -> None:
    figure, _ = figure_for(sessions([28.0, 30.0], [39.0, 39.0]), group="child")
    assert set(by_name(figure, "Clinical cutoff 32 (child)").y) == {32.0}


def test_one_session_client_still_gets_a_readable_axis() -> None:
    figure, _ = figure_for(sessions([20.0], [39.0]))
    assert list(by_name(figure, "ORS").x) == [1]
    assert figure.layout.xaxis.range == (0.5, 6.5)


def test_total_only_scores_say_so_on_hover() -> None:
    figure, _ = figure_for(sessions([20.0, 22.0], [38.0, 39.0]))
    assert by_name(figure, "ORS").customdata[1][2] == "total only (no items recorded)"


def test_no_srs_gives_an_empty_srs_series_and_no_error() -> None:
    figure, _ = figure_for(sessions([20.0, 22.0], [NAN, NAN]))
    assert list(by_name(figure, "SRS").x) == []


def test_collateral_ratings_are_a_separate_series() -> None:
    frame = pd.concat(
        [sessions([28.0, 30.0], [36.0, 36.0]), sessions([25.0, 27.0], [NAN, NAN], rater="parent")]
    )
    figure, status = figure_for(frame, group="child")
    assert status.first_ors == 28.0  # the client's own rating, not the parent's
    assert list(by_name(figure, "ORS rated by parent").y) == [25.0, 27.0]


def test_norwegian_labels_and_decimal_comma() -> None:
    figure, _ = figure_for(sessions([18.2, 21.0], [38.0, 37.0]), lang="nb")
    assert figure.layout.xaxis.title.text == "Samtale"
    assert by_name(figure, "ORS").customdata[0][1] == "18,2"
    assert by_name(figure, "ORS").customdata[0][0] == "06.01.2025"


def test_spec_is_plain_json_with_the_template_spelled_out() -> None:
    frame = sessions([20.0, 24.0, 27.0], [38.0, 33.0, 39.0], items=True)
    status = client_status(frame, "adult")
    spec = client_graph_spec(frame, status, Translator("en"), DEFAULT_CONFIG, title="K-1")
    # Plain data survives a strict JSON round trip unchanged (no NumPy values, no objects).
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec
    # plotly.js knows no template names: the page must get plotly_white itself, not its name.
    template = spec["layout"]["template"]
    assert template == pio.templates["plotly_white"].to_plotly_json()
    assert template["layout"]["plot_bgcolor"] == "white"
    figure = go.Figure(spec)
    assert figure.layout.title.text == "K-1"
    assert figure.layout.plot_bgcolor is None  # set by the template, not on the figure
    assert figure.layout.template.layout.plot_bgcolor == "white"


# -- the episode graph: every participant of a couple or family (issue 20) -------------------

from fitdata.ui.charts import (  # noqa: E402
    PARTICIPANT_STYLES,
    ParticipantSeries,
    episode_graph,
    participant_label,
)


def participant(frame, role, label, group="adult", **kwargs) -> ParticipantSeries:
    own = frame[frame["rater"] == "client"]
    return ParticipantSeries(
        client_id=label,
        role=role,
        label=label,
        sessions=frame,
        status=client_status(own, group),
        **kwargs,
    )


def expected_frame(n: int, *, sufficient: bool = True) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_no": list(range(1, n + 1)),
            "expected": [15.0 + i for i in range(n)],
            "lower": [13.0 + 0.5 * i for i in range(n)],
            "n_episodes": [120] * n,
            "sufficient": [sufficient] * n,
            "reason": [None if sufficient else "n < 30"] * n,
        }
    )


def couple(lang="en", groups=("adult", "adult"), **kwargs):
    a = sessions([14.0, 18.0, 22.0], [38.0, 34.0, 39.0], items=True)
    b = sessions([20.0, 19.0], [37.0, 39.0])
    series = [
        participant(a, "index", "Partner · K-1", groups[0], **kwargs),
        participant(b, "partner", "Partner · K-2", groups[1], **kwargs),
    ]
    return series, episode_graph(series, Translator(lang), DEFAULT_CONFIG, title="Couple")


def test_one_participant_is_exactly_the_client_graph() -> None:
    frame = pd.concat(
        [sessions([28.0, 30.0], [36.0, 35.0]), sessions([25.0, 27.0], [NAN, NAN], rater="parent")]
    )
    flags = pd.DataFrame({"session_no": [2], "flag": ["srs_below_cutoff"], "rule": ["SRS < 36"]})
    one = participant(frame, "index", "Client · K-1", "child", flag_markers=flags)
    one = ParticipantSeries(**{**one.__dict__, "expected": expected_frame(2)})
    for lang, show_dates in (("en", True), ("nb", False)):
        tr = Translator(lang)
        expected = client_graph_spec(
            frame,
            one.status,
            tr,
            DEFAULT_CONFIG,
            title="K-1",
            expected=one.expected,
            flag_markers=flags,
            show_dates=show_dates,
        )
        got = episode_graph([one], tr, DEFAULT_CONFIG, title="K-1", show_dates=show_dates)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_each_partner_has_own_ors_and_srs_in_own_colour_and_marker() -> None:
    _, spec = couple()
    figure = go.Figure(spec)  # validates
    ors_a = by_name(figure, "Partner · K-1: ORS")
    ors_b = by_name(figure, "Partner · K-2: ORS")
    assert list(ors_a.y) == [14.0, 18.0, 22.0] and list(ors_b.y) == [20.0, 19.0]
    assert ors_a.line.color != ors_b.line.color
    assert ors_a.marker.symbol != ors_b.marker.symbol
    assert (ors_a.line.color, ors_a.marker.symbol) == PARTICIPANT_STYLES[0]
    srs_a = by_name(figure, "Partner · K-1: SRS")
    srs_b = by_name(figure, "Partner · K-2: SRS")
    assert list(srs_b.y) == [37.0, 39.0]
    # Open shapes of the partner's own marker; the SRS below 36 filled, larger and vermilion.
    assert srs_a.marker.symbol == ("circle-open", "circle", "circle-open")
    assert srs_a.marker.color[1] == "#D55E00" and srs_a.marker.size[1] > srs_a.marker.size[0]
    assert set(srs_b.marker.symbol) == {"square-open"}
    assert srs_a.line.dash == "dot" and ors_a.line.dash is None
    # Every participant's own trace is in its own legend group, and the hover names them.
    assert ors_a.legendgroup == srs_a.legendgroup != ors_b.legendgroup
    assert ors_b.hovertemplate.startswith("<b>Partner · K-2</b>")
    assert figure.layout.legend.traceorder == "grouped"  # each partner's entries together


def test_a_shared_age_group_is_one_cutoff_line() -> None:
    _, spec = couple()
    figure = go.Figure(spec)
    cutoffs = [t for t in figure.data if t.name and t.name.startswith("Clinical cutoff")]
    assert [t.name for t in cutoffs] == ["Clinical cutoff 25 (adult)"]
    assert not figure.layout.annotations


def test_differing_age_groups_get_a_cutoff_line_each_naming_whose() -> None:
    series, spec = couple(groups=("adult", "child"))
    figure = go.Figure(spec)
    cutoffs = {t.name: set(t.y) for t in figure.data if t.name.startswith("Clinical cutoff")}
    assert cutoffs == {
        "Clinical cutoff 25 (adult): Partner · K-1": {25.0},
        "Clinical cutoff 32 (child): Partner · K-2": {32.0},
    }
    dashes = {t.line.dash for t in figure.data if t.name.startswith("Clinical cutoff")}
    assert len(dashes) == 2  # told apart without colour
    labels = {(a.text, a.y) for a in figure.layout.annotations}
    assert labels == {("Partner · K-1", 25.0), ("Partner · K-2", 32.0)}


def test_each_partner_has_own_lower_expected_line_or_a_note_why_not() -> None:
    a = sessions([14.0, 18.0, 22.0], [38.0, 34.0, 39.0])
    b = sessions([20.0, 19.0], [37.0, 39.0])
    series = [
        participant(a, "index", "Partner A", expected=expected_frame(3)),
        participant(b, "partner", "Partner B", expected=expected_frame(2, sufficient=False)),
    ]
    figure = go.Figure(episode_graph(series, Translator("en"), DEFAULT_CONFIG))
    lower = by_name(figure, "Partner A: lower expected line (25th percentile)")
    assert list(lower.y) == [13.0, 13.5, 14.0] and lower.line.color == PARTICIPANT_STYLES[0][0]
    assert not [t for t in figure.data if t.name.startswith("Partner B: lower")]
    notes = [a.text for a in figure.layout.annotations]
    assert notes == [
        "Partner B: no expected line (fewer than 30 closed episodes with a similar intake)"
    ]


def test_parent_rating_is_its_own_dashed_line_beside_the_child() -> None:
    child = pd.concat(
        [sessions([28.0, 30.0], [36.0, 36.0]), sessions([25.0, 27.0], [NAN, NAN], rater="parent")]
    )
    mother = sessions([18.0, 21.0], [38.0, 39.0])
    series = [
        participant(mother, "index", "Family member · K-M"),
        participant(child, "family_member", "Family member · K-C", "child"),
    ]
    for lang, name in (
        ("en", "Parent's rating of Family member · K-C"),
        ("nb", "Forelders skåring av Family member · K-C"),
    ):
        figure = go.Figure(episode_graph(series, Translator(lang), DEFAULT_CONFIG))
        parent = by_name(figure, name)
        assert list(parent.y) == [25.0, 27.0] and parent.line.dash == "dash"
        child_ors = by_name(figure, "Family member · K-C: ORS")
        assert list(child_ors.y) == [28.0, 30.0]  # the child's own, not the parent's
        assert parent.line.color == child_ors.line.color == PARTICIPANT_STYLES[1][0]
        assert parent.marker.symbol == "x" != child_ors.marker.symbol


def test_bands_are_per_participant_and_hidden_until_asked_for() -> None:
    _, spec = couple()
    figure = go.Figure(spec)
    band = by_name(figure, "Partner · K-2: reliable change ±5 around the first ORS")
    assert band.visible == "legendonly" and (min(band.y), max(band.y)) == (15.0, 25.0)


def test_flags_are_named_by_participant_and_sit_on_their_points() -> None:
    flags = pd.DataFrame({"session_no": [2], "flag": ["srs_below_cutoff"], "rule": ["SRS < 36"]})
    _, spec = couple(flag_markers=flags)
    figure = go.Figure(spec)
    mark = by_name(figure, "Partner · K-1: SRS below cutoff")
    assert list(mark.x) == [2] and list(mark.y) == [34.0]


def test_hidden_dates_become_weeks_since_the_episode_start() -> None:
    a = sessions([14.0, 18.0, 22.0], [38.0, 34.0, 39.0])
    b = sessions([20.0, 19.0], [37.0, 39.0])
    b["session_date"] = [d + dt.timedelta(weeks=1) for d in b["session_date"]]
    series = [participant(a, "index", "Partner A"), participant(b, "partner", "Partner B")]
    spec = episode_graph(series, Translator("en"), DEFAULT_CONFIG, show_dates=False)
    text = json.dumps(spec)
    assert "2025" not in text
    ors_b = next(t for t in spec["data"] if t["name"] == "Partner B: ORS")
    assert [c[0] for c in ors_b["customdata"]] == ["week 1", "week 2"]


def test_participant_labels_named_and_anonymous_in_both_languages() -> None:
    en, nb = Translator("en"), Translator("nb")
    assert participant_label("partner", "K-1234", 1, en) == "Partner · K-1234"
    assert participant_label("index", "K-1", 0, en, format="couple") == "Partner · K-1"
    assert participant_label("index", "K-1", 0, en) == "Client · K-1"
    assert participant_label("index", None, 0, en, format="couple") == "Partner A"
    assert participant_label("partner", None, 1, en) == "Partner B"
    assert participant_label("family_member", None, 2, en) == "Family member C"
    assert participant_label("index", None, 0, nb, format="family") == "Familiemedlem A"
    assert participant_label("member", "K-9", 3, nb) == "Deltaker · K-9"


def test_episode_graph_needs_a_participant_and_is_plain_json() -> None:
    with pytest.raises(ValueError):
        episode_graph([], Translator("en"), DEFAULT_CONFIG)
    _, spec = couple(lang="nb")
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec


# -- an ended episode is marked after its last session; gaps stay gaps (issue 23) -----------

from fitdata.analytics.client_status import EpisodeEnd  # noqa: E402
from fitdata.ui.charts import gap_slots  # noqa: E402

END = EpisodeEnd(dt.date(2026, 3, 12), "planned")


def end_marks(spec) -> tuple[list, list]:
    layout = spec["layout"]
    shapes = [s for s in layout.get("shapes", []) if s.get("name") == "episode-end"]
    notes = [a for a in layout.get("annotations", []) if a.get("name") == "episode-end"]
    return shapes, notes


def test_an_ended_episode_is_marked_after_its_last_session() -> None:
    frame = sessions([18.0, 21.0, 23.0, 25.0, 26.0, 27.0, 28.0], [38.0] * 7)
    status = client_status(frame, "adult")
    for lang, text in (
        ("en", "Ended (planned) 2026-03-12"),
        ("nb", "Avsluttet (planlagt) 12.03.2026"),
    ):
        spec = client_graph_spec(frame, status, Translator(lang), DEFAULT_CONFIG, ended=END)
        figure = go.Figure(spec)  # validates the shape and the annotation
        shapes, notes = end_marks(spec)
        assert len(shapes) == 1 and shapes[0]["x0"] == shapes[0]["x1"] == 7.5
        assert (shapes[0]["yref"], shapes[0]["y0"], shapes[0]["y1"]) == ("paper", 0, 1)
        assert [n["text"] for n in notes] == [text] and notes[0]["x"] == 7.5
        # Room for the label after the line, and no tick for a session that never was.
        assert figure.layout.xaxis.range == (0.5, 8.5)
        assert list(figure.layout.xaxis.tickvals) == [1, 2, 3, 4, 5, 6, 7]
    ongoing = client_graph_spec(frame, status, Translator("en"), DEFAULT_CONFIG)
    assert end_marks(ongoing) == ([], [])
    assert ongoing["layout"]["xaxis"]["range"] == [0.5, 7.5]


def test_each_end_type_is_named_and_an_anonymous_graph_has_no_date() -> None:
    frame = sessions([18.0, 21.0], [38.0, 38.0])
    status = client_status(frame, "adult")
    words = {
        ("en", "unplanned"): "Ended (unplanned) 2026-03-12",
        ("en", "transferred"): "Ended (transferred) 2026-03-12",
        ("nb", "unplanned"): "Avsluttet (uplanlagt) 12.03.2026",
        ("nb", "transferred"): "Avsluttet (overført) 12.03.2026",
    }
    for (lang, end_type), text in words.items():
        ended = EpisodeEnd(END.date, end_type)
        spec = client_graph_spec(frame, status, Translator(lang), DEFAULT_CONFIG, ended=ended)
        assert [n["text"] for n in end_marks(spec)[1]] == [text]
        assert end_marks(spec)[0][0]["x0"] == 2.5  # after session 2, inside the 6-session axis
        assert spec["layout"]["xaxis"]["range"] == [0.5, 6.5]
        assert spec["layout"]["xaxis"]["tickvals"] == [1, 2]  # no session after the end
    for lang, text in (("en", "Ended (planned)"), ("nb", "Avsluttet (planlagt)")):
        spec = client_graph_spec(
            frame, status, Translator(lang), DEFAULT_CONFIG, ended=END, show_dates=False
        )
        assert [n["text"] for n in end_marks(spec)[1]] == [text]
        assert "2026" not in json.dumps(spec) and "2025" not in json.dumps(spec)


def test_the_episode_graph_marks_the_end_after_the_episode_last_session() -> None:
    a = sessions([14.0, 18.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0], [38.0] * 8)
    b = sessions([20.0, 19.0], [37.0, 39.0])
    series = [participant(a, "index", "Partner A"), participant(b, "partner", "Partner B")]
    for lang, show_dates, text in (
        ("en", True, "Ended (planned) 2026-03-12"),
        ("nb", False, "Avsluttet (planlagt)"),
    ):
        spec = episode_graph(
            series, Translator(lang), DEFAULT_CONFIG, ended=END, show_dates=show_dates
        )
        figure = go.Figure(spec)
        shapes, notes = end_marks(spec)
        assert [s["x0"] for s in shapes] == [8.5] and [n["text"] for n in notes] == [text]
        assert figure.layout.xaxis.range == (0.5, 9.5)
    assert end_marks(episode_graph(series, Translator("en"), DEFAULT_CONFIG)) == ([], [])
    # One participant: exactly the client graph, the end marker included.
    one = series[:1]
    tr = Translator("en")
    assert json.dumps(episode_graph(one, tr, DEFAULT_CONFIG, ended=END), sort_keys=True) == (
        json.dumps(
            client_graph_spec(a, one[0].status, tr, DEFAULT_CONFIG, ended=END), sort_keys=True
        )
    )


def test_gap_slots_only_between_scores() -> None:
    assert gap_slots([1, 2, 3]) == [(1, 0), (2, 1), (3, 2)]
    assert gap_slots([2, 5]) == [(2, 0), (3, None), (4, None), (5, 1)]
    assert gap_slots([]) == []


def test_a_session_without_a_score_breaks_the_line() -> None:
    frame = sessions(
        [15.0, 17.0, NAN, 20.0, NAN, NAN, 24.0], [34.0, NAN, 38.0, 35.0, 37.0, 38.0, 39.0]
    )
    figure = go.Figure(
        client_graph_spec(
            frame,
            client_status(frame, "adult"),
            Translator("en"),
            DEFAULT_CONFIG,
            expected=expected_frame(7),
        )
    )
    ors = by_name(figure, "ORS")
    assert list(ors.x) == [1, 2, 3, 4, 5, 6, 7]
    assert list(ors.y) == [15.0, 17.0, None, 20.0, None, None, 24.0]
    assert not ors.connectgaps  # plotly draws no line across a None
    assert ors.customdata[2] is None and ors.customdata[3][1] == "20.0"
    srs = by_name(figure, "SRS")
    assert list(srs.y) == [34.0, None, 38.0, 35.0, 37.0, 38.0, 39.0]
    # The SRS markers stay on their sessions: the two below 36 (1 and 4) are diamonds.
    assert [srs.marker.symbol[i] for i in (0, 3)] == ["diamond", "diamond"]
    assert srs.marker.symbol[2] == "circle" and len(srs.marker.size) == 7
    # The expected trajectory is not a measurement: it has no gaps.
    median = by_name(figure, "Expected ORS (median of 120 closed episodes)")
    assert None not in list(median.y) and list(median.x) == [1, 2, 3, 4, 5, 6, 7]


def test_a_missing_session_breaks_a_partner_line_too() -> None:
    a = sessions([14.0, NAN, 22.0], [38.0, 34.0, NAN])
    b = sessions([20.0, 19.0, 21.0], [37.0, 39.0, 38.0])
    b = b[b["session_no"] != 2]  # partner B did not come to session 2
    series = [participant(a, "index", "Partner A"), participant(b, "partner", "Partner B")]
    figure = go.Figure(episode_graph(series, Translator("en"), DEFAULT_CONFIG))
    assert list(by_name(figure, "Partner A: ORS").y) == [14.0, None, 22.0]
    assert list(by_name(figure, "Partner A: SRS").y) == [38.0, 34.0]  # none after the last
    ors_b = by_name(figure, "Partner B: ORS")
    assert list(ors_b.x) == [1, 2, 3] and list(ors_b.y) == [20.0, None, 21.0]
    srs_b = by_name(figure, "Partner B: SRS")
    assert list(srs_b.y) == [37.0, None, 38.0] and len(srs_b.marker.symbol) == 3
    assert srs_b.marker.symbol[1] == "square-open"
