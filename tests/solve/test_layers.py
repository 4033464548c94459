"""The solvers sit below the planner: no module of ``stagger/solve`` imports a later stage
(planner, what-if, validator, exporters, CLI) or a source, and every solver takes the shared
types from ``solve/solution.py`` rather than from another solver's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import stagger.solve

SOLVE = Path(stagger.solve.__file__).parent
HIGHER = (
    "stagger.planner",
    "stagger.whatif",
    "stagger.validate",
    "stagger.headroom",
    "stagger.exporters",
    "stagger.cli",
    "stagger.sources",
)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``, function-level imports included."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def test_no_solver_imports_a_higher_layer() -> None:
    bad = [
        f"{path.name} imports {module}"
        for path in sorted(SOLVE.glob("*.py"))
        for module, _ in _imports(path)
        if module.startswith(HIGHER)
    ]
    assert bad == []


def test_no_solver_imports_another_modules_private_names() -> None:
    bad = [
        f"{path.name} imports {module}.{name}"
        for path in sorted(SOLVE.glob("*.py"))
        for module, names in _imports(path)
        if module.startswith("stagger.")
        for name in names
        if name.startswith("_")
    ]
    assert bad == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from stagger.planner import night_spans\n")
    assert [m for m, _ in _imports(bad) if m.startswith(HIGHER)] == ["stagger.planner"]
