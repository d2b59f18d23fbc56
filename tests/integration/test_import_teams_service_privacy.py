"""Issue 23, import: team codes with names kept, the service, and every privacy problem at once.

Through the command line (``fitdata import``), in English and bokmål, on generated files.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fitdata.cli import main
from fitdata.data.store import check_database, reader_for, write_transaction
from tests.integration.import_workers import HEADER, weekly_rows, write_csv
from tests.integration.test_import_couples import LONG, couple_and_family_rows

SERVICE = "Psykisk helse og rus"


def run(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def rows_of(db: Path, sql: str) -> list[tuple]:
    return [tuple(r) for r in reader_for(db).rows(sql)]


def two_teams(tmp_path: Path, name: str = "kor.csv") -> Path:
    rows = weekly_rows("K-001", 2) + weekly_rows(
        "K-002", 2, team="Voksenteamet", therapist="Ola Berg", age="voksen"
    )
    return write_csv(tmp_path / name, rows)


# --- Team and therapist ids ------------------------------------------------------------------


def test_new_teams_get_codes_and_keep_their_names_across_two_imports(tmp_path: Path) -> None:
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, "--service", SERVICE, two_teams(tmp_path))
    assert code == 0, err
    assert "2 teams, 2 therapists" in out
    teams = rows_of(db, "SELECT team_id, name, service FROM teams ORDER BY team_id")
    assert teams == [
        ("T-0001", "Ungdomsteamet", SERVICE),
        ("T-0002", "Voksenteamet", SERVICE),
    ]
    therapists = rows_of(db, "SELECT therapist_id, name, team_id FROM therapists ORDER BY 1")
    assert therapists == [("B-0001", "Kari Hansen", "T-0001"), ("B-0002", "Ola Berg", "T-0002")]
    assert rows_of(db, "SELECT DISTINCT team_id FROM sessions ORDER BY 1") == [
        ("T-0001",),
        ("T-0002",),
    ]

    # the same file again (without --service: it creates nothing) finds the teams by name
    code, out, err = run("import", "--db", db, two_teams(tmp_path))
    assert code == 0, err
    assert "0 imported, 4 already present" in out
    # a later file with new sessions, one team written in other case, and a third team
    later = weekly_rows("K-003", 2, team="UNGDOMSTEAMET") + weekly_rows(
        "K-004", 1, team="Barneteamet", therapist="Kari Hansen", age="barn"
    )
    code, out, err = run(
        "import", "--db", db, "--service", SERVICE, write_csv(tmp_path / "later.csv", later)
    )
    assert code == 0, err
    assert "Created: 1 teams" in out
    assert rows_of(db, "SELECT team_id, name FROM teams ORDER BY team_id") == [
        ("T-0001", "Ungdomsteamet"),
        ("T-0002", "Voksenteamet"),
        ("T-0003", "Barneteamet"),
    ]
    assert rows_of(db, "SELECT team_id, count(*) FROM sessions GROUP BY 1 ORDER BY 1") == [
        ("T-0001", 4),
        ("T-0002", 2),
        ("T-0003", 1),
    ]
    assert rows_of(db, "SELECT count(*) FROM therapists") == [(2,)]
    assert check_database(db).ok


def test_a_database_whose_team_ids_are_names_keeps_them(tmp_path: Path) -> None:
    """Teams made by the importer before issue 23 have their name as id: nothing is rewritten."""
    db = tmp_path / "kor.duckdb"
    assert run("import", "--db", db, "--service", SERVICE, two_teams(tmp_path))[0] == 0
    with write_transaction(db) as con:
        con.execute("INSERT INTO teams VALUES ('Barneteamet', 'Barneteamet', 'BUP')")
        con.execute("INSERT INTO therapists VALUES ('Siri Dahl', 'Siri Dahl', 'Barneteamet')")
    rows = weekly_rows("K-010", 2, team="Barneteamet", therapist="Siri Dahl", age="barn")
    code, out, err = run("import", "--db", db, write_csv(tmp_path / "old.csv", rows))
    assert code == 0, err  # no new team: no service needed
    assert "Created: 1 clients" in out
    assert rows_of(db, "SELECT DISTINCT team_id, therapist_id FROM sessions WHERE "
                   "client_id = 'K-010'") == [("Barneteamet", "Siri Dahl")]  # fmt: skip
    assert rows_of(db, "SELECT service FROM teams WHERE team_id = 'Barneteamet'") == [("BUP",)]


def test_a_file_that_names_its_teams_keeps_its_ids(tmp_path: Path) -> None:
    """With a team_name column the team column holds ids: they are kept (an export's travel)."""
    header = [*HEADER, "teamnavn", "tjeneste"]
    rows = [[*r, "Ungdomsteamet Nord", "BUP"] for r in weekly_rows("K-1", 2, team="U1")]
    db = tmp_path / "kor.duckdb"
    code, _, err = run("import", "--db", db, write_csv(tmp_path / "named.csv", rows, header))
    assert code == 0, err
    assert rows_of(db, "SELECT * FROM teams") == [("U1", "Ungdomsteamet Nord", "BUP")]


# --- The service -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["creates 2 new teams", "'Ungdomsteamet', 'Voksenteamet'", "service column",
                "service: line in the mapping file", "--service NAME", "database is unchanged"]),
        ("nb", ["oppretter 2 nye team", "'Ungdomsteamet', 'Voksenteamet'", "tjeneste-kolonne",
                "service:-linje i mappingfilen", "--service NAVN", "databasen er uendret"]),
    ],
)  # fmt: skip
def test_new_teams_without_a_service_are_refused_in_the_chosen_language(
    tmp_path: Path, lang: str, words: list[str]
) -> None:
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, "--lang", lang, two_teams(tmp_path))
    assert code == 2
    assert all(w in err for w in words), err
    assert "Unspecified" not in err and "Traceback" not in err
    assert err.count("\n") == 1, "one clear line"
    assert not db.exists()
    code, _, err = run("import", "--db", db, "--dry-run", "--lang", lang, two_teams(tmp_path))
    assert code == 2 and words[0] in err, "a dry run says so too"


