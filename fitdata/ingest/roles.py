"""Who takes part in each episode of an import: roles checked and derived, participants listed.

Rules (documented for users in ``docs/import.md``, *Couples, families and groups*):

* **The index client** of an episode is the client with role ``index`` in the file, else the
  episode's client in the database, else the client on the episode's first row in the file.
  Two index clients in one episode, or an index client other than the database's, is a
  problem.
* **Other roles**, where the file gives none: a rating by someone else than the client
  (``rater`` parent, teacher, partner, other) is ``collateral``; another client is a
  ``partner`` in a couple episode, a ``family_member`` in a family episode, else a ``member``
  (:func:`fitdata.vocabulary.participant_role`). A role the file gives must fit the episode's
  format (a partner in a couple episode, a family member in a family episode, a member in an
  individual or group one), agree with the role the database holds, and be one role per client
  and episode. A couple episode has two clients.
* **One session, one therapist.** The rows of a couple or family episode on one date are one
  session (each partner's own forms): one therapist. In a partners register (one row per
  session, a group of columns per partner, ``layout: partners``), a row's partners are two
  different clients with one date, team, therapist and episode.
* **An episode's format** in the file must be the one the database holds (an import does not
  change an episode).

Everything is worked out over integer codes and grouped frames (no loop per row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitdata.ingest.checks import at, raw_values, reject_groups, spread
from fitdata.ingest.entities import first_rows
from fitdata.ingest.existing import Existing
from fitdata.ingest.problems import ProblemLog
from fitdata.vocabulary import FORMATS, ROLES, participant_role

__all__ = ["Roles", "check_partner_rows", "check_roles", "participants"]

#: The role a client who is not the index client has, by the episode's format.
_OTHER_CLIENT = {"couple": "partner", "family": "family_member"}
#: The formats a role given in the file belongs to.
_ROLE_FORMATS = {
    "partner": ("couple",),
    "family_member": ("family",),
    "member": ("individual", "group"),
}
_ROLE_HINT = {
    "partner": "a partner belongs to a couple episode",
    "family_member": "a family member belongs to a family episode",
    "member": "in a couple episode the other client is a partner, in a family episode a family "
    "member",
}


@dataclass
class Roles:
    """The outcome of :func:`check_roles` for the rows it was given (same positions).

    Attributes:
        bad: Rows with a role problem.
        role: The role of every row (given or derived), of :data:`~fitdata.vocabulary.ROLES`.
        format: The format of every row's episode (the database's, else the file's, else
            individual), of :data:`~fitdata.vocabulary.FORMATS`.
        index: Episode id -> its index client.
    """

    bad: np.ndarray
    role: pd.Categorical
    format: pd.Categorical
    index: pd.Series


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1: NA) and the labels they stand for (a categorical's, or factorized)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype(np.int64), pd.Index(
            column.cat.categories.astype("str")
        )
    codes, uniques = pd.factorize(column)
    return codes.astype(np.int64), pd.Index(uniques)


def _pair_key(*columns: pd.Series | np.ndarray) -> pd.Series:
    """One integer per distinct combination of the columns (NA where one is NA)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    missing = np.zeros(len(key), dtype=bool)
    for column in columns:
        codes, labels = _codes(pd.Series(column))
        missing |= codes < 0
        key = pd.factorize(key * (len(labels) + 1) + codes + 1)[0].astype(np.int64)
    return (
        pd.Series(np.where(missing, -1, key))
        .where(~missing)
        .set_axis(
            columns[0].index if isinstance(columns[0], pd.Series) else pd.RangeIndex(len(key))
        )
    )


def _per_code(labels: pd.Index, table: pd.Series) -> np.ndarray:
    """``table`` looked up once per label (object array; None where missing)."""
    if not len(table):
        return np.full(len(labels), None, dtype=object)
    table = table[~table.index.duplicated()]
    return pd.Series(labels).map(table).astype(object).where(lambda v: v.notna(), None).to_numpy()


