"""The terminal report (rich): headline, each excursion told in full, the splits table."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from coursewatch.analysis import Analysis
from coursewatch.reports.splits import Splits
from coursewatch.reports.summary import (
    ReportInfo,
    brief_heading,
    brief_line,
    cutoff_line,
    cutoff_text,
    excursion_sentences,
    excursion_title,
    finish_line,
    headline,
    numbers,
    signed_duration,
)
from coursewatch.units import fmt_duration


def print_analysis(
    a: Analysis, info: ReportInfo | None = None, console: Console | None = None
) -> None:
    """Print the whole report of one runner."""
    con = console or Console()
    info = info or ReportInfo.build(a, a.track.name or "runner")
    splits = info.splits(a)
    con.print(header(a, info, splits))
    brief: list[str] = []
    for n, e in zip(numbers(e.alerted is not None for e in a.excursions), a.excursions,
                    strict=True):  # fmt: skip
        if e.alerted is None:  # one line each, under the confirmed ones (13 panels of them
            # buried UTMB 2021's 4)
            brief.append(f"  {n}. {brief_line(e, info, a.units)}")
            continue
        colour = "yellow" if e.kind == "shortcut" else "red"
        body = "\n".join(excursion_sentences(a, e, info))
        con.print(
            Panel(
                body,
                title=f"[bold {colour}]{n}. {excursion_title(e, a.units)}[/]",
                title_align="left",
                expand=False,
            )
        )
    if brief:
        n = len(brief)
        con.print(Text(f"{brief_heading(n)}:", style="dim"))
        con.print(Text("\n".join(brief), style="dim"))
    table = splits_table(splits, info)
    # a file or a pipe: the table as wide as it needs (its station names cut in 9 columns
    # of 100: a cut-off and a ghost), a terminal: as wide as it is
    width = con.width
    if not con.is_terminal:
        con.width = max(width, con.measure(table, options=con.options.update_width(160)).maximum)
    con.print(table)
    con.width = width


def header(a: Analysis, info: ReportInfo, splits: Splits) -> RenderableType:
    tr = a.track
    lines = [
        Text.assemble((info.title, "bold"), f" — {info.runner}"),
        Text(
            f"Course {a.units.length(a.course.length_m)}; track: {len(tr):,} fixes, "
            f"{info.date_time(tr.start)} to {info.date_time(tr.end)}"
        ),
        Text(finish_line(a, info)),
        Text(headline(a), style="bold red" if a.confirmed else "bold green"),
        *(Text(f"note: {n}", style="yellow") for n in tr.notes),  # (a file cut short, say)
    ]
    missed = cutoff_line(splits, info)
    if missed:  # under the headline, as every format
        lines.insert(4, Text(missed, style="bold red"))
    return Group(*lines)


def splits_table(sp: Splits, info: ReportInfo) -> RenderableType:
    title = "Splits" if sp.ghost is None else f"Splits (ghost: {sp.ghost})"
    t = Table(title=title, title_justify="left", caption=sp.note, caption_justify="left")
    t.add_column("station")
    t.add_column("at", justify="right")
    t.add_column("arrival", justify="right")
    t.add_column(sp.time_heading, justify="right")
    t.add_column("leg", justify="right")
    t.add_column("pace", justify="right")
    if sp.cutoffs:
        t.add_column("cut-off", justify="right")
    if sp.ghost is not None:
        t.add_column("ghost", justify="right")
        t.add_column("gap", justify="right")
    for r in sp.rows:
        cells = [
            escape(r.label),
            sp.units.at(r.course_m),
            info.clock(r.clock_ts, seconds=False),
            fmt_duration(r.elapsed_s),
            fmt_duration(r.leg_s),
            r.pace_text(sp.units),
        ]
        if sp.cutoffs:
            said = cutoff_text(r, info)
            cells.append(f"[red]{said}[/]" if r.missed_cutoff else said)
        if sp.ghost is not None:
            gap = r.gap_s
            cells.append("-" if r.ghost_elapsed_s is None else fmt_duration(r.ghost_elapsed_s))
            cells.append("-" if gap is None else _gap_markup(gap))
        t.add_row(*cells)
    if not sp.rows:
        t.add_row("(no station reached)", *[""] * (len(t.columns) - 1))
    return t


def _gap_markup(gap_s: float) -> str:
    colour = "red" if gap_s > 0 else "green"
    return f"[{colour}]{signed_duration(gap_s)}[/]"
