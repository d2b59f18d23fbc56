"""The service's expected trajectories, fitted once and kept until the refit rule says so.

Fitting the expected trajectories (:func:`fitdata.analytics.trajectory.fit_trajectories`)
takes about 7 s at ten million sessions. :func:`trajectory_model` looks the fitted model up in
this process's memory, then in the cache folder beside the database
(:mod:`fitdata.data.cache`), and fits it only when neither holds it. Its key holds every fit
parameter and a hash of the fit's and the model's source, so a changed method never reuses an old
fit. What is stored holds no client identities: the trajectory grid holds intake bands,
session numbers, quantiles of change and counts of episodes (see
:class:`~fitdata.analytics.trajectory.TrajectoryModel`).

Inside one process the model is also kept in memory, so all dashboards of a kernel share one.

**Refitted on a rule, not on every write.** A registration replaces the file, but one more
session (or one more ended episode) does not move quantiles over thousands of closed
episodes. When the cache folder holds no fit for this version, the newest fit of an older
version (same key: parameters, code, scope) is used again while both hold: fewer than
:data:`REFIT_NEW_CLOSED_SHARE` (5 %) more closed episodes than that fit rests on, and the fit
is less than :data:`REFIT_AFTER_DAYS` (7) days old. Otherwise it is fitted again. The lines
then lag the data by at most 5 % of the closed episodes or a week: ``docs/analytics.md``
("Refit schedule") shows the calibration of such a lagging fit beside a fresh one.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fitdata.analytics import trajectory
from fitdata.analytics.trajectory import TrajectoryModel, fit_trajectories
from fitdata.data.cache import (
    database_version,
    digest,
    load_json,
    load_latest_json,
    scope_key,
    source_fingerprint,
    store_json,
)
from fitdata.data.store import Reader, reader_for

__all__ = [
    "DEFAULT_MIN_EPISODES",
    "REFIT_AFTER_DAYS",
    "REFIT_NEW_CLOSED_SHARE",
    "clear_memory",
    "fit_key",
    "trajectory_model",
]

log = logging.getLogger(__name__)

#: The default minimum of episodes behind a cell, from
#: :func:`fitdata.analytics.trajectory.fit_trajectories`.
DEFAULT_MIN_EPISODES: int = inspect.signature(fit_trajectories).parameters["min_episodes"].default

#: A fit of an older version is used again until this share more closed episodes exist ...
REFIT_NEW_CLOSED_SHARE = 0.05
#: ... or until it is this many days old.
REFIT_AFTER_DAYS = 7

_CLOSED_SQL = "SELECT count(*) FROM episodes WHERE ended IS NOT NULL"

_memory: dict[str, TrajectoryModel] = {}
_memory_lock = threading.Lock()
_fit_locks: dict[str, threading.Lock] = {}
# The (database path, version) of each model in memory: older versions of a file are dropped.
_owner: dict[str, tuple[str, str]] = {}


def fit_key(
    *,
    lower_percentile: float,
    min_episodes: int,
    band_width: float,
    max_session: int,
    episode_ids: Sequence[str] | None,
    team_id: str | None,
    age_group: str | None,
) -> dict[str, Any]:
    """The stored key of a fit: every parameter, and a hash of the fitting modules' source."""
    return {
        "lower_percentile": float(lower_percentile),
        "min_episodes": int(min_episodes),
        "band_width": float(band_width),
        "max_session": int(max_session),
        # The episode list itself is not stored (a hash of it is enough to tell them apart).
        "episode_ids": None if episode_ids is None else digest(sorted(map(str, episode_ids))),
        "team_id": None if team_id is None else str(team_id),
        "age_group": None if age_group is None else str(age_group),
        "code": source_fingerprint(trajectory, trajectory.fit, trajectory.model),
    }


