"""The service page's facts stored beside the database: a new kernel reads, not recomputes, them."""

from __future__ import annotations

import dataclasses
import importlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.data import cache
from fitdata.data.cache import cache_dir
from fitdata.data.store import reader_for
from fitdata.features.service import (
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
    warm_facts,
)
from fitdata.features.service.stored import FACTS_CODE_MODULES, clear_memory, facts_code
from tests.unit.test_layers import imports, read_modules
from tests.unit.test_service_equivalence import CountingReader


@pytest.fixture()
def db(demo_db, tmp_path) -> Path:
    """A copy of the demo database with an empty cache folder, and a kernel that starts afresh."""
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    clear_memory()
    return path


def _selections(db: Path) -> list[ServiceFilters]:
    options = filter_options(reader_for(db))
    period = parse_period(options["default_period"])
    return [
        ServiceFilters(period),
        ServiceFilters(period, team_id=options["teams"]["team_id"].iloc[2]),
        ServiceFilters(parse_period("2024Q1..2024Q3"), age_group="adult", format="individual"),
        ServiceFilters(parse_period("2025"), service=options["services"][0]),
    ]


def _assert_same(a, b) -> None:
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(a.completeness_team_trend, b.completeness_team_trend)
    assert a.team_model.keys() == b.team_model.keys()
    assert a.reading == b.reading


def test_a_new_kernel_reads_the_stored_facts_and_shows_the_same_numbers(db) -> None:
    reader = reader_for(db)
    selections = _selections(db)
    computed = [service_summary(reader, f, cache=SummaryCache()) for f in selections]
    stored = sorted(p.name.split("-")[0] for p in cache_dir(db).glob("service_*.json"))
    assert stored == ["service_episodes", "service_sessions"]

    for filters, first in zip(selections, computed, strict=True):
        counting = CountingReader(reader)  # a new kernel: an empty in-memory cache
        again = service_summary(counting, filters, cache=SummaryCache())
        assert counting.queries == 1  # the team names; no facts are aggregated again
        _assert_same(first, again)


def test_another_configuration_or_database_version_is_not_read(db) -> None:
    reader = reader_for(db)
    filters = _selections(db)[0]
    service_summary(reader, filters, cache=SummaryCache())

    stricter = dataclasses.replace(DEFAULT_CONFIG, min_cell_size=DEFAULT_CONFIG.min_cell_size + 5)
    counting = CountingReader(reader)
    service_summary(counting, filters, config=stricter, cache=SummaryCache())
    assert counting.queries == 3  # names, team codes and the episodes under the new config

    shutil.copyfile(db, db.with_suffix(".new"))  # a writer replaces the file: a new version
    db.with_suffix(".new").replace(db)
    clear_memory()  # a new kernel
    counting = CountingReader(reader_for(db))
    service_summary(counting, filters, cache=SummaryCache())
    # Names and the scope's team codes; the state and what changed since the older version
    # are read from the whole file (not through this reader): nothing changed, so the older
    # version's facts are brought forward as they are.
    assert counting.queries == 2


def test_a_damaged_entry_is_ignored_and_rewritten(db, caplog) -> None:
    reader = reader_for(db)
    filters = _selections(db)[1]
    first = service_summary(reader, filters, cache=SummaryCache())
    entry = next(cache_dir(db).glob("service_episodes-*.json"))
    text = entry.read_text()
    entry.write_text(text.replace('"zlib": "', '"zlib": "AAAA', 1))
    clear_memory()  # a new kernel
    again = service_summary(reader, filters, cache=SummaryCache())
    assert "ignoring the stored episodes facts" in caplog.text
    _assert_same(first, again)
    counting = CountingReader(reader)
    service_summary(counting, filters, cache=SummaryCache())
    assert counting.queries == 1  # rewritten: read again without aggregating


def test_the_stored_facts_hold_no_client_or_episode_id(db) -> None:
    reader = reader_for(db)
    service_summary(reader, _selections(db)[0], cache=SummaryCache())
    ids = reader.rows("SELECT client_id, episode_id FROM episodes")
    text = " ".join(p.read_text() for p in cache_dir(db).glob("service_*.json"))
    assert not [i for pair in ids for i in pair if f'"{i}"' in text]


def test_warming_stores_the_facts_for_the_first_page(db) -> None:
    reader = reader_for(db)
    (line,) = warm_facts(reader)
    assert "closed client-episodes" in line
    counting = CountingReader(reader)
    service_summary(counting, _selections(db)[0], cache=SummaryCache())
    assert counting.queries == 1


