"""The client's page driven in plain Python: the steps, what is sent, what is shown, refusals."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import ipywidgets as widgets
import pytest

from fitdata.data import client_links, store
from fitdata.data.participants import ensure_participants
from fitdata.data.store import reader_for
from fitdata.features.client_page import set_client_graph
from fitdata.ui.client_page import ClientPageView, client_page
from fitdata.ui.context import DashboardContext

DAY = dt.date(2025, 2, 3)  # a week after K-ADULT1's fourth session (E1)
# every other client, and every therapist and team, by code and by name
FORBIDDEN = ("K-ONE", "K-TOTALS", "K-CHILD", "K-TEN", "Kari Nordmann", "Ola Hansen", "Åse Berg",
             "Team 2", "Team 10", "Øst-teamet", "B1", "B2", "B3", "T2", "T10", "T3")  # fmt: skip


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "client.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


def issue(db, **kwargs):
    values = {"episode_id": "E1", "session_date": DAY, "actor": "kari"}
    return client_links.issue_client_link(db, **{**values, **kwargs})


def view(db, token, lang="en") -> ClientPageView:
    return ClientPageView(DashboardContext(db, lang), token)


def texts(widget: widgets.Widget) -> str:
    """Everything the widget and its children send to the browser, as one text."""
    state = widget.get_state()
    out = [json.dumps(state, default=str, ensure_ascii=False)]
    for child in getattr(widget, "children", ()):
        out.append(texts(child))
    return "\n".join(out)


def visible(page: ClientPageView) -> str:
    return texts(page.widget)


def own_sessions(db, episode="E1", client="K-ADULT1"):
    return reader_for(db).df(
        "SELECT session_no, session_date, ors_individual, ors_interpersonal, ors_social, "
        "ors_overall, ors_total::DOUBLE AS ors_total, srs_total::DOUBLE AS srs_total, ors_form, "
        "srs_form, entered_by FROM sessions WHERE episode_id = ? AND client_id = ? "
        "ORDER BY session_no",
        [episode, client],
    )


def mark(page: ClientPageView, form: str, values) -> None:
    for line, value in zip(page.lines[form], values, strict=True):
        line.value = value


def test_ors_then_graph_then_srs_then_thanks_and_the_session_is_stored_once(db) -> None:
    token, _ = issue(db)
    page = view(db, token, "nb")
    assert page.step == "ors"
    assert [line.label for line in page.lines["ors"]] == [
        "Individuelt",
        "Mellommenneskelig",
        "Sosialt",
        "Generelt",
    ]
    assert all(line.value is None and line.text == "" for line in page.lines["ors"])
    mark(page, "ors", [7.3, 5.0, 6.0, 8.0])
    page.lines["ors"][1].value = 5.5  # a mark can change before sending
    assert page.lines["ors"][0].text == "7,3"
    page.send["ors"].click()
    assert page.message.value == ""
    assert page.step == "between"
    assert all(line.disabled for line in page.lines["ors"]) and page.send["ors"].disabled
    # the graph: the client's own ORS over the sessions, today's point highlighted
    spec = page.graph.spec
    assert spec["data"][0]["y"] == [18.0, 21.0, 23.5, 25.4, 26.8]
    assert spec["data"][1]["x"] == [5] and spec["data"][1]["y"] == [26.8]
    assert "I dag 26,8." in page.sentences.value
    assert "tydelig endring" in page.sentences.value
    page.end_of_session.click()
    assert page.step == "srs"
    assert [line.label for line in page.lines["srs"]][:2] == ["Relasjon", "Mål og tema"]
    mark(page, "srs", [9.1, 9.0, 8.5, 9.9])
    page.send["srs"].click()
    assert page.step == "thanks"
    assert all(line.disabled for line in page.lines["srs"])
    rows = own_sessions(db)
    assert len(rows) == 5
    today = rows[rows["session_date"].dt.date == DAY]
    assert len(today) == 1
    row = today.iloc[0]
    assert row["session_no"] == 5 and row["entered_by"] == "client"
    assert [row[c] for c in ("ors_individual", "ors_interpersonal", "ors_social")] == [
        7.3,
        5.5,
        6.0,
    ]
    assert row["ors_total"] == 26.8 and row["srs_total"] == 36.5
    assert (row["ors_form"], row["srs_form"]) == ("ORS", "SRS")
    # a sent form is not sent again from the page
    page.send["srs"].click()
    assert len(own_sessions(db)) == 5


def test_a_mark_missing_sends_nothing_and_says_so_in_the_page_language(db) -> None:
    token, _ = issue(db)
    page = view(db, token, "nb")
    mark(page, "ors", [7.3, None, 6.0, 8.0])
    page.send["ors"].click()
    assert "Merk alle fire linjene" in page.message.value
    assert page.step == "ors" and len(own_sessions(db)) == 4


def test_the_language_changes_every_text_and_keeps_the_marks(db) -> None:
    token, _ = issue(db)
    page = view(db, token, "en")
    mark(page, "ors", [7.3, 5.0, None, None])
    assert "How have you been doing?" in page.heading.value
    page.language.value = "nb"
    assert "Hvordan har du hatt det?" in page.heading.value
    assert page.lines["ors"][0].value == 7.3 and page.lines["ors"][0].text == "7,3"
    assert page.lines["ors"][0].label == "Individuelt"
    assert page.send["ors"].description == "Send"
    assert page.lines["ors"][0].left_anchor == "Dårlig"


def test_the_page_shows_nothing_of_other_clients_therapists_or_teams(db) -> None:
    token, _ = issue(db)
    page = view(db, token)
    seen = [visible(page)]
    mark(page, "ors", [5, 5, 5, 5])
    page.send["ors"].click()
    seen.append(visible(page))
    page.end_of_session.click()
    mark(page, "srs", [9, 9, 9, 9])
    page.send["srs"].click()
    seen.append(visible(page))
    everything = "\n".join(seen)
    for word in FORBIDDEN:
        assert word not in everything, word
    assert "K-ADULT1" not in everything  # not even the client's own code
    assert "cutoff" not in everything.lower() and "band" not in everything.lower()


def test_a_child_gets_the_child_forms_and_words(db) -> None:
    token, _ = issue(db, episode_id="E4")
    page = view(db, token)
    assert page.data.age_group == "child"
    assert page.lines["ors"][0].left_anchor == "Not so good"
    assert page.lines["ors"][0].right_anchor == "Really good"
    assert "How are you doing?" in page.heading.value
    mark(page, "ors", [8, 8, 8, 8])
    page.send["ors"].click()
    rows = own_sessions(db, "E4", "K-CHILD")
    assert rows.iloc[-1]["ors_form"] == "CORS" and rows.iloc[-1]["entered_by"] == "client"


def test_the_therapist_can_turn_the_graph_off(db) -> None:
    set_client_graph(db, "K-ADULT1", False, "kari")
    token, _ = issue(db)
    page = view(db, token)
    mark(page, "ors", [5, 5, 5, 5])
    page.send["ors"].click()
    assert page.step == "between"
    assert page.graph not in [c for box in page.body.children for c in getattr(box, "children", ())]
    assert "Now it is time for the session" in page.heading.value
    assert page.sentences not in page.body.children


def test_an_ors_given_by_the_therapist_starts_the_page_at_the_end_of_session_step(db) -> None:
    with store.write_transaction(db) as con:
        con.execute(
            "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
            "session_date, session_no, rater, ors_total) VALUES "
            "(500, 'E1', 'K-ADULT1', 'B1', 'T2', ?, 5, 'client', 30.0)",
            [DAY],
        )
    token, _ = issue(db)
    page = view(db, token)
    assert page.step == "between" and page.data.forms_open == ("srs",)
    page.end_of_session.click()
    mark(page, "srs", [8, 8, 8, 8])
    page.send["srs"].click()
    assert page.step == "thanks"
    assert own_sessions(db).iloc[-1]["srs_total"] == 32.0


def test_a_link_for_the_ors_only_thanks_after_the_graph(db) -> None:
    token, _ = issue(db, forms=("ors",), mode="tablet")
    page = view(db, token)
    mark(page, "ors", [5, 5, 5, 5])
    page.send["ors"].click()
    assert page.step == "between"
    assert page.end_of_session not in page.body.children
    assert "give the tablet back to your therapist" in visible(page)


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_refused_link_gets_a_kind_page_and_reads_nothing(db, lang, monkeypatch) -> None:
    token, grant = issue(db, forms=("ors",))
    page = view(db, token)
    mark(page, "ors", [5, 5, 5, 5])
    page.send["ors"].click()
    read = []
    monkeypatch.setattr(
        "fitdata.ui.client_page.client_page_data", lambda *a, **k: read.append(a) or None
    )
    expired_token, _ = issue(db, now=dt.datetime(2020, 1, 1), hours=1)
    cases = {
        "used": token,
        "altered": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        "expired": expired_token,
        "unknown": "not-a-link",
        "none": None,
    }
    for reason, value in cases.items():
        refused = view(db, value, lang)
        assert refused.step == "refused" and refused.refusal == reason
        assert refused.grant is None and refused.data is None
        shown = visible(refused)
        assert "<h1>" in refused.heading.value
        assert all(w not in shown for w in (*FORBIDDEN, "K-ADULT1")), reason
        assert refused.body.children and not any(
            isinstance(c, type(refused.lines["ors"][0])) for c in refused.body.children
        )
    assert read == []
    nb = view(db, "not-a-link", "nb")
    assert "Denne lenken kan ikke åpnes" in nb.heading.value


def test_client_page_returns_a_widget_for_a_notebook(db) -> None:
    token, _ = issue(db)
    page = client_page(db, token, "nb")
    assert "fitdata-client-page" in page._dom_classes
    assert "Hvordan har du hatt det?" in texts(page)


def test_a_couple_answers_in_turn_on_one_device_with_a_link_each(db) -> None:
    with store.write_transaction(db) as con:
        con.execute("UPDATE episodes SET format = 'couple' WHERE episode_id = 'E1'")
        con.execute("INSERT INTO clients VALUES ('K-PART', 1979, 'adult')")
        ensure_participants(
            con,
            [
                {"episode_id": "E1", "client_id": "K-ADULT1", "role": "index"},
                {"episode_id": "E1", "client_id": "K-PART", "role": "partner"},
            ],
        )
    answering = client_links.answering_clients(db, "E1")
    assert answering == ("K-ADULT1", "K-PART")
    for client, value in zip(answering, (6.0, 4.0), strict=True):
        token, _ = issue(db, client_id=client, mode="tablet")
        page = view(db, token)
        mark(page, "ors", [value] * 4)
        page.send["ors"].click()
        assert page.step == "between"
        # each sees only their own line: the partner's first point is today's
        assert page.graph.spec["data"][0]["y"][-1] == value * 4
        assert ("K-PART" if client == "K-ADULT1" else "K-ADULT1") not in visible(page)
    assert own_sessions(db, "E1", "K-PART")["ors_total"].tolist() == [16.0]
    assert own_sessions(db, "E1", "K-ADULT1")["ors_total"].tolist()[-1] == 24.0
