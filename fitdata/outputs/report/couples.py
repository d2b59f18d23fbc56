"""The report's couples section: its tables, reading and explanation, for every renderer.

The couple figures (:mod:`fitdata.features.service.couples`) laid out as
:class:`~fitdata.outputs.report.layout.ReportTable` rows, so the HTML, PDF and XLSX files and
the service page show the same frames, formatted the same way; a hidden cell is
:data:`~fitdata.outputs.report.layout.HIDDEN` as everywhere else, and a missing figure of a
shown row (an interval that cannot be computed) ``NOT_ESTIMATED``. Beside the tables: what
"both improved" means, how it differs from the per-partner figures, and why it is not the
individual rate squared (:func:`couple_explanation`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fitdata.features.service.couples import CoupleSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.layout import Column, ReportTable, marked_row

__all__ = [
    "COUPLE_COLUMNS",
    "couple_explanation",
    "couple_notes",
    "couple_sentences",
    "couple_tables",
]

#: The shares of a couple row, each with its 95 % Wilson interval.
_SHARES = (
    ("pct_both_improved", "service.couples.col.both_improved"),
    ("pct_one_improved", "service.couples.col.one_improved"),
    ("pct_neither_improved", "service.couples.col.neither_improved"),
    ("pct_both_recovered", "service.couples.col.both_recovered"),
)

#: The columns of the couple team and trend tables after their key column.
COUPLE_COLUMNS: tuple[Column, ...] = (
    Column("couple_episodes", "service.couples.col.episodes", 0),
    Column("couples", "service.couples.col.couples", 0),
    *(
        column
        for share, header in _SHARES
        for column in (
            Column(share, header),
            Column(f"{share}_ci_low", "service.col.ci_low"),
            Column(f"{share}_ci_high", "service.col.ci_high"),
        )
    ),
)

_COUNTS = (
    ("couple_episodes", "service.couples.col.episodes"),
    ("couples", "service.couples.col.couples"),
)


def _value(value: Any, decimals: int) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return float("nan")
    return round(float(value), decimals) + 0.0


def _headline(summary: CoupleSummary, tr: Translator) -> ReportTable:
    """The focus over the period: the two counts, then each share with its interval."""
    row = summary.headline.iloc[0]
    rows: list[list[Any]] = [[tr.text(label), _value(row[c], 0), "", ""] for c, label in _COUNTS]
    hidden = bool(row.get("suppressed", True))
    rows += [
        [
            tr.text(label),
            *marked_row(
                [
                    _value(row[share], 1),
                    _value(row[f"{share}_ci_low"], 1),
                    _value(row[f"{share}_ci_high"], 1),
                ],
                [share, f"{share}_ci_low", f"{share}_ci_high"],
                suppressed=hidden,
            ),
        ]
        for share, label in _SHARES
    ]
    return ReportTable(
        "couples_headline",
        tr.text("service.couples.table.headline", period=summary.filters.period.label),
        [
            tr.text("service.col.figure"),
            tr.text("service.col.value"),
            tr.text("service.col.ci_low"),
            tr.text("service.col.ci_high"),
        ],
        [-1, 1, 1, 1],
        rows,
        row_decimals=[[-1, 0, -1, -1]] * len(_COUNTS) + [[-1, 1, 1, 1]] * len(_SHARES),
        min_cell_size=summary.config.min_cell_size,
    )


def _table(
    summary: CoupleSummary, tr: Translator, name: str, key: Column, title: str
) -> ReportTable:
    frame = summary.tables()[name]
    columns = (key, *COUPLE_COLUMNS)
    # column by column (a team table has hundreds of rows; to_dict("records") cost more)
    values = [
        frame[c.source].tolist()
        if c.decimals < 0
        else [_value(v, c.decimals) for v in frame[c.source].tolist()]
        for c in columns
    ]
    hidden = (
        frame["suppressed"].astype(bool).tolist()
        if "suppressed" in frame.columns
        else [True] * len(frame)
    )
    sources = [c.source for c in columns]
    rows = (
        [
            marked_row(list(row), sources, suppressed=gone)
            for row, gone in zip(zip(*values, strict=True), hidden, strict=True)
        ]
        if len(frame)
        else []
    )
    return ReportTable(
        name,
        tr.text(title),
        [tr.text(c.header) for c in columns],
        [c.decimals for c in columns],
        rows,
        min_cell_size=summary.config.min_cell_size,
    )


def couple_tables(
    summary: CoupleSummary, tr: Translator, *, only: Collection[str] | None = None
) -> list[ReportTable]:
    """The couples section's tables in page order: the focus, the teams, the trend.

    The headline's counts are written with no decimals (its ``row_decimals``), the shares
    with one.

    Args:
        summary: The couple figures.
        tr: The language.
        only: Names of the tables to make (the page remakes only those a change touched);
            None makes every table.
    """
    tables = []
    if only is None or "couples_headline" in only:
        tables.append(_headline(summary, tr))
    for name, key, title in (
        ("couples_teams", Column("name", "service.col.team", -1), "service.couples.table.teams"),
        (
            "couples_trend",
            Column("quarter", "service.col.quarter", -1),
            "service.couples.table.trend",
        ),
    ):
        if only is None or name in only:
            tables.append(_table(summary, tr, name, key, title))
    return tables


def couple_sentences(summary: CoupleSummary, tr: Translator) -> list[str]:
    """The reading of the couple figures in the translator's language (shown cells only)."""
    out = []
    for item in summary.reading:
        values = {
            name: str(int(v)) if name in ("couples", "episodes", "n") else tr.number(v, decimals=0)
            for name, v in item.values.items()
        }
        out.append(tr.text(item.key, **values))
    return out


def couple_explanation(summary: CoupleSummary, tr: Translator) -> list[str]:
    """What the couple figures mean, in plain words, beside them on the page and in the report."""
    config = summary.config
    return [
        tr.text(
            "service.couples.explain.both",
            rc=tr.number(config.ors_reliable_change, decimals=0),
        ),
        tr.text("service.couples.explain.inclusion"),
        tr.text("service.couples.explain.per_partner"),
        tr.text("service.couples.explain.correlated"),
        tr.text("service.couples.explain.filters"),
    ]


def couple_notes(summary: CoupleSummary, tr: Translator) -> list[str]:
    """The couple figures' method notes and source, for the notes at the end."""
    return [
        tr.text("service.couples.method", n=summary.config.min_cell_size),
        tr.text("service.couples.source"),
    ]
