"""``fitdata export``: the database in the canonical import format (one row per session).

Importing the exported file into an empty database gives the same teams, therapists,
clients, episodes and sessions (see ``docs/import.md`` for the few things that do not travel:
session ids are assigned anew, and teams or therapists without any session are not exported).
Rows are ordered by episode with the episode's (index) client first, because the importer takes
the client on an episode's first row as its index client.
"""

from __future__ import annotations

import os
from pathlib import Path

from fitdata.data.store import StoreError, reader_for
from fitdata.vocabulary import SCORE_COLUMNS

__all__ = ["EXPORT_COLUMNS", "export_csv"]

#: The export's columns, all canonical import columns.
EXPORT_COLUMNS = (
    "team", "team_name", "service", "therapist", "therapist_name", "therapist_team", "client",
    "birth_year", "age_group", "episode", "episode_start", "episode_end", "end_type", "format",
    "session_date", "session_no", "rater", *SCORE_COLUMNS,
)  # fmt: skip

_EXPORT_SQL = f"""
SELECT s.team_id AS team, tm.name AS team_name, tm.service,
       s.therapist_id AS therapist, th.name AS therapist_name, th.team_id AS therapist_team,
       s.client_id AS client, c.birth_year, c.age_group,
       s.episode_id AS episode, e.started AS episode_start, e.ended AS episode_end, e.end_type,
       e.format, s.session_date, s.session_no, s.rater,
       {", ".join(f"s.{c}" for c in SCORE_COLUMNS)}
FROM sessions s
LEFT JOIN teams tm ON tm.team_id = s.team_id
LEFT JOIN therapists th ON th.therapist_id = s.therapist_id
LEFT JOIN clients c ON c.client_id = s.client_id
LEFT JOIN episodes e ON e.episode_id = s.episode_id
ORDER BY s.episode_id, s.client_id IS DISTINCT FROM e.client_id, s.client_id, s.session_date,
         s.session_no, s.rater
"""


def export_csv(db: Path, out: Path) -> int:
    """Write every session of ``db`` to ``out`` (UTF-8 CSV, comma, ISO dates); return the count.

    The file is created readable by its owner only (it holds client codes and scores).

    Raises:
        StoreError: If there is no database at ``db`` or it cannot be read.
    """
    if not db.exists():
        raise StoreError(f"There is no database at {db}; give the file to export with --db.")
    if out.suffix.lower() != ".csv":
        raise StoreError(f"fitdata export writes CSV; give --out a name ending in .csv, not {out}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    reader = reader_for(db)
    target = str(out.resolve()).replace("'", "''")
    reader.rows(f"COPY ({_EXPORT_SQL}) TO '{target}' (FORMAT csv, HEADER true, DELIMITER ',')")
    os.chmod(out, 0o600)  # COPY may create the file anew
    return int(reader.rows("SELECT count(*) FROM sessions")[0][0])
