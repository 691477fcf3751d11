"""The course a runner can have reached (engine/reach.py): its anchors, and the engine on
generated hairpin courses that come back near themselves."""

from __future__ import annotations

import numpy as np
import pytest

from coursewatch import EngineConfig, match_fixes
from coursewatch.course import Course
from coursewatch.engine import reach
from coursewatch.engine import state as L
from coursewatch.geo import LocalFrame
from coursewatch.sim.simulate import (
    SimulatedRun,
    cut_run,
    hairpin_course,
    shuttle_run,
    simulate_run,
    straight_course,
)

OFF = EngineConfig(reach_min_m=1e9)  # the reachable course never consulted
CFG = EngineConfig().to_kernel()


def way_back_m(gap_m: float) -> float:
    """On the way back of :func:`hairpin_course`, 250 m after the half turn."""
    return 2000.0 + np.pi * gap_m / 2 + 250.0


def anchors(rc: np.ndarray) -> list[float]:
    return sorted(float(rc[reach.ANCHOR + a * reach.A_FIELDS]) for a in range(int(rc[reach.N])))


def on_line(rc: np.ndarray, t: float, path_m: float, s: float, passes: list[float]) -> None:
    cs = np.array([s, *passes], dtype=np.float64)
    cd = np.full(len(cs), 5.0)
    reach.on_line(rc, t, path_m, s, cs, cd, len(cs), 5.0, 2.5, 10.0, CFG)


def test_the_state_slice_fits_between_its_neighbours() -> None:
    assert reach.LEN == L.REACH_LEN
    assert L.NOISE + L.NOISE_LEN <= L.REACH
    assert L.REACH + L.REACH_LEN <= L.HYP


def test_a_place_the_runner_goes_on_from_is_replaced_and_one_they_do_not_is_kept() -> None:
    rc = np.zeros(reach.LEN)
    on_line(rc, 0.0, 0.0, 1000.0, [3000.0])  # a place the course passes twice
    assert anchors(rc) == [1000.0, 3000.0]
    on_line(rc, 10.0, 30.0, 1030.0, [])  # on along the first pass
    assert anchors(rc) == [1030.0, 3000.0]
    # the second pass is forgotten once the runner has run reach_expire_m without it
    on_line(rc, 500.0, 1100.0, 2100.0, [])
    assert anchors(rc) == [2100.0]
    reach.restart(rc)
    on_line(rc, 600.0, 1400.0, 5000.0, [])
    assert anchors(rc) == [5000.0]


def test_with_more_passes_than_room_the_filters_pick_stays() -> None:
    rc = np.zeros(reach.LEN)
    on_line(rc, 0.0, 0.0, 500.0, [1500.0 + 1000.0 * k for k in range(12)])
    kept = anchors(rc)
    assert len(kept) == reach.MAX_ANCHORS
    assert 500.0 in kept
    # a new place with old ones still kept: the oldest old one makes room, not a new one
    rc = np.zeros(reach.LEN)
    for k in range(reach.MAX_ANCHORS):
        on_line(rc, float(k), 0.0, 100_000.0 + 10_000.0 * k, [])  # each not continued
    on_line(rc, 100.0, 0.0, 50.0, [70_000.0])
    kept = anchors(rc)
    assert 50.0 in kept and 70_000.0 in kept
    assert 100_000.0 not in kept and 110_000.0 not in kept  # the two oldest


def test_the_offset_is_from_the_reachable_course_only_when_measured_from_beyond_it() -> None:
    course = hairpin_course(gap_m=100.0)
    rc = np.zeros(reach.LEN)
    on_line(rc, 0.0, 0.0, 1000.0, [])
    x, y = course.xy_at(1000.0)
    x, y = float(x), float(y) + 70.0  # 70 m towards the way back, which is 30 m away
    geo = (course.x, course.y, course.cum_m)
    s_back = 2000.0 + 157.0 + 1000.0
    d = reach.offset_m(rc, x, y, 20.0, 1000.0, 70.0, 2.5, 10.0, CFG, *geo)
    assert d == 0.0  # measured from the place they left: reachable
    d = reach.offset_m(rc, x, y, 20.0, s_back, 70.0, 2.5, 10.0, CFG, *geo)
    assert d == pytest.approx(70.0, abs=1.0)  # from the way back: 2 km on, not reachable
    assert reach.offset_m(np.zeros(reach.LEN), x, y, 20.0, s_back, 70.0, 2.5, 10.0, CFG, *geo) == 0


