"""A persistent cache of fitted models and other aggregates, stored beside the database.

Fitting the expected trajectories (:func:`fitdata.trajectory.fit_trajectories`) takes about
7 s at ten million sessions, and every new dashboard kernel would otherwise do it again. This
module keeps the fitted model in a small file next to the database and reuses it while the
database is unchanged.

Where: a folder ``<database file name>.cache`` beside the database (for
``data/fitdata.duckdb`` that is ``data/fitdata.duckdb.cache/``). When that folder cannot be
written (a read-only share), nothing is stored and the model is fitted in the kernel as before.

When a stored entry is used — only when everything that could change it is the same:

* **the database version**: the file's device, inode, size and modification time, and a hash of
  its first 12 KiB (DuckDB's file headers, which change at every checkpoint). A writer replaces
  the file atomically (:func:`fitdata.store.write_transaction`), which gives it a new inode and
  modification time, so every import, registration or ``fitdata demo`` makes old entries unused;
* **every fit parameter** (percentile, minimum episodes, band width, session cap, team, age
  group, training episodes) — and any configuration value a caller passes on as a parameter;
* **the code**: a hash of the fitting module's source (``fitdata/trajectory.py``) and of this
  cache's format, so a changed method never reuses an old fit;
* **the access scope** of the reader (:func:`scope_key`): what was computed through one
  user's restricted views is never given to a reader with other views.

The full key is stored in the file and compared on load (the file name is only a hash of it).
A file that cannot be read, is not valid JSON, or holds another key is ignored and rewritten.
Writes go to a temporary file in the same folder and are moved into place with
:func:`os.replace`, so a kernel reading at the same time sees the old file or the new one,
never half a file. Entries of older database versions are deleted when a new one is written.

What is stored holds no client identities: the trajectory grid holds intake bands, session
numbers, quantiles of change and counts of episodes (see :class:`TrajectoryModel`); the other
entries (:func:`load_json` / :func:`store_json`) are aggregate tables — the development
comparison with its small cells suppressed, the team lists, and the service page's facts,
which are per-cell sums and counts keyed by integer codes, not suppressed (the page
suppresses what it shows). Every entry gets the database file's permissions, because it is
as sensitive as the database.

Inside one process the model is also kept in memory, so all dashboards of a kernel share one.

Entries: ``trajectory-*.json`` (:func:`trajectory_model`) and ``development-*.json`` (the
therapist development page's team and service comparison, see
:func:`fitdata.development.service_comparison`). :func:`warm` computes both right after a
write, so that not even the first kernel waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from fitdata import trajectory
from fitdata.store import Reader, StoreError, reader_for
from fitdata.trajectory import TrajectoryModel, fit_trajectories

__all__ = [
    "CACHE_FORMAT",
    "cache_dir",
    "clear_memory",
    "database_version",
    "frame_from_json",
    "frame_to_json",
    "load_json",
    "scope_key",
    "source_fingerprint",
    "store_json",
    "trajectory_model",
    "warm",
]

log = logging.getLogger(__name__)

#: The default minimum of episodes behind a cell, from :func:`fitdata.trajectory.fit_trajectories`.
DEFAULT_MIN_EPISODES: int = inspect.signature(fit_trajectories).parameters["min_episodes"].default

#: Version of the files' layout; bump it when what is stored changes.
CACHE_FORMAT = 1

# DuckDB's main header and its two database headers (4 KiB each) at the start of the file.
_HEADER_BYTES = 12 * 1024
_SUFFIX = ".cache"

_memory: dict[str, TrajectoryModel] = {}
_memory_lock = threading.Lock()
_fit_locks: dict[str, threading.Lock] = {}
# The (database path, version) of each model in memory: older versions of a file are dropped.
_owner: dict[str, tuple[str, str]] = {}


def cache_dir(database: str | os.PathLike[str]) -> Path:
    """The folder beside ``database`` where its cache entries are kept."""
    path = Path(database)
    return path.with_name(path.name + _SUFFIX)


def database_version(database: str | os.PathLike[str]) -> str:
    """A fingerprint of the database file's current version (stat identity and header hash).

    Raises:
        StoreError: If there is no file at ``database``.
    """
    path = Path(database)
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            header = handle.read(_HEADER_BYTES)
    except FileNotFoundError:
        raise StoreError(
            f"There is no database at {path}. Create the demo database with "
            f"`fitdata demo --out {path}`, or point --db at an existing file."
        ) from None
    digest = hashlib.sha256(header).hexdigest()[:32]
    return f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:{digest}"


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _entry_path(database: Path, kind: str, version: str, key: dict[str, Any]) -> Path:
    # The version's own hash leads the name, so entries of older versions are easy to find.
    return cache_dir(database) / f"{kind}-{_digest(version)[:12]}-{_digest(key)}.json"


def _read_entry(path: Path, full_key: dict[str, Any]) -> Any | None:
    """The stored payload when the file holds exactly ``full_key``; None otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # unreadable or not JSON: ignored, rewritten
        log.warning("ignoring the unreadable cache file %s: %s", path, error)
        return None
    if not isinstance(stored, dict) or stored.get("key") != full_key or "payload" not in stored:
        log.warning("ignoring the cache file %s: it was written for something else", path)
        return None
    return stored["payload"]


