"""``coursewatch course info`` and ``coursewatch track info``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursewatch.course import Course
from coursewatch.errors import RaceFileError
from coursewatch.formats.load import load_course, load_track
from coursewatch.race import load_race
from coursewatch.race_course import apply_race
from coursewatch.track import DROP_REASONS, Track
from coursewatch.units import M_PER_FT, Units, fmt_duration, km_mi

RACE_SUFFIXES = (".yaml", ".yml", ".toml")
FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def _units(default: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The --units option; ``default``: what it is without it, in words."""
    said = f"Distances in km first, or in miles and feet: default {default}."
    return click.option("--units", type=click.Choice(["km", "mi"]), default=None, help=said)


def register(main: click.Group) -> None:
    main.add_command(course)
    main.add_command(track)


@click.group()
def course() -> None:
    """Course files: GPX, KML/KMZ, GeoJSON, FIT, TCX."""


@click.group()
def track() -> None:
    """Recordings and ping logs: GPX, FIT, TCX, GeoJSON, KML, inReach JSON."""


def course_json(c: Course) -> dict[str, Any]:
    """The JSON of ``course info`` (a contract: fields may be added, never changed)."""
    climb = c.ascent_descent_m
    (slat, slon), (flat, flon) = (c.lat[0], c.lon[0]), (c.lat[-1], c.lon[-1])
    return {
        "name": c.name,
        "length_m": round(c.length_m, 1),
        "ascent_m": None if climb is None else climb[0],
        "descent_m": None if climb is None else climb[1],
        "loop": c.loop,
        "laps": len(c.lap_marks_m) + 1,
        "self_overlap": round(c.self_overlap, 3),
        "start": {"lat": round(float(slat), 6), "lon": round(float(slon), 6)},
        "finish": {"lat": round(float(flat), 6), "lon": round(float(flon), 6)},
        "points": len(c.lat),
        "stations": [
            {"name": s.name, "passes_m": [round(p, 1) for p in s.passes_m]} for s in c.stations
        ],
        "bbox": [round(v, 6) for v in c.bbox],
    }


def track_json(t: Track) -> dict[str, Any]:
    return {
        "name": t.name,
        "format": t.format,
        "fixes": len(t),
        "start": t.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": t.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(t.duration_s, 1),
        "distance_m": round(t.distance_m, 1),
        "interval_median_s": round(t.median_interval_s, 1),
        "interval_max_s": round(t.max_gap_s, 1),
        "dropped": dict(t.dropped),
        "notes": list(t.notes),
        "out_of_order": t.out_of_order,
        "repeated_positions": t.repeated_positions,
        "has_elevation": t.ele_m is not None,
    }


@course.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@FORMAT
@_units("a race file's units, else km")
def course_info(file: Path, fmt: str, units: str | None) -> None:
    """Length, climb, loop, repeated sections, stations and their passes of FILE. A race file
    (.yaml, .toml) gives its course with the race's stations and cut-offs, placed and checked
    as race HQ and analyze place them."""
    race = load_race(file) if file.suffix.lower() in RACE_SUFFIXES else None
    c = load_course(file if race is None else race.course_path)
    cutoffs: list[str] = []
    if race is not None:
        try:
            c = apply_race(c, race)
        except RaceFileError as exc:  # (placed on its course: name the race file)
            raise RaceFileError(exc.detail, file) from None
        at = [None if st.cutoff_ts is None else datetime.fromtimestamp(st.cutoff_ts,
              race.start.tzinfo) for st in race.stations]  # fmt: skip
        cutoffs = [_cutoff(t, race.start) for t in at]
    if fmt == "json":
        out = course_json(c)
        for station, t in zip(out["stations"], at if race else [], strict=False):
            station["cutoff"] = None if t is None else t.isoformat()
        click.echo(json.dumps(out, indent=2))
        return
    con = Console()
    d = course_json(c)
    units = units or (race.units if race else "km")  # a race run in miles: miles and feet first
    con.print(f"[bold]{escape(c.name or file.name)}[/]  {Units.of(units).length(c.length_m)}")
    if d["ascent_m"] is not None:
        con.print(f"climb: {_climb(d['ascent_m'], d['descent_m'], units)}")
    else:
        con.print("climb: the file has no elevation")
    con.print(f"start {d['start']['lat']}, {d['start']['lon']}  "
              f"finish {d['finish']['lat']}, {d['finish']['lon']}")  # fmt: skip
    shape = "loop" if c.loop else "point to point"
    con.print(f"{shape}{_laps(c, units)}; {d['self_overlap'] * 100:.0f}% of the course is run "
              "more than once")  # fmt: skip
    con.print(f"bbox (lon/lat): {d['bbox']}")
    if c.stations:
        listed = bool(cutoffs)  # (a race file without stations: the course's waypoints)
        table = Table("station", "passes (course distance)", *(["cut-off"] if listed else []))
        for i, s in enumerate(c.stations):
            passes = ", ".join(km_mi(p, units, other=False) for p in s.passes_m)
            passes = passes or "not on the course"
            table.add_row(escape(s.name), passes, *([cutoffs[i]] if listed else []))
        con.print(table)
        if race is not None and not listed:
            con.print("the race file lists no stations: these are the course file's waypoints")
    else:
        con.print("no stations (add waypoints, or give a race file)")


