"""The pieces of the field's ETA (:mod:`coursewatch.fieldeta`) fitted on split tables.

* :func:`leg_medians`: the typical time of each leg, from a table; legs the table never timed
  (a station it does not have) share their span by the course's effort distance.
* :func:`impute`: a blank between two timed stations (a timing mat that missed the runner) is
  filled in proportion to those typical leg times, so that every runner has every split up to
  the last station they reached.
* :class:`LegFits`: for a station k and a later station j, a weighted least-squares fit of
  ``log(elapsed_j - elapsed_k)`` on ``log elapsed_k`` and the logs of the last three legs run,
  over the table's runners who reached both; its residual quantiles make the interval. And
  the ``NEAR_RUNNERS`` runners of the table most like a runner at k (by the same inputs):
  the median of their ratios of time still to run to time run, averaged with the fit's
  prediction (:meth:`LegFits.blend`), follows what a straight line cannot
  (``benchmarks/field_eta.py``).

All numpy, vectorised over runners: a fit is one ``lstsq`` of a few thousand rows.

>>> import numpy as np
>>> legs = leg_medians(np.array([[100.0, 250.0, np.nan], [120.0, np.nan, 400.0]]),
...                    np.array([1000.0, 2000.0, 3000.0]), min_runners=1)
>>> legs.tolist()
[110.0, 150.0, 150.0]
>>> impute(np.array([[120.0, np.nan, 400.0]]), legs).tolist()
[[120.0, 260.0, 400.0]]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coursewatch.geo import FloatArray

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
RECENT_LEGS = 3
IRLS_STEPS = 6
COVER = 1.25  # how far beyond the fastest and slowest runners of a table a fit is used
NEAR_RUNNERS = 50  # the earlier runners most like a runner, whose rest of the race says theirs
NEAR_ELAPSED_WEIGHT = 3.0  # in "most like": elapsed time's axis stretched 3x a recent leg's
NEAR_MIN = 10  # of them who reached a station, for their word on it (else the fit's)
NEAR_CHUNK = 512  # runners whose distances to the table are held at once
NEAR_KEPT = 5_000  # runners' nearest kept (this year's drift asks again for the same runners)


def reached(elapsed_s: FloatArray) -> IntArray:
    """Per runner, the index of the last station with a time (-1: none)."""
    finite = np.isfinite(elapsed_s)
    last = elapsed_s.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    return np.where(finite.any(axis=1), last, -1)


def leg_medians(elapsed_s: FloatArray, effort_m: FloatArray, min_runners: int = 20) -> FloatArray:
    """Typical time of each leg (station i-1 to i; leg 0 from the start), in seconds.

    A leg timed by fewer than ``min_runners`` runners takes its share, by effort distance
    (``effort_m``: cumulative at each station), of the span between the stations around it
    that were timed; with no timed station at all, legs are proportional to effort.
    """
    n = elapsed_s.shape[1]
    timed = [i for i in range(n) if np.isfinite(elapsed_s[:, i]).sum() >= min_runners]
    legs = np.full(n, np.nan)
    start = np.concatenate([[0.0], effort_m])
    prev = -1
    for b in timed:
        base = elapsed_s[:, prev] if prev >= 0 else np.zeros(len(elapsed_s))
        span = elapsed_s[:, b] - base
        if np.isfinite(span).sum() >= min_runners:
            span_s = float(np.nanmedian(span))
        else:  # never timed at both: the difference of the typical times at each
            span_s = float(np.nanmedian(elapsed_s[:, b]) - np.nanmedian(base))
        w = np.diff(start[prev + 1 : b + 2])
        legs[prev + 1 : b + 1] = span_s * w / max(float(w.sum()), 1e-9)
        prev = b
    # legs beyond the last timed station (or all of them): by effort, at the pace seen so far
    pace = 1.0
    if prev >= 0:
        pace = float(legs[: prev + 1].sum()) / max(float(effort_m[prev]), 1e-9)
    effort_legs = np.diff(start)
    return np.where(np.isfinite(legs), legs, effort_legs * pace)


def impute(elapsed_s: FloatArray, legs_s: FloatArray) -> FloatArray:
    """Blanks before each runner's last timed station, filled in proportion to ``legs_s``."""
    out = elapsed_s.copy()
    cum = np.concatenate([[0.0], np.cumsum(legs_s)])
    for row in out:
        timed = np.flatnonzero(np.isfinite(row))
        if len(timed) == 0 or len(timed) == timed[-1] + 1:
            continue  # nothing reached, or no blank before the last time
        xs = np.concatenate([[0.0], cum[timed + 1]])
        ys = np.concatenate([[0.0], row[timed]])
        blank = np.flatnonzero(~np.isfinite(row[: timed[-1]]))
        row[blank] = np.interp(cum[blank + 1], xs, ys)
    return out


