"""TherapistScope over a hand-made database: the numbers by hand, suppression, scope, cache."""

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.analytics.indices import OUTCOME_COLUMNS, episode_outcomes, service_indices
from fitdata.config import DEFAULT_CONFIG
from fitdata.data import access, cache
from fitdata.data.access import AccessDenied
from fitdata.data.store import StoreError, reader_for
from fitdata.features import therapist_development
from fitdata.features.therapist_development import (
    TherapistScope,
    clear_comparison_cache,
    period_sums,
    tables,
)
from fitdata.features.therapist_development import comparison as comparison_module
from fitdata.kernel_env import ENV_LANG
from tests.oracles import therapist_development as oracle


@pytest.fixture
def scope(development_db) -> TherapistScope:
    clear_comparison_cache()
    return TherapistScope(reader_for(development_db), "BA")


@pytest.fixture
def private_db(development_db, tmp_path) -> Path:
    """A copy of the development database with no stored comparison, and an empty kernel cache."""
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(development_db, db)
    clear_comparison_cache()
    return db


def row(table: pd.DataFrame, **match) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in match.items():
        mask &= (table[column] == value).to_numpy()
    assert mask.sum() == 1, f"expected one row for {match}"
    return table[mask].iloc[0]


def test_identity_comes_from_the_therapists_table(scope) -> None:
    who = scope.identity
    assert (who.name, who.team_id, who.team_name, who.service) == (
        "Anna Prøve", "TA", "Team A", "Voksne",
    )  # fmt: skip


def test_own_rows_equal_episode_outcomes_for_the_therapist(scope, development_db) -> None:
    mine = scope.outcome_rows()
    reference = episode_outcomes(reader_for(development_db), therapist_id="BA", closed_only=True)
    pd.testing.assert_frame_equal(
        mine[list(OUTCOME_COLUMNS)].reset_index(drop=True), reference.reset_index(drop=True)
    )
    assert "A10" not in set(mine["client_id"]), "an ongoing episode was counted"
    counts = mine.set_index("client_id")
    assert counts.loc["A3", "n_srs_below"] == 2 and counts.loc["A1", "n_srs_max"] == 3


def test_a_quarter_computed_by_hand(scope) -> None:
    q1 = row(scope.outcomes("quarter"), level="therapist", period="2025Q1")
    first = np.array([10.0, 15.0, 20.0, 18.0, 22.0])
    change = np.array([10.0, 7.0, 4.0, 12.0, -1.0])
    d = change.mean() / first.std(ddof=1)  # 6.4 / 4.690 = 1.3645
    assert q1["clients"] == 5
    assert q1["effect_size"] == pytest.approx(d)
    assert q1["effect_size"] == pytest.approx(1.36448, abs=1e-4)
    assert q1["pct_reliable_improvement"] == pytest.approx(60.0)  # +10, +7, +12
    assert q1["pct_recovered"] == pytest.approx(20.0)  # 18 -> 30 only
    assert q1["pct_unplanned"] == pytest.approx(20.0)
    z = 1.959964
    centre = (0.6 + z**2 / 10) / (1 + z**2 / 5)
    half = z * math.sqrt(0.6 * 0.4 / 5 + z**2 / 100) / (1 + z**2 / 5)
    assert q1["pct_reliable_improvement_ci_low"] == pytest.approx(100 * (centre - half))
    assert q1["pct_reliable_improvement_ci_high"] == pytest.approx(100 * (centre + half))
    assert q1["effect_size_ci_low"] < d < q1["effect_size_ci_high"]


def test_severity_adjustment_uses_the_services_line(scope, development_db) -> None:
    service = episode_outcomes(reader_for(development_db), service="Voksne", closed_only=True)
    first = service["first_ors"].to_numpy()
    change = service["last_ors"].to_numpy() - first
    slope, intercept = np.polyfit(first, change, 1)
    mine = np.array([10.0, 15.0, 20.0, 18.0, 22.0])
    mine_change = np.array([10.0, 7.0, 4.0, 12.0, -1.0])
    adjusted = mine_change - (intercept + slope * mine) + change.mean()
    expected = adjusted.mean() / first.std(ddof=1)
    q1 = row(scope.outcomes("quarter"), level="therapist", period="2025Q1")
    assert q1["severity_adjusted_es"] == pytest.approx(expected)


