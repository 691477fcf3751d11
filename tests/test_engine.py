"""The course engine on generated courses and runners (real data: test_engine_realdata.py)."""

from __future__ import annotations

import numpy as np
import pytest

from coursewatch import EngineConfig, LiveMatcher, match_fixes
from coursewatch.course import Course
from coursewatch.engine import state as L
from coursewatch.engine.config import C
from coursewatch.sim.simulate import simulate_run, straight_course, trail_course


@pytest.fixture(scope="module")
def trail() -> Course:
    return trail_course(30_000.0, seed=11)


def test_clean_run_raises_nothing_and_progress_follows_the_runner(trail: Course) -> None:
    run = simulate_run(trail, interval_s=1.0, seed=2, gps_sigma_m=4.0)
    res = match_fixes(trail, run.time_s, run.lat, run.lon)
    assert [e.kind for e in res.events] == []
    truth = np.arange(len(run.time_s)) * 2.5
    assert np.percentile(np.abs(res.progress_m - truth), 99) < 30.0


@pytest.mark.parametrize("angle", [40.0, 90.0, -120.0])
def test_wrong_turn_is_caught_within_metres_and_rejoin_reported(
    trail: Course, angle: float
) -> None:
    run = simulate_run(
        trail, seed=5, wrong_turn_at_m=12_000.0, wrong_turn_angle_deg=angle, gps_sigma_m=3.0
    )
    res = match_fixes(trail, run.time_s, run.lat, run.lon)
    kinds = [e.kind for e in res.events]
    assert "off_course" in kinds or "wrong_way" in kinds
    alarm = next(e for e in res.events if e.kind in ("off_course", "wrong_way"))
    turn_fix = int(np.flatnonzero(run.off_course)[0])
    run_past_m = (alarm.fix_index - turn_fix) * 2.5
    assert 0 < run_past_m < 250
    assert alarm.left is not None
    assert alarm.left.course_m == pytest.approx(12_000.0, abs=150.0)
    if alarm.kind == "off_course":
        back = next(e for e in res.events if e.kind == "back_on_course")
        assert back.at.course_m == pytest.approx(12_000.0, abs=200.0)


def test_out_and_back_legs_are_told_apart() -> None:
    out = straight_course(5000.0)
    x = np.concatenate([out.x, out.x[::-1][1:]])
    y = np.concatenate([out.y, out.y[::-1][1:] + 15.0])  # the back leg 15 m to the side
    from coursewatch.course import build_course
    from coursewatch.formats import RawPoints

    lat, lon = out.frame.to_latlon(x, y)
    course = build_course(RawPoints.from_lists("t", list(lat), list(lon)))
    run = simulate_run(course, interval_s=10.0, seed=3, gps_sigma_m=5.0)
    res = match_fixes(course, run.time_s, run.lat, run.lon)
    truth = np.arange(len(run.time_s)) * 25.0
    assert np.max(np.abs(res.progress_m - truth)) < 300.0
    assert [e.kind for e in res.events] == []


def test_live_equals_batch(trail: Course) -> None:
    run = simulate_run(trail, seed=9, wrong_turn_at_m=8_000.0, wrong_turn_angle_deg=70.0)
    batch = match_fixes(trail, run.time_s, run.lat, run.lon)
    live = LiveMatcher(trail)
    events = []
    for t, la, lo in zip(run.time_s, run.lat, run.lon, strict=True):
        events.extend(live.push(t, la, lo))
    assert [(e.kind, e.fix_index, e.at.time) for e in events] == [
        (e.kind, e.fix_index, e.at.time) for e in batch.events
    ]
    assert live.progress_m == pytest.approx(batch.progress_m[-1])


def test_late_fix_is_ignored_and_snapshot_rewinds(trail: Course) -> None:
    run = simulate_run(trail, seed=1, interval_s=5.0)
    m = LiveMatcher(trail)
    for i in range(100):
        m.push(run.time_s[i], run.lat[i], run.lon[i])
    snap = m.snapshot()
    progress = m.progress_m
    assert m.push(run.time_s[50], run.lat[50], run.lon[50]) == []
    assert m.progress_m == progress
    for i in range(100, 150):
        m.push(run.time_s[i], run.lat[i], run.lon[i])
    m.restore(snap)
    assert m.progress_m == progress and m.fixes == 100


def test_runner_state_is_small() -> None:
    assert L.STATE_LEN * 8 < 4096
    m = LiveMatcher(straight_course(1000.0))
    assert m.snapshot().nbytes < 4096


def test_config_round_trips_to_the_kernel_vector() -> None:
    cfg = EngineConfig(radius_m=150.0).to_kernel()
    assert cfg[C.radius_m] == 150.0
    assert len(cfg) == len(EngineConfig.names())


def test_every_setting_has_a_slot_of_its_own_and_every_slot_a_setting() -> None:
    names = EngineConfig.names()
    distinct = EngineConfig(**{n: 1000.0 + i for i, n in enumerate(names)}).to_kernel()
    assert [distinct[getattr(C, n)] for n in names] == [1000.0 + i for i in range(len(names))]
    assert sorted(distinct) == [1000.0 + i for i in range(len(names))]
