"""The registration dashboard: record today's ORS (before the session) and SRS (after it).

team -> therapist -> client (or a new one) -> episode (or a new one), a date (today by
default), the ORS as four 0-10 lines in 0.1 steps or a total, and the SRS likewise, either now
or after the session ("add the SRS to today's session"). Everything is validated as the person
types, with the message next to the field and the save button disabled with the reason. After
saving, the client's graph and status sentence are redrawn at once. A saved session can be
corrected with a reason; the old values are kept and shown as the session's change history.
An episode can be ended with an end type.

All rules and writes are in :mod:`fitdata.features.registration`; this module only wires widgets to
them (the score forms are :mod:`fitdata.ui.registration_forms`, correcting and ending
:mod:`fitdata.ui.registration_corrections`). State lives in widget traitlets, so tests drive the
view in plain Python.

The page offers only what its user may register for (:func:`fitdata.features.registration.
team_choices`): a therapist her own clients, a supervisor her teams'.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.data import queries
from fitdata.data.access import user_name
from fitdata.features import registration as reg
from fitdata.features.registration import Problem, Scores
from fitdata.features.registration_episode_rules import INDEX_NAMED_AS
from fitdata.identifiers import is_client_code
from fitdata.ui.charts import (
    ParticipantSeries,
    Spec,
    client_graph_spec,
    episode_graph,
    no_sessions,
    participant_label,
)
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.registration_corrections import Corrections
from fitdata.ui.registration_episode import EpisodeForms, new_client_fields
from fitdata.ui.registration_forms import (
    ScoreInput,
    once,
    paragraph_html,
    problem_areas,
    problems_html,
)
from fitdata.ui.registration_handover import handover_panel
from fitdata.ui.rules import graph_rules, rules_html, rules_list_html
from fitdata.ui.view import Options, builder, set_options
from fitdata.vocabulary import FORMATS

__all__ = ["RegistrationView", "ScoreInput", "build_registration"]

log = logging.getLogger(__name__)

#: Option value of "new client" and "start a new episode".
NEW = "__new__"
_STYLE = {"description_width": "initial"}
#: The page's rows: no gap, tops aligned (the forms differ in height).
_ROW: dict[str, Any] = {"gap": None, "align_items": "flex-start"}


class RegistrationView(Corrections, EpisodeForms, name="registration", css="fitdata-registration"):
    """Widgets and behaviour of the registration dashboard.

    Args:
        context: Database, language and thresholds.
        today: Returns today's date (tests pass a fixed one).
        actor: Returns who is making a change. Until there is a login, the therapist chosen
            in the page; a login can pass the logged-in user's id here.
    """

    clears_message = False  # "saved" stays while the person starts on the next session

    def __init__(
        self,
        context: DashboardContext,
        *,
        today: Callable[[], dt.date] = dt.date.today,
        actor: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(context)
        self.today = today
        self._actor = actor
        tr = self.tr
        self.episode_state: reg.EpisodeState | None = None
        # (mode, session id) the forms were last set up for: mode is new, add_srs or done
        self._mode: tuple[str, int | None] | None = None

        self.team = self.dropdown(tr.text("filter.team"), "team")
        self.therapist = self.dropdown(tr.text("filter.therapist"), "therapist")
        self.client = self.dropdown(tr.text("filter.client"), "client")
        self.episode = self.dropdown(tr.text("registration.episode.label"), "episode")
        self.episode_note = widgets.HTML().add_class("fitdata-episode-problems")
        self.format = widgets.Dropdown(
            description=tr.text("registration.format.label"),
            options=[(tr.text(f"registration.format.{f}"), f) for f in FORMATS],
            value="individual",
            style=_STYLE,
        ).add_class("fitdata-format")

        self.client_code, self.birth_year, self.age_group = new_client_fields(
            tr, ("fitdata-new-client-code", "fitdata-birth-year", "fitdata-age-group")
        )
        self.client_note = widgets.HTML().add_class("fitdata-client-problems")
        self.new_client_box = widgets.VBox(
            [
                widgets.HTML(paragraph_html(tr.text("registration.new_client.hint"))),
                self.row([self.client_code, self.birth_year, self.age_group], gap=None),
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
        save = tr.text("registration.save.new")
        self.save = self.button(save, "save", button_style="primary", icon="save")
        self.save_note = widgets.HTML().add_class("fitdata-save-reason")
        self.status = widgets.HTML().add_class("fitdata-status")
        self.rules = widgets.HTML().add_class("fitdata-rules")

        self.single_forms = self.row([self.ors.box, self.srs.box], **_ROW)
        self._make_correction_widgets(today)
        self._make_episode_widgets()

        with self.holding():
            set_options(self.team, self._team_options())
            if not self.team.options:
                self.show_error(tr.text(self._no_teams_key()))
            set_options(self.therapist, self._therapist_options())
            self._fill_clients()
        self._load_episode()
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec(), lang=self.tr.lang)
        self.figure_box = self.graph_box(self.graph)
        self._validate()

        self.team.observe(self.guarded(self._on_team), "value")
        self.therapist.observe(self.guarded(self._on_therapist), "value")
        self.client.observe(self.guarded(self._on_client), "value")
        self.episode.observe(self.guarded(self._on_episode), "value")
        for control in (self.client_code, self.birth_year, self.age_group, self.date, self.format):
            control.observe(self.guarded(self._on_input), "value")
        self.ors.on_change(self.guarded_click(self._validate))
        self.srs.on_change(self.guarded_click(self._validate))
        self.save.on_click(self.guarded_click(self._on_save))
        self._observe_corrections()
        self._observe_episode_forms()
        # the client's own page for the chosen episode: a tablet, or a link for their phone
        self.handover_box = handover_panel(self)

    # -- who ------------------------------------------------------------------------------
    @property
    def actor(self) -> str | None:
        """Who makes a change: the logged-in user when there is one, else the therapist chosen."""
        if self._actor is not None:
            return self._actor()
        return user_name(self.context.reader) or self.therapist.value

    # -- options --------------------------------------------------------------------------
    def _no_teams_key(self) -> str:
        """Why no team is offered: an empty database, or a user who may register for none."""
        if user_name(self.context.reader) is None:
            return "registration.no_teams"
        return "registration.no_teams_for_user"

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
        for r in self._clients.itertuples():
            if r.client_id in seen:
                continue
            seen.add(r.client_id)
            key = "ongoing" if pd.isna(r.ended) else "ended"
            options.append(
                (tr.text(f"registration.client.option_{key}", client=r.client_id), r.client_id)
            )
        if client is None:
            client = options[1][1] if len(options) > 1 else NEW
        set_options(self.client, options, client)
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
                        started=tr.date(row.started),
                        sessions=int(row.sessions),
                    )
                else:
                    label = tr.count_text(
                        "registration.episode.option_ended",
                        int(row.sessions),
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
        set_options(self.episode, options, episode)

    # -- callbacks ------------------------------------------------------------------------
    def guarded(self, callback: Callable[[Any], None]) -> Callable[..., None]:
        """A guarded callback (see :class:`DashboardView`) that shows a refused save's reasons."""
        return super().guarded(self._explained(callback))

    def _explained(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """``callback``, with a refused registration shown as its problems, in words."""

        def run(change: Any) -> None:
            try:
                callback(change)
            except reg.RegistrationError as error:
                self.show_error(" ".join(reg.problem_text(p, self.tr) for p in error.problems))

        return run

    def _show_done(self, text: str) -> None:
        self.message.value = (
            f'<div class="fitdata-saved" role="status" style="color:#107c10;font-weight:bold">'
            f"{html.escape(text)}</div>"
        )

    def _reselect(self, refill: Callable[[], None]) -> None:
        """Refill the lists below a changed choice, then show what is now chosen once."""
        self.message.value = ""
        with self.holding():
            refill()
        self._after_selection()

    def _on_team(self, _change: dict[str, Any]) -> None:
        def refill() -> None:
            set_options(self.therapist, self._therapist_options())
            self._fill_clients()

        self._reselect(refill)

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        self._reselect(self._fill_clients)

    def _on_client(self, _change: dict[str, Any]) -> None:
        self._reselect(self._fill_episodes)

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
        if self.client.value == NEW:  # a new child's lines read in a child's words
            self._set_child(self.age_group.value == "child")
        self._validate()

    def _set_child(self, child: bool) -> None:
        """The words at the lines' ends: a child's (CORS, CSRS) or not."""
        for form in (self.ors, self.srs, self.correct_ors, self.correct_srs):
            form.set_child(child)

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
        self.format.layout.display = None if self.episode.value in (None, NEW) else "none"
        if self.episode.value in (None, NEW) or self.client.value in (None, NEW):
            self.episode_state = None
        else:
            self.episode_state = reg.load_episode_state(
                self.context.reader, self.episode.value, self.client.value
            )
        self._load_participants()
        self.single_forms.layout.display = "none" if self.joint else None
        self.blocks_box.layout.display = None if self.joint else "none"
        self._fill_corrections(session_id)

    def _existing_client(self) -> reg.NewClient | None:
        """The saved client whose code was typed in the new-client box, if any."""
        code = self.client_code.value.strip()
        if self.client.value != NEW or not code or not is_client_code(code):
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
            return None, once(srs_problems + reg.validate_scores("srs", srs)), "add_srs"

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
            format=self.format.value,
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
        return registration, once(problems), "new"

    def _validate(self) -> None:
        """Show problems next to their fields; enable saving only when there are none."""
        if self.joint:
            self._validate_joint()
            return
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
        by_area = problem_areas(problems, ors_shown=mode == "new")
        self.ors.show_problems(by_area["ors"])
        self.srs.show_problems(by_area["srs"])
        self.date_note.value = self._problems_html(by_area["date"])
        self.episode_note.value = self._problems_html(by_area["episode"])
        existing = self._existing_client()
        info = ""
        if existing is not None:
            group = tr.text(f"age_group.{existing.age_group}")
            info = paragraph_html(
                tr.text("registration.new_client.existing", code=existing.client_id, group=group),
                "fitdata-existing-client",
            )
        self.client_note.value = info + self._problems_html(by_area["client"])
        self._show_mode(mode, state)
        if mode == "done":
            self.save.disabled = True
            self.save_note.value = ""
            return
        self.save.description = tr.text(
            "registration.save.add_srs" if mode == "add_srs" else "registration.save.new"
        )
        self.save.disabled = bool(problems)
        self._show_save_note(problems)

    def _validate_joint(self) -> None:
        """The same for everyone's forms: each participant's problems under their block."""
        tr = self.tr
        session, problems, open_forms = self._joint_session()
        rest = self._show_joint_problems(problems)
        by_area = problem_areas(rest, ors_shown=False)
        self.date_note.value = self._problems_html(by_area["date"])
        self.episode_note.value = self._problems_html(by_area["episode"])
        self.client_note.value = ""
        day = self.date.value
        self.mode_note.value = (
            "<p style='font-size:1.1em'><b>"
            + html.escape(tr.text("registration.mode.joint", date=tr.date(day) if day else "–"))
            + "</b></p>"
        )
        self.save.description = tr.text("registration.save.joint")
        self.save.disabled = bool(problems) or not open_forms
        if open_forms:
            self._show_save_note(problems)
        else:
            self.save_note.value = ""

    def _show_save_note(self, problems: list[Problem]) -> None:
        """Under the save button: what blocks it, or that it is ready."""
        tr = self.tr
        if problems:
            self.save_note.value = (
                f"<div><b>{html.escape(tr.text('registration.save.blocked'))}</b>"
                f"{self._problems_html(problems, 'fitdata-save-problems')}</div>"
            )
        else:
            self.save_note.value = paragraph_html(
                tr.text("registration.save.ready"), "fitdata-ready"
            )

    def _problems_html(self, problems: list[Problem], css: str = "fitdata-field-problems") -> str:
        return problems_html([reg.problem_text(p, self.tr) for p in problems], css)

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
            started = tr.date(state.started)
            text = tr.text("registration.mode.new", number=state.next_session_no, started=started)
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
        if self.joint:
            state = self.episode_state
            assert state is not None
            text = self._save_joint()
            self._after_write(state.client_id, state.episode_id)
            self._show_done(text)
            return
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
            actor = self._writer(state)
            saved = reg.add_srs(self.context.db_path, same_day.session_id, srs, actor=actor)
            text = tr.text(
                "registration.srs_added",
                srs=tr.number(srs.value),
                number=saved.session_no,
                date=tr.date(saved.session_date),
            )
        else:
            assert registration is not None
            self._check_write(registration.team_id, registration.therapist_id)
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
        with self.holding():
            self.client_code.value = ""
            self.birth_year.value = ""
            self._fill_clients(client_id, episode_id)
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
        clients = [p for p in self.participants if p.is_client]
        if state is not None and len(clients) > 1:
            return self._episode_spec(state, clients)
        if state is None:
            sessions = no_sessions()
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
        self._set_child(age_group == "child")
        own = sessions[sessions["rater"] == "client"]
        status = client_status(own, age_group, context.config)
        ended = self._ended()
        sentence = status_sentence(status, tr, context.config, ended=ended)
        self.status.value = self.status_html(sentence)
        self.rules.value = rules_html(tr, context.config, age_group)
        return client_graph_spec(sessions, status, tr, context.config, title=title, ended=ended)

    def _ended(self) -> EpisodeEnd | None:
        """How the chosen episode ended (None while it is ongoing or none is chosen)."""
        state = self.episode_state
        return None if state is None else EpisodeEnd.of(state.ended, state.end_type)

    def _episode_spec(self, state: reg.EpisodeState, clients: list[reg.Participant]) -> Spec:
        """A couple's or family's graph: every participant on one figure, a sentence each."""
        context, tr, config = self.context, self.tr, self.context.config
        sessions = queries.episode_sessions(context.reader, state.episode_id)
        named_as = INDEX_NAMED_AS.get(state.format)
        series: list[ParticipantSeries] = []
        sentences = []
        ended = self._ended()
        for position, one in enumerate(clients):
            rows = sessions[sessions["client_id"] == one.client_id]
            rows = rows.sort_values(["session_no", "rater"]).reset_index(drop=True)
            status = client_status(rows[rows["rater"] == "client"], one.age_group, config)
            label = participant_label(one.role, one.client_id, position, tr, format=state.format)
            series.append(ParticipantSeries(one.client_id, one.role, label, rows, status))
            sentences.append(
                f"<p style='margin:0.3em 0 0'><b>{html.escape(label)}</b></p>"
                + self.status_html(status_sentence(status, tr, config, ended=ended))
            )
        self.status.value = "".join(sentences)
        groups = list(dict.fromkeys(one.age_group for one in clients))
        self.rules.value = rules_list_html(
            html.escape(tr.text("rule.heading")), graph_rules(tr, config, groups)
        )
        kind = {"partner": "couple", "family_member": "family"}.get(named_as or "", "episode")
        title = tr.text(
            f"client_graph.title.{kind}", clients=tr.join([one.client_id for one in clients])
        )
        return episode_graph(series, tr, config, title=title, ended=ended)

    def _redraw(self) -> None:
        """Show the chosen client's graph (one widget state update; never on a keystroke)."""
        self.graph.show(self._current_spec())

    # -- layout ---------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.tr

        def heading(key: str) -> widgets.HTML:
            return widgets.HTML(f"<h2 style='margin:14px 0 4px'>{html.escape(tr.text(key))}</h2>")

        return self.page(
            [
                self.row([self.team, self.therapist, self.client, self.episode], **_ROW),
                self.episode_note,
                self.new_client_box,
                self.row([self.date, self.format, self.date_note], **_ROW),
                self.mode_note,
                self.single_forms,
                self.blocks_box,
                self.row([self.save, self.save_note], **_ROW),
                self.message,
                self.status,
                self.figure_box,
                self.rules,
                self.handover_box,
                self._correction_box(heading),
                self._add_box(heading),
                self._end_box(heading),
            ]
        )


build_registration = builder(RegistrationView, "build_registration")
