"""Who may see and send what: the race's and each runner's ingest tokens, what the public
sees, the runners who opted out. A part of :class:`coursewatch.live.server.Server` (it
inherits these methods), kept in the store's meta under ``privacy/<race>``.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from coursewatch.live.privacy import PublicView

if TYPE_CHECKING:
    from coursewatch.live.registry import LiveRace, Registry
    from coursewatch.live.runner import LiveRunner
    from coursewatch.store import Store


def same_secret(given: str, expected: str) -> bool:
    """Compare a token sent by a client with ours, in constant time; any text a client sends
    (non-ASCII, malformed) is just a wrong token."""
    return secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class Access:
    """Tokens and public views: the methods :class:`Server` gets from here."""

    _registry: Registry
    _store: Store

    def race(self, race_id: str) -> LiveRace:
        raise NotImplementedError  # the server's

    def runner(self, race_id: str, bib: str) -> LiveRunner:
        raise NotImplementedError  # the server's

    if TYPE_CHECKING:

        def _changed(self, race_id: str) -> None: ...  # live/node.py

    def race_by_token(self, token: str) -> LiveRace | None:
        for race in self._registry.races.values():
            if same_secret(token, race.record.ingest_token):
                return race
        return None

    def runner_by_token(self, token: str) -> tuple[LiveRace, str] | None:
        """The race and bib a runner's own token opens, if it is one."""
        for race in self._registry.races.values():
            for bib, mine in race.runner_tokens.items():
                if same_secret(token, mine):
                    return race, bib
        return None

    def _load_privacy(self, race: LiveRace) -> None:
        saved = json.loads(self._store.meta(f"privacy/{race.id}") or "{}")
        race.view = PublicView.from_json(saved.get("view", {}))
        race.hidden = set(saved.get("hidden", []))
        race.runner_tokens = dict(saved.get("runner_tokens", {}))

    async def _save_privacy(self, race: LiveRace) -> None:
        saved = {"view": race.view.to_json(), "hidden": sorted(race.hidden),
                 "runner_tokens": race.runner_tokens}  # fmt: skip
        await self._store.set_meta(f"privacy/{race.id}", json.dumps(saved))
        self._changed(race.id)

    async def set_public_view(self, race_id: str, changes: object) -> PublicView:
        """Change what the public sees of a race (keys not given stay as they are)."""
        race = self.race(race_id)
        race.view = PublicView.from_json(changes, race.view)
        await self._save_privacy(race)
        return race.view

    async def set_hidden(self, race_id: str, bib: str, hidden: bool) -> None:
        """A runner opts out of every public view (or back in)."""
        race = self.race(race_id)
        bib = self.runner(race_id, bib).bib
        (race.hidden.add if hidden else race.hidden.discard)(bib)
        await self._save_privacy(race)

    async def new_runner_token(self, race_id: str, bib: str) -> str:
        """A runner's own ingest token (a new one each call: the old stops working): it posts
        that runner's fixes only."""
        race = self.race(race_id)
        bib = self.runner(race_id, bib).bib
        race.runner_tokens[bib] = f"r-{secrets.token_urlsafe(18)}"
        await self._save_privacy(race)
        return race.runner_tokens[bib]
