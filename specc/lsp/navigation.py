"""What a name in a spec is, where it is declared and where it is used: the index behind hover,
go-to-definition and references, built from one checked document. Types, actions, steps, mounts
and env vars; positions are the compiler's (1-based lines, columns in characters)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from specc import ast
from specc.context import mount_key
from specc.failure import ACTION_KINDS, PLANNER_KINDS
from specc.handling import resolve

Kind = Literal["type", "action", "step", "mount", "env"]


@dataclass(frozen=True)
class Occurrence:
    """One place a name appears: what it names, the name, where, and whether it declares it."""

    kind: Kind
    name: str
    span: ast.Span
    declares: bool = False


@dataclass
class Index:
    """Every occurrence of a declared kind of name in one document, in text order."""

    agent: ast.Agent
    lines: list[str]
    occurrences: list[Occurrence] = field(default_factory=list)
    _starts: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def build(cls, agent: ast.Agent, lines: list[str]) -> Index:
        """The index of a document's agent; `lines` is its text split at "\n"."""
        index = cls(agent, lines)
        index.occurrences = sorted(_occurrences(agent), key=lambda o: (o.span.line, o.span.column))
        index._starts = [(o.span.line, o.span.column) for o in index.occurrences]
        return index

    def at(self, line: int, column: int) -> Occurrence | None:
        """The occurrence under a position (its end included, where an editor's cursor rests)."""
        i = bisect.bisect_right(self._starts, (line, column)) - 1
        while i >= 0:
            span = self.occurrences[i].span
            if span.line != line:
                return None
            if column <= span.end_column:
                return self.occurrences[i]
            i -= 1
        return None

    def declarations(self, found: Occurrence) -> list[Occurrence]:
        return [o for o in self.occurrences if o.declares and o.kind == found.kind and o.name == found.name]

    def references(self, found: Occurrence, include_declaration: bool) -> list[Occurrence]:
        return [o for o in self.occurrences if o.kind == found.kind and o.name == found.name
                and (include_declaration or not o.declares)]

    def text(self, span: ast.Span) -> str:
        """The source text of a span."""
        if span.line == span.end_line:
            return self.lines[span.line - 1][span.column - 1:span.end_column - 1]
        parts = [self.lines[span.line - 1][span.column - 1:]]
        parts += self.lines[span.line:span.end_line - 1]
        parts.append(self.lines[span.end_line - 1][:span.end_column - 1])
        return "\n".join(parts)

    def hover(self, found: Occurrence) -> str:
        """What the name is, in Markdown."""
        agent = self.agent
        if found.kind == "type":
            decl = next((t for t in agent.types if t.name.value == found.name), None)
            if decl is None:
                return f"type `{found.name}` (not declared)"
            return _code(self.text(decl.span))
        if found.kind == "action":
            action = next((a for a in agent.actions if a.name.value == found.name), None)
            return self.action(action) if action is not None else f"action `{found.name}` (not declared)"
        if found.kind == "step":
            call = _step_call(agent, found.name)
            if call is None:
                return f"step `{found.name}`"
            action = next((a for a in agent.actions if a.name.value == call), None)
            head = f"step `{found.name}`: the result of `{call}`\n\n"
            return head + (self.action(action) if action is not None else "")
        if found.kind == "mount":
            return self.mount(found.name)
        return self.env(found.name)

    def action(self, action: ast.Action) -> str:
        head = self.text(action.span).split("{", 1)[0].rstrip()
        if action.returns is not None:  # a signature may hold braces only after `->`
            head = self.text(ast.span(action.span.line, action.span.column, action.returns.span.end_line,
                                      action.returns.span.end_column))
        effect = action.effect.value if action.effect is not None else "write (none declared)"
        risk = action.risk.value if action.risk is not None else "low (none declared)"
        if action.approval == "required":
            when = action.approval_when
            approval = "required" + (f" when `{self.text(when.span)}`" if when is not None else "")
        elif action.approval == "none":
            approval = f"waived: {action.approval_reason}"
        else:
            approval = "none"
        rows = [f"- effect: {effect}", f"- risk: {risk}", f"- approval: {approval}"]
        if action.idempotent:
            key = ".".join(n.value for n in action.idempotency_key or ())
            rows.append("- idempotent" + (f" by `{key}`" if key else ""))
        scope = [f"mount `{m.path.value}` {m.mode or self._scope_mode(m.path.value)}" for m in action.mounts]
        scope += [f"network `{h.value}`" for h in action.network]
        scope += [f"env `{e.value}`" for e in action.env]
        rows.append("- scope: " + (", ".join(scope) if scope else "nothing (no mounts, network or env)"))
        rows.append("- handlers:")
        for kind in ACTION_KINDS:
            found = resolve(self.agent, action, kind)
            where = f" ({found.level})" if found is not None else ""
            rows.append(f"  - `{kind}`: " + (f"`{self.text(found.strategy.span)}`{where}" if found else "unhandled"))
        return _code(head) + "\n" + "\n".join(rows)

    def _scope_mode(self, path: str) -> str:
        scope = self.agent.scope
        for mount in scope.mounts if scope is not None else ():
            if mount_key(mount.path.value) == mount_key(path):
                return mount.mode
        return ""

    def mount(self, name: str) -> str:
        scope = self.agent.scope
        declared = next((m for m in (scope.mounts if scope else ()) if mount_key(m.path.value) == name), None)
        if declared is None:
            return f"mount `{name}` (not declared in the scope)"
        target = declared.target.value if declared.target is not None else "/mnt/" + name.rstrip("/").split("/")[-1]
        users = [a.name.value for a in self.agent.actions if any(mount_key(m.path.value) == name for m in a.mounts)]
        return (f"mount `{declared.path.value}` at `{target}`, {declared.mode}\n\n"
                f"mounted by: {', '.join(f'`{u}`' for u in users) or 'no action'}")

    def env(self, name: str) -> str:
        scope = self.agent.scope
        declared = next((e for e in (scope.env if scope else ()) if e.name.value == name), None)
        if declared is None:
            return f"env var `{name}` (not declared in the scope)"
        users = [a.name.value for a in self.agent.actions if any(e.value == name for e in a.env)]
        kind = "secret env var" if declared.secret else "env var"
        return f"{kind} `{name}`, passed from the host's environment\n\nused by: " + (
            ", ".join(f"`{u}`" for u in users) or "no action")


