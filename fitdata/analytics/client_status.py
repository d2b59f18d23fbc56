"""What one client's graph says, as facts and as one plain sentence.

The dashboards show a status sentence above the client graph, e.g. "ORS +7.4 since the first
session: reliable improvement, now above the clinical cutoff. SRS below 36 in 6 of 21 sessions,
the last in session 19." An episode that has ended (:class:`EpisodeEnd`) is told in the past
tense, with no "now", and says when and how it ended. The facts are computed here from the
client's own sessions (pure, no I/O) under a :class:`~fitdata.config.ClinicalConfig`, so the
same rules produce the sentence, the graph's cutoff lines and, later, the flags.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.i18n import Translator

__all__ = ["ClientStatus", "EpisodeEnd", "client_status", "status_sentence"]

Position = Literal["below", "at", "above"]


@dataclass(frozen=True)
class ClientStatus:
    """Facts about one client's ORS and SRS series within one episode."""

    age_group: str
    cutoff: float
    sessions: int
    ors_count: int
    first_ors: float | None
    last_ors: float | None
    change: float | None
    direction: Literal[1, 0, -1]
    last_position: Position | None
    srs_count: int
    srs_below_sessions: tuple[int, ...]
    first_date: dt.date | None = None  # of the first session, when the rows have dates


@dataclass(frozen=True)
class EpisodeEnd:
    """When and how an episode ended (``episodes.ended`` and ``episodes.end_type``).

    Attributes:
        date: The episode's last day.
        end_type: ``planned``, ``unplanned`` or ``transferred``
            (:data:`fitdata.vocabulary.END_TYPES`).
    """

    date: dt.date
    end_type: str

    @classmethod
    def of(cls, ended: Any, end_type: Any) -> EpisodeEnd | None:
        """The end from an episode row's ``ended`` and ``end_type``; None while it is ongoing.

        Accepts what a query gives back: a date, a datetime or pandas Timestamp, or a missing
        value (None, NaN, NaT) for an ongoing episode.
        """
        if ended is None or end_type is None or pd.isna(ended) or pd.isna(end_type):
            return None
        if isinstance(ended, dt.datetime):  # includes pandas Timestamps
            ended = ended.date()
        return cls(date=ended, end_type=str(end_type))


def _position(score: float, cutoff: float) -> Position:
    # Scores are one-decimal numbers; rounding removes float noise before the comparison.
    score = round(score, 6)
    if score < cutoff:
        return "below"
    return "at" if score == cutoff else "above"


def client_status(
    sessions: pd.DataFrame, age_group: str, config: ClinicalConfig = DEFAULT_CONFIG
) -> ClientStatus:
    """Summarise one client's own ratings in one episode.

    Args:
        sessions: The client's sessions (rater ``client``), with ``session_no``, ``ors_total``
            and ``srs_total`` (NaN where not given), in any order.
        age_group: ``child``, ``adolescent`` or ``adult``; picks the clinical cutoff.
        config: The thresholds to apply.
    """
    ordered = sessions.sort_values("session_no")
    cutoff = config.ors_cutoff(age_group)
    ors = ordered["ors_total"].dropna().astype(float)
    first = float(ors.iloc[0]) if len(ors) else None
    last = float(ors.iloc[-1]) if len(ors) else None
    change = round(last - first, 1) if len(ors) >= 2 else None
    direction = config.change_direction(change) if change is not None else 0
    srs = ordered[["session_no", "srs_total"]].dropna()
    first_date = None
    if "session_date" in ordered and ordered["session_date"].notna().any():
        first_date = pd.Timestamp(pd.to_datetime(ordered["session_date"]).min()).date()
    below = tuple(
        int(no)
        for no, total in zip(srs["session_no"], srs["srs_total"], strict=True)
        if config.srs_below_cutoff(float(total))
    )
    return ClientStatus(
        age_group=age_group,
        cutoff=cutoff,
        sessions=len(ordered),
        ors_count=len(ors),
        first_ors=first,
        last_ors=last,
        change=change,
        direction=direction,
        last_position=_position(last, cutoff) if last is not None else None,
        srs_count=len(srs),
        srs_below_sessions=below,
        first_date=first_date,
    )


