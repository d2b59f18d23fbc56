"""Flags over a pandas frame of sessions: vectorised, no per-episode Python loop.

:func:`session_flags` raises the flags of each session; :func:`episode_flags` aggregates them
per episode and client and adds the episode-only flags (``srs_always_40``, ``not_seen``).
The rules and their ties are described in :mod:`fitdata.analytics.flags`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.flags.rules import (
    EPISODE_COLUMNS,
    FLAGS,
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

    previous = srs.groupby(keys).ffill().groupby(keys).shift(1)
    fall = (previous - srs).round(9)
    dropped = (fall >= config.srs_drop - TIE_TOLERANCE).fillna(False).astype(bool)
    parts.append(_raw(frame, dropped, "srs_drop", fall, config.srs_drop, previous))

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
    """Per (episode, client, flag): the first firing session, its values, and the count."""
    raw = raw.sort_values([*_KEYS, "flag", "session_no"], kind="stable")
    group = raw.groupby([*_KEYS, "flag"], sort=False)
    first = group.head(1).copy()
    counts = group["session_no"].transform("size")
    first["sessions"] = counts.loc[first.index].astype("int64")
    return first.rename(columns={"session_no": "first_session"})


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
        A frame with :data:`EPISODE_COLUMNS`, one row per (episode, client, flag):
        ``first_session`` where it fired first (for ``not_seen`` the last session), ``sessions``
        how many sessions raised it (1 for the episode-only flags), and ``value``,
        ``threshold``, ``ref``, ``note`` and ``rule`` from the first firing session.
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
    ended = episodes.set_index("episode_id")["ended"]
    ended = pd.to_datetime(last["episode_id"].map(ended))
    ongoing = ended.isna() | (ended > pd.Timestamp(as_of))
    days = (pd.Timestamp(as_of) - pd.to_datetime(last["session_date"])).dt.days
    limit = 7 * config.not_seen_weeks
    m = ongoing & (days > limit)
    note = pd.to_datetime(last["session_date"]).dt.strftime("%Y-%m-%d").astype(object)
    not_seen = _raw(last, m, "not_seen", days.astype("float64"), float(limit), note=note)
    parts.append(not_seen.rename(columns={"session_no": "first_session"}).assign(sessions=1))

    nonempty = [p for p in parts if len(p)]
    out = pd.concat(nonempty, ignore_index=True) if nonempty else parts[0]
    out["rule"] = describe_flags(out, config=config, as_of=as_of, lang=lang) if lang else None
    out["first_session"] = out["first_session"].astype("int64")
    out["sessions"] = out["sessions"].astype("int64")
    return _finish(out, EPISODE_COLUMNS, [])
