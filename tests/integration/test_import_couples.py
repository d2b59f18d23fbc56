"""Couple and family files through `fitdata import`: read back, re-imported, and refused whole.

Issue 20: the long layout (one row per participant and session, with `role`, `ors_form` and
`srs_form`), the partners layout (`fitdata/mappings/couple_register_wide.yml`: one row per
session with each partner's columns), participants written with the sessions, and every
problem of a couple file listed at once while the database stays byte-identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest

from fitdata.cli import main
from fitdata.data.store import check_database, reader_for
from tests.integration.import_workers import write_csv
from tests.integration.test_import_cli import SERVICE, with_service

LONG = ["team", "behandler", "forløp", "klient", "rolle", "vurderer", "aldersgruppe",
        "behandlingsform", "dato", "ORS", "SRS", "ORS skjema", "SRS skjema"]  # fmt: skip
REGISTER = ["Team", "Behandler", "Forløp", "Dato", "Klient A", "Alder A", "ORS A", "SRS A",
            "Klient B", "Alder B", "ORS B", "SRS B", "Avslutning"]  # fmt: skip


def run(*args: str | Path) -> tuple[int, str, str]:
    """``fitdata ARGS`` in this process; an import names its service (the files have none)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(with_service(args, SERVICE))
    return code, out.getvalue(), err.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_of(db: Path, sql: str) -> list[tuple]:
    return [tuple(r) for r in reader_for(db).rows(sql)]


def couple_and_family_rows() -> list[list[str]]:
    """A couple (K-A1 and her partner K-B2) and a family: a child with a mother's rating, an
    adolescent sibling and a father listed without scores yet."""
    t, b = "Familieteamet", "Kari Hansen"
    return [
        [t, b, "E-100", "K-A1", "", "", "voksen", "par", "06.01.2025", "15,0", "34", "", ""],
        [t, b, "E-100", "K-B2", "partner", "", "voksen", "par", "06.01.2025", "19", "36", "", ""],
        [t, b, "E-100", "K-A1", "", "", "voksen", "par", "13.01.2025", "18", "35", "", ""],
        [t, b, "E-100", "K-B2", "", "", "voksen", "par", "13.01.2025", "22", "37", "ORS", "SRS"],
        [t, "Ola Berg", "E-200", "K-C3", "indeks", "", "barn", "familie", "07.01.2025", "20",
         "30", "", ""],
        [t, "Ola Berg", "E-200", "K-C3", "mor", "", "barn", "familie", "07.01.2025", "14", "",
         "", ""],
        [t, "Ola Berg", "E-200", "K-D4", "", "", "ungdom", "familie", "07.01.2025", "25", "38",
         "", ""],
        [t, "Ola Berg", "E-200", "K-E5", "familiemedlem", "", "voksen", "familie", "", "", "",
         "", ""],
        [t, "Ola Berg", "E-200", "K-C3", "", "", "barn", "familie", "14.01.2025", "23", "33",
         "", ""],
    ]  # fmt: skip