def test_team_and_service_agree_with_service_indices(scope, development_db) -> None:
    outcomes = episode_outcomes(reader_for(development_db), service="Voksne", closed_only=True)
    by_team = service_indices(outcomes, by=["team_id"], period="quarter")
    whole = service_indices(outcomes, period="quarter")
    ours = scope.outcomes("quarter")
    for period in ("2024Q3", "2025Q1"):
        team = row(by_team, team_id="TA", period=period)
        mine = row(ours, level="team", period=period)
        for column in ("clients", "effect_size", "effect_size_ci_low", "severity_adjusted_es"):
            assert mine[column] == pytest.approx(team[column]), column
    for period in ("2024Q3", "2024Q4", "2025Q1"):
        assert row(ours, level="service", period=period)["effect_size"] == pytest.approx(
            row(whole, period=period)["effect_size"]
        )


def test_a_cell_of_four_clients_is_suppressed_everywhere(scope) -> None:
    quarters = scope.outcomes("quarter")
    for level in ("therapist", "team", "service"):
        hidden = row(quarters, level=level, period="2025Q2")
        assert hidden["suppressed"]
        values = hidden.drop(["level", "period", "suppressed"])
        assert values.isna().all(), f"{level} 2025Q2 shows {values.dropna().to_dict()}"
    # The same four clients inside a rolling year of nine are shown.
    year = row(scope.outcomes("rolling_year"), level="therapist", period="2025Q2")
    assert year["clients"] == 9 and not year["suppressed"]


def test_srs_profile_by_hand(scope) -> None:
    mine = row(scope.srs_profile(), level="therapist")
    assert mine["srs_sessions"] == 27
    assert mine["pct_sessions_below"] == pytest.approx(100 * 3 / 27)  # 35; 30 and 32
    assert mine["pct_always_40"] == pytest.approx(100 * 2 / 9)  # A1 and A5
    service = row(scope.srs_profile(), level="service")
    assert service["srs_below"] == 9  # BA's 3 and BC's six 33s; the other service's 20s are out


def test_srs_first_bands_suppress_small_groups(scope) -> None:
    table = scope.srs_first_vs_outcome()
    below = row(table, level="therapist", srs_band="below_cutoff")  # A2, A3: two clients
    assert below["suppressed"] and pd.isna(below["pct_reliable_improvement"])
    middle = row(table, level="therapist", srs_band="cutoff_to_39")  # A4 and A6-A9
    assert middle["clients"] == 5 and middle["pct_reliable_improvement"] == pytest.approx(100)
    assert middle["change_mean"] == pytest.approx((12 + 4 * 30) / 5)


def test_intake_mix_hides_a_small_band_and_its_complement(scope) -> None:
    mine = row(scope.intake_mix(), level="therapist")
    assert pd.isna(mine["clients_below"])  # 4 clients (A2-A5)
    assert pd.isna(mine["clients_well_below"])  # 5, hidden so 4 cannot be recovered from 9
    assert mine["pct_non_clinical"] == 0 and mine["clients"] == 9
    team = row(scope.intake_mix(), level="team")
    assert team["pct_well_below"] == pytest.approx(50.0)


def test_the_scope_holds_no_other_therapist_and_no_other_service(scope) -> None:
    for table in (scope.outcomes("quarter"), scope.srs_profile(), scope.intake_mix()):
        assert set(table["level"]) <= {"therapist", "team", "service"}
        assert "therapist_id" not in table.columns and "team_id" not in table.columns
    # The other service's clients (ORS 1 -> 39, SRS 20) would move every service number.
    service_clients = row(scope.srs_profile(), level="service")["clients"]
    assert service_clients == 20


