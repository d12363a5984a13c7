"""Geometry for the inline SVG charts (no JavaScript, no charting library, no CDN).

The template draws what these functions compute; every chart also gets its numbers as a
table, so a screen reader (or a manager who wants the figures) loses nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28  # room for "100,000" on the axis


@dataclass(frozen=True)
class Tick:
    """A labelled gridline."""

    y: float
    label: str


@dataclass(frozen=True)
class Bar:
    """One bar: its box, its series and the value it stands for."""

    x: float
    y: float
    width: float
    height: float
    series: int
    label: str


@dataclass(frozen=True)
class Chart:
    """What the template needs to draw one chart."""

    width: int
    height: int
    ticks: list[Tick]
    x_labels: list[tuple[float, str]]
    points: str = ""  # a polyline's "x,y x,y …"
    bars: tuple[Bar, ...] = ()
    left: int = LEFT  # where the plot starts (the axis labels end just before)


def nice_max(value: float) -> float:
    """Round ``value`` up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def tick_values(top: float) -> list[int]:
    """Return the gridlines' values: whole numbers only, each drawn where it belongs.

    Halves of ``top`` when whole (0, 50, 100); every unit up to 5 otherwise (0…5), since a
    tick at 2.5 labelled "2" misplaced the figures.
    """
    whole = int(top)
    if whole % 2 == 0:
        return [0, whole // 2, whole]
    if whole <= 5:
        return list(range(whole + 1))
    return [0, whole]


def duration_label(hours: float | None) -> str:
    """Say a duration as people do: "—", "40 min", "5 h", "2 d 7 h"."""
    if hours is None:
        return "—"
    minutes = round(hours * 60)
    if minutes < 60:
        return f"{minutes} min"
    days, rest = divmod(round(hours), 24)
    if not days:
        return f"{rest} h"
    return f"{days} d {rest} h" if rest else f"{days} d"


def _frame(
    days: list[dt.date], top_value: float
) -> tuple[float, list[Tick], list[tuple[float, str]], float]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_max(top_value)
    ticks = [Tick(TOP + plot_h * (1 - v / top), f"{v:,}") for v in tick_values(top)]
    step = plot_w / max(1, len(days))
    label_every = max(1, math.ceil(len(days) / 6))
    x_labels = [
        (LEFT + step * (i + 0.5), day.strftime("%b %-d"))
        for i, day in enumerate(days)
        if i % label_every == 0 or i == len(days) - 1
    ]
    return top, ticks, x_labels, step


def line_chart(series: dict[dt.date, int]) -> Chart:
    """Return a line through one value per day."""
    days = list(series)
    top, ticks, x_labels, step = _frame(days, max(series.values(), default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    points = " ".join(
        f"{LEFT + step * (i + 0.5):.1f},{TOP + plot_h * (1 - value / top):.1f}"
        for i, value in enumerate(series.values())
    )
    return Chart(WIDTH, HEIGHT, ticks, x_labels, points=points)


def bar_chart(*series: dict[dt.date, int]) -> Chart:
    """Return grouped bars: for each day, one bar per series (same days in each)."""
    days = list(series[0])
    top, ticks, x_labels, step = _frame(
        days, max((max(s.values(), default=0) for s in series), default=0)
    )
    plot_h = HEIGHT - TOP - BOTTOM
    width = max(1.0, step * 0.8 / len(series))
    bars = []
    for i, day in enumerate(days):
        for k, values in enumerate(series):
            value = values[day]
            height = plot_h * value / top
            bars.append(
                Bar(
                    x=LEFT + step * i + step * 0.1 + width * k,
                    y=TOP + plot_h - height,
                    width=width,
                    height=height,
                    series=k,
                    label=f"{day.isoformat()}: {value:,}",
                )
            )
    return Chart(WIDTH, HEIGHT, ticks, x_labels, bars=tuple(bars))
