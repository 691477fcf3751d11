"""Webhooks over real loopback sockets: a dead receiver delays nobody but itself, is paused with
its reason, and neither the logs nor the answers give away a URL's secret; receivers inside the
machine or its network are refused unless allowed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from coursewatch.bus.memory import MemoryBus
from coursewatch.live import Server, webhooks
from coursewatch.live.webhooks import WebhookSender
from coursewatch.settings import load_settings
from coursewatch.sim.hq import ADMIN
from coursewatch.store import RaceRecord, Store, Webhook, open_store

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def hooks_in(
    folder: Path, urls: list[str], url: str = ""
) -> AsyncIterator[tuple[Store, list[Webhook]]]:
    """A store (``url``: PostgreSQL; "": SQLite) holding race ``r`` and a webhook to each URL
    (ids 1, 2, ... in order)."""
    store = open_store(url, folder / "hq.db")
    await store.start()
    try:
        await store.put_race(RaceRecord("r", "r", "", ".yaml", b"", ".gpx", 0.0, "t"))
        yield store, [await store.add_webhook("r", url, "s") for url in urls]
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def receiver(answer: bool) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback HTTP receiver that answers 200 to every call, or accepts and never answers."""
    got: list[bytes] = []
    open_: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                got.append(await reader.readexactly(length))
                if not answer:
                    await asyncio.sleep(3600)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], got
    finally:
        server.close()
        for w in open_:
            w.close()
        await asyncio.sleep(0)


async def test_four_dead_receivers_do_not_delay_a_healthy_one(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)
    async with contextlib.AsyncExitStack() as stack:
        good_port, good = await stack.enter_async_context(receiver(answer=True))
        dead = [await stack.enter_async_context(receiver(answer=False)) for _ in range(4)]
        urls = [f"http://127.0.0.1:{p}/h?token=SECRET{i}" for i, (p, _) in enumerate(dead)]
        store, hooks = await stack.enter_async_context(
            hooks_in(tmp_path, [*urls, f"http://127.0.0.1:{good_port}/h?token=SECRET"])
        )
        bus = MemoryBus()
        sender = WebhookSender(store, bus, attempts=2, backoff_s=0.05, allow_private=True,
                               timeout_s=0.3, pause_s=30.0)  # fmt: skip
        await sender.start()
        await asyncio.sleep(0.05)
        began = time.monotonic()
        for k in range(300):
            bus.publish("r", "incident", {"id": k, "level": "alert"})
        while len(good) < 300 and time.monotonic() - began < 20:
            await asyncio.sleep(0.02)
        took_s = time.monotonic() - began
        await asyncio.sleep(2.0)  # the dead ones: 3 calls of 2 attempts timed out, then paused
        states = [sender.status(h.id) for h in hooks]
        await sender.stop()
        await bus.close()
    assert len(good) == 300 and took_s < 5.0
    assert all(s["state"] == "paused" for s in states[:4]), states
    assert all(s["reason"] == "no answer within 0.3 s" for s in states[:4])
    assert all(s["queued"] > 250 for s in states[:4])  # waiting, not spun on
    assert states[4]["state"] == "ok" and states[4]["delivered"] == 300
    assert "SECRET" not in caplog.text and "paused" in caplog.text


@contextlib.asynccontextmanager
async def hq(tmp_path: Path, allow_private: bool) -> AsyncIterator[httpx.AsyncClient]:
    from coursewatch.web.app import create_app

    settings = dataclasses.replace(load_settings(), db_path=tmp_path / "hq.db", admin_token=ADMIN,
                                   webhook_allow_private=allow_private, tick_s=0)  # fmt: skip
    server = Server(settings)
    await server.start()
    app = create_app(server, manage=False)
    try:
        from coursewatch.sim.hq import add_race
        from coursewatch.sim.simulate import trail_course

        await add_race(server, tmp_path, trail_course(5_000.0), "demo", 1_780_000_000.0)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://hq",
                                     headers=headers) as client:  # fmt: skip
            yield client
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/api/races?token=x", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://localhost:9/hook", "localhost resolves to"),
        ("ftp://example.org/hook", "must start with http:// or https://"),
        ("http://100.100.100.200/latest/meta-data", "100.100.100.200 is a non-public address"),
        ("http://[2002:7f00:1::1]/hook", "127.0.0.1 is a loopback address"),
        ("http://2130706433/hook", "127.0.0.1 is a loopback address"),
        ("http://a..b/hook", "cannot resolve"),
    ],
)
async def test_receivers_inside_the_machine_or_its_network_are_refused(
    tmp_path: Path, url: str, why: str
) -> None:
    async with hq(tmp_path, allow_private=False) as client:
        r = await client.post("/api/races/demo/webhooks", json={"url": url})
        assert r.status_code == 422, r.text
        assert why in r.json()["error"]["message"]
        assert "COURSEWATCH_WEBHOOK_ALLOW_PRIVATE" in r.json()["error"]["message"]


