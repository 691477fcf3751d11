"""Several runners on one course, compared: standings, who left the course where, splits.

Standings order finishers by race time, then the others by how far along the course their
track got. Excursions of all runners are grouped by place on the course, so a badly marked
junction shows as one row with several names. The splits sit side by side, each with its gap
to the fastest runner at that station.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursewatch.analysis import Analysis, Excursion
from coursewatch.reports.splits import Splits, compute_splits
from coursewatch.reports.summary import (
    KIND_NAMES,
    ReportInfo,
    lost_text,
    short_duration,
    signed_duration,
)
from coursewatch.units import Units, fmt_duration

SAME_PLACE_M = 500.0  # excursions leaving within this distance along the course: one place
UNTIMED = "since the track's first fix: it began mid-race and the race start is not known"
COLOURS = ("#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#0c8599", "#e8590c", "#5c940d", "#c2255c")


@dataclass(frozen=True)
class Runner:
    name: str
    analysis: Analysis
    splits: Splits
    colour: str

    @property
    def reached_m(self) -> float:
        p = self.analysis.progress_m
        return float(p[-1]) if len(p) else 0.0

    @property
    def timed(self) -> bool:
        """Whether its times are race times: not a recording begun mid-race with no race
        start (counted from its first fix, they are not comparable with anyone's)."""
        return self.analysis.starts_at_m is None

    @property
    def status(self) -> str:
        a = self.analysis
        if not self.timed:  # (no race time: begun mid-race, the race start not known)
            done = f"reached {a.units.at(self.reached_m)}" if a.elapsed_s is None else "finished"
            return f"{done} (begun at {a.units.at(a.starts_at_m)})"
        if a.elapsed_s is not None:
            return f"finished {fmt_duration(a.elapsed_s)}"
        return f"reached {a.units.at(self.reached_m)}"


@dataclass(frozen=True)
class Place:
    """Excursions of one or more runners leaving the course at about the same place."""

    course_m: float
    who: tuple[tuple[Runner, Excursion], ...]


def build_runners(
    analyses: list[tuple[str, Analysis]], info: ReportInfo | None = None
) -> list[Runner]:
    """The runners, in standings order (finish time, then progress)."""
    runners = [
        Runner(name, a, info.splits(a) if info else compute_splits(a), COLOURS[i % len(COLOURS)])
        for i, (name, a) in enumerate(analyses)
    ]
    return sorted(runners, key=_standing)


def _standing(r: Runner) -> tuple[int, float]:
    """Finishers by race time, then by how far they got (a finish with no race time too)."""
    e = r.analysis.elapsed_s
    return (0, e) if e is not None and r.timed else (1, -r.reached_m)


def places(runners: list[Runner]) -> list[Place]:
    """All excursions grouped by where they left the course, in course order (a recording
    begun off the line left it nowhere known: not a place)."""
    items = [(r, e) for r in runners for e in r.analysis.excursions if not e.from_nowhere]
    items.sort(key=lambda re: re[1].left.course_m or 0.0)
    out: list[Place] = []
    group: list[tuple[Runner, Excursion]] = []
    for r, e in items:
        s = e.left.course_m or 0.0
        if group and s - (group[0][1].left.course_m or 0.0) > SAME_PLACE_M:
            out.append(Place(group[0][1].left.course_m or 0.0, tuple(group)))
            group = []
        group.append((r, e))
    if group:
        out.append(Place(group[0][1].left.course_m or 0.0, tuple(group)))
    return out


def excursion_brief(e: Excursion, u: Units) -> str:
    """'off course, 125 m out, +112 m, 2 min lost' (and 'not confirmed' when it was not)."""
    parts = [KIND_NAMES.get(e.kind, e.kind), f"{u.off(e.max_offset_m)} out"]
    if e.rejoined is not None and not e.from_nowhere:
        sign = "+" if e.extra_distance_m >= 0 else "-"
        parts.append(f"{sign}{u.distance(e.extra_distance_m)}")
    if e.time_lost_s is not None and e.time_lost_s >= 1.0:
        parts.append(f"{short_duration(e.time_lost_s)} lost")
    if e.alerted is None:  # a brief moment off the line, back by themselves
        parts.append("not confirmed")
    return ", ".join(parts)


@dataclass(frozen=True)
class SplitGrid:
    """Checkpoints (label, course_m) as rows, runners as columns: race time, gap to fastest."""

    checkpoints: tuple[tuple[str, float], ...]
    cells: dict[tuple[int, int], tuple[float, float]]  # (row, runner) -> (elapsed, gap)
    note: str | None


def split_grid(runners: list[Runner]) -> SplitGrid:
    keys: dict[tuple[str, float], None] = {}
    for r in runners:
        for row in r.splits.rows:
            keys[(row.label, row.course_m)] = None
    ordered = tuple(sorted(keys, key=lambda k: (k[1], k[0])))
    index = {k: i for i, k in enumerate(ordered)}
    raw: dict[tuple[int, int], float] = {}
    for j, r in enumerate(runners):
        for row in r.splits.rows:
            raw[(index[(row.label, row.course_m)], j)] = row.elapsed_s
    best: dict[int, float] = {}
    for (i, j), el in raw.items():
        if runners[j].timed:
            best[i] = min(best.get(i, el), el)
    # a track's times from its first fix have no gap: "1:23:02*"
    cells = {(i, j): (el, el - best[i] if runners[j].timed and i in best else math.nan)
             for (i, j), el in raw.items()}  # fmt: skip
    notes = [next((r.splits.note for r in runners if r.splits.note), None)]
    if not all(r.timed for r in runners):
        notes.append(f"* {UNTIMED}.")
    note = " ".join(n for n in notes if n) or None
    return SplitGrid(ordered, cells, note)


def cell_text(grid: SplitGrid, i: int, j: int) -> str:
    if (i, j) not in grid.cells:
        return "-"
    el, gap = grid.cells[(i, j)]
    if math.isnan(gap):
        return f"{fmt_duration(el)}*"
    return fmt_duration(el) if gap < 0.5 else f"{fmt_duration(el)} ({signed_duration(gap)})"


def print_comparison(
    runners: list[Runner], title: str, length_m: float, console: Console | None = None
) -> None:
    con = console or Console()
    u = runners[0].analysis.units
    con.print(f"[bold]{escape(title)}[/]: {len(runners)} runners on {u.length(length_m)}")
    st = Table(title="Standings", title_justify="left")
    for column in ("#", "runner", "result", "progress"):
        st.add_column(column, no_wrap=column != "runner")
    for column in ("excursions", "extra", "cut", "lost"):
        st.add_column(column, justify="right")
    for i, r in enumerate(runners):
        a = r.analysis
        st.add_row(
            str(i + 1),
            escape(r.name),
            r.status,
            progress_bar(r.reached_m, length_m),
            str(len(a.confirmed)),
            u.distance(a.extra_distance_m),
            u.distance(a.cut_m),
            lost_text(a),
        )
    con.print(st)
    pl = Table("where", "who", "what", title="Who left the course where", title_justify="left")
    for p in places(runners):
        for k, (r, e) in enumerate(p.who):
            where = u.at(p.course_m) if k == 0 else ""
            pl.add_row(where, escape(r.name), escape(excursion_brief(e, u)))
    if not pl.rows:
        pl.add_row("-", "nobody", "every runner stayed on the course")
    con.print(pl)
    grid = split_grid(runners)
    sp = Table(
        "station",
        "at",
        *[r.name for r in runners],
        title="Splits side by side",
        title_justify="left",
        caption=grid.note,
        caption_justify="left",
    )
    for i, (label, s) in enumerate(grid.checkpoints):
        sp.add_row(escape(label), u.at(s), *[cell_text(grid, i, j) for j in range(len(runners))])
    con.print(sp)


def progress_bar(reached_m: float, length_m: float, width: int = 10) -> str:
    """A text bar of the share of the course reached.

    >>> progress_bar(50.0, 100.0, 10)
    '█████░░░░░ 50%'
    """
    f = min(max(reached_m / length_m if length_m > 0 else 0.0, 0.0), 1.0)
    n = round(f * width)
    return "█" * n + "░" * (width - n) + f" {f * 100:.0f}%"
