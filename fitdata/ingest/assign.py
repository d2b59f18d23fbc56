"""Checks across rows and against the database; episodes and session numbers.

What the database holds is read by :mod:`fitdata.ingest.existing`; the rows to write (new
teams, therapists, clients, episodes, sessions) are worked out by
:mod:`fitdata.ingest.entities` from the rows these checks accept.

Rules (documented for users in ``docs/import.md``):

* **Natural key.** A session is (client, episode, session date, rater). A row whose key is
  already in the database is *already present* when its scores are the same, and a problem
  when they differ (an import never changes recorded sessions). Two rows of a file with the
  same key are a problem (all of them are rejected: which one is right is for a person to say).
* **Episodes.** With an ``episode`` column its values are the episode ids. Without one, a
  client's sessions (all raters together, with the client's sessions already in the database)
  are cut into episodes where more than ``gap_days`` (180) pass between two sessions, where
  the team changes (an episode belongs to one team), or where an episode in the database has
  ended; new episodes get the id ``<client>:<first date>`` (``:`` is no separator of an
  identity number, so the client's digits and the date's are never read as one number;
  older imports made ``<client>/<first date>``, and those ids are kept).
  An episode starts at ``episode_start`` or its first session; the client on its first row in
  the file is its (index) client; the therapist and team of its first session are its own.
* **Endings.** An episode ends when the file gives an ``end_type`` (planned, unplanned,
  transferred) on any of its rows; it ended on ``episode_end`` or else on its last session.
  Without an end_type it stays open: the importer does not invent endings.
* **Session numbers.** Without ``session_no``, sessions are numbered by date within
  (episode, client, rater), after those already in the database. A session dated before the
  last recorded one of its episode then needs an explicit ``session_no``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.ingest.checks import at as _at
from fitdata.ingest.checks import raw_values as _raw_values
from fitdata.ingest.checks import reject_groups as _reject_groups
from fitdata.ingest.checks import spread as _spread
from fitdata.ingest.entities import Plan, lookup, new_entities
from fitdata.ingest.existing import Existing
from fitdata.ingest.forms import check_forms
from fitdata.ingest.ids import TEAM_CODES, THERAPIST_CODES, resolve_ids
from fitdata.ingest.problems import ProblemLog
from fitdata.ingest.roles import check_partner_rows, check_roles, participants
from fitdata.vocabulary import AGE_RANGES, MAX_PLAUSIBLE_AGE, SCORE_COLUMNS

__all__ = ["DEFAULT_GAP_DAYS", "categorical", "plan"]

#: More days than this between two sessions of a client start a new episode.
DEFAULT_GAP_DAYS = 180


def categorical(values: pd.Series) -> pd.Series:
    """Text as a categorical with sorted categories (cheap grouping, sorting and merging)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    categories = values.cat.categories.astype("str")
    values = values.cat.rename_categories(categories)
    return (
        values.cat.reorder_categories(categories.sort_values())
        .reset_index(drop=True)
        .set_axis(values.index)
    )


def _same_categories(values: pd.Series, like: pd.Series) -> pd.Series:
    """``values`` coded with the categories of ``like`` (others become NA: they match nothing)."""
    codes = pd.Index(like.cat.categories).get_indexer(values.astype("str"))  # -1: unknown
    return pd.Series(pd.Categorical.from_codes(codes, dtype=like.dtype), index=values.index)


def _rows_text(labels: pd.Series, key: list[pd.Series]) -> pd.Series:
    """For rows sharing a key: the labels of all rows with that key, joined."""
    frame = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(key)})
    frame["label"] = labels.astype("str").to_numpy(dtype=object)
    return frame.groupby(list(frame.columns[:-1]), dropna=False)["label"].transform(", ".join)


def _outside_episode(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    problems: ProblemLog,
    outside: np.ndarray,
    limit: np.ndarray,
    side: str,
    event: str,
) -> np.ndarray:
    """A problem on each session dated before its episode began or after it ended."""
    if outside.any():
        text = pd.Series(
            [f"a date on or {side} {d} (episode {e} {event} then)" for d, e in
             zip(limit.astype(str), rows["episode"].astype(str), strict=True)]
        )  # fmt: skip
        problems.add(_at(rows, outside, raw), "session_date", _raw_values(raw, "session_date"),
                     _spread(rows, text, raw))  # fmt: skip
    return outside


