"""Type-checks the workflow and every `require`: calls (undefined-name, missing-argument,
unknown-argument, type-mismatch), references and field access, comparisons, conditions, the
returned value against `output`, and idempotency keys. Types that could not be resolved are
`Unknown` and never reported twice."""

from __future__ import annotations

from specc import ast, codes
from specc import types as t
from specc.context import Context
from specc.diagnostics import did_you_mean
from specc.record import Mutable

#: The types an idempotency key may have: text or a whole number, never a float, whose printed form
#: (`1e+21`, `0.30000000000000004`) is a poor identity for an effect.
KEY_PRIMS = frozenset({"string", "path", "url", "int"})


class _Scope(Mutable):
    """The values an expression may name: `input`, the steps above it, or an action's params."""

    values: dict[str, t.Type]
    later: set[str]  # steps declared below (a better message)
    inner: set[str]  # steps bound inside a block that has closed
    action: str | None  # the action whose parameters these are; None in the workflow

    def __init__(self, values: dict[str, t.Type], later: set[str] | None = None, inner: set[str] | None = None,
                 action: str | None = None) -> None:
        self.values = values
        self.later = set() if later is None else later
        self.inner = set() if inner is None else inner
        self.action = action


def check(ctx: Context) -> None:
    agent, sym = ctx.agent, ctx.symbols
    for action in agent.actions:
        if sym.actions.get(action.name.value) is not action:
            continue  # a duplicate, already reported
        scope = _Scope(values=dict(sym.params.get(action.name.value, {})), action=action.name.value)
        for require in action.requires:
            _condition(ctx, require.condition, scope)
        if action.approval_when is not None:
            _condition(ctx, action.approval_when, scope, codes.APPROVAL_WHEN_TYPE)
        if action.idempotency_key:
            _idempotency_key(ctx, action, scope)

    if agent.workflow is None:
        return
    statements = agent.workflow.statements
    later = {s.name.value for s in ast.walk(statements) if s.name is not None} - {"input"}
    values: dict[str, t.Type] = {}
    if sym.input is not None:
        values["input"] = t.RecordShape(tuple(sym.input.items()))
    scope = _Scope(values=values, later=later)
    _block(ctx, statements, scope, top=True)
    returns = always_returns(statements) or any(s.kind == "return" for s in statements)  # else: not last
    if not returns and agent.output is not None and sym.output is not None:
        ctx.reporter.report(codes.MISSING_RETURN, agent.workflow.span,
                            expected=t.describe(sym.output))


def always_returns(statements: list[ast.Statement]) -> bool:
    """Whether a block ends in `return` on every path through it."""
    if not statements:
        return False
    last = statements[-1]
    if last.kind == "return":
        return True
    return last.kind == "if" and last.orelse is not None and always_returns(last.body) \
        and always_returns(last.orelse)


def loop_bound(found: t.Type) -> int | None:
    """The most turns a `for` over a value of this type can take; None when nothing bounds it."""
    found = t.strip_optional(found)
    if isinstance(found, t.ListOf) and found.high is not None:
        return int(found.high)
    return None


def _block(ctx: Context, statements: list[ast.Statement], scope: _Scope, *, top: bool) -> t.Type | None:
    """Check the statements of one block in `scope`; the type of the block's last call, the value a
    loop over it collects (None when it ends otherwise)."""
    sym, rep = ctx.symbols, ctx.reporter
    last: t.Type | None = None
    for index, statement in enumerate(statements):
        last = None
        if statement.kind == "call" and statement.call is not None:
            result = _call(ctx, statement.call, scope)
            last = result
            if statement.name is not None and _bind(ctx, statement.name, scope):
                name = statement.name.value
                sym.steps[name] = statement.call.action.value
                if result is None:
                    scope.values[name] = t.UNKNOWN
                    rep.report(codes.NO_RESULT, statement.name.span, name=name, action=statement.call.action.value)
                else:
                    scope.values[name] = result
        elif statement.kind == "require" and statement.require is not None:
            _condition(ctx, statement.require.condition, scope)
        elif statement.kind == "for" and statement.value is not None and statement.var is not None:
            last = _loop(ctx, statement, statement.value, statement.var, scope)
        elif statement.kind == "if" and statement.value is not None:
            _condition(ctx, statement.value, scope, codes.IF_TYPE)
            _nested(ctx, statement.body, scope)
            if statement.orelse is not None:
                _nested(ctx, statement.orelse, scope)
        elif statement.value is not None:
            if index != len(statements) - 1:
                rep.report(codes.RETURN_NOT_LAST if top else codes.RETURN_NOT_LAST_IN_BLOCK, statement.span)
            found = infer(ctx, statement.value, scope)
            if sym.output is None:
                if ctx.agent.output is None:
                    rep.report(codes.VOID_RESULT, statement.value.span)
            elif not assignable(ctx, found, sym.output, statement.value, "the returned record"):
                rep.report(codes.RETURN_TYPE, statement.value.span,
                           found=t.describe(found), expected=t.describe(sym.output))
    return last


