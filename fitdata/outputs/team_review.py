"""The team review's downloads: the case table as CSV or as an Excel workbook.

The case list a supervisor filtered on the page (``fitdata.ui.team_review``), or the one
``fitdata review`` writes ahead of the meeting, goes to a spreadsheet: :func:`case_list_table`
lays out the listed rows in the page's language and order -- the flags that hold now
(warnings apart from data-quality prompts, most urgent first) and the history (flags that held
earlier and resolved, with the session they last held) -- and :func:`export_csv` /
:func:`export_excel` write it. Both the page and the command line go through these functions,
so their files agree. One row per case: a couple's or family's episode is one row whose
"Participants" column names every participant with their role ("Couple: K-1 (index), K-2
(partner)"), whose flags name whose they are ("Not on track — partner K-2") and whose numbers
are, column by column, its participant most in need there (the rules sheet says so).
Client codes, therapist names and any other text pass through
:mod:`fitdata.outputs.spreadsheets` first, so a value that starts like a formula is shown as
text and never runs. :func:`write_case_list` writes a file readable by its owner only (it
holds client codes), replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitdata.analytics.flags import FLAGS
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.audit import record_access
from fitdata.data.store import Reader
from fitdata.features import case_discussions as cd
from fitdata.features import follow_up as follow_ups
from fitdata.features import team_review as cl
from fitdata.i18n import Translator
from fitdata.outputs.private_file import write_private
from fitdata.outputs.spreadsheets import inert_worksheet, neutralise_frame

__all__ = [
    "CASE_LIST_FORMATS",
    "case_list_notes",
    "case_label",
    "case_list_table",
    "case_participant_codes",
    "discussion_outcome_text",
    "export_csv",
    "export_excel",
    "flag_rule_text",
    "review_file",
    "whose",
    "whose_flag",
    "write_case_list",
]

#: The case list's file formats, by file suffix.
CASE_LIST_FORMATS: dict[str, str] = {".csv": "csv", ".xlsx": "excel"}


def flag_rule_text(
    code: str,
    tr: Translator,
    config: ClinicalConfig,
    lower_percentile: float,
    *,
    min_episodes: int = 0,
) -> str:
    """The rule behind a flag, with the thresholds in force (the legend and the rules sheet).

    ``lower_percentile`` and ``min_episodes`` are the expected-trajectory model's (the lower
    line's percentile, the closed episodes a cell needs).
    """
    return tr.text(
        f"review.legend.{code}",
        percentile=tr.number(100 * lower_percentile, decimals=0),
        min_episodes=min_episodes,
        now=config.not_on_track_sessions_now,
        rc=tr.number(config.ors_reliable_change, decimals=0),
        stagnation=config.stagnation_sessions,
        cutoff=tr.number(config.srs_cutoff, decimals=0),
        drop=tr.number(config.srs_drop, decimals=0),
        min_earlier=config.srs_drop_min_earlier,
        item=tr.number(config.srs_item_concern, decimals=0),
        min_sessions=config.srs_always_max_min_sessions,
        weeks=config.not_seen_weeks,
    )


def whose(role: str, client_id: str, tr: Translator) -> str:
    """A participant as a flag names them: role and code, "partner K-2"."""
    return tr.text("review.case.whose", role=tr.text(f"review.role.{role}"), client=client_id)


def whose_flag(code: str, role: str, client_id: str, tr: Translator) -> str:
    """A flag named by whose it is: "Not on track — partner K-2"."""
    return tr.text(
        "review.case.whose_flag", flag=tr.text(f"flag.label.{code}"), who=whose(role, client_id, tr)
    )


def case_label(format: object, participants: Sequence[tuple[str, str]], tr: Translator) -> str:
    """Who a case is: "Couple: K-1 (index), K-2 (partner)", or the client code of one client.

    A couple or family is named with its participants when it has more than one (the
    ``joint`` cases of :attr:`fitdata.features.team_review.Caseload.cases`).

    Args:
        format: The episode's format; a couple or family is named with every participant.
        participants: The case's (role, client code) pairs in order
            (:attr:`fitdata.features.team_review.Caseload.cases`).
        tr: The language.
    """
    if format not in cl.JOINT_FORMATS or len(participants) < 2:
        return str(participants[0][1]) if participants else ""
    named = ", ".join(
        tr.text("review.case.participant", client=client, role=tr.text(f"review.role.{role}"))
        for role, client in participants
    )
    return tr.text(f"review.case.{format}", participants=named)


def case_participant_codes(listed: pd.DataFrame) -> list[str]:
    """Every client code the listed cases name (each participant once), for the audit log."""
    codes = [client for people in listed["participants"] for _, client in people]
    return list(dict.fromkeys(codes))


def _joint_flags(
    listed: pd.DataFrame, flags: pd.DataFrame, tr: Translator, *, current: bool
) -> pd.DataFrame:
    """The flag rows of the listed couple and family cases, most urgent first, with their text.

    ``text`` names the flag and whose it is; a resolved row adds the session it last held.
    """
    joint = listed.loc[listed["joint"].astype(bool), "key"]
    if flags.empty or joint.empty:
        return flags.iloc[0:0].assign(text=pd.Series(dtype=object))
    rows = flags[flags["case"].isin(joint) & (flags["current"].astype(bool) == current)]
    rows = cl.sort_flags(rows)
    text = [
        whose_flag(code, role, client, tr)
        for code, role, client in zip(rows["flag"], rows["role"], rows["client_id"], strict=True)
    ]
    rows = rows.assign(text=pd.Series(text, index=rows.index, dtype=object))
    if not current and len(rows):
        before, _, after = tr.text("review.export.last_held").partition("{session}")
        session = rows["last_session"].astype("int64").astype(str)
        rows["text"] = rows["text"] + " " + before + session + after
    return rows


def _joint_text(listed: pd.DataFrame, rows: pd.DataFrame, text: pd.Series) -> pd.Series:
    """``text`` with the couple and family cases' cells replaced by their named flags."""
    joint = listed["joint"].astype(bool)
    if not joint.any():
        return text
    if len(rows):
        joined = rows.groupby("case", sort=False)["text"].agg("; ".join)
    else:
        joined = pd.Series(dtype=object)
    named = listed.loc[joint, "key"].map(joined).astype(object).fillna("")
    return text.where(~joint, named)


