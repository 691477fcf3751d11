"""Time-based detectors: stopped, signal_lost, overdue, cutoff_risk. Times and values only."""

from __future__ import annotations

import numpy as np

from coursewatch.detectors.cutoff import CutoffConfig, CutoffState, cutoff_step
from coursewatch.detectors.overdue import OverdueConfig, OverdueState, overdue_step
from coursewatch.detectors.signal import (
    SignalConfig,
    SignalState,
    signal_fix,
    signal_run,
    signal_tick,
)
from coursewatch.detectors.stopped import (
    StoppedConfig,
    StoppedState,
    near_station,
    stopped_step,
)
from coursewatch.sim.simulate import trail_course


def run_stopped(cfg: StoppedConfig, fixes: list[tuple[float, float]]) -> list[tuple[str, float]]:
    st, out = StoppedState(), []
    for t, s in fixes:
        st, ev = stopped_step(st, t, s, cfg)
        out += [(e.kind, e.ts) for e in ev]
    return out


def test_stopped_raises_once_and_clears() -> None:
    cfg = StoppedConfig(window_s=900.0, min_progress_m=100.0)
    fixes = [(float(t), 5_000.0 + (t % 2) * 10) for t in range(0, 1_500, 60)]
    fixes += [(1_500.0, 5_200.0), (1_560.0, 5_400.0)]
    assert run_stopped(cfg, fixes) == [("stopped", 900.0), ("moving_again", 1_500.0)]


def test_stopped_long_tells_race_hq_once_then_moving_again_closes() -> None:
    cfg = StoppedConfig(window_s=900.0, long_s=3_600.0)
    fixes = [(float(t), 5_000.0) for t in range(0, 5_000, 300)] + [(5_100.0, 5_500.0)]
    assert run_stopped(cfg, fixes) == [
        ("stopped", 900.0), ("stopped_long", 3_600.0), ("moving_again", 5_100.0)]  # fmt: skip


def test_stopped_an_hour_at_the_first_ping_that_shows_it_tells_race_hq_then() -> None:
    """Hourly pings (Dark Sky's inReach at a stop): the flag and race HQ's alert are due at
    the same ping; HQ was told one ping (an hour) later."""
    cfg = StoppedConfig(window_s=900.0, long_s=3_600.0)
    fixes = [(0.0, 5_000.0), (3_900.0, 5_010.0), (7_500.0, 5_020.0), (9_000.0, 6_000.0)]
    assert run_stopped(cfg, fixes) == [
        ("stopped", 3_900.0), ("stopped_long", 3_900.0), ("moving_again", 9_000.0)]  # fmt: skip


def test_stopped_slow_progress_is_not_a_stop() -> None:
    cfg = StoppedConfig(window_s=900.0, min_progress_m=100.0)
    fixes = [(float(t), 0.2 * t) for t in range(0, 3_600, 60)]  # 0.2 m/s: 100 m per 500 s
    assert run_stopped(cfg, fixes) == []


def test_stopped_at_a_station_is_normal() -> None:
    cfg = StoppedConfig(window_s=600.0, station_radius_m=300.0, station_m=(10_000.0, 30_000.0))
    at_station = [(float(t), 10_150.0) for t in range(0, 3_600, 60)]
    assert run_stopped(cfg, at_station) == []
    between = [(float(t), 20_000.0) for t in range(0, 3_600, 60)]
    assert run_stopped(cfg, between) == [("stopped", 600.0)]


def test_station_passes_and_nearness() -> None:
    course = trail_course(20_000.0, n_stations=3)
    passes = tuple(sorted(s for st in course.stations for s in st.passes_m))
    assert len(passes) == 4
    assert near_station(passes[0] + 50.0, passes, 100.0)
    assert not near_station(passes[0] + 500.0, passes, 100.0)


def test_signal_learns_the_interval_and_alerts_on_a_tick() -> None:
    cfg = SignalConfig(k=4.0, floor_s=120.0)
    st = SignalState()
    for t in range(0, 601, 10):
        st, _ = signal_fix(st, float(t), 1.0 * t, cfg)
    assert round(st.usual_interval_s) == 10
    st, ev = signal_tick(st, 600.0 + 100.0, cfg)
    assert ev == []  # under the floor of 120 s
    st, ev = signal_tick(st, 600.0 + 121.0, cfg)
    assert [e.kind for e in ev] == ["signal_lost"] and ev[0].course_m == 600.0
    st, ev = signal_tick(st, 600.0 + 500.0, cfg)
    assert ev == []  # once
    st, ev = signal_fix(st, 1_200.0, 900.0, cfg)
    assert [e.kind for e in ev] == ["signal_back"] and ev[0].silent_s == 600.0
    assert not st.alarmed


