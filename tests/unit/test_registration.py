"""The registration rules, each tested on both sides of its boundary (pure, no database)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from fitdata.features.registration import (
    Correction,
    EpisodeState,
    NewClient,
    Problem,
    Registration,
    RegistrationError,
    Scores,
    SessionRow,
    problem_text,
    validate_correction,
    validate_end,
    validate_new_client,
    validate_registration,
    validate_scores,
)
from fitdata.i18n import Translator

TODAY = dt.date(2025, 6, 16)
STARTED = dt.date(2025, 5, 5)


def keys(problems: list[Problem]) -> list[str]:
    return [p.key for p in problems]


def row(
    number: int, day: dt.date, ors: float | None = 20.0, srs: float | None = 38.0
) -> SessionRow:
    return SessionRow(
        100 + number,
        number,
        day,
        Scores.from_total(ors) if ors is not None else None,
        Scores.from_total(srs) if srs is not None else None,
    )


def episode(*sessions: SessionRow, ended: dt.date | None = None) -> EpisodeState:
    return EpisodeState(
        "E1",
        "K-1",
        "B1",
        "T1",
        STARTED,
        ended,
        "planned" if ended else None,
        tuple(sessions),
    )


# -- scores -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, []),
        (-0.1, ["item_range"]),
        (10.0, []),
        (10.1, ["item_range"]),
        (7.3, []),
        (7.35, ["item_step"]),
        (7.300000000000001, []),  # a slider's float noise is still 7.3
        (None, ["item_missing"]),
        (math.nan, ["item_missing"]),
        (True, ["item_missing"]),
    ],
)
def test_each_item_is_0_to_10_in_tenths(value, expected) -> None:
    problems = validate_scores("ors", Scores.from_items(5.0, value, 5.0, 5.0))
    assert keys(problems) == expected
    if expected:
        assert problems[0].field == "ors_interpersonal"


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0.0, []),
        (-0.1, ["total_range"]),
        (40.0, []),
        (40.1, ["total_range"]),
        (23.4, []),
        (23.45, ["total_step"]),
        (None, ["form_empty"]),
        (math.inf, ["total_missing"]),
    ],
)
def test_a_total_only_is_0_to_40_in_tenths(total, expected) -> None:
    assert keys(validate_scores("srs", Scores.from_total(total))) == expected


def test_all_four_items_or_a_total() -> None:
    assert keys(validate_scores("ors", Scores.from_items(5.0, 5.0, 5.0))) == ["items_count"]
    assert keys(validate_scores("ors", Scores())) == ["form_empty"]
    with pytest.raises(ValueError, match="unknown form"):
        validate_scores("xrs", Scores.from_total(20.0))


@pytest.mark.parametrize(
    ("total", "expected"), [(20.1, []), (19.9, []), (20.2, ["total_mismatch"])]
)
def test_items_and_total_must_agree_to_a_tenth_like_the_schema(total, expected) -> None:
    scores = Scores(items=(5.0, 5.0, 5.0, 5.0), total=total)
    assert keys(validate_scores("ors", scores)) == expected


def test_the_total_of_items_is_exact() -> None:
    assert Scores.from_items(0.1, 0.2, 0.3, 0.4).value == 1.0
    assert Scores.from_items(8.2, 3.2, 9.9, 10.0).value == 31.3
    assert Scores.from_total(23.4).value == 23.4
    assert Scores.from_items(1.0, 2.0, 3.0, 4.0).columns("srs") == {
        "srs_relationship": 1.0,
        "srs_goals": 2.0,
        "srs_approach": 3.0,
        "srs_overall": 4.0,
        "srs_total": 10.0,
    }
    assert Scores.from_total(30.0).columns("ors")["ors_individual"] is None


# -- clients ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("K-3F9ZQ2", []),
        ("", ["client_code_missing"]),
        ("   ", ["client_code_missing"]),
        ("01019012345", ["client_code_national_id"]),
        ("010190 12345", ["client_code_national_id"]),
        (" 01019012345 ", ["client_code_national_id"]),
        ("K-01019012345", ["client_code_national_id"]),
        ("K-0101901234", []),  # ten digits are a code, eleven are not
        ("Ola Nordmann", ["client_code_format"]),
        ("K", ["client_code_format"]),
        ("K1", []),
        ("K-" + "7A" * 15, []),  # the longest code
        ("K" * 32, ["client_code_format"]),  # letters only: a word, not a code
        ("K" * 33, ["client_code_format"]),
        ("K-1;DROP", ["client_code_format"]),
    ],
)
def test_client_codes_are_pseudonymous(code, expected) -> None:
    assert keys(validate_new_client(NewClient(code, "adult"), TODAY)) == expected


@pytest.mark.parametrize(
    ("group", "year", "ok"),
    [
        # in 2025 a client born in 2007 is 17 or 18: may be an adult, 2008 (16-17) may not
        ("adult", 2007, True),
        ("adult", 2008, False),
        ("adolescent", 2012, True),  # 12 or 13
        ("adolescent", 2013, False),  # 11 or 12
        ("adolescent", 2007, True),  # 17 or 18
        ("adolescent", 2006, False),  # 18 or 19
        ("child", 2019, True),  # 5 or 6
        ("child", 2020, False),  # 4 or 5: YCORS, not scored
        ("child", 2012, True),  # 12 or 13
        ("child", 2011, False),  # 13 or 14
        ("adult", 1900, True),
    ],
)
def test_a_birth_year_must_fit_the_age_group(group, year, ok) -> None:
    problems = validate_new_client(NewClient("K-1", group, year), TODAY)
    assert keys(problems) == ([] if ok else ["birth_year_age_group"])


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (None, []),
        (1899, ["birth_year_range"]),
        (2026, ["birth_year_range"]),
        (True, ["birth_year_range"]),
    ],
)
def test_a_birth_year_is_optional_and_plausible(year, expected) -> None:
    assert keys(validate_new_client(NewClient("K-1", "adult", year), TODAY)) == expected


def test_an_unknown_age_group_is_refused() -> None:
    assert keys(validate_new_client(NewClient("K-1", "senior"), TODAY)) == ["age_group_unknown"]


# -- a new session ------------------------------------------------------------------------------
ORS_20 = Scores.from_total(20.0)


def registration(day: dt.date, ors: Scores | None = ORS_20, **kw) -> Registration:
    return Registration("T1", "B1", "K-1", "E1", day, ors, kw.pop("srs", None), **kw)


def test_a_session_needs_an_ors_or_an_srs() -> None:
    state = episode(row(1, STARTED))
    assert keys(validate_registration(registration(TODAY, None), state, TODAY)) == [
        "nothing_to_save"
    ]
    srs_only = registration(TODAY, None, srs=Scores.from_total(36.0))
    assert validate_registration(srs_only, state, TODAY) == []


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (TODAY, []),
        (TODAY + dt.timedelta(days=1), ["date_future"]),
        (dt.date(2025, 5, 13), []),  # the day after session 2
        (dt.date(2025, 5, 12), ["session_on_date"]),  # session 2's day
        (dt.date(2025, 5, 11), ["date_before_previous"]),
    ],
)
def test_a_new_session_comes_after_the_last_one_and_not_in_the_future(day, expected) -> None:
    state = episode(row(1, STARTED), row(2, dt.date(2025, 5, 12)))
    assert keys(validate_registration(registration(day), state, TODAY)) == expected


@pytest.mark.parametrize(
    ("day", "expected"), [(STARTED, []), (STARTED - dt.timedelta(days=1), ["date_before_episode"])]
)
def test_a_session_is_not_before_its_episode_started(day, expected) -> None:
    assert keys(validate_registration(registration(day), episode(), TODAY)) == expected


def test_a_new_episode_only_checks_that_the_date_is_not_in_the_future() -> None:
    new = Registration("T1", "B1", "K-1", None, TODAY, Scores.from_total(20.0))
    assert validate_registration(new, None, TODAY) == []
    later = Registration("T1", "B1", "K-1", None, TODAY + dt.timedelta(1), Scores.from_total(20.0))
    assert keys(validate_registration(later, None, TODAY)) == ["date_future"]


def test_an_ended_episode_takes_no_new_session() -> None:
    state = episode(row(1, STARTED), ended=dt.date(2025, 6, 1))
    assert keys(validate_registration(registration(TODAY), state, TODAY)) == ["episode_ended"]


def test_a_saved_ors_without_srs_on_the_day_asks_for_the_srs() -> None:
    state = episode(row(1, STARTED), row(2, TODAY, srs=None))
    assert keys(validate_registration(registration(TODAY), state, TODAY)) == [
        "session_on_date_without_srs"
    ]
    assert state.session_on(TODAY).session_no == 2
    assert state.next_session_no == 3


def test_a_new_client_is_checked_with_the_session() -> None:
    new = Registration(
        "T1",
        "B1",
        "",
        None,
        TODAY,
        Scores.from_total(20.0),
        new_client=NewClient("12345678901", "adult"),
    )
    assert keys(validate_registration(new, None, TODAY)) == ["client_code_national_id"]


# -- corrections --------------------------------------------------------------------------------
def saved() -> EpisodeState:
    return episode(
        row(1, dt.date(2025, 5, 6), 18.0, 37.0),
        row(2, dt.date(2025, 5, 12)),
        row(3, dt.date(2025, 5, 19)),
    )


@pytest.mark.parametrize(
    ("reason", "ok"), [("abc", True), ("ab", False), ("a b", False), (" a b c ", True), ("", False)]
)
def test_a_correction_says_why(reason, ok) -> None:
    correction = Correction(dt.date(2025, 5, 12), Scores.from_total(21.0), None, reason)
    problems = keys(validate_correction(correction, 102, saved(), TODAY))
    assert problems == ([] if ok else ["reason_missing"])


def test_a_correction_must_change_something() -> None:
    same = Correction(
        dt.date(2025, 5, 12), Scores.from_total(20.0), Scores.from_total(38.0), "typo"
    )
    assert keys(validate_correction(same, 102, saved(), TODAY)) == ["nothing_changed"]
    srs_removed = Correction(dt.date(2025, 5, 12), Scores.from_total(20.0), None, "not given")
    assert validate_correction(srs_removed, 102, saved(), TODAY) == []
    nothing = Correction(dt.date(2025, 5, 12), None, None, "wrong")
    assert keys(validate_correction(nothing, 102, saved(), TODAY)) == ["nothing_to_save"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 5, 6), []),  # the same day as session 1
        (STARTED, ["date_before_previous"]),  # after the start, before session 1
        (dt.date(2025, 5, 19), []),  # the same day as session 3
        (dt.date(2025, 5, 20), ["date_after_next"]),
    ],
)
def test_a_corrected_date_stays_between_the_neighbouring_sessions(day, expected) -> None:
    correction = Correction(day, Scores.from_total(20.0), Scores.from_total(38.0), "date typo")
    assert keys(validate_correction(correction, 102, saved(), TODAY)) == expected


def test_the_first_session_may_move_before_the_start_but_not_into_the_future() -> None:
    earlier = Correction(STARTED - dt.timedelta(days=3), Scores.from_total(18.0), None, "date")
    assert validate_correction(earlier, 101, saved(), TODAY) == []
    only = episode(row(1, STARTED))
    future = Correction(TODAY + dt.timedelta(days=1), Scores.from_total(18.0), None, "date")
    assert keys(validate_correction(future, 101, only, TODAY)) == ["date_future"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [(dt.date(2025, 6, 1), []), (dt.date(2025, 6, 2), ["date_after_episode"])],
)
def test_a_corrected_date_stays_within_an_ended_episode(day, expected) -> None:
    state = episode(row(1, STARTED), ended=dt.date(2025, 6, 1))
    correction = Correction(day, Scores.from_total(21.0), None, "date typo")
    assert keys(validate_correction(correction, 101, state, TODAY)) == expected


def test_an_unknown_session_cannot_be_corrected() -> None:
    correction = Correction(TODAY, Scores.from_total(20.0), None, "typo")
    assert keys(validate_correction(correction, 999, saved(), TODAY)) == ["session_unknown"]


def test_corrected_scores_follow_the_same_rules() -> None:
    correction = Correction(STARTED, Scores.from_items(5.0, 5.0, 5.0, 10.1), None, "typo")
    assert saved().session(101).session_date > STARTED
    assert keys(validate_correction(correction, 101, saved(), TODAY)) == ["item_range"]


# -- ending an episode --------------------------------------------------------------------------
LAST = dt.date(2025, 6, 2)


@pytest.mark.parametrize(
    ("ended", "end_type", "expected"),
    [
        (LAST, "planned", []),
        (TODAY, "unplanned", []),
        (TODAY, "transferred", []),
        (TODAY + dt.timedelta(days=1), "planned", ["date_future"]),
        (LAST - dt.timedelta(days=1), "planned", ["end_before_last_session"]),
        (TODAY, "", ["end_type_missing"]),
        (TODAY, "dropout", ["end_type_missing"]),
        (None, "planned", ["date_missing"]),
    ],
)
def test_ending_an_episode(ended, end_type, expected) -> None:
    assert keys(validate_end(episode(), ended, end_type, TODAY, LAST)) == expected


def test_an_episode_ends_on_or_after_its_start_and_only_once() -> None:
    state = episode()
    assert validate_end(state, STARTED, "planned", TODAY, None) == []
    before = STARTED - dt.timedelta(days=1)
    assert keys(validate_end(state, before, "planned", TODAY, None)) == ["end_before_start"]
    closed = episode(ended=dt.date(2025, 6, 1))
    assert keys(validate_end(closed, TODAY, "planned", TODAY, None)) == ["episode_already_ended"]


# -- messages -----------------------------------------------------------------------------------
def test_messages_name_the_field_and_format_numbers_for_the_language() -> None:
    problem = validate_scores("ors", Scores.from_items(5.0, 7.35, 5.0, 5.0))[0]
    assert problem_text(problem, Translator("en")).startswith("ORS Interpersonally: 7.35 has")
    assert problem_text(problem, Translator("nb")).startswith("ORS Mellommenneskelig: 7,35 har")
    out = validate_scores("srs", Scores.from_total(40.5))[0]
    assert (
        problem_text(out, Translator("nb"))
        == "SRS totalt: 40,5 er utenfor 0–40. Skriv et tall fra 0 til 40, f.eks. 23,5."
    )
    late = validate_registration(registration(TODAY + dt.timedelta(1)), episode(), TODAY)[0]
    assert problem_text(late, Translator("nb")) == "Datoen kan ikke være etter i dag (16.06.2025)."


def test_a_refusal_lists_every_problem_in_plain_english() -> None:
    error = RegistrationError(validate_scores("ors", Scores.from_items(11.0, 5.0, 5.0, -1.0)))
    assert len(error.problems) == 2
    assert "ORS Individually: 11.0 is outside 0–10" in str(error)
    assert "ORS Overall: −1.0 is outside 0–10" in str(error)
