"""Takes a run's secrets out of everything it keeps or shows, in every form a tool can print them:
raw, JSON-escaped with `\\uXXXX` or as UTF-8, escaped twice or more, as Python's repr writes them,
and any mix of those, character by character. Too short a secret cannot be redacted without hiding
that text everywhere, so the run refuses it before it starts (`too_short`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

#: What stands where a secret was.
REDACTED = "[redacted]"
#: The shortest secret a run accepts: a shorter one would be redacted out of ordinary text too
#: (a one-character secret would take that character out of every line).
MIN_SECRET_CHARS = 4
#: The one-letter escapes of JSON and Python for the characters that have one.
_LETTERS = {"\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v", "\a": "a", "\0": "0"}


def too_short(value: str) -> bool:
    """Whether a secret's value is too short to be redacted safely."""
    return len(value) < MIN_SECRET_CHARS


def _hex(number: int, width: int) -> str:
    """`number` as `width` hex digits, either case."""
    digits = f"{number:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _escapes(char: str) -> str:
    """The escapes that can stand for one character after a backslash: JSON's and Python's
    one-letter escapes, `uXXXX` (a surrogate pair beyond the BMP, or Python's `UXXXXXXXX`), `xXX`,
    and the `xXX` bytes of its UTF-8 in a bytes repr."""
    code = ord(char)
    escapes: list[str] = []
    if char in _LETTERS:
        escapes.append(_LETTERS[char])
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        escapes.append(f"u{_hex(high, 4)}\\\\+u{_hex(low, 4)}")
        escapes.append(f"U{_hex(code, 8)}")
    else:
        escapes.append(f"u{_hex(code, 4)}")
    if code < 0x100:
        escapes.append(f"x{_hex(code, 2)}")
    if code >= 0x80:  # a bytes repr of its UTF-8 form: \xc3\xa9
        escapes.append("\\\\+".join(f"x{_hex(byte, 2)}" for byte in char.encode("utf-8", "surrogatepass")))
    return "|".join(escapes)


def _char(char: str) -> str:
    """A pattern for one character of a secret in any of its printed forms, at any depth of
    escaping: each escaping doubles the backslashes before it, so any run of them is accepted."""
    return f"(?:\\\\*{re.escape(char)}|\\\\+(?:{_escapes(char)}))"


def _secret(secret: str) -> str:
    """A pattern for a whole secret in any of its forms, as two alternatives that each open with one
    fixed character (its raw first character, or a backslash), so that the regex engine skips
    straight to where a form can start instead of trying at every position."""
    first, rest = secret[0], "".join(_char(c) for c in secret[1:])
    return f"{re.escape(first)}{rest}|\\\\\\\\*(?:{re.escape(first)}|{_escapes(first)}){rest}"


class Redactor:
    """Replaces the given secrets with `[redacted]` in text, bytes and JSON values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.secrets = tuple(values)
        self._pattern = re.compile("|".join(_secret(s) for s in values)) if values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """`text` with every form of every secret replaced."""
        if self._pattern is None:
            return text
        if "\\" not in text:  # every form but the raw one has a backslash: the fast way
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            return text
        return self._pattern.sub(REDACTED, text)

    def found(self, text: str) -> bool:
        """Whether some form of some secret stands in `text`."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def bytes(self, data: bytes, *, cut: bool = False) -> bytes:
        """Raw output with every form of every secret replaced, bytes that are not UTF-8 kept as
        they were; when the output was `cut` at a cap, a secret's beginning (raw or JSON-escaped)
        that ends it is replaced too."""
        if self._pattern is None:
            return data
        text = self.text(data.decode("utf-8", "surrogateescape"))
        if cut:
            text = self._cut_end(text)
        return text.encode("utf-8", "surrogateescape")

    def _cut_end(self, text: str) -> str:
        for secret in self.secrets:
            for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
                for length in range(len(form) - 1, 0, -1):
                    if text.endswith(form[:length]):
                        return text[:-length] + REDACTED
        return text

    def value(self, value: Any) -> Any:
        """A JSON value with every secret replaced in its strings, its keys, and its numbers (a
        number whose digits are a secret becomes the string `[redacted]`)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool) and self.found(str(value)):
            return REDACTED
        return value
