"""`specc fmt`'s printer (`specc.fmt.format_source`): on every example and every golden case, the
layout is a fixed point (idempotent), every comment survives in order, and the meaning is the same
(the same IR but for the source hash and line numbers, or the same diagnostics but for where they
point); plus the layout rules one by one, and text that does not parse."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from specc.compiler import compile_source
from specc.diagnostics import CompileError
from specc.fmt import format_source
from specc.ir import to_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "specs").glob("*/*.agent"))
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.agent"))
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("*.agent"))
ALL = EXAMPLES + GOLDEN + FIXTURES


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _parses(path: Path) -> bool:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        format_source(text)
    except CompileError:
        return False
    return True


PARSING = [p for p in ALL if _parses(p)]
NOT_PARSING = [p for p in ALL if p not in PARSING]


def comments(text: str) -> list[str]:
    """Every `#` to the end of its line, spacing normalised: a comment, or a string holding `#`
    and whatever follows it on its line (which must then survive just as well)."""
    return [" ".join(found.split()) for found in re.findall(r"#[^\n]*", text)]


def meaning(text: str, path: Path) -> Any:
    """What a spec means: its IR without the source hash and line numbers, or its diagnostics
    without their places."""
    result = compile_source(text, str(path))
    if result.has_errors:
        return [(d.code.code, d.severity.value, d.message, d.help) for d in result.diagnostics]
    return _without_lines(__import__("json").loads(to_bytes(result.ir)))


def _without_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_lines(v) for k, v in value.items() if k not in ("line", "hash", "source")}
    if isinstance(value, list):
        return [_without_lines(v) for v in value]
    return value


@pytest.mark.parametrize("path", PARSING, ids=[_id(p) for p in PARSING])
def test_idempotent_comments_kept_same_meaning(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    source = path.read_text("utf-8")
    formatted = format_source(source)
    assert format_source(formatted) == formatted
    assert comments(formatted) == comments(source)
    assert meaning(formatted, path) == meaning(source, path)
    assert formatted.endswith("\n") and not formatted.endswith("\n\n")
    assert all(line == line.rstrip() for line in formatted.splitlines())


def test_the_meaning_check_can_fail() -> None:
    source = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8")
    changed = source.replace("steps 20", "steps 21")
    assert meaning(changed, EXAMPLES[0]) != meaning(source, EXAMPLES[0])
    assert comments(source.replace("# optional", "")) != comments(source)


def test_every_example_is_formatted() -> None:
    """The committed examples are in the canonical layout (what `specc fmt --check specs/` says)."""
    assert EXAMPLES
    for path in EXAMPLES:
        source = path.read_text("utf-8")
        assert format_source(source) == source, f"{_id(path)} is not formatted: run `specc fmt {_id(path)}`"


@pytest.mark.parametrize("path", NOT_PARSING, ids=[_id(p) for p in NOT_PARSING])
def test_text_that_does_not_parse_raises_the_compilers_diagnostics(path: Path) -> None:
    data = path.read_bytes()
    result = compile_source(data, "<input>")
    text = result.source
    if text is None:  # not UTF-8, NUL: a str caller cannot even hand this over as it is
        return
    with pytest.raises(CompileError) as caught:
        format_source(text)
    assert [d.message for d in caught.value.diagnostics] == [d.message for d in result.diagnostics]
    assert caught.value.diagnostics and caught.value.diagnostics[0].code.code == "SPC001"


LAYOUT = [
    # spacing, indentation, blank lines
    ("agent   t {\n      limits {   steps 3\n wall 1m\n}\n\n\n\n  scope {\n\n  }\n}",
     "agent t {\n  limits {\n    steps 3\n    wall 1m\n  }\n\n  scope {}\n}\n"),
    # types and constraints
    ("agent t {\ntype A { x: list < string > ( 1 .. 3 ) ?\n y : int(-5..-1)\n z : \"a\"|\"b\"\n}\n}",
     "agent t {\n  type A {\n    x: list<string>(1..3)?\n    y: int(-5..-1)\n    z: \"a\" | \"b\"\n  }\n}\n"),
    # expressions, records, lists, trailing commas dropped on one line
    ("agent t {\nworkflow {\nx = f( a: {k: [ 1,2, ], j: x.y} , )\n"
     "require ( a.x == [ ] or not(len( a.x )>2) ) else escalate \"no\"\nreturn {a: x}\n}\n}",
     "agent t {\n  workflow {\n    x = f(a: {k: [1, 2], j: x.y})\n"
     "    require (a.x == [] or not (len(a.x) > 2)) else escalate \"no\"\n    return {a: x}\n  }\n}\n"),
    # comments: own line, after code (aligned run by run), at the ends, inside a bracket
    ("\n\n# head\n\nagent t { # the agent\n  limits {\n    steps 3 # a\n    wall 1m     # b\n\n"
     "    # own\n  }\n  action f(a: string, # first\n  # about b\n  b: string) {\n    run \"x\" \"#no\"\n"
     "  }\n  # last\n}\n# tail\n\n",
     "# head\n\nagent t {  # the agent\n  limits {\n    steps 3  # a\n    wall 1m  # b\n\n    # own\n  }\n"
     "  action f(\n    a: string,  # first\n    # about b\n    b: string,\n  ) {\n    run \"x\" \"#no\"\n  }\n"
     "  # last\n}\n# tail\n"),
    # a list past 100 columns: one item a line
    ("agent t {\n  action g(a: string, b: string, c: string, d: string, e: string, f: string, g: string, "
     "hh: string) {\n    run \"x\"\n  }\n}\n",
     "agent t {\n  action g(\n" + "".join(f"    {n}: string,\n" for n in "abcdefg") + "    hh: string,\n"
     "  ) {\n    run \"x\"\n  }\n}\n"),
    # loops, branches with `else if` on the closing brace's line, a conditional approval
    ("agent t {\naction f(x: int) -> int {\napproval required when x>50\n}\nworkflow {\nr=for i in [1,2]{\n"
     "if i==1{\nf(x: i)\n}   else   if i == 2 {\nreturn {a: i}\n} else {\nf(x: i)\n}\n}\n}\n}",
     "agent t {\n  action f(x: int) -> int {\n    approval required when x > 50\n  }\n  workflow {\n"
     "    r = for i in [1, 2] {\n      if i == 1 {\n        f(x: i)\n      } else if i == 2 {\n"
     "        return {a: i}\n      } else {\n        f(x: i)\n      }\n    }\n  }\n}\n"),
    # CRLF line ends
    ("agent t {\r\n  limits {\r\n    steps 3 # x\r\n  }\r\n}\r\n", "agent t {\n  limits {\n    steps 3  # x\n  }\n}\n"),
]


@pytest.mark.parametrize("source,expected", LAYOUT)
def test_layout(source: str, expected: str) -> None:
    assert format_source(source) == expected
    assert format_source(expected) == expected


# --- `specc fmt` -----------------------------------------------------------------------------------

UNFORMATTED = "agent   t {\n  limits {\n    steps 3 # a comment\n    wall 1m\n  }\n}\n"
FORMATTED = "agent t {\n  limits {\n    steps 3  # a comment\n    wall 1m\n  }\n}\n"


def fmt(*args: str, stdin: str | None = None) -> Any:
    from click.testing import CliRunner

    from specc.cli import main

    result = CliRunner().invoke(main, ["fmt", *args], prog_name="specc", input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_fmt_rewrites_files_under_a_folder_and_keeps_their_mode(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    first, second = tmp_path / "a.agent", tmp_path / "sub" / "b.agent"
    first.write_text(UNFORMATTED)
    second.write_text(FORMATTED)
    first.chmod(0o640)
    (tmp_path / "notes.txt").write_text("not a spec  ")
    result = fmt(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert first.read_text() == FORMATTED and second.read_text() == FORMATTED
    assert first.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "notes.txt").read_text() == "not a spec  "
    assert f"reformatted {first}" in result.output and str(second) not in result.output
    assert "1 of 2 files reformatted" in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.agent", "b.agent", "notes.txt", "sub"]


def test_fmt_check_lists_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "a.agent"
    spec.write_text(UNFORMATTED)
    result = fmt("--check", str(spec))
    assert result.exit_code == 1
    assert f"would reformat {spec}" in result.output
    assert spec.read_text() == UNFORMATTED
    spec.write_text(FORMATTED)
    assert fmt("--check", str(spec)).exit_code == 0


def test_fmt_diff_prints_a_unified_diff(tmp_path: Path) -> None:
    spec = tmp_path / "a.agent"
    spec.write_text(UNFORMATTED)
    result = fmt("--diff", str(spec))
    assert result.exit_code == 1
    assert f"--- {spec}" in result.output
    assert "-agent   t {\n+agent t {\n" in result.output
    assert spec.read_text() == UNFORMATTED


def test_fmt_reads_standard_input() -> None:
    result = fmt("-", stdin=UNFORMATTED)
    assert result.exit_code == 0
    assert result.stdout == FORMATTED


def test_fmt_reports_a_file_that_does_not_parse_and_leaves_it_alone(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.agent", tmp_path / "good.agent"
    bad.write_text("agent x {\n  limits { steps }\n}\n")
    good.write_text(UNFORMATTED)
    binary = tmp_path / "binary.agent"
    binary.write_bytes(b"agent \xff")
    result = fmt(str(tmp_path))
    assert result.exit_code == 1
    assert f"error[SPC001]: unexpected `}}`, expected a whole number\n  --> {bad}:2:18" in result.output
    assert "error[SPC002]" in result.output and f"{binary}:1:7" in result.output
    assert bad.read_text() == "agent x {\n  limits { steps }\n}\n"
    assert good.read_text() == FORMATTED
    assert "1 of 3 files reformatted, 2 not parsed" in result.output


def test_fmt_usage_errors() -> None:
    assert fmt("/no/such/file.agent").exit_code == 2
    assert fmt("-", "x.agent").exit_code == 2
    assert fmt().exit_code == 2


def _perturbed(text: str, rng: Any) -> str:
    """The same tokens and comments laid out carelessly: indentation, spaces between tokens (outside
    strings, regexes and comments), trailing blanks, extra blank lines where one already was, CRLF."""
    out = []
    for line in text.split("\n"):
        body = line.strip()
        pieces: list[str] = []
        quoted = False
        for i, char in enumerate(body):
            if char == "#" and not quoted:
                pieces.append(body[i:])
                break
            if char == '"' and (i == 0 or body[i - 1] != "\\"):
                quoted = not quoted
            if char == " " and not quoted and "/" not in body:
                char = rng.choice([" ", "  ", "\t", " \t "])
            pieces.append(char)
        indent = rng.choice(["", " ", "\t", "      ", "  \t"])
        out.append(indent + "".join(pieces) + rng.choice(["", " ", "\t"]) if body else rng.choice(["", "\n", "  "]))
    return rng.choice(["\n", "\r\n"]).join(out)


@pytest.mark.parametrize("path", EXAMPLES, ids=[_id(p) for p in EXAMPLES])
def test_one_layout_whatever_the_spacing(path: Path) -> None:
    import random

    canonical = format_source(path.read_text("utf-8"))
    rng = random.Random(path.name)
    for _ in range(5):
        messy = _perturbed(canonical, rng)
        assert messy != canonical
        assert format_source(messy) == canonical


def test_the_same_layout_when_lark_parses_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the driver's tables (lark's internals not what it knows), the tree comes from lark and
    the layout is the same."""
    from specc import parser

    expected = {path: format_source(path.read_text("utf-8")) for path in EXAMPLES}
    monkeypatch.setattr(parser, "tables", lambda: None)
    for path, text in expected.items():
        assert format_source(path.read_text("utf-8")) == text
    source = "agent t {\n  workflow {\n    x = f(a: {k: [ 1,2, ], j: x.y} , )\n  }\n}\n"
    assert format_source(source) == "agent t {\n  workflow {\n    x = f(a: {k: [1, 2], j: x.y})\n  }\n}\n"
