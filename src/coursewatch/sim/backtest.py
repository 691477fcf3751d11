"""Scoring the ETA on a finished race: predictions at every checkpoint pass, against the truth.

Used by ``benchmarks/eta.py`` and the tests; the live server never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coursewatch.eta import REACHED_M, EtaModel, EtaState, average_speed_eta
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


def backtest(
    model: EtaModel, time_s: FloatArray, progress_m: FloatArray, checkpoints_m: FloatArray
) -> Backtest:
    """Replay a race fix by fix; at each checkpoint pass predict every later checkpoint.

    The truth is the first time the runner's accepted progress (the same plausibility filter
    as the model's) reached the checkpoint, interpolated between fixes. The baseline's start
    is the last fix before the runner was ``start_m`` along the course (the files hold no
    official start time).
    """
    state = model.new_state()
    accepted = np.empty(len(time_s))
    states: list[EtaState] = []
    for i, (t, s) in enumerate(zip(time_s.tolist(), progress_m.tolist(), strict=True)):
        state = model.update(state, t, s)
        accepted[i] = state.progress_m
        states.append(state)
    cps = np.sort(np.asarray(checkpoints_m, dtype=np.float64))
    hit = np.searchsorted(accepted, cps - REACHED_M, side="left")  # accepted never decreases
    reached = hit < len(accepted)
    truth = np.full(len(cps), np.nan)
    for j in np.flatnonzero(reached & (hit > 0)):
        i = hit[j]
        f = (cps[j] - accepted[i - 1]) / max(accepted[i] - accepted[i - 1], 1e-9)
        truth[j] = time_s[i - 1] + f * (time_s[i] - time_s[i - 1])
    moved = np.flatnonzero(accepted >= model.config.start_m)
    start_ts = float(time_s[max(int(moved[0]) - 1, 0)]) if len(moved) else float(time_s[0])
    ours: list[float] = []
    base: list[float] = []
    for j in np.flatnonzero(reached)[:-1]:
        i = hit[j]
        # later checkpoints reached, not already passed by this fix (a jump over a gap)
        ok = np.isfinite(truth) & (cps > accepted[i])
        ok[: j + 1] = False
        later, actual = cps[ok], truth[ok]
        if not len(later):
            continue
        now = float(time_s[i])
        to_go = np.maximum(actual - now, 1.0)
        ours.extend((np.abs(model.predict(states[i], later) - actual) / to_go).tolist())
        b = average_speed_eta(start_ts, now, float(accepted[i]), later)
        base.extend((np.abs(b - actual) / to_go).tolist())
    return Backtest(np.array(ours), np.array(base), start_ts)