def test_a_couple_and_family_file_is_read_back_with_roles_forms_and_participants(
    tmp_path: Path,
) -> None:
    source = write_csv(tmp_path / "familier.csv", couple_and_family_rows(), LONG)
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, source)
    assert code == 0, err
    assert (
        "Sessions: 9 read, 8 imported, 0 already present, 0 rejected, 1 listing a participant "
        "without a session." in out
    )
    assert "Created: 1 teams, 2 therapists, 5 clients, 2 episodes, 6 participants." in out

    assert rows_of(db, "SELECT episode_id, client_id, role, rater, added_on "
                       "FROM episode_participants ORDER BY ALL") == [
        ("E-100", "K-A1", "index", "client", None),
        ("E-100", "K-B2", "partner", "client", None),
        ("E-200", "K-C3", "collateral", "parent", None),
        ("E-200", "K-C3", "index", "client", None),
        ("E-200", "K-D4", "family_member", "client", None),
        ("E-200", "K-E5", "family_member", "client", None),  # listed, no scores yet
    ]  # fmt: skip
    assert rows_of(db, "SELECT episode_id, client_id, format FROM episodes ORDER BY ALL") == [
        ("E-100", "K-A1", "couple"),
        ("E-200", "K-C3", "family"),
    ]
    forms = rows_of(
        db,
        "SELECT client_id, rater, session_date, ors_form, srs_form, entered_by FROM sessions "
        "ORDER BY ALL",
    )
    assert forms == [
        ("K-A1", "client", dt.date(2025, 1, 6), "ORS", "SRS", "import"),
        ("K-A1", "client", dt.date(2025, 1, 13), "ORS", "SRS", "import"),
        ("K-B2", "client", dt.date(2025, 1, 6), "ORS", "SRS", "import"),
        ("K-B2", "client", dt.date(2025, 1, 13), "ORS", "SRS", "import"),
        ("K-C3", "client", dt.date(2025, 1, 7), "CORS", "CSRS", "import"),  # a child
        ("K-C3", "client", dt.date(2025, 1, 14), "CORS", "CSRS", "import"),
        ("K-C3", "parent", dt.date(2025, 1, 7), "CORS", None, "import"),  # no SRS: no form
        ("K-D4", "client", dt.date(2025, 1, 7), "ORS", "SRS", "import"),
    ]
    assert rows_of(db, "SELECT count(*) FROM clients WHERE client_id = 'K-E5'") == [(1,)]
    report = check_database(db)
    assert report.ok, report.problems
    code, out, _ = run("check", "--db", db)
    assert code == 0 and "No problems found." in out

    # the same file again: nothing doubled, not even a participant
    before = {t: rows_of(db, f"SELECT count(*) FROM {t}")[0][0]
              for t in ("sessions", "episodes", "clients", "episode_participants")}  # fmt: skip
    code, out, err = run("import", "--db", db, source)
    assert code == 0, err
    assert "Sessions: 9 read, 0 imported, 8 already present, 0 rejected, 1 listing" in out
    assert "Created:" not in out
    after = {t: rows_of(db, f"SELECT count(*) FROM {t}")[0][0] for t in before}
    assert after == before
    assert check_database(db).ok


def register_rows() -> list[list[str]]:
    t, b = "Familievernet Nord", "Kari Hansen"
    return [
        [t, b, "P-1", "06.01.2025", "K-PA1", "voksen", "14,5", "33", "K-PB1", "voksen", "19",
         "35", ""],
        [t, b, "P-1", "13.01.2025", "K-PA1", "voksen", "17", "36", "K-PB1", "voksen", "", "",
         ""],
        [t, b, "P-1", "20.01.2025", "K-PA1", "voksen", "21", "37", "K-PB1", "voksen", "24",
         "38", "avsluttet etter avtale"],
        [t, "Ola Berg", "P-2", "07.01.2025", "K-PA2", "voksen", "10", "30", "K-PB2", "voksen",
         "", "", ""],
        [t, "Ola Berg", "P-2", "14.01.2025", "K-PA2", "voksen", "12", "31", "", "", "", "", ""],
    ]  # fmt: skip