def _labels(listed: pd.DataFrame, codes: Sequence[str], labels: dict[str, str]) -> pd.Series:
    """Per row, the labels of ``codes`` (in that order) whose columns are True, joined by "; "."""
    text = pd.Series("", index=listed.index, dtype=object)
    for code in codes:  # a dozen flag columns, not a loop over rows
        if code not in listed:
            continue
        has = listed[code].astype(bool)
        sep = np.where(text == "", "", "; ")
        text = text.where(~has, text + sep + labels[code])
    return text


def _history(listed: pd.DataFrame, flags: pd.DataFrame, tr: Translator) -> pd.Series:
    """Per row, its resolved flags with the session each last held, most urgent first."""
    out = pd.Series("", index=listed.index, dtype=object)
    if flags.empty or listed.empty:
        return out
    resolved = flags[~flags["current"].astype(bool) & flags["key"].isin(listed["key"])]
    if resolved.empty:
        return out
    rank = {code: i for i, code in enumerate(cl.URGENCY)}
    resolved = resolved.assign(_rank=resolved["flag"].map(rank)).sort_values(
        ["key", "_rank"], kind="stable"
    )
    labels = resolved["flag"].map({c: tr.text(f"flag.label.{c}") for c in FLAGS})
    before, _, after = tr.text("review.export.last_held").partition("{session}")
    text = labels + " " + before + resolved["last_session"].astype("int64").astype(str) + after
    joined = text.groupby(resolved["key"], sort=False).agg("; ".join)
    return listed["key"].map(joined).fillna("").astype(object)


def _most_urgent(listed: pd.DataFrame, current: pd.DataFrame, labels: dict[str, str]) -> pd.Series:
    """The most urgent flag now; for a couple or family named by whose it is."""
    urgent = listed["urgent_flag"].map(labels).fillna("").astype(object)
    if current.empty:
        return urgent
    return _joint_text(listed, current.drop_duplicates("case"), urgent)  # most urgent first


