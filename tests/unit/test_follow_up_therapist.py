"""A therapist's own discussed cases beside the service (issue 22): same facts, suppressed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from fitdata.data.store import reader_for
from fitdata.features import follow_up as fu
from fitdata.features.therapist_development import TherapistScope
from fitdata.features.therapist_development.follow_up import (
    follow_up_quarters,
    therapist_follow_up,
)

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def facts(demo_db: Path):
    return fu.follow_up_facts(reader_for(demo_db), as_of=AS_OF)


def test_quarters() -> None:
    assert follow_up_quarters(dt.date(2026, 1, 5)) == ["2025Q2", "2025Q3", "2025Q4", "2026Q1"]


def test_the_therapist_and_the_service_rows_add_up_the_same_facts(demo_db: Path, facts) -> None:
    reader = reader_for(demo_db)
    quarters = follow_up_quarters(AS_OF)
    recent = facts[facts["quarter"].isin(quarters)]
    busiest = recent["therapist_id"].value_counts().index[0]
    scope = TherapistScope(reader, busiest)
    table = therapist_follow_up(scope, reader, as_of=AS_OF).set_index("level")
    mine = recent[recent["therapist_id"] == busiest]
    assert table.loc["therapist", "cases"] == len(mine)
    teams = reader.df("SELECT team_id FROM teams WHERE service = ?", [scope.identity.service])[
        "team_id"
    ]
    service = recent[recent["team_id"].isin(set(teams))]
    assert table.loc["service", "cases"] == len(service)
    row = table.loc["service"]
    if not row["detail_suppressed"]:
        assert row["discussed"] == service["discussed"].sum()
        judged = service[service["discussed"] & service["judged"]]
        assert row["pct_discussed_on_track"] == pytest.approx(100 * judged["on_track"].mean())


def test_a_therapist_with_few_cases_sees_hidden_cells(demo_db: Path, facts) -> None:
    reader = reader_for(demo_db)
    recent = facts[facts["quarter"].isin(follow_up_quarters(AS_OF))]
    counts = recent["therapist_id"].value_counts()
    small = counts[counts < 5]
    if small.empty:
        pytest.skip("every therapist has 5 or more flagged cases")
    scope = TherapistScope(reader, str(small.index[0]))
    row = therapist_follow_up(scope, reader, as_of=AS_OF).set_index("level").loc["therapist"]
    assert row["suppressed"] and np.isnan(row["cases"]) and np.isnan(row["discussed"])


def test_the_page_section_waits_for_its_button_and_follows_the_therapist(demo_db: Path) -> None:
    from fitdata.ui.context import DashboardContext
    from fitdata.ui.therapist_development import TherapistDevelopmentView

    view = TherapistDevelopmentView(DashboardContext(demo_db, "nb"))
    section = view.follow_up
    section.today = AS_OF
    assert section.table is None and "Mine drøftede saker" in section.intro.value
    section.show_button.click()
    text = section.figures.value
    assert "Mine saker" in text and "Tjenesten" in text and "ikke en årsakseffekt" in text
    first = section.table.copy()
    others = [v for _, v in view.therapist.options if v != view.therapist.value]
    view.therapist.value = others[0]
    assert section.scope.identity.therapist_id == others[0]
    assert section.table is not None and section.table is not first
