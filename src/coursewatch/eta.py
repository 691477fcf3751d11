"""ETA: when will a runner reach a later point of the course, learned from their own race.

Trackers today extrapolate the average speed so far (:func:`average_speed_eta`). That ignores
what lies ahead (a 1,500 m climb is not a flat road), that runners slow down as the race goes
on, and that part of the elapsed time was spent standing at aid stations. :class:`EtaModel`
models all three, from the runner's own history, with priors for what it has not seen yet:

* **Terrain.** The course is cut into bins (~100 m); each bin gets a prior time factor from
  its grade, ITRA's km-effort (100 m of climb costs as much as 1 km of flat; descents as
  flat). Its integral is the *effort distance* ``E`` of the course.
* **The runner's own pace**, on moving time only, is a Bayesian linear model of the log pace
  per effort metre: ``log(dt/dE) = b + k * E_km + c_up * grade_up + c_down * grade_down``.
  ``b`` is the runner's level, ``k`` their fatigue (slowdown per effort-km),
  ``c_up`` / ``c_down`` how much more (or less) than ITRA climbs and descents cost them.
  Each closed segment of history (about a minute, or one ping interval) adds one weighted
  observation to four-by-four sufficient statistics, discounted with the effort distance
  run (``forget_km``) so the fit follows the runner; the priors are never forgotten. An
  outlying segment (a progress jump where the race ran another route than the course file)
  is clipped and weighs less the further out it is (Huber).
* **Stops.** A segment slower than ``stop_speed_mps`` (in effort metres per second) is a
  stop; the ratio of stopped to moving time, shrunk to a prior, is added to every future
  leg. The level of the prediction is half that fit (moving pace times one plus the stop
  ratio) and half the elapsed time since the start over the time the fitted shape gives
  for the distance run: the second is what average-speed trackers do, with terrain and
  fatigue taken out, and it is hard to fool with a long sleep or a recording gap.
* **An expert mixture.** The prediction mixes that shaped ETA with the plain average speed
  since the start, weighted by how well each predicted this runner's own recent legs
  (~5 km, scored once run: only predictions whose truth is known count). Some runners and
  routes (a course file that is not the route run) suit the average speed better.

Use it like this (``update`` is O(1); ``predict`` is one vectorised pass over the bins ahead)::

    model = EtaModel(course)
    state = model.new_state()
    for t_s, progress_m in fixes:
        state = model.update(state, t_s, progress_m)
    arrival_ts = model.predict(state, [station_m, course.length_m])

>>> from coursewatch.sim.simulate import straight_course
>>> model = EtaModel(straight_course(10_000.0))
>>> state = model.new_state()
>>> for i in range(0, 1801, 10):
...     state = model.update(state, 1_000.0 + i, 2.5 * i)
>>> # the priors expect the runner to slow down and to stop a little: 4,426 s, not 4,000
>>> round(float(model.predict(state, [10_000.0])[0]) - 1_000.0)
4426
>>> round(float(average_speed_eta(1_000.0, 2_800.0, 4_500.0, [10_000.0])[0]) - 1_000.0)
4000
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from coursewatch.course import Course
from coursewatch.effort import CourseProfile
from coursewatch.geo import FloatArray

N_PARAMS = 4  # level, fatigue, climb, descent
REACHED_M = 25.0  # a checkpoint counts as reached this close to it (the finish is the line end)
AT_STATION_M = 100.0  # this close before an aid station (its tent, its car park) is at it


def skipped_by(station_m: float, cut_m: tuple[float, float]) -> bool:
    """Whether a station at ``station_m`` lies in the course a shortcut skipped (from, to),
    not at its end: one ``AT_STATION_M`` before where the runner came back was reached there
    (UTMB 2021's Vallorcine, 30 m before the rejoin).

    >>> skipped_by(5_000.0, (3_000.0, 7_000.0)), skipped_by(6_950.0, (3_000.0, 7_000.0))
    (True, False)
    """
    return cut_m[0] < station_m < cut_m[1] - AT_STATION_M


@dataclass(frozen=True)
class EtaConfig:
    """Priors and tuning (units in the names; ``per_km`` is per effort-km).

    ``fatigue_per_km`` and ``stop_ratio`` were fitted on whole real races, and
    ``average_share`` chosen on them (benchmarks/eta.py re-fits and re-chooses all three
    leaving out the race it scores); the rest were set by reasoning, see docs/eta.md.
    """

    bin_m: float = 100.0
    max_bins: int = 4000
    segment_s: float = 60.0
    start_m: float = 200.0
    max_speed_mps: float = 8.0
    stop_speed_mps: float = 0.4
    max_slowdown: float = 2.0
    forget_km: float = 30.0
    obs_sd_per_km: float = 0.3
    pace_s_per_m: float = 0.45
    pace_log_sd: float = 1.0
    fatigue_per_km: float = 0.0013
    fatigue_sd_per_km: float = 0.001
    grade_sd: float = 0.5
    stop_ratio: float = 0.3
    stop_prior_s: float = 3 * 3600.0
    elapsed_share: float = 0.5
    early_m: float = 10_000.0
    average_share: float = 0.0  # the prior weight of the average speed (see average_weight)
    leg_m: float = 5_000.0
    leg_keep: float = 0.8
    legs: float = 20.0
    loss_prior: float = 0.05


@dataclass(frozen=True, eq=False)
class EtaState:
    """What the model knows about one runner. Immutable: :meth:`EtaModel.update` returns a new one.

    ``progress_m`` only moves forward, and only by plausible amounts (a jump faster than
    ``max_speed_mps`` is held as ``pending_m`` until a second fix confirms it). ``start_ts``
    and ``start_m`` are where the runner left the start (or joined the race).
    """

    last_ts: float = math.nan
    progress_m: float = 0.0
    pending_ts: float = math.nan
    pending_m: float = math.nan
    segment_ts: float = math.nan
    segment_m: float = 0.0
    started: bool = False
    start_ts: float = math.nan
    start_m: float = 0.0
    moving_s: float = 0.0
    stopped_s: float = 0.0
    xtx: FloatArray = field(default_factory=lambda: np.zeros((N_PARAMS, N_PARAMS)))
    xty: FloatArray = field(default_factory=lambda: np.zeros(N_PARAMS))
    # the posterior mean those give, solved once when they change (NaN: not yet, the prior's)
    theta: FloatArray = field(default_factory=lambda: np.full(N_PARAMS, np.nan))
    fixes: int = 0
    leg_ts: float = math.nan
    leg_m: float = math.nan
    leg_shaped_pace: float = math.nan
    leg_average_pace: float = math.nan
    shaped_loss: float = 0.0
    average_loss: float = 0.0


def _evolve(state: EtaState, **changes: Any) -> EtaState:
    """``dataclasses.replace`` without re-running ``__init__`` (a third of the cost of a fix).

    EtaState has no ``__post_init__`` or validation, so copying its fields is all replace does.
    """
    new = object.__new__(EtaState)
    new.__dict__.update(state.__dict__, **changes)
    return new


@dataclass(frozen=True)
class EtaFit:
    """The runner's fitted model, in words a person can read."""

    flat_pace_mps: float
    fatigue_per_km: float
    climb: float
    descent: float
    stop_ratio: float


class EtaModel:
    """Per-course ETA model; one :class:`EtaState` per runner."""

    def __init__(self, course: Course, config: EtaConfig | None = None) -> None:
        self.config = c = config or EtaConfig()
        self.course = course
        self.profile = CourseProfile(course, c.bin_m, c.max_bins)
        # legs short enough that a short race has twenty of them to learn from
        self.leg_m = min(c.leg_m, course.length_m / c.legs)
        self.prior_mean = np.array([math.log(c.pace_s_per_m), c.fatigue_per_km, 0.0, 0.0])
        sd = np.array([c.pace_log_sd, c.fatigue_sd_per_km, c.grade_sd, c.grade_sd])
        self.prior_precision = np.diag(1.0 / sd**2)
        self._prior_b = self.prior_precision @ self.prior_mean

    def new_state(self, start_ts: float | None = None) -> EtaState:
        """A runner with no fix yet. ``start_ts``: the official start, when known.

        Without it the start is the last fix before the runner was ``start_m`` along.
        """
        return EtaState(start_ts=math.nan if start_ts is None else start_ts)

    def update(self, state: EtaState, t_s: float, progress_m: float) -> EtaState:
        """Feed one fix: its time (epoch seconds) and the matcher's progress along the course.

        Fixes older than the last one are ignored (rebuild the state to insert late fixes).
        """
        if state.fixes and not t_s > state.last_ts:
            return state
        if not state.fixes:
            started = progress_m >= self.config.start_m  # joined mid-race
            start_ts = t_s if started or math.isnan(state.start_ts) else state.start_ts
            return _evolve(state, last_ts=t_s, progress_m=progress_m, segment_ts=t_s,
                           segment_m=progress_m, fixes=1, started=started,
                           start_ts=start_ts, start_m=progress_m)  # fmt: skip
        s_m = self._accepted_m(state, t_s, progress_m)
        if s_m is None:
            return _evolve(state, last_ts=t_s, pending_ts=t_s, pending_m=progress_m,
                           fixes=state.fixes + 1)  # fmt: skip
        s_m = max(s_m, state.progress_m)
        if not state.started:
            return self._maybe_start(state, t_s, s_m)
        state = _evolve(state, last_ts=t_s, progress_m=s_m, pending_ts=math.nan,
                        fixes=state.fixes + 1)  # fmt: skip
        if t_s - state.segment_ts < self.config.segment_s:
            return state
        state = self._close_segment(state)
        if not state.progress_m < state.leg_m + self.leg_m:  # NaN: the first leg
            state = self._score_leg(state)
        return state

    def _score_leg(self, state: EtaState) -> EtaState:
        """Score both experts' paces for the leg just run; predict the paces of the next one.

        The shaped pace (time per effort metre, stops included) and the average pace since
        the start (time per metre) are frozen at the start of each leg; when the leg is run,
        the squared log error of each is added to a discounted loss. Only past predictions
        whose truth is known are scored, and it is O(1): no course integral.
        """
        p = self.profile
        shaped_loss, average_loss = self._leg_losses(state)
        _, x = p.features(state.progress_m, state.progress_m + self.leg_m)
        shaped_pace = math.exp(_dot(x, self.theta(state))) * (1.0 + self.stop_ratio(state))
        elapsed_s = state.last_ts - state.start_ts
        average_pace = elapsed_s / max(state.progress_m, 1.0)
        return _evolve(state, leg_ts=state.last_ts, leg_m=state.progress_m,
                       leg_shaped_pace=shaped_pace, leg_average_pace=average_pace,
                       shaped_loss=shaped_loss, average_loss=average_loss)  # fmt: skip

    def _leg_losses(self, state: EtaState) -> tuple[float, float]:
        """The discounted losses, with the leg that ends at this fix scored (when it can be)."""
        c, p = self.config, self.profile
        if math.isnan(state.leg_m):  # the first leg starts here
            return state.shaped_loss, state.average_loss
        actual_s = state.last_ts - state.leg_ts
        effort_m = p.effort_at(state.progress_m) - p.effort_at(state.leg_m)
        shaped_s = state.leg_shaped_pace * effort_m
        average_s = state.leg_average_pace * (state.progress_m - state.leg_m)
        if min(actual_s, shaped_s, average_s) <= 0.0:  # past the finish: nothing to score
            return state.shaped_loss, state.average_loss
        return (c.leg_keep * state.shaped_loss + math.log(shaped_s / actual_s) ** 2,
                c.leg_keep * state.average_loss + math.log(average_s / actual_s) ** 2)  # fmt: skip

    def average_weight(self, state: EtaState) -> float:
        """The weight of the average speed in the prediction: more when it has done better."""
        c = self.config
        w = c.loss_prior
        return (state.shaped_loss + c.average_share * w) / (
            state.shaped_loss + state.average_loss + w
        )

    def _maybe_start(self, state: EtaState, t_s: float, s_m: float) -> EtaState:
        """Time in the start area is not a stop: the race begins at the last fix there."""
        if s_m < self.config.start_m:
            return _evolve(state, last_ts=t_s, progress_m=s_m, pending_ts=math.nan,
                           segment_ts=t_s, segment_m=s_m, start_m=s_m,
                           fixes=state.fixes + 1)  # fmt: skip
        start_ts = state.start_ts
        if math.isnan(start_ts) or start_ts < state.last_ts:
            start_ts = state.last_ts
        return _evolve(state, last_ts=t_s, progress_m=s_m, pending_ts=math.nan,
                       segment_ts=state.last_ts, segment_m=state.progress_m, started=True,
                       start_ts=start_ts, start_m=state.progress_m,
                       fixes=state.fixes + 1)  # fmt: skip

    def _accepted_m(self, state: EtaState, t_s: float, s_m: float) -> float | None:
        """``s_m`` if it is a plausible move (from the last accepted fix or a pending jump)."""
        vmax = self.config.max_speed_mps
        if s_m - state.progress_m <= vmax * (t_s - state.last_ts) + 50.0:
            return s_m
        if not math.isnan(state.pending_ts):
            ds = abs(s_m - state.pending_m)
            if ds <= vmax * (t_s - state.pending_ts) + 50.0:
                return s_m
        return None

    def _close_segment(self, state: EtaState) -> EtaState:
        c = self.config
        dt_s = state.last_ts - state.segment_ts
        effort_m, x = self.profile.features(state.segment_m, state.progress_m)
        if effort_m < c.stop_speed_mps * dt_s:
            return _evolve(state, segment_ts=state.last_ts, segment_m=state.progress_m,
                           stopped_s=state.stopped_s + dt_s)  # fmt: skip
        expected_log = _dot(x, self.theta(state))
        # robust: a segment counts as at most max_slowdown times slower or faster than
        # expected (a matcher jump, a partial stop inside a 10-minute ping interval), and
        # with less weight the further out it is
        clip = math.log(c.max_slowdown)
        residual = math.log(dt_s / effort_m) - expected_log
        keep = math.exp(-effort_m / 1000.0 / c.forget_km)
        w = effort_m / 1000.0 / c.obs_sd_per_km**2
        if abs(residual) > clip:
            # Huber: an outlier also weighs less (a progress jump where the course file and
            # the route run differ would otherwise pull the pace with full weight, again and
            # again)
            w *= clip / abs(residual)
            residual = math.copysign(clip, residual)
        y = expected_log + residual
        xa = np.array(x)
        xtx, xty = keep * state.xtx + w * np.outer(xa, xa), keep * state.xty + w * y * xa
        return _evolve(
            state,
            segment_ts=state.last_ts,
            segment_m=state.progress_m,
            moving_s=keep * state.moving_s + dt_s,
            stopped_s=keep * state.stopped_s,
            xtx=xtx,
            xty=xty,
            theta=self._solve(xtx, xty),
        )

    def theta(self, state: EtaState) -> FloatArray:
        """Posterior mean of (log level, fatigue per effort-km, climb, descent)."""
        if math.isnan(state.theta[0]):
            return self._solve(state.xtx, state.xty)
        return state.theta

    def _solve(self, xtx: FloatArray, xty: FloatArray) -> FloatArray:
        return np.linalg.solve(self.prior_precision + xtx, self._prior_b + xty)

    def stop_ratio(self, state: EtaState) -> float:
        """Expected stopped time per second of moving time."""
        c = self.config
        w = c.stop_prior_s
        return (state.stopped_s + c.stop_ratio * w) / (state.moving_s + w)

    def fit(self, state: EtaState) -> EtaFit:
        """The fitted parameters (flat pace at the current effort distance)."""
        theta = self.theta(state)
        e_km = self.profile.effort_at(state.progress_m) / 1000.0
        pace = math.exp(theta[0] + theta[1] * e_km)
        return EtaFit(1.0 / pace, float(theta[1]), float(theta[2]), float(theta[3]),
                      self.stop_ratio(state))  # fmt: skip

    def predict(self, state: EtaState, targets_m: npt.ArrayLike) -> FloatArray:
        """Predicted arrival time (epoch seconds) at each course distance; NaN behind or no fix.

        One pass over the bins from the start to the furthest target: the fitted shape of
        pace along the course, scaled by the level (see the module docstring).
        """
        targets = np.atleast_1d(np.asarray(targets_m, dtype=np.float64))
        out = np.full(targets.shape, np.nan)
        here_m = state.progress_m
        ahead = [(k, t) for k, t in enumerate(targets.tolist()) if t >= here_m]
        if not state.fixes or not ahead:
            return out
        c, p = self.config, self.profile
        i1 = min(int(max(t for _, t in ahead) / p.bin_m), len(p.factor) - 1) + 1
        theta = self.theta(state)
        cum = np.empty(i1 + 1)  # the fitted shape's time per unit of level, bin by bin
        cum[0] = 0.0
        np.cumsum(np.exp(p.shape_x[:i1] @ theta[1:]) * p.effort_bin_m[:i1], out=cum[1:])
        run = p.at(cum, here_m)
        fitted = math.exp(theta[0]) * (1.0 + self.stop_ratio(state))
        elapsed_s = state.last_ts - state.start_ts if state.started else 0.0
        w = c.early_m
        observed = (elapsed_s + fitted * w) / (run - p.at(cum, state.start_m) + w)
        level = c.elapsed_share * observed + (1.0 - c.elapsed_share) * fitted
        run_m = here_m if state.started else 0.0
        a = self.average_weight(state)
        at = np.interp([t for _, t in ahead], p.edges_m[: i1 + 1], cum).tolist()
        for (k, to_m), cum_m in zip(ahead, at, strict=True):  # (floats: a few targets)
            shaped_s = level * (cum_m - run)
            # the average speed since the start, shrunk to the shaped pace over the first
            # early_m (a detour in the first kilometres is not the pace of the whole race)
            to_go_m = max(to_m - here_m, 1e-9)
            pace = (elapsed_s + shaped_s / to_go_m * w) / (run_m + w)
            out[k] = state.last_ts + a * pace * to_go_m + (1.0 - a) * shaped_s
        return out


def _dot(x: tuple[float, ...], theta: FloatArray) -> float:
    """``x @ theta`` of the four features, left to right (numpy's call costs more)."""
    a, b, c, d = theta.tolist()
    return float(x[0] * a + x[1] * b + x[2] * c + x[3] * d)


def average_speed_eta(
    start_ts: float, now_ts: float, progress_m: float, targets_m: npt.ArrayLike
) -> FloatArray:
    """The trackers' ETA: the average speed since the start, extrapolated to each target.

    >>> average_speed_eta(0.0, 3600.0, 9000.0, [18000.0]).tolist()
    [7200.0]
    """
    targets = np.atleast_1d(np.asarray(targets_m, dtype=np.float64))
    elapsed_s = now_ts - start_ts
    if progress_m <= 0.0 or elapsed_s <= 0.0:
        return np.full(targets.shape, np.nan)
    speed_mps = progress_m / elapsed_s
    out = now_ts + (targets - progress_m) / speed_mps
    return np.where(targets >= progress_m, out, np.nan)
