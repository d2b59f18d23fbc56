"""The report's tables and words: what every renderer (and the dashboard) lays out.

:func:`display_tables` gives the tables as shown — translated headers, the columns a reader
needs, numbers rounded for display — and the page uses the same frames, so the report and the
dashboard cannot disagree. The words around them (the selection, the reading, method notes and
sources) are here too. A hidden cell (fewer than ``min_cell_size`` clients, hidden beside
one so it cannot be worked out by subtraction, or no data) is :data:`HIDDEN` everywhere, never
a number; a figure that is shown but has no value of its own (no interval for this figure, or
one that cannot be estimated, e.g. from fewer than two values) is :data:`NOT_ESTIMATED`, a
different mark, and :func:`marks_note` explains the marks a table uses under it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fitdata.analytics.suppression import CHANGE_COLUMNS
from fitdata.features.service import (
    REFERENCE_BANDS,
    ReadingItem,
    ReferenceBand,
    ServiceSummary,
    band_for,
)
from fitdata.i18n import Translator

__all__ = [
    "HEADLINE_SPEC",
    "HIDDEN",
    "NOT_ESTIMATED",
    "SOURCE_KEYS",
    "TABLE_SPECS",
    "Column",
    "ReportTable",
    "band_text",
    "display_tables",
    "filter_text",
    "format_cell",
    "headline_table",
    "marked_row",
    "marks_note",
    "method_notes",
    "reading_sentences",
    "row_decimals",
    "selected_rows",
    "table_text",
]

#: What a hidden cell shows (fewer than the minimum number of clients, hidden beside such a
#: cell so it cannot be worked out by subtraction, or no data). Not "<5": a cell hidden as a
#: neighbour may rest on many clients.
HIDDEN = "\u25aa"

#: What a shown figure without a value of its own shows: no interval for this figure, or a
#: value that cannot be estimated from what there is (never a hidden one: that is HIDDEN).
NOT_ESTIMATED = "\u2013"


@dataclass(frozen=True)
class Column:
    """One column of a displayed table: source column, header key, decimals."""

    source: str
    header: str
    decimals: int = 1


#: Clients, sessions and the two completeness shares, as both completeness tables show them.
_COMPLETENESS = (
    Column("clients", "service.col.clients", 0),
    Column("sessions", "service.col.sessions", 0),
    Column("pct_sessions_with_ors", "service.col.pct_ors"),
    Column("pct_sessions_with_srs", "service.col.pct_srs"),
)

#: The effect size with its interval and the severity-adjusted one (trend and team tables).
_EFFECT_SIZE = (
    Column("effect_size", "service.col.effect_size", 2),
    Column("effect_size_ci_low", "service.col.ci_low", 2),
    Column("effect_size_ci_high", "service.col.ci_high", 2),
    Column("severity_adjusted_es", "service.col.adjusted_es", 2),
)

#: The displayed tables, in page order: (name, title key, columns).
TABLE_SPECS: tuple[tuple[str, str, tuple[Column, ...]], ...] = (
    (
        "completeness_trend",
        "service.table.completeness_trend",
        (Column("quarter", "service.col.quarter", -1), *_COMPLETENESS),
    ),
    (
        "completeness_team",
        "service.table.completeness_team",
        (
            Column("name", "service.col.team", -1),
            *_COMPLETENESS,
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
            *_EFFECT_SIZE,
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
            *_EFFECT_SIZE,
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

#: The sources listed at the end of the notes (message keys ``service.source.<key>``).
SOURCE_KEYS = ("jacobson", "becker", "seidel", "wilson", "wampold", "domain")


@dataclass(frozen=True)
class ReportTable:
    """A table as displayed: title, headers, rows of rounded numbers (NaN = hidden) or text."""

    name: str
    title: str
    headers: list[str]
    decimals: list[int]
    rows: list[list[Any]]
    #: Decimals per row when rows differ (a table of figures, e.g. the couples' key figures).
    row_decimals: list[list[int]] | None = None
    #: The minimum cell size, for the explanation of the hidden mark under the table.
    min_cell_size: int = 5


def _rounded(value: Any, decimals: int) -> Any:
    if decimals < 0:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    if value is None or pd.isna(value):
        return float("nan")
    return round(float(value), decimals) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0


def _hidden(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _flag(value: Any) -> bool:
    """A suppression flag of a record: True only when set (NaN and None are not)."""
    return value is not None and not pd.isna(value) and bool(value)


def _not_estimated(value: Any, hidden: bool) -> Any:
    """A missing ``value`` that is not hidden becomes :data:`NOT_ESTIMATED` (text)."""
    return NOT_ESTIMATED if _hidden(value) and not hidden else value


def marked_row(
    values: Sequence[Any],
    sources: Sequence[str],
    *,
    suppressed: bool,
    change_suppressed: bool = False,
    model_suppressed: bool = False,
) -> list[Any]:
    """A displayed row with its missing cells told apart: hidden (NaN) or not estimated.

    A missing cell is hidden when its row is suppressed, or when its column is a statistic
    over client-episodes with change (:data:`~fitdata.analytics.suppression.CHANGE_COLUMNS`)
    and those are suppressed in the row; every other missing cell of a shown row is
    :data:`NOT_ESTIMATED`. ``model_suppressed`` hides the team model's estimate
    (``team_effect*``) of a team with too few clients in the model.
    """
    return [
        _not_estimated(
            value,
            suppressed
            or (change_suppressed and source in CHANGE_COLUMNS)
            or (model_suppressed and source.startswith("team_effect")),
        )
        for value, source in zip(values, sources, strict=True)
    ]


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
    suppressed = bool(head.get("suppressed", False))
    change_suppressed = bool(head.get("change_suppressed", False))
    rows = []
    for column, label, decimals, interval in HEADLINE_SPEC:
        low = high = float("nan")
        value = _rounded(head[column], decimals)
        if interval is not None:
            low, high = (_rounded(head[c], decimals) for c in interval)
        # a hidden figure hides its interval cells too; a shown one without an interval: "–"
        sources = interval or (column, column)
        low, high = marked_row(
            [low, high],
            sources,
            suppressed=suppressed or _hidden(value) and interval is None,
            change_suppressed=change_suppressed,
        )
        (value,) = marked_row(
            [value], [column], suppressed=suppressed, change_suppressed=change_suppressed
        )
        band = band_for(column)
        reference = band_text(band, tr) if band is not None else ""
        rows.append([tr.text(label), value, low, high, reference])
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
        min_cell_size=summary.config.min_cell_size,
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
        sources = [c.source for c in columns]
        rows = [
            marked_row(
                [_rounded(record[c.source], c.decimals) for c in columns],
                sources,
                suppressed=_flag(record.get("suppressed")),
                change_suppressed=_flag(record.get("change_suppressed")),
                model_suppressed=_flag(record.get("model_suppressed")),
            )
            for record in frame.to_dict("records")
        ]
        tables.append(
            ReportTable(
                name,
                tr.text(title),
                [tr.text(c.header) for c in columns],
                [c.decimals for c in columns],
                rows,
                min_cell_size=summary.config.min_cell_size,
            )
        )
        if name == "completeness_team" and (only is None or "headline" in only):
            tables.append(headline_table(summary, tr))
    return tables


def row_decimals(table: ReportTable, index: int) -> list[int]:
    """The decimals of each cell of row ``index`` (the headline's differ per figure)."""
    if table.row_decimals is not None:
        return table.row_decimals[index]
    if table.name != "headline":
        return table.decimals
    figure = HEADLINE_SPEC[index][2]
    return [-1, figure, figure, figure, -1]


def format_cell(value: Any, decimals: int, tr: Translator) -> str:
    """A cell as text: numbers in the language's format, hidden cells as :data:`HIDDEN`."""
    if isinstance(value, str):
        return value
    if _hidden(value):
        return HIDDEN
    if decimals < 0:
        return str(value)
    return tr.number(float(value), decimals=decimals)


def table_text(table: ReportTable, tr: Translator) -> list[list[str]]:
    """The table's cells as displayed text (the headline uses each figure's own decimals)."""
    return [
        [format_cell(v, d, tr) for v, d in zip(row, row_decimals(table, index), strict=True)]
        for index, row in enumerate(table.rows)
    ]


def marks_note(table: ReportTable, tr: Translator) -> str:
    """What the marks in ``table`` mean, for under it ("" when it shows neither mark)."""
    cells = {cell for row in table_text(table, tr) for cell in row}
    parts = []
    if HIDDEN in cells:
        parts.append(tr.text("service.marks.hidden", mark=HIDDEN, n=table.min_cell_size))
    if NOT_ESTIMATED in cells:
        parts.append(tr.text("service.marks.not_estimated", mark=NOT_ESTIMATED))
    return " ".join(parts)


def selected_rows(summary: ServiceSummary, name: str) -> list[bool]:
    """Which rows of table ``name`` are the selected team's (empty: the table marks none)."""
    frame = summary.tables().get(name)
    if frame is None or "selected" not in frame.columns:
        return []
    return [bool(v) for v in frame["selected"]]


def _reading_value(key: str, name: str, value: Any, tr: Translator) -> str:
    if isinstance(value, str):
        return value
    if name in ("clients", "episodes", "teams"):
        return str(int(value))
    if key.startswith("service.reading.effect_size"):
        return tr.number(float(value), decimals=2)
    if name in ("effect", "low", "high"):  # a team's difference in ORS points
        # rounded first, so a bound of -0.04 reads "0.0", never "−0.0"
        return tr.number(round(float(value), 1) + 0.0, decimals=1, signed=name == "effect")
    return tr.number(round(float(value)) + 0.0, decimals=0)  # percentages


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
    if model.get("too_few_groups"):  # the reader's language, not the model's English reason
        notes.append(
            tr.text(
                "service.chart.team_effect_too_few",
                min_groups=model.get("min_groups", ""),
                min_episodes=model.get("min_episodes", ""),
                teams=model.get("n_therapists", ""),
            )
        )
    elif model.get("error"):
        notes.append(tr.text("service.method.model_error", error=model["error"]))
    elif model.get("warnings"):
        notes.append(tr.text("service.method.model_warnings"))
    notes.append(
        tr.text(
            "service.method.suppression",
            n=config.min_cell_size,
            hidden=HIDDEN,
            source=tr.text("rule.source.min_cell_size"),
        )
    )
    notes.append(tr.text("service.method.not_estimated", mark=NOT_ESTIMATED, hidden=HIDDEN))
    notes.append(tr.text("service.method.complementary", n=config.min_cell_size))
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
