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

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from coursewatch.live.views import race_json, reference_json
from coursewatch.web import public
from coursewatch.web.auth import require_read, runner_of_token, server_of
from coursewatch.web.errors import ApiError

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


async def dashboard(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    admin = require_read(request, race)
    own = None if admin else runner_of_token(request, race)
    readable = admin or public.published(race)
    body = {
        "race": race_json(race, admin=False),  # the page never needs the ingest token
        "admin": admin,
        # whose incidents and flags this reader may read: every runner's, one's, none
        "incidents": "all" if readable else own,
        "now_ts": server.race_now(race.id),  # the race's clock: a replay's is the recording's
        "reference": reference_json(race),
    }
    return JSONResponse(body)


async def progress(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    admin = require_read(request, race)
    if not admin:
        public.require_shown(race, request.path_params["bib"])
    body = server.progress(race.id, request.path_params["bib"])
    runner = server.runner(race.id, request.path_params["bib"])
    if not admin:  # as the public view gives it
        own = runner_of_token(request, race)
        body = public.progress(race, runner, body, server.race_now(race.id), own)
    elif race.field is not None:  # race HQ's information, never an alert
        body["dropout_risk"] = race.field.dropout_risk(runner.bib)
    return JSONResponse(body)


ROUTES = [
    Route("/races/{race}", race_page, methods=["GET"]),
    Route("/races/{race}/runners/{bib}", runner_page, methods=["GET"]),
    Route("/static/leaflet/{name:path}", leaflet, methods=["GET"]),
    Route("/static/{name}", asset, methods=["GET"]),
    Route("/api/races/{race}/dashboard", dashboard, methods=["GET"]),
    Route("/api/races/{race}/runners/{bib}/progress", progress, methods=["GET"]),
]
