"""ETA from the field's history on UTMB 2015-2017 splits: leave one edition out.

Run: ``.venv/bin/python benchmarks/field_eta.py [--no-history]``. The race is
``examples/utmb_2017.race.yaml`` (its stations, aliases and changed legs) on
``courses/utmb_170k.gpx``; the splits are ``results/utmb/`` of the data folder
(``COURSEWATCH_DATA_DIR``).

For each split (the predicted edition, the editions used as history) the race is replayed
in snapshots every ``STEP_S`` of race time: at a snapshot T, the field is every runner's
splits up to T (later ones blanked), and each runner who passed a station in the last
``STEP_S`` gets a forecast from it (so the field's drift uses what was known at T, at most
``STEP_S`` after the pass). Scored, pooled over every (runner, station reached, later station
reached): ``|predicted - actual| / time still to run`` (median, p90), the RMSE at the next
station reached, and how often the actual time falls in the 10-90 % interval. Beside it, in
the same run: the average speed since the start (station km) and the history ratio (median
over earlier runners of elapsed at j / elapsed at k). The dropout risk said at each pass is
scored against who did not finish (Brier score, and by bins of the risk said).
``--no-history``: the same with no history at all (this year's field and the runner's own
model only). ``--ceiling``: each edition predicted with itself as the history (in sample: the
answer known), the most this model's form can do on these splits.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from realdata import data_dir

from coursewatch import load_course
from coursewatch.fieldfit import reached
from coursewatch.fieldrace import RaceField, race_field
from coursewatch.geo import FloatArray
from coursewatch.race import HistoryEdition, Race, parse_race
from coursewatch.splits import read_splits

STEP_S = 600.0
RACE_FILE = Path(__file__).parent.parent / "examples" / "utmb_2017.race.yaml"
YEARS = ("2015", "2016", "2017")
ROUTE = {"2015": "Pyramides Calcaires", "2016": "Pyramides Calcaires", "2017": "Lac Combal"}


def utmb(test: str) -> tuple[Race, dict[str, HistoryEdition]]:
    """The race and every edition; an edition's leg into Lac Combal is changed when its route
    there was not the predicted edition's (the race file says so for 2017)."""
    text = RACE_FILE.read_text(encoding="utf-8").replace("../../shared/data/", "")
    race = parse_race(text, data_dir() / RACE_FILE.name)
    folder = data_dir() / "results" / "utmb"
    changed = {y: ("Lac Combal",) if ROUTE[y] != ROUTE[test] else () for y in YEARS}
    return race, {y: HistoryEdition(y, folder / f"utmb_{y}.csv", changed[y]) for y in YEARS}


def replay(rf: RaceField, truth: FloatArray) -> dict[str, FloatArray]:
    """Forecast every runner at every station pass, from snapshots; the scored rows."""
    rows: dict[str, list[FloatArray]] = {
        k: []
        for k in (
            "err",
            "inside",
            "next_s",
            "method",
            "rank",
            "width",
            "risk",
            "dropped",
            "risk_at",
        )
    }
    done = np.isfinite(truth)
    ranked = [np.sort(truth[done[:, k], k]) for k in range(truth.shape[1])]
    end = float(np.nanmax(truth))
    for t in np.arange(STEP_S, end + STEP_S, STEP_S):
        snap = np.where(truth <= t, truth, np.nan)
        last = reached(snap)
        e_last = np.take_along_axis(snap, np.maximum(last, 0)[:, None], axis=1)[:, 0]
        fresh = (last >= 0) & (e_last > t - STEP_S)
        if not fresh.any():
            continue
        forecasts = rf.model.predict(snap, only=fresh)
        for r in np.flatnonzero(fresh).tolist():
            f, k = forecasts[r], int(last[r])
            if np.isfinite(f.dropout_risk):
                rows["risk"].append(f.dropout_risk)
                rows["dropped"].append(not done[r, -1])
                rows["risk_at"].append(k)
            later = [j for j in range(k + 1, truth.shape[1]) if done[r, j] and j in f.elapsed_s]
            for n, j in enumerate(later):
                mid, low, high = f.elapsed_s[j]
                actual = truth[r, j]
                rows["err"].append(abs(mid - actual) / (actual - truth[r, k]))
                rows["inside"].append(low <= actual <= high)
                rows["method"].append(f.method[j])
                at = ranked[k]  # the runner's place at k in the field, 0: first
                rows["rank"].append(np.searchsorted(at, truth[r, k]) / max(len(at) - 1, 1))
                rows["width"].append((high - low) / (actual - truth[r, k]))
                if n == 0:
                    rows["next_s"].append(mid - actual)
    return {k: np.array(v) for k, v in rows.items()}


