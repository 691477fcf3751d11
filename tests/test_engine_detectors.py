"""The off-course and wrong-way detectors as pure state machines: times and values in."""

from __future__ import annotations

import numpy as np

from coursewatch.engine import events as L
from coursewatch.engine import offcourse as oc
from coursewatch.engine import wrongway as ww
from coursewatch.engine.config import C, EngineConfig

CFG = EngineConfig().to_kernel()


def feed_offcourse(
    offsets: list[float],
    dt: float = 1.0,
    speed: float = 2.5,
    at_station: bool = False,
    noise_m: float = 0.0,
) -> list[int]:
    st = np.zeros(oc.LEN)
    ev = np.zeros(L.EV_FIELDS)
    codes = []
    for i, d in enumerate(offsets):
        step = (
            i * dt,
            dt if i else 0.0,
            speed * dt,
            0,
            0,
            d,
            d,
            i,
            np.nan,
            noise_m,
            at_station,
        )
        codes.append(oc.offcourse_step(st, *step, 1e9, 0.0, CFG, ev))
    return codes


def test_offset_growing_away_raises_once_then_clears_once() -> None:
    out = [5.0] * 30 + [5.0 + 2.5 * k for k in range(60)] + [150.0 - 5 * k for k in range(30)]
    codes = feed_offcourse(out + [5.0] * 30)
    assert codes.count(L.CODE_OFF_COURSE) == 1
    assert codes.count(L.CODE_BACK_ON_COURSE) == 1
    alarm_at = codes.index(L.CODE_OFF_COURSE) - 30
    assert 0 < alarm_at * 2.5 < 100  # metres run past the turn


def test_hovering_below_the_margin_never_raises() -> None:
    assert set(feed_offcourse([5.0] * 20 + [50.0] * 600)) == {0}


def test_a_noisy_receiver_gets_a_wider_margin() -> None:
    hover = [5.0] * 20 + [70.0] * 60
    assert L.CODE_OFF_COURSE in feed_offcourse(hover)
    assert set(feed_offcourse(hover, noise_m=9.0)) == {0}  # estimated 9 m: 20 m more margin


def test_minutes_on_a_path_beside_the_line_widen_the_margin() -> None:
    # the same climb from 40 to 70 m: straight after leaving the line it is a wrong turn; after
    # three minutes at 40-45 m (an older version of the course) it is the same path wandering
    rise = [40.0 + k for k in range(31)] + [70.0] * 10
    assert L.CODE_OFF_COURSE in feed_offcourse([5.0] * 200 + rise)
    beside = [5.0] * 200 + [40.0 + 5.0 * (k % 2) for k in range(180)]
    assert set(feed_offcourse(beside + rise)) == {0}
    # a tracker that pings every few minutes cannot show it was beside the line all along
    assert L.CODE_OFF_COURSE in feed_offcourse([5.0, 40.0, 45.0, 70.0, 70.0], dt=120.0)


def test_after_a_gap_in_the_fixes_the_path_beside_the_line_is_not_assumed() -> None:
    # three minutes 40 m off, then a minute without fixes, then off on the wrong trail: what
    # happened in the gap is unknown, so no extra margin
    rise = [40.0 + k for k in range(31)] + [70.0] * 10
    offsets = [5.0] * 200 + [40.0] * 180 + rise
    times = [float(i) for i in range(380)] + [440.0 + i for i in range(len(rise))]
    st = np.zeros(oc.LEN)
    ev = np.zeros(L.EV_FIELDS)
    codes = []
    for i, (t, d) in enumerate(zip(times, offsets, strict=True)):
        dt = t - times[i - 1] if i else 0.0
        codes.append(oc.offcourse_step(st, 1e9 + t, dt, 2.5 * dt, 0, 0, d, d, i, np.nan, 0.0, False,
                                       1e9, 0.0, CFG, ev))  # fmt: skip
    assert L.CODE_OFF_COURSE in codes


def test_how_far_off_the_runner_went_is_from_the_whole_course() -> None:
    """Dark Sky live: "back on course ... (at most 1.08 mi off)" for pings at most 0.52 mi
    from the course: the furthest from where the engine held the runner, not from the line
    (the runner page and analyze said 0.52 mi)."""
    st = np.zeros(oc.LEN)
    ev = np.zeros(L.EV_FIELDS)
    held = [0.0] * 30 + [20.0 * k for k in range(1, 31)] + [0.0] * 120  # from the held place
    line = [min(d, 250.0) for d in held]  # ... and from the nearest part of the course
    codes = []
    for i, (d, ln) in enumerate(zip(held, line, strict=True)):
        s = 2.5 * i if d == 0.0 else 75.0
        codes.append(oc.offcourse_step(st, 1e9 + i, 1.0 if i else 0.0, 2.5, 2.5 * i, 0.0, d, ln,
                                       s, np.nan, 0.0, False, 1e9, 0.0, CFG, ev))  # fmt: skip
    assert L.CODE_OFF_COURSE in codes and codes[-1] == 0
    assert any(c in (L.CODE_BACK_ON_COURSE, L.CODE_SHORTCUT) for c in codes)
    assert ev[L.EV_MAXOFF] == 250.0


