"""The group exercise's large graph of one anonymous case, for a shared screen.

Pure: an :class:`~fitdata.features.group_exercise.AnonymousCase` in, plotly JSON out. Nothing but
the anonymous case reaches the figure: x is the session number (weeks since start in the hover),
never a date, and no client code, name or free text is put in a trace, a hover or the title.

A couple or family (issue 20) is one case: every participant is drawn on the same graph in
their own colour and marker shape (:data:`fitdata.ui.charts.PARTICIPANT_STYLES`, as the client
graph's episode graph), named by role and letter ("Partner A", "Partner B"); a collateral
rater's ORS is a dashed line named by the rater's relation ("Parent's rating").
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from fitdata.analytics.client_status import EpisodeEnd
from fitdata.config import ClinicalConfig
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator
from fitdata.ui.charts import (
    COLOURS,
    PARTICIPANT_STYLES,
    Spec,
    add_end_marker,
    cutoff_line,
    end_marker,
    form_traces,
    participant_label,
    plotly_template,
    rc_band,
    scatter,
    srs_cutoff_line,
)

__all__ = ["case_kind", "empty_case", "group_figure", "participant_name"]

_FONT = 20
_COLOURS = {
    **COLOURS,
    "expected": "#555555",
    "expected_band": "rgba(120, 120, 120, 0.16)",
    "not_on_track": "#C0392B",
    "prediction": "#E69F00",
}


def _scores_hover(rows: pd.DataFrame, total: str, tr: Translator) -> list[list[str]]:
    return [
        [str(int(w)), tr.number(v)]
        for w, v in zip(rows["weeks_since_start"], rows[total], strict=True)
    ]


def group_figure(
    case: ge.AnonymousCase,
    tr: Translator,
    config: ClinicalConfig,
    *,
    shown: int | None = None,
    predictions: dict[int, float] | None = None,
    future_lines: pd.DataFrame | None = None,
    participants: Sequence[ge.AnonymousParticipant] = (),
    ended: EpisodeEnd | None = None,
) -> Spec:
    """The large, clear graph of one anonymous case, for a shared screen, as plotly JSON.

    The figure always has the same nine traces in the same order (band, lower line, expected
    line, cutoff, SRS cutoff, ORS, SRS, not-on-track rings, prediction), empty and out of the
    legend where there is nothing to draw, so every graph of the page has the same shape.

    Args:
        case: The anonymous case (nothing else reaches the figure).
        tr: Messages and number formats.
        config: Cutoffs and reliable change.
        shown: Show only the first ``shown`` sessions (the "what happens next?" exercise);
            None shows every session.
        predictions: The group's predicted ORS by session number, drawn as stars.
        future_lines: Expected and lower lines for sessions after the shown ones
            (``session_no``, ``expected``, ``lower``), so the band continues where the group
            predicts.
        participants: The case's participants (the first is ``case``'s client). Their
            collateral raters' ORS are drawn after the nine traces; with two or more, every
            participant after the first too (own ORS, SRS and lower expected line in their
            own colour and shape), the first's ORS, SRS and lower line named and styled as
            theirs (their band and median line hidden until clicked in the legend, as no other
            participant has them drawn), their not-on-track sessions ringed in the one ring
            trace, and the legend at the side.
        ended: How the episode ended, for a group that has seen the whole episode (never
            with ``shown``): a marker after the last session names the end type, no date.

    Returns:
        The figure as plotly JSON (``go.Figure(spec)`` validates it): x is the session
        number (weeks since start in the hover), never a date.
    """
    rows = case.sessions
    if shown is not None:
        rows = rows[rows["session_no"] <= shown]
    predictions = predictions or {}
    last_drawn = max(
        [int(rows["session_no"].max()) if len(rows) else 1, *predictions.keys()], default=1
    )
    if ended is not None and shown is None:
        last_drawn = max(
            [
                last_drawn,
                *(
                    int(p.case.sessions["session_no"].max())
                    for p in participants
                    if len(p.case.sessions)
                ),
            ]
        )
        x_end = max(last_drawn + 1, 6) + 0.5  # room after the end marker for its label
    else:
        ended = None
        x_end = max(last_drawn, 6) + 0.5
    x_span = [0.5, x_end]

    ors = rows.dropna(subset=["ors_total"])
    first = float(ors.iloc[0]["ors_total"]) if len(ors) else None
    band = rc_band(x_span, first, tr, config, showlegend=first is not None)

    lines = rows[["session_no", "expected", "lower"]]
    if future_lines is not None and len(future_lines):
        lines = pd.concat(
            [lines, future_lines[["session_no", "expected", "lower"]]], ignore_index=True
        )
    lines = lines.dropna().drop_duplicates("session_no").sort_values("session_no")
    if case.trajectory_episodes is None:
        lines = lines.iloc[0:0]
    has_lines = bool(len(lines))
    lower = scatter(
        x=lines["session_no"].tolist(),
        y=lines["lower"].round(1).tolist(),
        mode="lines",
        line={"color": _COLOURS["expected"], "dash": "dot", "width": 3},
        hoverinfo="skip",
        showlegend=has_lines,
        name=tr.text("group.graph.lower"),
    )
    expected = scatter(
        x=lines["session_no"].tolist(),
        y=lines["expected"].round(1).tolist(),
        mode="lines",
        fill="tonexty",
        fillcolor=_COLOURS["expected_band"],
        line={"color": _COLOURS["expected"], "dash": "dash", "width": 3},
        hoverinfo="skip",
        showlegend=has_lines,
        name=tr.text("group.graph.expected", episodes=case.trajectory_episodes or 0),
    )

    cutoff = config.ors_cutoff(case.age_group)
    cutoff_trace = cutoff_line(x_span, cutoff, case.age_group, tr, width=3, showlegend=True)
    srs_cutoff_trace = srs_cutoff_line(x_span, tr, config, width=3, showlegend=True)

    ors_trace, srs_trace = form_traces(
        rows,
        config,
        hover=(tr.text("group.graph.hover_ors"), tr.text("group.graph.hover_srs")),
        customdata=lambda shown_rows, total: _scores_hover(shown_rows, total, tr),
        widths=(6, 4),
        sizes=(18, 14, 20),
        showlegend=True,
    )
    off_track = ors[ors["flag_not_on_track"].astype(bool)]
    rings = scatter(
        x=off_track["session_no"].tolist(),
        y=off_track["ors_total"].tolist(),
        mode="markers",
        marker={
            "size": 34,
            "color": "rgba(0,0,0,0)",
            "line": {"color": _COLOURS["not_on_track"], "width": 4},
        },
        hoverinfo="skip",
        showlegend=bool(len(off_track)),
        name=tr.text("group.graph.not_on_track"),
    )
    sessions = sorted(predictions)
    # The prediction starts from the last ORS the group saw, before the first predicted session.
    seen = ors[ors["session_no"] < sessions[0]] if sessions else ors.iloc[0:0]
    anchor_x = [int(seen["session_no"].iloc[-1])] if len(seen) else []
    anchor_y = [float(seen["ors_total"].iloc[-1])] if len(seen) else []
    prediction = scatter(
        x=anchor_x + sessions,
        y=anchor_y + [round(predictions[s], 1) for s in sessions],
        mode="lines+markers",
        line={"color": _COLOURS["prediction"], "width": 4, "dash": "dash"},
        marker={
            "size": [0] * len(anchor_x) + [26] * len(sessions),
            "symbol": "star",
            "color": _COLOURS["prediction"],
        },
        showlegend=bool(sessions),
        name=tr.text("group.graph.prediction"),
        hovertemplate=tr.text("group.graph.hover_prediction") + "<extra></extra>",
    )

    shapes = []
    if sessions:
        shapes.append(
            {
                "type": "line",
                "x0": sessions[0] - 0.5,
                "x1": sessions[0] - 0.5,
                "y0": 0,
                "y1": 40,
                "line": {"color": "#888888", "width": 2, "dash": "dot"},
            }
        )
    ticks = list(range(1, int(x_end) + 1))
    data = [
        band,
        lower,
        expected,
        cutoff_trace,
        srs_cutoff_trace,
        ors_trace,
        srs_trace,
        rings,
        prediction,
    ]
    layout: Spec = {
        "title": {"text": _figure_title(case, tr), "x": 0.01, "font": {"size": 30}},
        "height": 700,
        "margin": {"l": 80, "r": 30, "t": 80, "b": 60},
        "xaxis": {
            "title": {"text": tr.text("graph.x_axis"), "font": {"size": 24}},
            "range": x_span,
            "tickvals": ticks,
            "ticktext": [str(t) for t in ticks],
            "tickfont": {"size": 22},
        },
        "yaxis": {
            "title": {"text": tr.text("graph.y_axis"), "font": {"size": 24}},
            "range": [0, 40.5],
            "dtick": 5,
            "tickfont": {"size": 22},
        },
        "legend": {"orientation": "h", "y": -0.14, "font": {"size": 18}},
        "hovermode": "closest",
        "hoverlabel": {"font": {"size": 20}},
        "template": plotly_template("plotly_white"),
        "font": {"size": _FONT},
        "shapes": shapes,
    }
    if participants:
        _add_participants(data, layout, participants, tr, config, shown, x_span)
    if ended is not None:
        add_end_marker(layout, end_marker(last_drawn + 0.5, ended, tr, show_dates=False))
    return {"data": data, "layout": layout}


def case_kind(participants: Sequence[ge.AnonymousParticipant]) -> str | None:
    """``couple`` or ``family`` for a joint case (from its roles), else None."""
    if len(participants) < 2:
        return None
    roles = {p.role for p in participants}
    return "couple" if "partner" in roles else "family" if "family_member" in roles else "group"


def participant_name(one: ge.AnonymousParticipant, tr: Translator) -> str:
    """The participant's role and letter ("Partner A", "Family member B"), never a code."""
    return participant_label(one.role, None, one.position, tr)


