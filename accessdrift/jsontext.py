"""JSON from logs, parsed so that no input can escape as anything but a DecodeError.

Three things the standard parser lets through that break later stages: nesting
deep enough to exhaust the interpreter's stack (``RecursionError``), and lone
UTF-16 surrogates written as escapes (``"\\ud800"``), which parse into strings
that no UTF-8 encoder (Avro, Kafka, ClickHouse) accepts. A lone surrogate is
replaced by U+FFFD, as a UTF-8 decoder would do with a broken byte.
"""

import json
from typing import Any

from accessdrift.errors import DecodeError

MAX_DEPTH = 64  # the deepest vendor record we know nests under 12 levels


def loads(data: bytes | str) -> Any:
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DecodeError(f"not JSON: {error}") from error
    except RecursionError as error:
        raise DecodeError("not JSON this parser can read: nested too deep") from error
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise DecodeError(f"not JSON this parser can read: {error}") from error
    if _depth_over(document, MAX_DEPTH):
        raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _may_hold_surrogates(data):
        document = _scrub(document)
    return document


def _may_hold_surrogates(data: bytes | str) -> bool:
    """Cheaply: could the parse hold a lone surrogate? From a ``\\u`` escape, from UTF-8
    bytes of one (the parser lets them pass), from UTF-16/32 input, or a str with one."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return "\\ud" in data or "\\uD" in data
    return b"\\ud" in data or b"\\uD" in data or b"\xed" in data or b"\x00" in data[:4]


def _depth_over(document: Any, limit: int) -> bool:
    """Iteratively: is any container nested deeper than ``limit``?"""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _scrub(item) for key, item in value.items()}
    return value


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
