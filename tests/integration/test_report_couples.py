"""The couple figures of the service page and the report equal an independent SQL computation.

Issue 20: "in what share of couples did both partners improve reliably?" — on a demo database,
per period, service, team and quarter, the numbers the service page shows (its widgets' HTML)
and the report writes (HTML, the PDF's text, the workbook's cells) equal
:func:`tests.oracles.couples_sql.couples_sql`, a plain SQL statement written from the
definition; a group of fewer than ``min_cell_size`` couples is hidden wherever it appears.
"""

from __future__ import annotations

import html
import io
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import reader_for
from fitdata.features.service import (
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
)
from fitdata.features.service.couples import couple_summary
from fitdata.i18n import Translator
from fitdata.outputs.report import HIDDEN, write_report
from tests.conftest import DEMO_END
from tests.oracles.couples_sql import COUNTS, couples_sql

SHARES = ("both_improved", "one_improved", "neither_improved", "both_recovered")


@pytest.fixture(scope="module")
def couples_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo of about 100,000 sessions: enough couples for shown and hidden teams."""
    from fitdata.demo import generate_demo

    path = tmp_path_factory.mktemp("couples") / "couples.duckdb"
    generate_demo(path, sessions=100_000, seed=11, end_date=DEMO_END)
    return path


def _hidden(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_row(shown: pd.Series, oracle: pd.Series | None, config: ClinicalConfig) -> bool:
    """One product row against the oracle's; True when the row is shown."""
    couples = 0 if oracle is None else int(oracle["couples"])
    if _hidden(shown["couples"]):
        return False
    assert oracle is not None, "a row is shown where the definition finds no couple episode"
    assert couples >= config.min_cell_size, "a row of fewer couples than the minimum is shown"
    for column in COUNTS:
        assert int(shown[column]) == int(oracle[column]), column
    for share in SHARES:
        assert shown[f"pct_{share}"] == pytest.approx(oracle[f"pct_{share}"], abs=1e-9), share
        low, high = shown[f"pct_{share}_ci_low"], shown[f"pct_{share}_ci_high"]
        assert low <= shown[f"pct_{share}"] <= high
    return True


def _check_hidden(shown: pd.Series, oracle: pd.Series | None, config: ClinicalConfig) -> None:
    if oracle is not None and int(oracle["couples"]) < config.min_cell_size:
        assert _hidden(shown["couples"]), "a group of fewer couples than the minimum is shown"


def _selections(reader) -> list[ServiceFilters]:
    options = filter_options(reader)
    quarters = options["quarters"]
    services = [None, *options["services"]]
    periods = [options["default_period"], quarters[-6], f"{quarters[-9]}..{quarters[-2]}"]
    periods.append(quarters[-4][:4])  # a whole year
    return [ServiceFilters(parse_period(p), service=s) for p in periods for s in services]


@pytest.mark.parametrize("min_cell_size", [DEFAULT_CONFIG.min_cell_size, 2])
def test_couple_tables_equal_the_sql_definition(couples_db: Path, min_cell_size: int) -> None:
    config = ClinicalConfig(min_cell_size=min_cell_size)
    reader = reader_for(couples_db)
    cache = SummaryCache()
    shown_rows = hidden_small = 0
    for filters in _selections(reader):
        period = filters.period
        common = {"start": period.start, "end": period.end, "service": filters.service}
        summary = couple_summary(reader, filters, config=config, cache=cache)
        total = couples_sql(reader, config, **common)
        oracle_total = total.iloc[0] if len(total) else None
        if _check_row(summary.headline.iloc[0], oracle_total, config):
            shown_rows += 1
        _check_hidden(summary.headline.iloc[0], oracle_total, config)
        teams = couples_sql(reader, config, by=("team_id",), **common).set_index("team_id")
        assert sorted(summary.teams["team_id"]) == sorted(teams.index)
        for _, row in summary.teams.iterrows():
            oracle = teams.loc[row["team_id"]]
            shown_rows += _check_row(row, oracle, config)
            _check_hidden(row, oracle, config)
            hidden_small += int(oracle["couples"]) < config.min_cell_size
            focus = couple_summary(
                reader,
                ServiceFilters(period, service=filters.service, team_id=row["team_id"]),
                config=config,
                cache=cache,
            )
            assert _check_row(focus.headline.iloc[0], oracle, config) == (
                not _hidden(row["couples"])
            )
        window = {
            "start": pd.Period(summary.quarters[0], freq="Q").start_time.date(),
            "end": pd.Period(summary.quarters[-1], freq="Q").end_time.date(),
        }
        quarters = couples_sql(reader, config, by=("quarter",), **{**common, **window})
        by_quarter = quarters.set_index("quarter")
        for _, row in summary.trend.iterrows():
            oracle = by_quarter.loc[row["quarter"]] if row["quarter"] in by_quarter.index else None
            shown_rows += _check_row(row, oracle, config)
            _check_hidden(row, oracle, config)
    assert shown_rows > 20, "the demo shows too few couple rows for the test to mean much"
    assert hidden_small > 0, "no small team was hidden: the test would not see a leak"


