"""The page frame over HTTP: titles, headings, the landing page per role, login and logout pages.

A real ``fitdata serve --users`` (no preheated pool, so a page is rendered for its request) with
a therapist and a leader; and an open loopback server, whose pages have no logout.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from fitdata.data import access
from fitdata.data.client_links import issue_client_link
from fitdata.i18n import Translator
from fitdata.server.serve import DASHBOARDS
from tests.integration.test_server_security import (
    PAGE_TIMEOUT_S,
    Server,
    _login_form,
    _start,
    login,
    request,
)

EN, NB = Translator("en"), Translator("nb")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def users_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("frame")
    db = folder / "frame.duckdb"
    shutil.copyfile(tiny_db, db)
    tokens = {
        "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
        "leder": access.add_user(db, "leder", "leader", token=True),
    }
    server = _start(db, folder / "serve.log", "--users", "--pool-size", "0")
    server.tokens = tokens  # type: ignore[assignment]
    yield server
    server.stop()


def _title(body: str) -> str:
    found = re.search(r"<title>\s*(.*?)\s*</title>", body, re.S)
    assert found, body[:400]
    return html.unescape(found.group(1))


def _heading(body: str) -> str:
    found = re.search(r'<h1 class="fitdata-frame-title">(.*?)</h1>', body, re.S)
    assert found, body[:2000]
    return html.unescape(found.group(1))


def _visible(body: str) -> str:
    """The page without its scripts (the page's configuration is JSON in one)."""
    return re.sub(r"<script.*?</script>", "", body, flags=re.S)


def _landing_links(body: str) -> list[str]:
    return re.findall(r'<li class="fitdata-dashboard-link">\s*<a href="[^"]*render/([^"?]+)', body)


def test_the_landing_page_shows_each_role_what_it_may_open(users_server: Server) -> None:
    kari = request(users_server.port, "/voila/tree", cookies=login(users_server, "kari"))
    assert kari.status == 200
    assert _landing_links(kari.body) == [name for name, _, _ in DASHBOARDS]
    assert _title(kari.body) == EN.text("app.title") == _heading(kari.body)
    assert "Signed in as kari (therapist)" in kari.body
    assert 'class="fitdata-frame-logout"' in kari.body

    leder = request(users_server.port, "/voila/tree", cookies=login(users_server, "leder"))
    assert _landing_links(leder.body) == ["service.ipynb"]
    assert html.unescape("Signed in as leder (leader: summaries only)") in html.unescape(leder.body)
    shown = html.unescape(_visible(leder.body))
    for _, title, audience in DASHBOARDS[:1]:  # the client graph: refused to a leader
        assert EN.text(title) not in shown and EN.text(audience) not in shown
    assert EN.text("dashboard.service.audience") in html.unescape(leder.body)


def test_the_landing_page_in_bokmal(users_server: Server) -> None:
    cookies = login(users_server, "leder")
    page = request(users_server.port, "/voila/tree?lang=nb", cookies=cookies)
    text = html.unescape(page.body)
    assert _title(page.body) == NB.text("app.title")
    assert NB.text("access.signed_in", user="leder", role=NB.text("access.role.leader")) in text
    assert NB.text("frame.logout") in text and NB.text("frame.home") in text
    assert NB.text("dashboard.service.title") in text
    assert "voila/render/service.ipynb?lang=nb" in page.body  # the links keep the language


def test_a_dashboard_has_its_title_heading_user_and_loading_message(users_server: Server) -> None:
    cookies = login(users_server, "kari")
    page = request(
        users_server.port, "/voila/render/service.ipynb", cookies=cookies, timeout=PAGE_TIMEOUT_S
    )
    assert page.status == 200
    title = EN.text("dashboard.service.title")
    assert _title(page.body) == title == _heading(page.body)
    assert "Voilà" not in _title(page.body) and "ipynb" not in _title(page.body)
    assert "Signed in as kari (therapist)" in page.body
    assert f'<h2 id="loading_text">{html.escape(EN.text("frame.loading"))}</h2>' in page.body
    assert "Running" not in page.body.split("rendered_cells")[0]
    assert '<p class="fitdata-frame-refused"' not in page.body


def test_a_refused_page_says_who_is_signed_in_and_where_to_go(users_server: Server) -> None:
    cookies = login(users_server, "leder")
    page = request(
        users_server.port,
        "/voila/render/client_graph.ipynb?lang=nb",
        cookies=cookies,
        timeout=PAGE_TIMEOUT_S,
    )
    assert page.status == 200
    assert _heading(page.body) == NB.text("dashboard.client_graph.title")
    refusal = re.search(r'<p class="fitdata-frame-refused"[^>]*>(.*?)</p>', page.body, re.S)
    assert refusal, page.body[:3000]
    role = NB.text("access.role.leader")
    assert html.unescape(refusal.group(1)).startswith(
        NB.text("frame.refused", user="leder", role=role)
    )
    assert re.findall(r'href="[^"]*render/([^"?]+)', refusal.group(1)) == ["service.ipynb"]
    assert f'<h2 id="loading_text">{NB.text("frame.loading")}</h2>' in page.body


def test_the_login_page_says_what_to_type_in_both_languages(users_server: Server) -> None:
    english = request(users_server.port, "/login")
    assert english.status == 200
    assert EN.text("frame.login.field.user") == "Your personal token (from your administrator)"
    assert html.escape(EN.text("frame.login.field.user")) in english.body
    assert "Password:" not in english.body
    norsk = request(users_server.port, "/login?lang=nb")
    assert html.escape(NB.text("frame.login.field.user")) in norsk.body
    assert _title(norsk.body) == NB.text("frame.login.title")
    # the bokmål form logs in, and a wrong token is refused in bokmål
    cookies, xsrf = _login_form(users_server, "127.0.0.9")
    wrong = request(
        users_server.port,
        "/login?lang=nb",
        method="POST",
        headers=FORM,
        body=urlencode({"_xsrf": xsrf, "password": "not-a-token"}),
        cookies=cookies,
        source="127.0.0.9",
    )
    assert wrong.status == 401
    assert html.escape(NB.text("frame.login.wrong")) in wrong.body
    token = users_server.tokens["kari"]  # type: ignore[index]
    right = request(
        users_server.port,
        "/login?lang=nb",
        method="POST",
        headers=FORM,
        body=urlencode({"_xsrf": xsrf, "password": token}),
        cookies=cookies,
        source="127.0.0.9",
    )
    assert right.status == 302, right.status


def test_logout_says_you_are_signed_out_and_the_cookie_is_dead(users_server: Server) -> None:
    cookies = login(users_server, "kari")
    assert request(users_server.port, "/voila/tree", cookies=cookies).status == 200
    out = request(users_server.port, "/logout?lang=nb", cookies=cookies)
    assert out.status == 200
    assert _title(out.body) == NB.text("frame.signed_out.title")
    assert 'href="/login?lang=nb"' in out.body
    again = request(users_server.port, "/voila/tree", cookies=cookies)
    assert again.status == 302 and "/login" in again.headers["Location"]


def test_an_open_server_has_the_frame_without_logout(open_frame_server: Server) -> None:
    page = request(open_frame_server.port, "/voila/tree")
    assert page.status == 200
    assert _heading(page.body) == EN.text("app.title")
    assert _landing_links(page.body) == [name for name, _, _ in DASHBOARDS]
    assert 'class="fitdata-frame-logout"' not in page.body
    assert 'class="fitdata-frame-user"' not in page.body  # no users: nobody to name


@pytest.fixture(scope="module")
def open_frame_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("frame-open")
    db = folder / "open.duckdb"
    shutil.copyfile(tiny_db, db)
    server = _start(db, folder / "serve.log", "--pool-size", "0")
    yield server
    server.stop()


def test_a_client_link_page_has_no_staff_frame(users_server: Server) -> None:
    """Opened on a phone or in a therapist's browser, the client's page names no staff user."""
    token, _ = issue_client_link(users_server.db, episode_id="E1", actor="kari")
    for cookies in ({}, login(users_server, "kari")):
        page = request(
            users_server.port, f"/client/{token}", cookies=cookies, timeout=PAGE_TIMEOUT_S
        )
        assert page.status == 200, page.status
        assert '<header class="fitdata-frame"' not in page.body
        assert "kari" not in _visible(page.body)
        assert 'class="fitdata-frame-logout"' not in page.body
        assert f'<h2 id="loading_text">{html.escape(EN.text("frame.loading"))}</h2>' in page.body
        assert _title(page.body) == EN.text("frame.client_page.title")  # not "client"
    norsk = request(users_server.port, f"/client/{token}?lang=nb", timeout=PAGE_TIMEOUT_S)
    assert _title(norsk.body) == NB.text("frame.client_page.title")
    assert f'<h2 id="loading_text">{NB.text("frame.loading")}</h2>' in norsk.body
