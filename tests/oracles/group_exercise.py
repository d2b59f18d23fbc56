"""``not_on_track`` of a team the long way: the pandas session flags with the model's lower line.

The group exercise takes ``not_on_track`` from :func:`fitdata.analytics.flags.episode_flag_counts`
with the expected-trajectory model, in SQL. This reference computes the same flag from the
team's sessions with :func:`fitdata.analytics.flags.session_flags` and the model's
``predict_many``; a test checks that both mark the same client-episodes.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fitdata.analytics import flags as flag_rules
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import ClinicalConfig
from fitdata.data.store import Reader


def team_client_sessions(reader: Reader, team_id: str, as_of: dt.date) -> pd.DataFrame:
    """The client ratings of a team up to ``as_of``, each with its episode's intake ORS."""
    return reader.df(
        """
        SELECT s.episode_id, s.client_id, s.session_no, s.session_date, s.rater,
               s.ors_total::DOUBLE AS ors_total, s.srs_total::DOUBLE AS srs_total,
               max(s.ors_total::DOUBLE) FILTER (WHERE s.session_no = 1)
                   OVER (PARTITION BY s.episode_id, s.client_id) AS intake
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
        """,
        {"team": team_id, "as_of": as_of},
    )


def not_on_track(
    reader: Reader,
    team_id: str,
    as_of: dt.date,
    model: TrajectoryModel,
    config: ClinicalConfig,
) -> pd.DataFrame:
    """The ``not_on_track`` rows of a team (:func:`~fitdata.analytics.flags.session_flags`)."""
    sessions = team_client_sessions(reader, team_id, as_of)
    columns = ["episode_id", "client_id", "flag", "first_session", "sessions"]
    if sessions.empty:
        return pd.DataFrame(columns=columns)
    predicted = model.predict_many(sessions[["intake", "session_no"]])
    sessions["lower_expected"] = predicted["lower"].to_numpy()
    fired = flag_rules.session_flags(sessions.drop(columns=["intake"]), config)
    fired = fired[fired["flag"] == "not_on_track"]
    grouped = fired.groupby(["episode_id", "client_id"], sort=False)["session_no"]
    out = grouped.agg(first_session="min", sessions="size").reset_index()
    out["flag"] = "not_on_track"
    return out[columns]
