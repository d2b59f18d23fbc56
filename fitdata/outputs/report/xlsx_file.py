"""The report as a workbook: one sheet per table (title, selection, headers, rows), then notes.

Numbers are written as numbers (rounded as displayed; counts as integers) so a leader can
calculate with them, a hidden cell as :data:`~fitdata.outputs.report.layout.HIDDEN`, never
a number, and a figure without a value of its own as ``NOT_ESTIMATED``; the second line of a
sheet says what the marks it uses mean (after the selection: its rows are the table's, to the
last). Every row goes through :func:`fitdata.outputs.spreadsheets.append_row`: text that
starts like a formula (a team called ``=HYPERLINK(...)``) is written as quoted text, never as
a formula.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

from fitdata.features.service import ServiceSummary
from fitdata.features.service.couples import CoupleSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.couples import (
    couple_explanation,
    couple_notes,
    couple_sentences,
    couple_tables,
)
from fitdata.outputs.report.layout import (
    HIDDEN,
    ReportTable,
    display_tables,
    filter_text,
    marks_note,
    method_notes,
    reading_sentences,
    row_decimals,
)
from fitdata.outputs.spreadsheets import append_row

__all__ = ["render_xlsx"]


def _sheet_title(text: str, used: set[str]) -> str:
    """A unique sheet title of at most 31 characters without the ones Excel forbids."""
    title = "".join(ch for ch in text if ch not in "[]:*?/\\")[:31] or "Sheet"
    base, number = title, 2
    while title in used:
        suffix = f" {number}"
        title = base[: 31 - len(suffix)] + suffix
        number += 1
    used.add(title)
    return title


def _cells(table: ReportTable, index: int) -> list[Any]:
    """Row ``index`` as cell values: text, :data:`HIDDEN`, or a number (counts as integers)."""
    values: list[Any] = []
    for value, places in zip(table.rows[index], row_decimals(table, index), strict=True):
        if isinstance(value, str):
            values.append(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            values.append(HIDDEN)
        else:
            values.append(int(value) if places == 0 else value)
    return values


def render_xlsx(
    summary: ServiceSummary, lang: str = "en", couples: CoupleSummary | None = None
) -> bytes:
    """The report as a workbook: one sheet per table, then a notes sheet.

    Args:
        summary: The service's numbers.
        lang: ``en`` or ``nb``.
        couples: The couple figures of the same selection (one sheet per couple table after
            the teams, and their reading and notes on the notes sheet), or None.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    tr = Translator(lang)
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    selection = filter_text(summary, tr)
    tables = display_tables(summary, tr)
    if couples is not None:
        tables += couple_tables(couples, tr)
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(table.title, used))
        append_row(sheet, [table.title])
        sheet["A1"].font = Font(bold=True)
        note = marks_note(table, tr)
        append_row(sheet, [f"{selection}. {note}" if note else selection])
        append_row(sheet, table.headers)
        for cell in sheet[3]:
            cell.font = Font(bold=True)
        for index in range(len(table.rows)):
            append_row(sheet, _cells(table, index))
        sheet.column_dimensions["A"].width = 32
    notes = workbook.create_sheet(_sheet_title(tr.text("service.section.notes"), used))
    lines = [
        tr.text("service.report.title"),
        selection,
        tr.text("service.report.generated", date=tr.date(dt.date.today())),
        None,
        tr.text("service.section.reading"),
        *reading_sentences(summary.reading, tr),
        None,
    ]
    if couples is not None:
        lines += [
            tr.text("service.couples.heading"),
            *couple_explanation(couples, tr),
            *couple_sentences(couples, tr),
            None,
        ]
    lines += [
        tr.text("service.section.notes"),
        *method_notes(summary, tr),
        *(couple_notes(couples, tr) if couples is not None else []),
    ]
    for line in lines:
        append_row(notes, [] if line is None else [line])
    notes.column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
