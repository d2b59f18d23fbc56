import datetime as dt
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.indices import (
    INDEX_COLUMNS,
    episode_outcomes,
    service_indices,
    severity_reference,
    suppress_small_cells,
)
from fitdata.config import ClinicalConfig
from fitdata.data import store
from fitdata.data.store import reader_for
from tests.builders import build_tiny_db, session_rows
from tests.oracles.indices_sql import service_indices_sql

Q1 = dt.date(2025, 1, 6)
Q2 = dt.date(2025, 4, 7)

# (episode, client, age group, team, therapist, ORS, SRS, end type, start, format)
# Team T1 (service "Voksne", therapist B1), adults, closed:
#   A 10 -> 20 (+10, improved, still clinical)      planned      Q1
#   B 20 -> 30 (+10, recovered)                     planned      Q1
#   C 15 -> 15 (0, unchanged)                       unplanned    Q1
#   D 30 -> 24 (-6, harmed: non-clinical -> clinical) unplanned  Q1
#   E 20 -> 15 (-5 exactly, deteriorated)           planned      Q1
#   F 18 -> 23 (+5 exactly, improved)               unplanned    Q2  (with effect)
#   G one ORS (20)                                  unplanned    Q2  (< 2 ORS)
#   H 28 -> 27 (unchanged, non-clinical at end)     transferred  Q2
# plus I 20 -> 22, ongoing (no end).
# Team T2 (service "Unge", therapist B2): adolescents P1-P4, one child P5, all planned.
SPECS = [
    ("EA", "KA", "adult", "T1", "B1", [10.0, None, 20.0], [38.0, 38.0, None], "planned", Q1),
    ("EB", "KB", "adult", "T1", "B1", [20.0, 30.0], [39.0, 39.0], "planned", Q1),
    ("EC", "KC", "adult", "T1", "B1", [15.0, 15.0], [35.0, None], "unplanned", Q1),
    ("ED", "KD", "adult", "T1", "B1", [30.0, 24.0], [36.0, 36.0], "unplanned", Q1),
    ("EE", "KE", "adult", "T1", "B1", [20.0, 18.0, 15.0], [40.0, 40.0, 40.0], "planned", Q1),
    ("EF", "KF", "adult", "T1", "B1", [18.0, 23.0], [37.0, 37.0], "unplanned", Q2),
    ("EG", "KG", "adult", "T1", "B1", [20.0, None], [None, None], "unplanned", Q2),
    ("EH", "KH", "adult", "T1", "B1", [28.0, 27.0], [39.0, 39.0], "transferred", Q2),
    ("EI", "KI", "adult", "T1", "B1", [20.0, 22.0], [39.0, 39.0], None, Q2),
    ("EP1", "KP1", "adolescent", "T2", "B2", [20.0, 26.0], [38.0, 38.0], "planned", Q1),
    ("EP2", "KP2", "adolescent", "T2", "B2", [22.0, 30.0], [38.0, 38.0], "planned", Q1),
    ("EP3", "KP3", "adolescent", "T2", "B2", [24.0, 25.0], [38.0, 38.0], "planned", Q1),
    ("EP4", "KP4", "adolescent", "T2", "B2", [18.0, 28.0], [38.0, 38.0], "planned", Q1),
    ("EP5", "KP5", "child", "T2", "B2", [25.0, 33.0], [38.0, 38.0], "planned", Q1),
]
CLOSED_T1 = [s for s in SPECS if s[3] == "T1" and s[7] is not None]


