from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from coursewatch.analysis import Analysis, analyze
from coursewatch.course import Course, Station, build_course, with_stations
from coursewatch.formats import RawPoints
from coursewatch.reports.summary import ReportInfo, excursion_sentences, excursion_title
from coursewatch.sim.simulate import (
    START_TS,
    SimulatedRun,
    cut_run,
    hairpin_course,
    simulate_run,
    straight_course,
    trail_course,
)
from coursewatch.track import build_track
from coursewatch.units import KM


def analyzed(course: Course, run: SimulatedRun) -> Analysis:
    raw = RawPoints.from_lists("sim", list(run.lat), list(run.lon), None, list(run.time_s))
    return analyze(course, build_track(raw))


def wrong_turn_600_m(seed: int, gps_sigma_m: float) -> Analysis:
    """A runner who turns off at 10 km, runs 600 m out and comes back the same way."""
    course = trail_course(25_000.0, seed=4)
    run = simulate_run(
        course, seed=seed, wrong_turn_at_m=10_000.0, wrong_turn_angle_deg=80.0,
        wrong_turn_len_m=600.0, gps_sigma_m=gps_sigma_m,
    )  # fmt: skip
    return analyzed(course, run)


def test_wrong_turn_excursion_explained() -> None:
    a = wrong_turn_600_m(seed=3, gps_sigma_m=3.0)
    (exc,) = [e for e in a.excursions if e.max_offset_m > 100]
    assert exc.kind == "off_course"
    assert exc.left.course_m == pytest.approx(10_000.0, abs=100)
    assert exc.alerted is not None and exc.rejoined is not None
    assert exc.left.time < exc.alerted.time < exc.rejoined.time
    assert exc.max_offset_m == pytest.approx(600.0, abs=40)
    assert exc.extra_distance_m == pytest.approx(1200.0, rel=0.15)
    assert exc.time_lost_s == pytest.approx(1200.0 / 2.5, rel=0.25)
    assert a.finish is not None
    names = [p.station for p in a.passes]
    assert names[:2] == ["Aid 1", "Aid 2"] and names[-1] == "Finish"
    assert np.all(np.diff([p.time.timestamp() for p in a.passes]) > 0)


def test_clean_run_has_no_excursion() -> None:
    course = trail_course(15_000.0, seed=8)
    run = simulate_run(course, seed=1, interval_s=5.0)
    a = analyzed(course, run)
    assert a.excursions == ()
    assert a.elapsed_s == pytest.approx(15_000.0 / 2.5, rel=0.02)


def test_alerted_is_causal_cut_after_the_alarm_and_it_still_fires_then() -> None:
    course = trail_course(20_000.0, seed=6)
    run = simulate_run(course, seed=4, wrong_turn_at_m=7_000.0, wrong_turn_angle_deg=110.0)
    raw = RawPoints.from_lists("sim", list(run.lat), list(run.lon), None, list(run.time_s))
    full = analyze(course, build_track(raw))
    alerted = [e.alerted for e in full.excursions if e.alerted is not None]
    assert alerted
    cut_ts = alerted[0].time.timestamp() + 1.0
    keep = run.time_s <= cut_ts
    raw_cut = RawPoints.from_lists(
        "sim", list(run.lat[keep]), list(run.lon[keep]), None, list(run.time_s[keep])
    )
    cut = analyze(course, build_track(raw_cut))
    assert next(e.alerted.time for e in cut.excursions if e.alerted is not None) == alerted[0].time


def test_gps_error_is_not_counted_as_extra_distance() -> None:
    # 8 m of AR(1) error on 1 s fixes: summing raw steps would more than double the
    # 1.2 km run off the course
    a = wrong_turn_600_m(seed=5, gps_sigma_m=8.0)
    (exc,) = [e for e in a.excursions if e.max_offset_m > 300]
    assert exc.extra_distance_m == pytest.approx(1200.0, rel=0.2)
    assert a.match.noise_m > 5.0


