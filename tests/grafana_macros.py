"""What grafana-clickhouse-datasource (4.x) does to a panel's rawSql before ClickHouse sees it.

Three passes, in the plugin's order, so that a dashboard query can be run on the
embedded engine exactly as Grafana would send it to the server:

1. ``apply_conditional_all``: the frontend's ``$__conditionalAll(condition, $var)``
   (``src/data/CHDatasource.ts``, ``applyConditionalAll`` and ``getMacroArgs``): the
   condition, or ``1=1`` when the variable's current value is All (or empty).
2. ``replace_variables``: Grafana's template service (``templateSrv.replace``) with the
   datasource's default formatter (a multi-value variable without a format becomes
   ``'a','b'``); ``${var:singlequote}``, ``${var:csv}``, ``${var:doublequote}``,
   ``${var:raw}`` and the All value (every option, or a custom allValue left raw).
3. ``expand_macros``: the backend's macros (``pkg/macros/macros.go``, through
   ``github.com/grafana/macropro``): comments blanked first, then every ``$__name`` or
   ``$__name(args)`` the plugin knows, longest name first, innermost call first;
   unknown names left as they are.

Reference: github.com/grafana/clickhouse-datasource at commit
1d04063a31fb30f9582cd0b3aeaacb7d350b0dcf (4.20.0 + unreleased), files
pkg/macros/macros.go, pkg/macros/macros_test.go, src/data/CHDatasource.ts; and
github.com/grafana/macropro parser.go / macropro.go / defaults.go (v1.0.1 is the
version the plugin's go.mod names). The statement macros ($__columns, $__lttb, ...)
are not implemented: the dashboards do not use them.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL = "$__all"


class MacroError(ValueError):
    """A macro the plugin would refuse (wrong argument count, bad duration)."""


@dataclass(frozen=True)
class QueryContext:
    """What the backend knows of a query: its time range and interval."""

    time_from: datetime
    time_to: datetime
    interval: timedelta = timedelta(0)
    table: str = ""
    column: str = ""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as the template service holds it.

    ``current`` is the selected values, or ``ALL``; ``options`` the values All
    stands for (a query variable's results, a custom variable's list)."""

    name: str
    current: Sequence[str] | str
    options: Sequence[str] = field(default_factory=tuple)
    all_value: str | None = None
    multi: bool = True


# -- 1. $__conditionalAll (frontend) -------------------------------------------------


def _macro_args(query: str, args_index: int) -> list[str]:
    """Port of CHDatasource.getMacroArgs: split at top-level commas, keep spaces."""
    args: list[str] = []
    depth = 0
    last_end = 1
    sub = query[args_index:]
    for match in re.finditer(r"\(|\)|,", sub):
        node = match.group(0)
        if node == "(":
            depth += 1
        elif node == ")":
            depth -= 1
        if node == "," and depth == 1:
            args.append(sub[last_end : match.end() - 1])
            last_end = match.end()
        if depth == 0:
            args.append(sub[last_end : match.end() - 1])
            return args
    return []


def _current_string(variable: Variable | None) -> str | None:
    """JavaScript's ``current.value.toString()``: an array joins with commas."""
    if variable is None:
        return None
    if isinstance(variable.current, str):
        return variable.current
    return ",".join(variable.current)


def apply_conditional_all(raw: str, variables: Mapping[str, Variable]) -> str:
    macro = "$__conditionalAll("
    index = raw.rfind(macro)
    while index != -1:
        params = _macro_args(raw, index + len(macro) - 1)
        if len(params) != 2:
            return raw
        found = re.search(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+", params[1].strip())
        phrase = params[0]
        if found:
            value = _current_string(variables.get(found.group(0)))
            if value in ("", ALL):
                phrase = "1=1"
        # JavaScript's String.replace with a string: the first occurrence only.
        raw = raw.replace(f"{macro}{params[0]},{params[1]})", phrase, 1)
        index = raw.rfind(macro)
    return raw


# -- 2. Grafana template variables (frontend) ----------------------------------------

# Grafana's variableRegex (public/app/features/variables/utils.ts).
VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)


def _single_quote(value: Sequence[str] | str) -> str:
    def one(item: str) -> str:
        return "'" + item.replace("'", "\\'") + "'"

    if isinstance(value, str):
        return one(value)
    return ",".join(one(item) for item in value)


def _double_quote(value: Sequence[str] | str) -> str:
    def one(item: str) -> str:
        return '"' + item.replace('"', '\\"') + '"'

    if isinstance(value, str):
        return one(value)
    return ",".join(one(item) for item in value)


def _datasource_default(value: Sequence[str] | str) -> str:
    """CHDatasource.format: an array becomes 'a','b' (no escaping), a string stays."""
    if isinstance(value, str):
        return value
    return "'" + "','".join(value) + "'"


FORMATS: dict[str, Callable[[Sequence[str] | str], str]] = {
    "singlequote": _single_quote,
    "doublequote": _double_quote,
    "csv": lambda value: value if isinstance(value, str) else ",".join(value),
    "raw": lambda value: value if isinstance(value, str) else ",".join(value),
}


