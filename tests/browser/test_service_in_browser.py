"""A leader opens the service dashboard, reads it, changes filters and downloads the report."""

from __future__ import annotations

import json
import math
import re
import time

import pandas as pd
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from fitdata.data.store import reader_for
from fitdata.features.service import (
    ServiceFilters,
    filter_options,
    parse_period,
    service_summary,
)
from fitdata.i18n import Translator
from fitdata.outputs.report import display_tables, reading_sentences, table_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URL = "voila/render/service.ipynb"
PLOT = ".fitdata-charts .js-plotly-plot"
READ_TRACES = """(chart) => [...document.querySelectorAll('.fitdata-charts .js-plotly-plot')]
  .flatMap(plot => plot.data.filter(t => t.meta === chart))
  .map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}))
"""
TEAM_PLOT = ".fitdata-team-charts .js-plotly-plot"
# Marks the drawn team chart; a redraw replaces the element, and with it the mark.
MARK_TEAM_PLOT = f"() => {{ document.querySelector('{TEAM_PLOT}').__fitdataMark = 1; }}"
TEAM_PLOT_KEPT = f"() => document.querySelector('{TEAM_PLOT}').__fitdataMark === 1"
# How the page marks the selected team: its rows in the team tables, its name on the axes.
TEAM_MARKS = """([teamId, name]) => ({
  rows: ['completeness_team', 'teams'].map(t => {
    const row = [...document.querySelectorAll(`table[data-table='${t}'] tbody tr`)]
        .find(r => r.dataset.key === teamId);
    return row ? getComputedStyle(row.cells[0]).fontWeight : null; }),
  otherRow: getComputedStyle(document.querySelector(
      "table[data-table='teams'] tbody tr:not([data-key='" + teamId + "']) td")).fontWeight,
  ticks: [...document.querySelectorAll('.fitdata-team-charts .yaxislayer-above text')]
      .filter(t => t.getAttribute('data-unformatted') === name)
      .map(t => getComputedStyle(t).fill),
})"""


def screenshot(page, path) -> None:
    """The whole dashboard: Voila scrolls inside the page, so make the viewport tall first."""
    height = page.evaluate("document.querySelector('.fitdata-service').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": min(max(1000, height + 100), 12000)})
    page.wait_for_timeout(500)
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})


def reading_items(page) -> list[str]:
    return [
        t.replace("\u00a0", " ").strip()
        for t in page.locator(".fitdata-reading li").all_inner_texts()
    ]


