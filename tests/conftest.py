"""Shared fixtures: databases generated from a fixed seed into temporary folders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.builders import build_tiny_db

#: A fixed "today" for generated data, so every run sees the same database.
DEMO_END = dt.date(2026, 10, 31)
DEMO_SEED = 7


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five hand-made clients covering the client graph's edge cases (see tests/builders.py)."""
    return build_tiny_db(tmp_path_factory.mktemp("tiny") / "tiny.duckdb")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default-size demo database (about 20,000 sessions)."""
    from fitdata.demo import generate_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    generate_demo(path, seed=DEMO_SEED, end_date=DEMO_END)
    return path


@pytest.fixture(scope="session")
def development_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hand-made therapist development data (see tests/integration/development_db.py)."""
    from tests.integration.development_db import build_development_db

    return build_development_db(tmp_path_factory.mktemp("development") / "development.duckdb")
