"""Calibration: do the expected lines describe the service's own held-out episodes?

:func:`calibrate` fits on a deterministic share of the closed episodes and counts how often
the other clients' ORS falls below the lower line (it should be close to the lower
percentile) and below the expected line (close to one half), per session.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.trajectory.fit import fit_trajectories, scores_sql, training_filters
from fitdata.analytics.trajectory.model import TrajectoryModel
from fitdata.data.store import Reader

__all__ = ["CalibrationReport", "calibrate"]


@dataclass(frozen=True)
class CalibrationReport:
    """How well curves fitted on some closed episodes describe the others.

    Attributes:
        model: The model fitted on the training episodes.
        holdout_fraction: Share of closed episodes held out.
        seed: Seed of the split.
        n_train_episodes: Closed episodes in the training set.
        n_holdout_episodes: Closed episodes held out.
        n_observations: Held-out ORS scores (sessions 2 and later) where the cell was
            sufficient; the shares are over these.
        n_insufficient: Held-out ORS scores skipped because their cell had too few episodes.
        share_below_lower: Share of observations below the lower line (nominal:
            ``model.lower_percentile``).
        share_below_expected: Share of observations below the expected line (nominal: 0.5).
        per_session: One row per session 2..max_session (the last includes later sessions):
            ``session_no``, ``n``, ``share_below_lower``, ``share_below_expected``.
    """

    model: TrajectoryModel = field(repr=False)
    holdout_fraction: float
    seed: int
    n_train_episodes: int
    n_holdout_episodes: int
    n_observations: int
    n_insufficient: int
    share_below_lower: float
    share_below_expected: float
    per_session: pd.DataFrame = field(compare=False, repr=False)

    def summary_lines(self) -> list[str]:
        """Lines for printing (``fitdata check``)."""
        nominal = self.model.lower_percentile
        last = self.model.max_session
        lines = [
            "Expected treatment response: calibration on held-out closed episodes",
            f"  split: {self.n_train_episodes} training episodes, {self.n_holdout_episodes} "
            f"held out ({self.holdout_fraction:.0%}, seed {self.seed})",
            f"  held-out ORS scores at session 2+: {self.n_observations} compared, "
            f"{self.n_insufficient} skipped (too few episodes in their cell)",
            f"  below the lower line: {_share(self.share_below_lower)} (nominal {nominal:.0%})",
            f"  below the expected line: {_share(self.share_below_expected)} (nominal 50%)",
            "  per session: session  n  below-lower  below-expected",
        ]
        for row in self.per_session.itertuples(index=False):
            label = f"{row.session_no}+" if row.session_no == last else f"{row.session_no}"
            lines.append(
                f"    {label:>4} {row.n:>7} {_share(row.share_below_lower):>8} "
                f"{_share(row.share_below_expected):>8}"
            )
        return lines


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _holdout_mask(episode_ids: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Deterministic split: an episode is held out when a keyed hash of its id is below fraction.

    The hash (BLAKE2b of ``"<seed>:<episode_id>"``) does not depend on the order or number of
    episodes, so adding data never moves an episode from one side to the other.
    """
    values = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(f"{seed}:{e}".encode(), digest_size=8).digest(), "big")
            for e in episode_ids
        ),
        dtype=np.float64,
        count=len(episode_ids),
    )
    return values / 2.0**64 < fraction


def calibrate(
    reader: Reader,
    *,
    holdout_fraction: float = 0.3,
    seed: int = 0,
    **fit_kwargs: Any,
) -> CalibrationReport:
    """Fit on part of the closed episodes and check the lines on the rest.

    Args:
        reader: The database.
        holdout_fraction: Share of closed episodes to hold out (between 0 and 1).
        seed: Seed of the deterministic split (hash of the episode id and the seed).
        **fit_kwargs: Passed to :func:`fit_trajectories` (not ``episode_ids``).

    Returns:
        The :class:`CalibrationReport`.

    Raises:
        ValueError: If ``holdout_fraction`` is not between 0 and 1 or ``episode_ids`` is given.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    if "episode_ids" in fit_kwargs:
        raise ValueError("calibrate chooses the training episodes itself; omit episode_ids")
    team_id = fit_kwargs.get("team_id")
    age_group = fit_kwargs.get("age_group")
    params: dict[str, Any] = {}
    where = "ended IS NOT NULL" + (" AND team_id = $team_id" if team_id is not None else "")
    if team_id is not None:
        params["team_id"] = str(team_id)
    closed = (
        reader.df(f"SELECT episode_id FROM episodes WHERE {where} ORDER BY episode_id", params)[
            "episode_id"
        ]
        .astype(str)
        .tolist()
    )
    held = _holdout_mask(closed, holdout_fraction, seed)
    train = [e for e, h in zip(closed, held, strict=True) if not h]
    holdout = [e for e, h in zip(closed, held, strict=True) if h]
    model = fit_trajectories(reader, episode_ids=train, **fit_kwargs)

    params = {"band_width": model.band_width, "n_bands": model.n_bands}
    filters = training_filters(
        episode_ids=holdout, team_id=team_id, age_group=age_group, params=params
    )
    observed = reader.df(
        f"SELECT * FROM ({scores_sql(filters, max_session=False)}) WHERE session_no >= 2",
        params,
    )
    predicted = model.predict_many(observed[["intake", "session_no", "ors"]])
    usable = predicted[predicted["sufficient"]].copy()
    usable["below_lower"] = usable["ors"] < usable["lower"]
    usable["below_expected"] = usable["ors"] < usable["expected"]
    usable["session_no"] = np.minimum(usable["session_no"].astype(int), model.max_session)
    per_session = (
        usable.groupby("session_no")
        .agg(
            n=("ors", "size"),
            share_below_lower=("below_lower", "mean"),
            share_below_expected=("below_expected", "mean"),
        )
        .reindex(range(2, model.max_session + 1))
        .rename_axis("session_no")
        .reset_index()
    )
    per_session["n"] = per_session["n"].fillna(0).astype(int)
    n = len(usable)
    return CalibrationReport(
        model=model,
        holdout_fraction=float(holdout_fraction),
        seed=int(seed),
        n_train_episodes=len(train),
        n_holdout_episodes=len(holdout),
        n_observations=n,
        n_insufficient=int(len(predicted) - n),
        share_below_lower=float(usable["below_lower"].mean()) if n else math.nan,
        share_below_expected=float(usable["below_expected"].mean()) if n else math.nan,
        per_session=per_session,
    )
