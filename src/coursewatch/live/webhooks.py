"""Webhooks: every HQ incident of a race (opened, updated, closed, acknowledged) POSTed to the
URLs the race registered.

Each call is signed so the receiver can check it came from this server and was not replayed::

    X-Coursewatch-Timestamp: 1721395635
    X-Coursewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A failed call (network error, 5xx, 408, 429) is retried with exponential backoff (``backoff_s``,
then twice that, ...) up to ``attempts`` times; other 4xx answers are final. Deliveries live in
memory: a restart forgets the ones still being retried.

>>> sign("s3cret", 1721395635, b'{"a":1}')
'sha256=e7aa605d20c6b7829864994b1ec1014322e1ab413683a199674f4e15459c8f2a'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from typing import Any

import httpx

from coursewatch.bus import Bus, Message
from coursewatch.store import Store, Webhook

log = logging.getLogger("coursewatch.live.webhooks")
KINDS = ("incident", "incident_ack")  # race HQ's incidents: opened, updated, closed, acked
RETRY_STATUS = {408, 429}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of one call."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookSender:
    """Listens to the bus and delivers alert messages to each race's webhooks."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        attempts: int = 6,
        backoff_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.client = httpx.AsyncClient(transport=transport, timeout=10.0)
        self.stats: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        tasks: list[asyncio.Task[Any]] = [
            *self._tasks,
            *([self._listener] if self._listener else []),
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()

    async def _listen(self) -> None:
        async for msg in self.bus.subscribe("*", kinds=frozenset(KINDS)):
            for hook in self.store.webhooks(msg.race_id):
                task = asyncio.create_task(self.deliver(hook, msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def deliver(self, hook: Webhook, msg: Message) -> bool:
        """POST one message to one hook, retrying; True once a 2xx answer came."""
        body = json.dumps(
            {"event": msg.kind, "race": msg.race_id, "seq": msg.seq, "data": dict(msg.data)},
            separators=(",", ":"),
        ).encode()
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            ts = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "coursewatch-webhooks",
                "X-Coursewatch-Event": msg.kind,
                "X-Coursewatch-Timestamp": str(ts),
                "X-Coursewatch-Signature": sign(hook.secret, ts, body),
            }
            outcome = await self._post(hook.url, body, headers)
            if outcome == "ok":
                self.stats["delivered"] += 1
                return True
            if outcome == "final" or attempt == self.attempts:
                break
            self.stats["retries"] += 1
            await asyncio.sleep(delay)
            delay *= 2
        self.stats["failed"] += 1
        log.warning("webhook %s: giving up on %s #%s", hook.url, msg.kind, msg.seq)
        return False

    async def _post(self, url: str, body: bytes, headers: dict[str, Any]) -> str:
        try:
            r = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook %s: %s", url, exc)
            return "retry"
        if 200 <= r.status_code < 300:
            return "ok"
        if r.status_code >= 500 or r.status_code in RETRY_STATUS:
            return "retry"
        return "final"