def table_rows(page, name: str) -> list[list[str]]:
    rows = page.locator(f"table[data-table='{name}'] tbody tr")
    return [
        [c.replace("\u00a0", " ").strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def wait_for_reading(page, first_sentence: str) -> None:
    page.wait_for_function(
        """(text) => { const li = document.querySelector('.fitdata-reading li');
                       return li && li.textContent.trim() === text; }""",
        arg=first_sentence,
        timeout=120_000,
    )


def assert_clean(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    assert "Traceback" not in page.inner_text("body")
    assert page.console_problems == []


def test_read_filter_and_download(server_en, page, demo_db, artifacts) -> None:
    tr = Translator("en")
    reader = reader_for(demo_db)
    options = filter_options(reader)
    period = parse_period(options["default_period"])
    expected = service_summary(reader, ServiceFilters(period))

    started = time.monotonic()
    # Voila sends the page when the notebook has run; the first summary (DuckDB, the indices
    # and the team model) takes a while on a busy machine, so wait longer than the default.
    page.goto(server_en.url + URL, wait_until="commit", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    page_open = time.monotonic() - started
    wait_for_reading(page, reading_sentences(expected.reading, tr)[0])
    screenshot(page, artifacts / "service-first.png")

    # What the page says is what the numbers module computed for the same selection.
    assert reading_items(page) == reading_sentences(expected.reading, tr)
    for table in display_tables(expected, tr):
        assert table_rows(page, table.name) == table_text(table, tr), table.name
    traces = page.evaluate(READ_TRACES, "team_target")
    assert traces[0]["y"] == list(expected.teams["name"])
    for plotted, value in zip(traces[0]["x"], expected.teams["pct_target"], strict=True):
        assert (plotted is None and math.isnan(value)) or plotted == pytest.approx(value, abs=0.01)
    completeness = page.evaluate(READ_TRACES, "completeness")
    assert completeness[0]["x"] == expected.quarters
    assert page.locator(f"{PLOT} .point").count() >= 3 * len(expected.teams)
    assert page.evaluate(TEAM_MARKS, ["", ""])["ticks"] == []  # no team chosen: none marked
    assert_clean(page)
    page.evaluate(MARK_TEAM_PLOT)

    # A team: the key figures and the reading follow it.
    team = expected.teams.iloc[1]
    focused = service_summary(reader, ServiceFilters(period, team_id=team.team_id))
    changed = time.monotonic()
    page.locator(".fitdata-team select").select_option(label=team["name"])
    wait_for_reading(page, reading_sentences(focused.reading, tr)[0])
    page.wait_for_function(
        "(text) => document.querySelector('.fitdata-selection').textContent.includes(text)",
        arg=f"Team: {team['name']}",
        timeout=120_000,
    )
    target = tr.number(focused.headline.iloc[0]["pct_target"])
    page.wait_for_function(
        """(value) => Array.from(document.querySelectorAll("table[data-table='headline'] tr"))
             .some(r => r.cells[0].textContent === '% reliably improved or ended non-clinical'
                        && r.cells[1].textContent === value)""",
        arg=target,
        timeout=120_000,
    )
    team_change = time.monotonic() - changed
    # The team is marked in both team tables and on both team charts' axes ...
    page.wait_for_function(
        f"(args) => ({TEAM_MARKS})(args).rows[0] === '700'",
        arg=[team.team_id, team["name"]],
        timeout=120_000,
    )
    marks = page.evaluate(TEAM_MARKS, [team.team_id, team["name"]])
    assert marks["rows"] == ["700", "700"] and marks["otherRow"] == "400", marks
    assert marks["ticks"] == ["rgb(230, 159, 0)"] * 2, marks
    # ... and the team charts, whose numbers a team change does not touch, were not redrawn,
    # while the trend charts now plot the team's own quarters.
    assert page.evaluate(TEAM_PLOT_KEPT)
    wanted = [
        None if math.isnan(v) else round(v, 1)
        for v in focused.completeness_trend["pct_sessions_with_srs"]
    ]
    page.wait_for_function(
        f"(wanted) => JSON.stringify(({READ_TRACES})('completeness')[1].y)"
        " === JSON.stringify(wanted)",
        arg=wanted,
        timeout=120_000,
    )
    headline = {row[0]: row for row in table_rows(page, "headline")}
    assert headline["% reliably improved or ended non-clinical"][1] == target
    assert reading_items(page) == reading_sentences(focused.reading, tr)
    screenshot(page, artifacts / "service-team.png")

    # Period by year: the options become years, and the end is the year that holds the end of
    # the quarter shown until now. Wait for that year itself, not for the first four digits:
    # new options select their first year on the way (ipywidgets sends index 0, then the
    # kernel's value), so a page read in between took the first year and then waited for
    # "Period: <first year>", which never comes (CI under load: 120 s timeout).
    year = str(pd.Period(options["default_period"], freq="Q").asfreq("Y"))
    page.locator(".fitdata-unit select").select_option(label="year")
    page.wait_for_function(
        "(year) => (document.querySelector('.fitdata-period-to select option:checked')"
        " || {textContent: ''}).textContent.trim() === year",
        arg=year,
        timeout=120_000,
    )
    assert re.fullmatch(r"\d{4}", year)
    page.wait_for_function(
        "(text) => document.querySelector('.fitdata-selection').textContent.includes(text)",
        arg=f"Period: {year}",
        timeout=120_000,
    )
    by_year = service_summary(reader, ServiceFilters(parse_period(year), team_id=team.team_id))
    wait_for_reading(page, reading_sentences(by_year.reading, tr)[0])
    assert reading_items(page) == reading_sentences(by_year.reading, tr)

    # Download the same report as XLSX, then as PDF, and open both.
    for fmt in ("xlsx", "pdf"):
        page.locator(".fitdata-download-format select").select_option(label=fmt.upper())
        page.locator("button.fitdata-download").click()
        # The link of this format (the previous format's link is cleared asynchronously).
        link = page.locator(f".fitdata-download-ready[download$='.{fmt}']")
        link.wait_for(timeout=120_000)
        with page.expect_download(timeout=120_000) as caught:
            link.click()
        path = artifacts / f"service-download.{fmt}"
        caught.value.save_as(path)
        assert caught.value.suggested_filename == f"fitdata-service-{year}.{fmt}"
        if fmt == "xlsx":
            sheet = load_workbook(path).worksheets[2]
            assert f"Team: {team['name']}" in sheet["A2"].value
            rows = {r[0]: r[1] for r in sheet.iter_rows(min_row=4, values_only=True)}
            value = by_year.headline.iloc[0]["pct_target"]
            label = "% reliably improved or ended non-clinical"
            assert rows[label] == pytest.approx(round(value, 1))
        else:
            text = " ".join(p.extract_text() for p in PdfReader(path).pages)
            flat = re.sub(r"\s+", " ", text)
            for sentence in reading_sentences(by_year.reading, tr):
                assert sentence in flat, sentence
    screenshot(page, artifacts / "service-download.png")
    assert_clean(page)
    (artifacts / "timings-service-en.json").write_text(
        json.dumps(
            {"page_open_to_chart_s": round(page_open, 2), "team_change_s": round(team_change, 2)}
        )
    )


def test_norwegian_service_dashboard(server_nb, page, demo_db, artifacts) -> None:
    tr = Translator("nb")
    reader = reader_for(demo_db)
    period = parse_period(filter_options(reader)["default_period"])
    expected = service_summary(reader, ServiceFilters(period))
    page.goto(server_nb.url + URL, wait_until="commit", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    wait_for_reading(page, reading_sentences(expected.reading, tr)[0])
    # the page's name is the frame's heading and the tab's title (the page's own is hidden)
    assert page.inner_text(".fitdata-frame-title") == "Tjenesteoversikt" == page.title().strip()
    assert reading_items(page) == reading_sentences(expected.reading, tr)
    assert "Samler vi inn?" in page.inner_text(".fitdata-service")
    screenshot(page, artifacts / "service-nb.png")
    assert_clean(page)


LEGENDS = """() => {
  const plot = document.querySelector('.fitdata-charts .js-plotly-plot');
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const plots = [...plot.querySelectorAll('.cartesianlayer .subplot .bg, .cartesianlayer .bg')];
  return {
    legends: [...plot.querySelectorAll('g.legend, g.legend2, g.legend3')].map(box),
    plots: [...plot.querySelectorAll('.subplot')].map(s => box(s.querySelector('.bg') || s)),
    bars: [...plot.querySelectorAll('.barlayer .point path')].map(box),
  };
}"""


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (1024, 768)])
def test_each_chart_has_its_legend_beside_it_and_the_marks_are_explained(
    server_nb, page, demo_db, size
) -> None:
    """Issue 23: three legends, each beside its own chart and over no bar; the tables' two
    marks (hidden, not estimated) read differently and are explained under the tables."""
    from pathlib import Path

    from fitdata.outputs.report import HIDDEN, NOT_ESTIMATED

    shots = Path("/tmp/shots/23g")
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(server_nb.url + URL, wait_until="commit", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .barlayer .point", timeout=60_000)
    drawn = page.evaluate(LEGENDS)
    assert len(drawn["legends"]) == 3, drawn["legends"]
    plots = sorted(drawn["plots"], key=lambda b: b["top"])[:3]
    for legend, plot in zip(sorted(drawn["legends"], key=lambda b: b["top"]), plots, strict=True):
        assert legend["left"] >= plot["right"] - 1, (legend, plot)  # beside, not over it
        assert plot["top"] - 5 <= legend["top"] <= plot["bottom"], (legend, plot)  # its chart
    assert drawn["bars"] and not any(
        _overlap(legend, bar) for legend in drawn["legends"] for bar in drawn["bars"]
    )
    ticks = page.eval_on_selector(
        PLOT, "p => [...p.querySelectorAll('.yaxislayer-above text')].map(t => t.textContent)"
    )
    assert any("," in t for t in ticks) and not any("." in t for t in ticks), " | ".join(ticks)
    cells = page.locator(".fitdata-service table td").all_inner_texts()
    marks = page.locator(".fitdata-service .fitdata-marks").all_inner_texts()
    assert NOT_ESTIMATED in cells and marks
    text = " ".join(marks)
    assert "ikke beregnet" in text
    if HIDDEN in cells:
        assert "skjult" in text
    for index, chart in enumerate(page.locator(f"{PLOT} .subplot").all()[:3]):
        chart.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"service-nb-chart{index}-{size[0]}x{size[1]}.png"))
    screenshot(page, shots / f"service-nb-full-{size[0]}.png")
    assert_clean(page)