def wrong_turn_across(
    course: Course, gap_m: float, seed: int, interval_s: float
) -> tuple[np.ndarray, SimulatedRun]:
    """A runner on the way back who turns left, towards the way out ``gap_m`` away (about
    700 m behind along the course), at 2.5 m/s; per fix, metres run past the turn."""
    run = simulate_run(
        course, interval_s=interval_s, seed=seed, gps_sigma_m=4.0,
        wrong_turn_at_m=way_back_m(gap_m),
        wrong_turn_angle_deg=90.0, wrong_turn_len_m=600.0,
    )  # fmt: skip
    off = run.off_course
    past = np.where(off, (np.cumsum(off) * 2.5 * interval_s), 0.0)
    return past, run


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_wrong_trail_across_the_course_behind_is_caught_before_it(
    interval_s: float, seed: int
) -> None:
    # easy to take for a runner gone back to the last marker they saw, and the filter does
    course = hairpin_course(gap_m=120.0)
    past, run = wrong_turn_across(course, 120.0, seed, interval_s)
    # without the reachable course at 10 s, the way out 700 m behind is no rejoin either:
    # further back than the runner could have retraced between fixes (rejoin_prior)
    late_m = 160.0 if interval_s == 1.0 else 50.0
    for cfg, lo_m, hi_m in ((EngineConfig(), 50.0, 100.0), (OFF, late_m, 600.0)):
        res = match_fixes(course, run.time_s, run.lat, run.lon, config=cfg)
        alarm = next(e for e in res.events if e.kind == "off_course")
        # with the reachable course the alarm comes about 60 m past the turn; measured from
        # the whole line, only once the runner is 60 m past the way out (120 m + 60 m)
        assert lo_m <= past[alarm.fix_index] <= hi_m, (cfg == OFF, past[alarm.fix_index])


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
def test_an_alarm_stands_beside_a_part_of_the_course_the_runner_cannot_have_reached(
    interval_s: float,
) -> None:
    # off the way back towards the way out, then along it, 27 m from it: 25-30 m from a part
    # of the course 1.4 km behind is not back on course
    course = hairpin_course(gap_m=100.0)
    at_m = way_back_m(100.0) + 550.0  # 800 m before the half turn on the way out
    (bx, tx), (by, ty) = course.xy_at(np.array([at_m, at_m + 10.0]))
    ux, uy = (tx - bx) / 10.0, (ty - by) / 10.0  # heading west
    step = 2.5 * interval_s
    s = np.arange(0.0, at_m, step)
    x0, y0 = course.xy_at(s)
    across = np.arange(step, 73.0 + 1e-9, step)  # left (south), to 27 m from the way out
    along = np.arange(step, 400.0, step)  # then east, beside the way out
    x = np.concatenate([x0, bx - uy * across, bx - uy * 73.0 - ux * along])
    y = np.concatenate([y0, by + ux * across, by + ux * 73.0 - uy * along])
    t = 1_780_000_000.0 + interval_s * np.arange(len(x))
    lat, lon = course.frame.to_latlon(x, y)
    res = match_fixes(course, t, lat, lon)
    assert [e.kind for e in res.events] == ["off_course"]


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_runner_round_a_tight_switchback_in_noisy_gps_raises_nothing(
    interval_s: float, seed: int
) -> None:
    # the legs 30 m apart and 8 m of GPS error: the filter may waver between them
    course = hairpin_course(gap_m=30.0)
    run = simulate_run(course, interval_s=interval_s, seed=seed, gps_sigma_m=8.0)
    res = match_fixes(course, run.time_s, run.lat, run.lon)
    assert [e.kind for e in res.events] == []


