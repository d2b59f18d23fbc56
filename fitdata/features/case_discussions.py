"""Case discussions: record what supervision agreed about a case, correct it, list it (issue 22).

A case is discussed in a team meeting, group supervision, individual supervision or with the
client (:data:`fitdata.vocabulary.FORUMS`); what was agreed is one or more codes of the
service's choice list (:attr:`fitdata.config.ClinicalConfig.discussion_actions`), with an
optional short note and a follow-up date. The flags that were current when the case was
discussed are stored with it (``flags_then``), never recomputed: a later change in the data
or the rules does not change what the team saw.

Writing (:func:`record_discussion`, :func:`correct_discussion`, :func:`withdraw_discussion`)
is allowed to the episode's therapist, a supervisor of its team and an admin, as registration
(:func:`fitdata.data.access.require_write`); a leader, a client's link and a therapist of
another team are refused before anything is written. The rules (:func:`validate_discussion`)
are pure, so a page can show them as the person types, and are applied again in the write,
which goes through the group commit (:func:`fitdata.data.group_commit.commit`): all or nothing.
A correction or withdrawal keeps the old values and the reason in ``case_discussion_changes``.
Writes through a page's scoped reader and reads of discussions are in the audit log.

The values and the pure rules are in :mod:`fitdata.features.case_discussion_rules` (names
re-exported here), among them what a note may not hold.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from fitdata.analytics.flags import frames as flag_frames
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import group_commit
from fitdata.data.access import (
    AccessDenied,
    record_access,
    require_client_rows,
    require_write,
)
from fitdata.data.cache import MemoryCache
from fitdata.data.store import Reader, reader_for
from fitdata.features.case_discussion_rules import (
    MAX_NOTE_LENGTH,
    Discussion,
    DiscussionError,
    DiscussionProblem,
    FlagThen,
    action_choices,
    action_label,
    note_problem,
    problem_text,
    reason_problems,
    validate_discussion,
)
from fitdata.features.expected_trajectory import trajectory_model
from fitdata.i18n import Translator, environment_language

__all__ = [
    "DISCUSSION_COLUMNS",
    "MAX_NOTE_LENGTH",
    "Discussion",
    "DiscussionError",
    "DiscussionProblem",
    "FlagThen",
    "action_choices",
    "action_label",
    "aggregate_discussions",
    "correct_discussion",
    "current_flags",
    "discussion_changes",
    "discussions",
    "flags_then",
    "last_discussions",
    "note_problem",
    "problem_text",
    "record_discussion",
    "validate_discussion",
    "withdraw_discussion",
]

#: The columns of :func:`discussions` and :func:`last_discussions`, in order. ``client_id`` is
#: the episode's index client; ``withdrawn`` and ``corrected`` say whether a change exists.
DISCUSSION_COLUMNS: tuple[str, ...] = (
    "discussion_id",
    "episode_id",
    "client_id",
    "team_id",
    "therapist_id",
    "discussed_on",
    "forum",
    "flags_then",
    "agreed",
    "note",
    "follow_up_on",
    "source",
    "recorded_by",
    "recorded_at",
    "withdrawn",
    "corrected",
)

#: What a correction may change.
_CORRECTABLE = ("discussed_on", "forum", "agreed", "note", "follow_up_on")


# -- flags then --------------------------------------------------------------------------------
def current_flags(
    reader: Reader,
    episode_id: str,
    on: dt.date,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
) -> tuple[FlagThen, ...]:
    """The flags that hold for the episode's participants on ``on`` (sessions up to that day).

    The client's own ratings of every participant (a couple's or family's episode is one
    case), judged as the team review judges them (:func:`fitdata.analytics.flags.frames.
    episode_flags`, with ``not_on_track`` when a ``model`` is given), ordered by client and
    flag. ``session_no`` is the session at which the flag last fired.
    """
    sessions = reader.df(
        "SELECT episode_id, client_id, session_no, session_date, rater, "
        "ors_individual::DOUBLE AS ors_individual, ors_interpersonal::DOUBLE AS "
        "ors_interpersonal, ors_social::DOUBLE AS ors_social, ors_overall::DOUBLE AS ors_overall, "
        "ors_total::DOUBLE AS ors_total, srs_relationship::DOUBLE AS srs_relationship, "
        "srs_goals::DOUBLE AS srs_goals, srs_approach::DOUBLE AS srs_approach, "
        "srs_overall::DOUBLE AS srs_overall, srs_total::DOUBLE AS srs_total "
        "FROM sessions WHERE episode_id = ? AND rater = 'client' AND session_date <= ? "
        "ORDER BY client_id, session_no",
        [episode_id, on],
    )
    if sessions.empty:
        return ()
    episodes = reader.df(
        "SELECT episode_id, CASE WHEN ended <= ? THEN ended END AS ended "
        "FROM episodes WHERE episode_id = ?",
        [on, episode_id],
    )
    if model is not None:
        sessions = model.expected_lines(sessions)
    flags = flag_frames.episode_flags(sessions, episodes, as_of=on, config=config, lang=None)
    return flags_then(flags[flags["current"].astype(bool)])


def flags_then(rows: pd.DataFrame) -> tuple[FlagThen, ...]:
    """Flag rows that hold now as a discussion stores them: by client, then flag.

    ``rows`` have ``client_id``, ``flag`` and ``last_session`` (the session at which the flag
    last fired), e.g. the current rows of a caseload's flags for one episode.
    """
    ordered = sorted(
        zip(rows["client_id"], rows["flag"], rows["last_session"], strict=True),
        key=lambda row: (str(row[0]), str(row[1])),
    )
    return tuple(FlagThen(str(c), str(f), None if pd.isna(n) else int(n)) for c, f, n in ordered)


# -- writing -----------------------------------------------------------------------------------
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _path_and_reader(db_or_reader: Reader | str | os.PathLike[str]) -> tuple[str, Reader | None]:
    if isinstance(db_or_reader, Reader):
        return str(db_or_reader.path), db_or_reader
    return os.fspath(db_or_reader), None


def _check_access(reader: Reader | None, episode_id: str) -> tuple[str, str] | None:
    """The episode's (team, therapist) as the reader sees it, after refusing who may not write.

    Raises:
        AccessDenied: For a leader's or a comparison reader, a client's link, or a user who may
            not register for the episode's therapist and team (or does not see the episode).
    """
    if reader is None:
        return None
    require_client_rows(reader, "case")
    found = reader.rows(
        "SELECT team_id, therapist_id FROM episodes WHERE episode_id = ?", [episode_id]
    )
    if not found:
        if reader.scope is not None and reader.scope.views:
            # no episode id in the message: the group exercise's anonymous view shows it
            raise AccessDenied(
                Translator(environment_language()).text("discussion_record.error.not_yours")
            )
        return None
    team_id, therapist_id = str(found[0][0]), str(found[0][1])
    require_write(reader, team_id, therapist_id)
    return team_id, therapist_id


def _flags_value(flags: Iterable[FlagThen]) -> list[dict[str, Any]]:
    return [
        {"client_id": str(f.client_id), "flag": str(f.flag), "session_no": f.session_no}
        for f in flags
    ]


def record_discussion(
    db_or_reader: Reader | str | os.PathLike[str],
    *,
    episode_id: str,
    discussed_on: dt.date,
    forum: str,
    agreed: Sequence[str],
    note: str | None = None,
    follow_up_on: dt.date | None = None,
    source: str,
    actor: str,
    flags_then: Sequence[FlagThen] | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Discussion:
    """Record one case discussion, all or nothing.

    Args:
        db_or_reader: The page's (scoped) reader -- its user must be allowed to register for
            the episode (the therapist of the episode, a supervisor of its team, an admin) --
            or the database file (command line, demo: no access check, no audit).
        episode_id: The case (a couple or family is one episode).
        discussed_on: When it was discussed (not in the future).
        forum: One of :data:`fitdata.vocabulary.FORUMS`.
        agreed: Action codes of ``config.discussion_actions`` (at least one).
        note: Optional short note (see :func:`note_problem`).
        follow_up_on: Optional follow-up date, on or after ``discussed_on``.
        source: The page it was recorded on (:data:`fitdata.vocabulary.DISCUSSION_SOURCES`).
        actor: Who records it (the logged-in user).
        flags_then: The flags current then; None: computed with :func:`current_flags` from
            the data as they were on ``discussed_on``.
        config: The service's configuration (choice list, flag thresholds).
        model: The expected-trajectory model for ``not_on_track`` when computing flags
            (default: the service's, :func:`fitdata.features.expected_trajectory.
            trajectory_model`, as the team review uses).
        today: The date today (default: the system's date).
        now: The time of recording, UTC (default: now).

    Returns:
        The stored :class:`Discussion`.

    Raises:
        AccessDenied: If the reader's user may not record a discussion of this episode.
        DiscussionError: If a rule refuses it, or the episode does not exist; nothing is
            written.
        StoreError: If the file cannot be written.
    """
    today = today or dt.date.today()
    path, reader = _path_and_reader(db_or_reader)
    _check_access(reader, episode_id)
    problems = validate_discussion(
        discussed_on=discussed_on,
        forum=forum,
        agreed=agreed,
        note=note,
        follow_up_on=follow_up_on,
        source=source,
        actor=actor,
        config=config,
        today=today,
    )
    if problems:
        raise DiscussionError(problems)
    if flags_then is None:
        source_reader = reader or reader_for(path)
        flags_then = current_flags(
            source_reader,
            episode_id,
            discussed_on,
            config=config,
            model=model if model is not None else trajectory_model(source_reader),
        )
    note = note.strip() or None if isinstance(note, str) else None
    values = {
        "episode_id": episode_id,
        "discussed_on": discussed_on,
        "forum": forum,
        "flags_then": _flags_value(flags_then),
        "agreed": [str(a) for a in agreed],
        "note": note,
        "follow_up_on": follow_up_on,
        "source": source,
        "recorded_by": actor.strip(),
        "recorded_at": now or _utc_now(),
    }
    saved = group_commit.commit(path, _record, values)
    if reader is not None:
        _audit(reader, "record_discussion", saved)
    return saved


def _episode_row(con: Any, episode_id: str) -> tuple[str, str, str]:
    found = con.execute(
        "SELECT team_id, therapist_id, client_id FROM episodes WHERE episode_id = ?", [episode_id]
    ).fetchall()
    if not found:
        raise DiscussionError(
            [DiscussionProblem("episode_id", "episode_unknown", {"episode": episode_id})]
        )
    return str(found[0][0]), str(found[0][1]), str(found[0][2])


def _record(con: Any, values: dict[str, Any]) -> Discussion:
    """:func:`record_discussion`'s change, applied in a group commit."""
    team_id, therapist_id, _ = _episode_row(con, values["episode_id"])
    discussion_id = int(
        con.execute("SELECT coalesce(max(discussion_id), 0) + 1 FROM case_discussions").fetchall()[
            0
        ][0]
    )
    row = {
        "discussion_id": discussion_id,
        "team_id": team_id,
        "therapist_id": therapist_id,
        **values,
    }
    names = ", ".join(row)
    con.execute(
        f"INSERT INTO case_discussions ({names}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )
    return _load(con, discussion_id)


_SELECT = (
    "SELECT d.discussion_id, d.episode_id, d.team_id, d.therapist_id, d.discussed_on, d.forum, "
    "d.flags_then, d.agreed, d.note, d.follow_up_on, d.source, d.recorded_by, d.recorded_at, "
    "EXISTS (SELECT 1 FROM case_discussion_changes c WHERE c.discussion_id = d.discussion_id "
    "AND c.change_type = 'withdrawn') AS withdrawn "
    "FROM case_discussions d"
)


def _discussion(row: Sequence[Any]) -> Discussion:
    return Discussion(
        discussion_id=int(row[0]),
        episode_id=str(row[1]),
        team_id=str(row[2]),
        therapist_id=str(row[3]),
        discussed_on=row[4],
        forum=str(row[5]),
        flags_then=tuple(
            FlagThen(
                str(f["client_id"]),
                str(f["flag"]),
                None if f["session_no"] is None else int(f["session_no"]),
            )
            for f in row[6]
        ),
        agreed=tuple(str(a) for a in row[7]),
        note=row[8],
        follow_up_on=row[9],
        source=str(row[10]),
        recorded_by=str(row[11]),
        recorded_at=row[12],
        withdrawn=bool(row[13]),
    )


def _load(con: Any, discussion_id: int) -> Discussion:
    found = con.execute(f"{_SELECT} WHERE d.discussion_id = ?", [discussion_id]).fetchall()
    if not found:
        raise DiscussionError(
            [DiscussionProblem("discussion_id", "discussion_unknown", {"id": discussion_id})]
        )
    return _discussion(found[0])


def _audit(reader: Reader, action: str, saved: Discussion) -> None:
    clients = {f.client_id for f in saved.flags_then}
    index = reader.rows("SELECT client_id FROM episodes WHERE episode_id = ?", [saved.episode_id])
    client = str(index[0][0]) if index else ""
    record_access(reader, action, client, saved.episode_id, clients=clients | {client} - {""})


def _existing(reader: Reader, discussion_id: int) -> Discussion:
    """The discussion as the reader sees it (a scoped reader: only its episodes')."""
    found = reader.rows(f"{_SELECT} WHERE d.discussion_id = ?", [discussion_id])
    if not found:
        raise DiscussionError(
            [DiscussionProblem("discussion_id", "discussion_unknown", {"id": discussion_id})]
        )
    return _discussion(found[0])


def correct_discussion(
    db_or_reader: Reader | str | os.PathLike[str],
    discussion_id: int,
    *,
    reason: str,
    actor: str,
    config: ClinicalConfig = DEFAULT_CONFIG,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    **changes: Any,
) -> Discussion:
    """Correct a recorded discussion, keeping its old values and the reason.

    Args:
        db_or_reader: As for :func:`record_discussion`.
        discussion_id: The discussion.
        reason: Why (at least 3 characters; no identity number or name).
        actor: Who corrects it.
        config: The service's configuration.
        today: The date today (default: the system's date).
        now: The time of the change, UTC (default: now).
        **changes: New values of ``discussed_on``, ``forum``, ``agreed``, ``note`` and
            ``follow_up_on`` (the flags then are never changed).

    Returns:
        The corrected :class:`Discussion`.

    Raises:
        AccessDenied: As for :func:`record_discussion`.
        DiscussionError: If nothing is changed, a field cannot be corrected, the new values
            break a rule, the discussion is unknown or withdrawn; nothing is written.
    """
    unknown = sorted(set(changes) - set(_CORRECTABLE))
    if unknown:
        raise DiscussionError(
            [DiscussionProblem(name, "not_correctable", {"field": name}) for name in unknown]
        )
    if not changes:
        raise DiscussionError([DiscussionProblem("discussion_id", "nothing_changed")])
    path, reader = _path_and_reader(db_or_reader)
    before = _existing(reader or reader_for(path), discussion_id)
    _check_access(reader, before.episode_id)
    merged = {name: getattr(before, name) for name in _CORRECTABLE} | changes
    problems = validate_discussion(
        **merged, source=before.source, actor=actor, config=config, today=today
    )
    # a stored code the list no longer has may stay where it was
    problems = [
        p
        for p in problems
        if not (
            p.key == "action_unknown"
            and "agreed" not in changes
            and p.values["code"] in before.agreed
        )
    ]
    problems += reason_problems(reason)
    if problems:
        raise DiscussionError(problems)
    note = merged["note"]
    new = {
        "discussed_on": merged["discussed_on"],
        "forum": merged["forum"],
        "agreed": [str(a) for a in merged["agreed"]],
        "note": note.strip() or None if isinstance(note, str) else None,
        "follow_up_on": merged["follow_up_on"],
    }
    saved = group_commit.commit(
        path,
        _change,
        discussion_id,
        "correction",
        new,
        reason.strip(),
        actor.strip(),
        now or _utc_now(),
    )
    if reader is not None:
        _audit(reader, "correct_discussion", saved)
    return saved


def withdraw_discussion(
    db_or_reader: Reader | str | os.PathLike[str],
    discussion_id: int,
    *,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> Discussion:
    """Withdraw a discussion recorded by mistake: it stays stored, marked withdrawn, with why.

    Lists and aggregates leave withdrawn discussions out (:func:`discussions`).

    Raises:
        AccessDenied: As for :func:`record_discussion`.
        DiscussionError: If the reason is missing or refused, or the discussion is unknown or
            already withdrawn.
    """
    path, reader = _path_and_reader(db_or_reader)
    before = _existing(reader or reader_for(path), discussion_id)
    _check_access(reader, before.episode_id)
    problems = reason_problems(reason)
    if not isinstance(actor, str) or not actor.strip():
        problems.append(DiscussionProblem("actor", "actor_missing"))
    if problems:
        raise DiscussionError(problems)
    saved = group_commit.commit(
        path,
        _change,
        discussion_id,
        "withdrawn",
        None,
        reason.strip(),
        actor.strip(),
        now or _utc_now(),
    )
    if reader is not None:
        _audit(reader, "withdraw_discussion", saved)
    return saved


def _change(
    con: Any,
    discussion_id: int,
    change_type: str,
    new: Mapping[str, Any] | None,
    reason: str,
    actor: str,
    now: dt.datetime,
) -> Discussion:
    """A correction's or withdrawal's change, applied in a group commit."""
    before = _load(con, discussion_id)
    if before.withdrawn:
        raise DiscussionError(
            [DiscussionProblem("discussion_id", "withdrawn", {"id": discussion_id})]
        )
    change_id = int(
        con.execute(
            "SELECT coalesce(max(change_id), 0) + 1 FROM case_discussion_changes"
        ).fetchall()[0][0]
    )
    con.execute(
        "INSERT INTO case_discussion_changes (change_id, discussion_id, episode_id, changed_at, "
        "changed_by, reason, change_type, old_discussed_on, old_forum, old_agreed, old_note, "
        "old_follow_up_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            change_id,
            discussion_id,
            before.episode_id,
            now,
            actor,
            reason,
            change_type,
            before.discussed_on,
            before.forum,
            list(before.agreed),
            before.note,
            before.follow_up_on,
        ],
    )
    if new is not None:
        if new == {name: _plain(getattr(before, name)) for name in new}:
            raise DiscussionError([DiscussionProblem("discussion_id", "nothing_changed")])
        sets = ", ".join(f"{name} = ?" for name in new)
        con.execute(
            f"UPDATE case_discussions SET {sets} WHERE discussion_id = ?",
            [*new.values(), discussion_id],
        )
    return _load(con, discussion_id)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- reading -----------------------------------------------------------------------------------
def _frame_sql(where: str) -> str:
    return (
        "SELECT d.discussion_id, d.episode_id, e.client_id, d.team_id, d.therapist_id, "
        "d.discussed_on, d.forum, d.flags_then, d.agreed, d.note, d.follow_up_on, d.source, "
        "d.recorded_by, d.recorded_at, "
        "coalesce(c.withdrawn, false) AS withdrawn, coalesce(c.corrected, false) AS corrected "
        "FROM case_discussions d "
        "LEFT JOIN episodes e USING (episode_id) "
        "LEFT JOIN (SELECT discussion_id, bool_or(change_type = 'withdrawn') AS withdrawn, "
        "bool_or(change_type = 'correction') AS corrected FROM case_discussion_changes "
        "GROUP BY discussion_id) c USING (discussion_id) "
        f"WHERE {where} ORDER BY d.discussed_on, d.discussion_id"
    )


_DISCUSSED: MemoryCache[frozenset[str]] = MemoryCache(4)


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in DISCUSSION_COLUMNS})
    frame["discussion_id"] = frame["discussion_id"].astype("int64")
    frame["withdrawn"] = frame["withdrawn"].astype(bool)
    frame["corrected"] = frame["corrected"].astype(bool)
    return frame


_EMPTY = _empty_frame()


def _no_discussions() -> pd.DataFrame:
    """No rows, with the columns and types of a read that found none (a copy: callers add)."""
    return _EMPTY.copy()


def _discussed_episodes(reader: Reader) -> frozenset[str]:
    """The episodes with any discussion (withdrawn ones too) the reader may see.

    Read once per version of the file and reader scope: recording a discussion replaces the
    file, and the next read finds the new version.
    """
    return _DISCUSSED.get(
        reader,
        "discussed episodes",
        lambda: frozenset(
            str(row[0]) for row in reader.rows("SELECT DISTINCT episode_id FROM case_discussions")
        ),
    )


def _read(
    reader: Reader,
    *,
    episode_ids: Iterable[str] | None,
    team_id: str | None,
    include_withdrawn: bool,
) -> pd.DataFrame:
    where, params = ["true"], []
    if episode_ids is not None:
        # most episodes were never discussed: those need no query (~4 ms at 1M sessions each)
        ids = sorted({str(e) for e in episode_ids} & _discussed_episodes(reader))
        if not ids:
            return _no_discussions()
        where.append("d.episode_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(ids)
    if team_id is not None:
        where.append("d.team_id = ?")
        params.append(team_id)
    if not include_withdrawn:
        where.append("NOT coalesce(c.withdrawn, false)")
    frame = reader.df(_frame_sql(" AND ".join(where)), params)
    for column in ("discussed_on", "follow_up_on"):
        frame[column] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[column]]
    frame["note"] = frame["note"].astype(object).where(frame["note"].notna(), None)
    frame["withdrawn"] = frame["withdrawn"].astype(bool)
    frame["corrected"] = frame["corrected"].astype(bool)
    return frame[list(DISCUSSION_COLUMNS)].reset_index(drop=True)


def _clients(frame: pd.DataFrame) -> set[str]:
    named = {str(c) for c in frame["client_id"].dropna()}
    for flags in frame["flags_then"]:
        named |= {str(f["client_id"]) for f in flags}
    return named


def discussions(
    reader: Reader,
    *,
    episode_ids: Iterable[str] | None = None,
    team_id: str | None = None,
    include_withdrawn: bool = False,
) -> pd.DataFrame:
    """The discussions the reader may see, one row per discussion, oldest first.

    Args:
        reader: The page's reader (a therapist sees her episodes', a supervisor her teams').
        episode_ids: Only these episodes; None for all.
        team_id: Only discussions of this team (the episode's team when discussed).
        include_withdrawn: Also withdrawn discussions (column ``withdrawn``).

    Returns:
        :data:`DISCUSSION_COLUMNS`; ``flags_then`` a list of ``{client_id, flag, session_no}``,
        ``agreed`` a list of codes, dates as :class:`datetime.date`.

    Raises:
        AccessDenied: For a reader that may see aggregates only (a leader's).
    """
    require_client_rows(reader, "case")
    frame = _read(
        reader, episode_ids=episode_ids, team_id=team_id, include_withdrawn=include_withdrawn
    )
    if len(frame):
        record_access(reader, "discussions", "", team_id=team_id, clients=_clients(frame))
    return frame


def last_discussions(reader: Reader, episode_ids: Iterable[str]) -> pd.DataFrame:
    """The latest discussion of each episode (by date, then by when it was recorded).

    Withdrawn discussions are left out. Columns as :func:`discussions`, one row per episode
    that has a discussion, ordered by episode. Audited like :func:`discussions`.
    """
    frame = discussions(reader, episode_ids=list(episode_ids))
    if frame.empty:
        return frame
    latest = frame.sort_values(["episode_id", "discussed_on", "discussion_id"], kind="stable")
    return latest.drop_duplicates("episode_id", keep="last").reset_index(drop=True)


def aggregate_discussions(reader: Reader, *, team_id: str | None = None) -> pd.DataFrame:
    """Every discussion the reader's scope holds, for aggregates: not audited, any reader.

    On a leader's or comparison reader the ids are hashed, ``note`` is None and
    ``recorded_by`` empty (:mod:`fitdata.data.access`); show only suppressed aggregates of it.
    Withdrawn discussions are left out. Columns as :func:`discussions`.
    """
    return _read(reader, episode_ids=None, team_id=team_id, include_withdrawn=False)


def discussion_changes(reader: Reader, discussion_id: int) -> pd.DataFrame:
    """The corrections and withdrawal of one discussion, oldest first, with old values.

    Raises:
        AccessDenied: For a reader that may see aggregates only.
    """
    require_client_rows(reader, "case")
    frame = reader.df(
        "SELECT change_id, change_type, changed_at, changed_by, reason, old_discussed_on, "
        "old_forum, old_agreed, old_note, old_follow_up_on, episode_id "
        "FROM case_discussion_changes WHERE discussion_id = ? ORDER BY change_id",
        [discussion_id],
    )
    if len(frame):
        record_access(reader, "discussion_changes", "", str(frame["episode_id"].iloc[0]))
    return frame
