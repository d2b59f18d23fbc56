"""The load benchmark's users are real logins of the roles it claims, and no failure is hidden."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import load
from fitdata.data import access
from fitdata.data.store import reader_for


def test_the_twenty_users_log_in_with_their_roles_and_scopes(demo_db: Path, tmp_path) -> None:
    db = tmp_path / "load.duckdb"
    shutil.copyfile(demo_db, db)
    users = load.add_users(db)

    assert len(users) == sum(count for _, _, count in load.ROLES) == 20
    assert [u.role for u in users].count("therapist") == 12
    assert [u.role for u in users].count("supervisor") == 5
    assert [u.role for u in users].count("leader") == 3
    assert len({u.token for u in users}) == 20
    for user in users:  # the printed token logs exactly this user in
        found = access.user_for_token(db, user.token)
        assert found is not None and found.name == user.name and found.role == user.role
    stored = {u.name: u for u in access.list_users(db)}
    therapists = [stored[u.name].therapist_id for u in users if u.role == "therapist"]
    assert len(set(therapists)) == 12  # twelve different people
    service_of = dict(reader_for(db).rows("SELECT team_id, service FROM teams"))
    for user in users:
        if user.role == "supervisor":  # two teams of one service, so the team dropdown has two
            teams = stored[user.name].team_ids
            assert len(teams) == 2 and len({service_of[t] for t in teams}) == 1
    # the cached database the other benchmarks use is a different file: untouched
    assert access.list_users(demo_db) == []


def test_the_report_lists_every_failure_and_counts_only_drawn_pages() -> None:
    users = [
        load.LoadUser(f"{role}{i}", role, notebook, "token")
        for role, notebook, count in load.ROLES
        for i in range(count)
    ]
    results = [
        load.UserResult(user, open_ms=1_000.0 + i, changes_ms=[200.0], kernel_ids=[f"{i:036d}"])
        for i, user in enumerate(users)
    ]
    results[3].open_ms = None
    results[3].problems = ["no chart within 600 s (the page shows: '')"]
    results[15].problems = ["console error: boom"]
    memory = load.Memory([250.0] * 20, [150.0], 240.0, 5_390.0, 3_300.0, 5_400.0)
    cpu = load.CpuUse(kernels=60, server=10, browser=300, machine=700, wall=400)
    run = load.LoadRun(20_000, 1, results, memory, cpu, "1.0", "2.0", {f"{3:036d}"})

    text = load.report(run)

    assert "| 19 of 20 pages |" in text
    assert "Failures: 2 of 20 users" in text
    assert (
        f"{users[3].name} (client_graph; kernel 00000000 from the preheated pool): no chart" in text
    )
    assert f"{users[15].name} (team_review; kernel 00000000): console error: boom" in text
    assert "users per GB** = 20 / total RSS in GB | **3.8**" in text  # 20 / (5,390 / 1,024)
