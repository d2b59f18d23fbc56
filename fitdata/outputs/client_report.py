"""The client printout for the journal: one A4 page with the client's graph and their scores.

:func:`client_report_pdf` writes one page (reportlab, as the leaders' report; the graph drawn
with matplotlib, text in DejaVu Sans so æ, ø and å print anywhere): a title with the client's
code, episode and the day it was printed, the graph of the client's own ORS and SRS totals over
the sessions (the latest session marked, the ORS clinical cutoff of the client's age group and
the SRS cutoff drawn and named), the plain sentences the client's page shows, and a table of the
sessions' scores (each item, the totals, the form and who entered them). Everything is in the
chosen language with its number and date format; the file is readable by its owner only.
``fitdata client-report`` writes it from the command line; the registration page offers it as
a download.

It reads through the reader it is given (a therapist's scope, or a client link's own reader)
and records the read in the audit log (``client_report``).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import record_access, require_client_rows
from fitdata.data.errors import StoreError
from fitdata.data.store import Reader
from fitdata.features.client_page import plain_sentences
from fitdata.i18n import Translator
from fitdata.outputs.private_file import write_private
from fitdata.vocabulary import ORS_ITEMS, SRS_ITEMS, default_forms

__all__ = [
    "MAX_TABLE_ROWS",
    "client_graph_figure",
    "client_report_bytes",
    "client_report_data",
    "client_report_pdf",
]

#: The most sessions the table lists (the latest ones), so the printout stays one page in a
#: legible size; the graph shows every session. (The page is shrunk to fit if it must.)
MAX_TABLE_ROWS = 15

_FONT = "DejaVuSans"
# Okabe-Ito, as the dashboards' client graph
_ORS_COLOUR, _SRS_COLOUR, _CUTOFF_COLOUR = "#0072B2", "#009E73", "#555555"
_COLUMNS = ", ".join(
    ["session_no", "session_date"]
    + [f"{c}::DOUBLE AS {c}" for c in (*ORS_ITEMS, "ors_total", *SRS_ITEMS, "srs_total")]
    + ["ors_form", "srs_form", "entered_by"]
)


def client_report_data(
    reader: Reader, episode_id: str, client_id: str | None = None
) -> tuple[str, str, str, pd.DataFrame]:
    """The client, their age group, the episode's format and their own sessions, in order.

    Args:
        reader: A reader that may see the client (audited as ``client_report``).
        episode_id: The episode.
        client_id: The client; None for the episode's index client.

    Raises:
        StoreError: If the episode or client is not visible through ``reader``.
        AccessDenied: For a reader of aggregates only (a leader's).
    """
    require_client_rows(reader, "client_sessions")
    episode = reader.rows(
        "SELECT client_id, format FROM episodes WHERE episode_id = ?", [episode_id]
    )
    if not episode:
        raise StoreError(f"There is no episode {episode_id!r} that you may see.")
    client = str(episode[0][0]) if client_id is None else client_id
    found = reader.rows("SELECT age_group FROM clients WHERE client_id = ?", [client])
    if not found:
        raise StoreError(f"There is no client {client!r} that you may see.")
    sessions = reader.df(
        f"SELECT {_COLUMNS} FROM sessions WHERE episode_id = ? AND client_id = ? "
        "AND rater = 'client' ORDER BY session_no",
        [episode_id, client],
    )
    record_access(reader, "client_report", client, episode_id)
    sessions["session_date"] = pd.to_datetime(sessions["session_date"]).dt.date
    return client, str(found[0][0]), str(episode[0][1]), sessions


def _register_font() -> str:
    from matplotlib import get_data_path
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        fonts = Path(get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(_FONT, str(fonts / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(f"{_FONT}-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    return _FONT


def client_graph_figure(
    sessions: pd.DataFrame,
    forms: tuple[str, str],
    cutoffs: tuple[float, float],
    tr: Translator,
) -> Any:
    """The client's ORS and SRS totals over the sessions: a matplotlib figure (no pyplot).

    Args:
        sessions: The client's own sessions (``session_no``, ``ors_total``, ``srs_total``).
        forms: The outcome and alliance forms' names (``ORS``/``CORS``, ``SRS``/``CSRS``/...).
        cutoffs: The ORS cutoff of the client's age group and the SRS cutoff.
        tr: The language.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 3.3), dpi=150, layout="constrained")
    ax = figure.add_subplot()
    ors_form, srs_form = forms
    for column, form, colour in (
        ("ors_total", ors_form, _ORS_COLOUR),
        ("srs_total", srs_form, _SRS_COLOUR),
    ):
        rows = sessions.dropna(subset=[column])
        if rows.empty:
            continue
        ax.plot(rows["session_no"], rows[column], color=colour, marker="o", linewidth=2, label=form)
    latest = sessions.iloc[-1] if len(sessions) else None
    if latest is not None:
        for column, colour in (("ors_total", _ORS_COLOUR), ("srs_total", _SRS_COLOUR)):
            value = latest[column]
            if value == value:  # not NaN
                ax.plot(
                    [latest["session_no"]],
                    [value],
                    marker="o",
                    markersize=13,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    markeredgewidth=2,
                )
        ax.annotate(
            tr.text("client_report.latest"),
            (latest["session_no"] + 0.45, 1.5),
            ha="right",
            fontsize=8,
            color="#333333",
        )
    ors_cutoff, srs_cutoff = cutoffs
    for cutoff, colour, style, key, form in (
        (ors_cutoff, _ORS_COLOUR, "--", "client_report.cutoff", ors_form),
        (srs_cutoff, _SRS_COLOUR, ":", "client_report.srs_cutoff", srs_form),
    ):
        label = tr.text(key, form=form, value=tr.number(cutoff, decimals=0))
        ax.axhline(cutoff, color=colour, linestyle=style, linewidth=1, label=label)
    last = int(sessions["session_no"].max()) if len(sessions) else 1
    ax.set_xlim(0.5, max(last, 2) + 0.5)
    ax.set_xticks(range(1, max(last, 2) + 1, max(1, math.ceil(last / 20))))
    ax.set_ylim(0, 40)
    ax.set_yticks(range(0, 41, 5))
    ax.set_xlabel(tr.text("client_report.axis.session"))
    ax.set_ylabel(tr.text("client_report.axis.score"))
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return figure


