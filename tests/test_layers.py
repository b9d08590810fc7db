"""The package graph of pipelines/ is layered: a package imports only from its own layer or the
layers below, counting every import (at the top of a file or inside a function). Imports of
the project's own modules inside a function are only those that bring in a heavy library
(Dagster, dbt, great-expectations, PySpark, matplotlib, Flask; pandas, which the command line
imports, for a run handed to a standing process) which a command must not pay for
when it does not use it; each says so on its line. (docs/architecture.md describes the layers.)"""

from __future__ import annotations

import ast
from pathlib import Path

from pipelines.foundation.settings import PROJECT_ROOT

# Lowest first. A unit is a package of pipelines/ or one of its top-level modules.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("foundation",),  # settings, atomic writes, hashing, clocks, disk, notifications
    ("ingest",),  # contracts, the reader, the archive and the lake
    ("quality",),  # great-expectations suites and checking a file's rows
    ("intake",),  # taking files in: read, check, write the lake; repair; validate
    ("warehouse",),  # dbt, fingerprints, the engines, publishing, mart checks
    ("extracts", "reporting"),  # what leaves: researchers' packages, the overview
    ("web", "defs"),  # the submission page; the Dagster code location and the runner
    ("home",),  # setting up a WELFARE_HOME
    ("cli", "definitions", "command"),  # `welfare`, its entry; the code location's entry point
)
LAYER_OF = {unit: n for n, units in enumerate(LAYERS) for unit in units}
# Libraries a command does not pay for unless it uses them: seconds of import each.
HEAVY = ("Dagster", "dbt", "great-expectations", "PySpark", "matplotlib", "Flask", "pandas")


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pipelines" else None


def _imports(path: Path):
    """(imported module, line number, inside a function) of each import of the project."""
    module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(
        ".__init__"
    )
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    in_function = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[
                    : len(module.split(".")) - node.level + (path.name == "__init__.py")
                ]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        for name in names:
            if name.startswith("pipelines."):
                yield module, name, node.lineno, id(node) in in_function


def _all_imports():
    for path in sorted((PROJECT_ROOT / "pipelines").rglob("*.py")):
        for found in _imports(path):
            yield path, *found


def test_every_unit_has_a_layer():
    units = {_unit(module) for _, module, *_ in _all_imports()} | {
        _unit(name) for _, _, name, *_ in _all_imports()
    }
    assert units - {None} <= set(LAYER_OF), sorted(units - set(LAYER_OF))


def test_no_package_imports_from_a_layer_above_its_own():
    upward = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}"
        for path, module, name, line, _ in _all_imports()
        if (me := _unit(module)) and (other := _unit(name)) and LAYER_OF[other] > LAYER_OF[me]
    ]
    assert upward == []


def test_no_cycle_between_packages_of_one_layer():
    edges: dict[str, set[str]] = {}
    for _path, module, name, *_ in _all_imports():
        me, other = _unit(module), _unit(name)
        if me and other and me != other:
            edges.setdefault(me, set()).add(other)
    for me, others in edges.items():
        for other in others:
            assert me not in edges.get(other, set()), f"{me} and {other} import each other"


def test_the_projects_own_modules_are_imported_inside_a_function_only_for_a_heavy_library():
    lines = {}
    unexplained = []
    for path, _module, name, line, inside in _all_imports():
        if not inside:
            continue
        source = lines.setdefault(path, path.read_text(encoding="utf-8").splitlines())
        statement = source[line - 1]
        if not any(heavy in statement for heavy in HEAVY):
            unexplained.append(f"{path.relative_to(PROJECT_ROOT)}:{line} {name}")
    assert unexplained == []
