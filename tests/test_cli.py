"""The command line: JSON contracts, and one clear line for bad input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner

from coursewatch.cli import main
from coursewatch.geo import LocalFrame

GPX = """<?xml version="1.0"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1" creator="test">
<wpt lat="{wlat}" lon="{wlon}"><name>Aid</name></wpt>
<trk><name>Test course</name><trkseg>{pts}</trkseg></trk></gpx>"""


def write_course(tmp_path: Path) -> Path:
    frame = LocalFrame.centred(45.0, 6.0)
    x = np.arange(0.0, 3001.0, 25.0)
    lat, lon = frame.to_latlon(x, x * 0)
    pts = "".join(
        f'<trkpt lat="{a:.7f}" lon="{b:.7f}"><ele>{1000 + i}</ele></trkpt>'
        for i, (a, b) in enumerate(zip(lat, lon, strict=True))
    )
    path = tmp_path / "course.gpx"
    path.write_text(GPX.format(pts=pts, wlat=lat[40], wlon=lon[40]))
    return path


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_course_info_json_contract(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main, ["course", "info", str(write_course(tmp_path)), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert {"name", "length_m", "ascent_m", "descent_m", "loop", "self_overlap", "stations",
            "bbox"} <= set(d)  # fmt: skip
    assert d["name"] == "Test course"
    assert abs(d["length_m"] - 3000) < 5
    assert d["stations"] == [{"name": "Aid", "passes_m": [1000.0]}]
    assert d["loop"] is False and d["ascent_m"] == 120.0


def test_corrupt_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gpx"
    bad.write_text('<?xml version="1.0"?><gpx><trk><trkseg><trkpt lat="45" lon="6">')
    for args in (["course", "info", str(bad)], ["track", "info", str(bad)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:")
        assert "Traceback" not in res.output


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["track", "info", str(tmp_path / "nope.gpx")])
    assert res.exit_code == 1 and res.output.startswith("error: ")


def course_and_run(tmp_path: Path) -> tuple[Path, Path, float]:
    """The test course, a simulated runner's GPX on it, and when their run began."""
    from coursewatch.formats.load import load_course
    from coursewatch.sim.simulate import simulate_run

    cpath = write_course(tmp_path)
    run = simulate_run(load_course(cpath), seed=2, interval_s=5.0)
    trk = "".join(f'<trkpt lat="{a:.7f}" lon="{b:.7f}"><time>{iso(t)}</time></trkpt>'
                  for a, b, t in zip(run.lat, run.lon, run.time_s, strict=True))  # fmt: skip
    tpath = tmp_path / "run.gpx"
    tpath.write_text(GPX.format(pts=trk, wlat=45.0, wlon=6.0))
    return cpath, tpath, float(run.time_s[0])


def test_analyze_reads_the_clock_of_a_time_zone_given(tmp_path: Path) -> None:
    """Without a race file every time was UTC ("Fri 02:42Z" for Thursday 22:42 in
    Pennsylvania): --timezone puts the report on the runner's clock; a zone that is none is
    one line."""
    cpath, tpath, began = course_and_run(tmp_path)
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--timezone",
                                    "America/New_York"])  # fmt: skip
    assert res.exit_code == 0, res.output
    local = datetime.fromtimestamp(began, ZoneInfo("America/New_York"))
    assert f"{local:%Y-%m-%d %H:%M} {local.tzname()} to " in res.output, res.output
    bad = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--timezone", "Mars/Base"])
    assert bad.exit_code == 2 and "'Mars/Base' is not a time zone" in bad.output, bad.output


