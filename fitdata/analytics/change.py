"""Change over an episode: Jacobson & Truax (1991) reliable and clinically significant change.

Two layers:

* :func:`jacobson_truax` works for any measure and either direction. It follows the conventions
  of the R package ``clinicalsignificance`` (Benedikt Claus; the field's reference
  implementation, ``cs_combined(..., rci_method = "JT")``) so that a number shown in a dashboard
  can be reproduced there: the SD of the pre scores (n - 1) of complete cases,
  S_diff = sqrt(2) * SD * sqrt(1 - r), RCI = change / S_diff, reliable when |RCI| > 1.959964,
  cutoffs a / b / c, strict comparisons throughout, and the five categories recovered /
  improved / unchanged / deteriorated / harmed.
* :func:`pcoms_change` is the PCOMS practice on top of it: ORS totals, the fixed reliable
  change (5 points) and the clinical cutoff per age group from a
  :class:`~fitdata.config.ClinicalConfig`, with the config's (inclusive) tie rules.

Ties. Scores are recorded to one decimal, so a change of exactly the threshold is common, and
binary floating point makes ``20.1 - 15.1`` equal ``5.000000000000002`` and ``8.2 - 3.2``
equal ``4.999999999999999``. Every comparison with a threshold is therefore made on the
*difference* rounded to :data:`TIE_DECIMALS` (9) decimals: a difference smaller than 5e-10 is
an exact tie, and a tie is never beyond the threshold (strict, as in the reference). The
``change`` column is rounded the same way, so it shows 5.0.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig

__all__ = [
    "CATEGORIES",
    "CRITICAL_VALUE",
    "RECORDING_STEP",
    "TIE_DECIMALS",
    "jacobson_truax",
    "pcoms_boundaries",
    "pcoms_change",
]

#: The outcome categories, from the best to the worst outcome. The ``category`` column is an
#: ordered Categorical in this order, so tables list recovered first, as the reference does.
CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated", "harmed")

#: Two-sided 5 % critical value of the standard normal, qnorm(0.975) to 6 decimals.
#: ``clinicalsignificance`` 2.x takes it from ``significance_level = 0.05``; its 1.x versions
#: hard-coded 1.96. The two differ only for |RCI| in (1.959964, 1.96].
CRITICAL_VALUE = 1.959964

#: Decimals kept when comparing a value with a threshold (see the module docstring).
TIE_DECIMALS = 9

#: ORS/CORS totals are recorded to one decimal; :func:`pcoms_change` relies on it.
RECORDING_STEP = 0.1

_HALF_STEP = RECORDING_STEP / 2
_CUTOFF_TYPES = ("a", "b", "c")
_COLUMNS = ("pre", "post", "change", "rci", "clinical_pre", "functional_post", "category")

ArrayLike = pd.Series | npt.ArrayLike | Sequence[float | None]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _as_series(values: Any, name: str) -> pd.Series:
    """One value per case as a Series; a scalar counts as one case."""
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"{name} must be one-dimensional (a Series or a list), not a DataFrame")
    if isinstance(values, pd.Series):
        return values
    if np.ndim(values) == 0:
        values = [values]
    elif np.ndim(values) > 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {np.shape(values)}")
    return pd.Series(list(values) if not isinstance(values, np.ndarray) else values)


def _scores(values: Any, name: str) -> pd.Series:
    """Validate numeric scores (NaN/None = missing) and return them as a float64 Series."""
    series = _as_series(values, name)
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ValueError(f"{name} must be numeric scores, not booleans")
    if not pd.api.types.is_numeric_dtype(series.dtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
            raise ValueError(
                f"{name} must be numeric scores (missing as NaN/None); found values of type "
                f"{kind!r}, e.g. {series.dropna().iloc[0]!r}"
            )
    array = series.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(array).any():
        raise ValueError(f"{name} contains an infinite value; scores must be finite or missing")
    return pd.Series(array, index=series.index, name=name)


def _common_index(inputs: dict[str, Any], length: int) -> pd.Index:
    """The index of the result: the inputs' own index when they are Series (they must agree)."""
    index: pd.Index | None = None
    owner = ""
    for name, values in inputs.items():
        if not isinstance(values, pd.Series):
            continue
        if index is None:
            index, owner = values.index, name
        elif not values.index.equals(index):
            raise ValueError(
                f"{owner} and {name} are Series with different indexes; align them first "
                f"(e.g. {name}.reindex({owner}.index)) so that each row is one case"
            )
    return index if index is not None else pd.RangeIndex(length)


