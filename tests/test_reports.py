"""Reports on generated races: what each format says, and that it says only what was measured."""

from __future__ import annotations

import dataclasses
import html
import io
import re

import numpy as np
import pytest
import yaml
from PIL import Image
from rich.console import Console

from coursewatch.analysis import Analysis, analyze
from coursewatch.course import Course
from coursewatch.race import ReferenceSplit, ReferenceSplits
from coursewatch.reports.compare import (
    build_runners,
    cell_text,
    places,
    print_comparison,
    split_grid,
)
from coursewatch.reports.html import Tiles, render_compare_html, render_html
from coursewatch.reports.markdown import render_compare_markdown, render_markdown
from coursewatch.reports.png import render_compare_png, render_png
from coursewatch.reports.splits import compute_splits
from coursewatch.reports.summary import ReportInfo, headline
from coursewatch.reports.text import print_analysis
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.track import Track
from coursewatch.units import Units

GHOST = ReferenceSplits(
    "Course record",
    (ReferenceSplit("Aid 1", 1500.0), ReferenceSplit("Aid 2", 3600.0)),
)


def _analysis(course: Course, name: str, **kw: float) -> Analysis:
    run = simulate_run(course, interval_s=2.0, **kw)  # type: ignore[arg-type]
    return analyze(course, Track(name, run.time_s, run.lat, run.lon, None, None))


@pytest.fixture(scope="module")
def course() -> Course:
    return trail_course(20_000.0, seed=7, n_stations=3)


@pytest.fixture(scope="module")
def lost(course: Course) -> Analysis:
    """A runner who takes a wrong turn at km 8 and runs 800 m out and back."""
    return _analysis(course, "lost", seed=3, wrong_turn_at_m=8_000.0, wrong_turn_angle_deg=70.0)


@pytest.fixture(scope="module")
def info(lost: Analysis) -> ReportInfo:
    return ReportInfo("Trail <du test> & co", "Ann", GHOST)


def test_headline_counts_the_excursion_and_its_cost(lost: Analysis) -> None:
    assert len(lost.excursions) == 1
    text = headline(lost)
    assert re.fullmatch(r"1 excursion, \d+\.\d km extra, \d+ min lost", text), text
    assert f"{lost.extra_distance_m / 1000:.1f} km extra" in text


def test_splits_have_every_station_pass_with_legs_that_add_up(lost: Analysis) -> None:
    sp = compute_splits(lost, GHOST)
    assert [r.label for r in sp.rows] == ["Aid 1", "Aid 2", "Aid 3", "Finish"]
    assert not sp.checkpoints and sp.note is None
    assert sum(r.leg_s for r in sp.rows) == pytest.approx(sp.rows[-1].elapsed_s)
    assert sp.rows[-1].elapsed_s == pytest.approx(lost.elapsed_s)
    # the runner's pace is 2.5 m/s: 400 s/km on a leg without the detour
    assert sp.rows[0].pace_s_per_km == pytest.approx(400.0, rel=0.02)
    assert sp.rows[1].pace_s_per_km is not None and sp.rows[1].pace_s_per_km > 450.0


def test_ghost_gap_is_runner_minus_reference(lost: Analysis) -> None:
    rows = {r.label: r for r in compute_splits(lost, GHOST).rows}
    assert rows["Aid 1"].gap_s == pytest.approx(rows["Aid 1"].elapsed_s - 1500.0)
    assert rows["Aid 3"].gap_s is None


def test_a_course_without_stations_is_split_every_10_km(lost: Analysis) -> None:
    # the analysis places the checkpoints; the report only shows them
    bare = analyze(dataclasses.replace(lost.course, stations=()), lost.track)
    sp = compute_splits(bare)
    assert [r.label for r in sp.rows] == ["km 10", "Finish"]
    assert sp.checkpoints and sp.note is not None and "every 10 km" in sp.note