def test_analyze_reports_a_race_run_in_miles_in_miles(tmp_path: Path) -> None:
    """The race file's ``units: mi`` (Western States) is what the report says; --units says
    it for a course without a race file, or overrides the race file's."""
    cpath, tpath, began = course_and_run(tmp_path)
    race = tmp_path / "race.yaml"
    race.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\nunits: mi\n')
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(race)])
    assert res.exit_code == 0, res.output
    assert "Course 1.9 mi (3.0 km)" in res.output and "mile 0.6" in res.output, res.output
    assert re.search(r"\d+'\d\d\"/mi", res.output) and "/km" not in res.output, res.output
    for args, says in ((["--race", str(race), "--units", "km"], "km 1.0"),
                       (["--units", "mi"], "mile 0.6")):  # fmt: skip
        res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), *args])
        assert res.exit_code == 0 and says in res.output, res.output
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(race),
                                    "--format", "json"])  # fmt: skip
    assert json.loads(res.output)["units"] == "mi"
    # the race file's cut-offs: one missed is said, and every format has them
    race.write_text(race.read_text() + 'stations:\n  - {name: Aid, mi: 0.93, cutoff: "00:02"}\n')
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(race)])
    assert re.search(r"Missed a cut-off: Aid, reached \d+ min after it", res.output), res.output
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(race),
                                    "--format", "json"])  # fmt: skip
    (aid,) = [r for r in json.loads(res.output)["splits"] if r["station"] == "Aid"]
    assert aid["cutoff"] == iso(began + 120.0) and aid["after_cutoff_s"] > 60.0, aid


def test_analyze_json_contract(tmp_path: Path) -> None:
    cpath, tpath, _ = course_and_run(tmp_path)
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)  # (a first run says on stderr that it compiles)
    assert set(d) >= {"course", "track", "excursions", "finish", "passes"}
    assert d["excursions"] == []
    assert d["finish"]["elapsed_s"] > 0
    assert d["track"]["start"].endswith("Z")
    assert d["track"]["dropped"] == {}  # (by reason: what the reader left out of the file)
    assert d["splits"][-1]["elapsed_s"] == d["finish"]["elapsed_s"]  # the finish is a split
    assert d["splits"][-1]["skipped"] is False
    assert d["totals"] == {"excursions": 0, "extra_distance_m": 0.0, "time_lost_s": 0.0,
                           "time_lost_unknown": 0, "cut_m": 0.0}  # fmt: skip


def test_analyze_refuses_a_race_file_of_another_race(tmp_path: Path) -> None:
    """Another day's race file (last year's), or another course's: one line, exit 1 (its
    stations were placed on this course and race time counted from its day)."""
    cpath, tpath, began = course_and_run(tmp_path)
    start = iso(began - 365 * 86_400.0)
    last_year = tmp_path / "last_year.race.yaml"
    last_year.write_text(f'name: Test\ncourse: course.gpx\nstart: "{start}"\n')
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(last_year)])
    assert res.exit_code == 1 and "365 days after it" in res.output, res.output
    elsewhere = tmp_path / "elsewhere.race.yaml"
    elsewhere.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\n'
                         "stations:\n  - {name: Far, lat: 46.0, lon: 6.0}\n")  # fmt: skip
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(elsewhere)])
    assert (
        res.exit_code == 1 and "'Far' (46.00000, 6.00000) is 111.2 km from the course" in res.output
    ), res.output
    assert res.output.startswith(f"error: {elsewhere}: "), res.output
    # a start two hours late (a time zone): the track ended before it (it read "0 days")
    late = tmp_path / "late.race.yaml"
    late.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began + 7200.0)}"\n')
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--race", str(late)])
    assert res.exit_code == 1 and "the track ends 1 h 40 min before it" in res.output, res.output


def test_a_race_start_an_hour_late_is_refused_with_what_to_check() -> None:
    """A race file's start an hour off (its time zone): the runner was km 7 along the course
    at it, and the report read "race time -0:56:05", a finish an hour short. A warm-up out
    and back along the course before the right start is no such thing."""
    from coursewatch.analysis.near import check_start_fits
    from coursewatch.errors import RaceFileError
    from coursewatch.race import Race

    race = Race("Duo", Path("c.gpx"), datetime(2022, 6, 25, 1, 0, tzinfo=UTC))
    t = race.start_ts + np.arange(-3600.0, 3600.0, 60.0)
    ran = 2.0 * (t - t[0])  # 2 m/s from the first fix, an hour before the start
    with pytest.raises(RaceFileError, match=r"km 7\.2 of the course at the race's start"):
        check_start_fits(race, t, ran)
    warm_up = np.where(t < race.start_ts, 1250.0 - np.abs(ran - 1250.0).clip(0, 1250), 0.0)
    warm_up = np.where(t < race.start_ts - 1200.0, warm_up, 0.0)  # 2.5 km out and back
    warm_up[t >= race.start_ts] = 2.0 * (t[t >= race.start_ts] - race.start_ts)
    check_start_fits(race, t, warm_up)  # back at the start line by the gun: fine


