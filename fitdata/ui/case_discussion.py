"""The case discussion panel: record what supervision agreed about a case, list it, correct it.

One panel (:func:`discussion_panel`) for the team review, the group exercise and the client
graph (issue 22): the record form -- date (today), forum, the service's choice list of what
was agreed as check boxes (:attr:`fitdata.config.ClinicalConfig.discussion_actions`), an
optional short note with the warning "no names or identity numbers" (the rule of
:func:`fitdata.features.case_discussions.note_problem` is applied as one types and again by the
server, and its refusal is shown under the field), a follow-up date with the quick choices "in
2/4/8 weeks" -- the flags that hold now, shown as what will be stored with the record, and a
save button; below it the case's discussions, latest first, with what was agreed, who recorded
it and what became of the flags discussed, and a correction or withdrawal with a reason.

Writing and reading go through :mod:`fitdata.features.case_discussions` on the page's scoped
reader, so access is the server's (a leader or a therapist of another team is refused there),
every read and write is audited, and a write is all or nothing.

``anonymous=True`` (the group exercise after the reveal) keeps the case's identity out of the
page: the episode is held by the Python object only (never a widget value, so never a
websocket frame), no earlier discussion is listed, the flags are named without whose they are,
and the confirmation names no case.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from fitdata.analytics.flags import urgency_rank
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.data.access import AccessDenied, current_user
from fitdata.features import case_discussions as cd
from fitdata.features import follow_up as follow_ups
from fitdata.features.expected_trajectory import trajectory_model
from fitdata.i18n import Translator
from fitdata.ui.context import DashboardContext
from fitdata.vocabulary import FORUMS

__all__ = ["DEFAULT_FORUM", "FOLLOW_UP_WEEKS", "DiscussionPanel", "discussion_panel"]

log = logging.getLogger(__name__)

#: The quick choices of the follow-up date: weeks after the discussion.
FOLLOW_UP_WEEKS: tuple[int, ...] = (2, 4, 8)

#: The forum a discussion recorded on a page most likely took place in.
DEFAULT_FORUM: dict[str, str] = {
    "team_review": "team_meeting",
    "group_exercise": "group_supervision",
    "client_graph": "individual_supervision",
}

NEW = 0  # the "record a new discussion" choice of the correction picker

#: The fields of the form: their problems name no case, so an anonymous page may show them.
_FORM_FIELDS = frozenset({"discussed_on", "forum", "agreed", "note", "follow_up_on", "reason"})


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, dt.date) and bool(pd.isna(value)))


class DiscussionPanel(widgets.VBox):
    """The record form and the case's discussions (see the module docstring).

    Attributes a test (or another page) uses: ``date``, ``forum``, ``agreed`` (a check box per
    action code), ``note``, ``note_error``, ``follow_up``, ``quick`` (buttons by weeks),
    ``flags_now``, ``save``, ``message``, ``history``, ``correct`` (which discussion the form
    corrects; 0: a new one), ``reason`` and ``withdraw``.
    """

    def __init__(
        self,
        context: DashboardContext,
        episode_id: str | None,
        *,
        source: str,
        anonymous: bool = False,
        on_saved: Callable[[cd.Discussion], None] | None = None,
        today: dt.date | None = None,
        model: TrajectoryModel | None = None,
        flags_on_demand: bool = False,
    ) -> None:
        self.context = context
        self._model = model
        #: Judge the case's flags only once the form is used (the client graph: most visits
        #: record nothing, and judging took longer than drawing the graph).
        self._flags_on_demand = flags_on_demand
        self._flags_wanted = False
        self._clearing = False  # the form being reset is no use of it
        self.source = source
        self.anonymous = anonymous
        self.on_saved = on_saved
        self._today = today
        self._episode_id: str | None = None  # kept in Python, never in a widget
        self._listed = pd.DataFrame()
        self._flags: tuple[cd.FlagThen, ...] | None = ()  # shown, stored with the record
        # (None: not judged yet, see ``flags_on_demand``)
        self._flags_as_of: tuple[dt.date, tuple[cd.FlagThen, ...]] | None = None
        tr = self.tr
        style = {"description_width": "initial"}
        title = tr.text("discussion.group_heading" if anonymous else "discussion.heading")
        self.heading = widgets.HTML(f'<h3 style="margin:0.4em 0 0.2em">{html.escape(title)}</h3>')
        self.date = widgets.DatePicker(
            description=tr.text("discussion.date"), value=self.today, style=style
        ).add_class("fitdata-discussion-date")
        self.forum = widgets.Dropdown(
            description=tr.text("discussion.forum"),
            options=[(tr.text(f"forum.{f}"), f) for f in FORUMS],
            value=DEFAULT_FORUM.get(source, FORUMS[0]),
            style=style,
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-discussion-forum")
        self.agreed = {
            code: widgets.Checkbox(
                value=False, description=label, indent=False, layout=widgets.Layout(width="auto")
            ).add_class(f"fitdata-agreed-{code.replace('_', '-')}")
            for label, code in cd.action_choices(context.config, context.lang)
        }
        self.note = widgets.Textarea(
            placeholder=tr.text(
                "discussion.note_placeholder_group" if anonymous else "discussion.note_placeholder"
            ),
            layout=widgets.Layout(width="100%", max_width="640px", height="4.5em"),
        ).add_class("fitdata-discussion-note")
        self.note_warning = widgets.HTML(
            f'<p class="fitdata-note-warning" style="margin:0;color:#8a4b00">'
            f"{html.escape(tr.text('discussion_record.note_warning'))}</p>"
        )
        self.note_error = widgets.HTML().add_class("fitdata-note-error")
        self.follow_up = widgets.DatePicker(
            description=tr.text("discussion.follow_up"), style=style
        ).add_class("fitdata-discussion-follow-up")
        self.quick = {
            weeks: widgets.Button(
                description=tr.text("discussion.in_weeks", n=weeks),
                layout=widgets.Layout(width="auto"),
            ).add_class(f"fitdata-follow-up-{weeks}")
            for weeks in FOLLOW_UP_WEEKS
        }
        self.flags_now = widgets.HTML().add_class("fitdata-flags-then")
        self.correct = widgets.Dropdown(
            description=tr.text("discussion.correct"),
            options=[(tr.text("discussion.correct_new"), NEW)],
            value=NEW,
            style=style,
            layout=widgets.Layout(width="auto", max_width="520px"),
        ).add_class("fitdata-discussion-correct")
        self.reason = widgets.Text(
            description=tr.text("discussion.reason"),
            style=style,
            layout=widgets.Layout(width="100%", max_width="640px"),
        ).add_class("fitdata-discussion-reason")
        self.save = widgets.Button(
            description=tr.text("discussion.save"),
            button_style="primary",
            icon="check",
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-discussion-save")
        self.withdraw = widgets.Button(
            description=tr.text("discussion.withdraw"),
            button_style="warning",
            layout=widgets.Layout(width="auto"),
        ).add_class("fitdata-discussion-withdraw")
        self.message = widgets.HTML().add_class("fitdata-discussion-message")
        self.history = widgets.HTML().add_class("fitdata-discussion-history")

        self.note.observe(lambda _: self._check_note(), "value")
        self.date.observe(lambda _: self._on_date(), "value")
        if flags_on_demand:
            for widget in (self.forum, self.note, self.follow_up, *self.agreed.values()):
                widget.observe(lambda _: self._want_flags(), "value")
        for weeks, button in self.quick.items():
            button.on_click(lambda _b, weeks=weeks: self.follow_up_in(weeks))
        self.correct.observe(lambda _: self._on_correct(), "value")
        self.save.on_click(lambda _: self._guard(self.submit))
        self.withdraw.on_click(lambda _: self._guard(self.withdraw_chosen))

        form = [
            self.heading,
            widgets.HBox([self.date, self.forum], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HTML(f"<b>{html.escape(tr.text('discussion.agreed'))}</b>"),
            widgets.VBox(list(self.agreed.values())),
            widgets.HTML(f"<b>{html.escape(tr.text('discussion.note'))}</b>"),
            self.note_warning,
            self.note,
            self.note_error,
            widgets.HBox(
                [self.follow_up, *self.quick.values()],
                layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
            ),
            self.flags_now,
        ]
        if not anonymous:
            form += [self.correct, self.reason]
        form += [widgets.HBox([self.save] + ([] if anonymous else [self.withdraw])), self.message]
        if not anonymous:
            form.append(self.history)
        super().__init__(form, layout=widgets.Layout(grid_gap="4px"))
        self.add_class("fitdata-discussion-panel")
        self.set_episode(episode_id)

    # -- state ---------------------------------------------------------------------------
    @property
    def tr(self) -> Translator:
        """The page's language."""
        return self.context.tr

    @property
    def today(self) -> dt.date:
        """Today (fixed for a test)."""
        return self._today or dt.date.today()

    @property
    def actor(self) -> str:
        """Who records: the page's user, else the kernel's."""
        return self.context.user or current_user() or "unknown"

    def set_episode(
        self,
        episode_id: str | None,
        *,
        force: bool = False,
        flags_as_of: tuple[dt.date, tuple[cd.FlagThen, ...]] | None = None,
    ) -> None:
        """Show the panel for another case (None: hide it), with a fresh form.

        The same case again changes nothing (a redraw of the page keeps what is typed),
        unless ``force``. ``flags_as_of`` is ``(day, flags)``: the flags the page already shows
        as holding on ``day`` (the team review's current flags as of its date). A discussion
        dated on or after that day stores exactly those -- what the team saw -- and they are
        not judged again (that took as long as the rest of choosing a case, ~0.1 s at a
        million sessions); an earlier date is judged afresh.
        """
        if episode_id == self._episode_id and not force and hasattr(self, "_shown"):
            return
        self._shown = True
        self._episode_id = episode_id
        self._flags_as_of = flags_as_of
        self._flags_wanted = False
        self.layout.display = "none" if episode_id is None else None
        self.message.value = ""
        self._clear_form()
        self.refresh()

    def _clear_form(self) -> None:
        self._clearing = True
        try:
            self.date.value = self.today
            self.forum.value = DEFAULT_FORUM.get(self.source, FORUMS[0])
            for box in self.agreed.values():
                box.value = False
            self.note.value = ""
            self.note_error.value = ""
            self.follow_up.value = None
            self.reason.value = ""
        finally:
            self._clearing = False

    def _on_date(self) -> None:
        """Another date: the flags that held on it (a first use of an on-demand form)."""
        if self._flags_on_demand and not self._flags_wanted and not self._clearing:
            self._want_flags()
        else:
            self._read_flags()

    def follow_up_in(self, weeks: int) -> None:
        """Set the follow-up date ``weeks`` after the discussion's date."""
        self.follow_up.value = (self.date.value or self.today) + dt.timedelta(weeks=weeks)

    def _check_note(self) -> None:
        key = cd.note_problem(self.note.value or None)
        self.note_error.value = (
            ""
            if key is None
            else _error_html(
                self.tr.text(f"discussion_record.error.{key}", limit=cd.MAX_NOTE_LENGTH)
            )
        )

    # -- reading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the flags that hold now and (not anonymous) the case's discussions again."""
        if self._episode_id is None:
            self.flags_now.value = ""
            self.history.value = ""
            return
        reader = self.context.reader
        self._read_flags()
        if self.anonymous:
            return
        try:
            frame = cd.discussions(reader, episode_ids=[self._episode_id], include_withdrawn=True)
        except AccessDenied as error:
            self._listed = pd.DataFrame()
            self.history.value = _error_html(str(error))
            return
        self._listed = frame
        self.history.value = self._history_html(frame)
        options = [(self.tr.text("discussion.correct_new"), NEW)]
        if len(frame):  # most cases were never discussed
            live = frame[~frame["withdrawn"]].sort_values(
                ["discussed_on", "discussion_id"], ascending=False
            )
            options += [
                (self._choice_label(r), int(r["discussion_id"])) for r in live.to_dict("records")
            ]
        chosen = self.correct.value
        self.correct.options = options
        self.correct.value = chosen if chosen in {v for _, v in options} else NEW

    def _read_flags(self) -> None:
        """The flags that hold on the form's date: shown, and stored with the record."""
        if self._episode_id is None:
            self._flags = ()
            self.flags_now.value = ""
            return
        reader = self.context.reader
        day = min(self.date.value or self.today, self.today)
        known = self._flags_as_of
        if self._flags_on_demand and not self._flags_wanted and known is None:
            self._flags = None
            self.flags_now.value = (
                f"<p><b>{html.escape(self.tr.text('discussion.flags_now'))}</b> "
                f"{html.escape(self.tr.text('discussion.flags_on_demand'))}</p>"
            )
            return
        if known is not None and day >= known[0]:
            self._flags = known[1]
            self.flags_now.value = self._flags_html(self._flags)
            return
        try:
            self._flags = cd.current_flags(
                reader,
                self._episode_id,
                day,
                config=self.context.config,
                model=self._model if self._model is not None else trajectory_model(reader),
            )
        except AccessDenied:
            self._flags = ()
        self.flags_now.value = self._flags_html(self._flags)

    def _want_flags(self) -> None:
        """The form is being used: judge the flags now, once, if not judged yet."""
        if self._flags_wanted or self._clearing:
            return
        self._flags_wanted = True
        self._read_flags()

    def _flags_html(self, flags: tuple[cd.FlagThen, ...]) -> str:
        tr = self.tr
        heading = html.escape(tr.text("discussion.flags_now"))
        if not flags:
            return f"<p><b>{heading}</b> {html.escape(tr.text('discussion.flags_none'))}</p>"
        many = len({f.client_id for f in flags}) > 1 and not self.anonymous
        items = []
        for f in sorted(flags, key=lambda f: (urgency_rank(f.flag), f.client_id)):
            label = tr.text(f"flag.label.{f.flag}")
            if many:
                label = f"{label} ({f.client_id})"
            items.append(f'<li data-flag="{html.escape(f.flag)}">{html.escape(label)}</li>')
        return f'<p style="margin:0"><b>{heading}</b></p><ul>{"".join(dict.fromkeys(items))}</ul>'

    def _choice_label(self, row: dict[str, Any]) -> str:
        tr = self.tr
        forum = tr.text(f"forum.{row['forum']}")
        return f"{tr.date(row['discussed_on'])} · {forum}"

    def _history_html(self, frame: pd.DataFrame) -> str:
        tr, config = self.tr, self.context.config
        heading = f"<b>{html.escape(tr.text('discussion.history'))}</b>"
        if frame.empty:
            return f"{heading}<p>{html.escape(tr.text('discussion.history_none'))}</p>"
        ordered = frame.sort_values(["discussed_on", "discussion_id"], ascending=False)
        sentences = self._follow_up_sentences(ordered)
        items = []
        for row in ordered.to_dict("records"):
            agreed = "; ".join(cd.action_label(config, c, tr.lang) for c in row["agreed"])
            parts = [
                f"<b>{html.escape(self._choice_label(row))}</b>: {html.escape(agreed)}",
            ]
            if row["note"]:
                parts.append(f"<i>{html.escape(str(row['note']))}</i>")
            if not _is_missing(row["follow_up_on"]):
                parts.append(
                    html.escape(
                        tr.text("review.discussion.follow_up", date=tr.date(row["follow_up_on"]))
                    )
                )
            parts.append(html.escape(tr.text("discussion.recorded_by", who=row["recorded_by"])))
            sentence = sentences.get(int(row["discussion_id"]))
            if sentence and not row["withdrawn"]:
                parts.append(
                    f'<span class="fitdata-follow-up-sentence">{html.escape(sentence)}</span>'
                )
            if row["withdrawn"]:
                parts.append(f"<b>{html.escape(tr.text('discussion.withdrawn'))}</b>")
            elif row["corrected"]:
                parts.append(html.escape(tr.text("discussion.corrected")))
            style = ' style="color:#777;text-decoration:line-through"' if row["withdrawn"] else ""
            items.append(
                f'<li data-discussion="{int(row["discussion_id"])}"{style}>'
                + " · ".join(parts)
                + "</li>"
            )
        rule = html.escape(follow_ups.rule_text(tr, config))
        return (
            f'{heading}<ul class="fitdata-discussions">{"".join(items)}</ul>'
            f'<p class="fitdata-follow-up-rule" style="color:#444;margin:0">{rule}.</p>'
        )

    def _follow_up_sentences(self, frame: pd.DataFrame) -> dict[int, str]:
        """What became of each discussion by the follow-up rule, by discussion id."""
        judged = follow_ups.discussion_follow_ups(
            self.context.reader,
            frame,
            as_of=self.today,
            config=self.context.config,
            model=self._model,
        )
        rows = frame.set_index("discussion_id")
        return {
            int(key): follow_ups.follow_up_sentence(rows.loc[key], follow, self.tr)
            for key, follow in judged.items()
        }

    # -- writing -------------------------------------------------------------------------
    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except AccessDenied as error:
            # the refusal names the episode: not on an anonymous page
            text = self.tr.text("discussion.refused") if self.anonymous else str(error)
            self.message.value = _error_html(text)
        except cd.DiscussionError as error:
            self.message.value = _error_html(
                " ".join(
                    cd.problem_text(p, self.tr)
                    if not self.anonymous or p.field in _FORM_FIELDS
                    else self.tr.text("discussion.refused")
                    for p in error.problems
                )
            )
            for problem in error.problems:
                if problem.field == "note":
                    self.note_error.value = _error_html(cd.problem_text(problem, self.tr))
        except Exception:
            log.exception("case discussion")
            self.message.value = _error_html(self.tr.text("error.unexpected"))

    def _on_correct(self) -> None:
        """Load the chosen discussion into the form (or clear it for a new one)."""
        chosen = self.correct.value
        self.save.description = self.tr.text(
            "discussion.save" if chosen == NEW else "discussion.save_correction"
        )
        if chosen == NEW or self._listed.empty:
            return
        row = self._listed[self._listed["discussion_id"] == chosen].iloc[0]
        self.date.value = row["discussed_on"]
        self.forum.value = row["forum"]
        for code, box in self.agreed.items():
            box.value = code in set(row["agreed"])
        self.note.value = row["note"] or ""
        self.follow_up.value = None if _is_missing(row["follow_up_on"]) else row["follow_up_on"]

    def _values(self) -> dict[str, Any]:
        note = (self.note.value or "").strip()
        return {
            "discussed_on": self.date.value,
            "forum": self.forum.value,
            "agreed": [code for code, box in self.agreed.items() if box.value],
            "note": note or None,
            "follow_up_on": self.follow_up.value,
        }

    def submit(self) -> cd.Discussion:
        """Record the form as a new discussion, or correct the chosen one with the reason."""
        if self._episode_id is None:
            raise cd.DiscussionError([cd.DiscussionProblem("episode_id", "episode_unknown")])
        values = self._values()
        reader = self.context.reader
        if self._flags_on_demand:  # a record stores the flags that hold: judged by now
            self._want_flags()
        if self.correct.value == NEW:
            saved = cd.record_discussion(
                reader,
                episode_id=self._episode_id,
                source=self.source,
                actor=self.actor,
                config=self.context.config,
                today=self.today,
                flags_then=self._flags or (),
                **values,
            )
            key = "discussion.saved_anonymous" if self.anonymous else "discussion.saved"
        else:
            before = self._listed[self._listed["discussion_id"] == self.correct.value].iloc[0]
            changes = {
                name: value
                for name, value in values.items()
                if _plain(value) != _plain(before[name])
            }
            saved = cd.correct_discussion(
                reader,
                int(self.correct.value),
                reason=self.reason.value,
                actor=self.actor,
                config=self.context.config,
                today=self.today,
                **changes,
            )
            key = "discussion.corrected_saved"
        self._clear_form()
        self.correct.value = NEW
        self.refresh()
        self.message.value = _ok_html(self.tr.text(key, date=self.tr.date(saved.discussed_on)))
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved

    def withdraw_chosen(self) -> cd.Discussion:
        """Withdraw the discussion chosen in the correction picker, with the reason."""
        if self.correct.value == NEW:
            raise cd.DiscussionError([cd.DiscussionProblem("discussion_id", "nothing_changed")])
        saved = cd.withdraw_discussion(
            self.context.reader, int(self.correct.value), reason=self.reason.value, actor=self.actor
        )
        self._clear_form()
        self.correct.value = NEW
        self.refresh()
        self.message.value = _ok_html(self.tr.text("discussion.withdrawn_saved"))
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return [str(v) for v in list(value)]
    if _is_missing(value):
        return None
    return value


