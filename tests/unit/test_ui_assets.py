"""The dashboards' JavaScript and CSS are files in fitdata/ui/static/, shipped as package data."""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path

from fitdata.ui.assets import asset

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "fitdata" / "ui"
STATIC = UI / "static"

#: What marks browser code: an ES module's render function or export, or a CSS rule on a class.
BROWSER_CODE = re.compile(r"function\s+render\s*\(|export\s+default|^\s*\.[\w-]+[^{\n]*\{", re.M)


def test_every_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["fitdata.ui"]
    files = sorted(p.relative_to(UI).as_posix() for p in STATIC.iterdir() if p.is_file())
    assert files, "fitdata/ui/static/ holds the dashboards' JavaScript and CSS"
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missing == [], f"add these to [tool.setuptools.package-data] fitdata.ui: {missing}"


def test_no_python_string_in_the_ui_holds_javascript_or_css() -> None:
    found = []
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and "\n" in text and BROWSER_CODE.search(text):
                found.append(f"{path.name}:{node.lineno}")
    assert found == [], f"move these strings to fitdata/ui/static/: {found}"


def test_the_check_finds_a_module_and_a_style_sheet() -> None:
    assert BROWSER_CODE.search("\nfunction render({ model, el }) {\n}\n")
    assert BROWSER_CODE.search("\n.fitdata-table { border: 0; }\n")
    assert not BROWSER_CODE.search("\nThe team's caseload, sorted by flags.\n")


def test_an_asset_is_read_as_its_file_says() -> None:
    assert asset("service.css") == (STATIC / "service.css").read_text(encoding="utf-8")
    assert "TREND_HEIGHT" in asset("service.css")  # the service view puts the height in


def test_the_widgets_load_their_browser_side_from_the_files() -> None:
    from fitdata.ui.download import DownloadButton
    from fitdata.ui.team_review_table import CaseTable

    assert CaseTable._esm == (STATIC / "case_table.js").read_text(encoding="utf-8")
    assert CaseTable._css == (STATIC / "case_table.css").read_text(encoding="utf-8")
    assert DownloadButton._esm == (STATIC / "download_button.js").read_text(encoding="utf-8")
    assert "export default { render }" in CaseTable._esm
