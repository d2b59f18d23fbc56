"""Reading CSV and Excel files into text columns, with the row numbers a person sees.

Every value is read as text, exactly as written, so that a problem can quote it (one
apostrophe that guards a formula, ``'=...`` as ``fitdata export`` writes it, is removed). Row
numbers are the spreadsheet's: the header is row 1 (or ``header_row`` of a mapping), the first
data row is row 2. Blank rows hold nothing and are skipped (but keep their numbers).

Files are read within the limits of :mod:`fitdata.ingest.limits`, checked while reading so
that a hostile file is refused before it costs much time or memory.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from fitdata.formula_guard import RESTORE_PATTERN
from fitdata.ingest import limits
from fitdata.ingest.columns import Mapping, ResolvedHeaders, resolve_headers
from fitdata.ingest.problems import IngestError
from fitdata.vocabulary import SCORE_COLUMNS

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
            (session number of a wide register's column group, partner number of a partners
            register; 0 in the long layout); a partners register also has ``_partner`` (the
            partner's label) and ``_no_session`` (a partner listed without scores).
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
    if len(headers) > limits.MAX_COLUMNS:
        raise IngestError(
            f"{path}: the header row has {len(headers):,} columns; fitdata reads at most "
            f"{limits.MAX_COLUMNS:,}. Delete the columns it does not need and import the file "
            "again."
        )
    for i, header in enumerate(headers):
        if header.strip() == "":
            headers[i] = f"(column {i + 1})"
    duplicated = sorted(h for h, n in Counter(headers).items() if n > 1)
    if duplicated:
        raise IngestError(
            f"{path}: the header row has {', '.join(repr(h) for h in duplicated)} more than once; "
            "give every column its own name."
        )
    return headers


def _too_long(path: Path, row: int, column: str, length: int) -> IngestError:
    return IngestError(
        f"{path}, row {row:,}, column {column!r}: the value is {length:,} characters long; "
        f"fitdata reads cells of up to {limits.MAX_CELL_CHARS:,} characters (Excel's own limit). "
        "Shorten it, or delete the column if it is not needed."
    )


class _EmptyRuns:
    """Runs of empty rows across the batches of a file; a run too long is refused."""

    def __init__(self) -> None:
        self.start = 0
        self.length = 0

    def too_long(self, empty: np.ndarray, offset: int) -> int | None:
        """Add the next rows (``offset``: the position of the first); a long run's start."""
        filled = np.flatnonzero(~empty)
        if len(filled) == 0:
            self.start = self.start if self.length else offset
            self.length += len(empty)
            return self.start if self.length >= limits.MAX_EMPTY_RUN else None
        if self.length + filled[0] >= limits.MAX_EMPTY_RUN:
            return self.start if self.length else offset
        gaps = np.flatnonzero(np.diff(filled) - 1 >= limits.MAX_EMPTY_RUN)
        if len(gaps):
            return offset + int(filled[gaps[0]]) + 1
        self.start, self.length = offset + int(filled[-1]) + 1, len(empty) - 1 - int(filled[-1])
        return self.start if self.length >= limits.MAX_EMPTY_RUN else None


def _empty_rows(batch: pa.RecordBatch) -> np.ndarray:
    """Rows of a batch of dictionary-encoded text columns whose every field is blank."""
    empty = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        blank = pc.equal(pc.utf8_trim_whitespace(column.dictionary), "")
        empty &= np.append(blank.to_numpy(zero_copy_only=False), False)[
            column.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        ]
    return empty


def _row_number(position: int, first: int, skipped: list[int]) -> int:
    """The spreadsheet row of data row ``position``, when the rows in ``skipped`` were not read."""
    row = first + position
    for number in sorted(skipped):
        if number <= row:
            row += 1
    return row


