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
from typing import Any

from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.splits import column_name


def split_table(race: LiveRace, then_s: float = math.inf, hidden: bool = False) -> dict[str, Any]:
    """Every runner's splits up to ``then_s`` (a public view's delay: passes after it are
    blank), finishers first by their time, then by how far each got; ``hidden``: leave out the
    runners race HQ keeps out of public views."""
    stations = [{"name": s.name, "pass": s.pass_number, "distance_m": s.distance_m,
                 "column": column_name(s.name, s.pass_number)} for s in race.stations]  # fmt: skip
    shown = [r for r in race.runners.values() if not (hidden and r.bib in race.hidden)]
    rows = sorted((_row(race, r, then_s) for r in shown), key=_order)
    return {"race": race.id, "stations": stations, "runners": rows}


def _row(race: LiveRace, r: LiveRunner, then_s: float) -> dict[str, Any]:
    start_s = race.start_s(r)
    elapsed: list[float | None] = []
    for i in range(len(race.stations)):
        at = race.passed_s(r, i)
        ok = at is not None and math.isfinite(at) and at <= then_s
        elapsed.append(round(max(at - start_s, 0.0), 1) if ok and at is not None else None)
    finished = bool(elapsed) and elapsed[-1] is not None
    status = "racing" if r.fixes else "no fix"
    status = "finished" if finished else "dnf" if r.record.dnf else status
    return {"bib": r.bib, "name": r.record.name, "status": status, "elapsed_s": elapsed}


def _order(row: dict[str, Any]) -> tuple[int, float, list[Any]]:
    """Furthest first, then the earliest there; runners never timed last; then by bib, in
    number order (bib 7 before bib 11)."""
    got = [(i, t) for i, t in enumerate(row["elapsed_s"]) if t is not None]
    i, t = got[-1] if got else (-1, 0.0)
    bib = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", row["bib"])]
    return (-i, t, bib)
