"""A supervisor runs the group exercise in a real browser, and nothing identifying reaches it.

The privacy check reads everything the browser received: the rendered page (``page.content()``),
the page's HTML as served, and the text of every websocket frame (the widget state and every
update the kernel sends). It looks for every client code and episode id of the team, every
therapist name of the team, and every session date of the cases shown, in ISO and dd.mm.yyyy
form. A positive control proves the scan can see a leak: ticking "Show the therapist" must
make the therapist's name appear in both the page and the frames.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from fitdata.config import DEFAULT_CONFIG
from fitdata.data.store import reader_for
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator
from fitdata.ui.group_exercise_texts import reason_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEAM = "T01"
URL = "voila/render/group_exercise.ipynb"
PLOT = ".fitdata-graph .js-plotly-plot"
READ_TRACES = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}));
}"""
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


# -- what the browser received ---------------------------------------------------------------


@dataclass
class Received:
    """Everything the kernel and server sent to one page."""

    frames: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        def on_websocket(ws) -> None:
            ws.on("framereceived", lambda payload: self.frames.append(_text(payload)))

        def on_response(response) -> None:
            if "/voila/render/" in response.url and response.ok:
                # A body that is no longer available is skipped; page.content() and the frames
                # are scanned in any case.
                with contextlib.suppress(Exception):
                    self.documents.append(response.text())

        page.on("websocket", on_websocket)
        page.on("response", on_response)


def _text(payload: str | bytes) -> str:
    text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")
    # JSON may escape non-ASCII letters (ø in a name); undo that so the scan sees them.
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def find_identifiers(texts: list[str], identifiers: set[str]) -> set[str]:
    """Which identifiers occur in any of the texts (also after undoing HTML escapes)."""
    found: set[str] = set()
    for text in texts:
        for variant in (text, html.unescape(text), text.replace("\u00a0", " ")):
            found |= {value for value in identifiers if value in variant}
    return found


def test_the_scanner_sees_an_identifier_in_a_page_that_has_one() -> None:
    page = '<div class="widget-html"><p>Klient K-88JHAA, samtale 14.03.2025</p></div>'
    frame = json.dumps({"content": {"data": {"state": {"value": "Terapeut Åse Berg"}}}})
    assert "\\u00c5se" in frame  # the frame escapes Å, as JSON may
    identifiers = {"K-88JHAA", "14.03.2025", "Åse Berg", "K-OTHER1", "2025-03-14"}
    assert find_identifiers([page, _text(frame)], identifiers) == {
        "K-88JHAA",
        "14.03.2025",
        "Åse Berg",
    }
    assert find_identifiers([_text(b"\x00\x01binary K-OTHER1 frame")], identifiers) == {"K-OTHER1"}


# -- the team's identities, straight from the file -------------------------------------------


def team_identifiers(db) -> dict[str, set[str]]:
    rows = reader_for(db).df(
        """
        SELECT DISTINCT s.client_id, s.episode_id, th.name AS therapist
        FROM sessions s JOIN episodes e USING (episode_id)
        JOIN therapists th ON th.therapist_id = e.therapist_id
        WHERE e.team_id = ?
        """,
        [TEAM],
    )
    return {
        "codes": set(rows["client_id"]) | set(rows["episode_id"]),
        "names": set(rows["therapist"]),
    }


def case_dates(db, ref: ge.CaseRef) -> set[str]:
    rows = reader_for(db).df(
        "SELECT DISTINCT session_date FROM sessions WHERE episode_id = ? AND client_id = ?",
        [ref.episode_id, ref.client_id],
    )
    dates = pd.to_datetime(rows["session_date"]).dt
    return set(dates.strftime("%Y-%m-%d")) | set(dates.strftime("%d.%m.%Y"))


def own_ors(db, ref: ge.CaseRef) -> pd.DataFrame:
    return reader_for(db).df(
        "SELECT session_no, ors_total::DOUBLE AS ors FROM sessions WHERE episode_id = ? "
        "AND client_id = ? AND rater = 'client' ORDER BY session_no",
        [ref.episode_id, ref.client_id],
    )