def test_a_race_run_in_miles_is_reported_in_miles(lost: Analysis, info: ReportInfo) -> None:
    """Western States' race file says ``units: mi``; its runners' reports were all in km."""
    mi = dataclasses.replace(lost, units=Units("mi"))
    assert re.fullmatch(r"1 excursion, [\d.]+ mi extra, \d+ min lost", headline(mi)), headline(mi)
    con = Console(record=True, width=140, file=io.StringIO())
    print_analysis(mi, info, con)
    text = con.export_text()
    md = render_markdown(mi, info, None)
    page = render_html(mi, info, None)
    for out in (text, md, page):
        assert "Off course at mile 5.0" in out and "Rejoined at mile 5.0" in out
        assert re.search(r"went up to (\d+ ft|[\d.]+ mi) from it", out)
        pace = r"<th>Pace /mi</th>.*<td>\d+'\d\d\"</td>" if out is page else r"\d+'\d\d\"/mi"
        assert re.search(pace, html.unescape(out), re.S)  # the splits' pace
        assert "/km" not in out and not re.search(r"\bkm [\d.]", out)
    assert "12.4 mi (20.0 km)" in text and "12.4 mi (20.0 km)" in md  # the course, both
    # the charts: miles along, feet up
    assert '<text class="unit" x="788.0" y="246.0" text-anchor="end">mi</text>' in page
    assert ">ft</text>" in page and ">m</text>" not in page
    assert '"units":"mi"' in page  # the map's scale in miles
    cut = dataclasses.replace(mi, course=dataclasses.replace(mi.course, stations=()))
    bare = analyze(cut.course, mi.track, units=Units("mi"))
    sp = compute_splits(bare)
    assert [r.label for r in sp.rows] == ["mile 10", "Finish"]
    assert sp.note is not None and "every 10 miles" in sp.note
    assert "10 mile mark" in render_html(bare, info, None)


def test_a_missed_cut_off_is_said_in_every_format(lost: Analysis, info: ReportInfo) -> None:
    """Ouray 2024: Crystal Lake reached 23 min after its cut-off; race HQ was told live, and
    the runner's report after the race said nothing of cut-offs at all."""
    from coursewatch.reports.json import analysis_json
    from coursewatch.reports.splits import Cutoff
    from coursewatch.reports.summary import cutoff_line, cutoff_text

    rows = {r.label: r for r in compute_splits(lost).rows}
    aid1, aid2 = rows["Aid 1"], rows["Aid 2"]
    cutoffs = (Cutoff("Aid 1", aid1.course_m, aid1.clock_ts + 600.0),
               Cutoff("Aid 2", aid2.course_m, aid2.clock_ts - 23 * 60.0))  # fmt: skip
    timed = dataclasses.replace(info, cutoffs=cutoffs)
    sp = timed.splits(lost)
    assert [r.label for r in sp.missed] == ["Aid 2"] and sp.missed[0].late_s == 23 * 60.0
    con = Console(record=True, width=100, file=io.StringIO())
    print_analysis(lost, timed, con)
    text = con.export_text()
    said = "Missed a cut-off: Aid 2, reached 23 min after it ("
    assert said in text and "cut-off" in text.split("Splits")[-1]
    assert text.index(headline(lost)) < text.index(said)  # under the headline, as elsewhere
    assert cutoff_line(sp, timed, brief=True) == "Missed a cut-off: Aid 2 (+23 min)"  # (PNG)
    assert re.search(r"Aid 2 .* \(\+23 min\)", text), text
    assert said in render_markdown(lost, timed) and "| Cut-off |" in render_markdown(lost, timed)
    page = render_html(lost, timed, None)
    assert said in page and "<th>Cut-off</th>" in page
    doc = analysis_json(lost, timed)
    late = {r["station"]: r["after_cutoff_s"] for r in doc["splits"]}
    assert late == {"Aid 1": -600.0, "Aid 2": 1380.0, "Aid 3": None, "Finish": None}
    # the ghost too, as the other formats show it
    assert doc["ghost"] == "Course record" and doc["time_zone"] is None
    gaps = {r["station"]: (r["ghost_elapsed_s"], r["gap_s"]) for r in doc["splits"]}
    assert gaps["Aid 1"] == (1500.0, round(aid1.elapsed_s - 1500.0, 1)), gaps
    assert gaps["Aid 3"] == (None, None)
    # a finish placed short of the course's end in the race file is the finish's (a
    # Western States runner 34 min over the limit got no line); a station cut past is not
    # "reached after" its cut-off (its time is the rejoin's: Dark Sky's Lebo Vista)
    fin = rows["Finish"]
    short = (Cutoff("Finish", fin.course_m - 66.0, fin.clock_ts - 34 * 60.0),)
    assert "Finish, reached 34 min after it" in (cutoff_line(compute_splits(lost, None, short),
                                                              info) or "")  # fmt: skip
    cut = dataclasses.replace(aid2, skipped=True, cutoff_ts=aid2.clock_ts - 600.0)
    assert cut.late_s is None and cutoff_text(cut, info).endswith(" (skipped)")
    # none missed: no line; none given: no column
    assert "Missed" not in render_markdown(lost, dataclasses.replace(info, cutoffs=cutoffs[:1]))
    assert "Cut-off" not in render_markdown(lost, info)


