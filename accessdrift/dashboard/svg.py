"""Charts as inline SVG text, drawn on the server: the page needs no script, no font
and no file from anywhere (its CSP forbids them all).

Pure functions of plain values. Every chart is ``Markup`` built only with
``Markup(...).format(...)`` and ``Markup.join``, which escape every value put in
that is not itself ``Markup`` (as Jinja2's autoescape does): a series name, label
or title is text, whatever it holds, and no value can add an attribute or an
element. The page's template takes a chart as it is for that reason. Each data
point is a ``<circle class="point" data-series="...">`` and each bar a ``<rect
class="bar" ...>``, so a test (or a person with the inspector) can count them.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito, then Tol's muted), in the order series are drawn.
PALETTE = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
    "#882255", "#44aa99", "#332288", "#999933", "#999999",
)  # fmt: skip
WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40

Format = Callable[[float], str]
Ticks = Callable[[float], list[float]]
# Steps a person reads as round on a time axis: seconds, minutes, hours, days.
DURATION_STEPS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 432000, 604800, 1209600, 2592000,
)  # fmt: skip


@dataclass(frozen=True)
class LineSeries:
    name: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class Line:
    """A horizontal threshold (an SLA) across the chart."""

    label: str
    value: float


def number(value: float) -> str:
    """A coordinate: short, no exponent, never ``nan``."""
    if not math.isfinite(value):
        value = 0.0
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def plain(value: float) -> str:
    """A count or a quantity for people: ``1,234`` or ``0.25``."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 up to at least ``top`` in round steps (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * factor for factor in (1, 2, 2.5, 5, 10) if power * factor >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def duration_ticks(top: float, count: int = 5) -> list[float]:
    """0 up to at least ``top`` seconds in steps like 15m, 1h, 6h, 1d."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 60.0]
    raw = top / count
    step = next((float(step) for step in DURATION_STEPS if step >= raw), None)
    if step is None:
        return nice_ticks(top, count)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def no_data(title: str, chart_id: str) -> Markup:
    return Markup(
        '<svg id="{chart_id}" class="chart empty" role="img" viewBox="0 0 {width} 80" '
        'width="{width}" height="80"><title>{title}</title>'
        '<text x="{middle}" y="44" text-anchor="middle" class="no-data">no data</text></svg>'
    ).format(chart_id=chart_id, width=WIDTH, title=title, middle=WIDTH // 2)


def _svg_start(chart_id: str, title: str, height: int) -> Markup:
    return Markup(
        '<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        'width="{width}" height="{height}"><title>{title}</title>'
    ).format(chart_id=chart_id, width=WIDTH, height=height, title=title)


def line_chart(
    title: str,
    chart_id: str,
    series: Sequence[LineSeries],
    *,
    lines: Sequence[Line] = (),
    format_value: Format = plain,
    tick_values: Ticks = nice_ticks,
    y_label: str = "",
) -> Markup:
    """Series over time, with axes, ticks, a legend and horizontal threshold lines."""
    drawn = [item for item in series if item.points]
    if not drawn:
        return no_data(title, chart_id)
    times = [at.timestamp() for item in drawn for at, _ in item.points]
    values = [value for item in drawn for _, value in item.points]
    start, end = min(times), max(times)
    if end == start:  # one instant: centre it
        start, end = start - 1800, end + 1800
    ticks = tick_values(max([*values, *(line.value for line in lines)]))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + (seconds - start) / (end - start) * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - (value / top) * plot_h

    legend_rows = math.ceil((len(drawn) + len(lines)) / 4)
    parts = [_svg_start(chart_id, title, HEIGHT + 18 * legend_rows)]
    parts += _y_axis(ticks, y, format_value, y_label)
    parts += _time_axis(start, end, x)
    for index, line in enumerate(lines):
        level = number(y(line.value))
        parts.append(
            Markup(
                '<line class="threshold" data-label="{label}" x1="{x1}" x2="{x2}" '
                'y1="{level}" y2="{level}" stroke="{colour}" stroke-dasharray="6 4">'
                "<title>{label}: {value}</title></line>"
            ).format(
                label=line.label,
                x1=LEFT,
                x2=LEFT + plot_w,
                level=level,
                colour=_colour(len(drawn) + index),
                value=format_value(line.value),
            )
        )
    for index, item in enumerate(drawn):
        colour = _colour(index)
        ordered = sorted(item.points, key=lambda point: point[0])
        path = " ".join(
            f"{'M' if position == 0 else 'L'}{number(x(at.timestamp()))},{number(y(value))}"
            for position, (at, value) in enumerate(ordered)
        )
        parts.append(
            Markup(
                '<path class="series" data-series="{name}" d="{path}" fill="none" '
                'stroke="{colour}" stroke-width="2"/>'
            ).format(name=item.name, path=path, colour=colour)
        )
        for at, value in ordered:
            parts.append(
                Markup(
                    '<circle class="point" data-series="{name}" cx="{cx}" cy="{cy}" r="3" '
                    'fill="{colour}"><title>{name} {when}: {value}</title></circle>'
                ).format(
                    name=item.name,
                    cx=number(x(at.timestamp())),
                    cy=number(y(value)),
                    colour=colour,
                    when=_when(at),
                    value=format_value(value),
                )
            )
    labels = [(item.name, _colour(index), False) for index, item in enumerate(drawn)]
    labels += [(line.label, _colour(len(drawn) + i), True) for i, line in enumerate(lines)]
    parts += _legend(labels, HEIGHT)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bar_chart(
    title: str,
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    format_value: Format = plain,
    tick_values: Ticks = nice_ticks,
    y_label: str = "",
    top: float | None = None,
) -> Markup:
    """Grouped bars: one group per category, one bar per series (``None``: no bar)."""
    present = [value for _, values in series for value in values if value is not None]
    if not categories or not present:
        return no_data(title, chart_id)
    ticks = tick_values(top if top is not None else max(present))
    ceiling = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / len(categories)
    bar_w = group_w * 0.8 / max(len(series), 1)

    def y(value: float) -> float:
        return TOP + plot_h - (value / ceiling) * plot_h

    legend_rows = math.ceil(len(series) / 4)
    parts = [_svg_start(chart_id, title, HEIGHT + 18 * legend_rows)]
    parts += _y_axis(ticks, y, format_value, y_label)
    base = TOP + plot_h
    for position, category in enumerate(categories):
        centre = LEFT + group_w * (position + 0.5)
        parts.append(
            Markup('<text class="tick" x="{x}" y="{y}" text-anchor="middle">{text}</text>').format(
                x=number(centre), y=base + 16, text=category
            )
        )
        for index, (name, values) in enumerate(series):
            value = values[position] if position < len(values) else None
            if value is None:
                continue
            left = LEFT + group_w * position + group_w * 0.1 + bar_w * index
            parts.append(
                Markup(
                    '<rect class="bar" data-series="{name}" data-category="{category}" '
                    'x="{x}" y="{y}" width="{width}" height="{height}" fill="{colour}">'
                    "<title>{category} {name}: {value}</title></rect>"
                ).format(
                    name=name,
                    category=category,
                    x=number(left),
                    y=number(y(value)),
                    width=number(bar_w),
                    height=number(base - y(value)),
                    colour=_colour(index),
                    value=format_value(value),
                )
            )
    parts += _legend([(name, _colour(index), False) for index, (name, _) in enumerate(series)],
                     HEIGHT)  # fmt: skip
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _y_axis(
    ticks: Sequence[float], y: Callable[[float], float], format_value: Format, label: str
) -> list[Markup]:
    parts = [
        Markup(
            '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>'
            '<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        ).format(left=LEFT, right=WIDTH - RIGHT, top=TOP, bottom=HEIGHT - BOTTOM)
    ]
    for tick in ticks:
        parts.append(
            Markup(
                '<line class="grid" x1="{left}" x2="{right}" y1="{at}" y2="{at}"/>'
                '<text class="tick" x="{text_x}" y="{at}" text-anchor="end" '
                'dominant-baseline="middle">{text}</text>'
            ).format(
                left=LEFT,
                right=WIDTH - RIGHT,
                at=number(y(tick)),
                text_x=LEFT - 6,
                text=format_value(tick),
            )
        )
    if label:
        middle = f"{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}"
        parts.append(
            Markup(
                '<text class="axis-label" x="12" y="{middle}" '
                'transform="rotate(-90 12 {middle})" text-anchor="middle">{label}</text>'
            ).format(middle=middle, label=label)
        )
    return parts


def _time_axis(start: float, end: float, x: Callable[[float], float]) -> list[Markup]:
    """Five labelled instants, evenly spaced; the date shown when the range spans days."""
    parts = []
    span_days = (end - start) / 86400
    for index in range(5):
        seconds = start + (end - start) * index / 4
        at = datetime.fromtimestamp(seconds, UTC)
        text = at.strftime("%m-%d %H:%M") if span_days < 4 else at.strftime("%Y-%m-%d")
        anchor = "start" if index == 0 else "end" if index == 4 else "middle"
        parts.append(
            Markup(
                '<text class="tick" x="{x}" y="{y}" text-anchor="{anchor}">{text}</text>'
            ).format(x=number(x(seconds)), y=HEIGHT - BOTTOM + 16, anchor=anchor, text=text)
        )
    return parts


def _legend(labels: Sequence[tuple[str, str, bool]], top: float) -> list[Markup]:
    parts = []
    for index, (name, colour, dashed) in enumerate(labels):
        column, row = index % 4, index // 4
        left, baseline = LEFT + column * 170, top - 4 + row * 18
        dash = Markup(' stroke-dasharray="6 4"') if dashed else Markup("")
        parts.append(
            Markup(
                '<g class="legend-item"><line x1="{left}" x2="{line_end}" y1="{line_y}" '
                'y2="{line_y}" stroke="{colour}" stroke-width="3"{dash}/>'
                '<text x="{text_x}" y="{baseline}">{name}</text></g>'
            ).format(
                left=left,
                line_end=left + 18,
                line_y=baseline - 4,
                colour=colour,
                dash=dash,
                text_x=left + 24,
                baseline=baseline,
                name=name,
            )
        )
    return parts


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
