"""A whole simulated race: a course with aid stations, a race file, and a field of runners.

Some runners take a wrong turn, some stop for a long while, some drop out. Used by
``coursewatch demo``, the load benchmark and the server tests; everything comes from a seed.

>>> field = simulate_field(trail_course(8_000.0, n_stations=2), n_runners=6, seed=3)
>>> sorted({r.fate for r in field})
['dnf', 'ok', 'stop', 'wrong_turn']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from coursewatch.course import Course
from coursewatch.sim.simulate import START_TS, SimulatedRun, simulate_run, trail_course

FIRST_NAMES = ("Ann", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea")
LAST_NAMES = ("Moreau", "Okafor", "Sato", "Berg", "Rossi", "Novak", "Silva", "Khan", "Dubois")


@dataclass(frozen=True)
class SimRunner:
    bib: str
    name: str
    device_id: str
    fate: str  # ok, wrong_turn, stop, dnf
    run: SimulatedRun


def course_gpx(course: Course) -> str:
    """The course as GPX 1.1: one track, its stations as waypoints."""
    wpts = "".join(
        f'<wpt lat="{s.lat:.7f}" lon="{s.lon:.7f}"><name>{escape(s.name)}</name></wpt>\n'
        for s in course.stations
    )
    ele = course.ele_m
    pts = "".join(
        f'<trkpt lat="{la:.7f}" lon="{lo:.7f}">'
        + (f"<ele>{ele[i]:.1f}</ele>" if ele is not None else "")
        + "</trkpt>\n"
        for i, (la, lo) in enumerate(zip(course.lat, course.lon, strict=True))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="coursewatch simrace" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"{wpts}<trk><name>{escape(course.name or 'course')}</name><trkseg>\n{pts}"
        "</trkseg></trk></gpx>\n"
    )


def write_race(
    folder: Path, course: Course, start_ts: float = START_TS, name: str = "Demo Trail"
) -> Path:
    """Write course.gpx and race.yaml (stations with cut-offs) into ``folder``; returns the
    race file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course.gpx").write_text(course_gpx(course), encoding="utf-8")
    start = datetime.fromtimestamp(start_ts, UTC).isoformat()
    lines = [f"name: {name!r}", "course: course.gpx", f"start: {start!r}", "stations:"]
    slow_mps = 1.2  # cut-offs at the pace of a slow walker
    for st in course.stations:
        for k, s in enumerate(st.passes_m):
            hours = s / slow_mps / 3600 + 0.5
            cutoff = f"{int(hours):02d}:{int(hours % 1 * 60):02d}"
            lines.append(f"  - {{name: {st.name!r}, km: {s / 1000:.3f}, cutoff: {cutoff!r}"
                         + (f", pass: {k + 1}}}" if k else "}"))  # fmt: skip
    path = folder / "race.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def simulate_field(
    course: Course,
    n_runners: int = 50,
    seed: int = 11,
    start_ts: float = START_TS,
    interval_s: float = 30.0,
) -> list[SimRunner]:
    """A field of runners: paces from 1.6 to 3.4 m/s; about one in six takes a wrong turn,
    one in ten stops for good somewhere (a DNF), one in ten rests for a long while."""
    rng = np.random.default_rng(seed)
    out = []
    extra = rng.choice(["ok"] * 6 + ["wrong_turn", "dnf", "stop"], size=max(0, n_runners - 3))
    fates = ["wrong_turn", "dnf", "stop", *(str(f) for f in extra)][:n_runners]
    length = course.length_m
    for i, fate in enumerate(fates):
        pace = float(rng.uniform(1.6, 3.4))
        at = float(rng.uniform(0.2, 0.8)) * length
        run = simulate_run(
            course,
            pace_mps=pace,
            interval_s=interval_s,
            seed=seed * 1000 + i,
            wrong_turn_at_m=at if fate == "wrong_turn" else None,
            wrong_turn_angle_deg=float(rng.choice([-75.0, 75.0])),
            stop_at_m=at if fate == "dnf" else None,
            start_ts=start_ts + float(rng.uniform(0, 60)),
        )
        if fate == "stop":
            run = _rest(run, int(len(run.time_s) * at / length), 2400.0)
        first, last = i % len(FIRST_NAMES), (i // len(FIRST_NAMES) + i * 7) % len(LAST_NAMES)
        name = f"{FIRST_NAMES[first]} {LAST_NAMES[last]}"  # (108 runners before one repeats)
        out.append(SimRunner(str(i + 1), name, f"sim-{seed}-{i + 1:03d}", fate, run))
    return out


def _rest(run: SimulatedRun, k: int, rest_s: float) -> SimulatedRun:
    """The same run with a pause of ``rest_s`` after fix ``k`` (fixes keep coming, in place)."""
    dt = float(run.time_s[1] - run.time_s[0]) if len(run.time_s) > 1 else 30.0
    n = int(rest_s / dt)
    idx = np.concatenate([np.arange(k + 1), np.full(n, k), np.arange(k + 1, len(run.time_s))])
    t = run.time_s[0] + dt * np.arange(len(idx))
    return SimulatedRun(t, run.lat[idx], run.lon[idx], run.true_x[idx], run.true_y[idx],
                        run.off_course[idx])  # fmt: skip


__all__ = ["SimRunner", "course_gpx", "simulate_field", "trail_course", "write_race"]
