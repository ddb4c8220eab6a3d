"""The VS Code extension's TextMate grammars (editors/vscode/syntaxes), run by the engine VS Code
runs (vscode-textmate over oniguruma, under node): every example spec, a spec with every construct
and a Markdown page with `agent` code blocks are tokenized and compared with the snapshots in
tests/editors/snapshots (`UPDATE_GOLDEN=1` rewrites them; review the diff). A few scopes are also
asserted outright, so that a snapshot rewritten over a broken grammar does not pass unseen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
HERE = ROOT / "tests" / "editors"
SNAPSHOTS = HERE / "snapshots"
SPECS = sorted((ROOT / "specs").glob("*/*.agent")) + [HERE / "constructs.agent"]

Tokens = list[tuple[str, list[tuple[str, list[str]]]]]
Tokenize = Callable[[str, list[Path]], dict[Path, Tokens]]


@pytest.fixture(scope="module")
def tokenize() -> Tokenize:
    """A function from (scope, files) to each file's lines and tokens, through node; the
    extension's locked npm packages are installed first when they are missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the grammar tests need node and npm on the PATH (https://nodejs.org)")
    if not (VSCODE / "node_modules" / "vscode-textmate").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VSCODE, check=True,
                       timeout=600)

    def run(scope: str, files: list[Path]) -> dict[Path, Tokens]:
        result = subprocess.run([node, str(VSCODE / "test" / "tokenize.js"), scope, *map(str, files)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        return {Path(name): [(line, [(t, s) for t, s in tokens]) for line, tokens in lines]
                for name, lines in found.items()}

    return run


def snapshot(lines: Tokens, root: str) -> str:
    """Each line that holds more than the root scope, then its tokens and their scopes."""
    out: list[str] = []
    for number, (line, tokens) in enumerate(lines, 1):
        shown = [(text, [s for s in scopes if s != root]) for text, scopes in tokens if text.strip()]
        if not any(scopes for _, scopes in shown):
            continue
        out.append(f"{number}: {line}")
        width = max(len(repr(text)) for text, _ in shown)
        out.extend(f"    {repr(text):<{width}}  {' '.join(scopes)}".rstrip() for text, scopes in shown)
    return "\n".join(out) + "\n"


def compare(name: str, actual: str) -> None:
    path = SNAPSHOTS / f"{name}.tokens"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.relative_to(ROOT)}: run with UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


def scopes_of(lines: Tokens, line: int, text: str) -> list[str]:
    for token, scopes in lines[line - 1][1]:
        if token.strip() == text:
            return scopes
    raise AssertionError(f"no token {text!r} on line {line}: {lines[line - 1]}")


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_spec_tokens_match_the_snapshot(tokenize: Tokenize, spec: Path) -> None:
    lines = tokenize("source.agent", [spec])[spec]
    compare(spec.stem, snapshot(lines, "source.agent"))


def test_markdown_agent_blocks_match_the_snapshot(tokenize: Tokenize) -> None:
    page = HERE / "markdown.md"
    lines = tokenize("text.html.markdown", [page])[page]
    compare("markdown", snapshot(lines, "text.html.markdown"))
    assert {"meta.embedded.block.agent", "keyword.other.item.agent"} <= set(scopes_of(lines, 8, "steps"))
    assert "comment.line.number-sign.agent" in scopes_of(lines, 8, "# a comment")
    assert "keyword.control.on.agent" in scopes_of(lines, 19, "on")
    for outside in (3, 16):  # prose, and a Python block
        assert not [s for _, scopes in lines[outside - 1][1] for s in scopes if s.endswith(".agent")]


def test_the_grammar_scopes_what_matters(tokenize: Tokenize) -> None:
    spec = HERE / "constructs.agent"
    lines = tokenize("source.agent", [spec])[spec]
    expected = [
        (3, "agent", "storage.type.agent.agent"),
        (5, '\\"', "constant.character.escape.agent"),
        (5, "\\q", "invalid.illegal.escape.agent"),
        (15, "secret", "storage.modifier.secret.agent"),
        (20, "256MiB", "constant.numeric.size.agent"),
        (23, "30s", "constant.numeric.duration.agent"),
        (29, "/^AL-[0-9]+\\/x$/", "string.regexp.agent"),
        (37, "output", "variable.other.property.agent"),
        (43, "page", "entity.name.function.action.agent"),
        (43, "Alert", "entity.name.type.agent"),
        (51, "when", "keyword.other.agent"),
        (56, "timeout", "constant.language.failure-kind.agent"),
        (56, "fallback", "keyword.control.strategy.agent"),
        (66, "first", "variable.other.step.agent"),
        (67, "if", "keyword.control.flow.agent"),
        (69, "else", "keyword.control.flow.agent"),
        (72, "else", "keyword.control.else.agent"),
        (72, "abort", "keyword.control.strategy.agent"),
        (74, "for", "keyword.control.flow.agent"),
        (75, "page", "entity.name.function.call.agent"),
    ]
    for line, text, scope in expected:
        assert scope in scopes_of(lines, line, text), (line, text, scopes_of(lines, line, text))
