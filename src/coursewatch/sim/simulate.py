"""Synthetic courses and runners, for the demo and for tests that need no real data.

Everything here is generated from a seed: the same call gives the same course and fixes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coursewatch.course import Course, build_course
from coursewatch.geo import FloatArray, LocalFrame
from coursewatch.points import RawPoints, Waypoint

START_TS = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def _course_from_xy(
    x: FloatArray,
    y: FloatArray,
    name: str,
    lat0: float,
    lon0: float,
    ele: FloatArray | None = None,
    stations: list[tuple[str, float]] | None = None,
) -> Course:
    frame = LocalFrame.centred(lat0, lon0)
    lat, lon = frame.to_latlon(x, y)
    wpts: tuple[Waypoint, ...] = ()
    if stations:
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        wl = []
        for st_name, s in stations:
            sx, sy = np.interp(s, cum, x), np.interp(s, cum, y)
            (sla,), (slo,) = frame.to_latlon([sx], [sy])
            wl.append(Waypoint(st_name, float(sla), float(slo)))
        wpts = tuple(wl)
    raw = RawPoints.from_lists(
        "synthetic", list(lat), list(lon), None if ele is None else list(ele), name=name,
        waypoints=wpts,
    )  # fmt: skip
    return build_course(raw, f"<synthetic {name}>")


def straight_course(length_m: float, lat0: float = 45.0, lon0: float = 6.0) -> Course:
    """A straight course due east, one vertex every 20 m."""
    x = np.arange(0.0, length_m + 1e-9, 20.0)
    return _course_from_xy(x, np.zeros_like(x), "straight", lat0, lon0)


def trail_course(
    length_m: float = 50_000.0,
    seed: int = 7,
    lat0: float = 45.9,
    lon0: float = 6.87,
    n_stations: int = 5,
) -> Course:
    """A winding trail: smooth random heading, one vertex every 15 m, hills, aid stations."""
    rng = np.random.default_rng(seed)
    n = int(length_m / 15.0) + 1
    turn = np.convolve(rng.normal(0, 0.12, n), np.ones(15) / 15, mode="same")
    heading = np.cumsum(turn) + rng.uniform(0, 2 * np.pi)
    x = np.concatenate([[0.0], np.cumsum(15.0 * np.cos(heading[1:]))])
    y = np.concatenate([[0.0], np.cumsum(15.0 * np.sin(heading[1:]))])
    s = np.arange(n) * 15.0
    ele = 1000 + 400 * np.sin(s / 7000.0) + 150 * np.sin(s / 1900.0 + 1.0)
    stations = [(f"Aid {i + 1}", length_m * (i + 1) / (n_stations + 1)) for i in range(n_stations)]
    stations.append(("Finish", length_m))
    return _course_from_xy(x, y, "trail", lat0, lon0, ele, stations)


def hairpin_course(
    gap_m: float, leg_m: float = 2000.0, lat0: float = 45.9, lon0: float = 6.87
) -> Course:
    """Out due east ``leg_m``, a half turn, back due west ``gap_m`` to the north of the way
    out, then 1 km due north: a course that comes back near itself."""
    east = np.arange(0.0, leg_m + 1e-9, 20.0)
    a = np.linspace(-np.pi / 2, np.pi / 2, 13)[1:-1]
    r = gap_m / 2
    north = gap_m + 20.0 * np.arange(1, 51)
    x = np.concatenate([east, leg_m + r * np.cos(a), east[::-1], np.zeros(len(north))])
    y = np.concatenate([0 * east, r + r * np.sin(a), gap_m + 0 * east, north])
    return _course_from_xy(x, y, "hairpin", lat0, lon0)


def spur_course(spur_m: float, lat0: float = 45.9, lon0: float = 6.87) -> Course:
    """Due east 2 km, a spur ``spur_m`` due north and back the same way (to a summit, a
    checkpoint: MaxiRace's at km 74.95), then 1 km on due east; a vertex every 10 m."""
    east = np.arange(0.0, 2000.0 + 1e-9, 10.0)
    up = np.arange(10.0, spur_m + 1e-9, 10.0)
    on = np.arange(2010.0, 3000.0 + 1e-9, 10.0)
    x = np.concatenate([east, 2000.0 + 0 * up, 2000.0 + 0 * up[::-1][1:], [2000.0], on])
    y = np.concatenate([0 * east, up, up[::-1][1:], [0.0], 0 * on])
    return _course_from_xy(x, y, "spur", lat0, lon0)


def loop_course(
    laps: int = 4, long_m: float = 2000.0, wide_m: float = 200.0, lat0: float = 45.9,
    lon0: float = 6.87,
) -> Course:  # fmt: skip
    """A rectangle run ``laps`` times from its corner (a backyard ultra's loop): ``long_m``
    east, ``wide_m`` north, back west and south, a vertex every 20 m; a station halfway
    along its first side (passed once a lap)."""
    corners_x, corners_y = [0.0, long_m, long_m, 0.0, 0.0], [0.0, 0.0, wide_m, wide_m, 0.0]
    xs, ys = [0.0], [0.0]
    for k in range(4):
        n = max(int(math.hypot(corners_x[k + 1] - corners_x[k], corners_y[k + 1] - corners_y[k])
                    // 20.0), 1)  # fmt: skip
        xs += list(np.linspace(corners_x[k], corners_x[k + 1], n + 1)[1:])
        ys += list(np.linspace(corners_y[k], corners_y[k + 1], n + 1)[1:])
    x = np.concatenate([xs] + [xs[1:]] * (laps - 1))
    y = np.concatenate([ys] + [ys[1:]] * (laps - 1))
    far = [("Far side", long_m / 2)]
    return _course_from_xy(x, y, f"loop x{laps}", lat0, lon0, stations=far)


@dataclass(frozen=True)
class SimulatedRun:
    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    true_x: FloatArray
    true_y: FloatArray
    off_course: np.ndarray


def simulate_run(
    course: Course,
    pace_mps: float = 2.5,
    interval_s: float = 1.0,
    seed: int = 1,
    gps_sigma_m: float = 4.0,
    wrong_turn_at_m: float | None = None,
    wrong_turn_angle_deg: float = 60.0,
    wrong_turn_len_m: float = 800.0,
    start_ts: float = START_TS,
    stop_at_m: float | None = None,
) -> SimulatedRun:
    """A runner along ``course`` at ``pace_mps`` with AR(1) GPS error.

    With ``wrong_turn_at_m`` the runner leaves there at ``wrong_turn_angle_deg`` to the
    course, runs ``wrong_turn_len_m`` straight, comes back the same way and carries on.
    With ``stop_at_m`` the runner stops there for good (a DNF).
    """
    rng = np.random.default_rng(seed)
    step = pace_mps * interval_s
    end = course.length_m if stop_at_m is None else stop_at_m
    s = np.arange(0.0, end, step)
    x, y = course.xy_at(s)
    off = np.zeros(len(s), dtype=bool)
    if wrong_turn_at_m is not None and wrong_turn_at_m < end:
        k = int(np.searchsorted(s, wrong_turn_at_m))
        tx, ty = course.xy_at(wrong_turn_at_m + 10.0)
        bx, by = course.xy_at(wrong_turn_at_m)
        h = np.arctan2(ty - by, tx - bx) + np.radians(wrong_turn_angle_deg)
        out = np.arange(step, wrong_turn_len_m, step)
        seg = np.concatenate([out, out[::-1]])
        ex = bx + seg * np.cos(h)
        ey = by + seg * np.sin(h)
        x = np.concatenate([x[:k], ex, x[k:]])
        y = np.concatenate([y[:k], ey, y[k:]])
        off = np.concatenate([off[:k], np.ones(len(seg), dtype=bool), off[k:]])
    n = len(x)
    t = start_ts + interval_s * np.arange(n)
    a = np.exp(-interval_s / 30.0)
    noise = np.zeros((n, 2))
    e = rng.normal(0, gps_sigma_m * np.sqrt(1 - a * a), (n, 2))
    for i in range(1, n):
        noise[i] = a * noise[i - 1] + e[i]
    if n:
        noise[0] = rng.normal(0, gps_sigma_m, 2)
    lat, lon = course.frame.to_latlon(x + noise[:, 0], y + noise[:, 1])
    return SimulatedRun(np.asarray(t, dtype=np.float64), lat, lon, x, y, off)


def cut_run(
    course: Course, from_m: float, to_m: float, pace_mps: float = 3.0, interval_s: float = 1.0,
    start_ts: float = START_TS,
) -> SimulatedRun:  # fmt: skip
    """A runner along ``course`` who at ``from_m`` goes straight across to the course at
    ``to_m`` (a hairpin cut across) and runs on to the finish; no GPS error."""
    step = pace_mps * interval_s
    s_before, s_after = np.arange(0.0, from_m, step), np.arange(to_m, course.length_m, step)
    (ax,), (ay,) = course.xy_at(np.array([from_m]))
    (bx,), (by,) = course.xy_at(np.array([to_m]))
    across = np.arange(0.0, float(np.hypot(bx - ax, by - ay)), step)
    f = across / max(float(across[-1]) + step, 1.0) if len(across) else across
    x0, y0 = course.xy_at(s_before)
    x1, y1 = course.xy_at(s_after)
    x = np.concatenate([x0, ax + f * (bx - ax), x1])
    y = np.concatenate([y0, ay + f * (by - ay), y1])
    off = np.concatenate([np.zeros(len(x0), bool), np.ones(len(f), bool), np.zeros(len(x1), bool)])
    t = start_ts + interval_s * np.arange(len(x))
    lat, lon = course.frame.to_latlon(x, y)
    return SimulatedRun(np.asarray(t, dtype=np.float64), lat, lon, x, y, off)


def shuttle_run(
    course: Course, from_m: float, to_m: float, away_m: float = 2000.0, end_m: float | None = None,
    interval_s: float = 30.0, start_ts: float = START_TS,
    rides: Sequence[tuple[float, float]] = (),
) -> SimulatedRun:  # fmt: skip
    """A runner on ``course`` to ``from_m`` at 3 m/s, driven ``away_m`` to its left, along,
    and back to it at ``to_m`` at 48 km/h (a shuttle, a car), who runs on to ``end_m`` (the
    finish); ``rides``: more of them after it (from, to) on the way; no GPS error."""
    on = [course.xy_at(np.arange(0.0, from_m, 3.0 * interval_s))]
    off = [np.zeros(len(on[0][0]), bool)]
    legs = [(from_m, to_m), *rides]
    for i, (a_m, b_m) in enumerate(legs):
        (ax, bx), (ay, by) = course.xy_at(np.array([a_m, b_m]))
        corners = [(ax, ay), (ax, ay + away_m), (bx, by + away_m), (bx, by)]
        for (x0, y0), (x1, y1) in itertools.pairwise(corners):
            n = max(int(np.hypot(x1 - x0, y1 - y0) / (13.3 * interval_s)), 1)
            on.append((np.linspace(x0, x1, n + 1)[1:], np.linspace(y0, y1, n + 1)[1:]))
            off.append(np.ones(n, bool))
        until_m = legs[i + 1][0] if i + 1 < len(legs) else end_m or course.length_m
        on.append(course.xy_at(np.arange(b_m, until_m, 3.0 * interval_s)))
        off.append(np.zeros(len(on[-1][0]), bool))
    x = np.concatenate([x for x, _ in on])
    y = np.concatenate([y for _, y in on])
    t = start_ts + interval_s * np.arange(len(x))
    lat, lon = course.frame.to_latlon(x, y)
    return SimulatedRun(np.asarray(t, dtype=np.float64), lat, lon, x, y, np.concatenate(off))
