"""A small database of several people in one episode: a couple, a family, a group (issue 20)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tests.builders import session_rows, write_database


def build_family_db(path: Path) -> Path:
    """A couple (two partners, one with no session), a family with a parent rater, a group.

    One team T1. Therapist B1 has:
    - E-C couple: K-A (index, adult, ORS+SRS), K-B (partner, adult, ORS only)
    - E-G group: K-G (index, adolescent), K-H (member, adult), SRS given
    Therapist B2 has:
    - E-F family: K-KID (index, child), K-MUM (family member, adult), the parent's ORS of K-KID
    """
    teams = pd.DataFrame({"team_id": ["T1"], "name": ["Team 1"], "service": ["Familievern"]})
    therapists = pd.DataFrame(
        {"therapist_id": ["B1", "B2"], "name": ["Kari", "Ola"], "team_id": ["T1", "T1"]}
    )
    clients = pd.DataFrame(
        {
            "client_id": ["K-A", "K-B", "K-KID", "K-MUM", "K-G", "K-H"],
            "birth_year": [1980, 1982, 2016, 1985, 2010, 1970],
            "age_group": ["adult", "adult", "child", "adult", "adolescent", "adult"],
        }
    )
    start = dt.date(2025, 1, 6)
    episodes = pd.DataFrame(
        {
            "episode_id": ["E-C", "E-F", "E-G"],
            "client_id": ["K-A", "K-KID", "K-G"],
            "therapist_id": ["B1", "B2", "B1"],
            "team_id": ["T1"] * 3,
            "started": [start] * 3,
            "ended": [None] * 3,
            "end_type": [None] * 3,
            "format": ["couple", "family", "group"],
        }
    )
    frames = [
        session_rows("E-C", "K-A", "B1", "T1", [20.0, 24.0], [36.0, 38.0], first_id=1),
        session_rows("E-C", "K-B", "B1", "T1", [18.0, 19.0], [None, None], first_id=10),
        session_rows("E-F", "K-KID", "B2", "T1", [22.0, 26.0], [35.0, 37.0], first_id=20),
        session_rows("E-F", "K-MUM", "B2", "T1", [25.0], [39.0], first_id=30),
        session_rows(
            "E-F", "K-KID", "B2", "T1", [21.0, 23.0], [None, None], rater="parent", first_id=40
        ),
        session_rows("E-G", "K-G", "B1", "T1", [15.0], [30.0], first_id=50),
        session_rows("E-G", "K-H", "B1", "T1", [17.0], [31.0], first_id=60),
    ]
    return write_database(
        path,
        teams=teams,
        therapists=therapists,
        clients=clients,
        episodes=episodes,
        sessions=pd.concat(frames, ignore_index=True),
    )