def test_a_partners_register_becomes_one_couple_episode_per_couple(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "parregister.csv", register_rows(), REGISTER)
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, "--mapping", "couple_register_wide", source)
    assert code == 0, err
    assert "Read parregister.csv (5 rows, 9 sessions)." in out
    assert "7 imported, 0 already present, 0 rejected, 2 listing a participant" in out
    assert rows_of(db, "SELECT episode_id, client_id, role FROM episode_participants "
                       "ORDER BY ALL") == [
        ("P-1", "K-PA1", "index"),
        ("P-1", "K-PB1", "partner"),
        ("P-2", "K-PA2", "index"),
        ("P-2", "K-PB2", "partner"),  # listed on a row without scores: no session yet
    ]  # fmt: skip
    assert rows_of(
        db, "SELECT episode_id, client_id, format, end_type FROM episodes ORDER BY ALL"
    ) == [("P-1", "K-PA1", "couple", "planned"), ("P-2", "K-PA2", "couple", None)]
    assert rows_of(db, "SELECT client_id, session_no, ors_total FROM sessions "
                       "WHERE episode_id = 'P-1' ORDER BY ALL") == [
        ("K-PA1", 1, 14.5), ("K-PA1", 2, 17.0), ("K-PA1", 3, 21.0),
        ("K-PB1", 1, 19.0), ("K-PB1", 2, 24.0),
    ]  # fmt: skip
    assert rows_of(db, "SELECT count(*) FROM sessions WHERE client_id = 'K-PB2'") == [(0,)]
    assert check_database(db).ok

    code, out, err = run("import", "--db", db, "--mapping", "couple_register_wide", source)
    assert code == 0, err
    assert "0 imported, 7 already present, 0 rejected" in out
    assert rows_of(db, "SELECT count(*) FROM episode_participants") == [(4,)]
    assert rows_of(db, "SELECT count(*) FROM sessions") == [(7,)]


PARTNERS_WITHOUT_EPISODES = """\
layout: partners
partners: [1, 2]
columns: {team: Team, therapist: Behandler, session_date: Dato}
repeat: {client: "Klient {p}", age_group: "Alder {p}", ors_total: "ORS {p}", srs_total: "SRS {p}"}
defaults: {format: couple}
"""


def test_without_an_episode_column_a_register_row_follows_its_first_partner(
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "par.yml"
    mapping.write_text(PARTNERS_WITHOUT_EPISODES, encoding="utf-8")
    header = ["Team", "Behandler", "Dato", "Klient 1", "Alder 1", "ORS 1", "SRS 1", "Klient 2",
              "Alder 2", "ORS 2", "SRS 2"]  # fmt: skip
    rows = [
        ["T", "B", "06.01.2025", "K-X1", "voksen", "12", "30", "K-Y1", "voksen", "20", "33"],
        ["T", "B", "13.01.2025", "K-X1", "voksen", "", "", "K-Y1", "voksen", "22", "35"],
        ["T", "B", "20.01.2025", "K-X1", "voksen", "16", "34", "K-Y1", "voksen", "", ""],
    ]
    db = tmp_path / "kor.duckdb"
    source = write_csv(tmp_path / "par.csv", rows, header)
    code, out, err = run("import", "--db", db, "--mapping", mapping, source)
    assert code == 0, err
    assert rows_of(db, "SELECT DISTINCT episode_id FROM sessions") == [("K-X1:2025-01-06",)]
    assert rows_of(db, "SELECT client_id, role FROM episode_participants ORDER BY ALL") == [
        ("K-X1", "index"),
        ("K-Y1", "partner"),
    ]
    assert check_database(db).ok
    code, out, err = run("import", "--db", db, "--mapping", mapping, source)
    assert code == 0, err
    assert "0 imported, 4 already present" in out

    # a row without the first partner's code cannot say which couple it belongs to
    orphan = write_csv(
        tmp_path / "orphan.csv",
        [["T", "B", "27.01.2025", "", "", "", "", "K-Y1", "voksen", "25", "36"]],
        header,
    )
    before = digest(db)
    code, _, err = run("import", "--db", db, "--mapping", mapping, orphan)
    assert code == 2
    assert "row 2, column 'Klient 2'" in err and "the first partner's client code" in err
    assert digest(db) == before


def test_a_partner_joins_an_episode_in_the_database_later(tmp_path: Path) -> None:
    db = tmp_path / "kor.duckdb"
    first = couple_and_family_rows()[:1] + couple_and_family_rows()[2:3]
    first = [[*r[:2], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], "", ""]
             for r in first]  # fmt: skip
    assert run("import", "--db", db, write_csv(tmp_path / "a.csv", first, LONG))[0] == 0
    later = [["Familieteamet", "Kari Hansen", "E-100", "K-B9", "", "", "voksen", "par",
              "20.01.2025", "21", "36", "", ""]]  # fmt: skip
    code, out, err = run("import", "--db", db, write_csv(tmp_path / "b.csv", later, LONG))
    assert code == 0, err
    assert rows_of(db, "SELECT client_id, role, added_on FROM episode_participants "
                       "ORDER BY ALL") == [
        ("K-A1", "index", None),
        ("K-B9", "partner", dt.date(2025, 1, 20)),  # joined after the episode began
    ]  # fmt: skip
    assert check_database(db).ok

    # the database's index client stays the index client; a third adult is no couple
    clash = [
        ["Familieteamet", "Kari Hansen", "E-100", "K-B9", "indeks", "", "voksen", "par",
         "27.01.2025", "22", "37", "", ""],
        ["Familieteamet", "Kari Hansen", "E-100", "K-C7", "", "", "voksen", "par",
         "27.01.2025", "22", "37", "", ""],
    ]  # fmt: skip
    before = digest(db)
    code, _, err = run("import", "--db", db, write_csv(tmp_path / "c.csv", clash, LONG))
    assert code == 2
    assert "row 2, column 'rolle': value 'indeks'; expected a role other than index: episode " \
           "E-100's index client in the database is K-A1" in err  # fmt: skip
    assert (
        "row 3, column 'klient': value 'K-C7'; expected one of the couple's two clients "
        "(K-A1, K-B9): episode E-100 is a couple episode and would have 3 clients" in err
    )
    assert digest(db) == before


