"""A GPX or FIT (or any track format coursewatch reads) uploaded for one runner: late watch data.

The bytes go through the same readers and the same cleaning as ``coursewatch track`` files
(:func:`coursewatch.formats.load.track_from_bytes`), so duplicates and no-fix points are dropped
the same way; what is left becomes fixes of that runner.
"""

from __future__ import annotations

import math

from coursewatch.formats.load import track_from_bytes
from coursewatch.protocols import Decoded, Fix


def decode_upload(data: bytes, bib: str, max_bytes: int) -> Decoded:
    """Every fix of an uploaded recording, as fixes of runner ``bib``; raises InputError."""
    track = track_from_bytes(data, "upload", max_bytes)
    out = Decoded()
    acc = track.accuracy_m
    ele = track.ele_m
    for i in range(len(track)):
        a = None if acc is None or math.isnan(acc[i]) else float(acc[i])
        e = None if ele is None or math.isnan(ele[i]) else float(ele[i])
        fix = Fix(
            time_s=float(track.time_s[i]),
            lat=float(track.lat[i]),
            lon=float(track.lon[i]),
            bib=bib,
            accuracy_m=a,
            altitude_m=e,
        )
        out.add(fix, i)
    return out
