"""Flags over a pandas frame of sessions: vectorised, no per-episode Python loop.

:func:`session_flags` raises the flags of each session; :func:`episode_flags` aggregates them
per episode and client, says whether each still holds now (at the last session that could raise
it, :data:`~fitdata.analytics.flags.rules.NOW_AT`) and adds the episode-only flags
(``srs_always_40``, ``not_seen``, ``not_judged``). The rules and their ties are described in
:mod:`fitdata.analytics.flags`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.flags.rules import (
    EPISODE_COLUMNS,
    FLAGS,
    NOW_AT,
    SESSION_COLUMNS,
    SRS_MAX,
    describe_flags,
)
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.vocabulary import SRS_ITEMS

__all__ = ["episode_flags", "session_flags"]

_KEYS = ["episode_id", "client_id"]
_SCORES = ["ors_total", "srs_total", *SRS_ITEMS]


# --------------------------------------------------------------------------------------------
# Vectorised versions of the config's tie rules (same tolerance, same inclusivity)
# --------------------------------------------------------------------------------------------


def _below(values: pd.Series, threshold: float | pd.Series) -> pd.Series:
    """``values < threshold`` beyond the tie tolerance; NaN never flags."""
    return (values < threshold - TIE_TOLERANCE).fillna(False).astype(bool)


def _direction(change: pd.Series, config: ClinicalConfig) -> pd.Series:
    """Vectorised :meth:`ClinicalConfig.change_direction`: +1, -1 or 0 (0 for NaN)."""
    size = change.abs()
    rc = config.ors_reliable_change
    if config.change_at_threshold_is_reliable:
        reliable = size >= rc - TIE_TOLERANCE
    else:
        reliable = size > rc + TIE_TOLERANCE
    reliable = reliable.fillna(False).astype(bool)
    sign = np.where(change > 0, 1, -1)
    return pd.Series(np.where(reliable, sign, 0), index=change.index, dtype="int64")


def _client_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Client-rated rows, typed and sorted by (episode, client, session number)."""
    frame = sessions
    if "rater" in frame.columns:
        frame = frame[frame["rater"] == "client"]
    frame = frame.copy()
    for column in _SCORES:
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    if "lower_expected" in frame.columns:
        frame["lower_expected"] = pd.to_numeric(frame["lower_expected"], errors="coerce").astype(
            "float64"
        )
    if "session_date" not in frame.columns:
        frame["session_date"] = pd.NaT
    return frame.sort_values([*_KEYS, "session_no"], kind="stable").reset_index(drop=True)


def _raw(
    frame: pd.DataFrame,
    mask: pd.Series,
    flag: str,
    value: Any = np.nan,
    threshold: Any = np.nan,
    ref: Any = np.nan,
    note: Any = None,
) -> pd.DataFrame:
    """The rows of ``frame`` where ``mask`` holds, as internal flag rows.

    Their columns are :data:`SESSION_COLUMNS` but ``rule`` (written last, for the rows kept).
    """
    keep = mask.to_numpy(dtype=bool)
    n = int(keep.sum())

    def pick(x: Any, dtype: Any) -> np.ndarray:
        if isinstance(x, pd.Series):
            return x.to_numpy(dtype=dtype)[keep]
        return np.full(n, x, dtype=dtype)

    columns = {
        c: frame[c].to_numpy()[keep]
        for c in ("episode_id", "client_id", "session_no", "session_date")
    }
    return pd.DataFrame(
        {
            **columns,
            "flag": np.full(n, flag, dtype=object),
            "value": pick(value, "float64"),
            "threshold": pick(threshold, "float64"),
            "ref": pick(ref, "float64"),
            "note": pick(note, object),
        }
    )


