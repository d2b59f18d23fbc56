"""Registration stores no identity number, contact detail or name: the shared rules of
fitdata.identifiers applied to the client code and to a correction's reason (pure, no database).
"""

from __future__ import annotations

import datetime as dt

import pytest

from fitdata.features.registration import (
    Correction,
    EpisodeState,
    NewClient,
    Scores,
    SessionRow,
    problem_text,
    validate_correction,
    validate_new_client,
)
from fitdata.i18n import Translator

TODAY = dt.date(2025, 6, 16)
EN, NB = Translator("en"), Translator("nb")


def code_problems(code: str) -> list:
    return validate_new_client(NewClient(code, "adult"), TODAY)


@pytest.mark.parametrize(
    "code",
    [
        "01019010046",  # a valid fødselsnummer ...
        "01.01.90 10046",  # ... as a person writes it: date with dots
        "010190-10046",
        "01.01.1990 10046",  # a four-digit year
        "41019010003",  # a D-number (day + 40)
        "K-010190 10046",  # inside a code
        "１０１９０１００４６",  # full-width digits
    ],
)
def test_an_identity_number_in_any_spelling_is_refused_and_not_repeated(code) -> None:
    (problem,) = code_problems(code)
    assert problem.key == "client_code_national_id"
    message = problem_text(problem, EN)
    assert "10046" not in message and "0100" not in message


@pytest.mark.parametrize("code", ["kari.nordmann@example.no", "+47 987 65 432", "98765432"])
def test_contact_details_are_not_a_client_code(code) -> None:
    (problem,) = code_problems(code)
    assert problem.key == "client_code_contact"
    assert "e-mail address or a phone number" in problem_text(problem, EN)
    assert "e-postadresse eller et telefonnummer" in problem_text(problem, NB)


def test_a_name_is_refused_without_being_repeated_in_the_message() -> None:
    (problem,) = code_problems("Kari Nordmann")
    assert problem.key == "client_code_format"
    message = problem_text(problem, EN)
    assert "Nordmann" not in message and "never a name" in message
    (problem,) = code_problems("Kari")  # one word alone is a name too, never a code
    assert "Kari" not in problem_text(problem, EN)


@pytest.mark.parametrize("code", ["K-3F9ZQ2", "K-ABCDEF", "kl17", "K-NY1", "P-3MZ6QW2A7KXF"])
def test_pseudonymous_codes_pass(code) -> None:
    assert code_problems(code) == []


def saved() -> EpisodeState:
    first = SessionRow(101, 1, dt.date(2025, 5, 5), Scores.from_total(20.0), None)
    return EpisodeState("E1", "K-1", "B1", "T1", first.session_date, None, None, (first,))


def reason_problems(reason: str) -> list:
    correction = Correction(dt.date(2025, 5, 5), Scores.from_total(23.0), None, reason)
    return [p for p in validate_correction(correction, 101, saved(), TODAY) if p.field == "reason"]


@pytest.mark.parametrize(
    ("reason", "found"),
    [
        ("fnr 010190 10046 skrevet inn ved en feil", "a national identity number"),
        ("asked kari.nordmann@example.no", "an e-mail address"),
        ("tlf 98765432", "a phone number"),
        ("Kari Nordmann", "a person's name"),
    ],
)
def test_a_reason_that_identifies_a_person_is_refused(reason, found) -> None:
    (problem,) = reason_problems(reason)
    assert problem.key == "text_personal"
    assert found in problem_text(problem, EN)
    assert "10046" not in problem_text(problem, EN)  # what was found is named, not repeated


def test_the_refusal_is_in_bokmal_on_a_bokmal_page() -> None:
    (problem,) = reason_problems("010190 10046")
    assert problem_text(problem, NB).startswith("Teksten ser ut til å inneholde et fødselsnummer")


@pytest.mark.parametrize(
    "reason",
    ["feil dato", "item typo", "Typed 32 instead of 23", "Skrevet feil", "ORS entered twice"],
)
def test_ordinary_reasons_pass(reason) -> None:
    assert reason_problems(reason) == []
