"""Every setting is in the README's settings table: a variable nobody can find is a
variable nobody sets. A row may name several with a shared prefix
(`ACCESSDRIFT_WORKER_WEB_HOST` / `_WEB_PORT`): a suffix replaces the end of the row's
first variable from one of its underscores on."""

import re
from pathlib import Path

from accessdrift.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def documented(text: str) -> set[str]:
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `ACCESSDRIFT_"):
            continue
        first_cell = row.split("|")[1]
        first, *suffixes = re.findall(r"`(ACCESSDRIFT_[A-Z0-9_]+|_[A-Z0-9_]+)`", first_cell)
        names.add(first)
        cuts = [index for index, char in enumerate(first) if char == "_"]
        for suffix in suffixes:
            names.update(first[:cut] + suffix for cut in cuts)
    return names


def test_every_setting_is_in_the_readmes_table() -> None:
    names = documented(README.read_text())
    missing = [
        f"ACCESSDRIFT_{field.upper()}"
        for field in Settings.model_fields
        if f"ACCESSDRIFT_{field.upper()}" not in names
    ]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_a_row_of_several_names_each_and_nothing_else() -> None:
    row = "| `ACCESSDRIFT_WORKER_WEB_HOST` / `_WEB_PORT` | x | y |"
    names = documented(f"\n## Settings\n\n{row}\n\n## Next\n| `ACCESSDRIFT_ELSEWHERE` |\n")
    assert "ACCESSDRIFT_WORKER_WEB_PORT" in names and "ACCESSDRIFT_WORKER_WEB_HOST" in names
    assert "ACCESSDRIFT_ELSEWHERE" not in names
    assert "ACCESSDRIFT_WORKER_PORT" not in names
