"""Checking one document again and again as it is edited, reusing what did not change.

The text is cut at the agent's top-level items by a brace-aware scan that resynchronises at a line
that can only open a top-level item, so an unclosed brace spoils only its own item. Each item is
parsed and lowered on its own and kept; after an edit only the items whose text changed are parsed
again, the others are moved to their new lines in place. The passes then run over the assembled
agent as `compile_source` runs them. A syntax error costs only the item it is in: the others still
reach the passes, so one typo does not hide every other diagnostic.
"""

from __future__ import annotations

import bisect
import gc
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from specc import ast, codes
from specc.compiler import Compilation, compile_source
from specc.context import Context
from specc.diagnostics import Diagnostic, Label, Reporter
from specc.lowering import Item, assemble, lower_items
from specc.parser import admit, parse

#: What the scan must see to find the items: strings, comments and regexes (whose brackets do not
#: count), brackets and line ends; written to match the grammar's own terminals.
_SCAN = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"|#[^\n]*|/(?:[^/\\\n]|\\[^\n])+/|[{}()\[\]]')
_BRACKET = re.compile(r"[{}()\[\]]")
#: A line that can only open a top-level item: where an item's bracket was left open, the next item
#: starts here all the same.
_RESYNC = re.compile(
    r'[ \t]*(?:action[ \t]+[a-z_]|type[ \t]+[A-Z]|(?:scope|sandbox|limits|workflow|input)[ \t]*\{'
    r'|planner[ \t]+[a-z_]|version[ \t]+")'
)
_FIRST = re.compile(r"[ \t\r\f]*(\S?)")
_WORD = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)(?:[ \t]+([A-Za-z_][A-Za-z0-9_]*))?")
_CLOSER = {"{": "\n}", "(": ")", "[": "]"}
#: The text each item is parsed inside, on the line above it.
_WRAP = "agent a {\n"


@dataclass
class _Cut:
    """Where a chunk lies in the text: its kind (the agent's `head` with its first line, an `item`,
    or the `tail` from the agent's closing brace on), first line (1-based) and offsets; for an item
    cut short by the next one, the brackets it left open (with their lines) and the cutting line."""

    kind: str
    line: int
    start: int
    end: int = 0
    open: tuple[tuple[str, int], ...] = ()
    cut_by: int = 0
    #: the brackets open where it starts
    stack: tuple[tuple[str, int], ...] = ()


@dataclass
class _Chunk:
    """The text of one chunk and what it lowered to, with its spans placed at `line` and `start`."""

    items: list[Item]
    diagnostics: list[Diagnostic]
    #: the `__dict__` of every span inside, to move them when the chunk moves
    spans: list[dict[str, Any]]
    line: int
    start: int
    #: in the head: the agent's name and the span of its `agent` keyword
    name: ast.Name | None = None
    opening: ast.Span | None = None
    #: the first words of an item that does not parse (`action pay`), to spare its dependents
    broken: tuple[str, str] | None = None


