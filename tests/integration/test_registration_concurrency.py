"""Dashboards reading while two therapists register: no lock error, no lost write."""

import multiprocessing
import shutil

import pytest

from fitdata.data.store import check_database, reader_for
from tests.integration import registration_workers

pytestmark = pytest.mark.slow


# Two therapists saving a dozen sessions each; and twenty at once, as when every session ends on
# the hour (their saves are group-committed: fitdata.data.group_commit).
@pytest.mark.parametrize(("n_writers", "sessions_each", "n_readers"), [(2, 12, 3), (20, 5, 2)])
def test_readers_while_processes_register_correct_and_add_srs(
    tiny_db, tmp_path, n_writers: int, sessions_each: int, n_readers: int
) -> None:
    path = tmp_path / "shared.duckdb"
    shutil.copyfile(tiny_db, path)
    reader = reader_for(path)
    start = int(reader.rows("SELECT count(*) FROM sessions")[0][0])
    context = multiprocessing.get_context("spawn")
    with context.Pool(n_readers + n_writers) as pool:
        readers = [
            pool.apply_async(registration_workers.read_like_dashboards, (str(path), 10.0))
            for _ in range(n_readers)
        ]
        writers = [
            pool.apply_async(registration_workers.register_sessions, (str(path), w, sessions_each))
            for w in range(n_writers)
        ]
        written = [w.get(timeout=300) for w in writers]
        seen = [r.get(timeout=300) for r in readers]

    for result in seen:
        assert result["errors"] == [], result["errors"][:3]
        # each round is four queries and usually a reopen of a replaced file, on 2 shared cores
        # with two writers busy: a few rounds a second
        assert result["queries"] > 5, result["queries"]
        assert result["counts"] == sorted(result["counts"]), "a reader went back in time"
        assert result["changes"] == sorted(result["changes"])
    assert any(len(set(r["counts"])) > 1 for r in seen), "the readers saw no write happen"

    # nothing lost: every session, every SRS added later and every correction landed
    assert sum(w["sessions"] for w in written) == n_writers * sessions_each
    total = start + n_writers * sessions_each
    assert int(reader.rows("SELECT count(*) FROM sessions")[0][0]) == total
    assert reader.rows("SELECT count(DISTINCT session_id) FROM sessions") == [(total,)]
    expected_changes = sum(w["changes"] for w in written)
    srs_later = len(range(0, sessions_each, 3))  # every third saved with the ORS only
    corrected = sessions_each // 5  # every fifth corrected
    assert expected_changes == n_writers * (srs_later + corrected)
    assert int(reader.rows("SELECT count(*) FROM session_changes")[0][0]) == expected_changes
    for w in written:
        numbers = reader.rows(
            "SELECT session_no FROM sessions WHERE episode_id = ? ORDER BY session_no",
            [w["episode"]],
        )
        assert [n for (n,) in numbers] == list(range(1, sessions_each + 1))
        missing_srs = reader.rows(
            "SELECT count(*) FROM sessions WHERE episode_id = ? AND srs_total IS NULL",
            [w["episode"]],
        )
        assert missing_srs == [(sessions_each // 5,)]  # only the corrected ones dropped it
    ids = reader.rows("SELECT count(DISTINCT change_id), count(*) FROM session_changes")
    assert ids[0][0] == ids[0][1]
    assert check_database(path).ok
    reader.close()


def test_couples_registered_at_once_get_both_partners_rows_every_time(tiny_db, tmp_path) -> None:
    path = tmp_path / "couples.duckdb"
    shutil.copyfile(tiny_db, path)
    n_writers, sessions = 6, 4
    context = multiprocessing.get_context("spawn")
    with context.Pool(n_writers + 1) as pool:
        reading = pool.apply_async(registration_workers.read_like_dashboards, (str(path), 6.0))
        writers = [
            pool.apply_async(registration_workers.register_couple, (str(path), w, sessions))
            for w in range(n_writers)
        ]
        couples = [w.get(timeout=300) for w in writers]
        seen = reading.get(timeout=300)
    assert seen["errors"] == [], seen["errors"][:3]
    reader = reader_for(path)
    for couple in couples:
        by_client = reader.rows(
            "SELECT client_id, list(session_no ORDER BY session_no), count(srs_total), "
            "count(DISTINCT session_date) FROM sessions WHERE episode_id = ? GROUP BY ALL "
            "ORDER BY client_id",
            [couple["episode"]],
        )
        assert by_client == [
            (couple["first"], list(range(1, sessions + 1)), sessions - 1, sessions),
            (couple["second"], list(range(1, sessions)), sessions - 1, sessions - 1),
        ]
        assert reader.rows(
            "SELECT role FROM episode_participants WHERE episode_id = ? ORDER BY role",
            [couple["episode"]],
        ) == [("index",), ("partner",)]
    changes = reader.rows("SELECT count(*), count(DISTINCT change_id) FROM session_changes")
    assert changes == [(2 * n_writers * (sessions - 1), 2 * n_writers * (sessions - 1))]
    assert check_database(path).ok
    reader.close()
