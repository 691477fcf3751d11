"""The HTML report in a real headless Chromium (Debian's): it draws its map with no network.

Playwright drives the system Chromium (``/usr/bin/chromium``, installed by scripts/setup.sh);
no browser is downloaded. The page is opened from a file with base tiles off, as a runner
would open it on a phone with no signal: every layer must be drawn and the console quiet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from coursewatch.analysis import analyze
from coursewatch.race import ReferenceSplit, ReferenceSplits
from coursewatch.reports.html import render_html
from coursewatch.reports.summary import ReportInfo
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.track import Track
from coursewatch.units import Units

LAYERS = ("cw-course", "cw-track", "cw-excursion", "cw-alarm", "cw-station", "cw-start", "cw-end")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = trail_course(20_000.0, seed=7, n_stations=3)
    run = simulate_run(course, interval_s=2.0, seed=3, wrong_turn_at_m=8_000.0)
    a = analyze(course, Track("lost", run.time_s, run.lat, run.lon, None, None))
    ghost = ReferenceSplits("Record", (ReferenceSplit("Aid 2", 3600.0),))
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(a, ReportInfo("Test trail", "Ann", ghost)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, chromium: dict[str, Any]) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),  # the profile is --user-data-dir: Playwright passes it
            **chromium,
            viewport={"width": 390, "height": 844},  # a phone
            offline=True,
        )
        yield context
        context.close()


def test_html_report_draws_every_layer_with_a_quiet_console(
    report: Path, browser: object, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(report.as_uri())
    page.wait_for_selector("path.cw-excursion", state="attached", timeout=15_000)
    counts = page.evaluate(
        "(names) => names.map(n => document.querySelectorAll('#map path.' + n).length)",
        list(LAYERS),
    )
    assert dict(zip(LAYERS, counts, strict=True)) == {
        "cw-course": 1,
        "cw-track": 1,
        "cw-excursion": 1,
        "cw-alarm": 1,
        "cw-station": 4,
        "cw-start": 1,
        "cw-end": 1,
    }
    assert page.locator(".leaflet-control-layers").count() == 1
    assert page.locator("svg.chart.elevation rect.band").count() == 1
    # the page fits a phone: nothing wider than the screen but the scrollable boxes
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.locator("li.excursion button").click()  # zooms the map onto the excursion
    page.wait_for_selector(".leaflet-popup", timeout=5_000)
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.size[0] == 390
    errors = [m for m in messages if m.startswith(("error", "pageerror", "warning"))]
    assert errors == []
    page.close()


def test_the_splits_fit_a_phone(browser: object, tmp_path: Path) -> None:
    """Pace and leg were off the screen of a phone, behind a sideways scroll (Dark Sky's
    splits in miles): the distance and the pace now carry their unit in the heading, long
    station names wrap, and a day wraps over its time."""
    course = trail_course(20_000.0, seed=7, n_stations=3)
    names = [dataclasses.replace(s, name=f"{k + 1:02d} Young Woman's Creek")
             for k, s in enumerate(course.stations)]  # fmt: skip
    course = dataclasses.replace(course, stations=tuple(names))
    run = simulate_run(course, interval_s=2.0, seed=3)
    track = Track("lost", run.time_s + 2.5 * 86400.0, run.lat, run.lon, None, None)
    a = analyze(course, track, units=Units("mi"))
    info = ReportInfo("Test trail", "Ann", multi_day=True)
    path = tmp_path / "report.html"
    path.write_text(render_html(a, info), encoding="utf-8")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(path.as_uri())
    box = "document.querySelector('#splits .scroll')"
    assert page.evaluate(f"{box}.scrollWidth <= {box}.clientWidth")
    assert page.locator("#splits th").all_inner_texts()[1:2] == ["Mile"]
    page.close()