def check_partner_rows(rows: pd.DataFrame, raw: pd.DataFrame, problems: ProblemLog) -> np.ndarray:
    """Problems of a partners register's rows (one row is one session).

    The same client in two partners' columns of a row, or partners of a row that differ in
    date, team, therapist or episode (columns given per partner).
    """
    bad = np.zeros(len(rows), dtype=bool)
    if "_unit" not in rows.columns or not (rows["_slot"].to_numpy() > 0).any():
        return bad
    partners = rows["_slot"].to_numpy() > 0
    same = (
        rows.duplicated(subset=["_unit", "client"], keep=False).to_numpy()
        & partners
        & rows["client"].notna().to_numpy()
    )
    if same.any():
        problems.add(
            at(rows, same, raw), "client", raw_values(raw, "client"),
            "a different client for each partner: the same client is in two partners' "
            "columns of this row (a couple is two people)",
        )  # fmt: skip
        bad |= same
    unit = rows.assign(row=rows["_unit"].where(partners))
    for column, what in (
        ("session_date", "date"),
        ("team", "team"),
        ("therapist", "therapist"),
        ("episode", "episode"),
    ):
        if column in unit.columns:
            unit["_value"] = unit[column].astype("str").where(unit[column].notna())
            bad |= reject_groups(
                unit, raw, problems, "row", "_value", what, column,
                (f"one {what} for the partners of a row (a row is one session): another "
                 "partner of this row has ", ""),
            )  # fmt: skip
    return bad


