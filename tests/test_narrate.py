"""Every sentence a person reads: engine events and the clock-driven detectors' events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from coursewatch.detectors.cutoff import CutoffConfig, CutoffState, cutoff_step
from coursewatch.detectors.overdue import OverdueEvent
from coursewatch.detectors.signal import SignalEvent
from coursewatch.detectors.stopped import StoppedConfig, StoppedState, stopped_step
from coursewatch.engine.events import Event, Place
from coursewatch.engine.matcher import match_fixes
from coursewatch.live.narrate import Narrator, turn_side
from coursewatch.sim.simulate import (
    hairpin_course,
    shuttle_run,
    simulate_run,
    spur_course,
    straight_course,
)

NARRATOR = Narrator(straight_course(50_000.0), [(10_000.0, "Aid 1"), (40_000.0, "Aid 4")])


def test_stopped_sentence() -> None:
    st, _ = stopped_step(StoppedState(), 0.0, 12_345.0, StoppedConfig(window_s=600.0))
    st, ev = stopped_step(st, 660.0, 12_350.0, StoppedConfig(window_s=600.0))
    assert NARRATOR.clock_sentence("7", ev[0]) == (
        "Bib 7: no progress for 11 min at km 12.35 (mi 7.67), away from any station"
    )
    # progress, not movement: Dark Sky's shuttle read "moving again ... after 2 h 15 min stopped"
    _, ev = stopped_step(st, 1_200.0, 12_845.0, StoppedConfig(window_s=600.0))
    assert NARRATOR.clock_sentence("7", ev[0]) == (
        "Bib 7: moving along the course again at km 12.85 (mi 7.98), after 20 min without progress"
    )


def test_signal_sentences() -> None:
    lost = SignalEvent("signal_lost", 4_300.0, 12_345.0, 3_000.0, 1_300.0, 300.0)
    assert NARRATOR.clock_sentence("7", lost) == (
        "Bib 7: no position for 22 min (usually every 5.0 min); last seen at km 12.35 (mi 7.67) "
        "at 00:50Z"
    )
    fast = SignalEvent("signal_lost", 4_300.0, 12_345.0, 3_000.0, 1_300.0, 3.0)
    assert "(usually every 3 s)" in NARRATOR.clock_sentence("7", fast)  # (it read "0.1 min")
    back = SignalEvent("signal_back", 5_000.0, 13_000.0, 3_000.0, 2_000.0, 300.0)
    assert "signal back at km 13.00 (mi 8.08) after 33 min" in NARRATOR.clock_sentence("7", back)


def test_station_events_name_the_station() -> None:
    late = OverdueEvent("overdue", 9_000.0, 8_000.0, 10_000.0, 8_000.0, 1_000.0, 600.0)
    assert NARRATOR.clock_sentence("7", late) == (
        "Bib 7: expected at Aid 1 17 min ago (tolerance 10 min); last seen at km 8.00 (mi 4.97)"
    )
    assert NARRATOR.clock_sentence("7", late, seen_s=7_200.0).endswith(
        "last seen at km 8.00 (mi 4.97) at 02:00Z"  # (when: race HQ reads it at a glance)
    )
    cutoffs = ((40_000.0, 30_000.0),)
    _, ev = cutoff_step(CutoffState(), 0.0, 25_000.0, cutoffs, (31_000.0,), CutoffConfig(0, 0))
    assert NARRATOR.clock_sentence("7", ev[0]) == (
        "Bib 7: projected at Aid 4 17 min after its cut-off (08:20Z); now at km 25.00 (mi 15.53)"
    )


def test_a_station_not_on_the_list_is_named_by_its_distance() -> None:
    late = OverdueEvent("overdue", 9_000.0, 8_000.0, 12_500.0, 8_000.0, 1_000.0, 600.0)
    assert "expected at the station at km 12.50 17 min ago" in NARRATOR.clock_sentence("7", late)


def test_long_silences_read_in_hours() -> None:
    long = SignalEvent("silent_long", 12_000.0, 12_345.0, 3_000.0, 9_000.0, 300.0)
    assert NARRATOR.clock_sentence("7", long).startswith("Bib 7: no position for 2 h 30 min ")


def test_far_during_an_off_course_episode_updates_its_incident() -> None:
    """A wrong turn that goes more than a kilometre away: the flag, HQ's alert, far from the
    course and back near it, and back on course are one episode, one incident, closed once."""
    course = straight_course(20_000.0)
    run = simulate_run(course, pace_mps=3.0, interval_s=5.0, wrong_turn_at_m=6_000.0,
                       wrong_turn_angle_deg=90.0, wrong_turn_len_m=2_500.0)  # fmt: skip
    res = match_fixes(course, run.time_s, run.lat, run.lon, start_ts=float(run.time_s[0]))
    narrator = Narrator(course, [])
    records = [narrator.record("r", "7", e, e.at.time.timestamp()) for e in res.events]
    kinds = [r.kind for r in records]
    assert kinds == ["off_course", "alert", "far_from_course", "back_near_course",
                     "back_on_course"]  # fmt: skip
    assert len({r.episode for r in records}) == 1 and records[0].episode.startswith("course:")
    assert [r.closes for r in records] == [False, False, False, False, True]
    assert [r.names for r in records][2:4] == [None, None]  # still the off-course incident


def test_back_near_the_course_is_where_the_runner_is() -> None:
    """Dark Sky's shuttle: "back near the course at mile 153.68 ... 7.6 mi after Pipe Dream",
    where the filter held the runner, for a fix 42 m from the course at mile 169.25; and the
    episode's furthest read infinite beyond where the line is looked for (1.5 km): "(at most
    inf m off)", and an OverflowError in a race run in miles, which lost the runner's batch."""
    course = straight_course(30_000.0)
    run = shuttle_run(course, 6_000.0, 20_000.0, end_m=24_000.0)
    res = match_fixes(course, run.time_s, run.lat, run.lon, start_ts=float(run.time_s[0]))
    (near,) = [e for e in res.events if e.kind == "back_near_course"]
    assert near.at.course_m is not None and abs(near.at.course_m - 20_000.0) < 100.0
    said = Narrator(course, []).sentence("7", near)
    assert said.startswith(("Bib 7 is back near the course at km 19.9",
                            "Bib 7 is back near the course at km 20.0")), said  # fmt: skip
    (back,) = [e for e in res.events if e.kind in ("back_on_course", "shortcut")]
    assert back.max_offset_m == pytest.approx(2_000.0, abs=50.0), back


