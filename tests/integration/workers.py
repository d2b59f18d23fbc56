"""Functions run in separate processes by the concurrency test (importable under spawn)."""

from __future__ import annotations

import time
from pathlib import Path


def read_repeatedly(path: str, seconds: float) -> dict:
    """Query the file as a dashboard would until time is up; report what was seen."""
    from fitdata.data.store import reader_for

    reader = reader_for(Path(path))
    counts: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            counts.append(int(reader.rows("SELECT count(*) FROM sessions")[0][0]))
            reader.df("SELECT * FROM sessions WHERE client_id = 'K-ONE' ORDER BY session_no")
        except Exception as error:  # noqa: BLE001 - any error is what the test looks for
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.005)
    return {"queries": len(counts), "counts": counts, "errors": errors}


def write_sessions(path: str, writer: int, writes: int) -> int:
    """Add ``writes`` sessions, one transaction each, as an import or registration would."""
    from fitdata.data import store
    from tests.builders import session_rows

    for i in range(writes):
        number = 100 + writer * 1000 + i
        rows = session_rows("E2", "K-ONE", "B1", "T2", [20.0], [39.0], first_id=10**6 + number)
        rows["session_no"] = [number]
        with store.write_transaction(path) as con:
            store.append_frame(con, "sessions", rows)
    return writes


def hold_a_write(path: str, ready: str) -> None:
    """Begin a write, say so in the file ``ready``, then wait inside it until killed.

    The killed-writer test kills this process with SIGKILL after its copy of the database is
    made, as a crash, an OOM kill or a pulled plug would.
    """
    from fitdata.data import store

    with store.write_transaction(path) as con:
        con.execute("DELETE FROM sessions WHERE client_id = 'K-ONE'")
        Path(ready).write_text("copied", encoding="utf-8")
        time.sleep(600)
