"""One case as the group may see it: the client's own ratings with nothing that identifies them.

:func:`anonymise_case` turns one client-episode's sessions into an :class:`AnonymousCase` whose
frame has only :data:`ANONYMOUS_COLUMNS`: session number, whole weeks since the first session,
scores, the expected-trajectory lines and per-session flag columns. No id, date, name or free
text survives; :func:`assert_anonymous` checks that at run time as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fitdata.analytics import flags as flag_rules
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.queries import episode_team
from fitdata.data.store import Reader
from fitdata.features.group_exercise.cases import CaseRef
from fitdata.vocabulary import ORS_ITEMS, SRS_ITEMS

__all__ = [
    "ANONYMOUS_COLUMNS",
    "SESSION_FLAGS",
    "AnonymousCase",
    "anonymise_case",
    "assert_anonymous",
    "case_sessions",
    "expected_lines",
]

#: Session-level flags carried into the anonymous frame as boolean ``flag_<code>`` columns:
#: those a session's own scores raise.
SESSION_FLAGS: tuple[str, ...] = flag_rules.SCORE_FLAGS

#: The only columns an anonymous case frame may have (see :func:`assert_anonymous`).
ANONYMOUS_COLUMNS: tuple[str, ...] = (
    "session_no",
    "weeks_since_start",
    "ors_total",
    *ORS_ITEMS,
    "srs_total",
    *SRS_ITEMS,
    "expected",
    "lower",
    *(f"flag_{code}" for code in SESSION_FLAGS),
)

_CASE_COLUMNS = ", ".join(
    ["session_no", "session_date"]
    + [f"{c}::DOUBLE AS {c}" for c in ("ors_total", *ORS_ITEMS, "srs_total", *SRS_ITEMS)]
)


def case_sessions(reader: Reader, ref: CaseRef) -> tuple[pd.DataFrame, str]:
    """The client's own ratings in the episode (with dates: kernel-side), and the age group."""
    require_client_rows(reader, "case")  # a leader sees aggregates only
    sessions = reader.df(
        f"""
        SELECT {_CASE_COLUMNS}
        FROM sessions
        WHERE team_id = ? AND episode_id = ? AND client_id = ? AND rater = 'client'
        ORDER BY session_no
        """,
        [episode_team(reader, ref.episode_id), ref.episode_id, ref.client_id],
    )
    rows = reader.rows("SELECT age_group FROM clients WHERE client_id = ?", [ref.client_id])
    if len(sessions):
        record_access(reader, "group_case", ref.client_id, ref.episode_id)
    return sessions, (str(rows[0][0]) if rows else "adult")


@dataclass(frozen=True)
class AnonymousCase:
    """One case as the group may see it: nothing in it identifies the client.

    Attributes:
        label: The letters of the case ("A").
        age_group: ``child``, ``adolescent`` or ``adult`` (picks the cutoff).
        sessions: One row per session with exactly :data:`ANONYMOUS_COLUMNS`.
        trajectory_episodes: Closed episodes behind the expected line at the last session,
            or None when the model had too few (the graph then shows only the
            reliable-change band).
    """

    label: str
    age_group: str
    sessions: pd.DataFrame = field(compare=False)
    trajectory_episodes: int | None = None

    @property
    def session_count(self) -> int:
        """Number of sessions."""
        return len(self.sessions)

    @property
    def weeks(self) -> int:
        """Whole weeks from the first to the last session."""
        if self.sessions.empty:
            return 0
        return int(self.sessions["weeks_since_start"].max())


