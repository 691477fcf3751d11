"""The splits table every report shows: one row per station pass, read off an Analysis.

Rows come from :attr:`Analysis.splits` (the passages the analysis found: the stations, or a
checkpoint every 10 km when the course has none, and the finish); the table says when they are
checkpoints, so no report passes them off as official aid stations. A race file's
reference splits (a course record, last year's winner) ride along as a "ghost": its elapsed
time at the same station visit and the runner's gap to it.

>>> visit_label("Champex", 2)
'Champex (2)'
>>> visit_label("Champex", 1)
'Champex'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coursewatch.analysis import Analysis, Passage
from coursewatch.race import ReferenceSplits

MIN_LEG_M = 50.0  # shorter legs get no pace: the time is mostly the stop


@dataclass(frozen=True)
class Split:
    """The runner at one station visit. ``visit`` counts passes of the same station (1, 2...)."""

    station: str
    visit: int
    course_m: float
    elapsed_s: float
    clock_ts: float
    leg_m: float
    leg_s: float
    pace_s_per_km: float | None
    ghost_elapsed_s: float | None

    @property
    def label(self) -> str:
        return visit_label(self.station, self.visit)

    @property
    def gap_s(self) -> float | None:
        """Runner minus ghost: positive when behind the reference."""
        if self.ghost_elapsed_s is None:
            return None
        return self.elapsed_s - self.ghost_elapsed_s


@dataclass(frozen=True)
class Splits:
    """The table, and what it is made of (``checkpoints``: synthetic 10 km marks)."""

    rows: tuple[Split, ...]
    checkpoints: bool
    ghost: str | None

    @property
    def note(self) -> str | None:
        if not self.checkpoints:
            return None
        return "The course has no stations: splits are every 10 km along the course."


def visit_label(station: str, visit: int) -> str:
    return station if visit <= 1 else f"{station} ({visit})"


def compute_splits(a: Analysis, reference: ReferenceSplits | None = None) -> Splits:
    """The splits of ``a``, with the gap to ``reference`` where it has the same visit."""
    ghost: dict[tuple[str, int], float] = {}
    if reference is not None:
        ghost = {(r.station, r.pass_number): r.elapsed_s for r in reference.splits}
    return Splits(
        _rows(a.splits, a.start_ts, ghost),
        a.checkpoints,
        None if reference is None else reference.name,
    )


def _rows(
    passes: Sequence[Passage],
    start_ts: float,
    ghost: dict[tuple[str, int], float],
) -> tuple[Split, ...]:
    rows: list[Split] = []
    prev_m, prev_ts = 0.0, start_ts
    for p in passes:
        ts = p.time.timestamp()
        visit = p.visit
        leg_m = p.course_m - prev_m
        leg_s = ts - prev_ts
        pace = leg_s / (leg_m / 1000.0) if leg_m >= MIN_LEG_M and leg_s > 0 else None
        rows.append(
            Split(
                p.station,
                visit,
                p.course_m,
                ts - start_ts,
                ts,
                leg_m,
                leg_s,
                pace,
                ghost.get((p.station, visit)),
            )
        )
        prev_m, prev_ts = p.course_m, ts
    return tuple(rows)
