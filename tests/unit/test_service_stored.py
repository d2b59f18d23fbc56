"""The service page's facts stored beside the database: a new kernel reads, not recomputes, them."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG
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
from tests.unit.test_service_equivalence import CountingReader


@pytest.fixture()
def db(demo_db, tmp_path) -> Path:
    """A copy of the demo database with an empty cache folder."""
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
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
    counting = CountingReader(reader_for(db))
    service_summary(counting, filters, cache=SummaryCache())
    assert counting.queries == 4  # names, team codes, episodes, sessions


def test_a_damaged_entry_is_ignored_and_rewritten(db, caplog) -> None:
    reader = reader_for(db)
    filters = _selections(db)[1]
    first = service_summary(reader, filters, cache=SummaryCache())
    entry = next(cache_dir(db).glob("service_episodes-*.json"))
    text = entry.read_text()
    entry.write_text(text.replace('"zlib": "', '"zlib": "AAAA', 1))
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
