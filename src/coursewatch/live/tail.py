"""A runner's last fixes in memory: what a late fix rewinds through (live/runner.py)."""

from __future__ import annotations

import numpy as np

from coursewatch.geo import FloatArray

TAIL_CAP = 4096  # fixes kept at most; when full, the older half is let go
FIRST_ROOM = 64  # fixes of room at first: it doubles as they come, up to TAIL_CAP


class Tail:
    """Time, lat, lon, accuracy (NaN: none) and the progress after each, oldest first, in
    ``rows`` and ``prog`` up to ``n``. The room grows as fixes come: a satellite tracker's few
    hundred a race take a few KB, where room for TAIL_CAP at once took 160 KB a runner.

    >>> t = Tail()
    >>> t.room(100); len(t.prog), t.n
    (128, 0)
    >>> t.n = 100; t.room(3996); len(t.prog)
    4096
    """

    def __init__(self) -> None:
        self.rows = np.empty((FIRST_ROOM, 4))
        self.prog = np.zeros(FIRST_ROOM)
        self.n = 0

    def room(self, k: int) -> None:
        """Room for ``k`` more fixes (at most TAIL_CAP in all: :meth:`trim` first)."""
        if self.n + k > len(self.prog):
            if self.n + k > TAIL_CAP:
                raise ValueError(f"no room for {k} more fixes past {self.n}: trim first")
            size = min(TAIL_CAP, max(self.n + k, 2 * len(self.prog)))
            rows, prog = np.empty((size, 4)), np.zeros(size)
            rows[: self.n], prog[: self.n] = self.rows[: self.n], self.prog[: self.n]
            self.rows, self.prog = rows, prog

    def extend(self, rows: FloatArray, prog: FloatArray) -> None:
        """Fixes newer than the last (rows of time, lat, lon, accuracy) and the progress after
        each."""
        k = len(prog)
        self.room(k)
        self.rows[self.n : self.n + k] = rows
        self.prog[self.n : self.n + k] = prog
        self.n += k

    def append(self, row: tuple[float, float, float, float], prog: float) -> None:
        """One fix newer than the last, and the progress after it."""
        self.room(1)
        self.rows[self.n] = row
        self.prog[self.n] = prog
        self.n += 1

    def trim(self) -> int:
        """Let the older half of a full tail go; returns how many fixes went."""
        cut = TAIL_CAP // 2
        self.rows[: TAIL_CAP - cut] = self.rows[cut:]
        self.prog[: TAIL_CAP - cut] = self.prog[cut:]
        self.n -= cut
        return cut
