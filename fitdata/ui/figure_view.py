"""The one way dashboards show a plotly figure: an Output widget holding a plotly mime bundle.

Why not ``go.FigureWidget``: plotly 7's FigureWidget is an anywidget whose ES module is 4.9 MB.
anywidget gives a model two seconds to initialise; on this project's 2-core machines under load
the module often takes longer ("[anywidget] Failed to initialize model"), and the figure then
silently stops following updates — the page keeps showing the first client while every other
widget moves on. Three dashboards' browser tests found this independently (plotly 7.1.0,
anywidget 0.11.0, voila 0.5.13), and it made the client graph's redraw flaky too.

Here the figure travels as ``outputs`` state of an :class:`ipywidgets.Output` — the figure's JSON
under ``application/vnd.plotly.v1+json`` — and is drawn by plotly's own renderer extension, which
Voila loads with the page. A redraw replaces that state, so there is no edit protocol to fall out
of step and nothing large to load per widget. The kernel keeps the ``go.Figure`` in
:attr:`FigureView.figure`, which is what the plain-Python tests read.

Do not set plotly's ``responsive`` config here: in an output area it gives the graph 0 px height.
"""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

__all__ = ["FigureView", "figure_outputs"]

_MIME = "application/vnd.plotly.v1+json"


def figure_outputs(figure: go.Figure) -> tuple[dict[str, Any], ...]:
    """``figure`` as the ``outputs`` of an Output widget (one plotly mime bundle)."""
    spec = json.loads(figure.to_json())  # plotly's encoder handles NumPy values and dates
    spec["config"] = {"displaylogo": False}
    return (
        {
            "output_type": "display_data",
            "data": {_MIME: spec, "text/plain": figure.layout.title.text or ""},
            "metadata": {},
        },
    )


class FigureView(widgets.Output):
    """Shows one plotly figure; :meth:`show` replaces it with another."""

    def __init__(self, figure: go.Figure | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(width="100%"))
        super().__init__(**kwargs)
        self.figure: go.Figure = go.Figure()
        self.show(go.Figure() if figure is None else figure)

    def show(self, figure: go.Figure) -> None:
        """Draw ``figure`` in place of the current one."""
        self.figure = figure
        self.outputs = figure_outputs(figure)
