"""Processes for the registration concurrency test (importable under ``spawn``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

#: A fixed "today" after every session date the writers use.
TODAY = dt.date(2030, 1, 1)


def read_like_dashboards(path: str, seconds: float) -> dict:
    """Query as the registration and graph dashboards do until time is up."""
    from fitdata.data import queries
    from fitdata.data.store import reader_for
    from fitdata.features import registration

    reader = reader_for(Path(path))
    counts: list[int] = []
    changes: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            counts.append(int(reader.rows("SELECT count(*) FROM sessions")[0][0]))
            changes.append(int(reader.rows("SELECT count(*) FROM session_changes")[0][0]))
            registration.client_choices(reader, "T2", "B1")
            queries.client_sessions(reader, "E1", "K-ADULT1")
        except Exception as error:  # noqa: BLE001 - any error is what the test looks for
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.005)
    return {"queries": len(counts), "counts": counts, "changes": changes, "errors": errors}


def register_sessions(path: str, writer: int, sessions: int) -> dict:
    """One therapist's registrations: a new client, then sessions, SRS added later, corrections.

    Every third session is saved with the ORS only and gets its SRS afterwards; every fifth is
    corrected. Returns what was saved.
    """
    from fitdata.features import registration as reg

    client = f"K-W{writer}"
    episode: str | None = None
    saved_ids: list[int] = []
    changes = 0
    for i in range(sessions):
        day = dt.date(2025, 1, 1) + dt.timedelta(days=i)
        ors = reg.Scores.from_items(5.0, 5.1, 5.2, round(1.0 + i * 0.1, 1))
        srs = None if i % 3 == 0 else reg.Scores.from_total(38.0)
        new_client = reg.NewClient(client, "adult", 1980) if episode is None else None
        saved = reg.save_session(
            path,
            reg.Registration("T2", "B1", client, episode, day, ors, srs, new_client=new_client),
            today=TODAY,
        )
        episode = saved.episode_id
        saved_ids.append(saved.session_id)
        if srs is None:
            reg.add_srs(path, saved.session_id, reg.Scores.from_total(37.0), actor="B1")
            changes += 1
        if i % 5 == 4:
            correction = reg.Correction(day, reg.Scores.from_total(30.0), None, f"writer {writer}")
            reg.correct_session(path, saved.session_id, correction, actor="B1", today=TODAY)
            changes += 1
    return {"client": client, "episode": episode, "sessions": len(saved_ids), "changes": changes}


def register_couple(path: str, writer: int, sessions: int) -> dict:
    """A couple's therapist: a new couple episode, the partner added, then their sessions.

    Each session after the first is one save for both partners' ORS, then one save for both
    SRS after it (group-committed like any registration). Returns the episode and the codes.
    """
    from fitdata.features import registration as reg

    first, second = f"K-CA{writer}", f"K-CB{writer}"
    start = dt.date(2025, 1, 1)
    saved = reg.save_session(
        path,
        reg.Registration(
            "T2",
            "B1",
            first,
            None,
            start,
            reg.Scores.from_total(15.0),
            new_client=reg.NewClient(first, "adult", 1980),
            format="couple",
        ),
        today=TODAY,
    )
    episode = saved.episode_id
    partner = reg.NewParticipant(
        episode, "", "partner", added_on=start, new_client=reg.NewClient(second, "adult", 1981)
    )
    reg.add_participant(path, partner, today=TODAY)
    for i in range(1, sessions):
        day = start + dt.timedelta(days=i)
        ors = (
            reg.ParticipantScores(first, ors=reg.Scores.from_total(15.0 + i)),
            reg.ParticipantScores(second, ors=reg.Scores.from_total(12.0 + i)),
        )
        reg.save_episode_session(
            path, reg.EpisodeSession(episode, day, ors), actor="B1", today=TODAY
        )
        srs = (
            reg.ParticipantScores(first, srs=reg.Scores.from_total(38.0)),
            reg.ParticipantScores(second, srs=reg.Scores.from_total(37.0)),
        )
        reg.save_episode_session(
            path, reg.EpisodeSession(episode, day, srs), actor="B1", today=TODAY
        )
    return {"episode": episode, "first": first, "second": second, "sessions": sessions}
