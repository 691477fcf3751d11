"""Feed pollers: the public feeds of runners' own satellite trackers, polled by the server.

Garmin MapShare (KML, ``<host>/Feed/Share/<name>?d1=<ISO>``, HTTP Basic with an empty user
when the map has a password) and SPOT shared pages (JSON,
``<host>/spot-main-web/consumer/rest-api/2.0/public/feed/<id>/message.json?startDate=...``).
Each runner's feed is polled every ``feed_poll_s``, the runners spread over the interval; each
poll asks only for what is new (from the newest fix it brought, less ``OVERLAP_S`` for
messages a satellite delivers late: the pipeline drops the duplicates). What a poll brings goes
through the same pipeline as pushed fixes, as that runner's.

Limits, per feed host: at most ``feed_hourly_budget`` requests an hour (a token bucket; Garmin
blocks an address for an hour past 2,000), and a 429 or 503 with ``Retry-After`` stops every
poll of that host until then (an hour when it does not say). A feed that fails waits twice as
long each time (at most an hour). Each feed's health is kept in words for race HQ: last
success, last error ("MapShare has no feed named ...", "the feed needs a password, or the one
given is wrong", "blocked by share.garmin.com for 60 min").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from coursewatch.errors import InputError
from coursewatch.live.feedcalls import (
    AnswerTooLarge,
    FeedError,
    HostBudget,
    budget_key,
    feed_host_ok,
    is_address,
    mapshare_address,
    read_answer,
    request_for,
)
from coursewatch.live.targets import host_of
from coursewatch.live.waits import nap
from coursewatch.protocols import Decoded
from coursewatch.settings import Settings
from coursewatch.store import StoreUnavailable

log = logging.getLogger("coursewatch.live.feeds")
KINDS = ("mapshare", "spot")
NOT_IN_A_NAME = set(" \t/?#%")  # a MapShare name, a SPOT id: one part of an address
OVERLAP_S = 3600.0  # asked again each poll: satellite messages arrive up to this late
MAX_BYTES = 5 * 1024 * 1024  # one answer; a 5-minute poll brings a few kB
MIN_SPAN_S = 600.0  # an answer too large is asked again for half the time, down to this
BACKOFF_MAX_S = 3600.0
STORE_RETRY_S = 30.0  # a poll whose fixes the store could not take: asked again after
CONCURRENT = 8  # polls in flight at once
DEVICES_SHOWN = 20  # devices of one feed counted, at most

Ingest = Callable[[str, str, Decoded, str], Awaitable[Any]]  # race, bib, decoded, protocol


@dataclass(frozen=True)
class FeedConfig:
    """A runner's feed: ``kind`` mapshare or spot, ``ident`` the MapShare name (or its
    share.garmin.com address) or the SPOT feed id, and the password if the page has one."""

    kind: str
    ident: str
    password: str = ""

    @staticmethod
    def from_json(obj: object) -> FeedConfig:
        if not isinstance(obj, dict):
            raise InputError('a feed is {"kind": "mapshare" or "spot", "id": ..., "password": ...}')
        kind, ident, password = obj.get("kind"), obj.get("id"), obj.get("password") or ""
        if kind not in KINDS:
            raise InputError(f"feed kind {kind!r}: give mapshare or spot")
        if not isinstance(ident, str) or not 0 < len(ident.strip()) <= 200:
            raise InputError("feed id: give the MapShare name (or address) or SPOT feed id")
        if not isinstance(password, str) or len(password) > 200:
            raise InputError("feed password: give text of at most 200 characters")
        ident = ident.strip()
        if kind == "mapshare" and is_address(ident):
            try:  # a password in the address is kept as the password, never shown with it
                ident, in_address = mapshare_address(ident)
            except ValueError as exc:
                raise InputError(f"feed address: {exc}") from None
            password = password or in_address
        elif set(ident) & NOT_IN_A_NAME or not ident.isprintable():
            what = (
                "the last part of the runner's share.garmin.com address, e.g. BobOkafor"
                if kind == "mapshare"
                else "the id in the SPOT shared page's address"
            )
            raise InputError(f"feed id {ident[:40]!r} has a space or one of / ? # %: give {what}")
        return FeedConfig(str(kind), ident, password)

    @staticmethod
    def stored(obj: dict[str, Any]) -> FeedConfig:
        """A feed as the store kept it, unchecked: one stored before today's checks stays
        (the poller says what is wrong with it), and never stops the server's start."""
        return FeedConfig(str(obj.get("kind", "")), str(obj.get("id", "")),
                          str(obj.get("password") or ""))  # fmt: skip

    def to_json(self, secrets: bool = True) -> dict[str, Any]:
        out = {"kind": self.kind, "id": self.ident}
        return {**out, "password": self.password} if secrets else out


