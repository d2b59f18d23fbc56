"""A couple's or family's case for the group: every participant anonymised, a role and a position.

In the group exercise a couple or family is ONE case (issue 20). :func:`case_participants`
reads each participant's own ratings and the collateral raters' ORS about them (a parent's
rating of a child), counts weeks from the episode's first session for all of them, and returns
:class:`AnonymousParticipant` objects whose frames pass :func:`assert_anonymous`: the page
names them by role and letter ("Partner A", "Family member B", "Parent's rating"), never by
code. An individual episode is a case of one participant, with its collateral ratings.
Every participant's read is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.queries import episode_team
from fitdata.data.store import Reader
from fitdata.features.group_exercise.anonymous import (
    AnonymousCase,
    anonymise_case,
    assert_anonymous,
    case_sessions,
)
from fitdata.features.group_exercise.cases import CaseRef

__all__ = ["AnonymousParticipant", "case_participants", "collateral_sessions", "member_role"]

#: The role of every participant after the first (the index client), by episode format.
_OTHER_ROLE = {"couple": "partner", "family": "family_member"}


@dataclass(frozen=True)
class AnonymousParticipant:
    """One participant of a case as the group may see them.

    Attributes:
        position: Their place in the episode (0 = the index client); gives their letter.
        role: As the group sees it (:func:`member_role`): ``partner`` for both adults of a
            couple, ``family_member`` for every client of a family, else ``index`` for the
            index client and ``member`` for the others.
        case: Their own ratings, anonymised (:class:`AnonymousCase`).
        ratings: Collateral raters' ORS about them: (rater, anonymous frame) pairs, the
            rater one of ``parent``, ``teacher``, ``partner``, ``other`` (no person named).
    """

    position: int
    role: str
    case: AnonymousCase
    ratings: tuple[tuple[str, AnonymousCase], ...] = ()


def member_role(position: int, format: str | None) -> str:
    """The role the group sees for the participant at ``position`` in an episode of ``format``.

    Both adults of a couple are partners and every client of a family a family member, the
    index client (position 0) too; the index client of another episode is ``index``.
    """
    if position == 0:
        return _OTHER_ROLE.get(format or "", "index")
    return _OTHER_ROLE.get(format or "", "member")


def collateral_sessions(reader: Reader, ref: CaseRef) -> pd.DataFrame:
    """Collateral raters' ORS about the client in the episode (kernel-side: with dates).

    Columns ``rater``, ``session_no``, ``session_date``, ``ors_total`` (rows with an ORS only).
    """
    require_client_rows(reader, "case")  # a leader sees aggregates only
    rows = reader.df(
        """
        SELECT rater, session_no, session_date, ors_total::DOUBLE AS ors_total
        FROM sessions
        WHERE team_id = ? AND episode_id = ? AND client_id = ? AND rater <> 'client'
              AND ors_total IS NOT NULL
        ORDER BY rater, session_no
        """,
        [episode_team(reader, ref.episode_id), ref.episode_id, ref.client_id],
    )
    if len(rows):
        record_access(reader, "group_case", ref.client_id, ref.episode_id)
    return rows


def _rating_case(rows: pd.DataFrame, label: str, age_group: str, start: Any) -> AnonymousCase:
    """A collateral rater's ORS as an anonymous frame: no SRS, no flags, no expected line."""
    frame = rows.drop(columns=["rater"]).assign(srs_total=np.nan)
    case = anonymise_case(frame, label=label, age_group=age_group, start=start)
    sessions = case.sessions.copy()
    for column in sessions.columns:
        if column.startswith("flag_"):
            sessions[column] = False
    assert_anonymous(sessions)
    return AnonymousCase(label=label, age_group=age_group, sessions=sessions)


def case_participants(
    reader: Reader,
    ref: CaseRef,
    members: tuple[str, ...],
    format: str | None,
    *,
    label: str,
    model: TrajectoryModel | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[AnonymousParticipant, ...]:
    """Every participant of a case, anonymised, the index client first.

    Args:
        reader: The database.
        ref: The case (its episode and team).
        members: The participants' client codes in order (``members`` of
            :func:`fitdata.features.group_exercise.attention_cases`).
        format: The episode's format (names the roles).
        label: The case's letters.
        model: The expected-trajectory model, or None.
        config: The thresholds for the flags.
    """
    read = []
    for client in members:
        one = CaseRef(ref.episode_id, client, ref.team_id)
        own, age_group = case_sessions(reader, one)
        read.append((own, age_group, collateral_sessions(reader, one)))
    dates = [pd.to_datetime(f["session_date"]) for own, _, rated in read for f in (own, rated)]
    dates = [d for d in dates if len(d)]
    start = min(d.min() for d in dates).date() if dates else None
    participants = []
    for position, (own, age_group, rated) in enumerate(read):
        case = anonymise_case(
            own, label=label, age_group=age_group, model=model, config=config, start=start
        )
        ratings = tuple(
            (str(rater), _rating_case(rows, label, age_group, start))
            for rater, rows in rated.groupby("rater", sort=True)
        )
        participants.append(
            AnonymousParticipant(
                position=position,
                role=member_role(position, format),
                case=case,
                ratings=ratings,
            )
        )
    return tuple(participants)
