"""The architecture as a test: each package imports only the layers below it, and no modules
import each other in a cycle (``docs/architecture.md`` draws the layers).

Every import counts, at module level or inside a function; only those under
``if TYPE_CHECKING:`` (annotations, never run) may point anywhere. The walk reads the source
with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[frozenset[str]] = [
    frozenset({"errors", "util"}),
    frozenset({"model"}),
    frozenset({"store"}),
    frozenset({"repo", "catalog"}),
    frozenset({"checkpoints"}),
    frozenset({"runs", "remote", "interop"}),
    frozenset({"cli", "api"}),
]
"""Bottom to top. A package may import its own layer's siblings only where ``SIBLINGS`` allows."""
SIBLINGS = {("util", "errors"), ("repo", "catalog")}
"""Imports allowed within a layer: a file primitive raises the package's own errors; the
repository keeps its catalog current (never the reverse: the catalog is an index fed by
commits, and knows nothing of how they are made)."""
TOP = {"__init__", "__main__", "adapters"}
"""The public façades (``modelsync`` for users, ``modelsync.adapters`` for framework adapters)
and the entry point, which may import anything."""
INTEGRATIONS_MAY_IMPORT = {"", "adapters", "errors"}
"""An adapter uses only the public API: ``modelsync``, its adapter toolkit and its exceptions."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == "integrations":
        parts = ["modelsync", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(root: Path) -> Iterator[Import]:
    for path in sorted([*root.glob("modelsync/**/*.py"), *root.glob("integrations/**/*.py")]):
        module = _module_name(root, path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        annotations_only = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if node.lineno in annotations_only if hasattr(node, "lineno") else False:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                names = [f"{target}.{alias.name}" for alias in node.names]
                targets = [name for name in names if _is_module(root, name)] or [target]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "modelsync" or target.startswith("modelsync."):
                    yield Import(module, target, node.lineno)


def _is_module(root: Path, name: str) -> bool:
    relative = name.split(".")[1:]
    if relative[:1] == ["integrations"]:
        relative[0] = "../integrations"
    base = root.joinpath("modelsync", *relative)
    return base.with_suffix(".py").is_file() or base.joinpath("__init__.py").is_file()


def _package(module: str) -> str:
    """The layer package of a module: ``repo`` for ``modelsync.repo.refs``, ``errors`` for
    ``modelsync.errors``, ``__init__`` for ``modelsync`` itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if parts[1] == "integrations":
        return "integrations"
    return parts[1]


def _layer(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


IMPORTS = list(_imports(ROOT))


def _upward(edge: Import) -> str | None:
    """Why ``edge`` breaks the layers, or None when it keeps them."""
    source, target = _package(edge.source), _package(edge.target)
    if source == target or source in TOP:
        return None
    if source == "integrations":
        imported = edge.target.removeprefix("modelsync").lstrip(".")
        allowed = imported in INTEGRATIONS_MAY_IMPORT or imported.startswith("integrations")
        return None if allowed else "an adapter reaches past the public API"
    if target in TOP:  # ``from .. import __version__`` alone is fine
        return None if edge.target == "modelsync" else "imports a façade"
    if target == "integrations":
        return "the core imports an adapter"
    if _layer(target) > _layer(source):
        return "imports a layer above it"
    if _layer(target) == _layer(source) and (source, target) not in SIBLINGS:
        return "imports a sibling it must not"
    return None


def _broken(imports: list[Import]) -> list[str]:
    return [f"{edge} ({why})" for edge in imports if (why := _upward(edge)) is not None]


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert _broken(IMPORTS) == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in edges.get(node, ()):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _graph(imports: list[Import], level: str) -> dict[str, set[str]]:
    name = (lambda module: module) if level == "module" else _package
    edges: dict[str, set[str]] = {}
    for edge in imports:
        source, target = name(edge.source), name(edge.target)
        if source != target and source not in TOP and target not in TOP:
            edges.setdefault(source, set()).add(target)
    return edges


@pytest.mark.parametrize("level", ["module", "package"])
def test_no_imports_go_round_in_a_cycle(level: str) -> None:
    assert _cycles(_graph(IMPORTS, level)) == []


def test_the_walk_finds_what_breaks_the_rules(tmp_path: Path) -> None:
    """A guard for the test itself, on a made-up package: a function-local upward import, an
    adapter past the public API and a cycle are found; an annotation-only import is not."""
    files = {
        "modelsync/__init__.py": "",
        "modelsync/store/__init__.py": "",
        "modelsync/store/disk.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from ..repo.repository import Repo\n"
        ),
        "modelsync/repo/__init__.py": "",
        "modelsync/repo/repository.py": "def save():\n    from ..runs import run\n",
        "modelsync/repo/a.py": "from . import b\n",
        "modelsync/repo/b.py": "from .a import x\n",
        "modelsync/runs/__init__.py": "",
        "modelsync/runs/run.py": "",
        "integrations/__init__.py": "import modelsync\nfrom modelsync.runs import run\n",
    }
    for name, text in files.items():
        tmp_path.joinpath(name).parent.mkdir(parents=True, exist_ok=True)
        tmp_path.joinpath(name).write_text(text)
    imports = list(_imports(tmp_path))
    assert _broken(imports) == [
        "modelsync.integrations:2 imports modelsync.runs.run (an adapter reaches past the "
        "public API)",
        "modelsync.repo.repository:2 imports modelsync.runs.run (imports a layer above it)",
    ]
    assert _cycles(_graph(imports, "module")) == [["modelsync.repo.a", "modelsync.repo.b"]]
