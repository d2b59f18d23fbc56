"""The service page's and the report's section 'Discussed cases — did it help?' (issue 22)."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import pytest

from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, parse_period
from fitdata.features.service.follow_up import follow_up_summary
from fitdata.outputs.report import render
from fitdata.outputs.report.follow_up import add_follow_up, follow_up_tables
from fitdata.outputs.report.layout import HIDDEN
from fitdata.ui.context import DashboardContext
from fitdata.ui.service import ServiceView

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def view(demo_db: Path) -> ServiceView:
    view = ServiceView(DashboardContext(demo_db, "nb"))
    view.follow_up.today = AS_OF
    view.period_to.value = "2026Q2"
    view.period_from.value = "2026Q2"
    return view


def test_the_section_waits_for_its_button_then_follows_the_filters(view: ServiceView) -> None:
    section = view.follow_up
    assert section.summary is None and section.figures.value == ""
    assert "Drøftede saker – hjalp det?" in section.intro.value
    section.show_button.click()
    assert section.summary is not None
    text = section.figures.value
    assert "ikke en årsakseffekt" in text  # labelled as not causal, in bokmål
    assert "% tilbake på sporet, drøftet" in text
    assert HIDDEN in text  # some small comparison is hidden on the demo's teams
    before = section.summary.headline.iloc[0]["cases"]
    first_team = view.team.options[1][1]
    view.team.value = first_team
    assert section.summary.filters.team_id == first_team
    assert section.summary.headline.iloc[0]["cases"] != before


def test_page_tables_equal_the_summary_and_hidden_cells_are_marked(demo_db: Path) -> None:
    from fitdata.i18n import Translator

    summary = follow_up_summary(
        reader_for(demo_db), ServiceFilters(parse_period("2026Q2")), as_of=AS_OF
    )
    tables = {t.name: t for t in follow_up_tables(summary, Translator("en"))}
    teams = tables["follow_up_teams"]
    for row, record in zip(teams.rows, summary.teams.to_dict("records"), strict=True):
        assert row[0] == record["name"]
        if record["detail_suppressed"]:
            assert all(v != v for v in row[2:])  # every comparison cell hidden (NaN)
        else:
            assert row[2] == record["discussed"]


def test_report_files_carry_the_section(view: ServiceView) -> None:
    summary = view.follow_up.summary or view.follow_up.open() or view.follow_up.summary
    html_file = add_follow_up(render(view.summary, "html", "nb"), "html", summary, "nb")
    text = html_file.decode("utf-8")
    assert 'data-section="follow_up"' in text and text.rstrip().endswith("</html>")
    assert text.index("Drøftede saker") < text.index("</body>")
    from openpyxl import load_workbook

    book = load_workbook(
        io.BytesIO(add_follow_up(render(view.summary, "xlsx", "nb"), "xlsx", summary, "nb"))
    )
    sheet = book["Drøftede saker – hjalp det"]
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert "Flaggede saker" in values and HIDDEN in values
    # the page's download carries it
    view.download_format.value = "html"
    view._on_download({})
    link = view.download_link.value
    payload = link.split("base64,", 1)[1].split('"', 1)[0]
    assert 'data-section="follow_up"' in base64.b64decode(payload).decode("utf-8")
