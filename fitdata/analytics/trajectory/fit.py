"""Fitting the expected trajectories: per-cell quantiles in DuckDB, smoothed on the grid.

:func:`fit_trajectories` follows steps 1-6 of the method in :mod:`fitdata.analytics.trajectory`:
the training rows and the quantiles per (intake band, session) come from one SQL query
(:func:`scores_sql`, shared with the calibration's held-out rows), and only the small grid
is smoothed in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.trajectory.model import ORS_MAX, TrajectoryModel, band_count
from fitdata.data.store import Reader

__all__ = ["fit_trajectories", "scores_sql", "training_filters"]

# Smoothing neighbourhood: sessions within this many of the cell, intake bands within this many.
_SESSION_RADIUS = 2
_BAND_RADIUS = 1


def scores_sql(filters: list[str], *, max_session: bool) -> str:
    """SQL of one row per (client-episode, session) with ORS, and the client-episode's intake."""
    where = " AND ".join(
        [
            "e.ended IS NOT NULL",
            "s.rater = 'client'",
            "s.ors_total IS NOT NULL",
            *(["s.session_no <= $max_session"] if max_session else []),
            *filters,
        ]
    )
    join_clients = (
        "JOIN clients c ON c.client_id = s.client_id" if any("c." in f for f in filters) else ""
    )
    return f"""
        WITH scores AS (
            SELECT s.episode_id, s.client_id, s.session_no,
                   avg(s.ors_total)::DOUBLE AS ors
            FROM sessions s
            JOIN episodes e ON e.episode_id = s.episode_id
            {join_clients}
            WHERE {where}
            GROUP BY s.episode_id, s.client_id, s.session_no
        ),
        intakes AS (
            SELECT episode_id, client_id, ors AS intake,
                   least(floor(ors / $band_width), $n_bands - 1)::INTEGER AS band
            FROM scores
            WHERE session_no = 1
        )
        SELECT t.episode_id, t.client_id, t.session_no, t.ors, i.intake, i.band
        FROM scores t
        JOIN intakes i ON i.episode_id = t.episode_id AND i.client_id = t.client_id
    """


def training_filters(
    *,
    episode_ids: Sequence[str] | None,
    team_id: str | None,
    age_group: str | None,
    params: dict[str, Any],
) -> list[str]:
    """SQL conditions on the training rows (``e`` episodes, ``c`` clients); adds their params.

    Shared by the fit and the calibration's held-out rows, so both select the same way.
    """
    filters = []
    if episode_ids is not None:
        filters.append("e.episode_id IN (SELECT unnest($episode_ids::VARCHAR[]))")
        params["episode_ids"] = [str(e) for e in episode_ids]
    if team_id is not None:
        filters.append("e.team_id = $team_id")
        params["team_id"] = str(team_id)
    if age_group is not None:
        filters.append("c.age_group = $age_group")
        params["age_group"] = str(age_group)
    return filters


def fit_trajectories(
    reader: Reader,
    *,
    lower_percentile: float = 0.25,
    min_episodes: int = 30,
    band_width: float = 4.0,
    max_session: int = 12,
    episode_ids: Sequence[str] | None = None,
    team_id: str | None = None,
    age_group: str | None = None,
) -> TrajectoryModel:
    """Fit expected-treatment-response curves on the closed episodes of a database.

    The quantiles are computed in DuckDB; only the (band x session) grid reaches Python.

    Args:
        reader: The database (see :func:`fitdata.data.store.reader_for`).
        lower_percentile: Quantile of the lower boundary, between 0 and 0.5 (default the 25th
            percentile).
        min_episodes: Fewest client-episodes a cell needs to give a value (default 30).
        band_width: Width of an intake band in ORS points (default 4).
        max_session: Last session with its own values (default 12); later sessions use its.
        episode_ids: Train only on these episodes (for :func:`calibrate`); None for all.
        team_id: Train only on episodes of this team; None for the whole service.
        age_group: Train only on clients of this age group (``child``, ``adolescent``,
            ``adult``); None pools all age groups (the default, conditioned on intake).

    Returns:
        The fitted :class:`TrajectoryModel`.

    Raises:
        ValueError: If a parameter is out of range.
    """
    if not 0.0 < lower_percentile < 0.5:
        raise ValueError("lower_percentile must be between 0 and 0.5 (e.g. 0.25)")
    if min_episodes < 1:
        raise ValueError("min_episodes must be at least 1")
    if not 0.0 < band_width <= ORS_MAX:
        raise ValueError(f"band_width must be above 0 and at most {ORS_MAX:g} points")
    if max_session < 2:
        raise ValueError("max_session must be at least 2")
    # The model's settings, as the model keeps them (and the SQL and the smoothing use them).
    settings: dict[str, Any] = {
        "lower_percentile": float(lower_percentile),
        "min_episodes": int(min_episodes),
        "band_width": float(band_width),
        "max_session": int(max_session),
    }
    n_bands = band_count(band_width)
    params: dict[str, Any] = {
        "band_width": settings["band_width"],
        "n_bands": n_bands,
        "max_session": settings["max_session"],
        "p": settings["lower_percentile"],
    }
    filters = training_filters(
        episode_ids=episode_ids, team_id=team_id, age_group=age_group, params=params
    )
    sql = f"""
        WITH observations AS ({scores_sql(filters, max_session=True)})
        SELECT band, session_no::INTEGER AS session_no, count(*) AS n_episodes,
               quantile_cont(ors - intake, 0.5) AS raw_expected_change,
               quantile_cont(ors - intake, $p) AS raw_lower_change
        FROM observations
        GROUP BY band, session_no
    """
    cells = reader.df(sql, params)
    grid = _smooth_grid(
        cells, n_bands, settings["max_session"], settings["band_width"], settings["min_episodes"]
    )
    n_training = int(grid.loc[grid["session_no"] == 1, "n_episodes"].sum())
    return TrajectoryModel(
        grid=grid,
        n_training_episodes=n_training,
        age_group=age_group,
        team_id=team_id,
        method=_method_text(**settings, age_group=age_group),
        **settings,
    )


