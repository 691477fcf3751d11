"""The HTML report: one self-contained file that opens with no network.

Leaflet comes from the ``xstatic-leaflet`` package and is inlined (its CSS images as data
URIs), so the page needs nothing but itself; base tiles are optional (``tiles=None``: the
lines on a plain background). The page shows the course, the track, the excursions in red,
the points where race HQ was alerted, the stations, the elevation and progress profiles with
the excursions shaded, each excursion told in words and the splits table. It is laid out for a
phone first.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from coursewatch.analysis import Analysis
from coursewatch.analysis.passes import checkpoint_course, uses_checkpoints
from coursewatch.course import Course
from coursewatch.reports.compare import (
    Runner,
    SplitGrid,
    cell_text,
    excursion_brief,
    places,
    split_grid,
)
from coursewatch.reports.profile import build_profiles, stride_indices
from coursewatch.reports.splits import Splits
from coursewatch.reports.summary import (
    ReportInfo,
    brief_heading,
    cutoff_line,
    cutoff_text,
    excursion_sentences,
    excursion_title,
    finish_line,
    headline,
    lost_text,
    numbers,
    signed_duration,
)
from coursewatch.reports.svg import RUNNER, elevation_svg, progress_svg, runners_svg
from coursewatch.units import Units, fmt_duration

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"
MAX_LINE_POINTS = 4000
MAX_EXCURSION_POINTS = 800


@dataclass(frozen=True)
class Tiles:
    """A base map: an XYZ URL template and the attribution its provider asks for."""

    url: str
    attribution: str

    @classmethod
    def parse(cls, value: str | None) -> Tiles | None:
        """``None``/``"none"``: no base map; ``"osm"``: OpenStreetMap; else an XYZ URL
        template (http(s), with {z}, {x} and {y}); ValueError for anything else."""
        if value is None or value.strip().lower() in ("", "none"):
            return None
        if value.strip().lower() == "osm":
            return cls(OSM_TILES, OSM_ATTRIBUTION)
        if not re.match(r"https?://", value) or not all(k in value for k in ("{z}", "{x}", "{y}")):
            raise ValueError(
                f"{value!r} is not a tile server: give none, osm, or an XYZ template such as "
                "https://tile.example.org/{z}/{x}/{y}.png"
            )
        host = re.sub(r"^\w+://", "", value).split("/", 1)[0]
        attribution = OSM_ATTRIBUTION if "openstreetmap" in host else f"Tiles: {escape(host)}"
        return cls(value, attribution)


@cache
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images inlined) from the xstatic-leaflet package."""
    import xstatic.pkg.leaflet as xl

    base = Path(xl.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        data = base64.b64encode((base / m.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    return js, css


def _template(name: str) -> str:
    return resources.files("coursewatch.reports").joinpath("templates", name).read_text("utf-8")


def _line(lat: Any, lon: Any, max_points: int) -> list[list[float]]:
    k = stride_indices(len(lat), max_points)
    return [[round(float(lat[i]), 5), round(float(lon[i]), 5)] for i in k]


def map_data(
    course: Course,
    runners: list[tuple[str, str, Analysis]],
    info: ReportInfo,
    tiles: Tiles | None,
) -> dict[str, Any]:
    """Everything the map script draws, as plain JSON. ``runners``: (name, colour, analysis)."""
    tracks, excursions, alarms = [], [], []
    single = len(runners) == 1
    for name, colour, a in runners:
        tr = a.track
        tracks.append(
            {
                "name": name,
                "colour": colour,
                "line": _line(tr.lat, tr.lon, MAX_LINE_POINTS // len(runners)),
            }
        )
        ns = numbers(e.alerted is not None for e in a.excursions)
        for n, e in zip(ns, a.excursions, strict=True):
            sl = slice(e.first_fix, e.last_fix + 1)
            who = "" if single else f"{name}: "
            number = f"{n}." if e.alerted is not None else f"Brief moment {n}:"
            excursions.append(
                {
                    "kind": e.kind,
                    "confirmed": e.alerted is not None,  # (a brief moment: drawn lighter)
                    "title": f"{who}{number} {excursion_title(e, a.units)}",
                    "text": " ".join(excursion_sentences(a, e, info)),
                    "path": _line(tr.lat[sl], tr.lon[sl], MAX_EXCURSION_POINTS),
                }
            )
            if e.alerted is not None:
                title = f"{who}race HQ alerted {info.clock(e.alerted.time)} ({n})"
                alarms.append({"lat": e.alerted.lat, "lon": e.alerted.lon, "title": title})
    return {
        "course": _line(course.lat, course.lon, MAX_LINE_POINTS),
        "tracks": tracks,
        "excursions": excursions,
        "alarms": alarms,
        "stations": _stations(course, runners[0][2].units),
        "tiles": None if tiles is None else {"url": tiles.url, "attribution": tiles.attribution},
        "units": runners[0][2].units.name,  # the map's scale: km, or miles
    }


def _stations(course: Course, u: Units) -> list[dict[str, Any]]:
    stations = course.stations
    if uses_checkpoints(course):
        stations = checkpoint_course(course, u).stations
    out = []
    for st in stations:
        where = ", ".join(u.at(s) for s in st.passes_m) or "not on the course"
        out.append({"name": st.name, "lat": st.lat, "lon": st.lon, "title": f"{st.name} ({where})"})
    return out


def page(title: str, header: str, legend: str, sections: list[str], data: dict[str, Any]) -> str:
    """The HTML document: Leaflet and the report's CSS and script inlined around the parts."""
    js, css = leaflet_assets()
    values = {
        "TITLE": escape(title),
        "HEADER": header,
        "LEAFLET_CSS": css,
        "REPORT_CSS": _template("report.css"),
        "LEGEND": legend,
        "SECTIONS": "\n".join(sections),
        "LEAFLET_JS": js,
        "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
        "REPORT_JS": _template("report.js"),
    }
    return re.sub(r"@@(\w+)@@", lambda m: values[m.group(1)], _template("report.html"))


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{body}</section>'


def render_html(a: Analysis, info: ReportInfo, tiles: Tiles | None = None) -> str:
    """The report of one runner as one self-contained page."""
    splits = info.splits(a)
    profiles = build_profiles(a, splits)
    charts = [c for c in (elevation_svg(profiles), progress_svg(profiles, splits.ghost)) if c]
    sections = [
        section("profile", "Profile", "".join(f'<div class="chart-box">{c}</div>' for c in charts)),
        section("excursions", "Excursions", excursions_html(a, info)),
        section("splits", "Splits", splits_html(splits, info)),
    ]
    data = map_data(a.course, [(info.runner, RUNNER, a)], info, tiles)
    return page(
        f"{info.title} — {info.runner}",
        header_html(a, info, splits),
        _legend(splits.ghost, splits.mark if splits.checkpoints else None),
        sections,
        data,
    )


def header_html(a: Analysis, info: ReportInfo, splits: Splits) -> str:
    tr = a.track
    cls = "bad" if a.confirmed else "good"
    missed = cutoff_line(splits, info)
    return (
        f"<h1>{escape(info.title)}</h1>"
        f'<p class="runner">{escape(info.runner)} · {info.local(tr.start):%Y-%m-%d}</p>'
        f'<p class="headline {cls}">{escape(headline(a))}</p>'
        f'<p class="finish">{escape(finish_line(a, info))}</p>'
        + (f'<p class="finish bad">{escape(missed)}</p>' if missed else "")
        + "".join(f'<p class="finish">Note: {escape(n)}</p>' for n in tr.notes)
    )


def _legend(ghost: str | None, checkpoints: str | None = None) -> str:
    """The map's keys; ``checkpoints``: what the course's checkpoints are called ("10 km
    mark"), when it has no stations."""
    items = [
        ("course", "course"),
        ("track", "runner"),
        ("excursion", "excursion"),
        ("shortcut", "shortcut"),
        ("alarm", "race HQ alerted"),
        ("station", checkpoints or "station"),
    ]
    if ghost:
        items.append(("ghost", f"ghost: {ghost}"))
    return "".join(f'<span class="key {k}"></span>{escape(v)} ' for k, v in items)


def excursions_html(a: Analysis, info: ReportInfo) -> str:
    if not a.excursions:
        return '<p class="good">On the course all the way: no excursion.</p>'
    confirmed: list[str] = []
    brief: list[str] = []
    ns = numbers(e.alerted is not None for e in a.excursions)
    for i, (n, e) in enumerate(zip(ns, a.excursions, strict=True)):
        text = "".join(f"<li>{escape(s)}</li>" for s in excursion_sentences(a, e, info))
        (confirmed if e.alerted is not None else brief).append(
            f'<li class="excursion {e.kind}" data-index="{i}" value="{n}"><h3>'
            f'<button type="button">{n}. {escape(excursion_title(e, a.units))}</button></h3>'
            f"<ul>{text}</ul></li>"
        )
    out = f'<ol class="excursions">{"".join(confirmed)}</ol>' if confirmed else ""
    if brief:  # (13 cards of them buried UTMB 2021's 4 confirmed ones on a phone)
        n = len(brief)
        out += (f'<details class="brief"><summary>{brief_heading(n)}</summary>'
                f'<ol class="excursions">{"".join(brief)}</ol></details>')  # fmt: skip
    return out


def splits_html(sp: Splits, info: ReportInfo) -> str:
    """The splits as a table a phone shows whole: the distance and the pace without their
    unit (the heading says it: "Mile", "Pace /mi"), the station's name kept in view."""
    u = sp.units
    head = ["Station", "Mile" if u.miles else "Km", "Arrival", sp.time_heading.capitalize(), "Leg",
            f"Pace /{u.name}"]  # fmt: skip
    if sp.cutoffs:
        head.append("Cut-off")
    if sp.ghost:
        head += ["Ghost", "Gap"]
    rows = []
    for r in sp.rows:
        cells = [
            escape(r.label),
            f"{u.along(r.course_m):.1f}",
            info.clock(r.clock_ts, seconds=False),
            fmt_duration(r.elapsed_s),
            fmt_duration(r.leg_s),
            escape(r.pace_text(u, per=False)),
        ]
        if sp.cutoffs:
            bad = "bad" if r.missed_cutoff else ""
            cells.append(f'<span class="{bad}">{cutoff_text(r, info)}</span>')
        if sp.ghost:
            gap = r.gap_s
            cells.append("-" if r.ghost_elapsed_s is None else fmt_duration(r.ghost_elapsed_s))
            cls = "" if gap is None else ("bad" if gap > 0 else "good")
            cells.append(
                f'<span class="{cls}">{"-" if gap is None else signed_duration(gap)}</span>'
            )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(head)}">No station reached.</td></tr>')
    note = f'<p class="note">{escape(sp.note)}</p>' if sp.note else ""
    ths = "".join(f"<th>{h}</th>" for h in head)
    table = '<table class="splits times">'
    return f'{note}<div class="scroll">{table}<thead><tr>{ths}</tr></thead>' + (
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_compare_html(runners: list[Runner], info: ReportInfo, tiles: Tiles | None = None) -> str:
    """Several runners on one page: map, progress, standings, places, splits side by side."""
    a0 = runners[0].analysis
    series = []
    for r in runners:
        a = r.analysis
        k = stride_indices(len(a.track), 1500)
        series.append((r.name, r.colour, a.track.time_s[k] - a.start_ts, a.progress_m[k]))
    chart = runners_svg(a0.course.length_m, series, a0.units)
    sections = [
        section("profile", "Progress", f'<div class="chart-box">{chart}</div>'),
        section("standings", "Standings", standings_html(runners)),
        section("places", "Who left the course where", places_html(runners)),
        section("splits", "Splits side by side", grid_html(split_grid(runners), runners)),
    ]
    data = map_data(a0.course, [(r.name, r.colour, r.analysis) for r in runners], info, tiles)
    header = (
        f"<h1>{escape(info.title)}</h1>"
        f'<p class="runner">{len(runners)} runners · {a0.units.length(a0.course.length_m)}</p>'
    )
    legend = (
        "".join(
            f'<span class="key" style="background:{r.colour}"></span>{escape(r.name)} '
            for r in runners
        )
        + '<span class="key excursion"></span>excursion '
        + '<span class="key shortcut"></span>shortcut '
        + '<span class="key alarm"></span>race HQ alerted'
    )
    return page(f"{info.title} — {len(runners)} runners", header, legend, sections, data)


def _table(head: list[str], rows: list[list[str]]) -> str:
    ths = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<thead><tr>{ths}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="scroll"><table class="splits">{table}</table></div>'


def _swatch(r: Runner) -> str:
    return f'<span class="key" style="background:{r.colour}"></span>{escape(r.name)}'


def standings_html(runners: list[Runner]) -> str:
    rows = []
    for i, r in enumerate(runners):
        a = r.analysis
        rows.append(
            [
                str(i + 1),
                _swatch(r),
                escape(r.status),
                str(len(a.confirmed)),
                a.units.distance(a.extra_distance_m),
                a.units.distance(a.cut_m),
                lost_text(a),
            ]
        )
    return _table(["#", "Runner", "Result", "Excursions", "Extra", "Cut", "Lost"], rows)


def places_html(runners: list[Runner]) -> str:
    rows = []
    for p in places(runners):
        for k, (r, e) in enumerate(p.who):
            u = r.analysis.units
            rows.append(
                [u.at(p.course_m) if k == 0 else "", _swatch(r), escape(excursion_brief(e, u))]
            )
    if not rows:
        return '<p class="good">Every runner stayed on the course.</p>'
    return _table(["Where", "Who", "What"], rows)


def grid_html(grid: SplitGrid, runners: list[Runner]) -> str:
    u = runners[0].analysis.units
    rows = [
        [escape(label), u.at(s)] + [cell_text(grid, i, j) for j in range(len(runners))]
        for i, (label, s) in enumerate(grid.checkpoints)
    ]
    note = f'<p class="note">{escape(grid.note)}</p>' if grid.note else ""
    return note + _table(["Station", "At"] + [_swatch(r) for r in runners], rows)
