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
from fitdata.ingest.entities import first_rows
from fitdata.ingest.existing import Existing
from fitdata.ingest.problems import ProblemLog
from fitdata.vocabulary import AGE_RANGES, MAX_PLAUSIBLE_AGE, ORS_FORMS, SRS_FORMS

__all__ = ["age_groups", "check_forms"]


def age_groups(rows: pd.DataFrame, existing: Existing) -> np.ndarray:
    """Each row's client's age group: the database's, else the file's, else by birth year.

    The same order :mod:`fitdata.ingest.entities` uses for a new client (the first age group
    given in date order, else the age at the first session from the birth year); None where
    none. Worked out per client code.
    """
    codes, clients = (
        (rows["client"].cat.codes.to_numpy().astype(np.int64), rows["client"].cat.categories)
        if isinstance(rows["client"].dtype, pd.CategoricalDtype)
        else pd.factorize(rows["client"])
    )
    count = len(clients)
    stored = existing.clients.set_index("client_id")["age_group"]
    stored = stored[~stored.index.duplicated()]
    group = pd.Series(np.asarray(clients, dtype=object)).map(stored).to_numpy(dtype=object)
    date = rows["session_date"].to_numpy(dtype="datetime64[D]")
    order = np.argsort(date, kind="stable")  # NaT last
    given = rows["age_group"].notna().to_numpy()
    first = first_rows(codes, count, order, given)
    file_group = np.append(rows["age_group"].to_numpy(dtype=object), None)[first]
    group = np.where(pd.notna(group), group, file_group)
    valid = codes >= 0
    born = np.zeros(count, dtype=np.int64)
    np.maximum.at(born, codes[valid], rows["birth_year"].to_numpy(dtype=np.int64)[valid])
    day = date.astype("datetime64[Y]").astype(np.int64) + 1970
    dated = valid & ~np.isnat(date)
    first_year = np.full(count, np.iinfo(np.int64).max)
    np.minimum.at(first_year, codes[dated], day[dated])
    age = np.where((born > 0) & (first_year < np.iinfo(np.int64).max), first_year - born, -1)
    by_birth = np.select(
        [(age >= lo) & (age <= (hi or MAX_PLAUSIBLE_AGE)) for lo, hi in AGE_RANGES.values()],
        list(AGE_RANGES),
        default="",
    ).astype(object)
    by_birth[by_birth == ""] = None
    group = np.where(pd.notna(group), group, by_birth)
    return np.append(group, None)[codes]


def check_forms(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    existing: Existing,
    episode_format: pd.Categorical,
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
        (rows with an error, ``ors_form``, ``srs_form``): the forms to store as categoricals
        of :data:`~fitdata.vocabulary.ORS_FORMS` and :data:`~fitdata.vocabulary.SRS_FORMS`,
        NA where the form's total is absent.
    """
    group = age_groups(rows, existing)
    child = group == "child"
    known_group = pd.notna(group)
    group_text = pd.Series(group, index=rows.index).astype("str")
    is_group = np.asarray(episode_format == "group", dtype=bool)
    bad = np.zeros(len(rows), dtype=bool)
    out = {}
    for name, forms, child_form, expected in (
        ("ors_form", ORS_FORMS, "CORS", "ORS"),
        ("srs_form", SRS_FORMS, "CSRS", "SRS or GSRS"),
    ):
        given = pd.Categorical(rows[name], categories=forms).codes  # -1: not given
        wrong = (given == forms.index(child_form)) & known_group & ~child
        if wrong.any():
            text = (
                f"{expected}: {child_form} is the child form (ages 6-12) and this client's age "
                "group is " + group_text
                + "; correct the form or the age group (it chooses the cutoff)"
            )  # fmt: skip
            full = np.full(len(raw), "", dtype=object)
            full[rows["pos"].to_numpy()] = text.to_numpy(dtype=object)
            problems.add(at(rows, wrong, raw), name, raw_values(raw, name), pd.Series(full))
            bad |= wrong
        default = np.where(child, forms.index(child_form), 0)
        if name == "srs_form":
            default = np.where(~child & is_group, forms.index("GSRS"), default)
        code = np.where(given >= 0, given, default)
        code[rows[name.replace("_form", "_total")].to_numpy() < 0] = -1  # no score, no form
        out[name] = pd.Categorical.from_codes(code, categories=forms)
    gsrs = (
        (out["srs_form"].codes == SRS_FORMS.index("GSRS")) & ~is_group & rows["srs_form"].notna()
    ).to_numpy(dtype=bool)
    if gsrs.any():
        text = "the group form (GSRS) in an episode of format " + pd.Series(
            np.asarray(episode_format, dtype=object), index=rows.index
        ).astype("str")
        full = np.full(len(raw), "", dtype=object)
        full[rows["pos"].to_numpy()] = (
            text + "; imported as given (is the episode's format or the form a typing error?)"
        ).to_numpy(dtype=object)
        warnings.add(at(rows, gsrs, raw), "srs_form", None, pd.Series(full))
    return (
        bad,
        pd.Series(out["ors_form"], index=rows.index),
        pd.Series(out["srs_form"], index=rows.index),
    )
