"""Caseload composition against a hand-built database where every number is known."""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from fitdata.analytics.flags import FLAGS, episode_flag_counts
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.config import ClinicalConfig
from fitdata.data.store import reader_for
from fitdata.features import expected_trajectory
from fitdata.features import team_review as cl
from fitdata.i18n import Translator
from fitdata.outputs import team_review as review_files
from tests.builders import session_rows, write_database

AS_OF = dt.date(2025, 3, 3)
MON = dt.date(2025, 1, 6)  # a Monday; sessions are weekly from their start


def _weeks(n: int) -> dt.date:
    return MON + dt.timedelta(weeks=n)


def build_review_db(path: Path) -> Path:
    """Team T1 with one case per situation the review must get right (as of 2025-03-03).

    - E1 K-STAG (B1): 8 sessions, ORS 15 -> 18 (+3): no reliable change from session 6;
      parent ratings too (ignored); below a lower line of intake + 2 at sessions 2-5 (17.0 at
      session 6 is exactly on it).
    - E2 K-GOOD (B1): ORS 20 -> 27 (+7), SRS rising; a 4th session after the as-of date.
    - (with :func:`line_model`, K-OLD is below the line too: 21 < 22 at session 2)
    - E3 K-ALLY (B2): SRS 38 -> 35.5 (below 36, a drop of 2.5), no SRS at session 3.
    - E4 K-GONE (B2, adolescent): last seen 2025-01-13, 49 days before the as-of date.
    - E5 K-DONE (B1): ended 2025-02-01 (planned), ORS 10 -> 21.
    - E6 couple (B2): K-P1 and K-P2, two rows in one episode.
    - E9 K-OLD (B1): ended 2024-06-01; outside a 3-month period.
    - E7 K-OTHER in team T2; E8 K-NEW in T1 starts after the as-of date.
    """
    teams = pd.DataFrame(
        {
            "team_id": ["T1", "T2"],
            "name": ["Team Nord", "Team Sør"],
            "service": ["Voksne", "Voksne"],
        }
    )
    therapists = pd.DataFrame(
        {
            "therapist_id": ["B1", "B2", "B3"],
            "name": ["Kari Nordmann", "Ola Hansen", "Åse Berg"],
            "team_id": ["T1", "T1", "T2"],
        }
    )
    clients = pd.DataFrame(
        {
            "client_id": [
                "K-STAG",
                "K-GOOD",
                "K-ALLY",
                "K-GONE",
                "K-DONE",
                "K-P1",
                "K-P2",
                "K-OLD",
                "K-OTHER",
                "K-NEW",
            ],
            "birth_year": [1980, 1985, 1990, 2009, 1970, 1975, 1977, 1960, 1982, 1999],
            "age_group": ["adult"] * 3 + ["adolescent"] + ["adult"] * 6,
        }
    )
    frames = [
        session_rows(
            "E1",
            "K-STAG",
            "B1",
            "T1",
            [15.0, 15.5, 16.0, 16.0, 16.5, 17.0, 17.5, 18.0],
            [38.0] * 8,
            start=_weeks(0),
            first_id=1,
        ),
        session_rows(
            "E1",
            "K-STAG",
            "B1",
            "T1",
            [5.0] * 8,
            [None] * 8,
            start=_weeks(0),
            rater="parent",
            first_id=20,
        ),
        session_rows(
            "E2",
            "K-GOOD",
            "B1",
            "T1",
            [20.0, 24.0, 27.0, 35.0],
            [38.0, 39.0, 39.5, 40.0],
            start=_weeks(6),
            first_id=40,
        ),
        session_rows(
            "E3",
            "K-ALLY",
            "B2",
            "T1",
            [18.0, 19.0, 21.0],
            [38.0, 35.5, None],
            start=_weeks(4),
            items=True,
            first_id=50,
        ),
        session_rows("E4", "K-GONE", "B2", "T1", [22.0, 23.0], [39.0, 39.0], first_id=60),
        session_rows(
            "E5", "K-DONE", "B1", "T1", [10.0, 16.0, 21.0], [36.0, 37.0, 38.0], first_id=70
        ),
        session_rows(
            "E6", "K-P1", "B2", "T1", [25.0, 26.0], [39.0, 40.0], start=_weeks(6), first_id=80
        ),
        session_rows(
            "E6", "K-P2", "B2", "T1", [30.0, 29.0], [40.0, 40.0], start=_weeks(6), first_id=90
        ),
        session_rows(
            "E9",
            "K-OLD",
            "B1",
            "T1",
            [20.0, 21.0, 22.0],
            [38.0, 38.0, 38.0],
            start=dt.date(2024, 3, 4),
            first_id=100,
        ),
        session_rows("E7", "K-OTHER", "B3", "T2", [12.0, 13.0], [30.0, 31.0], first_id=110),
        session_rows(
            "E8", "K-NEW", "B1", "T1", [14.0], [38.0], start=dt.date(2025, 3, 10), first_id=120
        ),
    ]
    sessions = pd.concat(frames, ignore_index=True)
    episodes = pd.DataFrame(
        {
            "episode_id": ["E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9"],
            "client_id": [
                "K-STAG",
                "K-GOOD",
                "K-ALLY",
                "K-GONE",
                "K-DONE",
                "K-P1",
                "K-OTHER",
                "K-NEW",
                "K-OLD",
            ],
            "therapist_id": ["B1", "B1", "B2", "B2", "B1", "B2", "B3", "B1", "B1"],
            "team_id": ["T1"] * 6 + ["T2", "T1", "T1"],
            "started": [
                _weeks(0),
                _weeks(6),
                _weeks(4),
                _weeks(0),
                _weeks(0),
                _weeks(6),
                _weeks(0),
                dt.date(2025, 3, 10),
                dt.date(2024, 3, 4),
            ],
            "ended": [None, None, None, None, dt.date(2025, 2, 1), None, None, None]
            + [dt.date(2024, 6, 1)],
            "end_type": [None, None, None, None, "planned", None, None, None, "planned"],
            "format": ["individual"] * 5 + ["couple"] + ["individual"] * 3,
        }
    )
    return write_database(
        path,
        teams=teams,
        therapists=therapists,
        clients=clients,
        episodes=episodes,
        sessions=sessions,
    )