def test_every_problem_of_a_couple_file_is_listed_at_once_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    db = tmp_path / "kor.duckdb"
    base = [["T", "B", "E-1", "K-OLD1", "", "", "voksen", "", "06.01.2025", "20", "35", "", ""]]
    assert run("import", "--db", db, write_csv(tmp_path / "base.csv", base, LONG))[0] == 0
    t = "T"
    bad = [
        # two index clients in one episode (rows 2 and 3)
        [t, "B", "E-2", "K-P1", "index", "", "voksen", "par", "06.01.2025", "20", "35", "", ""],
        [t, "B", "E-2", "K-P2", "index", "", "voksen", "par", "06.01.2025", "21", "36", "", ""],
        # a partner in an individual episode (row 4)
        [t, "B", "E-3", "K-S1", "", "", "voksen", "individuell", "07.01.2025", "18", "34", "",
         ""],
        [t, "B", "E-3", "K-S2", "partner", "", "voksen", "individuell", "07.01.2025", "19",
         "34", "", ""],
        # an unknown form name (row 6) and the child form for an adult (row 7)
        [t, "B", "E-4", "K-F1", "", "", "voksen", "", "08.01.2025", "18", "34", "ORS-X", ""],
        [t, "B", "E-4", "K-F1", "", "", "voksen", "", "15.01.2025", "19", "34", "CORS", ""],
        # two therapists for one couple session (rows 8 and 9)
        [t, "B", "E-5", "K-T1", "", "", "voksen", "par", "09.01.2025", "18", "34", "", ""],
        [t, "C", "E-5", "K-T2", "", "", "voksen", "par", "09.01.2025", "19", "34", "", ""],
        # a collateral role on the client's own rating (row 10)
        [t, "B", "E-6", "K-R1", "collateral", "", "voksen", "", "10.01.2025", "18", "34", "",
         ""],
        # another format than the episode in the database has (row 11)
        [t, "B", "E-1", "K-OLD2", "", "", "voksen", "par", "13.01.2025", "18", "34", "", ""],
    ]  # fmt: skip
    before = digest(db)
    code, out, err = run("import", "--db", db, write_csv(tmp_path / "bad.csv", bad, LONG))
    assert code == 2, out
    expected = [
        "row 2, column 'rolle': value 'index'; expected one index client per episode",
        "row 3, column 'rolle': value 'index'; expected one index client per episode",
        "row 5, column 'rolle': value 'partner'; expected a role that fits the episode's "
        "format: a partner belongs to a couple episode, and episode E-3 is individual",
        "row 6, column 'ORS skjema': value 'ORS-X'; expected ORS, or CORS (the child form)",
        "row 7, column 'ORS skjema': value 'CORS'; expected ORS: CORS is the child form (ages "
        "6-12) and this client's age group is adult",
        "row 8, column 'behandler': value 'B'; expected one therapist per session of a couple",
        "row 9, column 'behandler': value 'C'; expected one therapist per session of a couple",
        "row 10, column 'rolle': value 'collateral'; expected a client's role",
        "row 11, column 'behandlingsform': value 'par'; expected the format of episode E-1 in "
        "the database, individual",
    ]
    for line in expected:
        assert line in err, f"{line!r} not in\n{err}"
    assert "nothing was imported (the database is unchanged)" in err
    assert digest(db) == before


