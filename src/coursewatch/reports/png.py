"""The PNG report: a static map and profile for sharing, at exactly the pixel size asked.

Drawn with matplotlib's Agg canvas on a bare :class:`~matplotlib.figure.Figure` (no pyplot,
no GUI backend, no global state). The map is in the course's local metric frame, so it keeps
its true shape without tiles; the profile under it is the course's elevation (or, for a course
file without elevation, the runner's progress against race time) with the excursions shaded.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec

from coursewatch.analysis import Analysis, Excursion
from coursewatch.reports.compare import Runner
from coursewatch.reports.profile import Profiles, build_profiles, stride_indices
from coursewatch.reports.splits import Splits
from coursewatch.reports.summary import (
    KIND_NAMES,
    ReportInfo,
    cutoff_line,
    finish_line,
    headline,
)
from coursewatch.units import Units

DPI = 100
MIN_PX = 200
MAX_PX = 8000
BAND_COLOURS = {"shortcut": "#f0a020", "off_course": "#d62728", "wrong_way": "#9c27b0"}
MAX_LABELS = 14


def _figure(width_px: int, height_px: int) -> tuple[Figure, float]:
    if not (MIN_PX <= width_px <= MAX_PX and MIN_PX <= height_px <= MAX_PX):
        raise ValueError(f"PNG size must be {MIN_PX}..{MAX_PX} px each way")
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, min(width_px, height_px) / 900.0


def _line(fig: Figure, y: float, text: str, size: float, **style: object) -> None:
    """One line of text across the top of the figure, made smaller (to two thirds) and then
    cut with an ellipsis until it fits: a long race name ran off the image ("— swammie_shuff")."""
    t = fig.text(0.02, y, text, fontsize=size, va="top", **style)  # type: ignore[arg-type]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    room = 0.96 * fig.bbox.width
    fits = size
    while t.get_window_extent(renderer).width > room and fits > size * 0.67:
        fits *= 0.92
        t.set_fontsize(fits)
    shown = text
    while t.get_window_extent(renderer).width > room and len(shown) > 8:
        shown = shown[: int(len(shown) * 0.9)].rstrip()
        t.set_text(shown + "…")


def _grid(fig: Figure) -> GridSpec:
    return fig.add_gridspec(
        2, 1, height_ratios=(2.6, 1.0), left=0.08, right=0.98, top=0.88, bottom=0.07, hspace=0.22
    )


def _save(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def render_png(a: Analysis, info: ReportInfo, width_px: int = 1200, height_px: int = 900) -> bytes:
    """The map and profile as PNG bytes of exactly ``width_px`` x ``height_px``."""
    fig, scale = _figure(width_px, height_px)
    splits = info.splits(a)
    profiles = build_profiles(a, splits)
    _line(fig, 0.975, f"{info.title} — {info.runner}", 15 * scale, fontweight="bold")
    colour = "#c62828" if a.confirmed else "#2e7d32"
    _line(fig, 0.94, headline(a), 12 * scale, color=colour)
    missed = cutoff_line(splits, info, brief=True)
    said = finish_line(a, info) + (f" · {missed}" if missed else "")
    _line(fig, 0.912, said, 10 * scale, color="#c62828" if missed else "#57606a")
    grid = _grid(fig)
    draw_map(fig.add_subplot(grid[0]), a, splits, scale)
    prof = fig.add_subplot(grid[1])
    if profiles.ele_m is not None:
        draw_elevation(prof, profiles, scale)
    else:
        draw_progress(prof, profiles, splits.ghost, scale)
    return _save(fig)


def _stroke(e: Excursion, scale: float) -> dict[str, Any]:
    """An excursion's line on a map: a brief moment (not counted) thinner and lighter."""
    return {"lw": 3.0 * scale, "alpha": 1.0} if e.alerted else {"lw": 1.5 * scale, "alpha": 0.45}


def draw_map(ax: Axes, a: Analysis, splits: Splits, scale: float) -> None:
    course, tr, u = a.course, a.track, a.units
    cx, cy = u.along(course.x), u.along(course.y)
    ax.plot(cx, cy, color="#6e7781", lw=4 * scale, alpha=0.6, label="course")
    k = stride_indices(len(tr), 20_000)
    tx, ty = course.frame.to_xy(tr.lat[k], tr.lon[k])
    ax.plot(u.along(tx), u.along(ty), color="#1f6feb", lw=1.2 * scale, label="runner")
    named: set[str] = set()  # one legend entry a kind
    for e in a.excursions:
        sl = slice(e.first_fix, e.last_fix + 1)
        ex, ey = course.frame.to_xy(tr.lat[sl], tr.lon[sl])
        colour = BAND_COLOURS.get(e.kind, "#d62728")
        name = KIND_NAMES.get(e.kind, e.kind) if e.alerted else "brief moment (not counted)"
        label = name if name not in named else None
        named.add(name)
        ax.plot(u.along(ex), u.along(ey), color=colour, label=label, **_stroke(e, scale))
    alarms = [e.alerted for e in a.excursions if e.alerted is not None]
    if alarms:
        ax_, ay_ = course.frame.to_xy([p.lat for p in alarms], [p.lon for p in alarms])
        ax.plot(
            u.along(ax_),
            u.along(ay_),
            "o",
            ms=8 * scale,
            mfc="white",
            mec="#d62728",
            mew=2 * scale,
            label="race HQ alerted",
        )
    if splits.rows:
        sx, sy = course.xy_at(np.array([r.course_m for r in splits.rows]))
        ax.plot(
            u.along(sx),
            u.along(sy),
            "o",
            ms=5 * scale,
            mfc="#ffd33d",
            mec="#222",
            label="station",
            ls="none",
        )
        if len(splits.rows) <= MAX_LABELS:
            for r, x, y in zip(splits.rows, sx, sy, strict=True):
                ax.annotate(
                    r.label,
                    (u.along(float(x)), u.along(float(y))),
                    fontsize=7 * scale,
                    xytext=(4, 3),
                    textcoords="offset points",
                    color="#333",
                )
    _map_axes(ax, scale, u)


