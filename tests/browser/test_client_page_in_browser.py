"""The client's own page on a phone and a tablet: tap the lines, see the graph, send the SRS.

A real ``fitdata serve`` and Chromium with a touch screen (Playwright ``has_touch``,
``is_mobile``). Each test issues a link for an ongoing demo episode and opens the page for it:
a tap at 73 % of the first ORS line records 7.3; the four ORS lines, then the client's graph,
then the SRS; the database then holds that session once, entered by the client; the page and
every websocket frame hold no other client's code and no therapist's or team's name. Screenshots
go to ``test-artifacts/browser/client_page/`` (phone and tablet, English and bokmål).

Every page is opened as a person opens it: ``/client/<token>?lang=..`` on the server, which
checks the link and hands the token to ``dashboards/client.ipynb``'s kernel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fitdata.data import client_links
from fitdata.data.store import reader_for
from fitdata.features.client_page import submit_client_form
from fitdata.i18n import Translator
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
TABLET = {"viewport": {"width": 820, "height": 1180}, "has_touch": True, "is_mobile": True}
DEVICES = {"phone": PHONE, "tablet": TABLET}
TRACK = ".fitdata-vas-track"
PLOT = ".fitdata-client-graph .js-plotly-plot"
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_WORD = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Received:
    """Every websocket frame the page sent and received, and the page's documents."""

    frames: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        def on_websocket(ws) -> None:
            ws.on("framereceived", lambda payload: self.frames.append(_text(payload)))
            ws.on("framesent", lambda payload: self.frames.append(_text(payload)))

        def on_response(response) -> None:
            if "/client/" in response.url:
                with contextlib.suppress(Exception):
                    self.documents.append(response.text())

        page.on("websocket", on_websocket)
        page.on("response", on_response)


def _text(payload: str | bytes) -> str:
    text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass
class Site:
    db: Path
    server: Server
    episodes: list[tuple[str, str, dt.date]]  # free ongoing episodes: (episode, client, day)
    child_episodes: list[tuple[str, str, dt.date]]  # the same, of children (6-12)
    client_codes: set[str]
    names: set[str]


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory, artifacts):
    """A copy of the demo database served with a folder of per-link pages."""
    root = tmp_path_factory.mktemp("client_page")
    db = root / "demo.duckdb"
    shutil.copyfile(demo_db, db)
    reader = reader_for(db)
    rows = reader.rows(
        "SELECT e.episode_id, e.client_id, max(s.session_date) AS last FROM episodes e "
        "JOIN clients c USING (client_id) JOIN sessions s ON s.episode_id = e.episode_id "
        "AND s.client_id = e.client_id AND s.rater = 'client' "
        "WHERE e.ended IS NULL AND e.format = 'individual' AND c.age_group = 'adult' "
        "GROUP BY e.episode_id, e.client_id HAVING count(*) BETWEEN 3 AND 8 "
        "ORDER BY e.episode_id LIMIT 8"
    )
    episodes = [(str(e), str(c), last + dt.timedelta(days=7)) for e, c, last in rows]
    children = reader.rows(
        "SELECT e.episode_id, e.client_id, max(s.session_date) AS last FROM episodes e "
        "JOIN clients c USING (client_id) JOIN sessions s ON s.episode_id = e.episode_id "
        "AND s.client_id = e.client_id AND s.rater = 'client' "
        "WHERE e.ended IS NULL AND e.format = 'individual' AND c.age_group = 'child' "
        "GROUP BY e.episode_id, e.client_id HAVING count(*) >= 2 ORDER BY e.episode_id LIMIT 2"
    )
    child_episodes = [(str(e), str(c), last + dt.timedelta(days=7)) for e, c, last in children]
    codes = {str(c) for (c,) in reader.rows("SELECT client_id FROM clients")}
    names = {
        str(n) for (n,) in reader.rows("SELECT name FROM therapists UNION SELECT name FROM teams")
    }
    reader.close()
    # no preheated kernels: seven notebooks' pools would crowd two cores
    server = Server(db, "en", artifacts / "serve-client-page.log", "--pool-size", "0")
    yield Site(db, server, episodes, child_episodes, codes, names)
    server.stop()


