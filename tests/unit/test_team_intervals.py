"""Team comparisons that cannot read as certainty: coverage with a known truth, and the fit.

Issue 18: the team model's intervals treated the team variance as known (about ±0.85 ORS
points where a raw mean has an SE of about 1.4), a variance estimated at 0 showed every team as
"0.0 (0.0 to 0.0)", and the model was fitted on two teams. These tests simulate services with
a known truth and check what the page does with them
(:func:`fitdata.analytics.multilevel.group_effects`, used by
:func:`fitdata.features.service.teams.team_effects_from_sums`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.multilevel import (
    _reml_batch,
    group_effects,
    reml_random_intercept,
    shrunken_group_effects,
)
from fitdata.config import ClinicalConfig
from fitdata.features.service.teams import team_effects_from_sums
from fitdata.outputs.report.charts import drawable

#: Residual variance of ORS change after intake in the simulations (SD about 7 points, as in
#: the demo data and published ORS samples).
SIGMA2 = 50.0


def service(rng: np.random.Generator, icc: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A simulated service: 5-10 teams of 10-40 clients, true team effects with this ICC.

    Intake ~ N(19, 6); change = 8 - 0.4 (intake - 19) + u_team + e, e ~ N(0, SIGMA2) and
    u ~ N(0, tau2) with tau2 / (tau2 + SIGMA2) = icc. Returns the per-team sums the page
    adds up and the true effects u.
    """
    tau2 = icc / (1 - icc) * SIGMA2
    m = int(rng.integers(5, 11))
    n = rng.integers(10, 41, size=m)
    u = rng.normal(0.0, np.sqrt(tau2), m)
    sums = {k: np.zeros(m) for k in ("sx", "sy", "sxx", "sxy", "syy")}
    for j in range(m):
        x = np.round(rng.normal(19, 6, n[j]), 1)
        y = 8 - 0.4 * (x - 19) + u[j] + rng.normal(0.0, np.sqrt(SIGMA2), n[j])
        sums["sx"][j], sums["sy"][j] = x.sum(), y.sum()
        sums["sxx"][j], sums["sxy"][j], sums["syy"][j] = (x * x).sum(), (x * y).sum(), (y * y).sum()
    return {"n": n.astype(np.float64), **sums}, u


def coverage(icc: float, replications: int, seed: int) -> tuple[float, float]:
    """Share of true team effects inside the page's 95 % intervals, and inside the old ones.

    The old interval is the BLUP ± 1.96 × the conditional SE with the variances taken as known
    (:func:`shrunken_group_effects`), which is 0 ± 0 when the variance is estimated at 0.
    """
    rng = np.random.default_rng(seed)
    covered = old_covered = total = 0
    for _ in range(replications):
        sums, truth = service(rng, icc)
        fit = group_effects(**sums)
        low = fit["effect"] - CRITICAL_VALUE * fit["se"]
        high = fit["effect"] + CRITICAL_VALUE * fit["se"]
        covered += int(((low <= truth) & (truth <= high)).sum())
        old = shrunken_group_effects(**sums)
        reach = CRITICAL_VALUE * old["se"]
        old_covered += int((np.abs(truth - old["effect"]) <= reach).sum())
        total += len(truth)
    return covered / total, old_covered / total


@pytest.mark.parametrize(
    ("icc", "seed"),
    [
        (0.0, 1),  # no team differences: the truth is 0 for every team
        (0.05, 2),  # realistic: therapist/team effects are about 5 % (shared/domain.md)
        (0.15, 3),  # a large difference between teams
    ],
)
def test_nominal_95_percent_intervals_cover_at_least_90_percent_of_true_team_effects(icc, seed):
    # 250 simulated services of 5-10 teams: about 1,900 team intervals per truth. The standard
    # error of a coverage near 95 % is then about 0.5 points (1 point allowing for teams of one
    # service sharing a fit), so >= 90 % fails only for a real shortfall, not by chance; the
    # seeds are fixed, so the test is deterministic (about 3 s per truth). Measured: 99.3 %,
    # 93.9 % and 91.3 %; the known-variance interval covered 75.8 % and 82.5 % of the last two.
    ours, old = coverage(icc, replications=250, seed=seed)
    assert ours >= 0.90, f"coverage {ours:.3f} at ICC {icc}"
    if icc > 0:  # (with no differences at all, every team's truth is 0: near 100 % is right)
        assert ours <= 0.99, f"coverage {ours:.3f}: intervals far wider than needed"
    if icc == 0.05:
        # Why the bootstrap: the known-variance interval covered far less than promised.
        assert old < 0.85, f"the old interval covered {old:.3f}"


