"""Writing who takes part in an episode: the rows sessions imply, added without conflicts.

Whoever inserts sessions (the importer, the registration, the demo) also inserts the
``episode_participants`` rows those sessions need, in the same transaction, through
:func:`ensure_participants`: one row per (episode, client, rater), the index client
(``episodes.client_id``) with role ``index``, a rater other than the client ``collateral``
(``fitdata/data/schema.sql`` describes the roles; :func:`fitdata.vocabulary.participant_role`
gives the role of a participant by the episode's format). ``fitdata check`` verifies the rules
on the whole file (:mod:`fitdata.data.check`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pandas as pd

from fitdata.data.errors import StoreError
from fitdata.vocabulary import RATERS, ROLES

__all__ = [
    "PARTICIPANT_COLUMNS",
    "PARTICIPANT_KEY",
    "ROLE_SQL",
    "ensure_participants",
    "implied_participants_sql",
]

#: The columns of ``episode_participants``, in the table's order.
PARTICIPANT_COLUMNS = ("episode_id", "client_id", "role", "rater", "added_on")
#: One participant row per key (``fitdata check`` verifies it).
PARTICIPANT_KEY = ("episode_id", "client_id", "rater")

_VIEW = "_ensure_participants"

#: :func:`fitdata.vocabulary.participant_role` in SQL, over a session row ``s`` and its episode
#: ``e`` (for a participant who is not the index client; a test compares the two).
ROLE_SQL = (
    "CASE WHEN s.rater <> 'client' THEN 'collateral' "
    "WHEN e.format = 'couple' THEN 'partner' "
    "WHEN e.format = 'family' THEN 'family_member' ELSE 'member' END"
)


def implied_participants_sql(*, sessions: str | None = None, episodes: str | None = None) -> str:
    """SQL that inserts the participant rows some episodes and sessions imply, if not stored.

    The index client of each episode in ``episodes`` (role ``index``, rater ``client``), and each
    (episode, client, rater) of ``sessions`` that is not the index client's own rating, with
    the role its episode's format and the rater give (:data:`ROLE_SQL`; the episode is looked up
    in the stored ``episodes``, and a session of an unknown episode implies nothing: ``fitdata
    check`` reports it). ``added_on`` is NULL (from the start / unknown). The role is a function
    of the episode and the rater, so a row inserted here never contradicts a correct row of
    :func:`ensure_participants`.

    Args:
        sessions: The relation of session rows (``"sessions"``, or a registered frame).
        episodes: The relation of episode rows whose index clients to add.
    """
    parts = []
    if episodes is not None:
        parts.append(
            f"SELECT episode_id, client_id, 'index' AS role, 'client' AS rater FROM {episodes}"
        )
    if sessions is not None:
        parts.append(
            f"SELECT DISTINCT s.episode_id, s.client_id, {ROLE_SQL} AS role, s.rater "
            f"FROM {sessions} s JOIN episodes e USING (episode_id) "
            "WHERE s.rater <> 'client' OR s.client_id <> e.client_id"
        )
    if not parts:
        raise ValueError("implied_participants_sql needs sessions, episodes or both")
    union = "\n    UNION\n    ".join(parts)
    return f"""
