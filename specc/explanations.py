"""The long form of every diagnostic code: what it catches, why it matters, an example, the fix.

This is the single source of `docs/diagnostics.md` (a test keeps the file in sync; run with
`UPDATE_GOLDEN=1` to rewrite it), of `specc explain CODE`, and of the SARIF rules' help.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.codes import ALL_CODES, Code


@dataclass(frozen=True)
class Explanation:
    """One section of docs/diagnostics.md."""

    what: str
    why: str
    example: str
    fix: str


EXPLANATIONS: dict[str, Explanation] = {}


def _add(code: Code, *, what: str, why: str, example: str, fix: str) -> None:
    EXPLANATIONS[code.code] = Explanation(what.strip(), why.strip(), example.strip("\n"), fix.strip())


def section(code: Code) -> str:
    """The Markdown section of one code, as `specc explain` prints it."""
    e = EXPLANATIONS.get(code.code)
    head = f"## {code.code} {code.name}\n\nSeverity: {code.severity.value}. {code.summary[0].upper()}{code.summary[1:]}.\n"
    if e is None:
        return head
    return (
        f"{head}\n### What\n\n{e.what}\n\n### Why\n\n{e.why}\n\n"
        f"### Example\n\n```\n{e.example}\n```\n\n### Fix\n\n{e.fix}\n"
    )


def document() -> str:
    """The whole of docs/diagnostics.md."""
    parts = [
        "# Diagnostics reference\n",
        "Every diagnostic `specc check` can report, with its stable code and name. "
        "`specc explain CODE` prints one section; codes and names never change meaning.\n",
        "| code | name | severity | catches |\n| --- | --- | --- | --- |",
    ]
    for code in ALL_CODES:
        parts.append(f"| [{code.code}](#{code.code.lower()}-{code.name}) | {code.name} | "
                     f"{code.severity.value} | {code.summary} |")
    parts.append("")
    for code in ALL_CODES:
        parts.append(section(code))
    return "\n".join(parts)


from specc import codes as c  # noqa: E402  (the entries below read better after the machinery)

_add(
    c.SYNTAX,
    what="The text does not follow the grammar of the language: a missing brace, a misspelt "
    "keyword, a value of the wrong shape (`wall 5` instead of `wall 5m`). The message says what "
    "was found and what was expected at that place.",
    why="Nothing else can be checked about text that does not parse.",
    example='agent a {\n  limits {\n    steps 20\n    wall 5\n  }\n}',
    fix="Write what the message expects at the caret; `docs/language.md` has the grammar by "
    "example.",
)
