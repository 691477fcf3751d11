"""The race report as a blog post: YAML front matter for Jekyll or Hugo, then Markdown.

The front matter (``layout``, ``title``, ``date``, ``categories``) is written by the YAML
library, so any title parses; the body is the headline, a short summary, each excursion, the
splits table and a link to the PNG made by ``--format png`` (or beside the post by the CLI).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import yaml

from coursewatch.analysis import Analysis
from coursewatch.reports.compare import Runner, cell_text, excursion_brief, places, split_grid
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
    lost_text,
    numbers,
    signed_duration,
)
from coursewatch.units import fmt_duration

CATEGORIES = ("running", "race-report")


def front_matter(
    title: str, a: Analysis, info: ReportInfo, categories: Sequence[str] = CATEGORIES
) -> str:
    """The post's YAML front matter, dated when the track began on the race's clock."""
    data = {
        "layout": "post",
        "title": title,
        "date": info.local(a.track.start).replace(microsecond=0),
        "categories": list(categories),
    }
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)
    return f"---\n{dumped}---"


def render_markdown(a: Analysis, info: ReportInfo, image: str | None = "map.png") -> str:
    """The whole post; ``image`` is the link to the PNG (None: no picture)."""
    splits = info.splits(a)
    tr = a.track
    missed = cutoff_line(splits, info)
    parts = [
        front_matter(f"Race report: {info.title}", a, info),
        f"**{_md(finish_line(a, info))}.** {_md(headline(a))}."
        + (f" **{_md(missed)}.**" if missed else ""),
        f"{_md(info.runner)} on {_md(info.title)}, {info.local(tr.start):%Y-%m-%d}: a course of "
        f"{a.units.length(a.course.length_m)}. The track has {len(tr):,} GPS fixes, "
        f"{info.date_time(tr.start)} to {info.date_time(tr.end)}.",
    ]
    if image:
        parts.append(f"![Map and profile of {_md(info.title)}]({image})")
    parts.append("## Excursions")
    if not a.excursions:
        parts.append("None: on the course all the way.")
    brief = []
    for n, e in zip(numbers(e.alerted is not None for e in a.excursions), a.excursions,
                    strict=True):  # fmt: skip
        if e.alerted is None:  # one line each, under the confirmed ones, as the text report
            brief.append(f"- {n}\\. {_md(brief_line(e, info, a.units))}")
            continue
        lines = "\n".join(f"- {_md(s)}" for s in excursion_sentences(a, e, info))
        parts.append(f"### {n}. {_md(excursion_title(e, a.units))}\n\n{lines}")
    if brief:
        n = len(brief)
        parts.append(f"{brief_heading(n)}:\n\n" + "\n".join(brief))
    parts.append("## Splits")
    parts.append(splits_markdown(splits, info))
    parts.append("*Made with coursewatch: every figure here was measured from the GPS track.*")
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    """Text from outside (a runner's name, a course's, a station's) as Markdown shows it:
    never markup (Jekyll passes HTML through) nor a link.

    >>> _md('<img src=x onerror=alert(1)> [x](javascript:y) & co')
    '&lt;img src=x onerror=alert(1)&gt; \\\\[x\\\\](javascript:y) &amp; co'
    >>> _md('*x*{: onmouseover="y"} {{ site }}')
    '\\\\*x\\\\*&#123;: onmouseover="y"&#125; &#123;&#123; site &#125;&#125;'
    """
    text = html.escape(text, quote=False).replace("{", "&#123;").replace("}", "&#125;")
    return re.sub(r"([\\[\]*_`])", r"\\\1", text)  # (kramdown's attributes, Liquid)


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def splits_markdown(sp: Splits, info: ReportInfo) -> str:
    head = ["Station", "At", "Arrival", sp.time_heading.capitalize(), "Leg", "Pace"]
    align = [":--", "--:", "--:", "--:", "--:", "--:"]
    if sp.cutoffs:
        head.append("Cut-off")
        align.append("--:")
    if sp.ghost:
        head += [f"Ghost ({_cell(sp.ghost)})", "Gap"]
        align += ["--:", "--:"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in sp.rows:
        cells = [
            _cell(r.label),
            sp.units.at(r.course_m),
            info.clock(r.clock_ts, seconds=False),
            fmt_duration(r.elapsed_s),
            fmt_duration(r.leg_s),
            r.pace_text(sp.units),
        ]
        if sp.cutoffs:
            said = cutoff_text(r, info)
            cells.append(f"**{said}**" if r.missed_cutoff else said)
        if sp.ghost:
            gap = r.gap_s
            cells.append("-" if r.ghost_elapsed_s is None else fmt_duration(r.ghost_elapsed_s))
            cells.append("-" if gap is None else signed_duration(gap))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) if sp.rows else "No station reached."
    return table + (f"\n\n*{_md(sp.note)}*" if sp.note else "")


def render_compare_markdown(runners: list[Runner], info: ReportInfo, image: str | None) -> str:
    """Several runners on one course as a post: standings, places, splits side by side."""
    a0 = runners[0].analysis
    u = a0.units
    parts = [
        front_matter(f"Race report: {info.title}, {len(runners)} runners", a0, info),
        f"{len(runners)} runners on {_md(info.title)}, a course of {u.length(a0.course.length_m)}.",
    ]
    if image:
        parts.append(f"![Map and progress of {_md(info.title)}]({image})")
    rows = ["| # | Runner | Result | Excursions | Extra | Cut | Lost |",
            "|--:|:--|:--|--:|--:|--:|--:|"]  # fmt: skip
    for i, r in enumerate(runners):
        a = r.analysis
        rows.append(
            f"| {i + 1} | {_cell(r.name)} | {r.status} | {len(a.confirmed)} | "
            f"{u.distance(a.extra_distance_m)} | {u.distance(a.cut_m)} | "
            f"{lost_text(a)} |"
        )
    parts += ["## Standings", "\n".join(rows), "## Who left the course where"]
    lines = [
        f"- **{u.at(p.course_m)}**: "
        + "; ".join(f"{_md(r.name)} ({_md(excursion_brief(e, u))})" for r, e in p.who)
        for p in places(runners)
    ]
    parts.append("\n".join(lines) or "Every runner stayed on the course.")
    grid = split_grid(runners)
    head = ["Station", "At", *(_cell(r.name) for r in runners)]
    table = ["| " + " | ".join(head) + " |", "|:--|" + "--:|" * (len(head) - 1)]
    for i, (label, s) in enumerate(grid.checkpoints):
        cells = [_cell(label), u.at(s), *(cell_text(grid, i, j) for j in range(len(runners)))]
        table.append("| " + " | ".join(cells) + " |")
    parts += ["## Splits side by side", "\n".join(table)]
    if grid.note:
        parts.append(f"*{_md(grid.note)}*")
    parts.append("*Made with coursewatch: every figure here was measured from the GPS tracks.*")
    return "\n\n".join(parts) + "\n"
