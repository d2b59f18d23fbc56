"""The team model: the same estimates as the therapist model applied to teams, ordered by name."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.indices import episode_outcomes
from fitdata.analytics.multilevel import minimize_bounded
from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from tests.oracles.teams import team_effects
from tests.oracles.therapists import therapist_effects


@pytest.fixture(scope="module")
def outcomes(demo_db):
    return episode_outcomes(reader_for(demo_db), closed_only=True)


def synthetic(seed: int = 3) -> pd.DataFrame:
    """Eight teams of 40 episodes with known team effects of -3 ... +4 ORS points."""
    rng = np.random.default_rng(seed)
    rows = []
    for t, effect in enumerate((-3, -2, -1, 0, 1, 2, 3, 4)):
        for i in range(40):
            intake = round(float(rng.normal(19, 6)), 1)
            change = 8 - 0.4 * (intake - 19) + effect + rng.normal(0, 5)
            rows.append(
                {
                    "team_id": f"T{t}",
                    "therapist_id": f"P{t}",
                    "client_id": f"K{t}-{i}",
                    "first_ors": intake,
                    "last_ors": round(intake + change, 1),
                    "n_with_ors": 4,
                    "ended": pd.Timestamp("2025-08-01"),
                }
            )
    return pd.DataFrame(rows)


def test_team_effects_match_the_therapist_model_on_teams():
    frame = synthetic()
    ours, attrs = team_effects(frame)
    theirs = therapist_effects(
        frame.drop(columns="therapist_id").rename(columns={"team_id": "therapist_id"})
    ).set_index("therapist_id")
    ours = ours.set_index("team_id")
    assert attrs["error"] is None and theirs.attrs["error"] is None
    assert attrs["team_variance"] == pytest.approx(theirs.attrs["therapist_variance"], rel=0.02)
    assert attrs["residual_variance"] == pytest.approx(theirs.attrs["residual_variance"], rel=0.01)
    for team in ours.index:
        assert ours.at[team, "team_effect"] == pytest.approx(theirs.at[team, "effect"], abs=0.05)
        # The bootstrap interval includes the doubt about the variances and the service mean,
        # which the therapist model's known-variance interval leaves out: wider, never narrower.
        assert ours.at[team, "team_effect_ci_high"] > theirs.at[team, "ci_high"]
        assert ours.at[team, "team_effect_ci_low"] < theirs.at[team, "ci_low"]
    # Shrinkage: estimates are pulled toward 0, and keep the true order of the extremes.
    assert abs(ours.at["T7", "team_effect"]) < 4 + 2
    assert ours.at["T0", "team_effect"] < 0 < ours.at["T7", "team_effect"]


def test_a_team_variance_of_zero_gives_each_team_its_own_estimate(outcomes):
    # The demo data have therapist effects but no team effects: REML puts the team variance
    # at the boundary. Every BLUP would then be 0 (0 to 0), which reads as certainty; each
    # team gets its own intake-adjusted mean residual with the SE of a mean of n instead.
    effects, attrs = team_effects(outcomes)
    assert attrs["error"] is None
    assert attrs["team_variance"] == 0.0 and attrs["no_difference"]
    shown = effects.dropna(subset=["team_effect"])
    assert len(shown) >= 5
    expected_se = np.sqrt(attrs["residual_variance"] / shown["model_episodes"])
    np.testing.assert_allclose(shown["team_effect_se"], expected_se, rtol=1e-9)
    assert (shown["team_effect_ci_high"] - shown["team_effect_ci_low"] > 1.0).all()
    assert shown["team_effect"].abs().max() > 0.05  # not all 0: the teams' own estimates
    # The own estimates average out to the service (weighted by episodes, as the fit is).
    weighted = (shown["team_effect"] * shown["model_episodes"]).sum()
    assert weighted / shown["model_episodes"].sum() == pytest.approx(0.0, abs=1e-6)


def test_too_few_episodes_are_not_estimated_and_say_why(outcomes):
    small = outcomes.groupby("team_id").head(8)
    effects, attrs = team_effects(small)
    assert effects["team_effect"].isna().all()
    assert set(effects["team_effect_reason"]) == {"fewer than 10 episodes"}
    assert "fewer than 5 teams" in attrs["error"] and attrs["too_few_groups"]


def test_team_comparison_is_ordered_by_name_with_intervals(demo_db):
    summary = service_summary(reader_for(demo_db), ServiceFilters(parse_period("2025")))
    teams = summary.teams
    assert list(teams["name"]) == sorted(teams["name"])
    shown = teams.dropna(subset=["team_effect"])
    assert len(shown) >= 2
    assert (shown["team_effect_ci_low"] <= shown["team_effect"]).all()
    assert (shown["team_effect"] <= shown["team_effect_ci_high"]).all()
    assert np.isfinite(summary.team_model["icc"])


@pytest.mark.parametrize(
    ("func", "low", "high"),
    [
        (lambda t: (t - 0.3) ** 2, -2.0, 2.0),
        (lambda t: math.cos(t) + 0.1 * t, 0.0, 6.0),
        (lambda t: -math.log1p(math.exp(t)) + 0.5 * t, -8.0, 3.0),
        (lambda t: abs(t - 1.5), -1.0, 1.0),  # the minimum at the boundary
        (lambda t: 1.0, -1.0, 1.0),  # flat
        (lambda t: (t - 5.0) ** 4 - t, -20.0, 8.0),
    ],
)
def test_the_ported_bounded_minimiser_is_scipys_step_for_step(func, low, high):
    from scipy.optimize import minimize_scalar

    for xatol in (1e-5, 1e-10):
        ours, converged = minimize_bounded(func, low, high, xatol=xatol)
        theirs = minimize_scalar(
            func, bounds=(low, high), method="bounded", options={"xatol": xatol}
        )
        assert ours == float(theirs.x)  # exactly: the same iterates
        assert converged == bool(theirs.success)
    few, converged = minimize_bounded(func, low, high, xatol=1e-12, maxiter=3)
    theirs = minimize_scalar(
        func, bounds=(low, high), method="bounded", options={"xatol": 1e-12, "maxiter": 3}
    )
    assert few == float(theirs.x) and converged == bool(theirs.success)
