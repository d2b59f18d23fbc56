"""Identity numbers, names and contact details in text, and what a pseudonymous code looks like.

The one home of these rules, so that the importer (every text column of a file), registration
(a new client's code) and the database (a CHECK built from :data:`IDENTITY_NUMBER_SQL`) refuse
the same things. Pure functions, no I/O; ``docs/import.md`` ("Privacy at the door") says the
same for users.

* **National identity numbers** (fødselsnummer): 11 digits, DDMMYY and five more, the last two
  mod-11 check digits. D-numbers add 40 to the day, H-numbers 40 to the month, synthetic test
  numbers (Tenor) 80 to the month. A number is found in any spelling a person or a program
  produces: digit groups joined by spaces (also no-break and other Unicode spaces), ``.``,
  ``-`` or ``/`` (``311299-10065``, ``01.01.90 10046``, ``010 190 10046``), the date written
  with a four-digit year (``01.01.1990 10046``, ``1990-01-01 10046``), full-width and other
  scripts' digits, inside longer text, and 10 digits that make a valid number with the leading
  zero restored (Excel stores ``01019010046`` typed into a cell as the number 1019010046). The
  date part and both check digits must be right, so an ordinary 11-digit number is rarely
  taken for one (about 1 in 600). The ISO date that ends an episode id of the importer's old
  form (``K-001/2025-01-06``) is read as a date, not as the end of a number.
* **The database** cannot check mod-11 cheaply, so :data:`IDENTITY_NUMBER_SQL` is stricter: it
  refuses any 11 digits in a row once separators are removed, and 10 digits whose first three
  would be a valid day and month after a lost leading zero. A client code must pass that too
  (:func:`is_client_code`), so no code the importer or registration accepts is refused there.
* **Client codes** (:data:`CLIENT_CODE`): 2-32 ASCII letters, digits, ``-`` and ``_``,
  beginning with a letter or digit, with at least one letter, and either a digit or a prefix of
  1-3 capital letters and ``-``/``_`` before capitals (``K-4F7Q2A``, ``P-…``). A word alone
  (``Kari``), a number alone (a phone number, a birth date), spaces, ``.`` or ``@`` are never a
  code.
* **Names.** In a client or episode column anything made of letters only is taken for a name.
  In free-text columns (team and service names) a person's name is 2-4 words, each a
  capitalised word (``Ola-Kristian Ødegård``, ``Kari M. Nordmann``) or all of them lower case
  (``kari nordmann``), or ``Nordmann, Kari``; a word that belongs to teams and services
  (``team``, ``tjeneste``, ``Nord``, ``rus``, ``og``, ...) or a digit makes it a team name
  (``Team Nord``, ``Rask psykisk helsehjelp``). Therapist names are staff names and allowed.
* **Contact details** anywhere but in columns of :attr:`Column.OTHER`: e-mail addresses and
  Norwegian phone numbers (``+47``/``0047`` and 8 digits, ``tlf 98765432``, or a value grouped
  like a phone number: ``98 76 54 32``, ``987 65 432``; in a client column also 8 digits
  beginning with 4 or 9, which elsewhere may be an employee or case number).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CLIENT_CODE",
    "EPISODE_ID",
    "IDENTITY_NUMBER_SQL",
    "Column",
    "Finding",
    "contains_national_id",
    "find_national_ids",
    "identity_number_sql",
    "is_client_code",
    "is_national_id",
    "looks_like_person_name",
    "mask_value",
    "might_be_identity_number",
    "national_id_digits",
    "text_problem",
    "text_problems",
]


class Finding(StrEnum):
    """What :func:`text_problem` found in a value; all but ``NOT_A_CODE`` are personal data."""

    IDENTITY_NUMBER = "identity_number"
    EMAIL = "email"
    PHONE = "phone"
    NAME = "name"
    NOT_A_CODE = "not_a_code"

    @property
    def personal(self) -> bool:
        """Whether the value may identify a person (refuse the file, mask it in messages)."""
        return self is not Finding.NOT_A_CODE


class Column(StrEnum):
    """What a column holds, which decides what is looked for in it."""

    CLIENT = "client"  # pseudonymous client codes: CLIENT_CODE, and no identity number at all
    CODE = "code"  # other codes (episode ids): EPISODE_ID
    STAFF = "staff"  # therapist ids and names: names of staff are allowed
    FREE_TEXT = "free_text"  # team and service names: no person's name
    OTHER = "other"  # anything else (scores, dates, ignored columns): identity numbers only


#: A pseudonymous client code (use :func:`is_client_code`, which also applies the database's
#: identity-number rule). Examples: ``K-4F7Q2A``, ``K-ABCDEF``, ``P-3MZ6QW2A7KXF``, ``kl17``.
CLIENT_CODE = re.compile(
    r"(?=[A-Za-z0-9][A-Za-z0-9_-]{1,31}\Z)"  # 2-32 characters, no space, dot or @
    r"(?=.*[A-Za-z])"  # a letter: a number alone is no code (phone numbers, birth dates)
    r"(?:(?=.*[0-9])|[A-Z]{1,3}[-_][A-Z0-9][A-Z0-9_-]*\Z)"  # a digit, or a prefix: K-ABCDEF
)
#: An episode id: letters, digits and ``- _ . : /``, 1-64 characters, with at least one digit
#: (ids are numbered: ``E0000042``; the importer makes ``<client>:<first date>``).
EPISODE_ID = re.compile(r"(?=.*[0-9])[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}\Z")

#: True where ``{column}`` holds 11 digits in a row once spaces (every Unicode space and
#: format character), dashes, ``.`` and ``/`` are removed, or 10 digits that would be a valid
#: day (01-09) and month after a lost leading zero. For a CHECK: ``CHECK (NOT (...))`` with
#: ``IDENTITY_NUMBER_SQL.format(column="client_id")`` (see :func:`identity_number_sql`).
IDENTITY_NUMBER_SQL = (
    "regexp_matches(regexp_replace(translate({column}, '０１２３４５６７８９', '0123456789'), "
    "'[\\s\\pZ\\p{{Cf}}\\p{{Pd}}./．／−]+', '', 'g'), "
    "'\\p{{Nd}}{{11}}|(^|\\P{{Nd}})[1-9](0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])"
    "[0-9]{{7}}(\\P{{Nd}}|$)')"
)

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_SEPARATOR_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cf", "Pd"})
_SEPARATORS = r"[\s./-]"  # after _canonical, every separator is one of these
_NO_DIGITS = str.maketrans("", "", "0123456789")
# A date with a four-digit year right before the personal number: DD.MM.YYYY or YYYY-MM-DD.
_DATE_AND_NUMBER = re.compile(
    r"(?<![0-9])(?:([0-9]{1,2})([./-])([0-9]{1,2})\2(?:19|20)([0-9]{2})"
    r"|(?:19|20)([0-9]{2})-([0-9]{2})-([0-9]{2}))"
    rf"{_SEPARATORS}+([0-9]{{5}})(?![0-9])"
)
# The date at the end of an episode id of the importer's old form ``K-001/2025-01-06`` is a
# date, not the end of a number (the client's digits and the date's would make 11).
_EPISODE_DATE = re.compile(r"/(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}\Z")
_CHAIN = re.compile(rf"[0-9]+(?:{_SEPARATORS}+[0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_STRICT = re.compile(
    r"[0-9]{11}|(?<![0-9])[1-9](?:0[1-9]|1[0-2]|4[1-9]|5[0-2]|8[1-9]|9[0-2])[0-9]{7}(?![0-9])"
)
_WHOLE_NUMBER = re.compile(rf"\s*[0-9]+(?:{_SEPARATORS}+[0-9]+)*\s*")

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\W\d_]{2,}")
_PHONE_DIGITS = r"(?:[0-9][\s.-]?){7}[0-9](?![0-9])"
_PHONE = re.compile(
    rf"(?<![\w+])(?:\+|00)47[\s.-]*{_PHONE_DIGITS}"  # +47 987 65 432, 004798765432
    rf"|(?i:\b(?:tlf|telefon|mobil|mob|tel|phone)\b)\.?:?\s*{_PHONE_DIGITS}"  # tlf 98765432
)
# A value that is a phone number grouped as one is written (98 76 54 32, 987 65 432).
_PHONE_GROUPED = re.compile(
    r"\s*(?:[2-9][0-9](?:[ .][0-9]{2}){3}|[2-9][0-9]{2}[ .][0-9]{2}[ .][0-9]{3}"
    r"|[2-9][0-9]{3}[ .][0-9]{4})\s*"
)
# A value that is 8 digits beginning with 4 or 9 (a mobile number): in a client column only,
# where nothing made of digits alone is a code anyway; elsewhere it may be an employee number.
_MOBILE = re.compile(r"\s*[49][0-9]{7}\s*")

_LETTER = r"[^\W\d_]"
_LETTERS_ONLY = re.compile(rf"[\s.,'’_-]*(?:{_LETTER}[\s.,'’_-]*){{2,}}")
_WORD = re.compile(rf"{_LETTER}+(?:['’-]{_LETTER}+)*")
_INITIAL = re.compile(rf"{_LETTER}\.?")
#: Lower-case particles inside a capitalised name (``Ludwig van Beethoven``).
_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "del", "dos", "das", "af",
     "ter", "ten", "bin", "ibn", "al", "el"}
)  # fmt: skip
#: Words that make a value a team or service name, not a person's (compared in lower case).
_ORGANISATION_WORDS = frozenset(
    {"og", "i", "for", "på", "til", "med", "mot", "and", "of", "the", "in", "at", "to",
     "nord", "sør", "syd", "øst", "vest", "midt", "sentrum", "indre", "ytre", "north", "south",
     "east", "west", "central", "rus", "dps", "bup", "vop", "nav", "act", "fact", "ung", "unge",
     "rask", "lavterskel", "ambulant", "ambulante", "akutt", "psykisk", "psykiske", "avd",
     "seksjon", "post", "enhet", "enheten", "bydel", "sone", "område", "distrikt", "region"}
)  # fmt: skip
#: Parts of words that make a value a team or service name (``Ungdomsteamet``).
_ORGANISATION_STEMS = (
    "team", "tjenest", "avdeling", "senter", "center", "centre", "kontor", "kommune", "helse",
    "psyk", "barn", "ungdom", "voksen", "famil", "klinikk", "gruppe", "polikl", "service",
    "unit", "clinic", "office", "youth", "adult", "child", "health", "oppfølg", "oppfolg",
    "behandl", "terapi", "rehab", "bolig", "skole", "school", "tiltak", "hjelp", "aktivitet",
    "stasjon", "sykehus", "hospital", "mottak", "rådgiv", "veiled", "program", "prosjekt",
    "project", "avhengig", "spesialist", "omsorg", "pleie", "losen", "linjen", "kompetanse",
)  # fmt: skip


# --- Digits and separators in any script -----------------------------------------------------


def _canonical(text: str) -> str:
    """``text`` with every decimal digit in ASCII and every separator as `` ``, ``-``, ``.``.

    NFKC first (full-width digits and punctuation, no-break spaces), then other scripts'
    digits by their value, dashes as ``-`` and other spaces and invisible format characters
    as a space. ASCII text is returned as it is.
    """
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        elif char == "−" or unicodedata.category(char) == "Pd":
            out.append("-")
        elif char.isspace() or unicodedata.category(char) in _SEPARATOR_CATEGORIES:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _digit_count(text: str) -> int:
    return len(text) - len(text.translate(_NO_DIGITS))


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    """11 - (weighted sum mod 11); 11 is 0, and 10 (-1 here) means no valid number."""
    digit = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    return 0 if digit == 11 else -1 if digit == 10 else digit


def _valid(number: str) -> bool:
    """Whether 11 ASCII digits are a valid identity number (date part and check digits)."""
    day, month = int(number[:2]), int(number[2:4])
    day_ok = 1 <= day <= 31 or 41 <= day <= 71  # D-numbers add 40 to the day
    month_ok = 1 <= month <= 12 or 41 <= month <= 52 or 81 <= month <= 92  # H, synthetic
    return (
        day_ok
        and month_ok
        and _check_digit(number, _WEIGHTS_1) == int(number[9])
        and _check_digit(number, _WEIGHTS_2) == int(number[10])
    )


def _join_date(match: re.Match[str]) -> str:
    """A four-digit-year date and a personal number as the 11 digits they stand for."""
    if match.group(1) is not None:
        day, month, year = match.group(1).zfill(2), match.group(3).zfill(2), match.group(4)
    else:
        year, month, day = match.group(5), match.group(6), match.group(7)
    return f"{day}{month}{year}{match.group(8)}"


def _candidates(canonical: str) -> list[str]:
    """Every 11-digit number ``canonical`` may spell, leading zeros restored."""
    text = _EPISODE_DATE.sub("/#", _DATE_AND_NUMBER.sub(_join_date, canonical))
    found = []
    for chain in _CHAIN.finditer(text):
        groups = _DIGIT_GROUP.findall(chain.group())
        for first in range(len(groups)):
            length = 0
            for last in range(first, len(groups)):
                length += len(groups[last])
                if length == 11:
                    found.append("".join(groups[first : last + 1]))
                elif length == 10 and last == first:  # a number that lost its leading zero
                    found.append("0" + groups[first])
                if length >= 11:
                    break
    return found


def contains_national_id(value: str) -> bool:
    """Whether ``value`` contains a valid identity number in any spelling (see the module)."""
    text = _canonical(str(value))
    if _digit_count(text) < 10:
        return False
    return any(_valid(number) for number in _candidates(text))


def national_id_digits(value: str) -> str | None:
    """The 11 digits of ``value`` if all of it is one identity number (any spelling), else None.

    Used to give one person one pseudonym however the number was written.
    """
    text = _canonical(str(value))
    joined = _DATE_AND_NUMBER.sub(_join_date, text)
    if not _WHOLE_NUMBER.fullmatch(joined):
        return None
    groups = _DIGIT_GROUP.findall(joined)
    digits = "".join(groups)
    if len(digits) == 10 and len(groups) == 1:
        digits = "0" + digits
    return digits if len(digits) == 11 and _valid(digits) else None


def is_national_id(value: str) -> bool:
    """Whether all of ``value`` is one Norwegian identity number (or D-/H-/synthetic number)."""
    return national_id_digits(value) is not None


def might_be_identity_number(value: str) -> bool:
    """The database's rule (:data:`IDENTITY_NUMBER_SQL`) in Python, for codes.

    Stricter than :func:`contains_national_id`: no check digits, 11 digits in a row once
    separators are gone, or 10 that would start with a valid day and month.
    """
    text = _canonical(str(value))
    if _digit_count(text) < 10:
        return False
    return bool(_STRICT.search(re.sub(_SEPARATORS, "", text)))


def identity_number_sql(column: str) -> str:
    """:data:`IDENTITY_NUMBER_SQL` for ``column`` (a column name or SQL expression)."""
    return IDENTITY_NUMBER_SQL.format(column=column)


# --- Codes, names and contact details ---------------------------------------------------------


def is_client_code(value: str) -> bool:
    """Whether ``value`` is a pseudonymous client code the database will accept too."""
    return bool(CLIENT_CODE.match(value)) and not might_be_identity_number(value)


def _is_contact(text: str, column: Column) -> Finding | None:
    if "@" in text and _EMAIL.search(text):
        return Finding.EMAIL
    if _digit_count(text) >= 8 and (
        _PHONE.search(text)
        or _PHONE_GROUPED.fullmatch(text)
        or (column is Column.CLIENT and _MOBILE.fullmatch(text))
    ):
        return Finding.PHONE
    return None


def _organisation(word: str) -> bool:
    folded = word.casefold().strip(".")
    return folded in _ORGANISATION_WORDS or any(stem in folded for stem in _ORGANISATION_STEMS)


def _is_person_name(text: str) -> bool:
    """The free-text rule: a person's name, not a team's or a service's (see the module)."""
    if "," in text:
        last, _, first = text.partition(",")
        tokens = first.split() + last.split()
        if "," in first or len(last.split()) != 1:
            return False
    else:
        tokens = text.split()
    if not 2 <= len(tokens) <= 4:
        return False
    words = []
    for token in tokens:
        if len(token) <= 2 and _INITIAL.fullmatch(token) and token[0].isupper():
            continue  # an initial: "M." or "M"
        if not _WORD.fullmatch(token) or _organisation(token):
            return False
        words.append(token)
    if len(words) < 2:
        return False
    if all(w.islower() for w in words):
        return True
    named = [w for w in words if w not in _PARTICLES]
    return len(named) >= 2 and all(w[0].isupper() and not w.isupper() for w in named)