def test_the_service_from_a_column_a_mapping_or_the_option(tmp_path: Path) -> None:
    # a column: per team; --service fills in a team the column leaves empty
    header = [*HEADER, "tjeneste"]
    rows = [[*r, "Barn og unge"] for r in weekly_rows("K-1", 1)] + [
        [*r, ""] for r in weekly_rows("K-2", 1, team="Voksenteamet", age="voksen")
    ]
    db = tmp_path / "column.duckdb"
    code, _, err = run(
        "import", "--db", db, "--service", SERVICE, write_csv(tmp_path / "c.csv", rows, header)
    )
    assert code == 0, err
    assert rows_of(db, "SELECT name, service FROM teams ORDER BY name") == [
        ("Ungdomsteamet", "Barn og unge"),
        ("Voksenteamet", SERVICE),
    ]

    # the mapping's service: line
    mapping = tmp_path / "m.yml"
    mapping.write_text(yaml.safe_dump({"service": "Rask psykisk helsehjelp"}), encoding="utf-8")
    db = tmp_path / "mapping.duckdb"
    code, _, err = run("import", "--db", db, "--mapping", mapping, two_teams(tmp_path))
    assert code == 0, err
    assert set(rows_of(db, "SELECT service FROM teams")) == {("Rask psykisk helsehjelp",)}

    # the option alone
    db = tmp_path / "option.duckdb"
    code, _, err = run("import", "--db", db, "--service", "DPS Nord", two_teams(tmp_path))
    assert code == 0, err
    assert set(rows_of(db, "SELECT service FROM teams")) == {("DPS Nord",)}

    # an existing team keeps its service, whatever a later file or option says
    more = [[*r, "Noe annet"] for r in weekly_rows("K-9", 1, team="Voksenteamet", age="voksen")]
    code, _, err = run(
        "import", "--db", db, "--service", "X", write_csv(tmp_path / "m.csv", more, header)
    )
    assert code == 0, err
    assert set(rows_of(db, "SELECT service FROM teams")) == {("DPS Nord",)}


# --- Every privacy problem at once -----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "looks", "refused"),
    [
        ("en", "looks like a national identity number", "Refused: 3 value(s)"),
        ("nb", "ser ut som et fødselsnummer", "Avvist: 3 verdi(er)"),
    ],
)
def test_three_identity_numbers_in_three_columns_are_all_listed_masked(
    tmp_path: Path, lang: str, looks: str, refused: str
) -> None:
    header = [*HEADER, "Merknad"]
    rows = [[*r, ""] for r in weekly_rows("K-1", 4)]
    rows[0][2] = "01019010046"  # the client column (row 2)
    rows[1][1] = "010190 10046"  # the therapist column (row 3)
    rows[3][7] = "ny klient 13097248022"  # a column that is not imported (row 5)
    source = write_csv(tmp_path / "fnr.csv", rows, header)
    db = tmp_path / "kor.duckdb"
    code, _, err = run("import", "--db", db, "--lang", lang, "--service", SERVICE, source)
    assert code == 2
    row, column = ("rad", "kolonne") if lang == "nb" else ("row", "column")
    for where, shown in [
        (f"{row} 2, {column} 'klient'", "01********6"),
        (f"{row} 3, {column} 'behandler'", "01**** ****6"),
        (f"{row} 5, {column} 'Merknad'", "ny ****** **********2"),
    ]:
        assert f"{source}, {where}: {shown} {looks}" in err, err
    assert refused in err
    for number in ("01019010046", "010190 10046", "13097248022", "0101901", "1309724"):
        assert number not in err, "the message repeats (part of) a number"
    assert "--pseudonymise" in err
    assert not db.exists()


