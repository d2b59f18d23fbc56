"""Issue 18's concrete case: ``fitdata report --period 2026-02 --format xlsx`` on the demo.

On the default demo (seed 20261122) written on 2026-12-04, February 2026 has 87 clients in the
key figures and one team of 4 clients. Before complementary suppression the workbook hid that
team alone, the shown teams summed to 83, and 87 - 83 = 4 gave it away (and the same
subtraction its episodes and how many reached target). Now a second team is hidden with it, so
the difference is the sum of two hidden teams and neither can be told.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.cli import main
from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.demo import generate_demo
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from fitdata.features.service.stored import stored_episode_facts
from fitdata.features.service.tables import index_tables, selection
from fitdata.outputs.report import HIDDEN

#: The day the issue's demo was written (``fitdata demo`` uses today's date as its end).
ISSUE_DAY = dt.date(2026, 12, 4)


@pytest.fixture(scope="module")
def issue_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issue18") / "demo.duckdb"
    generate_demo(path, end_date=ISSUE_DAY)
    return path


@pytest.fixture(scope="module")
def workbook(issue_db: Path, tmp_path_factory: pytest.TempPathFactory):
    from openpyxl import load_workbook

    out = tmp_path_factory.mktemp("report") / "r.xlsx"
    code = main(
        [
            "report",
            "--db",
            str(issue_db),
            "--period",
            "2026-02",
            "--format",
            "xlsx",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return load_workbook(out)


def _rows(sheet) -> tuple[list[str], list[tuple]]:
    rows = list(sheet.iter_rows(values_only=True))
    return list(rows[2]), [row for row in rows[3:] if any(v is not None for v in row)]


def _unsuppressed_teams(issue_db: Path):
    """The teams of February 2026 with nothing hidden (the truth the attack is after)."""
    reader = reader_for(issue_db)
    filters = ServiceFilters(parse_period("2026-02"))
    quarters = filters.period.trend_quarters()
    start = min(filters.period.start, parse_period(quarters[0]).start)
    chosen = selection(filters, start, parse_period(quarters[-1]).end)
    return index_tables(stored_episode_facts(reader, DEFAULT_CONFIG), chosen, DEFAULT_CONFIG)[
        "teams"
    ]


def test_the_issue_case_is_the_issue_case(issue_db):
    """The data still hold the case: 87 clients, one team under 5 (4 clients)."""
    truth = _unsuppressed_teams(issue_db)
    assert int(truth["clients"].sum()) == 87
    small = truth[truth["clients"] < 5]
    assert list(small["clients"]) == [4]


def test_the_hidden_team_cannot_be_recovered_from_the_workbook(issue_db, workbook):
    key_figures = next(s for s in workbook.worksheets if s.title.startswith("Key figures"))
    teams_sheet = next(s for s in workbook.worksheets if s.title.startswith("Teams side"))
    _, figures = _rows(key_figures)
    assert figures[0][1] == 87  # all 87 clients in the key figures

    headers, rows = _rows(teams_sheet)
    clients = headers.index("Clients")
    hidden = [row for row in rows if row[clients] == HIDDEN]
    assert len(hidden) >= 2, "a hidden team beside a shown total needs a hidden partner"
    shown = sum(row[clients] for row in rows if row[clients] != HIDDEN)
    truth = _unsuppressed_teams(issue_db).set_index("team_id")
    summary = service_summary(reader_for(issue_db), ServiceFilters(parse_period("2026-02")))
    hidden_ids = summary.teams.loc[summary.teams["suppressed"], "team_id"]
    true_hidden = [int(truth.at[t, "clients"]) for t in hidden_ids]
    assert 4 in true_hidden  # the issue's team is hidden ...
    assert 87 - shown == sum(true_hidden)  # ... but only the sum of the hidden teams shows
    assert all(87 - shown != value for value in true_hidden)
    # Every other count of a hidden team is hidden with it (episodes, % reaching target ...).
    for row in hidden:
        assert all(value == HIDDEN for value in row[1:]), row


def test_every_shown_outcome_percentage_rests_on_five_with_change(issue_db):
    """The issue's team of 5 clients with 3 client-episodes with change shows no percentage."""
    summary = service_summary(reader_for(issue_db), ServiceFilters(parse_period("2026-02")))
    teams = summary.teams
    shown = teams[teams["pct_target"].notna() | teams["effect_size"].notna()]
    assert (shown["episodes_with_change"] >= 5).all()
    few = teams[(teams["episodes_with_change"] < 5) & ~teams["suppressed"]]
    assert not few.empty  # the case exists in these data ...
    assert few[["effect_size", "pct_target", "pct_recovered"]].isna().all(axis=None)
    assert few["clients"].notna().all()  # ... and its counts are still shown