def _loop(ctx: Context, statement: ast.Statement, over: ast.Expr, var: ast.Name, scope: _Scope) -> t.Type:
    """Check `[name =] for var in over { body }` and bind its name; the loop's own type."""
    rep = ctx.reporter
    found = infer(ctx, over, scope)
    item: t.Type = t.UNKNOWN
    bound: int | None = None
    listed = t.strip_optional(found)
    if isinstance(listed, t.ListOf):
        item, bound = listed.item, loop_bound(listed)
        if bound is not None:
            ctx.symbols.loop_bounds[statement.span.start] = bound
        else:
            rep.report(codes.LOOP_UNBOUNDED, over.span, found=t.describe(found),
                       example=f"list<{t.describe(item).strip('`')}>(..50)")
    elif not t.is_unknown(found):
        rep.report(codes.LOOP_TYPE, over.span, found=t.describe(found))
    if var.value in scope.values or var.value in scope.inner or var.value == "input":
        rep.report(codes.LOOP_VAR_TAKEN, var.span, name=var.value)
    given = {var.value: item}  # even a taken name: the body is checked as the author meant it
    result = _nested(ctx, statement.body, scope, given)
    value = t.ListOf(result if result is not None else t.UNKNOWN, high=bound)
    if statement.name is not None and _bind(ctx, statement.name, scope):
        if result is None:
            rep.report(codes.LOOP_NO_VALUE, statement.name.span, name=statement.name.value)
            scope.values[statement.name.value] = t.UNKNOWN
        else:
            scope.values[statement.name.value] = value
    return value


def _nested(ctx: Context, statements: list[ast.Statement], scope: _Scope,
            given: dict[str, t.Type] | None = None) -> t.Type | None:
    """Check a block inside `scope` (with `given`, a loop's item, bound in it): it sees what is
    bound above it, and the steps it binds stay inside it."""
    inner = _Scope(values={**scope.values, **(given or {})}, later=scope.later, inner=scope.inner)
    result = _block(ctx, statements, inner, top=False)
    scope.inner.update(inner.values.keys() - scope.values.keys() - (given or {}).keys())
    return result


def _bind(ctx: Context, name: ast.Name, scope: _Scope) -> bool:
    """Whether `name` may name a step here (else it is reported)."""
    scope.later.discard(name.value)
    if name.value == "input":
        ctx.reporter.report(codes.RESERVED_STEP, name.span)
        return False
    if name.value in scope.values or name.value in scope.inner:
        ctx.reporter.report(codes.DUPLICATE_STEP, name.span, name=name.value)
        return False
    return True


def _call(ctx: Context, call: ast.Call, scope: _Scope) -> t.Type | None:
    """Check a call and return the action's result type (Unknown when unresolved)."""
    sym, rep = ctx.symbols, ctx.reporter
    name = call.action.value
    action = sym.actions.get(name)
    if action is None:
        rep.report(codes.UNDEFINED_ACTION, call.action.span, name=name,
                   help=did_you_mean(name, set(sym.actions)))
        for _, value in call.args:
            infer(ctx, value, scope)
        return t.UNKNOWN
    params = sym.params.get(name, {})
    given: set[str] = set()
    for key, value in call.args:
        found = infer(ctx, value, scope)
        if key.value in given:
            rep.report(codes.DUPLICATE_ARG, key.span, name=key.value)
            continue
        given.add(key.value)
        expected = params.get(key.value)
        if expected is None:
            rep.report(codes.UNKNOWN_ARG, key.span, action=name, name=key.value,
                       help=did_you_mean(key.value, set(params) - given))
            continue
        if not assignable(ctx, found, expected, value, f"argument `{key.value}`"):
            rep.report(codes.ARG_TYPE, value.span, name=key.value, action=name,
                       expected=t.describe(expected), found=t.describe(found))
    for param, expected in params.items():
        if param not in given and not isinstance(expected, t.Optional):
            rep.report(codes.MISSING_ARG, call.span, action=name, name=param)
    return sym.returns.get(name)


def _condition(ctx: Context, condition: ast.Expr, scope: _Scope, message: codes.Message = codes.REQUIRE_TYPE) -> None:
    found = infer(ctx, condition, scope)
    if t.base(found) not in ("bool", "unknown"):
        ctx.reporter.report(message, condition.span, found=t.describe(found))