def _check_lengths(series: dict[str, pd.Series]) -> int:
    lengths = {name: len(values) for name, values in series.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"inputs must have one value per case and the same length: {detail}")
    return next(iter(lengths.values()))


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, not {value!r}")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return result


def _beyond(value: np.ndarray, threshold: float) -> np.ndarray:
    """``value > threshold`` with differences below 5e-10 treated as exact ties (not beyond)."""
    with np.errstate(invalid="ignore"):
        return np.round(value - threshold, TIE_DECIMALS) > 0


def _boolean(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.where(missing, False, values), missing.copy())


# --------------------------------------------------------------------------------------------
# Generic Jacobson & Truax
# --------------------------------------------------------------------------------------------


def jacobson_truax(
    pre: ArrayLike,
    post: ArrayLike,
    *,
    reliability: float | None = None,
    higher_is_better: bool = True,
    cutoff: Literal["a", "b", "c"] | float = "a",
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    reliable_change: float | None = None,
) -> pd.DataFrame:
    """Classify each case's change as recovered, improved, unchanged, deteriorated or harmed.

    The method of Jacobson & Truax (1991) as implemented by the R package
    ``clinicalsignificance`` (``cs_combined(..., rci_method = "JT")``), so that results can be
    checked against the field's reference:

    * **Reliable change.** With ``reliability`` r: SD = sample SD (n - 1) of the pre scores of
      the complete cases, S_diff = sqrt(2) * SD * sqrt(1 - r), RCI = change / S_diff; a change
      is reliable when |RCI| > 1.959964 (:data:`CRITICAL_VALUE`). With ``reliable_change`` in
      points instead (a published value such as 5 for the ORS), a change is reliable when
      |change| > reliable_change; ``rci`` is then NaN. Both comparisons are strict: a change of
      exactly the threshold is not reliable. Improvement is an increase when
      ``higher_is_better`` and a decrease otherwise.
    * **Cutoff** between the clinical and the functional population. M_clin and SD_clin are
      the mean and SD of the pre scores of the complete cases. ``"a"``: two SD_clin beyond
      M_clin in the better direction; ``"b"``: two SD_func short of M_func, towards the
      clinical side (Jacobson & Truax 1991 use the functional SD here; some versions of
      ``clinicalsignificance`` use SD_clin instead); ``"c"``: (SD_clin * M_func + SD_func *
      M_clin) / (SD_clin + SD_func), the point between the two distributions. A number is used
      as given. ``clinical_pre`` means the pre score is strictly on the clinical side,
      ``functional_post`` that the post score is strictly on the functional side, so a score
      exactly at the cutoff is neither.
    * **Categories** (exactly one per complete case): recovered = clinical at pre, functional
      at post and reliably improved; improved = reliably improved but not recovered;
      deteriorated = reliably worse but not harmed; harmed = not clinical at pre, not
      functional at post and reliably worse; unchanged = no reliable change.

    Cases with a missing pre or post score keep their row: ``change``, ``rci`` and
    ``category`` are NaN there, and ``clinical_pre`` / ``functional_post`` are <NA> where their
    own score is missing. Only complete cases enter M_clin and SD.

    Comparisons are made on differences rounded to 9 decimals (:data:`TIE_DECIMALS`), so float
    noise such as 20.1 - 15.1 = 5.000000000000002 or 8.2 - 3.2 = 4.999999999999999 counts as
    an exact tie (5.0).

    Args:
        pre: Scores at the start, one per case (Series, array or list; NaN/None = missing).
        post: Scores at the end, same length (and same index, if both are Series).
        reliability: Reliability r of the measure, 0 < r < 1. Give this or
            ``reliable_change``, not both.
        higher_is_better: Whether a higher score is the better state.
        cutoff: ``"a"``, ``"b"``, ``"c"`` or the cutoff as a number on the score scale.
        functional_mean: Mean of the functional population; needed for cutoffs b and c.
        functional_sd: SD of the functional population (> 0); needed for cutoffs b and c.
        reliable_change: A fixed reliable-change value in points (> 0), used instead of an RCI.

    Returns:
        One row per case, index taken from the inputs when they are Series, with columns
        ``pre``, ``post``, ``change`` (post - pre, rounded to 9 decimals), ``rci``,
        ``clinical_pre`` and ``functional_post`` (nullable booleans) and ``category`` (ordered
        Categorical of :data:`CATEGORIES`). ``attrs`` records the parameters used (``sd_pre``,
        ``mean_pre``, ``s_diff``, ``critical_value`` or ``reliable_change``, ``cutoff``,
        ``cutoff_type``, ``reliability``, ...) and a ``rule`` sentence, so a dashboard can show
        which rule produced a category.

    Raises:
        ValueError: If the inputs differ in length or index or are not numeric, if not exactly
            one of ``reliability`` and ``reliable_change`` is given or either is out of range,
            if ``cutoff`` is unknown, if cutoff b or c lacks ``functional_mean`` or
            ``functional_sd``, or if the complete cases cannot give the SD the method needs.
    """
    inputs = {"pre": pre, "post": post}
    pre_s, post_s = _scores(pre, "pre"), _scores(post, "post")
    n = _check_lengths({"pre": pre_s, "post": post_s})
    index = _common_index(inputs, n)
    pre_v, post_v = pre_s.to_numpy(), post_s.to_numpy()

    # Which change rule: exactly one of reliability / reliable_change.
    if (reliability is None) == (reliable_change is None):
        given = "both were" if reliability is not None else "neither was"
        raise ValueError(
            "give exactly one of reliability (0 < r < 1, for a reliable change index) or "
            f"reliable_change (a fixed value in points, > 0); {given} given"
        )
    if reliability is not None:
        r = _real(reliability, "reliability")
        if not 0 < r < 1:
            raise ValueError(f"reliability must be between 0 and 1 (exclusive), not {r!r}")
        rc = None
    else:
        r = None
        rc = _real(reliable_change, "reliable_change")
        if rc <= 0:
            raise ValueError(f"reliable_change must be a number of points > 0, not {rc!r}")

    # Which cutoff.
    if isinstance(cutoff, str):
        if cutoff not in _CUTOFF_TYPES:
            raise ValueError(f"unknown cutoff {cutoff!r}; expected 'a', 'b', 'c' or a number")
        cutoff_type = cutoff
    else:
        cutoff_value = _real(cutoff, "cutoff")
        cutoff_type = "value"
    f_mean = f_sd = None
    if cutoff_type in ("b", "c"):
        given = {"functional_mean": functional_mean, "functional_sd": functional_sd}
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ValueError(
                f"cutoff {cutoff_type!r} needs the functional population's mean and SD; "
                f"missing: {' and '.join(missing)}"
            )
        f_mean = _real(functional_mean, "functional_mean")
        f_sd = _real(functional_sd, "functional_sd")
        if f_sd <= 0:
            raise ValueError(f"functional_sd must be > 0, not {f_sd!r}")

    # Clinical-population statistics from the complete cases, as the reference does.
    complete = ~(np.isnan(pre_v) | np.isnan(post_v))
    n_complete = int(complete.sum())
    pre_complete = pre_v[complete]
    mean_pre = float(pre_complete.mean()) if n_complete >= 1 else float("nan")
    sd_pre = float(pre_complete.std(ddof=1)) if n_complete >= 2 else float("nan")
    needs_sd = r is not None or cutoff_type in ("a", "c")
    if needs_sd and n_complete < 2:
        raise ValueError(
            "the reliable change index and cutoffs a and c need the SD of the pre scores of at "
            f"least two complete cases (pre and post given); found {n_complete}"
        )

    direction = 1.0 if higher_is_better else -1.0
    if cutoff_type == "a":
        cutoff_value = mean_pre + direction * 2.0 * sd_pre
    elif cutoff_type == "b":
        cutoff_value = f_mean - direction * 2.0 * f_sd
    elif cutoff_type == "c":
        cutoff_value = (sd_pre * f_mean + f_sd * mean_pre) / (sd_pre + f_sd)

    # Reliable change, in the better (+) or worse (-) direction.
    change = np.round(post_v - pre_v, TIE_DECIMALS)
    if r is not None:
        if sd_pre <= 0:
            raise ValueError(
                "the SD of the pre scores of the complete cases is 0, so the reliable change "
                "index is undefined; give reliable_change in points instead"
            )
        s_diff = float(np.sqrt(2.0) * sd_pre * np.sqrt(1.0 - r))
        rci = change / s_diff
        improvement = _beyond(direction * rci, CRITICAL_VALUE)
        worsening = _beyond(-direction * rci, CRITICAL_VALUE)
    else:
        s_diff = float("nan")
        rci = np.full(n, np.nan)
        improvement = _beyond(direction * change, rc)
        worsening = _beyond(-direction * change, rc)

    # Population at pre and post, strictly on either side of the cutoff.
    with np.errstate(invalid="ignore"):
        clinical_pre = direction * np.round(pre_v - cutoff_value, TIE_DECIMALS) < 0
        functional_post = direction * np.round(post_v - cutoff_value, TIE_DECIMALS) > 0

    recovered = clinical_pre & functional_post & improvement
    harmed = ~clinical_pre & ~functional_post & worsening
    codes = np.select(
        [recovered, improvement, worsening & ~harmed, harmed],
        [0, 1, 3, 4],
        default=2,
    )
    codes = np.where(complete, codes, -1)

    result = pd.DataFrame(
        {
            "pre": pre_v,
            "post": post_v,
            "change": change,
            "rci": rci,
            "clinical_pre": _boolean(clinical_pre, np.isnan(pre_v)),
            "functional_post": _boolean(functional_post, np.isnan(post_v)),
            "category": pd.Categorical.from_codes(codes, categories=CATEGORIES, ordered=True),
        },
        index=index,
    )
    side = "above" if higher_is_better else "below"
    if r is not None:
        change_rule = (
            f"reliable change: |RCI| > {CRITICAL_VALUE} with RCI = change / S_diff, "
            f"S_diff = sqrt(2) * {sd_pre:.4g} * sqrt(1 - {r:g}) = {s_diff:.4g}"
        )
    else:
        change_rule = f"reliable change: |change| > {rc:g} points"
    result.attrs = {
        "method": "jacobson_truax",
        "higher_is_better": bool(higher_is_better),
        "n_cases": n,
        "n_complete": n_complete,
        "mean_pre": mean_pre,
        "sd_pre": sd_pre,
        "reliability": r,
        "s_diff": s_diff if r is not None else None,
        "critical_value": CRITICAL_VALUE if r is not None else None,
        "reliable_change": rc,
        "cutoff_type": cutoff_type,
        "cutoff": float(cutoff_value),
        "functional_mean": f_mean,
        "functional_sd": f_sd,
        "comparisons": "strict",
        "tie_decimals": TIE_DECIMALS,
        "rule": (
            f"{change_rule}; cutoff {cutoff_type} = {cutoff_value:.4g}, functional strictly "
            f"{side} it; a tie (within 5e-10) is neither reliable nor across the cutoff"
        ),
    }
    return result


