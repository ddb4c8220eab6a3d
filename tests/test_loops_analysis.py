"""The worst case of loops and branches as `specc check` counts it, and their shape in the IR.

Steps are the longest path (every loop at its most turns, the longer side of every branch), the
reliability is the weakest path (a loop's body to the power of its turns, a branch's weaker side),
and `--explain-reliability` shows each loop and branch as a row with its steps under it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.compiler import Compilation, compile_source
from specc.ir import every_step, to_bytes
from specc.passes.reliability import table
from specc.runtime.ir_loader import load_ir

SPEC = """agent a {
  limits {
    steps %(steps)d
    wall 5m
  }
  reliability 0.5
  type Item {
    n: int
  }
  input {
    items: list<Item>(..3)
    flag: bool
  }
  action one(item: Item) -> int {
    run "true"
    reliability 0.9
    on any abort
  }
  action two(n: int) -> int {
    run "true"
    reliability 0.8
    on any abort
  }
  workflow {
    first = two(n: 1)
    results = for item in input.items {
      one(item: item)
    }
    if input.flag {
      two(n: 2)
      two(n: 3)
    } else {
      one(item: {n: 4})
    }
  }
}
"""


def _compile(steps: int = 20) -> Compilation:
    return compile_source(SPEC % {"steps": steps}, "a.agent")


def test_the_table_has_a_row_for_each_loop_and_branch_with_their_steps_under_them() -> None:
    rows = table(_compile()).splitlines()
    assert rows[1].split() == ["first", "two", "0.80", "0", "0.80"]
    assert rows[2].split()[:7] == ["results", "=", "for", "item", "at", "most", "3"]
    assert rows[2].split()[-1] == "0.729"  # 0.9^3
    assert rows[3].startswith("  one ")
    assert rows[4].startswith("if at line ") and rows[4].split()[-1] == "0.640"  # min(0.8 x 0.8, 0.9)
    assert rows[5].startswith("  ") and rows[7] == "else"
    assert rows[-1].startswith("workflow success: 0.373")  # 0.8 x 0.729 x 0.64


def test_steps_are_counted_on_the_longest_path() -> None:
    # 1 + 3 x 1 + max(2, 1) = 6
    assert not _compile(steps=6).has_errors
    found = _compile(steps=5).diagnostics
    assert [d.message for d in found if d.code.name == "limit-too-small"] == [
        "`limits.steps` is 5, but the workflow's longest path takes 6 steps, every loop at its maximum"]


def test_the_ir_holds_loops_and_branches_and_loads_back(tmp_path: Path) -> None:
    ir = _compile().ir
    kinds = [step.kind for step in every_step(ir.workflow)]
    assert kinds == ["call", "for", "call", "if", "call", "call", "call"]
    loop = ir.workflow[1] if ir.workflow else None
    assert loop is not None and loop.item == "item" and loop.max_items == 3 and loop.name == "results"
    assert load_ir(to_bytes(ir), "a.ir.json").workflow == ir.workflow


@pytest.mark.parametrize("condition,accepted", [("amount > 50", True), ("amount > 50 and true", True),
                                                ("false", False), ("1 > 2", False)])
def test_a_conditional_approval_of_a_high_risk_action_must_read_a_parameter(condition: str, accepted: bool) -> None:
    spec = f"""agent a {{
  limits {{
    steps 5
    wall 1m
  }}
  action refund(amount: number) -> number {{
    run "true"
    risk high
    approval required when {condition}
    on any abort
  }}
  workflow {{
    refund(amount: 20)
  }}
}}
"""
    found = [d.code.name for d in compile_source(spec, "a.agent").diagnostics]
    assert ("approval-required" not in found) is accepted, found
