"""The pipeline: out-of-order, duplicate and very late fixes end in the batch matcher's alerts."""

from __future__ import annotations

import asyncio
import math
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from coursewatch.engine.events import EVENT_KINDS
from coursewatch.engine.matcher import LiveMatcher, match_fixes
from coursewatch.live.runner import TAIL_CAP, LiveRunner
from coursewatch.live.server import Server
from coursewatch.protocols import Decoded, DeviceEvent, Fix
from coursewatch.sim.hq import add_race, admin_headers, hq
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.store import Incident, RunnerRecord

pytestmark = pytest.mark.anyio
START = 1_780_000_000.0
COURSE = trail_course(12_000.0, n_stations=2)


def _fixes(interval_s: float, **kw: object) -> list[Fix]:
    run = simulate_run(COURSE, start_ts=START + 5, interval_s=interval_s, **kw)  # type: ignore[arg-type]
    return [
        Fix(float(t), float(a), float(b), bib="7")
        for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)
    ]


def _episodes(server: Server, bib: str | None = None) -> list[Incident]:
    """The runners' incidents and flags (not the news of their race: their crew's)."""
    return [i for i in server.incidents("demo", bib=bib, level=None) if i.level != "news"]


async def _ingest(server: Server, fixes: list[Fix]) -> None:
    decoded = Decoded()
    for i, f in enumerate(fixes):
        decoded.add(f, i)
    await server.ingest(lambda: decoded, "native", "demo")


def _live(server: Server) -> list[tuple[str, float]]:
    engine = set(EVENT_KINDS.values())  # the clock-driven alerts (cut-off risk...) on top
    alerts = [(a.time_s, a.kind) for a in server._store.alerts("demo")
              if not a.retracted and a.kind in engine]  # fmt: skip
    return [(k, t) for t, k in sorted(alerts)]


def _batch(fixes: list[Fix]) -> list[tuple[str, float]]:
    uniq = sorted({f.time_s: f for f in reversed(fixes)}.values(), key=lambda f: f.time_s)
    t = np.array([f.time_s for f in uniq])
    lat, lon = np.array([f.lat for f in uniq]), np.array([f.lon for f in uniq])
    res = match_fixes(COURSE, t, lat, lon, start_ts=START)  # the race's start, as live
    return [(k, t) for t, k in sorted((e.at.time.timestamp(), e.kind) for e in res.events)]


async def _race(server: Server, tmp_path: Path) -> None:
    await add_race(server, tmp_path, COURSE, "demo", START)
    await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))


async def _silent_from_km_3(
    server: Server, tmp_path: Path, now: list[float], seed: int
) -> list[Fix]:
    """Runner 7 stops for good at km 3 and sends nothing more; ``now`` at their last fix."""
    fixes = _fixes(30.0, seed=seed, stop_at_m=3000.0)
    await _race(server, tmp_path)
    now[0] = fixes[-1].time_s
    await _ingest(server, fixes)
    return fixes


async def test_shuffled_and_duplicated_fixes_give_the_batch_alerts(tmp_path: Path) -> None:
    fixes = _fixes(5.0, wrong_turn_at_m=3000.0, wrong_turn_angle_deg=70.0, seed=4)
    rng = np.random.default_rng(1)
    # Chunks arrive shuffled (a phone flushing its buffer late), some twice.
    chunks = [fixes[i : i + 37] for i in range(0, len(fixes), 37)]
    order = rng.permutation(len(chunks))
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        for k in order:
            await _ingest(server, chunks[k])
            if k % 5 == 0:
                await _ingest(server, chunks[k][:3])
        expected = _batch(fixes)
        assert [k for k, _ in expected][:3] == ["off_course", "alert", "back_on_course"]
        assert _live(server) == expected
        # the finish as in order: a rewind kept the furthest progress of the fixes after it,
        # and the runner "finished" at their first fix (every later alert dropped with it)
        in_order = LiveRunner(RunnerRecord("demo", "7"), COURSE, start_ts=START)
        in_order.add_many(fixes)
        assert server.runner("demo", "7").finished_s == in_order.finished_s is not None
        counts = server._store.counts("demo")
        assert counts["accepted"] == len(fixes) and counts["late"] > 0
        assert counts["duplicate"] == sum(3 for k in order if k % 5 == 0)


async def test_an_upload_over_live_fixes_is_played_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watch file uploaded for a runner whose tracker sent fixes over the same hours: every
    fix of it is older than their last. One rewind and one replay for the whole file (one per
    fix froze race HQ for a minute on a real one), the batch matcher's alerts, the fixes
    already held counted as duplicates."""
    fixes = _fixes(2.0, wrong_turn_at_m=3000.0, wrong_turn_angle_deg=70.0, seed=8)
    live = fixes[::30]  # the tracker's, a minute apart, up to the end
    upload = [f for f in fixes if f.time_s < live[-1].time_s]  # the watch's: held ones too
    rewinds = []
    restore = LiveMatcher.restore
    monkeypatch.setattr(LiveMatcher, "restore", lambda m, s: (rewinds.append(1), restore(m, s)))
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, live)
        await _ingest(server, upload[::-1])  # (in any order)
        assert len(rewinds) == 1
        assert _live(server) == _batch(live + upload)
        finished = [a.time_s for a in server._store.alerts("demo")
                    if a.kind == "race_finished" and not a.retracted]  # fmt: skip
        assert len(finished) == 1  # the watch's finish, before the tracker's: told once
        counts = server._store.counts("demo")
        held = len(live) - 1
        assert counts["late"] == len(upload) - held and counts["duplicate"] == held
        assert server._store.fix_count("demo") == len(upload) + 1
        # the splits as the watch's fixes say, not as the tracker's a minute apart did
        await server.put_runner(RunnerRecord("demo", "8", "Ben", ("dev-8",)))
        await _ingest(server, [replace(f, bib="8") for f in upload])
        splits = server._registry.races["demo"].passes.splits
        assert np.allclose(splits["7"], splits["8"], atol=1.0, equal_nan=True), splits


async def test_fixes_sent_newest_first_raise_their_alerts_in_time_order(tmp_path: Path) -> None:
    fixes = _fixes(2.0, wrong_turn_at_m=3000.0, wrong_turn_angle_deg=70.0, seed=8)
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes[::-1])  # (a watch's file, its points newest first)
        engine = set(EVENT_KINDS.values())
        said = [(a.time_s, a.kind) for a in server._store.alerts("demo") if a.kind in engine]
        assert said == sorted(said) and [k for _, k in said][:2] == ["off_course", "alert"]


async def test_a_finish_found_in_a_replay_ends_only_what_the_replay_keeps(tmp_path: Path) -> None:
    """An upload in the middle of the live stream: a flag open live, which the file's fixes
    take back, is gone; the finish the replay finds must not end it (a ghost flag whose only
    update was "finished at 10:36; this off course incident ends": a rehearsal, Templiers)."""
    from types import SimpleNamespace

    from coursewatch.live import dnf
    from coursewatch.live.step import Step

    fixes = _fixes(5.0, seed=6)
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes)
        race, runner = server._registry.races["demo"], server.runner("demo", "7")
        assert runner.reached_s is not None
        since = fixes[len(fixes) // 2].time_s

        def flag(opened_s: float) -> Incident:
            return Incident(1, "demo", "7", f"course:{opened_s}", "off_course", "flag", True,
                            opened_s, opened_s, None, 45.9, 6.87, 5000.0, 120.0, "off")  # fmt: skip

        for opened_s, ended in ((since + 60.0, False), (since - 60.0, True)):
            store = SimpleNamespace(incidents=lambda *a, o=opened_s, **k: [flag(o)])
            said = dnf.at_finish(race, runner, Step(replay_from_s=since), [], store)  # type: ignore[arg-type]
            assert [a.kind for a in said][1:] == (["finished"] if ended else []), opened_s


async def test_a_file_of_a_long_wrong_turn_walked_raises_no_stop(tmp_path: Path) -> None:
    """A runner's file sent at once (an upload) with a 2-hour wrong turn walked off the
    course: their progress is held there, but they moved; as live, not stopped (each fix's
    own off-course state and position, not the run's last: Eiger, a rehearsal)."""
    fixes = _fixes(10.0, wrong_turn_at_m=3000.0, wrong_turn_len_m=4000.0, pace_mps=1.0, seed=2)
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes)
        kinds = [a.kind for a in server._store.alerts("demo")]
        assert "alert" in kinds and not {"stopped", "stopped_long"} & set(kinds), kinds


