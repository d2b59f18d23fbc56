"""The team case review driven in plain Python, as a team would in its meeting."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fitdata.data.store import reader_for
from fitdata.features import team_review as cl
from fitdata.ui import DashboardContext, TeamReviewView, build_team_review
from tests.unit.test_team_review import AS_OF, build_review_db, line_model


@pytest.fixture(scope="module")
def review_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_db(tmp_path_factory.mktemp("review-view") / "review.duckdb")


@pytest.fixture
def view(review_db: Path) -> TeamReviewView:
    view = TeamReviewView(DashboardContext(review_db), model=line_model())
    view.as_of.value = AS_OF
    return view


def labels(view: TeamReviewView) -> list[str]:
    return [label for label, _ in view.flag_filter.options]


def listed(view: TeamReviewView) -> list[str]:
    """The first cells of the table; a couple's participants (a line each) read as one line."""
    return [" ".join(row["cells"]["client_id"].split()) for row in view.table.rows]


def trace(view: TeamReviewView, name: str):
    return next(t for t in view.figure.data if t.name == name)


def test_opens_on_the_latest_session_date_with_the_first_team(review_db: Path) -> None:
    view = TeamReviewView(DashboardContext(review_db), model=line_model())
    assert view.as_of.value == dt.date(2025, 3, 10)
    assert "2025-03-10, the latest session in the database" in view.as_of_note.value
    assert view.service.value == "Voksne" and view.team.value == "T1"
    assert [label for label, _ in view.team.options] == [
        "Team Nord (9 clients)",
        "Team Sør (1 client)",
    ]
    assert view.status.value == "ongoing"
    # the newest episode (started on the latest date) is in the list
    assert "K-NEW" in listed(view)


def prompts(view: TeamReviewView) -> list[str]:
    return [label for label, _ in view.prompt_filter.options]


def test_summary_line_counts_what_holds_now_most_urgent_first(view) -> None:
    assert labels(view) == [
        "All: 5 cases",  # the couple E6 is one case
        "0 reliably worse now",
        "0 not on track now",  # five were below the line once; none is at the last ORS
        "1 alliance warning now",
        "1 without reliable change now (session 6 or later)",
        "1 not seen for more than 4 weeks",
    ]
    # data-quality prompts apart, with their own counts, none chosen
    assert prompts(view) == [
        "1 with a form missing at the last session",
        "0 not judged (too few comparable episodes)",
        "0 with SRS 40 every time",
    ]
    assert view.prompt_filter.value is None
    assert "2025-03-03: what held then; sessions after it are ignored" in view.as_of_note.value


def test_the_list_opens_most_urgent_first(view) -> None:
    assert (view.table.sort_by, view.table.descending) == ("flags", True)
    assert listed(view) == [
        "K-ALLY",
        "K-STAG",
        "K-GONE",
        "Couple: K-P1 (index), K-P2 (partner)",
        "K-GOOD",
    ]
    chips = [chip["code"] for chip in view.table.rows[0]["flags"]]
    assert chips == ["srs_below_cutoff", "srs_item_below", "missing_srs"]
    assert view.table.selected == "E3|K-ALLY"


def test_a_prompt_filters_apart_and_lets_the_warning_go(view) -> None:
    view.flag_filter.value = "alliance"
    view.prompt_filter.value = "missing_feedback"
    assert view.flag_filter.value == "all" and view.flag_group == "missing_feedback"
    assert listed(view) == ["K-ALLY"]
    view.flag_filter.value = "not_seen"
    assert view.prompt_filter.value is None
    assert listed(view) == ["K-GONE"]


def test_the_chosen_case_shows_what_holds_now_and_its_history(view) -> None:
    view.table.selected = "E1|K-STAG"
    shown = view.graph_flags.value
    now, history = shown.split("Earlier, not now:")
    assert "Holds now:" in now and 'data-flag="no_reliable_change"' in now
    assert "(holds now, at session 8)" in now
    assert 'data-flag="not_on_track"' in history and "held until session 5; not now" in history
    view.table.selected = "E2|K-GOOD"
    assert "No flag holds now." in view.graph_flags.value
    assert "No flag held earlier and resolved." in view.graph_flags.value


