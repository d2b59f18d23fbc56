"""A therapist registers today's ORS and SRS in the browser and sees the graph gain the points."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.data import queries
from fitdata.data.store import reader_for
from fitdata.features import registration
from fitdata.i18n import Translator, catalogue
from fitdata.vocabulary import FORMS
from tests.browser.conftest import ARTIFACTS, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOT = ".fitdata-graph .js-plotly-plot"
READ_TRACES = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""


@pytest.fixture(scope="module")
def registration_db(demo_db, tmp_path_factory) -> Path:
    """A copy of the demo database: this test writes, the other browser tests keep their data."""
    path = tmp_path_factory.mktemp("registration") / "registration.duckdb"
    shutil.copyfile(demo_db, path)
    return path


@pytest.fixture(scope="module")
def server_registration(registration_db, artifacts) -> Iterator[Server]:
    server = Server(registration_db, "en", artifacts / "serve-registration.log")
    yield server
    server.stop()


def traces(page) -> dict[str, dict]:
    return {t["name"]: t for t in page.evaluate(READ_TRACES, PLOT)}


def text(page, selector: str) -> str:
    return page.inner_text(selector).replace("\u00a0", " ").strip()


def own_sessions(db: Path, episode_id: str, client_id: str):
    reader = reader_for(db)
    frame = queries.client_sessions(reader, episode_id, client_id)
    reader.close()
    return frame[frame["rater"] == "client"]


def type_into_readout(page, css: str, value: str) -> None:
    """Type a value into a line's value box, as a person can instead of dragging."""
    box = page.locator(f".{css}-value input")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def line_value(page, css: str) -> str:
    """What a line's value box shows (the mark in the page's number format)."""
    return page.locator(f".{css}-value input").input_value()


def drag_slider(page, css: str, fraction: float) -> None:
    """Drag a slider's handle to ``fraction`` of its line, as with a mouse."""
    handle = page.locator(f".{css} .noUi-handle")
    track = page.locator(f".{css} .noUi-base").bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def wait_for_text(page, selector: str, expected: str, timeout: int = 30_000) -> None:
    page.wait_for_function(
        """([selector, text]) => {
             const e = document.querySelector(selector);
             return e && e.textContent.replace(/\u00a0/g, " ").includes(text);
           }""",
        arg=[selector, expected],
        timeout=timeout,
    )


def wait_for_point(page, name: str, count: int) -> None:
    try:
        _wait_for_point(page, name, count)
    except Exception:
        page.screenshot(path=ARTIFACTS / f"registration-failed-{name}.png", full_page=True)
        raise


def _wait_for_point(page, name: str, count: int) -> None:
    page.wait_for_function(
        """([selector, name, count]) => {
             const plot = document.querySelector(selector);
             const t = plot && plot.data && plot.data.find(t => t.name === name);
             return t && t.y.length === count;
           }""",
        arg=[PLOT, name, count],
        timeout=90_000,  # a new chart on 2 cores shared with other test runs
    )


