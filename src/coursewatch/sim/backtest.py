"""Scoring the ETA on a finished race: predictions at every checkpoint pass, against the truth.

Used by ``benchmarks/eta.py`` and the tests; the live server never calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from coursewatch.eta import REACHED_M, EtaModel, EtaState, average_speed_eta
from coursewatch.fieldeta import FieldModel
from coursewatch.fieldfit import IntArray
from coursewatch.geo import FloatArray


@dataclass(frozen=True, eq=False)
class Backtest:
    """Relative errors of the ETA at checkpoints of a finished race, ours beside the baseline.

    One row per (pass of a checkpoint, later checkpoint reached): ``|predicted - actual|``
    divided by the time that was still to run.
    """

    model_error: FloatArray
    baseline_error: FloatArray
    start_ts: float


@dataclass(frozen=True, eq=False)
class Replay:
    """A finished race replayed through the model: its state after every fix, the accepted
    progress, when each checkpoint was reached (NaN: never) and the start."""

    states: list[EtaState]
    accepted_m: FloatArray
    checkpoints_m: FloatArray
    hit: IntArray  # index of the first fix at or past each checkpoint
    truth_ts: FloatArray
    start_ts: float


def replay(
    model: EtaModel, time_s: FloatArray, progress_m: FloatArray, checkpoints_m: FloatArray
) -> Replay:
    """Feed every fix. The truth is the first time the runner's accepted progress (the same
    plausibility filter as the model's) reached a checkpoint, interpolated between fixes; the
    start is the last fix before the runner was ``start_m`` along the course (the files hold
    no official start time)."""
    state = model.new_state()
    accepted = np.empty(len(time_s))
    states: list[EtaState] = []
    for i, (t, s) in enumerate(zip(time_s.tolist(), progress_m.tolist(), strict=True)):
        state = model.update(state, t, s)
        accepted[i] = state.progress_m
        states.append(state)
    cps = np.sort(np.asarray(checkpoints_m, dtype=np.float64))
    hit = np.searchsorted(accepted, cps - REACHED_M, side="left")  # accepted never decreases
    truth = np.full(len(cps), np.nan)
    for j in np.flatnonzero((hit < len(accepted)) & (hit > 0)):
        i = hit[j]
        f = (cps[j] - accepted[i - 1]) / max(accepted[i] - accepted[i - 1], 1e-9)
        truth[j] = time_s[i - 1] + f * (time_s[i] - time_s[i - 1])
    moved = np.flatnonzero(accepted >= model.config.start_m)
    start_ts = float(time_s[max(int(moved[0]) - 1, 0)]) if len(moved) else float(time_s[0])
    return Replay(states, accepted, cps, hit, truth, start_ts)


def backtest(
    model: EtaModel, time_s: FloatArray, progress_m: FloatArray, checkpoints_m: FloatArray
) -> Backtest:
    """Replay a race fix by fix; at each checkpoint pass predict every later checkpoint, with
    the model and with the average speed since the start (see :func:`replay`)."""
    r = replay(model, time_s, progress_m, checkpoints_m)

    def average(_: int, i: int, later: FloatArray) -> FloatArray:
        return average_speed_eta(r.start_ts, float(time_s[i]), float(r.accepted_m[i]), later)

    return _score(model, r, time_s, average)


def field_backtest(
    model: EtaModel,
    field: FieldModel,
    time_s: FloatArray,
    progress_m: FloatArray,
    station_m: FloatArray,
) -> Backtest:
    """The same at the race's stations, the field model (from the runner's splits so far)
    in the baseline's place."""
    r = replay(model, time_s, progress_m, station_m)

    def from_splits(j: int, _: int, later: FloatArray) -> FloatArray:
        splits = np.where(np.arange(len(station_m)) <= j, r.truth_ts - r.start_ts, np.nan)
        forecast = field.predict(splits[None, :])[0]
        at = np.searchsorted(r.checkpoints_m, later)
        elapsed = [forecast.elapsed_s.get(int(k), (np.nan,))[0] for k in at]
        return r.start_ts + np.array(elapsed)

    return _score(model, r, time_s, from_splits)


def _score(
    model: EtaModel,
    r: Replay,
    time_s: FloatArray,
    other: Callable[[int, int, FloatArray], FloatArray],
) -> Backtest:
    """Errors of the model and of ``other(checkpoint, fix, later checkpoints)`` at each pass."""
    ours: list[float] = []
    theirs: list[float] = []
    for j, i, later, actual in _passes(r):
        to_go = np.maximum(actual - float(time_s[i]), 1.0)
        ours.extend((np.abs(model.predict(r.states[i], later) - actual) / to_go).tolist())
        theirs.extend((np.abs(other(j, i, later) - actual) / to_go).tolist())
    return Backtest(np.array(ours), np.array(theirs), r.start_ts)


def _passes(r: Replay) -> Iterator[tuple[int, int, FloatArray, FloatArray]]:
    """Each checkpoint pass: its index, the fix, the later checkpoints reached and when."""
    reached = r.hit < len(r.accepted_m)
    for j in np.flatnonzero(reached)[:-1]:
        i = int(r.hit[j])
        # later checkpoints reached, not already passed by this fix (a jump over a gap)
        ok = np.isfinite(r.truth_ts) & (r.checkpoints_m > r.accepted_m[i])
        ok[: j + 1] = False
        if ok.any():
            yield int(j), i, r.checkpoints_m[ok], r.truth_ts[ok]
