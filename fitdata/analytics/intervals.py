"""Confidence intervals shared by every page: one formula each, with its source.

:func:`wilson_interval` is the interval of every percentage the dashboards and the report show
(% reliably improved, % recovered, % of SRS below the cutoff, % reliably improved or ended
non-clinical, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fitdata.analytics.change import CRITICAL_VALUE

__all__ = ["wilson_interval"]


def wilson_interval(successes: Any, trials: Any) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval of a proportion, in percent (NaN where ``trials`` is 0 or NaN).

    Wilson (1927), *Probable inference, the law of succession, and statistical inference*,
    JASA 22:209-212; recommended over the normal approximation for small n by Brown, Cai &
    DasGupta (2001). z = 1.959964 (:data:`fitdata.analytics.change.CRITICAL_VALUE`).

    The bounds are clipped to [0, 100], and 0 of n starts at exactly 0 and n of n ends at
    exactly 100, as the formula does in exact arithmetic. In floating point it gives -1e-15 %
    (which a page rounding to one decimal prints as "-0.0") or 99.99999999999999 % for 4 of 4,
    which put a team's 100 % outside its own interval and crashed the report's chart (issue 18).
    Nothing else changes.

    Args:
        successes: Number of successes per row (a count; a fractional count is accepted).
        trials: Number of trials per row.

    Returns:
        Lower and upper bounds in percent (0-100).
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    z = CRITICAL_VALUE
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    valid = n > 0
    low = np.where(valid, np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1) * 100), np.nan)
    high = np.where(valid, np.where(k >= n, 100.0, np.clip(centre + half, 0, 1) * 100), np.nan)
    return low, high