def check_roles(
    rows: pd.DataFrame, raw: pd.DataFrame, existing: Existing, problems: ProblemLog
) -> Roles:
    """Check the roles of ``rows`` (episodes assigned) and derive those not given.

    Worked out per episode and client code, not per row of text (the roles of a file of a
    million individual sessions cost well under a second).

    Args:
        rows: Rows that passed the checks so far, in file order, with ``episode``, ``client``
            and ``rater`` (categorical), ``role`` (NA: not given), ``format``, ``therapist``,
            ``session_date``, ``_only`` (a participant without a session) and ``pos``.
        raw: The combined text table (for quoting values in problems).
        existing: What the database holds on these episodes.
        problems: Where problems are recorded.
    """
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    ep, episodes = _codes(rows["episode"])
    cl, clients = _codes(rows["client"])
    self_rated = (rows["rater"] == "client").to_numpy(dtype=bool)
    given = rows["role"].astype("str").where(rows["role"].notna())
    named_any = bool(given.notna().any())
    old = existing.episodes.set_index("episode_id")
    order = np.arange(n)

    def per_row(per_episode: np.ndarray) -> np.ndarray:
        return np.append(per_episode, None)[ep]

    def text(series: pd.Series | np.ndarray) -> pd.Series:
        return pd.Series(series, index=rows.index).astype("str")

    # The episode's format: the database's, else the file's first, else individual.
    old_format = _per_code(episodes, old["format"]) if len(old) else np.full(
        len(episodes), None, dtype=object)  # fmt: skip
    file_format = rows["format"].astype("str").where(rows["format"].notna())
    first = first_rows(ep, len(episodes), order, file_format.notna().to_numpy())
    first_format = np.append(file_format.to_numpy(dtype=object), None)[first]
    row_old_format = per_row(old_format)
    changed = file_format.notna().to_numpy() & pd.notna(row_old_format)
    changed &= file_format.to_numpy(dtype=object) != row_old_format
    if changed.any():
        message = ("the format of episode " + text(rows["episode"]) + " in the database, "
                   + text(row_old_format).where(changed, ""))  # fmt: skip
        problems.add(at(rows, changed, raw), "format", raw_values(raw, "format"),
                     spread(rows, message, raw))  # fmt: skip
        bad |= changed
    fmt_episode = np.where(pd.notna(old_format), old_format, first_format)
    fmt_episode = np.where(pd.notna(fmt_episode), fmt_episode, "individual").astype(object)
    fmt_code = pd.Categorical(fmt_episode, categories=FORMATS).codes.astype(np.int8)
    fmt = pd.Categorical.from_codes(
        np.append(fmt_code, 0)[ep] if n else np.empty(0, np.int8), categories=FORMATS
    )

    # The index client: named so, else the database's, else the first listed.
    named = given.eq("index").fillna(False).to_numpy(dtype=bool) & self_rated
    old_index = _per_code(episodes, old["client_id"]) if len(old) else np.full(
        len(episodes), None, dtype=object)  # fmt: skip
    if named.any():
        rows_index = rows.assign(_named=rows["client"].where(named))
        bad |= reject_groups(
            rows_index, raw, problems, "episode", "_named", "index client", "role",
            ("one index client per episode (the others are partners, family members or "
             "members): this episode has ", " as index client on other rows"),
        )  # fmt: skip
        row_old_index = per_row(old_index)
        against_old = named & pd.notna(row_old_index)
        against_old &= text(rows["client"]).to_numpy(dtype=object) != row_old_index
        if against_old.any():
            message = (
                "a role other than index: episode " + text(rows["episode"])
                + "'s index client in the database is " + text(row_old_index)
                + " (an episode has one index client)"
            )  # fmt: skip
            problems.add(at(rows, against_old & ~bad, raw), "role", raw_values(raw, "role"),
                         spread(rows, message, raw))  # fmt: skip
            bad |= against_old
    first_named = first_rows(ep, len(episodes), order, named)
    # first listed: a client's own rating without another role, else a row without a role
    # (a parent's rating of the child); a client with another role is never the index
    plain = given.isna().to_numpy(dtype=bool)
    first_listed = first_rows(ep, len(episodes), order, plain & self_rated)
    first_listed = np.where(
        first_listed >= 0, first_listed, first_rows(ep, len(episodes), order, plain)
    )
    labels = np.append(np.asarray(clients, dtype=object), None)
    row_client = np.append(cl, -1)  # a row's client code; -1 (None) for no row
    index_episode = np.where(pd.notna(old_index), old_index, labels[row_client[first_named]])
    index_episode = np.where(
        pd.notna(index_episode), index_episode, labels[row_client[first_listed]]
    )
    nobody = per_row(index_episode)
    nobody = ~pd.notna(nobody) & (ep >= 0)
    if nobody.any():
        message = (
            "an index client for episode " + text(rows["episode"]) + ": every client in it has "
            "another role; name one client index, or leave their role empty"
        )  # fmt: skip
        problems.add(at(rows, nobody & ~bad, raw), "role", raw_values(raw, "role"),
                     spread(rows, message, raw))  # fmt: skip
        bad |= nobody
    index_code = clients.get_indexer(pd.Index(index_episode.astype(str)))
    is_index = (cl == np.append(index_code, -2)[ep]) & (cl >= 0) & self_rated

    # Roles derived where not given; a given role must fit the index, the format and the database.
    other = np.array([ROLES.index(participant_role(f, "client")) for f in FORMATS], np.int8)
    derived = np.where(
        ~self_rated, ROLES.index("collateral"),
        np.where(is_index, ROLES.index("index"), other[fmt.codes]),
    )  # fmt: skip
    named_code = pd.Categorical(given, categories=ROLES).codes
    role = pd.Categorical.from_codes(np.where(named_code >= 0, named_code, derived), ROLES)
    if named_any:
        bad |= _given_roles(rows, raw, problems, given, is_index, fmt, existing)
    couple = (fmt == "couple") & self_rated
    if couple.any():
        index_of = pd.Series(per_row(index_episode), index=rows.index)
        bad |= _couples_of_two(rows, raw, problems, couple, index_of, existing)
    bad |= _one_therapist(rows, raw, problems, fmt)
    present = np.unique(ep[ep >= 0])
    present = present[pd.notna(index_episode[present])]
    index = pd.Series(index_episode[present], index=episodes[present], dtype="str")
    return Roles(bad=bad, role=role, format=fmt, index=index)


