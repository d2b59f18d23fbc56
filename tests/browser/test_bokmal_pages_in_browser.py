"""Every page in bokmål, as drawn: no English word in its text or its widgets' visible state.

The list of English words is built from the catalogue (``fitdata/locales/en*.json``): the words
of every English message that are not also words of some bokmål message (so "team", "status",
"ORS", names of measures and the titles of cited papers, which both catalogues quote, are not in
it), at least four letters long, never an acronym or a placeholder, nor plotly's own toolbar
texts. Names and codes from the database are not words of the catalogue, so a therapist called
"Grace" cannot raise a false alarm unless "grace" is an English word of ours, and they are
removed too. The page text read is every text node of the page (hidden tabs and folded
"details" included), each control's label, value, placeholder, tooltip, every dropdown's
options, the charts' SVG text and the modebar's tooltips.

Six staff dashboards and the client's own page (opened by a link) are read; screenshots go to
``test-artifacts/browser/bokmal/``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from functools import cache

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from fitdata.config import AGE_GROUPS
from fitdata.data import client_links
from fitdata.data.store import reader_for
from fitdata.features.service import FORMATS as EPISODE_FORMATS
from fitdata.i18n import Translator, catalogue
from fitdata.server.serve import DASHBOARDS
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)?")
#: Codes a dropdown must not show as its labels (their values stay codes).
CODES = frozenset({"all", *AGE_GROUPS, *EPISODE_FORMATS})
_PERIOD_CODE = re.compile(r"^\d{4}(Q[1-4]|-\d{2})$")
_DECIMAL_POINT = re.compile(r"\d\.\d")
_PLACEHOLDER = re.compile(r"\{[^}]*\}|<[^>]+>|\[\[[^\]]*\]\]")


def _words(texts) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found |= {w.lower() for w in _WORD.findall(_PLACEHOLDER.sub(" ", text))}
    return found


def _acronyms(texts) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found |= {w.lower() for w in _WORD.findall(text) if w.isupper()}
    return found


#: Norwegian words spelled like English ones of ours that no bokmål message happens to use.
NORWEGIAN_TOO = frozenset(
    {
        "fast",
        "side",
        "same",
        "sent",
        "time",
        "rest",
        "sort",
        "land",
        "mine",
        "note",
        "bare",
        "like",
        "form",
        "hold",
        "link",
        "mail",
        "tips",
        "kort",
        "pause",
        "stress",
        "plan",
        "fire",
        "over",
        "under",
        "alle",
        "hvem",
    }
)


@cache
def english_words() -> frozenset[str]:
    """English words of the catalogue that a bokmål page should not show."""
    english = [t for k, t in catalogue("en").items() if not k.startswith("plotly.")]
    bokmal = catalogue("nb").values()
    words = _words(english) - _words(bokmal) - _acronyms(english) - NORWEGIAN_TOO
    return frozenset(w for w in words if len(w) >= 4)


#: Everything a person can read on the page, as a list of texts.
PAGE_TEXT_JS = """() => {
  const texts = [];
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && skip.has(node.parentElement.tagName)) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll("[placeholder],[title],[aria-label],[data-title]")) {
    for (const a of ["placeholder", "title", "aria-label", "data-title"]) {
      const v = el.getAttribute(a);
      if (v && v.trim()) texts.push(v.trim());
    }
  }
  for (const el of document.querySelectorAll("input, textarea")) {
    if (el.type !== "hidden" && el.value) texts.push(el.value);
  }
  texts.push(document.title);
  return texts;
}"""


def english_in(texts: list[str], allowed: set[str]) -> dict[str, str]:
    """English words found in ``texts``, each with the text it was found in."""
    english = english_words() - allowed
    found: dict[str, str] = {}
    for text in texts:
        for word in _WORD.findall(_PLACEHOLDER.sub(" ", text)):
            if word.lower() in english and not word.isupper():
                found.setdefault(word.lower(), text[:160])
    return found


def test_the_english_list_has_english_words_and_no_bokmal_ones() -> None:
    words = english_words()
    assert {"reliable", "client's", "children", "dashboard", "download", "episodes"} <= words
    bokmal = _words(catalogue("nb").values())
    assert not words & bokmal
    assert not {"ors", "srs", "fit", "kor", "team", "status"} & words
    # the bokmål catalogue itself, read as a page, raises no alarm
    assert english_in(list(catalogue("nb").values()), set()) == {}


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory, artifacts):
    """The demo database, served in bokmål, with a client link to open; and its names."""
    root = tmp_path_factory.mktemp("bokmal")
    db = root / "demo.duckdb"
    shutil.copyfile(demo_db, db)
    reader = reader_for(db)
    names: set[str] = set()
    for sql in (
        "SELECT name FROM therapists",
        "SELECT name FROM teams",
        "SELECT team_id FROM teams",
        "SELECT therapist_id FROM therapists",
        "SELECT client_id FROM clients",
    ):
        names |= _words(str(value) for (value,) in reader.rows(sql))
    (episode, last) = reader.rows(
        "SELECT e.episode_id, max(s.session_date) FROM episodes e "
        "JOIN clients c USING (client_id) JOIN sessions s ON s.episode_id = e.episode_id "
        "AND s.client_id = e.client_id AND s.rater = 'client' "
        "WHERE e.ended IS NULL AND e.format = 'individual' AND c.age_group = 'adult' "
        "GROUP BY e.episode_id HAVING count(*) >= 3 ORDER BY e.episode_id LIMIT 1"
    )[0]
    reader.close()
    token, _grant = client_links.issue_client_link(
        db,
        episode_id=str(episode),
        session_date=last + dt.timedelta(days=7),
        actor="test",
        mode="phone",
    )
    server = Server(db, "nb", artifacts / "serve-bokmal.log", "--pool-size", "0")
    client = f"{server.url}{client_links.client_link_path(token).lstrip('/')}?lang=nb"
    yield server, client, names
    server.stop()


def _read(page) -> list[str]:
    """The page's texts after its widgets and charts have been drawn."""
    page.wait_for_timeout(1500)  # late outputs (status sentences, tables) settle
    plots = page.locator(".js-plotly-plot")
    for index in range(plots.count()):
        plots.nth(index).scroll_into_view_if_needed()
        plots.nth(index).hover()  # its modebar (and tooltips) exist once hovered
    return page.evaluate(PAGE_TEXT_JS)