def trajectory_model(
    reader: Reader,
    *,
    lower_percentile: float = 0.25,
    min_episodes: int = DEFAULT_MIN_EPISODES,
    band_width: float = 4.0,
    max_session: int = 12,
    episode_ids: Sequence[str] | None = None,
    team_id: str | None = None,
    age_group: str | None = None,
    fit: Callable[..., TrajectoryModel] | None = None,
) -> TrajectoryModel:
    """The expected-trajectory model of ``reader``'s database: from memory, the file, or a fit.

    Arguments are those of :func:`fitdata.analytics.trajectory.fit_trajectories`; all of them are
    part of the key. The model is looked up in this process's memory, then in the cache file beside
    the database (see the module docstring); only when neither holds it is it fitted, and the
    fit is stored for the next kernel.

    Args:
        reader: The database.
        lower_percentile: As for :func:`fit_trajectories`.
        min_episodes: As for :func:`fit_trajectories`.
        band_width: As for :func:`fit_trajectories`.
        max_session: As for :func:`fit_trajectories`.
        episode_ids: As for :func:`fit_trajectories`.
        team_id: As for :func:`fit_trajectories`.
        age_group: As for :func:`fit_trajectories`.
        fit: The fitting function (default :func:`fit_trajectories`; tests pass a counter).

    Returns:
        The same model :func:`fit_trajectories` gives for these arguments on this file.

    Raises:
        StoreError: If the database is missing or unreadable.
        ValueError: If a parameter is out of range (from the fit).
    """
    params = {
        "lower_percentile": lower_percentile,
        "min_episodes": min_episodes,
        "band_width": band_width,
        "max_session": max_session,
        "episode_ids": episode_ids,
        "team_id": team_id,
        "age_group": age_group,
    }
    if _is_service_model(reader, params):
        # The service's model is the same for every user: quantiles of cells with at least
        # min_episodes episodes each, no row of anyone. A therapist's scoped reader would fit
        # it on her own episodes only, so it is fitted on the whole file (and stored once).
        reader = reader_for(reader.path)
    key = fit_key(**params)
    version = database_version(reader.path)
    memory_key = digest([str(reader.path), version, key, scope_key(reader)])
    with _memory_lock:
        model = _memory.get(memory_key)
        if model is not None:
            return model
        fit_lock = _fit_locks.setdefault(memory_key, threading.Lock())
    with fit_lock:  # two dashboards asking at once fit once
        with _memory_lock:
            if memory_key in _memory:
                return _memory[memory_key]
        model = _load_model(reader, key, version)
        if model is None:
            model, refit = _previous_fit(reader, key)
            if model is None:
                model = (fit or fit_trajectories)(reader, **params)
                refit = {"closed": _closed(reader), "fitted_at": time.time()}
            store_json(reader, "trajectory", key, {**model.to_dict(), "refit": refit}, version)
        with _memory_lock:
            owner = (str(reader.path), version)
            for old in [k for k, o in _owner.items() if o[0] == owner[0] and o != owner]:
                _memory.pop(old, None)
                del _owner[old]
            _memory[memory_key] = model
            _owner[memory_key] = owner
            _fit_locks.pop(memory_key, None)
        return model


def _is_service_model(reader: Reader, params: dict[str, Any]) -> bool:
    """Whether a scoped reader asks for the service's default model (not a narrower one)."""
    return (
        getattr(reader, "scope", None) is not None
        and params["episode_ids"] is None
        and params["team_id"] is None
        and params["age_group"] is None
        and params["min_episodes"] >= DEFAULT_MIN_EPISODES
    )


def _closed(reader: Reader) -> int:
    return int(reader.rows(_CLOSED_SQL)[0][0])


def _previous_fit(
    reader: Reader, key: dict[str, Any]
) -> tuple[TrajectoryModel | None, dict[str, float]]:
    """The fit of an older version while the refit rule allows it (module docstring), or None."""
    found = load_latest_json(reader, "trajectory", key)
    if found is None:
        return None, {}
    payload, _ = found
    try:
        refit = {
            "closed": int(payload["refit"]["closed"]),
            "fitted_at": float(payload["refit"]["fitted_at"]),
        }
        model = TrajectoryModel.from_dict(payload)
    except (KeyError, TypeError, ValueError):
        return None, {}
    grown = _closed(reader) - refit["closed"]
    age_days = (time.time() - refit["fitted_at"]) / 86400
    if (
        not 0 <= grown < REFIT_NEW_CLOSED_SHARE * max(refit["closed"], 1)
        or age_days >= REFIT_AFTER_DAYS
    ):
        return None, {}
    return model, refit


def _load_model(reader: Reader, key: dict[str, Any], version: str) -> TrajectoryModel | None:
    payload = load_json(reader, "trajectory", key, version=version)
    if payload is None:
        return None
    try:
        return TrajectoryModel.from_dict(payload)
    except ValueError as error:
        log.warning("ignoring a stored trajectory model of %s: %s", reader.path, error)
        return None


def clear_memory() -> None:
    """Forget the models kept in this process (the files stay; tests use this)."""
    with _memory_lock:
        _memory.clear()
        _owner.clear()
        _fit_locks.clear()
