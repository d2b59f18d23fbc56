"""The report's layout helpers: formatting, the reading in both languages, the three renderers."""

from __future__ import annotations

import io
import math

import pytest

from fitdata.data.store import reader_for
from fitdata.features.service import (
    REFERENCE_BANDS,
    ReadingItem,
    ServiceFilters,
    band_for,
    parse_period,
    service_summary,
)
from fitdata.i18n import Translator
from fitdata.outputs.report import (
    HIDDEN,
    band_text,
    display_tables,
    format_cell,
    reading_sentences,
    render,
    table_text,
)
from tests.unit.test_service import build_service_db


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    db = build_service_db(tmp_path_factory.mktemp("report") / "service.duckdb")
    return service_summary(reader_for(db), ServiceFilters(parse_period("2025Q3")))


def test_cells_are_formatted_for_the_language_and_hidden_cells_show_the_mark():
    assert format_cell(83.3333, 1, Translator("en")) == "83.3"
    assert format_cell(83.3333, 1, Translator("nb")) == "83,3"
    assert format_cell(-0.5, 2, Translator("en")) == "\u22120.50"
    assert format_cell(math.nan, 1, Translator("en")) == HIDDEN
    assert format_cell(None, 0, Translator("nb")) == HIDDEN
    assert format_cell("Alfa", -1, Translator("en")) == "Alfa"


def test_every_band_names_its_source_in_both_languages():
    for band in REFERENCE_BANDS:
        for lang in ("en", "nb"):
            text = band_text(band, Translator(lang))
            assert "(" in text and len(text) > 15
    unplanned = band_for("pct_unplanned")
    assert band_text(unplanned, Translator("en")).startswith("12–15 (vendor benchmark")
    assert band_text(unplanned, Translator("nb")).startswith("12–15 (leverandørens")
    sessions = band_for("sessions_mean")
    assert band_text(sessions, Translator("nb")).startswith("5,8 (")


def test_reading_sentences_in_english_and_bokmal():
    item = ReadingItem(
        "service.reading.team_completeness_fell",
        {
            "measure": "SRS",
            "team": "Alfa",
            "before": 91.2,
            "now": 62.4,
            "quarter": "2025Q3",
            "previous": "2025Q2",
        },
        (),
    )
    assert reading_sentences([item], Translator("en")) == [
        "SRS completeness in Alfa fell from 91 % in 2025Q2 to 62 % in 2025Q3."
    ]
    assert reading_sentences([item], Translator("nb")) == [
        "SRS-kompletthet i Alfa falt fra 91 % i 2025Q2 til 62 % i 2025Q3."
    ]
    es = ReadingItem(
        "service.reading.effect_size_within",
        {"es": 0.914, "low": 0.87, "high": 0.96, "band_low": 0.8, "band_high": 1.0},
        (),
    )
    assert "0,91 (95 % intervall 0,87 til 0,96)" in reading_sentences([es], Translator("nb"))[0]


def test_display_tables_follow_the_page_order_and_hide_gamma(summary):
    tables = display_tables(summary, Translator("en"))
    assert [t.name for t in tables] == [
        "completeness_trend",
        "completeness_team",
        "headline",
        "trend",
        "teams",
    ]
    for table in tables:
        for row in table_text(table, Translator("en")):
            if row[0] == "Gamma":
                assert set(row[1:]) == {HIDDEN}, (table.name, row)


@pytest.mark.parametrize("fmt", ["html", "pdf", "xlsx"])
def test_every_format_renders(summary, fmt):
    content = render(summary, fmt, "nb")
    assert len(content) > 2000
    if fmt == "pdf":
        assert content.startswith(b"%PDF")
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
        assert "Tjenesterapport" in text and "Metode og kilder" in text
    elif fmt == "xlsx":
        assert content[:2] == b"PK"
    else:
        assert content.startswith(b"<!DOCTYPE html>")


def test_unknown_format_is_refused(summary):
    with pytest.raises(ValueError, match="html, pdf or xlsx"):
        render(summary, "docx", "en")  # type: ignore[arg-type]


def test_a_missing_figure_is_hidden_or_not_estimated_by_its_row_flags():
    """Issue 23: "·" meant both; now a hidden cell is HIDDEN and a shown row's gap NOT_ESTIMATED."""
    from fitdata.outputs.report import NOT_ESTIMATED
    from fitdata.outputs.report.layout import marked_row

    nan = math.nan
    sources = ["clients", "effect_size", "effect_size_ci_low", "team_effect", "pct_unplanned"]
    values = [12.0, nan, nan, nan, nan]
    assert marked_row(values, sources, suppressed=False) == [12.0, *[NOT_ESTIMATED] * 4]
    hidden = marked_row([nan] * 5, sources, suppressed=True)
    assert all(math.isnan(v) for v in hidden)
    change = marked_row(values, sources, suppressed=False, change_suppressed=True)
    assert change[0] == 12.0 and all(math.isnan(v) for v in change[1:4])
    assert change[4] == NOT_ESTIMATED  # not a statistic over client-episodes with change
    model = marked_row(values, sources, suppressed=False, model_suppressed=True)
    assert math.isnan(model[3]) and model[1] == NOT_ESTIMATED
    tr = Translator("nb")
    assert format_cell(NOT_ESTIMATED, 2, tr) != format_cell(nan, 2, tr) == HIDDEN


def test_display_tables_tell_hidden_from_not_estimated(summary):
    from fitdata.outputs.report import NOT_ESTIMATED, marks_note

    tr = Translator("nb")
    tables = {t.name: t for t in display_tables(summary, tr)}
    teams = {row[0]: row for row in table_text(tables["teams"], tr)}
    assert set(teams["Gamma"][1:]) == {HIDDEN}
    assert NOT_ESTIMATED in teams["Beta"] and HIDDEN not in teams["Beta"]
    headline = table_text(tables["headline"], tr)
    assert headline[0][2:4] == [NOT_ESTIMATED, NOT_ESTIMATED]  # clients: no interval
    note = marks_note(tables["teams"], tr)
    assert f"{HIDDEN} skjult" in note and f"{NOT_ESTIMATED} ikke beregnet" in note
    assert "hidden" in marks_note(tables["teams"], Translator("en"))
    only_shown = [t for t in tables.values() if not any(HIDDEN in r for r in table_text(t, tr))]
    assert all("skjult" not in marks_note(t, tr) for t in only_shown)


def test_reading_never_says_minus_zero():
    from fitdata.outputs.report.layout import _reading_value

    tr = Translator("nb")
    assert _reading_value("service.reading.team_below", "high", -0.04, tr) == "0,0"
    assert _reading_value("service.reading.team_below", "low", -2.46, tr) == "\u22122,5"
