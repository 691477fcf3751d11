"""The event stream over a real loopback socket, and signed webhooks with retries."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from coursewatch.live.server import Server
from coursewatch.settings import load_settings
from coursewatch.sim.hq import ADMIN, add_race, admin_headers
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord
from coursewatch.web.app import create_app

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)


@contextlib.asynccontextmanager
async def live_server(tmp_path: Path, **kw: object) -> AsyncIterator[tuple[Server, str]]:
    settings = dataclasses.replace(load_settings(), db_path=tmp_path / "hq.db",
                                   admin_token=ADMIN, webhook_backoff_s=0.01)  # fmt: skip
    server = Server(settings, clock=lambda: START + 86400, **kw)  # type: ignore[arg-type]
    await server.start()
    config = uvicorn.Config(create_app(server, manage=False), host="127.0.0.1", port=0,
                            log_level="warning", lifespan="off")  # fmt: skip
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve())
    while not web.started:
        await asyncio.sleep(0.01)
    port = web.servers[0].sockets[0].getsockname()[1]
    try:
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        yield server, f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        await task
        await server.stop()


def _fixes() -> list[dict[str, object]]:
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=5.0, wrong_turn_at_m=3000.0,
                       wrong_turn_angle_deg=80.0)  # fmt: skip
    return [{"bib": "7", "time": float(t), "lat": float(a), "lon": float(b)}
            for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)]  # fmt: skip


async def _events(
    url: str,
    want: int,
    kinds: str,
    path: str = "events",
    into: list[tuple[str, dict[str, object]]] | None = None,
) -> list[tuple[str, dict[str, object]]]:
    out: list[tuple[str, dict[str, object]]] = [] if into is None else into
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "GET", f"{url}/api/races/demo/{path}?kinds={kinds}", headers=admin_headers()
        ) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind != "hello":
                out.append((kind, json.loads(line[6:])))
                if len(out) >= want:
                    return out
    return out


async def _listening(server: Server, n: int) -> None:
    while server._bus.listeners("demo") < n:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)


async def test_incident_arrives_on_the_stream(tmp_path: Path) -> None:
    async with live_server(tmp_path) as (server, url):
        listener = asyncio.create_task(_events(url, 2, "incident,status"))
        await _listening(server, 1)
        async with httpx.AsyncClient(base_url=url, headers=admin_headers()) as client:
            r = await client.post("/api/races/demo/fixes", json={"fixes": _fixes()})
            assert r.status_code == 200 and r.json()["alerts"]
        events = await asyncio.wait_for(listener, 10)
        assert events[0] == ("status", {"bib": "7", "from": "not_started", "to": "finished"})
        kind, incident = events[1]
        assert kind == "incident" and incident["kind"] == "off_course"
        assert incident["level"] == "alert" and incident["open"] is False
        kinds = [u["kind"] for u in incident["updates"]]  # type: ignore[attr-defined]
        assert kinds == ["off_course", "alert", "back_on_course"]
        assert str(incident["sentence"]).startswith("Bib 7")


async def test_a_runner_stream_gets_their_flag_first_and_nobody_else_s(tmp_path: Path) -> None:
    async with live_server(tmp_path) as (server, url):
        await server.put_runner(RunnerRecord("demo", "8", "Ben", ("dev-8",)))
        mine = asyncio.create_task(_events(url, 2, "flag,incident", "runners/7/events"))
        theirs: list[tuple[str, dict[str, object]]] = []
        other = asyncio.create_task(_events(url, 1, "flag,incident", "runners/8/events", theirs))
        await _listening(server, 2)
        fixes = _fixes()
        async with httpx.AsyncClient(base_url=url, headers=admin_headers()) as client:
            missing = await client.get("/api/races/demo/runners/99/events")
            assert missing.status_code == 404
            for i in range(0, len(fixes), 4):  # a phone sending every 20 s
                await client.post("/api/races/demo/fixes", json={"fixes": fixes[i : i + 4]})
        events = await asyncio.wait_for(mine, 10)
        (k1, flag), (k2, confirmed) = events
        assert (k1, flag["level"], flag["kind"], flag["bib"]) == ("flag", "flag", "off_course", "7")
        assert (k2, confirmed["level"], confirmed["id"]) == ("incident", "alert", flag["id"])
        other.cancel()
        assert theirs == []


async def test_webhook_is_signed_and_retried(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503 if len(calls) == 1 else 200)

    transport = httpx.MockTransport(answer)
    async with live_server(tmp_path, webhook_transport=transport) as (server, url):
        async with httpx.AsyncClient(base_url=url, headers=admin_headers()) as client:
            hook = {"url": "http://93.184.216.34/hook", "secret": "s3"}  # public: allowed
            r = await client.post("/api/races/demo/webhooks", json=hook)
            assert r.status_code == 201
            await client.post("/api/races/demo/fixes", json={"fixes": _fixes()[:900]})
            for _ in range(200):
                if server._webhooks.stats["delivered"]:
                    break
                await asyncio.sleep(0.01)
        assert server._webhooks.stats["retries"] >= 1 and server._webhooks.stats["delivered"] >= 1
        req = calls[-1]
        updates = {u["kind"] for c in calls for u in json.loads(c.content)["data"]["updates"]}
        assert updates == {"off_course", "alert", "back_on_course"}
        ts = req.headers["X-Coursewatch-Timestamp"]
        mac = hmac.new(b"s3", f"{ts}.".encode() + req.content, hashlib.sha256).hexdigest()
        assert req.headers["X-Coursewatch-Signature"] == f"sha256={mac}"
        body = json.loads(req.content)
        assert body["event"] == "incident" and body["race"] == "demo"
        assert body["data"]["level"] == "alert"


async def test_a_stream_opened_with_a_runner_token_ends_when_it_is_replaced(
    tmp_path: Path,
) -> None:
    async with live_server(tmp_path) as (server, url):
        token = await server.new_runner_token("demo", "7")
        kinds: list[str] = []
        first = asyncio.Event()

        async def listen() -> None:
            mine = {"Authorization": f"Bearer {token}"}
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream("GET", f"{url}/api/races/demo/runners/7/events", headers=mine) as r,
            ):
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("event: ") and line != "event: hello":
                        kinds.append(line[7:])
                        first.set()

        listener = asyncio.create_task(listen())
        await _listening(server, 1)
        fixes = _fixes()
        async with httpx.AsyncClient(base_url=url, headers=admin_headers()) as client:
            await client.post("/api/races/demo/fixes", json={"fixes": fixes[:3]})
            await asyncio.wait_for(first.wait(), 5)  # the runner's phone reads its stream
            await asyncio.sleep(0.3)  # ... all that one post sent
            seen = len(kinds)
            await server.new_runner_token("demo", "7")  # a new token: the old one is void
            await client.post("/api/races/demo/fixes", json={"fixes": fixes[3:6]})
        await asyncio.wait_for(listener, 5)  # the server ended the stream ...
        assert len(kinds) == seen  # ... before anything more reached the old token


async def test_a_browser_opens_the_stream_with_a_cookie_not_a_token_in_its_address(
    tmp_path: Path,
) -> None:
    """The dashboard's EventSource carried race HQ's token in its address (?token=), where
    every proxy's access log keeps it. The token goes in an HttpOnly cookie instead, which
    the event streams take and nothing else does."""
    async with live_server(tmp_path) as (_, url), httpx.AsyncClient(base_url=url) as c:
        await c.patch("/api/races/demo", json={"public": False}, headers=admin_headers())
        assert (await c.post("/api/session")).status_code == 401
        bogus = await c.post("/api/session", headers={"Authorization": "Bearer nope"})
        assert bogus.status_code == 401 and not c.cookies
        # from the header only (no other site plants its token with a form or a link), and
        # from race HQ's own pages
        assert (await c.post(f"/api/session?token={ADMIN}")).status_code == 401
        other = {**admin_headers(), "Sec-Fetch-Site": "cross-site"}
        assert (await c.post("/api/session", headers=other)).status_code == 403
        r = await c.post("/api/session", headers=admin_headers())
        assert r.status_code == 200 and c.cookies.get("coursewatch_stream") == ADMIN
        said = r.headers["set-cookie"].lower()
        assert "httponly" in said and "samesite=strict" in said and "path=/api/races" in said
        async with c.stream("GET", "/api/races/demo/events") as stream:
            assert stream.status_code == 200  # (a private race)
        # the cookie opens the streams only (a form posted from elsewhere is no reader), and
        # not the public's stream a page in a frame asks for
        assert (await c.get("/api/races/demo/runners")).status_code == 401
        async with c.stream("GET", "/api/races/demo/events?public=1") as stream:
            assert stream.status_code == 401
        # a token refused (the browser's replaced by a wrong one): the one kept is forgotten
        assert (await c.post("/api/session", headers={"Authorization": "Bearer x"})).status_code \
            == 401 and not c.cookies  # fmt: skip
        await c.post("/api/session", headers=admin_headers())
        assert (await c.delete("/api/session")).status_code == 200 and not c.cookies
        async with c.stream("GET", "/api/races/demo/events") as stream:
            assert stream.status_code == 401
