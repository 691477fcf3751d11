"""Fuzz every protocol decoder and every file parser for a while, and print what broke.

Each target is fed, round-robin until the time is up: valid samples mutated (a value of the
parsed JSON swapped for a poison or a random value, bytes flipped, cut, duplicated or spliced,
a number replaced by ``1e999``, ``NaN`` or 400 digits; FIT files re-signed after the mutation so
the reader gets past the CRC), random JSON-like values, and random bytes. A crash is any
exception but the project's own (:class:`coursewatch.errors.InputError` and its subclasses,
:class:`coursewatch.protocols.PayloadError` among them); a file reader's last-resort message
("could not be read (KeyError: ...)") is counted apart, as a fallback. A case that runs over
``--hang-s`` is a crash too. Each crash's first input is saved for ``--replay``.

Prints, per target: cases run, crashes, fallbacks and the slowest case in seconds; then each
distinct crash (type and place) with its reproducer. Prints numbers; it is not a test.

Usage: .venv/bin/python benchmarks/fuzz.py [--minutes 10] [--seed 0] [--out DIR]
       .venv/bin/python benchmarks/fuzz.py --replay TARGET FILE   (one case, with traceback)
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))

from fuzzcases import FORMAT_SAMPLES, JSON_SAMPLES, OSMAND_SAMPLE, mutate_bytes, mutate_json

from coursewatch.errors import InputError
from coursewatch.formats.detect import parse_points
from coursewatch.formats.load import course_from_bytes, track_from_bytes
from coursewatch.protocols.inreach import decode_inreach
from coursewatch.protocols.jsonbody import read_json
from coursewatch.protocols.native import decode_native
from coursewatch.protocols.osmand import decode_osmand, decode_osmand_json, params_from_body
from coursewatch.protocols.owntracks import decode_owntracks
from coursewatch.protocols.upload import decode_upload

NOW = 1_780_000_000.0
MAX_BYTES = 2 * 1024 * 1024
FALLBACK = "could not be read ("
SLICE_S = 1.0  # each target's turn in the round-robin


class Hang(BaseException):
    """A case ran longer than --hang-s (a BaseException: no reader's ``except Exception``)."""


def _form(data: bytes) -> object:
    return decode_osmand(params_from_body(data, "application/x-www-form-urlencoded"), NOW)


TARGETS: dict[str, Callable[[bytes], object]] = {
    "protocols.read_json": read_json,
    "protocols.native": lambda b: decode_native(read_json(b)),
    "protocols.owntracks": lambda b: decode_owntracks(read_json(b), "ann", "phone"),
    "protocols.inreach": lambda b: decode_inreach(read_json(b)),
    "protocols.osmand_json": lambda b: decode_osmand_json(b, NOW),
    "protocols.osmand_form": _form,
    "protocols.upload": lambda b: decode_upload(b, "7", MAX_BYTES),
    "formats.parse_points": lambda b: parse_points(b, MAX_BYTES, "fuzz"),
    "formats.track_from_bytes": lambda b: track_from_bytes(b, "fuzz", MAX_BYTES),
    "formats.course_from_bytes": lambda b: course_from_bytes(b, "fuzz"),
}
JSON_TARGET_SAMPLE = {
    "protocols.native": "native",
    "protocols.owntracks": "owntracks",
    "protocols.inreach": "inreach",
    "protocols.osmand_json": "osmand_json",
}


def make_case(target: str, rng: random.Random) -> bytes:
    """One input for ``target``: mostly a valid sample, mutated."""
    if target in JSON_TARGET_SAMPLE or target == "protocols.read_json":
        name = JSON_TARGET_SAMPLE.get(target) or rng.choice(sorted(JSON_SAMPLES))
        sample = JSON_SAMPLES[name]
        if rng.random() < 0.6:
            return mutate_json(sample, rng)
        return mutate_bytes(json.dumps(sample).encode(), rng, list(FORMAT_SAMPLES.values()))
    if target == "protocols.osmand_form":
        params = dict(OSMAND_SAMPLE)
        for _ in range(rng.randrange(1, 3)):
            key = rng.choice([*OSMAND_SAMPLE, "x", "location"])
            params[key] = mutate_json(params.get(key, ""), rng).decode().strip('"')
        return mutate_bytes(urlencode(params).encode(), rng, []) if rng.random() < 0.3 else (
            urlencode(params).encode()
        )  # fmt: skip
    fmt = rng.choice(sorted(FORMAT_SAMPLES))
    data = FORMAT_SAMPLES[fmt]
    if fmt in ("geojson", "inreach") and rng.random() < 0.4:
        return mutate_json(json.loads(data), rng)
    return mutate_bytes(data, rng, list(FORMAT_SAMPLES.values()), fit=fmt == "fit")


@dataclass
class Crash:
    kind: str
    message: str
    path: Path
    data: bytes
    count: int = 1


@dataclass
class Stats:
    cases: int = 0
    refused: int = 0  # the project's own error: the expected answer to most fuzz
    fallbacks: int = 0
    slowest_s: float = 0.0
    slowest: bytes = b""
    crashes: dict[str, Crash] = field(default_factory=dict)
    fallback_kinds: dict[str, Crash] = field(default_factory=dict)


def _place(tb: TracebackType | None) -> str:
    """The innermost coursewatch frame of a traceback (else the innermost frame)."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "/coursewatch/" in f.filename] or frames
    if not ours:
        return "?"
    f = ours[-1]
    return f"{f.filename.split('/coursewatch/')[-1]}:{f.lineno} ({f.name})"


def _fallback_kind(exc: InputError) -> str:
    """What the reader's last resort caught: the exception, the start of its message, where.

    The reader raises ``from None``, which hides the cause from tracebacks but keeps it.
    """
    cause = exc.__context__
    if cause is None:
        inner = exc.detail.split(FALLBACK, 1)[1].split(")", 1)[0]
        return re.sub(r"\d+", "N", inner)[:40]
    message = re.sub(r"\d+", "N", str(cause)).split(":")[0][:40]
    return f"{type(cause).__name__}: {message} at {_place(cause.__traceback__)}"


def _keep(found: dict[str, Crash], key: str, message: str, data: bytes, prefix: Path) -> None:
    """Count one more of ``key``; the first input of each is saved as ``prefix-N.bin``."""
    if key in found:
        found[key].count += 1
        return
    path = prefix.with_name(f"{prefix.name}-{len(found)}.bin")
    path.write_bytes(data)
    found[key] = Crash(key, message[:300], path, data)


def run_case(target: str, data: bytes, stats: Stats, out: Path, hang_s: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, hang_s)
    t0 = time.perf_counter()
    try:
        TARGETS[target](data)
    except InputError as exc:
        stats.refused += 1
        if FALLBACK in exc.detail:
            stats.fallbacks += 1
            kind = _fallback_kind(exc)
            _keep(stats.fallback_kinds, kind, exc.detail, data, out / f"{target}-fallback")
    except (Exception, Hang) as exc:
        key = f"{type(exc).__name__} at {_place(exc.__traceback__)}"
        _keep(stats.crashes, key, str(exc), data, out / f"{target}-crash")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    took = time.perf_counter() - t0
    stats.cases += 1
    if took > stats.slowest_s:
        stats.slowest_s, stats.slowest = took, data


def fuzz(minutes: float, seed: int, out: Path, hang_s: float) -> dict[str, Stats]:
    rng = random.Random(seed)
    stats = {t: Stats() for t in TARGETS}
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        for target in TARGETS:
            turn_end = min(time.monotonic() + SLICE_S, deadline)
            while time.monotonic() < turn_end:
                run_case(target, make_case(target, rng), stats[target], out, hang_s)
    return stats


def report(stats: dict[str, Stats], out: Path, minutes: float, seed: int) -> None:
    print(f"fuzzed {len(stats)} targets for {minutes:g} min (seed {seed}); inputs kept in {out}")
    print(f"{'target':27s} {'cases':>7s} {'refused':>7s} {'crashes':>7s} {'fallbacks':>9s} "
          f"{'slowest_s':>9s}")  # fmt: skip
    for target, s in stats.items():
        crashes = sum(c.count for c in s.crashes.values())
        print(f"{target:27s} {s.cases:7d} {s.refused:7d} {crashes:7d} {s.fallbacks:9d} "
              f"{s.slowest_s:9.4f}")  # fmt: skip
    for target, s in stats.items():
        slow = out / f"{target}-slowest.bin"
        slow.write_bytes(s.slowest)
        for c in s.crashes.values():
            print(f"\ncrash in {target}: {c.kind} (x{c.count})\n  message: {c.message}")
            print(f"  input ({len(c.data)} bytes): {c.data[:160]!r}")
            print(f"  reproduce: .venv/bin/python benchmarks/fuzz.py --replay {target} {c.path}")
        if s.fallback_kinds:
            print(f"\nfallbacks in {target} (the reader's last resort caught these):")
        for c in sorted(s.fallback_kinds.values(), key=lambda c: -c.count):
            print(f"  x{c.count:<5d} {c.kind}  (first input: {c.path})")
    slowest = max(stats, key=lambda t: stats[t].slowest_s)
    print(f"\nslowest case of all: {slowest}, {stats[slowest].slowest_s:.3f} s "
          f"(input: {out / (slowest + '-slowest.bin')})")  # fmt: skip


def replay(target: str, path: Path) -> None:
    data = path.read_bytes()
    t0 = time.perf_counter()
    try:
        result = TARGETS[target](data)
    except InputError as exc:
        print(f"{type(exc).__name__} (the project's own): {exc}")
    except Exception:
        traceback.print_exc()
    else:
        print(f"ok: {type(result).__name__}")
    print(f"{time.perf_counter() - t0:.4f} s")


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("the case ran over --hang-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long in all")
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are repeatable)")
    parser.add_argument("--hang-s", type=float, default=20.0, help="a case longer is a crash")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "coursewatch-fuzz"
    )
    parser.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"), help="run one input")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # a numpy warning on odd input is not a crash
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    if args.replay:
        replay(args.replay[0], Path(args.replay[1]))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGALRM, _on_alarm)
    stats = fuzz(args.minutes, args.seed, args.out, args.hang_s)
    report(stats, args.out, args.minutes, args.seed)


if __name__ == "__main__":
    main()
