"""Race-director set-up without code: a CSV roster (refused rows by line number) and a check of
every runner's devices and feeds, through the API and the `coursewatch` commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from coursewatch.cli import main
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.sim.hq import ADMIN, add_race, admin_headers, free_port, hq, start_serve
from coursewatch.sim.simulate import trail_course

START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
ROSTER = """\ufeffBib,Name,devices,mapshare,spot,notify_runner,notify_crew,shoe size
7,Ann Berg,300434 ann/phone,,,ntfy://ntfy.example.org/ann-7,,42
8,Bob,,bob-okafor,,,mailto://u:p@example.org?to=crew8@example.org,44
,No Bib,,,,,,
9,Both Feeds,,cleo,0onlsPreC4bYDbrVgXGrDUNfTgp,,,
10,Bad Url,,,,notaservice://x,,
11,Steals Ann's,300434,,,,,
12,Dee Start,,,,,,
"""


@pytest.mark.anyio
async def test_a_roster_takes_the_good_rows_and_says_why_the_others_were_refused(
    tmp_path: Path,
) -> None:
    async with hq(tmp_path, clock=lambda: START + 3600) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        r = await client.post("/api/races/demo/roster", content=ROSTER.encode(),
                              headers={**admin_headers(), "Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["added"], report["updated"]) == (3, 0)  # 7, 8 and 12
        assert report["ignored_columns"] == ["shoe size"]
        refused = {p["line"]: p for p in report["refused"]}
        assert sorted(refused) == [4, 5, 6, 7]
        assert refused[4]["message"] == "no bib"
        assert "both a MapShare and a SPOT feed" in refused[5]["message"]
        assert "not a notification URL Apprise knows" in refused[6]["message"]
        assert "300434" in refused[7]["message"] and refused[7]["bib"] == "11"
        assert server.runner("demo", "7").record.devices == ("300434", "ann/phone")
        contacts = (await client.get("/api/races/demo/runners/8/contacts",
                                     headers=admin_headers())).json()  # fmt: skip
        assert contacts == {"feed": {"kind": "mapshare", "id": "bob-okafor"}, "runner": [],
                            "crew": ["mailto://example.org/…"]}  # fmt: skip
        # the roster again, one column changed: runners updated, what it does not say kept
        again = "bib,name\n7,Ann B.\n"
        r = await client.post("/api/races/demo/roster", content=again.encode(),
                              headers=admin_headers())  # fmt: skip
        assert (r.json()["added"], r.json()["updated"]) == (0, 1)
        assert server.runner("demo", "7").record.devices == ("300434", "ann/phone")
        assert server.contacts.of("demo").runner["7"] == ["ntfy://ntfy.example.org/ann-7"]
        # a cell emptied in a column given takes the address out (the crew's old phone)
        r = await client.post("/api/races/demo/roster", content=b"bib,notify_crew\n8,\n",
                              headers=admin_headers())  # fmt: skip
        assert server.contacts.of("demo").crew["8"] == []
        # one device heard from
        ping = {
            "imei": "300434",
            "timeStamp": int(START + 600) * 1000,
            "point": {"latitude": float(COURSE.lat[5]), "longitude": float(COURSE.lon[5])},
        }
        await server.ingest(lambda: decode_inreach({"Events": [ping]}), "inreach")
        check = (await client.get("/api/races/demo/check", headers=admin_headers())).json()
        by_bib = {c["bib"]: c for c in check["runners"]}
        assert by_bib["7"]["heard"] and by_bib["7"]["devices"][0]["heard_ts"] is not None
        assert by_bib["7"]["devices"][1]["heard_ts"] is None  # the phone: not yet
        assert not by_bib["8"]["heard"] and by_bib["8"]["feed"]["kind"] == "mapshare"
        r = await client.post(
            "/api/races/demo/roster", content=b"name\nx\n", headers=admin_headers()
        )
        assert r.status_code == 422 and "no 'bib' column" in r.json()["error"]["message"]
        # a quote never closed read every later line as Ann's name, and a bib given twice
        # took the first row's devices and contacts away: refused, whole and by line
        r = await client.post("/api/races/demo/roster", content=b'bib,name\n70,"Ann\n71,x\n',
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 422 and "line 2 opens a quote" in r.json()["error"]["message"]
        stray = b'bib,name\n7,"Ann" Smith\n8,"Bob\n9,Cy\n'  # a stray quote hid it
        r = await client.post("/api/races/demo/roster", content=stray, headers=admin_headers())
        assert r.status_code == 422 and "line 3 opens a quote" in r.json()["error"]["message"]
        twice = b"bib,name,devices\n20,Ann,dev-20\n20,Ann again,\n"
        r = await client.post("/api/races/demo/roster", content=twice, headers=admin_headers())
        assert [(p["line"], p["bib"]) for p in r.json()["refused"]] == [(3, "20")]
        assert server.runner("demo", "20").record.devices == ("dev-20",)


def test_the_commands_set_a_race_up_from_a_roster(tmp_path: Path) -> None:
    from coursewatch.sim.field import write_race

    port = free_port()
    proc = start_serve(tmp_path, port, ADMIN, tick_s="0")
    url = f"http://127.0.0.1:{port}"
    cli = CliRunner()
    opts = ["--url", url, "--token", ADMIN]
    try:
        race_file = write_race(tmp_path / "race", COURSE, START)
        done = cli.invoke(main, ["race", "create", str(race_file), "--id", "demo", "--public",
                                 *opts])  # fmt: skip
        assert done.exit_code == 0, done.output
        assert f"public page: {url}/races/demo" in done.output  # where spectators look
        past = (time.time() - START) / 86_400.0  # (a race of May 2026: last year's race file?)
        assert (f"note: the race started {past:,.0f} days ago" in done.output) == (past > 7)
        # the same command again changed the race without a word (and made it private)
        again = cli.invoke(main, ["race", "create", str(race_file), "--id", "demo", *opts])
        assert again.exit_code == 1 and "already has a race 'demo'" in again.output
        again = cli.invoke(main, ["race", "create", str(race_file), "--id", "demo", "--replace",
                                  *opts])  # fmt: skip
        assert again.exit_code == 0, again.output
        assert httpx.get(f"{url}/api/races/demo").status_code == 200  # still public
        roster = tmp_path / "roster.csv"
        roster.write_text(ROSTER, encoding="utf-8")
        done = cli.invoke(main, ["race", "roster", "demo", str(roster), *opts])
        assert done.exit_code == 1  # some rows were refused
        assert "3 runners added, 0 updated" in done.output
        assert "roster.csv:4: bib ?: no bib" in done.output
        done = cli.invoke(main, ["runner", "feed", "demo", "12", "--spot", "0onlsPreC4b", *opts])
        assert done.exit_code == 0 and "polling spot feed 0onlsPreC4b" in done.output
        done = cli.invoke(main, ["runner", "notify", "demo", "12", "--crew",
                                 "ntfy://ntfy.example.org/crew-12", *opts])  # fmt: skip
        assert done.exit_code == 0 and "ntfy://ntfy.example.org/…" in done.output
        done = cli.invoke(main, ["runner", "notify", "demo", "7", "--crew",
                                 "ntfy://ntfy.example.org/crew-7", *opts])  # fmt: skip
        assert "runner ntfy://ntfy.example.org/…;" in done.output  # the runner's kept
        done = cli.invoke(main, ["race", "notify", "demo", "--hq", "ntfy://ntfy.example.org/hq#0",
                                 "--hq", "ntfy://ntfy.example.org/duty#SOS", *opts])  # fmt: skip
        assert done.exit_code == 0 and done.output.count("(SOS only)") == 2, done.output
        # a phone set up with the id in capitals: race check says whose it looks like; an
        # inReach's IMEI (public on its MapShare page) typed into a phone app is refused
        phone = {"id": "ANN/PHONE", "lat": 45.0, "lon": 6.0, "timestamp": int(START)}
        httpx.post(f"{url}/ingest/osmand", params=phone)
        cli.invoke(main, ["runner", "add", "demo", "12", "--device", "300434060000012", *opts])
        httpx.post(f"{url}/ingest/osmand", params={**phone, "id": "300434060000012"})
        done = cli.invoke(main, ["race", "check", "demo", *opts])
        # (bib 12's SPOT feed, on the real host with no network: failing, if polled yet)
        assert done.exit_code == 0 or "1 feed(s) failing: bib 12" in done.output, done.output
        assert "0 of 3 heard" in done.output and "spot 0onlsPreC4b" in done.output
        assert "ANN/PHONE (osmand, 1 messages, last" in done.output, done.output
        assert "bib 7's but for upper/lower case" in done.output, done.output
        assert "300434060000012 (osmand, 1 messages" in done.output, done.output
        assert "bib 12's satellite messenger, whose id is public" in done.output, done.output
        done = cli.invoke(main, ["runner", "add", "demo", "7", "--device", "300434", "--device",
                                 "ann/phone", "--device", "ANN/PHONE", *opts])  # fmt: skip
        done = cli.invoke(main, ["race", "check", "demo", *opts])  # registered now: not listed
        assert "ANN/PHONE (osmand" not in done.output, done.output
        cli.invoke(main, ["runner", "add", "demo", "7", "--device", "300434", "--device",
                          "ann/phone", *opts])  # fmt: skip
        assert "times on the race's clock, UTC+00:00" in done.output, done.output
        # one field changed: the others kept (the name and devices were wiped)
        done = cli.invoke(main, ["runner", "add", "demo", "7", "--start",
                                 "2026-06-01T06:30:00Z", *opts])  # fmt: skip
        assert done.exit_code == 0 and "updated: start" in done.output, done.output
        ann = httpx.get(f"{url}/api/races/demo/runners/7", headers={"Authorization":
                        f"Bearer {ADMIN}"}).json()  # fmt: skip
        assert (ann["name"], ann["devices"]) == ("Ann Berg", ["300434", "ann/phone"])
        # race day: a finish read off the timing mat, a DNF, each taken back
        done = cli.invoke(main, ["runner", "finish", "demo", "7", *opts])
        assert done.exit_code == 1 and "give the finish TIME" in done.output, done.output
        done = cli.invoke(main, ["runner", "finish", "demo", "7", "2026-06-01T12:00:00Z", *opts])
        assert done.exit_code == 1 and "bib 7 has sent no fix: is it the right bib?" in \
            done.output and "finish not recorded" in done.output, done.output  # fmt: skip
        done = cli.invoke(main, ["runner", "finish", "demo", "7", "2026-06-01T12:00:00Z", *opts],
                          input="y\n")  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "bib 7: finished Mon 12:00:00 (T+5:30:00)" in done.output, done.output
        done = cli.invoke(main, ["runner", "finish", "demo", "7", "12:00", "--undo", *opts])
        assert done.exit_code == 1 and "--undo takes no TIME" in done.output, done.output
        done = cli.invoke(main, ["runner", "dnf", "demo", "7", *opts])  # finished: refused
        assert done.exit_code == 1 and "`runner finish demo 7 --undo` first" in done.output
        done = cli.invoke(main, ["runner", "finish", "demo", "7", "--undo", *opts])
        assert done.exit_code == 0 and "finish taken back; now not_started" in done.output
        done = cli.invoke(main, ["runner", "dnf", "demo", "7", *opts])
        assert done.exit_code == 0 and "bib 7: DNF" in done.output, done.output
        done = cli.invoke(main, ["runner", "finish", "demo", "7", "12:00", "--yes", *opts])
        assert done.exit_code == 1 and "`runner dnf demo 7 --undo` first" in done.output
        done = cli.invoke(main, ["runner", "dnf", "demo", "7", "--undo", *opts])
        assert done.exit_code == 0 and "back in the race" in done.output, done.output
        done = cli.invoke(main, ["runner", "feed", "demo", "8", "--mapshare",
                                 "https://user:pw9@share.garmin.com/bob", *opts])  # fmt: skip
        assert done.exit_code == 0 and "pw9" not in done.output, done.output
        _replays(cli, tmp_path, race_file, opts)
        _removals(cli, opts)
    finally:
        proc.kill()
        proc.wait()


def _replays(cli: CliRunner, tmp_path: Path, race_file: Path, opts: list[str]) -> None:
    """A replay into a real race made its runners 1, 2, ... the recordings (bib 1's name and
    devices gone); a recording of another year was taken, after the race was made."""
    from coursewatch.sim.simulate import simulate_run

    run = simulate_run(COURSE, start_ts=START + 60, interval_s=60.0, seed=4)
    pts = "".join(f'<trkpt lat="{a}" lon="{o}"><time>{_iso(t)}</time></trkpt>'
                  for t, a, o in zip(run.time_s, run.lat, run.lon, strict=True))  # fmt: skip
    gpx = f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}'
    track = tmp_path / "ann.gpx"
    track.write_text(gpx + "</trkseg></trk></gpx>")
    cli.invoke(main, ["runner", "add", "demo", "1", "--name", "Real One", "--device", "r1", *opts])
    done = cli.invoke(main, ["replay", str(race_file), str(track), "--id", "demo", *opts])
    assert done.exit_code == 1 and "has a bib 1 of its own (Real One)" in done.output
    later = tmp_path / "later.gpx"
    later.write_text(track.read_text().replace(_iso(START)[:4], str(int(_iso(START)[:4]) + 1)))
    done = cli.invoke(main, ["replay", str(race_file), str(later), "--id", "other", *opts])
    assert done.exit_code == 1 and "days after it" in done.output, done.output
    races = httpx.get(f"{opts[1]}/api/races", headers={"Authorization": f"Bearer {ADMIN}"})
    assert [r["id"] for r in races.json()["races"]] == ["demo"]  # nothing made
    done = cli.invoke(main, ["replay", str(race_file), str(track), "--id", "rehearsal",
                             "--speed", "100000", *opts])  # fmt: skip
    assert done.exit_code == 0 and f"{len(run.time_s)} acknowledged" in done.output, done.output
    # its results: the split table, as next year's race file takes it
    done = cli.invoke(main, ["race", "splits", "rehearsal", "-o", str(tmp_path / "s.csv"), *opts])
    assert done.exit_code == 0 and "1 runner (1 finished), 3 stations" in done.output, done.output
    head, row = (tmp_path / "s.csv").read_text().splitlines()
    assert head == "bib,name,status,Aid 1,Aid 2,Finish" and row.startswith("1,ann,finished,0:")
    # an inReach log replayed as its own IPC messages: its low battery reaches race HQ (a
    # rehearsal with OsmAnd fixes had none); a GPX is no such log
    events = [{"imei": "0000000000", "timeStamp": int(t * 1000), "messageCode": 0,
               "point": {"latitude": a, "longitude": o, "gpsFix": 2},
               "status": {"lowBattery": int(k > 5)}}
              for k, (t, a, o) in enumerate(zip(run.time_s, run.lat, run.lon, strict=True))
              ]  # fmt: skip
    log = tmp_path / "ann.json"
    log.write_text(json.dumps([{"Version": "3.0", "Events": [e]} for e in events]))
    done = cli.invoke(main, ["replay", str(race_file), str(track), "--id", "rehearsal",
                             "--protocol", "inreach", *opts])  # fmt: skip
    assert done.exit_code == 1 and "this is not one" in done.output, done.output
    done = cli.invoke(main, ["replay", str(race_file), str(log), "--id", "rehearsal",
                             "--protocol", "inreach", "--speed", "100000", *opts])  # fmt: skip
    assert done.exit_code == 0 and f"{len(events)} acknowledged" in done.output, done.output
    got = httpx.get(f"{opts[1]}/api/races/rehearsal/incidents",
                    headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
    assert "battery_low" in {i["kind"] for i in got.json()["incidents"]}, got.text


def _removals(cli: CliRunner, opts: list[str]) -> None:
    """The races listed; a runner and the rehearsal deleted, asked first (no: nothing goes);
    the rehearsal runner's tracker is then free for the real race."""
    done = cli.invoke(main, ["race", "list", *opts])
    assert done.exit_code == 0, done.output
    lines = {line.split()[0]: line for line in done.output.splitlines()[1:]}
    assert set(lines) == {"demo", "rehearsal"}, done.output
    assert " 1 " in lines["rehearsal"] and "12.0 km" in lines["demo"], done.output
    done = cli.invoke(main, ["runner", "delete", "demo", "7", *opts], input="n\n")
    assert done.exit_code == 1 and "Delete bib 7 (Ann Berg) of race demo" in done.output
    taken = cli.invoke(main, ["runner", "add", "demo", "99", "--device", "300434", *opts])
    assert taken.exit_code == 1 and "already registered to bib 7" in taken.output
    done = cli.invoke(main, ["runner", "delete", "demo", "7", "--yes", *opts])
    assert done.exit_code == 0, done.output
    assert "deleted bib 7 (Ann Berg): 1 runner, 2 devices" in done.output, done.output
    done = cli.invoke(main, ["runner", "add", "demo", "99", "--device", "300434", *opts])
    assert done.exit_code == 0, done.output  # bib 7's tracker, free now
    done = cli.invoke(main, ["race", "delete", "rehearsal", *opts], input="y\n")
    assert done.exit_code == 0, done.output
    assert "Delete race rehearsal" in done.output and "1 runners" not in done.output
    assert "deleted race rehearsal: 1 runner, " in done.output and " fixes" in done.output
    done = cli.invoke(main, ["race", "delete", "rehearsal", "--yes", *opts])
    assert done.exit_code == 1 and "no race 'rehearsal'" in done.output, done.output
    assert "rehearsal" not in cli.invoke(main, ["race", "list", *opts]).output


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.anyio
async def test_a_wave_start_without_a_timezone_is_on_the_races_clock(tmp_path: Path) -> None:
    """A roster from a spreadsheet says 06:15 for the second wave, meaning the race's clock
    (as its race file reads a time without a zone): it was read as UTC, two hours late in
    Millau, every fix before it dropped and the runner held at km 0 ("stopped" for race HQ)."""
    from coursewatch.sim.field import course_gpx

    start = "2026-05-28T22:26:40+02:00"  # START, on the race's clock
    race = f"name: Waves\ncourse: course.gpx\nstart: '{start}'\n"
    async with hq(tmp_path) as (server, client):
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        roster = "bib,name,start\n7,Ann,2026-05-28T23:26:40\n8,Bob,23:26\n9,Cy,25:00\n"
        answer = await server.import_roster("demo", roster)
        assert server.runner("demo", "7").record.start_ts == START + 3600.0
        assert server.runner("demo", "8").record.start_ts == START + 3600.0 - 40.0
        assert [r["line"] for r in answer["refused"]] == [4], answer  # no such time of day
        r = await client.post("/api/races/demo/runners", headers=admin_headers(),
                              json={"bib": "10", "start": "2026-05-28T23:26:40"})  # fmt: skip
        assert r.status_code == 201 and r.json()["runners"][0]["start_ts"] == START + 3600.0


