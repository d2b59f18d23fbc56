"""The client graph as plotly JSON. Pure: frames and rules in, a figure spec out.

The spec is plain dicts and lists (``{"data": [...], "layout": {...}}``), not plotly graph
objects: building and validating a ``go.Figure`` took ~170 ms of every team review change at
1 million sessions, more than the queries behind it. Tests validate it by passing it to
``go.Figure`` (see ``tests/unit/test_charts.py``); the browser tests see what plotly.js draws.

A session without a score breaks the client's ORS or SRS line (:func:`score_trace` with
``gaps=True``): a line drawn straight across it would read as if the score had been measured.
A dotted bridge was the other choice; it was left because the participants' SRS lines are
dotted already, so a dotted bridge would look like an SRS. An episode that has ended gets a
vertical line after its last session, labelled with how and when it ended (:func:`end_marker`).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd
import plotly.io as pio

from fitdata.analytics.client_status import ClientStatus, EpisodeEnd
from fitdata.config import ClinicalConfig
from fitdata.i18n import Translator
from fitdata.vocabulary import ORS_ITEMS, SRS_ITEMS

__all__ = [
    "COLOURS",
    "FLAG_COLOURS",
    "FLAG_SYMBOLS",
    "PARTICIPANT_STYLES",
    "ParticipantSeries",
    "Spec",
    "client_graph_spec",
    "add_end_marker",
    "cutoff_line",
    "end_marker",
    "episode_graph",
    "form_traces",
    "gap_slots",
    "no_sessions",
    "participant_label",
    "plotly_template",
    "rc_band",
    "scatter",
    "score_trace",
    "srs_cutoff_line",
    "srs_marker",
]

Spec = dict[str, Any]


# Colours chosen to stay apart for the common colour-vision deficiencies (Okabe-Ito palette).
COLOURS = {
    "ors": "#0072B2",
    "srs": "#009E73",
    "srs_low": "#D55E00",
    "collateral": "#CC79A7",
    "cutoff": "#D55E00",
    "srs_cutoff": "#009E73",
    "band": "rgba(0, 114, 178, 0.12)",
    "expected": "#56B4E9",
    "expected_lower": "#E69F00",
    "expected_band": "rgba(86, 180, 233, 0.15)",
    "end": "#333333",
}
_MIN_SESSIONS_SHOWN = 6  # the x axis always shows room for a few sessions

#: Colour of each flag code (chips in tables, markers in the graph): Okabe-Ito, one hue per
#: kind of concern (outcome red, alliance orange, stagnation purple, contact blue, missing grey).
FLAG_COLOURS: dict[str, str] = {
    "not_on_track": "#D55E00",
    "no_reliable_change": "#CC79A7",
    "reliable_deterioration": "#882255",
    "srs_below_cutoff": "#E69F00",
    "srs_drop": "#E69F00",
    "srs_item_below": "#E69F00",
    "srs_always_40": "#E69F00",
    "missing_ors": "#777777",
    "missing_srs": "#777777",
    "not_seen": "#0072B2",
}
#: Plotly marker symbol of each flag code in the graph.
FLAG_SYMBOLS: dict[str, str] = {
    "not_on_track": "x",
    "no_reliable_change": "square-open",
    "reliable_deterioration": "triangle-down",
    "srs_below_cutoff": "diamond-open",
    "srs_drop": "triangle-down-open",
    "srs_item_below": "star-diamond-open",
    "srs_always_40": "star-open",
    "missing_ors": "circle-x-open",
    "missing_srs": "circle-x-open",
    "not_seen": "hourglass",
}
# Where a flag's marker sits: on the ORS point, on the SRS point, or on the axis floor.
_FLAG_SERIES = {
    "not_on_track": "ors",
    "no_reliable_change": "ors",
    "reliable_deterioration": "ors",
    "srs_below_cutoff": "srs",
    "srs_drop": "srs",
    "srs_item_below": "srs",
    "srs_always_40": "srs",
    "missing_ors": "floor",
    "missing_srs": "floor",
    "not_seen": "ors",
}
_FLOOR = 1.0  # y of markers that have no score to sit on (missing feedback)


@cache
def plotly_template(name: str) -> Spec:
    """Plotly's named layout template as JSON (plotly.js knows no template names).

    Made once per process and shared by every figure that uses it: do not change it.
    """
    return pio.templates[name].to_plotly_json()


def scatter(**properties: Any) -> Spec:
    """A scatter trace as plotly JSON: the same properties as ``go.Scatter``, unvalidated."""
    return {"type": "scatter", **properties}


def gap_slots(numbers: Sequence[int]) -> list[tuple[int, int | None]]:
    """The points of a line over sessions ``numbers`` (ascending), a gap where one is missing.

    Each slot is a session number and the position in ``numbers`` of its score, or None for a
    session between two scored ones that has no score (a gap the line must not bridge). No
    slot is added before the first or after the last score: the group exercise must not learn
    of sessions it has not been shown.
    """
    slots: list[tuple[int, int | None]] = []
    for position, number in enumerate(numbers):
        if position:
            slots.extend((missing, None) for missing in range(numbers[position - 1] + 1, number))
        slots.append((number, position))
    return slots


def _spread(slots: list[tuple[int, int | None]], values: Sequence[Any], fill: Any = None) -> list:
    """``values`` laid out on ``slots``: ``fill`` in every gap."""
    return [fill if position is None else values[position] for _, position in slots]


def score_trace(
    rows: pd.DataFrame, column: str, *, hover: str, gaps: bool = False, **properties: Any
) -> Spec:
    """A form's scores by session number as a line with markers; ``hover`` is its template.

    With ``gaps`` the rows are one form's scored sessions (no NaN) and the line breaks at each
    session number missing between two of them: that session is a point with no value
    (``None``; plotly's ``connectgaps`` stays false), its ``customdata`` None as well.
    """
    x = [int(no) for no in rows["session_no"]]
    y = rows[column].tolist()
    if gaps:
        slots = gap_slots(x)
        x, y = [no for no, _ in slots], _spread(slots, y)
        if isinstance(properties.get("customdata"), list):
            properties["customdata"] = _spread(slots, properties["customdata"])
        properties.setdefault("connectgaps", False)
    return scatter(
        x=x,
        y=y,
        mode="lines+markers",
        hovertemplate=hover + "<extra></extra>",
        **properties,
    )


def _spread_marker(marker: Spec, rows: pd.DataFrame, fills: Spec) -> Spec:
    """A marker whose per-point lists are laid out on the gapped line of ``rows``."""
    slots = gap_slots([int(no) for no in rows["session_no"]])
    spread = {}
    for key, value in marker.items():
        if isinstance(value, list):
            spread[key] = _spread(slots, value, fills.get(key))
        elif isinstance(value, dict):
            spread[key] = _spread_marker(value, rows, fills.get(key, {}))
        else:
            spread[key] = value
    return spread


def form_traces(
    own: pd.DataFrame,
    config: ClinicalConfig,
    *,
    hover: tuple[str, str],
    customdata: Callable[[pd.DataFrame, str], list[Any]],
    widths: tuple[int, int],
    sizes: tuple[int, int, int],
    **extra: Any,
) -> list[Spec]:
    """The ORS and SRS lines of a client's own ratings, an SRS below the cutoff marked.

    Each line breaks where a session has no score of its form (see :func:`score_trace`).

    Args:
        own: The client's own ratings, one row per session.
        config: The SRS cutoff.
        hover: The ORS and SRS hover templates.
        customdata: The hover values of some rows' ``ors_total`` or ``srs_total``.
        widths: The ORS and SRS line widths.
        sizes: The ORS marker size, the SRS marker size, and that of an SRS below the cutoff.
        extra: Further properties of both traces (e.g. ``showlegend``).
    """
    ors = own.dropna(subset=["ors_total"])
    srs = own.dropna(subset=["srs_total"])
    marker = srs_marker(srs["srs_total"], config, size=sizes[1], low_size=sizes[2])
    normal = {"size": sizes[1], "color": COLOURS["srs"], "symbol": "circle"}
    return [
        score_trace(
            ors,
            "ors_total",
            hover=hover[0],
            gaps=True,
            line={"color": COLOURS["ors"], "width": widths[0]},
            marker={"size": sizes[0]},
            name="ORS",
            customdata=customdata(ors, "ors_total"),
            **extra,
        ),
        score_trace(
            srs,
            "srs_total",
            hover=hover[1],
            gaps=True,
            line={"color": COLOURS["srs"], "width": widths[1]},
            marker=_spread_marker(marker, srs, normal),
            name="SRS",
            customdata=customdata(srs, "srs_total"),
            **extra,
        ),
    ]


def no_sessions() -> pd.DataFrame:
    """A client with no sessions yet, in the columns :func:`client_graph_spec` reads."""
    return pd.DataFrame(columns=["session_no", "session_date", "rater", "ors_total", "srs_total"])


def rc_band(
    x_span: list[float],
    first_ors: float | None,
    tr: Translator,
    config: ClinicalConfig,
    **extra: Any,
) -> Spec:
    """The band of reliable change around the first ORS (no points when there is none)."""
    x: list[float] = []
    y: list[float] = []
    rc = config.ors_reliable_change
    if first_ors is not None:
        low, high = max(first_ors - rc, 0.0), min(first_ors + rc, 40.0)
        x = [x_span[0], x_span[1], x_span[1], x_span[0], x_span[0]]
        y = [low, low, high, high, low]
    return scatter(
        x=x,
        y=y,
        fill="toself",
        fillcolor=COLOURS["band"],
        line={"width": 0},
        mode="lines",
        hoverinfo="skip",
        name=tr.text("graph.band", rc=tr.number(rc, decimals=0)),
        **extra,
    )


def _level(
    x_span: list[float], y: float, colour: str, dash: str, width: int, name: str, **extra: Any
) -> Spec:
    line = {"color": colour, "dash": dash, "width": width}
    return scatter(
        x=x_span, y=[y, y], mode="lines", line=line, hoverinfo="skip", name=name, **extra
    )


def cutoff_line(
    x_span: list[float],
    cutoff: float,
    age_group: str,
    tr: Translator,
    *,
    width: int,
    **extra: Any,
) -> Spec:
    """The ORS clinical cutoff of the client's age group across the graph."""
    name = tr.text(
        "graph.cutoff",
        cutoff=tr.number(cutoff, decimals=0),
        group=tr.text(f"age_group.{age_group}"),
    )
    return _level(x_span, cutoff, COLOURS["cutoff"], "dash", width, name, **extra)


def srs_cutoff_line(
    x_span: list[float], tr: Translator, config: ClinicalConfig, *, width: int, **extra: Any
) -> Spec:
    """The SRS cutoff across the graph."""
    name = tr.text("graph.srs_cutoff", cutoff=tr.number(config.srs_cutoff, decimals=0))
    return _level(x_span, config.srs_cutoff, COLOURS["srs_cutoff"], "dot", width, name, **extra)


def srs_marker(
    totals: Iterable[float], config: ClinicalConfig, *, size: int, low_size: int
) -> Spec:
    """SRS points, a session below the SRS cutoff larger, orange and a diamond."""
    low = [config.srs_below_cutoff(v) for v in totals]
    return {
        "size": [low_size if below else size for below in low],
        "color": [COLOURS["srs_low"] if below else COLOURS["srs"] for below in low],
        "symbol": ["diamond" if below else "circle" for below in low],
    }


# The graph shows one client-episode: a few dozen rows at most. Plain loops over records are
# several times faster here than pandas operations, whose fixed cost per call dominates.
Row = dict[str, Any]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _items_text(row: Row, items: tuple[str, ...], tr: Translator) -> str:
    if any(_missing(row[item]) for item in items):
        return tr.text("graph.total_only")
    return " · ".join(f"{tr.text(f'item.{item}')} {tr.number(row[item])}" for item in items)


def _when(row: Row, tr: Translator, start: pd.Timestamp | None) -> str:
    """The session's date, or weeks since the first session when dates are hidden."""
    if start is None:
        return tr.date(row["session_date"])
    weeks = max(0, (pd.Timestamp(row["session_date"]) - start).days // 7)
    return tr.count_text("review.graph.week", weeks, weeks=weeks)


def _hover_data(
    rows: pd.DataFrame,
    total: str,
    items: tuple[str, ...],
    tr: Translator,
    start: pd.Timestamp | None = None,
) -> list[list[str]]:
    return [
        [_when(row, tr, start), tr.number(row[total]), _items_text(row, items, tr)]
        for row in rows.to_dict("records")
    ]


def _expected_traces(expected: pd.DataFrame, tr: Translator, lower_percentile: float) -> list[Spec]:
    """Lower line and median line of the expected trajectory, the band between them filled."""
    usable = expected[expected["sufficient"].astype(bool)].sort_values("session_no")
    counts = usable["n_episodes"].astype(int)
    episodes = (
        tr.number(counts.min(), decimals=0)
        if counts.min() == counts.max()
        else f"{tr.number(counts.min(), decimals=0)}\u2013{tr.number(counts.max(), decimals=0)}"
    )
    x = usable["session_no"].astype(int).tolist()
    customdata = [tr.number(n, decimals=0) for n in counts]
    percentile = tr.number(100 * lower_percentile, decimals=0)
    lower = scatter(
        x=x,
        y=usable["lower"].astype(float).round(2).tolist(),
        mode="lines",
        line={"color": COLOURS["expected_lower"], "dash": "dash", "width": 2},
        name=tr.text("review.graph.expected_lower", percentile=percentile),
        customdata=customdata,
        # The template holds plotly's %{x} as well, so the percentile is put in by hand.
        hovertemplate=tr.text("review.graph.hover_expected_lower").replace(
            "{percentile}", percentile
        )
        + "<extra></extra>",
        legendgroup="expected",
    )
    median = scatter(
        x=x,
        y=usable["expected"].astype(float).round(2).tolist(),
        mode="lines",
        line={"color": COLOURS["expected"], "width": 2},
        fill="tonexty",
        fillcolor=COLOURS["expected_band"],
        name=tr.text("review.graph.expected", episodes=episodes),
        customdata=customdata,
        hovertemplate=tr.text("review.graph.hover_expected") + "<extra></extra>",
        legendgroup="expected",
    )
    return [lower, median]


def _missing_expected_note(expected: pd.DataFrame, tr: Translator) -> str:
    """Why no expected trajectory is drawn, in the page's language."""
    reasons = expected["reason"].dropna().astype(str)
    reason = reasons.iloc[-1] if len(reasons) else ""
    fewest = re.search(r"n < (\d+)", reason)
    if fewest:
        return tr.text("review.graph.expected_too_few", min=fewest.group(1))
    return tr.text("review.graph.expected_no_intake")


def _flag_traces(flag_markers: pd.DataFrame, own: pd.DataFrame, tr: Translator) -> list[Spec]:
    """One marker trace per flag code, at the sessions where it fired, the rule on hover."""
    scores: dict[str, dict[int, float]] = {"ors": {}, "srs": {}}
    for no, ors, srs in zip(own["session_no"], own["ors_total"], own["srs_total"], strict=True):
        scores["ors"].setdefault(int(no), float(ors))  # the first row of a session number
        scores["srs"].setdefault(int(no), float(srs))
    rules = flag_markers["rule"] if "rule" in flag_markers else [""] * len(flag_markers)
    by_code: dict[str, list[tuple[int, str]]] = {}
    for no, code, rule in zip(flag_markers["session_no"], flag_markers["flag"], rules, strict=True):
        by_code.setdefault(str(code), []).append((int(no), "" if _missing(rule) else str(rule)))
    order = {code: i for i, code in enumerate(FLAG_COLOURS)}
    traces = []
    for code in sorted(by_code, key=lambda c: order.get(c, len(order))):  # ten codes at most
        marks = sorted(by_code[code], key=lambda mark: mark[0])
        on = scores.get(_FLAG_SERIES.get(code, "floor"), {})
        y = [on.get(no, math.nan) for no, _ in marks]
        colour = FLAG_COLOURS.get(code, "#000000")
        traces.append(
            scatter(
                x=[no for no, _ in marks],
                y=[_FLOOR if math.isnan(value) else value for value in y],
                mode="markers",
                marker={
                    "symbol": FLAG_SYMBOLS.get(code, "circle-open"),
                    "size": 17,
                    "color": colour,
                    "line": {"width": 2, "color": colour},
                },
                name=tr.text(f"flag.label.{code}"),
                customdata=[rule for _, rule in marks],
                hovertemplate="%{customdata}<extra>" + tr.text(f"flag.label.{code}") + "</extra>",
                meta={"flag": code},
            )
        )
    return traces


def client_graph_spec(
    sessions: pd.DataFrame,
    status: ClientStatus,
    tr: Translator,
    config: ClinicalConfig,
    *,
    title: str = "",
    expected: pd.DataFrame | None = None,
    lower_percentile: float = 0.25,
    flag_markers: pd.DataFrame | None = None,
    show_dates: bool = True,
    ended: EpisodeEnd | None = None,
) -> Spec:
    """The client graph: ORS and SRS per session with cutoffs and the reliable-change band.

    Every keyword is optional; without them the graph is the plain client graph.

    Args:
        sessions: One client's sessions in one episode, every rater (see
            :func:`fitdata.data.queries.client_sessions`).
        status: The facts computed by :func:`fitdata.analytics.client_status.client_status`.
        tr: Messages and number formats for the page's language.
        config: The thresholds the lines and band are drawn from.
        title: Figure title.
        expected: The expected trajectory for this client, one row per session number
            (:meth:`fitdata.analytics.trajectory.TrajectoryModel.predict`: ``session_no``,
            ``expected``, ``lower``, ``n_episodes``, ``sufficient``, ``reason``). Sessions with
            enough episodes get a median line and a lower line with the band between them filled;
            the legend names the number of episodes behind them. When no session has enough,
            the graph says why (the model's ``reason``) and keeps the reliable-change band.
        lower_percentile: The percentile of the lower line, for its legend (0.25: the 25th).
        flag_markers: Flags to mark, one row per (session, flag): ``session_no``, ``flag`` (a
            code of :data:`fitdata.analytics.flags.FLAGS`) and optionally ``rule`` (shown on hover),
            e.g. :func:`fitdata.analytics.flags.session_flags`. A marker sits on the ORS point for
            outcome flags, on the SRS point for alliance flags, on the floor for missing feedback.
        show_dates: False replaces session dates on hover by weeks since the first session
            (for anonymised presentation), and the end marker names no date.
        ended: How the episode ended, or None while it is ongoing: a vertical line after the
            last session, "Ended (planned) 2026-03-12" (:func:`end_marker`), with one session's
            room to its right for the label.
    """
    own = sessions[sessions["rater"] == "client"].sort_values("session_no")
    last_session = int(sessions["session_no"].max()) if len(sessions) else 0
    x_span = _x_span(last_session, ended)
    traces: list[Spec] = []
    start = None
    if not show_dates and len(sessions):
        start = pd.Timestamp(pd.to_datetime(sessions["session_date"]).min())
    notes: list[str] = []

    if status.first_ors is not None:
        traces.append(rc_band(x_span, status.first_ors, tr, config))
    if expected is not None and len(expected):
        if expected["sufficient"].astype(bool).any():
            traces.extend(_expected_traces(expected, tr, lower_percentile))
        else:
            notes.append(_missing_expected_note(expected, tr))
    traces.append(cutoff_line(x_span, status.cutoff, status.age_group, tr, width=2))
    traces.append(srs_cutoff_line(x_span, tr, config, width=2))

    items = {"ors_total": ORS_ITEMS, "srs_total": SRS_ITEMS}
    traces.extend(
        form_traces(
            own,
            config,
            hover=(tr.text("graph.hover_ors"), tr.text("graph.hover_srs")),
            customdata=lambda rows, total: _hover_data(rows, total, items[total], tr, start),
            widths=(3, 2),
            sizes=(10, 9, 13),
        )
    )
    for rater, rows in sessions[sessions["rater"] != "client"].groupby("rater", sort=True):
        rated = rows.dropna(subset=["ors_total"]).sort_values("session_no")
        traces.append(
            score_trace(
                rated,
                "ors_total",
                hover=tr.text("graph.hover_ors"),
                line={"color": COLOURS["collateral"], "dash": "dash", "width": 2},
                name=tr.text("graph.collateral", rater=tr.text(f"rater.{rater}")),
                customdata=_hover_data(rated, "ors_total", ORS_ITEMS, tr, start),
            )
        )

    if flag_markers is not None and len(flag_markers):
        traces.extend(_flag_traces(flag_markers, own, tr))

    layout = _graph_layout(tr, title, x_span, notes)
    if ended is not None:
        add_end_marker(layout, end_marker(last_session + 0.5, ended, tr, show_dates=show_dates))
    return {"data": traces, "layout": layout}


def _x_span(last_session: int, ended: EpisodeEnd | None) -> list[float]:
    """The x range: a few sessions at least, and room for an end marker's label."""
    reserved = last_session + 1 if ended is not None else last_session
    return [0.5, max(reserved, _MIN_SESSIONS_SHOWN) + 0.5]


def end_marker(x: float, ended: EpisodeEnd, tr: Translator, *, show_dates: bool = True) -> Spec:
    """The marker of an ended episode: a vertical line at ``x`` and its label.

    The label ("Ended (planned) 2026-03-12", "Avsluttet (planlagt) 12.03.2026"; without the
    date when ``show_dates`` is False) stands upright to the right of the line, in the room
    the graph keeps after the last session, so it never covers a score.

    Returns:
        ``{"shape": ..., "annotation": ...}``, both named ``episode-end``.
    """
    end_type = tr.text(f"status.end_type.{ended.end_type}")
    if show_dates:
        text = tr.text("episode_graph.ended.dated", end_type=end_type, date=tr.date(ended.date))
    else:
        text = tr.text("episode_graph.ended", end_type=end_type)
    shape = {
        "type": "line",
        "name": "episode-end",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": COLOURS["end"], "width": 2},
        "layer": "below",
    }
    annotation = {
        "name": "episode-end",
        "text": html.escape(text),
        "xref": "x",
        "yref": "paper",
        "x": x,
        # From the floor up: the cutoff lines' labels sit at the right end higher up.
        "y": 0.01,
        "xanchor": "left",
        "yanchor": "bottom",
        "xshift": 3,
        "textangle": -90,
        "showarrow": False,
        "font": {"size": 13, "color": COLOURS["end"]},
        "bgcolor": "rgba(255, 255, 255, 0.85)",
    }
    return {"shape": shape, "annotation": annotation}


def add_end_marker(layout: Spec, marker: Spec) -> None:
    """Draw an :func:`end_marker` in ``layout``; the x axis numbers the sessions before it only.

    For graphs built without :func:`client_graph_spec` (the group exercise's): keep one
    session's room after the marker in the x range for its label, as :func:`client_graph_spec`
    does.
    """
    layout["shapes"] = [*layout.get("shapes", []), marker["shape"]]
    layout["annotations"] = [*layout.get("annotations", []), marker["annotation"]]
    last = math.floor(marker["shape"]["x0"])
    layout["xaxis"] = {**layout["xaxis"], "tickmode": "array", "tickvals": list(range(1, last + 1))}


def _graph_layout(
    tr: Translator,
    title: str,
    x_span: list[float],
    notes: list[str],
    *,
    height: int = 520,
    legend: Spec | None = None,
    margin_right: int = 20,
) -> Spec:
    """The layout of the client graph (one participant or several), notes in the lower left."""
    annotations = [
        {
            "text": note,
            "xref": "paper",
            "yref": "paper",
            "x": 0.01,
            "y": 0.02 + 0.06 * index,
            "xanchor": "left",
            "showarrow": False,
            "font": {"size": 13, "color": "#444444"},
            "bgcolor": "rgba(255, 255, 255, 0.8)",
        }
        for index, note in enumerate(notes)
    ]
    layout: Spec = {
        "title": {"text": title, "x": 0.01, "font": {"size": 18}},
        "height": height,
        "margin": {"l": 60, "r": margin_right, "t": 60, "b": 40},
        "xaxis": {"title": {"text": tr.text("graph.x_axis")}, "range": x_span, "dtick": 1},
        "yaxis": {"title": {"text": tr.text("graph.y_axis")}, "range": [0, 40.5], "dtick": 5},
        "legend": legend or {"orientation": "h", "y": -0.15},
        "hovermode": "closest",
        "template": plotly_template("plotly_white"),
        "font": {"size": 14},
    }
    if annotations:
        layout["annotations"] = annotations
    return layout


# --------------------------------------------------------------------------------------------
# One graph for the episode: every participant of a couple or family (issue 20)
# --------------------------------------------------------------------------------------------

#: Colour and marker shape of each participant, in order (Okabe-Ito colours, as :data:`COLOURS`).
#: Each participant differs from the others by colour AND shape, so the lines stay apart in
#: greyscale and for the common colour-vision deficiencies. Vermilion and bluish green are left
#: out: they are the ORS and SRS cutoffs' colours. A sixth participant starts the list again.
PARTICIPANT_STYLES: tuple[tuple[str, str], ...] = (
    ("#0072B2", "circle"),  # blue
    ("#CC79A7", "square"),  # reddish purple
    ("#000000", "diamond"),  # black
    ("#E69F00", "triangle-up"),  # orange
    ("#56B4E9", "pentagon"),  # sky blue
)
# Dashes of the cutoff lines when participants' age groups differ (one per age group).
_CUTOFF_DASHES = ("dash", "longdash", "dashdot")
# Roles drawn for an episode's index client, by the episode's format: both adults of a couple
# are partners, every client of a family a family member.
_INDEX_ROLE = {"couple": "partner", "family": "family_member"}


@dataclass(frozen=True)
class ParticipantSeries:
    """One participant of an episode, as :func:`episode_graph` draws them.

    Attributes:
        client_id: The participant's client code (in an anonymous view: their label).
        role: ``index``, ``partner``, ``family_member`` or ``member``
            (:data:`fitdata.vocabulary.PARTICIPANT_ROLES`).
        label: Who the line is, as the legend says it (:func:`participant_label`), e.g.
            ``"Partner · K-1234"`` or ``"Partner A"``.
        sessions: This client's rows in the episode, every rater (as
            :func:`fitdata.data.queries.episode_sessions` gives them for the client): their
            own ratings (``rater`` ``client``) and collateral raters' ORS about them.
        status: :func:`fitdata.analytics.client_status.client_status` of their own ratings.
        expected: Their expected trajectory (as ``client_graph_spec``'s ``expected``), or None.
        flag_markers: Their flags to mark (as ``client_graph_spec``'s ``flag_markers``), or None.
    """

    client_id: str
    role: str
    label: str
    sessions: pd.DataFrame = field(compare=False)
    status: ClientStatus
    expected: pd.DataFrame | None = field(default=None, compare=False)
    flag_markers: pd.DataFrame | None = field(default=None, compare=False)


def _letters(index: int) -> str:
    """A, B, ... Z, AA, AB, ... for the ``index``-th participant (0-based)."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def participant_label(
    role: str, client_id: str | None, index: int, tr: Translator, *, format: str | None = None
) -> str:
    """Who a participant is, for a legend or a heading.

    Named (``client_id`` given): the role and the code, "Partner · K-1234". Anonymous
    (``client_id`` None, the group exercise): the role and a letter by position,
    "Partner A", "Family member B". With the episode's ``format`` the index client of a
    couple is a partner and of a family a family member, as the others are.

    Args:
        role: A role of :data:`fitdata.vocabulary.ROLES`.
        client_id: The client's code, or None for an anonymous label.
        index: The participant's position in the episode (0-based; gives the letter).
        tr: The page's language.
        format: The episode's format (``individual``, ``couple``, ``family``, ``group``).
    """
    shown = _INDEX_ROLE.get(format or "", role) if role == "index" else role
    if client_id is None:
        return tr.text(f"participant.anonymous.{shown}", letter=_letters(index))
    return tr.text("participant.named", role=tr.text(f"participant.role.{shown}"), client=client_id)


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _participant_traces(
    one: ParticipantSeries,
    position: int,
    tr: Translator,
    config: ClinicalConfig,
    start: pd.Timestamp | None,
) -> list[Spec]:
    """One participant's own ORS (solid) and SRS (dotted), and collateral raters' ORS (dashed)."""
    colour, symbol = PARTICIPANT_STYLES[position % len(PARTICIPANT_STYLES)]
    who = html.escape(one.label)
    group = f"participant-{position}"
    own = one.sessions[one.sessions["rater"] == "client"].sort_values("session_no")
    ors = own.dropna(subset=["ors_total"])
    srs = own.dropna(subset=["srs_total"])
    low = [config.srs_below_cutoff(v) for v in srs["srs_total"]]
    srs_colours = [COLOURS["srs_low"] if below else colour for below in low]
    srs_marker_spec = {
        "size": [14 if below else 10 for below in low],
        "symbol": [symbol if below else f"{symbol}-open" for below in low],
        "color": srs_colours,
        "line": {"width": 2, "color": srs_colours},
    }
    open_marker = {
        "size": 10,
        "symbol": f"{symbol}-open",
        "color": colour,
        "line": {"color": colour},
    }
    traces = [
        score_trace(
            ors,
            "ors_total",
            hover=f"<b>{who}</b><br>" + tr.text("graph.hover_ors"),
            gaps=True,
            line={"color": colour, "width": 3},
            marker={"size": 11, "symbol": symbol, "color": colour},
            name=tr.text("episode_graph.ors", who=one.label),
            customdata=_hover_data(ors, "ors_total", ORS_ITEMS, tr, start),
            legendgroup=group,
            meta={"participant": position, "series": "ors"},
        ),
        score_trace(
            srs,
            "srs_total",
            hover=f"<b>{who}</b><br>" + tr.text("graph.hover_srs"),
            gaps=True,
            line={"color": colour, "width": 2, "dash": "dot"},
            # An SRS below the cutoff: the participant's shape filled, larger, in vermilion.
            marker=_spread_marker(srs_marker_spec, srs, open_marker),
            name=tr.text("episode_graph.srs", who=one.label),
            customdata=_hover_data(srs, "srs_total", SRS_ITEMS, tr, start),
            legendgroup=group,
            meta={"participant": position, "series": "srs"},
        ),
    ]
    others = one.sessions[one.sessions["rater"] != "client"]
    for rater, rows in others.groupby("rater", sort=True):
        rated = rows.dropna(subset=["ors_total"]).sort_values("session_no")
        name = tr.text(f"episode_graph.collateral.{rater}", who=one.label)
        traces.append(
            score_trace(
                rated,
                "ors_total",
                hover=f"<b>{html.escape(name)}</b><br>" + tr.text("graph.hover_ors"),
                line={"color": colour, "dash": "dash", "width": 2},
                marker={"size": 10, "symbol": "x", "color": colour},
                name=name,
                customdata=_hover_data(rated, "ors_total", ORS_ITEMS, tr, start),
                legendgroup=group,
                meta={"participant": position, "series": "collateral", "rater": str(rater)},
            )
        )
    if one.flag_markers is not None and len(one.flag_markers):
        for trace in _flag_traces(one.flag_markers, own, tr):
            trace["name"] = tr.text("episode_graph.flag", who=one.label, flag=trace["name"])
            trace["legendgroup"] = group
            trace["meta"] = {**trace["meta"], "participant": position}
            traces.append(trace)
    return traces


def _participant_expected(
    one: ParticipantSeries, position: int, tr: Translator, lower_percentile: float
) -> Spec | None:
    """The participant's lower expected line (long dashes, their colour), or None."""
    expected = one.expected
    if expected is None or not len(expected) or not expected["sufficient"].astype(bool).any():
        return None
    colour = PARTICIPANT_STYLES[position % len(PARTICIPANT_STYLES)][0]
    lower = _expected_traces(expected, tr, lower_percentile)[0]
    percentile = tr.number(100 * lower_percentile, decimals=0)
    lower.update(
        line={"color": colour, "dash": "longdash", "width": 2},
        name=tr.text("episode_graph.expected_lower", who=one.label, percentile=percentile),
        hovertemplate=f"<b>{html.escape(one.label)}</b><br>" + lower["hovertemplate"],
        legendgroup=f"participant-{position}",
        meta={"participant": position, "series": "expected_lower"},
        opacity=0.85,
    )
    return lower


def _participant_missing_note(one: ParticipantSeries, tr: Translator) -> str:
    """Why a participant has no expected line (their model's reason), naming them."""
    assert one.expected is not None
    reasons = one.expected["reason"].dropna().astype(str)
    fewest = re.search(r"n < (\d+)", reasons.iloc[-1] if len(reasons) else "")
    if fewest:
        return tr.text("episode_graph.expected_too_few", who=one.label, min=fewest.group(1))
    return tr.text("episode_graph.expected_no_intake", who=one.label)


def _cutoff_traces(
    series: Sequence[ParticipantSeries], x_span: list[float], tr: Translator
) -> tuple[list[Spec], list[Spec]]:
    """One ORS cutoff line per age group: unlabelled when all share it, else naming who.

    Returns the traces and, when the groups differ, labels at the lines' right ends.
    """
    groups: dict[tuple[float, str], list[str]] = {}
    for one in series:
        groups.setdefault((one.status.cutoff, one.status.age_group), []).append(one.label)
    if len(groups) == 1:
        (cutoff, age_group), _ = next(iter(groups.items()))
        return [cutoff_line(x_span, cutoff, age_group, tr, width=2)], []
    traces, labels = [], []
    for number, ((cutoff, age_group), who) in enumerate(sorted(groups.items())):
        trace = cutoff_line(x_span, cutoff, age_group, tr, width=2)
        trace["name"] = tr.text(
            "episode_graph.cutoff_for",
            cutoff=tr.number(cutoff, decimals=0),
            group=tr.text(f"age_group.{age_group}"),
            who=tr.join(who),
        )
        trace["line"]["dash"] = _CUTOFF_DASHES[number % len(_CUTOFF_DASHES)]
        trace["meta"] = {"series": "cutoff", "age_group": age_group}
        traces.append(trace)
        labels.append(
            {
                "text": html.escape(tr.join(who)),
                "x": x_span[1],
                "y": cutoff,
                "xref": "x",
                "yref": "y",
                "xanchor": "right",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12, "color": COLOURS["cutoff"]},
                "bgcolor": "rgba(255, 255, 255, 0.7)",
            }
        )
    return traces, labels


def episode_graph(
    series: Sequence[ParticipantSeries],
    tr: Translator,
    config: ClinicalConfig,
    *,
    title: str = "",
    lower_percentile: float = 0.25,
    show_dates: bool = True,
    ended: EpisodeEnd | None = None,
) -> Spec:
    """The graph of an episode: every participant's ORS and SRS on one figure.

    With one participant this is exactly :func:`client_graph_spec` for them. With more, each
    participant has a colour and a marker shape of :data:`PARTICIPANT_STYLES` for all their
    lines: their own ORS (solid, filled markers) and SRS (dotted, open markers; below the SRS
    cutoff filled, larger and vermilion), their lower expected line (long dashes) when the
    model has one, and each collateral rater's ORS about them (dashed, crosses; "Parent's
    rating of ..."). The ORS cutoff is one line when all share an age group, else one line
    per age group naming whose it is. Each participant's reliable-change band is in the legend,
    hidden until clicked (bands of several people on top of each other hide the lines).
    Every legend entry names whose line it is; a participant's entries form one legend group.

    Args:
        series: The participants, in the order of :func:`fitdata.data.queries.episode_participants`
            (the index client first).
        tr: Messages and number formats for the page's language.
        config: The thresholds the lines and bands are drawn from.
        title: Figure title.
        lower_percentile: The percentile of the lower expected line, for its legend.
        show_dates: False replaces session dates on hover by weeks since the episode's first
            session (for anonymised presentation), and the end marker names no date.
        ended: How the episode ended, or None while it is ongoing: a vertical line after the
            episode's last session, labelled as in :func:`client_graph_spec`.

    Raises:
        ValueError: With no participant.
    """
    if not series:
        raise ValueError("episode_graph needs at least one participant")
    if len(series) == 1:
        one = series[0]
        return client_graph_spec(
            one.sessions,
            one.status,
            tr,
            config,
            title=title,
            expected=one.expected,
            lower_percentile=lower_percentile,
            flag_markers=one.flag_markers,
            show_dates=show_dates,
            ended=ended,
        )
    numbers = [int(one.sessions["session_no"].max()) for one in series if len(one.sessions)]
    last_session = max(numbers, default=0)
    x_span = _x_span(last_session, ended)
    start = None
    dated = [one.sessions["session_date"] for one in series if len(one.sessions)]
    if not show_dates and dated:
        start = pd.Timestamp(pd.to_datetime(pd.concat(dated)).min())

    traces: list[Spec] = []
    notes: list[str] = []
    for position, one in enumerate(series):
        if one.status.first_ors is None:
            continue
        colour = PARTICIPANT_STYLES[position % len(PARTICIPANT_STYLES)][0]
        band = rc_band(x_span, one.status.first_ors, tr, config)
        band.update(
            name=tr.text(
                "episode_graph.band",
                who=one.label,
                rc=tr.number(config.ors_reliable_change, decimals=0),
            ),
            fillcolor=_rgba(colour, 0.12),
            visible="legendonly",
            legendgroup=f"participant-{position}",
            meta={"participant": position, "series": "band"},
        )
        traces.append(band)
    cutoffs, cutoff_labels = _cutoff_traces(series, x_span, tr)
    traces.extend(cutoffs)
    traces.append(srs_cutoff_line(x_span, tr, config, width=2))
    for position, one in enumerate(series):
        lower = _participant_expected(one, position, tr, lower_percentile)
        if lower is not None:
            traces.append(lower)
        elif one.expected is not None and len(one.expected):
            notes.append(_participant_missing_note(one, tr))
    for position, one in enumerate(series):
        traces.extend(_participant_traces(one, position, tr, config, start))

    layout = _graph_layout(
        tr,
        title,
        x_span,
        notes,
        height=560,
        # A legend at the side, each participant's entries together (their legend group).
        legend={
            "orientation": "v",
            "x": 1.02,
            "y": 1,
            "tracegroupgap": 10,
            "traceorder": "grouped",
        },
        margin_right=20,
    )
    if cutoff_labels:
        layout["annotations"] = [*layout.get("annotations", []), *cutoff_labels]
    if ended is not None:
        add_end_marker(layout, end_marker(last_session + 0.5, ended, tr, show_dates=show_dates))
    return {"data": traces, "layout": layout}