def line_model(lower: float = 2.0, expected: float = 4.0, n: int = 100) -> TrajectoryModel:
    """A hand-made model: from session 2, lower = intake + lower, expected = intake + expected."""
    bands, sessions = 10, 12
    session_no = np.tile(np.arange(1, sessions + 1), bands)
    band_low = np.repeat(np.arange(bands) * 4.0, sessions)
    later = session_no >= 2
    grid = pd.DataFrame(
        {
            "intake_band_low": band_low,
            "intake_band_high": band_low + 4,
            "session_no": session_no,
            "n_episodes": n,
            "sufficient": n >= 30,
            "expected_change": np.where(later, expected, 0.0),
            "lower_change": np.where(later, lower, 0.0),
        }
    )
    return TrajectoryModel(grid=grid, min_episodes=30, band_width=4.0, max_session=sessions)


@pytest.fixture(scope="module")
def review_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_db(tmp_path_factory.mktemp("review") / "review.duckdb")


@pytest.fixture(scope="module")
def team(review_db: Path) -> cl.Caseload:
    return cl.team_caseload(reader_for(review_db), team_id="T1", as_of=AS_OF, model=line_model())


def row(caseload: cl.Caseload, client: str) -> pd.Series:
    rows = caseload.episodes[caseload.episodes["client_id"] == client]
    assert len(rows) == 1, client
    return rows.iloc[0]


def flagged(caseload: cl.Caseload, flag: str) -> list[str]:
    episodes = caseload.episodes
    return sorted(episodes.loc[episodes[flag], "client_id"])


# --- composition ------------------------------------------------------------------------------


def test_one_row_per_client_episode_of_the_team_up_to_the_date(team: cl.Caseload) -> None:
    assert sorted(team.episodes["key"]) == [
        "E1|K-STAG",
        "E2|K-GOOD",
        "E3|K-ALLY",
        "E4|K-GONE",
        "E5|K-DONE",
        "E6|K-P1",
        "E6|K-P2",
        "E9|K-OLD",
    ]
    assert list(team.episodes.columns) == [*cl.CASELOAD_COLUMNS, *FLAGS]


def test_sessions_count_only_the_clients_own_ratings_up_to_the_date(team: cl.Caseload) -> None:
    assert row(team, "K-STAG")["sessions"] == 8  # eight parent ratings are not counted
    assert row(team, "K-GOOD")["sessions"] == 3  # the fourth session is after the date
    assert row(team, "K-GOOD")["last_ors"] == 27.0


