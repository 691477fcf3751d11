"""Webhooks: every HQ incident of a race (opened, updated, closed, acknowledged) POSTed to the
URLs the race registered.

Each call is signed so the receiver can check it came from this server and was not replayed::

    X-Coursewatch-Timestamp: 1721395635
    X-Coursewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

Every hook is its own lane (:class:`HookLane`): its own queue (bounded: past ``QUEUE_MAX`` the
oldest call waiting is dropped and counted), its own HTTP client with one connection and a
``TIMEOUT_S`` timeout, calls in order. A slow or dead receiver only ever delays itself: never
ingest, never the other hooks. A failed call (network error, timeout, 5xx, 408, 429) is retried
with exponential backoff (``backoff_s``, then twice that, ...) up to ``attempts`` times; other
4xx answers are final. After ``PAUSE_AFTER`` calls in a row that failed, the hook is *paused*
for ``PAUSE_S`` (doubling, at most an hour), its reason shown in ``GET .../webhooks``; calls
keep queueing meanwhile. Deliveries live in memory: a restart forgets the ones still waiting.

Logs name a hook by its id and host only: a URL may carry a secret.

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
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import httpx

from coursewatch.bus import Bus, Message
from coursewatch.live.targets import checked_target, host_of, pinned
from coursewatch.store import Store, Webhook

log = logging.getLogger("coursewatch.live.webhooks")
# httpx logs every request's full URL at INFO: a receiver's URL may carry its token
logging.getLogger("httpx").setLevel(logging.WARNING)
KINDS = ("incident", "incident_ack")  # race HQ's incidents: opened, updated, closed, acked
RETRY_STATUS = {408, 429}
QUEUE_MAX = 1000  # calls waiting per hook
TIMEOUT_S = 5.0  # per call: connect, send, answer
PAUSE_AFTER = 3  # calls in a row that failed
PAUSE_S = 60.0  # first pause; doubles while the hook keeps failing
PAUSE_MAX_S = 3600.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of one call."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass(frozen=True)
class Outcome:
    """One call's result: ``ok``, ``retry`` or ``final``, and what happened, in words."""

    kind: str
    reason: str = ""


class HookLane:
    """One hook's queue, client and worker: deliveries in order, isolated from the others."""

    def __init__(self, hook: Webhook, sender: WebhookSender) -> None:
        self.hook = hook
        self.sender = sender
        self.queue: deque[Message] = deque()
        self.wake = asyncio.Event()
        self.client = httpx.AsyncClient(
            transport=sender.transport,
            timeout=sender.timeout_s,
            limits=httpx.Limits(max_connections=1),
            follow_redirects=False,
        )
        self.stats: Counter[str] = Counter()
        self.failed_in_row = 0
        self.paused_until = 0.0
        self.pause_s = sender.pause_s
        self.last_error = ""
        self.task = asyncio.create_task(self._run())

    @property
    def name(self) -> str:
        return f"webhook {self.hook.id} ({host_of(self.hook.url)})"

    def put(self, msg: Message) -> None:
        if len(self.queue) >= QUEUE_MAX:
            self.queue.popleft()
            self.stats["dropped"] += 1
        self.queue.append(msg)
        self.wake.set()

    def status(self) -> dict[str, Any]:
        paused = self.paused_until > time.monotonic()
        return {
            "state": "paused" if paused else "ok",
            "reason": self.last_error if paused else "",
            "paused_s": round(max(0.0, self.paused_until - time.monotonic())),
            "queued": len(self.queue),
            "last_error": self.last_error,
            **{k: self.stats[k] for k in ("delivered", "failed", "retries", "dropped")},
        }

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            while not self.queue:
                self.wake.clear()
                await self.wake.wait()
            wait_s = self.paused_until - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            msg = self.queue.popleft()
            if await self.deliver(msg):
                self.failed_in_row, self.pause_s = 0, self.sender.pause_s
                continue
            self.failed_in_row += 1
            if self.failed_in_row >= PAUSE_AFTER:
                self.paused_until = time.monotonic() + self.pause_s
                log.warning("%s paused %.0f s: %s", self.name, self.pause_s, self.last_error)
                self.pause_s = min(PAUSE_MAX_S, 2 * self.pause_s)

    async def deliver(self, msg: Message) -> bool:
        """POST one message, retrying; True once a 2xx answer came."""
        body = json.dumps(
            {"event": msg.kind, "race": msg.race_id, "seq": msg.seq, "data": dict(msg.data)},
            separators=(",", ":"),
        ).encode()
        delay = self.sender.backoff_s
        for attempt in range(1, self.sender.attempts + 1):
            outcome = await self._post(body, msg.kind)
            if outcome.kind == "ok":
                self._count("delivered")
                return True
            self.last_error = outcome.reason
            if outcome.kind == "final" or attempt == self.sender.attempts:
                break
            self._count("retries")
            await asyncio.sleep(delay)
            delay *= 2
        self._count("failed")
        log.warning("%s: gave up on %s #%s: %s", self.name, msg.kind, msg.seq, self.last_error)
        return False

    def _count(self, what: str) -> None:
        self.stats[what] += 1
        self.sender.stats[what] += 1

    async def _post(self, body: bytes, kind: str) -> Outcome:
        refused, address = await checked_target(self.hook.url, self.sender.allow_private)
        if refused:  # checked at every call: the name may resolve elsewhere by now
            return Outcome("final", refused)
        url, extensions = self.hook.url, dict[str, str]()
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "coursewatch-webhooks",
            "X-Coursewatch-Event": kind,
            "X-Coursewatch-Timestamp": str(ts),
            "X-Coursewatch-Signature": sign(self.hook.secret, ts, body),
        }
        if address is not None:  # to the address checked, not to what the name says next
            url, host, extensions = pinned(self.hook.url, address)
            headers.update(host)
        try:
            r = await self.client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException:
            return Outcome("retry", f"no answer within {self.sender.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Outcome("retry", f"{type(exc).__name__}: cannot reach {host_of(self.hook.url)}")
        if 200 <= r.status_code < 300:
            return Outcome("ok")
        reason = f"answered HTTP {r.status_code}"
        if r.status_code >= 500 or r.status_code in RETRY_STATUS:
            return Outcome("retry", reason)
        return Outcome("final", reason)


class WebhookSender:
    """Listens to the bus and hands race HQ's incidents to a lane per hook."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        attempts: int = 6,
        backoff_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_private: bool = False,
        timeout_s: float = TIMEOUT_S,
        pause_s: float = PAUSE_S,
    ) -> None:
        self.store = store
        self.bus = bus
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.transport = transport
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.pause_s = pause_s
        self.stats: Counter[str] = Counter()
        self.lanes: dict[int, HookLane] = {}
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for lane in list(self.lanes.values()):
            await lane.close()
        self.lanes.clear()

    def status(self, hook_id: int) -> dict[str, Any]:
        lane = self.lanes.get(hook_id)
        if lane is None:
            return {"state": "ok", "reason": "", "queued": 0, "delivered": 0, "failed": 0}
        return lane.status()

    async def forget(self, hook_id: int) -> None:
        """The hook was removed: its lane and what it still held go."""
        lane = self.lanes.pop(hook_id, None)
        if lane is not None:
            await lane.close()

    async def _listen(self) -> None:
        async for msg in self.bus.subscribe("*", kinds=frozenset(KINDS)):
            for hook in self.store.webhooks(msg.race_id):
                lane = self.lanes.get(hook.id)
                if lane is None:
                    lane = self.lanes[hook.id] = HookLane(hook, self)
                lane.put(msg)
