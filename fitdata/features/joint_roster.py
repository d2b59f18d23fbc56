"""Who takes part in each couple's and family's episode, read once per database version.

The team review needs, for its couple and family episodes, every client the episode lists (a
partner without sessions yet too) and their roles (:mod:`fitdata.features.team_review`). Looking
that up per team scans all of ``episode_participants`` (~8 ms at a million sessions, for a dozen
episodes), on every team change. The participants of every couple and family episode of the
file are few (~14,000 rows at a million sessions, ~20 ms to read), so they are read once per
file version and reader scope (:class:`fitdata.data.cache.MemoryCache`: a write replaces the
file and the next call reads again; a therapist's restricted views never share a lookup with
another reader) -- by the first caseload of a kernel, when the review page opens, like the
expected trajectories -- and every later caseload takes its episodes' rows from memory.

Only the clients' own participation counts (``rater = 'client'``; collateral raters are not
participants of a case). Nothing here is shown or named: the caseload that uses the rows
records who it names in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from fitdata.data.cache import MemoryCache
from fitdata.data.store import Reader

__all__ = ["JOINT_FORMATS", "ROSTER_COLUMNS", "clear_memory", "joint_roster"]

#: Episode formats whose clients are one case: a couple and a family are reviewed together.
JOINT_FORMATS: tuple[str, ...] = ("couple", "family")

#: Columns of :func:`joint_roster`.
ROSTER_COLUMNS: tuple[str, ...] = ("episode_id", "client_id", "role", "age_group")

_ROSTER_SQL = """
SELECT p.episode_id, p.client_id, p.role, p.added_on, c.age_group
FROM episode_participants p
JOIN episodes e ON e.episode_id = p.episode_id
LEFT JOIN clients c ON c.client_id = p.client_id
WHERE e.format IN ('couple', 'family') AND p.rater = 'client' AND p.role <> 'collateral'
"""

#: One entry per participant: (client code, role, added on or None, age group or None).
_Entry = tuple[str, str, "dt.date | None", "str | None"]

_MEMORY: MemoryCache[dict[str, list[_Entry]]] = MemoryCache(4)


def _read(reader: Reader) -> dict[str, list[_Entry]]:
    frame = reader.df(_ROSTER_SQL)
    added = [None if pd.isna(d) else pd.Timestamp(d).date() for d in frame["added_on"]]
    ages = [a if isinstance(a, str) else None for a in frame["age_group"]]
    by_episode: dict[str, list[_Entry]] = {}
    for episode, client, role, day, age in zip(
        frame["episode_id"], frame["client_id"], frame["role"], added, ages, strict=True
    ):
        by_episode.setdefault(str(episode), []).append((str(client), str(role), day, age))
    return by_episode


def _lookup(reader: Reader) -> dict[str, list[_Entry]]:
    return _MEMORY.get(reader, "joint participants", lambda: _read(reader))


def joint_roster(reader: Reader, episode_ids: Iterable[str], *, as_of: dt.date) -> pd.DataFrame:
    """The clients taking part in these couple and family episodes by ``as_of``, with roles.

    Args:
        reader: The page's reader (its scope decides what it may see).
        episode_ids: Couple and family episodes (others have no rows here).
        as_of: Participants added after this date are left out (those without a date count).

    Returns:
        :data:`ROSTER_COLUMNS`, one row per (episode, client) in the order of ``episode_ids``
        and then as stored; ``age_group`` None when the client has none.
    """
    lookup = _lookup(reader)
    rows = [
        (episode, client, role, age)
        for episode in dict.fromkeys(str(e) for e in episode_ids)
        for client, role, day, age in lookup.get(episode, ())
        if day is None or day <= as_of
    ]
    return pd.DataFrame(rows, columns=list(ROSTER_COLUMNS), dtype=object)


def clear_memory() -> None:
    """Forget every lookup (tests and benchmarks: the next call reads the file again)."""
    _MEMORY.clear()