# --- the stored facts' code key covers every module that computes them ----------------------

#: Where the facts' code may live: the service package, the analytics and the foundation.
_FACTS_CODE_PREFIXES = (
    "fitdata.features.service",
    "fitdata.analytics",
    "fitdata.config",
    "fitdata.vocabulary",
)


def _facts_computation_modules() -> set[str]:
    """The modules the stored facts' computation imports, transitively, within the prefixes."""
    root = Path(__file__).resolve().parents[2]
    edges, _ = imports(read_modules(root), root)
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    start = "fitdata.features.service.stored"  # stores the facts; imports what computes them
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target.startswith(_FACTS_CODE_PREFIXES) and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_facts_key_fingerprints_every_module_that_computes_them() -> None:
    needed = _facts_computation_modules()
    assert {"fitdata.features.service.facts", "fitdata.vocabulary"} <= needed  # the walk works
    assert needed - set(FACTS_CODE_MODULES) == set()


@pytest.mark.parametrize("module", FACTS_CODE_MODULES)
def test_editing_a_fingerprinted_module_changes_the_key(module, monkeypatch) -> None:
    before = facts_code()
    source = Path(str(importlib.import_module(module).__file__))
    read_bytes = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = read_bytes(path)
        return data + b"\n# edited\n" if path == source else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert facts_code() != before


def test_a_kernel_does_not_read_facts_stored_by_other_code(db, monkeypatch) -> None:
    reader = reader_for(db)
    filters = _selections(db)[0]
    service_summary(reader, filters, cache=SummaryCache())
    source = Path(str(importlib.import_module("fitdata.vocabulary").__file__))
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read_bytes(path) + b"#" * (path == source))
    clear_memory()  # a new kernel
    counting = CountingReader(reader)
    service_summary(counting, filters, cache=SummaryCache())
    # Names, the state, team codes, episodes, sessions: aggregated again.
    assert counting.queries == 5


# --- after a write -------------------------------------------------------------------------


def _one_registration(db: Path) -> None:
    import datetime as dt

    from fitdata.features import registration as reg
    from fitdata.features.registration_rules import Registration, Scores

    (episode, client, team, therapist, last), *_ = reader_for(db).rows(
        "SELECT e.episode_id, e.client_id, e.team_id, e.therapist_id, max(s.session_date) "
        "FROM episodes e JOIN sessions s ON s.episode_id = e.episode_id AND s.rater = 'client' "
        "AND s.client_id = e.client_id WHERE e.ended IS NULL GROUP BY ALL ORDER BY 1"
    )
    day = last + dt.timedelta(days=7)
    registration = Registration(team, therapist, client, episode, day, Scores.from_total(21.0))
    reg.save_session(db, registration, today=day)


def test_warming_after_a_registration_stores_the_new_version_before_it_returns(db) -> None:
    reader = reader_for(db)
    warm_facts(reader)
    _one_registration(db)
    warm_facts(reader)  # brought forward, and stored at once: a writer's process may end now
    clear_memory()  # a new kernel
    counting = CountingReader(reader)
    service_summary(counting, _selections(db)[0], cache=SummaryCache())
    assert counting.queries == 1  # the team names; the facts of this version were stored


def test_a_kernel_stores_the_facts_it_brought_forward_a_moment_later(db, monkeypatch) -> None:
    import time

    from fitdata.features.service import stored

    monkeypatch.setattr(stored, "STORE_DELAY_SECONDS", 0.0)
    reader = reader_for(db)
    filters = _selections(db)[0]
    service_summary(reader, filters, cache=SummaryCache())
    _one_registration(db)
    first = service_summary(reader, filters, cache=SummaryCache())  # brought forward
    version_hash = cache.digest(cache.database_version(db))[:12]
    deadline = time.monotonic() + 20
    while len(list(cache_dir(db).glob(f"service_*-{version_hash}-*.json"))) < 2:
        assert time.monotonic() < deadline, "the brought-forward facts were never stored"
        time.sleep(0.05)
    time.sleep(0.2)  # the second file's replace is atomic, but let its thread finish
    clear_memory()  # a new kernel
    counting = CountingReader(reader)
    again = service_summary(counting, filters, cache=SummaryCache())
    assert counting.queries == 1
    _assert_same(first, again)
