"""What one client's graph says, as facts and as one plain sentence.

The dashboards show a status sentence above the client graph, e.g. "ORS +7.4 since the first
session: reliable improvement, now above the clinical cutoff. SRS below 36 in session 4." The
facts are computed here from the client's own sessions (pure, no I/O) under a
:class:`~fitdata.config.ClinicalConfig`, so the same rules produce the sentence, the graph's
cutoff lines and, later, the flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.i18n import Translator

__all__ = ["ClientStatus", "client_status", "status_sentence"]

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
    )


def status_sentence(
    status: ClientStatus, tr: Translator, config: ClinicalConfig = DEFAULT_CONFIG
) -> str:
    """One or two plain sentences that say what the graph shows, in the translator's language."""
    if status.sessions == 0:
        return tr.text("status.no_sessions")
    cutoff = tr.number(status.cutoff, decimals=0)
    parts: list[str] = []
    if status.ors_count == 0:
        parts.append(tr.text("status.no_ors"))
    elif status.ors_count == 1:
        assert status.first_ors is not None and status.last_position is not None
        parts.append(
            tr.text(
                "status.one_ors",
                score=tr.number(status.first_ors),
                position=tr.text(f"position.{status.last_position}"),
                cutoff=cutoff,
            )
        )
    else:
        assert status.change is not None and status.last_position is not None
        verdict = {1: "verdict.improved", -1: "verdict.deteriorated", 0: "verdict.none"}
        parts.append(
            tr.text(
                "status.change",
                change=tr.number(status.change, signed=True),
                verdict=tr.text(
                    verdict[status.direction],
                    rc=tr.number(config.ors_reliable_change, decimals=0),
                ),
                position=tr.text(f"position.{status.last_position}"),
                cutoff=cutoff,
            )
        )
    srs_cutoff = tr.number(config.srs_cutoff, decimals=0)
    if status.srs_count == 0:
        parts.append(tr.text("status.no_srs"))
    elif status.srs_below_sessions:
        key = (
            "status.srs_below_one"
            if len(status.srs_below_sessions) == 1
            else "status.srs_below_many"
        )
        numbers = tr.join([str(n) for n in status.srs_below_sessions])
        parts.append(tr.text(key, cutoff=srs_cutoff, sessions=numbers))
    else:
        parts.append(tr.text("status.srs_ok", cutoff=srs_cutoff))
    return " ".join(parts)
