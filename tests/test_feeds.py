"""Feed pollers against a real local MapShare/SPOT server with the real feeds' quirks: each
runner's feed gets a clear status, and one bad feed affects nothing else."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from coursewatch.errors import InputError
from coursewatch.live.server import Server
from coursewatch.sim.feedserver import Account, FeedServer
from coursewatch.sim.hq import add_race, free_port, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import RunnerRecord, StoreUnavailable

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
RUN = simulate_run(COURSE, start_ts=START + 5, interval_s=300.0, seed=3)


def events(imei: str, n: int = 8, **extra: Any) -> list[dict[str, Any]]:
    """IPC events of a simulated run, as the feed server turns them into feeds."""
    out = []
    for i in range(n):
        point = {"latitude": float(RUN.lat[i]), "longitude": float(RUN.lon[i]),
                 "altitude": 100.0, "gpsFix": 2}  # fmt: skip
        out.append({"imei": imei, "messageCode": 0, "timeStamp": int(RUN.time_s[i]) * 1000,
                    "point": point, "status": {"lowBattery": 0}})  # fmt: skip
    for i, changes in extra.items():
        out[int(i[1:])].update(changes)
    return out


@pytest.fixture
def feeds() -> Any:
    server = FeedServer(slow_s=3.0)
    server.start(free_port())
    yield server
    server.stop()


@asynccontextmanager
async def race(
    tmp_path: Path, feeds: FeedServer, clock_s: float = START + 3 * 3600, **settings: Any
) -> AsyncIterator[Server]:
    opts = {"feed_poll_s": 0.05, "feed_hourly_budget": 1_000_000, **settings}
    async with hq(tmp_path, clock=lambda: clock_s, mapshare_url=feeds.url,
                  spot_url=feeds.url, **opts) as (server, _client):  # fmt: skip
        await add_race(server, tmp_path, COURSE, "demo", START)
        for bib in ("1", "2"):
            await server.put_runner(RunnerRecord("demo", bib, f"Runner {bib}"))
        yield server


def status(server: Server, bib: str) -> dict[str, Any]:
    return next(f for f in server.feed_status("demo")["feeds"] if f["bib"] == bib)


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_a_password_protected_map(tmp_path: Path, feeds: FeedServer) -> None:
    feeds.mapshare["ann"] = Account(events("111"), password="s3cret")
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: status(server, "1")["state"] == "error")
        assert status(server, "1")["last_error"] == (
            "the feed needs a password, or the one given is wrong"
        )
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann", "password": "s3cret"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == 8)
        await until(lambda: status(server, "1")["state"] == "ok")  # (said after the store)
        assert "password" not in status(server, "1")  # never shown


async def test_a_wrong_name_a_slow_feed_and_broken_ones_leave_the_others_alone(
    tmp_path: Path, feeds: FeedServer
) -> None:
    feeds.mapshare["good"] = Account(events("222"), reveal=2)
    feeds.mapshare["slow"] = Account(events("333"), quirk="slow")
    feeds.mapshare["broken"] = Account(events("444"), quirk="malformed")
    feeds.mapshare["bomb"] = Account(events("555"), quirk="bomb")
    feeds.spot["broken"] = Account(events("666"), quirk="malformed")
    said = {
        "nobody": "MapShare has no feed by that name: check the name in the feed's address",
        "slow": "no answer within 0.5 s",
        "broken": "the MapShare answer is not well-formed XML (",
        "bomb": "the MapShare answer was refused: it declares XML entities",
    }
    async with race(tmp_path, feeds, feed_timeout_s=0.5) as server:
        for i, name in enumerate(said, start=3):
            await server.put_runner(RunnerRecord("demo", str(i)))
            await server.set_feed("demo", str(i), {"kind": "mapshare", "id": name})
        await server.put_runner(RunnerRecord("demo", "9"))
        await server.set_feed("demo", "9", {"kind": "spot", "id": "broken"})
        await server.set_feed("demo", "2", {"kind": "mapshare", "id": "good"})
        await until(lambda: len(server.fixes("demo", "2").time_s) == 8, 15.0)
        await until(lambda: all(status(server, str(i))["last_error"] for i in (3, 4, 5, 6, 9)))
        for i, (_name, words) in enumerate(said.items(), start=3):
            assert words in status(server, str(i))["last_error"]
            assert "download" not in status(server, str(i))["last_error"]  # no file to fetch
            assert status(server, str(i))["state"] == "error"
        assert "not JSON" in status(server, "9")["last_error"]
        assert len(server.fixes("demo", "2").time_s) == 8  # the good feed, 2 a poll


async def test_a_429_stops_the_host_for_its_retry_after(tmp_path: Path, feeds: FeedServer) -> None:
    feeds.mapshare["ann"] = Account(events("111"), reveal=1)
    feeds.mapshare["bob"] = Account(events("222"), reveal=1)
    async with race(tmp_path, feeds) as server:
        feeds.block(1, retry_after_s=2)
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await server.set_feed("demo", "2", {"kind": "mapshare", "id": "bob"})
        await until(lambda: feeds.requests["429"] == 1)
        blocked_at = time.monotonic()
        await asyncio.sleep(0.3)  # a request on its way when the 429 came (the other feed)
        asked = feeds.requests["mapshare"]
        await until(lambda: feeds.requests["mapshare"] > asked, 5.0)
        assert time.monotonic() - blocked_at >= 1.8  # nothing to that host meanwhile
        errors = [status(server, b)["last_error"] for b in ("1", "2")]
        assert any("blocked by the feed host" in e for e in errors)
        await until(lambda: all(len(server.fixes("demo", b).time_s) == 8 for b in ("1", "2")))


async def test_spot_single_message_nothing_new_and_a_wrong_id(
    tmp_path: Path, feeds: FeedServer
) -> None:
    feeds.spot["one"] = Account(events("777", n=1))
    feeds.spot["none"] = Account([])
    async with race(tmp_path, feeds) as server:
        await server.put_runner(RunnerRecord("demo", "3"))
        await server.set_feed("demo", "1", {"kind": "spot", "id": "one"})
        await server.set_feed("demo", "2", {"kind": "spot", "id": "none"})
        await server.set_feed("demo", "3", {"kind": "spot", "id": "wrong"})
        await until(lambda: status(server, "1")["polls"] > 1 and status(server, "2")["polls"] > 1)
        assert len(server.fixes("demo", "1").time_s) == 1
        assert status(server, "2")["state"] == "ok"  # E-0195: nothing new, not an error
        await until(lambda: status(server, "3")["state"] == "error")
        assert "E-0160" in status(server, "3")["last_error"]


async def test_an_sos_and_a_message_from_a_feed(tmp_path: Path, feeds: FeedServer) -> None:
    feeds.mapshare["ann"] = Account(events("111", e5={"messageCode": 4, "freeText": "ankle"}))
    feeds.spot["bob"] = Account(events("222", e6={"messageCode": 4}))
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await server.set_feed("demo", "2", {"kind": "spot", "id": "bob"})
        await until(lambda: len(server.incidents("demo")) == 2)
        found = {(i.bib, i.kind) for i in server.incidents("demo")}
        assert found == {("1", "sos"), ("2", "sos")}  # (the text sent with it: part of it)
        ann = next(i for i in server.incidents("demo") if i.bib == "1")
        # sent with the SOS: the SOS first (it read as a chat message: "message from the
        # runner during their SOS: "SOS"", and no update said an SOS had begun)
        assert ann.sentence.startswith("Bib 1: SOS from their device, with a message: \u201cankle")


async def test_a_long_sos_polled_again_and_again_is_one_incident(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """MapShare says In Emergency on every message until the cancel, and every poll asks for
    the last hour again: one SOS, closed once, never raised again by its old messages."""
    long_run = simulate_run(COURSE, start_ts=START + 5, interval_s=300.0, seed=3, pace_mps=0.5)
    n = 35  # 2 h 55 min of messages (the clock is at 3 h)
    events = []
    for i in range(n):
        point = {"latitude": float(long_run.lat[i]), "longitude": float(long_run.lon[i])}
        code = 4 if i == 3 else 7 if i == 33 else 0  # SOS for 2 h 30 min
        events.append({"imei": "111", "messageCode": code, "point": point,
                       "timeStamp": int(long_run.time_s[i]) * 1000})  # fmt: skip
    feeds.mapshare["ann"] = Account(events, reveal=2)
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == n, 20.0)
        polls = status(server, "1")["polls"]
        await until(lambda: status(server, "1")["polls"] >= polls + 5)  # the last hour again
        sos = [i for i in server.incidents("demo") if i.kind == "sos"]
        assert len(sos) == 1 and not sos[0].open and len(sos[0].updates) == 2
        assert sos[0].opened_s == events[3]["timeStamp"] / 1000


async def test_a_feed_address_into_this_machine_or_its_network_is_refused(
    tmp_path: Path, feeds: FeedServer
) -> None:
    async with race(tmp_path, feeds) as server:
        for address in ("http://169.254.169.254/Feed/Share/x", "http://127.0.0.1:9/ann"):
            with pytest.raises(InputError, match="feed address refused"):
                await server.set_feed("demo", "1", {"kind": "mapshare", "id": address})
        assert server.feed_status("demo")["feeds"] == []


async def test_polls_stopped_with_one_in_flight_go_on_when_started_again(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """A worker that loses the outbox lease stops polling with a poll in flight, and polls
    again once it holds it again: that feed too (it was left "being polled" for good)."""
    feeds.mapshare["ann"] = Account(events("111"), quirk="slow")
    async with race(tmp_path, feeds, feed_timeout_s=5.0) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        feed = server.feeds.feeds["demo", "1"]
        await until(lambda: math.isinf(feed.due_ts))  # its poll in flight
        await server.stop_outside()
        feeds.mapshare["ann"] = Account(events("111"))
        await server.start_outside()
        await until(lambda: len(server.fixes("demo", "1").time_s) == 8)


async def test_another_device_on_the_same_feed_does_not_end_the_runners_sos(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """A family's MapShare account shows the crew's messenger too: its "not in emergency"
    must not cancel the runner's SOS; the feed's status says it shows two devices."""
    crew = events("999")
    for e in crew:
        e["timeStamp"] += 60_000  # a minute after each of the runner's
    feeds.mapshare["ann"] = Account(events("111", e3={"messageCode": 4}) + crew)
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: status(server, "1")["polls"] > 2)
        sos = [i for i in server.incidents("demo") if i.kind == "sos"]
        assert len(sos) == 1 and sos[0].open
        assert status(server, "1")["devices"] == 2 and "2 devices" in status(server, "1")["warning"]


async def test_spot_newest_first_is_taken_in_time_order_and_the_overlap_once(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """SPOT answers newest first: the fixes are the runner's in time order (none of them a
    late one to replay), and the hour asked again at every poll is not handed over again."""
    feeds.spot["bob"] = Account(events("222"))
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "2", {"kind": "spot", "id": "bob"})
        await until(lambda: status(server, "2")["polls"] > 3)
        assert len(server.fixes("demo", "2").time_s) == 8
        assert status(server, "2")["messages"] > 8  # the overlap came again ...
        counts = server.stats("demo")["counts"]
        assert counts["accepted"] == 8 and not counts.get("late")
        assert not counts.get("duplicate")  # ... and was not handed over again


async def test_a_feed_address_that_cannot_be_read_is_refused_and_stops_no_poller(
    tmp_path: Path, feeds: FeedServer
) -> None:
    from coursewatch.live.feeds import FeedConfig

    feeds.mapshare["ann"] = Account(events("111"))
    async with race(tmp_path, feeds) as server:
        with pytest.raises(InputError, match="feed address"):
            await server.set_feed("demo", "1", {"kind": "mapshare", "id": "http://[share.x/b"})
        roster = "bib,mapshare\n1,http://127.0.0.1:9/ann\n2,ann\n"
        answer = await server.import_roster("demo", roster)
        assert [r["line"] for r in answer["refused"]] == [2]
        assert "feed address refused" in answer["refused"][0]["message"]
        # one stored before addresses were checked as they are now: its own error only
        server.feeds.put("demo", "1", FeedConfig("mapshare", "http://[share.x/b"), START)
        await until(lambda: len(server.fixes("demo", "2").time_s) == 8)
        await until(lambda: "cannot be used" in status(server, "1")["last_error"])
        assert server.feeds.running


def test_a_mapshare_address_as_garmins_app_shows_it_and_one_with_its_password() -> None:
    from coursewatch.live.feeds import FeedConfig

    plain = FeedConfig.from_json({"kind": "mapshare", "id": "share.garmin.com/BobOkafor"})
    assert plain.ident == "https://share.garmin.com/BobOkafor"
    secret = FeedConfig.from_json({"kind": "mapshare", "id": "https://:pw@share.garmin.com/Bob"})
    assert secret.password == "pw" and "pw" not in str(secret.to_json(secrets=False))


def test_a_name_with_a_space_is_refused_with_what_to_give() -> None:
    """A runner's full name typed as their MapShare name polled for ever with "wrong name":
    it is refused where it is given, saying what a MapShare name is."""
    from coursewatch.errors import InputError
    from coursewatch.live.feeds import FeedConfig

    for bad in ("Bob Okafor", "Bob/Okafor", "Bob?x=1", "Bob\u200b"):
        with pytest.raises(InputError, match=r"share\.garmin\.com address, e\.g\. BobOkafor"):
            FeedConfig.from_json({"kind": "mapshare", "id": bad})
    with pytest.raises(InputError, match="SPOT shared page"):
        FeedConfig.from_json({"kind": "spot", "id": "0abc def"})
    assert FeedConfig.from_json({"kind": "mapshare", "id": " BobOkafor "}).ident == "BobOkafor"


async def test_a_message_dated_in_the_future_does_not_move_the_window(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """A device whose clock jumped a year ahead sends one message: the pipeline drops it, and
    the next polls still ask from the runner's newest real fix (not a year ahead, for good)."""
    run = events("111")
    run[2]["timeStamp"] += 400 * 86_400_000
    feeds.mapshare["ann"] = Account(run, reveal=3)
    async with race(tmp_path, feeds) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == 7)
        assert server.stats("demo")["counts"]["future"] == 1


