"""The team review's case table: its widget, its rows and flag chips, the legend and the export.

What a row of the caseload looks like to the team (cells formatted in the page's language, one
chip per flag with the rule that raised it on hover) and in the exported list (numbers stay
numbers). :class:`CaseTable` is an anywidget whose browser side is
``fitdata/ui/static/case_table.js`` and ``case_table.css``: Python owns the rows and the order,
a click on a header sets ``sort_by``/``descending`` and a click on a row sets ``selected``.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import anywidget
import numpy as np
import pandas as pd
import traitlets

from fitdata.analytics.flags import FLAGS, describe_flags
from fitdata.config import ClinicalConfig
from fitdata.i18n import Translator
from fitdata.ui.assets import asset
from fitdata.ui.charts import FLAG_COLOURS

__all__ = [
    "COLUMNS",
    "CaseTable",
    "export_frame",
    "legend_html",
    "legend_rule",
    "table_rows",
    "text_colour",
]

#: Table columns: (key in the caseload frame, message key, numeric, sort descending first).
COLUMNS: tuple[tuple[str, str, bool, bool], ...] = (
    ("client_id", "review.column.client", False, False),
    ("therapist", "review.column.therapist", False, False),
    ("age_group", "review.column.age_group", False, False),
    ("started", "review.column.started", False, True),
    ("sessions", "review.column.sessions", True, True),
    ("first_ors", "review.column.first_ors", True, False),
    ("last_ors", "review.column.last_ors", True, False),
    ("change", "review.column.change", True, False),
    ("last_srs", "review.column.last_srs", True, False),
    ("weeks_since_last", "review.column.weeks_since_last", True, True),
    ("flags", "review.column.flags", False, True),
)
_DASH = "\u2013"  # an empty cell


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (#rrggbb)."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


class CaseTable(anywidget.AnyWidget):
    """A small sortable, clickable table with coloured flag chips.

    Python owns the data and the order: a click on a header sets ``sort_by``/``descending``,
    a click on a row sets ``selected``; the view observes them and sends new ``rows``.
    """

    _esm = asset("case_table.js")
    _css = asset("case_table.css")
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    flag_styles = traitlets.Dict().tag(sync=True)
    scroll_to_selected = traitlets.Bool(True).tag(sync=True)

    @classmethod
    def for_review(cls, tr: Translator) -> CaseTable:
        """The review's table: its columns and flag chips in the page's language, by flags."""
        table = cls(
            columns=[
                {"key": key, "label": tr.text(message), "numeric": numeric, "descending_first": d}
                for key, message, numeric, d in COLUMNS
            ],
            flag_styles={
                code: {
                    "label": tr.text(f"flag.label.{code}"),
                    "colour": FLAG_COLOURS[code],
                    "text": text_colour(FLAG_COLOURS[code]),
                }
                for code in FLAGS
            },
            sort_by="flags",
            descending=True,
        )
        return table.add_class("fitdata-case-table-widget")


def table_rows(
    frame: pd.DataFrame,
    flags: pd.DataFrame,
    *,
    tr: Translator,
    config: ClinicalConfig,
    as_of: dt.date,
    lang: str,
) -> dict[str, dict[str, Any]]:
    """The table rows (cells and chips) of these caseload rows, by key.

    Args:
        frame: Caseload rows (at most the rows drawn).
        flags: The caseload's flags, one row per (key, flag).
        tr: The page's language.
        config: The thresholds the rule sentences name.
        as_of: The caseload's reference date.
        lang: The page's language code (for the rule sentences).
    """
    rules = _chips(frame, flags, tr=tr, config=config, as_of=as_of, lang=lang)
    started = pd.to_datetime(frame["started"])
    dates = {d: tr.date(d) for d in started.dropna().unique()}  # a few hundred dates
    columns = [c for c, *_ in COLUMNS if c not in ("flags", "started")]
    records = frame[["key", "ongoing", *columns]].assign(started=started.map(dates).fillna(_DASH))
    return {
        record["key"]: {
            "key": record["key"],
            "cells": _cells(record, tr),
            "flags": rules.get(record["key"], []),
        }
        for record in records.to_dict("records")  # the rows drawn, at most a few hundred
    }


def _chips(
    shown: pd.DataFrame,
    flags: pd.DataFrame,
    *,
    tr: Translator,
    config: ClinicalConfig,
    as_of: dt.date,
    lang: str,
) -> dict[str, list[dict[str, str]]]:
    """Each shown row's flags with their rule sentences, in the page's language."""
    if shown.empty:
        return {}
    flags = flags[flags["key"].isin(shown["key"])].copy()
    if flags.empty:
        return {}
    flags["rule"] = describe_flags(flags, config=config, as_of=as_of, lang=lang)
    before, _, after = tr.text("review.chip.first_session").partition("{session}")
    flags["text"] = flags["rule"] + " " + before + flags["first_session"].astype(str) + after
    order = {code: i for i, code in enumerate(FLAGS)}
    flags = flags.assign(_order=flags["flag"].map(order)).sort_values(["key", "_order"])
    out: dict[str, list[dict[str, str]]] = {}
    for key, code, text in zip(flags["key"], flags["flag"], flags["text"], strict=True):
        out.setdefault(key, []).append({"code": code, "rule": text})
    return out


def _cells(record: dict[str, Any], tr: Translator) -> dict[str, str]:
    def number(value: Any, signed: bool = False) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return _DASH
        return tr.number(float(value), signed=signed)

    return {
        "client_id": str(record["client_id"]),
        "therapist": str(record["therapist"]),
        "age_group": tr.text(f"age_group.{record['age_group']}")
        if isinstance(record["age_group"], str)
        else _DASH,
        "started": str(record["started"]),
        "sessions": str(int(record["sessions"])),
        "first_ors": number(record["first_ors"]),
        "last_ors": number(record["last_ors"]),
        "change": number(record["change"], signed=True),
        "last_srs": number(record["last_srs"]),
        "weeks_since_last": number(record["weeks_since_last"])
        if record["ongoing"]
        else tr.text("review.table.ended"),
    }


def legend_rule(code: str, tr: Translator, config: ClinicalConfig, lower_percentile: float) -> str:
    """The rule behind a flag, with the thresholds in force."""
    return tr.text(
        f"review.legend.{code}",
        percentile=tr.number(100 * lower_percentile, decimals=0),
        rc=tr.number(config.ors_reliable_change, decimals=0),
        stagnation=config.stagnation_sessions,
        cutoff=tr.number(config.srs_cutoff, decimals=0),
        drop=tr.number(config.srs_drop, decimals=0),
        item=tr.number(config.srs_item_concern, decimals=0),
        min_sessions=config.srs_always_max_min_sessions,
        weeks=config.not_seen_weeks,
    )


def legend_html(tr: Translator, config: ClinicalConfig, lower_percentile: float) -> str:
    """Every flag's chip and rule, folded under "What the flags mean"."""
    items = []
    for code in FLAGS:
        colour = FLAG_COLOURS[code]
        items.append(
            f'<li data-flag="{code}"><span class="fitdata-chip" style="background:{colour};'
            f'color:{text_colour(colour)}">{html.escape(tr.text(f"flag.label.{code}"))}'
            f"</span> {html.escape(legend_rule(code, tr, config, lower_percentile))}</li>"
        )
    return (
        f"<details><summary>{html.escape(tr.text('review.legend.heading'))}</summary>"
        f'<ul style="list-style:none;padding-left:0">{"".join(items)}</ul>'
        f"<p>{html.escape(tr.text('review.legend.episode_rule'))}</p></details>"
    )


