"""Every failure of an action or of the planner's model request has a declared, sound handler:
unhandled-failure, unsafe-retry, non-retryable, and the fallback checks (fallback-cycle,
fallback-incompatible, fallback-riskier)."""

from __future__ import annotations

from specc import ast, codes
from specc import types as t
from specc.context import Context
from specc.diagnostics import words
from specc.failure import ACTION_KINDS, DEFAULT_EFFECT, DEFAULT_RISK, PLANNER_KINDS, RETRYABLE
from specc.handling import chain, resolve, retried
from specc.passes.workflow import assignable

#: Why each kind that is not retryable cannot be retried, shown as help.
WHY_NOT_RETRYABLE = {
    "invalid_input": "the same arguments will break the same contract again; fix the input or abort",
    "denied": "a person said no; asking the machine again does not change that",
    "uncertain": "the tool asked for a person; escalate instead",
    "budget": "the run's limits are spent; nothing is left to retry with",
    "any": "`any` includes kinds that cannot be retried; retry the retryable kinds by name",
}
EFFECT_ORDER = {"read": 0, "write": 1, "destructive": 2}
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


def effect_of(action: ast.Action) -> str:
    """An action's effect: as declared, else `DEFAULT_EFFECT` (a write)."""
    return action.effect.value if action.effect is not None else DEFAULT_EFFECT


def raised_kinds(action: ast.Action) -> list[str]:
    """The kinds an action can raise: `denied` only when it needs an approval."""
    return [k for k in ACTION_KINDS if k != "denied" or action.approval == "required"]


def check(ctx: Context) -> None:
    agent = ctx.agent
    for handler in agent.handlers:
        _non_retryable(ctx, handler)
    for action in agent.actions:
        if ctx.symbols.actions.get(action.name.value) is not action:
            continue
        for handler in action.handlers:
            _non_retryable(ctx, handler)
        _unhandled(ctx, action)
        _unsafe_retry(ctx, action)
        _fallbacks(ctx, action)
    _cycles(ctx)
    if agent.planner is not None:
        _planner(ctx, agent.planner)


def _unhandled(ctx: Context, action: ast.Action) -> None:
    missing = [k for k in raised_kinds(action) if resolve(ctx.agent, action, k) is None]
    if missing:
        kinds = words([f"`{k}`" for k in missing])
        ctx.reporter.report(codes.NO_HANDLER, action.name.span, action=action.name.value, kinds=kinds,
                            first=missing[0])


def _planner(ctx: Context, planner: ast.Planner) -> None:
    """The planner's model request: every kind it fails with is handled, and by no fallback. (Each
    of them can be retried, and the handlers pass refuses any other kind in the planner.)"""
    missing = [k for k in PLANNER_KINDS if resolve(ctx.agent, planner, k) is None]
    if missing:
        ctx.reporter.report(codes.PLANNER_NO_HANDLER, planner.kind.span, kinds=words([f"`{k}`" for k in missing]),
                            first=missing[0])
    seen: set[int] = set()
    for kind in PLANNER_KINDS:
        found = resolve(ctx.agent, planner, kind)
        for strategy in chain(found.strategy if found is not None else None):
            if strategy.kind == "fallback" and strategy.target is not None and id(strategy) not in seen:
                seen.add(id(strategy))
                ctx.reporter.report(codes.PLANNER_FALLBACK, strategy.target.span, target=strategy.target.value)


def _non_retryable(ctx: Context, handler: ast.Handler) -> None:
    if not retried(handler.strategy):
        return
    for kind in handler.kinds:
        if kind.value not in RETRYABLE and (kind.value in WHY_NOT_RETRYABLE):
            ctx.reporter.report(codes.RETRY_NOT_RETRYABLE, kind.span, kind=kind.value,
                                why=WHY_NOT_RETRYABLE[kind.value])