def _error_html(text: str) -> str:
    style = "color:#b00020;margin:0"
    return f'<p class="fitdata-error-text" role="alert" style="{style}">{html.escape(text)}</p>'


def _ok_html(text: str) -> str:
    style = "color:#1b5e20;margin:0"
    return f'<p class="fitdata-ok-text" role="status" style="{style}">{html.escape(text)}</p>'


def discussion_panel(
    context: DashboardContext,
    episode_id: str | None,
    *,
    source: str,
    anonymous: bool = False,
    on_saved: Callable[[cd.Discussion], None] | None = None,
    model: TrajectoryModel | None = None,
    flags_on_demand: bool = False,
) -> DiscussionPanel:
    """The record form and the case's discussions for one episode (see the module docstring).

    Args:
        context: The page's database, language, configuration and user.
        episode_id: The case (a couple's or family's episode is one case); None: hidden until
            :meth:`DiscussionPanel.set_episode`.
        source: The page (``team_review``, ``group_exercise``, ``client_graph``).
        anonymous: Keep the case's identity off the page (the group exercise).
        on_saved: Called with the stored discussion after a record, correction or withdrawal.
        model: The page's expected-trajectory model (default: the service's).
        flags_on_demand: Judge the flags that hold only once the form is used or saved (the
            line says so until then), not for every case shown.
    """
    return DiscussionPanel(
        context,
        episode_id,
        source=source,
        anonymous=anonymous,
        on_saved=on_saved,
        model=model,
        flags_on_demand=flags_on_demand,
    )
