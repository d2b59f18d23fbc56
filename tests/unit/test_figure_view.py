"""FigureView: what reaches the browser is plotly JSON; an unchanged figure is not sent again."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from fitdata.i18n import catalogue
from fitdata.kernel_env import ENV_LANG
from fitdata.ui.figure_view import PLOTLY_CONFIG, FigureView, plotly_config

MIME = "application/vnd.plotly.v1+json"


def bundle(view: FigureView) -> dict:
    (output,) = view.outputs
    assert output["output_type"] == "display_data"
    return output["data"]


def test_a_spec_with_numpy_values_and_nan_is_sent_as_plain_json() -> None:
    view = FigureView()
    assert view.spec == {"data": [], "layout": {}}
    spec = {
        "data": [{"type": "scatter", "x": np.arange(3), "y": [1.0, math.nan, np.float64(3)]}],
        "layout": {"title": {"text": "Client K-1"}},
    }
    assert view.show(spec) is True
    sent = bundle(view)
    assert sent[MIME]["data"] == [{"type": "scatter", "x": [0, 1, 2], "y": [1.0, None, 3.0]}]
    assert sent[MIME]["config"] == PLOTLY_CONFIG
    assert sent["text/plain"] == "Client K-1"
    assert view.figure.data[0].y == (1.0, None, 3.0)


def test_the_same_figure_is_not_sent_twice() -> None:
    spec = {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}}
    view = FigureView(spec)
    assert view.sent == 1
    assert view.show({"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}}) is False
    assert view.sent == 1
    assert view.show({"data": [{"type": "bar", "x": ["a"], "y": [2]}], "layout": {}}) is True
    assert view.sent == 2
    assert view.figure.data[0].y == (2,)


def test_a_go_figure_is_kept_as_given() -> None:
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="ORS"))
    view = FigureView(figure)
    assert view.figure is figure
    assert view.spec["data"][0]["name"] == "ORS"


def test_reading_the_figure_validates_the_spec() -> None:
    view = FigureView({"data": [{"type": "scatter", "colour": "red"}], "layout": {}})
    with pytest.raises(ValueError, match="colour"):
        _ = view.figure


def test_no_chart_offers_to_send_its_data_off_the_machine() -> None:
    """plotly.js 3 shows a "Share chart..." button that posts the data to Plotly's cloud."""
    assert PLOTLY_CONFIG["displaylogo"] is False  # the logo links to plotly.com
    assert PLOTLY_CONFIG["showSendToCloud"] is False
    assert PLOTLY_CONFIG["showEditInChartStudio"] is False
    assert PLOTLY_CONFIG["showLink"] is False
    assert PLOTLY_CONFIG["plotlyServerURL"] == ""
    assert PLOTLY_CONFIG["linkText"] == ""
    removed = set(PLOTLY_CONFIG["modeBarButtonsToRemove"])
    assert {"sendDataToCloud", "sendChartToCloud", "editInChartStudio"} <= removed
    assert "toImage" not in removed  # downloading a PNG stays on this machine


def test_every_figure_is_sent_with_the_package_config() -> None:
    spec = {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}}
    for view in (FigureView(spec), FigureView(go.Figure(spec))):
        assert bundle(view)[MIME]["config"] == PLOTLY_CONFIG
        assert bundle(view)[MIME]["config"] is not PLOTLY_CONFIG  # a page cannot change it


def test_a_bokmal_figure_has_plotlys_toolbar_and_formats_in_bokmal() -> None:
    """The config selects plotly's ``no`` locale and carries it (no script from a CDN)."""
    spec = {"data": [{"type": "scatter", "x": [1], "y": [4.2]}], "layout": {}}
    view = FigureView(spec, lang="nb")
    config = bundle(view)[MIME]["config"]
    assert config["locale"] == "no"
    locale = config["locales"]["no"]
    assert locale["dictionary"]["Download plot as a PNG"] == "Last ned grafen som PNG"
    assert locale["dictionary"]["Reset axes"] == "Tilbakestill aksene"
    assert locale["dictionary"]["Zoom in"] == "Zoom inn"
    assert locale["format"]["decimal"] == ","
    assert locale["format"]["months"][2] == "mars"
    assert locale["format"]["shortMonths"][4] == "mai"
    assert len(locale["format"]["shortDays"]) == 7
    # the package's safety settings stay as they are
    assert {k: config[k] for k in PLOTLY_CONFIG} == dict(PLOTLY_CONFIG)


def test_plotly_config_in_bokmal_translates_every_modebar_text_english_has() -> None:
    english = plotly_config("en")
    bokmal = plotly_config("nb")
    assert "locale" not in english and "locales" not in english
    dictionary = bokmal["locales"]["no"]["dictionary"]
    texts = {key.removeprefix("plotly.") for key in catalogue("en") if key.startswith("plotly.")}
    assert {t for t in texts if not t.startswith("format.")} == set(dictionary)
    # every tooltip of the buttons our charts keep is translated, not copied
    for text in ("Autoscale", "Pan", "Box Select", "Lasso Select", "Reset axes", "Zoom out"):
        assert dictionary[text] != text


def test_bokmal_figures_read_4_comma_2_and_english_4_point_2() -> None:
    spec = {"data": [{"type": "bar", "x": ["a"], "y": [4.2]}], "layout": {}}
    bokmal = FigureView(spec, lang="nb")
    assert bokmal.spec["layout"]["separators"] == ", "
    assert bundle(bokmal)[MIME]["layout"]["separators"] == ", "
    assert bokmal.figure.layout.separators == ", "
    from_go = FigureView(go.Figure(spec), lang="nb")
    assert from_go.figure.layout.separators == ", "  # what was sent, not the figure as given
    english = FigureView(spec, lang="en")
    assert "separators" not in english.spec["layout"]
    # a chart that sets its own separators keeps them
    own = FigureView({"data": [], "layout": {"separators": ",."}}, lang="nb")
    assert own.spec["layout"]["separators"] == ",."


def test_a_figure_follows_the_kernels_language_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LANG, "nb")
    view = FigureView({"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}})
    assert view.lang == "nb"
    assert bundle(view)[MIME]["config"]["locale"] == "no"
    monkeypatch.setenv(ENV_LANG, "en")
    assert FigureView().lang == "en"


def test_a_figure_with_nothing_to_draw_shows_nothing_not_bare_axes() -> None:
    from fitdata.ui.figure_view import has_content

    view = FigureView(lang="en")
    assert view.outputs == ()  # the empty start is no chart at all (it was axes -1 ... 6)
    empty_traces = {"data": [{"type": "scatter", "x": [], "y": []}], "layout": {"title": "T"}}
    assert not has_content(empty_traces)
    view.show(empty_traces)
    assert view.outputs == ()
    note = {"data": [], "layout": {"annotations": [{"text": "No sessions yet"}]}}
    assert has_content(note)  # a note in words is content
    view.show(note)
    assert len(view.outputs) == 1
    view.show({"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}})
    assert len(view.outputs) == 1 and view.spec["data"][0]["y"] == [1]