def _cell(value: Any, tr: Translator) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return tr.number(value, decimals=1)
    return str(value)


def _table(sessions: pd.DataFrame, forms: tuple[str, str], tr: Translator, styles: Any) -> Any:
    """The sessions' scores as a reportlab table with a two-row header."""
    from reportlab.lib import colors
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, Table, TableStyle

    def para(text: str, style: str = "cell") -> Paragraph:
        return Paragraph(html.escape(text), styles[style])

    total = tr.text("client_report.column.total")
    ors_form, srs_form = forms
    head1 = ["", "", ors_form, "", "", "", "", srs_form, "", "", "", "", ""]
    head2 = [
        tr.text("client_report.column.session"),
        tr.text("client_report.column.date"),
        *(str(n) for n in range(1, len(ORS_ITEMS) + 1)),
        total,
        *(str(n) for n in range(1, len(SRS_ITEMS) + 1)),
        total,
        tr.text("client_report.column.entered_by"),
    ]
    body = []
    for row in sessions.itertuples(index=False):
        entered = row.entered_by if isinstance(row.entered_by, str) else "unknown"
        body.append(
            [
                str(int(row.session_no)),
                tr.date(row.session_date),
                *(_cell(getattr(row, i), tr) for i in ORS_ITEMS),
                _cell(row.ors_total, tr),
                *(_cell(getattr(row, i), tr) for i in SRS_ITEMS),
                _cell(row.srs_total, tr),
                tr.text(f"client_report.entered.{entered}"),
            ]
        )
    cells = [
        [para(h, "head") for h in head1],
        [para(h, "head") for h in head2],
        *[[para(c) for c in r] for r in body],
    ]
    widths = [1.6, 2.0, *[1.0] * 4, 1.2, *[1.0] * 4, 1.2, 2.0]
    grid = Table(cells, colWidths=[w * cm for w in widths], repeatRows=2, hAlign="LEFT")
    style: list[tuple] = [
        ("SPAN", (2, 0), (6, 0)),
        ("SPAN", (7, 0), (11, 0)),
        ("GRID", (0, 1), (-1, -1), 0.3, colors.grey),
        ("BOX", (2, 0), (6, -1), 0.8, colors.HexColor(_ORS_COLOUR)),
        ("BOX", (7, 0), (11, -1), 0.8, colors.HexColor(_SRS_COLOUR)),
        ("BACKGROUND", (0, 0), (-1, 1), colors.Color(0.93, 0.93, 0.93)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if body:  # the latest session, as marked in the graph
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.Color(1, 0.95, 0.8)))
    grid.setStyle(TableStyle(style))
    return grid


