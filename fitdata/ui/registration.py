"""The registration dashboard: record today's ORS (before the session) and SRS (after it).

team -> therapist -> client (or a new one) -> episode (or a new one), a date (today by
default), the ORS as four 0-10 lines in 0.1 steps or a total, and the SRS likewise, either now
or after the session ("add the SRS to today's session"). Everything is validated as the person
types, with the message next to the field and the save button disabled with the reason. After
saving, the client's graph and status sentence are redrawn at once. A saved session can be
corrected with a reason; the old values are kept and shown as the session's change history.
An episode can be ended with an end type.

All rules and writes are in :mod:`fitdata.features.registration`; this module only wires widgets to
them. State lives in widget traitlets, so tests drive the view in plain Python.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.config import AGE_GROUPS
from fitdata.data import queries
from fitdata.data.access import require_write, user_name
from fitdata.features import registration as reg
from fitdata.features.registration import Problem, Scores
from fitdata.i18n import Translator
from fitdata.ui.charts import Spec, client_graph_spec
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView
from fitdata.vocabulary import END_TYPES, FORMS

__all__ = ["RegistrationView", "ScoreInput", "build_registration"]

log = logging.getLogger(__name__)
Options = list[tuple[str, Any]]

#: Option value of "new client" and "start a new episode".
NEW = "__new__"
_WIDE = widgets.Layout(width="auto", min_width="260px")
_STYLE = {"description_width": "initial"}


def _set_options(dropdown: widgets.Dropdown, options: Options, value: Any = None) -> None:
    """Replace a dropdown's options and select ``value`` (or the first option).

    ipywidgets 8 leaves a dropdown unselected when its options change; the index is set
    explicitly so that observers further down always fire.
    """
    dropdown.options = options
    values = [v for _, v in options]
    if value in values:
        dropdown.index = values.index(value)
    else:
        dropdown.index = 0 if options else None


def _html_list(texts: list[str], css: str) -> str:
    if not texts:
        return ""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in texts)
    return f'<ul class="{css}" style="margin:2px 0;color:#a4262c">{items}</ul>'


def _paragraph(text: str, css: str = "") -> str:
    return f"<p class='{css}' style='margin:2px 0'>{html.escape(text)}</p>"


def _parse_number(text: str) -> float | None:
    """A number typed with a decimal point or comma ("23,4"); None when empty.

    Raises:
        ValueError: If the text is not a number.
    """
    cleaned = text.strip().replace(",", ".").replace("\u2212", "-")
    if not cleaned:
        return None
    return float(cleaned)


class ScoreInput:
    """One form (ORS or SRS): four 0-10 sliders in 0.1 steps, or a total only, or not given.

    A slider counts as marked only once it has been moved (or typed into), so an untouched
    line at its starting position is never saved by mistake.
    """

    def __init__(self, form: str, tr: Translator, *, none_key: str, css: str) -> None:
        self.form, self.tr = form, tr
        label = form.upper()
        self.mode = widgets.ToggleButtons(
            options=[
                (tr.text("registration.input.items"), "items"),
                (tr.text("registration.input.total"), "total"),
                (tr.text(none_key), "none"),
            ],
            value="items",
            style={"button_width": "auto"},
        ).add_class(f"fitdata-{css}-mode")
        self.sliders = [
            widgets.FloatSlider(
                value=0.0,
                min=0.0,
                max=reg.ITEM_MAX,
                step=0.1,
                readout_format=".1f",
                description=tr.text(f"item.{item}"),
                layout=widgets.Layout(width="440px"),
                style={"description_width": "150px"},
            ).add_class(f"fitdata-{css}-{item.split('_', 1)[1]}")
            for item in FORMS[form]
        ]
        self.touched = [False] * len(self.sliders)
        self.total_text = widgets.Text(
            description=tr.text("registration.input.total_label"),
            placeholder=tr.text("registration.input.total_placeholder"),
            style=_STYLE,
        ).add_class(f"fitdata-{css}-total-input")
        self.live_total = widgets.HTML().add_class(f"fitdata-{css}-total")
        self.problems = widgets.HTML().add_class(f"fitdata-{css}-problems")
        self.items_box = widgets.VBox(self.sliders)
        self.total_box = widgets.VBox([self.total_text])
        self.heading = widgets.HTML(
            f"<h3 style='margin:4px 0'>{html.escape(tr.text(f'registration.{form}.heading'))}</h3>"
        )
        self.box = widgets.VBox(
            [
                self.heading,
                self.mode,
                self.items_box,
                self.total_box,
                self.live_total,
                self.problems,
            ],
            layout=widgets.Layout(
                border="1px solid #ccc", padding="6px 10px", margin="4px", min_width="460px"
            ),
        ).add_class(f"fitdata-{css}")
        self._label = label
        self._listeners: list[Callable[[], None]] = []
        self._quiet = False  # filling the form from code is not a person's change
        for index, slider in enumerate(self.sliders):
            slider.observe(lambda _c, i=index: self._touch(i), "value")
        self.mode.observe(lambda _c: self._changed(), "value")
        self.total_text.observe(lambda _c: self._changed(), "value")
        self._show_mode()
        self._update_total()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change a person makes."""
        self._listeners.append(listener)

    def _touch(self, index: int) -> None:
        self.touched[index] = True
        self._changed()

    def _changed(self) -> None:
        if self._quiet:
            return
        self._show_mode()
        self._update_total()
        for listener in self._listeners:
            listener()

    def _show_mode(self) -> None:
        self.items_box.layout.display = None if self.mode.value == "items" else "none"
        self.total_box.layout.display = None if self.mode.value == "total" else "none"

    def _update_total(self) -> None:
        tr = self.tr
        scores, _problems = self.read()
        if self.mode.value == "none":
            text = tr.text("registration.input.live_none", form=self._label)
        elif scores is None or (self.mode.value == "items" and not all(self.touched)):
            text = tr.text("registration.input.live_incomplete", form=self._label)
        else:
            text = tr.text(
                "registration.input.live_total", form=self._label, total=tr.number(scores.value)
            )
        self.live_total.value = f"<b>{html.escape(text)}</b>"

    def read(self) -> tuple[Scores | None, list[Problem]]:
        """The scores as entered (None when not given) and problems only the form can see."""
        if self.mode.value == "none":
            return None, []
        if self.mode.value == "total":
            try:
                total = _parse_number(self.total_text.value)
            except ValueError:
                return Scores.from_total(None), [
                    Problem(
                        f"{self.form}_total",
                        "total_unreadable",
                        {"form": self._label, "text": self.total_text.value.strip()},
                    )
                ]
            # an empty box reads as "type the total" (NaN is a missing number to the rules)
            return Scores.from_total(math.nan if total is None else total), []
        scores = Scores.from_items(*(round(s.value, 1) for s in self.sliders))
        unmarked = [
            self.tr.text(f"item.{item}")
            for item, done in zip(FORMS[self.form], self.touched, strict=True)
            if not done
        ]
        if unmarked:
            return scores, [
                Problem(
                    self.form,
                    "not_marked",
                    {"form": self._label, "items": self.tr.join(unmarked)},
                )
            ]
        return scores, []

    def show(self, scores: Scores | None) -> None:
        """Fill the form with saved scores (every line counts as marked)."""
        self._quiet = True
        try:
            self.total_text.value = ""
            for slider in self.sliders:
                slider.value = 0.0
            if scores is None:
                self.mode.value = "none"
            elif scores.items is not None:
                self.mode.value = "items"
                for slider, value in zip(self.sliders, scores.items, strict=True):
                    slider.value = float(value or 0.0)
            else:
                self.mode.value = "total"
                self.total_text.value = self.tr.number(scores.value)
        finally:
            self._quiet = False
        self.touched = [True] * len(self.sliders)
        self._show_mode()
        self._update_total()

    def reset(self, mode: str) -> None:
        """Back to an empty form in ``mode`` (``items``, ``total`` or ``none``)."""
        self._quiet = True
        try:
            for slider in self.sliders:
                slider.value = 0.0
            self.total_text.value = ""
            self.mode.value = mode
        finally:
            self._quiet = False
        self.touched = [False] * len(self.sliders)
        self._show_mode()
        self._update_total()

    def set_disabled(self, disabled: bool) -> None:
        """Lock the form (a saved ORS shown while the SRS is added)."""
        self.mode.disabled = disabled
        self.total_text.disabled = disabled
        for slider in self.sliders:
            slider.disabled = disabled

    def show_problems(self, problems: list[Problem]) -> None:
        """Show this form's problems under it."""
        self.problems.value = _html_list(
            [reg.problem_text(p, self.tr) for p in problems], "fitdata-field-problems"
        )


