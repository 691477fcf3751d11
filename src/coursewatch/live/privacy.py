"""What the public sees of a race: positions delayed, rounded or hidden, tracks hidden, and
runners who opted out left out.

Race HQ (the admin token) sees everything. Anyone else reading a race (the public, when the
race is public; a race's ingest token) sees it through the race's :class:`PublicView`:

- ``positions`` false: no position of any runner (map, track, incidents); progress along the
  course is shown only as the last station passed;
- ``delay_min``: positions (and tracks) as they were that many minutes ago; progress as the last
  station passed then, no ETAs;
- ``round_m``: positions rounded to a grid of about that many metres;
- ``tracks`` false: no stored tracks;
- ``incidents`` true: race HQ's incidents and the runners' flags of every runner are public
  too (never what a runner's device said), while no position is held back. False (the
  default): the public sees positions, statuses and splits, never an incident, a flag or an
  excursion, and no status that says one ("off course"): a known error of the course file
  would tell every family their runner is lost. A runner's own token (the runner, their
  crew) reads that runner's incidents and flags whatever the view.

A runner who opted out (``hidden``) is not in any public view, list or stream at all.

>>> rounded(45.923456, 6.869123, 500.0)
(45.921667, 6.870165)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from coursewatch.errors import InputError

M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class PublicView:
    positions: bool = True
    delay_min: float = 0.0
    round_m: float = 0.0
    tracks: bool = True
    incidents: bool = False

    @property
    def exact(self) -> bool:
        """No position held back: the public sees where runners are as race HQ does."""
        return self.positions and self.tracks and not self.delay_min and not self.round_m

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: object, base: PublicView | None = None) -> PublicView:
        """A view from ``{"positions": ..., "delay_min": ..., ...}`` (missing keys: ``base``'s);
        InputError naming the bad key."""
        if not isinstance(obj, dict):
            raise InputError('public_view must be an object: {"delay_min": 30, ...}')
        values = (base or cls()).to_json()
        for key, value in obj.items():
            if key not in values:
                raise InputError(f"public_view.{str(key)[:40]}: unknown; use {', '.join(values)}")
            if key in ("positions", "tracks", "incidents"):
                if not isinstance(value, bool):
                    raise InputError(f"public_view.{key} must be true or false")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 10_000
            ):
                raise InputError(f"public_view.{key} must be a number from 0 to 10000")
            values[key] = value
        return cls(**values)


def rounded(lat: float, lon: float, grid_m: float) -> tuple[float, float]:
    """A position on a grid of about ``grid_m`` metres (0: as it is)."""
    if grid_m <= 0:
        return lat, lon
    step_lat = grid_m / M_PER_DEG_LAT
    step_lon = grid_m / (M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat))))
    return round(round(lat / step_lat) * step_lat, 6), round(round(lon / step_lon) * step_lon, 6)


HELD_BACK = ("offset_m", "pace_mps", "next_station_eta_ts", "finish_eta_ts")
# live now: in a delayed view, shown as they were then or left out
AS_THEN = ("last_station", "last_station_ts", "next_station", "lap")
NOT_DELAYED = ("silent_s", "fixes", "on_course", "flagged", "confirmed", "far", "wrong_way")


HQ_STATUSES = ("flagged", "off_course", "far_from_course")  # each says a flag or an incident
TOLD = {"flagged": False, "confirmed": False, "far": False, "wrong_way": False,
        "on_course": None, "offset_m": None}  # fmt: skip


def without_incidents(out: dict[str, Any]) -> dict[str, Any]:
    """A runner's JSON with nothing that says a flag or an incident: a status that does
    reads "running" (whether they are off the course is race HQ's to judge, and the runner's
    to hear), their flags and offset left out."""
    status = "running" if out.get("status") in HQ_STATUSES else out.get("status")
    return {**out, **TOLD, "status": status}


def public_runner(
    out: dict[str, Any], view: PublicView, seen: tuple[float, ...] | None,
    then: dict[str, Any], now_s: float,
) -> dict[str, Any]:  # fmt: skip
    """A runner's JSON (``views.runner_json``) as the public sees it. ``seen``: the fix the view
    may show (time, lat, lon, progress: the last one, or the last one ``delay_min`` ago);
    ``then``: the runner as of that fix (``progress_m``, ``last_station_m``, and the
    ``last_station``, ``next_station`` and ``lap`` fields). With positions hidden, progress
    shows as the last station passed (a published split)."""
    if view.exact:
        return out
    out = dict(out)
    if not view.positions or seen is None:
        out["last_fix"] = None
    else:
        lat, lon = rounded(seen[1], seen[2], view.round_m)
        battery = (out.get("last_fix") or {}).get("battery_pct") if not view.delay_min else None
        out["last_fix"] = {"time_s": seen[0], "lat": lat, "lon": lon, "battery_pct": battery}
    for key in HELD_BACK:  # each says where the runner is, or will be
        out[key] = None
    if view.positions:
        shown = on_grid(then["progress_m"], view.round_m)
    else:
        shown = then["last_station_m"] or 0.0
    _progress(out, shown)
    if view.delay_min:
        out.update({key: then[key] for key in AS_THEN})
        _delayed(out, now_s - 60.0 * view.delay_min)
    return out


def on_grid(progress_m: float, grid_m: float) -> float:
    """A distance along the course on the view's grid (0: as it is)."""
    return progress_m if grid_m <= 0 else math.floor(progress_m / grid_m) * grid_m


def _progress(out: dict[str, Any], shown_m: float) -> None:
    ratio = shown_m / out["progress_m"] if out["progress_m"] else 0.0
    out["progress_m"] = round(shown_m, 1)
    out["progress_mi"] = round(out["progress_mi"] * ratio, 3)
    out["progress_pct"] = round(out["progress_pct"] * ratio, 2)


def _delayed(out: dict[str, Any], then_s: float) -> None:
    """What is live now is left out; the finish only once it is ``delay_min`` old."""
    for key in NOT_DELAYED:
        out[key] = None
    if out.get("finish_ts") is not None and out["finish_ts"] > then_s:
        out["finish_ts"] = None
    if out["status"] not in ("dnf", "not_started") and out.get("finish_ts") is None:
        out["status"] = "running"