def _given_roles(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    problems: ProblemLog,
    given: pd.Series,
    is_index: np.ndarray,
    fmt: np.ndarray,
    existing: Existing,
) -> np.ndarray:
    """Problems of the roles a file gives.

    A role other than index for the index client, two roles for one client, a role other than
    the database's, or a role that does not fit the episode's format.
    """
    bad = np.zeros(len(rows), dtype=bool)
    episode = rows["episode"].astype("str")
    client = rows["client"].astype("str")
    not_index = given.notna().to_numpy() & is_index & (given != "index").fillna(False).to_numpy()
    if not_index.any():
        message = (
            "index: " + client + " is the index client of episode " + episode
            + " (named so, first in the file, or in the database); a client has one role in an "
            "episode"
        )  # fmt: skip
        problems.add(at(rows, not_index, raw), "role", raw_values(raw, "role"),
                     spread(rows, message, raw))  # fmt: skip
        bad |= not_index
    rows_role = rows.assign(_who=_pair_key(rows["episode"], rows["client"], rows["rater"]),
                            _given=given)  # fmt: skip
    bad |= reject_groups(
        rows_role, raw, problems, "_who", "_given", "role", "role",
        ("one role per client and episode: this client is ", " on other rows of the episode"),
    )  # fmt: skip
    stored = existing.participants
    if len(stored):
        keyed = pd.DataFrame(
            {"episode_id": episode, "client_id": client, "rater": rows["rater"].astype("str")}
        )
        old_role = keyed.merge(
            stored.drop_duplicates(["episode_id", "client_id", "rater"]), how="left"
        )["role"].set_axis(rows.index)
        differs = (old_role.notna() & given.notna() & (old_role != given)).to_numpy()
        if differs.any():
            message = "the role " + old_role.fillna("") + " that the database holds for " + client
            problems.add(at(rows, differs & ~bad, raw), "role", raw_values(raw, "role"),
                         spread(rows, message, raw))  # fmt: skip
            bad |= differs
    kind = pd.Series(np.asarray(fmt, dtype=object), index=rows.index)
    for name, formats in _ROLE_FORMATS.items():
        wrong = (given == name).fillna(False).to_numpy() & ~kind.isin(formats).to_numpy()
        if wrong.any():
            message = (
                f"a role that fits the episode's format: {_ROLE_HINT[name]}, and episode "
                + episode + " is " + kind + " (give the format column, or another role)"
            )  # fmt: skip
            problems.add(at(rows, wrong & ~bad, raw), "role", raw_values(raw, "role"),
                         spread(rows, message, raw))  # fmt: skip
            bad |= wrong
    return bad


def _couples_of_two(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    problems: ProblemLog,
    couple: np.ndarray,
    index_of: pd.Series,
    existing: Existing,
) -> np.ndarray:
    """A problem on the rows of a couple's third (fourth ...) client.

    The couple's two are its index client, then a partner the database holds, then the
    clients in file order. Worked out over integer codes (a file of tens of thousands of
    crowded couples is checked in well under a second).
    """
    ep, episodes = _codes(rows["episode"])
    cl, clients = _codes(rows["client"])
    stored = existing.participants
    if len(stored):
        known = episodes.get_indexer(stored["episode_id"].astype("str")) >= 0
        stored = stored[(stored["rater"] == "client").to_numpy() & known]
    # every client code: the file's, then those only the database or the index names
    names = clients.append(
        pd.Index(pd.concat([stored["client_id"], index_of[couple]]).astype("str").unique())
    ).drop_duplicates()
    where = np.flatnonzero(couple)
    people = pd.DataFrame(
        {
            "episode": np.concatenate([
                ep[where], episodes.get_indexer(stored["episode_id"].astype("str")), ep[where],
            ]),
            "client": np.concatenate([
                names.get_indexer(index_of[couple].astype("str")),
                names.get_indexer(stored["client_id"].astype("str")),
                cl[where],
            ]),
            "rank": np.concatenate([
                np.full(len(where), -2), np.full(len(stored), -1), rows["pos"].to_numpy()[where],
            ]),
        }
    )  # fmt: skip
    people = people.sort_values(["episode", "rank"], kind="stable").drop_duplicates(
        ["episode", "client"]
    )
    people["place"] = people.groupby("episode", sort=False).cumcount()
    counts = np.bincount(people["episode"].to_numpy(), minlength=len(episodes))
    bad = np.zeros(len(rows), dtype=bool)
    if not (counts > 2).any():
        return bad
    place = pd.DataFrame({"episode": ep[where], "client": cl[where]}).merge(
        people, how="left", on=["episode", "client"]
    )["place"]
    bad[where] = place.fillna(0).to_numpy() >= 2
    if bad.any():
        label = np.asarray(names, dtype=object)
        first_two = np.full((2, len(episodes)), -1, dtype=np.int64)
        for place in (0, 1):
            at_place = people[people["place"] == place]
            first_two[place, at_place["episode"].to_numpy()] = at_place["client"].to_numpy()
        code = ep[bad]
        text = np.full(len(rows), "", dtype=object)
        text[bad] = (
            "one of the couple's two clients (" + label[first_two[0, code]] + ", "
            + label[first_two[1, code]] + "): episode " + np.asarray(episodes, dtype=object)[code]
            + " is a couple episode and would have " + counts[code].astype(str).astype(object)
            + " clients; a family episode (format family) has more"
        )  # fmt: skip
        problems.add(at(rows, bad, raw), "client", raw_values(raw, "client"),
                     spread(rows, pd.Series(text), raw))  # fmt: skip
    return bad


