"""Renderers for diagnostics: rustc-style text, the JSON of `--format json`, and SARIF 2.1.0.

Text colour is plain ANSI written here rather than through rich: `specc check` runs on every
keystroke in an editor, and importing rich alone costs about a third of its time budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from specc import __version__
from specc.codes import ALL_CODES, Code, Severity
from specc.diagnostics import Diagnostic

_COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m",
            "bold": "\033[1m", "blue": "\033[1;34m", "reset": "\033[0m"}


def use_colour(stream: Any) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") is not None:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def text(diagnostics: Sequence[Diagnostic], sources: dict[str, str | None], colour: bool) -> str:
    """Every diagnostic with its snippet and caret, then nothing else (the CLI adds a summary)."""
    c = _COLOURS if colour else {k: "" for k in _COLOURS}
    out: list[str] = []
    split: dict[str, list[str] | None] = {}  # each file split once, however many diagnostics it has
    for d in diagnostics:
        sev = d.severity.value
        out.append(f"{c[sev]}{sev}[{d.code.code}]{c['reset']}{c['bold']}: {d.message}{c['reset']}")
        width = len(str(d.span.end_line)) + 1
        pad = " " * width
        out.append(f"{pad}{c['blue']}-->{c['reset']} {d.file}:{d.span.line}:{d.span.column}")
        if d.file not in split:
            split[d.file] = _lines(sources.get(d.file))
        lines = split[d.file]
        if lines is not None and 1 <= d.span.line <= len(lines):
            line_text = lines[d.span.line - 1].expandtabs(1)
            start = max(1, d.span.column)
            end = d.span.end_column if d.span.end_line == d.span.line else len(line_text) + 1
            end = max(end, start + 1)
            shown, start, end = _window(line_text, start, end)
            out.append(f"{pad}{c['blue']}|{c['reset']}")
            out.append(f"{c['blue']}{str(d.span.line).rjust(width - 1)} |{c['reset']} {shown}")
            carets = "^" * (end - start)
            out.append(f"{pad}{c['blue']}|{c['reset']} {' ' * (start - 1)}{c[sev]}{carets}{c['reset']}")
        for label in d.labels:
            out.append(f"{pad}{c['blue']}={c['reset']} {c['bold']}note{c['reset']}: {label.message} "
                       f"at {d.file}:{label.span.line}:{label.span.column}")
        if d.help:
            first, *rest = d.help.split("\n")
            out.append(f"{pad}{c['blue']}={c['reset']} {c['bold']}help{c['reset']}: {first}")
            out.extend(f"{pad}        {line}" for line in rest)
        out.append("")
    return "\n".join(out)


#: The most characters of a source line a snippet shows, and how many of them precede the span
#: when the line must be cut before it.
SNIPPET_WIDTH, SNIPPET_CONTEXT = 200, 40


def _window(line: str, start: int, end: int) -> tuple[str, int, int]:
    """The part of a long line to show, with the span's columns (1-based, end exclusive, at least
    one character wide) moved into it: cut with ` ...` where text is left out, and never with a
    caret line longer than the snippet."""
    if len(line) <= SNIPPET_WIDTH:
        return line, start, min(end, len(line) + 2)
    first = 0 if start - 1 <= SNIPPET_WIDTH - SNIPPET_CONTEXT else min(start - 1 - SNIPPET_CONTEXT,
                                                                       len(line) - SNIPPET_WIDTH)
    lead = "... " if first else ""
    shown = lead + line[first : first + SNIPPET_WIDTH] + (" ..." if first + SNIPPET_WIDTH < len(line) else "")
    start = start - first + len(lead)
    end = min(end - first + len(lead), len(shown) + 1)
    return shown, start, max(end, start + 1)


def _lines(source: str | None) -> list[str] | None:
    return source.split("\n") if source is not None else None


def summary(diagnostics: Sequence[Diagnostic], files: int, colour: bool) -> str:
    """The last line: what was found, in how many files."""
    c = _COLOURS if colour else {k: "" for k in _COLOURS}
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    where = f"{files} file" + ("" if files == 1 else "s")
    if not errors and not warnings:
        return f"checked {where}: no problems found"
    parts = []
    if errors:
        parts.append(f"{errors} error" + ("" if errors == 1 else "s"))
    if warnings:
        parts.append(f"{warnings} warning" + ("" if warnings == 1 else "s"))
    tone = "error" if errors else "warning"
    return f"{c[tone]}{' and '.join(parts)}{c['reset']} in {where}"


def as_json(diagnostics: Iterable[Diagnostic]) -> str:
    """The JSON shape of `specc check --format json` (`{"version": 1, "diagnostics": [...]}`)."""
    import json  # here: a check printed as text never needs it

    return json.dumps({"version": 1, "diagnostics": [diagnostic_dict(d) for d in diagnostics]},
                      indent=2, ensure_ascii=False)


def diagnostic_dict(d: Diagnostic) -> dict[str, Any]:
    return {
        "code": d.code.code, "name": d.code.name, "severity": d.severity.value,
        "message": d.message, "file": d.file, "line": d.span.line, "column": d.span.column,
        "end_line": d.span.end_line, "end_column": d.span.end_column, "help": d.help,
    }


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
DOCS_URL = "https://github.com/specc-dev/specc/blob/main/docs/diagnostics.md"


def docs_url(code: Code) -> str:
    """The address of a code's section in docs/diagnostics.md (for SARIF and the language server)."""
    return f"{DOCS_URL}#{code.code.lower()}-{code.name}"


