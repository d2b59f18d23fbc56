"""Errors of the importer and the list of problems found in a file."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["IngestError", "ProblemLog", "ValidationFailed"]

#: Problems printed on the terminal; the rest go to the rejects file (see docs/import.md).
SHOWN_PROBLEMS = 100


class IngestError(Exception):
    """An import that cannot go ahead; the message says what is wrong and what to do.

    When it is raised, nothing has been written: the database is as it was.
    """


class ValidationFailed(IngestError):
    """Rows failed validation and ``--skip-invalid`` was not given.

    Attributes:
        problems: One row per problem: ``file, row, column, value, problem``.
    """

    def __init__(self, message: str, problems: pd.DataFrame) -> None:
        super().__init__(message)
        self.problems = problems


class ProblemLog:
    """Problems found by vectorised checks, collected as frames and described all at once."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str,
        values: pd.Series | None,
        problem: str | pd.Series,
    ) -> None:
        """Record a problem in ``column`` for every row where ``mask`` is true.

        Args:
            mask: Boolean per row of the combined table (positions, not labels).
            column: The canonical column the problem is in.
            values: The raw values of the column (the value is shown as the user wrote it).
            problem: What was expected, one text or one per row.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        positions = np.flatnonzero(mask)
        shown = (
            pd.Series([""] * len(positions), dtype="str")
            if values is None
            else pd.Series(values.iloc[positions].astype("str").fillna("").to_numpy(dtype=object))
        )
        text = (
            pd.Series([problem] * len(positions))
            if isinstance(problem, str)
            else pd.Series(np.asarray(problem, dtype=object)[positions])
        )
        self._parts.append(
            pd.DataFrame({"pos": positions, "column": column, "value": shown, "problem": text})
        )

    def extend(self, frame: pd.DataFrame) -> None:
        """Add problems already in the log's shape (``pos, column, value, problem``)."""
        if len(frame):
            self._parts.append(frame[["pos", "column", "value", "problem"]])

    def frame(self) -> pd.DataFrame:
        """All problems so far, in row order."""
        if not self._parts:
            return pd.DataFrame({"pos": [], "column": [], "value": [], "problem": []})
        return pd.concat(self._parts, ignore_index=True).sort_values("pos", kind="stable")

    def bad_positions(self) -> np.ndarray:
        """Positions of rows with at least one problem."""
        if not self._parts:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate([p["pos"].to_numpy() for p in self._parts]))