def _laps(c: Course, units: str) -> str:
    """ ", 4 laps of 5.60 km", or each lap's length when they differ (a cloverleaf); "": one."""
    if not c.lap_marks_m:
        return ""
    ends = [0.0, *c.lap_marks_m, c.length_m]
    legs = [b - a for a, b in itertools.pairwise(ends)]
    u = Units.of(units)
    if max(legs) - min(legs) <= 0.02 * max(legs):
        return f", {len(legs)} laps of {u.length(sum(legs) / len(legs))}"
    return f", {len(legs)} laps ({', '.join(u.length(m) for m in legs)})"


def _climb(ascent_m: float, descent_m: float, units: str) -> str:
    """ "+10,040 m / -10,040 m", in feet in a race run in miles (metres in brackets)."""
    metres = f"+{ascent_m:,.0f} m / -{descent_m:,.0f} m"
    if units != "mi":
        return metres
    return f"+{ascent_m / M_PER_FT:,.0f} ft / -{descent_m / M_PER_FT:,.0f} ft ({metres})"


def _cutoff(at: datetime | None, start: datetime) -> str:
    """'Sun 10:15 · T+5:00': the race's clock and the time from its start (a night the clocks
    go back has 25 hours).

    >>> from zoneinfo import ZoneInfo
    >>> denver = ZoneInfo("America/Denver")
    >>> _cutoff(datetime(2026, 11, 1, 12, tzinfo=denver), datetime(2026, 10, 31, 6, tzinfo=denver))
    'Sun 12:00 · T+31:00'
    """
    if at is None:
        return ""
    return f"{at:%a %H:%M} · T+{fmt_duration(at.timestamp() - start.timestamp())[:-3]}"


@track.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@FORMAT
@_units("km")
def track_info(file: Path, fmt: str, units: str | None) -> None:
    """Fixes, times, sampling and what was dropped (and why) in FILE."""
    t = load_track(file)
    if fmt == "json":
        click.echo(json.dumps(track_json(t), indent=2))
        return
    con = Console()
    con.print(f"[bold]{escape(t.name or file.name)}[/] ({t.format}): {len(t)} fixes")
    con.print(f"{t.start:%Y-%m-%d %H:%M:%S}Z to {t.end:%Y-%m-%d %H:%M:%S}Z, "
              f"{fmt_duration(t.duration_s)}, {Units.of(units).length(t.distance_m)}")  # fmt: skip
    con.print(f"sampling: median {t.median_interval_s:.0f} s, largest gap "
              f"{fmt_duration(t.max_gap_s)}")  # fmt: skip
    if t.repeated_positions:
        share = t.repeated_positions / max(len(t) - 1, 1) * 100
        con.print(f"repeated positions: {t.repeated_positions} ({share:.0f}%): the receiver "
                  "logged its last fix again")  # fmt: skip
    if t.out_of_order:
        con.print(f"out of order: {t.out_of_order} records arrived before earlier ones (sorted)")
    if t.dropped:
        for reason, n in t.dropped.items():
            con.print(f"dropped {n}: {DROP_REASONS[reason]}")
    else:
        con.print("nothing dropped")
    for note in t.notes:  # (a file cut short, say)
        con.print(f"note: {escape(note)}")
