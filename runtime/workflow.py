"""The workflow orchestrator: the spec's steps, loops and branches, as a small walk over `Run.call`.

It evaluates each step's arguments from the input and earlier results, calls the action through
the one door, applies the workflow's `require` guards, runs a loop's body once per item and a
branch's chosen side, and ends the run with the `return` value checked against the agent's
`output` contract.

Every statement the walk reaches gets the next position number, so a straight workflow's positions
are its statements' indexes and a loop's items get their own. The walk is a function of the input
and of the results recorded so far, so a resumed run reaches the same positions in the same order:
finished calls give back their results, and the run re-enters a loop at the item and the step it
stopped at; an approval is bound to its item's position and arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from specc.ir import StepIR

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


@dataclass
class _Ended:
    """The run ended (or paused) inside a block; the walk unwinds with it."""

    outcome: Outcome


class _Walk:
    """One pass over the workflow: the next position number, and how to name a step for a person."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.next = 0
        self.at: Position | None = None

    def position(self, label: str, items: tuple[str, ...]) -> Position:
        at = Position(self.next, label + (f" ({', '.join(items)})" if items else ""))
        self.next += 1
        self.at = at
        return at

    def block(self, steps: list[StepIR], env: dict[str, Any], items: tuple[str, ...]) -> Any:
        """Run `steps` with the values in `env` (steps bound here stay here); the block's last call or
        loop result, or `_Ended` when the run ended in it."""
        run = self.run
        last: Any = None
        env = dict(env)
        for step in steps:
            at = self.position(step.name or step.action or (f"for {step.item}" if step.kind == "for" else
                                                            f"{step.kind} at line {step.line}"), items)
            last = None
            if step.kind == "call" and step.action is not None:
                arguments: dict[str, Any] | ArgumentsRejected
                try:
                    arguments = {name: evaluate(expr, env) for name, expr in step.args.items()}
                except EvalError as exc:
                    arguments = ArgumentsRejected(str(exc))
                outcome = run.call(step.action, arguments, at=at)
                if not isinstance(outcome, Done):
                    return _Ended(run.stop(outcome, at))
                last = outcome.result
            elif step.kind == "require" and step.condition is not None and step.strategy is not None:
                holds = functools.partial(evaluate, step.condition, env)
                outcome = run.require(holds, step.strategy, at=at, line=step.line)
                if not isinstance(outcome, Done):
                    return _Ended(run.stop(outcome, at))
            elif step.kind == "for" and step.value is not None and step.item is not None:
                last = self.loop(step, env, items, at)
                if isinstance(last, _Ended):
                    return last
            elif step.kind == "if" and step.condition is not None:
                try:
                    chosen = step.body if evaluate(step.condition, env) else step.orelse
                except EvalError as exc:
                    return _Ended(run.finish("failed", EXIT_FAILED, reason=str(exc), at=at))
                if chosen is not None:
                    ended = self.block(chosen, env, items)
                    if isinstance(ended, _Ended):
                        return ended
            elif step.kind == "return" and step.value is not None:
                return _Ended(self.finish(step.value, env, at))
            if step.name is not None:
                env[step.name] = last
        return last

    def loop(self, step: StepIR, env: dict[str, Any], items: tuple[str, ...], at: Position) -> Any:
        """Run a loop's body once per item; the list of the body's last results, or `_Ended`."""
        assert step.value is not None and step.item is not None
        try:
            listed = evaluate(step.value, env)
        except EvalError as exc:
            return _Ended(self.run.finish("failed", EXIT_FAILED, reason=str(exc), at=at))
        if listed is None:
            listed = []  # an optional list that is absent: no turns
        if not isinstance(listed, list):
            return _Ended(self.run.finish("failed", EXIT_FAILED, at=at,
                                          reason=f"the loop at line {step.line} goes over a value that is not a list"))
        if step.max_items is not None and len(listed) > step.max_items:
            return _Ended(self.run.finish("failed", EXIT_FAILED, at=at, reason=(
                f"the loop at line {step.line} got {len(listed)} items, more than the {step.max_items} its type "
                "allows")))
        results = []
        for number, item in enumerate(listed, start=1):
            result = self.block(step.body or [], {**env, step.item: item}, (*items, f"{step.item} {number}"))
            if isinstance(result, _Ended):
                return result
            results.append(result)
        return results

    def finish(self, value: dict[str, Any], env: dict[str, Any], at: Position) -> Outcome:
        run = self.run
        try:
            result = evaluate(value, env)
            if run.ir.output_schema is not None:
                validate(result, run.ir.output_schema, "output")
        except EvalError as exc:
            return run.finish("failed", EXIT_FAILED, reason=str(exc), at=at)
        except ValueRejected as exc:
            return run.finish("failed", EXIT_FAILED, reason=f"the returned value breaks `output`: {exc}", at=at)
        return run.finish("succeeded", EXIT_SUCCEEDED, result=result)


def run_workflow(run: Run) -> Outcome:
    """Execute (or continue) the workflow of `run` to its end or its first pause."""
    walk = _Walk(run)
    try:
        ended = walk.block(run.ir.workflow or [], {"input": run.input}, ())
        if isinstance(ended, _Ended):
            return ended.outcome
        return run.finish("succeeded", EXIT_SUCCEEDED)
    except KeyboardInterrupt:
        return run.finish("interrupted", EXIT_INTERRUPTED, reason="interrupted by a signal", at=walk.at)
