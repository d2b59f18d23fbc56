"""A person opens the dashboards, picks a team, a therapist and a client, and reads the graph."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.data import queries
from fitdata.data.store import reader_for
from fitdata.i18n import Translator
from fitdata.server.serve import DASHBOARDS

EN = Translator("en")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOT = ".fitdata-graph .js-plotly-plot"
READ_TRACES = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""


def own_sessions(db, episode_id: str, client_id: str) -> pd.DataFrame:
    """The client's own ratings, straight from the file (not through the dashboard's queries)."""
    frame = reader_for(db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors_total, srs_total::DOUBLE AS srs_total "
        "FROM sessions WHERE client_id = ? AND episode_id = ? AND rater = 'client' "
        "ORDER BY session_no",
        [client_id, episode_id],
    )
    return frame


def scored(trace: dict) -> tuple[list, list]:
    """A drawn line's points that have a score (a session without one is a gap: y null)."""
    pairs = [(x, y) for x, y in zip(trace["x"], trace["y"], strict=True) if y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def episode_end(db, episode_id: str) -> EpisodeEnd | None:
    """How the episode ended, straight from the file."""
    ended, end_type = reader_for(db).rows(
        "SELECT ended, end_type FROM episodes WHERE episode_id = ?", [episode_id]
    )[0]
    return EpisodeEnd.of(ended, end_type)


def age_group(db, client_id: str) -> str:
    return reader_for(db).rows("SELECT age_group FROM clients WHERE client_id = ?", [client_id])[0][
        0
    ]


def options(page, name: str) -> list[str]:
    """Option labels as a person reads them (ipywidgets renders spaces as no-break spaces)."""
    texts = page.locator(f".fitdata-{name} select option").all_inner_texts()
    return [t.replace("\u00a0", " ").strip() for t in texts]


def select_by_text(page, name: str, text: str) -> None:
    page.locator(f".fitdata-{name} select").select_option(index=options(page, name).index(text))


def wait_for_options(page, name: str, expected_first: str) -> None:
    page.wait_for_function(
        """([selector, text]) => {
             const o = document.querySelector(selector);
             return o && o.textContent.replace(/\u00a0/g, " ").trim() === text;
           }""",
        arg=[f".fitdata-{name} select option", expected_first],
        timeout=20_000,
    )


def assert_clean(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    body = page.inner_text("body")
    assert "Traceback" not in body and "Error" not in body.split("Rules")[0]
    assert page.console_problems == []


def test_landing_page_lists_the_dashboards_for_their_users(server_en, page, artifacts) -> None:
    page.goto(server_en.url)
    links = page.locator(".fitdata-dashboard-link")
    assert links.count() == len(DASHBOARDS)
    for index, (_notebook, title, audience) in enumerate(DASHBOARDS):
        assert EN.text(title) in links.nth(index).inner_text()
        assert EN.text(audience) in links.nth(index).inner_text()
    assert "For therapists and supervisors" in links.filter(has_text="Client graph").inner_text()
    page.screenshot(path=artifacts / "landing-en.png", full_page=True)


def test_pick_team_therapist_client_and_read_the_graph(server_en, page, demo_db, artifacts) -> None:
    tr = Translator("en")
    started = time.monotonic()
    page.goto(server_en.url)
    page.locator(".fitdata-dashboard-link", has_text="Client graph").locator("a").click()
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    page_to_chart = time.monotonic() - started
    page.screenshot(path=artifacts / "client-graph-first.png", full_page=True)

    reader = reader_for(demo_db)
    teams = queries.team_options(reader)
    team = teams.iloc[1]
    page.locator(".fitdata-team select").select_option(index=1)
    therapists = queries.therapist_options(reader, team.team_id)
    first = therapists.iloc[0]
    first_label = tr.count_text(
        "option.therapist", first.clients, name=first["name"], clients=first.clients
    )
    wait_for_options(page, "therapist", first_label)
    assert len(options(page, "therapist")) == len(therapists)

    last = len(therapists) - 1
    therapist = therapists.iloc[last]
    page.locator(".fitdata-therapist select").select_option(index=last)
    episodes = queries.client_episode_options(reader, team.team_id, therapist.therapist_id)
    wait_for_options(page, "client", options_label(episodes.iloc[0], tr))

    chosen = episodes.sort_values("sessions", ascending=False).iloc[0]
    label = options_label(chosen, tr)
    redraw_started = time.monotonic()
    select_by_text(page, "client", label)
    page.wait_for_function(
        "([sel, text]) => { const t = document.querySelector(sel + ' .gtitle');"
        " return t && t.textContent === text; }",
        arg=[PLOT, f"Client {chosen.client_id}"],
        timeout=20_000,
    )
    redraw = time.monotonic() - redraw_started
    page.screenshot(path=artifacts / "client-graph-chosen.png", full_page=True)

    expected = own_sessions(demo_db, chosen.episode_id, chosen.client_id)
    traces = {t["name"]: t for t in page.evaluate(READ_TRACES, PLOT)}
    ors = expected.dropna(subset=["ors_total"])
    assert scored(traces["ORS"])[0] == ors["session_no"].tolist()
    assert scored(traces["ORS"])[1] == pytest.approx(ors["ors_total"].tolist())
    srs = expected.dropna(subset=["srs_total"])
    assert scored(traces["SRS"])[1] == pytest.approx(srs["srs_total"].tolist())
    group = age_group(demo_db, chosen.client_id)
    cutoff = {"adult": 25, "adolescent": 28, "child": 32}[group]
    assert f"Clinical cutoff {cutoff} ({group})" in traces
    drawn = page.locator(f"{PLOT} .scatterlayer .trace .point").count()
    assert drawn >= len(ors) + len(srs), "the chart shows fewer points than the client has"

    status = client_status(expected, group)
    ended = episode_end(demo_db, chosen.episode_id)
    assert page.inner_text(".fitdata-status-text").strip() == status_sentence(
        status, tr, ended=ended
    )
    assert_clean(page)
    (artifacts / "timings-en.json").write_text(
        json.dumps(
            {
                "page_open_to_chart_s": round(page_to_chart, 2),
                "client_change_to_redraw_s": round(redraw, 3),
            }
        )
    )


def options_label(row, tr: Translator) -> str:
    key = "option.client_episode" if row.episode_count > 1 else "option.client"
    return tr.count_text(
        key,
        row.sessions,
        client=row.client_id,
        sessions=row.sessions,
        started=tr.date(row.first_date),
    )


def test_norwegian_dashboards(server_nb, page, artifacts) -> None:
    page.goto(server_nb.url)
    link = page.locator(".fitdata-dashboard-link", has_text="Klientgraf")
    assert link.count() == 1
    link.locator("a").click()
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    assert "Terapeut" in page.inner_text(".fitdata-therapist")
    status = page.inner_text(".fitdata-status-text")
    # Ongoing ("siden første samtale", "så langt") or ended ("fra første til siste samtale").
    readings = ("siden første samtale", "så langt", "fra første til siste samtale", "Bare én ORS")
    assert any(reading in status for reading in readings), status
    assert "session" not in status and "ended" not in status
    assert page.locator(f"{PLOT} .xtitle").text_content() == "Samtale"
    page.screenshot(path=artifacts / "client-graph-nb.png", full_page=True)
    assert_clean(page)


def test_the_database_and_notebooks_are_not_served(server_en, demo_db) -> None:
    import urllib.error
    import urllib.request

    for path in (
        "voila/files/client_graph.ipynb",
        "voila/static/../../data/demo.duckdb",
        f"voila/files/{demo_db.name}",
        "files/client_graph.ipynb",
    ):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(server_en.url + path, timeout=10)
        assert error.value.code in (403, 404), path


# -- a couple and a child with a parent rater (issue 20) -------------------------------------

SHOTS = Path("/tmp/shots/G")
READ_STYLED = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({
    name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),
    symbol: t.marker && t.marker.symbol, colour: t.line && t.line.color,
    dash: t.line && t.line.dash}));
}"""


def demo_couple(db) -> tuple[str, list[str]]:
    """A demo couple episode with both partners' own ratings: its id and the partners' codes
    (index client first)."""
    rows = reader_for(db).df(
        """
        SELECT e.episode_id, e.client_id AS index_client, list(DISTINCT s.client_id) AS clients,
               count(*) AS sessions
        FROM episodes e JOIN sessions s USING (episode_id)
        WHERE e.format = 'couple' AND s.rater = 'client'
        GROUP BY e.episode_id, e.client_id
        HAVING count(DISTINCT s.client_id) = 2
        ORDER BY sessions DESC, e.episode_id
        """
    )
    first = rows.iloc[0]
    others = sorted(c for c in first["clients"] if c != first["index_client"])
    return str(first["episode_id"]), [str(first["index_client"]), *others]


def demo_rated_child(db) -> tuple[str, str]:
    """A child's individual episode with a parent's ORS beside the child's own (most sessions)."""
    rows = reader_for(db).df(
        """
        SELECT s.episode_id, s.client_id, count(*) AS sessions
        FROM sessions s JOIN episodes e USING (episode_id)
        WHERE s.episode_id IN (
            SELECT episode_id FROM sessions WHERE rater = 'client'
            GROUP BY episode_id HAVING count(DISTINCT client_id) = 1
        )
        GROUP BY s.episode_id, s.client_id
        HAVING count(*) FILTER (WHERE s.rater = 'parent' AND s.ors_total IS NOT NULL) >= 3
           AND count(*) FILTER (WHERE s.rater = 'client') >= 3
           AND count(DISTINCT s.rater) = 2
        ORDER BY sessions DESC, s.episode_id
        """
    )
    return str(rows.iloc[0]["episode_id"]), str(rows.iloc[0]["client_id"])


