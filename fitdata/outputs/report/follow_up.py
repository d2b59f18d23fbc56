"""The report's and service page's section "Discussed cases — did it help?" (issue 22).

The figures of :mod:`fitdata.features.service.follow_up` laid out as
:class:`~fitdata.outputs.report.layout.ReportTable` rows for the HTML, PDF and XLSX files and
the service page: the focus over the period, the teams, the quarters. A cell hidden by the
suppression (its row, or the comparison of its row) is
:data:`~fitdata.outputs.report.layout.HIDDEN`, as everywhere else. Beside the tables
(:func:`follow_up_notes`): the rule, what counts as flagged and discussed, and that the
comparison is observational, not a causal effect.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

from fitdata.config import ClinicalConfig
from fitdata.features.follow_up import DISCUSSION_HORIZON_DAYS
from fitdata.features.service.follow_up import FOLLOW_UP_DETAIL, FollowUpSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.layout import HIDDEN, Column, ReportTable, marked_row
from fitdata.outputs.spreadsheets import append_row

__all__ = [
    "FOLLOW_UP_COLUMNS",
    "add_follow_up",
    "follow_up_html",
    "follow_up_notes",
    "follow_up_rows",
    "follow_up_tables",
]

#: The columns of the team and trend tables after their key column.
FOLLOW_UP_COLUMNS: tuple[Column, ...] = (
    Column("cases", "follow_up.col.cases", 0),
    Column("discussed", "follow_up.col.discussed", 0),
    Column("pct_discussed", "follow_up.col.pct_discussed"),
    Column("median_days", "follow_up.col.median_days", 0),
    Column("discussed_judged", "follow_up.col.discussed_judged", 0),
    Column("pct_discussed_on_track", "follow_up.col.pct_discussed_on_track"),
    Column("pct_discussed_on_track_ci_low", "service.col.ci_low"),
    Column("pct_discussed_on_track_ci_high", "service.col.ci_high"),
    Column("not_discussed_judged", "follow_up.col.not_discussed_judged", 0),
    Column("pct_not_discussed_on_track", "follow_up.col.pct_not_discussed_on_track"),
    Column("pct_not_discussed_on_track_ci_low", "service.col.ci_low"),
    Column("pct_not_discussed_on_track_ci_high", "service.col.ci_high"),
)

_DETAIL = frozenset(FOLLOW_UP_DETAIL)


def _value(value: Any, decimals: int) -> Any:
    if decimals < 0:
        return value
    if value is None or (isinstance(value, float) and value != value):
        return float("nan")
    return round(float(value), decimals) + 0.0


def _row(record: dict[str, Any], columns: tuple[Column, ...]) -> list[Any]:
    gone = bool(record.get("suppressed", True))
    detail = bool(record.get("detail_suppressed", True))
    return [
        marked_row(
            [_value(record[c.source], c.decimals)],
            [c.source],
            suppressed=gone or (detail and c.source in _DETAIL),
        )[0]
        for c in columns
    ]


def follow_up_rows(frame: Any, columns: tuple[Column, ...]) -> list[list[Any]]:
    """A frame's rows as displayed cells, hidden cells NaN (its ``suppressed`` flags)."""
    return [_row(record, columns) for record in frame.to_dict("records")]


def _table(
    name: str, title: str, frame: Any, key: Column, tr: Translator, config: ClinicalConfig
) -> ReportTable:
    columns = (key, *FOLLOW_UP_COLUMNS)
    rows = [_row(record, columns) for record in frame.to_dict("records")]
    return ReportTable(
        name,
        title,
        [tr.text(c.header) for c in columns],
        [c.decimals for c in columns],
        rows,
        min_cell_size=config.min_cell_size,
    )


