"""Dependencies flow one way (DESIGN.md, "Layout"): the import graph is checked, not hoped."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# package -> top-level modules it must never import
FORBIDDEN = {
    "mappers": {"store", "gateway", "listeners", "aiohttp", "asyncio", "sqlalchemy", "pynetdicom"},
    "store": {"gateway", "listeners", "aiohttp", "pynetdicom"},
    "listeners": {"gateway", "aiohttp", "outbound"},
    # Senders live apart from listeners (DESIGN.md): each side only meets the store.
    "outbound": {"gateway", "listeners"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_downstream(package: str) -> None:
    """No module of a package imports a package it must not depend on."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}