async def test_a_fix_older_than_the_history_rebuilds_from_the_store(tmp_path: Path) -> None:
    fixes = _fixes(1.0, wrong_turn_at_m=2500.0, seed=5)
    assert len(fixes) > TAIL_CAP + 100
    held_back = fixes[10]
    rest = fixes[:10] + fixes[11:]
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        for i in range(0, len(rest), 1000):
            await _ingest(server, rest[i : i + 1000])
        await _ingest(server, [held_back])
        assert server._store.counts("demo")["rebuilds"] == 1
        assert _live(server) == _batch(fixes)
        assert server._store.fix_count("demo") == len(fixes)
        await _ingest(server, fixes)  # all of them again (a phone's backlog sent twice):
        counts = server._store.counts("demo")  # held in the store: duplicates, no rebuild
        assert counts["duplicate"] == len(fixes) and counts["accepted"] == len(fixes)
        assert counts["rebuilds"] == 1 and _live(server) == _batch(fixes)


def test_a_runner_s_history_takes_memory_as_their_fixes_come() -> None:
    """A satellite tracker sends a few hundred fixes a race: the room for a runner's history
    grows as they come (it took 160 KB a runner at once: 1 GB for 6,000 runners)."""
    fixes = _fixes(20.0)  # a fix every 20 s: 200 of them (the room grows from 64 to 256)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runners = [LiveRunner(RunnerRecord("demo", str(b)), COURSE, start_ts=START)
                   for b in range(50)]  # fmt: skip
        for runner in runners:
            runner.add_many(fixes[:200])
        per_runner_b = (tracemalloc.get_traced_memory()[0] - before) / len(runners)
    finally:
        tracemalloc.stop()
    assert len(fixes) >= 200 and per_runner_b < 60_000, per_runner_b


async def test_restart_resumes_the_runner(tmp_path: Path) -> None:
    fixes = _fixes(5.0, seed=6)
    half = len(fixes) // 2
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes[:half])
        before = server.runner("demo", "7").matcher.progress_m
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        runner = server.runner("demo", "7")
        assert runner.matcher.progress_m == pytest.approx(before)
        await _ingest(server, fixes[half:])
        assert runner.status == "finished"


async def test_clock_driven_alerts_signal_lost_and_stopped(tmp_path: Path) -> None:
    now = [START]
    fixes = _fixes(30.0, seed=7, stop_at_m=3000.0)  # stops for good at km 3 (a DNF)
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        last = fixes[-1]
        # The tracker keeps sending from where the runner stands, for 20 minutes ...
        still = [Fix(last.time_s + 30.0 * k, last.lat, last.lon, bib="7") for k in range(1, 41)]
        now[0] = still[-1].time_s
        await _ingest(server, fixes + still)
        assert server.runner("demo", "7").status == "stopped"
        # ... then goes silent: the clock ticks on.
        now[0] += 1800.0
        raised = await server.tick()
        kinds = {a.kind for a in server._store.alerts("demo")}
        assert {"stopped", "signal_lost"} <= kinds, kinds
        # one incident for the silence, overdue at the next station folded in
        (silence,) = [i for i in raised if i.episode.startswith("signal:")]
        assert silence.updates[0]["kind"] == "signal_lost"
        sentence = silence.updates[0]["sentence"]
        assert sentence.startswith("Bib 7: no position for 30 min") and "(mi " in sentence


async def test_a_backlog_predicts_the_eta_by_race_time_not_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coursewatch.eta import EtaModel
    from coursewatch.live.clock import AHEAD_EVERY_S, ETA_MAX_AGE_S

    calls: list[float] = []
    predict = EtaModel.predict

    def counted(self: EtaModel, state: object, targets: object) -> object:
        calls.append(now[0])
        return predict(self, state, targets)  # type: ignore[arg-type]

    monkeypatch.setattr(EtaModel, "predict", counted)
    now = [START + 86400]
    fixes = _fixes(5.0, seed=3)[:400]  # 2,000 s of race time, sent as 20 requests at once
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        for k in range(0, 200, 10):
            await _ingest(server, fixes[k : k + 10])
        at_once = len(calls)
        # not one a fix nor a request: the detectors' (overdue, cut-off) once a minute of
        # race time, on the model as the fixes left it (the same however fast they came);
        # the board's every 5 minutes of race time (ETA_MAX_AGE_S) and for a new target
        assert 1 <= at_once <= 1000 / AHEAD_EVERY_S + 1000 / ETA_MAX_AGE_S + 2, calls
        for k in range(200, 400, 10):  # the same pace, but a second of server time apart
            now[0] += 1.0
            await _ingest(server, fixes[k : k + 10])
        assert len(calls) - at_once >= 15  # refreshed every 50 s of race time: each request