def test_therapist_options_count_the_teams_cases(view) -> None:
    assert [label for label, _ in view.therapist.options] == [
        "All therapists",
        "Kari Nordmann (4 cases)",
        "Ola Hansen (3 cases)",  # K-ALLY, K-GONE and the couple
    ]


def test_clicking_a_count_filters_the_table_and_opens_the_first_case(view) -> None:
    view.flag_filter.value = "not_seen"
    assert listed(view) == ["K-GONE"]
    # the chip is the flag that holds now; not on track at session 2 is history
    assert [chip["code"] for chip in view.table.rows[0]["flags"]] == ["not_seen"]
    assert "49 days before 2025-03-03" in view.table.rows[0]["flags"][0]["rule"]
    assert view.table.selected == "E4|K-GONE"
    assert view.figure.layout.title.text == "Client K-GONE · Ola Hansen"
    assert list(trace(view, "Not seen lately").x) == [2]
    assert "1 case listed" in view.table_note.value


def test_presets_filter_and_sort(view) -> None:
    view.apply_preset("stagnating")
    assert view.flag_filter.value == "no_reliable_change"
    assert (view.table.sort_by, view.table.descending) == ("sessions", True)
    assert listed(view) == ["K-STAG"]
    view.presets["alliance"].click()
    assert view.flag_filter.value == "alliance" and view.table.sort_by == "last_srs"
    assert listed(view) == ["K-ALLY"]
    view.apply_preset("not_seen")
    assert listed(view) == ["K-GONE"]
    with pytest.raises(ValueError, match="unknown preset"):
        view.apply_preset("happy")


def test_sorting_from_the_table_header(view) -> None:
    view.table.sort_by = "change"
    view.table.descending = False
    # the couple sorts by its lower change (K-P2's -1.0) and shows both partners' own
    assert listed(view) == [
        "Couple: K-P1 (index), K-P2 (partner)",
        "K-GONE",
        "K-ALLY",
        "K-STAG",
        "K-GOOD",
    ]
    changes = [row["cells"]["change"] for row in view.table.rows]
    assert changes == ["\n+1.0\n\u22121.0", "+1.0", "+3.0", "+3.0", "+7.0"]  # a line each
    view.table.descending = True
    assert listed(view)[0] == "K-GOOD"


def test_status_period_therapist_and_age_filters(view) -> None:
    view.status.value = "ended"
    assert sorted(listed(view)) == ["K-DONE", "K-OLD"]
    assert view.table.rows[0]["cells"]["weeks_since_last"] == "ended"
    view.period.value = "3m"
    assert listed(view) == ["K-DONE"]
    view.status.value = "ongoing"
    view.period.value = "all"
    view.therapist.value = "B1"
    assert sorted(listed(view)) == ["K-GOOD", "K-STAG"]
    assert labels(view)[0] == "All: 2 cases"
    view.therapist.value = "all"
    view.age_group.value = "adolescent"
    assert listed(view) == ["K-GONE"]


def test_a_filter_keeps_the_chosen_flag_button_and_recounts(view) -> None:
    view.flag_filter.value = "not_seen"
    view.therapist.value = "B1"
    assert view.flag_filter.value == "not_seen"
    assert labels(view)[5] == "0 not seen for more than 4 weeks"
    assert listed(view) == []
    view.therapist.value = "B2"
    assert labels(view)[5] == "1 not seen for more than 4 weeks"
    assert listed(view) == ["K-GONE"]


def test_choosing_a_row_draws_its_graph_with_band_and_flags(view, review_db) -> None:
    view.table.selected = "E1|K-STAG"
    assert view.figure.layout.title.text == "Client K-STAG · Kari Nordmann"
    ors = reader_for(review_db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions "
        "WHERE client_id = 'K-STAG' AND rater = 'client' ORDER BY session_no"
    )
    assert list(trace(view, "ORS").y) == ors["ors"].tolist()
    median = trace(view, "Expected ORS (median of 100 closed episodes)")
    assert list(median.y) == [15.0] + [19.0] * 7  # intake 15 + 4 from session 2
    assert list(trace(view, "Lower expected line (25th percentile)").y) == [15.0] + [17.0] * 7
    assert list(trace(view, "Not on track").x) == [2, 3, 4, 5]
    assert list(trace(view, "No reliable change").x) == [6, 7, 8]
    assert list(trace(view, "ORS rated by parent").y) == [5.0] * 8
    assert "ORS +3.0 since the first session: no reliable change" in view.graph_status.value
    assert "100 closed episodes" in view.graph_expected.value
    assert "Expected trajectory" in view.graph_rules.value
    assert view.chosen_episode_ids() == [("E1", "K-STAG")]


