"""What runners' own devices say (SOS, battery, messages) becomes race HQ's incidents, first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coursewatch.live.server import Server
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.sim.hq import add_race, admin_headers, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
RUN = simulate_run(COURSE, start_ts=START + 5, interval_s=300.0, seed=3)


def _event(i: int, **extra: Any) -> dict[str, Any]:
    t, lat, lon = float(RUN.time_s[i]), float(RUN.lat[i]), float(RUN.lon[i])
    point = {"latitude": lat, "longitude": lon, "altitude": 100.0, "gpsFix": 2}
    return {"imei": "300434", "messageCode": 0, "timeStamp": int(t * 1000), "point": point,
            "status": {"lowBattery": 0}, **extra}  # fmt: skip


async def _post(server: Server, *events: dict[str, Any]) -> None:
    payload = {"Version": "3.0", "Events": list(events)}
    await server.ingest(lambda: decode_inreach(payload), "inreach")


async def _setup(server: Server, tmp_path: Path) -> None:
    await add_race(server, tmp_path, COURSE, "demo", START)
    await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))


def _device_incidents(server: Server) -> list[tuple[str, bool, int]]:
    return [(i.kind, i.open, len(i.updates)) for i in server.incidents("demo")]


async def test_an_sos_is_one_incident_of_the_highest_priority_until_cancelled(
    tmp_path: Path,
) -> None:
    async with hq(tmp_path) as (server, client):
        await _setup(server, tmp_path)
        await _post(server, _event(0), _event(1))
        await _post(server, _event(2, messageCode=4), _event(3, messageCode=6), _event(4))
        await _post(server, _event(3, messageCode=6))  # the same message again: nothing new
        assert _device_incidents(server) == [("sos", True, 1)]
        r = await client.get("/api/races/demo/incidents", headers=admin_headers())
        (sos,) = r.json()["incidents"]
        assert sos["priority"] == 0 and "SOS" in sos["sentence"]
        assert (sos["lat"], sos["lon"]) == pytest.approx((RUN.lat[2], RUN.lon[2]))
        runner = (await client.get("/api/races/demo/runners/7", headers=admin_headers())).json()
        assert runner["status"] == "sos"  # race HQ sees it on the runner, not only the incident
        await client.patch("/api/races/demo", json={"public": True}, headers=admin_headers())
        shown = (await client.get("/api/races/demo/runners")).json()["runners"][0]
        assert shown["status"] == "running"  # the public does not: not on the runner, ...
        page = (await client.get("/api/races/demo/runners/7/progress")).json()
        assert page["runner"]["status"] == "running"
        assert (await client.get("/api/races/demo/incidents")).status_code == 403
        view = {"public_view": {"incidents": True}}  # race HQ's published: not the device's
        await client.patch("/api/races/demo", json=view, headers=admin_headers())
        listed = (await client.get("/api/races/demo/incidents")).json()["incidents"]
        assert [i["kind"] for i in listed] == []  # ... nor what their device said
        await _post(server, _event(5, messageCode=7))
        assert _device_incidents(server) == [("sos", False, 2)]
        runner = (await client.get("/api/races/demo/runners/7", headers=admin_headers())).json()
        assert runner["status"] != "sos"
        assert "cancelled" in server.incidents("demo")[0].sentence


async def test_a_message_typed_during_an_sos_is_part_of_it(tmp_path: Path) -> None:
    """A runner in an SOS typing "broken ankle, 2 km below the pass" made an incident of its own
    under the SOS: it is an update of the SOS race HQ is dealing with (the first thing on the
    board), also after a restart; a message after the SOS ended is its own again."""
    async with hq(tmp_path) as (server, _client):
        await _setup(server, tmp_path)
        await _post(server, _event(0), _event(1, messageCode=4, freeText="Fell, ankle broken"))
        await _post(server, _event(2, messageCode=3, freeText="Warm, in my bivvy bag"))
        assert _device_incidents(server) == [("sos", True, 3)]
        sos = server.incidents("demo")[0]
        assert "during their SOS: \u201cWarm, in my bivvy bag\u201d" in sos.sentence
    async with hq(tmp_path) as (server, _client):
        await _post(server, _event(2, messageCode=3, freeText="Warm, in my bivvy bag"))  # again
        await _post(server, _event(3, messageCode=7), _event(4, messageCode=3, freeText="ok"))
        assert _device_incidents(server) == [("sos", False, 4), ("message", True, 1)]
    async with hq(tmp_path) as (server, _client):  # the feed's overlap brings it once more
        await _post(server, _event(2, messageCode=3, freeText="Warm, in my bivvy bag"))
        assert _device_incidents(server) == [("sos", False, 4), ("message", True, 1)]


async def test_battery_low_until_fine_and_a_message_without_a_position(tmp_path: Path) -> None:
    async with hq(tmp_path) as (server, _client):
        await _setup(server, tmp_path)
        await _post(server, _event(0), _event(1, status={"lowBattery": 1}))
        await _post(server, _event(2, status={"lowBattery": 1}))
        text = _event(3, messageCode=3, freeText=" Twisted ankle, walking to the aid ")
        text["point"] = {"latitude": 0.0, "longitude": 0.0, "gpsFix": 0}
        await _post(server, text, _event(4))
        # low again 10 minutes after it was fine (a tracker at its threshold in the cold):
        # nothing new for race HQ and the crew
        await _post(server, _event(6, status={"lowBattery": 1}), _event(7))
        kinds = _device_incidents(server)
        assert kinds == [("battery_low", False, 2), ("message", True, 1)]
        message = server.incidents("demo")[1]
        assert "Twisted ankle, walking to the aid" in message.sentence
        assert (message.lat, message.lon) == pytest.approx((RUN.lat[2], RUN.lon[2]))


async def test_an_sos_whose_position_is_garbled_still_reaches_race_hq(tmp_path: Path) -> None:
    async with hq(tmp_path) as (server, _client):
        await _setup(server, tmp_path)
        await _post(server, _event(0), _event(1))
        garbled = _event(2, messageCode=4)
        garbled["point"] = {"latitude": 1e400, "longitude": "x"}
        await _post(server, garbled)  # no fix in it: the SOS alone
        assert _device_incidents(server) == [("sos", True, 1)]
        sent = [(m.kind, m.data) for m in server._bus._ring["demo"]]  # type: ignore[attr-defined]
        # the runner's row turns red though no fix came: a status change on the race's stream
        assert ("status", {"bib": "7", "from": "running", "to": "sos"}) in sent
        sos = server.incidents("demo")[0]
        assert (sos.lat, sos.lon) == pytest.approx((RUN.lat[1], RUN.lon[1]))  # the last fix


async def test_an_sos_still_open_goes_on_after_a_restart(tmp_path: Path) -> None:
    async with hq(tmp_path) as (server, _client):
        await _setup(server, tmp_path)
        await _post(server, _event(0), _event(1, messageCode=4))
    async with hq(tmp_path) as (server, _client):
        await _post(server, _event(2, messageCode=6))  # still in SOS: no second incident
        await _post(server, _event(3, messageCode=7))
        assert _device_incidents(server) == [("sos", False, 2)]


async def test_after_a_restart_only_the_device_that_began_the_sos_ends_it(
    tmp_path: Path,
) -> None:
    """The crew's messenger on the runner's record: before a restart its "cancelled" did not
    end the runner's SOS; after one it did (the device was not kept)."""
    async with hq(tmp_path) as (server, _client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434", "300435")))
        await _post(server, _event(0), _event(1, messageCode=4))
    async with hq(tmp_path) as (server, _client):
        await _post(server, _event(2, messageCode=7, imei="300435"))
        assert _device_incidents(server) == [("sos", True, 1)]
        await _post(server, _event(3, messageCode=7))
        assert _device_incidents(server) == [("sos", False, 2)]
