"""Every sentence a person reads about a runner: one module writes them all (but the crew's
news of the race: live/news.py).

Detectors (the engine's and the clock-driven ones) return data: a kind, where, numbers. Here
they become words. "Bib 7 missed the left turn at km 147.65 (mi 91.75): 310 m off course,
moving away". Left and right come from the geometry: the course's own turn at the place the
runner left it when there is one ("missed the left turn"; the far end of an out-and-back,
"missed the turnaround"), else the side the runner went ("left the course to the right").

>>> turn_side(course_heading_deg=0.0, course_turn_deg=-90.0, runner_heading_deg=0.0)
'missed the left turn'
>>> turn_side(course_heading_deg=180.0, course_turn_deg=170.0, runner_heading_deg=0.0)
'missed the turnaround'
>>> turn_side(course_heading_deg=0.0, course_turn_deg=5.0, runner_heading_deg=80.0)
'left the course to the right'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

import numpy as np

from coursewatch.analysis.near import line_distances
from coursewatch.course import Course
from coursewatch.detectors.cutoff import CutoffEvent
from coursewatch.detectors.device import DeviceChange
from coursewatch.detectors.overdue import OverdueEvent
from coursewatch.detectors.signal import SignalEvent
from coursewatch.detectors.stopped import StoppedEvent
from coursewatch.engine.events import Event
from coursewatch.incidents import episode_key, rule
from coursewatch.store import AlertRecord
from coursewatch.units import M_PER_MI, compass, h_min, km_mi, length, off

HEDGES = (("You missed", "You may have missed"), ("You left", "You may have left"),
          ("You cut", "You may have cut"), ("You are going the wrong way", "You may be going "
          "the wrong way"), ("You are still going the wrong way", "You may still be going the "
          "wrong way"))  # fmt: skip
START_LANDMARK_M = 100.0  # "after" a station this near km 0 is after the start (UTMB's FINISH)
TURN_MIN_DEG = 25.0
TURNAROUND_DEG = 135.0  # a turn this sharp, where the course comes back along itself
BACK_ALONG = ((20.0, 6.0), (40.0, 6.0))  # (on, m): this near the way there (the same way)
TURN_SPAN_M = 40.0
UNPLACED = "not on it since the tracker started"  # (mid-race: where they left is not known)
ClockEvent = StoppedEvent | SignalEvent | OverdueEvent | CutoffEvent


def _heading_deg(dx: float, dy: float) -> float:
    """Compass heading of a vector in the local frame (x east, y north)."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _signed(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def turn_side(
    course_heading_deg: float, course_turn_deg: float, runner_heading_deg: float,
    back_along: bool = True,
) -> str:  # fmt: skip
    """What the runner did at the place they left, in words (clockwise angles positive);
    ``back_along``: the course comes back along itself there (else a half turn is a turn)."""
    if abs(course_turn_deg) >= TURNAROUND_DEG and back_along:
        return "missed the turnaround"
    if abs(course_turn_deg) >= TURN_MIN_DEG:
        return f"missed the {'right' if course_turn_deg > 0 else 'left'} turn"
    side = _signed(runner_heading_deg - course_heading_deg)
    return f"left the course to the {'right' if side > 0 else 'left'}"


