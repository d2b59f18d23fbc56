"""Choosing the cases for a group exercise: which client-episodes are worth discussing.

:func:`attention_cases` lists a team's client-episodes with the flags that make them worth
discussing NOW (the SQL flags of :func:`fitdata.analytics.flags.episode_flag_counts`, with
``not_on_track`` from the expected-trajectory model): only flags that hold at the last session
that could raise them count, because a flag that held earlier and resolved is no reason to
discuss a case today (issue 18), in the one order of urgency the team review also uses
(:data:`fitdata.analytics.flags.URGENCY`). Its frame carries ids and stays in the kernel;
:class:`Presentation` hands the widgets anonymous labels and opaque keys instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import pandas as pd

from fitdata.analytics import flags as flag_rules
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import require_client_rows
from fitdata.data.queries import latest_session_date, natural_key
from fitdata.data.store import Reader
from fitdata.features import expected_trajectory
from fitdata.features.joint_roster import JOINT_FORMATS
from fitdata.features.team_review import URGENCY

__all__ = [
    "ATTENTION_ORDER",
    "JOINT_FORMATS",
    "CaseRef",
    "Presentation",
    "attention_cases",
    "case_label",
    "latest_session_date",
    "therapist_name",
    "trajectory_model",
]

#: Flags in the order that makes a case most worth discussing; it orders the case list. The
#: order of urgency from :mod:`fitdata.config` (``URGENCY_ORDER``, each step with its reason),
#: the same as the team review's.
ATTENTION_ORDER: tuple[str, ...] = URGENCY


@dataclass(frozen=True, order=True)
class CaseRef:
    """Which client-episode a case is. Kernel-side only: never put one in a widget."""

    episode_id: str
    client_id: str
    team_id: str


# --------------------------------------------------------------------------------------------
# Labels and the per-kernel presentation
# --------------------------------------------------------------------------------------------


def case_label(index: int) -> str:
    """The letters of the ``index``-th case (0-based): A ... Z, AA, AB, ... as in spreadsheets.

    Raises:
        ValueError: If ``index`` is negative.
    """
    if index < 0:
        raise ValueError(f"a case index cannot be negative ({index})")
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass
class Presentation:
    """The cases of one presentation, with stable labels and opaque per-kernel keys.

    A case gets the next free label the first time it is added and keeps it for as long as
    this object lives, so "Case B" stays "Case B" while the group works. Keys are
    ``case-1``, ``case-2``, ... in the order cases were added; they say nothing about the case.
    """

    _refs: dict[str, CaseRef] = field(default_factory=dict)
    _keys: dict[CaseRef, str] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)

    def add(self, ref: CaseRef) -> str:
        """Register ``ref`` (if new) and return its opaque key."""
        if ref not in self._keys:
            key = f"case-{len(self._refs) + 1}"
            self._refs[key] = ref
            self._keys[ref] = key
            self._labels[key] = case_label(len(self._labels))
        return self._keys[ref]

    def label(self, key: str) -> str:
        """The letters of the case with this key (e.g. ``"B"``)."""
        return self._labels[key]

    def ref(self, key: str) -> CaseRef:
        """The case behind an opaque key.

        Raises:
            KeyError: If the key was not handed out by this presentation.
        """
        return self._refs[key]

    def __len__(self) -> int:
        return len(self._refs)


# --------------------------------------------------------------------------------------------
# Choosing cases
# --------------------------------------------------------------------------------------------


def trajectory_model(reader: Reader) -> TrajectoryModel:
    """The expected-trajectory model of the service, fitted once per database version.

    Shared with the other dashboards of the kernel and stored beside the database for the next
    kernel (:func:`fitdata.features.expected_trajectory.trajectory_model`); a replaced database file
    (new data imported) is fitted again on the next call.
    """
    return expected_trajectory.trajectory_model(reader)


def attention_cases(
    reader: Reader,
    team_id: str,
    *,
    as_of: dt.date | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
) -> pd.DataFrame:
    """Every client-episode of a team with the flags that hold now, most worth discussing first.

    The frame holds ids and is for the kernel only; widgets get labels from a
    :class:`Presentation`.

    Args:
        reader: The database.
        team_id: The team (the episode's team).
        as_of: Judge flags with the sessions up to this date; default the latest session date
            in the database.
        config: The thresholds.
        model: The expected-trajectory model for ``not_on_track``; None leaves that flag out.

    Returns:
        One row per (episode, client) with ``episode_id``, ``client_id``, ``team_id``,
        ``sessions`` (the client's own ratings up to ``as_of``), ``ongoing`` (not ended at
        ``as_of``), ``ended`` and ``end_type`` (the episode's end, kernel-side: a date),
        ``flag_codes`` (a tuple of the codes of the flags that hold now, in
        :data:`ATTENTION_ORDER`), ``flag_sessions`` (a tuple: the session at which each of
        those flags last held, the latest that could raise it) and ``priority`` (the position
        of the most pressing flag; cases without a current flag last). A flag that held
        earlier and resolved is not a reason: it is not listed.
        Ties are ordered by a hash, not by id or date, so the order reveals neither.

        A couple or family episode is one row, that of its index client (the first
        participant), with ``format``, ``members`` (the participants' client codes, the index
        client first, then by code; kernel-side), ``flag_people`` (per flag, the position in
        ``members`` of the participant it holds for) and ``sessions`` the most any participant
        has; its flags are every participant's, in :data:`ATTENTION_ORDER`. Other episodes
        have ``members`` = (their client,) and ``flag_people`` all 0.
    """
    require_client_rows(reader, "case")  # a leader sees aggregates only
    as_of = as_of or latest_session_date(reader) or dt.date.today()
    episodes = reader.df(
        """
        SELECT s.episode_id, s.client_id, e.team_id, count(*) AS sessions,
               (e.ended IS NULL OR e.ended > $as_of) AS ongoing, e.format,
               e.client_id AS index_client, e.ended, e.end_type
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
        GROUP BY s.episode_id, s.client_id, e.team_id, e.ended, e.format, e.client_id, e.end_type
        """,
        {"team": team_id, "as_of": as_of},
    )
    flags = flag_rules.episode_flag_counts(
        reader, team_id=team_id, as_of=as_of, config=config, model=model, lang=None
    )
    now = flags[flags["current"].astype(bool)]
    rows = now[["episode_id", "client_id", "flag", "last_session", "sessions"]]
    order = {code: i for i, code in enumerate(ATTENTION_ORDER)}
    rows = rows[rows["flag"].isin(order)].assign(_order=rows["flag"].map(order))
    rows = rows.sort_values(["episode_id", "client_id", "_order"], kind="stable")
    grouped = rows.groupby(["episode_id", "client_id"], sort=False)
    summary = grouped.agg(
        flag_codes=("flag", tuple),
        flag_sessions=("last_session", lambda s: tuple(int(v) for v in s)),
        priority=("_order", "min"),
    ).reset_index()
    out = episodes.merge(summary, on=["episode_id", "client_id"], how="left")
    empty = out["flag_codes"].isna()
    out.loc[empty, "flag_codes"] = pd.Series([()] * int(empty.sum()), index=out.index[empty])
    out.loc[empty, "flag_sessions"] = pd.Series([()] * int(empty.sum()), index=out.index[empty])
    out["priority"] = out["priority"].fillna(len(ATTENTION_ORDER)).astype(int)
    out["ongoing"] = out["ongoing"].astype(bool)
    out["sessions"] = out["sessions"].astype(int)
    out = _join_participants(out, order)
    out["flag_count"] = out["flag_codes"].map(len)
    # Ties broken by a hash of the ids: stable, but unrelated to the codes' order or dates.
    out["_tiebreak"] = [
        hashlib.blake2b(f"{e}|{c}".encode(), digest_size=8).hexdigest()
        for e, c in zip(out["episode_id"], out["client_id"], strict=True)
    ]
    out = out.sort_values(
        ["priority", "flag_count", "_tiebreak"], ascending=[True, False, True], kind="stable"
    )
    return out.drop(columns=["_tiebreak"]).reset_index(drop=True)


def _join_participants(out: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    """One row per couple or family episode: its participants' flags on the index client's row."""
    out = out.assign(
        members=[(str(c),) for c in out["client_id"]],
        flag_people=[tuple(0 for _ in codes) for codes in out["flag_codes"]],
    )
    joint = out["format"].isin(JOINT_FORMATS) & out.duplicated("episode_id", keep=False)
    if not joint.any():
        return out.drop(columns=["index_client"])
    rows = []
    for _, group in out[joint].groupby("episode_id", sort=False):
        index = str(group["index_client"].iloc[0])
        members = sorted(
            (str(c) for c in group["client_id"]),
            key=lambda c: (c != index, natural_key(c)),
        )
        marks = sorted(
            (
                (order[code], members.index(str(r.client_id)), code, session)
                for r in group.itertuples()
                for code, session in zip(r.flag_codes, r.flag_sessions, strict=True)
            ),
        )
        first = group[group["client_id"] == members[0]].iloc[0].to_dict()
        first["members"] = tuple(members)
        first["flag_codes"] = tuple(code for _, _, code, _ in marks)
        first["flag_sessions"] = tuple(int(session) for *_, session in marks)
        first["flag_people"] = tuple(person for _, person, _, _ in marks)
        first["priority"] = int(group["priority"].min())
        first["sessions"] = int(group["sessions"].max())
        rows.append(first)
    joined = pd.DataFrame(rows, columns=out.columns)
    out = pd.concat([out[~joint], joined], ignore_index=True)
    return out.drop(columns=["index_client"])


def therapist_name(reader: Reader, ref: CaseRef) -> str:
    """The name of the case's therapist; only for when the supervisor chooses to show it."""
    rows = reader.rows(
        "SELECT th.name FROM episodes e JOIN therapists th USING (therapist_id) "
        "WHERE e.episode_id = ?",
        [ref.episode_id],
    )
    return str(rows[0][0]) if rows else ""
