"""What dropdowns offer, in people's words: periods as "Q3 2025" / "3. kvartal 2025", not codes.

A dropdown's values stay the codes the code works with (``2025Q3``, ``2025-03``, ``child``); its
labels are what a person reads. Age groups and formats have their labels in the catalogue
(``choice.age_group.<code>``, ``choice.format.<code>``, ``choice.all``); a period's label is made
here from its code.
"""

from __future__ import annotations

import re

from fitdata.i18n import Translator

__all__ = ["period_label", "period_options"]

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_label(tr: Translator, period: str) -> str:
    """A period code in words; a year (or anything else) is shown as it is.

    ``2025Q3`` reads "Q3 2025" / "3. kvartal 2025", ``2025-03`` "March 2025" / "mars 2025".
    """
    if match := _QUARTER.match(period):
        year, quarter = match.groups()
        return tr.text("choice.quarter", quarter=quarter, year=year)
    if match := _MONTH.match(period):
        year, month = match.groups()
        names = tr.text("choice.months").split(",")
        if 1 <= int(month) <= 12:
            return tr.text("choice.month", month=names[int(month) - 1], year=year)
    return period


def period_options(tr: Translator, periods: list[str]) -> list[tuple[str, str]]:
    """Dropdown options for ``periods``: (label in words, the period's code)."""
    return [(period_label(tr, period), period) for period in periods]
