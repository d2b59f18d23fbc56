"""Access by role, enforced in the query layer: users, scoped readers, identity, audit log."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from fitdata.data import access, queries, store
from fitdata.data.access import AccessDenied
from fitdata.data.cache import MemoryCache
from fitdata.data.store import StoreError, reader_for
from fitdata.features import group_exercise, registration, team_review
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from fitdata.ui.context import DashboardContext
from tests.oracles.indices_sql import service_indices_sql

# tiny_db: B1 (team T2) has E1 K-ADULT1 and E2 K-ONE; B2 (T10) has E5 K-TEN;
# B3 (T3) has E3 K-TOTALS and E4 K-CHILD (with parent ratings).
B1_CLIENTS = {"K-ADULT1", "K-ONE"}
ALL_CLIENTS = {"K-ADULT1", "K-ONE", "K-TOTALS", "K-CHILD", "K-TEN"}
KARI_CASE = group_exercise.CaseRef("E1", "K-ADULT1", "T2")


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "access.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "ola", "therapist", therapist_id="B2")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T3", "T10"])
    access.add_user(path, "leder", "leader")
    access.add_user(path, "admin", "admin")
    yield path
    reader_for(path).close()


def clients_seen(reader) -> set[str]:
    return {r[0] for r in reader.rows("SELECT DISTINCT client_id FROM sessions")}


def _run(coroutine):
    """Run a coroutine to its end, also when this thread already runs an event loop (after the
    browser tests, Playwright's loop is running in the test thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# -- users ------------------------------------------------------------------------------------


def test_users_are_stored_with_their_role_and_who_added_them(db) -> None:
    users = {u.name: u for u in access.list_users(db)}
    assert set(users) == {"kari", "ola", "sigrid", "leder", "admin"}
    assert users["kari"].role == "therapist" and users["kari"].therapist_id == "B1"
    assert users["sigrid"].team_ids == ("T3", "T10")
    assert users["leder"].therapist_id is None and users["leder"].team_ids == ()
    assert users["admin"].created_by and users["admin"].created_at is not None


@pytest.mark.parametrize(
    ("name", "role", "kwargs", "message"),
    [
        ("kari", "admin", {}, "already a user 'kari'"),
        ("nils", "therapist", {}, "needs --therapist"),
        ("nils", "therapist", {"therapist_id": "B99"}, "no therapist 'B99'"),
        ("nils", "supervisor", {}, "at least one --team"),
        ("nils", "supervisor", {"team_ids": ["T2", "T77"]}, "no team 'T77'"),
        ("nils", "leader", {"team_ids": ["T2"]}, "--team is for the supervisor role only"),
        ("nils", "admin", {"therapist_id": "B1"}, "--therapist is for the therapist role"),
        ("nils", "boss", {}, "Unknown role 'boss'"),
        ("nils smith", "admin", {}, "not valid"),
    ],
)
def test_bad_users_are_refused_with_what_to_do(db, name, role, kwargs, message) -> None:
    before = db.read_bytes()
    with pytest.raises(StoreError, match=message):
        access.add_user(db, name, role, **kwargs)
    assert db.read_bytes() == before


def test_removing_a_user_takes_away_their_access(db) -> None:
    assert clients_seen(access.reader_for_user(db, "ola")) == {"K-TEN"}
    access.remove_user(db, "ola")
    with pytest.raises(AccessDenied, match="ola is not registered"):
        access.reader_for_user(db, "ola")
    with pytest.raises(StoreError, match="no user 'ola'"):
        access.remove_user(db, "ola")


def test_a_version_2_file_is_migrated_to_the_same_schema_as_a_new_one(tiny_db, tmp_path) -> None:
    old = tmp_path / "old.duckdb"
    shutil.copyfile(tiny_db, old)
    with store.write_transaction(old) as con:
        con.execute("DROP TABLE users")
        con.execute("DROP TABLE audit_anchor")  # version 4
        con.execute("UPDATE schema_version SET version = 2")
    assert store.migrate_database(old) == (2, store.SCHEMA_VERSION)
    new = tmp_path / "new.duckdb"
    with store.write_transaction(new, create=True):
        pass

    def schema(path):
        sql = (
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM duckdb_columns() ORDER BY table_name, column_index"
        )
        checks = (
            "SELECT table_name, constraint_type, expression FROM duckdb_constraints() ORDER BY ALL"
        )
        reader = reader_for(path)
        try:
            return reader.rows(sql), reader.rows(checks)
        finally:
            reader.close()

    assert schema(old) == schema(new)
    assert {"users", "audit_anchor"} <= {row[0] for row in schema(new)[0]}


# -- the key test: a therapist cannot reach another therapist's clients -----------------------


def test_a_therapist_sees_only_their_own_episodes_whatever_they_ask(db) -> None:
    kari = access.reader_for_user(db, "kari")
    assert clients_seen(kari) == B1_CLIENTS
    assert {r[0] for r in kari.rows("SELECT client_id FROM main.sessions")} == B1_CLIENTS
    assert {r[0] for r in kari.rows("SELECT client_id FROM clients")} == B1_CLIENTS
    assert {r[0] for r in kari.rows("SELECT episode_id FROM episodes")} == {"E1", "E2"}
    raw = kari.df("SELECT * FROM sessions")
    assert set(raw["therapist_id"]) == {"B1"} and len(raw) == 5
    # the package's functions, called directly with another therapist's ids
    assert queries.client_sessions(kari, "E5", "K-TEN").empty
    assert queries.client_episode_options(kari, "T10", "B2").empty
    with pytest.raises(StoreError, match="not in the clients table"):
        queries.client_profile(kari, "K-TEN")
    as_of = dt.date(2026, 1, 1)
    assert team_review.team_caseload(kari, team_id="T10", as_of=as_of).episodes.empty
    assert len(team_review.team_caseload(kari, team_id="T2", as_of=as_of).episodes) == 2
    other = group_exercise.CaseRef("E5", "K-TEN", "T10")
    assert group_exercise.case_sessions(kari, other)[0].empty
    assert registration.client_choices(kari, "T10", "B2").empty
    assert {t for t in queries.team_options(kari)["team_id"]} == {"T2"}
    # while the unrestricted reader sees everyone
    assert clients_seen(reader_for(db)) == ALL_CLIENTS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM access.main.sessions",
        "SELECT * FROM access.sessions",
        'SELECT * FROM "access"."main"."sessions"',
        "SELECT * FROM query_table('access.main.sessions')",
        "SELECT * FROM query('SELECT * FROM access.main.sessions')",
        "SELECT * FROM read_parquet('x.parquet')",
        "ATTACH 'other.duckdb' AS other",
        "DETACH access",
        "SET search_path = 'access.main'",
        "WITH t AS (SELECT * FROM access.main.clients) SELECT * FROM t",
        "SELECT * FROM 'sessions.csv'",
        "SELECT * FROM '/etc/passwd'",
    ],
)
def test_a_scoped_reader_refuses_queries_that_step_around_its_views(db, sql) -> None:
    kari = access.reader_for_user(db, "kari")
    with pytest.raises(StoreError, match="not allowed within the access scope therapist:kari"):
        kari.rows(sql)
    assert clients_seen(kari) == B1_CLIENTS  # and the reader still works


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM duckdb_tables",  # row counts of every table
        "SELECT path FROM duckdb_databases",  # where the file is
        "SELECT sql FROM duckdb_views",  # the scope's own views
        "SELECT * FROM duckdb_columns",
        "SELECT * FROM duckdb_constraints",
        "SELECT * FROM pragma_database_list",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM pg_tables",
        "SELECT * FROM pg_class",
        "SELECT * FROM pg_settings",
        "SELECT * FROM main.duckdb_views",
        "SELECT * FROM pg_catalog.pg_views",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM duckdb_settings()",
        "SELECT current_setting('temp_directory')",
        "SELECT current_database()",
        "SELECT * FROM sessions WHERE 0 < (SELECT count(*) FROM duckdb_views)",
        # a CTE named like a system view hides it only where the CTE is visible
        "SELECT * FROM (WITH duckdb_views AS (SELECT 1) SELECT * FROM duckdb_views), duckdb_views",
    ],
)
def test_system_views_and_settings_are_refused_on_a_scoped_reader(db, sql) -> None:
    for user in ("kari", "leder"):
        reader = access.reader_for_user(db, user)
        with pytest.raises(StoreError, match="not allowed within the access scope"):
            reader.rows(sql)


