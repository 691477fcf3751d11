"""A GPX or FIT (or any track format coursewatch reads) uploaded for one runner: late watch data.

The bytes go through the same readers and the same cleaning as ``coursewatch track`` files
(:func:`coursewatch.track.build_track`), so duplicates and no-fix points are dropped the same
way; what is left becomes fixes of that runner.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from coursewatch.formats.detect import read_points
from coursewatch.protocols import Decoded, Fix
from coursewatch.track import build_track


def decode_upload(data: bytes, bib: str, max_bytes: int) -> Decoded:
    """Every fix of an uploaded recording, as fixes of runner ``bib``; raises InputError."""
    with tempfile.TemporaryDirectory(prefix="coursewatch-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        track = build_track(read_points(path, max_bytes), "upload")
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