def build(path: Path) -> Path:
    frames, episodes = [], []
    for number, (ep, client, _age, team, ther, ors, srs, end_type, start, *_) in enumerate(SPECS):
        rows = session_rows(ep, client, ther, team, ors, srs, start=start, first_id=100 * number)
        frames.append(rows)
        last = rows["session_date"].max()
        episodes.append(
            {
                "episode_id": ep,
                "client_id": client,
                "therapist_id": ther,
                "team_id": team,
                "started": start,
                "ended": last if end_type else None,
                "end_type": end_type,
                "format": "couple" if ep == "EP1" else "individual",
            }
        )
    # A parent's rating must not count as the client's own.
    frames.append(
        session_rows(
            "EP5", "KP5", "B2", "T2", [5.0, 39.0], [None, None], rater="parent", first_id=9000
        )
    )
    with store.write_transaction(path, replace=True) as con:
        store.append_frame(
            con,
            "teams",
            pd.DataFrame(
                {"team_id": ["T1", "T2"], "name": ["Ett", "To"], "service": ["Voksne", "Unge"]}
            ),
        )
        store.append_frame(
            con,
            "therapists",
            pd.DataFrame(
                {"therapist_id": ["B1", "B2"], "name": ["Kari", "Ola"], "team_id": ["T1", "T2"]}
            ),
        )
        store.append_frame(
            con,
            "clients",
            pd.DataFrame(
                {
                    "client_id": [s[1] for s in SPECS],
                    "birth_year": [1980] * len(SPECS),
                    "age_group": [s[2] for s in SPECS],
                }
            ),
        )
        store.append_frame(con, "episodes", pd.DataFrame(episodes))
        store.append_frame(con, "sessions", pd.concat(frames, ignore_index=True))
    return path


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory):
    return reader_for(build(tmp_path_factory.mktemp("indices") / "indices.duckdb"))


def one(table: pd.DataFrame) -> pd.Series:
    assert len(table) == 1
    return table.iloc[0]


# --------------------------------------------------------------------------------------------
# episode_outcomes
# --------------------------------------------------------------------------------------------


def test_outcomes_on_the_tiny_database(tmp_path: Path) -> None:
    out = episode_outcomes(reader_for(build_tiny_db(tmp_path / "tiny.duckdb")))
    by_episode = out.set_index("episode_id")
    assert len(out) == 5  # parent rows of E4 are not a client-episode of their own
    child = by_episode.loc["E4"]
    assert (child.first_ors, child.last_ors, child.n_sessions) == (28.0, 30.0, 3)
    assert child.age_group == "child" and child.service == "Barn og unge"
    assert by_episode.loc["E2", "first_ors"] == by_episode.loc["E2", "last_ors"] == 20.0
    assert by_episode.loc["E3", "n_with_srs"] == 0 and math.isnan(by_episode.loc["E3", "first_srs"])
    assert by_episode.loc["E1", "first_srs"] == 38.0
    assert by_episode.loc["E5", "last_ors"] == 24.0


def test_outcomes_counts_and_first_last_skip_missing(reader) -> None:
    out = episode_outcomes(reader).set_index("episode_id")
    a = out.loc["EA"]
    assert (a.n_sessions, a.n_with_ors, a.n_with_srs) == (3, 2, 2)
    assert (a.first_ors, a.last_ors, a.first_srs) == (10.0, 20.0, 38.0)
    g = out.loc["EG"]
    assert (g.n_with_ors, g.first_ors, g.last_ors) == (1, 20.0, 20.0)
    assert out.loc["EP5", "first_ors"] == 25.0  # not the parent's 5.0


def test_filters(reader) -> None:
    assert set(episode_outcomes(reader, service="Unge")["client_id"]) == {
        "KP1",
        "KP2",
        "KP3",
        "KP4",
        "KP5",
    }
    assert len(episode_outcomes(reader, team_id=["T1", "T2"])) == len(SPECS)
    assert len(episode_outcomes(reader, therapist_id="B1")) == 9
    assert set(episode_outcomes(reader, age_group="child")["client_id"]) == {"KP5"}
    assert list(episode_outcomes(reader, format="couple")["episode_id"]) == ["EP1"]
    closed = episode_outcomes(reader, closed_only=True)
    assert "EI" not in set(closed["episode_id"]) and len(closed) == len(SPECS) - 1
    # Period by ending date (default): ongoing EI has no end and is left out.
    q2 = episode_outcomes(reader, start=dt.date(2025, 4, 1), end=dt.date(2025, 6, 30))
    assert set(q2["episode_id"]) == {"EF", "EG", "EH"}
    q2_started = episode_outcomes(
        reader, start=dt.date(2025, 4, 1), end=dt.date(2025, 6, 30), date_field="started"
    )
    assert set(q2_started["episode_id"]) == {"EF", "EG", "EH", "EI"}
    # Inclusive bounds: EF ends exactly on 2025-04-14.
    assert set(
        episode_outcomes(reader, start=dt.date(2025, 4, 14), end=dt.date(2025, 4, 14))["episode_id"]
    ) == {"EF", "EG", "EH"}
    assert (
        episode_outcomes(reader, end=dt.date(2025, 4, 13))["episode_id"]
        .isin(["EF", "EG", "EH"])
        .sum()
        == 0
    )
    with pytest.raises(ValueError, match="date_field"):
        episode_outcomes(reader, date_field="session")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# service_indices: known numbers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t1(reader) -> pd.Series:
    out = episode_outcomes(reader, team_id="T1", closed_only=True)
    return one(service_indices(out))