def test_a_wrong_trail_that_touches_the_course_elsewhere_is_one_excursion() -> None:
    # straight course east; the runner turns off at 1 km onto a trail that meets the course
    # again at 2.5 km (so live they are "back on the line" there for a moment), runs on it
    # out to 900 m off the course, comes back the same way and carries on from the turn
    course = straight_course(6_000.0)
    v = 2.5
    pts = [(s, 0.0) for s in np.arange(0.0, 1000.0, v)]
    leg = [(1000.0 + d * 0.6, -d * 0.3) for d in np.arange(v, 900.0, v / 0.67)]
    leg += [(1540.0 + d, -270.0 + 0.27 * d) for d in np.arange(v, 1000.0, v)]  # to 2.5 km
    leg += [(2540.0 + d * 0.3, -d * 0.9) for d in np.arange(v, 1000.0, v)]
    pts += leg + leg[::-1] + [(s, 0.0) for s in np.arange(1000.0, 6000.0, v)]
    (x0,), (y0,) = course.xy_at(np.zeros(1))
    x, y = np.asarray(pts).T
    lat, lon = course.frame.to_latlon(x + x0, y + y0)
    t = START_TS + np.arange(len(x)) * 1.0
    raw = RawPoints.from_lists("sim", list(lat), list(lon), None, list(t))
    a = analyze(course, build_track(raw))
    (exc,) = a.excursions
    assert exc.left.course_m == pytest.approx(1000.0, abs=60)
    assert exc.rejoined is not None and exc.rejoined.course_m == pytest.approx(1000.0, abs=60)
    lx, ly = np.asarray(leg).T
    run_m = 2 * float(np.hypot(np.diff(lx), np.diff(ly)).sum())
    assert exc.extra_distance_m == pytest.approx(run_m, rel=0.1)


