"""Client links as a browser meets them: refused links, a phone that wanders, a tablet handed over.

A real ``fitdata serve --users`` (no pool) over a copy of the tiny database, and Chromium with a
touch screen. A phone opens a client link, then tries the landing page and the registration
page; a refused link (changed, expired) shows its plain page; a therapist's tablet is handed
over (the same ``POST client-handover`` the registration page's button sends), then the client
tries the back button, a new tab and a typed URL with the therapist's token; the therapist
unlocks with her token after a wrong try. Screenshots of the refusal, gate and unlock pages in
both languages go to ``/tmp/shots/L/`` (looked at by the author).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.client_links import issue_client_link
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/shots/L")
PAGE_TIMEOUT_MS = 180_000
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
TABLET = {"viewport": {"width": 820, "height": 1180}, "has_touch": True, "is_mobile": True}
CLIENT_PAGE = ".fitdata-vas-track"
OTHER_CODES = ("K-ONE", "K-TOTALS", "K-CHILD", "K-TEN")


class UsersServer(Server):
    def __init__(self, db: Path, log: Path) -> None:
        self.db = db
        self.tokens = {
            "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
            "liv": access.add_user(db, "liv", "therapist", therapist_id="B3", token=True),
        }
        super().__init__(db, "en", log, "--users", "--pool-size", "0")


@pytest.fixture(scope="module")
def server(tiny_db, artifacts, tmp_path_factory) -> Iterator[UsersServer]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    db = tmp_path_factory.mktemp("client-links") / "links.duckdb"
    shutil.copyfile(tiny_db, db)
    started = UsersServer(db, artifacts / "serve-client-links.log")
    yield started
    started.stop()


def link(server: UsersServer, **kwargs) -> str:
    token, _ = issue_client_link(server.db, episode_id="E1", actor="kari", **kwargs)
    return token


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    yield context
    context.close()


@pytest.fixture
def tablet(browser):
    context = browser.new_context(**TABLET)
    yield context
    context.close()


def test_a_changed_or_expired_link_shows_a_plain_page_in_both_languages(
    server: UsersServer, phone
) -> None:
    page = phone.new_page()
    good = link(server)
    changed = good[:-2] + ("AB" if not good.endswith("AB") else "CD")
    response = page.goto(f"{server.url}client/{changed}")
    assert response is not None and response.status == 403
    assert page.locator('section[lang="en"] h1').inner_text() == "This link cannot be opened"
    assert page.locator('section[lang="nb"] h1').inner_text() == "Denne lenken kan ikke åpnes"
    assert "kernelId" not in page.content()
    page.screenshot(path=str(SHOTS / "refused-altered-phone.png"), full_page=True)
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    response = page.goto(f"{server.url}client/{link(server, hours=1, now=past)}")
    assert response is not None and response.status == 410
    assert "utløpt" in page.locator('section[lang="nb"]').inner_text()
    page.screenshot(path=str(SHOTS / "refused-expired-phone.png"), full_page=True)


def test_a_phone_with_a_link_reaches_its_page_and_nothing_else(server: UsersServer, phone) -> None:
    page = phone.new_page()
    page.goto(f"{server.url}client/{link(server)}", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(CLIENT_PAGE, timeout=PAGE_TIMEOUT_MS)
    for path in ("", "voila/tree", "voila/render/registration.ipynb", "login"):
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 403, path
        text = page.content()
        assert "kernelId" not in text and not any(code in text for code in OTHER_CODES)
    assert page.locator("h1").first.inner_text() == "This link opens your own form only"
    page.screenshot(path=str(SHOTS / "gate-phone.png"), full_page=True)
    page.get_by_role("link", name="Back to the form").click()
    page.wait_for_selector(CLIENT_PAGE, timeout=PAGE_TIMEOUT_MS)


def _hand_over(page, base: str, token: str) -> dict:
    """What the registration page's button does (fitdata/ui/static/handover.js)."""
    return page.evaluate(
        """async ([base, token]) => {
            const xsrf = (document.cookie.split("; ").find(c => c.startsWith("_xsrf=")) || "")
                .slice(6);
            const response = await fetch(base + "client-handover", {
                method: "POST", credentials: "same-origin", headers: {"X-XSRFToken": xsrf},
                body: new URLSearchParams({token, pin: "", _xsrf: xsrf,
                                           return_to: "/voila/render/client_graph.ipynb"}),
            });
            return {status: response.status, body: await response.json()};
        }""",
        [base, token],
    )