def link_page(site: Site, lang: str, mode: str, **kwargs) -> tuple[str, client_links.ClientGrant]:
    """Issue a link for the next free episode; its page's URL and its grant."""
    episode, _client, day = site.episodes.pop(0)
    values = {"episode_id": episode, "session_date": day, "actor": "test", "mode": mode}
    token, grant = client_links.issue_client_link(site.db, **{**values, **kwargs})
    return open_token(site, token, lang), grant


def open_token(site: Site, token: str, lang: str) -> str:
    """The address a person opens: the server's ``/client/<token>``, in ``lang``."""
    return f"{site.server.url}{client_links.client_link_path(token).lstrip('/')}?lang={lang}"


@pytest.fixture
def device(browser, request):
    """A browser context of the device named by the test's parameter."""
    context = browser.new_context(**DEVICES[request.param])
    yield request.param, context
    context.close()


def shot(page, artifacts: Path, name: str) -> None:
    folder = artifacts / "client_page"
    folder.mkdir(parents=True, exist_ok=True)
    # the page scrolls inside Voila's container: a viewport as tall as the page, for the shot
    size = page.viewport_size
    height = page.evaluate(
        "() => { const p = document.querySelector('.fitdata-client-page');"
        " return Math.ceil(p ? p.getBoundingClientRect().height + 120"
        " : document.body.scrollHeight); }"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size(size)
    shots = Path("/tmp/shots/P2")
    if shots.parent.exists():
        shots.mkdir(exist_ok=True)
        shutil.copyfile(folder / f"{name}.png", shots / f"{name}.png")


def tap_at(page, track, fraction: float) -> None:
    """Tap the line at ``fraction`` of its drawn length (its rule, end to end)."""
    track.scroll_into_view_if_needed()
    rule = track.locator(".fitdata-vas-rule").bounding_box()
    box = track.bounding_box()
    page.touchscreen.tap(rule["x"] + fraction * rule["width"], box["y"] + box["height"] / 2)


def drag(page, track, start: float, end: float) -> None:
    """Press on the line at ``start`` of its length, move to ``end`` and let go (a mouse)."""
    track.scroll_into_view_if_needed()
    rule = track.locator(".fitdata-vas-rule").bounding_box()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(rule["x"] + start * rule["width"], y)
    page.mouse.down()
    page.mouse.move(rule["x"] + end * rule["width"], y, steps=8)
    page.mouse.up()


def four_lines(page, timeout: int) -> None:
    """Wait until the page shows exactly four lines (a form's widgets render one by one)."""
    page.wait_for_function(
        "s => document.querySelectorAll(s).length === 4", arg=TRACK, timeout=timeout
    )


def shown_value(track) -> str:
    return track.locator("xpath=..").locator(".fitdata-vas-value").inner_text()


def session_rows(db: Path, grant) -> list[tuple]:
    return reader_for(db).rows(
        "SELECT session_date, ors_individual::DOUBLE, ors_interpersonal::DOUBLE, "
        "ors_social::DOUBLE, ors_overall::DOUBLE, srs_relationship::DOUBLE, srs_goals::DOUBLE, "
        "srs_approach::DOUBLE, srs_overall::DOUBLE, entered_by FROM sessions "
        "WHERE episode_id = ? AND client_id = ? AND session_date = ?",
        [grant.episode_id, grant.client_id, grant.session_date],
    )


def forbidden_in(texts: list[str], site: Site, own: str) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found |= {w for w in _WORD.findall(text) if w in site.client_codes}
        found |= {n for n in site.names if n in text}
    return found


WORDS = {
    "en": {"send": "Send", "end": "I'm at the end of the session", "thanks": "Thank you!",
           "ors": "How have you been doing?", "value": "7.3", "srs": "How was today's session?",
           "today": "Today"},
    "nb": {"send": "Send", "end": "Jeg er ved slutten av samtalen", "thanks": "Tusen takk!",
           "ors": "Hvordan har du hatt det?", "value": "7,3", "srs": "Hvordan var samtalen i dag?",
           "today": "I dag"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("device", "lang"),
    [("phone", "en"), ("phone", "nb"), ("tablet", "en"), ("tablet", "nb")],
    indirect=["device"],
    ids=["phone-en", "phone-nb", "tablet-en", "tablet-nb"],
)
def test_the_client_taps_the_lines_sees_the_graph_and_sends_the_srs(
    site, device, lang, artifacts
) -> None:
    name, context = device
    words = WORDS[lang]
    url, grant = link_page(site, lang, "tablet" if name == "tablet" else "phone")
    page = context.new_page()
    received = Received()
    received.attach(page)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url, timeout=180_000)
    four_lines(page, 120_000)
    tracks = page.locator(TRACK)
    assert page.locator("h1").first.inner_text() == words["ors"]
    assert shown_value(tracks.nth(0)) == ""  # no number before the mark is set
    # the touch target: at least 44 px high, and the body text at least 20 px
    assert tracks.nth(0).bounding_box()["height"] >= 44
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector("
        "'.fitdata-client-text p')).fontSize)"
    )
    assert size >= 20
    tap_at(page, tracks.nth(0), 0.73)
    page.wait_for_function(
        "([s, v]) => document.querySelector(s).parentElement"
        ".querySelector('.fitdata-vas-value').textContent === v",
        arg=[TRACK, words["value"]],
        timeout=20_000,
    )
    assert tracks.nth(0).get_attribute("aria-valuenow") == "7.3"
    # the keyboard moves a mark too: End = 10, Page Down -1, arrow left -0.1
    tracks.nth(1).focus()
    for key in ("End", "PageDown", "ArrowLeft"):
        page.keyboard.press(key)
    assert tracks.nth(1).get_attribute("aria-valuenow") == "8.9"
    tap_at(page, tracks.nth(1), 0.5)  # and a mark can still be moved
    drag(page, tracks.nth(2), 0.6, 0.2)  # a drag ends where the finger (or mouse) lifts
    tap_at(page, tracks.nth(3), 0.9)
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(t => t.hasAttribute('aria-valuenow'))",
        arg=TRACK,
    )
    shot(page, artifacts, f"{name}-{lang}-1-ors")
    page.locator(".fitdata-client-send").tap()
    page.wait_for_selector(PLOT + " .scatterlayer .trace .point", timeout=60_000)
    assert page.locator(".modebar").count() == 0 or not page.locator(".modebar").is_visible()
    assert words["today"] in page.locator(".fitdata-client-graph").inner_text()
    shot(page, artifacts, f"{name}-{lang}-2-graph")
    stored = session_rows(site.db, grant)
    assert len(stored) == 1 and stored[0][1] == 7.3 and stored[0][2] == 5.0
    assert stored[0][3] == 2.0 and stored[0][4] == 9.0 and stored[0][-1] == "client"
    page.get_by_text(words["end"]).tap()
    page.wait_for_selector(f'h1:has-text("{words["srs"]}")', timeout=30_000)
    four_lines(page, 30_000)
    tracks = page.locator(TRACK)
    for index, fraction in enumerate((0.95, 0.9, 0.85, 1.0)):
        tap_at(page, tracks.nth(index), fraction)
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(t => t.hasAttribute('aria-valuenow'))",
        arg=TRACK,
    )
    shot(page, artifacts, f"{name}-{lang}-3-srs")
    page.locator(".fitdata-client-send").tap()
    page.wait_for_selector(f'h1:has-text("{words["thanks"]}")', timeout=30_000)
    shot(page, artifacts, f"{name}-{lang}-4-thanks")
    stored = session_rows(site.db, grant)
    assert len(stored) == 1, "the session is stored exactly once"
    assert stored[0][5:9] == (9.5, 9.0, 8.5, 10.0) and stored[0][-1] == "client"
    # nothing about anyone else, nor the client's own code, in the page or any frame
    assert len(received.frames) > 10, "the websocket frames were not captured"
    texts = [page.content(), page.inner_text("body"), *received.frames, *received.documents]
    assert forbidden_in(texts, site, grant.client_id) == set()
    assert problems == []


