"""Dashboards hand DuckDB's buffers back after building a page and after every callback."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

import fitdata.ui.context as context_module
from fitdata.i18n import Translator
from fitdata.ui.context import DashboardContext, build_dashboard, run_guarded


@pytest.fixture
def released(monkeypatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(context_module, "release_buffers", lambda: calls.append("released"))
    return calls


def test_building_a_page_releases_the_buffers_even_when_it_fails(released, tiny_db) -> None:
    context = DashboardContext(tiny_db)
    build_dashboard("test", lambda _c: widgets.HTML("page"), context)
    assert released == ["released"]

    def broken(_c: DashboardContext) -> widgets.Widget:
        raise ValueError("boom")

    shown = build_dashboard("test", broken, context)
    assert "fitdata-error" in shown.value and released == ["released"] * 2


def test_every_callback_releases_the_buffers_even_when_it_fails(released) -> None:
    message = widgets.HTML()
    run_guarded("test", lambda _change: None, {}, message, Translator("en"))
    assert released == ["released"] and message.value == ""

    def broken(_change: object) -> None:
        raise ValueError("boom")

    run_guarded("test", broken, {}, message, Translator("en"))
    assert released == ["released"] * 2 and "fitdata-error" in message.value
