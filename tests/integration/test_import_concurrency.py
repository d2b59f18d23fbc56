"""Dashboards reading while imports write: no lock error, no lost rows, never half an import."""

import multiprocessing
import shutil

import pytest

from fitdata.data.store import check_database, reader_for, write_transaction
from tests.integration import import_workers

pytestmark = pytest.mark.slow


def test_readers_keep_reading_while_two_importers_write(tiny_db, tmp_path) -> None:
    path = tmp_path / "shared.duckdb"
    shutil.copyfile(tiny_db, path)
    with write_transaction(path) as con:  # the files' team, so the imports need no --service
        con.execute("INSERT INTO teams VALUES ('T-0001', 'Ungdomsteamet', 'Barn og unge')")
    start = int(reader_for(path).rows("SELECT count(*) FROM sessions")[0][0])
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    files, sessions_each = 4, 25  # five clients of five sessions per file
    context = multiprocessing.get_context("spawn")
    with context.Pool(5) as pool:
        stop = tmp_path / "stop"
        readers = [
            pool.apply_async(import_workers.read_until_stopped, (str(path), str(stop), 240.0))
            for _ in range(3)
        ]
        importers = [
            pool.apply_async(
                import_workers.import_repeatedly, (str(path), str(f), files, sessions_each)
            )
            for f in folders
        ]
        imported = [i.get(timeout=300) for i in importers]
        stop.touch()
        seen = [r.get(timeout=300) for r in readers]

    for result in seen:
        assert result["errors"] == [], result["errors"][:3]
        assert result["queries"] > 20
        assert result["counts"] == sorted(result["counts"]), "a reader went back in time"
        # every count a reader saw is the start plus whole files: never half an import
        assert all((c - start) % sessions_each == 0 for c in result["counts"])
    assert any(len(set(r["counts"])) > 1 for r in seen), "the readers saw no import happen"
    assert imported == [files * sessions_each] * 2
    final = int(reader_for(path).rows("SELECT count(*) FROM sessions")[0][0])
    assert final == start + sum(imported), "an import was lost"
    assert check_database(path).ok