# --------------------------------------------------------------------------------------------
# What a person reads: the page's widgets and the report's three formats
# --------------------------------------------------------------------------------------------


def _html_tables(text: str) -> dict[str, list[list[str]]]:
    """Every ``fitdata-table`` in an HTML text: its name and its body rows' cell texts."""
    tables = {}
    pattern = r'<table class="fitdata-table" data-table="(\w+)">.*?<tbody>(.*?)</tbody>'
    for name, body in re.findall(pattern, text, flags=re.S):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
        tables[name] = [
            [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, flags=re.S)]
            for row in rows
        ]
    return tables


def _expected_headline(oracle: pd.Series | None, tr: Translator) -> list[list[str]]:
    """The couples' key figures as a reader sees them, from the oracle (hidden: the mark)."""
    if oracle is None or int(oracle["couples"]) < DEFAULT_CONFIG.min_cell_size:
        return [[HIDDEN], [HIDDEN], *([[HIDDEN]] * len(SHARES))]
    rows = [[str(int(oracle["couple_episodes"]))], [str(int(oracle["couples"]))]]
    rows += [[tr.number(float(oracle[f"pct_{share}"]), decimals=1)] for share in SHARES]
    return rows


def _team_cells(oracle: pd.Series, tr: Translator) -> list[str]:
    """A team row's counts and shares (intervals left out) as displayed."""
    cells = [str(int(oracle["couple_episodes"])), str(int(oracle["couples"]))]
    return cells + [tr.number(float(oracle[f"pct_{share}"]), decimals=1) for share in SHARES]


def _shown_team_cells(row: list[str]) -> list[str]:
    """Counts and shares of a displayed team row (name first, each share followed by its CI)."""
    return [row[1], row[2], row[3], row[6], row[9], row[12]]


def _compare_page_tables(
    tables: dict[str, list[list[str]]], reader, filters: ServiceFilters, tr: Translator
) -> None:
    period = filters.period
    total = couples_sql(reader, DEFAULT_CONFIG, start=period.start, end=period.end)
    headline = [row[1:2] for row in tables["couples_headline"]]
    assert headline == _expected_headline(total.iloc[0] if len(total) else None, tr)
    teams = couples_sql(
        reader, DEFAULT_CONFIG, start=period.start, end=period.end, by=("team_id",)
    ).set_index("team_id")
    names = filter_options(reader)["teams"].set_index("team_id")["name"]
    rows = {row[0]: row for row in tables["couples_teams"]}
    assert set(rows) == {names[t] for t in teams.index}
    shown = 0
    for team, oracle in teams.iterrows():
        cells = _shown_team_cells(rows[names[team]])
        if int(oracle["couples"]) < DEFAULT_CONFIG.min_cell_size:
            assert set(cells) == {HIDDEN}
        elif cells[1] != HIDDEN:  # shown (not hidden as a neighbour)
            assert cells == _team_cells(oracle, tr)
            shown += 1
    assert shown > 0


