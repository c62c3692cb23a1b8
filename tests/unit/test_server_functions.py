"""accessdrift/sinks/server_functions.py: which required functions a server lacks, and
what the operator is told."""

from accessdrift.sinks.server_functions import (
    REQUIRED_FUNCTIONS,
    functions_query,
    missing_functions,
    missing_message,
)


def test_the_query_guards_parser_is_required_from_26_8() -> None:
    assert REQUIRED_FUNCTIONS["parseQueryToJSON"] == "26.8"


def test_the_names_are_bound_not_spliced() -> None:
    sql, parameters = functions_query({"b": "1.0", "a'); DROP TABLE x; --": "1.0"})
    assert "DROP" not in sql
    assert parameters == {"names": ["a'); DROP TABLE x; --", "b"]}


def test_missing_keeps_the_required_order_and_compares_exactly() -> None:
    required = {"parseQueryToJSON": "26.8", "formatQueryFromJSON": "26.8", "x": "1.1"}
    assert missing_functions(["x", "parsequerytojson"], required) == [
        "parseQueryToJSON",
        "formatQueryFromJSON",
    ]
    assert missing_functions(["x", "parseQueryToJSON", "formatQueryFromJSON"], required) == []


def test_the_message_names_each_function_and_the_release_to_run() -> None:
    required = {"parseQueryToJSON": "26.8", "newer": "26.10", "older": "26.9"}
    message = missing_message(["parseQueryToJSON", "newer", "older"], "26.3.2.1", "h", required)
    assert "version 26.3.2.1" in message
    assert "parseQueryToJSON (ClickHouse 26.8 or later)" in message
    # 26.10 is newer than 26.9: compared as numbers, not text.
    assert "run ClickHouse 26.10 or later" in message


def test_a_hostile_version_string_stays_one_short_line() -> None:
    message = missing_message(["f"], "26.3\n\x1b[31m" + "9" * 500, "h", {"f": "1.0"})
    assert "\n" not in message and "\x1b" not in message
    assert "9" * 41 not in message
