"""How large a file the importer reads, and the checks that refuse a hostile one early.

A 12 KB workbook can ask for billions of cells (one value in the last column, XFD, padded onto
every row), a 1.5 MB one can inflate to gigabytes (a zip bomb), and a few megabytes of blank
lines cost gigabytes of memory. These limits refuse such files within seconds and before
memory runs out, with what was too large and what to do. They sit far above any real export
of sessions (docs/import.md, "Limits", gives the same numbers to users).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from fitdata.ingest.problems import IngestError

__all__ = [
    "MAX_CELLS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_EMPTY_RUN",
    "MAX_FILE_BYTES",
    "MAX_XLSX_BYTES",
    "MAX_XLSX_PARTS",
    "MAX_SHARED_STRINGS",
    "MAX_XLSX_RATIO",
    "MAX_XLSX_ROWS",
    "MAX_XLSX_UNCOMPRESSED",
    "check_file_size",
    "check_workbook",
    "column_letters",
    "empty_run_error",
    "too_many_cells_error",
]

#: Any file: the 10-million-session CSV of the benchmarks is 2 GB.
MAX_FILE_BYTES = 4 << 30
#: An .xlsx file as stored (compressed): Excel's largest sheet of sessions is about 100 MB.
MAX_XLSX_BYTES = 512 << 20
#: All parts of a workbook together, uncompressed (what openpyxl parses): a full Excel sheet
#: of a million sessions is about 500 MB.
MAX_XLSX_UNCOMPRESSED = 1 << 30
#: A part larger than :data:`RATIO_FROM_BYTES` may inflate at most this many times (sheets
#: of real data inflate 5-20 times; a zip bomb 1,000). Smaller parts cost seconds at most,
#: and the checks while reading refuse what is wrong with them more precisely.
MAX_XLSX_RATIO = 200
RATIO_FROM_BYTES = 8 << 20
#: Parts (files) in a workbook: Excel writes a dozen or two.
MAX_XLSX_PARTS = 10_000
#: Columns of a file: a wide paper register with 100 sessions of three columns is 300 or so.
MAX_COLUMNS = 2_000
#: Rows times columns of a file: the export of 10 million sessions has 290 million cells.
MAX_CELLS = 500_000_000
#: Rows of a worksheet: Excel's own limit.
MAX_XLSX_ROWS = 1_048_576
#: Uncompressed size of a workbook's shared strings (read into memory whole by openpyxl).
MAX_SHARED_STRINGS = 256 << 20
#: Characters in one cell: Excel's own limit.
MAX_CELL_CHARS = 32_767
#: Empty rows one after another: more is a broken export or a hostile file, not a register.
MAX_EMPTY_RUN = 10_000

_END_OF_DIRECTORY = b"PK\x05\x06"


def _megabytes(size: int) -> str:
    return f"{size:,} bytes" if size < 1 << 20 else f"{size / (1 << 20):,.1f} MB"


def column_letters(number: int) -> str:
    """A spreadsheet column's letters: 1 is A, 16,384 is XFD."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def check_file_size(path: Path) -> None:
    """Refuse a file larger than :data:`MAX_FILE_BYTES` before any of it is read.

    Raises:
        IngestError: Naming the file, its size and the limit.
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise IngestError(
            f"{path} is {_megabytes(size)}; fitdata reads files up to {_megabytes(MAX_FILE_BYTES)}."
            " Split it into smaller files (one per year, say) and import them together."
        )


def _declared_parts(path: Path) -> int | None:
    """The number of parts the zip's end record declares (None when it cannot be found)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - (1 << 16) - 22))
        tail = handle.read()
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) < at + 22:
        return None
    return int(struct.unpack("<H", tail[at + 10 : at + 12])[0])