def _read_csv(path: Path, header_row: int, progress: ProgressCallback | None) -> RawFile:
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path} is empty.")
    data = _as_utf8(data, path).replace(b"\x00", b"")
    head = data[: 1 << 20].decode("utf-8", errors="replace")
    pieces = head.split("\n")
    if len(pieces) <= header_row and len(data) > 1 << 20:
        raise IngestError(
            f"{path}: row {header_row}, the header row, is longer than 1 MB; fitdata reads at "
            f"most {limits.MAX_COLUMNS:,} columns. Is this a CSV file of sessions?"
        )
    lines = [line.rstrip("\r") for line in pieces[:header_row]]
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
        runs = _EmptyRuns()
        for batch in reader:
            start = runs.too_long(_empty_rows(batch), rows_so_far)
            if start is not None:
                first = _row_number(start, header_row + 1, [row for row, _ in bad])
                raise limits.empty_run_error(path, first)
            batches.append(batch)
            rows_so_far += batch.num_rows
            if rows_so_far * len(headers) > limits.MAX_CELLS:
                raise limits.too_many_cells_error(path, rows_so_far, len(headers))
            if progress is not None:
                progress(rows_so_far / lines_in_file)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowException) as error:
        raise IngestError(f"{path}: this is not a CSV file fitdata can read ({error}).") from None
    frame = table.to_pandas()
    for header in headers:
        lengths = frame[header].cat.categories.str.len()
        if len(lengths) and lengths.max() > limits.MAX_CELL_CHARS:
            longest = int(np.argmax(lengths.to_numpy()))
            position = int(np.flatnonzero(frame[header].cat.codes.to_numpy() == longest)[0])
            row = _row_number(position, header_row + 1, [row for row, _ in bad])
            raise _too_long(path, row, header, int(lengths.max()))
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


