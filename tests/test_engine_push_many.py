"""LiveMatcher.push_many: the same events, state and fix numbering as push, fix by fix."""

from __future__ import annotations

import numpy as np

from coursewatch import LiveMatcher
from coursewatch.sim.simulate import simulate_run, trail_course

COURSE = trail_course(12_000.0, n_stations=2)


def _events(events: list) -> list[tuple[str, int, float, float]]:  # type: ignore[type-arg]
    return [(e.kind, e.fix_index, e.at.time.timestamp(), e.offset_m) for e in events]


def test_push_many_in_chunks_equals_push_one_by_one() -> None:
    run = simulate_run(COURSE, seed=4, interval_s=5.0, wrong_turn_at_m=3000.0,
                       wrong_turn_angle_deg=70.0)  # fmt: skip
    t, lat, lon = run.time_s.copy(), run.lat, run.lon
    t[40] = t[39]  # a repeated time and a step back in time: both ignored by either way in
    t[90] = t[80]
    acc = np.where(np.arange(len(t)) % 7 == 0, 25.0, np.nan)
    one = LiveMatcher(COURSE)
    expected = []
    for i in range(len(t)):
        a = None if np.isnan(acc[i]) else float(acc[i])
        expected.extend(one.push(float(t[i]), float(lat[i]), float(lon[i]), a))
    many = LiveMatcher(COURSE)
    got = []
    out = np.empty((len(t), 4))
    for lo in range(0, len(t), 37):
        hi = min(lo + 37, len(t))
        got.extend(many.push_many(t[lo:hi], lat[lo:hi], lon[lo:hi], acc[lo:hi], out[lo:hi]))
    assert [e.kind for e in expected][:3] == ["off_course", "alert", "back_on_course"]
    assert _events(got) == _events(expected)
    assert np.array_equal(many.snapshot(), one.snapshot())
    assert out[-1, 0] == one.progress_m and out[-1, 1] == one.offset_m


def test_push_many_of_nothing_changes_nothing() -> None:
    m = LiveMatcher(COURSE)
    empty = np.empty(0)
    assert m.push_many(empty, empty, empty, empty) == []
    assert m.fixes == 0


def test_push_many_writes_each_fix_into_an_out_of_any_layout() -> None:
    """push_many calls the kernel's machine code directly (resolved once a course) only with
    arrays of the types it was resolved for; a strided ``out`` (a column slice) or a read-only
    input goes through numba's dispatcher, and each gets the same numbers."""
    run = simulate_run(COURSE, seed=9, interval_s=5.0)
    t, lat, lon = run.time_s[:120], run.lat[:120], run.lon[:120]
    acc = np.full(len(t), np.nan)
    plain = LiveMatcher(COURSE)
    out = np.empty((len(t), 4))
    plain.push_many(t, lat, lon, acc, out)
    wide = np.zeros((len(t), 8))  # every other column: out[i] is not out's next 4 numbers
    frozen = t.copy()
    frozen.setflags(write=False)
    other = LiveMatcher(COURSE)
    other.push_many(frozen, lat, lon, acc, wide[:, ::2])
    assert np.array_equal(wide[:, ::2], out)
    assert not wide[:, 1::2].any()
    assert np.array_equal(other.snapshot(), plain.snapshot())