def test_a_run_of_fixes_is_the_same_as_each_in_turn() -> None:
    cfg = SignalConfig()
    rng = np.random.default_rng(3)
    for alarmed in (False, True):
        start = SignalState(100.0, 50.0, 60.0, alarmed=alarmed, seen_s=130.0)
        times = (100.0 + np.cumsum(rng.exponential(90.0, 12))).tolist()
        progress = (50.0 + np.cumsum(rng.uniform(0, 300, 12))).tolist()
        one, each = start, []
        for t, s in zip(times, progress, strict=True):
            one, ev = signal_fix(one, t, s, cfg, 2_000.0, 1_900.0)
            each += ev
        run, events = signal_run(start, times, progress, cfg, 2_000.0, 1_900.0)
        assert run == one and events == each and len(events) == alarmed
    lost = SignalState(100.0, 0.0, 60.0, alarmed=True, seen_s=100.0)  # a first fix not newer:
    assert [e.kind for e in signal_run(lost, [90.0, 200.0], [0.0, 50.0], cfg)[1]] == [
        "signal_back"  # the next one ends the alarm
    ]


def test_signal_lost_then_silent_long_for_race_hq() -> None:
    cfg = SignalConfig(long_k=12.0, long_floor_s=7_200.0)
    st = SignalState()
    for t in range(0, 3_001, 300):  # a satellite tracker: every 5 min
        st, _ = signal_fix(st, float(t), 1.0 * t, cfg)
    kinds = []
    for now in range(3_000, 3_000 + 8_000, 60):
        st, ev = signal_tick(st, float(now), cfg)
        kinds += [(e.kind, e.ts - 3_000.0) for e in ev]
    assert kinds == [("signal_lost", 1_200.0), ("silent_long", 7_200.0)]
    st, ev = signal_fix(st, 11_000.0, 3_100.0, cfg, seen_s=11_030.0)
    assert [(e.kind, e.ts) for e in ev] == [("signal_back", 11_030.0)]  # when it arrived
    assert not st.alarmed and not st.escalated


def test_signal_one_long_gap_does_not_teach_long_gaps() -> None:
    cfg = SignalConfig()
    st = SignalState()
    times = [*range(0, 3_000, 300), 3_000 + 7_200, *range(10_500, 12_000, 300)]
    for t in times:
        st, _ = signal_fix(st, float(t), 0.0, cfg)
    assert st.usual_interval_s < 400.0


def test_signal_sparse_pinger_is_not_alarmed_at_its_usual_pace() -> None:
    cfg = SignalConfig()
    st = SignalState()
    for t in range(0, 6_001, 600):
        st, _ = signal_fix(st, float(t), 0.0, cfg)
        assert signal_tick(st, t + 599.0, cfg)[1] == []


def test_overdue_deadline_grows_with_time_to_go() -> None:
    cfg = OverdueConfig(base_s=600.0, share=0.25)
    near, _ = overdue_step(OverdueState(), 0.0, 0.0, 5_000.0, 1_200.0, cfg)
    far, _ = overdue_step(OverdueState(), 0.0, 0.0, 50_000.0, 12_000.0, cfg)
    assert near.deadline_ts - near.expected_ts == 900.0
    assert far.deadline_ts - far.expected_ts == 3_600.0


def test_overdue_once_per_station_pass_and_not_when_arrived() -> None:
    cfg = OverdueConfig(base_s=600.0, share=0.0)
    st, kinds = OverdueState(), []
    for now, s, nxt in [(0, 9_000, 10_000), (1_700, 9_900, 10_000), (1_800, 9_950, 10_000),
                        (1_900, 9_960, 10_000), (2_000, 10_010, 20_000)]:  # fmt: skip
        st, ev = overdue_step(st, float(now), float(s), float(nxt), 1_000.0 + now, cfg)
        kinds += [(e.kind, e.station_m, e.late_s) for e in ev]
    # overdue once, and closed by the arrival (the incident's end)
    assert kinds == [("overdue", 10_000.0, 700.0), ("arrived", 10_000.0, 1_000.0)]
    st2, ev = overdue_step(OverdueState(), 0.0, 9_000.0, 10_000.0, 1_000.0, cfg)
    assert overdue_step(st2, 5_000.0, 10_000.0, 10_000.0, 1_000.0, cfg)[1] == []


