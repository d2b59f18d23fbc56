"""Team case review: which cases need us today?

A team in its weekly meeting chooses service, team and (optionally) therapist, period,
ongoing/ended and age group; reads a summary line of flag counts, each a button that filters the
list; sorts the caseload table or picks a preset ("Stagnating", "Alliance warnings", "Not seen
lately"); chooses a row to see that client's graph with the expected trajectory and every flag
marked; and exports the list as CSV or Excel for the meeting agenda.

Data flow: a team or date change composes the team's caseload in DuckDB
(:func:`fitdata.features.team_review.team_caseload`, cached); every other filter, the flag buttons,
the presets and sorting work on that small frame in pandas; choosing a row queries one client.

The state lives in widget traitlets (``view.team.value``, ``view.flag_filter.value``,
``view.table.selected``, ``view.table.sort_by``), so tests drive the view in plain Python and
read ``view.table.rows``, ``view.flag_filter.options`` and ``view.figure.data``.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from collections.abc import Callable
from typing import Any

import anywidget
import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import traitlets

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.analytics.flags import FLAGS, describe_flags
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.data import queries
from fitdata.features import team_review as cl
from fitdata.features.group_exercise import case_token, link_key
from fitdata.outputs import team_review as review_files
from fitdata.ui.charts import FLAG_COLOURS, Spec, client_graph_spec
from fitdata.ui.client_graph import rules_html
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

__all__ = ["CaseTable", "DownloadButton", "TeamReviewView", "build_team_review"]

log = logging.getLogger(__name__)
Options = list[tuple[str, Any]]

#: How many cases of the list the "group exercise" link takes (a group discusses a few).
GROUP_LINK_CASES = 6

#: Most rows the table draws; the export holds every row of the list.
MAX_TABLE_ROWS = 500
ALL = "all"

#: Presets: (flag group, sort column, descending).
PRESETS: dict[str, tuple[str, str, bool]] = {
    "stagnating": ("no_reliable_change", "sessions", True),
    "alliance": ("alliance", "last_srs", False),
    "not_seen": ("not_seen", "weeks_since_last", True),
}

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

_TABLE_ESM = r"""
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "fitdata-case-table-scroll";
  el.appendChild(root);
  const draw = () => {
    const columns = model.get("columns");
    const rows = model.get("rows");
    const sortBy = model.get("sort_by");
    const desc = model.get("descending");
    const selected = model.get("selected");
    const styles = model.get("flag_styles");
    const table = document.createElement("table");
    table.className = "fitdata-case-table";
    const head = table.createTHead().insertRow();
    for (const col of columns) {
      const th = document.createElement("th");
      th.dataset.key = col.key;
      th.scope = "col";
      th.tabIndex = 0;
      const arrow = col.key === sortBy ? (desc ? " \u25BC" : " \u25B2") : "";
      th.textContent = col.label + arrow;
      const order = desc ? "descending" : "ascending";
      th.setAttribute("aria-sort", col.key === sortBy ? order : "none");
      if (col.numeric) th.classList.add("num");
      const sort = () => {
        if (model.get("sort_by") === col.key) {
          model.set("descending", !model.get("descending"));
        } else {
          model.set("sort_by", col.key);
          model.set("descending", !!col.descending_first);
        }
        model.save_changes();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.key = row.key;
      tr.tabIndex = 0;
      if (row.key === selected) {
        tr.classList.add("selected");
        tr.setAttribute("aria-selected", "true");
      }
      const choose = () => { model.set("selected", row.key); model.save_changes(); };
      tr.addEventListener("click", choose);
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") choose(); });
      for (const col of columns) {
        const td = tr.insertCell();
        td.dataset.key = col.key;
        if (col.numeric) td.classList.add("num");
        if (col.key === "flags") {
          for (const flag of row.flags) {
            const style = styles[flag.code] || {label: flag.code, colour: "#555", text: "#fff"};
            const chip = document.createElement("span");
            chip.className = "fitdata-chip";
            chip.dataset.flag = flag.code;
            chip.textContent = style.label;
            chip.title = flag.rule;
            chip.style.background = style.colour;
            chip.style.color = style.text;
            td.appendChild(chip);
          }
        } else {
          td.textContent = row.cells[col.key] ?? "";
        }
      }
    }
    root.replaceChildren(table);
    const chosen = root.querySelector("tr.selected");
    if (chosen && model.get("scroll_to_selected")) keepInBox(chosen, table.tHead);
  };
  // Scroll the table's own box, never the page (scrollIntoView would move the window too):
  // a redraw must not pull the reader away from the graph below.
  const keepInBox = (row, head) => {
    const box = root.getBoundingClientRect();
    const top = box.top + root.clientTop + (head ? head.getBoundingClientRect().height : 0);
    const bottom = box.top + root.clientTop + root.clientHeight;
    const place = row.getBoundingClientRect();
    if (place.top < top) root.scrollTop -= top - place.top;
    else if (place.bottom > bottom) root.scrollTop += place.bottom - bottom;
  };
  draw();
  const events = ["change:rows", "change:columns", "change:sort_by", "change:descending",
                  "change:selected", "change:flag_styles"];
  for (const name of events) model.on(name, draw);
  return () => { for (const name of events) model.off(name, draw); };
}
export default { render };
"""

_TABLE_CSS = """
.fitdata-case-table-scroll { max-height: 460px; overflow: auto; border: 1px solid #ccc; }
.fitdata-case-table { border-collapse: collapse; width: 100%; font-size: 14px; }
.fitdata-case-table th { position: sticky; top: 0; background: #f3f3f3; cursor: pointer;
  text-align: left; vertical-align: bottom; padding: 6px 8px; border-bottom: 2px solid #999;
  user-select: none; }
.fitdata-case-table td { padding: 4px 8px; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
.fitdata-case-table td[data-key="flags"] { white-space: normal; min-width: 270px; }
.fitdata-case-table .num { text-align: right; font-variant-numeric: tabular-nums; }
.fitdata-case-table tbody tr { cursor: pointer; }
.fitdata-case-table tbody tr:hover { background: #eef5fb; }
.fitdata-case-table tbody tr.selected { background: #d6e9f8; outline: 2px solid #0072B2; }
.fitdata-chip { display: inline-block; border-radius: 10px; padding: 1px 8px; margin: 1px 3px 1px 0;
  font-size: 12px; white-space: nowrap; }
"""


class CaseTable(anywidget.AnyWidget):
    """A small sortable, clickable table with coloured flag chips (anywidget, inline ESM).

    Python owns the data and the order: a click on a header sets ``sort_by``/``descending``,
    a click on a row sets ``selected``; the view observes them and sends new ``rows``.
    """

    _esm = _TABLE_ESM
    _css = _TABLE_CSS
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    flag_styles = traitlets.Dict().tag(sync=True)
    scroll_to_selected = traitlets.Bool(True).tag(sync=True)


_DOWNLOAD_ESM = r"""
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "fitdata-download jupyter-button widget-button";
  button.type = "button";
  const label = () => {
    button.textContent = model.get("label");
    button.disabled = model.get("disabled");
  };
  label();
  model.on("change:label", label);
  model.on("change:disabled", label);
  button.addEventListener("click", () => model.send({ event: "request" }));
  const receive = (msg, buffers) => {
    if (!msg || msg.event !== "file") return;
    const blob = new Blob([buffers[0]], { type: msg.mime });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  model.on("msg:custom", receive);
  el.appendChild(button);
  return () => model.off("msg:custom", receive);
}
export default { render };
"""


class DownloadButton(anywidget.AnyWidget):
    """A button that asks Python for a file and hands it to the browser as a download.

    Python produces the bytes only when the button is clicked (``content`` is a callable
    returning ``(filename, bytes)``), so a large list is not encoded on every filter change.
    """

    _esm = _DOWNLOAD_ESM
    label = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    mime = traitlets.Unicode("application/octet-stream").tag(sync=True)

    def __init__(
        self, content: Callable[[], tuple[str, bytes]], on_error: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._content = content
        self._on_error = on_error
        self.on_msg(self._handle)

    def _handle(self, _widget: Any, message: dict[str, Any], _buffers: Any) -> None:
        if not isinstance(message, dict) or message.get("event") != "request":
            return
        try:
            filename, data = self._content()
        except Exception:
            log.exception("export failed")
            self._on_error()
            return
        self.send({"event": "file", "filename": filename, "mime": self.mime}, [data])


def _text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (#rrggbb)."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _set_options(dropdown: widgets.Dropdown, options: Options, value: Any = None) -> None:
    """Replace options and select ``value`` if offered, else the first (see client_graph)."""
    dropdown.options = options
    values = [v for _, v in options]
    dropdown.index = values.index(value) if value in values else (0 if options else None)


class TeamReviewView:
    """Widgets and behaviour of the team case review."""

    def __init__(self, context: DashboardContext, *, model: TrajectoryModel | None = None) -> None:
        self.context = context
        tr = context.tr
        reader = context.reader
        self._updating = False
        self._cache = cl.CaseloadCache()
        self._caseload: cl.Caseload | None = None
        self._listed = pd.DataFrame()
        self._shown_key = ""
        self.model = model if model is not None else cl.trajectory_model(reader)

        style = {"description_width": "initial"}

        def dropdown(key: str, name: str, width: str = "260px") -> widgets.Dropdown:
            box = widgets.Dropdown(
                description=tr.text(key),
                layout=widgets.Layout(width="auto", min_width=width),
                style=style,
            )
            box.add_class(f"fitdata-{name}")
            return box

        self.service = dropdown("review.filter.service", "service")
        self.team = dropdown("filter.team", "team")
        self.therapist = dropdown("filter.therapist", "therapist")
        self.period = dropdown("review.filter.period", "period", "200px")
        self.age_group = dropdown("review.filter.age_group", "age-group", "200px")
        self.status = widgets.ToggleButtons(
            options=[(tr.text(f"review.status.{s}"), s) for s in cl.STATUSES],
            value="ongoing",
            style={"button_width": "auto"},
        ).add_class("fitdata-status-filter")
        self.as_of = widgets.DatePicker(
            description=tr.text("review.filter.as_of"), style=style
        ).add_class("fitdata-as-of")
        self.as_of_note = widgets.HTML().add_class("fitdata-as-of-note")
        self.flag_filter = widgets.ToggleButtons(style={"button_width": "auto"}).add_class(
            "fitdata-flag-filter"
        )
        self.presets = {
            name: widgets.Button(description=tr.text(f"review.preset.{name}")).add_class(
                f"fitdata-preset-{name.replace('_', '-')}"
            )
            for name in PRESETS
        }
        self.table = CaseTable(
            columns=[
                {
                    "key": key,
                    "label": tr.text(message),
                    "numeric": numeric,
                    "descending_first": descending,
                }
                for key, message, numeric, descending in COLUMNS
            ],
            flag_styles={
                code: {
                    "label": tr.text(f"flag.label.{code}"),
                    "colour": FLAG_COLOURS[code],
                    "text": _text_colour(FLAG_COLOURS[code]),
                }
                for code in FLAGS
            },
            sort_by="flags",
            descending=True,
        )
        self.table.add_class("fitdata-case-table-widget")
        self.table_note = widgets.HTML().add_class("fitdata-table-note")
        self.legend = widgets.HTML(self._legend_html()).add_class("fitdata-legend")
        self.export_csv = DownloadButton(
            self._csv_file,
            self._export_failed,
            label=tr.text("review.export.csv"),
            mime="text/csv",
        ).add_class("fitdata-export-csv")
        self.export_excel = DownloadButton(
            self._excel_file,
            self._export_failed,
            label=tr.text("review.export.excel"),
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ).add_class("fitdata-export-excel")
        self.group_link = widgets.HTML().add_class("fitdata-group-link")
        self.message = widgets.HTML().add_class("fitdata-message")
        self.graph_status = widgets.HTML().add_class("fitdata-status")
        self.graph_expected = widgets.HTML().add_class("fitdata-expected-note")
        self.graph_rules = widgets.HTML().add_class("fitdata-rules")

        self._fill_initial_options()
        self._load_caseload()
        self._refresh()
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec())
        self.figure_box = widgets.VBox([self.graph], layout=widgets.Layout(width="100%")).add_class(
            "fitdata-graph"
        )

        self.service.observe(self._guarded(self._on_service), "value")
        self.team.observe(self._guarded(self._on_team), "value")
        self.as_of.observe(self._guarded(self._on_as_of), "value")
        for box in (self.therapist, self.period, self.age_group, self.status, self.flag_filter):
            box.observe(self._guarded(self._on_filter), "value")
        self.table.observe(self._guarded(self._on_sort), ["sort_by", "descending"])
        self.table.observe(self._guarded(self._on_select), "selected")
        for name, button in self.presets.items():
            button.on_click(self._guarded_click(name))

    # -- options -------------------------------------------------------------------------
    def _fill_initial_options(self) -> None:
        tr, reader = self.context.tr, self.context.reader
        self._teams = queries.team_options(reader)
        services = sorted(self._teams["service"].unique(), key=queries.natural_key)
        _set_options(self.service, [(s, s) for s in services])
        _set_options(self.team, self._team_options())
        _set_options(
            self.period, [(tr.text(f"review.period.{p}"), p) for p in cl.PERIODS], value="all"
        )
        _set_options(
            self.age_group,
            [(tr.text("review.filter.all_ages"), ALL)]
            + [(tr.text(f"age_group.{g}"), g) for g in ("child", "adolescent", "adult")],
        )
        latest = cl.latest_session_date(reader)
        self._latest = latest
        self.as_of.value = latest
        if not services:
            self.message.value = f"<p>{html.escape(tr.text('message.empty_database'))}</p>"

    def _team_options(self) -> Options:
        tr = self.context.tr
        teams = self._teams[self._teams["service"] == self.service.value]
        return [
            (
                tr.count_text("option.team", row.clients, name=row.name, clients=row.clients),
                row.team_id,
            )
            for row in teams.itertuples()
        ]

    def _therapist_options(self) -> Options:
        tr = self.context.tr
        options: Options = [(tr.text("review.filter.all_therapists"), ALL)]
        if self._caseload is None or self._caseload.episodes.empty:
            return options
        episodes = self._caseload.episodes
        counts = (
            episodes.groupby(["therapist_id", "therapist"], sort=False).size().reset_index(name="n")
        )
        counts = counts.sort_values("therapist", key=lambda s: s.map(queries.natural_key))
        for row in counts.itertuples():
            options.append(
                (
                    tr.count_text("review.option.therapist", row.n, name=row.therapist, n=row.n),
                    row.therapist_id,
                )
            )
        return options

    # -- state ---------------------------------------------------------------------------
    @property
    def as_of_date(self) -> dt.date | None:
        """The reference date in use (the picker's, else the latest session)."""
        return self.as_of.value or self._latest

    def _load_caseload(self) -> None:
        """Compose (or reuse) the caseload of the chosen team at the chosen date."""
        as_of = self.as_of_date
        if self.team.value is None or as_of is None:
            self._caseload = None
        else:
            self._caseload = self._cache.get(
                self.context.reader,
                team_id=self.team.value,
                as_of=as_of,
                config=self.context.config,
                model=self.model,
            )
        self._row_cache: dict[str, dict[str, Any]] = {}
        previous = self.therapist.value
        self._updating = True
        try:
            _set_options(self.therapist, self._therapist_options(), value=previous)
        finally:
            self._updating = False
        self._as_of_text()

    def _as_of_text(self) -> None:
        tr = self.context.tr
        as_of = self.as_of_date
        if as_of is None:
            self.as_of_note.value = ""
            return
        key = "review.as_of.latest" if as_of == self._latest else "review.as_of.chosen"
        latest = tr.date(self._latest) if self._latest else "-"
        self.as_of_note.value = (
            f'<span class="fitdata-as-of-text">'
            f"{html.escape(tr.text(key, date=tr.date(as_of), latest=latest))}</span>"
        )

    def _filtered(self) -> pd.DataFrame:
        """The caseload rows that pass every filter except the flag buttons."""
        if self._caseload is None:
            return pd.DataFrame(columns=[*cl.CASELOAD_COLUMNS, *FLAGS])
        therapist = None if self.therapist.value in (None, ALL) else self.therapist.value
        age = None if self.age_group.value in (None, ALL) else self.age_group.value
        return cl.filter_caseload(
            self._caseload.episodes,
            as_of=self._caseload.as_of,
            therapist_id=therapist,
            period=self.period.value or "all",
            status=self.status.value or "all",
            age_group=age,
        )

    def _refresh(self) -> None:
        """Recount the flags, refilter, resort and redraw the table (no database query)."""
        filtered = self._filtered()
        self._update_flag_buttons(filtered)
        group = None if self.flag_filter.value in (None, ALL) else self.flag_filter.value
        listed = filtered if group is None else filtered[cl.group_mask(filtered, group)]
        listed = cl.sort_caseload(
            listed, self.table.sort_by or "flags", descending=self.table.descending
        )
        self._listed = listed
        self._redraw_table()
        self._update_group_link()

    def _update_flag_buttons(self, filtered: pd.DataFrame) -> None:
        tr, config = self.context.tr, self.context.config
        counts = cl.flag_group_counts(filtered)
        values = {
            "stagnation": config.stagnation_sessions,
            "weeks": config.not_seen_weeks,
        }
        options: Options = [
            (tr.count_text("review.summary.all", len(filtered), n=len(filtered)), ALL)
        ]
        tooltips = [tr.text("review.summary.all_tooltip")]
        for group, n in counts.items():
            options.append((tr.count_text(f"review.summary.{group}", n, n=n, **values), group))
            tooltips.append(tr.text(f"review.summary.{group}_tooltip", **values))
        current = self.flag_filter.value
        self._updating = True
        try:
            self.flag_filter.options = options
            self.flag_filter.tooltips = tooltips
            self.flag_filter.value = current if current in dict(options).values() else ALL
        finally:
            self._updating = False

    def _redraw_table(self) -> None:
        tr = self.context.tr
        listed = self._listed
        shown = listed.head(MAX_TABLE_ROWS)
        # A row's cells and chips depend only on the caseload and the language, not on the
        # filters or the order: each is built once per caseload and reused.
        missing = shown[~shown["key"].isin(self._row_cache.keys())]
        if len(missing):
            self._row_cache.update(self._table_rows(missing))
        rows = [self._row_cache[key] for key in shown["key"]]
        with self.table.hold_sync():
            self.table.rows = rows
        if len(listed) > len(shown):
            note = tr.text("review.table.truncated", shown=len(shown), n=len(listed))
        else:
            note = tr.count_text("review.table.count", len(listed), n=len(listed))
        self.table_note.value = f'<span class="fitdata-table-count">{html.escape(note)}</span>'

    def _table_rows(self, frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
        """The table rows (cells and chips) of these caseload rows, by key."""
        tr = self.context.tr
        rules = self._rules_for(frame)
        started = pd.to_datetime(frame["started"])
        dates = {d: tr.date(d) for d in started.dropna().unique()}  # a few hundred dates
        columns = [c for c, *_ in COLUMNS if c not in ("flags", "started")]
        records = frame[["key", "ongoing", *columns]].assign(
            started=started.map(dates).fillna("\u2013")
        )
        out = {}
        for record in records.to_dict("records"):  # the rows drawn, at most MAX_TABLE_ROWS
            out[record["key"]] = {
                "key": record["key"],
                "cells": self._cells(record),
                "flags": rules.get(record["key"], []),
            }
        return out

    def _rules_for(self, shown: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
        """Each shown row's flags with their rule sentences, in the page's language."""
        if self._caseload is None or shown.empty:
            return {}
        flags = self._caseload.flags
        flags = flags[flags["key"].isin(shown["key"])].copy()
        if flags.empty:
            return {}
        flags["rule"] = describe_flags(
            flags, config=self.context.config, as_of=self._caseload.as_of, lang=self.context.lang
        )
        before, _, after = self.context.tr.text("review.chip.first_session").partition("{session}")
        flags["text"] = flags["rule"] + " " + before + flags["first_session"].astype(str) + after
        order = {code: i for i, code in enumerate(FLAGS)}
        flags = flags.assign(_order=flags["flag"].map(order)).sort_values(["key", "_order"])
        out: dict[str, list[dict[str, str]]] = {}
        for key, code, text in zip(flags["key"], flags["flag"], flags["text"], strict=True):
            out.setdefault(key, []).append({"code": code, "rule": text})
        return out

    def _cells(self, record: dict[str, Any]) -> dict[str, str]:
        tr = self.context.tr

        def number(value: Any, signed: bool = False) -> str:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "\u2013"
            return tr.number(float(value), signed=signed)

        return {
            "client_id": str(record["client_id"]),
            "therapist": str(record["therapist"]),
            "age_group": tr.text(f"age_group.{record['age_group']}")
            if isinstance(record["age_group"], str)
            else "\u2013",
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

    # -- the graph -----------------------------------------------------------------------
    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _current_spec(self) -> Spec:
        """The chosen row's graph (the first listed row until one is chosen)."""
        context, tr = self.context, self.context.tr
        key = self.table.selected
        if not key and len(self._listed):
            key = str(self._listed["key"].iloc[0])
            self._updating = True
            try:
                self.table.selected = key
            finally:
                self._updating = False
        self._shown_key = key
        if not key or self._caseload is None:
            empty = pd.DataFrame(
                columns=["session_no", "session_date", "rater", "ors_total", "srs_total"]
            )
            status = client_status(empty, "adult", context.config)
            self.graph_status.value = (
                f'<p class="fitdata-status-text">{html.escape(tr.text("review.graph.none"))}</p>'
            )
            self.graph_expected.value = ""
            self.graph_rules.value = ""
            return client_graph_spec(
                empty, status, tr, context.config, title=tr.text("graph.no_client")
            )
        episode_id, client_id = key.split("|", 1)
        flags = self._caseload.flags
        detail = cl.episode_detail(
            context.reader,
            episode_id,
            client_id,
            as_of=self._caseload.as_of,
            config=context.config,
            model=self.model,
            episode_flags=flags[flags["key"] == key],
            lang=context.lang,
        )
        own = detail.sessions[detail.sessions["rater"] == "client"]
        status = client_status(own, detail.age_group, context.config)
        row = self._caseload.episodes[self._caseload.episodes["key"] == key]
        therapist = str(row["therapist"].iloc[0]) if len(row) else ""
        self.graph_status.value = (
            f'<p class="fitdata-status-text" style="font-size:1.15em">'
            f"{html.escape(status_sentence(status, tr, context.config))}</p>"
        )
        self.graph_expected.value = self._expected_html(detail.expected)
        self.graph_rules.value = rules_html(
            tr,
            context.config,
            detail.age_group,
            extra=[
                tr.text(
                    "review.rule.expected",
                    percentile=tr.number(100 * self.model.lower_percentile, decimals=0),
                    min=self.model.min_episodes,
                )
            ],
        )
        return client_graph_spec(
            detail.sessions,
            status,
            tr,
            context.config,
            title=tr.text("review.graph.title", client=client_id, therapist=therapist),
            expected=detail.expected,
            lower_percentile=self.model.lower_percentile,
            flag_markers=detail.session_flags,
        )

    def _expected_html(self, expected: pd.DataFrame) -> str:
        tr = self.context.tr
        usable = expected[expected["sufficient"].astype(bool)] if len(expected) else expected
        if len(usable):
            counts = usable["n_episodes"].astype(int)
            low, high = (tr.number(n, decimals=0) for n in (counts.min(), counts.max()))
            text = tr.text(
                "review.expected.based_on",
                episodes=low if low == high else f"{low}\u2013{high}",
                percentile=tr.number(100 * self.model.lower_percentile, decimals=0),
            )
        else:
            text = tr.text("review.expected.fallback", min=self.model.min_episodes)
        return f'<p class="fitdata-expected-text">{html.escape(text)}</p>'

    def _redraw_graph(self) -> None:
        self.graph.show(self._current_spec())

    # -- behaviour -----------------------------------------------------------------------
    def _guarded(self, callback: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """Wrap an observer so an error becomes a friendly message, never a traceback."""

        def run(change: dict[str, Any]) -> None:
            if self._updating:
                return
            self.message.value = ""
            run_guarded("team review", callback, change, self.message, self.context.tr)

        return run

    def _guarded_click(self, preset: str) -> Callable[[widgets.Button], None]:
        run = self._guarded(lambda _change: self.apply_preset(preset))
        return lambda _button: run({})

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    def _export_failed(self) -> None:
        self._show_error(self.context.tr.text("error.unexpected"))

    def _on_service(self, _change: dict[str, Any]) -> None:
        self._updating = True
        try:
            _set_options(self.team, self._team_options())
        finally:
            self._updating = False
        self._on_team({})

    def _on_team(self, _change: dict[str, Any]) -> None:
        self._load_caseload()
        self._refresh()
        self._choose_first(force=True)

    def _on_as_of(self, _change: dict[str, Any]) -> None:
        self._load_caseload()
        self._refresh()
        self._choose_first(force=True)

    def _on_filter(self, _change: dict[str, Any]) -> None:
        self._refresh()
        if self.table.selected not in set(self._listed["key"]):
            self._choose_first()

    def _on_sort(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _on_select(self, _change: dict[str, Any]) -> None:
        if self.table.selected != self._shown_key:
            self._redraw_graph()
        self._update_group_link()

    def group_exercise_links(self) -> dict[str, str]:
        """Links that open the KOR group exercise with cases of this review, anonymised there.

        ``"chosen"``: the chosen case; ``"listed"``: the first :data:`GROUP_LINK_CASES` cases
        of the list in its order. Each is ``group_exercise.ipynb?cases=<token>`` (relative, so
        it stays on this server), where the token is a keyed HMAC of the cases valid for 14
        days (:func:`fitdata.features.group_exercise.case_token`): it shows no client code.
        """
        team = self.team.value
        if not team:
            return {}
        key = link_key(self.context.db_path)
        listed = self.listed_episode_ids()[:GROUP_LINK_CASES]
        links = {}
        for name, cases in (("chosen", self.chosen_episode_ids()), ("listed", listed)):
            if cases:
                token = case_token([(e, c, team) for e, c in cases], key=key)
                links[name] = f"group_exercise.ipynb?cases={token}"
        return links

    def _update_group_link(self) -> None:
        tr = self.context.tr
        links = self.group_exercise_links()
        parts = []
        if "chosen" in links:
            parts.append((links["chosen"], tr.text("review.group_link.chosen")))
        if "listed" in links:
            n = min(len(self._listed), GROUP_LINK_CASES)
            parts.append((links["listed"], tr.count_text("review.group_link.listed", n, n=n)))
        anchors = " · ".join(
            f'<a href="{html.escape(href)}" target="_blank" rel="noopener">{html.escape(text)}</a>'
            for href, text in parts
        )
        self.group_link.value = (
            f"<b>{html.escape(tr.text('review.group_link.heading'))}</b> {anchors}" if parts else ""
        )

    def _choose_first(self, *, force: bool = False) -> None:
        """Show the first listed case (or none) after the list changed under the graph.

        The graph is redrawn when the case changes, or always with ``force`` (a new date or
        team changes what a case's graph shows).
        """
        first = str(self._listed["key"].iloc[0]) if len(self._listed) else ""
        self._updating = True
        try:
            self.table.selected = first
        finally:
            self._updating = False
        if force or first != self._shown_key or not first:
            self._redraw_graph()

    def apply_preset(self, preset: str) -> None:
        """Filter to a preset's flag group and sort as it says ("Stagnating", ...).

        Raises:
            ValueError: For an unknown preset.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        group, column, descending = PRESETS[preset]
        self._updating = True
        try:
            self.flag_filter.value = group
            self.table.sort_by = column
            self.table.descending = descending
        finally:
            self._updating = False
        self._refresh()
        self._choose_first()

    # -- hooks for other dashboards and for export ---------------------------------------
    def chosen_episode_ids(self) -> list[tuple[str, str]]:
        """The chosen case as ``[(episode_id, client_id)]`` (empty when none is chosen).

        A hook for other dashboards (e.g. the KOR group exercise) to open the same case.
        """
        if not self.table.selected:
            return []
        episode_id, client_id = self.table.selected.split("|", 1)
        return [(episode_id, client_id)]

    def listed_episode_ids(self) -> list[tuple[str, str]]:
        """Every case of the current list, in the table's order, as (episode, client)."""
        return list(
            zip(
                self._listed["episode_id"].astype(str),
                self._listed["client_id"].astype(str),
                strict=True,
            )
        )

    def export_table(self) -> pd.DataFrame:
        """The current list as the export holds it: every listed row, in the table's order.

        Headers and flag names in the page's language; numbers stay numbers.
        """
        tr = self.context.tr
        listed = self._listed
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

    def _file_stem(self) -> str:
        as_of = self.as_of_date.isoformat() if self.as_of_date else "all"
        team = str(self.team.value or "team")
        return f"case-review-{team}-{as_of}"

    def _csv_file(self) -> tuple[str, bytes]:
        return f"{self._file_stem()}.csv", review_files.export_csv(
            self.export_table(), lang=self.context.lang
        )

    def _excel_file(self) -> tuple[str, bytes]:
        tr = self.context.tr
        notes = (
            [(tr.text("review.export.as_of"), tr.date(self.as_of_date))] if self.as_of_date else []
        )
        notes.append((tr.text("review.export.filters"), self._filters_text()))
        notes += [(tr.text(f"flag.label.{code}"), self._legend_rule(code)) for code in FLAGS]
        data = review_files.export_excel(
            self.export_table(),
            sheet=tr.text("review.export.sheet"),
            notes=notes,
            notes_sheet=tr.text("review.export.notes_sheet"),
        )
        return f"{self._file_stem()}.xlsx", data

    def _filters_text(self) -> str:
        parts = []
        for box in (self.service, self.team, self.therapist, self.period, self.age_group):
            if box.label:
                parts.append(f"{box.description}: {box.label}")
        parts.append(str(self.status.label))
        parts.append(str(self.flag_filter.label))
        return " · ".join(p.replace("\u00a0", " ") for p in parts)

    # -- legend --------------------------------------------------------------------------
    def _legend_rule(self, code: str) -> str:
        config = self.context.config
        tr = self.context.tr
        return tr.text(
            f"review.legend.{code}",
            percentile=tr.number(100 * self._lower_percentile(), decimals=0),
            rc=tr.number(config.ors_reliable_change, decimals=0),
            stagnation=config.stagnation_sessions,
            cutoff=tr.number(config.srs_cutoff, decimals=0),
            drop=tr.number(config.srs_drop, decimals=0),
            item=tr.number(config.srs_item_concern, decimals=0),
            min_sessions=config.srs_always_max_min_sessions,
            weeks=config.not_seen_weeks,
        )

    def _lower_percentile(self) -> float:
        model = getattr(self, "model", None)
        return model.lower_percentile if model is not None else 0.25

    def _legend_html(self) -> str:
        tr = self.context.tr
        items = []
        for code in FLAGS:
            colour = FLAG_COLOURS[code]
            items.append(
                f'<li data-flag="{code}"><span class="fitdata-chip" style="background:{colour};'
                f'color:{_text_colour(colour)}">{html.escape(tr.text(f"flag.label.{code}"))}'
                f"</span> {html.escape(self._legend_rule(code))}</li>"
            )
        return (
            f"<details><summary>{html.escape(tr.text('review.legend.heading'))}</summary>"
            f'<ul style="list-style:none;padding-left:0">{"".join(items)}</ul>'
            f"<p>{html.escape(tr.text('review.legend.episode_rule'))}</p></details>"
        )

    # -- layout --------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.context.tr
        row = widgets.Layout(flex_flow="row wrap", grid_gap="8px", align_items="center")
        filters = widgets.VBox(
            [
                widgets.HBox([self.service, self.team, self.therapist], layout=row),
                widgets.HBox(
                    [self.period, self.age_group, self.status, self.as_of, self.as_of_note],
                    layout=row,
                ),
            ]
        )
        presets = widgets.HBox(
            [widgets.HTML(f"<b>{html.escape(tr.text('review.preset.heading'))}</b>")]
            + list(self.presets.values())
            + [self.export_csv, self.export_excel],
            layout=row,
        )
        graph = widgets.VBox(
            [self.graph_status, self.graph_expected, self.figure_box, self.graph_rules]
        )
        return widgets.VBox(
            [
                filters,
                self.message,
                self.flag_filter,
                presets,
                self.table_note,
                self.table,
                self.legend,
                self.group_link,
                graph,
            ],
            layout=widgets.Layout(grid_gap="6px"),
        ).add_class("fitdata-team-review")


def build_team_review(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the team case review for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build_dashboard("team review", lambda c: TeamReviewView(c).widget, context)
