"""A supervisor opens therapist development, picks a team and a therapist, and reads the page."""

from __future__ import annotations

import json
import math
import time

import pytest

from fitdata.data import queries
from fitdata.data.store import reader_for
from fitdata.features.therapist_development import TherapistScope
from fitdata.i18n import Translator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OUTCOMES = ".fitdata-dev-outcomes .js-plotly-plot"
PROFILE = ".fitdata-dev-profile .js-plotly-plot"
READ_TRACES = """(selector) => {
  const plot = document.querySelector(selector);
  return plot.data.map(t => ({name: t.name, y: Array.from(t.y || []),
                              hover: Array.from(t.customdata || [])}));
}"""


def options(page, name: str) -> list[str]:
    texts = page.locator(f".fitdata-{name} select option").all_inner_texts()
    return [t.replace("\u00a0", " ").strip() for t in texts]


def open_dashboard(page, server) -> None:
    page.goto(server.url)
    link = page.locator(".fitdata-dashboard-link", has_text="development")
    if link.count() == 0:
        link = page.locator(".fitdata-dashboard-link", has_text="Behandlerutvikling")
    link.locator("a").click()
    page.wait_for_selector(f"{OUTCOMES} .scatterlayer .trace .point", timeout=120_000)
    page.wait_for_selector(f"{PROFILE} .barlayer .point", timeout=60_000)


def wait_for_heading(page, text: str) -> None:
    page.wait_for_function(
        "(text) => { const h = document.querySelector('.fitdata-dev-title');"
        " return h && h.textContent.trim() === text; }",
        arg=text,
        timeout=60_000,
    )


def wait_for_trace(page, name: str) -> None:
    """Wait until the outcome chart has a trace for ``name`` (the machine may be busy)."""
    page.wait_for_function(
        "([sel, name]) => { const p = document.querySelector(sel);"
        " return p && p.data && p.data.some(t => t.name === name); }",
        arg=[OUTCOMES, name],
        timeout=120_000,
    )


def assert_clean(page) -> None:
    assert page.locator(".fitdata-error").count() == 0, page.locator(
        ".fitdata-error"
    ).all_inner_texts()
    assert "Traceback" not in page.inner_text("body")
    assert page.console_problems == []


def same(shown: list, expected: list[float]) -> None:
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        if want is None or (isinstance(want, float) and math.isnan(want)):
            assert got is None
        else:
            assert got == pytest.approx(want)


def test_choose_a_therapist_and_read_their_development(server_en, page, demo_db, artifacts):
    tr = Translator("en")
    started = time.monotonic()
    open_dashboard(page, server_en)
    page_to_chart = time.monotonic() - started
    page.screenshot(path=artifacts / "development-first.png", full_page=True)

    reader = reader_for(demo_db)
    teams = queries.team_options(reader)
    page.locator(".fitdata-team select").select_option(index=1)
    therapists = queries.therapist_options(reader, teams.iloc[1].team_id)
    first = therapists.iloc[0]
    page.wait_for_function(
        "(text) => { const o = document.querySelector('.fitdata-therapist select option');"
        " return o && o.textContent.replace(/\\u00a0/g, ' ').trim() === text; }",
        arg=tr.count_text(
            "option.therapist", first.clients, name=first["name"], clients=first.clients
        ),
        timeout=60_000,
    )
    wait_for_trace(page, first["name"])  # the team change drew its first therapist
    chosen_index = int(therapists["clients"].to_numpy().argmax())
    chosen = therapists.iloc[chosen_index]
    changed = time.monotonic()
    page.locator(".fitdata-therapist select").select_option(index=chosen_index)
    wait_for_heading(page, f"Development for {chosen['name']}")
    redraw = time.monotonic() - changed
    wait_for_trace(page, chosen["name"])
    page.screenshot(path=artifacts / "development-chosen.png", full_page=True)

    scope = TherapistScope(reader, chosen.therapist_id)
    outcomes = scope.outcomes("rolling_year")
    periods = scope.periods("rolling_year")
    traces = {t["name"]: t for t in page.evaluate(READ_TRACES, OUTCOMES)}
    for level, name in (
        ("therapist", chosen["name"]),
        ("team", f"Team ({scope.identity.team_name})"),
        ("service", f"Service ({scope.identity.service})"),
    ):
        rows = outcomes[outcomes.level == level].set_index("period").reindex(periods)
        same(traces[name]["y"], rows["effect_size"].tolist())
        for hover, clients in zip(traces[name]["hover"], rows["clients"], strict=True):
            assert (hover is None) == math.isnan(clients)
    assert page.locator(f"{OUTCOMES} .gtitle").text_content() == "Effect size (pre–post) by quarter"

    # The latest-period table shows the same numbers as the database.
    shown = outcomes[(outcomes.level == "therapist") & outcomes.clients.notna()].iloc[-1]
    cell = page.locator('.fitdata-dev-table td[data-level="therapist"][data-measure="effect_size"]')
    assert cell.inner_text().startswith(
        f"{shown.effect_size:.2f} ({shown.effect_size_ci_low:.2f} to"
    )
    body = page.inner_text("body")
    assert f"Development for {chosen['name']}" in body
    assert "95% confidence interval (Becker 1988)" in body
    content = " ".join(
        page.inner_text(selector)
        for selector in (
            ".fitdata-dev-heading",
            ".fitdata-dev-hidden",
            ".fitdata-dev-latest",
            ".fitdata-dev-profile-text",
            ".fitdata-dev-outcomes",
            ".fitdata-dev-profile",
        )
    )
    for other in therapists["name"]:
        if other != chosen["name"]:
            assert other not in content, f"{other} is named on the page"

    # A person switches to % reliably improved: the axis and the explanation follow.
    page.locator(".fitdata-measure select").select_option(label="% reliably improved")
    page.wait_for_function(
        "(sel) => document.querySelector(sel + ' .gtitle').textContent"
        " === '% reliably improved by quarter'",
        arg=OUTCOMES,
        timeout=120_000,
    )
    traces = {t["name"]: t for t in page.evaluate(READ_TRACES, OUTCOMES)}
    rows = outcomes[outcomes.level == "therapist"].set_index("period").reindex(periods)
    same(traces[chosen["name"]]["y"], rows["pct_reliable_improvement"].tolist())
    assert "at least 5 points above the first" in page.inner_text(".fitdata-dev-explain")
    srs = scope.srs_profile().set_index("level")
    bars = page.evaluate(READ_TRACES, PROFILE)
    mine = [b for b in bars if b["name"] == chosen["name"]][0]
    assert mine["y"][0] == pytest.approx(srs.loc["therapist", "pct_sessions_below"])
    page.screenshot(path=artifacts / "development-measure.png", full_page=True)
    # The page scrolls inside Voila's container: a tall window shows the lower parts too.
    page.set_viewport_size({"width": 1280, "height": 3400})
    page.screenshot(path=artifacts / "development-whole.png", full_page=True)
    page.locator(".fitdata-dev-latest").screenshot(path=artifacts / "development-table.png")
    page.locator(".fitdata-dev-profile").screenshot(path=artifacts / "development-profile.png")
    assert_clean(page)
    (artifacts / "timings-development-en.json").write_text(
        json.dumps(
            {
                "page_open_to_chart_s": round(page_to_chart, 2),
                "therapist_change_s": round(redraw, 2),
            }
        )
    )


