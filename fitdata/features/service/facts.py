"""The facts a kernel reads once per database version, so a filter change reads nothing.

Speed (issue 5: a filter change under 300 ms at 1 million sessions, under 1 s at 10 million).
Reading the sessions again for every change cannot meet that (aggregating 10 million sessions
to client-episodes takes seconds), so two sets of facts are read once, with filters and
categories computed in DuckDB:

* :func:`episode_facts` — the closed client-episodes (``outcomes.category_query``:
  ``episode_outcomes`` with the PCOMS categories in SQL) as integer codes, and their *additive*
  facts (counts, sums and sums of squares of ten times the ORS totals, which are integers, and
  of the indicators) summed per team, month of the end, age group and format;
* :func:`session_facts` — the client-rated sessions per client, team, month, format and age
  group (session-date completeness).

A filter change then selects cells and adds them up with ``numpy.bincount``
(:mod:`fitdata.features.service.tables`). Distinct clients are counted on the rows, in orders
sorted once in which the rows of one client in one group are adjacent (:class:`Rows`), so no
sort happens per change. :mod:`fitdata.features.service.stored` keeps these facts beside the
database for the next kernel.

Both can be read for some teams only (``team_ids=``) and merged into the facts of an older
version (:func:`merge_facts`): after a registration only its team is read again
(:mod:`fitdata.features.service.changes`). For that a client's code is the same in every team
and version (a hash of its id), and rows and cells have one order whatever the query returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from fitdata.analytics.outcomes import category_query
from fitdata.config import AGE_GROUPS, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.vocabulary import FORMATS

__all__ = [
    "CellFacts",
    "EpisodeFacts",
    "Rows",
    "SessionFacts",
    "episode_facts",
    "merge_facts",
    "row_groups",
    "session_facts",
    "sum_cells",
]

#: Code of each age group and format in the facts (positions in AGE_GROUPS / FORMATS).
_AGE_CASE = "CASE {c} " + " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(AGE_GROUPS))
_AGE_CASE += " ELSE -1 END::TINYINT"
_FORMAT_CASE = "CASE {c} " + " ".join(f"WHEN '{f}' THEN {i}" for i, f in enumerate(FORMATS))
_FORMAT_CASE += " ELSE -1 END::TINYINT"

# Client codes: 63 bits of DuckDB's hash of the client id, the same in every query and every
# version of the file, so facts recomputed for a few teams after a write (:func:`merge_facts`)
# name each client as the facts of the other teams do. Two ids with one code would be counted
# as one client: with a million clients that happens with a probability of about 1e-7.
_CLIENT_CODE = "(hash({c}) & 9223372036854775807)::BIGINT"

# Team codes: positions in the sorted team ids of the teams and episodes tables.
_TEAM_CODES = """
tc AS (
    SELECT team_id, (row_number() OVER (ORDER BY team_id) - 1)::INTEGER AS team_code
    FROM (SELECT team_id FROM teams UNION SELECT team_id FROM episodes)
)
"""
_TEAMS_SQL = f"""
WITH {_TEAM_CODES}
SELECT tc.team_code, tc.team_id, t.service FROM tc LEFT JOIN teams AS t USING (team_id)
ORDER BY tc.team_code
"""

# One row per closed client-episode: integer codes and the additive facts of every index.
# ORS totals are recorded in steps of 0.1, so ten times a total is an integer and every sum
# (and sum of squares) below is exact in float64; variances are then exact up to one rounding.
_EPISODE_FACTS_SELECT = f"""
, {_TEAM_CODES}
SELECT
    {_CLIENT_CODE.format(c="z.client_id")} AS client_code,
    (dense_rank() OVER (ORDER BY z.episode_id) - 1)::INTEGER AS episode_code,
    tc.team_code,
    (year(z.ended) * 12 + month(z.ended) - 1)::INTEGER AS month,
    {_AGE_CASE.format(c="z.age_group")} AS age,
    {_FORMAT_CASE.format(c="z.format")} AS fmt,
    has_change::TINYINT AS has_change,
    (first_ors IS NOT NULL)::TINYINT AS ors_given,
    coalesce(round(first_ors * 10), 0)::INTEGER AS first_ors10,
    (first_srs IS NOT NULL)::TINYINT AS srs_given,
    coalesce(round(first_srs * 10), 0)::INTEGER AS first_srs10,
    n_sessions::INTEGER AS n_sessions,
    n_with_ors::INTEGER AS n_with_ors,
    n_with_srs::INTEGER AS n_with_srs,
    (started IS NOT NULL)::TINYINT AS days_given,
    coalesce(date_diff('day', started, ended), 0)::INTEGER AS days,
    coalesce(round(pre * 10), 0)::INTEGER AS pre10,
    coalesce(round(post * 10), 0)::INTEGER AS post10,
    coalesce(category = 'recovered', false)::TINYINT AS recovered,
    coalesce(category = 'improved', false)::TINYINT AS improved,
    coalesce(category = 'unchanged', false)::TINYINT AS unchanged,
    coalesce(category = 'deteriorated', false)::TINYINT AS deteriorated,
    coalesce(category = 'harmed', false)::TINYINT AS harmed,
    coalesce(category IN ('recovered', 'improved')
             OR (functional_post AND category NOT IN ('deteriorated', 'harmed')), false
    )::TINYINT AS target,
    (end_type = 'planned')::TINYINT AS planned,
    (end_type = 'unplanned')::TINYINT AS unplanned,
    (end_type = 'unplanned' AND coalesce(category IN ('recovered', 'improved'), false)
    )::TINYINT AS unplanned_with,
    (end_type = 'unplanned' AND NOT coalesce(category IN ('recovered', 'improved'), false)
    )::TINYINT AS unplanned_without,
    (end_type = 'transferred')::TINYINT AS transferred
