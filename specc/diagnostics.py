"""Diagnostics as values: what a pass reports, where, and how to fix it.

A `Diagnostic` is plain data; rendering lives in `specc.render`. Exceptions are used only to carry
a list of diagnostics out of code that cannot go on (see `CompileError`).
"""

from __future__ import annotations

from typing import Any

from specc.ast import Span
from specc.codes import Code, Message, Severity
from specc.record import Frozen, Mutable, init


class Label(Frozen):
    """A secondary span with a short note, such as "first declared here"."""

    span: Span
    message: str

    def __init__(self, span: Span, message: str) -> None:
        init(self, {"span": span, "message": message})


class Diagnostic(Frozen):
    """One finding of `specc check`, located in a file."""

    code: Code
    severity: Severity
    message: str
    file: str
    span: Span
    help: str | None = None
    labels: tuple[Label, ...] = ()

    def __init__(self, code: Code, severity: Severity, message: str, file: str, span: Span, help: str | None = None,
                 labels: tuple[Label, ...] = ()) -> None:
        init(self, {"code": code, "severity": severity, "message": message, "file": file, "span": span, "help": help,
                    "labels": labels})

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.span.line, self.span.column, self.code.code)


def make(
    message: Message,
    file: str,
    span: Span,
    *,
    help: str | None = None,
    labels: tuple[Label, ...] = (),
    severity: Severity | None = None,
    **fields: Any,
) -> Diagnostic:
    """Fill in a registered message template and place it at `span`."""
    text = message.template.format(**fields)
    hint = help if help is not None else (message.help.format(**fields) if message.help else None)
    return Diagnostic(
        code=message.code,
        severity=severity or message.code.severity,
        message=text,
        file=file,
        span=span,
        help=hint,
        labels=labels,
    )


class Reporter(Mutable):
    """Collects the diagnostics of one file."""

    file: str
    diagnostics: list[Diagnostic]

    def __init__(self, file: str, diagnostics: list[Diagnostic] | None = None) -> None:
        self.file = file
        self.diagnostics = [] if diagnostics is None else diagnostics

    def report(
        self,
        message: Message,
        span: Span,
        *,
        help: str | None = None,
        labels: tuple[Label, ...] = (),
        severity: Severity | None = None,
        **fields: Any,
    ) -> Diagnostic:
        diagnostic = make(
            message, self.file, span, help=help, labels=labels, severity=severity, **fields
        )
        self.diagnostics.append(diagnostic)
        return diagnostic

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


class CompileError(Exception):
    """Carries the diagnostics of a compilation that could not produce a result."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics


def words(items: list[str] | tuple[str, ...]) -> str:
    """Items for a message, as a person lists them: `a`, `a and b`, `a, b and c`."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """Suggest the closest candidate by edit distance, as help text, or None. Up to a third of the
    name may differ (at least one edit), and swapping two neighbouring letters is one edit, so
    `pya` finds `pay`."""
    best: tuple[int, str] | None = None
    for candidate in sorted(candidates):
        distance = _edit_distance(name.lower(), candidate.lower(), limit=max(1, (len(name) + 1) // 3))
        if distance is not None and (best is None or distance < best[0]):
            best = (distance, candidate)
    return f"did you mean `{best[1]}`?" if best else None


def _edit_distance(a: str, b: str, limit: int) -> int | None:
    """The optimal string alignment distance (Levenshtein, plus a swap of two neighbouring
    characters as one edit), or None when it is above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return None
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1] if previous[-1] <= limit else None
