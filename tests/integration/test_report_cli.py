"""`fitdata report` end to end: files read back, the dashboard agrees, small cells hidden.

The database is ``build_service_db`` (tests/unit/test_service.py): team Gamma has
only three clients, so every one of its figures must be hidden in every output, and no count
from 1 to 4 may appear anywhere.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from fitdata.cli import main
from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from fitdata.i18n import Translator
from fitdata.outputs.report import HIDDEN, display_tables, reading_sentences, table_text
from fitdata.ui.context import DashboardContext
from fitdata.ui.service import CHARTS, ServiceView, chart_traces
from tests.unit.test_service import build_service_db


@pytest.fixture(scope="module")
def service_db(tmp_path_factory) -> Path:
    return build_service_db(tmp_path_factory.mktemp("report-cli") / "service.duckdb")


@pytest.fixture(scope="module")
def reports(service_db, tmp_path_factory) -> dict[str, Path]:
    """The three formats written by the command line, in bokmål, for 2025Q3."""
    out = tmp_path_factory.mktemp("reports")
    paths = {}
    for fmt in ("html", "pdf", "xlsx"):
        path = out / f"report.{fmt}"
        status = main(
            [
                "report",
                "--db",
                str(service_db),
                "--period",
                "2025Q3",
                "--out",
                str(path),
                "--lang",
                "nb",
            ]
        )
        assert status == 0
        paths[fmt] = path
    return paths


@pytest.fixture(scope="module")
def view(service_db) -> ServiceView:
    """The dashboard in plain Python, set to the same period as the reports."""
    view = ServiceView(DashboardContext(service_db, "nb"))
    view.period_to.value = "2025Q3"
    view.period_from.value = "2025Q3"
    return view


class Tables(HTMLParser):
    """Collects every <table> of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._name: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.svg_count = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svg_count += 1
        if tag == "table":
            self._name = attrs.get("data-table")
            self.tables[self._name] = []
        elif tag == "tr" and self._name is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._name].append(self._row)
            self._row = None
        elif tag == "table":
            self._name = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_html(path: Path) -> Tables:
    parser = Tables()
    parser.feed(path.read_text("utf-8"))
    return parser


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


# -- the command line ----------------------------------------------------------------------


def test_bad_period_is_one_clear_line_and_exit_2(service_db, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(
            [
                "report",
                "--db",
                str(service_db),
                "--period",
                "2025Q5",
                "--out",
                str(tmp_path / "r.html"),
            ]
        )
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot read the period '2025Q5'" in error and "2025-07" in error


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--service", "Barn"], "no service 'Barn'"),
        (["--team", "Omega"], "no team 'Omega'"),
        (["--team", "Delta", "--service", "Voksen"], "is not in the service"),
    ],
)
def test_unknown_service_or_team_is_refused(service_db, tmp_path, capsys, extra, message):
    status = main(
        [
            "report",
            "--db",
            str(service_db),
            "--period",
            "2025Q3",
            "--out",
            str(tmp_path / "r.html"),
            *extra,
        ]
    )
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("fitdata report: error:") and message in error
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_unknown_suffix_and_missing_folder_and_database(service_db, tmp_path, capsys):
    assert (
        main(
            [
                "report",
                "--db",
                str(service_db),
                "--period",
                "2025",
                "--out",
                str(tmp_path / "r.docx"),
            ]
        )
        == 2
    )
    assert "pass --format" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                "--db",
                str(service_db),
                "--period",
                "2025",
                "--out",
                str(tmp_path / "nowhere" / "r.pdf"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                "--db",
                str(tmp_path / "none.duckdb"),
                "--period",
                "2025",
                "--out",
                str(tmp_path / "r.pdf"),
            ]
        )
        == 2
    )
    assert "There is no database" in capsys.readouterr().err


