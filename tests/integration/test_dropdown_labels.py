"""Every dashboard's dropdowns and toggle buttons name their choices, in English and bokmål.

A code ("all", "child", "individual", "2025Q3", exactly so) is a value, never a label (issue 23).
Every selection widget a view holds is read, in both languages, with its options as built for
the demo database.
"""

from __future__ import annotations

import re

import ipywidgets as widgets
import pytest

from fitdata.config import AGE_GROUPS
from fitdata.features.service import FORMATS
from fitdata.ui import (
    ClientGraphView,
    DashboardContext,
    GroupExerciseView,
    RegistrationView,
    ServiceView,
    TeamReviewView,
    TherapistDevelopmentView,
)

CODES = frozenset({"all", *AGE_GROUPS, *FORMATS})
PERIOD_CODE = re.compile(r"^\d{4}(Q[1-4]|-\d{2})$")
VIEWS = (
    ClientGraphView,
    GroupExerciseView,
    RegistrationView,
    ServiceView,
    TeamReviewView,
    TherapistDevelopmentView,
)


def selections(root: widgets.Widget) -> list[widgets.widget_selection._Selection]:
    """Every selection widget (dropdown, toggle buttons, ...) under ``root``."""
    found, todo, seen = [], [root], set()
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if isinstance(widget, widgets.widget_selection._Selection):
            found.append(widget)
        todo.extend(getattr(widget, "children", ()) or ())
    return found


@pytest.mark.parametrize("lang", ["en", "nb"])
@pytest.mark.parametrize("view_class", VIEWS, ids=lambda c: c.__name__)
def test_no_dropdown_shows_a_code_as_its_label(demo_db, lang, view_class) -> None:
    view = view_class(DashboardContext(demo_db, lang))
    found = selections(view.widget) if hasattr(view, "widget") else []
    found += [w for w in vars(view).values() if isinstance(w, widgets.widget_selection._Selection)]
    assert found, f"{view_class.__name__}: no dropdown found"
    labels = [label for widget in found for label in widget._options_labels]
    codes = [label for label in labels if label in CODES or PERIOD_CODE.match(label)]
    assert codes == [], f"{view_class.__name__} ({lang}) shows codes: {codes}"


def test_the_service_pages_filters_read_as_words(demo_db) -> None:
    view = ServiceView(DashboardContext(demo_db, "nb"))
    assert view.age_group.label == "Alle"
    assert "Barn 6–12" in view.age_group._options_labels
    assert "Individuell" in view.format._options_labels
    assert re.fullmatch(r"[1-4]\. kvartal \d{4}", view.period_to.label)
    assert re.fullmatch(r"\d{4}Q[1-4]", view.period_to.value)  # the value stays the code
    view.unit.value = "month"
    months = "januar februar mars april mai juni juli august september oktober november desember"
    assert view.period_to.label.split()[0] in months.split()
