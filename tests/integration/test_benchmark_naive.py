"""The benchmarks' naive pandas counterparts compute what the dashboards show (issue 8).

A naive row that computed something else would make its ratio meaningless, so the naive
functions of ``benchmarks.team_review``, ``benchmarks.therapist_development`` and
``benchmarks.service_dashboard`` are compared here with fitdata on a generated demo database,
for every team / several therapists / several selections, and their own checks are shown to
fail on a changed answer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import service_dashboard as sd
from benchmarks import team_review as tr
from benchmarks import therapist_development as td
from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features import team_review as cl
from fitdata.features.service import (
    ServiceFilters,
    filter_options,
    parse_period,
    service_summary,
)
from fitdata.features.therapist_development import TherapistScope


def test_naive_caseload_matches_fitdata_for_every_team(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    tables, _ = tr.load_naive(reader)
    as_of = cl.latest_session_date(reader)
    assert as_of is not None
    teams = reader.df("SELECT team_id FROM teams ORDER BY team_id")["team_id"]
    for team in teams:
        ours = cl.team_caseload(reader, team_id=team, as_of=as_of).episodes
        naive = tr.naive_caseload(tables, team, as_of)
        assert tr.naive_differences(naive, ours) == [], team
        # A filter change: one therapist's ongoing client-episodes without reliable change.
        therapist = str(ours["therapist_id"].iloc[0])
        filtered = cl.filter_caseload(
            ours,
            as_of=as_of,
            therapist_id=therapist,
            status="ongoing",
            flag_group="no_reliable_change",
        )
        naive_filtered = tr.naive_caseload(
            tables,
            team,
            as_of,
            therapist=therapist,
            status="ongoing",
            flag_group="no_reliable_change",
        )
        assert set(naive_filtered["episode_id"] + "|" + naive_filtered["client_id"]) == set(
            filtered["key"]
        )
    flagged = ours[ours["no_reliable_change"]]
    assert len(flagged) > 0  # the comparison above included flagged rows


def test_naive_caseload_check_reports_a_difference(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    tables, _ = tr.load_naive(reader)
    as_of = cl.latest_session_date(reader)
    team = tr._teams(reader)[0]
    ours = cl.team_caseload(reader, team_id=team, as_of=as_of).episodes
    naive = tr.naive_caseload(tables, team, as_of).reset_index(drop=True)
    changed = naive.copy()
    changed.loc[0, "srs_below_cutoff"] = not changed.loc[0, "srs_below_cutoff"]
    assert any(p.startswith("srs_below_cutoff") for p in tr.naive_differences(changed, ours))
    assert tr.naive_differences(naive.iloc[1:], ours)[0].endswith(f"fitdata {len(ours):,}")


def test_naive_headline_matches_the_service_page(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    tables, _ = sd.load_naive(reader)
    options = filter_options(reader)
    period = parse_period(options["default_period"])
    year = parse_period(options["default_period"][:4])
    selections = [
        ServiceFilters(period),
        ServiceFilters(year),
        ServiceFilters(year, age_group="adult"),
        ServiceFilters(year, format="individual"),
        ServiceFilters(year, service=options["services"][0]),
        *(ServiceFilters(year, team_id=t) for t in options["teams"]["team_id"]),
    ]
    compared = 0
    for filters in selections:
        summary = service_summary(reader, filters)
        if bool(summary.headline["suppressed"].iloc[0]):
            continue
        assert sd.naive_differences(sd.naive_headline(tables, filters), summary) == [], filters
        compared += 1
    assert compared >= 5


def test_naive_headline_check_reports_a_difference(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    tables, _ = sd.load_naive(reader)
    filters = ServiceFilters(parse_period(filter_options(reader)["default_period"][:4]))
    naive = sd.naive_headline(tables, filters)
    naive["clients"] += 1
    problems = sd.naive_differences(naive, service_summary(reader, filters))
    assert len(problems) == 1 and problems[0].startswith("clients")


@pytest.mark.parametrize("rank", [0, 1, 2])
def test_naive_therapist_figures_match_the_page(demo_db: Path, rank: int) -> None:
    reader = reader_for(demo_db)
    tables, _ = td.load_naive(reader)
    episodes = tables["episodes"]
    busiest = episodes[episodes["ended"].notna()]["therapist_id"].value_counts().index[rank]
    scope = TherapistScope(reader, busiest)
    assert td.naive_differences(td.naive_therapist_change(tables, busiest), scope) == []
    quarter = td.naive_therapist_change(tables, busiest, "quarter")["outcomes"]
    shown = scope.outcomes("quarter")
    shown = shown[(shown["level"] == "therapist") & ~shown["suppressed"].astype(bool)]
    # A quarter with fewer than min_cell_size client-episodes with change shows no effect size
    # (issue 18: a statistic rests on at least the minimum of what it counts).
    gated = shown["episodes_with_change"] < DEFAULT_CONFIG.min_cell_size
    assert shown.loc[gated, "effect_size"].isna().all()
    shown = shown[~gated]
    both = shown.astype({"period": str}).merge(quarter, on="period", suffixes=("", "_naive"))
    assert len(both) == len(shown) > 0
    pd.testing.assert_series_equal(
        both["effect_size"], both["effect_size_naive"], check_names=False, atol=1e-9
    )


def test_naive_therapist_check_reports_a_difference(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    tables, _ = td.load_naive(reader)
    episodes = tables["episodes"]
    busiest = episodes[episodes["ended"].notna()]["therapist_id"].value_counts().index[0]
    naive = td.naive_therapist_change(tables, busiest)
    naive["service"] = naive["service"].assign(effect_size=naive["service"]["effect_size"] + 0.1)
    problems = td.naive_differences(naive, TherapistScope(reader, busiest))
    assert problems == ["service: effect_size differ"]
