"""``fitdata import``: read, check, pseudonymise and write session files in one transaction."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from fitdata.data import store
from fitdata.data.participants import ensure_participants
from fitdata.i18n import Translator
from fitdata.identifiers import Column, Finding, text_problems
from fitdata.ingest.assign import DEFAULT_GAP_DAYS, plan
from fitdata.ingest.columns import CANONICAL, Mapping, load_mapping
from fitdata.ingest.entities import Plan
from fitdata.ingest.existing import Existing, load_existing
from fitdata.ingest.privacy import default_key_file, load_or_create_key, masked, pseudonymise
from fitdata.ingest.problems import IngestError, ProblemLog, ValidationFailed
from fitdata.ingest.read import SourceFile, read_file, to_long
from fitdata.ingest.validate import distinct, parse_rows
from fitdata.vocabulary import SCORE_COLUMNS

__all__ = ["ImportOptions", "ImportSummary", "import_files"]

#: Resort the whole sessions table after an import that adds at least this share of its rows.
RESORT_SHARE = 0.1
#: Places where an identity number or name was found, listed before "... and N more".
SHOWN_PRIVACY_HITS = 50
#: Warnings printed in the summary before "... and N more".
SHOWN_WARNINGS = 20


@dataclass(frozen=True)
class ImportOptions:
    """Options of one import (the ``fitdata import`` flags).

    Attributes:
        mapping: A mapping file or the name of a shipped mapping; None for the canonical format.
        dry_run: Validate and report; write nothing.
        skip_invalid: Import the valid rows and write the others to a rejects file.
        pseudonymise: Replace client identifiers by keyed pseudonyms.
        key_file: The pseudonymisation key (default: :func:`default_key_file`).
        rejects: Where to write rejected rows (default: ``<first file>.rejects.csv``).
        gap_days: More days than this between sessions start a new episode.
        today: The date after which session dates are refused (default: today).
        progress: Show progress on stderr; None shows it when stderr is a terminal.
        service: The service of the new teams the files name none for (``--service``).
        lang: The language of the refusals for privacy and a missing service (en or nb).
    """

    mapping: str | Path | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    pseudonymise: bool = False
    key_file: Path | None = None
    rejects: Path | None = None
    gap_days: int = DEFAULT_GAP_DAYS
    today: dt.date | None = None
    progress: bool | None = None
    service: str | None = None
    lang: str = "en"


@dataclass
class ImportSummary:
    """What an import read, wrote and rejected; :meth:`lines` says it in words."""

    files: list[tuple[Path, int, int]]  # (file, rows read, sessions in it)
    imported: int = 0
    already_present: int = 0
    rejected_rows: int = 0
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    created: dict[str, int] = field(default_factory=dict)
    episodes_closed: int = 0
    ignored: list[str] = field(default_factory=list)
    rejects_path: Path | None = None
    dry_run: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    listed: int = 0

    @property
    def sessions_read(self) -> int:
        """Session rows found in all files (a wide register has several per row)."""
        return sum(n for _, _, n in self.files)

    def lines(self) -> list[str]:
        """The summary printed by ``fitdata import``."""
        read = ", ".join(
            f"{path.name} ({rows:,} rows" + (f", {n:,} sessions)" if n != rows else ")")
            for path, rows, n in self.files
        )
        verb = "would be imported" if self.dry_run else "imported"
        lines = [
            f"Read {read}.",
            f"Sessions: {self.sessions_read:,} read, {self.imported:,} {verb}, "
            f"{self.already_present:,} already present, {self.rejected_rows:,} rejected"
            + (
                f", {self.listed:,} listing a participant without a session."
                if self.listed
                else "."
            ),
        ]
        if self.created:
            made = ", ".join(f"{n:,} {what}" for what, n in self.created.items())
            lines.append(f"{'Would create' if self.dry_run else 'Created'}: {made}.")
        if self.episodes_closed:
            lines.append(f"Episodes closed by the file: {self.episodes_closed:,}.")
        if self.ignored:
            lines.append(f"Columns not imported: {', '.join(self.ignored)}.")
        if self.warnings:
            lines.append(
                f"{len(self.warnings):,} warning(s): imported as given, but check them "
                "(docs/import.md, Forms):"
            )
            lines += [f"  {w}" for w in self.warnings[:SHOWN_WARNINGS]]
            if len(self.warnings) > SHOWN_WARNINGS:
                lines.append(f"  ... and {len(self.warnings) - SHOWN_WARNINGS:,} more")
        if self.rejects_path is not None:
            lines.append(f"Rejected rows and the reason for each: {self.rejects_path}")
        if self.dry_run:
            lines.append("Dry run: nothing was written.")
        lines.append(f"({self.seconds:.1f} s)")
        return lines


class _Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._label = ""

    def stage(self, label: str) -> None:
        self._label = label
        if self.enabled:
            sys.stderr.write(f"\r{label}…".ljust(80))
            sys.stderr.flush()

    def fraction(self, value: float) -> None:
        if not self.enabled:
            return
        filled = int(30 * min(max(value, 0.0), 1.0))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {value:4.0%} {self._label:<40}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


#: What each canonical text column holds (:class:`fitdata.identifiers.Column`); every other
#: column of a file, imported or not, is scanned for identity numbers only.
COLUMN_KINDS = {
    "client": Column.CLIENT,
    "episode": Column.CODE,
    "therapist": Column.STAFF,
    "therapist_name": Column.STAFF,
    "team": Column.FREE_TEXT,
    "team_name": Column.FREE_TEXT,
    "service": Column.FREE_TEXT,
    "therapist_team": Column.FREE_TEXT,
}
_PERSONAL = [f for f in Finding if f.personal]
_LOOKS_LIKE = {
    Finding.IDENTITY_NUMBER: "import.privacy.identity_number",
    Finding.EMAIL: "import.privacy.email",
    Finding.PHONE: "import.privacy.phone",
    Finding.NAME: "import.privacy.name",
}


@dataclass(frozen=True)
class PrivacyHit:
    """One cell whose value may identify a person (the value itself is kept only masked)."""

    file: str
    row: int
    column: str
    kind: Finding
    masked: str


def _privacy_hits(
    source: SourceFile, raw_frame: pd.DataFrame, pseudonymise: bool
) -> tuple[list[PrivacyHit], int]:
    """Where a value may identify a person: identity numbers, names, e-mail addresses, phones.

    Every column of the file is looked at, also those not imported; what is looked for depends
    on what the column holds (:data:`COLUMN_KINDS`). With ``pseudonymise`` the client column
    may hold anything: it is replaced by keyed codes.

    Returns:
        The first :data:`SHOWN_PRIVACY_HITS` cells in row order (then column order), and how
        many cells there are in all.
    """
    kinds = {header: COLUMN_KINDS.get(c, Column.OTHER) for (c, _), header in source.headers.items()}
    hits: list[tuple[int, int, PrivacyHit]] = []
    total = 0
    for number, header in enumerate(raw_frame.columns):
        kind = kinds.get(header, Column.OTHER)
        if kind is Column.CLIENT and pseudonymise:
            continue
        column = raw_frame[header]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("category")
        # once per distinct value, and the rows only for a column with something to report
        found = text_problems(pd.Series(column.cat.categories), kind)
        personal = np.append(found.isin(_PERSONAL).to_numpy(), False)
        if not personal.any():
            continue
        codes = column.cat.codes.to_numpy()
        positions = np.flatnonzero(personal[codes])
        total += len(positions)
        for position in positions[:SHOWN_PRIVACY_HITS]:
            row = int(raw_frame.attrs["rows"][position])
            hit = PrivacyHit(
                file=str(source.path),
                row=row,
                column=str(header),
                kind=Finding(found.iloc[codes[position]]),
                masked=masked(column.iloc[position]),
            )
            hits.append((row, number, hit))
    hits.sort(key=lambda item: item[:2])
    return [hit for _, _, hit in hits[:SHOWN_PRIVACY_HITS]], total


def privacy_refusal(hits: list[PrivacyHit], total: int, lang: str = "en") -> str:
    """The refusal of files with values that may identify a person: every cell, masked.

    The first :data:`SHOWN_PRIVACY_HITS` cells are listed (file, row, column, what the value
    looks like, the value masked by :func:`fitdata.ingest.privacy.masked`), then how many more.
    """
    tr = Translator(lang)
    lines = [
        tr.text(
            "import.privacy.hit",
            file=hit.file,
            row=hit.row,
            column=hit.column,
            masked=hit.masked,
            kind=tr.text(_LOOKS_LIKE[hit.kind]),
        )
        for hit in hits
    ]
    if total > len(hits):
        lines.append(tr.text("import.privacy.more", count=f"{total - len(hits):,}"))
    lines.append(tr.text("import.privacy.refused", count=f"{total:,}"))
    return "\n".join(lines)


def _read_sources(
    paths: list[Path], mapping: Mapping, options: ImportOptions, progress: _Progress
) -> list[SourceFile]:
    sources: list[SourceFile] = []
    errors: list[str] = []
    privacy: list[PrivacyHit] = []
    found = 0
    for path in paths:
        progress.stage(f"reading {path.name}")
        try:
            raw = read_file(path, mapping, progress.fraction)
            source = to_long(raw, mapping)
        except IngestError as error:
            errors.append(str(error))
            continue
        raw.frame.attrs["rows"] = raw.rows
        progress.stage(f"looking for identity numbers and names in {path.name}")
        hits, count = _privacy_hits(source, raw.frame, options.pseudonymise)
        privacy += hits
        found += count
        sources.append(source)
    if errors:
        raise IngestError("\n".join(errors))
    if found:
        raise IngestError(privacy_refusal(privacy[:SHOWN_PRIVACY_HITS], found, options.lang))
    return sources


def _distinct_text(column: pd.Series) -> list[str]:
    """The distinct values of a text column, stripped and sorted (worked out per category)."""
    codes, uniques = distinct(column)
    present = np.unique(codes[codes >= 0])
    return sorted({str(value).strip() for value in np.asarray(uniques, dtype=object)[present]})


def _combine(sources: list[SourceFile]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All files in one text table, and (file, canonical column, slot) -> header."""
    frames = []
    for number, source in enumerate(sources):
        frame = source.frame.copy(deep=False)
        frame["_file"] = np.int16(number)
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for column in CANONICAL:
        if column in combined.columns and not isinstance(
            combined[column].dtype, pd.CategoricalDtype
        ):
            combined[column] = combined[column].astype("str").astype("category")
    headers = pd.DataFrame(
        [
            (number, column, slot, header)
            for number, source in enumerate(sources)
            for (column, slot), header in source.headers.items()
        ],
        columns=["_file", "column", "_slot", "header"],
    )
    return combined, headers


