"""A page section computed only when its button is pressed: heading, explanation, button, figures.

Sections whose figures take seconds the first time (the follow-up of every flagged case, on the
service page and on the therapist development page) show their heading, what they count and a
button; :meth:`DeferredSection.open` (the button) hides it and draws the figures, and from then
on each change of the page's selection re-draws them (:meth:`DeferredSection._draw`, from the
kernel's cache), so the page's other callbacks never wait for them.
"""

from __future__ import annotations

import datetime as dt
import html

import ipywidgets as widgets

from fitdata.ui.context import DashboardContext

__all__ = ["DeferredSection"]


class DeferredSection:
    """The section's widgets; a subclass draws the figures into :attr:`figures`.

    Args:
        context: The page's context (reader, language, configuration).
        heading_key: The text key of the section's heading.
        intro_key: The text key of what it counts.
        today: The day the figures are judged on (default today).
    """

    def __init__(
        self,
        context: DashboardContext,
        *,
        heading_key: str,
        intro_key: str,
        today: dt.date | None = None,
    ) -> None:
        self.context = context
        self.today = today or dt.date.today()
        tr = context.tr
        self.opened = False
        self.intro = widgets.HTML(
            f"<h3>{html.escape(tr.text(heading_key))}</h3><p>{html.escape(tr.text(intro_key))}</p>"
        )
        self.show_button = widgets.Button(
            description=tr.text("follow_up.show"), layout=widgets.Layout(width="auto")
        ).add_class("fitdata-follow-up-show")
        self.show_button.on_click(lambda _b: self.open())
        self.figures = widgets.HTML().add_class("fitdata-follow-up")
        self.widget = widgets.VBox([self.intro, self.show_button, self.figures]).add_class(
            "fitdata-follow-up-section"
        )

    def open(self) -> None:
        """Compute and show the figures (the button)."""
        self.opened = True
        self.show_button.layout.display = "none"
        self._draw()

    def _draw(self) -> None:
        """Draw the figures for the page's current selection."""
        raise NotImplementedError