def _flag_word(code: str, tr: Translator) -> str:
    """A flag's label inside a sentence: "not on track" (an acronym such as SRS kept)."""
    label = tr.text(f"flag.label.{code}")
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def discussion_outcome_text(case: Mapping[str, Any], tr: Translator) -> str:
    """What became of a discussed case: "discussed 03.11, still not on track after 3 sessions".

    ``case`` is a row of :func:`fitdata.features.team_review.with_discussions`; "" for a case
    never discussed. With the discussion's follow-up (``follow_up``), the follow-up rule's
    sentence (:func:`fitdata.features.follow_up.follow_up_sentence`), and when a warning
    discussed then still holds now though the rule does not say "still not on track" (too
    early, back on track but e.g. still without reliable change), "; still ... now" after it.
    Without a follow-up: the warnings stored with the discussion against those that hold now
    (a "not on track" discussed that no longer holds reads "back on track").
    """
    day = case.get("last_discussed")
    if day is None or (not isinstance(day, dt.date) and pd.isna(day)):
        return ""
    judged = case.get("follow_up")
    still = str(case.get("still_flag") or "")
    if judged is not None and not (isinstance(judged, float) and pd.isna(judged)):
        sentence = follow_ups.follow_up_sentence({"discussed_on": day}, judged, tr)
        if still and judged.outcome != "still_off_track":
            sentence += tr.text("review.discussion.still_now", flag=_flag_word(still, tr))
        return sentence
    date = tr.date(day)
    raw = case.get("sessions_since_discussion")
    n = 0 if raw is None or pd.isna(raw) else int(raw)
    still, resolved = str(case.get("still_flag") or ""), str(case.get("resolved_flag") or "")
    if still:
        if n == 0:
            return tr.text("review.discussion.still_none", date=date, flag=_flag_word(still, tr))
        return tr.count_text(
            "review.discussion.still", n, date=date, flag=_flag_word(still, tr), n=n
        )
    if resolved == "not_on_track":
        return tr.count_text("review.discussion.back_on_track", n, date=date, n=n)
    if resolved:
        return tr.count_text(
            "review.discussion.resolved", n, date=date, flag=_flag_word(resolved, tr), n=n
        )
    return tr.text("review.discussion.plain", date=date)


def _discussion_columns(
    listed: pd.DataFrame, tr: Translator, config: ClinicalConfig
) -> dict[str, pd.Series]:
    """The export's last-discussion columns (empty cells for a case never discussed)."""
    if "last_discussed" not in listed.columns:
        empty = pd.Series([None] * len(listed), index=listed.index, dtype=object)
        text = pd.Series([""] * len(listed), index=listed.index, dtype=object)
        discussed, agreed, follow, outcome = empty, text, empty, text
    else:
        discussed = listed["last_discussed"].astype(object)
        follow = listed["follow_up_on"].astype(object)
        agreed = listed["last_agreed"].map(
            lambda codes: "; ".join(cd.action_label(config, c, tr.lang) for c in codes or ())
        )
        outcome = pd.Series(
            [discussion_outcome_text(r, tr) for r in listed.to_dict("records")],
            index=listed.index,
            dtype=object,
        )
    return {
        tr.text("review.column.last_discussion"): discussed,
        tr.text("review.column.agreed"): agreed.astype(object),
        tr.text("review.column.follow_up"): follow,
        tr.text("review.column.discussion_outcome"): outcome,
    }