def _idempotency_key(ctx: Context, action: ast.Action, scope: _Scope) -> None:
    path = action.idempotency_key or []
    ref = ast.build(ast.Expr, span=path[0].span, kind="ref", path=path)
    found = t.strip_optional(infer(ctx, ref, scope))
    if t.is_unknown(found):
        return
    if not (isinstance(found, t.Union) or (isinstance(found, t.Prim) and found.name in KEY_PRIMS)):
        first, last = path[0].span, path[-1].span
        span = ast.span(first.line, first.column, last.end_line, last.end_column, first.start, last.end)
        ctx.reporter.report(codes.IDEMPOTENCY_KEY, span, path=".".join(n.value for n in path),
                            found=t.describe(found))


# --- inference ---------------------------------------------------------------------------------


def infer(ctx: Context, expr: ast.Expr, scope: _Scope) -> t.Type:
    """The type of an expression; reports what is wrong inside it."""
    rep = ctx.reporter
    kind = expr.kind
    if kind == "string":
        return t.Union((str(expr.value),))
    if kind == "number":
        return t.INT if expr.is_int else t.NUMBER
    if kind == "bool":
        return t.BOOL
    if kind == "ref":
        return _ref(ctx, expr, scope)
    if kind == "record":
        return t.RecordShape(tuple(
            (key.value, infer(ctx, value, scope)) for key, value in zip(expr.keys, expr.items, strict=True)
        ))
    if kind == "list":
        items = [infer(ctx, item, scope) for item in expr.items]
        known = [(i, x) for i, x in zip(expr.items, items, strict=True) if not t.is_unknown(x)]
        for item, other in known[1:]:
            if t.base(other) != t.base(known[0][1]):
                rep.report(codes.LIST_MIXED, item.span, first=t.describe(known[0][1]),
                           other=t.describe(other))
                break
        if known and all(isinstance(x, t.Union) for _, x in known):
            # `["a", "b"]` holds the union of its literals, not just the first one's
            merged = dict.fromkeys(lit for _, x in known for lit in x.literals)  # type: ignore[union-attr]
            return t.ListOf(t.Union(tuple(merged)), high=len(expr.items))
        return t.ListOf(known[0][1] if known else t.UNKNOWN, high=len(expr.items))
    if kind == "len":
        inner = infer(ctx, expr.items[0], scope)
        if t.base(inner) not in ("string", "list", "unknown"):
            rep.report(codes.LEN_TYPE, expr.items[0].span, found=t.describe(inner))
        return t.INT
    if kind in ("and", "or", "not"):
        for operand in expr.items:
            found = infer(ctx, operand, scope)
            if t.base(found) not in ("bool", "unknown"):
                rep.report(codes.BOOL_TYPE, operand.span, op=kind, found=t.describe(found))
        return t.BOOL
    if kind == "in":
        left = infer(ctx, expr.items[0], scope)
        right = t.strip_optional(infer(ctx, expr.items[1], scope))
        if isinstance(right, t.ListOf):
            if not _comparable(left, right.item):
                _incomparable(ctx, expr, left, right.item, "in")
        elif not t.is_unknown(right):
            rep.report(codes.IN_TYPE, expr.items[1].span, found=t.describe(right))
        return t.BOOL
    if kind == "compare":
        op = str(expr.value)
        left = infer(ctx, expr.items[0], scope)
        right = infer(ctx, expr.items[1], scope)
        if op in ("==", "!="):
            if not _comparable(left, right):
                _incomparable(ctx, expr, left, right, op)
        else:
            for operand, found in ((expr.items[0], left), (expr.items[1], right)):
                if t.base(found) not in ("number", "unknown"):
                    rep.report(codes.ORDER_TYPE, operand.span, op=op, found=t.describe(found))
        return t.BOOL
    raise AssertionError(kind)  # pragma: no cover


def _ref(ctx: Context, expr: ast.Expr, scope: _Scope) -> t.Type:
    rep, sym = ctx.reporter, ctx.symbols
    head = expr.path[0]
    current = scope.values.get(head.value)
    if current is None:
        if scope.action is not None:
            rep.report(codes.UNDEFINED_PARAM, head.span, action=scope.action, name=head.value,
                       help=did_you_mean(head.value, set(scope.values)))
        elif head.value in scope.later:
            rep.report(codes.UNDEFINED_STEP_LATER, head.span, name=head.value)
        elif head.value in scope.inner:
            rep.report(codes.UNDEFINED_STEP_INSIDE, head.span, name=head.value)
        elif head.value == "input":
            rep.report(codes.NO_INPUT, head.span)
        else:
            rep.report(codes.UNDEFINED_VALUE, head.span, name=head.value,
                       help=did_you_mean(head.value, set(scope.values)))
        return t.UNKNOWN
    owner = head.value
    optional = False
    for name in expr.path[1:]:
        if isinstance(current, t.Optional):
            optional, current = True, current.inner
        fields = _fields_of(ctx, current)
        if fields is None:
            if not t.is_unknown(current):
                rep.report(codes.FIELD_OF_NON_RECORD, name.span, owner=owner, found=t.describe(current))
            return t.UNKNOWN
        found = fields.get(name.value)
        if found is None:
            rep.report(codes.UNDEFINED_FIELD, name.span, owner=owner, name=name.value,
                       help=did_you_mean(name.value, set(fields)))
            return t.UNKNOWN
        current, owner = found, f"{owner}.{name.value}"
    del sym
    return t.Optional(current) if optional and not isinstance(current, t.Optional) else current


