"""The course a runner can have reached (engine/reach.py) on generated hairpin courses."""

from __future__ import annotations

import numpy as np
import pytest

from coursewatch import EngineConfig, match_fixes
from coursewatch.course import Course
from coursewatch.simulate import _course_from_xy, simulate_run

OFF = EngineConfig(reach_min_m=1e9)  # the reachable course never consulted


def hairpin(gap_m: float, leg_m: float = 2000.0) -> Course:
    """East along y=0, a half turn, back west ``gap_m`` to the north, then north."""
    east = np.arange(0.0, leg_m + 1e-9, 20.0)
    a = np.linspace(-np.pi / 2, np.pi / 2, 13)[1:-1]
    r = gap_m / 2
    x = np.concatenate([east, leg_m + r * np.cos(a), east[::-1], np.zeros(50)])
    y = np.concatenate([0 * east, r + r * np.sin(a), gap_m + 0 * east,
                        gap_m + 20.0 * np.arange(1, 51)])  # fmt: skip
    return _course_from_xy(x, y, "hairpin", 45.9, 6.87)


def wrong_turn_left(course: Course, at_m: float, interval_s: float) -> tuple:
    """A runner along the course who turns left at ``at_m`` and runs 600 m straight; also
    how far they are past the turn at each fix."""
    step = 2.5 * interval_s
    s = np.arange(0.0, at_m, step)
    x, y = course.xy_at(s)
    (bx, tx), (by, ty) = course.xy_at(np.array([at_m, at_m + 10.0]))
    ux, uy = (tx - bx) / 10.0, (ty - by) / 10.0
    left = np.arange(1, int(600 / step) + 1) * step
    x = np.concatenate([x, bx - uy * left])
    y = np.concatenate([y, by + ux * left])
    t = 1_780_000_000.0 + interval_s * np.arange(len(x))
    lat, lon = course.frame.to_latlon(x, y)
    return t, lat, lon, np.concatenate([np.zeros(len(s)), left])


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
def test_a_wrong_trail_across_the_course_behind_is_caught_before_it(interval_s: float) -> None:
    # on the way back, 250 m after the hairpin, the runner turns towards the way out, 100 m
    # away but 650 m behind along the course: easy to take for a runner gone back to the
    # last marker they saw
    course = hairpin(gap_m=100.0)
    t, lat, lon, past = wrong_turn_left(course, 2000.0 + 157.0 + 250.0, interval_s)
    for cfg, lo_m, hi_m in ((EngineConfig(), 55.0, 100.0), (OFF, 150.0, 600.0)):
        res = match_fixes(course, t, lat, lon, config=cfg)
        alarm = next(e for e in res.events if e.kind == "off_course")
        # with the reachable course the alarm comes about 60 m past the turn; measured from
        # the whole line, only once the runner is 60 m past the way out
        assert lo_m <= past[alarm.fix_index] <= hi_m, (cfg == OFF, past[alarm.fix_index])


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_runner_round_a_tight_switchback_in_noisy_gps_raises_nothing(
    interval_s: float, seed: int
) -> None:
    # the legs 30 m apart and 8 m of GPS error: the filter may waver between them
    course = hairpin(gap_m=30.0)
    run = simulate_run(course, interval_s=interval_s, seed=seed, gps_sigma_m=8.0)
    res = match_fixes(course, run.time_s, run.lat, run.lon)
    assert [e.kind for e in res.events] == []


def test_the_state_slice_fits_the_anchors() -> None:
    from coursewatch.engine import layout as L
    from coursewatch.engine import reach

    assert reach.LEN == L.REACH_LEN
    assert L.REACH + L.REACH_LEN <= L.HYP
