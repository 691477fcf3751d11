"""Excursions, in hindsight: the live events and the whole track, turned into episodes.

The live matcher's events say when race HQ was told; the whole track says where the runner
really left the course (walking back from the alarm to the last fix on the line), where they
came back, how far they went, the extra distance they ran and the time it cost them. Stretches
far from the line that never raised an alarm live are excursions too, and pieces of one
excursion (a wrong trail crossing another part of the course) are joined into one episode.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from coursewatch.analysis.results import Excursion, Point, utc
from coursewatch.analysis.transport import journey, on_foot_m
from coursewatch.course import Course
from coursewatch.engine.config import EngineConfig
from coursewatch.engine.events import Event
from coursewatch.engine.matcher import MatchResult
from coursewatch.geo import FloatArray, haversine_m
from coursewatch.track import Track

ON_LINE_M = 25.0  # hindsight: a fix this close to the course is back on it
BEGAN_OFF_M = 60.0  # a recording whose first fix is this far off began off the line
AT_START_M = 1000.0  # a recording first heard this near the start began there (anywhere so near)
UNALERTED_MIN_M = 60.0  # an excursion never alarmed live is reported when it went this far
UNALERTED_MIN_S = 30.0  # ... for at least this long
BACK_JITTER_M = 2.0  # progress may go back this much between fixes of a runner standing
EPISODE_GAP_M = 150.0  # back on the course: once the runner has gone on along it this far
PACE_WINDOW_S = 3600.0  # pace before an excursion, for the time it cost
STILL_MPS = 0.3  # slower than this between fixes: still ...
STOP_MIN_S = 300.0  # ... and still this long, at a station or in a gap: not time lost
STATION_NEAR_M = 300.0  # an aid station's tent, a little off the line
GAP_INTERVALS = 3.0  # a step this many times the usual interval: a gap in the recording
REJOIN_LOOK_S = 600.0  # hindsight: where the matcher settles this soon after a runner is back
REJOIN_NEAR_M = 50.0  # ... and a fix this close to the line is at it
HQ_KINDS = ("alert", "wrong_way_confirmed", "far_from_course")  # the live events that told HQ


class Excursions:
    """Turns the live events and the whole track into excursions."""

    def __init__(
        self, course: Course, track: Track, match: MatchResult, offset: FloatArray,
        path: FloatArray, config: EngineConfig, began_at_start: bool = False,
    ) -> None:  # fmt: skip
        self.course = course
        self.track = track
        self.match = match
        self.offset = offset
        self.path = path
        self.config = config
        self.excused = excused_steps(course, track)  # stops there are not time lost
        self.began_at_start = began_at_start  # (its first fix within 1 km of the start)

    def point(self, k: int, course_m: float | None) -> Point:
        tr = self.track
        return Point(utc(tr.time_s[k]), float(tr.lat[k]), float(tr.lon[k]), course_m)

    def excursions(self) -> tuple[Excursion, ...]:
        out: list[Excursion] = []
        ev = self.match.events
        covered = np.zeros(len(self.track), dtype=bool)
        i = 0
        while i < len(ev):
            e = ev[i]
            if e.kind in ("off_course", "wrong_way"):
                end_kind = "wrong_way_end" if e.kind == "wrong_way" else None
                j = i + 1
                while j < len(ev) and not (
                    ev[j].kind == end_kind
                    or (end_kind is None and ev[j].kind in ("back_on_course", "shortcut"))
                ):
                    j += 1
                end = ev[j] if j < len(ev) else None
                kind = e.kind
                if end is not None and end.kind == "shortcut":
                    kind = "shortcut"
                told = next((x for x in ev[i + 1 : j] if x.kind in HQ_KINDS), None)
                exc = self.build(kind, e, end, told)
                covered[exc.first_fix : exc.last_fix + 1] = True
                out.append(exc)
                i = j + 1 if end is not None else len(ev)
            elif e.kind == "shortcut":  # a jump along the line with no alarm before it
                exc = self.build("shortcut", None, e, None)
                covered[exc.first_fix : exc.last_fix + 1] = True
                out.append(exc)
                i += 1
            else:
                i += 1
        out.extend(self.unalerted(covered))
        out.sort(key=lambda x: x.left.time)
        return tuple(_priced(self.by_vehicle(e)) for e in self.episodes(out))

    def by_vehicle(self, e: Excursion) -> Excursion:
        """An excursion part of which no runner goes on foot (analysis/transport.py): what
        the vehicle moved is not run, and the course skipped less what was run is cut."""
        far = journey(self.track, e.first_fix, e.last_fix)
        if far is None:
            return e
        moved = (self.point(far.k0, None), self.point(far.k1, None), far.speed_mps)
        if e.rejoined is None or e.rejoined.course_m is None or e.left.course_m is None:
            return replace(e, transport=moved)
        skipped_m = e.rejoined.course_m - e.left.course_m
        extra = on_foot_m(self.track, self.path, e.first_fix, e.last_fix) - skipped_m
        kind = "shortcut" if extra < -self.config.shortcut_m else e.kind
        return replace(e, kind=kind, extra_distance_m=extra, transport=moved)

    def episodes(self, pieces: list[Excursion]) -> list[Excursion]:
        """Pieces of one excursion joined up: the runner is back on the course only once they
        go on along it.

        Live, a runner lost on a trail that crosses or runs beside the course elsewhere is "back
        on the line" there, then off again: several alarms. In hindsight it is one episode
        until the runner has gone ``EPISODE_GAP_M`` on along the course from where they
        came back.
        """
        out: list[Excursion] = []
        for e in pieces:
            if out:
                a = out[-1]
                if a.rejoined is not None and e.first_fix > a.last_fix:
                    went_on = self.went_on(a.last_fix, e.first_fix)
                else:
                    went_on = 0.0  # never rejoined, or overlapping: the same episode
                # (a recording begun off the line: its way to the line is a piece of its own)
                if went_on < EPISODE_GAP_M and not a.from_nowhere:
                    out[-1] = self.joined(a, e)
                    continue
            out.append(e)
        return out

    def went_on(self, k0: int, k1: int) -> float:
        """How far the runner went on along the course from fix ``k0`` to ``k1``, m: the
        most forward progress reached, counting no step faster than a runner can go (a jump
        of the match from one part of the course to another is no running)."""
        t = self.track.time_s[k0 : k1 + 1]
        dp = np.diff(self.match.progress_m[k0 : k1 + 1])
        dp = np.minimum(dp, self.config.vmax_mps * np.diff(t))
        return float(np.cumsum(dp).max()) if len(dp) else 0.0

    def joined(self, a: Excursion, b: Excursion) -> Excursion:
        k0 = a.first_fix
        k1 = max(a.last_fix, b.last_fix)
        last = b if b.last_fix >= a.last_fix else a
        flagged = a.flagged if a.flagged is not None else b.flagged
        alerted = a.alerted if a.alerted is not None else b.alerted
        rejoined = last.rejoined
        extra = 0.0
        lost = None
        kind = "off_course"
        if a.kind == b.kind == "wrong_way":
            kind = "wrong_way"
        left_s = a.left.course_m
        if rejoined is not None and rejoined.course_m is not None and left_s is not None:
            extra, lost = self.cost(k0, k1, left_s, rejoined.course_m)
            if extra < -self.config.shortcut_m and self.cut_shown(k0, k1, left_s, rejoined):
                kind = "shortcut"  # more course skipped than run, and the fixes can show it
        max_off = max(a.max_offset_m, b.max_offset_m)
        return Excursion(kind, a.left, flagged, alerted, rejoined, max_off, extra, lost, k0, k1)

    def cut_shown(self, k0: int, k1: int, left_s: float, rejoined: Point) -> bool:
        """Whether the fixes can show a cut, as live (engine/offcourse.py): close enough
        together to measure the way run (``dense_s``), or the course skipped further than
        anyone could have run in the time. Pings minutes apart are straight lines that skip
        every bend: shorter than the course by themselves."""
        dts = np.diff(self.track.time_s[k0 : k1 + 1])
        if len(dts) and float(np.median(dts)) <= self.config.dense_s:
            return True
        return bool((rejoined.course_m or left_s) - left_s > self.reach_m(k0, k1))

    def reach_m(self, k0: int, k1: int) -> float:
        """How far anyone could have run from fix ``k0`` to fix ``k1`` (a burst, then less)."""
        cfg, took_s = self.config, float(self.track.time_s[k1] - self.track.time_s[k0])
        burst = min(took_s, cfg.burst_s)
        return cfg.vmax_mps * burst + cfg.vsus_mps * max(took_s - burst, 0.0)

    def departure(self, k: int, covered: np.ndarray | None = None) -> int:
        """The fix where the runner left the course, walking back from fix ``k``: to the last
        fix on the line, then over any stretch run backwards along the course just before (a
        wrong turn back down the course is off it from the point of turning)."""
        off, prog = self.offset, self.match.progress_m

        def free(i: int) -> bool:
            return covered is None or not covered[i]

        while k > 0 and off[k - 1] > ON_LINE_M and free(k - 1):
            k -= 1
        k = max(k - 1, 0)
        j = k
        while j > 0 and prog[j - 1] >= prog[j] - BACK_JITTER_M:
            if not free(j - 1):
                break
            j -= 1
        # the last fix at the furthest point reached (a stop there is not part of it)
        stretch = prog[j : k + 1]
        return j + int(np.flatnonzero(stretch >= stretch.max() - BACK_JITTER_M)[-1])

    def build(
        self, kind: str, alarm: Event | None, end: Event | None, told: Event | None
    ) -> Excursion:
        """The excursion of a flag (``alarm``), the way back (``end``), and the alert that told
        race HQ (``told``), each None when there was none."""
        tr = self.track
        n = len(tr)
        k_alarm = alarm.fix_index if alarm is not None else (end.fix_index if end else n - 1)
        # hindsight: walk back from the alarm to the last fix on the line
        k0 = k_alarm
        if kind != "wrong_way":
            k0 = self.departure(k0)
        elif alarm is not None and alarm.left is not None:
            k0 = int(np.searchsorted(tr.time_s, alarm.left.time.timestamp()))
        k1 = None
        if end is not None:
            k1 = int(np.searchsorted(tr.time_s, end.at.time.timestamp()))
            k1 = min(k1, n - 1)
        # where along the course: the progress matched at the last fix on the line (the
        # live change point comes later, where the offset began to count as evidence); a
        # wrong way leaves the line nowhere, so the live estimate stands
        left_s = float(self.match.progress_m[k0])
        live_left = alarm.left if alarm is not None else None
        if kind == "wrong_way" and live_left is not None and live_left.course_m is not None:
            left_s = float(live_left.course_m)
        # a tracker started mid-race off the line (never placed before the flag, or off it
        # from its first fix): where the runner left the course is not known, nor what the
        # excursion cost; it is off the course from the recording's start
        unplaced = never = live_left is not None and live_left.course_m is None  # (on the line)
        late = False  # back beside the course, not placed on it live: on it where first placed
        if never or (kind != "wrong_way" and k0 == 0 and self.offset[0] > BEGAN_OFF_M):
            k0, unplaced = 0, True
            late = k1 is not None and end is not None and end.at.course_m is None
            k1 = self.placed(k1) if k1 is not None and late else k1
        flagged = None if alarm is None else Point(alarm.at.time, alarm.at.lat, alarm.at.lon)
        alerted = None if told is None else Point(told.at.time, told.at.lat, told.at.lon)
        last = k1 if k1 is not None else n - 1
        max_off = float(self.offset[k0 : last + 1].max()) if last >= k0 else 0.0
        rejoined = None
        extra = 0.0
        lost = None
        if k1 is not None and end is not None:
            live_s = float(end.at.course_m) if end.at.course_m is not None else left_s
            live_s = float(self.match.progress_m[k1]) if late else live_s
            rejoin_s = self.rejoin_m(k1, live_s)
            rejoined = self.point(k1, rejoin_s)
            # never on the line since a recording begun at the start, first on it further than
            # anyone runs: they left it at the start (Duo Etoile against the 90 km of Chamonix)
            if never and self.began_at_start and rejoin_s > self.reach_m(k0, k1) + AT_START_M:
                unplaced, left_s = False, 0.0
            extra, lost = (0.0, None) if unplaced else self.cost(k0, k1, left_s, rejoin_s)
            moved = rejoin_s != live_s or late  # (live, it was a way back where they had left)
            if moved and kind == "off_course" and extra < -self.config.shortcut_m:
                kind = "shortcut" if self.cut_shown(k0, k1, left_s, rejoined) else kind
        left = self.point(k0, None if unplaced else left_s)
        return Excursion(kind, left, flagged, alerted, rejoined, max_off, extra, lost, k0, last)

    def placed(self, k: int) -> int:
        """The first fix from ``k`` on that the matcher placed on the line (the last fix when
        none is: the track ends off it, as far as anyone can tell)."""
        on = np.flatnonzero(self.match.matched[k:])
        return k + int(on[0]) if len(on) else len(self.track) - 1

    def rejoin_m(self, k1: int, live_m: float) -> float:
        """Where along the course the runner came back at fix ``k1``, in hindsight. Live, the
        matcher may hold a runner back on the line further on where it had them until so
        long a jump is believable (MaxiRace night 2021: back at km 47.35, said km 47.15).
        When the fix is not at ``live_m``, it is at the nearest place of the line between
        there and where the matcher went within ``REJOIN_LOOK_S``."""
        tr, c = self.track, self.course
        x, y = c.frame.to_xy(tr.lat[k1 : k1 + 1], tr.lon[k1 : k1 + 1])
        lx, ly = c.xy_at(np.array([live_m]))
        if float(np.hypot(lx - x, ly - y)[0]) <= REJOIN_NEAR_M:
            return live_m
        end = int(np.searchsorted(tr.time_s, tr.time_s[k1] + REJOIN_LOOK_S, side="right"))
        s = np.arange(live_m, float(self.match.progress_m[k1:end].max()) + 5.0, 5.0)
        if not len(s):  # (the matcher never went past the live place)
            return live_m
        cx, cy = c.xy_at(s)
        gap = np.hypot(cx - x, cy - y)
        k = int(np.argmin(gap))
        return float(s[k]) if gap[k] <= REJOIN_NEAR_M else live_m

    def cost(self, k0: int, k1: int, left_s: float, rejoin_s: float) -> tuple[float, float | None]:
        """Extra distance (run minus course covered, m) and time lost (s) from fix ``k0``, at
        ``left_s`` along the course, to fix ``k1`` at ``rejoin_s``."""
        covered_m = rejoin_s - left_s
        extra = float(self.path[k1] - self.path[k0]) - covered_m
        return extra, self.time_lost(k0, k1, covered_m)

    def time_lost(self, k0: int, k1: int, covered_m: float) -> float | None:
        """Time taken, less the stops in it (an aid station a little off the line, a
        recording gap: nothing says the excursion cost them), minus the time the runner's
        recent pace needed for the course covered."""
        tr = self.track
        t = tr.time_s
        still_s = stopped_s(t[k0 : k1 + 1], self.path[k0 : k1 + 1], self.excused[k0:k1])
        pace = pace_before_mps(t, self.match.progress_m, self.path, k0)
        if pace is None:
            return None
        return max(float((t[k1] - t[k0]) - still_s - max(covered_m, 0.0) / pace), 0.0)

    def unalerted(self, covered: np.ndarray) -> list[Excursion]:
        """Stretches far from the course that the live matcher never alarmed on."""
        out: list[Excursion] = []
        far = (self.offset > UNALERTED_MIN_M) & ~covered
        t = self.track.time_s
        on_line = np.flatnonzero(self.offset <= ON_LINE_M)
        # before the runner first reaches the line (start pens, warm-up) nothing is an excursion
        k = int(on_line[0]) if len(on_line) else len(far)
        n = len(far)
        while k < n:
            if not far[k]:
                k += 1
                continue
            j = k
            while j + 1 < n and far[j + 1]:
                j += 1
            if t[j] - t[k] >= UNALERTED_MIN_S and j - k >= 1:
                k0 = self.departure(k, covered)
                k1 = j
                while k1 + 1 < n and self.offset[k1 + 1] > ON_LINE_M and not covered[k1 + 1]:
                    k1 += 1
                k1 = min(k1 + 1, n - 1)
                s0 = float(self.match.progress_m[k0])
                s1 = float(self.match.progress_m[k1])
                extra, lost = self.cost(k0, k1, s0, s1)
                told = next((e for e in self.match.events
                             if e.kind in HQ_KINDS and k0 <= e.fix_index <= k1), None)  # fmt: skip
                alerted = None if told is None else Point(told.at.time, told.at.lat, told.at.lon)
                out.append(Excursion(
                    "off_course", self.point(k0, s0), None, alerted, self.point(k1, s1),
                    float(self.offset[k0 : k1 + 1].max()), extra, lost, k0, k1,
                ))  # fmt: skip
            k = j + 1
        return out


def _priced(e: Excursion) -> Excursion:
    """No time lost on a shortcut: its way is not the course's, so the pace on the course
    cannot price it ("Shortcut at km 141.2 ... 313 m of course cut, 38 min lost": a stop at
    Trient and a climb priced at the pace of a descent; a ride in a vehicle likewise)."""
    if e.kind == "shortcut" and (e.time_lost_s is not None or e.transport is not None):
        return replace(e, time_lost_s=0.0)
    return e


def stopped_s(time_s: FloatArray, path_m: FloatArray, excused: np.ndarray) -> float:
    """The time of the stops among these fixes that nothing says the excursion cost: runs of
    steps slower than ``STILL_MPS`` lasting ``STOP_MIN_S`` or more, made of steps ``excused``
    (at an aid station, or a gap in the recording). Still elsewhere while off the course is
    a lost runner's, and is lost.

    >>> t, path = np.array([0.0, 60, 400, 460]), np.array([0.0, 150, 160, 310])
    >>> stopped_s(t, path, np.ones(3, bool)), stopped_s(t, path, np.zeros(3, bool))
    (340.0, 0.0)
    """
    dt = np.diff(time_s)
    still = (np.diff(path_m) < STILL_MPS * dt) & excused
    total, run = 0.0, 0.0
    for step_s, is_still in zip(dt.tolist(), still.tolist(), strict=True):
        if is_still:
            run += step_s
            continue
        total += run if run >= STOP_MIN_S else 0.0
        run = 0.0
    return total + (run if run >= STOP_MIN_S else 0.0)


def pace_before_mps(
    time_s: FloatArray, progress_m: FloatArray, path_m: FloatArray, k: int
) -> float | None:
    """The runner's speed along the course in the ``PACE_WINDOW_S`` before fix ``k``: the
    course covered over the time taken, less their stops (an aid station). Not step by step:
    a watch that repeats a position for seconds and then jumps has short steps many times too
    fast, and a pace from the moving ones alone was 1.5-4 times the runner's on the real
    recordings (``python benchmarks/pace.py``). None when it is too short to say."""
    t = time_s
    lo = int(np.searchsorted(t, t[k] - PACE_WINDOW_S))
    every = np.ones(max(k - lo, 0), dtype=bool)  # every stop, wherever it was
    moving_s = float(t[k] - t[lo]) - stopped_s(t[lo : k + 1], path_m[lo : k + 1], every)
    prog = progress_m[lo : k + 1]
    covered_m = float(prog.max() - prog[0]) if len(prog) else 0.0
    if moving_s < 300.0 or covered_m < 200.0:
        return None
    return covered_m / moving_s


def excused_steps(course: Course, track: Track) -> np.ndarray:
    """Which steps between fixes may be a stop that is not time lost: one that starts within
    ``STATION_NEAR_M`` of a station, or a gap in the recording (``GAP_INTERVALS`` times the
    usual interval, and at least ``STOP_MIN_S``)."""
    dt = np.diff(track.time_s)
    if not len(dt):
        return np.zeros(0, dtype=bool)
    gap = dt >= max(STOP_MIN_S, GAP_INTERVALS * float(np.median(dt)))
    near = np.zeros(len(dt), dtype=bool)
    for st in course.stations:
        near |= haversine_m(track.lat[:-1], track.lon[:-1], st.lat, st.lon) <= STATION_NEAR_M
    return np.asarray(gap | near)
