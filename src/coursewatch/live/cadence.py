"""Work done for every runner once a minute (or so) of race time, spread over the runners.

A mass start puts every runner's race clock in step: work due "every minute since the last"
falls due for all of them at the same race second, every minute, and race HQ stalls for as long
as it takes (2,000 runners' durable states, overdue and cut-off checks and the ETA model's
segments and predictions: 0.6-1.0 s where a second's fixes take 0.2-0.25 s,
``benchmarks/mass_start.py`` on this project's machine). Each bib has its own phase instead:
still once in every ``every_s`` of its own, never all at once
(:class:`coursewatch.live.clock.RunnerWatch` counts from the runner's start: not at the gun
either).

>>> [due("7", 0.0, t, 60.0) for t in (1.0, 53.0, 54.0)], due("7", 54.0, 113.0, 60.0)
([False, False, True], False)
>>> due("7", -math.inf, 0.0, 60.0), due("7", 10.0, 5.0, 60.0)  # never yet; a clock set back
(True, True)
>>> phase_s("7", 60.0), phase_s("8", 60.0)
(6.0, 11.0)
"""

from __future__ import annotations

import math
import zlib


def due(bib: str, since_s: float, last_s: float, every_s: float) -> bool:
    """Whether the runner's work last done at ``since_s`` (race clock; -inf: never) is
    due again at ``last_s``: a new ``every_s`` of this bib's own began in between. At most
    once in each ``every_s`` of the bib's, at the first fix in it (work done for another
    reason just before, an event's, and the window's can be a fix apart)."""
    if since_s == -math.inf or last_s < since_s or every_s <= 0:
        return True
    phase = phase_s(bib, every_s)
    return (last_s + phase) // every_s > (since_s + phase) // every_s


def phase_s(bib: str, every_s: float) -> float:
    """The bib's offset of the ``every_s`` grid, whole seconds (the same in every process)."""
    return float(zlib.crc32(bib.encode()) % max(int(every_s), 1))
