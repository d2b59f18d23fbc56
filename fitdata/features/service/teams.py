"""The team comparison: indices by team, a Wilson interval and a multilevel team estimate.

Teams are compared with intervals and shrinkage, never as a league table: with few groups a
raw mean ranks mostly by luck (``shared/domain.md``). Each team's intake-adjusted difference in
mean ORS change from the service is the BLUP of a random intercept per team, fitted by REML
from per-team sums (:func:`fitdata.analytics.multilevel.group_effects`), so a filter change
needs no rows; teams under :data:`TEAM_MIN_EPISODES` are not estimated. Three rules keep the
comparison from reading as more certain than it is:

* the model is fitted only on at least ``config.min_comparison_groups`` estimable teams (with
  fewer, the team variance cannot be estimated; the reason says so);
* its intervals come from a parametric bootstrap of the fit, so they include the doubt about
  the team variance (a known-variance interval covered far less than 95 %);
* when REML puts the team variance at 0 ("no detectable difference between teams") every BLUP
  would be 0 (0 to 0); each team's own, unshrunken intake-adjusted mean is shown instead, with
  its own interval, and ``team_model["no_difference"]`` says so.

``tests/oracles/teams.py`` keeps the statsmodels fit on the rows that the tests compare with.
Rows are ordered by team **name**, never by a value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE
from fitdata.analytics.indices import suppress_small_cells
from fitdata.analytics.intervals import wilson_interval
from fitdata.analytics.multilevel import BOOTSTRAP_REPLICATIONS, group_effects
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig

__all__ = [
    "EFFECT_COLUMNS",
    "TEAM_MIN_EPISODES",
    "effects_table",
    "model_attributes",
    "team_comparison",
    "team_effects_from_sums",
]

#: Smallest number of eligible client-episodes (closed, >= 2 ORS) for a team to be estimated.
TEAM_MIN_EPISODES = 10

#: The model's columns in the team table.
EFFECT_COLUMNS = (
    "model_clients",
    "model_episodes",
    "team_effect",
    "team_effect_se",
    "team_effect_ci_low",
    "team_effect_ci_high",
    "team_effect_reason",
    "model_suppressed",
)


def team_effects_from_sums(
    team_sums: dict[str, np.ndarray],
    *,
    min_episodes: int = TEAM_MIN_EPISODES,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Intake-adjusted team differences with 95 % intervals, from per-team sums.

    The model, REML estimate, estimates, intervals, minimum and suppression of the reference
    fit on the rows (``tests/oracles/teams.py``; a test compares the two), computed from each
    team's count of eligible client-episodes ``n`` and sums of intake ``x`` and change ``y``
    (``sx``, ``sy``, ``sxx``, ``sxy``, ``syy``) and its distinct clients, so a filter change
    needs no rows (:func:`fitdata.analytics.multilevel.group_effects`: shrunken BLUPs with
    bootstrap intervals, or each team's own estimate when the team variance is 0).

    Args:
        team_sums: ``team_id`` (sorted), ``clients`` and the sums above, one entry per team
            with client-episodes in the period.
        min_episodes: Teams with fewer eligible client-episodes are not estimated.
        config: Supplies the minimum cell size and ``min_comparison_groups``.

    Returns:
        A frame with ``team_id``, ``model_clients``, ``model_episodes``, ``team_effect``,
        ``team_effect_se``, ``team_effect_ci_low``, ``team_effect_ci_high``,
        ``team_effect_reason`` (suppressed by client count), and the model's attributes
        (``team_variance``, ``residual_variance``, ``icc``, ``converged``, ``no_difference``,
        ``too_few_groups``, ``error`` ...).
    """
    teams = pd.Index(team_sums["team_id"], name="team_id")
    counts = np.asarray(team_sums["n"], dtype=np.float64)
    estimated = counts >= min_episodes
    table = pd.DataFrame(index=teams)
    table["model_clients"] = np.asarray(team_sums["clients"], dtype=np.int64)
    table["model_episodes"] = counts.astype(np.int64)
    table["team_effect"] = np.nan
    table["team_effect_se"] = np.nan
    table["team_effect_reason"] = np.where(estimated, "", f"fewer than {min_episodes} episodes")
    n_fit = int(counts[estimated].sum())
    attrs = model_attributes(
        int(estimated.sum()),
        n_fit,
        min_episodes,
        config,
        "REML: change ~ centred intake + team random intercept (per-team sums); "
        f"intervals by parametric bootstrap ({BOOTSTRAP_REPLICATIONS} refits)",
    )
    if attrs["too_few_groups"]:
        return effects_table(table, attrs, config)
    if n_fit <= 2:
        attrs["error"] = "the model could not be fitted: too few episodes"
        return effects_table(table, attrs, config)
    sums = {
        k: np.asarray(team_sums[k], dtype=np.float64)[estimated]
        for k in ("sx", "sy", "sxx", "sxy", "syy")
    }
    try:
        fit = group_effects(counts[estimated], **sums)
    except (ValueError, ArithmeticError) as error:
        attrs["error"] = f"the model could not be fitted: {error}"
        return effects_table(table, attrs, config)
    index = teams[estimated]
    table.loc[index, "team_effect"] = fit["effect"]
    table.loc[index, "team_effect_se"] = fit["se"]
    tau2, sigma2 = fit["tau2"], fit["sigma2"]
    attrs.update(
        team_variance=tau2,
        residual_variance=sigma2,
        icc=tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else float("nan"),
        converged=fit["converged"],
        no_difference=not fit["shrunken"],
    )
    return effects_table(table, attrs, config)


