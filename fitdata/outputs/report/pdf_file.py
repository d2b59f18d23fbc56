"""The report as a PDF: reportlab, charts as PNG from matplotlib, text in DejaVu Sans.

DejaVu Sans ships with matplotlib, so æ, ø, å and the minus sign print on any machine without
downloading a font; no browser is needed either. Text goes into reportlab's paragraphs
escaped, so a team name is never markup.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from pathlib import Path
from typing import Any

from fitdata.features.service import ServiceSummary
from fitdata.features.service.couples import CoupleSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.charts import CHARTS_AFTER, figures, png
from fitdata.outputs.report.couples import (
    couple_explanation,
    couple_notes,
    couple_sentences,
    couple_tables,
)
from fitdata.outputs.report.layout import (
    ReportTable,
    display_tables,
    filter_text,
    method_notes,
    reading_sentences,
    selected_rows,
    table_text,
)

__all__ = ["render_pdf"]

_FONT = "DejaVuSans"


def _register_font() -> str:
    from matplotlib import get_data_path
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        fonts = Path(get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(_FONT, str(fonts / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(f"{_FONT}-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    return _FONT


def _styles() -> Any:
    """Reportlab's sample styles in DejaVu Sans, with ``small`` and ``cell`` added."""
    from reportlab.lib.styles import getSampleStyleSheet

    font = _register_font()
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    for name in ("Title", "Heading1", "Heading2", "Heading3"):
        styles[name].fontName = f"{font}-Bold"
    styles.add(styles["BodyText"].clone("small", fontSize=7.5, leading=9.5))
    styles.add(styles["BodyText"].clone("cell", fontSize=6.5, leading=8))
    return styles


def _grid(table: ReportTable, selected: list[bool], styles: Any, tr: Translator) -> Any:
    """One table as a reportlab grid, the selected team's rows shaded."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    cells = [
        [Paragraph(html.escape(h), styles["cell"]) for h in table.headers],
        *[
            [Paragraph(html.escape(c), styles["cell"]) for c in row]
            for row in table_text(table, tr)
        ],
    ]
    grid = Table(cells, repeatRows=1, hAlign="LEFT")
    style = [
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for index, chosen in enumerate(selected, start=1):
        if chosen:
            style.append(("BACKGROUND", (0, index), (-1, index), colors.Color(1, 0.95, 0.8)))
    grid.setStyle(TableStyle(style))
    return grid


def render_pdf(
    summary: ServiceSummary, lang: str = "en", couples: CoupleSummary | None = None
) -> bytes:
    """The report as a PDF (reportlab; charts as PNG drawn by matplotlib).

    Args:
        summary: The service's numbers.
        lang: ``en`` or ``nb``.
        couples: The couple figures of the same selection (a section after the teams), or None.
    """
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer

    tr = Translator(lang)
    styles = _styles()

    def para(text: str, style: Any = None) -> Paragraph:
        return Paragraph(html.escape(text), style or styles["BodyText"])

    buffer = io.BytesIO()
    page = landscape(A4)
    document = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=tr.text("service.report.title"),
        author="fitdata",
    )
    width = page[0] - 3 * cm
    story: list[Any] = [
        para(tr.text("service.report.title"), styles["Title"]),
        para(filter_text(summary, tr), styles["small"]),
        para(tr.text("service.report.generated", date=tr.date(dt.date.today())), styles["small"]),
        para(tr.text("service.section.reading"), styles["Heading2"]),
        *(para(f"• {s}") for s in reading_sentences(summary.reading, tr)),
    ]
    charts = dict(enumerate(figures(summary, tr)))
    for table in display_tables(summary, tr):
        story.append(para(table.title, styles["Heading2"]))
        for index in CHARTS_AFTER.get(table.name, []):
            title, figure = charts[index]
            w, h = figure.get_size_inches()
            draw_width = min(width, 16 * cm)
            story.append(para(title, styles["small"]))
            image = io.BytesIO(png(figure))
            story.append(Image(image, width=draw_width, height=draw_width * h / w))
        story.append(_grid(table, selected_rows(summary, table.name), styles, tr))
        story.append(Spacer(1, 0.3 * cm))
    if couples is not None:
        story.append(para(tr.text("service.couples.heading"), styles["Heading2"]))
        story.extend(para(f"• {s}", styles["small"]) for s in couple_explanation(couples, tr))
        story.extend(para(f"• {s}") for s in couple_sentences(couples, tr))
        for table in couple_tables(couples, tr):
            story.append(para(table.title, styles["Heading3"]))
            selected = (
                [bool(v) for v in couples.teams["selected"]]
                if table.name == "couples_teams"
                else []
            )
            story.append(_grid(table, selected, styles, tr))
            story.append(Spacer(1, 0.3 * cm))
    story.append(para(tr.text("service.section.notes"), styles["Heading2"]))
    story.extend(para(note, styles["small"]) for note in method_notes(summary, tr))
    if couples is not None:
        story.extend(para(note, styles["small"]) for note in couple_notes(couples, tr))
    document.build(story)
    return buffer.getvalue()