def baselines(rf: RaceField, history: list[FloatArray], truth: FloatArray) -> dict[str, FloatArray]:
    """Average speed since the start, and the history ratio, at every station pass."""
    km = np.array([s.distance_m or 0.0 for s in rf.stations])
    h = np.vstack(history) if history else None
    avg, ratio = [], []
    n = truth.shape[1]
    for k in range(n - 1):
        for j in range(k + 1, n):
            ok = np.isfinite(truth[:, k]) & np.isfinite(truth[:, j])
            if not ok.any():
                continue
            togo = truth[ok, j] - truth[ok, k]
            avg.append(np.abs(truth[ok, k] * km[j] / km[k] - truth[ok, j]) / togo)
            if h is not None:
                both = np.isfinite(h[:, k]) & np.isfinite(h[:, j])
                if both.sum() >= 30:
                    r = float(np.median(h[both, j] / h[both, k]))
                    ratio.append(np.abs(truth[ok, k] * r - truth[ok, j]) / togo)
    return {"average speed": np.concatenate(avg),
            "history ratio": np.concatenate(ratio) if ratio else np.array([])}  # fmt: skip


def line(name: str, err: FloatArray, extra: str = "") -> str:
    if not len(err):
        return f"  {name:22s} (no history)"
    return (f"  {name:22s} n {len(err):7d}  median {100 * np.median(err):5.1f} %  "
            f"p90 {100 * np.percentile(err, 90):5.1f} %{extra}")  # fmt: skip


def speed(race: Race, editions: dict[str, HistoryEdition]) -> None:
    """``coursewatch eta predict`` end to end (a fresh process) on the 2017 field as it stood
    3 h and 20 h after the start (2,535 runners x 24 stations), with the 2015-2016 history
    of the race file, and without it."""
    import subprocess
    import tempfile

    from coursewatch.fieldrace import race_stations
    from coursewatch.sim.splits import splits_csv

    stations = race_stations(race, load_course(race.course_path))
    table = read_splits(editions["2017"].results_path, stations)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = RACE_FILE.read_text(encoding="utf-8").replace("../../shared/data", str(data_dir()))
        (folder / "race.yaml").write_text(text, encoding="utf-8")
        for hours, extra in ((3, []), (20, []), (20, ["--no-history"])):
            snap = np.where(table.elapsed_s <= hours * 3600.0, table.elapsed_s, np.nan)
            names = [s.name for s in stations]
            (folder / "now.csv").write_text(splits_csv(names, snap, table.bibs))
            cmd = [str(Path(sys.executable).parent / "coursewatch"), "eta", "predict",
                   str(folder / "race.yaml"), str(folder / "now.csv"), *extra]  # fmt: skip
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            took = time.perf_counter() - t0
            print(f"eta predict, {len(table.bibs)} runners x {len(stations)} stations at "
                  f"{hours} h{' ' + extra[0] if extra else ''}: {out.count(chr(10)) - 1} "
                  f"predictions in {took:.1f} s (a fresh process)")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--test", choices=YEARS, nargs="*", default=["2017", "2016", "2015"])
    ap.add_argument("--speed", action="store_true", help="only time `coursewatch eta predict`")
    ap.add_argument("--ceiling", action="store_true",
                    help="each edition predicted from itself: what the model could do knowing "
                         "the answer")  # fmt: skip
    args = ap.parse_args()
    if args.speed:
        speed(*utmb("2017"))
        return 0
    for test in args.test:
        race, editions = utmb(test)
        course = load_course(race.course_path)
        used = [] if args.no_history else [editions[y] for y in YEARS if y != test]
        if args.ceiling:
            used = [HistoryEdition(f"{test} itself", editions[test].results_path)]
        t0 = time.perf_counter()
        rf = race_field(race, course, history=used)
        truth = read_splits(editions[test].results_path, rf.stations).elapsed_s
        s = replay(rf, truth)
        took = time.perf_counter() - t0
        hist = [read_splits(h.results_path, rf.stations).elapsed_s for h in used]
        base = baselines(rf, hist, truth)
        name = "+".join(h.edition for h in used) or "no history"
        print(
            f"\n{test} predicted from {name} (snapshots every {STEP_S / 60:.0f} min, {took:.0f} s)"
        )
        for note in rf.notes:
            print(f"  note: {note}")
        rmse = float(np.sqrt(np.mean(s["next_s"] ** 2))) / 60.0
        cover = 100.0 * float(np.mean(s["inside"]))
        print(line("field model", s["err"], f"  next-station RMSE {rmse:5.1f} min  "
                   f"10-90 % interval covers {cover:4.1f} %"))  # fmt: skip
        for method in sorted(set(s["method"].tolist())):
            m = s["method"] == method
            print(line(f"  of which {method}", s["err"][m],
                       f"  covers {100 * float(np.mean(s['inside'][m])):4.1f} %"))  # fmt: skip
        for bname, err in base.items():
            print(line(bname, err))
        by_place(s)
        dropouts(s, hist)
    return 0


