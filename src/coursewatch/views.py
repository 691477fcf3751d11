"""What the API and the event stream say about races, runners and alerts, as JSON.

One function per thing, used by the routes and by the pipeline's publish step, so a runner
looks the same in ``GET .../runners`` and on the SSE stream. Device ids and tokens appear only
in admin views.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coursewatch.alerts import METRES_PER_MILE
from coursewatch.racestate import LiveRace
from coursewatch.runners import LiveRunner
from coursewatch.store import AlertRecord


def pace_eta(
    race: LiveRace, runner: LiveRunner, targets_m: list[float], now_s: float
) -> list[float | None]:
    """Arrival = last fix time + distance left / the engine's learned moving pace.

    Used when the race has no ETA model attached (``LiveRace.arrivals``); the live server
    attaches :mod:`coursewatch.eta`'s (see :mod:`coursewatch.watch`).
    """
    last = runner.last_time_s
    pace = runner.matcher.pace_mps
    if last is None or pace <= 0.1 or runner.finished or runner.record.dnf:
        return [None] * len(targets_m)
    s = runner.matcher.progress_m
    return [last + max(t - s, 0.0) / pace for t in targets_m]


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, nd)


def runner_json(
    race: LiveRace, runner: LiveRunner, now_s: float, admin: bool = False
) -> dict[str, Any]:
    """A runner as the leaderboard and the map need it (built for every update: kept cheap)."""
    m = runner.matcher
    seen = runner.fixes > 0
    progress = m.progress_m if seen else 0.0
    last, nxt = race.around(progress)
    finish = race.course.length_m
    targets = [race.station_m[nxt], finish] if nxt >= 0 else [finish]
    if not seen:
        etas: list[float | None] = [None] * len(targets)
    elif race.arrivals is not None:
        etas = race.arrivals(runner, targets)
    else:
        etas = pace_eta(race, runner, targets, now_s)
    pos = runner.position()
    fix = runner.last_fix
    out: dict[str, Any] = {
        "bib": runner.bib,
        "name": runner.record.name,
        "status": runner.status,
        "progress_m": round(progress, 1),
        "progress_mi": round(progress / METRES_PER_MILE, 3),
        "progress_pct": round(100.0 * progress / finish, 2) if finish else 0.0,
        "lap": race.lap(progress),
        "on_course": m.on_course if seen else None,
        "wrong_way": runner.wrong_way,
        "offset_m": _r(m.offset_m) if seen else None,
        "pace_mps": _r(m.pace_mps, 3) if seen else None,
        "fixes": runner.fixes,
        "last_fix": None
        if pos is None
        else {
            "time_s": runner.last_time_s,
            "lat": pos[0],
            "lon": pos[1],
            "battery_pct": None if fix is None else fix.battery_pct,
        },
        "last_station": race.station_views[last] if last >= 0 else None,
        "next_station": race.station_views[nxt] if nxt >= 0 else None,
        "next_station_eta_ts": _r(etas[0]) if nxt >= 0 else None,
        "finish_eta_ts": _r(etas[-1]),
        "start_ts": race.start_s(runner),
    }
    if admin:
        out["devices"] = list(runner.record.devices)
    return out


def alert_json(a: AlertRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "bib": a.bib,
        "kind": a.kind,
        "time_s": a.time_s,
        "lat": a.lat,
        "lon": a.lon,
        "course_m": _r(a.course_m),
        "offset_m": _r(a.offset_m),
        "sentence": a.sentence,
        "raised_s": a.raised_s,
        "detail": dict(a.detail),
        "ack_by": a.ack_by,
        "ack_ts": a.ack_ts,
        "retracted": a.retracted,
    }


def race_json(race: LiveRace, admin: bool = False) -> dict[str, Any]:
    rec = race.record
    out: dict[str, Any] = {
        "id": rec.id,
        "name": rec.name,
        "start_ts": rec.start_ts,
        "public": rec.public,
        "course": {
            "name": race.course.name,
            "length_m": _r(race.course.length_m),
            "loop": race.course.loop,
            "bbox": list(race.course.bbox),
        },
        "stations": race.station_views,
        "runners": len(race.runners),
    }
    if admin:
        out["ingest_token"] = rec.ingest_token
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
                "properties": {"kind": "station", **p.as_json()},
            }
        )
    return {"type": "FeatureCollection", "features": features}