def test_a_ride_in_a_vehicle_is_a_shortcut_not_a_detour() -> None:
    """Pings every 5 min: the runner leaves the course at km 10, walks 1 km off it, is driven
    at 54 km/h to beside km 20 and walks back onto it. What the vehicle moved is not run: the
    course skipped less what was walked is cut (it read "off course, 830 m extra, no time
    lost" on the real Dark Sky log)."""
    course = straight_course(30_000.0)
    legs = [(s, 0.0, 2.5) for s in np.arange(0.0, 10_001.0, 750.0)]  # (course m, off m, m/s)
    legs += [(10_000.0, 750.0, 2.5), (10_000.0, 1500.0, 2.5)]
    legs += [(s, 1500.0, 15.0) for s in np.arange(13_000.0, 19_001.0, 3000.0)]
    legs += [(20_000.0, 750.0, 2.5), (20_000.0, 0.0, 2.5)]
    legs += [(s, 0.0, 2.5) for s in np.arange(20_750.0, 30_000.0, 750.0)]
    t, xs, ys = [START_TS], [], []
    for i, (s, off, _) in enumerate(legs):
        x, y = course.xy_at(s)
        xs.append(float(x))
        ys.append(float(y) + off)
        if i:
            t.append(t[-1] + np.hypot(xs[-1] - xs[-2], ys[-1] - ys[-2]) / legs[i][2])
    lat, lon = course.frame.to_latlon(np.array(xs), np.array(ys))
    raw = RawPoints.from_lists("sim", list(lat), list(lon), None, t)
    a = analyze(course, build_track(raw))
    (ride,) = [e for e in a.excursions if e.max_offset_m > 1000]
    assert ride.kind == "shortcut" and ride.transport is not None
    assert ride.transport[2] * 3.6 == pytest.approx(54.0, rel=0.2)
    assert -ride.extra_distance_m == pytest.approx(10_000.0 - 3500.0, rel=0.1)
    # race HQ read the course skipped, live: the report says it too (Dark Sky's shuttle:
    # "15.62 mi of course skipped" live, "10.7 mi of course cut" after the race)
    from coursewatch.reports.summary import ReportInfo, excursion_sentences

    said = " ".join(excursion_sentences(a, ride, ReportInfo("t", "r")))
    assert re.search(r"Cost: (9\.\d|10\.\d) km of course skipped, [67]\.\d km shorter than "
                     "running it, no time lost", said), said  # fmt: skip
    # an aid station at km 15, inside the ride: its split is the rejoin's time, a pace of
    # 0'00"/km; it reads "skipped", and neither leg around it has a pace
    from coursewatch.analysis import Passage
    from coursewatch.reports.splits import compute_splits

    rejoin = ride.rejoined.time if ride.rejoined is not None else a.splits[-1].time
    aid = Passage("Aid", 1, 15_000.0, rejoin, 1)
    passes = tuple(sorted((aid, *a.splits), key=lambda p: p.course_m))
    rows = compute_splits(dataclasses.replace(a, splits=passes)).rows
    at = [r.course_m for r in rows].index(15_000.0)
    assert rows[at].skipped and rows[at].pace_text(KM) == "skipped"
    assert rows[at + 1].pace_s_per_km is None and not rows[at + 1].skipped
    # one 30 m before the rejoin was reached there (UTMB 2021's Vallorcine read "skipped"):
    # no pace for the leg to it (it holds the cut), the leg from it has one
    assert ride.rejoined is not None and ride.rejoined.course_m is not None
    near = Passage("Near", 1, ride.rejoined.course_m - 30.0, rejoin, 1)
    passes = tuple(sorted((near, *a.splits), key=lambda p: p.course_m))
    rows = compute_splits(dataclasses.replace(a, splits=passes)).rows
    at = [r.course_m for r in rows].index(near.course_m)
    assert not rows[at].skipped and rows[at].pace_s_per_km is None
    assert any(r.pace_s_per_km is not None for r in rows[at + 1 :])
    # nothing run beyond the course: the headline has no "0.0 km extra"
    from coursewatch.reports.summary import headline

    assert ride.alerted is not None and "km extra" not in headline(a), headline(a)
    assert "km cut (1 ride in a vehicle)" in headline(a)  # the race's fact, in the headline


def test_a_gap_in_the_recording_during_an_excursion_is_not_time_lost() -> None:
    """A runner takes a 600 m wrong turn and, at its far end, the recording stops for 30
    minutes: nothing says the excursion cost that time (Dark Sky's 25-minute gap between
    pings was "25 min lost"). Standing 30 minutes there with the watch on is a lost
    runner's time, and is lost."""
    course = trail_course(25_000.0, seed=4)
    run = simulate_run(course, seed=3, wrong_turn_at_m=10_000.0, wrong_turn_angle_deg=80.0,
                       wrong_turn_len_m=600.0, gps_sigma_m=3.0)  # fmt: skip
    plain = analyzed(course, run)
    (detour,) = [e for e in plain.excursions if e.max_offset_m > 100]
    k = detour.first_fix + int(np.argmax(plain.offset_m[detour.first_fix : detour.last_fix]))

    def stopped(every_s: float) -> Analysis:
        stop_t = run.time_s[k] + np.arange(every_s, 1800.0, every_s)
        t = np.concatenate([run.time_s[: k + 1], stop_t, run.time_s[k + 1 :] + 1800.0])
        n = len(stop_t)
        lat = np.concatenate([run.lat[: k + 1], np.full(n, run.lat[k]), run.lat[k + 1 :]])
        lon = np.concatenate([run.lon[: k + 1], np.full(n, run.lon[k]), run.lon[k + 1 :]])
        return analyze(course, build_track(RawPoints.from_lists("sim", list(lat), list(lon),
                                                                None, list(t))))  # fmt: skip

    (gap,) = [e for e in stopped(1800.0).excursions if e.max_offset_m > 100]
    (standing,) = [e for e in stopped(5.0).excursions if e.max_offset_m > 100]
    assert detour.time_lost_s is not None and gap.time_lost_s is not None
    assert gap.time_lost_s == pytest.approx(detour.time_lost_s, abs=60.0)
    assert standing.time_lost_s == pytest.approx(detour.time_lost_s + 1800.0, abs=120.0)


