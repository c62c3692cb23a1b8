"""Every setting is in the settings table of docs/settings.md: a variable nobody can find
is a variable nobody sets. A row may name several with a shared prefix
(`ACCESSDRIFT_WORKER_WEB_HOST` / `_WEB_PORT`): a suffix replaces the end of the row's
first variable from one of its underscores on; a name in full is itself."""

import re
from pathlib import Path

from accessdrift.settings import Settings

SETTINGS_DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def documented(text: str) -> set[str]:
    """The names of the table in the section `## Variables`, and of no other."""
    section = text.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `ACCESSDRIFT_"):
            continue
        first_cell = row.split("|")[1]
        first, *suffixes = re.findall(r"`(ACCESSDRIFT_[A-Z0-9_]+|_[A-Z0-9_]+)`", first_cell)
        names.add(first)
        cuts = [index for index, char in enumerate(first) if char == "_"]
        for suffix in suffixes:
            if suffix.startswith("ACCESSDRIFT_"):
                names.add(suffix)
            else:
                names.update(first[:cut] + suffix for cut in cuts)
    return names


def undocumented(text: str) -> list[str]:
    names = documented(text)
    return [
        f"ACCESSDRIFT_{field.upper()}"
        for field in Settings.model_fields
        if f"ACCESSDRIFT_{field.upper()}" not in names
    ]


def test_every_setting_is_in_the_settings_table() -> None:
    missing = undocumented(SETTINGS_DOC.read_text())
    assert not missing, f"settings missing from docs/settings.md's table: {missing}"


def test_a_setting_left_out_of_the_table_is_found() -> None:
    text = SETTINGS_DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `ACCESSDRIFT_LOG_FORMAT`"))
    assert undocumented(text.replace(row + "\n", "")) == ["ACCESSDRIFT_LOG_FORMAT"]


def test_a_row_of_several_names_each_and_nothing_else() -> None:
    row = "| `ACCESSDRIFT_WORKER_WEB_HOST` / `_WEB_PORT` | x | y |"
    names = documented(f"\n## Variables\n\n{row}\n\n## Next\n| `ACCESSDRIFT_ELSEWHERE` |\n")
    assert "ACCESSDRIFT_WORKER_WEB_PORT" in names and "ACCESSDRIFT_WORKER_WEB_HOST" in names
    assert "ACCESSDRIFT_ELSEWHERE" not in names
    assert "ACCESSDRIFT_WORKER_PORT" not in names


def test_a_row_of_names_in_full_documents_each() -> None:
    row = "| `ACCESSDRIFT_KAFKA_SSL_CAFILE` / `ACCESSDRIFT_KAFKA_SSL_KEYFILE` | x | y |"
    names = documented(f"\n## Variables\n\n{row}\n\n## Next\n")
    assert names == {"ACCESSDRIFT_KAFKA_SSL_CAFILE", "ACCESSDRIFT_KAFKA_SSL_KEYFILE"}
