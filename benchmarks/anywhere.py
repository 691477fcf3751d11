"""Find a runner anywhere: trackers started mid-race, and tracks from another race.

**Late start.** Each of the 11 real pairs with the first 40 % of its time cut (a phone
restarted, a battery swapped, a runner who joins tracking at an aid station), as recorded and
at one fix a minute (a phone tracker; the ping logs stay as they are). In ``analyze`` with the
race start (a race file; the start is when the full recording began, near the course) and
without it (the recording alone), and live through race HQ (benchmarks/liverun.py, the same
start), printed per pair:
- placed: the progress at the 3rd fix (watch, phone) or the 2nd ping, against the full
  recording's at the same time (``analyze`` on the whole of it); right within 500 m. Where
  the full recording is off the line then, it holds the progress where it left until it is
  back: the reference is the course point nearest the fix between the two;
- finish: the finish time, against the full recording's at the same rate (live: the runner's
  ``finish_ts`` as the API shows it: the fix that reached the finish);
- turn: a wrong turn injected after the cut (the next 1.5 km of the real recording rotated by
  90 degrees, then back the same way, as benchmarks/detection.py does; at a clean on-course
  moment where the rotated part goes 300 m from every part of the course, the distance
  benchmarks/trust.py says must be alerted), caught when race HQ is alerted (``analyze``: a
  confirmed excursion; live: an HQ incident) during it.

**Wrong course.** The TWOT pings and UTMB 2021 against Western States, Duo Étoilé (Chamonix)
against the Eiger Ultra Trail (Grindelwald) and against MaxiRace Annecy: ``coursewatch
analyze`` must refuse each in one line, exit 1, in under 5 s (timed as a user runs it, the
interpreter's start included); live, one "far from the course" incident and never
``on_course: true``.

Usage: python benchmarks/anywhere.py [--pairs NAME ...] [--skip-live]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import inject, subsample
from liverun import LiveRun, fix_batches, inreach_payloads, replay
from realdata import PAIRS, Pair, course, data_dir, track

from coursewatch import Course, Track
from coursewatch.analysis import Analysis, analyze
from coursewatch.analysis.near import line_distances
from coursewatch.geo import FloatArray

CUT = 0.4
PLACED_M = 500.0
PHONE_S = 60.0
WATCH_BATCH_S = 30.0  # a watch's fixes reach race HQ in batches this long
TURN_DEG = 90.0
MUST_M = 300.0
WRONG = (
    ("twot_200_2025_inreach_pings.json", "western_states_100.gpx"),
    ("utmb_2021.gpx", "western_states_100.gpx"),
    ("duo_etoile_2022.gpx", "eiger_ultra_trail_e250_2025.gpx"),
    ("duo_etoile_2022.gpx", "maxi_race_annecy.gpx"),
)


@dataclass(frozen=True)
class Late:
    """One late-start variant of a pair: its fixes, and the wrong turn injected into them."""

    t: FloatArray
    lat: FloatArray
    lon: FloatArray
    turn_t: FloatArray
    turn_lat: FloatArray
    turn_lon: FloatArray
    window: tuple[float, float]  # the injected excursion


def late_variant(c: Course, full: Track, every_s: float | None) -> Late:
    t, lat, lon = full.time_s, full.lat, full.lon
    keep = t >= t[0] + CUT * (t[-1] - t[0])
    t, lat, lon = t[keep], lat[keep], lon[keep]
    x, y = c.frame.to_xy(lat, lon)
    path = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    d = line_distances(c, lat, lon)
    for i in turn_points(d, path):
        nt, nx, ny, _, window = inject(t, x, y, path, i, TURN_DEG)
        nlat, nlon = c.frame.to_latlon(nx, ny)
        out = (nt > window[0]) & (nt < window[1])
        if line_distances(c, nlat[out], nlon[out]).max() >= MUST_M:
            break
    else:
        raise SystemExit("no clean on-course moment to inject a wrong turn at")
    if every_s is not None:  # the fixes the full recording at that rate has after the cut
        k = subsample(full.time_s, every_s)
        keep = full.time_s[k] >= t[0]
        t, lat, lon = full.time_s[k][keep], full.lat[k][keep], full.lon[k][keep]
        k2 = subsample(nt, every_s)
        nt, nlat, nlon = nt[k2], nlat[k2], nlon[k2]
    return Late(t, lat, lon, nt, nlat, nlon, window)


def turn_points(d: FloatArray, path: FloatArray) -> list[int]:
    """Clean on-course moments from a third of the way into the cut recording, 500 m apart:
    within 60 m of the course from 300 m before to 1.7 km after."""
    out: list[int] = []
    i = int(np.searchsorted(path, path[-1] / 3.0))
    while i < len(path):
        lo = int(np.searchsorted(path, path[i] - 300.0))
        hi = int(np.searchsorted(path, path[i] + 1_700.0))
        if hi >= len(path):
            break
        if np.all(d[lo : hi + 1] <= 60.0):
            out.append(i)
            i = int(np.searchsorted(path, path[i] + 500.0))
        else:
            i += 1
    return out


def off_line(a: Analysis, ts: float) -> tuple[float, float] | None:
    """The course range (left, back) of the full recording's off-line stretch at ``ts``."""
    for e in a.excursions:
        if e.rejoined is not None and e.left.time.timestamp() <= ts <= e.rejoined.time.timestamp():
            return e.left.course_m or 0.0, e.rejoined.course_m or 0.0
    return None