def _xlsx_text(value: object, count: bool, tr: Translator) -> str:
    """A workbook cell as the page writes it (a count without decimals, a share with one)."""
    if isinstance(value, str):
        return value
    return str(int(value)) if count else tr.number(float(value), decimals=1)


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_page_and_report_show_the_definitions_couple_figures(
    couples_db: Path, tmp_path: Path, lang: str
) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from fitdata.ui.context import DashboardContext
    from fitdata.ui.service import ServiceView

    tr = Translator(lang)
    reader = reader_for(couples_db)
    view = ServiceView(DashboardContext(couples_db, lang))
    view.unit.value = "year"  # two years: enough couples per team for some to be shown
    view.period_from.value = view.period_from.options[-2][1]
    filters = view.filters()
    assert filters is not None
    page = _html_tables(view.couples.value + view.couples_teams.value)
    _compare_page_tables(page, reader, filters, tr)

    report = {}
    for fmt in ("html", "pdf", "xlsx"):
        out = tmp_path / f"report.{fmt}"
        write_report(reader, filters, fmt, out, lang=lang, cache=SummaryCache())
        report[fmt] = out
    html_tables = _html_tables(report["html"].read_text("utf-8"))
    _compare_page_tables(html_tables, reader, filters, tr)
    assert html_tables["couples_headline"] == page["couples_headline"]
    assert html_tables["couples_teams"] == page["couples_teams"]
    assert html_tables["couples_trend"] == page["couples_trend"]

    # The workbook: one sheet per couple table, numbers as numbers, hidden cells as the mark.
    workbook = load_workbook(io.BytesIO(report["xlsx"].read_bytes()))
    title = tr.text("service.couples.table.teams")[:31]
    sheet = workbook[next(name for name in workbook.sheetnames if name == title)]
    values = [list(r) for r in sheet.iter_rows(min_row=4, values_only=True)]
    as_text = [[_xlsx_text(c, i in (1, 2), tr) for i, c in enumerate(row)] for row in values]
    assert as_text == page["couples_teams"]
    heading = tr.text("service.couples.table.headline", period=filters.period.label)[:31]
    figures = [list(r) for r in workbook[heading].iter_rows(min_row=4, values_only=True)]
    expected = _expected_headline(
        couples_sql(
            reader, DEFAULT_CONFIG, start=filters.period.start, end=filters.period.end
        ).iloc[0],
        tr,
    )
    shown = [[_xlsx_text(row[1], i < 2, tr)] for i, row in enumerate(figures)]
    assert shown == expected

    # The PDF: the couples' key figures appear, in order, after the section's heading.
    text = "\n".join(p.extract_text() for p in PdfReader(str(report["pdf"])).pages)
    section = text[text.index(tr.text("service.couples.heading")) :]
    position = 0
    for (cell,) in expected:
        found = section.find(cell, position)
        assert found >= 0, f"{cell!r} not in the PDF's couples section"
        position = found + len(cell)


def test_a_leader_sees_the_same_couple_figures(couples_db: Path, tmp_path: Path) -> None:
    """The leader's scoped reader (client and episode ids de-identified) gives the same tables."""
    import shutil

    from fitdata.data import access

    path = tmp_path / "couples.duckdb"
    shutil.copyfile(couples_db, path)
    access.add_user(path, "leder", "leader")
    leader, everyone = access.reader_for_user(path, "leder"), reader_for(path)
    period = parse_period(filter_options(everyone)["quarters"][-5][:4])
    for team in (None, filter_options(everyone)["teams"]["team_id"].iloc[0]):
        filters = ServiceFilters(period, team_id=team)
        mine = couple_summary(leader, filters, cache=SummaryCache())
        theirs = couple_summary(everyone, filters, cache=SummaryCache())
        for name, table in mine.tables().items():
            pd.testing.assert_frame_equal(table, theirs.tables()[name], obj=name)
    assert not mine.teams["suppressed"].all()
    everyone.close()


def test_the_page_sends_the_couples_again_only_when_they_change(couples_db: Path) -> None:
    """Age group and format do not apply to couples; a team change sends the focus's part only."""
    from fitdata.ui.context import DashboardContext
    from fitdata.ui.service import ServiceView

    view = ServiceView(DashboardContext(couples_db, "en"))
    sent: list[str] = []
    view.couples.observe(lambda change: sent.append("focus"), "value")
    view.couples_teams.observe(lambda change: sent.append("teams"), "value")
    view.age_group.value = "adult"
    view.format.value = "individual"
    assert sent == []
    before = view.couples.value
    view.team.value = view.team.options[1][1]
    assert sent == ["focus"] and view.couples.value != before
    view.service.value = view.service.options[1][1]
    assert sent[-1] == "teams"  # another service: its teams (the focus part may read the same)
