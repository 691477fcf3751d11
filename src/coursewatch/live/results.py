"""The race's split table, live: every runner's elapsed time at every station passed.

What race HQ publishes as results during and after the race, and what next year's race file
takes as an earlier edition (``history:``; ``coursewatch eta predict``): one row per runner,
a column per station (``Name #2`` for a later visit of the same one), elapsed from the
runner's own start (:func:`coursewatch.splits.splits_csv` writes it in the format
:func:`coursewatch.splits.parse_splits` reads). The passes are the board's
(:meth:`LiveRace.passed_s`): a finish race HQ recorded is the runner's finish.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from coursewatch.eta import skipped_by
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.splits import column_name


def split_table(
    race: LiveRace, then_s: float = math.inf, hidden: bool = False,
    fixes_of: Callable[[LiveRunner], int] = lambda r: r.fixes,
) -> dict[str, Any]:  # fmt: skip
    """Every runner's splits up to ``then_s`` (a public view's delay: passes after it are
    blank): finishers first by their time, then everyone else (out of the race too) by how
    far each got; ``hidden``: leave out the runners race HQ keeps out of public views;
    ``fixes_of``: how many fixes of a runner were heard (a web node: the workers' count)."""
    stations = [{"name": s.name, "pass": s.pass_number, "distance_m": s.distance_m,
                 "column": column_name(s.name, s.pass_number)} for s in race.stations]  # fmt: skip
    shown = [r for r in race.runners.values() if not (hidden and r.bib in race.hidden)]
    rows = sorted((_row(race, r, then_s, fixes_of(r)) for r in shown), key=_order)
    return {"race": race.id, "stations": stations, "runners": rows}


def _row(race: LiveRace, r: LiveRunner, then_s: float, fixes: int) -> dict[str, Any]:
    start_s = race.start_s(r)
    elapsed: list[float | None] = []
    for i in range(len(race.stations)):
        at = race.passed_s(r, i)
        ok = at is not None and math.isfinite(at) and at <= then_s
        elapsed.append(round(max(at - start_s, 0.0), 1) if ok and at is not None else None)
    # as the board says it: out of the race first (put out, they may still walk to the line)
    finished = bool(elapsed) and elapsed[-1] is not None
    status = "running" if fixes or any(t is not None for t in elapsed) else "not_started"
    status = "dnf" if r.record.dnf else "finished" if finished else status
    # blank for a station a shortcut (a ride) skipped, once a later one is passed: say so
    cuts = race.passes.cuts.get(r.bib, [])
    skipped = [t is None and any(u is not None for u in elapsed[i + 1 :])
               and any(skipped_by(m, c) for c in cuts)
               for i, (t, m) in enumerate(zip(elapsed, race.station_m, strict=True))]  # fmt: skip
    return {"bib": r.bib, "name": r.record.name, "status": status, "elapsed_s": elapsed,
            "skipped": skipped}  # fmt: skip


def _order(row: dict[str, Any]) -> tuple[bool, int, float, list[Any]]:
    """Finishers first, by their time; then furthest first, the earliest there; runners
    never timed last; then by bib, in number order (bib 7 before bib 11)."""
    got = [(i, t) for i, t in enumerate(row["elapsed_s"]) if t is not None]
    i, t = got[-1] if got else (-1, 0.0)
    bib = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", row["bib"])]
    return (row["status"] != "finished", -i, t, bib)
