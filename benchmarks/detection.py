"""Detection harness: wrong turns injected into real tracks, and the untouched real pairs.

For every watch recording paired with its course, take clean on-course moments (the track
within 30 m of the course from 300 m before to 1.5 km after), rotate the next 1.5 km of the
*real* recording about that point by 30-150 degrees (either side), let the runner come back
the same way, then resume the real track. Run at 1 s (recordings of 1-2 s), 10 s and 300 s
sampling, as recorded and with added GPS error (AR(1), sigma 8 m, time constant 30 s).

Reported, for coursewatch's flag (the runner's own channel: "coursewatch"), its confirmed
alert (what race HQ is told: "coursewatch HQ") and for 25, 60 and 100 m corridor rules (an
alarm when a fix is further than X from the course line, re-armed when back inside):
- alarm distance: metres run past the wrong turn when the alarm fired (median, p90), misses;
- repeated: wrong turns alarmed more than once before the runner was back where they turned
  (each crossing of another part of the course read as a way back, then a new alarm);
- at 300 s: on which clearly-off ping (more than 100 m off, on the true path) the alarm fired
  ("<1st": on a ping between 60 and 100 m off, before any clearly-off one); with added error,
  in brackets, the same with the pings judged where they were sent (what a person checking
  the track sees), when it differs;
- false alarms: alarms while the real runner was on course (every recorded fix within 60 m
  of the course from 5 min before to 5 min after), on the untouched pairs and outside the
  injected excursions, at every sampling and noise level; "runner-h" is the time watched for
  them (each run's span, its injected excursion left out), to read a count as a rate.

Usage: python benchmarks/detection.py [--per-track N] [--seed S [S ...]] [--every 1 10 300]

``--every 600``: satellite pings 10 minutes apart instead (a tier of 300 s or more is pings).
Each list of tiers draws its own sample of turns and error (the draws are seeded by the case
count): ``--every 300`` is not the default run's 300 s rows.

Several seeds pool several samples of wrong turns, to see how far the figures of one sample
hold. The untouched pairs run once per seed: with fresh added error, but as recorded they are
the same every time, so a false alarm there counts once per seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import numba as nb
from realdata import PAIRS, Pair, course, track

from coursewatch import Course, EngineConfig, match_fixes
from coursewatch.engine.grid import nearest_distances
from coursewatch.geo import FloatArray

CORRIDORS_M = (25.0, 60.0, 100.0)
TIERS_S = (1.0, 10.0, 300.0)
ROTATE_M = 1500.0
ON_COURSE_M = 60.0
FA_WINDOW_S = 300.0
CLEAR_OFF_M = 100.0
ALARM_KINDS = ("off_course", "wrong_way", "shortcut")  # flags: the runner's own channel
HQ_KINDS = ("alert", "far_from_course")  # confirmed: what race HQ is told
NOISE_SIGMA_M = 8.0
NOISE_TAU_S = 30.0
# "AR(1)+acc": the receiver reports its accuracy (8 m), as phones do over OsmAnd/OwnTracks;
# "AR(1)": it reports nothing, as watch files and inReach pings
NOISE_MODES = ("none", "AR(1)+acc", "AR(1)")


def offsets(c: Course, x: FloatArray, y: FloatArray) -> FloatArray:
    return nearest_distances(x, y, 50_000.0, c.x, c.y, c.grid)


@dataclass
class Run:
    """One sampled track as a runner's tracker would send it."""

    t: FloatArray
    x: FloatArray  # sent position (with noise)
    y: FloatArray
    true_x: FloatArray  # recorded position (without the added noise)
    true_y: FloatArray
    path_m: FloatArray  # distance run past the wrong turn, NaN outside the excursion
    excursion: tuple[float, float] | None  # time span of the injected excursion
    accuracy_m: FloatArray | None = None  # what the receiver reports, when it does