@dataclass
class Feed:
    """One runner's feed and its health."""

    race_id: str
    bib: str
    config: FeedConfig
    since_s: float  # asks for messages from here (the newest fix brought, less the overlap)
    span_s: float | None = None  # MapShare: asks only this long after since_s (catching up)
    due_ts: float = 0.0  # monotonic: when it is polled next (inf: being polled)
    polls: int = 0
    messages: int = 0  # what the polls brought, the overlap asked again included
    failures: int = 0
    last_ok_ts: float | None = None
    last_error: str = ""
    last_error_ts: float | None = None
    newest_fix_s: float | None = None
    handed: set[float] = field(default_factory=set)  # fix times handed over, within the window
    devices: set[str] = field(default_factory=set)  # the devices the feed showed

    def status(self, now_mono: float) -> dict[str, Any]:
        state = "ok" if self.last_ok_ts and not self.failures else "waiting"
        if self.failures:
            state = "error"
        polling = math.isinf(self.due_ts)
        return {
            "bib": self.bib, **self.config.to_json(secrets=False), "state": state,
            "last_ok_ts": self.last_ok_ts, "last_error": self.last_error,
            "last_error_ts": self.last_error_ts, "polls": self.polls, "messages": self.messages,
            "newest_fix_s": self.newest_fix_s, "polling": polling,
            "next_poll_s": 0 if polling else round(max(0.0, self.due_ts - now_mono)),
            "devices": len(self.devices), "warning": self.warning(),
        }  # fmt: skip

    def warning(self) -> str:
        """What race HQ should check, in words ("": nothing)."""
        if self.span_s is not None:
            return (f"catching up: too many messages at once, asked {self.span_s / 3600:.1f} h "
                    "at a time")  # fmt: skip
        if len(self.devices) < 2:
            return ""
        return (f"the feed shows {len(self.devices)} devices: the positions of all of them are "
                f"taken as bib {self.bib}'s (an SOS is ended only by the device that sent it); "
                "give the runner's own feed if it is a shared account")  # fmt: skip


