import math

import numpy as np
import pandas as pd
import pytest

from tests.oracles.therapists import THERAPIST_COLUMNS, therapist_effects

RESIDUAL_SD = 6.0
SLOPE = -0.4


def synthetic(
    episodes: dict[str, int],
    offsets: dict[str, float],
    *,
    seed: int = 1,
    noise: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Closed client-episodes: change = 7 - 0.4 (intake - 20) + therapist offset + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for therapist, n in episodes.items():
        intake = np.round(rng.normal(20, 7, n), 1)
        e = noise[therapist] if noise and therapist in noise else rng.normal(0, RESIDUAL_SD, n)
        change = 7 + SLOPE * (intake - 20) + offsets.get(therapist, 0.0) + e
        for i in range(n):
            rows.append(
                {
                    "episode_id": f"E-{therapist}-{i}",
                    "client_id": f"K-{therapist}-{i}",
                    "therapist_id": therapist,
                    "first_ors": intake[i],
                    "last_ors": round(intake[i] + change[i], 1),
                    "n_with_ors": 4,
                    "ended": pd.Timestamp("2025-06-01"),
                }
            )
    return pd.DataFrame(rows)


def test_recovers_the_therapist_variance() -> None:
    rng = np.random.default_rng(42)
    ids = [f"T{i:03d}" for i in range(80)]
    offsets = dict(zip(ids, rng.normal(0, 1.5, len(ids)), strict=True))
    data = synthetic(dict.fromkeys(ids, 40), offsets, seed=7)
    table = therapist_effects(data)
    tau = math.sqrt(table.attrs["therapist_variance"])
    assert 1.0 <= tau <= 2.1
    assert math.sqrt(table.attrs["residual_variance"]) == pytest.approx(RESIDUAL_SD, rel=0.1)
    assert table.attrs["fixed_effects"]["intake_c"] == pytest.approx(SLOPE, abs=0.08)
    assert 0.02 < table.attrs["icc"] < 0.12
    assert table.attrs["converged"] and table.attrs["error"] is None
    # BLUPs track the true offsets.
    estimate = table.set_index("therapist_id")["effect"]
    assert np.corrcoef(estimate[ids], [offsets[i] for i in ids])[0, 1] > 0.5
    assert (table["ci_low"] < table["effect"]).all() and (table["effect"] < table["ci_high"]).all()


def test_minimum_caseload_both_sides() -> None:
    episodes = {f"T{i:02d}": 30 for i in range(20)}
    episodes["NINE"] = 9
    episodes["TEN"] = 10
    table = therapist_effects(synthetic(episodes, {}, seed=3)).set_index("therapist_id")
    assert math.isnan(table.loc["NINE", "effect"]) and math.isnan(table.loc["NINE", "ci_low"])
    assert table.loc["NINE", "reason"] == "fewer than 10 episodes"
    assert table.loc["NINE", "n_episodes"] == 9  # the row is present, the count shown
    assert not math.isnan(table.loc["TEN", "effect"]) and table.loc["TEN", "reason"] == ""
    assert table.attrs["n_therapists"] == 21
    higher = therapist_effects(synthetic(episodes, {}, seed=3), min_episodes=11)
    assert higher.set_index("therapist_id").loc["TEN", "reason"] == "fewer than 11 episodes"


def test_open_episodes_and_single_ors_do_not_count() -> None:
    data = synthetic({f"T{i:02d}": 12 for i in range(10)}, {}, seed=5)
    data.loc[data["therapist_id"] == "T00", "ended"] = pd.NaT
    data.loc[(data["therapist_id"] == "T01") & (data.index % 12 < 3), "n_with_ors"] = 1
    table = therapist_effects(data).set_index("therapist_id")
    assert table.loc["T00", "n_episodes"] == 0 and math.isnan(table.loc["T00", "effect"])
    assert table.loc["T01", "n_episodes"] == 9 and math.isnan(table.loc["T01", "effect"])


def test_shrinkage_pulls_few_episodes_more() -> None:
    rng = np.random.default_rng(11)
    episodes = {f"T{i:02d}": 30 for i in range(50)}
    offsets = dict(zip(episodes, rng.normal(0, 1.5, len(episodes)), strict=True))
    episodes.update(FEW=10, MANY=120)
    offsets.update(FEW=6.0, MANY=6.0)
    # The same raw deviation (+6) for both: residual noise that sums to exactly zero.
    noise = {
        "FEW": np.tile([3.0, -3.0], 5),
        "MANY": np.tile([3.0, -3.0], 60),
    }
    table = therapist_effects(synthetic(episodes, offsets, seed=2, noise=noise))
    row = table.set_index("therapist_id")
    few, many = row.loc["FEW"], row.loc["MANY"]
    assert 0 < few.effect < many.effect < 6.5
    assert few.effect / 6 < 0.75 * (many.effect / 6)
    assert (few.ci_high - few.ci_low) > (many.ci_high - many.ci_low)
    tau2, sigma2 = table.attrs["therapist_variance"], table.attrs["residual_variance"]
    assert few.se == pytest.approx(math.sqrt(tau2 * sigma2 / (sigma2 + 10 * tau2)), rel=1e-3)


def test_ordered_by_name_never_by_estimate() -> None:
    episodes = {"B3": 20, "B1": 20, "B2": 20, "B4": 20}
    offsets = {"B3": 5.0, "B1": -5.0, "B2": 0.0, "B4": 2.0}
    names = {"B1": "Åse Berg", "B2": "Kari Nordmann", "B3": "Anne Lie", "B4": "Ola Hansen"}
    table = therapist_effects(synthetic(episodes, offsets, seed=9), names=names)
    assert list(table["name"]) == sorted(names.values())
    assert list(table.columns) == [*THERAPIST_COLUMNS, "suppressed"]
    unnamed = therapist_effects(synthetic(episodes, offsets, seed=9))
    assert list(unnamed["therapist_id"]) == ["B1", "B2", "B3", "B4"]


def test_too_few_therapists_or_a_degenerate_fit_never_crashes() -> None:
    one = therapist_effects(synthetic({"T1": 30}, {}, seed=1))
    assert one.attrs["error"] and math.isnan(one.loc[0, "effect"])
    assert "fewer than 2 therapists" in one.loc[0, "reason"]
    flat = synthetic({f"T{i}": 12 for i in range(4)}, {}, seed=1)
    flat["last_ors"] = flat["first_ors"]  # no change at all: zero residual variance
    table = therapist_effects(flat)
    assert len(table) == 4 and table["effect"].isna().all()
    assert table.attrs["error"].startswith("the model could not be fitted")
    assert table.loc[0, "reason"] == table.attrs["error"]
    warned = table.attrs["warnings"]
    assert any("ConvergenceWarning" in w for w in warned) and len(warned) == len(set(warned))


def test_small_caseloads_hide_the_client_count() -> None:
    episodes = {f"T{i:02d}": 15 for i in range(6)}
    data = synthetic(episodes, {}, seed=4)
    small = data["therapist_id"] == "T00"
    data.loc[small, "client_id"] = np.where(np.arange(small.sum()) % 2, "K-X", "K-Y")
    row = therapist_effects(data).set_index("therapist_id").loc["T00"]
    assert row["suppressed"] and math.isnan(row["clients"]) and math.isnan(row["effect"])
