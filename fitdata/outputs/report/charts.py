"""The report's five charts, drawn with matplotlib (no browser): SVG for HTML, PNG for PDF.

:func:`chart_data` gives the (suppressed) frames each chart plots, and the dashboard plots the
same frames with plotly, so the report and the page show the same points. A hidden value is
NaN and simply not drawn. :data:`CHARTS_AFTER` says after which table each chart stands, the
same in the HTML and the PDF.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

from fitdata.features.service import TEAM_INTERVAL_CHARTS, ServiceSummary, band_for
from fitdata.i18n import Translator

__all__ = ["CHARTS_AFTER", "COLOURS", "OUTCOME_COLUMNS", "chart_data", "figures", "png", "svg"]

# Okabe-Ito colours, as in fitdata.ui.charts.
COLOURS = {"ors": "#0072B2", "srs": "#009E73", "band": "#E69F00", "team": "#0072B2"}

#: The charts (by position in :func:`figures`) drawn after each table.
CHARTS_AFTER = {"completeness_trend": [0], "trend": [1, 2], "teams": [3, 4]}


def _figure(width: float = 7.0, height: float = 3.0):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _band(ax, metric: str, tr: Translator, *, horizontal: bool = True) -> None:
    band = band_for(metric)
    if band is None:
        return
    label = tr.text("service.band.legend", source=tr.text(f"service.band.source.{band.metric}"))
    if horizontal:
        ax.axhspan(band.low, band.high, color=COLOURS["band"], alpha=0.18, label=label)
    else:
        ax.axvspan(band.low, band.high, color=COLOURS["band"], alpha=0.18, label=label)


#: The outcome categories, stacked from the bottom in the outcomes chart (the page too).
OUTCOME_COLUMNS = (
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
)


def chart_data(summary: ServiceSummary) -> dict[str, pd.DataFrame]:
    """The (suppressed) frames each chart plots; the dashboard plots the same frames."""
    teams = summary.teams
    frames = {
        "completeness": summary.completeness_trend[
            ["quarter", "pct_sessions_with_ors", "pct_sessions_with_srs"]
        ],
        "effect_size": summary.trend[
            ["quarter", "effect_size", "effect_size_ci_low", "effect_size_ci_high"]
        ],
        "outcomes": summary.trend[["quarter", *OUTCOME_COLUMNS]],
        **{
            key: teams[["name", value, low, high]]
            for key, value, low, high, _, _ in TEAM_INTERVAL_CHARTS
        },
    }
    # With no data the columns can be of object dtype; charts need floats (NaN = hidden).
    return {
        name: frame.assign(
            **{
                c: pd.to_numeric(frame[c], errors="coerce").astype("float64")
                for c in frame.columns[1:]
            }
        )
        for name, frame in frames.items()
    }


def _completeness_chart(frame: pd.DataFrame, tr: Translator) -> Any:
    figure, ax = _figure()
    _band(ax, "pct_sessions_with_ors", tr)
    for measure in ("ors", "srs"):
        ax.plot(
            frame["quarter"],
            frame[f"pct_sessions_with_{measure}"],
            marker="o",
            color=COLOURS[measure],
            label=tr.text(f"service.col.pct_{measure}"),
        )
    lowest = np.nanmin(
        frame[["pct_sessions_with_ors", "pct_sessions_with_srs"]].to_numpy(), initial=100
    )
    ax.set_ylim(max(0.0, min(80.0, 10 * math.floor((lowest - 5) / 10))), 100.5)
    ax.set_ylabel("%")
    ax.legend(loc="lower left", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    return figure


def _effect_size_chart(frame: pd.DataFrame, tr: Translator) -> Any:
    figure, ax = _figure()
    _band(ax, "effect_size", tr)
    positions = np.arange(len(frame))
    present = frame["effect_size"].notna().to_numpy()
    shown = frame[present]
    ax.errorbar(
        positions[present],
        shown["effect_size"],
        yerr=[
            shown["effect_size"] - shown["effect_size_ci_low"],
            shown["effect_size_ci_high"] - shown["effect_size"],
        ],
        fmt="o",
        color=COLOURS["ors"],
        capsize=3,
        label=tr.text("service.col.effect_size"),
    )
    ax.set_xticks(range(len(frame)), frame["quarter"], fontsize=7)
    ax.set_xlim(-0.5, len(frame) - 0.5)
    ax.axhline(0, color="#777777", linewidth=0.8)
    ax.legend(loc="lower left", fontsize=7)
    return figure


def _outcomes_chart(frame: pd.DataFrame, tr: Translator) -> Any:
    figure, ax = _figure()
    bottom = np.zeros(len(frame))
    palette = ("#009E73", "#56B4E9", "#BBBBBB", "#D55E00", "#7F2704")
    for column, colour in zip(OUTCOME_COLUMNS, palette, strict=True):
        values = frame[column].fillna(0).to_numpy()
        ax.bar(
            frame["quarter"],
            values,
            bottom=bottom,
            color=colour,
            label=tr.text(f"service.col.{column}"),
        )
        bottom += values
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.legend(loc="lower left", fontsize=7, ncols=4)
    ax.tick_params(axis="x", labelsize=7)
    return figure


def _team_chart(
    frame: pd.DataFrame,
    columns: tuple[str, str, str],
    band_metric: str | None,
    xlabel: str,
    tr: Translator,
) -> Any:
    """Each team's value with its interval, one row per team in name order (first on top)."""
    value, low, high = columns
    figure, ax = _figure(7.0, max(2.0, 0.35 * len(frame) + 1.0))
    if band_metric:
        _band(ax, band_metric, tr, horizontal=False)
    else:
        ax.axvline(0, color="#777777", linewidth=0.8, label=tr.text("service.chart.mean"))
    positions = np.arange(len(frame))[::-1]  # the first name at the top
    shown = frame[value].notna().to_numpy()
    ax.errorbar(
        frame[value][shown],
        positions[shown],
        xerr=[
            (frame[value] - frame[low])[shown],
            (frame[high] - frame[value])[shown],
        ],
        fmt="o",
        color=COLOURS["team"],
        capsize=3,
    )
    ax.set_yticks(positions, frame["name"], fontsize=7)
    ax.set_ylim(-0.7, len(frame) - 0.3)
    if not band_metric:  # at least +/-3 ORS points, so a near-zero team variance looks it
        reach = np.nanmax(np.abs(frame[[low, high]].to_numpy()), initial=0.0)
        reach = max(3.0, float(reach) * 1.1)
        ax.set_xlim(-reach, reach)
    else:
        ax.set_xlim(0, 100)
    ax.set_xlabel(tr.text(xlabel), fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    return figure


def figures(summary: ServiceSummary, tr: Translator) -> list[tuple[str, Any]]:
    """(title, matplotlib Figure) for every chart, in page order."""
    data = chart_data(summary)
    charts = [
        (tr.text("service.chart.completeness"), _completeness_chart(data["completeness"], tr)),
        (tr.text("service.chart.effect_size"), _effect_size_chart(data["effect_size"], tr)),
        (tr.text("service.chart.outcomes"), _outcomes_chart(data["outcomes"], tr)),
    ]
    for key, value, low, high, band_metric, xlabel in TEAM_INTERVAL_CHARTS:
        figure = _team_chart(data[key], (value, low, high), band_metric, xlabel, tr)
        charts.append((tr.text(f"service.chart.{key}"), figure))
    return charts


def svg(figure: Any) -> str:
    """A figure as an inline ``<svg>`` element (no XML prologue, no date: reproducible)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def png(figure: Any) -> bytes:
    """A figure as PNG bytes at 150 dpi (for the PDF)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    return buffer.getvalue()
