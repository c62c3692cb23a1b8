"""Every third-party module the package imports is a dependency pyproject.toml declares.

A module that only arrives through another package (rich through typer) disappears the day
that package drops it or makes it an extra, and nothing bounds the versions our code was
written against. The exceptions are named, each with the direct dependency that brings it.
"""

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from importlib.metadata import packages_distributions, requires
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "accessdrift"

# Imported as part of faust-streaming's own API (agents are mode Services, the worker's web
# views are aiohttp's): their versions are the ones faust-streaming accepts.
THROUGH: Mapping[str, str] = {"mode": "faust-streaming", "aiohttp": "faust-streaming"}


def normalized(name: str) -> str:
    """PEP 503: Jinja2, jinja2 and jinja_2's spellings are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert found is not None, requirement
    return normalized(found[1])


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {requirement_name(requirement) for requirement in project["dependencies"]}


def imported_modules(sources: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Top-level third-party module -> the first file importing it (absolute imports, the
    standard library and the package itself left out)."""
    found: dict[str, str] = {}
    for where, text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "accessdrift":
                    found.setdefault(top, where)
    return found


def undeclared(
    modules: Mapping[str, str], direct: set[str], through: Mapping[str, str]
) -> list[str]:
    providers = packages_distributions()
    missing = []
    for module, where in sorted(modules.items()):
        distributions = {normalized(name) for name in providers.get(module, [])}
        brought = module in through and through[module] in direct
        if not distributions:
            missing.append(f"{module} ({where}): no installed distribution provides it")
        elif not (distributions & direct or brought):
            missing.append(f"{module} ({where}): {', '.join(sorted(distributions))} undeclared")
    return missing


def package_sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(REPO)), path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_every_imported_module_is_a_declared_dependency() -> None:
    assert undeclared(imported_modules(package_sources()), declared(), THROUGH) == []


def test_each_exception_comes_with_the_dependency_it_names() -> None:
    for module, dependency in THROUGH.items():
        assert dependency in declared(), dependency
        brought = {requirement_name(line) for line in requires(dependency) or []}
        assert {normalized(n) for n in packages_distributions()[module]} & brought, module


def test_a_module_only_another_package_brings_is_reported() -> None:
    modules = imported_modules(
        [("cli.py", "import typer\nfrom rich.progress import Progress\nimport os\n")]
    )
    assert modules == {"typer": "cli.py", "rich": "cli.py"}
    assert undeclared(modules, {"typer"}, {}) == ["rich (cli.py): rich undeclared"]
    assert undeclared(modules, {"typer", "rich"}, {}) == []
    relative = imported_modules([("a.py", "from . import b\nimport accessdrift.cli\n")])
    assert relative == {}
