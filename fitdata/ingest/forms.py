"""The form each imported score was given on (ORS/CORS, SRS/CSRS/GSRS): checked and filled in.

Rules (documented for users in ``docs/import.md``, *Forms*):

* A form the file gives is stored as given; where it gives none, the form is
  :func:`fitdata.vocabulary.default_forms` of the client's age group and the episode's format
  (CORS/CSRS for a child, GSRS in a group, else ORS/SRS). A form with no score of its own is
  not stored (the schema keeps the form NULL exactly when its total is NULL).
* **Error:** the child forms (CORS, CSRS) for a client whose age group is adolescent or
  adult. The age group chooses the clinical cutoff, so one of the two is wrong, and which one
  is for a person to say; an import never guesses.
* **Warning:** the group form (GSRS) outside a group episode. Stored as given: the GSRS has the
  same four 0-10 items and no figure of fitdata depends on it, and some services give it in
  multi-family or couple groups recorded as family or couple episodes; the warning lets a
  person see whether the episode's format or the form is a typing error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.ingest.checks import at, raw_values
from fitdata.ingest.existing import Existing
from fitdata.ingest.problems import ProblemLog
from fitdata.vocabulary import AGE_RANGES, MAX_PLAUSIBLE_AGE

__all__ = ["age_groups", "check_forms"]


def age_groups(rows: pd.DataFrame, existing: Existing) -> np.ndarray:
    """Each row's client's age group: the database's, else the file's, else by birth year.

    The same order :mod:`fitdata.ingest.entities` uses for a new client (the first age group
    given in date order, else the age at the first session from the birth year); NA where none.
    """
    client = rows["client"].astype("str")
    stored = existing.clients.set_index("client_id")["age_group"]
    stored = stored[~stored.index.duplicated()]
    group = client.map(stored)
    by_date = rows.sort_values("session_date", kind="stable")
    given = by_date["age_group"].astype("str").where(by_date["age_group"].notna())
    first_given = given.groupby(by_date["client"].astype("str"), sort=False).first()
    group = group.where(group.notna(), client.map(first_given))
    birth = rows["birth_year"].where(rows["birth_year"] > 0)
    born = birth.groupby(client, sort=False).transform("max")
    first_year = rows["session_date"].groupby(client, sort=False).transform("min").dt.year
    age = (first_year - born).astype("Float64")
    by_birth = pd.Series(
        np.select(
            [
                ((age >= lo) & (age <= (hi or MAX_PLAUSIBLE_AGE))).fillna(False).to_numpy(bool)
                for lo, hi in AGE_RANGES.values()
            ],
            list(AGE_RANGES),
            default="",
        ),
        index=rows.index,
    ).replace("", pd.NA)
    return group.where(group.notna(), by_birth).to_numpy(dtype=object)


def check_forms(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    existing: Existing,
    episode_format: np.ndarray,
    problems: ProblemLog,
    warnings: ProblemLog,
) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Check the forms of ``rows`` and fill in the default where none is given.

    Args:
        rows: Rows with ``client``, ``age_group``, ``birth_year``, ``session_date``,
            ``ors_form``, ``srs_form`` (NA: not given), ``ors_total``, ``srs_total`` (tenths,
            -1: none) and ``pos``.
        raw: The combined text table.
        existing: What the database holds (the age groups of known clients).
        episode_format: Each row's episode format (:class:`fitdata.ingest.roles.Roles`).
        problems: Where errors are recorded.
        warnings: Where warnings are recorded (the rows are imported).

    Returns:
        (rows with an error, ``ors_form``, ``srs_form``): the forms to store, NA where the
        form's total is absent.
    """
    group = pd.Series(age_groups(rows, existing), index=rows.index, dtype="str")
    fmt = pd.Series(episode_format, index=rows.index, dtype="str")
    child = (group == "child").fillna(False).to_numpy(bool)
    known_group = group.notna().to_numpy()
    bad = np.zeros(len(rows), dtype=bool)
    out = {}
    for name, child_form, default_other in (
        ("ors_form", "CORS", "ORS"),
        ("srs_form", "CSRS", None),
    ):
        given = rows[name].astype("str").where(rows[name].notna())
        wrong = (given == child_form).fillna(False).to_numpy(bool) & known_group & ~child
        if wrong.any():
            text = (
                f"{default_other or 'SRS or GSRS'}: {child_form} is the child form (ages 6-12) "
                "and this client's age group is " + group.fillna("")
                + "; correct the form or the age group (it chooses the cutoff)"
            )  # fmt: skip
            full = np.full(len(raw), "", dtype=object)
            full[rows["pos"].to_numpy()] = text.to_numpy(dtype=object)
            problems.add(at(rows, wrong, raw), name, raw_values(raw, name), pd.Series(full))
            bad |= wrong
        if name == "ors_form":
            default = np.where(child, "CORS", "ORS")
        else:
            default = np.where(child, "CSRS", np.where(fmt.to_numpy() == "group", "GSRS", "SRS"))
        total = rows[name.replace("_form", "_total")].to_numpy() >= 0
        form = given.where(given.notna(), pd.Series(default, index=rows.index))
        out[name] = form.where(total)
    gsrs = (out["srs_form"] == "GSRS").fillna(False).to_numpy(bool) & (fmt != "group").to_numpy()
    gsrs &= rows["srs_form"].notna().to_numpy()
    if gsrs.any():
        text = "the group form (GSRS) in an episode of format " + fmt
        full = np.full(len(raw), "", dtype=object)
        full[rows["pos"].to_numpy()] = (
            text + "; imported as given (is the episode's format or the form a typing error?)"
        ).to_numpy(dtype=object)
        warnings.add(at(rows, gsrs, raw), "srs_form", None, pd.Series(full))
    return bad, out["ors_form"], out["srs_form"]
