"""docs/architecture.md stays a true map: every module is on it, every path it names exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_module_of_the_package_is_on_the_map() -> None:
    text = _text()
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "fitdata").rglob("*.py"))
        if not (path.name == "__init__.py" and path.parent != ROOT / "fitdata")
        and f"`{path.relative_to(ROOT)}`" not in text
    ]
    assert missing == [], "add these to docs/architecture.md"


def test_every_path_the_map_names_exists() -> None:
    named = set(re.findall(r"`((?:fitdata|tests|dashboards|docs)/[^`*<> ]+)`", _text()))
    assert named, "the map names no paths"
    missing = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert missing == []
