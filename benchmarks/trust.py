"""Trust: would a race director call coursewatch's HQ alerts justified, on whole real races?

Truth comes from the recording's own geometry, never from the engine. A **clearly-off
stretch** is a run of fixes (two or more: a lone fix is a glitch until another confirms it; they
are counted apart, as spikes) at least 50 m from the course line (the whole line) that reaches
200 m, or stays at least 100 m off across 2 minutes (for pings: 2 consecutive pings). An HQ
alert is **justified** when its episode (from the first flag to the way back) comes within
5 minutes of a clearly-off stretch; a stretch reaching 300 m is **missed** unless an HQ alert
fires from 5 minutes before it to its end.

The 11 real course/track pairs run in three variants: as recorded; decimated to one fix a
minute (a phone tracker); and with the first 40 % of the time cut (a tracker started
mid-race). Beside coursewatch, corridor rules of 60, 100, 150 and 250 m (an alert when a fix
is further than that from the line, again once back inside), judged the same way.

Then **live**: each inReach log posted to race HQ as the satellite relay delivered it (in
arrival order, out of order and duplicated, to /ingest/inreach; benchmarks/liverun.py), with
the clock-driven detectors ticking every minute of race time. Race HQ's off-course incidents
are judged the same way; every HQ incident is counted by kind, with those still open at the
end and the most open at once; SOURCES.md's real events are listed beside them.

Usage: python benchmarks/trust.py [--variant recorded phone late live] [--hq KIND,...]
       [--set name=value ...] [--show]

``--hq`` names the engine's event kinds that reach HQ (default: the confirmed alert);
``--show`` prints every unjustified alert and every missed stretch, to look at.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import parse_config, subsample
from liverun import LiveRun, inreach_payloads, replay
from realdata import PAIRS, Pair, course, data_dir, track

from coursewatch import Course, EngineConfig, Track, match_fixes
from coursewatch.analysis import engine_start
from coursewatch.analysis.near import line_distances
from coursewatch.geo import FloatArray

OFF_M = 50.0  # a stretch is a run of fixes at least this far from the line ...
FAR_M = 200.0  # ... that reaches this far,
STAY_M = 100.0  # ... or stays this far off
STAY_S = 120.0  # ... across this long (or two consecutive pings)
MUST_M = 300.0  # a stretch this far off must be alerted
NEAR_S = 300.0  # an alert's episode this close in time to a stretch is justified
CORRIDORS_M = (60.0, 100.0, 150.0, 250.0)
PHONE_S = 60.0
LATE_CUT = 0.4
HQ_DEFAULT = ("alert", "wrong_way_confirmed")
EPISODE_START = ("off_course", "wrong_way", "alert", "far_from_course")
EPISODE_END = ("back_on_course", "shortcut", "wrong_way_end", "back_near_course")


@dataclass(frozen=True)
class Stretch:
    start_s: float
    end_s: float
    max_m: float
    lat: float  # where it went furthest
    lon: float


@dataclass(frozen=True)
class Alerted:
    """An HQ alert and its episode."""

    at_s: float
    start_s: float
    end_s: float
    kind: str
    lat: float
    lon: float


@dataclass
class Score:
    hours: float = 0.0
    alerts: int = 0
    unjustified: int = 0
    stretches: int = 0
    must: int = 0
    missed: int = 0

    def add(self, other: Score) -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    """The (first, last) index of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    return [(int(i), int(j) - 1) for i, j in zip(edges[::2], edges[1::2], strict=True)]


def stretches(t: FloatArray, d: FloatArray, lat: FloatArray, lon: FloatArray) -> list[Stretch]:
    """The clearly-off stretches of a recording (see the module docstring)."""
    out = []
    for i, j in runs(d >= OFF_M):
        seg = d[i : j + 1]
        if j > i and (seg.max() >= FAR_M or _stays(t[i : j + 1], seg)):
            k = i + int(np.argmax(seg))
            out.append(Stretch(float(t[i]), float(t[j]), float(seg.max()), lat[k], lon[k]))
    return out


def _stays(t: FloatArray, d: FloatArray) -> bool:
    """Some run of fixes at least STAY_M off spans STAY_S (two pings do, being minutes apart)."""
    return any(j > i and t[j] - t[i] >= STAY_S for i, j in runs(d >= STAY_M))


