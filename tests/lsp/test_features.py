"""The language server's features on their own, in process: UTF-16 columns, completion by context,
quick fixes, hover and the name index over every kind of name."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from specc.lsp.incremental import Checker
from specc.lsp.navigation import Index
from specc.lsp.positions import from_utf16, to_utf16
from specc.lsp.server import SpecServer, completions

ROOT = Path(__file__).resolve().parents[2]
INVOICE = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8")
URI = (ROOT / "specs" / "invoice" / "scratch.agent").as_uri()


def test_utf16_columns() -> None:
    line = 'a😀é "😀" b'
    # characters: a 😀 é ␠ " 😀 " ␠ b; the two emoji take two UTF-16 units each
    assert [to_utf16(line, c) for c in range(1, 11)] == [0, 1, 3, 4, 5, 6, 8, 9, 10, 11]
    assert [from_utf16(line, to_utf16(line, c)) for c in range(1, 11)] == list(range(1, 11))
    assert from_utf16(line, 2) == 2  # inside the pair: the character it belongs to
    assert from_utf16(line, 99) == len(line) + 1
    assert to_utf16("abc", 2) == 1 and from_utf16("abc", 1) == 2


def labels(before: str) -> set[str]:
    agent = Checker("x.agent").check(INVOICE).agent
    return {item.label for item in completions(before, agent)}


def test_completion_by_context() -> None:
    assert {"timeout", "denied", "any"} <= labels("    on ")
    assert {"crash"} <= labels("    on timeout, ")
    assert labels("    on timeout ") == {"retry", "fallback", "escalate", "abort"}
    assert labels("    on error retry 2 then ") == {"retry", "fallback", "escalate", "abort"}
    assert labels("    on error fallback ") == {"read_invoice", "pay"}
    assert labels("    receipt = ") == {"read_invoice", "pay"}
    assert {"string", "Invoice", "Receipt", "Line"} <= labels("    total: ")
    assert {"Invoice"} <= labels("  action x() -> ")
    assert labels("    effect ") == {"read", "write", "destructive"}
    assert labels("    risk ") == {"low", "medium", "high"}
    assert labels("    env ") == {"PAYMENTS_TOKEN"}
    assert labels('    mount "') == {"./inbox", "./outbox", "./tools"}
    anywhere = labels("  ")
    assert {"action", "type", "approval required", "workflow", "pay"} <= anywhere


def fixes(text: str, code: str) -> list[lsp.CodeAction]:
    server = SpecServer()
    found = [d for d in server.diagnose(URI, text, 1) if d.code == code]
    assert found, code
    return server.fixes(URI, text, 1, lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(URI), found[0].range, lsp.CodeActionContext(found[:1])))


def apply(text: str, action: lsp.CodeAction) -> str:
    assert action.edit is not None and action.edit.changes is not None
    (edit,) = action.edit.changes[URI]
    lines = text.split("\n")
    start, end = edit.range.start, edit.range.end
    assert start.line == end.line
    line = lines[start.line]
    lines[start.line] = (line[:from_utf16(line, start.character) - 1] + edit.new_text
                         + line[from_utf16(line, end.character) - 1:])
    return "\n".join(lines)


def test_quick_fix_adds_the_missing_handlers() -> None:
    text = INVOICE.replace("  on any abort", "", 1)
    (fix,) = fixes(text, "SPC105")
    assert fix.title == "Add `on invalid_input, error, crash, sandbox abort` to `read_invoice`"
    fixed = apply(text, fix)
    assert "    on invalid_input, error, crash, sandbox abort\n  }" in fixed
    assert [d.message for d in Checker("x").check(fixed).diagnostics if "read_invoice" in d.message] == []


def test_quick_fix_takes_the_did_you_mean() -> None:
    text = INVOICE.replace("-> Invoice {", "-> Invoise {", 1)
    (fix,) = fixes(text, "SPC003")
    assert fix.title == "Change to `Invoice`"
    assert apply(text, fix) == INVOICE


def test_every_kind_of_name_is_indexed() -> None:
    compilation = Checker("x.agent").check(INVOICE)
    assert compilation.agent is not None
    index = Index.build(compilation.agent, INVOICE.split("\n"))
    kinds = {(o.kind, o.name) for o in index.occurrences if not o.declares}
    assert {("type", "Invoice"), ("action", "pay"), ("step", "invoice"), ("mount", "inbox"),
            ("env", "PAYMENTS_TOKEN")} <= kinds
    inbox = next(o for o in index.occurrences if o.kind == "mount" and o.declares and o.name == "inbox")
    assert "at `/mnt/inbox`, read_only" in index.hover(inbox) and "`read_invoice`" in index.hover(inbox)
    token = next(o for o in index.occurrences if o.kind == "env" and o.declares)
    assert index.hover(token).startswith("secret env var `PAYMENTS_TOKEN`")
    step = next(o for o in index.occurrences if o.kind == "step" and o.name == "receipt")
    assert index.hover(step).startswith("step `receipt`: the result of `pay`")
