"""Fixes as the store keeps them (:class:`coursewatch.store.FixRow`), and back; an engine
event as the alert row the store keeps."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from coursewatch.analysis.transport import journey_of, on_foot_of
from coursewatch.engine.config import EngineConfig
from coursewatch.protocols import Fix
from coursewatch.store import AlertRecord, FixRow

if TYPE_CHECKING:
    from coursewatch.engine.events import Event
    from coursewatch.live.registry import LiveRace
    from coursewatch.live.runner import LiveRunner


SHORTCUT_M = EngineConfig().shortcut_m  # course skipped beyond what was run: a shortcut


class Arrived(Protocol):
    received_s: float  # when they arrived (server clock)
    protocol: str  # how


def stored_fix(r: FixRow) -> Fix:
    """A stored fix, as its runner's (a restart plays it again)."""
    return Fix(
        r.time_s, r.lat, r.lon, bib=r.bib, accuracy_m=r.accuracy_m, speed_mps=r.speed_mps,
        bearing_deg=r.bearing_deg, altitude_m=r.altitude_m, battery_pct=r.battery_pct,
    )  # fmt: skip


def fix_rows(race_id: str, bib: str, fixes: list[Fix], batch: Arrived) -> list[FixRow]:
    """A runner's fixes of a batch, as rows to store."""
    at, source, new = batch.received_s, batch.protocol, tuple.__new__  # one tuple a fix, no call
    return [
        new(FixRow, (race_id, bib, f.time_s, f.lat, f.lon, f.accuracy_m, f.speed_mps,
                     f.bearing_deg, f.altitude_m, f.battery_pct, at, source))
        for f in fixes
    ]  # fmt: skip


def say_event(
    race: LiveRace, runner: LiveRunner, raised: tuple[Event, float, float]
) -> AlertRecord:
    """An engine event in words, where its fix was. A way back from a ride (a car, a shuttle:
    faster than anyone runs, analysis/transport.py) that skipped more course than the runner
    went on foot is a shortcut, as ``analyze`` says it: the engine measured the distance the
    vehicle moved as run."""
    ev, raised_s, trend_mps = raised
    fix = runner.fix_at(ev.at.time.timestamp())
    ride = _ride(runner, ev) if ev.kind == "back_on_course" else None
    if ride is not None:
        ev = replace(ev, kind="shortcut")
    return race.narrator.record(race.id, runner.bib, ev, raised_s, trend_mps, fix, ride)


def cuts_of(said: list[AlertRecord]) -> list[tuple[float, float]]:
    """The course each shortcut among ``said`` skipped (from, to)."""
    return [(float(left["course_m"]), a.course_m) for a in said
            if a.kind == "shortcut" and (left := a.detail.get("left"))
            and left["course_m"] is not None and a.course_m]  # fmt: skip


def _ride(runner: LiveRunner, ev: Event) -> float | None:
    """The speed of the ride in a way back that skipped course, None: none."""
    left, at = ev.left, ev.at
    if left is None or left.course_m is None or at.course_m is None:
        return None
    kept = runner.kept(left.time.timestamp(), at.time.timestamp())
    if kept is None or len(kept) < 2:
        return None
    t, lat, lon = kept[:, 0], kept[:, 1], kept[:, 2]
    found = journey_of(t, lat, lon)
    skipped_m = at.course_m - left.course_m
    if found is None or on_foot_of(t, lat, lon) - skipped_m >= -SHORTCUT_M:
        return None
    return found.speed_mps