def test_first_last_change_and_last_srs(team: cl.Caseload) -> None:
    stag = row(team, "K-STAG")
    assert (stag["first_ors"], stag["last_ors"], stag["change"]) == (15.0, 18.0, 3.0)
    assert row(team, "K-GOOD")["change"] == 7.0
    assert row(team, "K-DONE")["change"] == 11.0
    assert row(team, "K-P2")["change"] == -1.0
    assert row(team, "K-ALLY")["last_srs"] == 35.5  # the last SRS given, not the missing one
    assert row(team, "K-STAG")["therapist"] == "Kari Nordmann"
    assert row(team, "K-GONE")["age_group"] == "adolescent"


def test_weeks_since_last_session_and_status(team: cl.Caseload) -> None:
    gone = row(team, "K-GONE")
    assert gone["last_session"] == pd.Timestamp(2025, 1, 13)
    assert gone["days_since_last"] == 49 and gone["weeks_since_last"] == 7.0
    assert bool(gone["ongoing"])
    done = row(team, "K-DONE")
    assert not done["ongoing"] and done["end_type"] == "planned"


def test_an_episode_ending_after_the_date_is_ongoing_then(review_db: Path) -> None:
    earlier = cl.team_caseload(reader_for(review_db), team_id="T1", as_of=dt.date(2025, 1, 27))
    done = row(earlier, "K-DONE")
    assert done["ongoing"] and pd.isna(done["ended"])


def test_flag_columns_say_what_holds_now(team: cl.Caseload) -> None:
    assert flagged(team, "no_reliable_change") == ["K-STAG"]  # +3.0 at session 8 still
    assert flagged(team, "srs_below_cutoff") == ["K-ALLY"]  # 35.5 is the last SRS
    # 38 -> 35.5: one earlier SRS is not yet a usual level to fall below
    assert flagged(team, "srs_drop") == []
    assert flagged(team, "missing_srs") == ["K-ALLY"]  # the last session has no SRS
    assert flagged(team, "not_seen") == ["K-GONE"]
    assert flagged(team, "srs_item_below") == ["K-ALLY"]  # items 8.9, 8.9, 8.9, 8.8
    # below the line once (K-STAG at sessions 2-5), back on or above it at the last ORS
    assert flagged(team, "not_on_track") == []
    assert row(team, "K-GOOD")["flag_count"] == 0
    ally = row(team, "K-ALLY")
    assert (ally["flag_count"], ally["warning_count"], ally["prompt_count"]) == (3, 2, 1)


def test_resolved_flags_are_the_cases_history(team: cl.Caseload) -> None:
    history = team.flags[~team.flags["current"]]
    assert sorted(history.loc[history["flag"] == "not_on_track", "client_id"]) == [
        "K-ALLY",
        "K-GONE",
        "K-OLD",
        "K-P1",
        "K-P2",
        "K-STAG",
    ]
    now, earlier = cl.case_flags(team, "E1|K-STAG")
    assert now["flag"].tolist() == ["no_reliable_change"]
    assert earlier["flag"].tolist() == ["not_on_track"]
    # below intake + 2 = 17.0 at sessions 2-5; 17.0 at session 6 is on the line: on track
    assert (earlier["first_session"].item(), earlier["last_session"].item()) == (2, 5)
    assert earlier["sessions"].item() == 4
    assert row(team, "K-STAG")["history_count"] == 1
    assert row(team, "K-GOOD")["history_count"] == 0


def test_the_most_urgent_current_flag_and_its_rank(team: cl.Caseload) -> None:
    ally = row(team, "K-ALLY")  # SRS below the cutoff comes before the low item
    assert ally["urgent_flag"] == "srs_below_cutoff"
    assert ally["urgency"] == cl.urgency_rank("srs_below_cutoff")
    assert row(team, "K-STAG")["urgent_flag"] == "no_reliable_change"
    good = row(team, "K-GOOD")
    assert (good["urgent_flag"], good["urgency"]) == ("", len(cl.URGENCY))