def test_race_hq_sends_a_test_message_to_each_address_and_hears_which_failed(
    tmp_path: Path,
) -> None:
    """Before the race: `race notify --test` and `runner notify --test` send a message to
    each address now and say which went; one that cannot be reached says why (exit 1)."""
    from coursewatch.sim.field import write_race
    from coursewatch.sim.sinks import NtfySink

    sink = NtfySink()
    sink.start(free_port())
    port = free_port()
    proc = start_serve(tmp_path, port, ADMIN, tick_s="0", webhook_allow_private="true")
    opts = ["--url", f"http://127.0.0.1:{port}", "--token", ADMIN]
    cli = CliRunner()
    try:
        race_file = write_race(tmp_path / "race", COURSE, START)
        done = cli.invoke(main, ["race", "create", str(race_file), "--id", "demo", *opts])
        assert done.exit_code == 0, done.output
        done = cli.invoke(main, ["race", "notify", "demo", "--test", *opts])
        assert done.exit_code == 1 and "race HQ has no notification address" in done.output
        closed = f"ntfy://127.0.0.1:{free_port()}/duty"  # nothing listens there
        done = cli.invoke(main, ["race", "notify", "demo", "--hq", f"ntfy://{sink.url}/hq",
                                 "--hq", closed, "--test", *opts])  # fmt: skip
        assert done.exit_code == 1, done.output
        lines = done.output.splitlines()
        assert f"race HQ: ntfy://{sink.url}/…: test sent" in lines, lines
        assert any(line.startswith("race HQ: ntfy://127.0.0.1:") and "test NOT sent: " in line
                   for line in lines), lines  # fmt: skip
        assert [m["topic"] for m in sink.messages] == ["hq"]
        assert "race HQ's notifications of" in sink.messages[0]["message"]
        done = cli.invoke(main, ["runner", "add", "demo", "7", "--name", "Ann", *opts])
        assert done.exit_code == 0, done.output
        done = cli.invoke(main, ["runner", "notify", "demo", "7", "--runner",
                                 f"ntfy://{sink.url}/ann", "--crew", f"ntfy://{sink.url}/crew",
                                 "--test", *opts])  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "runner: ntfy://" in done.output and "crew: ntfy://" in done.output
        assert sorted(m["topic"] for m in sink.messages) == ["ann", "crew", "hq"]
        crew = next(m for m in sink.messages if m["topic"] == "crew")["message"]
        assert "the news and incidents of bib 7 (Ann) in" in crew, crew  # (crews swapped: seen)
        ann = next(m for m in sink.messages if m["topic"] == "ann")["message"]
        assert "your own alerts in" in ann and "as bib 7 (Ann)" in ann, ann  # to them: "you"
        done = cli.invoke(main, ["runner", "notify", "demo", "7", *opts])  # who is told
        assert done.exit_code == 0 and "bib 7: runner ntfy://" in done.output, done.output
        # a test is not a notification: nothing waits in the outbox for them
        got = httpx.get(f"http://127.0.0.1:{port}/api/races/demo/deliveries",
                        headers={"Authorization": f"Bearer {ADMIN}"}).json()  # fmt: skip
        assert got["deliveries"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sink.stop()


def test_a_finish_typed_as_a_us_clock_or_not_come_yet_is_read_or_refused_in_words() -> None:
    """`runner finish RACE 101 "2:50 AM"` read "'2:50 AM' is not a time between 1970 and 5138 ...
    send epoch seconds"; 03:30 typed at 02:47 read "the finish is not after the runner's
    start" (it was taken as yesterday's)."""
    from datetime import datetime, timedelta, timezone

    from coursewatch.live.roster import finish_time_s
    from coursewatch.protocols import FieldError

    start = datetime(2026, 12, 6, 0, 30, tzinfo=timezone(timedelta(hours=-8)))
    t0 = start.timestamp()
    now = t0 + 2 * 3600 + 17 * 60  # 02:47
    assert finish_time_s("2:50 AM", start, t0, now) == t0 + 2 * 3600 + 20 * 60
    assert finish_time_s("2:40am", start, t0, now) == t0 + 2 * 3600 + 10 * 60
    for late in ("03:30", "2:50 PM"):
        with pytest.raises(FieldError, match=r"has not come yet on the race's clock \(now 02:47\)"):
            finish_time_s(late, start, t0, now)
    with pytest.raises(FieldError, match="not a time of day"):
        finish_time_s("13:10 PM", start, t0, now)
    with pytest.raises(FieldError, match="not after the runner's start"):  # today, too early
        finish_time_s("00:20", start, t0, now + 12 * 3600)
    # the night the clocks go back has 25 hours: 10:45 on Sunday is Sunday's, by the calendar
    from zoneinfo import ZoneInfo

    denver = ZoneInfo("America/Denver")
    sat = datetime(2026, 10, 31, 6, 0, tzinfo=denver)
    sun = datetime(2026, 11, 1, 11, 0, tzinfo=denver).timestamp()
    at = finish_time_s("10:45", sat, sat.timestamp(), sun)
    assert at == datetime(2026, 11, 1, 10, 45, tzinfo=denver).timestamp()


@pytest.mark.anyio
async def test_what_a_careless_or_hostile_admin_sends_is_bounded(tmp_path: Path) -> None:
    """From an attack on loopback: 30 test calls sent 300 messages in a second (and on the
    shared threads: a slow address held uploads and feeds); a 60,000-row roster answered
    20,000 refusals; 12 histories of 2 MB took the server to 1.1 GB; a time of 400 nines
    was a 500; 150,000 unnamed time columns made a 24 MB answer."""
    async with hq(tmp_path, clock=lambda: START + 3600, webhook_allow_private=True) as (
        server, client,
    ):  # fmt: skip
        await add_race(server, tmp_path, COURSE, "demo", START)
        hq_url = {"hq": [{"url": "json://127.0.0.1:9/hq"}]}  # (nothing listens: not sent)
        await client.put("/api/races/demo/contacts", headers=admin_headers(), json=hq_url)
        first = await client.post("/api/races/demo/contacts/test", headers=admin_headers())
        again = await client.post("/api/races/demo/contacts/test", headers=admin_headers())
        assert first.status_code == 200 and again.status_code == 429, again.text
        assert "try again in" in again.json()["error"]["hint"]
        rows = "bib,name\n" + "".join(f"{'x' * 40},Ann\n" for _ in range(150))
        r = await client.post("/api/races/demo/roster", content=rows.encode(),
                              headers=admin_headers())  # fmt: skip
        got = r.json()
        assert len(got["refused"]) == 100 and got["refused_count"] == 150, r.text[:300]
        nines = {"edition": "x", "text": f"bib,Aid 1\n1,{'9' * 400}:00:00\n2,0:30:00\n"}
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": [nines]})  # fmt: skip
        assert r.status_code == 200, r.text  # (row 1 refused, not a 500)
        assert r.json()["editions"][0]["refused_count"] == 1
        wide = "bib,Aid 1," + ",".join(f"c{i}" for i in range(300)) + "\n"
        wide += "1,0:30:00," + ",".join(["1:00:00"] * 300) + "\n"
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": [{"edition": "w", "text": wide}]})  # fmt: skip
        notes = r.json()["editions"][0]["notes"]
        assert len(notes) == 21 and notes[-1].startswith("280 more columns"), notes[-2:]
        many = [{"edition": str(y), "text": "bib,Aid 1\n1,0:30:00\n"} for y in range(51)]
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": many})  # fmt: skip
        assert r.status_code == 422 and "up to 50 editions" in r.text, r.text


@pytest.mark.anyio
async def test_a_roster_checks_every_address_however_many_share_a_service(
    tmp_path: Path,
) -> None:
    """Each host is looked up once a roster; a second address of the same service with its
    SMTP server on this machine ("#?smtp=127.0.0.1": a fragment the check's key left out) got
    the first one's verdict (review). And a test for a bib that is not there is a 404 each
    time, not a 429."""
    async with hq(tmp_path, clock=lambda: START + 3600) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        rows = ("bib,name,notify_crew\n1,Ann,mailtos://u:p@gmail.com\n"
                "2,Bob,mailtos://u:p@gmail.com#?smtp=127.0.0.1\n")  # fmt: skip
        r = await client.post("/api/races/demo/roster", content=rows.encode(),
                              headers=admin_headers())  # fmt: skip
        got = r.json()
        assert got["added"] == 1 and [p["bib"] for p in got["refused"]] == ["2"], got
        assert "loopback" in got["refused"][0]["message"], got
        for _ in range(2):
            r = await client.post("/api/races/demo/contacts/test", headers=admin_headers(),
                                  json={"bib": "99"})  # fmt: skip
            assert r.status_code == 404, r.text
