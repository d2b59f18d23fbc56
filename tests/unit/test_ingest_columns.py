"""Headers, Norwegian aliases, mapping files and the wide paper register."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitdata.ingest.columns import (
    Mapping,
    load_mapping,
    normalise_header,
    resolve_headers,
    shipped_mappings,
)
from fitdata.ingest.problems import IngestError
from fitdata.ingest.read import RawFile, to_long


def test_headers_are_compared_without_case_spaces_or_punctuation() -> None:
    assert normalise_header("  ORS Total ") == "ors_total"
    assert normalise_header("Økt-nr.") == "økt_nr"
    assert normalise_header("SRS / Mål og tema") == "srs_mål_og_tema"


def test_norwegian_aliases_resolve_to_canonical_columns() -> None:
    headers = [
        "Team",
        "Behandler",
        "Klient",
        "Dato",
        "Økt",
        "ORS",
        "SRS",
        "Aldersgruppe",
        "Vurderer",
        "Forløp",
        "Avslutning",
    ]
    resolved = resolve_headers(headers, Mapping(), "f.csv")
    assert resolved.problems == []
    assert resolved.columns == {
        "team": "Team",
        "therapist": "Behandler",
        "client": "Klient",
        "session_date": "Dato",
        "session_no": "Økt",
        "ors_total": "ORS",
        "srs_total": "SRS",
        "age_group": "Aldersgruppe",
        "rater": "Vurderer",
        "episode": "Forløp",
        "end_type": "Avslutning",
    }


def test_a_missing_required_column_is_named_with_a_near_miss() -> None:
    resolved = resolve_headers(
        ["team", "therapist", "clinet", "session_date", "ors_total"], Mapping(), "f.csv"
    )
    assert len(resolved.problems) == 2  # the missing column, and the unknown near miss
    assert "required column 'client' is missing (did you mean 'clinet'?)" in resolved.problems[0]
    assert "column 'clinet' is not a column fitdata knows (did you mean" in resolved.problems[1]


def test_unknown_columns_far_from_any_known_one_are_ignored_and_listed() -> None:
    resolved = resolve_headers(
        ["team", "therapist", "client", "dato", "ORS", "Kommentar"], Mapping(), "f.csv"
    )
    assert resolved.problems == []
    assert resolved.ignored == ["Kommentar"]


@pytest.mark.parametrize("header", ["Navn", "Fornavn", "etternavn", "Klientnavn", "Name"])
def test_a_column_of_names_is_refused_unless_a_mapping_ignores_it(header: str) -> None:
    headers = ["team", "therapist", "client", "dato", "ORS", header]
    refused = resolve_headers(headers, Mapping(), "f.csv")
    assert len(refused.problems) == 1 and "looks like person names" in refused.problems[0]
    allowed = resolve_headers(headers, Mapping(ignore=(header,)), "f.csv")
    assert allowed.problems == []


def test_two_columns_with_the_same_meaning_are_a_problem() -> None:
    resolved = resolve_headers(
        ["team", "therapist", "klient", "client_id", "dato", "ORS"], Mapping(), "f.csv"
    )
    assert any("both mean client" in p for p in resolved.problems)


def test_a_file_without_any_score_column_is_refused() -> None:
    resolved = resolve_headers(["team", "therapist", "client", "dato"], Mapping(), "f.csv")
    assert resolved.problems == [
        "f.csv: there is no score column; expected at least ors_total or srs_total "
        "(or the four items of a form)."
    ]


def test_shipped_mappings_load() -> None:
    shipped = shipped_mappings()
    assert {"paper_register_wide", "system_export"} <= set(shipped)
    wide = load_mapping("paper_register_wide")
    assert wide.layout == "wide" and wide.repeat["session_date"] == "Dato {n}"
    export = load_mapping(shipped["system_export"])
    assert export.columns["client"] == "KlientID"
    assert export.values["rater"]["mor"] == "parent"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: [a, b", "not valid YAML"),
        ("colums: {}", "unknown key(s) colums"),
        ("columns: {clinet: Klient}", "unknown column(s) 'clinet' (did you mean 'client'?)"),
        ("layout: wide\nrepeat: {ors_total: ORS}", "needs `repeat:` patterns"),
        ("layout: sideways", "layout must be long, wide or partners"),
    ],
)
def test_bad_mapping_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError) as error:
        load_mapping(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_a_missing_mapping_lists_the_shipped_ones() -> None:
    with pytest.raises(IngestError, match="paper_register_wide"):
        load_mapping("no-such-mapping")


def test_wide_register_becomes_one_row_per_session_keeping_spreadsheet_rows() -> None:
    frame = pd.DataFrame(
        {
            "Team": ["A", "A"],
            "Behandler": ["B", "B"],
            "Klientkode": ["K-1", "K-2"],
            "Aldersgruppe": ["barn", "voksen"],
            "Avslutning": ["", "Droppet ut"],
            "Dato 1": ["03.02.2025", "04.02.2025"],
            "ORS 1": ["20", "15"],
            "SRS 1": ["36", ""],
            "Dato 2": ["10.02.2025", ""],
            "ORS 2": ["22", ""],
            "SRS 2": ["37", ""],
            "Merknad": ["", "ny"],
        },
        dtype="str",
    )
    raw = RawFile(Path("register.csv"), frame, np.array([2, 3], dtype=np.int32), [])
    source = to_long(raw, load_mapping("paper_register_wide"))
    long = source.frame
    assert long["_row"].tolist() == [2, 2, 3]
    assert long["session_date"].tolist() == ["03.02.2025", "10.02.2025", "04.02.2025"]
    assert long["ors_total"].tolist() == ["20", "22", "15"]
    assert long["client"].tolist() == ["K-1", "K-1", "K-2"]
    assert long["end_type"].tolist() == ["", "", "unplanned"]  # value translated by the mapping
    assert source.headers[("ors_total", 2)] == "ORS 2"
    assert source.ignored == ["Merknad"]


def test_a_mappings_service_line_is_the_service_of_new_teams(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("service: '  Rask psykisk helsehjelp '\n", encoding="utf-8")
    assert load_mapping(path).defaults == {"service": "Rask psykisk helsehjelp"}
    path.write_text("service: A\ndefaults: {service: B}\n", encoding="utf-8")
    assert load_mapping(path).defaults == {"service": "B"}  # the defaults section says it too
    path.write_text("service: ['a', 'b']\n", encoding="utf-8")
    with pytest.raises(IngestError, match="`service` must be a service's name"):
        load_mapping(path)
