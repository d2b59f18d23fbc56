"""The team review's case table: its widget, its rows and flag chips, the legend and the history.

What a row of the caseload looks like to the team: cells formatted in the page's language, one
chip per flag that holds NOW with the rule that raised it on hover (warnings first, most urgent
first; data-quality prompts after them, drawn as outlined chips), and -- for the chosen case --
what held earlier and resolved (:func:`flags_html`). A couple's or family's case is one row:
its first cell names the participants with their roles ("Couple: K-1 (index), K-2
(partner)"), a line each, each number cell holds every participant's own value on the same
line as their name, and each chip names whose flag it is ("Not on track — partner K-2";
its code is ``flag@client``, styled by :func:`whose_styles`). The exported list is
:func:`fitdata.outputs.team_review.case_list_table`. :class:`CaseTable` is an anywidget whose
browser side is
``fitdata/ui/static/case_table.js`` and ``case_table.css``: Python owns the rows and the order,
a click on a header sets ``sort_by``/``descending`` and a click on a row sets ``selected``.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import anywidget
import pandas as pd
import traitlets

from fitdata.analytics.flags import FLAGS, describe_flags
from fitdata.config import ClinicalConfig
from fitdata.features import case_discussions as cd
from fitdata.features import team_review as cl
from fitdata.i18n import Translator
from fitdata.outputs.team_review import (
    case_label,
    discussion_outcome_text,
    flag_rule_text,
    whose_flag,
)
from fitdata.ui.assets import asset
from fitdata.ui.charts import FLAG_COLOURS

__all__ = [
    "COLUMNS",
    "CaseTable",
    "flag_colour",
    "flags_html",
    "legend_html",
    "legend_rule",
    "table_rows",
    "text_colour",
    "whose_styles",
]

#: The chip colour of a flag the graph has no colour for (a data-quality prompt such as "not
#: judged", which no session marks).
PROMPT_COLOUR = "#777777"

#: The rule behind a flag, with the thresholds in force (one text for the legend and the file).
legend_rule = flag_rule_text


def flag_colour(code: str) -> str:
    """The chip colour of a flag: the graph's marker colour, grey for a prompt without one."""
    return FLAG_COLOURS.get(code, PROMPT_COLOUR)


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
    ("last_discussed", "review.column.discussion", False, True),
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
                    "colour": flag_colour(code),
                    "text": text_colour(flag_colour(code)),
                    "prompt": not cl.is_warning(code),
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
    episodes: pd.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:
    """The table rows (cells and chips) of these cases, by key.

    Args:
        frame: Cases (:attr:`fitdata.features.team_review.Caseload.cases`, at most the rows
            drawn).
        flags: The caseload's flags, one row per (client-episode, flag).
        tr: The page's language.
        config: The thresholds the rule sentences name.
        as_of: The caseload's reference date.
        lang: The page's language code (for the rule sentences).
        episodes: The caseload's client-episodes, for each participant's own numbers in a
            couple's or family's row (without them such a row shows the case's numbers).
    """
    rules = _chips(frame, flags, tr=tr, config=config, as_of=as_of, lang=lang)
    started = pd.to_datetime(frame["started"])
    dates = {d: tr.date(d) for d in started.dropna().unique()}  # a few hundred dates
    columns = [c for c, *_ in COLUMNS if c not in ("flags", "started", "last_discussed")]
    records = frame[["key", "ongoing", *columns]].assign(started=started.map(dates).fillna(_DASH))
    discussed: dict[str, str] = {}  # a case never discussed has a dash: no columns to read
    if "last_discussed" in frame.columns:
        extra = [c for c in cl.DISCUSSION_REVIEW_COLUMNS if c in frame.columns]
        talked = frame.loc[frame["last_discussed"].notna().to_numpy(dtype=bool), ["key", *extra]]
        discussed = {r["key"]: discussion_cell(r, tr, config) for r in talked.to_dict("records")}
    rows = {
        record["key"]: {
            "key": record["key"],
            "cells": {**_cells(record, tr), "last_discussed": discussed.get(record["key"], _DASH)},
            "flags": rules.get(record["key"], []),
        }
        for record in records.to_dict("records")  # the rows drawn, at most a few hundred
    }
    joint = frame[frame["joint"].astype(bool)] if len(frame) else frame
    if len(joint) and episodes is not None:
        people: dict[str, list[dict[str, Any]]] = {}
        members = episodes.loc[episodes["case"].isin(joint["key"]), list(_PARTICIPANT_COLUMNS)]
        for record in members.to_dict("records"):  # only the columns the cells show
            people.setdefault(record["case"], []).append(record)
        for case in joint[["key", "format", "participants", "ongoing"]].itertuples(index=False):
            cells = rows[case.key]["cells"]
            cells.update(_joint_cells(case, people.get(case.key, []), tr))
    return rows


