"""The canonical layout of `.agent` files: `format_source(text) -> text`, for `specc fmt` and the
language server's formatting.

The printer works on the spec's tokens, read back from the compiler's own parse: the tokens the
parse tree keeps, plus the keywords, punctuation, newlines and comments between them (which the
tree drops, and which only whitespace, comments and fixed words can fill). Layout depends only on
the tokens and the comments, never on the old spacing, so formatting is idempotent and leaves the
meaning (and so the IR) unchanged. A new statement kind needs nothing here as long as it is made of
tokens on one line and blocks in `{ }`; a new bracket or spacing rule is one entry in the tables
below.

The layout, all of it:
- two spaces of indentation per open block; a block's `{` ends its line, its `}` starts one, an
  empty block is `{}`;
- one space between tokens, none inside `( )`, `[ ]`, `< >` and record literals `{k: v}`, none
  before `,` `:` `?` `)` and around `.` and `..`, none between a name and its `(`;
- at most one blank line between statements, none after a `{` or before a `}`, none at either end;
- a comment on its own line stays on its own line, indented as the code around it; a comment
  after code stays after that code, and the comments of consecutive lines are aligned two spaces
  after the longest of those lines;
- a bracket that holds a comment, or a list of parameters, arguments or items whose line would
  pass 100 columns when breaking it brings the line back within them, puts one item a line with a
  trailing comma; otherwise a bracket's content is one line, without a trailing comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from specc.diagnostics import CompileError, Reporter
from specc.parser import Node, Tok, admit, parse

#: Lines are kept within this many columns where a list can be broken.
WIDTH = 100
#: One level of block indentation.
INDENT = "  "

#: What fills the text between the tokens the parse tree keeps.
_GAP = re.compile(r"(?P<nl>\r?\n)|(?P<ws>[ \t\f\r]+)|(?P<comment>#[^\n]*)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
                  r"|(?P<punct>->|.)")
#: Brackets that group tokens (newlines inside them are not statement ends), by their opening text.
_PAIRS = {"(": ")", "[": "]", "<": ">"}
#: No space before these (as tokens of the tree's filtered punctuation or terminal types).
_TIGHT_BEFORE = frozenset({")", "]", ">", ",", ":", ".", "RANGE_DOTS", "OPTIONAL"})
#: No space after these.
_TIGHT_AFTER = frozenset({"(", "[", "<", ".", "RANGE_DOTS", "MINUS"})
#: A `(` right after one of these opens a call, a parameter list or a constraint: no space.
_CALLERS = frozenset({"NAME", "PRIM", ">", "len"})


@dataclass(frozen=True)
class _Token:
    """A token as the printer sees it: `kind` is the terminal type for a token the tree keeps, and
    the text itself for punctuation and keywords; `record` marks the braces of a record literal."""

    kind: str
    text: str
    record: bool = False


@dataclass(frozen=True)
class _Comment:
    text: str
    own_line: bool


@dataclass(frozen=True)
class _Break:
    """The end of a statement line, and whether one or more blank lines followed it."""

    blank: bool


@dataclass
class _Group:
    """A bracketed run of tokens: `( )`, `[ ]`, `< >`, or a record literal's `{ }`."""

    open: _Token
    items: list[_Item] = field(default_factory=list)
    close: _Token | None = None
    #: It may end with a comma (parameters, arguments, list and record items).
    listing: bool = False

    @property
    def has_comment(self) -> bool:
        return any(isinstance(i, _Comment) or (isinstance(i, _Group) and i.has_comment) for i in self.items)

    @property
    def has_items(self) -> bool:
        return any(not isinstance(i, _Comment) for i in self.items)


_Item = _Token | _Comment | _Group
_Atom = _Token | _Comment | _Group | _Break


def format_source(source: str) -> str:
    """The canonical layout of a spec's text (module docstring). Pure: no file, no environment.

    A text that does not parse (or that no pass may see: a NUL character, a lone surrogate) raises
    `specc.diagnostics.CompileError`, the exception that carries the compiler's diagnostics, with
    the same diagnostics `compile_source` reports for it (file `<input>`).
    """
    reporter = Reporter("<input>")
    text = admit(source, reporter)
    tree = parse(text, reporter) if text is not None else None
    if text is None or tree is None:
        raise CompileError(reporter.diagnostics)
    return _Printer().layout(_atoms(text, tree))


def format_bytes(data: bytes, path: str) -> str:
    """`format_source` of a file's bytes, for `specc fmt`: bytes that are not UTF-8 (or too large)
    and text that does not parse raise `CompileError` with the diagnostics `specc check` gives,
    located in `path`."""
    from specc.parser import decode
    from specc.record import replace

    reporter = Reporter(path)
    text = decode(data, reporter)
    if text is None:
        raise CompileError(reporter.diagnostics)
    try:
        return format_source(text)
    except CompileError as exc:
        raise CompileError([replace(d, file=path) for d in exc.diagnostics]) from None


# --- from the parse back to tokens -----------------------------------------------------------------


