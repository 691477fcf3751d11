"""The series the HTML and PNG profiles draw, read off an Analysis (nothing measured here).

Two pictures of the same race: the course's elevation against distance (when the course file
has elevation) and the runner's progress against race time, each with the excursions shaded
and the ghost of the reference splits beside the runner.

>>> stride_indices(10, 4).tolist()
[0, 3, 6, 9]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coursewatch.analysis import Analysis
from coursewatch.geo import FloatArray
from coursewatch.reports.splits import Splits
from coursewatch.units import KM, Units

MIN_BAND_FRACTION = 0.004  # an excursion band is drawn at least this wide, to be seen


@dataclass(frozen=True)
class Band:
    """One excursion on the profiles: course distance and race time, start to end."""

    kind: str
    start_m: float
    end_m: float
    start_s: float
    end_s: float
    confirmed: bool = True  # race HQ was alerted (else a brief moment: shaded lighter)
    left_m: float = 0.0  # where it left the course (the band is drawn wider when short)


@dataclass(frozen=True)
class Mark:
    """A station visit on the profiles."""

    label: str
    course_m: float
    elapsed_s: float


@dataclass(frozen=True)
class Profiles:
    length_m: float
    ele_s_m: FloatArray | None  # course distance of the elevation samples
    ele_m: FloatArray | None
    time_s: FloatArray  # race time of the progress samples
    progress_m: FloatArray
    ghost_s: FloatArray | None  # the ghost's race time at (0, each reference station)
    ghost_m: FloatArray | None
    bands: tuple[Band, ...]
    marks: tuple[Mark, ...]
    units: Units = KM  # the race's: what the axes are in (km and m, or miles and feet)
    time_heading: str = "race time"  # or "since first fix" (Splits.time_heading)

    @property
    def duration_s(self) -> float:
        ends = [float(self.time_s[-1]) if len(self.time_s) else 0.0]
        if self.ghost_s is not None and len(self.ghost_s):
            ends.append(float(self.ghost_s[-1]))
        return max(max(ends), 1.0)


IntArray = np.ndarray[Any, np.dtype[np.int64]]


def stride_indices(n: int, max_points: int) -> IntArray:
    """At most ``max_points`` indices spread evenly over ``range(n)``, first and last kept."""
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def build_profiles(a: Analysis, splits: Splits, max_points: int = 1200) -> Profiles:
    course = a.course
    ele_s = ele = None
    if course.ele_m is not None:
        ele_s = np.linspace(0.0, course.length_m, max_points)
        ele = course.ele_at(ele_s)
    k = stride_indices(len(a.track), max_points)
    time_s = a.track.time_s[k] - a.start_ts
    progress = a.progress_m[k]
    ghost_s = ghost_m = None
    ghosted = [r for r in splits.rows if r.ghost_elapsed_s is not None]
    if ghosted:
        ghost_s = np.array([0.0] + [r.ghost_elapsed_s or 0.0 for r in ghosted])
        ghost_m = np.array([0.0] + [r.course_m for r in ghosted])
    marks = tuple(Mark(r.label, r.course_m, r.elapsed_s) for r in splits.rows)
    return Profiles(course.length_m, ele_s, ele, time_s, progress, ghost_s, ghost_m,
                    excursion_bands(a), marks, a.units, splits.time_heading)  # fmt: skip


def excursion_bands(a: Analysis) -> tuple[Band, ...]:
    out: list[Band] = []
    min_m = MIN_BAND_FRACTION * a.course.length_m
    t_end = a.track.end.timestamp()
    for e in a.excursions:
        s0 = e.left.course_m
        if s0 is None:  # (a recording begun off the line: where it left is not known)
            continue
        s1 = s0
        if e.rejoined is not None and e.rejoined.course_m is not None:
            s1 = e.rejoined.course_m
        lo, hi = min(s0, s1), max(s0, s1)
        if hi - lo < min_m:
            mid = (lo + hi) / 2.0
            lo, hi = mid - min_m / 2.0, mid + min_m / 2.0
        t1 = e.rejoined.time.timestamp() if e.rejoined is not None else t_end
        out.append(
            Band(
                e.kind,
                max(lo, 0.0),
                min(hi, a.course.length_m),
                e.left.time.timestamp() - a.start_ts,
                t1 - a.start_ts,
                e.alerted is not None,
                s0,
            )
        )
    return tuple(out)