def test_fixes_shorter_than_the_course_read_as_no_evidence_of_a_cut(
    lost: Analysis, info: ReportInfo
) -> None:
    """It read "(less than the course's line and the fixes' straight lines differ by: no
    evidence of a cut)" (Ouray's pings, in every format)."""
    from coursewatch.reports.summary import excursion_sentences

    (e,) = lost.excursions
    short = dataclasses.replace(e, extra_distance_m=-930.0)
    # fixes a few seconds apart: shorter, and nothing said of their spacing (Eiger's watch
    # read "too far apart to tell a cut")
    said = " ".join(excursion_sentences(lost, short, info))
    assert "Cost: 930 m shorter than the course, " in said, said
    pings = dataclasses.replace(lost, track=dataclasses.replace(
        lost.track, time_s=lost.track.time_s[0] + 300.0 * np.arange(len(lost.track))))  # fmt: skip
    want = ("Cost: 930 m shorter than the course by the fixes (their straight lines skip the "
            "course's bends: too far apart to tell a cut), ")  # fmt: skip
    assert want in " ".join(excursion_sentences(pings, short, info))


def test_terminal_report_tells_each_excursion_and_the_ghost(
    lost: Analysis, info: ReportInfo
) -> None:
    con = Console(record=True, width=120, file=io.StringIO())
    print_analysis(lost, info, con)
    out = con.export_text()
    assert headline(lost) in out
    assert "Off course at km 8.0" in out
    assert "The runner was flagged at" in out and "race HQ was alerted at" in out
    assert "Rejoined at km 8.0" in out
    assert "ghost: Course record" in out
    for station in ("Aid 1", "Aid 2", "Aid 3", "Finish"):
        assert station in out


def test_markdown_front_matter_parses_as_yaml(lost: Analysis, info: ReportInfo) -> None:
    md = render_markdown(lost, info, image="post.png")
    m = re.match(r"---\n(.*?)\n---\n", md, re.S)
    assert m is not None
    fm = yaml.safe_load(m.group(1))
    assert fm["layout"] == "post"
    assert fm["title"] == "Race report: Trail <du test> & co"
    assert fm["date"].year == lost.track.start.year
    assert fm["categories"] == ["running", "race-report"]
    # the body is read as Markdown, which passes HTML through (Jekyll): text from outside
    # (the course's name, the runner's) is shown, never run, nor a link
    assert "![Map and profile of Trail &lt;du test&gt; &amp; co](post.png)" in md
    evil = ReportInfo("<script>x()</script> {{ site.x }}",
                      '[me](javascript:x) <img src=x> *x*{: onmouseover="y"}', GHOST)  # fmt: skip
    body = render_markdown(lost, evil).split("---\n", 2)[2]
    assert "<script" not in body and "<img" not in body and "[me](" not in body, body
    assert "{{" not in body and "{:" not in body and "*x*" not in body, body  # kramdown, Liquid
    assert "| Station | At | Arrival |" in md and "| Aid 2 |" in md


@pytest.mark.parametrize("size", [(640, 480), (1200, 630)])
def test_png_has_the_size_asked(lost: Analysis, info: ReportInfo, size: tuple[int, int]) -> None:
    png = render_png(lost, info, *size)
    assert Image.open(io.BytesIO(png)).size == size


