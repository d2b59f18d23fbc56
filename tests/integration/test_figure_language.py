"""A dashboard's charts speak the page's language, whatever the kernel's default is.

The view's context names the language; each chart is built with it (plotly's bokmål locale and
a decimal comma), so a bokmål page in a kernel started in English still gets bokmål charts.
"""

from __future__ import annotations

import pytest

from fitdata.kernel_env import ENV_LANG
from fitdata.ui import (
    ClientGraphView,
    DashboardContext,
    GroupExerciseView,
    RegistrationView,
    ServiceView,
    TeamReviewView,
    TherapistDevelopmentView,
)
from fitdata.ui.figure_view import FigureView

VIEWS = (
    ClientGraphView,
    GroupExerciseView,
    RegistrationView,
    ServiceView,
    TeamReviewView,
    TherapistDevelopmentView,
)


@pytest.mark.parametrize("view_class", VIEWS, ids=lambda c: c.__name__)
def test_a_bokmal_views_charts_are_in_bokmal(demo_db, view_class, monkeypatch) -> None:
    monkeypatch.setenv(ENV_LANG, "en")
    view = view_class(DashboardContext(demo_db, "nb"))
    figures = [w for w in vars(view).values() if isinstance(w, FigureView)]
    assert figures, f"{view_class.__name__} has no chart"
    for figure in figures:
        assert figure.lang == "nb"
        assert figure.spec["layout"]["separators"][0] == ","  # a decimal comma
        for output in figure.outputs:  # what reached (or would reach) the browser
            (bundle,) = [b for m, b in output["data"].items() if m.endswith("plotly.v1+json")]
            assert bundle["config"]["locale"] == "no"
