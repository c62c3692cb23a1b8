"""No module of the project imports, even for type checking only, a module that imports it
back: the stages read one way, from the core out to the shell."""

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accessdrift", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in it, TYPE_CHECKING included)."""
    modules = {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for target in targets:
                # A package's __init__ that re-exports its own modules is not a cycle.
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from error


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = import_graph()
    graph["accessdrift.core.detectors"].add("accessdrift.core.identity")
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        assert "accessdrift.core.detectors" in error.args[1]
    else:
        raise AssertionError("the cycle detectors -> identity -> detectors was not found")


def test_the_pairs_named_in_the_performance_issue_are_apart() -> None:
    graph = import_graph()
    assert "accessdrift.core.identity" not in graph["accessdrift.core.detectors"]
    assert "accessdrift.streams.app" not in graph["accessdrift.streams.web"]
