"""The reliability model of a workflow: a step whose action has estimate p and is retried n times
for the kinds it retries succeeds with 1 - (1 - p)^(n + 1), failures assumed independent; n counts
every retry of a `retry ... then retry ...` chain and, when different kinds retry differently, the
fewest. The workflow succeeds with the product over its steps. `require` guards are not counted.
The checker compares the product with the target; the IR records it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from specc import ast
from specc.failure import RETRYABLE
from specc.handling import resolve, retried, retries


@dataclass(frozen=True)
class StepEstimate:
    """One row of the reliability table."""

    step: str
    action: str
    estimate: float | None
    retries: int
    success: float | None


def step_retries(agent: ast.Agent, action: ast.Action) -> int:
    """The retries a step calling `action` gets, by the model above."""
    counts = []
    for kind in sorted(RETRYABLE):
        found = resolve(agent, action, kind)
        if found is not None and retried(found.strategy):
            counts.append(retries(found.strategy))
    return min(counts) if counts else 0


def estimates(agent: ast.Agent, actions: Mapping[str, ast.Action]) -> list[StepEstimate]:
    """One row a workflow call, in order; none without a workflow."""
    rows: list[StepEstimate] = []
    if agent.workflow is None:
        return rows
    for statement in agent.workflow.statements:
        if statement.call is None:
            continue
        action = actions.get(statement.call.action.value)
        if action is None:
            continue
        n = step_retries(agent, action)
        p = action.reliability
        success = None if p is None else 1 - (1 - p) ** (n + 1)
        name = statement.name.value if statement.name is not None else statement.call.action.value
        rows.append(StepEstimate(name, action.name.value, p, n, success))
    return rows


def product(rows: list[StepEstimate]) -> float | None:
    """The workflow's success: the product of its steps', or None when a step has no estimate."""
    total = 1.0
    for row in rows:
        if row.success is None:
            return None
        total *= row.success
    return total
