"""The therapist development tables the straightforward way: the references the fast paths match.

The package computes the team and service outcomes by period from sums per quarter
(:func:`fitdata.features.therapist_development.period_sums.outcomes_by_period`) and the SRS
bands from one classification per client-episode; these functions compute the same tables
over repeated rows with :func:`fitdata.analytics.indices.service_indices`, as the page first
did. They are far too slow for a page (20 s at ten million sessions) and used only by tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.analytics.indices import service_indices, suppress_small_cells
from fitdata.analytics.intervals import wilson_interval
from fitdata.config import ClinicalConfig
from fitdata.features.therapist_development.period_sums import PeriodBasis
from fitdata.features.therapist_development.tables import (
    SRS_FIRST_COLUMNS,
    outcome_table,
    srs_bands,
    with_periods,
)

#: The session filter of a service's closed episodes, for ``comparison.with_srs_counts``: the
#: SRS counts of every client-episode, to compare the SQL SRS profile with the pandas one.
SERVICE_SESSIONS = (
    "AND team_id IN (SELECT team_id FROM teams WHERE service = $service) "
    "AND episode_id IN (SELECT episode_id FROM episodes WHERE ended IS NOT NULL)"
)


def comparison_outcomes(
    levels: pd.DataFrame, grouping: str, comparison: PeriodBasis
) -> pd.DataFrame:
    """Team and service outcomes by period: each row repeated per window, then service_indices.

    ``levels`` holds every client-episode once per level (``team_and_service_rows``).
    """
    periods = with_periods(levels, grouping, comparison.quarters)
    return outcome_table(
        periods, ["level", "team_id", "period"], comparison.severity_line, comparison.config
    )


def srs_first_table(rows: pd.DataFrame, keys: list[str], config: ClinicalConfig) -> pd.DataFrame:
    """% reliably improved and mean change by the band of the first SRS, by service_indices."""
    work = rows.assign(srs_band=srs_bands(rows["first_srs"], config))
    work = work[work["srs_band"].notna()]
    columns = [*keys, *SRS_FIRST_COLUMNS]
    if work.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    table = service_indices(work, by=[*keys, "srs_band"], config=config, suppress=False)
    table["pct_reliable_improvement"] = table["pct_recovered"] + table["pct_improved"]
    n = table["episodes_with_change"].to_numpy(dtype="float64")
    successes = np.round(table["pct_reliable_improvement"].to_numpy(dtype="float64") / 100 * n)
    low, high = wilson_interval(successes, n)
    table["pct_reliable_improvement_ci_low"], table["pct_reliable_improvement_ci_high"] = low, high
    table = table[columns]
    table.attrs = {"group_keys": [*keys, "srs_band"]}
    return suppress_small_cells(table, config=config, subgroup_counts=[])
