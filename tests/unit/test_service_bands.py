"""Like with like: a reference band is drawn only beside a figure that measures its quantity.

Issue 18: "% reaching target" (reliable improvement or a non-clinical end) was drawn against the
vendors' 64-74 %, which counts cases ending in the successful zone of their own expected
trajectory, and a pre-post band must never stand beside the severity-adjusted effect size. These
tests read the bands, the page's charts, the report's charts, its key figures and its notes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fitdata.analytics.indices import INDEX_COLUMNS
from fitdata.data.store import reader_for
from fitdata.features.service import ServiceFilters, parse_period, service_summary
from fitdata.features.service.bands import NO_BAND, REFERENCE_BANDS, band_for
from fitdata.i18n import Translator
from fitdata.outputs.report.charts import figures
from fitdata.outputs.report.layout import headline_table, method_notes
from fitdata.ui.service_charts import service_figures
from tests.unit.test_service import build_service_db


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory):
    path: Path = build_service_db(tmp_path_factory.mktemp("bands") / "service.duckdb")
    return service_summary(reader_for(path), ServiceFilters(period=parse_period("2025Q3")))


def test_every_band_names_the_quantity_it_measures_and_two_figures_have_none() -> None:
    for band in REFERENCE_BANDS:
        assert band.metric in INDEX_COLUMNS
        assert band.metric not in NO_BAND
        assert band.low <= band.high and band.source and band.measures
    assert band_for("pct_target") is None
    assert band_for("severity_adjusted_es") is None
    assert set(NO_BAND) == {"pct_target", "severity_adjusted_es"}
    # the pre-post band measures the pre-post effect size, and nothing else
    assert band_for("effect_size").measures.startswith("pre-post effect size")


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_page_draws_no_band_beside_the_improved_or_non_clinical_share(summary, lang) -> None:
    tr = Translator(lang)
    charts = service_figures(summary, tr)
    legend = tr.text("service.band.legend", source="")

    def band_notes(key: str) -> list[str]:
        notes = charts[key].layout.get("annotations") or []
        return [a["text"] for a in notes if str(a.get("text", "")).startswith(legend)]

    def band_shapes(key: str) -> list[dict]:
        return [s for s in charts[key].layout.get("shapes") or [] if s.get("type") == "rect"]

    assert band_shapes("team_target") == [] and band_notes("team_target") == []
    title = charts["team_target"].layout["title"]
    title = title["text"] if isinstance(title, dict) else title
    assert "reaching target" not in title and "nådde målet" not in title
    (effect,) = band_shapes("effect_size")
    assert (effect["y0"], effect["y1"]) == (0.8, 1.0)
    assert len(band_notes("effect_size")) == 1


def test_the_report_draws_no_band_beside_the_improved_or_non_clinical_share(summary) -> None:
    tr = Translator("en")
    drawn = dict(figures(summary, tr))  # by title
    legend = tr.text("service.band.legend", source="")

    def band_labels(key: str) -> list[str]:
        labels = [patch.get_label() for ax in drawn[key].axes for patch in ax.patches]
        return [label for label in labels if label.startswith(legend)]

    assert band_labels(tr.text("service.chart.team_target")) == []
    assert len(band_labels(tr.text("service.chart.effect_size"))) == 1


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_key_figures_and_notes_say_what_the_share_counts(summary, lang) -> None:
    tr = Translator(lang)
    table = headline_table(summary, tr)
    rows = {row[0]: row for row in table.rows}
    share = rows[tr.text("service.col.pct_target")]
    adjusted = rows[tr.text("service.col.adjusted_es")]
    assert share[-1] == "" and adjusted[-1] == ""  # no reference band in the key figures
    notes = " ".join(method_notes(summary, tr))
    assert "64–74" in notes  # the vendors' figure is named as another quantity, not a band
    assert "Seidel" in notes
    for band in REFERENCE_BANDS:
        assert tr.text(f"service.metric.{band.metric}") in notes