def case_list_table(
    listed: pd.DataFrame,
    flags: pd.DataFrame,
    tr: Translator,
    *,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> pd.DataFrame:
    """The listed caseload rows as the export holds them, in their order.

    Headers and flag names in the page's language; numbers stay numbers. The flags that hold
    now are in two columns, warnings and data-quality prompts, each most urgent first; the
    history column lists the flags that held earlier and resolved, with the session at which
    each last held.

    A couple's or family's case is one row: "Participants" names everyone with their role,
    and its flags are its participants', each named by whose it is; the other cases leave
    "Participants" empty and look as they always did.

    Args:
        listed: Rows of :attr:`fitdata.features.team_review.Caseload.cases`, in the order
            of the list.
        flags: The caseload's flag rows (:attr:`~fitdata.features.team_review.Caseload.flags`).
        tr: The language.
        config: The service's configuration (the labels of what a discussion agreed).

    The last four columns are the case's last discussion, what was agreed, its follow-up date
    and what became of its warnings (:func:`discussion_outcome_text`), when ``listed`` carries
    :func:`fitdata.features.team_review.with_discussions`'s columns (empty otherwise).
    """
    labels = {code: tr.text(f"flag.label.{code}") for code in FLAGS}
    warnings = [c for c in cl.URGENCY if cl.is_warning(c)]
    prompts = [c for c in cl.URGENCY if not cl.is_warning(c)]
    status = listed["ongoing"].map(
        {True: tr.text("review.status.ongoing"), False: tr.text("review.status.ended")}
    )
    age = listed["age_group"].map(
        {g: tr.text(f"age_group.{g}") for g in ("child", "adolescent", "adult")}
    )
    now = _joint_flags(listed, flags, tr, current=True)
    earlier = _joint_flags(listed, flags, tr, current=False)
    is_warning = now["flag"].map(cl.is_warning).astype(bool) if len(now) else now["flag"]
    urgent = _most_urgent(listed, now, labels)
    participants = [
        case_label(format, people, tr) if joint else ""
        for format, people, joint in zip(
            listed["format"], listed["participants"], listed["joint"], strict=True
        )
    ]

    def date(column: str) -> pd.Series:
        return pd.to_datetime(listed[column]).dt.date

    return pd.DataFrame(
        {
            tr.text("review.column.client"): listed["client_id"].astype(str),
            tr.text("review.column.participants"): pd.Series(
                participants, index=listed.index, dtype=object
            ),
            tr.text("review.column.episode"): listed["episode_id"].astype(str),
            tr.text("review.column.therapist"): listed["therapist"].astype(str),
            tr.text("review.column.age_group"): age,
            tr.text("review.column.started"): date("started"),
            tr.text("review.column.status"): status,
            tr.text("review.column.sessions"): listed["sessions"].astype(int),
            tr.text("review.column.first_ors"): listed["first_ors"].round(1),
            tr.text("review.column.last_ors"): listed["last_ors"].round(1),
            tr.text("review.column.change"): listed["change"].round(1),
            tr.text("review.column.last_srs"): listed["last_srs"].round(1),
            tr.text("review.column.last_session"): date("last_session"),
            tr.text("review.column.weeks_since_last"): listed["weeks_since_last"].where(
                listed["ongoing"]
            ),
            tr.text("review.column.most_urgent"): urgent,
            tr.text("review.column.flags"): _joint_text(
                listed, now[is_warning], _labels(listed, warnings, labels)
            ),
            tr.text("review.column.prompts"): _joint_text(
                listed, now[~is_warning], _labels(listed, prompts, labels)
            ),
            tr.text("review.column.history"): _joint_text(
                listed, earlier, _history(listed, flags, tr)
            ),
            **_discussion_columns(listed, tr, config),
        }
    ).reset_index(drop=True)


def case_list_notes(
    tr: Translator,
    config: ClinicalConfig,
    *,
    as_of: dt.date | None,
    filters: str,
    lower_percentile: float,
    min_episodes: int,
) -> list[tuple[str, str]]:
    """The rules sheet of the Excel file: the date, the filters and every flag's rule."""
    notes = [(tr.text("review.export.as_of"), tr.date(as_of))] if as_of else []
    notes.append((tr.text("review.export.filters"), filters))
    notes.append((tr.text("review.export.order"), tr.text("review.export.order_rule")))
    notes.append((tr.text("review.export.joint"), tr.text("review.export.joint_rule")))
    notes.append((tr.text("review.export.discussion"), tr.text("review.export.discussion_rule")))
    notes += [
        (
            tr.text(f"flag.label.{code}"),
            flag_rule_text(code, tr, config, lower_percentile, min_episodes=min_episodes),
        )
        for code in cl.URGENCY
        if code in FLAGS
    ]
    return notes


def export_csv(table: pd.DataFrame, *, lang: str = "en") -> bytes:
    """The table as CSV bytes for a spreadsheet in the page's language.

    English uses a comma between fields and a decimal point; bokmål uses a semicolon and a
    decimal comma (what Norwegian Excel expects). UTF-8 with a byte-order mark, so Excel shows
    æ, ø and å correctly. Text that could run as a formula gets a leading quote.
    """
    table = neutralise_frame(table)
    buffer = io.StringIO()
    if lang == "nb":
        table.to_csv(buffer, index=False, sep=";", decimal=",", lineterminator="\r\n")
    else:
        table.to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8-sig")


def export_excel(
    table: pd.DataFrame,
    *,
    sheet: str = "Caseload",
    notes: Sequence[tuple[str, str]] = (),
    notes_sheet: str = "Rules",
) -> bytes:
    """The table as an Excel workbook (openpyxl), with an optional sheet of notes.

    Args:
        table: What to write; numbers stay numbers, dates stay dates, text is never a formula.
        sheet: Name of the table's sheet.
        notes: (label, text) pairs for the second sheet, e.g. the flag rules.
        notes_sheet: Name of the notes sheet.
    """
    table = neutralise_frame(table)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_excel(writer, sheet_name=sheet[:31], index=False)
        worksheet = writer.sheets[sheet[:31]]
        worksheet.freeze_panes = "A2"
        for index, column in enumerate(table.columns, start=1):
            width = max([len(str(column)), *(len(str(v)) for v in table[column].head(200))])
            worksheet.column_dimensions[worksheet.cell(1, index).column_letter].width = min(
                60, width + 2
            )
        inert_worksheet(worksheet)
        if notes:
            frame = neutralise_frame(pd.DataFrame(list(notes), columns=["", ""]))
            frame.to_excel(writer, sheet_name=notes_sheet[:31], index=False, header=False)
            rules = writer.sheets[notes_sheet[:31]]
            rules.column_dimensions["A"].width = 30
            rules.column_dimensions["B"].width = 100
            inert_worksheet(rules)
    return buffer.getvalue()


def write_case_list(
    out: Path, table: pd.DataFrame, *, tr: Translator, notes: Sequence[tuple[str, str]] = ()
) -> str:
    """Write the case list to ``out`` (.csv or .xlsx), readable by its owner only.

    Written beside ``out`` first and then put in its place, so a reader never sees half a file
    and an existing file is replaced whole (as ``fitdata report --out`` does).

    Returns:
        The format written: ``csv`` or ``excel``.

    Raises:
        ValueError: If the suffix of ``out`` is neither .csv nor .xlsx.
        OSError: If the file cannot be written (the folder is missing or not writable, a full
            disk).
    """
    fmt = CASE_LIST_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the file format from {out.name!r}; give --out a name ending in "
            ".csv or .xlsx"
        )
    if fmt == "csv":
        data = export_csv(table, lang=tr.lang)
    else:
        data = export_excel(
            table,
            sheet=tr.text("review.export.sheet"),
            notes=notes,
            notes_sheet=tr.text("review.export.notes_sheet"),
        )
    write_private(out, data)
    return fmt