def _method_text(
    lower_percentile: float,
    min_episodes: int,
    band_width: float,
    max_session: int,
    age_group: str | None,
) -> str:
    who = f"{age_group} clients" if age_group else "all age groups pooled"
    return (
        "Empirical quantiles of the change from intake in the service's own closed episodes "
        f"(client ratings, {who}), by intake band of {band_width:g} ORS points and session "
        f"2-{max_session} (later sessions use session {max_session}): expected = median, "
        f"lower = {100 * lower_percentile:g}th percentile, added to the client's own intake. "
        "Smoothed by a weighted local linear fit over neighbouring sessions (+-2, in "
        "log(session)) and intake bands (+-1), weighted by episode counts. Cells with fewer "
        f"than {min_episodes} episodes give no value."
    )


def _smooth_grid(
    cells: pd.DataFrame, n_bands: int, max_session: int, band_width: float, min_episodes: int
) -> pd.DataFrame:
    """Complete the (band x session) grid, smooth it and mark insufficient cells."""
    shape = (n_bands, max_session)
    counts = np.zeros(shape, dtype=int)
    raw_med = np.full(shape, np.nan)
    raw_low = np.full(shape, np.nan)
    if len(cells):
        b = cells["band"].to_numpy(dtype=int)
        c = cells["session_no"].to_numpy(dtype=int) - 1
        counts[b, c] = cells["n_episodes"].to_numpy(dtype=int)
        raw_med[b, c] = cells["raw_expected_change"].to_numpy(dtype=float)
        raw_low[b, c] = cells["raw_lower_change"].to_numpy(dtype=float)

    lows = np.arange(n_bands) * band_width
    highs = np.minimum(lows + band_width, ORS_MAX)
    mids = (lows + highs) / 2
    sufficient = counts >= min_episodes
    med = np.full(shape, np.nan)
    low = np.full(shape, np.nan)
    # Session 1 is the intake: the change is zero by definition.
    med[:, 0] = np.where(sufficient[:, 0], 0.0, np.nan)
    low[:, 0] = med[:, 0]
    log_session = np.log(np.arange(1, max_session + 1, dtype=float))
    for band in range(n_bands):
        for col in range(1, max_session):
            if sufficient[band, col]:
                med[band, col], low[band, col] = _local_linear(
                    band, col, counts, raw_med, raw_low, mids, log_session
                )

    session_no = np.tile(np.arange(1, max_session + 1), n_bands)
    band_index = np.repeat(np.arange(n_bands), max_session)
    mid = mids[band_index]
    flat_med, flat_low = med.ravel(), low.ravel()
    return pd.DataFrame(
        {
            "intake_band_low": lows[band_index],
            "intake_band_high": highs[band_index],
            "session_no": session_no,
            "expected": np.clip(mid + flat_med, 0, ORS_MAX),
            "lower": np.clip(mid + flat_low, 0, ORS_MAX),
            "n_episodes": counts.ravel(),
            "sufficient": sufficient.ravel(),
            "expected_change": flat_med,
            "lower_change": flat_low,
            "raw_expected_change": np.where(session_no == 1, 0.0, raw_med.ravel()),
            "raw_lower_change": np.where(session_no == 1, 0.0, raw_low.ravel()),
        }
    )


def _local_linear(
    band: int,
    col: int,
    counts: np.ndarray,
    raw_med: np.ndarray,
    raw_low: np.ndarray,
    mids: np.ndarray,
    log_session: np.ndarray,
) -> tuple[float, float]:
    """Weighted local linear fit of both quantiles at one cell; returns the fitted values."""
    n_bands, n_cols = counts.shape
    bands = np.arange(max(0, band - _BAND_RADIUS), min(n_bands, band + _BAND_RADIUS + 1))
    cols = np.arange(max(1, col - _SESSION_RADIUS), min(n_cols, col + _SESSION_RADIUS + 1))
    bb, cc = np.meshgrid(bands, cols, indexing="ij")
    bb, cc = bb.ravel(), cc.ravel()
    usable = (counts[bb, cc] > 0) & ~np.isnan(raw_med[bb, cc]) & ~np.isnan(raw_low[bb, cc])
    bb, cc = bb[usable], cc[usable]
    kernel = (1 - np.abs(bb - band) / (_BAND_RADIUS + 1)) * (
        1 - np.abs(cc - col) / (_SESSION_RADIUS + 1)
    )
    weights = np.sqrt(kernel * counts[bb, cc])
    columns = [np.ones(len(bb))]
    if len(np.unique(cc)) > 1:
        columns.append(log_session[cc] - log_session[col])
    if len(np.unique(bb)) > 1:
        columns.append(mids[bb] - mids[band])
    design = np.column_stack(columns) * weights[:, None]
    targets = np.column_stack([raw_med[bb, cc], raw_low[bb, cc]]) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
    return float(coefficients[0, 0]), float(coefficients[0, 1])