def test_a_leaders_hash_key_cannot_be_read_from_the_catalog(db) -> None:
    """The leader's de-identified views hold this kernel's hash key in their text."""
    leader = access.reader_for_user(db, "leder")
    assert leader.rows("SELECT count(*) FROM sessions") == [(24,)]
    for sql in ("SELECT sql FROM duckdb_views", "SELECT sql FROM sqlite_master"):
        with pytest.raises(StoreError, match="is not one of the tables of this database"):
            leader.rows(sql)


def test_a_scoped_reader_still_runs_ctes_and_the_packages_queries(db) -> None:
    kari = access.reader_for_user(db, "kari")
    sql = (
        "WITH mine AS (SELECT client_id FROM sessions), "
        "again AS (SELECT * FROM mine) SELECT count(DISTINCT client_id) FROM again"
    )
    assert kari.rows(sql) == [(2,)]
    assert kari.rows("SELECT count(*) FROM teams JOIN therapists USING (team_id)") == [(3,)]
    assert kari.rows("SELECT max(version) FROM schema_version")[0][0] == store.SCHEMA_VERSION
    recursive = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
    assert kari.rows(recursive + "SELECT count(*) FROM n") == [(3,)]


def test_a_supervisor_sees_exactly_the_episodes_of_their_teams(db) -> None:
    sigrid = access.reader_for_user(db, "sigrid")
    assert clients_seen(sigrid) == {"K-TOTALS", "K-CHILD", "K-TEN"}
    assert {r[0] for r in sigrid.rows("SELECT DISTINCT team_id FROM episodes")} == {"T3", "T10"}
    assert set(sigrid.df("SELECT rater FROM sessions")["rater"]) == {"client", "parent"}
    assert queries.client_sessions(sigrid, "E1", "K-ADULT1").empty
    assert len(queries.client_sessions(sigrid, "E4", "K-CHILD")) == 6  # client and parent
    assert team_review.team_caseload(sigrid, team_id="T2", as_of=dt.date(2026, 1, 1)).episodes.empty


