"""Identity numbers in any spelling, names and contact details, and the client-code pattern.

Valid identity numbers are generated (real dates, both check digits by the plain published
algorithm, D-, H- and synthetic variants) and written the ways people and programs write them;
the scan must find every one, and the database's SQL rule must refuse every one too.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitdata import demo
from fitdata.identifiers import (
    CLIENT_CODE,
    Column,
    Finding,
    contains_national_id,
    find_national_ids,
    identity_number_sql,
    is_client_code,
    is_national_id,
    might_be_identity_number,
    national_id_digits,
    text_problem,
    text_problems,
)

W1, W2 = (3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

#: The spellings that were stored as codes or names before (all valid numbers).
SEEN_IN_FILES = [
    "311299-10065",
    "01.01.90 10046",
    "0181 9010001",
    "010 190 10046",
    "010190\u00a010046",  # a no-break space, as a word processor puts it
    "0 1 0 1 9 0 1 0 0 4 6",
    "1819010001",  # 01819010001 typed into Excel: a number, so the leading zero is lost
]


def with_check_digits(first_nine: str) -> str | None:
    """The published algorithm, written out plainly (None when a check digit would be 10)."""
    number = first_nine
    for weights in (W1, W2):
        digit = 11 - sum(int(d) * w for d, w in zip(number, weights, strict=True)) % 11
        if digit == 10:
            return None
        number += str(0 if digit == 11 else digit)
    return number


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    """A valid identity number: a real birth date, maybe a D-, H- or synthetic number."""
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2039, 12, 31)))
    day, month = born.day, born.month
    variant = draw(st.sampled_from(["plain", "plain", "d", "h", "synthetic"]))
    day += 40 if variant == "d" else 0
    month += {"h": 40, "synthetic": 80}.get(variant, 0)
    personal = draw(st.integers(0, 999))
    number = with_check_digits(f"{day:02d}{month:02d}{born.year % 100:02d}{personal:03d}")
    if number is None:  # about 1 in 6 personal numbers has no valid check digit
        number = next(
            n
            for p in range(1000)
            if (n := with_check_digits(f"{day:02d}{month:02d}{born.year % 100:02d}{p:03d}"))
        )
    return number


SEPARATORS = [" ", "\u00a0", "\u202f", "\u2009", "\u3000", ".", "-", "/", "\u2013", "\u00ad", ""]
DIGIT_SCRIPTS = [ord("0"), ord("０"), ord("٠"), ord("०")]  # ASCII, full-width, Arabic, Devanagari


def _digits(number: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) for d in number)


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(a valid number, the number as somebody wrote it)."""
    number = draw(valid_numbers())
    kind = draw(st.sampled_from(["grouped", "grouped", "scripts", "four_digit_year", "excel"]))
    if kind == "excel" and not number.startswith("0"):
        kind = "grouped"
    if kind == "excel":
        text = number[1:]
    elif kind == "four_digit_year":
        year = int(number[4:6])
        century = 19 if year > 39 else 20
        day, month = number[:2], number[2:4]
        text = draw(
            st.sampled_from(
                [
                    f"{day}.{month}.{century}{year:02d} {number[6:]}",
                    f"{century}{year:02d}-{month}-{day} {number[6:]}",
                ]
            )
        )
    else:
        cuts = sorted(draw(st.sets(st.integers(1, 10), max_size=4)))
        parts = [number[a:b] for a, b in zip([0, *cuts], [*cuts, 11], strict=True)]
        separator = draw(st.sampled_from(SEPARATORS))
        text = separator.join(parts)
        if kind == "scripts":
            zero = draw(st.sampled_from(DIGIT_SCRIPTS))
            text = "".join(_digits(c, zero) if c.isdigit() else c for c in text)
    before = draw(st.sampled_from(["", "klient ", "fnr: ", "Kari ", "("]))
    after = draw(st.sampled_from(["", " ny", ")", ", ring mor"]))
    return number, before + text + after


@pytest.mark.parametrize("text", SEEN_IN_FILES)
def test_the_spellings_found_in_files_are_identity_numbers(text: str) -> None:
    assert contains_national_id(text)
    assert is_national_id(text)
    assert contains_national_id(f"klient {text} ny")
    for column in Column:
        assert text_problem(text, column) is Finding.IDENTITY_NUMBER, column


def test_one_person_has_one_number_however_it_is_written() -> None:
    assert {national_id_digits(t) for t in SEEN_IN_FILES[3:6]} == {"01019010046"}
    assert national_id_digits("1819010001") == "01819010001"
    assert national_id_digits("klient 01019010046") is None  # more than the number
    assert national_id_digits("01019010047") is None  # a check digit wrong