def check_workbook(path: Path) -> None:
    """Refuse an .xlsx that is too large or inflates like a zip bomb, before openpyxl opens it.

    Only the zip's directory is read. The uncompressed sizes it declares are what Python's
    zipfile will ever hand out (it stops there and fails the checksum), so they bound what
    parsing the workbook can cost.

    Raises:
        IngestError: Naming the file, the part, what is too large and what to do.
    """
    advice = (
        " This is not an ordinary workbook of sessions: open it in Excel and save it again "
        "(or save the sheet as CSV UTF-8) and import that."
    )
    size = path.stat().st_size
    if size > MAX_XLSX_BYTES:
        raise IngestError(
            f"{path} is {_megabytes(size)}; fitdata reads .xlsx files up to "
            f"{_megabytes(MAX_XLSX_BYTES)}. Save the sheet as CSV UTF-8 (read up to "
            f"{_megabytes(MAX_FILE_BYTES)}), or split it into several files."
        )
    declared = _declared_parts(path)
    if declared is not None and declared >= min(MAX_XLSX_PARTS, 0xFFFF):
        raise IngestError(
            f"{path} holds {declared:,} parts or more; a workbook has a few dozen, and fitdata "
            f"opens workbooks of up to {MAX_XLSX_PARTS:,}.{advice}"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            _check_parts(path, archive, advice)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        raise IngestError(
            f"{path} could not be opened as an Excel workbook (.xlsx): {error}. "
            "Save it from Excel as .xlsx or as CSV UTF-8."
        ) from None


def _check_parts(path: Path, archive: zipfile.ZipFile, advice: str) -> None:
    parts = archive.infolist()
    if len(parts) > MAX_XLSX_PARTS:
        raise IngestError(
            f"{path} holds {len(parts):,} parts; a workbook has a few dozen, and fitdata opens "
            f"workbooks of up to {MAX_XLSX_PARTS:,}.{advice}"
        )
    total = 0
    for part in parts:
        total += part.file_size
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > RATIO_FROM_BYTES and ratio > MAX_XLSX_RATIO:
            raise IngestError(
                f"{path}: its part {part.filename} would inflate from "
                f"{_megabytes(part.compress_size)} to {_megabytes(part.file_size)} uncompressed "
                f"({ratio:,.0f} times); fitdata opens parts that inflate at most "
                f"{MAX_XLSX_RATIO} times (a zip bomb inflates 1,000 times).{advice}"
            )
        if part.filename.endswith("sharedStrings.xml") and part.file_size > MAX_SHARED_STRINGS:
            raise IngestError(
                f"{path}: its part {part.filename} (the workbook's text) is "
                f"{_megabytes(part.file_size)} uncompressed; fitdata reads up to "
                f"{_megabytes(MAX_SHARED_STRINGS)} of it. Save the sheet as CSV UTF-8 and import "
                "that."
            )
        if total > MAX_XLSX_UNCOMPRESSED:
            raise IngestError(
                f"{path}: its part {part.filename} brings the workbook to more than "
                f"{_megabytes(MAX_XLSX_UNCOMPRESSED)} uncompressed, the most fitdata opens. "
                "Save the sheet as CSV UTF-8 and import that, or split it into several files."
            )


def too_many_cells_error(path: Path, row: int, width: int) -> IngestError:
    """The error for a file that reaches :data:`MAX_CELLS` at ``row`` with ``width`` columns."""
    return IngestError(
        f"{path}: by row {row:,} the file has {row * width:,} cells ({width:,} columns), more "
        f"than the {MAX_CELLS:,} fitdata reads. Delete columns to the right of the data, or "
        "split the file into several and import them together."
    )


def empty_run_error(path: Path, first_row: int) -> IngestError:
    """The error for :data:`MAX_EMPTY_RUN` empty rows one after another from ``first_row``."""
    last = first_row + MAX_EMPTY_RUN - 1
    return IngestError(
        f"{path}: rows {first_row:,} to {last:,} are empty ({MAX_EMPTY_RUN:,} in a row, the most "
        "fitdata reads). Delete the empty rows (in Excel: select them, right-click, Delete) "
        "and import the file again."
    )
