"""Reading input files for replay: files, folders, ``.gz``, and ``-`` for standard input."""

import gzip
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from accessdrift.errors import ConfigError


@dataclass(frozen=True)
class Line:
    """One line of input as bytes, with where it came from."""

    origin: str
    number: int
    data: bytes


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; folders as the files below them, sorted for a stable replay order."""
    expanded: list[str] = []
    for path_text in paths:
        if path_text == "-":
            expanded.append(path_text)
            continue
        path = Path(path_text)
        if path.is_dir():
            expanded += sorted(
                str(child)
                for child in path.rglob("*")
                if child.is_file() and not child.name.startswith(".")
            )
        elif path.is_file():
            expanded.append(path_text)
        else:
            raise ConfigError(f"no such file or folder: {path_text}")
    return expanded


def open_binary(path_text: str) -> io.BufferedIOBase:
    if path_text == "-":
        return sys.stdin.buffer  # type: ignore[return-value]
    raw = open(path_text, "rb")  # noqa: SIM115 - the caller closes it
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if path_text.endswith(".gz") or magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    return raw


def read_bytes(path_text: str) -> bytes:
    stream = open_binary(path_text)
    try:
        return stream.read()
    finally:
        if path_text != "-":
            stream.close()


# How often a long read says where it is: often enough for a progress bar, rarely enough
# that asking the file costs nothing next to the lines.
POSITION_EVERY_LINES = 2048


def size_on_disk(path_text: str) -> int | None:
    """The bytes a file takes on disk (compressed for ``.gz``); None for standard input."""
    return None if path_text == "-" else Path(path_text).stat().st_size


def read_lines(path_text: str, position: Callable[[int], None] | None = None) -> Iterator[Line]:
    """Non-empty lines of a file, numbered from 1. ``position`` hears how far into the
    file on disk the reading is (compressed bytes for ``.gz``) every
    POSITION_EVERY_LINES lines, and once at its end; never for standard input."""
    origin = "stdin" if path_text == "-" else path_text
    stream = open_binary(path_text)
    # A .gz file's own offset, not the inflated stream's: its size on disk is the total.
    on_disk = getattr(stream, "fileobj", stream)
    if path_text == "-":
        position = None
    try:
        for number, data in enumerate(stream, start=1):
            if position is not None and number % POSITION_EVERY_LINES == 0:
                position(on_disk.tell())
            stripped = data.strip()
            if stripped:
                yield Line(origin, number, stripped)
        if position is not None:
            position(on_disk.tell())
    finally:
        if path_text != "-":
            stream.close()