def export_frame(listed: pd.DataFrame, tr: Translator) -> pd.DataFrame:
    """The listed caseload rows as the export holds them, in their order.

    Headers and flag names in the page's language; numbers stay numbers.
    """
    labels = {code: tr.text(f"flag.label.{code}") for code in FLAGS}
    flag_text = pd.Series("", index=listed.index, dtype=object)
    for code in FLAGS:  # ten flag columns, not a loop over rows
        has = listed[code].astype(bool) if code in listed else False
        sep = np.where(flag_text == "", "", "; ")
        flag_text = flag_text.where(~has, flag_text + sep + labels[code])
    status = listed["ongoing"].map(
        {True: tr.text("review.status.ongoing"), False: tr.text("review.status.ended")}
    )
    age = listed["age_group"].map(
        {g: tr.text(f"age_group.{g}") for g in ("child", "adolescent", "adult")}
    )

    def date(column: str) -> pd.Series:
        return pd.to_datetime(listed[column]).dt.date

    return pd.DataFrame(
        {
            tr.text("review.column.client"): listed["client_id"].astype(str),
            tr.text("review.column.episode"): listed["episode_id"].astype(str),
            tr.text("review.column.therapist"): listed["therapist"].astype(str),
            tr.text("review.column.age_group"): age,
            tr.text("review.column.started"): date("started"),
            tr.text("review.column.status"): status,
            tr.text("review.column.sessions"): listed["sessions"].astype(int),
            tr.text("review.column.first_ors"): listed["first_ors"].round(1),
            tr.text("review.column.last_ors"): listed["last_ors"].round(1),
            tr.text("review.column.change"): listed["change"].round(1),
            tr.text("review.column.last_srs"): listed["last_srs"].round(1),
            tr.text("review.column.last_session"): date("last_session"),
            tr.text("review.column.weeks_since_last"): listed["weeks_since_last"].where(
                listed["ongoing"]
            ),
            tr.text("review.column.flags"): flag_text,
        }
    ).reset_index(drop=True)