def _raw_session_flags(frame: pd.DataFrame, config: ClinicalConfig) -> pd.DataFrame:
    """Every session-level flag of already-prepared client rows, with ``ref`` and ``note``."""
    keys = [frame["episode_id"], frame["client_id"]]
    ors, srs = frame["ors_total"], frame["srs_total"]
    parts: list[pd.DataFrame] = []

    if "lower_expected" in frame.columns:
        lower = frame["lower_expected"]
        parts.append(_raw(frame, _below(ors, lower), "not_on_track", ors, lower))

    # Change since the episode's first ORS, judged where the first ORS is from an earlier session.
    first_ors = ors.groupby(keys).transform("first")
    first_no = frame["session_no"].where(ors.notna()).groupby(keys).transform("min")
    judged = ors.notna() & (frame["session_no"] > first_no)
    change = (ors - first_ors).round(9)
    direction = _direction(change, config)
    rc = config.ors_reliable_change
    stagnant = judged & (frame["session_no"] >= config.stagnation_sessions) & (direction != 1)
    parts.append(_raw(frame, stagnant, "no_reliable_change", change, rc, first_ors))
    parts.append(
        _raw(frame, judged & (direction == -1), "reliable_deterioration", change, -rc, first_ors)
    )

    parts.append(
        _raw(frame, _below(srs, config.srs_cutoff), "srs_below_cutoff", srs, config.srs_cutoff)
    )

    # srs_drop: at least config.srs_drop below the client's usual level, the mean of the
    # episode's earlier SRS totals (from config.srs_drop_min_earlier of them on).
    given = srs.notna().astype("int64")
    filled = srs.fillna(0.0)
    earlier_sum = filled.groupby(keys).cumsum() - filled
    earlier_n = given.groupby(keys).cumsum() - given
    usual = (earlier_sum / earlier_n).round(9).where(earlier_n >= config.srs_drop_min_earlier)
    fall = (usual - srs).round(9)
    dropped = (fall >= config.srs_drop - TIE_TOLERANCE).fillna(False).astype(bool)
    parts.append(_raw(frame, dropped, "srs_drop", fall, config.srs_drop, usual))

    items = frame[list(SRS_ITEMS)]
    low = items.lt(config.srs_item_concern - TIE_TOLERANCE)
    names = pd.Series("", index=frame.index, dtype=object)
    for column in SRS_ITEMS:  # four columns, not a loop over episodes
        sep = np.where(names == "", "", ", ")
        names = names.where(~low[column], names + sep + column)
    parts.append(
        _raw(
            frame,
            low.any(axis=1),
            "srs_item_below",
            items.min(axis=1),
            config.srs_item_concern,
            note=names,
        )
    )

    parts.append(_raw(frame, ors.isna(), "missing_ors"))
    parts.append(_raw(frame, srs.isna(), "missing_srs"))
    return pd.concat(parts, ignore_index=True)


def _finish(raw: pd.DataFrame, columns: tuple[str, ...], sort: list[str]) -> pd.DataFrame:
    order = {f: i for i, f in enumerate(FLAGS)}
    raw = raw.assign(_order=raw["flag"].map(order))
    raw = raw.sort_values([*_KEYS, *sort, "_order"], kind="stable")
    return raw[list(columns)].reset_index(drop=True)


def session_flags(
    sessions: pd.DataFrame,
    config: ClinicalConfig = DEFAULT_CONFIG,
    *,
    lang: str | None = "en",
) -> pd.DataFrame:
    """Flags raised at each session, one row per (episode, client, session, flag).

    Args:
        sessions: Session rows with ``episode_id``, ``client_id``, ``session_no``,
            ``session_date``, ``rater``, ``ors_total``, ``srs_total`` and the four SRS items
            (floats, NaN where not given); optionally ``lower_expected`` for ``not_on_track``.
            Only ``rater == 'client'`` rows are flagged.
        config: The thresholds to apply.
        lang: Language of the ``rule`` sentences (``en`` or ``nb``); None leaves ``rule``
            empty (None) for callers that describe only the rows they show, with
            :func:`describe_flags`.

    Returns:
        A frame with :data:`SESSION_COLUMNS`: ``flag`` (a code from :data:`FLAGS`), ``value``
        (the number compared, NaN for missing feedback), ``threshold`` (what it was compared
        with), ``ref`` (the score compared against: the first ORS for the change flags, the
        previous SRS for ``srs_drop``), ``note`` (the SRS item columns below the threshold,
        comma-separated; for ``not_seen`` the ISO date of the last session) and ``rule`` (a
        sentence naming the threshold and its source). Ordered by episode, client, session
        and flag.
    """
    frame = _client_sessions(sessions)
    raw = _raw_session_flags(frame, config)
    raw["rule"] = describe_flags(raw, config=config, lang=lang) if lang else None
    return _finish(raw, SESSION_COLUMNS, ["session_no"])


