"""Race HQ removes a runner or a whole race (a rehearsal whose trackers the real race now
carries, a runner registered by mistake): everything of theirs goes, from the store and from
memory, the devices are free for the real roster, and a restart brings none of it back."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from pathlib import Path

import pytest

from coursewatch.live.removal import REMOVED, race_meta_keys
from coursewatch.protocols import Decoded, DeviceEvent, Fix
from coursewatch.sim.hq import ADMIN, add_race, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord
from coursewatch.web import public

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(10_000.0, n_stations=2)
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TABLES = ("runners", "devices", "fixes", "alerts", "incidents", "deliveries", "runner_states",
          "counts", "webhooks")  # fmt: skip


def _fixes(device: str, seed: int) -> Decoded:
    """A runner's first hour, by their tracker's id, with a low battery at the end."""
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=60.0, seed=seed)
    keep = run.time_s < START + 3600.0
    fixes = [
        Fix(float(t), float(a), float(b), device_id=device)
        for t, a, b in zip(run.time_s[keep], run.lat[keep], run.lon[keep], strict=True)
    ]
    decoded = Decoded(events=[DeviceEvent(fixes[-1].time_s, "battery_low", device_id=device)])
    for i, f in enumerate(fixes):
        decoded.add(f, i)
    return decoded  # fmt: skip


def _rows(db: Path, race_id: str, bib: str | None = None) -> dict[str, int]:
    """How many rows of the race (of the runner) each table holds."""
    with sqlite3.connect(db) as c:
        where = "race_id=?" + ("" if bib is None else " AND bib=?")
        args = (race_id,) if bib is None else (race_id, bib)
        tables = TABLES if bib is None else TABLES[:7]
        n = {t: c.execute(f"SELECT count(*) FROM {t} WHERE {where}", args).fetchone()[0]
             for t in tables}  # fmt: skip
        n["races"] = c.execute("SELECT count(*) FROM races WHERE id=?", (race_id,)).fetchone()[0]
        keys = race_meta_keys(race_id)
        marks = ",".join("?" * len(keys))
        n["meta"] = c.execute(f"SELECT count(*) FROM meta WHERE key IN ({marks})", keys).fetchone()[
            0
        ]
    return n


async def _removed(server: object, race_id: str) -> list[dict[str, object]]:
    """The ``removed`` events the race's stream carried."""
    stream = server._bus.subscribe(race_id, 0, 0.05, frozenset({REMOVED}))  # type: ignore[attr-defined]
    out = []
    async for msg in stream:
        if msg.kind == "ping":
            break
        out.append(dict(msg.data))
    return out