def test_counts(t1: pd.Series) -> None:
    assert t1.clients == 8 and t1.clients_adult == 8 and t1.clients_child == 0
    assert t1.episodes == 8 and t1.episodes_lt2_ors == 1 and t1.episodes_with_change == 7
    assert not t1.suppressed


def test_effect_size_and_ci(t1: pd.Series) -> None:
    change_set = [s for s in CLOSED_T1 if sum(v is not None for v in s[5]) >= 2]
    pre = [next(v for v in s[5] if v is not None) for s in change_set]
    post = [next(v for v in reversed(s[5]) if v is not None) for s in change_set]
    change = [b - a for a, b in zip(pre, post, strict=True)]
    assert change == [10.0, 10.0, 0.0, -6.0, -5.0, 5.0, -1.0]
    d = statistics.mean(change) / statistics.stdev(pre)
    assert t1.change_mean == pytest.approx(13 / 7)
    assert t1.effect_size == pytest.approx(d)
    n = len(pre)
    r = float(np.corrcoef(pre, post)[0, 1])
    se = math.sqrt(2 * (1 - r) / n + d**2 / (2 * n))
    assert t1.effect_size_ci_low == pytest.approx(d - 1.959964 * se)
    assert t1.effect_size_ci_high == pytest.approx(d + 1.959964 * se)
    # Over the whole set, the severity-adjusted effect size is the raw one.
    assert t1.severity_adjusted_es == pytest.approx(d)
    assert t1.intake_ors_mean == pytest.approx(statistics.mean([*pre, 20.0]))


def test_categories_target_and_endings(t1: pd.Series) -> None:
    assert t1.pct_recovered == pytest.approx(100 / 7)  # B
    assert t1.pct_improved == pytest.approx(200 / 7)  # A, F (+5.0 exactly)
    assert t1.pct_unchanged == pytest.approx(200 / 7)  # C, H
    assert t1.pct_deteriorated == pytest.approx(100 / 7)  # E (-5.0 exactly)
    assert t1.pct_harmed == pytest.approx(100 / 7)  # D
    assert t1.pct_target == pytest.approx(400 / 7)  # A, B, F improved; H ends non-clinical
    assert t1.closed_episodes == 8
    assert t1.pct_planned == pytest.approx(37.5)  # A, B, E
    assert t1.pct_unplanned == pytest.approx(50.0)  # C, D, F, G
    assert t1.pct_unplanned_with_effect == pytest.approx(12.5)  # F
    assert t1.pct_unplanned_without_effect == pytest.approx(37.5)  # C, D, G (< 2 ORS)
    assert t1.pct_transferred == pytest.approx(12.5)  # H


def test_completeness_sessions_and_length(t1: pd.Series) -> None:
    sessions = sum(len(s[5]) for s in CLOSED_T1)
    with_ors = sum(v is not None for s in CLOSED_T1 for v in s[5])
    with_srs = sum(v is not None for s in CLOSED_T1 for v in s[6])
    assert (sessions, with_ors, with_srs) == (18, 16, 14)
    assert t1.sessions == sessions
    assert t1.pct_sessions_with_ors == pytest.approx(100 * 16 / 18)
    assert t1.pct_sessions_with_srs == pytest.approx(100 * 14 / 18)
    counts = [len(s[5]) for s in CLOSED_T1]
    assert t1.sessions_mean == pytest.approx(statistics.mean(counts))
    assert t1.sessions_sd == pytest.approx(statistics.stdev(counts))
    assert t1.length_days_mean == pytest.approx(statistics.mean([7 * (c - 1) for c in counts]))


