"""Expected treatment response (ETR): trajectories computed from the service's own episodes.

Commercial ETR curves rest on proprietary tables, so fitdata computes its own from the
organisation's **closed** episodes with a method that can be explained on one page, shows how
many episodes every point rests on, and says so when they are too few.

Method (:func:`fit_trajectories`):

1. **Training data.** Closed episodes (``episodes.ended IS NOT NULL``), the client's own ratings
   (``sessions.rater = 'client'``), ORS totals. The unit is a *client-episode*: a couple or
   family episode contributes one trajectory per participant (each rates under their own
   ``client_id``); "episodes" in counts means client-episodes. The intake is the ORS at
   session 1; a client-episode whose session 1 has no ORS is skipped. Should a session be
   recorded twice (``fitdata check`` reports that), the two scores are averaged.
2. **Intake bands.** The intake is binned into bands of ``band_width`` points (default 4:
   0-4, 4-8, ..., 36-40; a band includes its lower bound, the last band includes 40).
   Adults, adolescents and children are **pooled** but conditioned on intake, which places a
   CORS score where it belongs on the common 0-40 scale. ``age_group`` restricts the training
   data to one group instead (fit one model per group to stratify).
3. **Empirical quantiles per cell**, in DuckDB (``quantile_cont`` with ``GROUP BY``): for
   each (intake band, session 2..``max_session``) the median and the ``lower_percentile``
   (default the 25th) of the *change from intake* (ORS at the session minus the client's own
   intake), and ``n_episodes``. Working with change rather than the raw level means that a
   client at the bottom of a band is not compared with the band's middle; the prediction is
   the client's own intake plus the cell's change. The 25th percentile is the default lower
   boundary: a quarter of the service's own clients with that intake were below it at that
   session, which is a visible but not alarmist signal (OpenFIT's "red" line plays the same
   role); make it stricter with ``lower_percentile=0.10``.
4. **Smoothing** on the small grid (NumPy): every cell's median and lower change are replaced
   by a locally weighted linear fit over its neighbours, sessions within +-2 and intake bands
   within +-1, with triangular kernel weights times the neighbour's ``n_episodes`` (a
   quantile's variance is proportional to 1/n). The fit is linear in log(session), the usual
   log-linear dose-response shape of psychotherapy change, and in the band's midpoint (which
   absorbs regression to the mean), so a linear trend is not flattened at the grid's edges. No
   monotonicity is imposed: clients with a high intake may on average decline.
5. **Sufficiency.** A cell whose own ``n_episodes`` is below ``min_episodes`` (default 30) has
   no value: predictions there are ``sufficient = False`` with the reason
   ``"too few episodes: n < 30"``, and the dashboards fall back to the reliable-change band.
6. **Session cap.** Sessions after ``max_session`` (default 12) use session ``max_session``'s
   values; sessions after it are not used for training (they are a selected group: the
   clients still in treatment). Session 1 is the intake itself: expected and lower are the
   intake, and ``n_episodes`` counts the band's intakes.

Why not quantile regression on intake and log(session)? It would need an extra dependency
(statsmodels), hide how many episodes stand behind a given point, and impose one functional
form on every intake. Per-cell quantiles need only SQL, can be shown as "based on N
episodes", and reveal where the data are thin. To swap the method, produce another object with
the same :meth:`TrajectoryModel.predict` / :meth:`TrajectoryModel.predict_many` interface
(columns ``session_no, expected, lower, n_episodes, sufficient, reason``); the dashboards and
:func:`calibrate` use nothing else.

:func:`calibrate` checks the method on the service's own data: it fits on a deterministic
share of closed episodes and counts how often held-out clients' ORS falls below the lower line
(it should be close to ``lower_percentile``) and below the expected line (close to 0.5).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fitdata.data.store import Reader

__all__ = [
    "ORS_MAX",
    "CalibrationReport",
    "TrajectoryModel",
    "calibrate",
    "fit_trajectories",
]

#: Highest possible ORS total.
ORS_MAX = 40.0

#: Columns of :meth:`TrajectoryModel.predict`.
PREDICTION_COLUMNS = ("session_no", "expected", "lower", "n_episodes", "sufficient", "reason")

# Smoothing neighbourhood: sessions within this many of the cell, intake bands within this many.
_SESSION_RADIUS = 2
_BAND_RADIUS = 1

_NO_INTAKE = "no intake ORS"

# Columns of TrajectoryModel.grid that predictions need (checked when a model is loaded).
_GRID_COLUMNS = ("intake_band_low", "session_no", "expected_change", "lower_change", "n_episodes")


def _too_few(min_episodes: int) -> str:
    return f"too few episodes: n < {min_episodes}"


@dataclass(frozen=True)
class TrajectoryModel:
    """A fitted expected-treatment-response grid; see the module docstring for the method.

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
        return _n_bands(self.band_width)

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


def _n_bands(band_width: float) -> int:
    return max(1, math.ceil(ORS_MAX / band_width - 1e-9))


def _scores_sql(filters: list[str], *, max_session: bool) -> str:
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


def _filters(
    *,
    episode_ids: Sequence[str] | None,
    team_id: str | None,
    age_group: str | None,
    params: dict[str, Any],
) -> list[str]:
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
    n_bands = _n_bands(band_width)
    params: dict[str, Any] = {
        "band_width": float(band_width),
        "n_bands": n_bands,
        "max_session": int(max_session),
        "p": float(lower_percentile),
    }
    filters = _filters(episode_ids=episode_ids, team_id=team_id, age_group=age_group, params=params)
    sql = f"""
        WITH observations AS ({_scores_sql(filters, max_session=True)})
        SELECT band, session_no::INTEGER AS session_no, count(*) AS n_episodes,
               quantile_cont(ors - intake, 0.5) AS raw_expected_change,
               quantile_cont(ors - intake, $p) AS raw_lower_change
        FROM observations
        GROUP BY band, session_no
    """
    cells = reader.df(sql, params)
    grid = _smooth_grid(cells, n_bands, int(max_session), float(band_width), int(min_episodes))
    n_training = int(grid.loc[grid["session_no"] == 1, "n_episodes"].sum())
    return TrajectoryModel(
        grid=grid,
        lower_percentile=float(lower_percentile),
        min_episodes=int(min_episodes),
        band_width=float(band_width),
        max_session=int(max_session),
        n_training_episodes=n_training,
        age_group=age_group,
        team_id=team_id,
        method=_method_text(lower_percentile, min_episodes, band_width, max_session, age_group),
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
    filters = _filters(episode_ids=holdout, team_id=team_id, age_group=age_group, params=params)
    observed = reader.df(
        f"SELECT * FROM ({_scores_sql(filters, max_session=False)}) WHERE session_no >= 2",
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
