"""The project's import graph: no cycle, and the package dependency rules of docs/architecture.md.

Every ``import`` and ``from ... import`` in the project's source counts, wherever it stands: at
module level, inside a function, or under ``if TYPE_CHECKING``. An import hidden in a function is
still a dependency, so a cycle held apart that way is still a cycle. ``from package import name``
counts as an import of the submodule ``package.name`` where that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core import registry

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "features", "baselines", "cnn", "reports", "pipeline", "tagging")
# Which packages each package may import (besides itself); docs/architecture.md, "Packages and the
# dependency rule". compare.py may import any.
ALLOWED = {
    "core": set(),
    "features": {"core"},
    "baselines": {"core", "features"},
    "cnn": {"core", "features"},
    "reports": {"core"},
    "pipeline": {"core", "features", "baselines", "cnn", "reports"},
    "tagging": {"core", "features", "baselines", "cnn", "reports", "pipeline"},
}


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the project's packages and compare."""
    modules = {"compare": root / "compare.py"}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (every import statement, wherever it stands)."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                subs = [f"{base}.{alias.name}" for alias in node.names]
                if all(sub in modules for sub in subs):
                    found.update(subs)
                else:
                    found.add(known(base))
                    found.update(sub for sub in subs if sub in modules)
        graph[name] = {m for m in found if m is not None and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph(project_modules())) == []


def test_packages_import_only_what_the_dependency_rule_allows():
    graph = import_graph(project_modules())
    broken = sorted(
        (a, b) for a, targets in graph.items() for b in targets
        if a != "compare" and (pa := a.split(".")[0]) != (pb := b.split(".")[0])
        and pb not in ALLOWED[pa]
    )
    assert broken == []


def test_the_checks_find_a_cycle_hidden_in_a_function_and_a_forbidden_import(tmp_path):
    """The checker itself: a cycle closed by a function-level import, and reports -> pipeline."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "compare.py").write_text("")
    (tmp_path / "pipeline" / "a.py").write_text("from pipeline import b\n")
    (tmp_path / "pipeline" / "b.py").write_text("def f():\n    from pipeline.a import x\n")
    (tmp_path / "reports" / "r.py").write_text("from typing import TYPE_CHECKING\n"
                                               "if TYPE_CHECKING:\n    import pipeline.a\n")
    graph = import_graph(project_modules(tmp_path))
    assert cycles(graph) == [["pipeline.a", "pipeline.b"]]
    assert graph["reports.r"] == {"pipeline.a"}


@pytest.mark.parametrize("spec", registry.MODELS, ids=lambda spec: spec.id)
def test_every_registered_model_names_code_that_exists(spec):
    loader = registry.resolve(spec.loader)
    assert callable(getattr(loader, "load", None))
    assert spec.kind in ("classical", "network")
    if spec.kind == "network":
        assert callable(registry.resolve(spec.stage))
    else:
        assert spec.stage is None and spec.saved_as == "{model}.joblib"


def test_every_part_of_the_toolkit_reads_the_models_from_the_registry():
    from baselines import defaults
    from pipeline import facts, settings
    from reports import run_models

    assert settings.MODEL_NAMES == tuple(spec.id for spec in registry.MODELS)
    assert settings.DEFAULT_MODELS == tuple(s.id for s in registry.MODELS if s.default)
    assert set(settings.CLASSICAL_MODELS) | set(settings.NETWORK_MODELS) == set(settings.MODEL_NAMES)
    assert defaults.KINDS == settings.CLASSICAL_MODELS == run_models.CLASSICAL
    assert facts.MODEL_DESCRIPTIONS == {s.id: s.description for s in registry.MODELS}
    assert run_models.CLASSIFIER_LABELS == facts.CLASSIFIER_LABELS
    assert settings.EMBEDDING_NAMES == registry.embedding_names()
