"""The KOR group exercise: anonymised cases on a shared screen, reflection and prediction.

Privacy by construction: the widgets only ever receive what :mod:`fitdata.features.group_exercise`
has already anonymised. Case choices are opaque per-kernel keys (``case-3``) with labels such
as "Case C"; the graph is drawn from an :class:`~fitdata.features.group_exercise.AnonymousCase`
(session numbers, weeks since start, scores); no date, client code or free text is put in a
widget, a plot trace, a hover text or the URL. The therapist's name is sent only when the
supervisor ticks "Show the therapist". Errors in callbacks are shown as a generic message
(an error text could name a client). The large graph is drawn in
:mod:`fitdata.ui.group_exercise_chart`.

A couple or family is one case ("Case A (couple)"): its participants are drawn together and
named "Partner A", "Partner B" (a family: "Family member A", ...; a collateral rater's ORS:
"Parent's rating"), each with a status sentence; the reasons name whose flag each is. The
prediction exercise is about the first participant.

On a projector (issue 23): the page's own stylesheet (``static/group_exercise.css``) gives
20 px text and 44 px controls and lets no tab, button, label or dropdown cut its text off.
Opened from a review link the team dropdown names the link's team. While the group predicts,
the case list shows only the cases' names and the reasons wait for the reveal (the session
count, "not seen for weeks" or a later flag would give the answer); the end of an ended episode
is shown (without its date) only once the whole episode is seen. A team with fewer clients than
``min_cell_size`` shows no case: one of so few could be recognised.

The view keeps its state in widget traitlets, so a test can drive it in plain Python
(``view.case.value = ...``, ``view.next_step.click()``) and read what the page would show.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.data import queries
from fitdata.data.store import StoreError
from fitdata.features import group_exercise as ge
from fitdata.ui import group_exercise_texts as texts
from fitdata.ui.assets import asset
from fitdata.ui.case_discussion import DiscussionPanel, discussion_panel
from fitdata.ui.charts import Spec, participant_label
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.group_exercise_chart import empty_case, group_figure, participant_name
from fitdata.ui.rules import graph_rules, rules_list_html
from fitdata.ui.view import DashboardView, builder, set_options

__all__ = ["GroupExerciseView", "build_group_exercise", "group_figure"]

log = logging.getLogger(__name__)

#: How many sessions ahead the group predicts at most.
PREDICT_AHEAD = 3
SCOPES = ("ongoing", "ended", "all")


class GroupExerciseView(DashboardView, name="group exercise", css="fitdata-group-exercise"):
    """Widgets and behaviour of the group exercise dashboard."""

    show_store_errors = False  # an error text could name a client

    def __init__(self, context: DashboardContext, *, token: str | None = None) -> None:
        super().__init__(context)
        tr = self.tr
        self._presentation = ge.Presentation()
        self._cases = pd.DataFrame()  # kernel-side: ids and flags of the listed cases
        self._case: ge.AnonymousCase | None = None
        self._participants: tuple[ge.AnonymousParticipant, ...] = ()
        self._model: TrajectoryModel | None = None
        self._as_of = ge.latest_session_date(context.reader)
        self._quiet = False  # True while the case list is replaced (one redraw, not two)
        style = {"description_width": "initial"}

        self.team = self.dropdown(tr.text("filter.team"), "team", min_width="320px")
        self.scope = widgets.ToggleButtons(
            options=[(tr.text(f"group.scope.{s}"), s) for s in SCOPES],
            value="ongoing",
            style={"button_width": "auto"},
        )
        self.case = self.dropdown(tr.text("group.case_picker"), "case", min_width="560px")
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
        self.rules = widgets.HTML()

        self.step = widgets.ToggleButtons(
            options=[(str(i + 1), i + 1) for i in range(len(texts.PROMPTS))],
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
                readout=False,  # it would say "20.5" in bokmål: the value box beside it says it
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
        # After the reveal: what the group decided, recorded against the real episode, which
        # only this kernel knows (the panel holds it in Python; no widget or frame carries it).
        self.decision: DiscussionPanel = discussion_panel(
            context, None, source="group_exercise", anonymous=True
        )

        for widget, name in (
            (self.scope, "scope"),
            (self.random_case, "random"),
            (self.code, "code"),
            (self.use_code, "use-code"),
            (self.show_therapist, "show-therapist"),
            (self.therapist, "therapist"),
            (self.heading, "heading"),
            (self.reasons, "reasons"),
            (self.status, "status"),
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
        #: Each prediction slider's value in the page's number format ("20,5" in bokmål), in a
        #: box one may type into ("20,5" or "20.5"); a slider's own readout cannot say "20,5".
        self.prediction_labels = [
            widgets.Text(continuous_update=False, layout=widgets.Layout(width="76px")).add_class(
                f"fitdata-predict-{i + 1}-value"
            )
            for i in range(len(self.predictions))
        ]
        for slider, box in zip(self.predictions, self.prediction_labels, strict=True):
            widgets.dlink((slider, "value"), (box, "value"), lambda v: tr.number(v))
            box.observe(lambda change, s=slider: self._typed_prediction(s, change), "value")

        self._model = self._fit_model()
        teams = queries.team_options(context.reader)
        set_options(self.team, [(str(r.name), str(r.team_id)) for r in teams.itertuples()])
        if not self.team.options:
            self.show_text(tr.text("message.empty_database"))
        self._load_cases(new_presentation=True)
        if token:
            self.code.value = token
            self._apply_code()
        self._update_prompt()
        self.rules.value = self._rules_html()
        # The graph is an Output widget whose ``outputs`` state holds the figure as a plotly
        # mime bundle (see fitdata.ui.figure_view for why it is not a FigureWidget).
        # Tests read what it shows through :attr:`figure`.
        self.figure_box = FigureView(self._current_spec(), lang=self.tr.lang).add_class(
            "fitdata-graph"
        )

        self.team.observe(
            self.guarded(
                lambda _: None if self._quiet else self._load_cases(new_presentation=True)
            ),
            "value",
        )
        self.scope.observe(
            self.guarded(lambda _: self._load_cases(new_presentation=False)), "value"
        )
        self.case.observe(
            self.guarded(lambda _: None if self._quiet else self._show_case()), "value"
        )
        self.random_case.on_click(self.guarded(lambda _: self._pick_random()))
        self.use_code.on_click(self.guarded(lambda _: self._apply_code()))
        self.show_therapist.observe(self.guarded(lambda _: self._update_therapist()), "value")
        self.step.observe(self.guarded(lambda _: self._update_prompt()), "value")
        self.previous_step.on_click(self.guarded(lambda _: self._move_step(-1)))
        self.next_step.on_click(self.guarded(lambda _: self._move_step(+1)))
        self.mode.observe(self.guarded(lambda _: self._on_mode()), "value")
        self.reveal.observe(self.guarded(lambda _: self._relabel()), "value")
        self.shown.observe(self.guarded(lambda _: self._on_shown()), "value")
        for slider in self.predictions:
            slider.observe(self.guarded(lambda _: self._redraw()), "value")
        self.reveal.observe(self.guarded(lambda _: self._redraw()), "value")

    # -- helpers -------------------------------------------------------------------------
    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Hold back redraws while several widgets are reset; the caller redraws once."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _show_note(self, text: str) -> None:
        self.show_text(text, "fitdata-note")

    def _fit_model(self) -> TrajectoryModel | None:
        try:
            return ge.trajectory_model(self.context.reader)
        except StoreError:
            raise
        except Exception:
            log.exception("expected trajectories could not be fitted; using the RC band only")
            return None

    # -- choosing cases ------------------------------------------------------------------
    def _hides_outcome(self) -> bool:
        """True while the group predicts: nothing may tell how the case went on."""
        return self.mode.value == "predict" and not self.reveal.value

    def _option_label(self, key: str, row: Any) -> str:
        tr = self.context.tr
        case = tr.text("group.case", label=self._presentation.label(key))
        if len(row.members) > 1:
            case = tr.text(
                "group.case_kind", case=case, kind=tr.text(f"group.kind.{self._kind(row)}")
            )
        if self._hides_outcome():
            # The session count, the flags (not seen for weeks, ended, later flags) would
            # tell the group how the case went on: only the case's name until the reveal.
            return case
        flags: tuple[str, ...] = row.flag_codes
        shown = flags[:2]
        people = self._people(row)
        reasons = texts.reason_text(
            self.tr,
            self.context.config,
            shown,
            row.flag_sessions[:2],
            None if people is None else people[:2],
        )
        if len(flags) > 2:
            reasons += " " + tr.text("group.more", count=len(flags) - 2)
        return tr.count_text(
            "group.option",
            int(row.sessions),
            case=case,
            sessions=int(row.sessions),
            reasons=reasons,
        )

    def _relabel(self) -> None:
        """Put the case list's labels in step with the mode (predicting hides the outcome)."""
        if self._cases.empty:
            return
        options = [(self._option_label(r.key, r), r.key) for r in self._cases.itertuples()]
        if list(self.case.options) == options:
            return
        with self._quietly():
            set_options(self.case, options, self.case.value)
        self._update_reasons()

    def _too_few(self, cases: pd.DataFrame) -> bool:
        """Whether a team's cases are too few for any to be shown as anonymous.

        With fewer clients than the smallest group figures are shown for
        (``min_cell_size``), the group could tell whose case it is: no case is shown.
        """
        clients = {person for members in cases["members"] for person in members}
        if len(clients) >= self.context.config.min_cell_size:
            return False
        self._cases = pd.DataFrame()
        with self._quietly():
            set_options(self.case, [])
        self._show_note(self.tr.text("group.too_few", minimum=self.context.config.min_cell_size))
        self._show_case()
        return True

    @staticmethod
    def _kind(row: Any) -> str:
        return row.format if row.format in ge.JOINT_FORMATS else "group"

    def _people(self, row: Any) -> tuple[str, ...] | None:
        """Whose each flag of a joint case is, by role and letter; None for one client."""
        if len(row.members) < 2:
            return None
        tr = self.tr
        return tuple(
            participant_label(ge.member_role(person, row.format), None, person, tr)
            for person in row.flag_people
        )

    def _load_cases(self, *, new_presentation: bool) -> None:
        """List the team's cases that need attention, in the chosen scope."""
        if new_presentation:
            self._presentation = ge.Presentation()
        if self.team.value is None:
            self._cases = pd.DataFrame()
            set_options(self.case, [])
            self._show_case()
            return
        cases = ge.attention_cases(
            self.context.reader,
            self.team.value,
            as_of=self._as_of,
            config=self.context.config,
            model=self._model,
        )
        if self._too_few(cases):
            return
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
            set_options(self.case, options)
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
            self.show_error(str(error))
            return
        if not refs:
            self.show_error(tr.text("group.code.no_cases"))
            return
        self._presentation = ge.Presentation()
        # The team dropdown names the link's team (its first case's), without reloading.
        team = refs[0].team_id
        if team in [value for _, value in self.team.options]:
            with self._quietly():
                self.team.value = team
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
        if self._too_few(everything):
            return
        # A couple or family is one case (one row, its index client's): a link naming any of
        # its participants shows that case, once.
        members = everything.assign(_row=range(len(everything)))[["episode_id", "members", "_row"]]
        members = members.explode("members").rename(columns={"members": "client_id"})
        wanted = pd.DataFrame(
            {
                "episode_id": [r.episode_id for r in refs],
                "client_id": [r.client_id for r in refs],
                "_order": range(len(refs)),
            }
        )
        found = wanted.merge(members, on=["episode_id", "client_id"]).sort_values("_order")
        rows = found.drop_duplicates("_row")
        chosen = everything.iloc[rows["_row"].tolist()].assign(_order=rows["_order"].tolist())
        self._set_case_list(chosen.drop(columns=["_order"]).reset_index(drop=True))
        self._show_note(tr.count_text("group.code.loaded", len(chosen), cases=len(chosen)))

    # -- one case ------------------------------------------------------------------------
    def _show_case(self) -> None:
        self.show_therapist.value = False
        self.therapist.value = ""
        if self.case.value is None:
            self._case = None
            self._participants = ()
            self.heading.value = ""
            self.reasons.value = ""
        else:
            key = self.case.value
            ref = self._presentation.ref(key)
            row = self._cases[self._cases["key"] == key].iloc[0]
            self._participants = ge.case_participants(
                self.context.reader,
                ref,
                tuple(row["members"]),
                row["format"],
                label=self._presentation.label(key),
                model=self._model,
                config=self.context.config,
            )
            self._case = self._participants[0].case
        with self._quietly():
            self._reset_exercise()
        self._update_reasons()
        self._redraw()

    def _row(self) -> Any:
        """The listed case's kernel-side row (ids, flags, end), or None."""
        if self.case.value is None or self._cases.empty:
            return None
        return self._cases[self._cases["key"] == self.case.value].iloc[0]

    def _update_reasons(self) -> None:
        """Why the case is worth discussing; while predicting, only that it is shown later."""
        tr = self.tr
        row = self._row()
        if row is None:
            self.reasons.value = ""
            return
        if self._hides_outcome():
            self.reasons.value = (
                f'<p class="fitdata-reasons-text">{html.escape(tr.text("group.why_later"))}</p>'
            )
            return
        why = texts.reason_text(
            tr, self.context.config, row.flag_codes, row.flag_sessions, self._people(row)
        )
        self.reasons.value = (
            f'<p class="fitdata-reasons-text"><b>{html.escape(tr.text("group.why"))}</b> '
            f"{html.escape(why)}</p>"
        )

    def _ended(self) -> EpisodeEnd | None:
        """How the shown case's episode ended (kernel-side: it has a date), None if ongoing."""
        row = self._row()
        if row is None or bool(row["ongoing"]):
            return None
        return EpisodeEnd.of(row["ended"], row["end_type"])

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

    def _typed_prediction(self, slider: widgets.FloatSlider, change: dict[str, Any]) -> None:
        """Move ``slider`` to a typed value (comma or point), to its step and range; else undo."""
        text = str(change["new"]).strip().replace(",", ".").replace("\u2212", "-")
        try:
            typed = round(float(text) / slider.step) * slider.step
        except (ValueError, OverflowError):  # "abc", "inf"
            typed = float("nan")
        if typed == typed:  # not NaN
            slider.value = min(max(typed, slider.min), slider.max)
        change["owner"].value = self.context.tr.number(slider.value)

    def _reset_predictions(self) -> None:
        """Put the sliders at the last shown ORS and label them with their session numbers."""
        tr = self.context.tr
        case = self._case
        shown = self.shown.value
        remaining = (case.session_count - shown) if case is not None else 0
        last = self._last_shown_ors()
        for i, slider in enumerate(self.predictions):
            session = shown + i + 1
            slider.description = (
                tr.text(
                    "group.predict_who",
                    who=participant_name(self._participants[0], tr),
                    session=session,
                )
                if len(self._participants) > 1
                else tr.text("group.predict", session=session)
            )
            visible = i < min(remaining, PREDICT_AHEAD)
            slider.layout.display = None if visible else "none"
            self.prediction_labels[i].layout.display = slider.layout.display  # its value box
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
        self._relabel()
        self._update_reasons()
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
        self.step.value = min(max(self.step.value + delta, 1), len(texts.PROMPTS))

    def _update_prompt(self) -> None:
        step = self.step.value
        self.prompt.value = texts.prompt_html(self.tr, step)
        self.previous_step.disabled = step == 1
        self.next_step.disabled = step == len(texts.PROMPTS)

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
            self._update_decision(False)
            return group_figure(empty_case(), tr, config)
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
        # The end only once the group has seen the whole episode, never while it predicts.
        ended = self._ended() if shown is None else None
        self.heading.value = texts.heading_html(self.tr, case, visible, hidden=shown is not None)
        if len(self._participants) > 1:
            names = [participant_name(one, tr) for one in self._participants]
            self.heading.value += (
                f'<p class="fitdata-participants" style="font-size:1.3em;margin:0">'
                f"{html.escape(tr.text('group.participants', who=tr.join(names)))}</p>"
            )
            rows = []
            for one, name in zip(self._participants, names, strict=True):
                seen = one.case.sessions
                if shown is not None:
                    seen = seen[seen["session_no"] <= shown]
                rows.append((name, client_status(seen, one.case.age_group, config)))
            self.status.value = texts.participants_status_html(tr, config, rows, ended=ended)
        else:
            status = client_status(visible, case.age_group, config)
            sentence = status_sentence(status, tr, config, ended=ended, show_dates=False)
            self.status.value = self.status_html(sentence, size="1.3em")
        self.result.value = texts.result_html(self.tr, case, predictions) if revealed else ""
        self._update_decision(revealed)
        return group_figure(
            case,
            tr,
            config,
            shown=shown,
            predictions=predictions,
            future_lines=future,
            participants=self._participants,
            ended=ended,
        )

    def _update_decision(self, revealed: bool) -> None:
        """Show the record form for the case behind the label once the answer is revealed."""
        if not revealed or self.case.value is None:
            self.decision.set_episode(None)
            return
        ref = self._presentation.ref(self.case.value)
        self.decision.set_episode(ref.episode_id)

    def _redraw(self) -> None:
        """Bring the graph up to date with one state update (see fitdata.ui.figure_view)."""
        if self._quiet:
            return
        spec = self._current_spec()  # also fills the heading and status above the graph
        if hasattr(self, "figure_box"):  # not yet while the page is being built
            self.figure_box.show(spec)

    def _rules_html(self) -> str:
        tr, config = self.context.tr, self.context.config
        items = graph_rules(tr, config, ("adult", "adolescent", "child"))
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
        return rules_list_html(html.escape(tr.text("rule.heading")), items)

    # -- layout --------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.context.tr

        def line(*children: widgets.Widget) -> widgets.HBox:
            return self.row(children, align_items="center")

        choose = widgets.VBox(
            [
                line(self.team, self.scope),
                line(self.case, self.random_case),
                line(self.code, self.use_code),
                line(self.show_therapist, self.therapist),
            ]
        )
        reflection = widgets.VBox(
            [line(self.previous_step, self.step, self.next_step), self.prompt]
        ).add_class("fitdata-reflection")
        exercise = widgets.VBox(
            [
                self.mode,
                self.shown,
                *(
                    widgets.HBox([slider, label])
                    for slider, label in zip(self.predictions, self.prediction_labels, strict=True)
                ),
                self.reveal,
                self.result,
                self.decision,
            ]
        ).add_class("fitdata-exercise")
        tabs = widgets.Tab(children=[reflection, exercise])
        tabs.set_title(0, tr.text("group.tab.reflect"))
        tabs.set_title(1, tr.text("group.tab.predict"))
        tabs.add_class("fitdata-tabs")
        style = widgets.HTML(f"<style>{asset('group_exercise.css')}</style>")
        return self.page(
            [
                style,
                choose,
                self.message,
                self.heading,
                self.reasons,
                self.status,
                self.figure_box,
                tabs,
                self.rules,
            ]
        )

    @classmethod
    def for_page(cls, context: DashboardContext) -> GroupExerciseView:
        """The view for a page request.

        A page opened as ``group_exercise.ipynb?cases=<token>`` (a link from the case review,
        see :func:`fitdata.features.group_exercise.case_token`) starts with those cases.
        """
        return cls(context, token=_token_from_query(os.environ.get("QUERY_STRING")))


def _token_from_query(query: str | None) -> str | None:
    if not query:
        return None
    values = parse_qs(query).get("cases")
    return values[0] if values else None


build_group_exercise = builder(GroupExerciseView, "build_group_exercise")
