"""Files made to exhaust the machine are refused within seconds, in bounded memory.

Each hostile file is generated here, small on disk, and `fitdata import` runs on it in its own
process under an address-space limit (``prlimit --as``) and a time limit: it must end with a
message that names the file, the limit and what to do, a non-zero exit code, no traceback, and
no database. One ordinary workbook under the same limits imports, so the limits are not what
refuses the others.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fitdata.ingest.columns import Mapping
from fitdata.ingest.problems import IngestError
from fitdata.ingest.read import read_file
from tests.integration import hostile_files as hostile

ROOT = Path(__file__).resolve().parents[2]
#: Address space for the import process: Python, pandas and pyarrow take about 0.9 GB of it.
ADDRESS_SPACE = 1_500_000_000
#: A hostile file must be refused within this many seconds (on a busy 2-core machine).
SECONDS = 20

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")


def _import(path: Path, db: Path) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["prlimit", f"--as={ADDRESS_SPACE}", sys.executable, "-m", "fitdata.cli", "import",
             "--db", str(db), "--service", "Tjenesten", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            timeout=SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"`fitdata import {path.name}` was still running after {SECONDS} s")
    return result, time.monotonic() - started


HOSTILE: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    # name: (maker, file name, what the message must say)
    "a cell in the last column": (
        hostile.last_column_workbook, "xfd.xlsx", r"column XFD .*at most 2,000 columns",
    ),
    "a shared string that inflates 1000-fold": (
        hostile.shared_string_bomb, "bomb.xlsx", r"xl/sharedStrings.xml .*uncompressed",
    ),
    "a sheet that inflates to 1.5 GB": (
        hostile.sheet_bomb, "rows.xlsx", r"xl/worksheets/sheet1.xml .*uncompressed",
    ),
    "5 million empty rows in a workbook": (  # so repetitive that it is a bomb
        hostile.empty_rows_workbook, "empty.xlsx", r"sheet1.xml .*uncompressed \(\d+ times\)",
    ),
    "20 million blank lines in a CSV file": (
        hostile.csv_with_blank_lines, "blank.csv", r"rows 3 to 10,002 .*empty",
    ),
    "60,000 columns": (
        hostile.csv_with_many_columns, "wide.csv", r"60,007 columns.*at most 2,000",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_are_refused_quickly_with_what_to_do(tmp_path: Path, case: str) -> None:
    make, name, expected = HOSTILE[case]
    path = make(tmp_path / name)
    assert path.stat().st_size < 25_000_000, "the test file itself must stay small"
    db = tmp_path / "kor.duckdb"
    result, seconds = _import(path, db)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    message = result.stderr
    assert message.startswith("fitdata import: error: "), message[-2000:]
    assert str(path) in message
    assert re.search(expected, message), message
    assert seconds < SECONDS
    assert not db.exists(), "a refused file must not create the database"


def test_an_ordinary_workbook_imports_under_the_same_limits(tmp_path: Path) -> None:
    path = hostile.workbook(tmp_path / "ok.xlsx", [hostile.HEADER, hostile.ROW])
    result, _ = _import(path, tmp_path / "kor.duckdb")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 imported" in result.stdout


def test_a_cell_longer_than_excel_allows_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    long = "x" * 40_000
    path.write_text(
        ";".join(hostile.HEADER) + "\n" + ";".join(hostile.ROW) + "\n"
        + ";".join([*hostile.ROW[:2], long, *hostile.ROW[3:]]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    with pytest.raises(IngestError) as caught:
        read_file(path, Mapping())
    message = str(caught.value)
    assert f"{path}, row 3, column 'klient'" in message
    assert "40,000 characters" in message and "32,767" in message
    assert long not in message


def test_a_long_cell_in_a_workbook_is_refused_too(tmp_path: Path) -> None:
    path = hostile.workbook(
        tmp_path / "long.xlsx", [hostile.HEADER, [*hostile.ROW[:6], "3" * 33_000]]
    )
    with pytest.raises(IngestError, match=r"row 2, column 'SRS'.*33,000 characters"):
        read_file(path, Mapping())


def test_a_long_run_of_missing_rows_in_a_workbook_is_refused(tmp_path: Path) -> None:
    path = hostile.sparse_workbook(tmp_path / "sparse.xlsx")
    with pytest.raises(IngestError, match=r"sparse.xlsx: rows 2 to 10,001 are empty"):
        read_file(path, Mapping())
    few = read_file(hostile.sparse_workbook(tmp_path / "few.xlsx", gap=9_998), Mapping())
    assert few.rows.tolist() == [10_000]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fitdata.ingest import limits

    path = tmp_path / "big.csv"
    path.write_text(";".join(hostile.HEADER) + "\n" + ";".join(hostile.ROW) + "\n")
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 50)
    with pytest.raises(IngestError, match=r"big.csv is .* bytes; fitdata reads files up to 50 "):
        read_file(path, Mapping())


def test_running_out_of_memory_anyway_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fitdata.ingest import importer

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(importer, "parse_rows", exhausted)
    path = hostile.workbook(tmp_path / "ok.xlsx", [hostile.HEADER, hostile.ROW])
    db = tmp_path / "kor.duckdb"
    with pytest.raises(IngestError, match=r"ran out of memory importing .*ok.xlsx; nothing was"):
        importer.import_files([path], db)
    assert not db.exists()


def test_a_couple_file_that_breaks_every_rule_everywhere_is_refused_quickly(
    tmp_path: Path,
) -> None:
    """Not a file made to exhaust the reader but one that exhausts the checks: 120,000 couple
    problems. No address-space limit here: any refusal of 50,000 bad rows needs more than
    ``ADDRESS_SPACE`` (measured: the importer of before issue 20 as well), so the peak
    resident memory of the process is bounded instead."""
    path = hostile.crowded_couples_csv(tmp_path / "couples.csv", couples=20_000)
    assert path.stat().st_size < 25_000_000
    db = tmp_path / "kor.duckdb"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, "import", "--db", str(db), str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=SECONDS,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 103  # the first 100 problems, how many more, the verdict, the peak
    assert "one index client per episode" in lines[0]
    assert re.search(r"^\.\.\. and [\d,]+ more problems", lines[100])
    assert re.search(r"error: [\d,]+ problem\(s\) in 60,000 row\(s\); nothing was imported",
                     lines[101])  # fmt: skip
    assert "one of the couple's two clients" in result.stderr
    assert "one therapist per session of a couple" in result.stderr
    peak_mb = int(lines[102].removeprefix("peak MB "))
    assert peak_mb < 1500, peak_mb
    assert seconds < SECONDS
    assert not db.exists()


#: ``fitdata ARGS`` in a process that reports its peak resident memory last on stderr.
_MEASURED = """
import sys
from fitdata.cli import main
try:
    code = main(sys.argv[1:])
finally:
    # VmHWM: this program's own peak. ru_maxrss would not do: Linux keeps it across exec, so
    # it also counts the forking pytest process's size (1.6 GB late in a full run, ~0.5 here)
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) // 1024
    print(f"peak MB {peak}", file=sys.stderr)
sys.exit(code)
"""
