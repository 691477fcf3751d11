"""Inline SVG charts for the HTML report: elevation profile and progress, excursions shaded.

Drawn server side so the page needs no charting library and shows its charts even with
JavaScript off. Every text is escaped; numbers are rounded to keep the file small.

>>> nice_step(170.0, 6)
50.0
>>> nice_step(8.0, 5)
2.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

import numpy as np

from coursewatch.geo import FloatArray
from coursewatch.reports.profile import Band, Profiles
from coursewatch.reports.summary import numbers
from coursewatch.units import Units

WIDTH = 800
HEIGHT = 250
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 34
BAND_MIN_PX = 3.0
RUNNER = "#1f6feb"
BAND = {"shortcut": "#f0a020", "off_course": "#d62728", "wrong_way": "#9c27b0"}


def nice_step(span: float, ticks: int) -> float:
    """A round tick spacing (1, 2, 2.5, 5 x 10^n) giving about ``ticks`` ticks over ``span``."""
    raw = max(span, 1e-9) / max(ticks, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for f in (1.0, 2.0, 2.5, 5.0, 10.0):
        if f * mag >= raw:
            return f * mag
    return 10.0 * mag


@dataclass(frozen=True)
class _Axes:
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    def x(self, v: float) -> float:
        return LEFT + (v - self.x_lo) / (self.x_hi - self.x_lo or 1.0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return (
            HEIGHT
            - BOTTOM
            - (v - self.y_lo) / (self.y_hi - self.y_lo or 1.0) * (HEIGHT - TOP - BOTTOM)
        )

    def points(self, xs: FloatArray, ys: FloatArray) -> str:
        return " ".join(
            f"{self.x(float(a)):.1f},{self.y(float(b)):.1f}" for a, b in zip(xs, ys, strict=True)
        )

    def grid(self, x_step: float, y_step: float, x_unit: str, y_unit: str) -> list[str]:
        out: list[str] = []
        for v in _ticks(self.y_lo, self.y_hi, y_step):
            yy = self.y(v)
            out.append(
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            )
            out.append(_label(LEFT - 4, yy + 4, f"{v:g}{y_unit}", "end"))
        for v in _ticks(self.x_lo, self.x_hi, x_step):
            xx = self.x(v)
            out.append(_vline(xx, "grid"))
            out.append(_label(xx, HEIGHT - BOTTOM + 16, f"{v:g}{x_unit}", "middle"))
        return out


def _label(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text{c} x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def _units(x_unit: str, y_unit: str) -> list[str]:
    return [
        _label(WIDTH - RIGHT, HEIGHT - 4, x_unit, "end", "unit"),
        _label(4, TOP + 4, y_unit, "start", "unit"),
    ]


def _vline(x: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'


def _ticks(lo: float, hi: float, step: float) -> Iterable[float]:
    v = math.ceil(lo / step) * step
    while v <= hi + 1e-9:
        yield round(v, 6)
        v += step


def _svg(kind: str, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def _band_title(p: Profiles) -> list[str]:
    """Each band's words: "Excursion 2: km 41.6", "Brief moment 3: km 10.2 (not counted)"."""
    ns = numbers(b.confirmed for b in p.bands)
    return [f"{'Excursion' if b.confirmed else 'Brief moment'} {n}: {p.units.at(b.left_m)}"
            + ("" if b.confirmed else " (not counted)")
            for n, b in zip(ns, p.bands, strict=True)]  # fmt: skip


def _band_rect(x0: float, x1: float, b: Band, title: str) -> str:
    if x1 - x0 < BAND_MIN_PX:
        mid = (x0 + x1) / 2.0
        x0, x1 = mid - BAND_MIN_PX / 2.0, mid + BAND_MIN_PX / 2.0
    colour = BAND.get(b.kind, BAND["off_course"])
    brief = "" if b.confirmed else ' fill-opacity="0.35"'  # (a brief moment: not counted)
    return (
        f'<rect class="band" x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="{colour}"{brief}><title>{escape(title)}</title>'
        "</rect>"
    )


