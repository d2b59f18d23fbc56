import math

import pandas as pd
import pytest

from fitdata.analytics.client_status import client_status, status_sentence
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
    assert text.endswith("SRS below 36 in sessions 1, 2 and 3.")


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
