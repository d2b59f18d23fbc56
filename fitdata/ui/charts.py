"""Plotly figures. Pure: frames and rules in, a ``go.Figure`` out (tested without a browser)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from fitdata.client_status import ClientStatus
from fitdata.config import ClinicalConfig
from fitdata.i18n import Translator

__all__ = ["client_graph_figure"]

ORS_ITEMS = ("ors_individual", "ors_interpersonal", "ors_social", "ors_overall")
SRS_ITEMS = ("srs_relationship", "srs_goals", "srs_approach", "srs_overall")

# Colours chosen to stay apart for the common colour-vision deficiencies (Okabe-Ito palette).
COLOURS = {
    "ors": "#0072B2",
    "srs": "#009E73",
    "srs_low": "#D55E00",
    "collateral": "#CC79A7",
    "cutoff": "#D55E00",
    "srs_cutoff": "#009E73",
    "band": "rgba(0, 114, 178, 0.12)",
}
_MIN_SESSIONS_SHOWN = 6  # the x axis always shows room for a few sessions


def _items_text(row: pd.Series, items: tuple[str, ...], tr: Translator) -> str:
    if any(math.isnan(row[item]) for item in items):
        return tr.text("graph.total_only")
    return " · ".join(f"{tr.text(f'item.{item}')} {tr.number(row[item])}" for item in items)


def _hover_data(rows: pd.DataFrame, total: str, items: tuple[str, ...], tr: Translator) -> list:
    return [
        [tr.date(row.session_date), tr.number(row[total]), _items_text(row, items, tr)]
        for _, row in rows.iterrows()
    ]


def client_graph_figure(
    sessions: pd.DataFrame,
    status: ClientStatus,
    tr: Translator,
    config: ClinicalConfig,
    *,
    title: str = "",
) -> go.Figure:
    """The client graph: ORS and SRS per session with cutoffs and the reliable-change band.

    Args:
        sessions: One client's sessions in one episode, every rater (see
            :func:`fitdata.queries.client_sessions`).
        status: The facts computed by :func:`fitdata.client_status.client_status`.
        tr: Messages and number formats for the page's language.
        config: The thresholds the lines and band are drawn from.
        title: Figure title.
    """
    own = sessions[sessions["rater"] == "client"].sort_values("session_no")
    last_session = int(sessions["session_no"].max()) if len(sessions) else 1
    x_end = max(last_session, _MIN_SESSIONS_SHOWN) + 0.5
    x_span = [0.5, x_end]
    cutoff_text = tr.number(status.cutoff, decimals=0)
    traces: list[go.Scatter] = []

    if status.first_ors is not None:
        rc = config.ors_reliable_change
        low, high = max(status.first_ors - rc, 0.0), min(status.first_ors + rc, 40.0)
        traces.append(
            go.Scatter(
                x=[x_span[0], x_span[1], x_span[1], x_span[0], x_span[0]],
                y=[low, low, high, high, low],
                fill="toself",
                fillcolor=COLOURS["band"],
                line={"width": 0},
                mode="lines",
                hoverinfo="skip",
                name=tr.text("graph.band", rc=tr.number(rc, decimals=0)),
            )
        )
    traces.append(
        go.Scatter(
            x=x_span,
            y=[status.cutoff, status.cutoff],
            mode="lines",
            line={"color": COLOURS["cutoff"], "dash": "dash", "width": 2},
            hoverinfo="skip",
            name=tr.text(
                "graph.cutoff",
                cutoff=cutoff_text,
                group=tr.text(f"age_group.{status.age_group}"),
            ),
        )
    )
    traces.append(
        go.Scatter(
            x=x_span,
            y=[config.srs_cutoff, config.srs_cutoff],
            mode="lines",
            line={"color": COLOURS["srs_cutoff"], "dash": "dot", "width": 2},
            hoverinfo="skip",
            name=tr.text("graph.srs_cutoff", cutoff=tr.number(config.srs_cutoff, decimals=0)),
        )
    )

    ors = own.dropna(subset=["ors_total"])
    traces.append(
        go.Scatter(
            x=ors["session_no"].tolist(),
            y=ors["ors_total"].tolist(),
            mode="lines+markers",
            line={"color": COLOURS["ors"], "width": 3},
            marker={"size": 10},
            name="ORS",
            customdata=_hover_data(ors, "ors_total", ORS_ITEMS, tr),
            hovertemplate=tr.text("graph.hover_ors") + "<extra></extra>",
        )
    )
    srs = own.dropna(subset=["srs_total"])
    low_srs = [config.srs_below_cutoff(v) for v in srs["srs_total"]]
    traces.append(
        go.Scatter(
            x=srs["session_no"].tolist(),
            y=srs["srs_total"].tolist(),
            mode="lines+markers",
            line={"color": COLOURS["srs"], "width": 2},
            marker={
                "size": [13 if low else 9 for low in low_srs],
                "color": [COLOURS["srs_low"] if low else COLOURS["srs"] for low in low_srs],
                "symbol": ["diamond" if low else "circle" for low in low_srs],
            },
            name="SRS",
            customdata=_hover_data(srs, "srs_total", SRS_ITEMS, tr),
            hovertemplate=tr.text("graph.hover_srs") + "<extra></extra>",
        )
    )
    for rater, rows in sessions[sessions["rater"] != "client"].groupby("rater", sort=True):
        rated = rows.dropna(subset=["ors_total"]).sort_values("session_no")
        traces.append(
            go.Scatter(
                x=rated["session_no"].tolist(),
                y=rated["ors_total"].tolist(),
                mode="lines+markers",
                line={"color": COLOURS["collateral"], "dash": "dash", "width": 2},
                name=tr.text("graph.collateral", rater=tr.text(f"rater.{rater}")),
                customdata=_hover_data(rated, "ors_total", ORS_ITEMS, tr),
                hovertemplate=tr.text("graph.hover_ors") + "<extra></extra>",
            )
        )

    figure = go.Figure(data=traces)
    figure.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 18}},
        height=520,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        xaxis={"title": {"text": tr.text("graph.x_axis")}, "range": x_span, "dtick": 1},
        yaxis={"title": {"text": tr.text("graph.y_axis")}, "range": [0, 40.5], "dtick": 5},
        legend={"orientation": "h", "y": -0.15},
        hovermode="closest",
        template="plotly_white",
        font={"size": 14},
    )
    return figure