def test_an_unknown_therapist_is_refused_with_a_clear_message(development_db) -> None:
    with pytest.raises(StoreError, match="Therapist NOBODY is not in the therapists table"):
        TherapistScope(reader_for(development_db), "NOBODY")


def test_the_comparison_is_computed_once_per_file_version(development_db, monkeypatch, tmp_path):
    clear_comparison_cache()
    shutil.rmtree(cache.cache_dir(development_db), ignore_errors=True)
    calls = []
    original = comparison_module._build_comparison
    monkeypatch.setattr(
        comparison_module,
        "_build_comparison",
        lambda *a, **k: calls.append(a[1]) or original(*a, **k),
    )
    reader = reader_for(development_db)
    TherapistScope(reader, "BA").outcomes()
    TherapistScope(reader, "BB").outcomes("quarter")
    TherapistScope(reader, "BC").srs_profile()
    assert calls == ["Voksne"], "a therapist change recomputed the team and service numbers"
    TherapistScope(reader, "BO").outcomes()
    assert calls == ["Voksne", "Andre"]
    stat = os.stat(development_db)
    os.utime(development_db, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    TherapistScope(reader, "BA").outcomes()
    assert calls == ["Voksne", "Andre", "Voksne"], "a replaced file must give fresh numbers"


def test_every_grouping_is_computed_and_stored_with_the_comparison(private_db, monkeypatch) -> None:
    """A first grouping change must not read the service's client-episodes again."""
    db = private_db
    reader = reader_for(db)
    TherapistScope(reader, "BA").outcomes()  # the page opens on rolling years
    (stored,) = cache.cache_dir(db).glob("development-*.json")
    assert sorted(json.loads(stored.read_text(encoding="utf-8"))["payload"]["outcomes"]) == sorted(
        therapist_development.GROUPINGS
    )
    service_reads = []
    original = comparison_module.episode_outcomes

    def counted(*args, **kwargs):
        if kwargs.get("service") is not None:
            service_reads.append(kwargs["service"])
        return original(*args, **kwargs)

    monkeypatch.setattr(comparison_module, "episode_outcomes", counted)
    quarters = TherapistScope(reader, "BA").outcomes("quarter")
    assert service_reads == [], "the quarter grouping read the service's episodes again"
    assert set(quarters["level"]) == {"therapist", "team", "service"}
    clear_comparison_cache()


def test_a_new_kernel_reads_the_stored_comparison_instead_of_computing_it(
    private_db, monkeypatch
) -> None:
    db = private_db
    reader = reader_for(db)
    first = TherapistScope(reader, "BA")
    tables = [first.outcomes(), first.outcomes("quarter"), first.srs_profile()]
    tables += [first.srs_first_vs_outcome(), first.intake_mix()]
    (stored,) = cache.cache_dir(db).glob("development-*.json")
    text = stored.read_text(encoding="utf-8")
    clients = reader.df("SELECT client_id FROM clients")["client_id"]
    names = reader.df("SELECT name FROM therapists")["name"]
    assert [v for v in [*clients, *names] if f'"{v}"' in text] == []

    calls = []
    monkeypatch.setattr(comparison_module, "_build_comparison", lambda *a, **k: calls.append(a))
    clear_comparison_cache()  # a new kernel
    again = TherapistScope(reader, "BA")
    tables_again = [again.outcomes(), again.outcomes("quarter"), again.srs_profile()]
    tables_again += [again.srs_first_vs_outcome(), again.intake_mix()]
    assert calls == [], "the stored comparison (both groupings) should have been used"
    for got, want in zip(tables_again, tables, strict=True):
        pd.testing.assert_frame_equal(got, want, check_exact=True)

    monkeypatch.undo()
    stored.write_text('{"key": ', encoding="utf-8")  # a broken file is ignored and rewritten
    clear_comparison_cache()
    broken = TherapistScope(reader, "BA")
    pd.testing.assert_frame_equal(broken.srs_profile(), tables[2], check_exact=True)
    assert json.loads(stored.read_text(encoding="utf-8"))["key"]["kind"] == "development"
    clear_comparison_cache()


@pytest.mark.parametrize("database", ["development_db", "demo_db"])
def test_the_fast_comparison_equals_service_indices_over_repeated_rows(database, request) -> None:
    """The comparison's sums per quarter give the tables of the straightforward computation.

    ``_comparison_outcomes`` repeats each client-episode per level and window and runs
    ``service_indices``; ``_srs_first_table`` runs ``service_indices`` per SRS band.
    """
    reader = reader_for(request.getfixturevalue(database))
    for service in reader.df("SELECT DISTINCT service FROM teams ORDER BY 1")["service"]:
        rows = episode_outcomes(reader, service=service, closed_only=True)
        line = tables.severity_line(rows)
        assert line == service_indices(rows, suppress=False).attrs["severity_adjustment"][service]
        ordinals = np.unique(tables.quarter_ordinals(rows["ended"]))
        comparison = therapist_development.ServiceComparison(
            service=service,
            severity_line=line,
            quarters=list(range(int(ordinals.min()), int(ordinals.max()) + 1)),
            reader=reader,
        )
        levels = tables.team_and_service_rows(rows, service)
        for grouping in therapist_development.GROUPINGS:
            fast = period_sums.outcomes_by_period(rows, grouping, comparison)
            plain = oracle.comparison_outcomes(levels, grouping, comparison)
            assert len(fast) == len(plain)
            if grouping == "quarter":
                assert len(fast) > 0 and fast["suppressed"].sum() < len(fast)
            if len(plain):
                # The keys' dtype (category or str) follows pandas' join rules in
                # service_indices; the values are what counts.
                keys = ["level", "team_id", "period"]
                pd.testing.assert_frame_equal(
                    fast.astype({k: "str" for k in keys}),
                    plain.astype({k: "str" for k in keys}),
                    check_exact=False,
                    rtol=1e-9,
                    atol=1e-12,
                )
        keys = ["level", "team_id"]
        improvement = tables.classify_improvement(rows, DEFAULT_CONFIG)
        fast_first, fast_mix = comparison_module._comparison_profiles(
            rows, service, DEFAULT_CONFIG, improvement
        )
        plain_first = oracle.srs_first_table(levels, keys, DEFAULT_CONFIG)
        plain_mix = tables.intake_mix_table(levels, keys, DEFAULT_CONFIG)
        for fast, plain in ((fast_first, plain_first), (fast_mix, plain_mix)):
            assert len(plain) > 0
            pd.testing.assert_frame_equal(fast, plain, check_exact=False, rtol=1e-9, atol=1e-12)
        with_counts = comparison_module.with_srs_counts(
            reader,
            rows,
            oracle.SERVICE_SESSIONS,
            {"service": service},
            DEFAULT_CONFIG,
        )
        in_sql = comparison_module._service_srs_profile(reader, service, DEFAULT_CONFIG)
        in_pandas = tables.srs_profile_table(
            tables.team_and_service_rows(with_counts, service), keys, DEFAULT_CONFIG
        )
        assert in_sql["srs_sessions"].sum() > 0
        pd.testing.assert_frame_equal(in_sql, in_pandas, check_exact=False, rtol=1e-9)


def test_a_therapists_own_tables_equal_the_row_by_row_computation(demo_db) -> None:
    reader = reader_for(demo_db)
    therapists = reader.df("SELECT therapist_id FROM therapists ORDER BY therapist_id")
    checked = 0
    for therapist in therapists["therapist_id"].iloc[::7]:
        scope = TherapistScope(reader, therapist)
        rows = scope._rows()
        if rows.empty:
            continue
        comparison = scope._comparison()
        for grouping in therapist_development.GROUPINGS:
            periods = tables.with_periods(rows, grouping, comparison.quarters)
            plain = tables.outcome_table(
                periods, ["level", "period"], comparison.severity_line, DEFAULT_CONFIG
            )
            shown = scope.outcomes(grouping)
            fast = shown[shown["level"] == "therapist"].reset_index(drop=True)
            assert len(fast) == len(plain)
            if len(plain):
                checked += 1
                pd.testing.assert_frame_equal(
                    fast.drop(columns=["level", "period"]),
                    plain.drop(columns=["level", "period"]),
                    check_exact=False,
                    rtol=1e-9,
                    atol=1e-12,
                )
                assert fast["period"].astype(str).tolist() == plain["period"].astype(str).tolist()
        plain_first = oracle.srs_first_table(rows, ["level"], DEFAULT_CONFIG)
        shown = scope.srs_first_vs_outcome()
        fast_first = shown[shown["level"] == "therapist"].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            fast_first.drop(columns=["level"]),
            plain_first.drop(columns=["level"]),
            check_exact=False,
            rtol=1e-9,
            atol=1e-12,
            check_dtype=False,
        )
    assert checked >= 4


