"""Subtraction attacks on every table of the service page, the report and its workbook.

Issue 18: a hidden cell must not follow from what is shown beside it — a total minus its shown
parts, across rows, columns, the trend's quarters or the team views. The attack here does not
use the product's idea of which tables are linked. It models every displayed row as the sum
of *atoms* (one team in one month of the population) and asks linear algebra: is a hidden
row's sum over its atoms a linear combination of the shown rows' sums? If so, a reader can
compute it, whatever tables and views the combination runs through. This catches the 2026-02
case (key figures minus the shown teams), quarters against a year, a team's quarters against
its period, and the service's trend against the teams' trends (one page, any team chosen).

Three families of values are attacked, each with its own hidden cells: the rows' counts
(clients, client-episodes, sessions and every share over them), the statistics over
client-episodes with change (effect sizes, outcome percentages), and the session-date
completeness tables. Rows with no data are known zeros to the reader.

A random small service (hypothesis) is written with the builders, and every view a user can
reach from one selection (no team, then each team) is collected as the report's displayed
tables (:func:`fitdata.outputs.report.display_tables`); the workbook of the view without a
team is checked to show :data:`HIDDEN` wherever the displayed table is hidden.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitdata.data.store import reader_for
from fitdata.features.service import (
    ServiceFilters,
    ServiceSummary,
    SummaryCache,
    parse_period,
    service_summary,
)
from fitdata.i18n import Translator
from fitdata.outputs.report import HIDDEN, display_tables, render_xlsx
from fitdata.outputs.report.layout import HEADLINE_SPEC, TABLE_SPECS
from fitdata.vocabulary import AGE_GROUPS, FORMATS
from tests.builders import session_rows, write_database

#: Displayed columns by family: counts of the row, statistics over change, completeness.
CHANGE = {
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
    "severity_adjusted_es",
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
    "pct_target",
    "pct_target_ci_low",
    "pct_target_ci_high",
    "team_effect",
    "team_effect_ci_low",
    "team_effect_ci_high",
}
COMPLETENESS_TABLES = {"completeness_trend", "completeness_team"}
#: A completeness table's column that belongs to the outcome rows (the teams' < 2 ORS share).
OUTCOME_IN_COMPLETENESS = {"pct_lt2_ors"}
YEAR = 2025


# --------------------------------------------------------------------------------------------
# Random services
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    team: int
    age: str
    fmt: str
    start: dt.date
    ors: tuple[float, ...]
    end_type: str


clients_strategy = st.lists(
    st.builds(
        Client,
        team=st.integers(0, 4),
        age=st.sampled_from(AGE_GROUPS),
        fmt=st.sampled_from(FORMATS[:2]),
        start=st.dates(dt.date(YEAR, 1, 1), dt.date(YEAR, 11, 30)),
        ors=st.lists(
            st.integers(50, 350).map(lambda tenths: tenths / 10), min_size=1, max_size=4
        ).map(tuple),
        end_type=st.sampled_from(("planned", "unplanned", "transferred")),
    ),
    min_size=8,
    max_size=70,
)

periods_strategy = st.one_of(
    st.integers(1, 12).map(lambda m: f"{YEAR}-{m:02d}"),
    st.integers(1, 4).map(lambda q: f"{YEAR}Q{q}"),
    st.just(str(YEAR)),
    st.integers(1, 3).map(lambda q: f"{YEAR}Q{q}..{YEAR}Q{q + 1}"),
    st.integers(1, 10).map(lambda m: f"{YEAR}-{m:02d}..{YEAR}-{m + 2:02d}"),
)


def _ended(client: Client) -> dt.date:
    return client.start + dt.timedelta(weeks=len(client.ors) - 1)


def build(path: Path, clients: list[Client], teams: int) -> Path:
    """Write one closed episode per client (weekly sessions) in ``teams`` teams, two services."""
    team_ids = [f"T{i}" for i in range(teams)]
    frames, episodes = [], []
    for number, client in enumerate(clients):
        team = team_ids[client.team % teams]
        frames.append(
            session_rows(
                f"E{number}",
                f"K{number}",
                f"P{team}",
                team,
                list(client.ors),
                [38.0] * len(client.ors),
                start=client.start,
                first_id=1 + 10 * number,
            )
        )
        episodes.append(
            {
                "episode_id": f"E{number}",
                "client_id": f"K{number}",
                "therapist_id": f"P{team}",
                "team_id": team,
                "started": client.start,
                "ended": _ended(client),
                "end_type": client.end_type,
                "format": client.fmt,
            }
        )
    return write_database(
        path,
        teams=pd.DataFrame(
            {
                "team_id": team_ids,
                "name": [f"Team {i}" for i in range(teams)],
                "service": ["A" if i % 2 == 0 else "B" for i in range(teams)],
            }
        ),
        therapists=pd.DataFrame(
            {"therapist_id": [f"P{t}" for t in team_ids], "name": team_ids, "team_id": team_ids}
        ),
        clients=pd.DataFrame(
            {
                "client_id": [f"K{i}" for i in range(len(clients))],
                "birth_year": [1980] * len(clients),
                "age_group": [c.age for c in clients],
            }
        ),
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(frames, ignore_index=True),
    )


# --------------------------------------------------------------------------------------------
# The attack
# --------------------------------------------------------------------------------------------


@dataclass
class Observation:
    """One displayed row of one family: its atoms, what a reader sees, and its true size."""

    where: str
    atoms: frozenset[tuple[str, int]]
    shown: bool
    truth: float


def _month(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _months(first: dt.date, last: dt.date) -> list[int]:
    return list(range(_month(first), _month(last) + 1))


def _quarter_months(label: str) -> list[int]:
    quarter = pd.Period(label, freq="Q")
    return _months(quarter.start_time.date(), quarter.end_time.date())


def _truth(clients: list[Client], teams: int, filters: ServiceFilters) -> dict[str, dict]:
    """Per (team, month): outcome clients, clients with change, completeness sessions."""
    outcome: dict[tuple[str, int], float] = {}
    change: dict[tuple[str, int], float] = {}
    sessions: dict[tuple[str, int], float] = {}
    for client in clients:
        team_index = client.team % teams
        service = "A" if team_index % 2 == 0 else "B"
        if filters.service is not None and service != filters.service:
            continue
        if filters.age_group is not None and client.age != filters.age_group:
            continue
        if filters.format is not None and client.fmt != filters.format:
            continue
        team = f"T{team_index}"
        key = (team, _month(_ended(client)))
        outcome[key] = outcome.get(key, 0) + 1
        change[key] = change.get(key, 0) + (len(client.ors) >= 2)
        for week in range(len(client.ors)):
            day = client.start + dt.timedelta(weeks=week)
            sessions[(team, _month(day))] = sessions.get((team, _month(day)), 0) + 1
    return {"rows": outcome, "change": change, "completeness": sessions}


def _family(table: str, column: str) -> str:
    if column in OUTCOME_IN_COMPLETENESS:
        return "rows"
    if table in COMPLETENESS_TABLES:
        return "completeness"
    return "change" if column in CHANGE else "rows"


def _is_hidden(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def observations(
    summary: ServiceSummary, truth: dict[str, dict], tr: Translator
) -> dict[str, list[Observation]]:
    """Every displayed row of one view, per family, as atoms and shown or hidden."""
    filters = summary.filters
    view = f"(team {filters.team_id or 'none'} chosen)"
    teams = sorted(summary.team_names)
    focus = [filters.team_id] if filters.team_id is not None else teams
    period = _months(filters.period.start, filters.period.end)
    out: dict[str, list[Observation]] = {"rows": [], "change": [], "completeness": []}

    def add(where: str, team_ids: list[str], months: list[int], cells: dict[str, list]) -> None:
        atoms = frozenset((t, m) for t in team_ids for m in months)
        for family, values in cells.items():
            if not values:
                continue
            size = sum(truth[family].get(a, 0) for a in atoms)
            counted = truth["completeness" if family == "completeness" else "rows"]
            present = sum(counted.get(a, 0) for a in atoms) > 0
            hidden = [_is_hidden(v) for v in values]
            if family != "change" and present and hidden[0] and not all(hidden):
                raise AssertionError(f"{where}: its count is hidden but other {family} shown")
            shown = not all(hidden) or not present
            out[family].append(Observation(f"{where} [{family}]", atoms, shown, size))

    tables = display_tables(summary, tr)
    for table in tables:
        if table.name == "headline":
            cells: dict[str, list] = {"rows": [], "change": []}
            for (column, *_), row in zip(HEADLINE_SPEC, table.rows, strict=True):
                family = "change" if column in CHANGE else "rows"
                if column == "clients":
                    cells[family].insert(0, row[1])
                else:
                    cells[family].extend(row[1:4] if family == "change" else [row[1]])
            add(f"headline {view}", focus, period, cells)
            continue
        spec = next(columns for name, _, columns in TABLE_SPECS if name == table.name)
        frame = summary.tables()[table.name]
        for record, row in zip(frame.to_dict("records"), table.rows, strict=True):
            cells = {"rows": [], "change": [], "completeness": []}
            for column, value in zip(spec, row, strict=True):
                if column.decimals < 0:
                    continue
                family = _family(table.name, column.source)
                if column.source == "clients":
                    cells[family].insert(0, value)
                else:
                    cells[family].append(value)
            if "team_id" in record:
                add(
                    f"{filters} {table.name}[{record['team_id']}]",
                    [record["team_id"]],
                    period,
                    cells,
                )
            else:
                label = record["quarter"]
                add(f"{table.name}[{label}] {view}", focus, _quarter_months(label), cells)
    return out


def recoverable(rows: list[Observation]) -> list[str]:
    """Hidden rows whose atoms' sum is a linear combination of the shown rows' sums."""
    atoms = sorted({a for row in rows for a in row.atoms})
    index = {a: i for i, a in enumerate(atoms)}

    def vector(row: Observation) -> np.ndarray:
        v = np.zeros(len(atoms))
        v[[index[a] for a in row.atoms]] = 1.0
        return v

    unique: dict[tuple[frozenset, bool], Observation] = {}
    for row in rows:  # the same cell seen in several views counts once
        unique.setdefault((row.atoms, row.shown), row)
    rows = list(unique.values())
    shown = [row for row in rows if row.shown]
    known = np.array([vector(row) for row in shown]) if shown else np.zeros((0, len(atoms)))
    rank = np.linalg.matrix_rank(known) if len(shown) else 0
    found = []
    for row in rows:
        if row.shown:
            continue
        target = vector(row)
        if np.linalg.matrix_rank(np.vstack([known, target])) == rank:
            weights, *_ = np.linalg.lstsq(known.T, target, rcond=None)
            recovered = float(weights @ np.array([r.truth for r in shown]))
            used = [
                f"{w:+.3g} x {r.where}"
                for w, r in zip(weights, shown, strict=True)
                if abs(w) > 1e-6
            ]
            found.append(
                f"{row.where}: hidden value {row.truth:g} recovered as {recovered:g} "
                f"= {' '.join(used)}"
            )
    return found


def attack(path: Path, clients: list[Client], teams: int, filters: ServiceFilters) -> list[str]:
    """Every recoverable hidden value over all views of one selection (no team, each team)."""
    reader = reader_for(path)
    cache = SummaryCache()
    tr = Translator("en")
    truth = _truth(clients, teams, filters)
    collected: dict[str, list[Observation]] = {"rows": [], "change": [], "completeness": []}
    first = None
    for team in [None, *[f"T{i}" for i in range(teams)]]:
        view = ServiceFilters(
            filters.period, filters.service, team, filters.age_group, filters.format
        )
        summary = service_summary(reader, view, cache=cache)
        first = first or summary
        for family, rows in observations(summary, truth, tr).items():
            collected[family].extend(rows)
    assert first is not None
    check_workbook(first, tr)
    return [text for rows in collected.values() for text in recoverable(rows)]


def check_workbook(summary: ServiceSummary, tr: Translator) -> None:
    """The workbook shows HIDDEN exactly where the displayed tables are hidden."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(render_xlsx(summary, "en")))
    for table, sheet in zip(display_tables(summary, tr), book.worksheets, strict=False):
        values = list(sheet.iter_rows(min_row=4, values_only=True))
        assert len(values) == len(table.rows), table.name
        for row, written in zip(table.rows, values, strict=True):
            for value, cell in zip(row, written, strict=False):
                if isinstance(value, str):
                    continue
                assert (cell == HIDDEN) == _is_hidden(value), (table.name, row, written)


