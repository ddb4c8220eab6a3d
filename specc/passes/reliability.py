"""limit-too-small, reliability-below-target and reliability-unknown: the workflow's steps and its
compounded success (the model of `specc.reliability`) against `limits.steps` and the target."""

from __future__ import annotations

from typing import Protocol

from specc import ast, codes
from specc.context import Context, Symbols
from specc.reliability import StepEstimate, estimates, longest_path, product


class Checked(Protocol):
    """What the reliability table reads of a compilation."""

    @property
    def agent(self) -> ast.Agent | None: ...

    @property
    def symbols(self) -> Symbols | None: ...


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


def computed(value: float, other: float | None = None) -> str:
    """A probability the checker worked out from the estimates: three significant figures, as the
    estimates justify, rounded down so that it never claims more than was computed (0.99999887 is
    0.999, never 1.00); more digits only where fewer would put it on the wrong side of `other`."""
    if not 0 < value < 1:
        return fmt(value)
    from decimal import ROUND_FLOOR, Decimal  # only when a message shows a probability

    exact = Decimal(f"{value:.12g}")  # the float's noise (0.8549999999999999 for 0.9 x 0.95) dropped
    places = max(2 - exact.adjusted(), 2)
    shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)
    if other is not None and value >= other:
        bound = Decimal(f"{other:.12g}")
        while shown < bound and places < MAX_DECIMALS:
            places += 1
            shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)
    return str(shown)


#: The sentence under every reliability table: what the model assumes.
INDEPENDENCE = "retries count as independent attempts: a failure that persists (a service down) makes them worth less"


def render_table(rows: list[StepEstimate], target: float | None) -> str:
    header = ("step", "action", "estimate", "retries", "success")
    body = [(_cell(r), r.action, fmt(r.estimate) if r.estimate is not None else "?", str(r.retries),
             _success(r)) if r.kind == "call" else (_cell(r), r.action, "", "", _compound(r)) for r in rows]
    total = product(rows)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    verdict = "unknown" if total is None else computed(total, target)
    goal = f" (target {fmt(target)})" if target is not None else ""
    lines.append(f"workflow success: {verdict}{goal}")
    if any(r.retries for r in rows):
        lines.append(INDEPENDENCE)
    return "\n".join(lines)


def _cell(row: StepEstimate) -> str:
    """A row's step, indented by the loops and branches around it."""
    return "  " * row.depth + row.step


def _compound(row: StepEstimate) -> str:
    """A loop's or branch's success (nothing on the line that opens an `else`)."""
    if row.kind == "else":
        return ""
    return "?" if row.success is None else computed(row.success)


def summary(rows: list[StepEstimate]) -> str:
    total = product(rows)
    if total is None:
        return ""
    if any(r.kind != "call" for r in rows):
        return " x ".join(_success(r) if r.kind == "call" else _compound(r) for r in rows if not r.depth) \
            + f" gives {computed(total)} on the weakest path, every loop at its maximum"
    estimates_ = {r.estimate for r in rows}
    if len(estimates_) == 1 and all(r.retries == 0 for r in rows):
        (p,) = estimates_
        return f"{fmt(p or 0)} per step over {len(rows)} steps gives {computed(total)}"
    return " x ".join(_success(r) for r in rows) + f" gives {computed(total)}"


def _success(row: StepEstimate) -> str:
    """A step's success: its estimate as written when nothing is retried, else computed."""
    if row.success is None or row.estimate is None:
        return "?"
    return fmt(row.estimate) if row.retries == 0 else computed(row.success)


def table(compilation: Checked) -> str:
    """The table `specc check --explain-reliability` prints."""
    assert compilation.agent is not None and compilation.symbols is not None
    rows = estimates(compilation.agent, compilation.symbols.actions, compilation.symbols.loop_bounds)
    if not rows:
        return "no workflow steps to estimate"
    return render_table(rows, compilation.agent.reliability)


def check(ctx: Context) -> None:
    agent, rep = ctx.agent, ctx.reporter
    if agent.workflow is None:
        return
    calls = [s for s in ast.walk(agent.workflow.statements) if s.call is not None]
    bounds = ctx.symbols.loop_bounds
    rows = estimates(agent, ctx.symbols.actions, bounds)
    limits = agent.limits
    if limits is not None and limits.steps is not None and limits.steps_span is not None and calls:
        count = longest_path(agent, ctx.symbols.actions, bounds)
        if 0 < limits.steps < count:
            nested = any(s.kind in ("for", "if") for s in agent.workflow.statements)
            rep.report(codes.STEPS_TOO_FEW_LONGEST if nested else codes.STEPS_TOO_FEW, limits.steps_span,
                       steps=limits.steps, count=count,
                       with_retries=longest_path(agent, ctx.symbols.actions, bounds, with_retries=True))
    target = agent.reliability
    if target is None or agent.reliability_span is None or not 0 < target <= 1:
        return
    unknown = [r for r in rows if r.kind == "call" and r.estimate is None]
    for row in unknown:
        statement = next(s for s in calls if (s.name.value if s.name else s.call.action.value) == row.step)  # type: ignore[union-attr]
        rep.report(codes.NO_ESTIMATE, statement.span, step=row.step, action=row.action, target=fmt(target))
    total = product(rows)
    if total is not None and total < target:
        rep.report(codes.BELOW_TARGET, agent.reliability_span, estimate=computed(total, target), target=fmt(target),
                   explanation=summary(rows) + "; retry the weakest steps or lower the target\n"
                   + render_table(rows, target))
