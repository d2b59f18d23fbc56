"""The service page redraws only what a change touched, and a quarter change computes once."""

from __future__ import annotations

from pathlib import Path

import pytest

import fitdata.ui.service as service_ui
from fitdata.ui.context import DashboardContext
from fitdata.ui.service import CHARTS, ServiceView, chart_traces, highlight_css
from tests.unit.test_service import build_service_db


@pytest.fixture(scope="module")
def service_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_service_db(tmp_path_factory.mktemp("service-view") / "service.duckdb")


@pytest.fixture()
def view(service_db) -> ServiceView:
    """The page on 2025Q3 (it opens on 2025Q2, the last complete quarter: Alfa's only)."""
    view = ServiceView(DashboardContext(service_db, "en"))
    assert (view.period_from.value, view.period_to.value) == ("2025Q2", "2025Q2")
    view.period_from.value = "2025Q3"
    return view


@pytest.fixture()
def summaries(monkeypatch) -> list:
    """The filters of every summary the page computes from now on."""
    seen: list = []
    original = service_ui.service_summary

    def counted(reader, filters, **kwargs):
        seen.append(filters)
        return original(reader, filters, **kwargs)

    monkeypatch.setattr(service_ui, "service_summary", counted)
    return seen


def test_a_team_change_sends_the_trends_but_not_the_team_comparison(view, summaries) -> None:
    teams_table = view.tables["teams"].value
    completeness_team = view.tables["completeness_team"].value
    notes = view.notes.value
    team_figures, trend_figures = view.team_graph.sent, view.trend_graph.sent
    before = [t.y for t in chart_traces(view.figure, "completeness")]

    view.team.value = "TA"

    assert [f.team_id for f in summaries] == ["TA"]
    # the team parts are the same text, so ipywidgets sends nothing for them
    assert view.tables["teams"].value == teams_table
    assert view.tables["completeness_team"].value == completeness_team
    assert view.notes.value == notes
    assert view.team_graph.sent == team_figures
    # the trends follow the team
    assert view.trend_graph.sent == trend_figures + 1
    assert [t.y for t in chart_traces(view.figure, "completeness")] != before
    assert "Team: Alfa" in view.selection.value
    # the team is marked by a style rule on its table rows and its name on the charts' axes
    assert view.highlight.value == highlight_css("TA", "Alfa")
    assert 'tr[data-key="TA"]' in view.highlight.value
    assert 'data-unformatted="Alfa"' in view.highlight.value
    assert 'data-key="TA"' in view.tables["teams"].value
    assert {trace.meta for trace in view.figure.data} == set(CHARTS)

    view.team.value = ""
    assert view.highlight.value == ""
    assert view.team_graph.sent == team_figures
    # the trend box keeps the trend figure's height while plotly replaces it
    style = view.widget.children[0].value
    assert f"min-height: {view.trend_graph.spec['layout']['height']}px" in style


def test_a_population_change_sends_the_team_comparison(view, summaries) -> None:
    team_figures = view.team_graph.sent
    view.service.value = "Voksen"
    assert view.team_graph.sent == team_figures + 1
    assert "Delta" not in view.tables["teams"].value
    names = chart_traces(view.figure, "team_target")[0].y
    assert list(names) == ["Alfa", "Beta", "Gamma"]


def test_one_quarter_for_another_computes_one_summary(view, summaries) -> None:
    assert (view.period_from.value, view.period_to.value) == ("2025Q3", "2025Q3")
    view.period_from.value = "2025Q2"  # a single quarter stays single: the end follows
    view.period_to.value = "2025Q2"  # already there: nothing happens
    assert [f.period.label for f in summaries] == ["2025Q2"]
    assert "Period: 2025Q2 " in view.selection.value + " "

    view.period_to.value = "2025Q3"  # a later end makes a range
    assert [f.period.label for f in summaries][-1] == "2025Q2..2025Q3"
    view.period_from.value = "2025Q3"  # a start after the end moves the end with it
    view.period_to.value = "2025Q2"  # an end before the start moves the start with it
    assert [f.period.label for f in summaries][-2:] == ["2025Q3", "2025Q2"]
    assert (view.period_from.value, view.period_to.value) == ("2025Q2", "2025Q2")
    assert "fitdata-warning" not in view.message.value


def test_highlight_css_escapes_what_it_quotes() -> None:
    css = highlight_css('T"1</style>', "Team <b> \\ x")
    assert "</style>" not in css.removesuffix("</style>")
    assert '"' not in css.replace('"T\\22 1\\3c \\2f style\\3e "', "").replace(
        '"Team\\20 \\3c b\\3e \\20 \\5c \\20 x"', ""
    ).replace('"completeness_team"', "").replace('"teams"', "").replace('"couples_teams"', "")
    assert highlight_css(None, None) == ""