def test_an_admin_sees_everything(db) -> None:
    assert clients_seen(access.reader_for_user(db, "admin")) == ALL_CLIENTS
    admin_users = access.reader_for_user(db, "admin").rows("SELECT count(*) FROM users")
    assert admin_users == [(5,)]
    assert access.reader_for_user(db, "kari").rows("SELECT count(*) FROM users") == [(0,)]


def test_a_leader_gets_no_client_rows_but_the_same_aggregates(db) -> None:
    leader = access.reader_for_user(db, "leder")
    for call in (
        lambda: queries.client_sessions(leader, "E1", "K-ADULT1"),
        lambda: queries.client_profile(leader, "K-ADULT1"),
        lambda: queries.client_episode_options(leader, "T2", "B1"),
        lambda: team_review.team_caseload(leader, team_id="T2", as_of=dt.date(2026, 1, 1)),
        lambda: group_exercise.case_sessions(
            leader, group_exercise.CaseRef("E1", "K-ADULT1", "T2")
        ),
        lambda: registration.client_choices(leader, "T2", "B1"),
    ):
        with pytest.raises(AccessDenied, match="leder may see summaries of groups"):
            call()
    # raw SQL: every row is there, but no client, episode or birth year can be told
    raw = leader.df("SELECT * FROM sessions")
    assert len(raw) == 24
    assert not set(raw["client_id"]) & ALL_CLIENTS
    assert not set(raw["episode_id"]) & {"E1", "E2", "E3", "E4", "E5"}
    assert leader.rows("SELECT count(birth_year) FROM clients") == [(0,)]
    assert leader.rows("SELECT count(DISTINCT client_id) FROM clients") == [(5,)]
    # a de-identified client id still joins across tables, so aggregates are unchanged
    admin = access.reader_for_user(db, "admin")
    sql = (
        "SELECT c.age_group, count(DISTINCT s.client_id), avg(s.ors_total) "
        "FROM sessions s JOIN clients c USING (client_id) JOIN episodes e USING (episode_id) "
        "GROUP BY ALL ORDER BY ALL"
    )
    assert leader.rows(sql) == admin.rows(sql)


def test_a_leaders_service_figures_equal_the_unrestricted_ones(demo_db, tmp_path) -> None:
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    access.add_user(path, "leder", "leader")
    leader, everyone = access.reader_for_user(path, "leder"), reader_for(path)
    by_team = {"by": ["team_id"], "closed_only": True}
    pd.testing.assert_frame_equal(
        service_indices_sql(leader, **by_team), service_indices_sql(everyone, **by_team)
    )
    filters = ServiceFilters(parse_period("2025"))
    mine, theirs = service_summary(leader, filters), service_summary(everyone, filters)
    pd.testing.assert_frame_equal(mine.headline, theirs.headline)
    everyone.close()