def features(filled_s: FloatArray, k: int, known: BoolArray | None = None) -> FloatArray:
    """The fit's inputs for runners at station k: 1, log elapsed, logs of the last legs, run
    between the stations in ``known`` (those the fitted table timed; a station it never
    timed has only filled-in times)."""
    cols = [np.ones(len(filled_s)), np.log(np.maximum(filled_s[:, k], 1.0))]
    ends = [i for i in range(k, -1, -1) if known is None or known[i]][: RECENT_LEGS + 1]
    for end, begin in itertools.pairwise(ends):
        cols.append(np.log(np.maximum(filled_s[:, end] - filled_s[:, begin], 1.0)))
    return np.column_stack(cols)


@dataclass(frozen=True)
class LegFit:
    """``log(elapsed_j - elapsed_k) ~ features @ beta``; residual quantiles for the interval."""

    beta: FloatArray
    low: float  # the low residual quantile (log)
    high: float
    runners: int
    lowest: float  # the range of log((elapsed_j - elapsed_k) / elapsed_k) the fit saw
    highest: float
    log_e_mean: float  # where the fit's runners were: log elapsed at k, mean and spread
    log_e_sd: float

    def spread(self, e_k: FloatArray) -> FloatArray:
        """How much wider the interval is for runners at ``e_k``: 1 within one spread of the
        fit's runners, growing with the distance beyond (they are less like them)."""
        z = np.abs(np.log(np.maximum(e_k, 1.0)) - self.log_e_mean) / max(self.log_e_sd, 0.05)
        return np.sqrt(np.maximum(z, 1.0))

    def log_to_go(self, x: FloatArray) -> FloatArray:
        """``log(elapsed_j - elapsed_k)`` for inputs ``x``, the ratio of the time still to run
        to the time run kept within a factor ``COVER`` of the ratios the fit saw (a runner
        unlike any is not extrapolated to hours off)."""
        margin = math.log(COVER)
        log_e = x[:, 1]
        ratio = np.clip(x @ self.beta - log_e, self.lowest - margin, self.highest + margin)
        return ratio + log_e


