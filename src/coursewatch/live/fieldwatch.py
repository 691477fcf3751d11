"""The field's history in the live server: station splits as runners pass, ETAs with intervals.

A race whose director sent earlier editions' results (``PUT /api/races/{race}/history``,
``coursewatch race history``; kept in the store's meta) gets a :class:`FieldWatch`. It
records each runner's elapsed time at every station they pass (from the engine's progress,
interpolated between fixes), and forecasts them with :class:`coursewatch.fieldeta.FieldModel`
against the whole field's splits (this year's drift), in batches: the runners who passed a
station since the last batch, at most every ``BATCH_WALL_S`` of server time.

Between stations the forecast and the runner's own live model (GPS progress, the
:class:`coursewatch.eta.EtaModel`) agree on one estimate: the next station's arrival is the
history's (the rest of its leg from now) and the live model's, weighted by the share of the
leg run; later stations keep the history's legs after it. Intervals move with it.

Before the first station the same blend gives the arrival there, and the later stations are
what the history forecasts for a runner who reaches it then: each batch also forecasts a
ladder of ``LADDER_RUNNERS`` first-station times spanning the history's, read between its
rungs (:class:`FirstLeg`), the interval widened by the first arrival's own.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursewatch.course import Course
from coursewatch.fieldeta import FieldModel, Forecast
from coursewatch.fieldfit import BoolArray
from coursewatch.fieldrace import edition, race_field
from coursewatch.geo import FloatArray
from coursewatch.live.passes import Passes
from coursewatch.race import Race
from coursewatch.splits import parse_splits

BATCH_WALL_S = 5.0
LADDER_RUNNERS = 25  # first-station times forecast each batch, for runners not there yet
LADDER_SPAN = (0.005, 0.995)  # from and to these quantiles of the history's times there
log = logging.getLogger("coursewatch.live")


def meta_key(race_id: str) -> str:
    return f"history/{race_id}"


@dataclass(frozen=True)
class Range:
    """An arrival (epoch seconds) with its 10-90 % interval and what predicted it."""

    eta_ts: float
    low_ts: float
    high_ts: float
    method: str


class FieldWatch:
    """One race's history model and its runners' splits and forecasts."""

    def __init__(self, model: FieldModel, passes: Passes, summary: list[dict[str, Any]]):
        self.model = model
        self.passes = passes  # the race's (live/passes.py): every runner's splits so far
        self.station_m = passes.station_m
        self.index = {m: i for i, m in enumerate(self.station_m)}
        self.summary = summary
        self.forecasts: dict[str, Forecast] = {}
        self.first: FirstLeg | None = None  # the ladder, for runners short of the first station
        self.batched = False  # a batch has run (it makes the ladder, runners or not)
        self.batch_wall_s = -math.inf
        self.running = False

    def forecast(self, bib: str) -> Forecast | None:
        """The runner's latest forecast (made by :meth:`refresh`)."""
        return self.forecasts.get(bib)

    async def refresh(self, now_wall_s: float, every: bool = False) -> None:
        """Forecast the runners with new splits (``every``: all of them, now), at most every
        BATCH_WALL_S, in a worker thread (fits are made there too): never on the loop."""
        if every:
            self.passes.dirty.update(self.passes.splits)
        elif self.running or now_wall_s - self.batch_wall_s < BATCH_WALL_S:
            return
        if not self.passes.dirty and self.batched:
            return  # (the first batch makes the ladder before any runner has a split)
        self.running = True
        if not every:  # (the first forecasts of all do not hold back the next batch)
            self.batch_wall_s = now_wall_s
        bibs, matrix, only = self._snapshot()
        try:
            forecasts = await asyncio.to_thread(self.model.predict, matrix, only,
                                                len(matrix) - len(bibs))  # fmt: skip
        except Exception:  # a model failure must not stop the clock-driven detectors
            log.exception("field ETA forecast failed")
            self.passes.dirty.update(b for b, f in zip(bibs, only[: len(bibs)], strict=True) if f)
            return
        finally:
            self.running = False
        self._take(bibs, forecasts, only, matrix[len(bibs) :, 0])

    def _snapshot(self) -> tuple[list[str], FloatArray, BoolArray]:
        """The field's splits, the runners with new ones marked, and the ladder's rows."""
        splits, dirty = self.passes.splits, self.passes.dirty
        bibs = list(splits)
        rungs = self._ladder()
        only = np.array([b in dirty for b in bibs] + [True] * len(rungs), dtype=bool)
        ladder = np.full((len(rungs), len(self.station_m)), np.nan)
        ladder[:, :1] = rungs[:, None]
        matrix = np.vstack([*(splits[b] for b in bibs), ladder])  # a copy
        dirty.clear()
        return bibs, matrix, only

    def _ladder(self) -> FloatArray:
        """The first-station times the ladder forecasts (none: the history did not time it)."""
        hist = self.model.history
        if not len(self.station_m) or hist is None or not hist.known[0]:
            return np.empty(0)
        e0 = self.model.raw[:, 0]
        lo, hi = np.quantile(e0[np.isfinite(e0)], LADDER_SPAN)
        return np.geomspace(max(lo, 1.0), max(hi, lo * 1.01, 2.0), LADDER_RUNNERS)

    def _take(self, bibs: list[str], forecasts: list[Forecast], only: BoolArray,
              rungs_s: FloatArray) -> None:  # fmt: skip
        for b, f, fresh in zip(bibs, forecasts[: len(bibs)], only[: len(bibs)], strict=True):
            if fresh:
                self.forecasts[b] = f
        self.batched = True
        if len(rungs_s):
            e0 = self.model.raw[:, 0]
            self.first = FirstLeg(rungs_s, forecasts[len(bibs) :], e0[np.isfinite(e0)],
                                  self.model.config.quantiles, len(self.station_m))  # fmt: skip

    def ranges(
        self, bib: str, start_s: float, targets_m: list[float], live_ts: list[float | None]
    ) -> list[Range | None]:
        """Each target station's arrival from the history, blended with the live model's
        ETA there (``live_ts``) between stations; None where the history says nothing. A
        target past the last station is the finish (the course's end: a race file's finish
        may be placed a few metres short of it). Past a station the forecast has not seen
        yet (the next batch makes it), its legs from that station on still hold."""
        f = self.forecast(bib)
        last = self.passes.last.get(bib)
        out: list[Range | None] = [None] * len(targets_m)
        row = self.passes.splits.get(bib)
        timed = [] if row is None else np.flatnonzero(np.isfinite(row)).tolist()
        ladder = self.first
        if ladder is not None and last is not None and not timed and last[1] < self.station_m[0]:
            at = [self._station(m) for m in targets_m]
            live_0 = live_ts[at.index(0)] if 0 in at else None
            return ladder.ranges(start_s, last, self.station_m[0], at, live_0)
        unforecast = f is None or f.station < 0
        if ladder is not None and row is not None and timed[:1] == [0] and unforecast:
            f = ladder.forecast(float(row[0]))  # (past the first station: till the batch)
        if f is None or last is None or not f.elapsed_s:
            return out
        t_s, s_m = last
        ahead = [j for j in f.elapsed_s if self.station_m[j] > s_m]
        if not ahead:
            return out
        nxt = min(ahead)
        passed = [j for j in f.elapsed_s if j < nxt]
        if passed:  # the forecast's own time there: its legs from it on
            k, e_k = max(passed), f.elapsed_s[max(passed)][0]
        else:
            k = f.station
            e_k = 0.0 if k < 0 else float(self.passes.splits[bib][k])
        s_k = 0.0 if k < 0 else self.station_m[k]
        run = min(max((s_m - s_k) / max(self.station_m[nxt] - s_k, 1.0), 0.0), 1.0)
        now_e = t_s - start_s
        mid_n = f.elapsed_s[nxt][0]
        history_n = now_e + max(mid_n - e_k, 0.0) * (1.0 - run)
        at = [self._station(m) for m in targets_m]
        live_n = live_ts[at.index(nxt)] if nxt in at else None
        blended_n = (
            history_n if live_n is None else (1 - run) * history_n + run * (live_n - start_s)
        )
        shift = blended_n - mid_n
        for i, j in enumerate(at):
            if j is None or j not in f.elapsed_s or j < nxt:
                continue
            mid, low, high = f.elapsed_s[j]
            new_mid = max(mid + shift, now_e)
            scale = max(new_mid - now_e, 0.0) / max(mid - e_k, 1.0)
            out[i] = Range(start_s + new_mid, start_s + new_mid - (mid - low) * scale,
                           start_s + new_mid + (high - mid) * scale, f.method[j])  # fmt: skip
        return out

    def _station(self, m: float) -> int | None:
        """The station at course distance ``m``; past the last one, the finish (the last)."""
        j = self.index.get(m)
        return len(self.station_m) - 1 if j is None and m > self.station_m[-1] else j

    def dropout_risk(self, bib: str) -> float | None:
        f = self.forecasts.get(bib)
        return None if f is None or math.isnan(f.dropout_risk) else f.dropout_risk


