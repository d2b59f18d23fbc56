"""The client graph's reads beyond one client: who else takes part in the client's episode.

A client of a couple or family episode is shown with the whole episode (issue 20).
:func:`joint_participants` says whether that is the case and who they are: for an episode of
another format it reads only the episode's format (no client data, nothing to audit), so the
plain client graph costs no more reads than before; for a couple or family it reads the
participants through the audited :func:`fitdata.data.queries.episode_participants`.
"""

from __future__ import annotations

import pandas as pd

from fitdata.data import queries
from fitdata.data.store import Reader
from fitdata.features.group_exercise import JOINT_FORMATS

__all__ = ["episode_format", "joint_participants"]


def episode_format(reader: Reader, episode_id: str) -> str | None:
    """The episode's format (``individual``, ``couple``, ``family``, ``group``), or None."""
    rows = reader.rows("SELECT format FROM episodes WHERE episode_id = ?", [episode_id])
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


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
