"""The API of what the server reaches for and sends out: runners' feeds, who is notified, the
deliveries, and race-director set-up (a CSV roster, a check of every device and feed)."""

from __future__ import annotations

import math
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.errors import InputError
from coursewatch.web.auth import require_admin, server_of
from coursewatch.web.bodies import field, int_param, json_object
from coursewatch.web.errors import ApiError


def _ids(request: Request) -> tuple[str, str]:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    return race.id, server.runner(race.id, request.path_params["bib"]).bib


async def feeds(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    return JSONResponse(server.feed_status(server.race(request.path_params["race"]).id))


async def put_feed(request: Request) -> Response:
    require_admin(request)
    race_id, bib = _ids(request)
    shown = await server_of(request).set_feed(race_id, bib, await json_object(request))
    return JSONResponse({"bib": bib, "feed": shown})


async def delete_feed(request: Request) -> Response:
    require_admin(request)
    race_id, bib = _ids(request)
    await server_of(request).set_feed(race_id, bib, None)
    return JSONResponse({"bib": bib, "feed": None})


async def poll_feed(request: Request) -> Response:
    require_admin(request)
    race_id, bib = _ids(request)
    server_of(request).poll_feed_now(race_id, bib)
    return JSONResponse({"bib": bib, "polling": True}, status_code=202)


async def runner_contacts(request: Request) -> Response:
    require_admin(request)
    race_id, bib = _ids(request)
    server = server_of(request)
    if request.method == "GET":
        return JSONResponse(server.contacts_of(race_id, bib))
    obj = await json_object(request)
    shown = await server.set_runner_contacts(race_id, bib, obj.get("runner"), obj.get("crew"))
    return JSONResponse(shown)


async def race_contacts(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    if request.method == "GET":
        return JSONResponse(server.contacts_of(race_id))
    obj = await json_object(request)
    return JSONResponse(await server.set_hq_contacts(race_id, field(obj, "hq", list)))


TEST_EVERY_S = 10.0  # one test of a race's (or a runner's) addresses this often at most


async def test_contacts(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    obj = await json_object(request) if (await request.body()).strip() else {}
    bib = field(obj, "bib", str, required=False)
    sent: dict[tuple[str, str | None], float] = request.app.state.__dict__.setdefault("tests", {})
    now = time.monotonic()
    for key in [k for k, at in sent.items() if at < now - TEST_EVERY_S]:
        del sent[key]
    wait_s = sent.get((race_id, bib), -math.inf) + TEST_EVERY_S - now
    if wait_s > 0:  # (30 calls sent 300 messages in a second: the outbox's rate is not theirs)
        raise ApiError(
            429,
            "rate_limited",
            f"these addresses were sent a test under {TEST_EVERY_S:.0f} s ago",
            "",
            f"try again in {math.ceil(wait_s)} s",
        )
    sent[(race_id, bib)] = time.monotonic()
    try:
        return JSONResponse({"tested": await server.test_contacts(race_id, bib)})
    except Exception:  # (no address to test, no such runner: nothing was sent)
        del sent[(race_id, bib)]
        raise


async def history(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    if request.method == "GET":
        return JSONResponse(server.history_of(race_id))
    obj = await json_object(request)
    replace = field(obj, "replace", bool, required=False)
    editions = field(obj, "editions", list)
    return JSONResponse(await server.set_history(race_id, editions, replace is not False))


async def deliveries(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    after = int_param(request, "after", 0)
    limit = max(1, min(int_param(request, "limit", 1000), 10_000))
    return JSONResponse({"deliveries": server.deliveries(race_id, after, limit)})


async def roster(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the roster is not UTF-8 text: save the CSV as UTF-8") from None
    return JSONResponse(await server.import_roster(race_id, text))


async def check(request: Request) -> Response:
    require_admin(request)
    server = server_of(request)
    race_id = server.race(request.path_params["race"]).id
    return JSONResponse({"runners": server.check(race_id),
                         "unknown_devices": server.unknown_devices(race_id)})  # fmt: skip