def test_back_on_course_after_being_beyond_the_search_says_no_infinity() -> None:
    """Dark Sky's shuttle, 2.9 km from the course: the episode's furthest read infinite (the
    line is looked for within 1.5 km), "(at most inf m off)" in km and an OverflowError in a
    race run in miles, which lost the runner's batch."""
    import json
    import math

    course = straight_course(20_000.0)
    at = Place(datetime(2026, 5, 28, tzinfo=UTC), 45.0, 6.0, 8_000.0)
    back = Event("back_on_course", at, None, 5.0, math.inf, None, None, 7)
    for units in ("km", "mi"):
        said = Narrator(course, [], units=units).sentence("7", back)
        assert said.startswith("Bib 7 is back on course at") and "inf" not in said, said
    record = Narrator(course, [], units="mi").record("r", "7", back, at.time.timestamp())
    assert json.loads(json.dumps(dict(record.detail), allow_nan=False))["max_offset_m"] is None


def test_the_runner_is_told_where_the_line_is_not_its_nearest_point() -> None:
    """A route planner's course: a straight road north with a point every kilometre. A runner
    70 m west of it is told the course is 70 m to their east (it said 505 m to the north)."""
    from coursewatch.sim.simulate import _course_from_xy

    course = _course_from_xy(np.zeros(11), np.arange(11) * 1000.0, "road", 45.0, 6.0)
    x, y = course.xy_at(4500.0)
    lat, lon = course.frame.to_latlon(np.atleast_1d(x - 70.0), np.atleast_1d(y))
    words = Narrator(course, []).runner_words(
        "7", "Bib 7 left the course", float(lat[0]), float(lon[0]), 4500.0, True
    )
    assert words.startswith("The course is 70 m to your east. ")  # first, on a lock screen
    # race HQ's words are not the runner's
    sure = ("Bib 7 is off course for sure near km 39.13 (mi 24.31): 213 m from every part of "
            "the course, flagged at 00:57")  # fmt: skip
    words = Narrator(course, []).runner_words("7", sure, float(lat[0]), float(lon[0]), 4500.0,
                                              True)  # fmt: skip
    assert words == ("The course is 70 m to your east. You are off course for sure near km "
                     "39.13 (mi 24.31): 213 m from the course."), words  # fmt: skip
    far = ("Bib 7 is far from the course: 1.0 km from every part of it (another race? a "
           "tracker left at home? a car?)")  # fmt: skip
    assert "another race" not in Narrator(course, []).runner_words("7", far, 0.0, 0.0, None, False)


