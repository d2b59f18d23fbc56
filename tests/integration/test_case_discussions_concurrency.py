"""Case discussions recorded by several processes at once: each lands once with an id of its own,
and a refused one in the same batch writes nothing (issue 22; the group commit)."""

from __future__ import annotations

import multiprocessing
import shutil

from fitdata.data.store import check_database, reader_for
from tests.integration import case_discussion_workers


def test_discussions_recorded_at_once_each_land_once(tiny_db, tmp_path) -> None:
    path = tmp_path / "together.duckdb"
    shutil.copyfile(tiny_db, path)
    writers, each = 4, 6
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        jobs = [
            pool.apply_async(case_discussion_workers.record_many, (str(path), w, each))
            for w in range(writers)
        ]
        results = [job.get(timeout=300) for job in jobs]
    ids = sorted(i for r in results for i in r["ids"])
    assert [r["refused"] for r in results] == [1] * writers
    assert ids == list(range(1, writers * (each - 1) + 1))  # unique, none lost, none twice
    rows = reader_for(path).rows(
        "SELECT recorded_by, count(*) FROM case_discussions GROUP BY ALL ORDER BY ALL"
    )
    assert rows == [(f"writer{w}", each - 1) for w in range(writers)]
    unknown = "SELECT count(*) FROM case_discussions WHERE episode_id = 'E404'"
    assert reader_for(path).rows(unknown) == [(0,)]
    assert check_database(path).ok
    reader_for(path).close()
