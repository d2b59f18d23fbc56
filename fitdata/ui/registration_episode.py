"""Registration for a couple, family or group: one block of forms per participant, adding one.

When the chosen episode has more than one participant (a couple's two partners, a family, a
child and a parent who rates the child), the page shows one block per participant, named by
role and code ("Partner · K-1234") with the forms by name ("CORS (child)"): each client's ORS
before and SRS after the session, a collateral rater's ORS only. One save writes everyone's
rows in one transaction (:func:`fitdata.features.registration.save_episode_session`); each
participant's problems are shown under their own block and named in the list by the save
button. A participant whose forms are both "Not given" did not come and gets no row; at least
one participant must have scores.

Below, a partner, family member or a parent's or teacher's rating can be added to the ongoing
episode (:func:`fitdata.features.registration.add_participant`), with the same checks as a new
client (never an identity number). :class:`EpisodeForms` is a base of the registration view;
the view provides the chosen episode and client and redraws after a write.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from fitdata.config import AGE_GROUPS
from fitdata.data.access import reader_user
from fitdata.features import registration as reg
from fitdata.features.registration import Participant, ParticipantScores, Problem, Scores
from fitdata.features.registration_episode_rules import (
    COLLATERAL_RATERS,
    ROLE_FOR_FORMAT,
    shown_role,
)
from fitdata.i18n import Translator
from fitdata.identifiers import is_client_code
from fitdata.ui.registration_forms import ScoreInput, once, paragraph_html, problems_html
from fitdata.ui.view import DashboardView, Options, set_options
from fitdata.vocabulary import default_forms

__all__ = ["EpisodeForms", "ParticipantForms", "new_client_fields"]

_STYLE = {"description_width": "initial"}
_ROW: dict[str, Any] = {"gap": None, "align_items": "flex-start"}


def new_client_fields(
    tr: Translator, classes: tuple[str, str, str]
) -> tuple[widgets.Text, widgets.Text, widgets.Dropdown]:
    """A new client's code, birth year and age group (adult by default), with these CSS classes.

    The registration page asks them for a new client, the episode's forms for a participant
    added to a couple's, family's or group's episode.
    """
    code = widgets.Text(
        description=tr.text("registration.new_client.code"),
        placeholder=tr.text("registration.new_client.code_placeholder"),
        style=_STYLE,
    ).add_class(classes[0])
    birth_year = widgets.Text(
        description=tr.text("registration.new_client.birth_year"),
        placeholder=tr.text("registration.new_client.birth_year_placeholder"),
        style=_STYLE,
        layout=widgets.Layout(width="220px"),
    ).add_class(classes[1])
    age_group = widgets.Dropdown(
        description=tr.text("registration.new_client.age_group"),
        options=[(tr.text(f"choice.age_group.{g}"), g) for g in AGE_GROUPS],
        value="adult",
        style=_STYLE,
    ).add_class(classes[2])
    return code, birth_year, age_group


class ParticipantForms:
    """One participant's block: who they are, their forms by name, the ORS and (a client's) SRS.

    Args:
        participant: Who.
        index: Their place on the page (CSS classes ``fitdata-p<index>-ors`` ...).
        format: The episode's format (a group's alliance form is the GSRS).
        tr: The page's language.
    """

    def __init__(self, participant: Participant, index: int, format: str, tr: Translator) -> None:
        self.participant, self.tr, self.format = participant, tr, format
        p = participant
        self.label = reg.participant_label(p.client_id, shown_role(p.role, format), p.rater, tr)
        ors_form, srs_form = default_forms(p.age_group, format)
        self.forms = (ors_form, srs_form if p.is_client else None)
        self.ors = ScoreInput(
            "ors", tr, none_key="registration.input.not_given", css=f"p{index}-ors"
        )
        self.ors.set_form(ors_form, tr.text(f"form.{ors_form}"))
        self.ors.set_child(p.age_group == "child")
        self.srs: ScoreInput | None = None
        if p.is_client:
            self.srs = ScoreInput(
                "srs", tr, none_key="registration.input.later", css=f"p{index}-srs"
            )
            self.srs.set_form(srs_form, tr.text(f"form.{srs_form}"))
            self.srs.set_child(p.age_group == "child")
        key = "forms" if p.is_client else "forms_rater"
        names = {"ors": tr.text(f"form.{ors_form}"), "srs": tr.text(f"form.{srs_form}")}
        about = tr.text(f"registration.participant.{key}", **names)
        self.heading = widgets.HTML(
            f"<h3 style='margin:6px 0 0'>{html.escape(self.label)}</h3>"
            f"<p style='margin:0;color:#555'>{html.escape(about)}</p>"
        )
        self.note = widgets.HTML().add_class("fitdata-participant-mode")
        self.problems = widgets.HTML().add_class("fitdata-participant-problems")
        forms = [self.ors.box] + ([self.srs.box] if self.srs is not None else [])
        self.box = widgets.VBox(
            [self.heading, self.note, DashboardView.row(forms, **_ROW), self.problems],
            layout=widgets.Layout(border="1px solid #8a8886", padding="4px 10px", margin="4px 0"),
        )
        self.box.add_class("fitdata-participant").add_class(f"fitdata-participant-{index}")
        self.mode: tuple[str, int | None] | None = None
        self.state: reg.EpisodeState | None = None

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change a person makes in this block."""
        self.ors.on_change(listener)
        if self.srs is not None:
            self.srs.on_change(listener)

    def name(self, problem: Problem) -> Problem:
        """``problem`` as this participant's."""
        return self.participant.name(problem, self.format)

    def set_up(self, state: reg.EpisodeState | None, day: dt.date | None) -> str:
        """Set the forms up for the day (new session, add the SRS, done); return the mode."""
        self.state = state
        mode = reg.participant_mode(state, day)
        same_day = state.session_on(day) if state is not None and day is not None else None
        key = (mode, same_day.session_id if same_day is not None else None)
        if key != self.mode:
            if mode == "new":
                self.ors.reset("items")
                if self.srs is not None:
                    self.srs.reset("none")
            else:
                assert same_day is not None
                self.ors.show(same_day.ors)
                if self.srs is not None:
                    if mode == "add_srs":
                        self.srs.reset("items")
                    else:
                        self.srs.show(same_day.srs)
            self.ors.set_disabled(mode != "new")
            if self.srs is not None:
                self.srs.set_disabled(mode == "done")
            self.mode = key
        tr = self.tr
        if same_day is not None:
            key = f"registration.mode.{mode}" if self.srs else "registration.participant.mode_rated"
            text = tr.text(key, number=same_day.session_no, date=tr.date(day))
        else:
            number = state.next_session_no if state is not None else 1
            text = tr.text("registration.participant.mode_new", number=number)
        self.note.value = paragraph_html(text)
        return mode

    def read(self, mode: str) -> tuple[ParticipantScores, list[Problem]]:
        """This participant's forms as entered, and the problems only the forms can see."""
        p = self.participant
        if mode == "done" or (mode == "add_srs" and self.srs is None):
            return ParticipantScores(p.client_id, p.rater), []
        srs: Scores | None = None
        problems: list[Problem] = []
        if self.srs is not None:
            srs, problems = self.srs.read()
        if mode == "add_srs":
            return ParticipantScores(p.client_id, p.rater, None, srs), problems
        ors, ors_problems = self.ors.read()
        return ParticipantScores(p.client_id, p.rater, ors, srs), ors_problems + problems

    def show_problems(self, texts: list[str]) -> None:
        """Show this participant's problems under their block."""
        self.problems.value = problems_html(texts, "fitdata-field-problems")