def at_time(a: Analysis, ts: float, lat: float, lon: float) -> float:
    """The full recording's progress at ``ts`` (its fixes, interpolated). Off the line, the
    full recording holds the progress where it left until it is back: the runner is then
    somewhere between the two, and the reference is the course point in that range nearest
    the fix (``lat``, ``lon``)."""
    stretch = off_line(a, ts)
    if stretch is None:
        return float(np.interp(ts, a.track.time_s, a.progress_m))
    lo, hi = sorted(stretch)  # (back behind where it left: a way back down the course)
    s = np.arange(lo, hi + 5.0, 5.0)
    cx, cy = a.course.xy_at(s)
    x, y = a.course.frame.to_xy(np.array([lat]), np.array([lon]))
    return float(s[int(np.argmin(np.hypot(cx - x[0], cy - y[0])))])


def off_line_at(a: Analysis, ts: float) -> str:
    """A note for a fix at ``ts`` inside an off-line stretch of the full recording."""
    stretch = off_line(a, ts)
    if stretch is None:
        return ""
    return (f"  full recording off the line (left km {stretch[0] / 1e3:.2f}, back km "
            f"{stretch[1] / 1e3:.2f}): judged against the nearest point between")  # fmt: skip


def finish_s(a: Analysis) -> float | None:
    return None if a.finish is None else a.finish.time.timestamp()


def caught_offline(a: Analysis, window: tuple[float, float]) -> bool:
    return any(
        e.alerted is not None and window[0] < e.alerted.time.timestamp() <= window[1] + 60.0
        for e in a.confirmed
    )


def caught_live(run: LiveRun, window: tuple[float, float]) -> bool:
    for i in run.hq:
        if not i["episode"].startswith(("course:", "far:")):
            continue
        at = next(u["time_s"] for u in i["updates"] if u["level"] == "alert")
        if window[0] < at <= window[1] + 60.0:
            return True
    return False


def fmt_m(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.0f}"