async def test_a_store_outage_is_not_the_feeds_fault(tmp_path: Path, feeds: FeedServer) -> None:
    """What a poll brought that the store could not take is asked for again soon, not after
    a back-off that doubles as for a broken feed (an SOS in it waiting up to an hour)."""
    feeds.mapshare["ann"] = Account(events("111"))
    async with race(tmp_path, feeds) as server:
        real, failures = server.feeds.ingest, list[int]()

        async def away(*args: Any) -> Any:
            failures.append(server.feeds.feeds["demo", "1"].failures)
            if len(failures) <= 3:
                raise StoreUnavailable("the database is away: send again in a moment")
            return await real(*args)

        server.feeds.ingest = away
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == 8)
        await until(lambda: status(server, "1")["state"] == "ok")  # (said after the store)
        assert failures[:4] == [0, 0, 0, 0]


async def test_a_feed_too_large_at_once_is_read_a_part_at_a_time(
    tmp_path: Path, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed added mid-race (or taken over by another machine) is asked from the race's
    start: a whole race of frequent pings is over the answer cap. It failed for good ("the
    answer is over 5 MB", every poll the same); it is now read in parts (MapShare's d2),
    every one of them: parts longer than the hour asked again each poll skipped hours."""
    from coursewatch.live import feeds as feeds_module
    from coursewatch.sim.feedserver import mapshare_kml

    every = events("111", n=len(RUN.time_s))
    for k, e in enumerate(every):  # a message every 20 minutes: 5 hours in all
        e["timeStamp"] = int(START + 5 + 1200 * k) * 1000
    cap = len(mapshare_kml(every[:8], emergency=[False] * 8))  # 8 messages fit, 16 do not
    monkeypatch.setattr(feeds_module, "MAX_BYTES", cap)
    feeds.mapshare["ann"] = Account(every)
    async with race(tmp_path, feeds, clock_s=START + 8 * 3600) as server:
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == len(RUN.time_s))
        await until(lambda: status(server, "1")["warning"] == "")  # caught up
        assert status(server, "1")["state"] == "ok" and status(server, "1")["last_error"] == ""


async def test_a_feed_is_read_from_garmin_or_spot_only_redirects_included(tmp_path: Path) -> None:
    """A feed given by the address of a host of someone's choosing, or a MapShare answer that
    redirects into race HQ's network (the cloud's metadata service), is never followed: the
    feed's status says why, and no request leaves for that host."""
    import dataclasses

    import httpx

    from coursewatch.settings import load_settings

    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta"})

    settings = dataclasses.replace(load_settings(), db_path=tmp_path / "hq.db", tick_s=0.0,
                                   feed_poll_s=0.05)  # fmt: skip
    server = Server(
        settings, clock=lambda: START + 3600, feed_transport=httpx.MockTransport(answer)
    )
    await server.start()
    try:
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "1", "Ann"))
        with pytest.raises(InputError, match="not Garmin's"):
            address = "https://feeds.example.org/Feed/Share/ann"
            await server.set_feed("demo", "1", {"kind": "mapshare", "id": address})
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: "not a MapShare or SPOT host" in status(server, "1")["last_error"])
        assert asked and all(u.startswith("https://share.garmin.com/") for u in asked), asked
    finally:
        await server.stop()


