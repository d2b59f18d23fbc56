"""Reference bands drawn behind the service's statistics, each with its source.

A leader reading "% reaching target: 58" needs to know against what. The bands come from
``shared/domain.md`` and say where they come from, because most are vendor benchmarks that
were never peer reviewed; the page, the report and the reading all label them that way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REFERENCE_BANDS", "TEAM_INTERVAL_CHARTS", "ReferenceBand", "band_for"]


@dataclass(frozen=True)
class ReferenceBand:
    """A benchmark range drawn behind a statistic, with its source."""

    metric: str
    low: float
    high: float
    source: str
    peer_reviewed: bool


#: The two team charts with intervals, drawn alike by the page and the report: chart key,
#: value column, interval columns, reference band metric (or None) and the axis title key.
TEAM_INTERVAL_CHARTS: tuple[tuple[str, str, str, str, str | None, str], ...] = (
    (
        "team_effect",
        "team_effect",
        "team_effect_ci_low",
        "team_effect_ci_high",
        None,
        "service.chart.team_effect_axis",
    ),
    (
        "team_target",
        "pct_target",
        "pct_target_ci_low",
        "pct_target_ci_high",
        "pct_target",
        "service.chart.team_target_axis",
    ),
)

_VENDOR = "vendor benchmark, not peer reviewed"
_FEEDBACK = f"{_VENDOR}: fewer than 10 % of sessions without feedback"

#: Benchmarks from ``shared/domain.md``; ``metric`` is a column of the headline/team tables.
REFERENCE_BANDS: tuple[ReferenceBand, ...] = (
    ReferenceBand(
        "pct_target",
        64.0,
        74.0,
        f"{_VENDOR}: 64-74 % of closed cases end in the successful zone",
        False,
    ),
    ReferenceBand("pct_unplanned", 12.0, 15.0, f"{_VENDOR}: 12-15 % unplanned endings", False),
    ReferenceBand("pct_sessions_with_ors", 90.0, 100.0, _FEEDBACK, False),
    ReferenceBand("pct_sessions_with_srs", 90.0, 100.0, _FEEDBACK, False),
    ReferenceBand(
        "sessions_mean",
        5.8,
        5.8,
        f"{_VENDOR}: 5.8 sessions per episode on average (SD 4.2)",
        False,
    ),
    ReferenceBand(
        "effect_size",
        0.8,
        1.0,
        "published adult outpatient figures (pre-post effect size about 0.8-1.0), "
        "as summarised in shared/domain.md",
        True,
    ),
)


def band_for(metric: str) -> ReferenceBand | None:
    """The reference band of a metric, if there is one."""
    return next((band for band in REFERENCE_BANDS if band.metric == metric), None)
