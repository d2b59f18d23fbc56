"""The therapist development page driven in plain Python, as a person would in the browser."""

import pytest

from fitdata.data.store import reader_for
from fitdata.features.therapist_development import TherapistScope, clear_comparison_cache
from fitdata.ui import DashboardContext, TherapistDevelopmentView, build_therapist_development


@pytest.fixture
def view(development_db) -> TherapistDevelopmentView:
    clear_comparison_cache()
    return TherapistDevelopmentView(DashboardContext(development_db))


def trace(figure, name: str):
    return next(t for t in figure.data if t.name == name)


def choose_anna(view: TherapistDevelopmentView) -> None:
    view.team.value = "TA"
    view.therapist.value = "BA"


def test_dropdowns_list_teams_then_their_therapists(view) -> None:
    assert [value for _, value in view.team.options] == ["TA", "TB", "TO"]
    assert [value for _, value in view.therapist.options] == ["BA", "BB"]
    view.team.value = "TB"
    assert view.therapist.value == "BC"
    assert "Development for Cecilie Prøve" in view.heading.value


def test_the_chart_shows_the_therapist_team_and_service_by_quarter(view) -> None:
    choose_anna(view)
    view.grouping.value = "quarter"
    figure = view.outcome_figure
    assert list(figure.layout.xaxis.ticktext) == ["2024 Q3", "2024 Q4", "2025 Q1", "2025 Q2"]
    mine = trace(figure, "Anna Prøve")
    assert mine.y[2] == pytest.approx(1.36448, abs=1e-4)  # 2025Q1, computed by hand
    assert mine.y[0] is None and mine.y[1] is None  # no episodes ended then
    assert mine.customdata[2][1] == "1.36" and mine.customdata[2][3] == "5 clients"
    team = trace(figure, "Team (Team A)")
    assert team.y[2] == pytest.approx(1.36448, abs=1e-4)
    assert figure.layout.title.text == "Effect size (pre–post) by quarter"


def test_a_four_client_quarter_never_reaches_the_figure(view) -> None:
    choose_anna(view)
    view.grouping.value = "quarter"
    for measure in ("effect_size", "pct_reliable_improvement", "pct_unplanned"):
        view.measure.value = measure
        for scatter in view.outcome_figure.data:
            if scatter.customdata is None:  # the service's interval band has no hover
                continue
            assert scatter.y[3] is None, f"{scatter.name} shows 2025Q2"
            assert scatter.customdata[3] is None, f"{scatter.name} hover shows 2025Q2"
            texts = " ".join(" ".join(c) for c in scatter.customdata if c)
            assert "4 clients" not in texts and "9 clients" not in texts
    assert "Not shown (fewer than 5 clients, or none)" in view.hidden_note.value
    assert "Anna Prøve in 2024 Q3, 2024 Q4 and 2025 Q2" in view.hidden_note.value


def test_measure_change_rescales_and_explains_the_rule(view) -> None:
    choose_anna(view)
    view.grouping.value = "quarter"
    view.measure.value = "pct_reliable_improvement"
    assert trace(view.outcome_figure, "Anna Prøve").y[2] == pytest.approx(60.0)
    assert tuple(view.outcome_figure.layout.yaxis.range) == (0, 100)
    assert "at least 5 points above the first" in view.explanation.value
    assert "Jacobson &amp; Truax 1991" in view.explanation.value
    assert "Wilson" in view.explanation.value
    view.measure.value = "pct_recovered"
    assert "adults 25, adolescents 28, children 32" in view.explanation.value
    assert "OpenFIT help page KA-01031" in view.explanation.value
    view.measure.value = "effect_size"
    assert view.outcome_figure.layout.yaxis.range is None
    assert "Becker 1988" in view.explanation.value


def test_rolling_year_and_the_latest_table(view, development_db) -> None:
    choose_anna(view)
    assert view.grouping.value == "rolling_year"
    assert list(view.outcome_figure.layout.xaxis.ticktext) == ["2025 Q2"]
    scope = TherapistScope(reader_for(development_db), "BA").outcomes("rolling_year")
    expected = scope[scope.level == "therapist"].iloc[0]
    assert trace(view.outcome_figure, "Anna Prøve").y[0] == pytest.approx(expected.effect_size)
    latest = view.latest.value
    assert "Latest period: 2025 Q2" in latest
    assert 'data-level="therapist">9</td>' in latest
    assert f"{expected.effect_size:.2f} ({expected.effect_size_ci_low:.2f} to" in latest


def test_profile_figure_and_its_suppressed_bars(view) -> None:
    choose_anna(view)
    bars = [b for b in view.profile_figure.data if b.name == "Anna Prøve"]
    srs, first, intake = bars
    assert srs.y[0] == pytest.approx(100 * 3 / 27) and srs.text[0] == "11%"
    assert srs.y[1] == pytest.approx(100 * 2 / 9)
    assert first.y[0] is None and first.customdata[0] is None  # two clients below 36
    assert first.y[1] == pytest.approx(100.0)
    assert intake.y[0] is None and intake.y[1] is None and intake.y[2] == 0
    assert "Mean intake ORS: Anna Prøve 11.7" in view.profile_text.value


def test_no_other_therapist_is_named_on_the_page(view) -> None:
    choose_anna(view)
    page = " ".join(
        w.value for w in (view.heading, view.explanation, view.hidden_note, view.latest,
                          view.profile_text, view.rules)
    )  # fmt: skip
    names = [t.name for f in (view.outcome_figure, view.profile_figure) for t in f.data]
    for other in ("Bjørn", "Cecilie", "Odd"):
        assert other not in page and not any(other in n for n in names)


def test_norwegian_page_uses_decimal_commas(development_db) -> None:
    clear_comparison_cache()
    view = TherapistDevelopmentView(DashboardContext(development_db, lang="nb"))
    view.grouping.value = "quarter"
    mine = trace(view.outcome_figure, "Anna Prøve")
    assert mine.customdata[2][1] == "1,36" and mine.customdata[2][3] == "5 klienter"
    assert list(view.outcome_figure.layout.xaxis.ticktext)[2] == "1. kv. 2025"
    assert "Utvikling for Anna Prøve" in view.heading.value
    assert "Reglene bak denne siden" in view.rules.value


def test_errors_are_shown_kindly(view, development_db, tmp_path) -> None:
    widget = build_therapist_development(DashboardContext(tmp_path / "missing.duckdb"))
    assert "fitdata-error" in widget.value and "There is no database at" in widget.value
    view.context = DashboardContext(tmp_path / "gone.duckdb")
    view.therapist.value = "BB"
    assert "There is no database at" in view.message.value
    assert "Traceback" not in view.message.value
