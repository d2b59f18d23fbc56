"""Flags per session and per episode, each carrying the rule and the parameters that produced it.

A flag is something a supervisor or therapist should look at: a client not on track, an alliance
problem, missing feedback, a client not seen for weeks. Every flag row says *which rule* fired,
with the numbers it compared (``value`` against ``threshold``) and an English ``rule`` sentence
naming the threshold and its source (from :data:`fitdata.config.RULES`), so a dashboard can show
why a case is on the list.

Two paths give the same flags:

* :func:`session_flags` and :func:`episode_flags` work on a pandas frame of sessions
  (vectorised: groupby / shift / transform, no per-episode Python loops).
* :func:`episode_flag_counts` computes the episode flags in DuckDB SQL (window functions) for
  a whole team or service, because loading 10 million sessions into pandas is too slow. Its
  thresholds are SQL parameters taken from the same :class:`~fitdata.config.ClinicalConfig`.

Flag codes (:data:`FLAGS`):

``not_on_track``
    ORS below the lower expected line. Only when the sessions frame has a ``lower_expected``
    column (e.g. from ``fitdata.analytics.trajectory``); rows where it is NaN are not judged.
    Exactly on the line is on track. The SQL path has no trajectory and never produces this flag.
``no_reliable_change``
    Stagnation: at session number ``>=`` ``config.stagnation_sessions`` (default 6), the
    change from the
    episode's first ORS to this session's ORS is not a reliable improvement under
    :meth:`ClinicalConfig.change_direction` (so +5.0 is reliable by default, +4.9 is not; with
    ``change_at_threshold_is_reliable=False`` +5.0 flags too). Judged only at sessions that have
    an ORS and whose first ORS came from an *earlier* session. A reliable deterioration also
    counts as "no reliable improvement" and raises this flag as well.
``reliable_deterioration``
    The change from the first ORS to this session's ORS is a reliable deterioration
    (``change_direction == -1``: -5.0 flags, -4.9 does not, by default). Any session number.
``srs_below_cutoff``
    SRS total below ``srs_cutoff`` (:meth:`ClinicalConfig.srs_below_cutoff`: 35.9 flags, 36.0
    does not).
``srs_drop``
    SRS total fell by at least ``srs_drop`` from the previous session *that has an SRS*
    (1.0 flags, 0.9 does not). Sessions without SRS in between are skipped, not treated as a
    break.
``srs_item_below``
    Any of the four SRS items below ``srs_item_concern`` (8.9 flags, 9.0 does not). ``value``
    is the lowest item; the rule names every item below. Sessions with totals only cannot
    raise it.
``missing_ors`` / ``missing_srs``
    A session without an ORS total / without an SRS total (two separate flags).
``srs_always_40`` (episode only)
    At least ``config.srs_always_max_min_sessions`` (default 3) sessions with an SRS, and
    *every* SRS in the
    episode exactly 40.0 (to the tie tolerance). It may mean the client does not dare to give
    negative feedback. Two sessions at 40 are too few to say so. ``first_session`` is the
    session of the third SRS, when the pattern first became visible.
``not_seen`` (episode only)
    An ongoing episode (``ended`` missing or after ``as_of``) whose client's last session is
    *more than* ``config.not_seen_weeks`` (default 4) weeks before ``as_of``: 29 days flags,
    exactly 28
    days does not (the same "beyond, not at" convention as the cutoffs). ``first_session`` is
    the last session number; ``value`` is the days since it.

Conventions:

* Only rows with ``rater == 'client'`` are flagged: collateral raters (parent, teacher, partner,
  other) rate someone else's situation, and their missing forms are not missing feedback from
  the client. A frame without a ``rater`` column is taken as all client ratings.
* Sessions are ordered by ``session_no`` within (``episode_id``, ``client_id``); a couple's two
  partners in one episode are flagged separately.
* Ties use the config's tolerance (1e-9) exactly as :mod:`fitdata.config` does, in pandas and
  in SQL, so binary float noise (``20.1 - 15.1 = 5.000000000000002``) never decides a flag.
  Changes and falls are reported rounded to 9 decimals.
* :func:`episode_flags` and :func:`episode_flag_counts` consider only sessions dated on or
  before ``as_of``, so a report as of a past date shows what was known then.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fitdata.config import DEFAULT_CONFIG, RULES, TIE_TOLERANCE, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.i18n import Translator
from fitdata.vocabulary import SRS_ITEMS

if TYPE_CHECKING:
    from fitdata.analytics.trajectory import TrajectoryModel

__all__ = [
    "EPISODE_COLUMNS",
    "FLAGS",
    "SESSION_COLUMNS",
    "describe_flags",
    "episode_flag_counts",
    "episode_flags",
    "session_flags",
]

#: The SRS ceiling; "always 40" compares with it to the tie tolerance.
_SRS_MAX = 40.0

#: Every flag code, in the order the output lists them.
FLAGS: tuple[str, ...] = (
    "not_on_track",
    "no_reliable_change",
    "reliable_deterioration",
    "srs_below_cutoff",
    "srs_drop",
    "srs_item_below",
    "srs_always_40",
    "missing_ors",
    "missing_srs",
    "not_seen",
)


#: Columns of :func:`session_flags`.
SESSION_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "client_id",
    "session_no",
    "session_date",
    "flag",
    "value",
    "threshold",
    "ref",
    "note",
    "rule",
)
#: Columns of :func:`episode_flags` and :func:`episode_flag_counts`.
EPISODE_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "client_id",
    "flag",
    "first_session",
    "sessions",
    "value",
    "threshold",
    "ref",
    "note",
    "rule",
)

_KEYS = ["episode_id", "client_id"]
_SCORES = ["ors_total", "srs_total", *SRS_ITEMS]
# Internal flag rows carry two context fields for the rule text: ``ref`` (a score compared
# against, e.g. the first ORS or the previous SRS) and ``note`` (text, e.g. item names).
_RAW = [
    "episode_id",
    "client_id",
    "session_no",
    "session_date",
    "flag",
    "value",
    "threshold",
    "ref",
    "note",
]


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


# --------------------------------------------------------------------------------------------
# Rule texts
# --------------------------------------------------------------------------------------------


def _numbers(values: Any, lang: str, fmt: str = "%.1f") -> np.ndarray:
    """Numbers formatted in C for ``lang`` (decimal comma in bokmål, a real minus sign).

    ``np.char.mod`` formats in C; a Python lambda per row took 0.8 s for 430,000 flag rows.
    """
    numbers = np.asarray(values, dtype=float)
    text = np.char.mod(fmt, numbers)
    text = np.char.replace(text, "-", "\u2212")
    if lang == "nb":
        text = np.char.replace(text, ".", ",")
    return np.where(np.isnan(numbers), "?", text).astype(object)


def _mapped(values: np.ndarray, convert: Any) -> np.ndarray:
    """``convert`` applied once per distinct text (a handful), not once per row; "?" if none."""
    distinct = {v: convert(v) for v in set(values.tolist()) if isinstance(v, str)}
    return np.array([distinct.get(v, "?") if isinstance(v, str) else "?" for v in values], object)


def _fill(template: str, fields: dict[str, Any], n: int) -> np.ndarray:
    """``template`` filled with per-row ``fields`` (arrays of strings, or one string)."""
    out = np.full(n, "", dtype=object)
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if name is not None:
            out = out + fields[name]
    return out


def describe_flags(
    flags: pd.DataFrame,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
    as_of: dt.date | None = None,
    lang: str = "en",
) -> pd.Series:
    """The rule sentence of every flag row in ``lang``, naming its threshold and source.

    Works on the output of :func:`session_flags`, :func:`episode_flags` and
    :func:`episode_flag_counts`: each row carries ``flag``, ``value``, ``threshold``, ``ref`` and
    ``note``, which is everything its sentence needs. The templates are in the message
    catalogues (``flag.rule.<code>``); formatting is vectorised per flag code, so describing
    the few hundred rows a page shows costs nothing and a whole service's rows stay affordable.

    Args:
        flags: Flag rows as described.
        config: The thresholds the flags were computed with.
        as_of: The reference date of ``not_seen`` flags.
        lang: ``en`` or ``nb``.

    Returns:
        One sentence per row, with the index of ``flags``.
    """
    tr = Translator(lang)
    rule = np.full(len(flags), "", dtype=object)
    codes = flags["flag"].to_numpy(dtype=object)
    # Plain arrays, not frames: a page describes a few hundred rows, where pandas' cost per
    # call (a boolean .loc per flag code) was most of the time.
    columns = {
        "value": flags["value"].to_numpy(dtype=float),
        "threshold": flags["threshold"].to_numpy(dtype=float),
        "ref": flags["ref"].to_numpy(dtype=float),
        "note": flags["note"].to_numpy(dtype=object),
    }
    for code in FLAGS:
        mask = codes == code
        n = int(mask.sum())
        if not n:
            continue
        rows = {name: column[mask] for name, column in columns.items()}
        template = tr.text(f"flag.rule.{code}")
        # Each field is formatted only if this flag's sentence uses it.
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        fields = {name: _rule_field(name, code, rows, config, tr, as_of) for name in used}
        rule[mask] = _fill(template, fields, n)
    return pd.Series(rule, index=flags.index, dtype=object)


def _rule_field(
    name: str,
    code: str,
    rows: dict[str, np.ndarray],
    config: ClinicalConfig,
    tr: Translator,
    as_of: dt.date | None,
) -> Any:
    """One placeholder of a flag's rule sentence, for all ``rows`` of that flag.

    ``rows`` holds the flag's ``value``, ``threshold``, ``ref`` and ``note`` as arrays.
    """
    lang = tr.lang
    value = rows["value"]
    if name in ("value", "change", "count", "days"):
        fmt = {"value": "%.1f", "change": "%+.1f"}.get(name, "%.0f")
        return _numbers(value, lang, fmt)
    if name in ("threshold", "limit"):
        fmt = "%.1f" if name == "threshold" else "%.0f"
        return _numbers(rows["threshold"], lang, fmt)
    if name in ("ref", "after"):
        ref = rows["ref"]
        return _numbers(ref if name == "ref" else ref - value, lang)
    if name == "items":
        return _mapped(
            rows["note"],
            lambda text: ", ".join(tr.text(f"flag.item.{c}") for c in text.split(", ")),
        )
    if name == "last_date":
        return _mapped(rows["note"], lambda text: tr.date(dt.date.fromisoformat(text)))
    if name == "reliable":
        key = "at_least" if config.change_at_threshold_is_reliable else "more_than"
        return tr.text(f"flag.reliable.{key}", rc=_plain(config.ors_reliable_change, lang))
    constants = {
        "stagnation": str(config.stagnation_sessions),
        "cutoff": _plain(config.srs_cutoff, lang),
        "drop": _plain(config.srs_drop, lang),
        "item": _plain(config.srs_item_concern, lang),
        "min_sessions": str(config.srs_always_max_min_sessions),
        "weeks": str(config.not_seen_weeks),
        "as_of": tr.date(as_of) if as_of is not None else "?",
        "source": _SOURCES.get(code, ""),
    }
    return constants[name]


def _plain(value: float, lang: str) -> str:
    """A threshold as written in a sentence: ``5``, ``0.5`` (``0,5`` in bokmål)."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "nb" else text


