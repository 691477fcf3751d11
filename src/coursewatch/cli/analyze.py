"""``coursewatch analyze COURSE TRACK... [--race RACEFILE] [--format ...] [-o PATH]``.

One track: the report of that runner, as text, JSON, HTML, PNG or Markdown. Several tracks:
the runners compared. The CLI parses, calls the library and writes; reports measure nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from coursewatch import jitcache
from coursewatch.analysis import Analysis, analyze
from coursewatch.analysis.near import check_race_fits, check_start_fits
from coursewatch.course import Course
from coursewatch.errors import InputError, RaceFileError
from coursewatch.formats.load import load_course, load_track
from coursewatch.race import Race, load_race
from coursewatch.race_course import apply_race
from coursewatch.reports.compare import Runner, build_runners, print_comparison
from coursewatch.reports.html import Tiles, render_compare_html, render_html
from coursewatch.reports.json import analysis_json
from coursewatch.reports.markdown import render_compare_markdown, render_markdown
from coursewatch.reports.summary import ReportInfo
from coursewatch.reports.text import print_analysis
from coursewatch.track import Track
from coursewatch.units import Units

FORMATS = ["text", "json", "html", "png", "markdown"]
SUFFIX_FORMATS = {".json": "json", ".html": "html", ".htm": "html", ".png": "png",
                  ".md": "markdown", ".markdown": "markdown"}  # fmt: skip
TEXT_SUFFIXES = ("", ".txt", ".text", ".log")
LONG_FILE_BYTES = 1_000_000  # tracks bigger than this get a progress bar on a terminal


def register(main: click.Group) -> None:
    main.add_command(analyze_cmd)


def run_analysis(
    course_path: Path, track_path: Path, race_path: Path | None, check: bool = True,
    units: str | None = None,
) -> Analysis:  # fmt: skip
    """Load the files and analyse one track (the race file sets the start and the stations);
    ``check``: refuse a track that is not this course's or this race file's (--force);
    ``units``: "km" or "mi" (default: the race file's, else km)."""
    race = load_race(race_path) if race_path is not None else None
    course, track = _course(course_path, race, str(race_path)), load_track(track_path)
    return _analysis(course, track, race, str(race_path), check, units)


def _analysis(
    course: Course, track: Track, race: Race | None, race_file: str, check: bool,
    units: str | None = None,
) -> Analysis:  # fmt: skip
    if race is not None:
        check_race_fits(race, track, race_file)
    unit = Units.of(units or (race.units if race is not None else None))
    a = analyze(course, track, start_ts=race.start_ts if race else None, check_fit=check,
                units=unit)  # fmt: skip
    if race is not None and check:
        check_start_fits(race, a.track.time_s, a.match.progress_m, race_file)
    return a


def _course(path: Path, race: Race | None, race_file: str) -> Course:
    course = load_course(path)
    if race is None:
        return course
    try:
        return apply_race(course, race)
    except RaceFileError as exc:  # (placed on this course: the file names neither)
        raise RaceFileError(exc.detail, exc.path or race_file) from None


@contextmanager
def _progress(total: int, show: bool) -> Iterator[Progress]:
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (show and console.is_terminal),
    ) as bar:
        yield bar


def _analyses(
    course_file: Path, track_files: tuple[Path, ...], race: Race | None, race_file: str = "",
    check: bool = True, units: str | None = None,
) -> list[tuple[str, Analysis]]:  # fmt: skip
    long = any(p.is_file() and p.stat().st_size > LONG_FILE_BYTES for p in track_files)
    steps = 1 + 2 * len(track_files)
    with _progress(steps, long or len(track_files) > 2) as bar:
        task = bar.add_task("loading the course", total=steps)
        course = _course(course_file, race, race_file)
        out = []
        for p in track_files:
            bar.update(task, advance=1, description=f"loading {p.name}")
            track = load_track(p)
            bar.update(task, advance=1, description=f"analysing {p.name} ({len(track)} fixes)")
            out.append((p.stem, _analysis(course, track, race, race_file, check, units)))
        bar.update(task, advance=1)
    return out


