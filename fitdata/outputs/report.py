"""The leaders' report: the service summary as a self-contained HTML, PDF or XLSX file.

Every number comes from :func:`fitdata.features.service.service_summary`, the function the
service dashboard uses too, so the report and the page agree by construction. The tables are
already suppressed there; this module only lays them out:

* :func:`display_tables` — the tables as shown: translated headers, the columns a reader
  needs, numbers rounded for display (the dashboard shows the same frames);
* charts drawn with matplotlib (no browser needed): inline SVG in HTML, PNG in PDF;
* HTML: one file, styles inline, charts as ``<svg>``; PDF: reportlab with the DejaVu Sans
  font that ships with matplotlib (æ, ø, å and the minus sign on any machine);
* XLSX: openpyxl, one sheet per table and a notes sheet.

A hidden cell (fewer than ``min_cell_size`` clients, or no data) is written as
:data:`HIDDEN` everywhere, never as a number.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.config import DEFAULT_CONFIG, RULES, ClinicalConfig
from fitdata.data.store import Reader
from fitdata.features.service import (
    REFERENCE_BANDS,
    TEAM_INTERVAL_CHARTS,
    ReadingItem,
    ReferenceBand,
    ServiceFilters,
    ServiceSummary,
    SummaryCache,
    band_for,
    service_summary,
)
from fitdata.i18n import Translator

__all__ = [
    "FORMATS",
    "HIDDEN",
    "ReportTable",
    "display_tables",
    "reading_sentences",
    "render",
    "render_html",
    "render_pdf",
    "render_xlsx",
    "write_report",
]

ReportFormat = Literal["html", "pdf", "xlsx"]
FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "xlsx")
MEDIA_TYPES = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: What a hidden cell shows (fewer than the minimum number of clients, or no data).
HIDDEN = "·"

# Okabe-Ito colours, as in fitdata.ui.charts.
COLOURS = {"ors": "#0072B2", "srs": "#009E73", "band": "#E69F00", "team": "#0072B2"}


@dataclass(frozen=True)
class Column:
    """One column of a displayed table: source column, header key, decimals."""

    source: str
    header: str
    decimals: int = 1


#: The displayed tables, in page order: (name, title key, key columns, statistic columns).
TABLE_SPECS: tuple[tuple[str, str, tuple[Column, ...]], ...] = (
    (
        "completeness_trend",
        "service.table.completeness_trend",
        (
            Column("quarter", "service.col.quarter", -1),
            Column("clients", "service.col.clients", 0),
            Column("sessions", "service.col.sessions", 0),
            Column("pct_sessions_with_ors", "service.col.pct_ors"),
            Column("pct_sessions_with_srs", "service.col.pct_srs"),
        ),
    ),
    (
        "completeness_team",
        "service.table.completeness_team",
        (
            Column("name", "service.col.team", -1),
            Column("clients", "service.col.clients", 0),
            Column("sessions", "service.col.sessions", 0),
            Column("pct_sessions_with_ors", "service.col.pct_ors"),
            Column("pct_sessions_with_srs", "service.col.pct_srs"),
            Column("pct_lt2_ors", "service.col.pct_lt2_ors"),
        ),
    ),
    (
        "trend",
        "service.table.trend",
        (
            Column("quarter", "service.col.quarter", -1),
            Column("clients", "service.col.clients", 0),
            Column("client_episodes", "service.col.episodes", 0),
            Column("intake_ors_mean", "service.col.intake_ors"),
            Column("effect_size", "service.col.effect_size", 2),
            Column("effect_size_ci_low", "service.col.ci_low", 2),
            Column("effect_size_ci_high", "service.col.ci_high", 2),
            Column("severity_adjusted_es", "service.col.adjusted_es", 2),
            Column("pct_recovered", "service.col.pct_recovered"),
            Column("pct_improved", "service.col.pct_improved"),
            Column("pct_unchanged", "service.col.pct_unchanged"),
            Column("pct_deteriorated", "service.col.pct_deteriorated"),
            Column("pct_harmed", "service.col.pct_harmed"),
            Column("pct_target", "service.col.pct_target"),
            Column("sessions_mean", "service.col.sessions_mean"),
            Column("pct_unplanned_with_effect", "service.col.pct_unplanned_with"),
            Column("pct_unplanned_without_effect", "service.col.pct_unplanned_without"),
        ),
    ),
    (
        "teams",
        "service.table.teams",
        (
            Column("name", "service.col.team", -1),
            Column("clients", "service.col.clients", 0),
            Column("episodes_with_change", "service.col.episodes_with_change", 0),
            Column("effect_size", "service.col.effect_size", 2),
            Column("effect_size_ci_low", "service.col.ci_low", 2),
            Column("effect_size_ci_high", "service.col.ci_high", 2),
            Column("severity_adjusted_es", "service.col.adjusted_es", 2),
            Column("pct_target", "service.col.pct_target"),
            Column("pct_target_ci_low", "service.col.ci_low"),
            Column("pct_target_ci_high", "service.col.ci_high"),
            Column("pct_unplanned", "service.col.pct_unplanned"),
            Column("team_effect", "service.col.team_effect"),
            Column("team_effect_ci_low", "service.col.ci_low"),
            Column("team_effect_ci_high", "service.col.ci_high"),
        ),
    ),
)

#: The headline key figures: (column, label key, decimals, interval columns or None).
HEADLINE_SPEC: tuple[tuple[str, str, int, tuple[str, str] | None], ...] = (
    ("clients", "service.col.clients", 0, None),
    ("client_episodes", "service.col.episodes", 0, None),
    ("intake_ors_mean", "service.col.intake_ors", 1, None),
    ("effect_size", "service.col.effect_size", 2, ("effect_size_ci_low", "effect_size_ci_high")),
    ("severity_adjusted_es", "service.col.adjusted_es", 2, None),
    ("pct_recovered", "service.col.pct_recovered", 1, None),
    ("pct_improved", "service.col.pct_improved", 1, None),
    ("pct_unchanged", "service.col.pct_unchanged", 1, None),
    ("pct_deteriorated", "service.col.pct_deteriorated", 1, None),
    ("pct_harmed", "service.col.pct_harmed", 1, None),
    ("pct_target", "service.col.pct_target", 1, None),
    ("sessions_mean", "service.col.sessions_mean", 1, None),
    ("pct_unplanned", "service.col.pct_unplanned", 1, None),
    ("pct_unplanned_with_effect", "service.col.pct_unplanned_with", 1, None),
    ("pct_unplanned_without_effect", "service.col.pct_unplanned_without", 1, None),
    ("pct_sessions_with_ors", "service.col.pct_ors", 1, None),
    ("pct_sessions_with_srs", "service.col.pct_srs", 1, None),
    ("pct_lt2_ors", "service.col.pct_lt2_ors", 1, None),
)


@dataclass(frozen=True)
class ReportTable:
    """A table as displayed: title, headers, rows of rounded numbers (NaN = hidden) or text."""

    name: str
    title: str
    headers: list[str]
    decimals: list[int]
    rows: list[list[Any]]


def _rounded(value: Any, decimals: int) -> Any:
    if decimals < 0:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    if value is None or pd.isna(value):
        return float("nan")
    return round(float(value), decimals) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0


def band_text(band: ReferenceBand, tr: Translator) -> str:
    """A reference band in words: "64–74 (vendor benchmark, not peer reviewed)"."""
    decimals = 2 if band.metric == "effect_size" else 1 if band.metric == "sessions_mean" else 0
    source = tr.text(f"service.band.source.{band.metric}")
    if band.low == band.high:
        return tr.text(
            "service.band.point", value=tr.number(band.low, decimals=decimals), source=source
        )
    return tr.text(
        "service.band.text",
        low=tr.number(band.low, decimals=decimals),
        high=tr.number(band.high, decimals=decimals),
        source=source,
    )


def headline_table(summary: ServiceSummary, tr: Translator) -> ReportTable:
    """The key figures of the selection as rows: figure, value, interval, reference band."""
    head = summary.headline.iloc[0]
    rows = []
    for column, label, decimals, interval in HEADLINE_SPEC:
        low = high = float("nan")
        if interval is not None:
            low, high = (_rounded(head[c], decimals) for c in interval)
        band = band_for(column)
        reference = band_text(band, tr) if band is not None else ""
        rows.append([tr.text(label), _rounded(head[column], decimals), low, high, reference])
    return ReportTable(
        "headline",
        tr.text("service.table.headline", period=summary.filters.period.label),
        [
            tr.text("service.col.figure"),
            tr.text("service.col.value"),
            tr.text("service.col.ci_low"),
            tr.text("service.col.ci_high"),
            tr.text("service.col.reference"),
        ],
        [-1, 2, 2, 2, -1],
        rows,
    )


def display_tables(
    summary: ServiceSummary, tr: Translator, *, only: Collection[str] | None = None
) -> list[ReportTable]:
    """Every table of the page and the report, in page order ("are we collecting?" first).

    Args:
        summary: The numbers.
        tr: The language.
        only: Names of the tables to make (the page remakes only those a change touched);
            None makes every table.
    """
    tables: list[ReportTable] = []
    for name, title, columns in TABLE_SPECS:
        if only is not None and name not in only:
            if name == "completeness_team" and "headline" in only:
                tables.append(headline_table(summary, tr))
            continue
        frame = summary.tables()[name]
        rows = [
            [_rounded(record[c.source], c.decimals) for c in columns]
            for record in frame.to_dict("records")
        ]
        tables.append(
            ReportTable(
                name,
                tr.text(title),
                [tr.text(c.header) for c in columns],
                [c.decimals for c in columns],
                rows,
            )
        )
        if name == "completeness_team" and (only is None or "headline" in only):
            tables.append(headline_table(summary, tr))
    # Headline decimals differ per row; record them per row in the value column instead.
    return tables


def format_cell(value: Any, decimals: int, tr: Translator) -> str:
    """A cell as text: numbers in the language's format, hidden cells as :data:`HIDDEN`."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return HIDDEN
    if decimals < 0:
        return str(value)
    return tr.number(float(value), decimals=decimals)


