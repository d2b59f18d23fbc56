"""The visual-analogue line: a horizontal line the client taps or drags on, giving 0.0-10.0.

The electronic form of the paper ORS/SRS line, not a numeric slider: a person marks a point on a
line, and the mark's position is the score -- a tap at 73 % of the line's length is 7.3
(:func:`position_to_value`: the fraction of the length times ten, rounded to a tenth). Nothing
is marked until the person marks it, and the number appears only then, in the page's number
format ("7,3" in bokmål). An anywidget: the browser side is ``fitdata/ui/static/vas_line.js`` and
``vas_line.css``. The line is a focusable ``role="slider"``: the arrow keys move the mark by 0.1,
Page Up/Down by 1.0, Home/End to the ends; its touch area is 56 px high (at least 44 px, the
WCAG target size). ``value`` is None until marked; :class:`VasLine` validates every value set
from either side (0.0-10.0, rounded to a tenth), so Python never sees anything else.
"""

from __future__ import annotations

import math
from typing import Any

import anywidget
import traitlets

from fitdata.ui.assets import asset

__all__ = ["MAX_VALUE", "VasLine", "position_to_value", "value_text"]

#: The score at the right end of the line (the left end is 0).
MAX_VALUE = 10.0


def position_to_value(fraction: float) -> float:
    """The score of a mark at ``fraction`` of the line's length (0 = left end, 1 = right end).

    Clamped to the line, rounded half up to a tenth: 0.73 -> 7.3, 0.7349 -> 7.3, 0.7351 -> 7.4.
    The browser side computes the same (``Math.round(fraction * 100) / 10``).

    Raises:
        ValueError: If ``fraction`` is not a finite number.
    """
    fraction = float(fraction)
    if not math.isfinite(fraction):
        raise ValueError(f"a position on the line must be a number, not {fraction!r}")
    clamped = min(max(fraction, 0.0), 1.0)
    return math.floor(clamped * 100 + 0.5) / 10


def value_text(value: float | None, lang: str) -> str:
    """The mark as the page shows it: ``7.3``, ``7,3`` in bokmål; "" when nothing is marked."""
    if value is None:
        return ""
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "nb" else text


class VasLine(anywidget.AnyWidget):
    """One visual-analogue line: ``value`` is None until marked, then 0.0-10.0 in tenths.

    Traits (synced with the browser): ``value``, ``label`` (the item's name), ``left_anchor``
    and ``right_anchor`` (the words under the ends), ``disabled`` (a sent form's lines), ``lang``
    (the number format of the shown value) and ``aria_label`` (what a screen reader announces).
    """

    _esm = asset("vas_line.js")
    _css = asset("vas_line.css")
    value = traitlets.Float(None, allow_none=True).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    left_anchor = traitlets.Unicode("").tag(sync=True)
    right_anchor = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    lang = traitlets.Unicode("en").tag(sync=True)
    aria_label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("fitdata-vas-line-widget")

    @traitlets.validate("value")
    def _valid_value(self, proposal: dict[str, Any]) -> float | None:
        value = proposal["value"]
        if value is None:
            return None
        if not math.isfinite(value):
            raise traitlets.TraitError(f"a mark must be a number, not {value!r}")
        return position_to_value(value / MAX_VALUE)

    @property
    def text(self) -> str:
        """The mark in the line's number format ("" when nothing is marked)."""
        return value_text(self.value, self.lang)
