"""``coursewatch analyze COURSE TRACK [--race RACEFILE] [--format text|json]``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from coursewatch.analysis import Analysis, analyze
from coursewatch.course import apply_race, load_course
from coursewatch.race import load_race
from coursewatch.reports.json import analysis_json
from coursewatch.reports.text import print_analysis
from coursewatch.track import load_track


def register(main: click.Group) -> None:
    main.add_command(analyze_cmd)


def run_analysis(
    course_path: Path, track_path: Path, race_path: Path | None
) -> Analysis:
    start_ts = None
    if race_path is not None:
        race = load_race(race_path)
        course = apply_race(load_course(course_path), race)
        start_ts = race.start_ts
    else:
        course = load_course(course_path)
    track = load_track(track_path)
    return analyze(course, track, start_ts=start_ts)


@click.command("analyze")
@click.argument("course_file", type=click.Path(path_type=Path))
@click.argument("track_file", type=click.Path(path_type=Path))
@click.option("--race", "race_file", type=click.Path(path_type=Path), default=None,
              help="Race file (YAML/TOML): start time, stations, cut-offs, reference splits.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
def analyze_cmd(course_file: Path, track_file: Path, race_file: Path | None, fmt: str) -> None:
    """Where a runner went wrong on COURSE_FILE, from the recording TRACK_FILE."""
    a = run_analysis(course_file, track_file, race_file)
    if fmt == "json":
        click.echo(json.dumps(analysis_json(a), indent=2))
    else:
        print_analysis(a)
