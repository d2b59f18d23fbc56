"""A hand-made database for the therapist development tests: every number known in advance.

Service "Voksne" has team TA (therapists BA "Anna Prøve" and BB "Bjørn Prøve") and team TB
(BC); service "Andre" has team TO (BO). All clients are adults (cutoff 25, reliable change 5).
Three sessions per episode; the first and last ORS and the three SRS are given below.

BA, five episodes ended in 2025Q1 (changes +10, +7, +4, +12, -1; one unplanned):
    A1 10 -> 20 SRS 40 40 40   A2 15 -> 22 SRS 35 38 39   A3 20 -> 24 SRS 30 32 37
    A4 18 -> 30 SRS 38 39 40   A5 22 -> 21 SRS 40 40 40
BA, four episodes ended in 2025Q2 (a small cell): A6-A9 5 -> 35, SRS 39 39 39
BA, one ongoing episode (never counted): A10 10 -> 30
BB, five episodes ended 2024Q3; BC, six ended 2024Q4; BO, five ended 2025Q1 (other service).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tests.builders import session_rows, write_database

# client, therapist, team, first ORS, last ORS, SRS x3, ended, end type
EPISODES: list[tuple] = [
    ("A1", "BA", "TA", 10.0, 20.0, [40.0, 40.0, 40.0], dt.date(2025, 2, 10), "planned"),
    ("A2", "BA", "TA", 15.0, 22.0, [35.0, 38.0, 39.0], dt.date(2025, 2, 11), "planned"),
    ("A3", "BA", "TA", 20.0, 24.0, [30.0, 32.0, 37.0], dt.date(2025, 2, 12), "planned"),
    ("A4", "BA", "TA", 18.0, 30.0, [38.0, 39.0, 40.0], dt.date(2025, 3, 13), "planned"),
    ("A5", "BA", "TA", 22.0, 21.0, [40.0, 40.0, 40.0], dt.date(2025, 3, 14), "unplanned"),
    *[
        (f"A{i}", "BA", "TA", 5.0, 35.0, [39.0, 39.0, 39.0], dt.date(2025, 5, i), "planned")
        for i in range(6, 10)
    ],
    ("A10", "BA", "TA", 10.0, 30.0, [39.0, 39.0, 39.0], None, None),
    *[
        (
            f"C{i}",
            "BB",
            "TA",
            12.0 + i,
            20.0 + i,
            [37.0, 38.0, 38.0],
            dt.date(2024, 8, i),
            "planned",
        )
        for i in range(1, 6)
    ],
    *[
        (
            f"D{i}",
            "BC",
            "TB",
            14.0 + i,
            16.0 + 2 * i,
            [33.0, 36.0, 36.0],
            dt.date(2024, 11, i),
            "unplanned" if i == 1 else "planned",
        )
        for i in range(1, 7)
    ],  # fmt: skip
    *[
        (f"O{i}", "BO", "TO", 1.0, 39.0, [20.0, 20.0, 20.0], dt.date(2025, 1, i), "planned")
        for i in range(1, 6)
    ],
]


def build_development_db(path: Path) -> Path:
    """Write the database described in the module docstring to ``path``."""
    frames, episodes = [], []
    for number, (client, therapist, team, first, last, srs, ended, end_type) in enumerate(EPISODES):
        start = (ended or dt.date(2025, 6, 1)) - dt.timedelta(weeks=4)
        middle = round((first + last) / 2, 1)
        frames.append(
            session_rows(
                f"E{client}", client, therapist, team, [first, middle, last], srs,
                start=start, first_id=100 * number + 1,
            )
        )  # fmt: skip
        episodes.append(
            {
                "episode_id": f"E{client}",
                "client_id": client,
                "therapist_id": therapist,
                "team_id": team,
                "started": start,
                "ended": ended,
                "end_type": end_type,
                "format": "individual",
            }
        )
    clients = pd.DataFrame(
        {
            "client_id": [e[0] for e in EPISODES],
            "birth_year": 1980,
            "age_group": "adult",
        }
    )
    return write_database(
        path,
        teams=pd.DataFrame(
            {
                "team_id": ["TA", "TB", "TO"],
                "name": ["Team A", "Team B", "Team O"],
                "service": ["Voksne", "Voksne", "Andre"],
            }
        ),
        therapists=pd.DataFrame(
            {
                "therapist_id": ["BA", "BB", "BC", "BO"],
                "name": ["Anna Prøve", "Bjørn Prøve", "Cecilie Prøve", "Odd Prøve"],
                "team_id": ["TA", "TA", "TB", "TO"],
            }
        ),
        clients=clients,
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(frames, ignore_index=True),
    )
