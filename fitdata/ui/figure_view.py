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
of step and nothing large to load per widget.

A figure may be given as plain plotly JSON (``{"data": [...], "layout": {...}}``) or as a
``go.Figure``. Pages on a hot path give JSON: building and validating graph objects costs more
than the queries behind a change (~170 ms for the client graph). The kernel keeps exactly what
was sent in :attr:`FigureView.spec`; :attr:`FigureView.figure` turns it into a validated
``go.Figure`` on first read, which is what the plain-Python tests read.

Every figure is sent with :data:`PLOTLY_CONFIG`, the package's one plotly config: nothing in a
chart's modebar may send its data off the machine. plotly.js 3.8 (the renderer Voila loads) adds
a "Share chart..." button by default that posts the figure — client codes and scores — to
Plotly's cloud; older plotly.js had "Edit in Chart Studio" and an "Edit chart" link. Do not set
plotly's ``responsive`` config here: in an output area it gives the graph 0 px height.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

__all__ = ["PLOTLY_CONFIG", "FigureView"]

#: The plotly config of every figure the package renders (read-only). Health data stay on this
#: machine: no cloud share or "edit in Chart Studio" control, no link to plotly.com (the logo),
#: no server to send to. Download as PNG stays: plotly.js makes the image in the browser.
PLOTLY_CONFIG: MappingProxyType[str, Any] = MappingProxyType(
    {
        "displaylogo": False,
        "showLink": False,
        "linkText": "",
        "showSendToCloud": False,
        "showEditInChartStudio": False,
        "plotlyServerURL": "",
        "modeBarButtonsToRemove": ["sendDataToCloud", "sendChartToCloud", "editInChartStudio"],
    }
)

_MIME = "application/vnd.plotly.v1+json"
_EMPTY: dict[str, Any] = {"data": [], "layout": {}}


def _config() -> dict[str, Any]:
    """A fresh copy of :data:`PLOTLY_CONFIG` for one bundle (nothing can change the original)."""
    return json.loads(json.dumps(dict(PLOTLY_CONFIG)))


class FigureView(widgets.Output):
    """Shows one plotly figure; :meth:`show` replaces it, and sends nothing when unchanged."""

    def __init__(self, figure: go.Figure | dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(width="100%"))
        super().__init__(**kwargs)
        self.spec: dict[str, Any] = _EMPTY
        self.sent = 0  # how many figures went to the browser (tests count redraws)
        self._json = ""
        self._figure: go.Figure | None = None
        self.show(_EMPTY if figure is None else figure)

    def show(self, figure: go.Figure | dict[str, Any]) -> bool:
        """Draw ``figure`` in place of the current one; False when it was shown already."""
        # plotly's encoder either way: NumPy values, dates, NaN as null.
        text = figure.to_json() if isinstance(figure, go.Figure) else to_json_plotly(figure)
        if text == self._json:
            return False
        self._json = text
        self.spec = json.loads(text)
        self._figure = figure if isinstance(figure, go.Figure) else None
        title = self.spec.get("layout", {}).get("title", {})
        self.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    _MIME: {**self.spec, "config": _config()},
                    "text/plain": title.get("text", "") if isinstance(title, dict) else "",
                },
                "metadata": {},
            },
        )
        self.sent += 1
        return True

    @property
    def figure(self) -> go.Figure:
        """What is shown, as a validated ``go.Figure`` (built on first read after a change)."""
        if self._figure is None:
            self._figure = go.Figure(self.spec)
        return self._figure
