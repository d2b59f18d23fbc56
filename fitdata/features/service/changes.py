"""What a write changed, per team: so the service page recomputes the facts of those teams only.

Every write replaces the database file, so its version changes even when one session was
added. The service page's facts (:mod:`.facts`) are sums per team, month, age group and format
and rows per client and team; a registration touches one team. :func:`read_state` reads a
small description of the file (a few milliseconds at a million sessions: no session is
hashed), kept beside the facts, and :func:`changed_teams` compares two of them and names the
teams whose facts must be read again — or says that it cannot tell, and everything is read.

What a write can change, and how it is seen here:

* **a new session** (registration, the client page, an import): its ``session_id`` is above
  the largest of the older version (ids are never reused or lowered), so the sessions above it
  name their teams;
* **a changed session** (a correction, an SRS added later): fitdata's writers keep the values
  from before the change in ``session_changes``, so its rows above the older largest
  ``change_id`` name the sessions, and those name the teams; a session whose date moved to
  another month stays in its team, whose facts are read whole;
* **a new, ended or changed episode**: the count of a team's episodes and a hash of their
  therapist, dates, end type and format, summed per team, so a new episode, an ending, a
  changed date, format or therapist shows as the team's sums; the team's sessions are read
  again too (they carry their episode's format). Ids are not hashed (that costs five times
  as much): fitdata's writers never give an episode another client or id;
* **clients**: fitdata's writers only add clients (registration and the importer insert new
  ones; nothing updates an age group). A new client appears with a session or an episode of
  some team. The clients are counted per age group: when a count went down, a client was
  removed or moved to another age group, and everything is read;
* **teams**: the team codes are positions among the team ids, so any change to the teams
  (a new team, another service) reads everything.

Everything else is not attributed and reads everything: sessions removed or renumbered (their
count at or below the old largest id differs), a ``session_changes`` row removed, or more than
:data:`MAX_CHANGED_SHARE` of the teams changed (one pass over the file is then cheaper). The
one assumption is the write side's rule: a stored session row changes only together with a
``session_changes`` row. :mod:`fitdata.features.registration` keeps it; an importer that
updated sessions in place would have to add one, or this would not see the change.
``tests/integration/test_service_changes.py`` checks that facts brought forward team by team
equal facts read afresh, after random registrations, corrections and episode endings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fitdata.data.store import Reader, reader_for

__all__ = [
    "MAX_CHANGED_SHARE",
    "MAX_LISTED_EPISODES",
    "DataState",
    "TeamChanges",
    "changed_teams",
    "read_state",
    "team_codes",
]

#: Above this share of the teams changed, the facts are read whole (it is then cheaper).
MAX_CHANGED_SHARE = 0.25
#: Up to this many changed sessions' episodes are looked up one by one (whether closed).
MAX_LISTED_EPISODES = 1000

# The team codes of the facts read through a reader (its scope's episodes), in code order.
_CODES_SQL = "SELECT team_id FROM teams UNION SELECT team_id FROM episodes ORDER BY team_id"

# The whole state in one round trip: one row per part (a team's episodes, a team, a count).
_STATE_SQL = """
SELECT 'episodes' AS part, team_id AS name, count(*)::BIGINT AS n,
       coalesce(sum(hash(therapist_id, started, ended, end_type, format)::HUGEINT), 0)::VARCHAR
       AS text
FROM episodes GROUP BY team_id
UNION ALL SELECT 'team', team_id, NULL, service FROM teams
UNION ALL SELECT 'max_session', NULL, coalesce(max(session_id), -1), NULL FROM sessions
UNION ALL SELECT 'sessions', NULL, count(*), NULL FROM sessions
UNION ALL SELECT 'max_change', NULL, coalesce(max(change_id), -1), NULL FROM session_changes
UNION ALL SELECT 'changes', NULL, count(*), NULL FROM session_changes
UNION ALL SELECT 'clients ' || age_group, NULL, count(*), NULL FROM clients GROUP BY age_group
"""

# Sessions added or changed since a state: their teams and episodes (a scan of one column
# each); and, in the one row without a team, how many sessions and history rows the older
# state's ids still cover (fewer: some were removed or renumbered).
_CHANGES_SQL = """
SELECT team_id, episode_id, NULL::BIGINT, NULL::BIGINT FROM sessions
WHERE session_id > $max_session
UNION
SELECT team_id, episode_id, NULL, NULL FROM sessions
WHERE session_id IN (SELECT session_id FROM session_changes WHERE change_id > $max_change)
UNION ALL
SELECT NULL, NULL,
       (SELECT count(*) FROM sessions WHERE session_id <= $max_session),
       (SELECT count(*) FROM session_changes WHERE change_id <= $max_change)
