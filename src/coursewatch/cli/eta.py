"""``coursewatch eta predict RACE_FILE SPLITS.csv`` and ``coursewatch eta risk ...``.

A contract other tools call, so its output is stable: ``predict`` prints, for every runner of
SPLITS.csv and every station after their last recorded one,
``bib,station,pass,predicted_elapsed_s,low_s,high_s`` (CSV, or JSON: a list of objects with
the same keys); the 10-90 % interval is ``low_s``-``high_s``. Refused rows and notes about the
files go to stderr, one line each; the other rows are still predicted (exit 0). Every row
refused, or a table that cannot be read: ``error:`` and exit 1.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from coursewatch.fieldrace import RaceField, history_from_paths, race_field
from coursewatch.formats.load import load_course
from coursewatch.race import load_race, parse_elapsed_s
from coursewatch.splits import SplitTable, read_splits

PREDICT_COLUMNS = ("bib", "station", "pass", "predicted_elapsed_s", "low_s", "high_s")
RISK_COLUMNS = ("bib", "station", "pass", "elapsed_s", "dropout_risk")


def register(main: click.Group) -> None:
    main.add_command(eta)


@click.group()
def eta() -> None:
    """ETA from the field's history: arrival times and dropout risk from split tables."""


_race_arg = click.argument("race_file", type=click.Path(dir_okay=False, path_type=Path))
_splits_arg = click.argument("splits", type=click.Path(dir_okay=False, path_type=Path))
_history_opt = click.option(
    "--history",
    "history",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An earlier edition's split table (repeat for several), beside the race file's.",
)
_no_history_opt = click.option(
    "--no-history",
    is_flag=True,
    help="Ignore the race file's history (the field and the runner only).",
)
_format_opt = click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
_now_opt = click.option(
    "--now",
    metavar="H:MM:SS",
    help="The race's elapsed time when SPLITS.csv was taken: no arrival is predicted before it "
    "(a runner silent since their last station is not due in the past).",
)


@eta.command("predict")
@_race_arg
@_splits_arg
@_history_opt
@_no_history_opt
@_format_opt
@_now_opt
def predict_cmd(
    race_file: Path, splits: Path, history: tuple[Path, ...], no_history: bool, fmt: str,
    now: str | None,
) -> None:  # fmt: skip
    """Predict every runner's elapsed time at every later station, with a 10-90 % interval.

    SPLITS.csv: a bib column and station columns (names or aliases of the race file's
    stations), elapsed H:MM:SS, blank = not reached yet.
    """
    now_s = _elapsed_option(now)
    rf, table = _load(race_file, splits, history, no_history)
    forecasts = rf.model.predict(table.elapsed_s) if table.bibs else []
    rows = []
    for bib, f in zip(table.bibs, forecasts, strict=True):
        for j in sorted(f.elapsed_s):
            mid, low, high = (max(v, now_s) for v in f.elapsed_s[j])
            st = rf.stations[j]
            rows.append((bib, st.name, st.pass_number, round(mid), round(low), round(high)))
    _write(rows, PREDICT_COLUMNS, fmt)
    _every_row_refused(splits, table)


def _elapsed_option(text: str | None) -> float:
    if text is None:
        return 0.0
    try:
        return parse_elapsed_s(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an elapsed time H:MM:SS", param_hint="--now"
        ) from None


@eta.command("risk")
@_race_arg
@_splits_arg
@_history_opt
@_no_history_opt
@_format_opt
def risk_cmd(
    race_file: Path, splits: Path, history: tuple[Path, ...], no_history: bool, fmt: str
) -> None:
    """The share of earlier runners like each runner (same station, nearest elapsed times)
    who did not finish: information for race HQ, not a verdict."""
    rf, table = _load(race_file, splits, history, no_history)
    forecasts = rf.model.predict(table.elapsed_s) if table.bibs else []
    rows = []
    for i, (bib, f) in enumerate(zip(table.bibs, forecasts, strict=True)):
        if f.station < 0 or f.dropout_risk != f.dropout_risk:  # nothing reached, or no history
            continue
        st = rf.stations[f.station]
        rows.append((bib, st.name, st.pass_number, round(float(table.elapsed_s[i, f.station])),
                     round(f.dropout_risk, 3)))  # fmt: skip
    if table.bibs and not rows:
        click.echo("note: no runner has a dropout risk: it is read from earlier editions' "
                   "results (history: in the race file, or --history), and from the stations "
                   "each runner reached", err=True)  # fmt: skip
    _write(rows, RISK_COLUMNS, fmt)
    _every_row_refused(splits, table)


def _every_row_refused(splits: Path, table: SplitTable) -> None:
    """Exit 1 when the table had rows and none could be read (each said above)."""
    if table.refused and not table.bibs:
        click.echo(f"error: {splits}: every row was refused ({len(table.refused)}, each said "
                   "above): nothing to predict", err=True)  # fmt: skip
        sys.exit(1)


def _load(
    race_file: Path, splits: Path, history: tuple[Path, ...], no_history: bool
) -> tuple[RaceField, SplitTable]:
    race = load_race(race_file)
    editions = [] if no_history else list(race.history)
    rf = race_field(race, load_course(race.course_path), editions + history_from_paths(history))
    for note in rf.notes:
        click.echo(f"note: {note}", err=True)
    table = read_splits(splits, rf.stations, bibs=True)
    for line in table.refused + table.notes:
        click.echo(f"refused: {line}" if line in table.refused else f"note: {line}", err=True)
    return rf, table


def _write(rows: Sequence[tuple[object, ...]], columns: tuple[str, ...], fmt: str) -> None:
    if fmt == "json":
        click.echo(
            json.dumps([dict(zip(columns, r, strict=True)) for r in rows], ensure_ascii=False)
        )
        return
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(columns)
    out.writerows(rows)