class RegistrationView:
    """Widgets and behaviour of the registration dashboard.

    Args:
        context: Database, language and thresholds.
        today: Returns today's date (tests pass a fixed one).
        actor: Returns who is making a change. Until there is a login, the therapist chosen
            in the page; a login can pass the logged-in user's id here.
    """

    def __init__(
        self,
        context: DashboardContext,
        *,
        today: Callable[[], dt.date] = dt.date.today,
        actor: Callable[[], str | None] | None = None,
    ) -> None:
        self.context = context
        self.today = today
        self._actor = actor
        tr = context.tr
        self.tr = tr
        self.episode_state: reg.EpisodeState | None = None
        self._loading = False
        # (mode, session id) the forms were last set up for: mode is new, add_srs or done
        self._mode: tuple[str, int | None] | None = None

        def dropdown(key: str, css: str) -> widgets.Dropdown:
            return widgets.Dropdown(description=tr.text(key), layout=_WIDE, style=_STYLE).add_class(
                f"fitdata-{css}"
            )

        self.team = dropdown("filter.team", "team")
        self.therapist = dropdown("filter.therapist", "therapist")
        self.client = dropdown("filter.client", "client")
        self.episode = dropdown("registration.episode.label", "episode")
        self.episode_note = widgets.HTML().add_class("fitdata-episode-problems")

        self.client_code = widgets.Text(
            description=tr.text("registration.new_client.code"),
            placeholder=tr.text("registration.new_client.code_placeholder"),
            style=_STYLE,
        ).add_class("fitdata-new-client-code")
        self.birth_year = widgets.Text(
            description=tr.text("registration.new_client.birth_year"),
            placeholder=tr.text("registration.new_client.birth_year_placeholder"),
            style=_STYLE,
            layout=widgets.Layout(width="220px"),
        ).add_class("fitdata-birth-year")
        self.age_group = widgets.Dropdown(
            description=tr.text("registration.new_client.age_group"),
            options=[(tr.text(f"age_group.{g}"), g) for g in AGE_GROUPS],
            value="adult",
            style=_STYLE,
        ).add_class("fitdata-age-group")
        self.client_note = widgets.HTML().add_class("fitdata-client-problems")
        self.new_client_box = widgets.VBox(
            [
                widgets.HTML(_paragraph(tr.text("registration.new_client.hint"))),
                widgets.HBox(
                    [self.client_code, self.birth_year, self.age_group],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.client_note,
            ],
            layout=widgets.Layout(border="1px dashed #999", padding="4px 10px"),
        ).add_class("fitdata-new-client")

        self.date = widgets.DatePicker(
            description=tr.text("registration.date"), value=today(), style=_STYLE
        ).add_class("fitdata-date")
        self.date_note = widgets.HTML().add_class("fitdata-date-problems")
        self.mode_note = widgets.HTML().add_class("fitdata-mode")
        self.ors = ScoreInput("ors", tr, none_key="registration.input.not_given", css="ors")
        self.srs = ScoreInput("srs", tr, none_key="registration.input.later", css="srs")
        self.save = widgets.Button(
            description=tr.text("registration.save.new"),
            button_style="primary",
            icon="save",
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-save")
        self.save_note = widgets.HTML().add_class("fitdata-save-reason")
        self.message = widgets.HTML().add_class("fitdata-message")
        self.status = widgets.HTML().add_class("fitdata-status")

        # Corrections of a saved session, with its change history.
        self.correct_session = dropdown("registration.correct.session", "correct-session")
        self.correct_date = widgets.DatePicker(
            description=tr.text("registration.date"), style=_STYLE
        ).add_class("fitdata-correct-date")
        self.correct_date_note = widgets.HTML().add_class("fitdata-correct-date-problems")
        self.correct_ors = ScoreInput(
            "ors", tr, none_key="registration.input.not_given", css="correct-ors"
        )
        self.correct_srs = ScoreInput(
            "srs", tr, none_key="registration.input.not_given", css="correct-srs"
        )
        self.reason = widgets.Textarea(
            description=tr.text("registration.correct.reason"),
            placeholder=tr.text("registration.correct.reason_placeholder"),
            style=_STYLE,
            layout=widgets.Layout(width="600px", height="60px"),
        ).add_class("fitdata-reason")
        self.correct_save = widgets.Button(
            description=tr.text("registration.correct.save"),
            button_style="warning",
            icon="pencil",
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-correct-save")
        self.correct_note = widgets.HTML().add_class("fitdata-correct-reason")
        self.history = widgets.HTML().add_class("fitdata-history")

        # Ending the episode.
        self.end_date = widgets.DatePicker(
            description=tr.text("registration.end.date"), value=today(), style=_STYLE
        ).add_class("fitdata-end-date")
        self.end_type = widgets.Dropdown(
            description=tr.text("registration.end.type"),
            options=[(tr.text("registration.end.choose"), "")]
            + [(tr.text(f"registration.end_type.{t}"), t) for t in END_TYPES],
            value="",
            style=_STYLE,
        ).add_class("fitdata-end-type")
        self.end_save = widgets.Button(
            description=tr.text("registration.end.save"),
            icon="flag-checkered",
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-end-save")
        self.end_note = widgets.HTML().add_class("fitdata-end-reason")

        self._loading = True
        try:
            _set_options(self.team, self._team_options())
            if not self.team.options:
                self._show_error(tr.text("registration.no_teams"))
            _set_options(self.therapist, self._therapist_options())
            self._fill_clients()
        finally:
            self._loading = False
        self._load_episode()
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec())
        self.figure_box = widgets.VBox([self.graph], layout=widgets.Layout(width="100%")).add_class(
            "fitdata-graph"
        )
        self._validate()

        self.team.observe(self._guarded(self._on_team), "value")
        self.therapist.observe(self._guarded(self._on_therapist), "value")
        self.client.observe(self._guarded(self._on_client), "value")
        self.episode.observe(self._guarded(self._on_episode), "value")
        for control in (self.client_code, self.birth_year, self.age_group, self.date):
            control.observe(self._guarded(self._on_input), "value")
        self.ors.on_change(self._guarded_call(self._validate))
        self.srs.on_change(self._guarded_call(self._validate))
        self.save.on_click(self._guarded_call(self._on_save))
        self.correct_session.observe(self._guarded(self._on_correct_session), "value")
        for control in (self.correct_date, self.reason):
            control.observe(self._guarded(lambda _c: self._validate_correction()), "value")
        self.correct_ors.on_change(self._guarded_call(self._validate_correction))
        self.correct_srs.on_change(self._guarded_call(self._validate_correction))
        self.correct_save.on_click(self._guarded_call(self._on_correct))
        for control in (self.end_date, self.end_type):
            control.observe(self._guarded(lambda _c: self._validate_end()), "value")
        self.end_save.on_click(self._guarded_call(self._on_end))

    # -- who ------------------------------------------------------------------------------
    @property
    def actor(self) -> str | None:
        """Who makes a change: the logged-in user when there is one, else the therapist chosen."""
        if self._actor is not None:
            return self._actor()
        return user_name(self.context.reader) or self.therapist.value

    # -- options --------------------------------------------------------------------------
    def _team_options(self) -> Options:
        teams = reg.team_choices(self.context.reader)
        return [(row.name, row.team_id) for row in teams.itertuples()]

    def _therapist_options(self) -> Options:
        if self.team.value is None:
            return []
        therapists = reg.therapist_choices(self.context.reader, self.team.value)
        return [(row.name, row.therapist_id) for row in therapists.itertuples()]

    def _choices(self) -> pd.DataFrame:
        if self.team.value is None or self.therapist.value is None:
            return pd.DataFrame(
                columns=["client_id", "episode_id", "started", "ended", "end_type", "sessions"]
            )
        return reg.client_choices(self.context.reader, self.team.value, self.therapist.value)

    def _fill_clients(self, client: str | None = None, episode: str | None = None) -> None:
        """Refill the client and episode lists, keeping or choosing the given ones."""
        tr = self.tr
        self._clients = self._choices()
        options: Options = [(tr.text("registration.client.new"), NEW)]
        seen: set[str] = set()
        for row in self._clients.itertuples():
            if row.client_id in seen:
                continue
            seen.add(row.client_id)
            key = "ongoing" if pd.isna(row.ended) else "ended"
            options.append(
                (tr.text(f"registration.client.option_{key}", client=row.client_id), row.client_id)
            )
        if client is None:
            client = options[1][1] if len(options) > 1 else NEW
        _set_options(self.client, options, client)
        self._fill_episodes(episode)

    def _fill_episodes(self, episode: str | None = None) -> None:
        tr = self.tr
        options: Options = []
        if self.client.value not in (None, NEW):
            rows = self._clients[self._clients["client_id"] == self.client.value]
            for row in rows.itertuples():
                if pd.isna(row.ended):
                    label = tr.count_text(
                        "registration.episode.option_ongoing",
                        int(row.sessions),
                        episode=row.episode_id,
                        started=tr.date(row.started),
                        sessions=int(row.sessions),
                    )
                else:
                    label = tr.count_text(
                        "registration.episode.option_ended",
                        int(row.sessions),
                        episode=row.episode_id,
                        started=tr.date(row.started),
                        ended=tr.date(row.ended),
                        end_type=tr.text(f"registration.end_type.{row.end_type}"),
                        sessions=int(row.sessions),
                    )
                options.append((label, row.episode_id))
        ongoing = [
            r.episode_id
            for r in self._clients[self._clients["client_id"] == self.client.value].itertuples()
            if pd.isna(r.ended)
        ]
        options.append((tr.text("registration.episode.new"), NEW))
        if episode is None:
            episode = ongoing[0] if ongoing else NEW
        _set_options(self.episode, options, episode)

    # -- callbacks ------------------------------------------------------------------------
    def _guarded(self, callback: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """Wrap an observer so an error becomes a friendly message, never a traceback."""

        def run(change: dict[str, Any]) -> None:
            if self._loading:
                return
            run_guarded("registration", self._explained(callback), change, self.message, self.tr)

        return run

    def _explained(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """``callback``, with a refused registration shown as its problems, in words."""

        def run(change: Any) -> None:
            try:
                callback(change)
            except reg.RegistrationError as error:
                self._show_error(" ".join(reg.problem_text(p, self.tr) for p in error.problems))

        return run

    def _guarded_call(self, callback: Callable[[], None]) -> Callable[..., None]:
        guarded = self._guarded(lambda _change: callback())
        return lambda *_args: guarded({})

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    def _show_done(self, text: str) -> None:
        self.message.value = (
            f'<div class="fitdata-saved" role="status" style="color:#107c10;font-weight:bold">'
            f"{html.escape(text)}</div>"
        )

    def _on_team(self, _change: dict[str, Any]) -> None:
        self.message.value = ""
        self._loading = True
        try:
            _set_options(self.therapist, self._therapist_options())
            self._fill_clients()
        finally:
            self._loading = False
        self._after_selection()

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        self.message.value = ""
        self._loading = True
        try:
            self._fill_clients()
        finally:
            self._loading = False
        self._after_selection()

    def _on_client(self, _change: dict[str, Any]) -> None:
        self.message.value = ""
        self._loading = True
        try:
            self._fill_episodes()
        finally:
            self._loading = False
        self._after_selection()

    def _on_episode(self, _change: dict[str, Any]) -> None:
        self.message.value = ""
        self._after_selection()

    def _after_selection(self) -> None:
        # Scores already entered are kept when the person picks another client or episode
        # (they may have picked the wrong one first); a saved session shown instead resets them.
        self._load_episode()
        self._redraw()
        self._validate()

    def _on_input(self, _change: dict[str, Any]) -> None:
        self._validate()

    # -- state ----------------------------------------------------------------------------
    def _client_id(self) -> str | None:
        if self.client.value not in (None, NEW):
            return self.client.value
        code = self.client_code.value.strip()
        return code or None

    def _load_episode(self, session_id: int | None = None) -> None:
        """Read the chosen episode's saved sessions (None for a new episode).

        Args:
            session_id: The session to choose for correction (default: keep the choice).
        """
        self.new_client_box.layout.display = None if self.client.value == NEW else "none"
        if self.episode.value in (None, NEW) or self.client.value in (None, NEW):
            self.episode_state = None
        else:
            self.episode_state = reg.load_episode_state(
                self.context.reader, self.episode.value, self.client.value
            )
        self._fill_corrections(session_id)

    def _existing_client(self) -> reg.NewClient | None:
        """The saved client whose code was typed in the new-client box, if any."""
        code = self.client_code.value.strip()
        if self.client.value != NEW or not code or not reg.CLIENT_CODE.fullmatch(code):
            return None
        return reg.find_client(self.context.reader, code)

    # -- validation as you go -------------------------------------------------------------
    def _current_mode(self) -> str:
        """``new`` session, ``add_srs`` to the saved session on the date, or ``done``."""
        day, state = self.date.value, self.episode_state
        same_day = state.session_on(day) if state is not None and day is not None else None
        if same_day is None:
            return "new"
        return "done" if same_day.srs is not None else "add_srs"

    def _registration(self) -> tuple[reg.Registration | None, list[Problem], str]:
        """What would be saved, the problems that stop it, and the mode (new, add_srs, done)."""
        problems: list[Problem] = []
        day = self.date.value
        state = self.episode_state
        same_day = state.session_on(day) if state is not None and day is not None else None
        if same_day is not None:
            if same_day.srs is not None:
                return None, [], "done"
            srs, srs_problems = self.srs.read()
            if srs is None:
                return None, [Problem("srs", "srs_needed")], "add_srs"
            return None, srs_problems + reg.validate_scores("srs", srs), "add_srs"

        ors, ors_problems = self.ors.read()
        srs, srs_problems = self.srs.read()
        problems += ors_problems + srs_problems
        new_client: reg.NewClient | None = None
        if self.client.value == NEW:
            existing = self._existing_client()
            if existing is None:
                year_text = self.birth_year.value.strip()
                try:
                    birth_year = int(year_text) if year_text else None
                except ValueError:
                    birth_year = None
                    problems.append(
                        Problem("birth_year", "birth_year_unreadable", {"text": year_text})
                    )
                new_client = reg.NewClient(self.client_code.value, self.age_group.value, birth_year)
        client_id = self._client_id() or ""
        registration = reg.Registration(
            team_id=self.team.value or "",
            therapist_id=self.therapist.value or "",
            client_id=client_id,
            episode_id=None if self.episode.value in (None, NEW) else self.episode.value,
            session_date=day,
            ors=ors,
            srs=srs,
            new_client=new_client,
        )
        if self.team.value is None or self.therapist.value is None:
            problems.append(Problem("therapist", "choose_therapist"))
        problems += reg.validate_registration(registration, state, self.today())
        if self.episode.value == NEW and client_id:
            ongoing = self._clients[
                (self._clients["client_id"] == client_id) & self._clients["ended"].isna()
            ]
            if len(ongoing):
                row = ongoing.iloc[0]
                problems.append(
                    Problem(
                        "episode",
                        "episode_ongoing_exists",
                        {"episode": row.episode_id, "started": pd.Timestamp(row.started).date()},
                    )
                )
        # A form problem already reported by the form (e.g. an unreadable total) once is enough.
        seen: set[tuple[str, str]] = set()
        unique = []
        for p in problems:
            if (p.field, p.key) not in seen:
                seen.add((p.field, p.key))
                unique.append(p)
        return registration, unique, "new"

    def _validate(self) -> None:
        """Show problems next to their fields; enable saving only when there are none."""
        tr = self.tr
        state = self.episode_state
        mode = self._current_mode()
        day = self.date.value
        same_day = state.session_on(day) if state is not None and day is not None else None
        key = (mode, same_day.session_id if same_day is not None else None)
        if key != self._mode:
            # Entering a mode sets the forms up for it: a new session starts with the ORS
            # (the SRS comes after the session); adding the SRS shows the saved ORS, locked.
            if mode == "new":
                self.ors.reset("items")
                self.srs.reset("none")
            else:
                assert same_day is not None
                self.ors.show(same_day.ors)
                if mode == "add_srs":
                    self.srs.reset("items")
                else:
                    self.srs.show(same_day.srs)
            self.ors.set_disabled(mode != "new")
            self.srs.set_disabled(mode == "done")
            self._mode = key
        registration, problems, mode = self._registration()
        by_area: dict[str, list[Problem]] = {
            "ors": [],
            "srs": [],
            "date": [],
            "client": [],
            "episode": [],
            "other": [],
        }
        for p in problems:
            if p.field.startswith("ors") and mode == "new":
                by_area["ors"].append(p)
            elif p.field.startswith("srs"):
                by_area["srs"].append(p)
            elif p.field == "session_date":
                by_area["date"].append(p)
            elif p.field in ("client_id", "birth_year", "age_group"):
                by_area["client"].append(p)
            elif p.field == "episode":
                by_area["episode"].append(p)
            else:
                by_area["other"].append(p)
        self.ors.show_problems(by_area["ors"])
        self.srs.show_problems(by_area["srs"])
        self.date_note.value = _html_list(
            [reg.problem_text(p, tr) for p in by_area["date"]], "fitdata-field-problems"
        )
        self.episode_note.value = _html_list(
            [reg.problem_text(p, tr) for p in by_area["episode"]], "fitdata-field-problems"
        )
        existing = self._existing_client()
        client_texts = [reg.problem_text(p, tr) for p in by_area["client"]]
        info = ""
        if existing is not None:
            group = tr.text(f"age_group.{existing.age_group}")
            info = _paragraph(
                tr.text("registration.new_client.existing", code=existing.client_id, group=group),
                "fitdata-existing-client",
            )
        self.client_note.value = info + _html_list(client_texts, "fitdata-field-problems")
        self._show_mode(mode, state)
        if mode == "done":
            self.save.disabled = True
            self.save_note.value = ""
            return
        self.save.description = tr.text(
            "registration.save.add_srs" if mode == "add_srs" else "registration.save.new"
        )
        self.save.disabled = bool(problems)
        if problems:
            reasons = [reg.problem_text(p, tr) for p in problems]
            self.save_note.value = (
                f"<div><b>{html.escape(tr.text('registration.save.blocked'))}</b>"
                f"{_html_list(reasons, 'fitdata-save-problems')}</div>"
            )
        else:
            self.save_note.value = _paragraph(tr.text("registration.save.ready"), "fitdata-ready")

    def _show_mode(self, mode: str, state: reg.EpisodeState | None) -> None:
        tr = self.tr
        day = self.date.value
        if mode in ("done", "add_srs") and state is not None and day is not None:
            same_day = state.session_on(day)
            assert same_day is not None
            text = tr.text(
                f"registration.mode.{mode}", number=same_day.session_no, date=tr.date(day)
            )
        elif state is None:
            text = tr.text("registration.mode.new_episode")
        else:
            text = tr.text(
                "registration.mode.new", number=state.next_session_no, episode=state.episode_id
            )
        self.mode_note.value = f"<p style='font-size:1.1em'><b>{html.escape(text)}</b></p>"

    # -- saving ---------------------------------------------------------------------------
    def _summary(self, ors: Scores | None, srs: Scores | None) -> str:
        tr = self.tr
        parts = [
            tr.text("registration.summary.ors", score=tr.number(ors.value))
            if ors is not None
            else tr.text("registration.summary.no_ors"),
            tr.text("registration.summary.srs", score=tr.number(srs.value))
            if srs is not None
            else tr.text("registration.summary.srs_later"),
        ]
        return "; ".join(parts)

    def _on_save(self) -> None:
        self.message.value = ""
        registration, problems, mode = self._registration()
        if problems or mode == "done":
            self._validate()
            return
        tr = self.tr
        if mode == "add_srs":
            state = self.episode_state
            assert state is not None and self.date.value is not None
            same_day = state.session_on(self.date.value)
            assert same_day is not None
            srs, _ = self.srs.read()
            assert srs is not None
            actor = self.actor
            if not actor:
                raise reg.RegistrationError([Problem("therapist", "actor_missing")])
            saved = reg.add_srs(self.context.db_path, same_day.session_id, srs, actor=actor)
            text = tr.text(
                "registration.srs_added",
                srs=tr.number(srs.value),
                number=saved.session_no,
                date=tr.date(saved.session_date),
            )
        else:
            assert registration is not None
            require_write(self.context.reader, registration.team_id, registration.therapist_id)
            saved = reg.save_session(self.context.db_path, registration, today=self.today())
            text = tr.text(
                "registration.saved",
                number=saved.session_no,
                date=tr.date(saved.session_date),
                client=saved.client_id,
                summary=self._summary(registration.ors, registration.srs),
            )
        self._after_write(saved.client_id, saved.episode_id, saved.session_id)
        self._show_done(text)

    def _after_write(self, client_id: str, episode_id: str, session_id: int | None = None) -> None:
        """Re-read the lists and the episode, reset the forms, redraw the graph."""
        self._loading = True
        try:
            self.client_code.value = ""
            self.birth_year.value = ""
            self._fill_clients(client_id, episode_id)
        finally:
            self._loading = False
        self._mode = None
        self._load_episode(session_id)
        self._redraw()
        self._validate()

    # -- the graph ------------------------------------------------------------------------
    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _current_spec(self) -> Spec:
        context, tr = self.context, self.tr
        state = self.episode_state
        if state is None:
            sessions = pd.DataFrame(
                columns=["session_no", "session_date", "rater", "ors_total", "srs_total"]
            )
            age_group = self.age_group.value if self.client.value == NEW else "adult"
            if self.client.value not in (None, NEW):
                age_group = str(
                    queries.client_profile(context.reader, self.client.value)["age_group"]
                )
            title = tr.text("registration.graph.new_episode")
        else:
            sessions = queries.client_sessions(context.reader, state.episode_id, state.client_id)
            age_group = str(queries.client_profile(context.reader, state.client_id)["age_group"])
            title = tr.text("graph.title", client=state.client_id)
        own = sessions[sessions["rater"] == "client"]
        status = client_status(own, age_group, context.config)
        self.status.value = (
            f'<p class="fitdata-status-text" style="font-size:1.15em">'
            f"{html.escape(status_sentence(status, tr, context.config))}</p>"
        )
        return client_graph_spec(sessions, status, tr, context.config, title=title)

    def _redraw(self) -> None:
        """Show the chosen client's graph (one widget state update; never on a keystroke)."""
        self.graph.show(self._current_spec())

    # -- corrections ----------------------------------------------------------------------
    def _fill_corrections(self, session_id: int | None = None) -> None:
        tr = self.tr
        state = self.episode_state
        options: Options = []
        for s in sorted(state.sessions if state else (), key=lambda s: -s.session_no):
            options.append(
                (
                    tr.text(
                        "registration.correct.option",
                        number=s.session_no,
                        date=tr.date(s.session_date),
                        ors=tr.number(s.ors.value) if s.ors else "–",
                        srs=tr.number(s.srs.value) if s.srs else "–",
                    ),
                    s.session_id,
                )
            )
        previous = session_id if session_id is not None else self.correct_session.value
        loading, self._loading = self._loading, True
        try:
            _set_options(self.correct_session, options, previous)
        finally:
            self._loading = loading
        self._show_correction()
        self._validate_end()

    def _on_correct_session(self, _change: dict[str, Any]) -> None:
        self._show_correction()

    def _show_correction(self) -> None:
        """Fill the correction form with the chosen session's saved values and its history."""
        state = self.episode_state
        chosen = (
            state.session(self.correct_session.value)
            if state and self.correct_session.value
            else None
        )
        loading, self._loading = self._loading, True
        try:
            self.reason.value = ""
            if chosen is None:
                self.correct_date.value = None
                self.correct_ors.show(None)
                self.correct_srs.show(None)
            else:
                self.correct_date.value = chosen.session_date
                self.correct_ors.show(chosen.ors)
                self.correct_srs.show(chosen.srs)
        finally:
            self._loading = loading
        self._show_history(chosen)
        self._validate_correction()

    def _correction(self) -> tuple[reg.Correction | None, list[Problem]]:
        state = self.episode_state
        session_id = self.correct_session.value
        if state is None or session_id is None:
            return None, [Problem("session", "no_session_chosen")]
        ors, ors_problems = self.correct_ors.read()
        srs, srs_problems = self.correct_srs.read()
        correction = reg.Correction(self.correct_date.value, ors, srs, self.reason.value)
        problems = ors_problems + srs_problems
        problems += reg.validate_correction(correction, session_id, state, self.today())
        return correction, problems

    def _validate_correction(self) -> None:
        tr = self.tr
        correction, problems = self._correction()
        self.correct_ors.show_problems([p for p in problems if p.field.startswith("ors")])
        self.correct_srs.show_problems([p for p in problems if p.field.startswith("srs")])
        self.correct_date_note.value = _html_list(
            [reg.problem_text(p, tr) for p in problems if p.field == "session_date"],
            "fitdata-field-problems",
        )
        self.correct_save.disabled = bool(problems)
        if problems:
            reasons = [reg.problem_text(p, tr) for p in problems]
            self.correct_note.value = (
                f"<div><b>{html.escape(tr.text('registration.save.blocked'))}</b>"
                f"{_html_list(reasons, 'fitdata-correct-problems')}</div>"
            )
        else:
            self.correct_note.value = ""

    def _on_correct(self) -> None:
        self.message.value = ""
        correction, problems = self._correction()
        if problems or correction is None:
            self._validate_correction()
            return
        actor = self.actor
        if not actor:
            raise reg.RegistrationError([Problem("therapist", "actor_missing")])
        saved = reg.correct_session(
            self.context.db_path,
            self.correct_session.value,
            correction,
            actor=actor,
            today=self.today(),
        )
        self._after_write(saved.client_id, saved.episode_id, saved.session_id)
        self._show_done(
            self.tr.text(
                "registration.corrected",
                number=saved.session_no,
                date=self.tr.date(saved.session_date),
            )
        )

    def _show_history(self, chosen: reg.SessionRow | None) -> None:
        tr = self.tr
        if chosen is None:
            self.history.value = ""
            return
        entries = reg.session_history(self.context.reader, chosen.session_id)
        heading = html.escape(tr.text("registration.history.heading", number=chosen.session_no))
        if not entries:
            self.history.value = (
                f"<h4>{heading}</h4><p class='fitdata-history-empty'>"
                f"{html.escape(tr.text('registration.history.empty'))}</p>"
            )
            return
        head = "".join(
            "<th style='text-align:left;padding:2px 8px'>"
            f"{html.escape(tr.text(f'registration.history.{c}'))}</th>"
            for c in ("when", "who", "what", "change", "why")
        )
        names = {value: label for label, value in self.therapist.options}
        rows = []
        for entry in reversed(entries):
            when = entry.changed_at.replace(tzinfo=dt.UTC).astimezone()
            cells = [
                f"{tr.date(when.date())} {when:%H:%M}",
                names.get(entry.changed_by, entry.changed_by),
                tr.text(f"registration.history.type.{entry.change_type}"),
                self._difference(entry.before, entry.after),
                entry.reason or "",
            ]
            rows.append(
                "<tr>"
                + "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in cells)
                + "</tr>"
            )
        self.history.value = (
            f"<h4>{heading}</h4><table class='fitdata-history-table'>"
            f"<tr>{head}</tr>{''.join(rows)}</table>"
        )

    def _difference(self, before: reg.SessionRow, after: reg.SessionRow) -> str:
        """What changed, e.g. "ORS 32.0 → 23.0; date 2026-11-21 → 2026-11-22"."""
        tr = self.tr
        parts = []
        if before.session_date != after.session_date:
            parts.append(
                tr.text(
                    "registration.history.field",
                    field=tr.text("registration.date"),
                    before=tr.date(before.session_date),
                    after=tr.date(after.session_date),
                )
            )
        for form in ("ors", "srs"):
            old, new = getattr(before, form), getattr(after, form)
            if old == new:
                continue
            parts.append(
                tr.text(
                    "registration.history.field",
                    field=form.upper(),
                    before=self._scores_text(old),
                    after=self._scores_text(new),
                )
            )
        return "; ".join(parts)

    def _scores_text(self, scores: Scores | None) -> str:
        tr = self.tr
        if scores is None:
            return "–"
        if scores.items is None:
            return tr.number(scores.value)
        items = " + ".join(tr.number(float(i or 0)) for i in scores.items)
        return f"{tr.number(scores.value)} ({items})"

    # -- ending the episode ---------------------------------------------------------------
    def _validate_end(self) -> None:
        tr = self.tr
        state = self.episode_state
        if state is None:
            problems = [Problem("episode", "end_new_episode")]
        else:
            problems = reg.validate_end(
                state, self.end_date.value, self.end_type.value, self.today(), state.last_date
            )
        self.end_save.disabled = bool(problems)
        self.end_note.value = _html_list(
            [reg.problem_text(p, tr) for p in problems], "fitdata-end-problems"
        )

    def _on_end(self) -> None:
        self.message.value = ""
        state = self.episode_state
        if state is None:
            self._validate_end()
            return
        reg.end_episode(
            self.context.db_path,
            state.episode_id,
            self.end_date.value,
            self.end_type.value,
            today=self.today(),
        )
        end_type = self.end_type.value
        self._loading = True
        try:
            self.end_type.value = ""
        finally:
            self._loading = False
        self._after_write(state.client_id, state.episode_id)
        self._show_done(
            self.tr.text(
                "registration.end.done",
                episode=state.episode_id,
                date=self.tr.date(self.end_date.value),
                end_type=self.tr.text(f"registration.end_type.{end_type}"),
            )
        )

    # -- layout ---------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.tr
        row = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        choose = widgets.HBox([self.team, self.therapist, self.client, self.episode], layout=row)

        def heading(key: str) -> widgets.HTML:
            return widgets.HTML(f"<h2 style='margin:14px 0 4px'>{html.escape(tr.text(key))}</h2>")

        correct = widgets.VBox(
            [
                heading("registration.correct.heading"),
                self.correct_session,
                widgets.HBox([self.correct_date, self.correct_date_note], layout=row),
                widgets.HBox([self.correct_ors.box, self.correct_srs.box], layout=row),
                self.reason,
                widgets.HBox([self.correct_save, self.correct_note], layout=row),
                self.history,
            ]
        ).add_class("fitdata-correction")
        end = widgets.VBox(
            [
                heading("registration.end.heading"),
                widgets.HBox([self.end_date, self.end_type, self.end_save], layout=row),
                self.end_note,
            ]
        ).add_class("fitdata-end")
        return widgets.VBox(
            [
                choose,
                self.episode_note,
                self.new_client_box,
                widgets.HBox([self.date, self.date_note], layout=row),
                self.mode_note,
                widgets.HBox([self.ors.box, self.srs.box], layout=row),
                widgets.HBox([self.save, self.save_note], layout=row),
                self.message,
                self.status,
                self.figure_box,
                correct,
                end,
            ]
        ).add_class("fitdata-registration")


def build_registration(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the registration dashboard for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build_dashboard("registration", lambda c: RegistrationView(c).widget, context)