def listed_cases(db) -> list[ge.CaseRef]:
    """The team's ongoing flagged cases in the order the page letters them (A, B, ...)."""
    reader = reader_for(db)
    cases = ge.attention_cases(reader, TEAM, model=ge.trajectory_model(reader))
    cases = cases[(cases["flag_count"] > 0) & cases["ongoing"]]
    return [ge.CaseRef(r.episode_id, r.client_id, r.team_id) for r in cases.itertuples()]


def first_case(db):
    """The first (most urgent) of the team's ongoing flagged cases, as attention_cases has it."""
    reader = reader_for(db)
    cases = ge.attention_cases(reader, TEAM, model=ge.trajectory_model(reader))
    return next(cases[(cases["flag_count"] > 0) & cases["ongoing"]].itertuples())


# -- driving the page ------------------------------------------------------------------------


def options(page, name: str) -> list[str]:
    texts = page.locator(f".fitdata-{name} select option").all_inner_texts()
    return [t.replace("\u00a0", " ").strip() for t in texts]


def traces(page) -> dict[str, dict]:
    return {t["name"]: t for t in page.evaluate(READ_TRACES, PLOT)}


def wait_for_title(page, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const t = document.querySelector(sel + ' .gtitle');"
        " return t && t.textContent === text; }",
        arg=[PLOT, text],
        timeout=30_000,
    )


def wait_for_ors(page, expected: list[float]) -> None:
    page.wait_for_function(
        """([sel, ys]) => {
             const plot = document.querySelector(sel);
             const ors = plot && plot.data.find(t => t.name === 'ORS');
             const scored = ors && Array.from(ors.y).filter(y => y !== null);
             return ors && JSON.stringify(scored) === JSON.stringify(ys);
           }""",
        arg=[PLOT, expected],
        timeout=30_000,
    )


