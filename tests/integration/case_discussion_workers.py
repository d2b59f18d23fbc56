"""Processes for the case discussion concurrency test (importable under ``spawn``)."""

from __future__ import annotations

import datetime as dt

TODAY = dt.date(2025, 2, 10)


def record_many(path: str, writer: int, count: int) -> dict:
    """One person's discussions of E1 and E2, one refused in the middle (an unknown episode)."""
    from fitdata.features import case_discussions as cd

    ids: list[int] = []
    refused = 0
    for i in range(count):
        episode = "E404" if i == count // 2 else ("E1", "E2")[i % 2]
        try:
            saved = cd.record_discussion(
                path,
                episode_id=episode,
                discussed_on=dt.date(2025, 1, 1) + dt.timedelta(days=i),
                forum="team_meeting",
                agreed=["talk_feedback"],
                note=f"writer {writer} number {i}",
                source="team_review",
                actor=f"writer{writer}",
                flags_then=(),
                today=TODAY,
            )
            ids.append(saved.discussion_id)
        except cd.DiscussionError:
            refused += 1
    return {"ids": ids, "refused": refused}