def test_analyze_takes_the_format_from_the_output_suffix_and_refuses_an_unknown_ghost(
    tmp_path: Path,
) -> None:
    cpath, tpath, _ = course_and_run(tmp_path)
    out = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "-o", str(out)])
    assert res.exit_code == 0 and out.read_text().startswith("<!doctype html>"), res.output
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--ghost", "Elite"])
    assert res.exit_code == 2 and "add --race" in res.output


def test_analyze_never_writes_over_what_it_reads_and_says_where_it_cannot_write(
    tmp_path: Path,
) -> None:
    """`-o run.gpx` replaced the runner's recording with the text report; an unknown suffix
    was text; a missing folder or a folder was a traceback."""
    cpath, tpath, _ = course_and_run(tmp_path)
    kept = tpath.read_bytes()
    cases = {
        str(tpath): "is one of the files read",
        str(tmp_path / "r.docx"): "says no format",
        str(tmp_path / "missing" / "r.txt"): "no folder",
        str(tmp_path): "is a folder",
    }
    for out, said in cases.items():
        res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "-o", out])
        assert res.exit_code == 1 and said in res.output, (out, res.output)
    # a tile server that is none: a report whose map asked the relative URL 'bogus'
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--tiles", "bogus"])
    assert res.exit_code == 2 and "is not a tile server" in res.output
    assert tpath.read_bytes() == kept


def test_names_in_brackets_are_shown_as_written(tmp_path: Path) -> None:
    """A name with '[/]' crashed `course info`, `track info` and `analyze` (rich markup);
    '[red]' vanished from it."""
    cpath, tpath, _ = course_and_run(tmp_path)
    for path in (cpath, tpath):
        path.write_text(path.read_text().replace("Test course", "Ultra [red]Côte[/] [/]"))
    for args in (["course", "info", str(cpath)], ["track", "info", str(tpath)],
                 ["analyze", str(cpath), str(tpath)]):  # fmt: skip
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0 and "Ultra [red]Côte[/] [/]" in res.output, res.output


def test_serve_says_in_one_line_why_it_cannot_start(tmp_path: Path) -> None:
    """A port in use printed the address and a new admin token (another server's address),
    then failed; a folder or a file that is no database given to --db was a traceback."""
    import socket
    import subprocess
    import sys

    from coursewatch.sim.hq import free_port

    exe = str(Path(sys.executable).parent / "coursewatch")
    free = str(free_port())
    (tmp_path / "notes.gpx").write_text("not a database")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args, said in (
            (["--port", port], "cannot listen on 127.0.0.1:"),
            (["--db", str(tmp_path), "--port", free], "is a folder"),
            (["--db", str(tmp_path / "notes.gpx"), "--port", free], "cannot open it as race HQ"),
        ):
            run = subprocess.run([exe, "serve", *args], capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path)  # fmt: skip
            assert run.returncode == 1 and said in run.stderr, (args, run.stderr)
            assert "race HQ on" not in run.stdout and "Traceback" not in run.stderr