def planner_kinds() -> tuple[str, ...]:
    return PLANNER_KINDS


def _code(text: str) -> str:
    return f"```agent\n{text}\n```\n"


def _step_call(agent: ast.Agent, name: str) -> str | None:
    for statement in _statements(agent.workflow.statements if agent.workflow is not None else []):
        if statement.name is not None and statement.name.value == name and statement.call is not None:
            return statement.call.action.value
    return None


def _statements(statements: Iterable[ast.Statement]) -> Iterator[ast.Statement]:
    for statement in statements:
        yield statement
        yield from _statements(getattr(statement, "body", None) or ())
        yield from _statements(getattr(statement, "orelse", None) or ())


def _occurrences(agent: ast.Agent) -> Iterator[Occurrence]:
    for decl in agent.types:
        yield Occurrence("type", decl.name.value, decl.name.span, True)
        for f in decl.fields:
            yield from _type_refs(f.type)
    for f in agent.input or ():
        yield from _type_refs(f.type)
    if agent.output is not None:
        yield from _type_refs(agent.output)
    scope = agent.scope
    if scope is not None:
        for mount in scope.mounts:
            yield Occurrence("mount", mount_key(mount.path.value), mount.path.span, True)
        for env in scope.env:
            yield Occurrence("env", env.name.value, env.name.span, True)
    for action in agent.actions:
        yield Occurrence("action", action.name.value, action.name.span, True)
        for param in action.params:
            yield from _type_refs(param.type)
        if action.returns is not None:
            yield from _type_refs(action.returns)
        for used in action.mounts:
            yield Occurrence("mount", mount_key(used.path.value), used.path.span)
        for name in action.env:
            yield Occurrence("env", name.value, name.span)
        for require in action.requires:
            yield from _strategy_refs(require.strategy)
        for handler in action.handlers:
            yield from _strategy_refs(handler.strategy)
    for handler in agent.handlers:
        yield from _strategy_refs(handler.strategy)
    planner = agent.planner
    if planner is not None:
        for tool in planner.tools or ():
            yield Occurrence("action", tool.value, tool.span)
        for env_name in (planner.endpoint, planner.api_key):
            if env_name is not None:
                yield Occurrence("env", env_name.value, env_name.span)
        for handler in planner.handlers:
            yield from _strategy_refs(handler.strategy)
    steps: set[str] = set()
    for statement in _statements(agent.workflow.statements if agent.workflow is not None else []):
        if statement.name is not None:
            steps.add(statement.name.value)
            yield Occurrence("step", statement.name.value, statement.name.span, True)
        if statement.call is not None:
            yield Occurrence("action", statement.call.action.value, statement.call.action.span)
            for _, value in statement.call.args:
                yield from _expr_refs(value, steps)
        if statement.require is not None:
            yield from _expr_refs(statement.require.condition, steps)
            yield from _strategy_refs(statement.require.strategy)
        if statement.value is not None:
            yield from _expr_refs(statement.value, steps)


def _type_refs(expr: ast.TypeExpr) -> Iterator[Occurrence]:
    if expr.kind == "named":
        span = expr.span
        yield Occurrence("type", expr.name, ast.span(span.line, span.column, span.line, span.column + len(expr.name)))
    elif expr.kind == "prim":
        for constraint in expr.constraints:
            if constraint.kind == "under":
                span = constraint.span  # `under "M"`: the string is the mount
                quoted = span.end_column - len(constraint.text) - 2
                yield Occurrence("mount", mount_key(constraint.text),
                                 ast.span(span.line, max(span.column, quoted), span.end_line, span.end_column))
    elif expr.item is not None:
        yield from _type_refs(expr.item)


def _strategy_refs(strategy: ast.Strategy | None) -> Iterator[Occurrence]:
    while strategy is not None:
        if strategy.target is not None:
            yield Occurrence("action", strategy.target.value, strategy.target.span)
        strategy = strategy.then


def _expr_refs(expr: ast.Expr, steps: set[str]) -> Iterator[Occurrence]:
    if expr.kind == "ref" and expr.path and expr.path[0].value in steps:
        yield Occurrence("step", expr.path[0].value, expr.path[0].span)
    for item in expr.items:
        yield from _expr_refs(item, steps)
