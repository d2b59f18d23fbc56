"""The client graph's widgets driven in plain Python, as a person would in the page."""

import pytest

from fitdata.ui import ClientGraphView, DashboardContext, build_client_graph


@pytest.fixture
def view(tiny_db) -> ClientGraphView:
    return ClientGraphView(DashboardContext(tiny_db))


def trace(view: ClientGraphView, name: str):
    return next(t for t in view.figure.data if t.name == name)


def test_options_are_natural_sorted_with_counts(view) -> None:
    assert [label for label, _ in view.team.options] == [
        "Team 2 (2 clients)",
        "Team 10 (1 client)",
        "Øst-teamet (2 clients)",
    ]
    assert view.therapist.options == (("Kari Nordmann (2 clients)", "B1"),)
    assert [label for label, _ in view.client.options] == [
        "K-ADULT1 (4 sessions)",
        "K-ONE (1 session)",
    ]


def test_first_client_is_shown_on_open(view) -> None:
    assert "ORS +7.4 since the first session: reliable improvement" in view.status.value
    assert list(trace(view, "ORS").y) == [18.0, 21.0, 23.5, 25.4]


def test_changing_team_resets_therapist_and_client_and_redraws(view) -> None:
    view.team.value = "T3"
    assert view.therapist.value == "B3"
    assert view.client.value == "E4|K-CHILD"
    assert list(trace(view, "ORS").y) == [28.0, 29.0, 30.0]
    assert trace(view, "Clinical cutoff 32 (child)") is not None
    assert list(trace(view, "ORS rated by parent").y) == [25.0, 27.0, 27.5]
    assert "SRS at or above 36 in every session." in view.status.value
    assert "Clinical cutoff 32 (child)" in view.rules.value


def test_choosing_a_client_redraws_with_that_clients_sessions(view) -> None:
    view.team.value = "T3"
    view.client.value = "E3|K-TOTALS"
    assert list(trace(view, "ORS").x) == [1, 2, 3]
    assert list(trace(view, "SRS").y) == []
    assert "ORS +5.0 since the first session: reliable improvement, now below" in view.status.value
    assert "No SRS recorded." in view.status.value
    assert view.figure.layout.title.text == "Client K-TOTALS"


def test_one_session_client(view) -> None:
    view.client.value = "E2|K-ONE"
    assert list(trace(view, "ORS").y) == [20.0]
    assert "One ORS so far" in view.status.value


def test_norwegian_page(tiny_db) -> None:
    view = ClientGraphView(DashboardContext(tiny_db, lang="nb"))
    assert view.team.description == "Team" and view.therapist.description == "Terapeut"
    assert "pålitelig bedring" in view.status.value
    assert "Reglene bak grafen" in view.rules.value


def test_a_broken_database_gives_a_message_not_a_traceback(tmp_path) -> None:
    widget = build_client_graph(DashboardContext(tmp_path / "missing.duckdb"))
    assert "fitdata-error" in widget.value
    assert "There is no database at" in widget.value


def test_an_error_during_a_callback_is_shown_kindly(view, tiny_db, tmp_path) -> None:
    view.context = DashboardContext(tmp_path / "gone.duckdb")
    view.team.value = "T3"
    assert "There is no database at" in view.message.value
    assert "Traceback" not in view.message.value
