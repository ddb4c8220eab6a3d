"""`specc lsp`: the language server over stdio, with pygls.

Every document's checker, analysis and index live in one worker thread, so the event loop stays
free to take edits while a check runs, and nothing is shared between threads but immutable
results. A check is debounced per document and tagged with the version it read; its diagnostics
are published only if that version is still the document's latest, so a stale result never lands
over a newer one.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from specc import __version__, ast, codes
from specc.codes import Severity
from specc.compiler import Compilation
from specc.diagnostics import Diagnostic
from specc.failure import KIND_NAMES
from specc.lsp.incremental import Checker
from specc.lsp.navigation import Index, Occurrence
from specc.lsp.positions import from_utf16, to_utf16
from specc.render import docs_url

#: How long a document must rest after an edit before it is checked again.
DEFAULT_DEBOUNCE_S = 0.15

_SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.NOTE: lsp.DiagnosticSeverity.Information,
}
_CODE = re.compile(r"SPC[0-9]{3}", re.IGNORECASE)
_DID_YOU_MEAN = re.compile(r"^did you mean `([^`]+)`\?$")
_TICKED = re.compile(r"`([^`]+)`")

#: Words that open an item, by where they may stand, for completion.
AGENT_WORDS = ("version", "description", "limits", "reliability", "scope", "sandbox", "type", "input",
               "output", "action", "workflow", "planner", "on")
ACTION_WORDS = ("run", "mount", "network", "env", "effect", "risk", "approval required", "approval none",
                "idempotent", "reliability", "description", "untrusted", "image", "memory", "cpus", "pids",
                "timeout", "output", "user", "require", "on")
WORKFLOW_WORDS = ("require", "return", "for", "if", "else")
STRATEGIES = ("retry", "fallback", "escalate", "abort")
PRIMITIVES = ("string", "int", "number", "bool", "path", "url", "list")


@dataclass
class _Analysis:
    """One checked version of a document (worker thread only)."""

    version: int | None
    compilation: Compilation
    lines: list[str]
    _index: Index | None = None

    @property
    def index(self) -> Index | None:
        if self._index is None and self.compilation.agent is not None:
            self._index = Index.build(self.compilation.agent, self.lines)
        return self._index


@dataclass
class _Document:
    checker: Checker
    analysis: _Analysis | None = None


class SpecServer(LanguageServer):
    """The language server; `serve()` runs it over stdio."""

    def __init__(self, debounce: float = DEFAULT_DEBOUNCE_S) -> None:
        super().__init__("specc", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.debounce = debounce
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specc-check")
        self._documents: dict[str, _Document] = {}  # worker thread only
        self._pending: dict[str, asyncio.Task[None]] = {}  # event loop only
        self._published: dict[str, int | None] = {}  # event loop only

    # --- in the event loop ---------------------------------------------------------------------

    async def in_worker(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    def schedule(self, uri: str, delay: float) -> None:
        """Check `uri` once it has rested `delay` seconds, replacing a check not yet started."""
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._pending[uri] = asyncio.ensure_future(self._check_later(uri, delay))

    async def _check_later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        document = self.workspace.text_documents.get(uri)
        if document is None:
            return
        text, version = document.source, document.version
        try:
            diagnostics = await self.in_worker(self.diagnose, uri, text, version)
        except Exception as exc:  # noqa: BLE001 - a bug of the checker must not take the server down
            self.window_log_message(lsp.LogMessageParams(
                lsp.MessageType.Error, f"specc lsp could not check {uri}: {type(exc).__name__}: {exc}"))
            return
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # a newer version is on its way; this result would be stale
        self._published[uri] = version
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))
        self._worker.submit(self.prepare, uri, version)  # while the editor is idle, not on the first hover

    def forget(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._published.pop(uri, None)
        self._worker.submit(self._documents.pop, uri, None)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # --- in the worker thread ------------------------------------------------------------------

    def analysis(self, uri: str, text: str, version: int | None) -> _Analysis:
        """The analysis of this version of the document, checked now unless it already was."""
        document = self._documents.get(uri)
        if document is None:
            document = self._documents[uri] = _Document(Checker(path_of(uri)))
        known = document.analysis
        if known is not None and known.version == version and known.compilation.source == text:
            return known
        compilation = document.checker.check(text)
        document.analysis = _Analysis(version, compilation, text.split("\n"))
        return document.analysis

    def prepare(self, uri: str, version: int | None) -> None:
        """Build the name index of the latest analysis ahead of the first hover or definition."""
        document = self._documents.get(uri)
        if document is not None and document.analysis is not None and document.analysis.version == version:
            document.analysis.index  # noqa: B018 - built on first access

    def diagnose(self, uri: str, text: str, version: int | None) -> list[lsp.Diagnostic]:
        found = self.analysis(uri, text, version)
        return [lsp_diagnostic(d, found.lines, uri) for d in found.compilation.diagnostics]

    def hover(self, uri: str, text: str, version: int | None, at: lsp.Position) -> lsp.Hover | None:
        found = self.analysis(uri, text, version)
        if at.line >= len(found.lines):
            return None
        line = found.lines[at.line]
        column = from_utf16(line, at.character)
        for match in _CODE.finditer(line):
            if match.start() < column <= match.end() + 1:
                code = codes.lookup(match.group())
                if code is not None:
                    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, code_hover(code)),
                                     _range_on(found.lines, at.line + 1, match.start() + 1, match.end() + 1))
        index = found.index
        occurrence = index.at(at.line + 1, column) if index is not None else None
        if index is None or occurrence is None:
            return None
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, index.hover(occurrence)),
                         span_range(occurrence.span, found.lines))

    def locations(self, uri: str, text: str, version: int | None, at: lsp.Position,
                  declarations: bool, include_declaration: bool = True) -> list[lsp.Location] | None:
        found = self.analysis(uri, text, version)
        occurrence = self._occurrence(found, at)
        if occurrence is None or found.index is None:
            return None
        hits = (found.index.declarations(occurrence) if declarations
                else found.index.references(occurrence, include_declaration))
        return [lsp.Location(uri, span_range(o.span, found.lines)) for o in hits]

    def _occurrence(self, found: _Analysis, at: lsp.Position) -> Occurrence | None:
        if found.index is None or at.line >= len(found.lines):
            return None
        return found.index.at(at.line + 1, from_utf16(found.lines[at.line], at.character))

    def complete(self, uri: str, text: str, version: int | None, at: lsp.Position) -> list[lsp.CompletionItem]:
        document = self._documents.get(uri)
        known = document.analysis if document is not None else None
        agent = known.compilation.agent if known is not None else None
        lines = text.split("\n")
        line = lines[at.line] if at.line < len(lines) else ""
        return completions(line[:from_utf16(line, at.character) - 1], agent)

    def fixes(self, uri: str, text: str, version: int | None,
              params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        found = self.analysis(uri, text, version)
        actions: list[lsp.CodeAction] = []
        for diagnostic in params.context.diagnostics:
            if diagnostic.source == "specc":
                actions += quick_fixes(diagnostic, found.compilation, found.lines, uri)
        return actions

    def format(self, text: str) -> list[lsp.TextEdit] | None:
        from specc.diagnostics import CompileError
        from specc.fmt import format_source

        try:
            formatted = format_source(text)
        except CompileError:
            return None  # a text that does not parse is left as it is; its diagnostics say why
        if formatted == text:
            return []
        lines = text.split("\n")
        end = lsp.Position(len(lines) - 1, to_utf16(lines[-1], len(lines[-1]) + 1))
        return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), formatted)]


# --- conversions ---------------------------------------------------------------------------------


def path_of(uri: str) -> str:
    """The file path of a `file:` URI (relative mounts resolve against its folder), else the URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else f"<{uri}>"


