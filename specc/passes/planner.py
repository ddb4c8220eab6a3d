"""The planner as written (docs/planner.md): its kind is `llm`, every name in `tools` is a declared
action (undefined-name), its env vars are in the scope (scope-violation), and `limits.steps` allows
at least `max_turns` (limit-too-small). Resolves the actions it may call into `symbols.tools`."""

from __future__ import annotations

from specc import ast, codes
from specc.context import Context
from specc.diagnostics import Label, did_you_mean
from specc.passes.limits import BOUNDS
from specc.passes.names import RESERVED_ACTION

#: The one kind of planner.
LLM = "llm"
#: Why `finish` is not listed in `tools`, shown as help.
FINISH_IN_TOOLS = "the model is always offered `finish`; leave it out of `tools`"


def check(ctx: Context) -> None:
    planner = ctx.agent.planner
    if planner is None:
        return
    if planner.kind.value != LLM:
        ctx.reporter.report(codes.UNKNOWN_PLANNER, planner.kind.span, name=planner.kind.value)
    ctx.symbols.tools = _tools(ctx, planner)
    for item, env, secret in (("endpoint env", planner.endpoint, ""), ("api_key env", planner.api_key, " secret")):
        if env is not None and env.value not in ctx.symbols.envs:
            ctx.reporter.report(codes.PLANNER_ENV_NOT_IN_SCOPE, env.span, item=item, name=env.value, secret=secret,
                                help=did_you_mean(env.value, set(ctx.symbols.envs)))
    limits = ctx.agent.limits
    turns = planner.max_turns
    if limits is None or limits.steps is None or limits.steps_span is None or turns is None:
        return
    if 0 < limits.steps < turns <= BOUNDS["max_turns"][1] and planner.max_turns_span is not None:
        ctx.reporter.report(codes.TURNS_ABOVE_STEPS, limits.steps_span, steps=limits.steps, turns=turns,
                            labels=(Label(planner.max_turns_span, "`max_turns` given here"),))


def _tools(ctx: Context, planner: ast.Planner) -> list[str]:
    """The declared actions the planner may call: its `tools`, else every action."""
    actions = ctx.symbols.actions
    if planner.tools is None:
        return sorted(actions)
    listed: dict[str, ast.Span] = {}
    for tool in planner.tools:
        if tool.value in listed:
            ctx.reporter.report(codes.DUPLICATE_TOOL, tool.span, name=tool.value,
                                labels=(Label(listed[tool.value], "first listed here"),))
            continue
        listed[tool.value] = tool.span
        if tool.value not in actions:
            hint = FINISH_IN_TOOLS if tool.value == RESERVED_ACTION else did_you_mean(tool.value, set(actions))
            ctx.reporter.report(codes.UNDEFINED_ACTION, tool.span, name=tool.value, help=hint)
    return [name for name in listed if name in actions]
