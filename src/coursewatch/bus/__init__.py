"""Publish what happened (fixes, status changes, alerts) to whoever listens: SSE, webhooks.

:class:`Bus` is the interface; :class:`coursewatch.bus.memory.MemoryBus` the in-process default.
A Redis Streams bus can come later behind the same three methods. Messages carry a per-race,
increasing ``seq`` so a reconnecting listener can ask for what it missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One published event: ``kind`` is runner, status, incident, flag or incident_ack."""

    race_id: str
    kind: str
    data: Mapping[str, Any]
    seq: int = 0


class Bus(Protocol):
    def publish(self, race_id: str, kind: str, data: Mapping[str, Any]) -> Message: ...

    def subscribe(
        self,
        race_id: str,
        after_seq: int | None = None,
        idle_s: float | None = None,
        kinds: frozenset[str] | None = None,
    ) -> AsyncIterator[Message]:
        """Messages of a race (``"*"``: all) from now on, or from just after ``after_seq`` when
        still held; only ``kinds`` if given; a ``ping`` after ``idle_s`` seconds without any."""
        ...

    async def close(self) -> None: ...


__all__ = ["Bus", "Message"]