def _one_therapist(
    rows: pd.DataFrame, raw: pd.DataFrame, problems: ProblemLog, fmt: np.ndarray
) -> np.ndarray:
    """A problem where the rows of one couple or family session name different therapists."""
    shared = ((fmt == "couple") | (fmt == "family")) & ~rows["_only"].to_numpy(dtype=bool)
    bad = np.zeros(len(rows), dtype=bool)
    if not shared.any():
        return bad
    subset = rows[shared]
    day = subset["session_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    frame = subset.assign(session=_pair_key(subset["episode"], pd.Series(day, index=subset.index)))
    bad[shared] = reject_groups(
        frame, raw, problems, "session", "therapist", "therapist", "therapist",
        ("one therapist per session of a couple or family (the rows of one episode on one date): "
         "another row of this session has ", ""),
    )  # fmt: skip
    return bad


def participants(
    rows: pd.DataFrame, roles: np.ndarray, existing: Existing, started: pd.Series
) -> pd.DataFrame:
    """The participant rows the accepted ``rows`` need (``episode_participants``' columns).

    ``added_on`` is the participant's first date in the file when that is after the episode
    began (``started``: episode id -> start date), else NULL (from the start);
    ``sessionless`` says the participant has no session in the files (only listed). Rows the
    database already holds are left out. Grouped by the categorical codes of episode, client
    and rater (one row per participant, not per session, is ever made text).
    """
    columns = ("episode_id", "client_id", "role", "rater")
    if not len(rows):
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns}).assign(
            added_on=pd.Series(dtype="datetime64[s]"), sessionless=pd.Series(dtype=bool)
        )
    frame = pd.DataFrame(
        {
            "episode_id": rows["episode"].to_numpy(),
            "client_id": rows["client"].to_numpy(),
            "rater": rows["rater"].to_numpy(),
            "role": pd.Categorical(roles),
            "added_on": rows["session_date"].to_numpy(dtype="datetime64[s]"),
            "sessionless": rows["_only"].to_numpy(dtype=bool),
        }
    )
    out = (
        frame.groupby(["episode_id", "client_id", "rater"], sort=False, observed=True)
        .agg(
            role=("role", "first"),
            added_on=("added_on", "min"),
            sessionless=("sessionless", "all"),
        )
        .reset_index()
    )
    for column in columns:
        out[column] = out[column].astype("str")
    began = out["episode_id"].map(started[~started.index.duplicated()]).astype("datetime64[s]")
    out["added_on"] = out["added_on"].where(out["added_on"] > began)
    stored = existing.participants
    if len(stored):
        known = stored[["episode_id", "client_id", "rater"]].astype("str").assign(_known=True)
        out = out.merge(known.drop_duplicates(), how="left")
        out = out[out.pop("_known").isna()]
    return out[[*columns, "added_on", "sessionless"]].reset_index(drop=True)
