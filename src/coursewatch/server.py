"""Race HQ as a service, without HTTP: races, runners, the pipeline, the ticker, webhooks.

The web app (:mod:`coursewatch.web`) is a thin layer over this. On start, every race and runner
is loaded from the store and each runner's engine is rebuilt from its stored fixes, so a restart
(or a crash) resumes where the last acknowledged fix left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from coursewatch.bus import Bus
from coursewatch.bus.memory import MemoryBus
from coursewatch.errors import CoursewatchError, InputError
from coursewatch.pipeline import Clock, Pipeline, TimeDetector
from coursewatch.racestate import LiveRace, Registry, load_record
from coursewatch.runners import LiveRunner
from coursewatch.settings import Settings
from coursewatch.store import AlertRecord, RaceRecord, RunnerRecord, Store
from coursewatch.store.sqlite import SqliteStore
from coursewatch.views import alert_json
from coursewatch.webhooks import WebhookSender

log = logging.getLogger("coursewatch.server")
RACE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
BIB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class NotFound(CoursewatchError):
    """No such race, runner or alert."""


class Server:
    """Everything the live server does, callable from the web layer, tests and the CLI."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        bus: Bus | None = None,
        clock: Clock = time.time,
        time_detectors: Sequence[TimeDetector] = (),
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.store: Store = store or SqliteStore(settings.db_path)
        self.bus: Bus = bus or MemoryBus()
        self.clock = clock
        self.registry = Registry()
        self.pipeline = Pipeline(
            self.registry, self.store, self.bus, clock, settings.max_future_s, time_detectors
        )
        self.webhooks = WebhookSender(
            self.store,
            self.bus,
            settings.webhook_attempts,
            settings.webhook_backoff_s,
            webhook_transport,
        )
        self.admin_token = settings.admin_token
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        warm_up()
        await self.store.start()
        if not self.admin_token:
            self.admin_token = self.store.meta("admin_token") or secrets.token_urlsafe(24)
            await self.store.set_meta("admin_token", self.admin_token)
        for record in self.store.races():
            try:
                self.registry.add_race(record)
            except CoursewatchError as exc:  # one broken race must not keep HQ down
                log.error("race %s not loaded: %s", record.id, exc)
                continue
            for runner in self.store.runners(record.id):
                live = self.registry.add_runner(runner)
                # The engine is rebuilt from every stored fix; the ETA model and the
                # time-based detectors start again from the next fix.
                live.rebuild(self.store.fixes(record.id, runner.bib), None)
        self.webhooks.start()
        if self.settings.tick_s > 0:
            self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.webhooks.stop()
        await self.bus.close()
        await self.store.close()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.pipeline.tick()
            except Exception:  # a failing detector logs; the ticker goes on
                log.exception("time-based detectors failed")

    # -- races ----------------------------------------------------------------------------------
    def race(self, race_id: str) -> LiveRace:
        race = self.registry.races.get(race_id)
        if race is None:
            raise NotFound(f"no race {race_id!r}: list the races with GET /api/races")
        return race

    def race_by_token(self, token: str) -> LiveRace | None:
        for race in self.registry.races.values():
            if secrets.compare_digest(race.record.ingest_token, token):
                return race
        return None

    async def create_race(
        self,
        race_id: str,
        race_text: str,
        race_suffix: str,
        course_bytes: bytes,
        course_suffix: str,
        public: bool = False,
    ) -> LiveRace:
        """Create (or replace the files of) a race; the files are checked by reading them."""
        if not RACE_ID.match(race_id):
            raise InputError(
                f"race id {race_id!r} is not usable: use 1-64 lowercase letters, digits, - or _"
            )
        old = self.store.race(race_id)
        record = RaceRecord(
            id=race_id,
            name="",
            race_text=race_text,
            race_suffix=race_suffix if race_suffix in (".yaml", ".yml", ".toml") else ".yaml",
            course_bytes=course_bytes,
            course_suffix=course_suffix or ".gpx",
            start_ts=0.0,
            ingest_token=old.ingest_token if old else secrets.token_urlsafe(18),
            public=public,
            created_ts=old.created_ts if old else self.clock(),
        )
        race, _ = load_record(record)  # raises with a clear message for a bad file
        record = replace(record, name=race.name, start_ts=race.start_ts)
        await self.store.put_race(record)
        return self.registry.add_race(record)

    async def set_public(self, race_id: str, public: bool) -> LiveRace:
        race = self.race(race_id)
        await self.store.set_public(race_id, public)
        record = replace(race.record, public=public)
        race.record = record
        return race

    # -- runners --------------------------------------------------------------------------------
    async def put_runner(self, record: RunnerRecord) -> LiveRunner:
        self.race(record.race_id)
        if not BIB.match(record.bib):
            raise InputError(
                f"bib {record.bib!r} is not usable: use 1-32 letters, digits, '.', '-' or '_'"
            )
        for device in record.devices:
            if not device or len(device) > 128:
                raise InputError(f"device id {device!r}: give 1-128 characters")
        await self.store.put_runner(record)
        runner = self.registry.add_runner(record)
        self.bus.publish(record.race_id, "status", {"bib": record.bib, "to": runner.status})
        return runner

    def runner(self, race_id: str, bib: str) -> LiveRunner:
        runner = self.race(race_id).runners.get(bib)
        if runner is None:
            raise NotFound(f"no runner with bib {bib!r} in race {race_id!r}")
        return runner

    # -- alerts ---------------------------------------------------------------------------------
    async def ack(self, race_id: str, alert_id: int, by: str) -> AlertRecord:
        self.race(race_id)
        alert = await self.store.ack_alert(race_id, alert_id, by, self.clock())
        if alert is None:
            raise NotFound(f"no alert {alert_id} in race {race_id!r}")
        self.bus.publish(race_id, "alert_ack", alert_json(alert))
        return alert


def warm_up() -> None:
    """Compile the engine now (or load it from numba's cache), not on the first fix: a short
    run with a wrong turn goes through every kernel, events included."""
    from coursewatch.engine.matcher import LiveMatcher
    from coursewatch.simulate import simulate_run, straight_course

    course = straight_course(3000.0)
    run = simulate_run(course, interval_s=5.0, wrong_turn_at_m=1000.0, wrong_turn_len_m=400.0)
    matcher = LiveMatcher(course)
    for t, lat, lon in zip(run.time_s, run.lat, run.lon, strict=True):
        matcher.push(float(t), float(lat), float(lon), 5.0)


def course_only_race(name: str, course_name: str, start_iso: str) -> str:
    """The text of a race file for a race given as a course file and a start time only."""
    return f"name: {name!r}\ncourse: {course_name!r}\nstart: {start_iso!r}\n"


def read_race_files(race_file: Path) -> tuple[str, str, bytes, str]:
    """Race text, its suffix, course bytes and suffix, for :meth:`Server.create_race`."""
    from coursewatch.race import load_race

    race = load_race(race_file)
    try:
        course = race.course_path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the course file the race file names ({exc.strerror})", race.course_path
        ) from None
    text = race_file.read_text(encoding="utf-8")
    return text, race_file.suffix.lower(), course, race.course_path.suffix.lower()
