"""Rows and cells of some teams replaced in place equal the same facts sorted afresh."""

from __future__ import annotations

import numpy as np
import pytest

from fitdata.features.service.facts import Rows, SessionFacts, merge_facts, sum_cells


def _random_rows(rng: np.random.Generator, n: int, clients: np.ndarray, teams: np.ndarray):
    return (
        rng.choice(clients, n),
        rng.choice(teams, n).astype(np.int32),
        rng.integers(24_200, 24_330, n).astype(np.int32),
        rng.integers(-1, 3, n).astype(np.int8),
        rng.integers(-1, 4, n).astype(np.int8),
    )


def _facts(columns) -> SessionFacts:
    rows, order = Rows.sorted(*columns)
    client, team, month, age, fmt = columns
    values = {"sessions": np.ones(len(client)), "with_ors": (month % 3 == 0).astype(float)}
    codes, sums = sum_cells(team, month, age, fmt, values)
    return SessionFacts(rows=rows, **codes, cell_sums=sums)


def _assert_same(a: SessionFacts, b: SessionFacts) -> None:
    for name, array in vars(b.rows).items():
        np.testing.assert_array_equal(getattr(a.rows, name), array, err_msg=name)
    for name in ("cell_team", "cell_month", "cell_age", "cell_fmt"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name, array in b.cell_sums.items():
        np.testing.assert_array_equal(a.cell_sums[name], array, err_msg=name)


@pytest.mark.parametrize("seed", range(12))
def test_replacing_teams_equals_sorting_everything_again(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clients = rng.integers(0, 2**62, 60)  # few clients: many in several teams
    base = _random_rows(rng, int(rng.integers(0, 400)), clients, np.arange(6))
    changed = np.array(sorted(rng.choice(6, int(rng.integers(1, 4)), replace=False)))
    # The changed teams' new rows: known clients, new ones (codes below, between and above)
    newcomers = np.concatenate([clients, rng.integers(0, 2**62, 10), [0, 2**62 + 5]])
    new = _random_rows(rng, int(rng.integers(0, 120)), newcomers, changed)
    kept = ~np.isin(base[1], changed)
    expected = _facts(tuple(np.concatenate([b[kept], n]) for b, n in zip(base, new, strict=True)))
    merged = merge_facts(_facts(base), changed, _facts(new))
    _assert_same(merged, expected)


def test_a_team_that_lost_every_row_is_taken_out() -> None:
    rng = np.random.default_rng(1)
    base = _random_rows(rng, 200, rng.integers(0, 2**62, 30), np.arange(4))
    empty = tuple(c[:0] for c in base)
    kept = base[1] != 2
    expected = _facts(tuple(c[kept] for c in base))
    _assert_same(merge_facts(_facts(base), np.array([2]), _facts(empty)), expected)


def test_replacing_the_only_team_with_nothing_leaves_no_rows() -> None:
    rng = np.random.default_rng(2)
    base = _random_rows(rng, 50, rng.integers(0, 2**62, 10), np.array([4]))
    empty = tuple(c[:0] for c in base)
    _assert_same(merge_facts(_facts(base), np.array([4]), _facts(empty)), _facts(empty))