def replace_variables(
    raw: str, variables: Mapping[str, Variable], scoped: Mapping[str, str] | None = None
) -> str:
    scoped = scoped or {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in scoped:
            return scoped[name]
        variable = variables.get(name)
        if variable is None:
            # Not a variable (a plugin macro such as $__timeFilter): left for the backend.
            return match.group(0)
        value: Sequence[str] | str = variable.current
        if value == ALL or (not isinstance(value, str) and list(value) == [ALL]):
            if variable.all_value is not None:
                # Grafana leaves a custom all value unformatted.
                return variable.all_value
            value = list(variable.options)
        if fmt is None:
            return _datasource_default(value)
        if fmt not in FORMATS:
            raise MacroError(f"format {fmt!r} is not implemented here")
        return FORMATS[fmt](value)

    return VARIABLE_RE.sub(substitute, raw)


# -- 3. Backend macros (pkg/macros/macros.go via macropro) ---------------------------


def _unix(moment: datetime) -> int:
    """Go's Time.Unix(): whole seconds, rounded down."""
    return (moment - EPOCH) // timedelta(seconds=1)


def _unix_milli(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _date(moment: datetime) -> str:
    return f"toDate('{moment.astimezone(UTC).strftime('%Y-%m-%d')}')"


def _datetime(moment: datetime) -> str:
    return f"toDateTime({_unix(moment)})"


def _datetime64(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_unix_milli(moment)})"


def _arity(name: str, want: int, args: Sequence[str]) -> None:
    if len(args) != want:
        raise MacroError(f"{name} expected {want} argument(s), received {len(args)}")


def _interval_seconds(ctx: QueryContext) -> int:
    return int(max(ctx.interval.total_seconds(), 1))


def _interval_ms(ctx: QueryContext) -> int:
    return ctx.interval // timedelta(milliseconds=1)


def _go_duration_seconds(text: str) -> int:
    """time.ParseDuration for the forms a dashboard uses (5m, 1h30m, 90s, 250ms)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+)", text)
    if not parts:
        raise MacroError(f"$__timeGroup: invalid interval {text!r}")
    total = sum(
        float(number) * units[unit]
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)", text)
    )
    seconds = round(total)
    if seconds <= 0:
        raise MacroError(f"$__timeGroup: interval must be positive, got {text!r}")
    return seconds


def _format_duration(interval: timedelta) -> str:
    """macropro.FormatDuration, for $__interval."""
    ms = abs(_interval_ms_of(interval))
    if ms == 0:
        return "0s"
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _interval_ms_of(interval: timedelta) -> int:
    return interval // timedelta(milliseconds=1)


def _time_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeFilter", 1, args)
    col = args[0]
    return f"{col} >= {_datetime(ctx.time_from)} AND {col} <= {_datetime(ctx.time_to)}"


def _time_filter_ms(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeFilter_ms", 1, args)
    col = args[0]
    return f"{col} >= {_datetime64(ctx.time_from)} AND {col} <= {_datetime64(ctx.time_to)}"


def _date_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__dateFilter", 1, args)
    col = args[0]
    return f"{col} >= {_date(ctx.time_from)} AND {col} <= {_date(ctx.time_to)}"


def _date_time_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__dateTimeFilter", 2, args)
    date_col, time_col = args
    dates = f"({date_col} >= {_date(ctx.time_from)} AND {date_col} <= {_date(ctx.time_to)})"
    times = f"({time_col} >= {_datetime(ctx.time_from)} AND {time_col} <= {_datetime(ctx.time_to)})"
    return f"{dates} AND {times}"


def _time_interval(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeInterval", 1, args)
    return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {_interval_seconds(ctx)} second)"


def _time_interval_ms(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeInterval_ms", 1, args)
    ms = max(_interval_ms(ctx), 1)
    return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {ms} millisecond)"


def _time_from(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeFrom", 1, args)
    return f"{args[0]} >= {_datetime(ctx.time_from)}"


def _time_to(ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeTo", 1, args)
    return f"{args[0]} <= {_datetime(ctx.time_to)}"


def _time_group(_ctx: QueryContext, args: Sequence[str]) -> str:
    _arity("$__timeGroup", 2, args)
    col = args[0].strip()
    seconds = _go_duration_seconds(args[1].strip().strip("'\""))
    return f"toStartOfInterval(toDateTime({col}), INTERVAL {seconds} second)"


def _table(ctx: QueryContext, _args: Sequence[str]) -> str:
    if not ctx.table:
        raise MacroError("$__table: no table name in query context")
    return ctx.table


def _column(ctx: QueryContext, _args: Sequence[str]) -> str:
    if not ctx.column:
        raise MacroError("$__column: no column name in query context")
    return ctx.column


Handler = Callable[[QueryContext, Sequence[str]], str]

# macropro.DefaultMacros merged with the plugin's ClickHouseMacros (overrides win).
MACROS: dict[str, Handler] = {
    "interval": lambda ctx, _args: _format_duration(ctx.interval),
    "interval_ms": lambda ctx, _args: str(_interval_ms(ctx)),
    "table": _table,
    "column": _column,
    "timeFilter": _time_filter,
    "timeFrom": _time_from,
    "timeTo": _time_to,
    "timeGroup": _time_group,
    "fromTime": lambda ctx, _args: _datetime(ctx.time_from),
    "toTime": lambda ctx, _args: _datetime(ctx.time_to),
    "fromTime_ms": lambda ctx, _args: _datetime64(ctx.time_from),
    "toTime_ms": lambda ctx, _args: _datetime64(ctx.time_to),
    "timeFilter_ms": _time_filter_ms,
    "dateFilter": _date_filter,
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": lambda ctx, _args: str(_interval_seconds(ctx)),
}
# Longest first, so that $__timeFilter_ms is never read as $__timeFilter.
_NAMES = sorted(MACROS, key=lambda name: (-len(name), name))
PREFIX = "$__"


def _scan_string(text: str, pos: int, backslash: bool) -> int:
    """Index just past the quoted region opening at pos ('', "" or ``)."""
    quote = text[pos]
    j = pos + 1
    while j < len(text):
        if backslash and text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _dollar_quote_end(text: str, pos: int) -> int:
    """End of a $tag$...$tag$ literal opening at pos, or -1."""
    j = pos + 1
    while j < len(text) and text[j] != "$":
        if not (text[j].isascii() and (text[j].isalnum() or text[j] == "_")):
            return -1
        j += 1
    if j >= len(text):
        return -1
    tag = text[pos : j + 1]
    close = text.find(tag, j + 1)
    if close < 0:
        return -1
    return close + len(tag)


def strip_comments(query: str) -> str:
    """macropro.StripComments with the plugin's ClickHouse styles (line, block,
    backslash escapes, backtick identifiers, dollar quotes): comments become spaces."""
    out: list[str] = []
    i = 0
    while i < len(query):
        c = query[i]
        if c in "'\"`":
            j = _scan_string(query, i, backslash=True)
            out.append(query[i:j])
            i = j
            continue
        if c == "$":
            end = _dollar_quote_end(query, i)
            if end >= 0:
                out.append(query[i:end])
                i = end
                continue
        if query.startswith("--", i):
            j = i
            while j < len(query) and query[j] not in "\r\n":
                j += 1
            out.append(" " * (j - i))
            i = j
            continue
        if query.startswith("/*", i):
            close = query.find("*/", i + 2)
            j = len(query) if close < 0 else close + 2
            out.append(" " * (j - i))
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _closing_paren(text: str, open_at: int) -> int:
    depth = 0
    i = open_at
    while i < len(text):
        c = text[i]
        if c in "'\"`":
            i = _scan_string(text, i, backslash=True)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _parse_args(raw: str) -> list[str]:
    """macropro.parseArgs: top-level commas, each argument trimmed."""
    raw = raw.strip()
    if not raw:
        return []
    args: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(raw):
        c = raw[i]
        if c in "'\"`":
            i = _scan_string(raw, i, backslash=True)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                raise MacroError(f"unexpected ')' at position {i}")
            depth -= 1
        elif c == "," and depth == 0:
            args.append(raw[start:i].strip())
            start = i + 1
        i += 1
    if depth != 0:
        raise MacroError("unbalanced parentheses in arguments")
    args.append(raw[start:].strip())
    return args


def _expand(text: str, ctx: QueryContext) -> str:
    out: list[str] = []
    i = 0
    while True:
        at = text.find(PREFIX, i)
        if at < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:at])
        start = at + len(PREFIX)
        name = next(
            (
                candidate
                for candidate in _NAMES
                if text.startswith(candidate, start)
                and not _name_char(text, start + len(candidate))
            ),
            None,
        )
        if name is None:
            # Not a macro of this plugin: left unchanged.
            out.append(PREFIX)
            i = start
            continue
        after = start + len(name)
        raw_args = ""
        if after < len(text) and text[after] == "(":
            close = _closing_paren(text, after)
            if close >= 0:
                raw_args = text[after + 1 : close]
                after = close + 1
        # Innermost first: a macro in an argument is expanded before its caller runs.
        args = _parse_args(_expand(raw_args, ctx))
        out.append(MACROS[name](ctx, args))
        i = after


def _name_char(text: str, index: int) -> bool:
    return index < len(text) and (
        text[index] == "_" or (text[index].isascii() and text[index].isalnum())
    )


def expand_macros(raw: str, ctx: QueryContext) -> str:
    return _expand(strip_comments(raw), ctx)


# -- The whole path ------------------------------------------------------------------


def render(
    raw: str,
    ctx: QueryContext,
    variables: Mapping[str, Variable] | None = None,
) -> str:
    """A panel's rawSql as ClickHouse receives it from the plugin."""
    variables = variables or {}
    scoped = {
        # Grafana's built-in interval variables, resolved by the frontend.
        "__interval": _format_duration(ctx.interval),
        "__interval_ms": str(_interval_ms(ctx)),
    }
    sql = apply_conditional_all(raw, variables)
    sql = replace_variables(sql, variables, scoped)
    return expand_macros(sql, ctx)
