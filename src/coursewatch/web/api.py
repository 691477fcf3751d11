"""The JSON API over races, runners, incidents and webhooks (reads and admin writes)."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.incidents import ALERT, FLAG, NEWS
from coursewatch.live import LiveRace, course_only_race
from coursewatch.live.roster import finish_time_s, wave_start_s
from coursewatch.live.views import course_geojson, incident_json, race_json
from coursewatch.protocols import FieldError, describe, number
from coursewatch.spots import MIN_RUNNERS, SPOT_M
from coursewatch.store import RunnerRecord
from coursewatch.web import public
from coursewatch.web.auth import (
    is_admin,
    require_admin,
    require_read,
    runner_of_token,
    server_of,
)
from coursewatch.web.bodies import INT64_MAX, field, int_param, json_object
from coursewatch.web.errors import ApiError


def _race(request: Request) -> Any:
    return server_of(request).race(request.path_params["race"])


async def list_races(request: Request) -> Response:
    server = server_of(request)
    admin = is_admin(request)
    out = [race_json(r, admin) for r in server.races() if admin or r.record.public]
    if admin and server.not_loaded:
        broken = [{"id": k, "reason": v} for k, v in sorted(server.not_loaded.items())]
        return JSONResponse({"races": out, "not_loaded": broken})
    return JSONResponse({"races": out})


def _file(obj: dict[str, Any], key: str, suffix: str) -> tuple[bytes, str]:
    spec = field(obj, key, dict)
    suffix = str(spec.get("suffix") or suffix).lower()
    if "text" in spec:
        try:
            return str(field(spec, "text", str)).encode(), suffix
        except UnicodeEncodeError:
            raise ApiError(422, "invalid_field", f"{key}.text is not valid Unicode text",
                           f"{key}.text", "send the file as base64") from None  # fmt: skip
    try:
        return base64.b64decode(field(spec, "base64", str), validate=True), suffix
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise ApiError(
            422,
            "invalid_field",
            f"{key}.base64 is not base64",
            f"{key}.base64",
            "encode the file's bytes as base64",
        ) from None


async def create_race(request: Request) -> Response:
    require_admin(request)
    obj = await json_object(request)
    race_id = field(obj, "id", str)
    course, course_suffix = _file(obj, "course_file", ".gpx")
    if "race_file" in obj:
        race_bytes, race_suffix = _file(obj, "race_file", ".yaml")
        race_text = race_bytes.decode("utf-8", errors="replace")
    else:
        start = field(obj, "start", str)
        name = field(obj, "name", str, required=False) or race_id
        race_text, race_suffix = course_only_race(name, f"course{course_suffix}", start), ".yaml"
    public = field(obj, "public", bool, required=False)  # None: as it was
    race = await server_of(request).create_race(
        race_id, race_text, race_suffix, course, course_suffix, public
    )
    return JSONResponse(race_json(race, admin=True), status_code=201)


async def delete_race(request: Request) -> Response:
    """Remove a race and everything of it: its runners, their devices, fixes, incidents and
    notifications, its webhooks and settings."""
    require_admin(request)
    race_id = request.path_params["race"]
    gone = await server_of(request).delete_race(race_id)
    return JSONResponse({"race": race_id, "removed": gone})


async def get_race(request: Request) -> Response:
    race = _race(request)
    return JSONResponse(race_json(race, require_read(request, race)))


async def patch_race(request: Request) -> Response:
    require_admin(request)
    obj = await json_object(request)
    race = _race(request)
    public = field(obj, "public", bool, required=False)
    if public is not None:
        race = await server_of(request).set_public(race.id, public)
    if "public_view" in obj:
        await server_of(request).set_public_view(race.id, obj["public_view"])
    return JSONResponse(race_json(race, admin=True))


async def course(request: Request) -> Response:
    race = _race(request)
    require_read(request, race)
    return JSONResponse(course_geojson(race), media_type="application/geo+json")


async def list_runners(request: Request) -> Response:
    race = _race(request)
    admin = require_read(request, race)
    now = server_of(request).race_now(race.id)  # a delayed view: on the fixes' own clock
    runners = [server_of(request).runner_view(race, r, admin) for r in race.runners.values()]
    if not admin:
        own = runner_of_token(request, race)
        runners = [public.runner(race, race.runners[o["bib"]], o, now, own) for o in runners
                   if o["bib"] not in race.hidden]  # fmt: skip
    runners.sort(key=lambda r: (-(r["progress_m"] or 0.0), r["bib"]))
    return JSONResponse({"runners": runners})


def _runner_record(
    race: LiveRace, obj: dict[str, Any], now_s: float, bib: str | None = None
) -> RunnerRecord:
    """The runner ``obj`` gives (``now_s``: the race's clock, what a finish ``HH:MM`` is read
    by)."""
    bib = bib or str(field(obj, "bib", (str, int)))
    devices = field(obj, "devices", list, required=False) or []
    if not all(isinstance(d, str | int) for d in devices):
        raise ApiError(
            422,
            "invalid_field",
            "devices must be a list of ids",
            "devices",
            'give "devices": ["123456"]',
        )
    start = field(obj, "start", (str, int, float), required=False)
    finish = field(obj, "finish", (str, int, float), required=False)
    dnf = bool(field(obj, "dnf", bool, required=False))
    try:
        start_ts = None if start is None else wave_start_s(start, race.race.start)
        start_s = race.record.start_ts if start_ts is None else start_ts
        finish_ts = (
            None if finish is None else finish_time_s(finish, race.race.start, start_s, now_s)
        )
    except FieldError as exc:
        hint = exc.hint or "give ISO 8601 (without a timezone: the race's) or HH:MM"
        raise ApiError(422, "invalid_field", str(exc), exc.field, hint) from None
    if dnf and finish_ts is not None:
        raise ApiError(422, "invalid_field", f"bib {bib} cannot be both finished and out of the "
                       "race (DNF)", "finish", 'give "finish": null with "dnf": true, or '
                       '"dnf": false with the finish')  # fmt: skip
    return RunnerRecord(
        race_id=race.id,
        bib=bib,
        name=str(field(obj, "name", str, required=False) or ""),
        devices=tuple(str(d) for d in devices),
        start_ts=start_ts,
        dnf=dnf,
        finish_ts=finish_ts,
    )


async def add_runners(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    obj = await json_object(request)
    items = obj["runners"] if isinstance(obj.get("runners"), list) else [obj]
    server = server_of(request)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(
                422,
                "invalid_field",
                f"runners[{i}] is not an object",
                f"runners[{i}]",
                'give {"bib": "7", "name": ..., "devices": [...]}',
            )
        old = race.runners.get(str(item.get("bib", "")))
        if old is not None:  # registered again: race HQ's calls on race day stand (not named)
            item = {"dnf": old.record.dnf, "finish": old.record.finish_ts, **item}
        runner = await server.put_runner(_runner_record(race, item, server.race_now(race.id)))
        out.append(server.runner_view(race, runner, admin=True))
    return JSONResponse({"runners": out}, status_code=201)


async def get_runner(request: Request) -> Response:
    race = _race(request)
    admin = require_read(request, race)
    server = server_of(request)
    runner = server.runner(race.id, request.path_params["bib"])
    out = server.runner_view(race, runner, admin)
    if not admin:
        public.require_shown(race, runner.bib)
        own = runner_of_token(request, race)
        out = public.runner(race, runner, out, server.race_now(race.id), own)
    return JSONResponse(out)


async def patch_runner(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    server = server_of(request)
    old = server.runner(race.id, request.path_params["bib"]).record
    obj = await json_object(request)
    hidden = field(obj, "hidden", bool, required=False)
    if hidden is not None:
        await server.set_hidden(race.id, old.bib, hidden)
    obj = {k: v for k, v in obj.items() if k != "hidden"}
    merged = {
        "name": old.name,
        "devices": list(old.devices),
        "start": old.start_ts,
        "dnf": old.dnf,
        "finish": old.finish_ts,
        **obj,
    }
    record = _runner_record(race, merged, server.race_now(race.id), bib=old.bib)
    runner = await server.put_runner(record)
    return JSONResponse(server.runner_view(race, runner, admin=True))


async def delete_runner(request: Request) -> Response:
    """Take a runner out of the race: their registration, devices, fixes, incidents,
    notifications waiting, feed, contacts and token."""
    require_admin(request)
    race = _race(request)
    server = server_of(request)
    bib = server.runner(race.id, request.path_params["bib"]).bib
    gone = await server.delete_runner(race.id, bib)
    return JSONResponse({"race": race.id, "bib": bib, "removed": gone})


async def runner_token(request: Request) -> Response:
    """A runner's own ingest token, new (the old one stops working): it posts that runner's
    fixes only, for their phone or their own tracker's bridge."""
    require_admin(request)
    race = _race(request)
    server = server_of(request)
    bib = server.runner(race.id, request.path_params["bib"]).bib
    token = await server.new_runner_token(race.id, bib)
    return JSONResponse({"bib": bib, "token": token}, status_code=201)