def assert_clean(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    assert "Traceback" not in page.inner_text("body")
    assert page.console_problems == []


def test_register_ors_then_srs_then_correct_and_see_the_graph(
    server_registration, registration_db, page, artifacts
) -> None:
    tr = Translator("en")
    page.goto(server_registration.url)
    link = page.locator(".fitdata-dashboard-link").filter(has_text="Registration")
    assert "record today's ORS (before the session) and SRS (after it)" in link.inner_text()
    started = time.monotonic()
    link.locator("a").click()
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    page_to_chart = time.monotonic() - started

    # What the page chose by default: the first team, therapist and client, ongoing episode.
    team_label = text(page, ".fitdata-team select option:checked")
    reader = reader_for(registration_db)
    teams = registration.team_choices(reader)
    team = teams[teams["name"] == team_label.strip()].iloc[0].team_id
    therapist = registration.therapist_choices(reader, team).iloc[0].therapist_id
    choices = registration.client_choices(reader, team, therapist)
    chosen = choices.iloc[0]
    reader.close()
    assert bool(chosen.ended is None or chosen.ended != chosen.ended)  # ongoing (NULL)
    assert (
        page.locator(".fitdata-client select option:checked")
        .inner_text()
        .startswith(chosen.client_id)
    )
    before = own_sessions(registration_db, chosen.episode_id, chosen.client_id)
    next_no = int(before["session_no"].max()) + 1
    today = dt.date.today()
    mode = text(page, ".fitdata-mode")
    started_on = pd.Timestamp(chosen.started).date().isoformat()
    assert mode == f"New session {next_no} in the episode from {started_on}."
    assert chosen.episode_id not in page.inner_text("body")  # no internal id on the page
    assert page.locator(".fitdata-save").is_disabled()
    assert "mark every line" in text(page, ".fitdata-save-reason")
    page.screenshot(path=artifacts / "registration-open.png", full_page=True)

    # ORS: drag one line with the mouse, type the other three into the readouts.
    drag_slider(page, "fitdata-ors-individual", 0.62)
    type_into_readout(page, "fitdata-ors-interpersonal", "4.7")
    type_into_readout(page, "fitdata-ors-social", "5.5")
    type_into_readout(page, "fitdata-ors-overall", "6.1")
    wait_for_text(page, ".fitdata-ors-total", "ORS total: ")
    page.wait_for_function(
        "() => document.querySelector('.fitdata-ors-individual-value input').value !== ''"
    )
    dragged = float(line_value(page, "fitdata-ors-individual"))
    assert 5.0 <= dragged <= 7.5, dragged
    ors_total = round(dragged + 4.7 + 5.5 + 6.1, 1)
    wait_for_text(page, ".fitdata-ors-total", f"ORS total: {ors_total:.1f}")
    wait_for_text(page, ".fitdata-save-reason", "Ready to save.")
    page.screenshot(path=artifacts / "registration-ors-entered.png", full_page=True)

    save_started = time.monotonic()
    page.locator(".fitdata-save").click()
    wait_for_text(
        page,
        ".fitdata-message",
        f"Saved session {next_no} on {today.isoformat()} for {chosen.client_id}",
    )
    wait_for_point(page, "ORS", len(before.dropna(subset=["ors_total"])) + 1)
    save_to_graph = time.monotonic() - save_started
    ors = traces(page)["ORS"]
    assert ors["x"][-1] == next_no
    assert ors["y"][-1] == pytest.approx(ors_total)
    after = own_sessions(registration_db, chosen.episode_id, chosen.client_id)
    assert float(after.iloc[-1]["ors_total"]) == pytest.approx(ors_total)
    group = str(queries.client_profile(reader_for(registration_db), chosen.client_id)["age_group"])
    expected = status_sentence(client_status(after, group), tr)
    assert text(page, ".fitdata-status-text") == expected
    wait_for_text(
        page, ".fitdata-mode", f"Session {next_no} on {today.isoformat()} is saved with its ORS"
    )
    page.screenshot(path=artifacts / "registration-ors-saved.png", full_page=True)

    # SRS after the session: a total only, typed.
    page.locator(".fitdata-srs-mode button", has_text="Total only").click()
    page.locator(".fitdata-srs-total-input input").fill("35.5")
    wait_for_text(page, ".fitdata-srs-total", "SRS total: 35.5")
    srs_count = len(after.dropna(subset=["srs_total"]))
    page.locator(".fitdata-save").click()
    wait_for_text(page, ".fitdata-message", f"Added the SRS 35.5 to session {next_no}")
    wait_for_point(page, "SRS", srs_count + 1)
    srs = traces(page)["SRS"]
    assert (srs["x"][-1], srs["y"][-1]) == (next_no, pytest.approx(35.5))
    assert "SRS below 36 in session" in text(page, ".fitdata-status-text")
    wait_for_text(page, ".fitdata-mode", "is saved with ORS and SRS")
    assert page.locator(".fitdata-save").is_disabled()
    page.screenshot(path=artifacts / "registration-srs-saved.png", full_page=True)

    # A correction of the ORS with a reason, and the history shows who, what and why.
    chosen_session = text(page, ".fitdata-correct-session select option:checked")
    assert chosen_session.startswith(f"Session {next_no} · {today.isoformat()} · ORS")
    type_into_readout(page, "fitdata-correct-ors-overall", "3.1")
    page.locator(".fitdata-reason textarea").fill("typing error: Overall was 3.1")
    wait_for_text(page, ".fitdata-correction", f"ORS total: {ors_total - 3.0:.1f}")
    page.locator(".fitdata-correct-save").click()
    wait_for_text(page, ".fitdata-message", f"Corrected session {next_no}")
    page.wait_for_function(
        """([selector, value]) => {
             const plot = document.querySelector(selector);
             const t = plot && plot.data && plot.data.find(t => t.name === "ORS");
             return t && Math.abs(t.y[t.y.length - 1] - value) < 1e-9;
           }""",
        arg=[PLOT, round(ors_total - 3.0, 1)],
        timeout=90_000,
    )
    history = text(page, ".fitdata-history")
    assert f"Change history of session {next_no}" in history
    assert "typing error: Overall was 3.1" in history
    assert f"ORS {ors_total:.1f}" in history and f"→ {ors_total - 3.0:.1f}" in history
    assert "SRS added after the session" in history
    page.locator(".fitdata-history").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "registration-corrected.png", full_page=True)
    assert_clean(page)
    (artifacts / "timings-registration.json").write_text(
        json.dumps(
            {
                "page_open_to_chart_s": round(page_to_chart, 2),
                "save_click_to_new_point_s": round(save_to_graph, 2),
            }
        )
    )