async def test_the_detectors_predict_from_the_state_now_once_per_state(tmp_path: Path) -> None:
    """What overdue and cut-off risk decide on is the model's prediction from the runner's
    state as it is (not the board's, kept up to 5 min of race time); made once for a state
    and kept for the board (a tick or a second look at an unchanged state predicts no more)."""
    from coursewatch.eta import EtaModel

    now = [START + 86400]
    fixes = _fixes(30.0, seed=5)[:40]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        race = server.race("demo")
        watch = server._pipeline.watch(race)
        runner = race.runners["7"]
        targets = [*race.station_m, race.course.length_m]
        made: list[int] = []
        calls: list[int] = []
        predict = watch.model.predict
        watch.model.predict = lambda st, tg: calls.append(1) or predict(st, tg)  # type: ignore[method-assign]
        for k in range(0, 40, 4):
            await _ingest(server, fixes[k : k + 4])
            state = watch.of(runner).eta
            want = EtaModel(race.course).predict(state, np.array(targets)).tolist()
            before = len(calls)
            got = [watch.arrivals(runner, targets, exact=True) for _ in range(3)]
            assert all(g == [None if math.isnan(v) else v for v in want] for g in got), k
            made.append(len(calls) - before)
        assert max(made) <= 1, made  # (made with the fixes: their cut-offs, the board's targets)


async def test_the_board_reads_each_fix_the_etas_the_model_gives_then(tmp_path: Path) -> None:
    """A fix that does not feed the ETA model (one every 20 s of 3) leaves the board's ETAs
    as they were, unless the detectors predicted anew from that state meanwhile (a cut-off
    checked): after every fix they are what reading them afresh gives."""
    now = [START + 86400]
    fixes = _fixes(3.0, seed=3)[:150]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        race = server.race("demo")
        watch, runner = server._pipeline.watch(race), race.runners["7"]
        differed = 0
        for f in fixes:
            now[0] = f.time_s + 2.0
            before = dict(runner.etas)
            await _ingest(server, [f])
            kept = dict(runner.etas)
            watch.of(runner).kept_for = ()  # read afresh
            watch.keep_etas(runner)
            assert runner.etas == kept, f.time_s
            differed += kept != before
        assert differed >= len(fixes) // 10  # (the model fed: every 7th fix)


async def test_a_station_moved_by_the_race_file_sent_again_is_on_the_board_at_once(
    tmp_path: Path,
) -> None:
    """Race HQ moves the next aid station 500 m and sends the race file again (the same
    course) just after the runner's ETAs were predicted: their next fix, one that feeds no
    ETA model, shows the ETA at the station where it is now."""
    from coursewatch.live import cadence
    from coursewatch.live.clock import ETA_FEED_S
    from coursewatch.live.racefiles import read_race_files

    now = [START + 86400]
    fixes = _fixes(3.0, seed=3)[:200]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        race = server.race("demo")
        runner, watch = race.runners["7"], server._pipeline.watch(race)
        for i, f in enumerate(fixes):  # up to a prediction the next fix leaves as it is
            now[0] = f.time_s + 2.0
            await _ingest(server, [f])
            w = watch.of(runner)
            fed = cadence.due("7", w.fed_s, fixes[i + 1].time_s, ETA_FEED_S)
            if i > 20 and w.etas_of is w.eta and not fed:
                break
        k = race.around(runner.matcher.progress_m)[1]
        nxt = race.station_m[k]
        text, suffix, course, course_suffix = read_race_files(tmp_path / "demo" / "race.yaml")
        moved = text.replace(f"km: {nxt / 1000:.3f}", f"km: {(nxt + 500) / 1000:.3f}")
        assert moved != text
        await server.create_race("demo", moved, suffix, course, course_suffix)
        now[0] = fixes[i + 1].time_s + 2.0
        await _ingest(server, [fixes[i + 1]])
        there = server.race("demo").station_m[k]
        assert abs(there - nxt - 500.0) < 50.0  # (placed on the course)
        assert sorted(runner.etas) == [there, server.race("demo").course.length_m]


async def test_a_silence_goes_on_in_its_incident_across_a_restart(tmp_path: Path) -> None:
    """Race HQ restarts while a runner is silent: the silence goes on in its incident (not
    raised again), and their next fix closes it."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        fixes = await _silent_from_km_3(server, tmp_path, now, seed=8)
        now[0] += 1800.0
        await server.tick()
        (before,) = [
            i for i in server.incidents("demo", level=None) if i.episode.startswith("signal:")
        ]
        assert before.open
    now[0] += 600.0
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        now[0] += 1800.0
        await server.tick()
        (after,) = [
            i for i in server.incidents("demo", level=None) if i.episode.startswith("signal:")
        ]
        assert after.id == before.id and after.open
        assert after.updates == before.updates
        back = Fix(now[0] - 5.0, fixes[-1].lat, fixes[-1].lon, bib="7")
        await _ingest(server, [back])
        (closed,) = [i for i in server.incidents("demo", level=None) if i.id == before.id]
        assert not closed.open and closed.updates[-1]["kind"] == "signal_back"


async def test_a_race_file_sent_again_keeps_the_runners_clock_driven_states(
    tmp_path: Path,
) -> None:
    """Race HQ edits a cut-off mid-race and sends the race file again (same course): a runner
    already silent is still told overdue and silent (every such state started afresh: no
    incident came for hours)."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        fixes = await _silent_from_km_3(server, tmp_path, now, seed=7)
        now[0] += 600.0
        await server.tick()
        before = {a.kind for a in server._store.alerts("demo")}
        assert "signal_lost" in before and "overdue" not in before, before
        await _race(server, tmp_path)  # the race file again, the same course
        assert server.runner("demo", "7").fixes == len(fixes)  # kept their engine
        for _ in range(8):
            now[0] += 1800.0
            await server.tick()
        kinds = {a.kind for a in server._store.alerts("demo")}
        assert "overdue" in kinds, kinds


