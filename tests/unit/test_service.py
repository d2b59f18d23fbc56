"""The service summary's numbers, checked by hand on a tiny database.

The database (``build_service_db``, also used by the report and dashboard tests):

- Service "Voksen": team Alfa (TA), team Beta (TB), team Gamma (TC, only 3 clients);
  service "Ung": team Delta (TD, 5 clients).
- 2025Q3: every client has one individual episode of three weekly sessions from 2025-07-07,
  ended 2025-07-21. 2025Q2: six more Alfa clients (complete SRS), ended 2025-04-21.
- Alfa in 2025Q3: ORS first -> last 10->20, 10->20, 10->12, 20->30, 15->14, 22->16 (adult cutoff
  25, reliable change 5): improved, improved, unchanged, recovered, unchanged, deteriorated;
  3 of 6 reach target. The first session of A1, A2 and A3 has no SRS: 15 of 18 sessions
  with SRS.
- Beta in 2025Q3: six clients 12->20 each (all improved); B1 ended unplanned after
  improvement, B2 unplanned without effect.
- Gamma: three clients whose ORS totals end in .7 (7.7 -> 13.7), so a leaked value is
  recognisable in any output.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.indices import episode_outcomes, service_indices
from fitdata.analytics.intervals import wilson_interval
from fitdata.data.store import ReadScope, reader_for
from fitdata.features.service import (
    PeriodError,
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
)
from tests.builders import session_rows, write_database

Q3 = dt.date(2025, 7, 7)
Q2 = dt.date(2025, 4, 7)

#: (client, team, start, ors, srs, end_type)
CLIENTS: list[tuple[str, str, dt.date, list[float], list[float | None], str]] = [
    ("A1", "TA", Q3, [10.0, 15.0, 20.0], [None, 38.0, 38.0], "planned"),
    ("A2", "TA", Q3, [10.0, 15.0, 20.0], [None, 38.0, 38.0], "planned"),
    ("A3", "TA", Q3, [10.0, 11.0, 12.0], [None, 38.0, 38.0], "planned"),
    ("A4", "TA", Q3, [20.0, 25.0, 30.0], [38.0, 38.0, 38.0], "planned"),
    ("A5", "TA", Q3, [15.0, 14.0, 14.0], [38.0, 38.0, 38.0], "planned"),
    ("A6", "TA", Q3, [22.0, 19.0, 16.0], [38.0, 38.0, 38.0], "planned"),
    *[(f"A{7 + i}", "TA", Q2, [15.0, 18.0, 21.0], [37.0, 37.0, 37.0], "planned") for i in range(6)],
    ("B1", "TB", Q3, [12.0, 16.0, 20.0], [36.0, 37.0, 38.0], "unplanned"),
    ("B2", "TB", Q3, [12.0, 12.0, 12.0], [36.0, 37.0, 38.0], "unplanned"),
    *[(f"B{3 + i}", "TB", Q3, [12.0, 16.0, 20.0], [36.0, 37.0, 38.0], "planned") for i in range(4)],
    *[
        (f"C{1 + i}", "TC", Q3, [7.7, 10.7, 13.7], [33.7, 33.7, 33.7], "unplanned")
        for i in range(3)
    ],
    *[(f"D{1 + i}", "TD", Q3, [18.0, 21.0, 24.0], [39.0, 39.0, 39.0], "planned") for i in range(5)],
]


def build_service_db(path: Path) -> Path:
    """Write the database described in the module docstring."""
    teams = pd.DataFrame(
        {
            "team_id": ["TA", "TB", "TC", "TD"],
            "name": ["Alfa", "Beta", "Gamma", "Delta"],
            "service": ["Voksen", "Voksen", "Voksen", "Ung"],
        }
    )
    therapists = pd.DataFrame(
        {
            "therapist_id": ["PA", "PB", "PC", "PD"],
            "name": ["Anne", "Bjørn", "Cecilie", "Dag"],
            "team_id": ["TA", "TB", "TC", "TD"],
        }
    )
    frames, episodes, clients = [], [], []
    for number, (client, team, start, ors, srs, end_type) in enumerate(CLIENTS):
        episode = f"E-{client}"
        frames.append(
            session_rows(
                episode,
                client,
                f"P{team[1]}",
                team,
                ors,
                srs,
                start=start,
                first_id=1 + 10 * number,
            )
        )
        episodes.append(
            {
                "episode_id": episode,
                "client_id": client,
                "therapist_id": f"P{team[1]}",
                "team_id": team,
                "started": start,
                "ended": start + dt.timedelta(weeks=len(ors) - 1),
                "end_type": end_type,
                "format": "individual",
            }
        )
        clients.append({"client_id": client, "birth_year": 1980, "age_group": "adult"})
    return write_database(
        path,
        teams=teams,
        therapists=therapists,
        clients=pd.DataFrame(clients),
        episodes=pd.DataFrame(episodes),
        sessions=pd.concat(frames, ignore_index=True),
    )


@pytest.fixture(scope="module")
def service_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_service_db(tmp_path_factory.mktemp("service") / "service.duckdb")


@pytest.fixture(scope="module")
def summary(service_db):
    return service_summary(reader_for(service_db), ServiceFilters(parse_period("2025Q3")))


# -- periods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "start", "end"),
    [
        ("2025Q3", "quarter", dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
        ("2025-07", "month", dt.date(2025, 7, 1), dt.date(2025, 7, 31)),
        ("2025-7", "month", dt.date(2025, 7, 1), dt.date(2025, 7, 31)),
        ("2024", "year", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        ("2025Q1..2025Q3", "quarter", dt.date(2025, 1, 1), dt.date(2025, 9, 30)),
        ("2024-02..2024-02", "month", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ],
)
def test_periods_are_read(text, unit, start, end):
    period = parse_period(text)
    assert (period.unit, period.start, period.end) == (unit, start, end)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2025Q5", "cannot read"),
        ("2025-13", "month must be 01-12"),
        ("Q3 2025", "cannot read"),
        ("", "no period"),
        ("2025Q1..2025-07", "different kinds"),
        ("2025Q3..2025Q1", "ends before it starts"),
    ],
)
def test_bad_periods_say_what_is_accepted(text, words):
    with pytest.raises(PeriodError, match=words) as caught:
        parse_period(text)
    assert "2025Q3" in str(caught.value) or "earlier" in str(caught.value)


def test_trend_window_is_eight_quarters_up_to_the_period():
    assert parse_period("2025-08").trend_quarters() == [
        "2023Q4",
        "2024Q1",
        "2024Q2",
        "2024Q3",
        "2024Q4",
        "2025Q1",
        "2025Q2",
        "2025Q3",
    ]
    assert parse_period("2022..2025").trend_quarters()[0] == "2022Q1"


def test_wilson_interval_matches_the_textbook_value():
    # 3 of 6: p = .5, centre .5, half-width 1.96 * sqrt(.25/6 + 1.96^2/144) / (1 + 1.96^2/6)
    low, high = wilson_interval([3], [6])
    assert low[0] == pytest.approx(18.76, abs=0.01)
    assert high[0] == pytest.approx(81.24, abs=0.01)
    low, high = wilson_interval([0], [0])
    assert math.isnan(low[0]) and math.isnan(high[0])


# -- numbers by hand ------------------------------------------------------------------------


def _row(table: pd.DataFrame, team: str) -> pd.Series:
    return table.set_index("team_id").loc[team]


def test_team_numbers_by_hand(summary):
    alfa = _row(summary.teams, "TA")
    assert alfa["clients"] == 6
    assert alfa["pct_recovered"] == pytest.approx(100 / 6)
    assert alfa["pct_improved"] == pytest.approx(200 / 6)
    assert alfa["pct_unchanged"] == pytest.approx(200 / 6)
    assert alfa["pct_deteriorated"] == pytest.approx(100 / 6)
    assert alfa["pct_target"] == pytest.approx(50.0)
    assert alfa["pct_target_ci_low"] == pytest.approx(18.76, abs=0.01)
    assert alfa["intake_ors_mean"] == pytest.approx((10 + 10 + 10 + 20 + 15 + 22) / 6)
    assert alfa["sessions_mean"] == 3
    beta = _row(summary.teams, "TB")
    assert beta["pct_unplanned"] == pytest.approx(200 / 6)
    assert beta["pct_unplanned_with_effect"] == pytest.approx(100 / 6)
    assert beta["pct_unplanned_without_effect"] == pytest.approx(100 / 6)
    assert beta["pct_improved"] == pytest.approx(500 / 6)


def test_teams_are_ordered_by_name_not_by_a_value(summary):
    assert list(summary.teams["name"]) == ["Alfa", "Beta", "Delta", "Gamma"]
    assert list(summary.completeness_team["name"]) == ["Alfa", "Beta", "Delta", "Gamma"]


def test_completeness_by_hand(summary):
    alfa = _row(summary.completeness_team, "TA")
    assert alfa["sessions"] == 18
    assert alfa["pct_sessions_with_ors"] == 100
    assert alfa["pct_sessions_with_srs"] == pytest.approx(100 * 15 / 18)
    trend = summary.completeness_trend.set_index("quarter")
    # 2025Q2: six Alfa clients, every SRS given; 2025Q3: 17 shown clients + Gamma's 3 + Delta 5
    assert trend.at["2025Q2", "sessions"] == 18
    assert trend.at["2025Q2", "pct_sessions_with_srs"] == 100
    assert trend.at["2025Q3", "sessions"] == 3 * (6 + 6 + 3 + 5)
    assert trend.at["2025Q3", "pct_sessions_with_srs"] == pytest.approx(100 * 57 / 60)
    assert bool(trend.at["2024Q4", "suppressed"])  # no sessions at all: shown as suppressed


def test_headline_of_a_quarter_equals_its_trend_row(summary):
    head = summary.headline.iloc[0]
    row = summary.trend.set_index("quarter").loc["2025Q3"]
    for column in ("clients", "pct_target", "effect_size", "severity_adjusted_es"):
        assert head[column] == pytest.approx(row[column], nan_ok=True)


def test_headline_uses_the_shared_indices(service_db, summary):
    outcomes = episode_outcomes(
        reader_for(service_db),
        start=dt.date(2025, 7, 1),
        end=dt.date(2025, 9, 30),
        closed_only=True,
    )
    direct = service_indices(outcomes).iloc[0]
    head = summary.headline.iloc[0]
    for column in ("clients", "episodes", "pct_target", "pct_recovered", "effect_size"):
        assert head[column] == pytest.approx(direct[column])


def test_a_team_filter_focuses_the_headline_and_keeps_the_peers(service_db, summary):
    focused = service_summary(
        reader_for(service_db), ServiceFilters(parse_period("2025Q3"), team_id="TA")
    )
    head = focused.headline.iloc[0]
    alfa = _row(summary.teams, "TA")
    for column in ("clients", "pct_target", "effect_size", "severity_adjusted_es"):
        assert head[column] == pytest.approx(alfa[column])
    assert list(focused.teams["team_id"]) == list(summary.teams["team_id"])
    assert list(focused.teams["selected"]) == [True, False, False, False]


def test_service_filter_limits_the_population(service_db):
    ung = service_summary(
        reader_for(service_db), ServiceFilters(parse_period("2025Q3"), service="Ung")
    )
    assert list(ung.teams["team_id"]) == ["TD"]
    assert ung.headline.iloc[0]["clients"] == 5


# -- suppression ----------------------------------------------------------------------------


def _all_tables(summary) -> dict[str, pd.DataFrame]:
    return {**summary.tables(), "completeness_team_trend": summary.completeness_team_trend}


def test_gamma_is_hidden_in_every_table(summary):
    for name, table in _all_tables(summary).items():
        if "team_id" not in table.columns:
            continue
        gamma = table[table["team_id"] == "TC"]
        assert len(gamma) >= 1, name
        values = gamma.drop(columns=["team_id", "name", "quarter", "selected"], errors="ignore")
        values = values.drop(columns="suppressed").select_dtypes("number")
        assert values.isna().all().all(), name
        assert gamma["suppressed"].all(), name


def test_no_count_under_five_appears_anywhere(summary):
    for name, table in _all_tables(summary).items():
        for column in table.columns:
            if column == "clients" or column.startswith("clients_"):
                values = pd.to_numeric(table[column], errors="coerce").dropna()
                assert not ((values > 0) & (values < 5)).any(), (name, column)


def test_no_value_of_gamma_leaks_into_a_shown_number(summary):
    # Gamma's ORS totals all end in .7; nobody else's do, so no shown mean can be x.7 exactly
    # unless Gamma contributed. Delta's service is separate; the service-wide headline does
    # include Gamma (20 clients, not a small cell) — that is allowed and expected.
    gamma = _row(summary.teams, "TC")
    assert math.isnan(gamma["intake_ors_mean"])


# -- reading --------------------------------------------------------------------------------


def test_reading_names_alfas_srs_drop(summary):
    fell = [
        item for item in summary.reading if item.key == "service.reading.team_completeness_fell"
    ]
    assert len(fell) == 1
    item = fell[0]
    assert item.values["team"] == "Alfa"
    assert item.values["measure"] == "SRS"
    assert item.values["before"] == 100
    assert item.values["now"] == pytest.approx(100 * 15 / 18)


def test_every_reading_number_is_an_unsuppressed_cell(summary):
    assert summary.reading
    for item in summary.reading:
        cells = [summary.cell(reference) for reference in item.sources]
        assert all(not pd.isna(value) for value in cells), item
        for name, value in item.values.items():
            if name.startswith("band_") or name == "teams":
                continue
            if isinstance(value, (int, float, np.floating)):
                assert any(value == pytest.approx(c) for c in cells), (item.key, name)


def test_filter_options(service_db):
    options = filter_options(reader_for(service_db))
    assert options["services"] == ["Ung", "Voksen"]
    assert options["quarters"] == ["2025Q2", "2025Q3"]
    assert list(options["teams"]["name"]) == ["Alfa", "Beta", "Delta", "Gamma"]


def test_cache_reuses_facts_across_team_and_period_changes(service_db):
    cache = SummaryCache()
    reader = reader_for(service_db)
    first = service_summary(reader, ServiceFilters(parse_period("2025Q3")), cache=cache)
    misses = cache.misses
    # Team tables (with every team's row and trend) are computed for the population at once,
    # so a team change computes nothing new.
    service_summary(reader, ServiceFilters(parse_period("2025Q3"), team_id="TB"), cache=cache)
    service_summary(reader, ServiceFilters(parse_period("2025Q3"), team_id="TA"), cache=cache)
    again = service_summary(reader, ServiceFilters(parse_period("2025Q3")), cache=cache)
    assert cache.misses == misses
    pd.testing.assert_frame_equal(first.headline, again.headline)
    # A new period adds up the cached facts again (index tables and completeness) but reads
    # nothing from the database.
    service_summary(reader, ServiceFilters(parse_period("2025-08")), cache=cache)
    assert cache.misses - misses == 2
    service_summary(reader, ServiceFilters(parse_period("2025Q3"), age_group="adult"), cache=cache)
    assert cache.misses - misses == 4


def test_the_cache_keeps_each_scope_and_file_version_apart(tmp_path):
    # The parts live in fitdata.data.cache.MemoryCache, keyed on the reader's scope and the
    # file's version: another user's views, or a file a writer replaced, get parts of their own.
    db = build_service_db(tmp_path / "service.duckdb")
    cache = SummaryCache()
    filters = ServiceFilters(parse_period("2025Q3"))
    reader = reader_for(db)
    whole = service_summary(reader, filters, cache=cache)
    only_delta = ReadScope("only:TD", (("teams", "SELECT * FROM {db}.teams WHERE team_id = 'TD'"),))
    part = service_summary(reader.scoped(only_delta), filters, cache=cache)
    assert set(whole.team_names) == {"TA", "TB", "TC", "TD"} and set(part.team_names) == {"TD"}
    misses = cache.misses
    service_summary(reader, filters, cache=cache)
    assert cache.misses == misses
    shutil.copyfile(db, tmp_path / "new.duckdb")
    (tmp_path / "new.duckdb").replace(db)  # a writer replaces the file: a new version
    after = service_summary(reader, filters, cache=cache)
    # Team names, both facts and completeness again; the facts come back as the same object
    # (nothing in them changed), so the tables computed from them are kept (issue 19).
    assert cache.misses - misses == 4
    fresh = service_summary(reader, filters)  # no cache at all
    pd.testing.assert_frame_equal(after.teams, fresh.teams)
    pd.testing.assert_frame_equal(after.headline, fresh.headline)


def test_unknown_filter_values_are_refused():
    with pytest.raises(ValueError, match="age group"):
        ServiceFilters(parse_period("2025Q3"), age_group="senior")
    with pytest.raises(ValueError, match="format"):
        ServiceFilters(parse_period("2025Q3"), format="solo")


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_too_few_teams_is_said_in_the_readers_language(service_db, lang):
    from fitdata.i18n import Translator
    from fitdata.outputs.report.layout import method_notes

    summary = service_summary(reader_for(service_db), ServiceFilters(parse_period("2025Q3")))
    assert summary.team_model["too_few_groups"]  # four teams: fewer than min_comparison_groups
    notes = method_notes(summary, Translator(lang))
    expected = Translator(lang).text(
        "service.chart.team_effect_too_few",
        min_groups=summary.config.min_comparison_groups,
        min_episodes=summary.team_model["min_episodes"],
        teams=summary.team_model["n_therapists"],
    )
    assert expected in notes
    assert not any("fewer than" in note for note in notes) or lang == "en"


def test_derived_parts_do_not_keep_old_facts_alive():
    # Tables are kept per facts object across writes; an old version's facts (tens of MB at
    # 10 million sessions) must not stay in memory because its tables are still cached.
    import gc
    import weakref

    class Facts:
        pass

    cache = SummaryCache(size=16, facts_size=4)
    refs = []
    for version in range(6):
        facts = Facts()
        refs.append(weakref.ref(facts))
        for key in range(20):
            assert cache.derived(facts, key, lambda v=version, k=key: (v, k)) == (version, key)
        assert cache.derived(facts, 19, lambda: "computed again") == (version, 19)
        del facts
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 2  # the newest two, as the facts cache