def test_a_partners_register_with_half_filled_or_repeated_partners_is_refused(
    tmp_path: Path,
) -> None:
    t, b = "Familievernet Nord", "Kari Hansen"
    rows = [
        # partner B's scores without partner B's client code
        [t, b, "P-1", "06.01.2025", "K-PA1", "voksen", "14", "33", "", "", "19", "35", ""],
        # the same person as both partners
        [t, b, "P-2", "06.01.2025", "K-PA2", "voksen", "14", "33", "K-PA2", "voksen", "19",
         "35", ""],
    ]  # fmt: skip
    db = tmp_path / "kor.duckdb"
    code, _, err = run(
        "import", "--db", db, "--mapping", "couple_register_wide",
        write_csv(tmp_path / "half.csv", rows, REGISTER),
    )  # fmt: skip
    assert code == 2
    assert (
        "half.csv, row 2, column 'Klient B': a client code for partner B: this row has values "
        "in the partner's other columns; fill in the code or empty the partner's columns" in err
    )
    assert "row 3, column 'Klient A': value 'K-PA2'; expected a different client for each " \
           "partner" in err  # fmt: skip
    assert "row 3, column 'Klient B': value 'K-PA2'; expected a different client" in err
    assert "row 3, column 'Dato'" not in err  # not also a duplicate session
    assert not db.exists() or rows_of(db, "SELECT count(*) FROM sessions") == [(0,)]


def test_the_group_form_outside_a_group_is_a_warning_and_imported(tmp_path: Path) -> None:
    rows = [["T", "B", "E-7", "K-G1", "", "", "voksen", "individuell", "06.01.2025", "20", "35",
             "", "GSRS"]]  # fmt: skip
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, write_csv(tmp_path / "g.csv", rows, LONG))
    assert code == 0, err
    assert "1 warning(s): imported as given" in out
    assert "row 2, column 'SRS skjema': the group form (GSRS) in an episode of format " \
           "individual" in out  # fmt: skip
    assert rows_of(db, "SELECT srs_form FROM sessions") == [("GSRS",)]


@pytest.mark.parametrize("option", ["--dry-run", "--skip-invalid"])
def test_dry_run_and_skip_invalid_treat_couple_rows_like_any_rows(
    tmp_path: Path, option: str
) -> None:
    rows = couple_and_family_rows() + [
        ["Familieteamet", "Kari Hansen", "E-100", "K-Z9", "familiemedlem", "", "voksen", "par",
         "20.01.2025", "20", "35", "", ""],
    ]  # fmt: skip
    db = tmp_path / "kor.duckdb"
    code, out, err = run("import", "--db", db, option, write_csv(tmp_path / "f.csv", rows, LONG))
    if option == "--dry-run":
        assert code == 2 and "family member belongs to a family episode" in err
        assert not db.exists()
        return
    assert code == 0, err
    assert "8 imported, 0 already present, 1 rejected, 1 listing" in out
    assert rows_of(db, "SELECT count(*) FROM episode_participants WHERE client_id = 'K-Z9'") == [
        (0,)
    ]
    assert check_database(db).ok