def _headline_decimals() -> list[int]:
    return [decimals for _, _, decimals, _ in HEADLINE_SPEC]


def table_text(table: ReportTable, tr: Translator) -> list[list[str]]:
    """The table's cells as displayed text (the headline uses each figure's own decimals)."""
    out = []
    for index, row in enumerate(table.rows):
        if table.name == "headline":
            decimals = _headline_decimals()[index]
            out.append([row[0], *(format_cell(v, decimals, tr) for v in row[1:4]), row[4]])
        else:
            out.append([format_cell(v, d, tr) for v, d in zip(row, table.decimals, strict=True)])
    return out


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _reading_value(key: str, name: str, value: Any, tr: Translator) -> str:
    if isinstance(value, str):
        return value
    if name in ("clients", "episodes", "teams"):
        return str(int(value))
    if key.startswith("service.reading.effect_size"):
        return tr.number(float(value), decimals=2)
    if name in ("effect", "low", "high"):  # a team's difference in ORS points
        return tr.number(float(value), decimals=1, signed=name == "effect")
    return tr.number(float(value), decimals=0)  # percentages


def reading_sentences(items: Sequence[ReadingItem], tr: Translator) -> list[str]:
    """The plain-language reading in the translator's language."""
    return [
        tr.text(
            item.key,
            **{name: _reading_value(item.key, name, v, tr) for name, v in item.values.items()},
        )
        for item in items
    ]