@settings(max_examples=300, deadline=None)
@given(spellings())
def test_every_valid_number_is_found_in_every_spelling(case: tuple[str, str]) -> None:
    number, text = case
    assert contains_national_id(text), (number, text)
    assert text_problem(text, Column.FREE_TEXT) is Finding.IDENTITY_NUMBER
    assert find_national_ids(pd.Series([text, "K-1"], dtype="str")).tolist() == [True, False]
    assert might_be_identity_number(text), "codes follow the database's stricter rule"


def _refused_by_sql(texts: list[str | None]) -> list[bool | None]:
    """The database's rule on each text, in an in-memory DuckDB (one connection per module)."""
    global _CON
    if _CON is None:
        _CON = duckdb.connect()
    rows = _CON.execute(
        f"SELECT {identity_number_sql('v')} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(v, i) "
        "ORDER BY i",
        [texts],
    ).fetchall()
    return [r for (r,) in rows]


_CON: duckdb.DuckDBPyConnection | None = None


@settings(max_examples=40, deadline=None)
@given(st.lists(spellings(), min_size=1, max_size=50))
def test_the_database_rule_refuses_every_spelling(cases: list[tuple[str, str]]) -> None:
    texts = [text for _, text in cases]
    refused = _refused_by_sql(texts)
    assert all(refused), [t for t, r in zip(texts, refused, strict=True) if not r]


ALPHABET = st.sampled_from(
    list("0123456789") * 4
    + list("０１٣४")
    + [s for s in SEPARATORS if s]
    + ["\t", "\n", "\u2028", "\u200b", "\ufeff", "\u2212", "\uff0e", "\uff0f", "\ufe58"]
    + list("K-_:;a")
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(ALPHABET, min_size=8, max_size=30), min_size=1, max_size=100))
def test_what_the_database_refuses_python_refuses_too(texts: list[str]) -> None:
    """A code the importer accepts must never be refused by the CHECK (an error mid-write)."""
    for text, by_sql in zip(texts, _refused_by_sql(texts), strict=True):
        if by_sql:
            assert might_be_identity_number(text), repr(text)


def test_the_sql_rule_lets_codes_and_nulls_through() -> None:
    values = ["K-1", "K-4F7Q2A", "K-0101901234", "E0000001", "K-001:2025-01-06", "", None]
    assert _refused_by_sql(values) == [False] * 6 + [None]  # NULL passes a CHECK
    assert _refused_by_sql(["K-001/2025-01-06"]) == [True], "why the importer's ids use ':'"


def test_ordinary_numbers_are_not_identity_numbers() -> None:
    ordinary = [
        "12345678901",  # no valid date
        "1309724802200",  # thirteen digits: not an 11-digit number
        "06.01.2025",
        "18,5",
        "K-1/2025-01-06",  # an episode id of the old form: a client and a date
        "2025-01-06 2025-02-03",
        "Ungdomslosen 2",
    ]
    assert not find_national_ids(pd.Series(ordinary, dtype="str")).any()
    numbers = np.random.default_rng(5).integers(0, 10, size=(20_000, 11))
    found = find_national_ids(pd.Series(["".join(map(str, r)) for r in numbers], dtype="str"))
    assert found.mean() < 1 / 300, "an ordinary 11-digit number is rarely taken for one"


@pytest.mark.parametrize(
    ("value", "finding"),
    [
        ("kari nordmann", Finding.NAME),
        ("Kari", Finding.NAME),
        ("Kari M. Nordmann", Finding.NAME),
        ("Ola-Kristian Ødegård", Finding.NAME),
        ("Nordmann, Kari", Finding.NAME),
        ("NORDMANN", Finding.NAME),
        ("kari.nordmann@example.no", Finding.EMAIL),
        ("98765432", Finding.PHONE),
        ("+47 987 65 432", Finding.PHONE),
        ("0047 98765432", Finding.PHONE),
        ("K 17", Finding.NOT_A_CODE),
        ("K", Finding.NOT_A_CODE),
        ("17", Finding.NOT_A_CODE),
        ("K-1;DROP", Finding.NOT_A_CODE),
        ("K" * 33, Finding.NAME),
        ("K-1019010046", Finding.IDENTITY_NUMBER),  # a lost leading zero, by the SQL rule
        ("K-01019012345", Finding.IDENTITY_NUMBER),  # eleven digits, even if not valid
        ("Ｋ-１", Finding.NOT_A_CODE),  # full-width: looks like a code, is not ASCII
    ],
)
def test_client_columns_hold_codes_only(value: str, finding: Finding) -> None:
    assert text_problem(value, Column.CLIENT) is finding
    assert not is_client_code(value)