def test_nothing_is_raised_before_the_runner_was_ever_on_the_line() -> None:
    assert set(feed_offcourse([300.0] * 100)) == {0}


def test_standing_still_off_the_line_is_not_lost() -> None:
    assert set(feed_offcourse([5.0] * 10 + [90.0] * 300, speed=0.0)) == {0}


def test_nobody_is_off_course_inside_an_aid_station_zone() -> None:
    assert set(feed_offcourse([5.0] * 10 + [5.0 + 3 * k for k in range(100)], at_station=True)) == {
        0
    }


def test_wrong_way_needs_distance_and_persistence() -> None:
    st = np.zeros(ww.LEN)
    ev = np.zeros(L.EV_FIELDS)
    s = list(np.arange(0, 3000, 2.5)) + list(np.arange(3000, 2000, -2.5))
    codes = [
        ww.wrongway_step(st, float(i), 0.0, 0.0, float(v), True, CFG, ev) for i, v in enumerate(s)
    ]
    assert codes.count(L.CODE_WRONG_WAY) == 1
    back_m = 3000 - s[codes.index(L.CODE_WRONG_WAY)]
    assert CFG[C.ww_dist_m] <= back_m < CFG[C.ww_dist_m] + 250
    assert ev[L.EV_LEFT_S] == 3000.0


def test_short_backtrack_is_not_wrong_way() -> None:
    st = np.zeros(ww.LEN)
    ev = np.zeros(L.EV_FIELDS)
    s = (
        list(np.arange(0, 1000, 2.5))
        + list(np.arange(1000, 850, -2.5))
        + list(np.arange(850, 2000, 2.5))
    )
    assert {
        ww.wrongway_step(st, float(i), 0, 0, float(v), True, CFG, ev) for i, v in enumerate(s)
    } == {0}


def _back_from_off_course(at_s: float) -> np.ndarray:
    st = np.zeros(ww.LEN)
    ww.restart(st, 5000.0, at_s, 0.0, 0.0)
    ww.rejoined(st, 5000.0)
    return st


def test_running_back_just_after_rejoining_is_caught_sooner() -> None:
    st = _back_from_off_course(1000.0)
    ev = np.zeros(L.EV_FIELDS)
    back = [1000.0 - 2.5 * k for k in range(1, 120)]
    codes = [ww.wrongway_step(st, 5000.0 + k, 0, 0, s, True, CFG, ev) for k, s in enumerate(back)]
    assert L.CODE_WRONG_WAY in codes
    assert 1000.0 - back[codes.index(L.CODE_WRONG_WAY)] < CFG[C.ww_dist_m]


def test_a_rejoin_put_on_the_wrong_pass_and_corrected_is_not_wrong_way() -> None:
    # the rejoin was matched 200 m ahead (the course doubles back there); one fix later the
    # progress is put right, and the runner walks on forward from there
    ahead = [800.0 + 0.5 * k for k in range(1, 120)]
    codes = []
    for rematch in (False, True):
        st = _back_from_off_course(1000.0)
        ev = np.zeros(L.EV_FIELDS)
        if rematch:
            ww.rematched(st, 5001.0, 800.0, 0.0, 0.0)
        codes.append(
            {ww.wrongway_step(st, 5001.0 + k, 0, 0, s, True, CFG, ev) for k, s in enumerate(ahead)}
        )
    assert L.CODE_WRONG_WAY in codes[0]  # without the correction: a false wrong way
    assert codes[1] == {0}


def feed_path(fixes: list[tuple[float, float, float]], end_m: float = 1e9) -> list[int]:
    """The off-course detector over (offset, progress, metres moved) at 1 s, the runner
    moving in a straight line."""
    st = np.zeros(oc.LEN)
    ev = np.zeros(L.EV_FIELDS)
    x = np.cumsum([step for _, _, step in fixes])
    return [
        oc.offcourse_step(st, 1e9 + i, 1.0 if i else 0.0, step, x[i], 0.0, d, d, s, np.nan, 0.0,
                          False, end_m, 0.0, CFG, ev)
        for i, (d, s, step) in enumerate(fixes)
    ]  # fmt: skip


def leave_at(s: float) -> list[tuple[float, float, float]]:
    """On the line at ``s`` for 30 s, then straight off it to 150 m."""
    return [(5.0, s, 2.5)] * 30 + [(5.0 + 2.5 * k, s, 2.5) for k in range(58)]


def test_crossing_another_part_of_the_course_is_not_coming_back() -> None:
    out = leave_at(5000.0)
    cross = [(5.0, 4000.0, 2.5)] * 16  # 40 m across the course 1 km behind
    beyond = [(150.0, 4000.0, 2.5)] * 30
    codes = feed_path(out + cross + beyond)
    assert codes.count(L.CODE_OFF_COURSE) == 1
    assert codes.count(L.CODE_BACK_ON_COURSE) == 0
    # back where they left: the way back
    codes = feed_path(out + cross + beyond + [(5.0, 5000.0 + k, 2.5) for k in range(5)])
    assert codes.count(L.CODE_BACK_ON_COURSE) == 1


