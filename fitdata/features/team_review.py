"""The caseload of a team: one row per case (a client-episode, or a couple's or family's episode).

A team's weekly case review asks "which cases need us today?". :func:`team_caseload` answers
with one row per client-episode of the team (:attr:`Caseload.episodes`, a couple's two
partners two rows, as in :mod:`fitdata.analytics.flags`): client code, role, therapist,
sessions, first and last ORS, change, last SRS, weeks since the last session, one boolean
column per flag of :data:`fitdata.analytics.flags.FLAGS` that holds *now*, and the most urgent
of them; and with one row per *case* (:attr:`Caseload.cases`, what the page lists, counts and
exports). A case is a client-episode, except in a couple's or a family's episode
(:data:`JOINT_FORMATS`) with more than one client taking part: there the episode is one case
(``joint``) whose participants are every client of it (``episode_participants``, index client
first; a partner without sessions yet is named too), whose flags are its participants' (each
flag row keeps whose it is: ``client_id`` and ``role``), and whose urgency is its most urgent
participant's. It is built from

* one SQL aggregate over the team's sessions (DuckDB does the grouping; only one row per
  client-episode reaches pandas),
* :func:`fitdata.analytics.flags.episode_flag_counts` for the episode flags (SQL),
* the expected-treatment-response model of :mod:`fitdata.analytics.trajectory` for ``not_on_track``.

The expensive part runs once per (database file, team, ``as_of``, thresholds) and is cached;
the other filters of the dashboard (therapist, period, ongoing/ended, age group, flag) are
applied by :func:`filter_caseload` to that small frame, so a filter change never queries the
sessions table again.

Now, not ever (issue 18). A flag row of :mod:`fitdata.analytics.flags` says whether its rule
holds at the last session up to ``as_of`` that could raise it (``current``) or held earlier and
resolved (``last_session`` says when it last held). A team acts on what is true now, so the
boolean columns, the counts, the filters and the default order use current flags only; the
resolved ones stay in :attr:`Caseload.flags` as the case's history (:func:`case_flags`), one
click away. Warnings (clinical, alliance, attendance) and data-quality prompts (a missing form
at the last session, "always 40", not judged against the expected line) are counted apart
(:data:`WARNING_FILTERS`, :data:`PROMPT_FILTERS`), and the list is ordered by the urgency of
the most urgent current flag (:data:`fitdata.analytics.flags.URGENCY`, from the config with its
reasons), then by the weeks since the last session (:func:`sort_caseload`).

A joint case's numbers are, column by column, those of its participant most in need there
(:data:`CASE_AGGREGATES`: the lowest ORS, change and SRS, the most sessions, the longest since
a session), so sorting by a column ranks the case by that participant; the page shows every
participant's own numbers. A filter keeps a case when any participant matches it (a flag now,
an age group). Collateral ratings never raise a flag (only ``rater = 'client'`` counts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from fitdata.analytics import flags as flag_rules
from fitdata.analytics.flags import FLAG_GROUP, FLAGS, URGENCY, WARNING_GROUPS, urgency_rank
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import queries
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.cache import MemoryCache
from fitdata.data.queries import latest_session_date
from fitdata.data.store import Reader
from fitdata.features import case_discussions, expected_trajectory
from fitdata.features import follow_up as follow_ups
from fitdata.features.joint_roster import JOINT_FORMATS, joint_roster
from fitdata.vocabulary import participant_role

__all__ = [
    "CASELOAD_COLUMNS",
    "CASE_AGGREGATES",
    "CASE_COLUMNS",
    "DISCUSSION_REVIEW_COLUMNS",
    "JOINT_FORMATS",
    "FLAG_GROUP",
    "FLAG_GROUPS",
    "PERIODS",
    "PROMPT_FILTERS",
    "STATUSES",
    "URGENCY",
    "URGENCY_SORT",
    "WARNING_FILTERS",
    "WARNING_GROUPS",
    "Caseload",
    "CaseParticipant",
    "CaseloadCache",
    "EpisodeDetail",
    "case_detail",
    "case_flags",
    "case_participants",
    "current_rows",
    "follow_up_due",
    "episode_detail",
    "filter_caseload",
    "flag_group_counts",
    "is_warning",
    "latest_session_date",
    "period_start",
    "sort_caseload",
    "sort_flags",
    "team_caseload",
    "trajectory_model",
    "urgency_rank",
    "with_discussions",
]


#: Each code's rank in :data:`URGENCY`.
_RANK: dict[str, int] = {code: urgency_rank(code) for code in URGENCY}


def is_warning(code: str) -> bool:
    """Whether a flag code is a warning (clinical, alliance, attendance), not a data prompt."""
    return FLAG_GROUP.get(code) in WARNING_GROUPS


def _by_urgency(filters: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The filters ordered by the urgency of their most urgent code (the page's order)."""
    return dict(sorted(filters.items(), key=lambda item: min(map(urgency_rank, item[1]))))


#: The warnings a team acts on, each one count in the summary line and one filter, in order of
#: urgency: a row is in a filter when it has any of its flags NOW. The alliance filter holds
#: every code of the "alliance" group (SRS below the cutoff, a drop, a low item).
WARNING_FILTERS: dict[str, tuple[str, ...]] = _by_urgency(
    {
        "reliable_deterioration": ("reliable_deterioration",),
        "not_on_track": ("not_on_track",),
        "alliance": tuple(c for c in FLAGS if FLAG_GROUP.get(c) == "alliance"),
        "no_reliable_change": ("no_reliable_change",),
        "not_seen": ("not_seen",),
    }
)
#: Data-quality prompts, counted and shown apart from the warnings: a form missing at the last
#: session, SRS 40 every time, and "not judged" (too few comparable closed episodes for an
#: expected line), which would otherwise pass for "on track".
PROMPT_FILTERS: dict[str, tuple[str, ...]] = _by_urgency(
    {
        "missing_feedback": ("missing_ors", "missing_srs"),
        "srs_always_40": ("srs_always_40",),
        "not_judged": ("not_judged",),
    }
)
#: Every filter: the warnings, then the prompts.
FLAG_GROUPS: dict[str, tuple[str, ...]] = {**WARNING_FILTERS, **PROMPT_FILTERS}