def engine_alerts(
    c: Course, t: FloatArray, lat: FloatArray, lon: FloatArray, hq: tuple[str, ...],
    cfg: EngineConfig,
) -> list[Alerted]:  # fmt: skip
    """The engine's HQ alerts, each with its episode (first flag to the way back)."""
    tr = Track("", t, lat, lon, None, None)
    res = match_fixes(c, t, lat, lon, config=cfg, start_ts=engine_start(c, tr, None))
    out = []
    start: float | None = None
    pending: list[tuple[float, str, float, float]] = []
    for ev in res.events:
        ts = ev.at.time.timestamp()
        if ev.kind in EPISODE_START and start is None:
            start = ts
        if ev.kind in hq:
            pending.append((ts, ev.kind, ev.at.lat, ev.at.lon))
            if start is None:
                start = ts
        if ev.kind in EPISODE_END:
            out += [Alerted(a, start or a, ts, k, la, lo) for a, k, la, lo in pending]
            pending, start = [], None
    end = float(t[-1])
    out += [Alerted(a, start or a, end, k, la, lo) for a, k, la, lo in pending]
    return out


def corridor_alerts(
    t: FloatArray, d: FloatArray, lat: FloatArray, lon: FloatArray, width_m: float
) -> list[Alerted]:
    """An alert each time a fix is further than ``width_m`` from the line; its episode lasts
    until the next fix back inside."""
    n = len(t)
    return [
        Alerted(float(t[i]), float(t[i]), float(t[min(j + 1, n - 1)]),
                f"corridor {width_m:.0f}", lat[i], lon[i])
        for i, j in runs(d > width_m)
    ]  # fmt: skip


def judge(
    alerts: list[Alerted], found: list[Stretch], hours: float
) -> tuple[Score, list[Alerted], list[Stretch]]:
    score = Score(hours=hours, alerts=len(alerts), stretches=len(found))
    bad = [
        a for a in alerts
        if not any(a.start_s <= s.end_s + NEAR_S and a.end_s >= s.start_s - NEAR_S for s in found)
    ]  # fmt: skip
    must = [s for s in found if s.max_m >= MUST_M]
    missed = [
        s for s in must
        if not any(s.start_s - NEAR_S <= a.at_s <= s.end_s for a in alerts)
    ]  # fmt: skip
    score.unjustified = len(bad)
    score.must = len(must)
    score.missed = len(missed)
    return score, bad, missed