def test_an_arrival_at_a_station_is_when_the_runner_got_there_not_when_the_progress_did() -> None:
    """Pings: the runner leaves the line at km 7, reaches the aid station (its tent 60 m off
    the line at km 10) at 1:00, rests two hours and goes on; the progress, held at km 7 while
    off the line, reached km 10 after the rest (Swammie's Rodanthe read 2 h late)."""
    from coursewatch.analysis.passes import station_passes
    from coursewatch.course import Station

    course = straight_course(20_000.0)
    x, y = course.xy_at(10_000.0)
    tent_lat, tent_lon = course.frame.to_latlon(np.atleast_1d(x), np.atleast_1d(y + 60.0))
    aid = Station("Aid", float(tent_lat[0]), float(tent_lon[0]), (10_000.0,))
    course = dataclasses.replace(course, stations=(aid,))
    t = np.array([0.0, 1800.0, 3600.0, 7200.0, 10_800.0, 11_400.0])
    progress = np.array([5_000.0, 7_000.0, 7_000.0, 7_000.0, 7_000.0, 11_000.0])
    on_lat, on_lon = course.latlon_at(np.array([5_000.0, 7_000.0, 11_000.0]))
    lat = np.array([on_lat[0], on_lat[1], tent_lat[0], tent_lat[0], tent_lat[0], on_lat[2]])
    lon = np.array([on_lon[0], on_lon[1], tent_lon[0], tent_lon[0], tent_lon[0], on_lon[2]])
    offset = np.array([0.0, 0.0, 60.0, 60.0, 60.0, 0.0])
    (arrival,) = station_passes(course, t, progress, (lat, lon, offset))
    assert arrival.time.timestamp() == 3600.0
    (by_progress,) = station_passes(course, t, progress)
    assert by_progress.time.timestamp() > 10_800.0


def test_a_runner_asleep_just_short_of_a_station_on_the_line_got_there_when_they_came() -> None:
    """Dark Sky's Ramsey Bridge: the runner lay two hours in the tent, on the line 20 m short
    of the station's point, and went on; ``analyze`` read the arrival at the departure, two
    hours after race HQ's board (100 m before a station is at it)."""
    from coursewatch.analysis.passes import station_passes
    from coursewatch.course import Station

    course = straight_course(20_000.0)
    lat0, lon0 = course.latlon_at(np.array([10_000.0]))
    course = dataclasses.replace(course, stations=(Station("Aid", lat0[0], lon0[0], (10_000.0,)),))
    t = np.array([0.0, 1800.0, 3600.0, 7200.0, 10_800.0, 11_400.0])
    progress = np.array([5_000.0, 7_000.0, 9_980.0, 9_981.0, 9_982.0, 11_000.0])
    lat, lon = course.latlon_at(progress)
    (arrival,) = station_passes(course, t, progress, (lat, lon, np.zeros(6)))
    assert arrival.time.timestamp() == 3600.0