def test_partners_of_one_register_row_with_different_dates_or_therapists_are_refused(
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "dates.yml"
    mapping.write_text(
        "layout: partners\npartners: [A, B]\n"
        "columns: {team: Team, episode: Forløp}\n"
        'repeat: {client: "Klient {p}", session_date: "Dato {p}", therapist: "Behandler {p}", '
        'age_group: "Alder {p}", ors_total: "ORS {p}"}\n'
        "defaults: {format: couple}\n",
        encoding="utf-8",
    )
    header = ["Team", "Forløp", "Klient A", "Dato A", "Behandler A", "Alder A", "ORS A",
              "Klient B", "Dato B", "Behandler B", "Alder B", "ORS B"]  # fmt: skip
    rows = [
        ["T", "P-1", "K-A", "06.01.2025", "B", "voksen", "12", "K-B", "06.01.2025", "B",
         "voksen", "15"],
        ["T", "P-1", "K-A", "13.01.2025", "B", "voksen", "14", "K-B", "14.01.2025", "B",
         "voksen", "16"],
        ["T", "P-1", "K-A", "20.01.2025", "B", "voksen", "15", "K-B", "20.01.2025", "C",
         "voksen", "18"],
    ]  # fmt: skip
    db = tmp_path / "kor.duckdb"
    code, _, err = run(
        "import", "--db", db, "--mapping", mapping, write_csv(tmp_path / "d.csv", rows, header)
    )
    assert code == 2
    assert "row 3, column 'Dato B': value '14.01.2025'; expected one date for the partners " \
           "of a row (a row is one session)" in err  # fmt: skip
    assert "row 4, column 'Behandler B': value 'C'; expected one therapist for the partners " \
           "of a row" in err  # fmt: skip
    assert "row 2" not in err
    assert not db.exists()


def test_skip_invalid_never_makes_an_episode_without_its_index_client(tmp_path: Path) -> None:
    rows = [
        # the index client's only row is refused (the child form for an adult) ...
        ["T", "B", "E-9", "K-A1", "", "", "voksen", "par", "06.01.2025", "15", "34", "CORS", ""],
        # ... so the partner's row cannot make the episode on its own
        ["T", "B", "E-9", "K-B2", "", "", "voksen", "par", "06.01.2025", "19", "36", "", ""],
        # a participant listed for an episode that has no session anywhere
        ["T", "B", "E-8", "K-C3", "", "", "voksen", "par", "", "", "", "", ""],
        # an episode whose every client has another role than index
        ["T", "B", "E-6", "K-E5", "partner", "", "voksen", "par", "06.01.2025", "20", "30", "",
         ""],
        ["T", "B", "E-7", "K-D4", "", "", "voksen", "", "06.01.2025", "20", "30", "", ""],
    ]  # fmt: skip
    db = tmp_path / "kor.duckdb"
    code, out, err = run(
        "import", "--db", db, "--skip-invalid", write_csv(tmp_path / "s.csv", rows, LONG)
    )
    assert code == 0, err
    assert "1 imported, 0 already present, 4 rejected." in out
    rejects = (tmp_path / "s.rejects.csv").read_text(encoding="utf-8")
    assert "the rows of this episode's index client K-A1, which were rejected" in rejects
    assert "episode E-8 has none in the files or the database" in rejects
    assert "an index client for episode E-6: every client in it has another role" in rejects
    assert rows_of(db, "SELECT episode_id, client_id FROM episodes") == [("E-7", "K-D4")]
    assert rows_of(db, "SELECT episode_id, client_id, role FROM episode_participants") == [
        ("E-7", "K-D4", "index")
    ]
    assert check_database(db).ok
