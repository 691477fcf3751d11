"""What the API and the event stream say about races, runners and alerts, as JSON.

One function per thing, used by the routes and by the pipeline's publish step, so a runner
looks the same in ``GET .../runners`` and on the SSE stream. Device ids and tokens appear only
in admin views.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from coursewatch.analysis import Excursion, Point, analyze
from coursewatch.analysis.passes import pass_time_s
from coursewatch.errors import InputError
from coursewatch.eta import AT_STATION_M, skipped_by
from coursewatch.incidents import priority
from coursewatch.live.fieldwatch import Range
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.race_course import StationPass
from coursewatch.store import FixArrays, Incident
from coursewatch.track import Track
from coursewatch.units import M_PER_MI

MAX_POINTS = 1500  # progress samples sent to the runner page
ANALYSED_KEPT = 256  # runner pages' analyses kept, per race
_ANALYSED: weakref.WeakKeyDictionary[LiveRace, dict[tuple[str, int, float, float], dict[str, Any]]]
_ANALYSED = weakref.WeakKeyDictionary()


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, nd)


def runner_json(
    race: LiveRace, runner: LiveRunner, now_s: float, admin: bool = False
) -> dict[str, Any]:
    """A runner as the leaderboard and the map need it (built for every update: kept cheap).

    It reads the runner's state, ETAs included (kept by :mod:`coursewatch.live.clock`)."""
    m = runner.matcher
    seen = runner.fixes > 0
    finish = race.course.length_m
    hq_finish = runner.record.finish_ts is not None  # race HQ saw them cross the line
    progress = finish if hq_finish else m.progress_m if seen else 0.0
    last, nxt = race.around(progress, runner.finished)
    done = not seen or runner.finished or runner.record.dnf
    nxt = -1 if runner.record.dnf else nxt  # out of the race: nothing ahead, and no pace
    targets = [race.station_m[nxt], finish] if nxt >= 0 else [finish]
    etas = [None if done else runner.etas.get(t) for t in targets]
    pos = runner.position()
    fix = runner.last_fix
    out: dict[str, Any] = {
        "bib": runner.bib,
        "name": runner.record.name,
        "status": runner.status,
        "progress_m": round(progress, 1),
        "progress_mi": round(progress / M_PER_MI, 3),
        "progress_pct": round(100.0 * progress / finish, 2) if finish else 0.0,
        "lap": race.lap(progress),
        "on_course": m.on_course if seen else None,
        "flagged": m.flagged if seen else False,
        "confirmed": m.confirmed if seen else False,
        "far": m.far if seen else False,
        "wrong_way": runner.wrong_way,
        "offset_m": _r(m.offset_m) if seen and not m.far else None,
        "pace_mps": _r(m.pace_mps, 3) if seen and not runner.record.dnf else None,
        "fixes": runner.fixes,
        "last_fix": None
        if pos is None
        else {
            "time_s": runner.last_time_s,
            "lat": pos[0],
            "lon": pos[1],
            "battery_pct": None if fix is None else fix.battery_pct,
        },
        "last_station": station_json(race.stations[last]) if last >= 0 else None,
        "last_station_ts": passed_ts(race, runner, last),
        "next_station": station_json(race.stations[nxt]) if nxt >= 0 else None,
        "next_station_eta_ts": _r(etas[0]) if nxt >= 0 else None,
        "finish_eta_ts": _r(etas[-1]),
        "finish_ts": runner.finished_s,  # race HQ's record, or the fix that reached the finish
        "finish_by": "race_hq" if hq_finish else "tracker" if runner.finished else None,
        "start_ts": race.start_s(runner),
        "silent_s": None if runner.received_s is None else _r(max(now_s - runner.received_s, 0.0)),
    }
    if admin:
        out["devices"] = list(runner.record.devices)
        risk = race.field.dropout_risk(runner.bib) if race.field is not None else None
        out["dropout_risk"] = None if risk is None else round(risk, 3)
    return out


AHEAD = ("next_station", "next_station_eta_ts", "finish_eta_ts")  # nothing ahead of them


def with_record(race: LiveRace, runner: LiveRunner, out: dict[str, Any]) -> dict[str, Any]:
    """A runner's view (``runner_json``, as a worker sent it to a web node) as race HQ's own
    record of them says now: put out, or finished at the time it recorded, or neither any
    more (taken back). The worker's next update says the same; the answer to race HQ's
    call, and the board meanwhile, must not say the runner is still running."""
    out, record = dict(out), runner.record
    if record.dnf:
        out.update(dict.fromkeys((*AHEAD, "pace_mps")), status="dnf")
    elif record.finish_ts is not None:
        length = race.course.length_m
        last = station_json(race.stations[-1]) if race.stations else None
        out.update(dict.fromkeys(AHEAD), status="finished", finish_ts=record.finish_ts,
                   finish_by="race_hq", progress_m=round(length, 1),
                   progress_mi=round(length / M_PER_MI, 3), progress_pct=100.0,
                   last_station=last, last_station_ts=record.finish_ts)  # fmt: skip
    elif out.get("finish_by") == "race_hq" or out.get("status") == "dnf":  # taken back
        out.update(status="running", finish_ts=None, finish_by=None)
    return out