def _assign_episodes_by_gap(rows: pd.DataFrame, existing: Existing, gap_days: int) -> pd.Series:
    """Episode ids for rows without an episode column (see the module's rules)."""
    old = existing.sessions[["client_id", "team_id", "session_date", "episode_id"]].merge(
        existing.episodes[["episode_id", "ended"]], on="episode_id", how="left"
    )
    clients = rows["client"].cat.categories
    teams = rows["team"].cat.categories.union(pd.Index(old["team_id"].astype("str").unique()))
    combined = pd.DataFrame(
        {
            "client": np.concatenate(
                [clients.get_indexer(old["client_id"].astype("str")), rows["client"].cat.codes]
            ),
            "team": np.concatenate(
                [
                    teams.get_indexer(old["team_id"].astype("str")),
                    teams.get_indexer(rows["team"].cat.categories)[rows["team"].cat.codes],
                ]
            ),  # fmt: skip
            "date": np.concatenate(
                [
                    old["session_date"].to_numpy(dtype="datetime64[D]"),
                    rows["session_date"].to_numpy(dtype="datetime64[D]"),
                ]
            ),  # fmt: skip
            "ended": np.concatenate(
                [
                    old["ended"].to_numpy(dtype="datetime64[D]"),
                    np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]"),
                ]
            ),  # fmt: skip
            "episode": pd.array(
                np.concatenate(
                    [
                        old["episode_id"].to_numpy(dtype=object),
                        np.full(len(rows), None, dtype=object),
                    ]
                ),
                dtype="str",
            ),  # fmt: skip
            "new": np.concatenate([np.zeros(len(old), bool), np.ones(len(rows), bool)]),
            "i": np.concatenate([np.full(len(old), -1), np.arange(len(rows))]),
        }
    )
    combined = combined.sort_values(["client", "date", "new"], kind="stable").reset_index(drop=True)
    client = combined["client"].to_numpy()
    team = combined["team"].to_numpy()
    date = combined["date"].to_numpy(dtype="datetime64[D]")
    ended = combined["ended"].to_numpy(dtype="datetime64[D]")
    first = np.ones(len(combined), dtype=bool)
    if len(combined) > 1:
        first[1:] = (
            (client[1:] != client[:-1])
            | (team[1:] != team[:-1])
            | ((date[1:] - date[:-1]).astype(np.int64) > gap_days)
            | (~np.isnat(ended[:-1]) & (date[1:] > ended[:-1]))
        )
    segment = np.cumsum(first)
    episode = combined["episode"].groupby(segment).ffill().groupby(segment).bfill()
    starts = combined.loc[first]
    start_id = pd.Series(pd.NA, index=combined.index, dtype="str")
    start_id[first] = (
        pd.Series(np.asarray(clients, dtype=object)[starts["client"].to_numpy()], dtype="str")
        + ":"
        + pd.Series(starts["date"].to_numpy(dtype="datetime64[D]").astype(str), dtype="str")
    ).to_numpy()
    episode = episode.where(episode.notna(), start_id.ffill())
    picked = combined["new"].to_numpy()
    result = np.empty(len(rows), dtype=object)
    result[combined["i"].to_numpy()[picked]] = episode.to_numpy(dtype=object)[picked]
    return categorical(pd.Series(result, index=rows.index, dtype="str"))


def _with_sessions(
    listed: pd.DataFrame,
    new: pd.DataFrame,
    present: pd.DataFrame,
    existing: Existing,
    raw: pd.DataFrame,
    problems: ProblemLog,
) -> pd.DataFrame:
    """The rows listing a participant whose episode has a session; a problem on the others."""
    if not len(listed):
        return listed
    known = (
        set(new["episode"].astype("str"))
        | set(present["episode"].astype("str"))
        | set(existing.episodes["episode_id"].astype("str"))
    )
    episode = listed["episode"].astype("str")
    empty = ~episode.isin(known).to_numpy()
    if empty.any():
        text = (
            "an episode with sessions: episode " + episode
            + " has none in the files or the database (a participant is added to an episode "
            "that has sessions)"
        )  # fmt: skip
        problems.add(_at(listed, empty, raw), "episode", _raw_values(raw, "episode"),
                     _spread(listed, text, raw))  # fmt: skip
    return listed[~empty]


