"""Declares every name and resolves written types: duplicate-definition and undefined-name for
types, fields, parameters, mounts and env vars. Later passes read `ctx.symbols`."""

from __future__ import annotations

from specc import ast, codes
from specc import types as t
from specc.context import Context, mount_key
from specc.diagnostics import Label, did_you_mean

PRIMS = {"string", "int", "number", "bool", "path", "url"}
#: The planner's own tool, which ends a run with its result: no action may take its name.
RESERVED_ACTION = "finish"


def check(ctx: Context) -> None:
    agent, sym, rep = ctx.agent, ctx.symbols, ctx.reporter

    for decl in agent.types:
        first = sym.types.get(decl.name.value)
        if first is not None:
            rep.report(codes.DUPLICATE_TYPE, decl.name.span, name=decl.name.value,
                       labels=(Label(first.name.span, "first declared here"),))
            continue
        sym.types[decl.name.value] = decl

    if agent.scope is not None:
        for mount in agent.scope.mounts:
            key = mount_key(mount.path.value)
            if key in sym.mounts:
                rep.report(codes.DUPLICATE_MOUNT, mount.path.span, name=mount.path.value,
                           labels=(Label(sym.mounts[key].path.span, "first declared here"),))
                continue
            sym.mounts[key] = mount
        for env in agent.scope.env:
            if env.name.value in sym.envs:
                rep.report(codes.DUPLICATE_ENV, env.name.span, name=env.name.value,
                           labels=(Label(sym.envs[env.name.value].name.span, "first declared here"),))
                continue
            sym.envs[env.name.value] = env
        for host in agent.scope.network:
            sym.hosts.setdefault(host.value, host)

    for decl in sym.types.values():
        sym.records[decl.name.value] = _fields(ctx, decl.fields)

    if agent.input is not None:
        sym.input = _fields(ctx, agent.input)
    if agent.output is not None:
        sym.output = resolve(ctx, agent.output)

    for action in agent.actions:
        name = action.name.value
        if name in sym.actions:
            rep.report(codes.DUPLICATE_ACTION, action.name.span, name=name,
                       labels=(Label(sym.actions[name].name.span, "first declared here"),))
            continue
        sym.actions[name] = action
        if name == RESERVED_ACTION:
            rep.report(codes.RESERVED_ACTION, action.name.span)
        params: dict[str, t.Type] = {}
        spans: dict[str, ast.Span] = {}
        for param in action.params:
            if param.name.value in params:
                rep.report(codes.DUPLICATE_PARAM, param.name.span, name=param.name.value,
                           labels=(Label(spans[param.name.value], "first declared here"),))
                continue
            params[param.name.value] = resolve(ctx, param.type)
            spans[param.name.value] = param.name.span
        sym.params[name] = params
        sym.returns[name] = resolve(ctx, action.returns) if action.returns is not None else None
        _check_env(ctx, action)


def _fields(ctx: Context, fields: list[ast.Field]) -> dict[str, t.Type]:
    resolved: dict[str, t.Type] = {}
    spans: dict[str, ast.Span] = {}
    for f in fields:
        if f.name.value in resolved:
            ctx.reporter.report(codes.DUPLICATE_FIELD, f.name.span, name=f.name.value,
                                labels=(Label(spans[f.name.value], "first declared here"),))
            continue
        resolved[f.name.value] = resolve(ctx, f.type)
        spans[f.name.value] = f.name.span
    return resolved


def resolve(ctx: Context, written: ast.TypeExpr, depth: int = 0) -> t.Type:
    """The semantic type of a written type; reports undefined record types."""
    result: t.Type
    if written.kind == "named":
        if written.name not in ctx.symbols.types:
            candidates = set(ctx.symbols.types) | {p for p in PRIMS}
            ctx.reporter.report(codes.UNDEFINED_TYPE, written.span, name=written.name,
                                help=did_you_mean(written.name, candidates))
            result = t.UNKNOWN
        else:
            result = t.Ref(written.name)
    elif written.kind == "list":
        assert written.item is not None
        count = written.count
        result = t.ListOf(resolve(ctx, written.item, depth + 1),
                          count.low if count else None, count.high if count else None)
    elif written.kind == "union":
        result = t.Union(tuple(lit.value for lit in written.literals))
        seen: set[str] = set()
        for lit in written.literals:
            if lit.value in seen:
                ctx.reporter.report(codes.DUPLICATE_LITERAL, lit.span, name=f'"{lit.value}"')
            seen.add(lit.value)
    else:
        fields: dict[str, object] = {}
        for c in written.constraints:
            if c.kind == "range" and c.range is not None:
                fields["low"], fields["high"] = c.range.low, c.range.high
            elif c.kind == "regex":
                fields["pattern"] = c.text
            elif c.kind == "under":
                fields["under"] = mount_key(c.text)
            else:
                fields["host"] = c.text
        result = t.Prim(written.name, **fields)  # type: ignore[arg-type]
    return t.Optional(result) if written.optional else result


def _check_env(ctx: Context, action: ast.Action) -> None:
    seen: set[str] = set()
    for env in action.env:
        if env.value in seen:
            ctx.reporter.report(codes.DUPLICATE_ENV, env.span, name=env.value)
        seen.add(env.value)
