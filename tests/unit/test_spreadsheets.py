"""The one rule for spreadsheet cells (OWASP CSV injection), and the team review's downloads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import duckdb
import openpyxl
import pandas as pd
import pytest

from fitdata.formula_guard import RESTORE_PATTERN, neutralise, restore
from fitdata.outputs import team_review as cl
from fitdata.outputs.spreadsheets import neutralise_frame, neutralise_sql
from tests.integration.test_spreadsheet_injection import DANGEROUS, assert_workbook_is_inert


def hostile_caseload() -> pd.DataFrame:
    """A team review table with a dangerous client code, therapist and text, and numbers."""
    n = len(DANGEROUS)
    return pd.DataFrame(
        {
            "Klient": [f"{value[:1]}K{i}" for i, value in enumerate(DANGEROUS)],
            "Terapeut": list(DANGEROUS),
            "Endring": [-3.5, 7.4, -0.0, 2.0, math.nan, -12.0][:n],
            "Som tekst": ["-3.5", "+7", "12", "-", "=", "@"][:n],
            "Startet": [dt.date(2025, 1, 6)] * n,
        }
    )


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_team_reviews_csv_quotes_every_dangerous_text(lang) -> None:
    data = cl.export_csv(hostile_caseload(), lang=lang).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data), delimiter=";" if lang == "nb" else ","))
    header, body = rows[0], rows[1:]
    column = {name: [row[header.index(name)] for row in body] for name in header}
    assert column["Terapeut"] == [f"'{value}" for value in DANGEROUS]
    assert column["Klient"] == [f"'{value[:1]}K{i}" for i, value in enumerate(DANGEROUS)]
    assert column["Som tekst"] == ["'-3.5", "'+7", "12", "'-", "'=", "'@"]
    decimal = "," if lang == "nb" else "."
    assert column["Endring"][0] == f"-3{decimal}5"  # a negative number stays a number


def test_the_team_reviews_workbook_writes_dangerous_text_as_text() -> None:
    data = cl.export_excel(hostile_caseload(), sheet="Saker", notes=[(DANGEROUS[0], DANGEROUS[1])])
    assert_workbook_is_inert(data, {*DANGEROUS, "-3.5", "+7", "-", "=", "@"})
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Saker"]
    changes = [sheet.cell(row, 3).value for row in range(2, 2 + len(DANGEROUS))]
    assert changes[0] == -3.5 and changes[-1] == -12.0  # numbers stay numbers
    assert sheet.cell(2, 3).data_type == "n"


#: Texts around every edge of the rule: each start, quotes before it, look-alikes, empty.
EDGE_TEXTS = (
    *DANGEROUS,
    "'=x",
    "''+1",
    "'",
    "''",
    "'a",
    "a=1",
    " =1",
    "\n=1",
    "",
    "−5",  # a minus sign, not a hyphen-minus: no spreadsheet reads it as a formula
    "Team Nord",
    "æøå",
)


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_neutralise_quotes_exactly_the_texts_that_could_run_and_restore_undoes_it(text) -> None:
    safe = neutralise(text)
    could_run = text.lstrip("'")[:1] in ("=", "+", "-", "@", "\t", "\r")
    assert safe == ("'" + text if could_run else text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore(safe) == text
    assert restore(text) == text or could_run  # only a quoted form loses its quote


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_the_importers_pattern_is_restore_over_a_column(text) -> None:
    column = pd.Series([neutralise(text), text, "'" + text])
    by_pattern = column.str.replace(RESTORE_PATTERN, "", regex=True).tolist()
    assert by_pattern == [restore(v) for v in column]


def test_numbers_dates_and_missing_values_are_left_as_they_are() -> None:
    for value in (-3.5, -12, 0, 7.4, math.nan, None, dt.date(2025, 1, 6), True):
        assert neutralise(value) is value


def test_a_frame_is_neutralised_in_text_columns_and_headers_only() -> None:
    frame = pd.DataFrame(
        {
            "=navn": pd.Series(["=1", None, "ok"], dtype="string"),
            "gruppe": pd.Categorical(["-a", "b", "-a"]),
            "tall": [-1.5, 2.0, math.nan],
        }
    )
    out = neutralise_frame(frame)
    assert list(out.columns) == ["'=navn", "gruppe", "tall"]
    assert out["'=navn"].tolist()[0] == "'=1" and pd.isna(out["'=navn"].iloc[1])
    assert out["gruppe"].tolist() == ["'-a", "b", "'-a"]
    assert out["tall"].dtype == "float64" and out["tall"].iloc[0] == -1.5
    assert frame["=navn"].iloc[0] == "=1"  # the caller's frame is not changed


def test_the_sql_rule_is_the_python_rule() -> None:
    texts = [*EDGE_TEXTS, None]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(texts)))
    query = f"SELECT {neutralise_sql('v')} FROM t ORDER BY i"
    got = [v for (v,) in connection.execute(query).fetchall()]
    assert got == [None if t is None else neutralise(t) for t in texts]