def test_a_thin_model_falls_back_to_the_reliable_change_band(review_db: Path) -> None:
    view = TeamReviewView(DashboardContext(review_db), model=line_model(n=10))
    view.as_of.value = AS_OF
    view.table.selected = "E1|K-STAG"
    names = [t.name for t in view.figure.data]
    assert not any(n.startswith("Expected ORS") for n in names)
    assert "Reliable change: ±5 around the first ORS" in names
    assert "fewer than 30" in view.graph_expected.value
    assert "fewer than 30 closed episodes" in view.figure.layout.annotations[0].text


def test_export_holds_the_list_as_shown(view) -> None:
    view.apply_preset("stagnating")
    view.flag_filter.value = "all"
    shown = listed(view)
    table = view.export_table()
    assert table["Client"].tolist() == view._listed["client_id"].tolist()
    assert [p or c for p, c in zip(table["Participants"], table["Client"], strict=True)] == shown
    assert [ep for ep, _ in view.listed_episode_ids()] == table["Episode"].tolist()
    name, data = view._csv_file()
    assert name == "case-review-T1-2025-03-03.csv"
    csv = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False)
    assert csv["Client"].tolist() == table["Client"].tolist()
    stag = csv[csv["Client"] == "K-STAG"].iloc[0]
    assert stag["Sessions"] == 8 and stag["Change"] == 3.0
    assert stag["Warnings now"] == "No reliable change"
    assert stag["Earlier, not now"] == "Not on track (until session 5)"
    cells = {row["key"]: row["cells"] for row in view.table.rows}
    for record in csv.itertuples():
        if not record.Participants:  # a couple's cell holds each partner's own sessions
            assert str(record.Sessions) == cells[f"{record.Episode}|{record.Client}"]["sessions"]
    name, data = view._excel_file()
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert name.endswith(".xlsx") and book.sheetnames == ["Case review", "Rules"]
    sheet = book["Case review"]
    assert [sheet.cell(r, 1).value for r in range(2, len(shown) + 2)] == table["Client"].tolist()
    rules = {row[0].value: row[1].value for row in book["Rules"].iter_rows()}
    assert rules["Flags as of"] == "2025-03-03"
    assert "more than 4 weeks" in rules["Not seen lately"]
    assert "the last 2 ORS judged" in rules["Not on track"]
    assert "fewer than 30 comparable closed episodes" in rules["Not judged"]
    assert rules["Order"].startswith("Most urgent flag that holds now first")


def test_an_earlier_date_recomputes_the_flags(view) -> None:
    view.as_of.value = dt.date(2025, 1, 27)
    # K-DONE ended on 1 February: ongoing then, and its last session was a week before
    assert "K-DONE" in listed(view)
    assert labels(view)[5] == "0 not seen for more than 4 weeks"


def test_norwegian_page(review_db: Path) -> None:
    view = TeamReviewView(DashboardContext(review_db, lang="nb"), model=line_model())
    view.as_of.value = AS_OF
    assert labels(view)[:3] == ["Alle: 5 saker", "0 pålitelig forverret nå", "0 ikke på sporet nå"]
    assert prompts(view)[0] == "1 med et skjema som mangler ved siste samtale"
    assert view.status.options[0][0] == "Pågående"
    view.table.selected = "E3|K-ALLY"
    cells = next(r["cells"] for r in view.table.rows if r["key"] == "E3|K-ALLY")
    assert cells["last_srs"] == "35,5" and cells["started"] == "03.02.2025"
    assert view.figure.layout.title.text == "Klient K-ALLY · Ola Hansen"
    csv = view._csv_file()[1].decode("utf-8-sig").splitlines()
    assert csv[0].startswith("Klient;Deltakere;Forløp;Terapeut")
    assert "Par: K-P1 (indeksklient), K-P2 (partner)" in listed(view)
    assert "Hva flaggene betyr" in view.legend.value
    assert "Data å sjekke" in view.legend.value
    assert "Tidligere, ikke nå:" in view.graph_flags.value