async def test_a_rehearsal_taken_out_frees_its_trackers_for_the_real_race(tmp_path: Path) -> None:
    db = tmp_path / "hq.db"
    async with hq(tmp_path, clock=lambda: START + 3700.0, webhook_allow_private=True) as (
        server,
        client,
    ):
        await add_race(server, tmp_path, COURSE, "rehearsal", START)
        await add_race(server, tmp_path, COURSE, "real", START)
        for bib in ("7", "8"):
            await server.put_runner(RunnerRecord("rehearsal", bib, f"R{bib}", (f"dev-{bib}",)))
            await server.ingest(functools.partial(_fixes, f"dev-{bib}", int(bib)), "native")
        await server.new_runner_token("rehearsal", "7")
        await server.set_hidden("rehearsal", "8", True)
        await server.set_runner_contacts("rehearsal", "7", crew=["ntfy://127.0.0.1:9/crew-7"])
        await server.set_feed("rehearsal", "7", {"kind": "spot", "id": "0onlsPreC4b"})
        await server.add_webhook("rehearsal", "http://127.0.0.1:9/hook", "s")
        before = _rows(db, "rehearsal", "7")
        assert min(before[t] for t in ("runners", "devices", "fixes", "incidents")) > 0, before
        # the real race's roster cannot take a rehearsal's tracker
        r = await client.post("/api/races/real/runners", json={"bib": "107", "devices": ["dev-7"]},
                              headers=HEADERS)  # fmt: skip
        assert r.status_code == 409 and "remove it there first" in r.text, r.text

        # a runner taken out: everything of theirs, and nothing of the other's
        r = await client.delete("/api/races/rehearsal/runners/7", headers=HEADERS)
        assert r.status_code == 200, r.text
        removed = r.json()["removed"]
        assert all(removed[t] == before[t] for t in TABLES[:7]), (removed, before)
        after = _rows(db, "rehearsal", "7")
        assert all(after[t] == 0 for t in TABLES[:7]), after
        assert _rows(db, "rehearsal", "8")["fixes"] > 0
        race = server.race("rehearsal")
        assert "7" not in race.runners and "7" not in race.runner_tokens
        assert "dev-7" not in server._registry.devices
        assert server.feed_status("rehearsal")["feeds"] == []
        assert server.contacts_of("rehearsal", "8")["crew"] == []
        assert (
            await client.get("/api/races/rehearsal/runners/7", headers=HEADERS)
        ).status_code == 404
        # its tracker is the real race's now, and so are its fixes
        r = await client.post("/api/races/real/runners", json={"bib": "107", "devices": ["dev-7"]},
                              headers=HEADERS)  # fmt: skip
        assert r.status_code == 201, r.text
        await server.ingest(lambda: _fixes("dev-7", 7), "native")
        assert _rows(db, "real", "107")["fixes"] == before["fixes"]

        # the whole rehearsal: runners, devices, fixes, incidents, webhooks, settings
        unknown = await client.delete("/api/races/nope", headers=HEADERS)
        assert unknown.status_code == 404, unknown.text
        anonymous = await client.delete("/api/races/rehearsal")  # race HQ's only
        assert anonymous.status_code == 401, anonymous.text
        # the race's open event streams end with it (httpx reads one to its end): race HQ's,
        # the runner's, and the public's (it ended with no word, and its board kept trying)
        await server.set_public("rehearsal", True)
        readers = (("", HEADERS), ("/runners/8", HEADERS), ("", {}))
        streams = [asyncio.create_task(client.get(f"/api/races/rehearsal{path}/events",
                                                  headers=headers))
                   for path, headers in readers]  # fmt: skip
        await asyncio.sleep(0.2)
        r = await client.delete("/api/races/rehearsal", headers=HEADERS)
        assert r.status_code == 200, r.text
        for ended in await asyncio.wait_for(asyncio.gather(*streams), 10.0):
            assert ended.text.endswith('event: removed\ndata: {"race": "rehearsal"}\n\n')
        assert r.json()["removed"]["runners"] == 1 and r.json()["removed"]["webhooks"] == 1
        assert set(_rows(db, "rehearsal").values()) == {0}, _rows(db, "rehearsal")
        assert [
            r["id"] for r in (await client.get("/api/races", headers=HEADERS)).json()["races"]
        ] == ["real"]
        assert "dev-8" not in server._registry.devices
        assert "rehearsal" not in server._pipeline.watches
        assert await _removed(server, "rehearsal") == [
            {"bib": "7", "hidden": False},
            {"race": "rehearsal"},
        ]
        # a hidden runner's removal is not told to the public
        await server.put_runner(RunnerRecord("real", "9", "Hid", ("dev-9",)))
        await server.set_hidden("real", "9", True)
        await server.delete_runner("real", "9")
        assert (await _removed(server, "real"))[-1] == {"bib": "9", "hidden": True}
        assert (
            public.message(server.race("real"), REMOVED, {"bib": "9", "hidden": True}, START)
            is None
        )
        # a race made again under the id starts afresh
        await add_race(server, tmp_path, COURSE, "rehearsal", START)
        assert server.race("rehearsal").runners == {}

    # a restart brings none of it back; the real race's runner keeps their fixes
    async with hq(tmp_path, clock=lambda: START + 3800.0) as (server, client):
        assert set(server.race("rehearsal").runners) == set()
        assert set(server.race("real").runners) == {"107"}
        assert server._registry.devices["dev-7"] == ("real", "107")
        assert len(server.fixes("real", "107").time_s) == before["fixes"]


async def test_a_batch_in_flight_when_its_runner_is_deleted_stores_nothing_of_theirs(
    tmp_path: Path,
) -> None:
    """A runner deleted while a batch of theirs waits in the pipeline (its unknown device
    noted first): its fixes and state were stored after the delete, for a runner who was not
    there any more (a bib registered again would have inherited them)."""
    db = tmp_path / "hq.db"
    async with hq(tmp_path, clock=lambda: START + 3700.0) as (server, _client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        decoded = _fixes("dev-7", 7)
        decoded.add(Fix(START + 60.0, 45.0, 6.0, device_id="stranger"), len(decoded.fixes))
        batch = asyncio.ensure_future(server.ingest(lambda: decoded, "native"))
        await asyncio.sleep(0)  # (the batch waits on the store for the stranger's count)
        removed = await server.delete_runner("demo", "7")
        await batch
        assert removed["runners"] == 1
        left = _rows(db, "demo", "7")
        assert all(left[t] == 0 for t in TABLES[:7]), left


async def test_a_delete_the_store_refuses_can_be_asked_again(tmp_path: Path) -> None:
    """The database away during a delete: 503, and nothing forgotten (it answered 404 when
    asked again, while the runner was still in the store and came back at the restart)."""
    from coursewatch.store import StoreUnavailable

    async with hq(tmp_path, clock=lambda: START + 3700.0) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        real = server._store.delete_runner

        async def away(race_id: str, bib: str) -> dict[str, int]:
            raise StoreUnavailable("the database went away: send again in a moment")

        server._store.delete_runner = away  # type: ignore[method-assign]
        r = await client.delete("/api/races/demo/runners/7", headers=HEADERS)
        assert r.status_code == 503, r.text
        assert server._registry.devices["dev-7"] == ("demo", "7")
        assert not server.runner("demo", "7").gone
        server._store.delete_runner = real  # type: ignore[method-assign]
        r = await client.delete("/api/races/demo/runners/7", headers=HEADERS)
        assert r.status_code == 200 and r.json()["removed"]["runners"] == 1, r.text
