"""The group exercise on a projector (issue 23), in a real browser, in both languages.

At 1280x720 and 1920x1080 every visible button, tab, label and dropdown of the page must show
its whole text: the test fails when an element's text overflows its box (``scrollWidth >
clientWidth + 1``, or an ellipsis is active; for a dropdown, its chosen option's drawn width
against the room inside the box). Text is at least 20 px and controls at least 44 px high.
Opened from a review link, the team dropdown names the link's team.
"""

from __future__ import annotations

import pytest

from fitdata.data.store import reader_for
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URL = "voila/render/group_exercise.ipynb"
PLOT = ".fitdata-graph .js-plotly-plot"
SIZES = [(1280, 720), (1920, 1080)]

#: Every visible control and label of the page, with what is cut off in it.
CUT_OFF = """() => {
  const root = document.querySelector('.fitdata-group-exercise');
  const selector = 'button, .lm-TabBar-tab, .lm-TabBar-tabLabel, .widget-label, label, select';
  const canvas = document.createElement('canvas').getContext('2d');
  const out = [];
  for (const el of root.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (!el.offsetParent || box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    const text = (el.tagName === 'SELECT'
      ? (el.options[el.selectedIndex] || {}).textContent || ''
      : el.textContent || '').trim();
    if (!text) continue;
    let cut = el.scrollWidth > el.clientWidth + 1;
    if (el.tagName === 'SELECT') {
      canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      cut = canvas.measureText(text).width > room + 1;
    } else if (style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth) {
      cut = true;
    }
    const control = el.matches('button, select, .lm-TabBar-tab');
    out.push({tag: el.tagName, cls: el.className, text: text.slice(0, 80), cut,
              font: parseFloat(style.fontSize), height: box.height, control,
              right: box.right, page: document.documentElement.clientWidth});
  }
  return out;
}"""


def _server(request, lang: str):
    return request.getfixturevalue(f"server_{lang}")


def _open(browser, url: str, size: tuple[int, int]):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url)
    page.wait_for_selector(f"{PLOT} .scatterlayer .trace .point", timeout=90_000)
    page.wait_for_selector(".fitdata-tabs .lm-TabBar-tab", timeout=30_000)
    return context, page, problems


def _shoot(page, name: str, *at: str) -> None:
    """Screenshots as the projector shows them: the viewport, scrolled to each part in turn."""
    for number, selector in enumerate(at, start=1):
        page.locator(selector).first.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        page.screenshot(path=f"/tmp/shots/23f/group-exercise-{name}-{number}.png")


def _problems(page) -> list[str]:
    found = []
    for el in page.evaluate(CUT_OFF):
        where = f"{el['tag']}.{el['cls']} {el['text']!r}"
        if el["cut"]:
            found.append(f"cut off: {where}")
        if el["font"] < 20:
            found.append(f"text {el['font']}px < 20px: {where}")
        if el["control"] and el["height"] < 44:
            found.append(f"control {el['height']:.0f}px < 44px high: {where}")
        if el["right"] > el["page"] + 1:
            found.append(f"beyond the page's right edge: {where}")
    return found


@pytest.mark.parametrize("lang", ["en", "nb"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_nothing_is_cut_off_and_everything_is_large_on_a_projector(
    request, browser, lang, size
) -> None:
    tr = Translator(lang)
    server = _server(request, lang)
    context, page, errors = _open(browser, server.url + URL, size)
    try:
        assert _problems(page) == []
        _shoot(page, f"{lang}-{size[0]}x{size[1]}-whole", ".fitdata-team", ".fitdata-tabs")
        predict_tab = tr.text("group.tab.predict")
        tab = page.locator(".fitdata-tabs .lm-TabBar-tab", has_text=predict_tab)
        assert tab.inner_text().strip() == predict_tab
        tab.click()
        page.locator(".fitdata-mode button", has_text=tr.text("group.mode.predict")).click()
        reveal = page.locator("button.fitdata-reveal")
        reveal.wait_for(state="visible", timeout=30_000)
        assert reveal.inner_text().strip() == tr.text("group.reveal")
        # Predicting: the case list shows only the cases' names.
        page.wait_for_function(
            "() => { const s = document.querySelector('.fitdata-case select');"
            " return s && !s.options[s.selectedIndex].textContent.includes('·'); }",
            timeout=30_000,
        )
        assert _problems(page) == []
        _shoot(
            page, f"{lang}-{size[0]}x{size[1]}-predict", ".fitdata-team", "button.fitdata-reveal"
        )
        reveal.click()
        page.wait_for_selector(".fitdata-result-box", timeout=30_000)
        page.wait_for_timeout(500)
        assert _problems(page) == []
        _shoot(page, f"{lang}-{size[0]}x{size[1]}-revealed", ".fitdata-tabs", ".fitdata-result")
        assert errors == []
    finally:
        context.close()


def test_the_overflow_check_sees_a_cut_off_label(server_en, browser) -> None:
    """Positive control: a button narrowed by hand is reported as cut off."""
    context, page, _ = _open(browser, server_en.url + URL, (1280, 720))
    try:
        page.evaluate(
            "() => { const b = document.querySelector('button.fitdata-random');"
            " b.style.setProperty('width', '60px', 'important');"
            " b.style.setProperty('text-overflow', 'ellipsis', 'important');"
            " b.style.setProperty('overflow', 'hidden', 'important'); }"
        )
        assert any("cut off: BUTTON" in p and "fitdata-random" in p for p in _problems(page))
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_opened_from_a_link_the_team_dropdown_names_the_links_team(
    request, browser, demo_db, lang
) -> None:
    reader = reader_for(demo_db)
    team = "T03"
    cases = ge.attention_cases(reader, team, model=ge.trajectory_model(reader))
    refs = [ge.CaseRef(r.episode_id, r.client_id, r.team_id) for r in cases.iloc[[1]].itertuples()]
    token = ge.case_token(refs, key=ge.link_key(demo_db))
    name = reader.rows("SELECT name FROM teams WHERE team_id = ?", [team])[0][0]
    first = reader.rows("SELECT name FROM teams ORDER BY name LIMIT 1")[0][0]
    context, page, errors = _open(
        browser, f"{_server(request, lang).url}{URL}?cases={token}", (1920, 1080)
    )
    try:
        chosen = page.evaluate(
            "() => { const s = document.querySelector('.fitdata-team select');"
            " return s.options[s.selectedIndex].textContent; }"
        )
        assert chosen.replace("\u00a0", " ").strip() == name != first
        page.screenshot(path=f"/tmp/shots/23f/group-exercise-link-{lang}.png")
        assert errors == []
    finally:
        context.close()
