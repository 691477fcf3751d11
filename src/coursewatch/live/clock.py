"""What happens with time: the clock-driven detectors and the ETA model, per runner.

The detectors (:mod:`coursewatch.detectors.stopped`, ``signal``, ``overdue``, ``cutoff``) and the
ETA model are pure; this module holds each runner's states, feeds them every new fix (in time
order: a late fix corrects the engine, not their history) and every clock tick, keeps each runner's
ETAs at the next station and the finish up to date (``LiveRunner.etas``, which the views read), and
turns the detectors' events into alerts (the sentence from :mod:`coursewatch.live.narrate`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter

import numpy as np

from coursewatch.detectors.cutoff import CutoffConfig, CutoffEvent, CutoffState, cutoff_step
from coursewatch.detectors.overdue import OverdueConfig, OverdueEvent, OverdueState, overdue_step
from coursewatch.detectors.signal import (
    SignalConfig,
    SignalEvent,
    SignalState,
    signal_run,
    signal_tick,
)
from coursewatch.detectors.stopped import (
    StoppedConfig,
    StoppedEvent,
    StoppedState,
    near_station,
    stopped_step,
)
from coursewatch.eta import EtaModel, EtaState
from coursewatch.geo import haversine_m
from coursewatch.incidents import episode_key, rule
from coursewatch.live import cadence, cutoffpass, news
from coursewatch.live.afterrace import raced_until_s
from coursewatch.live.checks import FeedTrouble, no_trouble, with_feed
from coursewatch.live.fieldwatch import Range
from coursewatch.live.narrate import ClockEvent
from coursewatch.live.passes import reached
from coursewatch.live.raceclock import LIVE_LAG_S
from coursewatch.live.registry import LiveRace
from coursewatch.live.runner import LiveRunner
from coursewatch.live.step import Step
from coursewatch.store import AlertRecord

ETA_REFRESH_S = 30.0  # race time: the board's ETAs of a runner made again once in each ...
ETA_REFRESH_WALL_S = 1.0  # ... and server time: a backlog caught up at once predicts once
OFF_MOVED_M = 100.0  # off the course, moved this far from where they last moved: not stopped
ETA_MAX_AGE_S = 300.0  # race time after which a prediction is made again anyway (a replay)
ETA_FEED_S = 20.0  # the ETA model closes one-minute segments: a fix in every 20 s is plenty
AHEAD_EVERY_S = 60.0  # overdue and cut-off risk are minutes-scale: checked once a minute


@dataclass
class RunnerWatch:
    eta: EtaState
    stopped: StoppedState = field(default_factory=StoppedState)
    signal: SignalState = field(default_factory=SignalState)
    overdue: OverdueState = field(default_factory=OverdueState)
    cutoff: CutoffState = field(default_factory=CutoffState)
    etas_at_s: float = -math.inf
    etas_wall_s: float = -math.inf
    etas: dict[float, float] = field(default_factory=dict)
    etas_of: EtaState | None = None  # the model state the kept predictions were made from
    fed_s: float = -math.inf  # the last fix fed to the ETA model (the first is: it starts it)
    ahead_s: float = -math.inf  # the fix time of their last overdue and cut-off check
    overdue_episode: str = ""  # the silence an overdue runner is part of (their incident)
    saved_s: float = -math.inf  # the fix time of their last durable state (live/durable.py)
    saved_wall_s: float = -math.inf  # and when it was taken (server clock)
    off_at: tuple[float, float] | None = None  # off the course: where they last moved from
    passed_m: set[float] = field(default_factory=set)  # cut-off stations whose pass was judged
    kept_for: tuple[object, ...] = ()  # model state, predictions, what is ahead: as ETAs read


class RaceWatch:
    """Everything time-based for one race."""

    def __init__(self, race: LiveRace, clock: Callable[[], float] = time.time,
                 feed_trouble: FeedTrouble = no_trouble) -> None:  # fmt: skip
        self.race = race
        self.clock = clock
        self.model = EtaModel(race.course)
        self.stopped_cfg = StoppedConfig(station_m=tuple(race.station_m))
        self.signal_cfg = SignalConfig()
        self.overdue_cfg = OverdueConfig()
        # late by a fifth of the time still to run (a projection hours ahead is uncertain), at
        # the next cut-off only: half the risks of a runner who made them all (cutoffs.py)
        self.cutoff_cfg = CutoffConfig(share_of_to_go=0.2, next_only=True)
        self.cutoffs = tuple((p.distance_m, p.cutoff_ts) for p in race.stations if p.cutoff_ts)
        self.runners: dict[str, RunnerWatch] = {}
        self.feed_trouble = feed_trouble  # a runner's own feed failing now (live/checks.py)

    def carry(self, old: RaceWatch) -> None:
        """The race file sent again: a runner who kept their engine keeps their silence, stop,
        ETA model and lateness (a silent runner was never told overdue again); one made again
        from their fixes starts afresh."""
        for bib, runner in self.race.runners.items():
            if old.race.runners.get(bib) is runner and bib in old.runners:
                self.runners[bib] = old.runners[bib]
            else:
                runner.silent = runner.stopped = False

    def of(self, runner: LiveRunner) -> RunnerWatch:
        w = self.runners.get(runner.bib)
        if w is None:
            start_s = self.race.start_s(runner)  # (what is done every so often: counted from it)
            w = RunnerWatch(self.model.new_state(start_s), ahead_s=start_s, saved_s=start_s)
            self.runners[runner.bib] = w
        return w

    def resume(self, runner: LiveRunner, now_s: float, away_since_s: float | None = None) -> None:
        """A runner back after race HQ restarted: trackers could not reach it meanwhile, so a
        silence not yet reported counts from ``now_s`` at the earliest; or, the store away
        since ``away_since_s``, without that time (a runner silent long before is told at
        once). A runner with no stored state (rebuilt from the fixes) starts a new one keyed
        by their last fix: a silence already reported goes on in its incident, and the next
        fix closes it."""
        if runner.last_time_s is None:
            return
        w = self.of(runner)
        if math.isnan(w.signal.last_ts):
            w.signal = SignalState(runner.last_time_s, runner.matcher.progress_m, seen_s=now_s)
        elif not w.signal.alarmed:
            seen = w.signal.seen_s
            if away_since_s is None or seen >= away_since_s:
                seen = max(seen, now_s)
            else:
                seen += max(now_s - away_since_s, 0.0)
            w.signal = replace(w.signal, seen_s=seen)

    def arrivals(
        self, runner: LiveRunner, targets_m: list[float], refresh: bool = True, exact: bool = False
    ) -> list[float | None]:
        """Predicted arrival at each course distance: the history's where the race has one
        (blended with the live model's between stations), else the live model's (``refresh``
        False: as last made; ``exact``: made now, what a detector decides on, however fast)."""
        return self.arrival_ranges(runner, targets_m, refresh, exact)[0]

    def arrival_ranges(
        self, runner: LiveRunner, targets_m: list[float], refresh: bool = True, exact: bool = False
    ) -> tuple[list[float | None], list[Range | None]]:
        """The arrivals (as :meth:`arrivals`) and the history's with their intervals (None:
        no history there); none far from the course, never on it (at 2 m/s from km 0)."""
        if runner.matcher.far and not runner.matcher.placed:  # (a tracker at home)
            return [None] * len(targets_m), [None] * len(targets_m)
        if exact and runner.last_time_s is not None and not runner.finished:
            w = self.of(runner)
            if w.etas_of is not w.eta or any(t not in w.etas for t in targets_m):
                self._predict(runner, w, targets_m)  # (kept: the views read them next)
            live: list[float | None] = [_some(w.etas[t]) for t in targets_m]
        else:
            live = self._live(runner, targets_m, refresh)
        ranges = self.ranges(runner, targets_m, live)
        return [live[i] if r is None else r.eta_ts for i, r in enumerate(ranges)], ranges

    def _live(
        self, runner: LiveRunner, targets_m: list[float], refresh: bool = True
    ) -> list[float | None]:
        """The live model's arrival at each course distance, refreshed every ETA_REFRESH_S."""
        w = self.of(runner)
        last = runner.last_time_s
        if last is None or runner.finished or runner.record.dnf:
            return [None] * len(targets_m)
        if not refresh:
            return [None if math.isnan(e := w.etas.get(t, math.nan)) else e for t in targets_m]
        now_s = self.clock()
        # (a fast replay moves minutes of race time a wall second: ETA_MAX_AGE_S refreshes it)
        age_s, wall_s = last - w.etas_at_s, now_s - w.etas_wall_s
        due = cadence.due(runner.bib, w.etas_at_s, last, ETA_REFRESH_S)
        stale = age_s >= ETA_MAX_AGE_S or (due and wall_s >= ETA_REFRESH_WALL_S)
        if stale or any(t not in w.etas for t in targets_m):
            self._predict(runner, w, targets_m, now_s)
        return [_some(w.etas[t]) for t in targets_m]

    def _predict(
        self, runner: LiveRunner, w: RunnerWatch, targets_m: list[float], now_s: float | None = None
    ) -> None:
        """The live model's predictions made now from its state, at ``targets_m``, the ones
        kept before and the cut-offs, and kept."""
        wanted = sorted(set(targets_m) | set(w.etas) | {p for p, _ in self.cutoffs})
        values = self.model.predict(w.eta, np.array(wanted))
        w.etas = {t: float(v) for t, v in zip(wanted, values, strict=True)}
        w.etas_at_s = runner.last_time_s if runner.last_time_s is not None else -math.inf
        w.etas_wall_s = self.clock() if now_s is None else now_s
        w.etas_of = w.eta

    def ranges(
        self, runner: LiveRunner, targets_m: list[float], live: list[float | None]
    ) -> list[Range | None]:
        """The history's arrivals with intervals, blended with the live ones (``live``);
        None where the race has no history or it says nothing."""
        field = self.race.field
        if field is None or runner.finished or runner.record.dnf:
            return [None] * len(targets_m)
        return field.ranges(runner.bib, self.race.start_s(runner), targets_m, live)

    def on_run(
        self,
        runner: LiveRunner,
        step: Step,
        received_s: float | None = None,
        race_s: float | None = None,
        cuts: Sequence[tuple[float, float]] = (),
    ) -> list[tuple[int, AlertRecord]]:
        """After the engine took a run of fixes (``step``: each the runner's newest when fed,
        in time order, the progress after each and whether they were off the course), received
        at ``received_s`` (server clock), ``race_s`` on the race's clock; ``cuts``: the course
        each shortcut in the run skipped (from, to). Returns (position in the run, alert).

        Overdue and cut-off risk are about *now*: only the last fix of the run (the newest
        of this request) is checked for them; the earlier ones (a phone catching up) are not.
        """
        times_s, progress_m = step.new_s, step.progress_m
        w = self.of(runner)
        model, stopped_cfg, signal_cfg = self.model, self.stopped_cfg, self.signal_cfg
        eta, fed_s, stopped, signal = w.eta, w.fed_s, w.stopped, w.signal
        raised: list[tuple[int, ClockEvent]] = []
        # far from the course (another race, a car), progress means nothing: no stop, no
        # lateness, no ETA until the runner is back near it
        far = runner.matcher.far
        # off the course their progress is held, moving or not: there a stop is one in place
        # (under OFF_MOVED_M from where they last moved), not of their progress
        off = not far and (runner.matcher.flagged or runner.matcher.confirmed)
        passed = self._passed(runner, step, cuts)
        last = len(times_s) - 1
        for j, (t_s, s) in enumerate(zip(times_s, progress_m, strict=True)):
            if cadence.due(runner.bib, fed_s, t_s, ETA_FEED_S) and not far:
                eta = model.update(eta, t_s, s)
                fed_s = t_s
            ev1: list[StoppedEvent] = []
            if self._moved(runner, w, step, j, off) and not stopped.alarmed:  # on a wrong
                stopped = StoppedState(t_s, s)  # trail, running: not stopped, and back on the
            elif not far:  # line it counts from there
                stopped, ev1 = stopped_step(stopped, t_s, s, stopped_cfg)
            for e1 in ev1:
                runner.stopped = e1.kind != "moving_again"
                raised.append((j, e1))
        signal, ev2 = signal_run(signal, times_s, progress_m, signal_cfg, received_s, race_s)
        for e2 in ev2:  # (of the first fix: after its own, in the sort below)
            runner.silent = e2.kind != "signal_back"
            raised.append((0, e2))
        w.eta, w.fed_s, w.stopped, w.signal = eta, fed_s, stopped, signal
        w.off_at = w.off_at if off else None
        done = runner.finished_s is not None and bool(w.cutoff.open_m)  # at the finish: ends
        due = last >= 0 and (done or cadence.due(runner.bib, w.ahead_s, times_s[-1], AHEAD_EVERY_S))
        if due and not far:
            t_s, s_m = times_s[last], progress_m[last]
            if runner.finished_s is not None:  # (its progress may be held a ping short)
                t_s, s_m = min(t_s, runner.finished_s), self.race.course.length_m
            raised.extend((last, e) for e in self._ahead(runner, w, t_s, s_m))
            w.ahead_s = times_s[last]
        self.keep_etas(runner)
        until = raced_until_s(self.race, runner)  # by the fix that raised them; an end ends
        said = [(j, self._alert(runner, e)) for j, e in raised] + news.passed(self, runner, passed)
        kept = [(j, a) for j, a in said if times_s[j] <= until or a.closes]
        return sorted(kept, key=itemgetter(0))  # in the order of the fixes (a stable sort)

    def _passed(
        self, runner: LiveRunner, step: Step, cuts: Sequence[tuple[float, float]]
    ) -> list[tuple[int, int, float]]:
        """The stations passed in a run of fixes (off the course: once back): fix, station, when."""
        off = step.off or [False] * len(step.new_s)
        return self.race.passes.on_run(runner.bib, self.race.start_s(runner), step.new_s,
                                       step.progress_m, off, cuts)  # fmt: skip

    def _moved(self, runner: LiveRunner, w: RunnerWatch, step: Step, j: int, off: bool) -> bool:
        """Whether the runner, off the course at fix ``j`` of a run, moved there: the newest
        as the engine is now (``off``), an earlier one of a long run (a file) as it was then."""
        if j == len(step.new_s) - 1:
            return off and self._moved_off(w, runner.position())
        off_then = step.off[j] and not runner.matcher.far
        w.off_at = w.off_at if off_then else None
        return off_then and self._moved_off(w, step.at[j])

    @staticmethod
    def _moved_off(w: RunnerWatch, at: tuple[float, float] | None) -> bool:
        """Whether a runner off the course, now ``at``, moved ``OFF_MOVED_M`` from where they
        last did."""
        if at is None or (w.off_at is not None and haversine_m(*w.off_at, *at) < OFF_MOVED_M):
            return False
        w.off_at = at
        return True

    def keep_etas(self, runner: LiveRunner, refresh: bool = True) -> None:
        """The runner's ETAs at the next station and the finish, for the views to read (after
        each run of fixes, as they were when nothing they read changed; when a runner is put
        back in a stored state, its predictions as they were, with ``refresh`` False)."""
        _, nxt = self.race.around(runner.matcher.progress_m)
        finish = self.race.course.length_m
        targets = [self.race.station_m[nxt], finish] if nxt >= 0 else [finish]
        w, last, field = self.of(runner), runner.last_time_s, self.race.field
        read = (w.eta, w.etas, *targets, runner.finished, runner.record.dnf, field)
        same = field is None and w.etas_of is w.eta and read == w.kept_for
        due = last is None or cadence.due(runner.bib, w.etas_at_s, last, ETA_REFRESH_S)
        if same and refresh and not due:
            return  # (what they are read from as it was, and not due a new prediction)
        etas = self.arrivals(runner, targets, refresh)
        runner.etas = {t: math.nan if e is None else e for t, e in zip(targets, etas, strict=True)}
        w.kept_for = (w.eta, w.etas, *read[2:])

    def on_tick(self, runner: LiveRunner, now_s: float, race_now_s: float) -> list[AlertRecord]:
        """On a clock tick: silence is measured on the server's clock (``now_s``: when fixes
        arrive), lateness on the race's (``race_now_s``: the fixes' own time)."""
        if runner.last_time_s is None or runner.finished or runner.record.dnf:
            return []
        w = self.of(runner)
        replayed = now_s - race_now_s >= LIVE_LAG_S  # a recording: silent on its own clock
        w.signal, events = signal_tick(w.signal, race_now_s if replayed else now_s,
                                       self.signal_cfg, race_now_s, since_fix=replayed)  # fmt: skip
        for e in events:
            runner.silent = e.kind != "signal_back"
        far = runner.matcher.far
        ahead = [] if far else self._ahead(runner, w, race_now_s, runner.matcher.progress_m)
        said = [*events, *ahead]
        if any(e.kind in ("signal_lost", "silent_long", "overdue") for e in said):
            trouble = self.feed_trouble(self.race.id, runner.bib, w.signal.seen_s)  # (theirs?)
            said = [with_feed(e, trouble) for e in said]
        return [self._alert(runner, e) for e in said]

    def _ahead(
        self, runner: LiveRunner, w: RunnerWatch, now_s: float, s: float
    ) -> list[ClockEvent]:
        _, nxt = self.race.around(s)
        events: list[ClockEvent] = []
        cfg = self.stopped_cfg  # silent at an aid station (asleep in a 200-miler, a tracker
        resting = runner.silent and near_station(s, cfg.station_m, cfg.station_radius_m)
        due = nxt >= 0 and not resting  # (indoors): its volunteers see them, not overdue yet
        ahead = [self.race.station_m[nxt]] if due else []  # the next station, the cut-offs:
        etas = self.arrivals(runner, ahead + [m for m, _ in self.cutoffs], exact=True)  # once
        if due:
            station_m, eta = self.race.station_m[nxt], etas[0]
            eta_ts = math.nan if eta is None else eta
            w.overdue, ev = overdue_step(w.overdue, now_s, s, station_m, eta_ts,
                                         self.overdue_cfg, unseen=runner.silent)  # fmt: skip
            events += ev
        if self.cutoffs:
            # an ETA is never before now (a silent runner's slipped past as the cut-off passed)
            etas = etas[len(ahead) :]
            # a station counts as reached as on the board (live/passes.py: 100 m before it)
            k = reached(self.race.station_m, s)
            s_at = max(s, self.race.station_m[k - 1]) if k else s
            w.cutoff, ev2 = cutoff_step(  # (none off the course in a car: judged once back)
                w.cutoff, now_s, s_at, self.cutoffs,
                [math.nan if e is None or runner.matcher.driven else max(e, now_s) for e in etas],
                self.cutoff_cfg,
            )  # fmt: skip
            events += [cutoffpass.passed_when(self.race, runner, e) for e in ev2]
            judged = w.passed_m | w.cutoff.alerted_m | {e.station_m for e in ev2}
            late, looked = cutoffpass.late_unwarned(self.race, runner, self.cutoffs, s_at, judged)
            events += late
            w.passed_m |= looked
        return events

    def _alert(self, runner: LiveRunner, e: ClockEvent) -> AlertRecord:
        pos = runner.position() or (math.nan, math.nan)
        detail = {k: v for k, v in e.__dict__.items() if k not in ("kind", "ts")}
        episode = episode_key(e.kind, float(e.ts), _since(e))
        does = rule(e.kind)
        if isinstance(e, CutoffEvent) and not (e.opens or e.closes):  # one episode at a time
            does = rule(e.kind, joined=True)
        if isinstance(e, CutoffEvent) and e.kind == "cutoff_missed":  # HQ is told again;
            does = replace(does, closes=e.station_m >= self.race.station_m[-1])  # ends: finish
        if isinstance(e, OverdueEvent):
            # overdue is raised only while the runner is unseen: an update of that silence's
            # incident (race HQ is told), as is their arrival
            w = self.of(runner)
            if e.kind == "overdue":
                w.overdue_episode = episode_key("signal_lost", float(e.ts), w.signal.last_ts)
            if w.overdue_episode:  # named overdue from then on; the signal's return ends it
                episode, does = w.overdue_episode, rule(e.kind, joined=True)
            if e.kind == "arrived":
                w.overdue_episode = ""
        return AlertRecord(
            race_id=self.race.id, bib=runner.bib, kind=e.kind, time_s=float(e.ts), lat=pos[0],
            lon=pos[1], course_m=float(e.course_m), offset_m=None,
            sentence=self.race.narrator.clock_sentence(runner.bib, e, runner.last_time_s),
            episode=episode, level=does.level, closes=does.closes, names=does.names,
            detail=detail, raised_s=float(e.ts),
        )  # fmt: skip


def _since(e: ClockEvent) -> float:
    """What keys a clock-driven event's episode: when the stop began, the last fix before the
    silence, the station the runner is overdue at or late for."""
    if isinstance(e, StoppedEvent):
        return e.since_ts
    if isinstance(e, SignalEvent):
        return e.last_fix_ts
    if isinstance(e, CutoffEvent):  # (when it began: one raised again after it ended is new)
        return e.episode_m if math.isnan(e.episode_ts) else e.episode_ts
    return e.station_m


def _some(value: float) -> float | None:
    return None if math.isnan(value) else value
