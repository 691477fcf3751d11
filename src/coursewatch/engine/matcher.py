"""The engine's two ways in: :class:`LiveMatcher` (one fix at a time) and :func:`match_fixes`.

Both drive the same numba kernel (:mod:`coursewatch.engine.kernel`) over the same state
vector, so what the live server raises and what the post-race analysis reports as *alerted*
are the same events at the same fixes by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from coursewatch.course import Course
from coursewatch.engine import layout as L
from coursewatch.engine.grid import new_memo, new_stamp
from coursewatch.engine.kernel import FLOAT_SCRATCH, INT_SCRATCH, run_many
from coursewatch.engine.noise import EST as NOISE_EST
from coursewatch.engine.projection import Lattice
from coursewatch.geo import FloatArray

EVENT_KINDS = {
    L.CODE_OFF_COURSE: "off_course",
    L.CODE_BACK_ON_COURSE: "back_on_course",
    L.CODE_SHORTCUT: "shortcut",
    L.CODE_WRONG_WAY: "wrong_way",
    L.CODE_WRONG_WAY_END: "wrong_way_end",
}


@dataclass(frozen=True)
class EngineConfig:
    """Tuning of the matcher and detectors. Defaults were chosen with benchmarks/detection.py."""

    radius_m: float = 100.0
    sigma_m: float = 10.0
    pace0_mps: float = 2.0
    vmax_mps: float = 7.0
    back_slack_m: float = 15.0
    lambda_back_m: float = 25.0
    lambda_fwd_m: float = 50.0
    e_off_m: float = 50.0
    p_leave: float = 3.0
    beam: float = 30.0
    oc_d_ref_m: float = 60.0
    oc_scale_m: float = 10.0
    oc_z_hi: float = 4.0
    oc_z_lo: float = 2.0
    oc_h: float = 0.2
    oc_tau_s: float = 1.0
    oc_d_clear_m: float = 30.0
    oc_h_clear: float = 3.0
    ww_dist_m: float = 300.0
    ww_clear_m: float = 100.0
    shortcut_m: float = 300.0
    nu: float = 3.0
    emit_tau_s: float = 10.0
    start_prior_m: float = 2000.0
    finish_m: float = 30.0
    ww_persist_s: float = 60.0
    noise_near_m: float = 45.0
    oc_moving_mps: float = 0.5
    oc_k_acc: float = 4.5
    oc_acc_ref_m: float = 4.0
    burst_s: float = 120.0
    vsus_mps: float = 3.0
    station_zone_m: float = 150.0
    ww_rejoin_m: float = 100.0
    lambda_rejoin_back_m: float = 500.0
    coast_back_m: float = 1500.0
    ambiguous: float = 6.0
    merge_m: float = 10.0
    noise_tau_s: float = 30.0
    noise_learn_s: float = 900.0
    oc_k_noise: float = 8.0
    oc_noise_ref_m: float = 6.5
    oc_noise_cap_m: float = 16.0
    noise_prior_m: float = 8.5
    oc_band_s: float = 90.0
    oc_band_m: float = 15.0
    reach_min_m: float = 25.0
    reach_slack_m: float = 150.0
    reach_near_m: float = 20.0
    reach_on_m: float = 20.0
    reach_expire_m: float = 1000.0
    oc_follow_m: float = 100.0

    def to_array(self) -> FloatArray:
        order = [
            (L.C_RADIUS, self.radius_m), (L.C_SIGMA, self.sigma_m), (L.C_PACE0, self.pace0_mps),
            (L.C_VMAX, self.vmax_mps), (L.C_BACK_SLACK, self.back_slack_m),
            (L.C_LAMBDA_BACK, self.lambda_back_m), (L.C_LAMBDA_FWD, self.lambda_fwd_m),
            (L.C_E_OFF, self.e_off_m), (L.C_P_LEAVE, self.p_leave), (L.C_BEAM, self.beam),
            (L.C_OC_D_REF, self.oc_d_ref_m), (L.C_OC_SCALE, self.oc_scale_m),
            (L.C_OC_Z_HI, self.oc_z_hi), (L.C_OC_Z_LO, self.oc_z_lo), (L.C_OC_H, self.oc_h),
            (L.C_OC_TAU, self.oc_tau_s), (L.C_OC_D_CLEAR, self.oc_d_clear_m),
            (L.C_OC_H_CLEAR, self.oc_h_clear), (L.C_WW_DIST, self.ww_dist_m),
            (L.C_WW_CLEAR, self.ww_clear_m), (L.C_SHORTCUT_M, self.shortcut_m),
            (L.C_NU, self.nu), (L.C_EMIT_TAU, self.emit_tau_s),
            (L.C_START_PRIOR_M, self.start_prior_m), (L.C_FINISH_M, self.finish_m),
            (L.C_WW_PERSIST_S, self.ww_persist_s), (L.C_NOISE_NEAR_M, self.noise_near_m),
            (L.C_OC_MOVING_MPS, self.oc_moving_mps), (L.C_OC_K_ACC, self.oc_k_acc),
            (L.C_OC_ACC_REF, self.oc_acc_ref_m), (L.C_BURST_S, self.burst_s),
            (L.C_VSUS, self.vsus_mps), (L.C_STATION_ZONE_M, self.station_zone_m),
            (L.C_WW_REJOIN_M, self.ww_rejoin_m),
            (L.C_LAMBDA_REJOIN_BACK, self.lambda_rejoin_back_m),
            (L.C_COAST_BACK_M, self.coast_back_m), (L.C_AMBIGUOUS, self.ambiguous),
            (L.C_MERGE_M, self.merge_m),
            (L.C_NOISE_TAU, self.noise_tau_s), (L.C_NOISE_LEARN, self.noise_learn_s),
            (L.C_OC_K_NOISE, self.oc_k_noise), (L.C_OC_NOISE_REF, self.oc_noise_ref_m),
            (L.C_OC_NOISE_CAP, self.oc_noise_cap_m), (L.C_NOISE_PRIOR, self.noise_prior_m),
            (L.C_OC_BAND_S, self.oc_band_s), (L.C_OC_BAND_M, self.oc_band_m),
            (L.C_REACH_MIN, self.reach_min_m), (L.C_REACH_SLACK, self.reach_slack_m),
            (L.C_REACH_NEAR, self.reach_near_m), (L.C_REACH_ON, self.reach_on_m),
            (L.C_REACH_EXPIRE, self.reach_expire_m), (L.C_OC_FOLLOW, self.oc_follow_m),
        ]  # fmt: skip
        cfg = np.zeros(L.CFG_LEN)
        for i, v in order:
            cfg[i] = v
        return cfg

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Place:
    """Where and when: a moment of an event."""

    time: datetime
    lat: float
    lon: float
    course_m: float | None


@dataclass(frozen=True)
class Event:
    """Something a detector raised, at fix ``fix_index`` of the runner's accepted fixes.

    ``left`` is where the runner left the course (or, for wrong_way, the furthest point
    reached); ``at`` is where the event happened: the alarm for off_course and wrong_way, the
    point of rejoining for back_on_course and shortcut.
    """

    kind: str
    at: Place
    left: Place | None
    offset_m: float
    max_offset_m: float | None
    path_m: float | None
    alarm_time: datetime | None
    fix_index: int


class CourseModel:
    """The course arrays the kernel needs, built once per course."""

    def __init__(self, course: Course) -> None:
        self.course = course
        g = course.grid
        lat = Lattice.around(course.frame, course.lat, course.lon)
        self.lattice = lat
        if course.stations:
            sx, sy = course.frame.to_xy(
                [st.lat for st in course.stations], [st.lon for st in course.stations]
            )
        else:
            sx = sy = np.zeros(0)
        self.geo = (
            course.x, course.y, course.cum_m, g.x0, g.y0, g.cell_m, g.nx, g.ny,
            g.cell_start, g.cell_segs, lat.lat0, lat.lon0, lat.step_deg, lat.gx, lat.gy,
            np.ascontiguousarray(sx), np.ascontiguousarray(sy),
            np.zeros(INT_SCRATCH, dtype=np.int64), np.zeros(FLOAT_SCRATCH),
            new_stamp(len(course.x) - 1), *new_memo(),
        )  # fmt: skip

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        la, lo = self.course.frame.to_latlon([x], [y])
        return float(la[0]), float(lo[0])


@lru_cache(maxsize=32)
def course_model(course: Course) -> CourseModel:
    return CourseModel(course)


def new_state(config: EngineConfig | None = None) -> FloatArray:
    st = np.zeros(L.STATE_LEN)
    st[L.PACE] = (config or EngineConfig()).pace0_mps
    return st


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def decode_event(model: CourseModel, row: FloatArray) -> Event:
    code = int(row[L.EV_CODE])
    lat, lon = model.latlon(row[L.EV_X], row[L.EV_Y])
    at = Place(_time(row[L.EV_T]), lat, lon, float(row[L.EV_S]))
    left = None
    if not math.isnan(row[L.EV_LEFT_T]):
        llat, llon = model.latlon(row[L.EV_LEFT_X], row[L.EV_LEFT_Y])
        left = Place(_time(row[L.EV_LEFT_T]), llat, llon, float(row[L.EV_LEFT_S]))

    def opt(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    alarm = row[L.EV_ALARM_T]
    return Event(
        kind=EVENT_KINDS[code],
        at=at,
        left=left,
        offset_m=float(row[L.EV_OFFSET]),
        max_offset_m=opt(row[L.EV_MAXOFF]),
        path_m=opt(row[L.EV_PATH]),
        alarm_time=None if math.isnan(alarm) else _time(alarm),
        fix_index=int(row[L.EV_FIX]) if not math.isnan(row[L.EV_FIX]) else -1,
    )


class LiveMatcher:
    """Follows one runner fix by fix; causal (knows only the fixes so far).

    >>> from coursewatch.simulate import straight_course
    >>> m = LiveMatcher(straight_course(2000.0))
    >>> m.push(1_700_000_000.0, *m.model.latlon(0.0, 0.0) )
    []
    >>> m.push(1_700_000_010.0, *m.model.latlon(30.0, 0.0)); round(m.progress_m)
    []
    30
    """

    def __init__(self, course: Course, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.model = course_model(course)
        self._cfg = self.config.to_array()
        self.state = new_state(self.config)
        self._ev = np.full((8, L.EV_FIELDS), np.nan)
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
        one = self._one
        one[0, 0] = ts
        one[1, 0] = lat
        one[2, 0] = lon
        one[3, 0] = math.nan if accuracy_m is None else accuracy_m
        before = self.state[L.N_FIX]
        ne, _ = run_many(
            self.state, self.model.geo, self._cfg, one[0], one[1], one[2], one[3], 0,
            self._one_out, self._ev,
        )  # fmt: skip
        if self.state[L.N_FIX] > before:
            self._n += 1
        if ne == 0:
            return []
        out = []
        for k in range(ne):
            self._ev[k, L.EV_FIX] = self._n - 1
            out.append(decode_event(self.model, self._ev[k]))
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
        t, la, lo, ac = (np.ascontiguousarray(a, dtype=np.float64) for a in (ts, lat, lon, acc))
        if out is None:
            out = np.empty((n, 4))
        if self._evs is None:
            self._evs = np.full((16, L.EV_FIELDS), np.nan)
        ev = self._evs
        before, n_before = self.state[L.N_FIX], self._n
        last = self.state[L.LAST_T] if before > 0 else -math.inf
        events: list[Event] = []
        i = 0
        while i < n:
            ne, i = run_many(self.state, self.model.geo, self._cfg, t, la, lo, ac, i, out, ev)
            if ne:
                # the kernel ignores a fix at or before the last accepted one, as push does:
                # number each fix among the accepted ones
                prior = np.maximum.accumulate(np.concatenate([[last], t]))[:-1]
                ordinal = n_before + np.cumsum(t > prior) - 1
                for k in range(ne):
                    ev[k, L.EV_FIX] = ordinal[int(ev[k, L.EV_FIX])]
                    events.append(decode_event(self.model, ev[k]))
        self._n += int(self.state[L.N_FIX] - before)
        return events

    def snapshot(self) -> FloatArray:
        """A copy of the whole runner state (about 1.1 KB): store it to rewind later."""
        return np.concatenate([self.state, [float(self._n)]])

    def restore(self, snap: FloatArray) -> None:
        """Go back to a state taken by :meth:`snapshot`."""
        self.state = np.array(snap[:-1], dtype=np.float64)
        self._n = int(snap[-1])

    @property
    def last_time_s(self) -> float | None:
        return float(self.state[L.LAST_T]) if self.state[L.N_FIX] > 0 else None

    @property
    def matched(self) -> bool:
        """True when the last fix was matched to the course line (not coasting)."""
        return bool(self.state[L.MATCHED] == 1.0)

    @property
    def progress_m(self) -> float:
        return float(self.state[L.S_EST])

    @property
    def offset_m(self) -> float:
        return float(self.state[L.D_EST])

    @property
    def on_course(self) -> bool:
        return bool(self.state[L.OC] == 0.0)

    @property
    def pace_mps(self) -> float:
        return float(self.state[L.PACE])

    @property
    def fixes(self) -> int:
        return int(self.state[L.N_FIX])


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
        return float(self.state[L.NOISE + NOISE_EST])


def match_fixes(
    course: Course,
    time_s: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    accuracy_m: FloatArray | None = None,
    config: EngineConfig | None = None,
) -> MatchResult:
    """Run the live matcher over arrays of fixes (sorted by time) in one numba call."""
    config = config or EngineConfig()
    model = course_model(course)
    n = len(time_s)
    acc = np.full(n, np.nan) if accuracy_m is None else np.asarray(accuracy_m, dtype=np.float64)
    t = np.ascontiguousarray(time_s, dtype=np.float64)
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    st = new_state(config)
    cfg = config.to_array()
    out = np.zeros((n, 4))
    ev = np.full((256, L.EV_FIELDS), np.nan)
    events: list[Event] = []
    i = 0
    while i < n or (i == 0 and n == 0):
        ne, i = run_many(st, model.geo, cfg, t, la, lo, acc, i, out, ev)
        events.extend(decode_event(model, ev[k]) for k in range(ne))
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
