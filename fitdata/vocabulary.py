"""The words of the data: form items, score columns, age groups, formats, raters, endings.

One home for every name the schema, the importer, the analytics and the pages share. The
values must match the CHECK constraints in ``fitdata/data/schema.sql`` (a unit test compares
them); thresholds are not here but in :mod:`fitdata.config`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AGE_GROUPS",
    "AGE_RANGES",
    "END_TYPES",
    "FORMATS",
    "FORMS",
    "MAX_PLAUSIBLE_AGE",
    "ORS_COLUMNS",
    "ORS_ITEMS",
    "RATERS",
    "SCORE_COLUMNS",
    "SRS_COLUMNS",
    "SRS_ITEMS",
    "AgeGroup",
]

#: The four ORS items (columns ``ors_*``, each 0-10 in 0.1 steps), in form order.
ORS_ITEMS: tuple[str, ...] = ("ors_individual", "ors_interpersonal", "ors_social", "ors_overall")
#: The four SRS items (columns ``srs_*``), in form order.
SRS_ITEMS: tuple[str, ...] = ("srs_relationship", "srs_goals", "srs_approach", "srs_overall")
#: Each form's items by the form's short name.
FORMS: dict[str, tuple[str, ...]] = {"ors": ORS_ITEMS, "srs": SRS_ITEMS}
#: The ORS columns of a session row: the items, then the total (0-40).
ORS_COLUMNS: tuple[str, ...] = (*ORS_ITEMS, "ors_total")
#: The SRS columns of a session row: the items, then the total (0-40).
SRS_COLUMNS: tuple[str, ...] = (*SRS_ITEMS, "srs_total")
#: Every score column of a session row, in the canonical file's order.
SCORE_COLUMNS: tuple[str, ...] = ORS_COLUMNS + SRS_COLUMNS

AgeGroup = Literal["child", "adolescent", "adult"]
#: The age groups, youngest first (ORS/SRS for adults, CORS/CSRS for children; shared/domain.md).
AGE_GROUPS: tuple[AgeGroup, ...] = ("child", "adolescent", "adult")
#: Ages of each age group in whole years, inclusive; adults have no upper bound (None). Under 6
#: the YCORS is used, which is not scored.
AGE_RANGES: dict[str, tuple[int, int | None]] = {
    "child": (6, 12),
    "adolescent": (13, 17),
    "adult": (18, None),
}
#: An age above this is taken as a typing error, not a client (importer and registration).
MAX_PLAUSIBLE_AGE = 120

#: How the client-episode is delivered (``episodes.format``).
FORMATS: tuple[str, ...] = ("individual", "couple", "family", "group")
#: Who rated a session (``sessions.rater``).
RATERS: tuple[str, ...] = ("client", "parent", "teacher", "partner", "other")
#: How an episode ended (``episodes.end_type``).
END_TYPES: tuple[str, ...] = ("planned", "unplanned", "transferred")
