"""The JSON of ``coursewatch analyze --format json``: a contract other tools read.

Fields may be added; none may change meaning. Times are ISO 8601 UTC with a ``Z``. An
excursion's ``flagged`` is when the runner was first told they may be off course, ``alerted``
when race HQ was told (confirmed); ``track.left_out`` counts the fixes more than a kilometre
from the course at the start and the end of the recording, which were not analysed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coursewatch.analysis import Analysis, Excursion, Point
from coursewatch.analysis.results import utc
from coursewatch.reports.splits import Splits, compute_splits
from coursewatch.reports.summary import ReportInfo


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _point(p: Point | None, with_course: bool = True) -> dict[str, Any] | None:
    if p is None:
        return None
    out: dict[str, Any] = {"time": iso(p.time)}
    if with_course:
        out["course_m"] = None if p.course_m is None else round(p.course_m, 1)
    out["lat"] = round(p.lat, 6)
    out["lon"] = round(p.lon, 6)
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def excursion_json(e: Excursion) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "left": _point(e.left),
        "flagged": _point(e.flagged, with_course=False),
        "alerted": _point(e.alerted, with_course=False),
        "rejoined": _point(e.rejoined),
        "max_offset_m": round(e.max_offset_m, 1),
        "extra_distance_m": None if e.from_nowhere else round(e.extra_distance_m, 1),
        "time_lost_s": None if e.time_lost_s is None else round(e.time_lost_s, 1),
        "transport": None
        if e.transport is None
        else {
            "from": _point(e.transport[0], with_course=False),
            "to": _point(e.transport[1], with_course=False),
            "speed_kmh": round(e.transport[2] * 3.6, 1),
        },
    }


def analysis_json(a: Analysis, info: ReportInfo | None = None) -> dict[str, Any]:
    """The document; ``info``: the race file's part (its cut-offs, in the splits)."""
    tr = a.track
    splits = info.splits(a) if info is not None else compute_splits(a)
    return {
        "course": {"name": a.course.name, "length_m": round(a.course.length_m, 1)},
        "track": {
            "fixes": len(tr),
            "start": iso(tr.start),
            "end": iso(tr.end),
            "left_out": {"before": a.trimmed[0], "after": a.trimmed[1]},
            # records the reader dropped, by reason (pre_race: isolated pings hours before)
            "dropped": dict(tr.dropped),
            "notes": list(tr.notes),  # what the reader said of the file (cut short, say)
            # begun mid-race with no race start given: where (race time from its first fix)
            "starts_at_m": None if a.starts_at_m is None else round(a.starts_at_m, 1),
        },
        "excursions": [excursion_json(e) for e in a.excursions],
        "finish": None
        if a.finish is None
        else {
            "time": iso(a.finish.time),
            "elapsed_s": round(a.elapsed_s or 0.0, 1),
            "after_m": round(a.after_finish_m, 1),  # the track's way on after it (far: doubtful)
        },
        "passes": [
            {
                "station": p.station,
                "pass": p.visit,  # the race file's pass: the n-th visit of that name
                "course_m": round(p.course_m, 1),
                "time": iso(p.time),
            }
            for p in a.passes
        ],
        # the splits table: the stations (or a checkpoint every 10 km, or 10 miles in a race
        # run in miles, when the course has none: ``checkpoints``) and the finish
        "splits": splits_json(a, splits),
        "checkpoints": a.checkpoints,
        "ghost": splits.ghost,  # the race file's reference splits raced against, or null
        # the report's clock (the race file's, or --timezone): its name (an IANA name, or an
        # offset, "UTC-04:00"), or null for UTC
        "time_zone": None if info is None or info.tz is None else str(info.tz),
        "units": a.units.name,  # the race's (distances here are all in metres)
        "totals": {  # of the confirmed excursions, as the report's headline
            "excursions": len(a.confirmed),
            "extra_distance_m": round(a.extra_distance_m, 1),
            "time_lost_s": round(a.time_lost_s, 1),  # (of those whose loss is known)
            "time_lost_unknown": a.time_lost_unknown,  # excursions whose loss is not known
            "cut_m": round(a.cut_m, 1),
        },
    }


def splits_json(a: Analysis, splits: Splits) -> list[dict[str, Any]]:
    """The splits table's rows, with race time (``skipped``: inside a shortcut, its time the
    rejoin's: reports/splits.py)."""
    return [
        {
            "station": p.station,
            "pass": p.visit,
            "course_m": round(p.course_m, 1),
            "time": iso(p.time),
            "elapsed_s": round(p.time.timestamp() - a.start_ts, 1),
            "skipped": row.skipped,
            # the race file's cut-off of this visit, and how long after it it was reached
            # (negative: before); null without one
            "cutoff": None if row.cutoff_ts is None else iso(utc(row.cutoff_ts)),
            "after_cutoff_s": _round(row.late_s),
            # the ghost's elapsed at this visit and the runner's gap to it (positive: behind);
            # null without one
            "ghost_elapsed_s": _round(row.ghost_elapsed_s),
            "gap_s": _round(row.gap_s),
        }
        for p, row in zip(a.splits, splits.rows, strict=True)
    ]
