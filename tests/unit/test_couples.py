"""Couple outcomes (issue 20): the pandas and the DuckDB versions agree, and the rule's edges.

:func:`fitdata.analytics.couples.couple_outcomes` (pandas) and the SQL of
:func:`fitdata.analytics.couples.couple_query` (:data:`COUPLE_SELECT` over ``category_query``'s
client-episodes) are run on the same client-episode rows, random ones (hypothesis) and a
demo's; a hand-made database checks the thresholds' ties for each partner's own age group.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitdata.analytics.couples import (
    COUPLE_COLUMNS,
    COUPLE_SELECT,
    as_flags,
    couple_outcomes,
    couple_query,
)
from fitdata.analytics.outcomes import category_query
from fitdata.data.store import reader_for
from tests.builders import session_rows, write_database

CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated", "harmed")


def _select_over(rows: pd.DataFrame) -> pd.DataFrame:
    """:data:`COUPLE_SELECT` run by DuckDB over ``rows`` as the relation ``z``."""
    con = duckdb.connect()
    con.register("rows_frame", rows)
    sql = "WITH z AS (SELECT * FROM rows_frame)" + COUPLE_SELECT
    return as_flags(con.execute(sql).df())


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a[list(COUPLE_COLUMNS)].reset_index(drop=True)
    b = b[list(COUPLE_COLUMNS)].reset_index(drop=True)
    a["ended"] = pd.to_datetime(a["ended"])
    b["ended"] = pd.to_datetime(b["ended"])
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


@st.composite
def client_episodes(draw: st.DrawFn) -> pd.DataFrame:
    """Client-episode rows of a few episodes: couples (one to three partners) and others."""
    rows = []
    for number in range(draw(st.integers(0, 12))):
        fmt = draw(st.sampled_from(["couple", "couple", "individual", "family"]))
        ended = draw(st.sampled_from([None, dt.date(2025, 3, 1), dt.date(2025, 8, 9)]))
        team = draw(st.sampled_from(["T1", "T2"]))
        for partner in range(draw(st.integers(1, 3))):
            has_change = draw(st.booleans())
            rows.append(
                {
                    "episode_id": f"E{number:02d}",
                    "client_id": f"C{number:02d}-{partner}",
                    "team_id": team,
                    "format": fmt,
                    "ended": ended,
                    "has_change": has_change,
                    "category": draw(st.sampled_from(CATEGORIES)) if has_change else None,
                }
            )
    columns = ["episode_id", "client_id", "team_id", "format", "ended", "has_change", "category"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ended"] = pd.to_datetime(frame["ended"])
    frame["has_change"] = frame["has_change"].astype(bool)
    frame["category"] = frame["category"].astype(object)
    return frame


@settings(max_examples=150, deadline=None)
@given(client_episodes())
def test_pandas_and_sql_agree_on_any_rows(rows: pd.DataFrame) -> None:
    got = couple_outcomes(rows)
    _same(got, _select_over(rows))
    included = got[got["eligible"]]
    # exactly one of both / one / neither per included couple; none for the others
    exactly = included[["both_improved", "one_improved", "neither_improved"]].sum(axis=1)
    assert (exactly == 1).all()
    assert not got.loc[~got["eligible"], ["both_improved", "one_improved"]].to_numpy().any()
    assert (~included["both_recovered"] | included["both_improved"]).all()
    assert (got["partners"] == 2).where(got["eligible"], True).all()


def test_pandas_and_sql_agree_on_a_demo(demo_db: Path) -> None:
    reader = reader_for(demo_db)
    sql, params = couple_query()
    in_sql = as_flags(reader.df(sql, params))
    rows_sql, rows_params = category_query("SELECT * FROM z", format="couple", closed_only=True)
    in_pandas = couple_outcomes(reader.df(rows_sql, rows_params))
    assert len(in_sql) > 10 and in_sql["eligible"].sum() > 5
    _same(in_sql, in_pandas)


def _couple_db(path: Path, partners: list[tuple[str, str, list[float]]]) -> Path:
    """One team, one couple episode per pair of ``partners`` (client, age group, ORS totals)."""
    sessions, episodes, clients = [], [], []
    for number in range(0, len(partners), 2):
        episode = f"E{number // 2}"
        start = dt.date(2025, 1, 6)
        for offset, (client, age_group, ors) in enumerate(partners[number : number + 2]):
            sessions.append(
                session_rows(
                    episode,
                    client,
                    "P1",
                    "T1",
                    ors,
                    [38.0] * len(ors),
                    start=start,
                    first_id=1 + 100 * number + 50 * offset,
                )
            )
            clients.append({"client_id": client, "age_group": age_group})
        weeks = max(len(p[2]) for p in partners[number : number + 2])
        episodes.append(
            {
                "episode_id": episode,
                "client_id": partners[number][0],
                "therapist_id": "P1",
                "team_id": "T1",
                "started": start,
                "ended": start + dt.timedelta(weeks=weeks),
                "end_type": "planned",
                "format": "couple",
            }
        )
    return write_database(
        path,
        teams=pd.DataFrame({"team_id": ["T1"], "name": ["Team"], "service": ["S"]}),
        therapists=pd.DataFrame({"therapist_id": ["P1"], "name": ["P"], "team_id": ["T1"]}),
        clients=pd.DataFrame(clients),
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(sessions, ignore_index=True),
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # +5.0 is reliable (the tie), +4.9 is not
        (("adult", [15.0, 20.0]), ("adult", [15.0, 19.9]), "one_improved"),
        (("adult", [15.0, 20.0]), ("adult", [10.0, 15.0]), "both_improved"),
        (("adult", [15.0, 19.9]), ("adult", [30.0, 20.0]), "neither_improved"),
        # recovered: below the partner's own cutoff at first, at it (25 adult, 28 adolescent) last
        (("adult", [20.0, 25.0]), ("adolescent", [23.0, 28.0]), "both_recovered"),
        (("adult", [20.0, 25.0]), ("adolescent", [22.0, 27.9]), "both_improved"),
    ],
)
def test_ties_of_each_partners_own_thresholds(
    tmp_path: Path, a: tuple[str, list[float]], b: tuple[str, list[float]], expected: str
) -> None:
    path = _couple_db(tmp_path / "c.duckdb", [("K-1", *a), ("K-2", *b)])
    sql, params = couple_query()
    row = as_flags(reader_for(path).df(sql, params)).iloc[0]
    assert row["eligible"]
    flags = {f for f in ("both_improved", "one_improved", "neither_improved") if row[f]}
    if expected == "both_recovered":
        assert row["both_recovered"] and flags == {"both_improved"}
    else:
        assert not row["both_recovered"] and flags == {expected}


def test_a_partner_with_one_ors_leaves_the_couple_out(tmp_path: Path) -> None:
    path = _couple_db(
        tmp_path / "c.duckdb",
        [("K-1", "adult", [15.0, 25.0]), ("K-2", "adult", [15.0]), ("K-3", "adult", [10.0, 20.0])],
    )
    sql, params = couple_query()
    frame = as_flags(reader_for(path).df(sql, params))
    first = frame.iloc[0]
    assert first["partners"] == 2 and first["partners_with_change"] == 1
    assert not first["eligible"] and not first[["both_improved", "one_improved"]].any()
    # an episode in which only one client rated (the partner has no sessions) is left out too
    second = frame.iloc[1]
    assert second["partners"] == 1 and not second["eligible"]


def test_stored_couples_equal_fresh_ones_and_hold_no_ids(demo_db: Path, tmp_path: Path) -> None:
    import shutil

    from fitdata.config import DEFAULT_CONFIG
    from fitdata.data import cache
    from fitdata.features.service.couples import couple_facts, stored_couple_facts

    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    reader = reader_for(path)
    fresh = couple_facts(reader, DEFAULT_CONFIG)
    first = stored_couple_facts(reader, DEFAULT_CONFIG)  # computed and stored
    entries = list(cache.cache_dir(path).glob("service_couples-*.json"))
    assert len(entries) == 1
    text = entries[0].read_text("utf-8")
    assert not any(e in text for e in reader.df("SELECT episode_id FROM episodes")["episode_id"])
    second = stored_couple_facts(reader, DEFAULT_CONFIG)  # read back
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(second, fresh)


def test_the_stored_couples_key_fingerprints_the_code_that_computes_them() -> None:
    """Every analytics, config and vocabulary module the couples' rows are computed with."""
    from fitdata.features.service.couples import COUPLE_FACTS_CODE_MODULES
    from tests.unit.test_layers import imports, read_modules

    root = Path(__file__).resolve().parents[2]
    edges, _ = imports(read_modules(root), root)
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    prefixes = ("fitdata.analytics", "fitdata.config", "fitdata.vocabulary")
    seen, todo = {"fitdata.analytics.couples"}, ["fitdata.analytics.couples"]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target.startswith(prefixes) and target not in seen:
                seen.add(target)
                todo.append(target)
    assert {"fitdata.analytics.outcomes", "fitdata.config"} <= seen  # the walk works
    assert seen - set(COUPLE_FACTS_CODE_MODULES) == set()
