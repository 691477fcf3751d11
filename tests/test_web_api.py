"""The JSON API in-process: races, runners, batches, incidents, auth and the error shape."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import pytest

from coursewatch.geo import haversine_m
from coursewatch.sim.field import write_race
from coursewatch.sim.hq import ADMIN, add_race, admin_headers, hq
from coursewatch.sim.simulate import simulate_run, trail_course

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)


def _race_payload(tmp_path: Path, race_id: str = "demo") -> dict[str, object]:
    race_file = write_race(tmp_path / "files", COURSE, START)
    course = (tmp_path / "files" / "course.gpx").read_bytes()
    return {
        "id": race_id,
        "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
        "course_file": {"base64": base64.b64encode(course).decode(), "suffix": ".gpx"},
    }


async def _setup(client: httpx.AsyncClient, tmp_path: Path) -> dict[str, object]:
    r = await client.post("/api/races", json=_race_payload(tmp_path), headers=admin_headers())
    assert r.status_code == 201, r.text
    race = r.json()
    runners = {"runners": [{"bib": "7", "name": "Ann", "devices": ["dev-7"]},
                           {"bib": "8", "name": "Ben", "devices": ["dev-8"]}]}  # fmt: skip
    r = await client.post("/api/races/demo/runners", json=runners, headers=admin_headers())
    assert r.status_code == 201, r.text
    assert isinstance(race, dict)
    return race


def _batch(bib: str, run_kwargs: dict[str, object]) -> list[dict[str, object]]:
    run = simulate_run(COURSE, start_ts=START + 10, interval_s=5.0, **run_kwargs)  # type: ignore[arg-type]
    return [
        {"bib": bib, "time": float(t), "lat": float(la), "lon": float(lo)}
        for t, la, lo in zip(run.time_s, run.lat, run.lon, strict=True)
    ]


async def test_race_runner_batch_alert_flow(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, client):
        race = await _setup(client, tmp_path)
        token = race["ingest_token"]
        fixes = _batch("7", {"wrong_turn_at_m": 4000.0, "wrong_turn_angle_deg": 80.0})
        auth = {"Authorization": f"Bearer {token}"}
        for i in range(0, len(fixes), 500):
            r = await client.post("/api/races/demo/fixes", json={"fixes": fixes[i : i + 500]},
                                  headers=auth)  # fmt: skip
            assert r.status_code == 200, r.text
        got = (await client.get("/api/races/demo/incidents", headers=admin_headers())).json()
        (off,) = [i for i in got["incidents"] if i["episode"].startswith("course:")]
        # one incident for the whole episode: flagged, confirmed for HQ, back on course
        assert [u["kind"] for u in off["updates"]] == ["off_course", "alert", "back_on_course"]
        assert (off["kind"], off["level"], off["open"]) == ("off_course", "alert", False)
        first = off["updates"][0]["sentence"]
        assert first.startswith("Bib 7 ") and "km 4." in first and "m off course" in first
        flags = await client.get("/api/races/demo/incidents?level=flag", headers=admin_headers())
        assert all(i["level"] == "flag" for i in flags.json()["incidents"])
        bad = await client.get("/api/races/demo/incidents?level=loud", headers=admin_headers())
        assert bad.status_code == 400 and bad.json()["error"]["where"] == "level"
        runners = (await client.get("/api/races/demo/runners", headers=admin_headers())).json()
        first = runners["runners"][0]
        assert first["bib"] == "7" and first["status"] == "finished"
        assert first["finish_ts"] in {f["time"] for f in fixes}  # the fix that got there
        assert first["devices"] == ["dev-7"]
        assert runners["runners"][1]["status"] == "not_started"
        track = (await client.get("/api/races/demo/runners/7/track", headers=auth)).json()
        assert len(track["time_s"]) == len(fixes)
        r = await client.post(f"/api/races/demo/incidents/{off['id']}/ack", json={"by": "Zoe"},
                              headers=admin_headers())  # fmt: skip
        assert r.json()["ack_by"] == "Zoe"
        sent: list[str] = []
        real = server._bus.publish

        def spy(race_id: str, kind: str, *args: object, **kwargs: object) -> object:
            sent.append(kind)
            return real(race_id, kind, *args, **kwargs)  # type: ignore[arg-type]

        server._bus.publish = spy  # type: ignore[method-assign]
        r = await client.post(f"/api/races/demo/incidents/{off['id']}/ack", json={"by": "Max"},
                              headers=admin_headers())  # fmt: skip
        assert r.json()["ack_by"] == "Zoe", r.json()  # the first stands (Max overwrote it)
        assert "incident_ack" not in sent, sent  # ... and nothing is sent again
        geo = (await client.get("/api/races/demo/course.geojson", headers=auth)).json()
        assert geo["features"][0]["geometry"]["type"] == "LineString"
        assert [f["properties"]["name"] for f in geo["features"][1:]] == [
            "Aid 1", "Aid 2", "Finish"
        ]  # fmt: skip


async def test_batch_with_bad_fixes_keeps_the_good_ones(tmp_path: Path) -> None:
    async with hq(tmp_path, clock=lambda: START + 86400) as (_server, client):
        await _setup(client, tmp_path)
        fixes = _batch("7", {})[:20]
        fixes[3] = {**fixes[3], "lat": 123.0}
        fixes[5] = {**fixes[5], "time": "yesterday"}
        fixes[6] = {**fixes[6], "bib": "99"}
        fixes[7] = {**fixes[7], "lat": 0.0, "lon": 0.0}
        fixes[8] = {**fixes[8], "time": START - 3600}
        fixes.append(dict(fixes[0]))
        r = await client.post("/api/races/demo/fixes", json=fixes, headers=admin_headers())
        body = r.json()
        assert r.status_code == 200
        assert body["accepted"] == 15 and body["duplicates"] == 1
        assert body["dropped"] == {"unknown_bib": 1, "no_position": 1, "before_start": 1}
        wheres = [e["where"] for e in body["errors"]]
        assert wheres == ["fixes[3].lat", "fixes[5].time", "[6]"]
        assert all(e["message"] and e["hint"] for e in body["errors"])
        stats = (await client.get("/api/races/demo/stats", headers=admin_headers())).json()
        assert stats["fixes_stored"] == 15
        assert stats["counts"]["invalid"] == 2 and stats["counts"]["duplicate"] == 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("post", "/api/races/demo/fixes", {"content": b"{not json"}, 400, "invalid_json"),
        ("post", "/api/races/demo/fixes", {"json": {"nope": 1}}, 400, "invalid_payload"),
        ("post", "/api/races/demo/fixes", {"json": [{"bib": "7"}]}, 422, "invalid_fixes"),
        ("get", "/api/races/nope/runners", {}, 404, "not_found"),
        ("get", "/api/nowhere", {}, 404, "not_found"),
        ("delete", "/api/races/demo/runners", {}, 405, "method_not_allowed"),
        ("post", "/api/races/demo/fixes", {"content": b"[" + b" " * 3_000_000 + b"]"}, 413,
         "body_too_large"),
    ],
)  # fmt: skip
async def test_errors_have_one_shape(
    tmp_path: Path, method: str, path: str, kwargs: dict[str, object], status: int, code: str
) -> None:
    async with hq(tmp_path) as (_server, client):
        await _setup(client, tmp_path)
        r = await client.request(method.upper(), path, headers=admin_headers(), **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["code"] == code and err["status"] == status
        assert err["message"] and err["hint"], err


async def test_auth(tmp_path: Path) -> None:
    async with hq(tmp_path) as (_server, client):
        race = await _setup(client, tmp_path)
        r = await client.get("/api/races/demo/runners")
        assert r.status_code == 401 and r.json()["error"]["message"] == "race 'demo' is not public"
        # a mistyped token is told so (it read "race 'demo' is not public" as well)
        r = await client.get("/api/races/demo/incidents", headers={"Authorization": "Bearer xyz"})
        assert r.status_code == 401 and "the token given does not open" in r.text, r.text
        r = await client.post("/api/races", json={}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await client.post("/api/races/demo/fixes?token=wrong", json=[])
        assert r.status_code == 401
        token = race["ingest_token"]
        r = await client.post("/api/races", json={}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await client.get(f"/api/races/demo/runners?token={token}")
        assert r.status_code == 200 and "devices" not in r.json()["runners"][0]
        await client.patch("/api/races/demo", json={"public": True}, headers=admin_headers())
        r = await client.get("/api/races/demo/runners")
        assert r.status_code == 200 and "devices" not in r.json()["runners"][0]
        assert [x["id"] for x in (await client.get("/api/races")).json()["races"]] == ["demo"]
        assert (await client.post("/api/races/demo/incidents/1/ack")).status_code == 401
        assert ADMIN not in (await client.get("/api/races/demo")).text


async def test_device_conflict_and_patch(tmp_path: Path) -> None:
    async with hq(tmp_path) as (_server, client):
        await _setup(client, tmp_path)
        r = await client.post("/api/races/demo/runners", json={"bib": "9", "devices": ["dev-7"]},
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 409 and "already registered" in r.json()["error"]["message"]
        r = await client.patch("/api/races/demo/runners/8", json={"dnf": True},
                               headers=admin_headers())  # fmt: skip
        assert r.json()["status"] == "dnf" and r.json()["name"] == "Ben"
        assert r.json()["next_station"] is None and r.json()["pace_mps"] is None  # out


async def test_openapi_and_index(tmp_path: Path) -> None:
    async with hq(tmp_path) as (server, client):
        doc = (await client.get("/api/openapi.json")).json()
        assert doc["openapi"].startswith("3.")
        assert "/api/races/{race}/events" in doc["paths"]
        assert "post" in doc["paths"]["/ingest/owntracks"]
        page = await client.get("/")
        assert page.status_code == 200 and "coursewatch" in page.text
        # races listed newest first, each with its start: a rehearsal beside the real race
        await add_race(server, tmp_path / "a", trail_course(8_000.0), "rehearsal", START)
        await add_race(server, tmp_path / "b", trail_course(8_000.0), "real", START + 86_400)
        page = await client.get("/", headers=admin_headers())
        assert page.text.index('"/api/races/real"') < page.text.index('"/api/races/rehearsal"')
        assert "Fri 29 May 2026" in page.text, page.text


async def test_a_replayed_recording_runs_on_its_own_clock(tmp_path: Path) -> None:
    """Fixes of a race run months ago, posted now (`coursewatch replay`): race HQ's clock,
    the incidents' times and their sentences are the recording's, never the wall clock's."""
    wall = [START + 200 * 86_400.0]
    async with hq(tmp_path, clock=lambda: wall[0]) as (server, client):
        await _setup(client, tmp_path)
        fixes = _batch("7", {"stop_at_m": 5_000.0})
        r = await client.post("/api/races/demo/fixes", json={"fixes": fixes},
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 200
        last = float(fixes[-1]["time"])  # type: ignore[arg-type]
        for _ in range(4 * 60):  # four hours of ticks, nothing more from the runner
            wall[0] += 60.0
            await server.tick()
        meta = (await client.get("/api/races/demo/dashboard", headers=admin_headers())).json()
        assert abs(meta["now_ts"] - (last + 4 * 3600.0)) < 120.0
        got = await client.get("/api/races/demo/incidents?level=all", headers=admin_headers())
        incidents = got.json()["incidents"]
        assert {u["kind"] for i in incidents for u in i["updates"]} >= {"signal_lost"}
        times = [u["time_s"] for i in incidents for u in i["updates"]]
        assert all(START <= t <= last + 5 * 3600.0 for t in times), times
        runner = (await client.get("/api/races/demo/runners/7", headers=admin_headers())).json()
        assert runner["status"] == "silent"


async def test_a_stored_race_that_no_longer_loads_is_reported_and_comes_back(
    tmp_path: Path,
) -> None:
    """A race whose stored course fails today's checks (a point 100 km off: the course
    geometry limits came later) does not keep HQ down: it is listed for race HQ, kept in the
    store, and loads again with its runners when its files are sent again."""
    import sqlite3

    from coursewatch.sim.hq import add_race
    from coursewatch.store import RunnerRecord

    async with hq(tmp_path) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
    gpx = (tmp_path / "demo" / "course.gpx").read_bytes()
    stray = b'<trkpt lat="46.9" lon="7.0"></trkpt></trkseg>'  # a sign slip: 100 km off
    with sqlite3.connect(tmp_path / "hq.db") as db:
        db.execute("UPDATE races SET course_bytes=?", (gpx.replace(b"</trkseg>", stray, 1),))
    async with hq(tmp_path) as (server, client):
        assert "demo" in server.not_loaded and "point" in server.not_loaded["demo"]
        listed = (await client.get("/api/races", headers=admin_headers())).json()
        assert listed["races"] == [] and listed["not_loaded"][0]["id"] == "demo"
        assert "not_loaded" not in (await client.get("/api/races")).json()  # race HQ only
        await add_race(server, tmp_path, COURSE, "demo", START)  # the files sent again
        assert not server.not_loaded and server.runner("demo", "7").record.name == "Ann"


async def test_a_device_listed_twice_is_registered_once(tmp_path: Path) -> None:
    """Found by schemathesis: the same id twice in one runner's list was a 500."""
    async with hq(tmp_path) as (server, client):
        await add_race(server, tmp_path, trail_course(12_000.0, n_stations=2), "demo")
        twice = {"bib": "7", "devices": ["dev-1", "dev-1", "dev-2"]}
        r = await client.post("/api/races/demo/runners", headers=admin_headers(), json=twice)
        assert r.status_code == 201, r.text
        assert server.runner("demo", "7").record.devices == ("dev-1", "dev-2")


async def test_a_runner_finished_short_of_the_lines_end_has_the_finish_and_nothing_ahead(
    tmp_path: Path,
) -> None:
    """The finish is within a step of the end of the line (a watch stopped 60 m before it, a
    last ping held short): the runner page showed "Next: Finish" and its ETA, and no finish
    among the station passes."""
    async with hq(tmp_path, clock=lambda: START + 86400) as (_server, client):
        await _setup(client, tmp_path)
        fixes = _batch("7", {})
        lat, lon = np.array([f["lat"] for f in fixes]), np.array([f["lon"] for f in fixes])
        to_end = haversine_m(lat, lon, float(COURSE.lat[-1]), float(COURSE.lon[-1]))
        short = fixes[: int(np.argmax(to_end < 60.0))]  # the watch stopped 60 m before the end
        r = await client.post("/api/races/demo/fixes", json={"fixes": short},
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text
        page = (await client.get("/api/races/demo/runners/7/progress",
                                 headers=admin_headers())).json()  # fmt: skip
        assert page["runner"]["status"] == "finished" and page["runner"]["next_station"] is None
        assert page["etas"] == []
        assert page["passes"][-1]["distance_m"] == pytest.approx(COURSE.length_m, abs=1.0)


async def test_the_runner_page_analyses_a_track_once_per_new_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every open runner page asks every 10 s: the whole track was analysed each time (a
    second for a day of 1 s fixes, on the event loop)."""
    from coursewatch.live import views

    calls: list[int] = []
    real = views.analyze

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(views, "analyze", counted)
    async with hq(tmp_path, clock=lambda: START + 86400) as (_server, client):
        await _setup(client, tmp_path)
        fixes = _batch("7", {})
        for part in (fixes[:100], fixes[100:200]):
            r = await client.post("/api/races/demo/fixes", json={"fixes": part},
                                  headers=admin_headers())  # fmt: skip
            assert r.status_code == 200
            for _ in range(3):
                page = await client.get("/api/races/demo/runners/7/progress",
                                        headers=admin_headers())  # fmt: skip
                assert page.status_code == 200 and page.json()["series"]["time_s"]
        assert len(calls) == 2


async def test_a_satellite_messengers_imei_is_no_osmand_credential(tmp_path: Path) -> None:
    """An inReach's IMEI, registered for IPC Outbound (posted with the ingest token), is shown
    on its MapShare page: anyone could post fixes as the runner over OsmAnd, where the id is
    the credential. Answered as any id (nothing to learn), taken nowhere, listed as unknown."""
    async with hq(tmp_path, clock=lambda: START + 3600) as (server, client):
        await _setup(client, tmp_path)
        imei = "300434060000007"
        r = await client.patch("/api/races/demo/runners/7", json={"devices": ["dev-7", imei]},
                               headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text
        (la,), (lo,) = COURSE.latlon_at([1000.0])
        q = f"lat={la}&lon={lo}&timestamp={START + 600:.0f}"
        for device in (imei, "dev-7"):
            r = await client.get(f"/ingest/osmand?id={device}&{q}")
            assert r.json() == {"received": 1}
        assert len(server.fixes("demo", "7").time_s) == 1  # dev-7's
        stats = (await client.get("/api/races/demo/stats", headers=admin_headers())).json()
        assert imei in {d["device"] for d in stats["unknown_devices"]}


async def test_the_page_of_a_runner_far_from_the_course_answers(tmp_path: Path) -> None:
    """A runner whose every fix is 40 km from the course (another race, the tracker at
    home): the runner page race HQ opens first answered 422 "no fix within 1 km of
    course_file: is this the right course?" to a plain GET."""
    async with hq(tmp_path, clock=lambda: START + 86400) as (_server, client):
        await _setup(client, tmp_path)
        far = [{**f, "lat": f["lat"] + 0.4} for f in _batch("7", {})[:200]]
        r = await client.post("/api/races/demo/fixes", json={"fixes": far},
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text
        page = await client.get("/api/races/demo/runners/7/progress", headers=admin_headers())
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["passes"] == [] and body["excursions"] == []
        assert body["runner"]["status"] == "far_from_course", body["runner"]
        # never on the course: no ETAs (they were at 2 m/s from km 0, days on)
        assert all(e["eta_ts"] is None for e in body["etas"]), body["etas"]
        assert body["runner"]["finish_eta_ts"] is None, body["runner"]