@settings(
    max_examples=int(os.environ.get("FITDATA_ATTACK_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    clients=clients_strategy,
    teams=st.integers(2, 5),
    period=periods_strategy,
    service=st.sampled_from([None, "A"]),
    age=st.sampled_from([None, "adult"]),
    fmt=st.sampled_from([None, "individual"]),
)
def test_no_hidden_value_is_recoverable(clients, teams, period, service, age, fmt):
    filters = ServiceFilters(parse_period(period), service, None, age, fmt)
    with tempfile.TemporaryDirectory() as folder:
        path = build(Path(folder) / "service.duckdb", clients, teams)
        found = attack(path, clients, teams, filters)
    if found:
        pytest.fail("hidden values can be recovered:\n" + "\n".join(found))


def test_the_attack_finds_a_team_hidden_beside_the_key_figures(tmp_path):
    """The attack itself works: one small team beside a shown total is found (old rule)."""
    rows = [
        Observation("total", frozenset({("T0", 1), ("T1", 1), ("T2", 1)}), True, 14),
        Observation("T0", frozenset({("T0", 1)}), True, 5),
        Observation("T1", frozenset({("T1", 1)}), True, 6),
        Observation("T2", frozenset({("T2", 1)}), False, 3),
    ]
    found = recoverable(rows)
    assert len(found) == 1 and "T2" in found[0] and "recovered as 3" in found[0]
    rows[1] = Observation("T0", frozenset({("T0", 1)}), False, 5)
    assert recoverable(rows) == []


@pytest.mark.parametrize("period", ["2025Q2", "2025", "2025-03", "2025Q1..2025Q2"])
def test_a_small_fixed_service_leaks_nothing(tmp_path, period):
    """One team of 3 clients among teams of 5-9, every quarter: nothing hidden is recoverable."""
    clients = [
        Client(team, "adult", "individual", dt.date(YEAR, month, 3), (15.0, 22.0), "planned")
        for team, size in enumerate((3, 5, 7, 9))
        for month in (2, 5, 8, 11)
        for _ in range(size)
    ]
    filters = ServiceFilters(parse_period(period))
    path = build(tmp_path / "fixed.duckdb", clients, 4)
    found = attack(path, clients, 4, filters)
    if found:
        pytest.fail("hidden values can be recovered:\n" + "\n".join(found))
