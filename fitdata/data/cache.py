"""A persistent cache of aggregates stored beside the database, keyed on its version.

Computing some aggregates — the fitted expected trajectories, the therapist development
comparison, the service page's facts — takes seconds on a large file, and every new dashboard
kernel would otherwise do it again. This module keeps such a result in a small file next to the
database and hands it back while the database is unchanged. What is stored and how it is
computed belongs to the callers (:mod:`fitdata.features.expected_trajectory`,
:mod:`fitdata.features.therapist_development`, :mod:`fitdata.features.service`); this module
only knows keys, versions and files.

Where: a folder ``<database file name>.cache`` beside the database (for
``data/fitdata.duckdb`` that is ``data/fitdata.duckdb.cache/``). When that folder cannot be
written (a read-only share), nothing is stored and the caller computes in the kernel.

When a stored entry is used — only when everything that could change it is the same:

* **the database version** (:func:`database_version`): the file's device, inode, size and
  modification time, and a hash of its first 12 KiB (DuckDB's file headers, which change at
  every checkpoint). A writer replaces the file atomically
  (:func:`fitdata.data.store.write_transaction`), which gives it a new inode and modification
  time, so every import, registration or ``fitdata demo`` makes old entries unused;
* **every parameter** the caller puts in the key, and any configuration value it depends on;
* **the code**: callers put :func:`source_fingerprint` of every module their computation uses
  in the key, so a changed method never reuses an old result;
* **the access scope** of the reader (:func:`scope_key`): what was computed through one
  user's restricted views is never given to a reader with other views.

An entry of an older version can still be found with :func:`load_latest_json`, for a caller
that brings it forward by recomputing only what a write changed (the service page's facts:
:mod:`fitdata.features.service.changes`).

The full key is stored in the file and compared on load (the file name is only a hash of it).
A file that cannot be read, is not valid JSON, or holds another key is ignored and rewritten.
Writes go to a temporary file in the same folder and are moved into place with
:func:`os.replace`, so a kernel reading at the same time sees the old file or the new one,
never half a file. Entries of older database versions are deleted when a new one is written.
Every entry gets the database file's mode and owner, and the folder lets in only who may read
the database (:class:`fitdata.data.files.FileMode`), because an entry is as sensitive as the
database: some hold per-team facts before small cells are suppressed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import pandas as pd

from fitdata.data.files import FileMode
from fitdata.data.store import Reader, StoreError

__all__ = [
    "CACHE_FORMAT",
    "MemoryCache",
    "digest",
    "cache_dir",
    "computing_shared",
    "database_version",
    "frame_from_json",
    "frame_to_json",
    "load_json",
    "load_latest_json",
    "scope_key",
    "source_fingerprint",
    "store_json",
]

log = logging.getLogger(__name__)

#: Version of the files' layout; bump it when what is stored changes.
CACHE_FORMAT = 1

# DuckDB's main header and its two database headers (4 KiB each) at the start of the file.
_HEADER_BYTES = 12 * 1024
_SUFFIX = ".cache"


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


def digest(value: object) -> str:
    """A short stable hash of a JSON-compatible value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _entry_path(database: Path, kind: str, version: str, key: dict[str, Any]) -> Path:
    # The version's own hash leads the name, so entries of older versions are easy to find.
    return cache_dir(database) / f"{kind}-{digest(version)[:12]}-{digest(key)}.json"


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


def _write_entry(path: Path, full_key: dict[str, Any], payload: Any, mode: FileMode) -> None:
    """Write atomically (temporary file + os.replace); skip a folder that cannot be written."""
    folder = path.parent
    try:
        # Readable by whoever may read the database, and no one else (whatever the umask).
        folder.mkdir(exist_ok=True, mode=0o700)
        if stat.S_IMODE(folder.stat().st_mode) != mode.folder_mode:
            mode.apply(folder, folder=True)
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
        mode.apply(tmp)
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
    given to a reader with another scope (see :meth:`fitdata.data.store.Reader.scoped`).
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


