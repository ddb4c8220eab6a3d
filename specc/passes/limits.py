"""missing-limits and invalid-limit: every run is bounded, and every bound is one Docker and the
machine can honour (a pids or memory limit of 0 means *unlimited* to Docker)."""

from __future__ import annotations

import math

from specc import ast, codes
from specc.context import Context
from specc.handling import chain

KIB, MIB, GIB = 1024, 1024**2, 1024**3

#: (least, most, unit) of every limit and sandbox setting; values are normalised (bytes, ms).
BOUNDS: dict[str, tuple[float, float, str]] = {
    "steps": (1, 10_000, ""),
    "wall": (1, 7 * 24 * 3_600_000, "ms"),  # a week: longer runs belong to a scheduler
    "memory": (6 * MIB, 64 * GIB, "bytes"),  # Docker refuses less than 6 MiB
    "cpus": (0.01, 64, ""),
    "pids": (1, 32_768, ""),
    "timeout": (1, 24 * 3_600_000, "ms"),
    "output": (1, 1 * GIB, "bytes"),
    "disk": (1 * MIB, 1024 * GIB, "bytes"),  # the attempt's filesystem needs room for its own tables
    "max_turns": (1, 1_000, ""),
}
#: How many times a handler may retry one failure.
MAX_RETRIES = 100
#: Why a zero limit is refused, shown as help.
WHY_POSITIVE = {
    "pids": "a pids limit of 0 means unlimited to Docker; give a real bound such as 64",
    "memory": "a memory limit of 0 means unlimited to Docker; give a real bound such as `256MiB`",
    "steps": "a run with no steps can do nothing; give the most action attempts one run may make",
    "wall": "give the longest a run may take, such as `5m`",
}


def check(ctx: Context) -> None:
    agent, rep = ctx.agent, ctx.reporter
    limits = agent.limits
    if limits is None:
        rep.report(codes.NO_LIMITS, agent.name.span, name=agent.name.value)
    else:
        if limits.steps is None:
            rep.report(codes.LIMIT_MISSING, _opening(limits.span, 6), name="steps", example="20")
        elif limits.steps_span is not None:
            _bound(ctx, "steps", limits.steps, limits.steps_span)
        if limits.wall_ms is None:
            rep.report(codes.LIMIT_MISSING, _opening(limits.span, 6), name="wall", example="5m")
        elif limits.wall_span is not None:
            _bound(ctx, "wall", limits.wall_ms, limits.wall_span)
    if agent.reliability is not None and agent.reliability_span is not None:
        _probability(ctx, "reliability", agent.reliability, agent.reliability_span)
    for setting in agent.sandbox:
        _setting(ctx, setting)
    for action in agent.actions:
        for setting in action.settings:
            _setting(ctx, setting)
        if action.reliability is not None and action.reliability_span is not None:
            _probability(ctx, "reliability", action.reliability, action.reliability_span)
        for handler in action.handlers:
            _strategy(ctx, handler.strategy)
        for require in action.requires:
            _strategy(ctx, require.strategy)
    for handler in agent.handlers:
        _strategy(ctx, handler.strategy)
    planner = agent.planner
    if planner is not None:
        if planner.max_turns is not None and planner.max_turns_span is not None:
            _bound(ctx, "max_turns", planner.max_turns, planner.max_turns_span)
        if planner.timeout_ms is not None and planner.timeout_span is not None:
            _bound(ctx, "timeout", planner.timeout_ms, planner.timeout_span)
        for handler in planner.handlers:
            _strategy(ctx, handler.strategy)
    if agent.workflow is not None:
        for statement in ast.walk(agent.workflow.statements):
            if statement.require is not None:
                _strategy(ctx, statement.require.strategy)


def _setting(ctx: Context, setting: ast.Setting) -> None:
    if setting.key in BOUNDS and isinstance(setting.value, (int, float)):
        _bound(ctx, setting.key, setting.value, setting.value_span or setting.span)


def _bound(ctx: Context, name: str, value: float, span: ast.Span) -> None:
    least, most, unit = BOUNDS[name]
    if value <= 0:
        ctx.reporter.report(codes.LIMIT_NOT_POSITIVE, span, name=name,
                            why=WHY_POSITIVE.get(name, "a limit must bound something"))
    elif value < least:
        ctx.reporter.report(codes.LIMIT_BELOW_MIN, span, name=name, value=_show(value, unit),
                            limit=_show(least, unit))
    elif value > most:
        ctx.reporter.report(codes.LIMIT_ABSURD, span, name=name, value=_show(value, unit),
                            limit=_show(most, unit))


def _probability(ctx: Context, name: str, value: float, span: ast.Span) -> None:
    if not 0 < value <= 1:
        ctx.reporter.report(codes.BAD_PROBABILITY, span, name=name, value=_written(value, ""))


def _strategy(ctx: Context, strategy: ast.Strategy | None) -> None:
    for retry in (s for s in chain(strategy) if s.kind == "retry"):
        if not 1 <= retry.count <= MAX_RETRIES:
            ctx.reporter.report(codes.BAD_RETRY_COUNT, retry.count_span or retry.span,
                                value=retry.count, limit=MAX_RETRIES)
        low, high = retry.backoff_min_ms, retry.backoff_max_ms
        if low is not None and high is not None and retry.backoff_span is not None:
            if low > high:
                ctx.reporter.report(codes.BAD_BACKOFF, retry.backoff_span,
                                    text=f"{_written(low, 'ms')}..{_written(high, 'ms')}")
            elif high > BOUNDS["wall"][1]:
                ctx.reporter.report(codes.LIMIT_ABSURD, retry.backoff_span, name="backoff",
                                    value=_show(high, "ms"), limit=_show(BOUNDS["wall"][1], "ms"))


def _opening(span: ast.Span, width: int) -> ast.Span:
    return ast.span(span.line, span.column, span.line, span.column + width, span.start, span.start + width)


def _show(value: float, unit: str) -> str:
    """A limit in the units a user writes, in backticks."""
    return f"`{_written(value, unit)}`"


def _written(value: float, unit: str) -> str:
    """A limit as a user writes it: `256MiB`, `5m`, `20`; whole numbers keep every digit (up to a
    point: a number of more than 40 digits is cut to its first 20 and `...`)."""
    if unit == "bytes":
        for size, suffix in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
            if value >= size and value % size == 0:
                return f"{_integer(value // size)}{suffix}"
        return f"{_integer(value)}B"
    if unit == "ms":
        for size, suffix in ((3_600_000, "h"), (60_000, "m"), (1000, "s")):
            if value >= size and value % size == 0:
                return f"{_integer(value // size)}{suffix}"
        return f"{_integer(value)}ms"
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return _integer(value)
    return repr(value)  # the shortest text that reads back as the same number


def _integer(value: float) -> str:
    digits = str(int(value))
    return digits if len(digits) <= 40 else digits[:20] + "..."