def _fields_of(ctx: Context, ty: t.Type) -> dict[str, t.Type] | None:
    if isinstance(ty, t.Ref):
        return ctx.symbols.records.get(ty.name)
    if isinstance(ty, t.RecordShape):
        return dict(ty.fields)
    return None


def _incomparable(ctx: Context, expr: ast.Expr, left: t.Type, right: t.Type, op: str) -> None:
    a, b = t.strip_optional(left), t.strip_optional(right)
    if isinstance(a, t.Union) and isinstance(b, t.Union):
        ctx.reporter.report(codes.DISJOINT_LITERALS, expr.span, left=t.describe(left), right=t.describe(right),
                            op=op, always="true" if op == "!=" else "false")
    else:
        ctx.reporter.report(codes.COMPARE_TYPE, expr.span, left=t.describe(left), right=t.describe(right), op=op)


def _comparable(a: t.Type, b: t.Type) -> bool:
    if t.is_unknown(a) or t.is_unknown(b):
        return True
    a, b = t.strip_optional(a), t.strip_optional(b)
    if isinstance(a, t.Union) and isinstance(b, t.Union):
        # two literal sets that share nothing can never be equal
        return bool(set(a.literals) & set(b.literals))
    if t.base(a) != t.base(b):
        return False
    if isinstance(a, (t.Ref, t.RecordShape)) or isinstance(b, (t.Ref, t.RecordShape)):
        return a == b
    return True


def assignable(ctx: Context, src: t.Type, dst: t.Type, expr: ast.Expr | None, owner: str) -> bool:
    """Whether a value of type `src` may be passed where `dst` is expected. Record literals are
    checked field by field and report their own, more precise diagnostics."""
    if t.is_unknown(src) or t.is_unknown(dst):
        return True
    if isinstance(dst, t.Optional):
        return assignable(ctx, t.strip_optional(src), dst.inner, expr, owner)
    if isinstance(src, t.Optional):
        return False
    if isinstance(src, t.RecordShape) and isinstance(dst, t.Ref):
        return _record_literal(ctx, src, dst, expr, owner)
    if isinstance(dst, t.Ref):
        return src == dst
    if isinstance(dst, t.ListOf):
        return isinstance(src, t.ListOf) and assignable(ctx, src.item, dst.item, None, owner)
    if isinstance(dst, t.Union):
        if isinstance(src, t.Union):
            return set(src.literals) <= set(dst.literals)
        return isinstance(src, t.Prim) and src.name == "string"  # refined at run time
    if isinstance(dst, t.Prim):
        if dst.name == "int":
            return isinstance(src, t.Prim) and src.name == "int"
        if dst.name == "number":
            return isinstance(src, t.Prim) and src.name in ("int", "number")
        if dst.name == "bool":
            return isinstance(src, t.Prim) and src.name == "bool"
        return t.base(src) == "string"  # string, path and url interchange; checked at run time
    return False


def _record_literal(ctx: Context, src: t.RecordShape, dst: t.Ref, expr: ast.Expr | None,
                    owner: str) -> bool:
    fields = ctx.symbols.records.get(dst.name)
    if fields is None:
        return True
    given = dict(src.fields)
    keys = {k.value: (k, v) for k, v in zip(expr.keys, expr.items, strict=True)} \
        if expr is not None and expr.kind == "record" else {}
    ok = True
    for name, found in given.items():
        expected = fields.get(name)
        key_node, value_node = keys.get(name, (None, None))
        if expected is None:
            if key_node is not None:
                ctx.reporter.report(codes.UNKNOWN_RECORD_FIELD, key_node.span,
                                    owner=f"`{dst.name}`", name=name,
                                    help=did_you_mean(name, set(fields) - set(given)))
                continue
            return False
        if not assignable(ctx, found, expected, value_node, f"field `{name}`"):
            if value_node is None:
                return False
            ctx.reporter.report(codes.FIELD_TYPE, value_node.span, name=name, record=dst.name,
                                expected=t.describe(expected), found=t.describe(found))
    for name, expected in fields.items():
        if name not in given and not isinstance(expected, t.Optional):
            if expr is None:
                return False
            ctx.reporter.report(codes.MISSING_RECORD_FIELD, expr.span, owner=f"`{dst.name}`",
                                name=name)
    return ok