def _unsafe_retry(ctx: Context, action: ast.Action) -> None:
    effect = effect_of(action)
    if effect == "read" or action.idempotent:
        return
    for kind in (k for k in ACTION_KINDS if k in RETRYABLE):  # a fixed order: frozensets have none
        found = resolve(ctx.agent, action, kind)
        if found is not None and retried(found.strategy):
            span = found.handler.span if found.level == "action" else action.name.span
            message = codes.RETRY_NOT_IDEMPOTENT if action.effect is not None else codes.RETRY_NO_EFFECT
            ctx.reporter.report(message, span, action=action.name.value, effect=effect)
            return


def _fallback_targets(ctx: Context, action: ast.Action) -> list[tuple[ast.Strategy, ast.Action]]:
    seen: set[int] = set()
    out: list[tuple[ast.Strategy, ast.Action]] = []
    for kind in ACTION_KINDS:
        found = resolve(ctx.agent, action, kind)
        if found is None:
            continue
        for strategy in chain(found.strategy):
            if strategy.kind == "fallback" and strategy.target is not None and id(strategy) not in seen:
                seen.add(id(strategy))
                target = ctx.symbols.actions.get(strategy.target.value)
                if target is not None:
                    out.append((strategy, target))
    return out


def _fallbacks(ctx: Context, action: ast.Action) -> None:
    sym, rep = ctx.symbols, ctx.reporter
    name = action.name.value
    ours = sym.params.get(name, {})
    for strategy, target in _fallback_targets(ctx, action):
        assert strategy.target is not None
        span, theirs = strategy.target.span, target.name.value
        if theirs == name:
            continue  # a cycle of one, reported by _cycles
        for param, expected in sym.params.get(theirs, {}).items():
            given = ours.get(param)
            if given is None and isinstance(expected, t.Optional):
                continue
            if given is None or not assignable(ctx, given, expected, None, param):
                rep.report(codes.FALLBACK_PARAM, span, target=theirs, param=param, expected=t.describe(expected),
                           action=name)
        result, wanted = sym.returns.get(theirs), sym.returns.get(name)
        if wanted is not None and (result is None or not assignable(ctx, result, wanted, None, "result")):
            rep.report(codes.FALLBACK_RESULT, span, target=theirs, action=name,
                       found=t.describe(result) if result is not None else "nothing", expected=t.describe(wanted))
        for what, order, default, mine, other in (
            ("effect", EFFECT_ORDER, DEFAULT_EFFECT, action.effect, target.effect),
            ("risk", RISK_ORDER, DEFAULT_RISK, action.risk, target.risk),
        ):
            mine_value = mine.value if mine is not None else default
            other_value = other.value if other is not None else default
            if order.get(other_value, 0) > order.get(mine_value, 0):
                message = codes.FALLBACK_MORE_RISK if mine and other else codes.FALLBACK_MORE_RISK_UNSAID
                rep.report(message, span, target=theirs, what=what, theirs=other_value, ours=mine_value,
                           action=name, default=default)


def _cycles(ctx: Context) -> None:
    graph: dict[str, list[tuple[ast.Strategy, str]]] = {}
    for name, action in ctx.symbols.actions.items():
        graph[name] = [(s, target.name.value) for s, target in _fallback_targets(ctx, action)]
    reported: set[frozenset[str]] = set()
    for start in sorted(graph):
        path: list[str] = [start]
        _walk(ctx, graph, start, path, reported)


def _walk(ctx: Context, graph: dict[str, list[tuple[ast.Strategy, str]]], node: str, path: list[str],
          reported: set[frozenset[str]]) -> None:
    for strategy, target in graph.get(node, []):
        if target in path:
            loop = path[path.index(target):] + [target]
            key = frozenset(loop)
            if key not in reported and strategy.target is not None:
                reported.add(key)
                ctx.reporter.report(codes.CYCLE, strategy.target.span, cycle=" -> ".join(f"`{n}`" for n in loop))
            continue
        if len(path) < 64:
            path.append(target)
            _walk(ctx, graph, target, path, reported)
            path.pop()