class _Cells:
    """A worksheet's cells as one dictionary-encoded column each, filled row by row.

    Four bytes a cell and each distinct text once: memory follows what the sheet holds,
    whatever its declared size. Rows are checked as they come (columns, cells, empty rows,
    cell length) so that a hostile sheet is refused early.
    """

    def __init__(self, path: Path, header_row: int) -> None:
        self.path = path
        self.header_row = header_row
        self.codes: list[array] = []
        self.values: list[dict[str, int]] = []
        self.rows = 0
        self.empty_since = 0  # the first row of the current run of empty rows (0: none)

    def _names(self) -> list[str]:
        """The header row's texts so far (for messages)."""
        if self.rows < self.header_row:
            return []
        return [
            list(values)[codes[self.header_row - 1]]
            for codes, values in zip(self.codes, self.values, strict=True)
        ]

    def add(self, number: int, values: Sequence[object]) -> None:
        """Add row ``number`` (1-based), checking it against :mod:`fitdata.ingest.limits`."""
        if number > limits.MAX_XLSX_ROWS:
            raise IngestError(
                f"{self.path}: the worksheet has more than {limits.MAX_XLSX_ROWS:,} rows, "
                "more than Excel allows. Save it from Excel again, or as CSV UTF-8."
            )
        if len(values) > limits.MAX_COLUMNS:
            extra = values[limits.MAX_COLUMNS :]
            if extra.count(None) != len(extra):
                column = (
                    limits.MAX_COLUMNS + 1 + next(i for i, v in enumerate(extra) if v is not None)
                )
                raise IngestError(
                    f"{self.path}, row {number:,} has a value in column "
                    f"{limits.column_letters(column)} (column {column:,}); fitdata reads at "
                    f"most {limits.MAX_COLUMNS:,} columns. Delete the columns to the right of "
                    "the data and import the file again."
                )
            values = values[: limits.MAX_COLUMNS]
        texts = [_cell_text(v) for v in values]
        while texts and texts[-1] == "":
            texts.pop()
        self._count_empty(number, not any(t.strip() for t in texts))
        while len(self.codes) < len(texts):
            self.codes.append(array("i", bytes(4 * self.rows)))
            self.values.append({"": 0})
        if (number * len(self.codes)) > limits.MAX_CELLS:
            raise limits.too_many_cells_error(self.path, number, len(self.codes))
        for j, text in enumerate(texts):
            if len(text) > limits.MAX_CELL_CHARS:
                names = self._names()
                name = names[j] if j < len(names) and number > self.header_row else None
                raise _too_long(self.path, number, name or limits.column_letters(j + 1), len(text))
            lookup = self.values[j]
            code = lookup.get(text)
            if code is None:
                code = lookup[text] = len(lookup)
            self.codes[j].append(code)
        for j in range(len(texts), len(self.codes)):
            self.codes[j].append(0)
        self.rows += 1

    def _count_empty(self, number: int, empty: bool) -> None:
        if not empty:
            self.empty_since = 0
        elif not self.empty_since:
            self.empty_since = number
        elif number - self.empty_since + 1 >= limits.MAX_EMPTY_RUN:
            raise limits.empty_run_error(self.path, self.empty_since)

    def frame(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The data rows under their headers, and the rows' numbers."""
        header_row = self.header_row
        if self.rows < header_row:
            raise IngestError(f"{self.path}: the worksheet has no header row (row {header_row}).")
        headers = self._names()
        while headers and headers[-1] == "" and len(self.values[len(headers) - 1]) == 1:
            headers.pop()  # a column with nothing in it, not even a header
        headers = _unique_headers([h.strip() for h in headers], self.path)
        frame = pd.DataFrame(
            {
                header: pd.Categorical.from_codes(
                    np.frombuffer(self.codes[j], dtype=np.int32)[header_row:],
                    categories=pd.Index(list(self.values[j]), dtype=object),
                )
                for j, header in enumerate(headers)
            }
        )
        rows = np.arange(header_row + 1, self.rows + 1, dtype=np.int32)
        return frame, rows


def _read_xlsx(
    path: Path, sheet: str | int | None, header_row: int, progress: ProgressCallback | None
) -> RawFile:
    import xml.etree.ElementTree as ElementTree
    import zipfile

    import openpyxl

    limits.check_workbook(path)
    unreadable = (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError,
                  ElementTree.ParseError)  # fmt: skip
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except unreadable as error:
        raise IngestError(
            f"{path} could not be opened as an Excel workbook (.xlsx): {error}. "
            "Save it from Excel as .xlsx or as CSV UTF-8."
        ) from None
    cells = _Cells(path, header_row)
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
        # Rows as long as the cells they hold, not padded to the declared width (a value in
        # column XFD would make every row 16,384 cells long).
        worksheet.reset_dimensions()
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells.add(number, values)
            if progress is not None and number % 10_000 == 0:
                progress(number / total)
    except unreadable as error:
        raise IngestError(
            f"{path}: the worksheet could not be read ({error}). Save it from Excel as .xlsx "
            "or as CSV UTF-8."
        ) from None
    finally:
        book.close()
    frame, rows = cells.frame()
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
    limits.check_file_size(path)
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
    """The column as a categorical of stripped text (work is done once per distinct value).

    One quote before ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after any more
    quotes) is removed: ``fitdata export`` and spreadsheet programs put it there so that a value
    is shown as text, never run as a formula.
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    text = column.cat.categories.astype("str")  # unstripped: the quote's tab or CR stays
    restored = text.str.replace(RESTORE_PATTERN, "", regex=True).str.strip()
    return recode_categories(column, restored)


def _with_values(column: pd.Series, table: dict[str, str] | None) -> pd.Series:
    """The column with a mapping's value translations applied (case-insensitive)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = clean_text(column)
    if not table:
        return column
    categories = pd.Series(column.cat.categories.astype("str"))
    translated = categories.str.casefold().map(table)
    return recode_categories(column, pd.Index(translated.where(translated.notna(), categories)))


def _partner_rows(
    raw: RawFile,
    mapping: Mapping,
    resolved: ResolvedHeaders,
    common: dict[str, pd.Series],
    headers: dict[tuple[str, int], str],
) -> pd.DataFrame:
    """A partners register as one row per partner and session (partners in mapping order).

    A partner whose columns are all empty on a row is not there. One whose columns hold a
    client code but no score is a participant without a session on that row (``_no_session``:
    a partner listed before their first forms); ``_partner`` holds the partner's label.
    """
    n = len(raw.frame)
    parts = []
    for number, label in enumerate(mapping.partners, start=1):
        group = resolved.repeated.get(number, {})
        part = pd.DataFrame(
            {c: _with_values(raw.frame[h], mapping.values.get(c)) for c, h in group.items()},
            index=pd.RangeIndex(n),
        )
        filled = np.zeros(n, dtype=bool)
        scored = np.zeros(n, dtype=bool)
        for column in part.columns:
            given = (part[column] != "").to_numpy(dtype=bool)
            filled |= given
            if column in SCORE_COLUMNS:
                scored |= given
        keep = np.flatnonzero(filled)
        part = part.iloc[keep].reset_index(drop=True)
        for column, values in common.items():
            if column not in part.columns:
                part[column] = values.iloc[keep].reset_index(drop=True)
        part["_row"] = raw.rows[keep]
        part["_slot"] = np.int16(number)
        part["_partner"] = label
        part["_no_session"] = ~scored[keep]
        parts.append(part)
        headers.update({(c, number): h for c, h in group.items()})
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["_row", "_slot"], kind="stable").reset_index(drop=True)


def to_long(raw: RawFile, mapping: Mapping) -> SourceFile:
    """Resolve headers and unpivot a wide or partners register to one row per session.

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
    elif mapping.layout == "partners":
        frame = _partner_rows(raw, mapping, resolved, common, headers)
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
