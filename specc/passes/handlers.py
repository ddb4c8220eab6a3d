"""Failure handlers and guards as written: every kind named exists (and, in the planner, is one its
model request can fail with), no kind is handled twice in one place, every fallback names a
declared action, and a `require` neither retries nor falls back (guard-strategy)."""

from __future__ import annotations

from specc import ast, codes
from specc.context import Context
from specc.diagnostics import Label, did_you_mean
from specc.failure import ANY, KIND_NAMES, PLANNER_KINDS
from specc.handling import chain


def check(ctx: Context) -> None:
    for action in ctx.agent.actions:
        _handlers(ctx, action.handlers)
        for require in action.requires:
            _guard(ctx, require)
    _handlers(ctx, ctx.agent.handlers)
    if ctx.agent.planner is not None:
        _handlers(ctx, ctx.agent.planner.handlers, planner=True)
    if ctx.agent.workflow is not None:
        for statement in ast.walk(ctx.agent.workflow.statements):
            if statement.require is not None:
                _guard(ctx, statement.require)


def _handlers(ctx: Context, handlers: list[ast.Handler], planner: bool = False) -> None:
    """The handlers of one action, the agent or (`planner`) the planner."""
    kinds = PLANNER_KINDS if planner else KIND_NAMES
    seen: dict[str, ast.Span] = {}
    for handler in handlers:
        for kind in handler.kinds:
            if kind.value != ANY and kind.value not in KIND_NAMES:
                ctx.reporter.report(codes.UNDEFINED_KIND, kind.span, name=kind.value,
                                    help=did_you_mean(kind.value, set(kinds) | {ANY}))
                continue
            if kind.value != ANY and kind.value not in kinds:
                ctx.reporter.report(codes.PLANNER_KIND, kind.span, name=kind.value)
                continue
            if kind.value in seen:
                ctx.reporter.report(codes.DUPLICATE_HANDLER, kind.span, name=kind.value,
                                    labels=(Label(seen[kind.value], "first handled here"),))
                continue
            seen[kind.value] = kind.span
        _strategy(ctx, handler.strategy)


def _guard(ctx: Context, require: ast.Require) -> None:
    _strategy(ctx, require.strategy)
    # The runtime checks a guard once, on values that a retry or another action would not change.
    refused = next((s for s in chain(require.strategy) if s.kind in ("retry", "fallback")), None)
    if refused is not None:
        ctx.reporter.report(codes.GUARD_CANNOT, _head(refused), kind=refused.kind)


def _head(strategy: ast.Strategy) -> ast.Span:
    """`retry N` or `fallback ACTION` alone, without the backoff and the `then` after it."""
    whole, last = strategy.span, strategy.count_span or (strategy.target.span if strategy.target else None)
    if last is None:
        return whole
    return ast.span(whole.line, whole.column, last.end_line, last.end_column, whole.start, last.end)


def _strategy(ctx: Context, strategy: ast.Strategy | None) -> None:
    for step in chain(strategy):
        if step.kind == "fallback" and step.target is not None:
            name = step.target.value
            if name not in ctx.symbols.actions:
                ctx.reporter.report(codes.UNDEFINED_FALLBACK, step.target.span, name=name,
                                    help=did_you_mean(name, set(ctx.symbols.actions)))