# --------------------------------------------------------------------------------------------
# PCOMS layer
# --------------------------------------------------------------------------------------------


def _age_groups(age_group: Any, n: int) -> np.ndarray:
    if isinstance(age_group, str) or np.ndim(age_group) == 0:
        groups = np.full(n, age_group, dtype=object)
    else:
        groups = _as_series(age_group, "age_group").to_numpy(dtype=object)
    if len(groups) != n:
        raise ValueError(
            f"inputs must have one value per case and the same length: first has {n}, "
            f"age_group has {len(groups)}"
        )
    missing = pd.isna(groups)
    if missing.any():
        raise ValueError(
            f"age group missing for {int(missing.sum())} case(s); the cutoff depends on it "
            f"(expected one of {', '.join(AGE_GROUPS)})"
        )
    known = pd.Series(groups, dtype=object).isin(AGE_GROUPS).to_numpy()
    if not known.all():
        bad = sorted({repr(g) for g in groups[~known]})
        raise ValueError(
            f"unknown age group(s) {', '.join(bad[:5])}; expected one of {', '.join(AGE_GROUPS)}"
        )
    return groups


def _check_one_decimal(values: np.ndarray, name: str) -> None:
    present = values[~np.isnan(values)]
    off_grid = np.abs(present * 10 - np.round(present * 10)) > 1e-6
    if off_grid.any():
        raise ValueError(
            f"{name} must be ORS totals recorded to one decimal (the tie rules rely on it); "
            f"got {present[off_grid][0]!r}"
        )


