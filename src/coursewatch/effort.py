"""The course in effort distance: bins with a time factor from their grade (ITRA's km-effort).

100 m of climb costs as much as 1 km of flat; descents count as flat (how much a descent helps
or hurts is learned per runner, :mod:`coursewatch.eta`). The integral of the factors along the
course is its *effort distance*.
"""

from __future__ import annotations

import math

import numpy as np

from coursewatch.course import Course
from coursewatch.geo import FloatArray


def effort_factor(grade: FloatArray) -> FloatArray:
    """Effort metres per metre at ``grade``: ITRA's km-effort (100 m of climb = 1 km of flat).

    Descents count as flat: how much a descent helps or hurts is learned per runner.

    >>> effort_factor(np.array([0.0, 0.1, -0.05])).round(2).tolist()
    [1.0, 2.0, 1.0]
    """
    return 1.0 + 10.0 * np.maximum(grade, 0.0)


class CourseProfile:
    """The course in bins: prior time factor per bin and cumulative effort distance."""

    def __init__(self, course: Course, bin_m: float, max_bins: int) -> None:
        length_m = max(course.length_m, 1.0)
        n = int(min(max_bins, max(1, math.ceil(length_m / bin_m))))
        self.edges_m = np.linspace(0.0, length_m, n + 1)
        self.bin_m = length_m / n
        ele = course.ele_at(self.edges_m)
        grade = np.zeros(n) if ele is None else np.clip(np.diff(ele) / self.bin_m, -0.5, 0.5)
        self.factor = effort_factor(grade)
        self.up = np.maximum(grade, 0.0)
        self.down = np.maximum(-grade, 0.0)
        effort = self.factor * self.bin_m
        self.cum_effort_m = np.concatenate([[0.0], np.cumsum(effort)])
        self.cum_up = np.concatenate([[0.0], np.cumsum(effort * self.up)])
        self.cum_down = np.concatenate([[0.0], np.cumsum(effort * self.down)])
        self.mid_effort_km = (self.cum_effort_m[:-1] + self.cum_effort_m[1:]) / 2000.0
        # each bin's features but the level's, one row a bin (a prediction's one product)
        self.shape_x = np.column_stack([self.mid_effort_km, self.up, self.down])
        self.effort_bin_m = effort
        # the same cumulative arrays as lists: a scalar read of a list is a tenth of numpy's
        self._effort, self._up = self.cum_effort_m.tolist(), self.cum_up.tolist()
        self._down = self.cum_down.tolist()

    def at(self, cum: FloatArray | list[float], s_m: float) -> float:
        """A cumulative array at course distance ``s_m`` (O(1): the bins are uniform)."""
        x = min(max(s_m / self.bin_m, 0.0), len(cum) - 1.0)
        i = min(int(x), len(cum) - 2)
        return float(cum[i] + (x - i) * (cum[i + 1] - cum[i]))

    def effort_at(self, s_m: float) -> float:
        """The effort distance from the start to course distance ``s_m``."""
        return self.at(self._effort, s_m)

    def features(self, s0_m: float, s1_m: float) -> tuple[float, tuple[float, ...]]:
        """Effort metres between two distances and the regression features of that stretch
        (a tuple of floats: the ETA model's sums run on a few of them at a time)."""
        at = self.at
        e0, e1 = at(self._effort, s0_m), at(self._effort, s1_m)
        effort_m = max(e1 - e0, 1e-9)
        up = (at(self._up, s1_m) - at(self._up, s0_m)) / effort_m
        down = (at(self._down, s1_m) - at(self._down, s0_m)) / effort_m
        return effort_m, (1.0, (e0 + e1) / 2000.0, up, down)