def test_far_from_the_course_says_where_the_runner_left_it() -> None:
    """A runner 1.1 km from the course: race HQ and the crew read where they were last on it
    (there was no km, no station), and the guesses only when they never were."""
    from datetime import UTC, datetime

    from coursewatch.engine.events import Event, Place

    when = datetime(2026, 6, 27, 14, 32, tzinfo=UTC)
    left = Place(when, 45.0, 6.0, 4_500.0)
    far = Event("far_from_course", Place(when, 45.01, 6.0, None), left, 1_100.0, None, None,
                None, 0)  # fmt: skip
    assert NARRATOR.sentence("7", far) == (
        "Bib 7 is far from the course: 1.1 km from every part of it, last on it near km 4.50 "
        "(mi 2.80), 5.5 km before Aid 1"
    ), NARRATOR.sentence("7", far)
    never = replace(far, left=None)
    assert NARRATOR.sentence("7", never).endswith("(another race? a tracker left at home? a car?)")


def test_times_in_sentences_are_on_the_races_clock() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    pacific = Narrator(straight_course(1000.0), [], timezone(timedelta(hours=-7)))
    when = datetime(2026, 6, 27, 14, 32, tzinfo=UTC)
    assert pacific.clock(when) == "07:32" and NARRATOR.clock(when) == "14:32Z"


def test_a_place_just_before_a_station_is_at_it() -> None:
    """A runner leaving the line 20 m before an aid station (for its tent, off the line) was
    "off course at km 22.58" with no name: the station is named when within 200 m either
    way, as the board counts a runner 100 m before one as at it."""
    n = Narrator(straight_course(30_000.0), [(22_600.0, "Peyreleau")])
    assert n.where(22_580.0) == "km 22.58 (mi 14.03), at Peyreleau"
    assert n.where(22_750.0) == "km 22.75 (mi 14.14), at Peyreleau"
    assert n.where(25_000.0) == "km 25.00 (mi 15.53), 2.4 km after Peyreleau"
    assert n.where(20_000.0) == "km 20.00 (mi 12.43), 2.6 km before Peyreleau"
    two = Narrator(straight_course(50_000.0), [(40_000.0, "Aid 5 in"), (40_150.0, "Aid 5 out")])
    assert two.where(40_140.0).endswith("at Aid 5 out")  # the nearest


def test_a_race_run_in_miles_reads_miles_first() -> None:
    """Western States' aid stations and its runners count in miles: race HQ's sentences lead
    with miles there (km in brackets), and lengths along the course are in miles."""
    miles = Narrator(straight_course(50_000.0), [(10_000.0, "Aid 1")], units="mi")
    assert miles.where(12_000.0) == "mile 7.46 (km 12.00), 1.2 mi after Aid 1"
    late = OverdueEvent("overdue", 9_000.0, 8_000.0, 12_500.0, 8_000.0, 1_000.0, 600.0)
    assert miles.clock_sentence("7", late) == (
        "Bib 7: expected at the station at mile 7.77 17 min ago (tolerance 10 min); last seen "
        "at mile 4.97 (km 8.00)"
    )
    assert NARRATOR.where(12_000.0) == "km 12.00 (mi 7.46), 2.0 km after Aid 1"


