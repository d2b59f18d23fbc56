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
from fitdata.ingest.existing import Existing
from fitdata.ingest.problems import ProblemLog

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
        role: The role of every row (given or derived).
        format: The format of every row's episode (the file's, else the database's, else
            individual).
        index: Episode id -> its index client.
    """

    bad: np.ndarray
    role: np.ndarray
    format: np.ndarray
    index: pd.Series


def _pair_key(*columns: pd.Series) -> pd.Series:
    """One integer per distinct combination of the columns (for :func:`reject_groups`)."""
    codes = pd.MultiIndex.from_arrays([pd.Series(c).to_numpy() for c in columns]).factorize()[0]
    return pd.Series(codes, index=columns[0].index).where(codes >= 0)


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

    Args:
        rows: Rows that passed the checks so far, in file order, with ``episode``, ``client``,
            ``rater``, ``role`` (NA: not given), ``format``, ``therapist``, ``session_date``,
            ``_only`` (a participant without a session) and ``pos``.
        raw: The combined text table (for quoting values in problems).
        existing: What the database holds on these episodes.
        problems: Where problems are recorded.
    """
    n = len(rows)
    bad = np.zeros(n, dtype=bool)
    episode = rows["episode"].astype("str")
    client = rows["client"].astype("str")
    rater = rows["rater"].astype("str")
    given = rows["role"].astype("str").where(rows["role"].notna())
    self_rated = (rater == "client").to_numpy()
    old = existing.episodes.set_index("episode_id")

    # The episode's format: the file's, else the database's, else individual.
    old_format = episode.map(old["format"]) if len(old) else pd.Series(pd.NA, index=rows.index)
    file_format = rows["format"].astype("str").where(rows["format"].notna())
    first_format = file_format.groupby(episode, sort=False).transform("first")
    changed = (file_format.notna() & old_format.notna() & (file_format != old_format)).to_numpy()
    if changed.any():
        text = "the format of episode " + episode + " in the database, " + old_format.fillna("")
        problems.add(at(rows, changed, raw), "format", raw_values(raw, "format"),
                     spread(rows, text, raw))  # fmt: skip
        bad |= changed
    fmt = old_format.where(old_format.notna(), first_format).fillna("individual").astype("str")

    # The index client.
    named = given.eq("index").fillna(False).to_numpy() & self_rated
    named_clients = client.where(named)
    rows_index = rows.assign(_named=named_clients)
    bad |= reject_groups(
        rows_index, raw, problems, "episode", "_named", "index client", "role",
        ("one index client per episode (the others are partners, family members or members): "
         "this episode has ", " as index client on other rows"),
    )  # fmt: skip
    old_index = episode.map(old["client_id"]) if len(old) else pd.Series(pd.NA, index=rows.index)
    against_old = named & old_index.notna().to_numpy() & (named_clients != old_index).to_numpy()
    if against_old.any():
        text = (
            "a role other than index: episode " + episode + "'s index client in the database is "
            + old_index.fillna("") + " (an episode has one index client)"
        )  # fmt: skip
        problems.add(at(rows, against_old & ~bad, raw), "role", raw_values(raw, "role"),
                     spread(rows, text, raw))  # fmt: skip
        bad |= against_old
    first_named = named_clients.groupby(episode, sort=False).transform("first")
    first_listed = client.groupby(episode, sort=False).transform("first")
    index_of = old_index.where(old_index.notna(), first_named)
    index_of = index_of.where(index_of.notna(), first_listed).astype("str")

    # Roles derived where not given; a given role must fit the index, the format and the database.
    is_index = (client == index_of).to_numpy() & self_rated
    other = fmt.map(_OTHER_CLIENT).fillna("member")
    derived = np.where(~self_rated, "collateral", np.where(is_index, "index", other))
    role = given.where(given.notna(), pd.Series(derived, index=rows.index)).astype("str")
    not_index = given.notna().to_numpy() & is_index & (given != "index").fillna(False).to_numpy()
    if not_index.any():
        text = (
            "index: " + client + " is the index client of episode " + episode
            + " (named so, first in the file, or in the database); a client has one role in an "
            "episode"
        )  # fmt: skip
        problems.add(at(rows, not_index & ~bad, raw), "role", raw_values(raw, "role"),
                     spread(rows, text, raw))  # fmt: skip
        bad |= not_index
    rows_role = rows_index.assign(_who=_pair_key(episode, client, rater), _given=given)
    bad |= reject_groups(
        rows_role, raw, problems, "_who", "_given", "role", "role",
        ("one role per client and episode: this client is ", " on other rows of the episode"),
    )  # fmt: skip
    if len(existing.participants):
        stored = existing.participants.set_index(["episode_id", "client_id", "rater"])["role"]
        stored = stored[~stored.index.duplicated()]
        key = pd.MultiIndex.from_arrays([episode, client, rater])
        old_role = pd.Series(stored.reindex(key).to_numpy(), index=rows.index)
        differs = (old_role.notna() & given.notna() & (old_role != given)).to_numpy()
        if differs.any():
            text = "the role " + old_role.fillna("") + " that the database holds for " + client
            problems.add(at(rows, differs & ~bad, raw), "role", raw_values(raw, "role"),
                         spread(rows, text, raw))  # fmt: skip
            bad |= differs
    for name, formats in _ROLE_FORMATS.items():
        wrong = (given == name).fillna(False).to_numpy() & ~fmt.isin(formats).to_numpy()
        if wrong.any():
            text = (
                f"a role that fits the episode's format: {_ROLE_HINT[name]}, and episode "
                + episode + " is " + fmt + " (give the format column, or another role)"
            )  # fmt: skip
            problems.add(at(rows, wrong & ~bad, raw), "role", raw_values(raw, "role"),
                         spread(rows, text, raw))  # fmt: skip
            bad |= wrong

    bad |= _couples_of_two(rows, raw, problems, episode, client, fmt, index_of, self_rated,
                           existing)  # fmt: skip
    bad |= _one_therapist(rows, raw, problems, episode, fmt)
    index = index_of.groupby(episode, sort=False).first()
    return Roles(bad=bad, role=role.to_numpy(dtype=object), format=fmt.to_numpy(dtype=object),
                 index=index)  # fmt: skip


