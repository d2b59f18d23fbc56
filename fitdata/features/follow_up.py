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
    "AGGREGATE_FLAGS",
    "DISCUSSION_HORIZON_DAYS",
    "FACT_COLUMNS",
    "discussion_follow_ups",
    "flag_starts",
    "follow_up_facts",
    "follow_up_inputs",
    "follow_up_sentence",
    "judged_clients",
    "rule_text",
    "with_lines",
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


# -- facts for the aggregates -------------------------------------------------------------------
#: The warnings that make a case "flagged" for the aggregates: the clinical and alliance
#: warnings of the signals rules (:data:`fitdata.analytics.flags.rules.WARNING_GROUPS`), without
#: the soft ``srs_item_below`` and without attendance (``not_seen`` is not a session's score).
AGGREGATE_FLAGS: tuple[str, ...] = (
    "not_on_track",
    "no_reliable_change",
    "reliable_deterioration",
    "srs_below_cutoff",
    "srs_drop",
)

#: A flagged case counts as discussed when a discussion of it is dated on the flag's day or up
#: to this many days after it (about a quarter: teams meet weekly to monthly).
DISCUSSION_HORIZON_DAYS = 91

#: The columns of :func:`follow_up_facts`: no episode or client id.
FACT_COLUMNS: tuple[str, ...] = (
    "team_id",
    "therapist_id",
    "month",
    "quarter",
    "discussed",
    "days_to_discussion",
    "judged",
    "on_track",
)

_FACT_SESSIONS_SQL = (
    "SELECT episode_id, client_id, therapist_id, team_id, session_no, session_date, rater, "
    "ors_total::DOUBLE AS ors_total, srs_total::DOUBLE AS srs_total, "
    "srs_relationship::DOUBLE AS srs_relationship, srs_goals::DOUBLE AS srs_goals, "
    "srs_approach::DOUBLE AS srs_approach, srs_overall::DOUBLE AS srs_overall "
    "FROM sessions WHERE rater = 'client' {where} ORDER BY episode_id, client_id, session_no"
)


def _current_warnings(flags: pd.DataFrame, sessions: pd.DataFrame, k: int) -> pd.DataFrame:
    """Warning rows that hold at their session (the review's "now" rule for the line).

    ``not_on_track`` needs the last ``k`` judged ORS (those with a line) of the client, up to
    that session, all below the line; the other warnings hold where they fire.
    """
    warn = flags[flags["flag"].isin(AGGREGATE_FLAGS)]
    below = warn[warn["flag"] == "not_on_track"]
    if below.empty or k <= 1:
        return warn[["episode_id", "client_id", "session_no", "flag"]]
    judged = sessions.loc[
        sessions["ors_total"].notna() & sessions["lower_expected"].notna(),
        ["episode_id", "client_id", "session_no"],
    ].copy()
    judged["rank"] = judged.groupby(["episode_id", "client_id"]).cumcount()
    marked = below[["episode_id", "client_id", "session_no"]].merge(
        judged, on=["episode_id", "client_id", "session_no"]
    )
    marked["run"] = marked["rank"] - marked.groupby(["episode_id", "client_id"]).cumcount()
    marked["length"] = marked.groupby(["episode_id", "client_id", "run"]).cumcount() + 1
    held = marked[marked["length"] >= k].assign(flag="not_on_track")
    others = warn[warn["flag"] != "not_on_track"]
    keep = ["episode_id", "client_id", "session_no", "flag"]
    return pd.concat([others[keep], held[keep]], ignore_index=True)


def flag_starts(sessions: pd.DataFrame, config: ClinicalConfig) -> pd.DataFrame:
    """Per episode and quarter, the first session at which a warning held (the flag).

    Args:
        sessions: Client-rated sessions with ``lower_expected`` (:func:`with_lines`), with
            ``team_id`` and ``therapist_id``.
        config: The flag thresholds.

    Returns:
        ``episode_id``, ``quarter`` (``2025Q3``), ``month`` (``year * 12 + month - 1``),
        ``flag_date``, ``team_id``, ``therapist_id`` (at the flag's session) and ``clients``
        (the participants a warning held for at that session).
    """
    from fitdata.analytics.flags import frames as flag_frames

    columns = ["episode_id", "quarter", "month", "flag_date", "team_id", "therapist_id", "clients"]
    if sessions.empty:
        return pd.DataFrame({c: [] for c in columns})
    flags = flag_frames.session_flags(sessions, config, lang=None)
    warn = _current_warnings(flags, sessions, int(config.not_on_track_sessions_now))
    rows = warn.merge(
        sessions[
            ["episode_id", "client_id", "session_no", "session_date", "team_id", "therapist_id"]
        ],
        on=["episode_id", "client_id", "session_no"],
    )
    if rows.empty:
        return pd.DataFrame({c: [] for c in columns})
    stamps = pd.to_datetime(rows["session_date"])
    rows["month"] = (stamps.dt.year * 12 + stamps.dt.month - 1).astype("int64")
    rows["quarter"] = [f"{m // 12}Q{(m % 12) // 3 + 1}" for m in rows["month"].tolist()]
    rows["flag_date"] = stamps.dt.date
    rows = rows.sort_values(["episode_id", "quarter", "flag_date", "client_id"], kind="stable")
    first = rows.drop_duplicates(["episode_id", "quarter"])[
        ["episode_id", "quarter", "month", "flag_date", "team_id", "therapist_id"]
    ]
    on_day = rows.merge(first[["episode_id", "quarter", "flag_date"]])
    on_day = on_day.drop_duplicates(["episode_id", "quarter", "client_id"])
    on_day = on_day.sort_values(["episode_id", "quarter", "client_id"], kind="stable")
    first = first.sort_values(["episode_id", "quarter"], kind="stable")
    # One tuple of clients per start, without a Python call per group (most have one client).
    group = on_day["episode_id"].astype(str) + "\x00" + on_day["quarter"]
    cuts = np.flatnonzero(group.to_numpy()[1:] != group.to_numpy()[:-1]) + 1
    parts = np.split(on_day["client_id"].astype(str).to_numpy(dtype=object), cuts)
    out = first.assign(clients=[tuple(p) for p in parts])
    return out[columns].reset_index(drop=True)


