"""Who gets in, before any work is done: rate limits, load shedding and the event-stream cap.

Everything here answers at the door, from the request line and the client's address alone: the
body is not read, nothing is decoded, nothing is stored.

- **Rate limits**: every client address (and every token, for clients that send one) has a
  token bucket for the ingest routes: ``ingest_rate_per_ip`` requests a second, bursts of twice
  that. Past it: 429 with ``Retry-After``.
- **Load shedding**: at most ``ingest_concurrency`` ingest requests are worked on at once and
  ``ingest_queue`` more wait their turn, each at most ``ingest_wait_s``. Past either: 503 with
  ``Retry-After`` (trackers send again), so what is accepted is answered fast and memory stays
  bounded. A request whose client went away while it waited is not worked on.
- **Event streams**: at most ``sse_max_per_ip`` open streams per address and ``sse_max`` in all
  (kept under the process's file-descriptor limit): past either, 503.

The counters (shed, limited, waiting now) are in the race's ``stats``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursewatch.errors import SettingsError
from coursewatch.web.errors import error_body
from coursewatch.web.guard import body_limit

OVERLOADED = "race HQ is at capacity"
PASSED = "coursewatch.passed_the_door"  # a scope key
BUCKETS_MAX = 10_000  # addresses and tokens remembered; the least recently seen go first


@dataclass
class Limits:
    rate_per_ip: float = 100.0  # ingest requests a second per address (and per token)
    concurrency: int = 4  # ingest requests worked on at once
    queue: int = 64  # ... and waiting their turn (32 phones posting at once must all get in)
    wait_s: float = 0.5  # longest wait for a turn
    sse_max: int = 1000
    sse_max_per_ip: int = 20
    body_s: float = 10.0  # an ingest body must arrive within this (uploads: 6x) ...
    body_bytes: int = 2 * 1024 * 1024  # ... and is read up to this (then the guard's 413)
    upload_bytes: int = 32 * 1024 * 1024
    readers_max: int = 256  # bodies being read at once

    def __post_init__(self) -> None:
        for name, value, low in (("ingest_rate_per_ip", self.rate_per_ip, 0.5),
                                 ("ingest_concurrency", self.concurrency, 1),
                                 ("ingest_queue", self.queue, 0),
                                 ("ingest_wait_s", self.wait_s, 0.0),
                                 ("sse_max", self.sse_max, 1),
                                 ("sse_max_per_ip", self.sse_max_per_ip, 1)):  # fmt: skip
            if not value >= low:
                raise SettingsError(f"setting COURSEWATCH_{name.upper()}={value}: give at "
                                    f"least {low:g}")  # fmt: skip


@dataclass
class Buckets:
    """Token buckets by key, in a bounded table."""

    rate: float
    burst: float
    table: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def take(self, key: str, now: float) -> float:
        """0 when a request may go; else the seconds until it may."""
        tokens, last = self.table.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.table[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self.table[key] = (tokens - 1.0, now)
        if len(self.table) > BUCKETS_MAX:
            self.table.popitem(last=False)
        return 0.0


def is_ingest(scope: Scope) -> bool:
    return ingest_request(scope["method"], scope["path"])


def ingest_request(method: str, path: str) -> bool:
    """Any request to a tracker's /ingest/ route, a POST of fixes or of a file."""
    return path.startswith("/ingest/") or (
        method == "POST" and path.endswith(("/fixes", "/upload"))
    )


def is_stream(scope: Scope) -> bool:
    path: str = scope["path"]
    return (
        scope["method"] in ("GET", "HEAD")
        and path.startswith("/api/races/")
        and (path.endswith("/events"))
    )


class Admission:
    """The ASGI middleware; one per app, sharing :class:`Gate` between the apps of a server.
    ``all_ingest``: every request is ingest (the OsmAnd port)."""

    def __init__(self, app: ASGIApp, gate: Gate, all_ingest: bool = False) -> None:
        self.app = app
        self.gate = gate
        self.all_ingest = all_ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif self.all_ingest or is_ingest(scope):
            await self.gate.ingest(self.app, scope, receive, send)
        elif is_stream(scope):
            await self.gate.stream(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)


