"""One runner, live: the engine state, a short history to rewind it, and what HQ shows.

Fixes arrive late, out of order and twice. A fix newer than the last goes straight to the
engine. An older one is put in its place in the history, the engine is rewound to the last
snapshot before it (one every :data:`CHECK_EVERY` fixes, about 1.1 KB each) and the fixes after it
are played again, so the runner ends in the state the batch matcher would reach on the sorted
fixes. The history (live/tail.py) holds the last :data:`TAIL_CAP` fixes; a fix older than that
asks the caller for a rebuild from the store (:meth:`LiveRunner.rebuild`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursewatch.course import FINISH_STEPS, Course, first_at_finish
from coursewatch.detectors.device import DeviceState
from coursewatch.engine.config import EngineConfig
from coursewatch.engine.events import Event
from coursewatch.engine.matcher import LiveMatcher, UsualPace
from coursewatch.geo import FloatArray
from coursewatch.live.step import Step
from coursewatch.live.tail import TAIL_CAP, Tail
from coursewatch.protocols import Fix
from coursewatch.store import FixArrays, RunnerRecord

CHECK_EVERY = 64


@dataclass
class _Check:
    n: int  # fixes of the tail included
    time_s: float  # time of the last of them
    snap: FloatArray
    wrong_way: bool = False
    finished: bool = False
    furthest: tuple[float, ...] = ()  # the furthest progress at each of the last fixes


_EPOCHS = itertools.count(1)


def _rows(fixes: Sequence[Fix]) -> FloatArray:
    """Fixes as rows of (time, lat, lon, accuracy; NaN: none): a 4 x n array."""
    nan = math.nan
    rows = [(f.time_s, f.lat, f.lon, nan if f.accuracy_m is None else f.accuracy_m)
            for f in fixes]  # fmt: skip
    return np.array(rows, dtype=np.float64).reshape(-1, 4).T.copy()


def new_epoch() -> int:
    """What a runner holds in memory from now on (the store refuses a batch made from an
    epoch of theirs whose batch it could not store): one count for every runner object."""
    return next(_EPOCHS)


class LiveRunner:
    """A registered runner and their engine state."""

    def __init__(
        self,
        record: RunnerRecord,
        course: Course,
        config: EngineConfig | None = None,
        start_ts: float | None = None,
        usual_pace: UsualPace | None = None,
    ) -> None:
        self.record = record
        self.course = course
        self.config = config
        # the runner's start: the engine places a first fix by it, and by the field's pace
        self.start_ts, self.usual_pace = start_ts, usual_pace  # since (live/fieldpace.py)
        self.matcher = LiveMatcher(course, config, start_ts, usual_pace)
        self._t = Tail()  # the last fixes, and the progress at each (a delayed view)
        self._checks = [_Check(0, -math.inf, self.matcher.snapshot())]
        self.last_fix: Fix | None = None
        self.wrong_way = self.reached = False  # (reached: the engine found the finish)
        self._furthest: deque[float] = deque(maxlen=FINISH_STEPS)  # at each of the last fixes
        self.reached_s: float | None = None  # the time of the fix that reached the finish
        self.stopped = self.silent = False  # set by the time-based detectors (silent: no signal)
        self.heard: dict[str, float] = {}  # device id -> when its newest fix arrived
        self.device = DeviceState()  # what their device says: in SOS, battery low (devices.py)
        self.received_s: float | None = None  # when its newest fix arrived (server clock)
        self.gone = False  # race HQ removed them: nothing more of theirs is stored
        # a batch of theirs could not be stored (the database was away): what they hold in
        # memory is not what the store holds; they are put back to it at their next fix
        self.suspect = False
        self.suspect_s: float | None = None  # since when the store refused them (server clock)
        self.epoch = new_epoch()  # a new one each time they are put back to the store's
        self.etas: dict[float, float] = {}  # course m -> latest arrival (NaN: ?; live/clock.py)

    @property
    def bib(self) -> str:
        return self.record.bib

    @property
    def fixes(self) -> int:
        return self.matcher.fixes

    def add(self, fix: Fix) -> Step:
        """Feed one fix, in any order."""
        if self._t.n and fix.time_s <= self._t.rows[self._t.n - 1, 0]:
            return self.add_late([fix])[0]
        step = Step()
        self._push(fix.time_s, fix.lat, fix.lon, fix.accuracy_m, step)
        self.last_fix = fix
        step.new_s.append(fix.time_s)
        step.progress_m.append(self.matcher.progress_m)
        step.off.append(self.matcher.alarmed)
        return step

    def add_many(self, fixes: Sequence[Fix]) -> Step:
        """Feed fixes newer than the last, in increasing time: what :meth:`add` does for each
        in turn, with one engine call per span between two snapshots."""
        rows = _rows(fixes)
        if len(fixes) and self._t.n and rows[0, 0] <= self._t.rows[self._t.n - 1, 0]:
            raise ValueError("add_many takes only fixes newer than the runner's last")
        step = Step()
        out = self._feed(rows, step)
        if len(fixes):
            self.last_fix = fixes[-1]
            step.new_s = rows[0].tolist()
            step.progress_m, step.off = out[:, 0].tolist(), (out[:, 3] == 1.0).tolist()
            step.at = list(zip(rows[1].tolist(), rows[2].tolist(), strict=True))
        return step

    def add_late(self, fixes: Sequence[Fix]) -> tuple[Step, list[int]]:
        """Fixes no newer than the last, in any order (an upload over live fixes, a phone's
        backlog): each put in its place in the history, the engine rewound once to the
        snapshot before the oldest and the fixes after it played again. Returns the step and
        the positions in ``fixes`` of those taken: a time already held (or twice in
        ``fixes``: the first is kept) is a duplicate. Older than the history: the step asks
        for a rebuild (:meth:`rebuild`) and none is taken."""
        rows = _rows(fixes)
        times = self._t.rows[: self._t.n, 0]
        _, once = np.unique(rows[0], return_index=True)  # the first of each time
        j = np.minimum(np.searchsorted(times, rows[0, once]), max(self._t.n - 1, 0))
        held = (times[j] == rows[0, once]) if self._t.n else np.zeros(len(once), dtype=bool)
        taken = np.sort(once[~held])
        if not len(taken):
            return Step(), []
        oldest = float(rows[0, taken].min())
        k = bisect.bisect_left([c.time_s for c in self._checks], oldest) - 1
        if k < 0 or self._checks[k].n > int(np.searchsorted(times, oldest)):
            return Step(needs_rebuild=True), []
        check = self._checks[k]
        merged = np.concatenate([self._t.rows[check.n : self._t.n].T, rows[:, taken]], axis=1)
        merged = merged[:, np.argsort(merged[0], kind="stable")]
        self._checks = self._checks[: k + 1]
        self._t.n = check.n
        self.matcher.restore(check.snap)
        self.wrong_way, self.reached = check.wrong_way, check.finished
        self._furthest = deque(check.furthest, maxlen=FINISH_STEPS)  # (the finish: as then)
        self.reached_s = self.reached_s if self.reached else None
        step = Step(replay_from_s=float(merged[0, 0]))
        self._feed(merged, step)
        return step, taken.tolist()

    def _feed(self, rows: FloatArray, step: Step) -> FloatArray:
        """Rows (time, lat, lon, accuracy; each newer than the last) into the engine, one call
        per span between two snapshots; (progress, offset, matched, alarmed) after each."""
        n = rows.shape[1]
        out = np.empty((n, 4))
        i = 0
        while i < n:
            if self._t.n == TAIL_CAP:
                self._trim()
            k = min(n - i, CHECK_EVERY - (self._t.n - self._checks[-1].n), TAIL_CAP - self._t.n)
            self._push_run(rows[:, i : i + k], out[i : i + k], step)
            i += k
        return out

    def _push_run(self, rows: FloatArray, out: FloatArray, step: Step) -> None:
        """Fixes (rows: time, lat, lon, accuracy) up to the next snapshot, in one engine call."""
        m = self.matcher
        t = rows[0]
        offset_before, base = m.offset_m, m.fixes
        prev_t = float(self._t.rows[self._t.n - 1, 0]) if self._t.n else float(t[0])
        events = m.push_many(t, rows[1], rows[2], rows[3], out)
        for ev in events:
            i = ev.fix_index - base
            before = float(out[i - 1, 1]) if i else offset_before
            dt = float(t[i]) - (float(t[i - 1]) if i else prev_t)
            step.events.append((ev, float(t[i]), (float(out[i, 1]) - before) / max(dt, 1.0)))
        self._follow(events, t.tolist(), out[:, 0].tolist(), rows[1], rows[2])
        self._t.extend(rows.T, out[:, 0])
        if self._t.n - self._checks[-1].n >= CHECK_EVERY:
            self._checks.append(self._check(float(t[-1])))

    def _push(self, t: float, lat: float, lon: float, acc: float | None, step: Step | None) -> None:
        m = self.matcher
        before = m.offset_m
        prev_t = self._t.rows[self._t.n - 1, 0] if self._t.n else t
        events = m.push(t, lat, lon, acc)
        if step is not None:
            if events:
                trend_mps = (m.offset_m - before) / max(t - prev_t, 1.0)  # away from the course
                step.events.extend((ev, t, trend_mps) for ev in events)
            self._follow(events, [t], [m.progress_m], np.array([lat]), np.array([lon]))
        if self._t.n == TAIL_CAP:
            self._trim()
        self._t.append((t, lat, lon, math.nan if acc is None else acc), m.progress_m)
        if self._t.n - self._checks[-1].n >= CHECK_EVERY:
            self._checks.append(self._check(t))

    def _check(self, t: float) -> _Check:
        return _Check(self._t.n, t, self.matcher.snapshot(), self.wrong_way, self.reached,
                      tuple(self._furthest))  # fmt: skip

    def _follow(
        self, events: list[Event], times_s: list[float], progress_m: list[float],
        lat: FloatArray, lon: FloatArray,
    ) -> None:  # fmt: skip
        """Wrong-way and finish flags after a run of fixes (their times, progress and
        positions) and the ``events`` they raised; ``reached_s``, the first fix at the finish
        (course.first_at_finish: as `coursewatch analyze` finds it)."""
        for ev in events:
            if ev.kind == "wrong_way":
                self.wrong_way = True
            elif ev.kind == "wrong_way_end":
                self.wrong_way = False
        furthest = []
        for s in progress_m:
            furthest.append(max(s, self._furthest[-1]) if self._furthest else s)
            self._furthest.append(furthest[-1])
        if not self.reached:
            at = first_at_finish(self.course, self._furthest, times_s, furthest, lat, lon)
            self.reached_s = at
            self.reached = at is not None

    def _trim(self) -> None:
        cut = self._t.trim()
        self._checks = [
            _Check(c.n - cut, c.time_s, c.snap, c.wrong_way, c.finished, c.furthest)
            for c in self._checks
            if c.n >= cut
        ]

    def rebuild(
        self, stored: FixArrays, fixes: Sequence[Fix] = (), keep: bool = True
    ) -> tuple[Step, list[int]]:
        """Start again from the start with every stored fix (and ``fixes``; and the fixes kept
        in memory unless ``keep`` is False: they may be ones the store refused), in time
        order, one fix per time (the first seen is kept). Returns the step and the positions
        in ``fixes`` of those taken (the others: a time already held, duplicates)."""
        tail = self._t.rows[: self._t.n if keep else 0]
        held = np.column_stack([stored.time_s, stored.lat, stored.lon, stored.accuracy_m])
        rows = np.concatenate([held, tail, _rows(fixes).T])
        _, first = np.unique(rows[:, 0], return_index=True)
        rows = rows[first]  # sorted by time
        taken = np.sort(first[first >= len(held) + len(tail)]) - len(held) - len(tail)
        if len(fixes) and not len(taken):  # each held already (a backlog sent again): as it is
            return Step(), []
        self.matcher = LiveMatcher(self.course, self.config, self.start_ts, self.usual_pace,
                                   self.matcher.placed_pace_mps)  # fmt: skip
        self._t.n = 0
        self._checks = [_Check(0, -math.inf, self.matcher.snapshot())]
        self.wrong_way, self.reached, self.reached_s = False, False, None
        self._furthest.clear()
        step = Step(replay_from_s=-math.inf)
        if not keep:
            self.last_fix = self.received_s = None
            self.stopped = self.silent = False
        if self.last_fix is None and fixes:
            self.last_fix = max(fixes, key=lambda f: f.time_s)
        self._feed(np.ascontiguousarray(rows.T), step)
        return step, taken.tolist()

    # -- durable state (coursewatch.live.durable) ----------------------------------------------
    def state(self) -> dict[str, Any]:
        """What a restart needs to go on from the newest fix: the engine, the flags, and that
        fix (a late fix older than it rebuilds from the store)."""
        fix = self.last_fix
        return {
            "matcher": self.matcher.snapshot().tolist(),
            "newest": [*self._t.rows[self._t.n - 1].tolist(), float(self._t.prog[self._t.n - 1])],
            "wrong_way": self.wrong_way, "finished": self.reached,
            "finished_s": self.reached_s, "stopped": self.stopped, "silent": self.silent,
            "furthest": list(self._furthest), "heard": self.heard, "received_s": self.received_s,
            "last_fix": None if fix is None else {k: getattr(fix, k) for k in Fix.__slots__},
        }  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from a :meth:`state` (a KeyError or ValueError when it is not one)."""
        snap = np.array(state["matcher"], dtype=np.float64)
        newest = [float(v) for v in state["newest"]]
        if snap.shape != self.matcher.snapshot().shape or len(newest) != 5:
            raise ValueError("not a runner state of this course")
        self.matcher.restore(snap)  # (the whole engine state: as a rewind does)
        self._t.rows[0], self._t.prog[0], self._t.n = newest[:4], newest[4], 1
        self._checks = [_Check(1, newest[0], snap, state["wrong_way"], state["finished"],
                               tuple(float(v) for v in state["furthest"]))]  # fmt: skip
        self.wrong_way, self.reached = bool(state["wrong_way"]), bool(state["finished"])
        self.reached_s = state["finished_s"]
        self.stopped, self.silent = bool(state["stopped"]), bool(state["silent"])
        self._furthest.clear()
        self._furthest.extend(float(v) for v in state["furthest"])
        self.heard = {str(k): float(v) for k, v in state["heard"].items()}
        self.received_s = state["received_s"]
        fix = state["last_fix"]
        self.last_fix = None if fix is None else Fix(**fix)

    def progress_series(self) -> tuple[FloatArray, FloatArray]:
        """The kept fixes' times and the progress after each (copies), oldest first."""
        n = self._t.n
        return self._t.rows[:n, 0].copy(), self._t.prog[:n].copy()

    # -- what HQ sees -------------------------------------------------------------------------
    @property
    def last_time_s(self) -> float | None:
        return float(self._t.rows[self._t.n - 1, 0]) if self._t.n else None

    def fix_at(self, t_s: float) -> tuple[float, float] | None:
        """The (lat, lon) of the runner's kept fix at ``t_s``, if it is still kept."""
        times = self._t.rows[: self._t.n, 0]
        i = int(np.searchsorted(times, t_s))
        if i < self._t.n and times[i] == t_s:
            return float(self._t.rows[i, 1]), float(self._t.rows[i, 2])
        return None

    def kept(self, t0: float, t1: float) -> FloatArray | None:
        """The kept fixes from ``t0`` to ``t1`` as (time, lat, lon) rows; None: not all kept."""
        rows = self._t.rows[: self._t.n]
        kept = self._t.n and rows[0, 0] <= t0
        return rows[(rows[:, 0] >= t0) & (rows[:, 0] <= t1), :3] if kept else None

    def seen_at(self, t_s: float) -> tuple[float, float, float, float] | None:
        """The (time, lat, lon, progress) of the last kept fix at or before ``t_s`` (what a
        delayed view shows)."""
        i = int(np.searchsorted(self._t.rows[: self._t.n, 0], t_s, side="right")) - 1
        if i < 0:
            return None
        t, lat, lon = (float(v) for v in self._t.rows[i, :3])
        return t, lat, lon, float(self._t.prog[i])

    def position(self) -> tuple[float, float] | None:
        if not self._t.n:
            return None
        return float(self._t.rows[self._t.n - 1, 1]), float(self._t.rows[self._t.n - 1, 2])

    @property
    def finished(self) -> bool:
        """Past the finish line: race HQ recorded it (``record.finish_ts``: a timing mat, a
        marshal), or the engine found it (:attr:`reached`)."""
        return self.record.finish_ts is not None or self.reached

    @property
    def finished_s(self) -> float | None:
        """When they finished: race HQ's record over the first fix the engine found there."""
        return self.reached_s if self.record.finish_ts is None else self.record.finish_ts

    @property
    def status(self) -> str:
        """sos (their device declared an emergency, until cancelled: race HQ's to see, before
        anything else but a DNF), else :attr:`course_status`."""
        if self.device.sos_since is not None and not self.record.dnf:
            return "sos"
        return self.course_status

    @property
    def course_status(self) -> str:
        """dnf, not_started, finished; far_from_course (over 1 km from the whole course);
        off_course (confirmed: race HQ was alerted); flagged (the runner was told they may be
        off course, not confirmed); silent (the signal was lost); stopped; running."""
        if self.record.dnf:
            return "dnf"
        if self.finished:
            return "finished"
        if not self._t.n:
            return "not_started"
        m = self.matcher
        if m.far:
            return "far_from_course"
        if m.confirmed:
            return "off_course"  # race HQ was alerted
        if m.flagged or self.wrong_way:
            return "flagged"  # the runner was told; not confirmed
        if self.silent:
            return "silent"
        if self.stopped:
            return "stopped"
        return "running"