def _aggregate_session_flags(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (episode, client, flag): the first and last firing session, the count, and the values.

    The values (``value``, ``threshold``, ``ref``, ``note``) are those of the **last** firing
    session: a flag that holds now must quote today's numbers, not the ones it first fired with,
    and a resolved flag's history says what it was when it last held.
    """
    raw = raw.sort_values([*_KEYS, "flag", "session_no"], kind="stable")
    group = raw.groupby([*_KEYS, "flag"], sort=False)
    last = group.tail(1).copy()
    counts = group["session_no"].transform("size")
    first = group["session_no"].transform("min")
    last["sessions"] = counts.loc[last.index].astype("int64")
    last["last_session"] = last["session_no"].astype("int64")
    last["session_no"] = first.loc[last.index]
    return last.rename(columns={"session_no": "first_session"})


def _now_sessions(frame: pd.DataFrame, config: ClinicalConfig) -> pd.DataFrame:
    """Per (episode, client): the last session of each kind in :data:`NOW_AT`.

    Columns ``ors``, ``srs``, ``items`` and ``session`` (NaN where there is none), and
    ``not_on_track_now``: the last ``config.not_on_track_sessions_now`` judged ORS (an ORS with
    an expected line) are all below the line. Computed as the SQL path does: no judged ORS at
    or after the earliest of those last ones is on or above the line.
    """
    keys = [frame["episode_id"], frame["client_id"]]
    number = frame["session_no"].astype("float64")

    def last(mask: pd.Series) -> pd.Series:
        return number.where(mask).groupby(keys).max()

    out = pd.DataFrame(
        {
            "session": number.groupby(keys).max(),
            "ors": last(frame["ors_total"].notna()),
            "srs": last(frame["srs_total"].notna()),
            "items": last(frame[list(SRS_ITEMS)].notna().any(axis=1)),
        }
    )
    out["not_on_track_now"] = False
    if "lower_expected" in frame.columns:
        ors, lower = frame["ors_total"], frame["lower_expected"]
        judged = ors.notna() & lower.notna()
        rows = frame[judged]
        row_keys = [rows["episode_id"], rows["client_id"]]
        recent = rows.groupby(row_keys).cumcount(ascending=False) < config.not_on_track_sessions_now
        start = rows["session_no"].where(recent).groupby(row_keys).min()
        on_line = ~_below(rows["ors_total"], rows["lower_expected"])
        last_on_line = rows["session_no"].where(on_line).groupby(row_keys).max()
        now = last_on_line.isna() | (last_on_line < start)
        out["not_on_track_now"] = now.reindex(out.index, fill_value=False).astype(bool)
    return out


def _current(flags: pd.DataFrame, now: pd.DataFrame) -> np.ndarray:
    """Whether each episode flag row holds now (:data:`NOW_AT`), given :func:`_now_sessions`."""
    index = pd.MultiIndex.from_arrays([flags["episode_id"], flags["client_id"]])
    at = now.reindex(index)
    kind = flags["flag"].map(NOW_AT).to_numpy(dtype=object)
    last = flags["last_session"].to_numpy(dtype=float)
    current = np.ones(len(flags), dtype=bool)  # "state" flags describe the episode as it is
    for column in ("ors", "srs", "items", "session"):  # a handful of kinds, not episodes
        mask = kind == column
        current[mask] = last[mask] == at[column].to_numpy(dtype=float)[mask]
    mask = kind == "judged_ors"
    current[mask] = at["not_on_track_now"].to_numpy(dtype=object)[mask] == True  # noqa: E712
    return current


def _ongoing(last: pd.DataFrame, episodes: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Whether each row's episode is ongoing on ``as_of`` (no end, or ended after it)."""
    ended = episodes.set_index("episode_id")["ended"]
    ended = pd.to_datetime(last["episode_id"].map(ended))
    return ended.isna() | (ended > pd.Timestamp(as_of))


def episode_flags(
    sessions: pd.DataFrame,
    episodes: pd.DataFrame,
    *,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    lang: str | None = "en",
) -> pd.DataFrame:
    """Flags per episode and client, from sessions dated on or before ``as_of``.

    Args:
        sessions: As for :func:`session_flags`.
        episodes: Episode rows with ``episode_id`` and ``ended`` (missing while ongoing); used
            for ``not_seen``.
        as_of: The reference date: later sessions are ignored, and ``not_seen`` counts the
            weeks from the last session to this date.
        config: The thresholds to apply.
        lang: As for :func:`session_flags`.

    Returns:
        A frame with :data:`EPISODE_COLUMNS`, one row per (episode, client, flag) that fired
        at least once: ``first_session`` where it fired first (for ``not_seen`` the last
        session), ``sessions`` how many sessions raised it (1 for the episode-only flags),
        ``value``, ``threshold``, ``ref``, ``note`` and ``rule`` from the last firing session,
        ``last_session`` where it fired last (the last SRS for ``srs_always_40``) and
        ``current`` whether it holds now (:data:`~fitdata.analytics.flags.rules.NOW_AT`); the
        rule of a row that no longer holds ends with when it last held. With a
        ``lower_expected`` column, ongoing episodes whose last ORS has none get ``not_judged``.
    """
    frame = _client_sessions(sessions)
    dates = pd.to_datetime(frame["session_date"])
    frame = frame[dates <= pd.Timestamp(as_of)].reset_index(drop=True)
    keys = [frame["episode_id"], frame["client_id"]]

    raw = _raw_session_flags(frame, config)
    parts = [_aggregate_session_flags(raw)]

    # srs_always_40: every SRS of the episode at the ceiling, and enough of them.
    has_srs = frame["srs_total"].notna()
    srs_rows = frame[has_srs]
    srs_keys = [srs_rows["episode_id"], srs_rows["client_id"]]
    at_max = srs_rows["srs_total"] >= SRS_MAX - TIE_TOLERANCE
    rank = srs_rows.groupby(srs_keys).cumcount() + 1
    count = srs_rows.groupby(srs_keys)["srs_total"].transform("size")
    all_max = at_max.groupby(srs_keys).transform("all")
    m = (
        (rank == config.srs_always_max_min_sessions)
        & all_max
        & (count >= config.srs_always_max_min_sessions)
    )
    always = _raw(
        srs_rows,
        m,
        "srs_always_40",
        count.astype("float64"),
        float(config.srs_always_max_min_sessions),
    )
    parts.append(always.rename(columns={"session_no": "first_session"}).assign(sessions=1))

    # not_seen: ongoing episodes whose last session is more than config.not_seen_weeks before as_of.
    last = frame.groupby(keys).tail(1).copy()
    ongoing = _ongoing(last, episodes, as_of)
    days = (pd.Timestamp(as_of) - pd.to_datetime(last["session_date"])).dt.days
    limit = 7 * config.not_seen_weeks
    m = ongoing & (days > limit)
    note = pd.to_datetime(last["session_date"]).dt.strftime("%Y-%m-%d").astype(object)
    not_seen = _raw(last, m, "not_seen", days.astype("float64"), float(limit), note=note)
    parts.append(not_seen.rename(columns={"session_no": "first_session"}).assign(sessions=1))

    # not_judged: an ongoing episode whose last ORS has no expected line to be judged against.
    if "lower_expected" in frame.columns:
        with_ors = frame[frame["ors_total"].notna()]
        last_ors = with_ors.groupby([with_ors["episode_id"], with_ors["client_id"]]).tail(1)
        m = _ongoing(last_ors, episodes, as_of) & last_ors["lower_expected"].isna()
        not_judged = _raw(last_ors, m, "not_judged")
        parts.append(not_judged.rename(columns={"session_no": "first_session"}).assign(sessions=1))

    nonempty = [p for p in parts if len(p)]
    out = pd.concat(nonempty, ignore_index=True) if nonempty else parts[0]
    now = _now_sessions(frame, config)
    # The episode-only flags' last session: the last SRS (always 40), the session itself.
    state = out["flag"].isin(["srs_always_40", "not_seen", "not_judged"]).to_numpy()
    always = (out["flag"] == "srs_always_40").to_numpy()
    last_session = out["last_session"].to_numpy(dtype=float) if "last_session" in out else None
    if last_session is None:
        last_session = np.full(len(out), np.nan)
    last_session = np.where(state, out["first_session"].to_numpy(dtype=float), last_session)
    index = pd.MultiIndex.from_arrays([out["episode_id"], out["client_id"]])
    last_srs = now["srs"].reindex(index).to_numpy(dtype=float)
    out["last_session"] = np.where(always, last_srs, last_session).astype("int64")
    out["current"] = _current(out, now)
    out["rule"] = describe_flags(out, config=config, as_of=as_of, lang=lang) if lang else None
    out["first_session"] = out["first_session"].astype("int64")
    out["sessions"] = out["sessions"].astype("int64")
    return _finish(out, EPISODE_COLUMNS, [])