def _kept(tree: Node) -> tuple[list[Tok], set[int]]:
    """The tokens of the tree in source order, and the offsets of record literals' braces."""
    tokens: dict[int, Tok] = {}
    braces: set[int] = set()
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if node.data == "record_lit" and node.first is not None and node.last is not None:
            braces.update((node.first.start_pos, node.last.end_pos - 1))
        for child in node.children:
            if type(child) is Tok:
                tokens[child.start_pos] = child
            elif type(child) is Node:
                stack.append(child)
    return [tokens[k] for k in sorted(tokens)], braces


def _atoms(text: str, tree: Node) -> list[_Atom]:
    """The spec as tokens, bracket groups, comments and statement breaks."""
    kept, braces = _kept(tree)
    top: list[_Atom] = []
    stack: list[_Group] = []
    newlines = 0
    at_line_start = True

    def add(item: _Atom) -> None:
        if stack:
            if not isinstance(item, _Break):
                stack[-1].items.append(item)
        else:
            top.append(item)

    def token(kind: str, value: str, start: int) -> None:
        nonlocal newlines, at_line_start
        if newlines and not stack and top:
            add(_Break(newlines > 1))
        newlines, at_line_start = 0, False
        record = start in braces
        tok = _Token(kind, value, record)
        if value in _PAIRS and kind == value or (record and value == "{"):
            previous = _last_token(stack[-1].items if stack else top)
            listing = record or value == "[" or (value == "(" and previous is not None and previous.kind == "NAME")
            group = _Group(tok, listing=listing)
            add(group)
            stack.append(group)
        elif stack and (value == _PAIRS.get(stack[-1].open.text) and kind == value or (record and value == "}")):
            stack.pop().close = tok
        else:
            add(tok)

    def gap(start: int, end: int) -> None:
        nonlocal newlines, at_line_start
        for found in _GAP.finditer(text, start, end):
            kind, value = found.lastgroup, found.group()
            if kind == "nl":
                newlines += 1
                at_line_start = True
            elif kind == "comment":
                if newlines and not stack and top:
                    add(_Break(newlines > 1))
                add(_Comment(value.rstrip(), own_line=at_line_start))
                newlines, at_line_start = 0, False
            elif kind == "word":
                token(value, value, found.start())
            elif kind == "punct":
                token(value, value, found.start())

    position = 0
    for tok in kept:
        gap(position, tok.start_pos)
        token(tok.type, tok.value, tok.start_pos)
        position = tok.end_pos
    gap(position, len(text))
    return top


def _last_token(items: list[_Item] | list[_Atom]) -> _Token | None:
    for item in reversed(items):
        if isinstance(item, _Token):
            return item
        if isinstance(item, _Group):
            return item.close
        if isinstance(item, _Break):
            return None
    return None


def _space(before: _Token, after: _Token) -> bool:
    """Whether one space separates two tokens on a line."""
    if after.kind in _TIGHT_BEFORE or before.kind in _TIGHT_AFTER:
        return False
    if after.record and after.text == "}" or before.record and before.text == "{":
        return False
    if after.kind == "<" or before.text == "{" and after.text == "}":
        return False
    if after.kind == "(":
        return before.kind not in _CALLERS
    return True


# --- the layout ------------------------------------------------------------------------------------


@dataclass
class _Line:
    indent: int
    code: str = ""
    comment: str | None = None
    opens: bool = False
    #: A blank line was due before this one.
    blank: bool = False


