"""Therapist comparison done right: a multilevel model, shrinkage, intervals, minimum caseload.

Raw mean change per therapist ranks therapists mostly by luck and by whom they were sent:
therapist effects are about 5 % of outcome variance once intake severity is accounted for
(Wampold & Brown 2005), so a small caseload's mean is mostly noise. :func:`therapist_effects`
therefore fits one linear mixed model over the service (statsmodels ``MixedLM``, REML):

    change_ij = b0 + b1 * (intake_ij - mean intake) + u_j + e_ij,
    u_j ~ N(0, tau^2),   e_ij ~ N(0, sigma^2),

with client-episode i of therapist j, change = last - first ORS, on closed client-episodes
with at least two ORS (an ongoing episode's change is not final). A therapist's **effect** is
the BLUP (best linear unbiased predictor, the conditional mean) of u_j: the therapist's
intake-adjusted deviation from the service's mean change in ORS points, shrunk toward 0 by the
factor n_j tau^2 / (n_j tau^2 + sigma^2), so few episodes are pulled in more. Its approximate
95 % interval is BLUP +/- 1.959964 * sqrt(Var(u_j | y)), the conditional variance of the
random effect given the data (statsmodels ``random_effects_cov``; for this model
tau^2 sigma^2 / (sigma^2 + n_j tau^2)). It treats b0, b1, tau^2 and sigma^2 as known, so the
interval is somewhat too narrow for small services. The ICC is tau^2 / (tau^2 + sigma^2).

Therapists with fewer than ``min_episodes`` eligible client-episodes are left out of the
model and get a row with NaN estimates and the reason; everyone else enters the fit.

Rows are ordered by therapist name (then id), never by the estimate: the intervals of most
therapists overlap, and a table sorted by estimate reads as a league table, which the
evidence does not support and which practitioners rightly fear (shared/domain.md, "What users
struggle with"). Sort by estimate only deliberately, with the intervals beside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.indices import suppress_small_cells
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig

__all__ = ["THERAPIST_COLUMNS", "therapist_effects"]

#: Columns of :func:`therapist_effects`, in order (then ``suppressed``).
THERAPIST_COLUMNS: tuple[str, ...] = (
    "therapist_id",
    "name",
    "clients",
    "n_episodes",
    "effect",
    "se",
    "ci_low",
    "ci_high",
    "reason",
)


def therapist_effects(
    outcomes: pd.DataFrame,
    *,
    min_episodes: int = 10,
    config: ClinicalConfig = DEFAULT_CONFIG,
    names: Mapping[str, str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Shrunken, intake-adjusted therapist effects with intervals (see the module docstring).

    Args:
        outcomes: Rows of :func:`fitdata.analytics.indices.episode_outcomes` (already filtered).
        Needs
            ``therapist_id``, ``client_id``, ``first_ors``, ``last_ors``, ``n_with_ors`` and
            ``ended``.
        min_episodes: Smallest number of eligible client-episodes (closed, >= 2 ORS) for a
            therapist to be estimated.
        config: Supplies the minimum cell size: a therapist row over 1-4 distinct clients has
            its counts hidden by :func:`fitdata.analytics.indices.suppress_small_cells`.
        names: Display names by therapist id (e.g. from the ``therapists`` table); the id is
            used where a name is missing. A ``therapist_name`` column in ``outcomes`` is used
            when this is None.

    Returns:
        One row per therapist in ``outcomes``, ordered by name: :data:`THERAPIST_COLUMNS` and
        ``suppressed``. ``effect`` is the BLUP in ORS points, ``se`` its conditional SD,
        ``ci_low``/``ci_high`` the 95 % interval, ``reason`` says why a row has no estimate
        (empty when estimated). ``attrs``: ``therapist_variance`` (tau^2),
        ``residual_variance`` (sigma^2), ``icc``, ``fixed_effects``, ``mean_intake``,
        ``n_therapists``, ``n_episodes``, ``converged``, ``warnings`` (messages caught while
        fitting), ``error`` (None, or why the model could not be fitted) and ``method``.
    """
    import statsmodels.formula.api as smf  # slow to import; only needed here

    frame = outcomes.copy()
    eligible = frame["ended"].notna() & (frame["n_with_ors"] >= 2)
    fit = frame.loc[eligible, ["therapist_id", "first_ors", "last_ors"]].copy()
    fit["change"] = fit["last_ors"] - fit["first_ors"]
    counts = fit.groupby("therapist_id").size()
    therapists = pd.Index(frame["therapist_id"].dropna().unique(), name="therapist_id")
    n_episodes = counts.reindex(therapists, fill_value=0)
    estimated = n_episodes.index[n_episodes >= min_episodes]
    fit = fit[fit["therapist_id"].isin(estimated)].copy()
    mean_intake = float(fit["first_ors"].mean()) if len(fit) else float("nan")
    fit["intake_c"] = fit["first_ors"] - mean_intake

    table = pd.DataFrame(index=therapists)
    table["clients"] = frame.groupby("therapist_id")["client_id"].nunique().reindex(therapists)
    table["n_episodes"] = n_episodes
    table["effect"] = np.nan
    table["se"] = np.nan
    table["reason"] = np.where(
        n_episodes >= min_episodes, "", f"fewer than {min_episodes} episodes"
    )
    attrs: dict[str, object] = {
        "therapist_variance": float("nan"),
        "residual_variance": float("nan"),
        "icc": float("nan"),
        "fixed_effects": {},
        "mean_intake": mean_intake,
        "n_therapists": len(estimated),
        "n_episodes": len(fit),
        "min_episodes": min_episodes,
        "converged": False,
        "warnings": [],
        "error": None,
        "method": (
            "MixedLM (REML): change ~ centred intake + therapist random intercept; effect = "
            "BLUP; 95 % interval = BLUP +/- 1.96 * sqrt(conditional variance)"
        ),
    }

    if len(estimated) < 2:
        attrs["error"] = f"fewer than 2 therapists with at least {min_episodes} episodes"
    else:
        records: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                model = smf.mixedlm("change ~ intake_c", fit, groups=fit["therapist_id"])
                result = model.fit(reml=True)
                tau2 = float(result.cov_re.iloc[0, 0])
                sigma2 = float(result.scale)
                blups = pd.Series(
                    {g: float(v.iloc[0]) for g, v in result.random_effects.items()},
                    dtype="float64",
                )
                cond_var = pd.Series(
                    {g: float(np.asarray(v)[0, 0]) for g, v in result.random_effects_cov.items()},
                    dtype="float64",
                )
            table.loc[blups.index, "effect"] = blups
            table.loc[cond_var.index, "se"] = np.sqrt(cond_var.clip(lower=0))
            attrs.update(
                therapist_variance=tau2,
                residual_variance=sigma2,
                icc=tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else float("nan"),
                fixed_effects={k: float(v) for k, v in result.fe_params.items()},
                converged=bool(result.converged),
            )
        except (ValueError, np.linalg.LinAlgError, ArithmeticError) as error:
            attrs["error"] = f"the model could not be fitted: {error}"
        # Each distinct message once, in the order first seen.
        attrs["warnings"] = list(
            dict.fromkeys(f"{r.category.__name__}: {r.message}" for r in records)
        )
    if attrs["error"] is not None:
        table.loc[table["reason"] == "", "reason"] = str(attrs["error"])

    table["ci_low"] = table["effect"] - CRITICAL_VALUE * table["se"]
    table["ci_high"] = table["effect"] + CRITICAL_VALUE * table["se"]
    table["name"] = _names(frame, therapists, names)
    table = table.reset_index()
    table = table.sort_values(["name", "therapist_id"], kind="stable", ignore_index=True)
    table = table[list(THERAPIST_COLUMNS)]
    table.attrs = {"group_keys": ["therapist_id", "name", "reason"]}
    table = suppress_small_cells(table, count_column="clients", config=config)
    table.attrs = {**table.attrs, **attrs}
    return table


def _names(
    frame: pd.DataFrame,
    therapists: pd.Index,
    names: Mapping[str, str] | pd.Series | None,
) -> pd.Series:
    if names is None and "therapist_name" in frame.columns:
        names = frame.drop_duplicates("therapist_id").set_index("therapist_id")["therapist_name"]
    if names is None:
        mapped = pd.Series(therapists, index=therapists, dtype="object")
    else:
        lookup = pd.Series(names) if not isinstance(names, pd.Series) else names
        mapped = lookup.reindex(therapists).astype("object")
        mapped = mapped.where(mapped.notna(), pd.Series(therapists, index=therapists))
    return mapped.astype(str)