#: The source named in each flag's rule sentence (from :data:`fitdata.config.RULES`).
_SOURCES: dict[str, str] = {
    "no_reliable_change": RULES["ors_reliable_change"].source,
    "reliable_deterioration": RULES["ors_reliable_change"].source,
    "srs_below_cutoff": RULES["srs_cutoff"].source,
    "srs_drop": RULES["srs_drop"].source,
    "srs_item_below": RULES["srs_item_concern"].source,
}


# --------------------------------------------------------------------------------------------
# pandas path
# --------------------------------------------------------------------------------------------


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
    """The rows of ``frame`` where ``mask`` holds, as internal flag rows (see ``_RAW``)."""
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
    at_max = srs_rows["srs_total"] >= _SRS_MAX - TIE_TOLERANCE
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


# --------------------------------------------------------------------------------------------
# SQL path
# --------------------------------------------------------------------------------------------

_ITEM_NAME_SQL = ", ".join(f"CASE WHEN {c} < $item - $tol THEN '{c}' END" for c in SRS_ITEMS)

#: The per-session flags of the SQL path: (flag, fired, value, threshold, ref, note), as SQL over
#: the columns of the ``d`` step below. ``NULL`` means the column is empty for the flag; an
#: expression starting with ``$`` (or ``-$``) is a constant parameter. Each flag's row takes
#: value, threshold, ref and note from the first session at which it fired.
_SESSION_RULES_SQL: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("not_on_track", "ors < lower - $tol", "ors", "lower", "NULL", "NULL"),
    (
        "no_reliable_change",
        "change IS NOT NULL AND session_no >= $stagnation AND direction <> 1",
        "change",
        "$rc",
        "first_ors",
        "NULL",
    ),
    ("reliable_deterioration", "direction = -1", "change", "-$rc", "first_ors", "NULL"),
    ("srs_below_cutoff", "srs < $srs_cutoff - $tol", "srs", "$srs_cutoff", "NULL", "NULL"),
    ("srs_drop", "fall >= $drop - $tol", "fall", "$drop", "prev_srs", "NULL"),
    ("srs_item_below", "min_item < $item - $tol", "min_item", "$item", "NULL", "item_note"),
    ("missing_ors", "ors IS NULL", "NULL", "NULL", "NULL", "NULL"),
    ("missing_srs", "srs IS NULL", "NULL", "NULL", "NULL", "NULL"),
)

