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


def _table_check_values(table: str, column: str) -> tuple[str, ...]:
    schema = resources.files("fitdata.data").joinpath("schema.sql").read_text(encoding="utf-8")
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", schema, re.S)
    assert body, f"no table {table} in schema.sql"
    match = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", body.group(1))
    assert match, f"no CHECK on {table}.{column} in schema.sql"
    return tuple(re.findall(r"'([^']*)'", match.group(1)))


def test_the_version_6_checks_list_the_vocabulary() -> None:
    assert _table_check_values("episode_participants", "role") == vocabulary.ROLES
    assert _table_check_values("episode_participants", "rater") == vocabulary.RATERS
    assert _table_check_values("sessions", "ors_form") == vocabulary.ORS_FORMS
    assert _table_check_values("sessions", "srs_form") == vocabulary.SRS_FORMS
    assert _table_check_values("sessions", "entered_by") == vocabulary.ENTERED_BY
    assert vocabulary.PARTICIPANT_ROLES == ("index", "partner", "family_member", "member")


def test_default_forms_by_age_group_and_format() -> None:
    for format_ in vocabulary.FORMATS:
        assert vocabulary.default_forms("child", format_) == ("CORS", "CSRS")
        for age_group in ("adolescent", "adult"):
            expected = ("ORS", "GSRS") if format_ == "group" else ("ORS", "SRS")
            assert vocabulary.default_forms(age_group, format_) == expected


def test_the_sql_of_the_defaults_and_roles_agrees_with_python() -> None:
    import duckdb

    from fitdata.data.participants import ROLE_SQL

    con = duckdb.connect()
    for age_group in vocabulary.AGE_GROUPS:
        for format_ in vocabulary.FORMATS:
            sql = ", ".join(
                vocabulary.default_form_sql(f, f"'{age_group}'", f"'{format_}'")
                for f in ("ors", "srs")
            )
            assert con.execute(f"SELECT {sql}").fetchall()[0] == vocabulary.default_forms(
                age_group, format_
            )
            for rater in vocabulary.RATERS:
                role = con.execute(
                    f"SELECT {ROLE_SQL} FROM (SELECT '{rater}' AS rater) s, "
                    f"(SELECT '{format_}' AS format) e"
                ).fetchall()[0][0]
                assert role == vocabulary.participant_role(format_, rater)
                assert role in vocabulary.ROLES


def test_the_version_7_checks_list_the_vocabulary() -> None:
    assert _table_check_values("case_discussions", "forum") == vocabulary.FORUMS
    assert _table_check_values("case_discussions", "source") == vocabulary.DISCUSSION_SOURCES
    assert (
        _table_check_values("case_discussion_changes", "change_type")
        == vocabulary.DISCUSSION_CHANGE_TYPES
    )