def test_overdue_without_eta_waits() -> None:
    cfg = OverdueConfig()
    st, ev = overdue_step(OverdueState(), 0.0, 0.0, 10_000.0, float("nan"), cfg)
    assert ev == [] and overdue_step(st, 1e9, 0.0, 10_000.0, float("nan"), cfg)[1] == []


def test_cutoff_once_per_station_with_margin_the_first_station_first() -> None:
    """The first station ahead projected late is raised, not a later one (race HQ acted on
    the later: the runner is pulled at the first and never reaches it); the later one counts
    once the runner is past the first."""
    cfg = CutoffConfig(margin_s=600.0, persist_s=0.0)
    cutoffs = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))
    st, ev = cutoff_step(CutoffState(), 0.0, 1_000.0, cutoffs, (9_000.0, 25_000.0), cfg)
    assert ev == []  # 16.7 min and 83 min ahead of the cut-offs, both beyond the margin
    st, ev = cutoff_step(st, 100.0, 1_200.0, cutoffs, (9_500.0, 29_900.0), cfg)
    assert [(e.station_m, e.margin_min) for e in ev] == [(20_000.0, 8.3)]
    st, ev = cutoff_step(st, 200.0, 1_300.0, cutoffs, (11_000.0, 31_000.0), cfg)
    assert ev == []
    st, ev = cutoff_step(st, 9_700.0, 20_100.0, cutoffs, (9_700.0, 31_000.0), cfg)
    assert [(e.kind, e.station_m, e.margin_min) for e in ev] == [
        ("cutoff_passed", 20_000.0, 5.0), ("cutoff_risk", 40_000.0, -16.7)]  # fmt: skip


def test_a_cutoff_episode_is_one_and_ends_when_its_stations_are_reached() -> None:
    """Cut-off risk was raised and never ended: open after the runner finished 10 h inside
    the last cut-off. Reaching the station ends the episode (on time or not: the margin
    says); the next station projected late opens the next."""
    cfg = CutoffConfig(persist_s=0.0)
    cutoffs = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))
    st, ev = cutoff_step(CutoffState(), 0.0, 1_000.0, cutoffs, (10_500.0, 29_000.0), cfg)
    assert [(e.kind, e.station_m, e.episode_m, e.opens) for e in ev] == [
        ("cutoff_risk", 20_000.0, 20_000.0, True)]  # fmt: skip
    st, ev = cutoff_step(st, 100.0, 1_500.0, cutoffs, (10_600.0, 31_000.0), cfg)
    assert ev == []  # (the later station waits for the first)
    st, ev = cutoff_step(st, 9_700.0, 20_100.0, cutoffs, (9_700.0, 31_000.0), cfg)
    assert [(e.kind, e.station_m, e.episode_m, e.opens, e.closes) for e in ev] == [
        ("cutoff_passed", 20_000.0, 20_000.0, False, True),
        ("cutoff_risk", 40_000.0, 40_000.0, True, False)]  # fmt: skip
    st, ev = cutoff_step(st, 30_300.0, 40_050.0, cutoffs, (9_700.0, 30_300.0), cfg)
    assert [(e.kind, e.margin_min, e.episode_m, e.closes) for e in ev] == [
        ("cutoff_passed", -5.0, 40_000.0, True)]  # fmt: skip
    assert not st.open_m and cutoff_step(st, 30_400.0, 41_000.0, cutoffs, (1.0, 1.0), cfg)[1] == []