def test_flag_columns_agree_with_episode_flag_counts(review_db: Path, team: cl.Caseload) -> None:
    direct = episode_flag_counts(reader_for(review_db), team_id="T1", as_of=AS_OF)
    keys = set(team.episodes["key"])
    direct = direct[(direct["episode_id"] + "|" + direct["client_id"]).isin(keys)]
    now = direct[direct["current"]]
    for flag in FLAGS:
        expected = sorted(now.loc[now["flag"] == flag, "client_id"])
        if flag not in ("not_on_track", "not_judged"):  # those need the model
            assert flagged(team, flag) == expected, flag


def test_without_a_model_nothing_is_judged_not_on_track(review_db: Path) -> None:
    plain = cl.team_caseload(reader_for(review_db), team_id="T1", as_of=AS_OF)
    assert not plain.episodes["not_on_track"].any()
    assert not (plain.flags["flag"] == "not_on_track").any()


def test_a_too_thin_model_judges_nothing_and_says_so(review_db: Path) -> None:
    thin = cl.team_caseload(
        reader_for(review_db), team_id="T1", as_of=AS_OF, model=line_model(n=10)
    )
    assert not thin.episodes["not_on_track"].any()
    # every ongoing case with an ORS is "not judged": a data-quality prompt, not a warning
    ongoing = cl.filter_caseload(thin.episodes, as_of=AS_OF, status="ongoing")
    assert ongoing["not_judged"].all()
    assert cl.flag_group_counts(ongoing)["not_judged"] == len(ongoing)
    assert (ongoing["warning_count"] == ongoing["flag_count"] - ongoing["prompt_count"]).all()
    assert not cl.is_warning("not_judged")


def test_thresholds_come_from_the_config(review_db: Path) -> None:
    strict = ClinicalConfig(not_seen_weeks=8, stagnation_sessions=9)
    caseload = cl.team_caseload(reader_for(review_db), team_id="T1", as_of=AS_OF, config=strict)
    assert flagged(caseload, "not_seen") == []  # 49 days is not more than 8 weeks
    assert flagged(caseload, "no_reliable_change") == []  # K-STAG has only 8 sessions


def test_therapist_is_pushed_into_sql(review_db: Path) -> None:
    caseload = cl.team_caseload(reader_for(review_db), team_id="T1", as_of=AS_OF, therapist_id="B2")
    assert sorted(caseload.episodes["client_id"]) == ["K-ALLY", "K-GONE", "K-P1", "K-P2"]


def test_an_unknown_team_gives_an_empty_caseload(review_db: Path) -> None:
    caseload = cl.team_caseload(reader_for(review_db), team_id="NOPE", as_of=AS_OF)
    assert caseload.episodes.empty and list(caseload.episodes.columns)[0] == "key"


# --- filters, counts, sorting -----------------------------------------------------------------


def clients(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["client_id"])


def test_status_filter(team: cl.Caseload) -> None:
    ongoing = cl.filter_caseload(team.episodes, as_of=AS_OF, status="ongoing")
    assert clients(ongoing) == ["K-ALLY", "K-GONE", "K-GOOD", "K-P1", "K-P2", "K-STAG"]
    ended = cl.filter_caseload(team.episodes, as_of=AS_OF, status="ended")
    assert clients(ended) == ["K-DONE", "K-OLD"]
    assert len(cl.filter_caseload(team.episodes, as_of=AS_OF, status="all")) == 8


def test_period_filter_keeps_episodes_active_in_the_period(team: cl.Caseload) -> None:
    recent = cl.filter_caseload(team.episodes, as_of=AS_OF, period="3m")
    assert "K-OLD" not in clients(recent) and "K-DONE" in clients(recent)
    assert "K-OLD" in clients(cl.filter_caseload(team.episodes, as_of=AS_OF, period="12m"))


def test_therapist_age_and_flag_group_filters(team: cl.Caseload) -> None:
    frame = team.episodes
    assert clients(cl.filter_caseload(frame, as_of=AS_OF, therapist_id="B1")) == [
        "K-DONE",
        "K-GOOD",
        "K-OLD",
        "K-STAG",
    ]
    assert clients(cl.filter_caseload(frame, as_of=AS_OF, age_group="adolescent")) == ["K-GONE"]
    alliance = cl.filter_caseload(frame, as_of=AS_OF, flag_group="alliance")
    assert clients(alliance) == ["K-ALLY"]
    both = cl.filter_caseload(
        frame, as_of=AS_OF, therapist_id="B2", status="ongoing", flag_group="missing_feedback"
    )
    assert clients(both) == ["K-ALLY"]
    # a flag that held earlier and resolved does not put a case in its filter
    assert clients(cl.filter_caseload(frame, as_of=AS_OF, flag_group="not_on_track")) == []