def filter_text(summary: ServiceSummary, tr: Translator) -> str:
    """The selection in words: period, service, team, age group, format."""
    f = summary.filters
    every = tr.text("service.filter.all")
    parts = [
        f"{tr.text('service.filter.period')}: {f.period.label}",
        f"{tr.text('service.filter.service')}: {f.service or every}",
        f"{tr.text('filter.team')}: "
        f"{summary.team_names.get(f.team_id, f.team_id) if f.team_id else every}",
        f"{tr.text('service.filter.age_group')}: "
        f"{tr.text(f'age_group.{f.age_group}') if f.age_group else every}",
        f"{tr.text('service.filter.format')}: "
        f"{tr.text(f'service.format.{f.format}') if f.format else every}",
    ]
    return " · ".join(parts)


def method_notes(summary: ServiceSummary, tr: Translator) -> list[str]:
    """Method notes and sources, for the end of the report and the page's notes."""
    config = summary.config
    model = summary.team_model
    notes = [
        tr.text("service.method.population"),
        tr.text("service.method.completeness"),
        tr.text("service.method.effect_size"),
        tr.text("service.method.adjusted"),
        tr.text(
            "service.method.categories",
            rc=tr.number(config.ors_reliable_change, decimals=0),
            adult=tr.number(config.ors_cutoff_adult, decimals=0),
            adolescent=tr.number(config.ors_cutoff_adolescent, decimals=0),
            child=tr.number(config.ors_cutoff_child, decimals=0),
        ),
        tr.text("service.method.target"),
        tr.text("service.method.endings"),
        tr.text("service.method.wilson"),
        tr.text("service.method.team_model", min_episodes=model.get("min_episodes", "")),
    ]
    icc = model.get("icc")
    if icc is not None and not (isinstance(icc, float) and math.isnan(icc)):
        notes.append(
            tr.text(
                "service.method.icc",
                icc=tr.number(100 * float(icc), decimals=1),
                teams=model.get("n_therapists", ""),
                episodes=model.get("n_episodes", ""),
            )
        )
    if model.get("error"):
        notes.append(tr.text("service.method.model_error", error=model["error"]))
    elif model.get("warnings"):
        notes.append(tr.text("service.method.model_warnings"))
    notes.append(
        tr.text(
            "service.method.suppression",
            n=config.min_cell_size,
            hidden=HIDDEN,
            source=RULES["min_cell_size"].source,
        )
    )
    for band in REFERENCE_BANDS:
        notes.append(
            tr.text(
                "service.method.band",
                metric=tr.text(f"service.metric.{band.metric}"),
                source=tr.text(f"service.band.source.{band.metric}"),
            )
        )
    notes.extend(tr.text(f"service.source.{key}") for key in SOURCE_KEYS)
    return notes


