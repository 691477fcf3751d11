"""Race HQ as a service, without HTTP: races, runners, the pipeline, the ticker, webhooks.

The web app (:mod:`coursewatch.web`) is a thin layer over the methods of :class:`Server`; the
store, the bus and the pipeline are its own. On start, every race and runner is loaded from the
store, each runner back in their stored state with the fixes after it played again
(:mod:`coursewatch.live.restart`), so a restart (or a crash) resumes where the last
acknowledged fix left it, raising nothing twice.

With a Redis bus (``settings.bus``) it is one node of several (:mod:`coursewatch.live.node`):
a web node (ingest to the fix streams, API, SSE, dashboard) or, run by
:class:`coursewatch.live.worker.Worker`, a matcher worker for the partitions it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx

from coursewatch import jitcache
from coursewatch.bus import Bus, Message
from coursewatch.bus.memory import MemoryBus
from coursewatch.bus.redis import RedisBus
from coursewatch.engine.matcher import warm_up
from coursewatch.errors import CoursewatchError, InputError
from coursewatch.incidents import ALERT, NEWS
from coursewatch.live import devices, dnf, news, restart, views
from coursewatch.live.access import Access
from coursewatch.live.channels import apprise_send
from coursewatch.live.checks import Checks, feed_trouble
from coursewatch.live.contacts import Contacts
from coursewatch.live.feeds import FeedPoller
from coursewatch.live.fieldwatch import Range
from coursewatch.live.histories import Histories
from coursewatch.live.looplag import LoopLag
from coursewatch.live.node import SINGLE, WEB, Nodes
from coursewatch.live.notify import Notifier, Send
from coursewatch.live.outside import NotFound, Outside
from coursewatch.live.pipeline import Clock, Pipeline
from coursewatch.live.registry import LiveRace, Registry, usable
from coursewatch.live.removal import Removal
from coursewatch.live.report import IngestReport
from coursewatch.live.runner import LiveRunner
from coursewatch.live.webhooks import WebhookSender
from coursewatch.protocols import Decoded
from coursewatch.protocols.values import describe
from coursewatch.settings import Settings
from coursewatch.store import FixArrays, Incident, RaceRecord, RunnerRecord, Store, open_store

log = logging.getLogger("coursewatch.server")
RACE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Server(Outside, Checks, Histories, Access, Nodes, Removal):
    """Everything the live server does, callable from the web layer, tests and the CLI."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        bus: Bus | None = None,
        clock: Clock = time.time,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        feed_transport: httpx.AsyncBaseTransport | None = None,
        send: Send | None = None,
        role: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.role = role or (WEB if settings.bus else SINGLE)
        self.node = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._store: Store = store or open_store(settings.store, settings.db_path)
        self.store_name = repr(self._store) if settings.store else str(settings.db_path)
        self._bus: Bus = bus or (
            RedisBus(settings.bus, self._on_config, everything=self.role == WEB)
            if settings.bus
            else MemoryBus()
        )
        self.views = {}
        self._node_tasks = set()
        self._to_reload = set()
        self._passes_read = {}
        self._registry = Registry()
        self._pipeline = Pipeline(
            self._registry, self._store, self._bus, clock, settings.max_future_s
        )
        self._webhooks = WebhookSender(
            self._store,
            self._bus,
            settings.webhook_attempts,
            settings.webhook_backoff_s,
            webhook_transport,
            settings.webhook_allow_private,
        )
        self.contacts = Contacts(self._store)
        self.feeds = FeedPoller(settings, self._ingest_feed, feed_transport, clock)
        self._pipeline.feed_trouble = functools.partial(feed_trouble, self.feeds)
        public = functools.partial(apprise_send, public_only=not settings.webhook_allow_private)
        self.notifier = Notifier(self._store, self._bus, self.contacts, settings,
                                 self._words, send or public, self._who)  # fmt: skip
        self.admin_token = settings.admin_token
        self._ticker: asyncio.Task[None] | None = None
        # stored races that could not be loaded at start (id -> why): kept in the store, shown
        # to race HQ; sending the race's files again (create_race) loads it and its runners
        self.not_loaded: dict[str, str] = {}
        self.resumed: dict[str, restart.Resumed] = {}  # what the start did, race by race
        self.loop_lag = LoopLag()

    async def start(self) -> None:
        warm_up()
        jitcache.mark_warm("live")  # (the CLI says so while it is not: a minute, once)
        await self._store.start()
        if self.redis_bus is not None:  # raises if Redis cannot be reached: said at start
            await self.redis_bus.start()
        if not self.admin_token:
            self.admin_token = self._store.meta("admin_token") or secrets.token_urlsafe(24)
            await self._store.set_meta("admin_token", self.admin_token)
        for record in self._store.races():
            try:
                self._registry.add_race(record)
            except CoursewatchError as exc:  # one broken race must not keep HQ down
                log.error("race %s not loaded: %s", record.id, exc)
                self.not_loaded[record.id] = str(exc)
                continue
            await self._load_runners(record.id)
            await self.load_history(self._registry.races[record.id])
        if self.role == SINGLE:  # with several nodes: the worker holding the outbox lease
            await self.start_outside()
        if self.role == WEB:
            self._spawn(self._follow_views())
            self._spawn(self._views_when_back())
        self.loop_lag.start()
        if self.settings.tick_s > 0 and self.role != WEB:
            self._ticker = asyncio.create_task(self._tick_forever())

    async def start_outside(self) -> None:
        """Start what leaves (webhooks, notifications) and the feed polls."""
        self._webhooks.sweeps = self.notifier.sweeps = self.role != SINGLE
        await self._webhooks.start()
        await self.notifier.start()
        self.feeds.start()
        if self.role != SINGLE:  # (a worker's races were loaded before it polled)
            for race_id in list(self._registry.races):
                self.repoll(race_id)

    async def stop_outside(self) -> None:
        await self._webhooks.stop()
        await self.feeds.stop()
        await self.notifier.stop()

    async def _load_runners(self, race_id: str, replay: bool = False) -> None:
        """A race's privacy settings and runners from the store, each back in their last
        state (live/restart.py; ``replay``: on another course)."""
        race = self._registry.races[race_id]
        self._load_privacy(race)
        if self.role != SINGLE:  # registrations only: a worker puts back the runners it takes
            for record in self._store.runners(race_id):
                self._registry.add_runner(record)
            return
        self.resumed[race_id] = await restart.load_runners(
            race, self._store, self._registry, self._pipeline, self.clock(), replay
        )
        devices.restore(race.runners.values(), self._store, race_id)
        for bib in self.contacts.of(race_id).feeds:
            self._poll(race_id, bib)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._node_tasks):
            task.cancel()
        await self.stop_outside()
        await self.loop_lag.stop()
        if self.role == SINGLE:  # (a worker stores those of the runners it holds)
            races = list(self._registry.races.values())
            await restart.keep_states(self._store, self._pipeline, races)
        await self._bus.close()
        await self._store.close()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except Exception:  # a failing detector logs; the ticker goes on
                log.exception("time-based detectors failed")

    async def tick(self) -> list[Incident]:
        """Run the time-based detectors over every runner now (the ticker does, every tick_s),
        the field's forecasts of runners who passed a station first."""
        await self.refresh_fields(list(self._registry.races.values()))
        return await self._pipeline.tick()

    def race_now(self, race_id: str) -> float:
        """The race's clock: the server's for a live race, the recording's for a replay."""
        return self._pipeline.race_now(self.race(race_id).id)

    # -- fixes ------------------------------------------------------------------------------------
    async def ingest(
        self,
        decode: Callable[[], Decoded],
        protocol: str,
        race_id: str | None = None,
        only_bib: str | None = None,
    ) -> IngestReport:
        """One request's payload through the pipeline; returns once its fixes are stored.
        ``only_bib``: the request came with that runner's own token (race_id given)."""
        if only_bib is not None and race_id is not None:
            everyone, rid, bib = decode, race_id, only_bib

            def decode() -> Decoded:
                return self._registry.only_runner(everyone(), rid, bib)

        if self.role != SINGLE:
            return await self._forward(decode, protocol, race_id)
        return await self._pipeline.ingest(decode, protocol, race_id)

    def fixes(self, race_id: str, bib: str) -> FixArrays:
        """A runner's stored fixes, sorted by time."""
        return self._store.fixes(race_id, self.runner(race_id, bib).bib)

    # -- races ------------------------------------------------------------------------------------
    def races(self) -> list[LiveRace]:
        return list(self._registry.races.values())

    def race(self, race_id: str) -> LiveRace:
        race = self._registry.races.get(race_id)
        if race is None:
            raise NotFound(f"no race {describe(race_id)}: coursewatch race list, GET /api/races")
        return race

    async def create_race(
        self,
        race_id: str,
        race_text: str,
        race_suffix: str,
        course_bytes: bytes,
        course_suffix: str,
        public: bool | None = None,
    ) -> LiveRace:
        """Create (or replace the files of) a race; the files are checked by reading them.
        ``public`` None: as it was (a new race is not)."""
        if not RACE_ID.match(race_id):
            raise InputError(
                f"race id {race_id!r} is not usable: use 1-64 lowercase letters, digits, - or _"
            )
        old = self._store.race(race_id)
        record = RaceRecord(
            id=race_id,
            name="",
            race_text=race_text,
            race_suffix=race_suffix if race_suffix in (".yaml", ".yml", ".toml") else ".yaml",
            course_bytes=course_bytes,
            course_suffix=course_suffix or ".gpx",
            start_ts=0.0,
            ingest_token=old.ingest_token if old else secrets.token_urlsafe(18),
            public=bool(old.public if public is None and old else public),
            created_ts=old.created_ts if old else self.clock(),
        )
        # read and modelled in a worker thread: a big course must not hold ingest up
        live = await asyncio.to_thread(LiveRace.build, record)  # raises for a bad file
        await self._store.put_race(live.record)
        self._changed(race_id)
        before = self._registry.races.get(race_id)
        placed = self._registry.put_race(live)
        # its runners wait in the store (not loaded yet, or another course: rebuilt here from
        # their stored fixes, on the loop: a rare act of race HQ, as at start)
        moved = before is not None and placed.runners is not before.runners  # another course
        if race_id in self.not_loaded or moved:
            await self._load_runners(race_id, replay=moved)
            self.not_loaded.pop(race_id, None)
        if placed.field is None:  # new stations: the stored history is read against them
            await self.load_history(placed)
        return placed

    async def set_public(self, race_id: str, public: bool) -> LiveRace:
        race = self.race(race_id)
        await self._store.set_public(race_id, public)
        self._changed(race_id)
        record = replace(race.record, public=public)
        race.record = record
        return race

    def stats(self, race_id: str) -> dict[str, Any]:
        """What the server did with a race's input: counts, stored fixes, unknown devices."""
        self.race(race_id)
        return {
            "counts": self._store.counts(race_id),
            "fixes_stored": self._store.fix_count(race_id),
            "unknown_devices": [
                {"device": d, "protocol": p, "count": n, "last_ts": t}
                for d, p, n, t in self._store.unknown_devices()
            ],
            "unrouted": self._store.counts(""),
            "webhooks": dict(self._webhooks.stats),
            "loop_lag": self.loop_lag.summary(),
        }

    # -- runners ----------------------------------------------------------------------------------
    async def put_runner(self, record: RunnerRecord) -> LiveRunner:
        record, race = usable(record), self.race(record.race_id)
        before = race.runners.get(record.bib)
        ends, undone = dnf.change(None if before is None else before.record, record)
        await self._store.put_runner(record)
        self._changed(record.race_id)
        runner = self._registry.add_runner(record)
        if self.role != WEB:  # (a web node does not know where the runner is)
            self._bus.publish(race.id, "runner", self.runner_view(race, runner))
            self._bus.publish(race.id, "status", {"bib": record.bib, "to": runner.status})
        if undone is not None:  # a mistake undone: their incidents open again
            back = await self._store.withdraw(race.id, record.bib, undone)
            self._pipeline.publish_incidents(back)
        if self.role == WEB and (ends or undone):  # where they are: as the workers stored it
            self._pipeline.put_back(race, runner, self._store.runner_state(race.id, runner.bib))
        told = None  # their crew's news of it, from what they heard
        if ends or undone:
            said = self._store.incidents(race.id, bib=record.bib, level=NEWS)
            told = news.of_change(race, runner, ends, undone, self.race_now(race.id), said)
        if ends is None and told is not None:
            self._pipeline.publish_incidents((await self._store.save([], [told])).incidents)
        if ends is not None:  # put out, or finished: their open incidents end with it
            mine = self._store.incidents(race.id, bib=record.bib, level=None, limit=100_000)
            now = self.race_now(race.id)
            closing = dnf.closing_updates(race.narrator, mine, record, now, ends)
            closing += [told] if told is not None else []
            if closing:
                self._pipeline.publish_incidents((await self._store.save([], closing)).incidents)
        return runner

    def runner(self, race_id: str, bib: str) -> LiveRunner:
        runner = self.race(race_id).runners.get(bib)
        if runner is None:
            raise NotFound(f"no runner with bib {describe(bib)} in race {race_id!r}")
        return runner

    def progress(self, race_id: str, bib: str) -> dict[str, Any]:
        """One runner's race so far, with the ETA at every station ahead (the runner page)."""
        race = self.race(race_id)
        runner = self.runner(race_id, bib)
        if self.role == WEB:  # the workers match: the runner as the store holds them now
            self._pipeline.put_back(race, runner, self._store.runner_state(race.id, runner.bib))
        s = runner.matcher.progress_m if runner.fixes else 0.0
        ahead = race.stations[race.around(s)[0] + 1 :]  # (at a station 100 m before it)
        etas: list[float | None] = [None] * len(ahead)
        ranges: list[Range | None] = [None] * len(ahead)
        if ahead and runner.fixes:
            watch = self._pipeline.watch(race)
            etas, ranges = watch.arrival_ranges(runner, [p.distance_m for p in ahead])
        fixes = self._store.fixes(race.id, runner.bib)
        pairs = list(zip(ahead, etas, ranges, strict=True))
        return views.progress_json(race, runner, fixes, self.clock(), pairs, self.race_now(race.id))

    # -- alerts and what leaves -------------------------------------------------------------------
    def incidents(
        self,
        race_id: str,
        after_id: int = 0,
        bib: str | None = None,
        level: str | None = ALERT,
        limit: int = 1000,
    ) -> list[Incident]:
        """A race's incidents, one per runner episode: race HQ's (``level`` alert, the
        default), the runners' flags (flag), or both (None)."""
        return self._store.incidents(self.race(race_id).id, after_id, bib, level, limit)

    async def ack(self, race_id: str, incident_id: int, by: str) -> Incident:
        """Acknowledge an incident, for every update it has and will have."""
        self.race(race_id)  # (acknowledged already: the first stands, and nothing is sent)
        was = self._store.incidents(race_id, after_id=max(incident_id - 1, 0), limit=1)
        known = bool(was) and was[0].id == incident_id and was[0].ack_ts is not None
        found = await self._store.ack_incident(race_id, incident_id, by, self.clock())
        if found is None:
            raise NotFound(f"no incident {incident_id} in race {race_id!r}")
        if found.level == ALERT and not known:  # race HQ's stream and webhooks
            self._bus.publish(race_id, "incident_ack", views.incident_json(found))
        return found

    def subscribe(
        self,
        race_id: str,
        after_seq: int | None = None,
        idle_s: float | None = None,
        kinds: frozenset[str] | None = None,
    ) -> AsyncIterator[Message]:
        """A race's event stream (runner updates, status changes, alerts), from ``after_seq``."""
        return self._bus.subscribe(self.race(race_id).id, after_seq, idle_s, kinds)