#: Period filter: months back from ``as_of`` (None for every episode).
PERIODS: dict[str, int | None] = {"all": None, "3m": 3, "6m": 6, "12m": 12}

Status = Literal["ongoing", "ended", "all"]
#: Status filter values: ongoing at ``as_of``, ended by ``as_of``, or both.
STATUSES: tuple[Status, ...] = ("ongoing", "ended", "all")

#: The roles of a case's participants in the order they are named (index client first).
ROLE_ORDER: tuple[str, ...] = ("index", "partner", "family_member", "member")
_ROLE_RANK: dict[str, int] = {role: i for i, role in enumerate(ROLE_ORDER)}

#: Columns of :attr:`Caseload.episodes` (before the one boolean column per flag). ``role`` is
#: the client's role in the episode (``index``, ``partner``, ``family_member``, ``member``),
#: ``case`` the key of the case the row belongs to (its own key, or for a couple's or family's
#: episode the key of its first participant), ``joint`` whether that case is a couple's or
#: family's with more than one participant. ``urgency`` is the rank in :data:`URGENCY` of
#: the most urgent current flag (``urgent_flag``; ``len(URGENCY)`` and ``""`` without one);
#: ``flag_count`` counts current flags, ``warning_count`` and ``prompt_count`` its warnings
#: and data-quality prompts, ``history_count`` the resolved ones.
CASELOAD_COLUMNS: tuple[str, ...] = (
    "key",
    "episode_id",
    "client_id",
    "role",
    "case",
    "joint",
    "therapist_id",
    "therapist",
    "age_group",
    "format",
    "started",
    "ended",
    "end_type",
    "ongoing",
    "sessions",
    "intake_ors",
    "first_ors",
    "last_ors",
    "ors_count",
    "change",
    "last_srs",
    "last_session",
    "last_session_no",
    "days_since_last",
    "weeks_since_last",
    "flag_count",
    "warning_count",
    "prompt_count",
    "history_count",
    "urgency",
    "urgent_flag",
)

#: Columns of :attr:`Caseload.cases` (before the flag columns): those of a client-episode --
#: ``key`` is the case's key, ``client_id`` and ``role`` its first participant's -- plus
#: ``participants``, a tuple of (role, client code) pairs in :data:`ROLE_ORDER` then by code
#: (a partner without sessions included), and ``age_groups``, the participants' age groups
#: joined by "|".
CASE_COLUMNS: tuple[str, ...] = (*CASELOAD_COLUMNS, "participants", "age_groups")

#: How a joint case's column comes from its participants' rows: the participant most in need
#: on that column (lowest scores and change, most sessions, longest unseen); counts add up;
#: a flag column is True when it holds now for any participant.
CASE_AGGREGATES: dict[str, str] = {
    "sessions": "max",
    "intake_ors": "min",
    "first_ors": "min",
    "last_ors": "min",
    "ors_count": "min",
    "change": "min",
    "last_srs": "min",
    "last_session": "max",
    "last_session_no": "max",
    "days_since_last": "max",
    "flag_count": "sum",
    "warning_count": "sum",
    "prompt_count": "sum",
    "history_count": "sum",
    "urgency": "min",
}

_CASELOAD_SQL = """
WITH te AS (
    SELECT episode_id, client_id AS index_client, therapist_id, format, started, ended, end_type
    FROM episodes
    WHERE team_id = $team AND ($therapist IS NULL OR therapist_id = $therapist)
), s AS (
    SELECT episode_id, client_id, session_no, session_date,
           CAST(ors_total AS DOUBLE) AS ors, CAST(srs_total AS DOUBLE) AS srs
    FROM sessions
    WHERE team_id = $team AND rater = 'client' AND session_date <= $as_of
), per_client AS (
    SELECT episode_id, client_id,
           count(*) AS sessions,
           count(ors) AS ors_count,
           avg(ors) FILTER (WHERE session_no = 1) AS intake_ors,
           arg_min(ors, session_no) FILTER (WHERE ors IS NOT NULL) AS first_ors,
           arg_max(ors, session_no) FILTER (WHERE ors IS NOT NULL) AS last_ors,
           arg_max(srs, session_no) FILTER (WHERE srs IS NOT NULL) AS last_srs,
           max(session_date) AS last_session,
           max(session_no) AS last_session_no
    FROM s GROUP BY episode_id, client_id
)
SELECT p.episode_id, p.client_id, e.therapist_id, coalesce(th.name, e.therapist_id) AS therapist,
       c.age_group, e.format, e.index_client, e.started,
       CASE WHEN e.ended <= $as_of THEN e.ended END AS ended,
       CASE WHEN e.ended <= $as_of THEN e.end_type END AS end_type,
       p.sessions, p.intake_ors, p.first_ors, p.last_ors, p.ors_count, p.last_srs,
       p.last_session, p.last_session_no,
       ($as_of - p.last_session)::INTEGER AS days_since_last
FROM per_client p
JOIN te e USING (episode_id)
LEFT JOIN therapists th ON th.therapist_id = e.therapist_id
LEFT JOIN clients c ON c.client_id = p.client_id
"""


def trajectory_model(reader: Reader) -> TrajectoryModel:
    """The service's expected-trajectory model, fitted once per database version.

    Fitting takes about 1 s at a million sessions and 7-10 s at ten million, so the fit is
    shared by every dashboard of a kernel and stored beside the database for the next kernel
    (:func:`fitdata.features.expected_trajectory.trajectory_model`: keyed on the file's version and
    the fit's parameters; when a writer replaces the file, the next call fits again).

    Args:
        reader: A reader of the database.

    Returns:
        The model of :func:`fitdata.analytics.trajectory.fit_trajectories` with its defaults.
    """
    return expected_trajectory.trajectory_model(reader)


