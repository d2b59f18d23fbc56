"""`fitdata import` and `fitdata export` through the command line, on generated files."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fitdata.cli import main
from fitdata.data.store import SESSION_ORDER, check_database, reader_for
from tests.integration.import_workers import weekly_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]


#: The service the tests' imports name with --service (their files have no service column).
SERVICE = "Psykisk helse og rus"


def with_service(args: tuple[str | Path, ...], service: str | None) -> list[str]:
    """The command line, with ``--service`` for an import when ``service`` is given."""
    line = [str(a) for a in args]
    if service is not None and line[:1] == ["import"] and "--service" not in line:
        line[1:1] = ["--service", service]
    return line


def run(
    *args: str | Path, env: dict[str, str] | None = None, service: str | None = SERVICE
) -> subprocess.CompletedProcess:
    """``python -m fitdata.cli ARGS`` in a new process, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "fitdata.cli", *with_service(args, service)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def run_here(*args: str | Path, service: str | None = SERVICE) -> tuple[int, str, str]:
    """The same command line in this process (faster, for tests that run many imports)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(with_service(args, service))
    return code, out.getvalue(), err.getvalue()


def count(db: Path, table: str = "sessions") -> int:
    return int(reader_for(db).rows(f"SELECT count(*) FROM {table}")[0][0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def key_env(tmp_path: Path) -> dict[str, str]:
    return {"FITDATA_KEY_FILE": str(tmp_path / "secret" / "pseudonym.key")}


def test_import_creates_the_database_and_a_second_import_adds_nothing(tmp_path: Path) -> None:
    rows = weekly_rows("K-001", 4) + weekly_rows("K-002", 3, age="voksen", team="Voksenteamet")
    source = write_csv(tmp_path / "kor.csv", rows)
    db = tmp_path / "new" / "kor.duckdb"

    first = run("import", "--db", db, source)
    assert first.returncode == 0, first.stderr
    assert "Sessions: 7 read, 7 imported, 0 already present, 0 rejected." in first.stdout
    assert "Created: 2 teams, 1 therapists, 2 clients, 2 episodes, 2 participants." in first.stdout
    assert check_database(db).ok

    second = run("import", "--db", db, source)
    assert second.returncode == 0, second.stderr
    assert "Sessions: 7 read, 0 imported, 7 already present, 0 rejected." in second.stdout
    assert count(db) == 7
    numbers = reader_for(db).rows(
        "SELECT session_no, ors_total FROM sessions WHERE client_id = 'K-001' ORDER BY session_date"
    )
    assert [(n, float(o)) for n, o in numbers] == [(1, 18.0), (2, 19.0), (3, 20.0), (4, 21.0)]


ENGLISH = [
    "team",
    "therapist",
    "client",
    "age_group",
    "episode",
    "episode_start",
    "session_date",
    "ors_individual",
    "ors_interpersonal",
    "ors_social",
    "ors_overall",
    "ors_total",
    "srs_total",
]


def _row(client: str, **values: str) -> list[str]:
    row = {
        "team": "T1",
        "therapist": "B1",
        "client": client,
        "age_group": "adult",
        "episode": f"E-{client}",
        "episode_start": "",
        "session_date": "06.01.2025",
        "ors_individual": "5",
        "ors_interpersonal": "5",
        "ors_social": "5",
        "ors_overall": "5",
        "ors_total": "20",
        "srs_total": "36",
    }
    row.update(values)
    return [row[c] for c in ENGLISH]


def test_every_problem_is_reported_at_once_with_file_row_column_and_value(tmp_path) -> None:
    rows = [
        _row("K-1"),  # row 2: valid
        _row("K-2", srs_total="41"),  # row 3
        _row("K-3", ors_total="21"),  # row 4
        _row("K-4", ors_social="", ors_overall=""),  # row 5
        _row("K-5", session_date="32.01.2025"),  # row 6
        _row("K-6", srs_total="tretti"),  # row 7
        _row("K-7"),  # row 8
        _row("K-7", ors_total="20,0"),  # row 9: the same session again
        _row("K-8", episode_start="10.01.2025"),  # row 10
        _row("K-9", age_group="pensjonist"),  # row 11
    ]
    source = write_csv(tmp_path / "many.csv", rows, ENGLISH)
    db = tmp_path / "kor.duckdb"
    result = run("import", "--db", db, source)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    expected = [
        "row 3, column 'srs_total': value '41'; expected a number from 0 to 40",
        "row 4, column 'ors_total': value '21'; expected the sum of the four ORS items, "
        "20.0 (within 0.1)",
        "row 5, column 'ors_social': all four ORS items or none",
        "row 5, column 'ors_overall': all four ORS items or none",
        "row 6, column 'session_date': value '32.01.2025'; expected a date as dd.mm.yyyy or "
        "yyyy-mm-dd",
        "row 7, column 'srs_total': value 'tretti'; expected a number such as 7.5 or 7,5",
        "row 8, column 'session_date': value '06.01.2025'; expected one row per session "
        "(client, date and rater); the same session is on rows 8, 9",
        "row 9, column 'session_date': value '06.01.2025'; expected one row per session",
        "row 10, column 'session_date': value '06.01.2025'; expected a date on or after "
        "2025-01-10 (episode E-K-8 began then)",
        "row 11, column 'age_group': value 'pensjonist'; expected child, adolescent, adult "
        "(barn, ungdom, voksen) or an age in years",
    ]
    for line in expected:
        assert f"{source}, {line}" in result.stderr, line
    assert "row 2," not in result.stderr
    assert result.stderr.strip().endswith(
        "fitdata import: error: 10 problem(s) in 9 row(s); nothing was imported (the database is "
        "unchanged). Correct the rows, or use --skip-invalid to import the valid rows and get "
        "the others in a rejects file."
    )
    assert not db.exists(), "a failed import must not leave a database behind"


def test_a_missing_required_column_says_which_and_suggests_a_near_miss(tmp_path) -> None:
    source = write_csv(
        tmp_path / "f.csv",
        [["T", "B", "K-1", "voksen", "06.01.2025", "20", "36"]],
        ["team", "behandler", "klinet", "aldersgruppe", "dato", "ORS", "SRS"],
    )
    result = run("import", "--db", tmp_path / "kor.duckdb", source)
    assert result.returncode == 2
    assert (
        f"{source}: required column 'client' is missing (did you mean 'klinet'?)" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_identity_numbers_are_refused_and_pseudonymised_on_request(tmp_path, key_env) -> None:
    rows = weekly_rows("13097248022", 2) + weekly_rows("K-2", 2)
    source = write_csv(tmp_path / "fnr.csv", rows)
    db = tmp_path / "kor.duckdb"
    refused = run("import", "--db", db, source, env=key_env)
    assert refused.returncode == 2
    where = f"{source}, row 2, column 'klient': "
    assert where + "13********2 looks like a national identity number" in refused.stderr
    assert "13097248022" not in refused.stderr, "the message must not repeat the number"
    assert "--pseudonymise" in refused.stderr
    assert not db.exists()

    accepted = run("import", "--db", db, "--pseudonymise", source, env=key_env)
    assert accepted.returncode == 0, accepted.stderr
    key_file = Path(key_env["FITDATA_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    clients = sorted(r[0] for r in reader_for(db).rows("SELECT client_id FROM clients"))
    assert len(clients) == 2 and all(c.startswith("P-") and len(c) == 14 for c in clients)
    assert b"13097248022" not in db.read_bytes()
    again = run("import", "--db", db, "--pseudonymise", source, env=key_env)
    assert "0 imported, 4 already present" in again.stdout, "the same key gives the same codes"


def test_names_in_the_client_column_or_a_name_column_are_refused(tmp_path, key_env) -> None:
    names = write_csv(tmp_path / "names.csv", weekly_rows("Kari Nordmann", 2))
    result = run("import", "--db", tmp_path / "kor.duckdb", names, env=key_env)
    assert result.returncode == 2
    where = f"{names}, row 2, column 'klient': "
    assert where + "Ka** *******n looks like a person's name" in result.stderr
    header = [*weekly_rows("K-1", 1)[0], "Ola Nordmann"]
    column = write_csv(tmp_path / "column.csv", [header], [*write_header(), "Navn"])
    result = run("import", "--db", tmp_path / "kor.duckdb", column, env=key_env)
    assert result.returncode == 2
    assert f"{column}: column 'Navn' looks like person names" in result.stderr
    ok = run("import", "--db", tmp_path / "kor.duckdb", "--pseudonymise", names, env=key_env)
    assert ok.returncode == 0, ok.stderr


def write_header() -> list[str]:
    from tests.integration.import_workers import HEADER

    return list(HEADER)


def test_skip_invalid_imports_the_valid_rows_and_writes_the_rest_with_reasons(tmp_path) -> None:
    rows = weekly_rows("K-1", 3)
    rows[1][5] = "55"  # ORS out of range
    rows += weekly_rows("K-2", 2)
    source = write_csv(tmp_path / "mixed.csv", rows)
    db = tmp_path / "kor.duckdb"
    result = run("import", "--db", db, "--skip-invalid", source)
    assert result.returncode == 0, result.stderr
    assert "Sessions: 5 read, 4 imported, 0 already present, 1 rejected." in result.stdout
    rejects = tmp_path / "mixed.rejects.csv"
    assert f"Rejected rows and the reason for each: {rejects}" in result.stdout
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    rejected = pd.read_csv(rejects, dtype=str)
    assert rejected[["source_row", "client", "ors_total"]].values.tolist() == [["3", "K-1", "55"]]
    assert rejected["problems"].iloc[0] == "ORS: a number from 0 to 40"
    assert count(db) == 4


def test_dry_run_checks_but_writes_nothing(tmp_path) -> None:
    source = write_csv(tmp_path / "kor.csv", weekly_rows("K-1", 3))
    db = tmp_path / "kor.duckdb"
    code, out, _ = run_here("import", "--db", db, "--dry-run", source)
    assert code == 0
    assert "3 read, 3 would be imported" in out and "Dry run: nothing was written." in out
    assert not db.exists()
    run_here("import", "--db", db, source)
    before = digest(db)
    more = write_csv(tmp_path / "more.csv", weekly_rows("K-2", 2))
    code, out, _ = run_here("import", "--db", db, "--dry-run", more)
    assert code == 0 and "2 would be imported" in out
    assert digest(db) == before


def test_a_session_before_its_episode_in_the_database_began_is_refused(tmp_path) -> None:
    header = ["team", "therapist", "client", "age_group", "episode", "session_date", "ors_total"]
    db = tmp_path / "kor.duckdb"
    first = write_csv(
        tmp_path / "a.csv", [["T", "B", "K-1", "adult", "E1", "03.02.2025", "20"]], header
    )
    assert run_here("import", "--db", db, first)[0] == 0
    before = digest(db)
    late = write_csv(
        tmp_path / "b.csv", [["T", "B", "K-1", "adult", "E1", "15.01.2025", "19"]], header
    )
    code, _, err = run_here("import", "--db", db, late)
    assert code == 2
    assert (
        f"{late}, row 2, column 'session_date': value '15.01.2025'; expected a date on or after "
        "2025-02-03 (episode E1 began then)" in err
    )
    assert digest(db) == before


def test_other_scores_for_a_recorded_session_are_refused_not_overwritten(tmp_path) -> None:
    db = tmp_path / "kor.duckdb"
    source = write_csv(tmp_path / "a.csv", weekly_rows("K-1", 2))
    run_here("import", "--db", db, source)
    rows = weekly_rows("K-1", 2)
    rows[1][5] = "25,0"
    changed = write_csv(tmp_path / "b.csv", rows)
    code, _, err = run_here("import", "--db", db, changed)
    assert code == 2
    assert f"{changed}, row 3, column 'dato': value '13.01.2025'; expected a new session" in err
    assert "already in the database with other scores" in err


def test_long_gaps_start_new_episodes_and_the_gap_can_be_changed(tmp_path) -> None:
    rows = weekly_rows("K-1", 2) + weekly_rows("K-1", 2, start=dt.date(2025, 9, 1))
    source = write_csv(tmp_path / "gap.csv", rows)
    db = tmp_path / "a.duckdb"
    run_here("import", "--db", db, source)
    episodes = reader_for(db).rows("SELECT episode_id, started FROM episodes ORDER BY started")
    assert [e for e, _ in episodes] == ["K-1:2025-01-06", "K-1:2025-09-01"]
    numbers = reader_for(db).rows("SELECT session_no FROM sessions ORDER BY session_date")
    assert [n for (n,) in numbers] == [1, 2, 1, 2]
    wide = tmp_path / "b.duckdb"
    run_here("import", "--db", wide, "--episode-gap", "365", source)
    assert count(wide, "episodes") == 1


def test_later_sessions_continue_the_open_episode_and_its_numbers(tmp_path) -> None:
    db = tmp_path / "kor.duckdb"
    run_here("import", "--db", db, write_csv(tmp_path / "jan.csv", weekly_rows("K-1", 2)))
    later = weekly_rows("K-1", 4)[2:]
    code, out, err = run_here("import", "--db", db, write_csv(tmp_path / "feb.csv", later))
    assert code == 0, err
    rows = reader_for(db).rows("SELECT episode_id, session_no FROM sessions ORDER BY session_date")
    assert rows == [("K-1:2025-01-06", n) for n in (1, 2, 3, 4)]
    assert check_database(db).ok


def test_xlsx_and_windows_1252_files_with_decimal_commas(tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Team", "Behandler", "Klient", "Alder", "Dato", "ORS", "SRS"])
    sheet.append(["Østre", "Åse Berg", "K-X1", 15, dt.datetime(2025, 1, 6), 18.5, 36])
    sheet.append(["Østre", "Åse Berg", "K-X1", 15, dt.datetime(2025, 1, 13), 21.3, None])
    book.save(tmp_path / "kor.xlsx")
    legacy = write_csv(
        tmp_path / "legacy.csv", weekly_rows("K-Y1", 2, team="Søndre"), encoding="cp1252"
    )
    db = tmp_path / "kor.duckdb"
    code, out, err = run_here("import", "--db", db, tmp_path / "kor.xlsx", legacy)
    assert code == 0, err
    assert "Read kor.xlsx (2 rows), legacy.csv (2 rows)." in out
    rows = reader_for(db).rows(
        "SELECT c.age_group, t.name, s.ors_total, s.srs_total FROM sessions s "
        "JOIN clients c USING (client_id) JOIN teams t USING (team_id) "
        "ORDER BY s.client_id, s.session_date"
    )
    assert [(a, t, float(o), None if s is None else float(s)) for a, t, o, s in rows] == [
        ("adolescent", "Østre", 18.5, 36.0),
        ("adolescent", "Østre", 21.3, None),
        ("adolescent", "Søndre", 18.0, 36.5),
        ("adolescent", "Søndre", 19.0, 36.5),
    ]


def test_the_shipped_wide_register_mapping(tmp_path) -> None:
    header = [
        "Team",
        "Behandler",
        "Klientkode",
        "Aldersgruppe",
        "Avslutning",
        "Dato 1",
        "ORS 1",
        "SRS 1",
        "Dato 2",
        "ORS 2",
        "SRS 2",
        "Merknad",
    ]
    rows = [
        [
            "Familieteamet",
            "Ola",
            "A-101",
            "barn",
            "",
            "03.02.2025",
            "22,5",
            "36",
            "10.02.2025",
            "24",
            "37,5",
            "ok",
        ],
        [
            "Familieteamet",
            "Ola",
            "A-102",
            "voksen",
            "Droppet ut",
            "04.02.2025",
            "15",
            "30",
            "",
            "",
            "",
            "",
        ],
    ]
    source = write_csv(tmp_path / "register.csv", rows, header)
    db = tmp_path / "kor.duckdb"
    code, out, err = run_here("import", "--db", db, "--mapping", "paper_register_wide", source)
    assert code == 0, err
    assert "Read register.csv (2 rows, 3 sessions)." in out
    assert "Columns not imported: Merknad (register.csv)." in out
    episodes = reader_for(db).rows(
        "SELECT client_id, started, ended, end_type FROM episodes ORDER BY client_id"
    )
    assert episodes == [
        ("A-101", dt.date(2025, 2, 3), None, None),
        ("A-102", dt.date(2025, 2, 4), dt.date(2025, 2, 4), "unplanned"),
    ]


def test_the_shipped_system_export_mapping(tmp_path) -> None:
    header = [
        "Enhet",
        "Behandler",
        "KlientID",
        "Aldersgruppe",
        "ForløpID",
        "Dato",
        "Øktnr",
        "Utfylt av",
        "ORS Individuelt",
        "ORS Mellommenneskelig",
        "ORS Sosialt",
        "ORS Generelt",
        "ORS Total",
        "SRS Relasjon",
        "SRS Mål og tema",
        "SRS Tilnærming",
        "SRS Generelt",
        "SRS Total",
        "Skjema",
    ]
    rows = [
        [
            "Barneteamet",
            "B7",
            "K-77",
            "barn",
            "F-1",
            "2025-03-03",
            "1",
            "Klient selv",
            "5,0",
            "6,0",
            "7,0",
            "8,0",
            "26,0",
            "9,0",
            "9,5",
            "9,0",
            "9,5",
            "37,0",
            "CORS",
        ],
        [
            "Barneteamet",
            "B7",
            "K-77",
            "barn",
            "F-1",
            "2025-03-03",
            "1",
            "Mor",
            "4,0",
            "5,0",
            "6,0",
            "7,0",
            "22,0",
            "",
            "",
            "",
            "",
            "",
            "ORS",
        ],
    ]
    source = write_csv(tmp_path / "eksport.csv", rows, header, encoding="cp1252")
    db = tmp_path / "kor.duckdb"
    code, out, err = run_here("import", "--db", db, "--mapping", "system_export", source)
    assert code == 0, err
    raters = reader_for(db).rows("SELECT rater, ors_total FROM sessions ORDER BY rater")
    assert [(r, float(o)) for r, o in raters] == [("client", 26.0), ("parent", 22.0)]
    service = reader_for(db).rows("SELECT service FROM teams")
    assert service == [("Psykisk helse og rus",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "--db", "{tmp}/kor.duckdb", "{tmp}/missing.csv"], "There is no file"),
        (
            ["import", "--db", "{tmp}/kor.duckdb", "--mapping", "nope", "{tmp}/f.csv"],
            "There is no mapping file nope",
        ),
        (["export", "--db", "{tmp}/none.duckdb", "--out", "{tmp}/x.csv"], "There is no database"),
    ],
)
def test_command_line_errors_are_one_clear_line(tmp_path, args, message) -> None:
    write_csv(tmp_path / "f.csv", weekly_rows("K-1", 1))
    code, _, err = run_here(*[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_export_then_import_into_an_empty_database_gives_identical_tables(demo_db, tmp_path):
    exported = tmp_path / "demo.csv"
    result = run("export", "--db", demo_db, "--out", exported)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    copy = tmp_path / "copy.duckdb"
    result = run("import", "--db", copy, exported)
    assert result.returncode == 0, result.stderr
    keys = {
        "teams": "team_id",
        "therapists": "therapist_id",
        "clients": "client_id",
        "episodes": "episode_id",
        "sessions": "client_id, episode_id, session_date, rater",
    }
    for table, key in keys.items():
        original = reader_for(demo_db).df(f"SELECT * FROM {table} ORDER BY {key}")
        copied = reader_for(copy).df(f"SELECT * FROM {table} ORDER BY {key}")
        if table == "sessions":  # ids are assigned anew, and who entered them is "import"
            assert set(copied["entered_by"]) == {"import"}
            original, copied = (
                original.drop(columns=["session_id", "entered_by"]),
                copied.drop(columns=["session_id", "entered_by"]),
            )
        pd.testing.assert_frame_equal(original, copied[original.columns], check_dtype=False)
    # who takes part, and in what role, comes back from the sessions and the episodes' formats
    # (added_on does not travel: docs/import.md, Export and the round trip)
    participants = "SELECT episode_id, client_id, role, rater FROM episode_participants"
    original = reader_for(demo_db).df(f"{participants} ORDER BY ALL")
    copied = reader_for(copy).df(f"{participants} ORDER BY ALL")
    assert len(copied) >= reader_for(copy).rows("SELECT count(*) FROM episodes")[0][0]
    pd.testing.assert_frame_equal(original, copied, check_dtype=False)
    assert check_database(copy).ok
    # stored in the table's physical order (team by team), which one-team queries rely on
    scanned = reader_for(copy).df("SELECT session_id FROM sessions")["session_id"]
    ordered = reader_for(copy).df(f"SELECT session_id FROM sessions ORDER BY {SESSION_ORDER}")
    assert scanned.tolist() == ordered["session_id"].tolist()


def test_a_file_can_close_an_open_episode_already_in_the_database(tmp_path) -> None:
    header = [
        "team",
        "therapist",
        "client",
        "age_group",
        "episode",
        "session_date",
        "ors_total",
        "end_type",
    ]
    db = tmp_path / "kor.duckdb"
    first = [["T", "B", "K-1", "adult", "E1", "03.02.2025", "20", ""]]
    assert run_here("import", "--db", db, write_csv(tmp_path / "a.csv", first, header))[0] == 0
    last = [["T", "B", "K-1", "adult", "E1", "10.02.2025", "26", "planlagt"]]
    code, out, err = run_here("import", "--db", db, write_csv(tmp_path / "b.csv", last, header))
    assert code == 0, err
    assert "Episodes closed by the file: 1." in out
    assert reader_for(db).rows("SELECT ended, end_type FROM episodes") == [
        (dt.date(2025, 2, 10), "planned")
    ]
    assert check_database(db).ok


def test_rows_that_cannot_be_split_are_rejected_not_dropped(tmp_path) -> None:
    source = tmp_path / "ragged.csv"
    rows = weekly_rows("K-1", 3)
    source.write_text(
        ";".join(write_header())
        + "\n"
        + ";".join(rows[0])
        + "\n"
        + ";".join(rows[1][:4])
        + "\n"
        + ";".join(rows[2])
        + "\n",
        encoding="utf-8",
    )
    db = tmp_path / "kor.duckdb"
    code, out, err = run_here("import", "--db", db, "--skip-invalid", source)
    assert code == 0, err
    assert "Sessions: 3 read, 2 imported, 0 already present, 1 rejected." in out
    rejected = pd.read_csv(tmp_path / "ragged.rejects.csv", dtype=str)
    assert rejected[["source_row", "problems"]].values.tolist() == [
        ["3", "this row has 4 fields where the header has 7 (a missing or extra separator?)"]
    ]
    code, _, err = run_here("import", "--db", db, source)
    assert code == 2
    assert (
        f"{source}, row 3: this row has 4 fields where the header has 7 (a missing or extra "
        "separator?)" in err
    )
