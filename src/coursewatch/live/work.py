"""What travels from one step of the pipeline to the next for one batch (live/pipeline.py)."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from coursewatch.live.registry import LiveRace
from coursewatch.live.report import IngestReport
from coursewatch.live.rows import fix_rows
from coursewatch.live.runner import LiveRunner
from coursewatch.live.step import Step
from coursewatch.protocols import DeviceEvent, Fix
from coursewatch.store import AlertRecord, FixRow


@dataclass
class Routed:
    """One runner's fixes of a batch, in payload order (``index``: their payload positions)."""

    race: LiveRace
    runner: LiveRunner
    fixes: list[Fix] = field(default_factory=list)
    index: list[int] = field(default_factory=list)


@dataclass
class Matched:
    """What one fix, or one run of a runner's newer fixes, did to the runner."""

    routed: Routed
    step: Step
    index: list[int]  # payload positions of the fixes


@dataclass
class Work:
    """What travels from one step to the next for one batch."""

    protocol: str
    received_s: float
    report: IngestReport
    routed: list[Routed] = field(default_factory=list)
    said: list[tuple[LiveRace, LiveRunner, DeviceEvent]] = field(default_factory=list)
    steps: list[Matched] = field(default_factory=list)
    rows: list[FixRow] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    retract: list[tuple[str, str, float]] = field(default_factory=list)
    status_before: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, race_id: str, reason: str, n: int = 1) -> None:
        self.counts.setdefault(race_id, Counter())[reason] += n

    def took(self, g: Routed, step: Step, taken: list[int], late: bool = False) -> None:
        """Fixes of ``g`` (positions ``taken``) the engine took (``late``: older than the
        runner's last), and what they did: to detect and to store."""
        # (the payload's positions in order: the alerts of fixes sent newest first are stored
        # in time order, as the fixes are fed)
        self.steps.append(Matched(g, step, sorted(g.index[p] for p in taken)))
        self.rows.extend(fix_rows(g.race.id, g.runner.bib, [g.fixes[p] for p in taken], self))
        self.report.accepted += len(taken)
        self.count(g.race.id, "accepted", len(taken))
        if late:
            self.count(g.race.id, "late", len(taken))

    def duplicates(self, race_id: str, n: int) -> None:
        self.report.duplicates += n
        self.count(race_id, "duplicate", n)

    def runners(self) -> list[LiveRunner]:
        """Every runner the batch touches: with fixes, or what their device said."""
        return [g.runner for g in self.routed] + [r for _, r, _ in self.said]


def runners_of(works: tuple[Work, ...]) -> list[LiveRunner]:
    """Every runner some of the batches touch, once each."""
    return list({id(r): r for w in works for r in w.runners()}.values())


def merge_retractions(retract: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """One retraction per runner, from the earliest time."""
    first: dict[tuple[str, str], float] = {}
    for race_id, bib, from_s in retract:
        key = (race_id, bib)
        first[key] = min(first.get(key, math.inf), from_s)
    return [(k[0], k[1], s) for k, s in first.items()]


def merge_counts(works: tuple[Work, ...]) -> dict[str, Counter[str]]:
    """What several batches counted, race by race."""
    out: dict[str, Counter[str]] = {}
    for work in works:
        for race_id, counts in work.counts.items():
            out.setdefault(race_id, Counter()).update(counts)
    return out


@dataclass
class Outage:
    """Since when the store refuses batches (None: it took the last one)."""

    since_s: float | None = None


@contextlib.contextmanager
def storing(runners: list[LiveRunner], now_s: float, outage: Outage) -> Iterator[None]:
    """While a batch of ``runners`` is on its way to the store: refused, they are marked
    suspect (put back to what the store holds before their next fix is matched), the store
    away since ``outage`` began (``now_s`` if this is its first refusal)."""
    try:
        yield
    except Exception:
        outage.since_s = now_s if outage.since_s is None else outage.since_s
        for runner in runners:
            runner.suspect = True
            runner.suspect_s = outage.since_s if runner.suspect_s is None else runner.suspect_s
        raise
    outage.since_s = None
    for runner in runners:
        runner.suspect_s = None


def keys(runners: list[LiveRunner]) -> tuple[tuple[str, str, int], ...]:
    """Whose in-memory state a batch was made from (race, bib, epoch): the store refuses a
    batch of a runner after one of theirs it could not store, from the same epoch."""
    return tuple((r.record.race_id, r.bib, r.epoch) for r in runners)