def variant(pair: Pair, name: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    tr = track(pair.track)
    t, lat, lon = tr.time_s, tr.lat, tr.lon
    if name == "phone":
        keep = subsample(t, PHONE_S)
        return t[keep], lat[keep], lon[keep]
    if name == "late":
        cut = t[0] + LATE_CUT * (t[-1] - t[0])
        keep = t >= cut
        return t[keep], lat[keep], lon[keep]
    return t, lat, lon


# the off-route events SOURCES.md lists for each inReach log (times UTC)
REAL_EVENTS = {"dark_sky_pings": 3, "swammie_pings": 1, "ouray_pings": 0, "twot_pings": 0}
COURSE_FAMILY = "course:"


def live_alerts(run: LiveRun) -> list[Alerted]:
    """Race HQ's off-course incidents, as the judge reads alerts: confirmed when the first
    update at HQ level came, the episode from its opening to its end."""
    out = []
    for i in run.hq:
        if not i["episode"].startswith(COURSE_FAMILY):
            continue
        at = next(u["time_s"] for u in i["updates"] if u["level"] == "alert")
        end = i["closed_s"] if i["closed_s"] is not None else i["updated_s"]
        out.append(Alerted(at, i["opened_s"], end, i["kind"], i["lat"], i["lon"]))
    return out


def most_open(run: LiveRun) -> int:
    """The most race HQ incidents open at once."""
    edges = sorted([(i["opened_s"], 1) for i in run.hq] +
                   [(i["closed_s"], -1) for i in run.hq if i["closed_s"] is not None])  # fmt: skip
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def live(args: argparse.Namespace) -> None:
    print("\n# live: the inReach logs through race HQ (/ingest/inreach, in arrival order)")
    print(f"{'pair':>16} {'runner-h':>8} {'requests':>8} {'HQ':>4} {'course':>6} {'unjust':>6} "
          f"{'stretches':>9} {'>=300m':>6} {'missed':>6} {'real':>4} {'open@end':>8} "
          f"{'most open':>9}  HQ incidents by kind; flags")  # fmt: skip
    for pair in PAIRS:
        if not pair.track.endswith(".json"):
            continue
        path = data_dir() / "tracks" / pair.track
        tr = track(pair.track)
        c = course(pair.course)
        run = replay(data_dir() / "courses" / pair.course, float(tr.time_s[0]),
                     payloads=inreach_payloads(path), sample=False)  # fmt: skip
        d = line_distances(c, tr.lat, tr.lon)
        found = stretches(tr.time_s, d, tr.lat, tr.lon)
        hours = float(tr.time_s[-1] - tr.time_s[0]) / 3600.0
        alerts = live_alerts(run)
        sc, bad, missed = judge(alerts, found, hours)
        kinds: dict[str, int] = {}
        for i in run.hq:
            kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
        flags = len(run.incidents) - len(run.hq)
        still = sum(1 for i in run.hq if i["open"])
        flags_open = sum(1 for i in run.incidents if i["level"] != "alert" and i["open"])
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
        print(f"{pair.name:>16} {hours:8.1f} {run.requests:8d} {len(run.hq):4d} {len(alerts):6d} "
              f"{sc.unjustified:6d} {sc.stretches:9d} {sc.must:6d} {sc.missed:6d} "
              f"{REAL_EVENTS.get(pair.name, 0):4d} {still:8d} {most_open(run):9d}  "
              f"{by_kind}; {flags} flags ({flags_open} open at the end)")  # fmt: skip
        if args.show:
            for i in [*run.hq, *(i for i in run.incidents if i["level"] != "alert" and i["open"])]:
                print(f"      #{i['id']} {i['kind']} {iso(i['opened_s'])}"
                      f"{'' if i['open'] else ' closed ' + iso(i['closed_s'])}: "
                      f"{i['sentence']}")  # fmt: skip
            for a in bad:
                print(f"      unjustified {a.kind} at {iso(a.at_s)} ({a.lat:.5f},{a.lon:.5f})")
            for s in missed:
                print(f"      missed stretch {iso(s.start_s)}-{iso(s.end_s)} up to {s.max_m:.0f} m")


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", nargs="*", default=["recorded", "phone", "late", "live"])
    ap.add_argument("--hq", default=",".join(HQ_DEFAULT), help="event kinds that reach HQ")
    ap.add_argument("--set", nargs="*", default=[], help="engine setting overrides, name=value")
    ap.add_argument("--show", action="store_true", help="print each unjustified and missed one")
    args = ap.parse_args()
    cfg = parse_config(args.set)
    hq = tuple(args.hq.split(","))
    began = time.time()
    rules = ["coursewatch", *(f"corridor {w:.0f} m" for w in CORRIDORS_M)]
    batch = [v for v in args.variant if v != "live"]
    totals = {(v, r): Score() for v in batch for r in rules}
    print(f"# trust: HQ alerts on {len(PAIRS)} real pairs; HQ kinds {','.join(hq)}")
    print(f"{'variant':>9} {'pair':>16} {'runner-h':>8} {'alerts':>6} {'unjust':>6} "
          f"{'stretches':>9} {'>=300m':>6} {'missed':>6}   corridors 60/100/150/250 m: "
          "alerts unjustified missed")  # fmt: skip
    for v in batch:
        for pair in PAIRS:
            c = course(pair.course)
            t, lat, lon = variant(pair, v)
            d = line_distances(c, lat, lon)
            found = stretches(t, d, lat, lon)
            hours = float(t[-1] - t[0]) / 3600.0
            ours, bad, missed = judge(engine_alerts(c, t, lat, lon, hq, cfg), found, hours)
            totals[(v, "coursewatch")].add(ours)
            cells = []
            for w in CORRIDORS_M:
                sc, _, _ = judge(corridor_alerts(t, d, lat, lon, w), found, hours)
                totals[(v, f"corridor {w:.0f} m")].add(sc)
                cells.append(f"{sc.alerts}/{sc.unjustified}/{sc.missed}")
            print(f"{v:>9} {pair.name:>16} {hours:8.1f} {ours.alerts:6d} {ours.unjustified:6d} "
                  f"{ours.stretches:9d} {ours.must:6d} {ours.missed:6d}   "
                  f"{'  '.join(cells)}")  # fmt: skip
            if args.show:
                for a in bad:
                    print(f"      unjustified {a.kind} at {iso(a.at_s)} ({a.lat:.5f},{a.lon:.5f})"
                          f", episode {iso(a.start_s)}-{iso(a.end_s)}")  # fmt: skip
                for s in missed:
                    print(f"      missed stretch {iso(s.start_s)}-{iso(s.end_s)} up to "
                          f"{s.max_m:.0f} m ({s.lat:.5f},{s.lon:.5f})")  # fmt: skip
    print("\ntotals (per 100 runner-hours: unjustified HQ alerts)")
    for v in batch:
        for r in rules:
            s = totals[(v, r)]
            rate = 100.0 * s.unjustified / s.hours if s.hours else 0.0
            print(f"{v:>9} {r:>16}: {s.hours:7.1f} runner-h, {s.alerts:4d} alerts, "
                  f"{s.unjustified:4d} unjustified ({rate:5.1f} per 100 h), "
                  f"{s.must} stretches >= 300 m, {s.missed} missed")  # fmt: skip
    if "live" in args.variant:
        live(args)
    print(f"# {time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
