"""Parse and check the rows of a file, all rows at once (vectorised, never a loop per row).

:func:`parse_rows` turns text into typed columns and records every problem of a single row:
a value that is not a number or a date, a score out of range or with more than one decimal,
items given only partly, a total that is not the sum of its items, an unknown age group,
rater, format, ending, participant role or form name, and a role that contradicts the rater.
Checks across rows and against the database are in :mod:`fitdata.ingest.assign` and
:mod:`fitdata.ingest.roles`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fitdata.identifiers import Column, text_problems
from fitdata.ingest.problems import ProblemLog
from fitdata.vocabulary import (
    AGE_RANGES,
    MAX_PLAUSIBLE_AGE,
    ORS_COLUMNS,
    SCORE_COLUMNS,
    SRS_COLUMNS,
)

__all__ = [
    "AGE_WORDS",
    "EARLIEST_DATE",
    "MISSING",
    "ORS_FORM_WORDS",
    "ROLE_WORDS",
    "SRS_FORM_WORDS",
    "distinct",
    "lift",
    "parse_rows",
]

#: Values that mean "not given" (compared case-insensitively).
MISSING = frozenset({"", "-", "–", "na", "n/a", "nan"})
#: Session dates before this are refused as typing errors (FIT came into use in the 2000s).
EARLIEST_DATE = dt.date(1990, 1, 1)
#: A total must equal the sum of its items within this many points (the schema's CHECK).
TOTAL_TOLERANCE_TENTHS = 1

AGE_WORDS = {
    "child": ("child", "barn", "c", "cors", "6-12", "6–12"),
    "adolescent": ("adolescent", "ungdom", "ung", "youth", "teen", "13-17", "13–17"),
    "adult": ("adult", "voksen", "voksne", "a", "18+"),
}
RATER_WORDS = {
    "client": ("client", "klient", "self", "selv", "pasient", "bruker", "barn", "ungdom"),
    "parent": ("parent", "forelder", "foreldre", "foresatt", "foresatte", "mor", "far",
               "mother", "father"),
    "teacher": ("teacher", "lærer", "laerer"),
    "partner": ("partner", "ektefelle", "samboer"),
    "other": ("other", "annen", "annet", "andre"),
}  # fmt: skip
END_WORDS = {
    "planned": ("planned", "planlagt", "avtalt", "planlagt avslutning"),
    "unplanned": ("unplanned", "uplanlagt", "dropout", "drop-out", "drop out", "avbrutt",
                  "frafall", "uplanlagt avslutning"),
    "transferred": ("transferred", "overført", "overfort", "henvist videre", "videresendt"),
    "": ("ongoing", "open", "pågående", "pagaende", "aktiv", "active", "åpen"),
}  # fmt: skip
FORMAT_WORDS = {
    "individual": ("individual", "individuell", "individuelt", "ind", "enkel"),
    "couple": ("couple", "par", "parterapi", "parsamtale"),
    "family": ("family", "familie", "familieterapi", "familiesamtale"),
    "group": ("group", "gruppe", "gruppeterapi"),
}
#: Participant roles (``episode_participants.role``) and their other names.
ROLE_WORDS = {
    "index": ("index", "indeks", "index client", "indeksklient", "indekspasient", "hovedklient",
              "hovedperson", "primary", "primær"),
    "partner": ("partner", "ektefelle", "samboer", "kjæreste", "spouse"),
    "family_member": ("family member", "familiemedlem", "family-member", "familie", "family",
                      "søsken", "sibling"),
    "member": ("member", "medlem", "gruppemedlem", "group member", "deltaker", "deltakar"),
    "collateral": ("collateral", "annen vurderer", "kollateral", "collateral rater",
                   "observer"),
}  # fmt: skip
#: In the role column, who rated says the row is a collateral rating by that rater ("mor").
_ROLE_AS_RATER = {
    f"collateral:{rater}": words
    for rater, words in RATER_WORDS.items()
    if rater not in ("client", "partner")
}
#: Outcome and alliance form names (``sessions.ors_form``/``srs_form``) and their spellings.
ORS_FORM_WORDS = {
    "ORS": ("ors", "outcome rating scale", "voksen-ors"),
    "CORS": ("cors", "c-ors", "child ors", "barne-ors", "ors barn", "ors-barn",
             "child outcome rating scale"),
}  # fmt: skip
SRS_FORM_WORDS = {
    "SRS": ("srs", "session rating scale", "voksen-srs"),
    "CSRS": ("csrs", "c-srs", "child srs", "barne-srs", "srs barn", "srs-barn",
             "child session rating scale"),
    "GSRS": ("gsrs", "g-srs", "group srs", "gruppe-srs", "srs gruppe", "srs-gruppe",
             "group session rating scale"),
}  # fmt: skip
TEXT_COLUMNS = (
    "team", "team_name", "service", "therapist", "therapist_name", "therapist_team", "client",
    "episode",
)  # fmt: skip

#: Columns of codes, what they hold and what a problem says is expected (the patterns are
#: :data:`fitdata.identifiers.CLIENT_CODE` and :data:`~fitdata.identifiers.EPISODE_ID`).
CODE_COLUMNS = {
    "client": (
        Column.CLIENT,
        "a pseudonymous client code: 2-32 letters A-Z, digits, '-' or '_', with a letter and "
        "a digit or a capital prefix such as K-4F7Q2A or K-ABCDEF (to import other client "
        "identifiers, replace them by keyed codes with --pseudonymise)",
    ),
    "episode": (
        Column.CODE,
        "an episode id: up to 64 letters A-Z, digits, '-', '_', '.', ':' or '/', with a digit "
        "(E0000042); without an episode column fitdata makes the ids",
    ),
}

_DATE_PATTERNS = (
    (r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T]\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?\s*$", (2, 1, 0)),
    (r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$", (0, 1, 2)),
)


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    if name in raw.columns:
        return raw[name]
    return pd.Series(pd.array([pd.NA] * len(raw), dtype="str"))


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values)``, read straight from a categorical's codes (no hashing per row).

    Returns:
        A code per row (-1 where NA) and the distinct values the codes index (a categorical's
        categories may include values on no row; checking them too changes nothing).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, uniques = pd.factorize(values)
    return codes, pd.Index(uniques)


def lift(codes: np.ndarray, per_unique: np.ndarray, missing: object) -> np.ndarray:
    """Values per row from values per unique (``codes`` from :func:`pandas.factorize`, -1: NA)."""
    return np.append(per_unique, np.array([missing], dtype=per_unique.dtype))[codes]


def _absent(values: pd.Series) -> np.ndarray:
    codes, uniques = distinct(values)
    if len(uniques) == 0:
        return np.ones(len(values), dtype=bool)
    missing = pd.Series(uniques, dtype="str").str.strip().str.casefold().isin(MISSING).to_numpy()
    return lift(codes, missing.astype(bool), True)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, unparseable): NaN where absent or unparseable; decimal comma or point."""
    codes, uniques = distinct(values)
    if len(uniques) == 0:
        return (np.full(len(values), np.nan), np.zeros(len(values), dtype=bool))
    text = pd.Series(uniques, dtype="str")
    absent = text.str.strip().str.casefold().isin(MISSING).to_numpy()
    cleaned = text.str.replace(r"[\s\u00a0]", "", regex=True).str.replace(",", ".", regex=False)
    # A plain decimal only: no thousands separators, exponents, "inf" or hexadecimal.
    plain = cleaned.str.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)").fillna(False).to_numpy(dtype=bool)
    number = pd.to_numeric(cleaned.where(plain), errors="coerce").to_numpy(dtype=float)
    bad = ~absent & ~plain
    return lift(codes, number, np.nan), lift(codes, bad, False)