class EpisodeForms(DashboardView):
    """The registration page's parts for several participants (a base of its view).

    The view provides ``episode`` and ``client`` (dropdowns), ``date``, ``episode_state``,
    ``today``, ``actor``, ``_after_write``, ``_show_done``, ``_check_write`` and ``_validate``.
    """

    episode: widgets.Dropdown
    client: widgets.Dropdown
    date: widgets.DatePicker
    episode_state: reg.EpisodeState | None
    today: Callable[[], dt.date]

    def _after_write(self, client_id: str, episode_id: str, session_id: int | None = None) -> None:
        raise NotImplementedError

    def _show_done(self, text: str) -> None:
        raise NotImplementedError

    def _check_write(self, team_id: str, therapist_id: str) -> None:
        raise NotImplementedError

    def _validate(self) -> None:
        raise NotImplementedError

    @property
    def actor(self) -> str | None:
        """Who makes a change (the view says)."""
        raise NotImplementedError

    # -- widgets --------------------------------------------------------------------------
    def _make_episode_widgets(self) -> None:
        """The participant blocks' box and the add-a-participant part (before the view fills)."""
        tr = self.tr
        self.participants: list[Participant] = []
        self.blocks: list[ParticipantForms] = []
        self.participant_states: dict[tuple[str, str], reg.EpisodeState] = {}
        self.blocks_box = widgets.VBox([]).add_class("fitdata-participants")
        self.add_who = widgets.Dropdown(
            description=tr.text("registration.add.who"), style=_STYLE
        ).add_class("fitdata-add-who")
        self.add_code, self.add_birth_year, self.add_age_group = new_client_fields(
            tr, ("fitdata-add-code", "fitdata-add-birth-year", "fitdata-add-age-group")
        )
        self.add_date = widgets.DatePicker(
            description=tr.text("registration.add.date"), value=self.today(), style=_STYLE
        ).add_class("fitdata-add-date")
        self.add_info = widgets.HTML().add_class("fitdata-add-info")
        self.add_save = self.button(tr.text("registration.add.save"), "add-save", icon="user-plus")
        self.add_note = widgets.HTML().add_class("fitdata-add-reason")
        self.add_client_box = widgets.HBox(
            [self.add_code, self.add_birth_year, self.add_age_group]
        ).add_class("fitdata-add-client")

    def _observe_episode_forms(self) -> None:
        for control in (
            self.add_who,
            self.add_code,
            self.add_birth_year,
            self.add_age_group,
            self.add_date,
        ):
            control.observe(self.guarded(lambda _c: self._validate_add()), "value")
        self.add_save.on_click(self.guarded_click(self._on_add))

    def _add_box(self, heading: Callable[[str], widgets.HTML]) -> widgets.VBox:
        """Adding a partner, family member or collateral rater to the chosen episode."""
        return widgets.VBox(
            [
                heading("registration.add.heading"),
                widgets.HTML(paragraph_html(self.tr.text("registration.add.hint"))),
                self.row([self.add_who, self.add_date], **_ROW),
                self.add_client_box,
                self.add_info,
                self.row([self.add_save, self.add_note], **_ROW),
            ]
        ).add_class("fitdata-add-participant")

    # -- the participants ---------------------------------------------------------------
    @property
    def joint(self) -> bool:
        """True when the chosen episode's session is registered for several participants."""
        return len(self.participants) > 1

    def _load_participants(self) -> None:
        """Read who takes part in the chosen episode; rebuild the blocks when that changed."""
        state = self.episode_state
        if state is None:
            participants: list[Participant] = []
        else:
            participants = reg.episode_participants(self.context.reader, state.episode_id)
        if [p.key for p in participants] != [p.key for p in self.participants] or any(
            b.participant != p for b, p in zip(self.blocks, participants, strict=False)
        ):
            self.participants = participants
            format_ = state.format if state is not None else "individual"
            self.blocks = (
                [ParticipantForms(p, i, format_, self.tr) for i, p in enumerate(participants)]
                if self.joint
                else []
            )
            for block in self.blocks:
                block.on_change(self.guarded_click(self._validate))
            self.blocks_box.children = [b.box for b in self.blocks]
        self.participant_states = (
            reg.episode_states(self.context.reader, state.episode_id, participants)
            if state is not None and self.joint
            else {}
        )
        self._fill_add_options()

    def _joint_session(self) -> tuple[reg.EpisodeSession | None, list[Problem], bool]:
        """What a joint save would write, its problems, and whether anything can be saved."""
        state = self.episode_state
        assert state is not None
        day = self.date.value
        entries: list[ParticipantScores] = []
        problems: list[Problem] = []
        open_forms = False
        for block in self.blocks:
            mode = block.set_up(self.participant_states.get(block.participant.key), day)
            open_forms = open_forms or mode != "done"
            scores, found = block.read(mode)
            entries.append(scores)
            problems += [block.name(p) for p in found]
        if day is None:
            return None, [Problem("session_date", "date_missing")], open_forms
        session = reg.EpisodeSession(state.episode_id, day, tuple(entries))
        problems += reg.validate_episode_session(
            session, state, self.participants, self.participant_states, self.today()
        )
        return session, once(problems), open_forms

    def _show_joint_problems(self, problems: list[Problem]) -> list[Problem]:
        """Show each participant's problems under their block; return the others."""
        rest: list[Problem] = []
        by_key: dict[tuple[str, str], list[str]] = {b.participant.key: [] for b in self.blocks}
        for p in problems:
            if p.participant is not None and (p.participant[0], p.participant[2]) in by_key:
                inner = Problem(p.field, p.key, p.values)
                by_key[(p.participant[0], p.participant[2])].append(
                    reg.problem_text(inner, self.tr)
                )
            else:
                rest.append(p)
        for block in self.blocks:
            block.show_problems(by_key[block.participant.key])
        return rest

    def _save_joint(self) -> str:
        """Save everyone's forms in one save; return the page's message."""
        session, problems, _open = self._joint_session()
        state = self.episode_state
        assert session is not None and state is not None and not problems
        actor = self.actor
        if not actor:
            raise reg.RegistrationError([Problem("therapist", "actor_missing")])
        self._check_write(state.team_id, state.therapist_id)
        saved = reg.save_episode_session(
            self.context.db_path, session, actor=actor, today=self.today()
        )
        tr = self.tr
        labels = {b.participant.key: b.label for b in self.blocks}
        parts = []
        written = [e for e in session.scores if e.given]
        for entry, done in zip(written, saved, strict=True):
            scores = []
            if entry.ors is not None:
                scores.append(tr.text("registration.summary.ors", score=tr.number(entry.ors.value)))
            if entry.srs is not None:
                scores.append(tr.text("registration.summary.srs", score=tr.number(entry.srs.value)))
            parts.append(
                tr.text(
                    "registration.saved_joint.item",
                    who=labels[entry.key],
                    number=done.session_no,
                    scores=", ".join(scores),
                )
            )
        return tr.text(
            "registration.saved_joint", date=tr.date(session.session_date), summary="; ".join(parts)
        )

    # -- adding a participant -----------------------------------------------------------
    def _fill_add_options(self) -> None:
        """Who can be added to the chosen episode: a client by its format, or a rater."""
        tr = self.tr
        state = self.episode_state
        options: Options = []
        if state is not None and state.ended is None:
            role = ROLE_FOR_FORMAT.get(state.format)
            key = f"registration.add.client_{role}" if role else "registration.add.client_any"
            options.append((tr.text(key), "client"))
            rated = self.client.value
            for rater in COLLATERAL_RATERS:
                if rater == "partner" and state.format == "couple":
                    continue  # in a couple the partner is a participant, not a rater
                who = tr.text(f"registration.rating_by.{rater}")
                options.append(
                    (tr.text("registration.add.rater_option", who=who, code=rated), rater)
                )
        with self.holding():
            set_options(self.add_who, options, self.add_who.value)
        self._validate_add()

    def _new_participant(self) -> tuple[reg.NewParticipant | None, list[Problem]]:
        state = self.episode_state
        if state is None or self.add_who.value is None:
            return None, [Problem("episode", "add_needs_episode")]
        day = self.add_date.value
        if self.add_who.value != "client":
            who = reg.NewParticipant(
                state.episode_id, self.client.value, "collateral", self.add_who.value, day
            )
            return who, []
        role = ROLE_FOR_FORMAT.get(state.format, "partner")
        code = self.add_code.value.strip()
        known = (
            reg.find_client(self.context.reader, code) if code and is_client_code(code) else None
        )
        problems: list[Problem] = []
        new_client = None
        if known is None and code:
            year_text = self.add_birth_year.value.strip()
            try:
                birth_year = int(year_text) if year_text else None
            except ValueError:
                birth_year = None
                problems.append(Problem("birth_year", "birth_year_unreadable", {"text": year_text}))
            new_client = reg.NewClient(code, self.add_age_group.value, birth_year)
        return reg.NewParticipant(state.episode_id, code, role, "client", day, new_client), problems

    def _validate_add(self) -> None:
        """Show what stops adding the participant; enable the button only when nothing does."""
        tr = self.tr
        state = self.episode_state
        is_client = self.add_who.value == "client"
        self.add_client_box.layout.display = None if is_client else "none"
        new, problems = self._new_participant()
        info = ""
        if new is not None and state is not None:
            # a code the scan refuses (an identity number, a name) is never repeated on the page
            shown = new.role != "collateral" and is_client_code(new.code)
            if shown and new.new_client is None:
                info = tr.text("registration.add.existing", code=new.code)
            elif shown:
                info = tr.text("registration.add.new_client", code=new.code)
            known = (
                reg.find_client(self.context.reader, new.code)
                if new.new_client is None and new.role != "collateral" and new.code
                else None
            )
            problems += reg.validate_new_participant(
                new, state, self.participants or self._index_only(state), known, self.today()
            )
        self.add_info.value = paragraph_html(info) if info else ""
        self.add_save.disabled = bool(problems)
        self.add_note.value = problems_html(
            [reg.problem_text(p, tr) for p in problems], "fitdata-add-problems"
        )

    def _index_only(self, state: reg.EpisodeState) -> list[Participant]:
        """The participants of an episode read before version 6 rows existed: its client."""
        return [Participant(state.client_id, "index")]

    def _on_add(self) -> None:
        self.message.value = ""
        new, problems = self._new_participant()
        state = self.episode_state
        if new is None or problems or state is None:
            self._validate_add()
            return
        self._check_write(state.team_id, state.therapist_id)
        user = reader_user(self.context.reader)
        own = user.therapist_id if user is not None and user.role == "therapist" else None
        added = reg.add_participant(self.context.db_path, new, today=self.today(), therapist_id=own)
        label = reg.participant_label(added.client_id, added.role, added.rater, self.tr)
        with self.holding():
            self.add_code.value = ""
            self.add_birth_year.value = ""
        self._after_write(str(self.client.value), state.episode_id)
        self._show_done(self.tr.text("registration.add.done", who=label))
