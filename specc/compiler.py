"""The one door into the compiler: `compile_source(text, path) -> Compilation`.

The CLI, tests and any editor integration go through here: decode, parse, lower, then run the
passes of `specc.passes.PASSES` over the agent.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Any, ClassVar

from specc import ast
from specc.codes import Severity
from specc.context import Context, Symbols
from specc.diagnostics import Diagnostic, Reporter
from specc.record import Mutable

if TYPE_CHECKING:
    from specc.ir import IR


class Compilation(Mutable):
    """The result of compiling one spec: its diagnostics and, when it parsed, its agent."""

    path: str
    source: str | None
    diagnostics: list[Diagnostic]
    agent: ast.Agent | None
    symbols: Symbols | None
    base_dir: str
    _ir: Any
    _hidden: ClassVar[tuple[str, ...]] = ("_ir",)

    def __init__(self, path: str, source: str | None, diagnostics: list[Diagnostic], agent: ast.Agent | None = None,
                 symbols: Symbols | None = None, base_dir: str = ".", _ir: Any = None) -> None:
        self.path = path
        self.source = source
        self.diagnostics = diagnostics
        self.agent = agent
        self.symbols = symbols
        self.base_dir = base_dir
        self._ir = _ir

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def ir(self) -> IR:
        """The compiled artifact; only for a spec without errors."""
        if self.has_errors or self.agent is None or self.symbols is None or self.source is None:
            raise ValueError("a spec with errors has no IR")
        if self._ir is None:
            from specc.ir import build_ir

            self._ir = build_ir(self.agent, self.symbols, self.source, self.path, self.base_dir)
        return self._ir  # type: ignore[no-any-return]


def compile_source(source: str | bytes, path: str = "<input>") -> Compilation:
    """Compile a spec's text (or raw bytes) found at `path`; never raises on bad input."""
    # A compilation allocates hundreds of thousands of small objects and frees none of them
    # until it ends, so the cyclic collector's passes find nothing: they cost a third of the time
    # (and more as specs grow). Reference counting still frees everything that is dropped.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _compile(source, path)
    finally:
        if collecting:
            gc.enable()


def _compile(source: str | bytes, path: str) -> Compilation:
    from specc.lowering import lower
    from specc.parser import admit, decode, parse
    from specc.passes import PASSES

    reporter = Reporter(path)
    base_dir = os.path.dirname(os.path.abspath(path)) if not path.startswith("<") else os.getcwd()
    text = decode(source, reporter) if isinstance(source, bytes) else admit(source, reporter)
    if text is None:
        return Compilation(path, None, reporter.diagnostics, base_dir=base_dir)
    tree = parse(text, reporter)
    if tree is None:
        return Compilation(path, text, reporter.diagnostics, base_dir=base_dir)
    agent = lower(tree, reporter)
    if agent is None:
        return Compilation(path, text, _sorted(reporter.diagnostics), base_dir=base_dir)
    ctx = Context(agent=agent, file=path, reporter=reporter, base_dir=base_dir)
    for check in PASSES:
        check(ctx)
    return Compilation(path, text, _sorted(reporter.diagnostics), agent, ctx.symbols, base_dir)


def compile_file(path: str) -> Compilation:
    """Read and compile a spec file; a file that cannot be read is an `OSError` for the caller."""
    with open(path, "rb") as handle:
        data = handle.read()
    return compile_source(data, path)


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: d.sort_key)
