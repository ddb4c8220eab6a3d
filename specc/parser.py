"""From bytes to a parse tree: decoding, the LALR parser, and syntax errors in plain words.

Parsing runs a small driver of this module over tables taken from lark's analysis of the grammar
and cached on disk: it lexes contextually, as lark does, and reduces straight into `Node`s, twice
as fast as lark's own loop and without importing lark at all. Text the driver refuses goes to lark,
whose exceptions say what was expected, so every syntax error is worded by one code path.
"""

from __future__ import annotations

import functools
import marshal
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from specc import codes
from specc.ast import Span, span
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
    "_ELSE": "`else`",
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


# --- the parse tree ----------------------------------------------------------------------------


class Tok:
    """A token: the name of its terminal, its text, and where it is (1-based lines and columns with
    an exclusive end, and offsets)."""

    __slots__ = ("type", "value", "start_pos", "line", "column", "end_line", "end_column", "end_pos")

    def __init__(self, type: str, value: str, start_pos: int, line: int, column: int, end_line: int,
                 end_column: int, end_pos: int) -> None:
        self.type = type
        self.value = value
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Tok({self.type!r}, {self.value!r})"


class Node:
    """A node of the parse tree: the rule (or alias) that made it, its children (tokens, nodes, and
    None for an optional part left out), and its first and last token (None for a node that
    covers no text). `outer_first` and `outer_last` are lark's "container": a node a `?rule`
    passed up as it was also covers the tokens of that rule (the brackets of `(expr)`), and its
    parent's span starts and ends with them."""

    __slots__ = ("data", "children", "first", "last", "outer_first", "outer_last")

    def __init__(self, data: str, children: list[Any], first: Tok | None, last: Tok | None) -> None:
        self.data = data
        self.children = children
        self.first = self.outer_first = first
        self.last = self.outer_last = last

    def __repr__(self) -> str:
        return f"Node({self.data!r}, {self.children!r})"


# --- tables ----------------------------------------------------------------------------------------

#: Bump when the layout of the cached tables changes.
_TABLES_FORMAT = 2
#: Brackets inside which newlines are dropped, so that long calls and lists may span lines.
_OPEN = frozenset({"LPAR", "LSQB", "LESSTHAN"})
_CLOSE = frozenset({"RPAR", "RSQB", "MORETHAN"})
#: Braces nest too (blocks, record literals) and count against MAX_DEPTH apart from the brackets,
#: since newlines inside them still end statements.
_BRACES = {"LBRACE": 1, "RBRACE": -1}

Reduce = Callable[[list[Any]], Any]


class _Refused(Exception):
    """The driver met text it cannot parse; lark says why."""


class _Tables:
    """The grammar's LALR tables and per-state lexers, from lark's analysis."""

    def __init__(self, data: dict[str, Any]) -> None:
        #: state -> terminal or rule name -> (shift?, next state or rule index)
        self.states: dict[int, dict[str, tuple[bool, int]]] = data["states"]
        self.start: int = data["start"]
        self.end: int = data["end"]
        #: rule index -> (children to pop, rule name to go to, how to build the node)
        self.rules = [(size, origin, _reducer(*shape)) for size, origin, shape in data["rules"]]
        self.lexers = _Lexers(data["lexer_of_state"], data["lexers"])


