"""The ingest pipeline: the only place the order of the steps is written.

    decode -> filter -> match -> detect -> store -> publish

Each step is a plain method over the whole batch (one HTTP request's fixes). A bad fix is
reported and skipped at the step that finds it; it never stops the batch. The store step is the
only one that waits (for the one writer's commit), so the response for a request is sent only
once its fixes are durable. The clock-driven detectors run from :meth:`Pipeline.tick`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

from coursewatch.bus import Bus
from coursewatch.detectors.device import DeviceState
from coursewatch.incidents import ALERT, NEWS
from coursewatch.live import dnf, durable, news
from coursewatch.live import work as batches
from coursewatch.live.afterrace import in_race, replay_since
from coursewatch.live.checks import FeedTrouble, no_trouble
from coursewatch.live.clock import RaceWatch
from coursewatch.live.devices import ANY_TIME, device_alerts, restore
from coursewatch.live.raceclock import RaceClocks
from coursewatch.live.registry import LiveRace, Registry, shown_id
from coursewatch.live.report import DROP_HINTS, IngestReport
from coursewatch.live.rows import cuts_of, say_event, stored_fix
from coursewatch.live.runner import LiveRunner, new_epoch
from coursewatch.live.views import incident_json, runner_json
from coursewatch.live.work import Matched, Routed, Work, merge_counts, merge_retractions
from coursewatch.protocols import NO_FIX_DEG, Decoded, DeviceEvent, Fix, FixProblem
from coursewatch.store import AlertRecord, FixRow, Incident, RunnerState, Saved, Store

Clock = Callable[[], float]
__all__ = ["Clock", "Matched", "Pipeline", "Routed", "Work"]


class Pipeline:
    def __init__(self, registry: Registry, store: Store, bus: Bus, clock: Clock = time.time,
                 max_future_s: float = 600.0) -> None:  # fmt: skip
        self.registry, self.store, self.bus = registry, store, bus
        self.clock, self.max_future_s = clock, max_future_s
        self.watches: dict[str, RaceWatch] = {}  # race -> its clock-driven detectors
        self.clocks = RaceClocks(clock)
        self.owns: Callable[[str, str], bool] | None = None  # a worker's runners, if one
        self.feed_trouble: FeedTrouble = no_trouble  # a runner's own feed failing (the server's)
        self.state_every_s = durable.SAVE_EVERY_S  # race time between a runner's states
        self.outage = batches.Outage()  # since when the store refuses batches

    def watch(self, race: LiveRace) -> RaceWatch:
        """The time-based detectors and ETA model of a race (made again if the race changed)."""
        w = self.watches.get(race.id)
        if w is None or w.race is not race:
            old, w = w, RaceWatch(race, self.clock, self.feed_trouble)
            self.watches[race.id] = w
            if old is not None:  # the race file sent again
                w.carry(old)
        return w

    async def ingest(self, decode: Callable[[], Decoded], protocol: str,
                     race_id: str | None = None) -> IngestReport:  # fmt: skip
        """Run one request's payload through every step; raises PayloadError if unreadable."""
        return await self.run(await self.take(decode, protocol, race_id))

    async def take(self, decode: Callable[[], Decoded], protocol: str,
                   race_id: str | None = None) -> Work:  # fmt: skip
        """Steps 1-2 (a web node sends their work on to the workers: live/node.py)."""
        work = Work(protocol, self.clock(), IngestReport())
        decoded = decode()  # 1. decode: protocol -> fixes (+ the bad ones, reported)
        work.report.problems.extend(decoded.problems)
        work.count(race_id or "", "invalid", len(decoded.problems))
        await self.filter(work, decoded, race_id)  # 2. filter
        return work

    async def run(self, *works: Work) -> IngestReport:
        """Steps 3-6, of batches stored in one transaction (a worker's read): all or none."""
        runners = batches.runners_of(works)
        with batches.storing(runners, self.clock(), self.outage):  # refused: the tracker resends
            for work in works:
                self.match(work)  # 3. match
                self.detect(work)  # 4. detect
            saved = await self.save(*works)  # 5. store
        for work in works[:-1]:  # 6. publish (the incidents once, with the last)
            self.publish(work, Saved())
        self.publish(works[-1], saved)
        return works[-1].report

    # -- 2. filter ------------------------------------------------------------------------------
    async def filter(self, work: Work, decoded: Decoded, race_id: str | None) -> None:
        """Find each fix's runner; drop (and count) unknown devices, no-fix and early fixes."""
        fixed_race = self.registry.races.get(race_id) if race_id else None
        newest_ok = work.received_s + self.max_future_s
        # who (bib, device) -> the runner's fixes and start: found once per runner, not per fix
        found: dict[tuple[str | None, str | None], tuple[Routed, float]] = {}
        groups: dict[tuple[str, str], Routed] = {}
        for fix, index in zip(decoded.fixes, decoded.index, strict=True):
            who = (fix.bib, fix.device_id)
            hit = found.get(who)
            if hit is None:
                owner = self._route(fix, fixed_race, work.protocol)
                if owner is None:
                    by_bib = fixed_race is not None and fix.bib is not None
                    reason = "unknown_bib" if by_bib else "unknown_device"
                    name = shown_id(fix.device_id) if fix.bib is None else f"bib {fix.bib}"
                    self._drop(work, race_id or "", index, reason, f"{name} is not registered")
                    if fix.device_id is not None and fix.bib is None:
                        await self.store.note_unknown_device(
                            shown_id(fix.device_id), work.protocol, work.received_s
                        )
                        found.clear()  # the registry may have changed meanwhile
                    continue
                race, runner = owner
                if fix.device_id is not None:
                    runner.heard[fix.device_id] = work.received_s
                key = (race.id, runner.bib)
                group = groups.get(key)
                if group is None or group.runner is not runner:
                    group = groups[key] = Routed(race, runner)
                    work.routed.append(group)
                hit = found[who] = (group, race.start_s(runner))
            group, start_s = hit
            if abs(fix.lat) < NO_FIX_DEG and abs(fix.lon) < NO_FIX_DEG:
                self._drop(work, group.race.id, index, "no_position")
            elif fix.time_s < start_s:
                self._drop(work, group.race.id, index, "before_start")
            elif fix.time_s > newest_ok:
                self._drop(work, group.race.id, index, "future")
            else:
                group.fixes.append(fix)
                group.index.append(index)
        for ev in decoded.events:  # what the devices said: their fixes were counted above
            owner = self._route(ev, fixed_race, work.protocol)
            if (
                owner is not None
                and ev.time_s <= newest_ok
                and (ev.kind in ANY_TIME or ev.time_s >= owner[0].start_s(owner[1]))
            ):
                work.said.append((*owner, ev))
                work.status_before.setdefault((owner[0].id, owner[1].bib), owner[1].status)

    def _route(
        self, fix: Fix | DeviceEvent, race: LiveRace | None, protocol: str = ""
    ) -> tuple[LiveRace, LiveRunner] | None:
        if race is not None and fix.bib is not None:
            runner = race.runners.get(fix.bib)
            return None if runner is None else (race, runner)
        if fix.device_id is None:
            return None
        owner = self.registry.owner(fix.device_id, protocol)
        if owner is None or (race is not None and owner[0] is not race):
            return None
        return owner

    def _drop(self, work: Work, race_id: str, index: int, reason: str, what: str = "") -> None:
        work.report.dropped[reason] += 1
        work.count(race_id, reason)
        if reason in ("unknown_device", "unknown_bib"):
            work.report.problems.append(FixProblem(index, f"[{index}]", what, DROP_HINTS[reason]))

    # -- 3. match -------------------------------------------------------------------------------
    def match(self, work: Work) -> None:
        """Feed each runner's fixes to its engine in time order: those no newer than their
        last in one rewind (or one rebuild from the store), the newer ones in one run; a time
        already held (or twice in the batch: the first is kept) is a duplicate."""
        for race, runner, _ in work.said:  # what their device said, with no fix (an SOS)
            if runner.suspect:
                self.reload(race, runner)
        for g in work.routed:
            race, runner, fixes = g.race, g.runner, g.fixes
            if runner.suspect:
                self.reload(race, runner)
            work.status_before.setdefault((race.id, runner.bib), runner.status)
            if not fixes:  # (each dropped: no position, say)
                continue
            times = [f.time_s for f in fixes]
            last = -math.inf if runner.last_time_s is None else runner.last_time_s
            once, late = list(range(len(fixes))), []
            if times[0] <= last or any(a >= b for a, b in itertools.pairwise(times)):  # (seldom)
                order = sorted(once, key=times.__getitem__)  # (stable)
                once = [p for k, p in enumerate(order)
                        if not k or times[order[k - 1]] != times[p]]  # fmt: skip
                work.duplicates(race.id, len(order) - len(once))
                late = [p for p in once if times[p] <= last]
            if late:
                self._late(work, g, late)
            newer = once[len(late) :]  # (in time order: after every late one)
            if newer:
                run = (runner.add(fixes[newer[0]]) if len(newer) == 1
                       else runner.add_many([fixes[p] for p in newer]))  # fmt: skip
                runner.received_s = work.received_s
                self.clocks.saw(race.id, fixes[newer[-1]].time_s, work.received_s)
                work.took(g, run, newer)

    def _late(self, work: Work, g: Routed, late: list[int]) -> None:
        """Fixes of ``g`` (positions ``late``, in time order) no newer than the runner's last:
        one rewind and replay, or one rebuild from the store when they are older than the
        history kept in memory."""
        fixes = [g.fixes[p] for p in late]
        step, taken = g.runner.add_late(fixes)
        if step.needs_rebuild:
            step, taken = g.runner.rebuild(self.store.fixes(g.race.id, g.runner.bib), fixes)
            work.count(g.race.id, "rebuilds", int(step.replay_from_s is not None))
        work.duplicates(g.race.id, len(late) - len(taken))
        if taken:
            work.took(g, step, [late[i] for i in taken], late=True)
            since = -math.inf if step.replay_from_s is None else step.replay_from_s
            g.race.passes.retime(g.runner.bib, g.race.start_s(g.runner),
                                 *g.runner.progress_series(), since)  # fmt: skip

    # -- 4. detect ------------------------------------------------------------------------------
    def detect(self, work: Work) -> None:
        """Engine events -> alerts with a sentence; replays retract what they no longer raise."""
        raised: list[tuple[int, AlertRecord]] = []  # (payload position of the fix, alert)
        for m in work.steps:
            race, runner, step = m.routed.race, m.routed.runner, m.step
            if step.replay_from_s is not None:
                since = replay_since(race, runner, step.replay_from_s)
                work.retract.append((race.id, runner.bib, since))
                key = (race.id, runner.bib)
                raised = [(i, a) for i, a in raised
                          if (a.race_id, a.bib) != key or a.raised_s < since]  # fmt: skip
                raised.extend((m.index[0], say_event(race, runner, e))
                              for e in in_race(race, runner, step.events))  # fmt: skip
                continue
            # newest fixes in time order: engine events, then the clock's (live/afterrace.py)
            events = in_race(race, runner, step.events)
            said = [say_event(race, runner, e) for e in events]
            arrived = self.race_now(race.id, work.received_s)
            timed = self.watch(race).on_run(runner, step, work.received_s, arrived, cuts_of(said))
            k = q = 0
            for j, (at, t_s) in enumerate(zip(m.index, step.new_s, strict=True)):
                while k < len(events) and events[k][1] == t_s:
                    raised.append((at, said[k]))
                    k += 1
                while q < len(timed) and timed[q][0] == j:
                    raised.append((at, timed[q][1]))
                    q += 1
            # none: each is raised at one of them
            raised.extend((m.index[-1], a) for a in said[k:])
        for m in work.steps:  # a finish found now: what is still open of the runner ends
            ends = dnf.at_finish(m.routed.race, m.routed.runner, m.step, raised, self.store)
            raised.extend((m.index[-1], a) for a in ends)
        raised.sort(key=lambda pair: pair[0])  # payload order, as the fixes came
        work.alerts.extend(a for _, a in raised)
        work.alerts.extend(device_alerts(work.said, work.received_s))

    # -- 5. store -------------------------------------------------------------------------------
    async def save(self, *works: Work) -> Saved:
        """One transaction through the one writer, durable when it returns (even with no
        rows), with the states of the runners who raised an event, had their past changed or
        are due one (live/durable.py); refused after one of its runners' (Writer.submit)."""
        states: dict[tuple[str, str], RunnerState] = {}
        for work in works:
            raised = {(a.race_id, a.bib) for a in work.alerts}
            runs = [(m.routed.race, m.routed.runner, self.watch(m.routed.race).of(m.routed.runner),
                     (m.routed.race.id, m.routed.runner.bib) in raised
                     or m.step.replay_from_s is not None) for m in work.steps]  # fmt: skip
            for st in durable.states(runs, work.received_s, self.state_every_s):
                states[(st.race_id, st.bib)] = st
        gone = {(r.record.race_id, r.bib) for r in batches.runners_of(works) if r.gone}
        saved = await self.store.save(  # (a runner race HQ removes meanwhile: not theirs)
            [row for w in works for row in w.rows if (row.race_id, row.bib) not in gone],
            [a for w in works for a in w.alerts if (a.race_id, a.bib) not in gone],
            merge_retractions([r for w in works for r in w.retract]),
            counts=merge_counts(works),
            states=[st for k, st in states.items() if k not in gone],
            keys=batches.keys(batches.runners_of(works)),
        )
        works[-1].report.incidents.extend(saved.incidents)
        return saved

    def put_back(
        self, race: LiveRace, runner: LiveRunner, stored: RunnerState | None, replay: bool = False
    ) -> Work | None:
        """A runner back to what the store holds (a restart, a batch of theirs not stored):
        their state ``stored`` and the fixes stored after it played again; returns what those
        raised (stored with them: a save finds it known). No state that fits: a new watch and
        the engine rebuilt from every stored fix (None); ``replay`` (another course): what it
        raises now, what it no longer does taken back, as work ``rebuild``."""
        watch, runner.epoch = self.watch(race), new_epoch()  # what it holds: the store's
        if stored is not None and durable.thaw(race, runner, watch.of(runner), stored):
            if runner.last_time_s is not None and runner.received_s is not None:
                self.clocks.saw(race.id, runner.last_time_s, runner.received_s)
            rows = self.store.fix_rows(race.id, runner.bib, stored.time_s)
            work = self._catch_up(race, runner, rows)
            watch.keep_etas(runner, refresh=False)  # its last predictions, as they were
            return work
        watch.runners.pop(runner.bib, None)
        step, _ = runner.rebuild(self.store.fixes(race.id, runner.bib), keep=False)
        race.passes.restore(runner.bib, None)
        if runner.last_time_s is not None:
            race.passes.backfill(runner.bib, race.start_s(runner), *runner.progress_series())
        if not replay or runner.last_time_s is None:
            return None
        work = Work("rebuild", self.clock(), IngestReport())
        work.steps.append(Matched(Routed(race, runner), step, [0]))
        self.detect(work)
        return work

    def reload(self, race: LiveRace, runner: LiveRunner) -> None:
        """A runner whose batch was not stored back to what the store holds, devices too."""
        runner.suspect = False  # (the catch-up below matches: not reloaded again)
        try:
            self.put_back(race, runner, self.store.runner_state(race.id, runner.bib))
            runner.device = DeviceState()  # what their device said, as stored
            restore([runner], self.store, race.id)
            # the store was away, not the signal: that time does not count as silence
            self.watch(race).resume(runner, self.clock(), away_since_s=runner.suspect_s)
            runner.suspect_s = None
        except Exception:  # the store is still away: tried again at the next fix
            runner.suspect = True
            raise

    def _catch_up(self, race: LiveRace, runner: LiveRunner, rows: list[FixRow]) -> Work:
        """Stored fixes played again as they arrived (request by request): the work whose
        events and state a save would store."""
        work = Work("replay", self.clock(), IngestReport())
        for received_s, same in itertools.groupby(rows, key=lambda r: r.received_ts):
            part = Work("replay", received_s, work.report)
            fixes = [stored_fix(r) for r in same]
            part.routed.append(Routed(race, runner, fixes, list(range(len(fixes)))))
            self.match(part)
            self.detect(part)
            work.steps.extend(part.steps)
            work.alerts.extend(part.alerts)
            work.retract.extend(part.retract)
        return work

    # -- 6. publish -----------------------------------------------------------------------------
    def publish(self, work: Work, saved: Saved) -> None:
        """Runner updates (one per runner per batch), status changes, alerts, retractions."""
        now = self.clock()
        first: dict[tuple[str, str], int] = {}  # payload position of the runner's first fix
        latest: dict[tuple[str, str], tuple[LiveRace, LiveRunner]] = {}
        for m in work.steps:
            key = (m.routed.race.id, m.routed.runner.bib)
            first.setdefault(key, m.index[0])
            latest[key] = (m.routed.race, m.routed.runner)
        for race, runner, _ in work.said:  # what their device said, with no fix (an SOS)
            key = (race.id, runner.bib)
            first.setdefault(key, (1 << 62) + len(first))  # after the runners with fixes
            latest.setdefault(key, (race, runner))
        for key in sorted(first, key=first.__getitem__):
            race, runner = latest[key]
            self.bus.publish(race.id, "runner", runner_json(race, runner, now))
            before = work.status_before.get(key)
            if before != runner.status:
                change = {"bib": runner.bib, "from": before, "to": runner.status}
                self.bus.publish(race.id, "status", change)
        self.publish_incidents(saved.incidents)

    def publish_incidents(self, incidents: list[Incident]) -> None:
        """Each incident opened, updated, closed or gone: HQ's (level alert) to the race's stream
        and webhooks, a runner's flags as flags (their channel), their race's news as news."""
        for i in incidents:
            kind = "incident" if i.level == ALERT else "news" if i.level == NEWS else "flag"
            self.bus.publish(i.race_id, kind, news.told(i) if kind == "news" else incident_json(i))

    # -- time-based detectors -------------------------------------------------------------------
    async def tick(self) -> list[Incident]:
        """Run the time-based detectors over every runner; store and publish what they raise."""
        now = self.clock()
        alerts: list[AlertRecord] = []
        changed: list[tuple[LiveRace, LiveRunner, str]] = []
        states: list[RunnerState] = []
        raised_by: list[LiveRunner] = []
        for race in self.registry.races.values():
            watch = self.watch(race)
            race_now = self.race_now(race.id, now)
            for runner in race.runners.values():
                if self.owns is not None and not self.owns(race.id, runner.bib):
                    continue  # another worker's
                if runner.suspect:  # what it holds is not stored: the store's first
                    self.reload(race, runner)
                before = runner.status
                raised = watch.on_tick(runner, now, race_now)
                if raised:
                    alerts.extend(raised)
                    raised_by.append(runner)
                    states.extend(s for s in [durable.freeze(race, runner, watch.of(runner))] if s)
                if runner.status != before:  # silent, say: the board shows it now
                    changed.append((race, runner, before))
        saved, keys = Saved(), batches.keys(raised_by)
        if alerts:
            with batches.storing(raised_by, now, self.outage):  # not stored: raised again
                saved = await self.store.save([], alerts, states=states, keys=keys)
        for race, runner, before in changed:
            self.bus.publish(race.id, "runner", runner_json(race, runner, now))
            change = {"bib": runner.bib, "from": before, "to": runner.status}
            self.bus.publish(race.id, "status", change)
        self.publish_incidents(saved.incidents)
        return saved.incidents

    def race_now(self, race_id: str, now_s: float | None = None) -> float:
        """The race's clock (live/raceclock.py)."""
        return self.clocks.now(race_id, now_s)