class LegFits:
    """Fits from k to j over a table's runners, made when first asked for and kept.

    ``known``: stations this table really timed (an imputed column is never a target or an
    anchor); ``weights(k, j)``: each runner's weight for that span (an edition whose route
    changed weighs less across the change).
    """

    def __init__(
        self,
        filled_s: FloatArray,
        known: BoolArray,
        row_weights: FloatArray,
        changed: BoolArray,
        changed_weight: float,
        quantiles: tuple[float, float],
        min_runners: int,
    ) -> None:
        self.filled_s = filled_s
        self.known = known
        self.row_weights = row_weights
        self.changed = changed  # (runners, stations): the leg into the station differed
        self.changed_weight = changed_weight
        self.quantiles = quantiles
        self.min_runners = min_runners
        self._fits: dict[tuple[int, int], LegFit | None] = {}
        self._near: dict[int, tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]] = {}
        self._near_of: dict[tuple[int, bytes], IntArray] = {}

    def covers(self, k: int, elapsed_s: FloatArray) -> BoolArray:
        """Runners at station k whose elapsed time is within the table's range there, widened
        by ``COVER`` either way (beyond it, a fit would be extrapolated)."""
        return np.asarray(self.to_range(k, elapsed_s) == 1.0, dtype=bool)

    def to_range(self, k: int, elapsed_s: FloatArray) -> FloatArray:
        """What scales each elapsed time at station k into :meth:`covers`'s range (1 within
        it; NaN: the table timed nobody there): a runner faster than any is predicted as
        the fastest, in proportion."""
        at = self.filled_s[:, k]
        at = at[np.isfinite(at)]
        if not len(at):
            return np.full(len(elapsed_s), np.nan)
        edge = np.clip(elapsed_s, float(at.min()) / COVER, float(at.max()) * COVER)
        return np.asarray(edge / np.maximum(elapsed_s, 1.0), dtype=np.float64)

    def fit(self, k: int, j: int) -> LegFit | None:
        if (k, j) not in self._fits:
            self._fits[k, j] = self._fit(k, j)
        return self._fits[k, j]

    def near(self, k: int, filled_s: FloatArray, keep: bool = False) -> IntArray:
        """For each runner (rows of ``filled_s``, at station k), the table's ``NEAR_RUNNERS``
        runners most like them at k: nearest by log elapsed time (its axis stretched
        ``NEAR_ELAPSED_WEIGHT`` times) and the logs of their last legs, each in units of its
        spread over the table's runners at k. Indexes into the table, one row per runner;
        ``keep``: kept for the next time the same runner is asked for (up to ``NEAR_KEPT``)."""
        if k not in self._near:
            at = np.flatnonzero(np.isfinite(self.filled_s[:, k]))
            x = features(self.filled_s[at], k, self.known)[:, 1:]
            scale = np.ones(x.shape[1])
            scale[0] = NEAR_ELAPSED_WEIGHT
            mean = x.mean(axis=0) if len(at) else np.zeros(x.shape[1])
            scale /= np.maximum(x.std(axis=0), 1e-9) if len(at) else 1.0
            z = (x - mean) * scale
            self._near[k] = (at, z, (z * z).sum(axis=1), mean, scale)
        at, z, norms, mean, scale = self._near[k]
        count = min(NEAR_RUNNERS, len(at))
        if not count:
            return np.empty((len(filled_s), 0), dtype=np.intp)
        q = (features(filled_s, k, self.known)[:, 1:] - mean) * scale
        keys = [(k, row.tobytes()) for row in q]
        kept = self._near_of if keep else {}  # (another thread's forecast may use it too)
        out = [kept.get(key) for key in keys]
        new = [i for i, found in enumerate(out) if found is None]
        if keep and len(kept) + len(new) > NEAR_KEPT:
            kept.clear()
        for lo in range(0, len(new), NEAR_CHUNK):
            part = new[lo : lo + NEAR_CHUNK]
            d = norms[None, :] - 2.0 * q[part] @ z.T  # + |q|^2, the same along a row
            for i, found in zip(part, at[np.argpartition(d, count - 1, axis=1)[:, :count]],
                                strict=True):  # fmt: skip
                out[i] = found = found.astype(np.int32)
                if keep and len(kept) < NEAR_KEPT:
                    kept[keys[i]] = found
        return np.array(out, dtype=np.intp).reshape(-1, count)

    def blend(
        self, fit: LegFit, k: int, j: int, filled_s: FloatArray, near: IntArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``log(elapsed_j - elapsed_k)`` for runners at station k (rows of ``filled_s``;
        ``near``: their :meth:`near`, else found and kept): the fit's, averaged with what the
        runners most like them ran, where enough of them reached j; and those runners' low and
        high quantiles about their median (as :meth:`near_log_to_go`)."""
        mu = fit.log_to_go(features(filled_s, k, self.known))
        near = self.near(k, filled_s, keep=True) if near is None else near
        said, low, high = self.near_log_to_go(k, j, near, filled_s[:, k])
        return np.where(np.isfinite(said), (said + mu) / 2, mu), low, high

    def near_log_to_go(
        self, k: int, j: int, near: IntArray, elapsed_s: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``log(elapsed_j - elapsed_k)`` for runners at ``elapsed_s`` whose :meth:`near`
        runners are ``near``: their weighted median ratio of time still to run to time run
        (an edition whose route changed weighs less across it), and the ``quantiles`` of that
        ratio less the median (the spread of runners like them, in logs); NaN where fewer
        than ``NEAR_MIN`` of them reached j."""
        e = self.filled_s
        if not near.shape[1]:
            return (np.full(len(near), np.nan),) * 3
        ratio = np.log(np.maximum(e[near, j] - e[near, k], 1.0) / np.maximum(e[near, k], 1.0))
        across = self.changed[:, max(k - RECENT_LEGS, 0) : j + 1].any(axis=1)
        w = self.row_weights * np.where(across, self.changed_weight, 1.0)
        w = np.where(np.isfinite(ratio), w[near], 0.0)
        order = np.argsort(np.where(np.isfinite(ratio), ratio, np.inf), axis=1)
        ratio, w = np.take_along_axis(ratio, order, 1), np.take_along_axis(w, order, 1)
        cum = np.cumsum(w, axis=1)
        q0, q1 = self.quantiles
        low, median, high = (
            np.take_along_axis(ratio, np.minimum((cum < q * cum[:, -1:]).sum(axis=1),
                                                 near.shape[1] - 1)[:, None], 1)[:, 0]
            for q in (q0, 0.5, q1)
        )  # fmt: skip
        enough = np.isfinite(ratio).sum(axis=1) >= NEAR_MIN
        said = np.where(enough, median + np.log(np.maximum(elapsed_s, 1.0)), np.nan)
        return said, np.where(enough, low - median, np.nan), np.where(enough, high - median, np.nan)

    def _fit(self, k: int, j: int) -> LegFit | None:
        if not (self.known[k] and self.known[j]):
            return None
        e = self.filled_s
        rows = np.isfinite(e[:, j]) & np.isfinite(e[:, k])
        if rows.sum() < self.min_runners:
            return None
        lo = max(k - RECENT_LEGS, 0)
        across = self.changed[rows][:, lo : j + 1].any(axis=1)
        w = self.row_weights[rows] * np.where(across, self.changed_weight, 1.0)
        x = features(e[rows], k, self.known)
        y = np.log(np.maximum(e[rows, j] - e[rows, k], 1.0))
        beta = _median_fit(x, y, w)
        residual = y - x @ beta
        low, high = _weighted_quantiles(residual, w, self.quantiles)
        ratio = y - x[:, 1]
        return LegFit(beta, low, high, int(rows.sum()), float(ratio.min()), float(ratio.max()),
                      float(x[:, 1].mean()), float(x[:, 1].std()))  # fmt: skip


def _median_fit(x: FloatArray, y: FloatArray, w: FloatArray) -> FloatArray:
    """Least absolute deviations by reweighted least squares: the fit of the median, which a
    few runners who sat down for hours at an aid station do not pull."""
    beta: FloatArray = np.zeros(x.shape[1])
    weights = w
    for _ in range(IRLS_STEPS):
        sw = np.sqrt(weights)
        beta = np.asarray(np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0], dtype=float)
        weights = w / np.maximum(np.abs(y - x @ beta), 0.01)
    return beta


def _weighted_quantiles(
    values: FloatArray, weights: FloatArray, qs: tuple[float, float]
) -> tuple[float, float]:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    v = values[order]
    return float(np.interp(qs[0], cum, v)), float(np.interp(qs[1], cum, v))