def test_norwegian_development_page(server_nb, page, artifacts) -> None:
    open_dashboard(page, server_nb)
    assert page.inner_text(".fitdata-dev-title").startswith("Utvikling for")
    assert "Reglene bak denne siden" in page.inner_text(".fitdata-dev-rules")
    table = page.inner_text(".fitdata-dev-table")
    assert "Effektstørrelse (før–etter)" in table
    effect = page.inner_text(
        '.fitdata-dev-table td[data-level="service"][data-measure="effect_size"]'
    )
    assert "," in effect and "." not in effect, effect
    ticks = page.locator(f"{OUTCOMES} .xtick text").all_text_contents()
    assert any("kv." in t for t in ticks), ticks
    page.set_viewport_size({"width": 1280, "height": 3400})
    page.screenshot(path=artifacts / "development-nb.png", full_page=True)
    page.locator(".fitdata-dev-latest").screenshot(path=artifacts / "development-nb-table.png")
    page.locator(".fitdata-dev-profile").screenshot(path=artifacts / "development-nb-profile.png")
    assert_clean(page)


def test_my_discussed_cases_in_bokmal(server_nb, page, demo_db) -> None:
    """'Mine drøftede saker – hjalp det?' waits for its button, then shows the therapist's row
    and the service's exactly as computed (issue 22)."""
    import datetime as dt
    from pathlib import Path

    from fitdata.features.service import kernel_cache
    from fitdata.features.therapist_development.follow_up import therapist_follow_up

    shots = Path("/tmp/shots/B22")
    shots.mkdir(parents=True, exist_ok=True)
    tr = Translator("nb")
    open_dashboard(page, server_nb)
    section = page.locator(".fitdata-follow-up-section")
    assert tr.text("follow_up.my.heading") in section.inner_text()
    assert page.locator("table[data-table='follow_up_mine']").count() == 0
    page.locator(".fitdata-follow-up-show").click()
    page.wait_for_selector("table[data-table='follow_up_mine']", timeout=180_000)
    title = page.inner_text(".fitdata-dev-title")
    reader = reader_for(demo_db)
    chosen = [
        t
        for t, name in reader.rows("SELECT therapist_id, name FROM therapists")
        if title.endswith(name)
    ]
    table = therapist_follow_up(
        TherapistScope(reader, chosen[0]), reader, as_of=dt.date.today(), cache=kernel_cache()
    )
    rows = page.locator("table[data-table='follow_up_mine'] tbody tr")
    assert rows.count() == 2
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(2)]
    assert cells[0][0] == tr.text("follow_up.my.me")
    assert cells[1][0] == tr.text("follow_up.my.service")
    service_cases = table.set_index("level").loc["service", "cases"]
    assert cells[1][1].replace("\u00a0", "").strip() == f"{int(service_cases)}"
    text = section.inner_text()
    assert tr.text("follow_up.note.not_causal") in text
    page.set_viewport_size({"width": 1400, "height": 1600})
    section.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    section.screenshot(path=shots / "development-follow-up-nb.png")
    assert_clean(page)
