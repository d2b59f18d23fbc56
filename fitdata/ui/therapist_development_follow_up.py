"""The therapist development page's section "My discussed cases — did it help?" (issue 22).

Private like the rest of the page: the chosen therapist's own flagged cases over the last four
quarters beside the service's
(:func:`fitdata.features.therapist_development.follow_up.therapist_follow_up`). Computed when
its button is pressed (the service's figures take seconds the first time per database version
and day), then again on each change of therapist from the kernel's cache.
"""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd

from fitdata.features.service import kernel_cache
from fitdata.features.therapist_development.follow_up import therapist_follow_up
from fitdata.features.therapist_development.scope import TherapistScope
from fitdata.outputs.report.follow_up import FOLLOW_UP_COLUMNS, follow_up_rows
from fitdata.outputs.report.html_file import table_html
from fitdata.outputs.report.layout import Column, ReportTable
from fitdata.ui.context import DashboardContext
from fitdata.ui.deferred_section import DeferredSection

__all__ = ["MyFollowUpSection"]


class MyFollowUpSection(DeferredSection):
    """Heading, explanation, the button, then the two rows and the notes.

    Args:
        context: The page's context.
        today: The day judged on (default today).
    """

    def __init__(self, context: DashboardContext, *, today: dt.date | None = None) -> None:
        super().__init__(
            context, heading_key="follow_up.my.heading", intro_key="follow_up.my.intro", today=today
        )
        self.scope: TherapistScope | None = None
        self.table: pd.DataFrame | None = None

    def show(self, scope: TherapistScope | None) -> None:
        """The therapist chosen; re-drawn when the section is open."""
        self.scope = scope
        if self.opened:
            self._draw()

    def _draw(self) -> None:
        tr = self.context.tr
        if self.scope is None:
            self.figures.value = ""
            return
        table = therapist_follow_up(
            self.scope,
            self.context.reader,
            comparison_reader=self.context.aggregate_reader,
            as_of=self.today,
            cache=kernel_cache(),
        )
        self.table = table
        labels = {
            "therapist": tr.text("follow_up.my.me"),
            "service": tr.text("follow_up.my.service"),
        }
        shown = table.assign(label=[labels[level] for level in table["level"]])
        key = Column("label", "follow_up.col.period", -1)
        columns = (key, *FOLLOW_UP_COLUMNS)
        quarters = table.attrs["quarters"]
        report = ReportTable(
            "follow_up_mine",
            tr.text("follow_up.my.table", first=quarters[0], last=quarters[-1]),
            [tr.text("follow_up.my.level"), *(tr.text(c.header) for c in FOLLOW_UP_COLUMNS)],
            [c.decimals for c in columns],
            follow_up_rows(shown, columns),
            min_cell_size=self.scope.config.min_cell_size,
        )
        config = self.scope.config
        notes = [
            tr.text(
                "follow_up.rule", sessions=config.follow_up_sessions, weeks=config.follow_up_weeks
            ),
            tr.text("follow_up.note.judged"),
            tr.text("follow_up.note.not_causal"),
            tr.text("follow_up.my.hidden", n=config.min_cell_size),
        ]
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        self.figures.value = (
            f'<div class="fitdata-table-box fitdata-t-follow_up_mine">'
            f"<h4>{html.escape(report.title)}</h4>{table_html(report, tr)}</div>"
            f'<ul class="fitdata-follow-up-notes">{items}</ul>'
        )
