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
