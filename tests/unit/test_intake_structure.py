"""intake's features have one public face each (STYLE rule 28): another feature reaches one only
through its `service.py` (its `schemas.py` for shapes, its `deps.py` for an endpoint's
dependency), and no two features import each other, directly or around a loop."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "ticketloop_intake"
ROOT = Path(__file__).resolve().parents[2] / "services" / "intake" / PACKAGE
FACES = {"service", "schemas", "deps"}


def _features() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "migrations")


def _imports() -> dict[tuple[str, str], set[str]]:
    """(importing feature, imported feature) → the modules of the imported one that are used."""
    features = set(_features())
    found: dict[tuple[str, str], set[str]] = {}
    for source in ROOT.rglob("*.py"):
        feature = source.relative_to(ROOT).parts[0]
        if feature not in features:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            parts = node.module.split(".")
            if parts[0] != PACKAGE or len(parts) < 2 or parts[1] not in features or parts[1] == feature:
                continue
            modules = {parts[2]} if len(parts) > 2 else {alias.name for alias in node.names}
            found.setdefault((feature, parts[1]), set()).update(modules)
    return found


def test_a_feature_reaches_another_only_through_its_face() -> None:
    reaching = {f"{a} -> {b}.{sorted(m - FACES)}" for (a, b), m in _imports().items() if m - FACES}
    assert not reaching


def test_the_features_import_each_other_without_a_cycle() -> None:
    graph = {feature: {b for (a, b) in _imports() if a == feature} for feature in _features()}
    done: set[str] = set()

    def visit(feature: str, path: tuple[str, ...]) -> None:
        assert feature not in path, f"import cycle: {' -> '.join((*path, feature))}"
        if feature in done:
            return
        for imported in graph[feature]:
            visit(imported, (*path, feature))
        done.add(feature)

    for feature in graph:
        visit(feature, ())