def test_a_tablet_handed_over_keeps_the_client_on_their_page_until_the_therapist_unlocks(
    server: UsersServer, tablet
) -> None:
    kari = server.tokens["kari"]
    page = tablet.new_page()
    page.goto(f"{server.url}voila/tree?token={kari}")
    if not any(c["name"] == "_xsrf" for c in tablet.cookies()):
        tablet.add_cookies([{"name": "_xsrf", "value": "tablet-xsrf", "url": server.url}])
    token = link(server, mode="tablet")
    answer = _hand_over(page, server.url, token)
    assert answer["status"] == 200, answer
    page.goto(server.url.rstrip("/") + answer["body"]["url"], timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(CLIENT_PAGE, timeout=PAGE_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "tablet-client-page.png"))
    # the back button, a typed URL (with her token too) and a new tab: the locked page
    page.go_back()
    page.wait_for_selector(".fitdata-gate", timeout=30_000)
    assert "Back to the form" in page.content() and "kernelId" not in page.content()
    page.screenshot(path=str(SHOTS / "gate-tablet-back.png"), full_page=True)
    for path in ("voila/render/client_graph.ipynb", f"voila/tree?token={kari}"):
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 403, path
    new_tab = tablet.new_page()
    response = new_tab.goto(f"{server.url}voila/tree")
    assert response is not None and response.status == 403
    assert new_tab.locator('section[lang="nb"] h1').inner_text() == (
        "Denne enheten er lånt ut til en klient"
    )
    new_tab.screenshot(path=str(SHOTS / "gate-tablet-new-tab.png"), full_page=True)
    new_tab.close()
    # the therapist takes it back: the unlock page, a wrong token, then hers
    page.goto(f"{server.url}voila/tree")
    page.get_by_role("link", name="Ta enheten tilbake", exact=False).first.click()
    page.wait_for_selector("#fitdata-unlock-secret")
    assert page.locator("label").inner_text() == "Din personlige påloggingsnøkkel"
    page.screenshot(path=str(SHOTS / "unlock-nb.png"), full_page=True)
    page.fill("#fitdata-unlock-secret", server.tokens["liv"])  # a colleague's token
    page.click("button[type=submit]")
    assert "Det var ikke riktig" in page.locator(".error").inner_text()
    page.screenshot(path=str(SHOTS / "unlock-wrong-nb.png"), full_page=True)
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Take the device back"
    page.screenshot(path=str(SHOTS / "unlock-en.png"), full_page=True)
    page.fill("#fitdata-unlock-secret", kari)
    page.click("button[type=submit]")
    page.wait_for_url("**/voila/render/client_graph.ipynb", timeout=PAGE_TIMEOUT_MS)
    response = page.goto(f"{server.url}voila/tree")
    assert response is not None and response.status == 200


def test_the_registration_pages_buttons_hand_the_tablet_over_and_show_a_phone_link(
    server: UsersServer, tablet
) -> None:
    kari = server.tokens["kari"]
    page = tablet.new_page()
    page.goto(f"{server.url}voila/tree?token={kari}")
    page.goto(f"{server.url}voila/render/registration.ipynb", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(".fitdata-handover-phone", timeout=PAGE_TIMEOUT_MS)
    page.locator(".fitdata-handover-phone").click()
    page.wait_for_selector(".fitdata-handover-qr", timeout=30_000)
    address = page.locator(".fitdata-handover-address").input_value()
    assert address.startswith(server.url + "client/c1")
    assert "only this computer can reach" in page.locator(".fitdata-handover-link").inner_text()
    page.locator(".fitdata-handover").screenshot(path=str(SHOTS / "registration-handover-en.png"))
    page.locator(".fitdata-handover-tablet").click()
    page.wait_for_url("**/client/c1*", timeout=60_000)
    page.wait_for_selector(CLIENT_PAGE, timeout=PAGE_TIMEOUT_MS)
    page.go_back()  # the registration page was replaced: back is the landing page, refused
    page.wait_for_selector(".fitdata-gate", timeout=30_000)
    assert "Hand over" not in page.content() and "K-ADULT1" not in page.content()
    page.screenshot(path=str(SHOTS / "gate-after-handover-back.png"), full_page=True)
    response = page.goto(f"{server.url}voila/render/registration.ipynb")
    assert response is not None and response.status == 403
    page.goto(f"{server.url}client-unlock?lang=en")
    page.fill("#fitdata-unlock-secret", kari)
    page.click("button[type=submit]")
    page.wait_for_url("**/voila/render/registration.ipynb", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(".fitdata-handover-tablet", timeout=PAGE_TIMEOUT_MS)