def test_a_long_title_fits_the_png(lost: Analysis) -> None:
    """A race named at length ran off the image ("— swammie_shuff"): it is made smaller, then
    cut with an ellipsis, and nothing is drawn in the image's right margin."""
    import numpy as np

    long = ReportInfo("Swammie Shuffle 220 (Outer Banks, North Carolina, USA) " * 3, "Ann", GHOST)
    img = np.asarray(Image.open(io.BytesIO(render_png(lost, long, 640, 480))).convert("L"))
    top = img[: int(0.1 * img.shape[0])]  # the title, headline and finish lines
    assert top[:, -int(0.015 * img.shape[1]) :].min() > 200  # (white: nothing there)
    assert top[:, : int(0.5 * img.shape[1])].min() < 100  # (and the title is drawn)


def test_html_is_self_contained_and_escaped(lost: Analysis, info: ReportInfo) -> None:
    page = render_html(lost, info, Tiles.parse("none"))
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"url\((?!data:|#)", page)  # Leaflet's images are inlined
    assert "Trail &lt;du test&gt; &amp; co" in page and "<du test>" not in page
    assert '"tiles":null' in page
    assert 'class="chart elevation"' in page and 'class="chart progress"' in page
    assert page.count('class="band"') == 2  # the excursion shaded on both profiles
    with_tiles = render_html(lost, info, Tiles.parse("osm"))
    assert "tile.openstreetmap.org" in with_tiles


@pytest.fixture(scope="module")
def field(course: Course, lost: Analysis) -> list[tuple[str, Analysis]]:
    clean = _analysis(course, "clean", seed=4)
    dnf = _analysis(course, "dnf", seed=5, stop_at_m=12_000.0)
    return [("Dnf", dnf), ("Lost", lost), ("Clean", clean)]


def test_comparison_orders_by_finish_then_progress(field: list[tuple[str, Analysis]]) -> None:
    runners = build_runners(field)
    assert [r.name for r in runners] == ["Clean", "Lost", "Dnf"]
    assert runners[2].status.startswith("reached km 1")
    where = places(runners)
    assert len(where) == 1 and [r.name for r, _ in where[0].who] == ["Lost"]
    grid = split_grid(runners)
    assert [label for label, _ in grid.checkpoints] == ["Aid 1", "Aid 2", "Aid 3", "Finish"]
    assert (3, 2) not in grid.cells  # the DNF never reached the finish
    assert grid.cells[(3, 0)][1] == 0.0  # gap to the fastest at the finish
    assert grid.cells[(3, 1)][1] > 300.0  # the detour cost minutes


def test_comparison_renders_in_every_format(field: list[tuple[str, Analysis]]) -> None:
    runners = build_runners(field)
    info = ReportInfo("Test trail", "")
    con = Console(record=True, width=140, file=io.StringIO())
    print_comparison(runners, info.title, runners[0].analysis.course.length_m, con)
    out = con.export_text()
    assert "Who left the course where" in out and "Splits side by side" in out
    assert out.index("Clean") < out.index("Dnf")
    md = render_compare_markdown(runners, info, "field.png")
    assert yaml.safe_load(md.split("---\n")[1])["layout"] == "post"
    assert "| Station | At | Clean | Lost | Dnf |" in md
    page = render_compare_html(runners, info, None)
    assert page.count('"name":') >= 3
    png = render_compare_png(runners, info, 800, 600)
    assert Image.open(io.BytesIO(png)).size == (800, 600)
    # a race run in miles: the standings, places and splits too
    miles = [(n, dataclasses.replace(a, units=Units("mi"))) for n, a in field]
    runners = build_runners(miles)
    assert runners[2].status.startswith("reached mile ")
    con = Console(record=True, width=140, file=io.StringIO())
    print_comparison(runners, info.title, runners[0].analysis.course.length_m, con)
    for out in (con.export_text(), render_compare_markdown(runners, info, None)):
        assert "12.4 mi (20.0 km)" in out and "mile 5.0" in out and " mi out, +0." in out
        assert not re.search(r"\bkm [\d.]", out), out
    page = render_compare_html(runners, info, None)
    assert "mile 5.0" in page and ">mi</text>" in page