def test_a_time_on_another_day_says_its_day() -> None:
    """A 200-miler's cut-off a night away read "(08:20)" with no day: said the day before,
    it is "Sun 08:20"; on the day of the event it is the time alone."""
    from datetime import timedelta, timezone

    pacific = Narrator(straight_course(1000.0), [], timezone(timedelta(hours=-7)))
    sat_2332 = 1_782_628_320.0  # 2026-06-27 23:32 in UTC-07:00, a Saturday
    assert pacific.clock(sat_2332 + 3_600.0, ref_s=sat_2332) == "Sun 00:32"
    assert pacific.clock(sat_2332 - 3_600.0, ref_s=sat_2332) == "22:32"
    assert pacific.clock(sat_2332 + 3_600.0) == "00:32"  # no reference: the time alone
    cutoffs = ((40_000.0, 30_000.0),)
    _, ev = cutoff_step(CutoffState(), 0.0, 25_000.0, cutoffs, (31_000.0,), CutoffConfig(0, 0))
    assert "its cut-off (Thu 08:20Z)" in NARRATOR.clock_sentence("7", replace(ev[0], ts=-86_400.0))


def test_the_runner_told_of_a_long_wrong_way_is_told_it_may_be() -> None:
    """Going back to the last aid station on purpose is no mistake: "You may still be going
    the wrong way", never "You are"."""
    said = "Bib 7 is still going the wrong way at km 4.98 (mi 3.09): 1.0 km back along ..."
    told = NARRATOR.runner_words("7", said, 45.0, 6.0, 4980.0, False)
    assert told.startswith("You may still be going the wrong way at km 4.98"), told


def test_a_runner_in_a_race_in_miles_is_told_near_the_course_in_miles() -> None:
    miles = Narrator(straight_course(5000.0), [], units="mi")
    said = "Bib 7 is back near the course at mile 1.00 (km 1.61)"
    told = miles.runner_words("7", said, 45.0, 6.0, 1609.0, False)
    assert told.startswith("You are within 0.6 mi of the course again"), told


def test_how_far_off_reads_in_feet_in_a_race_run_in_miles() -> None:
    """A US race director read "310 m off course" in a race counted in miles: it is feet up to
    1,000 ft (rounded to 10), then miles; the runner is told the course is "230 ft" away."""
    from datetime import UTC, datetime

    from coursewatch.engine.events import Event, Place
    from coursewatch.sim.simulate import _course_from_xy

    course = _course_from_xy(np.zeros(11), np.arange(11) * 1000.0, "road", 45.0, 6.0)
    miles = Narrator(course, [], units="mi")
    x, y = course.xy_at(4500.0)
    lat, lon = course.frame.to_latlon(np.atleast_1d(x - 70.0), np.atleast_1d(y))
    words = miles.runner_words("7", "Bib 7 left the course", float(lat[0]), float(lon[0]),
                               4500.0, True)  # fmt: skip
    assert words.startswith("The course is 230 ft to your east. "), words
    when = datetime(2026, 6, 27, 14, 32, tzinfo=UTC)
    ev = Event("alert", Place(when, float(lat[0]), float(lon[0]), None),
               Place(when, 45.0, 6.0, 4_500.0), 213.0, None, None, None, 0)  # fmt: skip
    assert ": 700 ft from every part of the course" in miles.sentence("7", ev)
    assert ": 0.31 mi from every part" in miles.sentence("7", replace(ev, offset_m=500.0))
    assert ": 213 m from every part" in Narrator(course, []).sentence("7", ev)


def test_the_runner_is_not_asked_whether_they_were_in_a_vehicle() -> None:
    """Race HQ's suspicion went to the runner's own phone: "You may have cut the course: ...
    moved faster than anyone runs (up to 40 mph: a vehicle?)"."""
    course = straight_course(20_000.0)
    said = ("Bib 7 cut the course: left it at km 3.00 and rejoined at km 7.00, 4.0 km of course "
            "skipped; moved faster than anyone runs (up to 49 km/h: a vehicle?)")  # fmt: skip
    words = Narrator(course, []).runner_words("7", said, 45.0, 6.0, 7000.0, False)
    assert "vehicle" not in words and words.endswith("4.0 km of course skipped"), words