def pcoms_boundaries(config: ClinicalConfig) -> tuple[dict[str, float], float]:
    """The boundaries :func:`pcoms_change` compares with strictly, per the config's tie rules.

    Scores are recorded to one decimal (:data:`RECORDING_STEP`), so a boundary half a step
    beside a threshold puts every possible score on the side the tie rule asks for: the
    cutoff moves up when a score at it is clinical, down when it is not; the reliable change
    moves down when a change of exactly it is reliable. The SQL categories
    (:func:`fitdata.analytics.outcomes.category_query`) use the same boundaries.

    Returns:
        The clinical boundary per age group, and the reliable-change boundary.
    """
    cutoff_shift = _HALF_STEP if config.score_at_cutoff_is_clinical else -_HALF_STEP
    change_shift = -_HALF_STEP if config.change_at_threshold_is_reliable else _HALF_STEP
    boundaries = {group: config.ors_cutoff(group) + cutoff_shift for group in AGE_GROUPS}
    return boundaries, config.ors_reliable_change + change_shift


def pcoms_change(
    first: ArrayLike,
    last: ArrayLike,
    age_group: ArrayLike | str,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> pd.DataFrame:
    """Reliable and clinically significant change of ORS totals, the PCOMS way.

    PCOMS practice replaces the estimated RCI and cutoff a by fixed published values: a
    reliable change of ``config.ors_reliable_change`` points (5) and the clinical cutoff of
    the client's age group (``config.ors_cutoff``: adult 25, adolescent 28, child 32). The
    classification itself is :func:`jacobson_truax`, called once per age group present.

    The config's tie rules are inclusive where the reference is strict, so they are applied
    by moving each boundary half a recording step (0.05, ORS totals are recorded to one
    decimal) to the side that gives the configured answer at an exact tie:

    * ``score_at_cutoff_is_clinical`` False (default; 25.0 is not clinical for an adult and
      counts as having reached the non-clinical range): boundary = cutoff - 0.05, so pre 24.9
      is clinical and 25.0 is not, post 25.0 is functional and 24.9 is not. When True:
      boundary = cutoff + 0.05, so 25.0 is clinical at pre and not functional at post.
    * ``change_at_threshold_is_reliable`` True (default; +5.0 is a reliable improvement, +4.9
      is not): boundary = reliable change - 0.05. When False: + 0.05, so 5.0 is not reliable
      and 5.1 is.

    Because the boundary then lies between two possible scores, the rule cannot depend on
    float noise; the inputs are checked to be on the one-decimal grid for the same reason.
    Missing first or last scores give a NaN category, as in :func:`jacobson_truax`.

    Args:
        first: First ORS total of each episode.
        last: Last ORS total of each episode, same length.
        age_group: ``"child"``, ``"adolescent"`` or ``"adult"`` for each episode, or one of
            these for all of them.
        config: Thresholds and tie rules; :data:`~fitdata.config.DEFAULT_CONFIG` by default.

    Returns:
        The columns of :func:`jacobson_truax` (``rci`` is NaN: a fixed reliable change is
        used) plus ``cutoff``, the configured cutoff of the row's age group. ``attrs`` holds
        the configured values, the tie rules and the shifted boundaries actually applied.

    Raises:
        ValueError: If lengths or indexes differ, scores are not numeric or not recorded to one
            decimal, or an age group is unknown or missing.
    """
    inputs = {"first": first, "last": last, "age_group": age_group}
    first_s, last_s = _scores(first, "first"), _scores(last, "last")
    n = _check_lengths({"first": first_s, "last": last_s})
    index = _common_index(inputs, n)
    first_v, last_v = first_s.to_numpy(), last_s.to_numpy()
    _check_one_decimal(first_v, "first")
    _check_one_decimal(last_v, "last")
    groups = _age_groups(age_group, n)

    boundaries, reliable_boundary = pcoms_boundaries(config)
    if reliable_boundary <= 0:
        raise ValueError(
            f"ors_reliable_change {config.ors_reliable_change!r} is too small for one-decimal "
            "scores; it must be at least 0.1"
        )
    cutoffs = {group: config.ors_cutoff(group) for group in AGE_GROUPS}

    pieces = []
    for group in AGE_GROUPS:  # at most three vectorised calls, one per age group
        positions = np.flatnonzero(groups == group)
        if positions.size == 0:
            continue
        part = jacobson_truax(
            first_v[positions],
            last_v[positions],
            reliable_change=reliable_boundary,
            cutoff=boundaries[group],
            higher_is_better=True,
        )
        part.index = positions
        part["cutoff"] = cutoffs[group]
        pieces.append(part)
    if pieces:
        result = pd.concat(pieces).sort_index()
    else:
        result = jacobson_truax([], [], reliable_change=reliable_boundary, cutoff=0.0)
        result["cutoff"] = pd.Series(dtype="float64")
    result.index = index
    result.attrs = {
        "method": "pcoms",
        "higher_is_better": True,
        "n_cases": n,
        "n_complete": int(result["category"].notna().sum()),
        "reliable_change": config.ors_reliable_change,
        "change_at_threshold_is_reliable": config.change_at_threshold_is_reliable,
        "reliable_change_boundary": reliable_boundary,
        "cutoffs": cutoffs,
        "score_at_cutoff_is_clinical": config.score_at_cutoff_is_clinical,
        "cutoff_boundaries": boundaries,
        "recording_step": RECORDING_STEP,
        "comparisons": "strict, against boundaries moved half a recording step (0.05)",
        "rule": (
            "reliable change: |change| "
            + (">=" if config.change_at_threshold_is_reliable else ">")
            + f" {config.ors_reliable_change:g} points; clinical: score "
            + ("<=" if config.score_at_cutoff_is_clinical else "<")
            + " the age group's cutoff ("
            + ", ".join(f"{g} {c:g}" for g, c in cutoffs.items())
            + "), functional otherwise"
        ),
    }
    return result
