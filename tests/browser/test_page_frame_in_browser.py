"""The page frame as people meet it: login, landing page, a dashboard, a refused page, logout.

Two real ``fitdata serve --users`` (no pool), one in English and one in bokmål, over a copy of the
tiny database with a therapist (kari) and a leader (leder). Chromium logs in through the login
form (typing the personal token), then at 1280x720, 1920x1080 and a tablet's 820x1180 opens the
landing page and a dashboard: the heading is the page's title and is visible, the tab has the
same title, the user and role, home and logout are shown, and no element of the frame or the
landing list has text wider than its box (``scrollWidth > clientWidth``). A leader's landing
page lists the service page only, and the client graph says who is signed in and links there.
Logout ends on the signed-out page, after which the landing page asks for a login again.
Screenshots go to ``/tmp/shots/23d/`` (looked at by the author).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.i18n import Translator
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/shots/23d")
PAGE_TIMEOUT_MS = 180_000
SIZES = {
    "1280x720": {"width": 1280, "height": 720},
    "1920x1080": {"width": 1920, "height": 1080},
    "tablet": {"width": 820, "height": 1180},
}
#: The dashboard opened at each size (a different one each time: the frame is the template's).
OPENED = {
    "1280x720": ("service.ipynb", "dashboard.service.title"),
    "1920x1080": ("client_graph.ipynb", "dashboard.client_graph.title"),
    "tablet": ("registration.ipynb", "dashboard.registration.title"),
}
FRAME_ELEMENTS = (
    ".fitdata-frame, .fitdata-frame *, .fitdata-landing-intro, .fitdata-dashboard-link *"
)

#: Elements whose text is wider than their box, or whose box sticks out of its parent's.
OVERFLOWING = """(selector) => Array.from(document.querySelectorAll(selector)).flatMap((el) => {
    const found = [];
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        found.push(`${el.tagName}.${el.className}: text ${el.scrollWidth} > ${el.clientWidth}`);
    }
    const box = el.getBoundingClientRect(), parent = el.parentElement.getBoundingClientRect();
    if (box.width > 0 && (box.right > parent.right + 1 || box.right > window.innerWidth + 1)) {
        found.push(`${el.tagName}.${el.className}: box ends at ${box.right} > ${parent.right}`);
    }
    return found;
})"""


class UsersServer(Server):
    def __init__(self, db: Path, lang: str, log: Path) -> None:
        self.db = db
        self.lang = lang
        self.tokens = {
            "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
            "leder": access.add_user(db, "leder", "leader", token=True),
        }
        super().__init__(db, lang, log, "--users", "--pool-size", "0")


@pytest.fixture(scope="module", params=["en", "nb"])
def server(request, tiny_db, artifacts, tmp_path_factory) -> Iterator[UsersServer]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    lang = request.param
    db = tmp_path_factory.mktemp(f"frame-{lang}") / "frame.duckdb"
    shutil.copyfile(tiny_db, db)
    started = UsersServer(db, lang, artifacts / f"serve-frame-{lang}.log")
    yield started
    started.stop()


def log_in(browser, server: UsersServer, user: str, size: str):
    """A new browser context logged in as ``user`` through the login form."""
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    tr = Translator(server.lang)
    page.goto(f"{server.url}voila/tree")
    assert page.url.startswith(f"{server.url}login")  # no login yet: the login page
    label = page.locator("label[for=password_input]")
    assert label.inner_text() == tr.text("frame.login.field.user")
    page.fill("#password_input", server.tokens[user])
    page.click("#login_submit")
    page.wait_for_selector(".fitdata-frame-title")
    return context, page


def assert_frame(page, tr: Translator, title: str, user: str, role: str) -> None:
    heading = page.locator(".fitdata-frame-title")
    assert heading.inner_text() == title
    assert heading.is_visible()
    box = heading.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 400
    assert page.title().strip() == title
    who = tr.text("access.signed_in", user=user, role=tr.text(f"access.role.{role}"))
    assert page.locator(".fitdata-frame-user").inner_text() == who
    assert page.locator(".fitdata-frame-home").inner_text() == tr.text("frame.home")
    assert page.locator(".fitdata-frame-logout").inner_text() == tr.text("frame.logout")
    assert page.evaluate(OVERFLOWING, FRAME_ELEMENTS) == []


def test_login_page_in_both_languages(browser, server: UsersServer) -> None:
    tr = Translator(server.lang)
    context = browser.new_context(viewport=SIZES["tablet"])
    page = context.new_page()
    page.goto(f"{server.url}login")
    assert page.title() == tr.text("frame.login.title")
    assert page.locator("h1").inner_text() == tr.text("frame.login.title")
    assert tr.text("frame.login.help.user") in page.inner_text("main")
    assert "Password" not in page.inner_text("body")
    page.screenshot(path=SHOTS / f"login-{server.lang}.png", full_page=True)
    page.fill("#password_input", "not-a-token")
    page.click("#login_submit")
    assert page.locator(".fitdata-login-error").inner_text() == tr.text("frame.login.wrong")
    page.screenshot(path=SHOTS / f"login-wrong-{server.lang}.png", full_page=True)
    context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_landing_page_and_a_dashboard_have_the_frame(browser, server: UsersServer, size) -> None:
    tr = Translator(server.lang)
    context, page = log_in(browser, server, "kari", size)
    assert_frame(page, tr, tr.text("app.title"), "kari", "therapist")
    assert page.locator(".fitdata-dashboard-link").count() == 6
    page.screenshot(path=SHOTS / f"landing-{server.lang}-{size}.png", full_page=True)

    notebook, title_key = OPENED[size]
    page.locator(".fitdata-dashboard-link", has_text=tr.text(title_key)).locator("a").click()
    page.wait_for_selector(".fitdata-frame-title")
    # the loading message is the page's own, in its language (no "Executing 1 of 1")
    assert page.locator("#loading_text").inner_text() == tr.text("frame.loading")
    assert_frame(page, tr, tr.text(title_key), "kari", "therapist")
    page.wait_for_selector(".fitdata-page", timeout=PAGE_TIMEOUT_MS)
    assert page.locator(".fitdata-error").count() == 0
    assert page.locator(".fitdata-signed-in").is_hidden()  # the frame says it once
    # ... and names the page once: no visible heading of the dashboard repeats the title
    headings = page.evaluate(
        """() => [...document.querySelectorAll('h1, h2, h3')]
            .filter(h => !h.closest('.fitdata-frame') && h.offsetParent !== null)
            .map(h => h.innerText.trim())"""
    )
    assert tr.text(title_key) not in headings, headings
    assert page.locator("#loading").is_hidden()
    assert_frame(page, tr, tr.text(title_key), "kari", "therapist")
    page.screenshot(path=SHOTS / f"{notebook[:-6]}-{server.lang}-{size}.png")
    page.locator(".fitdata-frame-home").click()
    page.wait_for_selector(".fitdata-dashboard-link")
    assert page.locator(".fitdata-frame-title").inner_text() == tr.text("app.title")
    context.close()


def test_a_leader_sees_what_she_may_open_and_where_to_go(browser, server: UsersServer) -> None:
    tr = Translator(server.lang)
    context, page = log_in(browser, server, "leder", "1280x720")
    links = page.locator(".fitdata-dashboard-link")
    assert links.count() == 1
    assert tr.text("dashboard.service.title") in links.inner_text()
    assert tr.text("dashboard.service.audience") in links.inner_text()
    page.screenshot(path=SHOTS / f"landing-leader-{server.lang}.png", full_page=True)

    page.goto(f"{server.url}voila/render/client_graph.ipynb")
    refusal = page.locator(".fitdata-frame-refused")
    role = tr.text("access.role.leader")
    assert refusal.inner_text().startswith(tr.text("frame.refused", user="leder", role=role))
    page.wait_for_selector(".fitdata-error", timeout=PAGE_TIMEOUT_MS)  # the kernel's refusal
    assert page.evaluate(OVERFLOWING, FRAME_ELEMENTS) == []
    page.screenshot(path=SHOTS / f"refused-leader-{server.lang}.png", full_page=True)
    refusal.locator("a").click()
    page.wait_for_selector(".fitdata-page", timeout=PAGE_TIMEOUT_MS)
    assert page.locator(".fitdata-frame-title").inner_text() == tr.text("dashboard.service.title")
    context.close()


def test_logout_ends_on_the_signed_out_page(browser, server: UsersServer) -> None:
    tr = Translator(server.lang)
    context, page = log_in(browser, server, "kari", "tablet")
    page.locator(".fitdata-frame-logout").click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == tr.text("frame.signed_out.title")
    page.screenshot(path=SHOTS / f"signed-out-{server.lang}.png", full_page=True)
    page.goto(f"{server.url}voila/tree")
    assert page.url.startswith(f"{server.url}login")  # the session is over
    page.goto(f"{server.url}logout")
    page.locator(".fitdata-sign-in").click()
    assert page.locator("label[for=password_input]").inner_text() == tr.text(
        "frame.login.field.user"
    )
    context.close()