def load_latest_json(reader: Reader, kind: str, key: dict[str, Any]) -> tuple[Any, str] | None:
    """The payload stored for ``key`` under *any* version of the database, and that version.

    For a caller that can bring an entry of an older version forward at less cost than
    computing it (:mod:`fitdata.features.service.stored`: the service page's facts, team by
    team): everything but the version must match, the scope included. A folder holds one
    version of each kind (older ones go when a newer one is written), so there is at most one
    candidate per key; the newest is taken should there be more.
    """
    key = {**key, "scope": scope_key(reader)}
    found: list[tuple[int, Path]] = []
    for path in cache_dir(reader.path).glob(f"{kind}-*-{digest(key)}.json"):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime_ns, path))
    for _, path in sorted(found, reverse=True):
        try:
            with open(path, encoding="utf-8") as handle:
                stored = json.load(handle)
        except (OSError, ValueError):
            continue
        full_key = stored.get("key") if isinstance(stored, dict) else None
        if (
            isinstance(full_key, dict)
            and isinstance(full_key.get("database"), str)
            and full_key == {**full_key, "kind": kind, "format": CACHE_FORMAT, "key": key}
            and "payload" in stored
        ):
            return stored["payload"], full_key["database"]
    return None


def store_json(reader: Reader, kind: str, key: dict[str, Any], payload: Any, version: str) -> None:
    """Store a JSON-compatible payload for this database version and key (see :func:`load_json`).

    Nothing is stored when the database was replaced since ``version`` was read (the payload
    would be labelled with the wrong version).
    """
    if database_version(reader.path) != version:
        return
    key = {**key, "scope": scope_key(reader)}
    full_key = {"kind": kind, "database": version, "format": CACHE_FORMAT, "key": key}
    mode = FileMode.of(reader.path)
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


T = TypeVar("T")

# The scopes whose MemoryCache entries this thread is computing now (innermost last).
_computing = threading.local()


@contextlib.contextmanager
def _computing_for(scope: str | None) -> Iterator[None]:
    scopes = _computing.__dict__.setdefault("scopes", [])
    scopes.append(scope)
    try:
        yield
    finally:
        scopes.pop()


def computing_shared(scope: str | None) -> bool:
    """Whether this thread is computing a :class:`MemoryCache` entry for readers of ``scope``.

    Such an entry is kept for every reader of the scope, whoever asked first, so it cannot be
    what one person was allowed and another not: :func:`fitdata.data.access.aggregate_reader`'s
    comparison readers answer queries only then.
    """
    return scope in getattr(_computing, "scopes", ())


class MemoryCache(Generic[T]):
    """A few results kept in this process, each for one version of one database file.

    The one in-process cache mechanism of the package: every key holds the reader's
    :meth:`~fitdata.data.store.Reader.file_identity` (so a writer's replacement of the file
    makes every entry of the old version unused) and its :func:`scope_key` (so what one user's
    restricted views gave is never handed to another), before the caller's own key. Two
    threads asking for the same missing entry compute it once; the least recently used
    entry goes when more than ``size`` are kept.

    Args:
        size: How many entries to keep.
    """

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, reader: Reader, key: Hashable, compute: Callable[[], T]) -> T:
        """The entry for ``reader``'s file version, scope and ``key``; computed when missing.

        Raises:
            StoreError: If the database file is missing.
        """
        full_key = (reader.file_identity(), scope_key(reader), key)
        with self._lock:
            if full_key in self._items:
                self._items.move_to_end(full_key)
                return self._items[full_key]
            building = self._building.setdefault(full_key, threading.Lock())
        with building:
            with self._lock:
                if full_key in self._items:
                    return self._items[full_key]
            with _computing_for(full_key[1]):
                value = compute()
            with self._lock:
                self._items[full_key] = value
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
                self._building.pop(full_key, None)
            return value

    def clear(self) -> None:
        """Forget every entry (tests, and a kernel that wants its memory back)."""
        with self._lock:
            self._items.clear()
            self._building.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
