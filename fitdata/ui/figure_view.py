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

Charts speak the page's language (:func:`plotly_config`): in bokmål the figure's config selects
plotly's locale ``no`` and carries that locale's dictionary and formats itself (``config.locales``,
so no locale script has to be loaded, from a CDN or otherwise): the modebar's tooltips
("Last ned grafen som PNG"), month names on date axes and plotly's own messages. Its text is in
``fitdata/locales/<lang>/plotly.json`` (keys ``plotly.<plotly's English text>``). Every bokmål
figure also gets ``layout.separators = ", "`` (decimal comma, space between thousands) unless it
sets its own, so hover values and ticks read "4,2" as the page's text does.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

from fitdata.i18n import LANGUAGES, catalogue, environment_language

__all__ = ["PLOTLY_CONFIG", "SEPARATORS", "FigureView", "has_content", "plotly_config"]

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

#: The keys of a trace that hold its points (a trace with none of them filled draws nothing).
_POINT_KEYS = ("x", "y", "values", "z", "lat", "r")


def has_content(spec: dict[str, Any]) -> bool:
    """Whether a figure draws anything: a trace with points, or a note (annotation) in words.

    A figure without either would show bare axes (``-1 … 6``) -- a chart that says nothing and
    looks broken -- so :class:`FigureView` shows nothing in its place.
    """
    layout = spec.get("layout") or {}
    if layout.get("annotations"):
        return True
    for trace in spec.get("data") or []:
        for key in _POINT_KEYS:
            points = trace.get(key)
            if points is not None and not isinstance(points, str) and len(points) > 0:
                return True
    return False


#: plotly's ``layout.separators`` by language: decimal mark, then the thousands separator.
SEPARATORS: MappingProxyType[str, str] = MappingProxyType({"en": ".,", "nb": ", "})

#: plotly.js's name of the bokmål locale (its ``no`` locale is bokmål).
_PLOTLY_LOCALE = {"nb": "no"}
_FORMATS = ("days", "shortDays", "months", "shortMonths")


def _plotly_locale(lang: str) -> dict[str, Any]:
    """plotly.js's locale definition for ``lang``: its dictionary and date and number formats."""
    messages = catalogue(lang)
    dictionary = {
        key.removeprefix("plotly."): text
        for key, text in messages.items()
        if key.startswith("plotly.") and not key.startswith("plotly.format.")
    }
    formats: dict[str, Any] = {
        name: messages[f"plotly.format.{name}"].split(",") for name in _FORMATS
    }
    separators = SEPARATORS[lang]
    formats |= {
        "decimal": separators[0],
        "thousands": separators[1],
        "date": "%d.%m.%Y",
        "year": "%Y",
        "month": "%b %Y",
        "dayMonth": "%-d. %b",
        "dayMonthYear": "%-d. %b %Y",
    }
    return {"dictionary": dictionary, "format": formats}


def plotly_config(lang: str | None = None) -> dict[str, Any]:
    """A fresh copy of :data:`PLOTLY_CONFIG` for one figure in ``lang`` (default: the kernel's).

    In bokmål it also selects and defines plotly's ``no`` locale, so the modebar, date axes and
    plotly's messages are in bokmål. Nothing can change the original.
    """
    lang = lang if lang in LANGUAGES else environment_language()
    config: dict[str, Any] = json.loads(json.dumps(dict(PLOTLY_CONFIG)))
    if lang in _PLOTLY_LOCALE:
        name = _PLOTLY_LOCALE[lang]
        config["locale"] = name
        config["locales"] = {name: _plotly_locale(lang)}
    return config


class FigureView(widgets.Output):
    """Shows one plotly figure; :meth:`show` replaces it, and sends nothing when unchanged."""

    def __init__(
        self,
        figure: go.Figure | dict[str, Any] | None = None,
        *,
        lang: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("layout", widgets.Layout(width="100%"))
        super().__init__(**kwargs)
        #: The language of this figure's toolbar and numbers (default: the kernel's language).
        self.lang: str = lang if lang in LANGUAGES else environment_language()
        self._config = plotly_config(self.lang)
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
        layout = self.spec.setdefault("layout", {})
        if self.lang != "en" and "separators" not in layout:
            layout["separators"] = SEPARATORS[self.lang]  # 4,2 and 1 234 as the page's text
            figure = self.spec  # the figure read back must say what was sent
        self._figure = figure if isinstance(figure, go.Figure) else None
        title = self.spec.get("layout", {}).get("title", {})
        if not has_content(self.spec):  # no bare axes: nothing to draw is drawn as nothing
            self.outputs = ()
            self.sent += 1
            return True
        self.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    _MIME: {**self.spec, "config": json.loads(json.dumps(self._config))},
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
