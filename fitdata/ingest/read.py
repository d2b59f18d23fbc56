"""Reading CSV and Excel files into text columns, with the row numbers a person sees.

Every value is read as text, exactly as written, so that a problem can quote it. Row numbers
are the spreadsheet's: the header is row 1 (or ``header_row`` of a mapping), the first data row
is row 2. Blank rows hold nothing and are skipped (but keep their numbers).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from fitdata.ingest.columns import Mapping, ResolvedHeaders, resolve_headers
from fitdata.ingest.problems import IngestError

__all__ = ["RawFile", "SourceFile", "read_file", "to_long"]

#: Reports progress as a fraction 0..1 of the current file.
ProgressCallback = Callable[[float], None]

_BLOCK_SIZE = 4 << 20


@dataclass
class RawFile:
    """One file as text: ``frame`` has the file's headers; ``rows`` the spreadsheet rows."""

    path: Path
    frame: pd.DataFrame
    rows: np.ndarray
    bad_rows: list[tuple[int, str]]  # (row, what is wrong) for rows that could not be split


@dataclass
class SourceFile:
    """One file in the canonical long layout (still text), ready to validate.

    Attributes:
        path: The file.
        frame: Canonical columns as text, plus ``_row`` (spreadsheet row) and ``_slot``
            (session number of a wide register's column group; 0 in the long layout).
        headers: (canonical column, slot) -> the header in the file, for messages.
        rows_read: Non-blank data rows in the file.
        ignored: Headers that were not imported.
        bad_rows: Rows that could not be read at all (wrong number of fields).
    """

    path: Path
    frame: pd.DataFrame
    headers: dict[tuple[str, int], str]
    rows_read: int
    ignored: list[str]
    bad_rows: list[tuple[int, str]]


def _as_utf8(data: bytes, path: Path) -> bytes:
    """The bytes as UTF-8 without BOM, from UTF-8, UTF-16 with BOM, or Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            pass
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        data.decode("utf-8")  # only to check: the bytes are used as they are
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252").encode("utf-8")
    except UnicodeDecodeError as error:
        raise IngestError(
            f"{path}: the text encoding is neither UTF-8 nor Windows-1252 (byte "
            f"{data[error.start]:#04x} at position {error.start}). Save the file as "
            "CSV UTF-8 and try again."
        ) from None


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unique_headers(headers: list[str], path: Path) -> list[str]:
    for i, header in enumerate(headers):
        if header.strip() == "":
            headers[i] = f"(column {i + 1})"
    duplicated = sorted({h for h in headers if headers.count(h) > 1})
    if duplicated:
        raise IngestError(
            f"{path}: the header row has {', '.join(repr(h) for h in duplicated)} more than once; "
            "give every column its own name."
        )
    return headers


def _read_csv(path: Path, header_row: int, progress: ProgressCallback | None) -> RawFile:
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path} is empty.")
    data = _as_utf8(data, path).replace(b"\x00", b"")
    head = data[: 1 << 20].decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in head.split("\n")[:header_row]]
    if len(lines) < header_row:
        raise IngestError(f"{path} has fewer than {header_row} lines, so no header row.")
    delimiter = _sniff_delimiter(lines[header_row - 1])
    try:
        headers = next(csv.reader([lines[header_row - 1]], delimiter=delimiter))
    except (csv.Error, StopIteration):
        headers = []
    headers = _unique_headers([h.strip() for h in headers], path)
    if not headers:
        raise IngestError(f"{path}: row {header_row} should hold the column headers but is empty.")
    bad: list[tuple[int, str]] = []

    def invalid(row: pa_csv.InvalidRow) -> str:
        where = row.number if row.number is not None and row.number >= 0 else 0
        if row.text.strip():
            bad.append(
                (where, f"has {row.actual_columns} fields where the header has {len(headers)}")
            )
        else:
            bad.append((where, ""))  # a blank line: no data, not a problem
        return "skip"

    encoded = io.BytesIO(data)
    lines_in_file = max(data.count(b"\n"), 1)  # for progress (quoted newlines aside)
    rows_so_far = 0
    try:
        reader = pa_csv.open_csv(
            encoded,
            read_options=pa_csv.ReadOptions(
                column_names=headers,
                skip_rows=header_row,
                block_size=_BLOCK_SIZE,
                use_threads=False,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={h: pa.dictionary(pa.int32(), pa.string()) for h in headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = []
        for batch in reader:
            batches.append(batch)
            rows_so_far += batch.num_rows
            if progress is not None:
                progress(rows_so_far / lines_in_file)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowException) as error:
        raise IngestError(f"{path}: this is not a CSV file fitdata can read ({error}).") from None
    frame = table.to_pandas()
    skipped = np.array(sorted(row for row, _ in bad), dtype=np.int64)
    candidates = np.arange(header_row + 1, header_row + 1 + len(frame) + len(skipped))
    rows = np.setdiff1d(candidates, skipped, assume_unique=True)[: len(frame)]
    return RawFile(path, frame, rows.astype(np.int32), [b for b in bad if b[1]])


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(round(value, 6))
    return str(value)


def _read_xlsx(
    path: Path, sheet: str | int | None, header_row: int, progress: ProgressCallback | None
) -> RawFile:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:
        raise IngestError(
            f"{path} could not be opened as an Excel workbook (.xlsx): {error}. "
            "Save it from Excel as .xlsx or as CSV UTF-8."
        ) from None
    try:
        names = book.sheetnames
        if sheet is None:
            worksheet = book[names[0]]
        elif isinstance(sheet, int) and 1 <= sheet <= len(names):
            worksheet = book[names[sheet - 1]]
        elif str(sheet) in names:
            worksheet = book[str(sheet)]
        else:
            raise IngestError(
                f"{path} has no worksheet {sheet!r}; it has {', '.join(map(repr, names))}."
            )
        total = max(worksheet.max_row or 1, 1)
        cells: list[list[str]] = []
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells.append([_cell_text(v) for v in values])
            if progress is not None and number % 10_000 == 0:
                progress(number / total)
    finally:
        book.close()
    if len(cells) < header_row:
        raise IngestError(f"{path}: the worksheet has no header row (row {header_row}).")
    width = max((len(r) for r in cells), default=0)
    cells = [r + [""] * (width - len(r)) for r in cells]
    headers = cells[header_row - 1]
    while headers and headers[-1] == "" and all(r[len(headers) - 1] == "" for r in cells):
        headers = headers[:-1]
    headers = _unique_headers([h.strip() for h in headers], path)
    body = cells[header_row:]
    frame = pd.DataFrame({h: pd.Categorical([r[i] for r in body]) for i, h in enumerate(headers)})
    rows = np.arange(header_row + 1, header_row + 1 + len(body), dtype=np.int32)
    return RawFile(path, frame, rows, [])


def read_file(path: Path, mapping: Mapping, progress: ProgressCallback | None = None) -> RawFile:
    """Read ``path`` (CSV, TSV, TXT or XLSX) into text columns.

    Raises:
        IngestError: If the file cannot be read, with what to do about it.
    """
    if not path.exists():
        raise IngestError(f"There is no file {path}.")
    if path.is_dir():
        raise IngestError(f"{path} is a folder; give the data files inside it.")
    suffix = path.suffix.lower()
    if suffix in (".xls", ".ods", ".numbers"):
        raise IngestError(f"{path}: {suffix} files cannot be read; save it as .xlsx or CSV UTF-8.")
    if suffix in (".xlsx", ".xlsm"):
        raw = _read_xlsx(path, mapping.sheet, mapping.header_row, progress)
    else:
        raw = _read_csv(path, mapping.header_row, progress)
    # Blank rows hold nothing: drop them (their numbers stay unused).
    frame = raw.frame
    if len(frame.columns):
        blank = np.ones(len(frame), dtype=bool)
        for column in frame.columns:
            frame[column] = clean_text(frame[column])
            blank &= (frame[column] == "").to_numpy()
        if blank.any():
            raw.frame = frame.loc[~blank].reset_index(drop=True)
            raw.rows = raw.rows[~blank]
    return raw


def recode_categories(column: pd.Series, categories: pd.Index) -> pd.Series:
    """A categorical column with its categories replaced (equal new ones are merged)."""
    new_codes, uniques = pd.factorize(categories)
    codes = column.cat.codes.to_numpy()
    merged = np.append(new_codes, -1)[codes]  # code -1 (NA) takes the appended -1
    return pd.Series(pd.Categorical.from_codes(merged, uniques), index=column.index)


def clean_text(column: pd.Series) -> pd.Series:
    """The column as a categorical of stripped text (work is done once per distinct value)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    return recode_categories(column, column.cat.categories.astype("str").str.strip())


