"""Cut-off risk on the real recordings: how often race HQ is told of a runner who then made it.

Run: ``.venv/bin/python benchmarks/cutoffs.py``. Each real pair (``realdata.PAIRS``) is given
cut-offs at its checkpoints (the course's stations, else one every 10 km: as
``benchmarks/eta.py``) set from when the runner actually reached each one: ``margin`` minutes
after it (the runner made every cut-off by that much) or before it (missed every one). The
runner's fixes are replayed through the ETA model (:class:`coursewatch.eta.EtaModel`, what the
live server uses without a history) and the cut-off detector
(:func:`coursewatch.detectors.cutoff.cutoff_step`) is evaluated every minute of race time, as
live (``live/clock.py``: ``AHEAD_EVERY_S``; an ETA never before now; none off the course
after the runner went far from it, a car or a shuttle, until back on it: ``--off-judged``
judges them there too, as before 2026-12-08), for each rule:

* ``all S P``: a station is at risk when projected late by more than ``S`` of the time still
  to run for ``P`` (every cut-off ahead judged: the first late one raised);
* ``next S P``: the same, only for the next cut-off ahead (live: ``next 0.2 10 min``).

It prints, per rule and margin, the ``cutoff_risk`` raised per 100 runner-hours: with a
positive margin every one is unjustified (the runner made it); with a negative one, the
share of missed cut-offs raised before the runner got there, and how long before (median).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from eta import checkpoints_m
from realdata import PAIRS, course, track

from coursewatch.detectors.cutoff import CutoffConfig, CutoffState, cutoff_step
from coursewatch.engine.matcher import MatchResult, match_fixes
from coursewatch.eta import EtaModel
from coursewatch.live.clock import AHEAD_EVERY_S
from coursewatch.sim.backtest import Replay, replay

EVERY_S = AHEAD_EVERY_S  # as live
OFF_RULE = "--off-judged" not in sys.argv  # (the flag: judged off the course too, as before)
MARGINS_MIN = (60.0, 30.0, 10.0, -10.0, -30.0)
# (judged: "all" cut-offs ahead or the "next" only, share of the time still to run, persist s)
RULES = (("all", 0.2, 600.0), ("all", 0.3, 600.0), ("all", 0.2, 1200.0), ("next", 0.2, 600.0),
         ("next", 0.3, 600.0), ("next", 0.2, 1200.0))  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    risks: int  # cutoff_risk raised
    missed: int  # cut-offs missed (negative margin): stations reached after their cut-off
    warned: int  # ... of them raised before the runner got there
    leads_s: tuple[float, ...]  # how long before


def evaluate(
    model: EtaModel, r: Replay, time_s: np.ndarray, rule: tuple[str, float, float], margin_s: float,
    off: np.ndarray,
) -> Outcome:  # fmt: skip
    """One pair, one rule, one margin: the detector as live, every EVERY_S of race time, given
    no ETA while the runner is off the course (``off``: flagged at that fix; live judges them
    once back, live/clock.py)."""
    ok = np.isfinite(r.truth_ts)
    cps, truth = r.checkpoints_m[ok], r.truth_ts[ok]
    cutoffs = tuple(zip(cps.tolist(), (truth + margin_s).tolist(), strict=True))
    cfg = CutoffConfig(share_of_to_go=rule[1], persist_s=rule[2], next_only=rule[0] == "next")
    state, risks, first_warned = CutoffState(), 0, {}
    last_s = -math.inf
    for i, t_s in enumerate(time_s.tolist()):
        if t_s - last_s < EVERY_S:
            continue
        last_s = t_s
        s_m = float(r.accepted_m[i])
        etas = np.maximum(model.predict(r.states[i], cps), t_s)
        if off[i]:
            etas = np.full(len(cps), math.nan)
        state, events = cutoff_step(state, t_s, s_m, cutoffs, etas.tolist(), cfg)
        for e in events:
            if e.kind == "cutoff_risk":
                risks += 1
                first_warned.setdefault(e.station_m, t_s)
    missed = warned = 0
    leads: list[float] = []
    if margin_s < 0:
        for m, arrived_s in zip(cps.tolist(), truth.tolist(), strict=True):
            if arrived_s <= float(time_s[0]) + EVERY_S:
                continue  # reached before the first evaluation: nothing to warn of
            missed += 1
            if m in first_warned and first_warned[m] < arrived_s:
                warned += 1
                leads.append(arrived_s - first_warned[m])
    return Outcome(risks, missed, warned, tuple(leads))


def driven(match: MatchResult) -> np.ndarray:
    """The fixes off the course at which the runner has not been on it since they went far
    from it (a car, a shuttle): live gives the cut-off detector no ETA there
    (``LiveMatcher.driven``)."""
    far = sorted(e.fix_index for e in match.events if e.kind == "far_from_course")
    out = np.zeros(len(match.progress_m), dtype=bool)
    last_on = last_far = -1
    for i in range(len(out)):
        while far and far[0] <= i:
            last_far = far.pop(0)
        if match.matched[i] and not match.alarmed[i]:
            last_on = i
        out[i] = bool(match.alarmed[i]) and last_far > last_on
    return out


def main() -> None:
    started = time.perf_counter()
    hours = 0.0
    totals: dict[tuple[tuple[str, float, float], float], list[Outcome]] = {}
    for pair in PAIRS:
        c, t = course(pair.course), track(pair.track)
        match = match_fixes(c, t.time_s, t.lat, t.lon)
        time_s, progress_m = t.time_s, match.progress_m
        off = driven(match) if OFF_RULE else np.zeros(len(time_s), dtype=bool)
        model = EtaModel(c)
        r = replay(model, time_s, progress_m, checkpoints_m(c))
        hours += float(time_s[-1] - time_s[0]) / 3600.0
        row = []
        for rule in RULES:
            for margin in MARGINS_MIN:
                out = evaluate(model, r, time_s, rule, margin * 60.0, off)
                totals.setdefault((rule, margin), []).append(out)
                if margin > 0:
                    row.append(out.risks)
        print(f"{pair.name:16s} risks raised for a runner who made every cut-off, per rule x "
              f"margin {MARGINS_MIN[:3]} min: {row}", flush=True)  # fmt: skip
    print(f"\n{len(PAIRS)} pairs, {hours:.1f} runner-hours; cut-offs at every checkpoint")
    print("rule   share persist  margin  risks/100 h   missed cut-offs warned before   median lead")
    for (rule, margin), outs in totals.items():
        risks = sum(o.risks for o in outs)
        line = f"{rule[0]:5s} {rule[1]:.1f} {rule[2] / 60:3.0f} min {margin:+6.0f} min "
        line += f"{100 * risks / hours:10.1f}"
        if margin < 0:
            missed, warned = sum(o.missed for o in outs), sum(o.warned for o in outs)
            leads = [v for o in outs for v in o.leads_s]
            lead = f"{statistics.median(leads) / 60:.0f} min" if leads else "-"
            line += f"   {warned:5d} / {missed:<5d} ({100 * warned / max(missed, 1):3.0f} %)"
            line += f"   {lead:>10s}"
        print(line)
    print(f"# {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
