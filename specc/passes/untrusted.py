"""untrusted-flow (docs/planner.md): when the planner's model reads an `untrusted` action's result,
text from outside the team can steer it, so every action it may call that writes, destroys or
reaches the network waits for a person, unless the author waived that in writing (a warning)."""

from __future__ import annotations

from specc import ast, codes
from specc.codes import Severity
from specc.context import Context
from specc.diagnostics import Label, words
from specc.failure import DEFAULT_EFFECT
from specc.passes.approval import reasons


def check(ctx: Context) -> None:
    tools = ctx.symbols.tools
    if tools is None:
        return
    callable_ = [ctx.symbols.actions[name] for name in tools]
    sources = [action for action in callable_ if action.untrusted]
    if not sources:
        return
    named = words([f"`{action.name.value}`" for action in sources])
    labels = tuple(Label(action.untrusted_span, "declared `untrusted` here") for action in sources
                   if action.untrusted_span is not None)
    for action in callable_:
        why = _reach(action)
        if why is None or action.approval == "required" or (action.approval is None and reasons(action)):
            continue  # approved, or approval-required already reports the missing approval
        if action.approval == "none" and action.approval_span is not None:
            ctx.reporter.report(codes.UNTRUSTED_WAIVED, action.approval_span, action=action.name.value, why=why,
                                sources=named, reason=action.approval_reason or "", labels=labels,
                                severity=Severity.WARNING)
        else:
            ctx.reporter.report(codes.UNTRUSTED_UNAPPROVED, action.name.span, action=action.name.value, why=why,
                                sources=named, labels=labels)


def _reach(action: ast.Action) -> str | None:
    """What an action can do that an injected instruction must not trigger unseen, or None."""
    reasons = []
    if action.effect is None:
        reasons.append(f"counts as `effect {DEFAULT_EFFECT}` (it declares no `effect`)")
    elif action.effect.value != "read":
        reasons.append(f"has `effect {action.effect.value}`")
    if action.network:
        reasons.append(f"reaches {words([f'`{host.value}`' for host in action.network])}")
    return " and ".join(reasons) or None