def test_flag_group_counts(team: cl.Caseload) -> None:
    ongoing = cl.filter_caseload(team.episodes, as_of=AS_OF, status="ongoing")
    assert cl.flag_group_counts(ongoing) == {
        "reliable_deterioration": 0,
        "not_on_track": 0,
        "alliance": 1,
        "no_reliable_change": 1,
        "not_seen": 1,
        "missing_feedback": 1,
        "srs_always_40": 0,
        "not_judged": 0,
    }


def test_filters_split_warnings_from_data_prompts_in_order_of_urgency() -> None:
    warnings = [c for f in cl.WARNING_FILTERS.values() for c in f]
    prompts = [c for f in cl.PROMPT_FILTERS.values() for c in f]
    assert sorted(warnings + prompts) == sorted(FLAGS)  # every flag in exactly one filter
    assert all(cl.FLAG_GROUP[c] in cl.WARNING_GROUPS for c in warnings)
    assert all(cl.FLAG_GROUP[c] == "data_quality" for c in prompts)
    assert set(cl.WARNING_FILTERS["alliance"]) == {"srs_below_cutoff", "srs_drop", "srs_item_below"}
    for filters in (cl.WARNING_FILTERS, cl.PROMPT_FILTERS):
        firsts = [min(map(cl.urgency_rank, codes)) for codes in filters.values()]
        assert firsts == sorted(firsts)
    assert list(cl.FLAG_GROUPS) == [*cl.WARNING_FILTERS, *cl.PROMPT_FILTERS]


def test_bad_filter_values_are_refused(team: cl.Caseload) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        cl.filter_caseload(team.episodes, as_of=AS_OF, status="open")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown period"):
        cl.filter_caseload(team.episodes, as_of=AS_OF, period="2w")
    with pytest.raises(ValueError, match="unknown flag group"):
        cl.filter_caseload(team.episodes, as_of=AS_OF, flag_group="sad")


def test_period_start_handles_month_ends() -> None:
    assert cl.period_start(dt.date(2025, 5, 31), "3m") == dt.date(2025, 2, 28)
    assert cl.period_start(dt.date(2024, 5, 31), "3m") == dt.date(2024, 2, 29)
    assert cl.period_start(dt.date(2025, 1, 15), "12m") == dt.date(2024, 1, 15)
    assert cl.period_start(dt.date(2025, 1, 15), "all") is None


def test_sorting_puts_missing_values_last_either_way(team: cl.Caseload) -> None:
    up = cl.sort_caseload(team.episodes, "change")
    down = cl.sort_caseload(team.episodes, "change", descending=True)
    assert up["change"].tolist()[:2] == [-1.0, 1.0]
    assert down["client_id"].tolist()[0] == "K-DONE"
    with pytest.raises(ValueError, match="cannot sort"):
        cl.sort_caseload(team.episodes, "shoe_size")


def test_the_default_order_is_urgency_then_longest_unseen(team: cl.Caseload) -> None:
    by_urgency = cl.sort_caseload(team.episodes, cl.URGENCY_SORT, descending=True)
    # SRS below the cutoff, then no reliable change, then not seen; then cases without a
    # current flag, the longest since their last session first (K-P1 and K-P2 tie: by code)
    assert by_urgency["client_id"].tolist() == [
        "K-ALLY",
        "K-STAG",
        "K-GONE",
        "K-OLD",
        "K-DONE",
        "K-P1",
        "K-P2",
        "K-GOOD",
    ]
    least = cl.sort_caseload(team.episodes, cl.URGENCY_SORT, descending=False)
    assert least["client_id"].tolist()[0] == "K-GOOD"
    assert least["client_id"].tolist()[-1] == "K-ALLY"


def test_sorting_breaks_ties_by_client_code(team: cl.Caseload) -> None:
    by_sessions = cl.sort_caseload(team.episodes, "sessions")
    two = by_sessions[by_sessions["sessions"] == 2]["client_id"].tolist()
    assert two == ["K-GONE", "K-P1", "K-P2"]


# --- one case, export, model cache ------------------------------------------------------------


