"""The client's own page: what it shows the client, and the forms the client sends from it.

The page (``dashboards/client.ipynb``, :mod:`fitdata.ui.client_page`) is opened with a client
link (:mod:`fitdata.data.client_links`) and reads through that link's client reader only.

* :func:`client_page_data` -- the forms still open, the client's own ORS over the sessions
  (today's marked), whether the therapist lets the page show the graph, and one or two plain
  sentences in the page's language (:func:`plain_sentences`: "Today 24. Since the first session
  your score has gone up 6 points -- a clear change."), drawn from the reliable change of
  :class:`~fitdata.config.ClinicalConfig` without its jargon.
* :func:`submit_client_form` -- the ORS creates the day's session (the next number), the SRS
  fills the SRS of the day's session (made by the ORS or by the therapist; kept in the change
  history as ``srs_added`` by ``client-link:<id>``, as the therapist's later SRS is). The form's
  variant (ORS/CORS, SRS/CSRS/GSRS) and ``entered_by = 'client'`` are stored, and the link's
  ``client_form_uses`` row goes in the **same** transaction, group-committed with other writers
  (:mod:`fitdata.data.group_commit`), so a form is sent once: a second send is refused
  (:class:`~fitdata.data.client_links.LinkRefused` ``used``). Scores follow registration's
  rules (:mod:`fitdata.features.registration_rules`), with messages for a client
  (:class:`ClientFormError`). A sent form is never changed from this page; corrections stay
  the therapist's, with a reason.
* :func:`set_client_graph` -- the therapist turns the client's graph on the page off or on.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import group_commit
from fitdata.data.access import AccessDenied, record_access, require_write
from fitdata.data.client_links import (
    FORMS,
    ClientGrant,
    LinkRefused,
    audit_client,
    grant_of,
    used_forms,
)
from fitdata.data.errors import StoreError
from fitdata.data.participants import ensure_participants
from fitdata.data.store import Reader
from fitdata.features.registration import load_episode_state
from fitdata.features.registration_rules import (
    Problem,
    Registration,
    Scores,
    validate_registration,
    validate_scores,
)
from fitdata.i18n import Translator
from fitdata.vocabulary import SCORE_COLUMNS, default_forms, participant_role

__all__ = [
    "ClientFormError",
    "ClientPageData",
    "SubmitResult",
    "client_page_data",
    "plain_sentences",
    "score_text",
    "set_client_graph",
    "submit_client_form",
]


@dataclass(frozen=True)
class ClientPageData:
    """What the client's page shows.

    Attributes:
        age_group: The client's age group (``child`` gets the child forms' words on the page).
        ors_form: The outcome form's name: ``ORS`` or ``CORS``.
        srs_form: The alliance form's name: ``SRS``, ``CSRS`` or ``GSRS``.
        forms_open: The link's forms not yet sent, and not already filled in for that day
            (by the therapist), in the order the page asks for them (``ors``, ``srs``).
        show_graph: Whether the therapist lets the page show the client's graph.
        history: The client's own ORS in this episode, one row per session with an ORS:
            ``session_no``, ``session_date``, ``ors_total``, ``srs_total`` (NaN if not given),
            ``today`` (the session of the link's day).
        sentences: One or two plain sentences about the ORS, in the page's language.
    """

    age_group: str
    ors_form: str
    srs_form: str
    forms_open: tuple[str, ...]
    show_graph: bool
    history: pd.DataFrame
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class SubmitResult:
    """What a sent form did: the session it went into, and the link's forms still open."""

    session_id: int
    session_no: int
    session_date: dt.date
    form: str
    form_name: str
    forms_open: tuple[str, ...]


class ClientFormError(ValueError):
    """A form the client cannot send as it is; ``messages`` say why in the page's language.

    ``problems`` are ``(key, values)`` pairs of ``client_data.error.<key>`` messages.
    """

    def __init__(self, problems: Sequence[tuple[str, dict[str, Any]]], lang: str = "en") -> None:
        self.problems = [(str(k), dict(v)) for k, v in problems]
        self.lang = lang
        tr = Translator(lang)
        self.messages = tuple(_error_text(k, v, tr) for k, v in self.problems)
        super().__init__(" ".join(self.messages))

    def __reduce__(self) -> tuple[type[ClientFormError], tuple[Any, ...]]:
        """Pickle with the problems: a group-committed submission's refusal reaches its writer."""
        return (type(self), (self.problems, self.lang))


def _error_text(key: str, values: dict[str, Any], tr: Translator) -> str:
    shown = {k: tr.text(f"item.{v}") if k == "item" else v for k, v in values.items()}
    return tr.text(f"client_data.error.{key}", **shown)


# Registration's problems, in the words of the client's page (anything else: "other").
_CLIENT_PROBLEMS = {
    "item_missing": "item_missing",
    "item_range": "item_range",
    "item_step": "item_step",
    "items_count": "items_count",
    "form_empty": "items_count",
    "session_on_date": "already_today",
    "session_on_date_without_srs": "already_today",
    "episode_ended": "episode_ended",
    "date_future": "date",
    "date_before_episode": "date",
    "date_after_episode": "date",
    "date_before_previous": "date",
    "date_after_next": "date",
    "date_missing": "date",
}


def _client_problems(
    problems: Sequence[Problem], form_name: str
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for problem in problems:
        key = _CLIENT_PROBLEMS.get(problem.key, "other")
        values: dict[str, Any] = {"form": form_name}
        if key.startswith("item") and "item" in problem.values:
            values["item"] = problem.values["item"]
        if (key, values) not in out:
            out.append((key, values))
    return out


# -- plain sentences ----------------------------------------------------------------------------


def score_text(value: float, tr: Translator) -> str:
    """A score as a person writes it: ``24`` for 24.0, ``24.3`` (``24,3`` in bokmål)."""
    rounded = round(float(value), 1)
    decimals = 0 if rounded == int(rounded) else 1
    return tr.number(rounded, decimals=decimals)


def _points(value: float, tr: Translator) -> str:
    text = score_text(value, tr)
    return tr.count_text("client_data.points", 1 if round(value, 1) == 1 else 2, value=text)


def plain_sentences(
    history: pd.DataFrame,
    session_date: dt.date | None,
    tr: Translator,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> tuple[str, ...]:
    """One or two sentences a client understands about their ORS over the sessions.

    "Today 24. Since the first session your score has gone up 6 points -- a clear change." and
    "A change of 5 points or more is a clear change." A clear change is the config's reliable
    change, with its tie rule (:meth:`~fitdata.config.ClinicalConfig.change_direction`); no
    cutoff, band or technical word is named.

    Args:
        history: The client's sessions with ``session_no``, ``session_date`` and ``ors_total``
            (rows without an ORS are skipped).
        session_date: Today's session day: the latest score is "today" when it is from that day.
        tr: The page's language.
        config: The thresholds.
    """
    rows = history.dropna(subset=["ors_total"]).sort_values("session_no")
    if rows.empty:
        return (tr.text("client_data.sentence.none"),)
    first, last = float(rows["ors_total"].iloc[0]), float(rows["ors_total"].iloc[-1])
    day = rows["session_date"].iloc[-1]
    day = day.date() if isinstance(day, dt.datetime) else day
    score = score_text(last, tr)
    now = (
        tr.text("client_data.sentence.today", score=score)
        if session_date is not None and day == session_date
        else tr.text("client_data.sentence.last", score=score, date=tr.date(day))
    )
    if len(rows) == 1:
        return (f"{now} {tr.text('client_data.sentence.first')}",)
    change = round(last - first, 1)
    direction = config.change_direction(change)
    if change == 0:
        return (f"{now} {tr.text('client_data.sentence.same')}",)
    way = "up" if change > 0 else "down"
    size = "clear" if direction != 0 else "small"
    since = tr.text(f"client_data.sentence.{way}_{size}", points=_points(abs(change), tr))
    means = "clear_means" if config.change_at_threshold_is_reliable else "clear_means_strict"
    explained = tr.text(
        f"client_data.sentence.{means}", points=_points(config.ors_reliable_change, tr)
    )
    return (f"{now} {since}", explained)


# -- reading ------------------------------------------------------------------------------------


def _one(reader: Reader, sql: str, params: Sequence[Any]) -> Any:
    rows = reader.rows(sql, params)
    return rows[0][0] if rows else None


def client_page_data(
    reader: Reader, grant: ClientGrant, tr: Translator, config: ClinicalConfig = DEFAULT_CONFIG
) -> ClientPageData:
    """Everything the client's page shows, read through ``reader`` (the link's client reader).

    Recorded in the audit log as the link (``client_page``).

    Raises:
        LinkRefused: ``unknown`` if the client or episode is not (or no longer) there;
            ``expired`` from a client reader whose grant has expired.
    """
    age_group = _one(reader, "SELECT age_group FROM clients WHERE client_id = ?", [grant.client_id])
    episode_format = _one(
        reader, "SELECT format FROM episodes WHERE episode_id = ?", [grant.episode_id]
    )
    if age_group is None or episode_format is None:
        raise LinkRefused("unknown")
    sessions = reader.df(
        "SELECT session_no, session_date, ors_total::DOUBLE AS ors_total, "
        "srs_total::DOUBLE AS srs_total FROM sessions "
        "WHERE episode_id = ? AND client_id = ? AND rater = 'client' ORDER BY session_no",
        [grant.episode_id, grant.client_id],
    )
    shown = _one(
        reader, "SELECT show_graph FROM client_page_settings WHERE client_id = ?", [grant.client_id]
    )
    record_access(reader, "client_page", grant.client_id, grant.episode_id)
    sessions["session_date"] = pd.to_datetime(sessions["session_date"]).dt.date
    today = sessions[sessions["session_date"] == grant.session_date]
    filled = {
        form
        for form in FORMS
        if len(today) and not today[f"{form}_total"].isna().all()  # the therapist's, or sent
    }
    done = used_forms(reader.path, grant.link_id) | filled
    history = sessions.dropna(subset=["ors_total"]).reset_index(drop=True)
    history["today"] = history["session_date"] == grant.session_date
    ors_form, srs_form = default_forms(str(age_group), str(episode_format))
    return ClientPageData(
        age_group=str(age_group),
        ors_form=ors_form,
        srs_form=srs_form,
        forms_open=tuple(f for f in FORMS if f in grant.forms and f not in done),
        show_graph=True if shown is None else bool(shown),
        history=history,
        sentences=plain_sentences(history, grant.session_date, tr, config),
    )


# -- writing ------------------------------------------------------------------------------------


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def submit_client_form(
    db: str | os.PathLike[str],
    grant: ClientGrant,
    form: str,
    items: Sequence[float],
    *,
    lang: str,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> SubmitResult:
    """Send one form of the link: the four marks of the ORS or of the SRS, in form order.

    Args:
        db: The database file.
        grant: The redeemed link (:func:`fitdata.data.client_links.redeem_client_link`).
        form: ``ors`` or ``srs``.
        items: The four marks, each 0.0-10.0 in tenths.
        lang: The page's language (for the messages of :class:`ClientFormError`).
        today: The date today (default: the system's date); the session's day may not be later.
        now: The time (UTC, naive; default now): the link must not have expired.

    Returns:
        The session written, and the link's forms still open.

    Raises:
        LinkRefused: ``expired``; ``used`` when this form of the link was sent already (also by
            a send a moment earlier); ``unknown`` when the episode or client is gone.
        ClientFormError: A mark missing or out of range, the form not in the link, the form
            already given for that day (by the therapist), no session yet for an SRS, or an
            ended episode. Nothing is written then.
    """
    now = now or _utc_now()
    today = today or dt.date.today()
    tr_lang = lang if lang in ("en", "nb") else "en"
    if grant.expired(now):
        raise LinkRefused("expired")
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; expected 'ors' or 'srs'")
    if form not in grant.forms:
        raise ClientFormError([("form_not_in_link", {"form": form.upper()})], tr_lang)
    values = tuple(items)
    problems = validate_scores(form, Scores.from_items(*values))
    if problems:
        raise ClientFormError(_client_problems(problems, form.upper()), tr_lang)
    marks = tuple(round(float(v), 1) for v in values)
    result = group_commit.commit(db, _submit, grant, form, marks, today, now, tr_lang)
    audit_client(db, grant, "client_form_submitted", form=form, session_id=int(result.session_id))
    return result


def _rows(con: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def _submit(
    con: Any,
    grant: ClientGrant,
    form: str,
    marks: tuple[float, ...],
    today: dt.date,
    now: dt.datetime,
    lang: str,
) -> SubmitResult:
    """:func:`submit_client_form`'s change, applied in a group commit (one transaction)."""
    used = {
        f
        for (f,) in _rows(
            con, "SELECT form FROM client_form_uses WHERE link_id = ?", [grant.link_id]
        )
    }
    if form in used:
        raise LinkRefused("used")
    episode = load_episode_state(con, grant.episode_id, grant.client_id)
    found = _rows(
        con,
        "SELECT c.age_group, e.format, e.client_id FROM clients c, episodes e "
        "WHERE c.client_id = ? AND e.episode_id = ?",
        [grant.client_id, grant.episode_id],
    )
    if episode is None or not found:
        raise LinkRefused("unknown")
    age_group, episode_format, index = found[0]
    ors_form, srs_form = default_forms(str(age_group), str(episode_format))
    form_name = ors_form if form == "ors" else srs_form
    scores = Scores.from_items(*marks)
    other_given: set[str] = set()
    if form == "ors":
        registration = Registration(
            episode.team_id,
            episode.therapist_id,
            grant.client_id,
            grant.episode_id,
            grant.session_date,
            scores,
        )
        problems = validate_registration(registration, episode, today)
        if problems:
            raise ClientFormError(_client_problems(problems, form_name), lang)
        session_id = int(
            _rows(con, "SELECT coalesce(max(session_id), 0) + 1 FROM sessions", [])[0][0]
        )
        session_no = episode.next_session_no
        row = {
            "session_id": session_id,
            "episode_id": grant.episode_id,
            "client_id": grant.client_id,
            "therapist_id": episode.therapist_id,
            "team_id": episode.team_id,
            "session_date": grant.session_date,
            "session_no": session_no,
            "rater": "client",
            **scores.columns("ors"),
            "ors_form": ors_form,
            "entered_by": "client",
        }
        con.execute(
            f"INSERT INTO sessions ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
        role = "index" if grant.client_id == index else participant_role(episode_format, "client")
        ensure_participants(
            con, [{"episode_id": grant.episode_id, "client_id": grant.client_id, "role": role}]
        )
    else:
        if episode.ended is not None:
            raise ClientFormError([("episode_ended", {"form": form_name})], lang)
        day = episode.session_on(grant.session_date)
        if day is None:
            raise ClientFormError([("srs_no_session", {"form": form_name})], lang)
        if day.srs is not None:
            raise ClientFormError([("already_today", {"form": form_name})], lang)
        session_id, session_no = day.session_id, day.session_no
        if day.ors is not None:
            other_given.add("ors")
        _record_srs_added(con, grant, session_id, now)
        assignments = {**scores.columns("srs"), "srs_form": srs_form}
        con.execute(
            f"UPDATE sessions SET {', '.join(f'{k} = ?' for k in assignments)} "
            "WHERE session_id = ?",
            [*assignments.values(), session_id],
        )
    con.execute(
        "INSERT INTO client_form_uses (link_id, form, session_id, used_at) VALUES (?, ?, ?, ?)",
        [grant.link_id, form, session_id, now],
    )
    # the day's session now has this form, and maybe the other (given by the therapist)
    done = used | {form} | other_given
    return SubmitResult(
        session_id,
        session_no,
        grant.session_date,
        form,
        form_name,
        tuple(f for f in FORMS if f in grant.forms and f not in done),
    )


def _record_srs_added(con: Any, grant: ClientGrant, session_id: int, now: dt.datetime) -> None:
    """The change history's row for an SRS added to a saved session (as registration keeps it)."""
    columns = ", ".join(SCORE_COLUMNS)
    before = _rows(
        con,
        f"SELECT episode_id, client_id, session_no, session_date, {columns} "
        "FROM sessions WHERE session_id = ?",
        [session_id],
    )[0]
    change_id = int(
        _rows(con, "SELECT coalesce(max(change_id), 0) + 1 FROM session_changes", [])[0][0]
    )
    row = {
        "change_id": change_id,
        "session_id": session_id,
        "episode_id": before[0],
        "client_id": before[1],
        "session_no": before[2],
        "change_type": "srs_added",
        "changed_at": now,
        "changed_by": grant.user_name,
        "reason": None,
        "old_session_date": before[3],
        **{f"old_{c}": v for c, v in zip(SCORE_COLUMNS, before[4:], strict=True)},
    }
    con.execute(
        f"INSERT INTO session_changes ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


def set_client_graph(
    db: str | os.PathLike[str] | Reader, client_id: str, shown: bool, actor: str
) -> None:
    """Turn the client's own graph on their page on (``shown``) or off.

    Args:
        db: The database file, or the therapist's page reader: a scoped reader must see the
            client and may register for one of the client's episodes
            (:func:`fitdata.data.access.require_write`, as registration asks).
        client_id: The client.
        shown: Whether the page shows the graph.
        actor: Who decides (the therapist's user name), stored with the setting.

    Raises:
        AccessDenied: If the reader's user may not register for this client (or it is a
            client's own reader).
        StoreError: If the client is unknown, or no one is named as ``actor``.
    """
    if not isinstance(actor, str) or not actor.strip():
        raise StoreError("Say who changes the setting (the therapist's user name).")
    if isinstance(db, Reader):
        if grant_of(db) is not None:
            raise AccessDenied("A client's page cannot change its own settings.")
        episodes = db.rows(
            "SELECT DISTINCT e.team_id, e.therapist_id FROM episodes e "
            "WHERE e.client_id = ? OR e.episode_id IN "
            "(SELECT episode_id FROM sessions WHERE client_id = ?)",
            [client_id, client_id],
        )
        if not episodes:
            raise StoreError(f"There is no client {client_id!r} among your clients.")
        refused: AccessDenied | None = None
        for team_id, therapist_id in episodes:
            try:
                require_write(db, str(team_id), str(therapist_id))
                refused = None
                break
            except AccessDenied as error:
                refused = error
        if refused is not None:
            raise refused
        path = db.path
    else:
        path = db
    group_commit.commit(path, _set_graph, client_id, bool(shown), actor.strip(), _utc_now())


def _set_graph(con: Any, client_id: str, shown: bool, actor: str, now: dt.datetime) -> None:
    """:func:`set_client_graph`'s change, applied in a group commit."""
    if not _rows(con, "SELECT 1 FROM clients WHERE client_id = ?", [client_id]):
        raise StoreError(f"There is no client {client_id!r} in the database.")
    con.execute(
        "INSERT OR REPLACE INTO client_page_settings (client_id, show_graph, set_by, set_at) "
        "VALUES (?, ?, ?, ?)",
        [client_id, shown, actor, now],
    )