class _Lexers(dict[int, Any]):
    """The lexer of each parser state, compiled on first use: a state's regex accepts only the
    terminals the parser can take there, which is what lets names reuse most keywords."""

    def __init__(self, lexer_of_state: dict[int, int], specs: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self._of_state = lexer_of_state
        self._specs = specs
        self._compiled: dict[int, tuple[Any, ...]] = {}

    def __missing__(self, state: int) -> tuple[Any, ...]:
        index = self._of_state[state]
        lexer = self._compiled.get(index)
        if lexer is None:
            pattern, flags, ignore, newlines, keywords, compiled = self._specs[index]
            lexer = (_regex(pattern, flags, compiled).match, frozenset(ignore), frozenset(newlines), keywords)
            self._compiled[index] = lexer
        self[state] = lexer
        return lexer


def _regex(pattern: str, flags: int, compiled: tuple[Any, ...] | None) -> re.Pattern[str]:
    """A lexer's regex from the form `_compiled_form` saved, else compiled by `re`."""
    if compiled is not None:
        try:
            import _sre  # type: ignore[import-not-found]

            return _sre.compile(pattern, *compiled)  # type: ignore[no-any-return]
        except (TypeError, ValueError, RuntimeError):
            pass  # not what this interpreter's engine takes: compile it
    return re.compile(pattern, flags)


def _compiled_form(pattern: str, flags: int) -> tuple[Any, ...] | None:
    """What `re.compile` hands the regex engine for `pattern`, as plain data for `marshal`, so that
    a later process skips `re`'s parser and compiler (pure Python: compiling the lexers of the states
    a small spec visits is most of the time its check takes); None when `re`'s internals are not
    the ones this knows, or the engine would not build the same regex from it."""
    try:
        import _sre
        from re import _compiler, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
        state = parsed.state
        indexgroup: list[str | None] = [None] * state.groups
        for group, number in state.groupdict.items():
            indexgroup[number] = str(group)
        form = (int(flags | state.flags),
                [int(word) for word in _compiler._code(parsed, flags)],  # plain ints: `marshal` takes no others
                int(state.groups - 1),
                {str(group): int(number) for group, number in state.groupdict.items()},
                tuple(indexgroup))
        rebuilt, reference = _sre.compile(pattern, *form), re.compile(pattern, flags)
    except (AttributeError, ImportError, TypeError, ValueError, RuntimeError, re.error):
        return None
    same = (rebuilt.flags, rebuilt.groups, rebuilt.groupindex) == (reference.flags, reference.groups,
                                                                     reference.groupindex)
    return form if same else None


def _reducer(name: str, expand1: bool, include: tuple[tuple[int, bool, int], ...], trailing: int) -> Reduce:
    """What lark's tree builder does for one rule (filter out punctuation, splice `_rule`s, put None
    where an optional part is missing, pass a `?rule`'s only child up, propagate positions), as one
    function."""
    plain = not trailing and all(i == at and not splice and not nones
                                 for at, (i, splice, nones) in enumerate(include))
    size = len(include)

    def reduce(children: list[Any]) -> Any:
        first = last = None
        for child in children:
            if type(child) is Tok:
                first = child
                break
            if child.outer_first is not None:
                first = child.outer_first
                break
        if first is not None:
            for child in reversed(children):
                if type(child) is Tok:
                    last = child
                    break
                if child.outer_last is not None:
                    last = child.outer_last
                    break
        if plain and len(children) == size:
            kept = children
        else:
            kept = []
            for i, splice, nones in include:
                if nones:
                    kept += [None] * nones
                if not splice:
                    kept.append(children[i])
                elif kept:
                    kept += children[i].children
                else:  # a left-recursive `_rule` (a repetition): grow its list, do not copy it
                    kept = children[i].children
            if trailing:
                kept += [None] * trailing
        if expand1 and len(kept) == 1:
            only = kept[0]
            if type(only) is Node and first is not None:
                if only.first is None:
                    only.first, only.last = first, last
                only.outer_first, only.outer_last = first, last
            return only
        return Node(name, kept, first, last)

    return reduce


def _grammar() -> str:
    # Beside the package's own module, read directly: importing `importlib.resources` costs about as
    # much as the whole check of a small spec.
    from specc import grammar

    with open(os.path.join(os.path.dirname(grammar.__file__), "agent.lark"), encoding="utf-8") as handle:
        return handle.read()


@functools.cache
def tables() -> _Tables | None:
    """The parser's tables, read from the cache or built from lark's analysis (and cached); None
    when lark's internals are not what `_table_data` knows, and lark then parses alone."""
    # The file is named by checksums (hashlib would load OpenSSL, a tenth of the time of a small
    # check) and holds the whole text it was built from, compared before the tables are used.
    source = f"{_TABLES_FORMAT} {sys.version_info[:2]} {_grammar()}"
    data_of_source = source.encode()
    key = f"{zlib.crc32(data_of_source):08x}{zlib.adler32(data_of_source):08x}"
    folder = cache_dir()
    path = os.path.join(folder, f"tables-{key}.marshal") if folder else None
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = marshal.loads(handle.read())  # one read: `load` reads a file in small pieces
            if isinstance(data, dict) and data.get("key") == key and data.get("source") == source:
                return _Tables(data)
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            pass  # no cache yet, or a stale or damaged one: rebuild it
    try:
        data = _table_data(parser(), key)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    data["source"] = source
    if path is not None:
        try:
            _write_atomically(path, marshal.dumps(data))
        except ValueError:
            pass  # something `marshal` cannot write: parse without a cache
    return _Tables(data)


def _table_data(lark: Lark, key: str) -> dict[str, Any]:
    """Everything the driver needs from lark's analysis, as plain data for `marshal`."""
    from lark.lexer import UnlessCallback
    from lark.parsers.lalr_analysis import Shift

    frontend: Any = lark.parser
    table = frontend.parser.parser.parse_table
    rules = list(lark.rules)
    index = {id(rule): i for i, rule in enumerate(rules)}
    states = {
        state: {str(symbol): (True, arg) if action is Shift else (False, index[id(arg)])
                for symbol, (action, arg) in actions.items()}
        for state, actions in table.states.items()
    }
    shapes = []
    for rule in rules:
        options = rule.options
        expansion = rule.expansion
        empty = options.empty_indices if lark.options.maybe_placeholders else None
        nones = ([len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")] if empty
                 else [0] * (len(expansion) + 1))
        include, pending = [], 0
        for i, symbol in enumerate(expansion):
            pending += nones[i]
            if options.keep_all_tokens or not (symbol.is_term and getattr(symbol, "filter_out", False)):
                splice = not symbol.is_term and symbol.name.startswith("_")  # a `_rule`, spliced into its parent
                include.append((i, splice, pending))
                pending = 0
        name = rule.alias or options.template_source or rule.origin.name
        shape = (str(name), bool(options.expand1 and not rule.alias), tuple(include), pending + nones[len(expansion)])
        shapes.append((len(expansion), str(rule.origin.name), shape))  # lark's names may be `Token`s
    contextual = frontend.lexer.lexer
    specs: list[tuple[Any, ...]] = []
    seen: dict[int, int] = {}
    lexer_of_state = {}
    for state, lexer in contextual.lexers.items():
        if id(lexer) not in seen:
            mres = lexer.scanner._mres
            if len(mres) != 1:
                raise ValueError("a lexer with more than one regex")  # more than 100 terminals in a state
            keywords: dict[str, dict[str, str]] = {}
            for kind, callback in lexer.callback.items():
                if type(callback) is not UnlessCallback:
                    raise ValueError(f"an unexpected token callback for {kind}")
                words = keywords[str(kind)] = {}
                for terminal in callback.scanner.terminals:
                    if terminal.pattern.type != "str" or terminal.pattern.flags:
                        raise ValueError(f"keyword {terminal.name} is not a plain string")
                    words[str(terminal.pattern.value)] = str(terminal.name)
            seen[id(lexer)] = len(specs)
            pattern, flags = str(mres[0].pattern), int(mres[0].flags)
            specs.append((pattern, flags, tuple(map(str, lexer.ignore_types)), tuple(map(str, lexer.newline_types)),
                          keywords, _compiled_form(pattern, flags)))
        lexer_of_state[state] = seen[id(lexer)]
    return {"key": key, "states": states, "start": table.start_states["start"], "end": table.end_states["start"],
            "rules": shapes, "lexers": specs, "lexer_of_state": lexer_of_state}


def _drive(t: _Tables, text: str) -> Node:
    """Lex and parse `text` with the tables; `_Refused` where it does not parse."""
    states, rules, lexers = t.states, t.rules, t.lexers
    state_stack = [t.start]
    value_stack: list[Any] = []
    push_state, push_value = state_stack.append, value_stack.append
    pos, line, line_start, length = 0, 1, 0, len(text)
    depth = braces = 0
    kind = ""
    while True:
        if pos < length:
            match, ignore, newlines, keywords = lexers[state_stack[-1]]
            found = match(text, pos)
            if found is None:
                raise _Refused
            value: str = found.group()
            kind = found.lastgroup
            end = pos + len(value)
            if kind in newlines and "\n" in value:
                end_line, end_line_start = line + value.count("\n"), pos + value.rindex("\n") + 1
            else:
                end_line, end_line_start = line, line_start
            if kind in ignore or (depth and kind == "_NL"):
                pos, line, line_start = end, end_line, end_line_start
                continue
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            token = Tok(kind, value, pos, line, pos - line_start + 1, end_line, end - end_line_start + 1, end)
            if kind in _OPEN:
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused
            elif kind in _CLOSE and depth:
                depth -= 1
            elif kind in _BRACES:
                braces += _BRACES[kind]
                if braces > MAX_DEPTH:
                    raise _Refused
            pos, line, line_start = end, end_line, end_line_start
        else:
            kind = "$END"
        while True:
            try:
                shift, arg = states[state_stack[-1]][kind]
            except KeyError:
                raise _Refused from None
            if shift:
                if kind == "$END":
                    raise _Refused
                push_state(arg)
                push_value(token)
                break
            size, origin, reduce = rules[arg]
            if size:
                children = value_stack[-size:]
                del state_stack[-size:]
                del value_stack[-size:]
            else:
                children = []
            push_value(reduce(children))
            push_state(states[state_stack[-1]][origin][1])
            if kind == "$END" and state_stack[-1] == t.end:
                return value_stack[-1]  # type: ignore[no-any-return]


# --- the cache folder ------------------------------------------------------------------------------


def cache_dir() -> str | None:
    """Where the parser's tables are cached: `$XDG_CACHE_HOME/specc` (`~/.cache/specc`), else a
    folder of the user's own under the temporary folder; None when neither is usable. A folder is
    used only when it is the user's and nobody else may write to it, since its files are loaded."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = getattr(os, "getuid", lambda: None)()
    for folder in _cache_folders(base, uid):
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            info = os.stat(folder)
        except OSError:
            continue
        if (uid is None or info.st_uid == uid) and not info.st_mode & 0o022 and os.access(folder, os.W_OK):
            return folder
    return None


def _cache_folders(base: str, uid: int | None) -> Iterator[str]:
    yield os.path.join(base, "specc")
    import tempfile  # only when the first will not do

    yield os.path.join(tempfile.gettempdir(), f"specc-{uid}")


def _write_atomically(path: str, data: bytes) -> None:
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tables-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # a cache that cannot be written only costs time


# --- lark, for what does not parse -----------------------------------------------------------------


@functools.cache
def parser() -> Lark:
    """lark's LALR parser for the grammar, built once per process and cached on disk by lark; used
    to build the tables and to word syntax errors."""
    from lark import Lark

    folder = cache_dir()
    grammar = _grammar()
    cache: str | bool = False
    if folder is not None:
        import hashlib

        cache = os.path.join(folder, f"lark-{hashlib.sha256(grammar.encode()).hexdigest()[:16]}.cache")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_BracketNewlines(),
        cache=cache,
    )


class _TooDeep(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


class _BracketNewlines:
    """lark's side of what the driver does with brackets: drops newlines inside ( ) [ ] < > so that
    long calls may span lines, and refuses absurd nesting before it reaches any recursive code."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = braces = 0
        for token in stream:
            kind = token.type
            if kind in _OPEN:
                depth += 1
                if depth > MAX_DEPTH:
                    raise _TooDeep(token)
            elif kind in _CLOSE:
                depth = max(0, depth - 1)
            elif kind in _BRACES:
                braces += _BRACES[kind]
                if braces > MAX_DEPTH:
                    raise _TooDeep(token)
            elif kind == "_NL" and depth:
                continue
            yield token


def parse(text: str, reporter: Reporter) -> Node | None:
    """Parse `text`, reporting the first syntax error in words; None when it does not parse."""
    if not text.strip():
        reporter.report(codes.EMPTY_FILE, _point(1, 1))
        return None
    driver = tables()
    if driver is not None:
        try:
            return _drive(driver, text)
        except _Refused:
            pass
    tree = _diagnose(text, reporter)
    return _from_lark(tree) if tree is not None else None


def _diagnose(text: str, reporter: Reporter) -> Tree[Token] | None:
    """Parse with lark to say what is wrong; lark's tree when it accepts the text (only without
    tables: lark refuses what the driver refuses)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lark = parser()
    try:
        return lark.parse(text)
    except _TooDeep as exc:
        reporter.report(codes.TOO_DEEP, _token_span(exc.token), limit=MAX_DEPTH)
    except UnexpectedToken as exc:
        expected = _expected(lark, _acceptable(exc))
        missing = _not_in_language(text, exc.token.start_pos) if exc.token.type != "$END" else None
        if missing is not None:
            where, what, instead = missing
            reporter.report(codes.NOT_IN_LANGUAGE, where, what=what, instead=instead)
        elif exc.token.type == "$END":
            reporter.report(codes.UNEXPECTED_EOF, _end_span(text), expected=expected)
        else:
            reporter.report(
                codes.UNEXPECTED_TOKEN, _token_span(exc.token),
                found=_describe_token(exc.token), expected=expected,
                help=_suggest(lark, str(exc.token), _acceptable(exc)),
            )
    except UnexpectedCharacters as exc:
        at = exc.pos_in_stream or 0
        missing = _not_in_language(text, at)
        if missing is not None:
            where, what, instead = missing
            reporter.report(codes.NOT_IN_LANGUAGE, where, what=what, instead=instead)
            return None
        char = text[at] if at < len(text) else ""
        where = span(exc.line, exc.column, exc.line, exc.column + 1, at, at + 1)
        shown = char if char.isprintable() and char != "`" else repr(char)[1:-1]
        reporter.report(codes.UNEXPECTED_CHARACTER, where, char=shown,
                        expected=_expected(lark, {str(name) for name in exc.allowed or ()}))
    except UnexpectedEOF as exc:
        reporter.report(codes.UNEXPECTED_EOF, _end_span(text),
                        expected=_expected(lark, {str(name) for name in exc.expected or ()}))
    return None


#: Statements other languages have and this one does not: the word, what it is, what to write.
_NOT_IN_LANGUAGE: dict[str, tuple[str, str]] = {
    "while": ("`while` loop: every loop is bounded so that `specc check` can count its steps",
              "write `for NAME in LIST { ... }` over a list whose type has a maximum count, such as "
              "`list<Alert>(..50)`"),
    "loop": ("`loop`: every loop is bounded so that `specc check` can count its steps",
             "write `for NAME in LIST { ... }` over a list whose type has a maximum count"),
    "elif": ("`elif`", "write `} else if COND {` on the line that closes the `if`"),
    "elseif": ("`elseif`", "write `} else if COND {` on the line that closes the `if`"),
    "elsif": ("`elsif`", "write `} else if COND {` on the line that closes the `if`"),
    "else": ("`else` on a line of its own", "write `} else {` on the line that closes the `if`"),
    "break": ("`break`: a loop always goes over every item of its list",
              "to skip items, wrap the loop's body in `if COND { ... }`; to end the run, `return` a value"),
    "continue": ("`continue`: a loop always runs its whole body for every item",
                 "wrap the rest of the body in `if COND { ... }`"),
    "def": ("function definitions", "declare an `action` (a tool run in its own sandbox) and call it from the "
            "`workflow`"),
    "fn": ("function definitions", "declare an `action` (a tool run in its own sandbox) and call it from the "
           "`workflow`"),
    "func": ("function definitions", "declare an `action` (a tool run in its own sandbox) and call it from the "
             "`workflow`"),
    "function": ("function definitions", "declare an `action` (a tool run in its own sandbox) and call it from "
                 "the `workflow`"),
}
_STATEMENT_WORD = re.compile(r"[ \t\f]*(?:\}[ \t\f]*)?([a-z]+)\b")


def _not_in_language(text: str, offset: int) -> tuple[Span, str, str] | None:
    """When the parser stopped at (or right after) the first word of a statement that this language
    does not have (`while`, `elif`, `break`, `def`...): where that word is, what it is, and what to
    write instead."""
    line_start = text.rfind("\n", 0, offset) + 1
    match = _STATEMENT_WORD.match(text, line_start)
    if match is None or match.group(1) not in _NOT_IN_LANGUAGE:
        return None
    start, end = match.span(1)
    if offset != start and text[end:offset].strip():
        return None  # the parser stopped further on: the word is a name, and the mistake is elsewhere
    line = text.count("\n", 0, start) + 1
    column = start - line_start + 1
    what, instead = _NOT_IN_LANGUAGE[match.group(1)]
    return span(line, column, line, column + end - start, start, end), what, instead


def _from_lark(tree: Any) -> Any:
    """lark's tree as `Node`s and `Tok`s, the shape the driver builds."""
    from lark import Token, Tree

    if isinstance(tree, Token):
        return Tok(tree.type, str(tree), tree.start_pos or 0, tree.line or 1, tree.column or 1,
                   tree.end_line or 1, tree.end_column or 1, tree.end_pos or 0)
    if not isinstance(tree, Tree):
        return tree
    node = Node(str(tree.data), [_from_lark(child) for child in tree.children], None, None)
    meta = tree.meta
    if not meta.empty:
        node.first = node.outer_first = Tok("", "", meta.start_pos, meta.line, meta.column, meta.line,
                                            meta.column, meta.start_pos)
        node.last = node.outer_last = Tok("", "", meta.end_pos, meta.end_line, meta.end_column, meta.end_line,
                                          meta.end_column, meta.end_pos)
    return node


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
        return span(line, column, line, column + 1, token.start_pos or 0, (token.start_pos or 0) + 1)
    return span(line, column, token.end_line or line, token.end_column or column + 1, token.start_pos or 0,
                token.end_pos or 0)


def _end_span(text: str) -> Span:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return span(line, column, line, column + 1, len(stripped), len(stripped))


def _point(line: int, column: int) -> Span:
    return span(line, column, line, column + 1)


def _position_of_text(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _position_of(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = len(before) - (before.rfind(b"\n") + 1) + 1
    return line, column
