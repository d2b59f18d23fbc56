"""The client graph's reads beyond one client: who else takes part in the client's episode.

A client of a couple or family episode is shown with the whole episode (issue 20).
:func:`joint_participants` says whether that is the case and who they are: for an episode of
another format it reads only the episode's format (no client data, nothing to audit), so the
plain client graph costs no more reads than before; for a couple or family it reads the
participants through the audited :func:`fitdata.data.queries.episode_participants`.
:func:`episode_end` says whether and how the episode ended, for the past-tense status sentence
and the graph's end marker (issue 23).
"""

from __future__ import annotations

import pandas as pd

from fitdata.analytics.client_status import EpisodeEnd
from fitdata.data import queries
from fitdata.data.store import Reader
from fitdata.features.group_exercise import JOINT_FORMATS

__all__ = ["episode_end", "episode_format", "joint_participants"]


def episode_format(reader: Reader, episode_id: str) -> str | None:
    """The episode's format (``individual``, ``couple``, ``family``, ``group``), or None."""
    rows = reader.rows("SELECT format FROM episodes WHERE episode_id = ?", [episode_id])
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def episode_end(reader: Reader, episode_id: str) -> EpisodeEnd | None:
    """When and how the episode ended, or None while it is ongoing (or unknown).

    A primary-key lookup in ``episodes`` through the reader's scope; like
    :func:`episode_format` it returns no client's scores, and the page reads the sessions
    (audited) right after it.
    """
    rows = reader.rows("SELECT ended, end_type FROM episodes WHERE episode_id = ?", [episode_id])
    return EpisodeEnd.of(rows[0][0], rows[0][1]) if rows else None


def joint_participants(reader: Reader, episode_id: str) -> tuple[str | None, pd.DataFrame | None]:
    """The episode's format and, for a couple or family of two or more clients, its clients.

    Returns:
        The format, and the participants who are clients (not collateral raters), one row per
        client in :func:`fitdata.data.queries.episode_participants`' order with ``client_id``,
        ``role`` and ``age_group``; None when the episode is not a joint one.
    """
    format = episode_format(reader, episode_id)
    if format not in JOINT_FORMATS:
        return format, None
    participants = queries.episode_participants(reader, episode_id)
    if participants.empty:
        return format, None
    clients = participants[participants["role"] != "collateral"].drop_duplicates("client_id")
    if len(clients) < 2:
        return format, None
    return format, clients[["client_id", "role", "age_group"]].reset_index(drop=True)
