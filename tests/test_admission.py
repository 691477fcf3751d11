"""The door as a state machine: places, a bounded queue, waits that give up, cancelled waiters
passing their place on, token buckets."""

from __future__ import annotations

import asyncio

import pytest

from coursewatch.errors import SettingsError
from coursewatch.web.admission import Buckets, Gate, Limits

pytestmark = pytest.mark.anyio


async def test_one_works_one_waits_its_turn_the_next_is_refused() -> None:
    gate = Gate(Limits(concurrency=1, queue=1, wait_s=1.0))
    assert await gate._turn()
    waiter = asyncio.ensure_future(gate._turn())
    await asyncio.sleep(0)
    assert not await gate._turn()  # the queue is full
    gate._done()  # the first is done: its place passes to the waiter
    assert await waiter and gate.working == 1
    gate._done()
    assert gate.working == 0 and not gate.waiting


async def test_a_wait_gives_up_after_wait_s() -> None:
    gate = Gate(Limits(concurrency=1, queue=4, wait_s=0.05))
    assert await gate._turn()
    assert not await gate._turn()  # waited 50 ms, no place came
    assert not gate.waiting and gate.working == 1


async def test_a_cancelled_waiter_does_not_keep_a_place() -> None:
    gate = Gate(Limits(concurrency=1, queue=4, wait_s=5.0))
    assert await gate._turn()
    waiter = asyncio.ensure_future(gate._turn())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    gate._done()  # nobody live waits: the place is free again
    assert gate.working == 0
    assert await gate._turn()


def test_a_bucket_lets_a_burst_through_then_the_rate() -> None:
    b = Buckets(rate=10.0, burst=20.0)
    assert [b.take("a", 0.0) for _ in range(20)] == [0.0] * 20
    assert b.take("a", 0.0) == pytest.approx(0.1)  # the 21st waits a tenth of a second
    assert b.take("a", 0.1) == 0.0 and b.take("b", 0.1) == 0.0  # others have their own


@pytest.mark.parametrize(
    "bad", [{"rate_per_ip": 0.0}, {"rate_per_ip": 0.2}, {"concurrency": 0}, {"sse_max": 0}]
)
def test_settings_that_would_refuse_everything_are_refused_at_start(bad: dict[str, float]) -> None:
    with pytest.raises(SettingsError, match="give at least"):
        Limits(**bad)  # type: ignore[arg-type]
