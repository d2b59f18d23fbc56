"""The service page's "Discussed cases — did it help?" follows a team meeting (issue 22).

The browser test of the team meeting records discussions dated today, which the section does
not count yet (it counts complete quarters). Here a supervisor records discussions dated in a
past complete quarter (2026Q2 of the demo) for cases of one team that were flagged in that
quarter (the section's own rule, :func:`fitdata.features.follow_up.flag_starts`) and not yet
discussed; the service page opened afterwards (:class:`fitdata.ui.service.ServiceView`) shows
exactly that many more discussed cases for the team and quarter, as many fewer not discussed,
the same flagged cases, and the figures :func:`follow_up_summary` computes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.data import access
from fitdata.data.store import reader_for
from fitdata.features import case_discussions as cd
from fitdata.features import follow_up as fu
from fitdata.features.service import ServiceFilters, SummaryCache, parse_period
from fitdata.features.service.follow_up import follow_up_summary
from fitdata.ui.context import DashboardContext
from fitdata.ui.service import ServiceView

AS_OF = dt.date(2026, 10, 31)  # the demo's last day: 2026Q2 and its windows are over
QUARTER = "2026Q2"
TEAM = "T04"  # 30 flagged cases in 2026Q2, 7 discussed: its comparison is shown
RECORDED = 3
COLUMNS = ["cases", "discussed", "not_discussed", "discussed_judged", "not_discussed_judged"]


@pytest.fixture()
def db(demo_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    access.add_user(path, "veileder", "supervisor", team_ids=[TEAM])
    access.add_user(path, "leder", "leader")
    return path


def undiscussed_flags(path: Path) -> pd.DataFrame:
    """The team's flag starts in the quarter with no discussion counted for them yet."""
    reader = reader_for(path)
    sessions = reader.df(fu._FACT_SESSIONS_SQL.format(where=""), [])
    sessions = sessions[pd.to_datetime(sessions["session_date"]).dt.date <= AS_OF]
    sessions = fu.with_lines(sessions, fu.trajectory_model(reader))
    starts = fu.flag_starts(sessions, DEFAULT_CONFIG)
    starts = starts[(starts["quarter"] == QUARTER) & (starts["team_id"] == TEAM)]
    talks = cd.aggregate_discussions(reader)[["episode_id", "discussed_on"]]
    pairs = starts.merge(talks.astype({"episode_id": str}), on="episode_id")
    days = (pd.to_datetime(pairs["discussed_on"]) - pd.to_datetime(pairs["flag_date"])).dt.days
    counted = set(pairs.loc[(days >= 0) & (days <= fu.DISCUSSION_HORIZON_DAYS), "episode_id"])
    return starts[~starts["episode_id"].isin(counted)].sort_values("episode_id")


def page_summary(path: Path, lang: str = "nb") -> ServiceView:
    """The leader's service page, the quarter and the team chosen, the section opened."""
    view = ServiceView(DashboardContext(path, lang, user="leder"))
    view.follow_up.today = AS_OF
    view.period_to.value = QUARTER
    view.period_from.value = QUARTER
    view.team.value = TEAM
    view.follow_up.show_button.click()
    assert view.follow_up.summary is not None
    assert view.follow_up.summary.filters.team_id == TEAM
    return view


def test_the_service_page_counts_the_discussions_of_a_meeting(db: Path) -> None:
    before_view = page_summary(db)
    before = before_view.follow_up.summary.headline.iloc[0]
    assert not before["suppressed"] and not before["detail_suppressed"]

    flags = undiscussed_flags(db)
    assert len(flags) >= RECORDED
    supervisor = access.reader_for_user(db, "veileder")
    for flag in flags.head(RECORDED).to_dict("records"):
        cd.record_discussion(
            supervisor,
            episode_id=str(flag["episode_id"]),
            discussed_on=flag["flag_date"],  # the meeting of the flag's day, in 2026Q2
            forum="team_meeting",
            agreed=["adjust_goals_method"],
            follow_up_on=flag["flag_date"] + dt.timedelta(days=28),
            source="team_review",
            actor="veileder",
        )

    view = page_summary(db)
    after = view.follow_up.summary.headline.iloc[0]
    assert not after["suppressed"] and not after["detail_suppressed"]
    assert after["cases"] == before["cases"]  # discussing a case does not flag it
    assert after["discussed"] == before["discussed"] + RECORDED
    assert after["not_discussed"] == before["not_discussed"] - RECORDED
    judged = after["discussed_judged"] + after["not_discussed_judged"]
    assert judged == before["discussed_judged"] + before["not_discussed_judged"]

    # the leader's page shows what follow_up_summary computes afresh from the whole database
    filters = ServiceFilters(parse_period(QUARTER), team_id=TEAM)
    fresh = follow_up_summary(reader_for(db), filters, as_of=AS_OF, cache_=SummaryCache())
    assert fresh.headline[COLUMNS].equals(view.follow_up.summary.headline[COLUMNS])
    trend = fresh.trend.set_index("quarter").loc[QUARTER]
    assert trend["discussed"] == after["discussed"] and trend["cases"] == after["cases"]
    row = fresh.teams.set_index("team_id").loc[TEAM]
    assert row["discussed"] == after["discussed"]
    # ... and the page's headline table has the new count
    html = view.follow_up.figures.value
    headline = html.split("follow_up_headline", 1)[1].split("</table>", 1)[0]
    assert f">{int(after['discussed'])}<" in headline
    assert f">{int(before['discussed'])}<" not in headline

    # the page opened before the meeting shows the new figures at its next filter change
    before_view.team.value = before_view.team.options[0][1]  # all teams
    before_view.team.value = TEAM
    redrawn = before_view.follow_up.summary.headline
    assert redrawn[COLUMNS].equals(view.follow_up.summary.headline[COLUMNS])