def _range(r: Range | None) -> dict[str, Any]:
    """The history's 10-90 % interval of an ETA and what made it (none: the live model)."""
    if r is None:
        return {"low_ts": None, "high_ts": None, "method": "live"}
    return {"low_ts": _r(r.low_ts), "high_ts": _r(r.high_ts), "method": r.method}


def station_json(p: StationPass) -> dict[str, Any]:
    return {
        "name": p.name,
        "pass": p.pass_number,
        "label": p.label,
        "distance_m": round(p.distance_m, 1),
        "cutoff_ts": p.cutoff_ts,
    }


def incident_json(i: Incident) -> dict[str, Any]:
    """One runner episode, as it is now; ``updates``: each event of it, in order."""
    return {
        "id": i.id,
        "bib": i.bib,
        "episode": i.episode,
        "kind": i.kind,
        "level": i.level,
        "priority": priority(i.kind),
        "open": i.open and not i.retracted,  # (taken back: nothing of it is open)
        "opened_s": i.opened_s,
        "updated_s": i.updated_s,
        "closed_s": i.closed_s,
        "lat": i.lat,
        "lon": i.lon,
        "course_m": _r(i.course_m),
        "offset_m": _r(i.offset_m),
        "sentence": i.sentence,
        "updates": [dict(u) for u in i.updates],
        "ack_by": i.ack_by,
        "ack_ts": i.ack_ts,
        "retracted": i.retracted,
    }


def passed_ts(race: LiveRace, runner: LiveRunner, station: int) -> float | None:
    """When the runner passed a station, as the views show it (LiveRace.passed_s)."""
    return _r(race.passed_s(runner, station))


def _utc_offset_s(race: LiveRace) -> float:
    offset = race.race.start.utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


def race_json(race: LiveRace, admin: bool = False) -> dict[str, Any]:
    rec = race.record
    out: dict[str, Any] = {
        "id": rec.id,
        "name": rec.name,
        "start_ts": rec.start_ts,
        "utc_offset_s": _utc_offset_s(race),  # the race's clock: its start's timezone
        "timezone": getattr(race.race.start.tzinfo, "key", None),  # its name, if the file gave one
        "units": race.race.units,  # what its pages show until a reader chooses
        "public": rec.public,
        "course": {
            "name": race.course.name,
            "length_m": _r(race.course.length_m),
            "loop": race.course.loop,
            "bbox": list(race.course.bbox),
        },
        "stations": [station_json(p) for p in race.stations],
        "runners": len(race.runners),
    }
    if admin:
        out["ingest_token"] = rec.ingest_token
        out["public_view"] = race.view.to_json()
        out["hidden"] = sorted(race.hidden)
    return out


def course_geojson(race: LiveRace, max_points: int = 5000) -> dict[str, Any]:
    """The course line and the station passes as a GeoJSON FeatureCollection."""
    c = race.course
    step = max(1, len(c.lat) // max_points)
    idx = list(range(0, len(c.lat), step))
    if idx[-1] != len(c.lat) - 1:
        idx.append(len(c.lat) - 1)
    line = [[round(float(c.lon[i]), 6), round(float(c.lat[i]), 6)] for i in idx]
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line},
            "properties": {"kind": "course", "name": c.name, "length_m": _r(c.length_m)},
        }
    ]
    for p in race.stations:
        (lat,), (lon,) = c.latlon_at(np.array([p.distance_m]))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                "properties": {"kind": "station", **station_json(p)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def reference_json(race: LiveRace) -> list[dict[str, Any]]:
    """The race file's reference splits ("course record"), each visit placed on the course."""
    where = {(p.name, p.pass_number): p for p in race.stations}
    out = []
    for ref in race.race.reference_splits:
        placed = [(where[s.station, s.pass_number], s.elapsed_s) for s in ref.splits
                  if (s.station, s.pass_number) in where]  # fmt: skip
        placed.sort(key=lambda x: x[0].distance_m)
        points = [{"label": p.label, "distance_m": round(p.distance_m, 1), "elapsed_s": t}
                  for p, t in placed]  # fmt: skip
        out.append({"name": ref.name, "splits": points})
    return out


def _point(p: Point | None) -> dict[str, Any] | None:
    if p is None:
        return None
    course_m = None if p.course_m is None else round(p.course_m, 1)
    return {"time_s": p.time.timestamp(), "lat": p.lat, "lon": p.lon, "course_m": course_m}


def _excursion(e: Excursion) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "left": _point(e.left),
        "flagged": _point(e.flagged),
        "alerted": _point(e.alerted),
        "rejoined": _point(e.rejoined),
        "max_offset_m": round(e.max_offset_m, 1),
        "extra_distance_m": None if e.from_nowhere else round(e.extra_distance_m, 1),
        "time_lost_s": None if e.time_lost_s is None else round(e.time_lost_s, 1),
    }