def status_sentence(
    status: ClientStatus,
    tr: Translator,
    config: ClinicalConfig = DEFAULT_CONFIG,
    *,
    ended: EpisodeEnd | None = None,
    show_dates: bool = True,
) -> str:
    """One or two plain sentences that say what the graph shows, in the translator's language.

    Args:
        status: The facts of :func:`client_status`.
        tr: The page's language (its words and number formats).
        config: The thresholds the verdict names.
        ended: How the episode ended, or None while it is ongoing. An ended episode is told in
            the past tense ("ORS went up 7.4 points from the first to the last session ...,
            ending above ...") and the sentence closes with the end ("The episode ended on
            2026-03-12 (planned).").
        show_dates: False names the end as weeks since the first session ("ended in week
            23"), as the anonymised graphs do, instead of its date.
    """
    past = ended is not None
    parts: list[str] = []
    if status.sessions == 0:
        parts.append(tr.text("status.no_sessions"))
    else:
        parts.append(_ors_sentence(status, tr, config, past=past))
        parts.append(_srs_sentence(status, tr, config))
    if ended is not None:
        parts.append(_end_sentence(status, ended, tr, show_dates=show_dates))
    return " ".join(parts)


def _ors_sentence(
    status: ClientStatus, tr: Translator, config: ClinicalConfig, *, past: bool
) -> str:
    """What the client's ORS did, now (ongoing) or over the episode (ended)."""
    tense = "status.ended." if past else "status."
    cutoff = tr.number(status.cutoff, decimals=0)
    if status.ors_count == 0:
        return tr.text(tense + "no_ors")
    assert status.first_ors is not None and status.last_position is not None
    position = tr.text(f"position.{status.last_position}")
    if status.ors_count == 1:
        return tr.text(
            tense + "one_ors", score=tr.number(status.first_ors), position=position, cutoff=cutoff
        )
    assert status.change is not None
    verdict_key = {1: "verdict.improved", -1: "verdict.deteriorated", 0: "verdict.none"}
    verdict = tr.text(
        verdict_key[status.direction], rc=tr.number(config.ors_reliable_change, decimals=0)
    )
    if not past:
        return tr.text(
            "status.change",
            change=tr.number(status.change, signed=True),
            verdict=verdict,
            position=position,
            cutoff=cutoff,
        )
    movement = "up" if status.change > 0 else "down" if status.change < 0 else "same"
    return tr.text(
        f"status.ended.change.{movement}",
        change=tr.number(abs(status.change)),
        verdict=verdict,
        position=position,
        cutoff=cutoff,
    )


def _srs_sentence(status: ClientStatus, tr: Translator, config: ClinicalConfig) -> str:
    """In how many sessions the SRS was below the cutoff, counted, and the last of them.

    Counted over the sessions that have an SRS; when some sessions have none, the sentence
    says so ("in 6 of the 18 sessions with an SRS").
    """
    cutoff = tr.number(config.srs_cutoff, decimals=0)
    if status.srs_count == 0:
        return tr.text("status.no_srs")
    below = status.srs_below_sessions
    if not below:
        return tr.text("status.srs_ok", cutoff=cutoff)
    if len(below) == 1:
        return tr.text("status.srs_below_one", cutoff=cutoff, sessions=str(below[0]))
    rated = "" if status.srs_count == status.sessions else ".rated"
    total = tr.number(status.srs_count, decimals=0)
    if len(below) == status.srs_count:
        key = "status.srs_below_both" if status.srs_count == 2 else "status.srs_below_all"
        return tr.text(key + rated, cutoff=cutoff, total=total)
    return tr.text(
        "status.srs_below_some" + rated,
        cutoff=cutoff,
        count=tr.number(len(below), decimals=0),
        total=total,
        last=str(below[-1]),
    )


def _end_sentence(
    status: ClientStatus, ended: EpisodeEnd, tr: Translator, *, show_dates: bool
) -> str:
    """When and how the episode ended: its date, or weeks since the first session."""
    end_type = tr.text(f"status.end_type.{ended.end_type}")
    if show_dates:
        return tr.text("status.ended.on", date=tr.date(ended.date), end_type=end_type)
    if status.first_date is None:
        return tr.text("status.ended.undated", end_type=end_type)
    weeks = max(0, (ended.date - status.first_date).days // 7)
    return tr.text("status.ended.week", week=tr.number(weeks, decimals=0), end_type=end_type)