@click.command("analyze")
@click.argument("course_file", type=click.Path(path_type=Path))
@click.argument("track_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--race",
    "race_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Race file (YAML/TOML): start time, stations, cut-offs, reference splits.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Default: from the -o file's suffix (.json .html .png .md), else text.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the report here instead of standard output (required for png).",
)
@click.option(
    "--tiles",
    default="none",
    show_default=True,
    help="HTML base map: 'osm', an XYZ URL template {z}/{x}/{y}, or 'none' (offline).",
    callback=lambda _ctx, _param, value: _tiles(value),
)
@click.option("--width", type=int, default=1200, show_default=True, help="PNG width in pixels.")
@click.option("--height", type=int, default=900, show_default=True, help="PNG height in pixels.")
@click.option(
    "--ghost",
    default=None,
    help="Which reference splits of the race file to race against (default: first).",
)
@click.option(
    "--image",
    default=None,
    help="Markdown: the PNG to link (default: the post's name with .png, written too).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Runner name, once per track in order (default: the track file's name).",
)
@click.option(
    "--timezone",
    "zone",
    default=None,
    help="Clock times in this time zone (America/Denver, Europe/Paris); default: the race "
    "file's, else UTC.",
    callback=lambda _ctx, _param, value: _zone(value),
)
@click.option(
    "--units",
    type=click.Choice(["km", "mi"]),
    default=None,
    help="Distances in km and metres, or in miles and feet; default: the race file's units, "
    "else km.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Analyse a track that does not look like a run of this course (mostly away from "
    "it), or of this race file's start, all the same.",
)
def analyze_cmd(
    course_file: Path,
    track_files: tuple[Path, ...],
    race_file: Path | None,
    fmt: str | None,
    output: Path | None,
    tiles: str,
    width: int,
    height: int,
    ghost: str | None,
    image: str | None,
    names: tuple[str, ...],
    zone: ZoneInfo | None,
    units: str | None,
    force: bool,
) -> None:
    """Where runners went wrong on COURSE_FILE, from their recordings TRACK_FILES.

    One track: that runner's report. Several: the runners compared.
    """
    if output is not None:
        _check_output(output, fmt, (course_file, *track_files, *([race_file] if race_file else [])))
    fmt = fmt or SUFFIX_FORMATS.get(output.suffix.lower() if output else "", "text")
    if ghost is not None and race_file is None:
        raise click.UsageError("--ghost races against a race file's reference splits: add --race")
    if names and len(names) != len(track_files):
        raise click.UsageError(
            f"--name given {len(names)} times for {len(track_files)} "
            "tracks: give one name per track, in the same order"
        )
    if fmt == "png" and output is None:
        raise click.UsageError("--format png writes a file: add -o map.png")
    race = load_race(race_file) if race_file is not None else None
    names_of = [r.name for r in race.reference_splits] if race is not None else []
    if ghost is not None and ghost not in names_of:
        raise click.UsageError(f"--ghost {ghost!r}: the race file's reference splits are "
                               f"{', '.join(map(repr, names_of)) or 'none'}")  # fmt: skip
    analyses = _analyses(course_file, track_files, race, str(race_file or ""), not force, units)
    jitcache.mark_warm("analyze")  # (the CLI says so while it is not: a minute, once)
    if names:
        analyses = [(n, a) for n, (_, a) in zip(names, analyses, strict=True)]
    infos = [ReportInfo.build(a, n, race, ghost, zone) for n, a in analyses]
    if fmt == "json":
        docs = [analysis_json(a, info) for (_, a), info in zip(analyses, infos, strict=True)]
        if len(docs) > 1:  # a list, each named: the single-track document is unchanged
            docs = [dict(d, runner=n) for d, (n, _) in zip(docs, analyses, strict=True)]
        _write(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n", output)
        return
    if fmt == "text":
        _text(analyses, infos, output)
    elif fmt == "html":
        tile_spec = Tiles.parse(tiles)
        if len(analyses) == 1:
            _write(render_html(analyses[0][1], infos[0], tile_spec), output)
        else:
            _write(render_compare_html(_runners(analyses, infos), infos[0], tile_spec), output)
    elif fmt == "png":
        _png(analyses, infos, output, (width, height))
    else:
        _markdown(analyses, infos, output, image, (width, height))


def _zone(value: str | None) -> ZoneInfo | None:
    """--timezone as given, checked before the analysis runs."""
    if value is None:
        return None
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        said = f"{value[:40]!r} is not a time zone: give a name such as America/Denver"
        raise click.BadParameter(said, param_hint="--timezone") from None


def _tiles(value: str) -> str:
    """--tiles as given, checked before the analysis runs."""
    try:
        Tiles.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tiles") from None
    return value


def _check_output(output: Path, fmt: str | None, inputs: tuple[Path, ...]) -> None:
    """-o names a file that can be written and is none of the inputs (a recording written
    over by its report), in a format its suffix says or --format gives."""
    suffix = output.suffix.lower()
    written = [output]
    if (fmt or SUFFIX_FORMATS.get(suffix)) == "markdown":
        written.append(output.with_suffix(".png"))  # the map beside the post
    for out in written:
        if any(out.resolve() == i.resolve() for i in inputs):
            raise InputError("is one of the files read: the report would be written over it; "
                             "give another -o", out)  # fmt: skip
    if output.is_dir():
        raise InputError("is a folder: give a file name, e.g. -o report.html", output)
    if fmt is None and suffix not in SUFFIX_FORMATS and suffix not in TEXT_SUFFIXES:
        raise InputError(f"the suffix {output.suffix} says no format: name it .txt, .json, "
                         ".html, .md or .png, or give --format", output)  # fmt: skip
    if not output.parent.is_dir():
        raise InputError(f"no folder {output.parent}: create it, or give another -o", output)


def _runners(analyses: list[tuple[str, Analysis]], infos: list[ReportInfo]) -> list[Runner]:
    return build_runners(analyses, infos[0])


def _text(
    analyses: list[tuple[str, Analysis]], infos: list[ReportInfo], output: Path | None
) -> None:
    try:
        file = None if output is None else output.open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report ({exc.strerror})", output) from None
    try:  # a pipe or a file: as wide as a report needs (80 columns cut its cells short)
        terminal = file is None and sys.stdout.isatty()
        console = Console(file=file, width=None if terminal else 100)
        if len(analyses) == 1:
            print_analysis(analyses[0][1], infos[0], console)
        else:
            a = analyses[0][1]
            print_comparison(_runners(analyses, infos), infos[0].title, a.course.length_m, console)
    finally:
        if file is not None:
            file.close()


def _png(
    analyses: list[tuple[str, Analysis]],
    infos: list[ReportInfo],
    output: Path | None,
    size_px: tuple[int, int],
) -> None:
    from coursewatch.reports.png import render_compare_png, render_png  # matplotlib: slow

    width, height = size_px
    try:
        if len(analyses) == 1:
            data = render_png(analyses[0][1], infos[0], width, height)
        else:
            data = render_compare_png(_runners(analyses, infos), infos[0], width, height)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--width/--height") from None
    assert output is not None
    _write_bytes(data, output)


def _markdown(
    analyses: list[tuple[str, Analysis]],
    infos: list[ReportInfo],
    output: Path | None,
    image: str | None,
    size_px: tuple[int, int],
) -> None:
    """The post, and the PNG it links to beside it (unless --image names another picture;
    to standard output, no PNG is written, so none is linked unless --image names one)."""
    link = image
    if link is None and output is not None:
        link = output.with_suffix(".png").name
        _png(analyses, infos, output.with_suffix(".png"), size_px)
    if len(analyses) == 1:
        _write(render_markdown(analyses[0][1], infos[0], link), output)
    else:
        _write(render_compare_markdown(_runners(analyses, infos), infos[0], link), output)


def _write(body: str, output: Path | None) -> None:
    if output is None:
        click.echo(body, nl=False)
        return
    _write_bytes(body.encode("utf-8"), output)


def _write_bytes(data: bytes, output: Path) -> None:
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write the report ({exc.strerror or exc})", output) from None
    click.echo(f"wrote {output}", err=True)