def test_config_tie_rules_flow_through(reader) -> None:
    out = episode_outcomes(reader, team_id="T1", closed_only=True)
    strict = one(service_indices(out, config=ClinicalConfig(change_at_threshold_is_reliable=False)))
    # +5.0 (F) and -5.0 (E) are no longer reliable: F unchanged, E unchanged.
    assert strict.pct_improved == pytest.approx(100 / 7)
    assert strict.pct_deteriorated == 0.0
    assert strict.pct_unplanned_with_effect == 0.0


def test_severity_adjusted_effect_size_by_group(reader) -> None:
    """Each client-episode against its own service's line, over that service's SD of intake."""
    out = episode_outcomes(reader, closed_only=True)
    table = service_indices(out, by=["team_id", "age_group"], suppress=False)
    table = table.set_index(["team_id", "age_group"])
    change_rows = out[out["n_with_ors"] >= 2]
    for service, team in (("Voksne", "T1"), ("Unge", "T2")):
        rows = change_rows[change_rows["service"] == service]
        x = rows["first_ors"].to_numpy()
        y = (rows["last_ors"] - rows["first_ors"]).to_numpy()
        slope, intercept = np.polyfit(x, y, 1)
        standardised = (y - (intercept + slope * x) + y.mean()) / x.std(ddof=1)
        for age in rows["age_group"].unique():
            mask = (rows["age_group"] == age).to_numpy()
            expected = standardised[mask].mean()
            assert table.loc[(team, age), "severity_adjusted_es"] == pytest.approx(expected)
        line = table.attrs["severity_adjustment"][service]
        assert line["slope"] == pytest.approx(slope)
        assert line["sd_intake"] == pytest.approx(x.std(ddof=1))
        # Over a whole service (its own reference), it is the raw effect size.
        whole = one(service_indices(out[out["service"] == service], suppress=False))
        assert whole.severity_adjusted_es == pytest.approx(y.mean() / x.std(ddof=1))
    # T2's child and adolescents differ from each other, not from T2 as a whole.
    t2 = table.loc["T2"]
    assert t2.loc["child", "severity_adjusted_es"] != pytest.approx(
        t2.loc["adolescent", "severity_adjusted_es"]
    )


def test_one_reference_gives_a_group_the_same_value_in_any_selection(reader) -> None:
    """With the service's reference passed in, filtering the rows changes no group's value."""
    out = episode_outcomes(reader, closed_only=True)
    reference = severity_reference(out)
    whole = service_indices(out, by=["team_id", "age_group"], reference=reference, suppress=False)
    adolescents = episode_outcomes(reader, closed_only=True, age_group="adolescent")
    alone = service_indices(adolescents, by=["team_id"], reference=reference, suppress=False)
    expected = whole.set_index(["team_id", "age_group"]).loc[("T2", "adolescent")]
    got = alone.set_index("team_id").loc["T2"]
    assert got["severity_adjusted_es"] == pytest.approx(expected["severity_adjusted_es"])
    # Without the reference the adolescents become their own reference: another number.
    own = one(service_indices(adolescents, suppress=False))
    assert own.severity_adjusted_es == pytest.approx(own.effect_size)
    assert own.severity_adjusted_es != pytest.approx(got["severity_adjusted_es"])
    # A service missing from the reference gets no adjusted value rather than a wrong one.
    partial = service_indices(out, by=["team_id"], reference={"Unge": reference["Unge"]})
    partial = partial.set_index("team_id")
    assert np.isnan(partial.loc["T1", "severity_adjusted_es"])
    assert not np.isnan(partial.loc["T2", "severity_adjusted_es"])