def span_range(span: ast.Span, lines: list[str]) -> lsp.Range:
    return _range_on(lines, span.line, span.column, span.end_column, span.end_line)


def _range_on(lines: list[str], line: int, column: int, end_column: int, end_line: int | None = None) -> lsp.Range:
    end_line = line if end_line is None else end_line

    def position(number: int, at: int) -> lsp.Position:
        number = min(max(number, 1), len(lines))
        return lsp.Position(number - 1, to_utf16(lines[number - 1], at))

    return lsp.Range(position(line, column), position(end_line, end_column))


def lsp_diagnostic(d: Diagnostic, lines: list[str], uri: str) -> lsp.Diagnostic:
    """A diagnostic as LSP carries it: its code with a link to its docs section, its help after the
    message, its labels as related information."""
    related = [lsp.DiagnosticRelatedInformation(lsp.Location(uri, span_range(label.span, lines)), label.message)
               for label in d.labels]
    return lsp.Diagnostic(
        range=span_range(d.span, lines),
        message=d.message + (f"\nhelp: {d.help}" if d.help else ""),
        severity=_SEVERITY[d.severity],
        code=d.code.code,
        code_description=lsp.CodeDescription(href=docs_url(d.code)),
        source="specc",
        related_information=related or None,
        data={"name": d.code.name, "help": d.help},
    )


