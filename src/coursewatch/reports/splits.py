"""The splits table every report shows: one row per station pass, read off an Analysis.

Rows come from :attr:`Analysis.splits` (the passages the analysis found: the stations, or a
checkpoint every 10 km, or 10 miles, when the course has none, and the finish); the table says
when they are checkpoints, so no report passes them off as official aid stations. A race
file's reference splits (a course record, last year's winner) ride along as a "ghost": its
elapsed time at the same station visit and the runner's gap to it; and its cut-offs, with how
long after each one the runner reached it.

>>> visit_label("Champex", 2)
'Champex (pass 2)'
>>> visit_label("Champex", 1)
'Champex'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from coursewatch.analysis import Analysis, Passage
from coursewatch.analysis.passes import CHECKPOINT_EVERY_UNITS
from coursewatch.eta import skipped_by
from coursewatch.race import ReferenceSplits
from coursewatch.units import KM, Units

MIN_LEG_M = 50.0  # shorter legs get no pace: the time is mostly the stop
CUTOFF_MATCH_M = 1000.0  # a race file's cut-off is a split's of the same station this near


@dataclass(frozen=True)
class Cutoff:
    """A station visit's cut-off, from the race file: the station, where, and when."""

    station: str
    course_m: float
    ts: float


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
    skipped: bool = False  # inside a stretch of course the runner cut: its time is the rejoin's
    cutoff_ts: float | None = None  # the race file's cut-off of this visit

    @property
    def late_s(self) -> float | None:
        """How long after its cut-off the runner reached it (negative: before); None without
        one, or for a station they cut past (its time is the rejoin's: Dark Sky's Lebo Vista,
        passed in the shuttle, read "reached 31 min after it")."""
        if self.cutoff_ts is None or self.skipped:
            return None
        return self.clock_ts - self.cutoff_ts

    @property
    def missed_cutoff(self) -> bool:
        """Reached after its cut-off."""
        return self.late_s is not None and self.late_s > 0.0

    @property
    def label(self) -> str:
        return visit_label(self.station, self.visit)

    def pace_text(self, u: Units, per: bool = True) -> str:
        """The leg's pace (``per``: with its "/km"); "skipped" for a station the runner cut
        past (a route variant, a vehicle), where a pace would be 0'00"/km."""
        return "skipped" if self.skipped else u.pace(self.pace_s_per_km, per)

    @property
    def gap_s(self) -> float | None:
        """Runner minus ghost: positive when behind the reference."""
        if self.ghost_elapsed_s is None:
            return None
        return self.elapsed_s - self.ghost_elapsed_s


@dataclass(frozen=True)
class Splits:
    """The table, and what it is made of (``checkpoints``: synthetic 10 km or 10 mile marks;
    ``units``: the race's)."""

    rows: tuple[Split, ...]
    checkpoints: bool
    ghost: str | None
    units: Units = KM
    from_first_fix: bool = False  # begun mid-race, no race start: times from the first fix

    @property
    def time_heading(self) -> str:
        """The elapsed time's column: "race time", or "since first fix" where the race's
        start is not known and the recording began mid-race."""
        return "since first fix" if self.from_first_fix else "race time"

    @property
    def cutoffs(self) -> bool:
        """Whether any visit has a cut-off (the table then shows them)."""
        return any(r.cutoff_ts is not None for r in self.rows)

    @property
    def missed(self) -> tuple[Split, ...]:
        """The visits reached after their cut-off."""
        return tuple(r for r in self.rows if r.missed_cutoff)

    @property
    def note(self) -> str | None:
        if not self.checkpoints:
            return None
        every = f"{CHECKPOINT_EVERY_UNITS} {'miles' if self.units.miles else 'km'}"
        return f"The course has no stations: splits are every {every} along the course."

    @property
    def mark(self) -> str:
        """What a checkpoint is called on the map's key: "10 km mark", "10 mile mark"."""
        return f"{CHECKPOINT_EVERY_UNITS} {'mile' if self.units.miles else 'km'} mark"


def visit_label(station: str, visit: int) -> str:
    """A station's name, and which pass of it past the first (as race HQ's board says it)."""
    return station if visit <= 1 else f"{station} (pass {visit})"


def compute_splits(
    a: Analysis, reference: ReferenceSplits | None = None, cutoffs: Sequence[Cutoff] = ()
) -> Splits:
    """The splits of ``a``, with the gap to ``reference`` where it has the same visit, and
    the race file's ``cutoffs`` of each visit (by station and place)."""
    ghost: dict[tuple[str, int], float] = {}
    if reference is not None:
        ghost = {(r.station, r.pass_number): r.elapsed_s for r in reference.splits}
    cuts = a.cuts
    # a recording begun mid-race with no race start: its first leg from its first fix
    began_m = 0.0 if a.starts_at_m is None else a.starts_at_m
    rows = tuple(replace(r, cutoff_ts=_cutoff(r, cutoffs)) for r in
                 _rows(a.splits, a.start_ts, ghost, cuts, began_m))  # fmt: skip
    return Splits(
        rows,
        a.checkpoints,
        None if reference is None else reference.name,
        a.units,
        a.starts_at_m is not None,
    )


def _cutoff(r: Split, cutoffs: Sequence[Cutoff]) -> float | None:
    """The cut-off of the visit: of the station's, the nearest along the course (a finish
    placed 66 m short of the course's end in the race file is the course's end's)."""
    same = [c for c in cutoffs if c.station == r.station
            and abs(c.course_m - r.course_m) < CUTOFF_MATCH_M]  # fmt: skip
    return min(same, key=lambda c: abs(c.course_m - r.course_m)).ts if same else None


def _rows(
    passes: Sequence[Passage],
    start_ts: float,
    ghost: dict[tuple[str, int], float],
    cuts: Sequence[tuple[float, float]] = (),
    began_m: float = 0.0,
) -> tuple[Split, ...]:
    """The rows, the first leg from ``began_m`` at ``start_ts``; a pass inside one of the
    ``cuts`` (course from, to: the shortcuts) is skipped, and neither leg that touches it has
    a pace; one within ``AT_STATION_M`` before where the runner came back was reached there
    (UTMB 2021's Vallorcine, 30 m before the rejoin, read "skipped"), and only the leg to it
    has none."""
    rows: list[Split] = []
    prev_m, prev_ts, prev_skipped = began_m, start_ts, False
    for p in passes:
        ts = p.time.timestamp()
        visit = p.visit
        leg_m = p.course_m - prev_m
        leg_s = ts - prev_ts
        inside = any(a < p.course_m < b for a, b in cuts)
        skipped = any(skipped_by(p.course_m, cut) for cut in cuts)
        timed = leg_m >= MIN_LEG_M and leg_s > 0 and not (inside or prev_skipped)
        rows.append(
            Split(
                p.station,
                visit,
                p.course_m,
                ts - start_ts,
                ts,
                leg_m,
                leg_s,
                leg_s / (leg_m / 1000.0) if timed else None,
                ghost.get((p.station, visit)),
                skipped,
            )
        )
        # (a station just behind where a recording begun mid-race starts is passed at its
        # first fix: the next leg is from where the runner was then)
        prev_m, prev_ts, prev_skipped = max(p.course_m, began_m), ts, skipped
    return tuple(rows)
