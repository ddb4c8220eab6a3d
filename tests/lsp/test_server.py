"""`specc lsp` end to end: the server runs as its own process and pygls's own client talks to it over
stdio, as an editor would."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from specc.codes import APPROVAL_REQUIRED, UNDEFINED_NAME
from specc.fmt import format_source

ROOT = Path(__file__).resolve().parents[2]
INVOICE = (ROOT / "specs" / "invoice" / "invoice.agent").read_text("utf-8")
URI = (ROOT / "specs" / "invoice" / "scratch.agent").as_uri()  # beside the example: its mounts resolve
TIMEOUT = 20.0


class Session:
    """A client connected to a fresh `specc lsp` process, collecting published diagnostics."""

    def __init__(self) -> None:
        self.client = LanguageClient("specc-tests", "1")
        self.published: list[lsp.PublishDiagnosticsParams] = []
        self.arrived = asyncio.Event()

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def collect(params: lsp.PublishDiagnosticsParams) -> None:
            self.published.append(params)
            self.arrived.set()

    async def start(self) -> lsp.InitializeResult:
        await self.client.start_io(sys.executable, "-c", "from specc.cli import main; main()", "lsp",
                                   "--debounce", "30")
        result = await self.client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), process_id=None, root_uri=ROOT.as_uri()))
        self.client.initialized(lsp.InitializedParams())
        return result

    async def diagnostics(self, version: int | None) -> list[lsp.Diagnostic]:
        """The diagnostics published for `version`, waiting for them."""
        async def arrive() -> list[lsp.Diagnostic]:
            while True:
                for params in self.published:
                    if params.version == version:
                        return list(params.diagnostics)
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(arrive(), TIMEOUT)

    async def ask(self, request: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """A request, with an answer in reasonable time or a failed test."""
        return await asyncio.wait_for(request(*args), TIMEOUT)

    def open(self, text: str, version: int = 1) -> None:
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=URI, language_id="agent", version=version, text=text)))

    def change(self, version: int, text: str, at: lsp.Range | None = None) -> None:
        change: Any = (lsp.TextDocumentContentChangeWholeDocument(text=text) if at is None
                       else lsp.TextDocumentContentChangePartial(range=at, text=text))
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=URI, version=version), [change]))

    async def stop(self) -> int:
        await asyncio.wait_for(self.client.shutdown_async(None), TIMEOUT)
        self.client.exit(None)
        server = self.client._server
        assert server is not None
        code = await asyncio.wait_for(server.wait(), TIMEOUT)
        await self.client.stop()
        return code


def session(test: Callable[[Session], Awaitable[None]]) -> None:
    async def main() -> None:
        s = Session()
        await s.start()
        try:
            await test(s)
        finally:
            if s.client._server is not None and s.client._server.returncode is None and not s.client.stopped:
                s.client._server.kill()
                await s.client.stop()
    asyncio.run(main())


def position(text: str, needle: str, nth: int = 0, offset: int = 0) -> lsp.Position:
    """The LSP position (UTF-16) of the `nth` occurrence of `needle`, plus `offset` characters."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    before = text[text.rfind("\n", 0, at) + 1:at]
    return lsp.Position(line, len(before.encode("utf-16-le")) // 2)


def doc() -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=URI)