PLACES = ((0.0, 0.05, "first 5 %"), (0.05, 0.25, "5-25 %"), (0.25, 0.75, "25-75 %"),
          (0.75, 0.95, "75-95 %"), (0.95, 1.01, "last 5 %"))  # fmt: skip


def by_place(s: dict[str, FloatArray]) -> None:
    """By the runner's place at the station predicted from: the error (median / p90), and how
    often the interval holds the actual time and how wide it is (share of the time still to
    run, median)."""
    errors, cells = [], []
    for lo, hi, name in PLACES:
        m = (s["rank"] >= lo) & (s["rank"] < hi)
        if m.any():
            errors.append(f"{name} {100 * float(np.median(s['err'][m])):4.1f} / "
                          f"{100 * float(np.percentile(s['err'][m], 90)):4.1f} %")  # fmt: skip
            cells.append(f"{name} {100 * float(np.mean(s['inside'][m])):3.0f} % / "
                         f"{100 * float(np.median(s['width'][m])):3.0f} %")  # fmt: skip
    print("  error by place at the station: " + ", ".join(errors))
    print("  interval covers / width by place at the station: " + ", ".join(cells))


RISK_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.01)


def dropouts(s: dict[str, FloatArray], history: list[FloatArray]) -> None:
    """The dropout risk at each station pass against who did not finish: Brier score beside
    the history's dropout share at that station (ignoring the runner's time), and by bins of
    the risk said, how many, the mean risk and the share who dropped."""
    if not len(s["risk"]) or not history:
        return
    h = np.vstack(history)
    at = s["risk_at"].astype(int)
    finished, seen = np.isfinite(h[:, -1]), np.isfinite(h)
    overall = float(np.mean(~finished))  # (a station no edition had: every runner's share)
    share = np.array([np.mean(~finished[seen[:, k]]) if seen[:, k].any() else overall
                      for k in range(h.shape[1])])  # fmt: skip
    y = s["dropped"].astype(float)
    brier, base = np.mean((s["risk"] - y) ** 2), np.mean((share[at] - y) ** 2)
    print(
        f"  dropout risk: n {len(y)}, dropped {100 * y.mean():.1f} %, Brier {brier:.4f} "
        f"(the station's share in the history: {base:.4f}, this year's {np.var(y):.4f})"
    )
    cells = []
    for lo, hi in itertools.pairwise(RISK_BINS):
        m = (s["risk"] >= lo) & (s["risk"] < hi)
        if m.any():
            cells.append(f"{lo:.1f}-{min(hi, 1.0):.1f}: {int(m.sum())} said "
                         f"{s['risk'][m].mean():.2f}, dropped {y[m].mean():.2f}")  # fmt: skip
    print("    by risk said: " + "; ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