class _Printer:
    """Lays atoms out as lines: `token` appends to the current line (starting one after a break),
    `newline` asks for a break before the next token, comments attach to the current line or take
    one of their own."""

    def __init__(self) -> None:
        self.lines: list[_Line | None] = []  # None is a blank line
        self.current: _Line | None = None
        self.previous: _Token | None = None
        self.broken = True
        self.blank = False

    def layout(self, atoms: list[_Atom]) -> str:
        depth = 0
        line: list[_Atom] = []
        for atom in atoms:
            if isinstance(atom, _Token) and atom.text in ("{", "}") and not atom.record:
                self.statement(line, depth, tail=2 if atom.text == "{" else 0)
                line = []
                if atom.text == "{":
                    self.token(atom, depth)
                    assert self.current is not None
                    self.current.opens = True
                    depth += 1
                    self.newline()
                else:
                    depth = max(0, depth - 1)
                    self.blank = False
                    opener = self.lines[-1] if self.current is None and self.lines else None
                    if opener is not None and opener.opens:
                        self.lines.pop()
                        self.current = opener
                        opener.blank = False  # already before it in the output
                    if self.current is not None and self.current.opens and self.broken:
                        self.current.opens = False  # an empty block: `{}`
                        self.broken = False
                    else:
                        self.newline()
                    self.token(atom, depth)
            elif isinstance(atom, _Break):
                self.statement(line, depth)
                line = []
                self.flush()
                self.newline()
                self.blank = atom.blank
            elif isinstance(atom, _Comment) and atom.own_line:
                self.statement(line, depth)
                line = []
                self.own_comment(atom.text, depth)
            else:
                line.append(atom)
        self.statement(line, depth)
        self.finish()
        return _render(self.lines)

    def statement(self, atoms: list[_Atom], depth: int, tail: int = 0) -> None:
        """One statement line (or the part of one between block braces); `tail` is the width of what
        follows it on its line (` {`)."""
        if not atoms:
            return
        explode_lists = False
        if not any(isinstance(a, _Group) and a.has_comment for a in atoms):
            flat = _Flat()
            for atom in atoms:
                flat.add(atom)
            prefix = len(self.current.code) + 1 if self.current is not None and not self.broken else 0
            width = len(INDENT) * depth + prefix + len(flat.text) + tail
            # Breaking the lists must bring what stays on the first and last lines within the width.
            lists = sum(_Flat.width(a.items) for a in atoms if isinstance(a, _Group) and a.listing)
            explode_lists = width > WIDTH and width - lists <= WIDTH
        for atom in atoms:
            if isinstance(atom, _Token):
                self.token(atom, depth)
            elif isinstance(atom, _Comment):
                self.trailing_comment(atom.text, depth)
            elif isinstance(atom, _Group):
                explode = atom.has_comment or (explode_lists and atom.listing and atom.has_items)
                self.group(atom, depth, explode)

    def group(self, group: _Group, depth: int, explode: bool) -> None:
        self.token(group.open, depth)
        if not explode:
            items = [i for i in group.items if isinstance(i, (_Token, _Group))]
            if items and isinstance(items[-1], _Token) and items[-1].text == ",":
                items.pop()
            for item in items:
                if isinstance(item, _Group):
                    self.group(item, depth, False)
                else:
                    self.token(item, depth)
        else:
            inner = depth + 1
            self.newline()
            last: _Token | _Group | None = None
            for entry in group.items:
                if isinstance(entry, _Comment):
                    if entry.own_line:
                        self.own_comment(entry.text, inner)
                    else:
                        self.trailing_comment(entry.text, inner)
                    continue
                item = entry
                if isinstance(item, _Group):
                    self.group(item, inner, item.has_comment)
                else:
                    self.token(item, inner)
                    if item.text == ",":
                        self.newline()
                last = item
            if group.listing and last is not None and not (isinstance(last, _Token) and last.text == ","):
                self.token(_Token(",", ","), inner)
            self.newline()
            self.blank = False
        if group.close is not None:
            self.token(group.close, depth)

    # --- lines ---

    def token(self, token: _Token, depth: int) -> None:
        if self.current is None or self.broken:
            self.flush()
            self.current = _Line(depth, blank=self.blank)
            self.blank = False
            self.previous = None
            self.broken = False
        if self.previous is not None and _space(self.previous, token):
            self.current.code += " "
        self.current.code += token.text
        self.previous = token

    def newline(self) -> None:
        self.broken = True

    def trailing_comment(self, text: str, depth: int) -> None:
        if self.current is not None and self.current.comment is None and self.current.code:
            self.current.comment = text
        else:
            self.own_comment(text, depth)

    def own_comment(self, text: str, depth: int) -> None:
        self.flush()
        self.current = _Line(depth, comment=text, blank=self.blank)
        self.blank = False
        self.broken = True
        self.flush()

    def flush(self) -> None:
        """Move the current line to the output, after one blank line when one is due and allowed."""
        if self.current is None:
            return
        line, self.current = self.current, None
        if line.blank and self.lines and not (isinstance(self.lines[-1], _Line) and self.lines[-1].opens):
            self.lines.append(None)
        self.lines.append(line)

    def finish(self) -> None:
        self.blank = False
        self.flush()


class _Flat:
    """A statement's width when printed on one line."""

    @staticmethod
    def width(items: list[_Item]) -> int:
        flat = _Flat()
        for item in items:
            flat.add(item)
        return len(flat.text)

    def __init__(self) -> None:
        self.text = ""
        self.previous: _Token | None = None

    def add(self, atom: _Atom) -> None:
        if isinstance(atom, _Group):
            self.add(atom.open)
            items = [i for i in atom.items if not isinstance(i, _Comment)]
            if items and isinstance(items[-1], _Token) and items[-1].text == ",":
                items.pop()
            for item in items:
                self.add(item)
            if atom.close is not None:
                self.add(atom.close)
        elif isinstance(atom, _Token):
            if self.previous is not None and _space(self.previous, atom):
                self.text += " "
            self.text += atom.text
            self.previous = atom


def _render(lines: list[_Line | None]) -> str:
    """The lines as text, with the comments after code aligned run by run."""
    out: list[str] = []
    run: list[_Line] = []

    def close_run() -> None:
        if not run:
            return
        column = max(len(INDENT) * line.indent + len(line.code) for line in run) + 2
        for line in run:
            start = INDENT * line.indent + line.code
            out.append(start.ljust(column) + (line.comment or ""))
        run.clear()

    for line in lines:
        if line is not None and line.code and line.comment is not None:
            run.append(line)
            continue
        close_run()
        if line is None:
            out.append("")
        elif line.code:
            out.append(INDENT * line.indent + line.code)
        else:
            out.append(INDENT * line.indent + (line.comment or ""))
    close_run()
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""
