"""Notifications through Apprise to a local ntfy server and an SMTP sink: one message per
incident update per recipient, routed by role; failures retried and shown; a restart
delivers what was left."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from coursewatch.live.channels import apprise_send, message_key
from coursewatch.live.server import Server
from coursewatch.protocols import Decoded, Fix
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.sim.hq import add_race, admin_headers, free_port, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.sinks import NtfySink
from coursewatch.store import Delivery, Incident, RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)
REF = re.compile(r"\(incident (\d+), event (\d+)\)")


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=hq@race.test&to={to}"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


async def until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


def _mail_parts(mail: Any) -> dict[str, str]:
    """An e-mail's text by content type."""
    return {p.get_content_type(): p.get_payload(decode=True).decode()
            for p in mail.walk() if not p.is_multipart()}  # fmt: skip


def _refs(texts: list[str]) -> Counter[tuple[int, int]]:
    return Counter((int(m[1]), int(m[2])) for t in texts for m in REF.finditer(t))


async def _wrong_turn(server: Server, now: list[float] | None = None) -> None:
    """Runner 7 misses a turn at km 3, fixes every 5 s, one a request (``now``: the clock,
    moved to each fix's time as it is sent)."""
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=5.0, wrong_turn_at_m=3000.0,
                       wrong_turn_angle_deg=70.0, seed=4)  # fmt: skip
    fixes = [Fix(float(t), float(a), float(b), bib="7")
             for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)]  # fmt: skip
    for fix in fixes:  # one a request, as a phone sends them
        if now is not None:
            now[0] = fix.time_s + 1.0
        decoded = Decoded()
        decoded.add(fix, 0)
        await server.ingest(lambda d=decoded: d, "native", "demo")


async def test_each_recipient_gets_each_update_of_its_incidents_once(
    tmp_path: Path, ntfy: NtfySink, mailbox: Mailbox
) -> None:
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}  # the sinks: loopback
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0], **opts) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", [f"ntfy://{ntfy.url}/runner7"],
                                         [mailbox.url("crew7@race.test")])  # fmt: skip
        hq_urls = [
            {"url": f"ntfy://{ntfy.url}/hq"},
            {"url": f"ntfy://{ntfy.url}/sos", "priority": 0},
        ]
        r = await client.put(
            "/api/races/demo/contacts", json={"hq": hq_urls}, headers=admin_headers()
        )
        assert r.status_code == 200 and "sos" not in str(r.json())  # URLs shown shortened
        await _wrong_turn(server, now)
        sos = {
            "imei": "300434",
            "messageCode": 4,
            "timeStamp": int(START + 900) * 1000,
            "point": {"latitude": float(COURSE.lat[40]), "longitude": float(COURSE.lon[40])},
        }
        await server.ingest(lambda: decode_inreach({"Events": [sos]}), "inreach")
        await until(lambda: any(m["topic"] == "sos" for m in ntfy.messages))
        await until(
            lambda: (
                all(d["state"] == "sent" for d in server.deliveries("demo"))
                and len(ntfy.messages) + len(mailbox.messages) == len(server.deliveries("demo"))
            )
        )
        sent = server.deliveries("demo")
        by_topic: dict[str, list[str]] = {}
        for m in ntfy.messages:
            by_topic.setdefault(m["topic"], []).append(m["message"])
        by_topic["crew"] = [_mail_parts(m)["text/plain"] for m in mailbox.messages]
        for role, topics in (("runner", ["runner7"]), ("crew", ["crew"]), ("hq", ["hq", "sos"])):
            got: Counter[tuple[int, int]] = Counter()
            for topic in topics:
                got += _refs(by_topic.get(topic, []))
                assert max(_refs(by_topic.get(topic, [])).values()) == 1, topic  # never twice
            rows = Counter((d["incident"], d["version"]) for d in sent if d["role"] == role)
            assert got == rows, role  # each of its deliveries, once, to its recipients
        kinds = {i.id: i.kind for i in server.incidents("demo", level=None)}
        assert {kinds[i] for i, _ in _refs(by_topic["sos"])} == {"sos"}
        assert {kinds[i] for i, _ in _refs(by_topic["runner7"])} <= {"off_course", "wrong_way"}
        # when (on the race's clock), then where
        assert re.match(r"\d\d:\d\dZ?: The course is ", by_topic["runner7"][0]), by_topic
        assert re.match(r"\d\d:\d\dZ?: Bib 7: SOS from their device, last placed at km "
                        r"[\d.]+ \(mi [\d.]+\)\. Position -?\d+\.\d{5}, -?\d+\.\d{5}\.",
                        by_topic["sos"][0]), by_topic["sos"]  # fmt: skip
        sos_prio = [m["priority"] for m in ntfy.messages if m["topic"] == "sos"]
        assert str(sos_prio[0]) in ("5", "max"), sos_prio  # ntfy's highest
        assert {m["title"].split(" · ")[0] for m in ntfy.messages if m["topic"] == "sos"} == {"SOS"}
        assert ". You may have " in by_topic["runner7"][0]
        assert "sos" in {kinds[i] for i, _ in _refs(by_topic["hq"])}
        lost = [m for m in by_topic["hq"] if "off course for sure" in m]  # where to send someone
        assert lost and all(re.search(r"\. Position -?\d+\.\d{5}, -?\d+\.\d{5}\.", m) for m in lost)
        assert len(_refs(by_topic["hq"])) > len(_refs(by_topic["sos"]))