@dataclass
class Tally:
    delays_m: list[float] = field(default_factory=list)
    missed: int = 0
    already: int = 0  # the wrong turn came while still in alarm from a real excursion
    ping_rank: list[int] = field(default_factory=list)  # 300 s: 1 = first clearly-off ping
    ping_rank_sent: list[int] = field(default_factory=list)  # the same, judged as sent
    false_alarms: int = 0
    false_where: list[str] = field(default_factory=list)
    hours: float = 0.0  # runner-hours watched for false alarms (injected excursions left out)
    repeated: int = 0  # wrong turns alarmed more than once before the runner was back


@nb.njit(cache=True)
def subsample(t: FloatArray, every_s: float) -> np.ndarray:  # type: ignore[type-arg]
    """Indices of the fixes a tracker sending every ``every_s`` seconds would send."""
    keep = np.empty(len(t), dtype=np.int64)
    keep[0] = 0
    n = 1
    last = t[0]
    for i in range(1, len(t)):
        if t[i] - last >= every_s - 1e-6:
            keep[n] = i
            n += 1
            last = t[i]
    return keep[:n]


def ar1_noise(t: FloatArray, sigma_m: float, tau_s: float, rng: np.random.Generator) -> FloatArray:
    """GPS error correlated in time: AR(1) in x and y with the given sigma and time constant."""
    return _ar1(t, sigma_m, tau_s, rng.normal(0.0, 1.0, (len(t), 2)))


@nb.njit(cache=True)
def _ar1(t: FloatArray, sigma_m: float, tau_s: float, z: FloatArray) -> FloatArray:
    n = len(t)
    out = np.zeros((n, 2))
    out[0] = sigma_m * z[0]
    for i in range(1, n):
        a = np.exp(-(t[i] - t[i - 1]) / tau_s)
        out[i] = a * out[i - 1] + sigma_m * np.sqrt(1 - a * a) * z[i]
    return out


def turn_points(d: FloatArray, path: FloatArray, n_points: int) -> list[int]:
    """Clean on-course moments, spread along the track."""
    ok = d <= 30.0
    bad_idx = np.flatnonzero(~ok)
    picks: list[int] = []
    targets = np.linspace(path[-1] * 0.05, path[-1] * 0.9, n_points)
    for target in targets:
        i = int(np.searchsorted(path, target))
        while i < len(path):
            lo = np.searchsorted(path, path[i] - 300.0)
            hi = np.searchsorted(path, path[i] + ROTATE_M + 200.0)
            if hi >= len(path):
                break
            k = np.searchsorted(bad_idx, lo)
            if k >= len(bad_idx) or bad_idx[k] > hi:
                picks.append(i)
                break
            i = int(bad_idx[k] + 1)
            i = int(np.searchsorted(path, path[i] + 300.0))
    return sorted(set(picks))


def inject(
    t: FloatArray, x: FloatArray, y: FloatArray, path: FloatArray, i: int, angle_deg: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[float, float]]:
    j = int(np.searchsorted(path, path[i] + ROTATE_M))
    a = np.radians(angle_deg)
    ca, sa = np.cos(a), np.sin(a)
    dx, dy = x[i + 1 : j + 1] - x[i], y[i + 1 : j + 1] - y[i]
    rx, ry = x[i] + ca * dx - sa * dy, y[i] + sa * dx + ca * dy
    out_t = t[i + 1 : j + 1]
    back_t = t[j] + (t[j] - t[i:j][::-1])
    back_x = np.concatenate([rx[:-1][::-1], [x[i]]])
    back_y = np.concatenate([ry[:-1][::-1], [y[i]]])
    shift = 2 * (t[j] - t[i])
    nt = np.concatenate([t[: i + 1], out_t, back_t, t[i + 1 :] + shift])
    nx = np.concatenate([x[: i + 1], rx, back_x, x[i + 1 :]])
    ny = np.concatenate([y[: i + 1], ry, back_y, y[i + 1 :]])
    run = np.full(len(nt), np.nan)
    seg_out = path[i + 1 : j + 1] - path[i]
    run[i + 1 : j + 1] = seg_out
    run[j + 1 : j + 1 + len(back_t)] = 2 * seg_out[-1] - seg_out[::-1]
    return nt, nx, ny, run, (float(t[i]), float(back_t[-1]))