# -- who may open whose development page ------------------------------------------------------


@pytest.fixture
def users_db(private_db) -> Path:
    """The development database with users: BA's own login, TB's supervisor, a leader, an admin."""
    access.add_user(private_db, "anna", "therapist", therapist_id="BA")
    access.add_user(private_db, "sigrid", "supervisor", team_ids=["TB"])
    access.add_user(private_db, "leder", "leader")
    access.add_user(private_db, "admin", "admin")
    yield private_db
    reader_for(private_db).close()


def test_a_leader_cannot_open_a_named_therapists_development(users_db, monkeypatch) -> None:
    """A leader sees aggregates only: no therapist's effect size, % recovered or endings."""
    leader = access.reader_for_user(users_db, "leder")
    comparison = access.aggregate_reader(users_db, "leder")
    for therapist in ("BA", "BC", "BO"):
        with pytest.raises(AccessDenied, match="leder may see summaries") as refused:
            TherapistScope(leader, therapist, comparison_reader=comparison)
        assert "Anna" not in str(refused.value) and "effect" not in str(refused.value)
    # The de-identified comparison reader is no way around it either.
    with pytest.raises(AccessDenied, match="anna may see summaries of the service and its teams"):
        TherapistScope(access.aggregate_reader(users_db, "anna"), "BA")
    monkeypatch.setenv(ENV_LANG, "nb")
    with pytest.raises(AccessDenied, match="leder har bare tilgang til oppsummeringer"):
        TherapistScope(leader, "BA")