def test_a_cutoff_risk_ends_when_the_runner_is_projected_in_time_again() -> None:
    """A risk stayed open, with its old figures, after the runner sped up or race HQ moved
    the cut-off (the race file sent again): projected 10 minutes ahead of it for 10 minutes,
    it ends; projected late again, it is raised again."""
    cfg = CutoffConfig(persist_s=600.0)
    cutoffs = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))
    st, _ = cutoff_step(CutoffState(), 0.0, 1_000.0, cutoffs, (10_500.0, 29_000.0), cfg)
    st, ev = cutoff_step(st, 600.0, 1_500.0, cutoffs, (10_500.0, 29_000.0), cfg)
    assert [e.kind for e in ev] == ["cutoff_risk"]
    st, ev = cutoff_step(st, 900.0, 2_000.0, cutoffs, (9_700.0, 29_000.0), cfg)
    assert ev == []  # 5 min ahead: not enough to call it over
    moved = ((20_000.0, 11_500.0), (40_000.0, 30_000.0))  # the cut-off moved 25 min later
    st, ev = cutoff_step(st, 1_000.0, 2_100.0, moved, (10_500.0, 29_000.0), cfg)
    assert ev == []  # (for 10 minutes first)
    st, ev = cutoff_step(st, 1_600.0, 2_500.0, moved, (10_500.0, 29_000.0), cfg)
    assert [(e.kind, e.margin_min, e.closes) for e in ev] == [("cutoff_clear", 16.7, True)]
    assert not st.open_m and 20_000.0 not in st.alerted_m
    later = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))  # and back (a mistake taken back)
    st, _ = cutoff_step(st, 1_700.0, 2_600.0, later, (10_500.0, 29_000.0), cfg)
    st, ev = cutoff_step(st, 2_300.0, 3_000.0, later, (10_500.0, 29_000.0), cfg)
    assert [(e.kind, e.opens) for e in ev] == [("cutoff_risk", True)]


def test_cutoff_ignores_stations_behind_and_unknown_eta() -> None:
    cfg = CutoffConfig(persist_s=0.0)
    cutoffs = ((20_000.0, 10_000.0), (40_000.0, 30_000.0))
    _, ev = cutoff_step(CutoffState(), 0.0, 25_000.0, cutoffs, (float("nan"), float("nan")), cfg)
    assert ev == []
    _, ev = cutoff_step(CutoffState(), 0.0, 25_000.0, cutoffs, (99_000.0, 31_000.0), cfg)
    assert [e.station_m for e in ev] == [40_000.0]
    assert ev[0].margin_min == -16.7


def test_signal_is_measured_from_when_fixes_arrive() -> None:
    """Fixes that arrive late but keep arriving are no silence; a stop in arrivals is one."""
    cfg = SignalConfig(k=4.0, floor_s=120.0)
    st = SignalState()
    for t in range(0, 601, 10):  # every fix arrives 5 min after it was taken
        st, _ = signal_fix(st, float(t), 1.0 * t, cfg, seen_s=t + 300.0)
        assert signal_tick(st, t + 305.0, cfg)[1] == []
    st, ev = signal_tick(st, 900.0 + 121.0, cfg)  # then nothing arrives for 121 s
    assert [e.kind for e in ev] == ["signal_lost"] and ev[0].silent_s == 121.0
    st, ev = signal_fix(st, 610.0, 610.0, cfg, seen_s=900.0 + 400.0)
    assert [e.kind for e in ev] == ["signal_back"] and ev[0].silent_s == 400.0


def test_cutoff_a_projection_late_only_briefly_raises_nothing() -> None:
    """Right after a detour the projection is pessimistic for a while: no alarm unless it
    stays late for ``persist_s``."""
    cfg = CutoffConfig(persist_s=600.0)
    cutoffs = ((20_000.0, 10_000.0),)
    st, ev = cutoff_step(CutoffState(), 0.0, 1_000.0, cutoffs, (10_500.0,), cfg)
    st, ev2 = cutoff_step(st, 300.0, 1_500.0, cutoffs, (10_400.0,), cfg)
    assert ev == ev2 == []  # late, but for 5 min only
    st, ev = cutoff_step(st, 400.0, 1_800.0, cutoffs, (9_500.0,), cfg)
    assert ev == [] and st.late_since == ()  # on time again: the wait starts afresh
    st, ev = cutoff_step(st, 500.0, 2_000.0, cutoffs, (10_300.0,), cfg)
    st, ev = cutoff_step(st, 1_000.0, 2_500.0, cutoffs, (10_300.0,), cfg)
    assert ev == []  # late for 500 s
    st, ev = cutoff_step(st, 1_100.0, 2_700.0, cutoffs, (10_300.0,), cfg)
    assert [e.margin_min for e in ev] == [-5.0]
