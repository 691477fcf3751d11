"""A matcher worker (``coursewatch worker``): one of several, each matching the runners of the
partitions it holds (:mod:`coursewatch.bus.partitions`).

It is a :class:`~coursewatch.live.server.Server` in the worker role (races and registrations
from the store, the pipeline, the store, the Redis bus) and three loops:

- **leases**, every second: renew, take free partitions up to a fair share, give back what
  is over it (its runners' states stored first), so workers that join or die share the load;
- **read**: ``XREADGROUP`` over the partitions held and ready; each entry through the
  pipeline as the request it came in (its fixes, its device's words, when the web node got
  it); acknowledged (and deleted) once stored, read again from the pending list if not;
- the server's **ticker**: the clock-driven detectors of the runners held.

**Taking a partition**: its runners go back to the state the store holds (their state, then
the fixes stored after it played again: :meth:`Pipeline.put_back`), then what the previous
holder had read and not acknowledged is claimed (``XAUTOCLAIM``) and played (a fix already
stored is a duplicate the engine drops), then new entries are read. How long that took is
logged, with the runners and fixes it played.

The worker holding the ``outbox`` lease also sends the webhooks and notifications and polls
the runners' feeds (into the fix streams, like a web node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError, ResponseError

from coursewatch.bus.partitions import (
    GROUP,
    LEASE_S,
    PARTITIONS,
    Entry,
    Leases,
    decode,
    partition,
    stream_key,
)
from coursewatch.bus.redis import stop_if_cancelled
from coursewatch.errors import SettingsError
from coursewatch.live.node import WORKER
from coursewatch.live.server import Server
from coursewatch.settings import Settings

log = logging.getLogger("coursewatch.worker")
READ_COUNT = 500
READ_BLOCK_MS = 500
CLAIM_EVERY_S = 5.0  # how often entries pending too long with another worker are claimed
CLAIM_IDLE_MS = 15_000  # (a worker that lost a partition while it stalled, say)
UNKNOWN_HOLD_S = 120.0  # an entry for a runner not (yet) known is left pending this long


@dataclass
class Took:
    """What taking partitions did."""

    partitions: list[int]
    runners: int
    replayed_fixes: int
    claimed: int
    seconds: float


class Worker:
    def __init__(
        self,
        settings: Settings,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        partitions: int = PARTITIONS,
        lease_s: float = LEASE_S,
        on_took: Callable[[Took], None] | None = None,
    ) -> None:
        if not settings.bus:
            raise SettingsError("a worker needs the bus: give --bus redis://host:port/0")
        self.server = Server(settings, clock=clock, role=WORKER)
        bus = self.server.redis_bus
        assert bus is not None
        self.redis = bus.redis
        self.name = name or self.server.node
        self.partitions = partitions
        self.leases = Leases(self.redis, self.name, partitions, lease_s)
        self.beat_s = min(1.0, lease_s / 4)  # renewed well before the lease runs out
        self.ready: set[int] = set()  # partitions taken and caught up: read from
        self.took: list[Took] = []
        self.on_took = on_took
        self.played = 0  # entries played
        # partitions whose own pending entries are read again: from after this entry id
        self._retry: dict[int, bytes | str] = {}
        self._busy = asyncio.Lock()  # held while a read's entries are played
        # partitions to take or give back, one at a time (the leases renew meanwhile)
        self._jobs: asyncio.Queue[tuple[bool, list[int]]] = asyncio.Queue()
        self._leaving: set[int] = set()  # being given back: still ours, no longer read
        self._reads = 0  # reads done: a give-back waits for the one under way to end
        self._idle_claimed_s = 0.0
        self._renewed_s = time.monotonic()
        self._outside = False  # sending the webhooks and notifications, polling the feeds
        self._switching: asyncio.Task[None] | None = None  # starting or stopping them
        self._tasks: list[asyncio.Task[None]] = []

    def owns(self, race_id: str, bib: str) -> bool:
        return partition(race_id, bib, self.partitions) in self.ready

    def _in(self, ps: set[int]) -> Callable[[str, str], bool]:
        """Whether a runner (race, bib) is of one of the partitions ``ps``."""
        return lambda race_id, bib: partition(race_id, bib, self.partitions) in ps

    async def start(self) -> None:
        await self.server.start()
        self.server.matches_only(self.owns)
        await self._groups()
        loops = (self._lease_loop(), self._job_loop(), self._read_loop())
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    async def _groups(self) -> None:
        for p in range(self.partitions):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: made by another worker
                await self.redis.xgroup_create(stream_key(p), GROUP, id="0", mkstream=True)

    async def stop(self) -> None:
        """A clean stop: the partitions given back (states stored), then the server."""
        for task in [*self._tasks, *([self._switching] if self._switching else [])]:
            task.cancel()
        try:  # (one that failed was logged; one stuck in a call is left behind)
            await asyncio.wait(self._tasks, timeout=5.0)
            await self._store_and_release(sorted(self.ready | self._leaving))
            with contextlib.suppress(RedisError, OSError):
                await self.leases.leave()
        finally:  # (the store's writer thread stops with it, whatever failed before)
            await self.server.stop()

    # -- leases -----------------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                taken, lost, surplus = await self.leases.beat()
                self._renewed_s = time.monotonic()
                for p in lost:
                    log.warning("partition %d: lease lost (this worker stalled?)", p)
                    self.ready.discard(p)
                give = [p for p in surplus if p not in self._leaving]
                if give:  # read no more; given back once their states are stored
                    self._leaving.update(give)
                    self.ready.difference_update(give)
                    self._jobs.put_nowait((False, give))
                if taken:
                    self._jobs.put_nowait((True, taken))
                self._outbox()
            except (RedisError, OSError) as exc:
                log.warning("Redis unreachable (%s): leases not renewed", exc)
                self._unsure()
            except Exception:
                log.exception("worker %s: leases", self.name)
            await asyncio.sleep(self.beat_s)

    def _unsure(self) -> None:
        """Leases not renewed for most of their time: another worker may hold them now, so
        this one stops playing and ticking their runners (taken again from the store)."""
        if time.monotonic() - self._renewed_s > 0.8 * self.leases.lease_ms / 1000.0:
            if self.ready or self.leases.mine:
                log.warning("worker %s: leases not renewed in time, partitions let go", self.name)
            self.ready.clear()
            self.leases.mine.clear()

    async def _job_loop(self) -> None:
        while True:
            stop_if_cancelled()
            take, ps = await self._jobs.get()
            if not take:
                try:
                    await self._give_back(ps)
                except Exception:  # let go unrenewed: the lease runs out by itself
                    log.exception("worker %s: partitions %s not given back", self.name, ps)
                    self._leaving.difference_update(ps)
                    self.leases.mine.difference_update(ps)
                continue
            while todo := [p for p in ps if p in self.leases.mine and p not in self.ready]:
                stop_if_cancelled()
                try:
                    await self._take(todo)
                except Exception:  # the store or Redis away: tried again in a second
                    log.exception("worker %s: partitions %s not taken yet", self.name, todo)
                    await asyncio.sleep(1.0)

    def _outbox(self) -> None:
        """Send the webhooks and notifications, and poll the feeds, while this worker holds
        the outbox lease (after a Redis outage another may hold it: this one stops). Started
        and stopped in a task of their own: a slow start never holds the leases up. Losing
        the lease while stalled, a worker goes on sending until its next beat: at least once,
        by the receivers' ids."""
        if self.leases.outbox != self._outside and (
            self._switching is None or self._switching.done()
        ):
            self._switching = asyncio.create_task(self._switch(self.leases.outbox))

    async def _switch(self, on: bool) -> None:
        try:
            if on:
                await self.server.start_outside()
                log.info("worker %s sends the webhooks and notifications", self.name)
            else:
                await self.server.stop_outside()
                log.warning("worker %s lost the outbox lease: it stops sending", self.name)
            self._outside = on
        except Exception:  # tried again at the next beat, from a clean stop
            log.exception("worker %s: the outbox not %s", self.name, "started" if on else "stopped")
            with contextlib.suppress(Exception):
                await self.server.stop_outside()
            self._outside = False

    async def _take(self, ps: list[int]) -> None:
        """Runners of ``ps`` back as the store holds them, then what their last holder read
        and did not acknowledge: played, and acknowledged once stored."""
        began = time.perf_counter()
        wanted = set(ps)
        claimed = [  # first: what its last holder had read is this worker's from now on
            (p, entry_id, fields) for p in ps for entry_id, fields in await self._claim(p, 0)
        ]
        n, replayed = await self.server.put_back_runners(self._in(wanted))
        await self._play(claimed)  # (none of these partitions is read meanwhile)
        kept = [p for p in ps if p in self.leases.mine]  # (one lost meanwhile: its next
        self.ready.update(kept)  # holder plays it)
        took = Took(kept, n, replayed, len(claimed), time.perf_counter() - began)
        self.took.append(took)
        if self.on_took is not None:
            self.on_took(took)
        log.info(
            "worker %s took partitions %s: %d runners resumed from the store (%d fixes played "
            "again), %d entries claimed, in %.2f s", self.name, kept, n, replayed,
            len(claimed), took.seconds,
        )  # fmt: skip

    async def _claim(self, p: int, idle_ms: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """What other workers of ``p`` read ``idle_ms`` ago or more and did not acknowledge,
        now this worker's."""
        claimed = []
        start_id: Any = "0-0"
        while True:
            got: Any = await self.redis.xautoclaim(
                stream_key(p), GROUP, self.name, idle_ms, start_id, count=READ_COUNT
            )
            start_id, entries = got[0], got[1]
            claimed.extend(entries)
            if start_id in (b"0-0", "0-0") or not entries:
                return claimed

    async def _claim_idle(self) -> None:
        self._idle_claimed_s = time.monotonic()
        for p in sorted(self.ready):
            if entries := await self._claim(p, CLAIM_IDLE_MS):
                log.warning("partition %d: %d entries left by another worker claimed", p,
                            len(entries))  # fmt: skip
                async with self._busy:
                    await self._play([(p, entry_id, fields) for entry_id, fields in entries])

    async def _give_back(self, ps: list[int]) -> None:
        """``ps`` are no longer read: once the read under way is played, their runners'
        states are stored and their leases given up."""
        began = self._reads
        while self._reads <= began and self._leaving & self.leases.mine:
            await asyncio.sleep(0.05)
        await self._store_and_release(ps)

    async def _store_and_release(self, ps: list[int]) -> None:
        gone = set(ps)
        self.ready.difference_update(gone)
        try:
            async with self._busy:  # what is being played finishes first
                await self.server.keep_states_of(self._in(gone))
            for p in ps:
                await self.leases.release(p)
        finally:
            self._leaving.difference_update(gone)
        log.info("worker %s gave partitions %s back", self.name, ps)

    # -- reading ----------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        while True:
            stop_if_cancelled()
            self._reads += 1
            if not self.ready:
                await asyncio.sleep(0.2)
                continue
            try:
                await self._read()
            except ResponseError as exc:  # Redis lost its data: the group made again
                log.warning("Redis: %s; the consumer groups made again", exc)
                await self._groups()
                await asyncio.sleep(1.0)
            except (RedisError, OSError) as exc:  # what was not acknowledged is read again
                log.warning("Redis unreachable (%s): reading again in 1 s", exc)
                await asyncio.sleep(1.0)
            except Exception:  # (a bad entry, say): logged; the loop goes on
                log.exception("worker %s: a read failed", self.name)
                await asyncio.sleep(1.0)

    async def _read(self) -> None:
        if time.monotonic() - self._idle_claimed_s > CLAIM_EVERY_S:
            await self._claim_idle()
        streams: Any = {stream_key(p): self._retry.get(p, ">") for p in self.ready}
        got: Any = await self.redis.xreadgroup(
            GROUP, self.name, streams, count=READ_COUNT, block=READ_BLOCK_MS
        )
        read: list[tuple[int, bytes, dict[bytes, bytes]]] = []
        for key, entries in got or []:
            p = int(key.decode().rsplit(":", 1)[1])
            if p not in self.ready and p not in self._leaving:
                self._retry.pop(p, None)
                continue  # lost meanwhile: its next holder claims these
            if p in self._retry:  # (past an entry left pending: its runner is unknown)
                if entries:
                    self._retry[p] = entries[-1][0]
                else:
                    del self._retry[p]  # no pending entry left
            read.extend((p, entry_id, fields) for entry_id, fields in entries)
        async with self._busy:
            await self._play(read)

    async def _play(self, read: list[tuple[int, bytes, dict[bytes, bytes]]]) -> None:
        """Entries (partition, id, fields) through the pipeline: the parts of one request
        (in any partition) as one batch, as they came, all stored in one transaction; each
        entry then acknowledged and deleted. If they could not be stored, none is: they are
        read again (their runners first go back to what the store holds)."""
        decoded: list[Entry] = []
        of: list[tuple[int, bytes]] = []  # the stream entry of each runner's part
        for p, entry_id, fields in read:
            runners = decode(fields)
            decoded.extend(runners)
            of.extend([(p, entry_id)] * len(runners))
        order = sorted(range(len(decoded)), key=lambda k: decoded[k].received_s)
        decoded, of = [decoded[k] for k in order], [of[k] for k in order]
        for race_id, bib in {(e.race_id, e.bib) for e in decoded}:
            if not self.server.knows(race_id, bib):
                # added through a web node a moment ago: its word may not be here yet
                await self.server.reload_race(race_id)
        # a runner still unknown (logged by batches()): left pending, claimed again later;
        # still unknown after UNKNOWN_HOLD_S (taken out of the race), dropped
        unknown = [k for k, e in enumerate(decoded) if not self.server.knows(e.race_id, e.bib)]
        late = time.time() - UNKNOWN_HOLD_S
        held = {of[k] for k in unknown if decoded[k].received_s > late}
        if len(held) < len(unknown):
            log.warning("worker %s: %d runners' parts dropped: their runners are not in the "
                        "race", self.name, len({of[k] for k in unknown} - held))  # fmt: skip
        try:
            await self.server.play([work for _, work in self.server.batches(decoded)])
        except Exception as exc:  # read again after a pause
            log.warning("%d entries not stored (%s): read again", len(read), exc)
            self._retry.update((p, "0") for p, _, _ in read)
            await asyncio.sleep(1.0)
            return
        done: dict[int, list[bytes]] = {}
        for p, entry_id, _ in read:
            if (p, entry_id) not in held:
                done.setdefault(p, []).append(entry_id)
        if done:
            async with self.redis.pipeline(transaction=False) as pipe:
                for p, ids in done.items():
                    pipe.xack(stream_key(p), GROUP, *ids)
                    pipe.xdel(stream_key(p), *ids)
                await pipe.execute()
        self.played += sum(len(ids) for ids in done.values())


async def run_worker(worker: Worker, ready: Callable[[], None] | None = None) -> None:
    """Start ``worker`` and run until cancelled (then stop it cleanly)."""
    await worker.start()
    if ready is not None:
        ready()
    try:
        await asyncio.Event().wait()
    finally:
        await worker.stop()