def make_run(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    run_m: FloatArray,
    excursion: tuple[float, float] | None,
    every_s: float,
    noise: str,
    rng: np.random.Generator,
) -> Run:
    acc = None
    if noise != "none":
        e = ar1_noise(t, NOISE_SIGMA_M, NOISE_TAU_S, rng)
        sx, sy = x + e[:, 0], y + e[:, 1]
    else:
        sx, sy = x, y
    k = subsample(t, every_s)
    if noise == "AR(1)+acc":
        acc = np.full(len(k), NOISE_SIGMA_M)
    return Run(t[k], sx[k], sy[k], x[k], y[k], run_m[k], excursion, acc)


def on_course_around(ta: float, t_rec: FloatArray, d_rec: FloatArray) -> bool:
    lo = np.searchsorted(t_rec, ta - FA_WINDOW_S)
    hi = np.searchsorted(t_rec, ta + FA_WINDOW_S, side="right")
    return bool(np.all(d_rec[lo:hi] <= ON_COURSE_M))


Alarms = list[tuple[float, int, str]]


def alarms_ours(c: Course, run: Run, cfg: EngineConfig) -> tuple[Alarms, Alarms, np.ndarray]:
    """The flags raised (the runner's own channel), the alerts race HQ got, and whether the
    runner was flagged at each fix."""
    lat, lon = c.frame.to_latlon(run.x, run.y)
    res = match_fixes(c, run.t, lat, lon, run.accuracy_m, config=cfg, start_ts=float(run.t[0]))
    # A shortcut reported when a flagged runner rejoins is the end of that flag, not a new
    # one; a shortcut onto the line with no flag before it is a flag of its own.
    flags = [
        (float(run.t[e.fix_index]), e.fix_index, e.kind)
        for e in res.events
        if e.kind in ALARM_KINDS and not (e.kind == "shortcut" and e.alarm_time is not None)
    ]
    hq = [(float(run.t[e.fix_index]), e.fix_index, e.kind) for e in res.events
          if e.kind in HQ_KINDS]  # fmt: skip
    return flags, hq, res.alarmed


def alarms_corridor(
    d_sent: FloatArray, t: FloatArray, width_m: float
) -> list[tuple[float, int, str]]:
    out = []
    inside = True
    for k in range(len(t)):
        if inside and d_sent[k] > width_m:
            out.append((float(t[k]), k, "corridor"))
            inside = False
        elif not inside and d_sent[k] <= width_m:
            inside = True
    return out


def score(
    run: Run,
    alarms: list[tuple[float, int, str]],
    tally: Tally,
    t_rec: FloatArray,
    d_rec: FloatArray,
    d_ping: tuple[FloatArray, FloatArray],
    every_s: float,
    label: str,
    in_alarm: bool = False,
) -> None:
    """``d_ping``: each sent fix's distance off the course, true and as sent (with the
    added error), for the rank of the clearly-off ping the alarm came on."""
    ex = run.excursion
    watched_s = float(run.t[-1] - run.t[0]) - (0.0 if ex is None else ex[1] - ex[0])
    tally.hours += watched_s / 3600.0
    hit = None
    n_in = 0
    for ta, k, kind in alarms:
        if ex is not None and ex[0] < ta <= ex[1]:
            n_in += 1
            if hit is None:
                hit = k
            continue
        if on_course_around(ta, t_rec, d_rec):
            tally.false_alarms += 1
            tally.false_where.append(f"{label}@{ta:.0f}:{kind}{'' if ex is None else ':inj'}")
    if ex is None:
        return
    if in_alarm:
        tally.already += 1
        return
    if hit is None:
        tally.missed += 1
        return
    tally.delays_m.append(float(run.path_m[hit]))
    tally.repeated += n_in > 1
    if every_s >= 300:
        in_ex = (run.t > ex[0]) & (run.t <= ex[1])
        for d, ranks in zip(d_ping, (tally.ping_rank, tally.ping_rank_sent), strict=True):
            clear = np.flatnonzero(in_ex & (d > CLEAR_OFF_M))
            if len(clear):
                ranks.append(int(np.searchsorted(clear, hit)) + 1 if hit >= clear[0] else 0)


