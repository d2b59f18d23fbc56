"""FigureView: what reaches the browser is plotly JSON; an unchanged figure is not sent again."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from fitdata.ui.figure_view import PLOTLY_CONFIG, FigureView

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
    for view in (FigureView(), FigureView(spec), FigureView(go.Figure(spec))):
        assert bundle(view)[MIME]["config"] == PLOTLY_CONFIG
        assert bundle(view)[MIME]["config"] is not PLOTLY_CONFIG  # a page cannot change it