def test_a_track_begun_mid_race_says_so_and_a_doubtful_finish_too(
    course: Course, info: ReportInfo
) -> None:
    """No race start, a tracker started at km 8: no "Finished in" from its first fix, and its
    first split's leg from there (it read 10 km in 13 min, 1'16"/km); a finish the track goes
    on 150 km after (a late start on a lap course) is doubtful."""
    from coursewatch.reports.summary import finish_line

    run = simulate_run(course, interval_s=2.0, seed=3)
    late = run.time_s >= run.time_s[0] + 8_000.0 / 2.5
    a = analyze(course, Track("late", run.time_s[late], run.lat[late], run.lon[late], None, None))
    assert a.starts_at_m == pytest.approx(8_000.0, abs=300.0)
    first = compute_splits(a).rows[0]
    assert first.course_m == pytest.approx(10_000.0) and first.leg_m == pytest.approx(
        2_000.0, abs=300.0
    )
    assert first.pace_s_per_km == pytest.approx(400.0, rel=0.2)  # the run's 2.5 m/s
    assert "| Since first fix |" in render_markdown(a, info)  # not a race time
    said = finish_line(a, info)
    assert said.startswith("Reached the finish at") and "after the first fix" in said
    assert "--race" in said
    doubtful = finish_line(dataclasses.replace(a, after_finish_m=151_200.0), info)
    assert "is doubtful: the track goes on 151.2 km after it" in doubtful


def test_a_track_begun_just_past_a_station_runs_its_next_leg_from_its_first_fix(
    course: Course, info: ReportInfo
) -> None:
    """A tracker switched on 300 m past an aid station (no race start): the station is passed
    at its first fix, and the next leg is from where the runner was then, not from the
    station (it read 5 km where 4.7 km were run: 6'08"/km for 6'40"/km); the profile's time
    axis is since the first fix too."""
    from coursewatch.reports.profile import build_profiles

    run = simulate_run(course, interval_s=2.0, seed=3)
    late = run.time_s >= run.time_s[0] + 10_300.0 / 2.5
    a = analyze(course, Track("late", run.time_s[late], run.lat[late], run.lon[late], None, None))
    first, second = compute_splits(a).rows[:2]
    assert first.course_m == pytest.approx(10_000.0) and first.pace_s_per_km is None
    assert second.leg_m == pytest.approx(4_700.0, abs=100.0)
    assert second.pace_s_per_km == pytest.approx(400.0, rel=0.05)  # the run's 2.5 m/s
    assert build_profiles(a, compute_splits(a)).time_heading == "since first fix"


def test_a_track_begun_mid_race_is_not_ranked_by_its_time_from_its_first_fix(
    course: Course,
) -> None:
    """Compared with a whole recording, a track begun at km 8 with no race start finished
    "first" (its time counted from its first fix): it has no race time, so it goes after
    the timed finishers, and its splits stand apart from the gaps."""
    run = simulate_run(course, interval_s=2.0, seed=3)
    late = run.time_s >= run.time_s[0] + 8_000.0 / 2.5
    whole = analyze(course, Track("whole", run.time_s, run.lat, run.lon, None, None))
    begun = analyze(course, Track("late", run.time_s[late], run.lat[late], run.lon[late],
                                  None, None))  # fmt: skip
    runners = build_runners([("late", begun), ("whole", whole)])
    assert [r.name for r in runners] == ["whole", "late"]
    assert runners[1].status.startswith("finished (begun at km 8.")
    grid = split_grid(runners)
    texts = [cell_text(grid, i, 1) for i in range(len(grid.checkpoints))]
    assert texts[-1].endswith("*") and "(+" not in texts[-1] and grid.note
    assert "first fix" in grid.note


