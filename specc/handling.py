"""Which handler answers a failure, and how a strategy's `then` chain is walked: the rules shared
by the passes, the IR and the runtime. The handler for the kind of the action (or the planner)
that failed wins, then its `on any`, then the agent's handler for the kind, then the agent's
`on any`."""

from __future__ import annotations

from typing import Literal, Protocol, Self, TypeVar

from specc import ast
from specc.failure import ANY
from specc.record import Frozen, init

#: Where a handler was declared.
Level = Literal["action", "planner", "agent"]


class Resolved(Frozen):
    """The strategy that handles one kind for one action or the planner, and the handler it came
    from."""

    strategy: ast.Strategy
    handler: ast.Handler
    level: Level

    def __init__(self, strategy: ast.Strategy, handler: ast.Handler, level: Level) -> None:
        init(self, {"strategy": strategy, "handler": handler, "level": level})


def resolve(agent: ast.Agent, owner: ast.Action | ast.Planner | None, kind: str) -> Resolved | None:
    """The handler for `kind` raised by an action or the planner (None: the agent level alone)."""
    levels: list[tuple[Level, list[ast.Handler]]] = []
    if owner is not None:
        levels.append(("action" if isinstance(owner, ast.Action) else "planner", owner.handlers))
    levels.append(("agent", agent.handlers))
    for level, handlers in levels:
        for wanted in (kind, ANY):
            for handler in handlers:
                for named in handler.kinds:
                    if named.value == wanted:
                        return Resolved(handler.strategy, handler, level)
    return None


class Chained(Protocol):
    """A strategy as the syntax tree or the IR holds it: a kind, a retry count and what comes next."""

    @property
    def kind(self) -> str: ...

    @property
    def count(self) -> int: ...

    @property
    def then(self) -> Self | None: ...


S = TypeVar("S", bound=Chained)

#: The longest `then` chain walked; the grammar nests one, so only a pathological spec comes near.
MAX_CHAIN = 1000


def chain(strategy: S | None) -> list[S]:
    """A strategy and every `then` after it, in order."""
    out: list[S] = []
    while strategy is not None and len(out) < MAX_CHAIN:
        out.append(strategy)
        strategy = strategy.then
    return out


def retried(strategy: Chained | None) -> bool:
    """Whether a strategy's chain holds a `retry`."""
    return any(s.kind == "retry" for s in chain(strategy))


def retries(strategy: Chained | None) -> int:
    """How many extra attempts a strategy grants before it gives up or falls back."""
    return sum(s.count for s in chain(strategy) if s.kind == "retry")


def final(strategy: S | None) -> S | None:
    """What a strategy comes to once its retries are spent: the first strategy of its chain that
    is not a `retry`, or None when the chain ends in one (which then aborts)."""
    return next((s for s in chain(strategy) if s.kind != "retry"), None)