def text_problem(value: object, column: Column | str = Column.OTHER) -> Finding | None:
    """What is wrong with one text value in a column of this kind, or None.

    Args:
        value: The value as written (stripped here); None and NA are fine.
        column: What the column holds (:class:`Column`): decides which rules apply.

    Returns:
        ``IDENTITY_NUMBER``, ``EMAIL``, ``PHONE`` or ``NAME`` when the value may identify a
        person; ``NOT_A_CODE`` when a client or episode column holds something that is not a
        code; None when the value is fine.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    column = Column(column)
    written = str(value).strip()
    text = _canonical(written)
    if not text:
        return None
    if contains_national_id(text):
        return Finding.IDENTITY_NUMBER
    if column is Column.OTHER:
        return None
    contact = _is_contact(text, column)
    if contact is not None:
        return contact
    if column is Column.CLIENT and might_be_identity_number(text):
        return Finding.IDENTITY_NUMBER  # the database's stricter rule
    if column is Column.CLIENT or column is Column.CODE:
        pattern = CLIENT_CODE if column is Column.CLIENT else EPISODE_ID
        if pattern.match(written):  # as written: a full-width "Ｋ-１" is not ASCII
            return None
        return Finding.NAME if _LETTERS_ONLY.fullmatch(text) else Finding.NOT_A_CODE
    if column is Column.FREE_TEXT and _is_person_name(text):
        return Finding.NAME
    return None


def _per_distinct(values: pd.Series, check: object) -> tuple[np.ndarray, list[object]]:
    """``check`` once per distinct value: (a code per row, -1 where NA; the result per code)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
    return codes, [check(u) for u in np.asarray(uniques, dtype=object)]  # type: ignore[operator]


