"""Every runner's station passes, live: their elapsed time at each station they passed.

Kept for every race, history or not: from each runner's newest fix and the engine's progress
(interpolated between two fixes), stored with the runner's state (live/durable.py), so that
earlier editions' results sent mid-race, or a restart, find every runner's splits so far.
The history's forecasts (:class:`coursewatch.live.fieldwatch.FieldWatch`) read them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from coursewatch.eta import AT_STATION_M, REACHED_M, skipped_by
from coursewatch.geo import FloatArray


def reached(station_m: list[float], progress_m: float) -> int:
    """How many stations a runner at ``progress_m`` has reached: the finish only by being
    there (25 m, eta.REACHED_M), the others once ``AT_STATION_M`` before them (a runner
    resting in the aid station's tent, short of its point on the line, is at it).

    >>> reached([4000.0, 8000.0, 12000.0], 7930.0), reached([4000.0, 12000.0], 11930.0)
    (2, 1)
    >>> reached([10_000.0, 10_080.0, 20_000.0], 9950.0)  # the mat first, then its tent
    1
    """
    k = bisect.bisect_right(station_m, progress_m + REACHED_M)
    near = bisect.bisect_right(station_m, progress_m + AT_STATION_M, hi=len(station_m) - 1)
    return max(k, min(near, k + 1))  # one at a time: a mat 80 m before its tent is first


class Passes:
    """One race's runners' splits (elapsed seconds at each station, NaN: not passed)."""

    def __init__(self, station_m: list[float]) -> None:
        self.station_m = station_m
        self.splits: dict[str, FloatArray] = {}
        self.last: dict[str, tuple[float, float]] = {}  # bib: (time, progress) of the last fix
        self.dirty: set[str] = set()  # runners with a new split since the forecasts took them
        self.held: dict[str, list[tuple[int, float]]] = {}  # passed off the course: (station, when)
        self.cuts: dict[str, list[tuple[float, float]]] = {}  # what their shortcuts skipped

    def on_fix(
        self, bib: str, start_s: float, t_s: float, progress_m: float, off: bool = False
    ) -> list[tuple[int, float]]:
        """A runner's newest fix: the stations passed since the last one get their split;
        returns them (station, when). While the runner is ``off`` the course (flagged, far:
        their progress is where they left it, and jumps where they come back), what they
        pass waits until they are on it again, and is not passed when it lies inside the
        course one of their shortcuts skipped (:meth:`on_run`'s ``cuts``: a car drove them
        past) but at its end (reached there, as ``analyze`` says)."""
        row = self.splits.get(bib)
        if row is None:
            row = self.splits[bib] = np.full(len(self.station_m), np.nan)
        if bib not in self.last:  # the first fix: no time to give stations behind it
            self.last[bib] = (t_s, progress_m)
            return []
        t0, s0 = self.last[bib]
        self.last[bib] = (t_s, max(progress_m, s0))
        held = self.held.pop(bib, [])
        lo = bisect.bisect_right(self.station_m, s0) if progress_m > s0 else len(row)
        if lo < len(row) and progress_m + AT_STATION_M >= self.station_m[lo]:  # (any reached)
            known = {i for i, _ in held}
            held += [(i, _elapsed_at(self.station_m[i], t0, s0, t_s, progress_m))
                     for i in range(lo, reached(self.station_m, progress_m))
                     if math.isnan(row[i]) and i not in known]  # fmt: skip
        if off:
            if held:
                self.held[bib] = held
            return []
        cuts = self.cuts.get(bib, [])
        found = [(i, at_s) for i, at_s in held
                 if not any(skipped_by(self.station_m[i], c) for c in cuts)]  # fmt: skip
        for i, at_s in found:
            row[i] = max(at_s - start_s, 1.0)
            self.dirty.add(bib)
        return found

    def on_run(
        self, bib: str, start_s: float, times_s: list[float], progress_m: list[float],
        off: list[bool], cuts: Sequence[tuple[float, float]] = (),
    ) -> list[tuple[int, int, float]]:  # fmt: skip
        """:meth:`on_fix` for each of a run of a runner's newest fixes: (fix, station, when).
        ``cuts``: the course each shortcut said in the run skipped (from, to), kept with the
        runner: what they passed off the course is let go when they are back on it, which may
        be a later run. A run that comes within reach of no station (most of them) only moves
        the last."""
        if cuts:
            self.cuts.setdefault(bib, []).extend(cuts)
        last, held = self.last.get(bib), self.held.get(bib)
        if last is not None and not held and times_s:
            s0, far_m = last[1], max(progress_m)
            lo = bisect.bisect_right(self.station_m, s0)
            if lo == len(self.station_m) or far_m + AT_STATION_M < self.station_m[lo]:
                self.last[bib] = (times_s[-1], max(far_m, s0))
                return []
        run = enumerate(zip(times_s, progress_m, off, strict=True))
        return [(j, i, at_s) for j, (t_s, s, o) in run
                for i, at_s in self.on_fix(bib, start_s, t_s, s, o)]  # fmt: skip

    def backfill(
        self, bib: str, start_s: float, times_s: FloatArray, progress_m: FloatArray
    ) -> None:
        """A runner's splits from the fixes the server keeps of them (a runner rebuilt from
        the store, with no stored state): the first fix at or past each station."""
        row = self.splits[bib] = np.full(len(self.station_m), np.nan)
        if not len(times_s):
            return
        furthest = np.maximum.accumulate(progress_m)
        for i in range(len(self.station_m)):
            at_s = self._first_past(i, times_s, furthest)
            if at_s is not None:
                row[i] = max(at_s - start_s, 1.0)
        self.last[bib] = (float(times_s[-1]), float(furthest[-1]))
        self.dirty.add(bib)

    def retime(
        self, bib: str, start_s: float, times_s: FloatArray, progress_m: FloatArray, from_s: float
    ) -> list[int]:
        """A runner's past played again from ``from_s`` (late fixes put in place: a watch file
        uploaded over the live fixes): the stations they passed from then on, timed again on
        the fixes kept (the first at or past each), the earlier ones as they were; none newly
        passed (one a shortcut skipped stays so). Returns the stations whose split moved."""
        row = self.splits.get(bib)
        if row is None or not len(times_s):
            return []
        furthest = np.maximum.accumulate(progress_m)
        moved = []
        for i in np.flatnonzero(row + start_s >= from_s):  # (NaN: not passed, left so)
            at_s = self._first_past(int(i), times_s, furthest)
            if at_s is not None and max(at_s - start_s, 1.0) != row[i]:
                row[i] = max(at_s - start_s, 1.0)
                moved.append(int(i))
        if moved:
            self.dirty.add(bib)
        return moved

    def _first_past(self, i: int, times_s: FloatArray, furthest: FloatArray) -> float | None:
        """When station ``i`` was passed by fixes with these furthest progresses (None: not
        reached, or at the first fix already: no time to give)."""
        near = AT_STATION_M if i < len(self.station_m) - 1 else REACHED_M
        hit = int(np.searchsorted(furthest, self.station_m[i] - near))
        if hit == 0 or hit >= len(furthest):
            return None
        t0, t1 = float(times_s[hit - 1]), float(times_s[hit])
        return _elapsed_at(
            self.station_m[i], t0, float(furthest[hit - 1]), t1, float(furthest[hit])
        )

    def forget(self, bib: str) -> None:
        """A runner taken out of the race."""
        self.splits.pop(bib, None)
        self.last.pop(bib, None)
        self.held.pop(bib, None)
        self.cuts.pop(bib, None)
        self.dirty.discard(bib)

    def state(self, bib: str) -> dict[str, Any] | None:
        """A runner's passes, as their stored state holds them."""
        row = self.splits.get(bib)
        if row is None:
            return None
        return {"row": row.tolist(), "last": self.last.get(bib), "held": self.held.get(bib, []),
                "cuts": self.cuts.get(bib, [])}  # fmt: skip

    def restore(self, bib: str, state: dict[str, Any] | None) -> None:
        """A runner's passes as :meth:`state` gave them (None: none known)."""
        self.forget(bib)
        if state is None or len(state["row"]) != len(self.station_m):
            return
        self.splits[bib] = np.array(state["row"], dtype=np.float64)
        if state["last"] is not None:
            t_s, s_m = state["last"]
            self.last[bib] = (float(t_s), float(s_m))
        if state.get("held"):  # (a state stored before they were kept has none)
            self.held[bib] = [(int(i), float(at_s)) for i, at_s in state["held"]]
        if state.get("cuts"):
            self.cuts[bib] = [(float(a), float(b)) for a, b in state["cuts"]]
        self.dirty.add(bib)


def _elapsed_at(m: float, t0: float, s0: float, t1: float, s1: float) -> float:
    """When the runner passed course distance ``m``, between fixes (t0, s0) and (t1, s1)."""
    f = min(max((m - s0) / max(s1 - s0, 1e-9), 0.0), 1.0)
    return t0 + f * (t1 - t0)
