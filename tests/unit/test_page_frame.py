"""The page frame's choices without a server: pages per role, client pages, the hub's logout."""

from __future__ import annotations

import pytest

from fitdata.i18n import Translator
from fitdata.server.frame import login_page, page_frame, pages_for_role, signed_out_page
from fitdata.server.serve import DASHBOARDS

ALL = [name for name, _, _ in DASHBOARDS]


def never_client(_user: object) -> bool:
    return False


@pytest.mark.parametrize("role", ["therapist", "supervisor", "admin", None])
def test_every_role_but_the_leader_may_open_every_dashboard(role) -> None:
    assert pages_for_role(role, DASHBOARDS) == ALL


def test_a_leader_is_offered_the_summaries_only() -> None:
    assert pages_for_role("leader", DASHBOARDS) == ["service.ipynb"]


def test_the_client_page_gets_no_frame(monkeypatch) -> None:
    monkeypatch.delenv("FITDATA_USER", raising=False)
    assert page_frame("client.ipynb", "/", DASHBOARDS, never_client) is None
    frame = page_frame("service.ipynb", "/", DASHBOARDS, never_client)
    assert frame is not None and frame["title"] == Translator("en").text("dashboard.service.title")


def test_under_jupyterhub_logout_is_the_hubs(monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/base/")
    monkeypatch.setenv("FITDATA_LANG", "nb")
    frame = page_frame("client_graph.ipynb", "/base/user/kari/", DASHBOARDS, never_client)
    assert frame is not None
    assert 'class="fitdata-frame-logout" href="/base/hub/logout"' in frame["html"]
    assert frame["loading"] == "Henter data …"
    assert frame["title"] == "Klientgraf"
    monkeypatch.delenv("JUPYTERHUB_BASE_URL")
    frame = page_frame("client_graph.ipynb", "/", DASHBOARDS, never_client)
    assert frame is not None and "fitdata-frame-logout" not in frame["html"]  # no login at all


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_login_and_signed_out_pages_say_what_to_do(lang) -> None:
    tr = Translator(lang)
    form = login_page(lang, "/", "%2F", '<input type="hidden" name="_xsrf" value="x">', "user")
    assert tr.text("frame.login.field.user") in form and f'lang="{lang}"' in form
    assert 'name="password"' in form and 'action="/login?next=%2F&amp;lang=' in form
    out = signed_out_page(lang, "/", True)
    assert tr.text("frame.signed_out.title") in out and f'href="/login?lang={lang}"' in out
