"""What feeding a runner's fixes to the engine did: the events, and what the time-based
detectors follow (live/runner.py makes it, live/pipeline.py and live/clock.py read it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from coursewatch.engine.events import Event


@dataclass
class Step:
    """What one fix (or a run of newer fixes) did: events raised, and from which fix time the
    past was replayed."""

    # (event, time of the fix that raised it, speed away from the course in m/s)
    events: list[tuple[Event, float, float]] = field(default_factory=list)
    replay_from_s: float | None = None
    needs_rebuild: bool = False
    # the fixes that were the runner's newest when fed (no replay), in time order, and the
    # progress after each: the time-based detectors follow them
    new_s: list[float] = field(default_factory=list)
    progress_m: list[float] = field(default_factory=list)
    off: list[bool] = field(default_factory=list)  # and whether it was off the course then
    at: list[tuple[float, float]] = field(default_factory=list)  # and where (a run of several)
