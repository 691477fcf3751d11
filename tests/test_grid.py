"""The grid index: the memo that follows a runner answers exactly as a fresh query."""

from __future__ import annotations

import numpy as np

from coursewatch.engine.grid import new_memo, new_stamp, segments_near, segments_within
from coursewatch.sim.simulate import trail_course


def test_the_memo_answers_as_the_grid_does_along_a_wandering_walk() -> None:
    course = trail_course(8_000.0, n_stations=0)
    g = course.grid
    rng = np.random.default_rng(4)
    # a walk that follows the line, strays, jumps, and comes back: hits and refills both
    k = rng.integers(0, len(course.x), 3000)
    k.sort()
    px = course.x[k] + np.cumsum(rng.normal(0.0, 4.0, len(k))) % 150.0 - 75.0
    py = course.y[k] + rng.normal(0.0, 30.0, len(k))
    grid = (course.x, course.y, g)
    memo_i, memo_f = new_memo()
    stamp = new_stamp(len(course.x) - 1)
    hits = 0
    for qx, qy in zip(px, py, strict=True):
        outs = [(np.zeros(96, np.int64), np.zeros(96), np.zeros(96)) for _ in range(2)]
        hits += bool(memo_f[3] == 1.0 and np.hypot(qx - memo_f[0], qy - memo_f[1]) <= 40.0)
        n1 = segments_near(qx, qy, 100.0, *grid, *outs[0], stamp, memo_i, memo_f)
        n2 = segments_within(qx, qy, 100.0, *grid, *outs[1], stamp)
        assert n1 == n2
        for a, b in zip(outs[0], outs[1], strict=True):
            np.testing.assert_array_equal(a[:n1], b[:n2])
    assert 0 < hits < len(px)  # both ways were taken
