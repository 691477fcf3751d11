"""Waiting in the server's background loops (feed polls, notifications)."""

from __future__ import annotations

import asyncio
import contextlib


async def nap(wake: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``wake`` is set or ``timeout_s`` has passed.

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancellation that lands as the event is set, and a loop around it then never stops.
    """
    wake.clear()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await wake.wait()