#: What a couple's or family's cells show of each participant's client-episode.
_PARTICIPANT_COLUMNS = (
    "case",
    "client_id",
    "age_group",
    "sessions",
    "first_ors",
    "last_ors",
    "change",
    "last_srs",
    "weeks_since_last",
)


def _joint_cells(case: Any, people: list[dict[str, Any]], tr: Translator) -> dict[str, str]:
    """A couple's or family's cells: who they are, and each participant's own numbers.

    The first cell: the kind of case on a line, then one line per participant in the order
    they are named; each other cell: an empty line, then one line per participant (a dash for
    one without sessions yet), so each participant's numbers are on their name's line; the age
    group once when all share it.
    """
    by_client = {str(r["client_id"]): r for r in people}
    order = [by_client.get(str(client)) for _, client in case.participants]

    def each(column: str, signed: bool = False) -> str:
        values = []
        for record in order:
            value = None if record is None else record[column]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                values.append(_DASH)
            elif column == "sessions":
                values.append(str(int(value)))
            else:
                values.append(tr.number(float(value), signed=signed))
        return "\n" + "\n".join(values)

    ages = [r["age_group"] for r in order if r is not None and isinstance(r["age_group"], str)]
    kind, _, named = case_label(case.format, case.participants, tr).partition(": ")
    cells = {
        "client_id": f"{kind}:\n" + named.replace(", ", ",\n"),
        "age_group": "\n" + "\n".join(tr.text(f"age_group.{g}") for g in ages)
        if len(set(ages)) > 1
        else (tr.text(f"age_group.{ages[0]}") if ages else _DASH),
        "sessions": each("sessions"),
        "first_ors": each("first_ors"),
        "last_ors": each("last_ors"),
        "change": each("change", signed=True),
        "last_srs": each("last_srs"),
    }
    if case.ongoing:
        cells["weeks_since_last"] = each("weeks_since_last")
    return cells


def discussion_cell(case: dict[str, Any], tr: Translator, config: ClinicalConfig) -> str:
    """The "Last discussion" cell: what became of it, what was agreed, the follow-up date.

    "discussed 03.11, still not on track after 3 sessions" (a line), what was agreed (a line),
    and the follow-up date, "due ... (n days ago)" once it has come; a dash for a case never
    discussed.
    """
    sentence = discussion_outcome_text(case, tr)
    if not sentence:
        return _DASH
    lines = [sentence]
    agreed = case.get("last_agreed") or ()
    if agreed:
        lines.append("; ".join(cd.action_label(config, code, tr.lang) for code in agreed))
    follow = case.get("follow_up_on")
    if follow is not None and not (isinstance(follow, float) and math.isnan(follow)):
        days = case.get("days_overdue")
        if case.get("follow_up_due") and days is not None and not pd.isna(days):
            n = int(days)
            lines.append(
                tr.text("review.discussion.due_today")
                if n == 0
                else tr.count_text("review.discussion.overdue", n, date=tr.date(follow), n=n)
            )
        else:
            lines.append(tr.text("review.discussion.follow_up", date=tr.date(follow)))
    return "\n".join(lines)


def whose_styles(rows: list[dict[str, Any]], tr: Translator) -> dict[str, dict[str, Any]]:
    """The chip styles of flags named by whose they are (codes ``flag@client``) in ``rows``.

    Each looks like its flag's chip, labelled "Not on track — partner K-2"; such a label may
    wrap, at a space, never inside the client code (its hyphen is a non-breaking one).
    """
    styles: dict[str, dict[str, Any]] = {}
    for row in rows:
        for chip in row["flags"]:
            if "who" in chip and chip["code"] not in styles:
                code = chip["flag"]
                styles[chip["code"]] = {
                    "label": whose_flag(code, chip["role"], chip["who"].replace("-", "\u2011"), tr),
                    "colour": flag_colour(code),
                    "text": text_colour(flag_colour(code)),
                    "prompt": not cl.is_warning(code),
                }
    return styles


def _chips(
    shown: pd.DataFrame,
    flags: pd.DataFrame,
    *,
    tr: Translator,
    config: ClinicalConfig,
    as_of: dt.date,
    lang: str,
) -> dict[str, list[dict[str, str]]]:
    """Each shown case's current flags with their rule sentences, most urgent first.

    A couple's or family's chip is coded ``flag@client`` and carries ``flag``, ``role`` and
    ``who`` (the client code), so its label can name whose flag it is; others are as always.
    """
    if shown.empty:
        return {}
    flags = flags[flags["case"].isin(shown["key"]) & flags["current"].astype(bool)]
    if flags.empty:
        return {}
    flags = cl.current_rows(flags)
    rule = describe_flags(flags, config=config, as_of=as_of, lang=lang)
    before, _, after = tr.text("review.chip.now").partition("{session}")
    text = rule + " " + before + flags["last_session"].astype("int64").astype(str) + after
    joint = set(shown.loc[shown["joint"].astype(bool), "key"])
    out: dict[str, list[dict[str, str]]] = {}
    for case, code, role, client, sentence in zip(
        flags["case"], flags["flag"], flags["role"], flags["client_id"], text, strict=True
    ):
        if case in joint:
            named = whose_flag(code, role, client, tr)
            chip = {"code": f"{code}@{client}", "rule": f"{named}: {sentence}", "flag": code}
            chip.update(role=str(role), who=str(client))
        else:
            chip = {"code": code, "rule": sentence}
        out.setdefault(case, []).append(chip)
    return out


