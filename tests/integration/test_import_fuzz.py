"""Malformed files thrown at `fitdata import`: a clear error or a clean import, never a
traceback, and never partial data (the database is byte-identical after a refused import)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitdata.cli import main
from fitdata.data.store import check_database
from tests.integration.import_workers import HEADER, weekly_rows, write_csv

BASE_ROWS = weekly_rows("K-1", 3) + weekly_rows("K-2", 2, age="voksen", first_ors=25.0)

awkward_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "-",
            "NA",
            "nan",
            "inf",
            "1e5",
            "-1",
            "10,55",
            "40,1",
            "4O",
            "31.02.2025",
            "2025-13-01",
            "06.01.25",
            "01019012345",
            "13097248022",
            "Kari Nordmann",
            '"',
            '""',
            ";",
            "\t",
            ",",
            "\n",
            "\r\n",
            "ø",
            "\x00",
            "=SUM(A1)",
            "99999999999999999999",
        ]
    ),
)


@st.composite
def malformed_files(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str, str]:
    header = list(HEADER)
    rows = [list(r) for r in BASE_ROWS]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["cell", "cell", "cell", "header", "width", "duplicate"]))
        if kind == "cell" and rows:
            row = draw(st.integers(0, len(rows) - 1))
            column = draw(st.integers(0, len(rows[row]) - 1))
            rows[row][column] = draw(awkward_text)
        elif kind == "header":
            header[draw(st.integers(0, len(header) - 1))] = draw(awkward_text)
        elif kind == "width" and rows:
            row = draw(st.integers(0, len(rows) - 1))
            if draw(st.booleans()):
                rows[row].append(draw(awkward_text))
            elif len(rows[row]) > 1:
                rows[row].pop()
        elif kind == "duplicate" and rows:
            rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
    delimiter = draw(st.sampled_from([";", ",", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    return header, rows, delimiter, encoding


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _run(*args: str | Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def _check(folder: Path, source: Path, existing: bool, options: list[str]) -> None:
    db = folder / "kor.duckdb"
    if existing:
        base = write_csv(folder / "base.csv", weekly_rows("K-0", 2))
        assert _run("import", "--db", db, "--service", "Tjenesten", base)[0] == 0
    before = _digest(db)
    code, err = _run("import", "--db", db, "--service", "Tjenesten", *options, source)
    assert "Traceback" not in err
    assert code in (0, 2), err
    if code == 2:
        assert "fitdata import: error: " in err
        assert _digest(db) == before, "a refused import changed the database"
    elif db.exists():
        assert check_database(db).ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    malformed_files(),
    st.booleans(),
    st.sampled_from([[], ["--skip-invalid"], ["--dry-run"], ["--pseudonymise"]]),
)
def test_malformed_csv_files_never_end_in_a_traceback_or_partial_data(
    case: tuple[list[str], list[list[str]], str, str], existing: bool, options: list[str]
) -> None:
    header, rows, delimiter, encoding = case
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "data.csv"
        lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
        source.write_bytes("\n".join(lines).encode(encoding, errors="replace"))
        options = (
            [*options, "--key-file", str(folder / "key")]
            if options == ["--pseudonymise"]
            else options
        )
        _check(folder, source, existing, options)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from([".csv", ".xlsx", ".txt"]))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / f"data{suffix}"
        source.write_bytes(data)
        _check(folder, source, existing=True, options=[])


# Couple and family files (issue 20): the long layout with roles and forms, and the partners
# register of fitdata/mappings/couple_register_wide.yml, with cells replaced by awkward text
# or by words of the other columns (roles, forms, formats, another partner's code).
COUPLE_HEADER = ["team", "behandler", "forløp", "klient", "rolle", "vurderer", "aldersgruppe",
                 "behandlingsform", "dato", "ORS", "SRS", "ORS skjema", "SRS skjema"]  # fmt: skip
COUPLE_ROWS = [
    ["T", "B", "E-1", "K-A1", "", "", "voksen", "par", "06.01.2025", "15", "34", "", ""],
    ["T", "B", "E-1", "K-B2", "partner", "", "voksen", "par", "06.01.2025", "19", "36", "", ""],
    ["T", "B", "E-1", "K-A1", "", "", "voksen", "par", "13.01.2025", "18", "35", "ORS", "SRS"],
    ["T", "B", "E-2", "K-C3", "indeks", "", "barn", "familie", "07.01.2025", "20", "30", "",
     ""],
    ["T", "B", "E-2", "K-C3", "mor", "", "barn", "familie", "07.01.2025", "14", "", "CORS",
     ""],
    ["T", "B", "E-2", "K-E5", "familiemedlem", "", "voksen", "familie", "", "", "", "", ""],
]  # fmt: skip
REGISTER_HEADER = ["Team", "Behandler", "Forløp", "Dato", "Klient A", "Alder A", "ORS A",
                   "SRS A", "Klient B", "Alder B", "ORS B", "SRS B", "Avslutning"]  # fmt: skip
REGISTER_ROWS = [
    ["T", "B", "P-1", "06.01.2025", "K-PA1", "voksen", "14", "33", "K-PB1", "voksen", "19", "35",
     ""],
    ["T", "B", "P-1", "13.01.2025", "K-PA1", "voksen", "17", "36", "K-PB1", "voksen", "", "",
     "avsluttet etter avtale"],
    ["T", "C", "P-2", "07.01.2025", "K-PA2", "voksen", "10", "30", "K-PB2", "voksen", "", "",
     ""],
]  # fmt: skip
couple_words = st.sampled_from(
    ["index", "indeks", "partner", "mor", "lærer", "familiemedlem", "medlem", "collateral",
     "kusine", "CORS", "csrs", "GSRS", "ORS-X", "par", "individuell", "gruppe", "familie",
     "barn", "ungdom", "K-A1", "K-B2", "K-PA1", "K-PB1", "E-1", "E-2", "P-1", ""]
)  # fmt: skip


@st.composite
def malformed_couple_files(draw: st.DrawFn) -> tuple[list[str], list[list[str]], bool]:
    partners = draw(st.booleans())
    header = list(REGISTER_HEADER if partners else COUPLE_HEADER)
    rows = [list(r) for r in (REGISTER_ROWS if partners else COUPLE_ROWS)]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["word", "word", "text", "duplicate", "drop"]))
        if kind in ("word", "text") and rows:
            row = draw(st.integers(0, len(rows) - 1))
            column = draw(st.integers(0, len(header) - 1))
            rows[row][column] = draw(couple_words if kind == "word" else awkward_text)
        elif kind == "duplicate" and rows:
            rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
        elif kind == "drop" and rows:
            rows.pop(draw(st.integers(0, len(rows) - 1)))
    return header, rows, partners


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    malformed_couple_files(),
    st.booleans(),
    st.sampled_from([[], ["--skip-invalid"], ["--dry-run"]]),
)
def test_malformed_couple_files_never_end_in_a_traceback_or_partial_data(
    case: tuple[list[str], list[list[str]], bool], existing: bool, options: list[str]
) -> None:
    header, rows, partners = case
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "par.csv"
        lines = [";".join(header)] + [";".join(r) for r in rows]
        source.write_bytes("\n".join(lines).encode("utf-8", errors="replace"))
        mapping = ["--mapping", "couple_register_wide"] if partners else []
        _check(folder, source, existing, [*options, *mapping])
