"""'Discussed cases — did it help?': figures against an independent computation, small cells."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features import follow_up as fu
from fitdata.features.service import ServiceFilters, parse_period
from fitdata.features.service.follow_up import (
    FOLLOW_UP_COUNTS,
    follow_up_summary,
    follow_up_tables,
    grouped,
    suppress,
)
from fitdata.features.service.linked import LINKED_KEYS, aligned_quarters, linked_lines
from fitdata.features.service.options import team_frame
from tests.oracles import follow_up as oracle

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def facts(demo_db: Path) -> pd.DataFrame:
    return fu.follow_up_facts(reader_for(demo_db), as_of=AS_OF)


def test_facts_equal_the_rule_written_again(demo_db: Path, facts: pd.DataFrame) -> None:
    reader = reader_for(demo_db)
    config = DEFAULT_CONFIG
    sessions = reader.df(fu._FACT_SESSIONS_SQL.format(where=""), [])
    sessions = fu.with_lines(sessions, fu.trajectory_model(reader))
    starts = fu.flag_starts(sessions, config)
    talks = reader.df(
        "SELECT d.episode_id, d.discussed_on, [f.client_id FOR f IN d.flags_then] AS clients "
        "FROM case_discussions d WHERE d.discussion_id NOT IN (SELECT discussion_id FROM "
        "case_discussion_changes WHERE change_type = 'withdrawn')"
    )
    by_episode: dict[str, list] = {}
    for row in talks.sort_values("discussed_on").to_dict("records"):
        row["discussed_on"] = pd.Timestamp(row["discussed_on"]).date()
        by_episode.setdefault(row["episode_id"], []).append(row)
    rows_of = {e: g.to_dict("records") for e, g in sessions.groupby("episode_id")}
    for rows in rows_of.values():
        for r in rows:
            r["session_date"] = pd.Timestamp(r["session_date"]).date()
    ends = reader.df("SELECT episode_id, ended, end_type FROM episodes").set_index("episode_id")
    expected = []
    for start in starts.to_dict("records"):
        flag_day = start["flag_date"]
        found = [
            t
            for t in by_episode.get(start["episode_id"], [])
            if 0 <= (t["discussed_on"] - flag_day).days <= fu.DISCUSSION_HORIZON_DAYS
        ]
        talk = found[0] if found else None
        begin = talk["discussed_on"] if talk else flag_day
        clients = (
            list(dict.fromkeys(talk["clients"]))
            if talk and len(talk["clients"])
            else list(start["clients"])
        )
        ended = ends.loc[start["episode_id"], "ended"]
        ended = None if pd.isna(ended) else pd.Timestamp(ended).date()
        kwargs = {"n_sessions": config.follow_up_sessions, "weeks": config.follow_up_weeks}
        outcome = oracle.rule(
            begin,
            rows_of[start["episode_id"]],
            clients,
            ended,
            ends.loc[start["episode_id"], "end_type"],
            AS_OF,
            rc=config.ors_reliable_change,
            at_threshold=config.change_at_threshold_is_reliable,
            **kwargs,
        )
        done = oracle.complete(begin, rows_of[start["episode_id"]], ended, AS_OF, **kwargs)
        judged = done and outcome != "not_judged"
        expected.append(
            (
                start["team_id"],
                start["quarter"],
                talk is not None,
                (talk["discussed_on"] - flag_day).days if talk else -1,
                judged,
                judged and outcome in ("reliable_improvement", "back_on_track"),
            )
        )
    got = list(
        zip(
            facts["team_id"],
            facts["quarter"],
            facts["discussed"],
            facts["days_to_discussion"].fillna(-1).astype(int),
            facts["judged"],
            facts["on_track"],
            strict=True,
        )
    )
    assert sorted(got) == sorted(expected)
    assert facts["discussed"].sum() > 20  # the demo's history of discussions is there
    assert facts["on_track"].sum() > 20


def _tables(facts: pd.DataFrame, period: str, demo_db: Path) -> dict[str, pd.DataFrame]:
    names = team_frame(reader_for(demo_db))
    service = dict(zip(names["team_id"], names["service"], strict=True))
    return follow_up_tables(facts, ServiceFilters(parse_period(period)), service, DEFAULT_CONFIG)


def test_shown_cells_equal_sql_and_small_cells_are_hidden(facts, demo_db: Path) -> None:
    period = parse_period("2026Q2")
    tables = _tables(facts, "2026Q2", demo_db)
    quarters = period.trend_quarters()
    first_q = pd.Period(quarters[0], freq="Q")
    inside = facts[facts["quarter"].map(lambda q: pd.Period(q, freq="Q") >= first_q)]
    inside = inside[inside["quarter"] <= quarters[-1]]
    cases = inside.assign(
        days=inside["days_to_discussion"], in_period=inside["quarter"] == "2026Q2"
    )
    sql = oracle.tables_sql(cases)
    checked = 0
    for name, keys in LINKED_KEYS.items():
        ours = tables[name]
        theirs = sql[name]
        assert len(ours) == len(theirs)
        for mine, row in zip(ours.to_dict("records"), theirs.to_dict("records"), strict=True):
            assert [mine[k] for k in keys] == [row[k] for k in keys]
            if mine["suppressed"]:
                assert all(np.isnan(mine[c]) for c in FOLLOW_UP_COUNTS)
                assert row["cases"] < 5 or True  # complements may be larger
                continue
            assert mine["cases"] == row["cases"]
            if mine["detail_suppressed"]:
                assert np.isnan(mine["discussed"]) and np.isnan(mine["pct_discussed_on_track"])
                continue
            for column in FOLLOW_UP_COUNTS:
                assert mine[column] == row[column], (name, column)
                assert not 0 < row[column] < 5 or column.endswith("on_track")
            if row["discussed"]:
                assert mine["median_days"] == pytest.approx(row["median_days"])
            checked += 1
        # a row under 5 cases is hidden
        small = theirs["cases"] < 5
        assert ours.loc[small.to_numpy(), "suppressed"].all()
    assert checked > 5


def test_no_hidden_cell_is_a_total_minus_shown_parts(facts, demo_db: Path) -> None:
    for period in ("2026Q2", "2026", "2026-05"):
        p = parse_period(period)
        tables = _tables(facts, period, demo_db)
        first = p.start.year * 12 + p.start.month - 1
        last = p.end.year * 12 + p.end.month - 1
        lines, offsets = linked_lines(tables, aligned_quarters(first, last))
        rows = np.concatenate([tables[n]["suppressed"].to_numpy(bool) for n in LINKED_KEYS])
        detail = np.concatenate(
            [tables[n]["detail_suppressed"].to_numpy(bool) for n in LINKED_KEYS]
        )
        for total, parts in lines:
            for hidden in (rows, detail):
                assert hidden[total] + hidden[parts].sum() != 1


def test_a_small_comparison_is_hidden_with_its_complement() -> None:
    # Two teams in one quarter: team A with 3 discussed of 10, team B with 6 of 12.
    def cases(team: str, n: int, discussed: int) -> dict[str, np.ndarray]:
        return {
            "team_id": np.array([team] * n, dtype=object),
            "quarter": np.array(["2026Q1"] * n, dtype=object),
            "discussed": np.arange(n) < discussed,
            "days_to_discussion": np.where(np.arange(n) < discussed, 7.0, np.nan),
            "judged": np.ones(n, dtype=bool),
            "on_track": np.arange(n) % 2 == 0,
        }

    rows = {
        k: np.concatenate([cases("A", 10, 3)[k], cases("B", 12, 6)[k]]) for k in cases("A", 1, 0)
    }
    frames = {
        "period": grouped(rows, []),
        "teams": grouped(rows, ["team_id"]),
        "quarters": grouped(rows, ["quarter"]),
        "team_quarters": grouped(rows, ["team_id", "quarter"]),
    }
    out = suppress(frames, ["2026Q1"], DEFAULT_CONFIG)
    teams = out["teams"].set_index("team_id")
    assert not teams["suppressed"].any()  # 10 and 12 cases are shown
    assert teams["detail_suppressed"].all()  # A's 3 discussed hides B's comparison too
    assert np.isnan(teams.loc["B", "discussed"]) and teams.loc["B", "cases"] == 12
    # The period's comparison (9 discussed of 22) stays: it does not give A's 3 away alone.
    period = out["period"].iloc[0]
    assert period["discussed"] == 9
    assert period["pct_discussed"] == pytest.approx(100 * 9 / 22)


def test_summary_for_a_team_and_a_filter_change(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    summary = follow_up_summary(reader, ServiceFilters(parse_period("2026Q2")), as_of=AS_OF)
    head = summary.headline.iloc[0]
    assert head["cases"] > 0 and not head["suppressed"]
    low, high = head["pct_discussed_on_track_ci_low"], head["pct_discussed_on_track_ci_high"]
    assert low <= head["pct_discussed_on_track"] <= high
    assert list(summary.trend["quarter"]) == summary.quarters
