"""Writing an event row (the layout is in ``engine/layout.py``): one place for every detector."""

from __future__ import annotations

import numba as nb
import numpy as np

from coursewatch.engine import layout as L
from coursewatch.geo import FloatArray


@nb.njit(cache=True)
def write_event(
    ev: FloatArray,
    code: int,
    at: tuple[float, float, float, float],
    left: tuple[float, float, float, float],
    offset_m: float,
) -> None:
    """Fill ``ev`` with an event: ``at`` and ``left`` are (time, course m, x, y)."""
    ev[:] = np.nan
    ev[L.EV_CODE] = code
    ev[L.EV_T], ev[L.EV_S], ev[L.EV_X], ev[L.EV_Y] = at
    ev[L.EV_LEFT_T], ev[L.EV_LEFT_S], ev[L.EV_LEFT_X], ev[L.EV_LEFT_Y] = left
    ev[L.EV_OFFSET] = offset_m