def test_a_broken_database_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    widget = build_team_review(DashboardContext(tmp_path / "missing.duckdb"))
    assert "fitdata-error" in widget.value and "There is no database at" in widget.value


def test_an_error_during_a_callback_is_shown_kindly(view, tmp_path: Path) -> None:
    view.context = DashboardContext(tmp_path / "gone.duckdb")
    view.team.value = "T2"
    assert "There is no database at" in view.message.value
    assert "Traceback" not in view.message.value


def test_demo_counts_agree_with_the_database(demo_db: Path) -> None:
    view = TeamReviewView(DashboardContext(demo_db))
    reader = reader_for(demo_db)
    as_of = reader.rows("SELECT max(session_date) FROM sessions")[0][0]
    assert view.as_of.value == as_of
    view.service.value = view.service.options[-1][1]
    team = view.team.value
    teams = reader.df("SELECT team_id FROM teams WHERE service = ?", [view.service.value])
    assert {v for _, v in view.team.options} == set(teams["team_id"])
    # a case: a client-episode, or a couple's or family's episode (any partner unseen: unseen)
    ongoing, not_seen = reader.rows(
        """
        WITH last AS (
            SELECT s.episode_id, s.client_id, max(s.session_date) AS last_date,
                   CASE WHEN any_value(e.format) IN ('couple', 'family') THEN s.episode_id
                        ELSE s.episode_id || '|' || s.client_id END AS case_id
            FROM sessions s JOIN episodes e USING (episode_id)
            WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
              AND (e.ended IS NULL OR e.ended > $as_of)
            GROUP BY s.episode_id, s.client_id
        ), cases AS (
            SELECT case_id, max($as_of - last_date) AS days FROM last GROUP BY case_id
        )
        SELECT count(*), count(*) FILTER (WHERE days > 28) FROM cases
        """,
        {"team": team, "as_of": as_of},
    )[0]
    assert labels(view)[0] == f"All: {ongoing} cases"
    assert labels(view)[5].startswith(f"{not_seen} not seen")
    view.flag_filter.value = "not_seen"
    assert len(view.table.rows) == not_seen
    weeks = [max(float(w) for w in r["cells"]["weeks_since_last"].split()) for r in view.table.rows]
    assert all(w > 4.0 for w in weeks)
    # the chosen case's graph shows its own scores (a client-episode's case)
    listed = view._listed
    key = str(listed.loc[~listed["format"].isin(cl.JOINT_FORMATS), "key"].iloc[0])
    view.table.selected = key
    episode_id, client_id = key.split("|")
    ors = reader.df(
        "SELECT ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? AND client_id = ? "
        "AND rater = 'client' AND ors_total IS NOT NULL ORDER BY session_no",
        [episode_id, client_id],
    )
    assert list(trace(view, "ORS").y) == ors["ors"].tolist()
    assert cl.trajectory_model(reader) is view.model  # fitted once per kernel and reused


def test_links_open_the_chosen_and_listed_cases_in_the_group_exercise(view, review_db) -> None:
    from fitdata.features.group_exercise import link_key, resolve

    links = view.group_exercise_links()  # the list holds 6 cases
    key, reader = link_key(review_db), reader_for(review_db)
    token = links["chosen"].split("?cases=", 1)[1]
    chosen = [(c.episode_id, c.client_id) for c in resolve(reader, token, key=key)]
    assert chosen == view.chosen_episode_ids() and chosen
    token = links["listed"].split("?cases=", 1)[1]
    listed_cases = [(c.episode_id, c.client_id) for c in resolve(reader, token, key=key)]
    assert listed_cases == view.listed_episode_ids()[: len(listed_cases)]
    assert len(listed_cases) == 5  # the couple is one case, opened by its index client
    # the page's link shows no client code, and follows a new choice
    shown = view.group_link.value
    assert "group_exercise.ipynb?cases=" in shown and "KOR group exercise" in shown
    assert not any(code in shown for _, code in view.listed_episode_ids())
    view.table.selected = view.table.rows[-1]["key"]
    assert view.group_link.value != shown


# --- a couple or family is one case (issue 20) ------------------------------------------------


