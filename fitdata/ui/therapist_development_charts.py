"""The therapist development page's two figures: outcomes by period, and the profile.

Pure: the rows of a :class:`fitdata.features.therapist_development.TherapistScope` in, plotly
figures out. A suppressed or missing cell sends no number to the page — no point, no bar, no
hover, no error bar — so a browser sees exactly what the minimum cell size allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fitdata.config import ClinicalConfig
from fitdata.features.therapist_development import INTAKE_BANDS, SRS_BANDS, TherapistIdentity
from fitdata.i18n import Translator

__all__ = [
    "LEVELS",
    "LEVEL_COLOURS",
    "PERCENT_MEASURES",
    "DevelopmentLabels",
    "level_row",
    "missing",
    "outcome_figure",
    "profile_figure",
    "series",
]

#: The three levels every figure and table compares, the therapist first.
LEVELS = ("therapist", "team", "service")
# Okabe-Ito colours: the therapist stands out, the team and service stay in the background.
LEVEL_COLOURS = {"therapist": "#0072B2", "team": "#E69F00", "service": "#7F7F7F"}
SERVICE_BAND = "rgba(127, 127, 127, 0.18)"
# Horizontal offsets on the time axis so the therapist's and team's intervals do not overlap.
OFFSETS = {"therapist": 0.12, "team": -0.12, "service": 0.0}
PERCENT_MEASURES = {"pct_reliable_improvement", "pct_recovered", "pct_unplanned"}


def missing(value: object) -> bool:
    """True for a suppressed or absent value (None, NaN, pandas' NA)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def _none(value: object) -> float | None:
    return None if missing(value) else float(value)  # type: ignore[arg-type]


def level_row(table: pd.DataFrame, level: str, **match: str) -> pd.Series | None:
    """The one row of ``table`` for ``level`` (and e.g. ``srs_band``), or None."""
    if table is None or table.empty:
        return None
    mask = table["level"] == level
    for column, value in match.items():
        mask &= table[column] == value
    rows = table[mask]
    return rows.iloc[0] if len(rows) else None


def series(outcomes: pd.DataFrame, periods: list[str], level: str) -> pd.DataFrame:
    """The level's rows on the full time axis (missing periods as empty rows)."""
    rows = outcomes[outcomes["level"] == level] if len(outcomes) else outcomes
    index = pd.Index(periods, name="period")
    if rows.empty:
        return pd.DataFrame(index=index, columns=["clients", "suppressed"])
    return rows.set_index("period").reindex(index)


@dataclass(frozen=True)
class DevelopmentLabels:
    """Names and number formats of the page: levels, periods, measures, client counts.

    ``identity`` is the chosen therapist's (None when no therapist is chosen).
    """

    tr: Translator
    identity: TherapistIdentity | None

    def level_name(self, level: str) -> str:
        """The level as the legend names it: the therapist, her team or her service."""
        who = self.identity
        if who is None:
            return self.tr.text(f"development.level.{level}", name="", team="", service="")
        return self.tr.text(
            f"development.level.{level}", name=who.name, team=who.team_name, service=who.service
        )

    def period_label(self, period: str) -> str:
        """A period such as ``2025Q1`` in the page's language."""
        year, quarter = period.split("Q")
        return self.tr.text("development.quarter", year=year, quarter=quarter)

    def format(self, measure: str, value: float) -> str:
        """A value of ``measure``: a percentage, or a number with two decimals."""
        tr = self.tr
        if measure in PERCENT_MEASURES or measure.startswith("pct"):
            return tr.text("development.percent", value=tr.number(value, decimals=0))
        return tr.number(value, decimals=2)

    def with_interval(self, measure: str, row: pd.Series) -> str:
        """The value with its 95 % interval, or the "hidden" word when it is suppressed."""
        value = row.get(measure)
        low, high = row.get(f"{measure}_ci_low"), row.get(f"{measure}_ci_high")
        if missing(value):
            return self.tr.text("development.latest.hidden")
        if missing(low) or missing(high):
            return self.format(measure, value)
        return self.tr.text(
            "development.interval",
            value=self.format(measure, value),
            low=self.format(measure, low),
            high=self.format(measure, high),
        )

    def clients(self, count: float) -> str:
        """The number of clients, e.g. "12 clients"."""
        return self.tr.count_text("development.clients", int(count), clients=int(count))


def outcome_figure(
    labels: DevelopmentLabels,
    outcomes: pd.DataFrame,
    periods: list[str],
    measure: str,
    grouping: str,
) -> go.Figure:
    """The chosen measure by period: the therapist, the team and the service with intervals.

    A suppressed or empty period sends nothing to the page (no point, no hover).
    """
    tr = labels.tr
    ticks = [labels.period_label(p) for p in periods]
    traces: list[go.Scatter] = []
    service = series(outcomes, periods, "service")
    positions = list(range(len(periods)))
    if len(periods) and measure in service.columns:
        low = service[f"{measure}_ci_low"].tolist()
        high = service[f"{measure}_ci_high"].tolist()
        traces.append(
            go.Scatter(
                x=positions + positions[::-1],
                y=[_none(v) for v in high + low[::-1]],
                fill="toself",
                fillcolor=SERVICE_BAND,
                line={"width": 0},
                mode="lines",
                hoverinfo="skip",
                name=tr.text("development.level.service_band"),
            )
        )
    for level in ("service", "team", "therapist"):
        rows = series(outcomes, periods, level)
        shown = (
            rows[measure].notna().to_numpy() if measure in rows.columns else [False] * len(periods)
        )
        y: list[float | None] = []
        custom: list[list[str] | None] = []
        errors_up: list[float | None] = []
        errors_down: list[float | None] = []
        for period, label, ok in zip(periods, ticks, shown, strict=True):
            if not ok:  # suppressed or no episodes: nothing at all reaches the page
                y.append(None)
                custom.append(None)
                errors_up.append(None)
                errors_down.append(None)
                continue
            row = rows.loc[period]
            value = float(row[measure])
            y.append(value)
            low, high = row[f"{measure}_ci_low"], row[f"{measure}_ci_high"]
            errors_up.append(None if missing(high) else max(float(high) - value, 0.0))
            errors_down.append(None if missing(low) else max(value - float(low), 0.0))
            interval = (
                "–"
                if missing(low) or missing(high)
                else f"{labels.format(measure, low)} – {labels.format(measure, high)}"
            )
            custom.append(
                [
                    f"{labels.level_name(level)} · {label}",
                    labels.format(measure, value),
                    interval,
                    labels.clients(row["clients"]),
                ]
            )
        mine = level == "therapist"
        traces.append(
            go.Scatter(
                x=[p + OFFSETS[level] for p in positions],
                y=y,
                mode="lines+markers",
                connectgaps=False,
                line={
                    "color": LEVEL_COLOURS[level],
                    "width": 4 if mine else 2,
                    "dash": "solid" if mine or level == "service" else "dash",
                },
                marker={"size": 12 if mine else 8, "color": LEVEL_COLOURS[level]},
                error_y=(
                    None
                    if level == "service"
                    else {
                        "type": "data",
                        "symmetric": False,
                        "array": errors_up,
                        "arrayminus": errors_down,
                        "color": LEVEL_COLOURS[level],
                        "thickness": 2 if mine else 1.2,
                        "width": 6 if mine else 4,
                    }
                ),
                name=labels.level_name(level),
                customdata=custom,
                hovertemplate=tr.text("development.hover") + "<extra></extra>",
            )
        )
    figure = go.Figure(data=traces)
    measure_name = tr.text(f"development.measure.{measure}")
    yaxis: dict[str, Any] = {
        "title": {"text": measure_name},
        "zeroline": True,
        "autorange": True,
        "range": None,
        "ticksuffix": "",
    }
    if measure in PERCENT_MEASURES:
        yaxis.update(autorange=False, range=[0, 100], ticksuffix="%" if tr.lang == "en" else " %")
    if tr.lang == "nb":
        figure.update_layout(separators=", ")
    figure.update_layout(
        title={
            "text": tr.text("development.chart.title", measure=measure_name),
            "x": 0.01,
            "font": {"size": 20},
        },
        height=560,
        margin={"l": 70, "r": 20, "t": 70, "b": 60},
        xaxis={
            "title": {"text": tr.text(f"development.chart.x_axis.{grouping}")},
            "tickmode": "array",
            "tickvals": positions,
            "ticktext": ticks,
            "range": [-0.5, max(len(periods), 1) - 0.5],
        },
        yaxis=yaxis,
        legend={"orientation": "h", "y": -0.2},
        hovermode="closest",
        template="plotly_white",
        font={"size": 15},
    )
    return figure


def profile_figure(
    labels: DevelopmentLabels,
    config: ClinicalConfig,
    srs: pd.DataFrame,
    first: pd.DataFrame,
    mix: pd.DataFrame,
) -> go.Figure:
    """The SRS profile, improvement by first SRS and the intake mix, the levels side by side."""
    tr = labels.tr
    figure = make_subplots(
        rows=3,
        cols=1,
        vertical_spacing=0.12,
        subplot_titles=(
            tr.text("development.profile.title_srs"),
            tr.text("development.profile.title_first"),
            tr.text("development.profile.title_intake"),
        ),
    )
    cutoff = tr.number(config.srs_cutoff, decimals=0)
    srs_categories = [
        tr.text("development.profile.srs_below", cutoff=cutoff),
        tr.text("development.profile.always_40", min=config.srs_always_max_min_sessions),
    ]
    band_labels = [tr.text(f"development.srs_band.{b}", cutoff=cutoff) for b in SRS_BANDS]
    gap = tr.number(2 * config.ors_reliable_change, decimals=0)
    intake_labels = [tr.text(f"development.intake_band.{b}", gap=gap) for b in INTAKE_BANDS]
    for level in ("therapist", "team", "service"):
        name = labels.level_name(level)
        # SRS profile: two shares, each with its own denominator and interval.
        row = level_row(srs, level)
        cells = [
            (row, "pct_sessions_below", "clients"),
            (row, "pct_always_40", "eligible_clients"),
        ]
        figure.add_trace(
            _bar(labels, level, name, srs_categories, cells, legend=True), row=1, col=1
        )
        cells = [
            (level_row(first, level, srs_band=band), "pct_reliable_improvement", "clients")
            for band in SRS_BANDS
        ]
        figure.add_trace(_bar(labels, level, name, band_labels, cells), row=2, col=1)
        row = level_row(mix, level)
        cells = [(row, f"pct_{band}", f"clients_{band}") for band in INTAKE_BANDS]
        figure.add_trace(_bar(labels, level, name, intake_labels, cells), row=3, col=1)
    suffix = "%" if tr.lang == "en" else " %"
    for index in (1, 2, 3):
        figure.update_yaxes(
            range=[0, 100],
            ticksuffix=suffix,
            title_text=tr.text("development.profile.y_percent"),
            row=index,
            col=1,
        )
    if tr.lang == "nb":
        figure.update_layout(separators=", ")
    figure.update_layout(
        barmode="group",
        height=1100,
        margin={"l": 70, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.06},
        template="plotly_white",
        font={"size": 15},
        hovermode="closest",
    )
    return figure


def _bar(
    labels: DevelopmentLabels,
    level: str,
    name: str,
    categories: list[str],
    cells: list[tuple[pd.Series | None, str, str]],
    *,
    legend: bool = False,
) -> go.Bar:
    """One level's bars; a suppressed or missing cell sends no number to the page."""
    y: list[float | None] = []
    text: list[str] = []
    custom: list[list[str] | None] = []
    errors_up: list[float | None] = []
    errors_down: list[float | None] = []
    for category, (row, column, count_column) in zip(categories, cells, strict=True):
        value = None if row is None else row.get(column)
        if missing(value):
            y.append(None)
            text.append("")
            custom.append(None)
            errors_up.append(None)
            errors_down.append(None)
            continue
        value = float(value)
        y.append(value)
        formatted = labels.format(column, value)
        text.append(formatted)
        low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
        interval = (
            ""
            if missing(low) or missing(high)
            else labels.tr.text(
                "development.interval_short",
                low=labels.format(column, low),
                high=labels.format(column, high),
            )
        )
        errors_up.append(None if missing(high) else max(float(high) - value, 0.0))
        errors_down.append(None if missing(low) else max(value - float(low), 0.0))
        count = row.get(count_column)
        custom.append(
            [name, category, formatted, interval or labels.clients(count)]
            if missing(count)
            else [name, category, formatted, f"{interval} · {labels.clients(count)}".strip(" ·")]
        )
    return go.Bar(
        x=categories,
        y=y,
        name=name,
        legendgroup=level,
        showlegend=legend,
        marker={"color": LEVEL_COLOURS[level]},
        text=text,
        textposition="outside",
        cliponaxis=False,
        error_y={
            "type": "data",
            "symmetric": False,
            "array": errors_up,
            "arrayminus": errors_down,
            "color": "#333333",
            "thickness": 1.2,
            "width": 4,
            "visible": any(e is not None for e in errors_up),
        },
        customdata=custom,
        hovertemplate=labels.tr.text("development.profile.hover") + "<extra></extra>",
    )
