"""The course as the kernel reads it: named arrays, built once per course, and scratch space.

:class:`CourseArrays` holds the line (local x, y and the distance along it at every vertex),
its segment grid, the lattice that projects degrees to metres, and the stations (nobody is off
course at an aid station). :class:`Scratch` is the kernel's working memory for one fix, made
once per course so that no fix allocates; the runners of a course share it (one fix at a
time). Both are named tuples: numba reads their fields by name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from coursewatch.course import Course
from coursewatch.engine.grid import IntArray, SegmentGrid, new_memo, new_stamp
from coursewatch.engine.projection import Lattice
from coursewatch.geo import FloatArray

MAX_CAND = 16  # passes of the course near one fix that the kernel considers, at most
MAX_SEGMENTS = 96  # segments near one fix, at most (the nearest are kept)


class CourseArrays(NamedTuple):
    x: FloatArray  # vertices in the course's local frame, m
    y: FloatArray
    cum: FloatArray  # distance along the course at each vertex, m
    grid: SegmentGrid
    lattice: Lattice
    station_x: FloatArray  # every station, in the local frame
    station_y: FloatArray


# The kernel's working memory for one fix: two tables with a named row each, ``sf[HYP_S, q]``
# (hypothesis q's course distance). Two tables, not a tuple of sixteen arrays: numba types a
# tuple's every member on every call from Python, which costs more than a fix.
F_ROWS = (
    "SEG_T", "SEG_D", "CAND_S", "CAND_D", "HYP_S", "HYP_SCORE", "HYP_COAST", "HYP_T", "HYP_HWM",
    "HYP_TRANS",
)  # fmt: skip
SEG_T = 0  # segments near the fix: where on each the fix projects (0-1) ...
SEG_D = 1  # ... and how far from it, m
CAND_S = 2  # candidate passes (MAX_CAND): course distance ...
CAND_D = 3  # ... and offset, m
HYP_S = 4  # new hypotheses (MAX_CAND + 1, the coast one last): course distance,
HYP_SCORE = 5  # score,
HYP_COAST = 6  # 1 for the coast (off the line) hypothesis,
HYP_T = 7  # time of the last on-course match,
HYP_HWM = 8  # furthest course distance reached,
HYP_TRANS = 9  # log-prior of the move that made it
I_ROWS = ("SEG", "CAND_SEG", "ORDER")
SEG = 0  # segments near the fix (MAX_SEGMENTS)
CAND_SEG = 1  # the segment of each candidate pass
ORDER = 2  # new hypotheses, best first


class Scratch(NamedTuple):
    """One fix's working memory: the float and int tables (rows above, MAX_SEGMENTS wide), and
    the grid query's own (engine/grid.py): segments seen, and the memo that follows a runner."""

    f: FloatArray
    i: IntArray
    stamp: IntArray
    memo_i: IntArray
    memo_f: FloatArray

    @classmethod
    def new(cls, n_segments: int) -> Scratch:
        memo_i, memo_f = new_memo()
        f = np.zeros((len(F_ROWS), MAX_SEGMENTS))
        i = np.zeros((len(I_ROWS), MAX_SEGMENTS), dtype=np.int64)
        return cls(f, i, new_stamp(n_segments), memo_i, memo_f)


class CourseModel:
    """The course arrays the kernel needs, built once per course."""

    def __init__(self, course: Course) -> None:
        self.course = course
        if course.stations:
            sx, sy = course.frame.to_xy(
                [st.lat for st in course.stations], [st.lon for st in course.stations]
            )
        else:
            sx = sy = np.zeros(0)
        lattice = Lattice.around(course.frame, course.lat, course.lon)
        self.arrays = CourseArrays(
            course.x, course.y, course.cum_m, course.grid, lattice,
            np.ascontiguousarray(sx), np.ascontiguousarray(sy),
        )  # fmt: skip
        self.scratch = Scratch.new(len(course.x) - 1)
        # the kernel's machine code for this course's argument types (matcher.compiled),
        # resolved by the first runner that needs it: every runner of the course shares it
        self.run: Callable[..., tuple[int, int]] | None = None

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        la, lo = self.course.frame.to_latlon([x], [y])
        return float(la[0]), float(lo[0])


@lru_cache(maxsize=32)
def course_model(course: Course) -> CourseModel:
    return CourseModel(course)
