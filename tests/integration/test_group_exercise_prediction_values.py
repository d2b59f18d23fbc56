"""The group exercise's prediction sliders read and take their value in the page's number format.

ipywidgets' slider readout can only write "20.5" (d3-format, no locale), so a bokmål page would
show a decimal point; each slider has a value box beside it instead (issue 23).
"""

from __future__ import annotations

import pytest

from fitdata.ui import DashboardContext, GroupExerciseView


@pytest.fixture(scope="module")
def views(demo_db) -> dict[str, GroupExerciseView]:
    return {lang: GroupExerciseView(DashboardContext(demo_db, lang)) for lang in ("nb", "en")}


def test_the_value_box_says_what_the_slider_is_at_in_the_pages_format(views) -> None:
    for lang, mark in (("nb", ","), ("en", ".")):
        view = views[lang]
        for slider, box in zip(view.predictions, view.prediction_labels, strict=True):
            assert slider.readout is False  # its own readout would say "20.5" in bokmål
            slider.value = 18.5
            assert box.value == f"18{mark}5"
            slider.value = 31.0
            assert box.value == f"31{mark}0"


@pytest.mark.parametrize(
    ("typed", "expected", "shown"),
    [
        ("22,5", 22.5, "22,5"),
        ("22.5", 22.5, "22,5"),  # a point is understood too
        ("23,3", 23.5, "23,5"),  # to the slider's step of 0.5
        ("55", 40.0, "40,0"),  # to its range
        ("abc", 12.0, "12,0"),  # not a number: the box goes back to the slider's value
        ("inf", 12.0, "12,0"),
    ],
)
def test_a_typed_value_moves_the_slider(views, typed, expected, shown) -> None:
    view = views["nb"]
    slider, box = view.predictions[0], view.prediction_labels[0]
    slider.value = 12.0
    box.value = typed
    assert slider.value == expected
    assert box.value == shown


def test_a_value_box_is_shown_exactly_when_its_slider_is(views) -> None:
    view = views["nb"]
    view.mode.value = "predict"
    for slider, box in zip(view.predictions, view.prediction_labels, strict=True):
        assert box.layout.display == slider.layout.display
