"""The fitted expected-trajectory model: a grid of changes from intake, and its predictions.

:class:`TrajectoryModel` holds the (intake band x session) grid that
:func:`fitdata.analytics.trajectory.fit_trajectories` fits, and answers for any client and
session: the expected and lower ORS, how many client-episodes the cell rests on, and whether
that is enough. Everything the dashboards and :func:`~fitdata.analytics.trajectory.calibrate`
use of a model is here; the method is described in :mod:`fitdata.analytics.trajectory`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ORS_MAX", "PREDICTION_COLUMNS", "TrajectoryModel", "band_count"]

#: Highest possible ORS total.
ORS_MAX = 40.0

#: Columns of :meth:`TrajectoryModel.predict`.
PREDICTION_COLUMNS = ("session_no", "expected", "lower", "n_episodes", "sufficient", "reason")

_NO_INTAKE = "no intake ORS"

# Columns of TrajectoryModel.grid that predictions need (checked when a model is loaded).
_GRID_COLUMNS = ("intake_band_low", "session_no", "expected_change", "lower_change", "n_episodes")


def _too_few(min_episodes: int) -> str:
    return f"too few episodes: n < {min_episodes}"


@dataclass(frozen=True)
class TrajectoryModel:
    """A fitted expected-treatment-response grid (the method: :mod:`fitdata.analytics.trajectory`).

    Attributes:
        grid: One row per (intake band, session 1..max_session): ``intake_band_low``,
            ``intake_band_high``, ``session_no``, ``expected`` and ``lower`` (the lines for an
            intake at the band's midpoint; NaN where insufficient), ``n_episodes``,
            ``sufficient``, ``expected_change`` and ``lower_change`` (smoothed change from
            intake, what predictions use), ``raw_expected_change`` and ``raw_lower_change``
            (the unsmoothed cell quantiles).
        lower_percentile: Quantile used for the lower line (0.25 = the 25th percentile).
        min_episodes: Fewest client-episodes a cell needs to give a value.
        band_width: Width of an intake band, ORS points.
        max_session: Last session with its own values; later sessions use its values.
        n_training_episodes: Client-episodes with an intake ORS that the grid was fitted on.
        age_group: The age group trained on, or None for all (pooled).
        team_id: The team trained on, or None for the whole service.
        method: A one-paragraph description of the method, for display.
    """

    grid: pd.DataFrame = field(compare=False, repr=False)
    lower_percentile: float = 0.25
    min_episodes: int = 30
    band_width: float = 4.0
    max_session: int = 12
    n_training_episodes: int = 0
    age_group: str | None = None
    team_id: str | None = None
    method: str = ""

    @property
    def n_bands(self) -> int:
        """Number of intake bands covering 0-40."""
        return band_count(self.band_width)

    def band_of(self, intake: np.ndarray | float) -> np.ndarray:
        """Index of the intake band of each intake (0 for the band starting at 0)."""
        values = np.asarray(intake, dtype=float)
        return np.clip(np.floor(values / self.band_width), 0, self.n_bands - 1).astype(int)

    def predict(self, intake: float, sessions: Sequence[int] | np.ndarray | int) -> pd.DataFrame:
        """Expected and lower ORS for one client with ``intake`` at each of ``sessions``.

        Args:
            intake: The ORS total at session 1 (0-40); NaN or None gives rows without values
                and the reason ``"no intake ORS"``.
            sessions: Session numbers (1, 2, ...); any number of them.

        Returns:
            One row per session, in the given order, with columns ``session_no``, ``expected``,
            ``lower``, ``n_episodes``, ``sufficient`` and ``reason`` (None when sufficient).

        Raises:
            ValueError: If the intake is outside 0-40 or a session number is below 1.
        """
        session_no = np.atleast_1d(np.asarray(sessions))
        value = np.nan if intake is None else float(intake)
        frame = pd.DataFrame({"intake": np.full(len(session_no), value), "session_no": session_no})
        return self.predict_many(frame)[list(PREDICTION_COLUMNS)].reset_index(drop=True)

    def predict_many(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Vectorised :meth:`predict` for many clients and sessions at once.

        Args:
            frame: Columns ``intake`` (NaN when unknown) and ``session_no``; other columns are
                kept.

        Returns:
            A copy of ``frame`` (same index) with ``expected``, ``lower``, ``n_episodes``,
            ``sufficient`` and ``reason`` added.

        Raises:
            ValueError: If an intake is outside 0-40 or a session number is below 1.
        """
        intake = pd.to_numeric(frame["intake"], errors="coerce").to_numpy(dtype=float)
        session_no = pd.to_numeric(frame["session_no"]).to_numpy(dtype=float)
        if np.any(np.isnan(session_no)) or np.any(session_no < 1):
            raise ValueError("session numbers must be 1 or more")
        known = ~np.isnan(intake)
        if np.any((intake[known] < 0) | (intake[known] > ORS_MAX)):
            raise ValueError(f"intake ORS must be between 0 and {ORS_MAX:g}")

        expected_change, lower_change, counts = self._arrays()
        band = self.band_of(np.where(known, intake, 0.0))
        column = np.minimum(session_no.astype(int), self.max_session) - 1
        n = np.where(known, counts[band, column], 0)
        sufficient = known & (n >= self.min_episodes)
        expected = np.where(
            sufficient, np.clip(intake + expected_change[band, column], 0, ORS_MAX), np.nan
        )
        lower = np.where(
            sufficient, np.clip(intake + lower_change[band, column], 0, ORS_MAX), np.nan
        )
        reason = np.where(known, _too_few(self.min_episodes), _NO_INTAKE).astype(object)
        reason[sufficient] = None

        out = frame.copy()
        out["expected"] = expected
        out["lower"] = lower
        out["n_episodes"] = n.astype("int64")
        out["sufficient"] = sufficient
        out["reason"] = pd.Series(reason, index=frame.index, dtype=object)
        return out

    def expected_lines(self, sessions: pd.DataFrame) -> pd.DataFrame:
        """The expected and lower lines at every session of a frame of sessions.

        The intake is the client's own ORS total at session 1 of the same episode (rows with
        ``rater == 'client'`` when the frame has a ``rater`` column), as the model was fitted.

        Args:
            sessions: Rows with ``episode_id``, ``client_id``, ``session_no`` and ``ors_total``
                (other columns are kept).

        Returns:
            A copy of ``sessions`` (same index) with ``intake``, ``expected``,
            ``lower_expected``, ``n_episodes``, ``sufficient`` and ``reason`` added; pass it to
            :func:`fitdata.analytics.flags.session_flags` for ``not_on_track``.
        """
        keys = ["episode_id", "client_id"]
        first = sessions["session_no"] == 1
        if "rater" in sessions.columns:
            first &= sessions["rater"] == "client"
        intake = (
            sessions.loc[first, [*keys, "ors_total"]]
            .drop_duplicates(keys)
            .rename(columns={"ors_total": "intake"})
        )
        frame = sessions.drop(columns=["intake"], errors="ignore")
        merged = frame[keys].merge(intake, on=keys, how="left")
        frame = frame.assign(intake=pd.to_numeric(merged["intake"]).to_numpy(dtype=float))
        out = self.predict_many(frame)
        return out.rename(columns={"lower": "lower_expected"})

    def expected_grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted grid as (intake band x session) arrays.

        Returns:
            ``(expected_change, lower_change, n_episodes)``; row ``b`` is the band starting at
            ``b * band_width``, column ``k`` is session ``k + 1``. Changes are NaN where the
            cell had no data; compare ``n_episodes`` with ``min_episodes`` for sufficiency.
        """
        return self._arrays()

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON-compatible values (for a cache file; no client data).

        The grid holds only aggregates (band limits, session numbers, quantiles, counts).
        Floats are kept as Python floats (NaN included), which :mod:`json` writes with their
        shortest round-trip representation, so :meth:`from_dict` gives back the same numbers.

        Returns:
            ``{"fields": {...}, "grid": {column: {"dtype": ..., "values": [...]}}}``.
        """
        grid = {
            str(column): {
                "dtype": str(self.grid[column].dtype),
                "values": self.grid[column].tolist(),
            }
            for column in self.grid.columns
        }
        fields = {
            "lower_percentile": self.lower_percentile,
            "min_episodes": self.min_episodes,
            "band_width": self.band_width,
            "max_session": self.max_session,
            "n_training_episodes": self.n_training_episodes,
            "age_group": self.age_group,
            "team_id": self.team_id,
            "method": self.method,
        }
        return {"fields": fields, "grid": grid}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrajectoryModel:
        """Rebuild a model written by :meth:`to_dict`.

        Raises:
            ValueError: If ``data`` is not a complete model (missing or malformed parts).
        """
        try:
            fields = data["fields"]
            columns = data["grid"]
            grid = pd.DataFrame(
                {
                    name: pd.Series(column["values"], dtype=column["dtype"])
                    for name, column in columns.items()
                }
            )
            missing = [c for c in _GRID_COLUMNS if c not in grid.columns]
            if missing:
                raise ValueError(f"the grid has no columns {missing}")
            return cls(
                grid=grid,
                lower_percentile=float(fields["lower_percentile"]),
                min_episodes=int(fields["min_episodes"]),
                band_width=float(fields["band_width"]),
                max_session=int(fields["max_session"]),
                n_training_episodes=int(fields["n_training_episodes"]),
                age_group=fields["age_group"],
                team_id=fields["team_id"],
                method=str(fields["method"]),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a stored trajectory model: {error!r}") from error

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The grid as (band x session) arrays: expected change, lower change, n_episodes."""
        shape = (self.n_bands, self.max_session)
        band = self.band_of(self.grid["intake_band_low"].to_numpy(dtype=float))
        col = self.grid["session_no"].to_numpy(dtype=int) - 1
        arrays = []
        for name in ("expected_change", "lower_change", "n_episodes"):
            values = np.full(shape, np.nan if name != "n_episodes" else 0.0)
            values[band, col] = self.grid[name].to_numpy(dtype=float)
            arrays.append(values)
        return arrays[0], arrays[1], arrays[2].astype(int)


def band_count(band_width: float) -> int:
    """Number of intake bands of ``band_width`` ORS points covering 0-40."""
    return max(1, math.ceil(ORS_MAX / band_width - 1e-9))
