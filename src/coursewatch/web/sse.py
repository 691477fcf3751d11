"""The Server-Sent Events stream of a race: runner updates, status changes, alerts.

``GET /api/races/{race}/events[?kinds=alert,status]``. Each message is
``id: <seq>``, ``event: <kind>``, ``data: <json>``. A reconnecting client sends
``Last-Event-ID`` (browsers do it by themselves) and gets what it missed while the server still
holds it; then it should reload ``/runners`` and ``/alerts``. A comment line every 15 s keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from coursewatch.web.auth import require_read, server_of
from coursewatch.web.errors import ApiError

PING_S = 15.0


async def events(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    require_read(request, race)
    kinds_arg = request.query_params.get("kinds")
    kinds = frozenset(kinds_arg.split(",")) if kinds_arg else None
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    try:
        after = int(last) if last else None
    except ValueError:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Last-Event-ID {last!r} is not a number",
            "Last-Event-ID",
            "send the id of the last event received",
        ) from None
    stream = server.subscribe(race.id, after, PING_S, kinds)

    async def lines() -> AsyncIterator[str]:
        yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'race': race.id})}\n\n"
        async for msg in stream:
            if msg.kind == "ping":
                yield ": ping\n\n"
            else:
                data = json.dumps(msg.data, separators=(",", ":"))
                yield f"id: {msg.seq}\nevent: {msg.kind}\ndata: {data}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)