def _item_legend(forms: tuple[str, str], tr: Translator) -> str:
    """What the numbered item columns are: "ORS: 1 Individually · 2 ... SRS: 1 ..."."""
    parts = []
    for form, items in zip(forms, (ORS_ITEMS, SRS_ITEMS), strict=True):
        named = " · ".join(f"{n} {tr.text(f'item.{i}')}" for n, i in enumerate(items, start=1))
        parts.append(f"{form}: {named}.")
    return " ".join(parts)


def client_report_pdf(
    reader: Reader,
    episode_id: str,
    client_id: str | None = None,
    *,
    lang: str,
    out: str | os.PathLike[str],
    config: ClinicalConfig = DEFAULT_CONFIG,
    today: dt.date | None = None,
) -> Path:
    """Write the one-page printout of a client's scores in one episode; return its path.

    Args:
        reader: The reader to read through (a therapist's scope, or the client link's reader).
        episode_id: The episode.
        client_id: The client; None for the episode's index client.
        lang: ``en`` or ``nb``.
        out: The PDF file to write (replaced; readable by its owner only).
        config: The thresholds (the cutoffs drawn, the plain sentences' clear change).
        today: The day printed on the page, and the "today" of the sentences (default today).

    Raises:
        StoreError: If the episode or client cannot be seen through ``reader`` (nothing is
            written then).
        OSError: If the file cannot be written.
    """
    data = client_report_bytes(reader, episode_id, client_id, lang=lang, config=config, today=today)
    path = Path(out)
    write_private(path, data)
    return path


def client_report_bytes(
    reader: Reader,
    episode_id: str,
    client_id: str | None = None,
    *,
    lang: str,
    config: ClinicalConfig = DEFAULT_CONFIG,
    today: dt.date | None = None,
) -> bytes:
    """The printout as the bytes of a PDF (for a page's download); see :func:`client_report_pdf`."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, KeepInFrame, Paragraph, SimpleDocTemplate, Spacer

    tr = Translator(lang)
    today = today or dt.date.today()
    client, age_group, episode_format, sessions = client_report_data(reader, episode_id, client_id)
    forms = default_forms(age_group, episode_format)
    font = _register_font()
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    for name in ("Title", "Heading2"):
        styles[name].fontName = f"{font}-Bold"
    styles.add(styles["BodyText"].clone("small", fontSize=8, leading=10))
    styles.add(styles["BodyText"].clone("cell", fontSize=7, leading=8.5))
    styles.add(styles["BodyText"].clone("head", fontSize=7, leading=8.5, fontName=f"{font}-Bold"))

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(html.escape(text), styles[style])

    title = tr.text("client_report.title")
    story: list[Any] = [
        para(title, "Title"),
        para(tr.text("client_report.subtitle", client=client, episode=episode_id)),
        para(tr.text("client_report.generated", date=tr.date(today)), "small"),
        Spacer(1, 0.3 * cm),
    ]
    if sessions.empty:
        story.append(para(tr.text("client_report.no_sessions")))
    else:
        width = A4[0] - 3 * cm
        cutoffs = (config.ors_cutoff(age_group), config.srs_cutoff)
        figure = client_graph_figure(sessions, forms, cutoffs, tr)
        png = io.BytesIO()
        figure.savefig(png, format="png")
        story += [
            para(tr.text("client_report.graph"), "Heading2"),
            Image(io.BytesIO(png.getvalue()), width=width, height=width * 3.3 / 7.0),
            para(tr.text("client_report.in_plain_words"), "Heading2"),
            *(para(s) for s in plain_sentences(sessions, today, tr, config)),
            para(tr.text("client_report.table"), "Heading2"),
        ]
        shown = sessions.tail(MAX_TABLE_ROWS)
        story.append(_table(shown, forms, tr, styles))
        story.append(para(_item_legend(forms, tr), "small"))
        if len(shown) < len(sessions):
            story.append(
                para(
                    tr.text("client_report.earlier", shown=len(shown), total=len(sessions)),
                    "small",
                )
            )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.3 * cm,
        bottomMargin=1.3 * cm,
        title=f"{title} {client} {episode_id}",
        author="fitdata",
    )
    frame = (A4[0] - 3 * cm, A4[1] - 2.6 * cm - 12)  # the template's frame, less its padding
    document.build([KeepInFrame(*frame, content=story, mode="shrink")])
    return buffer.getvalue()
