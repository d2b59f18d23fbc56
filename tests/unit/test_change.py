"""Tests for fitdata.analytics.change: Jacobson & Truax change and the PCOMS layer.

Reference numbers come from the R package clinicalsignificance (Benedikt Claus, GPL >= 3):
its test snapshots for the ``jacobson_1989`` data set (transcribed to data/jacobson_1989.csv,
see the header there). Other examples are computed by hand from the published formulas.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fitdata.analytics import change as change_module
from fitdata.analytics.change import CATEGORIES, CRITICAL_VALUE, jacobson_truax, pcoms_change
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from tests.oracles.thresholds import is_clinical

DATA = Path(__file__).parent / "data"
SQRT10 = math.sqrt(10)

# Hand-computed example. pre = 10, 12, ..., 18: mean 14, SD (n - 1) = sqrt(10); with r = .9,
# S_diff = sqrt(2) * sqrt(10) * sqrt(.1) = sqrt(2), so RCI = change / sqrt(2) and a change
# of more than 1.959964 * sqrt(2) = 2.77 points is reliable.
PRE_UP = [10.0, 12.0, 14.0, 16.0, 18.0]
# The mirror image for a lower-is-better measure: mean 26, SD sqrt(10).
PRE_DOWN = [30.0, 28.0, 26.0, 24.0, 22.0]

FLIPPED = ClinicalConfig(score_at_cutoff_is_clinical=True, change_at_threshold_is_reliable=False)
AGE_CUTOFFS = [("adult", 25.0), ("adolescent", 28.0), ("child", 32.0)]


def categories(result: pd.DataFrame) -> list[str | None]:
    return [None if pd.isna(c) else str(c) for c in result["category"]]


def counts(result: pd.DataFrame) -> dict[str, int]:
    return {c: int(n) for c, n in result["category"].value_counts(sort=False).items()}


# --------------------------------------------------------------------------------------------
# Reference examples: clinicalsignificance on jacobson_1989
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jacobson_1989() -> pd.DataFrame:
    return pd.read_csv(DATA / "jacobson_1989.csv", comment="#", index_col="subject")


def test_reference_jacobson_1989_gds_cutoff_a(jacobson_1989):
    # clinicalsignificance tests/testthat/_snaps/clinical_significance.md:
    # clinical_significance(jacobson_1989, subject, time, gds, reliability = 0.8, pre = "pre",
    #   method = "JT")  ->  Recovered 10, Improved 4, Unchanged 12, Deteriorated 0, Harmed 0
    # (GDS: lower is better; default cutoff a; 26 of 30 couples have both scores).
    result = jacobson_truax(
        jacobson_1989["gds_pre"],
        jacobson_1989["gds_post"],
        reliability=0.80,
        higher_is_better=False,
    )
    assert counts(result) == {
        "recovered": 10,
        "improved": 4,
        "unchanged": 12,
        "deteriorated": 0,
        "harmed": 0,
    }
    assert result.attrs["n_complete"] == 26
    assert result["category"].isna().sum() == 4
    assert result.loc[[27, 28, 29, 30], "category"].isna().all()
    assert result.index.equals(jacobson_1989.index)
    # M_clin and SD_clin come from the pre scores of the 26 complete cases only.
    complete_pre = jacobson_1989["gds_pre"][jacobson_1989["gds_post"].notna()]
    assert result.attrs["mean_pre"] == pytest.approx(complete_pre.mean())
    assert result.attrs["sd_pre"] == pytest.approx(complete_pre.std(ddof=1))
    assert result.attrs["cutoff"] == pytest.approx(
        result.attrs["mean_pre"] - 2 * result.attrs["sd_pre"]
    )


def test_reference_jacobson_1989_gds_cutoff_c(jacobson_1989):
    # clinicalsignificance tests/testthat/test-cs_get_cutoff.R: cutoff c for gds with
    # m_functional = 60, sd_functional = 7.5 is expected to equal 65.047305.
    result = jacobson_truax(
        jacobson_1989["gds_pre"],
        jacobson_1989["gds_post"],
        reliability=0.80,
        higher_is_better=False,
        cutoff="c",
        functional_mean=60,
        functional_sd=7.5,
    )
    assert result.attrs["cutoff"] == pytest.approx(65.047305, abs=1e-6)
    assert result.attrs["cutoff_type"] == "c"


def test_reference_jacobson_1989_mirrored_scale_gives_same_counts(jacobson_1989):
    # The same reference example on the negated scale (now higher is better).
    result = jacobson_truax(
        -jacobson_1989["gds_pre"],
        -jacobson_1989["gds_post"],
        reliability=0.80,
        higher_is_better=True,
    )
    assert counts(result) == {
        "recovered": 10,
        "improved": 4,
        "unchanged": 12,
        "deteriorated": 0,
        "harmed": 0,
    }


def test_reference_data_first_rows_match_clinicalsignificance_snapshot(jacobson_1989):
    # tests/testthat/_snaps/prep_data.md prints subjects 1-5 (das, gds) and 1-10 (gds).
    assert jacobson_1989.loc[1:5, ["das_pre", "das_post"]].to_numpy().tolist() == [
        [90.5, 97.0],
        [74.0, 124.0],
        [97.0, 97.5],
        [73.5, 88.0],
        [61.0, 96.5],
    ]
    assert jacobson_1989.loc[1:10, "gds_post"].tolist() == [
        62.5,
        56.0,
        58.0,
        71.0,
        60.5,
        77.0,
        58.5,
        52.0,
        65.5,
        73.0,
    ]


# --------------------------------------------------------------------------------------------
# Hand-computed examples
# --------------------------------------------------------------------------------------------


def test_rci_and_s_diff_by_hand():
    result = jacobson_truax(PRE_UP, [22.0, 16.0, 15.0, 12.0, 18.0], reliability=0.9)
    assert result.attrs["sd_pre"] == pytest.approx(SQRT10)
    assert result.attrs["s_diff"] == pytest.approx(math.sqrt(2))
    assert result.attrs["critical_value"] == 1.959964
    assert result["change"].tolist() == [12.0, 4.0, 1.0, -4.0, 0.0]
    np.testing.assert_allclose(
        result["rci"], [8.485281374, 2.828427125, 0.707106781, -2.828427125, 0.0]
    )


@pytest.mark.parametrize(
    (
        "pre",
        "post",
        "higher",
        "kwargs",
        "cutoff",
        "expected_categories",
        "expected_clinical",
        "expected_functional",
    ),
    [
        pytest.param(
            PRE_UP,
            [22.0, 16.0, 15.0, 12.0, 18.0],
            True,
            {"cutoff": "a"},
            14 + 2 * SQRT10,  # 20.3246
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="a-higher",
        ),
        pytest.param(
            PRE_DOWN,
            [18.0, 24.0, 25.0, 28.0, 22.0],
            False,
            {"cutoff": "a"},
            26 - 2 * SQRT10,  # 19.6754
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="a-lower",
        ),
        pytest.param(
            # b = 30 - 2 * 4 = 22; post 22 is exactly at b: not functional (strict).
            PRE_UP,
            [23.0, 22.0, 15.0, 12.0, 18.0],
            True,
            {"cutoff": "b", "functional_mean": 30, "functional_sd": 4},
            22.0,
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="b-higher",
        ),
        pytest.param(
            # b = 10 + 2 * 3 = 16; post 16 is exactly at b: not functional.
            PRE_DOWN,
            [15.0, 16.0, 25.0, 28.0, 22.0],
            False,
            {"cutoff": "b", "functional_mean": 10, "functional_sd": 3},
            16.0,
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="b-lower",
        ),
        pytest.param(
            # c = (sqrt(10) * 30 + 4 * 14) / (sqrt(10) + 4) = 21.0643
            PRE_UP,
            [21.5, 21.0, 15.0, 12.0, 18.0],
            True,
            {"cutoff": "c", "functional_mean": 30, "functional_sd": 4},
            21.064295042,
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="c-higher",
        ),
        pytest.param(
            # c = (sqrt(10) * 10 + 3 * 26) / (sqrt(10) + 3) = 17.7893
            PRE_DOWN,
            [17.5, 18.0, 25.0, 28.0, 22.0],
            False,
            {"cutoff": "c", "functional_mean": 10, "functional_sd": 3},
            17.789327688,
            ["recovered", "improved", "unchanged", "deteriorated", "unchanged"],
            [True] * 5,
            [True, False, False, False, False],
            id="c-lower",
        ),
        pytest.param(
            # Numeric cutoff 13: 14, 16, 18 start outside the clinical range. 16 -> 10 is a
            # reliable worsening from non-clinical to clinical: harmed. 12 -> 13 ends exactly
            # at the cutoff: not functional.
            PRE_UP,
            [14.0, 13.0, 20.0, 10.0, 18.0],
            True,
            {"cutoff": 13},
            13.0,
            ["recovered", "unchanged", "improved", "harmed", "unchanged"],
            [True, True, False, False, False],
            [True, False, True, False, True],
            id="number-higher",
        ),
        pytest.param(
            PRE_DOWN,
            [26.0, 27.0, 20.0, 30.0, 22.0],
            False,
            {"cutoff": 27.0},
            27.0,
            ["recovered", "unchanged", "improved", "harmed", "unchanged"],
            [True, True, False, False, False],
            [True, False, True, False, True],
            id="number-lower",
        ),
    ],
)
def test_cutoffs_by_hand(
    pre,
    post,
    higher,
    kwargs,
    cutoff,
    expected_categories,
    expected_clinical,
    expected_functional,
):
    result = jacobson_truax(pre, post, reliability=0.9, higher_is_better=higher, **kwargs)
    assert result.attrs["cutoff"] == pytest.approx(cutoff, abs=1e-8)
    assert categories(result) == expected_categories
    assert result["clinical_pre"].tolist() == expected_clinical
    assert result["functional_post"].tolist() == expected_functional


def test_pre_exactly_at_cutoff_is_not_clinical_in_either_direction():
    up = jacobson_truax([25.0, 24.9], [25.0, 25.1], reliable_change=5, cutoff=25.0)
    assert up["clinical_pre"].tolist() == [False, True]
    assert up["functional_post"].tolist() == [False, True]
    down = jacobson_truax(
        [25.0, 25.1], [25.0, 24.9], reliable_change=5, cutoff=25.0, higher_is_better=False
    )
    assert down["clinical_pre"].tolist() == [False, True]
    assert down["functional_post"].tolist() == [False, True]


def test_fixed_reliable_change_is_strict_and_ignores_float_noise():
    # The noise this guards against, in both directions:
    assert 20.1 - 15.1 == 5.000000000000002 and 8.2 - 3.2 == 4.999999999999999
    result = jacobson_truax(
        [15.1, 3.2, 25.1, 25.0, 25.0],
        [20.1, 8.2, 30.2, 20.0, 19.9],
        reliable_change=5,
        cutoff=25.0,
    )
    assert result["change"].tolist() == [5.0, 5.0, 5.1, -5.0, -5.1]
    assert categories(result) == ["unchanged", "unchanged", "improved", "unchanged", "harmed"]
    # A boundary just below 5 (as pcoms_change uses) takes both noisy 5.0s as reliable.
    below = jacobson_truax([15.1, 3.2], [20.1, 8.2], reliable_change=4.95, cutoff=25.0)
    assert categories(below) == ["improved", "improved"]
    assert math.isnan(result["rci"].iloc[0])
    assert result.attrs["reliable_change"] == 5.0
    assert result.attrs["critical_value"] is None
    assert result.attrs["s_diff"] is None


def test_fixed_reliable_change_lower_is_better():
    result = jacobson_truax(
        [20.1, 30.1, 20.0],
        [15.1, 25.0, 25.0],
        reliable_change=5,
        cutoff=27.0,
        higher_is_better=False,
    )
    assert categories(result) == ["unchanged", "recovered", "unchanged"]


def test_rci_exactly_at_critical_value_is_not_reliable():
    s_diff = math.sqrt(2) * float(np.std(PRE_UP, ddof=1)) * math.sqrt(1 - 0.9)
    at = CRITICAL_VALUE * s_diff
    post = [10.0 + at, 12.0 + at + 1e-6, 14.0 - at, 16.0 - at - 1e-6, 18.0]
    result = jacobson_truax(PRE_UP, post, reliability=0.9, cutoff=100.0)
    assert categories(result) == ["unchanged", "improved", "unchanged", "deteriorated", "unchanged"]


def test_missing_scores_keep_their_row():
    pre = pd.Series([10.0, 12.0, None, 16.0, 18.0, 20.0], index=list("abcdef"))
    post = pd.Series([22.0, None, 15.0, 12.0, 18.0, np.nan], index=list("abcdef"))
    result = jacobson_truax(pre, post, reliability=0.9)
    assert list(result.index) == list("abcdef")
    assert categories(result)[1:3] == [None, None]
    assert pd.isna(result.loc["f", "category"])
    assert bool(result.loc["b", "clinical_pre"])  # pre 12 is known even though post is not
    assert pd.isna(result.loc["b", "functional_post"])
    assert pd.isna(result.loc["c", "clinical_pre"])
    assert math.isnan(result.loc["b", "change"]) and math.isnan(result.loc["b", "rci"])
    # Only the complete cases a, d, e enter the SD: pre 10, 16, 18.
    assert result.attrs["sd_pre"] == pytest.approx(np.std([10.0, 16.0, 18.0], ddof=1))
    assert result.attrs["n_complete"] == 3


def test_result_structure():
    result = jacobson_truax(np.array(PRE_UP), (22, 16, 15, 12, 18), reliability=0.9)
    assert list(result.columns) == [
        "pre",
        "post",
        "change",
        "rci",
        "clinical_pre",
        "functional_post",
        "category",
    ]
    assert isinstance(result.index, pd.RangeIndex)
    dtype = result["category"].dtype
    assert isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
    assert tuple(dtype.categories) == CATEGORIES
    assert str(result["clinical_pre"].dtype) == "boolean"
    for key in (
        "sd_pre",
        "s_diff",
        "critical_value",
        "reliable_change",
        "cutoff",
        "reliability",
        "cutoff_type",
        "rule",
    ):
        assert key in result.attrs
    assert "1.959964" in result.attrs["rule"]


def test_functional_statistics_are_ignored_for_cutoff_a():
    plain = jacobson_truax(PRE_UP, [22.0, 16.0, 15.0, 12.0, 18.0], reliability=0.9)
    extra = jacobson_truax(
        PRE_UP,
        [22.0, 16.0, 15.0, 12.0, 18.0],
        reliability=0.9,
        functional_mean=1,
        functional_sd=1,
    )
    assert extra.attrs["cutoff"] == plain.attrs["cutoff"]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "neither was given"),
        ({"reliability": 0.8, "reliable_change": 5}, "both were given"),
        ({"reliability": 0.0}, "between 0 and 1"),
        ({"reliability": 1.0}, "between 0 and 1"),
        ({"reliability": -0.8}, "between 0 and 1"),
        ({"reliability": 1.1}, "between 0 and 1"),
        ({"reliability": "0.8"}, "reliability must be a number"),
        ({"reliability": float("nan")}, "reliability must be finite"),
        ({"reliable_change": 0}, "reliable_change must be a number of points > 0"),
        ({"reliable_change": -5}, "reliable_change must be a number of points > 0"),
        ({"reliability": 0.8, "cutoff": "d"}, "unknown cutoff 'd'"),
        ({"reliability": 0.8, "cutoff": "A"}, "unknown cutoff 'A'"),
        ({"reliability": 0.8, "cutoff": True}, "cutoff must be a number"),
        ({"reliability": 0.8, "cutoff": "b"}, "missing: functional_mean and functional_sd"),
        ({"reliability": 0.8, "cutoff": "b", "functional_sd": 7}, "missing: functional_mean"),
        ({"reliability": 0.8, "cutoff": "c", "functional_mean": 7}, "missing: functional_sd"),
        (
            {"reliability": 0.8, "cutoff": "c", "functional_mean": 7, "functional_sd": 0},
            "functional_sd must be > 0",
        ),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jacobson_truax(PRE_UP, PRE_UP, **kwargs)


@pytest.mark.parametrize(
    ("pre", "post", "message"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "same length: pre has 3, post has 2"),
        (["a", "b", "c"], [1.0, 2.0, 3.0], "pre must be numeric scores"),
        ([1.0, 2.0, 3.0], [True, False, True], "post must be numeric scores, not booleans"),
        ([1.0, 2.0, np.inf], [1.0, 2.0, 3.0], "pre contains an infinite value"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "one-dimensional"),
        (
            pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3]),
            pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2]),
            "different indexes",
        ),
    ],
)
def test_input_errors(pre, post, message):
    with pytest.raises(ValueError, match=message):
        jacobson_truax(pre, post, reliability=0.8)


def test_too_few_complete_cases_for_an_sd():
    with pytest.raises(ValueError, match="at least two complete cases"):
        jacobson_truax([10.0, 12.0], [11.0, None], reliability=0.8)
    with pytest.raises(ValueError, match="SD of the pre scores of the complete cases is 0"):
        jacobson_truax([10.0, 10.0], [11.0, 12.0], reliability=0.8, cutoff=20.0)
    # A fixed reliable change with a numeric cutoff needs no SD, so one case is fine.
    assert categories(jacobson_truax([10.0], [16.0], reliable_change=5, cutoff=12.0)) == [
        "recovered"
    ]


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

ONE_DECIMAL = st.integers(0, 400).map(lambda i: i / 10)


@st.composite
def paired(draw, *, missing: bool = False, min_size: int = 3, max_size: int = 25):
    n = draw(st.integers(min_size, max_size))
    score = st.one_of(st.just(float("nan")), ONE_DECIMAL) if missing else ONE_DECIMAL
    pre = np.array(draw(st.lists(score, min_size=n, max_size=n)))
    post = np.array(draw(st.lists(score, min_size=n, max_size=n)))
    return pre, post


@st.composite
def rules(draw, *, reliability_only: bool = False):
    """Keyword arguments of jacobson_truax: a change rule and a cutoff."""
    if reliability_only or draw(st.booleans()):
        kwargs: dict = {"reliability": draw(st.floats(0.05, 0.99))}
    else:
        kwargs = {"reliable_change": draw(st.integers(1, 100).map(lambda i: i / 10))}
    cutoff = draw(st.one_of(st.sampled_from(["a", "b", "c"]), ONE_DECIMAL))
    kwargs["cutoff"] = cutoff
    if cutoff in ("b", "c"):
        kwargs["functional_mean"] = draw(ONE_DECIMAL)
        kwargs["functional_sd"] = draw(st.integers(1, 100).map(lambda i: i / 10))
    return kwargs


def usable(pre: np.ndarray, post: np.ndarray) -> bool:
    """Two complete cases and pre scores that differ (the RCI's SD is then > 0).

    Not ``np.std(...) > 0``: equal pre scores such as 0.1, 0.1, 0.1 have a floating-point SD of
    about 1e-17, which passed, and the same scores shifted by -0.1 have an SD of exactly 0, which
    ``jacobson_truax`` rightly refuses, so a shift test failed now and then on generated data.
    """
    complete = ~(np.isnan(pre) | np.isnan(post))
    return complete.sum() >= 2 and len(np.unique(pre[complete])) > 1


@settings(max_examples=150, deadline=None)
@given(scores=paired(missing=True), kwargs=rules(), higher=st.booleans())
def test_negating_scores_and_direction_changes_no_category(scores, kwargs, higher):
    pre, post = scores
    assume(usable(pre, post))
    mirrored = dict(kwargs)
    if not isinstance(kwargs["cutoff"], str):
        mirrored["cutoff"] = -kwargs["cutoff"]
    if "functional_mean" in kwargs:
        mirrored["functional_mean"] = -kwargs["functional_mean"]
    result = jacobson_truax(pre, post, higher_is_better=higher, **kwargs)
    negated = jacobson_truax(-pre, -post, higher_is_better=not higher, **mirrored)
    assert result["category"].equals(negated["category"])
    assert result["clinical_pre"].equals(negated["clinical_pre"])
    assert result["functional_post"].equals(negated["functional_post"])
    np.testing.assert_array_equal(-result["rci"].to_numpy(), negated["rci"].to_numpy())
    assert negated.attrs["cutoff"] == -result.attrs["cutoff"]


@settings(max_examples=150, deadline=None)
@given(
    scores=paired(missing=True),
    kwargs=rules(reliability_only=True),
    shift=st.integers(-300, 300).map(lambda i: i / 10),
    higher=st.booleans(),
)
def test_adding_a_constant_changes_no_rci(scores, kwargs, shift, higher):
    pre, post = scores
    assume(usable(pre, post))
    kwargs["cutoff"] = "a"  # the cutoff moves with the data, so categories must not change
    result = jacobson_truax(pre, post, higher_is_better=higher, **kwargs)
    shifted = jacobson_truax(pre + shift, post + shift, higher_is_better=higher, **kwargs)
    np.testing.assert_allclose(shifted["rci"], result["rci"], rtol=1e-9, atol=1e-9)
    assert shifted.attrs["sd_pre"] == pytest.approx(result.attrs["sd_pre"], rel=1e-9)
    assert result["category"].equals(shifted["category"])


@settings(max_examples=150, deadline=None)
@given(scores=paired(missing=True), kwargs=rules(), higher=st.booleans())
def test_categories_are_exhaustive_exclusive_and_follow_the_definitions(scores, kwargs, higher):
    pre, post = scores
    assume(usable(pre, post))
    result = jacobson_truax(pre, post, higher_is_better=higher, **kwargs)
    complete = ~(np.isnan(pre) | np.isnan(post))
    category = result["category"]
    # Every complete case has exactly one category; an incomplete one has none.
    np.testing.assert_array_equal(category.notna().to_numpy(), complete)
    assert set(category.dropna().astype(str)) <= set(CATEGORIES)

    d = 1.0 if higher else -1.0
    cutoff = result.attrs["cutoff"]

    def side(score: float) -> float:  # > 0 on the functional side, 0 at (within 1e-9 of) it
        diff = d * (score - cutoff)
        return 0.0 if abs(diff) < 1e-9 else diff

    for i in np.flatnonzero(complete):
        row = result.iloc[i]
        assert row["clinical_pre"] == (side(pre[i]) < 0)
        assert row["functional_post"] == (side(post[i]) > 0)
        if "reliability" in kwargs:
            up, down = d * row["rci"] > CRITICAL_VALUE, -d * row["rci"] > CRITICAL_VALUE
        else:
            up = d * row["change"] > kwargs["reliable_change"]
            down = -d * row["change"] > kwargs["reliable_change"]
        clinical, functional = row["clinical_pre"], row["functional_post"]
        expected = (
            "recovered"
            if up and clinical and functional
            else "improved"
            if up
            else "harmed"
            if down and not clinical and not functional
            else "deteriorated"
            if down
            else "unchanged"
        )
        assert row["category"] == expected
        if row["category"] == "recovered":
            assert clinical and functional and d * row["change"] > 0


# --------------------------------------------------------------------------------------------
# PCOMS layer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "cutoff"), AGE_CUTOFFS)
def test_pcoms_clinical_at_first_session_tie(group, cutoff):
    below, at, above = round(cutoff - 0.1, 1), cutoff, round(cutoff + 0.1, 1)
    default = pcoms_change([below, at], [at, at], group)
    assert default["clinical_pre"].tolist() == [True, False]
    flipped = pcoms_change([at, above], [at, at], group, config=FLIPPED)
    assert flipped["clinical_pre"].tolist() == [True, False]
    assert default["cutoff"].tolist() == [cutoff, cutoff]


@pytest.mark.parametrize(("group", "cutoff"), AGE_CUTOFFS)
def test_pcoms_functional_at_last_session_tie(group, cutoff):
    below, at, above = round(cutoff - 0.1, 1), cutoff, round(cutoff + 0.1, 1)
    default = pcoms_change([10.0, 10.0], [at, below], group)
    assert default["functional_post"].tolist() == [True, False]
    assert categories(default) == ["recovered", "improved"]
    flipped = pcoms_change([10.0, 10.0], [above, at], group, config=FLIPPED)
    assert flipped["functional_post"].tolist() == [True, False]
    assert categories(flipped) == ["recovered", "improved"]


@pytest.mark.parametrize(("group", "cutoff"), AGE_CUTOFFS)
def test_pcoms_reliable_change_tie(group, cutoff):
    # Start in the clinical range, stay in it: only the change decides.
    first = round(cutoff - 12.3, 1)
    ups = [round(first + d, 1) for d in (5.0, 4.9, 5.1)]
    downs = [round(first - d, 1) for d in (5.0, 4.9, 5.1)]
    default = pcoms_change([first] * 6, ups + downs, group)
    assert categories(default) == [
        "improved",
        "unchanged",
        "improved",
        "deteriorated",
        "unchanged",
        "deteriorated",
    ]
    flipped = pcoms_change([first] * 6, ups + downs, group, config=FLIPPED)
    assert categories(flipped) == [
        "unchanged",
        "unchanged",
        "improved",
        "unchanged",
        "unchanged",
        "deteriorated",
    ]


def test_pcoms_float_noise_at_the_reliable_change():
    # 20.1 - 15.1 is 5.000000000000002 and 8.2 - 3.2 is 4.999999999999999 in binary floating
    # point; both are changes of 5.0.
    first, last = [15.1, 3.2, 20.1, 8.2], [20.1, 8.2, 15.1, 3.2]
    default = pcoms_change(first, last, "adult")
    assert categories(default) == ["improved", "improved", "deteriorated", "deteriorated"]
    flipped = pcoms_change(first, last, "adult", config=FLIPPED)
    assert categories(flipped) == ["unchanged"] * 4


def test_pcoms_recovered_and_harmed_at_the_ties():
    first, last = [24.9, 30.0, 30.0, 19.9], [29.9, 25.0, 24.9, 25.0]
    # Default, adult: 24.9 -> 29.9 starts clinical, changes by exactly 5.0 and ends
    # non-clinical: recovered. 30.0 -> 25.0 (-5.0) ends at the cutoff, still non-clinical:
    # deteriorated. 30.0 -> 24.9 (-5.1) ends clinical: harmed. 19.9 -> 25.0: recovered.
    result = pcoms_change(first, last, "adult")
    assert categories(result) == ["recovered", "deteriorated", "harmed", "recovered"]
    # Flipped: changes of exactly 5.0 are not reliable, and 25.0 is clinical, so
    # 19.9 -> 25.0 (+5.1) improves without reaching the non-clinical range.
    flipped = pcoms_change(first, last, "adult", config=FLIPPED)
    assert categories(flipped) == ["unchanged", "unchanged", "harmed", "improved"]


def test_pcoms_mixed_age_groups_index_and_attrs():
    first = pd.Series([24.9, 24.9, 24.9, None], index=[10, 11, 12, 13])
    last = pd.Series([30.0, 30.0, 30.0, 30.0], index=[10, 11, 12, 13])
    groups = ["adult", "adolescent", "child", "adult"]
    result = pcoms_change(first, last, groups)
    assert list(result.index) == [10, 11, 12, 13]
    assert result["cutoff"].tolist() == [25.0, 28.0, 32.0, 25.0]
    # 30.0 reaches the adult and adolescent range but not the child range (32).
    assert categories(result) == ["recovered", "recovered", "improved", None]
    assert math.isnan(result["rci"].iloc[0])
    assert list(result.columns) == [
        "pre",
        "post",
        "change",
        "rci",
        "clinical_pre",
        "functional_post",
        "category",
        "cutoff",
    ]
    attrs = result.attrs
    assert attrs["reliable_change"] == 5.0
    assert attrs["reliable_change_boundary"] == pytest.approx(4.95)
    assert attrs["cutoffs"] == {"child": 32.0, "adolescent": 28.0, "adult": 25.0}
    assert attrs["cutoff_boundaries"]["adult"] == pytest.approx(24.95)
    assert attrs["score_at_cutoff_is_clinical"] is False
    assert attrs["change_at_threshold_is_reliable"] is True
    assert attrs["n_complete"] == 3
    flipped = pcoms_change(first, last, groups, config=FLIPPED).attrs
    assert flipped["reliable_change_boundary"] == pytest.approx(5.05)
    assert flipped["cutoff_boundaries"]["child"] == pytest.approx(32.05)


def test_pcoms_calls_the_generic_function_once_per_age_group(monkeypatch):
    calls = []
    original = change_module.jacobson_truax

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(change_module, "jacobson_truax", counting)
    groups = ["adult", "child", "adult", "adult", "child", "adult", "adult"]
    pcoms_change([20.0] * 7, [26.0] * 7, groups)
    assert sorted(calls) == [2, 5]


def test_pcoms_scalar_and_empty_inputs():
    one = pcoms_change(24.9, 30.0, "adult")
    assert categories(one) == ["recovered"]
    empty = pcoms_change([], [], "adult")
    assert empty.empty and "cutoff" in empty.columns and "category" in empty.columns


@pytest.mark.parametrize(
    ("first", "last", "group", "message"),
    [
        ([20.0, 21.0], [25.0], "adult", "same length: first has 2, last has 1"),
        ([20.0, 21.0], [25.0, 26.0], ["adult"], "first has 2, age_group has 1"),
        ([20.0], [25.0], "elderly", "unknown age group.*'elderly'"),
        ([20.0, 21.0], [25.0, 26.0], ["adult", None], "age group missing for 1 case"),
        ([20.0], [25.0], pd.Series(["Adult"]), "unknown age group.*'Adult'"),
        ([20.05], [25.0], "adult", "recorded to one decimal"),
        ([20.0], ["25"], "adult", "last must be numeric"),
    ],
)
def test_pcoms_errors(first, last, group, message):
    with pytest.raises(ValueError, match=message):
        pcoms_change(first, last, group)


def scalar_pcoms(first: float, last: float, group: str, config: ClinicalConfig) -> str | None:
    """Obviously correct: the config's own scalar rules, case by case."""
    if math.isnan(first) or math.isnan(last):
        return None
    clinical_first = is_clinical(config, first, group)
    functional_last = not is_clinical(config, last, group)
    direction = config.change_direction(last - first)
    if direction == 1:
        return "recovered" if clinical_first and functional_last else "improved"
    if direction == -1:
        return "harmed" if not clinical_first and not functional_last else "deteriorated"
    return "unchanged"


configs = st.builds(
    ClinicalConfig,
    ors_cutoff_adult=st.integers(100, 350).map(lambda i: i / 10),
    ors_cutoff_adolescent=st.integers(100, 350).map(lambda i: i / 10),
    ors_cutoff_child=st.integers(100, 350).map(lambda i: i / 10),
    score_at_cutoff_is_clinical=st.booleans(),
    ors_reliable_change=st.integers(1, 100).map(lambda i: i / 10),
    change_at_threshold_is_reliable=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    scores=paired(missing=True, min_size=1, max_size=30),
    data=st.data(),
    config=st.one_of(st.just(DEFAULT_CONFIG), st.just(FLIPPED), configs),
)
def test_pcoms_agrees_with_a_scalar_implementation_of_the_config(scores, data, config):
    first, last = scores
    groups = data.draw(
        st.lists(
            st.sampled_from(["child", "adolescent", "adult"]),
            min_size=len(first),
            max_size=len(first),
        )
    )
    result = pcoms_change(first, last, groups, config=config)
    cases = list(zip(first, last, groups, strict=True))
    assert categories(result) == [scalar_pcoms(f, la, g, config) for f, la, g in cases]
    for i, (f, la, g) in enumerate(cases):
        if not math.isnan(f):
            assert result["clinical_pre"].iloc[i] == is_clinical(config, f, g)
        if not math.isnan(la):
            assert result["functional_post"].iloc[i] == (not is_clinical(config, la, g))
        assert result["cutoff"].iloc[i] == config.ors_cutoff(g)