def _describe(
    problems: pd.DataFrame, combined: pd.DataFrame, headers: pd.DataFrame, sources: list[SourceFile]
) -> pd.DataFrame:
    """Problems with file, row and the column's header as the user wrote it."""
    if not len(problems):
        return pd.DataFrame(columns=["file", "row", "column", "value", "problem", "pos"])
    where = (
        combined[["_file", "_row", "_slot"]].iloc[problems["pos"].to_numpy()].reset_index(drop=True)
    )
    frame = pd.concat([where, problems.reset_index(drop=True)], axis=1)
    slot0 = headers[headers["_slot"] == 0].drop(columns="_slot")
    frame = frame.merge(headers, on=["_file", "column", "_slot"], how="left")
    fallback = frame[["_file", "column"]].merge(slot0, on=["_file", "column"], how="left")["header"]
    frame["header"] = frame["header"].fillna(fallback).fillna(frame["column"])
    names = np.array([str(s.path) for s in sources], dtype=object)
    return pd.DataFrame(
        {
            "file": names[frame["_file"].to_numpy()],
            "row": frame["_row"].to_numpy(),
            "column": frame["header"].to_numpy(),
            "value": frame["value"].to_numpy(),
            "problem": frame["problem"].to_numpy(),
            "pos": frame["pos"].to_numpy(),
        }
    ).sort_values(["file", "row", "pos"], kind="stable")