def test_following_the_course_far_from_where_the_runner_left_is_a_rejoin() -> None:
    along = [(5.0, 4000.0 + 2.5 * k, 2.5) for k in range(60)]  # 150 m along it, 1 km behind
    codes = feed_path(leave_at(5000.0) + along)
    assert codes.count(L.CODE_BACK_ON_COURSE) == 1
    assert codes.index(L.CODE_BACK_ON_COURSE) - len(leave_at(5000.0)) == 40  # after 100 m
    # a cut: further along than they ran, confirmed the same way
    codes = feed_path(leave_at(5000.0) + [(5.0, 9000.0 + 2.5 * k, 2.5) for k in range(60)])
    assert codes.count(L.CODE_SHORTCUT) == 1
    assert codes.index(L.CODE_SHORTCUT) - len(leave_at(5000.0)) == 40
    # near the finish, or at an aid station, a way back needs no following
    codes = feed_path(leave_at(5000.0) + [(5.0, 9950.0, 2.5)] * 5, end_m=10_000.0)
    assert codes.index(L.CODE_SHORTCUT) - len(leave_at(5000.0)) == 1


def test_a_crossing_is_not_a_way_back_however_long_the_runner_stays_at_it() -> None:
    # they stand 5 min where the trail crosses the course, then go on along the trail
    cross = [(5.0, 4000.0, 2.5)] * 8 + [(5.0, 4000.0, 0.0)] * 300
    away = [(5.0 + 2.5 * k, 4000.0, 2.5) for k in range(60)]
    codes = feed_path(leave_at(5000.0) + cross + away + [(150.0, 4000.0, 2.5)] * 20)
    assert codes.count(L.CODE_OFF_COURSE) == 1
    assert L.CODE_BACK_ON_COURSE not in codes
    # nor is the filter moving them 150 m along it while they stand there
    rematch = [(5.0, 4150.0, 0.0)] * 20
    codes = feed_path(leave_at(5000.0) + cross + rematch)
    assert L.CODE_BACK_ON_COURSE not in codes


def test_a_runner_held_running_back_who_leaves_the_line_is_not_held_at_the_next_way_back() -> None:
    back = [(5.0, 3000.0 - 2.5 * k, 2.5) for k in range(80)]  # held: 200 m back along it
    off = [(5.0 + 2.5 * k, 2800.0, 2.5) for k in range(60)]  # off the line again
    cross = [(5.0, 9000.0, 2.5)] * 16  # across the course far ahead
    codes = feed_path(leave_at(5000.0) + back + off + cross + [(150.0, 9000.0, 2.5)] * 10)
    assert codes.count(L.CODE_OFF_COURSE) == 1
    assert L.CODE_SHORTCUT not in codes and L.CODE_BACK_ON_COURSE not in codes


def test_a_runner_held_running_back_is_released_by_running_forward_not_by_a_rematch() -> None:
    # back on the line 2 km behind where they left, then 200 m along it backwards
    back = [(5.0, 3000.0 - 2.5 * k, 2.5) for k in range(80)]
    rematch = [(5.0, 2800.0 + 150.0, 0.5)] * 5  # the filter moves them 150 m on; they stand
    codes = feed_path(leave_at(5000.0) + back + rematch)
    assert L.CODE_BACK_ON_COURSE not in codes
    forward = [(5.0, 2950.0 + 2.5 * k, 2.5) for k in range(1, 40)]
    codes = feed_path(leave_at(5000.0) + back + rematch + forward)
    assert codes.count(L.CODE_BACK_ON_COURSE) == 1


def test_a_long_wrong_way_is_confirmed_for_race_hq_once() -> None:
    """A wrong way is on the line: its distance from it never confirmed one, and race HQ never
    heard of a runner going back along the course for an hour. A kilometre back from the
    furthest point they reached, it is confirmed, once; the way forward again still ends it."""
    st = np.zeros(ww.LEN)
    ev = np.zeros(L.EV_FIELDS)
    s = [*np.arange(0, 3000, 2.5), *np.arange(3000, 1000, -2.5), *np.arange(1000, 1400, 2.5)]
    codes = [
        ww.wrongway_step(st, float(i), 0.0, 0.0, float(v), True, CFG, ev) for i, v in enumerate(s)
    ]
    assert codes.count(L.CODE_WRONG_WAY) == codes.count(L.CODE_WW_ALERT) == 1
    at = codes.index(L.CODE_WW_ALERT)
    assert 3000 - s[at] == CFG[C.ww_hq_m] and codes.index(L.CODE_WRONG_WAY) < at
    assert codes.count(L.CODE_WRONG_WAY_END) == 1 and st[ww.STATE] == 0.0
