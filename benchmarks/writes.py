"""Writes in a busy hour: concurrent registration saves and readers, two routes side by side.

``python -m benchmarks.writes --sizes 20000 1000000 [--writers 1 10 20] [--readers 2]
[--seconds 30]`` copies each cached demo database (``benchmarks/cache/``) into a temporary
folder beside it and, for each number of writers, runs that many processes saving sessions as
fast as they can (each in an episode of its own client, made before the clock starts, as a
therapist's registrations when sessions end) plus the readers (processes querying as the
registration page and the client graph do) for ``--seconds``, on each of two routes:

* **one copy per write** -- the store before group commit: each save takes the writer lock,
  copies the whole file, applies its change and replaces the file
  (``store.write_transaction`` around registration's change);
* **group commit** -- ``registration.save_session`` as it is now (``fitdata.data.group_commit``).

It reports saves a second, latency per save including the wait (p50, p95, max), the mean
number of saves per written copy, writer and reader errors, and lost and duplicated sessions
(counted in the file afterwards against what the writers were told was saved). Nothing is
asserted: the figures are compared with issue 19's aims in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.run import database

#: The fixed "today" of every save (after every session date written).
TODAY = dt.date(2031, 1, 1)
ROUTES = ("one copy per write", "group commit")
_CONTEXT = multiprocessing.get_context("spawn")


def _save_one_copy(path: str, registration: Any, today: dt.date) -> Any:
    """A save as the store made it before group commit: its own lock, copy and replace."""
    from fitdata.data import store
    from fitdata.features import registration as reg

    problems = reg.validate_registration(registration, None, today)
    if problems:
        raise reg.RegistrationError(problems)
    with store.write_transaction(path) as con:
        # the change itself, exactly as group commit applies it
        return reg._save_session(con, registration, today)  # noqa: SLF001


def _writer(path: str, route: str, name: str, team: str, therapist: str, seconds: float,
            barrier: Any, results: Any) -> None:  # fmt: skip
    """Save sessions for one new client until time is up; put what happened on ``results``."""
    from fitdata.data import group_commit
    from fitdata.features import registration as reg

    def save(path: str, registration: Any, today: dt.date) -> Any:
        if route == ROUTES[0]:
            return _save_one_copy(path, registration, today)
        return reg.save_session(path, registration, today=today)

    latencies: list[float] = []
    errors: list[str] = []
    saved: list[int] = []
    day = dt.date(2021, 1, 1)
    # The client and the episode are made before the clock starts: a busy hour's saves are
    # sessions of ongoing episodes (a new episode's number costs a scan of every episode id,
    # ~250 ms at 10 M, which would swamp the first batch).
    first = reg.Registration(
        team,
        therapist,
        name,
        None,
        day,
        reg.Scores.from_total(18.0),
        reg.Scores.from_total(37.0),
        new_client=reg.NewClient(name, "adult", 1985),
    )
    made = save(path, first, TODAY)
    episode = made.episode_id
    day += dt.timedelta(days=1)
    group_commit.STATS.update(batches=0, changes=0)  # count the timed batches only
    barrier.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        registration = reg.Registration(
            team,
            therapist,
            name,
            episode,
            day,
            reg.Scores.from_total(18.0 + len(saved) % 10),
            reg.Scores.from_total(37.0),
        )
        start = time.perf_counter()
        try:
            result = save(path, registration, TODAY)
        except Exception as error:  # noqa: BLE001 - every error is a figure of the benchmark
            errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.05)  # a broken route is reported, not spun on
            continue
        latencies.append(time.perf_counter() - start)
        saved.append(result.session_id)
        episode = result.episode_id
        day += dt.timedelta(days=1)
    results.put(
        {"kind": "writer", "latencies": latencies, "errors": errors, "saved": saved,
         "client": name, "batches": group_commit.STATS["batches"], "made": made.session_id}
    )  # fmt: skip


def _reader(path: str, team: str, therapist: str, seconds: float, barrier: Any,
            results: Any) -> None:  # fmt: skip
    """Query as the registration page and the client graph do until time is up."""
    from fitdata.data import queries
    from fitdata.data.store import reader_for
    from fitdata.features import registration

    reader = reader_for(Path(path))
    client = reader.rows("SELECT client_id FROM episodes WHERE team_id = ? LIMIT 1", [team])[0][0]
    episode = reader.rows("SELECT episode_id FROM episodes WHERE client_id = ?", [client])[0][0]
    barrier.wait()
    done, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            registration.client_choices(reader, team, therapist)
            queries.client_sessions(reader, episode, client)
            reader.rows("SELECT count(*) FROM sessions WHERE team_id = ?", [team])
            done += 1
        except Exception as error:  # noqa: BLE001 - any error is what is counted
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.01)
    results.put({"kind": "reader", "queries": done, "errors": errors})


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if values else 0


def run(source: Path, route: str, writers: int, readers: int, seconds: float) -> dict:
    """One run on a fresh copy of ``source``; the row of the table."""
    from fitdata.data.store import reader_for

    with tempfile.TemporaryDirectory(prefix=".writes-bench-", dir=source.parent) as folder:
        path = Path(folder) / source.name
        shutil.copyfile(source, path)
        probe = reader_for(path)
        team, therapist = probe.rows(
            "SELECT team_id, therapist_id FROM therapists ORDER BY therapist_id LIMIT 1"
        )[0]
        probe.close()
        barrier = _CONTEXT.Barrier(writers + readers)
        results = _CONTEXT.Queue()
        tag = "A" if route == ROUTES[0] else "B"
        processes = [
            _CONTEXT.Process(
                target=_writer,
                args=(
                    str(path),
                    route,
                    f"K-BW{tag}{writers}-{w}",
                    team,
                    therapist,
                    seconds,
                    barrier,
                    results,
                ),
            )  # fmt: skip
            for w in range(writers)
        ] + [
            _CONTEXT.Process(
                target=_reader, args=(str(path), team, therapist, seconds, barrier, results)
            )
            for _ in range(readers)
        ]
        for process in processes:
            process.start()
        found = [results.get(timeout=seconds + 600) for _ in processes]
        for process in processes:
            process.join(60)
        written = [r for r in found if r["kind"] == "writer"]
        read = [r for r in found if r["kind"] == "reader"]
        latencies = [x for r in written for x in r["latencies"]]
        told = sorted(i for r in written for i in [r["made"], *r["saved"]])
        reader = reader_for(path)
        clients = [r["client"] for r in written]
        marks = ", ".join("?" for _ in clients)
        stored = [
            int(i)
            for (i,) in reader.rows(
                f"SELECT session_id FROM sessions WHERE client_id IN ({marks})", clients
            )
        ]
        numbers = reader.rows(
            f"SELECT count(*) - count(DISTINCT (episode_id, session_no)) FROM sessions "
            f"WHERE client_id IN ({marks})",
            clients,
        )[0][0]
        reader.close()
        batches = sum(r["batches"] for r in written)
        return {
            "route": route,
            "writers": writers,
            "saves": len(latencies),
            "per_s": len(latencies) / seconds,
            "p50": _percentile(latencies, 0.50) * 1000,
            "p95": _percentile(latencies, 0.95) * 1000,
            "max": max(latencies, default=0) * 1000,
            "per_copy": len(latencies) / batches if batches else 1.0,
            "writer_errors": sum(len(r["errors"]) for r in written),
            "first_error": next((r["errors"][0] for r in written if r["errors"]), ""),
            "queries": sum(r["queries"] for r in read),
            "reader_errors": sum(len(r["errors"]) for r in read),
            "lost": len(set(told) - set(stored)),
            "duplicates": (len(stored) - len(set(stored))) + int(numbers)
            + len(set(stored) - set(told)),
        }  # fmt: skip


def main() -> None:
    """Print the table for each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(
        "| sessions | file MB | route | writers | saves | saves/s | p50 ms | p95 ms | max ms "
        "| saves per copy | writer errors | reader queries | reader errors | lost | duplicated |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for size in args.sizes:
        source = database(size)
        megabytes = source.stat().st_size / 2**20
        for writers in args.writers:
            for route in ROUTES:
                r = run(source, route, writers, args.readers, args.seconds)
                print(
                    f"| {size:,} | {megabytes:,.0f} | {route} | {writers} | {r['saves']} "
                    f"| {r['per_s']:.1f} | {r['p50']:,.0f} | {r['p95']:,.0f} | {r['max']:,.0f} "
                    f"| {r['per_copy']:.1f} | {r['writer_errors']} | {r['queries']} "
                    f"| {r['reader_errors']} | {r['lost']} | {r['duplicates']} |",
                    flush=True,
                )
                if r["first_error"]:
                    notes.append(f"{size:,}, {route}, {writers} writers: {r['first_error']}")
    print(
        f"\n{args.readers} reader processes throughout; {args.seconds:.0f} s a run; latency "
        "from the call to its return (the wait for the lock or the batch included). "
        f"Load average after the runs {os.getloadavg()[0]:.1f}."
    )
    for note in notes:
        print(f"\n- first writer error: {note}")
    if not notes:
        print("\nNo writer errors.")


if __name__ == "__main__":
    main()
