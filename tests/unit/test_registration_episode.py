"""The rules for several people in one episode, each on both sides of its boundary (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from fitdata.features.registration import (
    EpisodeSession,
    EpisodeState,
    NewClient,
    NewParticipant,
    Participant,
    ParticipantScores,
    Problem,
    Scores,
    SessionRow,
    participant_label,
    participant_mode,
    problem_text,
    validate_episode_session,
    validate_new_participant,
)
from fitdata.i18n import Translator

TODAY = dt.date(2025, 6, 16)
STARTED = dt.date(2025, 5, 5)
INDEX = Participant("K-A1", "index")
PARTNER = Participant("K-B2", "partner")
PARENT = Participant("K-C3", "collateral", "parent", "child")


def episode(format: str = "couple", ended: dt.date | None = None, sessions=()) -> EpisodeState:
    end_type = "planned" if ended else None
    return EpisodeState("E9", "K-A1", "B1", "T1", STARTED, ended, end_type, sessions, format)


def row(number: int, day: dt.date, srs: float | None = 38.0) -> SessionRow:
    srs_scores = Scores.from_total(srs) if srs is not None else None
    return SessionRow(100 + number, number, day, Scores.from_total(20.0), srs_scores)


def keys(problems: list[Problem]) -> list[tuple[str, str | None]]:
    return [(p.key, p.participant[0] if p.participant else None) for p in problems]


def session(*entries: ParticipantScores, day: dt.date = TODAY) -> EpisodeSession:
    return EpisodeSession("E9", day, entries)


def test_everyone_who_gave_a_form_is_checked_and_named() -> None:
    good, bad = Scores.from_total(20.0), Scores.from_total(40.1)
    problems = validate_episode_session(
        session(ParticipantScores("K-A1", ors=good), ParticipantScores("K-B2", ors=bad)),
        episode(),
        [INDEX, PARTNER],
        {},
        TODAY,
    )
    assert keys(problems) == [("total_range", "K-B2")]
    assert problems[0].participant == ("K-B2", "partner", "client")
    assert (
        validate_episode_session(
            session(ParticipantScores("K-A1", ors=good), ParticipantScores("K-B2", ors=good)),
            episode(),
            [INDEX, PARTNER],
            {},
            TODAY,
        )
        == []
    )


def test_at_least_one_participant_has_scores_and_the_absent_are_skipped() -> None:
    absent = ParticipantScores("K-B2")
    nobody = validate_episode_session(
        session(ParticipantScores("K-A1"), absent), episode(), [INDEX, PARTNER], {}, TODAY
    )
    assert keys(nobody) == [("nothing_to_save_anyone", None)]
    one = session(ParticipantScores("K-A1", ors=Scores.from_total(9.0)), absent)
    assert validate_episode_session(one, episode(), [INDEX, PARTNER], {}, TODAY) == []


def test_the_episodes_dates_once_and_each_ones_previous_session() -> None:
    entries = (
        ParticipantScores("K-A1", ors=Scores.from_total(20.0)),
        ParticipantScores("K-B2", ors=Scores.from_total(20.0)),
    )
    day = dt.date(2025, 6, 1)
    states = {
        ("K-A1", "client"): episode(sessions=(row(1, dt.date(2025, 6, 2)),)),
        ("K-B2", "client"): episode(sessions=(row(1, dt.date(2025, 5, 31)),)),
    }
    problems = validate_episode_session(
        session(*entries, day=day), episode(), [INDEX, PARTNER], states, TODAY
    )
    assert keys(problems) == [("date_before_previous", "K-A1")]
    # the day after the previous one is fine for both
    assert (
        validate_episode_session(
            session(*entries, day=dt.date(2025, 6, 2) + dt.timedelta(1)),
            episode(),
            [INDEX, PARTNER],
            states,
            TODAY,
        )
        == []
    )
    for day, key in [
        (TODAY + dt.timedelta(1), "date_future"),
        (STARTED - dt.timedelta(1), "date_before_episode"),
    ]:
        found = validate_episode_session(
            session(*entries, day=day), episode(), [INDEX, PARTNER], states, TODAY
        )
        assert keys(found) == [(key, None)]  # once, not once per partner
    ended = validate_episode_session(
        session(*entries), episode(ended=TODAY), [INDEX, PARTNER], states, TODAY
    )
    assert keys(ended) == [("episode_ended", None)]


def test_a_day_with_a_saved_ors_takes_the_srs_only() -> None:
    saved = {("K-A1", "client"): episode(sessions=(row(1, TODAY, srs=None),))}
    srs_only = session(ParticipantScores("K-A1", srs=Scores.from_total(36.0)))
    assert validate_episode_session(srs_only, episode(), [INDEX, PARTNER], saved, TODAY) == []
    assert participant_mode(saved[("K-A1", "client")], TODAY) == "add_srs"
    again = session(ParticipantScores("K-A1", ors=Scores.from_total(21.0)))
    assert keys(validate_episode_session(again, episode(), [INDEX, PARTNER], saved, TODAY)) == [
        ("session_on_date_without_srs", "K-A1")
    ]
    done = {("K-A1", "client"): episode(sessions=(row(1, TODAY),))}
    assert participant_mode(done[("K-A1", "client")], TODAY) == "done"
    assert participant_mode(None, TODAY) == "new"
    assert keys(validate_episode_session(srs_only, episode(), [INDEX], done, TODAY)) == [
        ("session_on_date", "K-A1")
    ]


def test_a_collateral_rater_gives_the_ors_only_and_strangers_are_refused() -> None:
    child = Participant("K-C3", "index", age_group="child")
    srs = session(ParticipantScores("K-C3", "parent", None, Scores.from_total(30.0)))
    assert keys(
        validate_episode_session(srs, episode("individual"), [child, PARENT], {}, TODAY)
    ) == [("collateral_srs", "K-C3")]
    ors = session(ParticipantScores("K-C3", "parent", Scores.from_total(30.0)))
    assert validate_episode_session(ors, episode("individual"), [child, PARENT], {}, TODAY) == []
    stranger = session(ParticipantScores("K-Z9", ors=Scores.from_total(30.0)))
    assert keys(validate_episode_session(stranger, episode(), [INDEX], {}, TODAY)) == [
        ("not_a_participant", None)
    ]
    twice = session(
        ParticipantScores("K-A1", ors=Scores.from_total(30.0)),
        ParticipantScores("K-A1", ors=Scores.from_total(31.0)),
    )
    assert keys(validate_episode_session(twice, episode(), [INDEX], {}, TODAY)) == [
        ("participant_twice", "K-A1")
    ]


@pytest.mark.parametrize(
    ("format", "new", "known", "expected"),
    [
        ("couple", NewParticipant("E9", "K-B2", "partner"), True, []),
        ("couple", NewParticipant("E9", "K-B2", "family_member"), True, ["role_for_couple"]),
        ("family", NewParticipant("E9", "K-B2", "family_member"), True, []),
        ("group", NewParticipant("E9", "K-B2", "member"), True, []),
        (
            "individual",
            NewParticipant("E9", "K-B2", "partner"),
            True,
            ["participant_individual_episode"],
        ),
        ("couple", NewParticipant("E9", "K-A1", "partner"), True, ["already_participant"]),
        ("couple", NewParticipant("E9", "K-NONE", "partner"), False, ["client_unknown"]),
        ("couple", NewParticipant("E9", "", "partner"), False, ["client_code_missing"]),
        (
            "couple",
            NewParticipant("E9", "", "partner", new_client=NewClient("K-NEW", "adult")),
            False,
            [],
        ),
        (
            "couple",
            NewParticipant("E9", "", "partner", new_client=NewClient("K-B2", "adult")),
            True,
            ["client_code_exists"],
        ),
        (
            "couple",
            NewParticipant("E9", "", "partner", new_client=NewClient("12345678901", "adult")),
            False,
            ["client_code_national_id"],
        ),
        ("couple", NewParticipant("E9", "K-B2", "partner", added_on=TODAY), True, []),
        (
            "couple",
            NewParticipant("E9", "K-B2", "partner", added_on=TODAY + dt.timedelta(1)),
            True,
            ["date_future"],
        ),
        (
            "couple",
            NewParticipant("E9", "K-B2", "partner", added_on=STARTED - dt.timedelta(1)),
            True,
            ["date_before_episode"],
        ),
        ("individual", NewParticipant("E9", "K-A1", "collateral", "teacher"), False, []),
        (
            "individual",
            NewParticipant("E9", "K-B2", "collateral", "teacher"),
            False,
            ["collateral_not_client"],
        ),
        (
            "individual",
            NewParticipant("E9", "K-A1", "collateral", "client"),
            False,
            ["rater_missing"],
        ),
    ],
)
def test_who_may_join(format, new, known, expected) -> None:
    client = NewClient(new.code, "adult") if known else None
    found = validate_new_participant(new, episode(format), [INDEX], client, TODAY)
    assert [p.key for p in found] == expected


def test_a_couple_has_two_partners_and_a_rater_is_added_once() -> None:
    full = validate_new_participant(
        NewParticipant("E9", "K-Z9", "partner"),
        episode(),
        [INDEX, PARTNER],
        NewClient("K-Z9", "adult"),
        TODAY,
    )
    assert [p.key for p in full] == ["couple_full"]
    child = Participant("K-C3", "index", age_group="child")
    again = validate_new_participant(
        NewParticipant("E9", "K-C3", "collateral", "parent"),
        episode("individual"),
        [child, PARENT],
        None,
        TODAY,
    )
    assert [p.key for p in again] == ["already_rater"]
    ended = validate_new_participant(
        NewParticipant("E9", "K-B2", "partner"),
        episode(ended=TODAY),
        [INDEX],
        NewClient("K-B2", "adult"),
        TODAY,
    )
    assert [p.key for p in ended] == ["episode_ended"]


@pytest.mark.parametrize(
    ("language", "partner", "parent", "message"),
    [
        (
            "en",
            "Partner · K-B2",
            "Parent's rating · K-C3",
            "Partner · K-B2: ORS total: 40.1 is outside 0–40. "
            "Write a number from 0 to 40, e.g. 23.5.",
        ),
        (
            "nb",
            "Partner · K-B2",
            "Foresattes vurdering · K-C3",
            "Partner · K-B2: ORS totalt: 40,1 er utenfor 0–40. "
            "Skriv et tall fra 0 til 40, f.eks. 23,5.",
        ),
    ],
)
def test_participants_are_named_in_both_languages(language, partner, parent, message) -> None:
    tr = Translator(language)
    assert participant_label("K-B2", "partner", "client", tr) == partner
    assert participant_label("K-C3", "collateral", "parent", tr) == parent
    problem = Problem("ors_total", "total_range", {"form": "ORS", "value": 40.1, "max": 40})
    assert problem_text(problem.of("K-B2", "partner"), tr) == message
    assert problem_text(problem, tr) == message.split(": ", 1)[1]  # one client: as before


def test_a_raters_rating_is_saved_once_a_day() -> None:
    child = Participant("K-C3", "index", age_group="child")
    rated = EpisodeState(
        "E9",
        "K-C3",
        "B1",
        "T1",
        STARTED,
        None,
        None,
        (row(1, TODAY, srs=None),),
        "family",
        "parent",
    )
    assert participant_mode(rated, TODAY) == "done"  # the ORS only: nothing to add after
    assert participant_mode(rated, TODAY - dt.timedelta(1)) == "new"
    again = session(ParticipantScores("K-C3", "parent", Scores.from_total(25.0)))
    found = validate_episode_session(
        again, episode("family"), [child, PARENT], {("K-C3", "parent"): rated}, TODAY
    )
    assert keys(found) == [("rating_on_date", "K-C3")]
    assert problem_text(found[0], Translator("en")) == (
        "Parent's rating · K-C3: a rating of session 1 on this date is already saved."
    )
