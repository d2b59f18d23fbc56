"""A team opens the case review, finds the cases that need them, opens one and takes the list.

A couple is one case: one row naming both partners, chips named by whose flag they are, and one
graph with both partners' traces (issue 20), in both languages.

Everything is checked against the database file, read here without the dashboard's code where
that is practical (counts, scores), and against the analytics modules where the dashboard shows
their result (flags, expected trajectory).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from fitdata.analytics.flags import session_flags
from fitdata.analytics.trajectory import fit_trajectories
from fitdata.data.store import reader_for
from fitdata.features import team_review as cl

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = "voila/render/team_review.ipynb"
PLOT = ".fitdata-graph .js-plotly-plot"
ROWS = ".fitdata-case-table tbody tr"
READ_TRACES = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""


def text(locator) -> str:
    return locator.inner_text().replace("\u00a0", " ").strip()


def column(page, key: str) -> list[str]:
    """A column's cells as read; a couple's participants (a line each) as one line."""
    return [
        " ".join(t.replace("\u00a0", " ").split())
        for t in page.locator(f'{ROWS} td[data-key="{key}"]').all_inner_texts()
    ]


def number(cell: str) -> float:
    return float(cell.replace("\u2212", "-"))


def numbers(cell: str) -> list[float]:
    """A cell's numbers: one, or each partner's own of a couple (a line each)."""
    return [number(v) for v in cell.split() if v != "\u2013"]


SHOTS = Path("/tmp/shots/T")


def wait_for_count(page, expected: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const n = document.querySelector(sel);"
        " return n && n.textContent.replace(/\\u00a0/g, ' ').startsWith(text); }",
        arg=[".fitdata-table-count", expected],
        timeout=30_000,
    )


def wait_for_title(page, title: str) -> None:
    try:
        page.wait_for_function(
            "([sel, text]) => { const t = document.querySelector(sel + ' .gtitle');"
            " return t && t.textContent === text; }",
            arg=[PLOT, title],
            timeout=30_000,
        )
    except Exception as error:  # say what the page shows instead
        shown = page.locator(f"{PLOT} .gtitle").text_content()
        message = page.locator(".fitdata-message").inner_text()
        raise AssertionError(f"graph title {shown!r}, not {title!r}; {message!r}") from error


def take_download(page, button: str, server):
    """Click a download button and return the download; if none comes, say what the page and
    the server show (the file is made in the kernel, so a busy machine may take a while)."""
    try:
        with page.expect_download(timeout=120_000) as caught:
            page.locator(button).click()
    except Exception as error:
        message = page.locator(".fitdata-message").inner_text()
        log = server.log.read_text(errors="replace").splitlines()[-40:]
        raise AssertionError(
            f"no download from {button} within 2 min; the page says {message!r}; "
            f"console: {page.console_problems}; server log ends:\n" + "\n".join(log)
        ) from error
    return caught.value


def busiest_team(db) -> tuple[str, str, str]:
    """The team with the most ongoing cases at the latest date: (service, team_id, name)."""
    row = reader_for(db).rows(
        """
        WITH as_of AS (SELECT max(session_date) AS d FROM sessions)
        SELECT t.service, t.team_id, t.name, count(DISTINCT (s.episode_id, s.client_id)) AS n
        FROM sessions s JOIN episodes e USING (episode_id) JOIN teams t ON t.team_id = e.team_id,
             as_of
        WHERE s.rater = 'client' AND (e.ended IS NULL OR e.ended > as_of.d)
        GROUP BY ALL ORDER BY n DESC, t.team_id LIMIT 1
        """
    )[0]
    return row[0], row[1], row[2]


def choose(page, name: str, label: str) -> None:
    """Pick the option whose label (before a count in brackets) is ``label``, once offered."""
    selector = f".fitdata-{name} select"
    page.wait_for_function(
        "([sel, label]) => Array.from(document.querySelectorAll(sel + ' option')).some("
        "o => o.textContent.replace(/\\u00a0/g, ' ').trim().split(' (')[0] === label)",
        arg=[selector, label],
        timeout=30_000,
    )
    select = page.locator(selector)
    labels = [t.replace("\u00a0", " ").strip() for t in select.locator("option").all_inner_texts()]
    select.select_option(index=[lab.split(" (")[0] for lab in labels].index(label))


def assert_clean(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    assert "Traceback" not in page.inner_text("body")
    assert page.console_problems == []


def test_team_finds_cases_opens_one_and_downloads_the_list(
    server_en, page, demo_db, artifacts
) -> None:
    reader = reader_for(demo_db)
    as_of = reader.rows("SELECT max(session_date) FROM sessions")[0][0]
    service, team_id, team_name = busiest_team(demo_db)

    page.goto(server_en.url + PAGE)
    page.wait_for_selector(ROWS, timeout=90_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=60_000)
    assert f"Flags as of {as_of.isoformat()}, the latest session" in text(
        page.locator(".fitdata-as-of-note")
    )
    page.screenshot(path=artifacts / "team-review-open.png", full_page=True)

    # choose the service and the team, as a person would
    choose(page, "service", service)
    choose(page, "team", team_name)
    # a case: a client-episode, or a couple's or family's episode of several clients
    ongoing, not_seen = reader.rows(
        """
        WITH last AS (
            SELECT s.episode_id, s.client_id, max(s.session_date) AS last_date,
                   any_value(e.format) IN ('couple', 'family') AS together
            FROM sessions s JOIN episodes e USING (episode_id)
            WHERE e.team_id = $team AND s.rater = 'client' AND s.session_date <= $as_of
              AND (e.ended IS NULL OR e.ended > $as_of)
            GROUP BY s.episode_id, s.client_id
        ), people AS (
            SELECT episode_id, count(DISTINCT client_id) AS n FROM episode_participants
            WHERE role <> 'collateral' GROUP BY episode_id
        ), cases AS (
            SELECT CASE WHEN together AND coalesce(n, 1) > 1 THEN episode_id
                        ELSE episode_id || '|' || client_id END AS case_id,
                   max($as_of - last_date) AS days
            FROM last LEFT JOIN people USING (episode_id) GROUP BY case_id
        )
        SELECT count(*), count(*) FILTER (WHERE days > 28) FROM cases
        """,
        {"team": team_id, "as_of": as_of},
    )[0]
    wait_for_count(page, f"{ongoing} cases listed")
    buttons = [text(b) for b in page.locator(".fitdata-flag-filter button").all()]
    assert buttons[0] == f"All: {ongoing} cases"
    assert buttons[5] == f"{not_seen} not seen for more than 4 weeks"

    # the other counts are the analytics' flags for this team's ongoing cases
    # (what holds now, most urgent first; data to check apart, in a row of its own)
    model = fit_trajectories(reader)
    team = cl.team_caseload(reader, team_id=team_id, as_of=as_of, model=model)
    ongoing_rows = cl.filter_caseload(team.cases, as_of=as_of, status="ongoing")
    counts = cl.flag_group_counts(ongoing_rows)
    assert buttons[1] == f"{counts['reliable_deterioration']} reliably worse now"
    assert buttons[2] == f"{counts['not_on_track']} not on track now"
    assert buttons[4] == (
        f"{counts['no_reliable_change']} without reliable change now (session 6 or later)"
    )
    assert counts["not_on_track"] > 0 and counts["no_reliable_change"] > 0
    prompts = [text(b) for b in page.locator(".fitdata-prompt-filter button").all()]
    assert prompts[1] == f"{counts['not_judged']} not judged (too few comparable episodes)"

    # the list opens most urgent first: the order of the caseload's urgency, then the longest
    # since the last session, with one chip per flag that holds now
    expected = cl.sort_caseload(ongoing_rows, cl.URGENCY_SORT, descending=True)
    assert [r.get_attribute("data-key") for r in page.locator(ROWS).all()] == (
        expected["key"].head(500).tolist()
    )
    first = page.locator(ROWS).first
    chips = [c.get_attribute("data-flag") for c in first.locator(".fitdata-chip").all()]
    flags = list(dict.fromkeys(c.split("@")[0] for c in chips))  # a couple's: whose flag
    top = expected.iloc[0]
    assert flags == [c for c in cl.URGENCY if c in expected.columns and top[c]]
    assert flags[0] == top["urgent_flag"]

    # click the "not on track" count: the table lists exactly those cases
    page.locator(".fitdata-flag-filter button").nth(2).click()
    wait_for_count(page, f"{counts['not_on_track']} case")
    assert page.locator(ROWS).count() == counts["not_on_track"]
    for row in page.locator(ROWS).all():
        assert row.locator('.fitdata-chip[data-flag^="not_on_track"]').count() >= 1
    chip = page.locator('.fitdata-chip[data-flag="not_on_track"]').first
    assert "below the lower expected line" in chip.get_attribute("title")

    # the "Stagnating" preset: stagnating cases, most sessions first
    page.locator(".fitdata-preset-stagnating").click()
    wait_for_count(page, f"{counts['no_reliable_change']} case")
    assert page.locator('th[data-key="sessions"]').get_attribute("aria-sort") == "descending"
    sessions = [max(numbers(s)) for s in column(page, "sessions")]  # a couple: its most
    assert sessions == sorted(sessions, reverse=True) and min(sessions) >= 6
    for row in page.locator(ROWS).all():
        assert row.locator('.fitdata-chip[data-flag^="no_reliable_change"]').count() >= 1

    # sort by last ORS with a click on the heading
    page.locator('th[data-key="last_ors"]').click()
    page.wait_for_function(  # the rows arrive re-sorted from the kernel
        """() => {
          const v = Array.from(document.querySelectorAll('td[data-key="last_ors"]'))
            .map(td => Math.min(...td.textContent.split('\\n').filter(x => x.trim())
              .map(x => parseFloat(x.replace('\u2212', '-')))));
          return v.length > 1 && v.every((x, i) => i === 0 || v[i - 1] <= x);
        }""",
        timeout=30_000,
    )
    assert page.locator('th[data-key="last_ors"]').get_attribute("aria-sort") == "ascending"
    last_ors = [min(numbers(v)) for v in column(page, "last_ors")]  # a couple: its lowest
    assert last_ors == sorted(last_ors)
    page.screenshot(path=artifacts / "team-review-stagnating.png", full_page=True)

    # choose the second client-episode's row: its graph opens with the band and the flags
    singles = [r for r in page.locator(ROWS).all() if ":" not in text(r.locator("td").first)]
    row = singles[1]
    client = text(row.locator('td[data-key="client_id"]'))
    therapist = text(row.locator('td[data-key="therapist"]'))
    row.click()
    wait_for_title(page, f"Client {client} · {therapist}")
    page.locator(".fitdata-graph").scroll_into_view_if_needed()
    page.locator(".fitdata-graph").screenshot(path=artifacts / "team-review-graph.png")

    episode_id = team.episodes.loc[team.episodes["client_id"] == client, "episode_id"]
    episode_id = str(episode_id[team.episodes["ongoing"]].iloc[0])
    own = reader.df(
        "SELECT session_no, session_date, rater, ors_total::DOUBLE AS ors_total, "
        "srs_total::DOUBLE AS srs_total FROM sessions "
        "WHERE episode_id = ? AND client_id = ? AND rater = 'client' AND session_date <= ? "
        "ORDER BY session_no",
        [episode_id, client, as_of],
    )
    traces = {t["name"]: t for t in page.evaluate(READ_TRACES, PLOT)}
    ors = own.dropna(subset=["ors_total"])
    assert traces["ORS"]["x"] == ors["session_no"].tolist()
    assert traces["ORS"]["y"] == pytest.approx(ors["ors_total"].tolist())
    intake = float(own.loc[own["session_no"] == 1, "ors_total"].iloc[0])
    predicted = model.predict(intake, range(1, int(own["session_no"].max()) + 1))
    predicted = predicted[predicted["sufficient"]]
    median = next(t for n, t in traces.items() if n.startswith("Expected ORS (median of"))
    lower = traces["Lower expected line (25th percentile)"]
    assert median["x"] == predicted["session_no"].tolist()
    assert median["y"] == pytest.approx(predicted["expected"].round(2).tolist())
    assert lower["y"] == pytest.approx(predicted["lower"].round(2).tolist())
    assert "Reliable change: ±5 around the first ORS" in traces
    fired = session_flags(model.expected_lines(own.assign(episode_id=episode_id, client_id=client)))
    stagnant = fired.loc[fired["flag"] == "no_reliable_change", "session_no"].tolist()
    assert traces["No reliable change"]["x"] == stagnant and stagnant
    drawn = page.locator(f"{PLOT} .scatterlayer .trace .point").count()
    assert drawn >= len(ors) + len(stagnant)
    # one click on the case shows what holds now and, apart, what held earlier
    panel = page.locator(".fitdata-case-flags")
    assert "Holds now:" in text(panel)
    assert panel.locator('.fitdata-flags-now li[data-flag="no_reliable_change"]').count() == 1
    now, earlier = cl.case_flags(team, f"{episode_id}|{client}")
    shown_history = panel.locator(".fitdata-flags-history li").all()
    assert [li.get_attribute("data-flag") for li in shown_history] == earlier["flag"].tolist()
    assert "closed episodes of this service" in text(page.locator(".fitdata-expected-text"))

    # download the list as CSV: it holds what the table shows, in the same order
    download = take_download(page, ".fitdata-export-csv button", server_en)
    path = download.path()
    assert download.suggested_filename == f"case-review-{team_id}-{as_of.isoformat()}.csv"
    with open(path, encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["Participants"] or r["Client"] for r in exported] == column(page, "client_id")
    cells = column(page, "sessions")
    solo = [
        (r["Sessions"], c) for r, c in zip(exported, cells, strict=True) if not r["Participants"]
    ]
    assert all(a == b for a, b in solo) and solo
    assert [float(r["Last ORS"]) for r in exported] == pytest.approx(last_ors)
    assert all("No reliable change" in r["Warnings now"] for r in exported)
    (artifacts / "team-review-export.csv").write_bytes(path.read_bytes())

    download = take_download(page, ".fitdata-export-excel button", server_en)
    book = pd.read_excel(io.BytesIO(download.path().read_bytes()), sheet_name=None)
    assert book["Case review"]["Client"].tolist() == [r["Client"] for r in exported]

    # take the chosen case to the KOR group exercise: a new tab, anonymised, the same scores
    link = page.locator(".fitdata-group-link a").first
    assert text(link) == "show the chosen case"
    assert client not in (link.get_attribute("href") or "")
    with page.context.expect_page() as opened:
        link.click()
    group = opened.value
    group.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    group.wait_for_function(
        """([sel, ys]) => {
             const plot = document.querySelector(sel);
             const ors = plot && plot.data.find(t => t.name === 'ORS');
             return ors && JSON.stringify(Array.from(ors.y)) === JSON.stringify(ys);
           }""",
        arg=[PLOT, ors["ors_total"].tolist()],
        timeout=30_000,
    )
    assert "Showing 1 case from the case review" in group.inner_text(".fitdata-message")
    assert client not in group.content() and therapist not in group.content()
    group.screenshot(path=artifacts / "team-review-to-group-exercise.png", full_page=True)
    group.close()
    assert_clean(page)


def test_norwegian_case_review(server_nb, page, demo_db, artifacts) -> None:
    page.goto(server_nb.url + PAGE)
    page.wait_for_selector(ROWS, timeout=90_000)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=60_000)
    buttons = [text(b) for b in page.locator(".fitdata-flag-filter button").all()]
    assert buttons[0].startswith("Alle: ") and buttons[2].endswith("ikke på sporet nå")
    prompts = [text(b) for b in page.locator(".fitdata-prompt-filter button").all()]
    assert "ikke vurdert (for få sammenlignbare forløp)" in prompts[1]
    assert text(page.locator('th[data-key="last_srs"]')) == "Siste SRS"
    srs = [v for v in column(page, "last_srs") if v != "\u2013"]
    assert srs and all("," in v for v in srs)  # decimal comma
    assert page.locator(f"{PLOT} .xtitle").text_content() == "Samtale"
    page.screenshot(path=artifacts / "team-review-nb.png", full_page=True)

    # reading the graph at the bottom, the list re-sorted: the page stays where the reader is,
    # and the chosen row is scrolled into view inside the table's own box
    page_scroll = (  # Voila's page scrolls in #rendered_cells, not in the window
        "(to) => { const s = document.querySelector('#rendered_cells') "
        "|| document.scrollingElement; if (to !== null) s.scrollTop = to; return s.scrollTop; }"
    )
    reading_at = page.evaluate(page_scroll, 100_000)
    assert reading_at > 0
    page.locator('th[data-key="weeks_since_last"]').dispatch_event("click")
    page.wait_for_function(
        "() => document.querySelector('th[data-key=\"weeks_since_last\"]')"
        ".getAttribute('aria-sort') !== 'none'",
        timeout=30_000,
    )
    assert page.evaluate(page_scroll, None) == reading_at
    chosen, box = page.evaluate(
        """() => [document.querySelector('.fitdata-case-table tr.selected'),
                  document.querySelector('.fitdata-case-table-scroll')]
             .map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })"""
    )
    assert box[0] <= chosen[0] and chosen[1] <= box[1] + 1
    assert_clean(page)


def demo_couple(db) -> dict[str, object]:
    """An ongoing couple of the demo whose two partners both rated sessions, with most sessions."""
    row = reader_for(db).rows(
        """
        WITH as_of AS (SELECT max(session_date) AS d FROM sessions),
        own AS (
            SELECT s.episode_id, s.client_id, count(*) AS n
            FROM sessions s, as_of WHERE s.rater = 'client' AND s.session_date <= as_of.d
            GROUP BY ALL
        )
        SELECT e.episode_id, e.client_id, p.client_id, t.service, t.name, th.name, e.team_id
        FROM episodes e
        JOIN episode_participants p ON p.episode_id = e.episode_id AND p.role = 'partner'
        JOIN own a ON a.episode_id = e.episode_id AND a.client_id = e.client_id
        JOIN own b ON b.episode_id = e.episode_id AND b.client_id = p.client_id
        JOIN teams t ON t.team_id = e.team_id
        JOIN therapists th ON th.therapist_id = e.therapist_id, as_of
        WHERE e.format = 'couple' AND (e.ended IS NULL OR e.ended > as_of.d)
        ORDER BY least(a.n, b.n) DESC, e.episode_id LIMIT 1
        """
    )
    assert row, "the demo has no ongoing couple whose partners both rated sessions"
    names = ("episode", "index", "partner", "service", "team", "therapist", "team_id")
    return dict(zip(names, row[0], strict=True))


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_demo_couple_is_one_case_with_both_partners_on_its_graph(
    request, page, demo_db, lang
) -> None:
    server = request.getfixturevalue(f"server_{lang}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    couple = demo_couple(demo_db)
    episode, index, partner = couple["episode"], couple["index"], couple["partner"]
    words = {
        "en": ("Couple", "index", "partner", "ORS", "Not on track"),
        "nb": ("Par", "indeksklient", "partner", "ORS", "Ikke på sporet"),
    }[lang]
    page.goto(server.url + PAGE)
    page.wait_for_selector(ROWS, timeout=90_000)
    choose(page, "service", str(couple["service"]))
    choose(page, "team", str(couple["team"]))
    choose(page, "therapist", str(couple["therapist"]))
    key = f"{episode}|{index}"
    row = page.locator(f'{ROWS}[data-key="{key}"]')
    row.wait_for(timeout=30_000)
    # one row for the couple, naming both partners with their roles; no row of the partner
    label = f"{words[0]}: {index} ({words[1]}), {partner} ({words[2]})"
    lines = text(row.locator('td[data-key="client_id"]')).split("\n")  # a partner a line
    assert lines == [f"{words[0]}:", f"{index} ({words[1]}),", f"{partner} ({words[2]})"]
    assert page.locator(f'{ROWS}[data-key="{episode}|{partner}"]').count() == 0
    assert len(text(row.locator('td[data-key="last_ors"]')).split()) == 2  # each their own
    for chip in row.locator(".fitdata-chip").all():  # each flag says whose it is
        code, who = chip.get_attribute("data-flag").split("@")
        shown = text(chip).replace("\u2011", "-")  # a code's hyphen does not break
        assert who in (index, partner) and shown.endswith(who) and " — " in shown
    row.click()
    wait_for_title(page, f"{label} · {couple['therapist']}")
    box = page.locator(".fitdata-case-table-scroll")  # the chosen row is kept in its view
    box.scroll_into_view_if_needed()
    box.screenshot(path=SHOTS / f"couple-row-{lang}.png")
    page.wait_for_function(
        "(sel) => { const p = document.querySelector(sel);"
        " return p && p.data.filter(t => / ORS$/.test(t.name || '')).length >= 2; }",
        arg=PLOT,
        timeout=30_000,
    )
    traces = page.evaluate(READ_TRACES, PLOT)
    reader = reader_for(demo_db)
    as_of = reader.rows("SELECT max(session_date) FROM sessions")[0][0]
    for client in (index, partner):
        ors = reader.df(
            "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? "
            "AND client_id = ? AND rater = 'client' AND ors_total IS NOT NULL "
            "AND session_date <= ? ORDER BY session_no",
            [episode, client, as_of],
        )
        drawn = [t for t in traces if t["name"].endswith(f"{client}: {words[3]}")]
        assert len(drawn) == 1, [t["name"] for t in traces]
        points = [
            (x, y) for x, y in zip(drawn[0]["x"], drawn[0]["y"], strict=True) if y is not None
        ]
        assert [x for x, _ in points] == ors["session_no"].tolist()  # a gap where none was given
        assert [y for _, y in points] == pytest.approx(ors["ors"].tolist())
        assert any(t["name"].endswith(f"{client}: SRS") for t in traces)
    # each partner's status and flags under their label, both above the graph
    panel = page.locator(".fitdata-case-flags")
    for client in (index, partner):
        assert panel.locator(f'.fitdata-participant-flags[data-client="{client}"]').count() == 1
    assert page.locator(".fitdata-status .fitdata-participant").count() == 2
    if lang == "nb":
        body = page.inner_text(".fitdata-case-flags") + page.inner_text(".fitdata-status")
        for english in ("Holds now", "Earlier, not now", "No flag", "since the first session"):
            assert english not in body
    page.locator(".fitdata-status").scroll_into_view_if_needed()
    page.locator(".fitdata-status").screenshot(path=SHOTS / f"couple-status-{lang}.png")
    page.locator(".fitdata-graph").scroll_into_view_if_needed()
    page.locator(".fitdata-graph").screenshot(path=SHOTS / f"couple-graph-{lang}.png")
    page.screenshot(path=SHOTS / f"couple-case-{lang}.png", full_page=True)
    assert_clean(page)
