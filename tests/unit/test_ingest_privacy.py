"""National identity numbers (mod-11 check digits), names, and keyed pseudonyms."""

import os
import stat

import pandas as pd
import pytest

from fitdata.identifiers import find_national_ids, is_national_id, looks_like_person_name
from fitdata.ingest.privacy import load_or_create_key, pseudonym, pseudonymise
from fitdata.ingest.problems import IngestError

# Published example numbers (synthetic) and numbers built with the official algorithm.
VALID = ["13097248022", "08077000292", "29029900157", "01010750160", "15076500565"]


def _with_check_digits(first_nine: str) -> str | None:
    """The official algorithm written out plainly, to compare the vectorised one against."""
    w1, w2 = [3, 7, 6, 1, 8, 9, 4, 5, 2], [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    k1 = 11 - sum(int(d) * w for d, w in zip(first_nine, w1, strict=True)) % 11
    k1 = 0 if k1 == 11 else k1
    if k1 == 10:
        return None
    ten = first_nine + str(k1)
    k2 = 11 - sum(int(d) * w for d, w in zip(ten, w2, strict=True)) % 11
    k2 = 0 if k2 == 11 else k2
    return None if k2 == 10 else ten + str(k2)


@pytest.mark.parametrize("number", VALID)
def test_published_examples_are_identity_numbers(number: str) -> None:
    assert is_national_id(number)
    assert is_national_id(f"{number[:6]} {number[6:]}")  # written with a space


@pytest.mark.parametrize("number", VALID)
def test_changing_any_single_digit_breaks_the_check_digits(number: str) -> None:
    for position in range(11):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1 :]
            assert not is_national_id(changed), changed


def test_d_numbers_and_h_numbers_count_too() -> None:
    d_number = _with_check_digits("410190124")  # day 01 + 40
    h_number = _with_check_digits("014190124")  # month 01 + 40
    assert d_number and is_national_id(d_number)
    assert h_number and is_national_id(h_number)


def test_check_digit_ten_is_never_valid_and_dates_must_be_real() -> None:
    assert _with_check_digits("010190123") is None  # k1 would be 10
    assert not is_national_id("01019012300")
    bad_month = _with_check_digits("011390124")  # month 13
    assert bad_month is not None and not is_national_id(bad_month)
    assert not is_national_id("1309724802")  # ten digits
    assert not is_national_id("130972480221")  # twelve digits


def test_vectorised_check_agrees_with_the_plain_algorithm() -> None:
    candidates = [
        f"{d:02d}{m:02d}{y:02d}{i:03d}"
        for d in (1, 15, 31, 45)
        for m in (1, 6, 12)
        for y in (0, 85)
        for i in range(0, 1000, 37)
    ]
    numbers = [n for n in (_with_check_digits(c) for c in candidates) if n]
    assert len(numbers) > 100
    found = find_national_ids(pd.Series(numbers + ["12345678901", "K-ABC123"], dtype="str"))
    assert found[: len(numbers)].all()
    assert not found[len(numbers) :].any()


def test_identity_numbers_are_found_inside_longer_text() -> None:
    values = pd.Series(
        ["klient 13097248022 ny", "tlf 98765432", "130972 48022", None, "1309724802200"],
        dtype="str",
    )
    assert find_national_ids(values).tolist() == [True, False, True, False, False]


def test_person_names_are_recognised_but_codes_are_not() -> None:
    values = pd.Series(
        ["Kari Nordmann", "Nordmann, Kari", "Per Olav Ås", "K-ABC123", "A-101", "kari", "KLIENT 7"],
        dtype="str",
    )
    assert looks_like_person_name(values).tolist() == [True, True, True, False, False, False, False]


def test_pseudonyms_are_stable_per_key_and_differ_between_keys() -> None:
    values = pd.Series(["13097248022", "130972 48022", "K-1", "K-1", None], dtype="str")
    one = pseudonymise(values, b"a" * 32)
    again = pseudonymise(values, b"a" * 32)
    other = pseudonymise(values, b"b" * 32)
    assert one.tolist() == again.tolist()
    assert one[0] == one[1], "the same number with or without a space is the same person"
    assert one[2] == one[3] and one[0] != one[2]
    assert one[0] != other[0]
    assert one[0].startswith("P-") and len(one[0]) == 14
    assert pd.isna(one[4])
    assert "13097248022" not in "".join(one.dropna())
    assert pseudonym(one[0], b"b" * 32) == one[0], "a pseudonym is not hashed twice"


def test_key_file_is_created_private_and_reused(tmp_path) -> None:
    path = tmp_path / "keys" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_a_key_file_others_can_read_is_refused(tmp_path) -> None:
    path = tmp_path / "pseudonym.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(IngestError, match="chmod 600"):
        load_or_create_key(path)


def test_dry_run_does_not_create_a_key_file(tmp_path) -> None:
    path = tmp_path / "pseudonym.key"
    assert len(load_or_create_key(path, create=False)) == 32
    assert not path.exists()


def test_identity_numbers_in_other_digit_scripts_are_found_not_a_crash() -> None:
    number = VALID[0]
    full_width = "".join(chr(ord("０") + int(d)) for d in number)  # typed with an Asian keyboard
    assert is_national_id(full_width)
    found = find_national_ids(
        pd.Series([f"klient {full_width}", "K-0001", "１２３４５６７８９０１"])
    )
    assert found.tolist() == [True, False, False]
