"""Shared fixtures: databases generated from a fixed seed into temporary folders."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.builders import build_tiny_db

#: A fixed "today" for generated data, so every run sees the same database.
DEMO_END = dt.date(2026, 10, 31)
DEMO_SEED = 7

#: Servers told to stop whose exit is awaited in a thread (see :func:`stop_in_background`).
_STOPPING: list[threading.Thread] = []


def stop_in_background(
    process: subprocess.Popen, timeout: float, then: Callable[[], None] | None = None
) -> None:
    """SIGTERM ``process`` now; wait for its exit (kill after ``timeout`` s) in a thread.

    A stopping ``fitdata serve`` first shuts its kernels down, several seconds spent mostly
    waiting, and no test looks at a server after its fixture's teardown (each has its own
    port, database copy and log), so the next test runs meanwhile instead of waiting.
    ``then`` runs after the exit (closing the log). The session ends only when all have
    exited (:func:`_stopped_servers_have_exited`): no server outlives the run.
    """
    process.terminate()

    def reap() -> None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        finally:
            if then is not None:
                then()

    thread = threading.Thread(target=reap, name=f"stop-{process.pid}", daemon=True)
    thread.start()
    _STOPPING.append(thread)


@pytest.fixture(scope="session", autouse=True)
def _stopped_servers_have_exited() -> Iterator[None]:
    """Set up first, torn down last: wait for every server stopped in the background."""
    yield
    for thread in _STOPPING:
        thread.join()


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