@pytest.mark.parametrize("far_at_once", [False, True])
async def test_a_runner_driven_off_the_course_is_judged_for_cut_offs_once_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, far_at_once: bool
) -> None:
    """A shuttle from km 3 (1.7 km from the course at its first fix, or moving away 330 m a
    minute) drops the runner 400 m beside km 9, where they walk 20 minutes before they are on
    the course again. Off it, their progress is held at km 3 and their projection slips later
    every minute (Dark Sky's shuttle read "projected at Finish 7 h 24 min after its cut-off"
    to race HQ, back near the course 11 miles ahead; they made it by 43 min): no cut-off is
    judged until they are back on it, and then they are."""
    from coursewatch.live import clock

    run = _fixes(10.0, seed=2)
    t3, lat3, lon3 = run[120].time_s, run[120].lat, run[120].lon  # km 3 (2.5 m/s, 10 s a fix)
    away = 0.015 if far_at_once else 0.0
    ride = [Fix(t3 + 60.0 * k, lat3 + away + 0.015 * min(k, 20 - k) / 10, lon3, bib="7")
            for k in range(1, 20)]  # fmt: skip
    f9 = run[360]
    near = [Fix(t3 + 1200.0 + 60.0 * k, f9.lat, f9.lon + 400.0 / 78_000.0, bib="7")
            for k in range(1, 21)]  # fmt: skip
    back = [Fix(t3 + 2460.0 + f.time_s - f9.time_s, f.lat, f.lon, bib="7") for f in run[360:]]
    fixes = run[:121] + ride + near + back
    seen: list[tuple[float, bool, bool]] = []  # (since km 3 s, off the course, an ETA given)
    real = clock.cutoff_step

    def watched(state, now_s, progress_m, cutoffs, eta_ts, cfg):  # type: ignore[no-untyped-def]
        m = server.runner("demo", "7").matcher
        seen.append((now_s - t3, m.flagged or m.confirmed, any(not np.isnan(e) for e in eta_ts)))
        return real(state, now_s, progress_m, cutoffs, eta_ts, cfg)

    monkeypatch.setattr(clock, "cutoff_step", watched)
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        for k in range(0, len(fixes), 3):
            now[0] = fixes[min(k + 2, len(fixes) - 1)].time_s
            await _ingest(server, fixes[k : k + 3])
    beside = [given for t, off, given in seen if 1200.0 < t < 2460.0 and off]
    assert beside and not any(beside), seen  # (the first fix far: judged 7 of 8 times)
    assert all(given for t, _, given in seen if t < 0.0 or t > 3600.0), seen


async def test_a_silent_runner_is_at_risk_once_the_cut_off_passes(tmp_path: Path) -> None:
    """A runner stops for good at km 3 and goes silent: once the next cut-off passes, they can
    no longer make it (their ETA, kept from their last fix, slipped into the past: race HQ
    was never told)."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _silent_from_km_3(server, tmp_path, now, seed=7)
        for _ in range(10):
            now[0] += 1800.0
            await server.tick()
        kinds = {a.kind for a in server._store.alerts("demo")}
        assert "cutoff_risk" in kinds, kinds
        # one incident, for the first cut-off they miss (race HQ acts there; the later ones
        # wait for it), in words that say it has passed, not that it is "projected"
        (cut,) = [i for i in server.incidents("demo") if i.kind == "cutoff_risk"]
        assert len(cut.updates) == 1 and "not at Aid 1 by its cut-off (" in cut.sentence, cut


async def test_a_recording_replayed_fast_shows_its_silences(tmp_path: Path) -> None:
    """A race of last year replayed at 60x (`coursewatch replay`, a rehearsal): runner 7's
    tracker stops at km 3 while runner 8 runs on for two hours of the recording, two minutes
    of the server's. Race HQ sees 7 go silent, as it would have on the day (on the server's
    clock the silence was two minutes: nothing)."""
    year_s = 365 * 86400.0
    ann = _fixes(30.0, seed=5, stop_at_m=3000.0)
    bob = [replace(f, bib="8") for f in _fixes(30.0, seed=6)]
    now = [START + year_s]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        await server.put_runner(RunnerRecord("demo", "8", "Bob", ("dev-8",)))
        await _ingest(server, ann)
        for k in range(0, len(bob), 60):  # 30 min of the recording every 30 s
            await _ingest(server, bob[k : k + 60])
            now[0] += 30.0
            await server.tick()
        kinds = {i.kind for i in server.incidents("demo", bib="7", level=None)}
        assert "signal_lost" in kinds or "overdue" in kinds, kinds
        assert not _episodes(server, bib="8")  # (the news of their race only)


async def test_a_runner_silent_at_an_aid_station_is_not_overdue_at_the_next(
    tmp_path: Path,
) -> None:
    """A runner reaches Aid 1 and sleeps there, tracker off (a 200-miler): the silence is
    race HQ's to know, but "expected at Aid 2 27 min ago" is not (the volunteers see them)."""
    now = [START]
    fixes = _fixes(30.0, seed=7, stop_at_m=4000.0)
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        now[0] = fixes[-1].time_s
        await _ingest(server, fixes)
        for _ in range(8):
            now[0] += 1800.0
            await server.tick()
        kinds = {a.kind for a in server._store.alerts("demo")}
        assert "signal_lost" in kinds and "overdue" not in kinds, kinds


async def test_after_the_finish_or_a_dnf_a_tracker_carried_home_raises_nothing(
    tmp_path: Path,
) -> None:
    """Trackers stay on after the race: a finisher driven home, a runner out at km 3 (DNF)
    taken away by car. Each raised "far from the course" for race HQ, a stop an hour later;
    what they did before stays, and an SOS would still come (live/devices.py)."""
    run = _fixes(30.0, seed=3)
    last = run[-1]
    home = [
        Fix(last.time_s + 1800.0 + 60.0 * k, last.lat + 0.004 * k, last.lon, bib="7")
        for k in range(1, 40)
    ]  # driven home after half an hour's rest
    async with hq(tmp_path, clock=lambda: home[-1].time_s) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, run)
        assert server.runner("demo", "7").finished
        await _ingest(server, home)
        assert server.incidents("demo") == []
    out = [f for f in run if f.time_s < run[0].time_s + 1200.0]
    away = [Fix(out[-1].time_s + 60.0 * k, out[-1].lat - 0.004 * k, out[-1].lon, bib="7")
            for k in range(1, 40)]  # fmt: skip
    (tmp_path / "dnf").mkdir()
    async with hq(tmp_path / "dnf", clock=lambda: away[-1].time_s) as (server, _client):
        await _race(server, tmp_path / "dnf")
        await _ingest(server, out)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",), dnf=True))
        await _ingest(server, away)
        assert server.incidents("demo") == []
        assert len(server.fixes("demo", "7").time_s) == len(out) + len(away)  # kept, shown
    # race HQ restarted: out since the same fix (kept with their state: from the state's time,
    # a late fix's rebuild raised what their drive home did)
    async with hq(tmp_path / "dnf", clock=lambda: away[-1].time_s) as (server, _client):
        assert server.race("demo").out_since["7"] == out[-1].time_s