def _write_entry(path: Path, full_key: dict[str, Any], payload: Any, mode: int = 0o644) -> None:
    """Write atomically (temporary file + os.replace); skip a folder that cannot be written."""
    folder = path.parent
    try:
        # Readable by whoever may read the database, and no one else.
        folder.mkdir(exist_ok=True, mode=mode | ((mode & 0o444) >> 2))
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        log.info("not caching in %s (%s); the model is fitted in each kernel", folder, error)
        return
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"key": full_key, "payload": payload}, handle, allow_nan=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as error:
        log.warning("could not write the cache file %s: %s", path, error)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return
    _remove_older_versions(path)


def _remove_older_versions(written: Path) -> None:
    """Delete entries of the same kind written for other database versions."""
    kind, version_hash, _ = written.name.split("-", 2)
    for other in written.parent.glob(f"{kind}-*.json"):
        if other.name.split("-", 2)[1] != version_hash:
            with contextlib.suppress(OSError):
                other.unlink()


def scope_key(reader: Reader) -> str | None:
    """The access scope a reader sees the database through (None: the whole file).

    Part of every key: a model fitted or a table computed through one scope's views is never
    given to a reader with another scope (see :meth:`fitdata.store.Reader.scoped`).
    """
    scope = getattr(reader, "scope", None)
    return None if scope is None else str(scope.key)


def load_json(
    reader: Reader, kind: str, key: dict[str, Any], *, version: str | None = None
) -> Any | None:
    """A payload stored by :func:`store_json` for this database version and key, or None.

    Args:
        reader: The database the payload was computed from.
        kind: A short name of what is stored (letters, digits and underscores).
        key: Everything else the payload depends on (JSON-compatible values).
        version: The database version (:func:`database_version`); read now when None.
    """
    version = version or database_version(reader.path)
    key = {**key, "scope": scope_key(reader)}
    full_key = {"kind": kind, "database": version, "format": CACHE_FORMAT, "key": key}
    return _read_entry(_entry_path(reader.path, kind, version, key), full_key)


def store_json(reader: Reader, kind: str, key: dict[str, Any], payload: Any, version: str) -> None:
    """Store a JSON-compatible payload for this database version and key (see :func:`load_json`).

    Nothing is stored when the database was replaced since ``version`` was read (the payload
    would be labelled with the wrong version).
    """
    if database_version(reader.path) != version:
        return
    key = {**key, "scope": scope_key(reader)}
    full_key = {"kind": kind, "database": version, "format": CACHE_FORMAT, "key": key}
    mode = stat.S_IMODE(os.stat(reader.path).st_mode) & 0o666
    _write_entry(_entry_path(reader.path, kind, version, key), full_key, payload, mode)