def test_a_therapists_comparison_reader_gives_her_no_rows(db) -> None:
    """What she may aggregate: suppressed figures of her own service, computed for everyone."""
    comparison = access.aggregate_reader(db, "kari")
    for sql in ("SELECT * FROM sessions", "SELECT count(*) FROM sessions"):
        with pytest.raises(AccessDenied, match="kari may see summaries of groups of clients"):
            comparison.df(sql)
    with pytest.raises(AccessDenied):
        queries.client_sessions(comparison, "E5", "K-TEN")
    with pytest.raises(AccessDenied):
        team_review.team_caseload(comparison, team_id="T10", as_of=dt.date(2026, 1, 1))
    # an admin's comparison reader is their own unrestricted one
    assert clients_seen(access.aggregate_reader(db, "admin")) == ALL_CLIENTS


def _shared_rows(reader, sql: str) -> pd.DataFrame:
    """Rows read the way a shared aggregate is computed (the development page's comparison)."""
    return MemoryCache(1).get(reader, sql, lambda: reader.df(sql))


def test_a_comparison_is_computed_over_her_service_de_identified(db) -> None:
    kari = access.aggregate_reader(db, "kari")  # B1, team T2, service "Psykisk helse"
    raw = _shared_rows(kari, "SELECT * FROM sessions")
    assert set(raw["team_id"]) == {"T2", "T10"}  # her service's teams, no other service's
    assert len(raw) == 15  # K-ADULT1 4, K-ONE 1, K-TEN 10
    assert not set(raw["client_id"]) & ALL_CLIENTS  # no row names a client
    assert not set(raw["therapist_id"]) & {"B1", "B2", "B3"}  # or a colleague
    changes = "SELECT count(DISTINCT changed_by) FROM session_changes"
    assert _shared_rows(kari, changes).iloc[0, 0] == 0
    births = _shared_rows(kari, "SELECT count(birth_year) AS n FROM clients")
    assert births["n"].tolist() == [0]
    sigrid = access.aggregate_reader(db, "sigrid")  # teams T3 and T10: both services
    assert len(_shared_rows(sigrid, "SELECT * FROM sessions")) == 24
    leader = access.aggregate_reader(db, "leder")
    assert len(_shared_rows(leader, "SELECT * FROM sessions")) == 24


def test_a_therapists_page_compares_with_the_whole_service_not_her_own_rows(
    demo_db, tmp_path
) -> None:
    """Her scoped reader sees her rows; the model and team/service figures are the service's."""
    from fitdata.features import expected_trajectory
    from fitdata.features.therapist_development import TherapistScope

    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    everyone = reader_for(path)
    therapist = everyone.rows("SELECT therapist_id FROM episodes GROUP BY 1 ORDER BY count(*) DESC")
    access.add_user(path, "kari", "therapist", therapist_id=therapist[0][0])
    context = DashboardContext(path, user="kari")
    assert len(clients_seen(context.reader)) < len(clients_seen(everyone))  # really scoped

    expected_trajectory.clear_memory()
    hers = expected_trajectory.trajectory_model(context.reader)
    expected_trajectory.clear_memory()
    service = expected_trajectory.trajectory_model(everyone)
    for mine, theirs in zip(hers.expected_grid(), service.expected_grid(), strict=True):
        np.testing.assert_array_equal(mine, theirs)

    scope = TherapistScope(
        context.reader, therapist[0][0], comparison_reader=context.aggregate_reader
    )
    unrestricted = TherapistScope(everyone, therapist[0][0])
    pd.testing.assert_frame_equal(scope.outcomes(), unrestricted.outcomes())
    everyone.close()


def test_scoped_readers_follow_a_replaced_file(db) -> None:
    kari = access.reader_for_user(db, "kari")
    assert clients_seen(kari) == B1_CLIENTS
    with store.write_transaction(db) as con:
        con.execute("UPDATE episodes SET therapist_id = 'B1' WHERE episode_id = 'E5'")
    assert clients_seen(access.reader_for_user(db, "kari")) == B1_CLIENTS | {"K-TEN"}
    assert clients_seen(kari) == B1_CLIENTS | {"K-TEN"}  # the old object follows too


