"""The config's tie rules one score at a time: the reference the vectorised rules are checked by.

:class:`fitdata.config.ClinicalConfig` documents each threshold and its tie rule; the package
applies them vectorised (:mod:`fitdata.analytics.change` for the clinical range,
:mod:`fitdata.analytics.flags` for the SRS drop and item rules). These scalar versions are
obviously correct and used only by tests, which compare the package's rules with them on both
sides of every tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from fitdata.config import TIE_TOLERANCE, AgeGroup, ClinicalConfig


def is_clinical(config: ClinicalConfig, score: float, age_group: AgeGroup | str) -> bool:
    """Whether an ORS total is in the clinical range for the age group (the config's tie rule)."""
    cutoff = config.ors_cutoff(age_group)
    if config.score_at_cutoff_is_clinical:
        return score <= cutoff + TIE_TOLERANCE
    return score < cutoff - TIE_TOLERANCE


def srs_item_of_concern(config: ClinicalConfig, item: float) -> bool:
    """Whether one SRS item is below the item-concern threshold (9.0 itself is not)."""
    return item < config.srs_item_concern - TIE_TOLERANCE


def srs_dropped(config: ClinicalConfig, earlier: Sequence[float], current: float) -> bool:
    """Whether an SRS total is at least the drop threshold below the client's usual level.

    The usual level is the mean of the episode's earlier SRS totals, known from
    ``config.srs_drop_min_earlier`` of them on. Computed exactly (scores as written, in
    fractions), so no float noise can decide a tie.
    """
    if len(earlier) < config.srs_drop_min_earlier:
        return False

    def exact(x: float) -> Fraction:
        return Fraction(Decimal(repr(x)))

    usual = sum(exact(x) for x in earlier) / len(earlier)
    return usual - exact(current) >= exact(config.srs_drop)
