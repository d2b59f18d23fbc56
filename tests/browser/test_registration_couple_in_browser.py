"""A therapist registers a couple's session in the browser, in English and in bokmål.

Both partners' ORS in one save: one partner's wrong total is refused with that partner named,
then both rows land at once; the page then adds the SRS after the session. The add-a-
participant part refuses an identity number. Screenshots in ``/tmp/shots/R/`` and the
artifacts folder.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data.store import reader_for
from fitdata.i18n import Translator
from tests.browser.conftest import Server
from tests.builders import build_tiny_db
from tests.integration.test_registration_episode import make_couple

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp/shots/R")
SHOTS.mkdir(parents=True, exist_ok=True)
PLOT = ".fitdata-graph .js-plotly-plot"


@pytest.fixture(scope="module", params=["en", "nb"])
def couple_server(request, tmp_path_factory, artifacts) -> Iterator[tuple[Server, Path, str]]:
    """A server in one language over a tiny database whose episode E1 is a couple's."""
    language = request.param
    folder = tmp_path_factory.mktemp(f"couple-{language}")
    path = build_tiny_db(folder / "tiny.duckdb")
    db = folder / "couple.duckdb"
    shutil.copyfile(path, db)
    make_couple(db)
    server = Server(db, language, artifacts / f"serve-registration-couple-{language}.log")
    yield server, db, language
    server.stop()


def text(page, selector: str) -> str:
    return page.inner_text(selector).replace("\u00a0", " ").strip()


def wait_for_text(page, selector: str, expected: str, timeout: int = 30_000) -> None:
    page.wait_for_function(
        """([selector, text]) => {
             const e = document.querySelector(selector);
             return e && e.textContent.replace(/\u00a0/g, " ").includes(text);
           }""",
        arg=[selector, expected],
        timeout=timeout,
    )


def type_total(page, block: int, form: str, value: str) -> None:
    """Choose "Total only" in a participant's form and type the total."""
    page.locator(f".fitdata-p{block}-{form}-mode button").nth(1).click()
    field = page.locator(f".fitdata-p{block}-{form}-total-input input")
    field.fill(value)
    field.press("Tab")


def test_register_a_couples_session_in_both_languages(couple_server, page) -> None:
    try:
        _register_a_couples_session(couple_server, page)
    except Exception:
        page.screenshot(path=SHOTS / f"couple-failed-{couple_server[2]}.png", full_page=True)
        raise


def _register_a_couples_session(couple_server, page) -> None:
    server, db, language = couple_server
    tr = Translator(language)
    page.goto(server.url + "voila/render/registration.ipynb")
    page.wait_for_selector(".fitdata-participant-1", timeout=90_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    partner = tr.text(
        "registration.participant.label", who=tr.text("role.partner"), code="K-PARTNER"
    )
    client = tr.text("registration.participant.label", who=tr.text("role.partner"), code="K-ADULT1")
    assert text(page, ".fitdata-participant-0 h3").startswith(client)
    assert text(page, ".fitdata-participant-1 h3").startswith(partner)
    assert page.locator(".fitdata-save").is_disabled()
    page.screenshot(path=SHOTS / f"couple-open-{language}.png", full_page=True)

    decimal = "," if language == "nb" else "."
    type_total(page, 0, "ors", f"23{decimal}5")
    type_total(page, 1, "ors", "45")
    wait_for_text(page, ".fitdata-participant-1 .fitdata-participant-problems", "0–40")
    wait_for_text(page, ".fitdata-save-reason", f"{partner}: ")
    assert text(page, ".fitdata-participant-0 .fitdata-participant-problems") == ""
    assert page.locator(".fitdata-save").is_disabled()
    page.locator(".fitdata-save").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"couple-refused-{language}.png", full_page=True)

    type_total(page, 1, "ors", f"21{decimal}5")
    wait_for_text(page, ".fitdata-save-reason", tr.text("registration.save.ready"))
    page.locator(".fitdata-save").click()
    today = dt.date.today()
    saved = tr.text("registration.saved_joint", date=tr.date(today), summary="")[:-1]
    wait_for_text(page, ".fitdata-message", saved, timeout=60_000)
    message = text(page, ".fitdata-message")
    assert f"{client}, " in message and f"{partner}, " in message
    reader = reader_for(db)
    assert reader.rows(
        "SELECT client_id, session_no, ors_total, ors_form, entered_by FROM sessions "
        "WHERE episode_id = 'E1' AND session_date = ? ORDER BY client_id",
        [today],
    ) == [("K-ADULT1", 5, 23.5, "ORS", "therapist"), ("K-PARTNER", 4, 21.5, "ORS", "therapist")]
    reader.close()
    # the chosen client's graph gained the point
    page.wait_for_function(
        """(selector) => {
             const plot = document.querySelector(selector);
             const t = plot && plot.data && plot.data.find(
               t => t.name.includes("K-ADULT1") && t.name.endsWith(": ORS"));
             const u = plot && plot.data && plot.data.find(
               t => t.name.includes("K-PARTNER") && t.name.endsWith(": ORS"));
             return t && u && t.y.length === 5 && Math.abs(t.y[4] - 23.5) < 1e-9
               && u.y.length === 4 && Math.abs(u.y[3] - 21.5) < 1e-9;
           }""",
        arg=PLOT,
        timeout=90_000,
    )
    page.locator(".fitdata-message").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"couple-saved-{language}.png", full_page=True)
    page.locator(".fitdata-graph").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"couple-graph-{language}.png", full_page=True)
    # the client's own page for this episode (helper P's panel, on this page since issue 21)
    page.locator(".fitdata-handover").scroll_into_view_if_needed()
    assert text(page, ".fitdata-handover").startswith(tr.text("handover.heading"))
    page.screenshot(path=SHOTS / f"couple-handover-{language}.png", full_page=True)

    # after the session: the partner's SRS only; the client's stays for later
    page.locator(".fitdata-p0-srs-mode button").nth(2).click()
    type_total(page, 1, "srs", "35")
    wait_for_text(page, ".fitdata-save-reason", tr.text("registration.save.ready"))
    page.locator(".fitdata-save").click()
    srs = tr.text("registration.summary.srs", score=tr.number(35.0))
    wait_for_text(page, ".fitdata-message", f"{partner}, ", timeout=60_000)
    wait_for_text(page, ".fitdata-message", f"({srs})", timeout=60_000)
    assert f"{client}, " not in text(page, ".fitdata-message")
    reader = reader_for(db)
    assert reader.rows(
        "SELECT client_id, srs_total FROM sessions WHERE episode_id = 'E1' AND session_date = ? "
        "ORDER BY client_id",
        [today],
    ) == [("K-ADULT1", None), ("K-PARTNER", 35.0)]
    reader.close()

    # adding a participant: a couple has both partners; an identity number is never taken
    page.locator(".fitdata-add-code input").fill("01019012345")
    national_id = tr.text("registration.error.client_code_national_id")
    wait_for_text(page, ".fitdata-add-reason", national_id)
    assert tr.text("registration.error.couple_full", count=2) in text(page, ".fitdata-add-reason")
    assert "12345" not in text(page, ".fitdata-add-participant")  # never repeated
    assert page.locator(".fitdata-add-save").is_disabled()
    page.locator(".fitdata-add-participant").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"couple-add-{language}.png", full_page=True)
    assert "Traceback" not in page.inner_text("body")
    assert page.locator(".fitdata-error").count() == 0
    assert page.console_problems == []
