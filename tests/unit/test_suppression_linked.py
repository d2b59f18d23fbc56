"""The complementary suppression rule, on hand-made lines and tables (issue 18).

``tests/unit/test_suppression_attacks.py`` attacks whole pages; these tests pin the rule's
parts: which cell is hidden as the complement, that the rule repeats across crossing lines,
that a hidden total hides a part, which lines link the four groupings, and the gate on
client-episodes with change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.analytics.suppression import complementary_suppression, suppress_small_cells
from fitdata.config import DEFAULT_CONFIG
from fitdata.features.service.linked import aligned_quarters, linked_lines, linked_suppression


def test_one_hidden_part_hides_the_next_smallest():
    # total 0 = parts 1..4 (clients 20 = 3 + 6 + 5 + 6): 3 is small, 5 is the next smallest
    hidden = np.array([False, True, False, False, False])
    sizes = np.array([20, 3, 6, 5, 6])
    out = complementary_suppression(hidden, sizes, [(0, [1, 2, 3, 4])])
    assert out.tolist() == [False, True, False, True, False]


def test_two_hidden_parts_need_nothing_more():
    hidden = np.array([False, True, True, False])
    out = complementary_suppression(hidden, np.array([12, 3, 4, 5]), [(0, [1, 2, 3])])
    assert out.tolist() == hidden.tolist()


def test_a_hidden_total_hides_a_part():
    # a total hidden while every part is shown is the sum of the parts
    hidden = np.array([True, False, False])
    out = complementary_suppression(hidden, np.array([9, 5, 6]), [(0, [1, 2])])
    assert out.tolist() == [True, True, False]


def test_the_rule_repeats_across_crossing_lines():
    # A 2 x 2 table with margins: rows r0 = a + b, r1 = c + d; columns k0 = a + c, k1 = b + d.
    # a is small; hiding b (row r0) leaves b alone in column k1, so d is hidden, and then d
    # alone in row r1 ... until each line has two hidden cells.
    a, b, c, d, r0, r1, k0, k1 = range(8)
    hidden = np.zeros(8, dtype=bool)
    hidden[a] = True
    sizes = np.array([3, 6, 9, 7, 9, 16, 12, 13])
    lines = [(r0, [a, b]), (r1, [c, d]), (k0, [a, c]), (k1, [b, d])]
    out = complementary_suppression(hidden, sizes, lines)
    assert out[[a, b, c, d]].all()
    for total, parts in lines:
        assert out[[total, *parts]].sum() != 1


def test_ties_take_the_first_and_unknown_sizes_come_last():
    hidden = np.array([False, True, False, False, False])
    sizes = np.array([30, 2, np.nan, 7, 7])
    out = complementary_suppression(hidden, sizes, [(0, [1, 2, 3, 4])])
    assert out.tolist() == [False, True, False, True, False]


def test_quarters_make_a_period_only_when_it_is_whole_quarters():
    month = lambda year, m: year * 12 + m - 1  # noqa: E731
    assert aligned_quarters(month(2025, 1), month(2025, 3)) == ["2025Q1"]
    assert aligned_quarters(month(2025, 1), month(2025, 12)) == [
        "2025Q1",
        "2025Q2",
        "2025Q3",
        "2025Q4",
    ]
    assert aligned_quarters(month(2025, 2), month(2025, 2)) is None
    assert aligned_quarters(month(2025, 1), month(2025, 4)) is None


def _frames() -> dict[str, pd.DataFrame]:
    """A year of two teams; team B has a small first quarter and a small year."""
    team_quarters = pd.DataFrame(
        {
            "team_id": ["A", "A", "B", "B"],
            "quarter": ["2025Q1", "2025Q2", "2025Q1", "2025Q2"],
            "clients": [10, 12, 2, 2],
            "episodes_with_change": [9, 11, 2, 2],
            "pct_target": [50.0, 60.0, 100.0, 50.0],
        }
    )
    return {
        "period": pd.DataFrame(
            {"clients": [26], "episodes_with_change": [24], "pct_target": [62.5]}
        ),
        "teams": pd.DataFrame(
            {
                "team_id": ["A", "B"],
                "clients": [22, 4],
                "episodes_with_change": [20, 4],
                "pct_target": [55.0, 75.0],
            }
        ),
        "quarters": pd.DataFrame(
            {
                "quarter": ["2025Q1", "2025Q2"],
                "clients": [12, 14],
                "episodes_with_change": [11, 13],
                "pct_target": [63.6, 61.5],
            }
        ),
        "team_quarters": team_quarters,
    }


def test_the_lines_of_a_year():
    lines, offsets = linked_lines(_frames(), ["2025Q1", "2025Q2", "2025Q3", "2025Q4"])
    as_sets = {(total, frozenset(np.asarray(parts).tolist())) for total, parts in lines}
    p, t, q, tq = (offsets[k] for k in ("period", "teams", "quarters", "team_quarters"))
    assert as_sets == {
        (p, frozenset({t, t + 1})),  # the year = its teams
        (q, frozenset({tq, tq + 2})),  # 2025Q1 = A + B in it
        (q + 1, frozenset({tq + 1, tq + 3})),  # 2025Q2 = A + B in it
        (p, frozenset({q, q + 1})),  # the year = its quarters
        (t, frozenset({tq, tq + 1})),  # A's year = A's quarters
        (t + 1, frozenset({tq + 2, tq + 3})),  # B's year = B's quarters
    }
    month_lines, _ = linked_lines(_frames(), None)
    assert len(month_lines) == 3  # a month: only the teams and the quarters' teams


def test_a_small_team_hides_its_partner_in_every_linked_table():
    out = linked_suppression(_frames(), ["2025Q1", "2025Q2"], DEFAULT_CONFIG)
    # B (4 clients) is hidden, so A is too (the year's total minus A would give B) ...
    assert out["teams"]["suppressed"].tolist() == [True, True]
    # ... and B's quarters (2, 2), and then A's quarters (each quarter = A + B).
    assert out["team_quarters"]["suppressed"].all()
    assert not out["period"]["suppressed"].any()
    assert not out["quarters"]["suppressed"].any()
    assert out["teams"][["clients", "pct_target"]].isna().all(axis=None)


def test_statistics_over_change_are_gated_on_what_they_count():
    table = pd.DataFrame(
        {
            "team_id": ["A", "B"],
            "clients": [8, 6],
            "episodes_with_change": [7, 3],
            "effect_size": [0.9, 3.37],
            "pct_target": [70.0, 66.7],
            "sessions_mean": [5.0, 4.0],
        }
    )
    shown = suppress_small_cells(table, keys=["team_id"])
    assert shown["pct_target"].tolist() == [70.0, 66.7]  # the gate is opt-in
    gated = suppress_small_cells(table, keys=["team_id"], gate_change=True)
    assert gated.loc[1, ["effect_size", "pct_target"]].isna().all()
    assert gated.loc[1, ["clients", "episodes_with_change", "sessions_mean"]].tolist() == [6, 3, 4]
    assert not gated["suppressed"].any()
    assert gated.loc[0, "pct_target"] == 70.0


def test_the_development_pages_change_statistics_are_gated_too():
    # The therapist development page names its measures differently; every one computed over
    # client-episodes with change is gated, with its interval; unplanned endings (over closed
    # episodes) and the intake mean (over clients) are not.
    from fitdata.features.therapist_development.tables import outcome_columns

    columns = outcome_columns(["level", "period"])
    table = pd.DataFrame([dict.fromkeys(columns, 1.0)] * 2)
    table["level"], table["period"] = "therapist", ["2025Q1", "2025Q2"]
    table["clients"], table["closed_episodes"] = 6, 6
    table["episodes_with_change"] = [6, 4]
    gated = suppress_small_cells(table, keys=["level", "period"], gate_change=True)
    change_based = [
        c
        for c in columns
        if c.startswith(("effect_size", "severity_adjusted", "pct_reliable", "pct_recovered"))
    ]
    assert len(change_based) == 12
    assert gated.loc[1, change_based].isna().all()
    assert gated.loc[0, change_based].notna().all()
    assert gated.loc[1, ["pct_unplanned", "intake_ors_mean", "episodes_with_change"]].notna().all()