# -- identity ---------------------------------------------------------------------------------


def test_without_users_access_control_is_off(tiny_db, monkeypatch) -> None:
    monkeypatch.delenv(access.ENV_USER, raising=False)
    monkeypatch.delenv(access.ENV_HUB_USER, raising=False)
    reader = access.reader_for_user(tiny_db)
    assert reader.scope is None and clients_seen(reader) == ALL_CLIENTS


def test_the_kernels_user_comes_from_jupyterhub_or_fitdata_user(db, monkeypatch) -> None:
    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.delenv(access.ENV_HUB_USER, raising=False)
    monkeypatch.delenv(access.ENV_USER, raising=False)
    with pytest.raises(AccessDenied, match="does not know who you are"):
        access.reader_for_user(db)
    monkeypatch.setenv(access.ENV_USER, "ola")
    assert clients_seen(access.reader_for_user(db)) == {"K-TEN"}
    monkeypatch.setenv(access.ENV_HUB_USER, "kari")  # JupyterHub's name wins
    assert clients_seen(access.reader_for_user(db)) == B1_CLIENTS
    monkeypatch.setenv(access.ENV_HUB_USER, "mallory")
    with pytest.raises(AccessDenied, match="mallory is not registered"):
        access.reader_for_user(db)


def test_a_kernel_keeps_the_user_it_was_bound_to(db, monkeypatch) -> None:
    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.setenv(access.ENV_HUB_USER, "ola")
    access.bind_user("kari")
    assert access.current_user() == "kari"
    access.bind_user("kari")  # the same name again is fine
    with pytest.raises(AccessDenied, match="already open for another user"):
        access.bind_user("ola")
    assert clients_seen(DashboardContext(db).reader) == B1_CLIENTS


def test_an_unknown_user_gets_a_message_in_the_page_not_data(db, monkeypatch) -> None:
    from fitdata.ui import build_client_graph

    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.setenv("FITDATA_DB", str(db))
    monkeypatch.setenv(access.ENV_HUB_USER, "mallory")
    widget = build_client_graph()
    assert "fitdata-error" in widget.value and "mallory is not registered" in widget.value
    monkeypatch.setenv("FITDATA_LANG", "nb")
    assert "mallory er ikke registrert" in build_client_graph().value


# -- the audit log ----------------------------------------------------------------------------


def test_opening_a_clients_data_is_audited_without_scores(db) -> None:
    kari = access.reader_for_user(db, "kari")
    queries.client_sessions(kari, "E1", "K-ADULT1")
    queries.client_sessions(kari, "E5", "K-TEN")  # not hers: nothing returned, nothing logged
    sigrid = access.reader_for_user(db, "sigrid")
    group_exercise.case_sessions(sigrid, group_exercise.CaseRef("E4", "K-CHILD", "T3"))
    queries.client_sessions(reader_for(db), "E2", "K-ONE")  # unscoped: the command line
    entries = access.read_audit(db)
    assert [(e.user, e.role, e.action, e.client_id, e.episode_id) for e in entries] == [
        ("kari", "therapist", "client_sessions", "K-ADULT1", "E1"),
        ("sigrid", "supervisor", "group_case", "K-CHILD", "E4"),
    ]
    text = access.audit_path(db).read_text()
    assert "ors" not in text and "18.0" not in text and "25.4" not in text
    assert (access.audit_path(db).stat().st_mode & 0o777) == 0o600
    assert [e.user for e in access.read_audit(db, client="K-CHILD")] == ["sigrid"]
    assert [e.user for e in access.read_audit(db, user="kari")] == ["kari"]
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    assert access.read_audit(db, since=tomorrow) == []
    assert access.verify_audit(db) == []


def test_a_changed_or_removed_audit_line_is_detected(db) -> None:
    kari = access.reader_for_user(db, "kari")
    for _ in range(3):
        queries.client_sessions(kari, "E1", "K-ADULT1")
    path = access.audit_path(db)
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1]) | {"client_id": "K-ONE"}
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n")
    assert access.verify_audit(db) == [
        "line 2 (entry 2) was changed, or a line before it was changed or removed: its MAC "
        "does not match"
    ]
    path.write_text("\n".join(lines[1:]) + "\n")
    assert access.verify_audit(db) == [
        "line 1 holds entry 2 where entry 1 belongs: entry 1 removed",
        "line 1 (entry 2) was changed, or a line before it was changed or removed: its MAC "
        "does not match",
    ]