def _clearly_fine(uniques: pd.Index, kind: Column) -> np.ndarray:
    """Values :func:`text_problem` would pass, found in Arrow (RE2, vectorised) without Python.

    Too few digits for an identity number or a phone, no ``@``, and, in a column of codes, a
    code: most values of a large file. The rest go through :func:`text_problem`.
    """
    if kind is Column.FREE_TEXT or len(uniques) == 0:
        return np.zeros(len(uniques), dtype=bool)
    text = pa.array(uniques.astype(str).to_numpy(dtype=object), type=pa.string())
    digits = pc.count_substring_regex(text, "[0-9]")
    fine = pc.and_(pc.string_is_ascii(text), pc.less(digits, 10 if kind is Column.OTHER else 8))
    if kind is Column.STAFF:
        fine = pc.and_(fine, pc.invert(pc.match_substring(text, "@")))
    elif kind is Column.CLIENT:
        code = pc.and_(
            pc.match_substring_regex(text, r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$"),
            pc.match_substring_regex(text, "[A-Za-z]"),
        )
        numbered = pc.or_(
            pc.greater(digits, 0),
            pc.match_substring_regex(text, r"^[A-Z]{1,3}[-_][A-Z0-9][A-Z0-9_-]*$"),
        )
        fine = pc.and_(fine, pc.and_(code, numbered))
    elif kind is Column.CODE:
        code = pc.match_substring_regex(text, r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
        fine = pc.and_(fine, pc.and_(code, pc.greater(digits, 0)))
    return fine.fill_null(False).to_numpy(zero_copy_only=False)


def text_problems(values: pd.Series, column: Column | str = Column.OTHER) -> pd.Series:
    """:func:`text_problem` for every value, worked out once per distinct value.

    Returns:
        A categorical Series (same index) of :class:`Finding` values, NA where the value is
        fine: ``found.notna()`` marks problems, ``found.isin([...])`` some kinds of them.
    """
    kind = Column(column)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
        uniques = pd.Index(uniques)
    order = list(Finding)
    per_unique = np.full(len(uniques) + 1, -1, dtype=np.int8)
    for i in np.flatnonzero(~_clearly_fine(uniques, kind)):
        found = text_problem(uniques[i], kind)
        per_unique[i] = -1 if found is None else order.index(found)
    return pd.Series(
        pd.Categorical.from_codes(per_unique[codes], categories=[f.value for f in order]),
        index=values.index,
    )


def find_national_ids(values: pd.Series) -> np.ndarray:
    """Whether each value contains an identity number (:func:`contains_national_id`)."""
    codes, results = _per_distinct(values, contains_national_id)
    return np.array([*results, False], dtype=bool)[codes]


def looks_like_person_name(values: pd.Series) -> np.ndarray:
    """Whether each value is a person's name by the free-text rule (see the module)."""
    codes, results = _per_distinct(
        values, lambda v: isinstance(v, str) and _is_person_name(_canonical(v.strip()))
    )
    return np.array([*results, False], dtype=bool)[codes]


def mask_value(value: object) -> str:
    """A value that may identify a person, shortened so a message does not repeat it."""
    text = str(value).strip()
    return text[:2] + "…" if len(text) > 2 else "…"
