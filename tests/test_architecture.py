"""The shape of the product, checked: imports point one way, modules stay small, nothing probes."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = [*ROOT.glob("app/**/*.py"), *ROOT.glob("tools/**/*.py"), *ROOT.glob("models/**/*.py"), ROOT / "main.py"]
PACKAGES = ("app.cli", "app.gui", "app.ingest", "app.kernel", "app.memory", "app.safety", "tools", "models")
"""The product's packages; app's own modules (paths, settings, logs) are the shared base below them."""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _package(module: str) -> str | None:
    return next((p for p in PACKAGES if module == p or module.startswith(p + ".")), None)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    found |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PRODUCT:
        source = _package(_module(path))
        for name in _imports(path):
            target = _package(name)
            if source and target and target != source:
                edges[source].add(target)
    return edges


def test_no_package_import_cycle():
    edges = _graph()
    seen: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError(f"an import cycle: {' -> '.join([*trail, node])}")
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(edges[node]):
            visit(nxt, [*trail, node])
        seen[node] = 2

    for package in PACKAGES:
        visit(package, [])
    assert "app.kernel" not in edges["app.ingest"] and "app.gui" not in edges["app.kernel"]


def test_the_product_never_imports_the_tests():
    offenders = [str(path.relative_to(ROOT)) for path in PRODUCT
                 if any(name == "tests" or name.startswith("tests.") for name in _imports(path))]
    assert offenders == []


def test_the_kernel_does_not_probe_its_models():
    probing = re.compile(r"(getattr|hasattr)\(")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in ROOT.glob("app/kernel/*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if probing.search(line)]
    assert found == []


def test_few_type_ignores_and_only_at_library_boundaries():
    found = [f"{path.relative_to(ROOT)}:{n}" for path in PRODUCT
             for n, line in enumerate(path.read_text().splitlines(), 1) if "type: ignore" in line]
    assert len(found) < 5, found


def test_no_module_is_over_500_lines():
    long = {str(path.relative_to(ROOT)): n for path in PRODUCT if (n := len(path.read_text().splitlines())) > 500}
    assert long == {}


def test_the_window_reads_no_private_state_of_the_kernel():
    private = re.compile(r"\b(bridge|host)\._[a-z]")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in ROOT.glob("app/gui/*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert found == []