def source_fingerprint(*modules: ModuleType) -> str:
    """A hash of the source files of ``modules`` (part of a key: changed code, new entry)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:32]


def frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """An aggregate table as JSON-compatible values that :func:`frame_from_json` restores.

    Keeps every column's dtype (categoricals with their categories), the values exactly (floats
    by their round-trip representation, NaN included) and JSON-compatible ``attrs``.
    """
    columns = []
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories
            columns.append(
                {
                    "name": str(name),
                    "dtype": "category",
                    "categories": _values(pd.Series(categories)),
                    "categories_dtype": str(categories.dtype),
                    "ordered": bool(series.cat.ordered),
                    "codes": series.cat.codes.astype("int64").tolist(),
                }
            )
        else:
            columns.append(
                {"name": str(name), "dtype": str(series.dtype), "values": _values(series)}
            )
    attrs: dict[str, Any] = {}
    for key, value in frame.attrs.items():
        with contextlib.suppress(TypeError, ValueError):
            json.dumps(value)
            attrs[str(key)] = value
    return {"columns": columns, "attrs": attrs, "rows": len(frame)}


def _values(series: pd.Series) -> list[Any]:
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
        return series.tolist()
    if pd.api.types.is_bool_dtype(series.dtype):
        return [bool(v) for v in series]
    return [None if _missing(v) else v for v in series.astype(object)]


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def frame_from_json(data: dict[str, Any]) -> pd.DataFrame:
    """The table written by :func:`frame_to_json`.

    Raises:
        ValueError: If ``data`` is not such a table.
    """
    try:
        parts = {}
        for column in data["columns"]:
            if column["dtype"] == "category":
                categories = pd.Index(column["categories"], dtype=column["categories_dtype"])
                parts[column["name"]] = pd.Categorical.from_codes(
                    column["codes"], categories=categories, ordered=column["ordered"]
                )
            else:
                parts[column["name"]] = pd.Series(column["values"], dtype=column["dtype"])
        frame = pd.DataFrame(parts, index=pd.RangeIndex(int(data["rows"])))
        frame.attrs = dict(data.get("attrs", {}))
        return frame
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"not a stored table: {error!r}") from error


def _fit_key(
    *,
    lower_percentile: float,
    min_episodes: int,
    band_width: float,
    max_session: int,
    episode_ids: Sequence[str] | None,
    team_id: str | None,
    age_group: str | None,
) -> dict[str, Any]:
    return {
        "lower_percentile": float(lower_percentile),
        "min_episodes": int(min_episodes),
        "band_width": float(band_width),
        "max_session": int(max_session),
        # The episode list itself is not stored (a hash of it is enough to tell them apart).
        "episode_ids": None if episode_ids is None else _digest(sorted(map(str, episode_ids))),
        "team_id": None if team_id is None else str(team_id),
        "age_group": None if age_group is None else str(age_group),
        "code": source_fingerprint(trajectory),
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

    Arguments are those of :func:`fitdata.trajectory.fit_trajectories`; all of them are part of
    the key. The model is looked up in this process's memory, then in the cache file beside
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
    key = _fit_key(**params)
    version = database_version(reader.path)
    memory_key = _digest([str(reader.path), version, key, scope_key(reader)])
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
            model = (fit or fit_trajectories)(reader, **params)
            store_json(reader, "trajectory", key, model.to_dict(), version)
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


def warm(database: str | os.PathLike[str], *, config: Any = None) -> list[str]:
    """Compute and store what the dashboards' first kernel would otherwise compute.

    ``fitdata import`` and ``fitdata demo`` call it after they replaced the database: the
    expected-trajectory model with its default parameters (about 7 s at ten million sessions),
    the therapist development comparison of every service (about 14 s per service there) and
    the service page's facts. Afterwards a new dashboard kernel reads them from the cache
    folder in milliseconds.

    Args:
        database: The database file.
        config: The :class:`fitdata.config.ClinicalConfig` the dashboards use (the comparison
            is stored per configuration); the default thresholds when None.

    Returns:
        What was stored, one line each, for the writer's log.

    Raises:
        StoreError: If the database is missing or unreadable.
    """
    from fitdata import development, service_summary  # local: both import this module
    from fitdata.config import DEFAULT_CONFIG
    from fitdata.store import reader_for

    reader = reader_for(database)
    done = []
    model = trajectory_model(reader)
    done.append(f"expected trajectories ({model.n_training_episodes} closed client-episodes)")
    services = reader.df("SELECT DISTINCT service FROM teams ORDER BY service")["service"]
    for service in services:
        development.service_comparison(reader, str(service), config=config or DEFAULT_CONFIG)
        done.append(f"therapist development comparison of {service}")
    done += service_summary.warm_facts(reader, config=config or DEFAULT_CONFIG)
    return done
