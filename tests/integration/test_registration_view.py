"""The registration dashboard driven in plain Python, as a therapist would in the page."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.data import queries
from fitdata.data.store import check_database, reader_for
from fitdata.i18n import Translator
from fitdata.ui import DashboardContext, RegistrationView, build_registration
from fitdata.ui.registration import NEW

TODAY = dt.date(2025, 3, 3)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "view.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


@pytest.fixture
def view(db) -> RegistrationView:
    return RegistrationView(DashboardContext(db), today=lambda: TODAY)


def trace(view: RegistrationView, name: str) -> list[float]:
    return list(next(t for t in view.figure.data if t.name == name).y)


def mark(form, values) -> None:
    for slider, value in zip(form.sliders, values, strict=True):
        slider.value = value


def test_opens_on_the_first_clients_ongoing_episode_with_todays_date(view) -> None:
    assert [label for label, _ in view.team.options] == ["Team 2", "Team 10", "Øst-teamet"]
    assert view.therapist.options == (("Kari Nordmann", "B1"),)
    assert [v for _, v in view.client.options] == [NEW, "K-ADULT1", "K-ONE"]
    assert view.client.value == "K-ADULT1"
    assert view.episode.value == "E1"
    assert view.date.value == TODAY
    assert "New session 5 in the episode from 2025-01-06." in view.mode_note.value
    assert view.new_client_box.layout.display == "none"
    assert trace(view, "ORS") == [18.0, 21.0, 23.5, 25.4]
    # nothing marked yet: saving is disabled, and the page says why
    assert view.save.disabled
    assert "mark every line" in view.save_note.value
    assert view.srs.mode.value == "none"  # the SRS comes after the session


def test_the_total_is_shown_live_and_save_enables_when_every_line_is_marked(view) -> None:
    for slider, value in zip(view.ors.sliders, [5.1, 6.2, 7.3], strict=False):  # three of four
        slider.value = value
    assert "Overall not marked yet" in view.ors.problems.value
    assert view.save.disabled
    view.ors.sliders[3].value = 4.4
    assert "ORS total: 23.0" in view.ors.live_total.value
    assert view.ors.problems.value == ""
    assert not view.save.disabled
    assert "Ready to save." in view.save_note.value


def test_save_ors_shows_the_new_point_and_status_then_add_the_srs(view, db) -> None:
    tr = Translator("en")
    mark(view.ors, [5.1, 6.2, 7.3, 4.4])
    view.save.click()
    assert "Saved session 5 on 2025-03-03 for K-ADULT1: ORS 23.0" in view.message.value
    assert trace(view, "ORS") == [18.0, 21.0, 23.5, 25.4, 23.0]
    own = queries.client_sessions(reader_for(db), "E1", "K-ADULT1")
    expected = status_sentence(client_status(own, "adult"), tr)
    assert expected.startswith("ORS +5.0 since the first session")
    assert expected in view.status.value

    # the same day now offers to add the SRS to session 5, with the ORS locked
    assert "Session 5 on 2025-03-03 is saved with its ORS" in view.mode_note.value
    assert view.save.description == "Add SRS to the session"
    assert view.ors.mode.disabled and view.ors.sliders[0].value == 5.1
    view.srs.mode.value = "total"
    view.srs.total_text.value = "35,4"  # a decimal comma is fine
    assert "SRS total: 35.4" in view.srs.live_total.value
    view.save.click()
    assert "Added the SRS 35.4 to session 5" in view.message.value
    assert trace(view, "SRS") == [38.0, 37.0, 38.0, 35.5, 35.4]
    assert "SRS below 36 in 2 of 5 sessions, the last in session 5." in view.status.value
    assert "is saved with ORS and SRS" in view.mode_note.value and view.save.disabled
    assert "SRS added after the session" in view.history.value
    assert check_database(db).ok


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("40,1", "SRS total: 40.1 is outside 0–40."),
        ("23.45", "more than one decimal"),
        ("abc", "“abc” is not a number"),
        ("", "write a number from 0 to 40"),
    ],
)
def test_a_bad_total_is_explained_next_to_the_field(view, text, message) -> None:
    view.srs.mode.value = "total"
    view.srs.total_text.value = text
    view.ors.mode.value = "none"
    assert message in view.srs.problems.value
    assert view.save.disabled and message in view.save_note.value


def test_a_date_in_the_future_or_before_the_last_session_is_refused(view) -> None:
    mark(view.ors, [5, 5, 5, 5])
    view.date.value = TODAY + dt.timedelta(days=1)
    assert "cannot be after today (2025-03-03)" in view.date_note.value
    assert view.save.disabled
    view.date.value = dt.date(2025, 1, 21)
    assert "before session 4 (2025-01-27)" in view.date_note.value
    view.date.value = None
    assert "Choose the date." in view.date_note.value
    view.date.value = TODAY
    assert view.date_note.value == "" and not view.save.disabled


def test_a_new_client_with_a_new_episode(view, db) -> None:
    view.client.value = NEW
    assert view.new_client_box.layout.display is None
    assert [v for _, v in view.episode.options] == [NEW]
    assert "First session of a new episode." in view.mode_note.value
    view.client_code.value = "01019012345"
    assert "national identity number" in view.client_note.value
    view.client_code.value = "Kari Hansen"
    assert "not a client code" in view.client_note.value
    view.client_code.value = "K-NY1"
    view.birth_year.value = "2016"
    assert "does not fit the age group “adult”" in view.client_note.value
    view.age_group.value = "child"
    assert view.client_note.value == ""
    view.ors.mode.value = "total"
    view.ors.total_text.value = "24"
    assert not view.save.disabled, view.save_note.value
    view.save.click()
    assert "Saved session 1 on 2025-03-03 for K-NY1" in view.message.value
    assert view.client.value == "K-NY1"
    assert view.episode.value == "E0000006"
    assert "Clinical cutoff 32 (child)" in [t.name for t in view.figure.data]
    assert trace(view, "ORS") == [24.0]
    assert "One ORS so far: 24.0, below the clinical cutoff of 32." in view.status.value
    assert check_database(db).ok


def test_typing_the_code_of_a_registered_client(view) -> None:
    view.client.value = NEW
    view.client_code.value = "K-TEN"  # another therapist's client
    assert "K-TEN is already registered (adult)" in view.client_note.value
    view.client_code.value = "K-ONE"  # this therapist's client, episode ongoing
    assert "already has an ongoing episode with you, from 2025-01-06" in view.episode_note.value
    assert "E2" not in view.episode_note.value  # an internal id means nothing to a person
    view.ors.mode.value = "total"
    view.ors.total_text.value = "24"
    assert view.save.disabled


def test_correct_a_session_and_see_the_history(view, db) -> None:
    view.correct_session.value = 2  # session 2, ORS 21.0 as items
    assert view.correct_date.value == dt.date(2025, 1, 13)
    assert [s.value for s in view.correct_ors.sliders] == [5.3, 5.3, 5.2, 5.2]
    assert "No changes" in view.history.value
    assert "Say why" in view.correct_note.value and view.correct_save.disabled
    view.reason.value = "typing error: 5.3 was 2.3"
    assert "Nothing has been changed yet." in view.correct_note.value
    view.correct_ors.sliders[0].value = 2.3  # 21.0 -> 18.0
    assert not view.correct_save.disabled
    view.correct_save.click()
    assert "Corrected session 2" in view.message.value
    assert trace(view, "ORS") == [18.0, 18.0, 23.5, 25.4]
    assert "ORS 21.0 (5.3 + 5.3 + 5.2 + 5.2) → 18.0 (2.3 + 5.3 + 5.2 + 5.2)" in view.history.value
    assert "Kari Nordmann" in view.history.value  # who: the therapist chosen in the page
    assert "typing error: 5.3 was 2.3" in view.history.value
    assert check_database(db).ok


def test_a_reason_with_an_identity_number_is_refused_before_anything_is_stored(view, db) -> None:
    view.correct_session.value = 2
    view.correct_ors.sliders[0].value = 2.3
    view.reason.value = "client 010190 10046 typed the wrong line"
    assert view.correct_save.disabled
    assert "looks like it holds a national identity number" in view.correct_note.value
    assert "10046" not in view.correct_note.value
    before = db.read_bytes()
    view.correct_save.click()  # a disabled button's click from code changes nothing either
    assert db.read_bytes() == before
    view.reason.value = "typing error: 5.3 was 2.3"
    assert not view.correct_save.disabled


def test_the_change_is_made_by_the_logged_in_user_when_there_is_one(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY, actor=lambda: "leader-7")
    view.correct_session.value = 1
    view.correct_srs.sliders[0].value = 8.0
    view.reason.value = "item typo"
    view.correct_save.click()
    assert "leader-7" in view.history.value


def test_end_the_episode(view) -> None:
    assert view.end_save.disabled and "Choose how the episode ended" in view.end_note.value
    view.end_type.value = "planned"
    view.end_date.value = dt.date(2025, 1, 20)
    assert "before the last session (2025-01-27)" in view.end_note.value
    view.end_date.value = dt.date(2025, 2, 1)
    assert not view.end_save.disabled
    view.end_save.click()
    assert (
        "The episode from 2025-01-06 ended on 2025-02-01 (ended as planned)." in view.message.value
    )
    assert "ended as planned" in view.episode.label
    view.date.value = dt.date(2025, 3, 1)
    mark(view.ors, [5, 5, 5, 5])
    assert "This episode ended on 2025-02-01" in view.episode_note.value
    assert view.save.disabled
    view.episode.value = NEW
    assert not view.save.disabled


def test_norwegian_page(db) -> None:
    view = RegistrationView(DashboardContext(db, "nb"), today=lambda: TODAY)
    assert "Ny samtale 5 i forløpet fra 06.01.2025." in view.mode_note.value
    assert view.episode.label == "fra 06.01.2025, pågående (4 samtaler)"
    mark(view.ors, [5.1, 6.2, 7.3, 4.4])
    assert "ORS totalt: 23,0" in view.ors.live_total.value
    view.date.value = TODAY + dt.timedelta(days=1)
    assert "Datoen kan ikke være etter i dag (04.03.2025)" not in view.date_note.value
    assert "Datoen kan ikke være etter i dag (03.03.2025)." in view.date_note.value
    view.date.value = TODAY
    view.save.click()
    assert "Lagret samtale 5 den 03.03.2025 for K-ADULT1: ORS 23,0" in view.message.value
    assert "ORS +5,0 siden første samtale" in view.status.value


def test_a_save_refused_by_the_database_is_a_friendly_message(view, db) -> None:
    """Someone else saved the same session a moment ago: the page says so, no traceback."""
    from fitdata.features import registration as reg

    reg.save_session(
        db,
        reg.Registration("T2", "B1", "K-ADULT1", "E1", TODAY, reg.Scores.from_total(20.0)),
        today=TODAY,
    )
    mark(view.ors, [5, 5, 5, 5])  # this page has not seen that save yet
    view.save.click()
    assert "fitdata-error" in view.message.value
    assert "Session 5 on 2025-03-03 is already saved" in view.message.value
    assert "Traceback" not in view.message.value


def test_build_registration_without_a_database_is_a_message(monkeypatch) -> None:
    monkeypatch.delenv("FITDATA_DB", raising=False)
    widget = build_registration()
    assert "No database is configured" in widget.value


# -- whose page: a therapist registers for her own clients, a supervisor for her teams --------
@pytest.fixture
def users_db(db):
    from fitdata.data import access

    access.add_user(db, "kari", "therapist", therapist_id="B1")  # team T2: K-ADULT1, K-ONE
    access.add_user(db, "sigrid", "supervisor", team_ids=["T3", "T10"])
    access.add_user(db, "leder", "leader")
    return db


def offered(dropdown) -> list[str]:
    return [value for _, value in dropdown.options]


def test_a_therapist_is_offered_only_her_own_team_therapist_and_clients(users_db) -> None:
    view = RegistrationView(DashboardContext(users_db, user="kari"), today=lambda: TODAY)
    assert offered(view.team) == ["T2"]
    assert offered(view.therapist) == ["B1"]
    assert offered(view.client) == [NEW, "K-ADULT1", "K-ONE"]  # from the start, before Save
    assert view.message.value == ""
    # an administrator's page offers every team (the user's scope decides, not the data)
    from fitdata.data import access

    access.add_user(users_db, "admin", "admin")
    admin = RegistrationView(DashboardContext(users_db, user="admin"), today=lambda: TODAY)
    assert sorted(offered(admin.team)) == ["T10", "T2", "T3"]


def test_a_supervisor_is_offered_her_teams_and_their_therapists(users_db) -> None:
    view = RegistrationView(DashboardContext(users_db, user="sigrid"), today=lambda: TODAY)
    assert sorted(offered(view.team)) == ["T10", "T3"]
    seen = set()
    for team in offered(view.team):
        view.team.value = team
        seen |= {c for c in offered(view.client) if c != NEW}
        assert offered(view.therapist) == {"T10": ["B2"], "T3": ["B3"]}[team]
    assert seen == {"K-TEN", "K-TOTALS", "K-CHILD"}  # never Kari's clients in team T2


def test_a_leader_gets_a_message_not_a_registration_form(users_db) -> None:
    page = build_registration(DashboardContext(users_db, user="leder"))
    assert "fitdata-error" in page.value and "leder" in page.value
    assert "T2" not in page.value and "B1" not in page.value


def test_a_save_refused_for_lost_access_names_no_ids(users_db) -> None:
    from fitdata.data import access

    view = RegistrationView(DashboardContext(users_db, user="kari"), today=lambda: TODAY)
    view.client.value = NEW
    view.client_code.value = "K-NY1"
    view.ors.mode.value = "total"
    view.ors.total_text.value = "24"
    assert not view.save.disabled, view.save_note.value
    access.remove_user(users_db, "kari")  # her access changes while the page is open
    access.add_user(users_db, "kari", "therapist", therapist_id="B2")
    before = users_db.read_bytes()
    view.save.click()
    assert "You may register sessions only for your own clients" in view.message.value
    for internal_id in ("T2", "B1", "B2", "T10"):
        assert internal_id not in view.message.value
    assert users_db.read_bytes() == before
