"""Chart geometry for server-rendered SVG: histograms (linear or log10 x), the frequency-vs-F1
density grid, paired bars and scatter plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 62, 22, 10, 38
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(exponent: int) -> str:
    """'10⁻³' for -3, '1' for 0."""
    return "1" if exponent == 0 else "10" + str(exponent).translate(SUPERSCRIPTS)


@dataclass(frozen=True)
class Mark:
    """A rectangle in SVG user units, with the text a tooltip shows for it."""

    x: float
    y: float
    width: float
    height: float
    title: str
    opacity: float = 1.0


@dataclass(frozen=True)
class Dot:
    """A point of a scatter plot in SVG user units, with the text a tooltip shows for it."""

    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Everything `_chart.html` needs to draw one chart."""

    description: str
    x_label: str
    y_label: str
    marks: list[Mark]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    extra: dict[str, str] = field(default_factory=dict)
    dots: list[Dot] = field(default_factory=list)
    summary: str = ""
    """What the chart shows, in words, for screen readers (the SVG's <desc>)."""


def _scale(lo: float, hi: float, start: float, end: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda value: round(start + (value - lo) / span * (end - start), 2)


def _count_ticks(top: int, to_y: Callable[[float], float]) -> list[Tick]:
    if top <= 0:
        return [Tick(to_y(0), "0")]
    step = max(1, 10 ** math.floor(math.log10(top)))
    if top / step < 3:
        step = max(1, step // 2)
    return [Tick(to_y(value), f"{value:,}") for value in range(0, top + 1, step)][:8]


def histogram(
    bins: Sequence[tuple[float, float, int]],
    *,
    description: str,
    x_label: str,
    y_label: str = "features",
    x_format: Callable[[float], str] = lambda value: f"{value:.2g}",
) -> Chart:
    """Bars for (low edge, high edge, count) bins."""
    if not bins:
        return Chart(description, x_label, y_label, [], [], [])
    lo, hi = bins[0][0], bins[-1][1]
    top = max(count for _, _, count in bins)
    to_x = _scale(lo, hi, LEFT, WIDTH - RIGHT)
    to_y = _scale(0, top or 1, HEIGHT - BOTTOM, TOP)
    marks = [
        Mark(
            x=to_x(low),
            y=to_y(count),
            width=max(to_x(high) - to_x(low) - 1, 0.5),
            height=round(to_y(0) - to_y(count), 2),
            title=f"{x_format(low)}–{x_format(high)}: {count:,} {y_label}",
        )
        for low, high, count in bins
    ]
    x_values = [lo, lo + (hi - lo) / 4, lo + (hi - lo) / 2, lo + 3 * (hi - lo) / 4, hi]
    x_ticks = [Tick(to_x(value), x_format(value)) for value in x_values]
    return Chart(description, x_label, y_label, marks, x_ticks, _count_ticks(top, to_y))


def density_grid(
    cells: Sequence[tuple[float, float, float, float, int]], *, description: str
) -> Chart:
    """Shaded cells of a (log10 frequency, F1) grid; darker means more features."""
    x_label, y_label = "frequency (log scale)", "detection F1"
    if not cells:
        return Chart(description, x_label, y_label, [], [], [])
    x_lo = min(cell[0] for cell in cells)
    x_hi = max(cell[1] for cell in cells)
    most = max(cell[4] for cell in cells)
    to_x = _scale(x_lo, x_hi, LEFT, WIDTH - RIGHT)
    to_y = _scale(0, 1, HEIGHT - BOTTOM, TOP)
    marks = [
        Mark(
            x=to_x(x0),
            y=to_y(y1),
            width=round(to_x(x1) - to_x(x0), 2),
            height=round(to_y(y0) - to_y(y1), 2),
            title=f"frequency {10**x0:.2g}–{10**x1:.2g}, F1 {y0:.1f}–{y1:.1f}: {count:,} features",
            opacity=round(0.15 + 0.85 * math.log1p(count) / math.log1p(most), 3),
        )
        for x0, x1, y0, y1, count in cells
    ]
    x_ticks = [
        Tick(to_x(decade), power_of_ten(decade))
        for decade in range(math.ceil(x_lo), math.floor(x_hi) + 1)
    ]
    y_ticks = [Tick(to_y(value), f"{value:.2g}") for value in (0, 0.25, 0.5, 0.75, 1)]
    return Chart(description, x_label, y_label, marks, x_ticks, y_ticks)


def log_histogram(
    bins: Sequence[tuple[float, float, int]], *, description: str, x_label: str
) -> Chart:
    """Bars over log10-scaled (low, high, count) bins, ticked at whole decades (10⁻³, 10⁻², …)."""
    chart = histogram(
        bins,
        description=description,
        x_label=x_label,
        x_format=lambda exponent: f"{10**exponent * 100:.2g}%",
    )
    if not bins:
        return chart
    lo, hi = bins[0][0], bins[-1][1]
    to_x = _scale(lo, hi, LEFT, WIDTH - RIGHT)
    ticks = [Tick(to_x(d), power_of_ten(d)) for d in range(math.ceil(lo), math.floor(hi) + 1)]
    return Chart(description, x_label, chart.y_label, chart.marks, ticks, chart.y_ticks)


def paired_bars(
    groups: Sequence[tuple[str, float, float]],
    *,
    names: tuple[str, str],
    description: str,
    x_label: str,
    y_label: str,
    y_top: float | None = None,
    y_format: Callable[[float], str] = lambda value: f"{value:g}",
) -> Chart:
    """Two bars per group (label, first, second): the first solid, the second faded; the y axis
    runs from 0 to `y_top` (default: the largest value, at least 1)."""
    if not groups:
        return Chart(description, x_label, y_label, [], [], [])
    top = y_top if y_top is not None else max(1.0, *(max(a, b) for _, a, b in groups))
    slot = (WIDTH - RIGHT - LEFT) / len(groups)
    bar = max(min(slot * 0.35, 40.0), 1.0)
    to_y = _scale(0, top, HEIGHT - BOTTOM, TOP)
    marks, x_ticks = [], []
    for number, (label, first, second) in enumerate(groups):
        centre = LEFT + slot * (number + 0.5)
        for offset, value, name, opacity in (
            (-bar, first, names[0], 1.0),
            (0.0, second, names[1], 0.4),
        ):
            marks.append(
                Mark(
                    x=round(centre + offset, 2),
                    y=to_y(value),
                    width=round(bar - 1, 2),
                    height=round(to_y(0) - to_y(value), 2),
                    title=f"{x_label} {label}: {name} {y_format(value)}",
                    opacity=opacity,
                )
            )
        x_ticks.append(Tick(round(centre, 2), label))
    y_ticks = [Tick(to_y(top * share), y_format(top * share)) for share in (0, 0.25, 0.5, 0.75, 1)]
    return Chart(description, x_label, y_label, marks, x_ticks, y_ticks)


def scatter(
    points: Sequence[tuple[float, float, str]],
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    description: str,
    summary: str,
    x_label: str,
    y_label: str,
) -> Chart:
    """One dot per (x, y, tooltip) point over fixed axis ranges, ticked at the given values."""
    to_x = _scale(*x_range, LEFT, WIDTH - RIGHT)
    to_y = _scale(*y_range, HEIGHT - BOTTOM, TOP)
    return Chart(
        description,
        x_label,
        y_label,
        [],
        [Tick(to_x(value), f"{value:g}") for value in x_ticks],
        [Tick(to_y(value), f"{value:g}") for value in y_ticks],
        dots=[Dot(to_x(x), to_y(y), title) for x, y, title in points],
        summary=summary,
    )
