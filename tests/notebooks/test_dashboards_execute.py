"""Every dashboard notebook runs headless against a generated database without an error."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fitdata.kernel_env import CLIENT_NOTEBOOK
from fitdata.server.serve import DASHBOARDS as LANDING

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "dashboards").glob("*.ipynb"))

pytestmark = pytest.mark.slow


def test_every_notebook_is_on_the_landing_page_and_every_entry_exists() -> None:
    """Every page a staff member opens is listed; the client's page is opened only by its link."""
    listed = {path for path, _title, _audience in LANDING}
    assert "client_graph.ipynb" in listed
    assert CLIENT_NOTEBOOK not in listed
    assert {p.name for p in DASHBOARDS} - {CLIENT_NOTEBOOK} == listed


@pytest.mark.parametrize("notebook", DASHBOARDS, ids=lambda p: p.stem)
@pytest.mark.parametrize("lang", ["en", "nb"])
def test_dashboard_executes_and_displays_a_widget(notebook, lang, demo_db, monkeypatch) -> None:
    monkeypatch.setenv("FITDATA_DB", str(demo_db))
    monkeypatch.setenv("FITDATA_LANG", lang)
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], "the dashboard wrote to stderr"
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the notebook displayed no widget"


def test_notebooks_are_thin_and_committed_without_outputs() -> None:
    for path in DASHBOARDS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert not any(c.get("outputs") for c in nb.cells), f"{path.name} has outputs"
        for forbidden in ("SELECT", "duckdb", ".observe(", "def "):
            assert forbidden not in code, f"{path.name} holds {forbidden!r}: move it to fitdata"
