"""approval-required: an action that is destructive or high-risk waits for a person, unless the
author waived it in writing (`approval none "reason"`, a warning that stays visible). The
conditional form `approval required when EXPR` satisfies it when EXPR reads one of the action's
parameters, so that the condition itself says which calls a person sees; a condition that reads none
is the same for every call, a waiver in disguise, and is refused."""

from __future__ import annotations

from specc import ast, codes
from specc.codes import Severity
from specc.context import Context


def reasons(action: ast.Action) -> list[str]:
    """Why an action needs an approval whoever calls it: its effect, its risk, or nothing."""
    found = []
    if action.effect is not None and action.effect.value == "destructive":
        found.append("`effect destructive`")
    if action.risk is not None and action.risk.value == "high":
        found.append("`risk high`")
    return found


def check(ctx: Context) -> None:
    for action in ctx.agent.actions:
        why = " and ".join(reasons(action))
        if not why:
            continue
        if action.approval is None:
            ctx.reporter.report(codes.NEEDS_APPROVAL, action.name.span, action=action.name.value, why=why)
        elif action.approval_when is not None and not _reads_a_parameter(action.approval_when):
            ctx.reporter.report(codes.CONSTANT_APPROVAL, action.approval_when.span, action=action.name.value,
                                why=why)
        elif action.approval == "none" and action.approval_span is not None:
            ctx.reporter.report(codes.APPROVAL_WAIVED, action.approval_span, action=action.name.value, why=why,
                                reason=action.approval_reason or "", severity=Severity.WARNING)


def _reads_a_parameter(expr: ast.Expr) -> bool:
    """Whether an expression over an action's parameters names any of them (the names themselves
    are resolved by the workflow pass)."""
    return expr.kind == "ref" or any(_reads_a_parameter(item) for item in expr.items)
