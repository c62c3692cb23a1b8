"""The ClickHouse functions accessdrift calls that an older server lacks.

A server without one answered every analyst query with ``UNKNOWN_FUNCTION`` long after
the worker had started; checked when the connection opens (``ClickHouse.__init__``),
the worker, ``migrate`` and ``query`` refuse to start instead, naming the function and
the first release that has it.
"""

from collections.abc import Iterable, Mapping

REQUIRED_FUNCTIONS: Mapping[str, str] = {
    # The query guard (accessdrift/sinks/query_guard.py) parses every analyst query with it.
    # The first release, as the engine itself says: system.functions.introduced_in is 26.8.0
    # (ClickHouse PR #100412, "AST JSON serialization").
    "parseQueryToJSON": "26.8",
}
"""Each function the project needs and the first ClickHouse release that has it."""

# A server's version() goes into an error message: keep it to one short line.
_VERSION_CHARS = 40


def functions_query(required: Mapping[str, str]) -> tuple[str, dict[str, list[str]]]:
    """The SQL that lists which of ``required`` the server has, its names bound as a
    parameter (never spliced into the text)."""
    return (
        "SELECT name FROM system.functions WHERE name IN {names:Array(String)}",
        {"names": sorted(required)},
    )


def missing_functions(present: Iterable[str], required: Mapping[str, str]) -> list[str]:
    """The required functions absent from ``present``, in the order they are required.
    Names compare exactly: ClickHouse's are case-sensitive unless registered otherwise,
    and ``system.functions`` lists each under the name it was registered with."""
    have = set(present)
    return [name for name in required if name not in have]


def missing_message(
    missing: list[str], version: str, where: str, required: Mapping[str, str]
) -> str:
    """What the operator reads: which functions, from which release, and what to do."""
    shown = "".join(c if c.isprintable() else "?" for c in version)[:_VERSION_CHARS]
    needs = ", ".join(f"{name} (ClickHouse {required[name]} or later)" for name in missing)
    newest = max((required[name] for name in missing), key=_release)
    return (
        f"ClickHouse at {where} (version {shown}) lacks {needs}, which accessdrift "
        f"needs: run ClickHouse {newest} or later (docker-compose.yml pins one that has it)"
    )


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())
