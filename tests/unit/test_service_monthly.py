"""The facts-by-month helpers the couples' and the discussed cases' sections share."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fitdata.analytics.intervals import wilson_interval
from fitdata.features.service.monthly import add_shares, group_codes, month_of


def test_group_codes_number_the_groups_as_a_sorted_groupby_does() -> None:
    rng = np.random.default_rng(7)
    rows = {
        "team_id": rng.choice(["T10", "T2", "T03"], 500).astype(object),
        "quarter": rng.choice(["2025Q1", "2024Q4", "2025Q2"], 500).astype(object),
        "x": rng.integers(0, 5, 500),
    }
    columns, codes, n = group_codes(rows, ["team_id", "quarter"])
    frame = pd.DataFrame(rows)
    expected = frame.groupby(["team_id", "quarter"], sort=True)["x"].sum().reset_index()
    assert n == len(expected) == 9
    assert list(columns) == ["team_id", "quarter"]
    assert list(columns["team_id"]) == list(expected["team_id"])
    assert list(columns["quarter"]) == list(expected["quarter"])
    sums = np.bincount(codes, weights=rows["x"].astype(float), minlength=n)
    assert sums.tolist() == expected["x"].astype(float).tolist()


def test_without_keys_all_rows_are_one_group_and_no_rows_none() -> None:
    columns, codes, n = group_codes({"x": np.array([1, 2, 3])}, [])
    assert columns == {} and codes.tolist() == [0, 0, 0] and n == 1
    assert group_codes({"x": np.array([], dtype=int)}, [])[2] == 0


def test_shares_are_percent_with_wilson_intervals_and_nan_over_none() -> None:
    columns = {"k": np.array([3, 0, 0]), "n": np.array([4, 5, 0])}
    add_shares(columns, [("pct", "k", "n")])
    assert columns["pct"][:2].tolist() == [75.0, 0.0] and np.isnan(columns["pct"][2])
    low, high = wilson_interval(np.array([3.0]), np.array([4.0]))
    assert columns["pct_ci_low"][0] == low[0] and columns["pct_ci_high"][0] == high[0]


def test_month_of_counts_months_from_year_zero() -> None:
    assert month_of(dt.date(2025, 1, 31)) == 2025 * 12
    assert month_of(dt.date(2025, 12, 1)) - month_of(dt.date(2024, 12, 1)) == 12
