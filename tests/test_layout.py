"""The house rules, checked: module and function sizes, and the kernel's layouts.

A newcomer reads modules under 400 lines and functions under 60 (80 in the engine, whose
phases are written out so that numba compiles them into one loop); each in-kernel state
machine declares its fields and the runner's state vector gives each exactly that slice.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest

from coursewatch.engine import (
    confirm,
    events,
    model,
    noise,
    offcourse,
    reach,
    state,
    wrongway,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "coursewatch"
MODULE_MAX_LINES = 400
FUNCTION_MAX_LINES = 60
ENGINE_FUNCTION_MAX_LINES = 80


def _functions() -> list[tuple[str, int, int]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                out.append((f"{path.relative_to(SRC)}:{node.lineno} {node.name}", lines,
                            ENGINE_FUNCTION_MAX_LINES if path.parent.name == "engine"
                            else FUNCTION_MAX_LINES))  # fmt: skip
    return out


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_MAX_LINES
    }
    assert not long, f"split these by idea: {long}"


def test_no_function_is_over_its_limit() -> None:
    long = [f"{where} ({n} lines)" for where, n, limit in _functions() if n > limit]
    assert not long, f"split these into named steps: {long}"


@pytest.mark.parametrize("module", [offcourse, wrongway, noise, confirm])
def test_each_state_machine_declares_its_fields_in_order(module: ModuleType) -> None:
    assert len(module.FIELDS) == module.LEN
    assert [getattr(module, name) for name in module.FIELDS] == list(range(module.LEN))


def test_the_state_vector_gives_each_its_slice_and_no_two_overlap() -> None:
    assert [getattr(state, n) for n in state.MATCHER_FIELDS] == list(range(state.OC))
    slices = [
        (state.OC, state.OC_LEN, offcourse.LEN),
        (state.WW, state.WW_LEN, wrongway.LEN),
        (state.NOISE, state.NOISE_LEN, noise.LEN),
        (state.REACH, state.REACH_LEN, reach.LEN),
        (state.CF, state.CF_LEN, confirm.LEN),
        (state.HYP, state.MAX_HYP * state.HYP_FIELDS, state.MAX_HYP * state.HYP_FIELDS),
    ]
    end = len(state.MATCHER_FIELDS)
    for start, length, declared in slices:
        assert start == end and length == declared
        end = start + length
    assert end == state.STATE_LEN


def test_the_scratch_tables_name_their_rows_in_order() -> None:
    scratch = model.Scratch.new(10)
    for rows, table in ((model.F_ROWS, scratch.f), (model.I_ROWS, scratch.i)):
        assert [getattr(model, name) for name in rows] == list(range(len(rows)))
        assert table.shape == (len(rows), model.MAX_SEGMENTS)
    assert model.MAX_SEGMENTS >= model.MAX_CAND + 1  # a row holds every new hypothesis


def test_event_rows_declare_their_fields_in_order() -> None:
    assert [getattr(events, name) for name in events.FIELDS] == list(range(events.EV_FIELDS))
