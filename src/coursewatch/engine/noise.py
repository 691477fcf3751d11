"""How noisy a receiver is, learned from its fixes when it does not say.

Phones report a horizontal accuracy (OsmAnd, OwnTracks); watch files and satellite pings do
not. A noisy receiver needs a wider off-course margin, so when none is reported the engine
estimates one from the jitter of the *signed* offset from the matched line: a runner on the
trail moves smoothly across the line, GPS error does not. Each fix that is on the line
(matched, near it, at most ``MAX_GAP_S`` after the last) gives the middle of the last three
offsets minus their linear interpolation. For GPS error that is AR(1) in time with time
constant ``tau_s`` and standard deviation ``sigma``, that residual has standard deviation
``g(dt) * sigma`` with ``g = sqrt(1.5 - 2a + a^2 / 2)``, ``a = exp(-dt / tau_s)``, so
``|r| / (0.798 g)`` is one sample of ``sigma``; samples are clipped at three times the
current estimate and averaged over ``learn_s`` of fixes (no logarithms: this runs on every
fix). Pure functions over a slice of the state.

>>> import numpy as np
>>> st = np.zeros(LEN)
>>> rng = np.random.default_rng(1)
>>> e = np.zeros(2000)
>>> for i in range(1, 2000):  # AR(1), sigma 8 m, tau 30 s, one fix a second
...     e[i] = np.exp(-1 / 30) * e[i - 1] + 8 * np.sqrt(1 - np.exp(-2 / 30)) * rng.normal()
>>> for i in range(2000):
...     noise_step(st, float(i), 5.0 + e[i], True, 4.0, 30.0, 300.0)
>>> bool(6.0 < st[EST] < 10.0)
True
>>> clean = np.zeros(LEN)
>>> for i in range(2000):  # a runner drifting smoothly across the line
...     noise_step(clean, float(i), 20.0 * np.sin(i / 200.0), True, 4.0, 30.0, 300.0)
>>> bool(clean[EST] < 4.0)
True
"""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.geo import FloatArray

FIELDS = ("T1", "D1", "T0", "D0", "EST", "G_DT", "G")  # the slice of the state, in order
T1 = 0  # time and signed offset of the last fix on the line
D1 = 1
T0 = 2  # ... and of the one before (T0 = 0: no chain)
D0 = 3
EST = 4  # the estimate, m (0 until the first fix)
G_DT = 5  # the last spacing, and g(dt) for it
G = 6
LEN = len(FIELDS)
MAX_GAP_S = 30.0  # fixes further apart say nothing about jitter
MEAN_ABS_Z = 0.7979  # E|Z| for a standard normal Z
CLIP = 3.0  # samples count up to this many times the current estimate


@nb.njit(cache=True, inline="always")
def noise_step(
    st: FloatArray,
    t: float,
    d_signed: float,
    on_line: bool,
    prior_m: float,
    tau_s: float,
    learn_s: float,
) -> None:
    """Take one fix: its time (s), signed offset from the matched line (m), and whether it
    counts (matched, near the line). Updates ``st[EST]``."""
    if st[EST] == 0.0:
        st[EST] = prior_m
    if not on_line:
        st[T0] = 0.0
        st[T1] = 0.0
        return
    dt2 = t - st[T1]
    if st[T1] == 0.0 or dt2 <= 0.0 or dt2 > MAX_GAP_S:
        st[T0] = 0.0
    elif st[T0] != 0.0:
        dt1 = st[T1] - st[T0]
        f = dt1 / (dt1 + dt2)
        r = st[D1] - (st[D0] + f * (d_signed - st[D0]))
        dt = dt1 + dt2
        if dt != st[G_DT]:  # trackers keep one interval: g is worked out once
            a = np.exp(-0.5 * dt / tau_s)
            st[G] = np.sqrt(max(1.5 - 2.0 * a + 0.5 * a * a, 1e-6))
            st[G_DT] = dt
        # clipped: the odd corner of a switchback, where the line turns under the runner,
        # moves the mean no more than a few ordinary fixes do
        sample = min(abs(r) / (MEAN_ABS_Z * st[G]), CLIP * st[EST])
        st[EST] += min(dt2 / learn_s, 1.0) * (sample - st[EST])
    if st[T1] != 0.0 and 0.0 < dt2 <= MAX_GAP_S:
        st[T0] = st[T1]
        st[D0] = st[D1]
    st[T1] = t
    st[D1] = d_signed
