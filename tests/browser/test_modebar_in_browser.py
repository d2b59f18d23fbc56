"""No chart offers to send its data off the machine: every dashboard's modebar, as drawn.

plotly.js 3 adds a "Share chart..." button to every modebar unless told not to, which posts the
figure's data (client codes, scores) to Plotly's cloud; older versions had "Edit in Chart
Studio" and an "Edit chart" link. The package sets one config for every figure
(:data:`fitdata.ui.figure_view.PLOTLY_CONFIG`); this test opens each dashboard, hovers each
chart to show its modebar and reads the buttons' titles.
"""

from __future__ import annotations

import re

import pytest

from fitdata.server.serve import DASHBOARDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Words of a control that would send data somewhere or open it elsewhere.
OUTSIDE = re.compile(r"share|cloud|chart studio|edit|link", re.IGNORECASE)
PLOT = ".js-plotly-plot"


@pytest.mark.parametrize("notebook", [name for name, _title, _audience in DASHBOARDS])
def test_no_modebar_control_sends_the_chart_anywhere(server_en, page, artifacts, notebook) -> None:
    page.goto(f"{server_en.url}voila/render/{notebook}", timeout=180_000)
    page.wait_for_selector(f"{PLOT} .main-svg", timeout=120_000)
    plots = page.locator(PLOT)
    assert plots.count() >= 1
    for index in range(plots.count()):
        plot = plots.nth(index)
        plot.scroll_into_view_if_needed()
        plot.hover()
        page.wait_for_selector(f"{PLOT} .modebar-btn", state="attached", timeout=20_000)
        titles = plot.locator(".modebar-btn").evaluate_all(
            "buttons => buttons.map(b => b.getAttribute('data-title') || '')"
        )
        assert titles, f"{notebook}: chart {index + 1} has no modebar to check"
        assert any("png" in t.lower() for t in titles), titles  # the local download stays
        offending = [t for t in titles if OUTSIDE.search(t)]
        assert offending == [], f"{notebook}: chart {index + 1} offers {offending}"
        links = plot.locator(".modebar a, a.js-plot-link-container, .js-plot-link-container a")
        assert links.count() == 0, f"{notebook}: chart {index + 1} has a link out"
    assert page.console_problems == []  # e.g. no warning about a config plotly.js ignores
    stem = notebook.removesuffix(".ipynb")
    page.screenshot(path=artifacts / f"modebar-{stem}.png")
