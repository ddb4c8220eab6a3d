"""unused-definition: a type or action that nothing uses is dead weight or a typo's victim.
Actions count as used when the planner may call them, or `specc serve` (no workflow, no planner)."""

from __future__ import annotations

from collections.abc import Iterator

from specc import ast, codes
from specc import types as t
from specc.context import Context
from specc.handling import chain


def check(ctx: Context) -> None:
    agent, sym = ctx.agent, ctx.symbols
    called: set[str] = set()
    if sym.tools is not None:
        called = set(sym.tools)  # what the planner may call
    elif agent.workflow is None:
        called = set(sym.actions)  # a spec that only declares tools, for `specc serve`
    else:
        for statement in ast.walk(agent.workflow.statements):
            if statement.call is not None:
                called.add(statement.call.action.value)
    for action in agent.actions:
        for strategy in _strategies(action.handlers, action.requires):
            if strategy.kind == "fallback" and strategy.target is not None:
                called.add(strategy.target.value)
    for strategy in _strategies(agent.handlers + (agent.planner.handlers if agent.planner else []), []):
        if strategy.kind == "fallback" and strategy.target is not None:
            called.add(strategy.target.value)

    used_types: set[str] = set()
    roots: list[t.Type] = []
    if sym.input:
        roots.extend(sym.input.values())
    if sym.output is not None:
        roots.append(sym.output)
    for name in called:
        roots.extend(sym.params.get(name, {}).values())
        result = sym.returns.get(name)
        if result is not None:
            roots.append(result)
    while roots:
        ty = roots.pop()
        if isinstance(ty, t.Optional):
            roots.append(ty.inner)
        elif isinstance(ty, t.ListOf):
            roots.append(ty.item)
        elif isinstance(ty, t.Ref) and ty.name not in used_types:
            used_types.add(ty.name)
            roots.extend(sym.records.get(ty.name, {}).values())

    for action in agent.actions:
        if action.name.value not in called and sym.actions.get(action.name.value) is action:
            ctx.reporter.report(codes.UNUSED_ACTION, action.name.span, name=action.name.value)
    for decl in agent.types:
        if decl.name.value not in used_types and sym.types.get(decl.name.value) is decl:
            ctx.reporter.report(codes.UNUSED_TYPE, decl.name.span, name=decl.name.value)


def _strategies(handlers: list[ast.Handler], requires: list[ast.Require]) -> Iterator[ast.Strategy]:
    for strategy in [h.strategy for h in handlers] + [r.strategy for r in requires]:
        yield from chain(strategy)
