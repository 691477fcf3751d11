"""Stretches no runner covers on foot (analysis/transport.py)."""

from __future__ import annotations

import numpy as np
import pytest

from coursewatch.analysis.transport import journey, journey_of
from coursewatch.formats import RawPoints
from coursewatch.sim.simulate import shuttle_run, simulate_run, straight_course, trail_course
from coursewatch.track import build_track


def test_one_fix_thrown_kilometres_away_is_no_vehicle() -> None:
    t = np.arange(0.0, 3000.0, 300.0)
    lat, lon = np.full(len(t), 45.0), 6.0 + np.arange(len(t)) * 0.005  # 390 m a ping
    lat[4] += 0.06  # one fix 6.7 km north
    track = build_track(RawPoints.from_lists("glitch", list(lat), list(lon), None, list(t)))
    assert journey(track, 0, len(t) - 1) is None
    lat[4:] += 0.06  # moved there, and on from there: the way there was fast
    lat[5:] += 0.06
    ride = build_track(RawPoints.from_lists("ride", list(lat), list(lon), None, list(t)))
    assert journey(ride, 0, len(t) - 1) is not None


@pytest.mark.parametrize("interval_s", [1.0, 30.0, 60.0])
def test_a_ride_round_a_valley_is_a_vehicle(interval_s: float) -> None:
    """Out 2 km, along and back to the course at 48 km/h, 8 min: no straight line ten minutes
    long is faster than a runner (the ride ends 4 km from where it began), its way is."""
    course = trail_course(12_000.0, n_stations=2)
    run = shuttle_run(course, 3_000.0, 7_000.0, interval_s=interval_s)
    found = journey_of(run.time_s, run.lat, run.lon)
    assert found is not None and found.speed_mps * 3.6 > 40.0
    ride_s = run.time_s[run.off_course][[0, -1]]  # the ride, not the running around it
    got_s = run.time_s[[found.k0, found.k1]]
    assert np.abs(got_s - ride_s).max() <= 60.0 + interval_s, got_s - ride_s


@pytest.mark.parametrize("interval_s", [1.0, 60.0, 600.0])
def test_a_fast_runner_with_noisy_fixes_is_no_vehicle(interval_s: float) -> None:
    """5 m/s (3:20/km) for 8 km with 8 m GPS error: each step a minute apart may be faster
    than 18 km/h, none is a ride."""
    run = simulate_run(straight_course(8_000.0), pace_mps=5.0, interval_s=interval_s,
                       gps_sigma_m=8.0)  # fmt: skip
    assert journey_of(run.time_s, run.lat, run.lon) is None