@pytest.mark.parametrize("notebook", [name for name, _title, _audience in DASHBOARDS])
def test_a_dashboard_in_bokmal_shows_no_english_word(site, page, artifacts, notebook) -> None:
    server, _client, names = site
    page.goto(f"{server.url}voila/render/{notebook}", timeout=240_000)
    page.wait_for_selector(".widget-box, .jupyter-widgets", timeout=240_000)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
    texts = _read(page)
    folder = artifacts / "bokmal"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=folder / f"{notebook.removesuffix('.ipynb')}.png", full_page=True)
    found = english_in(texts, names)
    assert found == {}, f"{notebook}: English on a bokmål page: {found}"
    # every dropdown names its choices: no code ("all", "child", "individual", "2025Q3")
    options = [o.strip() for o in page.locator("select option").all_text_contents()]
    assert options, f"{notebook}: no dropdown read"
    codes = [o for o in options if o in CODES or _PERIOD_CODE.match(o)]
    assert codes == [], f"{notebook}: dropdowns show codes {codes}"
    # plotly's toolbar speaks bokmål (its locale, sent with each figure) ...
    assert "Last ned grafen som PNG" in texts, f"{notebook}: the chart toolbar is not in bokmål"
    # ... and every slider reads its number with a decimal comma ("4,2", never "4.2")
    # (read as text, so sliders in a tab not open yet count too; a slider without readout not)
    readouts = page.locator(".widget-readout").evaluate_all(
        "els => els.filter(e => e.style.display !== 'none').map(e => e.textContent)"
    )
    assert [r for r in readouts if _DECIMAL_POINT.search(r)] == [], f"{notebook}: {readouts}"


def test_the_client_page_in_bokmal_shows_no_english_word(site, page, artifacts) -> None:
    _server, client, names = site
    page.goto(client, timeout=240_000)
    page.wait_for_selector(".widget-box, .jupyter-widgets", timeout=240_000)
    texts = _read(page)
    folder = artifacts / "bokmal"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=folder / "client_page.png", full_page=True)
    found = english_in(texts, names)
    assert found == {}, f"client page: English on a bokmål page: {found}"


def test_the_group_exercises_predictions_and_the_chart_toolbar_in_bokmal(site, page, artifacts):
    """A prediction reads "20,5", takes "22,5" typed, and the toolbar's tooltip is in bokmål."""
    server, _client, _names = site
    tr = Translator("nb")
    folder = artifacts / "bokmal"
    folder.mkdir(exist_ok=True)
    page.goto(f"{server.url}voila/render/group_exercise.ipynb", timeout=240_000)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=240_000)
    # the toolbar: hover the chart, then its download button, whose tooltip plotly draws
    page.locator(".js-plotly-plot").first.hover()
    button = page.locator(".js-plotly-plot .modebar-btn[data-title]").first
    button.hover()
    assert button.get_attribute("data-title") == "Last ned grafen som PNG"
    page.screenshot(path=folder / "group_exercise_toolbar.png")
    # the predictions
    page.get_by_role("tab", name=tr.text("group.tab.predict")).click()
    page.get_by_text(tr.text("group.mode.predict"), exact=True).click()
    box = page.locator(".fitdata-predict-1-value input")
    box.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "() => /^\\d+,\\d$/.test(document.querySelector('.fitdata-predict-1-value input').value)",
        timeout=60_000,
    )
    # The box already reads a number before the kernel has handled the mode change, whose reset
    # of the sliders may then overwrite what was typed (on a busy machine, after the typing): a
    # person would see the box jump back and type again, and so does the test, a few times.
    moved = (
        "() => { const h = document.querySelector('.fitdata-predict-1 .noUi-handle');"
        " return h && parseFloat(h.getAttribute('aria-valuenow')) === 22.5; }"
    )
    for attempt in range(4):
        box.fill("22,5")
        box.press("Enter")
        try:  # the kernel moved the slider to the typed value
            page.wait_for_function(moved, timeout=30_000)
            break
        except PlaywrightTimeout:
            if attempt == 3:
                raise
    # and the box says it back with a comma
    assert box.input_value() == "22,5"
    box.scroll_into_view_if_needed()
    page.screenshot(path=folder / "group_exercise_predictions.png")
