"""The report's five charts, drawn with matplotlib (no browser): SVG for HTML, PNG for PDF.

:func:`chart_data` gives the (suppressed) frames each chart plots, and the dashboard plots the
same frames with plotly, so the report and the page show the same points. A hidden value is
NaN and simply not drawn. :data:`CHARTS_AFTER` says after which table each chart stands, the
same in the HTML and the PDF.

A point outside its own interval is impossible for every statistic shown (issue 18 found one,
a Wilson bound 1e-14 below 100 %, and the report crashed); :func:`drawable` keeps such a point
off the chart, and the chart says how many it left out instead of failing, so a future error
in a statistic shows as a note, never as a traceback or a misleading bar.

Every chart is in the report's language, numbers on its axes too (a decimal comma and a real
minus sign in bokmål: :func:`_localised`), and its legend stands beside it, outside the plot
(:func:`_legend_beside`), so it never covers a bar or a point.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from fitdata.features.service import TEAM_INTERVAL_CHARTS, ServiceSummary, band_for
from fitdata.i18n import Translator

__all__ = [
    "CHARTS_AFTER",
    "COLOURS",
    "OUTCOME_COLUMNS",
    "chart_data",
    "chart_title_key",
    "drawable",
    "figures",
    "png",
    "svg",
    "team_model_note",
]

# Okabe-Ito colours, as in fitdata.ui.charts.
COLOURS = {"ors": "#0072B2", "srs": "#009E73", "band": "#E69F00", "team": "#0072B2"}

#: The tallest team chart, in inches: the PDF draws charts 16 cm wide on a landscape A4 page
#: whose frame is 17.6 cm high, so a taller chart (0.35 inch per team: 32 teams) cannot be
#: placed and the PDF failed; more teams share the height (their labels get smaller).
TEAM_CHART_MAX_INCHES = 6.6

#: The charts (by position in :func:`figures`) drawn after each table.
CHARTS_AFTER = {"completeness_trend": [0], "trend": [1, 2], "teams": [3, 4]}


def _figure(width: float = 7.0, height: float = 3.0):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _localised(ax, tr: Translator) -> None:
    """Tick labels in the language's number format (matplotlib's choice of ticks and decimals)."""
    from matplotlib.ticker import ScalarFormatter

    class _Formatter(ScalarFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            text = super().__call__(x, pos).replace("-", "\u2212")
            return text.replace(".", ",") if tr.lang == "nb" else text

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "linear" and isinstance(axis.get_major_formatter(), ScalarFormatter):
            formatter = _Formatter(useOffset=False)
            formatter.set_scientific(False)
            axis.set_major_formatter(formatter)


def _legend_beside(ax, *, reverse: bool = False) -> None:
    """The chart's legend to the right of its plot, outside it (never over the data).

    Long labels (a reference band's source) wrap at spaces; ``reverse`` lists the entries
    from the last drawn (a stacked bar's top category first, as the bars read).
    """
    handles, labels = ax.get_legend_handles_labels()
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    ax.legend(
        handles,
        [textwrap.fill(label, 26, break_long_words=False) for label in labels],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
        borderaxespad=0.0,
    )


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


def drawable(frame: pd.DataFrame, value: str, low: str, high: str) -> tuple[np.ndarray, int]:
    """Which rows to draw as a point with its interval, and how many shown points were refused.

    A row is drawn when its value is shown and its interval, where shown, contains it
    (``low <= value <= high``). A shown value outside its own interval is refused and counted:
    a chart draws nothing it cannot draw truthfully and says so (:func:`_refused_note`).

    Returns:
        A boolean mask of the rows to draw and the number of shown values refused.
    """
    centre = frame[value].to_numpy(dtype="float64")
    lower = frame[low].to_numpy(dtype="float64")
    upper = frame[high].to_numpy(dtype="float64")
    shown = np.isfinite(centre)
    with np.errstate(invalid="ignore"):
        inside = ~(lower > centre) & ~(upper < centre)  # NaN bounds: drawn without a bar
    return shown & inside, int((shown & ~inside).sum())


def chart_title_key(key: str, summary: ServiceSummary) -> str:
    """The message key of a chart's title: the team-effect chart says when it is unshrunken."""
    if key == "team_effect" and summary.team_model.get("no_difference"):
        return "service.chart.team_effect_own"
    return f"service.chart.{key}"


def team_model_note(summary: ServiceSummary, tr: Translator) -> str | None:
    """What the team-effect chart says beside its points: no model and why, or no difference."""
    model = summary.team_model
    if model.get("too_few_groups"):
        return tr.text(
            "service.chart.team_effect_too_few",
            teams=model.get("n_therapists", 0),
            min_groups=model.get("min_groups", ""),
            min_episodes=model.get("min_episodes", ""),
        )
    if model.get("no_difference"):
        return tr.text("service.chart.team_effect_no_difference")
    return None


def _refused_note(ax, refused: int, tr: Translator) -> None:
    if refused:
        ax.text(
            0.01,
            0.01,
            tr.text("service.chart.refused_points", n=refused),
            transform=ax.transAxes,
            fontsize=7,
            color="#D55E00",
            va="bottom",
        )


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
    _legend_beside(ax)
    ax.tick_params(axis="x", labelsize=7)
    _localised(ax, tr)
    return figure


def _effect_size_chart(frame: pd.DataFrame, tr: Translator) -> Any:
    figure, ax = _figure()
    _band(ax, "effect_size", tr)
    positions = np.arange(len(frame))
    present, refused = drawable(frame, "effect_size", "effect_size_ci_low", "effect_size_ci_high")
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
    _refused_note(ax, refused, tr)
    ax.set_xticks(range(len(frame)), frame["quarter"], fontsize=7)
    ax.set_xlim(-0.5, len(frame) - 0.5)
    ax.axhline(0, color="#777777", linewidth=0.8)
    _legend_beside(ax)
    _localised(ax, tr)
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
    _legend_beside(ax, reverse=True)  # the top category first, as the bars read
    ax.tick_params(axis="x", labelsize=7)
    _localised(ax, tr)
    return figure


def _team_chart(
    frame: pd.DataFrame,
    columns: tuple[str, str, str],
    band_metric: str | None,
    xlabel: str,
    tr: Translator,
    note: str | None = None,
) -> Any:
    """Each team's value with its interval, one row per team in name order (first on top).

    ``note`` (e.g. why there is no team model) is written in the chart, above its points.
    """
    value, low, high = columns
    height = min(TEAM_CHART_MAX_INCHES, max(2.0, 0.35 * len(frame) + 1.0))
    figure, ax = _figure(7.0, height)
    # 7 points while a row has room for it, smaller when many teams share the height
    label_size = max(3.0, min(7.0, 0.8 * 72 * (height - 1.0) / max(len(frame), 1)))
    if band_metric:
        _band(ax, band_metric, tr, horizontal=False)
    else:
        ax.axvline(0, color="#777777", linewidth=0.8, label=tr.text("service.chart.mean"))
    positions = np.arange(len(frame))[::-1]  # the first name at the top
    shown, refused = drawable(frame, value, low, high)
    ax.errorbar(
        frame[value][shown],
        positions[shown],
        xerr=[
            (frame[value] - frame[low])[shown].fillna(0.0),
            (frame[high] - frame[value])[shown].fillna(0.0),
        ],
        fmt="o",
        color=COLOURS["team"],
        capsize=3,
    )
    _refused_note(ax, refused, tr)
    if note:
        ax.set_title(note, fontsize=7, loc="left", wrap=True)
    ax.set_yticks(positions, frame["name"], fontsize=label_size)
    ax.set_ylim(-0.7, len(frame) - 0.3)
    if not band_metric:  # at least +/-3 ORS points, so a near-zero team variance looks it
        reach = np.nanmax(np.abs(frame[[low, high]].to_numpy()), initial=0.0)
        reach = max(3.0, float(reach) * 1.1)
        ax.set_xlim(-reach, reach)
    else:
        ax.set_xlim(0, 100)
    ax.set_xlabel(tr.text(xlabel), fontsize=8)
    if ax.get_legend_handles_labels()[0]:  # no band, no mean line: no legend
        _legend_beside(ax)
    _localised(ax, tr)
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
        note = team_model_note(summary, tr) if key == "team_effect" else None
        figure = _team_chart(data[key], (value, low, high), band_metric, xlabel, tr, note)
        charts.append((tr.text(chart_title_key(key, summary)), figure))
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