def test_periods_by_quarter(reader) -> None:
    out = episode_outcomes(reader, team_id="T1")
    table = service_indices(out, period="quarter", suppress=False)
    assert list(table["period"]) == ["2025Q1", "2025Q2"]  # ongoing EI has no end: left out
    q1, q2 = table.iloc[0], table.iloc[1]
    assert (q1.clients, q2.clients) == (5, 3)
    assert q1.pct_unplanned == pytest.approx(40.0)
    assert q2.pct_unplanned == pytest.approx(200 / 3)
    shown = service_indices(out, period="quarter")
    assert list(shown["suppressed"]) == [False, True]
    by_start = service_indices(out, period="quarter", date_column="started", suppress=False)
    assert list(by_start["clients"]) == [5, 4]
    yearly = service_indices(out, period="year", by=["service"], suppress=False)
    assert list(yearly["period"]) == ["2025"] and list(yearly["service"]) == ["Voksne"]
    with pytest.raises(ValueError, match="period"):
        service_indices(out, period="week")  # type: ignore[arg-type]


def test_empty_selection_gives_empty_table(reader) -> None:
    out = episode_outcomes(reader, team_id="nope")
    table = service_indices(out, by=["team_id"])
    assert table.empty and "suppressed" in table.columns


# --------------------------------------------------------------------------------------------
# Suppression
# --------------------------------------------------------------------------------------------


def test_five_clients_shown_four_suppressed(reader) -> None:
    five = one(service_indices(episode_outcomes(reader, team_id="T2")))
    assert five.clients == 5 and not five.suppressed and five.effect_size > 0
    four = one(service_indices(episode_outcomes(reader, team_id="T2", age_group="adolescent")))
    assert four.suppressed
    assert all(math.isnan(four[c]) for c in INDEX_COLUMNS)


def test_suppressed_rows_keep_keys_only(reader) -> None:
    out = episode_outcomes(reader, closed_only=True)
    table = service_indices(out, by=["team_id", "age_group"]).set_index(["team_id", "age_group"])
    assert not table.loc[("T1", "adult"), "suppressed"]
    for key in [("T2", "adolescent"), ("T2", "child")]:
        row = table.loc[key]
        assert row["suppressed"] and row[list(INDEX_COLUMNS)].isna().all()


def test_helper_threshold_both_sides_and_subgroup_counts() -> None:
    table = pd.DataFrame(
        {
            "team": ["a", "b", "c", "d"],
            "clients": [4, 5, 30, 30],
            "clients_child": [1, 1, 3, 0],
            "clients_adolescent": [1, 4, 7, 0],
            "clients_adult": [2, 0, 20, 30],
            "mean": [1.0, 2.0, 3.0, 4.0],
        }
    )
    table.attrs["group_keys"] = ["team"]
    out = suppress_small_cells(table)
    assert list(out["suppressed"]) == [True, False, False, False]
    assert out.loc[0, "team"] == "a" and out.loc[0, ["clients", "mean"]].isna().all()
    assert out.loc[1, "clients"] == 5 and out.loc[1, "mean"] == 2.0
    # Row b: both 1-4 sub-counts hidden, the zero shown.
    assert out.loc[1, ["clients_child", "clients_adolescent"]].isna().all()
    assert out.loc[1, "clients_adult"] == 0
    # Row c: one small sub-count (3) -> the next smallest (7) hidden too, 20 shown.
    assert out.loc[2, ["clients_child", "clients_adolescent"]].isna().all()
    assert out.loc[2, "clients_adult"] == 20
    assert out.loc[3, "clients_adult"] == 30 and out.loc[3, "clients_child"] == 0
    # Already-suppressed input stays suppressed (idempotent).
    again = suppress_small_cells(out)
    assert again["suppressed"].tolist() == out["suppressed"].tolist()
    # A larger minimum from the config.
    assert suppress_small_cells(table, config=ClinicalConfig(min_cell_size=6))[
        "suppressed"
    ].tolist() == [True, True, False, False]


# --------------------------------------------------------------------------------------------
# Demo database smoke test
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    from fitdata.demo import generate_demo

    path = tmp_path_factory.mktemp("demo_indices") / "demo.duckdb"
    generate_demo(path, sessions=20_000, seed=3, end_date=dt.date(2026, 10, 31))
    return reader_for(path)


def _no_small_counts_visible(table: pd.DataFrame) -> None:
    for column in ["clients", *[c for c in table.columns if c.startswith("clients_")]]:
        values = table[column].dropna()
        assert not ((values >= 1) & (values <= 4)).any(), column


