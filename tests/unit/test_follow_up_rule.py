"""The follow-up rule at its edges (fitdata.analytics.follow_up, issue 22)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.follow_up import FollowUp, follow_up, follow_up_frame
from fitdata.config import DEFAULT_CONFIG

D = dt.date(2025, 3, 3)  # the discussion
LATE = dt.date(2026, 1, 1)  # judged long after: the window is over


def _sessions(rows: list[tuple]) -> pd.DataFrame:
    """(client, session_no, days after D, ors, lower) rows."""
    return pd.DataFrame(
        [
            {
                "client_id": c,
                "session_no": n,
                "session_date": D + dt.timedelta(days=days),
                "ors_total": ors,
                "lower_expected": lower,
            }
            for c, n, days, ors, lower in rows
        ]
    )


def _judge(rows, *, first=None, flagged=("c1",), end=(None, None), as_of=LATE) -> FollowUp:
    return follow_up(D, _sessions(rows), first or {"c1": 17.0, "c2": 17.0}, flagged, end, as_of)


def test_exactly_at_the_line_is_on_track_and_just_below_is_not() -> None:
    assert _judge([("c1", 6, 7, 20.0, 20.0)]).outcome == "back_on_track"
    below = _judge([("c1", 6, 7, 19.9, 20.0), ("c1", 7, 14, 19.9, 20.0)])
    assert below.outcome == "still_off_track"


def test_tie_after_float_arithmetic_is_on_the_line() -> None:
    assert _judge([("c1", 6, 7, 8.2 + 12.1, 20.3)]).outcome == "back_on_track"


def test_reliable_improvement_needs_the_line_and_the_change() -> None:
    # 14 -> 19: exactly the reliable change (5), at the line: reliable improvement.
    first = {"c1": 14.0}
    assert _judge([("c1", 6, 7, 19.0, 19.0)], first=first).outcome == "reliable_improvement"
    # 14 -> 18.9: on track, not reliably improved.
    assert _judge([("c1", 6, 7, 18.9, 18.0)], first=first).outcome == "back_on_track"
    # Reliably improved but still under the line: not back on track.
    assert _judge([("c1", 6, 7, 19.5, 22.0)], first=first).outcome == "still_off_track"


def test_the_windows_last_session_counts_and_the_next_does_not() -> None:
    off = [("c1", n, 7 * (n - 5), 15.0, 20.0) for n in range(6, 9)]
    assert _judge([*off, ("c1", 9, 28, 21.0, 20.0)]).outcome == "back_on_track"
    fifth = _judge([*off, ("c1", 9, 28, 15.0, 20.0), ("c1", 10, 35, 21.0, 20.0)])
    assert fifth.outcome == "still_off_track"
    assert fifth.sessions_since == 5
    assert fifth.window_end == D + dt.timedelta(days=28)


def test_a_session_on_the_discussion_day_is_not_after_it() -> None:
    result = _judge([("c1", 5, 0, 25.0, 20.0)], as_of=D + dt.timedelta(days=1))
    assert result.outcome == "too_early"
    assert result.sessions_since == 0


def test_eight_weeks_is_inside_and_one_day_later_is_outside() -> None:
    at = _judge([("c1", 6, 56, 21.0, 20.0)])
    assert at.outcome == "back_on_track"
    after = _judge([("c1", 6, 57, 21.0, 20.0)])
    assert after.outcome == "still_off_track"
    assert after.window_end == D + dt.timedelta(weeks=8)
    assert after.sessions_since == 1


def test_too_early_while_the_window_is_open() -> None:
    result = _judge([("c1", 6, 7, 15.0, 20.0)], as_of=D + dt.timedelta(days=10))
    assert result == FollowUp("too_early", 1, D + dt.timedelta(weeks=8), False)
    # ... and the day after the 8 weeks it is over.
    over = _judge([("c1", 6, 7, 15.0, 20.0)], as_of=D + dt.timedelta(weeks=8, days=1))
    assert over.outcome == "still_off_track"
    assert over.window_complete
    # Back on track early is already the outcome.
    early = _judge([("c1", 6, 7, 21.0, 20.0)], as_of=D + dt.timedelta(days=10))
    assert early.outcome == "back_on_track"


@pytest.mark.parametrize("kind", ["planned", "unplanned", "transferred"])
def test_episode_ended_inside_the_window(kind: str) -> None:
    end = (D + dt.timedelta(days=20), kind)
    result = _judge([("c1", 6, 7, 15.0, 20.0)], end=end, as_of=D + dt.timedelta(days=25))
    assert result.outcome == f"ended_{kind}"
    assert result.window_complete
    # On track before the end wins over the end.
    on = _judge([("c1", 6, 7, 21.0, 20.0)], end=end, as_of=D + dt.timedelta(days=25))
    assert on.outcome == "back_on_track"


def test_an_end_after_the_window_is_not_the_outcome() -> None:
    end = (D + dt.timedelta(weeks=9), "planned")
    result = _judge([("c1", 6, 7, 15.0, 20.0)], end=end)
    assert result.outcome == "still_off_track"


def test_couple_with_two_flagged_partners_needs_both() -> None:
    rows = [("c1", 6, 7, 21.0, 20.0), ("c2", 6, 7, 15.0, 20.0)]
    assert _judge(rows, flagged=("c1", "c2")).outcome == "still_off_track"
    # Only the flagged partner is judged.
    assert _judge(rows, flagged=("c1",)).outcome == "back_on_track"
    both = [*rows, ("c2", 7, 14, 20.5, 20.0)]
    assert _judge(both, flagged=("c1", "c2")).outcome == "back_on_track"
    # No one named: everyone rated in the window.
    assert _judge(rows, flagged=()).outcome == "still_off_track"


def test_flagged_partner_without_a_rating_in_the_window_is_not_back() -> None:
    rows = [("c1", 6, 7, 21.0, 20.0)]
    assert _judge(rows, flagged=("c1", "c2")).outcome == "still_off_track"


def test_no_expected_line_is_not_judged() -> None:
    rows = [("c1", 6, 7, 30.0, np.nan), ("c1", 7, 14, 30.0, np.nan)]
    assert _judge(rows).outcome == "not_judged"
    # One session judged below the line says off track.
    assert _judge([*rows, ("c1", 8, 21, 15.0, 20.0)]).outcome == "still_off_track"


def test_sessions_after_as_of_are_not_seen() -> None:
    rows = [("c1", 6, 7, 15.0, 20.0), ("c1", 7, 30, 21.0, 20.0)]
    assert _judge(rows, as_of=D + dt.timedelta(days=20)).outcome == "too_early"
    assert _judge(rows).outcome == "back_on_track"


def test_frame_equals_one_by_one() -> None:
    rng = np.random.default_rng(7)
    rows, starts, episodes, expected = [], [], [], []
    for e in range(60):
        start = D + dt.timedelta(days=int(rng.integers(0, 40)))
        n = int(rng.integers(0, 7))
        sess = [
            (
                "a" if i % 2 == 0 or e % 3 else "b",
                10 + i,
                int(rng.integers(-10, 80)),
                float(rng.integers(100, 300)) / 10,
                np.nan if rng.random() < 0.1 else float(rng.integers(150, 250)) / 10,
            )
            for i in range(n)
        ]
        ended = (
            (start + dt.timedelta(days=int(rng.integers(1, 90))), "planned")
            if e % 4 == 0
            else (None, None)
        )
        frame = pd.DataFrame(
            [
                {
                    "client_id": c,
                    "session_no": s,
                    "session_date": D + dt.timedelta(days=d),
                    "ors_total": o,
                    "lower_expected": lo,
                }
                for c, s, d, o, lo in sess
            ],
            columns=["client_id", "session_no", "session_date", "ors_total", "lower_expected"],
        )
        flagged = ("a",) if e % 5 else ()
        as_of = D + dt.timedelta(days=60)
        one = follow_up(start, frame, {"a": 15.0, "b": 12.0}, flagged, ended, as_of)
        expected.append(one.outcome)
        frame = frame.assign(
            episode_id=f"e{e}", first_ors=frame["client_id"].map({"a": 15.0, "b": 12.0})
        )
        rows.append(frame)
        starts.append({"key": e, "episode_id": f"e{e}", "start": start, "clients": flagged})
        episodes.append({"episode_id": f"e{e}", "ended": ended[0], "end_type": ended[1]})
    many = follow_up_frame(
        pd.DataFrame(starts),
        pd.concat(rows),
        pd.DataFrame(episodes),
        as_of=D + dt.timedelta(days=60),
        config=DEFAULT_CONFIG,
    )
    assert list(many["outcome"]) == expected
    assert len(set(expected)) >= 4


def test_at_session_is_when_the_last_judged_partner_was_back() -> None:
    rows = [
        ("c1", 6, 7, 21.0, 20.0),
        ("c2", 6, 7, 15.0, 20.0),
        ("c2", 7, 14, 15.0, 20.0),
        ("c2", 8, 21, 20.0, 20.0),
    ]
    result = _judge(rows, flagged=("c1", "c2"))
    assert (result.outcome, result.at_session) == ("back_on_track", 3)
    assert _judge(rows[1:3], flagged=("c2",)).at_session is None
