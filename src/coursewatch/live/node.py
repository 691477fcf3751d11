"""Race HQ on several machines (``--bus redis://...``): what a node does that the single
server does not. A part of :class:`coursewatch.live.server.Server` (it inherits these).

- **Ingest goes to the fix streams** (:mod:`coursewatch.bus.partitions`): a web node decodes
  and filters a request as the pipeline does (unknown devices, no position, before the start,
  from the future: counted and answered here), then appends each runner's fixes to their
  partition's stream, and answers once Redis has them. The matcher workers do the rest.
- **Runner views from the bus**: the latest ``runner`` message of each runner (the hash
  :class:`~coursewatch.bus.redis.RedisBus` keeps, then the stream), since a web node matches
  nothing; a runner page is put back from the store when asked for.
- **Race HQ's changes reach every node**: a node that changed a race (its files, runners,
  tokens, contacts, history) says so on the bus; the others read that race again from the
  store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from coursewatch.bus import Message
from coursewatch.bus.partitions import PARTITIONS, Entry, encode, partition, stream_key
from coursewatch.bus.redis import CONFIG, RedisBus
from coursewatch.detectors.device import DeviceState
from coursewatch.live import devices, durable, restart
from coursewatch.live.registry import LiveRace
from coursewatch.live.report import IngestReport
from coursewatch.live.views import runner_json, with_record
from coursewatch.live.work import Routed, Work
from coursewatch.protocols import Decoded, DeviceEvent, Fix
from coursewatch.store import StoreUnavailable

if TYPE_CHECKING:
    from coursewatch.bus import Bus
    from coursewatch.live.contacts import Contacts
    from coursewatch.live.pipeline import Pipeline
    from coursewatch.live.registry import Registry
    from coursewatch.live.runner import LiveRunner
    from coursewatch.store import Store

log = logging.getLogger("coursewatch.live.node")
WEB, WORKER, SINGLE = "web", "worker", "single"
WORKER_STATE_EVERY_S = 15.0


class Nodes:
    """The multi-node methods :class:`Server` gets from here."""

    role: str
    node: str  # this node's name: host and process id
    _bus: Bus
    _store: Store
    _registry: Registry
    _pipeline: Pipeline
    contacts: Contacts
    clock: Callable[[], float]
    views: dict[str, dict[str, tuple[float, dict[str, Any]]]]  # race -> bib -> (sent, update)
    _node_tasks: set[asyncio.Task[None]]
    _to_reload: set[str]  # races whose changes are to be read
    _passes_read: dict[str, float]  # race -> when a web node last read its runners' passes

    if TYPE_CHECKING:

        def _load_privacy(self, race: LiveRace) -> None: ...  # live/access.py

        async def load_history(self, race: LiveRace) -> None: ...  # live/histories.py

        def repoll(self, race_id: str) -> None: ...  # live/outside.py

        def forget_race(self, race_id: str) -> None: ...  # live/removal.py

        def forget_runner(self, race: LiveRace, bib: str) -> None: ...  # live/removal.py

    @property
    def redis_bus(self) -> RedisBus | None:
        return self._bus if isinstance(self._bus, RedisBus) else None

    # -- race HQ's changes ------------------------------------------------------------------------
    def _changed(self, race_id: str) -> None:
        """This node changed a race's configuration: the other nodes read it again."""
        if self.redis_bus is not None:
            self.redis_bus.publish(race_id, CONFIG, {"node": self.node})

    def _on_config(self, msg: Message) -> None:
        """Another node changed a race: read it again (the changes that come before the
        reading starts are read once: a roster of 2,000 runners added one by one is read a
        few times, not 2,000)."""
        if msg.data.get("node") != self.node and msg.race_id not in self._to_reload:
            self._to_reload.add(msg.race_id)
            self._spawn(self.reload_race(msg.race_id))

    def _spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._node_tasks.add(task)
        task.add_done_callback(self._node_tasks.discard)

    async def reload_race(self, race_id: str) -> None:
        """A race's record, privacy, runners, contacts and history again from the store;
        the runners keep their engines (only their registration changed)."""
        self._to_reload.discard(race_id)  # a change from now on reads it again
        try:
            record = self._store.race(race_id)
            if record is None:  # removed by race HQ
                self.forget_race(race_id)
                return
            race = before = self._registry.races.get(race_id)
            if race is None or (race.record.race_text, race.record.course_bytes) != (
                record.race_text,
                record.course_bytes,
            ):
                race = self._registry.put_race(
                    await asyncio.to_thread(LiveRace.build, record, False)
                )
                await self.load_history(race)
            else:
                race.record = replace(race.record, public=record.public)
            self._load_privacy(race)
            registered = self._store.runners(race_id)
            for bib in set(race.runners) - {reg.bib for reg in registered}:
                self.forget_runner(race, bib)  # removed by race HQ
            for reg in registered:
                old = race.runners.get(reg.bib)
                was = None if old is None else (old.record.dnf, old.record.finish_ts, old.status)
                runner = self._registry.add_runner(reg)
                if was is not None and was[:2] != (reg.dnf, reg.finish_ts):
                    self._told(race, runner, was[2])  # put out or finished at race HQ
            owns = self._pipeline.owns
            if before and race.runners is not before.runners and owns is not None:
                # another course: a worker's runners rebuilt from their stored fixes
                await self.put_back_runners(lambda r, bib: r == race_id and owns(r, bib), True)
            self.contacts.races.pop(race_id, None)  # read again when next needed
            self.repoll(race_id)
        except Exception:  # the next change reads it again; meanwhile the old holds
            log.exception("race %s: could not read its changes from the store", race_id)

    def _told(self, race: LiveRace, runner: LiveRunner, before: str) -> None:
        """A runner race HQ put out or finished on another node: the node that matches them
        says so to the board (they may never send another fix: a tracker dead short of the
        line)."""
        owns = self._pipeline.owns
        if self.role == WEB or (owns is not None and not owns(race.id, runner.bib)):
            return
        self._bus.publish(race.id, "runner", runner_json(race, runner, self.clock()))
        if runner.status != before:
            self._bus.publish(race.id, "status", {"bib": runner.bib, "from": before,
                                                  "to": runner.status})  # fmt: skip

    # -- ingest: to the fix streams ---------------------------------------------------------------
    async def _forward(
        self, decode: Callable[[], Decoded], protocol: str, race_id: str | None
    ) -> IngestReport:
        """One request's fixes filtered here and appended to their runners' partitions; raises
        StoreUnavailable (503) if Redis does not take them (what it took before failing is
        kept: sent again, it is a duplicate the worker drops)."""
        bus = self.redis_bus
        assert bus is not None
        work = await self._pipeline.take(decode, protocol, race_id)
        said: dict[tuple[str, str], list[DeviceEvent]] = {}
        for race, runner, ev in work.said:
            said.setdefault((race.id, runner.bib), []).append(ev)
        parts: dict[int, list[tuple[str, str, list[Fix], list[DeviceEvent]]]] = {}
        for g in work.routed:
            key = (g.race.id, g.runner.bib)
            part = (g.race.id, g.runner.bib, g.fixes, said.pop(key, []))
            parts.setdefault(partition(*key, PARTITIONS), []).append(part)
        for (rid, bib), evs in said.items():  # what devices said with no fix of theirs
            parts.setdefault(partition(rid, bib, PARTITIONS), []).append((rid, bib, [], evs))
        try:
            async with bus.redis.pipeline(transaction=False) as pipe:
                for p, runners in parts.items():
                    pipe.xadd(stream_key(p), encode(protocol, work.received_s, runners))  # type: ignore[arg-type]
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(
                f"the message bus (Redis) cannot be reached ({exc}): send again in a moment"
            ) from None
        work.report.accepted = sum(len(g.fixes) for g in work.routed)
        for rid, counts in work.counts.items():  # what was dropped here (the fixes are kept:
            try:  # a count the store could not take is not worth a retry)
                await self._store.count(rid, dict(counts))
            except Exception as exc:
                log.warning("race %s: drop counts not stored (%s)", rid, exc)
        return work.report

    # -- runner views -----------------------------------------------------------------------------
    async def _follow_views(self) -> None:
        """Keep the latest update of every runner: from the bus from now on, and from the
        hash for what came before (again whenever the bus dropped this listener for falling
        behind)."""
        bus = self.redis_bus
        assert bus is not None
        while True:
            updates = bus.subscribe("*", kinds=frozenset({"runner"}))
            first = asyncio.ensure_future(anext(updates, None))
            await asyncio.sleep(0)  # subscribed: nothing between the hash and the stream is lost
            await self._views_from_hash()
            msg = await first
            while msg is not None:
                sent_s = (msg.seq >> 22) / 1000.0 if msg.seq else time.time()
                self.views.setdefault(msg.race_id, {})[str(msg.data["bib"])] = (
                    sent_s,
                    dict(msg.data),
                )
                msg = await anext(updates, None)

    async def _views_from_hash(self) -> None:
        """Each runner's latest update as Redis keeps it, where newer than this node's."""
        bus = self.redis_bus
        assert bus is not None
        for race_id in list(self._registry.races):
            with contextlib.suppress(RedisError, OSError):  # none yet: filled as they come
                for bib, seen in (await bus.views(race_id)).items():
                    mine = self.views.setdefault(race_id, {})
                    if bib not in mine or seen[0] > mine[bib][0]:  # the newer of the two
                        mine[bib] = seen

    async def _views_when_back(self) -> None:
        """Redis back after an outage: what the stream may have trimmed meanwhile is read from
        the hash (the subscription itself goes on)."""
        bus = self.redis_bus
        assert bus is not None
        while True:
            await bus.came_back.wait()
            bus.came_back.clear()
            await self._views_from_hash()

    def runner_view(
        self, race: LiveRace, runner: LiveRunner, admin: bool = False
    ) -> dict[str, Any]:
        """A runner as the leaderboard and the map need it: on a web node, their latest update
        from the workers (its silence counted to now)."""
        now = self.clock()
        seen = self.views.get(race.id, {}).get(runner.bib) if self.role == WEB else None
        if seen is None:
            return runner_json(race, runner, now, admin)
        sent_s, data = seen
        out = with_record(race, runner, data)  # (a DNF or a finish recorded since it came)
        out["name"] = runner.record.name
        if out.get("silent_s") is not None:
            out["silent_s"] = round(out["silent_s"] + max(now - sent_s, 0.0), 1)
        if admin:
            out["devices"] = list(runner.record.devices)
            out["dropout_risk"] = None  # the workers' history watch: not on a web node
        return out

    def read_passes(self, race: LiveRace) -> None:
        """On a web node, every runner's station passes as the workers last stored them (at
        most WORKER_STATE_EVERY_S of race time old), read once in that time: the split table
        reads them."""
        now = self.clock()
        last = self._passes_read.get(race.id, -math.inf)
        if self.role != WEB or now - last < WORKER_STATE_EVERY_S:
            return
        self._passes_read[race.id] = now
        for bib, stored in self._store.runner_states(race.id).items():
            runner = race.runners.get(bib)
            if runner is not None:
                race.passes.restore(bib, durable.stored_passes(race, runner, stored))

    def fixes_heard(self, race: LiveRace, runner: LiveRunner) -> int:
        """How many fixes of a runner were matched: on a web node, the workers' latest
        update says (its own engines are not fed)."""
        seen = self.views.get(race.id, {}).get(runner.bib) if self.role == WEB else None
        return runner.fixes if seen is None else int(seen[1].get("fixes") or 0)

    # -- what a worker asks of its server (live/worker.py) ----------------------------------------
    def matches_only(self, owns: Callable[[str, str], bool]) -> None:
        """The clock-driven detectors run for the runners ``owns`` says only; each runner's
        state is stored every ``WORKER_STATE_EVERY_S`` of race time (another worker that
        takes them over plays fewer fixes again)."""
        self._pipeline.owns = owns
        self._pipeline.state_every_s = WORKER_STATE_EVERY_S

    def knows(self, race_id: str, bib: str) -> bool:
        race = self._registry.races.get(race_id)
        return race is not None and bib in race.runners

    def batches(self, entries: list[Entry]) -> list[tuple[list[int], Work]]:
        """Fix stream entries as the requests they came in (entries next to each other with
        the same receipt time and protocol: one request's runners), each a batch for
        :meth:`Pipeline.run` with the positions of its entries. A runner unknown here (even
        after reading the race again) is logged and skipped."""
        out: list[tuple[list[int], Work]] = []
        for k, entry in enumerate(entries):
            race = self._registry.races.get(entry.race_id)
            runner = None if race is None else race.runners.get(entry.bib)
            if race is None or runner is None:
                log.error("race %s bib %s: not known here, %d fixes skipped", entry.race_id,
                          entry.bib, len(entry.decoded.fixes))  # fmt: skip
                continue
            last = out[-1][1] if out else None
            if last is None or (last.received_s, last.protocol) != (
                entry.received_s,
                entry.protocol,
            ):
                last = Work(entry.protocol, entry.received_s, IngestReport())
                out.append(([], last))
            out[-1][0].append(k)
            d, at = entry.decoded, len(last.said) + sum(len(g.fixes) for g in last.routed)
            if d.fixes:
                index = list(range(at, at + len(d.fixes)))
                last.routed.append(Routed(race, runner, list(d.fixes), index))
            last.said.extend((race, runner, ev) for ev in d.events)
            if d.events:
                last.status_before.setdefault((race.id, runner.bib), runner.status)
        return out

    async def play(self, works: list[Work]) -> None:
        """Batches of :meth:`batches` through the rest of the pipeline, stored in one
        transaction (all or none: a runner's state never holds fixes that are not stored)."""
        if works:
            await self._pipeline.run(*works)

    async def put_back_runners(
        self, which: Callable[[str, str], bool], replay: bool = False
    ) -> tuple[int, int]:
        """The runners ``which`` says back as the store holds them (their state, the fixes
        stored after it played again, what their devices said); their silence counts from
        their last fix (web nodes kept taking fixes while their last worker was away).
        ``replay``: on another course (Pipeline.put_back). Returns (runners, fixes played
        again)."""
        pipeline, store = self._pipeline, self._store
        n = replayed = 0
        for race in list(self._registry.races.values()):
            runners = [r for r in race.runners.values() if which(race.id, r.bib)]
            if not runners:
                continue
            watch, states = pipeline.watch(race), store.runner_states(race.id)
            for runner in runners:
                work = pipeline.put_back(race, runner, states.get(runner.bib), replay)
                if work is not None and work.steps:
                    saved = await pipeline.save(work)
                    if work.protocol == "rebuild":  # the old course's alerts taken back
                        pipeline.publish_incidents(saved.incidents)
                    else:
                        replayed += sum(len(m.index) for m in work.steps)
                runner.device = DeviceState()
                heard = runner.received_s
                watch.resume(runner, self.clock() if heard is None else heard)
            devices.restore(runners, store, race.id)
            n += len(runners)
        return n, replayed

    async def keep_states_of(self, which: Callable[[str, str], bool]) -> None:
        """Store the states of the runners ``which`` says (a worker gives them back)."""
        races = list(self._registry.races.values())
        await restart.keep_states(self._store, self._pipeline, races, which)
