"""Confirmed: when a flagged runner is off the course for sure, race HQ is told.

The off-course and wrong-way detectors flag a runner as soon as they may be off course: a
buzz on the runner's wrist 60 m past a missed turn costs nothing if wrong. Race HQ watches
thousands of runners and wants only what is confirmed, so this state machine watches a flagged
episode and raises one ``alert`` when the runner's distance from the whole course line shows
it:

- **far off**: ``hq_far_m`` (200 m) or more, on ``hq_far_fixes`` (2) fixes in a row;
- **stays off**: ``hq_stay_m`` (100 m) or more, on every fix across ``hq_stay_s`` (2
  minutes; for satellite pings minutes apart, two pings in a row);
- **off again, pings**: a second satellite ping (``hq_ping_s``, 4 minutes or more after the
  fix before it) ``hq_stay_m`` or more off in the same open episode. Between two pings 5-10
  minutes apart a runner lost on a dense course crosses other parts of it, and the ping that
  lands on one of them says nothing of where they are going: the flag is still open.

A silence of ``hq_gap_s`` (an hour) or more after fixes close together (less than
``hq_ping_s`` apart: a recording, not a tracker's pings) ends what they said: the count starts
afresh at the fix after it (a watch paused for two hours at a hut 108 m off the line, then one
fix 138 m off as the runner leaves it, is not "stayed off for two hours"). A satellite tracker
that pings every hour, or every 30 minutes and misses one, is not silent: its pings count.

The distance is from the whole line, not from the part of the course the runner should be on:
a runner on another part of the course (a cut switchback, the way out on the way back) is not
lost, whatever the flag says, and a runner clearly away from every part of it is. One alert an
episode (:func:`reset` when it ends), or again when a confirmed runner came back to the line for
``hq_back_s`` and leaves it clearly again while the episode is still open (a route run in
reverse keeps it open).

>>> import numpy as np
>>> from coursewatch.engine.config import EngineConfig
>>> cfg, st, ev = EngineConfig().to_kernel(), np.zeros(LEN), np.zeros(14)
>>> [confirm_step(st, float(t), d, True, cfg, ev) for t, d in enumerate([80, 150, 210, 230])]
[0, 0, 0, 6]
"""

from __future__ import annotations

import numba as nb

from coursewatch.engine import events as E
from coursewatch.engine.config import C, KernelCfg
from coursewatch.geo import FloatArray

# the state machine's slice of the runner's state vector: these fields, in this order
FIELDS = ("STATE", "FAR_RUN", "STAY_T0", "STAY_N", "BACK_T0", "BACK_N", "LAST_T", "PING_N",
          "PREV_DT")  # fmt: skip
LEN = len(FIELDS)
STATE = 0  # 1 once this episode was confirmed
FAR_RUN = 1  # fixes in a row at least hq_far_m from the line
STAY_T0 = 2  # when the current run of fixes at least hq_stay_m off began
STAY_N = 3  # fixes in that run
BACK_T0 = 4  # confirmed: when the current run of fixes back within hq_back_m began
BACK_N = 5  # fixes in that run
LAST_T = 6  # the time of the fix before
PING_N = 7  # pings at least hq_stay_m off in this episode
PREV_DT = 8  # the time between the fix before and the one before it


@nb.njit(cache=True, inline="always")
def confirm_step(
    st: FloatArray, t: float, d_line_m: float, flagged: bool, cfg: KernelCfg, ev: FloatArray
) -> int:
    """Take one fix: its time and distance from the whole course line; ``flagged``: the
    runner's episode is open (off course or wrong way). Returns CODE_ALERT once an episode."""
    dt = t - st[LAST_T]
    before_dt, st[PREV_DT], st[LAST_T] = st[PREV_DT], dt, t
    if not flagged:
        return 0
    ping = dt >= cfg[C.hq_ping_s]
    if dt >= cfg[C.hq_gap_s] and 0.0 < before_dt < cfg[C.hq_ping_s]:
        # fixes close together, then an hour's silence (a watch paused at a hut): the runner
        # may be anywhere now, count afresh (a tracker that pings every hour is not silent)
        st[FAR_RUN] = st[STAY_N] = st[PING_N] = st[BACK_N] = 0.0
        ping = False
    if st[STATE] == 1.0:
        _back(st, t, d_line_m, cfg)
        return 0
    st[FAR_RUN] = st[FAR_RUN] + 1.0 if d_line_m >= cfg[C.hq_far_m] else 0.0
    if d_line_m >= cfg[C.hq_stay_m]:
        if st[STAY_N] == 0.0:
            st[STAY_T0] = t
        st[STAY_N] += 1.0
    else:
        st[STAY_N] = 0.0
    if ping and d_line_m >= cfg[C.hq_stay_m]:
        st[PING_N] += 1.0
    far = st[FAR_RUN] >= cfg[C.hq_far_fixes]
    stays = st[STAY_N] >= 2.0 and t - st[STAY_T0] >= cfg[C.hq_stay_s]
    if not (far or stays or st[PING_N] >= 2.0):
        return 0
    st[STATE] = 1.0
    ev[:] = float("nan")
    ev[E.EV_CODE] = E.CODE_ALERT
    ev[E.EV_T] = t
    ev[E.EV_OFFSET] = d_line_m
    return E.CODE_ALERT


@nb.njit(cache=True, inline="always")
def _back(st: FloatArray, t: float, d_line_m: float, cfg: KernelCfg) -> None:
    """Confirmed: back on the line long enough, the next clear departure is confirmed again."""
    if d_line_m >= cfg[C.hq_back_m]:
        st[BACK_N] = 0.0
        return
    if st[BACK_N] == 0.0:
        st[BACK_T0] = t
    st[BACK_N] += 1.0
    if st[BACK_N] >= 2.0 and t - st[BACK_T0] >= cfg[C.hq_back_s]:
        st[:LAST_T] = 0.0
        st[PING_N] = 0.0


@nb.njit(cache=True)
def reset(st: FloatArray, t: float) -> None:
    """No episode open at the fix of time ``t``: the next one is confirmed afresh."""
    st[:] = 0.0
    st[LAST_T] = t