@dataclass(frozen=True)
class Caseload:
    """A team's caseload at one date.

    Attributes:
        team_id: The team.
        as_of: The reference date: later sessions are ignored.
        episodes: One row per client-episode: :data:`CASELOAD_COLUMNS` and one boolean column
            per flag code of :data:`fitdata.analytics.flags.FLAGS` (named as the code), True
            when the flag holds now.
        flags: The flag rows of :func:`fitdata.analytics.flags.episode_flag_counts` (with
            ``not_on_track`` and ``not_judged`` when a model was given) plus ``key`` (the
            client-episode's), ``case`` and ``role``, one row per (client-episode, flag) that
            fired at least once: ``current`` rows hold now, the others are the case's history
            (:func:`case_flags`); ``rule`` is empty (describe the rows shown with
            :func:`fitdata.analytics.flags.describe_flags`).
        cases: One row per case, what the page lists: :data:`CASE_COLUMNS` and the flag
            columns; a client-episode's row as in ``episodes``, a couple's or family's
            episode one row (see the module's docstring), ordered by client code and start.
    """

    team_id: str
    as_of: dt.date
    episodes: pd.DataFrame
    flags: pd.DataFrame
    cases: pd.DataFrame


def _episode_flags(
    reader: Reader,
    *,
    team_id: str,
    as_of: dt.date,
    config: ClinicalConfig,
    model: TrajectoryModel | None,
) -> pd.DataFrame:
    """The team's episode flag rows (SQL), with ``not_on_track`` when a model is given.

    The rule sentences are left empty: the page describes only the rows it shows, in its own
    language, with :func:`fitdata.analytics.flags.describe_flags`.
    """
    return flag_rules.episode_flag_counts(
        reader, team_id=team_id, as_of=as_of, config=config, model=model, lang=None
    )


def team_caseload(
    reader: Reader,
    *,
    team_id: str,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    therapist_id: str | None = None,
) -> Caseload:
    """Compose the caseload of one team as of a date: one row per client-episode, with flags.

    Only the client's own ratings (``rater = 'client'``) dated on or before ``as_of`` count;
    an episode belongs to the team of its ``episodes.team_id``; episodes that ended after
    ``as_of`` are ongoing at ``as_of``. Sessions are selected by their own ``team_id``, as in
    :func:`fitdata.analytics.flags.episode_flag_counts` (an episode's sessions carry its team, which
    ``fitdata check`` verifies); a join of every session with its episode costs more.

    Args:
        reader: A reader of the database.
        team_id: The team.
        as_of: The reference date (see :func:`latest_session_date` for the usual default).
        config: The thresholds for the flags.
        model: The expected-trajectory model for ``not_on_track`` (e.g.
            :func:`trajectory_model`); without one, no episode is judged on it.
        therapist_id: Only this therapist's episodes (pushed into SQL); None for the team.

    Returns:
        The :class:`Caseload`, its rows ordered by client code and start date.
    """
    require_client_rows(reader, "caseload")  # a leader sees aggregates only
    params = {"team": team_id, "as_of": as_of, "therapist": therapist_id}
    episodes = reader.df(_CASELOAD_SQL, params)
    episodes["key"] = episodes["episode_id"].astype(str) + "|" + episodes["client_id"].astype(str)
    candidates = episodes.loc[episodes["format"].isin(JOINT_FORMATS), "episode_id"]
    roster = joint_roster(reader, candidates.astype(str), as_of=as_of)
    episodes, roster = _roles_and_cases(episodes, roster)
    for column in ("intake_ors", "first_ors", "last_ors", "last_srs"):
        episodes[column] = episodes[column].astype("float64")
    episodes["change"] = (
        (episodes["last_ors"] - episodes["first_ors"]).round(1).where(episodes["ors_count"] >= 2)
    )
    episodes["ongoing"] = episodes["ended"].isna()
    episodes["weeks_since_last"] = (episodes["days_since_last"] / 7).round(1)

    flags = _episode_flags(reader, team_id=team_id, as_of=as_of, config=config, model=model)
    flags = flags.assign(key=flags["episode_id"].astype(str) + "|" + flags["client_id"].astype(str))
    position = pd.Index(episodes["key"]).get_indexer(flags["key"])  # keys are unique
    keep = position >= 0
    flags = flags[keep].reset_index(drop=True)
    position = position[keep]
    flags["case"] = episodes["case"].to_numpy()[position]
    flags["role"] = episodes["role"].to_numpy()[position]
    episodes = _flag_columns(episodes, flags, position)

    episodes = episodes.sort_values(["client_id", "started", "episode_id"], kind="stable")
    cases = _case_rows(episodes, roster)
    episodes = episodes[[*CASELOAD_COLUMNS, *FLAGS]].reset_index(drop=True)
    if len(episodes):  # the list names its clients: the audit log says who saw it
        named = dict.fromkeys([*episodes["client_id"], *roster["client_id"]])
        record_access(reader, "caseload", "", team_id=team_id, clients=list(named))
    return Caseload(team_id=team_id, as_of=as_of, episodes=episodes, flags=flags, cases=cases)


def _role_rank(roles: pd.Series) -> pd.Series:
    """Each role's place in :data:`ROLE_ORDER` (unknown roles after the known ones)."""
    return roles.map(_ROLE_RANK).fillna(len(ROLE_ORDER))


def _person_order(role: str, client: str) -> tuple[int, str]:
    """Where a participant is named in a case: by :data:`ROLE_ORDER`, then by client code."""
    return _ROLE_RANK.get(role, len(ROLE_ORDER)), client


