"""Small, hand-made databases for tests: every value chosen so the expected result is known."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fitdata.data import store

ITEMS_ORS = ["ors_individual", "ors_interpersonal", "ors_social", "ors_overall"]
ITEMS_SRS = ["srs_relationship", "srs_goals", "srs_approach", "srs_overall"]


def session_rows(
    episode: str,
    client: str,
    therapist: str,
    team: str,
    ors: list[float | None],
    srs: list[float | None],
    *,
    start: dt.date = dt.date(2025, 1, 6),
    items: bool = False,
    rater: str = "client",
    first_id: int = 1,
) -> pd.DataFrame:
    """Weekly sessions with the given ORS and SRS totals (None for not given)."""
    rows = []
    for number, (o, s) in enumerate(zip(ors, srs, strict=True), start=1):
        row: dict[str, object] = {
            "session_id": first_id + number - 1,
            "episode_id": episode,
            "client_id": client,
            "therapist_id": therapist,
            "team_id": team,
            "session_date": start + dt.timedelta(weeks=number - 1),
            "session_no": number,
            "rater": rater,
            "ors_total": o,
            "srs_total": s,
        }
        if items and o is not None:
            row.update(dict(zip(ITEMS_ORS, _split(o), strict=True)))
        if items and s is not None:
            row.update(dict(zip(ITEMS_SRS, _split(s), strict=True)))
        rows.append(row)
    return pd.DataFrame(rows)


def _split(total: float) -> list[float]:
    """Four one-decimal items that add up exactly to ``total``."""
    tenths = round(total * 10)
    base = [tenths // 4] * 4
    for i in range(tenths - sum(base)):
        base[i] += 1
    return [b / 10 for b in base]


def build_tiny_db(path: Path) -> Path:
    """Two teams, three therapists, clients covering the graph's edge cases.

    - K-ADULT1 (adult, items): ORS 18.0 -> 25.4 (+7.4, reliable, above 25); SRS 38, 37, 38, 35.5
    - K-ONE (adult): one session only, ORS 20.0, SRS 39
    - K-TOTALS (adolescent, totals only): ORS 20.0 -> 25.0 (+5.0 exactly: reliable), no SRS
    - K-CHILD (child, parent ratings too): ORS 28 -> 30; SRS 36.0 always (not below 36)
    - K-TEN (adult): ten sessions; in "Team 10" to test natural sort
    """
    teams = pd.DataFrame(
        {
            "team_id": ["T2", "T10", "T3"],
            "name": ["Team 2", "Team 10", "Øst-teamet"],
            "service": ["Psykisk helse", "Psykisk helse", "Barn og unge"],
        }
    )
    therapists = pd.DataFrame(
        {
            "therapist_id": ["B1", "B2", "B3"],
            "name": ["Kari Nordmann", "Ola Hansen", "Åse Berg"],
            "team_id": ["T2", "T10", "T3"],
        }
    )
    clients = pd.DataFrame(
        {
            "client_id": ["K-ADULT1", "K-ONE", "K-TOTALS", "K-CHILD", "K-TEN"],
            "birth_year": [1980, 1990, 2009, 2016, 1975],
            "age_group": ["adult", "adult", "adolescent", "child", "adult"],
        }
    )
    frames = [
        session_rows(
            "E1",
            "K-ADULT1",
            "B1",
            "T2",
            [18.0, 21.0, 23.5, 25.4],
            [38.0, 37.0, 38.0, 35.5],
            items=True,
            first_id=1,
        ),
        session_rows("E2", "K-ONE", "B1", "T2", [20.0], [39.0], first_id=10),
        session_rows(
            "E3", "K-TOTALS", "B3", "T3", [20.0, 22.0, 25.0], [None, None, None], first_id=20
        ),
        session_rows(
            "E4",
            "K-CHILD",
            "B3",
            "T3",
            [28.0, 29.0, 30.0],
            [36.0, 36.0, 36.0],
            items=True,
            first_id=30,
        ),
        session_rows(
            "E4",
            "K-CHILD",
            "B3",
            "T3",
            [25.0, 27.0, 27.5],
            [None, None, None],
            rater="parent",
            first_id=40,
        ),
        session_rows(
            "E5", "K-TEN", "B2", "T10", [15.0 + i for i in range(10)], [39.0] * 10, first_id=50
        ),
    ]
    sessions = pd.concat(frames, ignore_index=True)
    episodes = (
        sessions.groupby("episode_id")
        .agg(
            client_id=("client_id", "first"),
            therapist_id=("therapist_id", "first"),
            team_id=("team_id", "first"),
            started=("session_date", "min"),
        )
        .reset_index()
    )
    episodes["ended"] = None
    episodes["end_type"] = None
    episodes["format"] = "individual"
    return write_database(
        path,
        teams=teams,
        therapists=therapists,
        clients=clients,
        episodes=episodes,
        sessions=sessions,
    )


def write_database(path: Path, **tables: pd.DataFrame) -> Path:
    """Write a new database at ``path`` with the given tables (by name), in schema order."""
    with store.write_transaction(path, replace=True) as con:
        for table in store.TABLES:
            if table in tables:
                store.append_frame(con, table, tables[table])
    return path
