"""Track: one runner's fixes, cleaned, with a count of everything dropped and why.

Real recordings and satellite ping logs come out of order, duplicated, with (0,0) or missing
positions and records without time. :func:`build_track` keeps every good fix, drops the rest,
and says how many of each it dropped, so nothing is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from coursewatch.errors import EmptyDataError
from coursewatch.geo import FloatArray, LocalFrame, haversine_m
from coursewatch.points import RawPoints

PRE_RACE_GAP_S = 3 * 3600.0
PRE_RACE_JUMP_M = 20_000.0

DROP_REASONS = {
    "no_position": "no position, or the (0,0) 'no fix' position",
    "no_time": "no timestamp",
    "duplicate": "exact duplicate of another fix",
    "same_time": "a second position for a timestamp already seen (the first is kept)",
    "pre_race": "isolated pings hours before the rest and far away (before travel to the start)",
}


@dataclass(frozen=True, eq=False)
class Track:
    """An immutable recording, sorted by time, one fix per timestamp."""

    name: str | None
    time_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    ele_m: FloatArray | None
    accuracy_m: FloatArray | None
    dropped: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    repeated_positions: int = 0
    source: str = ""
    format: str = ""
    notes: tuple[str, ...] = ()  # what the reader said of the file (cut short, say)

    def __len__(self) -> int:
        return len(self.time_s)

    @cached_property
    def frame(self) -> LocalFrame:
        """A local metric frame around the track (matching uses the course's frame)."""
        return LocalFrame.around(self.lat, self.lon)

    def part(self, start: int, stop: int) -> Track:
        """Fixes ``start`` to ``stop`` (excluded) of the track, as a track."""

        def cut(a: FloatArray | None) -> FloatArray | None:
            return None if a is None else a[start:stop]

        return replace(self, time_s=self.time_s[start:stop], lat=self.lat[start:stop],
                       lon=self.lon[start:stop], ele_m=cut(self.ele_m),
                       accuracy_m=cut(self.accuracy_m))  # fmt: skip

    def xy(self, frame: LocalFrame | None = None) -> tuple[FloatArray, FloatArray]:
        """The fixes in metres, in ``frame`` (default: the track's own)."""
        return (frame or self.frame).to_xy(self.lat, self.lon)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(float(self.time_s[0]), UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(float(self.time_s[-1]), UTC)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0])

    @property
    def distance_m(self) -> float:
        if len(self) < 2:
            return 0.0
        return float(haversine_m(self.lat[:-1], self.lon[:-1], self.lat[1:], self.lon[1:]).sum())

    @property
    def median_interval_s(self) -> float:
        return float(np.median(np.diff(self.time_s))) if len(self) > 1 else 0.0

    @property
    def max_gap_s(self) -> float:
        return float(np.max(np.diff(self.time_s))) if len(self) > 1 else 0.0


def build_track(raw: RawPoints, source: str | Path = "") -> Track:
    """Clean the points of a file into a Track, counting every dropped record by reason."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    n = len(raw)
    if n == 0:
        raise EmptyDataError("the file holds no track points: is it a course or empty?", source)
    lat, lon, t = raw.lat, raw.lon, raw.time_s
    has_pos = (
        np.isfinite(lat)
        & np.isfinite(lon)
        & (np.abs(lat) <= 90)
        & (np.abs(lon) <= 180)
        & ~((np.abs(lat) < 1e-9) & (np.abs(lon) < 1e-9))
    )
    has_time = np.isfinite(t)
    if not has_time.any():
        raise EmptyDataError(
            "no point has a timestamp, so this is a planned route, not a recording: "
            "use it as a course (first: `coursewatch analyze COURSE TRACK`), or export the "
            "activity with times",
            source,
        )
    dropped["no_position"] = int((~has_pos).sum())
    dropped["no_time"] = int((has_pos & ~has_time).sum())
    keep = np.flatnonzero(has_pos & has_time)
    if len(keep) == 0:
        raise EmptyDataError("no point has both a position and a time", source)
    tk = t[keep]
    # out of order: fixes whose time is before one already seen in file order
    running_max = np.maximum.accumulate(tk)
    out_of_order = int((tk[1:] < running_max[:-1]).sum()) if len(tk) > 1 else 0
    order = keep[np.argsort(tk, kind="stable")]
    first_of_time = _one_per_time(t[order], lat[order], lon[order], dropped)
    order = order[first_of_time]
    pre = _pre_race_count(t[order], lat[order], lon[order])
    dropped["pre_race"] = pre
    order = order[pre:]
    ele = raw.ele_m[order]
    acc = raw.accuracy_m[order]
    la, lo = lat[order], lon[order]
    repeated = int(((np.diff(la) == 0) & (np.diff(lo) == 0)).sum()) if len(order) > 1 else 0
    times = t[order]
    for arr in (times, la, lo, ele, acc):
        arr.flags.writeable = False  # a Track is immutable, arrays included
    return Track(
        name=raw.name,
        time_s=times,
        lat=la,
        lon=lo,
        ele_m=ele if np.isfinite(ele).any() else None,
        accuracy_m=acc if np.isfinite(acc).any() else None,
        dropped={k: v for k, v in dropped.items() if v},
        notes=raw.notes,
        out_of_order=out_of_order,
        repeated_positions=repeated,
        source=str(source),
        format=raw.format,
    )


def _one_per_time(
    ts: FloatArray, la: FloatArray, lo: FloatArray, dropped: dict[str, int]
) -> np.ndarray:
    """Which of the fixes (sorted by time) are the first at their time; the others are counted
    in ``dropped`` as exact duplicates or as a second position for the same time."""
    same_t = np.zeros(len(ts), dtype=bool)
    same_t[1:] = ts[1:] == ts[:-1]
    same_pos = np.zeros(len(ts), dtype=bool)
    same_pos[1:] = (la[1:] == la[:-1]) & (lo[1:] == lo[:-1])
    dup = same_t & same_pos
    dropped["duplicate"] = int(dup.sum())
    dropped["same_time"] = int((same_t & ~dup).sum())  # another position, the first one kept
    return ~same_t


def _pre_race_count(t: FloatArray, lat: FloatArray, lon: FloatArray) -> int:
    """Leading fixes cut off from the rest by hours and tens of km: pings before travel."""
    if len(t) < 3:
        return 0
    gaps = np.diff(t)
    jumps = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    head = min(len(t) // 10 + 1, 20)
    for i in range(head - 1, -1, -1):
        if gaps[i] >= PRE_RACE_GAP_S and jumps[i] >= PRE_RACE_JUMP_M:
            return i + 1
    return 0