def test_a_whole_session() -> None:
    """initialize, open, diagnostics with codes and links, a change that clears them, hover, definition,
    references, completion, a quick fix, formatting, shutdown and exit with 0."""

    async def run(s: Session) -> None:
        broken = INVOICE.replace("    approval required\n", "", 1)
        s.open(broken, version=1)
        first = await s.diagnostics(1)
        assert [d.code for d in first] == [APPROVAL_REQUIRED.code]
        problem = first[0]
        assert problem.source == "specc" and problem.severity == lsp.DiagnosticSeverity.Error
        assert problem.code_description is not None
        assert problem.code_description.href.endswith("docs/diagnostics.md#spc111-approval-required")
        assert "\nhelp: add `approval required`" in problem.message
        assert problem.range.start == position(broken, "pay(invoice: Invoice", offset=0)

        # the quick fix adds `approval required` inside the action; applied, the error goes
        fixes = await s.ask(s.client.text_document_code_action_async, lsp.CodeActionParams(
            doc(), problem.range, lsp.CodeActionContext(diagnostics=[problem])))
        assert fixes, "no quick fix offered"
        fix = fixes[0]
        assert isinstance(fix, lsp.CodeAction) and fix.title == "Add `approval required` to `pay`"
        assert fix.edit is not None and fix.edit.changes is not None
        (edit,) = fix.edit.changes[URI]
        s.change(2, edit.new_text, edit.range)
        assert await s.diagnostics(2) == []

        # hover: an action says what it does; a type shows its fields
        text = INVOICE
        hover = await s.ask(s.client.text_document_hover_async, lsp.HoverParams(doc(), position(text, "pay(", 1, 1)))
        assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
        shown = hover.contents.value
        for expected in ("effect: write", "risk: high", "approval: required", "network `payments.internal:443`",
                         "`error`: `retry 2 backoff 1s..10s then escalate` (action)"):
            assert expected in shown
        at = position(text, "Invoice {", offset=2)
        hover = await s.ask(s.client.text_document_hover_async, lsp.HoverParams(doc(), at))
        assert hover is not None and "lines: list<Line>(1..500)" in hover.contents.value  # type: ignore[union-attr]

        # definition and references of a type, an action, a step, a mount and an env var
        async def definition(at: lsp.Position) -> lsp.Position:
            found = await s.ask(s.client.text_document_definition_async, lsp.DefinitionParams(doc(), at))
            assert isinstance(found, list) and len(found) == 1
            return found[0].range.start  # type: ignore[union-attr]

        assert await definition(position(text, "-> Invoice", offset=4)) == position(text, "Invoice {")
        assert await definition(position(text, "= pay(", offset=3)) == position(text, "pay(invoice")
        assert await definition(position(text, "invoice: invoice", offset=10)) == position(text, "invoice = ")
        assert await definition(position(text, 'mount "./tools"\n', 1, 8)) == position(text, '"./tools" at')
        assert await definition(position(text, "env PAYMENTS_TOKEN\n", 0, 5)) == position(text, "PAYMENTS_TOKEN secret")
        refs = await s.ask(s.client.text_document_references_async, lsp.ReferenceParams(
            text_document=doc(), position=position(text, "Invoice {"),
            context=lsp.ReferenceContext(include_declaration=False)))
        assert refs is not None and len(refs) == 2

        # completion: failure kinds after `on`, strategies after them, actions after `fallback`
        s.change(3, "    on ", lsp.Range(position(text, "    on timeout"), position(text, "    on timeout")))
        edited = text.replace("    on timeout", "    on     on timeout", 1)
        at = position(edited, "on     on", offset=3)
        items = await s.ask(s.client.text_document_completion_async, lsp.CompletionParams(doc(), at))
        labels = {i.label for i in (items.items if isinstance(items, lsp.CompletionList) else items or [])}
        assert {"timeout", "invalid_output", "any"} <= labels and "retry" not in labels

        # formatting goes through `specc fmt`'s printer
        messy = text.replace("  version \"1.0.0\"", "  version   \"1.0.0\"", 1)
        s.change(4, messy)
        edits = await s.ask(s.client.text_document_formatting_async, lsp.DocumentFormattingParams(
            doc(), lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
        assert edits is not None and len(edits) == 1 and edits[0].new_text == format_source(messy)

        assert await s.stop() == 0

    session(run)


def test_a_syntax_error_keeps_the_other_diagnostics_and_did_you_mean_fixes() -> None:
    async def run(s: Session) -> None:
        text = INVOICE.replace("effect read", "effect raed", 1).replace("    approval required\n", "", 1)
        text = text.replace("= pay(", "= pya(", 1)
        s.open(text, version=7)
        found = await s.diagnostics(7)
        assert sorted(d.code for d in found) == ["SPC001", UNDEFINED_NAME.code, APPROVAL_REQUIRED.code]
        typo = next(d for d in found if d.code == UNDEFINED_NAME.code)
        fixes = await s.ask(s.client.text_document_code_action_async, lsp.CodeActionParams(
            doc(), typo.range, lsp.CodeActionContext(diagnostics=[typo])))
        assert fixes and fixes[0].title == "Change to `pay`"  # type: ignore[union-attr]
        assert await s.stop() == 0

    session(run)


def test_versions_stale_results_and_utf16_columns() -> None:
    """Edits in quick succession: the last version's diagnostics are published, tagged with it, and
    none for an older version arrives after them. Columns count UTF-16 units past astral characters."""

    async def run(s: Session) -> None:
        s.open(INVOICE, version=1)
        assert await s.diagnostics(1) == []
        base = INVOICE.replace('description "', 'description "é😀 ', 1)
        for version in range(2, 12):  # faster than the debounce: only the last one is checked
            s.change(version, base.replace("= pay(", f"= pay{version}(", 1))
        last = await s.diagnostics(11)
        assert sorted(d.code for d in last) == [UNDEFINED_NAME.code, "SPC011"]  # `pay11`, and `pay` unused
        await asyncio.sleep(0.3)
        versions = [p.version for p in s.published]
        assert versions == sorted(versions) and versions[-1] == 11  # nothing stale after the newest
        undefined = next(d for d in last if d.code == UNDEFINED_NAME.code)
        assert undefined.range.start == position(base.replace("= pay(", "= pay11(", 1), "pay11(")
        # astral characters before the name on its line: two UTF-16 units each
        astral = INVOICE.replace('require invoice.currency == "EUR"',
                                 'require input.account != "😀é😀" or nope.x == "EUR"', 1)
        s.change(12, astral)
        found = await s.diagnostics(12)
        assert [d.code for d in found] == [UNDEFINED_NAME.code]
        assert found[0].range.start == position(astral, "nope.x")
        assert found[0].range.start.character == astral.split("\n")[found[0].range.start.line].index("nope") + 2
        line = "  on uncertain escalate \"😀\"\n"
        hover_text = INVOICE.replace("  on uncertain escalate\n", line + "  # 😀😀 see SPC105\n", 1)
        s.change(13, hover_text)
        at = position(hover_text, "SPC105", offset=2)
        hover = await s.ask(s.client.text_document_hover_async, lsp.HoverParams(doc(), at))
        assert hover is not None and "unhandled-failure" in hover.contents.value  # type: ignore[union-attr]
        assert hover.range == lsp.Range(position(hover_text, "SPC105"), position(hover_text, "SPC105", offset=6))
        s.change(14, INVOICE.replace("= pay(", "= nope(", 1))
        assert await s.diagnostics(14)
        s.client.text_document_did_close(lsp.DidCloseTextDocumentParams(doc()))
        assert await s.diagnostics(None) == []  # closing clears what was shown
        assert await s.stop() == 0

    session(run)


def test_without_pygls_a_clear_message() -> None:
    """Without the `lsp` extra, `specc lsp` says what to install, with no traceback."""
    import subprocess

    probe = ("import sys; sys.modules['pygls'] = None; sys.argv = ['specc', 'lsp']\n"
             "from specc.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'specc[lsp]'" in result.stderr