def test_course_info_checks_a_race_file_as_race_hq_places_it(tmp_path: Path) -> None:
    """A race director checks their race file before race day, offline: its course with the
    stations placed and their cut-offs; a station that cannot be placed is one line naming
    the file (race HQ left it out, with its cut-off)."""
    _cpath, tpath, began = course_and_run(tmp_path)
    race = tmp_path / "race.yaml"
    race.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\nstations:\n'
                    '  - {name: Aid 1, km: 4.0, cutoff: "01:30"}\n')  # fmt: skip
    res = CliRunner().invoke(main, ["course", "info", str(race)])
    assert res.exit_code == 0 and "Aid 1" in res.output and "T+1:30" in res.output, res.output
    res = CliRunner().invoke(main, ["course", "info", str(race), "--format", "json"])
    assert json.loads(res.output)["stations"][0]["cutoff"].endswith("+00:00"), res.output
    # a race file without stations: the course file's waypoints, no cut-offs (it crashed)
    race.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\n')
    for fmt in ("text", "json"):
        res = CliRunner().invoke(main, ["course", "info", str(race), "--format", fmt])
        assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    # a race run in miles: its length, stations and climb in miles and feet first
    race.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\nstations:\n'
                    '  - {name: Aid 1, km: 4.0, cutoff: "01:30"}\n')  # fmt: skip
    race.write_text(race.read_text().replace("km: 4.0", "mi: 1.5") + "units: mi\n")
    res = CliRunner().invoke(main, ["course", "info", str(race)])
    assert "mile 1.50" in res.output and "ft (+" in res.output, res.output
    assert re.search(r"  [\d.]+ mi \([\d.]+ km\)", res.output), res.output
    # --units says it without a race file, or over the race file's
    res = CliRunner().invoke(main, ["course", "info", str(race), "--units", "km"])
    assert "mile" not in res.output and "km 2.41" in res.output, res.output
    res = CliRunner().invoke(main, ["track", "info", str(tpath), "--units", "mi"])
    assert re.search(r", [\d.]+ mi \([\d.]+ km\)", res.output), res.output
    race.write_text(f'name: Test\ncourse: course.gpx\nstart: "{iso(began)}"\nstations:\n'
                    "  - {name: Far, lat: 6.0, lon: 45.0}\n")  # fmt: skip
    for args in (["course", "info", str(race)], ["race", "create", str(race), "--token", "x"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1, res.output
        assert res.output.startswith(f"error: {race}: station 'Far' (6.00000, 45.00000) is"), args


def test_race_hqs_refusal_reads_as_the_cli_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """A roster refused by race HQ read "...save the file as CSV with commas) (body): fix the
    input and send it again": the API's words for a request's parts, not a CLI user's."""
    import httpx

    from coursewatch.cli.serve import Client, RefusedError

    def refuse(method: str, url: str, **kw: object) -> httpx.Response:
        error = {"status": 422, "code": "invalid_input", "where": "body",
                 "message": "the roster's first line has no 'bib' column",
                 "hint": "fix the input and send it again"}  # fmt: skip
        return httpx.Response(422, json={"error": error})

    monkeypatch.setattr(httpx, "request", refuse)
    with pytest.raises(RefusedError) as info:
        Client("http://hq.test", "token").call("POST", "/api/races/r/roster")
    assert str(info.value) == "the roster's first line has no 'bib' column"


def test_analyze_force_takes_a_track_that_looks_like_another_race(tmp_path: Path) -> None:
    """From the same start, another way: refused, with what to do; --force analyses it."""
    cpath = write_course(tmp_path)
    frame = LocalFrame.centred(45.0, 6.0)
    y = np.arange(0.0, 3001.0, 10.0)  # north, where the course goes east
    lat, lon = frame.to_latlon(y * 0, y)
    t0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC).timestamp()
    trk = "".join(f'<trkpt lat="{a:.7f}" lon="{b:.7f}"><time>{iso(t0 + 4.0 * i)}</time></trkpt>'
                  for i, (a, b) in enumerate(zip(lat, lon, strict=True)))  # fmt: skip
    tpath = tmp_path / "other.gpx"
    tpath.write_text(GPX.format(pts=trk, wlat=45.0, wlon=6.0))
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath)])
    assert res.exit_code == 1 and "is this the right course? (--force" in res.output, res.output
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath), "--force"])
    assert res.exit_code == 0 and "Did not reach the finish" in res.output, res.output