def follow_up_facts(
    reader: Reader,
    *,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    therapist_id: str | None = None,
) -> pd.DataFrame:
    """One row per flagged case and quarter, with whether it was discussed and what followed.

    A case (episode) is *flagged in a quarter* when a warning of :data:`AGGREGATE_FLAGS` held
    at one of its sessions in that quarter (:func:`flag_starts`); it is *discussed* when a
    discussion of it (:func:`fitdata.features.case_discussions.aggregate_discussions`, not
    withdrawn) is dated from the flag's day to :data:`DISCUSSION_HORIZON_DAYS` after it (the
    first such). Its follow-up (:func:`fitdata.analytics.follow_up.follow_up_frame`) starts at
    the discussion, judging the participants flagged then, or, not discussed, at the flag,
    judging the participants flagged at it. ``judged`` is a complete window with an outcome
    other than ``not_judged``; ``on_track`` is back on track (with or without reliable
    improvement) among them. An early return to the track inside a window still open is not
    counted yet, so the discussed and the not-discussed are judged alike.

    Args:
        reader: Any reader (a leader's aggregate reader sees hashed ids; they are dropped).
        as_of: The day it is judged on.
        config: The flag rules, the window, the reliable change.
        model: The expected trajectories; default the service's.
        therapist_id: Only this therapist's episodes (the therapist development page).

    Returns:
        :data:`FACT_COLUMNS`, one row per flagged case and quarter; no episode or client id.
    """
    from fitdata.features.case_discussions import aggregate_discussions

    where, params = "", []
    if therapist_id is not None:
        where = "AND therapist_id = ?"
        params = [therapist_id]
    sessions = reader.df(_FACT_SESSIONS_SQL.format(where=where), params)
    sessions = sessions[pd.to_datetime(sessions["session_date"]).dt.date <= as_of]
    model = model if model is not None else trajectory_model(reader)
    sessions = with_lines(sessions, model)
    starts = flag_starts(sessions, config)
    if starts.empty:
        return pd.DataFrame({c: [] for c in FACT_COLUMNS})
    starts["key"] = np.arange(len(starts))
    talks = aggregate_discussions(reader)[["episode_id", "discussed_on", "flags_then"]]
    talks = talks.assign(episode_id=talks["episode_id"].astype(str))
    pairs = starts[["key", "episode_id", "flag_date"]].merge(talks, on="episode_id")
    days = (pd.to_datetime(pairs["discussed_on"]) - pd.to_datetime(pairs["flag_date"])).dt.days
    pairs = pairs.assign(days=days)
    pairs = pairs[(pairs["days"] >= 0) & (pairs["days"] <= DISCUSSION_HORIZON_DAYS)]
    pairs = pairs.sort_values(["key", "discussed_on"], kind="stable").drop_duplicates("key")
    starts = starts.merge(
        pairs[["key", "discussed_on", "flags_then", "days"]], on="key", how="left"
    ).sort_values("key")
    discussed = starts["discussed_on"].notna().to_numpy()
    judged_then = [
        judged_clients(f) if d else () for f, d in zip(starts["flags_then"], discussed, strict=True)
    ]
    follow_starts = pd.DataFrame(
        {
            "key": starts["key"].to_numpy(),
            "episode_id": starts["episode_id"].astype(str).to_numpy(),
            "start": np.where(discussed, starts["discussed_on"], starts["flag_date"]),
            "clients": [
                then or flagged
                for then, flagged in zip(judged_then, starts["clients"], strict=True)
            ],
        }
    )
    episodes = reader.df("SELECT episode_id, ended, end_type FROM episodes")
    result = follow_up_frame(follow_starts, sessions, episodes, as_of=as_of, config=config)
    outcome = result["outcome"].to_numpy()
    judged = result["window_complete"].to_numpy(dtype=bool) & (outcome != "not_judged")
    return pd.DataFrame(
        {
            "team_id": starts["team_id"].astype(str).to_numpy(),
            "therapist_id": starts["therapist_id"].astype(str).to_numpy(),
            "month": starts["month"].astype("int64").to_numpy(),
            "quarter": starts["quarter"].to_numpy(),
            "discussed": discussed,
            "days_to_discussion": pd.to_numeric(starts["days"]).to_numpy(dtype=float),
            "judged": judged,
            "on_track": judged & np.isin(outcome, ["reliable_improvement", "back_on_track"]),
        }
    )
