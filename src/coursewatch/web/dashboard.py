"""The race HQ dashboard and the public tracking page: their pages, assets and two read views.

The pages are static files (``web/static/``: plain JavaScript, no build step) that read the JSON
API and the event stream like any client; Leaflet comes from the ``xstatic-leaflet`` package,
never a CDN. Two read-only views give the pages what the API does not hold ready:

* ``GET /api/races/{race}/dashboard``: the server's clock (the demo runs faster than the wall
  clock), whether the caller is admin, and the race's reference splits placed on the course;
* ``GET /api/races/{race}/runners/{bib}/progress``: one runner's progress against time (the
  engine over the stored fixes, with hindsight), station passes, the ETA at every remaining
  station and the finish, and the excursions.

Both follow the API's read rule (admin, the race's ingest token, or a public race) and, like
every public view, carry no device id or token.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from coursewatch.analysis import Excursion, Point, analyze
from coursewatch.racestate import LiveRace
from coursewatch.runners import LiveRunner
from coursewatch.track import Track
from coursewatch.views import pace_eta, race_json, runner_json
from coursewatch.web.auth import require_read, server_of
from coursewatch.web.errors import ApiError

MAX_POINTS = 1500  # progress samples sent to the runner page
ASSETS = ("dashboard.html", "runner.html", "dashboard.css", "common.js", "dashboard.js",
          "runner.js", "map.js")  # fmt: skip
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8", ".png": "image/png"}  # fmt: skip


def _static_dir() -> Path:
    return Path(str(resources.files("coursewatch.web").joinpath("static")))


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as xl

    return Path(xl.BASE_DIR)


def _file(path: Path, max_age_s: int) -> Response:
    headers = {"Cache-Control": f"max-age={max_age_s}" if max_age_s else "no-cache"}
    return FileResponse(path, media_type=_TYPES.get(path.suffix), headers=headers)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}", "path", "open /races/<race id>")


async def race_page(request: Request) -> Response:
    return _file(_static_dir() / "dashboard.html", 0)


async def runner_page(request: Request) -> Response:
    return _file(_static_dir() / "runner.html", 0)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise _not_found(f"asset {name!r}")
    return _file(_static_dir() / name, 0)


async def leaflet(request: Request) -> Response:
    name = request.path_params["name"]
    allowed = name in ("leaflet.js", "leaflet.css") or (
        name.startswith("images/") and name.endswith(".png") and ".." not in name
    )
    path = _leaflet_dir() / name
    if not allowed or not path.is_file():
        raise _not_found(f"Leaflet file {name!r}")
    return _file(path, 86_400)


def reference_splits(race: LiveRace) -> list[dict[str, Any]]:
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


async def dashboard(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    admin = require_read(request, race)
    body = {
        "race": race_json(race, admin=False),  # the page never needs the ingest token
        "admin": admin,
        "now_ts": server.clock(),
        "reference": reference_splits(race),
    }
    return JSONResponse(body)


def _point(p: Point | None) -> dict[str, Any] | None:
    if p is None:
        return None
    course_m = None if p.course_m is None else round(p.course_m, 1)
    return {"time_s": p.time.timestamp(), "lat": p.lat, "lon": p.lon, "course_m": course_m}


def _excursion(e: Excursion) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "left": _point(e.left),
        "alerted": _point(e.alerted),
        "rejoined": _point(e.rejoined),
        "max_offset_m": round(e.max_offset_m, 1),
        "extra_distance_m": round(e.extra_distance_m, 1),
        "time_lost_s": None if e.time_lost_s is None else round(e.time_lost_s, 1),
    }


def _passes(race: LiveRace, time_s: np.ndarray, progress_m: np.ndarray) -> list[dict[str, Any]]:
    """When the (never decreasing) progress first reached each station, interpolated."""
    out: list[dict[str, Any]] = []
    if len(progress_m) == 0:
        return out
    for p in race.stations:
        if p.distance_m > progress_m[-1] + 1.0:
            break
        k = int(np.searchsorted(progress_m, p.distance_m - 1.0))
        ts = float(time_s[k])
        if k > 0 and progress_m[k] > progress_m[k - 1]:
            f = (p.distance_m - progress_m[k - 1]) / (progress_m[k] - progress_m[k - 1])
            ts = float(time_s[k - 1] + min(max(f, 0.0), 1.0) * (time_s[k] - time_s[k - 1]))
        out.append({**p.as_json(), "time_s": round(ts, 1)})
    return out


def _etas(race: LiveRace, runner: LiveRunner, now_s: float) -> list[dict[str, Any]]:
    """The predicted arrival at every station still ahead, the finish last."""
    s = runner.matcher.progress_m if runner.fixes else 0.0
    ahead = [p for p in race.stations if p.distance_m > s]
    if not ahead or not runner.fixes:
        return [{**p.as_json(), "eta_ts": None} for p in ahead]
    targets = [p.distance_m for p in ahead]
    if race.arrivals is not None:
        etas = race.arrivals(runner, targets)
    else:
        etas = pace_eta(race, runner, targets, now_s)
    return [
        {**p.as_json(), "eta_ts": None if e is None or not math.isfinite(e) else round(e, 1)}
        for p, e in zip(ahead, etas, strict=True)
    ]


async def progress(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    require_read(request, race)
    runner = server.runner(race.id, request.path_params["bib"])
    now = server.clock()
    fixes = server.store.fixes(race.id, runner.bib)
    body: dict[str, Any] = {
        "runner": runner_json(race, runner, now, admin=False),
        "now_ts": now,
        "start_ts": race.start_s(runner),
        "series": {"time_s": [], "progress_m": []},
        "passes": [],
        "excursions": [],
        "etas": _etas(race, runner, now),
    }
    if len(fixes.time_s):
        track = Track(runner.bib, fixes.time_s, fixes.lat, fixes.lon, None, None)
        a = analyze(race.course, track, start_ts=race.start_s(runner))
        step = max(1, math.ceil(len(track) / MAX_POINTS))
        idx = np.unique(np.append(np.arange(0, len(track), step), len(track) - 1))
        body["series"] = {
            "time_s": [round(float(t), 1) for t in track.time_s[idx]],
            "progress_m": [round(float(s), 1) for s in a.progress_m[idx]],
        }
        body["passes"] = _passes(race, track.time_s, a.progress_m)
        body["excursions"] = [_excursion(e) for e in a.excursions]
    return JSONResponse(body)


ROUTES = [
    Route("/races/{race}", race_page, methods=["GET"]),
    Route("/races/{race}/runners/{bib}", runner_page, methods=["GET"]),
    Route("/static/leaflet/{name:path}", leaflet, methods=["GET"]),
    Route("/static/{name}", asset, methods=["GET"]),
    Route("/api/races/{race}/dashboard", dashboard, methods=["GET"]),
    Route("/api/races/{race}/runners/{bib}/progress", progress, methods=["GET"]),
]