@pytest.fixture(scope="module")
def couples_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.unit.test_team_review_cases import build_couples_db

    return build_couples_db(tmp_path_factory.mktemp("review-couples") / "couples.duckdb")


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_couple_is_one_row_and_one_graph_with_both_partners(couples_db: Path, lang) -> None:
    view = TeamReviewView(DashboardContext(couples_db, lang=lang), model=line_model())
    view.as_of.value = AS_OF
    tr = view.tr
    # one row per case, counted once; the couple first, by partner K-A's 'not on track'
    assert labels(view)[0] == tr.count_text("review.summary.all", 5, n=5)
    couple = view.table.rows[0]
    assert couple["key"] == "E20|K-A" and view.table.selected == "E20|K-A"
    assert couple["cells"]["client_id"] == (
        "Couple:\nK-A (index),\nK-B (partner)"
        if lang == "en"
        else "Par:\nK-A (indeksklient),\nK-B (partner)"
    )
    # a line for the kind of case, then a line per partner: names and numbers line up
    assert couple["cells"]["last_srs"] == ("\n39.0\n33.0" if lang == "en" else "\n39,0\n33,0")
    # each chip names whose flag it is, most urgent first, styled like its flag
    chips = [chip["code"] for chip in couple["flags"]]
    assert chips[0] == "not_on_track@K-A" and "srs_below_cutoff@K-B" in chips
    style = view.table.flag_styles["not_on_track@K-A"]
    assert style["label"] == tr.text(
        "review.case.whose_flag",
        flag=tr.text("flag.label.not_on_track"),
        who=f"{tr.text('review.role.index')} K\u2011A",  # a code never wraps
    )
    assert style["colour"] == view.table.flag_styles["not_on_track"]["colour"]
    # an individual case keeps its plain chips
    solo = next(r for r in view.table.rows if r["key"] == "E21|K-S")
    assert solo["cells"]["client_id"] == "K-S"
    assert [c["code"] for c in solo["flags"]][0] == "srs_below_cutoff"
    # so does a couple's episode whose partner has not joined: its one client's case
    alone = next(r for r in view.table.rows if r["key"] == "E24|K-C")
    assert alone["cells"]["client_id"] == "K-C" and alone["cells"]["sessions"] == "3"
    # the case's graph: both partners' own ORS and SRS, each named
    names = [t.name for t in view.figure.data]
    for client in ("K-A", "K-B"):
        ors = next(t for t in view.figure.data if t.name.endswith(f"{client}: ORS"))
        scores = reader_for(couples_db).df(
            "SELECT ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = 'E20' "
            "AND client_id = ? AND rater = 'client' ORDER BY session_no",
            [client],
        )
        assert list(ors.y) == scores["ors"].tolist()
        assert any(n.endswith(f"{client}: SRS") for n in names)
    # each participant's flags under their label: what holds now, what held earlier
    flags = view.graph_flags.value
    first, second = flags.split('data-client="K-B"')
    assert 'data-client="K-A"' in first and 'data-flag="not_on_track"' in first
    assert 'data-flag="srs_below_cutoff"' not in first
    assert 'data-flag="srs_below_cutoff"' in second
    assert view.graph_status.value.count("fitdata-participant") == 2
    # a filter matches the case when any participant does; the family's child
    view.age_group.value = "child"
    assert [r["key"] for r in view.table.rows] == ["E22|K-F1"]
    family = view.graph_flags.value
    assert 'data-client="K-F3"' in family  # a family member without sessions is named
    assert tr.text("review.detail.no_sessions") in view.graph_status.value
    # the download: one row per case, the participants named
    view.age_group.value = "all"
    table = view.export_table()
    assert len(table) == 5
    participants = " ".join(couple["cells"]["client_id"].split())
    assert table[tr.text("review.column.participants")].iloc[0] == participants


def test_the_couples_download_names_every_participant_in_the_audit_log(couples_db: Path) -> None:
    from fitdata.data import access, audit

    access.add_user(couples_db, "sina", "supervisor", team_ids=["T1"])
    view = TeamReviewView(DashboardContext(couples_db, user="sina"), model=line_model())
    view.as_of.value = AS_OF
    view._csv_file()
    exports = [
        e for e in audit.read_audit(couples_db, user="sina") if e.action == "caseload_export"
    ]
    entry = exports[-1]
    assert set(entry.clients) == {"K-A", "K-B", "K-S", "K-F1", "K-F2", "K-F3", "K-Z", "K-C"}
