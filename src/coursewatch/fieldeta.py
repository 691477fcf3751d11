"""ETA from the field: what earlier runners of this race did, and what this year's field does.

A runner's own model (:mod:`coursewatch.eta`) knows only their race so far. Big races have
more: split times of earlier editions at every station, for thousands of runners, and this
year's runners ahead on the course. :class:`FieldModel` predicts, for each runner, the
elapsed time at every later station with a 10-90 % interval, and the share of earlier runners
like them who did not finish (the dropout risk):

1. **History.** For the runner's last station k and a later station j, a least-squares fit
   over earlier runners of ``log(elapsed_j - elapsed_k)`` on ``log elapsed_k`` and the logs of
   their last three legs (:class:`coursewatch.fieldfit.LegFits`): a runner is compared with
   earlier runners who were like them so far, fast or slow, fading or not. Its prediction
   is averaged (in logs) with what the 50 earlier runners most like them ran (their median
   ratio of time to go to time run), which follows the front and back of the field where a
   line does not. The interval: the fit's residual quantiles and the spread of the runners
   most like them, averaged. An edition whose route changed into a station weighs
   ``changed_weight`` for spans across it.
2. **This year's field.** Runners ahead have already run the legs in this year's weather and
   on this year's route. Each leg's shift (the median residual of the last
   ``drift_runners`` runners who finished it, against the history's one-leg prediction,
   shrunk by ``drift_prior`` runners) rescales that leg in every prediction across it.
3. **No history** for a span: the same fit over this year's runners who have reached both
   stations; with too few of them, the runner's own model (:class:`coursewatch.eta.EtaModel`
   fed with their splits), with a fixed interval.

A station the history never timed (a new one) takes its share of the span around it by the
course's effort distance. See docs/eta.md, "History", and ``benchmarks/field_eta.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from coursewatch.fieldfit import (
    BoolArray,
    IntArray,
    LegFit,
    LegFits,
    features,
    impute,
    leg_medians,
    reached,
)
from coursewatch.geo import FloatArray

ADJUSTED_KEPT = 8  # re-timed histories kept (each a copy of the history's table)
DRIFT_STEP = 0.05  # changed legs are re-timed in steps of 5 % (each step one refit)


@dataclass(frozen=True)
class FieldConfig:
    """Tuning, units in the names. ``own_*``: the interval of the runner's own model (log),
    measured by ``benchmarks/field_eta.py --no-history``; ``own_field_power``: how much of the
    field's word on the runner's pace the own model takes (below)."""

    min_runners: int = 30
    changed_weight: float = 0.25
    quantiles: tuple[float, float] = (0.1, 0.9)
    drift_runners: int = 100
    drift_prior: float = 10.0
    own_low_log: float = -0.12
    own_high_log: float = 0.25
    own_field_power: float = 0.25
    own_field_range: tuple[float, float] = (0.6, 1.6)
    dropout_neighbours: int = 100


@dataclass(frozen=True)
class Edition:
    """An earlier edition's splits at the race's stations, and where its route differed."""

    name: str
    elapsed_s: FloatArray
    changed: tuple[int, ...] = ()  # indexes of stations whose leg into them differed


@dataclass
class Forecast:
    """One runner's predictions: per later station index, (elapsed, low, high) and the source."""

    station: int  # the last station reached (-1: none)
    elapsed_s: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    method: dict[int, str] = field(default_factory=dict)
    dropout_risk: float = math.nan


