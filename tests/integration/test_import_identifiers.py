"""Identity numbers, names and contact details never get in through `fitdata import`.

A valid identity number, written any way a person or a program writes it, in any text column
of a file (codes, ids, names, free text, a column that is not imported): the whole file is
refused, the message names the file, row and column and does not repeat the number, and no
database is written. Client codes and episode ids that are not codes are refused row by row.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitdata.cli import main
from fitdata.data.store import reader_for
from fitdata.identifiers import identity_number_sql, national_id_digits
from fitdata.ingest.privacy import masked
from tests.integration.import_workers import weekly_rows, write_csv
from tests.unit.test_identifiers import spellings

#: Every text column of the canonical format, a score column and one that is not imported.
HEADER = [
    "team", "team_name", "service", "therapist", "therapist_name", "therapist_team", "client",
    "episode", "age_group", "session_date", "ors_total", "srs_total", "Kommentar",
]  # fmt: skip
ROW = [
    "T1", "Ungdomsteamet", "Barn, unge og familie", "B1", "Kari Hansen", "T1", "K-4F7Q2A",
    "E0000001", "ungdom", "06.01.2025", "18,5", "36", "",
]  # fmt: skip
SECOND = [*ROW[:7], "E0000001", "ungdom", "13.01.2025", "20", "37", "ny time"]


def _import(*args: str | Path) -> tuple[int, str, str]:
    """``fitdata import ARGS``; new teams without a service in the file get one (--service)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["import", "--service", "Psykisk helse og rus", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def test_the_file_without_personal_data_imports(tmp_path: Path) -> None:
    """The control: the same file as the refused ones, with nothing personal in it."""
    source = write_csv(tmp_path / "kor.csv", [ROW, SECOND], HEADER)
    db = tmp_path / "kor.duckdb"
    code, out, err = _import("--db", db, source)
    assert code == 0, err
    assert "2 imported" in out
    assert reader_for(db).rows("SELECT name FROM therapists") == [("Kari Hansen",)]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spellings(), st.sampled_from(range(len(HEADER))), st.sampled_from([0, 1]))
def test_an_identity_number_in_any_column_refuses_the_file(
    case: tuple[str, str], column: int, row: int
) -> None:
    number, text = case
    rows = [list(ROW), list(SECOND)]
    rows[row][column] = text
    with tempfile.TemporaryDirectory() as folder:
        source = write_csv(Path(folder) / "kor.csv", rows, HEADER)
        db = Path(folder) / "kor.duckdb"
        code, _, err = _import("--db", db, "--skip-invalid", source)
        assert code == 2, (text, HEADER[column], err)
        assert "Traceback" not in err
        where = f"{source}, row {row + 2}, column {HEADER[column]!r}: "
        assert where + masked(text) + " looks like a national identity number" in err, err
        assert number not in err and text.strip() not in err, "the message repeats the number"
        assert not db.exists()


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("kari nordmann", "a person's name"),
        ("Kari", "a person's name"),
        ("Kari M. Nordmann", "a person's name"),
        ("Ola-Kristian Ødegård", "a person's name"),
        ("kari.nordmann@example.no", "a contact detail (an e-mail address)"),
        ("98765432", "a contact detail (a phone number)"),
        ("+47 987 65 432", "a contact detail (a phone number)"),
        ("K-1019010046", "a national identity number"),
    ],
)
def test_names_and_contact_details_as_client_codes_refuse_the_file(
    tmp_path: Path, value: str, what: str
) -> None:
    source = write_csv(tmp_path / "kor.csv", weekly_rows(value, 2))
    code, _, err = _import("--db", tmp_path / "kor.duckdb", "--skip-invalid", source)
    assert code == 2
    assert f"{source}, row 2, column 'klient': {masked(value)} looks like {what}" in err
    assert value not in err
    assert "--pseudonymise" in err


def test_a_persons_name_as_a_team_is_refused_but_a_therapists_name_is_not(tmp_path) -> None:
    rows = weekly_rows("K-1", 1, team="Kari Nordmann") + weekly_rows(
        "K-2", 1, therapist="Ola-Kristian Ødegård"
    )
    source = write_csv(tmp_path / "kor.csv", rows)
    code, _, err = _import("--db", tmp_path / "kor.duckdb", source)
    assert code == 2
    assert f"{source}, row 2, column 'team': Ka** *******n looks like a person's name" in err
    assert "row 3" not in err, "therapists are staff: their names are allowed"


