"""The service dashboard for leaders: are we collecting, are clients getting better, where to look.

Every number comes from :func:`fitdata.features.service.service_summary` — the function the
report (``fitdata report``) uses — and every table from
:func:`fitdata.outputs.report.display_tables`, so the page, its download and the command-line report
agree by construction. The view keeps its state in widget traitlets: a test sets ``view.team.value``
in plain Python and reads ``view.reading.value``, the tables and the figures' data, the same things
the browser shows.

The couples section (issue 20: both partners reliably improved, one, neither, both recovered;
:mod:`fitdata.features.service.couples`) is read once per database version too, one row per
couple, and laid out by :func:`fitdata.outputs.report.couple_tables`, as in the report.

Filter changes reuse the kernel's :class:`~fitdata.features.service.SummaryCache`: the facts
behind every number (client-episodes and client-rated sessions, summed per team, month, age
group and format) are read from DuckDB once per kernel and database version, and a change of
period, service, team, age group or format only adds up the cells of the new selection (no
query, no per-episode frame; see :mod:`fitdata.features.service`).
"""

from __future__ import annotations

import dataclasses
import html
import logging
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.config import AGE_GROUPS
from fitdata.features.service import (
    FORMATS as EPISODE_FORMATS,
)
from fitdata.features.service import (
    Period,
    ServiceFilters,
    ServiceSummary,
    filter_options,
    kernel_cache,
    service_summary,
)
from fitdata.features.service.couples import CoupleSummary, couple_summary
from fitdata.outputs.report import (
    FORMATS,
    ReportFormat,
    couple_explanation,
    couple_sentences,
    couple_tables,
    data_uri,
    display_tables,
    filter_text,
    method_notes,
    reading_sentences,
    render,
    table_html,
)
from fitdata.ui.assets import asset
from fitdata.ui.choices import period_options
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.service_charts import (
    CHARTS,
    TEAM_CHARTS,
    TREND_CHARTS,
    chart_traces,
    combined_figure,
    combined_spec,
    highlight_css,
    service_figures,
)
from fitdata.ui.service_follow_up import FollowUpSection
from fitdata.ui.view import DashboardView, Options, builder

__all__ = [
    "CHARTS",
    "TEAM_CHARTS",
    "TREND_CHARTS",
    "ServiceView",
    "build_service",
    "chart_traces",
    "combined_figure",
    "combined_spec",
    "highlight_css",
    "service_figures",
]

log = logging.getLogger(__name__)
ALL = ""  # the option value meaning "no filter"


def _period_labels(quarters: list[str], unit: str) -> list[str]:
    if not quarters:
        return []
    first, last = pd.Period(quarters[0], freq="Q"), pd.Period(quarters[-1], freq="Q")
    if unit == "quarter":
        return quarters
    if unit == "month":
        months = pd.period_range(first.asfreq("M", "start"), last.asfreq("M", "end"), freq="M")
        return [str(m) for m in months]
    years = pd.period_range(first.asfreq("Y"), last.asfreq("Y"), freq="Y")
    return [str(y) for y in years]


