"""The race HQ dashboard and the public tracking page in a real headless Chromium (Debian's),
against a real `coursewatch serve` on loopback running a replayed race.

Playwright drives the system Chromium (``/usr/bin/chromium``, installed by scripts/setup.sh); no
browser is downloaded, and the flags keep it off the network. Screenshots go to the test's temp
folder (``COURSEWATCH_SHOTS`` names a folder to keep them).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from coursewatch.sim.feedserver import Account, FeedServer
from coursewatch.sim.field import SimRunner, simulate_field, write_race
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.simulate import simulate_run, trail_course

ADMIN = "dashboard-admin-token"
RACE_TZ = timezone(timedelta(hours=-7))  # the race's clock; the browser's is UTC
LOST = "99"  # the runner whose wrong turn the tests inject
QUIET = "98"  # a runner whose tracker went silent 40 minutes ago
SOS = "97"  # a runner with their own inReach, read from its MapShare feed
FEED_POLL_S = 2.0
# the title counts what is to act on: "(3) Race · coursewatch", no count when there is none
TITLE_COUNTS = "(n) => n ? document.title.startsWith(`(${n}) `) : !document.title.startsWith('(')"


@dataclass
class HQ:
    """A `coursewatch serve` subprocess on a folder's database, restartable on its port."""

    folder: Path
    port: int = dataclasses.field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    ingest_token: str = ""
    runners: list[SimRunner] = dataclasses.field(default_factory=list)
    lost_fixes: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)
    lost_all: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)
    feeds: FeedServer = dataclasses.field(default_factory=FeedServer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # tick_s 0: no clock-driven alerts, so the alerts a test sees come from its fixes
        self.proc = start_serve(
            self.folder, self.port, ADMIN, timeout_s=60, osmand_port="0", tick_s="0",
            mapshare_url=self.feeds.url, feed_poll_s=str(FEED_POLL_S),
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        r = httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def post_fixes(self, bib: str, fixes: list[tuple[float, float, float]]) -> list[int]:
        """Returns the ids of race HQ's incidents the fixes opened or updated."""
        return list(self.post(bib, fixes)["alerts"])

    def post(self, bib: str, fixes: list[tuple[float, float, float]]) -> Any:
        body = {"fixes": [{"bib": bib, "time": t, "lat": a, "lon": b} for t, a, b in fixes]}
        return self.call("POST", "/api/races/demo/fixes", json=body)


def _race_files(folder: Path, start_ts: float) -> tuple[Path, Any]:
    course = trail_course(12_000.0, seed=5, n_stations=3)
    race_file = write_race(folder, course, start_ts, name="Dashboard Trail")
    first = course.stations[0].name
    start = datetime.fromtimestamp(start_ts, RACE_TZ).isoformat()  # the browser's is UTC
    race_file.write_text(
        re.sub(r"(?m)^start: .*$", f"start: {start!r}", race_file.read_text())
        + f'reference_splits:\n  "Course record":\n    - {{station: {first!r}, elapsed: "0:20"}}\n',
        encoding="utf-8",
    )
    return race_file, course


@pytest.fixture(scope="module")
def hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HQ]:
    folder = tmp_path_factory.mktemp("hq")
    now = time.time()
    start = now - 5400.0
    race_file, course = _race_files(folder / "race", start)
    server = HQ(folder)
    server.feeds.start(free_port())  # the runners' own satellite trackers' MapShare feeds
    server.start()
    try:
        body = {
            "id": "demo",
            "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
            "course_file": {"text": (race_file.parent / "course.gpx").read_text()},
            "public": True,
        }
        server.ingest_token = server.call("POST", "/api/races", json=body)["ingest_token"]
        server.runners = simulate_field(course, n_runners=14, seed=4, start_ts=start)
        runners = [{"bib": r.bib, "name": r.name, "devices": [f"dev-{r.device_id}"]}
                   for r in server.runners]  # fmt: skip
        runners.append({"bib": LOST, "name": "Lou Lost", "devices": ["dev-secret-lost"]})
        runners.append({"bib": QUIET, "name": "Quinn Quiet", "devices": ["dev-quiet"]})
        server.call("POST", "/api/races/demo/runners", json={"runners": runners})
        for r in server.runners:  # the race so far, as the trackers sent it
            keep = r.run.time_s < now - 30.0
            fixes = list(zip(r.run.time_s[keep], r.run.lat[keep], r.run.lon[keep], strict=True))
            server.post_fixes(r.bib, [(float(t), float(a), float(b)) for t, a, b in fixes])
        lost = simulate_run(course, pace_mps=3.0, interval_s=10.0, seed=9,
                            wrong_turn_at_m=6_000.0, wrong_turn_angle_deg=75.0,
                            start_ts=start)  # fmt: skip
        turn_ts = start + 6_000.0 / 3.0
        fixes = [(float(t), float(a), float(b))
                 for t, a, b in zip(lost.time_s, lost.lat, lost.lon, strict=True)
                 if t < now - 30.0]  # fmt: skip
        before = [f for f in fixes if f[0] < turn_ts - 60.0]
        server.post_fixes(LOST, before)
        run = server.runners[0].run  # the race's first 50 minutes, then nothing
        quiet = run.time_s < now - 2_400.0
        head = zip(run.time_s[quiet], run.lat[quiet], run.lon[quiet], strict=True)
        server.post_fixes(QUIET, [(float(t), float(a), float(b)) for t, a, b in head])
        server.lost_fixes = fixes[len(before) :]
        server.lost_all = fixes
        yield server
    finally:
        server.stop()
        server.feeds.stop()


@pytest.fixture(scope="module")
def browser(chromium: dict[str, Any]) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(**chromium)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    keep = os.environ.get("COURSEWATCH_SHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Page:
    """A Playwright page on the dashboard that records its console and every JSON it loads."""

    def __init__(self, browser: Any, hq: HQ, admin: bool, phone: bool = False) -> None:
        size = {"width": 390, "height": 844} if phone else {"width": 1400, "height": 900}
        self.context = browser.new_context(viewport=size, timezone_id="UTC")
        self.context.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda r: r.abort())
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.bodies: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("response", self._keep)
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.hq = hq
        self.admin = admin

    def _keep(self, response: Any) -> None:
        if "json" in (response.headers.get("content-type") or ""):
            with contextlib.suppress(Exception):  # a response the page navigated away from
                self.bodies.append(response.text())

    def open(self, path: str = "/races/demo") -> Any:
        query = f"?token={ADMIN}" if self.admin else ""
        self.page.goto(self.hq.url + path + query)
        return self.page

    def errors(self) -> list[str]:
        return [m for m in self.console if m.startswith(("error", "pageerror"))]

    def close(self) -> None:
        self.context.close()


def _wait_live(page: Any) -> None:
    page.wait_for_selector('#conn[data-state="live"]', timeout=15_000)
    page.wait_for_selector("#board tbody tr", state="attached", timeout=15_000)


def test_the_map_shows_the_course_stations_ticks_and_every_runner(
    hq: HQ, browser: Any, shots: Path
) -> None:
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    page.wait_for_selector(".cw-runner .bib", timeout=10_000)
    clock = page.locator("#clock").inner_text()  # the race's clock, not the browser's
    assert re.fullmatch(r"\d\d:\d\d:\d\d UTC−07:00 · T\+1h3\d", clock)
    race_hour = datetime.now(RACE_TZ).hour
    assert int(clock[:2]) in (race_hour, (race_hour - 1) % 24)
    assert page.locator("path.cw-course").count() == 1
    stations = hq.call("GET", "/api/races/demo")["stations"]
    assert page.locator(".cw-station").count() == len(stations)
    ticks = page.locator(".cw-tick span").all_inner_texts()
    assert ticks[:3] == ["1", "2", "3"] and len(ticks) == 11  # km 1..11 of 12
    runners = hq.call("GET", "/api/races/demo/runners")["runners"]
    seen = [r for r in runners if r["last_fix"]]
    assert page.locator(".cw-runner .bib").count() == len(seen)
    # every runner above every station's square and km tick (a finisher was under the finish)
    z = page.evaluate("""() => {
      const zs = (s) => [...document.querySelectorAll(`.leaflet-marker-pane ${s}`)]
        .map((e) => +e.style.zIndex);
      return [Math.min(...zs(".cw-runner")), Math.max(...zs(".cw-station"), ...zs(".cw-tick"))];
    }""")
    assert z[0] > z[1], z
    for r in seen:  # coloured by status
        assert page.locator(f".cw-runner .bib.st-{r['status']}", has_text=r["bib"]).count() >= 1
    # the selected runner's trail
    page.locator(f'#board tr[data-bib="{LOST}"] td.place').click()
    page.wait_for_function(
        "document.querySelector('path.cw-trail')?.getAttribute('d')?.length > 40"
    )
    # km -> mi: the ticks follow
    page.locator("details.settings summary").click()
    page.locator('input[name="units"][value="mi"]').check()
    page.wait_for_function("document.querySelectorAll('.cw-tick span').length === 7")
    assert "mi" in page.locator(f'#board tr[data-bib="{LOST}"] td.progress').inner_text()
    # the pace is the recent moving one, and says so (a finisher's read as a wrong average)
    assert page.locator('#board th[data-sort="pace"]').inner_text().startswith("Moving pace")
    # how far off the course: feet up to 1,000 ft, then miles (metres in km)
    offs = "[61, 213, 500].map(CW.off)"
    assert page.evaluate(offs) == ["200 ft", "700 ft", "0.31 mi"]
    page.locator('input[name="units"][value="km"]').check()
    assert page.evaluate(offs) == ["61 m", "213 m", "500 m"]
    page.locator("details.settings summary").click()
    page.screenshot(path=str(shots / "dashboard-map.png"))
    assert p.errors() == []
    # a replay's clock (days from the wall's) catches up with a fix it has not reached ("last
    # fix 19:11, in 54 min" at 1200x); a live race's does not move for one
    moved = page.evaluate("""() => { const wall = Date.now() / 1000, out = [];
      for (const start of [wall - 100 * 86400, wall]) {
        CW.setNow(start); CW.setNow(start); CW.seen(start + 3600); out.push(CW.now() - start);
      } return out; }""")
    assert moved[0] == pytest.approx(3600, abs=5) and moved[1] < 5, moved
    # a table whose times span days names each day: "Sat 22:18" then "02:54" read as
    # Saturday's (Ouray's passes, read on Sunday); times of today alone stay short
    days = page.evaluate("""() => { const now = CW.now(), yesterday = now - 86400;
      return [CW.spansDays([yesterday, now]), CW.spansDays([now, now]), CW.hhmm(now, true).length,
              CW.hhmm(now).length, CW.hhmm(yesterday).length]; }""")
    assert days == [True, False, 9, 5, 9], days
    p.close()


def _places(runners: list[dict[str, Any]]) -> list[str]:
    ranked = [r for r in runners if r["fixes"] and r["status"] not in ("dnf", "not_started")]
    done = sorted((r for r in ranked if r["status"] == "finished"),
                  key=lambda r: r["last_fix"]["time_s"])  # fmt: skip
    going = sorted((r for r in ranked if r["status"] != "finished"),
                   key=lambda r: (-r["progress_m"], r["last_fix"]["time_s"]))  # fmt: skip
    return [r["bib"] for r in done + going]


def test_the_leaderboard_orders_sorts_and_searches(hq: HQ, browser: Any) -> None:
    p = Page(browser, hq, admin=False)
    page = p.open()
    _wait_live(page)
    runners = hq.call("GET", "/api/races/demo/runners")["runners"]
    expected = _places(runners)
    assert len(expected) >= 10
    statuses = {r["status"] for r in runners}
    assert {"finished", "running"} <= statuses
    page.wait_for_function(
        "(want) => [...document.querySelectorAll('#board tbody tr')].slice(0, want.length)"
        ".map(tr => tr.dataset.bib).join() === want.join()",
        arg=expected,
        timeout=5_000,
    )
    places = page.locator("#board tbody td.place").all_inner_texts()
    assert places[: len(expected)] == [str(i + 1) for i in range(len(expected))]
    progress = page.locator("#board tbody tr").first.locator("td.progress").inner_text()
    assert re.search(r"\d+\.\d\d km \d+%", progress)

    def bibs() -> list[str]:
        return list(
            page.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.dataset.bib)")
        )

    page.locator('th[data-sort="bib"]').click()
    all_bibs = sorted((r["bib"] for r in runners), key=int)
    assert bibs() == all_bibs
    page.locator('th[data-sort="bib"]').click()
    assert bibs() == all_bibs[::-1]
    page.locator('th[data-sort="progress"]').click()  # farthest first
    got = [float(r["progress_m"]) for b in bibs() for r in runners if r["bib"] == b]
    assert got == sorted(got, reverse=True)
    quiet = page.locator(f'#board tr[data-bib="{QUIET}"] td.status').inner_text()
    assert re.fullmatch(r"running · silent 4\d min", quiet), quiet
    page.locator("#search").fill(LOST)
    assert bibs() == [LOST]
    page.locator("#search").fill("lou l")  # by name, any case
    assert bibs() == [LOST]
    page.locator("#search").fill("LÓU")  # and any accent ("lopez" finds María López)
    assert bibs() == [LOST]
    page.locator("#search").fill("")
    assert len(bibs()) == len(runners)
    # the results so far, as a file: every runner's splits
    with page.expect_download() as got:
        page.locator("#splits").click()
    assert got.value.suggested_filename == "demo-splits.csv"
    rows = list(csv.reader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["bib", "name", "status"] and len(rows) == len(runners) + 1, rows[:3]
    assert rows[1][2] == "finished", rows[1]  # finishers first
    assert p.errors() == []
    p.close()


def test_an_injected_wrong_turn_is_in_the_alerts_panel_within_2_s_and_admin_acknowledges_it(
    hq: HQ, browser: Any, shots: Path
) -> None:
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    title_before = page.title()
    alert_ids: list[int] = []
    posted = 0.0
    flagged = False
    for fix in hq.lost_fixes:  # one fix at a time, as a tracker sends them
        posted = time.monotonic()
        out = hq.post(LOST, [fix])
        alert_ids = list(out["alerts"])
        if out["flags"] and not flagged:  # the runner is told first: a yellow marker, no alert
            flagged = True
            marker = page.locator(".cw-runner .bib.flagged", has_text=LOST)
            marker.wait_for(timeout=2_000)
            assert page.locator(f'li.alert[data-bib="{LOST}"]').count() == 0
            status = page.locator(f'#board tr[data-bib="{LOST}"] td.status')
            assert status.inner_text().startswith("flagged")
        if alert_ids:
            break
    assert flagged, "the runner was not flagged before race HQ was alerted"
    assert alert_ids, "the wrong turn raised no alert"
    item = page.locator(f'li.alert[data-alert-id="{alert_ids[0]}"]')
    item.wait_for(timeout=2_000)
    assert time.monotonic() - posted < 2.0
    assert item.get_attribute("data-kind") == "off_course"
    assert item.get_attribute("data-level") == "alert"
    order = page.eval_on_selector_all(
        "#alerts li.alert", "ls => ls.map(l => [+l.dataset.rank, -l.dataset.updated])"
    )  # what needs someone by priority, then the latest news (on the race's clock) first
    assert order == sorted(order)
    sentence = item.locator(".sentence").inner_text()
    assert sentence.startswith(f"Bib {LOST} ") and "off course" in sentence
    # the card follows the runner (the sentence is where they were when race HQ was told)
    item.locator(".where", has_text=re.compile(r"\(.*, \d+ m off the course\)")).wait_for(
        timeout=3_000
    )
    # the cues: a banner (and a beep: counted even when the browser keeps audio off)
    assert page.locator("#banner.alarm").is_visible()
    assert int(page.evaluate("document.body.dataset.beeps || 0")) >= 1
    # the title counts open incidents nobody acknowledged
    incidents = hq.call("GET", "/api/races/demo/incidents")["incidents"]
    open_count = len([i for i in incidents if i["open"] and not i["ack_by"]])
    page.wait_for_function(TITLE_COUNTS, arg=open_count)
    assert title_before != page.title()
    item.locator("button.show").click()
    page.wait_for_selector(".alert-popup", timeout=3_000)
    page.screenshot(path=str(shots / "dashboard.png"))
    item.locator("button.ack").click()
    page.wait_for_selector(f'li.alert.is-acked[data-alert-id="{alert_ids[0]}"]', timeout=3_000)
    assert "race HQ" in item.locator(".acked").inner_text()
    page.wait_for_function(TITLE_COUNTS, arg=open_count - 1)
    acked = hq.call("GET", f"/api/races/demo/incidents?bib={LOST}")["incidents"]
    assert [a["ack_by"] for a in acked if a["id"] == alert_ids[0]] == ["race HQ"]
    # the stream's token is in an HttpOnly cookie, never in an address a proxy logs
    streams = [u for u in p.requests if u.endswith("/events") or "/events?" in u]
    assert streams and not [u for u in p.requests if "/api/" in u and "token=" in u], p.requests
    kept = {c["name"]: c for c in p.context.cookies()}["coursewatch_stream"]
    assert kept["httpOnly"] and kept["sameSite"] == "Strict" and kept["value"] == ADMIN
    assert p.errors() == []
    p.close()


def test_public_mode_is_read_only_and_shows_no_device_id_or_token(
    hq: HQ, browser: Any, shots: Path
) -> None:
    p = Page(browser, hq, admin=False, phone=True)
    page = p.open()
    _wait_live(page)
    # race HQ's incidents and the runners' flags are not the public's (no tab, no panel)
    assert page.locator(".tabs button[data-view='alerts']").is_hidden()
    assert page.locator("#mode").inner_text() == "public view"
    assert page.locator("button.ack").count() == 0
    assert not page.title().startswith("(")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits a phone
    page.locator(".tabs button[data-view='board']").click()
    # what a crew opens it for, in view: the next station's ETA (it was past the screen's edge)
    eta = page.locator(f'#board tr[data-bib="{LOST}"] td.eta').bounding_box()
    assert eta is not None and eta["x"] + eta["width"] <= 390, eta
    head = page.locator("#board thead tr")
    top = head.bounding_box()
    page.eval_on_selector(".board-panel .table-wrap", "w => { w.scrollTop = 200; }")
    assert head.bounding_box() == top  # the headings stay in view as the list scrolls
    page.eval_on_selector(".board-panel .table-wrap", "w => { w.scrollTop = 0; }")
    page.screenshot(path=str(shots / "public-phone-board.png"))
    wide = Page(browser, hq, admin=False)
    _wait_live(wide.open())  # on a desktop, the board and the map take the whole width
    assert wide.page.locator("#board-panel").bounding_box()["width"] > 1300
    wide.page.screenshot(path=str(shots / "public-desktop.png"))
    wide.close()
    page.locator(f'#board tr[data-bib="{LOST}"] td.bib a').click()  # the runner page
    page.wait_for_selector("svg.chart polyline.runner", timeout=10_000)
    page.wait_for_selector("#etas tbody tr", timeout=5_000)
    page.screenshot(path=str(shots / "public-phone-runner.png"), full_page=True)
    secrets = [ADMIN, hq.ingest_token, "dev-"]
    html = page.content()
    assert not [s for s in secrets if s in html]
    assert len(p.bodies) >= 6
    leaks = [s for s in secrets for body in p.bodies if s in body]
    assert leaks == []
    assert p.errors() == []
    p.close()


# the distance ticks left of the chart whose line the units label shares (any number of digits)
UNITS_LABEL_OVERLAPS = """() => {
  const texts = [...document.querySelectorAll("svg.chart.progress text")];
  const u = texts.find((t) => t.textContent === "km").getBBox();
  return texts.filter((t) => t.getAttribute("text-anchor") === "end").map((t) => t.getBBox())
    .filter((b) => b.y < u.y + u.height && u.y < b.y + b.height).length;
}"""


def test_the_runner_page_has_progress_ghost_passes_etas_and_excursions(
    hq: HQ, browser: Any, shots: Path
) -> None:
    p = Page(browser, hq, admin=True)
    page = p.open(f"/races/demo/runners/{LOST}")
    page.wait_for_selector("svg.chart polyline.runner", timeout=15_000)
    assert page.locator("svg.chart polyline.ghost").count() == 1  # the reference splits
    assert "Course record" in page.locator("#legend").inner_text()
    assert page.evaluate(UNITS_LABEL_OVERLAPS) == 0  # (it sat on the top distance tick)
    assert page.locator("#passes tbody tr").count() >= 1
    detail = hq.call("GET", f"/api/races/demo/runners/{LOST}/progress")
    etas = detail["etas"]
    assert etas and etas[-1]["label"] == "Finish"
    assert page.locator("#etas tbody tr").count() == len(etas)
    assert page.locator("#etas tbody tr").last.get_attribute("data-station") == "Finish"
    assert detail["excursions"], "the wrong turn is an excursion"
    assert page.locator("#excursions tbody tr").count() == len(detail["excursions"])
    assert page.locator("path.cw-excursion").count() >= 1
    # a moment race HQ was never told of is not counted, as analyze says
    lost = page.locator("#excursions tbody tr td:nth-child(5)").all_inner_texts()
    for e, cell in zip(detail["excursions"], lost, strict=True):
        brief = e["alerted"] is None and e["time_lost_s"] is not None
        assert ("(not counted)" in cell) == brief, (e, cell)
    # what a crew opens the page for comes first: the incidents, under the facts (they were
    # at the foot of a page 4,600 px tall on a phone)
    first = page.evaluate("[...document.querySelectorAll('main h2')].map(h => h.textContent)")
    assert first[0] == "Flags and incidents", first
    page.screenshot(path=str(shots / "runner.png"), full_page=True)
    assert p.errors() == []
    p.close()


def test_the_page_reconnects_by_itself_after_a_server_restart(hq: HQ, browser: Any) -> None:
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    hq.stop()
    page.wait_for_selector('#conn[data-state="reconnecting"]', timeout=10_000)
    hq.start()
    bib = next(r.bib for r in hq.runners if r.fate == "ok")
    hq.call("PATCH", f"/api/races/demo/runners/{bib}", json={"dnf": True})  # maybe unseen live
    page.wait_for_selector('#conn[data-state="live"]', timeout=15_000)
    # (the board's snapshot after the reconnect: a restarted server's first seconds on a busy
    # machine took over 5 s once, in a clean clone)
    page.wait_for_selector(f'#board tr[data-bib="{bib}"][data-status="dnf"]', timeout=15_000)
    # and the stream is live again: a change now arrives without a reload
    hq.call("PATCH", f"/api/races/demo/runners/{bib}", json={"dnf": False})
    page.wait_for_selector(f'#board tr[data-bib="{bib}"]:not([data-status="dnf"])', timeout=5_000)
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")
    assert navigations == 1  # never reloaded
    assert [e for e in p.errors() if "net::ERR_" not in e] == []  # the killed stream
    p.close()


def test_the_pages_and_leaflet_are_served_by_the_app(hq: HQ) -> None:
    for path in ("/races/demo", "/races/demo/runners/1", "/static/dashboard.js",
                 "/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css",
                 "/static/leaflet/images/marker-icon.png"):  # fmt: skip
        assert httpx.get(hq.url + path).status_code == 200, path
    for path in ("/static/leaflet/../leaflet.js.map", "/static/nope.js", "/static/leaflet/x.js"):
        assert httpx.get(hq.url + path).status_code == 404, path
    r = httpx.get(f"{hq.url}/api/races/demo/dashboard")
    assert r.headers["x-content-type-options"] == "nosniff"  # every answer is what it says
    body = r.json()
    assert body["admin"] is False and "ingest_token" not in json.dumps(body)
    assert body["reference"][0]["name"] == "Course record"
    assert np.isfinite(body["now_ts"])


MARKUP = '<img src=x onerror="window.__xss=1">'


def test_markup_stays_text_and_a_card_says_when_its_news_came(hq: HQ, browser: Any) -> None:
    """A course from a third party names a station with markup, and a link sets the base
    tiles to markup: shown as text, never run (it would read race HQ's token)."""
    course = (hq.folder / "race" / "course.gpx").read_text()
    race = (f"name: Markup\ncourse: course.gpx\nstart: '2026-06-01T06:00:00+00:00'\n"
            f"units: mi\nstations:\n  - {{name: {json.dumps(MARKUP)}, km: 4.0}}\n")  # fmt: skip
    body = {"id": "markup", "race_file": {"text": race, "suffix": ".yaml"},
            "course_file": {"text": course}, "public": True}  # fmt: skip
    hq.call("POST", "/api/races", json=body)
    p = Page(browser, hq, admin=False)
    page = p.page
    page.goto(f"{hq.url}/races/markup?tiles=" + MARKUP.replace("=", "%3D").replace(" ", "%20"))
    page.wait_for_selector(".cw-station", timeout=10_000)
    page.locator(".cw-station").first.hover()
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    # (a race run in miles shows miles to a reader who has not chosen)
    assert page.locator(".leaflet-tooltip").inner_text() == f"{MARKUP} · 2.5 mi"
    assert page.evaluate("localStorage.getItem('coursewatch.tiles')") is None
    assert page.evaluate("window.__xss") is None
    assert page.locator(".leaflet-container img[src='x']").count() == 0
    p.close()
    # an incident whose news came minutes after it began: the card says when (it showed
    # "05:25 CUTOFF RISK ... reached Pierrefiche ...", news of 18:39)
    hq.call("POST", "/api/races/markup/runners", json={"bib": "5", "name": "Mo"})
    course = trail_course(12_000.0, seed=5, n_stations=3)
    run = simulate_run(course, pace_mps=3.0, interval_s=60.0, seed=2, wrong_turn_at_m=3_000.0,
                       wrong_turn_angle_deg=80.0, start_ts=1_780_293_600.0)  # fmt: skip
    inc: dict[str, Any] = {}
    for t, la, lo in zip(run.time_s, run.lat, run.lon, strict=True):
        fix = {"bib": "5", "time": float(t), "lat": float(la), "lon": float(lo)}
        hq.call("POST", "/api/races/markup/fixes", json={"fixes": [fix]})
        found = hq.call("GET", "/api/races/markup/incidents")["incidents"]
        inc = found[0] if found else {}
        if inc and inc["open"] and inc["updated_s"] - inc["opened_s"] >= 120.0:
            break
    assert inc and inc["open"], inc
    p = Page(browser, hq, admin=True)
    page = p.open("/races/markup")
    card = page.locator(f'li.alert[data-alert-id="{inc["id"]}"]')
    card.wait_for(timeout=10_000)
    opened, updated = (datetime.fromtimestamp(inc[k], UTC).strftime("%H:%M")
                       for k in ("opened_s", "updated_s"))  # fmt: skip
    assert card.locator(".meta time").inner_text() == opened
    assert card.locator(".meta .updated").inner_text() == f"updated {updated}"
    p.close()


def test_race_hqs_dashboard_in_a_frame_is_the_publics(hq: HQ, browser: Any) -> None:
    """A page that frames race HQ's dashboard (to steer an admin's click onto "Acknowledge",
    or a link that signs race HQ out) gets the public's page: the token is neither used nor
    changed there."""
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    assert page.locator("#mode").inner_text() != "public view"
    page.evaluate(
        "(u) => { const f = document.createElement('iframe'); f.src = u;"
        " f.style.width = '1000px'; f.style.height = '700px'; document.body.append(f); }",
        f"{hq.url}/races/demo?token=forged",
    )
    frame = page.frame_locator("iframe")
    frame.locator('#conn[data-state="live"]').wait_for(timeout=15_000)
    assert frame.locator("#mode").inner_text() == "public view"
    assert frame.locator("button.ack").count() == 0
    assert page.evaluate("localStorage.getItem('coursewatch.token')") == ADMIN
    # outside a frame, a link sent by someone else changes the token only when asked
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    for link in ("?token=", "?token=forged"):
        page.goto(f"{hq.url}/races/demo{link}")
        _wait_live(page)
        assert page.evaluate("localStorage.getItem('coursewatch.token')") == ADMIN, link
    assert len(asked) == 2 and "Sign this browser out" in asked[0], asked
    assert "token=" not in page.url
    # the frame asked for the public's stream and left race HQ's cookie alone; a browser
    # signed out (however: here its token gone) forgets it
    assert any(u.endswith("/events?public=1") for u in p.requests), p.requests
    assert {c["name"]: c["value"] for c in p.context.cookies()}["coursewatch_stream"] == ADMIN
    page.evaluate("localStorage.removeItem('coursewatch.token')")
    page.reload()
    _wait_live(page)
    assert "coursewatch_stream" not in {c["name"] for c in p.context.cookies()}
    p.close()


def test_an_sos_from_a_mapshare_feed_is_first_on_the_dashboard_within_one_poll(
    hq: HQ, browser: Any, shots: Path
) -> None:
    """A runner's inReach declares an SOS; race HQ reads it from the runner's MapShare feed and
    shows it above every other incident, within one poll interval."""
    run = hq.runners[1].run
    now = time.time()
    seen = [i for i in range(len(run.time_s)) if run.time_s[i] < now - 120][-3:]
    events = [{"imei": "300434555", "messageCode": 0, "timeStamp": int(run.time_s[i]) * 1000,
               "point": {"latitude": float(run.lat[i]), "longitude": float(run.lon[i])}}
              for i in seen]  # fmt: skip
    account = Account(events)
    hq.feeds.mapshare["sos-runner"] = account
    hq.call("POST", "/api/races/demo/runners", json={"bib": SOS, "name": "Sam Sos"})
    hq.call(
        "PUT", f"/api/races/demo/runners/{SOS}/feed", json={"kind": "mapshare", "id": "sos-runner"}
    )
    deadline = time.monotonic() + 4 * FEED_POLL_S
    while not hq.call("GET", "/api/races/demo/feeds")["feeds"][0]["last_ok_ts"]:
        assert time.monotonic() < deadline, "the feed was never polled"
        time.sleep(0.1)
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    assert page.locator("#alerts li.alert.is-open").count() >= 1  # other incidents are open
    last = seen[-1]
    point = {"latitude": float(run.lat[last]), "longitude": float(run.lon[last])}
    sos = {**events[-1], "messageCode": 4, "timeStamp": int(now) * 1000, "point": point}
    account.events.append(sos)  # the runner presses SOS
    pressed = time.monotonic()
    first = page.locator("#alerts li.alert").first
    page.wait_for_selector(f'#alerts li.alert[data-kind="sos"][data-bib="{SOS}"]',
                           timeout=int((FEED_POLL_S + 3) * 1000))  # fmt: skip
    took = time.monotonic() - pressed
    assert first.get_attribute("data-kind") == "sos" and first.get_attribute("data-bib") == SOS
    assert took < FEED_POLL_S + 1.0, f"{took:.1f} s"
    assert "SOS" in first.locator(".sentence").inner_text()
    # the runner's row and marker say so too (not only the incident)
    page.wait_for_selector(f'#board tr[data-bib="{SOS}"][data-status="sos"]', timeout=5_000)
    assert page.locator(f'#board tr[data-bib="{SOS}"] .st-sos').inner_text() == "SOS"
    # where to send help: the runner's newest fix, in coordinates
    coords = first.locator(".where .coords").inner_text()
    assert coords == f"{point['latitude']:.5f}, {point['longitude']:.5f}", coords
    page.screenshot(path=str(shots / "dashboard-sos.png"))
    # acknowledged (someone is on it, by the name they gave in settings), it stays in sight
    page.click("details.settings summary")
    page.fill("#operator", "Ana (radio)")
    page.press("#operator", "Tab")  # (a change event: kept in this browser)
    page.click("details.settings summary")
    first.locator("button.ack").click()
    page.wait_for_selector('#alerts li.alert.is-acked[data-kind="sos"]', timeout=5_000)
    acked = page.locator('#alerts li.alert[data-kind="sos"] .acked').inner_text()
    assert acked.startswith("✓ Ana (radio)"), acked
    page.check("#open-only")
    assert page.locator("#alerts li.alert").first.get_attribute("data-kind") == "sos"
    page.uncheck("#open-only")
    assert p.errors() == []
    p.close()


def test_with_the_races_history_the_runner_page_shows_intervals_and_the_dropout_risk(
    hq: HQ, browser: Any, shots: Path
) -> None:
    from coursewatch.sim.splits import simulate_splits, splits_csv

    race = hq.call("GET", "/api/races/demo")
    names = [s["label"] for s in race["stations"]]
    effort = np.array([s["distance_m"] for s in race["stations"]]) * 1.2
    editions = [
        {"edition": "2024", "text": splits_csv(names, simulate_splits(effort, 400, seed=3))}
    ]
    hq.call("PUT", "/api/races/demo/history", json={"editions": editions})
    try:
        runners = hq.call("GET", "/api/races/demo/runners")["runners"]
        on_the_way = [r for r in runners if r["status"] == "running" and r["next_station"]]
        bib = next(r["bib"] for r in on_the_way if r["last_station"])
        p = Page(browser, hq, admin=True)
        page = p.open(f"/races/demo/runners/{bib}")
        page.wait_for_selector("#etas td.eta .range", timeout=15_000)
        detail = hq.call("GET", f"/api/races/demo/runners/{bib}/progress")
        ranged = [e for e in detail["etas"] if e["low_ts"] is not None]
        assert ranged and all(e["low_ts"] <= e["eta_ts"] <= e["high_ts"] for e in ranged)
        assert page.locator("#etas td.eta .range").count() == len(ranged)
        assert "did not finish" in page.locator("#dropout").inner_text()
        # what the interval is, and the header's ETAs with theirs (a crew reads those first)
        assert "8 in 10 runners like them" in page.locator("#eta-range").inner_text()
        facts = page.locator("#facts").inner_text()
        assert re.search(r"Finish ETA\s*\S*\s*\d\d:\d\d\S* \(.*\d\d:\d\d.*–.*\d\d:\d\d", facts), (
            facts
        )
        page.screenshot(path=str(shots / "runner-history.png"), full_page=True)
        assert p.errors() == []
        p.close()
    finally:
        hq.call("PUT", "/api/races/demo/history", json={"editions": []})


def test_race_hq_records_a_finish_and_a_dnf_from_the_runner_page(
    hq: HQ, browser: Any, shots: Path
) -> None:
    """A runner's tracker died short of the line: race HQ types the finish off the timing
    mat on their page (the race's clock), takes it back, puts them out and back in; the
    public sees none of these buttons."""
    bib = QUIET
    p = Page(browser, hq, admin=False, phone=True)
    page = p.open(f"/races/demo/runners/{bib}")
    page.wait_for_selector("#facts div", timeout=15_000)
    assert page.locator("#hq").is_hidden()
    p.close()
    p = Page(browser, hq, admin=True, phone=True)
    page = p.open(f"/races/demo/runners/{bib}")
    page.wait_for_selector("#hq:not([hidden])", timeout=15_000)
    # silent 40 minutes: the ETAs say they assume the runner kept going (a crew drove out)
    page.wait_for_selector("#eta-basis:not([hidden])", timeout=15_000)
    assert "these ETAs assume they kept going" in page.locator("#eta-basis").inner_text()
    crossed = datetime.fromtimestamp(time.time() - 600.0, RACE_TZ).replace(microsecond=0)
    page.fill("#finish-at", crossed.strftime("%H:%M:%S"))
    asked: list[str] = []  # last placed far from the finish: asked first (a bib typed wrong?)
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.click("#finish-record")
    page.wait_for_selector("#finish-undo:not([hidden])", timeout=10_000)
    assert "was last placed at" in asked[0] and "Record their finish at" in asked[0], asked
    assert page.locator("#dnf").is_hidden()  # a finish recorded: taken back before a DNF
    shown = hq.call("GET", f"/api/races/demo/runners/{bib}")
    assert (shown["status"], shown["finish_ts"]) == ("finished", crossed.timestamp())
    assert f"{crossed:%H:%M} in " in page.locator("#facts").inner_text()
    page.screenshot(path=str(shots / "runner-finish.png"), full_page=True)
    page.click("#finish-undo")
    page.wait_for_selector("#finish-undo[hidden]", state="attached", timeout=10_000)
    assert hq.call("GET", f"/api/races/demo/runners/{bib}")["finish_ts"] is None
    page.once("dialog", lambda d: d.accept())
    page.click("#dnf")
    page.wait_for_function("document.querySelector('#dnf').textContent.startsWith('Back')")
    assert hq.call("GET", f"/api/races/demo/runners/{bib}")["status"] == "dnf"
    assert page.locator("#finish-record").is_hidden()  # out: no finish to record
    page.click("#dnf")  # back in the race: no question asked
    page.wait_for_function("document.querySelector('#dnf').textContent.startsWith('Put out')")
    assert hq.call("GET", f"/api/races/demo/runners/{bib}")["status"] != "dnf"
    assert p.errors() == []
    p.close()


def test_a_public_view_that_holds_positions_back_still_shows_the_race(
    hq: HQ, browser: Any, shots: Path
) -> None:
    """A race that delays and rounds what the public sees (for the runners' safety) left both
    public pages empty: their incidents (not public) failed the whole page."""
    hq.call("PATCH", "/api/races/demo", json={"public_view": {"delay_min": 30, "round_m": 500}})
    try:
        p = Page(browser, hq, admin=False, phone=True)
        page = p.open()
        _wait_live(page)
        assert page.locator("#board tbody tr").count() >= 10
        assert page.locator("#banner").is_hidden()
        runners = hq.call("GET", "/api/races/demo/runners")["runners"]
        bib = next(r["bib"] for r in runners if r["status"] == "running" and r["last_station"])
        page = p.open(f"/races/demo/runners/{bib}")
        page.wait_for_selector("#passes tbody tr td:nth-child(3)", timeout=15_000)
        assert "Held back by the race's public view" in page.locator("#etas").inner_text()
        assert page.locator("#banner").is_hidden()
        page.screenshot(path=str(shots / "public-delayed-runner.png"), full_page=True)
        assert p.errors() == []
        p.close()
    finally:
        hq.call("PATCH", "/api/races/demo", json={"public_view": {"delay_min": 0, "round_m": 0}})


def test_a_runner_race_hq_deletes_leaves_open_boards_and_their_page(hq: HQ, browser: Any) -> None:
    """A runner registered by mistake, deleted (`runner delete`): the boards open on the race
    drop their row and marker at once, and their own page says they are gone."""
    run = hq.runners[0].run
    hq.call("POST", "/api/races/demo/runners", json={"bib": "88", "name": "Mis Take"})
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    # registered, the race 1 h 30 min old, never heard from: the board says so
    row = page.locator('#board tbody tr[data-bib="88"] td.status')
    said = row.inner_text()
    assert said.startswith("no fix 1 h ") and said.endswith("min after the start"), said
    hq.post("88", [(float(run.time_s[i]), float(run.lat[i]), float(run.lon[i])) for i in (0, 1)])
    page.wait_for_function(
        "!document.querySelector('#board tr[data-bib=\"88\"] td.status').textContent"
        ".startsWith('no fix')"
    )
    other = p.context.new_page()
    other.goto(f"{hq.url}/races/demo/runners/88?token={ADMIN}")
    other.wait_for_selector('#conn[data-state="live"]', timeout=15_000)
    gone = hq.call("DELETE", "/api/races/demo/runners/88")["removed"]
    assert (gone["runners"], gone["fixes"]) == (1, 2), gone
    page.wait_for_selector('#board tbody tr[data-bib="88"]', state="detached", timeout=10_000)
    other.wait_for_function(
        "document.querySelector('#banner').textContent.includes('no runner with bib')"
    )
    assert p.errors() == [], p.errors()
    p.close()


def test_runners_off_at_one_place_are_one_spot_on_race_hqs_board(
    hq: HQ, browser: Any, shots: Path
) -> None:
    """A second runner misses the turn the lost runner missed: race HQ sees the place (a
    marking gone?) above the incidents and on the map, and each card says it is one of them;
    the public view does not."""
    hq.post_fixes(LOST, hq.lost_fixes)  # (sent already when the wrong-turn test ran: kept once)
    hq.call("POST", "/api/races/demo/runners", json={"bib": "77", "name": "Sam Same"})
    same = [(t + 30.0, lat + 0.0001, lon) for t, lat, lon in hq.lost_all]  # 11 m over, 30 s on
    hq.post_fixes("77", same)
    spots = hq.call("GET", "/api/races/demo/spots")["spots"]
    assert [s["bibs"] for s in spots if "77" in s["bibs"]] == [[LOST, "77"]], spots
    p = Page(browser, hq, admin=True)
    page = p.open()
    _wait_live(page)
    spot = page.locator("#spots li.spot", has_text=f"bibs {LOST}, 77")
    spot.wait_for(timeout=10_000)
    text = spot.inner_text()
    hhmm = r"(\w{3} )?\d\d:\d\d"  # (with the weekday when it is another day than now's)
    when = rf"\(first {hhmm}(, latest {hhmm})?(; \d still off)?\)"
    said = rf"⚑ 2 runners went off the course at 6\.0\d km {when}: bibs {LOST}, 77\. Check the"
    assert re.match(said, text), text
    card = page.locator('li.alert[data-bib="77"] .spot-of')
    assert card.inner_text().endswith(f"(also bib {LOST})")
    assert page.locator("path.cw-spot").count() == len(spots)  # on the map
    page.screenshot(path=str(shots / "spot.png"))
    # a volunteer put the ribbon back: race HQ says so, and the spot says who goes off since
    page.evaluate("localStorage.setItem('coursewatch.operator', 'Dee')")
    spot.locator("button.checked").click()
    page.locator("#spots li.spot", has_text="by Dee").wait_for(timeout=5_000)
    assert re.search(r"Marking checked \d\d:\d\d by Dee; nobody off there since\.",
                     spot.inner_text()), spot.inner_text()  # fmt: skip
    public = Page(browser, hq, admin=False)
    view = public.open()
    _wait_live(view)
    assert view.locator("#spots").is_hidden() and view.locator("path.cw-spot").count() == 0
    hq.call("DELETE", "/api/races/demo/runners/77")
    assert p.errors() == [] and public.errors() == [], p.errors() + public.errors()
    p.close()
    public.close()


def test_a_race_that_names_its_time_zone_reads_its_clock_and_abbreviation(
    hq: HQ, browser: Any
) -> None:
    """A race file with `timezone: America/Denver` (a start without an offset): the header
    says MDT or MST, as people there do, and the time is theirs, summer or winter."""
    from zoneinfo import ZoneInfo

    denver = ZoneInfo("America/Denver")
    race_file, _ = _race_files(hq.folder / "denver", time.time() - 3600.0)
    start = datetime.fromtimestamp(time.time() - 3600.0, denver).replace(tzinfo=None)
    text = re.sub(r"(?m)^start: .*$", f"start: '{start.isoformat()}'\ntimezone: America/Denver",
                  race_file.read_text())  # fmt: skip
    body = {"id": "denver", "race_file": {"text": text, "suffix": ".yaml"}, "public": True,
            "course_file": {"text": (race_file.parent / "course.gpx").read_text()}}  # fmt: skip
    assert hq.call("POST", "/api/races", json=body)["timezone"] == "America/Denver"
    p = Page(browser, hq, admin=False)
    try:
        page = p.open("/races/denver")
        page.wait_for_selector('#conn[data-state="live"]', timeout=15_000)
        clock = page.locator("#clock").inner_text()
        abbr = datetime.now(denver).strftime("%Z")  # MDT or MST
        assert re.fullmatch(rf"\d\d:\d\d:\d\d {abbr} · T\+\d+h\d\d", clock), clock
        assert int(clock[:2]) == datetime.now(denver).hour, clock
        assert p.errors() == []
    finally:
        p.close()
        hq.call("DELETE", "/api/races/denver")