async def test_a_runner_put_out_ends_their_open_incidents_but_an_sos(tmp_path: Path) -> None:
    """A runner silent for hours at km 3 (an HQ incident) who pressed SOS is put out (DNF):
    race HQ knows where they are now, the silence ends with a sentence that says so; the SOS
    stays open until someone acknowledges it (they may be out *because* of it)."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        fixes = await _silent_from_km_3(server, tmp_path, now, seed=5)
        sos = Decoded(events=[DeviceEvent(fixes[-1].time_s, "sos", bib="7")])
        await server.ingest(lambda: sos, "native", "demo")
        for _ in range(6):
            now[0] += 1800.0
            await server.tick()
        was = {i.kind for i in server.incidents("demo") if i.open}
        assert was == {"sos", "overdue", "cutoff_risk"}, was  # (silent, then overdue)
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",), dnf=True))
        left = {i.kind: i for i in _episodes(server)}  # (and the crew's news: told the DNF)
        assert [i for i in left.values() if i.open] == [left["sos"]], left
        for kind in ("overdue", "cutoff_risk"):
            ended = left[kind]
            assert now[0] <= ended.closed_s < now[0] + 1, ended
            assert ended.sentence.startswith("Bib 7: out of the race (DNF at "), ended.sentence
        # put out again (a roster sent twice): nothing more
        n = len(server._store.alerts("demo"))
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",), dnf=True))
        assert len(server._store.alerts("demo")) == n
        # a mistake (bib 7 for bib 71) undone: their incidents are open again, as they were
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        again = {i.kind: i for i in _episodes(server)}
        assert {k for k, i in again.items() if i.open} == {"sos", "overdue", "cutoff_risk"}
        assert not again["overdue"].sentence.startswith("Bib 7: out of the race"), again


async def test_a_runner_running_off_the_course_is_not_stopped(tmp_path: Path) -> None:
    """A runner misses a turn and runs 3 km out and 3 km back (40 minutes): their progress is
    held all that time, but they never stopped. The crew read "no progress for 15 min, away
    from any station", STOPPED at the top of their list, while the runner ran."""
    fixes = _fixes(60.0, seed=4, wrong_turn_at_m=3000.0, wrong_turn_angle_deg=80.0,
                   wrong_turn_len_m=3000.0)  # fmt: skip
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await _race(server, tmp_path)
        for fix in fixes:
            await _ingest(server, [fix])
        kinds = {i.kind for i in server.incidents("demo", level=None)}
        assert "off_course" in kinds and "stopped" not in kinds, kinds


async def test_a_runner_lying_still_off_the_trail_is_stopped(tmp_path: Path) -> None:
    """A runner falls 150 m down a slope below the trail and lies there: off the course, their
    progress held whether they move or not, but their stop is still one, and race HQ is told
    after an hour, as on the trail."""
    run = [f for f in _fixes(60.0, seed=4) if f.time_s < START + 1200.0]
    last = run[-1]
    x, y = COURSE.frame.to_xy([last.lat], [last.lon])
    lat, lon = COURSE.frame.to_latlon(x + 150.0, y)  # (the trail runs north here)
    still = [Fix(last.time_s + 60.0 * k, float(lat[0]), float(lon[0]), bib="7")
             for k in range(1, 90)]  # fmt: skip
    async with hq(tmp_path, clock=lambda: still[-1].time_s) as (server, _client):
        await _race(server, tmp_path)
        for fix in [*run, *still]:
            await _ingest(server, [fix])
        found = {i.kind: i for i in server.incidents("demo", level=None)}
        assert "stopped" in found and found["stopped"].level == "alert", found


async def test_a_runner_on_pace_replayed_fast_is_at_no_cut_off_risk(tmp_path: Path) -> None:
    """A past race replayed fast (a rehearsal, a minute of it every few milliseconds): the
    runner's first minutes said little of their pace, and the ETA made from them judged the
    finish's cut-off for an hour of race time: "projected 262 min after its cut-off" at km 2,
    for every runner. On pace, nothing; a runner far behind is told when it is near."""
    from coursewatch.sim.field import course_gpx

    start = "2026-05-28T20:26:40+00:00"  # START
    race = (f"name: Rehearsal\ncourse: course.gpx\nstart: '{start}'\nstations:\n"
            "  - {name: Aid 1, km: 4.0, cutoff: '00:45'}\n"
            "  - {name: Finish, km: 12.0, cutoff: '01:40'}\n")  # fmt: skip
    fixes = _fixes(60.0, seed=2)  # 2.5 m/s: the finish at 1:20
    async with hq(tmp_path, clock=lambda: START + 365 * 86400.0) as (server, _client):
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for fix in fixes:
            await _ingest(server, [fix])
        assert server.runner("demo", "7").finished
        kinds = {i.kind for i in server.incidents("demo", level=None)}
        assert not kinds & {"cutoff_risk", "cutoff_missed"}, kinds


async def test_only_the_next_cut_off_is_judged(tmp_path: Path) -> None:
    """On time for Aid 1 (0:45, reached at 0:27), late for the finish (1:00, reached at 1:20):
    the finish's risk is raised once Aid 1 is behind the runner, not an hour ahead of it (a
    projection that far ahead is often wrong: benchmarks/cutoffs.py)."""
    from coursewatch.sim.field import course_gpx

    start = "2026-05-28T20:26:40+00:00"  # START
    race = (f"name: Tight\ncourse: course.gpx\nstart: '{start}'\nstations:\n"
            "  - {name: Aid 1, km: 4.0, cutoff: '00:45'}\n"
            "  - {name: Finish, km: 12.0, cutoff: '01:00'}\n")  # fmt: skip
    fixes = _fixes(60.0, seed=2)  # 2.5 m/s
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for k in range(0, len(fixes), 5):
            await _ingest(server, fixes[k : k + 5])
        (fin,) = [i for i in server.incidents("demo") if i.kind.startswith("cutoff")]
        assert fin.updates[0]["kind"] == "cutoff_risk" and "Finish" in fin.updates[0]["sentence"]
        assert fin.opened_s > START + 27 * 60, (fin.opened_s - START) / 60


async def test_a_cut_off_missed_then_reached_closes_with_when_it_was_reached(
    tmp_path: Path,
) -> None:
    """A runner projected late at Aid 1 (cut-off 0:20), race HQ acknowledging it, reaches it
    at 0:27: "reached Aid 1 7 min after its cut-off", timed by their pass, not by the fix or
    tick that saw it, is told to race HQ again (the runner goes on past a cut-off: theirs to
    decide, and no acknowledgement of a projection covers it). The finish's is its own
    incident, raised once they are past Aid 1, and ends at the finish."""
    from coursewatch.sim.field import course_gpx

    folder = tmp_path / "race"
    folder.mkdir()
    (folder / "course.gpx").write_text(course_gpx(COURSE))
    start = "2026-05-28T20:26:40+00:00"  # START
    race = (f"name: Tight\ncourse: course.gpx\nstart: '{start}'\nstations:\n"
            "  - {name: Aid 1, km: 4.0, cutoff: '00:20'}\n"
            "  - {name: Finish, km: 12.0, cutoff: '01:00'}\n")  # fmt: skip
    fixes = _fixes(60.0, seed=2)  # 2.5 m/s: Aid 1 at 0:27, the finish at 1:20
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        seen: list[tuple[bool, str | None]] = []
        for k in range(0, len(fixes), 5):
            await _ingest(server, fixes[k : k + 5])
            risk = [i for i in server.incidents("demo") if i.kind == "cutoff_risk"]
            if risk and risk[0].ack_by is None:
                await server.ack("demo", risk[0].id, "hq")
            seen += [(i.open, i.ack_by) for i in server.incidents("demo")
                     if i.kind == "cutoff_missed"]  # fmt: skip
        assert seen[0] == (True, None), seen  # told again, not covered by the acknowledgement
        # Aid 1's: open until race HQ decides; the finish's, raised once past Aid 1, ends there
        aid, fin = sorted((i for i in server.incidents("demo") if i.kind.startswith("cutoff")),
                          key=lambda i: i.opened_s)  # fmt: skip
        assert (aid.kind, aid.open, fin.kind, fin.open) == ("cutoff_missed", True,
                                                            "cutoff_missed", False)  # fmt: skip
        assert aid.sentence == "Bib 7: reached Aid 1 7 min after its cut-off (20:46)"
        assert fin.sentence == "Bib 7: reached Finish 19 min after its cut-off (21:26)"