@dataclass
class Checker:
    """The incremental checker of one document. Not thread-safe: one caller at a time."""

    path: str
    #: how many chunks the last check parsed anew (the others were reused), for tests and benchmarks
    parsed: int = 0
    _chunks: dict[tuple[str, str, tuple[str, ...]], list[_Chunk]] = field(default_factory=dict)
    _last: tuple[str, list[_Cut]] | None = None

    def check(self, text: str) -> Compilation:
        """The compilation of `text` as `compile_source` gives it, reusing the items that did not
        change; where an item does not parse, the others are still checked."""
        # `compile_source`'s trick for the length of one check (a check frees nothing until it ends,
        # so the cyclic collector's passes would find nothing), paused before anything is allocated
        # and restored whatever happens: a long-lived server goes on collecting between checks.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._check(text)
        finally:
            if collecting:
                gc.enable()

    def _check(self, text: str) -> Compilation:
        reporter = Reporter(self.path)
        admitted = admit(text, reporter)
        if admitted is None or not admitted.strip():
            return compile_source(text, self.path)
        cuts = _cut(admitted, self._last)
        self._last = (admitted, cuts)
        previous, self._chunks, self.parsed = self._chunks, {}, 0
        chunks: list[_Chunk] = []
        for cut in cuts:
            body = admitted[cut.start:cut.end]
            key = (cut.kind, body, tuple(c for c, _ in cut.open))
            reusable = previous.get(key)
            chunk = reusable.pop() if reusable else self._parse(cut, body)
            _move(chunk, cut.line, cut.start)
            self._chunks.setdefault(key, []).append(chunk)
            chunks.append(chunk)
        head = chunks[0]
        if head.name is None or head.opening is None:
            return compile_source(admitted, self.path)  # no agent to hang items on: lark says why
        for cut, after in zip(cuts, cuts[1:], strict=False):
            if cut.cut_by:
                where, word = _word_at(admitted, after.start, cut.cut_by)
                char, line = cut.open[-1]
                reporter.report(codes.UNEXPECTED_TOKEN, where, found=f"`{word}`", expected=f"`{_CLOSER[char][-1]}`",
                                help=f"the `{char}` on line {line} is never closed")
        tail = cuts[-1] if cuts[-1].kind == "tail" else None
        if tail is None:
            closing = _end_span(admitted)
            if not chunks[-1].diagnostics:  # else the last item's own error says it better
                reporter.report(codes.UNEXPECTED_EOF, closing, expected="`}`")
        else:
            at = admitted.index("}", tail.start)
            closing = ast.span(tail.line, at - tail.start + 1, tail.line, at - tail.start + 2, at, at + 1)
        opening = head.opening
        where = ast.span(opening.line, opening.column, closing.line, closing.end_column, opening.start, closing.end)
        agent = assemble(where, head.name, [item for chunk in chunks for item in chunk.items], reporter)
        for chunk in chunks:
            reporter.diagnostics.extend(chunk.diagnostics)
        base_dir = os.path.dirname(os.path.abspath(self.path)) if not self.path.startswith("<") else os.getcwd()
        ctx = Context(agent=agent, file=self.path, reporter=reporter, base_dir=base_dir)
        from specc.passes import PASSES

        for check in PASSES:
            check(ctx)
        found = reporter.diagnostics
        broken = [chunk.broken for chunk in chunks if chunk.broken is not None]
        if broken:
            found = [d for d in found if not any(_follows_from(d, words) for words in broken)]
        return Compilation(self.path, admitted, sorted(found, key=lambda d: d.sort_key), agent, ctx.symbols,
                           base_dir)

    def _parse(self, cut: _Cut, body: str) -> _Chunk:
        """Parse and lower one chunk inside a minimal agent; its spans are those of the wrapped
        text until `_move` places them."""
        self.parsed += 1
        reporter = Reporter(self.path)
        if cut.kind == "head":
            wrapped, line, start = body + "\n}\n", 1, 0
        else:
            closers = "".join(_CLOSER[char] for char, _ in reversed(cut.open))
            wrapped = _WRAP + body + closers + ("\n}\n" if cut.kind == "item" else "")
            line, start = 2, len(_WRAP)
        tree = parse(wrapped, reporter)
        items: list[Item] = []
        name = opening = None
        if tree is not None:
            lowered = lower_items(tree, reporter)
            if lowered is not None:
                name, items = lowered
                first = tree.children[0].first
                if cut.kind == "head" and first is not None:
                    opening = ast.span(first.line, first.column, first.line, first.end_column, first.start_pos,
                                       first.end_pos)
        _clamp(reporter.diagnostics, body, line, start)
        broken = None
        if cut.kind == "item" and not items:
            words = _WORD.match(body.lstrip("\n"))
            broken = (words.group(1), words.group(2) or "") if words else None
        roots: list[Any] = [items, reporter.diagnostics, name, opening]
        return _Chunk(items, reporter.diagnostics, _spans_of(roots), line, start,
                      name if cut.kind == "head" else None, opening, broken)


def _cut(text: str, before: tuple[str, list[_Cut]] | None = None) -> list[_Cut]:
    """The chunks of `text`. Given the text and chunks of the last check, the text both share before
    the edit keeps its chunks and the scan stops where it meets, after the edit, a chunk it already
    had (moved by the edit's length); so a keystroke costs the chunk it is in, not the file."""
    cuts: list[_Cut] = []
    stack: list[tuple[str, int]] = []
    in_tail = False
    here, number = 0, 1
    old: list[_Cut] = []
    resume_after = shift = lines = 0
    if before is not None and before[1]:
        old_text, old = before
        same = _common_prefix(old_text, text)
        resume_after = len(text) - _common_suffix(old_text, text, limit=min(len(old_text), len(text)) - same)
        shift = len(text) - len(old_text)
        lines = text.count("\n") - old_text.count("\n")
        # one chunk earlier than the edit: the chunk before it ends, or is cut short, by the edited line
        at = max(0, bisect.bisect_right([c.start for c in old], same) - 2)
        if at > 0:
            cuts = [replace(c) for c in old[:at]]
            restart = old[at]
            here, number = restart.start, restart.line
            stack = list(restart.stack)
        old_starts = {c.start + shift: i for i, c in enumerate(old) if c.start + shift > resume_after}
    if not cuts:
        cuts = [_Cut("head", 1, 0)]
        old_starts = {}
    for line in text[here:].split("\n"):  # the parser counts lines by "\n" alone
        if stack and not in_tail and here:
            if len(stack) == 1:
                first = line.lstrip(" \t\f")[:1]
                if first and first not in "#\r":
                    cuts[-1].end = here
                    in_tail = first == "}"
                    index = old_starts.get(here)
                    if index is not None and old[index].stack == tuple(stack):
                        cuts.extend(_moved(c, shift, lines) for c in old[index:])
                        return cuts
                    cuts.append(_Cut("tail" if in_tail else "item", number, here, stack=tuple(stack)))
            elif cuts[-1].kind == "item" and _RESYNC.match(line):
                cuts[-1].end, cuts[-1].open = here, tuple(stack[1:])
                del stack[1:]
                cuts.append(_Cut("item", number, here, stack=tuple(stack)))
                cuts[-2].cut_by = number
        if _BRACKET.search(line):
            for found in _SCAN.finditer(line):
                token = found.group()
                if token in "{([":
                    stack.append((token, number))
                elif token in "})]" and stack:
                    stack.pop()
        here += len(line) + 1
        number += 1
    cuts[-1].end = len(text)
    if cuts[-1].kind == "item":
        cuts[-1].open = tuple(stack[1:])
    return cuts


