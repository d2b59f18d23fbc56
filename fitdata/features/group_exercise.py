"""Cases for group supervision on a shared screen: choosing them and anonymising them.

In the KOR group exercise a supervisor shows a client's graph to a group. Nothing that could
identify the client may reach the page, so this module does the anonymisation **before**
anything reaches a widget:

* :func:`attention_cases` lists a team's client-episodes with the flags that make them worth
  discussing (the SQL flags of :func:`fitdata.analytics.flags.episode_flag_counts`, plus
  ``not_on_track`` from the expected-trajectory model). Its frame carries ids and stays in the
  kernel.
* :class:`Presentation` hands out anonymous labels ("A", "B", ... then "AA") and opaque keys
  (``case-1``, ``case-2``, ...) that are meaningful only inside one kernel; the widgets see
  those, never an episode or client id. A case keeps its label for the whole presentation.
* :func:`anonymise_case` turns one client-episode's sessions into an :class:`AnonymousCase`
  whose frame has only :data:`ANONYMOUS_COLUMNS`: session number, whole weeks since the first
  session, scores, the expected-trajectory lines and per-session flag columns. No id, date,
  name or free text survives; :func:`assert_anonymous` checks that at run time as well.
* :func:`case_token` and :func:`resolve` let the team case review (a separate page) hand a set
  of cases to this page without putting ids in the URL: the token holds, per case, a truncated
  HMAC-SHA256 of the episode and client ids under a secret key that lives **outside the
  database** (:func:`link_key`), keyed also by the day it was issued so tokens from different
  days cannot be linked. :func:`resolve` recomputes the tags for the episodes of the token's
  teams (team ids are not client-identifying) and returns the matching cases; a token made
  with another key, changed, or older than ``max_age_days`` is refused.

The link hook for the case review::

    from fitdata.features.group_exercise import case_token, link_key
    token = case_token(
        [(episode_id, client_id, team_id), ...], key=link_key(context.db_path)
    )
    href = f"group_exercise.ipynb?cases={token}"   # relative to /voila/render/
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import inspect
import os
import secrets
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics import flags as flag_rules
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.queries import episode_team
from fitdata.data.store import Reader
from fitdata.features import expected_trajectory
from fitdata.vocabulary import ORS_ITEMS, SRS_ITEMS

__all__ = [
    "ANONYMOUS_COLUMNS",
    "ATTENTION_ORDER",
    "AnonymousCase",
    "CaseRef",
    "InvalidToken",
    "Presentation",
    "anonymise_case",
    "assert_anonymous",
    "attention_cases",
    "case_label",
    "case_sessions",
    "case_token",
    "expected_lines",
    "latest_session_date",
    "link_key",
    "resolve",
    "therapist_name",
    "trajectory_model",
]


#: Session-level flags carried into the anonymous frame as boolean ``flag_<code>`` columns.
SESSION_FLAGS = (
    "not_on_track",
    "no_reliable_change",
    "reliable_deterioration",
    "srs_below_cutoff",
    "srs_drop",
    "srs_item_below",
)

#: The only columns an anonymous case frame may have (see :func:`assert_anonymous`).
ANONYMOUS_COLUMNS: tuple[str, ...] = (
    "session_no",
    "weeks_since_start",
    "ors_total",
    *ORS_ITEMS,
    "srs_total",
    *SRS_ITEMS,
    "expected",
    "lower",
    *(f"flag_{code}" for code in SESSION_FLAGS),
)

#: Flags in the order that makes a case most worth discussing; it orders the case list.
ATTENTION_ORDER: tuple[str, ...] = (
    "not_on_track",
    "reliable_deterioration",
    "no_reliable_change",
    "srs_below_cutoff",
    "srs_item_below",
    "srs_drop",
    "srs_always_40",
    "not_seen",
    "missing_ors",
    "missing_srs",
)

_ENV_KEY_FILE = "FITDATA_LINK_KEY_FILE"
_KEY_BYTES = 32
_TAG_BYTES = 8
_MAC_BYTES = 12
_TOKEN_PREFIX = "g1"
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, order=True)
class CaseRef:
    """Which client-episode a case is. Kernel-side only: never put one in a widget."""

    episode_id: str
    client_id: str
    team_id: str


# --------------------------------------------------------------------------------------------
# Labels and the per-kernel presentation
# --------------------------------------------------------------------------------------------


def case_label(index: int) -> str:
    """The letters of the ``index``-th case (0-based): A ... Z, AA, AB, ... as in spreadsheets.

    Raises:
        ValueError: If ``index`` is negative.
    """
    if index < 0:
        raise ValueError(f"a case index cannot be negative ({index})")
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass
class Presentation:
    """The cases of one presentation, with stable labels and opaque per-kernel keys.

    A case gets the next free label the first time it is added and keeps it for as long as
    this object lives, so "Case B" stays "Case B" while the group works. Keys are
    ``case-1``, ``case-2``, ... in the order cases were added; they say nothing about the case.
    """

    _refs: dict[str, CaseRef] = field(default_factory=dict)
    _keys: dict[CaseRef, str] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)

    def add(self, ref: CaseRef) -> str:
        """Register ``ref`` (if new) and return its opaque key."""
        if ref not in self._keys:
            key = f"case-{len(self._refs) + 1}"
            self._refs[key] = ref
            self._keys[ref] = key
            self._labels[key] = case_label(len(self._labels))
        return self._keys[ref]

    def label(self, key: str) -> str:
        """The letters of the case with this key (e.g. ``"B"``)."""
        return self._labels[key]

    def ref(self, key: str) -> CaseRef:
        """The case behind an opaque key.

        Raises:
            KeyError: If the key was not handed out by this presentation.
        """
        return self._refs[key]

    def __len__(self) -> int:
        return len(self._refs)


# --------------------------------------------------------------------------------------------
# Choosing cases
# --------------------------------------------------------------------------------------------


def latest_session_date(reader: Reader) -> dt.date | None:
    """The date of the latest session in the database (the default ``as_of``), or None."""
    value = reader.rows("SELECT max(session_date) FROM sessions")[0][0]
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


def trajectory_model(reader: Reader) -> TrajectoryModel:
    """The expected-trajectory model of the service, fitted once per database version.

    Shared with the other dashboards of the kernel and stored beside the database for the next
    kernel (:func:`fitdata.features.expected_trajectory.trajectory_model`); a replaced database file
    (new data imported) is fitted again on the next call.
    """
    return expected_trajectory.trajectory_model(reader)


def _team_client_sessions(reader: Reader, team_id: str, as_of: dt.date) -> pd.DataFrame:
    return reader.df(
        """
        SELECT s.episode_id, s.client_id, s.session_no, s.session_date, s.rater,
               s.ors_total::DOUBLE AS ors_total, s.srs_total::DOUBLE AS srs_total,
               max(s.ors_total::DOUBLE) FILTER (WHERE s.session_no = 1)
                   OVER (PARTITION BY s.episode_id, s.client_id) AS intake
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
        """,
        {"team": team_id, "as_of": as_of},
    )


def _not_on_track(
    reader: Reader,
    team_id: str,
    as_of: dt.date,
    model: TrajectoryModel,
    config: ClinicalConfig,
) -> pd.DataFrame:
    """The ``not_on_track`` rows of a team (:func:`~fitdata.analytics.flags.session_flags`)."""
    sessions = _team_client_sessions(reader, team_id, as_of)
    columns = ["episode_id", "client_id", "flag", "first_session", "sessions"]
    if sessions.empty:
        return pd.DataFrame(columns=columns)
    predicted = model.predict_many(sessions[["intake", "session_no"]])
    sessions["lower_expected"] = predicted["lower"].to_numpy()
    fired = flag_rules.session_flags(sessions.drop(columns=["intake"]), config)
    fired = fired[fired["flag"] == "not_on_track"]
    grouped = fired.groupby(["episode_id", "client_id"], sort=False)["session_no"]
    out = grouped.agg(first_session="min", sessions="size").reset_index()
    out["flag"] = "not_on_track"
    return out[columns]


def _episode_flag_rows(
    reader: Reader,
    team_id: str,
    as_of: dt.date,
    model: TrajectoryModel | None,
    config: ClinicalConfig,
) -> pd.DataFrame:
    """Every episode flag of the team, ``not_on_track`` included when a model is given."""
    accepts_model = "model" in inspect.signature(flag_rules.episode_flag_counts).parameters
    kwargs: dict[str, Any] = {"team_id": team_id, "as_of": as_of, "config": config}
    if accepts_model and model is not None:
        kwargs["model"] = model
    rows = flag_rules.episode_flag_counts(reader, **kwargs)
    rows = rows[["episode_id", "client_id", "flag", "first_session", "sessions"]]
    if model is not None and not accepts_model:
        rows = pd.concat(
            [rows, _not_on_track(reader, team_id, as_of, model, config)], ignore_index=True
        )
    return rows


def attention_cases(
    reader: Reader,
    team_id: str,
    *,
    as_of: dt.date | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
) -> pd.DataFrame:
    """Every client-episode of a team with its flags, most worth discussing first.

    The frame holds ids and is for the kernel only; widgets get labels from a
    :class:`Presentation`.

    Args:
        reader: The database.
        team_id: The team (the episode's team).
        as_of: Judge flags with the sessions up to this date; default the latest session date
            in the database.
        config: The thresholds.
        model: The expected-trajectory model for ``not_on_track``; None leaves that flag out.

    Returns:
        One row per (episode, client) with ``episode_id``, ``client_id``, ``team_id``,
        ``sessions`` (the client's own ratings up to ``as_of``), ``ongoing`` (not ended at
        ``as_of``), ``flag_codes`` (a tuple of flag codes in :data:`ATTENTION_ORDER`),
        ``flag_sessions`` (a tuple: the session where each of those flags fired first) and
        ``priority`` (the position of the most pressing flag; cases without flags last).
        Ties are ordered by a hash, not by id or date, so the order reveals neither.
    """
    require_client_rows(reader, "case")  # a leader sees aggregates only
    as_of = as_of or latest_session_date(reader) or dt.date.today()
    episodes = reader.df(
        """
        SELECT s.episode_id, s.client_id, e.team_id, count(*) AS sessions,
               (e.ended IS NULL OR e.ended > $as_of) AS ongoing
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
        GROUP BY s.episode_id, s.client_id, e.team_id, e.ended
        """,
        {"team": team_id, "as_of": as_of},
    )
    rows = _episode_flag_rows(reader, team_id, as_of, model, config)
    order = {code: i for i, code in enumerate(ATTENTION_ORDER)}
    rows = rows[rows["flag"].isin(order)].assign(_order=rows["flag"].map(order))
    rows = rows.sort_values(["episode_id", "client_id", "_order"], kind="stable")
    grouped = rows.groupby(["episode_id", "client_id"], sort=False)
    summary = grouped.agg(
        flag_codes=("flag", tuple),
        flag_sessions=("first_session", lambda s: tuple(int(v) for v in s)),
        priority=("_order", "min"),
    ).reset_index()
    out = episodes.merge(summary, on=["episode_id", "client_id"], how="left")
    empty = out["flag_codes"].isna()
    out.loc[empty, "flag_codes"] = pd.Series([()] * int(empty.sum()), index=out.index[empty])
    out.loc[empty, "flag_sessions"] = pd.Series([()] * int(empty.sum()), index=out.index[empty])
    out["priority"] = out["priority"].fillna(len(ATTENTION_ORDER)).astype(int)
    out["flag_count"] = out["flag_codes"].map(len)
    out["ongoing"] = out["ongoing"].astype(bool)
    out["sessions"] = out["sessions"].astype(int)
    # Ties broken by a hash of the ids: stable, but unrelated to the codes' order or dates.
    out["_tiebreak"] = [
        hashlib.blake2b(f"{e}|{c}".encode(), digest_size=8).hexdigest()
        for e, c in zip(out["episode_id"], out["client_id"], strict=True)
    ]
    out = out.sort_values(
        ["priority", "flag_count", "_tiebreak"], ascending=[True, False, True], kind="stable"
    )
    return out.drop(columns=["_tiebreak"]).reset_index(drop=True)


def therapist_name(reader: Reader, ref: CaseRef) -> str:
    """The name of the case's therapist; only for when the supervisor chooses to show it."""
    rows = reader.rows(
        "SELECT th.name FROM episodes e JOIN therapists th USING (therapist_id) "
        "WHERE e.episode_id = ?",
        [ref.episode_id],
    )
    return str(rows[0][0]) if rows else ""


# --------------------------------------------------------------------------------------------
# Anonymising one case
# --------------------------------------------------------------------------------------------

_CASE_COLUMNS = ", ".join(
    ["session_no", "session_date"]
    + [f"{c}::DOUBLE AS {c}" for c in ("ors_total", *ORS_ITEMS, "srs_total", *SRS_ITEMS)]
)


def case_sessions(reader: Reader, ref: CaseRef) -> tuple[pd.DataFrame, str]:
    """The client's own ratings in the episode (with dates: kernel-side), and the age group."""
    require_client_rows(reader, "case")  # a leader sees aggregates only
    sessions = reader.df(
        f"""
        SELECT {_CASE_COLUMNS}
        FROM sessions
        WHERE team_id = ? AND episode_id = ? AND client_id = ? AND rater = 'client'
        ORDER BY session_no
        """,
        [episode_team(reader, ref.episode_id), ref.episode_id, ref.client_id],
    )
    rows = reader.rows("SELECT age_group FROM clients WHERE client_id = ?", [ref.client_id])
    if len(sessions):
        record_access(reader, "group_case", ref.client_id, ref.episode_id)
    return sessions, (str(rows[0][0]) if rows else "adult")


@dataclass(frozen=True)
class AnonymousCase:
    """One case as the group may see it: nothing in it identifies the client.

    Attributes:
        label: The letters of the case ("A").
        age_group: ``child``, ``adolescent`` or ``adult`` (picks the cutoff).
        sessions: One row per session with exactly :data:`ANONYMOUS_COLUMNS`.
        trajectory_episodes: Closed episodes behind the expected line at the last session,
            or None when the model had too few (the graph then shows only the
            reliable-change band).
    """

    label: str
    age_group: str
    sessions: pd.DataFrame = field(compare=False)
    trajectory_episodes: int | None = None

    @property
    def session_count(self) -> int:
        """Number of sessions."""
        return len(self.sessions)

    @property
    def weeks(self) -> int:
        """Whole weeks from the first to the last session."""
        if self.sessions.empty:
            return 0
        return int(self.sessions["weeks_since_start"].max())


def anonymise_case(
    sessions: pd.DataFrame,
    *,
    label: str,
    age_group: str,
    model: TrajectoryModel | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> AnonymousCase:
    """Turn one client-episode's own ratings into an :class:`AnonymousCase`.

    Dates become whole weeks since the first session (``floor(days / 7)``); ids, dates, raters
    and any other column are dropped. The expected and lower lines are added when ``model``
    gives them (NaN where it has too few episodes), and each session-level flag becomes a
    boolean ``flag_<code>`` column computed with :func:`fitdata.analytics.flags.session_flags`.

    Args:
        sessions: The client's own ratings: ``session_no``, ``session_date``, ``ors_total``,
            ``srs_total`` and optionally the items (as from :func:`case_sessions`).
        label: The case's letters.
        age_group: The client's age group.
        model: Expected-trajectory model, or None.
        config: The thresholds for the flags.

    Returns:
        The anonymous case.

    Raises:
        ValueError: If a required column is missing.
    """
    missing = {"session_no", "session_date", "ors_total", "srs_total"} - set(sessions.columns)
    if missing:
        raise ValueError(f"anonymise_case needs the columns {sorted(missing)}")
    frame = sessions.sort_values("session_no").reset_index(drop=True).copy()
    for column in ("ors_total", *ORS_ITEMS, "srs_total", *SRS_ITEMS):
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    dates = pd.to_datetime(frame["session_date"])
    days = (dates - dates.min()).dt.days
    frame["weeks_since_start"] = (days // 7).astype("int64")
    frame["session_no"] = frame["session_no"].astype("int64")

    trajectory_episodes: int | None = None
    frame["expected"] = np.nan
    frame["lower"] = np.nan
    intake_rows = frame.loc[frame["session_no"] == 1, "ors_total"]
    intake = float(intake_rows.iloc[0]) if len(intake_rows) else np.nan
    if model is not None and not frame.empty:
        predicted = model.predict_many(
            pd.DataFrame({"intake": np.full(len(frame), intake), "session_no": frame["session_no"]})
        )
        frame["expected"] = predicted["expected"].to_numpy(dtype=float)
        frame["lower"] = predicted["lower"].to_numpy(dtype=float)
        last = predicted.iloc[-1]
        trajectory_episodes = int(last["n_episodes"]) if bool(last["sufficient"]) else None

    keyed = frame.assign(
        episode_id="case", client_id="case", rater="client", lower_expected=frame["lower"]
    )
    fired = flag_rules.session_flags(keyed, config)
    for code in SESSION_FLAGS:
        numbers = set(fired.loc[fired["flag"] == code, "session_no"].astype(int))
        frame[f"flag_{code}"] = frame["session_no"].isin(numbers)

    anonymous = frame[list(ANONYMOUS_COLUMNS)].reset_index(drop=True)
    assert_anonymous(anonymous)
    return AnonymousCase(
        label=label,
        age_group=age_group,
        sessions=anonymous,
        trajectory_episodes=trajectory_episodes,
    )


def expected_lines(
    case: AnonymousCase, model: TrajectoryModel | None, sessions: Sequence[int]
) -> pd.DataFrame:
    """Expected and lower ORS of the case at ``sessions`` (e.g. past the last shown session).

    Returns:
        ``session_no``, ``expected``, ``lower`` and ``sufficient``; empty without a model or
        an intake ORS.
    """
    columns = ["session_no", "expected", "lower", "sufficient"]
    first = case.sessions.loc[case.sessions["session_no"] == 1, "ors_total"]
    if model is None or first.empty or np.isnan(first.iloc[0]) or not len(sessions):
        return pd.DataFrame(columns=columns)
    predicted = model.predict(float(first.iloc[0]), list(sessions))
    return predicted[columns]


def assert_anonymous(frame: pd.DataFrame) -> None:
    """Refuse a frame that could carry something identifying.

    Raises:
        ValueError: If a column is not one of :data:`ANONYMOUS_COLUMNS`, or any column holds
            dates, times or text.
    """
    extra = [c for c in frame.columns if c not in ANONYMOUS_COLUMNS]
    if extra:
        raise ValueError(f"not allowed in an anonymous case: columns {extra}")
    for column in frame.columns:
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"not allowed in an anonymous case: {column} has type {dtype}")


# --------------------------------------------------------------------------------------------
# Links from the case review: keyed HMAC tokens
# --------------------------------------------------------------------------------------------


class InvalidToken(ValueError):
    """A case link that cannot be used here (changed, made with another key, or too old)."""


def link_key(db_path: str | os.PathLike[str]) -> bytes:
    """The secret key for case links, kept outside the database.

    The key file is ``$FITDATA_LINK_KEY_FILE`` or, by default, ``<database>.link-key`` beside
    the database. It is created on first use (32 random bytes, mode 0600). Every dashboard
    kernel of a ``fitdata serve`` uses the same file, so a link made on one page resolves on
    another. Deleting the file invalidates every link.

    Raises:
        InvalidToken: If the key file exists but is too short to be a key.
    """
    configured = os.environ.get(_ENV_KEY_FILE)
    path = Path(configured) if configured else Path(f"{Path(db_path)}.link-key")
    if not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another kernel created it first
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(_KEY_BYTES))
    key = path.read_bytes()
    if len(key) < _KEY_BYTES:
        raise InvalidToken(
            f"The case-link key file {path} holds {len(key)} bytes; it needs at least "
            f"{_KEY_BYTES}. Delete it to have a new one made (old links stop working)."
        )
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, day: int, episode_id: str, client_id: str) -> bytes:
    message = f"fitdata-case|{day}|{episode_id}|{client_id}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"fitdata-case-set|" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def case_token(
    cases: Iterable[CaseRef | tuple[str, str, str]],
    *,
    key: bytes,
    issued: dt.date | None = None,
) -> str:
    """An opaque token for a set of cases, safe to put in a URL.

    Args:
        cases: The cases, in the order they should be presented, as :class:`CaseRef` or
            ``(episode_id, client_id, team_id)``.
        key: The secret from :func:`link_key`.
        issued: The day the link is made (default today); part of every tag, so the same
            case gets a different tag on another day.

    Returns:
        ``g1.<teams>.<body>.<mac>``: the teams' ids (not client-identifying, used to narrow
        the search) and, per case, a truncated HMAC-SHA256 of its ids.

    Raises:
        ValueError: If no case is given.
    """
    refs = [c if isinstance(c, CaseRef) else CaseRef(*map(str, c)) for c in cases]
    if not refs:
        raise ValueError("a case link needs at least one case")
    day = ((issued or dt.date.today()) - _EPOCH).days
    body = struct.pack(">I", day) + b"".join(
        _tag(key, day, r.episode_id, r.client_id) for r in refs
    )
    teams = sorted({r.team_id for r in refs})
    teams_text = _b64("\n".join(teams).encode())
    return ".".join(
        [_TOKEN_PREFIX, teams_text, _b64(body), _b64(_mac(key, teams_text.encode() + body))]
    )


