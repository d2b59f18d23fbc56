"""Flag codes, their columns and their rule sentences: what every flag row carries.

Shared by both paths that compute flags (:mod:`fitdata.analytics.flags.frames` over pandas,
:mod:`fitdata.analytics.flags.sql` in DuckDB) and by the pages that show them:
:func:`describe_flags` writes the sentence that names the rule, its threshold and its source
(from :data:`fitdata.config.RULES`), in English or bokmål.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import numpy as np
import pandas as pd

from fitdata.config import DEFAULT_CONFIG, RULES, URGENCY_ORDER, ClinicalConfig
from fitdata.i18n import Translator

__all__ = [
    "EPISODE_COLUMNS",
    "FLAGS",
    "FLAG_GROUP",
    "NOW_AT",
    "SCORE_FLAGS",
    "SESSION_COLUMNS",
    "SRS_MAX",
    "URGENCY",
    "WARNING_GROUPS",
    "describe_flags",
    "urgency_rank",
]

#: The SRS ceiling; "always 40" compares with it to the tie tolerance.
SRS_MAX = 40.0

#: The flags a session's own scores raise (against the expected line, the first ORS, the SRS
#: cutoff, the previous SRS, the SRS items); a graph can mark them at the session.
SCORE_FLAGS: tuple[str, ...] = (
    "not_on_track",
    "no_reliable_change",
    "reliable_deterioration",
    "srs_below_cutoff",
    "srs_drop",
    "srs_item_below",
)

#: Every flag code, in the order the output lists them.
FLAGS: tuple[str, ...] = (
    *SCORE_FLAGS,
    "srs_always_40",
    "missing_ors",
    "missing_srs",
    "not_seen",
    "not_judged",
)

#: The group of every flag code. Warnings (:data:`WARNING_GROUPS`) are about the client;
#: ``data_quality`` prompts are about the record (missing forms, an all-40 series, a last ORS
#: that no expected line could judge) and are shown apart from warnings. ``srs_item_below`` is a
#: soft alliance signal: only teams that record SRS items can raise it.
FLAG_GROUP: dict[str, str] = {
    "reliable_deterioration": "clinical",
    "not_on_track": "clinical",
    "no_reliable_change": "clinical",
    "srs_below_cutoff": "alliance",
    "srs_drop": "alliance",
    "srs_item_below": "alliance",
    "not_seen": "attendance",
    "missing_ors": "data_quality",
    "missing_srs": "data_quality",
    "srs_always_40": "data_quality",
    "not_judged": "data_quality",
}

#: The groups whose flags are warnings about the client, in the order pages show them.
WARNING_GROUPS: tuple[str, ...] = ("clinical", "alliance", "attendance")

#: Every flag code, most urgent first (:data:`fitdata.config.URGENCY_ORDER`, with reasons).
URGENCY: tuple[str, ...] = tuple(step.code for step in URGENCY_ORDER)

_URGENCY_RANK = {code: rank for rank, code in enumerate(URGENCY)}

#: Where each flag is judged "now": the last session (up to ``as_of``) that could raise it.
#: ``judged_ors`` the last ORS sessions with an expected line (``not_on_track`` holds now when the
#: last ``config.not_on_track_sessions_now`` of them are all below it), ``ors`` the last session
#: with an ORS, ``srs`` the last with an SRS total, ``items`` the last with any SRS item,
#: ``session`` the last session; ``state`` flags describe the episode as it is and always hold.
NOW_AT: dict[str, str] = {
    "not_on_track": "judged_ors",
    "no_reliable_change": "ors",
    "reliable_deterioration": "ors",
    "srs_below_cutoff": "srs",
    "srs_drop": "srs",
    "srs_item_below": "items",
    "missing_ors": "session",
    "missing_srs": "session",
    "srs_always_40": "state",
    "not_seen": "state",
    "not_judged": "state",
}


def urgency_rank(code: str) -> int:
    """The place of a flag code in the order of urgency: 0 is the most urgent.

    Raises:
        KeyError: For a code that is not a flag, naming the known codes.
    """
    try:
        return _URGENCY_RANK[code]
    except KeyError:
        raise KeyError(f"unknown flag code {code!r}; known codes: {', '.join(URGENCY)}") from None


#: Columns of :func:`~fitdata.analytics.flags.session_flags`. Before ``rule``, also the
#: internal flag rows of the pandas path: ``ref`` is a score compared against (the first ORS,
#: the previous SRS), ``note`` a text (item names, a date) for the rule sentence.
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
#: Columns of :func:`~fitdata.analytics.flags.episode_flags` and
#: :func:`~fitdata.analytics.flags.episode_flag_counts`.
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
    "last_session",
    "current",
)


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
    ``note``, which is everything its sentence needs. Episode rows that no longer hold
    (``current`` False) end with when the flag last held (``flag.history``: "held until session
    5; not now"). The templates are in the message
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
    if "last_session" in flags.columns:
        columns["last"] = flags["last_session"].to_numpy(dtype=float)
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
    if "current" in flags.columns and len(flags):
        past = ~flags["current"].to_numpy(dtype=bool)
        if past.any():
            last = _numbers(columns["last"][past], tr.lang, "%.0f")
            history = _fill(tr.text("flag.history"), {"rule": rule[past], "last": last}, len(last))
            rule[past] = history
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
    if name == "last":
        return _numbers(rows["last"], lang, "%.0f")
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
        "min_earlier": str(config.srs_drop_min_earlier),
        "now": str(config.not_on_track_sessions_now),
        "weeks": str(config.not_seen_weeks),
        "as_of": tr.date(as_of) if as_of is not None else "?",
        "source": tr.text(f"rule.source.{_SOURCES[code]}") if code in _SOURCES else "",
    }
    return constants[name]


def _plain(value: float, lang: str) -> str:
    """A threshold as written in a sentence: ``5``, ``0.5`` (``0,5`` in bokmål)."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "nb" else text


#: The rule (:data:`fitdata.config.RULES`) whose source each flag's sentence names, in the
#: page's language (``rule.source.<name>``; its English text is the rule's source).
_SOURCES: dict[str, str] = {
    "not_on_track": "not_on_track_sessions_now",
    "no_reliable_change": "ors_reliable_change",
    "reliable_deterioration": "ors_reliable_change",
    "srs_below_cutoff": "srs_cutoff",
    "srs_drop": "srs_drop",
    "srs_item_below": "srs_item_concern",
}
assert set(_SOURCES.values()) <= set(RULES), "every flag's source is a documented rule"
