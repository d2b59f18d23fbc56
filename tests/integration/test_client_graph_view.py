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


# -- a couple or family: the whole episode on one graph (issue 20) ---------------------------


@pytest.fixture(scope="module")
def episode_db(tmp_path_factory):
    from tests.integration.episode_db import build_episode_db

    return build_episode_db(tmp_path_factory.mktemp("episodes") / "episodes.duckdb")


def test_choosing_either_partner_shows_the_whole_couple(episode_db) -> None:
    view = ClientGraphView(DashboardContext(episode_db))
    for chosen in ("E-C1|K-P1", "E-C1|K-P2"):
        view.client.value = chosen
        assert list(trace(view, "Partner · K-P1: ORS").y) == [14.0, 16.0, 21.0, 24.0]
        assert list(trace(view, "Partner · K-P2: ORS").y) == [22.0, 21.0, 19.0, 18.0]
        assert list(trace(view, "Partner · K-P2: SRS").y) == [37.0, 36.0, 33.0, 34.0]
        a, b = trace(view, "Partner · K-P1: ORS"), trace(view, "Partner · K-P2: ORS")
        assert a.marker.symbol != b.marker.symbol and a.line.color != b.line.color
        assert view.figure.layout.title.text == "Couple: K-P1 and K-P2"
        status = view.status.value
        assert status.index("Partner · K-P1") < status.index("ORS +10.0 since the first session")
        assert status.index("Partner · K-P2") < status.index("ORS −4.0 since the first session")
        assert "SRS below 36 in 2 of 4 sessions, the last in session 4." in status
    cutoffs = [t.name for t in view.figure.data if t.name.startswith("Clinical cutoff")]
    assert cutoffs == ["Clinical cutoff 25 (adult)"]


def test_a_family_draws_the_parents_rating_beside_the_child_and_both_cutoffs(episode_db) -> None:
    view = ClientGraphView(DashboardContext(episode_db, lang="nb"))
    view.client.value = "E-F1|K-M1"
    parent = trace(view, "Forelders skåring av Familiemedlem · K-C1")
    child = trace(view, "Familiemedlem · K-C1: ORS")
    assert list(parent.y) == [22.0, 24.0, 27.0] and list(child.y) == [24.0, 26.0, 29.0]
    assert parent.line.dash == "dash" and parent.line.color == child.line.color
    names = {t.name for t in view.figure.data}
    assert "Klinisk grense 25 (voksen): Familiemedlem · K-M1" in names
    assert "Klinisk grense 32 (barn): Familiemedlem · K-C1" in names
    assert "Forelders skåring av Familiemedlem · K-C1: 3 ORS, fra 22,0 til 27,0" in (
        view.status.value.replace("&#x27;", "'")
    )
    assert "Klinisk grense 32 (barn)" in view.rules.value
    assert view.figure.layout.title.text == "Familie: K-M1 og K-C1"


def test_one_client_is_the_client_graph_as_before(episode_db) -> None:
    view = ClientGraphView(DashboardContext(episode_db))
    view.client.value = "E-I1|K-S1"
    assert list(trace(view, "ORS").y) == [15.0, 15.5, 16.0, 15.0, 16.0, 15.5]
    assert view.figure.layout.title.text == "Client K-S1"


def test_every_participants_read_is_audited(episode_db, tmp_path, monkeypatch) -> None:
    import shutil

    from fitdata.data import access
    from tests.integration.episode_db import THERAPIST

    db = tmp_path / "audited.duckdb"
    shutil.copyfile(episode_db, db)
    access.add_user(db, "kari", "therapist", therapist_id=THERAPIST)
    monkeypatch.setattr(access, "_bound_user", None)
    access.bind_user("kari")
    view = ClientGraphView(DashboardContext(db))
    view.client.value = "E-C1|K-P2"
    assert {t.name for t in view.figure.data} >= {"Partner · K-P1: ORS", "Partner · K-P2: ORS"}
    view.client.value = "E-I1|K-S1"
    entries = [e for e in access.read_audit(db) if e.episode_id == "E-C1"]
    assert all(e.user == "kari" for e in entries)
    for client in ("K-P1", "K-P2"):
        assert any(e.concerns(client) and e.action == "episode_sessions" for e in entries)
    # One client's episode is read as before: no participant list, the client's own rows.
    single = {e.action for e in access.read_audit(db) if e.episode_id == "E-I1"}
    assert single == {"client_sessions"}


# -- an ended episode: past tense, the end in the sentence and on the graph (issue 23) -------


@pytest.fixture(scope="module")
def ended_db(episode_db, tmp_path_factory):
    """The episode database with the couple ended as planned and the single client unplanned."""
    import datetime as dt
    import shutil

    from fitdata.data.store import write_transaction

    db = tmp_path_factory.mktemp("ended") / "ended.duckdb"
    shutil.copyfile(episode_db, db)
    with write_transaction(db) as con:
        for episode, ended, end_type in (
            ("E-C1", dt.date(2026, 4, 6), "planned"),  # two weeks after the last of 4 sessions
            ("E-I1", dt.date(2026, 4, 10), "unplanned"),
        ):
            con.execute(
                "UPDATE episodes SET ended = ?, end_type = ? WHERE episode_id = ?",
                [ended, end_type, episode],
            )
    return db


def end_marks(view: ClientGraphView) -> tuple[list, list]:
    layout = view.figure.layout
    return (
        [s for s in layout.shapes if s.name == "episode-end"],
        [a for a in layout.annotations if a.name == "episode-end"],
    )


def test_an_ended_couple_is_told_in_the_past_and_marked_on_the_graph(ended_db) -> None:
    view = ClientGraphView(DashboardContext(ended_db))
    view.client.value = "E-C1|K-P2"
    status = view.status.value
    assert status.count("The episode ended on 2026-04-06 (planned).") == 2  # under each partner
    assert "ORS went up 10.0 points from the first to the last session" in status
    assert "ORS went down 4.0 points from the first to the last session" in status
    assert " now " not in status
    shapes, notes = end_marks(view)
    assert [s.x0 for s in shapes] == [4.5]
    assert [n.text for n in notes] == ["Ended (planned) 2026-04-06"]


def test_an_ended_single_episode_in_bokmal(ended_db) -> None:
    view = ClientGraphView(DashboardContext(ended_db, lang="nb"))
    view.client.value = "E-I1|K-S1"
    status = view.status.value
    assert "Forløpet ble avsluttet 10.04.2026 (uplanlagt)." in status
    assert "ORS gikk opp 0,5 poeng fra første til siste samtale" in status and " nå " not in status
    shapes, notes = end_marks(view)
    assert [s.x0 for s in shapes] == [6.5]
    assert [n.text for n in notes] == ["Avsluttet (uplanlagt) 10.04.2026"]
    assert list(view.figure.layout.xaxis.tickvals) == [1, 2, 3, 4, 5, 6]


def test_an_ongoing_episode_has_no_end(ended_db) -> None:
    view = ClientGraphView(DashboardContext(ended_db))
    view.client.value = "E-F1|K-M1"
    assert end_marks(view) == ([], [])
    assert "now" in view.status.value and "ended" not in view.status.value
