"""The client's own graph on their page: their ORS over the sessions, today's point highlighted.

Drawn for the client, not the clinician: one line of their own total scores (0-40) by session,
today's point larger and labelled, no cutoff, no band, no code or name, and no plotly toolbar
at all (:data:`CLIENT_PLOTLY_CONFIG`: the package's :data:`~fitdata.ui.figure_view.
PLOTLY_CONFIG` with the modebar hidden); the axes are fixed, so a finger on the graph scrolls
the page instead of zooming.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from fitdata.features.client_page import score_text
from fitdata.i18n import Translator
from fitdata.ui.figure_view import PLOTLY_CONFIG, FigureView

__all__ = ["CLIENT_PLOTLY_CONFIG", "ClientFigure", "client_history_figure"]

#: The plotly config of the client's graph: the package's config, and no toolbar.
CLIENT_PLOTLY_CONFIG: MappingProxyType[str, Any] = MappingProxyType(
    {**PLOTLY_CONFIG, "displayModeBar": False, "scrollZoom": False, "doubleClick": False}
)

_LINE = "#1f4e79"
_TODAY = "#d35400"


class ClientFigure(FigureView):
    """A :class:`~fitdata.ui.figure_view.FigureView` sent with :data:`CLIENT_PLOTLY_CONFIG`."""

    def show(self, figure: go.Figure | dict[str, Any]) -> bool:
        """Draw ``figure`` (see :meth:`FigureView.show`), with the client page's config."""
        changed = super().show(figure)
        if changed:
            config = {key: value for key, value in CLIENT_PLOTLY_CONFIG.items()}
            config["modeBarButtonsToRemove"] = list(config["modeBarButtonsToRemove"])
            self.outputs = tuple(
                {
                    **output,
                    "data": {
                        mime: ({**bundle, "config": config} if isinstance(bundle, dict) else bundle)
                        for mime, bundle in output["data"].items()
                    },
                }
                for output in self.outputs
            )
        return changed


def client_history_figure(history: pd.DataFrame, tr: Translator) -> dict[str, Any]:
    """The client's ORS totals by session as plotly JSON, today's point highlighted.

    Args:
        history: ``session_no``, ``ors_total`` and ``today`` (bool) of the client's own ORS
            (:attr:`fitdata.features.client_page.ClientPageData.history`).
        tr: The page's language (axis titles, number format, "Today").
    """
    rows = history.dropna(subset=["ors_total"]).sort_values("session_no")
    x = [int(n) for n in rows["session_no"]]
    y = [float(v) for v in rows["ors_total"]]
    texts = [score_text(v, tr) for v in y]
    hover = tr.text("client_page.graph.hover")
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": y,
            "customdata": texts,
            "hovertemplate": hover + "<extra></extra>",
            "line": {"color": _LINE, "width": 4},
            "cliponaxis": False,  # a point at 40 or at the last session is drawn whole
            "marker": {"size": 12 if len(x) <= 12 else 8, "color": _LINE},
            "name": tr.text("client_page.graph.yours"),
            "showlegend": False,
        }
    ]
    annotations: list[dict[str, Any]] = []
    today = rows[rows["today"].astype(bool)] if "today" in rows else rows.iloc[0:0]
    if len(today):
        tx, ty = int(today["session_no"].iloc[-1]), float(today["ors_total"].iloc[-1])
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [tx],
                "y": [ty],
                "customdata": [score_text(ty, tr)],
                "hovertemplate": hover + "<extra></extra>",
                "marker": {
                    "size": 22,
                    "color": _TODAY,
                    "line": {"color": "#ffffff", "width": 3},
                },
                "cliponaxis": False,
                "name": tr.text("client_page.graph.today"),
                "showlegend": False,
            }
        )
        # a key above the graph (never over the line): the orange dot is today
        annotations.append(
            {
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": 1.02,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"<span style='color:{_TODAY}'>\u25cf</span> "
                f"<b>{tr.text('client_page.graph.today')}: {score_text(ty, tr)}</b>",
                "font": {"size": 18, "color": "#222222"},
            }
        )
    last = max(x) if x else 1
    return {
        "data": data,
        "layout": {
            "height": 340,
            "margin": {"l": 64, "r": 24, "t": 44, "b": 64},
            "font": {"size": 16},
            "dragmode": False,
            "hovermode": "closest",
            "showlegend": False,
            "plot_bgcolor": "#ffffff",
            "paper_bgcolor": "#ffffff",
            "annotations": annotations,
            "xaxis": {
                "title": {"text": tr.text("client_page.graph.session")},
                "tickmode": "linear",
                # at most about eight labels, upright, so a phone-wide axis stays readable
                "dtick": max(1, math.ceil(last / 8)),
                "tickangle": 0,
                "tick0": 1,
                "range": [0.5, last + 0.5],
                "fixedrange": True,
                "gridcolor": "#eeeeee",
            },
            "yaxis": {
                "title": {"text": tr.text("client_page.graph.score")},
                "range": [0, 40.5],
                "dtick": 10,
                "fixedrange": True,
                "gridcolor": "#eeeeee",
                "separatethousands": False,
            },
            "separators": ",." if tr.lang == "nb" else ".,",
        },
    }
