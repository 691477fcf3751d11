"""The Server-Sent Events streams: a race's, and one runner's (their own channel).

``GET /api/races/{race}/events[?kinds=incident,status]``: runner updates, status changes,
race HQ's incidents (``incident``: opened, updated in place, closed), the runners' flags
(``flag``), their crews' news of their race (``news``: a station passed, the finish, a DNF;
race HQ's, like incidents), acknowledgements (``incident_ack``) and removals (``removed``:
``{"bib"}`` a runner taken out of the race; ``{"race"}`` the race itself, and the stream ends).
``GET /api/races/{race}/runners/{bib}/events``: the same, for one runner only: what their
phone or crew listens to, flags first of all.

Each message is ``id: <seq>``, ``event: <kind>``, ``data: <json>``. A reconnecting client sends
``Last-Event-ID`` (browsers do it by themselves) and gets what it missed while the server still
holds it; then it should reload ``/runners`` and ``/incidents``. A comment line every 15 s keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from coursewatch.errors import CoursewatchError
from coursewatch.live import LiveRace
from coursewatch.live.removal import REMOVED
from coursewatch.protocols.values import describe
from coursewatch.web import public
from coursewatch.web.auth import reader_check, require_read, runner_of_token, server_of
from coursewatch.web.errors import ApiError

PING_S = 15.0


async def events(request: Request) -> Response:
    return _stream(request, None)


async def runner_events(request: Request) -> Response:
    return _stream(request, request.path_params["bib"])


def _stream(request: Request, bib: str | None) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    admin = require_read(request, race)
    by_token = None if admin else reader_check(request, race)
    own = None if admin else runner_of_token(request, race)  # the runner's own: theirs
    if bib is not None:
        bib = server.runner(race.id, bib).bib  # 404 for a bib not in the race
        if not admin:
            public.require_shown(race, bib)
    kinds_arg = request.query_params.get("kinds")
    kinds = frozenset(kinds_arg.split(",")) if kinds_arg else None
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    try:
        after = int(last) if last else None
    except ValueError:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Last-Event-ID {describe(last)} is not a number",
            "Last-Event-ID",
            "send the id of the last event received",
        ) from None
    stream = server.subscribe(race.id, after, PING_S, kinds)
    hello = {"race": race.id} if bib is None else {"race": race.id, "bib": bib}

    async def lines() -> AsyncIterator[str]:
        yield f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n"
        async for msg in stream:
            if msg.kind == REMOVED and "race" in msg.data:  # race HQ removed the race: every
                yield f"id: {msg.seq}\nevent: {msg.kind}\ndata: {json.dumps(msg.data)}\n\n"
                return  # reader is told (the public too), and nothing more will come
            now = None if admin else _readable(request, race.id, by_token)
            if not admin and now is None:
                return  # private now, gone, or the token replaced: the stream ends
            if msg.kind == "ping":
                yield ": ping\n\n"
                continue
            if bib is not None and msg.data.get("bib") != bib:
                continue
            got = dict(msg.data)
            race_now = server.race_now(race.id)
            shown = got if now is None else public.message(now, msg.kind, got, race_now, own)
            if shown is not None:
                data = json.dumps(shown, separators=(",", ":"))
                yield f"id: {msg.seq}\nevent: {msg.kind}\ndata: {data}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)


def _readable(
    request: Request, race_id: str, by_token: Callable[[LiveRace], bool] | None
) -> LiveRace | None:
    """The race as it is now, if a reader who is not race HQ may still read it: it is public,
    or the token they opened the stream with still opens it. Who the reader is was settled
    when the stream opened: nothing per message loops over tokens."""
    try:
        race = server_of(request).race(race_id)
    except CoursewatchError:
        return None
    if race.record.public or (by_token is not None and by_token(race)):
        return race
    return None