def test_demo_codes_and_documented_examples_are_client_codes() -> None:
    rng = np.random.default_rng(1)
    alphabet = np.frombuffer(demo.CROCKFORD, dtype="S1").astype(str)
    demo_codes = ["K-" + "".join(rng.choice(alphabet, demo.CLIENT_CODE_LENGTH)) for _ in range(500)]
    examples = ["K-4F7Q2A", "K-9XK3MT", "K-ABCDEF", "P-3MZ6QW2A7KXF", "K-1", "K1", "kl17", "K-0"]
    for code in demo_codes + examples + ["K-0101901234", "A" * 31 + "1"]:
        assert is_client_code(code), code
        assert text_problem(code, Column.CLIENT) is None, code
    assert CLIENT_CODE.match("K-ABCDEF") and not CLIENT_CODE.match("OLA")


def test_episode_ids_have_a_digit() -> None:
    for episode in ["E0000001", "E1", "K-1:2025-01-06", "K-1/2025-01-06", "2024-017"]:
        assert text_problem(episode, Column.CODE) is None, episode
    assert text_problem("Forløp", Column.CODE) is Finding.NAME
    assert text_problem("E 1", Column.CODE) is Finding.NOT_A_CODE


@pytest.mark.parametrize(
    "team",
    [
        "Team Nord", "Ungdomsteamet", "Voksenteamet", "Psykisk helse og rus",
        "Barn, unge og familie", "Rask psykisk helsehjelp Sør", "Helsestasjon for ungdom",
        "Barne- og ungdomsteamet", "Rus- og avhengighetsteamet", "Ambulant team",
        "Oppfølgingsteam Vest", "Ungdomslosen 2", "Unspecified", "DPS Solvang", "T01",
        "Solsiden", "Fjellheim gård",
    ],
)  # fmt: skip
def test_team_and_service_names_are_not_taken_for_people(team: str) -> None:
    assert text_problem(team, Column.FREE_TEXT) is None


@pytest.mark.parametrize(
    "name",
    ["Kari Hansen", "kari nordmann", "Kari M. Nordmann", "Ola-Kristian Ødegård", "Per Olav Ås",
     "Nordmann, Kari", "Ludwig van Beethoven"],
)  # fmt: skip
def test_a_persons_name_in_a_team_column_is_found(name: str) -> None:
    assert text_problem(name, Column.FREE_TEXT) is Finding.NAME


def test_therapist_names_are_staff_names_and_allowed() -> None:
    for name in ["Kari Hansen", "Ola-Kristian Ødegård", "B0001", "Kari", "40123456"]:
        assert text_problem(name, Column.STAFF) is None  # 40123456: an employee number
    assert text_problem("+47 40123456", Column.STAFF) is Finding.PHONE
    assert text_problem("401 23 456", Column.STAFF) is Finding.PHONE
    assert text_problem("kari@example.no", Column.STAFF) is Finding.EMAIL
    assert text_problem("13097248022", Column.STAFF) is Finding.IDENTITY_NUMBER


def test_other_columns_are_scanned_for_identity_numbers_only() -> None:
    assert text_problem("Kari Nordmann", Column.OTHER) is None
    assert text_problem("98765432", Column.OTHER) is None
    assert text_problem("ring 311299-10065", Column.OTHER) is Finding.IDENTITY_NUMBER


def test_the_vectorised_form_agrees_and_keeps_missing_values_missing() -> None:
    values = ["K-1", "Kari", None, "K-1", "13097248022", "kari@example.no", "K 1"]
    for series in (pd.Series(values, dtype="str"), pd.Series(values, dtype="category")):
        found = text_problems(series, Column.CLIENT)
        as_findings = [None if pd.isna(f) else Finding(f) for f in found]
        assert as_findings == [text_problem(v, Column.CLIENT) for v in values]
        assert found.isna().tolist() == [True, False, True, True, False, False, False]
        assert found.isin([f for f in Finding if f.personal]).sum() == 3


VALUES = st.text(
    st.sampled_from(list("K-_:/.@ 0123456789aZÅ+") + ["\u00a0", "１"]), min_size=0, max_size=14
)


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=60), st.sampled_from(list(Column)))
def test_the_vectorised_shortcut_never_differs_from_one_value_at_a_time(
    values: list[str], column: Column
) -> None:
    found = text_problems(pd.Series(values, dtype="str"), column)
    expected = [text_problem(v, column) for v in values]
    assert [None if pd.isna(f) else Finding(f) for f in found] == expected
