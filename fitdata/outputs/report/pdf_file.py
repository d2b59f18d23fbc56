"""The report as a PDF: reportlab, charts as PNG from matplotlib, text in DejaVu Sans.

DejaVu Sans ships with matplotlib, so æ, ø, å and the minus sign print on any machine without
downloading a font; no browser is needed either. Text goes into reportlab's paragraphs
escaped, so a team name is never markup.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from pathlib import Path
from typing import Any

from fitdata.features.service import ServiceSummary
from fitdata.features.service.couples import CoupleSummary
from fitdata.features.service.follow_up import FollowUpSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.charts import CHARTS_AFTER, figures, png
from fitdata.outputs.report.couples import (
    couple_explanation,
    couple_notes,
    couple_sentences,
    couple_tables,
)
from fitdata.outputs.report.follow_up import follow_up_notes, follow_up_tables
from fitdata.outputs.report.layout import (
    ReportTable,
    display_tables,
    filter_text,
    marks_note,
    method_notes,
    reading_sentences,
    selected_rows,
    table_text,
)

__all__ = ["grid_layout", "render_pdf"]

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


#: The spaces of a header that do not break: around a per cent sign ("95 % KI", "% improved").
_NO_BREAK = re.compile(r"(?<=\d) (?=%)|(?<=%) ")

#: Cell padding of a grid (reportlab's default, left plus right), in points.
_PADDING = 12.0


def _column_widths(
    rows: list[list[str]], font: str, size: float
) -> tuple[list[float], list[float]]:
    """Each column's narrowest width (its longest word) and natural width (its longest line)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    narrow = [0.0] * len(rows[0])
    natural = [0.0] * len(rows[0])
    for row in rows:
        for index, text in enumerate(row):
            words = text.split(" ")  # a no-break space (U+00A0) joins, as in the grid
            narrow[index] = max(narrow[index], *(stringWidth(w, font, size) for w in words))
            natural[index] = max(natural[index], stringWidth(text, font, size))
    return [w + _PADDING for w in narrow], [w + _PADDING for w in natural]


def grid_layout(rows: list[list[str]], width: float, font: str) -> tuple[float, list[float]]:
    """A font size and column widths that break no word inside and fit ``width``.

    Every column is at least as wide as its longest word (a header wraps at spaces only, never
    inside "improved"); the room left is shared in proportion to how much each column would
    need to hold its longest line. When even the words do not fit, the font gets smaller
    (down to 5 points) before anything is broken.

    Returns:
        The font size and the width of each column, in points.
    """
    size = 6.5
    while True:
        narrow, natural = _column_widths(rows, font, size)
        if sum(narrow) <= width or size <= 5.0:
            break
        size -= 0.25
    if sum(natural) <= width:
        return size, natural
    spare = width - sum(narrow)
    wanted = [b - a for a, b in zip(narrow, natural, strict=True)]
    total = sum(wanted) or 1.0
    return size, [a + max(spare, 0.0) * w / total for a, w in zip(narrow, wanted, strict=True)]


def _grid(
    table: ReportTable, selected: list[bool], styles: Any, tr: Translator, width: float
) -> Any:
    """One table as a reportlab grid, the selected team's rows shaded; no word broken inside."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.platypus import Paragraph, Table, TableStyle

    # "95 % KI" keeps its number, sign and word together; lines break at the other spaces
    headers = [_NO_BREAK.sub("\u00a0", h) for h in table.headers]
    text = [headers, *table_text(table, tr)]
    size, widths = grid_layout(text, width, f"{_FONT}-Bold")
    cell = styles["cell"].clone("grid_cell", fontSize=size, leading=size + 1.5, splitLongWords=0)
    number = cell.clone("grid_number", alignment=TA_RIGHT)
    head = cell.clone("grid_head", fontName=f"{_FONT}-Bold")

    def style_of(column: int) -> Any:
        return cell if column == 0 or table.decimals[column] < 0 else number

    cells = [
        [Paragraph(html.escape(h), head) for h in text[0]],
        *[[Paragraph(html.escape(c), style_of(i)) for i, c in enumerate(row)] for row in text[1:]],
    ]
    grid = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
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
    summary: ServiceSummary,
    lang: str = "en",
    couples: CoupleSummary | None = None,
    follow_up: FollowUpSummary | None = None,
) -> bytes:
    """The report as a PDF (reportlab; charts as PNG drawn by matplotlib).

    Args:
        summary: The service's numbers.
        lang: ``en`` or ``nb``.
        couples: The couple figures of the same selection (a section after the teams), or None.
        follow_up: The discussed cases' figures (a section after the couples), or None.
    """
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
    )

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

    def table_block(table: ReportTable, selected: list[bool]) -> list[Any]:
        """The grid and, under it, what its marks mean."""
        block = [_grid(table, selected, styles, tr, width)]
        note = marks_note(table, tr)
        if note:
            block.append(para(note, styles["small"]))
        return [*block, Spacer(1, 0.3 * cm)]

    for table in display_tables(summary, tr):
        heading: list[Any] = [para(table.title, styles["Heading2"])]
        shown = CHARTS_AFTER.get(table.name, [])
        if shown:
            # one chart 14 cm wide; two side by side across the landscape page, each with its
            # caption above it, and the section's heading on the same page (KeepTogether)
            draw_width = min(width, 14 * cm) if len(shown) == 1 else width / len(shown) - 0.3 * cm
            cells = []
            for index in shown:
                title, figure = charts[index]
                w, h = figure.get_size_inches()
                image = Image(io.BytesIO(png(figure)), width=draw_width, height=draw_width * h / w)
                cells.append([para(title, styles["small"]), image])
            row = Table(
                [cells],
                colWidths=[width / len(shown)] * len(shown),
                hAlign="LEFT",
                style=[
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ],
            )
            story.append(KeepTogether([*heading, row]))
            heading = []
        # a heading is never left alone at the foot of a page: room for it and a few rows
        story.extend([CondPageBreak(3 * cm), *heading] if heading else [])
        story.extend(table_block(table, selected_rows(summary, table.name)))
    if couples is not None:
        story.append(CondPageBreak(4 * cm))
        story.append(para(tr.text("service.couples.heading"), styles["Heading2"]))
        story.extend(para(f"• {s}", styles["small"]) for s in couple_explanation(couples, tr))
        story.extend(para(f"• {s}") for s in couple_sentences(couples, tr))
        for table in couple_tables(couples, tr):
            story.append(CondPageBreak(3 * cm))
            story.append(para(table.title, styles["Heading3"]))
            selected = (
                [bool(v) for v in couples.teams["selected"]]
                if table.name == "couples_teams"
                else []
            )
            story.extend(table_block(table, selected))
    if follow_up is not None:
        story.append(CondPageBreak(4 * cm))
        story.append(para(tr.text("follow_up.heading"), styles["Heading2"]))
        for table in follow_up_tables(follow_up, tr):
            story.append(CondPageBreak(3 * cm))
            story.append(para(table.title, styles["Heading3"]))
            story.extend(table_block(table, []))
    story.append(CondPageBreak(3 * cm))
    story.append(para(tr.text("service.section.notes"), styles["Heading2"]))
    story.extend(para(note, styles["small"]) for note in method_notes(summary, tr))
    if couples is not None:
        story.extend(para(note, styles["small"]) for note in couple_notes(couples, tr))
    if follow_up is not None:
        story.extend(para(note, styles["small"]) for note in follow_up_notes(follow_up, tr))
    document.build(story)
    return buffer.getvalue()
