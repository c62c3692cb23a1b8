"""The migrations as the package ships them (``migrations/NNNN_name.sql`` beside this file),
and what other modules derive from their text: the query guard takes the parameterized views
they create from here, so that a new one needs no second list to be queried.

Apart from ``migrate.py`` because the guard needs it and ``clickhouse.py``, which ``migrate``
imports, imports the guard.
"""

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def available_migrations() -> list[Migration]:
    folder = resources.files("accessdrift.sinks").joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version_text, _, rest = entry.name.partition("_")
        sql = entry.read_text(encoding="utf-8")
        lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
        statements = [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
        migrations.append(Migration(int(version_text), rest.removesuffix(".sql"), statements))
    return sorted(migrations, key=lambda migration: migration.version)


# Our own statements, not an analyst's: a regular expression over them is enough.
_CREATE_VIEW = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:\{database\}\.)?`?([A-Za-z_][A-Za-z0-9_]*)`?\s+AS\b(.*)",
    re.IGNORECASE | re.DOTALL,
)
# A query parameter, {name:Type}; the migrations' own {database} has no type.
_QUERY_PARAMETER = re.compile(r"\{\s*[A-Za-z_][A-Za-z0-9_]*\s*:[^{}]+\}")


def views_taking_parameters(statements: list[str]) -> frozenset[str]:
    """The views among these statements whose query takes a parameter (``{at:Type}``):
    ClickHouse's parameterized views, called like table functions."""
    found = set()
    for statement in statements:
        match = _CREATE_VIEW.match(statement)
        if match is not None and _QUERY_PARAMETER.search(match.group(2)):
            found.add(match.group(1))
    return frozenset(found)


@cache
def parameterized_views() -> frozenset[str]:
    """Every parameterized view the migrations create (``access_at``...)."""
    return views_taking_parameters(
        [statement for migration in available_migrations() for statement in migration.statements]
    )
