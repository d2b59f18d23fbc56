"""A leader reads the couples section of the service dashboard, in English and bokmål (issue 20).

The page shows, after the teams, what share of couples had both partners reliably improved,
one, neither, and both recovered, with the plain-language explanation beside it; the cells
are exactly the report's (:func:`fitdata.outputs.report.couple_tables` over
:func:`fitdata.features.service.couples.couple_summary` for the same selection). Screenshots
of the section go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import pytest

from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, filter_options
from fitdata.features.service.couples import couple_summary
from fitdata.features.service.periods import Period
from fitdata.i18n import Translator
from fitdata.outputs.report import couple_explanation, couple_sentences, couple_tables, table_text
from tests.browser.test_service_in_browser import PLOT, assert_clean, table_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URL = "voila/render/service.ipynb"


def _years(demo_db) -> tuple[str, str]:
    quarters = filter_options(reader_for(demo_db))["quarters"]
    years = sorted({q[:4] for q in quarters})
    return years[-3], years[-2]


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_couples_section(lang, server_en, server_nb, page, demo_db, artifacts) -> None:
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    first, last = _years(demo_db)
    expected = couple_summary(reader_for(demo_db), ServiceFilters(Period("year", first, last)))
    page.goto(server.url + URL, wait_until="commit", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    page.wait_for_selector("table[data-table='couples_headline']", timeout=120_000)

    # Two whole years: enough couples in the demo for the key figures to be shown.
    page.locator(".fitdata-unit select").select_option(label=tr.text("service.filter.unit.year"))
    page.wait_for_function(
        "(v) => [...document.querySelectorAll('.fitdata-period-to option')]"
        ".some(o => o.textContent.trim() === v)",
        arg=last,
        timeout=120_000,
    )
    # the start first (a single period's end follows it), then the end
    page.locator(".fitdata-period-from select").select_option(label=first)
    page.wait_for_timeout(500)
    page.locator(".fitdata-period-to select").select_option(label=last)
    title = tr.text("service.couples.table.headline", period=f"{first}..{last}")
    page.wait_for_function(
        "(t) => document.querySelector('.fitdata-couples').textContent.includes(t)",
        arg=title,
        timeout=120_000,
    )

    tables = {t.name: t for t in couple_tables(expected, tr)}
    for name in ("couples_headline", "couples_trend", "couples_teams"):
        assert table_rows(page, name) == table_text(tables[name], tr), name
    shown = page.locator(".fitdata-couples").inner_text().replace("\u00a0", " ")
    for sentence in [*couple_explanation(expected, tr), *couple_sentences(expected, tr)]:
        assert sentence in shown, sentence
    assert tr.text("service.couples.heading") in shown
    assert not expected.headline["suppressed"].iloc[0], "the demo's couples should be shown"

    section = page.locator(".fitdata-couples")
    section.scroll_into_view_if_needed()
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.wait_for_timeout(300)
    section.screenshot(path=artifacts / f"service-couples-{lang}.png")
    page.locator(".fitdata-t-couples_teams").screenshot(
        path=artifacts / f"service-couples-teams-{lang}.png"
    )
    assert_clean(page)
