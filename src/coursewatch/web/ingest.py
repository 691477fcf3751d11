"""Ingest endpoints: each reads its protocol's payload and hands a decoder to the pipeline."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.errors import InputError
from coursewatch.live import IngestReport
from coursewatch.protocols import Decoded, PayloadError
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.protocols.native import decode_native
from coursewatch.protocols.osmand import decode_osmand, decode_osmand_json, params_from_body
from coursewatch.protocols.owntracks import decode_owntracks
from coursewatch.protocols.upload import decode_upload
from coursewatch.web.auth import ingest_scope, require_ingest, server_of
from coursewatch.web.bodies import json_body
from coursewatch.web.errors import ApiError, error_response


async def _run(
    request: Request, decode: Any, protocol: str, race_id: str | None, only_bib: str | None = None
) -> IngestReport:
    try:
        return await server_of(request).ingest(decode, protocol, race_id, only_bib)
    except PayloadError as exc:
        raise ApiError(
            400,
            "invalid_payload",
            exc.detail,
            "body",
            f"send {protocol} as documented in docs/server.md",
        ) from None


RECEIVED = {"received": 1}


async def osmand(request: Request) -> Response:
    """OsmAnd / Traccar Client: one fix per request, GET or POST."""
    server = server_of(request)
    body = await request.body() if request.method == "POST" else b""
    ctype = request.headers.get("content-type", "")
    now = server.clock()
    if body.strip().startswith(b"{"):

        def decode() -> Decoded:
            return decode_osmand_json(body, now)
    else:
        params = {**dict(request.query_params), **params_from_body(body, ctype)}
        params.pop("token", None)

        def decode() -> Decoded:
            return decode_osmand(params, now)

    report = await _run(request, decode, "osmand", None)
    if report.problems and not report.dropped.get("unknown_device"):
        p = report.problems[0]
        return error_response(400, "invalid_fix", p.message, p.where, p.hint)
    # The device id is the credential here: known or not, stored or dropped, the answer is the
    # same, so ids cannot be guessed. The race's stats list the unknown ones (admin).
    return JSONResponse(RECEIVED)


async def owntracks(request: Request) -> Response:
    race_id, only = ingest_scope(request)
    obj = await json_body(request)
    user = request.headers.get("x-limit-u")
    device = request.headers.get("x-limit-d")
    decode = functools.partial(decode_owntracks, obj, user, device)
    report = await _run(request, decode, "owntracks", race_id, only)
    # OwnTracks reads the answer as a list of commands: [] means nothing to do. A message it
    # sent that cannot be used never will be: answered 200 too (counted in the race's stats as
    # invalid), or the app would send its queue again for ever. An unknown device is a 403:
    # the app keeps the fixes and sends them again once the device is registered.
    if report.dropped.get("unknown_device"):
        p = report.problems[-1]
        return error_response(403, "unknown_device", p.message, "id", p.hint)
    return JSONResponse([])


async def inreach(request: Request) -> Response:
    race_id, only = ingest_scope(request)
    obj = await json_body(request)
    report = await _run(request, lambda: decode_inreach(obj), "inreach", race_id, only)
    return JSONResponse(report.to_json())


async def native(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    only = require_ingest(request, race)
    obj = await json_body(request)  # orjson first, limited: protocols.jsonbody
    report = await _run(request, lambda: decode_native(obj), "native", race.id, only)
    status = 422 if report.problems and not report.accepted and not report.duplicates else 200
    body = report.to_json()
    if status == 422:
        p = report.problems[0]
        body["error"] = {
            "status": 422,
            "code": "invalid_fixes",
            "message": f"no fix could be used; first: {p.message}",
            "where": p.where,
            "hint": p.hint,
        }
    return JSONResponse(body, status_code=status)


async def upload(request: Request) -> Response:
    """A GPX/FIT/... recording of one runner, as the raw request body."""
    server = server_of(request)
    race = server.race(request.path_params["race"])
    only = require_ingest(request, race)
    runner = server.runner(race.id, request.path_params["bib"])
    if only is not None and only != runner.bib:
        raise ApiError(403, "forbidden", f"this token uploads the recordings of bib {only} only",
                       "Authorization", "use the race's ingest token")  # fmt: skip
    data = await request.body()
    limit = server.settings.max_upload_bytes
    try:
        # parsed in a worker thread: a big file must not hold ingest up
        decoded = await asyncio.to_thread(decode_upload, data, runner.bib, limit)
    except InputError as exc:
        raise ApiError(
            422,
            "invalid_file",
            exc.detail,
            "body",
            "upload the GPX or FIT file's bytes as the request body",
        ) from None
    report = await _run(request, lambda: decoded, "upload", race.id)
    return JSONResponse(report.to_json())
