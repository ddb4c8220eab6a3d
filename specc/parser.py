"""From bytes to a parse tree: decoding, the cached LALR parser, and syntax errors in plain words.

The grammar is loaded once per process and its analysis cached on disk by lark, so an editor that
runs `specc check` on every keystroke pays for it once.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from specc import codes
from specc.ast import Span
from specc.diagnostics import Reporter

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

#: The largest spec accepted; real specs are a few kilobytes.
MAX_SOURCE_BYTES = 8 * 1024 * 1024
#: How deep brackets and expressions may nest before the spec is refused.
MAX_DEPTH = 200

#: Terminal names in words a user knows.
TERMINAL_WORDS = {
    "NAME": "a name",
    "TYPE_NAME": "a type name such as `Invoice`",
    "ENV_NAME": "an env var name",
    "STRING": "a string",
    "REGEX": "a `/regex/`",
    "DURATION": "a duration such as `30s`",
    "SIZE": "a size such as `256MiB`",
    "NUMBER": "a number",
    "INT": "a whole number",
    "_NL": "a new line",
    "MODE": "`read_only` or `read_write`",
    "EFFECT": "`read`, `write` or `destructive`",
    "RISK": "`low`, `medium` or `high`",
    "PRIM": "a type such as `string`",
    "CMP_OP": "a comparison",
    "OPTIONAL": "`?`",
    "SECRET": "`secret`",
    "MINUS": "`-`",
    "RANGE_DOTS": "`..`",
    "$END": "the end of the file",
}


def decode(data: bytes, reporter: Reporter) -> str | None:
    """Decode a spec's bytes as UTF-8, reporting why not where it cannot."""
    if len(data) > MAX_SOURCE_BYTES:
        reporter.report(codes.TOO_LARGE, _point(1, 1), size=len(data), limit=MAX_SOURCE_BYTES)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position_of(data, exc.start)
        reporter.report(codes.NOT_UTF8, _point(line, column), byte=data[exc.start], offset=exc.start)
        return None
    return admit(text, reporter)


def admit(text: str, reporter: Reporter) -> str | None:
    """The text of a spec without its byte order mark, or None when no pass may see it: a NUL
    character, or a lone surrogate (only a caller passing `str` can hand one over)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line, column = _position_of_text(text, text.index("\x00"))
        reporter.report(codes.NUL_BYTE, _point(line, column))
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line, column = _position_of_text(text, exc.start)
        reporter.report(codes.NOT_UTF8_TEXT, _point(line, column), point=ord(text[exc.start]))
        return None
    return text


@functools.cache
def parser() -> Lark:
    """The LALR parser, built once per process; lark caches its analysis on disk."""
    from lark import Lark

    grammar = resources.files("specc.grammar").joinpath("agent.lark").read_text("utf-8")
    cache_dir = os.environ.get("XDG_CACHE_HOME") or os.path.join(tempfile.gettempdir())
    cache_file: str | bool = True
    if os.path.isdir(cache_dir) and os.access(cache_dir, os.W_OK):
        import hashlib

        digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
        cache_file = os.path.join(cache_dir, f"specc-grammar-{digest}-{os.getuid()}.lark")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_BracketNewlines(),
        cache=cache_file,
    )


class _TooDeep(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


class _BracketNewlines:
    """Drops newlines inside ( ) [ ] so that long calls may span lines, and refuses absurd nesting
    before it reaches any recursive code."""

    always_accept = ("_NL",)
    _open = frozenset({"LPAR", "LSQB", "LESSTHAN"})
    _close = frozenset({"RPAR", "RSQB", "MORETHAN"})

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for token in stream:
            kind = token.type
            if kind in self._open:
                depth += 1
                if depth > MAX_DEPTH:
                    raise _TooDeep(token)
            elif kind in self._close:
                depth = max(0, depth - 1)
            elif kind == "_NL" and depth:
                continue
            yield token


def parse(text: str, reporter: Reporter) -> Tree | None:
    """Parse `text`, reporting the first syntax error in words; None when it does not parse."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if not text.strip():
        reporter.report(codes.EMPTY_FILE, _point(1, 1))
        return None
    lark = parser()
    try:
        return lark.parse(text)
    except _TooDeep as exc:
        reporter.report(codes.TOO_DEEP, _token_span(exc.token), limit=MAX_DEPTH)
    except UnexpectedToken as exc:
        expected = _expected(lark, _acceptable(exc))
        if exc.token.type == "$END":
            reporter.report(codes.UNEXPECTED_EOF, _end_span(text), expected=expected)
        else:
            reporter.report(
                codes.UNEXPECTED_TOKEN, _token_span(exc.token),
                found=_describe_token(exc.token), expected=expected,
                help=_suggest(lark, str(exc.token), _acceptable(exc)),
            )
    except UnexpectedCharacters as exc:
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = Span.model_construct(
            line=exc.line, column=exc.column, end_line=exc.line, end_column=exc.column + 1,
            start=exc.pos_in_stream, end=exc.pos_in_stream + 1,
        )
        shown = char if char.isprintable() and char != "`" else repr(char)[1:-1]
        reporter.report(
            codes.UNEXPECTED_CHARACTER, span, char=shown, expected=_expected(lark, exc.allowed)
        )
    except UnexpectedEOF as exc:
        reporter.report(codes.UNEXPECTED_EOF, _end_span(text), expected=_expected(lark, exc.expected))
    return None


