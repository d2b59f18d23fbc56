"""Team and therapist ids of an import (fitdata.ingest.ids) and masked values (privacy.masked)."""

from __future__ import annotations

import pandas as pd
import pytest

from fitdata.identifiers import contains_national_id
from fitdata.ingest.ids import TEAM_CODES, THERAPIST_CODES, resolve_ids
from fitdata.ingest.privacy import MASKED_LENGTH, masked


def cat(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="str").astype("category")


def resolve(
    values: pd.Series,
    names: pd.Series | None = None,
    ids: tuple[str, ...] = (),
    known: tuple[str, ...] = (),
    also: pd.Series | None = None,
) -> tuple[list[list[object]], dict[str, str]]:
    columns = [values] if also is None else [values, also]
    out, made = resolve_ids(
        columns, names, pd.Series(ids, dtype="str"), pd.Series(known, dtype="str"), TEAM_CODES
    )
    return [[None if pd.isna(v) else v for v in c.astype(object)] for c in out], made


def test_new_names_get_codes_in_order_and_keep_their_names() -> None:
    (ids,), made = resolve(cat("Voksenteamet", "Ungdomsteamet", "Voksenteamet", None))
    assert ids == ["T-0002", "T-0001", "T-0002", None]
    assert made == {"T-0001": "Ungdomsteamet", "T-0002": "Voksenteamet"}


def test_existing_teams_are_found_by_name_first_then_by_id() -> None:
    known_ids = ("T-0001", "Barneteamet", "T-0002")
    known_names = ("Ungdomsteamet", "Barneteamet", "T-0001")  # a team named like another's id
    (ids,), made = resolve(cat("ungdomsteamet", "Barneteamet", "T-0001"), None, known_ids,
                           known_names)  # fmt: skip
    assert ids == ["T-0001", "Barneteamet", "T-0002"]  # "T-0001" is the name of T-0002
    assert made == {}


def test_names_in_other_case_are_one_new_team_and_numbers_follow_the_highest_code() -> None:
    (ids,), made = resolve(
        cat("Team Nord", "TEAM NORD", "Team Sør"), None, ("T-0041", "T07"), ("A", "B")
    )
    assert ids[0] == ids[1] == "T-0042" and ids[2] == "T-0043"
    assert made == {"T-0042": "TEAM NORD", "T-0043": "Team Sør"}  # the first spelling, sorted


def test_a_value_the_file_names_otherwise_or_a_code_of_ours_is_an_id() -> None:
    values = cat("U1", "T-0009", "Voksenteamet", "Voksenteamet")
    names = cat("Ungdomsteamet Nord", None, "Voksenteamet", None)
    (ids,), made = resolve(values, names)
    assert ids == ["U1", "T-0009", "T-0010", "T-0010"]
    assert made == {"T-0010": "Voksenteamet"}


def test_the_therapists_team_column_shares_the_codes() -> None:
    (teams, theirs), made = resolve(
        cat("Ungdomsteamet", "Ungdomsteamet"), also=cat("Voksenteamet", "Ungdomsteamet")
    )
    assert teams == ["T-0001", "T-0001"] and theirs == ["T-0002", "T-0001"]
    assert made == {"T-0001": "Ungdomsteamet", "T-0002": "Voksenteamet"}


def test_therapist_codes() -> None:
    out, made = resolve_ids(
        [cat("Kari Hansen", "B17")],
        None,
        pd.Series(["B17"], dtype="str"),
        pd.Series(["Ola Berg"], dtype="str"),
        THERAPIST_CODES,
    )
    assert list(out[0].astype(str)) == ["B-0001", "B17"]
    assert made == {"B-0001": "Kari Hansen"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("01019010046", "01********6"),
        ("010190 10046", "01**** ****6"),
        ("01.01.90-10046", "01.**.**-****6"),
        ("Kari Nordmann", "Ka** *******n"),
        ("Kari", "K***"),
        ("kari.nordmann@example.no", "ka**.********@*******.*o"),
        ("+47 987 65 432", "+47 *** ** **2"),
        ("  98765432 ", "98*****2"),
    ],
)
def test_masked_keeps_the_shape_and_three_characters_at_most(value: str, shown: str) -> None:
    assert masked(value) == shown
    assert not contains_national_id(shown.replace("*", "0"))  # too little left to be one


def test_a_long_value_is_masked_and_cut() -> None:
    value = "klient 01019010046 " * 10
    out = masked(value)
    assert out.endswith("…") and len(out) == MASKED_LENGTH + 1
    assert "0101901" not in out and sum(c.isalnum() for c in out) == 2
