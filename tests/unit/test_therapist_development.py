"""Pure parts of features.therapist_development: intervals, periods and bands, by hand."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from fitdata.analytics.intervals import wilson_interval
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.features.therapist_development import comparison
from fitdata.features.therapist_development.tables import (
    intake_bands,
    quarter_label,
    srs_bands,
    with_periods,
)
from tests.unit.test_trajectory import CODE_PREFIXES, key_follows_source, modules_computing


def test_wilson_interval_by_hand_and_against_statsmodels() -> None:
    low, high = wilson_interval(np.array([3.0]), np.array([5.0]))
    z = 1.959964
    p, n = 0.6, 5
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert low[0] == pytest.approx(100 * (centre - half))
    assert high[0] == pytest.approx(100 * (centre + half))
    for k, total in ((0, 7), (7, 7), (12, 40)):
        reference = proportion_confint(k, total, alpha=0.05, method="wilson")
        low, high = wilson_interval(np.array([k]), np.array([total]))
        assert (low[0], high[0]) == pytest.approx(
            (100 * reference[0], 100 * reference[1]), abs=1e-4
        )


def test_wilson_interval_is_missing_without_cases() -> None:
    low, high = wilson_interval(np.array([0.0, np.nan]), np.array([0.0, np.nan]))
    assert np.isnan(low).all() and np.isnan(high).all()


def test_quarter_labels() -> None:
    assert quarter_label(2026 * 4 + 2) == "2026Q3"
    assert quarter_label(2025 * 4) == "2025Q1"


def _rows(dates: list[dt.date]) -> pd.DataFrame:
    return pd.DataFrame({"ended": pd.to_datetime(dates), "client_id": range(len(dates))})


def test_single_quarters_follow_the_ending_date() -> None:
    rows = _rows([dt.date(2025, 3, 31), dt.date(2025, 4, 1)])
    out = with_periods(rows, "quarter", [2025 * 4, 2025 * 4 + 1])
    assert out["period"].tolist() == ["2025Q1", "2025Q2"]


def test_rolling_year_puts_each_episode_in_four_full_windows() -> None:
    quarters = list(range(2024 * 4, 2025 * 4 + 4))  # 2024Q1 .. 2025Q4
    rows = _rows([dt.date(2024, 5, 1)])  # 2024Q2
    out = with_periods(rows, "rolling_year", quarters)
    # Windows end in 2024Q2..2025Q1; only full windows (ending 2024Q4 or later) are kept.
    assert out["period"].tolist() == ["2024Q4", "2025Q1"]
    with pytest.raises(ValueError, match="grouping must be one of"):
        with_periods(rows, "month", quarters)


def test_srs_bands_at_the_ties() -> None:
    bands = srs_bands(pd.Series([35.9, 36.0, 39.9, 40.0, None], dtype="float64"), DEFAULT_CONFIG)
    assert bands.tolist() == ["below_cutoff", "cutoff_to_39", "cutoff_to_39", "max_40", None]


def test_intake_bands_use_the_age_group_cutoff_and_its_tie_rule() -> None:
    rows = pd.DataFrame(
        {
            "first_ors": [14.9, 15.0, 24.9, 25.0, 21.9, 32.0],
            "age_group": ["adult", "adult", "adult", "adult", "child", "child"],
        }
    )
    assert intake_bands(rows, DEFAULT_CONFIG).tolist() == [
        "well_below", "below", "below", "non_clinical", "well_below", "non_clinical",
    ]  # fmt: skip
    at_cutoff_clinical = ClinicalConfig(score_at_cutoff_is_clinical=True)
    assert intake_bands(rows, at_cutoff_clinical).tolist()[3] == "below"


def test_the_stored_comparison_is_keyed_on_every_module_that_computes_it(tmp_path) -> None:
    """A changed byte in any module the comparison runs gives a new key: no stale figures."""
    package = "fitdata.features.therapist_development"
    needed = modules_computing(f"{package}.comparison", prefixes=(*CODE_PREFIXES, package))
    assert {f"{package}.tables", "fitdata.analytics.intervals", "fitdata.vocabulary"} <= needed
    assert needed - set(comparison.CODE_MODULES) == set()
    for module in sorted(set(comparison.CODE_MODULES)):
        key = lambda: comparison._stored_key("Voksne", DEFAULT_CONFIG)  # noqa: E731
        assert key_follows_source(module, key, tmp_path), f"editing {module} keeps the old key"