def test_episode_detail_has_the_band_and_flags_at_their_sessions(
    review_db: Path, team: cl.Caseload
) -> None:
    detail = cl.episode_detail(
        reader_for(review_db),
        "E4",
        "K-GONE",
        as_of=AS_OF,
        model=line_model(),
        episode_flags=team.flags[team.flags["key"] == "E4|K-GONE"],
    )
    assert detail.age_group == "adolescent"
    assert detail.expected["session_no"].tolist() == [1, 2]
    assert detail.expected["lower"].tolist() == [22.0, 24.0]
    assert detail.expected["expected"].tolist() == [22.0, 26.0]
    at = detail.session_flags.set_index("flag")["session_no"]
    assert at["not_on_track"] == 2 and at["not_seen"] == 2
    not_seen = detail.session_flags[detail.session_flags["flag"] == "not_seen"].iloc[0]
    assert "49 days" in not_seen["rule"]


def test_episode_detail_stops_at_the_date_and_keeps_other_raters(review_db: Path) -> None:
    good = cl.episode_detail(reader_for(review_db), "E2", "K-GOOD", as_of=AS_OF)
    assert good.sessions["session_no"].tolist() == [1, 2, 3]
    assert good.expected.empty  # no model, no band
    stag = cl.episode_detail(reader_for(review_db), "E1", "K-STAG", as_of=AS_OF, lang="nb")
    assert set(stag.sessions["rater"]) == {"client", "parent"}
    stagnant = stag.session_flags[stag.session_flags["flag"] == "no_reliable_change"]
    assert stagnant["session_no"].tolist() == [6, 7, 8]
    assert "pålitelig" in stagnant["rule"].iloc[0]


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Klient": ["K-ÆØÅ", "K-2"],
            "Endring": [7.4, math.nan],
            "Startet": [dt.date(2025, 1, 6), dt.date(2025, 2, 3)],
        }
    )


def test_csv_export_follows_the_language() -> None:
    english = review_files.export_csv(table(), lang="en").decode("utf-8-sig").splitlines()
    assert english == ["Klient,Endring,Startet", "K-ÆØÅ,7.4,2025-01-06", "K-2,,2025-02-03"]
    bokmal = review_files.export_csv(table(), lang="nb")
    assert bokmal.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    assert bokmal.decode("utf-8-sig").splitlines()[1] == "K-ÆØÅ;7,4;2025-01-06"


def test_excel_export_keeps_numbers_and_adds_the_rules_sheet() -> None:
    data = review_files.export_excel(
        table(), sheet="Saker", notes=[("Ikke på sporet", "ORS under ...")]
    )
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Saker", "Rules"]
    sheet = book["Saker"]
    assert [c.value for c in sheet[1]] == ["Klient", "Endring", "Startet"]
    assert sheet["B2"].value == 7.4 and sheet["A2"].value == "K-ÆØÅ"
    assert book["Rules"]["A1"].value == "Ikke på sporet"


