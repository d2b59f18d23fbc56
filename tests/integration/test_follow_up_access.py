"""Who sees what of the follow-up (issue 22): a leader the same suppressed figures, no case."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.store import reader_for
from fitdata.features import case_discussions as cd
from fitdata.features import follow_up as fu
from fitdata.features.service import ServiceFilters, SummaryCache, parse_period
from fitdata.features.service.follow_up import follow_up_summary
from fitdata.features.therapist_development import TherapistScope
from fitdata.features.therapist_development.follow_up import therapist_follow_up

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    path = tmp_path_factory.mktemp("access") / "demo.duckdb"
    shutil.copy(demo_db, path)
    row = reader_for(path).df("SELECT therapist_id, team_id FROM therapists LIMIT 1").iloc[0]
    access.add_user(path, "leder", "leader")
    access.add_user(path, "anna", "therapist", therapist_id=str(row["therapist_id"]))
    return path, str(row["therapist_id"]), str(row["team_id"])


def test_a_leader_gets_the_same_suppressed_figures_and_no_case(db) -> None:
    path, _, _ = db
    filters = ServiceFilters(parse_period("2026Q2"))
    leader = access.reader_for_user(path, "leder")
    theirs = follow_up_summary(leader, filters, as_of=AS_OF, cache_=SummaryCache())
    full = follow_up_summary(reader_for(path), filters, as_of=AS_OF)
    columns = ["cases", "discussed", "pct_discussed_on_track", "pct_not_discussed_on_track"]
    assert theirs.headline[columns].equals(full.headline[columns])
    assert theirs.teams[columns].equals(full.teams[columns])
    with pytest.raises(access.AccessDenied):
        fu.discussion_follow_ups(leader, cd.aggregate_discussions(leader), as_of=AS_OF)


def test_a_therapist_sees_her_own_and_not_another_teams_therapist(db) -> None:
    path, therapist, team = db
    anna = access.reader_for_user(path, "anna")
    frame = cd.discussions(anna)
    assert set(frame["therapist_id"]) <= {therapist}
    assert len(fu.discussion_follow_ups(anna, frame, as_of=AS_OF)) == len(frame)
    other = (
        reader_for(path)
        .df("SELECT therapist_id FROM therapists WHERE team_id <> ? LIMIT 1", [team])
        .iloc[0, 0]
    )
    with pytest.raises(access.AccessDenied):
        TherapistScope(anna, str(other))
    scope = TherapistScope(anna, therapist)
    table = therapist_follow_up(
        scope,
        anna,
        comparison_reader=access.aggregate_reader(path, "anna"),
        as_of=AS_OF,
        cache=SummaryCache(),
    ).set_index("level")
    mine = table.loc["therapist", "cases"]
    assert table.loc["service", "cases"] > 0
    assert mine != mine or mine < table.loc["service", "cases"]  # hidden (NaN) or fewer
