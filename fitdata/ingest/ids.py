"""Ids of teams and therapists: a file's names matched to the database, new ones given codes.

A team or therapist column holds a name (``Ungdomsteamet``, ``Kari Hansen``) or an id. A value
is matched to an existing team (therapist) by its name first, then by its id, so the same file
imported twice finds the teams the first import made. A value that matches nothing is new:

* it is an **id** when the file names it in the name column (``team_name``, ``therapist_name``)
  with another text, or when it already is a code of the kind fitdata makes (``T-0007``): it is
  kept as the id (an export's ids travel back unchanged);
* else it is a **name**: the new team gets the next free code (``T-0001``, ``T-0002``, ...;
  therapists ``B-0001``, ...), and the value is its name. Values that differ only in case are
  one team.

Databases whose ids equal their names keep working: such a value matches by its name. All of it
is worked out once per distinct value, never per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["THERAPIST_CODES", "TEAM_CODES", "CodeStyle", "resolve_ids"]


@dataclass(frozen=True)
class CodeStyle:
    """How the codes of one kind of entity look: a prefix and at least four digits."""

    prefix: str

    @property
    def pattern(self) -> re.Pattern[str]:
        """A code of this style; its group 1 is the number."""
        return re.compile(rf"{re.escape(self.prefix)}([0-9]{{4,}})\Z")

    def code(self, number: int) -> str:
        """The code with this number (``T-0007``)."""
        return f"{self.prefix}{number:04d}"

    def highest(self, values: list[str]) -> int:
        """The highest number among ``values`` that are codes of this style (0 when none)."""
        numbers = [int(m.group(1)) for v in values if (m := self.pattern.match(v))]
        return max(numbers, default=0)


#: Codes of new teams (``T-0007``) and therapists (``B-0012``, behandler).
TEAM_CODES = CodeStyle("T-")
THERAPIST_CODES = CodeStyle("B-")


def _as_text_categorical(values: pd.Series) -> pd.Series:
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    return values.cat.rename_categories(values.cat.categories.astype("str"))


def _named_otherwise(values: pd.Series, names: pd.Series | None) -> set[str]:
    """Values that the rows name with another text in the name column (those are ids)."""
    if names is None:
        return set()
    names = _as_text_categorical(names.reset_index(drop=True))
    values = values.reset_index(drop=True)
    value_codes = values.cat.codes.to_numpy().astype(np.int64)
    name_codes = names.cat.codes.to_numpy().astype(np.int64)
    given = (value_codes >= 0) & (name_codes >= 0)
    pairs = np.unique(value_codes[given] * (len(names.cat.categories) + 1) + name_codes[given])
    value_of = pairs // (len(names.cat.categories) + 1)
    name_of = pairs % (len(names.cat.categories) + 1)
    labels = np.asarray(values.cat.categories, dtype=object)
    name_labels = np.asarray(names.cat.categories, dtype=object)
    return {
        str(labels[v])
        for v, n in zip(value_of, name_of, strict=True)
        if str(name_labels[n]).strip() != str(labels[v])
    }


def resolve_ids(
    columns: list[pd.Series],
    names: pd.Series | None,
    ids: pd.Series,
    known_names: pd.Series,
    style: CodeStyle,
) -> tuple[list[pd.Series], dict[str, str]]:
    """Map the values of ``columns`` to ids; new names get codes (see the module's rules).

    Args:
        columns: Categorical columns naming the same kind of entity (the team column and the
            therapists' team column), resolved together so one name gets one code.
        names: The name column that goes with ``columns[0]`` (``team_name``), or None.
        ids: The ids in the database.
        known_names: Their names, in the same order.
        style: The codes made for new names.

    Returns:
        The columns with ids in place of the values, and each new code's name.
    """
    columns = [_as_text_categorical(c) for c in columns]
    by_name = pd.Series(ids.astype("str").to_numpy(), index=known_names.str.casefold().to_numpy())
    by_name = by_name[~by_name.index.duplicated(keep=False)].to_dict()
    known = set(ids.astype("str"))
    explicit = _named_otherwise(columns[0], names)
    values = sorted({str(v) for c in columns for v in c.cat.categories})
    next_number = style.highest([*known, *values]) + 1
    resolved: dict[str, str] = {}
    made: dict[str, str] = {}  # casefolded name -> its new code
    created: dict[str, str] = {}  # new code -> name
    for value in values:
        if value.casefold() in by_name:
            resolved[value] = by_name[value.casefold()]
        elif value in known or value in explicit or style.pattern.match(value):
            resolved[value] = value
        elif value.casefold() in made:
            resolved[value] = made[value.casefold()]
        else:
            code = style.code(next_number)
            next_number += 1
            made[value.casefold()] = code
            created[code] = value
            resolved[value] = code
    out = []
    for column in columns:
        new_categories = pd.Index([resolved[str(v)] for v in column.cat.categories], dtype="str")
        codes, uniques = pd.factorize(new_categories)
        merged = np.append(codes, -1)[column.cat.codes.to_numpy()]
        recoded = pd.Series(pd.Categorical.from_codes(merged, uniques), index=column.index)
        out.append(recoded)
    return out, created