def choose_client(page, db, tr: Translator, episode_id: str, client_id: str) -> None:
    """Pick the team, the therapist and the client of ``episode_id`` as a person would."""
    reader = reader_for(db)
    team_id, therapist_id = reader.rows(
        "SELECT team_id, therapist_id FROM episodes WHERE episode_id = ?", [episode_id]
    )[0]
    teams = queries.team_options(reader)
    page.locator(".fitdata-team select").select_option(
        index=teams["team_id"].tolist().index(team_id)
    )
    therapists = queries.therapist_options(reader, team_id)
    first = therapists.iloc[0]
    wait_for_options(
        page,
        "therapist",
        tr.count_text("option.therapist", first.clients, name=first["name"], clients=first.clients),
    )
    page.locator(".fitdata-therapist select").select_option(
        index=therapists["therapist_id"].tolist().index(therapist_id)
    )
    episodes = queries.client_episode_options(reader, team_id, therapist_id)
    wait_for_options(page, "client", options_label(episodes.iloc[0], tr))
    row = episodes[(episodes["episode_id"] == episode_id) & (episodes["client_id"] == client_id)]
    select_by_text(page, "client", options_label(row.iloc[0], tr))


def wait_for_title(page, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const t = document.querySelector(sel + ' .gtitle');"
        " return t && t.textContent === text; }",
        arg=[PLOT, text],
        timeout=30_000,
    )