def test_brief_moments_fold_under_the_confirmed_excursions(
    lost: Analysis, info: ReportInfo
) -> None:
    """UTMB 2021: 4 confirmed excursions under 13 cards of moments off the line that race HQ
    was never told about, all alike (4,000 px of them on a phone before the splits)."""
    from coursewatch.reports.html import excursions_html

    (e,) = lost.excursions
    brief = dataclasses.replace(e, alerted=None)
    both = dataclasses.replace(lost, excursions=(e, brief))
    html = excursions_html(both, info)
    head, _, folded = html.partition('<details class="brief">')
    assert 'data-index="0"' in head and 'data-index="1"' not in head
    assert folded.startswith("<summary>1 brief moment off the line") and 'data-index="1"' in folded
    con = Console(record=True, width=100, file=io.StringIO())
    print_analysis(both, info, con)
    text = con.export_text()
    assert text.count("╭─") == 1 and "1 brief moment off the line" in text  # one line, no panel
    # the blog post and the pictures too: 17 alike under a headline of 4 (UTMB 2021)
    post = render_markdown(both, info)
    assert post.count("\n### ") == 1 and "1 brief moment off the line" in post
    assert "\n- 1\\. Off course" in post  # a bullet, not a list nested in it ("- 1. ...")
    from coursewatch.reports.profile import build_profiles
    from coursewatch.reports.svg import progress_svg

    p = build_profiles(both, compute_splits(both))
    assert [b.confirmed for b in p.bands] == [True, False]
    assert progress_svg(p, None).count('fill-opacity="0.35"') == 1
    # each list numbered of its own: the confirmed excursions 1, 2... under a headline of
    # their count, and the brief moments 1, 2... (Dark Sky's 5 read 4, 10, 16, 17 and 18)
    first = dataclasses.replace(lost, excursions=(brief, e))
    con = Console(record=True, width=100, file=io.StringIO())
    print_analysis(first, info, con)
    text = con.export_text()
    assert "╭─ 1. Off course at km 8.0" in text and "\n  1. Off course at km 8.0: up to" in text
    assert "\n### 1. Off course" in render_markdown(first, info)
    assert '<button type="button">1. Off course' in excursions_html(first, info)
    assert 'value="2"' not in excursions_html(first, info)
    svg = progress_svg(build_profiles(first, compute_splits(first)), None)
    assert "<title>Brief moment 1: km 8.0 (not counted)</title>" in svg
    assert "<title>Excursion 1: km 8.0</title>" in svg
    # a short band is drawn wider; its words say where it left, as the list (Dark Sky's
    # "Brief moment 4: mile 54.9" beside "4. Off course at mile 55.1")
    brief_at = dataclasses.replace(e.left, course_m=8_060.0)
    short = dataclasses.replace(e, alerted=None, left=brief_at, rejoined=dataclasses.replace(
        e.rejoined, course_m=8_062.0) if e.rejoined else None)  # fmt: skip
    one = dataclasses.replace(lost, excursions=(short,))
    (band,) = build_profiles(one, compute_splits(one)).bands
    assert band.start_m < 8_050.0  # widened to be seen: "km 8.0"
    svg = progress_svg(build_profiles(one, compute_splits(one)), None)
    assert "<title>Brief moment 1: km 8.1 (not counted)</title>" in svg