def _roles_and_cases(
    episodes: pd.DataFrame, roster: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each client-episode's role and the key of its case; the roster of the joint cases.

    Outside a couple or family of several clients every client-episode is its own case; its
    role is ``index`` for ``episodes.client_id`` and ``member`` for another client (the
    migration's rule). A couple's or family's episode is one case (``joint``) when more than
    one client takes part (with sessions, or listed in ``roster``); the role is then the
    participant's in ``episode_participants`` (``partner`` or ``family_member`` by the same
    rule when a row is missing), and the case's key is that of its first participant with
    sessions (index first, then by role and client code). The couples and families are a few
    dozen rows of a team, so this goes row by row.

    Returns:
        ``episodes`` with ``role``, ``joint`` and ``case``; the roster rows of the joint cases.
    """
    episode_ids = episodes["episode_id"].to_numpy(dtype=object)
    clients = episodes["client_id"].to_numpy(dtype=object)
    keys = episodes["key"].to_numpy(dtype=object)
    index = clients == episodes["index_client"].to_numpy(dtype=object)
    role = np.where(index, "index", "member").astype(object)
    joint = np.zeros(len(episodes), dtype=bool)
    case = keys.copy()
    candidates = np.flatnonzero(episodes["format"].isin(JOINT_FORMATS).to_numpy())
    together: set[str] = set()
    if len(candidates):
        listed: dict[str, dict[str, str]] = {}
        for episode, client, known in zip(
            roster["episode_id"], roster["client_id"], roster["role"], strict=True
        ):
            listed.setdefault(episode, {}).setdefault(client, known)
        people: dict[str, set[str]] = {e: set(known) for e, known in listed.items()}
        for i in candidates:
            people.setdefault(episode_ids[i], set()).add(clients[i])
        together = {e for e, named in people.items() if len(named) > 1}
        formats = episodes["format"].to_numpy(dtype=object)
        first: dict[str, tuple[tuple[int, str], str]] = {}
        for i in candidates:
            episode = episode_ids[i]
            if episode not in together:
                continue
            joint[i] = True
            derived = "index" if index[i] else participant_role(formats[i], "client")
            role[i] = listed.get(episode, {}).get(clients[i], derived)
            order = _person_order(role[i], clients[i])
            if episode not in first or order < first[episode][0]:
                first[episode] = (order, keys[i])
        for i in np.flatnonzero(joint):
            case[i] = first[episode_ids[i]][1]
    episodes["role"] = role
    episodes["joint"] = joint
    episodes["case"] = case
    in_case = roster["episode_id"].isin(together).to_numpy(dtype=bool)
    return episodes, roster[in_case].reset_index(drop=True)


_AGGREGATE = {"min": np.fmin, "max": np.fmax, "sum": np.add}


def _case_rows(episodes: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """One row per case: a client-episode's own row, or a couple's or family's episode combined.

    ``episodes`` are the client-episodes with their flag columns, in the list's order. A
    joint case's row is its first participant's (its key is the case's), with each column of
    :data:`CASE_AGGREGATES` taken over every participant and a flag column True when it holds
    for any of them; its ``participants`` name everyone the episode lists (a partner without
    sessions too) and ``age_groups`` their age groups. Rows stay in the list's order, so the
    cases are ordered by their first participant's code and start, as the client-episodes.
    """
    keys = episodes["key"].to_numpy(dtype=object)
    case = episodes["case"].to_numpy(dtype=object)
    own = keys == case
    roles = episodes["role"].to_numpy(dtype=object)
    clients = episodes["client_id"].to_numpy(dtype=object)
    ages = episodes["age_group"].to_numpy(dtype=object)
    participants = [((r, c),) for r, c in zip(roles[own], clients[own], strict=True)]
    age_groups = [a if isinstance(a, str) else "" for a in ages[own]]
    # column by column in NumPy, one frame at the end (a frame's setitem per column cost more)
    data = {c: episodes[c].to_numpy()[own] for c in CASELOAD_COLUMNS}
    data |= {c: episodes[c].to_numpy()[own] for c in FLAGS}
    members = np.flatnonzero(episodes["joint"].to_numpy(dtype=bool))
    if len(members):
        codes, uniques = pd.factorize(case[members])
        row_of = {key: i for i, key in enumerate(keys[own])}
        rows = np.array([row_of[key] for key in uniques], dtype=np.int64)
        first = np.unique(codes, return_index=True)[1]  # each case's first member
        for column in [*CASE_AGGREGATES, *FLAGS]:
            values = episodes[column].to_numpy()[members]
            how = "max" if column in FLAGS else CASE_AGGREGATES[column]  # any flag: True > False
            combined = np.zeros_like(values[first]) if how == "sum" else values[first].copy()
            _AGGREGATE[how].at(combined, codes, values)
            data[column][rows] = combined
        data["weeks_since_last"][rows] = np.round(data["days_since_last"][rows] / 7, 1)
        urgent = np.array([*URGENCY, ""], dtype=object)[data["urgency"][rows].astype("int64")]
        data["urgent_flag"][rows] = urgent
        named, groups = _joint_participants(
            episodes.iloc[members], roster, dict(zip(uniques, rows, strict=True))
        )
        for row, pairs in named.items():
            participants[row] = pairs
        for row, joined in groups.items():
            age_groups[row] = joined
    data["participants"] = pd.Series(participants, dtype=object)  # each a tuple, whole
    data["age_groups"] = pd.Series(age_groups, dtype=object)
    cases = pd.DataFrame(data)
    dtypes = episodes.dtypes
    for column in [*CASELOAD_COLUMNS, *FLAGS]:  # an empty or all-missing column keeps its type
        if cases[column].dtype != dtypes[column]:
            cases[column] = cases[column].astype(dtypes[column])
    return cases[[*CASE_COLUMNS, *FLAGS]]


def _joint_participants(
    members: pd.DataFrame, roster: pd.DataFrame, row_of_case: dict[str, int]
) -> tuple[dict[int, tuple[tuple[str, str], ...]], dict[int, str]]:
    """Each joint case's participants in naming order and age groups, by the case's row.

    Everyone with sessions (``members``, the joint cases' client-episodes) and everyone
    ``roster`` lists without any yet; ``row_of_case`` is each case key's row in the cases.
    """
    case_of_episode = dict(zip(members["episode_id"], members["case"], strict=True))
    people: dict[str, dict[str, tuple[str, str | None]]] = {key: {} for key in row_of_case}
    for key, client, role, age in zip(
        members["case"],
        members["client_id"],
        members["role"],
        members["age_group"],
        strict=True,
    ):
        people[key].setdefault(client, (role, age if isinstance(age, str) else None))
    for episode, client, role, age in zip(
        roster["episode_id"], roster["client_id"], roster["role"], roster["age_group"], strict=True
    ):
        key = case_of_episode.get(episode)
        if key is not None:
            people[key].setdefault(client, (role, age if isinstance(age, str) else None))
    named: dict[int, tuple[tuple[str, str], ...]] = {}
    groups: dict[int, str] = {}
    for key, persons in people.items():
        order = sorted(persons, key=lambda c: _person_order(persons[c][0], c))
        named[row_of_case[key]] = tuple((str(persons[c][0]), str(c)) for c in order)
        ages = {age for _, age in persons.values() if age is not None}
        groups[row_of_case[key]] = "|".join(sorted(ages))
    return named, groups


def _flag_columns(
    episodes: pd.DataFrame, flags: pd.DataFrame, position: np.ndarray
) -> pd.DataFrame:
    """The current flags of each row as booleans, their counts, urgency and history count.

    ``position`` is each flag row's row in ``episodes``. Set by position in NumPy:
    ``pd.crosstab`` grouped in Python and took ~1 s for a team of 11,000 client-episodes at ten
    million sessions.
    """
    current = flags["current"].to_numpy(dtype=bool)
    flag_code = pd.Categorical(flags["flag"], categories=list(FLAGS)).codes
    known = flag_code >= 0
    present = np.zeros((len(episodes), len(FLAGS)), dtype=bool)
    present[position[known & current], flag_code[known & current]] = True
    for index, code in enumerate(FLAGS):
        episodes[code] = present[:, index]
    warning = np.array([is_warning(code) for code in FLAGS], dtype=bool)
    episodes["flag_count"] = present.sum(axis=1).astype("int64")
    episodes["warning_count"] = present[:, warning].sum(axis=1).astype("int64")
    episodes["prompt_count"] = present[:, ~warning].sum(axis=1).astype("int64")
    episodes["history_count"] = np.bincount(position[~current], minlength=len(episodes)).astype(
        "int64"
    )
    none = len(URGENCY)
    ranks = np.array([_RANK.get(code, none) for code in FLAGS], dtype="int64")
    urgency = np.where(present, ranks, none).min(axis=1, initial=none)
    episodes["urgency"] = urgency.astype("int64")
    episodes["urgent_flag"] = np.array([*URGENCY, ""], dtype=object)[urgency]
    return episodes


def current_rows(flags: pd.DataFrame) -> pd.DataFrame:
    """The flag rows that hold now (``current``), most urgent first within each case.

    Within a case, equally urgent flags of several participants follow the order in which
    the participants are named (index client first).
    """
    return sort_flags(flags[flags["current"].astype(bool)])


def case_flags(caseload: Caseload, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One case's flags: (those that hold now, those that held earlier and resolved).

    Each part in order of urgency; ``last_session`` of a resolved row is the session at which
    its rule last fired (the case's history: "SRS drop at session 2, not now"). A couple's or
    family's case holds every participant's rows; ``client_id`` and ``role`` say whose.
    """
    rows = caseload.flags[caseload.flags["case"] == key]
    now = rows["current"].astype(bool)
    return sort_flags(rows[now]), sort_flags(rows[~now])


def case_participants(caseload: Caseload, key: str) -> pd.DataFrame:
    """The client-episode rows of one case, in the order its participants are named.

    One row for a client-episode; a couple's or family's case: every participant with
    sessions up to ``as_of`` (those without are only in the case's ``participants``).
    """
    rows = caseload.episodes[caseload.episodes["case"] == key]
    return (
        rows.assign(_rank=_role_rank(rows["role"]))
        .sort_values(["_rank", "client_id"], kind="stable")
        .drop(columns="_rank")
    )


def sort_flags(flags: pd.DataFrame) -> pd.DataFrame:
    """Flag rows case by case, most urgent first; equal urgency in the participants' order.

    A stable sort in Python: a case's rows are a handful (the page sorts one case's on every
    row choice), and a team's a few hundred.
    """
    cases = (flags["case"] if "case" in flags else flags["key"]).tolist()
    ranks = [_RANK.get(code, len(URGENCY)) for code in flags["flag"]]
    roles = (
        [_ROLE_RANK.get(role, len(ROLE_ORDER)) for role in flags["role"]]
        if "role" in flags
        else [0] * len(flags)
    )
    clients = flags["client_id"].tolist()
    order = sorted(range(len(flags)), key=lambda i: (cases[i], ranks[i], roles[i], clients[i]))
    return flags.iloc[order]


class CaseloadCache:
    """A few recently composed caseloads, keyed on the database file and the arguments."""

    def __init__(self, size: int = 8) -> None:
        self._items: MemoryCache[Caseload] = MemoryCache(size)

    def get(
        self,
        reader: Reader,
        *,
        team_id: str,
        as_of: dt.date,
        config: ClinicalConfig,
        model: TrajectoryModel | None,
    ) -> Caseload:
        """The caseload for these arguments, composed now or reused."""
        return self._items.get(
            reader,
            (team_id, as_of, config, id(model)),
            lambda: team_caseload(reader, team_id=team_id, as_of=as_of, config=config, model=model),
        )


def _months_before(day: dt.date, months: int) -> dt.date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    last_day = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return dt.date(year, month, min(day.day, last_day))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def period_start(as_of: dt.date, period: str) -> dt.date | None:
    """First day of a :data:`PERIODS` period ending at ``as_of`` (None for ``"all"``).

    Raises:
        ValueError: For an unknown period.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    months = PERIODS[period]
    return None if months is None else _months_before(as_of, months)


def group_mask(episodes: pd.DataFrame, group: str) -> pd.Series:
    """Which rows of ``episodes`` carry any flag of ``group`` (a key of :data:`FLAG_GROUPS`) now.

    Works on :attr:`Caseload.cases` as on :attr:`Caseload.episodes`: a case's flag columns
    hold when they hold for any participant.
    """
    if group not in FLAG_GROUPS:
        raise ValueError(f"unknown flag group {group!r}; expected one of {', '.join(FLAG_GROUPS)}")
    codes = [code for code in FLAG_GROUPS[group] if code in episodes.columns]
    if not codes:
        return pd.Series(False, index=episodes.index)
    return episodes[codes].any(axis=1)


def filter_caseload(
    episodes: pd.DataFrame,
    *,
    as_of: dt.date,
    therapist_id: str | None = None,
    period: str = "all",
    status: Status = "all",
    age_group: str | None = None,
    flag_group: str | None = None,
) -> pd.DataFrame:
    """The rows of a caseload that pass the dashboard's filters (vectorised, no query).

    Args:
        episodes: :attr:`Caseload.cases` (a case passes when any participant does: its age
            groups, its flags) or :attr:`Caseload.episodes`.
        as_of: The caseload's reference date (periods end there).
        therapist_id: Only this therapist's episodes; None for all.
        period: A key of :data:`PERIODS`: episodes active at some time in the last 3, 6 or 12
            months before ``as_of`` (started on or before ``as_of`` and not ended before the
            period began); ``"all"`` for every episode.
        status: ``"ongoing"`` (not ended by ``as_of``), ``"ended"`` or ``"all"``.
        age_group: ``child``, ``adolescent`` or ``adult``; None for all.
        flag_group: A key of :data:`FLAG_GROUPS`: rows with one of its flags now; None for
            every row.

    Returns:
        The matching rows, in the same order.

    Raises:
        ValueError: For an unknown period, status or flag group.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    keep = pd.Series(True, index=episodes.index)
    if therapist_id is not None:
        keep &= episodes["therapist_id"] == therapist_id
    start = period_start(as_of, period)
    if start is not None:
        ended = pd.to_datetime(episodes["ended"])
        keep &= ended.isna() | (ended >= pd.Timestamp(start))
    if status == "ongoing":
        keep &= episodes["ongoing"]
    elif status == "ended":
        keep &= ~episodes["ongoing"]
    if age_group is not None:
        if "age_groups" in episodes:  # cases: any participant of this age group
            groups = "|" + episodes["age_groups"].astype(str) + "|"
            keep &= groups.str.contains(f"|{age_group}|", regex=False)
        else:
            keep &= episodes["age_group"] == age_group
    if flag_group is not None:
        keep &= group_mask(episodes, flag_group)
    return episodes[keep]


def flag_group_counts(episodes: pd.DataFrame) -> dict[str, int]:
    """How many rows are in each of :data:`FLAG_GROUPS` now (a row may be in several).

    Given :attr:`Caseload.cases`, a couple counts once however many partners are flagged.
    """
    return {group: int(group_mask(episodes, group).sum()) for group in FLAG_GROUPS}


#: The column name that orders by urgency: the table's "Flags" column and the default order.
URGENCY_SORT = "flags"


def sort_caseload(episodes: pd.DataFrame, column: str, *, descending: bool = False) -> pd.DataFrame:
    """The rows ordered by ``column`` (missing values last), then by client code.

    ``flags`` (:data:`URGENCY_SORT`, the page's default) orders by urgency: with
    ``descending`` the case whose most urgent current flag comes first in :data:`URGENCY`
    first, and among equally urgent cases the one not seen for longest first (cases without a
    current flag last); without ``descending`` the reverse. A couple's or family's case
    sorts by its most urgent participant's flag and by its numbers in
    :data:`CASE_AGGREGATES`.

    Raises:
        ValueError: If the column is not in the caseload.
    """
    tie = episodes.sort_values(["client_id", "episode_id"], kind="stable")
    if column == URGENCY_SORT:
        return tie.sort_values(
            ["urgency", "days_since_last"],
            ascending=[descending, not descending],
            kind="stable",
            na_position="last",
        )
    if column not in episodes.columns:
        raise ValueError(f"cannot sort by {column!r}: not a caseload column")
    return tie.sort_values(column, ascending=not descending, kind="stable", na_position="last")


@dataclass(frozen=True)
class EpisodeDetail:
    """One client-episode as the graph shows it.

    Attributes:
        sessions: Every rater's sessions up to ``as_of``
            (:func:`fitdata.data.queries.client_sessions` columns).
        age_group: The client's age group.
        expected: The model's prediction per session number (``session_no, expected, lower,
            n_episodes, sufficient, reason``) for sessions 1 to the last one shown (at least
            2); empty without a model.
        session_flags: Flag rows (:data:`fitdata.analytics.flags.SESSION_COLUMNS`) at the sessions
        where
            they fired, ``not_on_track`` judged against the model, plus the flags of the whole
            episode (``srs_always_40``, ``not_seen``) at the session the caseload gives them;
            ``rule`` in the requested language.
    """

    sessions: pd.DataFrame
    age_group: str
    expected: pd.DataFrame
    session_flags: pd.DataFrame


_WHOLE_EPISODE_FLAGS = ("srs_always_40", "not_seen")


@dataclass(frozen=True)
class CaseParticipant:
    """One participant of a couple's or family's case, as the case's graph shows them.

    Attributes:
        role: ``index``, ``partner``, ``family_member`` or ``member``.
        client_id: The client.
        detail: Their :class:`EpisodeDetail`; None for a participant without sessions yet.
    """

    role: str
    client_id: str
    detail: EpisodeDetail | None


def case_detail(
    reader: Reader,
    caseload: Caseload,
    key: str,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    lang: str = "en",
) -> list[CaseParticipant]:
    """Every participant of a couple's or family's case with their graph's data, in order.

    One read of the episode's sessions (:func:`fitdata.data.queries.episode_sessions`, audited
    with every client) instead of one per participant; each participant's detail is what
    :func:`episode_detail` gives for them.

    Args:
        reader: A reader of the database.
        caseload: The caseload the case is in.
        key: The case's key (a row of :attr:`Caseload.cases`).
        config: The thresholds for the flags.
        model: The expected-trajectory model (None: no band, no ``not_on_track``).
        lang: Language of the rule sentences.

    Raises:
        KeyError: If the caseload has no such case.
    """
    cases = caseload.cases
    rows = cases[cases["key"] == key]
    if rows.empty:
        raise KeyError(f"no case {key!r} in the caseload")
    case = rows.iloc[0]
    episode_id = str(case["episode_id"])
    sessions = queries.episode_sessions(reader, episode_id)
    if len(sessions):
        dates = pd.to_datetime(sessions["session_date"])
        sessions = sessions[dates <= pd.Timestamp(caseload.as_of)]
    people = case_participants(caseload, key)
    ages = dict(zip(people["client_id"], people["age_group"], strict=True))
    flags = caseload.flags
    out = []
    for role, client in case["participants"]:
        mine = sessions[sessions["client_id"] == client] if len(sessions) else sessions
        if client not in ages or mine.empty:
            out.append(CaseParticipant(role=role, client_id=client, detail=None))
            continue
        mine = mine.sort_values(["session_no", "rater"], kind="stable").reset_index(drop=True)
        detail = _episode_detail(
            mine,
            str(ages[client]),
            episode_id,
            client,
            as_of=caseload.as_of,
            config=config,
            model=model,
            episode_flags=flags[flags["key"] == f"{episode_id}|{client}"],
            lang=lang,
        )
        out.append(CaseParticipant(role=role, client_id=client, detail=detail))
    return out


def episode_detail(
    reader: Reader,
    episode_id: str,
    client_id: str,
    *,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    episode_flags: pd.DataFrame | None = None,
    lang: str = "en",
) -> EpisodeDetail:
    """Sessions, expected trajectory and flags of one client-episode, for its graph.

    Args:
        reader: A reader of the database.
        episode_id: The episode.
        client_id: The client (a couple's partners are separate).
        as_of: Sessions after this date are not shown.
        config: The thresholds for the flags.
        model: The expected-trajectory model; None draws no expected band and judges no
            ``not_on_track``.
        episode_flags: This client-episode's rows of :attr:`Caseload.flags`, for the flags that
            belong to the whole episode (``srs_always_40``, ``not_seen``).
        lang: Language of the rule sentences.

    Returns:
        The :class:`EpisodeDetail`.
    """
    sessions = queries.client_sessions(reader, episode_id, client_id)
    dates = pd.to_datetime(sessions["session_date"])
    sessions = sessions[dates <= pd.Timestamp(as_of)].reset_index(drop=True)
    age_group = str(queries.client_profile(reader, client_id)["age_group"])
    return _episode_detail(
        sessions,
        age_group,
        episode_id,
        client_id,
        as_of=as_of,
        config=config,
        model=model,
        episode_flags=episode_flags,
        lang=lang,
    )


def _episode_detail(
    sessions: pd.DataFrame,
    age_group: str,
    episode_id: str,
    client_id: str,
    *,
    as_of: dt.date,
    config: ClinicalConfig,
    model: TrajectoryModel | None,
    episode_flags: pd.DataFrame | None,
    lang: str,
) -> EpisodeDetail:
    """:func:`episode_detail` from one client's sessions already read (every rater)."""
    own = sessions[sessions["rater"] == "client"].assign(episode_id=episode_id, client_id=client_id)

    expected = pd.DataFrame(
        columns=["session_no", "expected", "lower", "n_episodes", "sufficient", "reason"]
    )
    if model is not None and len(own):
        own = model.expected_lines(own)
        intake = own["intake"].iloc[0]
        last = int(max(own["session_no"].max(), 2))
        expected = model.predict(intake, np.arange(1, last + 1))
    at_sessions = flag_rules.session_flags(own, config, lang=None)
    parts = [at_sessions]
    if episode_flags is not None and len(episode_flags):
        whole = episode_flags[episode_flags["flag"].isin(_WHOLE_EPISODE_FLAGS)]
        if len(whole):
            dates_by_no = own.drop_duplicates("session_no").set_index("session_no")
            parts.append(
                pd.DataFrame(
                    {
                        "episode_id": episode_id,
                        "client_id": client_id,
                        "session_no": whole["first_session"].astype("int64").to_numpy(),
                        "session_date": whole["first_session"]
                        .map(dates_by_no["session_date"])
                        .to_numpy(),
                        "flag": whole["flag"].to_numpy(),
                        "value": whole["value"].to_numpy(dtype=float),
                        "threshold": whole["threshold"].to_numpy(dtype=float),
                        "ref": whole["ref"].to_numpy(dtype=float),
                        "note": whole["note"].to_numpy(dtype=object),
                    }
                )
            )
    flags = pd.concat([p for p in parts if len(p)] or [at_sessions], ignore_index=True)
    flags["rule"] = flag_rules.describe_flags(flags, config=config, as_of=as_of, lang=lang)
    return EpisodeDetail(
        sessions=sessions, age_group=age_group, expected=expected, session_flags=flags
    )


# -- the last discussion of each case (issue 22) ----------------------------------------------
#: Columns :func:`with_discussions` adds to the cases: the last discussion's id, date, forum,
#: agreed codes (a tuple) and follow-up date; ``follow_up_due`` (the follow-up date has come by
#: ``as_of``) and ``days_overdue`` (days since it came, None when not due);
#: ``sessions_since_discussion`` (the case's sessions after the discussion up to ``as_of``, of
#: the participant seen most); ``discussed_flags`` the warnings stored with the discussion
#: (codes, most urgent first); ``still_flag`` the most urgent of them that still holds now
#: ("" when none does), ``resolved_flag`` the most urgent of them that no longer holds when
#: none still holds ("" otherwise); ``follow_up`` the discussion's
#: :class:`fitdata.analytics.follow_up.FollowUp` by the follow-up rule as of ``as_of`` (None
#: without a discussion) and ``follow_up_outcome`` its outcome ("" without one).
DISCUSSION_REVIEW_COLUMNS: tuple[str, ...] = (
    "last_discussion_id",
    "last_discussed",
    "last_forum",
    "last_agreed",
    "follow_up_on",
    "follow_up_due",
    "days_overdue",
    "sessions_since_discussion",
    "discussed_flags",
    "still_flag",
    "resolved_flag",
    "follow_up",
    "follow_up_outcome",
)


def _empty_discussion_columns(cases: pd.DataFrame) -> pd.DataFrame:
    n = len(cases)
    return cases.assign(
        last_discussion_id=pd.array([None] * n, dtype="Int64"),
        last_discussed=pd.Series([None] * n, index=cases.index, dtype=object),
        last_forum=pd.Series([""] * n, index=cases.index, dtype=object),
        last_agreed=pd.Series([()] * n, index=cases.index, dtype=object),
        follow_up_on=pd.Series([None] * n, index=cases.index, dtype=object),
        follow_up_due=pd.Series(False, index=cases.index, dtype=bool),
        days_overdue=pd.array([None] * n, dtype="Int64"),
        sessions_since_discussion=pd.array([None] * n, dtype="Int64"),
        discussed_flags=pd.Series([()] * n, index=cases.index, dtype=object),
        still_flag=pd.Series([""] * n, index=cases.index, dtype=object),
        resolved_flag=pd.Series([""] * n, index=cases.index, dtype=object),
        follow_up=pd.Series([None] * n, index=cases.index, dtype=object),
        follow_up_outcome=pd.Series([""] * n, index=cases.index, dtype=object),
    )


_SESSIONS_SINCE_SQL = """
WITH d AS (
    SELECT unnest(?::VARCHAR[]) AS episode_id, unnest(?::DATE[]) AS discussed_on
)
SELECT s.episode_id, s.client_id, count(DISTINCT s.session_no) AS n
FROM sessions s JOIN d USING (episode_id)
WHERE s.rater = 'client' AND s.session_date > d.discussed_on AND s.session_date <= ?
GROUP BY s.episode_id, s.client_id
"""


def with_discussions(
    reader: Reader,
    caseload: Caseload,
    cases: pd.DataFrame,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
) -> pd.DataFrame:
    """The cases with their last discussion and what became of its flags.

    A case's last discussion is its episode's latest (a couple's or family's episode is one
    case), read with :func:`fitdata.features.case_discussions.last_discussions` (audited;
    withdrawn discussions left out). Whether the flags discussed then still hold is read from
    the stored ``flags_then`` (never recomputed) against the caseload's current flags: a
    discussed case that is still flagged says so (``still_flag``). Only warnings count
    (clinical, alliance, attendance), not data-quality prompts.

    Args:
        reader: The page's reader (one that may see the cases).
        caseload: The caseload the cases come from (its ``as_of`` and current flags).
        cases: Rows of :attr:`Caseload.cases` (or a filtered part of it).
        config: The follow-up window and reliable change.
        model: The expected trajectories for the follow-up rule (default: the service's).

    Each last discussion is also judged by the follow-up rule as of the caseload's date
    (:func:`fitdata.features.follow_up.discussion_follow_ups`: back on track within the
    window, still off track, too early, ended ...).

    Returns:
        ``cases`` with :data:`DISCUSSION_REVIEW_COLUMNS` added, same rows and order.
    """
    out = _empty_discussion_columns(
        cases.drop(columns=list(DISCUSSION_REVIEW_COLUMNS), errors="ignore")
    )
    if cases.empty:
        return out
    last = case_discussions.last_discussions(reader, cases["episode_id"].astype(str).unique())
    if last.empty:
        return out
    as_of = caseload.as_of
    by_episode = last.set_index("episode_id")
    since = reader.df(
        _SESSIONS_SINCE_SQL,
        [by_episode.index.tolist(), list(by_episode["discussed_on"]), as_of],
    )
    most = since.groupby("episode_id")["n"].max() if len(since) else pd.Series(dtype="int64")
    judged = follow_ups.discussion_follow_ups(reader, last, as_of=as_of, config=config, model=model)
    current = caseload.flags
    current = current[current["current"].astype(bool)] if len(current) else current
    holds = (
        set(
            zip(
                current["episode_id"].astype(str),
                current["client_id"].astype(str),
                current["flag"].astype(str),
                strict=True,
            )
        )
        if len(current)
        else set()
    )
    episode = cases["episode_id"].astype(str)
    found = episode.isin(by_episode.index)
    for index, episode_id in episode[found].items():
        row = by_episode.loc[episode_id]
        discussed = row["discussed_on"]
        warnings = sorted(
            {
                (str(f["flag"]), str(f["client_id"]))
                for f in row["flags_then"]
                if is_warning(str(f["flag"]))
            },
            key=lambda pair: (urgency_rank(pair[0]), pair[1]),
        )
        still = [code for code, client in warnings if (episode_id, client, code) in holds]
        resolved = [code for code, client in warnings if (episode_id, client, code) not in holds]
        follow_up = row["follow_up_on"]
        due = follow_up is not None and follow_up <= as_of
        out.at[index, "last_discussion_id"] = int(row["discussion_id"])
        out.at[index, "last_discussed"] = discussed
        out.at[index, "last_forum"] = str(row["forum"])
        out.at[index, "last_agreed"] = tuple(str(a) for a in row["agreed"])
        out.at[index, "follow_up_on"] = follow_up
        out.at[index, "follow_up_due"] = bool(due)
        out.at[index, "days_overdue"] = (as_of - follow_up).days if due else None
        out.at[index, "sessions_since_discussion"] = int(most.get(episode_id, 0))
        out.at[index, "discussed_flags"] = tuple(dict.fromkeys(c for c, _ in warnings))
        out.at[index, "still_flag"] = still[0] if still else ""
        out.at[index, "resolved_flag"] = resolved[0] if resolved and not still else ""
        judgement = judged.get(int(row["discussion_id"]))
        out.at[index, "follow_up"] = judgement
        out.at[index, "follow_up_outcome"] = "" if judgement is None else judgement.outcome
    return out


def follow_up_due(cases: pd.DataFrame) -> pd.DataFrame:
    """The cases whose follow-up date has come (by the caseload's date), most overdue first.

    ``cases`` carry :data:`DISCUSSION_REVIEW_COLUMNS` (:func:`with_discussions`); ties by the
    urgency of the current flags, then by client code.
    """
    if "follow_up_due" not in cases.columns:
        return cases.iloc[0:0]
    due = cases[cases["follow_up_due"].astype(bool)]
    due = due.sort_values(["client_id", "episode_id"], kind="stable")
    due = due.sort_values("urgency", kind="stable")
    return due.sort_values("days_overdue", ascending=False, kind="stable", na_position="last")