def build(race: Race, course: Course, saved: list[dict[str, Any]], passes: Passes) -> FieldWatch:
    """A FieldWatch from stored history (``[{edition, changed, text}]``), no forecast made
    yet; SplitsError when a table cannot be read at all or names a station the race does
    not have."""
    rf = race_field(race, course, history=())
    names = [s.name for s in rf.stations]
    tables = [parse_splits(item["text"], item["edition"], rf.stations) for item in saved]
    editions = [edition(item["edition"], table, item.get("changed", []), names)
                for item, table in zip(saved, tables, strict=True)]  # fmt: skip
    model = FieldModel(rf.model.effort_m, editions, own=rf.model.own)
    summary = [{"edition": e.name, "runners": len(t.bibs),
                "stations_timed": model.stations_timed(e),
                "changed": [names[i] for i in e.changed], "refused": t.refused[:50],
                "refused_count": len(t.refused), "notes": t.notes}
               for e, t in zip(editions, tables, strict=True)]  # fmt: skip
    return FieldWatch(model, passes, summary)


class FirstLeg:
    """Arrivals of runners short of the first station: there, the history's (the rest of the
    leg at the median pace) and the live model's, weighted by the share run; beyond, what
    the history forecasts for a runner who reaches it then, read between the ladder's
    rungs (in logs, as ratios to the rung's time: beyond the ladder, the nearest rung's
    ratio), its interval widened by that of the first arrival (added in quadrature)."""

    def __init__(self, rungs_s: FloatArray, forecasts: Sequence[Forecast], first_s: FloatArray,
                 quantiles: tuple[float, float], stations: int) -> None:  # fmt: skip
        self.log_rungs = np.log(rungs_s)
        self.first_s = tuple(float(v) for v in np.quantile(first_s, [quantiles[0], 0.5,
                                                                    quantiles[1]]))  # fmt: skip
        # mid, low, high: log(e_j / rung), NaN where the rung's forecast says nothing
        self.ratio = np.full((3, len(rungs_s), stations), np.nan)
        self.method: dict[int, str] = {}
        for r, f in enumerate(forecasts):
            for j, values in f.elapsed_s.items():
                self.ratio[:, r, j] = np.log(np.maximum(values, 1.0) / rungs_s[r])
                self.method.setdefault(j, f.method[j])

    def _at(self, which: int, j: int, e0_s: float) -> float:
        ys = self.ratio[which, :, j]
        ok = np.isfinite(ys)
        if not ok.any():
            return math.nan
        return e0_s * math.exp(float(np.interp(math.log(e0_s), self.log_rungs[ok], ys[ok])))

    def forecast(self, e0_s: float) -> Forecast:
        """The history's forecast for a runner who reached the first station at ``e0_s``."""
        f = Forecast(0)
        for j in self.method:
            values = [self._at(w, j, e0_s) for w in range(3)]
            if all(math.isfinite(v) for v in values):
                f.elapsed_s[j] = (values[0], values[1], values[2])
                f.method[j] = self.method[j]
        return f

    def ranges(self, start_s: float, last: tuple[float, float], first_m: float,
               at: Sequence[int | None], live_0: float | None) -> list[Range | None]:  # fmt: skip
        """Each target station's (``at``: its index, None: none) arrival with its interval;
        ``last``: the runner's newest fix (time, progress), ``live_0``: the live model's
        arrival at the first station (``first_m`` along)."""
        t_s, s_m = last
        now_e = t_s - start_s
        low_n, mid_n, high_n = self.first_s
        run = min(max(s_m / max(first_m, 1.0), 0.0), 1.0)
        history_n = now_e + mid_n * (1.0 - run)
        e0 = history_n if live_0 is None else (1 - run) * history_n + run * (live_0 - start_s)
        e0 = max(e0, now_e, 1.0)
        scale = (e0 - now_e) / max(mid_n, 1.0)
        e0_low = max(e0 - (mid_n - low_n) * scale, now_e, 1.0)  # (not before now)
        e0_high = e0 + (high_n - mid_n) * scale
        out: list[Range | None] = []
        for j in at:
            if j == 0:
                out.append(Range(start_s + e0, start_s + e0_low, start_s + e0_high, "history"))
                continue
            mid = math.nan if j is None else self._at(0, j, e0)
            if j is None or not math.isfinite(mid):
                out.append(None)
                continue
            low = mid - math.hypot(mid - self._at(1, j, e0), mid - self._at(0, j, e0_low))
            high = mid + math.hypot(self._at(2, j, e0) - mid, self._at(0, j, e0_high) - mid)
            out.append(Range(start_s + mid, start_s + low, start_s + high, self.method[j]))
        return out
