"""The lowering from the parse tree of `specc.parser` to the typed AST of `specc.ast`.

This is the only module that knows the shape of the parse tree. It decodes literals (string
escapes, durations, sizes), reports what the grammar cannot (a bad escape, a repeated setting, a
workflow beside a planner), and builds nodes with `ast.build` because its input is trusted.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from specc import ast, codes
from specc.ast import build
from specc.ast import span as _span
from specc.diagnostics import Label, Reporter
from specc.parser import MAX_DEPTH, Node, Tok

_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_SIZE_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
#: What a refused `\\uXXXX` escape stands for, and why a string may not hold it.
_NUL = ("a NUL character", "a NUL ends a path or an argument early; remove it")
_SURROGATE = (
    "a lone surrogate",
    "write a character beyond U+FFFF as itself, or as a pair of escapes such as `\\uD83D\\uDE00`",
)


class _TooDeep(Exception):
    def __init__(self, span: ast.Span) -> None:
        self.span = span


def lower(tree: Node, reporter: Reporter) -> ast.Agent | None:
    """Lower a parse tree to an `Agent`, reporting what the grammar alone cannot catch."""
    lowering = _Lowering(reporter)
    try:
        return lowering.agent(tree.children[0])
    except _TooDeep as exc:
        reporter.report(codes.TOO_DEEP, exc.span, limit=MAX_DEPTH)
        return None


class Item(NamedTuple):
    """An agent item lowered apart from the others (the language server lowers only the items whose
    text changed): its rule, the span of its keyword when the agent may give it once, and the
    fields of `Agent` it sets."""

    kind: str
    keyword: ast.Span | None
    fields: dict[str, Any]


def lower_items(tree: Node, reporter: Reporter) -> tuple[ast.Name, list[Item]] | None:
    """The agent's name and each of its items lowered apart; None when an item nests too deep."""
    lowering = _Lowering(reporter)
    name_token, *items = tree.children[0].children
    try:
        return lowering.name(name_token), [lowering.item(item) for item in items]
    except _TooDeep as exc:
        reporter.report(codes.TOO_DEEP, exc.span, limit=MAX_DEPTH)
        return None


def assemble(where: ast.Span, name: ast.Name, items: list[Item], reporter: Reporter) -> ast.Agent:
    """An `Agent` from items lowered apart, reporting an item given twice as `lower` does. The
    items are left as they are, so they can be assembled again after another item changed."""
    fields = _agent_fields(where, name)
    seen: dict[str, ast.Span] = {}
    for item in items:
        if item.keyword is not None and not _admit(reporter, item.kind, item.keyword, seen):
            continue
        for key, value in item.fields.items():
            fields[key] = fields[key] + value if key in _LIST_ITEMS else value
    return build(ast.Agent, **fields)


#: The fields of `Agent` that items add to rather than set.
_LIST_ITEMS = ("types", "actions", "handlers", "sandbox")


def _agent_fields(where: ast.Span, name: ast.Name) -> dict[str, Any]:
    fields: dict[str, Any] = {key: [] for key in _LIST_ITEMS}
    fields.update(span=where, name=name)
    return fields


def _admit(reporter: Reporter, kind: str, here: ast.Span, seen: dict[str, ast.Span]) -> bool:
    """Whether an item the agent may give once is given for the first time, reporting it if not."""
    other = {"workflow": "planner", "planner": "workflow"}.get(kind)
    if kind in seen or (other is not None and other in seen):
        first = seen.get(kind) or seen[other]  # type: ignore[index]
        labels = (Label(first, "first given here"),)
        if kind in seen:
            reporter.report(codes.REPEATED_ITEM, here, item=_ITEM_WORDS[kind], where="the agent", labels=labels)
        else:
            reporter.report(codes.TWO_ORCHESTRATORS, here, labels=labels)
        return False
    seen[kind] = here
    return True


