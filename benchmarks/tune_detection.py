"""Grid search over the off-course detector settings on the detection harness.

Prints one line per setting: alarm distance (median) and false alarms at every sampling and
noise level. Used to choose the defaults of EngineConfig; anyone can rerun it.

Usage: python benchmarks/tune_detection.py --per-track 6 --grid oc_d_ref_m=60,64 oc_h=1.5,3
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from detection import build_cases, evaluate, parse_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-track", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--grid", nargs="*", default=[], help="name=v1,v2,...")
    args = ap.parse_args()
    names = [g.split("=")[0] for g in args.grid]
    values = [g.split("=")[1].split(",") for g in args.grid]
    cases = build_cases(args.per_track, args.seed)
    for combo in itertools.product(*values):
        cfg = parse_config([f"{n}={v}" for n, v in zip(names, combo, strict=True)])
        tallies = evaluate(cases, cfg, corridors=False)
        cells = []
        for (every_s, noise, _), ta in sorted(tallies.items()):
            med = np.median(ta.delays_m) if ta.delays_m else float("nan")
            tag = {"none": "", "AR(1)+acc": "a", "AR(1)": "n"}[noise]
            cells.append(f"{every_s:.0f}{tag}:{med:.0f}/{ta.missed}/{ta.false_alarms}")
        print(
            " ".join(f"{n}={v}" for n, v in zip(names, combo, strict=True)),
            "|",
            " ".join(cells),
            flush=True,
        )


if __name__ == "__main__":
    main()
