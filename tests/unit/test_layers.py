"""No import goes upward. The layers, from the bottom:

- ``accessdrift.schemas`` (the records) and ``accessdrift.errors`` (the root exception);
- ``accessdrift.core``, the functional core: it imports nothing of the project outside itself;
- everything else of ``accessdrift``, ``accessdrift.sinks`` included (which never reaches
  into the alerts);
- ``accessdrift.streams``, the Faust shell, imported only by the entry points that start it.

Each rule is checked on every import, lazy ones and TYPE_CHECKING ones included, and each
has a negative case: a planted violation that the same check reports.
"""

from collections.abc import Callable

import pytest

from tests.unit.test_import_cycles import import_graph

Graph = dict[str, set[str]]
ENTRY_POINTS = frozenset({"accessdrift.cli", "accessdrift.demo"})
"""The commands that start the shell: the only modules outside accessdrift/streams/ that import it.
``bench`` measures the shell as a whole, so it may too."""


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def core_imports_only_core(graph: Graph) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, "accessdrift.core")
        for target in targets
        if not _within(target, "accessdrift.core")
    ]


def schemas_import_nothing_above(graph: Graph) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, "accessdrift.schemas")
        for target in targets
        if not (_within(target, "accessdrift.schemas") or target == "accessdrift.errors")
    ]


def only_entry_points_import_the_shell(graph: Graph) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if not _within(module, "accessdrift.streams")
        and module not in ENTRY_POINTS
        and not _within(module, "bench")
        for target in targets
        if _within(target, "accessdrift.streams")
    ]


def sinks_do_not_import_alerts(graph: Graph) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, "accessdrift.sinks")
        for target in targets
        if _within(target, "accessdrift.alerts")
    ]


RULES: dict[str, Callable[[Graph], list[str]]] = {
    "core imports only core": core_imports_only_core,
    "schemas import nothing above them": schemas_import_nothing_above,
    "only the entry points import accessdrift.streams": only_entry_points_import_the_shell,
    "accessdrift.sinks does not import accessdrift.alerts": sinks_do_not_import_alerts,
}

PLANTED: dict[str, tuple[str, str]] = {
    "core imports only core": ("accessdrift.core.identity", "accessdrift.settings"),
    "schemas import nothing above them": ("accessdrift.schemas.models", "accessdrift.catalog"),
    "only the entry points import accessdrift.streams": (
        "accessdrift.commands.query",
        "accessdrift.streams.app",
    ),
    "accessdrift.sinks does not import accessdrift.alerts": (
        "accessdrift.sinks.rows",
        "accessdrift.alerts.route",
    ),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_no_import_goes_upward(rule: str) -> None:
    assert RULES[rule](import_graph()) == []


@pytest.mark.parametrize("rule", list(RULES))
def test_an_upward_import_is_found(rule: str) -> None:
    graph = import_graph()
    module, target = PLANTED[rule]
    assert module in graph, f"{module} is gone: plant the violation elsewhere"
    graph[module].add(target)
    assert RULES[rule](graph) == [f"{module} -> {target}"]


def test_lazy_imports_are_seen() -> None:
    """The command line imports the shell inside its commands (so that ``--help`` is fast):
    a check that missed imports inside functions would pass for nothing."""
    assert any(
        _within(target, "accessdrift.streams") for target in import_graph()["accessdrift.cli"]
    )
