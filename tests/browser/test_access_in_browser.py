"""Two people of different roles log in to one shared server and see what their role allows."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, filter_options, parse_period, service_summary
from fitdata.i18n import Translator
from fitdata.outputs.report import reading_sentences
from tests.browser.conftest import Server
from tests.browser.test_client_graph_in_browser import options, wait_for_options
from tests.browser.test_service_in_browser import wait_for_reading

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EN = Translator("en")


class SharedServer(Server):
    """``fitdata serve --users`` on loopback over a copy of the demo database with two users."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db = db
        reader = reader_for(db)
        self.therapist_id, self.therapist_name, self.team_id, self.team_name = reader.rows(
            "SELECT th.therapist_id, th.name, t.team_id, t.name FROM episodes e "
            "JOIN therapists th USING (therapist_id) JOIN teams t ON t.team_id = e.team_id "
            "GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1"
        )[0]
        reader.close()
        self.tokens = {
            "kari": access.add_user(
                db, "kari", "therapist", therapist_id=self.therapist_id, token=True
            ),
            "leder": access.add_user(db, "leder", "leader", token=True),
        }
        super().__init__(db, "en", log, "--users")


@pytest.fixture(scope="module")
def shared(demo_db, artifacts, tmp_path_factory) -> Iterator[SharedServer]:
    db = tmp_path_factory.mktemp("access") / "shared.duckdb"
    shutil.copyfile(demo_db, db)
    server = SharedServer(db, artifacts / "serve-users.log")
    yield server
    server.stop()


def open_as(page, shared: SharedServer, user: str, notebook: str) -> None:
    page.goto(f"{shared.url}voila/render/{notebook}?token={shared.tokens[user]}", timeout=180_000)


def test_without_a_personal_token_nobody_gets_in(shared, page, artifacts) -> None:
    page.goto(f"{shared.url}voila/render/client_graph.ipynb?token=not-a-real-token-1234567890")
    assert "/login" in page.url
    assert page.locator(".fitdata-client-graph").count() == 0
    page.screenshot(path=artifacts / "access-login.png")
    # the login form takes the personal token as the password, and the cookie keeps her in
    page.fill("input[type=password]", shared.tokens["kari"])
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{shared.url}voila/render/client_graph.ipynb", timeout=180_000)
    page.wait_for_selector(".fitdata-graph .js-plotly-plot .scatterlayer .trace", timeout=180_000)
    page.screenshot(path=artifacts / "access-after-login.png")
    assert [t.rsplit(" (", 1)[0] for t in options(page, "therapist")] == [shared.therapist_name]


def test_a_therapist_sees_only_her_own_clients(shared, page, artifacts) -> None:
    reader = reader_for(shared.db)
    own_teams = [
        r[0]
        for r in reader.rows(
            "SELECT DISTINCT t.name FROM sessions s JOIN teams t USING (team_id) "
            "WHERE s.therapist_id = ? AND s.rater = 'client'",
            [shared.therapist_id],
        )
    ]
    all_teams = reader.rows("SELECT count(*) FROM teams")[0][0]
    reader.close()
    open_as(page, shared, "kari", "client_graph.ipynb")
    page.wait_for_selector(".fitdata-graph .js-plotly-plot .scatterlayer .trace", timeout=180_000)
    teams = options(page, "team")
    assert sorted(t.rsplit(" (", 1)[0] for t in teams) == sorted(own_teams)
    assert len(teams) < all_teams  # the other teams are not even listed
    wait_for_options(page, "therapist", options(page, "therapist")[0])
    assert [t.rsplit(" (", 1)[0] for t in options(page, "therapist")] == [shared.therapist_name]
    assert page.locator(".fitdata-error").count() == 0
    assert page.inner_text(".fitdata-signed-in") == "Signed in as kari (therapist)"
    page.screenshot(path=artifacts / "access-therapist-client-graph.png", full_page=True)

    # the graph she opened is in the audit log, under her name, with one of her clients
    entries = access.read_audit(shared.db, user="kari")
    assert entries and {e.action for e in entries} == {
        "client_list",
        "client_sessions",
        "client_profile",
    }
    own_clients = {
        r[0]
        for r in reader_for(shared.db).rows(
            "SELECT DISTINCT client_id FROM sessions WHERE therapist_id = ?",  # partners too
            [shared.therapist_id],
        )
    }
    assert {e.client_id for e in entries if e.client_id} <= own_clients
    assert all(set(e.clients) <= own_clients for e in entries)  # her dropdown's list
    assert access.verify_audit(shared.db) == []


def test_a_leader_gets_aggregates_but_no_client_graph(shared, page, artifacts) -> None:
    open_as(page, shared, "leder", "client_graph.ipynb")
    page.wait_for_selector(".fitdata-error", timeout=180_000)
    message = page.inner_text(".fitdata-error")
    assert "leder may see summaries of groups of clients only" in message
    assert page.locator(".fitdata-graph .js-plotly-plot").count() == 0
    page.screenshot(path=artifacts / "access-leader-client-graph.png", full_page=True)

    # the service dashboard shows the leader the same figures as an unrestricted reader computes
    reader = reader_for(shared.db)
    period = parse_period(filter_options(reader)["default_period"])
    expected = service_summary(reader, ServiceFilters(period))
    reader.close()
    open_as(page, shared, "leder", "service.ipynb")
    page.wait_for_selector(".fitdata-charts .js-plotly-plot .point", timeout=180_000)
    wait_for_reading(page, reading_sentences(expected.reading, EN)[0])
    assert page.locator(".fitdata-error").count() == 0
    assert page.inner_text(".fitdata-signed-in") == "Signed in as leder (leader: summaries only)"
    page.screenshot(path=artifacts / "access-leader-service.png", full_page=True)
    assert access.read_audit(shared.db, user="leder") == []


def test_a_header_from_the_browser_cannot_change_who_the_kernel_is(shared, page) -> None:
    """The server tells a kernel its user in X-Fitdata-User; a forged one is replaced."""
    page.set_extra_http_headers({access.LOGIN_USER_HEADER: "kari"})
    open_as(page, shared, "leder", "client_graph.ipynb")
    page.wait_for_selector(".fitdata-error", timeout=180_000)
    assert "leder may see summaries of groups of clients only" in page.inner_text(".fitdata-error")
    assert page.locator(".fitdata-graph .js-plotly-plot").count() == 0
    assert access.read_audit(shared.db, user="leder") == []


def test_a_page_comes_from_the_preheated_pool(shared, page) -> None:
    """A pooled kernel, started before anyone asked, serves the page and learns its user then."""
    log = shared.log

    def count(text: str) -> int:
        return log.read_text().count(text)

    filled = "Kernel pool of client_graph.ipynb is filled"
    used = "for client_graph.ipynb"  # "Using pre-heated kernel: <id> for client_graph.ipynb"
    deadline = time.monotonic() + 180
    while count(filled) <= count(used):  # every use starts a refill, logged once it is ready
        assert time.monotonic() < deadline, "the client graph's pool was never filled"
        time.sleep(0.5)
    before = count(used)
    open_as(page, shared, "kari", "client_graph.ipynb")
    page.wait_for_selector(".fitdata-graph .js-plotly-plot .scatterlayer .trace", timeout=180_000)
    assert page.inner_text(".fitdata-signed-in") == "Signed in as kari (therapist)"
    assert count(used) == before + 1
    assert "Traceback" not in log.read_text()
