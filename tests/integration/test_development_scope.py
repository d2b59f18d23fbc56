"""TherapistScope over a hand-made database: the numbers by hand, suppression, scope, cache."""

import math
import os

import numpy as np
import pandas as pd
import pytest

from fitdata import development
from fitdata.development import TherapistScope, clear_comparison_cache
from fitdata.indices import OUTCOME_COLUMNS, episode_outcomes, service_indices
from fitdata.store import StoreError, reader_for


@pytest.fixture
def scope(development_db) -> TherapistScope:
    clear_comparison_cache()
    return TherapistScope(reader_for(development_db), "BA")


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
    calls = []
    original = development._build_comparison
    monkeypatch.setattr(
        development, "_build_comparison", lambda *a, **k: calls.append(a[1]) or original(*a, **k)
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