def _map_axes(ax: Axes, scale: float, u: Units) -> None:
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{u.name} east", fontsize=8 * scale)
    ax.set_ylabel(f"{u.name} north", fontsize=8 * scale)
    ax.tick_params(labelsize=7 * scale)
    ax.grid(color="#eaeef2", lw=0.6)
    ax.legend(loc="best", fontsize=8 * scale, framealpha=0.85)


def _profile_axes(ax: Axes, xlabel: str, ylabel: str, scale: float) -> None:
    ax.set_xlabel(xlabel, fontsize=8 * scale)
    ax.set_ylabel(ylabel, fontsize=8 * scale)
    ax.tick_params(labelsize=7 * scale)
    ax.grid(color="#eaeef2", lw=0.6)


def _shade(ax: Axes, p: Profiles, by_time: bool) -> None:
    u = p.units
    span = p.duration_s / 3600.0 if by_time else u.along(p.length_m)
    for b in p.bands:
        lo, hi = (
            (b.start_s / 3600.0, b.end_s / 3600.0)
            if by_time
            else (u.along(b.start_m), u.along(b.end_m))
        )
        if hi - lo < span * 0.003:
            mid = (lo + hi) / 2.0
            lo, hi = mid - span * 0.0015, mid + span * 0.0015
        alpha = 0.3 if b.confirmed else 0.1  # (a brief moment, not counted: lighter)
        ax.axvspan(lo, hi, color=BAND_COLOURS.get(b.kind, "#d62728"), alpha=alpha, lw=0)


def draw_elevation(ax: Axes, p: Profiles, scale: float) -> None:
    assert p.ele_s_m is not None and p.ele_m is not None
    u = p.units
    xs, ele = u.along(p.ele_s_m), u.up(p.ele_m)
    floor = float(np.nanmin(ele)) - u.up(20.0)
    _shade(ax, p, by_time=False)
    ax.fill_between(xs, ele, floor, color="#d8dee4")
    ax.plot(xs, ele, color="#57606a", lw=1.0 * scale)
    ax.set_xlim(0.0, float(xs[-1]))
    ax.set_ylim(bottom=floor)
    _profile_axes(ax, f"{u.name} along the course (excursions shaded)", f"elevation {u.height}",
                  scale)  # fmt: skip


def draw_progress(ax: Axes, p: Profiles, ghost: str | None, scale: float) -> None:
    u = p.units
    _shade(ax, p, by_time=True)
    if p.ghost_s is not None and p.ghost_m is not None:
        ax.plot(
            p.ghost_s / 3600.0,
            u.along(p.ghost_m),
            "--",
            color="#6e7781",
            lw=1.2 * scale,
            label=f"ghost: {ghost}",
        )
    ax.plot(
        np.maximum(p.time_s, 0.0) / 3600.0,
        u.along(p.progress_m),
        color="#1f6feb",
        lw=1.6 * scale,
        label="runner",
    )
    ax.set_xlim(0.0, p.duration_s / 3600.0)
    ax.set_ylim(0.0, u.along(p.length_m))
    _profile_axes(ax, f"{p.time_heading} h (excursions shaded)", u.name, scale)
    if p.ghost_s is not None:
        ax.legend(loc="upper left", fontsize=7 * scale)


def render_compare_png(
    runners: list[Runner], info: ReportInfo, width_px: int = 1200, height_px: int = 900
) -> bytes:
    """Several runners: their tracks on one map, their progress on one chart."""
    fig, scale = _figure(width_px, height_px)
    a0 = runners[0].analysis
    u = a0.units
    _line(fig, 0.975, f"{info.title} — {len(runners)} runners", 15 * scale, fontweight="bold")
    fig.text(
        0.02,
        0.935,
        "; ".join(f"{i + 1}. {r.name} {r.status}" for i, r in enumerate(runners)),
        fontsize=10 * scale,
        color="#57606a",
        va="top",
    )
    grid = _grid(fig)
    ax = fig.add_subplot(grid[0])
    course = a0.course
    ax.plot(
        u.along(course.x),
        u.along(course.y),
        color="#6e7781",
        lw=4 * scale,
        alpha=0.6,
        label="course",
    )
    prog = fig.add_subplot(grid[1])
    for r in runners:
        a = r.analysis
        k = stride_indices(len(a.track), 20_000)
        tx, ty = course.frame.to_xy(a.track.lat[k], a.track.lon[k])
        ax.plot(u.along(tx), u.along(ty), color=r.colour, lw=1.2 * scale, label=r.name)
        for e in a.excursions:
            sl = slice(e.first_fix, e.last_fix + 1)
            ex, ey = course.frame.to_xy(a.track.lat[sl], a.track.lon[sl])
            ax.plot(u.along(ex), u.along(ey), color="#d62728", **_stroke(e, scale))
        prog.plot(
            (a.track.time_s[k] - a.start_ts) / 3600.0,
            u.along(a.progress_m[k]),
            color=r.colour,
            lw=1.6 * scale,
        )
    _map_axes(ax, scale, u)
    prog.set_ylim(0.0, u.along(course.length_m))
    prog.set_xlim(left=0.0)
    _profile_axes(prog, "race time h", u.name, scale)
    return _save(fig)
