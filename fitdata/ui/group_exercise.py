"""The KOR group exercise: anonymised cases on a shared screen, reflection and prediction.

Privacy by construction: the widgets only ever receive what :mod:`fitdata.features.group_exercise`
has already anonymised. Case choices are opaque per-kernel keys (``case-3``) with labels such
as "Case C"; the graph is drawn from an :class:`~fitdata.features.group_exercise.AnonymousCase`
(session numbers, weeks since start, scores); no date, client code or free text is put in a
widget, a plot trace, a hover text or the URL. The therapist's name is sent only when the
supervisor ticks "Show the therapist". Errors in callbacks are shown as a generic message
(an error text could name a client).

The view keeps its state in widget traitlets, so a test can drive it in plain Python
(``view.case.value = ...``, ``view.next_step.click()``) and read what the page would show.
"""

from __future__ import annotations

import html
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import RULES, ClinicalConfig
from fitdata.data import queries
from fitdata.data.store import StoreError
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator
from fitdata.ui.charts import COLOURS, Spec, plotly_template, scatter
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

__all__ = ["GroupExerciseView", "build_group_exercise", "group_figure"]

log = logging.getLogger(__name__)

#: The reflection prompts, in order (``group.prompt.<name>.title`` / ``.body``).
PROMPTS = ("graph", "client_view", "alliance", "differently", "next_step")
#: How many sessions ahead the group predicts at most.
PREDICT_AHEAD = 3
SCOPES = ("ongoing", "ended", "all")

_FONT = 20
_COLOURS = {
    **COLOURS,
    "expected": "#555555",
    "expected_band": "rgba(120, 120, 120, 0.16)",
    "not_on_track": "#C0392B",
    "prediction": "#E69F00",
}


# --------------------------------------------------------------------------------------------
# The large graph (pure: an anonymous case in, a figure out)
# --------------------------------------------------------------------------------------------


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
    x_end = max(last_drawn, 6) + 0.5
    x_span = [0.5, x_end]

    ors = rows.dropna(subset=["ors_total"])
    band_x: list[float] = []
    band_y: list[float] = []
    if len(ors):
        start = float(ors.iloc[0]["ors_total"])
        rc = config.ors_reliable_change
        low, high = max(start - rc, 0.0), min(start + rc, 40.0)
        band_x = [x_span[0], x_span[1], x_span[1], x_span[0], x_span[0]]
        band_y = [low, low, high, high, low]
    band = scatter(
        x=band_x,
        y=band_y,
        fill="toself",
        fillcolor=COLOURS["band"],
        line={"width": 0},
        mode="lines",
        hoverinfo="skip",
        showlegend=bool(band_x),
        name=tr.text("graph.band", rc=tr.number(config.ors_reliable_change, decimals=0)),
    )

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
    cutoff_line = scatter(
        x=x_span,
        y=[cutoff, cutoff],
        mode="lines",
        line={"color": COLOURS["cutoff"], "dash": "dash", "width": 3},
        hoverinfo="skip",
        showlegend=True,
        name=tr.text(
            "graph.cutoff",
            cutoff=tr.number(cutoff, decimals=0),
            group=tr.text(f"age_group.{case.age_group}"),
        ),
    )
    srs_cutoff_line = scatter(
        x=x_span,
        y=[config.srs_cutoff, config.srs_cutoff],
        mode="lines",
        line={"color": COLOURS["srs_cutoff"], "dash": "dot", "width": 3},
        hoverinfo="skip",
        showlegend=True,
        name=tr.text("graph.srs_cutoff", cutoff=tr.number(config.srs_cutoff, decimals=0)),
    )

    ors_trace = scatter(
        x=ors["session_no"].tolist(),
        y=ors["ors_total"].tolist(),
        mode="lines+markers",
        line={"color": COLOURS["ors"], "width": 6},
        marker={"size": 18},
        name="ORS",
        showlegend=True,
        customdata=_scores_hover(ors, "ors_total", tr),
        hovertemplate=tr.text("group.graph.hover_ors") + "<extra></extra>",
    )
    srs = rows.dropna(subset=["srs_total"])
    low_srs = [config.srs_below_cutoff(v) for v in srs["srs_total"]]
    srs_trace = scatter(
        x=srs["session_no"].tolist(),
        y=srs["srs_total"].tolist(),
        mode="lines+markers",
        line={"color": COLOURS["srs"], "width": 4},
        marker={
            "size": [20 if low else 14 for low in low_srs],
            "color": [COLOURS["srs_low"] if low else COLOURS["srs"] for low in low_srs],
            "symbol": ["diamond" if low else "circle" for low in low_srs],
        },
        name="SRS",
        showlegend=True,
        customdata=_scores_hover(srs, "srs_total", tr),
        hovertemplate=tr.text("group.graph.hover_srs") + "<extra></extra>",
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
        cutoff_line,
        srs_cutoff_line,
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
    return {"data": data, "layout": layout}


def _figure_title(case: ge.AnonymousCase, tr: Translator) -> str:
    return tr.text(
        "group.graph.title",
        case=tr.text("group.case", label=case.label),
        group=tr.text(f"age_group.{case.age_group}"),
    )


def _empty_case(label: str = "–") -> ge.AnonymousCase:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in ge.ANONYMOUS_COLUMNS})
    return ge.AnonymousCase(label=label, age_group="adult", sessions=frame)


