"""The period a leader picks: a month, quarter or year, or a range of one kind.

Leaders think in quarters ("how did we do in Q3?") and the trend beside the numbers shows the
eight quarters up to the period, so the period is a small value object that knows its first and
last day, the quarters of its trend and the period before it. Parsing is strict and says which
forms are accepted, because the same text comes from a dropdown and from ``fitdata report
--period``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

__all__ = ["TREND_QUARTERS", "Period", "PeriodError", "PeriodUnit", "parse_period"]

PeriodUnit = Literal["month", "quarter", "year"]
#: Quarters shown in every trend (ending with the quarter that holds the period's last day).
TREND_QUARTERS = 8


class PeriodError(ValueError):
    """A period that cannot be read, with the accepted forms in the message."""


_QUARTER = re.compile(r"^(\d{4})\s*[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
_PERIOD_HELP = "write a quarter (2025Q3), a month (2025-07) or a year (2025), or a range of "
_PERIOD_HELP += "one kind joined by '..' (2025Q1..2025Q3)"
_UNIT_OF_FREQ = {"Q": "quarter", "M": "month", "Y": "year"}


def _one_period(text: str) -> pd.Period:
    text = text.strip()
    if match := _QUARTER.match(text):
        return pd.Period(year=int(match[1]), quarter=int(match[2]), freq="Q")
    if match := _MONTH.match(text):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r} is not a month: the month must be 01-12; {_PERIOD_HELP}")
        return pd.Period(year=int(match[1]), month=month, freq="M")
    if _YEAR.match(text):
        return pd.Period(year=int(text), freq="Y")
    raise PeriodError(f"cannot read the period {text!r}: {_PERIOD_HELP}")


@dataclass(frozen=True)
class Period:
    """A month, quarter or year, or a range of one kind (both ends inclusive)."""

    unit: PeriodUnit
    first: str
    last: str

    @property
    def _first(self) -> pd.Period:
        return _one_period(self.first)

    @property
    def _last(self) -> pd.Period:
        return _one_period(self.last)

    @property
    def start(self) -> dt.date:
        """The first day of the period."""
        return self._first.start_time.date()

    @property
    def end(self) -> dt.date:
        """The last day of the period."""
        return self._last.end_time.date()

    @property
    def label(self) -> str:
        """``2025Q3``, or ``2025Q1..2025Q3`` for a range."""
        return self.first if self.first == self.last else f"{self.first}..{self.last}"

    def trend_quarters(self, count: int = TREND_QUARTERS) -> list[str]:
        """The quarters of the trend: ``count`` up to the period's end, or the whole period."""
        last = pd.Period(self.end, freq="Q")
        first = min(last - (count - 1), pd.Period(self.start, freq="Q"))
        return [str(q) for q in pd.period_range(first, last, freq="Q")]

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        first, last = self._first, self._last
        length = last.ordinal - first.ordinal + 1
        return Period(self.unit, str(first - length), str(last - length))


def parse_period(text: str) -> Period:
    """Read ``2025Q3``, ``2025-07``, ``2025`` or a range ``2025Q1..2025Q3``.

    Raises:
        PeriodError: If the text is none of these, the two ends are of different kinds, or the
            range runs backwards; the message says which forms are accepted.
    """
    if not isinstance(text, str) or not text.strip():
        raise PeriodError(f"no period given: {_PERIOD_HELP}")
    parts = text.split("..")
    if len(parts) > 2:
        raise PeriodError(f"cannot read the period {text!r}: {_PERIOD_HELP}")
    ends = [_one_period(part) for part in parts]
    first, last = ends[0], ends[-1]
    if first.freqstr[0] != last.freqstr[0]:
        raise PeriodError(f"the two ends of {text!r} are of different kinds; {_PERIOD_HELP}")
    if last < first:
        raise PeriodError(f"the period {text!r} ends before it starts; put the earlier end first")
    return Period(_UNIT_OF_FREQ[first.freqstr[0]], str(first), str(last))  # type: ignore[arg-type]
