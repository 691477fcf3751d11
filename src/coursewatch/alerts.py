"""Alerts a person can act on: an engine event becomes a record with a sentence.

"Bib 7 missed the left turn at km 147.65 (mi 91.75): 310 m off course, moving away". Left and
right come from the geometry: the course's own turn at the place the runner left it when there
is one ("missed the left turn"), else the side the runner went ("left the course to the right").

>>> km_mi(147650.0)
'km 147.65 (mi 91.75)'
>>> turn_side(course_heading_deg=0.0, course_turn_deg=-90.0, runner_heading_deg=0.0)
'missed the left turn'
>>> turn_side(course_heading_deg=0.0, course_turn_deg=5.0, runner_heading_deg=80.0)
'left the course to the right'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from coursewatch.course import Course
from coursewatch.engine.matcher import Event
from coursewatch.store import AlertRecord

METRES_PER_MILE = 1609.344
TURN_MIN_DEG = 25.0
TURN_SPAN_M = 40.0


def km_mi(distance_m: float) -> str:
    """A course distance as the race director reads it, in km and miles."""
    return f"km {distance_m / 1000:.2f} (mi {distance_m / METRES_PER_MILE:.2f})"


def _heading_deg(dx: float, dy: float) -> float:
    """Compass heading of a vector in the local frame (x east, y north)."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _signed(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def turn_side(course_heading_deg: float, course_turn_deg: float, runner_heading_deg: float) -> str:
    """What the runner did at the place they left, in words (clockwise angles positive)."""
    if abs(course_turn_deg) >= TURN_MIN_DEG:
        return f"missed the {'right' if course_turn_deg > 0 else 'left'} turn"
    side = _signed(runner_heading_deg - course_heading_deg)
    return f"left the course to the {'right' if side > 0 else 'left'}"


class Narrator:
    """Writes the sentence of every alert of one race, with its stations for context."""

    def __init__(self, course: Course, stations: Sequence[tuple[float, str]] = ()) -> None:
        self.course = course
        self.stations = sorted(stations)

    def where(self, s_m: float) -> str:
        text = km_mi(s_m)
        before = [(d, n) for d, n in self.stations if d <= s_m + 1.0]
        if before:
            d, name = before[-1]
            gap = s_m - d
            text += f", at {name}" if gap < 200 else f", {gap / 1000:.1f} km after {name}"
        return text

    def course_turn(self, s_m: float) -> tuple[float, float]:
        """Course heading leaving ``s_m`` and how much it turns there, degrees."""
        xs, ys = self.course.xy_at(np.array([s_m - TURN_SPAN_M, s_m, s_m + TURN_SPAN_M]))
        before = _heading_deg(xs[1] - xs[0], ys[1] - ys[0])
        after = _heading_deg(xs[2] - xs[1], ys[2] - ys[1])
        return after, _signed(after - before)

    def off_course(self, bib: str, ev: Event, trend_mps: float) -> str:
        left = ev.left or ev.at
        s = left.course_m if left.course_m is not None else 0.0
        heading, turn = self.course_turn(s)
        (x0, x1), (y0, y1) = self.course.frame.to_xy([left.lat, ev.at.lat], [left.lon, ev.at.lon])
        what = turn_side(heading, turn, _heading_deg(float(x1 - x0), float(y1 - y0)))
        trend = "moving away" if trend_mps > 0.2 else "coming back" if trend_mps < -0.2 else "still"
        return f"Bib {bib} {what} at {self.where(s)}: {ev.offset_m:.0f} m off course, {trend}"

    def sentence(self, bib: str, ev: Event, trend_mps: float = 0.0) -> str:
        at_s = ev.at.course_m or 0.0
        left_s = ev.left.course_m if ev.left and ev.left.course_m is not None else at_s
        if ev.kind == "off_course":
            return self.off_course(bib, ev, trend_mps)
        if ev.kind == "back_on_course":
            worst = f" (at most {ev.max_offset_m:.0f} m off)" if ev.max_offset_m else ""
            return f"Bib {bib} is back on course at {self.where(at_s)}{worst}"
        if ev.kind == "shortcut":
            return (
                f"Bib {bib} cut the course: left it at {km_mi(left_s)} and rejoined at "
                f"{self.where(at_s)}, {(at_s - left_s) / 1000:.2f} km of course skipped"
            )
        if ev.kind == "wrong_way":
            return (
                f"Bib {bib} is going the wrong way at {self.where(at_s)}: "
                f"{max(left_s - at_s, 0.0):.0f} m back along the course"
            )
        if ev.kind == "wrong_way_end":
            return f"Bib {bib} is going the right way again at {self.where(at_s)}"
        return f"Bib {bib}: {ev.kind.replace('_', ' ')} at {self.where(at_s)}"

    def record(
        self, race_id: str, bib: str, ev: Event, raised_s: float, trend_mps: float = 0.0
    ) -> AlertRecord:
        """The alert of an engine event, keyed by its kind and time."""
        left = ev.left
        detail: dict[str, object] = {
            "fix_index": ev.fix_index,
            "raised_s": raised_s,
            "max_offset_m": ev.max_offset_m,
            "path_m": ev.path_m,
        }
        if left is not None:
            detail["left"] = {
                "time_s": left.time.timestamp(),
                "lat": left.lat,
                "lon": left.lon,
                "course_m": left.course_m,
            }
        if ev.alarm_time is not None:
            detail["alarm_s"] = ev.alarm_time.timestamp()
        return AlertRecord(
            race_id=race_id,
            bib=bib,
            kind=ev.kind,
            time_s=ev.at.time.timestamp(),
            lat=ev.at.lat,
            lon=ev.at.lon,
            course_m=ev.at.course_m,
            offset_m=ev.offset_m,
            sentence=self.sentence(bib, ev, trend_mps),
            detail=detail,
            raised_s=raised_s,
        )