class FeedPoller:
    """Polls every runner's feed within the hosts' limits; hands what comes to ``ingest``."""

    def __init__(
        self,
        settings: Settings,
        ingest: Ingest,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        self.clock = clock
        self.feeds: dict[tuple[str, str], Feed] = {}
        self.hosts: dict[str, HostBudget] = {}
        self._transport = transport
        self._client = self._new_client()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT)
        self._task: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[None]] = set()

    def _new_client(self) -> httpx.AsyncClient:
        async def where(request: httpx.Request) -> None:  # each request, redirects' too
            if not feed_host_ok(request.url.host, self.settings):
                raise FeedError(f"{request.url.host} is not a MapShare or SPOT host")

        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.feed_timeout_s,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=CONCURRENT),
            headers={"User-Agent": "coursewatch-feeds"},
            event_hooks={"request": [where]},
        )

    def start(self) -> None:
        """Poll (again, after :meth:`stop`: a worker that holds the outbox lease again)."""
        if self._client.is_closed:
            self._client = self._new_client()
        self._task = asyncio.create_task(self._run())

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        for task in [self._task, *self._polls]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for feed in self.feeds.values():  # a poll cancelled in flight: due again at a start
            if math.isinf(feed.due_ts):
                feed.due_ts = time.monotonic()
        await self._client.aclose()

    def put(self, race_id: str, bib: str, config: FeedConfig | None, since_s: float) -> None:
        """Poll this runner's feed (None: stop); a new feed is first polled within one
        interval, at a place of its own in it (spread by bib)."""
        key = (race_id, bib)
        old = self.feeds.pop(key, None)
        if config is None:
            return
        if old is not None and old.config == config:
            self.feeds[key] = old
            return
        spread = (zlib.crc32(f"{race_id}/{bib}".encode()) % 1000) / 1000 * self.settings.feed_poll_s
        self.feeds[key] = Feed(race_id, bib, config, since_s, due_ts=time.monotonic() + spread)
        self._wake.set()

    def poll_now(self, race_id: str, bib: str) -> None:
        feed = self.feeds.get((race_id, bib))
        if feed is not None and not math.isinf(feed.due_ts):  # not while it is being polled
            feed.due_ts = 0.0  # ahead of every feed that is due (within the budget)
            self._wake.set()

    def status(self, race_id: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [f.status(now) for f in self.feeds.values() if f.race_id == race_id]

    def host_status(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return {h: {"requests": b.sent, "blocked_s": round(max(0.0, b.blocked_until - now))}
                for h, b in self.hosts.items()}  # fmt: skip

    async def _run(self) -> None:
        while True:
            try:
                wait_s = self._launch_due()
            except Exception:  # one feed must never stop the polling of every other
                log.exception("feed poller")
                wait_s = 5.0
            await nap(self._wake, max(0.05, min(wait_s, 5.0)))

    def _launch_due(self) -> float:
        """Start the polls that are due and allowed; returns how long until the next."""
        now = time.monotonic()
        next_s = self.settings.feed_poll_s
        for feed in sorted(self.feeds.values(), key=lambda f: f.due_ts):
            if feed.due_ts > now:
                return min(next_s, feed.due_ts - now)
            try:
                budget = self._budget(budget_key(request_for(feed, self.settings)[0]))
            except ValueError as exc:  # an address stored before it was checked as it is now
                self._failed(feed, f"the feed's address cannot be used ({exc})", "", 0.0)
                continue
            wait = budget.wait_s(now)
            if wait > 0:  # this host's turn comes later; others may go
                next_s = min(next_s, wait)
                continue
            feed.due_ts = math.inf  # in flight
            task = asyncio.create_task(self._poll(feed))
            self._polls.add(task)
            task.add_done_callback(self._polls.discard)
        return next_s

    def _budget(self, host: str) -> HostBudget:
        budget = self.hosts.get(host)
        if budget is None:
            per_hour = float(self.settings.feed_hourly_budget)
            burst = max(1.0, min(10.0, per_hour / 60.0))
            budget = self.hosts[host] = HostBudget(per_hour, burst, burst)
        return budget

    async def _poll(self, feed: Feed) -> None:
        url, params, auth = request_for(feed, self.settings)
        async with self._slots:
            feed.polls += 1
            try:
                decoded, complete = await self._fetch(feed, url, params, auth)
                await self._take(feed, decoded, complete)
            except AnswerTooLarge as exc:
                if not self._narrow(feed):
                    self._failed(feed, str(exc), budget_key(url), 0.0)
            except FeedError as exc:
                self._failed(feed, str(exc), budget_key(url), exc.block_s)
            except StoreUnavailable as exc:  # not the feed's fault: the same poll again soon
                feed.last_error, feed.last_error_ts = f"not stored: {exc}", self.clock()
                feed.due_ts = time.monotonic() + min(STORE_RETRY_S, self.settings.feed_poll_s)
            except Exception as exc:  # a poll must never stop the poller
                log.exception("feed of bib %s in %s", feed.bib, feed.race_id)
                self._failed(feed, f"{type(exc).__name__} while polling", budget_key(url), 0.0)
            finally:
                self._wake.set()

    async def _fetch(
        self, feed: Feed, url: str, params: dict[str, str], auth: httpx.BasicAuth | None
    ) -> tuple[Decoded, bool]:
        """Everything new in the feed (every SPOT page, each within the host's budget) and
        whether it is all of it."""
        out, start = Decoded(), 0
        while True:
            asked = {**params, "start": str(start)} if start else params
            status, headers, body = await self._get(url, asked, auth)
            kind = feed.config.kind  # read off the loop: an answer can be megabytes of XML
            page = await asyncio.to_thread(read_answer, kind, status, headers, body)
            for fix, i in zip(page.decoded.fixes, page.decoded.index, strict=True):
                out.add(fix, start + i)
            out.events += page.decoded.events
            out.problems += page.decoded.problems
            start += page.count
            if not page.count or start >= page.total:
                return out, True
            if self._budget(budget_key(url)).wait_s(time.monotonic()) > 0:
                return out, False  # the rest at the next poll, from the same place

    async def _get(
        self, url: str, params: dict[str, str], auth: httpx.BasicAuth | None
    ) -> tuple[int, httpx.Headers, bytes]:
        try:  # the whole answer within twice the timeout: a trickle of bytes holds no slot
            async with (
                asyncio.timeout(2 * self.settings.feed_timeout_s),
                self._client.stream("GET", url, params=params, auth=auth) as r,
            ):
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise AnswerTooLarge(f"the answer is over {MAX_BYTES / 2**20:g} MB")
        except (httpx.TimeoutException, TimeoutError):
            raise FeedError(f"no answer within {self.settings.feed_timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise FeedError(f"cannot reach {host_of(url)} ({type(exc).__name__})") from None
        return r.status_code, r.headers, bytes(body)

    async def _take(self, feed: Feed, decoded: Decoded, complete: bool) -> None:
        """Hand what a poll brought to the pipeline, as the runner's: in time order (SPOT
        answers newest first, and an older fix after a newer one is a late one), without the
        fixes an earlier poll handed over (the overlap, asked again each time: older than the
        runner's fixes kept in memory, each would replay the runner from the store). The
        events keep their device: another device's state ends nothing of this one's."""
        bib, now_s = feed.bib, self.clock()
        asked_to_s = None if feed.span_s is None else feed.since_s + feed.span_s  # (d2)
        fixes = sorted(decoded.fixes, key=lambda f: f.time_s)
        new = Decoded(problems=decoded.problems,
                      events=sorted((replace(e, bib=bib) for e in decoded.events),
                                    key=lambda e: e.time_s))  # fmt: skip
        for i, fix in enumerate(fixes):
            if fix.time_s not in feed.handed:
                new.add(replace(fix, device_id=None, bib=bib), i)
        if (feed.race_id, bib) in self.feeds and (new.fixes or new.events):
            await self.ingest(feed.race_id, bib, new, feed.config.kind)
        # a message dated ahead of the server clock (a device's clock gone wrong) is dropped
        # by the pipeline: it must not move the window, or every later poll asks from it
        newest = max((f.time_s for f in fixes if f.time_s <= now_s + self.settings.max_future_s),
                     default=None)  # fmt: skip
        if newest is not None and complete:
            feed.newest_fix_s = max(newest, feed.newest_fix_s or newest)
            feed.since_s = max(feed.since_s, feed.newest_fix_s - OVERLAP_S)
        due_s = self.settings.feed_poll_s
        if asked_to_s is not None:  # a part caught up: the next part at once, or the rest
            if asked_to_s < now_s - OVERLAP_S:
                feed.since_s, due_s = max(feed.since_s, asked_to_s), 0.0
            else:
                feed.span_s = None
        feed.handed = {t for t in feed.handed | {f.time_s for f in new.fixes} if t >= feed.since_s}
        if len(feed.devices) < DEVICES_SHOWN:
            feed.devices |= {f.device_id for f in fixes if f.device_id}
        feed.messages += len(decoded.fixes)
        feed.failures, feed.last_ok_ts = 0, self.clock()
        feed.due_ts = time.monotonic() + due_s

    def _narrow(self, feed: Feed) -> bool:
        """A MapShare answer too large (a whole race of frequent pings, asked from the start
        for a feed added mid-race or taken over by another machine): asked again for half as
        long a time at once, parts in a row until it has caught up. False: it cannot be."""
        span = feed.span_s if feed.span_s is not None else self.clock() - feed.since_s
        if feed.config.kind != "mapshare" or span <= MIN_SPAN_S:
            return False
        feed.span_s, feed.due_ts = max(MIN_SPAN_S, span / 2), time.monotonic()
        return True

    def _failed(self, feed: Feed, reason: str, host: str, block_s: float) -> None:
        feed.failures += 1
        feed.last_error, feed.last_error_ts = reason, self.clock()
        if block_s > 0 and host:
            self._budget(host).blocked_until = time.monotonic() + block_s
            log.warning("feed host %s said to wait %.0f s", host, block_s)
        backoff = self.settings.feed_poll_s * 2 ** min(feed.failures - 1, 10)
        feed.due_ts = time.monotonic() + max(block_s, min(BACKOFF_MAX_S, backoff))