async def test_a_lan_receiver_is_allowed_when_the_admin_says_so(tmp_path: Path) -> None:
    async with hq(tmp_path, allow_private=True) as client:
        r = await client.post("/api/races/demo/webhooks", json={"url": "http://10.1.2.3/hook"})
        assert r.status_code == 201
        listed = (await client.get("/api/races/demo/webhooks")).json()["webhooks"]
        assert listed[0]["state"] == "ok" and listed[0]["queued"] == 0


async def test_a_call_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A name is resolved and checked, then called at that address (its Host header and TLS
    name kept): a second resolution cannot send the call elsewhere (DNS rebinding)."""
    answers = iter([("93.184.216.34", 0), ("127.0.0.1", 0)])  # the name changes its mind

    async def getaddrinfo(self: object, host: str, *args: object, **kw: object) -> list[object]:
        return [(2, 1, 6, "", next(answers))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))
    async with hooks_in(tmp_path, ["https://hooks.example.org/in?token=SECRET"]) as (store, _):
        bus = MemoryBus()
        sender = WebhookSender(store, bus, transport=transport)
        await sender.start()
        await asyncio.sleep(0.01)
        bus.publish("r", "incident", {"id": 1})
        bus.publish("r", "incident", {"id": 2})
        for _ in range(100):
            if len(calls) + sender.status(1)["failed"] >= 2:
                break
            await asyncio.sleep(0.01)
        status = sender.status(1)
        await sender.stop()
        await bus.close()
    assert calls[0].url.host == "93.184.216.34" and calls[0].headers["host"] == "hooks.example.org"
    assert calls[0].extensions["sni_hostname"] == "hooks.example.org"
    assert len(calls) == 1 and status["failed"] == 1  # the second resolution: 127.0.0.1, refused
    assert "resolves to 127.0.0.1 is a loopback address" in status["last_error"]


async def test_past_the_queue_the_oldest_calls_are_dropped_and_a_removed_hook_cancelled(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver that never answers: past QUEUE_MAX calls waiting the oldest are marked
    failed (dropped), never the one being sent; removing the hook cancels what it still had."""
    monkeypatch.setattr(webhooks, "QUEUE_MAX", 5)
    async with contextlib.AsyncExitStack() as stack:
        port, got = await stack.enter_async_context(receiver(answer=False))
        store, (hook,) = await stack.enter_async_context(
            hooks_in(tmp_path, [f"http://127.0.0.1:{port}/h"], store_url)
        )
        bus = MemoryBus()
        sender = WebhookSender(store, bus, attempts=1, allow_private=True, timeout_s=30.0)
        await sender.start()
        await asyncio.sleep(0.05)
        for k in range(20):
            bus.publish("r", "incident", {"id": k, "level": "alert", "updates": [{"id": k}]})
        for _ in range(200):
            if len(got) == 1 and sender.status(hook.id)["dropped"] == 15:
                break
            await asyncio.sleep(0.01)
        rows = store.outbox.deliveries("r")
        states = [d.state for d in rows]
        assert sender.status(hook.id)["dropped"] == 15 and states.count("failed") == 15
        assert rows[0].state == "pending"  # the one in flight is not dropped
        await sender.forget(hook.id)
        states = [d.state for d in store.outbox.deliveries("r")]
        assert states.count("cancelled") == 5 and "pending" not in states
        await sender.stop()
        await bus.close()