def _without_their_index(
    new: pd.DataFrame,
    listed: pd.DataFrame,
    index: pd.Series,
    existing: Existing,
    raw: pd.DataFrame,
    problems: ProblemLog,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of new episodes whose index client has a row left; a problem on the others.

    With --skip-invalid, the rows of an episode's index client may all be rejected while
    its other participants' rows are fine: the episode cannot be made without its client,
    so those rows are rejected too (to be imported again with the corrected rows).
    """
    if not len(index):
        return new, listed
    both = pd.concat([new[["episode", "client", "pos"]], listed[["episode", "client", "pos"]]])
    episode, client = categorical(both["episode"]), categorical(both["client"])
    episodes = pd.Index(episode.cat.categories.astype("str"))
    ep, cl = episode.cat.codes.to_numpy(), client.cat.codes.to_numpy()
    named = np.append(np.asarray(episodes.map(index.astype("str")), dtype=object), None)
    # per episode: the code of its index client among these rows' clients (-1: none)
    wanted = np.append(pd.Index(client.cat.categories).get_indexer(named[:-1].astype(str)), -2)
    has = np.zeros(len(episodes) + 1, dtype=bool)
    has[ep[(ep >= 0) & (cl >= 0) & (cl == wanted[ep])]] = True
    stored = episodes.get_indexer(existing.episodes["episode_id"].astype("str"))
    has[stored[stored >= 0]] = True  # an episode in the database has its client
    orphan = ~has[ep] & pd.notna(named[ep])
    if not orphan.any():
        return new, listed
    wanted = pd.Series(named[ep], index=both.index)
    lost = both[orphan]
    text = (
        "the rows of this episode's index client " + wanted[orphan].astype("str")
        + ", which were rejected: an episode is made with its client (correct those rows and "
        "import this one with them)"
    )  # fmt: skip
    problems.add(_at(lost, np.ones(len(lost), dtype=bool), raw), "episode",
                 _raw_values(raw, "episode"), _spread(lost, text, raw))  # fmt: skip
    gone = lost["pos"].to_numpy()
    return (
        new[~np.isin(new["pos"].to_numpy(), gone)].reset_index(drop=True),
        listed[~np.isin(listed["pos"].to_numpy(), gone)],
    )


def _episodes_of_units(
    rows: pd.DataFrame, existing: Existing, gap_days: int
) -> tuple[pd.Series, np.ndarray]:
    """Episode ids by the gap rule, one per unit: a row, or a partners register's row.

    The rows of one partners register row (one session) share the episode of the first
    partner's code (``_slot`` 1); a unit without it, and a participant row without a date,
    get none (returned as ``orphan``).
    """
    unit = rows["_unit"].to_numpy()
    only = rows["_only"].to_numpy(dtype=bool)
    slot = rows["_slot"].to_numpy()
    partners = unit < 0
    first = ~pd.Series(unit).duplicated().to_numpy()
    anchor = first & (~partners | (slot == 1)) & ~(only & np.isnat(
        rows["session_date"].to_numpy(dtype="datetime64[D]")))  # fmt: skip
    episode = np.full(len(rows), None, dtype=object)
    if anchor.any():
        episode[anchor] = _assign_episodes_by_gap(rows[anchor], existing, gap_days).to_numpy(
            dtype=object
        )
    by_unit = pd.Series(episode[anchor], index=unit[anchor])
    rest = ~anchor
    episode[rest] = pd.Series(unit[rest]).map(by_unit).to_numpy(dtype=object)
    orphan = pd.isna(pd.Series(episode)).to_numpy()
    return categorical(pd.Series(episode, index=rows.index, dtype="str")), orphan


def plan(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    existing: Existing,
    problems: ProblemLog,
    *,
    gap_days: int = DEFAULT_GAP_DAYS,
    has_episode: bool,
    warnings: ProblemLog | None = None,
) -> Plan:
    """Check rows against each other and the database; work out the rows to write.

    Args:
        rows: Typed rows that passed the single-row checks, with ``pos`` (position in ``raw``)
            and ``_row`` (spreadsheet row).
        raw: The combined text table (for quoting values in problems).
        existing: What the database holds (see :func:`load_existing`).
        problems: Where problems are recorded; rows with problems are not in the plan.
        gap_days: Days between sessions after which a new episode starts.
        has_episode: Whether the files have an ``episode`` column.
        warnings: Where warnings are recorded (rows with warnings are imported).
    """
    warnings = warnings if warnings is not None else ProblemLog()
    rows = rows.copy(deep=False)  # copy-on-write: columns are replaced, never changed in place
    bad = np.zeros(len(rows), dtype=bool)
    teams, therapists = existing.teams, existing.therapists
    (team, therapist_team), team_names = resolve_ids(
        [rows["team"], rows["therapist_team"]],
        rows["team_name"],
        teams["team_id"],
        teams["name"],
        TEAM_CODES,
    )
    rows["team"], rows["therapist_team"] = categorical(team), categorical(therapist_team)
    (therapist,), therapist_names = resolve_ids(
        [rows["therapist"]],
        rows["therapist_name"],
        therapists["therapist_id"],
        therapists["name"],
        THERAPIST_CODES,
    )
    rows["therapist"] = categorical(therapist)
    for column in ("client", "episode", "rater"):
        rows[column] = categorical(rows[column])

    # The same client must have one age group and one birth year (ages in years may grow).
    explicit_group = rows["age_group"].where(~rows["age_from_years"])
    rows["_explicit_group"] = explicit_group
    bad |= _reject_groups(
        rows, raw, problems, "client", "_explicit_group", "age group", "age_group"
    )
    rows["_birth"] = rows["birth_year"].where(rows["birth_year"] > 0)
    bad |= _reject_groups(rows, raw, problems, "client", "_birth", "birth year", "birth_year")
    only = rows["_only"].to_numpy(dtype=bool)  # participants without a session
    partner_bad = check_partner_rows(rows, raw, problems)
    bad |= partner_bad

    # Duplicate sessions in the files.
    key = (
        ["client", "episode", "session_date", "rater"]
        if has_episode
        else ["client", "session_date", "rater"]
    )
    duplicated = np.zeros(len(rows), dtype=bool)  # (a client as both partners is said above)
    sessions = ~only & ~partner_bad
    duplicated[sessions] = rows[sessions].duplicated(subset=key, keep=False).to_numpy()
    if duplicated.any():
        dup = rows[duplicated]
        text = "one row per session (client, date and rater); the same session is on rows " + (
            _rows_text(dup["_where"], [dup[k] for k in key])
        )
        problems.add(
            _at(rows, duplicated, raw),
            "session_date",
            _raw_values(raw, "session_date"),
            _spread(dup, text, raw),
        )
        bad |= duplicated

    # Episodes.
    if not has_episode:
        rows["episode"], orphan = _episodes_of_units(rows, existing, gap_days)
        problems.add(
            _at(rows, orphan & ~bad, raw), "client", _raw_values(raw, "client"),
            "an episode column: a row without a date and scores adds a participant to an "
            "episode, and a partners register without one needs the first partner's client "
            "code on every row (the register's episodes follow the first partner)",
        )  # fmt: skip
        bad |= orphan
    else:
        orphan = only & rows["episode"].isna().to_numpy()
        problems.add(
            _at(rows, orphan & ~bad, raw), "episode", _raw_values(raw, "episode"),
            "an episode id: a row without a date and scores adds a participant to an episode",
        )  # fmt: skip
        bad |= orphan
    for column, what in (
        ("team", "team"),
        ("format", "format"),
        ("end_type", "ending"),
        ("episode_start", "start date"),
        ("episode_end", "end date"),
    ):
        bad |= _reject_groups(rows, raw, problems, "episode", column, what)

    episodes = existing.episodes.set_index("episode_id")
    known = rows["episode"].isin(episodes.index).to_numpy()
    started = lookup(rows["episode"], episodes["started"]).astype("datetime64[D]")
    started = np.where(known, started, rows["episode_start"].to_numpy(dtype="datetime64[D]"))
    date = rows["session_date"].to_numpy(dtype="datetime64[D]")
    bad |= _outside_episode(rows, raw, problems, ~np.isnat(started) & (date < started),
                            started, "after", "began")  # fmt: skip
    other_team = known & (lookup(rows["episode"], episodes["team_id"]) != rows["team"].to_numpy())
    problems.add(
        _at(rows, other_team & ~bad, raw), "team", _raw_values(raw, "team"),
        "the team of the episode in the database (a move to another team is a new episode)",
    )  # fmt: skip
    bad |= other_team
    ended = lookup(rows["episode"], episodes["ended"]).astype("datetime64[D]")
    bad |= _outside_episode(rows, raw, problems, known & ~np.isnat(ended) & (date > ended),
                            ended, "before", "ended")  # fmt: skip

    # A new client needs an age group (the ORS cutoff depends on it): given, or from the birth
    # year and the year of the first session.
    newcomer = ~rows["client"].isin(existing.clients["client_id"]).to_numpy()
    by_client = rows.groupby("client", sort=False)
    has_group = rows["age_group"].notna().groupby(rows["client"]).transform("any").to_numpy()
    birth = rows["_birth"].groupby(rows["client"]).transform("max").to_numpy(dtype=float)
    first_year = by_client["session_date"].transform("min").dt.year.to_numpy(dtype=float)
    age = first_year - birth
    age_ok = (age >= min(lo for lo, _ in AGE_RANGES.values())) & (age <= MAX_PLAUSIBLE_AGE)
    no_group = newcomer & ~has_group & ~bad
    problems.add(
        _at(rows, no_group & np.isnan(birth), raw), "age_group", _raw_values(raw, "age_group"),
        "an age group (child, adolescent, adult / barn, ungdom, voksen), an age, or a "
        "birth_year for a client who is new to the database",
    )  # fmt: skip
    problems.add(
        _at(rows, no_group & ~np.isnan(birth) & ~age_ok, raw), "birth_year",
        _raw_values(raw, "birth_year"),
        "a birth year that makes the client at least 6 at the first session (ORS is not "
        "scored below 6), or an age_group",
    )  # fmt: skip
    bad |= no_group & (np.isnan(birth) | ~age_ok)

    # Who takes part (roles) and the forms, on the rows still accepted.
    keep = ~bad
    roles = check_roles(rows[keep], raw, existing, problems)
    role = np.full(len(rows), -1, dtype=np.int8)
    role[keep] = roles.role.codes
    bad[np.flatnonzero(keep)[roles.bad]] = True
    fmt_codes = np.zeros(len(rows), dtype=np.int8)
    fmt_codes[keep] = roles.format.codes
    keep = ~bad
    form_bad, ors_form, srs_form = check_forms(
        rows[keep], raw, existing,
        pd.Categorical.from_codes(fmt_codes[keep], dtype=roles.format.dtype), problems, warnings,
    )  # fmt: skip
    bad[np.flatnonzero(keep)[form_bad]] = True
    for name, forms in (("ors_form", ors_form), ("srs_form", srs_form)):
        codes = np.full(len(rows), -1, dtype=np.int8)
        codes[keep] = forms.cat.codes.to_numpy()
        rows[name] = pd.Series(
            pd.Categorical.from_codes(codes, dtype=forms.dtype), index=rows.index
        )
    rows["_role"] = pd.Categorical.from_codes(role, dtype=roles.role.dtype)

    # Already in the database?
    old = existing.sessions.rename(
        columns={"client_id": "client", "episode_id": "episode", "session_date": "session_date"}
    )
    old = old.add_prefix("old_").rename(
        columns={f"old_{k}": k for k in ("client", "episode", "session_date", "rater")}
    )
    match_key = ["client", "episode", "session_date", "rater"]
    old = _keyed(old, rows)
    matched = (
        rows[match_key]
        .reset_index(drop=True)
        .merge(old, on=match_key, how="left", validate="many_to_one")
        if len(old)
        else None
    )
    present = np.zeros(len(rows), dtype=bool)
    if matched is not None:
        present = matched["old_session_no"].notna().to_numpy() & ~only
        differs = np.zeros(len(rows), dtype=bool)
        for column in SCORE_COLUMNS:
            differs |= present & (
                matched[f"old_{column}"].fillna(-1).to_numpy() != rows[column].to_numpy()
            )
        explicit_no = rows["session_no"].to_numpy() > 0
        differs |= (
            present
            & explicit_no
            & (matched["old_session_no"].fillna(0).to_numpy() != rows["session_no"].to_numpy())
        )
        if differs.any():
            problems.add(
                _at(rows, differs & ~bad, raw), "session_date", _raw_values(raw, "session_date"),
                "a new session: this session (client, episode, date, rater) is already in the "
                "database with other scores or number; an import does not change recorded "
                "sessions",
            )  # fmt: skip
            bad |= differs
    already = present & ~bad

    # Session numbers within (episode, client, rater).
    group = ["episode", "client", "rater"]
    todo = ~bad & ~present & ~only
    new = rows[todo]
    last = (
        existing.sessions.groupby(["episode_id", "client_id", "rater"])
        .agg(last_no=("session_no", "max"), last_date=("session_date", "max"))
        .rename_axis(group)
        .reset_index()
    )
    new = new.reset_index(drop=True).merge(_keyed(last, rows), on=group, how="left")
    new["last_no"] = new["last_no"].fillna(0).astype(np.int32)
    derived = new["session_no"].to_numpy() == 0
    rank = (
        new.assign(_derived=derived)
        .loc[derived]
        .groupby(group)["session_date"]
        .rank(method="first")
    )
    number = new["session_no"].to_numpy().copy()
    number[derived] = (new.loc[derived, "last_no"].to_numpy() + rank.to_numpy()).astype(np.int32)
    new["session_no"] = number
    late = derived & (
        new["session_date"].to_numpy(dtype="datetime64[D]")
        < new["last_date"].to_numpy(dtype="datetime64[D]")
    )
    new_bad = late.copy()
    if late.any():
        problems.add(
            _at(new, late, raw), "session_date", _raw_values(raw, "session_date"),
            "a date after the last session of this episode already in the database, or an "
            "explicit session_no",
        )  # fmt: skip
    taken = existing.sessions.rename(columns={"episode_id": "episode", "client_id": "client"})[
        [*group, "session_no"]
    ]
    clash = (
        new[[*group, "session_no"]]
        .merge(_keyed(taken, rows).assign(_taken=True), on=[*group, "session_no"], how="left")[
            "_taken"
        ]
        .fillna(False)
        .to_numpy(dtype=bool)
        | new.duplicated(subset=[*group, "session_no"], keep=False).to_numpy()
    )
    clash &= ~late
    if clash.any():
        problems.add(
            _at(new, clash, raw), "session_no", _raw_values(raw, "session_no"),
            "a session number not already used for this client, rater and episode",
        )  # fmt: skip
        new_bad |= clash
    new = new[~new_bad].reset_index(drop=True)
    listed = _with_sessions(rows[~bad & only], new, rows[already], existing, raw, problems)
    new, listed = _without_their_index(new, listed, roles.index, existing, raw, problems)
    result = new_entities(
        new, existing, int(already.sum()), roles.index, listed, {**team_names, **therapist_names}
    )
    accepted = rows[np.isin(rows["pos"].to_numpy(), np.concatenate(
        [rows["pos"].to_numpy()[already], new["pos"].to_numpy(), listed["pos"].to_numpy()]
    ))]  # fmt: skip
    started = pd.concat(
        [
            existing.episodes.set_index("episode_id")["started"],
            result.episodes.set_index("episode_id")["started"],
        ]
    ).astype("datetime64[s]")
    result.participants = participants(accepted, accepted["_role"].array, existing, started)
    result.listed = len(listed)
    return result


def _keyed(frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s client, episode and rater coded like ``rows`` (merges compare codes)."""
    frame = frame.copy()
    for column in ("client", "episode", "rater"):
        if column in frame.columns:
            frame[column] = _same_categories(frame[column], rows[column])
    return frame
