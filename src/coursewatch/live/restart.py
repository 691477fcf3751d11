"""Race HQ restarting: every runner back where they were, nothing raised twice.

A runner with a stored state (:mod:`coursewatch.live.durable`) goes on from it (the race's
clock too: a replayed recording's), and the fixes stored after it are played again through
the pipeline; one without (or whose state no longer
fits the race) is rebuilt from every stored fix, engine only. Then the silence of each counts
from now (trackers could not reach the server meanwhile). When the server stops, every
runner's state is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from coursewatch.live import durable
from coursewatch.live.pipeline import Pipeline
from coursewatch.live.registry import LiveRace, Registry
from coursewatch.live.work import keys
from coursewatch.store import Store

log = logging.getLogger("coursewatch.live.restart")


@dataclass
class Resumed:
    """What a restart did for one race: runners resumed from their state (and the fixes
    played again after it), runners rebuilt from every fix (no state of theirs fits), events
    raised again as new (none, unless the state was not stored)."""

    resumed: int = 0
    replayed_fixes: int = 0
    rebuilt: int = 0
    raised_again: int = 0
    seconds: float = 0.0


async def load_runners(
    race: LiveRace, store: Store, registry: Registry, pipeline: Pipeline, now_s: float,
    replay: bool = False,
) -> Resumed:  # fmt: skip
    """A race's runners from the store, each back in their last state; ``replay`` (another
    course): one rebuilt from their fixes has what the old course raised and the new one
    does not taken back (Pipeline.put_back)."""
    started = time.perf_counter()
    out = Resumed()
    watch = pipeline.watch(race)
    states = store.runner_states(race.id)
    runners = [registry.add_runner(record) for record in store.runners(race.id)]
    # those back in their state first: one rebuilt from their fixes, first heard hours into
    # a lap course, is placed by the field's pace (live/fieldpace.py) of the runners back
    runners.sort(key=lambda r: not durable.fits(race, r, states.get(r.bib)))
    for runner in runners:
        work = pipeline.put_back(race, runner, states.get(runner.bib), replay)
        rebuilt = work is not None and work.protocol == "rebuild"
        if work is not None:
            out.resumed += not rebuilt
            out.rebuilt += rebuilt
            if work.steps:  # (none after a clean stop: nothing to store again)
                saved = await pipeline.save(work)
                out.replayed_fixes += 0 if rebuilt else sum(len(m.index) for m in work.steps)
                out.raised_again += len(saved.new)
                if rebuilt:  # on another course: the boards drop what it takes back
                    pipeline.publish_incidents(saved.incidents)
        watch.resume(runner, now_s)
    out.seconds = time.perf_counter() - started
    if out.resumed or out.rebuilt:
        log.info(
            "race %s: %d runners resumed from their state (%d fixes played again), %d rebuilt "
            "from their fixes, %d events raised again, in %.1f s", race.id, out.resumed,
            out.replayed_fixes, out.rebuilt, out.raised_again, out.seconds,
        )  # fmt: skip
    return out


async def keep_states(
    store: Store,
    pipeline: Pipeline,
    races: list[LiveRace],
    only: Callable[[str, str], bool] | None = None,
) -> None:
    """Store every runner's state (the server stops; ``only``: those it says, a worker's), but
    of those whose last batch could not be stored (the store's is theirs)."""
    for race in races:
        watch = pipeline.watch(race)
        runs = [(race, r, watch.of(r), True) for r in race.runners.values()
                if not r.suspect and (only is None or only(race.id, r.bib))]  # fmt: skip
        states = durable.states(runs, pipeline.clock())
        try:  # (refused after a write of theirs that failed: the store's state stays)
            if states:
                await store.save([], [], states=states, keys=keys([r for _, r, _, _ in runs]))
        except Exception as exc:  # the store is away: the restart plays more fixes again
            log.warning("race %s: the runners' states were not stored: %s", race.id, exc)