async def track(request: Request) -> Response:
    race = _race(request)
    admin = require_read(request, race)
    server = server_of(request)
    runner = server.runner(race.id, request.path_params["bib"])
    fixes = server.fixes(race.id, runner.bib)
    if admin:
        t, lat, lon = fixes.time_s.tolist(), fixes.lat.tolist(), fixes.lon.tolist()
    else:
        public.require_shown(race, runner.bib)
        public.require_tracks(race)
        t, lat, lon = public.track(race, fixes, server.race_now(race.id))
    if request.query_params.get("format") == "geojson":
        coords = [[a, b] for a, b in zip(lon, lat, strict=True)]
        return JSONResponse(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"bib": runner.bib, "time_s": t},
            },
            media_type="application/geo+json",
        )
    return JSONResponse({"bib": runner.bib, "time_s": t, "lat": lat, "lon": lon})


LEVELS = {ALERT: ALERT, FLAG: FLAG, NEWS: NEWS, "all": None}


async def list_incidents(request: Request) -> Response:
    race = _race(request)
    admin = require_read(request, race)
    bib = request.query_params.get("bib")
    if not admin:
        only = public.incidents_of(race, runner_of_token(request, race))
        if only is not None and bib not in (None, only):
            raise ApiError(403, "forbidden", f"a runner's own token reads bib {only}'s "
                           "incidents only", "bib", f"ask for bib={only}")  # fmt: skip
        bib = bib if only is None else only
    after = int_param(request, "after", 0)
    limit = min(max(int_param(request, "limit", 1000), 1), 10_000)
    level_arg = request.query_params.get("level", ALERT)
    if level_arg not in LEVELS:
        raise ApiError(400, "invalid_parameter", f"level {describe(level_arg)} is not one of "
                       "alert, flag, news, all", "level", "alert (race HQ's, the default), flag "
                       "(the runners' own), news (their crews'), or all")  # fmt: skip
    found = server_of(request).incidents(race.id, after, bib, LEVELS[level_arg], limit)
    if request.query_params.get("retracted") != "1":
        found = [i for i in found if not i.retracted]
    shown = [incident_json(i) for i in found]
    if not admin:
        shown = [i for i in shown if i["bib"] not in race.hidden and not public.private_incident(i)]
    return JSONResponse({"incidents": shown})