def review_file(
    reader: Reader,
    out: Path,
    *,
    team_id: str,
    filters: str,
    as_of: dt.date,
    config: ClinicalConfig,
    model: TrajectoryModel,
    lang: str = "en",
    status: cl.Status = "ongoing",
) -> pd.DataFrame:
    """Write a team's case list as the page's download holds it when the page opens.

    The page opens on the team's ongoing cases at ``as_of``, every therapist, period and age
    group, no flag chosen, most urgent first; this is that list, composed by the same
    functions (:func:`~fitdata.features.team_review.team_caseload`, ``filter_caseload``,
    ``sort_caseload``, :func:`case_list_table`), so ``fitdata review`` writes the file a
    supervisor would download. Like the download, it is an audited read: the log names the
    team and every client in the file (for a reader scoped to a user).

    Args:
        reader: The (scoped) reader of the user who takes the list.
        out: The file to write: ``.csv`` or ``.xlsx`` (replaced).
        team_id: The team.
        filters: What the list was chosen by, in ``lang`` (the rules sheet's "Filters").
        as_of: The reference date: later sessions are ignored.
        config: The thresholds.
        model: The expected-trajectory model (for ``not_on_track`` and ``not_judged``).
        lang: ``en`` or ``nb``.
        status: ``ongoing`` (the page's default), ``ended`` or ``all``.

    Returns:
        The listed cases (:attr:`~fitdata.features.team_review.Caseload.cases` rows), in the
        file's order.
    """
    if out.suffix.lower() not in CASE_LIST_FORMATS:
        raise ValueError(
            f"cannot tell the file format from {out.name!r}; give --out a name ending in "
            ".csv or .xlsx"
        )
    tr = Translator(lang)
    caseload = cl.team_caseload(reader, team_id=team_id, as_of=as_of, config=config, model=model)
    cases = cl.with_discussions(reader, caseload, caseload.cases, config=config, model=model)
    filtered = cl.filter_caseload(cases, as_of=as_of, status=status)
    listed = cl.sort_caseload(filtered, cl.URGENCY_SORT, descending=True)
    clients = case_participant_codes(listed)
    record_access(reader, "caseload_export", "", team_id=team_id, clients=clients)
    table = case_list_table(listed, caseload.flags, tr, config=config)
    notes = case_list_notes(
        tr,
        config,
        as_of=as_of,
        filters=filters,
        lower_percentile=model.lower_percentile,
        min_episodes=model.min_episodes,
    )
    write_case_list(out, table, tr=tr, notes=notes)
    return listed
