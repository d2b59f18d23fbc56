"""Reference bands drawn behind the service's statistics, each with its source.

A leader reading "effect size 0.91" needs to know against what. The bands come from
``shared/domain.md`` and say where they come from, because most are vendor benchmarks that
were never peer reviewed; the page, the report and the reading all label them that way.

Like with like: a band is drawn only beside a figure that measures the quantity the benchmark
measures (:attr:`ReferenceBand.measures` says which, beside the figure's own definition in
``docs/analytics.md``). Two figures have no band, for reasons kept in :data:`NO_BAND`:
"% reliably improved or ended non-clinical" (the vendors' 64-74 % count closed cases ending in
the successful zone of their own expected trajectory, another quantity) and the
severity-adjusted effect size (the 0.8-1.0 band is of pre-post effect sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NO_BAND", "REFERENCE_BANDS", "TEAM_INTERVAL_CHARTS", "ReferenceBand", "band_for"]


@dataclass(frozen=True)
class ReferenceBand:
    """A benchmark range drawn behind a statistic, with its source."""

    metric: str
    low: float
    high: float
    source: str
    peer_reviewed: bool
    #: What the benchmark itself counts: the same quantity as ``metric``, or no band.
    measures: str


#: The two team charts with intervals, drawn alike by the page and the report: chart key,
#: value column, interval columns, the metric of a percentage chart (whose band, if
#: :func:`band_for` has one, is drawn; None for a chart in ORS points) and the axis title key.
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
        "pct_unplanned",
        12.0,
        15.0,
        f"{_VENDOR}: 12-15 % unplanned endings",
        False,
        "% of closed episodes that ended unplanned (dropped out)",
    ),
    ReferenceBand(
        "pct_sessions_with_ors",
        90.0,
        100.0,
        _FEEDBACK,
        False,
        "% of sessions with the outcome form given (100 - % of sessions without feedback)",
    ),
    ReferenceBand(
        "pct_sessions_with_srs",
        90.0,
        100.0,
        _FEEDBACK,
        False,
        "% of sessions with the alliance form given (100 - % of sessions without feedback)",
    ),
    ReferenceBand(
        "sessions_mean",
        5.8,
        5.8,
        f"{_VENDOR}: 5.8 sessions per episode on average (SD 4.2)",
        False,
        "mean number of sessions per closed episode",
    ),
    ReferenceBand(
        "effect_size",
        0.8,
        1.0,
        "published adult outpatient figures (pre-post effect size about 0.8-1.0), "
        "as summarised in shared/domain.md",
        True,
        "pre-post effect size: mean change over the SD of intake, the group's own SD",
    ),
)

#: Figures shown without a band, and why (a band beside them would measure something else).
NO_BAND: dict[str, str] = {
    "pct_target": (
        "the vendors' 64-74 % count closed cases ending in the successful zone of their own "
        "expected trajectory; this figure counts reliable improvement or a non-clinical end, "
        "including clients who started non-clinical and stayed there"
    ),
    "severity_adjusted_es": (
        "the 0.8-1.0 band is of pre-post effect sizes; this figure is adjusted for intake "
        "against the service's own reference line (Seidel, Miller & Chow 2014)"
    ),
}


def band_for(metric: str) -> ReferenceBand | None:
    """The reference band of a metric, if there is one."""
    return next((band for band in REFERENCE_BANDS if band.metric == metric), None)