@pytest.mark.parametrize("device", ["phone"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "nb"])
def test_an_altered_or_used_link_gets_a_clear_page_and_nothing_else(site, device, lang, artifacts):
    name, context = device
    tr = Translator(lang)
    episode, _client, day = site.episodes.pop(0)
    token, grant = client_links.issue_client_link(
        site.db, episode_id=episode, session_date=day, actor="test", forms=("ors",)
    )
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    page = context.new_page()
    received = Received()
    received.attach(page)
    response = page.goto(open_token(site, altered, lang), timeout=180_000)
    assert response.status == 403
    assert tr.text("client_data.refused.altered") in page.inner_text("body")
    assert page.locator(TRACK).count() == 0 and received.frames == []  # no kernel, no data
    shot(page, artifacts, f"{name}-{lang}-refused-altered")
    assert session_rows(site.db, grant) == []
    # the same link, once its form is sent, is used: a clear page, no form, no kernel
    submit_client_form(site.db, grant, "ors", [5, 5, 5, 5], lang=lang)
    response = page.goto(open_token(site, token, lang), timeout=180_000)
    assert response.status == 410
    assert tr.text("client_data.refused.used") in page.inner_text("body")
    assert page.locator(TRACK).count() == 0 and received.frames == []
    shot(page, artifacts, f"{name}-{lang}-refused-used")
    texts = [page.content(), *received.documents]
    assert forbidden_in(texts, site, grant.client_id) == set()
    assert len(session_rows(site.db, grant)) == 1


