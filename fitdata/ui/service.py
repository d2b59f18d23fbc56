"""The service dashboard for leaders: are we collecting, are clients getting better, where to look.

Every number comes from :func:`fitdata.features.service.service_summary` — the function the
report (``fitdata report``) uses — and every table from
:func:`fitdata.outputs.report.display_tables`, so the page, its download and the command-line report
agree by construction. The view keeps its state in widget traitlets: a test sets ``view.team.value``
in plain Python and reads ``view.reading.value``, the tables and the figures' data, the same things
the browser shows.

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
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fitdata.config import AGE_GROUPS
from fitdata.features.service import (
    FORMATS as EPISODE_FORMATS,
)
from fitdata.features.service import (
    TEAM_INTERVAL_CHARTS,
    Period,
    ServiceFilters,
    ServiceSummary,
    filter_options,
    kernel_cache,
    service_summary,
)
from fitdata.i18n import Translator
from fitdata.outputs.report import (
    COLOURS,
    FORMATS,
    OUTCOME_COLUMNS,
    ReportFormat,
    band_for,
    chart_data,
    data_uri,
    display_tables,
    filter_text,
    method_notes,
    reading_sentences,
    render,
    table_html,
)
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

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
Options = list[tuple[str, str]]
ALL = ""  # the option value meaning "no filter"
_OUTCOME_PALETTE = ("#009E73", "#56B4E9", "#BBBBBB", "#D55E00", "#7F2704")


# --------------------------------------------------------------------------------------------
# Figures (pure: summary in, plotly figures out)
# --------------------------------------------------------------------------------------------


def _values(series: pd.Series, decimals: int) -> list[float | None]:
    """Rounded values; hidden cells become None, which plotly leaves out (no point, no hover)."""
    return [None if pd.isna(v) else round(float(v), decimals) for v in series]


def _texts(series: pd.Series, decimals: int, tr: Translator) -> list[str]:
    return [
        tr.text("service.ui.hover_hidden") if pd.isna(v) else tr.number(float(v), decimals=decimals)
        for v in series
    ]


def _band_shape(metric: str, tr: Translator, *, axis: str) -> list[dict[str, Any]]:
    band = band_for(metric)
    if band is None:
        return []
    shape: dict[str, Any] = {
        "type": "rect",
        "fillcolor": COLOURS["band"],
        "opacity": 0.2,
        "line": {"width": 0},
        "layer": "below",
    }
    if axis == "y":
        shape.update(xref="paper", x0=0, x1=1, yref="y", y0=band.low, y1=band.high)
    else:
        shape.update(yref="paper", y0=0, y1=1, xref="x", x0=band.low, x1=band.high)
    return [shape]


def _band_annotation(metric: str, tr: Translator) -> list[dict[str, Any]]:
    band = band_for(metric)
    if band is None:
        return []
    text = tr.text("service.band.legend", source=tr.text(f"service.band.source.{band.metric}"))
    return [
        {
            "text": html.escape(text),
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": -0.22,
            "showarrow": False,
            "xanchor": "left",
            "font": {"size": 11, "color": "#8a5a00"},
        }
    ]


def _layout(title: str, height: int = 340) -> dict[str, Any]:
    return {
        "title": {"text": html.escape(title), "font": {"size": 14}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 80},
        # No template: validating plotly's default one costs ~30 ms per figure on every change.
        "template": "none",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#e5e5e5", "linecolor": "#999999"},
        "yaxis": {"gridcolor": "#e5e5e5", "linecolor": "#999999", "zerolinecolor": "#cccccc"},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    }


def _completeness_floor(frame: pd.DataFrame) -> float:
    """The y axis starts at 80 % unless a shown value is lower (then 10 points below it)."""
    values = frame[["pct_sessions_with_ors", "pct_sessions_with_srs"]].to_numpy(dtype="float64")
    lowest = float(np.nanmin(values)) if np.isfinite(values).any() else 100.0
    return max(0.0, min(80.0, 10 * math.floor((lowest - 5) / 10)))


class Chart:
    """One chart as plain dicts (traces and layout), merged later into the page's figure.

    Plotly's graph objects validate every property on every assignment; on a filter change
    that cost more than the numbers. Charts are therefore built as dicts and validated once,
    when :func:`combined_figure` makes the one figure the page shows.
    """

    def __init__(self, layout: dict[str, Any]) -> None:
        self.layout = layout
        self.data: list[dict[str, Any]] = []

    def add_scatter(self, **trace: Any) -> None:
        """Add a scatter trace."""
        self.data.append({"type": "scatter", **trace})

    def add_bar(self, **trace: Any) -> None:
        """Add a bar trace."""
        self.data.append({"type": "bar", **trace})

    def update_layout(self, **values: Any) -> None:
        """Merge layout values (one level deep for dicts)."""
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(self.layout.get(key), dict):
                self.layout[key] = {**self.layout[key], **value}
            else:
                self.layout[key] = value

    def update_xaxes(self, **values: Any) -> None:
        """Merge x-axis values."""
        self.update_layout(xaxis=values)

    def update_yaxes(self, **values: Any) -> None:
        """Merge y-axis values."""
        self.update_layout(yaxis=values)


#: The charts that follow the focus team (trends by quarter) and those that show every team of
#: the population (they change only with the population or period, not with the team).
TREND_CHARTS = ("completeness", "effect_size", "outcomes")
TEAM_CHARTS = ("team_effect", "team_target")
CHARTS = TREND_CHARTS + TEAM_CHARTS


def service_figures(
    summary: ServiceSummary, tr: Translator, *, only: Sequence[str] = CHARTS
) -> dict[str, Chart]:
    """The page's charts, from the same frames as the report's (:func:`chart_data`).

    The trend charts are always made; the team charts only when named in ``only``.
    """
    data = chart_data(summary)
    figures: dict[str, Chart] = {}

    frame = data["completeness"]
    figure = Chart(_layout(tr.text("service.chart.completeness")))
    for measure in ("ors", "srs"):
        column = f"pct_sessions_with_{measure}"
        figure.add_scatter(
            x=list(frame["quarter"]),
            y=_values(frame[column], 1),
            mode="lines+markers",
            name=tr.text(f"service.col.pct_{measure}"),
            line={"color": COLOURS[measure]},
            customdata=_texts(frame[column], 1, tr),
            hovertemplate="%{x}: %{customdata} %<extra></extra>",
        )
    figure.update_layout(
        shapes=_band_shape("pct_sessions_with_ors", tr, axis="y"),
        annotations=_band_annotation("pct_sessions_with_ors", tr),
        yaxis={"title": "%", "range": [_completeness_floor(frame), 101]},
        xaxis={"type": "category"},
    )
    figures["completeness"] = figure

    frame = data["effect_size"]
    figure = Chart(_layout(tr.text("service.chart.effect_size")))
    es = frame["effect_size"]
    figure.add_scatter(
        x=list(frame["quarter"]),
        y=_values(es, 2),
        mode="markers",
        name=tr.text("service.col.effect_size"),
        marker={"color": COLOURS["ors"], "size": 9},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": _values(frame["effect_size_ci_high"] - es, 3),
            "arrayminus": _values(es - frame["effect_size_ci_low"], 3),
        },
        customdata=[
            [a, b, c]
            for a, b, c in zip(
                _texts(es, 2, tr),
                _texts(frame["effect_size_ci_low"], 2, tr),
                _texts(frame["effect_size_ci_high"], 2, tr),
                strict=True,
            )
        ],
        hovertemplate="%{x}: %{customdata[0]} (%{customdata[1]} – %{customdata[2]})<extra></extra>",
    )
    figure.update_layout(
        shapes=_band_shape("effect_size", tr, axis="y"),
        annotations=_band_annotation("effect_size", tr),
        xaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(frame["quarter"]),
        },
    )
    figures["effect_size"] = figure

    frame = data["outcomes"]
    figure = Chart(_layout(tr.text("service.chart.outcomes")))
    for column, colour in zip(OUTCOME_COLUMNS, _OUTCOME_PALETTE, strict=True):
        figure.add_bar(
            x=list(frame["quarter"]),
            y=_values(frame[column], 1),
            name=tr.text(f"service.col.{column}"),
            marker={"color": colour},
            customdata=_texts(frame[column], 1, tr),
            hovertemplate="%{x}: %{customdata} %<extra>"
            + html.escape(tr.text(f"service.col.{column}"))
            + "</extra>",
        )
    figure.update_layout(barmode="stack", yaxis={"title": "%", "range": [0, 100]})
    figure.update_xaxes(type="category")
    figures["outcomes"] = figure

    for key, value, low, high, band_metric, axis_key in TEAM_INTERVAL_CHARTS:
        if key not in only:
            continue
        frame = data[key]
        names = list(frame["name"])
        figure = Chart(_layout(tr.text(f"service.chart.{key}"), 120 + 28 * len(names)))
        centre = frame[value]
        figure.add_scatter(
            x=_values(centre, 2),
            y=names,
            mode="markers",
            name=tr.text(axis_key),
            # One colour: the selected team is marked by the page's style (its name on the
            # axis), so a team change does not redraw these long charts.
            marker={"size": 10, "color": COLOURS["team"]},
            error_x={
                "color": COLOURS["team"],
                "type": "data",
                "symmetric": False,
                "array": _values(frame[high] - centre, 3),
                "arrayminus": _values(centre - frame[low], 3),
            },
            customdata=[
                [a, b, c]
                for a, b, c in zip(
                    _texts(centre, 1, tr),
                    _texts(frame[low], 1, tr),
                    _texts(frame[high], 1, tr),
                    strict=True,
                )
            ],
            hovertemplate="%{y}: %{customdata[0]} (%{customdata[1]} – %{customdata[2]})"
            "<extra></extra>",
            showlegend=False,
        )
        if band_metric:
            figure.update_layout(
                shapes=_band_shape(band_metric, tr, axis="x"),
                annotations=_band_annotation(band_metric, tr),
                xaxis={"title": tr.text(axis_key), "range": [0, 100]},
            )
        else:
            reach = max(
                3.0,
                1.1
                * float(
                    pd.concat([frame[low].abs(), frame[high].abs()]).max()
                    if frame[[low, high]].notna().any().any()
                    else 0.0
                ),
            )
            figure.update_layout(
                shapes=[
                    {
                        "type": "line",
                        "xref": "x",
                        "x0": 0,
                        "x1": 0,
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": "#777777", "width": 1},
                    }
                ],
                xaxis={"title": tr.text(axis_key), "range": [-reach, reach]},
            )
        # Ordered by name from the top, never by the estimate.
        figure.update_yaxes(
            type="category", categoryorder="array", categoryarray=names[::-1], automargin=True
        )
        figures[key] = figure
    return figures


def combined_figure(charts: dict[str, Chart]) -> go.Figure:
    """The five charts as one figure of stacked subplots.

    Each trace keeps its chart's name in ``meta``, so tests and :func:`chart_traces` find it.
    The page shows two such figures (:data:`TREND_CHARTS` and :data:`TEAM_CHARTS`, see
    :func:`combined_spec`), so that a team change redraws only the first.
    """
    return go.Figure(combined_spec(charts, CHARTS))


def combined_spec(charts: dict[str, Chart], names: Sequence[str]) -> dict[str, Any]:
    """The charts ``names`` as one figure of stacked subplots, as plain plotly JSON (dicts).

    Nothing is validated here (plotly's graph objects cost more than the numbers on every
    change); the browser tests check what plotly.js draws from it.
    """
    gap = 110  # pixels between charts: room for the band note and the next title
    heights = [charts[name].layout.get("height", 340) for name in names]
    total = sum(heights) + gap * len(names)
    layout: dict[str, Any] = {
        "height": total,
        "template": "none",
        "plot_bgcolor": "white",
        "margin": {"l": 200, "r": 20, "t": 40, "b": 20},
        "barmode": "stack",
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        "shapes": [],
        "annotations": [],
    }
    data: list[dict[str, Any]] = []
    top = float(total)
    for row, name in enumerate(names, start=1):
        chart = charts[name]
        suffix = "" if row == 1 else str(row)
        domain_top = (top - 40) / total
        domain_bottom = (top - 40 - heights[row - 1] + 40) / total
        top -= heights[row - 1] + gap
        for axis, other in (("xaxis", "y"), ("yaxis", "x")):
            settings = {
                "gridcolor": "#e5e5e5",
                "linecolor": "#999999",
                **chart.layout.get(axis, {}),
                "anchor": f"{other}{suffix}",
            }
            if axis == "yaxis":
                settings["domain"] = [max(domain_bottom, 0.0), min(domain_top, 1.0)]
            layout[f"{axis}{suffix}"] = settings
        layout["annotations"].append(
            {
                "text": chart.layout["title"]["text"],
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": min(domain_top, 1.0),
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 14},
            }
        )
        for shape in chart.layout.get("shapes", []):
            shape = dict(shape)
            for key in ("xref", "yref"):
                ref = shape.get(key, key[0])
                shape[key] = f"{key[0]}{suffix} domain" if ref == "paper" else f"{key[0]}{suffix}"
            layout["shapes"].append(shape)
        for note in chart.layout.get("annotations", []):
            layout["annotations"].append(
                {
                    **note,
                    "xref": f"x{suffix} domain",
                    "yref": f"y{suffix} domain",
                    "y": 0,
                    "yanchor": "top",
                    "yshift": -58,
                }
            )
        for trace in chart.data:
            data.append(
                {
                    **trace,
                    "meta": name,
                    "legendgroup": name,
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                }
            )
    return {"data": data, "layout": layout}


def chart_traces(figure: go.Figure, name: str) -> list[Any]:
    """The traces of one chart of the combined figure."""
    return [trace for trace in figure.data if trace.meta == name]


def _css_string(text: str) -> str:
    """``text`` as a quoted CSS string (every character but letters and digits escaped)."""
    return '"' + "".join(c if c.isalnum() and c.isascii() else f"\\{ord(c):x} " for c in text) + '"'


def highlight_css(team_id: str | None, team_name: str | None) -> str:
    """The style that marks the selected team in the team tables and on the team charts' axis."""
    if not team_id:
        return ""
    rows = ", ".join(
        f'.fitdata-service table[data-table="{table}"] tr[data-key={_css_string(team_id)}] td'
        for table in ("completeness_team", "teams")
    )
    css = f"{rows} {{ font-weight: bold; background: #fff3d6; }}"
    if team_name:
        # plotly writes each axis label's text into ``data-unformatted``
        label = f"text[data-unformatted={_css_string(team_name)}]"
        css += (
            f" .fitdata-team-charts .yaxislayer-above {label}"
            f" {{ font-weight: bold !important; fill: {COLOURS['band']} !important; }}"
        )
    return f"<style>{css}</style>"


