"""A leader opens 'Discussed cases — did it help?' on the service page (issue 22).

The section waits for its button; pressed, it shows the focus's, the teams' and the quarters'
figures exactly as the report lays them out
(:func:`fitdata.outputs.report.follow_up.follow_up_tables` over
:func:`fitdata.features.service.follow_up.follow_up_summary` for the same selection), with the
notes saying it is an observational comparison and not a causal effect; a team change redraws
it. Screenshots go to ``/tmp/shots/B22/``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, filter_options
from fitdata.features.service.follow_up import follow_up_summary
from fitdata.features.service.periods import Period
from fitdata.i18n import Translator
from fitdata.outputs.report import table_text
from fitdata.outputs.report.follow_up import follow_up_tables
from tests.browser.test_service_in_browser import PLOT, assert_clean, table_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URL = "voila/render/service.ipynb"
SHOTS = Path("/tmp/shots/B22")


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_follow_up_section(lang, server_en, server_nb, page, demo_db) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    quarter = filter_options(reader_for(demo_db))["default_period"]
    filters = ServiceFilters(Period("quarter", quarter, quarter))
    expected = follow_up_summary(reader_for(demo_db), filters, as_of=dt.date.today())
    page.goto(server.url + URL, wait_until="commit", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    section = page.locator(".fitdata-follow-up-section")
    assert tr.text("follow_up.heading") in section.inner_text()
    assert page.locator("table[data-table='follow_up_headline']").count() == 0  # not yet
    page.locator(".fitdata-follow-up-show").click()
    page.wait_for_selector("table[data-table='follow_up_teams']", timeout=180_000)

    tables = {t.name: t for t in follow_up_tables(expected, tr)}
    for name in ("follow_up_headline", "follow_up_teams", "follow_up_trend"):
        assert table_rows(page, name) == table_text(tables[name], tr), name
    text = section.inner_text().replace("\u00a0", " ")
    assert tr.text("follow_up.note.not_causal") in text
    assert not expected.headline["suppressed"].iloc[0], "the demo's flagged cases are shown"
    page.set_viewport_size({"width": 1400, "height": 1800})
    section.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    section.screenshot(path=SHOTS / f"service-follow-up-{lang}.png")

    # a team change redraws the section for that team
    team = page.locator(".fitdata-team select")
    shown = expected.teams[~expected.teams["detail_suppressed"]].iloc[0]
    label, team_id = str(shown["name"]), str(shown["team_id"])
    chosen = follow_up_summary(
        reader_for(demo_db),
        ServiceFilters(filters.period, team_id=team_id),
        as_of=dt.date.today(),
    )
    want = table_text(follow_up_tables(chosen, tr)[0], tr)
    team.select_option(label=label)
    for _ in range(240):
        if table_rows(page, "follow_up_headline") == want:
            break
        page.wait_for_timeout(500)
    assert table_rows(page, "follow_up_headline") == want
    assert_clean(page)