async def test_a_cut_off_moved_later_ends_the_risk_it_raised(tmp_path: Path) -> None:
    """Race HQ moves Aid 1's cut-off 30 minutes later mid-race (weather) and sends the race
    file again: the runner's open risk kept its old figures, "projected at Aid 1 ... after
    its cut-off (20:46)", for the rest of their race. Now it ends, in the new cut-off's words."""
    from coursewatch.sim.field import course_gpx

    start = "2026-05-28T20:26:40+00:00"  # START
    race = (f"name: Tight\ncourse: course.gpx\nstart: '{start}'\nstations:\n"
            "  - {name: Aid 1, km: 4.0, cutoff: 'CUT'}\n"
            "  - {name: Finish, km: 12.0}\n")  # fmt: skip
    fixes = _fixes(60.0, seed=2)[:20]  # 2.5 m/s: Aid 1 at 0:27
    now = [fixes[0].time_s]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        gpx = course_gpx(COURSE).encode()
        await server.create_race("demo", race.replace("CUT", "00:20"), ".yaml", gpx, ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for f in fixes:
            now[0] = f.time_s
            await _ingest(server, [f])
        (risk,) = [i for i in server.incidents("demo") if i.kind == "cutoff_risk"]
        assert risk.open and "after its cut-off (20:46)" in risk.sentence, risk.sentence
        await server.create_race("demo", race.replace("CUT", "00:50"), ".yaml", gpx, ".gpx")
        for _ in range(3):
            now[0] += 360.0
            await server.tick()
        (risk,) = [i for i in server.incidents("demo") if i.kind.startswith("cutoff")]
        assert not risk.open and risk.updates[-1]["kind"] == "cutoff_clear", risk
        assert "now projected at Aid 1" in risk.sentence and "before its cut-off (21:16)" in (
            risk.sentence
        ), risk.sentence
        # moved back (a mistake): a new risk, in an incident of its own, open
        await server.create_race("demo", race.replace("CUT", "00:20"), ".yaml", gpx, ".gpx")
        for _ in range(3):
            now[0] += 360.0
            await server.tick()
        cuts = sorted((i for i in server.incidents("demo") if i.kind.startswith("cutoff")),
                      key=lambda i: i.id)  # fmt: skip
        assert [(i.open, i.updates[-1]["kind"]) for i in cuts] == [
            (False, "cutoff_clear"), (True, "cutoff_risk")]  # fmt: skip


async def test_a_course_line_corrected_mid_race_takes_back_the_alerts_it_raised(
    tmp_path: Path,
) -> None:
    """The course file is wrong between km 5 and 6 (the line 400 m north of the trail): every
    runner there is "off course for sure". Race HQ sends the corrected course: each runner is
    rebuilt on it from their fixes, and the alerts of the wrong line, open ones included, are
    taken back (they stayed open for good: nothing on the new line would end them)."""
    import numpy as np

    from coursewatch.sim.field import course_gpx

    k = (COURSE.cum_m > 5000.0) & (COURSE.cum_m < 6000.0)
    lat = COURSE.lat.copy()
    lat[k] += np.sin(np.pi * (COURSE.cum_m[k] - 5000.0) / 1000.0) * 0.004
    wrong = course_gpx(COURSE).encode()
    for a, b in zip(COURSE.lat[k], lat[k], strict=True):
        wrong = wrong.replace(f'lat="{a:.7f}"'.encode(), f'lat="{b:.7f}"'.encode(), 1)
    race = "name: T\ncourse: course.gpx\nstart: '2026-05-28T20:26:40+00:00'\n"
    fixes = [f for f in _fixes(30.0, seed=3) if f.time_s < START + 5 + 5700.0 / 2.5]
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s + 60.0) as (server, client):
        await server.create_race("demo", race, ".yaml", wrong, ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        await _ingest(server, fixes)
        (off,) = server.incidents("demo")
        assert off.kind == "off_course" and off.open and "for sure" in off.sentence, off
        stream = server.subscribe("demo", None, 0.2, frozenset({"incident"}))
        heard = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        assert [i.retracted for i in server.incidents("demo")] == [True]
        listed = (await client.get("/api/races/demo/incidents", headers=admin_headers())).json()
        assert listed["incidents"] == [], listed  # race HQ's list (the default: not taken back)
        said = await asyncio.wait_for(heard, 5.0)  # the boards are told
        assert said.data["id"] == off.id and said.data["retracted"], said
        assert said.data["open"] is False  # taken back: nothing of it is open
        assert server.runner("demo", "7").fixes == len(fixes)


async def test_a_station_reached_minutes_late_with_no_risk_first_is_missed(
    tmp_path: Path,
) -> None:
    """A runner projected late only in the last minutes before Aid 1 (a risk needs ten) who
    reaches it just after its cut-off: race HQ is told all the same (it was told nothing)."""
    from coursewatch.sim.field import course_gpx

    start = "2026-05-28T20:26:40+00:00"  # START
    race = (f"name: Tight\ncourse: course.gpx\nstart: '{start}'\nstations:\n"
            "  - {name: Aid 1, km: 4.0, cutoff: '00:26'}\n")  # fmt: skip
    fixes = _fixes(60.0, seed=2)  # 2.5 m/s: Aid 1 at 0:26:40
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await server.create_race("demo", race, ".yaml", course_gpx(COURSE).encode(), ".gpx")
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",)))
        for fix in fixes:
            await _ingest(server, [fix])
        (missed,) = [i for i in server.incidents("demo") if i.kind.startswith("cutoff")]
        assert missed.kind == "cutoff_missed" and missed.level == "alert", missed
        assert missed.sentence.startswith("Bib 7: reached Aid 1 1 min after its cut-off"), missed


async def test_a_runner_resting_short_of_an_aid_stations_point_is_at_it(tmp_path: Path) -> None:
    """Dark Sky's Pipe Dream: 2.5 h in the aid station's tent, 70 m before its point on the
    line. The board said "last station Ole Bull" (and no ETA) all that time; the runner page,
    from analyze, had them there."""
    async with hq(tmp_path, clock=lambda: START + 86400) as (server, _client):
        await _race(server, tmp_path)
        aid = server.race("demo").stations[0]
        await _ingest(server, _fixes(30.0, seed=7, stop_at_m=aid.distance_m - 70.0))
        runner = server.runner_view(server.race("demo"), server.runner("demo", "7"), True)
        assert runner["last_station"]["label"] == aid.label
        assert runner["last_station_ts"] is not None
        assert runner["next_station"]["distance_m"] > aid.distance_m


async def test_a_silence_that_ends_at_the_finish_closes(tmp_path: Path) -> None:
    """Silent from km 11, the phone's buffer sent 30 s after the finish: the signal's return,
    dated when it arrived (after the finish), was dropped as after the race, and race HQ kept
    an open "silent" incident on a finisher."""
    fixes = _fixes(30.0, seed=3)
    cut = next(i for i, f in enumerate(fixes) if f.time_s > START + 11_000 / 2.5)
    now = [fixes[cut - 1].time_s]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes[:cut])
        now[0] += 1200.0
        await server.tick()
        assert [i.open for i in _episodes(server)] == [True]
        now[0] = fixes[-1].time_s + 1800.0  # the rest, long after (and after the finish)
        await _ingest(server, fixes[cut:])
        assert server.runner("demo", "7").finished
        assert [i.open for i in _episodes(server)] == [False]


