"""The package's folders are its layers: imports point down, never in a cycle, never private.

Read from the source (AST), every import counts, also one inside a function: a lazy import is
how a cycle hides. The order, lowest first (docs/architecture.md draws it)::

    foundation  fitdata/{config,vocabulary,i18n,kernel_env}.py   rules, words, names
    data        fitdata/data/       the DuckDB file, access scopes, audit, cache
    analytics   fitdata/analytics/  pure functions      ingest  fitdata/ingest/  (beside it)
    features    fitdata/features/   what each dashboard computes
    outputs     fitdata/outputs/    report and exports
    ui          fitdata/ui/         widgets and plotly
    server      fitdata/server/     serve, login, hub
    entry       fitdata/{cli,demo,jobs}.py

A module may import its own package and any lower layer; ``analytics`` and ``ingest`` share a
rank and may not import each other.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS: dict[str, int] = {
    "foundation": 0,
    "data": 1,
    "analytics": 2,
    "ingest": 2,
    "features": 3,
    "outputs": 4,
    "ui": 5,
    "server": 6,
    "entry": 7,
}
FOUNDATION = {
    "fitdata",
    "fitdata.config",
    "fitdata.vocabulary",
    "fitdata.i18n",
    "fitdata.kernel_env",
    "fitdata.formula_guard",
    "fitdata.identifiers",
}
ENTRY = {"fitdata.cli", "fitdata.demo", "fitdata.jobs"}

#: Third-party packages only one layer may import (design.md: one owner each).
OWNED = {"duckdb": {"data"}, "ipywidgets": {"ui"}, "plotly": {"ui"}, "anywidget": {"ui"}}


@dataclass(frozen=True)
class Edge:
    """One import of a fitdata module by another, where it stands."""

    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module in ENTRY:
        return "entry"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    raise AssertionError(
        f"{module} belongs to no layer: put it in a layer's folder, or name it in "
        "tests/unit/test_layers.py (FOUNDATION or ENTRY) and docs/architecture.md"
    )


def read_modules(root: Path, package: str = "fitdata") -> dict[str, ast.Module]:
    return {
        module_name(path, root): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted((root / package).rglob("*.py"))
    }


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(modules: dict[str, ast.Module], root: Path) -> tuple[list[Edge], list[Edge]]:
    """The edges between fitdata modules, and every import of a third-party package."""
    edges, external = [], []
    for module, tree in modules.items():
        is_package = (root / Path(*module.split("."))).is_dir()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edge = Edge(module, alias.name, node.lineno)
                    (edges if alias.name.split(".")[0] == "fitdata" else external).append(edge)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, is_package)
                names = tuple(a.name for a in node.names)
                if target.split(".")[0] != "fitdata":
                    external.append(Edge(module, target, node.lineno, names))
                    continue
                for name in names:  # `from fitdata.data import store` imports a module
                    if f"{target}.{name}" in modules:
                        edges.append(Edge(module, f"{target}.{name}", node.lineno))
                    else:
                        edges.append(Edge(module, target, node.lineno, (name,)))
    return edges, external


def layer_problems(edges: list[Edge]) -> list[str]:
    problems = []
    for edge in edges:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source == target:
            continue
        if LAYERS[target] >= LAYERS[source]:
            problems.append(
                f"{edge.source} ({source}) imports {edge.target} ({target}) at line {edge.line}: "
                "imports point down the layers only"
            )
    return problems


def find_cycle(edges: list[Edge]) -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.source != edge.target and not edge.target.startswith(edge.source + "."):
            graph.setdefault(edge.source, set()).add(edge.target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def private_problems(modules: dict[str, ast.Module], edges: list[Edge]) -> list[str]:
    problems = [
        f"{edge.source} imports the private name {name} of {edge.target} (line {edge.line})"
        for edge in edges
        for name in edge.names
        if name.startswith("_") and not name.startswith("__") and edge.source != edge.target
    ]
    for module, tree in modules.items():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fitdata"):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                problems.append(
                    f"{module} uses the private name {node.attr} of {aliases[node.value.id]} "
                    f"(line {node.lineno})"
                )
    return problems


def ownership_problems(external: list[Edge]) -> list[str]:
    problems = []
    for edge in external:
        top = edge.target.split(".")[0]
        if top in OWNED and layer_of(edge.source) not in OWNED[top]:
            problems.append(
                f"{edge.source} imports {top} (line {edge.line}); only "
                f"{', '.join(sorted(OWNED[top]))} may"
            )
    return problems


@pytest.fixture(scope="module")
def package() -> tuple[dict[str, ast.Module], list[Edge], list[Edge]]:
    modules = read_modules(ROOT)
    edges, external = imports(modules, ROOT)
    return modules, edges, external


def test_every_module_belongs_to_a_layer(package) -> None:
    modules, _, _ = package
    for module in modules:
        layer_of(module)


def test_imports_point_down_the_layers(package) -> None:
    _, edges, _ = package
    assert layer_problems(edges) == []


def test_there_is_no_import_cycle(package) -> None:
    _, edges, _ = package
    assert find_cycle(edges) is None


def test_no_module_uses_a_private_name_of_another(package) -> None:
    modules, edges, _ = package
    assert private_problems(modules, edges) == []


def test_duckdb_widgets_and_plotly_each_have_one_owning_layer(package) -> None:
    _, _, external = package
    assert ownership_problems(external) == []


# --- the checks themselves fail where they should -------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> tuple[dict[str, ast.Module], list[Edge]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = read_modules(tmp_path)
    return modules, imports(modules, tmp_path)[0]


BASE = {
    "fitdata/__init__.py": "",
    "fitdata/config.py": "",
    "fitdata/data/__init__.py": "",
    "fitdata/data/store.py": "from fitdata import config\n",
    "fitdata/analytics/__init__.py": "",
    "fitdata/analytics/change.py": "from fitdata.data.store import Reader\n",
}


def test_a_back_edge_is_refused(tmp_path: Path) -> None:
    files = {
        **BASE,
        "fitdata/data/store.py": "def f():\n    from fitdata.analytics import change\n",
    }
    _, edges = _tree(tmp_path, files)
    problems = layer_problems(edges)
    assert len(problems) == 1
    assert "fitdata.data.store (data) imports fitdata.analytics.change (analytics)" in problems[0]


def test_a_cycle_inside_one_layer_is_found(tmp_path: Path) -> None:
    files = {
        **BASE,
        "fitdata/analytics/flags.py": "from fitdata.analytics import change\n",
        "fitdata/analytics/change.py": "def f():\n    from fitdata.analytics.flags import X\n",
    }
    _, edges = _tree(tmp_path, files)
    assert layer_problems(edges) == []
    cycle = find_cycle(edges)
    assert cycle is not None and set(cycle) == {
        "fitdata.analytics.flags",
        "fitdata.analytics.change",
    }


def test_a_private_name_across_modules_is_found(tmp_path: Path) -> None:
    files = {
        **BASE,
        "fitdata/analytics/change.py": (
            "from fitdata.data.store import _connect\nfrom fitdata.data import store\n"
            "store._writer_lock()\n"
        ),
    }
    modules, edges = _tree(tmp_path, files)
    problems = private_problems(modules, edges)
    assert any("_connect" in p for p in problems) and any("_writer_lock" in p for p in problems)


def test_a_module_outside_every_layer_is_named(tmp_path: Path) -> None:
    _, edges = _tree(tmp_path, {**BASE, "fitdata/stray.py": "from fitdata import config\n"})
    with pytest.raises(AssertionError, match="fitdata.stray belongs to no layer"):
        layer_problems(edges)