_DETAILS = (("value", "DOUBLE"), ("threshold", "DOUBLE"), ("ref", "DOUBLE"), ("note", "VARCHAR"))


def _is_constant(expression: str) -> bool:
    return expression == "NULL" or expression.lstrip("-").startswith("$")


def _rule_aggregates(flag: str, fired: str, *details: str) -> str:
    """Aggregates of one flag over an episode's sessions: first session, count, first details."""
    where = f"FILTER (WHERE coalesce({fired}, false))"
    parts = [f"min(session_no) {where} AS {flag}__first", f"count(*) {where} AS {flag}__n"]
    parts += [
        f"arg_min({expression}, session_no) {where} AS {flag}__{name}"
        for (name, _type), expression in zip(_DETAILS, details, strict=True)
        if not _is_constant(expression)
    ]
    return ", ".join(parts)


def _rule_rows(flag: str, _fired: str, *details: str) -> str:
    """One flag's rows, from the per-episode aggregates, in the output's column order."""
    columns = [
        f"({expression})::{sql_type}" if _is_constant(expression) else f"{flag}__{name}"
        for (name, sql_type), expression in zip(_DETAILS, details, strict=True)
    ]
    value, threshold, ref, note = columns
    return (
        f"SELECT episode_id, client_id, '{flag}' AS flag, {flag}__first AS first_session, "
        f"{flag}__n AS sessions, {value} AS value, {threshold} AS threshold, {ref} AS ref, "
        f"{note} AS note FROM agg WHERE {flag}__n > 0"
    )


