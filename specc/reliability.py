"""The reliability model of a workflow: a step whose action has estimate p and is retried n times
for the kinds it retries succeeds with 1 - (1 - p)^(n + 1), failures assumed independent; n counts
every retry of a `retry ... then retry ...` chain and, when different kinds retry differently, the
fewest. A sequence succeeds with the product over its steps; a loop of at most m turns with the m-th
power of its body's (every loop at its maximum); a branch with its weaker side (the weakest path).
`require` guards and `return` are not counted. The checker compares the result with the target; the
IR records it. The worst-case step count is the longest path, every loop at its maximum."""

from __future__ import annotations

from collections.abc import Mapping

from specc import ast
from specc.failure import RETRYABLE
from specc.handling import resolve, retried, retries
from specc.record import Frozen, init


class StepEstimate(Frozen):
    """One row of the reliability table: a call, or a loop or branch whose rows follow it one level
    deeper (`depth`). A loop's `success` is its body's to the power of its `turns`; a branch's is
    its weaker side's."""

    step: str
    action: str
    estimate: float | None
    retries: int
    success: float | None
    depth: int = 0
    kind: str = "call"  # call, for, if, else
    turns: int | None = None  # a loop's most turns

    def __init__(self, step: str, action: str, estimate: float | None, retries: int, success: float | None,
                 depth: int = 0, kind: str = "call", turns: int | None = None) -> None:
        init(self, {"step": step, "action": action, "estimate": estimate, "retries": retries, "success": success,
                    "depth": depth, "kind": kind, "turns": turns})


def step_retries(agent: ast.Agent, action: ast.Action) -> int:
    """The retries a step calling `action` gets, by the model above."""
    counts = []
    for kind in sorted(RETRYABLE):
        found = resolve(agent, action, kind)
        if found is not None and retried(found.strategy):
            counts.append(retries(found.strategy))
    return min(counts) if counts else 0


def estimates(agent: ast.Agent, actions: Mapping[str, ast.Action],
              bounds: Mapping[int, int] | None = None) -> list[StepEstimate]:
    """One row a workflow call, loop and branch, in order (the rows of a block after the row of its
    loop or branch); none without a workflow. `bounds` are the loops' most turns by source offset
    (`Symbols.loop_bounds`); a loop without one counts one turn."""
    rows: list[StepEstimate] = []
    if agent.workflow is not None:
        _block(agent, actions, bounds or {}, agent.workflow.statements, 0, rows)
    return rows


def _block(agent: ast.Agent, actions: Mapping[str, ast.Action], bounds: Mapping[int, int],
           statements: list[ast.Statement], depth: int, rows: list[StepEstimate]) -> float | None:
    """Append the rows of one block; its success (None when some step has no estimate)."""
    total: float | None = 1.0
    for statement in statements:
        success: float | None
        if statement.call is not None:
            action = actions.get(statement.call.action.value)
            if action is None:
                continue
            n = step_retries(agent, action)
            p = action.reliability
            success = None if p is None else 1 - (1 - p) ** (n + 1)
            name = statement.name.value if statement.name is not None else statement.call.action.value
            rows.append(StepEstimate(name, action.name.value, p, n, success, depth))
        elif statement.kind == "for" and statement.var is not None:
            turns = bounds.get(statement.span.start, 1)
            label = (f"{statement.name.value} = " if statement.name else "") + f"for {statement.var.value}"
            at = len(rows)
            rows.append(StepEstimate(label, "", None, 0, None, depth, "for", turns))
            body = _block(agent, actions, bounds, statement.body, depth + 1, rows)
            success = None if body is None else body ** turns
            rows[at] = StepEstimate(label, f"at most {turns} turn{'s' if turns != 1 else ''}", None, 0, success, depth,
                                    "for", turns)
        elif statement.kind == "if":
            label = f"if at line {statement.span.line}"
            at = len(rows)
            rows.append(StepEstimate(label, "", None, 0, None, depth, "if"))
            then = _block(agent, actions, bounds, statement.body, depth + 1, rows)
            other: float | None = 1.0
            if statement.orelse is not None:
                rows.append(StepEstimate("else", "", None, 0, None, depth, "else"))
                other = _block(agent, actions, bounds, statement.orelse, depth + 1, rows)
            success = None if then is None or other is None else min(then, other)
            rows[at] = StepEstimate(label, "weaker branch", None, 0, success, depth, "if")
        else:
            continue
        total = None if total is None or success is None else total * success
    return total


def product(rows: list[StepEstimate]) -> float | None:
    """The workflow's success: the product of its top-level rows', or None when a step has no
    estimate."""
    total = 1.0
    for row in rows:
        if row.depth or row.kind == "else":
            continue
        if row.success is None:
            return None
        total *= row.success
    return total


def longest_path(agent: ast.Agent, actions: Mapping[str, ast.Action], bounds: Mapping[int, int],
                 *, with_retries: bool = False) -> int:
    """The most action calls one run of the workflow can make, every loop at its maximum (with
    `with_retries`, the most attempts: each call's retries added)."""
    def count(statements: list[ast.Statement]) -> int:
        total = 0
        for statement in statements:
            if statement.call is not None:
                action = actions.get(statement.call.action.value)
                total += 1 + (step_retries(agent, action) if with_retries and action is not None else 0)
            elif statement.kind == "for":
                total += bounds.get(statement.span.start, 1) * count(statement.body)
            elif statement.kind == "if":
                total += max(count(statement.body), count(statement.orelse or []))
        return total

    return count(agent.workflow.statements) if agent.workflow is not None else 0