def test_model_is_fitted_once_per_file(review_db: Path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(
        expected_trajectory,
        "fit_trajectories",
        lambda reader, **params: calls.append(1) or line_model(),
    )
    monkeypatch.setattr(expected_trajectory, "store_json", lambda *args, **kwargs: None)
    expected_trajectory.clear_memory()
    reader = reader_for(review_db)
    first = cl.trajectory_model(reader)
    assert cl.trajectory_model(reader) is first and len(calls) == 1
    expected_trajectory.clear_memory()


def test_latest_session_date(review_db: Path) -> None:
    assert cl.latest_session_date(reader_for(review_db)) == dt.date(2025, 3, 10)


# --- now versus ever: the recovered client of issue 18 ---------------------------------------


def build_recovered_db(path: Path) -> Path:
    """One client who got reliably better and is above the cutoff now (issue 18's case).

    ORS 15 -> 28 over eight weekly sessions: +4.5 at session 6 (no reliable change then),
    +13 at session 8; SRS 39, 39, 37 (a clear fall below the usual 39 at session 3), 39.5 at
    the last session.
    """
    sessions = session_rows(
        "E1",
        "K-REC",
        "B1",
        "T1",
        [15.0, 16.0, 17.0, 18.0, 19.0, 19.5, 24.0, 28.0],
        [39.0, 39.0, 37.0, 38.5, 39.0, 39.0, 39.5, 39.5],
        first_id=1,
    )
    return write_database(
        path,
        teams=pd.DataFrame({"team_id": ["T1"], "name": ["Team Nord"], "service": ["Voksne"]}),
        therapists=pd.DataFrame(
            {"therapist_id": ["B1"], "name": ["Kari Nordmann"], "team_id": ["T1"]}
        ),
        clients=pd.DataFrame(
            {"client_id": ["K-REC"], "birth_year": [1980], "age_group": ["adult"]}
        ),
        episodes=pd.DataFrame(
            {
                "episode_id": ["E1"],
                "client_id": ["K-REC"],
                "therapist_id": ["B1"],
                "team_id": ["T1"],
                "started": [MON],
                "ended": [None],
                "end_type": [None],
                "format": ["individual"],
            }
        ),
        sessions=sessions,
    )


@pytest.fixture(scope="module")
def recovered(tmp_path_factory: pytest.TempPathFactory) -> cl.Caseload:
    path = build_recovered_db(tmp_path_factory.mktemp("recovered") / "recovered.duckdb")
    return cl.team_caseload(reader_for(path), team_id="T1", as_of=AS_OF, model=line_model())


def test_a_recovered_client_carries_no_current_flag_but_its_history(
    recovered: cl.Caseload,
) -> None:
    case = row(recovered, "K-REC")
    assert case["flag_count"] == 0 and case["urgent_flag"] == ""
    assert not case[list(FLAGS)].any()
    assert case["change"] == 13.0
    now, earlier = cl.case_flags(recovered, "E1|K-REC")
    assert now.empty
    # most urgent first, each with the session it last held
    assert list(zip(earlier["flag"], earlier["last_session"], strict=True)) == [
        ("not_on_track", 2),
        ("srs_drop", 3),
        ("no_reliable_change", 6),
    ]
    counts = cl.flag_group_counts(recovered.episodes)
    assert sum(counts.values()) == 0


def test_the_export_shows_current_flags_apart_from_history(
    team: cl.Caseload, recovered: cl.Caseload
) -> None:
    tr = Translator("en")
    listed = cl.sort_caseload(team.cases, cl.URGENCY_SORT, descending=True)
    table = review_files.case_list_table(listed, team.flags, tr)
    assert table["Client"].tolist() == listed["client_id"].tolist()
    # the couple E6 is one row naming both partners; the others name no one
    assert table["Participants"].tolist().count("Couple: K-P1 (index), K-P2 (partner)") == 1
    assert set(table.loc[table["Client"] != "K-P1", "Participants"]) == {""}
    ally = table[table["Client"] == "K-ALLY"].iloc[0]
    assert ally["Most urgent now"] == "SRS below cutoff"
    assert ally["Warnings now"] == "SRS below cutoff; Low SRS item"
    assert ally["Data to check now"] == "SRS missing"
    assert ally["Earlier, not now"] == "Not on track (until session 2)"
    good = table[table["Client"] == "K-GOOD"].iloc[0]
    assert (good["Warnings now"], good["Earlier, not now"]) == ("", "")

    nb = review_files.case_list_table(recovered.cases, recovered.flags, Translator("nb"))
    rec = nb.iloc[0]
    assert rec["Varsler nå"] == "" and rec["Mest presserende nå"] == ""
    assert rec["Tidligere, ikke nå"] == (
        "Ikke på sporet (til samtale 2); SRS-fall (til samtale 3); "
        "Ingen pålitelig endring (til samtale 6)"
    )


def test_the_case_list_file_is_private_and_replaced_whole(tmp_path: Path, team) -> None:
    tr = Translator("nb")
    table = review_files.case_list_table(team.cases, team.flags, tr)
    out = tmp_path / "agenda.csv"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o644)
    assert review_files.write_case_list(out, table, tr=tr) == "csv"
    assert (out.stat().st_mode & 0o777) == 0o600
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Klient;Deltakere;Forløp;Terapeut") and len(lines) == len(table) + 1
    assert not list(tmp_path.glob(".*partial"))
    book = tmp_path / "agenda.xlsx"
    notes = [("Flagg per", "03.03.2025")]
    assert review_files.write_case_list(book, table, tr=tr, notes=notes) == "excel"
    assert openpyxl.load_workbook(book).sheetnames == ["Saksgjennomgang", "Regler"]
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        review_files.write_case_list(tmp_path / "agenda.pdf", table, tr=tr)
