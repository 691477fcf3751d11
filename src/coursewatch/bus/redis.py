"""The bus across machines: every node's messages through Redis streams, each node's own
listeners (SSE clients, webhooks) served from an in-process :class:`MemoryBus`.

:meth:`RedisBus.publish` queues the message and returns at once (ingest never waits for
Redis); a writer task appends the queue (``XADD``, each stream capped near ``RING`` entries)
in pipelines: runner updates and status changes to ``cw:events``, incidents, flags and
acknowledgements to ``cw:alerts``, race HQ's changes to ``cw:config``. A reader task follows
the streams (``XREAD BLOCK``) and hands every message, this node's and the others', to the
local listeners in the order of their stream ids, its ``seq`` made from the id: the same on
every node, so an SSE client that reconnects to another node asks for what it missed with the
same ``Last-Event-ID``. A worker reads only the alerts and the changes (``everything``
False): the runner updates are the web nodes'.

The latest ``runner`` message of each runner is kept in a hash per race (``cw:views:<race>``)
with the time it was sent: a web node that starts mid-race shows every runner at once.
Messages of kind ``config`` (race HQ changed a race through another node) go to
``on_config``, never to listeners. While Redis is away, up to ``queue_max`` messages wait
(then the oldest are dropped and counted) and the reader tries again every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coursewatch.bus import Message
from coursewatch.bus.memory import MemoryBus

log = logging.getLogger("coursewatch.bus.redis")
EVENTS = "cw:events"  # runner updates, status changes: what the web nodes show
ALERTS = "cw:alerts"  # incidents, flags, acknowledgements: web nodes and the outbox's worker
CHANGES = "cw:config"  # race HQ changed a race through one node
BUSY = frozenset({"runner", "status"})
ALL_STREAMS = (EVENTS, ALERTS, CHANGES)
RING = 50_000  # messages the stream keeps: what a reconnecting listener can still get
BATCH = 1000
CONFIG = "config"


def stop_if_cancelled() -> None:
    """Raise CancelledError when the running task was asked to stop: redis-py now and then
    swallows a cancellation that comes in the middle of a pipeline and returns, and a loop
    that went on then never stopped (its stop waited for ever: a killed worker's in a test).
    Every loop that calls Redis checks at each turn."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def seq_of(stream_id: bytes, stream: int = 0) -> int:
    """A stream id (``<ms>-<n>``) of stream number ``stream`` (of at most 4) as one increasing
    integer, never the same for two streams."""
    ms, n = stream_id.split(b"-")
    return int(ms) << 22 | min(int(n), (1 << 20) - 1) << 2 | stream


def stream_of(kind: str) -> str:
    return EVENTS if kind in BUSY else CHANGES if kind == CONFIG else ALERTS


def views_key(race_id: str) -> str:
    return f"cw:views:{race_id}"


def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` (``redis://host:port/db``) that gives up on a call after 5 s."""
    return aioredis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=3.0)


class RedisBus:
    def __init__(
        self,
        url: str,
        on_config: Callable[[Message], None] | None = None,
        queue_max: int = 100_000,
        everything: bool = True,
    ) -> None:
        self.url = url
        self.streams = list(ALL_STREAMS) if everything else [ALERTS, CHANGES]
        self.local = MemoryBus()
        self.redis = connect(url)
        self.on_config = on_config
        self.queue_max = queue_max
        self.dropped = 0  # messages dropped while Redis was away
        self.up = False
        self.came_back = asyncio.Event()  # set when Redis answers again after being away
        self._out: deque[tuple[str, str, bytes, str | None]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Listen from the stream's end as it is now; raises if Redis cannot be reached."""
        last: dict[str, bytes] = {}
        for stream in self.streams:
            newest: Any = await self.redis.xrevrange(stream, count=1)
            last[stream] = newest[0][0] if newest else b"0-0"
        self.up = True
        self._tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._read(last))]

    def publish(self, race_id: str, kind: str, data: Mapping[str, Any]) -> Message:
        if len(self._out) >= self.queue_max:
            self._out.popleft()
            self.dropped += 1
        bib = str(data.get("bib")) if kind == "runner" else None
        self._out.append((race_id, kind, orjson.dumps(data), bib))
        self._wake.set()
        return Message(race_id, kind, data)

    async def _write(self) -> None:
        while True:
            stop_if_cancelled()
            if not self._out:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._out.popleft() for _ in range(min(len(self._out), BATCH))]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    now = time.time()
                    for race_id, kind, body, bib in batch:
                        fields = {"r": race_id, "k": kind, "d": body}
                        pipe.xadd(stream_of(kind), fields, maxlen=RING, approximate=True)  # type: ignore[arg-type]
                        if bib is not None:
                            pipe.hset(views_key(race_id), bib, b"[%r," % now + body + b"]")
                    await pipe.execute()
            except (RedisError, OSError) as exc:  # back at the front, in order (some may
                self._out.extendleft(reversed(batch))  # have gone: listeners get them twice)
                while len(self._out) > self.queue_max:
                    self._out.popleft()
                    self.dropped += 1
                self._away(exc)
                await asyncio.sleep(1.0)

    async def _read(self, last: dict[str, bytes]) -> None:
        while True:
            stop_if_cancelled()
            try:
                got: Any = await self.redis.xread(last, count=BATCH, block=1000)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                self._away(exc)
                await asyncio.sleep(1.0)
                continue
            if not self.up:
                log.warning("Redis is back")
                self.came_back.set()
            self.up = True
            read: list[tuple[int, dict[bytes, bytes]]] = []
            for stream, entries in got:
                name = stream.decode()
                last[name] = entries[-1][0]
                number = ALL_STREAMS.index(name)
                read.extend((seq_of(sid, number), fields) for sid, fields in entries)
            read.sort(key=lambda r: r[0])  # the streams' messages in the order they came
            for seq, fields in read:
                try:
                    msg = Message(fields[b"r"].decode(), fields[b"k"].decode(),
                                  orjson.loads(fields[b"d"]), seq)  # fmt: skip
                    if msg.kind != CONFIG:
                        self.local.deliver(msg)
                    elif self.on_config is not None:
                        self.on_config(msg)
                except Exception:  # one bad message must not stop the others
                    log.exception("a bus message could not be read")

    def _away(self, exc: BaseException) -> None:
        if self.up:
            log.warning("Redis unreachable (%s): messages wait, listeners get none", exc)
        self.up = False

    async def views(self, race_id: str) -> dict[str, tuple[float, dict[str, Any]]]:
        """The latest runner update of each runner of a race: bib -> (time sent, update)."""
        raw: Any = await self.redis.hgetall(views_key(race_id))
        out: dict[str, tuple[float, dict[str, Any]]] = {}
        for bib, value in raw.items():
            sent_s, data = orjson.loads(value)
            out[bib.decode()] = (float(sent_s), data)
        return out

    def subscribe(
        self,
        race_id: str,
        after_seq: int | None = None,
        idle_s: float | None = None,
        kinds: frozenset[str] | None = None,
    ) -> AsyncIterator[Message]:
        return self.local.subscribe(race_id, after_seq, idle_s, kinds)

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every published message is in Redis (at most ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while self._out and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self._out

    async def close(self) -> None:
        await self.flush()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.local.close()
        await self.redis.aclose()