def test_with_pseudonymise_one_person_gets_one_code_however_the_number_is_written(
    tmp_path: Path,
) -> None:
    spelled = ["01019010046", "010190 10046", "010190-10046", "1019010046"]
    assert {national_id_digits(s) for s in spelled} == {"01019010046"}
    rows = [r for i, s in enumerate(spelled) for r in weekly_rows(s, 1, first_ors=10 + i)]
    rows = [[*r[:4], f"{6 + 7 * i:02d}.01.2025", *r[5:]] for i, r in enumerate(rows)]
    source = write_csv(tmp_path / "fnr.csv", rows)
    db = tmp_path / "kor.duckdb"
    code, _, err = _import("--db", db, "--pseudonymise", "--key-file", tmp_path / "k", source)
    assert code == 0, err
    assert reader_for(db).rows("SELECT count(*) FROM clients") == [(1,)]


def test_codes_that_are_not_codes_are_refused_by_row_with_what_to_do(tmp_path: Path) -> None:
    rows = [list(ROW), [*ROW[:6], "K 17", *ROW[7:]], [*ROW[:7], "E 1", *ROW[8:]]]
    rows[2][6] = "K-2"
    source = write_csv(tmp_path / "kor.csv", rows, HEADER)
    db = tmp_path / "kor.duckdb"
    code, _, err = _import("--db", db, source)
    assert code == 2
    assert (
        f"{source}, row 3, column 'client': value 'K 17'; expected a pseudonymous client code"
        in err
    )
    assert "--pseudonymise" in err.split("row 3, column 'client'")[1].split("\n")[0]
    assert f"{source}, row 4, column 'episode': value 'E 1'; expected an episode id" in err
    assert not db.exists()

    code, out, err = _import("--db", db, "--skip-invalid", source)
    assert code == 0, err
    assert "1 imported" in out and "2 rejected" in out
    rejects = pd.read_csv(tmp_path / "kor.rejects.csv", dtype=str)
    assert rejects["source_row"].tolist() == ["3", "4"]


def test_one_apostrophe_that_guards_a_formula_is_removed(tmp_path: Path) -> None:
    """`fitdata export` writes '=... so that a spreadsheet shows text, not a formula."""
    rows = [[*ROW[:1], "'=Team Nord", *ROW[2:]], [*SECOND[:1], "'=Team Nord", *SECOND[2:]]]
    source = write_csv(tmp_path / "kor.csv", rows, HEADER)
    db = tmp_path / "kor.duckdb"
    code, _, err = _import("--db", db, source)
    assert code == 0, err
    assert reader_for(db).rows("SELECT name FROM teams") == [("=Team Nord",)]


def test_episode_ids_the_importer_makes_pass_the_databases_identity_rule(tmp_path: Path) -> None:
    """``K-12345/2025-01-06`` is 13 digits once '/' and '-' are gone: the CHECK would refuse it."""
    source = write_csv(tmp_path / "kor.csv", weekly_rows("K-12345", 2))
    db = tmp_path / "kor.duckdb"
    code, _, err = _import("--db", db, source)
    assert code == 0, err
    reader = reader_for(db)
    assert reader.rows("SELECT episode_id FROM episodes") == [("K-12345:2025-01-06",)]
    refused = reader.rows(f"SELECT {identity_number_sql('episode_id')} FROM episodes")
    assert refused == [(False,)]


def test_names_that_look_like_formulas_survive_export_and_import(tmp_path: Path) -> None:
    """fitdata export quotes them (docs/report.md, Spreadsheet safety); import unquotes them."""
    teams = ["=SUM(A1:A9)", "+Team", "'-Team", "@Team"]
    rows = [
        [f"T{i}", name, "Tjeneste", "B1", "-Kari Hansen", f"T{i}", f"K-{i}", f"E{i}", "voksen",
         "06.01.2025", "20", "36", ""]
        for i, name in enumerate(teams)
    ]  # fmt: skip
    first = tmp_path / "first.duckdb"
    code, _, err = _import("--db", first, write_csv(tmp_path / "kor.csv", rows, HEADER))
    assert code == 0, err
    out = tmp_path / "export.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "--db", str(first), "--out", str(out)]) == 0
    assert "'=SUM(A1:A9)" in out.read_text(encoding="utf-8"), "the export quotes formulas"
    second = tmp_path / "second.duckdb"
    code, _, err = _import("--db", second, out)
    assert code == 0, err
    query = "SELECT team_id, name FROM teams ORDER BY team_id"
    assert reader_for(second).rows(query) == reader_for(first).rows(query)
    names = {n for (n,) in reader_for(second).rows("SELECT name FROM teams")}
    assert names == {teams[0], "+Team", "-Team", "@Team"}  # "'-Team" was read as "-Team"
    assert reader_for(second).rows("SELECT name FROM therapists") == [("-Kari Hansen",)]
