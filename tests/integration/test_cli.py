import subprocess
import sys

import pytest

from fitdata.cli import main
from fitdata.data import store


@pytest.mark.parametrize("command", ["demo", "serve", "check"])
def test_every_subcommand_explains_itself(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fitdata.cli", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"usage: fitdata {command}" in result.stdout
    assert "--db" in result.stdout or "--out" in result.stdout


def test_check_prints_counts(tiny_db, capsys) -> None:
    assert main(["check", "--db", str(tiny_db)]) == 0
    out = capsys.readouterr().out
    assert f"schema version {store.SCHEMA_VERSION}" in out
    assert "sessions" in out and "24" in out
    assert "No problems found." in out
    assert "no closed episodes yet" in out


def test_check_on_a_missing_file_says_what_to_do(tmp_path, capsys) -> None:
    assert main(["check", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "fitdata check: error: There is no database at" in err
    assert "fitdata demo" in err


def test_serve_refuses_a_missing_database_before_starting(tmp_path, capsys) -> None:
    assert main(["serve", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "fitdata demo --out" in capsys.readouterr().err


def test_serve_refuses_a_bad_threshold_file(tiny_db, tmp_path, capsys) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("[thresholds]\nsrs_cutof = 35\n", encoding="utf-8")
    assert main(["serve", "--db", str(tiny_db), "--config", str(bad)]) == 2
    assert "unknown threshold 'srs_cutof'" in capsys.readouterr().err


def test_serve_refuses_an_allowed_host_that_is_not_a_name(tiny_db, capsys) -> None:
    args = ["serve", "--db", str(tiny_db), "--allow-host", "https://evil.example/"]
    assert main(args) == 2
    assert "'https://evil.example/' in --allow-host" in capsys.readouterr().err


def test_serve_takes_allowed_hosts_and_tls_from_its_options(monkeypatch, tiny_db) -> None:
    from fitdata.server import serve as serve_module

    started = {}
    monkeypatch.setattr(serve_module, "serve", lambda options: started.setdefault("o", options))
    monkeypatch.setenv("FITDATA_ALLOW_HOSTS", "from-env.example")
    args = ["serve", "--db", str(tiny_db), "--allow-host", "fitdata.example.org", "--behind-tls"]
    main(args)
    options = started["o"]
    assert {"fitdata.example.org", "from-env.example"} <= set(options.allow_hosts)
    assert options.behind_tls is True


def test_bad_numbers_are_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--sessions", "many"])
    assert "expected a whole number" in capsys.readouterr().err


def test_demo_writes_a_checked_database(tmp_path, capsys) -> None:
    out = tmp_path / "small.duckdb"
    assert main(["demo", "--out", str(out), "--sessions", "3000", "--seed", "3"]) == 0
    assert "Wrote" in capsys.readouterr().out
    assert main(["check", "--db", str(out)]) == 0
    assert "below the lower line" in capsys.readouterr().out


# --- fitdata review: the team review's case list for a meeting's agenda -----------------------


@pytest.fixture(scope="module")
def review_db(tmp_path_factory):
    from tests.unit.test_team_review import build_review_db

    return build_review_db(tmp_path_factory.mktemp("review-cli") / "review.duckdb")


def test_review_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "review", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: fitdata review" in result.stdout
    for option in ("--team", "--as-of", "--out", "--lang", "--user", "--status"):
        assert option in result.stdout


def _page(db, lang: str = "en"):
    from fitdata.ui import DashboardContext, TeamReviewView

    return TeamReviewView(DashboardContext(db, lang=lang))


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_review_writes_the_pages_download_for_every_team(demo_db, tmp_path, capsys, lang) -> None:
    """The page's download, its table and the command agree on every case of every team."""
    from fitdata.features import team_review as cl

    view = _page(demo_db, lang)
    teams = view._teams
    for service in sorted(teams["service"].unique()):
        view.service.value = service
        for _, team in view.team.options:
            view.team.value = team
            out = tmp_path / f"{team}-{lang}.csv"
            assert main(["review", "--db", str(demo_db), "--team", team, "--lang", lang,
                         "--out", str(out)]) == 0  # fmt: skip
            assert f"Wrote {out} ({lang})" in capsys.readouterr().out
            # byte for byte the file the page's "Download CSV" button hands out
            assert out.read_bytes() == view._csv_file()[1], team
            # and the page's table in the same order, with the same current flags as chips
            listed = view._listed
            assert [r["key"] for r in view.table.rows] == listed["key"].head(500).tolist()
            for row, (_, case) in zip(view.table.rows, listed.iterrows(), strict=False):
                now = [c for c in cl.URGENCY if c in listed.columns and case[c]]
                # a couple's chips name whose flag each is; each flag is listed once per case
                shown = [chip.get("flag", chip["code"]) for chip in row["flags"]]
                assert list(dict.fromkeys(shown)) == now, row["key"]
            urgency = listed["urgency"].tolist()
            assert urgency == sorted(urgency)


def test_review_writes_excel_with_the_rules(review_db, tmp_path, capsys) -> None:
    import openpyxl

    out = tmp_path / "agenda.xlsx"
    args = ["review", "--db", str(review_db), "--team", "Team Nord", "--as-of", "2025-03-03"]
    assert main([*args, "--out", str(out), "--lang", "nb"]) == 0
    assert "5 cases of Team Nord (ongoing) as of 2025-03-03" in capsys.readouterr().out
    assert (out.stat().st_mode & 0o777) == 0o600
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Saksgjennomgang", "Regler"]
    sheet = book["Saksgjennomgang"]
    header = [c.value for c in sheet[1]]
    clients = [sheet.cell(r, 1).value for r in range(2, sheet.max_row + 1)]
    # the couple K-P1 and K-P2 is one case, listed under its index client
    assert clients == ["K-ALLY", "K-STAG", "K-GONE", "K-P1", "K-GOOD"]
    couple = [str(c.value or "") for c in sheet[2 + clients.index("K-P1")]]
    assert any("K-P2" in value for value in couple), couple  # the partner is named in its row
    ally = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert ally["Mest presserende nå"] == "SRS under grensen"
    rules = {r[0].value: r[1].value for r in book["Regler"].iter_rows()}
    assert rules["Flagg per"] == "03.03.2025" and "Team Nord" in rules["Filtre"]
    # an existing file is replaced, as fitdata report --out does
    assert main([*args, "--status", "all", "--out", str(out)]) == 0
    assert openpyxl.load_workbook(out)["Case review"].max_row == 1 + 7


def test_review_errors_say_what_and_what_to_do(review_db, tmp_path, capsys) -> None:
    base = ["review", "--db", str(review_db), "--team"]
    assert main([*base, "Team Vest", "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err
    assert "no team 'Team Vest'" in err and "T1 (Team Nord), T2 (Team Sør)" in err
    assert main([*base, "T1", "--out", str(tmp_path / "a.pdf")]) == 2
    assert "ending in .csv or .xlsx" in capsys.readouterr().err
    assert main([*base, "T1", "--out", str(tmp_path / "missing" / "a.csv")]) == 2
    assert "does not exist; create it or change --out" in capsys.readouterr().err
    (tmp_path / "taken.csv").mkdir()  # the system refuses to put a file there
    assert main([*base, "T1", "--out", str(tmp_path / "taken.csv")]) == 2
    err = capsys.readouterr().err
    assert "fitdata review: error:" in err and "taken.csv" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(SystemExit):
        main([*base, "T1", "--as-of", "3 March", "--out", str(tmp_path / "a.csv")])
    assert "expected a date as YYYY-MM-DD, got '3 March'" in capsys.readouterr().err
    missing = ["review", "--db", str(tmp_path / "x.duckdb"), "--team", "T1"]
    assert main([*missing, "--out", str(tmp_path / "a.csv")]) == 2
    assert "There is no database at" in capsys.readouterr().err


def test_review_is_an_audited_read_in_the_users_scope(tmp_path, capsys) -> None:
    from fitdata.data import access, audit
    from tests.unit.test_team_review import build_review_db

    db = build_review_db(tmp_path / "users.duckdb")
    access.add_user(db, "siri", "supervisor", team_ids=["T1"])
    access.add_user(db, "leif", "leader")
    out = tmp_path / "agenda.csv"
    args = ["review", "--db", str(db), "--as-of", "2025-03-03", "--out", str(out)]
    assert main([*args, "--team", "T1", "--user", "siri"]) == 0
    entries = [e for e in audit.read_audit(db, user="siri") if e.action == "caseload_export"]
    assert len(entries) == 1 and entries[0].team_id == "T1"
    assert set(entries[0].clients) == {"K-ALLY", "K-STAG", "K-GONE", "K-P1", "K-P2", "K-GOOD"}
    # another team is not in a supervisor's scope; a leader sees aggregates only
    assert main([*args, "--team", "T2", "--user", "siri"]) == 2
    assert "no team 'T2'" in capsys.readouterr().err
    assert main([*args, "--team", "T1", "--user", "leif"]) == 2
    assert "fitdata review: error:" in capsys.readouterr().err
    # with users, somebody must say who reads
    assert main([*args, "--team", "T1"]) == 2
