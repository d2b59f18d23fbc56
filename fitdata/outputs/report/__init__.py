"""The leaders' report: the service summary as a self-contained HTML, PDF or XLSX file.

Every number comes from :func:`fitdata.features.service.service_summary`, the function the
service dashboard uses too, so the report and the page agree by construction. The tables are
already suppressed there; this package only lays them out, one module per concern:

* :mod:`.layout` — the tables as shown (:func:`display_tables`: translated headers, the
  columns a reader needs, numbers rounded for display — the dashboard shows the same frames),
  the reading, the selection and the method notes;
* :mod:`.charts` — the charts, drawn with matplotlib (no browser needed);
* :mod:`.html_file` — one HTML file, styles inline, charts as ``<svg>``;
* :mod:`.pdf_file` — reportlab with the DejaVu Sans font that ships with matplotlib (æ, ø, å
  and the minus sign on any machine);
* :mod:`.xlsx_file` — openpyxl, one sheet per table and a notes sheet, text never a formula
  (:mod:`fitdata.outputs.spreadsheets`).

A hidden cell (fewer than ``min_cell_size`` clients, or no data) is written as
:data:`HIDDEN` everywhere, never as a number; a shown figure without a value of its own (no
interval for it, or not estimable) as :data:`NOT_ESTIMATED`, a different mark, and
:func:`marks_note` says under each table what the marks it uses mean. This module holds the
entry points.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.features.service import (
    ServiceFilters,
    ServiceSummary,
    SummaryCache,
    band_for,
    service_summary,
)
from fitdata.features.service.couples import CoupleSummary, couple_summary
from fitdata.features.service.follow_up import FollowUpSummary, follow_up_summary
from fitdata.outputs.private_file import write_keeping_mode
from fitdata.outputs.report.charts import COLOURS, OUTCOME_COLUMNS, chart_data
from fitdata.outputs.report.couples import (
    couple_explanation,
    couple_notes,
    couple_sentences,
    couple_tables,
)
from fitdata.outputs.report.follow_up import add_follow_up
from fitdata.outputs.report.html_file import couples_html, render_html, table_html
from fitdata.outputs.report.layout import (
    HIDDEN,
    NOT_ESTIMATED,
    ReportTable,
    band_text,
    display_tables,
    filter_text,
    format_cell,
    marks_note,
    method_notes,
    reading_sentences,
    table_text,
)
from fitdata.outputs.report.pdf_file import render_pdf
from fitdata.outputs.report.xlsx_file import render_xlsx

__all__ = [
    "COLOURS",
    "FORMATS",
    "HIDDEN",
    "MEDIA_TYPES",
    "NOT_ESTIMATED",
    "OUTCOME_COLUMNS",
    "ReportFormat",
    "ReportTable",
    "band_for",
    "band_text",
    "chart_data",
    "couple_explanation",
    "couple_notes",
    "couple_sentences",
    "couple_tables",
    "couples_html",
    "data_uri",
    "display_tables",
    "filter_text",
    "format_cell",
    "marks_note",
    "method_notes",
    "reading_sentences",
    "render",
    "render_html",
    "render_pdf",
    "render_xlsx",
    "table_html",
    "table_text",
    "write_report",
]

ReportFormat = Literal["html", "pdf", "xlsx"]
FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "xlsx")
MEDIA_TYPES = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(
    summary: ServiceSummary,
    fmt: ReportFormat,
    lang: str = "en",
    couples: CoupleSummary | None = None,
    follow_up: FollowUpSummary | None = None,
) -> bytes:
    """The report in one format, as bytes.

    With the couples section when ``couples`` is given, and the discussed cases' section
    ("did it help?") when ``follow_up`` is given, in every format.
    """
    if fmt == "html":
        content = render_html(summary, lang, couples).encode("utf-8")
    elif fmt == "pdf":
        return render_pdf(summary, lang, couples, follow_up)
    elif fmt == "xlsx":
        content = render_xlsx(summary, lang, couples)
    else:
        raise ValueError(f"unknown report format {fmt!r}; choose html, pdf or xlsx")
    return add_follow_up(content, fmt, follow_up, lang)


def data_uri(content: bytes, fmt: ReportFormat) -> str:
    """A ``data:`` URI for a download link (the dashboard's download button)."""
    return f"data:{MEDIA_TYPES[fmt]};base64,{base64.b64encode(content).decode('ascii')}"


def write_report(
    reader: Reader,
    filters: ServiceFilters,
    fmt: ReportFormat,
    out: str | Path,
    *,
    lang: str = "en",
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> ServiceSummary:
    """Compute the summary and write the report to ``out`` (whole; a replaced file keeps its mode).

    The report holds the couples section (:func:`fitdata.features.service.couples.couple_summary`
    of the same selection) after the teams, and then the discussed cases' section
    (:func:`fitdata.features.service.follow_up.follow_up_summary`, judged as of today).

    Returns:
        The summary the report was written from.
    """
    summary = service_summary(reader, filters, config=config, cache=cache)
    couples = couple_summary(reader, filters, config=config, cache=cache)
    follow_up = follow_up_summary(reader, filters, config=config, cache_=cache)
    content = render(summary, fmt, lang, couples, follow_up)
    write_keeping_mode(Path(out), content)
    return summary
