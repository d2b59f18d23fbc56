"""The report as one self-contained HTML page: styles inline, charts as ``<svg>``, no scripts.

Every text is escaped (a team name is never markup), and nothing is fetched, so the file opens
the same offline, in a mail client or on a locked-down machine.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from fitdata.features.service import ServiceSummary
from fitdata.features.service.couples import CoupleSummary
from fitdata.i18n import Translator
from fitdata.outputs.report.charts import CHARTS_AFTER, figures, svg
from fitdata.outputs.report.couples import (
    couple_explanation,
    couple_notes,
    couple_sentences,
    couple_tables,
)
from fitdata.outputs.report.layout import (
    ReportTable,
    display_tables,
    filter_text,
    marks_note,
    method_notes,
    reading_sentences,
    selected_rows,
    table_text,
)

__all__ = ["couples_html", "render_html", "table_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.3em; text-align: right; }
@media print { table { font-size: 0.7em; } }
th { font-size: 0.92em; overflow-wrap: normal; hyphens: none; }
th:first-child, td:first-child, td.text { text-align: left; }
tr.selected td { font-weight: bold; }
.filters { color: #555; } .reading li { margin: 0.3em 0; } .notes { font-size: 0.85em; }
.fitdata-marks { font-size: 0.8em; color: #555; margin: 0.2em 0 1em; }
figure { margin: 0.5em 0; } figure svg { max-width: 100%; height: auto; }
"""


def table_html(
    table: ReportTable,
    tr: Translator,
    *,
    selected: Sequence[bool] = (),
    row_keys: Sequence[str] = (),
) -> str:
    """One table as HTML (report and dashboard), the marks it uses explained under it.

    Args:
        table: The table.
        tr: The language.
        selected: Rows to mark with ``class="selected"``.
        row_keys: A key per row, written as ``data-key`` (the dashboard marks its selected
            team with a style rule on this key, so the table itself need not be sent again).
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    # a column of words after the first (a reference band) reads from the left
    opens = [
        '<td class="text">' if column > 0 and decimals < 0 else "<td>"
        for column, decimals in enumerate(table.decimals)
    ]
    body = []
    for index, cells in enumerate(table_text(table, tr)):
        mark = ' class="selected"' if index < len(selected) and selected[index] else ""
        if index < len(row_keys):
            mark += f' data-key="{html.escape(str(row_keys[index]))}"'
        body.append(
            f"<tr{mark}>"
            + "".join(
                f"{opens[column] if column < len(opens) else '<td>'}{html.escape(c)}</td>"
                for column, c in enumerate(cells)
            )
            + "</tr>"
        )
    note = marks_note(table, tr)
    below = f'<p class="fitdata-marks">{html.escape(note)}</p>' if note else ""
    return (
        f'<table class="fitdata-table" data-table="{table.name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{below}"
    )


def couples_html(couples: CoupleSummary, tr: Translator, *, heading: str = "h2") -> str:
    """The couples section as HTML (the report's, and the page's): words, reading, tables."""
    parts = [
        f'<section class="fitdata-couples" data-section="couples">'
        f"<{heading}>{html.escape(tr.text('service.couples.heading'))}</{heading}>",
        '<ul class="couples-explain">',
        *(f"<li>{html.escape(s)}</li>" for s in couple_explanation(couples, tr)),
        "</ul>",
        '<ul class="reading couples-reading">',
        *(f"<li>{html.escape(s)}</li>" for s in couple_sentences(couples, tr)),
        "</ul>",
    ]
    sub = "h3" if heading == "h2" else "h4"
    for table in couple_tables(couples, tr):
        parts.append(f"<{sub}>{html.escape(table.title)}</{sub}>")
        teams = table.name == "couples_teams"
        selected = [bool(v) for v in couples.teams["selected"]] if teams else []
        keys = [str(v) for v in couples.teams["team_id"]] if teams else []
        parts.append(table_html(table, tr, selected=selected, row_keys=keys))
    parts.append("</section>")
    return "\n".join(parts)


def render_html(
    summary: ServiceSummary, lang: str = "en", couples: CoupleSummary | None = None
) -> str:
    """The report as one self-contained HTML page (charts inline as SVG).

    Args:
        summary: The service's numbers.
        lang: ``en`` or ``nb``.
        couples: The couple figures of the same selection (a section after the teams), or None.
    """
    tr = Translator(lang)
    charts = dict(enumerate(figures(summary, tr)))
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
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2>")
        for index in CHARTS_AFTER.get(table.name, []):
            title, figure = charts[index]
            parts.append(
                f'<figure data-chart="{index}"><figcaption>{html.escape(title)}</figcaption>'
                f"{svg(figure)}</figure>"
            )
        parts.append(table_html(table, tr, selected=selected_rows(summary, table.name)))
    if couples is not None:
        parts.append(couples_html(couples, tr))
    parts.append(f"<h2>{html.escape(tr.text('service.section.notes'))}</h2>")
    parts.append('<ul class="notes">')
    parts.extend(f"<li>{html.escape(note)}</li>" for note in method_notes(summary, tr))
    if couples is not None:
        parts.extend(f"<li>{html.escape(note)}</li>" for note in couple_notes(couples, tr))
    parts.append("</ul></body></html>")
    return "\n".join(parts)