def code_hover(code: codes.Code) -> str:
    from specc.explanations import EXPLANATIONS

    text = f"**{code.code} {code.name}** ({code.severity.value}): {code.summary}\n\n"
    explanation = EXPLANATIONS.get(code.code)
    if explanation is not None:
        text += f"{explanation.what}\n\n**Fix:** {explanation.fix}\n\n"
    return text + f"[docs]({docs_url(code)})"


# --- completion ------------------------------------------------------------------------------------

_AFTER_ON = re.compile(r"^\s*on\s+(?:[a-z_]+\s*,\s*)*[a-z_]*$")
_STRATEGY = re.compile(r"(?:^\s*on\s+[a-z_]+(?:\s*,\s*[a-z_]+)*\s+|\bthen\s+|\belse\s+)[a-z_]*$")
_FALLBACK = re.compile(r"\bfallback\s+[a-z_]*$")
_TYPE = re.compile(r"(?::|->|list<)\s*[A-Za-z_]*$")
_CALL = re.compile(r"^\s*[a-z_][a-z0-9_]*\s*=\s*[a-z_]*$")
_EFFECT = re.compile(r"^\s*effect\s+[a-z]*$")
_RISK = re.compile(r"^\s*risk\s+[a-z]*$")
_ENV = re.compile(r"^\s*env\s+[A-Z_0-9]*$")
_MOUNT = re.compile(r"^\s*mount\s+\"?[^\"]*$")


def completions(before: str, agent: ast.Agent | None) -> list[lsp.CompletionItem]:
    """What may be written where the cursor is, from the text of its line before it."""
    actions = [a.name.value for a in agent.actions] if agent is not None else []
    types = [t.name.value for t in agent.types] if agent is not None else []
    scope = agent.scope if agent is not None else None
    K = lsp.CompletionItemKind

    def items(words: list[str] | tuple[str, ...], kind: lsp.CompletionItemKind,
              detail: str) -> list[lsp.CompletionItem]:
        return [lsp.CompletionItem(label=w, kind=kind, detail=detail) for w in words]

    if _AFTER_ON.search(before):
        return items([*KIND_NAMES, "any"], K.EnumMember, "failure kind")
    if _FALLBACK.search(before) or _CALL.search(before):
        return items(actions, K.Function, "action")
    if _STRATEGY.search(before):
        return items(STRATEGIES, K.Keyword, "strategy")
    if _EFFECT.search(before):
        return items(("read", "write", "destructive"), K.EnumMember, "effect")
    if _RISK.search(before):
        return items(("low", "medium", "high"), K.EnumMember, "risk")
    if _ENV.search(before):
        return items([e.name.value for e in scope.env] if scope else [], K.Variable, "env var of the scope")
    if _MOUNT.search(before):
        return items([m.path.value for m in scope.mounts] if scope else [], K.Folder, "mount of the scope")
    if _TYPE.search(before):
        return items(PRIMITIVES, K.Keyword, "type") + items(types, K.Class, "record type")
    words = sorted({*AGENT_WORDS, *ACTION_WORDS, *WORKFLOW_WORDS})
    return items(words, K.Keyword, "keyword") + items(actions, K.Function, "action") + items(types, K.Class, "type")


# --- quick fixes -----------------------------------------------------------------------------------


