"""The engine's two ways in: :class:`LiveMatcher` (one fix at a time) and :func:`match_fixes`.

Both drive the same numba kernel (:mod:`coursewatch.engine.kernel`) over the same state
vector, so what the live server raises and what the post-race analysis reports as *alerted*
are the same events at the same fixes by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursewatch.course import Course, build_course
from coursewatch.engine import confirm as CF
from coursewatch.engine import offcourse as OC
from coursewatch.engine import state as S
from coursewatch.engine import wrongway as WW
from coursewatch.engine.config import C, EngineConfig
from coursewatch.engine.events import EV_FIELDS, EV_FIX, Event, decode_event
from coursewatch.engine.kernel import run_many
from coursewatch.engine.model import course_model
from coursewatch.engine.noise import EST as NOISE_EST
from coursewatch.geo import FloatArray, LocalFrame
from coursewatch.points import RawPoints


def compiled(fn: Any, args: tuple[Any, ...]) -> Callable[..., Any]:
    """Numba function ``fn``'s machine code for the types of ``args``, to call directly.

    The dispatcher works out the types of the arguments on every call; for the course's named
    tuples that takes longer than the kernel takes for a fix. ``push`` calls the kernel with
    the same types every time, so it resolves them once. Falls back to ``fn``.
    """
    try:
        signature = tuple(fn.typeof_pyval(a) for a in args)
        if signature not in fn.overloads:
            fn.compile(signature)
        return fn.overloads[signature].entry_point  # type: ignore[no-any-return]
    except (AttributeError, KeyError, TypeError):
        return fn  # type: ignore[no-any-return]


def _plain_arrays(out: FloatArray, *columns: FloatArray) -> bool:
    """Whether ``out`` (2-D) and ``columns`` (1-D) are of the types :meth:`LiveMatcher._kernel`
    resolved (float64, C order, writeable): its machine code reads them without checking."""
    return (out.ndim == 2 and all(a.ndim == 1 for a in columns)
            and all(a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable
                    for a in (out, *columns)))  # fmt: skip


UsualPace = Callable[[float], "float | None"]  # the field's average pace since the start, at a time


def new_state(
    config: EngineConfig | None = None, start_ts: float | None = None, start_known: bool = True
) -> FloatArray:
    """A runner before their first fix; ``start_ts``: their start, when known (a first fix is
    then not put further along than anyone could have run since, and among passes alike, at
    the one of the usual average pace); ``start_known`` False: only assumed."""
    st = np.zeros(S.STATE_LEN)
    st[S.PACE] = (config or EngineConfig()).pace0_mps
    st[S.START_T] = 0.0 if start_ts is None else max(start_ts, 0.0)
    st[S.START_KNOWN] = 1.0 if start_ts is not None and start_known else 0.0
    return st


class LiveMatcher:
    """Follows one runner fix by fix; causal (knows only the fixes so far).

    >>> from coursewatch.sim.simulate import straight_course
    >>> course = straight_course(2000.0)
    >>> lat, lon = course.latlon_at([0.0, 30.0])
    >>> m = LiveMatcher(course)
    >>> m.push(1_700_000_000.0, float(lat[0]), float(lon[0]))
    []
    >>> m.push(1_700_000_010.0, float(lat[1]), float(lon[1])), round(m.progress_m)
    ([], 30)
    """

    def __init__(
        self,
        course: Course,
        config: EngineConfig | None = None,
        start_ts: float | None = None,
        usual_pace: UsualPace | None = None,
        placed_pace_mps: float | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.model = course_model(course)
        self._cfg = self.config.to_kernel()
        self.usual_pace = usual_pace
        # the field's pace the first placement was judged by (once known): a rewind or a
        # rebuild judges it by the same, not by the field's pace at that later time
        self.placed_pace_mps = placed_pace_mps
        self.state = new_state(self.config, start_ts)
        self._ev = np.full((8, EV_FIELDS), np.nan)
        self._evs: FloatArray | None = None  # push_many's event rows, made on first use
        self._n = 0
        # push goes through the batch kernel (one compiled body for both ways in), with one
        # fix in arrays made once
        self._one = np.zeros((4, 1))  # time, lat, lon, accuracy
        self._one_out = np.zeros((1, 4))

    def push(
        self, ts: float, lat: float, lon: float, accuracy_m: float | None = None
    ) -> list[Event]:
        """Feed one fix (epoch seconds, degrees); returns the events it raised."""
        if self.usual_pace is not None and self.state[S.SEEN] == 0.0:
            self._expect(ts)
        one = self._one
        one[0, 0] = ts
        one[1, 0] = lat
        one[2, 0] = lon
        one[3, 0] = math.nan if accuracy_m is None else accuracy_m
        before = self.state[S.N_FIX]
        model = self.model
        args = (self.state, model.arrays, model.scratch, self._cfg, one[0], one[1], one[2],
                one[3], 0, self._one_out, self._ev)  # fmt: skip
        ne, _ = self._kernel()(*args)
        if self.state[S.N_FIX] > before:
            self._n += 1
        if ne == 0:
            return []
        out = []
        for k in range(ne):
            self._ev[k, EV_FIX] = self._n - 1
            out.append(decode_event(model.latlon, self._ev[k]))
        return out

    def push_many(
        self,
        ts: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        acc: FloatArray,
        out: FloatArray | None = None,
    ) -> list[Event]:
        """Feed fixes (nan accuracy: none) in one kernel call: the same events as :meth:`push`
        on each in turn. ``out[i]``, if given, gets (progress, offset, matched, alarmed) after
        fix ``i``.
        """
        n = len(ts)
        if n and self.usual_pace is not None and self.state[S.SEEN] == 0.0:
            self._expect(float(ts[0]))
        t, la, lo, ac = (np.ascontiguousarray(a, dtype=np.float64) for a in (ts, lat, lon, acc))
        if out is None:
            out = np.empty((n, 4))
        if self._evs is None:
            self._evs = np.full((16, EV_FIELDS), np.nan)
        ev = self._evs
        before, n_before = self.state[S.N_FIX], self._n
        last = self.state[S.LAST_T] if before > 0 else -math.inf
        model = self.model
        events: list[Event] = []
        i = 0
        # (arrays the kernel's machine code takes as they are: the dispatcher otherwise)
        kernel = self._kernel() if _plain_arrays(out, t, la, lo, ac) else run_many
        while i < n:
            ne, i = kernel(self.state, model.arrays, model.scratch, self._cfg, t, la, lo, ac, i,
                           out, ev)  # fmt: skip
            if ne:
                # the kernel ignores a fix at or before the last accepted one, as push does:
                # number each fix among the accepted ones
                prior = np.maximum.accumulate(np.concatenate([[last], t]))[:-1]
                ordinal = n_before + np.cumsum(t > prior) - 1
                for k in range(ne):
                    ev[k, EV_FIX] = ordinal[int(ev[k, EV_FIX])]
                    events.append(decode_event(model.latlon, ev[k]))
        self._n += int(self.state[S.N_FIX] - before)
        return events

    def _kernel(self) -> Callable[..., tuple[int, int]]:
        """The kernel's machine code for this course, which push and push_many call directly
        (resolved by the first runner of the course that needs it, for push's arguments)."""
        model, one = self.model, self._one
        if model.run is None:
            model.run = compiled(run_many, (self.state, model.arrays, model.scratch, self._cfg,
                                            one[0], one[1], one[2], one[3], 0, self._one_out,
                                            self._ev))  # fmt: skip
        return model.run

    def _expect(self, t_s: float) -> None:
        """Not yet on the line: a first fix long after a known start is placed among passes
        alike (a loop's laps) by the field's usual average pace since the start at ``t_s``
        (``usual_pace``, live), else by the configured one."""
        if self.placed_pace_mps is None and self.usual_pace is not None:
            self.placed_pace_mps = self.usual_pace(t_s)
        pace = self.placed_pace_mps
        self._cfg[C.avg_pace_mps] = self.config.avg_pace_mps if pace is None else pace

    def snapshot(self) -> FloatArray:
        """A copy of the whole runner state (about 1.1 KB): store it to rewind later."""
        return np.concatenate([self.state, [float(self._n)]])

    def restore(self, snap: FloatArray) -> None:
        """Go back to a state taken by :meth:`snapshot`."""
        self.state = np.array(snap[:-1], dtype=np.float64)
        self._n = int(snap[-1])

    @property
    def last_time_s(self) -> float | None:
        return float(self.state[S.LAST_T]) if self.state[S.N_FIX] > 0 else None

    @property
    def matched(self) -> bool:
        """True when the last fix was matched to the course line (not coasting)."""
        return bool(self.state[S.MATCHED] == 1.0)

    @property
    def progress_m(self) -> float:
        return float(self.state[S.S_EST])

    @property
    def offset_m(self) -> float:
        return float(self.state[S.D_EST])

    @property
    def on_course(self) -> bool:
        """Not flagged off course, and not far from the course."""
        return bool(self.state[S.OC + OC.STATE] == 0.0 and self.state[S.FAR] == 0.0)

    @property
    def alarmed(self) -> bool:
        """The off-course detector is alarmed (what :meth:`push_many` gives each fix)."""
        return bool(self.state[S.OC + OC.STATE] == 1.0)

    @property
    def flagged(self) -> bool:
        """The runner may be off course (off it, or the wrong way): their own channel knows."""
        st = self.state
        return bool(st[S.OC + OC.STATE] == 1.0 or st[S.WW + WW.STATE] > 0.0)

    @property
    def episode_s(self) -> float | None:
        """When the runner's open off-course (or wrong-way) episode began, its key (None:
        none open)."""
        st = self.state
        if st[S.OC + OC.STATE] == 1.0:
            return float(st[S.OC + OC.ALARM_T])
        return float(st[S.WW + WW.FLAG_T]) if st[S.WW + WW.STATE] > 0.0 else None

    @property
    def confirmed(self) -> bool:
        """The runner is confirmed off the course: race HQ was alerted (engine/confirm.py; a
        long wrong way, on the course, is told by its own event: engine/wrongway.py)."""
        return bool(self.state[S.CF + CF.STATE] == 1.0)

    @property
    def far(self) -> bool:
        """More than ``far_course_m`` from every part of the course."""
        return bool(self.state[S.FAR] > 0.0)

    @property
    def driven(self) -> bool:
        """Off the course, not on it since they went far from it (a car, a shuttle; far at
        its first fix too, then back beside the course): the progress held where they left
        says nothing of where they are now."""
        st = self.state
        if st[S.OC + OC.STATE] == 1.0:
            since = st[S.OC + OC.CP_T]  # (the last fix on the course)
        elif st[S.WW + WW.STATE] > 0.0:
            since = st[S.WW + WW.FLAG_T]
        else:
            return False
        return bool(st[S.FAR_T] > 0.0 and st[S.FAR_T] >= since)

    @property
    def placed(self) -> bool:
        """The runner has been on the course line: where along it they are is known."""
        return bool(self.state[S.SEEN] == 1.0)

    @property
    def pace_mps(self) -> float:
        return float(self.state[S.PACE])

    @property
    def step_m(self) -> float:
        """Typical distance along the course between two fixes: pace times the interval."""
        return float(self.state[S.PACE] * self.state[S.INTERVAL])

    @property
    def fixes(self) -> int:
        return int(self.state[S.N_FIX])


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Per fix: progress, offset, matched to the line, alarmed; and the events raised."""

    progress_m: FloatArray
    offset_m: FloatArray
    matched: np.ndarray
    alarmed: np.ndarray
    events: tuple[Event, ...]
    state: FloatArray

    @property
    def noise_m(self) -> float:
        """The receiver's GPS noise as the matcher estimated it from the fixes, m."""
        return float(self.state[S.NOISE + NOISE_EST])


def match_fixes(
    course: Course,
    time_s: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    accuracy_m: FloatArray | None = None,
    config: EngineConfig | None = None,
    start_ts: float | None = None,
    start_known: bool = True,
) -> MatchResult:
    """Run the live matcher over arrays of fixes (sorted by time) in one numba call."""
    config = config or EngineConfig()
    model = course_model(course)
    n = len(time_s)
    acc = np.full(n, np.nan) if accuracy_m is None else np.asarray(accuracy_m, dtype=np.float64)
    t = np.ascontiguousarray(time_s, dtype=np.float64)
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    st = new_state(config, start_ts, start_known)
    cfg = config.to_kernel()
    out = np.zeros((n, 4))
    ev = np.full((256, EV_FIELDS), np.nan)
    events: list[Event] = []
    i = 0
    while i < n or (i == 0 and n == 0):
        ne, i = run_many(st, model.arrays, model.scratch, cfg, t, la, lo, acc, i, out, ev)
        events.extend(decode_event(model.latlon, ev[k]) for k in range(ne))
        if n == 0:
            break
    return MatchResult(
        progress_m=out[:, 0].copy(),
        offset_m=out[:, 1].copy(),
        matched=out[:, 2] == 1.0,
        alarmed=out[:, 3] == 1.0,
        events=tuple(events),
        state=st,
    )


def warm_up() -> None:
    """Compile the engine now (or load it from numba's cache), not on the first fix: a runner
    on a straight 3 km course who takes a 400 m wrong turn goes through every kernel, events
    included."""
    frame = LocalFrame.centred(45.0, 6.0)
    x = np.arange(0.0, 3000.0 + 1e-9, 20.0)
    lat, lon = frame.to_latlon(x, np.zeros_like(x))
    course = build_course(RawPoints.from_lists("warm-up", list(lat), list(lon)), "<warm-up>")
    out = np.arange(12.5, 400.0, 12.5)
    along = np.concatenate([np.arange(0.0, 1000.0, 12.5), np.full(2 * len(out), 1000.0),
                            np.arange(1000.0, 3000.0, 12.5)])  # fmt: skip
    side = np.concatenate([np.zeros(80), out, out[::-1], np.zeros(160)])
    turn = np.radians(60.0)
    fx, fy = along + side * np.cos(turn), side * np.sin(turn)
    flat, flon = frame.to_latlon(fx, fy)
    matcher = LiveMatcher(course)
    for i in range(len(fx)):
        matcher.push(1_700_000_000.0 + 5.0 * i, float(flat[i]), float(flon[i]), 5.0)
