"""Which handler answers a failure: the one rule shared by the safety passes, the IR and the
runtime. An action's handler for the kind wins, then the action's `on any`, then the agent's
handler for the kind, then the agent's `on any`."""

from __future__ import annotations

from dataclasses import dataclass

from specc import ast
from specc.failure import ANY


@dataclass(frozen=True)
class Resolved:
    """The strategy that handles one kind for one action, and the handler it came from."""

    strategy: ast.Strategy
    handler: ast.Handler
    level: str  # "action" or "agent"


def resolve(agent: ast.Agent, action: ast.Action | None, kind: str) -> Resolved | None:
    """The handler for `kind` raised by `action` (None: the agent level alone)."""
    levels = [("action", action.handlers)] if action is not None else []
    levels.append(("agent", agent.handlers))
    for level, handlers in levels:
        for wanted in (kind, ANY):
            for handler in handlers:
                for named in handler.kinds:
                    if named.value == wanted:
                        return Resolved(handler.strategy, handler, level)
    return None


def chain(strategy: ast.Strategy | None) -> list[ast.Strategy]:
    """A strategy and every `then` after it, in order."""
    out: list[ast.Strategy] = []
    while strategy is not None and len(out) < 1000:
        out.append(strategy)
        strategy = strategy.then
    return out


def retries(strategy: ast.Strategy | None) -> int:
    """How many extra attempts a strategy grants before it gives up or falls back."""
    return sum(s.count for s in chain(strategy) if s.kind == "retry")