def _dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[D] with NaT, unparseable): dd.mm.yyyy or ISO, an optional time ignored."""
    codes, uniques = distinct(values)
    if len(uniques) == 0:
        return (
            np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]"),
            np.zeros(len(values), dtype=bool),
        )
    text = pd.Series(uniques, dtype="str")
    absent = text.str.strip().str.casefold().isin(MISSING).to_numpy()
    parts = pd.DataFrame({"year": np.nan, "month": np.nan, "day": np.nan}, index=text.index)
    for pattern, (y, m, d) in _DATE_PATTERNS:
        found = text.str.extract(pattern).astype(float)
        take = found[0].notna() & parts["year"].isna()
        parts.loc[take, "year"] = found.loc[take, y]
        parts.loc[take, "month"] = found.loc[take, m]
        parts.loc[take, "day"] = found.loc[take, d]
    ok = parts["year"].between(1800, 2200) & parts["month"].between(1, 12)
    ok &= parts["day"].between(1, 31)
    parsed = pd.to_datetime(parts.where(ok), errors="coerce").to_numpy(dtype="datetime64[D]")
    bad = ~absent & np.isnat(parsed)
    return lift(codes, parsed, np.datetime64("NaT")), lift(codes, bad, False)


def _words(values: pd.Series, table: dict[str, tuple[str, ...]]) -> tuple[pd.Series, np.ndarray]:
    """(canonical word or NA, unknown) for a column of categorical words."""
    lookup = {word: name for name, words in table.items() for word in (name, *words)}
    codes, uniques = distinct(values)
    if len(uniques) == 0:
        return pd.Series(pd.array([pd.NA] * len(values), dtype="str")), np.zeros(
            len(values), dtype=bool
        )
    key = pd.Series(uniques, dtype="str").str.strip().str.casefold()
    absent = key.isin(MISSING).to_numpy()
    mapped = key.map(lookup)
    unknown = ~absent & mapped.isna().to_numpy()
    canonical = mapped.where(mapped.notna() & ~absent).to_numpy(dtype=object)
    return (
        pd.Series(lift(codes, canonical, None), dtype="str"),
        lift(codes, unknown.astype(bool), False),
    )


def _listing(table: dict[str, tuple[str, ...]]) -> str:
    english = [name for name in table if name]
    norwegian = [next(w for w in words if w != name) for name, words in table.items() if name]
    return f"{', '.join(english)} ({', '.join(norwegian)})"


def parse_rows(raw: pd.DataFrame, problems: ProblemLog, today: dt.date) -> pd.DataFrame:
    """Typed columns for every row of ``raw`` (canonical text columns); problems recorded.

    Returns:
        One row per input row (same positions): text columns stripped (NA when absent),
        dates as ``datetime64[s]`` (NaT when absent), scores as int16 tenths (-1 when
        absent), ``session_no``/``birth_year`` as int32 (0 when absent), ``age_group``
        (NA when absent), ``age_from_years`` (True where it came from an age in years),
        ``rater``, ``end_type`` (NA when not given, "" for "ongoing"), ``format``.
    """
    n = len(raw)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    for name in TEXT_COLUMNS:
        values = _column(raw, name)
        out[name] = values.where(~_absent(values))
    for name in ("team", "therapist"):
        if name in raw.columns:
            problems.add(out[name].isna(), name, raw[name], "a value is required")
    if "client" in raw.columns:
        required: str | pd.Series = "a value is required"
        if "_partner" in raw.columns:  # a partners register: say whose code is missing
            required = (
                "a client code for partner "
                + raw["_partner"].astype("str").fillna("")
                + ": this row has values in the partner's other columns; fill in the code or "
                "empty the partner's columns"
            ).where(raw["_partner"].notna(), "a value is required")
        problems.add(out["client"].isna(), "client", raw["client"], required)
    for name, (kind, expected) in CODE_COLUMNS.items():
        if name in raw.columns:
            codes, uniques = distinct(raw[name])
            per_unique = text_problems(pd.Series(uniques), kind).notna().to_numpy()
            wrong = lift(codes, per_unique, False) & out[name].notna().to_numpy()
            problems.add(wrong, name, raw[name], expected)

    # Dates.
    for name in ("session_date", "episode_start", "episode_end"):
        values = _column(raw, name)
        parsed, bad = _dates(values)
        problems.add(bad, name, values, "a date as dd.mm.yyyy or yyyy-mm-dd (a real calendar date)")
        out[name] = pd.Series(parsed.astype("datetime64[s]"))
    session_date = out["session_date"].to_numpy(dtype="datetime64[D]")
    if "session_date" in raw.columns:
        problems.add(
            session_date > np.datetime64(today),
            "session_date",
            raw["session_date"],
            f"a date not after today ({today.isoformat()})",
        )
        problems.add(
            session_date < np.datetime64(EARLIEST_DATE),
            "session_date",
            raw["session_date"],
            f"a date from {EARLIEST_DATE.isoformat()} on (is the year right?)",
        )
    start = out["episode_start"].to_numpy(dtype="datetime64[D]")
    end = out["episode_end"].to_numpy(dtype="datetime64[D]")
    problems.add(
        end < start, "episode_end", _column(raw, "episode_end"), "a date on or after episode_start"
    )
    problems.add(
        end < session_date, "episode_end", _column(raw, "episode_end"),
        "a date on or after the session date (the episode ended before this session)",
    )  # fmt: skip

    # Scores: numbers 0-10 (items) or 0-40 (totals), at most one decimal, items all or none.
    for name in SCORE_COLUMNS:
        values = _column(raw, name)
        number, bad = _numbers(values)
        problems.add(bad, name, values, "a number such as 7.5 or 7,5")
        top = 40 if name.endswith("_total") else 10
        problems.add((number < 0) | (number > top), name, values, f"a number from 0 to {top}")
        tenths = np.rint(number * 10)
        problems.add(np.abs(number * 10 - tenths) > 1e-6, name, values, "at most one decimal")
        usable = np.isfinite(number) & (number >= 0) & (number <= top)
        out[name] = np.where(usable, tenths, -1).astype(np.int16)
    for form, columns in (("ORS", ORS_COLUMNS), ("SRS", SRS_COLUMNS)):
        items = out[list(columns[:4])].to_numpy()
        given = np.column_stack(
            [~_absent(_column(raw, c)) for c in columns[:4]]
        )  # given as text, even when unparseable
        partly = given.any(axis=1) & ~given.all(axis=1)
        for i, name in enumerate(columns[:4]):
            problems.add(
                partly & ~given[:, i], name, _column(raw, name),
                f"all four {form} items or none (paper forms may give the total only)",
            )  # fmt: skip
        complete = (items >= 0).all(axis=1)
        total = out[columns[4]].to_numpy()
        total_raw = _column(raw, columns[4])
        item_sum = items.sum(axis=1)
        mismatch = complete & (total >= 0) & (np.abs(total - item_sum) > TOTAL_TOLERANCE_TENTHS)
        expected = (
            pd.Series(
                [f"the sum of the four {form} items, {s / 10:.1f} (within 0.1)" for s in item_sum]
            )
            if mismatch.any()
            else ""
        )
        problems.add(mismatch, columns[4], total_raw, expected)
        derive = complete & (total < 0) & _absent(total_raw)
        out.loc[derive, columns[4]] = item_sum[derive].astype(np.int16)

    # A row with no date and no score, or a partner listed without scores in a partners
    # register, adds a participant to an episode and writes no session. (A score given but
    # unreadable is a problem of its own row already.)
    no_score = np.ones(n, dtype=bool)
    for name in SCORE_COLUMNS:
        no_score &= out[name].to_numpy() < 0
    listed = (
        raw["_no_session"].fillna(False).to_numpy(dtype=bool)
        if "_no_session" in raw.columns
        else np.zeros(n, dtype=bool)
    )
    date_absent = _absent(_column(raw, "session_date"))
    only = listed | (no_score & np.isnat(session_date) & date_absent)
    out["_only"] = only
    if "session_date" in raw.columns:
        problems.add(
            np.isnat(session_date) & date_absent & ~only,
            "session_date",
            raw["session_date"],
            "a value is required",
        )

    # Whole numbers.
    values = _column(raw, "session_no")
    number, bad = _numbers(values)
    problems.add(
        bad | (number < 1) | (number > 32767) | (np.isfinite(number) & (number % 1 != 0)),
        "session_no",
        values,
        "a whole number from 1",
    )
    out["session_no"] = np.where(np.isfinite(number) & (number >= 1) & (number <= 32767),
                                 np.floor(number), 0).astype(np.int32)  # fmt: skip
    values = _column(raw, "birth_year")
    number, bad = _numbers(values)
    problems.add(
        bad | (number < 1900) | (number > today.year) | (np.isfinite(number) & (number % 1 != 0)),
        "birth_year",
        values,
        f"a year from 1900 to {today.year}",
    )
    out["birth_year"] = np.where(
        np.isfinite(number) & (number >= 1900) & (number <= today.year), number, 0
    ).astype(np.int32)

    # Age group: a word (child/barn ...) or an age in years.
    values = _column(raw, "age_group")
    words, unknown = _words(values, AGE_WORDS)
    years, _ = _numbers(values)
    by_age = pd.Series(
        np.select(
            [
                (years >= lo) & (years <= (hi or MAX_PLAUSIBLE_AGE)) & (years % 1 == 0)
                for lo, hi in AGE_RANGES.values()
            ],
            list(AGE_RANGES),
            default="",
        ),
        dtype="str",
    )
    from_years = np.isfinite(years)
    problems.add(
        unknown & ~from_years, "age_group", values,
        f"{_listing(AGE_WORDS)} or an age in years",
    )  # fmt: skip
    problems.add(
        from_years & (by_age == "").to_numpy(), "age_group", values,
        "an age from 6 to 120 years (ORS is not scored below 6)",
    )  # fmt: skip
    out["age_group"] = words.where(words.notna(), by_age.where(from_years & (by_age != "")))
    out["age_from_years"] = from_years

    # Rater, format and ending.
    values = _column(raw, "rater")
    words, unknown = _words(values, RATER_WORDS)
    problems.add(unknown, "rater", values, f"{_listing(RATER_WORDS)}")
    _roles(raw, out, words, problems)
    _forms(raw, out, problems)
    values = _column(raw, "format")
    words, unknown = _words(values, FORMAT_WORDS)
    problems.add(unknown, "format", values, f"{_listing(FORMAT_WORDS)}")
    out["format"] = words
    values = _column(raw, "end_type")
    words, unknown = _words(values, END_WORDS)
    problems.add(unknown, "end_type", values, f"{_listing(END_WORDS)}, or ongoing (pågående)")
    out["end_type"] = words
    problems.add(
        ~np.isnat(end) & (words.fillna("") == "").to_numpy(), "end_type", values,
        "planned, unplanned or transferred when episode_end is given",
    )  # fmt: skip
    return out


def _roles(raw: pd.DataFrame, out: pd.DataFrame, rater: pd.Series, problems: ProblemLog) -> None:
    """``role`` (NA: derived later) and ``rater`` of every row; a role against the rater.

    A rater word in the role column (``mor``) means a collateral rating by that rater.
    """
    if "role" not in raw.columns:  # every role is derived (see fitdata.ingest.roles)
        out["rater"] = rater.fillna("client")
        out["role"] = pd.Series(pd.array([pd.NA] * len(raw), dtype="str"))
        return
    values = raw["role"]
    words, unknown = _words(values, {**ROLE_WORDS, **_ROLE_AS_RATER})
    problems.add(
        unknown, "role", values,
        f"{_listing(ROLE_WORDS)}, or who rated the client (mor, far, lærer, parent, teacher, "
        "other) for a collateral rating",
    )  # fmt: skip
    implied = words.str.startswith("collateral:").fillna(False).to_numpy(dtype=bool)
    implied_rater = words.str.removeprefix("collateral:").where(implied)
    given = rater.notna().to_numpy()
    problems.add(
        implied & given & (rater != implied_rater).fillna(False).to_numpy(dtype=bool),
        "role", values,
        "a role that agrees with the rater column (" + rater.fillna("").astype("str") + ")",
    )  # fmt: skip
    final_rater = rater.where(given, implied_rater).fillna("client")
    role = words.where(~implied, "collateral")
    is_client = (final_rater == "client").to_numpy()
    problems.add(
        (role == "collateral").fillna(False).to_numpy(dtype=bool) & is_client, "role", values,
        "a client's role (index, partner, family member, member), or a rater column that says "
        "who rated (parent, teacher, partner, other): a collateral rating is by someone else",
    )  # fmt: skip
    problems.add(
        role.isin(ROLE_WORDS).to_numpy() & (role != "collateral").to_numpy() & ~is_client,
        "role", values,
        "collateral or an empty role on a row rated by a "
        + final_rater.astype("str")
        + " (an index client, partner or family member rates themself)",
    )  # fmt: skip
    out["rater"] = final_rater
    out["role"] = role


def _forms(raw: pd.DataFrame, out: pd.DataFrame, problems: ProblemLog) -> None:
    """``ors_form``/``srs_form`` as given (NA: not given, or no score of that form)."""
    for name, table, expected, total in (
        ("ors_form", ORS_FORM_WORDS, "ORS, or CORS (the child form)", "ors_total"),
        ("srs_form", SRS_FORM_WORDS, "SRS, CSRS (the child form) or GSRS (the group form)",
         "srs_total"),
    ):  # fmt: skip
        if name not in raw.columns:  # defaults: fitdata.ingest.forms
            out[name] = pd.Series(pd.array([pd.NA] * len(raw), dtype="str"))
            continue
        values = raw[name]
        words, unknown = _words(values, table)
        problems.add(unknown, name, values, expected)
        out[name] = words.where(out[total].to_numpy() >= 0)
