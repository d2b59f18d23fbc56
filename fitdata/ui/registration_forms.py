"""The registration form's score input: one form (ORS or SRS) as four lines or a total.

A person marks four 0-10 lines in 0.1 steps (the paper form's 10 cm lines), or types a total
(paper practice), or says the form is not recorded now. :class:`ScoreInput` reads what was
entered as :class:`~fitdata.features.registration_rules.Scores` and the problems only the form
can see (an unmarked line, an unreadable total); the rules of
:mod:`fitdata.features.registration_rules` decide the rest.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import ipywidgets as widgets

from fitdata.features.registration_rules import ITEM_MAX, Problem, Scores, problem_text
from fitdata.i18n import Translator
from fitdata.vocabulary import FORMS

__all__ = ["ScoreInput", "paragraph_html", "problem_areas", "problems_html"]

_STYLE = {"description_width": "initial"}


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


def paragraph_html(text: str, css: str = "") -> str:
    """A short paragraph of the form."""
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
                max=ITEM_MAX,
                step=0.1,
                readout_format=".1f",
                description=tr.text(f"item.{item}"),
                layout=widgets.Layout(width="470px"),
                style={"description_width": "180px"},
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
        self.heading = widgets.HTML()
        self.set_form(label)
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
        for index, slider in enumerate(self.sliders):
            slider.observe(lambda _c, i=index: self._touch(i), "value")
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

    @contextmanager
    def _filling(self, *, marked: bool) -> Iterator[None]:
        """Fill the form from code (not a person's change); then every line is marked or not."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False
        self.touched = [marked] * len(self.sliders)
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
        for slider in self.sliders:
            slider.disabled = disabled

    def show_problems(self, problems: list[Problem]) -> None:
        """Show this form's problems under it."""
        self.problems.value = problems_html(
            [problem_text(p, self.tr) for p in problems], "fitdata-field-problems"
        )