async def test_a_failing_channel_is_retried_then_shown_and_never_holds_ingest(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    ntfy.fail, ntfy.delay_s = True, 0.3
    settings = {"notify_per_min": 1000.0, "notify_backoff_s": 0.05, "notify_attempts": 3,
                "webhook_allow_private": True}  # fmt: skip
    async with hq(tmp_path, clock=lambda: START + 4 * 3600, **settings) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_hq_contacts("demo", [{"url": f"ntfy://{ntfy.url}/hq"}])
        began = time.monotonic()
        for k in range(5):
            text = {
                "imei": "300434",
                "messageCode": 3,
                "freeText": f"message {k}",
                "timeStamp": int(START + 60 * k) * 1000,
                "point": {"latitude": float(COURSE.lat[0]), "longitude": float(COURSE.lon[0])},
            }
            await server.ingest(lambda t=text: decode_inreach({"Events": [t]}), "inreach")
        assert time.monotonic() - began < 0.3  # the channel takes 0.3 s a call: ingest never waits
        await until(lambda: all(d["state"] == "failed" for d in server.deliveries("demo")))
        r = await client.get("/api/races/demo/deliveries", headers=admin_headers())
        rows = r.json()["deliveries"]
        assert len(rows) == 5 and {d["attempts"] for d in rows} == {3}
        assert all("ntfy" in d["error"] for d in rows), rows[0]["error"]
        assert all(d["to"] == f"ntfy://{ntfy.url}/…" for d in rows)  # never the topic


async def test_a_notification_waiting_for_an_address_taken_out_is_cancelled(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    ntfy.fail = True  # the old address keeps failing: its messages wait for their next try
    settings = {"notify_per_min": 1000.0, "notify_backoff_s": 30.0, "notify_attempts": 5,
                "webhook_allow_private": True}  # fmt: skip
    async with hq(tmp_path, clock=lambda: START + 4 * 3600, **settings) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", crew=[f"ntfy://{ntfy.url}/old-phone"])
        text = {
            "imei": "300434",
            "messageCode": 3,
            "freeText": "at the river",
            "timeStamp": int(START + 60) * 1000,
            "point": {"latitude": float(COURSE.lat[0]), "longitude": float(COURSE.lon[0])},
        }
        await server.ingest(lambda: decode_inreach({"Events": [text]}), "inreach")
        await until(lambda: any(d["attempts"] >= 1 for d in server.deliveries("demo")))
        # the old phone is still another runner's crew's: not a reason to tell it about Ann
        await server.put_runner(RunnerRecord("demo", "8", "Bob", ()))
        await server.set_runner_contacts("demo", "8", crew=[f"ntfy://{ntfy.url}/old-phone"])
        await server.set_runner_contacts("demo", "7", crew=[f"ntfy://{ntfy.url}/new-phone"])
        r = await client.get("/api/races/demo/deliveries", headers=admin_headers())
        (row,) = r.json()["deliveries"]
        assert row["state"] == "cancelled" and "taken out of the race's contacts" in row["error"]


async def test_over_its_rate_a_recipient_gets_digests_and_every_update_once(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    async with hq(
        tmp_path, clock=lambda: START + 4 * 3600, notify_per_min=60.0, webhook_allow_private=True
    ) as (server, _c):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_hq_contacts("demo", [{"url": f"ntfy://{ntfy.url}/hq"}])
        point = {"latitude": float(COURSE.lat[0]), "longitude": float(COURSE.lon[0])}
        for k in range(12):
            text = {"imei": "300434", "messageCode": 3, "freeText": f"message {k}",
                    "timeStamp": int(START + 60 * k) * 1000, "point": point}  # fmt: skip
            await server.ingest(lambda t=text: decode_inreach({"Events": [t]}), "inreach")
        await until(lambda: len(_refs([m["message"] for m in ntfy.messages])) == 12)
        refs = _refs([m["message"] for m in ntfy.messages])
        assert max(refs.values()) == 1
        assert len(ntfy.messages) < 12  # 3 at once, then a digest a second
        assert any(m["title"].endswith(" updates on bib 7") for m in ntfy.messages)


async def test_a_notification_url_into_this_machine_is_refused(tmp_path: Path) -> None:
    async with hq(tmp_path) as (server, client):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann"))
        for url in ("ntfy://127.0.0.1:8080/hq", "json://169.254.169.254/x",
                    "kodi://127.0.0.1:18399", "hassio://169.254.169.254:80/token",
                    "rsyslog://localhost", "syslog://", "pover://userkey@127.0.0.1",
                    "rsyslog://syslog.example.org"):  # fmt: skip
            r = await client.put("/api/races/demo/contacts", json={"hq": [{"url": url}]},
                                 headers=admin_headers())  # fmt: skip
            assert r.status_code == 422 and "refused" in r.json()["error"]["message"], r.text
        # where the setting goes: race HQ's own environment (not the command's)
        assert "start race HQ (`coursewatch serve`, not this command) with COURSEWATCH_WEBHOOK_" \
            "ALLOW_PRIVATE=true in its environment" in r.json()["error"]["message"]  # fmt: skip
        crew = {"crew": ["tgram://123456789:abcdefg_hijklmnop/12315544"]}
        r = await client.put("/api/races/demo/runners/7/contacts", headers=admin_headers(),
                             json=crew)  # fmt: skip
        assert r.status_code == 200, r.text  # a cloud service's token is no address


async def test_an_sos_does_not_wait_behind_slow_channels(tmp_path: Path, ntfy: NtfySink) -> None:
    slow = NtfySink(delay_s=3.0)
    slow.start(free_port())
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True}
    try:
        async with hq(tmp_path, clock=lambda: START + 4 * 3600, **opts) as (server, _client):
            await add_race(server, tmp_path, COURSE, "demo", START)
            point = {"latitude": float(COURSE.lat[0]), "longitude": float(COURSE.lon[0])}
            for k in range(5):
                await server.put_runner(RunnerRecord("demo", str(k), devices=(f"imei-{k}",)))
                await server.set_runner_contacts("demo", str(k), None, [f"ntfy://{slow.url}/c{k}"])
            await server.set_hq_contacts("demo", [{"url": f"ntfy://{ntfy.url}/sos", "priority": 0}])
            for k in range(4):  # four crews' channels, each 3 s an answer, take every slot
                text = {"imei": f"imei-{k}", "messageCode": 3, "freeText": "all good",
                        "timeStamp": int(START + 60) * 1000, "point": point}  # fmt: skip
                await server.ingest(lambda t=text: decode_inreach({"Events": [t]}), "inreach")
            await until(lambda: len(slow.messages) == 4)
            sos = {"imei": "imei-4", "messageCode": 4, "timeStamp": int(START + 90) * 1000,
                   "point": point}  # fmt: skip
            pressed = time.monotonic()
            await server.ingest(lambda: decode_inreach({"Events": [sos]}), "inreach")
            await until(lambda: any(m["topic"] == "sos" for m in ntfy.messages), 5.0)
            assert time.monotonic() - pressed < 1.5  # not after the slow ones (3 s)
    finally:
        slow.stop()


async def test_an_update_after_a_late_fix_took_one_back_is_sent(tmp_path: Path) -> None:
    """A late fix takes an incident's last update back and a new one comes: the incident has
    as many updates as before, but its crew and race HQ are told (and so is a webhook)."""
    import dataclasses

    from coursewatch.live.webhooks import version
    from coursewatch.store import Incident

    settings = {"notify_per_min": 1000.0, "webhook_allow_private": True}
    async with hq(tmp_path, clock=lambda: START + 4 * 3600, **settings) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", crew=["ntfy://127.0.0.1:9/crew"])
        first = Incident(
            id=1, race_id="demo", bib="7", episode="course:1", kind="off_course", level="alert",
            open=True, opened_s=START, updated_s=START + 60, closed_s=None, lat=0.0,
            lon=0.0, course_m=1000.0, offset_m=250.0, sentence="Bib 7 is off course",
            updates=({"id": 5, "kind": "off_course"}, {"id": 6, "kind": "off_course"}),
        )  # fmt: skip
        taken_back = dataclasses.replace(first, updates=(first.updates[0], {"id": 9}),
                                         sentence="Bib 7 is off course for sure")  # fmt: skip
        assert len(taken_back.updates) == len(first.updates)
        title = server.notifier._title
        assert await server.notifier.enqueue([first], title) == 1
        assert await server.notifier.enqueue([taken_back], title) == 1
        assert await server.notifier.enqueue([taken_back], title) == 0  # the same state: once
        calls = {version({"updates": i.updates}) for i in (first, taken_back)}
        assert len(calls) == 2


def _refusing(add: Any, calls_refused: tuple[int, ...]) -> Any:
    """``add`` of the outbox, refusing (the store away) at the calls numbered."""
    from coursewatch.store import StoreUnavailable

    calls: list[Any] = []

    async def away(items: Any) -> int:
        calls.append(items)
        if len(calls) in calls_refused:
            raise StoreUnavailable("the database went away: send again in a moment")
        return int(await add(items))

    return away


@contextlib.asynccontextmanager
async def _crew_and_hook(folder: Path) -> AsyncIterator[Server]:
    """Race HQ with runner 7, their crew's ntfy address and a webhook (both nowhere)."""
    settings = {"notify_per_min": 1000.0, "webhook_allow_private": True}
    async with hq(folder, clock=lambda: START + 4 * 3600, **settings) as (server, client):
        await add_race(server, folder, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", crew=["ntfy://127.0.0.1:9/crew"])
        r = await client.post("/api/races/demo/webhooks", headers=admin_headers(),
                              json={"url": "http://127.0.0.1:9/hook"})  # fmt: skip
        assert r.status_code in (200, 201), r.text
        yield server


def _folder(tmp_path: Path, refuse: bool) -> Path:
    folder = tmp_path / str(refuse)
    folder.mkdir()
    return folder


def _stored(server: Server) -> set[tuple[Any, ...]]:
    """The outbox's rows: (incident, version, role) each."""
    return {(d["incident"], d["version"], d["role"]) for d in server.deliveries("demo")}


async def test_a_message_whose_deliveries_could_not_be_stored_is_recovered(tmp_path: Path) -> None:
    """The store refuses a message's deliveries (away for a moment): it is tried again first
    with the next message, and the outbox ends as in a run with no refusal (crew
    notifications and webhook calls alike; before, that update was never sent)."""
    rows: list[set[tuple[Any, ...]]] = []
    for refuse in (False, True):
        async with _crew_and_hook(_folder(tmp_path, refuse)) as server:
            outbox = server._store.outbox
            outbox.add = _refusing(outbox.add, (2, 3) if refuse else ())  # type: ignore[method-assign]
            await _wrong_turn(server)
            await asyncio.sleep(0.5)  # the listeners take the last messages
            rows.append(_stored(server))
    assert len(rows[0]) >= 4 and rows[1] == rows[0]


async def test_messages_refused_at_a_quiet_time_are_stored_without_a_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses the deliveries of every message of a wrong turn, then comes back
    and nothing more happens on the course: the bus's ping of a quiet time tries them again,
    and the outbox ends as in a run with no refusal."""
    from coursewatch.live import notify, webhooks

    monkeypatch.setattr(notify, "MISSED_RETRY_S", 0.2)
    monkeypatch.setattr(webhooks, "MISSED_RETRY_S", 0.2)
    rows: list[set[tuple[Any, ...]]] = []
    for refuse in (False, True):
        async with _crew_and_hook(_folder(tmp_path, refuse)) as server:
            outbox = server._store.outbox
            real_add = outbox.add
            if refuse:
                outbox.add = _refusing(real_add, tuple(range(1, 1000)))  # type: ignore[method-assign]
            await _wrong_turn(server)
            await asyncio.sleep(0.3)
            if refuse:
                assert not server.deliveries("demo")
                outbox.add = real_add  # type: ignore[method-assign]
            await asyncio.sleep(1.0)  # quiet: only the bus's pings
            rows.append(_stored(server))
    assert len(rows[0]) >= 4 and rows[1] == rows[0]


def _said(k: int, code: int = 3, imei: str = "300434") -> dict[str, Any]:
    """An IPC event: a typed message (``code`` 3) or an SOS (4), ``k`` minutes in."""
    point = {"latitude": float(COURSE.lat[0]), "longitude": float(COURSE.lon[0])}
    return {"imei": imei, "messageCode": code, "freeText": f"message {k}" if code == 3 else "",
            "timeStamp": int(START + 60 * k) * 1000, "point": point}  # fmt: skip


@contextlib.asynccontextmanager
async def _hq_on(folder: Path, ntfy: NtfySink, **settings: Any) -> AsyncIterator[Server]:
    """Race HQ with runner 7 and one HQ channel on ``ntfy`` (every priority)."""
    opts = {"notify_per_min": 1000.0, "webhook_allow_private": True, **settings}
    async with hq(folder, clock=lambda: START + 4 * 3600, **opts) as (server, _client):
        await add_race(server, folder, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_hq_contacts("demo", [{"url": f"ntfy://{ntfy.url}/hq"}])
        yield server


async def _say(server: Server, *events: dict[str, Any]) -> None:
    await server.ingest(lambda: decode_inreach({"Events": list(events)}), "inreach")


async def test_an_sos_is_never_given_up_nor_held_by_the_rate(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """Race HQ's channel fails: the messages before are given up after their attempts, but
    an SOS that joins them is tried again until it goes (it was given up with them, after
    one try), and it is not held back by the recipient's rate."""
    ntfy.fail = True
    settings = {"notify_per_min": 1.0, "notify_backoff_s": 0.05, "notify_attempts": 2}
    async with _hq_on(tmp_path, ntfy, **settings) as server:
        await _say(server, _said(1), _said(2), _said(3), _said(4))  # the rate's burst: 3
        await until(lambda: sum(d["attempts"] for d in server.deliveries("demo")) >= 2)
        await _say(server, _said(5, code=4))

        def sos() -> dict[str, Any]:
            found = [d for d in server.deliveries("demo") if d["priority"] == 0]
            return found[0] if found else {"attempts": 0, "state": ""}

        await until(lambda: sos()["attempts"] >= 3)
        assert sos()["state"] == "pending"
        ntfy.fail = False
        await until(lambda: sos()["state"] == "sent")


async def test_back_on_course_never_arrives_before_off_course(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """A message that failed waits for its retry; one that came after it waits too (it went
    first, at once: "back on course" before "you may have missed the turn")."""
    ntfy.fail = True
    async with _hq_on(tmp_path, ntfy, notify_backoff_s=1.0) as server:
        await _say(server, _said(1))
        await until(lambda: any(d["attempts"] for d in server.deliveries("demo")))
        ntfy.fail, failed = False, len(ntfy.messages)
        await _say(server, _said(2))
        await until(lambda: all(d["state"] == "sent" for d in server.deliveries("demo")))
        received = "\n".join(m["message"] for m in ntfy.messages[failed:])
        assert 0 <= received.index("message 1") < received.index("message 2")


async def test_a_sent_message_whose_mark_the_store_refused_is_not_sent_again(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """The store refuses the mark of a message that went (a disk full for a moment): the
    mark is stored again, the message is not sent again (it was, every few seconds)."""
    from coursewatch.store import StoreUnavailable

    async with _hq_on(tmp_path, ntfy) as server:
        outbox = server._store.outbox
        mark, calls = outbox.mark, list[int]()

        async def refusing(*args: Any) -> None:
            calls.append(1)
            if len(calls) <= 3:
                raise StoreUnavailable("the disk is full")
            await mark(*args)

        outbox.mark = refusing  # type: ignore[method-assign]
        await _say(server, _said(1))
        await until(lambda: [d["state"] for d in server.deliveries("demo")] == ["sent"])
        await asyncio.sleep(0.3)
        assert len(ntfy.messages) == 1


async def test_the_sender_goes_on_after_the_store_refused_a_read(
    tmp_path: Path, ntfy: NtfySink
) -> None:
    """A read of the outbox that fails once (PostgreSQL away for a moment) ended the sender
    for good: nothing more was sent, an SOS neither."""
    async with _hq_on(tmp_path, ntfy) as server:
        outbox = server._store.outbox
        due, calls = outbox.due, list[int]()

        def failing(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("server closed the connection unexpectedly")
            return due(*args, **kwargs)

        outbox.due = failing  # type: ignore[method-assign]
        server.notifier._wake.set()
        await until(lambda: len(calls) >= 1)
        await _say(server, _said(1, code=4))
        await until(lambda: len(ntfy.messages) == 1, 10.0)


async def test_a_change_of_contacts_leaves_the_webhook_calls_alone(tmp_path: Path) -> None:
    """Webhook calls waiting in the outbox are not a contact's: a crew's phone changed does
    not cancel them (every one was cancelled, "taken out of the race's contacts")."""
    from coursewatch.store import Delivery

    async with _crew_and_hook(tmp_path) as server:
        later = time.time() + 3600
        row = Delivery("demo", 1, 1, "hook-1", "webhook", "7", "http://127.0.0.1:9/hook", "t",
                       "{}", 2, later, later)  # fmt: skip
        await server._store.outbox.add([row])
        await server.set_runner_contacts("demo", "7", crew=["ntfy://127.0.0.1:9/new-phone"])
        (call,) = [d for d in server.deliveries("demo") if d["role"] == "webhook"]
        assert call["state"] == "pending"


def _off_course(sentence: str, *updates: dict[str, Any]) -> Incident:
    """Runner 7's off-course incident for race HQ, saying ``sentence`` after ``updates``."""
    return Incident(
        id=1, race_id="demo", bib="7", episode="course:1", kind="off_course", level="alert",
        open=True, opened_s=START, updated_s=START + 60, closed_s=None, lat=0.0, lon=0.0,
        course_m=1000.0, offset_m=250.0, sentence=sentence, updates=updates,
    )  # fmt: skip


async def test_a_withdrawn_incident_cancels_its_waiting_messages_and_says_so(
    tmp_path: Path,
) -> None:
    """A late fix takes an incident back entirely: what still waits for it is not sent, and
    a crew already told "off course" is told it is withdrawn (they heard nothing more)."""
    import dataclasses

    async with _crew_and_hook(tmp_path) as server:
        await server.notifier.stop()  # stored, not sent: the states are this test's
        first = _off_course("Bib 7 is off course", {"id": 5, "kind": "off_course"})
        second = dataclasses.replace(first, updates=(*first.updates, {"id": 6}),
                                     sentence="Bib 7 is off course for sure")  # fmt: skip
        title = server.notifier._title
        assert await server.notifier.enqueue([first], title) == 1
        (told,) = server._store.outbox.deliveries("demo")
        await server._store.outbox.mark([told.id], "sent", 1, START, "", START)
        assert await server.notifier.enqueue([second], title) == 1
        assert await server.notifier.enqueue([dataclasses.replace(second, retracted=True)],
                                             title) == 1  # fmt: skip
        rows = [d for d in server.deliveries("demo") if d["role"] == "crew"]
        assert [d["state"] for d in rows] == ["sent", "cancelled", "pending"]
        assert "withdrawn" in rows[2]["title"] and "forget the off course" in rows[2]["body"]


async def test_an_update_raised_again_unchanged_is_not_sent_again(tmp_path: Path) -> None:
    """Dark Sky's pings in arrival order: a late fix took "back near the course at mile
    153.68" back, the next raised it again, unchanged, as a new event: race HQ and the crew
    read it twice in one digest."""
    import dataclasses

    async with _crew_and_hook(tmp_path) as server:
        await server.notifier.stop()  # stored, not sent: the states are this test's
        first = _off_course("Bib 7 is back near the course", {"id": 5, "kind": "back_near_course"})
        title = server.notifier._title
        assert await server.notifier.enqueue([first], title) == 1
        again = dataclasses.replace(first, updates=({"id": 6, "kind": "back_near_course"},))
        assert await server.notifier.enqueue([again], title) == 0
        later = dataclasses.replace(again, sentence="Bib 7 is back on course",
                                    updates=(*again.updates, {"id": 7}))  # fmt: skip
        assert await server.notifier.enqueue([later], title) == 1


async def test_an_incident_late_fixes_moved_is_not_withdrawn(tmp_path: Path) -> None:
    """Dark Sky's pings in arrival order: a late ping moved when an off-course episode began,
    so its incident was taken back and another made, each published on its own; race HQ
    and the crew were told to "forget the off course message" for a runner 0.7 mi off."""
    from coursewatch.incidents import episode_key, rule
    from coursewatch.store import AlertRecord

    def event(kind: str, t: float, began: float) -> AlertRecord:
        does = rule(kind)
        return AlertRecord("demo", "7", kind, START + t, 45.0, 6.0, 1000.0, 400.0,
                           f"Bib 7: {kind} at {t:g}", {}, START + t,
                           episode=episode_key(kind, START + t, START + began),
                           level=does.level, closes=does.closes, names=does.names)  # fmt: skip

    async with _crew_and_hook(tmp_path) as server:
        await server.notifier.stop()  # stored, not sent: the states are this test's
        store, title = server._store, server.notifier._title
        first = await store.save([], [event("off_course", 600, 600), event("alert", 660, 600)])
        (old,) = [i for i in first.incidents if i.level == "alert"]
        assert await server.notifier.enqueue([old], title) == 1
        (told,) = [d for d in store.outbox.deliveries("demo") if d.role == "crew"]
        await store.outbox.mark([told.id], "sent", 1, START, "", START)
        later = await store.save([], [event("off_course", 540, 540), event("alert", 660, 540)],
                                 [("demo", "7", START + 500)])  # fmt: skip
        gone = [i for i in later.incidents if i.retracted]
        (new,) = [i for i in later.incidents if not i.retracted and i.level == "alert"]
        assert [i.id for i in gone] == [old.id] and new.id != old.id
        await server.notifier.enqueue(gone, title)  # on its own, as the bus brings it
        said = [d.body for d in store.outbox.deliveries("demo") if d.role == "crew"
                and d.incident_id == old.id and d.id != told.id]  # fmt: skip
        assert len(said) == 1 and "forget" not in said[0], said
        assert f"the off course message is now incident {new.id}" in said[0], said


@pytest.mark.parametrize("ended_by", ["out_of_race", "finish_recorded"])
async def test_a_runner_put_out_is_not_told_that_their_incident_ended(
    tmp_path: Path, ended_by: str
) -> None:
    """Race HQ put a runner out (DNF), or recorded their finish, while they were off course:
    race HQ reads that the incident ended with it; the runner's own phone gets nothing ("You:
    out of the race" is race HQ's to say, in person), and their crew hears it once, as the
    news of the DNF or the finish (tests/test_news.py), not as the end of each incident."""
    async with hq(tmp_path, clock=lambda: START + 1000, webhook_allow_private=True) as (
        server,
        _client,
    ):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", ["ntfy://127.0.0.1:9/runner7"],
                                         ["ntfy://127.0.0.1:9/crew7"])  # fmt: skip
        await server.set_hq_contacts("demo", [{"url": "ntfy://127.0.0.1:9/hq"}])
        off = {"kind": "off_course", "time_s": START + 900, "level": "alert", "sentence": "off"}
        out = {"kind": ended_by, "time_s": START + 960, "level": "flag", "sentence": "out"}
        inc = Incident(1, "demo", "7", f"course:{START + 900:.0f}", "off_course", "alert",
                       True, START + 900, START + 900, None, float(COURSE.lat[40]),
                       float(COURSE.lon[40]), 3000.0, 250.0, "off", (off,))  # fmt: skip
        assert {d.role for d in server.notifier.route(inc, "Demo")} == {"runner", "crew", "hq"}
        ended = replace(inc, open=False, updated_s=START + 960, closed_s=START + 960,
                        sentence="out", updates=(off, out))  # fmt: skip
        assert {d.role for d in server.notifier.route(ended, "Demo")} == {"hq"}


def test_a_message_reaches_no_address_of_this_machine_whatever_the_url(
    ntfy: NtfySink, mailbox: Mailbox
) -> None:
    """A name that resolved to a public address when it was given may resolve to this
    machine when a message is sent (or a service's own host was never checked): every
    address Apprise connects to is judged then. On race HQ's own network (allowed), e-mail
    carries a runner's words as text, never as markup."""
    for url in (f"ntfy://{ntfy.url}/hq", f"json://{ntfy.url}/hook",
                f"ntfy://localhost:{ntfy.url.rsplit(':', 1)[1]}/hq"):  # fmt: skip
        assert apprise_send(url, "Race: bib 7 message", "hello") != ""
    time.sleep(0.5)
    assert ntfy.messages == []
    assert apprise_send(f"ntfy://{ntfy.url}/hq", "Race", "hello", public_only=False) == ""
    said = 'Bib 7: message from the runner: "<img src=x onerror=alert(1)>"'
    assert apprise_send(mailbox.url("hq@race.test"), "Race", said, public_only=False) == ""
    (mail,) = mailbox.messages
    parts = _mail_parts(mail)
    assert "<img" not in parts.get("text/html", ""), parts  # as text: plain, or escaped
    assert said in parts["text/plain"], parts


def test_a_message_sent_again_carries_its_key_and_takes_the_first_ones_place(
    ntfy: NtfySink,
) -> None:
    """A message whose answer never came (race HQ killed while it was on its way, a timeout)
    is sent again with the same key, ntfy's sequence id: on a phone it replaces the first
    (ntfy 2.16+), one notification. Its key is its first update's, unlike any other's."""
    rows = [Delivery("demo", 3, 1, "r1", "hq", "7", "ntfy://x/hq", "Demo", "off", 1, 0.0,
                     1.78e9 + 0.25, id=41)]  # fmt: skip
    key = message_key(rows)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", key)
    assert message_key([*rows, replace(rows[0], id=42)]) == key  # a digest that grew from it
    others = (
        replace(rows[0], id=43),
        replace(rows[0], race_id="other"),
        replace(rows[0], recipient="r2"),
        replace(rows[0], created_ts=1.78e9 + 0.5),
    )
    assert key not in {message_key([r]) for r in others}
    url = f"ntfy://{ntfy.url}/hq"
    for _ in range(2):
        assert apprise_send(url, "Demo: bib 7", "off course", key, public_only=False) == ""
    assert apprise_send(url, "Demo: bib 8", "stopped", public_only=False) == ""
    assert [m["sequence"] for m in ntfy.messages] == [key, key, None]
    assert [m["title"] for m in ntfy.shown()] == ["Demo: bib 7", "Demo: bib 8"]
    # a digest too long for one post goes in parts: each its own key, the same when sent again
    ntfy.messages.clear()
    digest = "\n\n".join(f"Demo: bib {k} off course\n{'x' * 280} (incident {k})" for k in range(50))
    for _ in range(2):
        assert apprise_send(url, "Demo: 50 updates", digest, key, public_only=False) == ""
    parts = len(ntfy.messages) // 2
    assert parts >= 2 and [m["sequence"] for m in ntfy.messages[:parts]] == [
        key, *(f"{key}-{n}" for n in range(2, parts + 1))]  # fmt: skip
    shown = "".join(m["message"] for m in ntfy.shown())
    assert len(ntfy.shown()) == parts and all(f"(incident {k})" in shown for k in range(50))


async def test_a_runner_is_not_told_of_old_news_and_every_message_says_when(
    tmp_path: Path,
) -> None:
    """A runner's MapShare feed added mid-race brings back two days of excursions: the runner
    got fifteen "You are back on course" about them, undated. Their phone is told only what is
    under half an hour old; their crew and race HQ get it all, each message led by when it
    happened on the race's clock."""
    now = [START + 3600.0]
    async with hq(tmp_path, clock=lambda: now[0], webhook_allow_private=True) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", ["ntfy://127.0.0.1:9/runner7"],
                                         ["ntfy://127.0.0.1:9/crew7"])  # fmt: skip
        off = {"kind": "off_course", "time_s": START + 900, "level": "alert", "sentence": "off"}
        inc = Incident(1, "demo", "7", f"course:{START + 900:.0f}", "off_course", "alert",
                       True, START + 900, START + 900, None, float(COURSE.lat[40]),
                       float(COURSE.lon[40]), 3000.0, 250.0, "Bib 7 is off", (off,))  # fmt: skip
        said = {d.role: d.body for d in server.notifier.route(inc, "Demo")}
        assert set(said) == {"crew"}, said  # 45 minutes old: not the runner's news
        assert said["crew"].startswith("20:41: Bib 7 is off"), said  # (a race in UTC)
        now[0] = START + 1000.0
        assert {d.role for d in server.notifier.route(inc, "Demo")} == {"runner", "crew"}
        now[0] = START + 86_400.0  # told a day later (a feed catching up): yesterday's, dated
        said = {d.role: d.body for d in server.notifier.route(inc, "Demo")}
        assert said["crew"].startswith("Thu 20:41: Bib 7 is off"), said


async def test_a_runner_told_they_left_the_course_is_told_they_are_back(
    tmp_path: Path,
) -> None:
    """Dark Sky's pings through a MapShare feed: "You may have left the course at mile 55.11"
    reached the runner's phone, and its end never did: back on course was raised 40 minutes
    after the rejoin it dates (5-minute pings, then following the course), and the runner is
    not told what is over half an hour old. The end of what they were told, they are. The
    title says what the update is ("off course" read over "back near the course"), and a
    shortcut is not "closed" for race HQ: they have to judge it."""
    now = [START + 1000.0]
    async with hq(tmp_path, clock=lambda: now[0], webhook_allow_private=True) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("300434",)))
        await server.set_runner_contacts("demo", "7", ["ntfy://127.0.0.1:9/runner7"], [])
        off = {"id": 1, "kind": "off_course", "time_s": START + 900, "level": "flag",
               "sentence": "Bib 7 left the course"}  # fmt: skip
        inc = Incident(1, "demo", "7", f"course:{START + 900:.0f}", "off_course", "flag",
                       True, START + 900, START + 900, None, float(COURSE.lat[40]),
                       float(COURSE.lon[40]), 3000.0, 250.0, "Bib 7 left the course",
                       (off,))  # fmt: skip
        assert await server.notifier.enqueue([inc], lambda _: "Demo") == 1
        back = {"id": 2, "kind": "back_on_course", "time_s": START + 1500, "level": "flag",
                "sentence": "Bib 7 is back on course at km 3.50"}  # fmt: skip
        closed = replace(inc, open=False, closed_s=START + 1500, updates=(off, back),
                         sentence=back["sentence"])  # fmt: skip
        now[0] = START + 1500 + 2400  # raised 40 min after the rejoin it dates
        (told,) = server.notifier.route(closed, "Demo")
        assert told.role == "runner" and "You are back on course at km 3.50" in told.body
        assert told.title == "Demo: bib 7 (Ann) off course: back on course", told.title
        fresh = replace(closed, id=2)  # a feed added mid-race: its history is not their news
        assert server.notifier.route(fresh, "Demo") == []
        cut = replace(closed, kind="shortcut", level="alert",
                      updates=(off, {**back, "kind": "shortcut"}))  # fmt: skip
        assert all(d.title == "Demo: bib 7 (Ann) shortcut"
                   for d in server.notifier.route(cut, "Demo"))  # fmt: skip
