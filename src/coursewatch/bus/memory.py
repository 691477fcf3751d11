"""The in-process bus: one asyncio queue per listener, a ring of recent messages per race.

A listener that falls more than ``queue_size`` messages behind is dropped rather than allowed to
hold up ingest or grow memory; its stream ends and the client reconnects (SSE does that by itself)
with ``Last-Event-ID``, and gets what is still in the ring. Subscribing to ``"*"`` gets every
race's messages (the webhook sender does).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

from coursewatch.bus import Message

_CLOSED = Message("", "closed", {})
ALL = "*"


class MemoryBus:
    def __init__(self, queue_size: int = 20_000, ring_size: int = 5_000) -> None:
        self.queue_size = queue_size
        self.ring_size = ring_size
        self._seq = itertools.count(1)
        self._subs: dict[str, set[asyncio.Queue[Message]]] = {}
        self._kinds: dict[asyncio.Queue[Message], frozenset[str] | None] = {}
        self._ring: dict[str, deque[Message]] = {}
        self.dropped_listeners = 0

    def publish(self, race_id: str, kind: str, data: Mapping[str, Any]) -> Message:
        msg = Message(race_id, kind, data, next(self._seq))
        self.deliver(msg)
        return msg

    def deliver(self, msg: Message) -> None:
        """Hand ``msg`` (its ``seq`` as given) to the race's listeners and its ring."""
        race_id, kind = msg.race_id, msg.kind
        ring = self._ring.get(race_id)
        if ring is None:
            ring = self._ring[race_id] = deque(maxlen=self.ring_size)
        ring.append(msg)
        for key in (race_id, ALL):
            for q in list(self._subs.get(key, ())):
                kinds = self._kinds.get(q)
                if kinds is not None and kind not in kinds:
                    continue
                if q.qsize() >= self.queue_size:
                    self._drop(key, q)
                else:
                    q.put_nowait(msg)

    def _drop(self, key: str, q: asyncio.Queue[Message]) -> None:
        self._subs[key].discard(q)
        self.dropped_listeners += 1
        q.put_nowait(_CLOSED)  # may exceed the bound by one: it is the last message

    def listeners(self, race_id: str) -> int:
        return len(self._subs.get(race_id, ()))

    async def subscribe(
        self,
        race_id: str,
        after_seq: int | None = None,
        idle_s: float | None = None,
        kinds: frozenset[str] | None = None,
    ) -> AsyncIterator[Message]:
        q: asyncio.Queue[Message] = asyncio.Queue()
        if after_seq is not None:
            for msg in self._ring.get(race_id, ()):
                if msg.seq > after_seq and (kinds is None or msg.kind in kinds):
                    q.put_nowait(msg)
        self._subs.setdefault(race_id, set()).add(q)
        self._kinds[q] = kinds
        try:
            while True:
                try:  # asyncio.timeout: wait_for (3.11) can swallow a cancellation
                    async with asyncio.timeout(idle_s):
                        msg = await q.get()
                except TimeoutError:
                    yield Message(race_id, "ping", {})
                    continue
                if msg is _CLOSED:
                    return
                yield msg
        finally:
            self._subs.get(race_id, set()).discard(q)
            self._kinds.pop(q, None)

    async def close(self) -> None:
        for key, subs in self._subs.items():
            for q in list(subs):
                self._drop(key, q)