def span_of(node: Node | Tok) -> ast.Span:
    """The span of a node or token, 1-based with an exclusive end."""
    if isinstance(node, Tok):
        return _span(node.line, node.column, node.end_line, node.end_column, node.start_pos, node.end_pos)
    first, last = node.first, node.last
    if first is None or last is None:
        return _span(1, 1, 1, 1)
    return _span(first.line, first.column, last.end_line, last.end_column, first.start_pos, last.end_pos)


def _hex4(raw: str, i: int) -> int | None:
    """The code point of the `\\uXXXX` escape at `raw[i]`, or None when it is not one."""
    digits = raw[i + 2 : i + 6]
    if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return int(digits, 16)
    return None


class _Lowering:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    # --- literals --------------------------------------------------------------------------

    def name(self, token: Tok) -> ast.Name:
        return build(ast.Name, span=span_of(token), value=token.value)

    def string(self, token: Tok) -> ast.Str:
        return build(ast.Str, span=span_of(token), value=self.unescape(token))

    def unescape(self, token: Tok) -> str:
        raw = token.value[1:-1]
        if "\\" not in raw:
            return raw
        out: list[str] = []
        i = 0
        while i < len(raw):
            char = raw[i]
            if char != "\\":
                out.append(char)
                i += 1
                continue
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            point = _hex4(raw, i) if nxt == "u" else None
            if point is None:
                self.reporter.report(codes.BAD_ESCAPE, self.escape_span(token, i, 2), escape=raw[i : i + 2])
                out.append(raw[i : i + 2])
                i += 2
                continue
            if 0xD800 <= point <= 0xDBFF:  # a UTF-16 pair written as two escapes, as in JSON
                low = _hex4(raw, i + 6) if raw.startswith("\\u", i + 6) else None
                if low is not None and 0xDC00 <= low <= 0xDFFF:
                    out.append(chr(0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00)))
                    i += 12
                    continue
            if point == 0 or 0xD800 <= point <= 0xDFFF:
                # A NUL ends a path at the kernel and a lone surrogate cannot be encoded: neither may
                # travel on to a pass, the IR or a terminal, so the string keeps U+FFFD instead.
                what, why = _NUL if point == 0 else _SURROGATE
                self.reporter.report(codes.BAD_CODE_POINT, self.escape_span(token, i, 6), escape=raw[i : i + 6],
                                     what=what, why=why)
                out.append("\ufffd")
            else:
                out.append(chr(point))
            i += 6
        return "".join(out)

    def escape_span(self, token: Tok, offset: int, width: int) -> ast.Span:
        """The span of an escape at `offset` inside a string token's quotes."""
        column = token.column + 1 + offset
        start = token.start_pos + 1 + offset
        return _span(token.line, column, token.line, column + width, start, start + width)

    def integer(self, token: Tok) -> int:
        try:
            return int(str(token))
        except ValueError:  # more digits than Python converts
            self.reporter.report(codes.NUMBER_TOO_LARGE, span_of(token), text=str(token)[:20] + "...")
            return 0

    def number(self, token: Tok) -> float:
        value = float(str(token))
        if value == float("inf"):
            self.reporter.report(codes.NUMBER_TOO_LARGE, span_of(token), text=str(token)[:20] + "...")
            return 0.0
        return value

    def duration_ms(self, token: Tok) -> int:
        text = str(token)
        unit = "ms" if text.endswith("ms") else text[-1]
        return self.integer_text(token, text[: -len(unit)]) * _DURATION_MS[unit]

    def size_bytes(self, token: Tok) -> int:
        text = str(token)
        for unit in ("KiB", "MiB", "GiB", "B"):
            if text.endswith(unit):
                return self.integer_text(token, text[: -len(unit)]) * _SIZE_BYTES[unit]
        raise AssertionError(text)  # the grammar admits no other unit

    def integer_text(self, token: Tok, digits: str) -> int:
        try:
            return int(digits)
        except ValueError:
            self.reporter.report(codes.NUMBER_TOO_LARGE, span_of(token), text=digits[:20] + "...")
            return 0

    # --- agent -----------------------------------------------------------------------------

    def agent(self, tree: Node) -> ast.Agent:
        name_token, *items = tree.children
        fields = _agent_fields(span_of(tree), self.name(name_token))
        seen: dict[str, ast.Span] = {}
        for item in items:
            assert isinstance(item, Node)
            kind = item.data
            if kind in _ITEM_WORDS and not _admit(self.reporter, kind, self.keyword_span(item), seen):
                continue
            getattr(self, "item_" + kind)(item, fields)
        return build(ast.Agent, **fields)

    def item(self, tree: Node) -> Item:
        """One agent item lowered on its own."""
        fields: dict[str, Any] = {key: [] for key in _LIST_ITEMS}
        getattr(self, "item_" + tree.data)(tree, fields)
        return Item(tree.data, self.keyword_span(tree) if tree.data in _ITEM_WORDS else None, fields)

    def keyword_span(self, tree: Node) -> ast.Span:
        """The span of the keyword that opens an agent item, a tight place to point at."""
        span = span_of(tree)
        width = len(_ITEM_WORDS.get(tree.data, "x"))
        return _span(span.line, span.column, span.line, span.column + width, span.start, span.start + width)

    def item_version(self, tree: Node, out: dict[str, Any]) -> None:
        out["version"] = self.string(tree.children[0])

    def item_description(self, tree: Node, out: dict[str, Any]) -> None:
        out["description"] = self.string(tree.children[0])

    def item_reliability(self, tree: Node, out: dict[str, Any]) -> None:
        token = tree.children[0]
        out["reliability"] = self.number(token)
        out["reliability_span"] = span_of(token)

    def item_limits(self, tree: Node, out: dict[str, Any]) -> None:
        fields: dict[str, Any] = {"span": span_of(tree)}
        for item in tree.children:
            assert isinstance(item, Node)
            token = item.children[0]
            assert isinstance(token, Tok)
            key = "steps" if item.data == "limit_steps" else "wall"
            if key + "_span" in fields:
                self.reporter.report(
                    codes.REPEATED_ITEM, span_of(item), item=key, where="`limits`",
                    labels=(Label(fields[key + "_span"], "first given here"),),
                )
                continue
            fields[key + "_span"] = span_of(token)
            if key == "steps":
                fields["steps"] = self.integer(token)
            else:
                fields["wall_ms"] = self.duration_ms(token)
        out["limits"] = build(ast.Limits, **fields)

    def item_scope(self, tree: Node, out: dict[str, Any]) -> None:
        mounts: list[ast.ScopeMount] = []
        network: list[ast.Str] = []
        env: list[ast.ScopeEnv] = []
        for item in tree.children:
            assert isinstance(item, Node)
            c = item.children
            if item.data == "scope_mount":
                mounts.append(build(
                    ast.ScopeMount, span=span_of(item), path=self.string(c[0]),
                    target=self.string(c[1]) if c[1] is not None else None,
                    mode=str(c[2]) if c[2] is not None else "read_only",
                ))
            elif item.data == "scope_network":
                network.append(self.string(c[0]))
            else:
                env.append(build(
                    ast.ScopeEnv, span=span_of(item), name=self.name(c[0]),
                    secret=c[1] is not None,
                ))
        out["scope"] = build(
            ast.Scope, span=span_of(tree), mounts=mounts, network=network, env=env
        )

    def item_sandbox(self, tree: Node, out: dict[str, Any]) -> None:
        out["sandbox"] = self.settings(tree.children, "`sandbox`")

    def settings(self, items: list[Any], where: str) -> list[ast.Setting]:
        result: list[ast.Setting] = []
        seen: dict[str, ast.Span] = {}
        for item in items:
            setting = self.setting(item)
            if setting.key in seen:
                self.reporter.report(
                    codes.REPEATED_ITEM, setting.span, item=setting.key, where=where,
                    labels=(Label(seen[setting.key], "first given here"),),
                )
                continue
            seen[setting.key] = setting.span
            result.append(setting)
        return result

    def setting(self, item: Node) -> ast.Setting:
        token = item.children[0]
        assert isinstance(token, Tok)
        key = item.data.split("_", 1)[1]
        value: str | int | float
        if key in ("memory", "output", "disk"):
            value = self.size_bytes(token)
        elif key == "timeout":
            value = self.duration_ms(token)
        elif key == "cpus":
            value = self.number(token)
        elif key == "pids":
            value = self.integer(token)
        elif token.type == "STRING":
            value = self.unescape(token)
        else:
            value = str(token)
        return build(ast.Setting, span=span_of(item), key=key, value=value, value_span=span_of(token))

    def item_type_decl(self, tree: Node, out: dict[str, Any]) -> None:
        name, *fields = tree.children
        out["types"].append(build(
            ast.TypeDecl, span=span_of(tree), name=self.name(name),
            fields=[self.field(f) for f in fields],
        ))

    def item_input_decl(self, tree: Node, out: dict[str, Any]) -> None:
        out["input"] = [self.field(f) for f in tree.children]
        out["input_span"] = self.keyword_span(tree)

    def item_output_decl(self, tree: Node, out: dict[str, Any]) -> None:
        out["output"] = self.type_expr(tree.children[0], 0)

    def field(self, tree: Node) -> ast.Field:
        name, type_tree = tree.children
        return build(
            ast.Field, span=span_of(tree), name=self.name(name),
            type=self.type_expr(type_tree, 0),
        )

    # --- types -----------------------------------------------------------------------------

    def type_expr(self, tree: Node, depth: int) -> ast.TypeExpr:
        if depth > MAX_DEPTH:
            raise _TooDeep(span_of(tree))
        base, optional = tree.children
        assert isinstance(base, Node)
        fields: dict[str, Any] = {"span": span_of(tree), "optional": optional is not None}
        kind = base.data
        if kind == "prim_type":
            prim, *constraints = base.children
            fields.update(kind="prim", name=str(prim),
                          constraints=[self.constraint(c) for c in constraints])
        elif kind == "named_type":
            fields.update(kind="named", name=str(base.children[0]))
        elif kind == "list_type":
            item, count = base.children
            fields.update(kind="list", name="list", item=self.type_expr(item, depth + 1),
                          count=self.range(count.children[0]) if count is not None else None)
        else:
            fields.update(kind="union", literals=[self.string(s) for s in base.children])
        return build(ast.TypeExpr, **fields)

    def constraint(self, tree: Node) -> ast.Constraint:
        span = span_of(tree)
        if tree.data == "range_constraint":
            return build(
                ast.Constraint, span=span, kind="range", range=self.range(tree.children[0]), text=""
            )
        token = tree.children[0]
        assert isinstance(token, Tok)
        if tree.data == "regex_constraint":
            return build(ast.Constraint, span=span, kind="regex", range=None, text=str(token)[1:-1])
        kind = "under" if tree.data == "under_constraint" else "host"
        return build(ast.Constraint, span=span, kind=kind, range=None, text=self.unescape(token))

    def range(self, tree: Node) -> ast.Range:
        low, _dots, high = tree.children
        return build(
            ast.Range, span=span_of(tree),
            low=self.signed(low) if low is not None else None,
            high=self.signed(high) if high is not None else None,
            text=_text_of(tree),
        )

    def signed(self, tree: Node) -> float:
        minus, number = tree.children
        value = self.number(number)
        return -value if minus is not None else value

    # --- actions ---------------------------------------------------------------------------

    def item_action(self, tree: Node, out: dict[str, Any]) -> None:
        name, *rest = tree.children
        params = [self.field(p) for p in rest if isinstance(p, Node) and p.data == "param"]
        returns_tree = None
        body: list[Any] = []
        for child in rest:
            if child is None or (isinstance(child, Node) and child.data == "param"):
                continue
            if isinstance(child, Node) and child.data == "type_expr" and returns_tree is None and not body:
                returns_tree = child
                continue
            body.append(child)
        fields: dict[str, Any] = {
            "span": span_of(tree), "name": self.name(name),
            "params": params,
            "returns": self.type_expr(returns_tree, 0) if returns_tree is not None else None,
            "run": [], "mounts": [], "network": [], "env": [], "settings": [], "requires": [],
            "handlers": [],
        }
        settings: list[Node] = []
        seen: dict[str, ast.Span] = {}
        for item in body:
            kind = item.data
            if kind.startswith("sb_"):
                settings.append(item)
                continue
            if kind in ("act_run", "act_effect", "act_risk", "act_approval_required",
                        "act_approval_when", "act_approval_none", "act_idempotent", "act_reliability",
                        "act_description", "act_untrusted"):
                key = "approval" if kind.startswith("act_approval") else kind
                if key in seen:
                    self.reporter.report(
                        codes.REPEATED_ITEM, span_of(item), item=key.removeprefix("act_"),
                        where=f"action `{name}`", labels=(Label(seen[key], "first given here"),),
                    )
                    continue
                seen[key] = span_of(item)
            self.action_item(item, fields)
        fields["settings"] = self.settings(settings, f"action `{name}`")
        out["actions"].append(build(ast.Action, **fields))

    def action_item(self, item: Node, out: dict[str, Any]) -> None:
        c = item.children
        kind = item.data
        if kind == "act_run":
            out["run"] = [self.string(t) for t in c]
        elif kind == "act_mount":
            out["mounts"].append(build(
                ast.ActionMount, span=span_of(item), path=self.string(c[0]),
                mode=str(c[1]) if c[1] is not None else None,
            ))
        elif kind == "act_network":
            out["network"].append(self.string(c[0]))
        elif kind == "act_env":
            out["env"].append(self.name(c[0]))
        elif kind == "act_effect":
            out["effect"] = self.name(c[0])
        elif kind == "act_risk":
            out["risk"] = self.name(c[0])
        elif kind == "act_approval_required":
            out["approval"], out["approval_span"] = "required", span_of(item)
        elif kind == "act_approval_when":
            out["approval"], out["approval_span"] = "required", span_of(item)
            out["approval_when"] = self.expr(c[0], 0)
        elif kind == "act_approval_none":
            out["approval"], out["approval_span"] = "none", span_of(item)
            out["approval_reason"] = self.unescape(c[0])
        elif kind == "act_idempotent":
            out["idempotent"], out["idempotent_span"] = True, span_of(item)
            if c[0] is not None:
                out["idempotency_key"] = [self.name(t) for t in c[0].children]
        elif kind == "act_reliability":
            out["reliability"] = self.number(c[0])
            out["reliability_span"] = span_of(c[0])
        elif kind == "act_description":
            out["description"] = self.string(c[0])
        elif kind == "act_untrusted":
            out["untrusted"], out["untrusted_span"] = True, span_of(item)
        elif kind == "require":
            out["requires"].append(self.require(item))
        elif kind == "handler":
            out["handlers"].append(self.handler(item))
        else:  # pragma: no cover - the grammar has no other action item
            raise AssertionError(kind)

    def item_handler(self, tree: Node, out: dict[str, Any]) -> None:
        out["handlers"].append(self.handler(tree))

    def handler(self, tree: Node) -> ast.Handler:
        *kinds, strategy = tree.children
        return build(
            ast.Handler, span=span_of(tree),
            kinds=[self.name(k.children[0]) for k in kinds],
            strategy=self.strategy(strategy, 0),
        )

    def strategy(self, tree: Node, depth: int) -> ast.Strategy:
        if depth > MAX_DEPTH:
            raise _TooDeep(span_of(tree))
        c = tree.children
        fields: dict[str, Any] = {"span": span_of(tree), "kind": tree.data}
        if tree.data == "retry":
            count, backoff, then = c
            fields["count"] = self.integer(count)
            fields["count_span"] = span_of(count)
            if backoff is not None:
                low, _dots, high = backoff.children
                fields["backoff_min_ms"] = self.duration_ms(low)
                fields["backoff_max_ms"] = self.duration_ms(high)
                fields["backoff_span"] = _span(low.line, low.column, high.end_line, high.end_column,
                                               low.start_pos, high.end_pos)
            if then is not None:
                fields["then"] = self.strategy(then, depth + 1)
        elif tree.data == "fallback":
            fields["target"] = self.name(c[0])
        elif c[0] is not None:
            fields["reason"] = self.unescape(c[0])
        return build(ast.Strategy, **fields)

    def require(self, tree: Node) -> ast.Require:
        condition, strategy = tree.children
        return build(
            ast.Require, span=span_of(tree), condition=self.expr(condition, 0),
            strategy=self.strategy(strategy, 0),
        )

    # --- workflow and planner --------------------------------------------------------------

    def item_workflow(self, tree: Node, out: dict[str, Any]) -> None:
        out["workflow"] = build(ast.Workflow, span=span_of(tree), statements=self.statements(tree.children, 0))

    def statements(self, items: list[Any], depth: int) -> list[ast.Statement]:
        """The statements of the workflow or of a block; `depth` counts the blocks around them."""
        if depth > MAX_DEPTH:
            raise _TooDeep(span_of(items[0]))
        return [self.statement(item, depth) for item in items if isinstance(item, Node)]

    def statement(self, item: Node, depth: int) -> ast.Statement:
        span = span_of(item)
        kind, c = item.data, item.children
        fields: dict[str, Any] = {"span": span, "name": None, "call": None, "require": None, "value": None}
        if kind == "bind":
            fields.update(kind="call", name=self.name(c[0]), call=self.call(c[1]))
        elif kind == "call_stmt":
            fields.update(kind="call", call=self.call(c[0]))
        elif kind == "require":
            fields.update(kind="require", require=self.require(item))
        elif kind == "return_stmt":
            fields.update(kind="return", value=self.expr(c[0], 0))
        elif kind == "bind_for":
            return self.loop(c[1], depth, self.name(c[0]), span)
        elif kind == "for_stmt":
            return self.loop(item, depth, None, span)
        elif kind == "if_stmt":
            condition, body, orelse = c
            fields.update(kind="if", value=self.expr(condition, 0),
                          body=self.statements(body.children, depth + 1))
            if isinstance(orelse, Node):
                fields["orelse"] = (self.statements(orelse.children, depth + 1) if orelse.data == "block"
                                    else [self.statement(orelse, depth + 1)])
        else:  # pragma: no cover - the grammar has no other statement
            raise AssertionError(kind)
        return build(ast.Statement, **fields)

    def loop(self, tree: Node, depth: int, name: ast.Name | None, span: ast.Span) -> ast.Statement:
        var, over, body = tree.children
        return build(ast.Statement, span=span, kind="for", name=name, call=None, require=None,
                     value=self.expr(over, 0), var=self.name(var),
                     body=self.statements(body.children, depth + 1))

    def call(self, tree: Node) -> ast.Call:
        name, *args = tree.children
        pairs = []
        for arg in args:
            if arg is None:
                continue
            key, value = arg.children
            pairs.append((self.name(key), self.expr(value, 0)))
        return build(ast.Call, span=span_of(tree), action=self.name(name), args=pairs)

    def item_planner(self, tree: Node, out: dict[str, Any]) -> None:
        kind, *items = tree.children
        keyword = self.keyword_span(tree)
        fields: dict[str, Any] = {"span": span_of(tree), "kind": self.name(kind), "handlers": []}
        seen: dict[str, ast.Span] = {}
        for item in items:
            assert isinstance(item, Node)
            key = item.data.removeprefix("pl_")
            if key == "handler":
                fields["handlers"].append(self.handler(item))
                continue
            if key in seen:
                self.reporter.report(codes.REPEATED_ITEM, span_of(item), item=_PLANNER_WORDS[key],
                                     where="the planner", labels=(Label(seen[key], "first given here"),))
                continue
            seen[key] = span_of(item)
            c = item.children
            if key in ("model", "instructions"):
                fields[key] = self.string(c[0])
            elif key in ("endpoint", "api_key"):
                fields[key] = self.name(c[0])
            elif key == "max_turns":
                fields["max_turns"], fields["max_turns_span"] = self.integer(c[0]), span_of(c[0])
            elif key == "timeout":
                fields["timeout_ms"], fields["timeout_span"] = self.duration_ms(c[0]), span_of(c[0])
            else:
                fields["tools"] = [self.name(t) for t in c]
        for key, example in _PLANNER_REQUIRED:
            if key not in seen:
                self.reporter.report(codes.PLANNER_SETTING_MISSING, keyword, item=_PLANNER_WORDS[key],
                                     example=example)
        out["planner"] = build(ast.Planner, **fields)

    # --- expressions -----------------------------------------------------------------------

    def expr(self, node: Node | Tok, depth: int) -> ast.Expr:
        if depth > MAX_DEPTH:
            raise _TooDeep(span_of(node))
        span = span_of(node)
        if isinstance(node, Tok):  # pragma: no cover - every atom is wrapped in a rule
            raise AssertionError(node)
        kind = node.data
        c = node.children
        fields: dict[str, Any] = {"span": span}
        if kind == "string_lit":
            fields.update(kind="string", value=self.unescape(c[0]))
        elif kind == "number_lit":
            signed = c[0]
            text = str(signed.children[1])
            fields.update(kind="number", value=self.signed(signed), is_int="." not in text)
        elif kind in ("true_lit", "false_lit"):
            fields.update(kind="bool", value=kind == "true_lit")
        elif kind == "ref":
            fields.update(kind="ref", path=[self.name(t) for t in c[0].children])
        elif kind == "len_call":
            fields.update(kind="len", items=[self.expr(c[0], depth + 1)])
        elif kind == "record_lit":
            keys, values = [], []
            for item in c:
                if item is None:
                    continue
                key, value = item.children
                keys.append(self.name(key))
                values.append(self.expr(value, depth + 1))
            fields.update(kind="record", keys=keys, items=values)
        elif kind == "list_lit":
            fields.update(kind="list", items=[self.expr(i, depth + 1) for i in c if i is not None])
        elif kind == "compare":
            left, op, right = c
            fields.update(kind="compare", value=str(op),
                          items=[self.expr(left, depth + 1), self.expr(right, depth + 1)])
        elif kind in ("in_op", "and_op", "or_op"):
            fields.update(kind=kind[:-3], items=[self.expr(i, depth + 1) for i in c])
        elif kind == "not_op":
            fields.update(kind="not", items=[self.expr(c[0], depth + 1)])
        else:  # pragma: no cover - the grammar has no other expression
            raise AssertionError(kind)
        return build(ast.Expr, **fields)


#: The planner's settings as written, by the name of their parse-tree rule.
_PLANNER_WORDS = {
    "model": "model", "endpoint": "endpoint env", "api_key": "api_key env", "instructions": "instructions",
    "max_turns": "max_turns", "tools": "tools", "timeout": "timeout",
}
#: The settings a planner cannot run without, each with an example of it.
_PLANNER_REQUIRED = (
    ("model", 'model "NAME"'), ("endpoint", "endpoint env PLANNER_URL"),
    ("instructions", 'instructions "..."'), ("max_turns", "max_turns 12"),
)

_ITEM_WORDS = {
    "version": "version", "description": "description", "limits": "limits",
    "reliability": "reliability", "scope": "scope", "sandbox": "sandbox",
    "input_decl": "input", "output_decl": "output", "workflow": "workflow", "planner": "planner",
}

def _text_of(tree: Node) -> str:
    parts: list[str] = []
    for child in tree.children:
        if child is None:
            continue
        if isinstance(child, Tok):
            parts.append(str(child))
        else:
            parts.append(_text_of(child))
    return "".join(parts)
