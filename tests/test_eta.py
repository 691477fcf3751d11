"""ETA: the model on synthetic runs (times and distances only) and on the Templiers pair."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from coursewatch.engine.matcher import match_fixes
from coursewatch.eta import EtaConfig, EtaModel, average_speed_eta
from coursewatch.formats.load import load_course, load_track
from coursewatch.sim.backtest import backtest
from coursewatch.sim.simulate import straight_course, trail_course

T0 = 1_780_000_000.0


def feed(model: EtaModel, time_s: np.ndarray, progress_m: np.ndarray):  # type: ignore[no-untyped-def]
    state = model.new_state()
    for t, s in zip(time_s.tolist(), progress_m.tolist(), strict=True):
        state = model.update(state, t, s)
    return state


def terrain_run(course, flat_mps: float, until_m: float):  # type: ignore[no-untyped-def]
    """Time at every 10 m for a runner whose pace follows ITRA effort exactly."""
    s = np.arange(0.0, until_m, 10.0)
    ele = course.ele_at(s)
    grade = np.diff(ele, prepend=ele[0]) / 10.0
    dt = 10.0 * (1.0 + 10.0 * np.maximum(grade, 0.0)) / flat_mps
    return T0 + np.cumsum(dt), s


def test_no_fix_predicts_nothing() -> None:
    model = EtaModel(straight_course(5_000.0))
    assert np.isnan(model.predict(model.new_state(), [1_000.0])).all()


def test_targets_behind_are_nan() -> None:
    model = EtaModel(straight_course(5_000.0))
    t = T0 + np.arange(0.0, 601.0, 5.0)
    state = feed(model, t, 2.0 * (t - T0))
    out = model.predict(state, [500.0, 4_000.0])
    assert math.isnan(out[0]) and out[1] > t[-1]


def test_constant_pace_on_the_flat_is_close_without_fatigue() -> None:
    cfg = EtaConfig(fatigue_per_km=0.0, fatigue_sd_per_km=1e-6, stop_ratio=0.0)
    model = EtaModel(straight_course(20_000.0), cfg)
    t = T0 + np.arange(0.0, 3_600.0, 10.0)
    state = feed(model, t, 2.5 * (t - T0))
    eta = float(model.predict(state, [20_000.0])[0]) - T0
    assert eta == pytest.approx(8_000.0, rel=0.03)


def test_terrain_ahead_beats_average_speed() -> None:
    course = trail_course(30_000.0, n_stations=2)
    t, s = terrain_run(course, 3.0, course.length_m)
    half = len(s) // 2
    cfg = EtaConfig(fatigue_per_km=0.0, fatigue_sd_per_km=1e-6, stop_ratio=0.0)
    model = EtaModel(course, cfg)
    state = feed(model, t[:half], s[:half])
    truth = float(t[-1])
    ours = float(model.predict(state, [s[-1]])[0])
    base = float(average_speed_eta(T0, float(t[half - 1]), float(s[half - 1]), [s[-1]])[0])
    assert abs(ours - truth) < 0.5 * abs(base - truth)


def test_a_stop_is_counted_as_stop_not_as_slow_running() -> None:
    model = EtaModel(straight_course(20_000.0))
    t = T0 + np.arange(0.0, 3_000.0, 10.0)
    s = 2.5 * (t - T0)
    t = np.concatenate([t, t[-1] + 1_800.0 + np.arange(0.0, 600.0, 10.0)])  # 30 min stop
    s = np.concatenate([s, s[-1] + 2.5 * np.arange(0.0, 600.0, 10.0)])
    state = feed(model, t, s)
    fit = model.fit(state)
    assert fit.flat_pace_mps == pytest.approx(2.5, rel=0.1)
    assert state.stopped_s > 1_500.0


def test_a_single_implausible_jump_is_ignored() -> None:
    model = EtaModel(straight_course(200_000.0))
    t = T0 + np.arange(0.0, 1_200.0, 60.0)
    s = 2.0 * (t - T0)
    s[5] = 150_000.0  # a matcher glitch onto a later pass
    state = feed(model, t, s)
    assert state.progress_m == pytest.approx(s[-1])


def test_fatigue_prior_slows_the_far_future() -> None:
    model = EtaModel(straight_course(100_000.0), EtaConfig(stop_ratio=0.0))
    t = T0 + np.arange(0.0, 3_600.0, 10.0)
    state = feed(model, t, 3.0 * (t - T0))
    now = float(t[-1])
    a, b = model.predict(state, [20_800.0, 90_800.0]) - now
    assert b / a > 7.0  # 70 km take more than 7 times as long as the next 10 km


def test_update_ignores_old_fixes() -> None:
    model = EtaModel(straight_course(5_000.0))
    state = feed(model, T0 + np.array([0.0, 60.0, 120.0]), np.array([0.0, 150.0, 300.0]))
    assert model.update(state, T0 + 30.0, 4_000.0) is state


def test_average_speed_eta() -> None:
    out = average_speed_eta(0.0, 1_000.0, 2_000.0, [1_000.0, 5_000.0])
    assert math.isnan(out[0]) and out[1] == pytest.approx(2_500.0)


@pytest.mark.realdata
def test_beats_average_speed_on_templiers(data_dir: Path) -> None:
    course = load_course(data_dir / "courses" / "grand_trail_des_templiers_2022.gpx")
    track = load_track(data_dir / "tracks" / "grand_trail_des_templiers_2022.gpx")
    progress = match_fixes(course, track.time_s, track.lat, track.lon).progress_m
    checkpoints = np.append(np.arange(10_000.0, course.length_m - 500.0, 10_000.0), course.length_m)
    bt = backtest(EtaModel(course), track.time_s, progress, checkpoints)
    assert len(bt.model_error) >= 20
    for q in (50, 90):
        assert np.percentile(bt.model_error, q) < np.percentile(bt.baseline_error, q)


def test_update_leaves_the_old_state_alone() -> None:
    model = EtaModel(straight_course(5_000.0))
    state = feed(model, T0 + np.array([0.0, 60.0, 120.0]), np.array([0.0, 150.0, 300.0]))
    before = dict(vars(state))
    after = model.update(state, T0 + 180.0, 450.0)
    assert vars(state) == before and after.progress_m == 450.0 and after.fixes == 4
    assert set(vars(after)) == set(vars(state))  # the same fields, as dataclasses.replace


def test_repeated_progress_jumps_do_not_drag_the_pace() -> None:
    """The route run differs from the course file: progress jumps 1 km in a minute, often."""
    model = EtaModel(straight_course(60_000.0), EtaConfig(fatigue_per_km=0.0))
    t = T0 + np.arange(0.0, 4 * 3_600.0, 60.0)
    s = 2.5 * (t - T0) + 1_000.0 * (np.arange(len(t)) // 20)  # a jump every 20 minutes
    fit = model.fit(feed(model, t, s))
    assert fit.flat_pace_mps < 3.2  # 2.6 m/s on average, jumps included


def test_average_speed_gains_weight_when_it_predicts_the_runner_better() -> None:
    course = trail_course(60_000.0, n_stations=2)
    model = EtaModel(course, EtaConfig(stop_ratio=0.0))
    t, s = terrain_run(course, 3.0, 40_000.0)  # pace follows the terrain
    follows = model.average_weight(feed(model, t, s))
    t = T0 + np.arange(0.0, 40_000.0 / 3.0, 10.0)  # the same speed up and down
    ignores = model.average_weight(feed(model, t, 3.0 * (t - T0)))
    assert follows < 0.3 < ignores


def test_an_early_detour_is_not_the_pace_of_the_race() -> None:
    """A 2.5 m/s runner loses 10 minutes on a detour 15 minutes in (a false cutoff_risk)."""
    model = EtaModel(straight_course(50_000.0))
    t = T0 + np.arange(0.0, 900.0, 5.0)
    state = feed(model, t, 2.5 * (t - T0))
    before = float(model.predict(state, [50_000.0])[0])
    stall = t[-1] + np.arange(5.0, 605.0, 5.0)
    for t_s in stall.tolist():
        state = model.update(state, t_s, 2.5 * 895.0)
    after = float(model.predict(state, [50_000.0])[0])
    assert after - before < 60 * 60.0  # 90 min before this fix; 10 min lost


def test_progress_past_the_finish_is_harmless() -> None:
    model = EtaModel(straight_course(10_000.0))
    t = T0 + np.arange(0.0, 8_000.0, 10.0)
    state = feed(model, t, 2.5 * (t - T0))  # 20 km along a 10 km course
    assert state.progress_m == pytest.approx(2.5 * (t[-1] - T0))
    assert math.isnan(model.predict(state, [10_000.0])[0])


def _predict_by_arrays(model: EtaModel, state, targets: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The prediction as the module docstring says it, whole arrays and a fresh solve (what
    EtaModel.predict computed before it was made faster): the reference it must equal."""
    c, p = model.config, model.profile
    out = np.full(targets.shape, np.nan)
    ahead = targets >= state.progress_m
    if not state.fixes or not ahead.any():
        return out
    i1 = min(int(float(targets[ahead].max()) / p.bin_m), len(p.factor) - 1) + 1
    a = model.prior_precision + state.xtx
    theta = np.linalg.solve(a, model.prior_precision @ model.prior_mean + state.xty)
    shape = theta[1] * p.mid_effort_km[:i1] + theta[2] * p.up[:i1] + theta[3] * p.down[:i1]
    cum = np.concatenate([[0.0], np.cumsum(np.exp(shape) * p.factor[:i1] * p.bin_m)])
    edges = p.edges_m[: i1 + 1]
    run = float(np.interp(state.progress_m, edges, cum))
    fitted = math.exp(theta[0]) * (1.0 + model.stop_ratio(state))
    done = run - float(np.interp(state.start_m, edges, cum))
    elapsed_s = state.last_ts - state.start_ts if state.started else 0.0
    level = (
        c.elapsed_share * (elapsed_s + fitted * c.early_m) / (done + c.early_m)
        + (1.0 - c.elapsed_share) * fitted
    )
    shaped_s = level * (np.interp(targets[ahead], edges, cum) - run)
    to_go_m = np.maximum(targets[ahead] - state.progress_m, 1e-9)
    run_m = state.progress_m if state.started else 0.0
    pace = (elapsed_s + shaped_s / to_go_m * c.early_m) / (run_m + c.early_m)
    w = model.average_weight(state)
    out[ahead] = state.last_ts + w * pace * to_go_m + (1.0 - w) * shaped_s
    return out


def test_predictions_equal_the_whole_array_formula_at_every_state() -> None:
    """The prediction is made in floats for its few targets, and the fit's solve is kept in
    the state: at every state of a run with stops and a detour, before and after the start,
    targets behind, ahead, at the finish and past it, it is the formula's (1e-6 s)."""
    course = trail_course(42_000.0, n_stations=4)
    model = EtaModel(course)
    rng = np.random.default_rng(3)
    time_s = T0 + np.cumsum(rng.uniform(5.0, 400.0, 300))
    progress_m = np.minimum(np.cumsum(rng.uniform(-20.0, 600.0, 300)).clip(0.0), 43_000.0)
    targets = np.array([0.0, 150.0, 9_000.0, 21_000.0, 41_950.0, 42_000.0, 45_000.0])
    state = model.new_state(T0 - 60.0)
    solved = 0
    for t, s in zip(time_s.tolist(), progress_m.tolist(), strict=True):
        state = model.update(state, t, s)
        solved += not math.isnan(state.theta[0])
        got, want = model.predict(state, targets), _predict_by_arrays(model, state, targets)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
        assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0.0, atol=1e-6)
    assert solved > 100  # (the kept solve was the one used)
