"""Single-row checks: numbers, dates, ranges, items against totals, words for codes."""

import datetime as dt

import pandas as pd
import pytest

from fitdata.ingest.problems import ProblemLog
from fitdata.ingest.validate import parse_rows

TODAY = dt.date(2026, 6, 1)
BASE = {"team": "T", "therapist": "B", "client": "K-1", "session_date": "06.01.2025"}


def _parse(**columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(next(iter(columns.values())))
    raw = pd.DataFrame({k: [v] * n for k, v in BASE.items()} | columns, dtype="str")
    log = ProblemLog()
    return parse_rows(raw, log, TODAY), log.frame()


def test_decimal_comma_and_point_and_totals_in_tenths() -> None:
    typed, problems = _parse(
        ors_total=["18,5", "18.5", " 40 ", "0"], srs_total=["", "-", "36", "NA"]
    )
    assert problems.empty
    assert typed["ors_total"].tolist() == [185, 185, 400, 0]
    assert typed["srs_total"].tolist() == [-1, -1, 360, -1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "a number such as 7.5 or 7,5"),
        ("1e1", "a number such as 7.5 or 7,5"),
        ("inf", "a number such as 7.5 or 7,5"),
        ("1.000,5", "a number such as 7.5 or 7,5"),
        ("40.1", "a number from 0 to 40"),
        ("-0.1", "a number from 0 to 40"),
        ("18.55", "at most one decimal"),
    ],
)
def test_bad_totals_are_reported_with_what_was_expected(value: str, expected: str) -> None:
    _, problems = _parse(ors_total=[value])
    assert problems[["column", "value", "problem"]].values.tolist() == [
        ["ors_total", value, expected]
    ]


def test_items_are_checked_from_0_to_10() -> None:
    _, problems = _parse(
        ors_individual=["10.1"],
        ors_interpersonal=["5"],
        ors_social=["5"],
        ors_overall=["5"],
        ors_total=["25.1"],
    )
    assert ("ors_individual", "a number from 0 to 10") in set(
        zip(problems["column"], problems["problem"], strict=True)
    )


def test_total_must_match_the_items_within_the_schema_tolerance() -> None:
    items = {c: ["5.0", "5.0", "5.0"] for c in ("srs_relationship", "srs_goals", "srs_approach")}
    typed, problems = _parse(
        **items, srs_overall=["5.0", "5.0", "5.0"], srs_total=["20.1", "19.9", "20.2"]
    )
    assert problems["pos"].tolist() == [2]
    assert problems["column"].iloc[0] == "srs_total"
    assert "the sum of the four SRS items, 20.0 (within 0.1)" in problems["problem"].iloc[0]


def test_a_missing_total_is_the_sum_of_the_items() -> None:
    items = {c: ["2.5"] for c in ("ors_individual", "ors_interpersonal", "ors_social")}
    typed, problems = _parse(**items, ors_overall=["3.1"], ors_total=[""])
    assert problems.empty
    assert typed["ors_total"].tolist() == [106]


def test_items_are_given_all_four_or_none() -> None:
    _, problems = _parse(
        ors_individual=["5"],
        ors_interpersonal=["5"],
        ors_social=[""],
        ors_overall=[""],
        ors_total=["20"],
    )
    assert sorted(problems["column"]) == ["ors_overall", "ors_social"]
    assert problems["problem"].str.contains("all four ORS items or none").all()


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("06.01.2025", "2025-01-06"),
        ("6.1.2025", "2025-01-06"),
        ("2025-01-06", "2025-01-06"),
        ("2025-01-06 00:00:00", "2025-01-06"),
        ("2025-01-06T10:30", "2025-01-06"),
    ],
)
def test_dates_in_norwegian_and_iso_form(text: str, day: str) -> None:
    typed, problems = _parse(session_date=[text], ors_total=["20"])
    assert problems.empty
    assert str(typed["session_date"].iloc[0].date()) == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31.02.2025", "a date as dd.mm.yyyy or yyyy-mm-dd (a real calendar date)"),
        ("01/06/2025", "a date as dd.mm.yyyy or yyyy-mm-dd (a real calendar date)"),
        ("13.13.2025", "a date as dd.mm.yyyy or yyyy-mm-dd (a real calendar date)"),
        ("02.06.2026", "a date not after today (2026-06-01)"),
        ("01.01.1989", "a date from 1990-01-01 on (is the year right?)"),
        ("", "a value is required"),
    ],
)
def test_bad_dates(text: str, expected: str) -> None:
    _, problems = _parse(session_date=[text], ors_total=["20"])
    assert problems[["column", "problem"]].values.tolist() == [["session_date", expected]]


def test_age_groups_in_english_norwegian_or_as_ages() -> None:
    typed, problems = _parse(
        age_group=["barn", "Ungdom", "voksen", "adult", "7", "15", "44", "4", "elder"],
        ors_total=["20"] * 9,
    )
    assert typed["age_group"].tolist()[:7] == [
        "child",
        "adolescent",
        "adult",
        "adult",
        "child",
        "adolescent",
        "adult",
    ]
    assert problems["pos"].tolist() == [7, 8]
    assert "ORS is not scored below 6" in problems["problem"].iloc[0]
    assert problems["problem"].iloc[1].startswith("child, adolescent, adult (barn, ungdom, voksen)")


def test_raters_formats_and_endings_in_both_languages() -> None:
    typed, problems = _parse(
        rater=["klient", "Mor", "lærer", "", "nabo"],
        format=["par", "familie", "gruppe", "individuell", ""],
        end_type=["planlagt", "uplanlagt", "overført", "pågående", ""],
        ors_total=["20"] * 5,
    )
    assert typed["rater"].tolist()[:4] == ["client", "parent", "teacher", "client"]
    assert typed["format"].tolist()[:4] == ["couple", "family", "group", "individual"]
    assert typed["end_type"].tolist()[:4] == ["planned", "unplanned", "transferred", ""]
    assert problems[["pos", "column"]].values.tolist() == [[4, "rater"]]


def test_an_episode_end_needs_an_ending_type_and_comes_after_the_session() -> None:
    _, problems = _parse(
        episode_end=["01.01.2025", "01.02.2025"], end_type=["planned", ""], ors_total=["20", "20"]
    )
    assert problems[["pos", "column"]].values.tolist() == [[0, "episode_end"], [1, "end_type"]]


def test_session_numbers_and_birth_years_are_whole_numbers_in_range() -> None:
    typed, problems = _parse(
        session_no=["1", "2.5", "0", "x"],
        birth_year=["1980", "1899", "", "2027"],
        ors_total=["20"] * 4,
    )
    assert typed["session_no"].tolist()[0] == 1
    assert sorted(problems[problems["column"] == "session_no"]["pos"]) == [1, 2, 3]
    assert sorted(problems[problems["column"] == "birth_year"]["pos"]) == [1, 3]


def test_required_values_may_not_be_empty() -> None:
    _, problems = _parse(client=["", "K-2"], ors_total=["20", "20"])
    assert problems[["pos", "column", "problem"]].values.tolist() == [
        [0, "client", "a value is required"]
    ]