# --------------------------------------------------------------------------------------------
# The view
# --------------------------------------------------------------------------------------------


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


class ServiceView:
    """Widgets and behaviour of the service dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        tr = context.tr
        self._options = filter_options(context.reader)
        self._busy = False
        self.summary: ServiceSummary | None = None

        layout = widgets.Layout(width="auto", min_width="180px")
        style = {"description_width": "initial"}

        def dropdown(
            name: str, description: str, options: Options, value: str | None
        ) -> widgets.Dropdown:
            if value not in [v for _, v in options]:
                value = options[0][1] if options else None
            widget = widgets.Dropdown(
                description=description, options=options, value=value, layout=layout, style=style
            )
            widget.add_class(f"fitdata-{name}")
            return widget

        every = tr.text("service.filter.all")
        default = self._options["default_period"]
        self.unit = dropdown(
            "unit",
            tr.text("service.filter.unit"),
            [(tr.text(f"service.filter.unit.{u}"), u) for u in ("month", "quarter", "year")],
            "quarter",
        )
        labels = _period_labels(self._options["quarters"], "quarter")
        self.period_from = dropdown(
            "period-from", tr.text("service.filter.from"), [(x, x) for x in labels], default
        )
        self.period_to = dropdown(
            "period-to", tr.text("service.filter.to"), [(x, x) for x in labels], default
        )
        self.service = dropdown(
            "service",
            tr.text("service.filter.service"),
            [(every, ALL), *((s, s) for s in self._options["services"])],
            ALL,
        )
        self.team = dropdown("team", tr.text("filter.team"), self._team_options(), ALL)
        self.age_group = dropdown(
            "age-group",
            tr.text("service.filter.age_group"),
            [(every, ALL), *((tr.text(f"age_group.{a}"), a) for a in AGE_GROUPS)],
            ALL,
        )
        self.format = dropdown(
            "format",
            tr.text("service.filter.format"),
            [(every, ALL), *((tr.text(f"service.format.{f}"), f) for f in EPISODE_FORMATS)],
            ALL,
        )
        self.message = widgets.HTML().add_class("fitdata-message")
        self.selection = widgets.HTML().add_class("fitdata-selection")
        self.reading = widgets.HTML().add_class("fitdata-reading")
        self.tables = {
            name: widgets.HTML().add_class("fitdata-table-box").add_class(f"fitdata-t-{name}")
            for name in ("completeness_trend", "completeness_team", "headline", "trend", "teams")
        }
        self.notes = widgets.HTML().add_class("fitdata-notes")
        # Marks the selected team in the team tables and charts (see highlight_css).
        self.highlight = widgets.HTML().add_class("fitdata-highlight")
        self.download_format = dropdown(
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
            self.message.value = (
                f'<div class="fitdata-warning" role="status">'
                f"{html.escape(tr.text('service.ui.no_data'))}</div>"
            )
        # Two figures: the trends follow the focus team; the team comparison (every team of
        # the population, hundreds of rows) changes only with the population or the period.
        self.trend_graph = FigureView()
        self.team_graph = FigureView()
        self._population: tuple[Any, ...] | None = None  # what the team parts were made for
        self._figure: go.Figure | None = None
        self._refresh()
        # The facts are in the kernel now; a filter change reads nothing from the database.
        # Closing the connection gives back DuckDB's buffers (about 450 MB after aggregating
        # ten million sessions); a later query (a new database version) opens the file again.
        self.context.reader.close()

        for widget in (self.team, self.age_group, self.format):
            widget.observe(self._guarded(self._on_filter), "value")
        self.period_from.observe(self._guarded(self._on_period_from), "value")
        self.period_to.observe(self._guarded(self._on_period_to), "value")
        self.unit.observe(self._guarded(self._on_unit), "value")
        self.service.observe(self._guarded(self._on_service), "value")
        self.download_button.on_click(lambda _button: self._guarded(self._on_download)({}))
        self.download_format.observe(self._guarded(self._on_download_format), "value")

    # -- options -------------------------------------------------------------------------
    def _team_options(self) -> Options:
        teams = self._options["teams"]
        service = getattr(self, "service", None)
        if service is not None and service.value != ALL:
            teams = teams[teams["service"] == service.value]
        return [
            (self.context.tr.text("service.filter.all"), ALL),
            *((row.name, row.team_id) for row in teams.itertuples()),
        ]

    # -- behaviour -----------------------------------------------------------------------
    def _guarded(self, callback: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """Wrap an observer so an error becomes a friendly message, never a traceback."""

        def run(change: dict[str, Any]) -> None:
            if self._busy:
                return
            self.message.value = ""
            run_guarded("service dashboard", callback, change, self.message, self.context.tr)

        return run

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    def _on_unit(self, _change: dict[str, Any]) -> None:
        labels = _period_labels(self._options["quarters"], self.unit.value)
        old = self.period_to.value or self._options["default_period"]
        default = self._options["default_period"]
        # the month, quarter or year that holds the old end (or the last complete quarter's)
        end = min(_last_day(old), _last_day(default)) if old and default else None
        target = str(pd.Period(end, freq=_FREQ[self.unit.value])) if end is not None else None
        value = target if target in labels else (labels[-1] if labels else None)
        self._busy = True
        try:
            for widget in (self.period_from, self.period_to):
                widget.options = [(x, x) for x in labels]
                widget.value = value
        finally:
            self._busy = False
        self._refresh()

    def _on_service(self, _change: dict[str, Any]) -> None:
        self._busy = True
        try:
            self.team.options = self._team_options()
            self.team.value = ALL
        finally:
            self._busy = False
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
        self._busy = True
        try:
            widget.value = value
        finally:
            self._busy = False

    def _on_download_format(self, _change: dict[str, Any]) -> None:
        self.download_link.value = ""

    def filters(self) -> ServiceFilters | None:
        """The selection as filters, or None (with a message) when the range is backwards."""
        first, last = self.period_from.value, self.period_to.value
        if not first or not last:
            return None
        unit = self.unit.value
        if pd.Period(first, freq=_FREQ[unit]) > pd.Period(last, freq=_FREQ[unit]):
            self.message.value = (
                f'<div class="fitdata-warning" role="status">'
                f"{html.escape(self.context.tr.text('service.ui.bad_range'))}</div>"
            )
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
            self.message.value = (
                f'<div class="fitdata-warning" role="status">'
                f"{html.escape(tr.text('service.ui.no_data'))}</div>"
            )
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

    def _on_download(self, _change: dict[str, Any]) -> None:
        if self.summary is None:
            return
        fmt: ReportFormat = self.download_format.value
        tr = self.context.tr
        self.download_link.value = f"<p>{html.escape(tr.text('service.ui.preparing'))}</p>"
        content = render(self.summary, fmt, self.context.lang)
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
        row = widgets.Layout(flex_flow="row wrap", grid_gap="8px")
        controls = widgets.VBox(
            [
                widgets.HBox([self.unit, self.period_from, self.period_to], layout=row),
                widgets.HBox([self.service, self.team, self.age_group, self.format], layout=row),
            ]
        )
        download = widgets.HBox(
            [self.download_format, self.download_button, self.download_link], layout=row
        )

        trend_height = int(self.trend_graph.spec["layout"].get("height", 0))
        trend_charts = widgets.VBox(
            [self.trend_graph], layout=widgets.Layout(width="100%")
        ).add_class("fitdata-charts")
        # Keeps its height while plotly's renderer replaces the figure, so the page below does
        # not move (and need no new layout) on every change; the long team charts are laid out
        # only when on screen (content-visibility), which took most of a redraw's time before.
        trend_charts.add_class("fitdata-trend-charts")
        team_charts = widgets.VBox([self.team_graph], layout=widgets.Layout(width="100%"))
        team_charts.add_class("fitdata-charts").add_class("fitdata-team-charts")

        return widgets.VBox(
            [
                widgets.HTML(
                    f"<style>{_PAGE_STYLE.replace('TREND_HEIGHT', str(trend_height))}</style>"
                    f"<h2>{html.escape(tr.text('service.ui.heading'))}</h2>"
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
                self.notes,
                self.highlight,
            ]
        ).add_class("fitdata-service")


_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
_PAGE_STYLE = """
.fitdata-service table.fitdata-table { border-collapse: collapse; font-size: 0.9em; }
.fitdata-service table.fitdata-table th, .fitdata-service table.fitdata-table td {
  border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
.fitdata-service table.fitdata-table th:first-child,
.fitdata-service table.fitdata-table td:first-child { text-align: left; }
.fitdata-service table.fitdata-table tr.selected td { font-weight: bold; background: #fff3d6; }
.fitdata-service .fitdata-warning { background: #fff3d6; padding: 6px 10px; }
.fitdata-service .fitdata-table-box { overflow-x: auto; max-width: 100%; }
.fitdata-service .fitdata-trend-charts { min-height: TREND_HEIGHTpx; contain: layout; }
.fitdata-service .fitdata-team-charts {
  content-visibility: auto; contain-intrinsic-size: auto 20000px; }
"""


def _last_day(label: str) -> pd.Timestamp:
    """The last day of a quarter (``2025Q3``), month (``2025-07``) or year (``2025``)."""
    freq = "Q" if "Q" in label else "M" if "-" in label else "Y"
    return pd.Period(label, freq=freq).end_time.normalize()


def build_service(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the service dashboard for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build_dashboard("service dashboard", lambda c: ServiceView(c).widget, context)