def test_the_header_is_on_the_clock_of_the_report(lost: Analysis, info: ReportInfo) -> None:
    """With a race file its clock times had no zone ("Fri 13:47:48") under a header in UTC
    ("2021-08-27 00:00Z"): the header is on the race's clock too, and says which."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    paris = dataclasses.replace(info, tz=ZoneInfo("Europe/Paris"))
    assert paris.date_time(datetime(2021, 8, 27, 0, 0, tzinfo=UTC)) == "2021-08-27 02:00 CEST"
    assert info.date_time(datetime(2021, 8, 27, 0, 0, tzinfo=UTC)) == "2021-08-27 00:00Z"
    assert " CEST to " in render_markdown(lost, paris)
    # the date of a race begun in the evening west of Greenwich is its own, not UTC's next
    # day (Dark Sky: "2024-04-12" for a start at 22:30 EDT on the 11th)
    start = lost.track.start
    west = dataclasses.replace(info, tz=ZoneInfo("America/New_York"))
    local = start.astimezone(ZoneInfo("America/New_York"))
    if local.date() == start.date():  # (the test run's start, from the simulation)
        west = dataclasses.replace(info, tz=ZoneInfo("Pacific/Kiritimati"))
        local = start.astimezone(ZoneInfo("Pacific/Kiritimati"))
    assert local.date() != start.astimezone(UTC).date()
    post = render_markdown(lost, west)
    front = yaml.safe_load(post.split("---\n")[1])
    assert front["date"].date() == local.date()
    assert f", {local:%Y-%m-%d}: a course of" in post
    assert f"Ann · {local:%Y-%m-%d}</p>" in render_html(lost, west, None)


def test_a_clock_time_without_seconds_is_rounded_as_the_race_times_are(info: ReportInfo) -> None:
    """Checruit read "13:43" beside a race time of "11:44:00": the clock was cut, not rounded."""
    from datetime import UTC, datetime

    assert info.clock(datetime(2021, 8, 27, 13, 43, 40, tzinfo=UTC), seconds=False) == "13:44Z"
    assert info.clock(datetime(2021, 8, 27, 13, 43, 20, tzinfo=UTC), seconds=False) == "13:43Z"


def test_the_json_report_numbers_each_visit_as_the_race_file_does() -> None:
    """An out-and-back whose race file lists its aid station twice (``pass: 1``, ``pass: 2``):
    the JSON's passes and splits said ``pass`` 1 for both, so a tool reading it could not
    tell the way out from the way back."""
    import datetime as dt

    import numpy as np
    from test_course import raw_from_xy

    from coursewatch.course import build_course
    from coursewatch.race import Race, RaceStation
    from coursewatch.race_course import apply_race
    from coursewatch.reports.json import analysis_json

    x = np.concatenate([np.arange(0, 5001, 20.0), np.arange(4980, -1, -20.0)])
    line = build_course(raw_from_xy(x, np.zeros_like(x)))
    start = dt.datetime(2026, 6, 1, 6, 0, tzinfo=dt.UTC)
    race = Race(name="oab", course_path=line.source, start=start,  # type: ignore[arg-type]
                stations=(RaceStation("Aid", distance_m=2000.0), RaceStation("Turn", 5000.0),
                          RaceStation("Aid", distance_m=8000.0, pass_number=2)))  # fmt: skip
    course = apply_race(line, race)
    run = simulate_run(course, start_ts=start.timestamp() + 5, interval_s=5.0, seed=3)
    a = analyze(course, Track("r", run.time_s, run.lat, run.lon, None, None),
                start_ts=start.timestamp())  # fmt: skip
    got = analysis_json(a)
    assert [(p["station"], p["pass"]) for p in got["passes"]][:3] == [
        ("Aid", 1), ("Turn", 1), ("Aid", 2)]  # fmt: skip
    assert [(p["station"], p["pass"]) for p in got["splits"]][:3] == [
        ("Aid", 1), ("Turn", 1), ("Aid", 2)]  # fmt: skip


def test_a_track_past_midnight_names_the_days() -> None:
    """An 18 h track from 22:00 read "22:44Z", then "00:44Z" (the weekday only past 20 h)."""
    from coursewatch.formats import RawPoints
    from coursewatch.sim.simulate import straight_course
    from coursewatch.track import build_track

    course = straight_course(10_000.0)
    start = 1_780_005_600.0  # 22:00 UTC
    run = simulate_run(course, start_ts=start, interval_s=60.0, pace_mps=1.0)
    raw = RawPoints.from_lists("r", list(run.lat), list(run.lon), None, list(run.time_s))
    a = analyze(course, build_track(raw))
    info = ReportInfo.build(a, "r")
    assert info.clock(start + 600.0) == "Thu 22:10:00Z"
    assert info.clock(start + 7200.0) == "Fri 00:00:00Z"


def test_the_reports_sparse_fixes_are_the_engines_not_dense_ones() -> None:
    """The reports may not import the engine: its threshold is written again, and kept equal."""
    from coursewatch.engine.config import EngineConfig
    from coursewatch.reports.summary import SPARSE_S

    assert EngineConfig().dense_s == SPARSE_S