def test_a_station_at_the_finish_is_split_at_the_finishs_time() -> None:
    """Ouray: its last pass of Fellin Park, at the end of the line, read 15:00 in the splits
    while the report said it finished at 14:55 (pings: the progress reached the end later)."""
    from datetime import UTC, datetime

    from coursewatch.analysis.passes import split_passes, station_passes
    from coursewatch.course import Station

    course = straight_course(10_000.0)
    (la, ma, ca), (lo, mo, co) = course.latlon_at(np.array([course.length_m, 5000.0, 9600.0]))
    park, mid = Station("Park", la, lo, (course.length_m,)), Station("Mid", ma, mo, (5000.0,))
    cp = Station("Last CP", ca, co, (9600.0,))  # reached by the progress after the finish's rule
    course = dataclasses.replace(course, stations=(mid, cp, park))
    t = np.array([0.0, 1500.0, 3000.0, 4000.0])
    progress = np.array([0.0, 5000.0, 9_500.0, course.length_m])
    finish = datetime.fromtimestamp(3000.0, UTC)
    rows, _ = split_passes(course, station_passes(course, t, progress), finish, t, progress)
    assert [(r.station, r.time) for r in rows][-2:] == [("Last CP", finish), ("Park", finish)]
    # and the passes (the JSON's) have it too, when the progress never got to the line's end
    from coursewatch.analysis.passes import with_finish

    short = np.array([0.0, 5000.0, 9_500.0, 9_950.0])
    passes = with_finish(course, station_passes(course, t, short), finish)
    assert ("Park", finish) in [(p.station, p.time) for p in passes]
    # ... and when it did, later than the finish's rule (UTMB 2021's Arrivée: 07:46:55 in
    # the passes, 07:46:18 the finish and the splits)
    passes = with_finish(course, station_passes(course, t, progress), finish)
    assert [(p.station, p.time) for p in passes][-2:] == [("Last CP", finish), ("Park", finish)]


def test_the_pace_a_detour_is_priced_at_is_the_runners_not_a_watchs_bursts() -> None:
    """A watch that records every second but moves its position every 5 s (a smart-recording
    receiver): four steps of 0 m and one of 10 m. The runner ran 2 m/s, with a 10-minute
    stop at an aid station; the moving steps alone said 10 m/s, and a detour priced at that
    pace cost 5 times too much."""
    from coursewatch.analysis.excursions import pace_before_mps

    t = np.arange(0.0, 4201.0)
    moving = np.clip(t, None, 1800.0) + np.clip(t - 2400.0, 0.0, None)  # still 30-40 min
    held = 2.0 * np.floor(moving / 5.0) * 5.0
    pace = pace_before_mps(t, held, held, len(t) - 1)
    assert pace == pytest.approx(2.0, rel=0.01)


def test_a_track_of_another_race_of_the_same_valley_is_refused() -> None:
    """Two trails from the same village: the runner of one given the other's course read "No
    excursions: on the course all the way" (the Duo Etoile against UTMB: 3 % of it within
    200 m). The course file itself given as the track read "Finished in 9:57:51"."""
    from coursewatch.errors import InputError

    course = trail_course(15_000.0, seed=8)
    other = trail_course(15_000.0, seed=9)  # from the same start, another way
    with pytest.raises(InputError, match=r"only \d+ % of the track's .* is within 200 m"):
        analyzed(course, simulate_run(other, seed=1, interval_s=5.0))
    drawn = RawPoints.from_lists("course.gpx", list(course.lat), list(course.lon), None,
                                 [START_TS + 6.0 * i for i in range(len(course.lat))])  # fmt: skip
    with pytest.raises(InputError, match="it is a drawn route"):
        analyze(course, build_track(drawn))
    # race HQ's runner page asks for the race as it is, however far the runner went
    a = analyze(course, build_track(drawn), check_fit=False)
    assert a.excursions == ()


def test_a_long_wrong_way_was_told_to_race_hq_and_a_short_one_was_not() -> None:
    """The report says when race HQ was told of a wrong way a kilometre back along the course
    (as the live server tells it); one of 500 m was the runner's flag only."""
    course = trail_course(12_000.0, seed=4)

    def back(to_m: float) -> Analysis:
        s_m = np.concatenate([np.arange(0.0, 6000.0, 12.5), np.arange(6000.0, to_m, -12.5),
                              np.arange(to_m, course.length_m, 12.5)])  # fmt: skip
        lat, lon = course.latlon_at(s_m)
        lat = lat + np.random.default_rng(1).normal(0.0, 3.0 / 111_000.0, len(lat))  # GPS's
        t = START_TS + 5.0 * np.arange(len(s_m))
        return analyze(course, build_track(RawPoints.from_lists("sim", list(lat), list(lon),
                                                                None, list(t))))  # fmt: skip

    (far,) = [e for e in back(4500.0).excursions if e.kind == "wrong_way"]
    assert far.alerted is not None  # at 1 km back (480 fixes out to 6 km, 80 back), or
    # a little after: the matcher's progress follows a runner going backwards with a lag
    assert 5.0 * 560 <= far.alerted.time.timestamp() - START_TS <= 5.0 * 600
    assert all(e.alerted is None for e in back(5500.0).excursions)