@pytest.mark.parametrize("interval_s", [1.0, 10.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("gap_m", [120.0, 200.0])
def test_a_wrong_trail_across_the_course_and_back_is_one_alarm(
    gap_m: float, seed: int, interval_s: float
) -> None:
    # it crosses the way out on the way there and again on the way back: crossing another part
    # of the course is not coming back to it
    course = hairpin_course(gap_m=gap_m)
    past, run = wrong_turn_across(course, gap_m, seed, interval_s)
    res = match_fixes(course, run.time_s, run.lat, run.lon)
    # one flag, one way back (and race HQ told once, when it was clear: engine/confirm.py)
    assert [e.kind for e in res.events] == ["off_course", "alert", "back_on_course"]
    back = res.events[2]
    # the rejoin is where the runner left, not a crossing 700 m behind
    bx, by = course.frame.to_xy(np.array([back.at.lat]), np.array([back.at.lon]))
    tx, ty = course.xy_at(np.array([way_back_m(gap_m)]))
    assert np.hypot(bx - tx, by - ty)[0] < 60.0
    assert back.fix_index > np.flatnonzero(past)[0] + 300 / interval_s  # not on the way there
    if interval_s == 1.0:
        # without the rule (a way back anywhere ends the alarm) each crossing is a back on
        # course and the trail beyond it another alarm (at 10 s, sometimes: no fix near it)
        cfg = EngineConfig(oc_follow_m=0.0)
        res = match_fixes(course, run.time_s, run.lat, run.lon, config=cfg)
        assert [e.kind for e in res.events].count("off_course") == 3


@pytest.mark.parametrize("interval_s", [1.0, 5.0])
def test_a_cut_across_a_hairpin_is_a_shortcut_where_the_runner_came_to_the_line(
    interval_s: float,
) -> None:
    """East 500 m, then 200 m straight north to the way back (km 2.815). The filter held the
    runner at km 0.5 for minutes while the offset came from the way back, so the way back read
    "back on course at km 0.50" and the 2.3 km cut was never said (EcoTrail 2022 on the 2024
    line, live): it is a shortcut, where they came to the line."""
    course = hairpin_course(200.0, leg_m=1500.0)
    run = cut_run(course, 500.0, 2815.0, interval_s=interval_s)
    m = match_fixes(course, run.time_s, run.lat, run.lon)
    said = [(e.kind, e.left and e.left.course_m, e.at.course_m) for e in m.events]
    (cut,) = [e for e in m.events if e.kind == "shortcut"]
    assert "back_on_course" not in [e.kind for e in m.events], said
    assert cut.at.course_m == pytest.approx(2815.0, abs=80.0), said
    assert cut.left is not None and cut.left.course_m == pytest.approx(500.0, abs=60.0), said


def test_after_a_cut_the_next_excursion_leaves_from_where_the_runner_is() -> None:
    """Cut across the hairpin to km 2.815, on along the way back to km 2.965, then off it to
    the north: the filter still held the runner at km 0.5, and race HQ read "shortcut to
    km 2.82", then "off course at km 0.50"."""
    course = hairpin_course(200.0, leg_m=1500.0)
    cut = cut_run(course, 500.0, 2815.0, interval_s=1.0)  # 3 m a fix
    k = int(np.flatnonzero(cut.off_course)[-1]) + 1 + 50  # 150 m on from the way back
    xs = np.concatenate([cut.true_x[: k + 1], np.full(150, cut.true_x[k])])
    ys = np.concatenate([cut.true_y[: k + 1], cut.true_y[k] + 3.0 * np.arange(1, 151)])
    lat, lon = course.frame.to_latlon(xs, ys)
    m = match_fixes(course, cut.time_s[0] + np.arange(len(xs)), lat, lon)
    said = [(e.kind, e.left and e.left.course_m) for e in m.events]
    offs = [e for e in m.events if e.kind == "off_course"]
    assert [e.kind for e in m.events][:2] == ["off_course", "shortcut"], said
    assert len(offs) == 2 and offs[1].left is not None, said
    assert offs[1].left.course_m == pytest.approx(2965.0, abs=60.0), said


def test_back_from_a_drive_the_runner_is_placed_where_they_are() -> None:
    """Dark Sky's shuttle: driven from km 247 to km 266, more than a kilometre from every part
    of the course on the way; race HQ's board held the runner at km 247 for 1 h 35 min after
    they were back on the line, 8 km from them (no runner covers that on foot in the time).
    Back from far from the course, a vehicle's reach is as likely: placed on the next fix."""
    course = straight_course(40_000.0)
    run = shuttle_run(course, 6_000.0, 20_000.0, end_m=30_000.0)
    res = match_fixes(course, run.time_s, run.lat, run.lon, start_ts=float(run.time_s[0]))
    back = int(np.flatnonzero(run.off_course)[-1]) + 1  # the first fix on the line again
    assert res.progress_m[back + 1] == pytest.approx(20_090.0, abs=200.0), res.progress_m[back:]
    assert np.all(res.offset_m[back + 1 :] < 50.0)
    kinds = [e.kind for e in res.events]
    assert kinds[:3] == ["off_course", "alert", "far_from_course"], kinds
    assert "back_on_course" in kinds or "shortcut" in kinds, kinds


def _xy_course(x: list[float], y: list[float], name: str) -> Course:
    """A course through the corners (x, y), metres east and north, a vertex every 20 m."""
    from coursewatch.course import build_course
    from coursewatch.points import RawPoints

    xs, ys = [x[0]], [y[0]]
    for k in range(len(x) - 1):
        x0, y0, x1, y1 = x[k], y[k], x[k + 1], y[k + 1]
        n = max(int(np.hypot(x1 - x0, y1 - y0) // 20.0), 1)
        xs += list(np.linspace(x0, x1, n + 1)[1:])
        ys += list(np.linspace(y0, y1, n + 1)[1:])
    lat, lon = LocalFrame.centred(45.0, 6.0).to_latlon(np.array(xs), np.array(ys))
    return build_course(RawPoints.from_lists(name, list(lat), list(lon), name=name))


def test_a_cut_across_a_loop_is_a_shortcut_on_its_lap_not_the_lap_before() -> None:
    """Four laps of a 2 km x 200 m loop; in lap 3 the runner goes straight across it (200 m,
    1.6 km of course skipped). Rejoining behind costs little (people retrace to a marker),
    so the engine put them where the loop passes there 2.8 km back, on the lap before, to the
    end of the race, and said "back on course" (a real backyard loop cut in lap 5: a lap
    behind, never finished, race HQ told nothing). Nobody retraces 2.8 km in a minute."""
    loop_x, loop_y = [0.0, 2000.0, 2000.0, 0.0], [0.0, 0.0, 200.0, 200.0]
    course = _xy_course(loop_x * 4 + [0.0], loop_y * 4 + [0.0], "loop x4")
    lap = 4400.0
    assert course.length_m == pytest.approx(4 * lap, abs=1.0)
    left, back = 2 * lap + 1300.0, 2 * lap + 2900.0  # (1300, 0) across to (1300, 200)
    run = cut_run(course, left, back, interval_s=1.0)
    m = match_fixes(course, run.time_s, run.lat, run.lon)
    said = [(e.kind, e.left and round(e.left.course_m), round(e.at.course_m)) for e in m.events]
    (cut,) = [e for e in m.events if e.kind == "shortcut"]
    assert "back_on_course" not in [e.kind for e in m.events], said
    assert cut.at.course_m == pytest.approx(back, abs=80.0), said
    assert m.progress_m[-1] == pytest.approx(course.length_m, abs=50.0)  # on the last lap


def test_a_tracker_started_at_a_turnaround_on_the_start_hours_in_keeps_its_leg() -> None:
    """Out 5 km and back, twice: the turnaround after the first way back is the start. A
    tracker first heard 300 m before it an hour into the race, the runner turning 100 m short
    of its point: they were put on the first leg, 10 km behind, for the rest of the race
    (Quad Dipsea's course made of its out-leg: sent back 22 km with no word, never
    finished)."""
    course = _xy_course([0.0, 5000.0, 0.0, 5000.0, 0.0], [0.0] * 5, "out and back x2")
    start = 1_780_000_000.0
    pace = 2.5
    t0 = (2 * 5000.0 - 300.0) / pace  # at km 9.70
    toward = 300.0 - pace * np.arange(0.0, 81.0)  # to 100 m from the turnaround's point
    away = 100.0 + pace * np.arange(1.0, 1200.0)  # and out again, 3 km
    x = np.concatenate([toward, away])
    t = start + t0 + np.arange(len(x), dtype=float)
    lat, lon = LocalFrame.centred(45.0, 6.0).to_latlon(x, np.full_like(x, 3.0))
    m = match_fixes(course, t, lat, lon, start_ts=start)
    assert m.progress_m[0] == pytest.approx(9700.0, abs=60.0)
    want = 2 * 5000.0 + x[-1]
    assert m.progress_m[-1] == pytest.approx(want, abs=150.0), m.progress_m[::100]
    assert np.all(np.diff(m.progress_m) > -200.0)  # never sent back


def test_a_tracker_started_on_a_loop_hours_in_is_on_the_lap_the_field_pace_says() -> None:
    """A 4.4 km loop run 4 times; trackers first heard long after the start, at 2 m/s (a
    backyard ultra's pace: a lap an hour of 6.7 km). The laps are alike on the map: the
    average pace since the start tells them apart, against a usual one. The configured
    1.3 m/s (a 100-miler's) put them a lap behind; one first heard at the loop's start
    itself was put at the start (no pace judged at km 0: free). With the field's pace (live:
    live/fieldpace.py) each is on their lap."""
    from coursewatch.engine.matcher import LiveMatcher
    from coursewatch.sim.simulate import loop_course

    course = loop_course(4, 2000.0, 200.0)
    lap, start, pace = 4400.0, 1_780_000_000.0, 2.0
    run = simulate_run(course, pace_mps=pace, interval_s=10.0, seed=4, start_ts=start)
    for first_m in (3 * lap - 300.0, 2 * lap):  # late in lap 3; at its start (the corner)
        k = int(np.searchsorted(run.time_s, start + first_m / pace))
        usual = LiveMatcher(course, start_ts=start, usual_pace=lambda t_s: 2.05)
        fixed = LiveMatcher(course, start_ts=start)
        for m in (usual, fixed):
            m.push_many(run.time_s[k : k + 60], run.lat[k : k + 60], run.lon[k : k + 60],
                        np.full(60, np.nan))  # fmt: skip
        truth_m = first_m + 59 * 10.0 * pace
        assert usual.progress_m == pytest.approx(truth_m, abs=100.0), (first_m, usual.progress_m)
        assert fixed.progress_m < truth_m - 3000.0  # (what the field's pace puts right)
