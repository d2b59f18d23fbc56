"""The integer-code helpers the importer groups rows with (instead of groupby over text)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitdata.ingest.assign import _reject_groups
from fitdata.ingest.entities import _Keyed, _sort_rank, first_rows
from fitdata.ingest.problems import ProblemLog


def test_first_rows_follow_the_given_order_and_skip_missing_values() -> None:
    codes = np.array([1, 0, 1, -1, 0, 2])
    by_position = first_rows(codes, 4, np.arange(6))
    assert by_position.tolist() == [1, 0, 5, -1]  # code 3 is on no row; -1 (NA) is no code
    backwards = first_rows(codes, 4, np.arange(6)[::-1])
    assert backwards.tolist() == [4, 2, 5, -1]
    given = np.array([False, True, True, True, True, True])
    assert first_rows(codes, 4, np.arange(6), given).tolist() == [1, 2, 5, -1]


def test_keyed_first_and_last_values_per_key_in_date_order() -> None:
    new = pd.DataFrame(
        {
            "client": pd.Categorical(["B", "A", "B", "A"], categories=["A", "B", "C"]),
            "session_date": pd.to_datetime(
                ["2025-03-01", "2025-02-01", "2025-01-01", "2025-01-15"]
            ),
            "age_group": pd.Series([None, "adult", "child", None], dtype="str"),
        }
    )
    client = _Keyed(new, "client")
    assert client.labels[client.present()].tolist() == ["B", "A"]  # as pd.unique
    by_date = np.argsort(new["session_date"].to_numpy(), kind="stable")
    assert client.first("age_group").tolist()[:2] == ["adult", "child"]
    assert client.first("session_date", by_date).tolist()[:2] == [
        pd.Timestamp("2025-01-15"),
        pd.Timestamp("2025-01-01"),
    ]
    last = client.first("session_date", by_date, last=True)
    assert last.tolist()[:2] == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-01")]
    assert pd.isna(last.iloc[2])  # "C" has no row


def test_sort_rank_orders_rows_by_the_text_of_unsorted_categories() -> None:
    labels = pd.Index(["b", "c", "a"])
    codes = np.array([0, 2, 1, 2])
    assert _sort_rank(codes, labels).tolist() == [1, 0, 2, 0]
    assert _sort_rank(codes, pd.Index(["a", "b", "c"])).tolist() == codes.tolist()


def test_reject_groups_flags_every_given_row_of_a_group_with_two_values() -> None:
    rows = pd.DataFrame(
        {
            "client": pd.Categorical(["K1", "K1", "K1", "K2", "K2", None]),
            "age": pd.Series(["adult", "", "child", "adult", None, "child"], dtype="str"),
            "pos": np.arange(6),
        }
    )
    raw = pd.DataFrame({"age": rows["age"]})
    log = ProblemLog()
    conflict = _reject_groups(rows, raw, log, "client", "age", "age group")
    assert conflict.tolist() == [True, False, True, False, False, False]  # "" is not given
    problems = log.frame()
    assert problems["pos"].tolist() == [0, 2]
    assert (
        problems["problem"].iloc[0]
        == "one age group per client: this client has adult on other rows"
    )
