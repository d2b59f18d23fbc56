"""The client's own graph: their ORS by session, today's point highlighted, nothing clinical."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fitdata.i18n import Translator
from fitdata.ui.client_page_chart import CLIENT_PLOTLY_CONFIG, ClientFigure, client_history_figure
from fitdata.ui.figure_view import PLOTLY_CONFIG

HISTORY = pd.DataFrame(
    {
        "session_no": [1, 2, 3],
        "session_date": [dt.date(2025, 1, 6), dt.date(2025, 1, 13), dt.date(2025, 1, 20)],
        "ors_total": [18.0, 21.5, 24.3],
        "today": [False, False, True],
    }
)


def test_the_graph_is_the_clients_line_with_today_highlighted() -> None:
    spec = client_history_figure(HISTORY, Translator("nb"))
    line, today = spec["data"]
    assert line["x"] == [1, 2, 3] and line["y"] == [18.0, 21.5, 24.3]
    assert today["x"] == [3] and today["y"] == [24.3]
    assert today["marker"]["size"] > line["marker"]["size"]
    (note,) = spec["layout"]["annotations"]
    assert note["text"].endswith("<b>I dag: 24,3</b>") and note["xref"] == "paper"
    assert line["customdata"] == ["18", "21,5", "24,3"]
    assert spec["layout"]["yaxis"]["range"] == [0, 40.5]
    assert spec["layout"]["xaxis"]["title"]["text"] == "Samtale"


def test_no_cutoff_band_or_legend_and_no_zoom() -> None:
    spec = client_history_figure(HISTORY, Translator("en"))
    assert "shapes" not in spec["layout"] and len(spec["data"]) == 2
    assert spec["layout"]["showlegend"] is False and spec["layout"]["dragmode"] is False
    assert spec["layout"]["xaxis"]["fixedrange"] and spec["layout"]["yaxis"]["fixedrange"]


def test_without_a_point_today_nothing_is_highlighted() -> None:
    spec = client_history_figure(HISTORY.assign(today=False), Translator("en"))
    assert len(spec["data"]) == 1 and spec["layout"]["annotations"] == []


def test_the_graph_is_sent_with_the_packages_config_and_no_toolbar() -> None:
    figure = ClientFigure()
    figure.show(client_history_figure(HISTORY, Translator("en")))
    config = figure.outputs[0]["data"]["application/vnd.plotly.v1+json"]["config"]
    assert config["displayModeBar"] is False
    for key, value in PLOTLY_CONFIG.items():
        assert config[key] == value
    assert dict(CLIENT_PLOTLY_CONFIG)["displayModeBar"] is False


def test_a_long_history_has_few_upright_labels_and_no_point_cut_off() -> None:
    long = pd.DataFrame(
        {
            "session_no": range(1, 26),
            "session_date": [dt.date(2025, 1, 6) + dt.timedelta(weeks=i) for i in range(25)],
            "ors_total": [40.0] * 24 + [28.3],
            "today": [False] * 24 + [True],
        }
    )
    spec = client_history_figure(long, Translator("en"))
    axis = spec["layout"]["xaxis"]
    assert axis["tickangle"] == 0 and 25 / axis["dtick"] <= 8
    assert all(trace["cliponaxis"] is False for trace in spec["data"])
