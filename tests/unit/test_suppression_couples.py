"""Subtraction attacks on the couples section of the service page and the report (issue 20).

The couple tables count couples, not partners, and hide a group of fewer than
``min_cell_size`` couples with the linked tables' complementary rule. The attack is the one of
:mod:`tests.unit.test_suppression_attacks`, which does not use the product's idea of which
tables are linked: every displayed row (the key figures, the teams, the quarters of the trend,
in every view a user reaches from one selection: no team, then each team) is the sum of
*atoms* (one team in one month of the episodes' end), and a hidden row is recoverable when its
atoms' sum is a linear combination of the shown rows' sums. Two families of values are
attacked: included couples (and every share over them) and closed couple episodes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, SummaryCache, parse_period
from fitdata.features.service.couples import CoupleSummary, couple_summary
from fitdata.i18n import Translator
from fitdata.outputs.report import HIDDEN, couple_tables
from tests.builders import session_rows, write_database
from tests.unit.test_suppression_attacks import Observation, periods_strategy, recoverable

YEAR = 2025

ors_strategy = st.lists(
    st.integers(50, 350).map(lambda tenths: tenths / 10), min_size=0, max_size=4
).map(tuple)


@dataclass(frozen=True)
class Couple:
    team: int
    start: dt.date
    first: tuple[float, ...]  # the index partner's ORS totals (at least one)
    second: tuple[float, ...]  # the other partner's (none: only one partner rated)


couples_strategy = st.lists(
    st.builds(
        Couple,
        team=st.integers(0, 4),
        start=st.dates(dt.date(YEAR, 1, 1), dt.date(YEAR, 11, 30)),
        first=ors_strategy.filter(len),
        second=ors_strategy,
    ),
    min_size=6,
    max_size=60,
)


def _ended(couple: Couple) -> dt.date:
    return couple.start + dt.timedelta(weeks=max(len(couple.first), len(couple.second)) - 1)


def _included(couple: Couple) -> bool:
    return len(couple.first) >= 2 and len(couple.second) >= 2


def build(path: Path, couples: list[Couple], teams: int, names: list[str] | None = None) -> Path:
    """One closed couple episode per couple (weekly sessions) in ``teams`` teams, two services.

    ``names`` are the teams' names (default ``Team 0``, ``Team 1``, ...).
    """
    team_ids = [f"T{i}" for i in range(teams)]
    frames, episodes, clients = [], [], []
    for number, couple in enumerate(couples):
        team = team_ids[couple.team % teams]
        episode = f"E{number}"
        for offset, ors in enumerate((couple.first, couple.second)):
            client = f"K{number}-{offset}"
            clients.append({"client_id": client, "birth_year": 1980, "age_group": "adult"})
            if ors:
                frames.append(
                    session_rows(
                        episode,
                        client,
                        f"P{team}",
                        team,
                        list(ors),
                        [38.0] * len(ors),
                        start=couple.start,
                        first_id=1 + 10 * (2 * number + offset),
                    )
                )
        episodes.append(
            {
                "episode_id": episode,
                "client_id": f"K{number}-0",
                "therapist_id": f"P{team}",
                "team_id": team,
                "started": couple.start,
                "ended": _ended(couple),
                "end_type": "planned",
                "format": "couple",
            }
        )
    return write_database(
        path,
        teams=pd.DataFrame(
            {
                "team_id": team_ids,
                "name": names or [f"Team {i}" for i in range(teams)],
                "service": ["A" if i % 2 == 0 else "B" for i in range(teams)],
            }
        ),
        therapists=pd.DataFrame(
            {"therapist_id": [f"P{t}" for t in team_ids], "name": team_ids, "team_id": team_ids}
        ),
        clients=pd.DataFrame(clients),
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(frames, ignore_index=True),
    )


def _month(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _months(first: dt.date, last: dt.date) -> list[int]:
    return list(range(_month(first), _month(last) + 1))


def _truth(couples: list[Couple], teams: int, service: str | None) -> dict[str, dict]:
    """Per (team, month of the end): included couples and closed couple episodes."""
    included: dict[tuple[str, int], int] = {}
    episodes: dict[tuple[str, int], int] = {}
    for couple in couples:
        index = couple.team % teams
        if service is not None and ("A" if index % 2 == 0 else "B") != service:
            continue
        key = (f"T{index}", _month(_ended(couple)))
        episodes[key] = episodes.get(key, 0) + 1
        included[key] = included.get(key, 0) + _included(couple)
    return {"couples": included, "episodes": episodes}


def _hidden(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def observations(summary: CoupleSummary, truth: dict[str, dict]) -> dict[str, list[Observation]]:
    """Every displayed couple row of one view, per family, as atoms and shown or hidden."""
    filters = summary.filters
    view = f"(team {filters.team_id or 'none'} chosen)"
    focus = [filters.team_id] if filters.team_id else sorted(summary.team_names)
    period = _months(filters.period.start, filters.period.end)
    out: dict[str, list[Observation]] = {"couples": [], "episodes": []}
    tables = {t.name: t for t in couple_tables(summary, Translator("en"))}

    def add(where: str, team_ids: list[str], months: list[int], values: list) -> None:
        atoms = frozenset((t, m) for t in team_ids for m in months)
        present = sum(truth["episodes"].get(a, 0) for a in atoms) > 0
        numbers = [v for v in values if not isinstance(v, str)]
        hidden = [_hidden(v) for v in numbers]
        assert all(hidden) or not any(hidden), f"{where}: partly hidden {values}"
        shown = not hidden[0] or not present
        for family in out:
            size = sum(truth[family].get(a, 0) for a in atoms)
            out[family].append(Observation(f"{where} [{family}]", atoms, shown, size))

    add(f"headline {view}", focus, period, [row[1] for row in tables["couples_headline"].rows])
    teams = zip(summary.teams.to_dict("records"), tables["couples_teams"].rows, strict=True)
    for record, row in teams:
        where = f"{filters.period.label} teams[{record['team_id']}]"
        add(where, [record["team_id"]], period, row)
    trend = zip(summary.trend.to_dict("records"), tables["couples_trend"].rows, strict=True)
    for record, row in trend:
        quarter = pd.Period(record["quarter"], freq="Q")
        months = _months(quarter.start_time.date(), quarter.end_time.date())
        add(f"trend[{record['quarter']}] {view}", focus, months, row)
    return out


def attack(path: Path, couples: list[Couple], teams: int, filters: ServiceFilters) -> list[str]:
    """Every recoverable hidden value over all views of one selection (no team, each team)."""
    reader = reader_for(path)
    cache = SummaryCache()
    truth = _truth(couples, teams, filters.service)
    collected: dict[str, list[Observation]] = {"couples": [], "episodes": []}
    for team in [None, *[f"T{i}" for i in range(teams)]]:
        view = ServiceFilters(filters.period, filters.service, team)
        summary = couple_summary(reader, view, cache=cache)
        for family, rows in observations(summary, truth).items():
            collected[family].extend(rows)
        # a shown row rests on at least the minimum of couples (not partners)
        for table in summary.tables().values():
            shown = table[~table["suppressed"].astype(bool)]
            assert (shown["couples"] >= summary.config.min_cell_size).all()
    return [text for rows in collected.values() for text in recoverable(rows)]


@settings(
    max_examples=int(os.environ.get("FITDATA_ATTACK_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    couples=couples_strategy,
    teams=st.integers(2, 5),
    period=periods_strategy,
    service=st.sampled_from([None, "A"]),
)
def test_no_hidden_couple_figure_is_recoverable(couples, teams, period, service):
    filters = ServiceFilters(parse_period(period), service)
    with tempfile.TemporaryDirectory() as folder:
        path = build(Path(folder) / "couples.duckdb", couples, teams)
        found = attack(path, couples, teams, filters)
    if found:
        pytest.fail("hidden couple figures can be recovered:\n" + "\n".join(found))


def test_a_small_team_is_hidden_with_its_neighbour_and_shows_the_mark(tmp_path):
    """Six couples in one team, three in another, seven in a third: two teams hidden, not one."""
    start = dt.date(YEAR, 4, 7)
    couples = [Couple(0, start, (15.0, 22.0), (18.0, 20.0))] * 6
    couples += [Couple(1, start, (15.0, 22.0), (18.0, 24.0))] * 3
    couples += [Couple(2, start, (12.0, 26.0), (18.0, 16.0))] * 7
    path = build(tmp_path / "couples.duckdb", couples, 3)
    summary = couple_summary(reader_for(path), ServiceFilters(parse_period(f"{YEAR}Q2")))
    teams = summary.teams.set_index("team_id")
    assert summary.headline.loc[0, "couples"] == 16
    assert teams["suppressed"].to_dict() == {"T0": True, "T1": True, "T2": False}
    assert teams.loc["T2", "pct_both_improved"] == pytest.approx(0.0)
    assert teams.loc["T2", "pct_one_improved"] == pytest.approx(100.0)
    table = couple_tables(summary, Translator("nb"))[1]
    assert all(_hidden(v) for v in table.rows[0][1:])
    from fitdata.outputs.report import html_file

    text = html_file.render_html(_service(path, summary.filters), "nb", summary)
    assert text.count(f"<td>{HIDDEN}</td>") >= 28


def _service(path: Path, filters: ServiceFilters):
    from fitdata.features.service import service_summary

    return service_summary(reader_for(path), filters)


def test_a_team_named_like_a_formula_stays_text_in_the_couples_sheets(tmp_path):
    """The couple tables go through the workbook's formula guard like every other table."""
    from fitdata.features.service import service_summary
    from fitdata.outputs.report import render
    from tests.integration.test_spreadsheet_injection import HYPERLINK, assert_workbook_is_inert

    start = dt.date(YEAR, 4, 7)
    couples = [Couple(0, start, (15.0, 22.0), (18.0, 20.0))] * 6
    couples += [Couple(1, start, (15.0, 22.0), (18.0, 24.0))] * 6
    path = build(tmp_path / "couples.duckdb", couples, 2, names=[HYPERLINK, "@SUM(1+1)"])
    filters = ServiceFilters(parse_period(f"{YEAR}Q2"))
    reader = reader_for(path)
    couples_figures = couple_summary(reader, filters)
    assert not couples_figures.teams["suppressed"].any()
    data = render(service_summary(reader, filters), "xlsx", "nb", couples_figures)
    assert_workbook_is_inert(data, {HYPERLINK, "@SUM(1+1)"})
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    sheet = book[Translator("nb").text("service.couples.table.teams")[:31]]
    names = [row[0] for row in sheet.iter_rows(min_row=4, values_only=True)]
    assert names == ["'" + HYPERLINK, "'@SUM(1+1)"]  # ordered by name, each quoted
