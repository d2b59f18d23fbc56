"""The service page's facts stored beside the database, so a new kernel need not aggregate.

A new kernel does not aggregate the sessions again: the facts of :mod:`.facts` are stored in
``<db>.cache/`` through :mod:`fitdata.data.cache` and read back in a fraction of a second;
:func:`warm_facts` stores them right after a write. An entry is used only while everything that
could change it is the same: the database version, the reader's access scope, the clinical
configuration (episodes), the layout (:data:`FACTS_FORMAT`) and the code — the source of every
module in :data:`FACTS_CODE_MODULES`, which must name each module whose code computes the
stored facts (``tests/unit/test_service_stored.py`` reads the imports and checks it does).
"""

from __future__ import annotations

import base64
import importlib
import logging
import zlib
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import cache
from fitdata.data.store import Reader
from fitdata.features.service.facts import (
    EpisodeFacts,
    Rows,
    SessionFacts,
    episode_facts,
    session_facts,
)

__all__ = [
    "FACTS_CODE_MODULES",
    "FACTS_FORMAT",
    "facts_code",
    "stored_episode_facts",
    "stored_session_facts",
    "warm_facts",
]

log = logging.getLogger(__name__)

#: Version of the stored facts' layout; bump it when the fields of the facts change.
FACTS_FORMAT = 1

#: Every module whose code computes the stored facts (part of the key: changed code, new entry).
FACTS_CODE_MODULES = (
    "fitdata.features.service.facts",
    "fitdata.features.service.stored",
    "fitdata.analytics.outcomes",
    "fitdata.analytics.change",
    "fitdata.config",
    "fitdata.vocabulary",
)


def _array_to_json(array: np.ndarray) -> dict[str, Any] | list[Any]:
    if array.dtype == object:  # team ids and services: a few hundred strings
        return [None if v is None else str(v) for v in array.tolist()]
    data = zlib.compress(np.ascontiguousarray(array).tobytes(), 1)
    return {"dtype": array.dtype.str, "zlib": base64.b64encode(data).decode("ascii")}


def _array_from_json(value: dict[str, Any] | list[Any]) -> np.ndarray:
    if isinstance(value, list):
        return np.array(value, dtype=object)
    data = zlib.decompress(base64.b64decode(value["zlib"]))
    return np.frombuffer(data, dtype=np.dtype(value["dtype"]))


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


def _stored_facts(
    reader: Reader,
    kind: Literal["episodes", "sessions"],
    config: ClinicalConfig | None,
    compute: Callable[[], EpisodeFacts | SessionFacts],
) -> EpisodeFacts | SessionFacts:
    """The facts from ``<db>.cache/`` when stored for this file version, else computed (and stored).

    The entry holds per-cell sums and integer codes (no client or episode ids) that are *not*
    suppressed: like the database beside it, whose file mode it copies, it is for the
    dashboards' own kernels only.
    """
    entry = f"service_{kind}"
    classes = {"episodes": EpisodeFacts, "sessions": SessionFacts}
    key = {
        "config": None if config is None else repr(config),
        "code": facts_code(),
        "format": FACTS_FORMAT,
    }
    try:
        version = cache.database_version(reader.path)
    except OSError:  # not a plain file: nothing is stored
        return compute()
    payload = cache.load_json(reader, entry, key, version=version)
    if payload is not None:
        try:
            return _facts_from_json(payload, classes[kind])
        except (ValueError, KeyError, TypeError, zlib.error) as error:
            log.warning("ignoring the stored %s facts of %s: %s", kind, reader.path, error)
    facts = compute()
    cache.store_json(reader, entry, key, _facts_to_json(facts), version)
    return facts


def stored_episode_facts(reader: Reader, config: ClinicalConfig) -> EpisodeFacts:
    """The closed client-episodes' facts (:func:`.facts.episode_facts`), stored or computed."""
    facts = _stored_facts(reader, "episodes", config, lambda: episode_facts(reader, config))
    assert isinstance(facts, EpisodeFacts)
    return facts


def stored_session_facts(reader: Reader) -> SessionFacts:
    """The client-rated sessions' facts (:func:`.facts.session_facts`), stored or computed."""
    facts = _stored_facts(reader, "sessions", None, lambda: session_facts(reader))
    assert isinstance(facts, SessionFacts)
    return facts


def warm_facts(reader: Reader, *, config: ClinicalConfig = DEFAULT_CONFIG) -> list[str]:
    """Aggregate and store the service page's facts now.

    For a writer to call after it replaced the database (like :func:`fitdata.jobs.warm`),
    so that not even the first service page after an import aggregates the sessions.

    Returns:
        What was stored, one line each, for the writer's log.
    """
    episodes = stored_episode_facts(reader, config)
    sessions = stored_session_facts(reader)
    return [
        f"service page facts: {len(episodes.rows.client):,} closed client-episodes, "
        f"{len(sessions.rows.client):,} client-month rows of sessions"
    ]