def as_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    """SARIF 2.1.0 for code scanning; every rule carries its description and help."""
    from specc.explanations import EXPLANATIONS

    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for code in ALL_CODES:
        index[code.code] = len(rules)
        rules.append(_rule(code, EXPLANATIONS.get(code.code)))
    results = []
    for d in diagnostics:
        result: dict[str, Any] = {
            "ruleId": d.code.code,
            "ruleIndex": index[d.code.code],
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": d.message + (f" ({d.help})" if d.help else "")},
            "locations": [_location(d.file, d.span)],
        }
        if d.labels:
            result["relatedLocations"] = [
                {**_location(d.file, label.span), "id": i, "message": {"text": label.message}}
                for i, label in enumerate(d.labels)
            ]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "specc", "version": __version__, "informationUri": DOCS_URL, "rules": rules,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    import json

    return json.dumps(log, indent=2, ensure_ascii=False)


def _rule(code: Code, explanation: Any) -> dict[str, Any]:
    help_text = explanation.fix if explanation is not None else code.summary
    full = explanation.what if explanation is not None else code.summary
    return {
        "id": code.code,
        "name": code.name,
        "shortDescription": {"text": code.summary},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_text},
        "helpUri": docs_url(code),
        "defaultConfiguration": {"level": _SARIF_LEVEL[code.severity]},
    }


def artifact_uri(file: str) -> str:
    """A file name as a SARIF `artifactLocation.uri`, a URI reference (SARIF 3.10): percent-encoded,
    relative when the name is relative (code scanning resolves it against the checkout), and a
    `file:` URI when it is absolute."""
    from pathlib import PurePath
    from urllib.parse import quote

    if os.path.isabs(file):
        return PurePath(os.path.abspath(file)).as_uri()
    return quote(file.replace(os.sep, "/"), safe="/")


def _location(file: str, span: Any) -> dict[str, Any]:
    uri = artifact_uri(file)
    return {"physicalLocation": {
        "artifactLocation": {"uri": uri},
        "region": {"startLine": span.line, "startColumn": span.column,
                   "endLine": span.end_line, "endColumn": max(span.end_column, span.column + 1)
                   if span.end_line == span.line else span.end_column},
    }}
