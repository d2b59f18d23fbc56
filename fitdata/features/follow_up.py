"""What became of each discussed case: the follow-up per discussion and its sentence (issue 22).

For the team review, the client graph and the case discussion panel: :func:`discussion_follow_ups`
judges discussions (rows of :func:`fitdata.features.case_discussions.discussions`) by the
follow-up rule (:mod:`fitdata.analytics.follow_up`) over the episodes' client-rated sessions
after them, with the service's lower expected line
(:func:`fitdata.features.expected_trajectory.trajectory_model`), and
:func:`follow_up_sentence` says it in one line ("discussed 03.11, still not on track after 3
sessions"). The participants judged are those flagged then (``flags_then``).

Reads client-level sessions: the reader must be allowed client rows (a therapist's or a
supervisor's scope; a leader is refused) and the read is in the audit log. The team and
therapist aggregates are in :mod:`fitdata.features.service.follow_up` and
:mod:`fitdata.features.therapist_development.follow_up`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.follow_up import FollowUp, follow_up_frame
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.store import Reader
from fitdata.features.expected_trajectory import trajectory_model
from fitdata.i18n import Translator

__all__ = [
    "discussion_follow_ups",
    "follow_up_inputs",
    "follow_up_sentence",
    "judged_clients",
    "rule_text",
]

_SESSIONS_SQL = (
    "SELECT episode_id, client_id, session_no, session_date, rater, "
    "ors_total::DOUBLE AS ors_total FROM sessions "
    "WHERE rater = 'client' AND episode_id IN (SELECT unnest(?::VARCHAR[])) "
    "ORDER BY episode_id, client_id, session_no"
)
_EPISODES_SQL = (
    "SELECT episode_id, ended, end_type FROM episodes "
    "WHERE episode_id IN (SELECT unnest(?::VARCHAR[]))"
)


def with_lines(sessions: pd.DataFrame, model: TrajectoryModel | None) -> pd.DataFrame:
    """Client-rated sessions with ``lower_expected`` (NaN without a model) and ``first_ors``.

    ``first_ors`` is the client's first ORS total of the episode (the lowest session number
    with one), the reference of reliable change.
    """
    frame = sessions.reset_index(drop=True)
    if model is not None and len(frame):
        frame = model.expected_lines(frame)
    else:
        frame = frame.assign(lower_expected=np.nan)
    scored = frame[frame["ors_total"].notna()].sort_values(
        ["episode_id", "client_id", "session_no"]
    )
    first = scored.drop_duplicates(["episode_id", "client_id"])[
        ["episode_id", "client_id", "ors_total"]
    ].rename(columns={"ors_total": "first_ors"})
    return frame.merge(first, on=["episode_id", "client_id"], how="left")


def follow_up_inputs(
    reader: Reader, episode_ids: Iterable[str], *, model: TrajectoryModel | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sessions (with lines and first ORS) and the episodes the rule needs, for episodes.

    Not audited and not access-checked: callers are (:func:`discussion_follow_ups`).
    """
    ids = sorted({str(e) for e in episode_ids})
    sessions = reader.df(_SESSIONS_SQL, [ids])
    episodes = reader.df(_EPISODES_SQL, [ids])
    return with_lines(sessions, model), episodes


def judged_clients(flags_then: Any) -> tuple[str, ...]:
    """The participants flagged then (``flags_then`` as stored), each once, in order."""
    if flags_then is None or (isinstance(flags_then, float) and np.isnan(flags_then)):
        return ()
    out: dict[str, None] = {}
    for flag in flags_then:
        client = flag["client_id"] if isinstance(flag, Mapping) else flag.client_id
        out[str(client)] = None
    return tuple(out)


def discussion_follow_ups(
    reader: Reader,
    frame: pd.DataFrame,
    *,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
) -> dict[int, FollowUp]:
    """The follow-up of each discussion of ``frame``, by discussion id.

    Args:
        reader: A reader allowed client rows (the page's); the read is audited.
        frame: Rows of :func:`fitdata.features.case_discussions.discussions` (at least
            ``discussion_id``, ``episode_id``, ``discussed_on``, ``flags_then``); withdrawn
            ones are judged too (a page may leave them out).
        as_of: The day it is judged on (today).
        config: The window, the reliable change.
        model: The expected trajectories; default the service's
            (:func:`fitdata.features.expected_trajectory.trajectory_model`).

    Raises:
        AccessDenied: For a reader that may see aggregates only.
    """
    require_client_rows(reader, "case")
    if frame.empty:
        return {}
    model = model if model is not None else trajectory_model(reader)
    sessions, episodes = follow_up_inputs(reader, frame["episode_id"], model=model)
    record_access(reader, "follow_up", "", clients=set(sessions["client_id"].astype(str)))
    starts = pd.DataFrame(
        {
            "key": frame["discussion_id"].astype("int64").to_numpy(),
            "episode_id": frame["episode_id"].astype(str).to_numpy(),
            "start": list(frame["discussed_on"]),
            "clients": [judged_clients(f) for f in frame["flags_then"]],
        }
    )
    result = follow_up_frame(starts, sessions, episodes, as_of=as_of, config=config)
    return {
        int(row["key"]): FollowUp(
            outcome=str(row["outcome"]),
            sessions_since=int(row["sessions_since"]),
            window_end=row["window_end"],
            window_complete=bool(row["window_complete"]),
            at_session=None if pd.isna(row["at_session"]) else int(row["at_session"]),
        )
        for row in result.to_dict("records")
    }


def _field(discussion: Any, name: str) -> Any:
    if isinstance(discussion, Mapping | pd.Series):
        return discussion[name]
    return getattr(discussion, name)


def follow_up_sentence(discussion: Any, follow_up: FollowUp, tr: Translator) -> str:
    """One line on what became of a discussion: "discussed 03.11.2025, still not on track ...".

    Args:
        discussion: A :class:`~fitdata.features.case_discussion_rules.Discussion` or a row of
            :func:`~fitdata.features.case_discussions.discussions` (``discussed_on`` is used).
        follow_up: Its :class:`~fitdata.analytics.follow_up.FollowUp`.
        tr: The page's translator.
    """
    date = tr.date(_field(discussion, "discussed_on"))
    n = follow_up.sessions_since
    outcome = follow_up.outcome
    if outcome in ("reliable_improvement", "back_on_track"):
        at = follow_up.at_session or n
        return tr.count_text(f"follow_up.sentence.{outcome}", at, date=date, n=at)
    if outcome.startswith("ended_"):
        return tr.count_text(f"follow_up.sentence.{outcome}", n, date=date, n=n)
    if n == 0:
        return tr.text(f"follow_up.sentence.{outcome}.none", date=date)
    return tr.count_text(f"follow_up.sentence.{outcome}", n, date=date, n=n)


def rule_text(tr: Translator, config: ClinicalConfig = DEFAULT_CONFIG) -> str:
    """The rule a page shows beside follow-up figures, with the configured window."""
    return tr.text(
        "follow_up.rule",
        sessions=config.follow_up_sessions,
        weeks=config.follow_up_weeks,
    )
