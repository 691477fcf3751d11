"""How late the event loop runs what it was asked to: the server's own latency, in ``stats``.

Every ``every_s`` a task asks to be woken ``every_s`` later and notes how late it woke. Work
that holds the loop (a big upload parsed, a course modelled, a runner rebuilt) shows here as
lag; everything on the server (ingest, health, streams) waits that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque


class LoopLag:
    def __init__(self, every_s: float = 0.1, keep: int = 600) -> None:
        self.every_s = every_s
        self.lags_s: deque[float] = deque(maxlen=keep)  # the last minute at 0.1 s
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.every_s)
            lag = max(0.0, time.perf_counter() - asked - self.every_s)
            self.lags_s.append(lag)
            self.worst_s = max(self.worst_s, lag)

    def summary(self) -> dict[str, float]:
        """Milliseconds: the last, the worst of the last minute, the worst since start."""
        recent = list(self.lags_s)
        return {
            "last_ms": round(1e3 * recent[-1], 1) if recent else 0.0,
            "max_1min_ms": round(1e3 * max(recent), 1) if recent else 0.0,
            "max_ms": round(1e3 * self.worst_s, 1),
        }
