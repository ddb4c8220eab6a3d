"""What reaches a person's terminal from a tool, a model or a stored run: control characters made
visible and harmless, so that no escape sequence a tool printed can move the cursor, retitle the
window, hide a line, forge a line of specc's own, or reorder text (bidirectional overrides).
Every human-facing renderer passes such text through `visible`; `--json` output never does."""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL and C1 (0x9b is a one-byte CSI), the bidirectional marks,
#: embeddings, overrides and isolates, the line and paragraph separators, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\r" if char == "\r" else f"\\u{ord(char):04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every control character written as a JSON escape (`\\u001b`, `\\r`, `\\u202e`),
    and a newline as `\\n` unless `lines`, so that one value stays on one line and cannot pass for
    a line of specc's own. Tabs stay. JSON text stays the same JSON value (the escapes are JSON's
    own, and JSON has no raw control character outside its strings)."""
    text = _UNSAFE.sub(_escape, text)
    return text if lines else text.replace("\n", "\\n")
