"""The client graph's optional expected-trajectory band and flag markers (charts.py keywords)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status
from fitdata.analytics.flags import session_flags
from fitdata.config import DEFAULT_CONFIG
from fitdata.i18n import Translator
from fitdata.ui.charts import FLAG_COLOURS, client_graph_spec

NAN = math.nan
ITEMS = (
    "ors_individual",
    "ors_interpersonal",
    "ors_social",
    "ors_overall",
    "srs_relationship",
    "srs_goals",
    "srs_approach",
    "srs_overall",
)


def sessions(ors, srs) -> pd.DataFrame:
    n = len(ors)
    return pd.DataFrame(
        {
            "session_no": list(range(1, n + 1)),
            "session_date": [dt.date(2025, 1, 6) + dt.timedelta(weeks=i) for i in range(n)],
            "rater": ["client"] * n,
            "ors_total": ors,
            "srs_total": srs,
            **{c: [NAN] * n for c in ITEMS},
        }
    )


def expected(n_episodes: list[int], min_episodes: int = 30) -> pd.DataFrame:
    ok = [e >= min_episodes for e in n_episodes]
    return pd.DataFrame(
        {
            "session_no": list(range(1, len(ok) + 1)),
            "expected": [20.0 + 2 * i if s else NAN for i, s in enumerate(ok)],
            "lower": [20.0 + i if s else NAN for i, s in enumerate(ok)],
            "n_episodes": n_episodes,
            "sufficient": ok,
            "reason": [None if s else f"too few episodes: n < {min_episodes}" for s in ok],
        }
    )


def draw(frame: pd.DataFrame, lang: str = "en", **kwargs):
    status = client_status(frame[frame["rater"] == "client"], "adult")
    spec = client_graph_spec(frame, status, Translator(lang), DEFAULT_CONFIG, **kwargs)
    return go.Figure(spec)  # validates every property of the spec


def by_name(figure, name):
    return next(t for t in figure.data if t.name == name)


def names(figure) -> list[str]:
    return [t.name for t in figure.data]


def test_without_keywords_the_graph_is_unchanged() -> None:
    plain = draw(sessions([20.0, 21.0, 19.0], [38.0, 35.0, 37.0]))
    assert names(plain) == [
        "Reliable change: ±5 around the first ORS",
        "Clinical cutoff 25 (adult)",
        "SRS cutoff 36",
        "ORS",
        "SRS",
    ]
    assert not plain.layout.annotations


def test_expected_band_has_median_and_lower_line_with_the_episode_count() -> None:
    figure = draw(sessions([20.0, 21.0, 19.0], [38.0] * 3), expected=expected([400, 250, 120]))
    median = by_name(figure, "Expected ORS (median of 120–400 closed episodes)")
    lower = by_name(figure, "Lower expected line (25th percentile)")
    assert list(median.x) == [1, 2, 3] and list(median.y) == [20.0, 22.0, 24.0]
    assert list(lower.y) == [20.0, 21.0, 22.0]
    assert median.fill == "tonexty"  # the band between the lines is filled
    assert list(median.customdata) == ["400", "250", "120"]  # episodes per session on hover
    assert names(figure).index(lower.name) == names(figure).index(median.name) - 1
    assert "Reliable change: ±5 around the first ORS" in names(figure)  # the band stays


def test_thin_sessions_are_left_out_of_the_band() -> None:
    figure = draw(sessions([20.0, 21.0, 19.0], [38.0] * 3), expected=expected([400, 12, 120]))
    median = next(t for t in figure.data if t.name.startswith("Expected ORS"))
    assert list(median.x) == [1, 3]


def test_too_few_episodes_falls_back_to_the_reliable_change_band_and_says_why() -> None:
    figure = draw(sessions([20.0, 21.0], [38.0] * 2), expected=expected([5, 5]))
    assert not any(n.startswith("Expected ORS") for n in names(figure))
    assert "Reliable change: ±5 around the first ORS" in names(figure)
    assert "fewer than 30 closed episodes" in figure.layout.annotations[0].text
    nb = draw(sessions([20.0, 21.0], [38.0] * 2), "nb", expected=expected([5, 5]))
    assert "færre enn 30 avsluttede forløp" in nb.layout.annotations[0].text


def test_flags_are_marked_at_the_sessions_where_they_fired() -> None:
    frame = sessions([20.0, 21.0, 14.5], [38.0, 35.0, NAN])
    flags = session_flags(frame.assign(episode_id="E1", client_id="K1"))
    figure = draw(frame, flag_markers=flags)
    below = by_name(figure, "SRS below cutoff")
    assert list(below.x) == [2] and list(below.y) == [35.0]  # on the SRS point
    worse = by_name(figure, "Reliable deterioration")
    assert list(worse.x) == [3] and list(worse.y) == [14.5]  # on the ORS point
    missing = by_name(figure, "SRS missing")
    assert list(missing.x) == [3] and list(missing.y) == [1.0]  # on the floor
    assert "below the cutoff 36" in below.customdata[0]  # the rule on hover
    assert below.marker.color == FLAG_COLOURS["srs_below_cutoff"]


def test_hidden_dates_show_weeks_since_start() -> None:
    figure = draw(sessions([20.0, 21.0, 19.0], [38.0] * 3), show_dates=False)
    ors = by_name(figure, "ORS")
    assert [row[0] for row in ors.customdata] == ["week 0", "week 1", "week 2"]
    assert "2025" not in str(figure.to_plotly_json())