def follow_up_tables(summary: FollowUpSummary, tr: Translator) -> list[ReportTable]:
    """The section's tables in page order: the focus over the period, the teams, the quarters."""
    config = summary.config
    headline = summary.headline.assign(label=summary.filters.period.label)
    return [
        _table(
            "follow_up_headline",
            tr.text("follow_up.table.headline", period=summary.filters.period.label),
            headline,
            Column("label", "follow_up.col.period", -1),
            tr,
            config,
        ),
        _table(
            "follow_up_teams",
            tr.text("follow_up.table.teams"),
            summary.teams,
            Column("name", "service.col.team", -1),
            tr,
            config,
        ),
        _table(
            "follow_up_trend",
            tr.text("follow_up.table.trend"),
            summary.trend,
            Column("quarter", "service.col.quarter", -1),
            tr,
            config,
        ),
    ]


def follow_up_notes(summary: FollowUpSummary, tr: Translator) -> list[str]:
    """What the section counts, its rule, and why the comparison is not a causal effect."""
    config = summary.config
    return [
        tr.text("follow_up.note.flagged", days=DISCUSSION_HORIZON_DAYS),
        tr.text("follow_up.rule", sessions=config.follow_up_sessions, weeks=config.follow_up_weeks)
        + ". "
        + tr.text("follow_up.rule_detail", weeks=config.follow_up_weeks),
        tr.text("follow_up.note.judged"),
        tr.text("follow_up.note.not_causal"),
        tr.text("follow_up.note.hidden", n=config.min_cell_size),
    ]


def follow_up_html(summary: FollowUpSummary, tr: Translator, *, heading: str = "h2") -> str:
    """The section as HTML (the report's): heading, intro, the tables, the notes."""
    from fitdata.outputs.report.html_file import table_html

    parts = [
        '<section class="fitdata-follow-up" data-section="follow_up">',
        f"<{heading}>{html.escape(tr.text('follow_up.heading'))}</{heading}>",
        f"<p>{html.escape(tr.text('follow_up.intro'))}</p>",
    ]
    for table in follow_up_tables(summary, tr):
        parts.append(f"<h3>{html.escape(table.title)}</h3>{table_html(table, tr)}")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in follow_up_notes(summary, tr))
    parts.append(f"<ul>{notes}</ul></section>")
    return "".join(parts)


def _sheet_rows(summary: FollowUpSummary, tr: Translator) -> list[list[Any]]:
    """The section as sheet rows: titles, headers, cells (hidden cells as the mark), notes."""
    rows: list[list[Any]] = [[tr.text("follow_up.heading")], [tr.text("follow_up.intro")], []]
    for table in follow_up_tables(summary, tr):
        rows.append([table.title])
        rows.append(list(table.headers))
        for cells in table.rows:
            row: list[Any] = []
            for value, digits in zip(cells, table.decimals, strict=True):
                if isinstance(value, str):
                    row.append(value)
                elif value is None or (isinstance(value, float) and math.isnan(value)):
                    row.append(HIDDEN)
                else:
                    row.append(int(value) if digits == 0 else value)
            rows.append(row)
        rows.append([])
    rows.extend([n] for n in follow_up_notes(summary, tr))
    return rows


def add_follow_up(content: bytes, fmt: str, summary: FollowUpSummary | None, lang: str) -> bytes:
    """The report file ``content`` with the section added (HTML: at the end; XLSX: a sheet).

    The sheet goes before the last one, the method notes. The PDF is returned unchanged: its
    layout is :mod:`fitdata.outputs.report.pdf_file`'s, which adds the section's tables
    (:func:`follow_up_tables`) to its story.
    """
    if summary is None:
        return content
    tr = Translator(lang)
    if fmt == "html":
        text = content.decode("utf-8")
        section = follow_up_html(summary, tr)
        cut = text.rfind("</body>")
        if cut < 0:
            return (text + section).encode("utf-8")
        return (text[:cut] + section + text[cut:]).encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import load_workbook
        from openpyxl.styles import Font

        book = load_workbook(io.BytesIO(content))
        title = "".join(ch for ch in tr.text("follow_up.heading") if ch not in "[]:*?/\\")[:31]
        # before the last sheet, the method notes, which stay last as in every report
        sheet = book.create_sheet(title, index=max(len(book.sheetnames) - 1, 0))
        for row in _sheet_rows(summary, tr):
            append_row(sheet, row)  # a team named like a formula stays text
        sheet["A1"].font = Font(bold=True)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    return content
