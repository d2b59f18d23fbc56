import datetime as dt
import json
import math

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

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
