"""The persistent model cache: same model after loading, never a stale, foreign or broken one."""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata import jobs
from fitdata.analytics.trajectory import TrajectoryModel, fit_trajectories
from fitdata.config import DEFAULT_CONFIG
from fitdata.data import cache
from fitdata.data.store import reader_for, write_transaction
from fitdata.features import expected_trajectory


@pytest.fixture()
def db(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database (the cache folder is written beside it)."""
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    expected_trajectory.clear_memory()
    yield path
    expected_trajectory.clear_memory()


class CountingFit:
    """fit_trajectories, counting its calls."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, reader, **params) -> TrajectoryModel:
        self.calls.append(params)
        return fit_trajectories(reader, **params)


def entries(db: Path) -> list[Path]:
    return sorted(cache.cache_dir(db).glob("trajectory-*.json"))


def assert_same_model(a: TrajectoryModel, b: TrajectoryModel) -> None:
    pd.testing.assert_frame_equal(a.grid, b.grid, check_exact=True)
    for got, want in zip(a.expected_grid(), b.expected_grid(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert a == b  # every field but the grid (which is compared above)
    sessions = pd.DataFrame(
        {
            "intake": np.tile([3.5, 12.0, 19.9, 27.3, 38.0, np.nan], 15),
            "session_no": np.arange(90) + 1,
        }
    )
    pd.testing.assert_frame_equal(a.predict_many(sessions), b.predict_many(sessions))


def test_to_dict_and_back_through_json_gives_the_same_model(demo_db: Path) -> None:
    model = fit_trajectories(reader_for(demo_db))
    text = json.dumps(model.to_dict())
    assert_same_model(TrajectoryModel.from_dict(json.loads(text)), model)
    with pytest.raises(ValueError, match="not a stored trajectory model"):
        TrajectoryModel.from_dict({"grid": {}})


def test_second_kernel_loads_the_stored_model_instead_of_fitting(db: Path) -> None:
    fit = CountingFit()
    reader = reader_for(db)
    first = expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 1 and len(entries(db)) == 1
    assert expected_trajectory.trajectory_model(reader, fit=fit) is first  # same kernel: memory

    expected_trajectory.clear_memory()  # a new kernel
    loaded = expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 1, "the stored model should have been used"
    assert loaded is not first
    assert_same_model(loaded, first)
    assert_same_model(loaded, fit_trajectories(reader))


def test_every_fit_parameter_is_part_of_the_key(db: Path) -> None:
    fit = CountingFit()
    reader = reader_for(db)
    default = expected_trajectory.trajectory_model(reader, fit=fit)
    variants = [
        {"lower_percentile": 0.1},
        {"min_episodes": 10},
        {"band_width": 5.0},
        {"max_session": 8},
        {"team_id": "T01"},
        {"age_group": "adult"},
        {"episode_ids": [f"E{i:07d}" for i in range(1, 400)]},
    ]
    for params in variants:
        expected_trajectory.clear_memory()
        model = expected_trajectory.trajectory_model(reader, fit=fit, **params)
        assert fit.calls[-1] == {**fit.calls[0], **params}, params
        assert_same_model(model, fit_trajectories(reader, **params))
    assert len(fit.calls) == 1 + len(variants)
    assert len(entries(db)) == 1 + len(variants)
    expected_trajectory.clear_memory()
    assert_same_model(expected_trajectory.trajectory_model(reader, fit=fit), default)
    assert len(fit.calls) == 1 + len(variants)


def _end_open_episodes(db: Path, count: int) -> None:
    with write_transaction(db) as con:
        con.execute(
            "UPDATE episodes SET ended = started + INTERVAL 90 DAY, end_type = 'planned' "
            "WHERE episode_id IN (SELECT episode_id FROM episodes WHERE ended IS NULL "
            "ORDER BY episode_id LIMIT ?)",
            [count],
        )


def _closed(db: Path) -> int:
    return int(reader_for(db).rows("SELECT count(*) FROM episodes WHERE ended IS NOT NULL")[0][0])


def test_a_write_keeps_the_fit_until_enough_new_closed_episodes_exist(db: Path) -> None:
    fit = CountingFit()
    reader = reader_for(db)
    before = expected_trajectory.trajectory_model(reader, fit=fit)
    old_entries = entries(db)
    with write_transaction(db) as con:  # a write that changes values, not the closed episodes
        con.execute(
            "UPDATE sessions SET ors_total = least(ors_total + 3, 40), "
            "ors_individual = NULL, ors_interpersonal = NULL, ors_social = NULL, "
            "ors_overall = NULL WHERE session_no = 4 AND ors_total IS NOT NULL"
        )
    expected_trajectory.clear_memory()  # a new kernel
    kept = expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 1  # not fitted again: the older version's fit, stored anew
    assert_same_model(kept, before)
    assert entries(db) != old_entries and len(entries(db)) == 1

    closed = _closed(db)
    share = expected_trajectory.REFIT_NEW_CLOSED_SHARE
    needed = math.ceil(share * closed)  # closed episodes more than the fit rests on
    _end_open_episodes(db, needed - 1)  # just under the rule: still kept
    assert_same_model(expected_trajectory.trajectory_model(reader, fit=fit), before)
    assert len(fit.calls) == 1
    _end_open_episodes(db, 1)  # the 5 % reached, counted from the fit's own closed episodes
    assert _closed(db) - closed == needed
    after = expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 2
    assert not after.grid.equals(before.grid)
    assert_same_model(after, fit_trajectories(reader))


def test_a_fit_older_than_the_refit_days_is_fitted_again(db: Path, monkeypatch) -> None:
    fit = CountingFit()
    reader = reader_for(db)
    expected_trajectory.trajectory_model(reader, fit=fit)
    _end_open_episodes(db, 1)
    expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 1
    days = expected_trajectory.REFIT_AFTER_DAYS
    now = expected_trajectory.time.time()
    monkeypatch.setattr(expected_trajectory.time, "time", lambda: now + days * 86400 + 1)
    _end_open_episodes(db, 1)
    expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 2


def test_same_inode_rewritten_in_place_is_not_taken_for_the_old_file(db: Path) -> None:
    """A program that overwrites the file in place keeping its size and time: header differs."""
    reader = reader_for(db)
    before = cache.database_version(db)
    status = os.stat(db)
    with open(db, "r+b") as handle:
        handle.seek(4096 + 100)
        byte = handle.read(1)
        handle.seek(4096 + 100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(db, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert os.stat(db).st_ino == status.st_ino and os.stat(db).st_size == status.st_size
    assert cache.database_version(db) != before
    reader.close()


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_text('{"key": {"kind": "trajec', encoding="utf-8"),
        lambda path: path.write_bytes(b"\x00\xff" * 100),
        lambda path: path.write_text("[]", encoding="utf-8"),
        lambda path: path.write_text(
            json.dumps({**json.loads(path.read_text()), "payload": {"fields": {}}}),
            encoding="utf-8",
        ),
    ],
    ids=["truncated", "binary", "not-an-entry", "broken-model"],
)
def test_a_corrupt_cache_file_is_ignored_and_rewritten(db: Path, damage) -> None:
    fit = CountingFit()
    reader = reader_for(db)
    first = expected_trajectory.trajectory_model(reader, fit=fit)
    (path,) = entries(db)
    damage(path)
    expected_trajectory.clear_memory()
    again = expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 2
    assert_same_model(again, first)
    stored = json.loads(path.read_text(encoding="utf-8"))  # rewritten, whole
    assert_same_model(TrajectoryModel.from_dict(stored["payload"]), first)


def test_a_file_written_for_another_key_is_never_used(db: Path) -> None:
    """Even under the right name: the full key inside the file is compared."""
    fit = CountingFit()
    reader = reader_for(db)
    expected_trajectory.trajectory_model(reader, fit=fit)
    (path,) = entries(db)
    stored = json.loads(path.read_text(encoding="utf-8"))
    stored["key"]["key"]["min_episodes"] = 5
    path.write_text(json.dumps(stored), encoding="utf-8")
    expected_trajectory.clear_memory()
    expected_trajectory.trajectory_model(reader, fit=fit)
    assert len(fit.calls) == 2


def test_the_cache_file_holds_no_client_or_episode_identities(db: Path) -> None:
    reader = reader_for(db)
    expected_trajectory.trajectory_model(reader, episode_ids=["E0000001", "E0000002", "E0000003"])
    expected_trajectory.trajectory_model(reader)
    text = "".join(p.read_text(encoding="utf-8") for p in entries(db))
    codes = reader.df("SELECT client_id FROM clients UNION ALL SELECT episode_id FROM episodes")
    names = reader.df("SELECT name FROM therapists")
    found = [v for v in [*codes.iloc[:, 0], *names["name"]] if f'"{v}"' in text]
    assert found == []


def test_an_unwritable_folder_still_gives_the_model(db: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError("read-only share")

    monkeypatch.setattr(cache.tempfile, "mkstemp", refuse)
    fit = CountingFit()
    model = expected_trajectory.trajectory_model(reader_for(db), fit=fit)
    assert len(fit.calls) == 1 and entries(db) == []
    assert_same_model(model, fit_trajectories(reader_for(db)))


def test_concurrent_readers_never_see_half_a_file(db: Path) -> None:
    """Writers replace the file whole while other threads keep loading it."""
    reader = reader_for(db)
    model = expected_trajectory.trajectory_model(reader)
    key = expected_trajectory.fit_key(
        lower_percentile=0.25,
        min_episodes=30,
        band_width=4.0,
        max_session=12,
        episode_ids=None,
        team_id=None,
        age_group=None,
    )
    version = cache.database_version(db)
    payload = model.to_dict()
    failures: list[str] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            cache.store_json(reader, "trajectory", key, payload, version)

    def read() -> None:
        for _ in range(200):
            loaded = cache.load_json(reader, "trajectory", key, version=version)
            if loaded is None or not TrajectoryModel.from_dict(loaded).grid.equals(model.grid):
                failures.append("missing or partial")

    writers = [threading.Thread(target=write) for _ in range(2)]
    for thread in writers:
        thread.start()
    try:
        read()
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert failures == []
    assert [p.name for p in cache.cache_dir(db).iterdir() if p.suffix == ".tmp"] == []


def test_warm_stores_what_a_new_kernel_then_reads_without_computing(db: Path, monkeypatch) -> None:
    from fitdata.features import therapist_development
    from fitdata.features.service import couples
    from fitdata.features.therapist_development import comparison

    done = jobs.warm(db)
    services = reader_for(db).df("SELECT DISTINCT service FROM teams")["service"]
    assert len(done) == 1 + len(services) + 2 and done[-2].startswith("service page facts")
    assert done[-1].startswith("couple outcomes")
    assert len(entries(db)) == 1
    assert len(list(cache.cache_dir(db).glob("development-*.json"))) == len(services)

    def refuse(*args, **kwargs):
        raise AssertionError("a new kernel computed instead of reading the stored result")

    monkeypatch.setattr(expected_trajectory, "fit_trajectories", refuse)
    monkeypatch.setattr(comparison, "_build_comparison", refuse)
    monkeypatch.setattr(couples, "couple_facts", refuse)
    expected_trajectory.clear_memory()
    therapist_development.clear_comparison_cache()
    reader = reader_for(db)
    assert_same_model(expected_trajectory.trajectory_model(reader), fit_trajectories(reader))
    for service in services:
        assert not therapist_development.service_comparison(reader, service).srs_profile.empty
    couples.stored_couple_facts(reader, DEFAULT_CONFIG)  # read from the folder, not computed
    therapist_development.clear_comparison_cache()


def test_cache_files_are_no_more_readable_than_the_database(db: Path) -> None:
    os.chmod(db, 0o600)
    expected_trajectory.trajectory_model(reader_for(db))
    (path,) = entries(db)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(cache.cache_dir(db)).st_mode & 0o077 == 0


def test_a_model_fitted_through_an_access_scope_is_kept_apart(db: Path) -> None:
    from fitdata.data.store import ReadScope

    fit = CountingFit()
    reader = reader_for(db)
    whole = expected_trajectory.trajectory_model(reader, fit=fit)
    team = reader.rows("SELECT team_id FROM teams ORDER BY team_id LIMIT 1")[0][0]
    scope = ReadScope(
        key=f"test-team-{team}",
        views=(("episodes", f"SELECT * FROM {{db}}.episodes WHERE team_id = '{team}'"),),
    )
    narrow = expected_trajectory.trajectory_model(reader.scoped(scope), fit=fit, min_episodes=1)
    assert len(fit.calls) == 2
    assert narrow.n_training_episodes < whole.n_training_episodes
    expected_trajectory.clear_memory()
    again = expected_trajectory.trajectory_model(reader.scoped(scope), fit=fit, min_episodes=1)
    assert len(fit.calls) == 2 and again.n_training_episodes == narrow.n_training_episodes
    unscoped = expected_trajectory.trajectory_model(reader, fit=fit, min_episodes=1)
    assert len(fit.calls) == 3 and unscoped.n_training_episodes == whole.n_training_episodes


def test_team_options_are_read_once_per_database_version_and_scope(db: Path, monkeypatch) -> None:
    from fitdata.data import queries, store
    from fitdata.data.store import ReadScope

    asked: list[str] = []
    for cls in (store.Reader, store._ScopedReader):
        real_df = cls.df

        def counting_df(self, sql, params=None, _real=real_df):
            asked.append(sql)
            return _real(self, sql, params)

        monkeypatch.setattr(cls, "df", counting_df)
    reader = reader_for(db)
    first = queries.team_options(reader)
    assert len(asked) == 1 and len(first) > 1
    pd.testing.assert_frame_equal(queries.team_options(reader), first)  # a new page, same file
    assert len(asked) == 1
    assert list(cache.cache_dir(db).glob("team_options-*.json"))

    team = first.team_id.iloc[0]
    scope = ReadScope(
        key=f"test-team-{team}",
        views=(("sessions", f"SELECT * FROM {{db}}.sessions WHERE team_id = '{team}'"),),
    )
    narrow = queries.team_options(reader.scoped(scope))  # another scope: its own teams
    assert len(asked) == 2 and narrow.team_id.tolist() == [team]
    assert narrow.clients.iloc[0] == first.clients.iloc[0]

    with write_transaction(db) as con:  # a new client-rated session in another team
        con.execute(
            "INSERT INTO sessions SELECT * REPLACE (client_id || '-new' AS client_id) "
            "FROM sessions WHERE rater = 'client' AND team_id = ? LIMIT 1",
            [first.team_id.iloc[1]],
        )
    changed = queries.team_options(reader)
    assert len(asked) == 3  # the file was replaced: counted again
    assert changed.clients.iloc[1] == first.clients.iloc[1] + 1


def test_team_options_are_counted_again_when_their_code_changes(db: Path, monkeypatch) -> None:
    from fitdata.data import queries

    reader = reader_for(db)
    queries.team_options(reader)
    stored = list(cache.cache_dir(db).glob("team_options-*.json"))
    monkeypatch.setattr(cache, "source_fingerprint", lambda *modules: "edited")
    queries.team_options(reader)  # an edited queries.py: a new entry, the old one unused
    assert set(cache.cache_dir(db).glob("team_options-*.json")) - set(stored)