def test_concurrent_audit_writers_keep_one_chain(db) -> None:
    import threading

    readers = [access.reader_for_user(db, n) for n in ("kari", "admin")]

    def work(reader) -> None:
        for _ in range(25):
            queries.client_sessions(reader, "E1", "K-ADULT1")

    threads = [threading.Thread(target=work, args=(r,)) for r in readers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(access.read_audit(db)) == 100
    assert access.verify_audit(db) == []


# -- the command line -------------------------------------------------------------------------


def test_users_and_audit_on_the_command_line(tiny_db, tmp_path, capsys) -> None:
    from fitdata.cli import main

    path = tmp_path / "cli.duckdb"
    shutil.copyfile(tiny_db, path)
    db = ["--db", str(path)]
    assert main(["users", "list", *db]) == 0
    assert "access control is off" in capsys.readouterr().out
    assert main(["users", "add", "kari", "--role", "therapist", "--therapist", "B1", *db]) == 0
    assert "Added kari (therapist: therapist B1)." in capsys.readouterr().out
    assert (
        main(["users", "add", "sigrid", "--role", "supervisor", "--team", "T3", "--token", *db])
        == 0
    )
    out = capsys.readouterr().out
    token = out.split("privately): ")[1].strip()
    assert len(token) >= 40 and token not in path.read_bytes().decode("latin-1")
    assert access.user_for_token(path, token).name == "sigrid"
    assert access.user_for_token(path, token + "x") is None
    assert main(["users", "add", "ola", "--role", "therapist", *db]) == 2
    assert "fitdata users: error: A therapist needs --therapist" in capsys.readouterr().err
    assert main(["users", "add", "ola", "--role", "supervisor", "--team", "T99", *db]) == 2
    assert "no team 'T99'" in capsys.readouterr().err
    assert main(["users", "list", *db]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in listed] == ["kari", "sigrid"]
    assert "sigrid (supervisor: teams T3)" in listed[1]

    queries.client_sessions(access.reader_for_user(path, "kari"), "E1", "K-ADULT1")
    queries.client_sessions(access.reader_for_user(path, "sigrid"), "E3", "K-TOTALS")
    assert main(["audit", *db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "kari (therapist)  client_sessions  K-ADULT1 episode E1" in lines[0]
    assert main(["audit", "--user", "sigrid", *db]) == 0
    assert "K-TOTALS" in capsys.readouterr().out
    assert main(["audit", "--client", "K-NOBODY", *db]) == 0
    assert "No entries match." in capsys.readouterr().err
    assert main(["audit", "--verify", *db]) == 0
    assert "2 entries, each following the one before" in capsys.readouterr().out
    access.audit_path(path).write_text(access.audit_path(path).read_text().split("\n", 1)[1])
    assert main(["audit", "--verify", *db]) == 1
    assert main(["users", "remove", "kari", *db]) == 0
    assert main(["users", "remove", "kari", *db]) == 2
    assert "no user 'kari'" in capsys.readouterr().err


def test_serve_checks_its_user_options_before_starting(db, capsys) -> None:
    from fitdata.cli import main

    assert main(["serve", "--db", str(db), "--user", "nobody", "--port", "1"]) == 2
    assert "--user nobody: there is no such user" in capsys.readouterr().err


def test_serve_users_mode_is_a_login_and_excludes_a_shared_one() -> None:
    from pathlib import Path

    from fitdata.kernel_env import CLIENT_LINK_HEADER
    from fitdata.server.login import FitdataIdentityProvider
    from fitdata.server.serve import AccessError, ServeOptions, check_access, voila_config

    here = Path(".")
    check_access(ServeOptions(here, here, ip="0.0.0.0", users=True))
    for extra in ({"token": "t" * 32}, {"password_hash": "argon2:x"}, {"user": "kari"}):
        with pytest.raises(AccessError, match="own token"):
            check_access(ServeOptions(here, here, users=True, **extra))
    config = voila_config(ServeOptions(here, here, users=True))
    assert config.Voila.identity_provider_class is FitdataIdentityProvider
    # the kernel receives two headers, both set by the server, never the browser's: the login
    # the identity provider verified, and a client link the server checked (issue 21)
    assert config.VoilaConfiguration.http_header_envs == [
        access.LOGIN_USER_HEADER,
        CLIENT_LINK_HEADER,
    ]
    assert "prelaunch_hook" not in config.VoilaConfiguration
    assert config.VoilaConfiguration.preheat_kernel is True  # a pool, also with personal logins
    assert config.VoilaConfiguration.default_pool_size == 1
    single = voila_config(ServeOptions(here, here, pool_size=0))
    # a shared login (token or password), never the personal-token one
    assert single.Voila.identity_provider_class is not FitdataIdentityProvider
    assert single.VoilaConfiguration.http_header_envs == [CLIENT_LINK_HEADER]  # no login header
    assert single.VoilaConfiguration.preheat_kernel is False


def test_the_login_header_holds_the_verified_user_never_the_browsers(tmp_path) -> None:
    from jupyter_server.auth.identity import User as JupyterUser
    from tornado.httputil import HTTPHeaders

    from fitdata.server.login import FitdataIdentityProvider

    provider = FitdataIdentityProvider(db_path=str(tmp_path / "unused.duckdb"))
    verified: list[JupyterUser | None] = [JupyterUser(username="kari")]

    async def login(_handler) -> JupyterUser | None:
        return verified[0]

    provider._get_user = login  # what Jupyter Server verified from the token or cookie

    class Handler:
        def __init__(self, *forged: tuple[str, str]) -> None:
            self.request = type("R", (), {"headers": HTTPHeaders(), "host": "127.0.0.1:8866"})()
            for name, value in forged:
                self.request.headers.add(name, value)

        def get_secure_cookie(self, *_args, **_kwargs) -> None:
            return None  # no session cookie and no client pass: the login alone decides

    handler = Handler(("X-Fitdata-User", "admin"), ("x-fitdata-user", "leder"))
    assert _run(provider.get_user(handler)).username == "kari"
    assert handler.request.headers.get_list(access.LOGIN_USER_HEADER) == ["kari"]
    verified[0] = None  # no login: no header at all, whatever the browser sent
    handler = Handler(("X-Fitdata-User", "admin"))
    assert _run(provider.get_user(handler)) is None
    assert access.LOGIN_USER_HEADER not in handler.request.headers


def test_a_kernel_binds_the_login_user_only_on_a_users_server(db, monkeypatch) -> None:
    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.delenv(access.ENV_HUB_USER, raising=False)
    monkeypatch.delenv(access.ENV_USER, raising=False)
    monkeypatch.delenv(access.ENV_LOGIN, raising=False)
    monkeypatch.setenv(access.ENV_LOGIN_USER, "admin")  # not a --users server: ignored
    assert access.bind_login_user() is None and access.current_user() is None
    monkeypatch.setenv(access.ENV_LOGIN, "users")
    monkeypatch.delenv(access.ENV_LOGIN_USER)
    with pytest.raises(AccessDenied, match="does not know who you are"):
        access.bind_login_user()
    monkeypatch.setenv(access.ENV_LOGIN_USER, "kari")
    assert access.bind_login_user() == "kari"
    assert clients_seen(DashboardContext(db).reader) == B1_CLIENTS
    monkeypatch.setenv(access.ENV_LOGIN_USER, "ola")  # a second request cannot rebind it
    with pytest.raises(AccessDenied, match="already open for another user"):
        access.bind_login_user()


def test_a_page_says_who_is_signed_in(db, monkeypatch) -> None:
    from fitdata.ui import build_client_graph
    from fitdata.ui.context import signed_in_html

    monkeypatch.setattr(access, "_bound_user", None)
    monkeypatch.setenv(access.ENV_LOGIN, "users")
    monkeypatch.setenv(access.ENV_LOGIN_USER, "kari")
    monkeypatch.setenv("FITDATA_DB", str(db))
    monkeypatch.setenv("FITDATA_LANG", "nb")
    page = build_client_graph()
    assert "Logget inn som kari (behandler)" in page.children[0].value
    assert "fitdata-client-graph" in page.children[1]._dom_classes
    assert "Signed in as leder (leader: summaries only)" in signed_in_html(
        DashboardContext(db, user="leder")
    )


def test_the_identity_provider_knows_users_by_personal_token(tiny_db, tmp_path) -> None:

    from fitdata.server.login import FitdataIdentityProvider

    path = tmp_path / "login.duckdb"
    shutil.copyfile(tiny_db, path)
    token = access.add_user(path, "kari", "therapist", therapist_id="B1", token=True)
    provider = FitdataIdentityProvider(db_path=str(path))

    class Handler:
        def __init__(self, query_token: str = "", password: str = "") -> None:
            self.args = {"token": query_token, "password": password}
            self.request = type("R", (), {"headers": {}, "remote_ip": "127.0.0.1"})()

        def get_argument(self, name: str, default: str = "") -> str:
            return self.args.get(name) or default

    user = _run(provider.get_user_token(Handler(token)))
    assert user is not None and user.username == "kari"
    assert _run(provider.get_user_token(Handler("wrong-" + token))) is None
    assert _run(provider.get_user_token(Handler())) is None
    assert provider.process_login_form(Handler(password=token)).username == "kari"
    assert provider.process_login_form(Handler(password="guess")) is None
    cookie = provider.user_to_cookie(user)
    assert provider.user_from_cookie(cookie).username == "kari"
    access.remove_user(path, "kari")
    assert provider.user_from_cookie(cookie) is None  # removed: the cookie no longer logs in
    assert _run(provider.get_user_token(Handler(token))) is None
    reader_for(path).close()


def test_registering_is_allowed_only_within_the_users_scope(db) -> None:
    access.require_write(access.reader_for_user(db, "kari"), "T2", "B1")
    access.require_write(access.reader_for_user(db, "sigrid"), "T10", "B2")
    access.require_write(access.reader_for_user(db, "admin"), "T2", "B2")
    access.require_write(reader_for(db), "T2", "B2")  # access control off for the command line
    for user, team, therapist in (
        ("kari", "T10", "B2"),
        ("kari", "T2", "B2"),
        ("sigrid", "T2", "B1"),
        ("leder", "T2", "B1"),
    ):
        with pytest.raises(AccessDenied, match=f"{user} may not register sessions"):
            access.require_write(access.reader_for_user(db, user), team, therapist)


def test_the_registration_page_saves_only_within_scope_and_names_the_user(db) -> None:
    from fitdata.ui import RegistrationView

    view = RegistrationView(DashboardContext(db, user="kari"), today=lambda: dt.date(2025, 3, 3))
    assert [v for _, v in view.client.options][1:] == ["K-ADULT1", "K-ONE"]
    view.correct_session.value = 1
    view.correct_srs.sliders[0].value = 8.0
    view.reason.value = "item typo"
    view.correct_save.click()
    assert "kari" in view.history.value  # the logged-in user made the change
    # her page offers only her own team and herself: a colleague cannot even be chosen ...
    assert [v for _, v in view.team.options] == ["T2"]
    assert [v for _, v in view.therapist.options] == ["B1"]
    # ... and a write for him is refused before anything is written
    before = db.read_bytes()
    with pytest.raises(AccessDenied, match="kari may not register sessions"):
        access.require_write(view.context.reader, "T10", "B2")
    assert db.read_bytes() == before


def test_ids_with_quotes_and_braces_cannot_break_out_of_a_scope(db) -> None:
    odd = "B'{db}) OR (1=1"
    with store.write_transaction(db) as con:
        con.execute("INSERT INTO therapists VALUES (?, 'Odd Name', 'T2')", [odd])
        con.execute("UPDATE episodes SET therapist_id = ? WHERE episode_id = 'E2'", [odd])
    access.add_user(db, "odd", "therapist", therapist_id=odd)
    assert clients_seen(access.reader_for_user(db, "odd")) == {"K-ONE"}


def test_every_table_with_client_data_is_behind_a_view_in_every_scope(db) -> None:
    """A table no view stands in for is read whole by a scoped reader: only the shared lists."""
    tables = {r[0] for r in reader_for(db).rows("SELECT table_name FROM duckdb_tables()")}
    assert {"episode_participants", "client_page_settings", "client_form_uses"} <= tables
    assert {"case_discussions", "case_discussion_changes"} <= tables  # version 7
    for name in ("kari", "sigrid", "leder", "admin"):
        user = access.find_user(db, name)
        scope = access.scope_for(user)
        viewed = {table for table, _ in scope.views}
        read_whole = tables - viewed - store._NOT_SCOPED
        if name == "admin":
            assert "client_form_uses" not in read_whole  # nobody scoped reads it, not even admin
            continue
        assert read_whole == {"schema_version", "teams", "therapists"}, name