def test_a_national_identity_number_is_refused_in_the_page(
    server_registration, page, artifacts
) -> None:
    page.goto(server_registration.url + "voila/render/registration.ipynb")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    page.locator(".fitdata-client select").select_option(index=0)  # new client
    page.wait_for_selector(".fitdata-new-client-code input", state="visible", timeout=20_000)
    page.locator(".fitdata-new-client-code input").fill("01019012345")
    wait_for_text(page, ".fitdata-client-problems", "looks like a national identity number")
    page.locator(".fitdata-ors-mode button", has_text="Total only").click()
    page.locator(".fitdata-ors-total-input input").fill("21")
    wait_for_text(page, ".fitdata-save-reason", "national identity number")
    assert page.locator(".fitdata-save").is_disabled()
    # as a person writes it (a dotted date, a space): found too, and never repeated
    page.locator(".fitdata-new-client-code input").fill("01.01.90 10046")
    wait_for_text(page, ".fitdata-client-problems", "also with spaces or dots")
    assert "10046" not in text(page, ".fitdata-client-problems")
    assert page.locator(".fitdata-save").is_disabled()
    page.screenshot(path=artifacts / "registration-national-id.png", full_page=True)
    assert page.console_problems == []


SHOTS = Path("/tmp/shots/23c")
#: The sizes a therapist's page is read at: a laptop, and a tablet held upright.
SIZES = {"laptop": (1280, 720), "tablet": (820, 1180)}
ANCHORS = {"ors": ("Dårlig", "Bra"), "srs": ("Ikke bra", "Veldig bra")}


def english_words_on(body: str) -> list[str]:
    """The catalogue's English registration texts (those that differ in bokmål) found in ``body``.

    Short texts without placeholders: the labels, buttons and anchors a page shows as they are.
    """
    english, bokmal = catalogue("en"), catalogue("nb")
    keys = [k for k in english if k.startswith(("registration.", "client_page.", "item."))]
    found = []
    for key in keys:
        value = english[key]
        if "{" in value or len(value) > 30 or len(value) < 4 or value == bokmal[key]:
            continue
        if re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", body):
            found.append(f"{key}: {value}")
    return found


