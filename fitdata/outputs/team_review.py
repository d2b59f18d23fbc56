"""The team review's downloads: the case table as CSV or as an Excel workbook.

The case table a supervisor filtered on the page (``fitdata.ui.team_review`` builds it, in the
page's language) goes to a spreadsheet for the meeting. Client codes, therapist names and any
other text pass through :mod:`fitdata.outputs.spreadsheets` first, so a value that starts like
a formula is shown as text and never runs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from fitdata.outputs.spreadsheets import inert_worksheet, neutralise_frame

__all__ = ["export_csv", "export_excel"]


def export_csv(table: pd.DataFrame, *, lang: str = "en") -> bytes:
    """The table as CSV bytes for a spreadsheet in the page's language.

    English uses a comma between fields and a decimal point; bokmål uses a semicolon and a
    decimal comma (what Norwegian Excel expects). UTF-8 with a byte-order mark, so Excel shows
    æ, ø and å correctly. Text that could run as a formula gets a leading quote.
    """
    table = neutralise_frame(table)
    buffer = io.StringIO()
    if lang == "nb":
        table.to_csv(buffer, index=False, sep=";", decimal=",", lineterminator="\r\n")
    else:
        table.to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8-sig")


def export_excel(
    table: pd.DataFrame,
    *,
    sheet: str = "Caseload",
    notes: Sequence[tuple[str, str]] = (),
    notes_sheet: str = "Rules",
) -> bytes:
    """The table as an Excel workbook (openpyxl), with an optional sheet of notes.

    Args:
        table: What to write; numbers stay numbers, dates stay dates, text is never a formula.
        sheet: Name of the table's sheet.
        notes: (label, text) pairs for the second sheet, e.g. the flag rules.
        notes_sheet: Name of the notes sheet.
    """
    table = neutralise_frame(table)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_excel(writer, sheet_name=sheet[:31], index=False)
        worksheet = writer.sheets[sheet[:31]]
        worksheet.freeze_panes = "A2"
        for index, column in enumerate(table.columns, start=1):
            width = max([len(str(column)), *(len(str(v)) for v in table[column].head(200))])
            worksheet.column_dimensions[worksheet.cell(1, index).column_letter].width = min(
                60, width + 2
            )
        inert_worksheet(worksheet)
        if notes:
            frame = neutralise_frame(pd.DataFrame(list(notes), columns=["", ""]))
            frame.to_excel(writer, sheet_name=notes_sheet[:31], index=False, header=False)
            rules = writer.sheets[notes_sheet[:31]]
            rules.column_dimensions["A"].width = 30
            rules.column_dimensions["B"].width = 100
            inert_worksheet(rules)
    return buffer.getvalue()
