"""Registration, after the session is saved: correcting it with a reason, ending the episode.

A saved session can be corrected: its date and scores replaced, with a reason, the old values
kept and shown as the session's change history (``session_changes``). An episode can be ended
on a date with an end type. The rules are in :mod:`fitdata.features.registration_rules`, the
writes in :mod:`fitdata.features.registration`; :class:`Corrections` wires them to widgets.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from fitdata.data.access import AccessDenied, require_write
from fitdata.features import registration as reg
from fitdata.features.registration import Problem, Scores
from fitdata.ui.registration_forms import ScoreInput, once, problems_html
from fitdata.ui.view import DashboardView, Options, set_options
from fitdata.vocabulary import END_TYPES

__all__ = ["Corrections"]

_STYLE = {"description_width": "initial"}
#: The page's rows: no gap, tops aligned (the forms differ in height).
_ROW: dict[str, Any] = {"gap": None, "align_items": "flex-start"}


class Corrections(DashboardView):
    """The registration page's correction and end-of-episode parts (a base of its view).

    The view provides ``episode_state`` (the chosen episode as saved, or None), ``therapist``
    (whose options name the therapists in the history), ``today``, ``actor``,
    ``_after_write`` (re-read and redraw after a write) and ``_show_done`` (a saved message).
    """

    episode_state: reg.EpisodeState | None
    therapist: widgets.Dropdown
    today: Callable[[], dt.date]

    @property
    def actor(self) -> str | None:
        """Who makes a change (the view says)."""
        raise NotImplementedError

    def _after_write(self, client_id: str, episode_id: str, session_id: int | None = None) -> None:
        raise NotImplementedError

    def _show_done(self, text: str) -> None:
        raise NotImplementedError

    def _check_write(self, team_id: str, therapist_id: str) -> None:
        """Refuse a write outside the user's scope in the page's own words, naming no ids.

        The page offers only what its user may write, so this refuses only what changed
        since (e.g. the user's access): the data layer's refusal names internal ids.

        Raises:
            RegistrationError: If the page's user may not register for this therapist.
        """
        try:
            require_write(self.context.reader, team_id, therapist_id)
        except AccessDenied:
            raise reg.RegistrationError([Problem("therapist", "write_scope")]) from None

    def _writer(self, state: reg.EpisodeState) -> str:
        """Who writes to this episode, once it is sure that they may.

        Raises:
            RegistrationError: If nobody is known to make the change, or they may not write here.
        """
        actor = self.actor
        if not actor:
            raise reg.RegistrationError([Problem("therapist", "actor_missing")])
        self._check_write(state.team_id, state.therapist_id)
        return actor

    def _make_correction_widgets(self, today: Callable[[], dt.date]) -> None:
        """The widgets of both parts (before the view fills them)."""
        tr = self.tr
        self.correct_session = self.dropdown(
            tr.text("registration.correct.session"), "correct-session"
        )
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
        correct = tr.text("registration.correct.save")
        self.correct_save = self.button(
            correct, "correct-save", button_style="warning", icon="pencil"
        )
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
        self.end_save = self.button(
            tr.text("registration.end.save"), "end-save", icon="flag-checkered"
        )
        self.end_note = widgets.HTML().add_class("fitdata-end-reason")

    def _observe_corrections(self) -> None:
        """Wire both parts (once they are filled)."""
        self.correct_session.observe(self.guarded(self._on_correct_session), "value")
        for control in (self.correct_date, self.reason):
            control.observe(self.guarded(lambda _c: self._validate_correction()), "value")
        self.correct_ors.on_change(self.guarded_click(self._validate_correction))
        self.correct_srs.on_change(self.guarded_click(self._validate_correction))
        self.correct_save.on_click(self.guarded_click(self._on_correct))
        for control in (self.end_date, self.end_type):
            control.observe(self.guarded(lambda _c: self._validate_end()), "value")
        self.end_save.on_click(self.guarded_click(self._on_end))

    def _correction_box(self, heading: Callable[[str], widgets.HTML]) -> widgets.VBox:
        """The correction part: choose a saved session, change it with a reason, its history."""
        return widgets.VBox(
            [
                heading("registration.correct.heading"),
                self.correct_session,
                self.row([self.correct_date, self.correct_date_note], **_ROW),
                self.row([self.correct_ors.box, self.correct_srs.box], **_ROW),
                self.reason,
                self.row([self.correct_save, self.correct_note], **_ROW),
                self.history,
            ]
        ).add_class("fitdata-correction")

    def _end_box(self, heading: Callable[[str], widgets.HTML]) -> widgets.VBox:
        """Ending the episode: its last day and how it ended."""
        return widgets.VBox(
            [
                heading("registration.end.heading"),
                self.row([self.end_date, self.end_type, self.end_save], **_ROW),
                self.end_note,
            ]
        ).add_class("fitdata-end")

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
        with self.holding():
            set_options(self.correct_session, options, previous)
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
        with self.holding():
            self.reason.value = ""
            if chosen is None:
                self.correct_date.value = None
                self.correct_ors.show(None)
                self.correct_srs.show(None)
            else:
                self.correct_date.value = chosen.session_date
                self.correct_ors.show(chosen.ors)
                self.correct_srs.show(chosen.srs)
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
        return correction, once(problems)

    def _validate_correction(self) -> None:
        tr = self.tr
        correction, problems = self._correction()
        self.correct_ors.show_problems([p for p in problems if p.field.startswith("ors")])
        self.correct_srs.show_problems([p for p in problems if p.field.startswith("srs")])
        self.correct_date_note.value = problems_html(
            [reg.problem_text(p, tr) for p in problems if p.field == "session_date"],
            "fitdata-field-problems",
        )
        self.correct_save.disabled = bool(problems)
        if problems:
            reasons = [reg.problem_text(p, tr) for p in problems]
            self.correct_note.value = (
                f"<div><b>{html.escape(tr.text('registration.save.blocked'))}</b>"
                f"{problems_html(reasons, 'fitdata-correct-problems')}</div>"
            )
        else:
            self.correct_note.value = ""

    def _on_correct(self) -> None:
        self.message.value = ""
        correction, problems = self._correction()
        if problems or correction is None:
            self._validate_correction()
            return
        state = self.episode_state
        assert state is not None  # else the correction has a problem
        saved = reg.correct_session(
            self.context.db_path,
            self.correct_session.value,
            correction,
            actor=self._writer(state),
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
        self.end_note.value = problems_html(
            [reg.problem_text(p, tr) for p in problems], "fitdata-end-problems"
        )

    def _on_end(self) -> None:
        self.message.value = ""
        state = self.episode_state
        if state is None:
            self._validate_end()
            return
        self._writer(state)
        reg.end_episode(
            self.context.db_path,
            state.episode_id,
            self.end_date.value,
            self.end_type.value,
            today=self.today(),
        )
        end_type = self.end_type.value
        with self.holding():
            self.end_type.value = ""
        self._after_write(state.client_id, state.episode_id)
        self._show_done(
            self.tr.text(
                "registration.end.done",
                started=self.tr.date(state.started),
                date=self.tr.date(self.end_date.value),
                end_type=self.tr.text(f"registration.end_type.{end_type}"),
            )
        )
