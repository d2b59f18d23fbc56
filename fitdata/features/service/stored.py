"""The service page's facts stored beside the database, so a new kernel need not aggregate.

A new kernel does not aggregate the sessions again: the facts of :mod:`.facts` are stored in
``<db>.cache/`` through :mod:`fitdata.data.cache` and read back in a fraction of a second;
:func:`warm_facts` stores them right after a write. An entry is used only while everything that
could change it is the same: the database version, the reader's access scope, the clinical
configuration (episodes), the layout (:data:`FACTS_FORMAT`) and the code — the source of every
module in :data:`FACTS_CODE_MODULES`, which must name each module whose code computes the
stored facts (``tests/unit/test_service_stored.py`` reads the imports and checks it does).

**After a write** the version differs, but the facts of an older version are not thrown away:
each entry (and this process's last facts) keeps the state of the file it was read from
(:mod:`.changes`), and the facts of the teams a write changed are read again and merged in
(:func:`.facts.merge_facts`), which is what a registration costs instead of a full read.
The facts brought forward are stored for the new version in a background thread, so the page
does not wait for the file. What cannot be attributed to teams is read whole, as before.
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import cache
from fitdata.data.store import Reader, StoreError
from fitdata.features.service.changes import (
    DataState,
    TeamChanges,
    changed_teams,
    read_state,
    team_codes,
)
from fitdata.features.service.facts import (
    EpisodeFacts,
    Rows,
    SessionFacts,
    episode_facts,
    merge_facts,
    session_facts,
)

__all__ = [
    "FACTS_CODE_MODULES",
    "STORE_DELAY_SECONDS",
    "clear_memory",
    "FACTS_FORMAT",
    "facts_code",
    "stored_episode_facts",
    "stored_session_facts",
    "warm_facts",
]

log = logging.getLogger(__name__)

#: Version of the stored facts' layout; bump it when the fields of the facts change.
FACTS_FORMAT = 3

#: Every module whose code computes the stored facts (part of the key: changed code, new entry).
FACTS_CODE_MODULES = (
    "fitdata.features.service.facts",
    "fitdata.features.service.stored",
    "fitdata.features.service.changes",
    "fitdata.analytics.outcomes",
    "fitdata.analytics.change",
    "fitdata.config",
    "fitdata.vocabulary",
)


def _array_to_json(array: np.ndarray) -> dict[str, Any] | list[Any]:
    if array.dtype == object:  # team ids and services: a few hundred strings
        return [None if v is None else str(v) for v in array.tolist()]
    stored: dict[str, Any] = {"dtype": array.dtype.str}
    if array.dtype == np.int64 and len(array) > 1 and bool(np.all(array[1:] >= array[:-1])):
        # The rows' client codes: sorted 63-bit hashes, whose differences compress far better.
        array = np.diff(array, prepend=np.int64(0))
        stored["delta"] = True
    data = zlib.compress(np.ascontiguousarray(array).tobytes(), 1)
    return {**stored, "zlib": base64.b64encode(data).decode("ascii")}


def _array_from_json(value: dict[str, Any] | list[Any]) -> np.ndarray:
    if isinstance(value, list):
        return np.array(value, dtype=object)
    data = zlib.decompress(base64.b64decode(value["zlib"]))
    array = np.frombuffer(data, dtype=np.dtype(value["dtype"]))
    return np.cumsum(array) if value.get("delta") else array


def _facts_to_json(facts: EpisodeFacts | SessionFacts) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name, value in vars(facts).items():
        if isinstance(value, Rows):
            payload[name] = {k: _array_to_json(v) for k, v in vars(value).items()}
        elif isinstance(value, dict):
            payload[name] = {k: _array_to_json(v) for k, v in value.items()}
        else:
            payload[name] = _array_to_json(value)
    return payload


def _facts_from_json(
    payload: dict[str, Any], kind: type[EpisodeFacts] | type[SessionFacts]
) -> EpisodeFacts | SessionFacts:
    fields: dict[str, Any] = {}
    for name, value in payload.items():
        if name == "rows":
            fields[name] = Rows(**{k: _array_from_json(v) for k, v in value.items()})
        elif name == "cell_sums":
            fields[name] = {k: _array_from_json(v) for k, v in value.items()}
        else:
            fields[name] = _array_from_json(value)
    return kind(**fields)


def facts_code() -> str:
    """A fingerprint of the source of every module in :data:`FACTS_CODE_MODULES`."""
    modules = [importlib.import_module(name) for name in FACTS_CODE_MODULES]
    return cache.source_fingerprint(*modules)


@dataclass
class _Base:
    """Facts of one database version with the state they were read at (see :mod:`.changes`)."""

    version: str
    state: DataState
    facts: EpisodeFacts | SessionFacts


# The last facts computed in this process for each (file, kind, key), to bring forward after a
# write. One entry per key: the same objects the kernel's SummaryCache holds.
_last: dict[tuple[str, str, str], _Base] = {}
_states: dict[tuple[str, str | None], tuple[str, DataState]] = {}
#: Seconds after facts were brought forward in a kernel that they are stored beside the database.
STORE_DELAY_SECONDS = 2.0
# Set while warm_facts runs: store at once (this thread), not in the background.
_store_now = threading.local()
_team_changes: dict[tuple[str, str | None, str, str], TeamChanges | None] = {}
_last_lock = threading.Lock()


def _stored_facts(
    reader: Reader,
    kind: Literal["episodes", "sessions"],
    config: ClinicalConfig | None,
    compute: Callable[[Sequence[str] | None], EpisodeFacts | SessionFacts],
) -> EpisodeFacts | SessionFacts:
    """The facts of this file version: stored, brought forward from an older version, or read.

    In that order: the entry in ``<db>.cache/`` for this version; else the last facts of an
    older version (this process's, or the newest entry in ``<db>.cache/``) with the teams a
    write changed read again (:func:`.changes.changed_teams`, :func:`.facts.merge_facts`);
    else all facts read afresh. Whatever was computed is stored for this version.

    The entry holds per-cell sums and integer codes (no client or episode ids) that are *not*
    suppressed: like the database beside it, whose file mode it copies, it is for the
    dashboards' own kernels only.
    """
    entry = f"service_{kind}"
    scope = getattr(reader, "scope", None)
    key = {
        "config": None if config is None else repr(config),
        "code": facts_code(),
        "format": FACTS_FORMAT,
        # The scope's views, not only its name: a supervisor given other teams keeps her
        # scope's name, and facts brought forward from her old views must not be used.
        "views": None if scope is None else cache.digest([list(v) for v in scope.views]),
    }
    try:
        version = cache.database_version(reader.path)
    except OSError:  # not a plain file: nothing is stored
        return compute(None)
    memory_key = (str(reader.path), entry, cache.digest([key, cache.scope_key(reader)]))
    with _last_lock:
        last = _last.get(memory_key)
    if last is not None and last.version == version:
        return last.facts
    payload = cache.load_json(reader, entry, key, version=version)
    if payload is not None:
        base = _from_payload(payload, kind, version, reader.path)
        if base is not None:
            _remember(memory_key, base)
            return base.facts
    state = _state(reader, version)  # before the facts: they are of this version or newer
    facts = _brought_forward(reader, kind, key, memory_key, state, compute)
    forward = facts is not None
    if facts is None:
        facts = compute(None)
    base = _Base(version, state, facts)
    _remember(memory_key, base)
    if forward and not getattr(_store_now, "active", False):
        # The page waits for the facts, not for the file: written a moment later, beside it,
        # when this page update is done (serialising competes with it for the interpreter).
        timer = threading.Timer(STORE_DELAY_SECONDS, _store, args=(reader, entry, key, base))
        timer.daemon = True
        timer.start()
    else:
        _store(reader, entry, key, base)
    return facts


def _store(reader: Reader, entry: str, key: dict[str, Any], base: _Base) -> None:
    payload = {"state": base.state.to_json(), "facts": _facts_to_json(base.facts)}
    try:
        cache.store_json(reader, entry, key, payload, base.version)
    except (StoreError, OSError) as error:  # the file went meanwhile: nothing to store for
        log.info("not storing the %s of %s: %s", entry, reader.path, error)


def _from_payload(
    payload: Any, kind: Literal["episodes", "sessions"], version: str, path: Path
) -> _Base | None:
    classes = {"episodes": EpisodeFacts, "sessions": SessionFacts}
    try:
        return _Base(
            version,
            DataState.from_json(payload["state"]),
            _facts_from_json(payload["facts"], classes[kind]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error) as error:
        log.warning("ignoring the stored %s facts of %s: %s", kind, path, error)
        return None


def _state(reader: Reader, version: str) -> DataState:
    """The state of this version, read once for both kinds of facts."""
    key = (str(reader.path), cache.scope_key(reader))  # the scope's team codes are in it
    with _last_lock:
        known = _states.get(key)
    if known is not None and known[0] == version:
        return known[1]
    state = read_state(reader)
    with _last_lock:
        _states[key] = (version, state)
    return state


def _changes(reader: Reader, base: _Base, state: DataState) -> TeamChanges | None:
    """What changed since ``base`` (asked once for both kinds of facts of a version)."""
    key = (str(reader.path), cache.scope_key(reader), base.version, repr(state))
    with _last_lock:
        if key in _team_changes:
            return _team_changes[key]
    changes = changed_teams(reader, base.state, state)
    with _last_lock:
        _team_changes.clear()  # only the latest pair is asked twice
        _team_changes[key] = changes
    return changes


def clear_memory() -> None:
    """Forget the facts this process keeps to bring forward (the files stay; tests use this)."""
    with _last_lock:
        _last.clear()
        _states.clear()
        _team_changes.clear()


def _remember(memory_key: tuple[str, str, str], base: _Base) -> None:
    with _last_lock:
        _last[memory_key] = base


def _brought_forward(
    reader: Reader,
    kind: Literal["episodes", "sessions"],
    key: dict[str, Any],
    memory_key: tuple[str, str, str],
    state: DataState,
    compute: Callable[[Sequence[str] | None], EpisodeFacts | SessionFacts],
) -> EpisodeFacts | SessionFacts | None:
    """The facts of an older version with the changed teams read again; None: read them all."""
    with _last_lock:
        base = _last.get(memory_key)
    if base is None:
        found = cache.load_latest_json(reader, f"service_{kind}", key)
        if found is not None:
            base = _from_payload(found[0], kind, found[1], reader.path)
    if base is None:
        return None
    changes = _changes(reader, base, state)
    if changes is None:
        return None
    teams = changes.episode_teams if kind == "episodes" else changes.session_teams
    if not teams:
        return base.facts
    names = sorted(teams)
    codes = np.array([i for i, team in enumerate(team_codes(state)) if team in teams])
    return merge_facts(base.facts, codes, compute(names))


def stored_episode_facts(reader: Reader, config: ClinicalConfig) -> EpisodeFacts:
    """The closed client-episodes' facts (:func:`.facts.episode_facts`), stored or computed."""
    facts = _stored_facts(
        reader, "episodes", config, lambda teams: episode_facts(reader, config, team_ids=teams)
    )
    assert isinstance(facts, EpisodeFacts)
    return facts


def stored_session_facts(reader: Reader) -> SessionFacts:
    """The client-rated sessions' facts (:func:`.facts.session_facts`), stored or computed."""
    facts = _stored_facts(
        reader, "sessions", None, lambda teams: session_facts(reader, team_ids=teams)
    )
    assert isinstance(facts, SessionFacts)
    return facts


def warm_facts(reader: Reader, *, config: ClinicalConfig = DEFAULT_CONFIG) -> list[str]:
    """Aggregate and store the service page's facts now.

    For a writer to call after it replaced the database (like :func:`fitdata.jobs.warm`),
    so that not even the first service page after an import aggregates the sessions.

    Returns:
        What was stored, one line each, for the writer's log.
    """
    _store_now.active = True  # a writer's process may end right after: store before returning
    try:
        episodes = stored_episode_facts(reader, config)
        sessions = stored_session_facts(reader)
    finally:
        _store_now.active = False
    return [
        f"service page facts: {len(episodes.rows.client):,} closed client-episodes, "
        f"{len(sessions.rows.client):,} client-month rows of sessions"
    ]
