"""The plain-language reading: sentences drawn from a summary's unsuppressed cells.

Leaders asked for the numbers in words ("what do we do with all the data?"). Each sentence is a
:class:`~fitdata.features.service.results.ReadingItem`: a message key, its raw numbers and the
cells they come from, so a test can check every number against the tables and that none is
hidden. A sentence is made only when every cell it needs is shown. The rules, one function
each, in the order of the page: completeness now and before, teams whose completeness fell,
volume, the effect size against its band, % reliably improved or ended non-clinical (said
without a band: the vendors' 64-74 % count another quantity), episodes with fewer than two
ORS, unplanned endings without effect, and the team model (too few teams, no detectable
difference, or the teams whose intervals lie above or below the mean).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from fitdata.features.service.bands import band_for
from fitdata.features.service.results import ReadingItem, ServiceSummary

__all__ = [
    "COMPLETENESS_CHANGE_POINTS",
    "TEAM_DROP_POINTS",
    "UNPLANNED_CHANGE_POINTS",
    "reading",
]

#: The reading reports a change in completeness between two quarters of at least this many
#: percentage points as a rise or fall (smaller changes are "about the same").
COMPLETENESS_CHANGE_POINTS = 5.0
#: A team's completeness is named in the reading when it fell by at least this many points.
TEAM_DROP_POINTS = 10.0
#: The reading reports a change in unplanned endings of at least this many points.
UNPLANNED_CHANGE_POINTS = 2.0

_MEASURES = ("ors", "srs")


def _shown(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _direction(change: float, threshold: float) -> str:
    if change >= threshold:
        return "rose"
    if change <= -threshold:
        return "fell"
    return "same"


#: The message key of each metric read against its reference band.
_BAND_KEYS = {"effect_size": "effect_size"}


def _against_band(
    metric: str, interval: tuple[float, float], values: dict[str, Any], sources: tuple[str, ...]
) -> ReadingItem:
    """A headline figure (or its interval ``low``..``high``) below, within or above its band."""
    band = band_for(metric)
    assert band is not None
    low, high = interval
    position = "below" if high < band.low else "above" if low > band.high else "within"
    return ReadingItem(
        f"service.reading.{_BAND_KEYS[metric]}_{position}",
        {**values, "band_low": band.low, "band_high": band.high},
        sources,
    )


def _completeness(summary: ServiceSummary, this_q: str, last_q: str) -> list[ReadingItem]:
    """The share of sessions with an ORS (and an SRS) this quarter, against the one before."""
    items = []
    trend = summary.completeness_trend.set_index("quarter")
    for measure in _MEASURES:
        column = f"pct_sessions_with_{measure}"
        now, before = trend.at[this_q, column], trend.at[last_q, column]
        if _shown(now) and _shown(before):
            direction = _direction(now - before, COMPLETENESS_CHANGE_POINTS)
            items.append(
                ReadingItem(
                    f"service.reading.completeness_{direction}",
                    {
                        "measure": measure.upper(),
                        "before": before,
                        "now": now,
                        "quarter": this_q,
                        "previous": last_q,
                    },
                    (
                        f"completeness_trend[{last_q}].{column}",
                        f"completeness_trend[{this_q}].{column}",
                    ),
                )
            )
        elif _shown(now):
            items.append(
                ReadingItem(
                    "service.reading.completeness_level",
                    {"measure": measure.upper(), "now": now, "quarter": this_q},
                    (f"completeness_trend[{this_q}].{column}",),
                )
            )
    return items


def _team_completeness(summary: ServiceSummary, this_q: str, last_q: str) -> list[ReadingItem]:
    """Teams whose completeness fell by :data:`TEAM_DROP_POINTS` or more (all-team view only)."""
    items: list[ReadingItem] = []
    team_trend = summary.completeness_team_trend
    if summary.filters.team_id is not None or team_trend.empty:
        return items
    for measure in _MEASURES:
        column = f"pct_sessions_with_{measure}"
        # set_index + unstack, not pivot_table(dropna=False): that builds every
        # name x team_id combination (160,000 rows for 400 teams).
        wide = team_trend.set_index(["name", "team_id", "quarter"])[column].unstack("quarter")
        if this_q not in wide.columns or last_q not in wide.columns:
            continue
        # Only the teams whose completeness fell are visited (not one Python step per team).
        fell = wide[(wide[last_q] - wide[this_q]) >= TEAM_DROP_POINTS]
        for (name, team_id), now, before in zip(
            fell.index, fell[this_q].tolist(), fell[last_q].tolist(), strict=True
        ):
            if _shown(now) and _shown(before):
                items.append(
                    ReadingItem(
                        "service.reading.team_completeness_fell",
                        {
                            "measure": measure.upper(),
                            "team": name,
                            "before": before,
                            "now": now,
                            "quarter": this_q,
                            "previous": last_q,
                        },
                        (
                            f"completeness_team_trend[{team_id}|{last_q}].{column}",
                            f"completeness_team_trend[{team_id}|{this_q}].{column}",
                        ),
                    )
                )
    return items


def _headline(summary: ServiceSummary) -> list[ReadingItem]:
    """Volume, the effect size against its band, the improved-or-non-clinical share, < 2 ORS."""
    head = summary.headline.iloc[0] if len(summary.headline) else None
    if head is None or not _shown(head.get("clients")):
        return []
    items = [
        ReadingItem(
            "service.reading.volume",
            {
                "clients": head["clients"],
                "episodes": head["client_episodes"],
                "period": summary.filters.period.label,
            },
            ("headline[0].clients", "headline[0].client_episodes"),
        )
    ]
    if _shown(head["effect_size"]) and _shown(head["effect_size_ci_low"]):
        items.append(
            _against_band(
                "effect_size",
                (head["effect_size_ci_low"], head["effect_size_ci_high"]),
                {
                    "es": head["effect_size"],
                    "low": head["effect_size_ci_low"],
                    "high": head["effect_size_ci_high"],
                },
                (
                    "headline[0].effect_size",
                    "headline[0].effect_size_ci_low",
                    "headline[0].effect_size_ci_high",
                ),
            )
        )
    if _shown(head["pct_target"]):
        items.append(
            ReadingItem(
                "service.reading.target",
                {"pct": head["pct_target"]},
                ("headline[0].pct_target",),
            )
        )
    if _shown(head["pct_lt2_ors"]):
        items.append(
            ReadingItem(
                "service.reading.lt2_ors",
                {"pct": head["pct_lt2_ors"]},
                ("headline[0].pct_lt2_ors",),
            )
        )
    return items


def _unplanned(summary: ServiceSummary, this_q: str, last_q: str) -> list[ReadingItem]:
    """Unplanned endings without effect this quarter, against the one before."""
    outcome_trend = summary.trend.set_index("quarter")
    column = "pct_unplanned_without_effect"
    now, before = outcome_trend.at[this_q, column], outcome_trend.at[last_q, column]
    if not (_shown(now) and _shown(before)):
        return []
    direction = _direction(now - before, UNPLANNED_CHANGE_POINTS)
    return [
        ReadingItem(
            f"service.reading.unplanned_{direction}",
            {"before": before, "now": now, "quarter": this_q, "previous": last_q},
            (f"trend[{last_q}].{column}", f"trend[{this_q}].{column}"),
        )
    ]


def _team_model(teams: pd.DataFrame, model: dict[str, Any]) -> list[ReadingItem]:
    """Why teams are not compared; or no detectable difference; or teams above/below the mean.

    With too few estimable teams (``config.min_comparison_groups``) the reading says so. When
    the team variance is estimated at 0 it says "no detectable difference between teams" and
    names no team above or below: the teams' own estimates are shown for what they are, and an
    interval of one of them that misses 0 is what chance gives among many.
    """
    if model.get("too_few_groups"):
        return [
            ReadingItem(
                "service.reading.teams_too_few",
                {
                    "teams": int(model.get("n_therapists", 0)),
                    # rules of the config, not cells of a table: passed as text
                    "min_episodes": str(model.get("min_episodes", "")),
                    "min_groups": str(model.get("min_groups", "")),
                },
                (),
            )
        ]
    estimated = teams[teams["team_effect_ci_low"].notna()]
    if len(estimated) < 2:
        return []
    if model.get("no_difference"):
        return [
            ReadingItem(
                "service.reading.teams_no_difference",
                {"teams": len(estimated)},
                tuple(f"teams[{t}].team_effect" for t in estimated["team_id"]),
            )
        ]
    items = []
    above = estimated[estimated["team_effect_ci_low"] > 0]
    below = estimated[estimated["team_effect_ci_high"] < 0]
    for rows, key in ((above, "above"), (below, "below")):
        for row in rows.itertuples():
            items.append(
                ReadingItem(
                    f"service.reading.team_{key}",
                    {
                        "team": row.name,
                        "effect": row.team_effect,
                        "low": row.team_effect_ci_low,
                        "high": row.team_effect_ci_high,
                    },
                    (
                        f"teams[{row.team_id}].team_effect",
                        f"teams[{row.team_id}].team_effect_ci_low",
                        f"teams[{row.team_id}].team_effect_ci_high",
                    ),
                )
            )
    if above.empty and below.empty:
        items.append(
            ReadingItem(
                "service.reading.teams_overlap",
                {"teams": len(estimated)},
                tuple(f"teams[{t}].team_effect_ci_low" for t in estimated["team_id"]),
            )
        )
    return items


def reading(summary: ServiceSummary) -> list[ReadingItem]:
    """Sentences drawn from the summary's unsuppressed cells (see :class:`ReadingItem`).

    Rules (each a constant of this module): completeness of the last two quarters of the trend
    (a change of :data:`COMPLETENESS_CHANGE_POINTS` or more is a rise or fall); teams whose
    completeness fell by :data:`TEAM_DROP_POINTS` or more; the effect size with its interval
    and the published band; % reliably improved or ended non-clinical, said without a band
    (``bands.NO_BAND``); the share of
    client-episodes with fewer than two ORS; unplanned endings without effect between the last
    two quarters (:data:`UNPLANNED_CHANGE_POINTS`); for the team model, why teams are not
    compared (too few), or that no difference between teams is detectable (team variance 0),
    or the teams whose interval lies wholly above or below the service mean, or that all
    intervals include it.
    """
    this_q, last_q = summary.quarters[-1], summary.quarters[-2]
    return [
        *_completeness(summary, this_q, last_q),
        *_team_completeness(summary, this_q, last_q),
        *_headline(summary),
        *_unplanned(summary, this_q, last_q),
        *_team_model(summary.teams, summary.team_model),
    ]