async def test_resting_in_the_tent_across_a_cut_off_is_no_risk(tmp_path: Path) -> None:
    """In the aid station's tent 70 m short of its point when its cut-off passes (the tracker
    in a pocket, indoors): the board had them there, race HQ got "not at Aid 1 by its
    cut-off"."""
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        aid = server.race("demo").stations[0]
        fixes = _fixes(30.0, seed=7, stop_at_m=aid.distance_m - 70.0)
        now[0] = fixes[-1].time_s
        await _ingest(server, fixes)
        assert aid.cutoff_ts is not None
        while now[0] < aid.cutoff_ts + 3600.0:
            now[0] += 600.0
            await server.tick()
        sentences = [u["sentence"] for i in server.incidents("demo", level=None)
                     for u in i.updates if "cut-off" in u["sentence"]]  # fmt: skip
        assert not [w for w in sentences if aid.label in w], sentences


async def test_the_board_and_the_runner_page_say_the_same_arrival_at_an_aid_station(
    tmp_path: Path,
) -> None:
    """Pings 60 m before an aid station's point on the line (its tent), then an hour with no
    fix while the runner rests there: the board said they arrived at 00:18, their page, at
    the first ping after the hour (01:28, by the progress crossing the point)."""
    race_start = START
    async with hq(tmp_path, clock=lambda: race_start + 4 * 3600.0) as (server, _client):
        await _race(server, tmp_path)
        aid_m = server.race("demo").station_m[0]
        along = [*np.arange(0.0, aid_m - 60.0, 75.0), aid_m - 60.0, aid_m + 300.0, aid_m + 600.0]
        times = [race_start + 5.0 + m / 2.5 for m in along]
        times[-2:] = [times[-3] + 3600.0, times[-3] + 3720.0]  # an hour in the tent
        lat, lon = COURSE.latlon_at(np.array(along))
        at = zip(times, lat, lon, strict=True)
        fixes = [Fix(t, float(a), float(b), bib="7") for t, a, b in at]
        await _ingest(server, fixes)
        race = server.race("demo")
        board = server.runner_view(race, server.runner("demo", "7"), True)
        page = server.progress("demo", "7")
        arrived = next(t for t, m in zip(times, along, strict=True) if m >= aid_m - 100.0)
        assert board["last_station"]["distance_m"] == round(aid_m, 1)
        assert board["last_station_ts"] == pytest.approx(arrived, abs=1.0)
        assert page["passes"][0]["time_s"] == pytest.approx(arrived, abs=1.0), page["passes"]


def _beside_at_the_end() -> list[Fix]:
    """A run whose last two minutes are 90 m beside the line (a street parallel to the course,
    to the finish arch): the engine flags the runner and then finds their finish."""
    fixes = _fixes(10.0, seed=3)
    lat = np.array([f.lat for f in fixes[-12:]])
    lon = np.array([f.lon for f in fixes[-12:]])
    x, y = COURSE.frame.to_xy(lat, lon)
    lat, lon = COURSE.frame.to_latlon(x + 90.0, y)
    at = zip(fixes[-12:], lat, lon, strict=True)
    fixes[-12:] = [Fix(f.time_s, float(a), float(b), bib="7") for f, a, b in at]
    return fixes


@pytest.mark.parametrize("order", ["in order", "last two swapped", "one late"])
async def test_a_flag_raised_at_the_finish_ends_with_the_runners_race(
    tmp_path: Path, order: str
) -> None:
    """Ouray's finisher kept a flag raised by the finish pings themselves open for good (their
    runner page, a yellow ring on the map); so did a finish found by replaying fixes that came
    late or out of order (review)."""
    fixes = _beside_at_the_end()
    batches = [fixes]
    if order == "last two swapped":
        batches = [[*fixes[:-2], fixes[-1], fixes[-2]]]
    elif order == "one late":
        batches = [[*fixes[:-8], *fixes[-7:]], [fixes[-8]]]
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await _race(server, tmp_path)
        for batch in batches:
            await _ingest(server, batch)
        runner = server.runner("demo", "7")
        assert runner.finished and runner.matcher.flagged
        (flag,) = _episodes(server)
        assert flag.kind == "off_course" and not flag.open, flag
        assert flag.sentence.startswith("Bib 7: finished at "), flag.sentence


@pytest.mark.parametrize("call", [{"dnf": True}, {"finish_ts": START + 4000.0}])
async def test_race_hqs_call_before_the_engines_finish_is_not_told_again(
    tmp_path: Path, call: dict[str, object]
) -> None:
    """Race HQ recorded the finish at the mat (or put the runner out), then their tracker came
    to the finish 90 m beside the line: a ghost incident "finished" appeared, or a DNF runner
    was told "finished at" (review)."""
    fixes = _beside_at_the_end()
    async with hq(tmp_path, clock=lambda: fixes[-1].time_s) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes[:-20])
        await server.put_runner(RunnerRecord("demo", "7", "Ann", ("dev-7",), **call))  # type: ignore[arg-type]
        await _ingest(server, fixes[-20:])
        kinds = [u["kind"] for i in server.incidents("demo", level=None) for u in i.updates]
        assert "finished" not in kinds, kinds