def test_demo_database_is_plausible(demo) -> None:
    out = episode_outcomes(demo, closed_only=True)
    total = one(service_indices(out))
    assert 0.5 <= total.effect_size <= 1.3
    assert total.effect_size_ci_low < total.effect_size < total.effect_size_ci_high
    assert 0.5 <= total.severity_adjusted_es <= 1.3
    assert 8 <= total.pct_unplanned <= 20
    assert total.pct_unplanned == pytest.approx(
        total.pct_unplanned_with_effect + total.pct_unplanned_without_effect
    )
    categories = ["pct_recovered", "pct_improved", "pct_unchanged", "pct_deteriorated"]
    assert sum(total[c] for c in [*categories, "pct_harmed"]) == pytest.approx(100)
    assert total.pct_sessions_with_ors > 90
    for by, period in [
        (["service"], None),
        (["team_id"], "quarter"),
        (["therapist_id"], "month"),
        (["team_id", "age_group", "format"], "year"),
    ]:
        table = service_indices(out, by=by, period=period)
        _no_small_counts_visible(table)
        assert table["suppressed"].dtype == bool
        shown = table[~table["suppressed"]]
        assert (shown["clients"] >= 5).all()
    by_service = service_indices(out, by=["service"])
    assert by_service["effect_size"].between(0.5, 1.3).all()
    assert by_service["pct_unplanned"].between(8, 20).all()


# --------------------------------------------------------------------------------------------
# SQL path: the same table, computed in DuckDB
# --------------------------------------------------------------------------------------------

SQL_CASES = [
    ({}, {}),
    ({"by": ["team_id"]}, {}),
    ({"by": ["team_id"], "period": "quarter"}, {}),
    ({"by": ["therapist_id"], "period": "month"}, {"closed_only": True}),
    ({"by": ["team_id", "age_group", "format"], "period": "year"}, {}),
    ({"period": "quarter", "date_column": "started"}, {"date_field": "started"}),
    ({"by": ["service"]}, {"age_group": ["adolescent", "child"]}),
    ({"by": ["end_type"], "suppress": False}, {"start": dt.date(2025, 1, 1)}),
    ({}, {"team_id": "nope"}),
]


def _same_table(sql: pd.DataFrame, pandas_: pd.DataFrame) -> None:
    assert list(sql.columns) == list(pandas_.columns)
    assert sql.attrs["group_keys"] == pandas_.attrs["group_keys"]
    if pandas_.empty:
        assert sql.empty
        return
    pd.testing.assert_frame_equal(
        sql.reset_index(drop=True),
        pandas_.reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
        atol=1e-9,
    )
    reference = pandas_.attrs["severity_adjustment"]
    assert set(sql.attrs["severity_adjustment"]) == set(reference)
    for service, line in reference.items():
        for name, value in line.items():
            got = sql.attrs["severity_adjustment"][service][name]
            assert got == pytest.approx(value, nan_ok=True)


@pytest.mark.parametrize(("grouping", "filters"), SQL_CASES)
def test_sql_path_gives_the_same_table_on_demo_data(demo, grouping, filters) -> None:
    expected = service_indices(episode_outcomes(demo, **filters), **grouping)
    _same_table(service_indices_sql(demo, **grouping, **filters), expected)


@pytest.mark.parametrize(
    "config",
    [
        ClinicalConfig(),
        ClinicalConfig(change_at_threshold_is_reliable=False),
        ClinicalConfig(score_at_cutoff_is_clinical=True, min_cell_size=3),
    ],
)
def test_sql_path_follows_the_tie_rules_on_the_hand_built_database(reader, config) -> None:
    for grouping in ({}, {"by": ["team_id"]}, {"period": "quarter"}):
        expected = service_indices(episode_outcomes(reader), config=config, **grouping)
        _same_table(service_indices_sql(reader, config=config, **grouping), expected)


def test_sql_path_refuses_unknown_groupings(reader) -> None:
    with pytest.raises(ValueError, match="cannot group by"):
        service_indices_sql(reader, by=["session_date; DROP TABLE sessions"])
    with pytest.raises(ValueError, match="period"):
        service_indices_sql(reader, period="week")  # type: ignore[arg-type]
