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
        assert _run("import", "--db", db, base)[0] == 0
    before = _digest(db)
    code, err = _run("import", "--db", db, *options, source)
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