async def test_a_silence_that_ends_in_the_finish_batch_ends_as_the_clock_says(
    tmp_path: Path,
) -> None:
    """A runner silent an hour sends the rest of their race, finish included, in one batch: the
    silence ends with "signal back", not also with "finished" (review)."""
    fixes = _fixes(30.0, seed=3)
    cut = len(fixes) - 40
    now = [fixes[cut - 1].time_s]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await _race(server, tmp_path)
        await _ingest(server, fixes[:cut])
        for _ in range(4):  # 40 min of race time unseen: a flag for the runner
            now[0] += 600.0
            await server.tick()
        now[0] = fixes[-1].time_s + 3600.0
        await _ingest(server, [replace(f, time_s=f.time_s + 3600.0) for f in fixes[cut:]])
        assert server.runner("demo", "7").finished
        (silence,) = [i for i in server.incidents("demo", level=None) if i.kind == "signal_lost"]
        kinds = [u["kind"] for u in silence.updates]
        assert not silence.open and kinds[-1] == "signal_back" and "finished" not in kinds, kinds


async def test_a_runner_going_back_along_the_course_a_kilometre_reaches_race_hq(
    tmp_path: Path,
) -> None:
    """A wrong way is on the line, where no distance from it confirms anything: race HQ never
    heard of a runner going back along the course, however far. A kilometre back, the
    runner's flag becomes race HQ's incident (one, the wrong way's), closed when they go the
    right way again."""
    from coursewatch.sim.hq import send_run

    s_m = np.concatenate([np.arange(0.0, 6000.0, 25.0), np.arange(6000.0, 4400.0, -25.0),
                          np.arange(4400.0, COURSE.length_m, 25.0)])  # fmt: skip
    t = START + 60.0 + 10.0 * np.arange(len(s_m))  # 2.5 m/s
    lat, lon = COURSE.latlon_at(s_m)
    now = [START]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _):
        await add_race(server, tmp_path, COURSE, "demo", START)
        await server.put_runner(RunnerRecord("demo", "7", "Ann"))
        await send_run(server, "7", t, lat, lon, 6, now)
        hq_incidents = server.incidents("demo")
        assert [(i.kind, i.open) for i in hq_incidents] == [("wrong_way", False)], hq_incidents
        said = [u["sentence"] for u in hq_incidents[0].updates]
        assert any(re.match(r"Bib 7 is still going the wrong way at km 4\.9\d .*: 1\.0 km back "
                            r"along the course since km 6\.00", u) for u in said), said  # fmt: skip


async def test_a_tracker_first_heard_mid_race_on_a_loop_is_on_the_field_s_lap(
    tmp_path: Path,
) -> None:
    """A backyard-like race: a 4.4 km loop, six runners at 2 m/s from the start. A seventh's
    tracker is first heard 2 h in (km 14.4, lap 4): the laps are alike on the map, and
    placed by a usual pace of 1.3 m/s they were a lap behind for the rest of the race (a
    rehearsal on a real backyard ultra). Race HQ places them by the field's pace; rebuilt
    from their fixes (a fix older than the history) and after a restart where their stored
    state does not fit (put back after the others, whose pace judges it), by the same."""
    import sqlite3

    from coursewatch.sim.simulate import loop_course

    course = loop_course(6, 2000.0, 200.0)
    now = [START + 7800.0]
    runs = {bib: simulate_run(course, pace_mps=2.0 - 0.02 * (bib - 4), interval_s=60.0,
                              seed=bib, start_ts=START) for bib in range(1, 8)}  # fmt: skip
    truth_m = 129 * 60.0 * (2.0 - 0.02 * 3)  # the late one (bib 0) at fix 129
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        await add_race(server, tmp_path, course, "demo", START)
        for bib, run in runs.items():
            late = bib == 7  # (bib 0: the first one a restart would rebuild)
            await server.put_runner(RunnerRecord("demo", "0" if late else str(bib), f"R{bib}"))
            decoded = Decoded()
            for i in range(120 if late else 0, 130):
                lat, lon = float(run.lat[i]), float(run.lon[i])
                decoded.add(Fix(float(run.time_s[i]), lat, lon, bib="0" if late else str(bib)), i)
            await server.ingest(lambda d=decoded: d, "native", "demo")  # type: ignore[misc]
        runner = server.race("demo").runners["0"]
        assert runner.matcher.progress_m == pytest.approx(truth_m, abs=150.0)
        # the lap shown: the next one 50 m past the mark, not either side of it in a corral
        laps = [server.race("demo").lap(m) for m in (0.0, 4390.0, 4410.0, 4460.0, 15_000.0)]
        assert laps == [1, 1, 1, 2, 4]
        placed = runner.matcher.placed_pace_mps
        assert placed is not None and 1.8 < placed < 2.1
        runner.usual_pace = lambda t_s: 1.3  # the field slower now: the first fix's lap
        runner.rebuild(server._store.fixes("demo", "0"))  # is judged by its own
        assert runner.matcher.progress_m == pytest.approx(truth_m, abs=150.0)
    with sqlite3.connect(tmp_path / "hq.db") as db:
        db.execute("UPDATE runner_states SET state='{}' WHERE bib='0'")
    async with hq(tmp_path, clock=lambda: now[0]) as (server, _client):
        progress = server.race("demo").runners["0"].matcher.progress_m
        assert progress == pytest.approx(truth_m, abs=150.0)
        # the course sent again (another file of the same loop): every runner is rebuilt on
        # it, the late one first (bib 0), by the pace that placed them
        text = (tmp_path / "demo" / "course.gpx").read_text().replace("<name>", "<name>v2 ", 1)
        race_text = (tmp_path / "demo" / "race.yaml").read_text()
        await server.create_race("demo", race_text, ".yaml", text.encode(), ".gpx")
        progress = server.race("demo").runners["0"].matcher.progress_m
        assert progress == pytest.approx(truth_m, abs=150.0)


def test_the_field_s_pace_counts_the_finishers_at_their_finish() -> None:
    """After the race (a course sent again, a late fix rebuilding a runner), everyone has
    finished: the finishers count, at their own finish, or there was no field and a late
    tracker was placed at 1.3 m/s again (a lap behind). Runners out (DNF) do not count."""
    from types import SimpleNamespace

    from coursewatch.live.fieldpace import FieldPace

    def runner(finish_s: float | None, dnf: bool = False) -> SimpleNamespace:
        return SimpleNamespace(
            last_time_s=START + 9000.0, start_ts=START, finished_s=finish_s,
            record=SimpleNamespace(dnf=dnf), matcher=SimpleNamespace(progress_m=9_990.0),
            course=SimpleNamespace(length_m=10_000.0),
        )  # fmt: skip

    field = {str(k): runner(START + 4000.0 + 250.0 * k) for k in range(5)}
    field["out"] = runner(None, dnf=True)
    assert FieldPace(field)(START + 9000.0) == pytest.approx(10_000.0 / 4500.0)  # type: ignore[arg-type]
    assert FieldPace({k: v for k, v in field.items() if k != "0"})(START) is None  # type: ignore[arg-type]