def problem_lines(problems: pd.DataFrame) -> list[str]:
    """One sentence per problem: file, row, column, value, what was expected."""
    return [
        f"{file}, row {row}, column {column!r}: value {value!r}; expected {problem}"
        if value != ""
        else f"{file}, row {row}, column {column!r}: {problem}"
        if column != ""
        else f"{file}, row {row}: {problem}"
        for file, row, column, value, problem in problems[
            ["file", "row", "column", "value", "problem"]
        ].itertuples(index=False)
    ]


def _write_rejects(
    path: Path,
    combined: pd.DataFrame,
    problems: pd.DataFrame,
    sources: list[SourceFile],
    unreadable: pd.DataFrame,
) -> None:
    """Rejected rows in the canonical format with file, row and every reason (mode 0600)."""
    grouped = (
        problems.assign(
            text=problems["column"].astype(str) + ": " + problems["problem"].astype(str)
        )
        .groupby("pos", sort=True)["text"]
        .agg("; ".join)
    )
    columns = [c for c in CANONICAL if c in combined.columns]
    rejected = combined.iloc[grouped.index.to_numpy()]
    names = np.array([str(s.path) for s in sources], dtype=object)
    out = rejected[columns].reset_index(drop=True)
    out.insert(0, "source_row", rejected["_row"].to_numpy())
    out.insert(0, "source_file", names[rejected["_file"].to_numpy()])
    out["problems"] = grouped.to_numpy()
    if len(unreadable):  # rows that could not be split into fields: where and why only
        out = pd.concat(
            [
                unreadable.rename(columns={"file": "source_file", "row": "source_row"})[
                    ["source_file", "source_row", "problem"]
                ].rename(columns={"problem": "problems"}),
                out,
            ],
            ignore_index=True,
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        out.to_csv(handle, index=False)


# --- Writing ---------------------------------------------------------------------------------

_DECIMAL_TENTHS = pa.array([Decimal(t).scaleb(-1) for t in range(401)], pa.decimal128(4, 1))


def _arrow(values: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(values))


def _text(series: pd.Series) -> pd.Series:
    """A compact dictionary-encoded text column (DuckDB holds appended frames until commit)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        values = pa.array(series.cat.categories.astype("str"), type=pa.string())
        return _arrow(pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), values))
    return _arrow(pa.array(series.astype("str"), type=pa.string()).dictionary_encode())


def _date(series: pd.Series) -> pd.Series:
    return _arrow(pa.array(series.to_numpy(dtype="datetime64[D]"), type=pa.date32()))


def _score(tenths: np.ndarray) -> pd.Series:
    indices = pa.array(tenths.astype(np.int16), mask=tenths < 0)
    return _arrow(pa.DictionaryArray.from_arrays(indices, _DECIMAL_TENTHS))


def _write(con: object, result: Plan) -> None:
    clients = result.clients.astype({"client_id": "str", "age_group": "str"})
    store.append_frame(con, "teams", result.teams.astype("str"))  # type: ignore[arg-type]
    store.append_frame(con, "therapists", result.therapists.astype("str"))  # type: ignore[arg-type]
    store.append_frame(con, "clients", clients)  # type: ignore[arg-type]
    episodes = result.episodes.copy()
    for column in ("started", "ended"):
        episodes[column] = episodes[column].astype("datetime64[s]")
    store.append_frame(con, "episodes", episodes)  # type: ignore[arg-type]
    for row in result.episode_endings.itertuples(index=False):
        con.execute(  # type: ignore[attr-defined]
            "UPDATE episodes SET ended = ?, end_type = ? WHERE episode_id = ? AND ended IS NULL",
            [pd.Timestamp(row.ended).date(), row.end_type, row.episode_id],
        )
    # Appending sessions adds the participants they imply (store.append_frame: the role by the
    # episode's format and the rater, as fitdata.ingest.roles derives and checks them). The
    # rest go first, through ensure_participants: those who joined later (added_on) and those
    # listed without a session.
    known = result.participants
    if len(known):
        told = known[known["added_on"].notna() | known["sessionless"]]
        if len(told):
            ensure_participants(con, told.drop(columns="sessionless"))  # type: ignore[arg-type]
    s = result.sessions
    sessions = pd.DataFrame(
        {
            "session_id": s["session_id"].to_numpy(dtype=np.int64),
            "episode_id": _text(s["episode"]),
            "client_id": _text(s["client"]),
            "therapist_id": _text(s["therapist"]),
            "team_id": _text(s["team"]),
            "session_date": _date(s["session_date"]),
            "session_no": s["session_no"].to_numpy(dtype=np.int16),
            "rater": _text(s["rater"]),
            **{c: _score(s[c].to_numpy()) for c in SCORE_COLUMNS},
            "ors_form": _text(s["ors_form"].astype("category")),
            "srs_form": _text(s["srs_form"].astype("category")),
            "entered_by": _text(pd.Series(["import"] * len(s), dtype="category")),
        }
    )
    store.append_frame(con, "sessions", sessions)  # type: ignore[arg-type]


# --- The import ------------------------------------------------------------------------------


def _name_the_service(result: Plan, options: ImportOptions) -> None:
    """New teams the files name no service for get ``--service``; without it, refuse.

    Raises:
        IngestError: If a new team has no service and no ``--service`` was given; the message
            (in ``options.lang``) names the teams and the three ways to give a service.
    """
    teams = result.teams
    missing = teams["service"].isna() | (teams["service"].astype("str").str.strip() == "")
    if not missing.any():
        return
    if options.service and options.service.strip():
        teams.loc[missing, "service"] = options.service.strip()
        return
    names = teams.loc[missing, "name"].astype("str").tolist()
    shown = ", ".join(repr(n) for n in names[:10]) + (" …" if len(names) > 10 else "")
    raise IngestError(
        Translator(options.lang).count_text(
            "import.service_missing", len(names), number=f"{len(names):,}", teams=shown
        )
    )


def _validate(
    combined: pd.DataFrame,
    problems: ProblemLog,
    existing: Existing,
    options: ImportOptions,
    file_names: list[str],
    warnings: ProblemLog | None = None,
) -> Plan:
    typed = parse_rows(combined, problems, options.today or dt.date.today())
    typed["pos"] = np.arange(len(typed))
    typed["_row"] = combined["_row"].to_numpy()
    typed["_slot"] = combined["_slot"].to_numpy()
    # A unit is what shares an episode without an episode column: a row, or all partners of a
    # partners register's row (negative ids, apart from the positions).
    unit = np.arange(len(typed), dtype=np.int64)
    if "_partner" in combined.columns:
        partner = combined["_partner"].notna().to_numpy()
        key = combined["_file"].to_numpy(dtype=np.int64) * (1 << 32) + combined["_row"].to_numpy(
            dtype=np.int64
        )
        unit = np.where(partner, -1 - key, unit)
    typed["_unit"] = unit
    typed["_where"] = combined["_row"].astype(str)
    if len(file_names) > 1:
        names = pd.Series(np.asarray(file_names, dtype=object)[combined["_file"].to_numpy()])
        typed["_where"] = names + " row " + typed["_where"]
    good = np.ones(len(typed), dtype=bool)
    good[problems.bad_positions()] = False
    return plan(
        (typed if good.all() else typed[good]).reset_index(drop=True),
        combined,
        existing,
        problems,
        gap_days=options.gap_days,
        has_episode="episode" in combined.columns,
        warnings=warnings,
    )


def import_files(
    paths: list[Path], db: Path, options: ImportOptions | None = None
) -> ImportSummary:
    """Import session files into the database ``db`` (created if missing), all or nothing.

    Raises:
        IngestError: If a file cannot be read or is refused (identity numbers, names); the
            database is untouched.
        ValidationFailed: If rows have problems and ``skip_invalid`` is not set; the
            database is untouched and ``problems`` lists every problem.
        StoreError: If the database cannot be used.
    """
    options = options or ImportOptions()
    started = time.monotonic()
    if not paths:
        raise IngestError("Give at least one file to import.")
    if options.gap_days < 1:
        raise IngestError("--episode-gap must be at least 1 day.")
    progress = _Progress(options.progress)
    try:
        mapping = load_mapping(options.mapping) if options.mapping else Mapping()
        sources = _read_sources(paths, mapping, options, progress)
        combined, headers = _combine(sources)
        if options.pseudonymise and "client" in combined.columns:
            key = load_or_create_key(
                options.key_file or default_key_file(), create=not options.dry_run
            )
            combined["client"] = pseudonymise(combined["client"].str.strip(), key)
        unreadable = pd.DataFrame(
            [
                (str(s.path), row, "", "", f"this row {text} (a missing or extra separator?)")
                for s in sources
                for row, text in s.bad_rows
            ],
            columns=["file", "row", "column", "value", "problem"],
        )
        summary = ImportSummary(
            files=[
                (s.path, s.rows_read + len(s.bad_rows), len(s.frame) + len(s.bad_rows))
                for s in sources
            ],  # fmt: skip
            ignored=[f"{h} ({s.path.name})" for s in sources for h in s.ignored],
            dry_run=options.dry_run,
        )
        clients = (
            _distinct_text(combined["client"])
            if len(combined) and "client" in combined.columns
            else []
        )
        episodes = _distinct_text(combined["episode"]) if "episode" in combined.columns else []

        def run(existing: Existing) -> tuple[Plan, pd.DataFrame]:
            progress.stage("checking rows")
            log, cautions = ProblemLog(), ProblemLog()
            result = _validate(
                combined, log, existing, options, [s.path.name for s in sources], cautions
            )
            described = _describe(log.frame(), combined, headers, sources)
            cautioned = _describe(cautions.frame(), combined, headers, sources)
            summary.warnings = problem_lines(cautioned)
            problems = pd.concat([unreadable.assign(pos=-1), described], ignore_index=True)
            summary.problems = problems
            summary.rejected_rows = int(described["pos"].nunique()) + len(unreadable)
            summary.imported = len(result.sessions)
            summary.already_present = result.already_present
            summary.listed = result.listed
            summary.created = {
                name: len(frame)
                for name, frame in (
                    ("teams", result.teams),
                    ("therapists", result.therapists),
                    ("clients", result.clients),
                    ("episodes", result.episodes),
                    ("participants", result.participants),
                )
                if len(frame)
            }
            summary.episodes_closed = len(result.episode_endings)
            if len(problems) and (options.skip_invalid or options.rejects):
                target = options.rejects or paths[0].with_name(paths[0].stem + ".rejects.csv")
                _write_rejects(target, combined, described, sources, unreadable)
                summary.rejects_path = target
            if len(problems) and not options.skip_invalid:
                raise ValidationFailed(
                    f"{len(problems):,} problem(s) in {summary.rejected_rows:,} row(s); nothing "
                    "was imported (the database is unchanged). Correct the rows, or use "
                    "--skip-invalid to import the valid rows and get the others in a rejects file.",
                    problems,
                )
            _name_the_service(result, options)
            return result, problems

        if options.dry_run:
            existing = (
                load_existing(store.reader_for(db).df, clients, episodes)
                if db.exists()
                else Existing.empty()
            )
            run(existing)
        else:
            existing_count = (
                int(store.reader_for(db).rows("SELECT count(*) FROM sessions")[0][0])
                if db.exists()
                else 0
            )

            def resort() -> bool:
                # only what the import adds moves the table out of order (rows already present
                # add nothing: re-importing a file must not rewrite the whole table)
                return existing_count > 0 and summary.imported >= RESORT_SHARE * existing_count

            progress.stage("copying the database (the original stays as it is until the end)")
            with store.write_transaction(db, create=True, resort=resort) as con:
                con.execute("SET enable_progress_bar = false")

                def query(sql: str, params: list) -> pd.DataFrame:
                    return con.execute(sql, params).df()

                progress.stage("reading what the database holds on these clients")
                result, _ = run(load_existing(query, clients, episodes))
                progress.stage(f"writing {len(result.sessions):,} sessions")
                _write(con, result)
                progress.stage("saving the database")
    except MemoryError:
        # The limits (fitdata/ingest/limits.py) keep hostile files out; this is the net under
        # them for a real file too large for this machine. The database is untouched.
        names = ", ".join(str(p) for p in paths)
        raise IngestError(
            f"fitdata ran out of memory importing {names}; nothing was imported (the database "
            "is unchanged). Import the files one at a time, or split a large file into several "
            "(one per year, say), or run the import on a machine with more memory."
        ) from None
    finally:
        progress.done()
    summary.seconds = time.monotonic() - started
    return summary