RESIZE = """(selector) => {
  const plot = document.querySelector(selector);
  if (window.Plotly && plot) { return window.Plotly.Plots.resize(plot).then(() => true); }
  return false;
}"""


def shoot(page, name: str) -> None:
    """Screenshots at a laptop's 1280x800 and a projector's 1920x1080, the graph fitted to each
    (plotly sizes a graph when it is drawn; the page does not redraw it when a window grows)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(RESIZE, PLOT)
        page.wait_for_timeout(500)
        page.screenshot(path=SHOTS / f"{name}-{width}x{height}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_demo_couple_shows_both_partners(lang, server_en, server_nb, page, demo_db) -> None:
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    episode_id, partners = demo_couple(demo_db)
    page.goto(server.url + "voila/render/client_graph.ipynb")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    choose_client(page, demo_db, tr, episode_id, partners[1])  # the partner, not the index
    title = tr.text("client_graph.title.couple", clients=tr.join(partners))
    wait_for_title(page, title)
    drawn = {t["name"]: t for t in page.evaluate(READ_STYLED, PLOT)}
    role = tr.text("participant.role.partner")
    for client in partners:
        own = own_sessions(demo_db, episode_id, client)
        ors, srs = own.dropna(subset=["ors_total"]), own.dropna(subset=["srs_total"])
        label = f"{role} · {client}"
        assert scored(drawn[f"{label}: ORS"])[0] == ors["session_no"].tolist()
        assert scored(drawn[f"{label}: ORS"])[1] == pytest.approx(ors["ors_total"].tolist())
        assert scored(drawn[f"{label}: SRS"])[1] == pytest.approx(srs["srs_total"].tolist())
        assert label in page.inner_text(".fitdata-status")
    first, second = (drawn[f"{role} · {c}: ORS"] for c in partners)
    assert first["symbol"] != second["symbol"] and first["colour"] != second["colour"]
    # Both partners' points are drawn, not only listed in the data.
    count = len(own_sessions(demo_db, episode_id, partners[0])) + len(
        own_sessions(demo_db, episode_id, partners[1])
    )
    assert page.locator(f"{PLOT} .scatterlayer .trace .point").count() >= count
    assert page.locator(".fitdata-participant").count() == 2
    shoot(page, f"client-graph-couple-{lang}")
    assert_clean(page)


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_child_with_a_parent_rater_shows_both_lines(
    lang, server_en, server_nb, page, demo_db
) -> None:
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    episode_id, child = demo_rated_child(demo_db)
    page.goto(server.url + "voila/render/client_graph.ipynb")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    choose_client(page, demo_db, tr, episode_id, child)
    wait_for_title(page, tr.text("graph.title", client=child))
    drawn = {t["name"]: t for t in page.evaluate(READ_STYLED, PLOT)}
    parent = reader_for(demo_db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? "
        "AND client_id = ? AND rater = 'parent' AND ors_total IS NOT NULL ORDER BY session_no",
        [episode_id, child],
    )
    rated = drawn[tr.text("graph.collateral", rater=tr.text("rater.parent"))]
    assert rated["x"] == parent["session_no"].tolist()
    assert rated["y"] == pytest.approx(parent["ors"].tolist())
    assert rated["dash"] == "dash"
    own = own_sessions(demo_db, episode_id, child).dropna(subset=["ors_total"])
    assert scored(drawn["ORS"])[1] == pytest.approx(own["ors_total"].tolist())
    shoot(page, f"client-graph-child-parent-{lang}")
    assert_clean(page)


# -- an ended episode: the end marker, the past tense, and gaps as gaps (issue 23) ----------

SHOTS_23 = Path("/tmp/shots/23a")
READ_END = """(selector) => {
  const plot = document.querySelector(selector);
  const area = plot.querySelector('.bglayer rect, .nsewdrag').getBoundingClientRect();
  const labels = Array.from(plot.querySelectorAll('.annotation')).map(a => {
    const box = a.getBoundingClientRect();
    return {text: a.textContent, left: box.left, right: box.right, top: box.top,
            bottom: box.bottom};
  });
  const shapes = plot.querySelectorAll('.shapelayer path').length;
  return {area: {left: area.left, right: area.right, top: area.top, bottom: area.bottom},
          labels: labels, shapes: shapes};
}"""


def demo_ended_with_gaps(db) -> tuple[str, str]:
    """An ended one-client episode with a session without ORS and one without SRS between
    scored sessions (the most sessions first)."""
    rows = reader_for(db).df(
        """
        WITH own AS (
            SELECT episode_id, client_id, session_no, ors_total, srs_total
            FROM sessions WHERE rater = 'client'
        ), span AS (
            SELECT episode_id, min(client_id) AS client_id, count(*) AS sessions,
                   count(DISTINCT client_id) AS clients,
                   min(session_no) FILTER (WHERE ors_total IS NOT NULL) AS ors_first,
                   max(session_no) FILTER (WHERE ors_total IS NOT NULL) AS ors_last,
                   min(session_no) FILTER (WHERE srs_total IS NOT NULL) AS srs_first,
                   max(session_no) FILTER (WHERE srs_total IS NOT NULL) AS srs_last
            FROM own GROUP BY episode_id
        )
        SELECT s.episode_id, s.client_id
        FROM span s JOIN episodes e USING (episode_id)
        WHERE e.ended IS NOT NULL AND s.clients = 1
          AND EXISTS (SELECT 1 FROM own o WHERE o.episode_id = s.episode_id
                      AND o.ors_total IS NULL AND o.session_no BETWEEN s.ors_first AND s.ors_last)
          AND EXISTS (SELECT 1 FROM own o WHERE o.episode_id = s.episode_id
                      AND o.srs_total IS NULL AND o.session_no BETWEEN s.srs_first AND s.srs_last)
        ORDER BY s.sessions DESC, s.episode_id
        """
    )
    return str(rows.iloc[0]["episode_id"]), str(rows.iloc[0]["client_id"])


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_an_ended_demo_episode_shows_its_end_and_its_gaps(
    lang, server_en, server_nb, page, demo_db
) -> None:
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    episode_id, client = demo_ended_with_gaps(demo_db)
    ended = episode_end(demo_db, episode_id)
    assert ended is not None
    page.goto(server.url + "voila/render/client_graph.ipynb")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    choose_client(page, demo_db, tr, episode_id, client)
    wait_for_title(page, tr.text("graph.title", client=client))

    own = own_sessions(demo_db, episode_id, client)
    last = int(own["session_no"].max())
    drawn = {t["name"]: t for t in page.evaluate(READ_TRACES, PLOT)}
    for form, column in (("ORS", "ors_total"), ("SRS", "srs_total")):
        rated = own.dropna(subset=[column])
        assert scored(drawn[form])[0] == rated["session_no"].tolist()
        assert scored(drawn[form])[1] == pytest.approx(rated[column].tolist())
        # Every session between the first and the last score without one is a gap (null).
        inside = own[
            own["session_no"].between(rated["session_no"].min(), rated["session_no"].max())
        ]
        missing = inside[inside[column].isna()]["session_no"].tolist()
        assert missing, f"the chosen episode has no {form} gap"
        gaps = [x for x, y in zip(drawn[form]["x"], drawn[form]["y"], strict=True) if y is None]
        assert gaps == missing

    # The status sentence is in the past tense and names the end.
    status = client_status(own, age_group(demo_db, client))
    text = page.inner_text(".fitdata-status-text").strip()
    assert text == status_sentence(status, tr, ended=ended)
    assert (
        tr.text(
            "status.ended.on",
            date=tr.date(ended.date),
            end_type=tr.text(f"status.end_type.{ended.end_type}"),
        )
        in text
    )
    assert (" now " if lang == "en" else " nå ") not in text

    # The end marker: a line after the last session and its label, inside the plot area.
    label = tr.text(
        "episode_graph.ended.dated",
        end_type=tr.text(f"status.end_type.{ended.end_type}"),
        date=tr.date(ended.date),
    )
    layout_shapes = page.evaluate(
        "(sel) => (document.querySelector(sel).layout.shapes || []).map(s => [s.name, s.x0])",
        PLOT,
    )
    assert ["episode-end", last + 0.5] in layout_shapes
    SHOTS_23.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 720), (820, 1180)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(RESIZE, PLOT)
        page.wait_for_timeout(600)
        end = page.evaluate(READ_END, PLOT)
        marks = [one for one in end["labels"] if one["text"] == label]
        assert len(marks) == 1, (label, end["labels"])
        mark, area = marks[0], end["area"]
        # Upright beside the line, wholly inside the plot: not cut off at any size.
        assert mark["bottom"] - mark["top"] > mark["right"] - mark["left"]
        assert area["left"] <= mark["left"] and mark["right"] <= area["right"] + 1
        assert area["top"] <= mark["top"] and mark["bottom"] <= area["bottom"] + 1
        assert end["shapes"] >= 1
        page.locator(".fitdata-status").scroll_into_view_if_needed()
        page.screenshot(
            path=SHOTS_23 / f"client-graph-ended-{lang}-{width}x{height}.png", full_page=True
        )
    page.set_viewport_size({"width": 1280, "height": 1000})
    assert_clean(page)


def test_an_ongoing_demo_episode_has_no_end_marker(server_en, page, demo_db) -> None:
    tr = Translator("en")
    episode_id, client = reader_for(demo_db).rows(
        """
        SELECT e.episode_id, min(s.client_id)
        FROM episodes e JOIN sessions s USING (episode_id)
        WHERE e.ended IS NULL AND e.format = 'individual' AND s.rater = 'client'
        GROUP BY e.episode_id HAVING count(*) >= 4 AND count(s.ors_total) >= 2
        ORDER BY e.episode_id LIMIT 1
        """
    )[0]
    page.goto(server_en.url + "voila/render/client_graph.ipynb")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    choose_client(page, demo_db, tr, episode_id, client)
    wait_for_title(page, tr.text("graph.title", client=client))
    shapes = page.evaluate(
        "(sel) => (document.querySelector(sel).layout.shapes || []).map(s => s.name)", PLOT
    )
    assert "episode-end" not in shapes
    assert "Ended" not in page.inner_text(PLOT)
    assert " now " in page.inner_text(".fitdata-status-text")