class ServiceView(DashboardView, name="service dashboard", css="fitdata-service"):
    """Widgets and behaviour of the service dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        super().__init__(context)
        tr = self.tr
        self._options = filter_options(context.reader)
        self.summary: ServiceSummary | None = None
        self.couples_summary: CoupleSummary | None = None
        # (service, period, file) and team the couples section shows (None: nothing yet)
        self._couples_shown: tuple[Any, ...] | None = None

        def choice(name: str, description: str, options: Options, value: str | None) -> Any:
            if value not in [v for _, v in options]:
                value = options[0][1] if options else None
            return self.dropdown(description, name, min_width="180px", options=options, value=value)

        every = tr.text("choice.all")
        default = self._options["default_period"]
        self.unit = choice(
            "unit",
            tr.text("service.filter.unit"),
            [(tr.text(f"service.filter.unit.{u}"), u) for u in ("month", "quarter", "year")],
            "quarter",
        )
        labels = _period_labels(self._options["quarters"], "quarter")
        self.period_from = choice(
            "period-from", tr.text("service.filter.from"), period_options(tr, labels), default
        )
        self.period_to = choice(
            "period-to", tr.text("service.filter.to"), period_options(tr, labels), default
        )
        self.service = choice(
            "service",
            tr.text("service.filter.service"),
            [(every, ALL), *((s, s) for s in self._options["services"])],
            ALL,
        )
        self.team = choice("team", tr.text("filter.team"), self._team_options(), ALL)
        self.age_group = choice(
            "age-group",
            tr.text("service.filter.age_group"),
            [(every, ALL), *((tr.text(f"choice.age_group.{a}"), a) for a in AGE_GROUPS)],
            ALL,
        )
        self.format = choice(
            "format",
            tr.text("service.filter.format"),
            [(every, ALL), *((tr.text(f"choice.format.{f}"), f) for f in EPISODE_FORMATS)],
            ALL,
        )
        self.selection = widgets.HTML().add_class("fitdata-selection")
        self.reading = widgets.HTML().add_class("fitdata-reading")
        self.tables = {
            name: widgets.HTML().add_class("fitdata-table-box").add_class(f"fitdata-t-{name}")
            for name in ("completeness_trend", "completeness_team", "headline", "trend", "teams")
        }
        # The couples section: the focus's figures and reading, and the team table (sent
        # again only when the population or the period changes, like the other team tables).
        self.couples = widgets.HTML().add_class("fitdata-couples")
        self.couples_teams = (
            widgets.HTML().add_class("fitdata-table-box").add_class("fitdata-t-couples_teams")
        )
        # "Discussed cases — did it help?" (issue 22): computed only when opened.
        self.follow_up = FollowUpSection(context)
        self.notes = widgets.HTML().add_class("fitdata-notes")
        # Marks the selected team in the team tables and charts (see highlight_css).
        self.highlight = widgets.HTML().add_class("fitdata-highlight")
        self.download_format = choice(
            "download-format",
            tr.text("service.ui.download_format"),
            [(f.upper(), f) for f in FORMATS],
            "pdf",
        )
        self.download_button = widgets.Button(
            description=tr.text("service.ui.download"), icon="download"
        ).add_class("fitdata-download")
        self.download_link = widgets.HTML().add_class("fitdata-download-link")

        if not labels:  # no episode has ended yet: nothing to compute
            self._warn(tr.text("service.ui.no_data"))
        # Two figures: the trends follow the focus team; the team comparison (every team of
        # the population, hundreds of rows) changes only with the population or the period.
        self.trend_graph = FigureView(lang=tr.lang)
        self.team_graph = FigureView(lang=tr.lang)
        self._population: tuple[Any, ...] | None = None  # what the team parts were made for
        self._figure: go.Figure | None = None
        self._refresh()
        # The facts are in the kernel now; a filter change reads nothing from the database.
        # Closing the connection gives back DuckDB's buffers (about 450 MB after aggregating
        # ten million sessions); a later query (a new database version) opens the file again.
        self.context.reader.close()

        for widget in (self.team, self.age_group, self.format):
            widget.observe(self.guarded(self._on_filter), "value")
        self.period_from.observe(self.guarded(self._on_period_from), "value")
        self.period_to.observe(self.guarded(self._on_period_to), "value")
        self.unit.observe(self.guarded(self._on_unit), "value")
        self.service.observe(self.guarded(self._on_service), "value")
        self.download_button.on_click(self.guarded_click(lambda: self._on_download({})))
        self.download_format.observe(self.guarded(self._on_download_format), "value")

    # -- options -------------------------------------------------------------------------
    def _team_options(self) -> Options:
        teams = self._options["teams"]
        service = getattr(self, "service", None)
        if service is not None and service.value != ALL:
            teams = teams[teams["service"] == service.value]
        return [
            (self.context.tr.text("choice.all"), ALL),
            *((row.name, row.team_id) for row in teams.itertuples()),
        ]

    # -- behaviour -----------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.message.value = f'<div class="fitdata-warning" role="status">{html.escape(text)}</div>'

    def _on_unit(self, _change: dict[str, Any]) -> None:
        labels = _period_labels(self._options["quarters"], self.unit.value)
        old = self.period_to.value or self._options["default_period"]
        default = self._options["default_period"]
        # the month, quarter or year that holds the old end (or the last complete quarter's)
        end = min(_last_day(old), _last_day(default)) if old and default else None
        target = str(pd.Period(end, freq=_FREQ[self.unit.value])) if end is not None else None
        value = target if target in labels else (labels[-1] if labels else None)
        with self.holding():
            for widget in (self.period_from, self.period_to):
                widget.options = period_options(self.tr, labels)
                widget.value = value
        self._refresh()

    def _on_service(self, _change: dict[str, Any]) -> None:
        with self.holding():
            self.team.options = self._team_options()
            self.team.value = ALL
        self._refresh()

    def _on_filter(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _on_period_from(self, change: dict[str, Any]) -> None:
        """A new start: a single period stays single (the end follows), so one summary."""
        to, unit = self.period_to.value, _FREQ[self.unit.value]
        if (
            to
            and change["new"]
            and (
                change["old"] == to
                or pd.Period(change["new"], freq=unit) > pd.Period(to, freq=unit)
            )
        ):
            self._set_quietly(self.period_to, change["new"])
        self._refresh()

    def _on_period_to(self, change: dict[str, Any]) -> None:
        """A new end before the start moves the start with it (one summary, no bad range)."""
        first, unit = self.period_from.value, _FREQ[self.unit.value]
        if (
            first
            and change["new"]
            and pd.Period(change["new"], freq=unit) < pd.Period(first, freq=unit)
        ):
            self._set_quietly(self.period_from, change["new"])
        self._refresh()

    def _set_quietly(self, widget: widgets.Dropdown, value: str) -> None:
        with self.holding():
            widget.value = value

    def _on_download_format(self, _change: dict[str, Any]) -> None:
        self.download_link.value = ""

    def filters(self) -> ServiceFilters | None:
        """The selection as filters, or None (with a message) when the range is backwards."""
        first, last = self.period_from.value, self.period_to.value
        if not first or not last:
            return None
        unit = self.unit.value
        if pd.Period(first, freq=_FREQ[unit]) > pd.Period(last, freq=_FREQ[unit]):
            self._warn(self.context.tr.text("service.ui.bad_range"))
            return None
        return ServiceFilters(
            Period(unit, first, last),
            service=self.service.value or None,
            team_id=self.team.value or None,
            age_group=self.age_group.value or None,
            format=self.format.value or None,
        )

    @property
    def figure(self) -> go.Figure:
        """The traces the page's two figures show, as one ``go.Figure`` (for tests).

        Built from exactly the JSON sent to the browser, on first use after a change only
        (the page itself never builds graph objects).
        """
        if self._figure is None:
            data = [*self.trend_graph.spec["data"], *self.team_graph.spec["data"]]
            self._figure = go.Figure(data=data)
        return self._figure

    def _refresh(self) -> None:
        """Recompute the summary for the current filters; send only the parts that changed.

        A team change touches the reading, the focus tables and the trend figure; the team
        tables, the team figure and the notes depend on the population and the period only,
        and are made again only when those (or the database file) change. The selected team
        is marked by :attr:`highlight`, a small style rule, not by sending the tables again.
        """
        tr = self.context.tr
        filters = self.filters()
        self.download_link.value = ""
        if filters is None:
            return
        reader = self.context.reader
        summary = service_summary(reader, filters, config=self.context.config, cache=kernel_cache())
        self.summary = summary
        self._figure = None
        clients = summary.headline.iloc[0]["clients"]
        if pd.isna(clients):
            self._warn(tr.text("service.ui.no_data"))
        self.selection.value = f"<p>{html.escape(filter_text(summary, tr))}</p>"
        sentences = reading_sentences(summary.reading, tr)
        self.reading.value = (
            f"<h3>{html.escape(tr.text('service.ui.reading_heading'))}</h3><ul>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
            + "</ul>"
        )
        self.highlight.value = highlight_css(
            filters.team_id, summary.team_names.get(filters.team_id or "")
        )
        population = (dataclasses.replace(filters, team_id=None), reader.file_identity())
        focus_only = population == self._population
        only = {"completeness_trend", "headline", "trend"}
        if not focus_only:
            only |= {"completeness_team", "teams"}
        for table in display_tables(summary, tr, only=only):
            frame = summary.tables()[table.name]
            keys = list(frame["team_id"]) if "team_id" in frame.columns else []
            self.tables[table.name].value = f"<h3>{html.escape(table.title)}</h3>" + table_html(
                table, tr, row_keys=keys
            )
        self._show_couples(filters)
        self.follow_up.show(filters)
        charts = service_figures(summary, tr, only=TREND_CHARTS if focus_only else CHARTS)
        self.trend_graph.show(combined_spec(charts, TREND_CHARTS))
        if not focus_only:
            self.team_graph.show(combined_spec(charts, TEAM_CHARTS))
            notes = "".join(f"<li>{html.escape(n)}</li>" for n in method_notes(summary, tr))
            self.notes.value = (
                f"<details><summary>{html.escape(tr.text('service.ui.notes_heading'))}</summary>"
                f"<ul>{notes}</ul></details>"
            )
            self._population = population

    def _show_couples(self, filters: ServiceFilters) -> None:
        """The couples section: explanation, reading, the focus's table and trend, the teams.

        Couples do not depend on the age-group and format filters, so a change of those sends
        nothing here; a team change sends the focus's part only, and the team table is sent
        again only when the service, the period or the database file changes.
        """
        tr = self.context.tr
        reader = self.context.reader
        population = (filters.service, filters.period, reader.file_identity())
        focus = (population, filters.team_id)
        if focus == self._couples_shown:
            return
        couples = couple_summary(reader, filters, config=self.context.config, cache=kernel_cache())
        self.couples_summary = couples
        teams_too = self._couples_shown is None or self._couples_shown[0] != population
        only = {"couples_headline", "couples_trend"} | ({"couples_teams"} if teams_too else set())
        tables = {table.name: table for table in couple_tables(couples, tr, only=only)}
        parts = [
            f"<h3>{html.escape(tr.text('service.couples.heading'))}</h3>",
            '<ul class="fitdata-couples-explain">',
            *(f"<li>{html.escape(s)}</li>" for s in couple_explanation(couples, tr)),
            '</ul><ul class="fitdata-couples-reading">',
            *(f"<li>{html.escape(s)}</li>" for s in couple_sentences(couples, tr)),
            "</ul>",
        ]
        for name in ("couples_headline", "couples_trend"):
            table = tables[name]
            parts.append(
                f'<div class="fitdata-table-box"><h4>{html.escape(table.title)}</h4>'
                f"{table_html(table, tr)}</div>"
            )
        self.couples.value = "".join(parts)
        if teams_too:
            table = tables["couples_teams"]
            keys = [str(v) for v in couples.teams["team_id"]]
            self.couples_teams.value = f"<h4>{html.escape(table.title)}</h4>" + table_html(
                table, tr, row_keys=keys
            )
        self._couples_shown = focus

    def _on_download(self, _change: dict[str, Any]) -> None:
        if self.summary is None:
            return
        fmt: ReportFormat = self.download_format.value
        tr = self.context.tr
        self.download_link.value = f"<p>{html.escape(tr.text('service.ui.preparing'))}</p>"
        content = render(
            self.summary, fmt, self.context.lang, self.couples_summary, self.follow_up.summary
        )
        name = f"fitdata-service-{self.summary.filters.period.label.replace('..', '-')}.{fmt}"
        self.download_link.value = (
            f'<a class="fitdata-download-ready" download="{html.escape(name)}" '
            f'href="{data_uri(content, fmt)}">'
            f"{html.escape(tr.text('service.ui.download_ready', name=name))}</a>"
        )

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page: "are we collecting?" first."""
        tr = self.context.tr
        controls = widgets.VBox(
            [
                self.row([self.unit, self.period_from, self.period_to]),
                self.row([self.service, self.team, self.age_group, self.format]),
            ]
        )
        download = self.row([self.download_format, self.download_button, self.download_link])

        trend_height = int(self.trend_graph.spec["layout"].get("height", 0))
        # Keeps its height while plotly's renderer replaces the figure, so the page below does
        # not move (and need no new layout) on every change; the long team charts are laid out
        # only when on screen (content-visibility), which took most of a redraw's time before.
        trend_charts = self.graph_box(self.trend_graph, "fitdata-charts").add_class(
            "fitdata-trend-charts"
        )
        team_charts = self.graph_box(self.team_graph, "fitdata-charts").add_class(
            "fitdata-team-charts"
        )
        style = asset("service.css").replace("TREND_HEIGHT", str(trend_height))
        return self.page(
            [
                widgets.HTML(
                    f"<style>{style}</style><h2 class='fitdata-page-heading'>"
                    f"{html.escape(tr.text('service.ui.heading'))}</h2>"
                ),
                controls,
                self.message,
                self.selection,
                download,
                self.reading,
                self.tables["completeness_trend"],
                self.tables["completeness_team"],
                self.tables["headline"],
                trend_charts,
                self.tables["trend"],
                team_charts,
                self.tables["teams"],
                self.couples,
                self.couples_teams,
                self.follow_up.widget,
                self.notes,
                self.highlight,
            ]
        )


_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}


def _last_day(label: str) -> pd.Timestamp:
    """The last day of a quarter (``2025Q3``), month (``2025-07``) or year (``2025``)."""
    freq = "Q" if "Q" in label else "M" if "-" in label else "Y"
    return pd.Period(label, freq=freq).end_time.normalize()


build_service = builder(ServiceView, "build_service")