def _moved(cut: _Cut, shift: int, lines: int) -> _Cut:
    return replace(cut, line=cut.line + lines, start=cut.start + shift, end=cut.end + shift,
                   cut_by=cut.cut_by + lines if cut.cut_by else 0,
                   open=tuple((c, n + lines if n >= cut.line else n) for c, n in cut.open))


def _common_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    low, high = 0, max(0, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:] == b[len(b) - middle:]:
            low = middle
        else:
            high = middle - 1
    return low


def _move(chunk: _Chunk, line: int, start: int) -> None:
    """Place a chunk's spans at `line`, in place. Only lines and columns are kept exact: columns
    never change (a chunk starts a line) and lines change only when a line is added or removed
    above, while the offsets change with every keystroke above and nothing the server or the
    passes read depends on them, so a reused item's `start` and `end` are those it was parsed at."""
    lines = line - chunk.line
    if lines:
        for span in chunk.spans:
            span["line"] += lines
            span["end_line"] += lines
        chunk.line = line
    chunk.start = start


def _spans_of(roots: list[Any]) -> list[dict[str, Any]]:
    """The `__dict__` of every distinct span reachable from `roots` (nodes, items, diagnostics)."""
    found: dict[int, dict[str, Any]] = {}
    stack = list(roots)
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is ast.Span:
            found[id(value)] = value.__dict__
        elif isinstance(value, ast.Node):
            stack.extend(value.__dict__.values())
        elif kind is list or isinstance(value, tuple):
            stack.extend(value)
        elif kind is dict:
            stack.extend(value.values())
        elif kind is Diagnostic:
            stack.append(value.span)
            stack.extend(value.labels)
        elif kind is Label:
            stack.append(value.span)
    return list(found.values())


def _clamp(diagnostics: list[Diagnostic], body: str, line: int, start: int) -> None:
    """A syntax error found in the brackets added to close a chunk points at the chunk's last
    character instead."""
    kept = body.rstrip()
    if not kept:
        return
    last = line + kept.count("\n")
    column = len(kept) - (kept.rfind("\n") + 1)
    for diagnostic in diagnostics:
        span = diagnostic.span
        if (span.line, span.column) > (last, column):
            offset = start + len(kept) - 1
            span.__dict__.update(line=last, column=max(1, column), end_line=last, end_column=max(1, column) + 1,
                                 start=offset, end=offset + 1)


def _word_at(text: str, begin: int, line: int) -> tuple[ast.Span, str]:
    """The first word of the line that starts at `begin`, and its span."""
    found = _WORD.match(text, begin)
    assert found is not None
    column = found.start(1) - begin + 1
    return ast.span(line, column, line, column + len(found.group(1)), found.start(1), found.end(1)), found.group(1)


def _end_span(text: str) -> ast.Span:
    kept = text.rstrip()
    line = kept.count("\n") + 1
    column = len(kept) - (kept.rfind("\n") + 1) + 1
    return ast.span(line, column, line, column + 1, len(kept), len(kept))


#: What the passes would report only because an item of this kind was left out for not parsing.
_CASCADES: dict[str, tuple[str, ...]] = {
    "limits": ("missing-limits", "limit-too-small"),
    "scope": ("scope-violation", "path-outside-mount", "undefined-name"),
    "workflow": ("unused-definition", "limit-too-small", "reliability-below-target", "reliability-unknown",
                 "type-mismatch"),
    "planner": ("unused-definition", "limit-too-small", "untrusted-flow", "undefined-name"),
    "on": ("unhandled-failure",),
    "input": ("undefined-name",),
    "output": ("type-mismatch",),
}


def _follows_from(diagnostic: Diagnostic, broken: tuple[str, str]) -> bool:
    """Whether a diagnostic may only follow from leaving out the item that did not parse (an
    action or type whose uses now look undefined, a missing `limits`): such are held back until
    the item parses again. What is used is unknown while an item is missing, so `unused-definition`
    waits too."""
    keyword, name = broken
    slug = diagnostic.code.name
    if slug == "unused-definition":
        return True
    if keyword in ("action", "type"):
        return f"`{name}`" in diagnostic.message and slug in (
            "undefined-name", "fallback-incompatible", "fallback-riskier", "fallback-cycle")
    if keyword == "scope" and slug == "undefined-name":
        return "in the scope" in diagnostic.message
    if keyword == "input" and slug == "undefined-name":
        return "input" in diagnostic.message
    if keyword == "workflow" and slug == "type-mismatch":
        return "never returns" in diagnostic.message
    return slug in _CASCADES.get(keyword, ())
