"""The registration form's score input: one form (ORS or SRS) as four lines or a total.

A person marks four 0-10 lines in 0.1 steps (the paper form's 10 cm lines), or types a total
(paper practice), or says the form is not recorded now. :class:`ScoreInput` reads what was
entered as :class:`~fitdata.features.registration_rules.Scores` and the problems only the form
can see (an unmarked line, an unreadable total or line); the rules of
:mod:`fitdata.features.registration_rules` decide the rest.

Each line shows its value in the page's number format ("4,2" in bokmål) in a box the person
may also type into (a measured paper line, "7,3" or "7.3"), and the words at its ends: the
client page's own anchors (``client_page[.child].<form>.left/right``, so the therapist reads the
words the client reads), the child's words on a child's forms. Whatever is typed -- "abc", "",
"41", "23,5" -- reads as a number or as a message saying what to write; a total is never shown
as "nan".
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets

from fitdata.features.registration_rules import (
    ITEM_MAX,
    TOTAL_MAX,
    Problem,
    Scores,
    problem_text,
    validate_scores,
)
from fitdata.i18n import Translator
from fitdata.vocabulary import FORMS

__all__ = [
    "ScoreInput",
    "anchor_words",
    "once",
    "paragraph_html",
    "parse_number",
    "problem_areas",
    "problems_html",
]

_STYLE = {"description_width": "initial"}
#: A number as a person types it: digits with at most one decimal point or comma ("23,5",
#: "23.5", ",5"); no exponent, no "nan" or "inf" (which Python's float() would accept).
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)")
#: Where a line's ends are under the slider (its description is 180 px wide, the line 470 px).
_ANCHOR_STYLE = (
    "display:flex;justify-content:space-between;margin:-6px 0 2px 188px;width:272px;"
    "font-size:0.85em;color:#555"
)


def anchor_words(form: str, tr: Translator, *, child: bool = False) -> tuple[str, str]:
    """The words at the low and high end of ``form``'s lines (``ors`` or ``srs``).

    The client page's own words (``client_page.ors.left`` ...), in a child's words for a child's
    forms (CORS, CSRS): the therapist registers on lines that read like the client's.
    """
    prefix = "client_page.child" if child else "client_page"
    return tr.text(f"{prefix}.{form}.left"), tr.text(f"{prefix}.{form}.right")


def problems_html(texts: list[str], css: str) -> str:
    """Problems as a red list under their field (nothing when there are none)."""
    if not texts:
        return ""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in texts)
    return f'<ul class="{css}" style="margin:2px 0;color:#a4262c">{items}</ul>'


def problem_areas(problems: list[Problem], *, ors_shown: bool) -> dict[str, list[Problem]]:
    """Problems by where the page shows them: under a form, the date, the client or episode.

    ``ors_shown`` False when the ORS form only shows a saved ORS (adding the SRS): its problems
    then go to ``other`` (they are listed by the save button only).
    """
    areas: dict[str, list[Problem]] = {
        area: [] for area in ("ors", "srs", "date", "client", "episode", "other")
    }
    for p in problems:
        if p.field.startswith("ors") and ors_shown:
            areas["ors"].append(p)
        elif p.field.startswith("srs"):
            areas["srs"].append(p)
        elif p.field == "session_date":
            areas["date"].append(p)
        elif p.field in ("client_id", "birth_year", "age_group"):
            areas["client"].append(p)
        elif p.field == "episode":
            areas["episode"].append(p)
        else:
            areas["other"].append(p)
    return areas


def once(problems: list[Problem]) -> list[Problem]:
    """Each problem once, in order; a rule's "missing" after a form's own problem is left out.

    The forms' problems come first: an unreadable total ("abc") is then not also reported as
    a missing total by the rules, which only see that there is no number.
    """
    keys: set[tuple[Any, ...]] = set()
    fields: set[tuple[Any, ...]] = set()
    kept: list[Problem] = []
    for p in problems:
        key, where = (p.participant, p.field, p.key), (p.participant, p.field)
        if key in keys or (p.key.endswith("_missing") and where in fields):
            continue
        keys.add(key)
        fields.add(where)
        kept.append(p)
    return kept


def paragraph_html(text: str, css: str = "") -> str:
    """A short paragraph of the form."""
    return f"<p class='{css}' style='margin:2px 0'>{html.escape(text)}</p>"


def parse_number(text: str) -> float | None:
    """A number typed with a decimal point or comma ("23,4", "23.4"); None when empty.

    Raises:
        ValueError: If the text is not a number written with digits ("abc", "nan", "1e3").
    """
    cleaned = text.strip().replace("\u2212", "-").replace(" ", "")
    if not cleaned:
        return None
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError(f"not a number: {text!r}")
    return float(cleaned.replace(",", "."))


class ScoreInput:
    """One form (ORS or SRS): four 0-10 sliders in 0.1 steps, or a total only, or not given.

    A slider counts as marked only once it has been moved (or its value typed), so an untouched
    line at its starting position is never saved by mistake. Each line's value box shows the
    mark in the page's number format and takes a typed value; the words at the line's ends are
    :func:`anchor_words`.
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
        shorts = [item.split("_", 1)[1] for item in FORMS[form]]
        self.sliders = [
            widgets.FloatSlider(
                value=0.0,
                min=0.0,
                max=ITEM_MAX,
                step=0.1,
                readout=False,  # its readout would say "4.2" in bokmål: the value box says it
                description=tr.text(f"item.{item}"),
                layout=widgets.Layout(width="470px"),
                style={"description_width": "180px"},
            ).add_class(f"fitdata-{css}-{short}")
            for item, short in zip(FORMS[form], shorts, strict=True)
        ]
        self.values = [
            widgets.Text(
                value="",
                placeholder=tr.text("registration.input.item_placeholder"),
                continuous_update=False,  # read when the person is done (Enter, or leaving it)
                layout=widgets.Layout(width="76px"),
            ).add_class(f"fitdata-{css}-{short}-value")
            for short in shorts
        ]
        self.anchors = [
            widgets.HTML().add_class(f"fitdata-{css}-{short}-anchors").add_class("fitdata-anchors")
            for short in shorts
        ]
        self.touched = [False] * len(self.sliders)
        #: A typed value that is not a line's mark ("abc", "11"), by line: its problem.
        self.typed: list[Problem | None] = [None] * len(self.sliders)
        self.child = False
        self.total_text = widgets.Text(
            description=tr.text("registration.input.total_label"),
            placeholder=tr.text("registration.input.total_placeholder"),
            style=_STYLE,
        ).add_class(f"fitdata-{css}-total-input")
        self.live_total = widgets.HTML().add_class(f"fitdata-{css}-total")
        self.problems = widgets.HTML().add_class(f"fitdata-{css}-problems")
        self.items_box = widgets.VBox(
            [
                widgets.VBox(
                    [
                        widgets.HBox([slider, value], layout=widgets.Layout(align_items="center")),
                        anchors,
                    ]
                ).add_class("fitdata-line")
                for slider, value, anchors in zip(
                    self.sliders, self.values, self.anchors, strict=True
                )
            ]
        )
        self.total_box = widgets.VBox([self.total_text])
        self.heading = widgets.HTML()
        self.set_form(label)
        self.set_child(False)
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
                border="1px solid #ccc", padding="6px 10px", margin="4px", min_width="490px"
            ),
        ).add_class(f"fitdata-{css}")
        self._listeners: list[Callable[[], None]] = []
        self._quiet = False  # filling the form from code is not a person's change
        self._syncing = False  # a slider and its value box following each other
        for index, slider in enumerate(self.sliders):
            slider.observe(lambda _c, i=index: self._slid(i), "value")
        for index, box in enumerate(self.values):
            box.observe(lambda _c, i=index: self._typed(i), "value")
        self.mode.observe(lambda _c: self._changed(), "value")
        self.total_text.observe(lambda _c: self._changed(), "value")
        self._show_mode()
        self._update_total()

    def set_form(self, name: str, label: str | None = None) -> None:
        """Name the form the client fills in (``CORS`` for a child, ``GSRS`` in a group).

        Args:
            name: The form's short name (``ORS``, ``CORS``, ``SRS``, ``CSRS``, ``GSRS``), used in
                the live total.
            label: Its name as the heading shows it (default: ``name``), e.g. "CORS (child)".
        """
        self._label = name
        text = self.tr.text(f"registration.{self.form}.heading_form", form=label or name)
        self.heading.value = f"<h3 style='margin:4px 0'>{html.escape(text)}</h3>"
        if hasattr(self, "_listeners"):  # not while the form is made
            self._update_total()

    def set_child(self, child: bool) -> None:
        """Show the words at the lines' ends in a child's words (a child's forms) or not."""
        self.child = child
        low, high = anchor_words(self.form, self.tr, child=child)
        words = (
            f"<div style='{_ANCHOR_STYLE}'><span>{html.escape(low)}</span>"
            f"<span>{html.escape(high)}</span></div>"
        )
        for anchors in self.anchors:
            anchors.value = words

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change a person makes."""
        self._listeners.append(listener)

    def _value_text(self, index: int) -> str:
        return self.tr.number(self.sliders[index].value) if self.touched[index] else ""

    def _slid(self, index: int) -> None:
        """A slider moved: its line is marked and its value box shows the mark."""
        if self._syncing:
            return
        self.typed[index] = None
        self.touched[index] = True
        if not self._quiet:
            self._sync_text(index)
        self._changed()

    def _sync_text(self, index: int) -> None:
        self._syncing = True
        try:
            self.values[index].value = self._value_text(index)
        finally:
            self._syncing = False

    def _typed(self, index: int) -> None:
        """A value typed into a line's box: the line's mark, or a problem saying what to write."""
        if self._syncing or self._quiet:
            return
        text = self.values[index].value
        item = FORMS[self.form][index]
        extra = {"form": self._label, "item": item}
        try:
            number = parse_number(text)
        except ValueError:
            number = None
            self.typed[index] = Problem(item, "item_unreadable", {**extra, "text": text.strip()})
        else:
            self.typed[index] = None
            if number is not None and not 0.0 <= number <= ITEM_MAX:
                self.typed[index] = Problem(
                    item, "item_range", {**extra, "value": number, "max": int(ITEM_MAX)}
                )
            elif number is not None and abs(number * 10 - round(number * 10)) > 1e-6:
                self.typed[index] = Problem(item, "item_step", {**extra, "value": number})
        if self.typed[index] is not None or number is None:
            self.touched[index] = False  # the line is not marked until the box says a mark
        else:
            self._syncing = True
            try:
                self.sliders[index].value = number
            finally:
                self._syncing = False
            self.touched[index] = True
            self._sync_text(index)  # "7.3" typed reads "7,3" in bokmål
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
        elif self.mode.value == "total" and (
            scores is None or not math.isfinite(scores.value) or validate_scores(self.form, scores)
        ):
            text = tr.text(
                "registration.input.live_total_missing", form=self._label, max=int(TOTAL_MAX)
            )
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
                total = parse_number(self.total_text.value)
            except ValueError:  # no number: the rules see a missing total (left out by once)
                return Scores.from_total(math.nan), [
                    Problem(
                        f"{self.form}_total",
                        "total_unreadable",
                        {"form": self._label, "text": self.total_text.value.strip()},
                    )
                ]
            # an empty box reads as "type the total" (NaN is a missing number to the rules)
            return Scores.from_total(math.nan if total is None else total), []
        scores = Scores.from_items(*(round(s.value, 1) for s in self.sliders))
        typed = [p for p in self.typed if p is not None]
        unmarked = [
            self.tr.text(f"item.{item}")
            for item, done, wrong in zip(FORMS[self.form], self.touched, self.typed, strict=True)
            if not done and wrong is None
        ]
        if unmarked:
            typed.append(
                Problem(
                    self.form,
                    "not_marked",
                    {"form": self._label, "items": self.tr.join(unmarked)},
                )
            )
        return scores, typed

    @contextmanager
    def _filling(self, *, marked: bool) -> Iterator[None]:
        """Fill the form from code (not a person's change); then every line is marked or not."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False
        self.touched = [marked] * len(self.sliders)
        self.typed = [None] * len(self.sliders)
        for index in range(len(self.sliders)):
            self._sync_text(index)
        self._show_mode()
        self._update_total()

    def show(self, scores: Scores | None) -> None:
        """Fill the form with saved scores (every line counts as marked)."""
        with self._filling(marked=True):
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

    def reset(self, mode: str) -> None:
        """Back to an empty form in ``mode`` (``items``, ``total`` or ``none``)."""
        with self._filling(marked=False):
            for slider in self.sliders:
                slider.value = 0.0
            self.total_text.value = ""
            self.mode.value = mode

    def set_disabled(self, disabled: bool) -> None:
        """Lock the form (a saved ORS shown while the SRS is added)."""
        self.mode.disabled = disabled
        self.total_text.disabled = disabled
        for slider, value in zip(self.sliders, self.values, strict=True):
            slider.disabled = disabled
            value.disabled = disabled

    def show_problems(self, problems: list[Problem]) -> None:
        """Show this form's problems under it."""
        self.problems.value = problems_html(
            [problem_text(p, self.tr) for p in problems], "fitdata-field-problems"
        )
