"""What the database already holds about the teams, people and episodes of an import.

Only the rows an import touches are read (the sessions and episodes of its clients and
episodes, all teams and therapists), so that checking a file against a large database costs
little. The checks themselves are in :mod:`fitdata.ingest.assign`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fitdata.vocabulary import SCORE_COLUMNS

__all__ = ["Existing", "Query", "load_existing"]

#: Runs one SQL query with parameters and returns its rows as a frame.
Query = Callable[[str, list], pd.DataFrame]


def _participants_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="str") for c in ("episode_id", "client_id", "role", "rater")}
    )


@dataclass
class Existing:
    """What the database already holds about the teams, people and episodes of a file."""

    teams: pd.DataFrame
    therapists: pd.DataFrame
    clients: pd.DataFrame
    episodes: pd.DataFrame
    sessions: pd.DataFrame
    max_session_id: int
    participants: pd.DataFrame = field(default_factory=lambda: _participants_frame())

    @classmethod
    def empty(cls) -> Existing:
        """The state of a database that does not exist yet."""
        sessions = pd.DataFrame(
            {c: pd.Series(dtype="str") for c in ("client_id", "episode_id", "team_id", "rater")}
        )
        sessions["session_date"] = pd.Series(dtype="datetime64[s]")
        sessions["session_no"] = pd.Series(dtype=np.int32)
        for column in SCORE_COLUMNS:
            sessions[column] = pd.Series(dtype=np.int16)
        return cls(
            teams=pd.DataFrame({"team_id": [], "name": []}, dtype="str"),
            therapists=pd.DataFrame({"therapist_id": [], "name": [], "team_id": []}, dtype="str"),
            clients=pd.DataFrame({"client_id": [], "age_group": []}, dtype="str"),
            episodes=pd.DataFrame(
                {
                    "episode_id": pd.Series(dtype="str"),
                    "client_id": pd.Series(dtype="str"),
                    "team_id": pd.Series(dtype="str"),
                    "started": pd.Series(dtype="datetime64[s]"),
                    "ended": pd.Series(dtype="datetime64[s]"),
                    "end_type": pd.Series(dtype="str"),
                    "format": pd.Series(dtype="str"),
                }
            ),
            sessions=sessions,
            max_session_id=0,
        )


def load_existing(query: Query, clients: list[str], episodes: list[str]) -> Existing:
    """Read the parts of the database an import of these clients and episodes touches."""
    empty = Existing.empty()
    # An empty table needs no lookup (and passing every client of a large file costs seconds).
    counts = query(
        "SELECT (SELECT count(*) FROM sessions) AS sessions, "
        "(SELECT count(*) FROM episodes) AS episodes, (SELECT count(*) FROM clients) AS clients",
        [],
    ).iloc[0]

    def wanted(keys: list[str], table: str) -> list[str]:
        return keys if counts[table] else []

    scores = ", ".join(f"CAST(round({c} * 10) AS SMALLINT) AS {c}" for c in SCORE_COLUMNS)
    sessions = query(
        "SELECT client_id, episode_id, team_id, rater, session_date, session_no, "
        f"{scores} FROM sessions WHERE client_id IN (SELECT unnest(?::VARCHAR[]))",
        [wanted(clients, "sessions")],
    )
    for column in SCORE_COLUMNS:
        sessions[column] = sessions[column].fillna(-1).astype(np.int16)
    sessions["session_date"] = sessions["session_date"].astype("datetime64[s]")
    sessions["session_no"] = sessions["session_no"].astype(np.int32)
    episodes_frame = query(
        "SELECT episode_id, client_id, team_id, started, ended, end_type, format FROM episodes "
        "WHERE episode_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR client_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR episode_id IN (SELECT episode_id FROM sessions "
        "WHERE client_id IN (SELECT unnest(?::VARCHAR[])))",  # a partner's episodes too
        [wanted(episodes, "episodes"), wanted(clients, "episodes"), wanted(clients, "sessions")],
    )
    for column in ("started", "ended"):
        episodes_frame[column] = episodes_frame[column].astype("datetime64[s]")
    has_participants = bool(
        query(
            "SELECT count(*) AS n FROM information_schema.tables "
            "WHERE table_name = 'episode_participants'",
            [],
        )["n"].iloc[0]
    )  # a file of schema version 5 or older, read by --dry-run before its migration
    participants = (
        query(
            "SELECT episode_id, client_id, role, rater FROM episode_participants "
            "WHERE episode_id IN (SELECT unnest(?::VARCHAR[]))",
            [episodes_frame["episode_id"].astype("str").tolist()],
        ).astype("str")
        if len(episodes_frame) and has_participants
        else empty.participants
    )
    return Existing(
        teams=query("SELECT team_id, name FROM teams", []).astype("str"),
        therapists=query("SELECT therapist_id, name, team_id FROM therapists", []).astype("str"),
        clients=query(
            "SELECT client_id, age_group FROM clients "
            "WHERE client_id IN (SELECT unnest(?::VARCHAR[]))",
            [wanted(clients, "clients")],
        ).astype("str"),
        episodes=episodes_frame if len(episodes_frame) else empty.episodes,
        sessions=sessions if len(sessions) else empty.sessions,
        max_session_id=int(
            query("SELECT coalesce(max(session_id), 0) AS m FROM sessions", [])["m"].iloc[0]
        ),
        participants=participants,
    )
