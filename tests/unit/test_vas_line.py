"""The visual-analogue line: where a mark is on the line is its score, in tenths, 0-10."""

from __future__ import annotations

import re

import pytest
import traitlets

from fitdata.ui.assets import asset
from fitdata.ui.vas_line import VasLine, position_to_value, value_text


@pytest.mark.parametrize(
    ("fraction", "value"),
    [
        (0.73, 7.3),
        (0.0, 0.0),
        (1.0, 10.0),
        (0.7349, 7.3),
        (0.7351, 7.4),
        (0.004, 0.0),
        (0.996, 10.0),
        (0.5, 5.0),
        (-0.2, 0.0),  # a drag past the left end stays at 0
        (1.7, 10.0),  # and past the right end at 10
    ],
)
def test_a_position_on_the_line_gives_its_score_in_tenths(fraction, value) -> None:
    assert position_to_value(fraction) == value


def test_every_tenth_of_the_line_is_reachable_and_nothing_between() -> None:
    values = {position_to_value(i / 1000) for i in range(1001)}
    assert values == {round(t / 10, 1) for t in range(101)}


def test_a_position_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError):
        position_to_value(float("nan"))


def test_the_line_is_unmarked_until_marked_and_shows_no_number() -> None:
    line = VasLine(label="Individually", lang="nb")
    assert line.value is None and line.text == ""
    line.value = 7.3
    assert line.text == "7,3"
    line.lang = "en"
    assert line.text == "7.3"


def test_the_line_keeps_only_tenths_within_0_to_10() -> None:
    line = VasLine()
    line.value = 7.34
    assert line.value == 7.3
    line.value = 12
    assert line.value == 10.0
    line.value = -1
    assert line.value == 0.0
    line.value = None
    assert line.value is None
    with pytest.raises(traitlets.TraitError):
        line.value = float("inf")


def test_value_text_follows_the_language() -> None:
    assert value_text(None, "nb") == ""
    assert value_text(10.0, "en") == "10.0"
    assert value_text(0.5, "nb") == "0,5"


def test_the_browser_side_maps_and_steps_as_python_does() -> None:
    script = asset("vas_line.js")
    # the same mapping: the fraction of the length times ten, rounded to a tenth, clamped
    assert "Math.round(Math.min(Math.max(fraction, 0), 1) * 100) / 10" in script
    steps = dict(re.findall(r"(Arrow\w+|Page\w+): (-?[\d.]+)", script))
    assert steps == {
        "ArrowRight": "0.1",
        "ArrowUp": "0.1",
        "ArrowLeft": "-0.1",
        "ArrowDown": "-0.1",
        "PageUp": "1",
        "PageDown": "-1",
    }
    assert 'setAttribute("role", "slider")' in script


def test_the_touch_area_is_at_least_44_px_high() -> None:
    css = asset("vas_line.css")
    track = re.search(r"\.fitdata-vas-track \{([^}]*)\}", css)
    assert track is not None
    height = int(re.search(r"height: (\d+)px", track.group(1)).group(1))
    assert height >= 44
