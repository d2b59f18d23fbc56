"""Couple and family files, row by row: roles, form names, and the partners layout (issue 20)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.ingest.columns import Mapping, load_mapping, resolve_headers
from fitdata.ingest.existing import Existing
from fitdata.ingest.forms import check_forms
from fitdata.ingest.problems import IngestError, ProblemLog
from fitdata.ingest.read import RawFile, to_long
from fitdata.ingest.roles import check_roles
from fitdata.ingest.validate import parse_rows

TODAY = dt.date(2026, 6, 1)
BASE = {"team": "T", "therapist": "B", "client": "K-1", "session_date": "06.01.2025"}


def _parse(**columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(next(iter(columns.values())))
    raw = pd.DataFrame({k: [v] * n for k, v in BASE.items()} | columns, dtype="str")
    log = ProblemLog()
    return parse_rows(raw, log, TODAY), log.frame()


def test_role_words_in_english_and_bokmal_and_a_rater_word_means_collateral() -> None:
    typed, problems = _parse(
        role=["Indeks", "ektefelle", "familiemedlem", "Deltaker", "mor", "lærer", "", "partner"],
        ors_total=["20"] * 8,
    )
    assert problems.empty, problems
    assert typed["role"].tolist()[:6] == [
        "index", "partner", "family_member", "member", "collateral", "collateral",
    ]  # fmt: skip
    assert pd.isna(typed["role"].iloc[6])  # not given: derived from the episode later
    assert typed["role"].iloc[7] == "partner"  # in the role column a partner is a client
    assert typed["rater"].tolist() == ["client"] * 4 + ["parent", "teacher", "client", "client"]


def test_a_role_against_the_rater_and_an_unknown_role_are_problems() -> None:
    _, problems = _parse(
        role=["collateral", "partner", "mor", "kusine"],
        rater=["", "lærer", "lærer", ""],
        ors_total=["20"] * 4,
    )
    by_row = problems.set_index("pos")["problem"]
    assert by_row[0].startswith("a client's role (index, partner, family member, member)")
    assert by_row[1] == (
        "collateral or an empty role on a row rated by a teacher (an index client, partner or "
        "family member rates themself)"
    )
    assert by_row[2] == "a role that agrees with the rater column (teacher)"
    assert by_row[3].startswith("index, partner, family_member, member, collateral (indeks,")
    assert set(problems["column"]) == {"role"}


def test_form_names_are_read_in_their_spellings_and_stored_only_with_a_score() -> None:
    typed, problems = _parse(
        ors_form=["cors", "ORS", "barne-ors", "CORS", ""],
        srs_form=["GSRS", "gruppe-srs", "c-srs", "srs", "CSRS"],
        ors_total=["20", "20", "20", "", "20"],
        srs_total=["30", "30", "30", "30", ""],
    )
    assert problems.empty
    assert typed["ors_form"].tolist()[:3] == ["CORS", "ORS", "CORS"]
    assert pd.isna(typed["ors_form"].iloc[3])  # no ORS on the row: the form is not stored
    assert typed["srs_form"].tolist()[:4] == ["GSRS", "GSRS", "CSRS", "SRS"]
    assert pd.isna(typed["srs_form"].iloc[4])


def test_unknown_form_names_say_which_forms_there_are() -> None:
    _, problems = _parse(ors_form=["ORS2"], srs_form=["SRS-G"], ors_total=["20"], srs_total=["1"])
    assert problems[["column", "value", "problem"]].values.tolist() == [
        ["ors_form", "ORS2", "ORS, or CORS (the child form)"],
        ["srs_form", "SRS-G", "SRS, CSRS (the child form) or GSRS (the group form)"],
    ]


def test_a_row_without_date_and_scores_lists_a_participant() -> None:
    typed, problems = _parse(session_date=["", "", "06.01.2025"], ors_total=["", "20", ""])
    assert typed["_only"].tolist() == [True, False, False]
    assert problems[["pos", "column", "problem"]].values.tolist() == [
        [1, "session_date", "a value is required"]
    ]


def _rows(frame: dict[str, list]) -> pd.DataFrame:
    n = len(frame["client"])
    rows = pd.DataFrame(frame)
    defaults = {
        "rater": "client", "role": None, "format": None, "therapist": "B",
        "session_date": pd.Timestamp("2025-01-06"), "_only": False, "age_group": "adult",
        "birth_year": 0, "ors_form": None, "srs_form": None, "ors_total": 200, "srs_total": 300,
    }  # fmt: skip
    for column, value in defaults.items():
        if column not in rows.columns:
            rows[column] = [value] * n
    for column in ("episode", "client", "rater"):
        rows[column] = rows[column].astype("category")
    for column in ("role", "format", "ors_form", "srs_form", "age_group"):
        rows[column] = rows[column].astype("str").where(rows[column].notna())
    rows["pos"] = np.arange(n)
    return rows


def test_roles_are_derived_by_format_and_the_first_listed_client_is_the_index() -> None:
    rows = _rows(
        {
            "episode": ["E1", "E1", "E1", "E2", "E2", "E3", "E3"],
            "client": ["K-1", "K-2", "K-1", "K-3", "K-4", "K-5", "K-6"],
            "rater": ["client", "client", "parent", "client", "client", "client", "client"],
            "format": ["couple", None, None, "family", None, "group", None],
        }
    )
    log = ProblemLog()
    roles = check_roles(rows, rows, Existing.empty(), log)
    assert log.frame().empty
    assert roles.role.tolist() == [
        "index", "partner", "collateral", "index", "family_member", "index", "member",
    ]  # fmt: skip
    assert roles.index.to_dict() == {"E1": "K-1", "E2": "K-3", "E3": "K-5"}
    assert roles.format.tolist() == ["couple"] * 3 + ["family"] * 2 + ["group"] * 2


def test_a_named_index_client_wins_and_the_database_is_respected() -> None:
    rows = _rows(
        {
            "episode": ["E1", "E1", "E9"],
            "client": ["K-1", "K-2", "K-7"],
            "role": [None, "index", "partner"],
            "format": ["couple", None, None],
        }
    )
    existing = Existing.empty()
    existing.episodes = pd.DataFrame(
        {
            "episode_id": ["E9"], "client_id": ["K-8"], "team_id": ["T"],
            "started": pd.to_datetime(["2025-01-01"]), "ended": pd.to_datetime([None]),
            "end_type": [None], "format": ["couple"],
        }
    )  # fmt: skip
    existing.participants = pd.DataFrame(
        {"episode_id": ["E9"], "client_id": ["K-7"], "role": ["member"], "rater": ["client"]}
    )
    log = ProblemLog()
    roles = check_roles(rows, rows, existing, log)
    assert roles.index.to_dict() == {"E1": "K-2", "E9": "K-8"}
    assert roles.role.tolist() == ["partner", "index", "partner"]
    problems = log.frame()
    assert problems["pos"].tolist() == [2]  # the database says K-7 is a member of E9
    assert problems["problem"].iloc[0] == "the role member that the database holds for K-7"


def test_forms_default_by_age_group_and_format_and_the_child_form_needs_a_child() -> None:
    rows = _rows(
        {
            "episode": ["E1"] * 4,
            "client": ["K-1", "K-2", "K-3", "K-4"],
            "age_group": ["child", "adult", "adolescent", "adult"],
            "ors_form": [None, None, "CORS", None],
            "srs_form": [None, None, None, "GSRS"],
            "srs_total": [300, 300, 300, 300],
        }
    )
    problems, warnings = ProblemLog(), ProblemLog()
    fmt = np.array(["family", "group", "family", "couple"], dtype=object)
    bad, ors, srs = check_forms(rows, rows, Existing.empty(), fmt, problems, warnings)
    assert bad.tolist() == [False, False, True, False]
    assert ors.tolist()[:2] == ["CORS", "ORS"] and srs.tolist()[:2] == ["CSRS", "GSRS"]
    assert (
        problems.frame()["problem"]
        .iloc[0]
        .startswith(
            "ORS: CORS is the child form (ages 6-12) and this client's age group is adolescent"
        )
    )
    assert warnings.frame()["pos"].tolist() == [3]  # GSRS in a couple: imported, with a warning
    assert srs.iloc[3] == "GSRS"


def test_a_partners_mapping_is_checked_when_it_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    for text, message in (
        ("layout: partners\npartners: [A]\nrepeat: {client: 'K {p}'}", "two or more different"),
        ("layout: partners\npartners: [A, B]\nrepeat: {ors_total: 'ORS {p}'}", "one for client"),
        ("layout: partners\npartners: [A, B]\nrepeat: {client: 'K {n}'}", "with {p}"),
        ("layout: long\npartners: [A, B]", "layout: partners only"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(IngestError, match=message.replace("{", r"\{").replace("}", r"\}")):
            load_mapping(path)


def test_the_shipped_couple_register_turns_each_row_into_one_row_per_partner() -> None:
    mapping = load_mapping("couple_register_wide")
    assert mapping.layout == "partners" and mapping.partners == ("A", "B")
    frame = pd.DataFrame(
        {
            "Team": ["T", "T"], "Behandler": ["B", "B"], "Forløp": ["P-1", "P-1"],
            "Dato": ["06.01.2025", "13.01.2025"], "Avslutning": ["", ""],
            "Klient A": ["K-A", "K-A"], "Alder A": ["voksen", "voksen"], "ORS A": ["12", ""],
            "SRS A": ["30", ""], "Klient B": ["K-B", "K-B"], "Alder B": ["voksen", "voksen"],
            "ORS B": ["", "15"], "SRS B": ["", "33"],
        },
        dtype="str",
    )  # fmt: skip
    raw = RawFile(Path("par.csv"), frame, np.array([2, 3], dtype=np.int32), [])
    long = to_long(raw, mapping).frame
    assert long["_row"].tolist() == [2, 2, 3, 3]
    assert long["client"].tolist() == ["K-A", "K-B", "K-A", "K-B"]
    assert long["_partner"].tolist() == ["A", "B", "A", "B"]
    assert long["_no_session"].tolist() == [False, True, True, False]  # listed, no scores
    assert long["session_date"].tolist() == ["06.01.2025"] * 2 + ["13.01.2025"] * 2
    assert long["format"].tolist() == ["couple"] * 4


def test_a_partners_file_without_a_partner_s_code_column_is_refused() -> None:
    mapping = load_mapping("couple_register_wide")
    headers = ["Team", "Behandler", "Forløp", "Dato", "Avslutning", "Klient A", "ORS A",
               "Klint B", "ORS B"]  # fmt: skip
    resolved = resolve_headers(headers, mapping, "par.csv")
    assert any(
        "expects a column 'Klient B' for the client code of partner B, but there is none "
        "(did you mean 'Klint B'?)" in p
        for p in resolved.problems
    ), resolved.problems
    assert resolve_headers(["rolle", "ORS skjema", "SRS-skjema"], Mapping(), "f").columns == {
        "role": "rolle",
        "ors_form": "ORS skjema",
        "srs_form": "SRS-skjema",
    }


def test_the_forms_filled_in_are_vocabulary_default_forms_for_every_age_group_and_format() -> None:
    from fitdata.vocabulary import AGE_GROUPS, FORMATS, default_forms

    pairs = [(age, fmt) for age in AGE_GROUPS for fmt in FORMATS]
    rows = _rows(
        {
            "episode": [f"E{i}" for i in range(len(pairs))],
            "client": [f"K-{i}" for i in range(len(pairs))],
            "age_group": [age for age, _ in pairs],
        }
    )
    fmt = pd.Categorical([f for _, f in pairs], categories=FORMATS)
    bad, ors, srs = check_forms(rows, rows, Existing.empty(), fmt, ProblemLog(), ProblemLog())
    assert not bad.any()
    assert list(zip(ors.astype("str"), srs.astype("str"), strict=True)) == [
        default_forms(age, f) for age, f in pairs
    ]