def anonymise_case(
    sessions: pd.DataFrame,
    *,
    label: str,
    age_group: str,
    model: TrajectoryModel | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    start: dt.date | None = None,
) -> AnonymousCase:
    """Turn one client-episode's own ratings into an :class:`AnonymousCase`.

    Dates become whole weeks since the first session (``floor(days / 7)``); ids, dates, raters
    and any other column are dropped. The expected and lower lines are added when ``model``
    gives them (NaN where it has too few episodes), and each session-level flag becomes a
    boolean ``flag_<code>`` column computed with :func:`fitdata.analytics.flags.session_flags`.

    Args:
        sessions: The client's own ratings: ``session_no``, ``session_date``, ``ors_total``,
            ``srs_total`` and optionally the items (as from :func:`case_sessions`).
        label: The case's letters.
        age_group: The client's age group.
        model: Expected-trajectory model, or None.
        config: The thresholds for the flags.
        start: The day weeks are counted from (the first session of a couple's episode, so
            both partners' weeks agree); default the first of these sessions.

    Returns:
        The anonymous case.

    Raises:
        ValueError: If a required column is missing.
    """
    missing = {"session_no", "session_date", "ors_total", "srs_total"} - set(sessions.columns)
    if missing:
        raise ValueError(f"anonymise_case needs the columns {sorted(missing)}")
    frame = sessions.sort_values("session_no").reset_index(drop=True).copy()
    for column in ("ors_total", *ORS_ITEMS, "srs_total", *SRS_ITEMS):
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    dates = pd.to_datetime(frame["session_date"])
    first = pd.Timestamp(start) if start is not None else dates.min()
    days = (dates - first).dt.days
    frame["weeks_since_start"] = (days // 7).astype("int64")
    frame["session_no"] = frame["session_no"].astype("int64")

    trajectory_episodes: int | None = None
    frame["expected"] = np.nan
    frame["lower"] = np.nan
    intake_rows = frame.loc[frame["session_no"] == 1, "ors_total"]
    intake = float(intake_rows.iloc[0]) if len(intake_rows) else np.nan
    if model is not None and not frame.empty:
        predicted = model.predict_many(
            pd.DataFrame({"intake": np.full(len(frame), intake), "session_no": frame["session_no"]})
        )
        frame["expected"] = predicted["expected"].to_numpy(dtype=float)
        frame["lower"] = predicted["lower"].to_numpy(dtype=float)
        last = predicted.iloc[-1]
        trajectory_episodes = int(last["n_episodes"]) if bool(last["sufficient"]) else None

    keyed = frame.assign(
        episode_id="case", client_id="case", rater="client", lower_expected=frame["lower"]
    )
    fired = flag_rules.session_flags(keyed, config)
    for code in SESSION_FLAGS:
        numbers = set(fired.loc[fired["flag"] == code, "session_no"].astype(int))
        frame[f"flag_{code}"] = frame["session_no"].isin(numbers)
    if trajectory_episodes is None:
        # No expected line is drawn (too few comparable episodes at the last session), so no
        # session is marked as below it either: a marker needs the line it was measured against.
        frame["flag_not_on_track"] = False

    anonymous = frame[list(ANONYMOUS_COLUMNS)].reset_index(drop=True)
    assert_anonymous(anonymous)
    return AnonymousCase(
        label=label,
        age_group=age_group,
        sessions=anonymous,
        trajectory_episodes=trajectory_episodes,
    )


def expected_lines(
    case: AnonymousCase, model: TrajectoryModel | None, sessions: Sequence[int]
) -> pd.DataFrame:
    """Expected and lower ORS of the case at ``sessions`` (e.g. past the last shown session).

    Returns:
        ``session_no``, ``expected``, ``lower`` and ``sufficient``; empty without a model or
        an intake ORS.
    """
    columns = ["session_no", "expected", "lower", "sufficient"]
    first = case.sessions.loc[case.sessions["session_no"] == 1, "ors_total"]
    if model is None or first.empty or np.isnan(first.iloc[0]) or not len(sessions):
        return pd.DataFrame(columns=columns)
    predicted = model.predict(float(first.iloc[0]), list(sessions))
    return predicted[columns]


def assert_anonymous(frame: pd.DataFrame) -> None:
    """Refuse a frame that could carry something identifying.

    Raises:
        ValueError: If a column is not one of :data:`ANONYMOUS_COLUMNS`, or any column holds
            dates, times or text.
    """
    extra = [c for c in frame.columns if c not in ANONYMOUS_COLUMNS]
    if extra:
        raise ValueError(f"not allowed in an anonymous case: columns {extra}")
    for column in frame.columns:
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"not allowed in an anonymous case: {column} has type {dtype}")