def _shown_rows(case: ge.AnonymousCase, shown: int | None) -> pd.DataFrame:
    rows = case.sessions
    return rows if shown is None else rows[rows["session_no"] <= shown]


def _add_participants(
    data: list[Spec],
    layout: Spec,
    participants: Sequence[ge.AnonymousParticipant],
    tr: Translator,
    config: ClinicalConfig,
    shown: int | None,
    x_span: list[float],
) -> None:
    """Draw the other participants and every collateral rating into the nine-trace figure."""
    joint = len(participants) > 1
    names = [participant_name(one, tr) for one in participants]
    if joint:
        first_colour, _ = PARTICIPANT_STYLES[0]
        ors_trace, srs_trace = data[5], data[6]
        ors_trace["name"] = tr.text("episode_graph.ors", who=names[0])
        srs_trace["name"] = tr.text("episode_graph.srs", who=names[0])
        ors_trace["marker"] = {
            **ors_trace["marker"],
            "symbol": PARTICIPANT_STYLES[0][1],
            "color": first_colour,
        }
        _restyle_srs(srs_trace, first_colour, PARTICIPANT_STYLES[0][1])
        data[0]["name"] = tr.text(
            "episode_graph.band",
            who=names[0],
            rc=tr.number(config.ors_reliable_change, decimals=0),
        )
        data[1]["name"] = f"{names[0]}: {data[1]['name']}"
        data[2]["name"] = f"{names[0]}: {data[2]['name']}"
        # Every partner alike: a lower line in their colour; the first's band and median line
        # wait in the legend (several bands on top of each other hide the lines).
        data[0]["visible"] = "legendonly"
        data[1]["line"] = {"color": first_colour, "dash": "longdash", "width": 3}
        data[2].update(visible="legendonly", fill="none")
        groups: dict[str, list[str]] = {}
        for one, name in zip(participants, names, strict=True):
            groups.setdefault(one.case.age_group, []).append(name)
        if len(groups) > 1:
            cutoffs = []
            for number, (group, who) in enumerate(sorted(groups.items())):
                cutoff = config.ors_cutoff(group)
                trace = cutoff_line(x_span, cutoff, group, tr, width=3, showlegend=True)
                trace["name"] = tr.text(
                    "episode_graph.cutoff_for",
                    cutoff=tr.number(cutoff, decimals=0),
                    group=tr.text(f"age_group.{group}"),
                    who=tr.join(who),
                )
                trace["line"]["dash"] = ("dash", "longdash", "dashdot")[number % 3]
                cutoffs.append(trace)
            data[3] = cutoffs[0]
            data.extend(cutoffs[1:])
        layout["legend"] = {
            "orientation": "v",
            "x": 1.01,
            "y": 1,
            "font": {"size": 17},
            "tracegroupgap": 6,
            "traceorder": "normal",
        }
        layout["title"]["text"] = tr.text(
            "group.graph.title_joint",
            case=tr.text("group.case", label=participants[0].case.label),
            kind=tr.text(f"group.kind.{case_kind(participants)}"),
        )
    rings = data[7]
    for one, name in zip(participants, names, strict=True):
        colour, symbol = PARTICIPANT_STYLES[one.position % len(PARTICIPANT_STYLES)]
        if joint and one.position > 0:
            rows = _shown_rows(one.case, shown)
            ors_trace, srs_trace = form_traces(
                rows,
                config,
                hover=(
                    f"<b>{name}</b><br>" + tr.text("group.graph.hover_ors"),
                    f"<b>{name}</b><br>" + tr.text("group.graph.hover_srs"),
                ),
                customdata=lambda shown_rows, total: _scores_hover(shown_rows, total, tr),
                widths=(6, 4),
                sizes=(18, 14, 20),
                showlegend=True,
            )
            ors_trace["name"] = tr.text("episode_graph.ors", who=name)
            ors_trace["line"]["color"] = colour
            ors_trace["marker"] = {"size": 18, "symbol": symbol, "color": colour}
            srs_trace["name"] = tr.text("episode_graph.srs", who=name)
            _restyle_srs(srs_trace, colour, symbol)
            lines = rows[["session_no", "lower"]].dropna()
            if one.case.trajectory_episodes is not None and len(lines):
                data.append(
                    scatter(
                        x=lines["session_no"].tolist(),
                        y=lines["lower"].round(1).tolist(),
                        mode="lines",
                        line={"color": colour, "dash": "longdash", "width": 3},
                        hoverinfo="skip",
                        name=f"{name}: {tr.text('group.graph.lower')}",
                    )
                )
            data.extend([ors_trace, srs_trace])
            off = rows.dropna(subset=["ors_total"])
            off = off[off["flag_not_on_track"].astype(bool)]
            if len(off):
                rings["x"] = [*rings["x"], *off["session_no"].tolist()]
                rings["y"] = [*rings["y"], *off["ors_total"].tolist()]
                rings["showlegend"] = True
        for rater, rated in one.ratings:
            rows = _shown_rows(rated, shown).dropna(subset=["ors_total"])
            label = (
                tr.text(f"episode_graph.collateral.{rater}", who=name)
                if joint
                else tr.text(f"group.graph.collateral.{rater}")
            )
            data.append(
                scatter(
                    x=rows["session_no"].tolist(),
                    y=rows["ors_total"].tolist(),
                    mode="lines+markers",
                    line={
                        "color": colour if joint else COLOURS["collateral"],
                        "dash": "dash",
                        "width": 4,
                    },
                    marker={
                        "size": 16,
                        "symbol": "x",
                        "color": colour if joint else COLOURS["collateral"],
                    },
                    name=label,
                    customdata=_scores_hover(rows, "ors_total", tr),
                    hovertemplate=f"<b>{label}</b><br>"
                    + tr.text("group.graph.hover_ors")
                    + "<extra></extra>",
                )
            )


def _restyle_srs(trace: Spec, colour: str, symbol: str) -> None:
    """A participant's SRS: dotted, open markers of their shape; below the cutoff filled."""
    marker = trace["marker"]
    low = [c == COLOURS["srs_low"] for c in marker["color"]]
    colours = [COLOURS["srs_low"] if below else colour for below in low]
    trace["line"] = {**trace["line"], "color": colour, "dash": "dot"}
    trace["marker"] = {
        "size": marker["size"],
        "symbol": [symbol if below else f"{symbol}-open" for below in low],
        "color": colours,
        "line": {"width": 3, "color": colours},
    }


def _figure_title(case: ge.AnonymousCase, tr: Translator) -> str:
    return tr.text(
        "group.graph.title",
        case=tr.text("group.case", label=case.label),
        group=tr.text(f"age_group.{case.age_group}"),
    )


def empty_case(label: str = "–") -> ge.AnonymousCase:
    """A case with no sessions, for the graph before a case is chosen."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in ge.ANONYMOUS_COLUMNS})
    return ge.AnonymousCase(label=label, age_group="adult", sessions=frame)
