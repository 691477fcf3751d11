"""Webhooks: every HQ incident of a race (opened, updated, closed, acknowledged) POSTed to the
URLs the race registered.

Each call is signed so the receiver can check it came from this server and was not replayed,
and names its delivery, the same at every attempt and after a restart::

    X-Coursewatch-Timestamp: 1721395635
    X-Coursewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    X-Coursewatch-Delivery: incident-12-8   (event, incident id, its state: de-duplicate by it)

Each call is a row of the store's outbox (role ``webhook``), stored before it is sent and
marked sent or failed after: a restart sends what was still waiting (at least once; a call in
flight at a kill comes again, with the same delivery id). What a bus listener missed while the
server was down (incidents updated after the last it stored) is stored at the start.

Every hook is its own lane (:class:`HookLane`): its own HTTP client with one connection and a
``TIMEOUT_S`` timeout, calls in order. A slow or dead receiver only ever delays itself: never
ingest, never the other hooks. Past ``QUEUE_MAX`` calls waiting, the oldest is marked failed
(dropped) and counted. A failed call (network error, timeout, 5xx, 408, 429) is retried
with exponential backoff (``backoff_s``, then twice that, ...) up to ``attempts`` times; other
4xx answers are final. After ``PAUSE_AFTER`` calls in a row that failed, the hook is *paused*
for ``PAUSE_S`` (doubling, at most an hour), its reason shown in ``GET .../webhooks``; calls
keep queueing meanwhile.

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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from coursewatch.bus import Bus, Message
from coursewatch.incidents import ALERT, priority
from coursewatch.live.announce import MISSED_RETRY_S, Missed, since_seen, sweep_forever
from coursewatch.live.targets import checked_target, host_of, pinned
from coursewatch.live.views import incident_json
from coursewatch.store import Delivery, Incident, Store, Webhook

log = logging.getLogger("coursewatch.live.webhooks")
# httpx logs every request's full URL at INFO: a receiver's URL may carry its token
logging.getLogger("httpx").setLevel(logging.WARNING)
KINDS = ("incident", "incident_ack")  # race HQ's incidents: opened, updated, closed, acked
RETRY_STATUS = {408, 429}
QUEUE_MAX = 1000  # calls waiting per hook
SEEN_KEY = "webhooks/seen_event"  # the newest event whose calls were stored
STORE_RETRY_S = 2.0  # the store was away: a lane tries again after this
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
    """One hook's calls (the outbox's rows for it), client and worker: in order, isolated
    from the others."""

    def __init__(self, hook: Webhook, sender: WebhookSender) -> None:
        self.hook = hook
        self.sender = sender
        self.recipient = recipient_of(hook)
        self.waiting = sender.store.outbox.pending_count(self.recipient)
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
        self.taken: set[int] = set()  # the calls being sent now (not dropped meanwhile)
        self.task = asyncio.create_task(self._run())

    @property
    def name(self) -> str:
        return f"webhook {self.hook.id} ({host_of(self.hook.url)})"

    async def added(self, n: int) -> None:
        """``n`` calls were stored for this hook: past QUEUE_MAX waiting, the oldest not
        being sent go."""
        self.waiting += n
        if self.waiting > QUEUE_MAX:
            outbox = self.sender.store.outbox
            excess = self.waiting - QUEUE_MAX
            rows = outbox.pending(self.recipient, limit=excess + len(self.taken))
            old = [d.id for d in rows if d.id not in self.taken][:excess]
            await outbox.mark(old, "failed", 0, time.time(),
                              f"dropped: more than {QUEUE_MAX} calls waiting", None)  # fmt: skip
            self.stats["dropped"] += len(old)
            self.waiting -= len(old)
        self.wake.set()

    def status(self) -> dict[str, Any]:
        paused = self.paused_until > time.monotonic()
        return {
            "state": "paused" if paused else "ok",
            "reason": self.last_error if paused else "",
            "paused_s": round(max(0.0, self.paused_until - time.monotonic())),
            "queued": self.waiting,
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
            try:
                await self._send_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away (or worse): tried again soon
                log.warning("%s: %s", self.name, exc)
                await asyncio.sleep(STORE_RETRY_S)

    async def _send_pending(self) -> None:
        outbox = self.sender.store.outbox
        while True:
            rows = outbox.pending(self.recipient, limit=100)
            self.taken = {d.id for d in rows}
            if not rows:
                self.waiting = 0
                self.wake.clear()
                await self.wake.wait()
                continue
            for d in rows:
                wait_s = self.paused_until - time.monotonic()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                ok, attempts = await self.deliver(d)
                state, error = ("sent", "") if ok else ("failed", self.last_error)
                now = time.time()
                await outbox.mark([d.id], state, attempts, now, error, now if ok else None)
                self.waiting = max(0, self.waiting - 1)
                if ok:
                    self.failed_in_row, self.pause_s = 0, self.sender.pause_s
                    continue
                self.failed_in_row += 1
                if self.failed_in_row >= PAUSE_AFTER:
                    self.paused_until = time.monotonic() + self.pause_s
                    log.warning("%s paused %.0f s: %s", self.name, self.pause_s, self.last_error)
                    self.pause_s = min(PAUSE_MAX_S, 2 * self.pause_s)

    async def deliver(self, d: Delivery) -> tuple[bool, int]:
        """POST one call, retrying; (True once a 2xx answer came, the attempts made)."""
        delay = self.sender.backoff_s
        attempt = 0
        for attempt in range(1, self.sender.attempts + 1):
            outcome = await self._post(d.body.encode(), d.title, delivery_id(d))
            if outcome.kind == "ok":
                self._count("delivered")
                return True, attempt
            self.last_error = outcome.reason
            if outcome.kind == "final" or attempt == self.sender.attempts:
                break
            self._count("retries")
            await asyncio.sleep(delay)
            delay *= 2
        self._count("failed")
        log.warning("%s: gave up on %s: %s", self.name, delivery_id(d), self.last_error)
        return False, attempt

    def _count(self, what: str) -> None:
        self.stats[what] += 1
        self.sender.stats[what] += 1

    async def _post(self, body: bytes, kind: str, delivery: str) -> Outcome:
        refused, address = await checked_target(self.hook.url, self.sender.allow_private)
        if refused:  # checked at every call: the name may resolve elsewhere by now
            return Outcome("final", refused)
        url, extensions = self.hook.url, dict[str, str]()
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "coursewatch-webhooks",
            "X-Coursewatch-Event": kind,
            "X-Coursewatch-Delivery": delivery,
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
        self._seen = 0  # the newest event whose calls are stored
        self._missed = Missed()  # messages whose calls the store refused
        self._noted = 0.0  # when the newest event seen was last stored
        self.sweeps = False  # several machines: sweep the store too (live/announce.py)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """A lane for every hook, each sending what its outbox rows still hold, after the
        calls a restart missed are stored; then the bus is listened to."""
        for race in self.store.races():
            for hook in self.store.webhooks(race.id):
                self._lane(hook)
        await self.recover()
        self._listener = asyncio.create_task(self._listen())
        if self.sweeps:  # several machines: what a killed worker did not put on the bus
            self._sweeper = asyncio.create_task(sweep_forever(self.store, self._announce))

    async def _announce(self, incidents: list[Incident]) -> None:
        for i in incidents:
            if i.level == ALERT:
                await self.enqueue(i.race_id, "incident", incident_json(i), 0)

    async def stop(self) -> None:
        for task in (self._listener, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for lane in list(self.lanes.values()):
            await lane.close()
        self.lanes.clear()

    def status(self, hook_id: int) -> dict[str, Any]:
        lane = self.lanes.get(hook_id)
        if lane is None:
            return {"state": "ok", "reason": "", "queued": 0, "delivered": 0, "failed": 0}
        return lane.status()

    async def forget(self, hook_id: int) -> None:
        """The hook was removed: its lane goes, and the calls it still had are cancelled."""
        lane = self.lanes.pop(hook_id, None)
        if lane is not None:
            await lane.close()
            outbox = self.store.outbox
            while rows := outbox.pending(lane.recipient, limit=1000):
                await outbox.mark([d.id for d in rows], "cancelled", 0, time.time(),
                                  "the webhook was removed", None)  # fmt: skip

    def _lane(self, hook: Webhook) -> HookLane:
        lane = self.lanes.get(hook.id)
        if lane is None:
            lane = self.lanes[hook.id] = HookLane(hook, self)
        return lane

    async def enqueue(self, race_id: str, kind: str, data: Mapping[str, Any], seq: int) -> None:
        """Store a call to each of the race's hooks about one incident event."""
        hooks = self.store.webhooks(race_id)
        if not hooks:
            return
        update_n = version(data)
        body = json.dumps({"event": kind, "race": race_id, "seq": seq, "data": dict(data)},
                          separators=(",", ":"))  # fmt: skip
        now, bib = time.time(), str(data.get("bib", ""))
        rows = [Delivery(race_id, int(data.get("id", 0)), update_n, recipient_of(h), "webhook",
                         bib, h.url, kind, body, priority(str(data.get("kind", ""))), now, now)
                for h in hooks]  # fmt: skip
        if await self.store.outbox.add(rows):
            for hook in hooks:
                await self._lane(hook).added(1)

    async def recover(self) -> None:
        """Race HQ's incidents updated while nobody stored their calls (the server was down
        between storing an incident and its calls) get them now; an acknowledgement made
        then is not sent again."""
        incidents, newest = since_seen(self.store, SEEN_KEY)
        for i in incidents:
            if i.level == ALERT:
                await self.enqueue(i.race_id, "incident", incident_json(i), 0)
        self._seen = max(self._seen, newest)
        await self.store.set_meta(SEEN_KEY, str(self._seen))

    async def _listen(self) -> None:
        while True:  # a subscription the bus dropped (too slow) is taken again (what it
            # missed: recovered from the store); a quiet bus pings every MISSED_RETRY_S
            async for msg in self.bus.subscribe("*", idle_s=MISSED_RETRY_S, kinds=frozenset(KINDS)):
                await self._missed.handle(msg, self._store_calls, self.recover, "webhook calls")
            await self.recover()

    async def _store_calls(self, msg: Message) -> None:
        await self.enqueue(msg.race_id, msg.kind, msg.data, msg.seq)
        ids = [int(u.get("id", 0)) for u in msg.data.get("updates", ())]
        self._seen = max([self._seen, *ids])  # never back: an old incident's ack
        if time.monotonic() - self._noted > 1.0:  # where a restart looks from
            self._noted = time.monotonic()
            await self.store.set_meta(SEEN_KEY, str(self._seen))


def recipient_of(hook: Webhook) -> str:
    return f"webhook:{hook.id}"


def version(data: Mapping[str, Any]) -> int:
    """Which state of an incident a call tells (its outbox key with the incident and hook):
    4 x the id of its newest event (a late fix may take updates back: a count of them comes
    again), + 2 once retracted, + 1 once acknowledged. A call about the same state is stored
    once (the live listener and the recovery at start may both store it)."""
    newest = max((int(u.get("id", 0)) for u in data.get("updates", ())), default=0)
    return 4 * newest + 2 * bool(data.get("retracted")) + (data.get("ack_by") is not None)


def delivery_id(d: Delivery) -> str:
    """What the receiver can de-duplicate by: the event, the incident and its state."""
    return f"{d.title}-{d.incident_id}-{d.update_n}"