def resolve(
    reader: Reader,
    token: str,
    *,
    key: bytes,
    today: dt.date | None = None,
    max_age_days: int = 14,
) -> list[CaseRef]:
    """The cases behind a :func:`case_token`, in the token's order.

    Args:
        reader: The database.
        token: The token from the URL or pasted by the supervisor.
        key: The secret from :func:`link_key`.
        today: The day to judge the token's age by (default today).
        max_age_days: Tokens older than this many days are refused.

    Returns:
        The cases found; a case no longer in the database is left out.

    Raises:
        InvalidToken: If the token is malformed, was changed or made with another key, or is
            too old.
    """
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != _TOKEN_PREFIX:
        raise InvalidToken("This is not a case link from the case review.")
    _, teams_text, body_text, mac_text = parts
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
        teams = [t for t in _unb64(teams_text).decode("utf-8").split("\n") if t]
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken(
            "This case link is damaged; copy it again from the case review."
        ) from None
    if not hmac.compare_digest(mac, _mac(key, teams_text.encode() + body)):
        raise InvalidToken(
            "This case link was not made here (or was changed); open it again from the case review."
        )
    if len(body) < 4 + _TAG_BYTES or (len(body) - 4) % _TAG_BYTES:
        raise InvalidToken("This case link is damaged; copy it again from the case review.")
    (day,) = struct.unpack(">I", body[:4])
    age = ((today or dt.date.today()) - _EPOCH).days - day
    if age > max_age_days:
        raise InvalidToken(
            f"This case link is {age} days old; links last {max_age_days} days. Make a new "
            "one in the case review."
        )
    wanted = [body[i : i + _TAG_BYTES] for i in range(4, len(body), _TAG_BYTES)]
    candidates = reader.df(
        """
        SELECT DISTINCT s.episode_id, s.client_id, e.team_id
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE e.team_id IN (SELECT unnest($teams::VARCHAR[])) AND s.rater = 'client'
        """,
        {"teams": teams},
    )
    by_tag = {
        _tag(key, day, e, c): CaseRef(str(e), str(c), str(t))
        for e, c, t in zip(
            candidates["episode_id"], candidates["client_id"], candidates["team_id"], strict=True
        )
    }
    return [by_tag[tag] for tag in wanted if tag in by_tag]