"""
# Which of those few episodes are closed (a filter on the episodes, not a join of them all).
_CLOSED_SQL = "SELECT DISTINCT team_id FROM episodes WHERE ended IS NOT NULL AND episode_id IN ({})"


@dataclass(frozen=True)
class DataState:
    """A small description of a database version: enough to tell what a later write changed."""

    max_session: int
    sessions: int
    max_change: int
    changes: int
    clients: dict[str, int]
    teams: tuple[tuple[str, str], ...]
    episodes: dict[str, tuple[int, str]]
    codes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible values (kept with the stored facts)."""
        return {
            "max_session": self.max_session,
            "sessions": self.sessions,
            "max_change": self.max_change,
            "changes": self.changes,
            "clients": self.clients,
            "teams": [list(t) for t in self.teams],
            "episodes": {team: list(v) for team, v in self.episodes.items()},
            "codes": list(self.codes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataState:
        """The state written by :meth:`to_json`.

        Raises:
            KeyError, TypeError, ValueError: If ``data`` is not such a state.
        """
        return cls(
            max_session=int(data["max_session"]),
            sessions=int(data["sessions"]),
            max_change=int(data["max_change"]),
            changes=int(data["changes"]),
            clients={str(group): int(n) for group, n in data["clients"].items()},
            teams=tuple((str(t), str(s)) for t, s in data["teams"]),
            episodes={str(t): (int(n), str(h)) for t, (n, h) in data["episodes"].items()},
            codes=tuple(str(t) for t in data["codes"]),
        )


@dataclass(frozen=True)
class TeamChanges:
    """The teams whose facts a write changed: closed client-episodes, and client-rated sessions."""

    episode_teams: frozenset[str]
    session_teams: frozenset[str]


def read_state(reader: Reader) -> DataState:
    """The state of the database version ``reader`` reads now (two queries, small aggregates).

    The counts and hashes are of the whole file, read without the reader's access scope:
    through a scope's views every id would be hashed again for every row (a leader's reader
    hashes ids with md5: 0.3 s at a million sessions instead of 14 ms), and a team unchanged in
    the file is unchanged in every view of it. Nothing of it is shown: it only decides which
    teams' facts are read again, and those are read through the scope. The team codes are the
    scope's own (``codes``), as its facts number the teams.
    """
    counts: dict[str, int] = {}
    clients: dict[str, int] = {}
    teams: list[tuple[str, str]] = []
    episodes: dict[str, tuple[int, str]] = {}
    for part, name, n, text in reader_for(reader.path).rows(_STATE_SQL):
        if part == "episodes":
            episodes[str(name)] = (int(n), str(text))
        elif part == "team":
            teams.append((str(name), str(text)))
        elif str(part).startswith("clients "):
            clients[str(part).removeprefix("clients ")] = int(n)
        else:
            counts[part] = int(n)
    return DataState(
        max_session=counts["max_session"],
        sessions=counts["sessions"],
        max_change=counts["max_change"],
        changes=counts["changes"],
        clients=clients,
        teams=tuple(sorted(teams)),
        episodes=episodes,
        codes=tuple(str(team) for (team,) in reader.rows(_CODES_SQL)),
    )


def team_codes(state: DataState) -> list[str]:
    """The team ids in code order, as the facts read through the state's reader number them."""
    return list(state.codes)


def changed_teams(reader: Reader, old: DataState, new: DataState) -> TeamChanges | None:
    """The teams whose facts changed from ``old`` to ``new`` (``reader`` reads ``new``).

    Returns:
        The teams, or None when the change cannot be attributed to teams (see the module
        docstring): then every fact must be read again.
    """
    if old.teams != new.teams or old.codes != new.codes:
        return None
    if any(new.clients.get(group, 0) < n for group, n in old.clients.items()):
        return None  # a client removed, or moved to another age group
    if new.sessions < old.sessions or new.changes < old.changes:
        return None
    episode_teams = {
        team
        for team in set(old.episodes) | set(new.episodes)
        if old.episodes.get(team) != new.episodes.get(team)
    }
    params = {"max_session": old.max_session, "max_change": old.max_change}
    whole = reader_for(reader.path)  # the whole file, as the state
    rows = whole.rows(_CHANGES_SQL, params)
    touched = [row for row in rows if row[0] is not None]
    ((_, _, kept_sessions, kept_changes),) = [row for row in rows if row[0] is None]
    if kept_sessions != old.sessions or kept_changes != old.changes:
        return None  # sessions or their history removed or renumbered
    session_teams = {str(team) for team, _, _, _ in touched}
    limit = MAX_CHANGED_SHARE * max(len(new.codes), 1)
    if len(session_teams | episode_teams) > limit:
        return None
    # A closed episode's sessions are part of its outcome: its team's episodes change too.
    episodes = sorted({str(episode) for _, episode, _, _ in touched})
    if len(episodes) > MAX_LISTED_EPISODES:  # an import's many: their teams, to be safe
        episode_teams |= session_teams
    elif episodes:
        marks = ", ".join(f"$e{i}" for i in range(len(episodes)))
        named = {f"e{i}": episode for i, episode in enumerate(episodes)}
        episode_teams |= {str(t) for (t,) in whole.rows(_CLOSED_SQL.format(marks), named)}
    # Sessions carry their episode's format: an episode's change reads its team's sessions too.
    session_teams |= episode_teams
    if len(session_teams) > limit:
        return None
    return TeamChanges(frozenset(episode_teams), frozenset(session_teams))