def anchors_inside(page, css: str, width: int) -> dict:
    """Where a line's end words are: both shown, inside the window, under the line's ends."""
    return page.evaluate(
        """([css, width]) => {
             const box = document.querySelector(`.${css}-anchors`);
             const spans = Array.from(box.querySelectorAll("span"));
             const line = document.querySelector(`.${css} .noUi-base`).getBoundingClientRect();
             const rects = spans.map(s => s.getBoundingClientRect());
             return {
               words: spans.map(s => s.textContent),
               shown: rects.every(r => r.width > 0 && r.height > 0),
               inside: rects.every(r => r.left >= 0 && r.right <= width),
               uncut: spans.every(s => s.scrollWidth <= s.clientWidth + 1),
               left_gap: rects[0].left - line.left,
               right_gap: line.right - rects[1].right,
             };
           }""",
        [css, width],
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_a_bokmal_page_reads_as_a_therapist_reads_it(server_nb, browser, size) -> None:
    """Typing "abc" says what to write (no "nan"), the lines' ends have words, no English."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(server_nb.url + "voila/render/registration.ipynb")
        page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=120_000)
        page.wait_for_selector(".fitdata-ors-individual-anchors span", timeout=30_000)

        # The four lines of each form have the client page's words at their ends.
        page.locator(".fitdata-srs-mode button", has_text="Fire linjer").click()
        page.wait_for_selector(".fitdata-srs-overall-anchors span", state="visible")
        for form, (low, high) in ANCHORS.items():
            for item in FORMS[form]:
                where = anchors_inside(page, f"fitdata-{form}-{item.split('_', 1)[1]}", width)
                assert where["words"] == [low, high], where
                assert where["shown"] and where["inside"] and where["uncut"], where
                # under the line's ends, not somewhere else on the page
                assert abs(where["left_gap"]) < 30 and abs(where["right_gap"]) < 30, where
        page.locator(".fitdata-ors-individual").scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / f"registration-nb-anchors-{size}.png")

        # A line's value reads with a decimal comma, typed with a point or a comma.
        type_into_readout(page, "fitdata-ors-individual", "4.2")
        page.wait_for_function(
            "() => document.querySelector('.fitdata-ors-individual-value input').value === '4,2'"
        )
        type_into_readout(page, "fitdata-ors-social", "abc")
        wait_for_text(page, ".fitdata-ors-problems", "«abc» er ikke et tall")
        wait_for_text(page, ".fitdata-ors-problems", "Skriv et tall fra 0 til 10, f.eks. 7,3.")

        # "abc" as a total: a message in bokmål, never "nan"; the save stays refused.
        page.locator(".fitdata-ors-mode button", has_text="Bare totalskår").click()
        page.locator(".fitdata-ors-total-input input").fill("abc")
        page.locator(".fitdata-ors-total-input input").press("Enter")
        message = "ORS totalt: «abc» er ikke et tall. Skriv et tall fra 0 til 40, f.eks. 23,5."
        wait_for_text(page, ".fitdata-ors-problems", message)
        wait_for_text(page, ".fitdata-ors-total", "ORS totalt: skriv et tall fra 0 til 40")
        wait_for_text(page, ".fitdata-save-reason", message)
        assert page.locator(".fitdata-save").is_disabled()
        body = page.inner_text("body")
        assert not re.search(r"\bnan\b", body, re.IGNORECASE), "nan on the page"
        page.locator(".fitdata-ors-total-input").scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / f"registration-nb-abc-{size}.png")

        page.locator(".fitdata-ors-total-input input").fill("41")
        wait_for_text(page, ".fitdata-ors-problems", "41,0 er utenfor 0–40")
        assert page.locator(".fitdata-save").is_disabled()
        page.locator(".fitdata-ors-total-input input").fill("23,5")
        wait_for_text(page, ".fitdata-ors-total", "ORS totalt: 23,5")
        page.wait_for_function(
            "() => !document.querySelector('.fitdata-ors-problems').textContent.trim()"
        )
        # The rules under the graph say what a break in a line is.
        page.locator(".fitdata-rules summary", has_text="Reglene bak grafen").click()
        wait_for_text(page, ".fitdata-rules", "Et brudd i en linje er en samtale uten den skåren")
        page.locator(".fitdata-rules").scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / f"registration-nb-rules-{size}.png")
        body = page.inner_text("body")
        assert not re.search(r"\bnan\b", body, re.IGNORECASE)
        assert english_words_on("Four lines, Total only") != []  # the check finds English
        assert english_words_on(body) == []
        page.screenshot(path=SHOTS / f"registration-nb-full-{size}.png", full_page=True)
        assert problems == []
    except Exception:
        page.screenshot(path=SHOTS / f"registration-nb-failed-{size}.png", full_page=True)
        raise
    finally:
        context.close()