def test_the_demos_clock_starts_with_its_replay(tmp_path: Path) -> None:
    """The demo's race clock ran from the moment it began setting up (a first run compiles
    the engine for half a minute): at 60x every runner read "silent 35 min" and every ETA
    was past, for the whole demo. The race's clock and the newest fix agree. And a runner
    who drops out is put out by the demo's race HQ (their cut-off risks piled up). Stopped
    with Ctrl-C, it leaves no folder behind (one a run had piled up in /tmp)."""
    import os
    import signal
    import subprocess
    import sys
    import time as clock

    import httpx

    from coursewatch.sim.hq import free_port

    port = free_port()
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "COURSEWATCH_DB_PATH": str(tmp_path / "unused.db"),
           "TMPDIR": str(tmp_path / "tmp")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", "from coursewatch.cli import main; main()", "demo",
         "--runners", "4", "--km", "10", "--speed", "240", "--port", str(port),
         "--duration", "70"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/api/races/demo"
        lag: list[float] = []
        out = ""
        deadline = clock.monotonic() + 60.0
        while clock.monotonic() < deadline and (len(lag) < 5 or out != "dnf"):
            clock.sleep(1.0)
            try:
                now = httpx.get(f"{base}/dashboard", timeout=5).json()["now_ts"]
                runners = httpx.get(f"{base}/runners", timeout=5).json()["runners"]
            except (httpx.HTTPError, KeyError, ValueError):
                continue
            seen = [r["last_fix"]["time_s"] for r in runners if r["last_fix"]]
            if seen and len(lag) < 5:
                lag.append(now - max(seen))
            out = next(r["status"] for r in runners if r["bib"] == "2")  # (its fate: a DNF)
        # race seconds (it was 300 here at 240x: the setup's 1.3 s; 35 min cold at 60x)
        assert len(lag) == 5 and max(lag) < 90.0, lag
        assert out == "dnf"
        assert [f.name[:16] for f in (tmp_path / "tmp").iterdir()] == ["coursewatch-demo"]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert not list((tmp_path / "tmp").iterdir())
    finally:
        proc.kill()
        proc.wait()


