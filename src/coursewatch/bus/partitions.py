"""Fixes across machines: one Redis stream per partition of runners, each partition matched by
one worker at a time.

A web node appends each request's fixes to the streams of their runners' partitions
(:func:`partition`: crc32 of race and bib; one entry per partition a request touches): a
runner's fixes stay in the order they came. Workers read through one consumer group
(:data:`GROUP`) and hold a lease per partition (:class:`Leases`: a key with a time to live,
renewed every second), and match only the partitions they hold. A worker that dies stops
renewing; ``lease_s`` later its partitions are free, the others take them, put its runners
back in the state the store holds and claim (``XAUTOCLAIM``) what it had read but not
acknowledged. An entry is acknowledged (and
deleted) once its fixes are stored: at least once, and a fix played twice is a duplicate the
engine drops.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from coursewatch.protocols import Decoded, DeviceEvent, Fix

PARTITIONS = 16
GROUP = "matchers"
WORKERS = "cw:workers"  # sorted set: worker name -> last heartbeat (s)
OUTBOX = "outbox"  # the lease of the one worker that sends webhooks and notifications
LEASE_S = 5.0
# renew the lease only if it is still ours; give it up the same way
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"  # noqa: E501
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"  # noqa: E501


def partition(race_id: str, bib: str, n: int = PARTITIONS) -> int:
    """The partition of a runner: the same on every node."""
    return zlib.crc32(f"{race_id}\x00{bib}".encode()) % n


def stream_key(p: int) -> str:
    return f"cw:fixes:{p}"


def lease_key(p: int | str) -> str:
    return f"cw:lease:{p}"


@dataclass
class Entry:
    """One runner's part of one request, as the worker gets it."""

    race_id: str
    bib: str
    protocol: str
    received_s: float
    decoded: Decoded


def encode(
    protocol: str,
    received_s: float,
    runners: Iterable[tuple[str, str, Iterable[Fix], Iterable[DeviceEvent]]],
) -> dict[str, bytes]:
    """One stream entry: the fixes and device events of a request's runners of one partition
    (race, bib, fixes, events each)."""
    parts = [
        (race_id, bib,
         [(f.time_s, f.lat, f.lon, f.device_id, f.accuracy_m, f.speed_mps, f.bearing_deg,
           f.altitude_m, f.battery_pct) for f in fixes],
         [(e.time_s, e.kind, e.lat, e.lon, e.device_id, e.text) for e in events])
        for race_id, bib, fixes, events in runners
    ]  # fmt: skip
    # (NaN goes as null, read back as None or NaN)
    return {"b": orjson.dumps((protocol, received_s, parts))}


def decode(fields: dict[bytes, bytes]) -> list[Entry]:
    """A stream entry's runners, one :class:`Entry` each."""
    protocol, received_s, parts = orjson.loads(fields[b"b"])
    out = []
    for race_id, bib, fixes, events in parts:
        d = Decoded()
        for i, (t, lat, lon, dev, acc, speed, bearing, alt, batt) in enumerate(fixes):
            d.add(Fix(t, lat, lon, dev, bib, acc, speed, bearing, alt, batt), i)
        for t, kind, lat, lon, dev, text in events:
            lat = math.nan if lat is None else lat
            lon = math.nan if lon is None else lon
            d.events.append(DeviceEvent(t, kind, lat, lon, dev, bib, text))
        out.append(Entry(race_id, bib, protocol, float(received_s), d))
    return out


class Leases:
    """The partitions one worker holds. :meth:`beat` every second: renews them, notes the
    worker alive, and takes free partitions up to its fair share (all the partitions over the
    workers alive); what it holds over that share it is told to give back (:meth:`release`,
    once its runners' states are stored), so a worker that joins gets work."""

    def __init__(
        self, redis: aioredis.Redis, name: str, n: int = PARTITIONS, lease_s: float = LEASE_S
    ) -> None:
        self.redis = redis
        self.name = name
        self.n = n
        self.lease_ms = int(lease_s * 1000)
        self.mine: set[int] = set()
        self.fresh: list[int] = []  # taken, not yet returned by a beat (one that failed after)
        self.gone: list[int] = []  # lost, likewise
        self.outbox = False  # this worker sends the webhooks and notifications

    async def beat(self) -> tuple[list[int], list[int], list[int]]:
        """(taken, lost, surplus): partitions this worker took now, lost (its lease ran out:
        another may hold it), and holds over its share."""
        sec, usec = await self.redis.time()  # Redis's clock: every worker's the same
        now = sec + usec / 1e6
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(WORKERS, {self.name: now})
            pipe.zremrangebyscore(WORKERS, "-inf", now - self.lease_ms / 1000.0)
            pipe.zcard(WORKERS)
            held = sorted(self.mine)
            for p in held:
                pipe.eval(_RENEW, 1, lease_key(p), self.name, self.lease_ms)
            pipe.eval(_RENEW, 1, lease_key(OUTBOX), self.name, self.lease_ms)
            got = await pipe.execute()
        alive = max(int(got[2]), 1)
        self.gone += [p for p, ok in zip(held, got[3:-1], strict=True) if not ok]
        self.mine.difference_update(self.gone)
        self.outbox = bool(got[-1]) or bool(
            await self.redis.set(lease_key(OUTBOX), self.name, nx=True, px=self.lease_ms)
        )
        share = math.ceil(self.n / alive)
        first = zlib.crc32(self.name.encode()) % self.n  # workers try different ones first
        for k in range(self.n):
            if len(self.mine) >= share:
                break
            p = (first + k) % self.n
            if p not in self.mine and await self.redis.set(
                lease_key(p), self.name, nx=True, px=self.lease_ms
            ):
                self.mine.add(p)
                self.fresh.append(p)  # (Redis failing at the next one: returned next beat)
        taken, self.fresh = [p for p in self.fresh if p in self.mine], []
        lost, self.gone = self.gone, []
        surplus = sorted(self.mine)[share:] if len(self.mine) > share else []
        return taken, lost, surplus

    async def release(self, p: int) -> None:
        self.mine.discard(p)
        await self.redis.eval(_RELEASE, 1, lease_key(p), self.name)

    async def leave(self) -> None:
        """Give up every lease (a clean stop): the others take them at their next beat."""
        for p in sorted(self.mine):
            await self.release(p)
        if self.outbox:
            await self.redis.eval(_RELEASE, 1, lease_key(OUTBOX), self.name)
        await self.redis.zrem(WORKERS, self.name)