def test_a_tracker_started_mid_race_off_the_line_is_not_said_to_have_left_at_km_0() -> None:
    """Ouray's pings with the first 40 % cut: the first, 330 m off the line in town, read
    "left the course to the right at km 0.00" and, once on the line, "cut the course ...
    78.31 km of course skipped". Where the runner left is not known: the engine says so."""
    from datetime import UTC, datetime

    from coursewatch.engine.events import Event, Place

    when = datetime(2026, 6, 27, 14, 32, tzinfo=UTC)
    nowhere = Place(when, 45.0, 6.003, None)
    flag = Event("off_course", nowhere, nowhere, 330.0, None, None, None, 0)
    said = NARRATOR.sentence("7", flag, trend_mps=1.0)
    assert said == "Bib 7 is 330 m off course, not on it since the tracker started: moving away"
    sure = replace(flag, kind="alert", offset_m=155.0, alarm_time=when)
    assert NARRATOR.sentence("7", sure) == (
        "Bib 7 is off course for sure: 155 m from every part of the course, not on it since "
        "the tracker started, flagged at 14:32Z"
    ), NARRATOR.sentence("7", sure)
    words = NARRATOR.runner_words("7", said, 45.0, 6.003, None, True)
    assert words.endswith("You are 330 m off course, not on it since the tracker started: "
                          "moving away."), words  # fmt: skip


def test_a_loops_finish_is_not_where_its_runners_are_after() -> None:
    """UTMB's one waypoint, FINISH, is on the line at km 0 and at the end: "km 80.74, 80.7 km
    after FINISH" read as a runner past the finish; it is after the start."""
    course = straight_course(20_000.0)
    n = Narrator(course, [(0.0, "FINISH"), (20_000.0, "FINISH (pass 2)")])
    assert n.where(8_000.0) == "km 8.00 (mi 4.97), 8.0 km after the start"
    assert n.where(50.0) == "km 0.05 (mi 0.03), at FINISH"  # (at the arch: it is there)
    arch = Narrator(course, [(90.0, "Arch")])  # (after the start: from it, not the arch)
    assert arch.where(1_000.0) == "km 1.00 (mi 0.62), 1.0 km after the start"


@pytest.mark.parametrize(("gap_m", "said"), [(4.0, "missed the turnaround"),
                                              (20.0, "missed the left turn")])  # fmt: skip
def test_a_runner_who_ran_on_past_an_out_and_backs_far_end_missed_the_turnaround(
    gap_m: float, said: str
) -> None:
    """A runner who goes straight on where an out-and-back turns round: "missed the left
    turn" (the half turn read as a turn to one side) told them to look for a junction. A
    half turn whose legs run 20 m apart (a switchback) is a turn: there they missed one."""
    course = hairpin_course(gap_m)
    run = simulate_run(course, pace_mps=3.0, interval_s=5.0, wrong_turn_at_m=1_995.0,
                       wrong_turn_angle_deg=0.0, wrong_turn_len_m=600.0)  # fmt: skip
    res = match_fixes(course, run.time_s, run.lat, run.lon, start_ts=float(run.time_s[0]))
    flag = next(e for e in res.events if e.kind == "off_course")
    sentence = Narrator(course, []).sentence("7", flag, trend_mps=1.0)
    assert sentence.startswith(f"Bib 7 {said} at km 2.0"), sentence
    words = Narrator(course, []).runner_words("7", sentence, flag.at.lat, flag.at.lon, None, True)
    assert f"You may have {said}" in words, words


@pytest.mark.parametrize("spur_m", [60.0, 150.0, 400.0])
def test_a_runner_who_ran_on_past_a_spurs_end_missed_the_turnaround(spur_m: float) -> None:
    """A spur out to a summit and back, 60 m or 400 m long: its end is a turnaround too (the
    200 m looked along from it ran past the junction of a short one: "missed the right turn")."""
    n = Narrator(spur_course(spur_m), [])
    end = 2000.0 + spur_m
    assert turn_side(0.0, n.course_turn(end)[1], 0.0, n.back_along(end)) == "missed the turnaround"
    assert n.back_along(end - 5.0)  # (where the runner is placed may be a few metres short)