class Gate:
    """The server's counters and queues; :class:`Admission` calls it per request."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buckets = Buckets(limits.rate_per_ip, 2.0 * limits.rate_per_ip)
        self.working = 0
        self.waiting: deque[asyncio.Future[bool]] = deque()
        self.reading = 0
        self.passed = 0  # let in by the door (web/door.py), not yet here
        self.streams: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    def full(self) -> bool:
        """Whether an ingest request arriving now would be refused 503 without waiting."""
        taken = self.working + len(self.waiting) + self.passed  # a body being read takes none
        return taken >= self.limits.concurrency + self.limits.queue or (
            self.reading + self.passed >= self.limits.readers_max
        )

    def let_in(self, scope: Scope) -> None:
        """The door let this ingest request in: count it as taken until it gets here (all
        the requests of one read from the network pass the door before the first gets here)."""
        scope[PASSED] = True
        self.passed += 1

    def snapshot(self) -> dict[str, int]:
        return {
            **self.stats,
            "ingest_working": self.working,
            "ingest_waiting": len(self.waiting),
            "ingest_passed": self.passed,
            "streams_open": sum(self.streams.values()),
        }

    async def ingest(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.pop(PASSED, False):
            self.passed -= 1
        now = time.monotonic()
        for key in _keys(scope):
            wait_s = self.buckets.take(key, now)
            if wait_s:
                self.stats["rate_limited"] += 1
                msg = f"too many requests from {key.split(':', 1)[0]}: at most "
                msg += f"{self.limits.rate_per_ip:g} a second"
                await refuse(send, 429, "rate_limited", msg, wait_s)
                return
        body = await self._body(scope, receive, send)
        if body is None:
            return
        if not await self._turn():
            self.stats["shed"] += 1
            await refuse(send, 503, "overloaded", OVERLOADED, 2.0)
            return
        try:
            if _gone(receive):
                self.stats["client_gone"] += 1
                return
            await app(scope, _replay(body, receive), send)
        finally:
            self._done()

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> list[Message] | None:
        """The request's body, read before it may take a worker place (a client trickling
        its body must not hold one); None when it was refused (too slow, too many reading)."""
        if self.reading >= self.limits.readers_max:
            self.stats["shed"] += 1
            await refuse(send, 503, "overloaded", OVERLOADED, 2.0)
            return None
        limit = body_limit(scope, self.limits.body_bytes, self.limits.upload_bytes)
        upload = limit > self.limits.body_bytes  # an upload: more time to arrive
        got: list[Message] = []
        seen = 0
        self.reading += 1
        try:
            async with asyncio.timeout(self.limits.body_s * (6 if upload else 1)):
                while seen <= limit:  # past it: the guard answers 413 from what was read
                    msg = await receive()
                    got.append(msg)
                    seen += len(msg.get("body", b""))
                    if msg["type"] != "http.request" or not msg.get("more_body"):
                        break
        except TimeoutError:
            self.stats["body_too_slow"] += 1
            await refuse(send, 408, "body_too_slow", f"the body did not arrive within "
                         f"{self.limits.body_s * (6 if upload else 1):g} s", 1.0)  # fmt: skip
            return None
        finally:
            self.reading -= 1
        return got

    async def _turn(self) -> bool:
        """Wait for a free worker place; False when the queue is full or the wait too long.
        (A future and a timer each: under overload thousands wait and give up every second.)"""
        if self.working < self.limits.concurrency and not self.waiting:
            self.working += 1
            return True
        if len(self.waiting) >= self.limits.queue:
            return False
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        self.waiting.append(turn)
        timer = loop.call_later(self.limits.wait_s, self._expire, turn)
        try:
            return await turn
        except asyncio.CancelledError:  # given the place just before: pass it on
            if turn.done() and not turn.cancelled() and turn.result():
                self._done()
            raise
        finally:
            timer.cancel()

    def _expire(self, turn: asyncio.Future[bool]) -> None:
        if not turn.done():
            turn.set_result(False)
            self.waiting.remove(turn)

    def _done(self) -> None:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(True)  # the place passes to the next in line
                return
        self.working -= 1

    async def stream(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        ip = _client(scope)
        total = sum(self.streams.values())
        if total >= self.limits.sse_max or self.streams[ip] >= self.limits.sse_max_per_ip:
            self.stats["streams_refused"] += 1
            mine = self.streams[ip] >= self.limits.sse_max_per_ip
            what = f"{ip} has {self.streams[ip]} streams open" if mine else f"{total} open"
            await refuse(send, 503, "too_many_streams", f"too many event streams: {what}", 30.0)
            return
        self.streams[ip] += 1
        try:
            await app(scope, receive, send)
        finally:
            self.streams[ip] -= 1
            if not self.streams[ip]:
                del self.streams[ip]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _keys(scope: Scope) -> list[str]:
    """The buckets a request takes from: its address, and a runner's own token (``r-...``,
    one device's) when it sends one. The race's ingest token is not one bucket: every phone
    and bridge of the race shares it."""
    keys = [f"{_client(scope)}:ip"]
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:9].lower() == b"bearer r-":
            keys.append(f"a runner's token:{hash(value[7:].strip())}")
    query: bytes = scope.get("query_string", b"")
    if b"token=r-" in query:
        keys.append(f"a runner's token:{hash(query.split(b'token=', 1)[1].split(b'&', 1)[0])}")
    return keys


def _replay(body: list[Message], receive: Receive) -> Receive:
    """A receive that gives the body already read, then listens to the client again."""
    queue = list(body)

    async def again() -> Message:
        return queue.pop(0) if queue else await receive()

    return again


def _gone(receive: Receive) -> bool:
    """Whether the client hung up while the request waited, without reading its body: uvicorn
    marks the request's cycle (``receive`` is its method); other servers: never known here."""
    cycle = getattr(receive, "__self__", None)
    return bool(getattr(cycle, "disconnected", False))


HINTS = {
    408: "send the whole body at once; retry",
    429: "send less often, or batch fixes; retry after the Retry-After seconds",
    503: "retry after the Retry-After seconds; nothing of this request was stored",
}


@functools.lru_cache(maxsize=256)
def _answer(status: int, code: str, message: str, retry_s: int) -> tuple[Message, Message]:
    """The two ASGI messages of a refusal, made once: under overload they go out thousands
    of times a second, and every microsecond spent on them is taken from the accepted ones."""
    data = json.dumps(error_body(status, code, message, "request", HINTS[status])).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            (b"retry-after", str(retry_s).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": data}


def overloaded_answer() -> tuple[Message, Message]:
    """The 503 of an ingest request refused at capacity."""
    return _answer(503, "overloaded", OVERLOADED, 2)


async def refuse(send: Send, status: int, code: str, message: str, retry_s: float) -> None:
    start, body = _answer(status, code, message, max(1, math.ceil(retry_s)))
    await send(start)
    await send(body)
