"""``fitdata export``: the database in the canonical import format (one row per session).

Importing the exported file into an empty database gives the same teams, therapists,
clients, episodes and sessions (see ``docs/import.md`` for the few things that do not travel:
session ids are assigned anew, and teams or therapists without any session are not exported).
Rows are ordered by episode with the episode's (index) client first, because the importer takes
the client on an episode's first row as its index client. Each row says the participant's role in
the episode (``episode_participants``, by episode, client and rater) and the forms its scores
were given on, so couples, families and forms other than the default travel too.

Every text value that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is written with a leading single quote
(:mod:`fitdata.formula_guard`); ``fitdata import`` takes it off again with that module's exact
inverse (``docs/report.md``, "Spreadsheet safety").
"""

from __future__ import annotations

import os
from pathlib import Path

from fitdata.data.store import StoreError, reader_for
from fitdata.outputs.spreadsheets import neutralise_sql
from fitdata.vocabulary import SCORE_COLUMNS

__all__ = ["EXPORT_COLUMNS", "export_csv"]

#: The export's columns, all canonical import columns.
EXPORT_COLUMNS = (
    "team", "team_name", "service", "therapist", "therapist_name", "therapist_team", "client",
    "birth_year", "age_group", "episode", "episode_start", "episode_end", "end_type", "format",
    "session_date", "session_no", "rater", "role", *SCORE_COLUMNS, "ors_form", "srs_form",
)  # fmt: skip

#: The SQL of each text column (neutralised for spreadsheets), then the typed ones.
_TEXT_COLUMNS = {
    "team": "s.team_id",
    "team_name": "tm.name",
    "service": "tm.service",
    "therapist": "s.therapist_id",
    "therapist_name": "th.name",
    "therapist_team": "th.team_id",
    "client": "s.client_id",
    "age_group": "c.age_group",
    "episode": "s.episode_id",
    "end_type": "e.end_type",
    "format": "e.format",
    "rater": "s.rater",
    "role": "p.role",
    "ors_form": "s.ors_form",
    "srs_form": "s.srs_form",
}
_TYPED_COLUMNS = {
    "birth_year": "c.birth_year",
    "episode_start": "e.started",
    "episode_end": "e.ended",
    "session_date": "s.session_date",
    "session_no": "s.session_no",
    **{column: f"s.{column}" for column in SCORE_COLUMNS},
}
_SELECTED = {
    **{name: neutralise_sql(sql) for name, sql in _TEXT_COLUMNS.items()},
    **_TYPED_COLUMNS,
}

_EXPORT_SQL = f"""
SELECT {", ".join(f"{_SELECTED[name]} AS {name}" for name in EXPORT_COLUMNS)}
FROM sessions s
LEFT JOIN teams tm ON tm.team_id = s.team_id
LEFT JOIN therapists th ON th.therapist_id = s.therapist_id
LEFT JOIN clients c ON c.client_id = s.client_id
LEFT JOIN episodes e ON e.episode_id = s.episode_id
LEFT JOIN (
    SELECT episode_id, client_id, rater, min(role) AS role
    FROM episode_participants GROUP BY ALL
) p ON p.episode_id = s.episode_id AND p.client_id = s.client_id AND p.rater = s.rater
ORDER BY s.episode_id, s.client_id IS DISTINCT FROM e.client_id, s.client_id, s.session_date,
         s.session_no, s.rater
"""


def export_csv(db: Path, out: Path) -> int:
    """Write every session of ``db`` to ``out`` (UTF-8 CSV, comma, ISO dates); return the count.

    The file is created readable by its owner only (it holds client codes and scores). Text
    that could run as a spreadsheet formula is written behind a single quote.

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