# --------------------------------------------------------------------------------------------
# The dashboard
# --------------------------------------------------------------------------------------------


def _set_options(dropdown: widgets.Dropdown, options: list[tuple[str, str]]) -> None:
    dropdown.options = options
    dropdown.index = 0 if options else None


class GroupExerciseView:
    """Widgets and behaviour of the group exercise dashboard."""

    def __init__(self, context: DashboardContext, *, token: str | None = None) -> None:
        self.context = context
        tr = context.tr
        self._presentation = ge.Presentation()
        self._cases = pd.DataFrame()  # kernel-side: ids and flags of the listed cases
        self._case: ge.AnonymousCase | None = None
        self._model: TrajectoryModel | None = None
        self._as_of = ge.latest_session_date(context.reader)
        self._quiet = False  # True while the case list is replaced (one redraw, not two)
        wide = widgets.Layout(width="auto", min_width="320px")
        style = {"description_width": "initial"}

        self.team = widgets.Dropdown(description=tr.text("filter.team"), layout=wide, style=style)
        self.scope = widgets.ToggleButtons(
            options=[(tr.text(f"group.scope.{s}"), s) for s in SCOPES],
            value="ongoing",
            style={"button_width": "auto"},
        )
        self.case = widgets.Dropdown(
            description=tr.text("group.case_picker"),
            layout=widgets.Layout(width="auto", min_width="560px"),
            style=style,
        )
        self.random_case = widgets.Button(
            description=tr.text("group.random"), icon="random", layout=widgets.Layout(width="auto")
        )
        self.code = widgets.Text(
            placeholder=tr.text("group.code.placeholder"),
            description=tr.text("group.code.label"),
            layout=widgets.Layout(width="auto", min_width="420px"),
            style=style,
        )
        self.use_code = widgets.Button(
            description=tr.text("group.code.use"), layout=widgets.Layout(width="auto")
        )
        self.show_therapist = widgets.Checkbox(
            value=False, description=tr.text("group.show_therapist"), indent=False
        )
        self.therapist = widgets.HTML()
        self.heading = widgets.HTML()
        self.reasons = widgets.HTML()
        self.status = widgets.HTML()
        self.message = widgets.HTML()
        self.rules = widgets.HTML()

        self.step = widgets.ToggleButtons(
            options=[(str(i + 1), i + 1) for i in range(len(PROMPTS))],
            value=1,
            style={"button_width": "48px"},
        )
        self.previous_step = widgets.Button(
            description=tr.text("group.previous"), icon="arrow-left"
        )
        self.next_step = widgets.Button(description=tr.text("group.next"), icon="arrow-right")
        self.prompt = widgets.HTML()

        self.mode = widgets.ToggleButtons(
            options=[
                (tr.text("group.mode.whole"), "whole"),
                (tr.text("group.mode.predict"), "predict"),
            ],
            value="whole",
            style={"button_width": "auto"},
        )
        self.shown = widgets.IntSlider(
            value=2,
            min=1,
            max=2,
            description=tr.text("group.shown"),
            style=style,
            layout=widgets.Layout(width="520px"),
            continuous_update=False,
        )
        self.predictions = [
            widgets.FloatSlider(
                value=20.0,
                min=0.0,
                max=40.0,
                step=0.5,
                readout_format=".1f",
                style=style,
                layout=widgets.Layout(width="520px"),
                continuous_update=False,
            )
            for _ in range(PREDICT_AHEAD)
        ]
        self.reveal = widgets.ToggleButton(
            value=False, description=tr.text("group.reveal"), icon="eye", button_style="warning"
        )
        self.result = widgets.HTML()

        for widget, name in (
            (self.team, "team"),
            (self.scope, "scope"),
            (self.case, "case"),
            (self.random_case, "random"),
            (self.code, "code"),
            (self.use_code, "use-code"),
            (self.show_therapist, "show-therapist"),
            (self.therapist, "therapist"),
            (self.heading, "heading"),
            (self.reasons, "reasons"),
            (self.status, "status"),
            (self.message, "message"),
            (self.rules, "rules"),
            (self.step, "step"),
            (self.previous_step, "previous"),
            (self.next_step, "next"),
            (self.prompt, "prompt"),
            (self.mode, "mode"),
            (self.shown, "shown"),
            (self.reveal, "reveal"),
            (self.result, "result"),
        ):
            widget.add_class(f"fitdata-{name}")
        for i, slider in enumerate(self.predictions):
            slider.add_class(f"fitdata-predict-{i + 1}")

        self._model = self._fit_model()
        teams = queries.team_options(context.reader)
        _set_options(self.team, [(str(row.name), str(row.team_id)) for row in teams.itertuples()])
        if not self.team.options:
            self.message.value = f"<p>{html.escape(tr.text('message.empty_database'))}</p>"
        self._load_cases(new_presentation=True)
        if token:
            self.code.value = token
            self._apply_code()
        self._update_prompt()
        self.rules.value = self._rules_html()
        # The graph is an Output widget whose ``outputs`` state holds the figure as a plotly
        # mime bundle (see fitdata.ui.figure_view for why it is not a FigureWidget).
        # Tests read what it shows through :attr:`figure`.
        self.figure_box = FigureView(self._current_spec()).add_class("fitdata-graph")

        self.team.observe(self._guarded(lambda _: self._load_cases(new_presentation=True)), "value")
        self.scope.observe(
            self._guarded(lambda _: self._load_cases(new_presentation=False)), "value"
        )
        self.case.observe(
            self._guarded(lambda _: None if self._quiet else self._show_case()), "value"
        )
        self.random_case.on_click(self._guarded(lambda _: self._pick_random()))
        self.use_code.on_click(self._guarded(lambda _: self._apply_code()))
        self.show_therapist.observe(self._guarded(lambda _: self._update_therapist()), "value")
        self.step.observe(self._guarded(lambda _: self._update_prompt()), "value")
        self.previous_step.on_click(self._guarded(lambda _: self._move_step(-1)))
        self.next_step.on_click(self._guarded(lambda _: self._move_step(+1)))
        self.mode.observe(self._guarded(lambda _: self._on_mode()), "value")
        self.shown.observe(self._guarded(lambda _: self._on_shown()), "value")
        for slider in self.predictions:
            slider.observe(self._guarded(lambda _: self._redraw()), "value")
        self.reveal.observe(self._guarded(lambda _: self._redraw()), "value")

    # -- helpers -------------------------------------------------------------------------
    def _guarded(self, callback: Callable[[Any], None]) -> Callable[..., None]:
        """Wrap a callback: errors are logged and shown as a generic, non-identifying message."""

        def run(change: Any) -> None:
            self.message.value = ""
            run_guarded(
                "group exercise",
                callback,
                change,
                self.message,
                self.context.tr,
                show_store_errors=False,
            )

        return run

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Hold back redraws while several widgets are reset; the caller redraws once."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    def _show_note(self, text: str) -> None:
        self.message.value = f'<p class="fitdata-note">{html.escape(text)}</p>'

    def _fit_model(self) -> TrajectoryModel | None:
        try:
            return ge.trajectory_model(self.context.reader)
        except StoreError:
            raise
        except Exception:
            log.exception("expected trajectories could not be fitted; using the RC band only")
            return None

    # -- choosing cases ------------------------------------------------------------------
    def _reason_text(self, flags: tuple[str, ...], first_sessions: tuple[int, ...]) -> str:
        tr = self.context.tr
        if not flags:
            return tr.text("group.reason.none")
        parts = [
            tr.text(
                f"group.reason.{code}",
                session=session,
                weeks=self.context.config.not_seen_weeks,
                cutoff=tr.number(self.context.config.srs_cutoff, decimals=0),
            )
            for code, session in zip(flags, first_sessions, strict=True)
        ]
        return " · ".join(parts)

    def _option_label(self, key: str, row: Any) -> str:
        tr = self.context.tr
        flags: tuple[str, ...] = row.flag_codes
        shown = flags[:2]
        reasons = self._reason_text(shown, row.flag_sessions[:2])
        if len(flags) > 2:
            reasons += " " + tr.text("group.more", count=len(flags) - 2)
        return tr.count_text(
            "group.option",
            int(row.sessions),
            case=tr.text("group.case", label=self._presentation.label(key)),
            sessions=int(row.sessions),
            reasons=reasons,
        )

    def _load_cases(self, *, new_presentation: bool) -> None:
        """List the team's cases that need attention, in the chosen scope."""
        if new_presentation:
            self._presentation = ge.Presentation()
        if self.team.value is None:
            self._cases = pd.DataFrame()
            _set_options(self.case, [])
            self._show_case()
            return
        cases = ge.attention_cases(
            self.context.reader,
            self.team.value,
            as_of=self._as_of,
            config=self.context.config,
            model=self._model,
        )
        cases = cases[cases["flag_count"] > 0]
        if self.scope.value == "ongoing":
            cases = cases[cases["ongoing"]]
        elif self.scope.value == "ended":
            cases = cases[~cases["ongoing"]]
        self._set_case_list(cases.reset_index(drop=True))

    def _set_case_list(self, cases: pd.DataFrame) -> None:
        keys = [
            self._presentation.add(ge.CaseRef(str(r.episode_id), str(r.client_id), str(r.team_id)))
            for r in cases.itertuples()
        ]
        cases = cases.assign(key=keys)
        cases = cases.assign(_label_order=[int(k.split("-")[1]) for k in keys])
        self._cases = cases.sort_values("_label_order").reset_index(drop=True)
        options = [(self._option_label(r.key, r), r.key) for r in self._cases.itertuples()]
        if not options:
            self._show_note(self.context.tr.text("group.no_cases"))
        with self._quietly():
            _set_options(self.case, options)
        self._show_case()

    def _pick_random(self) -> None:
        """Choose a random not-on-track case from the listed ones, another than the shown one."""
        listed = self._cases
        candidates = (
            listed[listed["flag_codes"].map(lambda f: "not_on_track" in f)]
            if len(listed)
            else listed
        )
        if candidates.empty:
            self._show_note(self.context.tr.text("group.random.none"))
            return
        keys = candidates["key"].tolist()
        others = [key for key in keys if key != self.case.value]
        choice = secrets.SystemRandom().choice(others or keys)
        self.case.value = choice

    def _apply_code(self) -> None:
        """Show the cases of a link code from the case review."""
        token = self.code.value.strip()
        if not token:
            return
        tr = self.context.tr
        try:
            refs = ge.resolve(self.context.reader, token, key=ge.link_key(self.context.db_path))
        except ge.InvalidToken as error:
            self._show_error(str(error))
            return
        if not refs:
            self._show_error(tr.text("group.code.no_cases"))
            return
        self._presentation = ge.Presentation()
        frames = [
            ge.attention_cases(
                self.context.reader,
                team,
                as_of=self._as_of,
                config=self.context.config,
                model=self._model,
            )
            for team in sorted({r.team_id for r in refs})
        ]
        everything = pd.concat(frames, ignore_index=True)
        wanted = pd.DataFrame(
            {
                "episode_id": [r.episode_id for r in refs],
                "client_id": [r.client_id for r in refs],
                "_order": range(len(refs)),
            }
        )
        chosen = everything.merge(wanted, on=["episode_id", "client_id"]).sort_values("_order")
        self._set_case_list(chosen.drop(columns=["_order"]).reset_index(drop=True))
        self._show_note(tr.count_text("group.code.loaded", len(chosen), cases=len(chosen)))

    # -- one case ------------------------------------------------------------------------
    def _show_case(self) -> None:
        tr = self.context.tr
        self.show_therapist.value = False
        self.therapist.value = ""
        if self.case.value is None:
            self._case = None
            self.heading.value = ""
            self.reasons.value = ""
        else:
            key = self.case.value
            ref = self._presentation.ref(key)
            sessions, age_group = ge.case_sessions(self.context.reader, ref)
            self._case = ge.anonymise_case(
                sessions,
                label=self._presentation.label(key),
                age_group=age_group,
                model=self._model,
                config=self.context.config,
            )
            row = self._cases[self._cases["key"] == key].iloc[0]
            self.reasons.value = (
                f'<p class="fitdata-reasons-text"><b>{html.escape(tr.text("group.why"))}</b> '
                f"{html.escape(self._reason_text(row.flag_codes, row.flag_sessions))}</p>"
            )
        with self._quietly():
            self._reset_exercise()
        self._redraw()

    def _reset_exercise(self) -> None:
        count = self._case.session_count if self._case is not None else 0
        with self.shown.hold_trait_notifications():
            self.shown.max = max(count - 1, 1)
            self.shown.min = 1
            self.shown.value = max(min(3, count - 1), 1)
        self.mode.disabled = count < 2
        if count < 2 and self.mode.value != "whole":
            self.mode.value = "whole"
        self.reveal.value = False
        self._reset_predictions()

    def _reset_predictions(self) -> None:
        """Put the sliders at the last shown ORS and label them with their session numbers."""
        tr = self.context.tr
        case = self._case
        shown = self.shown.value
        remaining = (case.session_count - shown) if case is not None else 0
        last = self._last_shown_ors()
        for i, slider in enumerate(self.predictions):
            session = shown + i + 1
            slider.description = tr.text("group.predict", session=session)
            visible = i < min(remaining, PREDICT_AHEAD)
            slider.layout.display = None if visible else "none"
            with slider.hold_trait_notifications():
                slider.value = last if last is not None else 20.0

    def _last_shown_ors(self) -> float | None:
        if self._case is None:
            return None
        rows = self._case.sessions
        rows = rows[rows["session_no"] <= self.shown.value].dropna(subset=["ors_total"])
        return float(rows["ors_total"].iloc[-1]) if len(rows) else None

    def _on_mode(self) -> None:
        with self._quietly():
            self.reveal.value = False
            self._reset_predictions()
        self._redraw()

    def _on_shown(self) -> None:
        if self._quiet:
            return
        with self._quietly():
            self.reveal.value = False
            self._reset_predictions()
        self._redraw()

    def _predicted(self) -> dict[int, float]:
        if self._case is None or self.mode.value != "predict":
            return {}
        remaining = self._case.session_count - self.shown.value
        return {
            self.shown.value + i + 1: float(slider.value)
            for i, slider in enumerate(self.predictions[: min(remaining, PREDICT_AHEAD)])
        }

    def _update_therapist(self) -> None:
        if not self.show_therapist.value or self.case.value is None:
            self.therapist.value = ""
            return
        name = ge.therapist_name(self.context.reader, self._presentation.ref(self.case.value))
        self.therapist.value = (
            f'<p class="fitdata-therapist-text">'
            f"{html.escape(self.context.tr.text('group.therapist', name=name))}</p>"
        )

    # -- prompts -------------------------------------------------------------------------
    def _move_step(self, delta: int) -> None:
        self.step.value = min(max(self.step.value + delta, 1), len(PROMPTS))

    def _update_prompt(self) -> None:
        tr = self.context.tr
        step = self.step.value
        name = PROMPTS[step - 1]
        body = "".join(
            f"<li>{html.escape(line)}</li>"
            for line in tr.text(f"group.prompt.{name}.body").split("\n")
        )
        self.prompt.value = (
            f'<div class="fitdata-prompt-box" style="font-size:1.35em;line-height:1.5">'
            f'<p style="margin:0;color:#555">'
            f"{html.escape(tr.text('group.step', step=step, steps=len(PROMPTS)))}</p>"
            f'<h2 class="fitdata-prompt-title" style="margin:0.2em 0">'
            f"{html.escape(tr.text(f'group.prompt.{name}.title'))}</h2>"
            f"<ul>{body}</ul></div>"
        )
        self.previous_step.disabled = step == 1
        self.next_step.disabled = step == len(PROMPTS)

    # -- drawing -------------------------------------------------------------------------
    @property
    def figure(self) -> go.Figure:
        """The graph the page shows (for tests)."""
        return self.figure_box.figure

    def _current_spec(self) -> Spec:
        tr, config = self.context.tr, self.context.config
        case = self._case
        if case is None:
            self.heading.value = ""
            self.status.value = ""
            self.result.value = ""
            return group_figure(_empty_case(), tr, config)
        exercise = self.mode.value == "predict" and case.session_count >= 2
        revealed = exercise and self.reveal.value
        shown = self.shown.value if exercise and not revealed else None
        predictions = self._predicted() if exercise else {}
        future = None
        if exercise and not revealed and predictions:
            future = ge.expected_lines(case, self._model, sorted(predictions))
        visible = (
            case.sessions if shown is None else case.sessions[case.sessions["session_no"] <= shown]
        )
        self.heading.value = self._heading_html(case, visible, hidden=shown is not None)
        status = client_status(visible, case.age_group, config)
        self.status.value = (
            f'<p class="fitdata-status-text" style="font-size:1.3em">'
            f"{html.escape(status_sentence(status, tr, config))}</p>"
        )
        self.result.value = self._result_html(case, predictions) if revealed else ""
        return group_figure(
            case, tr, config, shown=shown, predictions=predictions, future_lines=future
        )

    def _heading_html(self, case: ge.AnonymousCase, visible: pd.DataFrame, *, hidden: bool) -> str:
        tr = self.context.tr
        weeks = int(visible["weeks_since_start"].max()) if len(visible) else 0
        facts = tr.count_text(
            "group.facts",
            len(visible),
            sessions=len(visible),
            weeks=weeks,
            group=tr.text(f"age_group.{case.age_group}"),
        )
        if hidden:
            facts += " " + tr.text("group.facts_hidden")
        trajectory = (
            tr.text("group.trajectory_basis", episodes=case.trajectory_episodes)
            if case.trajectory_episodes is not None
            else tr.text("group.trajectory_missing")
        )
        return (
            f'<div class="fitdata-case-heading">'
            f'<h1 class="fitdata-case-title" style="margin:0.2em 0;font-size:2.2em">'
            f"{html.escape(tr.text('group.case', label=case.label))}</h1>"
            f'<p style="font-size:1.3em;margin:0">{html.escape(facts)}</p>'
            f'<p style="color:#555;margin:0.2em 0">{html.escape(trajectory)}</p></div>'
        )

    def _result_html(self, case: ge.AnonymousCase, predictions: dict[int, float]) -> str:
        tr = self.context.tr
        actual = case.sessions.set_index("session_no")["ors_total"]
        items = []
        for session, predicted in sorted(predictions.items()):
            value = actual.get(session, np.nan)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                items.append(
                    tr.text("group.result.no_ors", session=session, predicted=tr.number(predicted))
                )
                continue
            items.append(
                tr.text(
                    "group.result.line",
                    session=session,
                    predicted=tr.number(predicted),
                    actual=tr.number(float(value)),
                    difference=tr.number(float(value) - predicted, signed=True),
                )
            )
        listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        return (
            f'<div class="fitdata-result-box" style="font-size:1.3em">'
            f"<h3>{html.escape(tr.text('group.result.heading'))}</h3><ul>{listed}</ul>"
            f"<p>{html.escape(tr.text('group.result.discuss'))}</p></div>"
        )

    def _redraw(self) -> None:
        """Bring the graph up to date with one state update (see fitdata.ui.figure_view)."""
        if self._quiet:
            return
        spec = self._current_spec()  # also fills the heading and status above the graph
        if hasattr(self, "figure_box"):  # not yet while the page is being built
            self.figure_box.show(spec)

    def _rules_html(self) -> str:
        tr, config = self.context.tr, self.context.config
        items = []
        for group in ("adult", "adolescent", "child"):
            cutoff = tr.number(config.ors_cutoff(group), decimals=0)
            tie = (
                "rule.at_cutoff_clinical"
                if config.score_at_cutoff_is_clinical
                else "rule.at_cutoff_not_clinical"
            )
            items.append(
                tr.text(
                    "rule.cutoff",
                    cutoff=cutoff,
                    group=tr.text(f"age_group.{group}"),
                    tie=tr.text(tie, cutoff=cutoff),
                    source=RULES[f"ors_cutoff_{group}"].source,
                )
            )
        rc = tr.number(config.ors_reliable_change, decimals=0)
        at_rc = (
            "rule.at_rc_reliable"
            if config.change_at_threshold_is_reliable
            else "rule.at_rc_not_reliable"
        )
        items.append(
            tr.text(
                "rule.reliable_change",
                rc=rc,
                tie=tr.text(at_rc, rc=rc),
                source=RULES["ors_reliable_change"].source,
            )
        )
        items.append(
            tr.text(
                "rule.srs_cutoff",
                cutoff=tr.number(config.srs_cutoff, decimals=0),
                source=RULES["srs_cutoff"].source,
            )
        )
        model = self._model
        if model is not None:
            items.append(
                tr.text(
                    "group.rule.trajectory",
                    percentile=f"{100 * model.lower_percentile:g}",
                    min_episodes=model.min_episodes,
                )
            )
        items.append(tr.text("group.rule.anonymous"))
        listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        return (
            f"<details><summary>{html.escape(tr.text('rule.heading'))}</summary>"
            f"<ul>{listed}</ul></details>"
        )

    # -- layout --------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.context.tr
        row = widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="8px")
        choose = widgets.VBox(
            [
                widgets.HBox([self.team, self.scope], layout=row),
                widgets.HBox([self.case, self.random_case], layout=row),
                widgets.HBox([self.code, self.use_code], layout=row),
                widgets.HBox([self.show_therapist, self.therapist], layout=row),
            ]
        )
        reflection = widgets.VBox(
            [
                widgets.HBox([self.previous_step, self.step, self.next_step], layout=row),
                self.prompt,
            ]
        ).add_class("fitdata-reflection")
        exercise = widgets.VBox(
            [self.mode, self.shown, *self.predictions, self.reveal, self.result]
        ).add_class("fitdata-exercise")
        tabs = widgets.Tab(children=[reflection, exercise])
        tabs.set_title(0, tr.text("group.tab.reflect"))
        tabs.set_title(1, tr.text("group.tab.predict"))
        tabs.add_class("fitdata-tabs")
        return widgets.VBox(
            [
                choose,
                self.message,
                self.heading,
                self.reasons,
                self.status,
                self.figure_box,
                tabs,
                self.rules,
            ]
        ).add_class("fitdata-group-exercise")


def _token_from_query(query: str | None) -> str | None:
    if not query:
        return None
    values = parse_qs(query).get("cases")
    return values[0] if values else None


def build_group_exercise(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the group exercise dashboard for a notebook to display.

    A page opened as ``group_exercise.ipynb?cases=<token>`` (a link from the case review, see
    :func:`fitdata.features.group_exercise.case_token`) starts with those cases.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """

    def make(context: DashboardContext) -> widgets.Widget:
        token = _token_from_query(os.environ.get("QUERY_STRING"))
        return GroupExerciseView(context, token=token).widget

    return build_dashboard("group exercise", make, context)
