"""What the public sees of a race (positions delayed, rounded or hidden; tracks; runners who
opted out) and runners' own ingest tokens, through the API in-process."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from coursewatch.live.privacy import PublicView
from coursewatch.sim.field import write_race
from coursewatch.sim.hq import admin_headers, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.web import public

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
RUN = simulate_run(COURSE, start_ts=START + 10, interval_s=30.0)
NOW = float(RUN.time_s[-1]) + 60.0  # a minute after the last fix


async def _race(client: httpx.AsyncClient, tmp_path: Path) -> str:
    race_file = write_race(tmp_path / "files", COURSE, START)
    gpx = base64.b64encode((tmp_path / "files" / "course.gpx").read_bytes()).decode()
    body = {"id": "demo", "public": True, "race_file": {"text": race_file.read_text()},
            "course_file": {"base64": gpx, "suffix": ".gpx"}}  # fmt: skip
    r = await client.post("/api/races", json=body, headers=admin_headers())
    assert r.status_code == 201, r.text
    runners = {"runners": [{"bib": "7", "devices": ["dev-7"]}, {"bib": "8", "devices": ["dev-8"]}]}
    assert (await client.post("/api/races/demo/runners", json=runners,
                              headers=admin_headers())).status_code == 201  # fmt: skip
    rows = list(zip(RUN.time_s, RUN.lat, RUN.lon, strict=True))
    fixes = [{"bib": b, "time": float(t), "lat": float(a), "lon": float(o)}
             for b in ("7", "8") for t, a, o in rows]  # fmt: skip
    r = await client.post("/api/races/demo/fixes", json={"fixes": fixes}, headers=admin_headers())
    assert r.json()["accepted"] == len(fixes)
    return str(r.json())


async def _view(client: httpx.AsyncClient, **view: object) -> None:
    r = await client.patch("/api/races/demo", json={"public_view": view}, headers=admin_headers())
    assert r.status_code == 200 and r.json()["public_view"] == {**PublicView().to_json(), **view}


async def test_positions_delayed_and_rounded_for_the_public_exact_for_race_hq(
    tmp_path: Path,
) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        await _view(client, delay_min=30, round_m=500)
        mine = (await client.get("/api/races/demo/runners/7", headers=admin_headers())).json()
        theirs = (await client.get("/api/races/demo/runners/7")).json()
        assert mine["last_fix"]["time_s"] == RUN.time_s[-1]
        assert theirs["last_fix"]["time_s"] <= NOW - 1800 < theirs["last_fix"]["time_s"] + 30
        lat = theirs["last_fix"]["lat"]
        assert lat == pytest.approx(round(lat / (500 / 111_320)) * 500 / 111_320, abs=1e-6)
        # the runner as they were then: progress, station and lap of that fix; the rest of
        # what is live now left out
        assert 0 < theirs["progress_m"] < mine["progress_m"] - 1000
        assert theirs["finish_eta_ts"] is None and theirs["silent_s"] is None
        assert theirs["last_station"] is None or (
            theirs["last_station"]["distance_m"] <= theirs["progress_m"]
        )
        # when they passed it (the board showed an estimate from the pace, hours off after a
        # stop): race HQ's now, the public's as of then
        assert mine["last_station"]["label"] == "Finish"
        assert mine["last_station_ts"] == mine["finish_ts"] is not None
        passed = theirs["last_station"]["distance_m"] / 2.5 + START + 10  # 2.5 m/s
        assert theirs["last_station_ts"] == pytest.approx(passed, abs=90)
        assert theirs["last_station_ts"] <= NOW - 1800
        track = (await client.get("/api/races/demo/runners/7/track")).json()
        assert max(track["time_s"]) <= NOW - 1800 and len(track["time_s"]) < len(RUN.time_s)
        r = await client.get("/api/races/demo/incidents")
        assert r.status_code == 403  # race HQ's incidents say where: not while positions held
        # a crew's runner page: the passes and progress of then (on the grid), no ETA; it was
        # a 403, and the public pages were left empty
        page = (await client.get("/api/races/demo/runners/7/progress")).json()
        assert page["passes"] and max(p["time_s"] for p in page["passes"]) <= NOW - 1800
        assert page["series"]["time_s"] and max(page["series"]["time_s"]) <= NOW - 1800
        assert all(s % 500 == 0 for s in page["series"]["progress_m"])
        assert page["etas"] == [] and page["held_back"] and page["excursions"] == []
        full = await client.get("/api/races/demo/runners/7/progress", headers=admin_headers())
        assert len(full.json()["passes"]) > len(page["passes"]) and full.json()["etas"] == []
        meta = (await client.get("/api/races/demo/dashboard")).json()
        assert meta["incidents"] is None and meta["admin"] is False


async def test_the_public_reads_no_incident_a_runners_own_token_reads_theirs(
    tmp_path: Path,
) -> None:
    """Race HQ's incidents and the runners' flags are not the public's: a course file's known
    error told every family "off course for sure" on the public map. The runner and their
    crew (the runner's own token) read theirs; race HQ may publish them."""
    lost = simulate_run(COURSE, start_ts=START + 10, interval_s=10.0, seed=3,
                        wrong_turn_at_m=4000.0, wrong_turn_angle_deg=80.0)  # fmt: skip
    now = float(lost.time_s[-1]) + 60.0
    async with hq(tmp_path, clock=lambda: now) as (_server, client):
        await _race(client, tmp_path)
        fixes = [{"bib": "9", "time": float(t), "lat": float(a), "lon": float(o)}
                 for t, a, o in zip(lost.time_s, lost.lat, lost.lon, strict=True)
                 if t < START + 10 + 4000.0 / 2.5 + 600]  # fmt: skip
        await client.post("/api/races/demo/runners", json={"bib": "9", "devices": ["dev-9"]},
                          headers=admin_headers())  # fmt: skip
        await client.post("/api/races/demo/fixes", json={"fixes": fixes}, headers=admin_headers())
        hq_view = (await client.get("/api/races/demo/runners/9", headers=admin_headers())).json()
        assert hq_view["status"] in ("off_course", "far_from_course"), hq_view["status"]
        theirs = (await client.get("/api/races/demo/runners/9")).json()
        assert theirs["status"] == "running" and theirs["flagged"] is False
        assert theirs["offset_m"] is None
        assert (await client.get("/api/races/demo/incidents?level=all")).status_code == 403
        page = (await client.get("/api/races/demo/runners/9/progress")).json()
        assert page["excursions"] == [] and page["etas"]  # (an exact view: ETAs shown)
        # the runner's own token: theirs, and nobody else's
        token = (await client.post("/api/races/demo/runners/9/token",
                                   headers=admin_headers())).json()["token"]  # fmt: skip
        own = {"Authorization": f"Bearer {token}"}
        r = await client.get("/api/races/demo/incidents?level=all", headers=own)
        assert r.status_code == 200 and {i["bib"] for i in r.json()["incidents"]} == {"9"}
        r = await client.get("/api/races/demo/incidents?bib=7", headers=own)
        assert r.status_code == 403 and "bib=9" in r.json()["error"]["hint"]
        mine = (await client.get("/api/races/demo/runners/9", headers=own)).json()
        assert mine["status"] == hq_view["status"]
        assert (await client.get("/api/races/demo/dashboard", headers=own)).json()[
            "incidents"
        ] == "9"
        assert (await client.get("/api/races/demo/runners/9/progress", headers=own)).json()[
            "excursions"
        ]
        # race HQ publishes them: everyone reads them (while no position is held back)
        await _view(client, incidents=True)
        assert (await client.get("/api/races/demo/incidents")).status_code == 200
        assert (await client.get("/api/races/demo/runners/9")).json()["status"] == hq_view["status"]


async def test_rounded_positions_round_the_progress_too(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        await _view(client, round_m=1000)
        mine = (await client.get("/api/races/demo/runners/7", headers=admin_headers())).json()
        theirs = (await client.get("/api/races/demo/runners/7")).json()
        assert theirs["progress_m"] == 1000 * (mine["progress_m"] // 1000)
        assert theirs["offset_m"] is None and theirs["pace_mps"] is None
        assert theirs["last_fix"]["lat"] != mine["last_fix"]["lat"]


async def test_positions_hidden_and_a_runner_who_opted_out(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        await _view(client, positions=False)
        listed = (await client.get("/api/races/demo/runners")).json()["runners"]
        assert {r["bib"] for r in listed} == {"7", "8"}
        assert all(r["last_fix"] is None for r in listed)
        assert (await client.get("/api/races/demo/runners/7/track")).status_code == 403
        r = await client.patch("/api/races/demo/runners/8", json={"hidden": True},
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 200
        listed = (await client.get("/api/races/demo/runners")).json()["runners"]
        assert [r["bib"] for r in listed] == ["7"]
        assert (await client.get("/api/races/demo/runners/8")).status_code == 404
        assert (await client.get("/api/races/demo/runners/8/events")).status_code == 404
        admin = (await client.get("/api/races/demo/runners", headers=admin_headers())).json()
        assert {r["bib"] for r in admin["runners"]} == {"7", "8"}


async def test_the_view_and_opt_outs_survive_a_restart(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        await _view(client, round_m=200)
        await client.patch("/api/races/demo/runners/8", json={"hidden": True},
                           headers=admin_headers())  # fmt: skip
    async with hq(tmp_path, clock=lambda: NOW) as (server, client):
        race = server.race("demo")
        assert race.view == PublicView(round_m=200) and race.hidden == {"8"}


async def test_a_bad_view_is_a_422_naming_the_key(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (_server, client):
        await _race(client, tmp_path)
        r = await client.patch("/api/races/demo", json={"public_view": {"delay_min": -5}},
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 422 and "public_view.delay_min" in r.json()["error"]["message"]


async def test_a_runners_own_token_posts_that_runners_fixes_only(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: NOW) as (server, client):
        await _race(client, tmp_path)
        r = await client.post("/api/races/demo/runners/7/token", headers=admin_headers())
        assert r.status_code == 201
        mine = {"Authorization": f"Bearer {r.json()['token']}"}
        t = NOW - 5
        (la,), (lo,) = COURSE.latlon_at([11_000.0])
        fixes = [{"bib": "7", "time": t, "lat": la, "lon": lo},
                 {"bib": "8", "time": t, "lat": la, "lon": lo},
                 {"device": "dev-7", "time": t + 1, "lat": la, "lon": lo}]  # fmt: skip
        r = await client.post("/api/races/demo/fixes", json={"fixes": fixes}, headers=mine)
        body = r.json()
        assert r.status_code == 200 and body["accepted"] == 2
        assert [e["where"] for e in body["errors"]] == ["[1]"]
        assert "bib 7 only" in body["errors"][0]["message"]
        r = await client.post("/api/races/demo/runners/8/upload", content=b"x", headers=mine)
        assert r.status_code == 403
        assert (await client.get("/api/races/demo/stats", headers=mine)).status_code == 403
        old = mine
        await client.post("/api/races/demo/runners/7/token", headers=admin_headers())
        r = await client.post("/api/races/demo/fixes", json={"fixes": fixes[:1]}, headers=old)
        assert r.status_code == 401  # a new token: the old one stops working
        assert server.runner("demo", "8").fixes == len(RUN.time_s)


def test_the_public_stream_leaves_out_opted_out_runners_and_race_hqs_incidents() -> None:
    class Race:
        def __init__(self) -> None:
            self.hidden = {"8"}
            self.view = PublicView(positions=False)
            self.runners: dict[str, object] = {}

    race = Race()
    assert public.message(race, "status", {"bib": "8", "to": "running"}, NOW) is None  # type: ignore[arg-type]
    assert public.message(race, "incident", {"bib": "7"}, NOW) is None  # type: ignore[arg-type]
    # positions hidden: a status change now says what the view holds back
    assert public.message(race, "status", {"bib": "7", "to": "running"}, NOW) is None  # type: ignore[arg-type]
    # a runner the race does not know (yet): not shown rather than shown whole
    assert public.message(race, "runner", {"bib": "9", "progress_m": 5.0}, NOW) is None  # type: ignore[arg-type]
    race.view = PublicView(round_m=100)
    assert public.message(race, "status", {"bib": "7", "to": "finished"}, NOW) == {  # type: ignore[arg-type]
        "bib": "7", "to": "finished"}  # fmt: skip
    # an exact view shows no incident or flag to the public, nor a status that says one;
    # the runner's own token reads theirs; race HQ may publish them; never what a runner's
    # device said (their SOS, their typed words and where they were), acknowledged or not
    race.view = PublicView()
    off = {"bib": "7", "kind": "off_course"}
    assert public.message(race, "incident", off, NOW) is None  # type: ignore[arg-type]
    assert public.message(race, "incident", off, NOW, "7") == off  # type: ignore[arg-type]
    assert public.message(race, "incident", off, NOW, "8") is None  # type: ignore[arg-type]
    went = {"bib": "7", "from": "running", "to": "off_course"}
    assert public.message(race, "status", went, NOW) is None  # type: ignore[arg-type]
    came = {"bib": "7", "from": "off_course", "to": "finished"}
    assert public.message(race, "status", came, NOW) == {**came, "from": "running"}  # type: ignore[arg-type]
    race.view = PublicView(incidents=True)
    for kind in ("incident", "flag", "incident_ack"):
        said = {"bib": "7", "kind": "message", "sentence": "Bib 7: message: my address is..."}
        assert public.message(race, kind, said, NOW) is None, kind  # type: ignore[arg-type]
        assert public.message(race, kind, said, NOW, "7") is None, kind  # type: ignore[arg-type]
        assert public.message(race, kind, off, NOW) == off  # type: ignore[arg-type]
    assert public.message(race, "status", went, NOW) == went  # type: ignore[arg-type]


async def test_a_runners_own_token_posts_what_their_device_said(tmp_path: Path) -> None:
    """An SOS from the runner's inReach, bridged with their own token, is theirs (it was
    dropped with the other runners' fixes, answered 200)."""
    async with hq(tmp_path, clock=lambda: NOW) as (server, client):
        await _race(client, tmp_path)
        r = await client.post("/api/races/demo/runners/7/token", headers=admin_headers())
        mine = {"Authorization": f"Bearer {r.json()['token']}"}
        (la,), (lo,) = COURSE.latlon_at([11_000.0])
        sos = {"imei": "dev-7", "messageCode": 4, "timeStamp": int(NOW - 30) * 1000,
               "point": {"latitude": la, "longitude": lo, "gpsFix": 2}}  # fmt: skip
        r = await client.post("/ingest/inreach", json={"Version": "2.0", "Events": [sos]},
                              headers=mine)  # fmt: skip
        assert r.status_code == 200, r.text
        assert [(i.bib, i.kind) for i in server.incidents("demo")] == [("7", "sos")]


async def test_a_replayed_race_is_delayed_on_its_own_clock(tmp_path: Path) -> None:
    """A recording replayed days later (a director rehearsing the public view): the delay
    was counted on the server's clock, so the public saw the newest fix at once."""
    async with hq(tmp_path, clock=lambda: NOW + 30 * 86400) as (server, client):
        await _race(client, tmp_path)
        await _view(client, delay_min=30)
        race_now = server.race_now("demo")
        assert race_now < NOW + 86400  # the recording's clock
        theirs = (await client.get("/api/races/demo/runners/7")).json()
        assert theirs["last_fix"]["time_s"] <= race_now - 1800
        track = (await client.get("/api/races/demo/runners/7/track")).json()
        assert max(track["time_s"]) <= race_now - 1800