def hairpin_cut(dt_s: float) -> tuple[Course, SimulatedRun]:
    """A hairpin (east 1.5 km, a half turn, back west 200 m to the north, then north): the
    runner goes east 500 m and cuts straight north 200 m to the way back, at km 2.815."""
    course = hairpin_course(200.0, leg_m=1500.0)
    return course, cut_run(course, 500.0, 2815.0, interval_s=dt_s)


@pytest.mark.parametrize("dt_s", [1.0, 5.0])
def test_a_cut_across_a_hairpin_is_a_shortcut_to_where_the_runner_came_back(dt_s: float) -> None:
    """EcoTrail 2022 on the 2024 line read "Off course at km 46.6 ... rejoined at km 46.6:
    554 m extra, 4 min lost" for a cut across a hairpin: 2.3 km skipped for 200 m run."""
    (cut,) = analyzed(*hairpin_cut(dt_s)).excursions
    assert cut.kind == "shortcut", cut
    assert cut.rejoined is not None and cut.rejoined.course_m == pytest.approx(2815.0, abs=60.0)
    assert -cut.extra_distance_m == pytest.approx(2315.0 - 200.0, abs=150.0)


def test_a_way_back_the_live_matcher_placed_where_the_runner_left_is_placed_where_they_are() -> (
    None
):
    """MaxiRace night 2021: live, back on the line at km 47.15; the fix was at km 47.35. A way
    back said where the runner had left (the hairpin before the live fix): in hindsight it
    is where the fix is, and a shortcut when more course was skipped than run."""
    from coursewatch.analysis import SIMPLIFY_SIGMAS
    from coursewatch.analysis.excursions import Excursions
    from coursewatch.distance import distance_run_m
    from coursewatch.engine.config import EngineConfig

    course, run = hairpin_cut(1.0)
    a = analyzed(course, run)
    held = []
    for e in a.match.events:  # as the engine said it before it judged a coasting way back
        if e.kind == "shortcut":
            e = dataclasses.replace(
                e, kind="back_on_course", at=dataclasses.replace(e.at, course_m=500.0)
            )
        held.append(e)
    match = dataclasses.replace(a.match, events=tuple(held))
    x, y = course.frame.to_xy(a.track.lat, a.track.lon)
    path = distance_run_m(x, y, SIMPLIFY_SIGMAS * match.noise_m)
    builder = Excursions(course, a.track, match, a.offset_m, path, EngineConfig())
    (cut,) = builder.excursions()
    assert cut.kind == "shortcut", cut
    assert cut.rejoined is not None and cut.rejoined.course_m == pytest.approx(2815.0, abs=60.0)
    k1 = cut.last_fix
    assert (
        builder.rejoin_m(k1, float(a.match.progress_m[k1]) + 1e4)
        == float(a.match.progress_m[k1]) + 1e4
    )


