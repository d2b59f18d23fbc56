"""Processes for the client page's concurrency test (importable under ``spawn``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path


def _wait_until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def client_sends(
    path: str, token: str, ors: list[float], srs: list[float], start_at: float
) -> dict:
    """One client on their phone: open the link, see the page, send the ORS, then the SRS."""
    from fitdata.data.client_links import client_reader, redeem_client_link
    from fitdata.features.client_page import client_page_data, submit_client_form
    from fitdata.i18n import Translator

    errors: list[str] = []
    sessions: list[int] = []
    _wait_until(start_at)
    try:
        grant = redeem_client_link(Path(path), token)
        reader = client_reader(Path(path), grant)
        client_page_data(reader, grant, Translator("nb"))
        sessions.append(submit_client_form(path, grant, "ors", ors, lang="nb").session_id)
        seen = client_page_data(reader, grant, Translator("nb"))
        sessions.append(submit_client_form(path, grant, "srs", srs, lang="nb").session_id)
        reader.close()
        return {"errors": errors, "sessions": sessions, "open_after_ors": seen.forms_open}
    except Exception as error:  # noqa: BLE001 - any error is what the test looks for
        errors.append(f"{type(error).__name__}: {error}")
    return {"errors": errors, "sessions": sessions, "open_after_ors": None}


def double_tap(path: str, token: str, items: list[float], start_at: float) -> str:
    """Send one form of a link, at the same moment as another process sends it: ok or why not."""
    from fitdata.data.client_links import LinkRefused, redeem_client_link
    from fitdata.features.client_page import submit_client_form

    grant = redeem_client_link(Path(path), token)
    _wait_until(start_at)
    try:
        submit_client_form(path, grant, "ors", items, lang="en")
    except LinkRefused as refused:
        return refused.reason
    return "ok"


def therapist_registers(path: str, start_at: float) -> dict:
    """A therapist saving a session of another client (K-CHILD, E4) at the same time."""
    from fitdata.features import registration as reg

    _wait_until(start_at)
    saved = reg.save_session(
        path,
        reg.Registration(
            "T3",
            "B3",
            "K-CHILD",
            "E4",
            dt.date.today(),
            reg.Scores.from_total(31.0),
            reg.Scores.from_total(37.0),
        ),
    )
    return {"session_id": saved.session_id}


def team_review_reads(path: str, user: str, seconds: float, start_at: float) -> dict:
    """A team review page open meanwhile: the case list and a client's graph, again and again."""
    from fitdata.data import queries
    from fitdata.data.access import reader_for_user
    from fitdata.features import team_review

    reader = reader_for_user(Path(path), user)
    counts: list[int] = []
    errors: list[str] = []
    _wait_until(start_at - 1.0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            caseload = team_review.team_caseload(reader, team_id="T2", as_of=dt.date.today())
            counts.append(int(reader.rows("SELECT count(*) FROM sessions")[0][0]))
            queries.client_sessions(reader, "E1", "K-ADULT1")
            assert len(caseload.episodes) == 2
        except Exception as error:  # noqa: BLE001 - any error is what the test looks for
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.01)
    return {"counts": counts, "errors": errors}
