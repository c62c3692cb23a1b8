"""What one analyst query may take, on the embedded engine (chDB), no broker (issue 23,
item 7): bytes of result, threads, rows read, nesting, SQL length.

Every input here is small enough to run in a moment when refused, and what each
query would return unrefused is far over its limit (a count, never a clock).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from accessdrift.errors import ClickHouseError, QueryRefused
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import ClickHouse, QueryLimits

CAP = 1_000_000


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    folder = tmp_path_factory.mktemp("chdb-limits")
    connection = ClickHouse(f"chdb://{folder}", "accessdrift_limits")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def capped(clickhouse: ClickHouse) -> Iterator[ClickHouse]:
    """A second handle on the same engine with a 1 MB result cap and one thread."""
    limited = ClickHouse(
        clickhouse.dsn, clickhouse.database, QueryLimits(result_bytes=CAP, threads=1)
    )
    yield limited
    limited.close()


def test_a_result_over_the_byte_cap_is_refused_by_clickhouse(capped: ClickHouse) -> None:
    # 100 rows of 100 kB each, every value its own: 10 MB, ten times the cap.
    with pytest.raises(ClickHouseError, match="Limit for result exceeded, max bytes"):
        capped.query("SELECT repeat(toString(number % 10), 100000) FROM numbers(100)")


def test_a_constant_column_clickhouse_counts_once_is_stopped_by_the_worker(
    capped: ClickHouse,
) -> None:
    """The issue's query, a hundredth of its size: ClickHouse counts a constant column's
    bytes once, not once per row, so its own cap lets 100 MB through; the worker counts
    what it receives and stops at the same cap."""
    with pytest.raises(ClickHouseError, match=r"over 1,000,000 bytes.*QUERY_MAX_RESULT_BYTES"):
        capped.query("SELECT repeat('x', 100000) FROM numbers(1000)")


def test_a_limit_never_hides_a_result_over_the_byte_cap(capped: ClickHouse) -> None:
    # `limit` makes ClickHouse stop quietly ('break'): bytes over the cap still refuse.
    with pytest.raises(ClickHouseError, match="over 1,000,000 bytes"):
        capped.query("SELECT repeat(toString(number % 10), 100000) FROM numbers(1000)", limit=500)
    with pytest.raises(ClickHouseError, match="over 1,000,000 bytes"):
        capped.query("SELECT repeat('x', 100000) FROM numbers(1000)", limit=500)
    small = capped.query("SELECT number FROM numbers(1000000)", limit=3)
    assert small.rows == [(0,), (1,), (2,)] and small.truncated


def test_a_result_within_the_cap_is_whole(capped: ClickHouse) -> None:
    result = capped.query("SELECT repeat('x', 100) AS x, number FROM numbers(5000)")
    assert len(result.rows) == 5000 and result.rows[-1] == ("x" * 100, 4999)


def test_threads_are_the_configured_number(capped: ClickHouse, clickhouse: ClickHouse) -> None:
    assert capped.query("SELECT getSetting('max_threads') AS threads").rows == [(1,)]
    pipeline = capped.query("EXPLAIN PIPELINE SELECT sum(number) FROM numbers_mt(1000000000)")
    lines = [line.strip() for (line,) in pipeline.rows]
    assert "NumbersRange 0 \u2192 1" in lines, "one stream of numbers, not one per core"
    default = clickhouse.query("SELECT getSetting('max_threads') AS threads").rows
    assert default == [(QueryLimits().threads,)]


def test_a_read_of_trillions_of_rows_is_refused_before_it_starts(clickhouse: ClickHouse) -> None:
    """numbers_mt(1e13) took every core for the whole timeout: ClickHouse knows the rows
    a source will read, and refuses more than the cap at once."""
    with pytest.raises(ClickHouseError, match="max_rows_to_read"):
        clickhouse.query("SELECT count() FROM numbers_mt(1e13)")


def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error(
    clickhouse: ClickHouse,
) -> None:
    """300 nested brackets made clickhouse-connect's type parser recurse past Python's
    limit: ClickHouse's parser now refuses the nesting before anything runs."""
    deep = "SELECT " + "[" * 300 + "1" + "]" * 300
    with pytest.raises(QueryRefused, match="nested"):
        clickhouse.query(deep)
    fine = "SELECT " + "[" * 60 + "1" + "]" * 60 + " AS x"
    assert clickhouse.query(fine).types[0].count("Array(") == 60


def test_a_deeply_nested_value_is_refused_before_it_reaches_a_caller(
    clickhouse: ClickHouse,
) -> None:
    """A JSON value 900 objects deep parses in ClickHouse and in the client, then
    exhausts the stack of whatever walks it (the worker's JSON answer)."""
    deep_json = '{"a":' * 900 + "1" + "}" * 900
    with pytest.raises(ClickHouseError, match="nested"):
        clickhouse.query(f"SELECT '{deep_json}'::JSON AS j")


def test_sql_longer_than_clickhouse_parses_is_refused_before_the_parser(
    clickhouse: ClickHouse,
) -> None:
    # ClickHouse's own max_query_size is 262,144 bytes.
    long_sql = "SELECT 1 AS x" + " " * 300_000
    with pytest.raises(QueryRefused, match="bytes of SQL"):
        clickhouse.query(long_sql)


def test_the_issues_gigabyte_of_one_constant_is_refused_by_the_default_memory_limit(
    clickhouse: ClickHouse, tmp_path: Path
) -> None:
    """The issue's own query at its own size, with the limits a default deployment runs:
    ClickHouse would build the gigabyte before any count of the result could stop it
    (the worker peaked at 4.6 GB); the memory limit refuses it before it is built."""
    limits = Settings(data_dir=tmp_path).query_limits
    # The same engine (one per process), with the defaults' limits.
    defaults = ClickHouse(clickhouse.dsn, clickhouse.database, limits)
    try:
        with pytest.raises(ClickHouseError, match="memory limit exceeded"):
            defaults.query("SELECT repeat('x', 1000000) FROM numbers(1000)")
    finally:
        defaults.close()


def test_an_unmatched_left_join_reads_null_on_the_analysts_session(clickhouse: ClickHouse) -> None:
    # The views say SETTINGS join_use_nulls = 1, which readonly=1 does not apply: the
    # session must, or "still held" reads '' / 0 where the ledger has no interval.
    result = clickhouse.query(
        "SELECT r.x AS x FROM (SELECT 1 AS k) AS l LEFT JOIN (SELECT 2 AS k, 'a' AS x) AS r"
        " ON l.k = r.k"
    )
    assert [list(row) for row in result.rows] == [[None]]