def flags_html(
    caseload: cl.Caseload,
    key: str,
    *,
    tr: Translator,
    config: ClinicalConfig,
    lang: str,
    labels: dict[str, str] | None = None,
) -> str:
    """The chosen case's flags: what holds now, then what held earlier and resolved.

    Each line names the rule (:func:`fitdata.analytics.flags.describe_flags`) and the session
    at which it held last, so "SRS drop at session 2, not now" reads as history. A couple's
    or family's case gives each participant both lists under their label (``labels``: the
    graph's legend names by client code; the code itself without one).
    """
    now, earlier = cl.case_flags(caseload, key)
    cases = caseload.cases
    case = cases[cases["key"] == key]
    if case.empty or not bool(case["joint"].iloc[0]):
        return _now_and_earlier(now, earlier, tr=tr, config=config, as_of=caseload.as_of, lang=lang)
    parts = []
    for role, client in case["participants"].iloc[0]:
        label = (labels or {}).get(client, client)
        mine = [rows[rows["client_id"] == client] for rows in (now, earlier)]
        parts.append(
            f'<div class="fitdata-participant-flags" data-client="{html.escape(client)}"'
            f' data-role="{html.escape(role)}"><h4 style="margin:0.6em 0 0.1em">'
            f"{html.escape(label)}</h4>"
            + _now_and_earlier(*mine, tr=tr, config=config, as_of=caseload.as_of, lang=lang)
            + "</div>"
        )
    return "".join(parts)


def _now_and_earlier(
    now: pd.DataFrame,
    earlier: pd.DataFrame,
    *,
    tr: Translator,
    config: ClinicalConfig,
    as_of: dt.date,
    lang: str,
) -> str:
    """The lists "Holds now" and "Earlier, not now" of one client-episode's flag rows."""
    parts = []
    for rows, heading, css in (
        (now, "review.detail.now", "fitdata-flags-now"),
        (earlier, "review.detail.history", "fitdata-flags-history"),
    ):
        if rows.empty:
            text = tr.text(f"{heading}_none")
            parts.append(f'<p class="{css}">{html.escape(text)}</p>')
            continue
        # a resolved row's sentence ends with the session it last held (flag.history)
        rules = describe_flags(rows, config=config, as_of=as_of, lang=lang)
        if heading == "review.detail.now":
            before, _, after = tr.text("review.chip.now").partition("{session}")
            rules = rules + " " + before + rows["last_session"].astype("int64").astype(str) + after
        items = "".join(
            f'<li data-flag="{html.escape(code)}"><b>{html.escape(tr.text(f"flag.label.{code}"))}'
            f"</b>: {html.escape(str(rule))}</li>"
            for code, rule in zip(rows["flag"], rules, strict=True)
        )
        parts.append(
            f'<div class="{css}"><b>{html.escape(tr.text(heading))}</b><ul>{items}</ul></div>'
        )
    return "".join(parts)


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


def legend_html(
    tr: Translator, config: ClinicalConfig, lower_percentile: float, *, min_episodes: int = 0
) -> str:
    """Every flag's chip and rule, warnings then prompts, folded under "What the flags mean"."""

    def rule(code: str) -> str:
        return legend_rule(code, tr, config, lower_percentile, min_episodes=min_episodes)

    def items(codes: list[str]) -> str:
        out = []
        for code in codes:
            colour = flag_colour(code)
            out.append(
                f'<li data-flag="{code}"><span class="fitdata-chip" style="background:{colour};'
                f'color:{text_colour(colour)}">{html.escape(tr.text(f"flag.label.{code}"))}'
                f"</span> {html.escape(rule(code))}</li>"
            )
        return f'<ul style="list-style:none;padding-left:0">{"".join(out)}</ul>'

    ordered = [code for code in cl.URGENCY if code in FLAGS]
    warnings = [code for code in ordered if cl.is_warning(code)]
    prompts = [code for code in ordered if not cl.is_warning(code)]
    return (
        f"<details><summary>{html.escape(tr.text('review.legend.heading'))}</summary>"
        f"<p><b>{html.escape(tr.text('review.legend.warnings'))}</b></p>{items(warnings)}"
        f"<p><b>{html.escape(tr.text('review.legend.prompts'))}</b></p>{items(prompts)}"
        f"<p>{html.escape(tr.text('review.legend.episode_rule'))}</p></details>"
    )
