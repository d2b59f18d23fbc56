"""Reading CSV and Excel: delimiters, encodings, row numbers as the spreadsheet shows them."""

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitdata.ingest.columns import Mapping
from fitdata.ingest.problems import IngestError
from fitdata.ingest.read import clean_text, read_file
from fitdata.outputs.spreadsheets import neutralise

HEADER = ["team", "therapist", "client", "dato", "ORS"]
ROWS = [["Øst", "Kari", "K-1", "06.01.2025", "18,5"], ["Øst", "Kari", "K-1", "13.01.2025", "20"]]


def _csv(path: Path, delimiter: str, encoding: str, rows=ROWS) -> Path:
    lines = [delimiter.join(HEADER)]
    for row in rows:
        lines.append(delimiter.join(f'"{v}"' if delimiter in v else v for v in row))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_delimiters_and_encodings_are_recognised(tmp_path: Path, delimiter, encoding) -> None:
    raw = read_file(_csv(tmp_path / "f.csv", delimiter, encoding), Mapping())
    assert list(raw.frame.columns) == HEADER
    assert raw.frame["team"].tolist() == ["Øst", "Øst"]
    assert raw.frame["ORS"].tolist() == ["18,5", "20"]
    assert raw.rows.tolist() == [2, 3]


def test_blank_rows_are_skipped_but_keep_their_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "team;therapist;client;dato;ORS\nA;B;K;06.01.2025;1\n\n;;;;\nA;B;K;07.01.2025;2\n"
    )
    raw = read_file(path, Mapping())
    assert raw.rows.tolist() == [2, 5]
    assert raw.frame["ORS"].tolist() == ["1", "2"]


def test_rows_with_the_wrong_number_of_fields_are_reported_by_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "team;therapist;client;dato;ORS\nA;B;K;06.01.2025;1\nA;B;K\nA;B;K;08.01.2025;3\n"
    )
    raw = read_file(path, Mapping())
    assert raw.bad_rows == [(3, "has 3 fields where the header has 5")]
    assert raw.rows.tolist() == [2, 4]


def test_a_header_row_further_down(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("KOR-register 2025\nteam;therapist;client;dato;ORS\nA;B;K;06.01.2025;1\n")
    raw = read_file(path, Mapping(header_row=2))
    assert raw.rows.tolist() == [3]


def test_duplicate_headers_and_empty_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("team;team;client\nA;B;C\n")
    with pytest.raises(IngestError, match="'team' more than once"):
        read_file(path, Mapping())
    path.write_text("")
    with pytest.raises(IngestError, match="is empty"):
        read_file(path, Mapping())


def test_old_excel_files_are_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "f.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(IngestError, match="save it as .xlsx or CSV UTF-8"):
        read_file(path, Mapping())
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(IngestError, match="could not be opened as an Excel workbook"):
        read_file(path, Mapping())


def test_xlsx_cells_become_text_as_the_user_sees_them(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["Øst", "Kari", "K-1", dt.datetime(2025, 1, 6), 18.5])
    sheet.append([None, None, None, None, None])
    sheet.append(["Øst", "Kari", "K-1", dt.date(2025, 1, 13), 20])
    path = tmp_path / "f.xlsx"
    book.save(path)
    raw = read_file(path, Mapping())
    assert raw.frame["dato"].tolist() == ["2025-01-06", "2025-01-13"]
    assert raw.frame["ORS"].tolist() == ["18.5", "20"]
    assert raw.rows.tolist() == [2, 4]


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from(list("'=+-@\t\rab 1")), max_size=8))
def test_the_quote_export_puts_before_a_formula_comes_off_exactly(text: str) -> None:
    """Reading undoes fitdata export's spreadsheet rule for every text (then strips spaces)."""
    read = clean_text(pd.Series([neutralise(text)], dtype="category"))
    assert read.iloc[0] == text.strip()
