"""Bar and trend charts as inline SVG, drawn on the server from numbers: no script, no chart library.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a text
description, so a screen reader announces what it shows, and every bar has
its value written beside it (colour is never the only carrier of meaning).
Labels are escaped here because the markup is inserted into the page as is.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

_FONT = 'font-family="inherit" font-size="13"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    tone: str = "primary"  # primary | ok | warn | stop | muted


def _nice_max(values: Sequence[int]) -> int:
    top = max(values, default=0)
    if top <= 5:
        return max(top, 1)
    step = 5 if top <= 50 else 10 if top <= 100 else 50
    return ((top + step - 1) // step) * step


def column_chart(bars: Sequence[Bar], *, title: str, description: str, width: int = 560, height: int = 220) -> Markup:
    """Vertical bars (a time series such as infusions per week), value above each bar."""
    left, bottom, top = 8, 36, 22
    plot_h = height - bottom - top
    slot = (width - left * 2) / max(len(bars), 1)
    bar_w = max(6.0, slot * 0.62)
    peak = _nice_max([b.value for b in bars])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{_id(title)}-t {_id(title)}-d"'
        f' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" class="axis"/>',
    ]
    for i, bar in enumerate(bars):
        h = 0 if peak == 0 else plot_h * bar.value / peak
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h - h
        cx = x + bar_w / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="3" class="bar {bar.tone}"/>'
        )
        parts.append(
            f'<text x="{cx:.1f}" y="{y - 6:.1f}" text-anchor="middle" {_FONT} class="value">{bar.value}</text>'
        )
        parts.append(
            f'<text x="{cx:.1f}" y="{height - 14}" text-anchor="middle" {_FONT} class="label">{escape(bar.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def row_chart(bars: Sequence[Bar], *, title: str, description: str, width: int = 560, label_width: int = 230) -> Markup:
    """Horizontal bars (categories with long names), the count at the end of each bar."""
    row_h, gap, top = 26, 10, 6
    height = top * 2 + max(len(bars), 1) * (row_h + gap)
    plot_w = width - label_width - 48
    peak = _nice_max([b.value for b in bars])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{_id(title)}-t {_id(title)}-d"'
        f' xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{top + row_h - 8}" {_FONT} class="label">—</text>')
    for i, bar in enumerate(bars):
        y = top + i * (row_h + gap)
        w = 0 if peak == 0 else max(2.0, plot_w * bar.value / peak)
        parts.append(
            f'<text x="{label_width - 10}" y="{y + row_h / 2 + 5:.1f}" text-anchor="end" {_FONT} class="label">'
            f"{escape(_clip(bar.label, 26))}</text>"
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{row_h}" rx="3" class="bar {bar.tone}"/>'
        )
        parts.append(
            f'<text x="{label_width + w + 8:.1f}" y="{y + row_h / 2 + 5:.1f}" {_FONT} class="value">{bar.value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _clip(text: str, limit: int) -> str:
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        limit = limit // 2  # a CJK character is about twice as wide
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _id(title: str) -> str:
    return f"c{zlib.crc32(title.encode()):08x}"


@dataclass(frozen=True)
class Point:
    on: date
    value: float
    label: str  # the value as written beside its point


def trend_chart(
    points: Sequence[Point],
    *,
    title: str,
    description: str,
    low: float | None = None,
    high: float | None = None,
    width: int = 560,
    height: int = 200,
    date_label: Callable[[date], str] = date.isoformat,
) -> Markup:
    """A measurement over time: points placed by their dates, joined by a line, each value written beside it.

    The vertical axis runs over the measurement's declared range (``low``/``high``, e.g. a 0-10 scale) when
    the pack gives one, else over the values; the first and the last dates are written under the axis.
    """
    left, right, top, bottom = 40, 24, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for p in points]
    lo = low if low is not None else min([*values, 0.0])
    hi = high if high is not None else max([*values, lo + 1])
    hi = max(hi, max(values, default=hi))
    span = (hi - lo) or 1.0
    first = points[0].on if points else None
    days = max(((points[-1].on - first).days if points and first else 0), 1)

    def xy(point: Point) -> tuple[float, float]:
        assert first is not None
        x = left + (plot_w * (point.on - first).days / days if len(points) > 1 else plot_w / 2)
        return x, top + plot_h - plot_h * (point.value - lo) / span

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{_id(title)}-t '
        f'{_id(title)}-d" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" {_FONT} class="label">{hi:g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" {_FONT} class="label">{lo:g}</text>',
    ]
    if len(points) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, points))
        parts.append(f'<polyline points="{line}" class="line" fill="none"/>')
    for point in points:
        x, y = xy(point)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="dot"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y - 9:.1f}" text-anchor="middle" {_FONT} class="value">{escape(point.label)}</text>'
        )
    if points:
        parts.append(
            f'<text x="{left}" y="{height - 10}" {_FONT} class="label">{escape(date_label(points[0].on))}</text>'
        )
    if len(points) > 1:
        parts.append(
            f'<text x="{width - right}" y="{height - 10}" text-anchor="end" {_FONT} class="label">'
            f"{escape(date_label(points[-1].on))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