def model_attributes(
    n_groups: int, n_episodes: int, min_episodes: int, config: ClinicalConfig, method: str
) -> dict[str, Any]:
    """The team model's attributes before it is fitted, and the minimum of teams applied.

    Shared by the fit from sums and the reference fit on the rows (``tests/oracles/teams.py``),
    so both refuse the same selections with the same reason: fewer than
    ``config.min_comparison_groups`` estimable teams (at least two) set ``too_few_groups``.

    Args:
        n_groups: Teams with at least ``min_episodes`` eligible client-episodes.
        n_episodes: Eligible client-episodes of those teams.
        min_episodes: The minimum per team.
        config: Supplies ``min_comparison_groups``.
        method: How the model is fitted, for the notes.
    """
    min_groups = max(2, int(config.min_comparison_groups))
    attrs: dict[str, Any] = {
        "team_variance": float("nan"),
        "residual_variance": float("nan"),
        "icc": float("nan"),
        "n_therapists": n_groups,  # the key the report's notes read (number of groups)
        "n_episodes": n_episodes,
        "min_episodes": min_episodes,
        "min_groups": min_groups,
        "too_few_groups": n_groups < min_groups,
        "no_difference": False,
        "converged": False,
        "warnings": [],
        "error": None,
        "method": method,
    }
    if attrs["too_few_groups"]:
        attrs["error"] = (
            f"fewer than {min_groups} teams with at least {min_episodes} episodes "
            f"({n_groups}); teams are compared only from {min_groups} (min_comparison_groups)"
        )
    return attrs


def effects_table(
    table: pd.DataFrame, attrs: dict[str, Any], config: ClinicalConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Intervals, reasons and suppression of a team effects table (shared by both fits).

    Args:
        table: Indexed by ``team_id``, with ``model_clients``, ``team_effect``,
            ``team_effect_se`` and ``team_effect_reason`` ("" for an estimated team).
        attrs: The model's attributes; its ``error`` becomes the reason of estimated teams.
        config: Supplies the minimum cell size.
    """
    if attrs["error"] is not None:
        table.loc[table["team_effect_reason"] == "", "team_effect_reason"] = str(attrs["error"])
    table["team_effect_ci_low"] = table["team_effect"] - CRITICAL_VALUE * table["team_effect_se"]
    table["team_effect_ci_high"] = table["team_effect"] + CRITICAL_VALUE * table["team_effect_se"]
    table = table.reset_index()
    table.attrs = {"group_keys": ["team_id", "team_effect_reason"]}
    table = suppress_small_cells(table, count_column="model_clients", config=config)
    table = table.rename(columns={"suppressed": "model_suppressed"})
    table.attrs = {}
    return table, attrs


def team_comparison(
    tables: dict[str, Any], team_names: dict[str, str], config: ClinicalConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The team comparison: indices, Wilson interval, model estimates, ordered by name.

    Args:
        tables: :func:`fitdata.features.service.tables.index_tables` of the population.
        team_names: Team id to name.
        config: Supplies the minimum cell size.

    Returns:
        The team table (suppressed like the indices) and the model's attributes.
    """
    table = tables["teams"].copy()
    n = table["episodes_with_change"].to_numpy(dtype="float64")
    pct = table["pct_target"].to_numpy(dtype="float64")
    reached = np.rint(pct * n / 100)  # a count: the percentage times n is one up to rounding
    low, high = wilson_interval(reached, n)  # exact ends at 0 of n and n of n (issue 18)
    pct_lt2 = table.pop("pct_lt2_ors")
    table["pct_target_ci_low"] = low
    table["pct_target_ci_high"] = high
    table["pct_lt2_ors"] = pct_lt2
    if len(tables["team_sums"]["team_id"]):
        effects, attrs = team_effects_from_sums(tables["team_sums"], config=config)
        table = table.merge(effects, on="team_id", how="left")
    else:
        attrs = {"error": "no closed episodes in the period"}
        for column in EFFECT_COLUMNS:
            table[column] = np.nan
    table.insert(1, "name", table["team_id"].map(team_names).fillna(table["team_id"]))
    table = table.sort_values(["name", "team_id"], kind="stable", ignore_index=True)
    # A team row hidden by the indices hides its model estimate too.
    hidden = table["suppressed"].astype(bool)
    for column in ("team_effect", "team_effect_se", "team_effect_ci_low", "team_effect_ci_high"):
        table[column] = table[column].where(~hidden)
    table.attrs = {}  # the model's attributes travel in ``team_model``, not on the frame
    return table, attrs
