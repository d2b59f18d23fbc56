"""A hand-made database of one team with a couple, a family with a parent rater and one client.

Every value is chosen so that the graphs' expected content is known (issue 20):

- E-C1, a couple: K-P1 (index, adult) ORS 14 -> 24 (+10, reliable), SRS 38, 35, 37, 38;
  K-P2 (partner, adult) ORS 22 -> 18, SRS 37, 36, 33, 34 (below 36 now).
- E-F1, a family: K-M1 (index, adult) ORS 20, 23, 25, SRS 38, 38, 33; K-C1 (family member,
  child) ORS 24, 26, 29, SRS 36, 37, 38, and a parent's ORS about K-C1: 22, 24, 27.
- E-I1, one client: K-S1 (adult) six sessions, ORS 15 .. 16 (no reliable change), SRS 39.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fitdata.data import store
from tests.builders import session_rows, write_database

TEAM, THERAPIST = "T1", "B1"
THERAPIST_NAME = "Kari Nordmann"
COUPLE = ("E-C1", "K-P1", "K-P2")
FAMILY = ("E-F1", "K-M1", "K-C1")
SINGLE = ("E-I1", "K-S1")
START = dt.date(2026, 3, 2)


def build_episode_db(path: Path) -> Path:
    """Write the database at ``path`` (see the module docstring) and return the path."""
    rows = [
        ("E-C1", "K-P1", [14.0, 16.0, 21.0, 24.0], [38.0, 35.0, 37.0, 38.0], "client"),
        ("E-C1", "K-P2", [22.0, 21.0, 19.0, 18.0], [37.0, 36.0, 33.0, 34.0], "client"),
        ("E-F1", "K-M1", [20.0, 23.0, 25.0], [38.0, 38.0, 33.0], "client"),
        ("E-F1", "K-C1", [24.0, 26.0, 29.0], [36.0, 37.0, 38.0], "client"),
        ("E-F1", "K-C1", [22.0, 24.0, 27.0], [None, None, None], "parent"),
        ("E-I1", "K-S1", [15.0, 15.5, 16.0, 15.0, 16.0, 15.5], [39.0] * 6, "client"),
    ]
    frames = []
    first_id = 1
    for episode, client, ors, srs, rater in rows:
        frames.append(
            session_rows(
                episode,
                client,
                THERAPIST,
                TEAM,
                ors,
                srs,
                start=START,
                items=True,
                rater=rater,
                first_id=first_id,
            )
        )
        first_id += 20
    sessions = pd.concat(frames, ignore_index=True)
    episodes = pd.DataFrame(
        {
            "episode_id": ["E-C1", "E-F1", "E-I1"],
            "client_id": ["K-P1", "K-M1", "K-S1"],
            "therapist_id": [THERAPIST] * 3,
            "team_id": [TEAM] * 3,
            "started": [START] * 3,
            "ended": [None] * 3,
            "end_type": [None] * 3,
            "format": ["couple", "family", "individual"],
        }
    )
    tables = {
        "teams": pd.DataFrame({"team_id": [TEAM], "name": ["Team 1"], "service": ["Familievern"]}),
        "therapists": pd.DataFrame(
            {"therapist_id": [THERAPIST], "name": [THERAPIST_NAME], "team_id": [TEAM]}
        ),
        "clients": pd.DataFrame(
            {
                "client_id": ["K-P1", "K-P2", "K-M1", "K-C1", "K-S1"],
                "birth_year": [1980, 1982, 1985, 2016, 1970],
                "age_group": ["adult", "adult", "adult", "child", "adult"],
            }
        ),
        "episodes": episodes,
        "sessions": sessions,
    }
    if "episode_participants" in store.TABLES:  # schema version 6
        tables["episode_participants"] = pd.DataFrame(
            {
                "episode_id": ["E-C1", "E-C1", "E-F1", "E-F1", "E-F1", "E-I1"],
                "client_id": ["K-P1", "K-P2", "K-M1", "K-C1", "K-C1", "K-S1"],
                "role": ["index", "partner", "index", "family_member", "collateral", "index"],
                "rater": ["client", "client", "client", "client", "parent", "client"],
                "added_on": [None] * 6,
            }
        )
    return write_database(path, **tables)