# One pass: a narrow scan, one window for the values each session is compared with (first
# ORS, previous SRS), then ONE grouped aggregation per episode with a FILTER per flag, unpivoted
# into one row per fired flag. (Unnesting a list of per-session flag structs and grouping those
# took about twice as long at 1M sessions.)
_EPISODE_FLAGS_SQL = f"""
WITH s AS MATERIALIZED (
    SELECT episode_id, client_id, session_no, session_date,
           CAST(ors_total AS DOUBLE) AS ors, CAST(srs_total AS DOUBLE) AS srs,
           CAST(least(srs_relationship, srs_goals, srs_approach, srs_overall) AS DOUBLE)
               AS min_item,
           CASE WHEN least(srs_relationship, srs_goals, srs_approach, srs_overall)
                     < $item - $tol
                THEN concat_ws(', ', {_ITEM_NAME_SQL}) END AS item_note
    FROM sessions
    WHERE rater = 'client' AND session_date <= $as_of
      AND ($team IS NULL OR team_id = $team)
), w AS (
    SELECT *,
           first_value(ors IGNORE NULLS) OVER prior AS first_ors,
           first_value(CASE WHEN ors IS NOT NULL THEN session_no END IGNORE NULLS)
               OVER prior AS first_no,
           last_value(srs IGNORE NULLS) OVER prior AS prev_srs
    FROM s
    WINDOW prior AS (PARTITION BY episode_id, client_id ORDER BY session_no
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), c AS (
    SELECT *,
           round(ors - first_ors, 9) AS change,
           round(prev_srs - srs, 9) AS fall,
           -- the intake of the expected trajectory is the ORS at session 1
           CASE WHEN session_no = 1 THEN ors WHEN first_no = 1 THEN first_ors END AS intake
    FROM w
), cell AS (
    SELECT *,
           CASE WHEN $use_model AND ors IS NOT NULL AND intake IS NOT NULL
                THEN least(greatest(floor(intake / $band_width), 0), $n_bands - 1)::INTEGER
                     * $max_session + least(session_no, $max_session)
           END AS cell
    FROM c
), d AS (
    SELECT *,
           CASE WHEN change IS NULL THEN 0
                WHEN (CASE WHEN $at_tie THEN abs(change) >= $rc - $tol
                           ELSE abs(change) > $rc + $tol END)
                THEN (CASE WHEN change > 0 THEN 1 ELSE -1 END)
                ELSE 0 END AS direction,
           CASE WHEN ($model_counts)[cell] >= $min_episodes
                THEN least(greatest(intake + ($lower_change)[cell], 0), 40) END AS lower
    FROM cell
), agg AS MATERIALIZED (
    SELECT episode_id, client_id,
           {", ".join(_rule_aggregates(*rule) for rule in _SESSION_RULES_SQL)},
           max(session_no) AS last_no, arg_max(session_date, session_no) AS last_date,
           count(srs) AS n_srs, bool_and(srs >= $srs_max - $tol) AS all_max
    FROM d GROUP BY episode_id, client_id
), always AS (
    -- every SRS of the episode at the ceiling, and enough of them: fires at the $min40-th
    SELECT episode_id, client_id, 'srs_always_40' AS flag,
           list_sort(list(session_no))[$min40] AS first_session, 1 AS sessions,
           count(*)::DOUBLE AS value, $min40::DOUBLE AS threshold, NULL::DOUBLE AS ref,
           NULL::VARCHAR AS note
    FROM s SEMI JOIN (SELECT episode_id, client_id FROM agg WHERE n_srs >= $min40 AND all_max)
        USING (episode_id, client_id)
    WHERE srs IS NOT NULL
    GROUP BY episode_id, client_id
), not_seen AS (
    SELECT a.episode_id, a.client_id, 'not_seen' AS flag, a.last_no AS first_session,
           1 AS sessions, ($as_of - a.last_date)::DOUBLE AS value, $limit::DOUBLE AS threshold,
           NULL::DOUBLE AS ref, strftime(a.last_date, '%Y-%m-%d') AS note
    FROM agg a
    JOIN (SELECT episode_id, ended FROM episodes WHERE $team IS NULL OR team_id = $team) e
        USING (episode_id)
    WHERE $as_of - a.last_date > $limit AND (e.ended IS NULL OR e.ended > $as_of)
)
SELECT * FROM (
    {" UNION ALL ".join(_rule_rows(*rule) for rule in _SESSION_RULES_SQL)}
    UNION ALL SELECT * FROM always
    UNION ALL SELECT * FROM not_seen
)
ORDER BY episode_id, client_id, list_position($flags, flag)
"""


