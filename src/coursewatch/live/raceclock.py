"""Each race's clock: the server's for a live race, the recording's for a replayed one."""

from __future__ import annotations

import time
from collections.abc import Callable

LIVE_LAG_S = 6 * 3600.0  # fixes arriving later than this after their time: a replayed recording


class RaceClocks:
    """The races' clocks, from the newest fix of each and when it arrived."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._newest: dict[str, tuple[float, float]] = {}  # race: newest fix time, received

    def now(self, race_id: str, now_s: float | None = None) -> float:
        """The race's clock. A live race runs on the server's; a race replayed from a
        recording runs on the recording's (its newest fix time, plus the server time since it
        arrived), however fast it is replayed. Live trackers lag (a satellite ping can arrive
        many minutes late): a lag under ``LIVE_LAG_S`` is a live race."""
        wall = self.clock() if now_s is None else now_s
        newest = self._newest.get(race_id)
        if newest is None:
            return wall
        fix_s, received_s = newest
        lag_s = received_s - fix_s
        return wall if lag_s < LIVE_LAG_S else wall - lag_s

    def saw(self, race_id: str, fix_s: float, received_s: float) -> None:
        """A fix of the race (its time, when it arrived)."""
        newest = self._newest.get(race_id)
        if newest is None or fix_s > newest[0]:
            self._newest[race_id] = (fix_s, received_s)

    def forget(self, race_id: str) -> None:
        """A race removed (one made again with its id starts on the server's clock)."""
        self._newest.pop(race_id, None)
