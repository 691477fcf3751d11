"""Race HQ removes a runner or a whole race: a rehearsal's race whose trackers are now the real
race's, a runner registered by mistake, a race's tracks once the event is over. Everything of
theirs goes: registration, devices, fixes, incidents, notifications waiting, feed, contacts,
token. A part of :class:`coursewatch.live.server.Server` (it inherits these).

The other nodes of a race HQ on several machines read the change from the store
(:meth:`coursewatch.live.node.Nodes.reload_race`) and forget the same in memory.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from coursewatch.bus.redis import views_key
from coursewatch.live.fieldwatch import meta_key
from coursewatch.spots import spot_checks_key

if TYPE_CHECKING:
    from coursewatch.bus import Bus
    from coursewatch.bus.redis import RedisBus
    from coursewatch.live.contacts import Contacts
    from coursewatch.live.feeds import FeedPoller
    from coursewatch.live.pipeline import Pipeline
    from coursewatch.live.registry import LiveRace, Registry
    from coursewatch.live.restart import Resumed
    from coursewatch.live.runner import LiveRunner
    from coursewatch.live.webhooks import WebhookSender
    from coursewatch.store import Store

log = logging.getLogger("coursewatch.live.removal")
REMOVED = "removed"  # the event kind: {"bib"} a runner, {"race"} the race


def race_meta_keys(race_id: str) -> list[str]:
    """What a race keeps in the store's meta: privacy and tokens, contacts and feeds, history."""
    return [f"privacy/{race_id}", f"contacts/{race_id}", meta_key(race_id),
            spot_checks_key(race_id)]  # fmt: skip


class Removal:
    """The removing methods :class:`Server` gets from here."""

    _store: Store
    _registry: Registry
    _pipeline: Pipeline
    _bus: Bus
    _webhooks: WebhookSender
    contacts: Contacts
    feeds: FeedPoller
    views: dict[str, dict[str, tuple[float, dict[str, Any]]]]
    not_loaded: dict[str, str]
    resumed: dict[str, Resumed]

    if TYPE_CHECKING:

        def race(self, race_id: str) -> LiveRace: ...  # live/server.py

        def runner(self, race_id: str, bib: str) -> LiveRunner: ...  # live/server.py

        def _changed(self, race_id: str) -> None: ...  # live/node.py

        @property
        def redis_bus(self) -> RedisBus | None: ...  # live/node.py

        async def _save_privacy(self, race: LiveRace) -> None: ...  # live/access.py

    async def delete_runner(self, race_id: str, bib: str) -> dict[str, int]:
        """Take a runner out of the race and the store; returns how many rows went, by table.
        The store first: refused (the database away), nothing is forgotten and it can be
        asked again."""
        race = self.race(race_id)
        runner = self.runner(race.id, bib)
        bib = runner.bib
        runner.gone = True  # a batch of theirs in flight stores nothing more
        try:
            removed = await self._store.delete_runner(race.id, bib)
        except BaseException:
            runner.gone = False
            raise
        hidden = bib in race.hidden  # (the public is not told of one who opted out)
        had_privacy = hidden or bib in race.runner_tokens
        self.forget_runner(race, bib)
        book = self.contacts.of(race.id)
        if any(bib in part for part in (book.feeds, book.runner, book.crew)):
            for part in (book.feeds, book.runner, book.crew):
                part.pop(bib, None)
            await self.contacts.save(race.id)
        if had_privacy:
            await self._save_privacy(race)
        await self._forget_views(race.id, bib)
        self._changed(race.id)
        self._bus.publish(race.id, REMOVED, {"bib": bib, "hidden": hidden})
        return removed

    async def delete_race(self, race_id: str) -> dict[str, int]:
        """Remove a race, its runners and everything of theirs (a race that could not be
        loaded at start too); returns how many rows went, by table."""
        if race_id not in self.not_loaded:
            race_id = self.race(race_id).id  # 404 for a race that is not there
        live = self._registry.races.get(race_id)
        runners = [] if live is None else list(live.runners.values())
        hooks = self._store.webhooks(race_id)
        for r in runners:
            r.gone = True
        try:
            removed = await self._store.delete_race(race_id, race_meta_keys(race_id))
        except BaseException:
            for r in runners:
                r.gone = False
            raise
        self.forget_race(race_id)
        for hook in hooks:
            await self._webhooks.forget(hook.id)
        await self._forget_views(race_id, None)
        self._changed(race_id)
        self._bus.publish(race_id, REMOVED, {"race": race_id})
        return removed

    async def _forget_views(self, race_id: str, bib: str | None) -> None:
        """Several machines: the runner views Redis keeps for web nodes (a bib or a race id
        used again must not show the removed one's)."""
        bus = self.redis_bus
        if bus is None:
            return
        try:
            if bib is None:
                await bus.redis.delete(views_key(race_id))
            else:
                await bus.redis.hdel(views_key(race_id), bib)
        except (RedisError, OSError) as exc:  # (the views are replaced by the next updates)
            log.warning("race %s: removed runner views kept in Redis (%s)", race_id, exc)

    def forget_runner(self, race: LiveRace, bib: str) -> None:
        """A runner removed, in this node's memory (the store is the caller's)."""
        runner = race.runners.get(bib)
        if runner is not None:
            runner.gone = True  # (a worker's batch of theirs in flight: not stored)
        self.feeds.put(race.id, bib, None, 0.0)
        self._registry.forget_runner(race.id, bib)
        watch = self._pipeline.watches.get(race.id)
        if watch is not None:
            watch.runners.pop(bib, None)
        self.views.get(race.id, {}).pop(bib, None)

    def forget_race(self, race_id: str) -> None:
        """A race removed, in this node's memory."""
        race = self._registry.races.get(race_id)
        for bib in () if race is None else race.runners:
            self.feeds.put(race_id, bib, None, 0.0)
        self._registry.forget_race(race_id)
        self._pipeline.watches.pop(race_id, None)
        self._pipeline.clocks.forget(race_id)
        self.contacts.races.pop(race_id, None)
        for kept in (self.views, self.not_loaded, self.resumed):
            kept.pop(race_id, None)
