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
from dataclasses import dataclass

import numpy as np
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
ORDER BY p.episode_id, p.client_id, p.role
"""


@dataclass(frozen=True)
class _Lookup:
    """Every joint episode's participants, and where each episode's rows are."""

    frame: pd.DataFrame  # ROSTER_COLUMNS and added_on, ordered by episode
    rows: dict[str, tuple[int, int]]  # episode -> (first row, row after its last)


_MEMORY: MemoryCache[_Lookup] = MemoryCache(4)


def _read(reader: Reader) -> _Lookup:
    frame = reader.df(_ROSTER_SQL)
    frame["age_group"] = frame["age_group"].astype(object).where(frame["age_group"].notna(), None)
    if frame.empty:
        return _Lookup(frame, {})
    episodes = frame["episode_id"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, episodes[1:] != episodes[:-1]])
    ends = [*starts[1:], len(frame)]
    rows = {str(episodes[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    return _Lookup(frame, rows)


def joint_roster(reader: Reader, episode_ids: Iterable[str], *, as_of: dt.date) -> pd.DataFrame:
    """The clients taking part in these couple and family episodes by ``as_of``, with roles.

    Args:
        reader: The page's reader (its scope decides what it may see).
        episode_ids: Couple and family episodes (others have no rows here).
        as_of: Participants added after this date are left out (those without a date count).

    Returns:
        :data:`ROSTER_COLUMNS`, one row per (episode, client) in the order of ``episode_ids``
        and then by client; ``age_group`` None when the client has none.
    """
    lookup = _MEMORY.get(reader, "joint participants", lambda: _read(reader))
    spans = [lookup.rows[e] for e in dict.fromkeys(map(str, episode_ids)) if e in lookup.rows]
    positions = np.concatenate([np.arange(a, b) for a, b in spans]) if spans else []
    chosen = lookup.frame.take(positions)
    added = chosen["added_on"]
    chosen = chosen[(added.isna() | (added <= pd.Timestamp(as_of))).to_numpy(dtype=bool)]
    return pd.DataFrame({c: chosen[c].to_numpy(dtype=object) for c in ROSTER_COLUMNS}, dtype=object)


def clear_memory() -> None:
    """Forget every lookup (tests and benchmarks: the next call reads the file again)."""
    _MEMORY.clear()
