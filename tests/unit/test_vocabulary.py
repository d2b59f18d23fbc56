"""The vocabulary is the one home of the data's words, and the schema agrees with it."""

import re
from importlib import resources

from fitdata import vocabulary


def _check_values(column: str) -> tuple[str, ...]:
    schema = resources.files("fitdata.data").joinpath("schema.sql").read_text(encoding="utf-8")
    match = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", schema)
    assert match, f"no CHECK on {column} in schema.sql"
    return tuple(re.findall(r"'([^']*)'", match.group(1)))


def test_the_schema_checks_list_the_vocabulary() -> None:
    assert _check_values("age_group") == vocabulary.AGE_GROUPS
    assert _check_values("format") == vocabulary.FORMATS
    assert _check_values("rater") == vocabulary.RATERS
    assert _check_values("end_type") == vocabulary.END_TYPES


def test_age_ranges_cover_each_age_group_without_overlap() -> None:
    assert tuple(vocabulary.AGE_RANGES) == vocabulary.AGE_GROUPS
    bounds = list(vocabulary.AGE_RANGES.values())
    for (_, high), (low, _) in zip(bounds, bounds[1:], strict=False):
        assert high is not None and low == high + 1
    assert bounds[-1][1] is None and bounds[-1][0] < vocabulary.MAX_PLAUSIBLE_AGE


def test_score_columns_are_the_items_then_their_totals() -> None:
    assert (
        *vocabulary.ORS_ITEMS,
        "ors_total",
        *vocabulary.SRS_ITEMS,
        "srs_total",
    ) == vocabulary.SCORE_COLUMNS
    assert vocabulary.FORMS == {"ors": vocabulary.ORS_ITEMS, "srs": vocabulary.SRS_ITEMS}