def test_team_by_name_and_format_from_suffix(service_db, tmp_path, capsys):
    out = tmp_path / "alfa.xlsx"
    assert (
        main(
            [
                "report",
                "--db",
                str(service_db),
                "--period",
                "2025Q3",
                "--team",
                "Alfa",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "Wrote" in capsys.readouterr().out
    sheet = load_workbook(out).worksheets[2]  # the key figures
    assert "Team: Alfa" in sheet["A2"].value
    rows = {row[0]: row[1] for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert rows["% reliably improved or ended non-clinical"] == 50.0
    assert rows["Clients"] == 6


# -- the files, opened and read ------------------------------------------------------------


def test_html_is_self_contained_with_charts_and_notes(reports):
    text = reports["html"].read_text("utf-8")
    parsed = parse_html(reports["html"])
    assert parsed.svg_count >= 5  # five charts, inline
    assert "<script" not in text  # nothing to run ...
    assert not re.search(r"""(src|href)=["']https?:""", text)  # ... and nothing to fetch
    assert set(parsed.tables) == {
        "completeness_trend",
        "completeness_team",
        "headline",
        "trend",
        "teams",
        "couples_headline",  # issue 20: the couples section after the teams
        "couples_teams",
        "couples_trend",
        "follow_up_headline",  # issue 22: the discussed cases' section after the couples
        "follow_up_teams",
        "follow_up_trend",
    }
    assert "Par: ble begge partnerne bedre?" in text and "Anker" in text
    assert "Drøftede saker – hjalp det?" in text
    assert "Metode og kilder" in text and "Jacobson" in text and "Wilson" in text
    assert "leverandørens referansetall, ikke fagfellevurdert" in text


def test_pdf_text_has_the_reading_tables_and_sources(reports, view):
    text = pdf_text(reports["pdf"])
    flat = re.sub(r"\s+", " ", text)
    for sentence in reading_sentences(view.summary.reading, Translator("nb")):
        assert sentence in flat, sentence
    assert "Teamene side om side" in flat and "Becker" in flat
    assert "Drøftede saker – hjalp det?" in flat  # the discussed cases' section (issue 22)
    assert len(PdfReader(reports["pdf"]).pages[0].images) >= 1 or any(
        page.images for page in PdfReader(reports["pdf"]).pages
    )


def test_xlsx_has_one_sheet_per_table_and_notes(reports):
    book = load_workbook(reports["xlsx"])
    # six tables, three couple tables, the discussed cases (one sheet), the notes
    assert len(book.sheetnames) == 10
    assert book.sheetnames[-2].startswith("Drøftede saker")
    assert book.sheetnames[-1] == "Metode og kilder"
    notes = [row[0] for row in book.worksheets[-1].iter_rows(values_only=True) if row[0]]
    assert any("Wampold" in str(n) for n in notes)


# -- the dashboard and the report agree ----------------------------------------------------


def test_report_tables_equal_the_dashboard_tables(reports, view):
    tr = Translator("nb")
    expected = {t.name: t for t in display_tables(view.summary, tr)}
    parsed = parse_html(reports["html"]).tables
    book = load_workbook(reports["xlsx"])
    for index, (name, table) in enumerate(expected.items()):
        assert parsed[name][1:] == table_text(table, tr), name
        assert name in view.tables[name].value or table.title in view.tables[name].value
        page_rows = Tables()
        page_rows.feed(view.tables[name].value)
        assert page_rows.tables[name][1:] == table_text(table, tr), name
        sheet = book.worksheets[index]
        cells = list(sheet.iter_rows(min_row=4, values_only=True))
        assert len(cells) == len(table.rows)
        for written, shown in zip(cells, table.rows, strict=True):
            for a, b in zip(written, shown, strict=True):
                if isinstance(b, float) and math.isnan(b):
                    assert a == HIDDEN
                elif isinstance(b, float):
                    assert a == pytest.approx(b), (name, written, shown)
                else:
                    assert a == b or (a is None and b == "")


def test_dashboard_charts_plot_the_report_numbers(view):
    summary = view.summary
    target = chart_traces(view.figure, "team_target")[0]
    teams = summary.teams
    assert list(target.y) == list(teams["name"])
    for plotted, value in zip(target.x, teams["pct_target"], strict=True):
        if math.isnan(value):
            assert plotted is None
        else:
            assert plotted == pytest.approx(value, abs=0.006)
    completeness = chart_traces(view.figure, "completeness")[1]  # SRS
    for plotted, value in zip(
        completeness.y, summary.completeness_trend["pct_sessions_with_srs"], strict=True
    ):
        assert (plotted is None and math.isnan(value)) or plotted == pytest.approx(value, abs=0.06)


def test_same_numbers_from_a_fresh_computation(service_db, view):
    fresh = service_summary(reader_for(service_db), ServiceFilters(parse_period("2025Q3")))
    for name, table in fresh.tables().items():
        shown = view.summary.tables()[name]
        assert table.drop(columns="selected", errors="ignore").equals(
            shown.drop(columns="selected", errors="ignore")
        ), name


# -- suppression in every output -----------------------------------------------------------


def _no_small_counts(values: list) -> None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert not [v for v in numbers if 0 < v < 5 and float(v).is_integer()], numbers


def test_gamma_is_hidden_in_html(reports):
    for name, rows in parse_html(reports["html"]).tables.items():
        for row in rows:
            if row[0] == "Gamma":
                assert set(row[1:]) == {HIDDEN}, (name, row)


def test_gamma_is_hidden_in_xlsx_and_no_small_count_is_written(reports):
    book = load_workbook(reports["xlsx"])
    for sheet in book.worksheets[:-1]:
        header = [c.value for c in sheet[3]]
        for row in sheet.iter_rows(min_row=4, values_only=True):
            if row[0] == "Gamma":
                assert set(row[1:]) == {HIDDEN}, (sheet.title, row)
            for column, value in zip(header, row, strict=False):
                if column in ("Klienter",):
                    _no_small_counts([value])


def test_gamma_is_hidden_in_pdf_text(reports):
    lines = [line for line in pdf_text(reports["pdf"]).splitlines() if "Gamma" in line]
    assert lines  # Gamma is listed (by name) in the team tables
    for line in lines:
        rest = line.replace("Gamma", "")
        assert not re.search(r"\d", rest), line


def test_gamma_values_appear_nowhere(reports, view):
    # Gamma's ORS totals are 7.7 -> 13.7; their mean intake "7,7" must not be printed anywhere.
    html_text = reports["html"].read_text("utf-8")
    assert "7,7" not in pdf_text(reports["pdf"]) and ">7,7<" not in html_text
    values = [
        cell
        for sheet in load_workbook(reports["xlsx"]).worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
    ]
    assert 7.7 not in values and 13.7 not in values


def test_gamma_is_hidden_in_the_dashboard_figures_and_hover(view):
    tr = Translator("nb")
    for name in ("team_effect", "team_target"):
        trace = chart_traces(view.figure, name)[0]
        index = list(trace.y).index("Gamma")
        assert trace.x[index] is None
        assert trace.error_x.array[index] is None and trace.error_x.arrayminus[index] is None
        assert list(trace.customdata[index]) == [tr.text("service.ui.hover_hidden")] * 3
    assert {trace.meta for trace in view.figure.data} == set(CHARTS)
    for name in CHARTS:
        for trace in chart_traces(view.figure, name):
            for series in (trace.x, trace.y):
                if series is None:
                    continue
                assert 7.7 not in [v for v in series if isinstance(v, float)]


def test_a_database_without_ended_episodes_gives_a_report_and_a_clear_page(tiny_db, tmp_path):
    for fmt in ("html", "pdf", "xlsx"):
        out = tmp_path / f"empty.{fmt}"
        assert main(["report", "--db", str(tiny_db), "--period", "2025Q1", "--out", str(out)]) == 0
        assert out.stat().st_size > 1000
    rows = parse_html(tmp_path / "empty.html").tables["headline"]
    assert {row[1] for row in rows[1:]} == {HIDDEN}
    view = ServiceView(DashboardContext(tiny_db, "en"))
    assert "No episodes ended" in view.message.value
    assert view.figure.data == ()