def test_a_feed_host_down_is_not_called_a_block_of_ours() -> None:
    """A MapShare outage (503) read "blocked ... (too many requests from this server)": race
    HQ went looking for what it did wrong."""
    import httpx

    from coursewatch.live.feedcalls import FeedError, read_answer

    with pytest.raises(FeedError) as down:
        read_answer("mapshare", 503, httpx.Headers({}), b"")
    assert "unavailable (HTTP 503): asked again in 1 min" in str(down.value), down.value
    assert down.value.block_s == 60.0
    with pytest.raises(FeedError) as blocked:
        read_answer("mapshare", 429, httpx.Headers({"retry-after": "120"}), b"")
    assert "too many requests" in str(blocked.value) and blocked.value.block_s == 120.0


@asynccontextmanager
async def _ann_live(tmp_path: Path, feeds: FeedServer, now: list[float]) -> AsyncIterator[Server]:
    """Race HQ on the clock ``now``, bib 1 on the MapShare feed "ann", its 8 pings taken."""
    feeds.mapshare["ann"] = Account(events("111"))
    opts = {"feed_poll_s": 0.05, "feed_hourly_budget": 1_000_000}
    async with hq(tmp_path, clock=lambda: now[0], mapshare_url=feeds.url,
                  spot_url=feeds.url, **opts) as (server, _client):  # fmt: skip
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "1", "Ann"))
        await server.set_feed("demo", "1", {"kind": "mapshare", "id": "ann"})
        await until(lambda: len(server.fixes("demo", "1").time_s) == 8)
        yield server


