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
"""

from __future__ import annotations

import asyncio
import logging
import math
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
        if not self.passes.dirty:
            return  # (dirty: some runner has splits, so the snapshot is never empty)
        self.running = True
        if not every:  # (the first forecasts of all do not hold back the next batch)
            self.batch_wall_s = now_wall_s
        bibs, matrix, only = self._snapshot()
        try:
            forecasts = await asyncio.to_thread(self.model.predict, matrix, only)
        except Exception:  # a model failure must not stop the clock-driven detectors
            log.exception("field ETA forecast failed")
            self.passes.dirty.update(b for b, f in zip(bibs, only.tolist(), strict=True) if f)
            return
        finally:
            self.running = False
        self._take(bibs, forecasts, only)

    def _snapshot(self) -> tuple[list[str], FloatArray, BoolArray]:
        splits, dirty = self.passes.splits, self.passes.dirty
        bibs = list(splits)
        only = np.array([b in dirty for b in bibs], dtype=bool)
        rows = [splits[b] for b in bibs]
        matrix = np.vstack(rows) if rows else np.empty((0, len(self.station_m)))  # a copy
        dirty.clear()
        return bibs, matrix, only

    def _take(self, bibs: list[str], forecasts: list[Forecast], only: BoolArray) -> None:
        for b, f, fresh in zip(bibs, forecasts, only.tolist(), strict=True):
            if fresh:
                self.forecasts[b] = f

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
