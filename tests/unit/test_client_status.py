import datetime as dt
import math

import pandas as pd
import pytest

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.config import ClinicalConfig
from fitdata.i18n import Translator

NAN = math.nan
EN, NB = Translator("en"), Translator("nb")


def frame(ors: list[float], srs: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"session_no": range(1, len(ors) + 1), "ors_total": ors, "srs_total": srs})


def test_the_issue_example_sentence() -> None:
    status = client_status(frame([18.0, 21.0, 23.5, 25.4], [38, 37, 38, 35.5]), "adult")
    assert status.change == 7.4 and status.direction == 1 and status.last_position == "above"
    assert status.srs_below_sessions == (4,)
    assert status_sentence(status, EN) == (
        "ORS +7.4 since the first session: reliable improvement, now above the clinical cutoff"
        " of 25. SRS below 36 in session 4."
    )
    assert status_sentence(status, NB) == (
        "ORS +7,4 siden første samtale: pålitelig bedring, nå over den kliniske grensen på 25."
        " SRS under 36 i samtale 4."
    )


def test_one_session_says_change_is_not_yet_known() -> None:
    status = client_status(frame([20.0], [39.0]), "adult")
    assert status.change is None
    assert status_sentence(status, EN) == (
        "One ORS so far: 20.0, below the clinical cutoff of 25. Change can be judged from the"
        " next session. SRS at or above 36 in every session."
    )


def test_exactly_five_points_and_exactly_at_cutoff() -> None:
    status = client_status(frame([23.0, 28.0], [NAN, NAN]), "adolescent")
    assert status.change == 5.0 and status.direction == 1
    assert status.last_position == "at"
    assert status_sentence(status, EN) == (
        "ORS +5.0 since the first session: reliable improvement, now at the clinical cutoff of"
        " 28. No SRS recorded."
    )


def test_just_under_five_points_is_no_reliable_change() -> None:
    status = client_status(frame([20.1, 25.0], [36.0, 35.9]), "adult")
    assert status.change == 4.9 and status.direction == 0
    assert "no reliable change (the threshold is 5 points)" in status_sentence(status, EN)
    assert "SRS below 36 in session 2." in status_sentence(status, EN)


def test_deterioration_and_several_low_srs_sessions() -> None:
    status = client_status(frame([30.0, 26.0, 24.0], [35.0, 30.0, 33.0]), "child")
    assert status.direction == -1
    text = status_sentence(status, EN)
    assert text.startswith(
        "ORS \u22126.0 since the first session: reliable deterioration, now below"
    )
    assert text.endswith("SRS below 36 in all 3 sessions.")


def test_missing_scores_are_skipped_not_counted() -> None:
    status = client_status(frame([NAN, 20.0, NAN, 26.0], [NAN, 38.0, NAN, 39.0]), "adult")
    assert (status.ors_count, status.first_ors, status.last_ors) == (2, 20.0, 26.0)
    assert status.srs_count == 2


def test_no_ors_at_all() -> None:
    status = client_status(frame([NAN, NAN], [38.0, 39.0]), "adult")
    assert status_sentence(status, EN) == (
        "No ORS recorded yet. SRS at or above 36 in every session."
    )


def test_no_sessions() -> None:
    status = client_status(frame([], []), "adult")
    assert status_sentence(status, EN) == "No sessions recorded for this client in this episode."


@pytest.mark.parametrize("config", [ClinicalConfig(change_at_threshold_is_reliable=False)])
def test_the_sentence_follows_the_configured_rule(config: ClinicalConfig) -> None:
    status = client_status(frame([20.0, 25.0], [38.0, 38.0]), "adult", config)
    assert status.direction == 0


# -- the SRS in short form, and an ended episode in the past tense (issue 23) ---------------


def dated(ors: list[float], srs: list[float]) -> pd.DataFrame:
    """Weekly sessions from Monday 6 January 2025."""
    rows = frame(ors, srs)
    rows["session_date"] = [dt.date(2025, 1, 6) + dt.timedelta(weeks=i) for i in range(len(ors))]
    return rows


def srs_series(low: set[int], n: int) -> list[float]:
    return [33.0 if no in low else 38.0 for no in range(1, n + 1)]


def test_srs_below_in_some_sessions_is_counted_with_the_last() -> None:
    low = {2, 5, 6, 11, 14, 19}
    status = client_status(frame([20.0] * 21, srs_series(low, 21)), "adult")
    assert status.srs_below_sessions == tuple(sorted(low))
    assert status_sentence(status, EN).endswith(
        "SRS below 36 in 6 of 21 sessions, the last in session 19."
    )
    assert status_sentence(status, NB).endswith(
        "SRS under 36 i 6 av 21 samtaler, sist i samtale 19."
    )


def test_srs_below_in_one_session_names_it() -> None:
    status = client_status(frame([20.0] * 21, srs_series({4}, 21)), "adult")
    assert status_sentence(status, EN).endswith("SRS below 36 in session 4.")
    assert status_sentence(status, NB).endswith("SRS under 36 i samtale 4.")


def test_srs_below_in_every_session_says_all() -> None:
    status = client_status(frame([20.0] * 21, [30.0] * 21), "adult")
    assert status_sentence(status, EN).endswith("SRS below 36 in all 21 sessions.")
    assert status_sentence(status, NB).endswith("SRS under 36 i alle de 21 samtalene.")
    two = client_status(frame([20.0, 21.0], [30.0, 35.9]), "adult")
    assert status_sentence(two, EN).endswith("SRS below 36 in both sessions.")
    assert status_sentence(two, NB).endswith("SRS under 36 i begge samtalene.")


