"""The service page's charts: a summary in, plotly JSON out (pure, no widgets).

The numbers are those of :func:`fitdata.outputs.report.chart_data`, the frames the report draws
from, so the page and the report agree by construction. Charts are built as plain dicts
(:class:`Chart`) and stacked into two figures (:func:`combined_spec`): plotly's graph objects
validate every property on every assignment, which on a filter change cost more than the
numbers.

A point is drawn only inside its own interval (:func:`fitdata.outputs.report.charts.drawable`,
the report's rule too); a refused point is counted in a note on the chart, and the team-effect
chart says in words when there is no team model or no detectable difference between teams.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fitdata.features.service import TEAM_INTERVAL_CHARTS, ServiceSummary
from fitdata.i18n import Translator
from fitdata.outputs.report import COLOURS, OUTCOME_COLUMNS, band_for, chart_data
from fitdata.outputs.report.charts import chart_title_key, drawable, team_model_note
from fitdata.outputs.report.layout import NOT_ESTIMATED

__all__ = [
    "CHARTS",
    "SEPARATORS",
    "TEAM_CHARTS",
    "TREND_CHARTS",
    "Chart",
    "chart_traces",
    "combined_figure",
    "combined_spec",
    "highlight_css",
    "service_figures",
]

#: plotly's decimal and thousands separators per language (bokmål: comma and thin space).
SEPARATORS = {"en": ".,", "nb": ",\u2009"}

#: Pixels on the right of the stacked charts for their legends (the longest entry fits).
_LEGEND_ROOM = 190

_OUTCOME_PALETTE = ("#009E73", "#56B4E9", "#BBBBBB", "#D55E00", "#7F2704")


def _values(series: pd.Series, decimals: int) -> list[float | None]:
    """Rounded values; hidden cells become None, which plotly leaves out (no point, no hover)."""
    return [None if pd.isna(v) else round(float(v), decimals) for v in series]


def _texts(series: pd.Series, decimals: int, tr: Translator) -> list[str]:
    return [
        tr.text("service.ui.hover_hidden") if pd.isna(v) else tr.number(float(v), decimals=decimals)
        for v in series
    ]


def _bound_texts(centre: pd.Series, bound: pd.Series, decimals: int, tr: Translator) -> list[str]:
    """An interval's end for the hover: of a shown value without one, the not-estimated mark."""
    return [
        NOT_ESTIMATED if pd.isna(b) and not pd.isna(c) else text
        for c, b, text in zip(centre, bound, _texts(bound, decimals, tr), strict=True)
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


#: Pixels below a chart's plot area of its band note and of a second note under it.
_BAND_NOTE_SHIFT = -58
_SECOND_NOTE_SHIFT = -74


def _note(texts: Sequence[str], *, shift: int, colour: str = "#444444") -> list[dict[str, Any]]:
    """Text under a chart (why it is empty, or what it leaves out), wrapped to the chart."""
    if not texts:
        return []
    lines = [html.escape(line) for text in texts for line in textwrap.wrap(text, 110)]
    return [
        {
            "text": "<br>".join(lines),
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": 0,
            "yshift": shift,
            "showarrow": False,
            "xanchor": "left",
            "yanchor": "top",
            "align": "left",
            "font": {"size": 11, "color": colour},
        }
    ]


def _drawn(frame: pd.DataFrame, value: str, low: str, high: str) -> tuple[pd.DataFrame, int]:
    """The frame with refused points hidden (value and interval NaN) and their count."""
    keep, refused = drawable(frame, value, low, high)
    if not refused:
        return frame, 0
    hidden = ~keep
    return frame.assign(**{c: frame[c].mask(hidden) for c in (value, low, high)}), refused


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

    frame, refused = _drawn(
        data["effect_size"], "effect_size", "effect_size_ci_low", "effect_size_ci_high"
    )
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
                _bound_texts(es, frame["effect_size_ci_low"], 2, tr),
                _bound_texts(es, frame["effect_size_ci_high"], 2, tr),
                strict=True,
            )
        ],
        hovertemplate="%{x}: %{customdata[0]} (%{customdata[1]} – %{customdata[2]})<extra></extra>",
    )
    figure.update_layout(
        shapes=_band_shape("effect_size", tr, axis="y"),
        annotations=_band_annotation("effect_size", tr)
        + _note(
            [tr.text("service.chart.refused_points", n=refused)] if refused else [],
            shift=_SECOND_NOTE_SHIFT,
            colour="#D55E00",
        ),
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
        frame, refused = _drawn(data[key], value, low, high)
        names = list(frame["name"])
        figure = Chart(_layout(tr.text(chart_title_key(key, summary)), 120 + 28 * len(names)))
        said = team_model_note(summary, tr) if key == "team_effect" else None
        texts = [tr.text("service.chart.refused_points", n=refused)] if refused else []
        notes = _note(
            [*texts, *([said] if said else [])],
            shift=_SECOND_NOTE_SHIFT if band_metric else _BAND_NOTE_SHIFT,
            colour="#D55E00" if refused else "#444444",
        )
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
                    _bound_texts(centre, frame[low], 1, tr),
                    _bound_texts(centre, frame[high], 1, tr),
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
                annotations=_band_annotation(band_metric, tr) + notes,
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
                annotations=notes,
            )
        # Ordered by name from the top, never by the estimate.
        figure.update_yaxes(
            type="category", categoryorder="array", categoryarray=names[::-1], automargin=True
        )
        figures[key] = figure
    for chart in figures.values():  # axes in the page's number format: "0,9" in bokmål
        chart.layout["separators"] = SEPARATORS.get(tr.lang, ".,")
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
    legends = any(trace.get("showlegend", True) for name in names for trace in charts[name].data)
    layout: dict[str, Any] = {
        "height": total,
        "template": "none",
        "plot_bgcolor": "white",
        # room on the right for each chart's own legend, beside it (never over its bars)
        "margin": {"l": 200, "r": _LEGEND_ROOM if legends else 20, "t": 40, "b": 20},
        "barmode": "stack",
        "separators": next(
            (charts[n].layout["separators"] for n in names if "separators" in charts[n].layout),
            ".,",
        ),
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
                    "yshift": note.get("yshift", _BAND_NOTE_SHIFT),
                }
            )
        # each chart its own legend, beside its top right corner
        layout[f"legend{suffix}"] = {
            "x": 1.01,
            "xanchor": "left",
            "xref": "paper",
            "y": min(domain_top, 1.0),
            "yanchor": "top",
            "yref": "paper",
            "font": {"size": 11},
            "bgcolor": "rgba(255,255,255,0)",
            # a stacked bar's legend lists its top category first, as the bars read
            "traceorder": "reversed" if chart.layout.get("barmode") == "stack" else "normal",
        }
        for trace in chart.data:
            data.append(
                {
                    **trace,
                    "meta": name,
                    "legendgroup": name,
                    "legend": f"legend{suffix}",
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
        for table in ("completeness_team", "teams", "couples_teams")
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
