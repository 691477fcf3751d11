"""Earlier editions' results for a live race: ``GET``/``PUT /api/races/{race}/history``.

A part of :class:`coursewatch.live.server.Server` (it inherits these methods). The tables are
kept verbatim in the store's meta (``history/<race>``), read again at start, and turned into
the race's :class:`~coursewatch.live.fieldwatch.FieldWatch` (in a worker thread: reading a few
thousand rows and fitting takes a moment); every runner's splits so far are filled from the
fixes the server keeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from coursewatch.errors import CoursewatchError, InputError
from coursewatch.live.fieldwatch import FieldWatch, build, dumps, meta_key

if TYPE_CHECKING:
    from coursewatch.live.registry import LiveRace
    from coursewatch.store import Store

log = logging.getLogger("coursewatch.live")
HINT = 'send {"editions": [{"edition": "2016", "text": "<the CSV>", "changed": ["<station>"]}]}'


class Histories:
    """The history methods :class:`Server` gets from here."""

    _store: Store

    def race(self, race_id: str) -> LiveRace:
        raise NotImplementedError  # the server's

    def history_of(self, race_id: str) -> dict[str, Any]:
        race = self.race(race_id)
        return {"editions": race.field.summary if race.field is not None else []}

    async def set_history(self, race_id: str, editions: object) -> dict[str, Any]:
        """Replace the race's history (an empty list removes it); InputError if unusable."""
        race = self.race(race_id)
        saved = _checked(editions)
        field = await asyncio.to_thread(_field, race, saved) if saved else None
        await self._store.set_meta(meta_key(race_id), dumps(saved))
        race.field = field
        return self.history_of(race_id)

    def load_history(self, race: LiveRace) -> None:
        """At start: the stored history, if any (a table that no longer reads is logged)."""
        text = self._store.meta(meta_key(race.id))
        if not text:
            return
        try:
            race.field = _field(race, json.loads(text))
        except (CoursewatchError, ValueError, KeyError) as exc:
            log.error("race %s: its history was not loaded: %s", race.id, exc)


def _field(race: LiveRace, saved: list[dict[str, Any]]) -> FieldWatch:
    field = build(race.race, race.course, saved, race.station_m)
    for runner in list(race.runners.values()):
        field.backfill(runner.bib, race.start_s(runner), *runner.progress_series())
    return field


def _checked(editions: object) -> list[dict[str, Any]]:
    if not isinstance(editions, list):
        raise InputError(f"editions must be a list: {HINT}")
    out = []
    for i, item in enumerate(editions):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise InputError(f"editions[{i}] needs the table as text: {HINT}")
        edition = item.get("edition", f"edition {i + 1}")
        changed = item.get("changed", [])
        if not isinstance(edition, str) or not edition.strip():
            raise InputError(f'editions[{i}].edition must be a name such as "2016": {HINT}')
        if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
            raise InputError(f"editions[{i}].changed must be a list of station names: {HINT}")
        out.append({"edition": edition.strip(), "changed": changed, "text": item["text"]})
    return out