def test_the_batch_refit_of_the_bootstrap_finds_the_single_fits_optimum():
    # The bootstrap refits data sets that share one design (the teams' intakes): 30 outcomes
    # on the intakes of one service, from no team differences to large ones.
    rng = np.random.default_rng(11)
    sizes = rng.integers(10, 41, size=7)
    team = np.repeat(np.arange(7), sizes)
    x = np.round(rng.normal(19, 6, len(team)), 1)
    x = x - x.mean()
    n = np.bincount(team).astype(np.float64)
    cx, cxx = np.bincount(team, x), np.bincount(team, x * x)
    rows = []
    for icc in np.repeat([0.0, 0.02, 0.05, 0.1, 0.2, 0.4], 5):
        u = rng.normal(0.0, np.sqrt(icc / (1 - icc) * SIGMA2), 7)
        y = 8 - 0.4 * x + u[team] + rng.normal(0.0, np.sqrt(SIGMA2), len(team))
        rows.append((np.bincount(team, y), np.bincount(team, x * y), np.bincount(team, y * y)))
    sy, sxy, syy = (np.stack(column) for column in zip(*rows, strict=True))
    g, beta, sigma2 = _reml_batch(n, cx, cxx, sy, sxy, syy)
    assert (g == 0).any() and (g > 0).any()  # both the boundary and the interior are met
    for k in range(len(sy)):
        single = reml_random_intercept(n, cx, sy[k], cxx, sxy[k], syy[k])
        # within 0.1 % of the exact optimum: the refits only feed an MSE whose Monte Carlo
        # error is about 5 %, so a finer optimum would cost time and change nothing shown
        assert g[k] * sigma2[k] == pytest.approx(single["tau2"], rel=1e-3, abs=1e-9)
        assert sigma2[k] == pytest.approx(single["sigma2"], rel=1e-5)
        np.testing.assert_allclose(beta[k], single["beta"], rtol=1e-5, atol=1e-9)


def test_the_intervals_are_the_same_on_every_call():
    rng = np.random.default_rng(5)
    sums, _ = service(rng, 0.1)
    first, second = group_effects(**sums), group_effects(**sums)
    np.testing.assert_array_equal(first["se"], second["se"])
    assert (first["se"] > 0).all()


def _team_sums(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    m = len(sums["n"])
    return {
        "team_id": np.array([f"T{j}" for j in range(m)], dtype=object),
        "clients": sums["n"].astype(np.int64),
        **sums,
    }


def test_fewer_teams_than_min_comparison_groups_fit_no_model_and_say_why():
    rng = np.random.default_rng(8)
    sums, _ = service(rng, 0.1)
    four = {k: v[:4] for k, v in sums.items()}
    effects, attrs = team_effects_from_sums(_team_sums(four))
    assert attrs["too_few_groups"] and effects["team_effect"].isna().all()
    assert "fewer than 5 teams" in attrs["error"] and "min_comparison_groups" in attrs["error"]
    # The minimum is the config's: with 4 allowed the same four teams are compared.
    effects, attrs = team_effects_from_sums(
        _team_sums(four), config=ClinicalConfig(min_comparison_groups=4)
    )
    assert not attrs["too_few_groups"] and effects["team_effect"].notna().all()
    five = {k: v[:5] for k, v in sums.items()}
    effects, attrs = team_effects_from_sums(_team_sums(five))
    assert attrs["error"] is None and effects["team_effect"].notna().all()


def test_a_team_variance_of_zero_never_reads_as_zero_to_zero():
    rng = np.random.default_rng(4)
    for _ in range(40):  # services without team differences until REML puts tau2 at 0
        sums, _ = service(rng, 0.0)
        effects, attrs = team_effects_from_sums(_team_sums(sums))
        if attrs["no_difference"]:
            break
    assert attrs["team_variance"] == 0.0 and attrs["no_difference"]
    assert (effects["team_effect_ci_high"] - effects["team_effect_ci_low"] > 1.0).all()
    shown = effects[["team_effect", "team_effect_ci_low", "team_effect_ci_high"]].round(1)
    assert not (shown == 0.0).all(axis=1).any()
    # each team's own intake-adjusted mean residual, with the SE of a mean of its n
    np.testing.assert_allclose(
        effects["team_effect_se"], np.sqrt(attrs["residual_variance"] / sums["n"]), rtol=1e-12
    )


def test_every_estimate_lies_inside_its_interval_and_charts_refuse_one_that_does_not():
    rng = np.random.default_rng(9)
    for icc in (0.0, 0.05, 0.2):
        sums, _ = service(rng, icc)
        effects, _ = team_effects_from_sums(_team_sums(sums))
        keep, refused = drawable(
            effects, "team_effect", "team_effect_ci_low", "team_effect_ci_high"
        )
        assert refused == 0 and keep.all()
    broken = pd.DataFrame(
        {"v": [100.0, 50.0, np.nan, 3.0], "lo": [40.0, 30.0, 1.0, np.nan], "hi": [99.9, 60, 2, 4]}
    )
    keep, refused = drawable(broken, "v", "lo", "hi")
    assert list(keep) == [False, True, False, True] and refused == 1
