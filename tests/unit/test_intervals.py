"""One Wilson interval for every page: its clipping changes no value a page shows."""

import numpy as np
import pytest

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.intervals import wilson_interval


def _unclipped(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = CRITICAL_VALUE
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def test_clipping_changes_no_value_shown_to_one_decimal() -> None:
    n = np.repeat(np.arange(1, 301, dtype="float64"), 3)
    k = np.concatenate([[0.0, t / 2, t] for t in np.arange(1, 301, dtype="float64")])
    low, high = wilson_interval(k, n)
    old_low, old_high = _unclipped(k, n)
    # "-0.0" and "0.0" are the same number; the sign of zero is the only thing clipping fixes.
    assert np.array_equal(np.round(low, 1) + 0.0, np.round(old_low, 1) + 0.0)
    assert np.array_equal(np.round(high, 1) + 0.0, np.round(old_high, 1) + 0.0)
    assert (low >= 0).all() and (high <= 100).all()


def test_no_trials_gives_no_interval() -> None:
    low, high = wilson_interval([0, np.nan, 2], [0, np.nan, 4])
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all()
    assert 0 < low[2] < 50 < high[2] < 100


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 33, 100, 999])
def test_all_or_none_end_exactly_at_the_bounds(n: int) -> None:
    # 4 of 4 gave 99.99999999999999 % in floating point, so a team's 100 % lay outside its own
    # interval and the report's chart refused it (issue 18).
    low, high = wilson_interval([0, n], [n, n])
    assert low[0] == 0.0 and high[1] == 100.0
    assert 0.0 < high[0] < 100.0 and 0.0 < low[1] < 100.0
