"""The registration page for a couple, a family and a child with a parent's rating, in Python."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from fitdata.data import access
from fitdata.data.store import check_database, reader_for, write_transaction
from fitdata.ui import DashboardContext, RegistrationView
from tests.integration.test_registration_episode import make_couple

TODAY = dt.date(2025, 3, 3)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "episode-view.duckdb"
    shutil.copyfile(tiny_db, path)
    make_couple(path)
    yield path
    reader_for(path).close()


def rows(path, sql: str, params=()) -> list[tuple]:
    return reader_for(path).rows(sql, list(params))


def total(form, value: str) -> None:
    form.mode.value = "total"
    form.total_text.value = value


def mark(form, values) -> None:
    for slider, value in zip(form.sliders, values, strict=True):
        slider.value = value


def test_a_couple_is_one_form_per_partner_and_one_save(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    assert (view.client.value, view.episode.value) == ("K-ADULT1", "E1")
    assert view.joint
    assert view.single_forms.layout.display == "none" and view.blocks_box.layout.display is None
    assert [b.label for b in view.blocks] == ["Partner · K-ADULT1", "Partner · K-PARTNER"]
    assert [b.forms for b in view.blocks] == [("ORS", "SRS"), ("ORS", "SRS")]
    assert "New session 5 for this participant." in view.blocks[0].note.value
    assert "New session 4 for this participant." in view.blocks[1].note.value
    assert "A session of everyone in the episode on 2025-03-03" in view.mode_note.value
    assert view.save.description == "Save the session for everyone"

    mark(view.blocks[0].ors, [5.1, 6.2, 7.3, 4.4])
    # the partner's form is still empty: the save says whose form it is
    assert view.save.disabled
    assert "Partner · K-PARTNER: ORS: mark every line" in view.save_note.value
    assert "Partner · K-ADULT1" not in view.save_note.value
    total(view.blocks[1].ors, "45")
    assert "ORS total: 45.0 is outside 0–40." in view.blocks[1].problems.value
    assert view.blocks[0].problems.value == ""
    assert "Partner · K-PARTNER: ORS total: 45.0 is outside 0–40." in view.save_note.value
    total(view.blocks[1].ors, "21,5")
    assert not view.save.disabled, view.save_note.value
    view.save.click()
    assert (
        "Saved the session on 2025-03-03: Partner · K-ADULT1, session 5 (ORS 23.0); "
        "Partner · K-PARTNER, session 4 (ORS 21.5)." in view.message.value
    )
    assert rows(
        db,
        "SELECT client_id, session_no, ors_total, ors_form, entered_by FROM sessions "
        "WHERE episode_id = 'E1' AND session_date = ? ORDER BY client_id",
        [TODAY],
    ) == [("K-ADULT1", 5, 23.0, "ORS", "therapist"), ("K-PARTNER", 4, 21.5, "ORS", "therapist")]
    # one graph for the couple: each partner's ORS gained today's point, a sentence each
    ors = {t.name: list(t.y) for t in view.figure.data if t.name.endswith(": ORS")}
    assert ors == {
        "Partner · K-ADULT1: ORS": [18.0, 21.0, 23.5, 25.4, 23.0],
        "Partner · K-PARTNER: ORS": [15.0, 17.5, 19.0, 21.5],
    }
    assert view.figure.layout.title.text == "Couple: K-ADULT1 and K-PARTNER"
    assert view.status.value.count("fitdata-status-text") == 2

    # after the session: both add their SRS; the saved ORS are shown, locked
    assert all(b.ors.mode.disabled for b in view.blocks)
    assert "Session 4 on 2025-03-03 is saved with its ORS" in view.blocks[1].note.value
    total(view.blocks[0].srs, "37")
    view.blocks[1].srs.mode.value = "none"  # the partner left before the SRS
    assert not view.save.disabled, view.save_note.value
    view.save.click()
    assert "Partner · K-ADULT1, session 5 (SRS 37.0)." in view.message.value
    assert rows(
        db,
        "SELECT client_id, srs_total FROM sessions WHERE episode_id = 'E1' AND session_date = ?"
        " ORDER BY client_id",
        [TODAY],
    ) == [("K-ADULT1", 37.0), ("K-PARTNER", None)]
    # the partner's SRS can still be added on its own, as for one client
    total(view.blocks[1].srs, "35")
    view.save.click()
    assert "Partner · K-PARTNER, session 4 (SRS 35.0)." in view.message.value
    assert view.save.disabled  # both done
    assert check_database(db).ok


def test_a_partner_who_did_not_come_and_nobody_at_all(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    for block in view.blocks:
        block.ors.mode.value = "none"
    assert view.save.disabled
    assert "Give the forms of at least one participant" in view.save_note.value
    total(view.blocks[1].ors, "18")
    assert not view.save.disabled
    view.save.click()
    assert "Partner · K-PARTNER, session 4 (ORS 18.0)." in view.message.value
    assert "K-ADULT1" not in view.message.value.split("Saved")[1].split(":")[1]


def test_a_child_with_a_parents_rating_gets_the_childrens_forms_and_its_own_block(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    view.team.value = "T3"
    view.client.value = "K-CHILD"
    assert view.episode.value == "E4"
    assert [b.label for b in view.blocks] == ["Client · K-CHILD", "Parent's rating · K-CHILD"]
    child, parent = view.blocks
    assert child.forms == ("CORS", "CSRS") and parent.forms == ("CORS", None)
    assert parent.srs is None
    assert "CORS (child): at the start of the session" in child.ors.heading.value
    assert "CSRS (child): at the end of the session" in child.srs.heading.value
    assert "not counted as the client&#x27;s own rating" in parent.heading.value
    total(child.ors, "31")
    total(parent.ors, "27")
    view.save.click()
    assert rows(
        db,
        "SELECT rater, session_no, ors_total, ors_form, srs_form FROM sessions "
        "WHERE episode_id = 'E4' AND session_date = ? ORDER BY rater",
        [TODAY],
    ) == [("client", 4, 31.0, "CORS", None), ("parent", 4, 27.0, "CORS", None)]
    assert "The rating of session 4 on 2025-03-03 is saved." in parent.note.value
    assert parent.ors.mode.disabled
    # the graph's own line is the child's own ratings
    own = next(t for t in view.figure.data if t.name == "ORS")
    assert list(own.y)[-1] == 31.0


def test_add_a_family_member_with_a_new_code_then_their_block(db) -> None:
    with write_transaction(db) as con:
        con.execute("UPDATE episodes SET format = 'family' WHERE episode_id = 'E2'")
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    view.client.value = "K-ONE"
    assert not view.joint
    assert [v for _, v in view.add_who.options][:2] == ["client", "parent"]
    assert view.add_who.options[0][0] == "A family member (client)"
    view.add_code.value = "01019012345"
    assert "looks like a national identity number" in view.add_note.value
    assert "12345" not in view.add_note.value + view.add_info.value  # never repeated
    assert view.add_save.disabled
    view.add_code.value = "K-ADULT1"  # a client of the service: added as they are
    assert "K-ADULT1 is already registered" in view.add_info.value
    view.add_code.value = "K-KID1"
    view.add_age_group.value = "child"
    view.add_birth_year.value = "2015"
    assert "K-KID1 is a new client" in view.add_info.value
    assert not view.add_save.disabled, view.add_note.value
    view.add_save.click()
    assert "Family member · K-KID1 now takes part in the episode." in view.message.value
    assert view.joint
    assert [b.label for b in view.blocks] == ["Family member · K-ONE", "Family member · K-KID1"]
    assert view.blocks[1].forms == ("CORS", "CSRS")
    assert rows(
        db, "SELECT role, added_on FROM episode_participants WHERE client_id = 'K-KID1'"
    ) == [("family_member", TODAY)]
    # the same person again: refused, with the reason
    view.add_code.value = "K-KID1"
    assert "K-KID1 already takes part in this episode." in view.add_note.value
    assert view.add_save.disabled


def test_an_individual_episode_says_the_format_must_be_couple_or_family(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    view.client.value = "K-ONE"  # E2, individual
    view.add_who.value = "client"
    view.add_code.value = "K-TEN"
    assert "This is an individual episode" in view.add_note.value
    assert "couple, family or group" in view.add_note.value
    assert view.add_save.disabled
    # a parent's rating may be added to an individual episode
    view.add_who.value = "parent"
    assert view.add_client_box.layout.display == "none"
    assert not view.add_save.disabled, view.add_note.value
    # a new episode can be started as a couple's
    view.episode.value = "__new__"
    assert view.format.layout.display is None
    assert [v for _, v in view.format.options] == ["individual", "couple", "family", "group"]


def test_a_therapist_adds_and_saves_only_in_her_own_episodes(db) -> None:
    access.add_user(db, "kari", "therapist", therapist_id="B1")
    view = RegistrationView(DashboardContext(db, user="kari"), today=lambda: TODAY)
    assert sorted(c for _, c in view.client.options if c != "__new__") == [
        "K-ADULT1",
        "K-ONE",
        "K-PARTNER",
    ]
    total(view.blocks[0].ors, "20")
    view.blocks[1].ors.mode.value = "none"
    view.add_who.value = "other"
    assert not view.save.disabled and not view.add_save.disabled
    access.remove_user(db, "kari")  # her access changes while the page is open
    access.add_user(db, "kari", "therapist", therapist_id="B2")
    before = db.read_bytes()
    view.save.click()
    assert "You may register sessions only for your own clients" in view.message.value
    view.add_save.click()
    assert "You may register sessions only for your own clients" in view.message.value
    for internal_id in ("T2", "B1", "B2"):
        assert internal_id not in view.message.value
    assert db.read_bytes() == before


def test_start_a_couples_episode_then_add_the_partner_on_the_page(db) -> None:
    view = RegistrationView(DashboardContext(db), today=lambda: TODAY)
    view.client.value = "__new__"
    view.client_code.value = "K-NEWCOUPLE1"
    assert view.episode.value == "__new__" and view.format.layout.display is None
    view.format.value = "couple"
    total(view.ors, "19")
    assert not view.save.disabled, view.save_note.value
    view.save.click()
    assert "Saved session 1" in view.message.value
    episode = view.episode.value
    assert rows(db, "SELECT format FROM episodes WHERE episode_id = ?", [episode]) == [("couple",)]
    assert view.format.layout.display == "none" and not view.joint
    assert view.add_who.options[0] == ("A partner (client)", "client")
    view.add_code.value = "K-NEWCOUPLE2"
    view.add_date.value = TODAY
    assert not view.add_save.disabled, view.add_note.value
    view.add_save.click()
    assert "Partner · K-NEWCOUPLE2 now takes part in the episode." in view.message.value
    assert view.joint
    assert [b.label for b in view.blocks] == ["Partner · K-NEWCOUPLE1", "Partner · K-NEWCOUPLE2"]
    # today is done for the first partner (ORS saved, SRS to add); the new partner is new
    assert "is saved with its ORS" in view.blocks[0].note.value
    assert "New session 1 for this participant." in view.blocks[1].note.value
    assert check_database(db).ok


def test_a_therapist_cannot_add_a_client_of_another_therapists_episode(db) -> None:
    with write_transaction(db) as con:
        con.execute("UPDATE episodes SET format = 'family' WHERE episode_id = 'E2'")
    access.add_user(db, "kari", "therapist", therapist_id="B1")
    view = RegistrationView(DashboardContext(db, user="kari"), today=lambda: TODAY)
    view.client.value = "K-ONE"
    view.add_code.value = "K-TEN"  # Ola's client (B2): not shown on Kari's page
    before = db.read_bytes()
    view.add_save.click()
    assert "K-TEN takes part in another therapist&#x27;s episode" in view.message.value
    assert db.read_bytes() == before
    # her own client may join (K-ADULT1 is in her episode E1)
    view.add_code.value = "K-ADULT1"
    view.add_save.click()
    assert "Family member · K-ADULT1 now takes part in the episode." in view.message.value
