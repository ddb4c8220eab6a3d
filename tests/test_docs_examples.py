"""The docs as a newcomer reads them: every ```agent block of docs/ and the READMEs checks as it
claims to, and no page names a `specc` command or a repository file that does not exist.

A block's info string says what it is:
- ```agent          a whole spec: `specc check` finds no error in it;
- ```agent excerpt  a part of a spec (items of an agent, or an agent with parts left out as
                    `# ...`): it parses, inside an agent when it is items; names and required
                    blocks are not checked;
- ```agent fails    a spec shown for its mistake: `specc check` finds an error in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specc.cli import main
from specc.compiler import compile_source

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted({*ROOT.glob("README.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("specs/*/README.md"),
                *ROOT.glob("editors/*/README.md")})
BLOCK = re.compile(r"^```agent([^\n]*)\n(.*?)^```", re.S | re.M)
KINDS = {"": "whole", "excerpt": "excerpt", "fails": "fails"}
#: the codes of text that does not parse: an excerpt must not have them
PARSE_CODES = {"syntax", "encoding"}


def blocks() -> list[tuple[str, int, str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text("utf-8")
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((str(page.relative_to(ROOT)), line, m.group(1).strip(), m.group(2)))
    return found


BLOCKS = blocks()


def test_the_docs_have_agent_blocks() -> None:
    assert len(BLOCKS) >= 5, BLOCKS


@pytest.mark.parametrize("page, line, info, body", BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS])
def test_every_agent_block_checks_as_it_claims(page: str, line: int, info: str, body: str) -> None:
    assert info in KINDS, f"{page}:{line}: ```agent {info}: say `agent`, `agent excerpt` or `agent fails`"
    kind = KINDS[info]
    where = f"{page}:{line}"
    if kind == "excerpt":
        text = body if re.match(r"\s*(#[^\n]*\n\s*)*agent\b", body) else "agent excerpt {\n" + body + "}\n"
        result = compile_source(text, where)
        broken = [d for d in result.diagnostics if d.code.name in PARSE_CODES]
        assert not broken, f"{where}: the excerpt does not parse: {[d.message for d in broken]}"
        return
    result = compile_source(body, where)
    errors = [f"{d.code.code} {d.message}" for d in result.diagnostics if d.severity.value == "error"]
    if kind == "fails":
        assert errors, f"{where}: the block is marked `agent fails` but checks without errors"
    else:
        assert not errors, f"{where}: the spec has errors (mark it `agent excerpt` or `agent fails` if meant): " \
                           f"{errors}"


def _code(text: str) -> list[str]:
    """The inline code spans and the fenced blocks of a page: where commands are written."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    rest = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return fenced + re.findall(r"`([^`\n]+)`", rest)


def _commands() -> dict[str, set[str]]:
    """Each command of `specc`, with its subcommands when it is a group."""
    import click

    ctx = click.Context(main)
    out: dict[str, set[str]] = {}
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        out[name] = set(command.list_commands(ctx)) if isinstance(command, click.Group) else set()
    return out


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_docs_name_only_commands_that_exist(page: Path) -> None:
    commands = _commands()
    wrong = []
    for code in _code(page.read_text("utf-8")):
        for m in re.finditer(r"(?:^|(?<=[\s$(|;&]))specc ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", code, re.M):
            name, sub = m.group(1), m.group(2)
            if name not in commands:
                wrong.append(f"`specc {name}`")
            elif commands[name] and sub is not None and sub not in commands[name]:
                wrong.append(f"`specc {name} {sub}`")
    assert not wrong, f"{page.relative_to(ROOT)} names commands that do not exist: {sorted(set(wrong))}"


FOLDERS = ("specs", "docs", "bench", "tests", "runtime", "specc", "grammar", "schema", "scripts", "editors",
           "typecheck", ".ci")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(re.escape(f) for f in FOLDERS) + r")/[\w./-]*+)(?![:\w<{*])")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _placeholder(path: str) -> bool:
    return "..." in path or bool(re.search(r"(^|/)[A-Z_]{2,}(\.|/|$)", path))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_docs_name_only_files_that_exist(page: Path) -> None:
    text = page.read_text("utf-8")
    missing = []
    for m in PATH.finditer(text):
        path = m.group(1).rstrip(".")
        if not _placeholder(path) and not (ROOT / path).exists() and not (page.parent / path).exists():
            missing.append(path)
    for m in LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} names files that are not in the repository: {sorted(set(missing))}"