def test_a_first_run_says_it_compiles_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first `analyze` on a machine took 68 s without a word (numba compiles the engine
    once): it says so, on stderr, and only the commands that follow runners."""
    from coursewatch import cli, jitcache

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert jitcache.is_cold("analyze") and jitcache.is_cold("live")
    cpath, tpath, _ = course_and_run(tmp_path)
    assert CliRunner().invoke(main, ["analyze", str(cpath), str(tpath)]).exit_code == 0
    # (each path compiles its own signatures: serve after analyze compiled 35 s, unsaid)
    assert not jitcache.is_cold("analyze") and jitcache.is_cold("live")
    monkeypatch.setattr(jitcache, "is_cold", lambda path: True)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "no.gpx"), str(tmp_path / "no.gpx")])
    # refused at once, it compiled nothing: not said (it read as the cause of the error)
    assert "compiling" not in res.output and res.exit_code == 1, res.output
    monkeypatch.setattr(cli, "SAY_COMPILING_AFTER_S", 0.0)  # (said once still at it)
    res = CliRunner().invoke(main, ["analyze", str(cpath), str(tpath)])
    assert "compiling the course engine" in res.output and res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["settings"])
    assert "compiling" not in res.output


def test_the_cli_says_where_it_looked_for_race_hq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --db elsewhere.db --port 18343`: the CLI read the default database and port and
    said only "no admin token" (a new user set two variables by trial)."""
    from coursewatch.sim.hq import free_port

    monkeypatch.delenv("COURSEWATCH_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("COURSEWATCH_DB_PATH", str(tmp_path / "none.db"))
    res = CliRunner().invoke(main, ["race", "check", "demo"])
    assert res.exit_code == 1 and "COURSEWATCH_DB_PATH to the database `serve --db`" in res.output
    assert str(tmp_path / "none.db") in res.output
    url = f"http://127.0.0.1:{free_port()}"
    res = CliRunner().invoke(main, ["race", "check", "demo", "--token", "x", "--url", url])
    assert res.exit_code == 1 and "pass --url, or set COURSEWATCH_PORT" in res.output, res.output


def test_race_check_shows_failing_feeds_only_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """From a rehearsal: a feed that had recovered still showed its old error beneath "ok"; 3
    of 4 feeds failing exited 0; an April race in New York read "EST" (December's, the day
    of the check)."""
    from coursewatch.cli import setup

    start = 1_712_890_800.0  # 2024-04-12 03:00Z: Thu 23:00 EDT
    feed = {"kind": "mapshare", "id": "ann", "newest_fix_s": start + 3600,
            "last_error": "the feed needs a password, or the one given is wrong",
            "last_error_ts": start + 1800}  # fmt: skip
    runners = [
        {"bib": "7", "name": "Ann", "devices": [], "heard": True, "newest_fix_s": start + 3600,
         "feed": {**feed, "state": "ok"}},
        {"bib": "12", "name": "Bob", "devices": [], "heard": True, "newest_fix_s": start,
         "feed": {**feed, "id": "bob", "state": "error"}},
    ]  # fmt: skip
    answers = {"/api/races/dark/check": {"runners": runners, "unknown_devices": []},
               "/api/races/dark": {"timezone": "America/New_York", "utc_offset_s": -14400,
                                   "start_ts": start}}  # fmt: skip

    class Canned:
        def __init__(self, *_: object) -> None: ...

        def call(self, _method: str, path: str, **_: object) -> object:
            return answers[path]

    monkeypatch.setattr(setup, "Client", Canned)
    monkeypatch.setenv("COLUMNS", "200")
    res = CliRunner().invoke(main, ["race", "check", "dark"])
    assert res.exit_code == 1 and "1 feed(s) failing: bib 12" in res.output, res.output
    assert res.output.count("the feed needs a password") == 1, res.output  # bib 12's only
    assert "(Thu 23:30:00)" in res.output and "America/New_York, EDT" in res.output, res.output


def test_replay_sends_again_while_the_server_restarts_and_gives_up_on_a_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`coursewatch replay` against a server being restarted (connections refused for half a
    minute) delivers every request, as a tracker would; a server that fails each time is
    given up on after 3 answers."""
    import asyncio
    from collections import Counter
    from types import SimpleNamespace

    import httpx

    from coursewatch.sim import replay

    calls, clock = Counter[str](), [0.0]

    async def sleep(s: float) -> None:
        clock[0] += s

    monkeypatch.setattr(replay, "asyncio", SimpleNamespace(sleep=sleep))  # (its own names)
    monkeypatch.setattr(replay, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    def answer(request: httpx.Request) -> httpx.Response:
        calls[request.url.path] += 1
        if request.url.path == "/up" and clock[0] < 30.0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200 if request.url.path == "/up" else 500)

    async def go() -> tuple[bool, bool, replay.ReplayStats]:
        stats = replay.ReplayStats(statuses=Counter())
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport, base_url="http://hq") as client:
            up = await replay._post(client, "/up", stats)
            return up, await replay._post(client, "/down", stats), stats

    up, down, stats = asyncio.run(go())
    assert up and 6 < calls["/up"] < 15 and clock[0] < 40.0  # waits of 5 s at most
    assert not down and calls["/down"] == 3 and stats.failed == 1


def test_course_info_counts_a_lap_courses_laps(tmp_path: Path) -> None:
    """A course drawn lap after lap said "loop" and nothing of its laps, which race HQ
    numbers on the board (TWOT: 8 laps of 44.4 km)."""
    from coursewatch.sim.field import write_race
    from coursewatch.sim.simulate import loop_course

    race = write_race(tmp_path / "laps", loop_course(4), 1_780_000_000.0)
    res = CliRunner().invoke(main, ["course", "info", str(race)])
    assert res.exit_code == 0, res.output
    assert "loop, 4 laps of 4.4 km (2.7 mi);" in res.output, res.output
    res = CliRunner().invoke(main, ["course", "info", str(race), "--format", "json"])
    assert json.loads(res.output)["laps"] == 4
    res = CliRunner().invoke(main, ["course", "info", str(write_course(tmp_path)), "--format",
                                    "json"])  # fmt: skip
    assert json.loads(res.output)["laps"] == 1