def _acceptable(exc: Any) -> set[str]:
    """What the parser really accepts where it stopped: the lexer also offers the newline it
    always accepts, which is noise unless the grammar wants one there."""
    expected = set(exc.expected or ())
    state = getattr(exc, "state", None)
    try:
        accepted = set(state.parse_conf.parse_table.states[state.position])  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        return expected
    return expected & accepted or expected


def _expected(lark: Lark, names: set[str] | frozenset[str] | None) -> str:
    words: list[str] = []
    by_name = {t.name: t for t in lark.terminals}
    for name in names or ():
        if name in TERMINAL_WORDS:
            words.append(TERMINAL_WORDS[name])
            continue
        terminal = by_name.get(name)
        if terminal is not None and terminal.pattern.type == "str":
            words.append(f"`{terminal.pattern.value}`")
        elif not name.startswith("_") and name not in ("COMMENT", "WS_INLINE"):
            words.append(name.lower())
    words = sorted(set(words), key=lambda w: (w.startswith("a ") or w.startswith("the "), w))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    if len(words) > 24:
        return "one of " + ", ".join(words[:24]) + f" or {len(words) - 24} more"
    return "one of " + ", ".join(words[:-1]) + " or " + words[-1]


#: The words of terminals that are a closed choice, for "did you mean".
_CHOICES = {
    "PRIM": ("string", "int", "number", "bool", "path", "url"),
    "EFFECT": ("read", "write", "destructive"),
    "RISK": ("low", "medium", "high"),
    "MODE": ("read_only", "read_write"),
    "SECRET": ("secret",),
}


def _suggest(lark: Lark, found: str, names: set[str]) -> str | None:
    """"did you mean" for a misspelt keyword or type, from what the parser accepts here."""
    from specc.diagnostics import did_you_mean

    if not found.isidentifier():
        return None
    by_name = {t.name: t for t in lark.terminals}
    words: set[str] = set()
    for name in names:
        words.update(_CHOICES.get(name, ()))
        terminal = by_name.get(name)
        if terminal is not None and terminal.pattern.type == "str" and terminal.pattern.value.isidentifier():
            words.add(terminal.pattern.value)
    return did_you_mean(found, words)


def _describe_token(token: Token) -> str:
    if token.type == "_NL":
        return "end of line"
    value = str(token)
    if len(value) > 40:
        value = value[:37] + "..."
    return f"`{value}`"


def _token_span(token: Token) -> Span:
    line = token.line or 1
    column = token.column or 1
    if token.type == "_NL":  # point at the end of the line, not at the next one
        return Span.model_construct(
            line=line, column=column, end_line=line, end_column=column + 1,
            start=token.start_pos or 0, end=(token.start_pos or 0) + 1,
        )
    return Span.model_construct(
        line=line, column=column, end_line=token.end_line or line,
        end_column=token.end_column or column + 1,
        start=token.start_pos or 0, end=token.end_pos or 0,
    )


def _end_span(text: str) -> Span:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span.model_construct(
        line=line, column=column, end_line=line, end_column=column + 1,
        start=len(stripped), end=len(stripped),
    )


def _point(line: int, column: int) -> Span:
    return Span.model_construct(line=line, column=column, end_line=line, end_column=column + 1)


def _position_of_text(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _position_of(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = len(before) - (before.rfind(b"\n") + 1) + 1
    return line, column
