"""The canonical import format, its Norwegian aliases, and mapping files for other layouts.

A file's headers are matched to canonical column names in this order: the mapping file's
``columns`` (exact header), its ``ignore`` list, then :data:`ALIASES` (case, spaces, dots and
hyphens do not matter: ``"ORS Total"`` is ``ors_total``). A mapping with ``layout: wide`` turns
a register with one row per client and sessions across columns (``Dato 1``, ``ORS 1``,
``Dato 2`` ...) into the long format, one row per session; one with ``layout: partners`` turns
a couple or family register with one row per session and a group of columns per partner
(``Klient A``, ``ORS A``, ``Klient B``, ``ORS B`` ...) into one row per partner and session.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fitdata.ingest.problems import IngestError
from fitdata.vocabulary import SCORE_COLUMNS

__all__ = [
    "ALIASES",
    "CANONICAL",
    "LAYOUTS",
    "REQUIRED",
    "Mapping",
    "ResolvedHeaders",
    "load_mapping",
    "normalise_header",
    "partner_headers",
    "resolve_headers",
    "shipped_mappings",
]


#: Columns every file must have (a mapping may supply them as ``defaults``).
REQUIRED = ("team", "therapist", "client", "session_date")

#: Canonical column -> other headers that mean the same (already normalised).
ALIASES: dict[str, tuple[str, ...]] = {
    "team": ("team_id", "avdeling", "enhet", "teamid"),
    "team_name": ("teamnavn", "navn_på_team"),
    "service": ("tjeneste", "tjenesteområde", "tjenesteomrade"),
    "therapist": ("therapist_id", "behandler", "behandler_id", "behandlerid", "terapeut"),
    "therapist_name": ("behandlernavn", "behandler_navn", "terapeutnavn"),
    "therapist_team": ("behandlers_team", "behandler_team"),
    "client": ("client_id", "client_code", "klient", "klient_id", "klientid", "klientnr",
               "klientnummer", "klientkode", "pasient_id", "pasientnr"),
    "birth_year": ("fødselsår", "fodselsar", "fødeår", "year_of_birth", "født"),
    "age_group": ("aldersgruppe", "alder", "age", "alder_ved_start"),
    "episode": ("episode_id", "forløp", "forlop", "forløp_id", "forløpsnr", "behandlingsforløp"),
    "episode_start": ("started", "forløp_start", "forløpsstart", "startdato", "oppstart"),
    "episode_end": ("ended", "forløp_slutt", "forløpsslutt", "sluttdato", "avsluttet_dato"),
    "end_type": ("avslutning", "avslutningstype", "avslutningsårsak", "sluttype"),
    "format": ("behandlingsform", "samtaleform", "behandlingsformat"),
    "session_date": ("date", "dato", "økt_dato", "øktdato", "samtaledato", "timedato"),
    "session_no": ("session", "session_number", "økt", "økt_nr", "øktnr", "øktnummer",
                   "samtale", "samtale_nr", "samtalenr", "samtalenummer", "timenr"),
    "rater": ("vurderer", "utfylt_av", "utfyller", "respondent"),
    "ors_individual": ("ors_individuelt", "ors_1", "ors_i"),
    "ors_interpersonal": ("ors_mellommenneskelig", "ors_relasjonelt", "ors_2"),
    "ors_social": ("ors_sosialt", "ors_3"),
    "ors_overall": ("ors_generelt", "ors_alt_i_alt", "ors_4"),
    "ors_total": ("ors", "ors_sum", "ors_totalt", "ors_totalskår", "cors", "cors_total"),
    "srs_relationship": ("srs_relasjon", "srs_forhold", "srs_1"),
    "srs_goals": ("srs_mål", "srs_mål_og_tema", "srs_mal", "srs_2"),
    "srs_approach": ("srs_tilnærming", "srs_metode", "srs_3"),
    "srs_overall": ("srs_generelt", "srs_alt_i_alt", "srs_4"),
    "srs_total": ("srs", "srs_sum", "srs_totalt", "srs_totalskår", "csrs", "csrs_total"),
    "role": ("rolle", "deltaker", "deltakerrolle", "deltakar", "participant_role",
             "rolle_i_forløp", "rolle_i_forlop"),
    "ors_form": ("ors_skjema", "skjema_ors", "ors_skjematype", "ors_variant", "ors_type",
                 "outcome_form", "utfallsskjema"),
    "srs_form": ("srs_skjema", "skjema_srs", "srs_skjematype", "srs_variant", "srs_type",
                 "alliance_form", "allianseskjema"),
}  # fmt: skip

#: Every canonical column, in the order of the export.
CANONICAL: tuple[str, ...] = tuple(ALIASES)

#: Columns the importer writes into a rejects file itself; ignored when that file is re-imported.
BOOKKEEPING = ("source_file", "source_row", "problems")

#: Headers of columns that hold person names; refused unless a mapping ignores them.
NAME_HEADERS = frozenset(
    {
        "name", "navn", "fornavn", "etternavn", "mellomnavn", "first_name", "last_name",
        "full_name", "surname", "given_name", "klientnavn", "klient_navn", "client_name",
        "pasientnavn", "pasient_navn", "patient_name", "fullt_navn",
    }
)  # fmt: skip

_LOOKUP = {alias: name for name, aliases in ALIASES.items() for alias in (name, *aliases)}


def normalise_header(header: str) -> str:
    """Lower case, with runs of spaces, dots, hyphens and slashes as one underscore."""
    return re.sub(r"[\s./\-_:]+", "_", str(header).strip().casefold()).strip("_")


@dataclass(frozen=True)
class Mapping:
    """How to read a file that is not in the canonical format (see ``docs/import.md``).

    Attributes:
        name: Where the mapping came from (for messages).
        layout: ``long`` (one row per session), ``wide`` (one row per client) or
            ``partners`` (one row per session, a group of columns per partner).
        columns: Canonical column -> header in the file.
        repeat: For ``wide``: canonical column -> header pattern with ``{n}`` for the session
            number, e.g. ``{"session_date": "Dato {n}"}``. For ``partners``: with ``{p}`` for
            the partner's label, e.g. ``{"client": "Klient {p}"}``.
        partners: For ``partners``: the labels ``{p}`` stands for, in order (``["A", "B"]``);
            the first partner's row of a session comes first (the index client of a new
            episode, see docs/import.md).
        values: Canonical column -> {value in the file: canonical value}.
        defaults: Canonical column -> value for every row (when the file lacks the column).
        ignore: Headers to skip without comment (also name columns you do not import).
        sheet: Worksheet of an ``.xlsx`` file (name or 1-based number); the first by default.
        header_row: The row that holds the headers (1 = the first line).
    """

    name: str = "canonical format"
    layout: str = "long"
    columns: dict[str, str] = field(default_factory=dict)
    repeat: dict[str, str] = field(default_factory=dict)
    partners: tuple[str, ...] = ()
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    sheet: str | int | None = None
    header_row: int = 1


def shipped_mappings() -> dict[str, Path]:
    """Mapping files shipped with fitdata, by name (``--mapping NAME``)."""
    root = resources.files("fitdata").joinpath("mappings")
    return {
        Path(p.name).stem: Path(str(p))
        for p in root.iterdir()
        if p.name.endswith((".yml", ".yaml"))
    }


def load_mapping(spec: str | Path) -> Mapping:
    """Read a mapping file, or a shipped mapping by name.

    Raises:
        IngestError: If the file is missing, is not valid YAML, or names unknown columns.
    """
    import yaml

    path = Path(spec)
    shipped = shipped_mappings()
    if not path.exists() and str(spec) in shipped:
        path = shipped[str(spec)]
    if not path.exists():
        raise IngestError(
            f"There is no mapping file {spec}. Give a path to a .yml file or one of the shipped "
            f"mappings: {', '.join(sorted(shipped))}."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise IngestError(f"The mapping file {path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise IngestError(f"The mapping file {path} must be a YAML mapping (key: value lines).")
    known = {
        "layout", "columns", "repeat", "partners", "values", "defaults", "ignore", "sheet",
        "header_row", "service",
    }  # fmt: skip
    unknown = sorted(set(raw) - known - {"description"})
    if unknown:
        raise IngestError(
            f"The mapping file {path} has unknown key(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(known))}."
        )

    def section(key: str) -> dict[str, Any]:
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            raise IngestError(f"In the mapping file {path}, `{key}` must be a mapping.")
        bad = sorted(k for k in value if k not in CANONICAL)
        if bad:
            hints = [_did_you_mean(b, CANONICAL) for b in bad]
            raise IngestError(
                f"In the mapping file {path}, `{key}` names unknown column(s) "
                + ", ".join(f"{b!r}{h}" for b, h in zip(bad, hints, strict=True))
                + f"; the canonical columns are {', '.join(CANONICAL)}."
            )
        return value

    layout = str(raw.get("layout", "long"))
    if layout not in LAYOUTS:
        raise IngestError(
            f"In the mapping file {path}, layout must be long, wide or partners, not {layout}."
        )
    repeat = {k: str(v) for k, v in section("repeat").items()}
    partners = _partner_labels(raw.get("partners"), layout, repeat, path)
    if layout == "wide" and (
        "session_date" not in repeat or any("{n}" not in v for v in repeat.values())
    ):
        raise IngestError(
            f"The wide mapping {path} needs `repeat:` patterns with {{n}} for the session number, "
            'including one for session_date (e.g. session_date: "Dato {n}").'
        )
    header_row = raw.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        raise IngestError(f"In the mapping file {path}, header_row must be a whole number >= 1.")
    values = {
        column: {str(k).strip().casefold(): str(v) for k, v in (table or {}).items()}
        for column, table in section("values").items()
    }
    defaults = {k: str(v) for k, v in section("defaults").items()}
    service = raw.get("service")
    if service is not None:  # the service of the teams the files create (docs/import.md)
        if not isinstance(service, str) or not service.strip():
            raise IngestError(f"In the mapping file {path}, `service` must be a service's name.")
        defaults.setdefault("service", service.strip())
    return Mapping(
        name=str(path),
        layout=layout,
        columns={k: str(v) for k, v in section("columns").items()},
        repeat=repeat,
        partners=partners,
        values=values,
        defaults=defaults,
        ignore=tuple(str(v) for v in raw.get("ignore") or ()),
        sheet=raw.get("sheet"),
        header_row=header_row,
    )


#: The layouts a mapping may give (see :class:`Mapping`).
LAYOUTS = ("long", "wide", "partners")


def _partner_labels(
    value: object, layout: str, repeat: dict[str, str], path: Path
) -> tuple[str, ...]:
    """The partner labels of a ``partners`` mapping, checked (none for the other layouts)."""
    if layout != "partners":
        if value:
            raise IngestError(
                f"In the mapping file {path}, `partners:` belongs to layout: partners only."
            )
        return ()
    labels = tuple(str(v).strip() for v in value) if isinstance(value, list) else ()
    if len(labels) < 2 or len(set(labels)) < len(labels) or "" in labels:
        raise IngestError(
            f"The partners mapping {path} needs `partners:` with two or more different labels, "
            "one per partner, e.g. partners: [A, B]."
        )
    if "client" not in repeat or any("{p}" not in v for v in repeat.values()):
        raise IngestError(
            f"The partners mapping {path} needs `repeat:` patterns with {{p}} for the partner's "
            'label, including one for client (e.g. client: "Klient {p}").'
        )
    return labels


def partner_headers(mapping: Mapping) -> dict[str, tuple[str, int]]:
    """For a ``partners`` mapping: normalised header -> (canonical column, partner number)."""
    return {
        normalise_header(pattern.replace("{p}", label)): (column, number)
        for number, label in enumerate(mapping.partners, start=1)
        for column, pattern in mapping.repeat.items()
    }


@dataclass
class ResolvedHeaders:
    """What each header of a file means.

    Attributes:
        columns: Canonical column -> header (long layout, or per-client columns of a wide one).
        repeated: For a wide layout: session number -> {canonical column: header}; for a
            partners layout: partner number (1, 2, ...) -> {canonical column: header}.
        ignored: Headers not imported.
        problems: Header problems (missing, ambiguous, name columns), as sentences.
    """

    columns: dict[str, str] = field(default_factory=dict)
    repeated: dict[int, dict[str, str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _did_you_mean(word: str, candidates: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_headers(headers: list[str], mapping: Mapping, file: str) -> ResolvedHeaders:
    """Match a file's headers to canonical columns; collect every header problem at once."""
    result = ResolvedHeaders()
    by_exact = {header: canonical for canonical, header in mapping.columns.items()}
    ignore = {normalise_header(h) for h in mapping.ignore}
    patterns = {
        canonical: re.compile(
            "^"
            + re.escape(normalise_header(p.replace("{n}", " NUMBER ")))
            .replace("_number", r"_?(\d+)")
            .replace("number", r"(\d+)")
            + "$"
        )
        for canonical, p in mapping.repeat.items()
        if mapping.layout == "wide"
    }
    by_partner = partner_headers(mapping) if mapping.layout == "partners" else {}
    unknown: list[str] = []
    for header in headers:
        key = normalise_header(header)
        canonical = by_exact.get(header) or next(
            (c for h, c in by_exact.items() if normalise_header(h) == key), None
        )
        if canonical is None and key in ignore:
            result.ignored.append(header)
            continue
        if canonical is None:
            repeated = [(c, int(m.group(1))) for c, rx in patterns.items() if (m := rx.match(key))]
            if key in by_partner:
                repeated = [by_partner[key]]
            if repeated:
                column, number = repeated[0]
                slot = result.repeated.setdefault(number, {})
                if column in slot:
                    result.problems.append(
                        f"{file}: columns {slot[column]!r} and {header!r} are both {column} of "
                        f"session {number}; remove one."
                    )
                slot[column] = header
                continue
        if canonical is None and not by_exact.get(header) and key in _LOOKUP:
            canonical = _LOOKUP[key]
            if canonical in mapping.columns or canonical in mapping.repeat:
                canonical = None  # the mapping says which header holds this column
        if canonical is None:
            if key in BOOKKEEPING or key == "":
                result.ignored.append(header)
            elif key in NAME_HEADERS or re.search(r"(^|_)(for|etter)?navn$", key):
                result.problems.append(
                    f"{file}: column {header!r} looks like person names. fitdata stores no names: "
                    "remove the column, or list it under `ignore:` in a mapping file."
                )
            else:
                unknown.append(header)
            continue
        if canonical in result.columns:
            result.problems.append(
                f"{file}: columns {result.columns[canonical]!r} and {header!r} both mean "
                f"{canonical}; remove one or say which to use in a mapping file."
            )
            continue
        result.columns[canonical] = header
    missing = [c for c in mapping.columns if c not in result.columns]
    for canonical in missing:
        result.problems.append(
            f"{file}: the mapping {mapping.name} expects a column {mapping.columns[canonical]!r} "
            f"for {canonical}, but there is none"
            f"{_did_you_mean(mapping.columns[canonical], headers)}."
        )
    present = set(result.columns) | set(mapping.defaults)
    if mapping.layout == "partners":
        present |= {c for slot in result.repeated.values() for c in slot}
        for number, label in enumerate(mapping.partners, start=1):
            if "client" not in result.repeated.get(number, {}):
                header = mapping.repeat["client"].replace("{p}", label)
                result.problems.append(
                    f"{file}: the mapping {mapping.name} expects a column {header!r} for the "
                    f"client code of partner {label}, but there is none"
                    f"{_did_you_mean(header, headers)}."
                )
    if mapping.layout == "wide":
        present |= {c for slot in result.repeated.values() for c in slot}
        if not result.repeated:
            result.problems.append(
                f"{file}: no column matches the session pattern "
                f"{mapping.repeat['session_date']!r} of the mapping {mapping.name}."
            )
    known_names = [n for c in CANONICAL for n in (c, *ALIASES[c])]
    for canonical in REQUIRED:
        if canonical not in present and canonical not in mapping.columns:
            near = [
                h
                for h in unknown
                if _did_you_mean(normalise_header(h), [canonical, *ALIASES[canonical]])
            ]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            result.problems.append(
                f"{file}: required column {canonical!r} is missing{hint}. Name it {canonical} "
                f"(or {', '.join(ALIASES[canonical][:3])}), or map it in a mapping file."
            )
    if not any(c in present for c in SCORE_COLUMNS):
        result.problems.append(
            f"{file}: there is no score column; expected at least ors_total or srs_total "
            "(or the four items of a form)."
        )
    for header in unknown:
        hint = _did_you_mean(normalise_header(header), known_names)
        if hint:
            result.problems.append(
                f"{file}: column {header!r} is not a column fitdata knows{hint}. Rename it, map "
                "it in a mapping file, or list it under `ignore:`."
            )
        else:
            result.ignored.append(header)
    return result
