"""When an import rewrites the sessions table in its physical order, and when it must not.

Re-importing a file whose rows are all present adds nothing, so it must not rewrite the whole
table (at a million sessions that took 12 of 38 s); an import that adds many rows must, and the
rows then lie team by team, client by client (``store.SESSION_ORDER``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.data import store
from fitdata.data.store import reader_for
from fitdata.ingest import ImportOptions, import_files
from tests.integration.import_workers import weekly_rows, write_csv

#: The files have no service column; the new teams get this one.
OPTIONS = ImportOptions(service="Psykisk helse og rus")


@pytest.fixture
def resorts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the rewrites of the sessions table (the real rewrite still runs)."""
    calls: list[int] = []
    rewrite = store._resort_sessions

    def counted(con: object) -> None:
        calls.append(1)
        rewrite(con)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_resort_sessions", counted)
    return calls


def _file(folder: Path, name: str, clients: list[str], team: str) -> Path:
    rows = [row for client in clients for row in weekly_rows(client, 4, team=team)]
    return write_csv(folder / name, rows)


def test_reimport_of_present_rows_does_not_rewrite_the_table(
    tmp_path: Path, resorts: list[int]
) -> None:
    db = tmp_path / "kor.duckdb"
    first = _file(tmp_path, "first.csv", [f"K-A{n:03d}" for n in range(20)], "Voksenteamet")
    assert import_files([first], db, OPTIONS).imported == 80
    assert resorts == []  # a new database is written in order: nothing to rewrite

    again = import_files([first], db, OPTIONS)
    assert (again.imported, again.already_present) == (0, 80)
    assert resorts == []  # before: rewritten, since 80 rows read >= 10 % of 80 in the table


def test_import_that_adds_many_rows_rewrites_team_by_team(
    tmp_path: Path, resorts: list[int]
) -> None:
    db = tmp_path / "kor.duckdb"
    import_files([_file(tmp_path, "z.csv", ["K-Z001", "K-Z002"], "Ungdomsteamet")], db, OPTIONS)
    added = import_files(
        [_file(tmp_path, "a.csv", ["K-A001", "K-A002"], "Barneteamet")], db, OPTIONS
    )
    assert added.imported == 8
    assert resorts == [1]
    stored = reader_for(db).rows("SELECT team_id, client_id FROM sessions ORDER BY rowid")
    # team by team in the order of their ids: Ungdomsteamet came first, so it is T-0001
    assert {team for team, _ in stored} == {"T-0001", "T-0002"}
    assert [client for _, client in stored] == ["K-Z001"] * 4 + ["K-Z002"] * 4 + ["K-A001"] * 4 + [
        "K-A002"
    ] * 4
    assert stored == sorted(stored)


def test_import_of_few_new_rows_appends_without_rewriting(
    tmp_path: Path, resorts: list[int]
) -> None:
    db = tmp_path / "kor.duckdb"
    clients = [f"K-B{n:03d}" for n in range(30)]
    import_files(
        [_file(tmp_path, "many.csv", clients, "Voksenteamet")], db, OPTIONS
    )  # 120 sessions
    later = write_csv(
        tmp_path / "later.csv",
        weekly_rows("K-B000", 1, start=dt.date(2025, 2, 10), team="Voksenteamet"),
    )
    added = import_files([later], db, OPTIONS)
    assert (added.imported, added.already_present) == (1, 0)
    assert resorts == []  # 1 new row < 10 % of 120: appended at the end
    last = reader_for(db).rows("SELECT client_id, session_no FROM sessions ORDER BY rowid")[-1]
    assert last == ("K-B000", 5)
