"""Detectors: pure state machines over the matcher's per-fix estimate.

Each detector is a numba function ``step(state, ...inputs, cfg, ev) -> code`` that reads and
writes only its own slice of the runner's state vector and, when it fires, one event row. Its
tests feed it times and values only. The matcher kernel calls them in a fixed order
(off-course, then wrong-way) in :mod:`coursewatch.engine.kernel`.
"""
