"""invalid-constraint: regexes that do not compile or can backtrack catastrophically, empty or
negative ranges, constraints on types they do not apply to, and `under` a mount that is not in the
scope."""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator
from typing import Any

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import did_you_mean

#: Which primitive types each constraint applies to.
APPLIES_TO = {
    "range": {"string", "int", "number"},
    "regex": {"string"},
    "under": {"path"},
    "host": {"url"},
}
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")


def check(ctx: Context) -> None:
    for written in _all_type_exprs(ctx.agent):
        _check_type(ctx, written)


def _all_type_exprs(agent: ast.Agent) -> Iterator[ast.TypeExpr]:
    for decl in agent.types:
        yield from (f.type for f in decl.fields)
    yield from (f.type for f in agent.input or [])
    if agent.output is not None:
        yield agent.output
    for action in agent.actions:
        yield from (p.type for p in action.params)
        if action.returns is not None:
            yield action.returns


def _check_type(ctx: Context, written: ast.TypeExpr) -> None:
    rep = ctx.reporter
    if written.kind == "list":
        if written.count is not None:
            _check_range(ctx, written.count, "a list's item count", whole=True, non_negative=True)
        if written.item is not None:
            _check_type(ctx, written.item)
        return
    for c in written.constraints:
        if written.name not in APPLIES_TO[c.kind]:
            what = {"range": "a range", "regex": "a regex", "under": "`under`", "host": "`host`"}[c.kind]
            rep.report(codes.CONSTRAINT_ON, c.span, constraint=what, found=f"`{written.name}`")
            continue
        if c.kind == "range" and c.range is not None:
            if written.name == "string":
                _check_range(ctx, c.range, "a string's length", whole=True, non_negative=True)
            else:
                _check_range(ctx, c.range, "`int`", whole=written.name == "int", non_negative=False)
        elif c.kind == "regex":
            _check_regex(ctx, c)
        elif c.kind == "under":
            if mount_key(c.text) not in ctx.symbols.mounts:
                rep.report(codes.UNDEFINED_MOUNT, c.span, name=c.text,
                           help=did_you_mean(c.text, {m.path.value for m in ctx.symbols.mounts.values()}))
        elif c.kind == "host" and not _HOST.match(c.text):
            rep.report(codes.BAD_HOST, c.span, text=c.text)


def _check_range(ctx: Context, r: ast.Range, what: str, *, whole: bool, non_negative: bool) -> None:
    for bound in (r.low, r.high):
        if bound is None:
            continue
        if whole and bound != int(bound):
            ctx.reporter.report(codes.FRACTIONAL_BOUND, r.span, what=what, text=r.text)
            return
        if non_negative and bound < 0:
            ctx.reporter.report(codes.NEGATIVE_LENGTH, r.span, text=r.text)
            return
    if r.low is not None and r.high is not None and r.low > r.high:
        ctx.reporter.report(codes.EMPTY_RANGE, r.span, text=r.text)


def _check_regex(ctx: Context, c: ast.Constraint) -> None:
    pattern = c.text.replace("\\/", "/")
    try:
        quiet_compile(pattern)
    except re.error as exc:
        ctx.reporter.report(codes.BAD_REGEX, c.span, reason=str(exc.msg))
        return
    except (RecursionError, OverflowError, MemoryError):
        ctx.reporter.report(codes.BAD_REGEX, c.span, reason="the pattern is too complex")
        return
    if catastrophic(pattern):
        ctx.reporter.report(codes.BACKTRACKING_REGEX, c.span, pattern=f"/{c.text}/")


def quiet_compile(pattern: str) -> re.Pattern[str]:
    """Compile a spec's regex without Python's `FutureWarning` about what it may mean one day (a
    `[[` "possible nested set"): the checker reports in diagnostics, never on stderr by the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)


@functools.lru_cache(maxsize=4096)
def catastrophic(pattern: str) -> bool:
    """True when a repeated part of the regex is itself only a repetition (star height two with
    nothing to separate the repetitions), as in `(a+)+`, `(a*)*`, `(a|b+)+` or `(\\w+\\s?)*`:
    such patterns backtrack exponentially on a near-miss."""
    import re._parser as sre  # type: ignore[import-not-found, unused-ignore]  # re's own parser, 3.11+

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parsed = sre.parse(pattern)
    except Exception:  # noqa: BLE001 - compile succeeded above; be conservative
        return False
    return _walk(list(parsed))


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _walk(items: list[Any]) -> bool:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = arg
            if (high > 1 or str(high) == "MAXREPEAT") and _only_repeats(list(body)):
                return True
            if _walk(list(body)):
                return True
        elif name == "SUBPATTERN":
            if _walk(list(arg[-1])):
                return True
        elif name == "BRANCH":
            if any(_walk(list(alt)) for alt in arg[1]):
                return True
    return False


def _only_repeats(items: list[Any]) -> bool:
    """Whether a sequence holds an unbounded repeat and nothing that must match besides."""
    has_repeat = False
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = arg
            if str(high) == "MAXREPEAT" or high > 1:
                has_repeat = True
            elif low > 0:
                return False
        elif name == "SUBPATTERN":
            inner = list(arg[-1])
            if _only_repeats(inner):
                has_repeat = True
            elif not _nullable(inner):
                return False
        elif name == "BRANCH":
            if any(_only_repeats(list(alt)) for alt in arg[1]):
                has_repeat = True
            else:
                return False
        elif name in ("AT",):
            continue
        else:
            return False
    return has_repeat


def _nullable(items: list[Any]) -> bool:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS and arg[0] == 0:
            continue
        if name == "AT":
            continue
        return False
    return True
