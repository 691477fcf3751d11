"""Simulated split tables: a field of runners timed at every station, for the tests.

Each runner has a level (seconds per effort metre, log-normal), a fatigue (slowing per
effort-km) and noise on every leg, plus a stop at each station; slower runners drop out
more often, and a small share of timing-mat reads are missed (blank cells between times).
``leg_factor`` scales legs (another year's route or weather). All from a seed.

>>> e = simulate_splits(np.array([5_000.0, 12_000.0, 20_000.0]), n_runners=4, seed=1)
>>> e.shape
(4, 3)
>>> bool(np.all(np.diff(e[np.isfinite(e).all(axis=1)], axis=1) > 0))
True
"""

from __future__ import annotations

import io

import numpy as np

from coursewatch.geo import FloatArray
from coursewatch.splits import hms


def simulate_splits(
    effort_m: FloatArray,
    n_runners: int = 1000,
    seed: int = 0,
    leg_factor: FloatArray | None = None,
    dnf_share: float = 0.3,
    missed_share: float = 0.01,
) -> FloatArray:
    """Elapsed seconds (NaN: not reached or missed) at stations of cumulative ``effort_m``."""
    rng = np.random.default_rng(seed)
    legs_m = np.diff(np.concatenate([[0.0], effort_m]))
    factor = np.ones(len(legs_m)) if leg_factor is None else np.asarray(leg_factor)
    level = np.exp(rng.normal(np.log(0.55), 0.25, n_runners))  # s per effort metre
    fatigue = rng.normal(0.004, 0.002, n_runners)  # log slowing per effort-km
    mid_km = (effort_m - legs_m / 2) / 1000.0
    pace = level[:, None] * np.exp(fatigue[:, None] * mid_km[None, :])
    noise = np.exp(rng.normal(0.0, 0.08, (n_runners, len(legs_m))))
    stops = rng.exponential(300.0, (n_runners, len(legs_m)))
    elapsed = np.cumsum(pace * legs_m * factor * noise + stops, axis=1)
    # the slower, the likelier to stop somewhere
    p_dnf = np.clip(dnf_share * (level / np.median(level)) ** 2, 0.0, 0.95)
    quits = rng.random(n_runners) < p_dnf
    at = rng.integers(0, len(legs_m), n_runners)
    for r in np.flatnonzero(quits):
        elapsed[r, at[r] :] = np.nan
    missed = rng.random(elapsed.shape) < missed_share
    missed[:, -1] = False
    elapsed[missed] = np.nan
    return elapsed


def splits_csv(names: list[str], elapsed_s: FloatArray, bibs: list[str] | None = None) -> str:
    """A split table as a results site would publish it: bib, name, then H:MM:SS per station."""
    out = io.StringIO()
    out.write(",".join(["bib", "name", *names]) + "\n")
    for i, row in enumerate(elapsed_s):
        bib = bibs[i] if bibs else str(i + 1)
        cells = ["" if not np.isfinite(v) else hms(float(v)) for v in row]
        out.write(",".join([bib, f"Runner {bib}", *cells]) + "\n")
    return out.getvalue()