INSERT INTO episode_participants ({", ".join(PARTICIPANT_COLUMNS)})
SELECT n.episode_id, n.client_id, n.role, n.rater, NULL::DATE
FROM (
    {union}
) n
ANTI JOIN episode_participants p USING (episode_id, client_id, rater)
ORDER BY n.episode_id, n.role <> 'index', n.client_id, n.rater
"""


def _frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in ("episode_id", "client_id", "role") if c not in frame.columns]
    if missing and len(frame):
        raise StoreError(f"Participant rows need the columns {', '.join(missing)}.")
    for column in PARTICIPANT_COLUMNS:
        if column not in frame.columns:
            frame[column] = "client" if column == "rater" else None
    frame = frame[list(PARTICIPANT_COLUMNS)].copy()
    frame["rater"] = frame["rater"].fillna("client")
    for column in ("episode_id", "client_id", "role", "rater"):
        frame[column] = frame[column].astype("string")
    frame["added_on"] = pd.to_datetime(frame["added_on"]).dt.date
    return frame


def _describe(episode_id: object, client_id: object, rater: object) -> str:
    who = f"client {client_id}" if rater == "client" else f"the {rater}'s rating of {client_id}"
    return f"{who} in episode {episode_id}"


def _validate(frame: pd.DataFrame) -> None:
    """Refuse rows with unknown words or a role that contradicts the rater, naming the first."""
    for row in frame.itertuples(index=False):
        where = _describe(row.episode_id, row.client_id, row.rater)
        if pd.isna(row.episode_id) or pd.isna(row.client_id) or pd.isna(row.role):
            raise StoreError(f"A participant row has no episode, client or role ({where}).")
        if row.role not in ROLES:
            raise StoreError(
                f"Unknown participant role {row.role!r} for {where}; use one of {', '.join(ROLES)}."
            )
        if row.rater not in RATERS:
            raise StoreError(
                f"Unknown rater {row.rater!r} for {where}; use one of {', '.join(RATERS)}."
            )
        if (row.role == "collateral") != (row.rater != "client"):
            raise StoreError(
                f"The role {row.role!r} does not fit {where}: a rating by a parent, teacher, "
                "partner or other person is 'collateral', and only such a rating is."
            )


def _conflicts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Role conflicts between the new rows (the registered view) and the stored ones."""
    found: list[str] = []
    clashes = con.execute(
        f"""
        WITH n AS (SELECT DISTINCT episode_id, client_id, role, rater FROM {_VIEW}),
        every AS (
            SELECT episode_id, client_id, role, rater FROM n
            UNION SELECT episode_id, client_id, role, rater FROM episode_participants
            WHERE episode_id IN (SELECT episode_id FROM n)
        )
        SELECT episode_id, client_id, rater, string_agg(role, ' and ' ORDER BY role)
        FROM every GROUP BY ALL HAVING count(DISTINCT role) > 1
        ORDER BY ALL LIMIT 3
        """
    ).fetchall()
    for episode_id, client_id, rater, roles in clashes:
        found.append(f"{_describe(episode_id, client_id, rater)} would be both {roles}")
    indexes = con.execute(
        f"""
        WITH every AS (
            SELECT episode_id, client_id FROM {_VIEW} WHERE role = 'index'
            UNION SELECT episode_id, client_id FROM episode_participants
            WHERE role = 'index' AND episode_id IN (SELECT episode_id FROM {_VIEW})
        )
        SELECT episode_id, string_agg(client_id, ', ' ORDER BY client_id) FROM every
        GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL LIMIT 3
        """
    ).fetchall()
    for episode_id, clients in indexes:
        found.append(f"episode {episode_id} would have more than one index client ({clients})")
    wrong_index = con.execute(
        f"""
        SELECT n.episode_id, n.client_id, e.client_id FROM {_VIEW} n
        JOIN episodes e USING (episode_id)
        WHERE n.role = 'index' AND n.client_id <> e.client_id
        ORDER BY ALL LIMIT 3
        """
    ).fetchall()
    for episode_id, client_id, index in wrong_index:
        found.append(
            f"client {client_id} cannot be the index client of episode {episode_id}: "
            f"the episode's client is {index}"
        )
    return found


def ensure_participants(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame | Iterable[Mapping[str, Any]]
) -> int:
    """Insert the participant rows not yet stored (one statement); return how many were new.

    Call it on a write transaction's connection (:func:`fitdata.data.store.write_transaction`)
    together with the sessions that need the rows. A row whose (episode_id, client_id, rater)
    is stored already is left as stored (its ``added_on`` too), as is a repeated row.

    Args:
        con: The write transaction's connection.
        rows: Records or a DataFrame with ``episode_id``, ``client_id``, ``role`` and
            optionally ``rater`` (default ``'client'``) and ``added_on`` (a date or None).

    Raises:
        StoreError: If a row has an unknown role or rater, a role that contradicts its rater
            (``collateral`` exactly for a rater other than the client), or a role conflict: the
            same participant with two roles, a second index client in an episode, or an index
            client who is not the episode's ``client_id``. Nothing is inserted then.
    """
    frame = _frame(rows)
    if frame.empty:
        return 0
    _validate(frame)
    con.register(_VIEW, frame)
    try:
        problems = _conflicts(con)
        if problems:
            raise StoreError(
                "The participants of an episode do not fit together: "
                + "; ".join(problems)
                + ". An episode has one index client (the episode's client); each other "
                "client or rater has one role in it."
            )
        inserted = con.execute(
            f"""
            INSERT INTO episode_participants ({", ".join(PARTICIPANT_COLUMNS)})
            SELECT episode_id, client_id, role, rater, min(added_on)
            FROM {_VIEW} n ANTI JOIN episode_participants p USING (episode_id, client_id, rater)
            GROUP BY episode_id, client_id, role, rater
            ORDER BY episode_id, role <> 'index', client_id, rater
            """
        ).fetchall()
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(_VIEW)
    return int(inserted[0][0])