def _model_parameters(model: TrajectoryModel | None) -> dict[str, Any]:
    """The expected-trajectory grid as flat SQL list parameters (1-based cell numbers)."""
    if model is None:
        return {
            "use_model": False,
            "band_width": 1.0,
            "n_bands": 1,
            "max_session": 1,
            "min_episodes": 1,
            "lower_change": [None],
            "model_counts": [0],
        }
    _expected, lower, counts = model.expected_grid()
    flat = lower.ravel()
    return {
        "use_model": True,
        "band_width": float(model.band_width),
        "n_bands": int(model.n_bands),
        "max_session": int(model.max_session),
        "min_episodes": int(model.min_episodes),
        # NaN compares greater than every number in DuckDB: pass missing cells as NULL
        "lower_change": [None if np.isnan(v) else float(v) for v in flat],
        "model_counts": [int(v) for v in counts.ravel()],
    }


def episode_flag_counts(
    reader: Reader,
    *,
    team_id: str | None = None,
    as_of: dt.date,
    config: ClinicalConfig = DEFAULT_CONFIG,
    model: TrajectoryModel | None = None,
    lang: str | None = "en",
) -> pd.DataFrame:
    """The episode flags of a whole team (or every team), computed in DuckDB SQL.

    Gives the same rows as :func:`episode_flags` on the same sessions and episodes (with
    ``lower_expected`` from :meth:`fitdata.analytics.trajectory.TrajectoryModel.expected_lines` when
    a ``model`` is given). Without a model there is no ``not_on_track``. Thresholds are passed
    as query parameters from ``config``; ties use the config's tolerance.

    Args:
        reader: A reader of the database (:func:`fitdata.data.store.reader_for`).
        team_id: Only sessions of this team (``sessions.team_id``; an episode belongs to one
            team, which ``fitdata check`` verifies); None for every team.
        as_of: The reference date, as for :func:`episode_flags`.
        config: The thresholds to apply.
        model: An expected-trajectory model; with it, sessions below the lower expected line
            raise ``not_on_track`` (where the model has enough episodes behind the cell).
        lang: As for :func:`session_flags`. A whole service has millions of flag rows; pass
            None and describe only the rows a page shows with :func:`describe_flags`.

    Returns:
        A frame with :data:`EPISODE_COLUMNS`, ordered by episode, client and flag.
    """
    params = {
        "as_of": as_of,
        "team": team_id,
        "tol": TIE_TOLERANCE,
        "rc": config.ors_reliable_change,
        "at_tie": config.change_at_threshold_is_reliable,
        "stagnation": config.stagnation_sessions,
        "srs_cutoff": config.srs_cutoff,
        "drop": config.srs_drop,
        "item": config.srs_item_concern,
        "min40": config.srs_always_max_min_sessions,
        "srs_max": _SRS_MAX,
        "limit": 7 * config.not_seen_weeks,
        "flags": list(FLAGS),
        **_model_parameters(model),
    }
    raw = reader.df(_EPISODE_FLAGS_SQL, params)
    for column in ("value", "threshold", "ref"):
        raw[column] = raw[column].astype("float64")
    raw["note"] = raw["note"].astype(object).where(raw["note"].notna(), None)
    raw["first_session"] = raw["first_session"].astype("int64")
    raw["sessions"] = raw["sessions"].astype("int64")
    raw["rule"] = describe_flags(raw, config=config, as_of=as_of, lang=lang) if lang else None
    return raw[list(EPISODE_COLUMNS)]
