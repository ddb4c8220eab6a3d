"""limit-too-small, reliability-below-target and reliability-unknown.

The model: a step whose action has estimate p and is retried n times for the kinds it retries
succeeds with 1 - (1 - p)^(n + 1), failures assumed independent; n counts every retry of a
`retry ... then retry ...` chain and, when different kinds retry differently, the fewest. The
workflow succeeds with the product over its steps. `require` guards are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from specc import ast, codes
from specc.context import Context
from specc.failure import RETRYABLE
from specc.handling import resolve, retried, retries

if TYPE_CHECKING:
    from specc.compiler import Compilation


@dataclass(frozen=True)
class StepEstimate:
    """One row of the reliability table."""

    step: str
    action: str
    estimate: float | None
    retries: int
    success: float | None


def step_retries(agent: ast.Agent, action: ast.Action) -> int:
    """The retries a step gets, by the model above."""
    counts = []
    for kind in sorted(RETRYABLE):
        found = resolve(agent, action, kind)
        if found is not None and retried(found.strategy):
            counts.append(retries(found.strategy))
    return min(counts) if counts else 0


def estimates(agent: ast.Agent, actions: dict[str, ast.Action]) -> list[StepEstimate]:
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
    total = 1.0
    for row in rows:
        if row.success is None:
            return None
        total *= row.success
    return total


#: The most decimals a probability is printed with.
MAX_DECIMALS = 12


def fmt(value: float, other: float | None = None) -> str:
    """A probability with its leading nines (or zeros) and then three significant digits (`0.857`,
    `0.999`, `0.99987`, `0.000123`), at least two decimals (`0.90`), and more when fewer would hide
    the difference from `other`."""
    digits = 2
    if 0 < value < 1:
        fraction = f"{value:.{MAX_DECIMALS + 3}f}"[2:]
        lead = fraction[0] if fraction[0] in "09" else ""
        digits = min(len(fraction) - len(fraction.lstrip(lead)) + 3, MAX_DECIMALS)
    if other is not None and value != other:
        while digits < MAX_DECIMALS + 3 and f"{value:.{digits}f}" == f"{other:.{digits}f}":
            digits += 1
    text = f"{value:.{digits}f}"
    if value < 1 and text.startswith("1"):  # twelve nines and more: never round a failure away
        text = "0." + "9" * digits
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def render_table(rows: list[StepEstimate], target: float | None) -> str:
    header = ("step", "action", "estimate", "retries", "success")
    body = [(r.step, r.action, fmt(r.estimate) if r.estimate is not None else "?", str(r.retries),
             fmt(r.success) if r.success is not None else "?") for r in rows]
    total = product(rows)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    verdict = "unknown" if total is None else fmt(total, target)
    goal = f" (target {fmt(target)})" if target is not None else ""
    lines.append(f"workflow success: {verdict}{goal}")
    return "\n".join(lines)


def summary(rows: list[StepEstimate]) -> str:
    total = product(rows)
    if total is None:
        return ""
    estimates_ = {r.estimate for r in rows}
    if len(estimates_) == 1 and all(r.retries == 0 for r in rows):
        (p,) = estimates_
        return f"{fmt(p or 0)} per step over {len(rows)} steps gives {fmt(total)}"
    return " x ".join(fmt(r.success or 0) for r in rows) + f" gives {fmt(total)}"


def table(compilation: Compilation) -> str:
    """The table `specc check --explain-reliability` prints."""
    assert compilation.agent is not None and compilation.symbols is not None
    rows = estimates(compilation.agent, compilation.symbols.actions)
    if not rows:
        return "no workflow steps to estimate"
    return render_table(rows, compilation.agent.reliability)


def check(ctx: Context) -> None:
    agent, rep = ctx.agent, ctx.reporter
    if agent.workflow is None:
        return
    calls = [s for s in agent.workflow.statements if s.call is not None]
    rows = estimates(agent, ctx.symbols.actions)
    limits = agent.limits
    if limits is not None and limits.steps is not None and limits.steps_span is not None and calls:
        if 0 < limits.steps < len(calls):
            rep.report(codes.STEPS_TOO_FEW, limits.steps_span, steps=limits.steps, count=len(calls),
                       with_retries=len(calls) + sum(r.retries for r in rows))
    target = agent.reliability
    if target is None or agent.reliability_span is None or not 0 < target <= 1:
        return
    unknown = [r for r in rows if r.estimate is None]
    for row in unknown:
        statement = next(s for s in calls if (s.name.value if s.name else s.call.action.value) == row.step)  # type: ignore[union-attr]
        rep.report(codes.NO_ESTIMATE, statement.span, step=row.step, action=row.action, target=fmt(target))
    total = product(rows)
    if total is not None and total < target:
        rep.report(codes.BELOW_TARGET, agent.reliability_span, estimate=fmt(total, target), target=fmt(target),
                   explanation=summary(rows) + "; retry the weakest steps or lower the target\n"
                   + render_table(rows, target))