def test_names_and_contact_details_are_listed_with_the_identity_numbers(tmp_path: Path) -> None:
    rows = weekly_rows("K-1", 1) + weekly_rows("Kari Nordmann", 1) + weekly_rows("98765432", 1)
    rows += weekly_rows("K-4", 1, team="Ola Nordmann")
    rows[0][2] = "01019010046"
    code, _, err = run("import", "--db", tmp_path / "k.duckdb", "--service", SERVICE,
                       write_csv(tmp_path / "p.csv", rows))  # fmt: skip
    assert code == 2
    lines = [line for line in err.splitlines() if "p.csv, row" in line]
    assert [line.split("': ", 1)[1] for line in lines] == [
        "01********6 looks like a national identity number",
        "Ka** *******n looks like a person's name",
        "98*****2 looks like a contact detail (a phone number)",
        "Ol* *******n looks like a person's name",
    ]
    assert "Refused: 4 value(s)" in err


def test_the_listing_stops_at_50_and_says_how_many_more(tmp_path: Path) -> None:
    rows = []
    for n in range(62):  # 62 clients named by their identity numbers (synthetic, valid)
        rows += weekly_rows(f"K-{n}", 1)
    numbers = _identity_numbers(62)
    for row, number in zip(rows, numbers, strict=True):
        row[2] = number
    code, _, err = run("import", "--db", tmp_path / "k.duckdb", "--service", SERVICE,
                       write_csv(tmp_path / "many.csv", rows))  # fmt: skip
    assert code == 2
    assert sum("looks like a national identity number" in line for line in err.splitlines()) == 50
    assert "... and 12 more" in err
    assert "Refused: 62 value(s)" in err
    assert not any(number in err for number in numbers)


def _identity_numbers(count: int) -> list[str]:
    """``count`` different valid identity numbers (born 1 January 1990, both check digits)."""
    found = []
    for individual in range(100, 500):  # born in the 1900s
        base = f"010190{individual}"
        weights1, weights2 = (3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
        k1 = 11 - sum(int(d) * w for d, w in zip(base, weights1, strict=True)) % 11
        k1 = 0 if k1 == 11 else k1
        if k1 == 10:
            continue
        k2 = 11 - sum(int(d) * w for d, w in zip(base + str(k1), weights2, strict=True)) % 11
        k2 = 0 if k2 == 11 else k2
        if k2 < 10:
            found.append(f"{base}{k1}{k2}")
        if len(found) == count:
            return found
    raise AssertionError("not enough numbers")


# --- The export carries roles and forms back ------------------------------------------------


def test_an_export_carries_roles_and_forms_back(tmp_path: Path) -> None:
    rows = couple_and_family_rows()
    rows[4][-2] = "ORS"  # the child's first ORS on the adult form: not the default, kept
    first = tmp_path / "first.duckdb"
    source = write_csv(tmp_path / "par.csv", rows, LONG)
    code, _, err = run("import", "--db", first, "--service", SERVICE, source)
    assert code == 0, err
    out = tmp_path / "export.csv"
    assert run("export", "--db", first, "--out", out)[0] == 0
    exported = pd.read_csv(out, dtype=str)
    assert {"role", "ors_form", "srs_form"} <= set(exported.columns)
    assert set(exported["role"]) == {"index", "partner", "collateral", "family_member"}
    second = tmp_path / "second.duckdb"
    code, _, err = run("import", "--db", second, out)  # the export has the service column
    assert code == 0, err
    forms = "SELECT client_id, session_date, rater, ors_form, srs_form FROM sessions ORDER BY ALL"
    assert rows_of(second, forms) == rows_of(first, forms)
    assert ("K-C3", "ORS") in {(r[0], r[3]) for r in rows_of(second, forms)}
    roles = "SELECT episode_id, client_id, role, rater FROM episode_participants"
    sessionless = " WHERE client_id <> 'K-E5'"  # listed without a session: does not travel
    assert rows_of(second, f"{roles} ORDER BY ALL") == rows_of(
        first, f"{roles}{sessionless} ORDER BY ALL"
    )
    teams = "SELECT team_id, name, service FROM teams ORDER BY ALL"
    assert rows_of(second, teams) == rows_of(first, teams) == [("T-0001", "Familieteamet", SERVICE)]
