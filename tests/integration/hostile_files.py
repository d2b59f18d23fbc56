"""Hostile import files made in the test, small on disk: workbooks built from raw XML parts.

An ``.xlsx`` file is a zip of XML parts. Writing the parts by hand (instead of with openpyxl)
lets a test make what Excel never would but an attacker or a broken tool can: a cell in the
last column (XFD) of a 50,000-row sheet, or a part that inflates a thousandfold (a zip bomb:
deflate of repeated bytes, the same compressed block written over and over).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

HEADER = ["team", "behandler", "klient", "aldersgruppe", "dato", "ORS", "SRS"]
ROW = ["Ungdomsteamet", "B1", "K-1", "ungdom", "06.01.2025", "18", "36"]

_XML = '<?xml version="1.0" encoding="UTF-8"?>'
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _override(part: str, kind: str) -> str:
    return f'<Override PartName="{part}" ContentType="{_SPREADSHEET}.{kind}+xml"/>'


def _relationships(*targets: tuple[str, str]) -> str:
    links = "".join(
        f'<Relationship Id="rId{i}" Type="{_OFFICE}/{kind}" Target="{target}"/>'
        for i, (kind, target) in enumerate(targets, start=1)
    )
    return f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">{links}</Relationships>'


_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + _override("/xl/workbook.xml", "sheet.main")
    + _override("/xl/worksheets/sheet1.xml", "worksheet")
    + _override("/xl/sharedStrings.xml", "sharedStrings")
    + "</Types>"
)
_RELS = _relationships(("officeDocument", "xl/workbook.xml"))
_WORKBOOK = (
    f'{_XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{_OFFICE}"><sheets><sheet name="Ark1" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
_WORKBOOK_RELS = _relationships(
    ("worksheet", "worksheets/sheet1.xml"), ("sharedStrings", "sharedStrings.xml")
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:G2"/><sheetData>'
)  # Excel writes the sheet's size first; the size given here need not be true
_SHEET_TAIL = "</sheetData></worksheet>"
_EMPTY_STRINGS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" '
    'uniqueCount="0"></sst>'
)


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def sheet_row(number: int | None, values: list[str]) -> str:
    """One ``<row>`` of inline strings from column A; without a number when ``number`` is None.

    Rows and cells may leave out their reference (``r``): they then follow the one before, so
    one unnumbered row can be repeated any number of times.
    """
    cells = "".join(
        ("<c" if number is None else f'<c r="{_column_letters(i + 1)}{number}"')
        + f' t="inlineStr"><is><t>{escape(v)}</t></is></c>'
        for i, v in enumerate(values)
    )
    return ("<row>" if number is None else f'<row r="{number}">') + cells + "</row>"


class _Member:
    """A zip member given as raw deflate data (so a bomb need not be compressed in the test)."""

    def __init__(self, name: str, deflated: bytes, crc: int, size: int) -> None:
        self.name, self.deflated, self.crc, self.size = name.encode(), deflated, crc, size

    @classmethod
    def of(cls, name: str, text: str) -> _Member:
        data = text.encode("utf-8")
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = packer.compress(data) + packer.flush()
        return cls(name, deflated, zlib.crc32(data), len(data))

    @classmethod
    def repeated(cls, name: str, head: bytes, unit: bytes, times: int, tail: bytes) -> _Member:
        """``head + unit * times + tail``, deflated without ever holding it uncompressed."""
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        first = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
        block = packer.compress(unit) + packer.flush(zlib.Z_FULL_FLUSH)  # no back-references
        last = packer.compress(tail) + packer.flush()
        crc = zlib.crc32(head)
        for _ in range(times):
            crc = zlib.crc32(unit, crc)
        crc = zlib.crc32(tail, crc)
        size = len(head) + len(unit) * times + len(tail)
        return cls(name, first + block * times + last, crc, size)


def _write_zip(path: Path, members: list[_Member]) -> Path:
    """A zip file (deflate, no zip64: every size below 4 GiB), written field by field."""
    local, central = bytearray(), bytearray()
    for member in members:
        offset = len(local)
        fields = (20, 0, 8, 0, 0x21, member.crc, len(member.deflated), member.size)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, len(member.name), 0)
        local += member.name + member.deflated
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, len(member.name), 0, 0, 0, 0, 0, offset
        )
        central += member.name
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0
    )
    path.write_bytes(bytes(local + central + end))
    return path


def _workbook(path: Path, sheet: _Member, strings: _Member | None = None) -> Path:
    return _write_zip(
        path,
        [
            _Member.of("[Content_Types].xml", _CONTENT_TYPES),
            _Member.of("_rels/.rels", _RELS),
            _Member.of("xl/workbook.xml", _WORKBOOK),
            _Member.of("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            sheet,
            strings or _Member.of("xl/sharedStrings.xml", _EMPTY_STRINGS),
        ],
    )


def workbook(path: Path, rows: list[list[str]]) -> Path:
    """An ordinary small workbook: ``rows`` from A1 (the first is the header)."""
    body = "".join(sheet_row(n, r) for n, r in enumerate(rows, start=1))
    return _workbook(path, _Member.of("xl/worksheets/sheet1.xml", _SHEET_HEAD + body + _SHEET_TAIL))


def last_column_workbook(path: Path, rows: int = 20_000) -> Path:
    """A header row with one more cell at XFD1 (column 16,384), and ``rows`` data rows.

    About 30 KB on disk. Padding every row to the widest one is 16,384 x ``rows`` cells.
    """
    head = (_SHEET_HEAD + sheet_row(1, HEADER)[:-6]).encode() + (
        b'<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    unit = sheet_row(None, ROW).encode() * 1000
    return _workbook(
        path,
        _Member.repeated(
            "xl/worksheets/sheet1.xml", head, unit, rows // 1000, _SHEET_TAIL.encode()
        ),
    )


def shared_string_bomb(path: Path, megabytes: int = 1536) -> Path:
    """One shared string of ``megabytes`` MB (a ~1.5 MB file that inflates a thousandfold)."""
    unit = b"A" * (1 << 20)
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        b'uniqueCount="1"><si><t>'
    )
    strings = _Member.repeated("xl/sharedStrings.xml", head, unit, megabytes, b"</t></si></sst>")
    body = sheet_row(1, HEADER) + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    sheet = _Member.of("xl/worksheets/sheet1.xml", _SHEET_HEAD + body + _SHEET_TAIL)
    return _workbook(path, sheet, strings)


def sheet_bomb(path: Path, rows: int = 5_000_000) -> Path:
    """A sheet whose XML inflates to about 1.5 GB of identical rows (a ~2 MB file)."""
    head = (_SHEET_HEAD + sheet_row(1, HEADER)).encode()
    unit = sheet_row(None, ROW).encode() * 10_000
    return _workbook(
        path,
        _Member.repeated(
            "xl/worksheets/sheet1.xml", head, unit, rows // 10_000, _SHEET_TAIL.encode()
        ),
    )


def empty_rows_workbook(path: Path, rows: int = 5_000_000) -> Path:
    """A header, ``rows`` empty rows (``<row/>``) and one session after them (a 60 KB file)."""
    head = (_SHEET_HEAD + sheet_row(1, HEADER)).encode()
    tail = (sheet_row(rows + 2, ROW) + _SHEET_TAIL).encode()
    return _workbook(
        path,
        _Member.repeated(
            "xl/worksheets/sheet1.xml", head, b"<row/>" * 10_000, rows // 10_000, tail
        ),
    )


def sparse_workbook(path: Path, gap: int = 20_000) -> Path:
    """A header in row 1 and a session in row ``gap + 2``: nothing in between, not even rows."""
    body = sheet_row(1, HEADER) + sheet_row(gap + 2, ROW)
    return _workbook(path, _Member.of("xl/worksheets/sheet1.xml", _SHEET_HEAD + body + _SHEET_TAIL))


def csv_with_blank_lines(path: Path, blank: int = 20_000_000) -> Path:
    """A header, one session, ``blank`` empty lines and one more session (about 20 MB)."""
    header = ";".join(HEADER).encode()
    row = ";".join(ROW).encode()
    later = ";".join([*ROW[:4], "13.01.2025", *ROW[5:]]).encode()
    path.write_bytes(header + b"\n" + row + b"\n" + b"\n" * blank + later + b"\n")
    return path


def csv_with_many_columns(path: Path, columns: int = 60_000) -> Path:
    """The canonical header followed by ``columns`` more, each named like a typo of a known one."""
    extra = [f"klient{n}" for n in range(columns)]
    header = ";".join(HEADER + extra)
    row = ";".join(ROW + [""] * columns)
    path.write_text(header + "\n" + row + "\n", encoding="utf-8")
    return path


COUPLE_HEADER = ["team", "behandler", "forløp", "klient", "rolle", "aldersgruppe",
                 "behandlingsform", "dato", "ORS"]  # fmt: skip


def crowded_couples_csv(path: Path, couples: int = 40_000) -> Path:
    """``couples`` couple episodes that break every rule of a couple at once (about 6 MB).

    Each has three clients on one date: two named index, a third one too many for a couple,
    and the session split between two therapists. Every row has problems, so the importer
    checks and describes hundreds of thousands of them: they must be found with grouped
    frames, not a loop per episode, and listed without running out of memory.
    """
    lines = [";".join(COUPLE_HEADER)]
    for number in range(couples):
        episode = f"P-{number}"
        day = f"{1 + number % 28:02d}.0{1 + number % 9}.2025"
        for letter, role, therapist in (("A", "indeks", "B1"), ("B", "indeks", "B2"),
                                        ("C", "", "B1")):  # fmt: skip
            lines.append(
                f"Familievernet;{therapist};{episode};K-{number}{letter};{role};voksen;par;{day};20"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
