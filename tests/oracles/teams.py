"""The team model fitted on the rows with statsmodels: the reference for the per-team-sums fit.

:func:`fitdata.features.service.teams.team_effects_from_sums` fits the team model from per-team
sums with its own REML optimiser; this is the same model fitted the usual way, on the
client-episodes with statsmodels ``MixedLM``, kept only for the tests that compare the two
(``tests/unit/test_service_model.py``, ``tests/unit/test_service_equivalence.py``). It was the
service page's own fit before the sums replaced it.

The rules of the page are repeated here in their plainest form: at least
``config.min_comparison_groups`` estimable teams; BLUPs when the team variance is positive, with
the standard error of the shared parametric bootstrap
(:func:`fitdata.analytics.multilevel.bootstrap_mse`, fed with statsmodels' estimates: the
bootstrap itself is checked by the coverage simulation in ``tests/unit/test_team_intervals.py``);
each team's own mean residual with ``sqrt(sigma2 / n)`` when the team variance is 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.multilevel import bootstrap_mse
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.features.service.teams import TEAM_MIN_EPISODES, effects_table, model_attributes

#: statsmodels stops within its tolerance of the boundary: a team variance below this share of
#: the residual variance is the boundary (0), as the sums fit finds it exactly.
BOUNDARY = 1e-6

__all__ = ["team_effects"]


def team_effects(
    rows: pd.DataFrame,
    *,
    min_episodes: int = TEAM_MIN_EPISODES,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Intake-adjusted team differences with 95 % intervals (multilevel model).

    The team version of :func:`tests.oracles.therapists.therapist_effects`, with the same model and
    formulas: closed client-episodes with at least two ORS; ``change = b0 + b1 * (intake -
    mean intake) + u_team + e`` fitted by REML (statsmodels ``MixedLM``); a team's estimate is
    the BLUP of ``u_team`` (ORS points above or below the service's intake-adjusted mean
    change), its interval BLUP +/- 1.959964 * the bootstrap root MSE (at least the conditional
    SE); with a team variance of 0, each team's own mean residual +/- 1.959964 * sqrt(sigma2 /
    n). Teams with fewer than ``min_episodes`` eligible client-episodes are not estimated, and
    no team is estimated with fewer than ``config.min_comparison_groups`` of them. It is
    fitted with the
    array interface (no formula parsing) and statsmodels' default optimisers (a single
    L-BFGS run can stop at a team variance of 0 when it is not; a test shows it). BLUPs and
    conditional variances are computed in closed form from the fitted variances.

    Returns:
        A frame with ``team_id``, ``model_clients``, ``model_episodes``, ``team_effect``,
        ``team_effect_se``, ``team_effect_ci_low``, ``team_effect_ci_high``,
        ``team_effect_reason`` (suppressed by client count), and the model's attributes
        (``therapist_variance`` is named ``team_variance`` here; ``icc``, ``converged`` ...).
    """
    eligible = rows["ended"].notna() & (rows["n_with_ors"] >= 2)
    fit = rows.loc[eligible, ["team_id", "first_ors", "last_ors"]].copy()
    fit["change"] = fit["last_ors"] - fit["first_ors"]
    teams = pd.Index(sorted(rows["team_id"].dropna().unique()), name="team_id")
    counts = fit.groupby("team_id").size().reindex(teams, fill_value=0)
    estimated = counts.index[counts >= min_episodes]
    fit = fit[fit["team_id"].isin(estimated)]
    table = pd.DataFrame(index=teams)
    table["model_clients"] = rows.groupby("team_id")["client_id"].nunique().reindex(teams)
    table["model_episodes"] = counts
    table["team_effect"] = np.nan
    table["team_effect_se"] = np.nan
    table["team_effect_reason"] = np.where(
        counts >= min_episodes, "", f"fewer than {min_episodes} episodes"
    )
    attrs = model_attributes(
        len(estimated),
        len(fit),
        min_episodes,
        config,
        "MixedLM (REML): change ~ centred intake + team random intercept",
    )
    if not attrs["too_few_groups"]:
        from statsmodels.regression.mixed_linear_model import MixedLM

        intake = fit["first_ors"].to_numpy(dtype="float64")
        exog = np.column_stack([np.ones(len(fit)), intake - intake.mean()])
        records: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                model = MixedLM(
                    fit["change"].to_numpy(dtype="float64"),
                    exog,
                    groups=fit["team_id"].to_numpy(),
                )
                result = model.fit(reml=True)
                tau2 = max(float(np.asarray(result.cov_re)[0, 0]), 0.0)
                sigma2 = float(result.scale)
                if tau2 < BOUNDARY * sigma2:
                    tau2 = 0.0
            # BLUP and conditional variance of a random intercept, in closed form (what
            # statsmodels' random_effects computes, which refuses a variance of exactly 0):
            # u_j = n_j tau2 / (n_j tau2 + sigma2) * mean_j(residual), Var = tau2 sigma2 /
            # (sigma2 + n_j tau2). A team variance of 0: each team's own mean residual.
            beta = np.asarray(result.fe_params, dtype="float64")
            if tau2 == 0.0:  # the boundary: refit by least squares, as REML's g = 0 is
                beta = np.linalg.lstsq(exog, fit["change"].to_numpy(dtype="float64"))[0]
            residual = fit["change"].to_numpy(dtype="float64") - exog @ beta
            by_team = pd.DataFrame(
                {
                    "team_id": fit["team_id"].to_numpy(),
                    "r": residual,
                    "x": exog[:, 1],
                    "xx": exog[:, 1] ** 2,
                }
            )
            grouped = by_team.groupby("team_id").agg(
                mean=("r", "mean"), size=("r", "size"), sx=("x", "sum"), sxx=("xx", "sum")
            )
            n = grouped["size"].to_numpy(dtype="float64")
            if tau2 > 0:
                shrink = n * tau2 / (n * tau2 + sigma2)
                mse = bootstrap_mse(
                    n,
                    grouped["sx"].to_numpy(),
                    grouped["sxx"].to_numpy(),
                    beta=beta,
                    tau2=tau2,
                    sigma2=sigma2,
                )
                se = np.sqrt(np.maximum(mse, tau2 * sigma2 / (sigma2 + n * tau2)))
            else:
                shrink = np.ones_like(n)
                se = np.sqrt(sigma2 / n)
            table.loc[grouped.index, "team_effect"] = shrink * grouped["mean"].to_numpy()
            table.loc[grouped.index, "team_effect_se"] = se
            attrs.update(
                team_variance=tau2,
                residual_variance=sigma2,
                icc=tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else float("nan"),
                converged=bool(result.converged),
                no_difference=tau2 == 0.0,
            )
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as error:
            attrs["error"] = f"the model could not be fitted: {error}"
        attrs["warnings"] = list(
            dict.fromkeys(f"{r.category.__name__}: {r.message}" for r in records)
        )
    return effects_table(table, attrs, config)