def scored(trace: dict) -> tuple[list, list]:
    """A drawn line's points that have a score (a session without one is a gap: y null)."""
    pairs = [(x, y) for x, y in zip(trace["x"], trace["y"], strict=True) if y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def set_readout(page, css: str, value: str) -> None:
    """Type a value into the box beside a prediction slider, as a person can."""
    readout = page.locator(f"{css}-value input")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def heading_label(page) -> str:
    return page.inner_text(".fitdata-case-title").strip()


def assert_no_problems(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    assert "Traceback" not in page.inner_text("body")
    assert page.console_problems == []


def test_group_exercise_shows_cases_prompts_and_prediction_without_identifying_anyone(
    server_en, page, demo_db, artifacts
) -> None:
    received = Received()
    received.attach(page)
    cases = listed_cases(demo_db)
    assert len(cases) >= 3
    page.goto(server_en.url + URL)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)

    # 1. Choose the team: the list shows lettered cases with the reasons they need attention.
    teams = options(page, "team")
    team_name = reader_for(demo_db).rows("SELECT name FROM teams WHERE team_id = ?", [TEAM])[0][0]
    page.locator(".fitdata-team select").select_option(index=teams.index(team_name))
    wait_for_ors(page, own_ors(demo_db, cases[0]).dropna()["ors"].tolist())
    wait_for_title(page, f"Case A ({_age_group(demo_db, cases[0])})")
    listed = options(page, "case")
    assert len(listed) == len(cases)
    assert listed[0].startswith("Case A · ") and listed[1].startswith("Case B · ")
    # the reasons are the flags that hold now, most urgent first (issue 18)
    first = first_case(demo_db)
    reason = reason_text(
        Translator("en"), DEFAULT_CONFIG, first.flag_codes[:1], first.flag_sessions[:1]
    )
    assert f"· {reason}" in listed[0]
    assert "Why this case now:" in page.inner_text(".fitdata-reasons")

    # 2. Choose another case (one with enough sessions for the exercise): its graph is drawn.
    index = next(i for i in range(1, len(cases)) if len(own_ors(demo_db, cases[i])) >= 6)
    chosen = cases[index]
    label = ge.case_label(index)
    page.locator(".fitdata-case select").select_option(index=index)
    wait_for_title(page, f"Case {label} ({_age_group(demo_db, chosen)})")
    expected = own_ors(demo_db, chosen).dropna()
    shown = traces(page)
    assert scored(shown["ORS"])[0] == expected["session_no"].tolist()
    assert scored(shown["ORS"])[1] == pytest.approx(expected["ors"].tolist())
    assert "SRS" in shown and "Lower expected line" in shown
    assert any(name.startswith("Expected (median of") for name in shown)
    assert page.locator(f"{PLOT} .scatterlayer .trace .point").count() >= len(expected)
    assert page.locator(f"{PLOT} .xtitle").text_content() == "Session"
    assert heading_label(page) == f"Case {label}"
    page.screenshot(path=artifacts / "group-exercise-case.png", full_page=True)

    # 3. Step through the reflection prompts.
    titles = [page.inner_text(".fitdata-prompt-title")]
    for _ in range(4):
        page.locator("button.fitdata-next").click()
        page.wait_for_function(
            "(n) => document.querySelector('.fitdata-prompt').innerText.includes('Step ' + n)",
            arg=len(titles) + 1,
        )
        titles.append(page.inner_text(".fitdata-prompt-title"))
    assert titles == [
        "What does the graph tell us?",
        "What has the client said about change?",
        "How is the alliance?",
        "What could be done differently?",
        "What is the next step?",
    ]
    assert page.locator("button.fitdata-next").is_disabled()
    page.locator("button.fitdata-previous").click()
    page.wait_for_function(
        "() => document.querySelector('.fitdata-prompt').innerText.includes('Step 4 of 5')"
    )
    page.screenshot(path=artifacts / "group-exercise-prompts.png", full_page=True)

    # 4. "What happens next?": three sessions shown, predict session 4, then reveal.
    page.locator(".fitdata-tabs .lm-TabBar-tab", has_text="What happens next?").click()
    page.locator(".fitdata-mode button", has_text="Predict, then reveal").click()
    page.wait_for_function(
        "(sel) => { const p = document.querySelector(sel);"
        " const o = p && p.data.find(t => t.name === 'ORS'); return o && o.x.length <= 3; }",
        arg=PLOT,
        timeout=30_000,
    )
    before = traces(page)
    assert max(before["ORS"]["x"]) <= 3, "sessions after the third were sent before the reveal"
    assert "hidden" in page.inner_text(".fitdata-heading")
    set_readout(page, ".fitdata-predict-1", "30")
    page.wait_for_function(
        "(sel) => { const p = document.querySelector(sel);"
        ' const t = p.data.find(t => t.name === "The group\'s prediction");'
        " return t && t.x[1] === 4 && t.y[1] === 30; }",
        arg=PLOT,
        timeout=30_000,
    )
    page.screenshot(path=artifacts / "group-exercise-predict.png", full_page=True)
    page.locator("button.fitdata-reveal").click()
    page.wait_for_selector(".fitdata-result-box", timeout=30_000)
    wait_for_ors(page, expected["ors"].tolist())
    after = traces(page)
    assert scored(after["ORS"])[0] == expected["session_no"].tolist()
    actual = own_ors(demo_db, chosen).set_index("session_no")["ors"].get(4)
    result = page.inner_text(".fitdata-result")
    if pd.notna(actual):
        assert f"Session 4: predicted 30.0, the client reported {actual:.1f}" in result
    else:
        assert "Session 4: predicted 30.0; no ORS was recorded." in result
    page.screenshot(path=artifacts / "group-exercise-reveal.png", full_page=True)

    # 5. A random not-on-track case.
    page.locator(".fitdata-mode button", has_text="Whole graph").click()
    page.locator(".fitdata-tabs .lm-TabBar-tab", has_text="Reflect together").click()
    page.locator("button.fitdata-random").click()
    page.wait_for_timeout(1500)
    page.wait_for_function(
        """(sel) => {
             const s = document.querySelector('.fitdata-case select');
             const option = s.options[s.selectedIndex];
             const title = document.querySelector(sel + ' .gtitle');
             const label = option.textContent.replace(/\u00a0/g, ' ').split(' · ')[0];
             return title && title.textContent.startsWith(label + ' (');
           }""",
        arg=PLOT,
        timeout=30_000,
    )
    random_label = heading_label(page).removeprefix("Case ")
    assert random_label != label, "the random case should be another than the one shown"
    random_ref = cases[_label_index(random_label)]
    wait_for_ors(page, own_ors(demo_db, random_ref).dropna()["ors"].tolist())
    assert "not on track" in page.inner_text(".fitdata-reasons")

    # 6. Nothing identifying anywhere the browser received it.
    known = team_identifiers(demo_db)
    identifiers = (
        known["codes"]
        | known["names"]
        | case_dates(demo_db, cases[0])
        | case_dates(demo_db, chosen)
        | case_dates(demo_db, random_ref)
    )
    assert len(received.frames) > 20, "the websocket frames were not captured"
    assert received.documents, "the page's HTML as served was not captured"
    texts = [page.content(), *received.documents, *received.frames]
    assert find_identifiers(texts, identifiers) == set()
    assert_no_problems(page)

    # 7. Positive control: showing the therapist on purpose is seen by the same scan.
    name = reader_for(demo_db).rows(
        "SELECT th.name FROM episodes e JOIN therapists th USING (therapist_id) "
        "WHERE e.episode_id = ?",
        [random_ref.episode_id],
    )[0][0]
    page.locator(".fitdata-show-therapist input[type=checkbox]").check()
    page.wait_for_selector(".fitdata-therapist-text", timeout=30_000)
    assert page.inner_text(".fitdata-therapist-text") == f"Therapist: {name}"
    assert find_identifiers([page.content()], identifiers) == {name}
    assert find_identifiers(received.frames, identifiers) == {name}
    page.screenshot(path=artifacts / "group-exercise-random-therapist.png", full_page=True)
    assert_no_problems(page)


def _age_group(db, ref: ge.CaseRef) -> str:
    return reader_for(db).rows(
        "SELECT age_group FROM clients WHERE client_id = ?", [ref.client_id]
    )[0][0]


def _label_index(label: str) -> int:
    return next(i for i in range(1000) if ge.case_label(i) == label)


def test_cases_from_a_case_review_link(server_en, page, demo_db, artifacts) -> None:
    received = Received()
    received.attach(page)
    cases = listed_cases(demo_db)
    picked = [cases[2], cases[0]]
    token = ge.case_token(picked, key=ge.link_key(demo_db))
    page.goto(f"{server_en.url}{URL}?cases={token}")
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    wait_for_ors(page, own_ors(demo_db, picked[0]).dropna()["ors"].tolist())
    labels = options(page, "case")
    assert [text.split(" · ")[0] for text in labels] == ["Case A", "Case B"]
    assert "Showing 2 cases from the case review" in page.inner_text(".fitdata-message")
    page.locator(".fitdata-case select").select_option(index=1)
    wait_for_ors(page, own_ors(demo_db, picked[1]).dropna()["ors"].tolist())
    page.screenshot(path=artifacts / "group-exercise-link.png", full_page=True)
    known = team_identifiers(demo_db)
    identifiers = known["codes"] | known["names"] | case_dates(demo_db, picked[0])
    identifiers |= case_dates(demo_db, picked[1])
    assert (
        find_identifiers([page.content(), *received.documents, *received.frames], identifiers)
        == set()
    )
    assert_no_problems(page)


def test_norwegian_group_exercise(server_nb, page, artifacts) -> None:
    page.goto(server_nb.url + URL)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    assert heading_label(page) == "Sak A"
    assert options(page, "case")[0].startswith("Sak A · ")
    assert page.inner_text(".fitdata-prompt-title") == "Hva forteller grafen oss?"
    assert page.locator(f"{PLOT} .xtitle").text_content() == "Samtale"
    assert "Pågående saker" in page.inner_text(".fitdata-scope")
    page.screenshot(path=artifacts / "group-exercise-nb.png", full_page=True)
    assert_no_problems(page)


# -- a couple as one case, anonymised (issue 20) ---------------------------------------------

SHOTS = Path("/tmp/shots/G")
RESIZE = """(selector) => {
  const plot = document.querySelector(selector);
  if (window.Plotly && plot) { return window.Plotly.Plots.resize(plot).then(() => true); }
  return false;
}"""


def team_couples(db) -> pd.DataFrame:
    """The team's couple cases as attention_cases lists them (both partners with sessions)."""
    reader = reader_for(db)
    cases = ge.attention_cases(reader, TEAM, model=ge.trajectory_model(reader))
    cases = cases[cases["flag_count"] > 0].reset_index(drop=True)
    return cases[cases["members"].map(len) == 2]


def all_dates(db, episode_id: str) -> set[str]:
    rows = reader_for(db).df(
        "SELECT DISTINCT session_date FROM sessions WHERE episode_id = ?", [episode_id]
    )
    dates = pd.to_datetime(rows["session_date"]).dt
    return set(dates.strftime("%Y-%m-%d")) | set(dates.strftime("%d.%m.%Y"))


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_a_couple_is_one_case_with_partner_a_and_b_and_no_code(
    lang, server_en, server_nb, page, demo_db
) -> None:
    tr = Translator(lang)
    server = server_en if lang == "en" else server_nb
    couples = team_couples(demo_db)
    assert len(couples), "the demo team should have a flagged couple"
    received = Received()
    received.attach(page)
    page.goto(server.url + URL)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    team_name = reader_for(demo_db).rows("SELECT name FROM teams WHERE team_id = ?", [TEAM])[0][0]
    page.locator(".fitdata-team select").select_option(index=options(page, "team").index(team_name))
    page.locator(".fitdata-scope button", has_text=tr.text("group.scope.all")).click()
    kind = tr.text("group.kind.couple")
    page.wait_for_function(
        "(kind) => Array.from(document.querySelectorAll('.fitdata-case select option'))"
        ".some(o => o.textContent.includes('(' + kind + ')'))",
        arg=kind,
        timeout=30_000,
    )
    listed = options(page, "case")
    joint = [i for i, text in enumerate(listed) if f"({kind})" in text]
    # One entry per couple, not one per partner.
    assert len(joint) == len(couples)
    page.locator(".fitdata-case select").select_option(index=joint[0])
    label = listed[joint[0]].split(" · ")[0]  # "Case C (couple)"
    wait_for_title(page, label)
    names = [tr.text("participant.anonymous.partner", letter=letter) for letter in "AB"]
    page.wait_for_function(
        "([sel, name]) => { const p = document.querySelector(sel);"
        " return p && p.data.some(t => t.name === name); }",
        arg=[PLOT, f"{names[1]}: ORS"],
        timeout=30_000,
    )
    drawn = traces(page)
    # The first couple of the page is the first of attention_cases: the demo team's couples are
    # all ended, so "All cases" letters them after the ongoing ones, in the list's order.
    shown_case = couples.iloc[0]
    for name, client in zip(names, shown_case["members"], strict=True):
        ors = own_ors(demo_db, ge.CaseRef(shown_case["episode_id"], client, TEAM)).dropna()
        assert scored(drawn[f"{name}: ORS"])[0] == ors["session_no"].tolist()
        assert scored(drawn[f"{name}: ORS"])[1] == pytest.approx(ors["ors"].tolist())
        assert f"{name}: SRS" in drawn
        assert name in page.inner_text(".fitdata-status")
    assert page.locator(f"{PLOT} .scatterlayer .trace .point").count() >= 4
    assert tr.join(names) in page.inner_text(".fitdata-heading")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1920, 1080), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(RESIZE, PLOT)  # plotly sizes a graph when drawn, not when the window does
        page.wait_for_timeout(500)
        page.screenshot(
            path=SHOTS / f"group-exercise-couple-{lang}-{width}x{height}.png", full_page=True
        )
    # Neither partner's code, no date of the episode, no code of the team in the page or frames.
    known = team_identifiers(demo_db)
    identifiers = known["codes"] | known["names"] | all_dates(demo_db, shown_case["episode_id"])
    assert set(shown_case["members"]) <= identifiers
    assert len(received.frames) > 10, "the websocket frames were not captured"
    texts = [page.content(), *received.documents, *received.frames]
    assert find_identifiers(texts, identifiers) == set()
    assert_no_problems(page)