class Narrator:
    """Writes the sentence of every alert of one race, with its stations for context."""

    def __init__(
        self,
        course: Course,
        stations: Sequence[tuple[float, str]] = (),
        tz: tzinfo | None = None,
        units: str = "km",
    ) -> None:
        self.course = course
        self.stations = sorted(stations)
        self.tz = tz  # the race's clock (its start's timezone); None: UTC, marked Z
        self.units = units  # what its distances lead with: "km" or "mi" (a race run in miles)

    def clock(self, when: datetime | float, ref_s: float | None = None) -> str:
        """A time of day as the race reads its clock: "07:32" in the race's timezone, or
        "14:32Z" without one; with its weekday ("Sat 07:32") when it falls on another day
        than ``ref_s`` (an ETA or a cut-off a night away, in a race of several days)."""
        if not isinstance(when, datetime):
            when = datetime.fromtimestamp(when, UTC)
        local = when.astimezone(self.tz or UTC)
        text = f"{local:%H:%M}" if self.tz is not None else f"{local:%H:%M}Z"
        if ref_s is not None and datetime.fromtimestamp(ref_s, local.tzinfo).date() != local.date():
            text = f"{local:%a} {text}"
        return text

    def at(self, distance_m: float) -> str:
        """A place along the course: "km 23.41 (mi 14.55)", miles first in a race run in miles."""
        return km_mi(distance_m, lead=self.units)

    def span(self, length_m: float, digits: int = 1) -> str:
        """A length along the course in the race's unit: "2.3 km", "1.4 mi"."""
        return length(length_m, self.units, digits)

    def off(self, distance_m: float) -> str:
        """How far off the course, in the race's unit: "310 m", "200 ft", "0.19 mi"."""
        return off(distance_m, self.units)

    def speed(self, mps: float) -> str:
        """A speed in the race's unit: "40 mph", "64 km/h"."""
        return f"{mps * 3600 / M_PER_MI:.0f} mph" if self.units == "mi" else f"{mps * 3.6:.0f} km/h"

    def where(self, s_m: float) -> str:
        text = self.at(s_m)
        near = sorted((abs(d - s_m), n) for d, n in self.stations if abs(d - s_m) < 200.0)
        before = [(d, n) for d, n in self.stations if d <= s_m + 1.0]
        after = [(d, n) for d, n in self.stations if d > s_m + 1.0]
        if near:  # (its tent, its car park: off its point on the line)
            text += f", at {near[0][1]}"
        elif after and (not before or after[0][0] - s_m < s_m - before[-1][0]):
            d, name = after[0]  # the nearer landmark: 0.6 mi before Fellin Park
            text += f", {self.span(d - s_m)} before {name}"
        elif before:
            d, name = before[-1]
            d, name = (0.0, "the start") if d < START_LANDMARK_M else (d, name)
            text += f", {self.span(s_m - d)} after {name}"
        return text

    def course_turn(self, s_m: float) -> tuple[float, float]:
        """Course heading leaving ``s_m`` and how much it turns there, degrees."""
        xs, ys = self.course.xy_at(np.array([s_m - TURN_SPAN_M, s_m, s_m + TURN_SPAN_M]))
        before = _heading_deg(xs[1] - xs[0], ys[1] - ys[0])
        after = _heading_deg(xs[2] - xs[1], ys[2] - ys[1])
        return after, _signed(after - before)

    def back_along(self, s_m: float) -> bool:
        """Whether the course comes back along itself from ``s_m`` (an out-and-back's end, a
        spur's, however short): its next 40 m near the 400 m before (BACK_ALONG)."""
        bx, by = self.course.xy_at(s_m - np.arange(0.0, 400.0, 5.0))
        for d, most in BACK_ALONG:
            (x,), (y,) = self.course.xy_at(np.array([s_m + d]))
            if float(np.min(np.hypot(bx - x, by - y))) > most:
                return False
        return True

    def off_course(self, bib: str, ev: Event, trend_mps: float) -> str:
        left = ev.left or ev.at
        trend = ("moving away" if trend_mps > 0.2 else "coming back" if trend_mps < -0.2
                 else "neither moving away nor coming back")  # fmt: skip
        if left.course_m is None:  # a tracker started mid-race, off the line
            return f"Bib {bib} is {self.off(ev.offset_m)} off course, {UNPLACED}: {trend}"
        s = left.course_m
        heading, turn = self.course_turn(s)
        (x0, x1), (y0, y1) = self.course.frame.to_xy([left.lat, ev.at.lat], [left.lon, ev.at.lon])
        went = _heading_deg(float(x1 - x0), float(y1 - y0))
        what = turn_side(heading, turn, went, self.back_along(s))
        return f"Bib {bib} {what} at {self.where(s)}: {self.off(ev.offset_m)} off course, {trend}"

    def sentence(self, bib: str, ev: Event, trend_mps: float = 0.0) -> str:
        at_s = ev.at.course_m or 0.0
        left_s = ev.left.course_m if ev.left and ev.left.course_m is not None else at_s
        if ev.kind == "off_course":
            return self.off_course(bib, ev, trend_mps)
        if ev.kind == "back_on_course":
            worst = ""
            if ev.max_offset_m and math.isfinite(ev.max_offset_m):
                worst = f" (at most {self.off(ev.max_offset_m)} off)"
            return f"Bib {bib} is back on course at {self.where(at_s)}{worst}"
        if ev.kind == "shortcut":
            return (
                f"Bib {bib} cut the course: left it at {self.at(left_s)} and rejoined at "
                f"{self.where(at_s)}, {self.span(at_s - left_s, 2)} of course skipped"
            )
        if ev.kind == "wrong_way":
            return (
                f"Bib {bib} is going the wrong way at {self.where(at_s)}: "
                f"{self.off(max(left_s - at_s, 0.0))} back along the course"
            )
        if ev.kind == "wrong_way_confirmed":
            flagged = "" if ev.alarm_time is None else f", flagged at {self.clock(ev.alarm_time)}"
            return (f"Bib {bib} is still going the wrong way at {self.where(at_s)}: "
                    f"{self.span(max(left_s - at_s, 0.0))} back along the course since "
                    f"{self.at(left_s)}{flagged}")  # fmt: skip
        if ev.kind == "wrong_way_end":
            return f"Bib {bib} is going the right way again at {self.where(at_s)}"
        if ev.kind == "alert":
            flagged = "" if ev.alarm_time is None else f", flagged at {self.clock(ev.alarm_time)}"
            near = f" near {self.where(left_s)}"
            if ev.left is not None and ev.left.course_m is None:
                near, flagged = "", f", {UNPLACED}{flagged}"
            return (f"Bib {bib} is off course for sure{near}: {self.off(ev.offset_m)} from every "
                    f"part of the course{flagged}")  # fmt: skip
        if ev.kind == "far_from_course":
            far = f"Bib {bib} is far from the course: {self.span(ev.offset_m)} from every part"
            if ev.left is not None and ev.left.course_m is not None:  # where to look from
                return f"{far} of it, last on it near {self.where(left_s)}"
            return f"{far} of it (another race? a tracker left at home? a car?)"
        if ev.kind == "back_near_course":
            return f"Bib {bib} is back near the course at {self.where(at_s)}"
        return f"Bib {bib}: {ev.kind.replace('_', ' ')} at {self.where(at_s)}"

    def record(
        self,
        race_id: str,
        bib: str,
        ev: Event,
        raised_s: float,
        trend_mps: float = 0.0,
        fix: tuple[float, float] | None = None,
        ride_mps: float | None = None,
    ) -> AlertRecord:
        """The alert of an engine event, keyed by its kind and time. ``fix``: where the fix
        of the event was, for one too far from the course to be placed in its frame;
        ``ride_mps``: a shortcut in a vehicle, its speed."""
        if not math.isfinite(ev.offset_m) and fix is not None:  # hundreds of km away
            far_m = float(line_distances(self.course, np.array([fix[0]]), np.array([fix[1]]))[0])
            ev = replace(ev, at=replace(ev.at, lat=fix[0], lon=fix[1]), offset_m=far_m)
        left = ev.left
        detail: dict[str, object] = {
            "fix_index": ev.fix_index, "raised_s": raised_s, "path_m": ev.path_m,
            "max_offset_m": ev.max_offset_m if math.isfinite(ev.max_offset_m or 0.0) else None,
        }  # fmt: skip
        if left is not None and math.isfinite(left.lat):
            detail["left"] = {"time_s": left.time.timestamp(), "lat": left.lat, "lon": left.lon,
                              "course_m": left.course_m}  # fmt: skip
        if ev.alarm_time is not None:
            detail["alarm_s"] = ev.alarm_time.timestamp()
        sentence = self.sentence(bib, ev, trend_mps)
        if ride_mps is not None:
            detail["ride_mps"] = ride_mps
            fast = self.speed(ride_mps)
            sentence += f"; moved faster than anyone runs (up to {fast}: a vehicle?)"
        at_s = ev.at.time.timestamp()
        since = None if ev.alarm_time is None else ev.alarm_time.timestamp()
        # far from the course during an off-course episode: an update of its incident
        joined = ev.kind in ("far_from_course", "back_near_course") and left is not None
        does = rule(ev.kind, joined)
        return AlertRecord(
            race_id=race_id, bib=bib, kind=ev.kind, time_s=at_s, lat=ev.at.lat, lon=ev.at.lon,
            course_m=ev.at.course_m, offset_m=ev.offset_m, sentence=sentence, detail=detail,
            raised_s=raised_s, episode=episode_key(ev.kind, at_s, since, joined),
            level=does.level, closes=does.closes, names=does.names,
        )  # fmt: skip

    def _feed_failing(self, feed: tuple[str, float | None, str] | None, at_s: float) -> str:
        """A silence while the runner's feed fails: race HQ's side, the device may be fine."""
        if feed is None:
            return ""
        (kind, ok_s, why), names = feed, {"mapshare": "MapShare", "spot": "SPOT"}
        since = "never answered" if ok_s is None else f"not answered since {self.clock(ok_s, at_s)}"
        return (f"; but their {names.get(kind, kind)} feed has {since} ({why}): their device may "
                "still be sending")  # fmt: skip

    def clock_sentence(self, bib: str, e: ClockEvent, seen_s: float | None = None) -> str:
        """The sentence of a clock-driven detector's event (stopped, signal, overdue, cut-off);
        ``seen_s``: the runner's last fix, said with where they were last seen."""
        return f"Bib {bib}: {self._clock_text(e, seen_s)}"

    def _clock_text(self, e: ClockEvent, seen_s: float | None) -> str:
        here = self.at(e.course_m)
        if isinstance(e, SignalEvent) and math.isfinite(e.last_fix_ts):
            seen_s = e.last_fix_ts
        seen = "" if seen_s is None else f" at {self.clock(seen_s, e.ts)}"
        if isinstance(e, StoppedEvent):
            if e.kind in ("stopped", "stopped_long"):
                return f"no progress for {h_min(e.stopped_s)} at {here}, away from any station"
            # progress, not movement: off the course (a car, a wrong trail) it is held too
            return (f"moving along the course again at {here}, after {h_min(e.stopped_s)} "
                    "without progress")  # fmt: skip
        if isinstance(e, SignalEvent):
            if e.kind in ("signal_lost", "silent_long"):
                every_s = e.usual_interval_s  # ("every 0.0 min" for a tracker's 2 s)
                usual = (f"usually every {every_s:.0f} s" if every_s < 59.5
                         else f"usually every {every_s / 60:.1f} min")  # fmt: skip
                said = f"no position for {h_min(e.silent_s)} ({usual}); last seen at {here}{seen}"
                return said + self._feed_failing(e.feed, e.ts)
            return f"signal back at {here} after {h_min(e.silent_s)} without a position"
        station = self.label(e.station_m)
        if isinstance(e, OverdueEvent):
            if e.kind == "arrived":
                return f"reached {station}, {h_min(e.late_s)} after expected"
            return (f"expected at {station} {h_min(e.late_s)} ago (tolerance "
                    f"{e.tolerance_s / 60:.0f} min); last seen at {here}{seen}"
                    + self._feed_failing(e.feed, e.ts))  # fmt: skip
        cutoff = self.clock(e.cutoff_ts, e.ts)
        if e.kind in ("cutoff_passed", "cutoff_missed"):
            verdict = (f"{h_min(e.margin_min * 60)} before" if e.margin_min >= 0
                       else f"{h_min(-e.margin_min * 60)} after")  # fmt: skip
            return f"reached {station} {verdict} its cut-off ({cutoff})"
        if e.kind == "cutoff_clear":
            return (f"now projected at {station} {h_min(e.margin_min * 60)} before its cut-off "
                    f"({cutoff}); now at {here}")  # fmt: skip
        if e.ts >= e.cutoff_ts:  # a silent runner's: the cut-off passed before anyone knew
            return f"not at {station} by its cut-off ({cutoff}); last seen at {here}"
        late = -e.margin_min
        verdict = f"{h_min(late * 60)} after" if late >= 0 else f"only {h_min(-late * 60)} before"
        return f"projected at {station} {verdict} its cut-off ({cutoff}); now at {here}"

    def runner_words(
        self, bib: str, sentence: str, lat: float, lon: float, course_m: float | None, off: bool
    ) -> str:
        """An incident's sentence for the runner's own phone: in the second person, hedged,
        and while they are ``off`` the course, where it is from them ("70 m to your west")."""
        text = sentence.replace(f"Bib {bib} is ", "You are ", 1).replace(f"Bib {bib} ", "You ", 1)
        for said, hedged in HEDGES:
            if text.startswith(said):
                text = hedged + text[len(said) :]
                break
        text = re.sub(r", flagged at (\w{3} )?\d\d:\d\dZ?", "", text)  # race HQ's words, not theirs
        text = text.replace(" (another race? a tracker left at home? a car?)", "")
        text = re.sub(r"; moved faster than anyone runs \(up to [^)]*\)", "", text)
        text = text.replace("every part of the course", "the course").replace(
            "back near the course", f"within {self.span(1000.0)} of the course again"
        )
        if not off:
            return text
        x, y = self.course.frame.to_xy([lat], [lon])
        qx, qy = self._nearest_on_line(float(x[0]), float(y[0]), course_m)
        dx, dy = qx - float(x[0]), qy - float(y[0])
        heading = _heading_deg(dx, dy)  # first: a lock screen shows the start of a message
        return f"The course is {self.off(math.hypot(dx, dy))} to your {compass(heading)}. {text}."

    def _nearest_on_line(self, x: float, y: float, course_m: float | None) -> tuple[float, float]:
        """The nearest point of the course line (not of its points: a route planner's points
        can be a kilometre apart), within 3 km of ``course_m`` along it when known (the part
        they left, not another pass of it)."""
        c = self.course
        i = np.arange(len(c.cum_m) - 1)
        if course_m is not None:
            i = i[(c.cum_m[1:] > course_m - 3000.0) & (c.cum_m[:-1] < course_m + 3000.0)]
        if not len(i):
            i = np.arange(len(c.cum_m) - 1)
        ax, ay, bx, by = c.x[i], c.y[i], c.x[i + 1], c.y[i + 1]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / np.where(length2 > 0, length2, 1.0), 0, 1)
        px, py = ax + t * dx, ay + t * dy
        k = int(np.argmin((px - x) ** 2 + (py - y) ** 2))
        return float(px[k]), float(py[k])

    def device_record(
        self,
        race_id: str,
        bib: str,
        change: DeviceChange,
        where: tuple[float, float, float | None],
        text: str = "",
        raised_s: float = 0.0,
        device: str | None = None,
    ) -> AlertRecord:
        """What the runner's device said (detectors/device.py), at ``where`` (lat, lon, and
        course distance when known): the message, or the runner's last position. ``device``:
        the one that said it, kept in the event (a restart knows which device's end ends it)."""
        lat, lon, course_m = where
        does = rule(change.kind)
        return AlertRecord(
            race_id=race_id, bib=bib, kind=change.kind, time_s=change.ts, lat=lat, lon=lon,
            course_m=course_m, offset_m=None,
            sentence=f"Bib {bib}: {self._device_text(change, course_m, text)}",
            detail={"raised_s": raised_s, "since_s": change.since_ts, "text": text,
                    "device": device},
            raised_s=raised_s, episode=episode_key(change.kind, change.ts, change.since_ts),
            level=does.level, closes=does.closes, names=does.names,
        )  # fmt: skip

    def _device_text(self, change: DeviceChange, course_m: float | None, text: str) -> str:
        # (", last placed at mile 138.12 (km 222.28)": not brackets in brackets)
        here = (
            "not placed on the course yet"
            if course_m is None
            else f"last placed at {self.at(course_m)}"
        )
        took = h_min(change.ts - change.since_ts)
        if change.kind == "sos":
            return f"SOS from their device, {here}"
        if change.kind == "sos_message" and change.ts - change.since_ts < 60.0:  # with it:
            return f"SOS from their device, with a message: \u201c{text}\u201d, {here}"  # (first)
        if change.kind == "sos_message":
            return f"message from the runner during their SOS: \u201c{text}\u201d, {here}"
        if change.kind == "sos_cancel":
            return f"SOS cancelled on their device after {took}, {here}"
        if change.kind == "battery_low":
            return f"their tracker's battery is low, {here}"
        if change.kind == "battery_ok":
            return f"tracker battery fine again after {took} low"
        return f"message from the runner: \u201c{text}\u201d, {here}"

    def label(self, station_m: float) -> str:
        """The station pass at ``station_m``, by its name."""
        for d, name in self.stations:
            if d == station_m:
                return name
        return f"the station at {km_mi(station_m, lead=self.units, other=False)}"