def progress_json(
    race: LiveRace,
    runner: LiveRunner,
    fixes: FixArrays,
    now_s: float,
    etas: list[tuple[StationPass, float | None, Range | None]],
    race_now_s: float | None = None,
) -> dict[str, Any]:
    """One runner's race so far: progress against time (the engine over the stored fixes,
    with hindsight), station passes, the ETA at every station ahead (``etas``) and the
    excursions. ``now_s``: the server's clock; ``race_now_s``: the race's (``now_ts``)."""
    body: dict[str, Any] = {
        "runner": runner_json(race, runner, now_s, admin=False),
        "now_ts": now_s if race_now_s is None else race_now_s,
        "start_ts": race.start_s(runner),
        "series": {"time_s": [], "progress_m": []},
        "passes": [],
        "excursions": [],
        "etas": [
            {**station_json(p), "eta_ts": _r(e), **_range(r)}
            for p, e, r in etas
            if not (runner.finished or runner.record.dnf)
        ],  # nothing ahead of them
    }
    if not len(fixes.time_s):
        return body
    # the analysis of a runner's whole track takes a second for a day of 1 s fixes: once per
    # new fix, not for every open runner page every 10 s
    key = (runner.bib, len(fixes.time_s), float(fixes.time_s[-1]), race.start_s(runner))
    done = _ANALYSED.setdefault(race, {})
    if key not in done:
        if len(done) >= ANALYSED_KEPT:
            del done[next(iter(done))]
        done[key] = _hindsight(race, runner, fixes)
    out = _recorded_finish(race, runner, {**body, **done[key]})
    # a runner who turned back: a station passed is not ahead (whatever the live progress)
    passed_m = max((p["distance_m"] for p in out["passes"]), default=-math.inf)
    return {**out, "etas": [e for e in out["etas"] if e["distance_m"] > passed_m]}


def _recorded_finish(race: LiveRace, runner: LiveRunner, body: dict[str, Any]) -> dict[str, Any]:
    """The runner page with the finish race HQ recorded (a tracker dead short of the line):
    the finish among the passes at that time, and the progress up to it."""
    at = runner.record.finish_ts
    if at is None or not race.stations:
        return body
    end = race.stations[-1]
    passes = [p for p in body["passes"] if p["time_s"] < at and p["distance_m"] < end.distance_m]
    run = [(t, m) for t, m in zip(body["series"]["time_s"], body["series"]["progress_m"],
                                  strict=True) if t < at]  # fmt: skip
    run.append((at, round(race.course.length_m, 1)))
    return {
        **body,
        "passes": [*passes, {**station_json(end), "time_s": round(at, 1), "skipped": False}],
        "series": {"time_s": [t for t, _ in run], "progress_m": [m for _, m in run]},
    }


def _hindsight(race: LiveRace, runner: LiveRunner, fixes: FixArrays) -> dict[str, Any]:
    """The runner page's parts that the whole track says: progress against time, station
    passes and excursions."""
    body: dict[str, Any] = {}
    track = Track(runner.bib, fixes.time_s, fixes.lat, fixes.lon, None, None)
    try:
        a = analyze(race.course, track, start_ts=race.start_s(runner), check_fit=False)
    except InputError:  # no fix within 1 km of the course (another race, a tracker at home):
        return body  # nothing along it to show (the page was a 422, "is this the right course?")
    step = max(1, math.ceil(len(track) / MAX_POINTS))
    idx = np.unique(np.append(np.arange(0, len(track), step), len(track) - 1))
    body["series"] = {
        "time_s": [round(float(t), 1) for t in track.time_s[idx]],
        "progress_m": [round(float(s), 1) for s in a.progress_m[idx]],
    }
    passes: list[dict[str, Any]] = []
    finish_s, cuts = None if a.finish is None else a.finish.time.timestamp(), a.cuts
    for i, p in enumerate(race.stations):
        near = AT_STATION_M if i < len(race.stations) - 1 else 0.0  # as the board (passes.py)
        ts = pass_time_s(p.distance_m, track.time_s, a.progress_m, near)
        if finish_s is not None and (i == len(race.stations) - 1 or (ts or 0.0) > finish_s):
            ts = finish_s  # the finish, by its rule (a ping short of the line): none after it
        if ts is None and not passes and len(track) and p.distance_m < a.progress_m[0]:
            continue  # passed before the tracker was first heard (switched on mid-race)
        if ts is None:
            break
        skipped = any(skipped_by(p.distance_m, cut) for cut in cuts)  # (as analyze says)
        passes.append({**station_json(p), "time_s": round(ts, 1), "skipped": skipped})
    body["passes"] = passes
    body["excursions"] = [_excursion(e) for e in a.excursions]
    return body