def quick_fixes(diagnostic: lsp.Diagnostic, compilation: Compilation, lines: list[str],
                uri: str) -> list[lsp.CodeAction]:
    """The mechanical fixes of one diagnostic: add `approval required`, add the missing handlers,
    take the "did you mean"."""
    agent = compilation.agent
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    help_text = data.get("help") or ""
    found: list[lsp.CodeAction] = []
    guess = _DID_YOU_MEAN.match(help_text)
    if guess is not None:
        written = _text_in(lines, diagnostic.range)
        if written is not None and written.strip('"') and re.fullmatch(r'"?[\w./-]+"?', written):
            replacement = f'"{guess.group(1)}"' if written.startswith('"') else guess.group(1)
            found.append(_fix(f"Change to `{guess.group(1)}`", diagnostic, uri,
                              [lsp.TextEdit(diagnostic.range, replacement)]))
    if agent is None:
        return found
    named = _TICKED.findall(diagnostic.message)
    if diagnostic.code == codes.APPROVAL_REQUIRED.code and "has no `approval required`" in diagnostic.message:
        action = _action(agent, named[0] if named else "")
        edit = _add_line(action.span, lines, "approval required") if action is not None else None
        if action is not None and edit is not None:
            found.append(_fix(f"Add `approval required` to `{action.name.value}`", diagnostic, uri, [edit]))
    if diagnostic.code == codes.UNHANDLED_FAILURE.code:
        kinds = [k for k in _TICKED.findall(diagnostic.message.split(" has no handler for ", 1)[-1])
                 if k in KIND_NAMES]
        planner = diagnostic.message.startswith("the planner")
        owner: ast.Action | ast.Planner | None = (
            agent.planner if planner else _action(agent, named[0] if named else ""))
        if owner is not None and kinds:
            handler = f"on {', '.join(kinds)} abort"
            edit = _add_line(owner.span, lines, handler)
            if edit is not None:
                where = "the planner" if isinstance(owner, ast.Planner) else f"`{owner.name.value}`"
                found.append(_fix(f"Add `{handler}` to {where}", diagnostic, uri, [edit]))
    return found


def _fix(title: str, diagnostic: lsp.Diagnostic, uri: str, edits: list[lsp.TextEdit]) -> lsp.CodeAction:
    return lsp.CodeAction(title=title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                          edit=lsp.WorkspaceEdit(changes={uri: edits}), is_preferred=True)


def _action(agent: ast.Agent, name: str) -> ast.Action | None:
    return next((a for a in agent.actions if a.name.value == name), None)


def _add_line(block: ast.Span, lines: list[str], text: str) -> lsp.TextEdit | None:
    """A line added as the last item of the block at `block`, indented as its items are; None when
    its closing brace does not stand on a line of its own."""
    closing = lines[block.end_line - 1] if block.end_line <= len(lines) else ""
    if closing.strip() != "}" or block.end_line == block.line:
        return None
    inner = lines[block.line] if block.line < block.end_line - 1 else ""
    indent = inner[:len(inner) - len(inner.lstrip())] if inner.strip() else closing[:closing.index("}")] + "  "
    return lsp.TextEdit(lsp.Range(lsp.Position(block.end_line - 1, 0), lsp.Position(block.end_line - 1, 0)),
                        f"{indent}{text}\n")


def _text_in(lines: list[str], where: lsp.Range) -> str | None:
    if where.start.line != where.end.line or where.start.line >= len(lines):
        return None
    line = lines[where.start.line]
    return line[from_utf16(line, where.start.character) - 1:from_utf16(line, where.end.character) - 1]


# --- the server ------------------------------------------------------------------------------------


def build(debounce: float = DEFAULT_DEBOUNCE_S) -> SpecServer:
    """The server with every feature registered."""
    server = SpecServer(debounce=debounce)

    def current(uri: str) -> tuple[str, int | None]:
        document = server.workspace.get_text_document(uri)
        return document.source, document.version

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SpecServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0.0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SpecServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SpecServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: SpecServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        result: lsp.Hover | None = await ls.in_worker(ls.hover, uri, *current(uri), params.position)
        return result

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    async def definition(ls: SpecServer, params: lsp.DefinitionParams) -> list[lsp.Location] | None:
        uri = params.text_document.uri
        result: list[lsp.Location] | None = await ls.in_worker(ls.locations, uri, *current(uri), params.position,
                                                               True)
        return result

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    async def references(ls: SpecServer, params: lsp.ReferenceParams) -> list[lsp.Location] | None:
        uri = params.text_document.uri
        result: list[lsp.Location] | None = await ls.in_worker(
            ls.locations, uri, *current(uri), params.position, False, params.context.include_declaration)
        return result

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" ", ":", "<"]))
    async def completion(ls: SpecServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        found: list[lsp.CompletionItem] = await ls.in_worker(ls.complete, uri, *current(uri), params.position)
        return lsp.CompletionList(is_incomplete=False, items=found)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    async def code_action(ls: SpecServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        found: list[lsp.CodeAction] = await ls.in_worker(ls.fixes, uri, *current(uri), params)
        return found

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    async def formatting(ls: SpecServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        text, _ = current(params.text_document.uri)
        edits: list[lsp.TextEdit] | None = await ls.in_worker(ls.format, text)
        return edits

    return server


def serve(debounce: float = DEFAULT_DEBOUNCE_S) -> None:
    """Run the language server over stdin and stdout until the client says `exit`."""
    build(debounce).start_io()
