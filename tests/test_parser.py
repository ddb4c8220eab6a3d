"""The parser's own driver against lark: on every spec of the repository and on near misses of
them, it builds the tree lark builds (same nodes, same tokens, same positions) or refuses what lark
refuses. Also the cache of its tables, and the cheap construction of AST nodes."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specc import ast, parser
from specc.compiler import compile_source

ROOT = Path(__file__).resolve().parent.parent


def _readable(path: Path) -> bool:
    try:
        return "\x00" not in path.read_text("utf-8")
    except UnicodeDecodeError:
        return False


CORPUS = sorted(path for path in {*ROOT.glob("tests/golden/*.agent"), *ROOT.glob("tests/fixtures/*.agent"),
                                  *ROOT.glob("specs/**/*.agent")} if _readable(path))
#: Pieces a mutation may insert: brackets, keywords, punctuation, newlines.
PIECES = ["(", ")", "[", "]", "<", ">", "{", "}", "\n", ",", ":", "?", "..", "not ", "and ", "mount ", "x",
          '"s"', "1", "2.5", "30s", "64MiB", "# c\n", "\n\n", "|", "->", "=", "=="]


def lark_tree(text: str) -> Any:
    """What lark builds, as `Node`s, or None when lark refuses the text."""
    from lark.exceptions import LarkError

    try:
        return parser._from_lark(parser.parser().parse(text))
    except (LarkError, parser._TooDeep):
        return None


def driver_tree(text: str) -> Any:
    tables = parser.tables()
    assert tables is not None
    try:
        return parser._drive(tables, text)
    except parser._Refused:
        return None


def same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, parser.Tok):
        assert isinstance(b, parser.Tok), where
        assert (a.type, a.value, a.line, a.column, a.end_line, a.end_column, a.start_pos, a.end_pos) == \
            (b.type, b.value, b.line, b.column, b.end_line, b.end_column, b.start_pos, b.end_pos), where
    elif isinstance(a, parser.Node):
        assert isinstance(b, parser.Node) and a.data == b.data, where
        assert len(a.children) == len(b.children), where
        spans = [(n.first.line, n.first.column, n.first.start_pos, n.last.end_line, n.last.end_column,
                  n.last.end_pos) if n.first is not None and n.last is not None else None for n in (a, b)]
        assert spans[0] == spans[1], where
        for i, (x, y) in enumerate(zip(a.children, b.children, strict=True)):
            same(x, y, f"{where}/{a.data}[{i}]")
    else:
        assert a is None and b is None, where


def mutants(count: int) -> list[tuple[str, str]]:
    rng = random.Random(20261124)
    out = []
    for _ in range(count):
        case = rng.choice(CORPUS)
        text = case.read_text("utf-8")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5:
                text = text[:at] + rng.choice(PIECES) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 12):]
        out.append((case.name, text))
    return out


@pytest.mark.parametrize("case", CORPUS, ids=[c.relative_to(ROOT).as_posix() for c in CORPUS])
def test_the_driver_builds_the_tree_lark_builds(case: Path) -> None:
    text = case.read_text("utf-8")
    expected = lark_tree(text)
    same(expected, driver_tree(text))


def test_the_driver_agrees_with_lark_on_near_misses() -> None:
    accepted = 0
    for name, text in mutants(400):
        expected = lark_tree(text)
        accepted += expected is not None
        same(expected, driver_tree(text), name)
    assert 20 < accepted < 380  # the mutants are a mix of valid and invalid specs


def test_newlines_inside_brackets_and_absurd_nesting() -> None:
    text = (ROOT / "tests/fixtures/clean.agent").read_text("utf-8")
    spread = text.replace("(", "(\n  ", 3)
    same(lark_tree(spread), driver_tree(spread))
    assert driver_tree(spread) is not None
    deep = text.replace("require ", "require " + "(" * (parser.MAX_DEPTH + 1), 1)
    assert driver_tree(deep) is None
    assert [d.message for d in compile_source(deep, "deep.agent").diagnostics] == [
        f"expression nested deeper than {parser.MAX_DEPTH} levels"
    ]


def test_without_tables_lark_parses_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were lark's internals to change under the driver, specs would still compile, through lark."""
    text = (ROOT / "tests/fixtures/clean.agent").read_text("utf-8")
    expected = compile_source(text, "clean.agent")
    monkeypatch.setattr(parser, "tables", lambda: None)
    alone = compile_source(text, "clean.agent")
    assert alone.agent == expected.agent and alone.diagnostics == expected.diagnostics


