"""The formula guard: OWASP's rule that keeps a spreadsheet from running a text cell, and back.

A value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single
quote in front, so a spreadsheet shows it as text (OWASP, "CSV Injection"); so does a value
that already starts with quotes followed by one of those characters (``'=x`` becomes ``''=x``),
which makes :func:`restore` the exact inverse of :func:`neutralise`. A foundation module
because both sides use it: every writer in :mod:`fitdata.outputs` (via
:mod:`fitdata.outputs.spreadsheets`) and the importer reading an exported file back
(:mod:`fitdata.ingest`, through :data:`RESTORE_PATTERN`).
"""

from __future__ import annotations

import re
from typing import TypeVar

__all__ = ["FORMULA_STARTS", "QUOTE", "RESTORE_PATTERN", "neutralise", "restore"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: What goes in front of such a cell.
QUOTE = "'"
#: A regular expression for :func:`restore` over many values at once (pandas' ``str.replace``):
#: the one leading quote before quotes and then a formula character.
RESTORE_PATTERN = f"^{QUOTE}(?={QUOTE}*[{re.escape(''.join(FORMULA_STARTS))}])"

T = TypeVar("T")


def _needs_quote(text: str) -> bool:
    return text.lstrip(QUOTE).startswith(FORMULA_STARTS)


def neutralise(value: T) -> T | str:
    """``value`` made safe for a spreadsheet cell: text that could run gets a leading quote.

    Anything that is not a ``str`` (numbers, dates, None, NaN) is returned unchanged.
    """
    if isinstance(value, str) and _needs_quote(value):
        return QUOTE + value
    return value


def restore(text: str) -> str:
    """The text :func:`neutralise` was given (for an importer reading an exported file back)."""
    if text.startswith(QUOTE) and _needs_quote(text[1:]):
        return text[1:]
    return text