SOURCE_KEYS = ("jacobson", "becker", "seidel", "wilson", "wampold", "domain")


# --------------------------------------------------------------------------------------------
# Charts (matplotlib, no browser)
# --------------------------------------------------------------------------------------------


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
        "outcomes": summary.trend[
            [
                "quarter",
                "pct_recovered",
                "pct_improved",
                "pct_unchanged",
                "pct_deteriorated",
                "pct_harmed",
            ]
        ],
        "team_effect": teams[["name", "team_effect", "team_effect_ci_low", "team_effect_ci_high"]],
        "team_target": teams[["name", "pct_target", "pct_target_ci_low", "pct_target_ci_high"]],
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


OUTCOME_COLUMNS = (
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
)


def _charts(summary: ServiceSummary, tr: Translator) -> list[tuple[str, Any]]:
    """(title, matplotlib Figure) for every chart, in page order."""
    data = chart_data(summary)
    charts = []

    frame = data["completeness"]
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
    charts.append((tr.text("service.chart.completeness"), figure))

    frame = data["effect_size"]
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
    charts.append((tr.text("service.chart.effect_size"), figure))

    frame = data["outcomes"]
    figure, ax = _figure()
    bottom = np.zeros(len(frame))
    palette = ("#009E73", "#56B4E9", "#BBBBBB", "#D55E00", "#7F2704")
    for column, colour in zip(
        OUTCOME_COLUMNS,
        palette,
        strict=True,
    ):
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
    charts.append((tr.text("service.chart.outcomes"), figure))

    for key, value, low, high, band_metric, xlabel in TEAM_INTERVAL_CHARTS:
        frame = data[key]
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
        charts.append((tr.text(f"service.chart.{key}"), figure))
    return charts


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.selected td { font-weight: bold; }
.filters { color: #555; } .reading li { margin: 0.3em 0; } .notes { font-size: 0.85em; }
figure { margin: 0.5em 0; } figure svg { max-width: 100%; height: auto; }
"""


def table_html(
    table: ReportTable,
    tr: Translator,
    *,
    selected: Sequence[bool] = (),
    row_keys: Sequence[str] = (),
) -> str:
    """One table as HTML (used by the report and the dashboard).

    Args:
        table: The table.
        tr: The language.
        selected: Rows to mark with ``class="selected"``.
        row_keys: A key per row, written as ``data-key`` (the dashboard marks its selected
            team with a style rule on this key, so the table itself need not be sent again).
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for index, cells in enumerate(table_text(table, tr)):
        mark = ' class="selected"' if index < len(selected) and selected[index] else ""
        if index < len(row_keys):
            mark += f' data-key="{html.escape(str(row_keys[index]))}"'
        body.append(f"<tr{mark}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        f'<table class="fitdata-table" data-table="{table.name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _selected(summary: ServiceSummary, name: str) -> list[bool]:
    frame = summary.tables().get(name)
    if frame is None or "selected" not in frame.columns:
        return []
    return [bool(v) for v in frame["selected"]]


def render_html(summary: ServiceSummary, lang: str = "en") -> str:
    """The report as one self-contained HTML page (charts inline as SVG)."""
    tr = Translator(lang)
    charts = dict(enumerate(_charts(summary, tr)))
    tables = display_tables(summary, tr)
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(tr.text('service.report.title'))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(tr.text('service.report.title'))}</h1>",
        f'<p class="filters">{html.escape(filter_text(summary, tr))}</p>',
        f"<p>{html.escape(tr.text('service.report.generated', date=tr.date(dt.date.today())))}</p>",
        f"<h2>{html.escape(tr.text('service.section.reading'))}</h2>",
        '<ul class="reading">',
        *(f"<li>{html.escape(s)}</li>" for s in reading_sentences(summary.reading, tr)),
        "</ul>",
    ]
    chart_after = {"completeness_trend": [0], "trend": [1, 2], "teams": [3, 4]}
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2>")
        for index in chart_after.get(table.name, []):
            title, figure = charts[index]
            parts.append(
                f'<figure data-chart="{index}"><figcaption>{html.escape(title)}</figcaption>'
                f"{_svg(figure)}</figure>"
            )
        parts.append(table_html(table, tr, selected=_selected(summary, table.name)))
    parts.append(f"<h2>{html.escape(tr.text('service.section.notes'))}</h2>")
    parts.append('<ul class="notes">')
    parts.extend(f"<li>{html.escape(note)}</li>" for note in method_notes(summary, tr))
    parts.append("</ul></body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------

_FONT = "DejaVuSans"


def _register_font() -> str:
    from matplotlib import get_data_path
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        fonts = Path(get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(_FONT, str(fonts / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(f"{_FONT}-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    return _FONT


def render_pdf(summary: ServiceSummary, lang: str = "en") -> bytes:
    """The report as a PDF (reportlab; charts as PNG drawn by matplotlib)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        Image,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    tr = Translator(lang)
    font = _register_font()
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    for name in ("Title", "Heading1", "Heading2"):
        styles[name].fontName = f"{font}-Bold"
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9.5)
    cell_style = styles["BodyText"].clone("cell", fontSize=6.5, leading=8)

    def para(text: str, style: Any = None) -> Paragraph:
        return Paragraph(html.escape(text), style or styles["BodyText"])

    buffer = io.BytesIO()
    page = landscape(A4)
    document = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=tr.text("service.report.title"),
        author="fitdata",
    )
    width = page[0] - 3 * cm
    story: list[Any] = [
        para(tr.text("service.report.title"), styles["Title"]),
        para(filter_text(summary, tr), small),
        para(tr.text("service.report.generated", date=tr.date(dt.date.today())), small),
        para(tr.text("service.section.reading"), styles["Heading2"]),
        *(para(f"• {s}") for s in reading_sentences(summary.reading, tr)),
    ]
    charts = dict(enumerate(_charts(summary, tr)))
    chart_after = {"completeness_trend": [0], "trend": [1, 2], "teams": [3, 4]}
    for table in display_tables(summary, tr):
        story.append(para(table.title, styles["Heading2"]))
        for index in chart_after.get(table.name, []):
            title, figure = charts[index]
            png = _png(figure)
            w, h = figure.get_size_inches()
            draw_width = min(width, 16 * cm)
            story.append(para(title, small))
            story.append(Image(io.BytesIO(png), width=draw_width, height=draw_width * h / w))
        cells = [
            [Paragraph(html.escape(h), cell_style) for h in table.headers],
            *[
                [Paragraph(html.escape(c), cell_style) for c in row]
                for row in table_text(table, tr)
            ],
        ]
        grid = Table(cells, repeatRows=1, hAlign="LEFT")
        style = [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        for index, chosen in enumerate(_selected(summary, table.name), start=1):
            if chosen:
                style.append(("BACKGROUND", (0, index), (-1, index), colors.Color(1, 0.95, 0.8)))
        grid.setStyle(TableStyle(style))
        story.extend([grid, Spacer(1, 0.3 * cm)])
    story.append(para(tr.text("service.section.notes"), styles["Heading2"]))
    story.extend(para(note, small) for note in method_notes(summary, tr))
    document.build(story)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------


def _sheet_title(text: str, used: set[str]) -> str:
    title = "".join(ch for ch in text if ch not in "[]:*?/\\")[:31] or "Sheet"
    base, number = title, 2
    while title in used:
        suffix = f" {number}"
        title = base[: 31 - len(suffix)] + suffix
        number += 1
    used.add(title)
    return title


def render_xlsx(summary: ServiceSummary, lang: str = "en") -> bytes:
    """The report as a workbook: one sheet per table, then a notes sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    tr = Translator(lang)
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for table in display_tables(summary, tr):
        sheet = workbook.create_sheet(_sheet_title(table.title, used))
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True)
        sheet.append([filter_text(summary, tr)])
        sheet.append(table.headers)
        for cell in sheet[3]:
            cell.font = Font(bold=True)
        for index, row in enumerate(table.rows):
            decimals = (
                [-1, *[_headline_decimals()[index]] * 3, -1]
                if table.name == "headline"
                else table.decimals
            )
            values = []
            for value, places in zip(row, decimals, strict=True):
                if isinstance(value, str):
                    values.append(value)
                elif value is None or (isinstance(value, float) and math.isnan(value)):
                    values.append(HIDDEN)
                else:
                    values.append(int(value) if places == 0 else value)
            sheet.append(values)
        sheet.column_dimensions["A"].width = 32
    notes = workbook.create_sheet(_sheet_title(tr.text("service.section.notes"), used))
    notes.append([tr.text("service.report.title")])
    notes.append([filter_text(summary, tr)])
    notes.append([tr.text("service.report.generated", date=tr.date(dt.date.today()))])
    notes.append([])
    notes.append([tr.text("service.section.reading")])
    for sentence in reading_sentences(summary.reading, tr):
        notes.append([sentence])
    notes.append([])
    notes.append([tr.text("service.section.notes")])
    for note in method_notes(summary, tr):
        notes.append([note])
    notes.column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def render(summary: ServiceSummary, fmt: ReportFormat, lang: str = "en") -> bytes:
    """The report in one format, as bytes."""
    if fmt == "html":
        return render_html(summary, lang).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(summary, lang)
    if fmt == "xlsx":
        return render_xlsx(summary, lang)
    raise ValueError(f"unknown report format {fmt!r}; choose html, pdf or xlsx")


def data_uri(content: bytes, fmt: ReportFormat) -> str:
    """A ``data:`` URI for a download link (the dashboard's download button)."""
    return f"data:{MEDIA_TYPES[fmt]};base64,{base64.b64encode(content).decode('ascii')}"


def write_report(
    reader: Reader,
    filters: ServiceFilters,
    fmt: ReportFormat,
    out: str | Path,
    *,
    lang: str = "en",
    config: ClinicalConfig = DEFAULT_CONFIG,
    cache: SummaryCache | None = None,
) -> ServiceSummary:
    """Compute the summary and write the report to ``out`` (replaced atomically).

    Returns:
        The summary the report was written from.
    """
    summary = service_summary(reader, filters, config=config, cache=cache)
    content = render(summary, fmt, lang)
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(content)
    partial.replace(out)
    return summary
