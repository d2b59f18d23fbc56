"""The registration page's hand-over panel in plain Python: links in the therapist's own scope."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import ipywidgets as widgets
import pytest

from fitdata.data import access
from fitdata.data.client_links import redeem_client_link
from fitdata.ui.context import DashboardContext
from fitdata.ui.registration_handover import handover_panel


@pytest.fixture()
def db(tiny_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "panel.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1", token=True)
    return path


def view(db: Path, lang: str = "en", episode: str | None = "E1") -> SimpleNamespace:
    return SimpleNamespace(
        context=DashboardContext(db, lang, user="kari"),
        episode=widgets.Dropdown(options=[None, "__new__", "E1", "E3"], value=episode),
        client=widgets.Dropdown(options=[None, "__new__", "K-ADULT1"], value="K-ADULT1"),
        actor="kari",
    )


def test_the_buttons_follow_the_chosen_episode(db: Path) -> None:
    page = view(db, episode=None)
    handover_panel(page)
    panel = page.handover
    assert panel.tablet.disabled and panel.phone.disabled
    page.episode.value = "E1"
    assert not panel.tablet.disabled and not panel.phone.disabled
    page.episode.value = "__new__"
    assert panel.tablet.disabled


def test_hand_over_gives_the_browser_a_tablet_link_for_that_episode(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FITDATA_BASE_URL", raising=False)
    page = view(db)
    handover_panel(page)
    panel = page.handover
    panel.pin.value = "12"
    panel.tablet.click()
    assert panel.launcher.request == {} and "4 to 12 digits" in panel.message.value
    panel.pin.value = "4711"
    panel.tablet.click()
    request = panel.launcher.request
    assert request["pin"] == "4711" and request["n"] == 1 and panel.pin.value == ""
    grant = redeem_client_link(db, request["token"])
    assert (grant.episode_id, grant.client_id, grant.mode) == ("E1", "K-ADULT1", "tablet")
    panel.launcher.error = "pin_required#1"  # what the browser reports when the server refuses
    assert "choose a PIN" in panel.message.value


def test_a_phone_link_shows_the_full_address_and_its_qr_code(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FITDATA_BASE_URL", "https://fitdata.example.org")
    page = view(db, lang="nb")
    handover_panel(page)
    panel = page.handover
    panel.phone.click()
    address = panel.last_address
    assert address.startswith("https://fitdata.example.org/client/c1")
    assert f'value="{address}"' in panel.shown.value
    svg = unquote(panel.shown.value.split("data:image/svg+xml;charset=utf-8,")[1].split('"')[0])
    assert svg.startswith("<svg") and "<path" in svg
    assert "fram til kl." in panel.shown.value and "K-ADULT1" not in panel.shown.value
    grant = redeem_client_link(db, address.rsplit("/", 1)[1])
    assert grant.mode == "phone" and grant.episode_id == "E1"


def test_without_a_configured_address_a_loopback_page_says_a_phone_cannot_reach_it(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FITDATA_BASE_URL", raising=False)
    page = view(db)
    handover_panel(page)
    panel = page.handover
    panel.launcher.origin = "http://127.0.0.1:8866"
    panel.phone.click()
    assert panel.last_address.startswith("http://127.0.0.1:8866/client/")
    assert "only this computer can reach" in panel.shown.value


def test_another_therapists_episode_gets_no_link(db: Path) -> None:
    page = view(db, episode="E3")
    handover_panel(page)
    panel = page.handover
    panel.phone.click()
    panel.tablet.click()
    assert panel.last_grant is None and panel.launcher.request == {}
    assert "E3" in panel.message.value and panel.shown.value == ""
