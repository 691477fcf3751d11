"""The confirmation for race HQ (engine/confirm.py) as a pure state machine: times and the
distance from the whole course line in, the alert code out."""

from __future__ import annotations

import numpy as np

from coursewatch.engine import confirm as cf
from coursewatch.engine import events as E
from coursewatch.engine.config import EngineConfig

CFG = EngineConfig().to_kernel()


def feed(fixes: list[tuple[float, float, bool]]) -> list[int]:
    """(time s, metres from the line, flagged) per fix; unflagged fixes reset as the kernel
    does."""
    st, ev = np.zeros(cf.LEN), np.zeros(E.EV_FIELDS)
    codes = []
    for t, d, flagged in fixes:
        if not flagged:
            cf.reset(st, t)
            codes.append(0)
            continue
        codes.append(cf.confirm_step(st, t, d, True, CFG, ev))
    return codes


def test_far_off_on_two_fixes_in_a_row_is_confirmed() -> None:
    codes = feed([(t, d, True) for t, d in enumerate([80.0, 210.0, 90.0, 230.0, 250.0])])
    assert codes == [0, 0, 0, 0, E.CODE_ALERT]


def test_two_pings_clearly_off_in_one_episode_are_confirmed_with_a_crossing_between() -> None:
    # 5 min pings: off, on another part of the course, off again
    pings = [(0.0, 5.0, False), (300.0, 150.0, True), (600.0, 30.0, True), (900.0, 160.0, True)]
    assert feed(pings) == [0, 0, 0, E.CODE_ALERT]


def test_the_same_distances_a_second_apart_are_not_pings() -> None:
    fixes = [(0.0, 5.0, False), (1.0, 150.0, True), (2.0, 30.0, True), (3.0, 160.0, True)]
    assert feed(fixes) == [0, 0, 0, 0]


def test_pings_of_an_episode_that_ended_do_not_count_in_the_next() -> None:
    pings = [(0.0, 5.0, False), (300.0, 150.0, True), (600.0, 5.0, False), (900.0, 160.0, True)]
    assert feed(pings) == [0, 0, 0, 0]


def test_one_alert_an_episode() -> None:
    codes = feed([(t * 300.0, d, True) for t, d in enumerate([150.0, 300.0, 400.0, 500.0])])
    assert codes.count(E.CODE_ALERT) == 1


def test_an_hour_of_silence_is_not_staying_off() -> None:
    """Eiger 2022: a watch paused two hours at a hut 108 m off the line, then one fix 138 m
    off as the runner leaves it and goes back: race HQ was alerted then ("stayed off 2 h")."""
    hut = [(float(t), 108.0, True) for t in range(0, 60, 5)]
    after = [(7700.0, 138.0, True), (7701.0, 138.0, True), (8020.0, 14.0, True)]
    assert E.CODE_ALERT not in feed(hut + after)
    # a tracker that pings every hour (or every 30 min and misses one) is not silent
    hourly = [(3600.0 * k, d, True) for k, d in enumerate([300.0, 900.0, 600.0])]
    assert feed(hourly) == [0, E.CODE_ALERT, 0]
    # one ping off, an hour of silence, then 400 m off: confirmed at once
    assert feed([(0.0, 150.0, True), (4000.0, 400.0, True)]) == [0, E.CODE_ALERT]


def test_back_on_the_line_before_an_hours_silence_does_not_rearm_after_it() -> None:
    """Confirmed, one fix back on the line, a watch silent an hour, one fix on the line: that
    is not two minutes back on the line (it re-armed, and a second alert came at once)."""
    far = [(float(t), 300.0, True) for t in range(0, 20, 5)]
    back = [(25.0, 10.0, True), (4000.0, 10.0, True)]
    again = [(4005.0, 300.0, True), (4010.0, 300.0, True)]
    assert feed(far + back + again).count(E.CODE_ALERT) == 1
