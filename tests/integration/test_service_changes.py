"""Facts brought forward team by team after a write equal the facts read afresh.

Random registrations, later SRS, corrections (of dates and scores), new clients and episode
endings, each through :mod:`fitdata.features.registration` as the page makes them, from a fixed
seed; after each, the service page's facts brought forward from the previous version
(:mod:`fitdata.features.service.changes`) are compared, array for array, with the facts read
from the whole file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.data import access, store
from fitdata.data.cache import cache_dir
from fitdata.data.store import reader_for
from fitdata.features import registration as reg
from fitdata.features.registration_rules import Correction, NewClient, Registration, Scores
from fitdata.features.service import (
    ServiceFilters,
    SummaryCache,
    parse_period,
    service_summary,
    stored,
)
from fitdata.features.service import facts as facts_module
from fitdata.features.service.changes import changed_teams, read_state
from fitdata.features.service.facts import Rows, episode_facts, session_facts

TODAY = dt.date(2027, 3, 31)  # after the demo's last day: every generated date is in the past


@pytest.fixture()
def db(demo_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    stored.clear_memory()
    return path


@pytest.fixture()
def recorded(monkeypatch) -> list[tuple[str, object]]:
    """Every facts read of :mod:`.stored`: its kind and its teams (None: the whole file)."""
    calls: list[tuple[str, object]] = []

    def spy(kind, function):
        def wrapped(*args, team_ids=None, **kwargs):
            calls.append((kind, None if team_ids is None else sorted(team_ids)))
            return function(*args, team_ids=team_ids, **kwargs)

        return wrapped

    monkeypatch.setattr(stored, "episode_facts", spy("episodes", facts_module.episode_facts))
    monkeypatch.setattr(stored, "session_facts", spy("sessions", facts_module.session_facts))
    return calls


def _assert_equal(brought, fresh) -> None:
    for name, value in vars(fresh).items():
        other = getattr(brought, name)
        if isinstance(value, Rows):
            for column, array in vars(value).items():
                np.testing.assert_array_equal(getattr(other, column), array, err_msg=column)
        elif isinstance(value, dict):
            assert other.keys() == value.keys()
            for column, array in value.items():
                np.testing.assert_array_equal(other[column], array, err_msg=column)
        else:
            np.testing.assert_array_equal(other, value, err_msg=name)


def _assert_brought_forward_equals_fresh(reader) -> None:
    _assert_equal(
        stored.stored_episode_facts(reader, DEFAULT_CONFIG), episode_facts(reader, DEFAULT_CONFIG)
    )
    _assert_equal(stored.stored_session_facts(reader), session_facts(reader))


def _open_episode(reader, rng: random.Random) -> tuple | None:
    rows = reader.rows(
        "SELECT e.episode_id, e.client_id, e.team_id, e.therapist_id, max(s.session_date) "
        "FROM episodes e JOIN sessions s ON s.episode_id = e.episode_id AND s.rater = 'client' "
        "AND s.client_id = e.client_id WHERE e.ended IS NULL GROUP BY ALL ORDER BY 1"
    )
    return rng.choice(rows) if rows else None


def _random_write(path: Path, rng: random.Random, step: int) -> str:
    """One random write the registration page could make; returns what it was."""
    reader = reader_for(path)
    kind = rng.choice(["session", "session", "new client", "srs", "correction", "end"])
    try:
        if kind in ("session", "end"):
            episode = _open_episode(reader, rng)
            if episode is None:
                return "nothing open"
            episode_id, client_id, team_id, therapist_id, last = episode
            day = last + dt.timedelta(days=rng.randint(0, 40))
            if kind == "end":
                end_type = rng.choice(["planned", "unplanned", "transferred"])
                reg.end_episode(path, episode_id, day, end_type, today=TODAY)
            else:
                ors = Scores.from_total(round(rng.uniform(5, 38), 1))
                registration = Registration(team_id, therapist_id, client_id, episode_id, day, ors)
                reg.save_session(path, registration, today=TODAY)
        elif kind == "new client":
            team_id, therapist_id = rng.choice(
                reader.rows("SELECT team_id, therapist_id FROM therapists ORDER BY 2")
            )
            client = NewClient(f"K-RAND{step:03d}", rng.choice(["child", "adolescent", "adult"]))
            ors = Scores.from_items(*(round(rng.uniform(0, 10), 1) for _ in range(4)))
            registration = Registration(
                team_id, therapist_id, "", None, TODAY - dt.timedelta(days=3), ors, None, client
            )
            reg.save_session(path, registration, today=TODAY)
        else:
            sessions = reader.rows(
                "SELECT session_id, session_date FROM sessions WHERE rater = 'client' "
                + ("AND srs_total IS NULL " if kind == "srs" else "")
                + "ORDER BY session_id"
            )
            session_id, day = rng.choice(sessions)
            srs = Scores.from_total(round(rng.uniform(20, 40), 1))
            if kind == "srs":
                reg.add_srs(path, session_id, srs, actor="test")
            else:
                moved = day + dt.timedelta(days=rng.choice([-40, -3, 0, 2, 35]))
                ors = Scores.from_total(round(rng.uniform(5, 38), 1))
                correction = Correction(moved, ors, srs, "typed the wrong value")
                reg.correct_session(path, session_id, correction, actor="test", today=TODAY)
    except reg.RegistrationError:
        return f"{kind} refused"
    return kind


def test_random_writes_bring_the_facts_forward_equal_to_a_full_read(db, recorded) -> None:
    reader = reader_for(db)
    _assert_brought_forward_equals_fresh(reader)  # the first version: read whole
    assert [teams for _, teams in recorded] == [None, None]
    rng = random.Random(19)
    done = []
    for step in range(24):
        done.append(_random_write(db, rng, step))
        recorded.clear()
        _assert_brought_forward_equals_fresh(reader)
        assert all(teams is not None for _, teams in recorded), (done[-1], recorded)
        assert all(len(teams) <= 2 for _, teams in recorded), recorded
    # The seed made every kind of write, and most were saved.
    assert {"session", "new client", "srs", "correction", "end"} <= set(done), done
    assert sum("refused" in d for d in done) <= 8, done


def test_a_new_kernel_brings_the_stored_facts_of_an_older_version_forward(db, recorded) -> None:
    reader = reader_for(db)
    stored.stored_episode_facts(reader, DEFAULT_CONFIG)
    stored.stored_session_facts(reader)
    rng = random.Random(3)
    while _random_write(db, rng, 0) not in ("session", "end"):
        pass
    stored.clear_memory()  # a new kernel: nothing in memory, the older version's files beside
    recorded.clear()
    _assert_brought_forward_equals_fresh(reader)
    assert all(teams is not None for _, teams in recorded[:2]), recorded


def test_a_write_it_cannot_attribute_reads_everything_again(db, recorded) -> None:
    reader = reader_for(db)
    _assert_brought_forward_equals_fresh(reader)
    before = read_state(reader)
    # A client's age group changed in place: no fitdata writer does it, and no team says so.
    with store.write_transaction(db) as con:
        con.execute(
            "UPDATE clients SET age_group = CASE age_group WHEN 'adult' THEN 'adolescent' "
            "ELSE 'adult' END WHERE client_id = (SELECT min(client_id) FROM clients)"
        )
    assert changed_teams(reader, before, read_state(reader)) is None
    recorded.clear()
    _assert_brought_forward_equals_fresh(reader)
    assert recorded == [("episodes", None), ("sessions", None)]

    # A session removed: its count at or below the old largest id differs.
    before = read_state(reader)
    with store.write_transaction(db) as con:
        con.execute(
            "DELETE FROM sessions WHERE session_id = (SELECT min(session_id) FROM sessions)"
        )
    assert changed_teams(reader, before, read_state(reader)) is None


def test_another_configuration_is_brought_forward_on_its_own(db) -> None:
    reader = reader_for(db)
    stricter = dataclasses.replace(DEFAULT_CONFIG, ors_reliable_change=6.0)
    for config in (DEFAULT_CONFIG, stricter):
        stored.stored_episode_facts(reader, config)
    _random_write(db, random.Random(5), 0)
    for config in (DEFAULT_CONFIG, stricter):
        _assert_equal(stored.stored_episode_facts(reader, config), episode_facts(reader, config))


def test_a_scoped_reader_brings_forward_only_what_its_scope_sees(db) -> None:
    access.add_user(db, "sigrid", "supervisor", team_ids=["T03"])
    access.add_user(db, "lena", "leader")
    readers = [access.reader_for_user(db, "sigrid"), access.reader_for_user(db, "lena")]
    for reader in readers:
        _assert_brought_forward_equals_fresh(reader)
    teams = {str(t) for (t,) in readers[0].rows("SELECT DISTINCT team_id FROM episodes")}
    assert teams == {"T03"}
    rng = random.Random(11)
    for step in range(8):
        _random_write(db, rng, step)
        for reader in readers:
            _assert_brought_forward_equals_fresh(reader)
    # The supervisor's facts hold her team's cells only, also after the writes elsewhere.
    team_ids = list(stored.stored_episode_facts(readers[0], DEFAULT_CONFIG).team_ids)
    for facts in (
        stored.stored_episode_facts(readers[0], DEFAULT_CONFIG),
        stored.stored_session_facts(readers[0]),
    ):
        assert set(facts.cell_team.tolist()) == {team_ids.index("T03")}
        assert set(facts.rows.team.tolist()) == {team_ids.index("T03")}
    assert cache_dir(db).exists()


def test_a_supervisor_given_another_team_never_keeps_the_old_teams_facts(db) -> None:
    access.add_user(db, "sigrid", "supervisor", team_ids=["T03"])
    before = access.reader_for_user(db, "sigrid")
    _assert_brought_forward_equals_fresh(before)
    access.remove_user(db, "sigrid")
    access.add_user(db, "sigrid", "supervisor", team_ids=["T05"])  # the same scope name
    after = access.reader_for_user(db, "sigrid")
    _assert_brought_forward_equals_fresh(after)
    facts = stored.stored_session_facts(after)
    team_ids = list(stored.stored_episode_facts(after, DEFAULT_CONFIG).team_ids)
    assert set(facts.rows.team.tolist()) == {team_ids.index("T05")}


def test_an_import_into_most_teams_reads_everything_again(db, recorded) -> None:
    reader = reader_for(db)
    _assert_brought_forward_equals_fresh(reader)
    before = read_state(reader)
    with store.write_transaction(db) as con:  # what an import appends: a session in every team
        con.execute(
            "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
            "session_date, session_no, rater, ors_total) "
            "SELECT (SELECT max(session_id) FROM sessions) + row_number() OVER (), "
            "episode_id, client_id, therapist_id, team_id, started + 200, 99, 'client', 20.0 "
            "FROM (SELECT * FROM episodes WHERE ended IS NULL QUALIFY "
            "row_number() OVER (PARTITION BY team_id ORDER BY episode_id) = 1)"
        )
    assert changed_teams(reader, before, read_state(reader)) is None
    recorded.clear()
    _assert_brought_forward_equals_fresh(reader)
    assert recorded == [("episodes", None), ("sessions", None)]


def test_many_changed_episodes_count_their_teams_as_changed(db, monkeypatch) -> None:
    from fitdata.features.service import changes

    monkeypatch.setattr(changes, "MAX_LISTED_EPISODES", 0)  # every episode list is "too long"
    reader = reader_for(db)
    _assert_brought_forward_equals_fresh(reader)
    rng = random.Random(23)
    for step in range(6):
        _random_write(db, rng, step)
        _assert_brought_forward_equals_fresh(reader)


def test_a_kernels_summary_after_random_writes_equals_one_computed_afresh(db) -> None:
    # The kernel's cache keeps the tables computed from facts a write left as they were
    # (SummaryCache.derived); whatever it kept, the page must show what a fresh summary shows.
    reader = reader_for(db)
    cache = SummaryCache()
    periods = [parse_period(p) for p in ("2026", "2026Q3", "2026-10")]
    teams = [None, *reader.df("SELECT team_id FROM teams ORDER BY 1")["team_id"][:2]]
    rng = random.Random(7)
    kept = 0
    for step in range(10):
        _random_write(db, rng, step)
        for filters in (ServiceFilters(p, team_id=t) for p in periods for t in teams):
            before = cache.misses
            cached = service_summary(reader, filters, cache=cache)
            kept += cache.misses - before < 5  # not everything was computed again
            fresh = service_summary(reader, filters)
            for name in ("headline", "trend", "teams", "completeness_team"):
                got, want = getattr(cached, name), getattr(fresh, name)
                assert got.equals(want), (step, filters, name)
    assert kept  # the cache did keep parts across writes, so the comparison tested something