def test_a_therapist_opens_only_her_own_development(users_db) -> None:
    anna = access.reader_for_user(users_db, "anna")
    mine = TherapistScope(anna, "BA", comparison_reader=access.aggregate_reader(users_db, "anna"))
    everyone = TherapistScope(reader_for(users_db), "BA")
    pd.testing.assert_frame_equal(mine.outcome_rows(), everyone.outcome_rows())
    pd.testing.assert_frame_equal(mine.outcomes("quarter"), everyone.outcomes("quarter"))
    for colleague in ("BB", "BC", "BO"):  # her own team's colleague too
        with pytest.raises(AccessDenied, match="anna may see their own development only"):
            TherapistScope(anna, colleague)


def test_a_supervisor_opens_her_teams_therapists_and_an_admin_everyone(users_db) -> None:
    sigrid = access.reader_for_user(users_db, "sigrid")
    assert TherapistScope(sigrid, "BC").identity.team_id == "TB"
    for other in ("BA", "BO"):
        with pytest.raises(AccessDenied, match="sigrid may see the therapists of the teams TB"):
            TherapistScope(sigrid, other)
    admin = access.reader_for_user(users_db, "admin")
    assert [TherapistScope(admin, t).identity.name for t in ("BA", "BO")] == [
        "Anna Prøve", "Odd Prøve",
    ]  # fmt: skip