def test_a_shortcut_costs_no_time_even_with_a_stop_in_it() -> None:
    """UTMB 2021 read "Shortcut at km 141.2 ... 313 m of course cut, 38 min lost": a stop and
    a climb on a way that is not the course's, priced at the pace of the descent before."""
    course = hairpin_course(200.0, leg_m=4000.0)  # an hour on the course before: its pace
    run = cut_run(course, 3800.0, 4000.0 + np.pi * 100.0 + 200.0, pace_mps=0.8, interval_s=5.0)
    mid = int(np.flatnonzero(run.off_course)[len(np.flatnonzero(run.off_course)) // 2])
    stay = 360  # half an hour standing halfway across
    lat = np.concatenate([run.lat[: mid + 1], np.full(stay, run.lat[mid]), run.lat[mid + 1 :]])
    lon = np.concatenate([run.lon[: mid + 1], np.full(stay, run.lon[mid]), run.lon[mid + 1 :]])
    t = START_TS + 5.0 * np.arange(len(lat))
    raw = RawPoints.from_lists("sim", list(lat), list(lon), None, list(t))
    (cut,) = analyze(course, build_track(raw)).excursions
    assert cut.kind == "shortcut" and cut.time_lost_s == 0.0, cut


def test_a_recording_begun_mid_race_off_the_line_is_placed_where_it_is() -> None:
    """A watch restarted at an aid station 350 m off the course, 8 km into a 10 km out-and-back
    (the legs 15 m apart), analysed alone (no race start): its first fixes are off the line,
    far from the start; the runner is placed on the way back when they reach the line, not
    held at the start, and their way to it is no cut of the course from km 0."""
    out = straight_course(5_000.0)
    x = np.concatenate([out.x, out.x[::-1][1:]])
    y = np.concatenate([out.y, out.y[::-1][1:] + 15.0])
    lat, lon = out.frame.to_latlon(x, y)
    course = build_course(RawPoints.from_lists("out and back", list(lat), list(lon)))
    run = simulate_run(course, interval_s=60.0, seed=3, gps_sigma_m=4.0)
    k = 6_000 // 150  # the runner's fixes from 6 km on (150 m a fix), the way back
    ax, ay = course.xy_at(np.array([6_000.0, 6_000.0, 6_000.0]))
    off_lat, off_lon = course.frame.to_latlon(ax, ay + np.array([350.0, 340.0, 120.0]))
    t = np.concatenate([run.time_s[k] - np.array([600.0, 300.0, 60.0]), run.time_s[k:]])
    raw = RawPoints.from_lists(
        "restarted", list(off_lat) + list(run.lat[k:]), list(off_lon) + list(run.lon[k:]), None,
        list(t),
    )  # fmt: skip
    a = analyze(course, build_track(raw), check_fit=False)
    assert float(a.match.progress_m[4]) == pytest.approx(6_150.0, abs=200.0)
    # flagged off the line from the first fix, back on it where they joined: where they left
    # the course is not known (not "km 0"), and nothing was cut
    assert [e.kind for e in a.match.events][-1] == "back_on_course"
    assert a.match.events[0].left is not None and a.match.events[0].left.course_m is None
    (e,) = a.excursions
    assert e.kind == "off_course" and e.left.course_m is None and e.time_lost_s is None
    assert e.rejoined is not None and e.rejoined.course_m == pytest.approx(6_000.0, abs=100.0)
    assert excursion_title(e, a.units) == "Off course before first on the line"
    said = " ".join(excursion_sentences(a, e, ReportInfo("t", "restarted")))
    assert said.startswith("Off the course when the recording began") and "leaving" not in said
    assert "Reached the course at km 6.0" in said and "where they left the course is not" in said


def test_a_detour_soon_after_a_recording_begun_off_the_line_is_its_own() -> None:
    """A tracker started 350 m off the line reaches it at km 10, runs 100 m along it, then
    takes a 320 m detour: the detour is its own excursion, with what it cost (it was joined to
    the way to the line, whose start is not known: "9.2 km cut")."""
    course = straight_course(20_000.0)
    along = [10_000.0] * 5 + [10_100.0, 10_150.0, 10_200.0, 10_250.0, 10_300.0, 10_350.0]
    along += [10_400.0, *np.arange(10_450.0, 20_001.0, 150.0)]
    off_m = [350.0, 300.0, 200.0, 100.0, 0.0, 0.0, 100.0, 220.0, 320.0, 320.0, 220.0, 100.0]
    off_m += [0.0] * (len(along) - len(off_m))
    x, y = course.xy_at(np.array(along))
    lat, lon = course.frame.to_latlon(x, y + np.array(off_m))
    t = START_TS + 4_000.0 + 60.0 * np.arange(len(along))
    raw = RawPoints.from_lists("restarted", list(lat), list(lon), None, list(t))
    a = analyze(course, build_track(raw), check_fit=False)
    way, detour = a.excursions
    assert way.left.course_m is None and way.rejoined is not None
    assert way.rejoined.course_m == pytest.approx(10_000.0, abs=50.0)
    assert detour.kind == "off_course" and detour.alerted is not None
    assert detour.left.course_m == pytest.approx(10_100.0, abs=50.0)
    assert detour.extra_distance_m == pytest.approx(400.0, abs=100.0)


def test_a_runner_waiting_off_the_line_at_the_start_passes_every_station() -> None:
    """Satellite pings 10 minutes apart: three in the start pen 60 m off the line before the
    gun, then on the line, the first 1.5 km along. A change for trackers started mid-race
    took that for a recording begun there: the Start was not passed, and a bridge at km 0.8
    read 20 minutes before the gun (a review's reproducer)."""
    course = straight_course(30_000.0)
    lat, lon = course.latlon_at(np.array([0.0, 800.0, 15_000.0]))
    course = with_stations(course, tuple(
        Station(n, float(a), float(o), (s,))
        for n, a, o, s in zip(("Start", "Bridge", "Aid"), lat, lon, (0.0, 800.0, 15_000.0),
                              strict=True)))  # fmt: skip
    along = np.array([0.0, 0.0, 0.0] + [1_500.0 * i for i in range(1, 20)])
    x, y = course.xy_at(along)
    la, lo = course.frame.to_latlon(x, y + np.array([60.0] * 3 + [0.0] * 19))
    t = [START_TS - 1_200.0, START_TS - 600.0, START_TS - 60.0]
    t += [START_TS + 600.0 * i for i in range(1, 20)]
    track = build_track(RawPoints.from_lists("pen", list(la), list(lo), None, t))
    for start in (START_TS, None):
        a = analyze(course, track, start_ts=start, check_fit=False)
        when = {p.station: p.time.timestamp() - START_TS for p in a.passes}
        assert set(when) == {"Start", "Bridge", "Aid"}, when
        assert 0.0 < when["Bridge"] < 600.0 and when["Aid"] == pytest.approx(6_000.0), when


def test_a_recording_begun_off_the_line_mid_race_never_says_where_it_left() -> None:
    """Templiers cut at a moment 109 m off the line: "Left the course at km 41.7 ... 0:00:00
    after the first fix", 383 m extra, and a headline of "no time lost" for an excursion whose
    loss is unknown. Off the line from its first fix, it is off course from the recording's
    start: where it left and what it cost are not known, and the totals say so."""
    course = straight_course(20_000.0)
    along = np.concatenate([np.linspace(8_000.0, 8_200.0, 40), np.arange(8_200.0, 20_001.0, 15.0)])
    off = np.concatenate([np.linspace(180.0, 120.0, 40), np.zeros(len(along) - 40)])
    lat, lon = course.frame.to_latlon(course.x[0] + along, course.y[0] + off)
    t = START_TS + 5.0 * np.arange(len(along))
    raw = RawPoints.from_lists("cut", list(lat), list(lon), None, list(t))
    a = analyze(course, build_track(raw), check_fit=False)
    (e,) = a.confirmed
    assert e.from_nowhere and e.time_lost_s is None and e.first_fix == 0, e
    assert a.time_lost_unknown == 1
    from coursewatch.reports.summary import headline

    assert "time lost unknown" in headline(a), headline(a)
    from coursewatch.reports.summary import lost_text

    assert lost_text(a) == "unknown"  # (the standings read "0 s")