@pytest.mark.parametrize("device", ["phone"], indirect=True)
def test_a_child_marks_the_child_forms_lines_in_a_childs_words(site, device, artifacts) -> None:
    name, context = device
    tr = Translator("nb")
    episode, _client, day = site.child_episodes.pop(0)
    token, grant = client_links.issue_client_link(
        site.db, episode_id=episode, session_date=day, actor="test", forms=("ors",)
    )
    page = context.new_page()
    page.goto(open_token(site, token, "nb"), timeout=180_000)
    four_lines(page, 120_000)
    assert page.locator("h1").first.inner_text() == tr.text("client_page.child.ors.heading")
    anchors = page.locator(".fitdata-vas-anchors").first.inner_text().split("\n")
    assert anchors == [
        tr.text("client_page.child.ors.left"),
        tr.text("client_page.child.ors.right"),
    ]
    tracks = page.locator(TRACK)
    for index, fraction in enumerate((0.73, 0.6, 0.8, 0.7)):
        tap_at(page, tracks.nth(index), fraction)
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(t => t.hasAttribute('aria-valuenow'))",
        arg=TRACK,
    )
    shot(page, artifacts, f"{name}-nb-child-ors")
    page.locator(".fitdata-client-send").tap()
    page.wait_for_selector(PLOT + " .scatterlayer .trace .point", timeout=60_000)
    shot(page, artifacts, f"{name}-nb-child-graph")
    form = reader_for(site.db).rows(
        "SELECT ors_form, ors_individual::DOUBLE, entered_by FROM sessions "
        "WHERE episode_id = ? AND client_id = ? AND session_date = ?",
        [grant.episode_id, grant.client_id, grant.session_date],
    )
    assert form == [("CORS", 7.3, "client")]
