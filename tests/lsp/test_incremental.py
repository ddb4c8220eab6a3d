"""The language server's incremental checker gives what `compile_source` gives, edit after edit,
parses only what changed, recovers from syntax errors item by item, and leaves the collector on."""

from __future__ import annotations

import gc
import random
import sys
from pathlib import Path

import pytest

from specc.compiler import Compilation, compile_source
from specc.lsp.incremental import Checker

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(ROOT.glob("specs/*/*.agent"))
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.agent"))
sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import generate  # noqa: E402


def shown(c: Compilation) -> list[tuple[object, ...]]:
    return [(d.code.code, d.span.line, d.span.column, d.span.end_line, d.span.end_column, d.message, d.help,
             tuple((label.span.line, label.span.column, label.message) for label in d.labels))
            for d in c.diagnostics]


#: recovery words this one differently, on purpose: see test_an_unclosed_brace_spoils_only_its_item
REWORDED = {"syntax_missing_brace"}


@pytest.mark.parametrize("path", [p for p in SPECS + GOLDEN if p.stem not in REWORDED], ids=lambda p: p.stem)
def test_same_diagnostics_as_compile_source(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    expected = compile_source(text, str(path))
    checker = Checker(str(path))
    assert shown(checker.check(text)) == shown(expected)
    assert shown(checker.check(text)) == shown(expected)  # again, from what it kept
    assert checker.parsed == 0


def test_edits_give_what_compile_source_gives() -> None:
    """Random line edits of every example: wherever the whole text parses, the diagnostics of the
    incremental check are those of a fresh compilation, spans and labels included."""
    rng = random.Random(7)
    compared = 0
    for path in SPECS:
        text = path.read_text("utf-8")
        checker = Checker(str(path))
        checker.check(text)
        for _ in range(60):
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            op = rng.randrange(4)
            if op == 0:
                lines.insert(i, "")
            elif op == 1 and len(lines) > 3:
                del lines[i]
            elif op == 2:
                lines.insert(i, lines[i])
            else:
                j = rng.randrange(len(lines[i]) + 1)
                lines[i] = lines[i][:j] + rng.choice('x{}( "#é😀') + lines[i][j:]
            edited = "\n".join(lines)
            got = checker.check(edited)
            expected = compile_source(edited, str(path))
            if not any(d.code.code == "SPC001" for d in expected.diagnostics):
                assert shown(got) == shown(expected), (path.name, op, i)
                compared += 1
                text = edited
            elif rng.random() < 0.5:
                text = edited
    assert compared > 15


def test_an_edit_parses_only_its_item() -> None:
    text = generate(actions=20)
    checker = Checker("big.agent")
    checker.check(text)
    assert checker.parsed > 40
    edited = text.replace("effect read", "effect  read", 1)
    assert shown(checker.check(edited)) == shown(compile_source(edited, "big.agent"))
    assert checker.parsed == 1
    moved = text.replace("\n  type Item3 {", "\n\n\n  type Item3 {", 1)  # lines added above later items
    assert shown(checker.check(moved)) == shown(compile_source(moved, "big.agent"))
    assert checker.parsed <= 3


def test_a_syntax_error_hides_nothing_else() -> None:
    text = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8")
    broken = text.replace("effect read", "effect raed", 1)
    broken = broken.replace("approval required", "", 1)
    whole = compile_source(broken, "invoice.agent")
    assert [d.code.code for d in whole.diagnostics] == ["SPC001"]  # the whole-file parse stops at the typo
    got = Checker("invoice.agent").check(broken)
    codes = [d.code.code for d in got.diagnostics]
    assert codes.count("SPC001") == 1
    assert "SPC111" in codes  # approval-required, found in another item all the same
    typo = next(d for d in got.diagnostics if d.code.code == "SPC001")
    assert "`raed`" in typo.message and typo.help == "did you mean `read`?"
    line = broken.split("\n")[typo.span.line - 1]
    assert line[typo.span.column - 1:typo.span.end_column - 1] == "raed"


def test_a_broken_action_is_not_reported_as_undefined() -> None:
    """While an action does not parse, its callers do not light up with `undefined-name`."""
    text = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8")
    broken = text.replace("effect write", "effect wirte", 1)
    got = Checker("invoice.agent").check(broken)
    assert [d.code.name for d in got.diagnostics] == ["syntax"]


def test_an_unclosed_brace_spoils_only_its_item() -> None:
    text = (ROOT / "tests" / "golden" / "syntax_missing_brace.agent").read_text("utf-8")
    got = Checker("x.agent").check(text)
    first = got.diagnostics[0]
    assert first.code.code == "SPC001" and first.message == "unexpected `workflow`, expected `}`"
    assert first.help is not None and "never closed" in first.help
    assert got.agent is not None and got.agent.workflow is not None  # the next item still made it


def test_no_closing_brace_at_the_end() -> None:
    text = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8").rstrip()
    assert text.endswith("}")
    got = Checker("x.agent").check(text[:-1])
    assert [d.message for d in got.diagnostics] == ["unexpected end of file, expected `}`"]


@pytest.mark.parametrize("text", ["", "   \n", "agent", "agent a\n", "junk {\n}\n", "\x00", "agent a {\n"])
def test_odd_texts_never_raise(text: str) -> None:
    got = Checker("x.agent").check(text)
    assert got.diagnostics


def test_the_collector_is_left_as_found() -> None:
    checker = Checker("x.agent")
    text = generate(actions=4)
    assert gc.isenabled()
    checker.check(text)
    assert gc.isenabled()
    gc.disable()
    try:
        checker.check(text + "\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_mangled_texts_never_raise() -> None:
    """Brackets, quotes, comment signs and astral characters thrown into the examples, edit after
    edit on one checker: no check raises."""
    rng = random.Random(11)
    alphabet = '{}()[]"#/\\\n \t\r😀éaz_AZ09.:,<>=-?|'
    for path in SPECS[:4]:
        text = path.read_text("utf-8")
        checker = Checker(str(path))
        for _ in range(30):
            chars = list(text)
            for _ in range(rng.randint(1, 6)):
                i = rng.randrange(len(chars) + 1)
                if rng.random() < 0.5:
                    chars.insert(i, rng.choice(alphabet))
                else:
                    del chars[i:i + rng.randint(1, 40)]
            mangled = "".join(chars)
            checker.check(mangled)
            if rng.random() < 0.5:
                text = mangled