FROM z JOIN tc ON tc.team_id = z.team_id
"""

# One row per client, team, month of the session date, episode format and age group: the
# client's own session rows and those with an ORS and an SRS (session-date completeness).
_SESSION_FACTS_SQL = f"""
WITH {_TEAM_CODES}
SELECT
    {_CLIENT_CODE.format(c="s.client_id")} AS client_code,
    tc.team_code,
    (year(s.session_date) * 12 + month(s.session_date) - 1)::INTEGER AS month,
    coalesce({_FORMAT_CASE.format(c="e.format")}, -1)::TINYINT AS fmt,
    coalesce({_AGE_CASE.format(c="c.age_group")}, -1)::TINYINT AS age,
    count(*)::INTEGER AS sessions,
    count(s.ors_total)::INTEGER AS with_ors,
    count(s.srs_total)::INTEGER AS with_srs
FROM sessions AS s
JOIN teams AS t ON t.team_id = s.team_id
JOIN tc ON tc.team_id = s.team_id
LEFT JOIN clients AS c ON c.client_id = s.client_id
LEFT JOIN episodes AS e ON e.episode_id = s.episode_id
WHERE s.rater = 'client'{{teams}}
GROUP BY ALL
"""

#: Additive facts of a client-episode, summed per cell (see :class:`EpisodeFacts`).
_SUMMED = (
    "one",
    "has_change",
    "ors_given",
    "first_ors10",
    "srs_given",
    "first_srs10",
    "n_sessions",
    "n_sessions_sq",
    "n_with_ors",
    "n_with_srs",
    "days_given",
    "days",
    "pre10",
    "pre10_sq",
    "post10",
    "post10_sq",
    "pre_post",
    "recovered",
    "improved",
    "unchanged",
    "deteriorated",
    "harmed",
    "target",
    "planned",
    "unplanned",
    "unplanned_with",
    "unplanned_without",
    "transferred",
)
_SESSION_SUMMED = ("sessions", "with_ors", "with_srs")
#: The codes of a cell, in the order cells are sorted by (team first).
_CELL_COLUMNS = ("cell_team", "cell_month", "cell_age", "cell_fmt")


def _first_in_runs(*keys: np.ndarray) -> np.ndarray:
    """True where any key differs from the previous element (runs of equal keys)."""
    length = len(keys[0])
    first = np.ones(length, dtype=bool)
    if length > 1:
        first[1:] = False
        for key in keys:
            first[1:] |= key[1:] != key[:-1]
    return first


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the ranges ``lo[i]:hi[i]`` one after another, and each one's ``i``."""
    lengths = hi - lo
    owner = np.repeat(np.arange(len(lo)), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return lo[owner] + within, owner


#: The columns of :class:`Rows` in storage order's priority.
_ROW_COLUMNS = ("client", "team", "month", "age", "fmt")


@dataclass
class Rows:
    """Rows (client, team, month, age group, format) stored sorted by client, team and month.

    ``client`` is a 63-bit code of the client (see ``_CLIENT_CODE``), the other columns the
    codes of the cells.

    The rows of one client in one team are then adjacent and in month order.
    Counting the first row of each run of (client, group) then counts distinct clients per
    group without sorting, for any group that is a team and a contiguous range of months
    (a quarter, the period). For groups over all teams the same holds for clients seen in one
    team only; the rows of clients seen in several teams (few) have their own order, sorted by
    client, month and team (``multi_order``).
    """

    client: np.ndarray
    team: np.ndarray
    month: np.ndarray
    age: np.ndarray
    fmt: np.ndarray
    single_team: np.ndarray
    multi_order: np.ndarray

    @classmethod
    def sorted(
        cls,
        client: np.ndarray,
        team: np.ndarray,
        month: np.ndarray,
        age: np.ndarray,
        fmt: np.ndarray,
    ) -> tuple[Rows, np.ndarray]:
        """The rows in storage order, and that order (to sort companion arrays alike).

        Storage order is by client, team, month, age group and format: every column, so the
        same rows give the same arrays whichever order a query returned them in, and rows
        merged in by :meth:`replace_teams` land where a full sort puts them.
        """
        order = np.lexsort((fmt, age, month, team, client))
        rows = cls.from_ordered(client[order], team[order], month[order], age[order], fmt[order])
        return rows, order

    @classmethod
    def from_ordered(
        cls,
        client: np.ndarray,
        team: np.ndarray,
        month: np.ndarray,
        age: np.ndarray,
        fmt: np.ndarray,
    ) -> Rows:
        """Rows from columns already in storage order (finds the clients seen in several teams)."""
        new_client = _first_in_runs(client)
        new_team = _first_in_runs(client, team)
        # A client is in several teams when a new team starts within its run.
        block = np.cumsum(new_client) - 1
        several = np.zeros(int(new_client.sum()), dtype=bool)
        several[block[new_team & ~new_client]] = True
        single = ~several[block] if len(block) else np.zeros(0, dtype=bool)
        multi = np.flatnonzero(~single)
        multi_order = multi[np.lexsort((team[multi], month[multi], client[multi]))]
        return cls(
            client=client,
            team=team,
            month=month,
            age=age,
            fmt=fmt,
            single_team=single,
            multi_order=multi_order.astype(np.int32),
        )

    def replace_teams(self, teams: np.ndarray, new: Rows) -> Rows:
        """These rows with the rows of ``teams`` (team codes) replaced by ``new``'s rows.

        ``new`` holds rows of those teams only, in storage order. The kept rows stay in their
        order and the new ones are inserted where a full sort would put them (a binary search
        within their client's rows). Which clients are seen in several teams is worked out
        again only for the clients whose rows changed, and the other clients' entries of
        ``multi_order`` are moved to their rows' new positions, so the cost is a few copies of
        the arrays, not a sort (``tests/unit/test_service_facts_merge.py`` compares the result
        with :meth:`sorted` of the same rows).
        """
        keep = ~np.isin(self.team, teams)
        removed = np.flatnonzero(~keep)
        old = {name: getattr(self, name)[keep] for name in _ROW_COLUMNS}
        added = {name: getattr(new, name) for name in _ROW_COLUMNS}
        at = self._insertion_points(old, added)
        merged = {name: np.insert(old[name], at, added[name]) for name in _ROW_COLUMNS}
        client, team, month = merged["client"], merged["team"], merged["month"]
        if not len(client):  # every row was of those teams, and they have none now
            return Rows.from_ordered(*merged.values())

        # The clients whose rows changed, their rows now, and whether each is in several teams
        # (rows are sorted by client and team: its first and last row's teams differ).
        touched = np.unique(np.concatenate([self.client[removed], added["client"]]))
        lo = np.searchsorted(client, touched, side="left")
        hi = np.searchsorted(client, touched, side="right")
        rows_of, owner = _ranges(lo, hi)
        several = (hi > lo) & (team[lo.clip(max=len(team) - 1)] != team[(hi - 1).clip(min=0)])
        single = np.insert(self.single_team[keep], at, True)
        single[rows_of] = ~several[owner]

        # multi_order: the other clients' entries at their rows' new positions, and the
        # touched clients' rows in several teams sorted anew, each before the next larger client.
        entries = self.multi_order.astype(np.int64)
        entries = entries[~np.isin(self.client[entries], touched)]
        kept_index = entries - np.searchsorted(removed, entries)
        moved = kept_index + np.searchsorted(np.sort(at), kept_index, side="right")
        fresh = rows_of[several[owner]]
        fresh = fresh[np.lexsort((team[fresh], month[fresh], client[fresh]))]
        where = np.searchsorted(client[moved], client[fresh], side="left")
        multi_order = np.insert(moved, where, fresh)
        return Rows(
            client=client,
            team=team,
            month=month,
            age=merged["age"],
            fmt=merged["fmt"],
            single_team=single,
            multi_order=multi_order.astype(np.int32),
        )

    @staticmethod
    def _insertion_points(old: dict[str, np.ndarray], added: dict[str, np.ndarray]) -> np.ndarray:
        """Where each added row goes among the old rows (``np.insert`` positions).

        Into its client's block of rows (found by binary search on the sorted codes; a new
        client's block is empty), after the block's rows that sort at or before it by (team,
        month, age group, format): only those blocks are compared.
        """
        lo = np.searchsorted(old["client"], added["client"], side="left")
        hi = np.searchsorted(old["client"], added["client"], side="right")
        compared, owner = _ranges(lo, hi)

        def rest(columns: dict[str, np.ndarray], at: np.ndarray | slice) -> np.ndarray:
            # Months (year * 12 + month) are below 2 ** 20, ages and formats below 16 codes.
            team = columns["team"][at].astype(np.int64)
            month = columns["month"][at].astype(np.int64)
            age = columns["age"][at].astype(np.int64) + 1
            fmt = columns["fmt"][at].astype(np.int64) + 1
            return (((team << 20) + month) << 8) + (age << 4) + fmt

        before = rest(old, compared) <= rest(added, slice(None))[owner]
        return lo + np.bincount(owner[before], minlength=len(lo))

    def distinct_clients(
        self,
        keep: np.ndarray,
        group_of: Callable[[np.ndarray], np.ndarray],
        n_groups: int,
        *,
        by_team: bool,
        by_age: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Distinct clients per group (and per group and age group) among the kept rows.

        ``group_of`` gives the (integer) groups of the rows at some positions. ``by_team``
        says that every group lies within one team (a team and some months); otherwise groups
        span teams and are months only (a quarter, the period).
        """
        n_ages = len(AGE_GROUPS)
        total = np.zeros(n_groups, dtype=np.int64)
        ages = np.zeros(n_groups * n_ages, dtype=np.int64)
        if by_team:
            parts = [np.flatnonzero(keep)]
        else:
            parts = [
                np.flatnonzero(keep & self.single_team),
                self.multi_order[keep[self.multi_order]],
            ]
        for positions in parts:
            c, g = self.client[positions], group_of(positions)
            first = np.empty(len(positions), dtype=bool)
            first[:1] = True
            np.not_equal(c[1:], c[:-1], out=first[1:])
            first[1:] |= g[1:] != g[:-1]
            g_first = g[first]
            total += np.bincount(g_first, minlength=n_groups)
            if by_age:  # the age group is the client's: read it for the first rows only
                a = self.age[positions[first]].astype(np.int64)
                valid = a >= 0
                ages += np.bincount(g_first[valid] * n_ages + a[valid], minlength=n_groups * n_ages)
        return total, ages.reshape(n_groups, n_ages) if by_age else None


def row_groups(rows: Rows, first_quarter: int, n_quarters: int) -> dict[str, Callable]:
    """Functions from row positions to group numbers (computed for the kept rows only)."""

    def quarter(p: np.ndarray) -> np.ndarray:
        return rows.month[p].astype(np.int64) // 3 - first_quarter

    return {
        "team_quarters": lambda p: rows.team[p].astype(np.int64) * n_quarters + quarter(p),
        "quarters": quarter,
        "teams": lambda p: rows.team[p].astype(np.int64),
        "period": lambda p: np.zeros(len(p), dtype=np.int64),
    }


@dataclass
class CellFacts:
    """Rows for distinct-client counts, and additive facts summed per cell.

    A cell is a (team, month, age group, format); ``cell_*`` hold each cell's codes and
    ``cell_sums`` its sums, which is all a count, sum, mean, variance or share needs.
    """

    rows: Rows
    cell_team: np.ndarray
    cell_month: np.ndarray
    cell_age: np.ndarray
    cell_fmt: np.ndarray
    cell_sums: dict[str, np.ndarray]


@dataclass
class EpisodeFacts(CellFacts):
    """The closed client-episodes of the database (one kernel, one database version).

    ``rows`` (client, team, month of the end, age group, format) count distinct clients;
    the cell sums are what every index of
    :func:`fitdata.analytics.indices.service_indices` needs. Distinct episodes are additive
    too: each episode's first row (and its first row within each age group, for an age filter)
    is flagged, and an episode's rows share its team, end and format. ``team_ids`` and
    ``team_service`` name the team codes.
    """

    team_ids: np.ndarray
    team_service: np.ndarray


@dataclass
class SessionFacts(CellFacts):
    """Client-rated sessions per client, team, month, format and age group (completeness)."""


def sum_cells(
    team: np.ndarray,
    month: np.ndarray,
    age: np.ndarray,
    fmt: np.ndarray,
    values: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each cell's codes (team, month, age group, format), and ``values`` summed per cell."""
    n_ages, n_formats = len(AGE_GROUPS) + 1, len(FORMATS) + 1  # + 1: an unknown code (-1)
    month0 = int(month.min()) if len(month) else 0
    span = int(month.max()) - month0 + 1 if len(month) else 1
    key = ((team.astype(np.int64) * span + (month - month0)) * n_ages + (age + 1)) * n_formats + (
        fmt + 1
    )
    cells, inverse = np.unique(key, return_inverse=True)
    rest, cell_fmt = np.divmod(cells, n_formats)
    rest, cell_age = np.divmod(rest, n_ages)
    cell_team, cell_month = np.divmod(rest, span)
    codes = {
        "cell_team": cell_team.astype(np.int32),
        "cell_month": (cell_month + month0).astype(np.int32),
        "cell_age": (cell_age - 1).astype(np.int8),
        "cell_fmt": (cell_fmt - 1).astype(np.int8),
    }
    sums = {
        name: np.bincount(inverse, weights=v.astype(np.float64), minlength=len(cells))
        for name, v in values.items()
    }
    return codes, sums


def episode_facts(
    reader: Reader, config: ClinicalConfig, *, team_ids: Sequence[str] | None = None
) -> EpisodeFacts:
    """Read the closed client-episodes once, with their categories under ``config``.

    ``team_ids`` restricts the rows and cells to those teams (the team codes stay those of
    every team), for :func:`merge_facts` after a write that touched only them.
    """
    teams = reader.df(_TEAMS_SQL)
    sql, params = category_query(
        _EPISODE_FACTS_SELECT,
        config=config,
        closed_only=True,
        team_id=None if team_ids is None else list(team_ids),
    )
    frame = reader.df(sql, params)
    arrays = {c: frame[c].to_numpy() for c in frame.columns}  # NULL-free by construction
    del frame
    team = arrays["team_code"].astype(np.int32)
    month = arrays["month"].astype(np.int32)
    age = arrays["age"].astype(np.int8)
    fmt = arrays["fmt"].astype(np.int8)
    rows, _ = Rows.sorted(arrays["client_code"].astype(np.int64), team, month, age, fmt)

    # Each episode's first row, and its first row among the rows of each age group.
    episode = arrays["episode_code"].astype(np.int64)
    by_episode = np.lexsort((age, episode))
    first_any = np.zeros(len(episode), dtype=np.float64)
    first_age = np.zeros(len(episode), dtype=np.float64)
    first_any[by_episode[_first_in_runs(episode[by_episode])]] = 1.0
    first_age[by_episode[_first_in_runs(episode[by_episode], age[by_episode])]] = 1.0

    pre = arrays["pre10"].astype(np.float64)
    post = arrays["post10"].astype(np.float64)
    n_sessions = arrays["n_sessions"].astype(np.float64)
    values = {
        "one": np.ones(len(episode)),
        "episode_first": first_any,
        "episode_first_in_age": first_age,
        "n_sessions_sq": n_sessions * n_sessions,
        "pre10_sq": pre * pre,
        "post10_sq": post * post,
        "pre_post": pre * post,
    }
    for name in _SUMMED:
        if name not in values:
            values[name] = arrays[name]
    codes, sums = sum_cells(team, month, age, arrays["fmt"], values)
    return EpisodeFacts(
        rows=rows,
        **codes,
        cell_sums=sums,
        team_ids=teams["team_id"].to_numpy(dtype=object),
        team_service=teams["service"].to_numpy(dtype=object),
    )


def session_facts(reader: Reader, *, team_ids: Sequence[str] | None = None) -> SessionFacts:
    """Read the client-rated sessions once, per client, team, month, format and age group.

    ``team_ids`` restricts the rows and cells to those teams (see :func:`episode_facts`).
    """
    sql, params = _SESSION_FACTS_SQL.replace("{teams}", ""), None
    if team_ids is not None:
        names = [f"$t{i}" for i in range(len(team_ids))]
        teams = f" AND s.team_id IN ({', '.join(names) or 'NULL'})"
        sql = _SESSION_FACTS_SQL.replace("{teams}", teams)
        params = {f"t{i}": str(t) for i, t in enumerate(team_ids)}
    frame = reader.df(sql, params)
    team = frame["team_code"].to_numpy().astype(np.int32)
    month = frame["month"].to_numpy().astype(np.int32)
    age = frame["age"].to_numpy().astype(np.int8)
    fmt = frame["fmt"].to_numpy().astype(np.int8)
    rows, _ = Rows.sorted(frame["client_code"].to_numpy().astype(np.int64), team, month, age, fmt)
    values = {name: frame[name].to_numpy() for name in _SESSION_SUMMED}
    codes, sums = sum_cells(team, month, age, fmt, values)
    return SessionFacts(rows=rows, **codes, cell_sums=sums)


F = TypeVar("F", EpisodeFacts, SessionFacts)


def merge_facts(old: F, team_codes: np.ndarray, new: F) -> F:
    """``old`` with every row and cell of the teams ``team_codes`` replaced by ``new``'s.

    ``new`` holds the facts of those teams alone (``team_ids=`` of :func:`episode_facts` or
    :func:`session_facts`, read from a later version of the file in which the team codes are
    the same). The result equals the facts read afresh from that version, array for array:
    the rows are merged into storage order (:meth:`Rows.replace_teams`) and the cells sorted
    by their codes, as :func:`sum_cells` sorts them (``tests/integration/test_service_changes.py``
    compares the two after random registrations, corrections and endings).
    """
    teams = np.asarray(team_codes, dtype=np.int64)
    keep = ~np.isin(old.cell_team, teams)
    codes = {}
    for name in _CELL_COLUMNS:
        codes[name] = np.concatenate([getattr(old, name)[keep], getattr(new, name)])
    order = np.lexsort(tuple(codes[name] for name in reversed(_CELL_COLUMNS)))
    fields: dict[str, object] = {name: codes[name][order] for name in _CELL_COLUMNS}
    fields["cell_sums"] = {
        name: np.concatenate([values[keep], new.cell_sums[name]])[order]
        for name, values in old.cell_sums.items()
    }
    fields["rows"] = old.rows.replace_teams(teams, new.rows)
    for name in vars(old):
        fields.setdefault(name, getattr(new, name))  # team_ids, team_service: the new file's
    return type(old)(**fields)