def elevation_svg(p: Profiles) -> str | None:
    """Elevation against course distance, excursions shaded, stations ticked (km and m, or
    miles and feet). None: no elevation."""
    if p.ele_m is None or p.ele_s_m is None or not len(p.ele_m):
        return None
    u = p.units
    ele = u.up(p.ele_m)
    lo, hi = float(np.nanmin(ele)), float(np.nanmax(ele))
    pad = max((hi - lo) * 0.08, u.up(10.0))
    ax = _Axes(0.0, u.along(p.length_m), lo - pad, hi + pad)
    body = ax.grid(nice_step(ax.x_hi, 8), nice_step(ax.y_hi - ax.y_lo, 4), "", "")
    for b, title in zip(p.bands, _band_title(p), strict=True):
        body.append(_band_rect(ax.x(u.along(b.start_m)), ax.x(u.along(b.end_m)), b, title))
    xs = u.along(p.ele_s_m)
    line = ax.points(xs, ele)
    base = f"{ax.x(float(xs[-1])):.1f},{ax.y(ax.y_lo):.1f} {ax.x(0.0):.1f},{ax.y(ax.y_lo):.1f}"
    body.append(f'<polygon class="ground" points="{line} {base}"/>')
    body.append(f'<polyline class="ele" points="{line}"/>')
    for m in p.marks:
        xx = ax.x(u.along(m.course_m))
        body.append(
            f'<path class="station" d="M{xx:.1f},{HEIGHT - BOTTOM} l-5,8 h10 z">'
            f"<title>{escape(m.label)} ({u.at(m.course_m)})</title></path>"
        )
    body += _units(u.name, u.height)
    return _svg("elevation", "Elevation profile with excursions shaded", body)


def progress_svg(p: Profiles, ghost: str | None) -> str:
    """Course distance against race time: the runner, the ghost, the excursions shaded."""
    u = p.units
    hours = p.duration_s / 3600.0
    ax = _Axes(0.0, hours, 0.0, u.along(p.length_m))
    body = ax.grid(nice_step(hours, 8), nice_step(ax.y_hi, 4), "h", "")
    for b, title in zip(p.bands, _band_title(p), strict=True):
        body.append(_band_rect(ax.x(b.start_s / 3600), ax.x(b.end_s / 3600), b, title))
    if p.ghost_s is not None and p.ghost_m is not None:
        pts = ax.points(p.ghost_s / 3600.0, u.along(p.ghost_m))
        title = escape(ghost or "ghost")
        body.append(f'<polyline class="ghost" points="{pts}"><title>{title}</title></polyline>')
    if len(p.time_s):
        pts = ax.points(np.maximum(p.time_s, 0.0) / 3600.0, u.along(p.progress_m))
        body.append(f'<polyline class="runner" points="{pts}" stroke="{RUNNER}"/>')
    for m in p.marks:
        cx, cy = ax.x(m.elapsed_s / 3600), ax.y(u.along(m.course_m))
        body.append(
            f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="3">'
            f"<title>{escape(m.label)}</title></circle>"
        )
    body += _units(p.time_heading, u.name)
    return _svg("progress", f"Progress along the course against {p.time_heading}", body)


def runners_svg(
    length_m: float, series: list[tuple[str, str, FloatArray, FloatArray]], u: Units
) -> str:
    """Several runners' progress (name, colour, race time s, course m) on one chart, in the
    race's units ``u``."""
    end_s = max([float(t[-1]) for _, _, t, _ in series if len(t)] + [1.0])
    ax = _Axes(0.0, end_s / 3600.0, 0.0, u.along(length_m))
    body = ax.grid(nice_step(ax.x_hi, 8), nice_step(ax.y_hi, 4), "h", "")
    for name, colour, t, s in series:
        if len(t):
            pts = ax.points(np.maximum(t, 0.0) / 3600.0, u.along(s))
            body.append(
                f'<polyline class="runner" points="{pts}" stroke="{colour}">'
                f"<title>{escape(name)}</title></polyline>"
            )
    body += _units("race time", u.name)
    return _svg("progress", "Progress of every runner against race time", body)