def test_sessions_without_an_srs_are_not_counted_as_below_or_above() -> None:
    srs = srs_series({1, 3, 7}, 10)
    srs[4] = srs[8] = NAN  # sessions 5 and 9 have no SRS
    status = client_status(frame([20.0] * 10, srs), "adult")
    assert status.srs_count == 8
    assert status_sentence(status, EN).endswith(
        "SRS below 36 in 3 of the 8 sessions with an SRS, the last in session 7."
    )
    assert status_sentence(status, NB).endswith(
        "SRS under 36 i 3 av de 8 samtalene med SRS, sist i samtale 7."
    )
    every = client_status(frame([20.0] * 4, [30.0, NAN, 31.0, 32.0]), "adult")
    assert status_sentence(every, EN).endswith("SRS below 36 in all 3 sessions with an SRS.")


def test_an_ongoing_episode_is_unchanged_by_the_new_keyword() -> None:
    status = client_status(dated([18.0, 21.0, 23.5, 25.4], [38, 37, 38, 35.5]), "adult")
    assert status.first_date == dt.date(2025, 1, 6)
    assert status_sentence(status, EN, ended=None) == status_sentence(status, EN)
    assert " now " in status_sentence(status, EN)


def test_an_ended_episode_is_told_in_the_past_with_its_end() -> None:
    status = client_status(dated([18.0, 21.0, 23.5, 25.4], [38, 37, 38, 35.5]), "adult")
    end = EpisodeEnd(dt.date(2025, 6, 9), "planned")
    assert status_sentence(status, EN, ended=end) == (
        "ORS went up 7.4 points from the first to the last session: reliable improvement, and"
        " ended above the clinical cutoff of 25. SRS below 36 in session 4."
        " The episode ended on 2025-06-09 (planned)."
    )
    assert status_sentence(status, NB, ended=end) == (
        "ORS gikk opp 7,4 poeng fra første til siste samtale: pålitelig bedring, og endte over"
        " den kliniske grensen på 25. SRS under 36 i samtale 4."
        " Forløpet ble avsluttet 09.06.2025 (planlagt)."
    )
    for tr in (EN, NB):
        assert " now " not in status_sentence(status, tr, ended=end)
        assert " nå " not in status_sentence(status, tr, ended=end)


def test_an_unplanned_or_transferred_end_and_a_fall() -> None:
    status = client_status(dated([30.0, 26.0, 24.0], [35.0, 30.0, 33.0]), "child")
    unplanned = EpisodeEnd(dt.date(2025, 2, 3), "unplanned")
    assert status_sentence(status, EN, ended=unplanned) == (
        "ORS went down 6.0 points from the first to the last session: reliable deterioration,"
        " and ended below the clinical cutoff of 32. SRS below 36 in all 3 sessions."
        " The episode ended on 2025-02-03 (unplanned)."
    )
    transferred = EpisodeEnd(dt.date(2025, 2, 3), "transferred")
    assert status_sentence(status, NB, ended=transferred).endswith(
        "Forløpet ble avsluttet 03.02.2025 (overført)."
    )
    assert "gikk ned 6,0 poeng" in status_sentence(status, NB, ended=transferred)


def test_an_ended_episode_without_change_or_with_one_ors() -> None:
    end = EpisodeEnd(dt.date(2025, 3, 3), "planned")
    same = client_status(dated([22.0, 24.0, 22.0], [38.0, 38.0, 38.0]), "adult")
    assert status_sentence(same, EN, ended=end).startswith(
        "ORS was the same at the first and the last session: no reliable change (the threshold"
        " is 5 points), and ended below the clinical cutoff of 25."
    )
    one = client_status(dated([20.0], [39.0]), "adult")
    assert status_sentence(one, EN, ended=end) == (
        "Only one ORS in the episode: 20.0, below the clinical cutoff of 25; change could not"
        " be judged. SRS at or above 36 in every session. The episode ended on 2025-03-03"
        " (planned)."
    )
    none = client_status(dated([NAN], [39.0]), "adult")
    assert status_sentence(none, NB, ended=end).startswith(
        "Ingen ORS ble registrert i dette forløpet."
    )
    empty = client_status(frame([], []), "adult")
    assert status_sentence(empty, EN, ended=end) == (
        "No sessions recorded for this client in this episode."
        " The episode ended on 2025-03-03 (planned)."
    )


def test_anonymised_end_is_weeks_since_the_first_session() -> None:
    status = client_status(dated([18.0, 21.0, 23.5, 25.4], [38, 37, 38, 35.5]), "adult")
    end = EpisodeEnd(dt.date(2025, 6, 9), "planned")  # 22 weeks after 6 January
    assert status_sentence(status, EN, ended=end, show_dates=False).endswith(
        "The episode ended in week 22 (planned)."
    )
    assert status_sentence(status, NB, ended=end, show_dates=False).endswith(
        "Forløpet ble avsluttet i uke 22 (planlagt)."
    )
    undated = client_status(frame([18.0, 25.4], [38, 38]), "adult")  # no session dates
    text = status_sentence(undated, EN, ended=end, show_dates=False)
    assert text.endswith("The episode has ended (planned).") and "2025" not in text


def test_episode_end_from_query_values() -> None:
    assert EpisodeEnd.of(None, None) is None
    assert EpisodeEnd.of(pd.NaT, NAN) is None
    assert EpisodeEnd.of(pd.Timestamp("2026-03-12"), "planned") == EpisodeEnd(
        dt.date(2026, 3, 12), "planned"
    )
    assert EpisodeEnd.of(dt.date(2026, 3, 12), "unplanned") == EpisodeEnd(
        dt.date(2026, 3, 12), "unplanned"
    )