async def test_a_silence_while_the_feed_fails_says_so(tmp_path: Path, feeds: FeedServer) -> None:
    """The runner's MapShare map was made private mid-race: race HQ and the crew were told
    "no position for 2 h 10 min" as if the runner had gone quiet, while their device sent
    all along (the positions came in a batch once the feed answered again)."""
    now = [START + 2200.0]  # live: the last of its 8 pings 95 s ago
    async with _ann_live(tmp_path, feeds, now) as server:
        feeds.mapshare["ann"] = Account(events("111"), password="private now")
        await until(lambda: status(server, "1")["state"] == "error")
        now[0] += 3600.0
        await server.tick()
        every = server.incidents("demo", level=None)
        (silence,) = [i for i in every if i.episode.startswith("signal:")]  # (overdue too)
        lost = next(u for u in silence.updates if u["kind"] == "signal_lost")
        assert lost["sentence"].endswith(
            "; but their MapShare feed has not answered since 21:03 (the feed needs a "
            "password, or the one given is wrong): their device may still be sending"
        ), lost
        assert silence.kind == "overdue" and "their device may still be sending" in silence.sentence


async def test_a_silence_is_the_runners_when_the_feed_answered_after_it(
    tmp_path: Path, feeds: FeedServer
) -> None:
    """The feed answered, with nothing new, for half an hour after the runner's last fix,
    then timed out once: the silence is the runner's, not "their device may still be
    sending" (review)."""
    now = [START + 2200.0]
    async with _ann_live(tmp_path, feeds, now) as server:
        now[0] += 1800.0  # polled meanwhile: answered, nothing new
        polls = status(server, "1")["polls"]
        await until(lambda: status(server, "1")["polls"] > polls + 1)
        feeds.mapshare["ann"] = Account(events("111"), password="private now")
        await until(lambda: status(server, "1")["state"] == "error")
        now[0] += 1800.0
        await server.tick()
        every = server.incidents("demo", level=None)
        (silence,) = [i for i in every if i.episode.startswith("signal:")]
        assert "no position for" in silence.updates[0]["sentence"], silence
        assert not any("device may still be sending" in str(u["sentence"])
                       for u in silence.updates), silence  # fmt: skip
