"""The follow-up rule: what became of a case after it was discussed (or flagged) (issue 22).

**The window.** The sessions after the discussion day (a session on the day itself is not
after it: the meeting may have been later that day), the first
``config.follow_up_sessions`` (4) of them, and none later than ``config.follow_up_weeks`` (8)
weeks after the discussion: a session exactly 8 weeks after is inside, one day later is not.
The window's last session counts. Sessions are the episode's: a couple's or family's
session is one session however many participants rated it.

**Who is judged.** The participants that were flagged when the case was discussed
(``flags_then``); when none is named, every participant with a rating in the window. A couple
with two flagged partners is back on track only when *both* are.

**The outcome**, the first that holds, in this order:

1. ``reliable_improvement``: every judged participant had an ORS at or above the lower
   expected line in the window **and** an ORS at least the reliable change
   (``config.ors_reliable_change``, tie as :meth:`ClinicalConfig.change_direction`) above
   their first ORS of the episode. It is also back on track.
2. ``back_on_track``: every judged participant had an ORS at or above the lower expected line
   at some session in the window. *Exactly at the line counts as on track* (tie tolerance
   :data:`fitdata.config.TIE_TOLERANCE`).
3. ``ended_planned`` / ``ended_unplanned`` / ``ended_transferred``: the episode ended inside
   the window (on or after the discussion, not later than the window's end) without 1 or 2
   first: on-track before the end wins; the end type is what remains to say.
4. ``not_judged``: the window is complete, and some judged participant's ORS in it had no
   expected line (too few episodes behind the trajectory cell, or no intake ORS), while no
   judged participant was seen below a line: it cannot be said.
5. ``still_off_track``: the window is complete (its sessions all held, its 8 weeks passed on
   ``as_of``, or the episode ended) and 1-2 did not happen.
6. ``too_early``: otherwise; the window is still open.

The rule is pure: the sessions with their lower expected line are given (from
:func:`fitdata.features.expected_trajectory.trajectory_model`). :func:`follow_up_frame`
judges many starts at once (discussions, or flags not discussed whose window starts at the
flag) and :func:`follow_up` one; both are the same computation. ``RULE`` is the code of the
rule's text a page shows beside the figures (locale ``follow_up.rule``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig

__all__ = [
    "ON_TRACK_OUTCOMES",
    "OUTCOMES",
    "RULE",
    "FollowUp",
    "follow_up",
    "follow_up_frame",
]

#: Every outcome, in the order the rule tries them (see the module docstring).
OUTCOMES: tuple[str, ...] = (
    "reliable_improvement",
    "back_on_track",
    "ended_planned",
    "ended_unplanned",
    "ended_transferred",
    "not_judged",
    "still_off_track",
    "too_early",
)

#: The outcomes that count as "back on track" in the aggregates.
ON_TRACK_OUTCOMES: frozenset[str] = frozenset({"reliable_improvement", "back_on_track"})

#: The code of the rule's text (locale key ``follow_up.rule``).
RULE = "follow_up.rule"

_START_COLUMNS = ("key", "episode_id", "start", "clients")
_SESSION_COLUMNS = (
    "episode_id",
    "client_id",
    "session_no",
    "session_date",
    "ors_total",
    "lower_expected",
    "first_ors",
)
_RESULT_COLUMNS = (
    "key",
    "outcome",
    "sessions_since",
    "at_session",
    "window_end",
    "window_complete",
    "rule",
)


@dataclass(frozen=True)
class FollowUp:
    """What became of one discussed (or flagged) case: see the module docstring.

    Attributes:
        outcome: One of :data:`OUTCOMES`.
        sessions_since: The episode's sessions after the start (all of them, not only the
            window's), up to ``as_of``.
        window_end: The last day of the window: the start plus ``follow_up_weeks``, or the
            day of the window's last session when its sessions are all held before that.
        window_complete: Whether the window is over (so the outcome will not change).
        rule: :data:`RULE`.
        at_session: For an on-track outcome, the session after the start (1 the first) at
            which the last judged participant was first on track; otherwise None.
    """

    outcome: str
    sessions_since: int
    window_end: dt.date | None
    window_complete: bool
    rule: str = RULE
    at_session: int | None = None

    @property
    def on_track(self) -> bool:
        """Back on track (with or without reliable improvement)."""
        return self.outcome in ON_TRACK_OUTCOMES


def _dates(values: pd.Series) -> np.ndarray:
    """Days as ``datetime64[D]`` from dates, timestamps or None (NaT)."""
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.to_numpy(dtype="datetime64[D]")
    try:
        return np.asarray(series.to_numpy(dtype=object), dtype="datetime64[D]")
    except (TypeError, ValueError):
        return pd.to_datetime(series.astype(object)).to_numpy(dtype="datetime64[D]")


def follow_up_frame(
    starts: pd.DataFrame,
    sessions: pd.DataFrame,
    episodes: pd.DataFrame,
    *,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> pd.DataFrame:
    """The follow-up of many starts at once.

    Args:
        starts: One row per start: ``key`` (e.g. the discussion id), ``episode_id``, ``start``
            (the discussion or flag day) and ``clients`` (the judged participants: a
            sequence of client ids; empty for every participant).
        sessions: The client-rated sessions of those episodes: ``episode_id``, ``client_id``,
            ``session_no``, ``session_date``, ``ors_total`` (NaN when missing),
            ``lower_expected`` (NaN when no line) and ``first_ors`` (the client's first ORS
            of the episode).
        episodes: ``episode_id``, ``ended`` (date or None) and ``end_type``.
        as_of: The day the follow-up is judged on; later sessions are not seen.
        config: ``follow_up_sessions``, ``follow_up_weeks``, ``ors_reliable_change``.

    Returns:
        One row per start, in the order of ``starts``: ``key``, ``outcome``,
        ``sessions_since``, ``window_end``, ``window_complete``, ``rule``.
    """
    if starts.empty:
        return pd.DataFrame({c: [] for c in _RESULT_COLUMNS}, dtype=object)
    n_window = int(config.follow_up_sessions)
    weeks = int(config.follow_up_weeks)
    as_of64 = np.datetime64(as_of, "D")

    st = starts[list(_START_COLUMNS)].reset_index(drop=True).copy()
    st["row"] = np.arange(len(st))
    st["episode_id"] = st["episode_id"].astype(str)
    st["start64"] = _dates(st["start"])
    st["limit64"] = st["start64"] + np.timedelta64(7 * weeks, "D")

    ep = episodes[["episode_id", "ended", "end_type"]].copy()
    ep["episode_id"] = ep["episode_id"].astype(str)
    ep = ep.drop_duplicates("episode_id")
    ep["ended64"] = _dates(ep["ended"])
    st = st.merge(ep[["episode_id", "ended64", "end_type"]], on="episode_id", how="left")
    st = st.sort_values("row").reset_index(drop=True)
    ended = st["ended64"].to_numpy(dtype="datetime64[D]")
    ended = np.where(ended <= as_of64, ended, np.datetime64("NaT"))

    se = sessions[list(_SESSION_COLUMNS)].copy()
    se["episode_id"] = se["episode_id"].astype(str)
    se["client_id"] = se["client_id"].astype(str)
    se["date64"] = _dates(se["session_date"])
    se = se[se["date64"] <= as_of64]

    # Every session of each start's episode after the start (up to as_of).
    joined = st[["row", "episode_id", "start64", "limit64"]].merge(se, on="episode_id")
    joined = joined[joined["date64"] > joined["start64"]]
    # The episode's sessions after the start, numbered in order (participants share a number).
    episode_sessions = joined[["row", "session_no", "date64"]].drop_duplicates(
        ["row", "session_no"]
    )
    episode_sessions = episode_sessions.sort_values(["row", "session_no"])
    episode_sessions["rank"] = episode_sessions.groupby("row").cumcount() + 1
    since = np.bincount(episode_sessions["row"].to_numpy(), minlength=len(st))
    joined = joined.merge(episode_sessions[["row", "session_no", "rank"]], on=["row", "session_no"])
    in_window = (joined["rank"] <= n_window) & (joined["date64"] <= joined["limit64"])
    window = joined[in_window].copy()

    # Window end: the limit, or the day of the window's n-th session when held before it.
    held = episode_sessions[
        (episode_sessions["rank"] == n_window)
        & (episode_sessions["date64"] <= st["limit64"].to_numpy()[episode_sessions["row"]])
    ]
    window_end = st["limit64"].to_numpy(dtype="datetime64[D]").copy()
    full = np.zeros(len(st), dtype=bool)
    full[held["row"].to_numpy()] = True
    window_end[held["row"].to_numpy()] = held["date64"].to_numpy(dtype="datetime64[D]")
    ended_inside = ~np.isnat(ended) & (ended >= st["start64"].to_numpy()) & (ended <= window_end)
    complete = full | (as_of64 > st["limit64"].to_numpy()) | ended_inside

    # Who is judged: the named participants, else everyone rated in the window.
    named = [
        (row, str(c))
        for row, clients in zip(st["row"], st["clients"], strict=True)
        for c in (clients if clients is not None and not _missing(clients) else ())
    ]
    named_frame = pd.DataFrame(named, columns=["row", "client_id"]).drop_duplicates()
    has_named = np.zeros(len(st), dtype=bool)
    has_named[named_frame["row"].to_numpy(dtype=np.int64)] = True
    rated = window.loc[window["ors_total"].notna(), ["row", "client_id"]].drop_duplicates()
    rated = rated[~has_named[rated["row"].to_numpy(dtype=np.int64)]]
    judged = pd.concat([named_frame, rated], ignore_index=True)

    ors = pd.to_numeric(window["ors_total"], errors="coerce")
    lower = pd.to_numeric(window["lower_expected"], errors="coerce")
    first = pd.to_numeric(window["first_ors"], errors="coerce")
    window["on"] = (ors >= lower - TIE_TOLERANCE).fillna(False).astype(bool)
    window["below"] = (ors < lower - TIE_TOLERANCE).fillna(False).astype(bool)
    window["unjudged"] = (ors.notna() & lower.isna()).astype(bool)
    change = ors - first
    rc = float(config.ors_reliable_change)
    if config.change_at_threshold_is_reliable:
        improved = change >= rc - TIE_TOLERANCE
    else:
        improved = change > rc + TIE_TOLERANCE
    window["improved"] = improved.fillna(False).astype(bool)
    per_client = (
        window.groupby(["row", "client_id"])[["on", "below", "unjudged", "improved"]]
        .any()
        .reset_index()
    )
    first_on = window[window["on"]].groupby(["row", "client_id"])["rank"].min()
    per_client = per_client.merge(
        first_on.rename("first_on").reset_index(), on=["row", "client_id"], how="left"
    )
    per_judged = judged.merge(per_client, on=["row", "client_id"], how="left")
    for column in ("on", "below", "unjudged", "improved"):
        per_judged[column] = per_judged[column].fillna(False).astype(bool)
    per_judged["both"] = per_judged["on"] & per_judged["improved"]
    per_judged["off_unjudged"] = ~per_judged["on"] & ~per_judged["below"] & per_judged["unjudged"]
    grouped = per_judged.groupby("row")
    all_on = np.zeros(len(st), dtype=bool)
    all_both = np.zeros(len(st), dtype=bool)
    any_below = np.zeros(len(st), dtype=bool)
    any_unjudged = np.zeros(len(st), dtype=bool)
    at_session = np.full(len(st), np.nan)
    if len(per_judged):
        at_session[grouped["first_on"].max().index.to_numpy(dtype=np.int64)] = (
            grouped["first_on"].max().to_numpy(dtype=float)
        )
        rows = grouped["on"].all().index.to_numpy(dtype=np.int64)
        all_on[rows] = grouped["on"].all().to_numpy()
        all_both[rows] = grouped["both"].all().to_numpy()
        any_below[rows] = (~grouped["on"].all()).to_numpy() & grouped["below"].any().to_numpy()
        any_unjudged[rows] = grouped["off_unjudged"].any().to_numpy()

    end_type = st["end_type"].astype(object).to_numpy()
    outcome = np.full(len(st), "too_early", dtype=object)
    outcome[complete] = "still_off_track"
    outcome[complete & any_unjudged & ~any_below] = "not_judged"
    for kind in ("transferred", "unplanned", "planned"):
        outcome[ended_inside & (end_type == kind)] = f"ended_{kind}"
    outcome[ended_inside & ~np.isin(end_type, ["planned", "unplanned", "transferred"])] = (
        "ended_unplanned"
    )
    outcome[all_on] = "back_on_track"
    outcome[all_both] = "reliable_improvement"

    return pd.DataFrame(
        {
            "key": st["key"].to_numpy(),
            "outcome": outcome,
            "sessions_since": since.astype(np.int64),
            "at_session": pd.array(
                np.where(np.isin(outcome, list(ON_TRACK_OUTCOMES)), at_session, np.nan)
            ).astype("Int64"),
            "window_end": [pd.Timestamp(d).date() for d in window_end],
            "window_complete": complete,
            "rule": RULE,
        }
    )


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def follow_up(
    discussion_date: dt.date,
    sessions_after: pd.DataFrame,
    first_ors: Mapping[str, float],
    flagged_clients: Iterable[str],
    episode_end: tuple[dt.date | None, str | None],
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> FollowUp:
    """The follow-up of one discussion (the rule of the module docstring).

    Args:
        discussion_date: The day the case was discussed (or flagged).
        sessions_after: The episode's client-rated sessions (earlier ones are ignored):
            ``client_id``, ``session_no``, ``session_date``, ``ors_total``, ``lower_expected``.
        first_ors: Each participant's first ORS of the episode.
        flagged_clients: The participants flagged then; empty for every participant.
        episode_end: ``(ended, end_type)`` of the episode, ``(None, None)`` while it runs.
        as_of: The day it is judged on.
        config: The window and the reliable change.
    """
    frame = sessions_after.copy()
    frame["episode_id"] = "e"
    frame["first_ors"] = [first_ors.get(str(c), np.nan) for c in frame["client_id"]]
    for column in _SESSION_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    starts = pd.DataFrame(
        {
            "key": [0],
            "episode_id": ["e"],
            "start": [discussion_date],
            "clients": [tuple(str(c) for c in flagged_clients)],
        }
    )
    episodes = pd.DataFrame(
        {"episode_id": ["e"], "ended": [episode_end[0]], "end_type": [episode_end[1]]}
    )
    row = follow_up_frame(starts, frame, episodes, as_of=as_of, config=config).iloc[0]
    return FollowUp(
        outcome=str(row["outcome"]),
        sessions_since=int(row["sessions_since"]),
        window_end=row["window_end"],
        window_complete=bool(row["window_complete"]),
        at_session=None if pd.isna(row["at_session"]) else int(row["at_session"]),
    )