def _with_values(column: pd.Series, table: dict[str, str] | None) -> pd.Series:
    """The column with a mapping's value translations applied (case-insensitive)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = clean_text(column)
    if not table:
        return column
    categories = pd.Series(column.cat.categories.astype("str"))
    translated = categories.str.casefold().map(table)
    return recode_categories(column, pd.Index(translated.where(translated.notna(), categories)))


def to_long(raw: RawFile, mapping: Mapping) -> SourceFile:
    """Resolve headers and, for a wide register, unpivot to one row per session.

    Raises:
        IngestError: With every header problem of the file.
    """
    name = str(raw.path)
    resolved: ResolvedHeaders = resolve_headers(list(raw.frame.columns), mapping, name)
    if resolved.problems:
        raise IngestError("\n".join(resolved.problems))
    headers: dict[tuple[str, int], str] = {(c, 0): h for c, h in resolved.columns.items()}
    n = len(raw.frame)
    common = {
        c: _with_values(raw.frame[h], mapping.values.get(c)) for c, h in resolved.columns.items()
    }
    for column, value in mapping.defaults.items():
        if column not in common:
            common[column] = pd.Series(pd.Categorical([value] * n))
            headers[(column, 0)] = f"(default {column} from {Path(mapping.name).name})"
    if mapping.layout == "long":
        frame = pd.DataFrame(common)
        frame["_row"] = raw.rows
        frame["_slot"] = np.zeros(n, dtype=np.int16)
    else:
        parts = []
        for number in sorted(resolved.repeated):
            group = resolved.repeated[number]
            part = pd.DataFrame(
                {c: _with_values(raw.frame[h], mapping.values.get(c)) for c, h in group.items()}
            )
            filled = np.zeros(n, dtype=bool)
            for column in part.columns:
                filled |= (part[column] != "").to_numpy()
            keep = np.flatnonzero(filled)
            part = part.iloc[keep].reset_index(drop=True)
            for column, values in common.items():
                part[column] = values.iloc[keep].reset_index(drop=True)
            part["_row"] = raw.rows[keep]
            part["_slot"] = np.int16(number)
            parts.append(part)
            headers.update({(c, number): h for c, h in group.items()})
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        frame = frame.sort_values(["_row", "_slot"], kind="stable").reset_index(drop=True)
    return SourceFile(raw.path, frame, headers, n, resolved.ignored, raw.bad_rows)
