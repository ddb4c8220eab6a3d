"""The workflow orchestrator: the spec's fixed sequence of steps, as a small loop over `Run.call`.

It evaluates each step's arguments from the input and earlier results, calls the action through
the one door, applies the workflow's `require` guards, and ends the run with the `return` value
checked against the agent's `output` contract.
"""

from __future__ import annotations

import functools
from typing import Any

from .run import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    ArgumentsRejected,
    Done,
    Outcome,
    Position,
    Run,
)
from .values import EvalError, ValueRejected, evaluate, validate


def run_workflow(run: Run) -> Outcome:
    """Execute (or continue) the workflow of `run` to its end or its first pause."""
    ir = run.ir
    env: dict[str, Any] = {"input": run.input}
    at: Position | None = None
    try:
        for index, step in enumerate(ir.workflow or []):
            at = Position(index, step.name or step.action or f"line {step.line}")
            if step.kind == "call" and step.action is not None:
                arguments: dict[str, Any] | ArgumentsRejected
                try:
                    arguments = {name: evaluate(expr, env) for name, expr in step.args.items()}
                except EvalError as exc:
                    arguments = ArgumentsRejected(str(exc))
                outcome = run.call(step.action, arguments, at=at)
                if not isinstance(outcome, Done):
                    return run.stop(outcome, at)
                if step.name:
                    env[step.name] = outcome.result
            elif step.kind == "require" and step.condition is not None and step.strategy is not None:
                holds = functools.partial(evaluate, step.condition, env)
                outcome = run.require(holds, step.strategy, at=at, line=step.line)
                if not isinstance(outcome, Done):
                    return run.stop(outcome, at)
            elif step.kind == "return" and step.value is not None:
                try:
                    result = evaluate(step.value, env)
                    if ir.output_schema is not None:
                        validate(result, ir.output_schema, "output")
                except EvalError as exc:
                    return run.finish("failed", EXIT_FAILED, reason=str(exc), at=at)
                except ValueRejected as exc:
                    return run.finish("failed", EXIT_FAILED, reason=f"the returned value breaks `output`: {exc}",
                                      at=at)
                return run.finish("succeeded", EXIT_SUCCEEDED, result=result)
        return run.finish("succeeded", EXIT_SUCCEEDED)
    except KeyboardInterrupt:
        return run.finish("interrupted", EXIT_INTERRUPTED, reason="interrupted by a signal", at=at)
