"""Where a long replay is: positions in bytes on disk, so a single large file moves the
bar from start to end (a bar counting files stood at 0 of 1 until the end)."""

import gzip
from pathlib import Path

import pytest

from accessdrift.commands import replay
from accessdrift.commands.sources import POSITION_EVERY_LINES, read_lines


def lines(count: int) -> bytes:
    return b"".join(b'{"n": %d}\n' % number for number in range(count))


def test_one_large_file_reports_positions_up_to_its_size(tmp_path: Path) -> None:
    path = tmp_path / "org.jsonl"
    path.write_bytes(lines(10 * POSITION_EVERY_LINES))
    heard: list[int] = []
    read = sum(1 for _ in read_lines(str(path), heard.append))
    assert read == 10 * POSITION_EVERY_LINES
    assert len(heard) >= 10 and heard == sorted(heard)
    assert 0 < heard[0] < heard[4] < heard[-1] == path.stat().st_size


def test_a_gz_file_reports_its_compressed_offset(tmp_path: Path) -> None:
    path = tmp_path / "org.jsonl.gz"
    path.write_bytes(gzip.compress(lines(10 * POSITION_EVERY_LINES)))
    heard: list[int] = []
    assert sum(1 for _ in read_lines(str(path), heard.append)) == 10 * POSITION_EVERY_LINES
    assert heard[-1] == path.stat().st_size and max(heard) <= path.stat().st_size


def test_standard_input_has_no_position(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines(5000))))
    heard: list[int] = []
    assert sum(1 for _ in read_lines("-", heard.append)) == 5000
    assert heard == []


def test_where_adds_the_files_before_and_knows_no_total_with_stdin(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"x" * 100)
    second.write_bytes(b"y" * 50)
    heard: list[tuple[int, int | None]] = []
    where = replay._Where(
        [str(first), str(second)], lambda done, total: heard.append((done, total))
    )
    where.at(40)
    where.file_done(str(first))
    where.at(10)
    where.file_done(str(second))
    assert heard == [(40, 150), (100, 150), (110, 150), (150, 150)]
    assert replay._Where([str(first), "-"], None).total is None