def _couples_of_two(
    rows: pd.DataFrame,
    raw: pd.DataFrame,
    problems: ProblemLog,
    episode: pd.Series,
    client: pd.Series,
    fmt: pd.Series,
    index_of: pd.Series,
    self_rated: np.ndarray,
    existing: Existing,
) -> np.ndarray:
    """A problem on the rows of a couple's third (fourth ...) client."""
    bad = np.zeros(len(rows), dtype=bool)
    couple = (fmt == "couple").to_numpy() & self_rated
    if not couple.any():
        return bad
    clients = pd.DataFrame({"episode": episode[couple], "client": client[couple]})
    stored = existing.participants
    if len(stored):
        stored = stored[
            (stored["rater"] == "client") & stored["episode_id"].isin(clients["episode"])
        ]
        clients = pd.concat(
            [
                stored.rename(columns={"episode_id": "episode", "client_id": "client"})[
                    ["episode", "client"]
                ],
                clients,
            ],
            ignore_index=True,
        )
    counts = clients.drop_duplicates().groupby("episode")["client"].size()
    crowded = set(counts.index[counts > 2])
    if not crowded:
        return bad
    for name in sorted(crowded):
        here = couple & (episode == name).to_numpy()
        people = list(dict.fromkeys([index_of[here].iloc[0], *clients.loc[
            clients["episode"] == name, "client"]]))  # fmt: skip
        extra = here & ~client.isin(people[:2]).to_numpy()
        problems.add(
            at(rows, extra, raw), "client", raw_values(raw, "client"),
            f"one of the couple's two clients ({', '.join(people[:2])}): episode {name} is a "
            f"couple episode and would have {len(people)} clients; a family episode (format "
            "family) has more",
        )  # fmt: skip
        bad |= extra
    return bad


def _one_therapist(
    rows: pd.DataFrame, raw: pd.DataFrame, problems: ProblemLog, episode: pd.Series, fmt: pd.Series
) -> np.ndarray:
    """A problem where the rows of one couple or family session name different therapists."""
    shared = fmt.isin(("couple", "family")).to_numpy() & ~rows["_only"].to_numpy(dtype=bool)
    if not shared.any():
        return np.zeros(len(rows), dtype=bool)
    session = _pair_key(episode, rows["session_date"].astype("str")).where(shared)
    frame = rows.assign(
        session=session, _therapist=rows["therapist"].astype("str").where(rows["therapist"].notna())
    )
    return reject_groups(
        frame, raw, problems, "session", "_therapist", "therapist", "therapist",
        ("one therapist per session of a couple or family (the rows of one episode on one date): "
         "another row of this session has ", ""),
    )  # fmt: skip


def participants(
    rows: pd.DataFrame, roles: np.ndarray, existing: Existing, started: pd.Series
) -> pd.DataFrame:
    """The participant rows the accepted ``rows`` need (``episode_participants``' columns).

    ``added_on`` is the participant's first date in the file when that is after the episode
    began (``started``: episode id -> start date, for the episodes in the file), else NULL (from
    the start). Rows the database already holds are left out.
    """
    frame = pd.DataFrame(
        {
            "episode_id": rows["episode"].astype("str").to_numpy(dtype=object),
            "client_id": rows["client"].astype("str").to_numpy(dtype=object),
            "role": roles,
            "rater": rows["rater"].astype("str").to_numpy(dtype=object),
            "date": rows["session_date"].to_numpy(dtype="datetime64[s]"),
        }
    )
    if not len(frame):
        return pd.DataFrame(
            {c: pd.Series(dtype="str") for c in ("episode_id", "client_id", "role", "rater")}
        ).assign(added_on=pd.Series(dtype="datetime64[s]"))
    grouped = frame.groupby(["episode_id", "client_id", "rater"], sort=True, observed=True)
    out = grouped.agg(role=("role", "first"), added_on=("date", "min")).reset_index()
    began = out["episode_id"].map(started).astype("datetime64[s]")
    out["added_on"] = out["added_on"].where(out["added_on"] > began)
    stored = existing.participants
    if len(stored):
        known = pd.MultiIndex.from_frame(stored[["episode_id", "client_id", "rater"]].astype("str"))
        key = pd.MultiIndex.from_frame(out[["episode_id", "client_id", "rater"]])
        out = out[~key.isin(known)]
    return out[["episode_id", "client_id", "role", "rater", "added_on"]].reset_index(drop=True)
