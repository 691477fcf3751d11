"""The engine's settings, written once: :class:`EngineConfig`'s fields.

The kernel reads them from a float array, each at the slot :data:`C` names after the field
(``cfg[C.oc_d_ref_m]`` is the ``oc_d_ref_m`` setting); the slots are made from the fields, so
there is no list of numbers to keep in step with them. An array, not a named tuple: numba works
out the types of a named tuple's 52 fields on every call, which costs more than a fix.

>>> cfg = EngineConfig(radius_m=150.0).to_kernel()
>>> float(cfg[C.radius_m]), len(cfg) == len(EngineConfig.names())
(150.0, True)
"""

from __future__ import annotations

import collections
from dataclasses import astuple, dataclass, fields
from typing import Any, TypeAlias

import numpy as np

from coursewatch.geo import FloatArray


@dataclass(frozen=True)
class EngineConfig:
    """Tuning of the matcher and detectors. Defaults were chosen with benchmarks/detection.py."""

    # -- the filter: hypotheses on the unrolled course ----------------------------------------
    radius_m: float = 100.0  # candidate search radius
    sigma_m: float = 10.0  # floor of the GPS error scale
    pace0_mps: float = 2.0  # prior pace
    vmax_mps: float = 7.0  # fastest plausible progress
    back_slack_m: float = 15.0  # backward progress allowed for free
    lambda_back_m: float = 25.0  # backward progress per nat
    lambda_fwd_m: float = 50.0  # impossible forward progress per nat
    e_off_m: float = 50.0  # emission of the coast (off the line) hypothesis, as a distance
    p_leave: float = 3.0  # nats to leave the line
    beam: float = 30.0  # hypotheses further below the best than this are dropped
    # -- off course (engine/offcourse.py) -------------------------------------------------------
    oc_d_ref_m: float = 60.0  # offset at which evidence starts to accumulate
    oc_scale_m: float = 10.0  # offset per unit of evidence
    oc_z_hi: float = 4.0  # cap of evidence per fix (heavy tail)
    oc_z_lo: float = 2.0  # cap of counter-evidence per fix
    oc_h: float = 0.2  # evidence that raises the alarm
    oc_tau_s: float = 1.0  # fixes within this count as one independent fix
    oc_d_clear_m: float = 30.0  # offset under which a fix counts as back on course
    oc_h_clear: float = 3.0  # evidence to clear the alarm
    # -- wrong way (engine/wrongway.py) and shortcut ------------------------------------------
    ww_dist_m: float = 300.0  # backward progress that makes a wrong way
    ww_clear_m: float = 100.0  # forward progress that clears it
    shortcut_m: float = 300.0  # course skipped beyond the distance run that makes a shortcut
    # -- the filter, continued ------------------------------------------------------------------
    nu: float = 3.0  # Student-t degrees of freedom of the emission
    emit_tau_s: float = 10.0  # fixes within this count as one independent position
    start_prior_m: float = 2000.0  # first fix: one nat less per this far from the start ...
    start_prior_cap: float = 6.0  # ... at most this: a tracker started mid-race is found
    avg_pace_mps: float = 1.3  # first fix, the race start known: the usual average pace ...
    avg_pace_sigma: float = 0.35  # ... its spread (log), which tells laps and legs apart
    finish_m: float = 30.0  # within this of the end of the course the detectors stop
    ww_persist_s: float = 60.0  # backward progress must last this long
    noise_near_m: float = 45.0  # fixes matched within this of the line teach the noise estimate
    oc_moving_mps: float = 0.5  # speed under which off-course evidence is scaled down
    oc_k_acc: float = 4.5  # alarm threshold grows by this per metre of reported accuracy...
    oc_acc_ref_m: float = 4.0  # ... beyond this
    burst_s: float = 120.0  # for this long a runner may go at vmax ...
    vsus_mps: float = 3.0  # ... then at most this (or 2.5 times their pace)
    station_zone_m: float = 150.0  # within this of a station nobody is off course (aid stations)
    ww_rejoin_m: float = 100.0  # wrong way right after rejoining: backward progress that makes it
    lambda_rejoin_back_m: float = 500.0  # behind the point of leaving, per nat, when rejoining
    coast_back_m: float = 1500.0  # off the line, the runner may be beside the course this far back
    ambiguous: float = 6.0  # passes scoring within this many nats of the best count as possible
    merge_m: float = 10.0  # hypotheses closer than this along the course merge
    noise_tau_s: float = 30.0  # time constant assumed of GPS error when estimating its noise
    noise_learn_s: float = 900.0  # the noise estimate averages over this long
    oc_k_noise: float = 8.0  # no accuracy reported: threshold grows by this per metre of noise ...
    oc_noise_ref_m: float = 6.5  # ... estimated beyond this ...
    oc_noise_cap_m: float = 16.0  # ... by at most this
    noise_prior_m: float = 8.5  # noise assumed of a receiver until its fixes tell (pings: always)
    oc_band_s: float = 90.0  # a runner kept beyond d_clear this long is on a path beside it ...
    oc_band_m: float = 15.0  # ... and gets this much more margin
    # -- the reachable course (engine/reach.py) -----------------------------------------------
    reach_min_m: float = 25.0  # this far from the whole line: offset from the reachable course
    reach_slack_m: float = 150.0  # reachable: back and forth the distance run, plus this
    reach_near_m: float = 20.0  # passes this much further than the nearest: places to be
    reach_on_m: float = 20.0  # a fix matched this near the line places the runner there
    reach_expire_m: float = 1000.0  # a place not gone on from is forgotten after this much run
    oc_follow_m: float = 100.0  # a way back far from where they left must follow the course so far
    # -- confirmed for race HQ (engine/confirm.py), far from the course, shortcut evidence ----
    hq_far_m: float = 200.0  # a flagged runner this far from the whole line ...
    hq_far_fixes: float = 2.0  # ... on this many fixes in a row is confirmed,
    hq_stay_m: float = 100.0  # ... or this far ...
    hq_stay_s: float = 120.0  # ... on every fix across this long (two pings: minutes apart)
    hq_ping_s: float = 240.0  # ... or on two pings of an episode (this long after the fix before)
    hq_gap_s: float = 3600.0  # a silence this long: what the fixes before said holds no more
    far_course_m: float = 1000.0  # further than this from every part of the course: far from it
    near_course_m: float = 800.0  # ... until back within this
    dense_s: float = 60.0  # fixes this close together measure the distance run (a shortcut)
    hq_back_m: float = 50.0  # a confirmed runner back within this of the line ...
    hq_back_s: float = 120.0  # ... across this long is confirmed afresh if they leave it again
    arm_after_s: float = 900.0  # first seen this long after the start: watched from that fix
    ww_hq_m: float = 1000.0  # a wrong way this far back along the course is confirmed for HQ

    def to_kernel(self) -> FloatArray:
        """The settings as the kernel reads them: a float array, slot ``C.<name>`` each."""
        return np.array(astuple(self), dtype=np.float64)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# Where each setting is in the kernel's array: ``cfg[C.radius_m]``. A constant named tuple of
# the fields' positions, which numba folds into the code.
_NAMES = EngineConfig.names()
C: Any = collections.namedtuple("Slots", _NAMES)(*range(len(_NAMES)))

# How the kernel's functions annotate the settings array.
KernelCfg: TypeAlias = FloatArray
