"""The service page's section "Discussed cases — did it help?", computed when it is opened.

The figures (:func:`fitdata.features.service.follow_up.follow_up_summary`) rest on the
follow-up of every flagged case, which takes seconds at a million sessions the first time per
database version and day. So the section shows its heading, what it counts and a button; only
when the button is pressed are the figures computed (then kept in the kernel's cache and
stored beside the database), and from then on each filter change re-draws it from the cache:
the filter callbacks of the rest of the page never wait for it. The tables are those of the
report (:func:`fitdata.outputs.report.follow_up.follow_up_tables`), with their hidden marks.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from typing import TYPE_CHECKING

from fitdata.features.service import ServiceFilters, kernel_cache
from fitdata.outputs.report.html_file import table_html
from fitdata.ui.context import DashboardContext
from fitdata.ui.deferred_section import DeferredSection

if TYPE_CHECKING:  # imported when the section is opened: the page's import stays as it was
    from fitdata.features.service.follow_up import FollowUpSummary

__all__ = ["FollowUpSection"]

log = logging.getLogger(__name__)


class FollowUpSection(DeferredSection):
    """The section's widgets: heading, explanation, the button, then the figures.

    Args:
        context: The page's context (reader, language, configuration).
        today: The day the follow-up is judged on (default today).
    """

    def __init__(self, context: DashboardContext, *, today: dt.date | None = None) -> None:
        super().__init__(
            context, heading_key="follow_up.heading", intro_key="follow_up.intro", today=today
        )
        self.summary: FollowUpSummary | None = None
        self._filters: ServiceFilters | None = None
        self._shown: tuple[object, ...] | None = None

    def show(self, filters: ServiceFilters) -> None:
        """Keep the page's selection; re-draw only when the section is open and it changed."""
        self._filters = filters
        if self.opened:
            self._draw()

    def open(self) -> None:
        """Compute and show the figures (the button), saying so while they are computed."""
        self.figures.value = f"<p>{html.escape(self.context.tr.text('follow_up.computing'))}</p>"
        super().open()

    def _draw(self) -> None:
        if self._filters is None:
            return
        reader = self.context.reader
        filters = self._filters
        key = (filters.service, filters.period, filters.team_id, reader.file_identity())
        if key == self._shown:
            return
        from fitdata.features.service.follow_up import follow_up_summary
        from fitdata.outputs.report.follow_up import follow_up_notes, follow_up_tables

        tr = self.context.tr
        summary = follow_up_summary(
            reader, filters, as_of=self.today, config=self.context.config, cache_=kernel_cache()
        )
        self.summary = summary
        parts = []
        for table in follow_up_tables(summary, tr):
            keys = [str(v) for v in summary.teams["team_id"]] if "teams" in table.name else []
            parts.append(
                f'<div class="fitdata-table-box fitdata-t-{table.name}">'
                f"<h4>{html.escape(table.title)}</h4>{table_html(table, tr, row_keys=keys)}</div>"
            )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in follow_up_notes(summary, tr))
        parts.append(f'<ul class="fitdata-follow-up-notes">{notes}</ul>')
        self.figures.value = "".join(parts)
        self._shown = key