def test_a_long_repetition_is_not_copied_at_every_item() -> None:
    """The items of an agent are a left-recursive repetition; 20,000 of them parse in linear time."""
    text = "agent a {\n" + "  type T {\n    a: string\n  }\n" * 20_000 + "}\n"
    tree = driver_tree(text)
    assert tree is not None and len(tree.children[0].children) == 20_001


# --- the cache of the tables ------------------------------------------------------------------------


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser.tables.cache_clear()
    parser.parser.cache_clear()
    yield tmp_path / "specc"
    parser.tables.cache_clear()
    parser.parser.cache_clear()


def test_the_tables_are_cached_and_a_damaged_cache_is_rebuilt(fresh_cache: Path) -> None:
    text = (ROOT / "tests/fixtures/clean.agent").read_text("utf-8")
    expected = lark_tree(text)
    same(expected, driver_tree(text))
    (cached,) = fresh_cache.glob("tables-*.marshal")
    assert stat.S_IMODE(fresh_cache.stat().st_mode) == 0o700
    cached.write_bytes(b"\x00 not marshal")
    parser.tables.cache_clear()
    same(expected, driver_tree(text))
    assert cached.read_bytes() != b"\x00 not marshal"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_cache_folder_others_may_write_to_is_not_used(fresh_cache: Path) -> None:
    fresh_cache.mkdir(mode=0o700)
    fresh_cache.chmod(0o777)
    assert parser.cache_dir() != str(fresh_cache)


# --- AST nodes built from trusted values -------------------------------------------------------------


def test_built_nodes_behave_like_constructed_ones() -> None:
    where = ast.span(1, 2, 1, 5, 1, 4)
    assert where == ast.Span(line=1, column=2, end_line=1, end_column=5, start=1, end=4)
    assert hash(where) == hash(ast.Span(line=1, column=2, end_line=1, end_column=5, start=1, end=4))
    assert where != ast.span(1, 2, 1, 5, 1, 3) and where != (1, 2, 1, 5, 1, 4)
    built = ast.build(ast.Expr, span=where, kind="ref", path=[ast.build(ast.Name, span=where, value="x")])
    constructed = ast.Expr(span=where, kind="ref", path=[ast.Name(span=where, value="x")])
    assert built == constructed and repr(built) == repr(constructed)
    assert built != ast.Expr(span=where, kind="len", path=[ast.Name(span=where, value="x")])
    other = ast.build(ast.Expr, span=where, kind="ref")
    assert other.items == [] and other.items is not built.items  # list defaults are fresh
    assert ast.Expr(span=where, kind="ref").items is not other.items
    with pytest.raises(AttributeError):
        built.kind = "len"  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing fields \\['kind'\\]"):
        ast.Expr(span=where)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unknown fields \\['colour'\\]"):
        ast.Name(span=where, value="x", colour=1)  # type: ignore[call-arg]
    assert ast.Statement._fields[:3] == ("span", "kind", "name")  # the base's fields first


def test_every_lexer_is_cached_compiled_and_matches_as_re_compiles_it(fresh_cache: Path) -> None:
    """The cached tables hold each lexer regex in the form the engine takes, so that a process does
    not compile them again, and the regex built from that form matches what `re.compile` builds."""
    data = parser._table_data(parser.parser(), "key")
    samples = [case.read_text("utf-8", errors="replace") for case in CORPUS[:40]]
    assert data["lexers"]
    for pattern, flags, *_, compiled in data["lexers"]:
        assert compiled is not None, pattern[:80]
        rebuilt, reference = parser._regex(pattern, flags, compiled), parser.re.compile(pattern, flags)
        assert rebuilt is not reference
        for text in samples:
            for at in range(0, len(text), 7):
                mine, theirs = rebuilt.match(text, at), reference.match(text, at)
                assert (mine and (mine.lastgroup, mine.group())) == (theirs and (theirs.lastgroup, theirs.group()))
    refused = parser._regex("a+", 0, (0, [1, 2, 3], 0, {}, ()))  # a form the engine refuses: compiled anew
    assert refused.match("aab") and refused.match("aab").group() == "aa"  # type: ignore[union-attr]