@dataclass
class Case:
    pair: str
    every_s: float
    noise: str
    run: Run
    d_true: FloatArray
    d_sent: FloatArray
    t_judge: FloatArray
    d_judge: FloatArray
    seed: int = 0


def recorded(
    pair: Pair,
) -> tuple[Course, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """A pair's course, and its recording in the course's frame: time, x, y, the offset from the
    course line and the distance along the recording, per fix."""
    c = course(pair.course)
    tr = track(pair.track)
    x, y = c.frame.to_xy(tr.lat, tr.lon)
    path = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    return c, tr.time_s, x, y, offsets(c, x, y), path


def build_cases(
    per_track: int, seed: int, pairs: tuple[str, ...] = (), tiers_s: tuple[float, ...] = TIERS_S
) -> list[Case]:
    cases: list[Case] = []
    for pair in PAIRS:
        if pairs and pair.name not in pairs:
            continue
        c, t, x, y, d_rec, path = recorded(pair)
        tr = track(pair.track)
        rng = np.random.default_rng([seed, len(cases)])
        variants = [(t, x, y, np.full(len(t), np.nan), None)]
        if pair.kind == "watch":
            for i in turn_points(d_rec, path, per_track):
                angle = rng.uniform(30, 150) * rng.choice([-1, 1])
                variants.append(inject(t, x, y, path, i, angle))
        for every_s in tiers_s:
            if pair.kind == "pings" and every_s < 300:
                continue
            if every_s == 1.0 and tr.median_interval_s > 2.0:
                continue
            for noise in NOISE_MODES:
                for ct, cx, cy, crun, ex in variants:
                    run = make_run(ct, cx, cy, crun, ex, every_s, noise, rng)
                    # false alarms are judged by the fixes as recorded, injection included
                    t_judge, d_judge = (t, d_rec) if ex is None else (ct, offsets(c, cx, cy))
                    cases.append(Case(
                        pair.name, every_s, noise, run, offsets(c, run.true_x, run.true_y),
                        offsets(c, run.x, run.y), t_judge, d_judge, seed,
                    ))  # fmt: skip
    return cases


def evaluate(
    cases: list[Case], cfg: EngineConfig, corridors: bool = True
) -> dict[tuple[float, str, str], Tally]:
    tallies: dict[tuple[float, str, str], Tally] = {}
    by_pair = {p.name: p for p in PAIRS}
    for k in cases:
        c = course(by_pair[k.pair].course)
        # a wrong turn taken while the runner is still in alarm from a real excursion just
        # before it cannot raise a new alarm: counted apart, not as a miss
        before = -1
        if k.run.excursion is not None:
            before = int(np.searchsorted(k.run.t, k.run.excursion[0], side="right")) - 1
        ours, hq, alarmed = alarms_ours(c, k.run, cfg)
        flagged = bool(before >= 0 and alarmed[before])
        results = {"coursewatch": (ours, flagged), "coursewatch HQ": (hq, flagged)}
        if corridors and k.noise != "AR(1)+acc":
            for w in CORRIDORS_M:
                outside = bool(before >= 0 and k.d_sent[before] > w)
                results[f"corridor {w:.0f} m"] = (alarms_corridor(k.d_sent, k.run.t, w), outside)
        for m, (alarms, in_alarm) in results.items():
            tally = tallies.setdefault((k.every_s, k.noise, m), Tally())
            label = f"{k.pair}/{k.every_s:.0f}s/{k.noise}/seed {k.seed}"
            score(k.run, alarms, tally, k.t_judge, k.d_judge, (k.d_true, k.d_sent), k.every_s,
                  label, in_alarm)  # fmt: skip
    return tallies


def _ranks(ranks: list[int]) -> str:
    r = np.asarray(ranks)
    return f"{(r == 0).sum()}/{(r == 1).sum()}/{(r == 2).sum()}/{(r > 2).sum()}"


def report(tallies: dict[tuple[float, str, str], Tally]) -> None:
    head = (
        f"{'sampling':>9} {'noise':>9} {'method':>16} {'median m':>9} {'p90 m':>7} "
        f"{'missed':>7} {'in alarm':>8} {'repeated':>8} {'false alarms':>13} {'runner-h':>9} "
        f"{'ping <1st/1st/2nd/later (as sent)':>34}"
    )
    print(head)
    order = {n: i for i, n in enumerate(NOISE_MODES)}
    for (every_s, noise, m), ta in sorted(
        tallies.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
    ):
        med = f"{np.median(ta.delays_m):.0f}" if ta.delays_m else "-"
        p90 = f"{np.percentile(ta.delays_m, 90):.0f}" if ta.delays_m else "-"
        ranks = ""
        if every_s >= 300 and ta.ping_rank:
            ranks = _ranks(ta.ping_rank)
            if ta.ping_rank_sent != ta.ping_rank:
                ranks += f" ({_ranks(ta.ping_rank_sent)})"
        row = (
            f"{every_s:>8.0f}s {noise:>9} {m:>16} {med:>9} {p90:>7} {ta.missed:>7} "
            f"{ta.already:>8} {ta.repeated:>8} {ta.false_alarms:>13} {ta.hours:>9.0f} {ranks:>34}"
        )
        print(row)
    for method in ("coursewatch", "coursewatch HQ"):
        where = [w for (_, _, m), ta in tallies.items() if m == method for w in ta.false_where]
        if where:
            print(f"{method} false alarms (pair/sampling/noise/seed@time:kind; ':inj' in a run "
                  "with a wrong turn added, outside it):")  # fmt: skip
            for w in sorted(set(where))[:400]:
                print("  ", w)


def parse_config(items: list[str]) -> EngineConfig:
    """``name=value`` overrides of the engine defaults."""
    kw = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in EngineConfig.names():
            raise SystemExit(f"error: unknown engine setting {name!r}: {EngineConfig.names()}")
        kw[name] = float(value)
    return EngineConfig(**kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--per-track", type=int, default=12, help="wrong turns injected per track")
    ap.add_argument("--seed", type=int, nargs="+", default=[2016], help="one sample per seed")
    ap.add_argument("--pairs", nargs="*", default=[], help="only these pairs (names)")
    ap.add_argument("--set", nargs="*", default=[], help="engine setting overrides, name=value")
    ap.add_argument("--every", type=float, nargs="+", default=list(TIERS_S),
                    help="sampling tiers, s (300 and more: pings; e.g. --every 600)")  # fmt: skip
    args = ap.parse_args()
    cfg = parse_config(args.set)
    started = time.perf_counter()
    tiers = tuple(args.every)
    cases = [case for seed in args.seed
             for case in build_cases(args.per_track, seed, tuple(args.pairs), tiers)]  # fmt: skip
    tallies = evaluate(cases, cfg)
    n_inj = sum(k.run.excursion is not None for k in cases)
    elapsed = time.perf_counter() - started
    seeds = ", ".join(str(s) for s in args.seed)
    print(f"# detection harness: {n_inj} injected wrong turns in real tracks, "
          f"{len({k.pair for k in cases})} real pairs untouched, seed {seeds}, "
          f"{elapsed:.0f} s")  # fmt: skip
    report(tallies)


if __name__ == "__main__":
    main()