async def list_spots(request: Request) -> Response:
    """Where several runners went off the course: a marking gone, or the course line wrong."""
    require_admin(request)
    found = server_of(request).spots(_race(request).id)
    return JSONResponse({"spots": [s.json() for s in found], "spot_m": SPOT_M,
                         "min_runners": MIN_RUNNERS})  # fmt: skip


async def check_spot(request: Request) -> Response:
    """Race HQ says the marking at a spot was checked: who goes off there after it shows."""
    require_admin(request)
    race = _race(request)
    obj = await json_object(request)
    by = str(field(obj, "by", str, required=False) or "race HQ")
    try:
        course_m = number(field(obj, "course_m", (int, float)), "course_m", 0.0, 1e8)
        found = await server_of(request).check_spot(race.id, course_m, by)
    except FieldError as exc:
        raise ApiError(422, "invalid_field", str(exc), "course_m") from None
    return JSONResponse({"spots": [s.json() for s in found]})


async def ack_incident(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    obj = await json_object(request) if (await request.body()).strip() else {}
    by = str(field(obj, "by", str, required=False) or "admin")
    try:
        incident_id = int(request.path_params["incident"])
    except ValueError:
        incident_id = -1
    if not 0 < incident_id < 2**63:
        shown = describe(request.path_params["incident"])
        raise ApiError(404, "not_found", f"no incident {shown}", "path",
                       "incident ids are the ids /incidents lists")  # fmt: skip
    found = await server_of(request).ack(race.id, incident_id, by)
    return JSONResponse(incident_json(found))


async def stats(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    from coursewatch.web.app import gate_of

    found = server_of(request).stats(race.id)
    return JSONResponse({**found, "admission": gate_of(server_of(request)).snapshot()})


async def list_webhooks(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    hooks = server_of(request).webhooks(race.id)
    return JSONResponse({"webhooks": [{"id": h.id, "url": h.url, **st} for h, st in hooks]})


async def add_webhook(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    obj = await json_object(request)
    url = field(obj, "url", str)
    secret = field(obj, "secret", str, required=False) or secrets.token_urlsafe(24)
    hook = await server_of(request).add_webhook(race.id, url, secret)
    return JSONResponse({"id": hook.id, "url": hook.url, "secret": hook.secret}, status_code=201)


async def delete_webhook(request: Request) -> Response:
    require_admin(request)
    race = _race(request)
    try:
        hook_id = int(request.path_params["hook"])
    except ValueError:
        hook_id = -1
    if not 0 < hook_id <= INT64_MAX:  # ids are SQLite integers: a bigger one is no webhook
        hook_id = -1
    if not await server_of(request).delete_webhook(race.id, hook_id):
        raise ApiError(404, "not_found", f"no webhook {describe(request.path_params['hook'])}",
                       "path", "webhook ids are the ids GET .../webhooks lists")  # fmt: skip
    return Response(status_code=204)