class FieldModel:
    """The history of a race (any number of editions), ready to predict a field of runners.

    ``effort_m``: cumulative effort distance of each station on today's course (km + D+/100,
    from :class:`coursewatch.effort.CourseProfile`); ``own``: the runner's own model, called
    as ``own(elapsed_s_at_stations) -> elapsed at every station`` when nothing else can say
    (:class:`coursewatch.fieldrace.OwnModel`).
    """

    def __init__(
        self,
        effort_m: FloatArray,
        editions: Sequence[Edition] = (),
        config: FieldConfig | None = None,
        own: Callable[[FloatArray], FloatArray] | None = None,
    ) -> None:
        self.config = c = config or FieldConfig()
        self.effort_m = np.asarray(effort_m, dtype=np.float64)
        self.own = own
        n = len(self.effort_m)
        self.editions = list(editions)
        self.history: LegFits | None = None
        self.legs_s = leg_medians(np.empty((0, n)), self.effort_m)
        self.finished = np.zeros(0, dtype=bool)
        self.raw = np.empty((0, n))  # the editions' splits as read (blanks kept)
        self._adjusted: dict[tuple[int, ...], LegFits] = {}
        if editions:
            raw = np.vstack([e.elapsed_s for e in editions])
            self.legs_s = leg_medians(raw, self.effort_m, c.min_runners)
            filled = impute(raw, self.legs_s)
            changed = np.zeros(raw.shape, dtype=bool)
            row = 0
            for e in editions:
                changed[row : row + len(e.elapsed_s), list(e.changed)] = True
                row += len(e.elapsed_s)
            known = np.isfinite(raw).sum(axis=0) >= c.min_runners
            self.history = LegFits(filled, known, np.ones(len(raw)), changed, c.changed_weight,
                                   c.quantiles, c.min_runners)  # fmt: skip
            self.finished = np.isfinite(raw[:, -1])
            self.raw = raw

    def stations_timed(self, e: Edition) -> int:
        """How many stations the edition timed for enough runners to be used."""
        return int((np.isfinite(e.elapsed_s).sum(axis=0) >= self.config.min_runners).sum())

    def describe(self, names: Sequence[str]) -> list[str]:
        """How each edition is used, in words (the CLI prints it); ``names``: the stations'."""
        out = []
        for e in self.editions:
            timed = self.stations_timed(e)
            n = len(e.elapsed_s)
            line = (f"history {e.name}: {n} runner{'' if n == 1 else 's'}, {timed} "
                    f"station{'' if timed == 1 else 's'} timed")  # fmt: skip
            if e.changed:
                line += (f"; weighted {self.config.changed_weight:g} across the changed legs into "
                         + ", ".join(names[i] for i in e.changed))  # fmt: skip
            out.append(line)
        return out

    def predict(
        self, elapsed_s: FloatArray, only: BoolArray | None = None, made_up: int = 0
    ) -> list[Forecast]:
        """Every runner's forecast from a snapshot of the field (runners x stations; NaN blank);
        ``only``: the runners to forecast (the others stay empty), all by default; the last
        ``made_up`` rows are forecast but are not this year's field (a runner at a made-up
        time, live/fieldwatch.py's ladder)."""
        c = self.config
        filled = impute(elapsed_s, self.legs_s)
        last = reached(elapsed_s)
        n, real = elapsed_s.shape[1], len(elapsed_s) - made_up
        hist = self._history_now(filled[:real])
        drift = self._drift(filled[:real], hist) if hist is not None else np.zeros(n)
        now = LegFits(filled[:real], np.isfinite(elapsed_s[:real]).sum(axis=0) >= c.min_runners,
                      np.ones(real), np.zeros((real, n), dtype=bool), 1.0,
                      c.quantiles, c.min_runners)  # fmt: skip
        out = [Forecast(int(k)) for k in last]
        for k in range(-1, n - 1):
            rows = np.flatnonzero((last == k) & (True if only is None else only))
            if len(rows):
                self._predict_from(k, rows, filled, drift, (hist, now), out)
        self._dropout(filled, last, out)
        return out

    def _predict_from(
        self,
        k: int,
        rows: IntArray,
        filled: FloatArray,
        drift: FloatArray,
        fits: tuple[LegFits | None, LegFits],
        out: list[Forecast],
    ) -> None:
        """Predictions for the runners ``rows``, all last seen at station k."""
        n = filled.shape[1]
        if k < 0:
            self._from_start(rows, out)
        near: IntArray | None = None  # the history's runners most like them, found once
        for j in range(k + 1 if k >= 0 else n, n):
            left = np.ones(len(rows), dtype=bool)
            for source, table in zip(("history", "field"), fits, strict=True):
                if not left.any():
                    break
                fit = table.fit(k, j) if table is not None else None
                if fit is None or table is None:
                    continue
                # a runner far outside the runners the fit saw is not extrapolated to
                use = left & table.covers(k, filled[rows, k])
                if source == "history":
                    near = table.near(k, filled[rows]) if near is None else near
                    mu, *local = table.blend(fit, k, j, filled[rows[use]], near[use])
                    mu += self._shift(drift, k, j)
                    source = "history+field" if np.any(drift[k + 1 : j + 1]) else source
                else:
                    mu, local = fit.log_to_go(features(filled[rows[use]], k, table.known)), []
                self._put(out, rows[use], j, filled[rows[use], k], mu, fit, source, local)
                left &= ~use
            self._scaled(k, j, rows[left], filled, drift, fits, out)
        self._fill_between(k, rows, filled, out)
        for r in rows.tolist():
            _monotonic(out[r])

    def _scaled(self, k: int, j: int, rows: IntArray, filled: FloatArray, drift: FloatArray,
                fits: tuple[LegFits | None, LegFits], out: list[Forecast]) -> None:  # fmt: skip
        """Runners faster (or slower) than any the fits saw at k: predicted as the nearest
        they saw, scaled to them (a runner 10 % faster than the fastest runs the rest 10 %
        faster; the runner's own model, which barely knows the course, said a leader
        would finish after the runners behind them)."""
        for source, table in zip(("history", "field"), fits, strict=True):
            fit = table.fit(k, j) if table is not None and len(rows) else None
            if fit is None or table is None:
                continue
            e_k = filled[rows, k]
            scale = table.to_range(k, e_k)[:, None]
            if np.isnan(scale).any():
                continue
            if source == "history":  # (the interval the fit's, widened: the edge runners'
                mu = table.blend(fit, k, j, filled[rows] * scale)[0]  # spread is not theirs)
                mu += self._shift(drift, k, j)
                source = "history+field" if np.any(drift[k + 1 : j + 1]) else source
            else:
                mu = fit.log_to_go(features(filled[rows] * scale, k, table.known))
            self._put(out, rows, j, e_k, mu - np.log(scale[:, 0]), fit, source)
            return

    def _from_start(self, rows: IntArray, out: list[Forecast]) -> None:
        """Runners not timed anywhere yet: the history's spread at each station."""
        if self.history is None:
            return
        q0, q1 = self.config.quantiles
        for j in np.flatnonzero(self.history.known).tolist():
            e = self.raw[np.isfinite(self.raw[:, j]), j]
            low, mid, high = (float(v) for v in np.quantile(e, [q0, 0.5, q1]))
            for r in rows.tolist():
                out[r].elapsed_s[j] = (mid, low, high)
                out[r].method[j] = "history"

    def _put(self, out: list[Forecast], rows: IntArray, j: int, e_k: FloatArray, mu: FloatArray,
             fit: LegFit, source: str, local: Sequence[FloatArray] = ()) -> None:  # fmt: skip
        """The forecasts at j: ``mu`` and the interval, the fit's residual quantiles (wider
        for runners unlike the fit's), averaged with the ``local`` spread of the runners
        most like them where they have one (their quantiles about their median)."""
        wide = fit.spread(e_k)
        low, high = fit.low * wide, fit.high * wide
        if local:
            near_low, near_high = local
            low = np.where(np.isfinite(near_low), (near_low + low) / 2, low)
            high = np.where(np.isfinite(near_high), (near_high + high) / 2, high)
        mid = e_k + np.exp(mu)
        low, high = e_k + np.exp(mu + low), e_k + np.exp(mu + high)
        for i, r in enumerate(rows.tolist()):
            out[r].elapsed_s[j] = (float(mid[i]), float(low[i]), float(high[i]))
            out[r].method[j] = source

    def _fill_between(self, k: int, rows: IntArray, filled: FloatArray,
                      out: list[Forecast]) -> None:  # fmt: skip
        """Stations no fit could predict: by effort between predicted ones, else the own model."""
        n = filled.shape[1]
        cum = np.concatenate([[0.0], np.cumsum(self.legs_s)])
        for r in rows.tolist():
            f = out[r]
            missing = [j for j in range(k + 1, n) if j not in f.elapsed_s]
            if not missing:
                continue
            have = sorted(f.elapsed_s)
            anchor_e = float(filled[r, k]) if k >= 0 else 0.0
            xs = [cum[k + 1]] + [cum[j + 1] for j in have]
            cols = [(anchor_e, anchor_e, anchor_e)] + [f.elapsed_s[j] for j in have]
            for j in missing:
                if have and j < have[-1]:
                    mid, low, high = (
                        float(np.interp(cum[j + 1], xs, [c[q] for c in cols])) for q in range(3)
                    )
                    f.elapsed_s[j] = (mid, low, high)
                    f.method[j] = f.method[have[-1]]
            self._own(k, r, filled, f)

    def _own(self, k: int, r: int, filled: FloatArray, f: Forecast) -> None:
        """Stations no fit reaches (the front of the field, with no history): the runner's own
        model, which barely knows the course, its time to go scaled by a power of how the
        field's prediction at the furthest station it reaches compares with its own (the
        whole ratio overcorrects the legs beyond; ``benchmarks/field_eta.py --no-history``:
        p90 26.0 % to 23.9 % in 2017, every edition better)."""
        missing = [j for j in range(k + 1, filled.shape[1]) if j not in f.elapsed_s]
        if not missing or self.own is None:
            return
        c = self.config
        predicted = self.own(filled[r, : k + 1])
        e_k = float(filled[r, k]) if k >= 0 else 0.0
        scale = 1.0
        ahead = [j for j in f.elapsed_s if j > k]
        if ahead:
            own_s = float(predicted[max(ahead)]) - e_k
            field_s = f.elapsed_s[max(ahead)][0] - e_k
            if math.isfinite(own_s) and own_s > 0 and field_s > 0:
                lo, hi = c.own_field_range
                scale = min(max(field_s / own_s, lo), hi) ** c.own_field_power
        for j in missing:
            togo = (float(predicted[j]) - e_k) * scale
            if math.isfinite(togo) and togo > 0:
                f.elapsed_s[j] = (e_k + togo, e_k + togo * math.exp(c.own_low_log),
                                  e_k + togo * math.exp(c.own_high_log))  # fmt: skip
                f.method[j] = "own"

    def _history_now(self, filled: FloatArray) -> LegFits | None:
        """The history, its changed legs re-timed by this year's field once it has run them.

        A changed leg of an earlier edition is scaled by the shift this year's runners show on
        it (their median residual against the history), and the edition's later splits moved
        by the difference; until then, the history as it was (weighted down across it).
        """
        base = self.history
        if base is None or not base.changed.any():
            return base
        drift = self._drift(filled, base)
        legs = sorted(set(np.flatnonzero(base.changed.any(axis=0)).tolist()))
        key = tuple(round(float(drift[c]) / DRIFT_STEP) for c in legs)
        if not any(key):
            return base
        if key not in self._adjusted:
            if len(self._adjusted) >= ADJUSTED_KEPT:
                self._adjusted.clear()  # the field's drift has moved on
            e = base.filled_s.copy()
            for c, step in zip(legs, key, strict=True):
                rows = base.changed[:, c] & np.isfinite(e[:, c])
                before = e[rows, c - 1] if c > 0 else np.zeros(int(rows.sum()))
                extra = (e[rows, c] - before) * (math.exp(step * DRIFT_STEP) - 1.0)
                e[rows, c:] += extra[:, None]
            self._adjusted[key] = LegFits(e, base.known, base.row_weights, base.changed,
                                          base.changed_weight, base.quantiles,
                                          base.min_runners)  # fmt: skip
        return self._adjusted[key]

    def _drift(self, filled: FloatArray, hist: LegFits) -> FloatArray:
        """Per leg, this year's log shift against the history (0: unknown), from the runners
        who finished it last."""
        c = self.config
        n = filled.shape[1]
        out = np.zeros(n)
        for i in range(1, n):
            fit = hist.fit(i - 1, i)
            rows = np.isfinite(filled[:, i]) & np.isfinite(filled[:, i - 1])
            if fit is None or not rows.any():
                continue
            order = np.argsort(filled[rows, i])[-c.drift_runners :]
            sub = filled[rows][order]
            mu = hist.blend(fit, i - 1, i, sub)[0]
            residual = np.log(np.maximum(sub[:, i] - sub[:, i - 1], 1.0)) - mu
            out[i] = float(np.median(residual)) * len(sub) / (len(sub) + c.drift_prior)
        return out

    def _shift(self, drift: FloatArray, k: int, j: int) -> float:
        """The log shift of a span: its legs' shifts, weighted by their typical times."""
        legs = self.legs_s[k + 1 : j + 1]
        return float(np.log(np.sum(legs * np.exp(drift[k + 1 : j + 1])) / max(legs.sum(), 1e-9)))

    def _dropout(self, filled: FloatArray, last: IntArray, out: list[Forecast]) -> None:
        """Share of the ``dropout_neighbours`` earlier runners at the same station with the
        nearest elapsed time who did not reach the finish."""
        if self.history is None or not self.history.known[-1]:
            return  # no history, or none timed at the finish: who finished is not known
        h = self.history.filled_s
        m = self.config.dropout_neighbours
        for k in np.unique(last).tolist():
            if k < 0 or k == filled.shape[1] - 1 or not self.history.known[k]:
                continue
            at = np.isfinite(self.raw[:, k])
            if at.sum() < m:
                continue
            order = np.argsort(h[at, k])
            times, done = h[at, k][order], self.finished[at][order]
            cum = np.concatenate([[0], np.cumsum(~done)])
            for r in np.flatnonzero(last == k).tolist():
                i = int(np.searchsorted(times, filled[r, k]))
                lo = min(max(i - m // 2, 0), len(times) - m)
                out[r].dropout_risk = float(cum[lo + m] - cum[lo]) / m


def _monotonic(f: Forecast) -> None:
    """Later stations are never reached earlier, and low <= mid <= high."""
    floor = np.zeros(3)
    for j in sorted(f.elapsed_s):
        mid, low, high = f.elapsed_s[j]
        floor = np.maximum(floor, (mid, low, high))
        mid, low, high = (float(v) for v in floor)
        f.elapsed_s[j] = (mid, min(low, mid), max(high, mid))
