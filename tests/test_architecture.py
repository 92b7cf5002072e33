"""The house plan (docs/architecture.md): imports run downhill and never in a circle.

Read from the source with ``ast`` (imports inside functions count; ``if TYPE_CHECKING:`` blocks do
not, since they never run), so the test needs no import of the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "diff3dhpe"

# Floors, lowest first: a module may import its own floor and the ones below, never one above.
FLOORS = [
    {"errors", "atomic", "utils", "parallel"},
    {"variants", "metrics", "diffusion", "data", "models", "baselines", "keypoints"},
    {"config", "results", "checkpoints", "fastpaths", "distributed"},
    {"assemble", "prepare", "plan", "stats", "report", "render"},
    {"train", "evaluate", "predict"},
    {"cli"},
]


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            submodules = {f"{module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules or {module})  # `from . import kernels` imports the submodule
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else None
    for level, names in enumerate(FLOORS):
        if top in names:
            return level
    return None


def test_every_module_has_a_floor():
    assert [m for m in MODULES if m != "diff3dhpe" and _floor(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "diff3dhpe"))
def test_imports_run_downhill(module):
    uphill = sorted(dep for dep in GRAPH[module] if dep != "diff3dhpe" and _floor(dep) > _floor(module))
    assert uphill == [], f"{module} (floor {_floor(module)}) imports higher floors: {uphill}"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_loops_do_not_borrow_from_each_other():
    assert "diff3dhpe.train" not in GRAPH["diff3dhpe.evaluate"]
    assert "diff3dhpe.evaluate" not in GRAPH["diff3dhpe.train"]
