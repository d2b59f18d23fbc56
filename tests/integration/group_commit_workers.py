"""Processes for the group-commit tests (importable under ``spawn``).

Each registers one session for a new client and writes what happened to a JSON file. A worker
may stop at a stage of :mod:`fitdata.data.group_commit` (``waiting``, ``applying``,
``replaced``): it then leaves a file ``<stage>-<pid>`` in the signal folder and waits there
until a file ``go`` appears or the test kills it, as a crash or an OOM kill would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

#: A fixed "today" after every session date the writers use.
TODAY = dt.date(2030, 1, 1)


def register(path: str, client: str, signals: str, stop_at: str = "", out: str = "") -> None:
    """Save one session for the new client ``client``; record the outcome in ``out``."""
    from fitdata.data import group_commit
    from fitdata.features import registration as reg

    folder = Path(signals)

    def stop(stage: str) -> None:
        if stage != stop_at:
            return
        (folder / f"{stage}-{os.getpid()}").write_text(client, encoding="utf-8")
        while not (folder / "go").exists():
            time.sleep(0.01)

    group_commit.stage_hook = stop
    registration = reg.Registration(
        "T2",
        "B1",
        client,
        None,
        dt.date(2025, 3, 3),
        reg.Scores.from_total(20.0),
        reg.Scores.from_total(38.0),
        new_client=reg.NewClient(client, "adult", 1980),
    )
    result: dict = {"client": client}
    try:
        saved = reg.save_session(path, registration, today=TODAY)
        result["session_id"] = saved.session_id
    except reg.RegistrationError as error:
        result["refused"] = [p.key for p in error.problems]
        result["message"] = str(error)
    result["stats"] = dict(group_commit.STATS)
    if out:
        Path(out).write_text(json.dumps(result), encoding="utf-8")