def fmt_dt(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return "none/none"
    if a is None or b is None:
        return "MISSING" if b is not None else "EXTRA"
    return f"{a - b:+.0f} s"


def late_start(pairs: tuple[Pair, ...], skip_live: bool) -> None:
    print("# late start: the first 40 % cut; placed = |progress - full's| at the 3rd fix "
          "(2nd ping), m; finish = late - full; turn = injected wrong turn, HQ told")  # fmt: skip
    print(f"{'pair':>16} {'variant':>10} {'fixes':>6} | {'analyze: placed':>15} {'no start':>8} "
          f"{'finish':>9} {'turn':>5} | {'live: placed':>12} {'finish':>9} {'turn':>5} "
          f"{'s':>5}")  # fmt: skip
    for pair in pairs:
        c = course(pair.course)
        full_track = track(pair.track)
        full = analyze(c, full_track)
        start = float(full.track.time_s[0])  # the race start: the recording began there
        pings = pair.kind == "pings"
        variants = (("late", None),) if pings else (("late", None), ("late-phone", PHONE_S))
        for name, every in variants:
            v = late_variant(c, full_track, every)
            nth = 1 if pings else 2  # the 2nd ping, the 3rd fix
            ref = full
            if every is not None:  # the full recording at the same rate
                k = subsample(full_track.time_s, every)
                ref = analyze(c, Track("full", full_track.time_s[k], full_track.lat[k],
                                       full_track.lon[k], None, None), start_ts=start)  # fmt: skip
            cut = Track("late", v.t, v.lat, v.lon, None, None)
            a = analyze(c, cut, start_ts=start)
            truth = at_time(full, float(v.t[nth]), float(v.lat[nth]), float(v.lon[nth]))
            placed = abs(float(a.match.progress_m[nth]) - truth)
            alone = abs(float(analyze(c, cut).match.progress_m[nth]) - truth)
            turn = Track("turn", v.turn_t, v.turn_lat, v.turn_lon, None, None)
            turned = analyze(c, turn, start_ts=start)
            note = off_line_at(full, float(v.t[nth]))
            row = (f"{pair.name:>16} {name:>10} {len(v.t):6d} | {fmt_m(placed):>15} "
                   f"{fmt_m(alone):>8} "
                   f"{fmt_dt(finish_s(a), finish_s(ref)):>9} "
                   f"{'yes' if caught_offline(turned, v.window) else 'NO':>5} |")  # fmt: skip
            if skip_live:
                print(row + note)
                continue
            began = time.time()
            live, live_turn = (live_run(pair, c, t, la, lo, start, every)
                               for t, la, lo in ((v.t, v.lat, v.lon),
                                                 (v.turn_t, v.turn_lat, v.turn_lon)))  # fmt: skip
            sample = next(s for s in live.samples if s.fixes >= nth + 1)
            k = min(int(np.searchsorted(v.t, sample.time_s)), len(v.t) - 1)
            ref_m = at_time(full, sample.time_s, float(v.lat[k]), float(v.lon[k]))
            live_placed = abs(sample.progress_m - ref_m)
            print(f"{row} {fmt_m(live_placed):>12} {fmt_dt(live.finished_s(), finish_s(ref)):>9} "
                  f"{'yes' if caught_live(live_turn, v.window) else 'NO':>5} "
                  f"{time.time() - began:5.0f}{note}")  # fmt: skip


def live_run(
    pair: Pair, c: Course, t: FloatArray, lat: FloatArray, lon: FloatArray, start_ts: float,
    every_s: float | None,
) -> LiveRun:  # fmt: skip
    """The fixes through race HQ: pings one a request, phone fixes one a request, a watch's
    in 30 s batches."""
    one_each = every_s is not None or pair.kind == "pings"
    batches = fix_batches(t, lat, lon, 0.0 if one_each else WATCH_BATCH_S)
    return replay(data_dir() / "courses" / pair.course, start_ts, batches)


def wrong_course(skip_live: bool) -> None:
    print("\n# wrong course: analyze must refuse in one line, exit 1, under 5 s; live: one far "
          "incident, never on course")  # fmt: skip
    print(f"{'track':>36} {'course':>34} {'exit':>4} {'s':>5}  message | live: far incidents, "
          "other HQ incidents, samples on course")  # fmt: skip
    for track_name, course_name in WRONG:
        tp, cp = data_dir() / "tracks" / track_name, data_dir() / "courses" / course_name
        began = time.time()
        command = [str(Path(sys.executable).with_name("coursewatch")), "analyze", str(cp), str(tp)]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        took = time.time() - began
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        msg = lines[-1] if len(lines) == 1 else f"{len(lines)} lines: {proc.stderr[:120]!r}"
        row = f"{track_name:>36} {course_name:>34} {proc.returncode:4d} {took:5.1f}  {msg}"
        if skip_live:
            print(row)
            continue
        tr = track(track_name)
        if track_name.endswith(".json"):
            run = replay(cp, float(tr.time_s[0]), payloads=inreach_payloads(tp))
        else:
            k = subsample(tr.time_s, PHONE_S)
            batches = fix_batches(tr.time_s[k], tr.lat[k], tr.lon[k], 0.0)
            run = replay(cp, float(tr.time_s[0]), batches)
        far = [i for i in run.hq if i["kind"] == "far_from_course"]
        other = [i["kind"] for i in run.hq if i["kind"] != "far_from_course"]
        on = sum(1 for s in run.samples if s.on_course)
        print(f"{row} | {len(far)} far, other {other or 'none'}, {on} of {len(run.samples)} "
              "on course")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", nargs="*", default=[], help="pair names (default: all 11)")
    ap.add_argument("--skip-live", action="store_true", help="analyze only, no race HQ")
    args = ap.parse_args()
    pairs = tuple(p for p in PAIRS if not args.pairs or p.name in args.pairs)
    began = time.time()
    late_start(pairs, args.skip_live)
    wrong_course(args.skip_live)
    print(f"# {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
